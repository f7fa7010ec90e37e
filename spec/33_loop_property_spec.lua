-- uxsock.loop under random task programs, with errors at random points
-- (the rule in lua/uxsock/loop.lua's header): producers and consumers on
-- wrapped socket pairs, sleepers, waiters on live, idle and closed
-- descriptors, spawners, a task that closes another's handle; tasks
-- raise at random steps, and a hook raises inside the loop's own code at
-- a random instruction (as Ctrl-C does). After every error a later run
-- goes on: no task is lost (all end), none is resumed twice (every sleep
-- and wait lasts as long as it must, every byte arrives once, in order),
-- and the process holds the descriptors it held before. A failure names
-- its seed: UXSOCK_SEED=<seed> sh spec/run spec/33_loop_property_spec.lua.
-- Then: every blocking method of every kind of handle has a wrapper that
-- yields in a task.
-- luacheck: read globals jit
local h = require("helpers")
local uxsock = require("uxsock")
local loop = require("uxsock.loop")

local SEED = h.seed()
local CASES = h.cases(1000)

local generator = h.generator

-- whether this runs in the main thread (where the loop's own code runs,
-- but for what it does inside a task)
local function inmain()
  local co, main = coroutine.running()
  return co == nil or main == true
end

local INJECTED = "injected loop error"
local NOTOPEN = 19999  -- a descriptor number that is not open

-- the bytes producer i sends: their place tells them apart
local function stream(i, n)
  local unit = string.format("<%d|", i)
  return unit:rep(math.ceil(n / #unit)):sub(1, n)
end

-- One case: builds the tasks, runs the loop until none is left, and
-- returns what happened or fails with the seed, the case and why.
local function runcase(r, caseno, stats)
  local where = string.format("case %d, seed %d (UXSOCK_SEED=%d repeats it)", caseno, SEED, SEED)
  local function check(cond, fmt, ...)
    if not cond then error(where .. ": " .. string.format(fmt, ...), 0) end
  end
  local backend = r(2) == 0 and "poll" or "poller"
  if not (uxsock.poller and uxsock.poller()) then backend = "poll" end
  loop.backend(backend)
  local before = h.settled_fdset()
  local tasks = {}       -- id -> { done = "ok" | "error" }
  local handles = {}     -- every proxy, closed at the end
  local nexttask = 0

  -- a task that runs fn, records how it ended, and raises "task error
  -- #id" at its step 'errat' (its steps call t.step())
  local function task(fn, errat)
    nexttask = nexttask + 1
    local t = { id = nexttask, steps = 0 }
    tasks[t.id] = t
    function t.step()
      t.steps = t.steps + 1
      if t.steps == errat then
        t.done = "error"
        error("task error #" .. t.id, 0)
      end
      local k = r(6)
      if k == 0 then coroutine.yield()
      elseif k == 1 then loop.sleep(0)
      elseif k == 2 then
        local d, t0 = r(3) / 1000, loop.now()
        loop.sleep(d)
        check(loop.now() - t0 >= d - 0.0005, "task %d: sleep(%g) woke after %g", t.id, d,
              loop.now() - t0)
      end
    end
    loop.spawn(function()
      fn(t)
      t.done = "ok"
    end)
    return t
  end
  local function errat() return r(4) == 0 and 1 + r(8) or nil end

  -- producers and consumers
  local pairs_ = {}
  for i = 1, 1 + r(3) do
    local a, b = loop.socketpair()
    handles[#handles + 1], handles[#handles + 2] = a, b
    a:settimeout(0.3)
    b:settimeout(0.3)
    local want = stream(i, 1 + r(30000))
    pairs_[i] = { a, b }
    task(function(t)
      local at = 1
      while at <= #want do
        t.step()
        local j = math.min(#want, at + r(8000))
        if a:isclosed() then return end  -- by the closer
        local n = a:sendall(want, at, j)
        if not n then return end  -- closed by the closer, or the consumer gone
        stats.bytes = stats.bytes + (j - at + 1)
        at = j + 1
      end
      a:close()
    end, errat())
    task(function(t)
      local got = {}
      while true do
        t.step()
        if b:isclosed() then break end  -- by the closer
        local data, msg, code = b:recv(1 + r(5000))
        if not data then
          check(code == uxsock.EOF or code == uxsock.ETIMEDOUT, "recv: %s", tostring(msg))
          break
        end
        got[#got + 1] = data
        local sofar = table.concat(got)
        check(want:sub(1, #sofar) == sofar, "consumer %d: the bytes differ at or before %d",
              i, #sofar)
      end
      b:close()
    end, errat())
  end

  -- a waiter: an idle descriptor times out (not sooner), a writable one is
  -- "w", one that is not open fails or is "e", as the backend tells
  task(function(t)
    for _ = 1, 1 + r(4) do
      t.step()
      local p = pairs_[1 + r(#pairs_)][1 + r(2)]
      local k = r(3)
      if k == 0 and not p:isclosed() then
        local t0 = loop.now()
        local letters, msg, code = loop.wait(p, "r", 0.01)
        if not letters then
          check(code == uxsock.ETIMEDOUT or code == uxsock.EOF, "wait: %s", tostring(msg))
          if code == uxsock.ETIMEDOUT then
            check(loop.now() - t0 >= 0.0095, "wait(0.01) timed out after %g", loop.now() - t0)
          end
        end
      elseif k == 1 and not p:isclosed() then
        local letters, msg, code = loop.wait(p, "w", 1)
        check(letters and letters:find("w") or code == uxsock.EOF, "wait w: %s %s",
              tostring(letters), tostring(msg))
      else
        local letters, msg, code = loop.wait(NOTOPEN, "r", 1)
        if backend == "poller" then
          check(not letters and code == uxsock.EBADF, "wait on a closed fd: %s %s %s",
                tostring(letters), tostring(msg), tostring(code))
        else
          check(letters == "e", "wait on a closed fd: %s %s", tostring(letters), tostring(msg))
        end
      end
    end
  end, errat())

  -- a spawner: tasks that start later
  task(function(t)
    for _ = 1, r(4) do
      t.step()
      task(function(c) for _ = 1, r(4) do c.step() end end, errat())
    end
  end, errat())

  -- a closer: another task's handle, while it is in use
  if r(3) == 0 then
    task(function(t)
      t.step()
      loop.sleep(r(5) / 1000)
      local p = pairs_[1 + r(#pairs_)][1 + r(2)]
      p:close()
    end, errat())
  end

  -- the loop runs until no task is left, through every error
  local reported, injected, runs = {}, 0, 0
  while loop.count() > 0 do
    runs = runs + 1
    check(runs < 500, "%d runs and %d tasks left", runs, loop.count())
    local count = r(3) == 0 and 20 + r(2000) or nil
    if count then
      debug.sethook(function()
        local f = debug.getinfo(2, "S")  -- where the instruction is
        if inmain() and f and f.source:find("uxsock/loop.lua", 1, true) then
          debug.sethook()
          injected = injected + 1
          error(INJECTED, 0)
        end
      end, "", count)
    end
    local ok, a, b, c = pcall(loop.run, 5)
    debug.sethook()
    if not ok then
      local id = tostring(a):match("^task error #(%d+)")
      if id then
        check(tasks[tonumber(id)].done == "error", "task %s raised twice", id)
        check(not reported[id], "task %s's error came twice", id)
        reported[id] = true
      else
        check(a == INJECTED or tostring(a):match("^" .. where), "run raised %s", tostring(a))
        if a ~= INJECTED then error(a, 0) end
      end
    else
      check(a == true, "run gave %s %s %s with %d tasks", tostring(a), tostring(b), tostring(c),
            loop.count())
    end
  end
  -- every task ended once: its program done, or its error raised (and
  -- told by run, unless an injected error came out in its place)
  local unreported = 0
  for id, t in pairs(tasks) do
    check(t.done ~= nil, "task %d never ended (%d steps)", id, t.steps)
    if t.done == "error" and not reported[tostring(id)] then unreported = unreported + 1 end
  end
  check(unreported <= injected, "%d task errors not told, %d injected", unreported, injected)
  check(loop.run(0) == true, "a last turn")
  for _, p in ipairs(handles) do p:close() end
  local added = h.fds_added(before, h.settled_fdset())
  check(#added == 0, "descriptors left: %s", table.concat(added, ", "))
  -- nothing waits: the backend can switch
  check(pcall(loop.backend, backend), "an entry is left")
  stats.tasks = stats.tasks + nexttask
  stats.injected = stats.injected + injected
  stats.taskerrors = stats.taskerrors + (function()
    local n = 0
    for _, t in pairs(tasks) do if t.done == "error" then n = n + 1 end end
    return n
  end)()
  stats.runs = stats.runs + runs
end

describe("uxsock.loop under random task programs", function()
  lazy_teardown(h.cleanup)
  before_each(function() loop.reset() end)
  after_each(function()
    debug.sethook()
    loop.reset()
    if type(jit) == "table" then jit.on() end
  end)

  it("goes on after any error: no task lost or run twice, nothing leaked", function()
    -- LuaJIT runs hooks only in the interpreter
    if type(jit) == "table" then jit.off() end
    local r = generator(SEED)
    local stats = { tasks = 0, injected = 0, taskerrors = 0, runs = 0, bytes = 0 }
    for c = 1, CASES do runcase(r, c, stats) end
    io.stderr:write(string.format("[loop property] %d cases, seed %d: %d tasks, %d task errors, "
                                  .. "%d errors injected in the loop, %d runs, %d bytes\n",
                                  CASES, SEED, stats.tasks, stats.taskerrors, stats.injected,
                                  stats.runs, stats.bytes))
    assert.is_true(stats.injected > 0 and stats.taskerrors > 0)
  end)
end)

describe("uxsock.loop's wrappers", function()
  lazy_teardown(h.cleanup)
  after_each(function()
    h.close_tracked()
    loop.reset()
  end)

  -- The C methods of the handles, by kind, that never wait: they need no
  -- wrapper. Every other C method blocks and must have one (a new C
  -- method must be put in one list or the other).
  local NONBLOCKING = {
    close = true, isclosed = true, getfd = true, getsockname = true, getpeername = true,
    settimeout = true, gettimeout = true, getoption = true, setoption = true,
    peercred = true, shutdown = true,
    connect = true,  -- datagram: names a default receiver, at once
  }
  local BLOCKING = {
    accept = true, send = true, sendall = true, recv = true, recvinto = true, read = true,
    lines = true, recvfrom = true, sendto = true, recvfds = true, sendfds = true,
    recvcred = true, sendcred = true, recvmany = true, recvmanyfrom = true, sendmany = true,
  }

  local function handles()
    local path = h.sockpath("wrap")
    local l = h.track(assert(uxsock.listen(path)))
    local s1, s2 = h.track(assert(uxsock.socketpair("stream")))
    local q1, q2 = h.track(assert(uxsock.socketpair("seqpacket")))
    local d1, d2 = h.track(assert(uxsock.socketpair("datagram")))
    return { listener = { l }, stream = { s1, s2 }, seqpacket = { q1, q2 }, datagram = { d1, d2 } }
  end

  it("classify every C method of every kind: a new one must be put in a list", function()
    local seen = {}
    for kind, hs in pairs(handles()) do
      for name, f in pairs(getmetatable(hs[1]).__index) do
        assert.equal("function", type(f))
        assert.is_true(NONBLOCKING[name] or BLOCKING[name] or false,
                       kind .. ":" .. name .. " is a new C method: does it block? (NONBLOCKING "
                       .. "or BLOCKING here, and a wrapper in lua/uxsock/loop.lua if it does)")
        seen[name] = true
      end
    end
    for name in pairs(BLOCKING) do assert.is_true(seen[name], name .. " is no method") end
  end)

  -- each blocking method, called where it must wait, in a task: another
  -- task runs meanwhile, and then gives it what it waits for
  local function yields(name, setup)
    local ran, done = false, false
    local call, unblock = setup()
    loop.spawn(function()
      call()  -- no pcall: Lua 5.1 cannot yield across it
      done = true
    end)
    loop.spawn(function()
      ran = true
      assert.is_false(done, name .. " ended before it was given anything")
      unblock()
    end)
    assert(loop.run(10))
    assert.is_true(ran and done, name)
  end

  -- fills the socket a sends from until a send would block
  local function fill(a, kind)
    a:settimeout(0)
    local chunk = kind == "stream" and ("x"):rep(65536) or "x"
    while a.handle:send(chunk) do end
  end

  local function drain(b)
    while b.handle:recv(65536) do end
  end

  it("yield in a task whenever they would block", function()
    local n = 0
    local function pairof(kind)
      local a, b = loop.socketpair(kind)
      h.track(a.handle, b.handle)
      return a, b
    end
    local cases = {
      accept = function()
        local path = h.sockpath("yield")
        local l = loop.listen(path)
        h.track(l.handle)
        return function() assert(l:accept()):close() end,
               function() h.track(assert(uxsock.connect(path))) end
      end,
    }
    for _, name in ipairs({ "recv", "recvinto", "read", "lines", "recvfds", "recvcred" }) do
      cases[name] = function()
        local a, b = pairof("stream")
        local buf = uxsock.buffer(4)
        local calls = {
          recv = function() assert(b:recv()) end,
          recvinto = function() assert(b:recvinto(buf)) end,
          read = function() assert(b:read(1)) end,
          lines = function() assert(b:lines()()) end,
          recvfds = function() assert(b:recvfds()) end,
          recvcred = function() assert(b:recvcred()) end,
        }
        return calls[name], function() assert(a:send("x\n")) end
      end
    end
    for _, name in ipairs({ "recvmany", "recvfrom", "recvmanyfrom" }) do
      cases[name] = function()
        local a, b = pairof("datagram")
        local count = name ~= "recvfrom" and 4 or nil
        return function() assert(b[name](b, count)) end, function() assert(a:send("x")) end
      end
    end
    for _, name in ipairs({ "send", "sendall", "sendfds", "sendcred" }) do
      cases[name] = function()
        local a, b = pairof("stream")
        fill(a, "stream")
        a:settimeout(nil)
        local args = { send = { "x" }, sendall = { "x" }, sendfds = { "x", { b.handle } },
                       sendcred = { "x" } }
        return function() assert(a[name](a, h.unpack(args[name]))) end,
               function() drain(b) end
      end
    end
    cases.sendmany = function()
      local a, b = pairof("seqpacket")
      fill(a, "seqpacket")
      a:settimeout(nil)
      return function() assert(a:sendmany({ "x", "y" })) end, function() drain(b) end
    end
    cases.sendto = function()
      local path = h.sockpath("yieldto")
      local d = loop.datagram(path)
      local s = loop.datagram()
      h.track(d.handle, s.handle)
      s:settimeout(0)
      while s.handle:sendto("x", path) do end
      s:settimeout(nil)
      return function() assert(s:sendto("x", path)) end, function() drain(d) end
    end
    for name in pairs(BLOCKING) do
      assert.is_function(cases[name], name .. " has no case here")
      yields(name, cases[name])
      n = n + 1
    end
    assert.equal(16, n)
  end)
end)
