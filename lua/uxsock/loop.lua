-- uxsock.loop: a small coroutine scheduler for uxsock handles.
--
-- Tasks are coroutines written as straight-line code. A wrapped handle
-- (loop.wrap) keeps its socket non-blocking; inside a task a call that
-- would block yields to the loop, which waits for the descriptor with
-- uxsock.poller (epoll) or uxsock.poll and resumes the task when it is
-- ready. Outside any task a wrapped handle blocks as the plain one does.
-- Plain Lua 5.1 to 5.4 and LuaJIT; see doc/eventloops.md.
--
-- The rule: an error anywhere leaves the loop able to run again, with
-- every task resumed exactly once per wake-up.
--   - The truth is `tasks` and, in each task, `token`: what it waits for
--     now (a timer, a descriptor, or a turn), set by the task itself
--     before it yields. The run queue, the timer heap, the descriptors'
--     entries and the counts are indexes of it, which may hold stale or
--     duplicate items (a queued wake-up is delivered only while its token
--     is still the task's) but never lack one: a token goes into an
--     index before the task yields, and a wake-up is queued before its
--     token is marked fired, and taken off the queue after the resume.
--   - Arguments are checked before anything changes; what the system
--     refuses for one descriptor (a poller that cannot watch it) is that
--     descriptor's waiters' failure (their call returns nil, msg, code),
--     never the loop's: poller calls are made through pcall.
--   - An error inside the loop's own code (the poller failing, Ctrl-C
--     between two instructions, memory) may leave an index half
--     updated: run re-raises it and marks the loop damaged, and the next
--     run first rebuilds every index from the tasks (repair). A task's
--     own error leaves nothing half done: it needs no repair.
-- spec/33_loop_property_spec.lua checks it with random task programs and
-- errors raised at random instructions of the loop's code.
local uxsock = require("uxsock")

local coroutine, error, next, pcall, select, setmetatable, tostring, type =
  coroutine, error, next, pcall, select, setmetatable, tostring, type
local iotype, huge = io.type, math.huge
local unpack = table.unpack or unpack  -- luacheck: ignore (5.1)

local EAGAIN, ETIMEDOUT, EOF, EPIPE, EPERM, EINTR, EEXIST =
  uxsock.EAGAIN, uxsock.ETIMEDOUT, uxsock.EOF, uxsock.EPIPE, uxsock.EPERM,
  uxsock.EINTR, uxsock.EEXIST

local loop = { _VERSION = "uxsock.loop 0.1.0" }

-- {======================================================
-- The clock
-- =======================================================

--- Seconds on a monotonic clock (uxsock.monotime): timers and timeouts.
local now = uxsock.monotime
loop.now = now

-- }======================================================


-- {======================================================
-- Scheduler state
-- =======================================================

local YIELD = {}      -- what a task yields when the loop holds its wake-up
local TIMEOUT = {}    -- resumes a task whose deadline passed
local CLOSED = {}     -- resumes a task whose handle was closed
local FAILED = {}     -- [1] of what resumes a task the backend failed:
                      -- { FAILED, "what happened", code }

local tasks = {}      -- coroutine -> task, for every live task: the truth
local ntasks = 0      -- the number of tasks (an index, as all below)
local nspawned = 0    -- orders tasks, for repair
local queue, qhead, qtail = {}, 1, 0   -- wake-ups: { task, token, value }
local damaged = false                  -- an error inside the loop: repair
local heap, nheap = {}, 0              -- timers: tokens by deadline
local seq = 0                          -- orders timers of one deadline

-- descriptors tasks wait for. key: the integer fd (handles, integers) or
-- the Lua file; entry = { key, owner, r = {tokens}, w = {tokens},
-- reg = events the backend has ("r", "w", "rw" or nil), dirty }
local entries = {}
local dirty, ndirty = {}, 0
local nreg = 0                         -- entries the backend has
local files = setmetatable({}, { __mode = "k" })  -- entries of Lua files

local Proxy = {}                       -- the metatable of wrapped handles

local backend                          -- "poller" or "poll"
local poller                           -- the uxsock.poller of "poller"

-- a wake-up is in the queue before anything says it happened
local function enqueue(task, token, value)
  local t = qtail + 1
  queue[t] = { task, token, value }
  qtail = t
end

local function current()
  return tasks[coroutine.running() or 0]
end

-- the timer heap: tokens with .deadline, .seq and .slot (their index)
local function earlier(a, b)
  return a.deadline < b.deadline or (a.deadline == b.deadline and a.seq < b.seq)
end

local function heapup(i)
  local t = heap[i]
  while i > 1 do
    local p = (i - i % 2) / 2
    local pt = heap[p]
    if not earlier(t, pt) then break end
    heap[i], pt.slot = pt, i
    i = p
  end
  heap[i], t.slot = t, i
end

local function heapdown(i)
  local t = heap[i]
  while true do
    local c = 2 * i
    if c > nheap then break end
    if c < nheap and earlier(heap[c + 1], heap[c]) then c = c + 1 end
    local ct = heap[c]
    if not earlier(ct, t) then break end
    heap[i], ct.slot = ct, i
    i = c
  end
  heap[i], t.slot = t, i
end

local function addtimer(token)
  seq = seq + 1
  token.seq = seq
  nheap = nheap + 1
  heap[nheap] = token
  heapup(nheap)
end

local function deltimer(token)
  local i = token.slot
  if not i or heap[i] ~= token then return end
  token.slot = nil
  local last = heap[nheap]
  heap[nheap] = nil
  nheap = nheap - 1
  if i <= nheap then
    heap[i], last.slot = last, i
    heapup(i)
    heapdown(last.slot)
  end
end

local function markdirty(e)
  if not e.dirty then
    e.dirty = true
    ndirty = ndirty + 1
    dirty[ndirty] = e
  end
end

-- wakes the task of a token, once; what waits to wake is taken out after
local function fire(token, value)
  if not token.fired then
    token.value = value
    enqueue(token.task, token, value)
    token.fired = true
    if token.task.token == token then token.task.status = "ready" end
  end
  deltimer(token)
  if token.entry then markdirty(token.entry) end
end

local function wakeall(list, value)
  for i = 1, #list do fire(list[i], value) end
end

-- inside a task: waits for its token (in every index it needs already)
local function block(task, token)
  task.token, task.status = token, token.fired and "ready" or "waiting"
  return coroutine.yield(YIELD)
end

-- }======================================================


-- {======================================================
-- The backend: uxsock.poller (epoll) or uxsock.poll
-- =======================================================

local function pickbackend()
  if backend then return end
  if type(uxsock.poller) == "function" then
    local p = uxsock.poller()
    if p then poller, backend = p, "poller" return end
  end
  if type(uxsock.poll) ~= "function" then
    error("uxsock.loop needs uxsock.poll or uxsock.poller", 3)
  end
  backend = "poll"
end

-- lets go of the backend: the next pickbackend makes one, and flush
-- gives it every entry again
local function dropbackend()
  local p = poller
  poller, backend = nil, nil
  for _, e in pairs(entries) do
    if e.reg then
      e.reg = nil
      markdirty(e)
    end
  end
  nreg = 0
  if p then pcall(p.close, p) end
end

local function events(e)
  local r, w = #e.r > 0, #e.w > 0
  if r and w then return "rw" elseif r then return "r" elseif w then return "w" end
  return nil
end

-- the tokens of a list that still wait: a new list, set in one step
local function pruned(list)
  local new, j = {}, 0
  for i = 1, #list do
    local t = list[i]
    if not t.fired and t.task.token == t then j = j + 1; new[j] = t end
  end
  return new
end

-- a poller method through pcall: its results, or nil, the error, nil
local function ctl(method, key, ev)
  local ok, r, msg, code = pcall(method, poller, key, ev)
  if not ok then return nil, tostring(r), nil end
  return r, msg, code
end

local function unregister(e)
  if e.reg then
    if poller then ctl(poller.remove, e.key) end  -- a closed fd: nothing to do
    e.reg = nil
    nreg = nreg - 1
  end
end

-- the entry is done with: its waiters wake with 'value'
local function drop(e, value)
  wakeall(e.r, value)
  wakeall(e.w, value)
  unregister(e)
  if entries[e.key] == e then entries[e.key] = nil end
end

-- the poller watches e for 'want': true, or nil, msg, code
local function watch(e, want)
  if e.reg then
    if ctl(poller.modify, e.key, want) then return true end
    ctl(poller.remove, e.key)
  end
  local ok, msg, code = ctl(poller.add, e.key, want)
  if not ok and code == EEXIST then  -- added before an error kept e.reg from it
    ok, msg, code = ctl(poller.modify, e.key, want)
  end
  return ok, msg, code
end

-- gives the backend what the waiting tokens of an entry ask
local function sync(e)
  e.r, e.w = pruned(e.r), pruned(e.w)
  if entries[e.key] ~= e then return end  -- forgotten: the backend let go
  local want = events(e)
  if want == e.reg then
    if not want then entries[e.key] = nil end
  elseif not want then
    unregister(e)
    entries[e.key] = nil
  elseif not poller then
    if not e.reg then nreg = nreg + 1 end
    e.reg = want
  else
    local ok, msg, code = watch(e, want)
    if ok then
      if not e.reg then nreg = nreg + 1 end
      e.reg = want
    elseif code == EPERM then
      -- epoll refuses regular files, which are always ready
      unregister(e)
      wakeall(e.r, "r")
      wakeall(e.w, "w")
    else  -- its waiters' failure: "add: Bad file descriptor" -> ...
      drop(e, { FAILED, (tostring(msg):gsub("^%a+: ", "")), code })
    end
  end
end

-- syncs every entry marked dirty; one marked again meanwhile is synced
-- again (an error in between leaves the loop damaged: repair marks all)
local function flush()
  while ndirty > 0 do
    local e = dirty[ndirty]
    dirty[ndirty] = nil
    ndirty = ndirty - 1
    e.dirty = false
    sync(e)
  end
end

-- whether the entry's descriptor is a handle's that was closed
local function ownerclosed(e)
  local kind = type(e.owner) == "userdata" and uxsock.type(e.owner)
  return kind and kind:sub(1, 7) == "closed " or false
end

-- the entry of a key; 'owner' is the handle the descriptor belongs to: a
-- different handle with the same descriptor number means the first one
-- was closed behind the loop's back, so its waiters can never wake
local function entryof(key, owner)
  local e = entries[key]
  if e and owner ~= key and e.owner ~= owner and ownerclosed(e) then
    drop(e, CLOSED)
    e = nil
  end
  if not e then
    e = { key = key, owner = owner, r = {}, w = {}, dirty = false }
    entries[key] = e
    if type(key) ~= "number" then files[e] = true end
  end
  if type(e.owner) == "number" then e.owner = owner end
  return e
end

-- wakes the tasks of the ready descriptors
local function dispatch(ready)
  for key, letters in pairs(ready) do
    local e = entries[key]
    if e and letters:find("e", 1, true) and ownerclosed(e) then
      drop(e, CLOSED)  -- poll(2) on a handle closed behind the loop's back
    elseif e then
      local err = letters:find("[he]")
      if err or letters:find("r", 1, true) then wakeall(e.r, letters) end
      if err or letters:find("w", 1, true) then wakeall(e.w, letters) end
    end
  end
end

-- what closed behind the loop's back: a Lua file (which the kernel's set
-- forgets, and uxsock.poll refuses), and, where the poller let go of a
-- handle that closed (its count falls short), that handle or integer
local function sweep()
  for e in pairs(files) do
    if entries[e.key] ~= e then files[e] = nil
    elseif iotype(e.key) == "closed file" then drop(e, CLOSED) end
  end
  if poller and poller:count() < nreg then
    for _, e in pairs(entries) do
      if e.reg and not ctl(poller.modify, e.key, e.reg) then
        e.reg = nil
        nreg = nreg - 1
        drop(e, ownerclosed(e) and CLOSED or "e")  -- an integer: not open any more
      end
    end
  end
end

-- uxsock.poll over the entries; an entry it refuses is its waiters' failure
local function pollentries(timeout)
  local items, n = {}, 0
  for key, e in pairs(entries) do
    if e.reg then n = n + 1; items[n] = { key, e.reg } end
  end
  local ok, ready, msg, code = pcall(uxsock.poll, items, timeout)
  if ok then return ready, msg, code end
  for i = 1, n do
    local e = entries[items[i][1]]
    local fine, err = pcall(uxsock.poll, { items[i] }, 0)
    if not fine then drop(e, { FAILED, tostring(err), nil }) end
  end
  return {}, 0
end

-- waits up to 'timeout' seconds (nil: no limit) for descriptors
local function pollwait(timeout)
  sweep()
  flush()
  if qtail >= qhead then timeout = 0 end  -- woken meanwhile
  if nreg == 0 then
    if timeout and timeout > 0 then uxsock.poll({}, timeout) end
    return
  end
  local ready, msg, code
  if poller then
    ready, msg, code = poller:wait(timeout, nreg)
  else
    ready, msg, code = pollentries(timeout)
  end
  if not ready then
    if code == EINTR then return end
    dropbackend()  -- the next run makes another
    error("uxsock.loop: " .. tostring(msg), 0)
  end
  dispatch(ready)
end

--- The backend that waits for descriptors, "poller" (uxsock.poller, Linux
-- epoll) or "poll" (uxsock.poll); with a name, switches to it (only
-- while no task waits for a descriptor). Returns the name.
function loop.backend(name)
  if name ~= nil then
    if name ~= "poller" and name ~= "poll" then
      error("bad argument #1 to 'backend' (\"poller\" or \"poll\" expected)", 2)
    end
    if not current() then flush() end
    if next(entries) ~= nil then
      error("loop.backend: tasks are waiting for descriptors", 2)
    end
    dropbackend()
    if name == "poller" then
      pickbackend()
      if backend ~= "poller" then
        backend = nil
        error("loop.backend: uxsock.poller is not available here", 2)
      end
    else
      backend = "poll"
    end
  end
  pickbackend()
  return backend
end

-- }======================================================


-- {======================================================
-- Tasks
-- =======================================================

-- the key of an object the loop can wait for: the integer descriptor of
-- a handle, proxy or integer; a Lua file itself
local function keyof(obj)
  local t = type(obj)
  if t == "number" then return obj, obj end
  if getmetatable(obj) == Proxy then return obj.handle:getfd(), obj.handle end
  if uxsock.type(obj) then return obj:getfd(), obj end
  if iotype(obj) == "file" then return obj, obj end
  if iotype(obj) == "closed file" then
    error("bad argument #1 to 'wait' (attempt to use a closed file)", 3)
  end
  error("bad argument #1 to 'wait' (uxsock handle, Lua file or descriptor " ..
        "expected, got " .. t .. ")", 3)
end

-- inside a task: waits until the descriptor is ready for 'dir' ("r", "w"
-- or "rw") or the deadline passes; returns the letters, TIMEOUT, CLOSED
-- or a FAILED table
local function await(task, key, owner, dir, deadline)
  local e = entryof(key, owner)
  local token = { task = task, entry = e, dir = dir, deadline = deadline }
  task.token = token
  if dir ~= "w" then e.r[#e.r + 1] = token end
  if dir ~= "r" then e.w[#e.w + 1] = token end
  markdirty(e)
  if deadline then addtimer(token) end
  return block(task, token)
end

-- the loop lets go of a descriptor that is about to close: its waiters
-- wake with CLOSED
local function forget(key)
  local e = entries[key]
  if e then drop(e, CLOSED) end
end

local Task = {}
Task.__index = Task
function Task.__tostring(t) return "uxsock.loop task (" .. t.status .. ")" end

--- Starts fn(...) as a task on the loop's next turn. Returns the task, a
-- table whose field status is "ready", "running", "waiting" or "dead".
function loop.spawn(fn, ...)
  if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
    error("bad argument #1 to 'spawn' (function expected, got " .. type(fn) .. ")", 2)
  end
  local args, n = { ... }, select("#", ...)
  nspawned = nspawned + 1
  local task = setmetatable({ status = "ready", id = nspawned }, Task)
  task.co = coroutine.create(function () return fn(unpack(args, 1, n)) end)
  local token = { task = task, fired = true }
  task.token = token
  enqueue(task, token)
  tasks[task.co] = task
  ntasks = ntasks + 1
  return task
end

--- The number of tasks that have not ended.
function loop.count() return ntasks end

--- The task that is running, or nil outside any task.
function loop.running() return current() end

local function finished(task)
  task.status = "dead"
  tasks[task.co] = nil
  ntasks = ntasks - 1
end

-- delivers a wake-up: resumes its task if the token is still the one it
-- waits for; returns nil, or the error (with its traceback) it raised
local function resume(item)
  local task, token = item[1], item[2]
  if task.token ~= token or task.status == "dead" then return nil end
  task.status = "running"
  local ok, res = coroutine.resume(task.co, item[3])
  if coroutine.status(task.co) == "dead" then
    finished(task)
    if not ok then
      local err = res
      if type(res) == "string" then err = debug.traceback(task.co, res) end
      -- Lua 5.4 closes the task's <close> variables only when asked
      if coroutine.close then coroutine.close(task.co) end
      return err == nil and "task raised nil" or err
    end
  elseif res ~= YIELD then
    -- a plain coroutine.yield(): the task gives way and goes on next turn
    local t = { task = task, fired = true }
    enqueue(task, t)
    task.token, task.status = t, "ready"
  end
  return nil
end

-- Rebuilds every index from the tasks (see the rule at the top). A task
-- whose coroutine ended meanwhile is done; one that waits for a token
-- not fired is put back in its timer and entry; the others are queued.
local function repair()
  local list = {}
  for co, task in pairs(tasks) do
    if coroutine.status(co) == "dead" then
      tasks[co] = nil
      task.status = "dead"
    else
      list[#list + 1] = task
    end
  end
  table.sort(list, function(a, b) return a.id < b.id end)
  queue, qhead, qtail = {}, 1, 0
  heap, nheap = {}, 0
  dirty, ndirty = {}, 0
  nreg = 0
  for key, e in pairs(entries) do
    e.r, e.w, e.dirty = {}, {}, false
    -- the backend may have let go of it while e.reg was not told
    if e.reg and poller and not ctl(poller.modify, key, e.reg) then e.reg = nil end
    if e.reg then nreg = nreg + 1 end
    if e.key ~= key then entries[key] = nil end
  end
  for _, task in ipairs(list) do
    local t = task.token
    if not t.fired then
      task.status = "waiting"
      if t.deadline then t.slot = nil; addtimer(t) end
      local e = t.entry
      if e then
        if entries[e.key] == nil then entries[e.key] = e end
        if entries[e.key] == e then
          if t.dir ~= "w" then e.r[#e.r + 1] = t end
          if t.dir ~= "r" then e.w[#e.w + 1] = t end
        else  -- its entry was replaced: as if closed
          fire(t, CLOSED)
        end
      end
    else
      task.status = "ready"
      enqueue(task, t, t.value)
    end
  end
  for _, e in pairs(entries) do markdirty(e) end
  ntasks = #list
  damaged = false
end

-- what turns returns, with its message, for an error that leaves
-- nothing half done: a task's, or tasks waiting for nothing
local TASKERROR = {}

-- the turns of loop.run: resumes the queued tasks, waits for descriptors
-- and timers
local function turns(stop)
  while true do
    -- the wake-ups queued before this turn; those they cause go next turn
    local tail = qtail
    while qhead <= tail do
      local item = queue[qhead]
      local err = item and resume(item)
      queue[qhead] = nil
      qhead = qhead + 1
      if err ~= nil then return TASKERROR, err end
    end
    if qhead > qtail then qhead, qtail = 1, 0 end
    if ntasks == 0 then
      flush()  -- the backend lets go of what the last tasks waited for
      return true
    end
    -- how long to wait: not at all while tasks are queued
    local wait, t = nil, nil
    if qtail >= qhead then wait = 0 end
    if nheap > 0 and not wait then
      t = now()
      wait = heap[1].deadline - t
      if wait < 0 then wait = 0 end
    end
    local last = false  -- out of time: this turn polls without waiting
    if stop then
      t = t or now()
      local left = stop - t
      if left <= 0 then left, last = 0, true end
      if not wait or left < wait then wait = left end
    end
    if not wait then
      sweep()
      flush()
      if nreg == 0 and qtail < qhead then
        return TASKERROR, "loop.run: " .. ntasks .. " tasks wait for nothing"
      end
    end
    pollwait(wait)
    -- the timers that are due
    if nheap > 0 then
      t = now()
      while nheap > 0 and heap[1].deadline <= t do
        fire(heap[1], TIMEOUT)
      end
    end
    if last then
      return nil, "loop.run: timeout with " .. ntasks .. " tasks left", ETIMEDOUT
    end
  end
end

-- all of run in its pcall: an error anywhere marks the loop damaged
local function runturns(stop)
  if damaged then repair() end
  pickbackend()
  return turns(stop)
end

--- Runs the tasks until none is left, or until `timeout` seconds pass.
-- Returns true; on timeout nil, msg, ETIMEDOUT (the tasks are kept, and
-- a later run goes on with them). run(0) is one turn: the queued tasks
-- run, and the ready descriptors and due timers wake theirs for the next.
-- An error a task raises ends run with that error and the task's
-- traceback, as does an error inside the loop (the poller failing,
-- Ctrl-C); the other tasks are kept, and a later run goes on with them.
function loop.run(timeout)
  if current() then error("loop.run: the loop is already running", 2) end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout < 0 or
                         timeout ~= timeout) then
    error("bad argument #1 to 'run' (non-negative number expected)", 2)
  end
  local ok, a, b, c = pcall(runturns, timeout and timeout < huge and now() + timeout)
  if not ok then
    damaged = true
    error(a, 0)
  end
  if a == TASKERROR then error(b, 0) end
  return a, b, c
end

--- Forgets every task, timer and wait (for tests, or after an error the
-- program does not go on from). Handles stay open.
function loop.reset()
  if current() then error("loop.reset: the loop is running", 2) end
  for _, task in pairs(tasks) do task.status = "dead" end
  for _, e in pairs(entries) do unregister(e) end
  tasks, ntasks = {}, 0
  queue, qhead, qtail = {}, 1, 0
  heap, nheap = {}, 0
  entries, dirty, ndirty, nreg = {}, {}, 0, 0
  files = setmetatable({}, { __mode = "k" })
  damaged = false
end

--- Waits `seconds`: in a task the others run meanwhile (0 gives way for
-- one turn); outside a task the process sleeps.
function loop.sleep(seconds)
  if type(seconds) ~= "number" or seconds < 0 or seconds ~= seconds then
    error("bad argument #1 to 'sleep' (non-negative number expected)", 2)
  end
  local task = current()
  if not task then
    if seconds > 0 then uxsock.poll({}, seconds) end
    return true
  end
  local token = { task = task }
  task.token = token
  if seconds == 0 then
    fire(token)
  else
    token.deadline = now() + seconds
    addtimer(token)
  end
  block(task, token)
  return true
end

-- what a wait in a task gave, as a wait's results
local function waitresult(res, what)
  if res == TIMEOUT then return nil, what .. ": timed out", ETIMEDOUT end
  if res == CLOSED then return nil, what .. ": closed", EOF end
  if type(res) == "table" and res[1] == FAILED then
    return nil, what .. ": " .. res[2], res[3]
  end
  return res
end

--- Waits until `obj` (a uxsock handle, a wrapped one, a Lua file or an
-- integer descriptor) is ready for `events` ("r", "w" or "rw"; default
-- "r"), at most `timeout` seconds. Returns the ready letters as
-- uxsock.poll gives them ("r", "w", "h" hung up, "e" error); on timeout
-- nil, msg, ETIMEDOUT; when the loop cannot watch it (a descriptor that
-- is not open), nil, msg, code.
function loop.wait(obj, ev, timeout)
  ev = ev or "r"
  if ev ~= "r" and ev ~= "w" and ev ~= "rw" then
    error("bad argument #2 to 'wait' (\"r\", \"w\" or \"rw\" expected)", 2)
  end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout < 0 or timeout ~= timeout) then
    error("bad argument #3 to 'wait' (non-negative number expected)", 2)
  end
  if timeout == huge then timeout = nil end
  local key, owner = keyof(obj)
  local task = current()
  if not task then
    local ready, msg, code = uxsock.poll({ { obj, ev } }, timeout)
    if not ready then return nil, msg, code end
    local letters = ready[obj]
    if letters then return letters end
    return nil, "wait: timed out", ETIMEDOUT
  end
  return waitresult(await(task, key, owner, ev, timeout and now() + timeout), "wait")
end

-- }======================================================


-- {======================================================
-- Wrapped handles
-- =======================================================

local methods = {}    -- what proxies do themselves
local forwarders = {} -- method name -> function calling the handle's

-- "recv /x.sock: Resource temporarily unavailable" -> "... timed out"
local function timedout(msg)
  local head = tostring(msg):match("^(.*): ")
  return (head or "call") .. ": Connection timed out"
end

local function closedmsg(msg)
  local head = tostring(msg):match("^(.*): ")
  return (head or "call") .. ": closed while waiting"
end

-- a FAILED wait, as the call's message: "recv /x.sock: Bad file descriptor"
local function failedmsg(res, msg)
  local head = tostring(msg):match("^(.*): ")
  return (head or "call") .. ": " .. res[2]
end

local function isfailed(res)
  return type(res) == "table" and res[1] == FAILED
end

-- outside a task: the call blocks for the proxy's timeout, as a plain
-- handle's would; the handle is left non-blocking whatever happens
local function restore(h, ok, ...)
  h:settimeout(0)
  if not ok then error((...), 0) end
  return ...
end

local function blocking(self, method, x, y, z)
  local h = self.handle
  if self.timeout == 0 then return h[method](h, x, y, z) end
  h:settimeout(self.timeout or nil)
  return restore(h, pcall(h[method], h, x, y, z))
end

-- inside a task: a result that would block waits for the descriptor and
-- tries again, within the proxy's timeout for the whole call
-- dir is "r", "w", or "W" for a send to a name (sendto, or a send with
-- its 'to'). A result that moved something (a fourth result > 0: a
-- partial sendmany) goes back to the caller, which goes on from there.
local function finish(self, task, method, dir, deadline, x, y, z, a, ...)
  if a ~= nil or select(2, ...) ~= EAGAIN or self.timeout == 0
     or (select(3, ...) or 0) > 0 then
    return a, ...
  end
  if not deadline and self.timeout then deadline = now() + self.timeout end
  local h, res = self.handle, nil
  if dir == "W" then
    -- Linux calls an unconnected datagram socket writable while the
    -- receiver's queue is full: back off instead of waiting for "w"
    self.backoff = (self.backoff or 0.0005) * 2  -- 1 ms, 2 ms, ... 50 ms
    if self.backoff > 0.05 then self.backoff = 0.05 end
    local pause = self.backoff
    if deadline and deadline - now() < pause then pause = deadline - now() end
    if pause > 0 then
      local token = { task = task, deadline = now() + pause }
      task.token = token
      addtimer(token)
      block(task, token)
    end
    if h:isclosed() then res = CLOSED
    elseif deadline and now() >= deadline then res = TIMEOUT end
  else
    res = await(task, self.fd, h, dir, deadline)
    -- closed by a task that ran after this one was woken
    if h:isclosed() then res = CLOSED end
  end
  if res == TIMEOUT then return nil, timedout(...), ETIMEDOUT end
  if res == CLOSED then
    return nil, closedmsg(...), dir == "r" and EOF or EPIPE
  end
  if isfailed(res) then return nil, failedmsg(res, ...), res[3] end
  return finish(self, task, method, dir, deadline, x, y, z, h[method](h, x, y, z))
end

local function call(self, method, dir, x, y, z, deadline)
  local task = current()
  if not task then return blocking(self, method, x, y, z) end
  local h = self.handle
  return finish(self, task, method, dir, deadline, x, y, z, h[method](h, x, y, z))
end

local wrap

function methods.send(self, data, i, j) return call(self, "send", "w", data, i, j) end
function methods.recv(self, max) return call(self, "recv", "r", max) end
function methods.recvinto(self, buf, i, j) return call(self, "recvinto", "r", buf, i, j) end
function methods.read(self, fmt) return call(self, "read", "r", fmt) end
function methods.recvfrom(self, max) return call(self, "recvfrom", "r", max) end

function methods.recvfds(self, max, maxfds) return call(self, "recvfds", "r", max, maxfds) end
function methods.recvcred(self, max) return call(self, "recvcred", "r", max) end
function methods.recvmany(self, n, max) return call(self, "recvmany", "r", n, max) end
function methods.recvmanyfrom(self, n, max) return call(self, "recvmanyfrom", "r", n, max) end

-- a send that may name its receiver: "W" backs off (see finish)
local function sendby(self, method, to, x, y, z)
  local r, msg, code, more = call(self, method, to ~= nil and "W" or "w", x, y, z)
  if r then self.backoff = false end
  return r, msg, code, more
end

function methods.sendto(self, data, path) return sendby(self, "sendto", path, data, path) end
function methods.sendcred(self, data, to) return sendby(self, "sendcred", to, data, to) end
function methods.sendfds(self, data, fds, to)
  return sendby(self, "sendfds", to, data, fds, to)
end

-- sendmany goes on after a partial batch with the messages left, within
-- one deadline for the whole list
function methods.sendmany(self, msgs, to)
  if not current() or self.timeout == 0 then return blocking(self, "sendmany", msgs, to) end
  local deadline, total, rest = self.timeout and now() + self.timeout, 0, msgs
  while true do
    local n, msg, code, sent = call(self, "sendmany", to ~= nil and "W" or "w", rest, to,
                                    nil, deadline)
    if n then self.backoff = false return total + n end
    total = total + (sent or 0)
    if code ~= EAGAIN or (sent or 0) == 0 then return nil, msg, code, total end
    rest = { unpack(rest, sent + 1) }
  end
end

local function wrapped(c, ...)
  if c == nil then return c, ... end
  return wrap(c)
end

function methods.accept(self)
  return wrapped(call(self, "accept", "r"))
end

function methods.sendall(self, data, i, j)
  local task = current()
  if not task or self.timeout == 0 then return blocking(self, "sendall", data, i, j) end
  local h = self.handle
  -- sendall reports the index of the last byte sent: go on after it
  local n, msg, code, last = h:sendall(data, i, j)
  if n or code ~= EAGAIN then return n, msg, code, last end
  local deadline = self.timeout and now() + self.timeout
  while true do
    local res = await(task, self.fd, h, "w", deadline)
    if h:isclosed() then res = CLOSED end
    if res == TIMEOUT then return nil, timedout(msg), ETIMEDOUT, last end
    if res == CLOSED then return nil, closedmsg(msg), EPIPE, last end
    if isfailed(res) then return nil, failedmsg(res, msg), res[3], last end
    n, msg, code, last = h:sendall(data, last + 1, j)
    if n or code ~= EAGAIN then return n, msg, code, last end
  end
end

function methods.lines(self, fmt)
  self.handle:lines(fmt)  -- checks the kind and the format
  return function ()
    local line, msg, code = self:read(fmt)
    if line ~= nil then return line end
    if code == EOF then return nil end
    error(msg, 2)
  end
end

function methods.settimeout(self, t)
  local h = self.handle
  h:settimeout(t)  -- checks t as uxsock does
  h:settimeout(0)
  self.timeout = t ~= huge and t or false
  return true
end

function methods.gettimeout(self)
  self.handle:gettimeout()  -- raises for a closed handle
  return self.timeout or nil
end

function methods.close(self)
  local h = self.handle
  if not h:isclosed() then forget(self.fd) end
  return h:close()
end

for _, name in ipairs({ "getfd", "getsockname", "getpeername", "peercred",
                        "shutdown", "connect" }) do
  methods[name] = function (self, ...) local h = self.handle return h[name](h, ...) end
end

function Proxy.__index(self, k)
  local m = methods[k]
  if m then return m end
  m = forwarders[k]
  if m then return m end
  local h = rawget(self, "handle")
  if type(h[k]) ~= "function" then return nil end
  m = function (p, ...) local hh = p.handle return hh[k](hh, ...) end
  forwarders[k] = m
  return m
end

function Proxy.__tostring(self)
  return "uxsock.loop: " .. tostring(self.handle)
end

function Proxy.__close(self)
  self:close()
end

-- uxsock.poll and the poller's add, modify and remove take a value whose
-- metatable has __uxsock_handle as the handle it returns
function Proxy.__uxsock_handle(self)
  return rawget(self, "handle")
end

--- A loop-aware proxy of a uxsock handle (a proxy comes back as it is).
-- The handle becomes non-blocking; the proxy keeps its timeout.
function wrap(h)
  if getmetatable(h) == Proxy then return h end
  local kind = uxsock.type(h)
  if not kind then
    error("bad argument #1 to 'wrap' (uxsock handle expected, got " .. type(h) .. ")", 2)
  end
  if kind:match("^closed") then
    error("bad argument #1 to 'wrap' (attempt to use a " .. kind .. ")", 2)
  end
  local t = h:gettimeout()
  h:settimeout(0)
  -- every field is set: a missing one would be looked up in the handle
  return setmetatable({ handle = h, fd = h:getfd(), timeout = t or false,
                        backoff = false }, Proxy)
end
loop.wrap = wrap

--- The handle of a proxy (any other value comes back as it is), with
-- the proxy's timeout given back to it: it blocks again as before wrap.
function loop.unwrap(p)
  if getmetatable(p) ~= Proxy then return p end
  local h = p.handle
  if not h:isclosed() then
    h:settimeout(p.timeout or nil)
  end
  return h
end

--- Whether x is a proxy made by loop.wrap.
function loop.iswrapped(x) return getmetatable(x) == Proxy end

-- }======================================================


-- {======================================================
-- Constructors
-- =======================================================

local function wrapresult(h, ...)
  if h == nil then return h, ... end
  return wrap(h)
end

--- uxsock.listen, wrapped.
function loop.listen(path, opts)
  return wrapresult(uxsock.listen(path, opts))
end

--- uxsock.datagram, wrapped.
function loop.datagram(path, opts)
  return wrapresult(uxsock.datagram(path, opts))
end

--- uxsock.socketpair, both wrapped.
function loop.socketpair(kind)
  local a, b, c = uxsock.socketpair(kind)
  if not a then return a, b, c end
  return wrap(a), wrap(b)
end

--- uxsock.connect, wrapped. In a task, a full backlog (EAGAIN: a Unix
-- socket connects at once or not at all) is retried after short sleeps,
-- within opts.timeout.
function loop.connect(path, opts)
  local task = current()
  if not task then return wrapresult(uxsock.connect(path, opts)) end
  local o, t = {}, nil
  if opts ~= nil then
    if type(opts) ~= "table" then
      return wrapresult(uxsock.connect(path, opts))  -- raises as uxsock does
    end
    for k, v in pairs(opts) do o[k] = v end
    t = opts.timeout
  end
  if t == huge then t = nil end
  o.timeout = 0
  local deadline = t and now() + t
  local pause = 0.001
  while true do
    local h, msg, code = uxsock.connect(path, o)
    if h then
      local p = wrap(h)
      p.timeout = t or false
      return p
    end
    if code ~= EAGAIN or t == 0 then return nil, msg, code end
    local left = deadline and deadline - now()
    if left and left <= 0 then return nil, timedout(msg), ETIMEDOUT end
    loop.sleep(left and left < pause and left or pause)
    pause = pause < 0.025 and pause * 2 or 0.05
  end
end

-- }======================================================

return loop
