-- uxsock.with(handle, fn, ...): the scoped handle of every Lua version
-- (Lua 5.1 syntax: this file runs on 5.1, 5.2, 5.3, 5.4 and LuaJIT).
-- luacheck: read globals unpack jit
local uxsock = require("uxsock")
local unpack = table.unpack or unpack

-- can a coroutine yield across Lua's own pcall here?
local PCALL_YIELDS = _VERSION ~= "Lua 5.1" or type(jit) == "table"

describe("uxsock.with", function()
  it("calls fn with the handle and extra arguments, returns its results, then closes", function()
    local a, b = uxsock.socketpair()
    local seen
    local r = { uxsock.with(a, function(h, x, y)
      seen = { h, x, y, uxsock.type(h) }
      assert(h:send("hi"))
      return "one", nil, 3
    end, "x", "y") }
    assert.equal(a, seen[1])
    assert.equal("x", seen[2])
    assert.equal("y", seen[3])
    assert.equal("stream", seen[4])
    assert.equal(3, select("#", unpack(r, 1, 3)))
    assert.same({ "one", nil, 3 }, { r[1], r[2], r[3] })
    assert.equal("closed stream", uxsock.type(a))
    assert.equal("hi", b:recv())
    assert.equal(uxsock.EOF, select(3, b:recv()))
    b:close()
  end)

  it("closes the handle when fn raises, and raises the same error value", function()
    local a, b = uxsock.socketpair()
    local err = { reason = "boom" }
    local ok, got = pcall(uxsock.with, a, function() error(err) end)
    assert.is_false(ok)
    assert.equal(err, got)  -- the very same table, not a copy or a string
    assert.equal("closed stream", uxsock.type(a))
    ok, got = pcall(uxsock.with, b, function() error("plain", 0) end)
    assert.is_false(ok)
    assert.equal("plain", got)
    assert.equal("closed stream", uxsock.type(b))
  end)

  it("closes a listener, removing its socket file", function()
    local h = require("helpers")
    local path = h.sockpath("with")
    uxsock.with(assert(uxsock.listen(path)), function()
      assert.equal("socket", h.filetype(path))
    end)
    assert.is_nil(h.filetype(path))
    h.cleanup()
  end)

  it("does not mind fn closing the handle itself", function()
    local a, b = uxsock.socketpair()
    assert.equal(true, uxsock.with(a, function(h) return h:close() end))
    assert.equal("closed stream", uxsock.type(a))
    b:close()
  end)

  it("takes Lua io files and anything with a close method", function()
    local f = io.tmpfile()
    uxsock.with(f, function(file) file:write("x") end)
    assert.equal("closed file", io.type(f))
    local closed = false
    local obj = { close = function() closed = true end }
    assert.equal(7, uxsock.with(obj, function() return 7 end))
    assert.is_true(closed)
  end)

  it("raises naming the argument for a bad handle or function", function()
    local a, b = uxsock.socketpair()
    assert.error_matches(function() uxsock.with(nil, print) end,
      "bad argument #1 to 'with' %(handle expected, got nil%)")
    assert.error_matches(function() uxsock.with(42, print) end,
      "bad argument #1 to 'with' %(handle expected, got number%)")
    assert.error_matches(function() uxsock.with(a, "print") end,
      "bad argument #2 to 'with' %(function expected, got string%)")
    -- a bad call leaves the handle open: nothing ran
    assert.equal("stream", uxsock.type(a))
    a:close()
    b:close()
  end)

  if PCALL_YIELDS then
    it("lets fn yield (a coroutine scheduler), closing when fn ends", function()
      local a, b = uxsock.socketpair()
      local co = coroutine.wrap(function()
        return uxsock.with(a, function(h)
          local msg = coroutine.yield("waiting")
          assert(h:send(msg))
          return "done"
        end)
      end)
      assert.equal("waiting", co())
      assert.equal("stream", uxsock.type(a))  -- open while fn is suspended
      assert.equal("done", co("resumed"))
      assert.equal("closed stream", uxsock.type(a))
      assert.equal("resumed", b:recv())
      b:close()
    end)
  else
    it("on Lua 5.1 fn cannot yield (its pcall cannot), and the handle still closes", function()
      local a, b = uxsock.socketpair()
      local co = coroutine.create(function()
        return uxsock.with(a, function() coroutine.yield() end)
      end)
      local ok, err = coroutine.resume(co)
      assert.is_false(ok)
      assert.matches("yield across", err)
      assert.equal("closed stream", uxsock.type(a))
      b:close()
    end)
  end

  -- a host may open uxsock before the base and io libraries (luaL_requiref
  -- first): 'with' takes nothing from them when the module opens
  it("works in a module opened before the base and io libraries", function()
    local saved = { pcall = pcall, error = error, type = type, getmetatable = getmetatable,
                    io = io }
    local loaded = package.loaded.uxsock
    local G = _G
    package.loaded.uxsock = nil
    G.pcall, G.error, G.type, G.getmetatable, G.io = nil, nil, nil, nil, nil
    local ok, fresh = saved.pcall(require, "uxsock")  -- a new module table
    for k, v in next, saved do G[k] = v end
    package.loaded.uxsock = loaded
    assert.is_true(ok, tostring(fresh))
    assert.is_false(fresh == uxsock)
    local a, b = fresh.socketpair()
    local caught, err = pcall(fresh.with, a, function() error("inside", 0) end)
    assert.is_false(caught)
    assert.equal("inside", err)
    assert.equal("closed stream", fresh.type(a))  -- closed though fn raised
    b:close()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    assert.equal(7, fresh.with(f, function(file) file:close() return 7 end))
    assert.equal("closed file", io.type(f))  -- fn closed it: not closed twice
    f = assert(io.open(path, "w"))
    fresh.with(f, function(file) file:write("x") end)
    assert.equal("closed file", io.type(f))  -- a file is known as a file
    os.remove(path)
  end)

  it("says what it lacks when the base library never came", function()
    local saved = pcall
    local a, b = uxsock.socketpair()
    _G.pcall = nil
    local ok, err = saved(uxsock.with, a, function() end)
    _G.pcall = saved
    assert.is_false(ok)
    assert.matches("uxsock.with needs the base library's pcall", err)
    assert.equal("stream", uxsock.type(a))  -- fn never ran: the handle is the caller's
    a:close()
    b:close()
  end)
end)
