-- The rockspec: luarocks builds and installs the module into a private tree
-- with no network, and require("uxsock") works from that tree alone.
local h = require("helpers")

-- the Lua version under test, as LuaRocks names it: LuaJIT is "5.1"
local LUAVER = assert(_VERSION:match("^Lua (%d+%.%d+)$"))

describe("the rockspec", function()
  lazy_teardown(h.cleanup)

  it("builds with luarocks make into a temporary tree and loads from it", function()
    local dir = h.tmpdir()
    local src, tree = dir .. "/src", dir .. "/tree"
    -- a copy of what the rockspec names, so the build leaves no objects here
    local out, how, code = h.run(string.format(
      "mkdir -p %s && cp -R src lua uxsock-scm-1.rockspec LICENSE README.md %s",
      h.q(src), h.q(src)))
    assert.same({ "exit", 0 }, { how, code }, out)
    out, how, code = h.run(string.format(
      "cd %s && luarocks --lua-version %s --tree %s make uxsock-scm-1.rockspec",
      h.q(src), LUAVER, h.q(tree)))
    assert.same({ "exit", 0 }, { how, code }, out)
    assert.matches("uxsock scm%-1 is now installed", out)

    -- only the tree on the paths: not build/, not the system's
    -- (Lua 5.1 has no package.searchpath: the probe does the same)
    local probe = [[
      local searchpath = package.searchpath or function(name, path)
        for template in path:gmatch("[^;]+") do
          local file = template:gsub("%?", (name:gsub("%.", "/")))
          local f = io.open(file)
          if f then f:close() return file end
        end
      end
      local u = require("uxsock")
      local a, b = u.socketpair()
      a:send("ok")
      assert(u.loop == require("uxsock.loop"))
      io.write(u._VERSION, " ", b:recv(), " ", searchpath("uxsock", package.cpath), " ",
               searchpath("uxsock.loop", package.path))
    ]]
    out, how, code = h.run(string.format("LUA_CPATH=%s LUA_PATH=%s %s -e %s",
      h.q(tree .. "/lib/lua/" .. LUAVER .. "/?.so"),
      h.q(tree .. "/share/lua/" .. LUAVER .. "/?.lua"),
      h.LUA, h.q(probe)))
    assert.same({ "exit", 0 }, { how, code }, out)
    assert.equal("uxsock 0.1.0 ok " .. tree .. "/lib/lua/" .. LUAVER .. "/uxsock.so "
                 .. tree .. "/share/lua/" .. LUAVER .. "/uxsock/loop.lua", out)
  end)
end)
