-- uxsock in a C host: the example host (examples/embed/host.c, built by
-- `make embed` as build/embed-host, a Lua 5.4 program whatever Lua runs
-- this suite), and what the shared and static libraries export.
local h = require("helpers")

local BUILD = os.getenv("UXSOCK_BUILD") or "build"
local API = { "luaopen_uxsock", "uxsock_checkfd", "uxsock_detachfd", "uxsock_pushfd" }

-- the global symbols a library defines, sorted
local function exports(cmd)
  local out, how, code = h.run(cmd)
  assert.same({ "exit", 0 }, { how, code }, out)
  local names = {}
  for name in out:gmatch("%x+ [A-Z] ([%w_]+)\n") do names[#names + 1] = name end
  table.sort(names)
  return names
end

describe("the C API", function()
  it("the example host runs every step and says so", function()
    local out, how, code = h.run("build/embed-host")
    assert.same({ "exit", 0 }, { how, code }, out)
    assert.matches('conversation: sent "hello|from c|quit|", got "HELLO|FROM C|"',
      out, 1, true)
    assert.matches('detach: fd %d+ taken back with "rest" pending, used from C', out)
    assert.matches("detach: a descriptor from fromfd that came non-blocking is blocking",
      out, 1, true)
    assert.matches("threads: 2 states x 1000 lines, all echoed", out, 1, true)
    local before, during, after =
      out:match("lua_close: descriptors (%d+) before, (%d+) with the state, (%d+) after")
    assert.equal(tonumber(before) + 5, tonumber(during))
    assert.equal(before, after)
    assert.matches("embed: all checks passed\n$", out)
  end)

  it("the host needs no uxsock.so: it links the static library", function()
    local out, how, code = h.run("ldd build/embed-host")
    assert.same({ "exit", 0 }, { how, code }, out)
    assert.is_nil(out:find("uxsock", 1, true))
    local syms = h.run("nm build/embed-host")
    assert.truthy(syms:find(" T luaopen_uxsock\n", 1, true))
  end)

  it("the shared module exports only the public API", function()
    assert.same(API, exports("nm -D --defined-only " .. h.q(BUILD .. "/uxsock.so")))
  end)

  it("the static library exports only the public API", function()
    assert.same(API, exports("nm -g --defined-only " .. h.q(BUILD .. "/libuxsock.a")))
  end)
end)
