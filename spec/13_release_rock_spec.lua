-- The release rock: `make rock` packs uxsock-0.1.0-1.src.rock with
-- luarocks pack, and it installs for the Lua under test with no network
-- at all (a network namespace of its own, unshare -n), then loads from
-- the tree it was installed into.
local h = require("helpers")

local VERSION = "0.1.0"
-- luarocks's name for the Lua under test: LuaJIT is 5.1
local LUA_VERSION = _VERSION:match("%d+%.%d+")

describe("the release rock", function()
  lazy_teardown(h.cleanup)

  it("packs, installs offline from the .src.rock, and loads from its tree", function()
    local out, how, code = h.make("rock")
    assert.same({ "exit", 0 }, { how, code }, out)
    local rock = "build/rock/uxsock-" .. VERSION .. "-1.src.rock"
    assert.equal("file", h.filetype(rock))

    -- the rock carries the committed rockspec and the source archive
    out = h.run("unzip -l " .. h.q(rock))
    assert.truthy(out:find("uxsock-" .. VERSION .. "-1.rockspec", 1, true), out)
    assert.truthy(out:find("uxsock-" .. VERSION .. ".tar.gz", 1, true), out)
    assert.equal(h.readfile("uxsock-" .. VERSION .. "-1.rockspec"),
      h.run("unzip -p " .. h.q(rock) .. " uxsock-" .. VERSION .. "-1.rockspec"))

    local tree = h.tmpdir() .. "/tree"
    out, how, code = h.run(string.format(
      "unshare -n luarocks --lua-version %s --tree %s install %s",
      LUA_VERSION, h.q(tree), h.q(rock)))
    assert.same({ "exit", 0 }, { how, code }, out)
    assert.matches("uxsock " .. VERSION:gsub("%.", "%%.") .. "%-1 is now installed", out)

    local so = tree .. "/lib/lua/" .. LUA_VERSION .. "/uxsock.so"
    local probe = [[
      local u = require("uxsock")
      local a, b = u.socketpair()
      a:send("ok")
      local loop = u.loop  -- the scheduler, lua/uxsock/loop.lua, from the tree
      io.write(u._VERSION, " ", b:recv(), " ", package.loaded.uxsock == u and "loaded" or "",
               " ", type(loop.spawn))
    ]]
    out, how, code = h.run(string.format("LUA_CPATH=%s LUA_PATH=%s %s -e %s",
      h.q(so:gsub("uxsock%.so$", "?.so")),
      h.q(tree .. "/share/lua/" .. LUA_VERSION .. "/?.lua"), h.LUA, h.q(probe)))
    assert.same({ "exit", 0 }, { how, code }, out)
    assert.equal("uxsock " .. VERSION .. " ok loaded function", out)
  end)
end)
