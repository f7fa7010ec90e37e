-- uxsock.loop's wrapped handles as <close> variables (Lua 5.4 syntax):
-- loaded by 18_loop_spec.lua on Lua 5.4 only, in its environment.
local helpers = require("helpers")
local uxsock = require("uxsock")
local loop = require("uxsock.loop")

describe("uxsock.loop and <close>", function()
  before_each(function() loop.reset() end)
  after_each(function() loop.reset() end)
  lazy_teardown(helpers.cleanup)

  it("closes a wrapped handle when its scope ends", function()
    local before = helpers.fdcount()
    local raw
    do
      local a <close>, b = loop.socketpair()
      local _cb <close> = b
      raw = a.handle
      assert.are.equal(before + 2, helpers.fdcount())
    end
    assert.is_true(raw:isclosed())
    assert.are.equal(before, helpers.fdcount())
  end)

  it("closes in a task that raises, and removes the listener's file", function()
    local path = helpers.sockpath("loopclose")
    local raw
    loop.spawn(function()
      local l <close> = assert(loop.listen(path))
      raw = l.handle
      local c <close> = assert(loop.connect(path))
      local s <close> = assert(l:accept())
      assert(c:sendall("x"))
      assert.are.equal("x", s:recv())
      error("on purpose")
    end)
    local ok, err = pcall(loop.run, 5)
    assert.is_false(ok)
    assert.matches("on purpose", err)
    assert.is_true(raw:isclosed())
    assert.is_nil(helpers.filetype(path))
    assert.are.equal(0, loop.count())
  end)

  it("wakes a task waiting on a handle another task's scope closed", function()
    local a, b = loop.socketpair()
    local res
    loop.spawn(function() res = { b:recv() } end)
    loop.spawn(function()
      local _cb <close> = b
      loop.sleep(0.02)
    end)
    assert(loop.run(5))
    assert.is_nil(res[1])
    assert.are.equal(uxsock.EOF, res[3])
    a:close()
  end)
end)
