-- uxsock.loop (lua/uxsock/loop.lua): tasks, timers, wrapped handles, and
-- many clients at once. Plain Lua 5.1 syntax; the <close> cases are in
-- spec/lua54/loop_close.lua.
local helpers = require("helpers")
local uxsock = require("uxsock")
local loop = require("uxsock.loop")

local LUA54 = _VERSION == "Lua 5.4"

-- runs the loop to the end, failing the test if it takes too long
local function runall(t)
  local ok, msg = loop.run(t or 20)
  assert(ok, msg)
end

-- n bytes that tell their client, message and position apart
local function payload(i, k, n)
  local unit = string.format("<%d.%d|", i, k)
  return unit:rep(math.ceil(n / #unit)):sub(1, n)
end

-- an echo task for one connection: recv and sendall until end of stream
local function echo(conn)
  while true do
    local data, msg, code = conn:recv(65536)
    if not data then
      assert(code == uxsock.EOF, msg)
      break
    end
    assert(conn:sendall(data))
  end
  conn:close()
end

-- the backends this system has: "poller" (epoll) where uxsock.poller
-- works, and always "poll"
local function backends()
  local list = {}
  if uxsock.poller and uxsock.poller() then list[1] = "poller" end
  list[#list + 1] = "poll"
  return list
end

describe("uxsock.loop", function()
  before_each(function() loop.reset() end)
  after_each(function()
    helpers.close_tracked()
    loop.reset()
  end)
  lazy_teardown(helpers.cleanup)

  it("uses uxsock.poller on Linux and uxsock.poll otherwise", function()
    local linux = helpers.readfile("/proc/version") ~= nil
    assert.are.equal(linux and "poller" or "poll", loop.backend())
    assert.are.equal("poll", loop.backend("poll"))
    assert.are.equal("poll", loop.backend())
    assert.are.equal(linux and "poller" or "poll", loop.backend(linux and "poller" or "poll"))
    assert.has_error(function() loop.backend("select") end)
  end)

  it("has a clock that moves", function()
    local t0 = loop.now()
    loop.sleep(0.05)
    local dt = loop.now() - t0
    assert.is_true(dt >= 0.04 and dt < 1, "slept " .. dt)
    assert.equal(uxsock.monotime, loop.now)
  end)

  describe("spawn and run", function()
    it("starts tasks on the next turn, with their arguments", function()
      local got = {}
      local task = loop.spawn(function(a, b, c) got = { a, b, c } end, 1, nil, 3)
      assert.are.equal("ready", task.status)
      assert.are.same({}, got)
      assert.are.equal(1, loop.count())
      assert.is_true(loop.run())
      assert.are.same({ 1, nil, 3 }, got)
      assert.are.equal("dead", task.status)
      assert.are.equal(0, loop.count())
      assert.is_true(loop.run())  -- nothing to do
    end)

    it("knows the running task, and none outside", function()
      local seen
      local task = loop.spawn(function() seen = loop.running() end)
      assert.is_nil(loop.running())
      runall()
      assert.are.equal(task, seen)
    end)

    it("lets a task spawn tasks, and gives way on sleep(0) and coroutine.yield", function()
      local trace = {}
      loop.spawn(function()
        loop.spawn(function()
          for i = 1, 3 do trace[#trace + 1] = "b" .. i; loop.sleep(0) end
        end)
        for i = 1, 3 do trace[#trace + 1] = "a" .. i; coroutine.yield() end
      end)
      runall()
      assert.are.equal("a1 b1 a2 b2 a3 b3", table.concat(trace, " "))
    end)

    it("wakes sleepers in the order of their deadlines", function()
      local order = {}
      for _, d in ipairs({ 0.06, 0.02, 0.04, 0 }) do
        loop.spawn(function() loop.sleep(d); order[#order + 1] = d end)
      end
      local t0 = loop.now()
      runall()
      assert.are.same({ 0, 0.02, 0.04, 0.06 }, order)
      local dt = loop.now() - t0
      assert.is_true(dt >= 0.05 and dt < 1, "took " .. dt)
    end)

    it("raises a task's error from run, with its traceback, and goes on after", function()
      local later = false
      loop.spawn(function()
        loop.sleep(0.01)
        local function inner_culprit() error("boom in a task") end
        inner_culprit()
      end)
      loop.spawn(function() loop.sleep(0.05); later = true end)
      local ok, err = pcall(loop.run, 10)
      assert.is_false(ok)
      assert.matches("boom in a task", err)
      assert.matches("stack traceback", err)
      assert.matches("inner_culprit", err)
      assert.is_false(later)
      assert.are.equal(1, loop.count())
      runall()  -- the loop is usable: the other task ends
      assert.is_true(later)
    end)

    it("raises error values that are not strings as they are", function()
      local e = { code = 42 }
      loop.spawn(function() error(e) end)
      local ok, err = pcall(loop.run)
      assert.is_false(ok)
      assert.are.equal(e, err)
    end)

    it("returns nil, msg, ETIMEDOUT when its timeout passes, keeping the tasks", function()
      local done = false
      loop.spawn(function() loop.sleep(0.3); done = true end)
      local t0 = loop.now()
      local ok, msg, code = loop.run(0.05)
      local dt = loop.now() - t0
      assert.is_nil(ok)
      assert.matches("timeout", msg)
      assert.are.equal(uxsock.ETIMEDOUT, code)
      assert.is_true(dt >= 0.04 and dt < 0.3, "took " .. dt)
      assert.is_false(done)
      runall()
      assert.is_true(done)
    end)

    it("times out even while tasks keep giving way", function()
      loop.spawn(function() while true do loop.sleep(0) end end)
      local ok, _, code = loop.run(0.05)
      assert.is_nil(ok)
      assert.are.equal(uxsock.ETIMEDOUT, code)
    end)

    it("refuses to run inside a task, and bad arguments", function()
      local err
      loop.spawn(function() err = select(2, pcall(loop.run)) end)
      runall()
      assert.matches("already running", err)
      assert.has_error(function() loop.run(-1) end)
      assert.has_error(function() loop.spawn(42) end)
      assert.has_error(function() loop.sleep(-1) end)
      assert.has_error(function() loop.wait(0, "x") end)
      assert.has_error(function() loop.wait({}) end)
    end)
  end)

  describe("wrapped handles", function()
    it("mirror the handle: tostring, handle, getfd, timeout, unwrap", function()
      local a, b = helpers.track(uxsock.socketpair())
      a:settimeout(0.5)
      local p = loop.wrap(a)
      assert.is_true(loop.iswrapped(p))
      assert.is_false(loop.iswrapped(a))
      assert.are.equal(p, loop.wrap(p))
      assert.are.equal(a, p.handle)
      assert.matches("^uxsock.loop: uxsock.stream %(fd %d+", tostring(p))
      assert.are.equal(a:getfd(), p:getfd())
      assert.are.equal(0.5, p:gettimeout())
      assert.are.equal(0, a:gettimeout())  -- the handle itself never blocks
      assert.is_true(p:settimeout(nil))
      assert.is_nil(p:gettimeout())
      assert.is_true(p:settimeout(0.25))
      assert.has_error(function() p:settimeout(-1) end)
      assert.are.equal(0.25, p:gettimeout())
      assert.is_false(p:isclosed())  -- passed through to the handle
      assert.are.equal(a, loop.unwrap(p))
      assert.are.equal(0.25, a:gettimeout())
      assert.are.equal(b, loop.unwrap(b))
      assert.has_error(function() loop.wrap("x") end)
      b:close()
      assert.has_error(function() loop.wrap(b) end)
    end)

    it("block as plain handles outside a task", function()
      local a, b = loop.socketpair()
      helpers.track(a.handle, b.handle)
      b:settimeout(0.1)
      local t0 = loop.now()
      local r, msg, code = b:recv()
      local dt = loop.now() - t0
      assert.is_nil(r)
      assert.are.equal(uxsock.ETIMEDOUT, code, msg)
      assert.is_true(dt >= 0.08 and dt < 1, "took " .. dt)
      assert.are.equal(0, b.handle:gettimeout())
      assert.are.equal(3, a:send("abc"))
      assert.are.equal("abc", b:recv())
      assert.are.equal(6, a:sendall("x\nyz\n!"))
      assert.are.equal("x", b:read())
      local lines = {}
      a:shutdown("write")
      for l in b:lines() do lines[#lines + 1] = l end
      assert.are.same({ "yz", "!" }, lines)
      b:settimeout(0)
      local _, msg2, code2 = b:recv()
      assert.are.equal(uxsock.EOF, code2, msg2)
      assert.has_error(function() b:recv(-5) end)
      assert.are.equal(0, b.handle:gettimeout())  -- kept after a raise
      assert.is_true(a:close())
      assert.is_true(a:isclosed())
      assert.is_true(a:close())
      b:close()
    end)

    it("run many stream tasks concurrently on a socketpair", function()
      local a, b = loop.socketpair()
      local got = {}
      loop.spawn(function()
        for i = 1, 100 do assert(a:sendall("line " .. i .. "\n")) end
        assert(a:shutdown("write"))
        got.reply = a:read("a")
        a:close()
      end)
      loop.spawn(function()
        local n = 0
        while true do
          local line, msg, code = b:read("L")
          if not line then assert.are.equal(uxsock.EOF, code, msg); break end
          n = n + 1
          assert.are.equal("line " .. n .. "\n", line)
        end
        got.n = n
        assert(b:sendall("bye"))
        b:close()
      end)
      runall()
      assert.are.equal(100, got.n)
      assert.are.equal("bye", got.reply)
    end)

    it("iterate lines in a task (Lua 5.2+ and LuaJIT yield in a for iterator)", function()
      local a, b = loop.socketpair()
      local lines = {}
      loop.spawn(function()
        loop.sleep(0.02)  -- the reader waits first
        a:sendall("one\ntwo\n")
        loop.sleep(0.02)
        a:sendall("three")
        a:close()
      end)
      loop.spawn(function()
        if _VERSION == "Lua 5.1" and not jit then
          while true do
            local l = b:read()
            if not l then break end
            lines[#lines + 1] = l
          end
        else
          for l in b:lines() do lines[#lines + 1] = l end
        end
        b:close()
      end)
      runall()
      assert.are.same({ "one", "two", "three" }, lines)
    end)

    it("receive into buffers in a task", function()
      local a, b = loop.socketpair()
      local buf = uxsock.buffer(8)
      local got
      loop.spawn(function()
        local n = assert(b:recvinto(buf, 3))
        got = buf:sub(3, 2 + n)
        b:close()
      end)
      loop.spawn(function() loop.sleep(0.02); a:send("hey"); a:close() end)
      runall()
      assert.are.equal("hey", got)
    end)

    it("serve a listener: accept gives wrapped connections", function()
      local path = helpers.sockpath("loopl")
      local l = assert(loop.listen(path))
      local replies = {}
      loop.spawn(function()
        for _ = 1, 3 do
          local c = assert(l:accept())
          assert.is_true(loop.iswrapped(c))
          loop.spawn(echo, c)
        end
        l:close()
      end)
      for i = 1, 3 do
        loop.spawn(function()
          local c = assert(loop.connect(path, { timeout = 5 }))
          assert.is_true(loop.iswrapped(c))
          assert.are.equal(5, c:gettimeout())
          c:sendall("hello " .. i)
          replies[i] = c:read(#("hello " .. i))
          c:close()
        end)
      end
      runall()
      assert.are.same({ "hello 1", "hello 2", "hello 3" }, replies)
      assert.is_nil(helpers.filetype(path))
    end)

    it("keep seqpacket message boundaries", function()
      local path = helpers.sockpath("loopq")
      local l = assert(loop.listen(path, { type = "seqpacket" }))
      local got = {}
      loop.spawn(function()
        local c = assert(l:accept())
        l:close()
        while true do
          local m, msg, code = c:recv()
          if not m then assert.are.equal(uxsock.EOF, code, msg); break end
          got[#got + 1] = m
          assert(c:send(m:upper()))
        end
        c:close()
      end)
      loop.spawn(function()
        local c = assert(loop.connect(path, { type = "seqpacket" }))
        assert.are.equal("seqpacket", uxsock.type(c.handle))
        for _, m in ipairs({ "a", "bb", "ccc" }) do
          assert(c:send(m))
          assert.are.equal(m:upper(), c:recv())
        end
        c:close()
      end)
      runall()
      assert.are.same({ "a", "bb", "ccc" }, got)
    end)

    it("exchange datagrams: recvfrom and sendto in tasks", function()
      local path = helpers.sockpath("loopd")
      local s = assert(loop.datagram(path))
      local replies = {}
      loop.spawn(function()
        for _ = 1, 6 do
          local data, from = assert(s:recvfrom())
          assert(s:sendto(data:upper(), from))
        end
        s:close()
      end)
      for i = 1, 3 do
        loop.spawn(function()
          local c = assert(loop.datagram(nil, { autobind = true }))
          for k = 1, 2 do
            assert(c:sendto("msg " .. i .. "." .. k, path))
            local data, from = assert(c:recvfrom())
            assert.are.equal(path, from)
            replies[#replies + 1] = data
          end
          c:close()
        end)
      end
      runall()
      table.sort(replies)
      assert.are.same({ "MSG 1.1", "MSG 1.2", "MSG 2.1", "MSG 2.2", "MSG 3.1", "MSG 3.2" },
                      replies)
    end)

    it("pass descriptors and credentials in tasks: recvfds and recvcred wait", function()
      local a, b = loop.socketpair("stream")
      local got = {}
      loop.spawn(function()
        local data, fds = assert(b:recvfds())  -- waits: nothing sent yet
        got.data, got.text = data, fds[1]:read("*a")
        fds[1]:close()
        local msg, cred = assert(b:recvcred())
        got.msg, got.pid = msg, cred and cred.pid
      end)
      loop.spawn(function()
        loop.sleep(0.02)
        local f = io.tmpfile()
        f:write("passed along")
        f:seek("set")
        assert(a:sendfds("file", { f }))
        f:close()
        assert(a:sendcred("who"))
      end)
      runall()
      a:close(); b:close()
      assert.same({ data = "file", text = "passed along", msg = "who", pid = helpers.pid() }, got)
    end)

    it("send and receive batches in tasks: sendmany goes on after a full queue", function()
      -- the receiver's queue holds few datagrams: sendmany sends part of
      -- the list, waits, and goes on with the rest
      local a, b = loop.socketpair("datagram")
      local msgs, got = {}, {}
      for i = 1, 500 do msgs[i] = tostring(i) end
      loop.spawn(function()
        assert.are.equal(500, assert(a:sendmany(msgs)))
      end)
      loop.spawn(function()
        while #got < 500 do
          for _, m in ipairs(assert(b:recvmany(64, 16))) do got[#got + 1] = m end
        end
      end)
      runall()
      a:close(); b:close()
      assert.are.same(msgs, got)
    end)

    it("send batches to a name, backing off while the receiver is full", function()
      local path = helpers.sockpath("loopbatch")
      local s = assert(loop.datagram(path))
      local c = assert(loop.datagram())
      local msgs, got = {}, {}
      for i = 1, 200 do msgs[i] = "m" .. i end
      loop.spawn(function() assert.are.equal(200, assert(c:sendmany(msgs, path))) end)
      loop.spawn(function()
        while #got < 200 do
          local list, senders = assert(s:recvmanyfrom(32))
          assert.are.equal(#list, #senders)
          for _, m in ipairs(list) do got[#got + 1] = m end
        end
      end)
      runall()
      s:close(); c:close()
      assert.are.same(msgs, got)
    end)

    it("return what a closing task ends: waiters get EOF, or EPIPE for sends", function()
      local a, b = loop.socketpair()
      helpers.track(a.handle)
      local path = helpers.sockpath("loopc")
      local l = assert(loop.listen(path))
      local res = {}
      loop.spawn(function() res.recv = helpers.pack(b:recv()) end)
      loop.spawn(function() res.accept = helpers.pack(l:accept()) end)
      loop.spawn(function()
        loop.sleep(0.03)
        b:close()
        l:close()
      end)
      local before = helpers.fdcount()
      runall(5)
      assert.is_nil(res.recv[1])
      assert.are.equal(uxsock.EOF, res.recv[3])
      assert.matches("closed", res.recv[2])
      assert.is_nil(res.accept[1])
      assert.are.equal(uxsock.EOF, res.accept[3])
      assert.are.equal(before - 2, helpers.fdcount())
      assert.is_nil(helpers.filetype(path))
    end)
  end)

  it("give EOF to a task woken just before another task closed its handle", function()
    local a, b = loop.socketpair()
    local res
    loop.spawn(function() res = helpers.pack(b:recv()) end)
    loop.spawn(function()
      loop.sleep(0.02)
      a:send("x")   -- the reader wakes at the end of this turn ...
      loop.sleep(0) -- ... and is queued after this task
      b:close()
    end)
    runall(5)
    assert.is_nil(res[1])
    assert.are.equal(uxsock.EOF, res[3], res[2])
    a:close()
  end)

  it("wake a waiter whose handle was closed behind the loop's back, once its number is reused",
     function()
    local a, b = loop.socketpair()
    local res = {}
    loop.spawn(function() res.stale = helpers.pack(b:recv()) end)
    loop.spawn(function()
      loop.sleep(0.02)
      local fd = b:getfd()
      b.handle:close()  -- not through the proxy: the loop cannot know
      local c, d = loop.socketpair()
      assert.are.equal(fd, c:getfd())  -- the lowest free number again
      loop.spawn(function() res.new = c:recv() end)
      loop.spawn(function() loop.sleep(0.02); d:send("new") end)
      loop.sleep(0.1)
      c:close(); d:close()
    end)
    runall(5)
    assert.are.equal(uxsock.EOF, res.stale[3], res.stale[2])
    assert.are.equal("new", res.new)
    a:close()
  end)

  describe("timeouts in tasks", function()
    it("bound recv, read and accept while the other tasks go on", function()
      local a, b = loop.socketpair()
      local l = assert(loop.listen(helpers.sockpath("loopt"), { timeout = 0.15 }))
      local res, ticks = {}, 0
      b:settimeout(0.2)
      loop.spawn(function()
        local t0 = loop.now()
        res.recv = helpers.pack(b:recv())
        res.recvtime = loop.now() - t0
        a:send("abc")  -- a line without its newline
        t0 = loop.now()
        res.read = helpers.pack(b:read("l"))
        res.readtime = loop.now() - t0
        a:send("def\nghi\n")
        res.line = b:read("l")
      end)
      loop.spawn(function()
        local t0 = loop.now()
        res.accept = helpers.pack(l:accept())
        res.accepttime = loop.now() - t0
      end)
      loop.spawn(function()
        for _ = 1, 10 do loop.sleep(0.01); ticks = ticks + 1 end
      end)
      runall(10)
      assert.are.equal(10, ticks)  -- ran while the others waited
      assert.are.equal(uxsock.ETIMEDOUT, res.recv[3], res.recv[2])
      assert.matches("timed out", res.recv[2])
      assert.is_true(res.recvtime >= 0.18 and res.recvtime < 1.5, "recv " .. res.recvtime)
      assert.are.equal(uxsock.ETIMEDOUT, res.read[3], res.read[2])
      assert.is_true(res.readtime >= 0.18 and res.readtime < 1.5, "read " .. res.readtime)
      assert.are.equal("abcdef", res.line)  -- the cut read kept its bytes
      assert.are.equal(uxsock.ETIMEDOUT, res.accept[3], res.accept[2])
      assert.is_true(res.accepttime >= 0.13 and res.accepttime < 1.5,
                     "accept " .. res.accepttime)
      for _, h in ipairs({ a, b, l }) do h:close() end
    end)

    it("keep a timeout set before wrapping; settimeout(0) gives EAGAIN at once", function()
      local raw, other = helpers.track(uxsock.socketpair())
      raw:settimeout(0.1)
      local p = loop.wrap(raw)
      local res = {}
      loop.spawn(function()
        local t0 = loop.now()
        res.first = helpers.pack(p:recv())
        res.t1 = loop.now() - t0
        p:settimeout(0)
        t0 = loop.now()
        res.second = helpers.pack(p:recv())
        res.t2 = loop.now() - t0
      end)
      runall()
      assert.are.equal(uxsock.ETIMEDOUT, res.first[3])
      assert.is_true(res.t1 >= 0.08 and res.t1 < 1, "took " .. res.t1)
      assert.are.equal(uxsock.EAGAIN, res.second[3])
      assert.is_true(res.t2 < 0.05)
      assert.is_truthy(other)
    end)

    it("sendall gives up after the timeout, telling how much went", function()
      local a, b = loop.socketpair()
      helpers.track(b.handle)
      local data = ("z"):rep(4 * 1024 * 1024)
      a:settimeout(0.2)
      local res, dt
      loop.spawn(function()
        local t0 = loop.now()
        res = helpers.pack(a:sendall(data))
        dt = loop.now() - t0
        a:close()
      end)
      runall()
      assert.is_nil(res[1])
      assert.are.equal(uxsock.ETIMEDOUT, res[3], res[2])
      assert.is_true(res[4] > 0 and res[4] < #data, "sent " .. tostring(res[4]))
      assert.is_true(dt >= 0.18 and dt < 1.5, "took " .. dt)
      assert.are.equal(res[4], #b.handle:read("a"))  -- exactly that much came
    end)

    it("connect retries a full backlog, within its timeout", function()
      local path = helpers.sockpath("loopb")
      local l = assert(loop.listen(path, { backlog = 0 }))
      local queued = {}
      for _ = 1, 64 do  -- fill the backlog
        local c, _, code = uxsock.connect(path, { timeout = 0 })
        if not c then assert.are.equal(uxsock.EAGAIN, code); break end
        queued[#queued + 1] = c
      end
      assert.is_true(#queued >= 1 and #queued < 64)
      local res = {}
      loop.spawn(function()
        local t0 = loop.now()
        res.full = helpers.pack(loop.connect(path, { timeout = 0.1 }))
        res.fulltime = loop.now() - t0
        res.now = helpers.pack(loop.connect(path, { timeout = 0 }))
        -- a server task accepts meanwhile: this one gets in
        res.later = helpers.pack(loop.connect(path, { timeout = 5 }))
      end)
      loop.spawn(function()
        loop.sleep(0.2)
        for _ = 1, #queued + 1 do assert(l:accept()):close() end
      end)
      runall()
      assert.is_nil(res.full[1])
      assert.are.equal(uxsock.ETIMEDOUT, res.full[3], res.full[2])
      assert.is_true(res.fulltime >= 0.08 and res.fulltime < 1, "took " .. res.fulltime)
      assert.are.equal(uxsock.EAGAIN, res.now[3], res.now[2])
      assert.is_true(loop.iswrapped(res.later[1]), tostring(res.later[2]))
      res.later[1]:close()
      for _, c in ipairs(queued) do c:close() end
      l:close()
    end)
  end)

  it("sends 4 MiB with sendall across a socketpair to a reader task", function()
    local parts = {}
    for i = 1, 4 * 1024 * 1024 / 16 do parts[i] = string.format("%15d\n", i) end
    local data = table.concat(parts)
    assert.are.equal(4 * 1024 * 1024, #data)
    local a, b = loop.socketpair()
    local res = {}
    loop.spawn(function()
      res.sent = a:sendall(data)
      res.range = a:sendall(data, 9, -9)  -- data:sub(9, -9)
      a:close()
    end)
    loop.spawn(function()
      local chunks, n = {}, 0
      while true do
        local d, msg, code = b:recv(100000)
        if not d then assert.are.equal(uxsock.EOF, code, msg); break end
        n = n + 1
        chunks[n] = d
      end
      res.got, res.chunks = table.concat(chunks), n
      b:close()
    end)
    runall(60)
    assert.are.equal(#data, res.sent)
    assert.are.equal(#data - 8, res.range)  -- the index of byte -9, the last sent
    assert.is_true(res.chunks > 1)
    assert.is_true(res.got == data .. data:sub(9, -9), "the bytes differ")
  end)

  describe("wait", function()
    it("waits for a pipe from io.popen in a task while the others run", function()
      local p = assert(io.popen("sleep 0.3; echo ready"))
      local res, ticks = {}, 0
      loop.spawn(function()
        local t0 = loop.now()
        res.letters = loop.wait(p, "r", 10)
        res.dt = loop.now() - t0
        res.line = p:read("*l")
        p:close()
      end)
      loop.spawn(function()
        for _ = 1, 5 do loop.sleep(0.02); ticks = ticks + 1 end
      end)
      runall()
      assert.are.equal(5, ticks)
      assert.matches("r", res.letters)
      assert.is_true(res.dt >= 0.2 and res.dt < 5, "took " .. res.dt)
      assert.are.equal("ready", res.line)
    end)

    it("waits for integer descriptors, raw and wrapped handles, with timeouts", function()
      local a, b = loop.socketpair()
      local res = {}
      loop.spawn(function()
        local t0 = loop.now()
        res.timeout = helpers.pack(loop.wait(b.handle:getfd(), "r", 0.1))
        res.dt = loop.now() - t0
        res.w = loop.wait(a, "w")
        res.rw = loop.wait(b.handle, "rw", 5)
        res.r = loop.wait(b, "r", 5)
      end)
      loop.spawn(function() loop.sleep(0.15); a:send("x") end)
      runall()
      assert.is_nil(res.timeout[1])
      assert.are.equal(uxsock.ETIMEDOUT, res.timeout[3])
      assert.is_true(res.dt >= 0.08 and res.dt < 1, "took " .. res.dt)
      assert.are.equal("w", res.w)
      assert.matches("w", res.rw)
      assert.matches("r", res.r)
      -- outside a task it is a poll
      assert.matches("r", loop.wait(b, "r", 1))
      assert.are.equal("x", b:recv())
      local _, _, code = loop.wait(b, "r", 0.05)
      assert.are.equal(uxsock.ETIMEDOUT, code)
      a:close(); b:close()
    end)

    it("finds a regular file ready at once (epoll refuses files)", function()
      local name = helpers.tmpdir() .. "/plain"
      helpers.writefile(name, "content\n")
      local f = assert(io.open(name))
      local letters
      loop.spawn(function() letters = loop.wait(f, "r", 5) end)
      runall(5)
      assert.matches("r", letters)
      f:close()
      assert.has_error(function() loop.wait(f) end)
    end)

    it("lets several tasks wait for one descriptor", function()
      local a, b = loop.socketpair()
      local woke = 0
      for _ = 1, 3 do
        loop.spawn(function() assert.matches("r", loop.wait(b, "r", 5)); woke = woke + 1 end)
      end
      loop.spawn(function() loop.sleep(0.02); a:send("!") end)
      runall()
      assert.are.equal(3, woke)
      a:close(); b:close()
    end)
  end)

  describe("errors", function()
    for _, backend in ipairs(backends()) do
      it("a wait the backend refuses fails that wait alone; run goes on (" .. backend .. ")",
         function()
        loop.backend(backend)
        local res, later = nil, false
        loop.spawn(function() res = helpers.pack(loop.wait(19999, "r", 1)) end)
        loop.spawn(function() loop.sleep(0.02); later = true end)
        runall(5)
        if backend == "poller" then   -- epoll: not open
          assert.same({ n = 3, nil, "wait: Bad file descriptor", uxsock.EBADF }, res)
        else                          -- poll(2): POLLNVAL
          assert.same({ n = 1, "e" }, res)
        end
        assert.is_true(later)
        loop.spawn(function() later = "again" end)
        runall(5)
        assert.equal("again", later)
        assert.equal(backend, loop.backend(backend))  -- nothing is left registered
      end)

      it("a Lua file closed while a task waits for it wakes the task (" .. backend .. ")",
         function()
        loop.backend(backend)
        local fifo = helpers.tmpdir() .. "/fifo"
        assert(os.execute("mkfifo " .. fifo))
        local f = assert(io.open(fifo, "r+"))  -- nothing to read: the wait waits
        local res
        loop.spawn(function() res = helpers.pack(loop.wait(f, "r", 5)) end)
        loop.spawn(function() loop.sleep(0.02); f:close() end)
        local t0 = loop.now()
        runall(10)
        assert.same({ n = 3, nil, "wait: closed", uxsock.EOF }, res)
        assert.is_true(loop.now() - t0 < 2, "took " .. (loop.now() - t0))
      end)

      it("a plain handle closed behind the loop's back wakes its waiters (" .. backend .. ")",
         function()
        loop.backend(backend)
        local a, b = uxsock.socketpair()
        local p = loop.wrap(b)
        local res = {}
        loop.spawn(function() res.wait = helpers.pack(loop.wait(b, "r", 5)) end)
        loop.spawn(function() res.recv = helpers.pack(p:recv()) end)
        loop.spawn(function() loop.sleep(0.02); b:close() end)
        local t0 = loop.now()
        runall(10)
        assert.same({ n = 3, nil, "wait: closed", uxsock.EOF }, res.wait)
        assert.equal(uxsock.EOF, res.recv[3], res.recv[2])
        assert.is_true(loop.now() - t0 < 2, "took " .. (loop.now() - t0))
        a:close()
      end)
    end

    it("an error inside the loop comes out of run, and a later run goes on with every task",
       function()
      if not (uxsock.poller and uxsock.poller()) then
        pending("needs uxsock.poller")
        return
      end
      loop.backend("poller")
      local methods = getmetatable(assert(uxsock.poller())).__index
      local wait = methods.wait
      local a, b = loop.socketpair()
      local got, slept = {}, 0
      loop.spawn(function()
        for _ = 1, 3 do got[#got + 1] = b:recv() end
      end)
      loop.spawn(function()
        for i = 1, 3 do
          loop.sleep(0.01)
          a:send(tostring(i))
          slept = slept + 1
        end
      end)
      -- the poller raises once, as if Ctrl-C came during its wait
      methods.wait = function() methods.wait = wait; error("interrupted!") end
      local ok, err = pcall(loop.run, 10)
      methods.wait = wait
      assert.is_false(ok)
      assert.matches("interrupted!", err)
      runall(10)
      assert.same({ "1", "2", "3" }, got)
      assert.equal(3, slept)
      a:close(); b:close()
    end)
  end)

  for _, backend in ipairs(backends()) do
    it("serves 200 concurrent clients, every byte echoed intact (" .. backend .. ")",
       function()
      loop.backend(backend)
      collectgarbage("collect")
      local before = helpers.fdcount()
      local path = helpers.sockpath("loop200")
      local l = assert(loop.listen(path))
      local NCLIENTS, SIZES = 200, { 1, 5000, 70000, 17, 300000, 2048 }
      local active, maxactive, served, verified = 0, 0, 0, 0
      loop.spawn(function()
        for _ = 1, NCLIENTS do
          local c = assert(l:accept())
          loop.spawn(function()
            active = active + 1
            if active > maxactive then maxactive = active end
            echo(c)
            active = active - 1
            served = served + 1
          end)
        end
        l:close()
      end)
      for i = 1, NCLIENTS do
        loop.spawn(function()
          local c = assert(loop.connect(path, { timeout = 30 }))
          local msgs = {}
          for k = 1, 4 do
            msgs[k] = payload(i, k, SIZES[(i + k) % #SIZES + 1])
          end
          loop.spawn(function()  -- the writer; this task reads
            for k = 1, #msgs do assert(c:sendall(msgs[k])) end
            assert(c:shutdown("write"))
          end)
          for k = 1, #msgs do
            local got, msg = c:read(#msgs[k])
            assert(got == msgs[k], msg or ("client " .. i .. " message " .. k .. " differs"))
          end
          local tail, _, code = c:read(1)
          assert(tail == nil and code == uxsock.EOF, "more than was sent came back")
          c:close()
          verified = verified + 1
        end)
      end
      runall(120)
      assert.are.equal(NCLIENTS, served)
      assert.are.equal(NCLIENTS, verified)
      assert.is_true(maxactive >= 100, "only " .. maxactive .. " at once")
      collectgarbage("collect")
      assert.are.equal(before, helpers.fdcount())
      assert.is_nil(helpers.filetype(path))
    end)
  end

  describe("examples/multi_echo_server.lua", function()
    local function it54(name, fn)
      if LUA54 then it(name, fn) else
        pending(name .. ": needs Lua 5.4: the examples are Lua 5.4 programs")
      end
    end

    local function server(...)
      local cmd = "env LUA_PATH=" .. helpers.q(helpers.ROOT .. "/lua/?.lua;;") .. " " ..
                  helpers.luacmd(helpers.ROOT .. "/examples/multi_echo_server.lua", ...)
      return helpers.spawn(cmd)
    end

    it54("serves 50 clients at once, then ends as asked", function()
      local path = helpers.sockpath("multi")
      local job = server(path, "50")
      assert.is_true(helpers.waitfor(path, 20), "the server did not start")
      local ok = 0
      for i = 1, 50 do
        loop.spawn(function()
          local c = assert(loop.connect(path, { timeout = 20 }))
          for k = 1, 3 do
            local line = payload(i, k, 10 + (i * k) % 3000)
            assert(c:sendall(line .. "\n"))
            assert.are.equal(line, c:read("l"))
          end
          c:close()
          ok = ok + 1
        end)
      end
      runall(60)
      assert.are.equal(50, ok)
      local out, rc = job:wait(20)
      assert.are.equal(0, rc, out)
      assert.matches("served 50 clients", out)
      assert.is_nil(helpers.filetype(path))
    end)

    it54("talks to examples/multi_echo_client.lua, which stops it with quit", function()
      local path = helpers.sockpath("multiq")
      local job = server(path)
      assert.is_true(helpers.waitfor(path, 20), "the server did not start")
      local cmd = "env LUA_PATH=" .. helpers.q(helpers.ROOT .. "/lua/?.lua;;") .. " " ..
                  helpers.luacmd(helpers.ROOT .. "/examples/multi_echo_client.lua",
                                 path, "40", "5", "quit")
      local out, how, code = helpers.run(cmd)
      assert.are.equal("exit", how)
      assert.are.equal(0, code, out)
      assert.matches("40 clients, 200 lines echoed intact", out)
      local sout, rc = job:wait(20)
      assert.are.equal(0, rc, sout)
      assert.matches("served 41 clients", sout)
      assert.is_nil(helpers.filetype(path))
    end)
  end)
end)

if LUA54 then
  assert(loadfile("spec/lua54/loop_close.lua", "t", _ENV))()
else
  describe("uxsock.loop and <close>", function()
    pending("needs Lua 5.4: <close> variables (spec/lua54/loop_close.lua)")
  end)
end
