-- <close> variables (Lua 5.4 syntax): loaded by 05_lifecycle_spec.lua on
-- Lua 5.4 only, in its environment (busted's describe, it, ...); other
-- versions report it skipped. uxsock.with, the stand-in every version has,
-- has its own spec (12_with_spec.lua).
local helpers = require("helpers")
local uxsock = require("uxsock")

describe("<close>", function()
  lazy_teardown(function() helpers.cleanup() end)

  it("closes on normal scope exit", function()
    local before = helpers.fdcount()
    local refs = {}
    do
      local a, b = uxsock.socketpair()
      local ca <close> = a
      local cb <close> = b
      refs[1], refs[2] = ca, cb
      assert.are.equal(before + 2, helpers.fdcount())
      assert.is_false(ca:isclosed())
      local d <close> = uxsock.datagram()
      refs[3] = d
      assert.are.equal(before + 3, helpers.fdcount())
    end
    for i = 1, 3 do assert.is_true(refs[i]:isclosed(), "handle " .. i) end
    assert.are.equal(before, helpers.fdcount())
  end)

  it("closes a listener and its connections, removing the socket file", function()
    local path = helpers.sockpath("scope")
    local before = helpers.fdcount()
    local refs
    do
      local l <close> = assert(uxsock.listen(path))
      local c <close> = assert(uxsock.connect(path))
      local s <close> = assert(l:accept())
      refs = { l, c, s }
      assert.are.equal("socket", helpers.filetype(path))
      assert.are.equal(before + 3, helpers.fdcount())
    end
    for i = 1, 3 do assert.is_true(refs[i]:isclosed(), "handle " .. i) end
    assert.is_nil(helpers.filetype(path))
    assert.are.equal(before, helpers.fdcount())
  end)

  it("closes on break out of a loop", function()
    local before = helpers.fdcount()
    local refs = {}
    for i = 1, 5 do
      local s <close> = uxsock.datagram()
      refs[i] = s
      assert.are.equal(before + 1, helpers.fdcount())  -- the last one is closed
      if i == 3 then break end
    end
    assert.are.equal(3, #refs)
    for i = 1, 3 do assert.is_true(refs[i]:isclosed(), "handle " .. i) end
    assert.are.equal(before, helpers.fdcount())
    -- out of a while loop, and with goto
    local ref
    local ref2
    local n = 0
    while n < 5 do
      n = n + 1
      local a, b = uxsock.socketpair()
      local ca <close> = a
      local cb <close> = b
      ref, ref2 = ca, cb
      if n == 1 then break end
    end
    assert.are.equal(1, n)
    assert.is_true(ref:isclosed())
    assert.is_true(ref2:isclosed())
    assert.are.equal(before, helpers.fdcount())
    do
      local s <close> = uxsock.datagram()
      ref = s
      goto done
    end
    ::done::
    assert.is_true(ref:isclosed())
    assert.are.equal(before, helpers.fdcount())
  end)

  it("closes on return from a function", function()
    local before = helpers.fdcount()
    local ref
    local function f()
      local a, b = uxsock.socketpair()
      local ca <close> = a
      local cb <close> = b
      ref = ca
      assert.are.equal(before + 2, helpers.fdcount())
      return ca:getfd(), cb:getfd()
    end
    local fa, fb = f()
    assert.are.equal("integer", math.type(fa))
    assert.are.equal("integer", math.type(fb))
    assert.is_true(ref:isclosed())
    assert.are.equal(before, helpers.fdcount())
    -- a handle returned from its scope is closed too (the caller gets it closed)
    local function g()
      local s <close> = uxsock.datagram()
      return s
    end
    local s = g()
    assert.is_true(s:isclosed())
    assert.are.equal(before, helpers.fdcount())
  end)

  it("closes when an error unwinds through the scope", function()
    local before = helpers.fdcount()
    local path = helpers.sockpath("err")
    local refs = {}
    local ok, err = pcall(function()
      local l <close> = assert(uxsock.listen(path))
      local c <close> = assert(uxsock.connect(path))
      local s <close> = assert(l:accept())
      refs = { l, c, s }
      assert.are.equal(before + 3, helpers.fdcount())
      error("boom", 0)
    end)
    assert.is_false(ok)
    assert.are.equal("boom", err)  -- the error itself is not replaced
    for i = 1, 3 do assert.is_true(refs[i]:isclosed(), "handle " .. i) end
    assert.is_nil(helpers.filetype(path))
    assert.are.equal(before, helpers.fdcount())
    -- an error raised by uxsock itself (an argument mistake) unwinds too
    local ref, ref2
    ok, err = pcall(function()
      local a, b = uxsock.socketpair()
      local ca <close> = a
      local cb <close> = b
      ref, ref2 = ca, cb
      ca:recv(0)
    end)
    assert.is_false(ok)
    assert.matches("max must be positive", err, 1, true)
    assert.is_true(ref:isclosed())
    assert.is_true(ref2:isclosed())
    assert.are.equal(before, helpers.fdcount())
  end)

  it("does not mind a handle closed before its scope ends", function()
    local before = helpers.fdcount()
    local ref
    local ok, err = pcall(function()
      local s <close> = uxsock.datagram()
      ref = s
      assert.is_true(s:close())
    end)
    assert.is_true(ok, tostring(err))
    assert.is_true(ref:isclosed())
    assert.are.equal(before, helpers.fdcount())
  end)
end)
