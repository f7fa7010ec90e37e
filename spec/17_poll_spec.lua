-- uxsock.poll (poll(2) over a list) and uxsock.poller (epoll): readiness
-- of handles, Lua files and descriptors, the letters, timeouts (signals:
-- spec 09), and the poller's registry through closes and reused descriptors.
local h = require("helpers")
local lfs = require("lfs")
local uxsock = require("uxsock")
local gettime = require("socket").gettime

local track = h.track

-- Linux's EEXIST: uxsock has no constant for it (yet)
local EEXIST = uxsock.EEXIST

local function pair(kind)
  return track(assert(uxsock.socketpair(kind)))
end

-- pollers and Lua files a test made, closed in after_each
local others = {}
local function keep(x)
  others[#others + 1] = x
  return x
end

-- after each test: what it made is closed
local function closeall()
  h.close_tracked()
  for _, x in ipairs(others) do x:close() end
  others = {}
end

local function poller()
  return keep(assert(uxsock.poller()))
end

local function size(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

local timed = h.timed

-- calls f until it returns a true value, for up to 5 s
local function eventually(f)
  local deadline = gettime() + 5
  repeat
    local v = f()
    if v then return v end
    os.execute("sleep 0.02")
  until gettime() > deadline
  return nil
end

-- the message of the error f raises
local function raises(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "did not raise")
  return tostring(err)
end

-- what poll and a poller's wait both do:

-- f(...) waits 0.05 s on what is idle: nothing ready, after that time;
-- returns the seconds it took
local function times_out(f, ...)
  local elapsed, ready, n = timed(f, ...)
  assert.same({ {}, 0 }, { ready, n })
  assert.is_true(elapsed >= 0.04, string.format("ended after %.3f s", elapsed))
  return elapsed
end

-- with no timeout (nil or math.huge) wait(pipe, timeout) lasts until a
-- pipe written 0.1 s on is readable; the pipe is added to poller p, if
-- given, for the wait
local function waits_without_timeout(wait, p)
  for _, timeout in ipairs({ false, math.huge }) do
    local pipe = keep(assert(io.popen("sleep 0.1; echo x")))
    if p then assert(p:add(pipe)) end
    local elapsed, ready, n = timed(wait, pipe, timeout or nil)
    assert.equal(1, n)
    assert.matches("^r", ready[pipe])
    assert.is_true(elapsed >= 0.05, string.format("ended after %.3f s", elapsed))
    if p then assert(p:remove(pipe)) end
  end
end

describe("uxsock.poll", function()
  lazy_teardown(h.cleanup)
  after_each(closeall)

  it("returns an empty table and 0 at once for idle objects and timeout 0", function()
    local a = pair()
    local elapsed, ready, n = timed(uxsock.poll, { a }, 0)
    assert.same({}, ready)
    assert.equal(0, n)
    assert.is_true(elapsed < 0.5, string.format("took %.2f s", elapsed))
  end)

  it("reports each kind of object, keyed by the very object given", function()
    local path = h.sockpath("poll")
    local l = track(assert(uxsock.listen(path)))
    track(assert(uxsock.connect(path)))          -- pending on l
    local s1, s2 = pair()
    assert(s2:send("x"))                           -- s1 readable
    local d1, d2 = pair("datagram")
    assert(d2:send("m"))                           -- d1 readable
    local r1, r2 = pair()
    assert(r2:send("y"))
    local fd = r1:getfd()                          -- a raw descriptor
    local null = keep(assert(io.open("/dev/null")))
    local tmp = keep(io.tmpfile())
    local pipe = keep(assert(io.popen("echo hi")))
    local idle = pair()
    local items = { l, s1, d1, fd, null, tmp, pipe, idle }
    local ready, n = uxsock.poll(items, 5)
    -- the pipe may still be empty when the others are ready: wait for it
    if not ready[pipe] then
      assert.is_truthy(eventually(function() return uxsock.poll({ pipe }, 0)[pipe] end))
      ready, n = uxsock.poll(items, 5)
    end
    assert.equal(7, n)
    assert.equal(7, size(ready))
    for _, x in ipairs({ l, s1, d1, fd, null, tmp }) do
      assert.equal("r", ready[x], tostring(x))
    end
    assert.matches("^r", ready[pipe])
    assert.is_nil(ready[idle])
    assert.is_nil(ready[r1])          -- the integer was given, not r1
  end)

  it("reports writable and readable as 'w' and 'rw', in that order", function()
    local a, b = pair()
    local ready, n = uxsock.poll({ { a, "w" }, { b, "rw" } }, 0)
    assert.same({ [a] = "w", [b] = "w" }, ready)
    assert.equal(2, n)
    assert(a:send("x"))
    ready = uxsock.poll({ { a, "r" }, { b, "rw" } }, 0)
    assert.same({ [b] = "rw" }, ready)
    local null = keep(assert(io.open("/dev/null", "w")))
    assert.same({ [null] = "w" }, (uxsock.poll({ { null, "w" } }, 0)))
  end)

  it("reports a peer that closed as 'h' with 'r'", function()
    local a, b = pair()
    b:close()
    assert.same({ [a] = "rh" }, (uxsock.poll({ a }, 0)))
    assert.same({ [a] = "rwh" }, (uxsock.poll({ { a, "rw" } }, 0)))
    local c, d = pair("seqpacket")
    d:shutdown("write")
    assert.same({ [c] = "rh" }, (uxsock.poll({ c }, 0)))
  end)

  it("reports an error as 'e': a pipe whose reader is gone", function()
    local w = keep(assert(io.popen("true", "w")))
    local letters = eventually(function()
      local r = uxsock.poll({ { w, "w" } }, 0)[w]
      return r and r:find("e") and r
    end)
    assert.equal("we", letters)
  end)

  it("reports a descriptor that is not open as 'e', never dropping it", function()
    local a = pair()
    local fd = a:getfd()
    a:close()
    local ready, n = uxsock.poll({ fd }, 0)
    assert.same({ [fd] = "e" }, ready)
    assert.equal(1, n)
  end)

  it("watches an object given twice once, for both entries' events", function()
    local a, b = pair()
    assert(b:send("x"))
    local ready, n = uxsock.poll({ a, { a, "w" }, { a, "r" } }, 0)
    assert.same({ [a] = "rw" }, ready)
    assert.equal(1, n)
    local fd = a:getfd()
    ready, n = uxsock.poll({ { fd, "w" }, fd }, 0)
    assert.same({ [fd] = "rw" }, ready)
    assert.equal(1, n)
    -- a handle and its descriptor are two objects
    ready, n = uxsock.poll({ a, fd }, 0)
    assert.same({ [a] = "r", [fd] = "r" }, ready)
    assert.equal(2, n)
  end)

  it("honours a timeout, also with no items", function()
    local a = pair()
    local elapsed = times_out(uxsock.poll, { a }, 0.05)
    assert.is_true(elapsed < 2, string.format("ended after %.3f s", elapsed))
    times_out(uxsock.poll, {}, 0.05)
  end)

  it("waits until one is ready with nil or math.huge", function()
    waits_without_timeout(function(pipe, timeout) return uxsock.poll({ pipe }, timeout) end)
  end)

  it("raises for argument mistakes, naming the entry", function()
    local a = pair()
    local closed = pair()
    closed:close()
    local cf = io.tmpfile()
    cf:close()
    assert.matches("bad argument #1 .*table expected, got no value", raises(uxsock.poll))
    assert.matches("bad argument #1 .*table expected, got ", raises(uxsock.poll, a))
    assert.matches("bad argument #2 .*timeout must not be negative",
                   raises(uxsock.poll, { a }, -1))
    assert.matches("bad argument #2 .*timeout must not be negative",
                   raises(uxsock.poll, { a }, 0 / 0))
    assert.matches("bad argument #2 .*timeout: number or nil expected, got string",
                   raises(uxsock.poll, { a }, "soon"))
    local cases = {
      { { a, {} }, "items%[2%]: uxsock handle, Lua file or descriptor expected, got nil" },
      { { a, "x" }, "items%[2%]: uxsock handle, Lua file or descriptor expected, got string" },
      { { true }, "items%[1%]: uxsock handle, Lua file or descriptor expected, got boolean" },
      { { a, a, { {} } }, "items%[3%]: uxsock handle, Lua file or descriptor expected, got table" },
      { { 1.5 }, "items%[1%]: descriptor must be an integer >= 0" },
      { { a, -1 }, "items%[2%]: descriptor must be an integer >= 0" },
      { { a, closed }, "items%[2%]: attempt to use a closed stream" },
      { { cf }, "items%[1%]: attempt to use a closed file" },
      { { { a, "x" } }, 'items%[1%]: events must be "r", "w" or "rw", got "x"' },
      { { a, { a, "wr" } }, 'items%[2%]: events must be "r", "w" or "rw", got "wr"' },
      { { a, { a, "" } }, 'items%[2%]: events must be "r", "w" or "rw", got ""' },
      { { a, a, { a, 1 } }, 'items%[3%]: events must be "r", "w" or "rw", got number' },
    }
    for _, c in ipairs(cases) do
      local err = raises(uxsock.poll, c[1], 0)
      assert.matches("bad argument #1 .*" .. c[2], err)
    end
  end)
end)

describe("uxsock.poller", function()
  lazy_teardown(h.cleanup)
  after_each(closeall)

  it("makes a poller with its own descriptor, close-on-exec", function()
    local p = poller()
    local fd = p:getfd()
    assert.equal("integer", h.mathtype(fd))
    assert.is_false(p:isclosed())
    assert.equal(0, p:count())
    assert.equal(string.format("uxsock.poller (fd %d, 0 registered)", fd), tostring(p))
    local q = poller()
    assert.not_equal(fd, q:getfd())
    local target = lfs.symlinkattributes("/proc/self/fd/" .. fd).target
    assert.matches("eventpoll", target)                 -- ours ...
    local out = h.run("ls -l /proc/$$/fd")
    assert.is_nil(out:find("eventpoll", 1, true))       -- ... not a child's
  end)

  it("adds, waits, modifies and removes; count and #p follow", function()
    local p = poller()
    local a, b = pair()
    assert.is_true(p:add(a))
    assert.equal(1, p:count())
    assert.equal(1, #p)
    assert.same({ {}, 0 }, { p:wait(0) })
    assert(b:send("x"))
    local ready, n = p:wait(0)
    assert.same({ [a] = "r" }, ready)
    assert.equal(1, n)
    assert.is_true(p:add(b, "w"))
    assert.equal(2, #p)
    assert.same({ [a] = "r", [b] = "w" }, (p:wait(0)))
    assert.is_true(p:modify(a, "rw"))
    assert.is_true(p:modify(b, "r"))
    assert.same({ [a] = "rw" }, (p:wait(0)))
    assert.is_true(p:modify(a))  -- "r" by default
    assert.same({ [a] = "r" }, (p:wait(0)))
    assert.is_true(p:remove(a))
    assert.equal(1, p:count())
    assert.same({ {}, 0 }, { p:wait(0) })
    assert.is_true(p:remove(b))
    assert.equal(0, #p)
    assert.equal(string.format("uxsock.poller (fd %d, 0 registered)", p:getfd()), tostring(p))
  end)

  it("gives back the very object: a file, a descriptor, a handle", function()
    local p = poller()
    local a, b = pair()
    local c, d = pair("datagram")
    local fd = c:getfd()
    local pipe = keep(assert(io.popen("echo hi")))
    assert(p:add(a))
    assert(p:add(fd))
    assert(p:add(pipe))
    assert(b:send("x"))
    assert(d:send("y"))
    assert.truthy(eventually(function() return p:wait(0)[pipe] end))
    local ready, n = p:wait(1)
    assert.equal(3, n)
    assert.equal("r", ready[a])
    assert.equal("r", ready[fd])
    assert.matches("^r", ready[pipe])
    assert.equal(string.format("uxsock.poller (fd %d, 3 registered)", p:getfd()), tostring(p))
  end)

  it("reports a peer that closed as 'h' with 'r', and an error as 'e'", function()
    local p = poller()
    local a, b = pair()
    assert(p:add(a))
    b:close()
    assert.same({ [a] = "rh" }, (p:wait(0)))
    assert(p:modify(a, "rw"))
    assert.same({ [a] = "rwh" }, (p:wait(0)))
    local w = keep(assert(io.popen("true", "w")))
    assert(p:add(w, "w"))
    assert.equal("we", eventually(function()
      local r = p:wait(0)[w]
      return r and r:find("e") and r
    end))
  end)

  it("refuses a descriptor added twice (EEXIST) and one not added (ENOENT)", function()
    local p = poller()
    local a = pair()
    assert(p:add(a))
    local ok, err, code = p:add(a, "w")
    assert.same({ nil, "add: already added", EEXIST }, { ok, err, code })
    -- a handle and its descriptor are one descriptor
    ok, err, code = p:add(a:getfd())
    assert.same({ nil, "add: already added", EEXIST }, { ok, err, code })
    assert.equal(1, p:count())
    local c = pair()
    ok, err, code = p:modify(c, "w")
    assert.same({ nil, "modify: not added", uxsock.ENOENT }, { ok, err, code })
    ok, err, code = p:remove(c)
    assert.same({ nil, "remove: not added", uxsock.ENOENT }, { ok, err, code })
    assert.is_true(p:remove(a))
    ok, err, code = p:remove(a)
    assert.same({ nil, "remove: not added", uxsock.ENOENT }, { ok, err, code })
    assert.equal(0, p:count())
  end)

  it("refuses a regular file (EPERM)", function()
    local p = poller()
    local f = keep(io.tmpfile())
    local ok, err, code = p:add(f)
    assert.is_nil(ok)
    assert.equal(uxsock.EPERM, code)
    assert.matches("^add: ", err)
    assert.equal(0, p:count())
    assert.is_nil((p:remove(f)))
  end)

  it("an integer names a descriptor: it removes the handle added there", function()
    local p = poller()
    local a, b = pair()
    assert(p:add(a))
    assert.is_true(p:modify(a:getfd(), "w"))
    assert.same({ [a] = "w" }, (p:wait(0)))
    assert.is_true(p:remove(a:getfd()))
    assert.equal(0, p:count())
    assert.is_nil((p:remove(a)))
    assert(b:send("x"))
    assert.same({}, (p:wait(0)))
  end)

  it("takes a handle out as it closes: count drops, remove after close is true", function()
    local p = poller()
    local a, b = pair()
    local c, d = pair()
    assert(p:add(a))
    assert(p:add(c))
    assert(b:send("x"))
    assert(d:send("y"))
    a:close()
    assert.equal(1, p:count())        -- gone at once
    local ready, n = p:wait(0)
    assert.same({ [c] = "r" }, ready)
    assert.equal(1, n)
    assert.is_true(p:remove(a))       -- harmless
    assert.equal(1, p:count())
    assert.is_nil((p:remove(a)))      -- and then it is not known at all
    -- by its integer too: the handle's close takes out what is at its number
    local e, f = pair()
    assert(p:add(e:getfd()))
    assert(f:send("z"))
    e:close()
    assert.equal(1, p:count())
    assert.same({ [c] = "r" }, (p:wait(0)))
    -- a closed Lua file counts until it is removed (uxsock cannot see it close)
    local pipe = assert(io.popen("true"))
    assert(p:add(pipe))
    pipe:close()
    assert.equal(2, p:count())
    assert.is_true(p:remove(pipe))
    assert.equal(1, p:count())
    assert.same({ [c] = "r" }, (p:wait(0)))
  end)

  -- a wait of 'timeout' s on p that reports nothing: it lasts that long and
  -- takes a small part of it in processor time (it used to spin)
  local function idle_wait(p, timeout)
    local c0 = os.clock()
    local elapsed, ready, n = timed(p.wait, p, timeout)
    local cpu = os.clock() - c0
    assert.same({ {}, 0 }, { ready, n })
    assert.is_true(elapsed >= timeout * 0.8, string.format("ended after %.3f s", elapsed))
    assert.is_true(cpu < timeout / 4, string.format("%.3f s of processor time", cpu))
  end

  it("never spins on a handle closed while a copy of its descriptor lives", function()
    for _, copy in ipairs({ "in flight", "received", "integer" }) do
      local p = poller()
      local a, b = pair()
      local q1, q2 = pair()
      local other
      assert(b:send("x"))                     -- a is readable, and stays so
      if copy == "integer" then assert(p:add(a:getfd())) else assert(p:add(a)) end
      assert(q1:sendfds("fd", { a }))         -- a copy of a's descriptor in q2's queue
      if copy == "received" then
        local _, fds = assert(q2:recvfds())   -- a second handle, the same file
        other = track(fds[1])
      end
      local pubfd, afd = p:getfd(), a:getfd()
      assert.same({ [pubfd] = "r" }, (uxsock.poll({ pubfd }, 0)))
      a:close()
      assert.equal(0, p:count(), copy)
      assert.same({}, (uxsock.poll({ pubfd }, 0)), copy)  -- getfd agrees with wait
      idle_wait(p, 0.2)
      assert.is_nil((p:remove(afd)))          -- nothing left at its number
      if other then
        assert.equal("x", other:recv())       -- the file lives on, whole
        assert(p:add(other))
        assert(b:send("y"))
        assert.same({ [other] = "r" }, (p:wait(0)))
      end
    end
  end)

  it("drops a Lua file closed while a copy lives, without spinning, when wait finds it", function()
    for _, nested in ipairs({ false, true }) do
      local p = poller()
      local before = tostring(p)
      local pipe = assert(io.popen("echo hi"))
      local q1 = pair()
      assert(p:add(pipe))
      assert.truthy(eventually(function() return p:wait(0)[pipe] end))
      local outer, pubfd
      if nested then
        pubfd = p:getfd()
        outer = poller()
        assert(outer:add(pubfd))
        assert.same({ [pubfd] = "r" }, (outer:wait(0)))
      end
      assert(q1:sendfds("fd", { pipe }))      -- a copy in flight
      pipe:close()                            -- behind the poller's back
      assert.equal(1, p:count())              -- it cannot know yet
      assert.same({ {}, 0 }, { p:wait(0) })   -- ... until wait finds the closed file
      assert.equal(0, p:count())
      idle_wait(p, 0.2)
      assert.is_true(p:remove(pipe))          -- harmless
      if nested then
        assert.equal(pubfd, p:getfd())        -- the same descriptor, now idle
        assert.same({}, (outer:wait(0)))
        local a, b = pair()
        assert(p:add(a))
        assert(b:send("x"))
        assert.same({ [pubfd] = "r" }, (outer:wait(0)))  -- and still nested
        assert.same({ [a] = "r" }, (p:wait(0)))
      else
        assert.equal(before, tostring(p))     -- the same descriptor number
      end
    end
  end)

  it("reports every live object although entries nobody can remove are ready first", function()
    local p = poller()
    local q1 = pair()
    local pipe = assert(io.popen("echo hi"))
    assert(p:add(pipe))
    assert.truthy(eventually(function() return p:wait(0)[pipe] end))
    assert(q1:sendfds("fd", { pipe }))      -- a copy in flight keeps its entry
    pipe:close()
    -- the closed file's number goes to a socket, added there: the old
    -- entry is no registration's any more, and still ready, first in line
    local a, b = pair()
    local c, d = pair()
    assert(b:send("x"))
    assert(d:send("x"))
    assert(p:add(a))
    assert(p:add(c))
    assert.equal(2, p:count())
    local ready, n = p:wait(0)
    assert.same({ { [a] = "r", [c] = "r" }, 2 }, { ready, n })
    assert.equal(1, select(2, p:wait(0, 1)))
  end)

  it("adds the same open file again at the number it had, closed while added", function()
    -- the kernel keys an entry on the open file and the number: a copy
    -- received back at the closed file's number meets the old entry
    local p = poller()
    local q1, q2 = pair()
    local function sendback(f)
      assert(q1:sendfds("fd", { f }))       -- a copy in flight
      local before = h.settled_fdset()
      f:close()                             -- behind the poller's back
      local _, fds = assert(q2:recvfds())
      assert.same(before, h.settled_fdset())  -- the same file at the same number
      return fds[1]
    end
    local function notadded(f)
      local ok, _, code = p:modify(f, "r")
      assert.same({ nil, uxsock.ENOENT }, { ok, code })
    end
    -- the closed file still registered
    local first = assert(io.popen("echo hi"))
    assert(p:add(first))
    local second = sendback(first)
    assert.is_true(p:add(second))
    assert.equal(1, p:count())
    assert.truthy(eventually(function() return p:wait(0)[second] end))
    assert.is_true(p:remove(first))         -- harmless
    assert.is_true(p:modify(second, "rw"))
    -- the closed file removed: the kernel keeps its entry, whose number
    -- names nothing the poller could remove
    local third = sendback(second)
    assert.is_true(p:remove(second))
    assert.equal(0, p:count())
    assert.is_true(p:add(third))
    assert.truthy(eventually(function() return p:wait(0)[third] end))
    -- modify of the copy, not added, while the closed file is registered
    local fourth = sendback(third)
    notadded(fourth)
    assert.equal(0, p:count())
    assert.is_true(p:add(fourth))
    assert.truthy(eventually(function() return p:wait(0)[fourth] end))
    assert.is_true(p:remove(fourth))
    assert.same({}, (p:wait(0)))
    fourth:close()
  end)

  it("lets every poller go of a closed handle; pollers closed or collected first", function()
    local a, b = pair()
    assert(b:send("x"))
    local ps = {}
    for i = 1, 20 do
      ps[i] = poller()
      assert(ps[i]:add(a, i % 2 == 0 and "rw" or "r"))
    end
    ps[3]:close()
    ps[4] = nil
    collectgarbage()
    collectgarbage()
    local q1 = pair()
    assert(q1:sendfds("fd", { a }))
    a:close()
    for i, p in pairs(ps) do
      if not p:isclosed() then
        assert.equal(0, p:count(), "poller " .. i)
        assert.same({}, (p:wait(0)), "poller " .. i)
      end
    end
    -- a poller collected while it held a handle that closes after
    local c, d = pair()
    assert(d:send("x"))
    do
      local p = assert(uxsock.poller())
      assert(p:add(c))
    end
    collectgarbage()
    collectgarbage()
    c:close()
    assert.is_true(c:isclosed())
  end)

  it("stays whole when finalizers use it, close its handles or collect it during a wait",
     function()
    -- an object whose finalizer calls f (newproxy where tables have no __gc)
    local newproxy = newproxy  -- luacheck: ignore (5.1, LuaJIT)
    local function garbage(f)
      if newproxy then
        local u = newproxy(true)
        getmetatable(u).__gc = f
      else
        setmetatable({}, { __gc = f })
      end
    end
    local p = poller()
    local live = {}
    for _ = 1, 40 do
      local a, b = pair("datagram")
      assert(b:send("x"))
      assert(p:add(a))
      live[a] = true
    end
    local rounds, calls, checking = 0, 0, false
    local function churn()
      -- the checks below see what wait gave; a finalizer must not raise
      if checking or p:isclosed() then return end
      calls = calls + 1
      local k = calls % 3
      if calls == 150 then getmetatable(p).__gc(p)           -- frees regs: wait re-reads
      elseif k == 0 then p:wait(0, 1 + calls % 50)          -- a wait inside a wait
      elseif k == 1 then
        local x = next(live)
        if x then live[x] = nil; x:close() end               -- closed while reported
      else
        local a, b = pair("datagram")
        assert(b:send("x"))
        if p:add(a) then live[a] = true end
      end
    end
    pcall(collectgarbage, "setpause", 0)  -- a step at every allocation
    pcall(collectgarbage, "setstepmul", 1000)
    while rounds < 300 and not p:isclosed() do
      rounds = rounds + 1
      for _ = 1, 5 do garbage(churn) end
      if rounds % 50 == 0 then collectgarbage() end  -- LuaJIT may not finish a cycle else
      if p:isclosed() then break end
      local ready = p:wait(0)
      checking = true
      for obj, letters in pairs(ready) do
        assert.is_true(live[obj], "wait gave " .. tostring(obj))  -- only what lives
        assert.equal("r", letters)
      end
      checking = false
    end
    pcall(collectgarbage, "setpause", 200)
    pcall(collectgarbage, "setstepmul", 200)
    collectgarbage()
    assert.is_true(p:isclosed() or rounds == 300)
    assert.is_true(calls > 0, "no finalizer ran")
  end)

  it("takes uxsock.loop proxies as the handles they wrap, giving back the proxy", function()
    local loop = require("uxsock.loop")
    local a, b = loop.socketpair()
    assert(b:send("x"))
    local ready, n = uxsock.poll({ a, { b, "w" } }, 0)
    assert.same({ [a] = "r", [b] = "w" }, ready)
    assert.equal(2, n)
    assert.same({ [a] = "rw" }, (uxsock.poll({ { a, "rw" } }, 0)))
    local p = poller()
    assert.is_true(p:add(a))
    assert.same({ nil, "add: already added", EEXIST }, { p:add(a.handle) })
    assert.same({ [a] = "r" }, (p:wait(0)))
    assert.is_true(p:modify(a, "rw"))
    assert.same({ [a] = "rw" }, (p:wait(0)))
    assert.is_true(p:remove(a))
    assert.equal(0, p:count())
    assert(p:add(b))
    b:close()                                 -- the proxy's close is the handle's
    assert.equal(0, p:count())
    assert.is_true(p:remove(b))
    assert.matches("items%[1%]: attempt to use a closed stream",
                   raises(uxsock.poll, { b }, 0))
    assert.matches("object: attempt to use a closed stream", raises(p.add, p, b))
    -- any object can stand for a handle the same way
    local fake = setmetatable({}, { __uxsock_handle = function() return a.handle end })
    assert.same({ [fake] = "rh" }, (uxsock.poll({ fake }, 0)))  -- b closed
    local bad = setmetatable({}, { __uxsock_handle = function() return 42 end })
    assert.matches("items%[1%]: __uxsock_handle must give a uxsock handle, got number",
                   raises(uxsock.poll, { bad }, 0))
    assert.matches("bad argument #1 to 'add' %(object: __uxsock_handle must give a uxsock "
                   .. "handle, got number", raises(function() local r = p:add(bad) return r end))
    a:close()
  end)

  it("keeps a later add whose descriptor reuses a closed one's number", function()
    local p = poller()
    local old = pair()
    local fd = old:getfd()
    assert(p:add(old))
    old:close()
    -- the lowest free number: one end of the next pair is fd
    local x, y = pair()
    local new, peer = x, y
    if y:getfd() == fd then new, peer = y, x end
    assert.equal(fd, new:getfd())
    assert.is_true(p:add(new))
    assert.equal(1, p:count())        -- it took the closed handle's place
    assert.is_true(p:remove(old))     -- forgets old, keeps new
    assert.equal(1, p:count())
    assert(peer:send("x"))
    assert.same({ [new] = "r" }, (p:wait(0)))
    assert.is_true(p:remove(new))
    assert.equal(0, p:count())
    assert.same({}, (p:wait(0)))
  end)

  it("reports exactly the ready ones among 1000 registered sockets", function()
    local p = poller()
    local ends, peers = {}, {}
    for i = 1, 1000 do
      ends[i], peers[i] = pair("datagram")
      assert(p:add(ends[i]))
    end
    assert.equal(1000, p:count())
    assert.same({ {}, 0 }, { p:wait(0) })
    local want = {}
    for _, i in ipairs({ 1, 2, 77, 500, 501, 999, 1000, 313, 640, 42 }) do
      assert(peers[i]:send("x"))
      want[ends[i]] = "r"
    end
    local ready, n = p:wait(0)
    assert.equal(10, n)
    assert.same(want, ready)
    for i = 1, 1000 do assert(p:remove(ends[i])) end
    assert.equal(0, p:count())
    assert.same({ {}, 0 }, { p:wait(0) })
  end)

  it("reports at most max objects per wait, the others on the next", function()
    local p = poller()
    local want = {}
    for _ = 1, 10 do
      local a, b = pair("datagram")
      assert(p:add(a))
      assert(b:send("x"))
      want[a] = "r"
    end
    for _ = 1, 5 do assert(p:add((pair("datagram")))) end  -- idle ones
    local seen = {}
    for _ = 1, 4 do
      local ready, n = p:wait(0, 3)
      assert.equal(3, n)
      assert.equal(3, size(ready))
      for k, v in pairs(ready) do
        assert.equal("r", want[k])
        seen[k] = v
      end
    end
    assert.same(want, seen)           -- level-triggered, in turn
    local ready, n = p:wait(0, 1000)
    assert.same({ want, 10 }, { ready, n })
    ready, n = p:wait(0, 1)
    assert.equal(1, n)
    assert.equal(1, size(ready))
  end)

  it("honours a timeout, and waits with nil or math.huge", function()
    local p = poller()
    local a = pair()
    assert(p:add(a))
    local elapsed = times_out(p.wait, p, 0.05)
    assert.is_true(elapsed < 2, string.format("ended after %.3f s", elapsed))
    elapsed = timed(p.wait, p, 0)
    assert.is_true(elapsed < 0.5, string.format("took %.3f s", elapsed))
    -- an empty poller waits too
    local empty = poller()
    times_out(empty.wait, empty, 0.05)
    waits_without_timeout(function(_, timeout) return p:wait(timeout) end, p)
  end)

  it("nests: its descriptor is readable when wait has something", function()
    local p = poller()
    local a, b = pair()
    assert(p:add(a))
    local fd = p:getfd()
    assert.same({}, (uxsock.poll({ fd }, 0)))
    assert(b:send("x"))
    assert.same({ [fd] = "r" }, (uxsock.poll({ fd }, 0)))
    local outer = poller()
    assert(outer:add(fd))
    assert.same({ [fd] = "r" }, (outer:wait(0)))
  end)

  it("closes once and then raises for use, leaving its objects open", function()
    local p = assert(uxsock.poller())
    local a, b = pair()
    assert(p:add(a))
    assert.is_true(p:close())
    assert.is_true(p:close())
    assert.is_true(p:isclosed())
    assert.equal("uxsock.poller (closed)", tostring(p))
    assert.is_false(a:isclosed())
    assert(b:send("x"))
    assert.equal("x", a:recv())
    local calls = {
      function() return p:add(b) end,
      function() return p:modify(a) end,
      function() return p:remove(a) end,
      function() return p:wait(0) end,
      function() return p:count() end,
      function() return #p end,
      function() return p:getfd() end,
    }
    for i, f in ipairs(calls) do
      assert.matches("attempt to use a closed poller", raises(f), "call " .. i)
    end
    -- __close and __gc never raise, closed or not, and close
    local q = assert(uxsock.poller())
    local mt = getmetatable(q)
    mt.__close(q)
    assert.is_true(q:isclosed())
    mt.__close(q)
    mt.__gc(q)
    mt.__gc(q)
    assert.is_true(q:isclosed())
  end)

  it("leaks no descriptor over 1000 pollers, closed or collected", function()
    collectgarbage()
    local before = h.fdcount()
    local a = pair()
    for _ = 1, 1000 do
      local p = assert(uxsock.poller())
      assert(p:add(a))
      assert(p:close())
    end
    assert.equal(before + 2, h.fdcount())
    for _ = 1, 1000 do
      local p = assert(uxsock.poller())
      assert(p:add(a))
    end
    collectgarbage()
    collectgarbage()
    assert.equal(before + 2, h.fdcount())
  end)

  it("raises for argument mistakes, naming the argument", function()
    local p = poller()
    local a = pair()
    local closed = pair()
    closed:close()
    local cf = io.tmpfile()
    cf:close()
    -- method calls, as the messages number arguments for them (and no
    -- tail calls, which lose the name on LuaJIT)
    local call = {
      add = function(...) local r = h.pack(p:add(...)) return r end,
      modify = function(...) local r = h.pack(p:modify(...)) return r end,
      remove = function(...) local r = h.pack(p:remove(...)) return r end,
      wait = function(...) local r = h.pack(p:wait(...)) return r end,
    }
    local bad = {
      { {}, "object: uxsock handle, Lua file or descriptor expected, got table" },
      { nil, "object: uxsock handle, Lua file or descriptor expected, got nil" },
      { -1, "object: descriptor must be an integer >= 0" },
      { 1.5, "object: descriptor must be an integer >= 0" },
    }
    for _, method in ipairs({ "add", "modify", "remove" }) do
      for _, c in ipairs(bad) do
        assert.matches("bad argument #1 to '" .. method .. "' %(" .. c[2],
                       raises(call[method], c[1]))
      end
    end
    for _, method in ipairs({ "add", "modify" }) do
      assert.matches("bad argument #1 to '" .. method ..
                     "' %(object: attempt to use a closed stream", raises(call[method], closed))
      assert.matches("bad argument #1 to '" .. method .. "' %(object: attempt to use a closed file",
                     raises(call[method], cf))
      assert.matches("bad argument #2 to '" .. method ..
                     "' %(events must be \"r\", \"w\" or \"rw\", got \"x\"",
                     raises(call[method], a, "x"))
      assert.matches('bad argument #2 .*events must be "r", "w" or "rw", got table',
                     raises(call[method], a, {}))
    end
    assert.matches("bad argument #1 to 'wait' %(timeout must not be negative",
                   raises(call.wait, -1))
    assert.matches("bad argument #1 .*timeout: number or nil expected", raises(call.wait, "soon"))
    assert.matches("bad argument #2 to 'wait' %(max must be at least 1", raises(call.wait, 0, 0))
    assert.matches("bad argument #2 .*max must be at least 1", raises(call.wait, 0, -5))
    assert.matches("bad argument #2 .*number has no integer representation",
                   raises(call.wait, 0, 1.5))
    assert.matches("bad argument #2 .*number expected", raises(call.wait, 0, "x"))
    -- not a poller
    assert.matches("uxsock.poller expected", raises(p.wait, {}))
    assert.matches("uxsock.poller expected", raises(p.count, a))
  end)
end)
