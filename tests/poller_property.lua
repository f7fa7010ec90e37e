-- tests/poller_property.lua: random programs against uxsock.poller, the
-- property test of spec/32_poller_property_spec.lua.
--
--   env LD_PRELOAD=build/forkenv.so lua5.4 tests/poller_property.lua \
--       SEED CASES [STEPS [FORKS]]
--
-- Each case is STEPS (default 30) random steps on a few pollers and the
-- objects they watch: socket pairs of every kind, FIFO readers (Lua
-- files), uxsock.loop proxies and integer descriptors; add, modify,
-- remove, close (a handle by close, a proxy's close or __gc called by
-- hand; a Lua file behind the pollers' back), sendfds (a copy in flight),
-- recvfds (a second handle or file on the same open file), fork (a child
-- holding a copy of every descriptor, using or closing its copies of the
-- pollers and handles, then ending by os.exit with or without closing
-- its state), pollers made, closed and collected, getfd, data sent and
-- drained. A readiness model is kept: what each poller holds, which Lua
-- files were closed while added. After every step, for every poller:
--   - wait reports exactly the ready objects it holds, as uxsock.poll
--     on the same objects and events (the oracle) reports them, the
--     very objects added, with the same letters;
--   - count is the number of live registrations, plus at most the Lua
--     files closed while added (uxsock cannot see those close);
--   - getfd, once made, is readable exactly when wait has something;
--   - add, modify and remove give what the model says (EEXIST, ENOENT).
-- At random, a timed wait (nothing ready: it lasts its timeout, using a
-- small part of it in processor time; something ready: at once, also with
-- no timeout). At the end of each case everything is closed, every child
-- reaped ("exit 0"), and the process holds exactly the descriptors it
-- held before. Exit 0 and a summary line; exit 1 naming the case, the
-- step, the seed and the last steps.
local root = arg[0]:match("^(.*)/tests/[^/]*$") or "."
package.path = root .. "/lua/?.lua;" .. package.path

local uxsock = require("uxsock")
local loop = require("uxsock.loop")
local lfs = require("lfs")

local SEED = assert(tonumber(arg[1]), "seed")
local CASES = assert(tonumber(arg[2]), "cases")
local STEPS = tonumber(arg[3]) or 30
-- the share of fork steps that fork (1): a forked child of a sanitized
-- process is slow to end (LeakSanitizer scans its copy of the heap)
local FORKS = tonumber(arg[4]) or 1
local CAN_CLOSE_STATE = _VERSION ~= "Lua 5.1"  -- os.exit(code, true)
-- build/forkenv.so answers a wait for no child (a process group that
-- does not exist); without it, os.getenv gives nil
local forkable = os.getenv("UXSOCK_WAIT=-2147483647") ~= nil

-- r(n): 0 to n-1, the same on every Lua (Park and Miller)
local x = SEED % 2147483646 + 1
local function r(n)
  x = x * 16807 % 2147483647
  return math.floor(x * n / 2147483647)
end
local function pick(t) return t[r(#t) + 1] end

local stats = { steps = 0, waits = 0, timed = 0, ready = 0, forks = 0,
                dropped = 0, closes = 0, copies = 0, idle_wall = 0, idle_cpu = 0,
                maxcpu = 0 }
local log = {}        -- the steps of this case, for a failure
local case_no, step_no = 0, 0

local function fail(fmt, ...)
  local msg = string.format(fmt, ...)
  io.stdout:write(string.format("FAIL case %d step %d, seed %d (UXSOCK_SEED=%d repeats it): %s\n",
                                case_no, step_no, SEED, SEED, msg))
  for i = math.max(1, #log - 40), #log do io.stdout:write("  ", log[i], "\n") end
  io.stdout:flush()
  os.exit(1)
end

local function check(cond, fmt, ...)
  if not cond then fail(fmt, ...) end
end

local function fdset()
  local set, n = {}, 0
  for e in lfs.dir("/proc/self/fd") do
    local a = e:match("^%d+$") and lfs.symlinkattributes("/proc/self/fd/" .. e)
    if a and not a.target:match("^/proc/%d+/fd$") then
      set[e .. " " .. a.target] = true
      n = n + 1
    end
  end
  return set, n
end

local dir = os.tmpname()
os.remove(dir)
assert(lfs.mkdir(dir))
local nfifo = 0

-- {======================================================
-- The world: objects, their values, the pollers' model
-- =======================================================

local bases       -- open handles and FIFO readers: { obj=, kind=, fd=, fifo= }
local everything  -- every value that stood for a base, for remove
local seen        -- the values in everything
local proxies     -- handle -> its proxy
local fifos       -- { writer=, pending= }
local pollers     -- slot -> { p=, live = {[fd] = {val, ev}}, zombies = {[fd] = val},
                  --           known = {[val] = fd}, pub = fd or nil }
local children    -- { pid=, lp= }
local q1, q2      -- the socketpair that holds descriptors in flight
local inflight    -- what is in flight, in order: the FIFO of a reader, or false

local function note(fmt, ...)
  log[#log + 1] = string.format("%d: " .. fmt, step_no, ...)
end

local function show(v)
  if type(v) == "number" then return "fd " .. v end
  if loop.iswrapped(v) then return "proxy(" .. tostring(v.handle) .. ")" end
  return tostring(v)
end

-- a handle, or a Lua file whose descriptor is fd
local function addbase(obj, kind, fifo, fd)
  local b = { obj = obj, kind = kind, fifo = fifo, fd = fd }
  if kind ~= "file" then
    obj:settimeout(0)
    b.fd = obj:getfd()
  end
  bases[#bases + 1] = b
  return b
end

-- the descriptor numbers of this process (lfs.dir's own left out)
local function fdnums()
  local set = {}
  for k in pairs(fdset()) do set[tonumber(k:match("^%d+"))] = true end
  return set
end

-- f() and the one descriptor it opened (a Lua file has no getfd)
local function opened(f)
  local old = fdnums()
  local v = f()
  local fd
  for n in pairs(fdnums()) do
    if not old[n] then
      check(fd == nil, "more than one descriptor opened")
      fd = n
    end
  end
  return v, fd
end

local function newpair()
  local kind = pick({ "stream", "datagram", "seqpacket" })
  local a, b = assert(uxsock.socketpair(kind))
  addbase(a, kind)
  addbase(b, kind)
  note("pair %s fds %d %d", kind, a:getfd(), b:getfd())
end

local function newfifo()
  nfifo = nfifo + 1
  local path = dir .. "/f" .. nfifo
  os.execute("mkfifo " .. path)
  check(lfs.attributes(path, "mode") == "named pipe", "mkfifo %s", path)
  local reader, fd = opened(function() return assert(io.open(path, "r+")) end)  -- O_RDWR: at once
  local writer = assert(io.open(path, "w"))
  writer:setvbuf("no")
  os.remove(path)
  local fifo = { writer = writer, pending = 0 }
  fifos[#fifos + 1] = fifo
  addbase(reader, "file", fifo, fd)
  note("fifo reader fd %d", fd)
end

-- the values that stand for an open base: itself, a proxy, its integer
local function valueof(b)
  if b.kind == "file" then return b.obj end
  local k = r(4)
  if k == 0 then
    proxies[b.obj] = proxies[b.obj] or loop.wrap(b.obj)
    return proxies[b.obj]
  elseif k == 1 then
    return b.fd
  end
  return b.obj
end

local function ev() return pick({ "r", "w", "rw" }) end

local function removebase(b)
  for i, c in ipairs(bases) do
    if c == b then table.remove(bases, i) return end
  end
end

-- what closing base b does to the model: a handle is out of every poller
-- at once; a Lua file becomes a zombie where it was added
local function closed(b)
  for _, P in pairs(pollers) do
    if b.kind == "file" then
      local e = P.live[b.fd]
      if e then
        P.live[b.fd] = nil
        P.zombies[b.fd] = e[1]
      end
    else
      P.live[b.fd] = nil
      P.zombies[b.fd] = nil
    end
  end
  removebase(b)
  stats.closes = stats.closes + 1
end

local function newpoller(slot)
  pollers[slot] = { p = assert(uxsock.poller()), live = {}, zombies = {}, known = {} }
  note("poller %d: %s", slot, tostring(pollers[slot].p))
end

-- }======================================================


-- {======================================================
-- The invariants
-- =======================================================

local function size(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

local function describe(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = show(k) .. "=" .. v end
  table.sort(parts)
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- what uxsock.poll says of P's live registrations
local function oracle(P)
  local items = {}
  for _, e in pairs(P.live) do items[#items + 1] = { e[1], e[2] } end
  local ready = assert(uxsock.poll(items, 0))
  return ready
end

local function same(want, got)
  for k, v in pairs(want) do
    if got[k] ~= v then return false end
  end
  for k in pairs(got) do
    if want[k] == nil then return false end
  end
  return true
end

local function checkpoller(slot, timed)
  local P = pollers[slot]
  local p = P.p
  local live, zombies = size(P.live), size(P.zombies)
  local count = p:count()
  check(count >= live and count <= live + zombies,
        "poller %d: count %d, %d live and %d Lua files closed while added", slot, count,
        live, zombies)
  local want = oracle(P)
  local ready, n, code
  local wall, cpu
  if timed then
    local t = (1 + r(4)) / 200
    local nowait = next(want) ~= nil and r(3) == 0
    local c0, t0 = os.clock(), uxsock.monotime()
    if nowait then ready, n, code = p:wait() else ready, n, code = p:wait(t) end
    cpu, wall = os.clock() - c0, uxsock.monotime() - t0
    stats.timed = stats.timed + 1
    if next(want) == nil then
      check(wall >= t * 0.8, "poller %d: wait(%.2f) ended after %.3f s", slot, t, wall)
      check(wall < t + 2, "poller %d: wait(%.2f) took %.3f s", slot, t, wall)
      stats.idle_wall = stats.idle_wall + wall
      stats.idle_cpu = stats.idle_cpu + cpu
      if cpu / t > stats.maxcpu then stats.maxcpu = cpu / t end
    else
      check(wall < 2, "poller %d: a wait with %s ready took %.3f s", slot, describe(want), wall)
    end
  else
    ready, n, code = p:wait(0)
  end
  stats.waits = stats.waits + 1
  check(ready, "poller %d: wait failed: %s %s", slot, tostring(n), tostring(code))
  check(same(want, ready), "poller %d: wait gave %s, poll says %s", slot, describe(ready),
        describe(want))
  check(n == size(want), "poller %d: wait counted %d of %s", slot, n, describe(want))
  if next(want) then stats.ready = stats.ready + 1 end
  local after = p:count()
  if after < count then stats.dropped = stats.dropped + count - after end
  if P.pub then
    local pub = (uxsock.poll({ P.pub }, 0))[P.pub]
    check((pub ~= nil) == (next(want) ~= nil), "poller %d: getfd %s while wait has %s", slot,
          pub and "readable" or "idle", describe(want))
  end
end

local function checkall(timedslot)
  for slot in pairs(pollers) do checkpoller(slot, slot == timedslot) end
end

-- }======================================================


-- {======================================================
-- The steps
-- =======================================================

local function anypoller()
  local slots = {}
  for slot in pairs(pollers) do slots[#slots + 1] = slot end
  table.sort(slots)
  if #slots == 0 then return nil end
  local slot = pick(slots)
  return slot, pollers[slot]
end

local function expect(what, ok, msg, code, want)
  if want == true then
    check(ok == true, "%s: %s %s", what, tostring(msg), tostring(code))
  elseif type(want) == "table" then  -- one of several outcomes
    local fine = false
    for _, w in ipairs(want) do
      if (w == true and ok == true) or (w ~= true and ok == nil and code == w) then fine = true end
    end
    check(fine, "%s: %s %s %s", what, tostring(ok), tostring(msg), tostring(code))
  else
    check(ok == nil and code == want, "%s: %s %s %s, want code %s", what, tostring(ok),
          tostring(msg), tostring(code), tostring(want))
  end
end

local step = {}

function step.add()
  local slot, P = anypoller()
  if not slot or #bases == 0 then return end
  local b = pick(bases)
  local val, e = valueof(b), ev()
  local ok, msg, code = P.p:add(val, e)
  note("add %d %s %s -> %s", slot, show(val), e, tostring(ok or code))
  if P.live[b.fd] then
    expect("add", ok, msg, code, uxsock.EEXIST)
  else
    expect("add", ok, msg, code, true)
    P.live[b.fd] = { val, e }
    P.zombies[b.fd] = nil
    if type(val) ~= "number" then P.known[val] = b.fd end
  end
end

function step.modify()
  local slot, P = anypoller()
  if not slot or #bases == 0 then return end
  local b = pick(bases)
  local val, e = valueof(b), ev()
  local ok, msg, code = P.p:modify(val, e)
  note("modify %d %s %s -> %s", slot, show(val), e, tostring(ok or code))
  if P.live[b.fd] then
    expect("modify", ok, msg, code, true)
    P.live[b.fd][2] = e
  else
    expect("modify", ok, msg, code, uxsock.ENOENT)
    P.zombies[b.fd] = nil
  end
end

function step.remove()
  local slot, P = anypoller()
  if not slot or #everything == 0 then return end
  local val = pick(everything)
  local ok, msg, code = P.p:remove(val)
  note("remove %d %s -> %s", slot, show(val), tostring(ok or code))
  if type(val) == "number" then
    local e = P.live[val]
    if e then
      expect("remove", ok, msg, code, true)
      if type(e[1]) ~= "number" then P.known[e[1]] = nil end
      P.live[val] = nil
    elseif P.zombies[val] then  -- unless wait dropped it already
      expect("remove", ok, msg, code, { true, uxsock.ENOENT })
      -- removed by number, the file is forgotten; dropped by wait, it is
      -- still known, and removing it is harmless
      if ok then P.known[P.zombies[val]] = nil end
      P.zombies[val] = nil
    else
      expect("remove", ok, msg, code, uxsock.ENOENT)
    end
  else
    local fd = P.known[val]
    if fd then
      expect("remove", ok, msg, code, true)
      P.known[val] = nil
      if P.live[fd] and P.live[fd][1] == val then P.live[fd] = nil end
      if P.zombies[fd] == val then P.zombies[fd] = nil end
    else
      expect("remove", ok, msg, code, uxsock.ENOENT)
    end
  end
end

function step.close()
  if #bases == 0 then return end
  local b = pick(bases)
  if b.kind == "file" then
    note("close file fd %d (behind the pollers' back)", b.fd)
    b.obj:close()
  else
    local how = r(3)
    note("close %s by %s", tostring(b.obj), ({ "close", "proxy", "__gc" })[how + 1])
    if how == 0 then b.obj:close()
    elseif how == 1 then (proxies[b.obj] or loop.wrap(b.obj)):close()
    else getmetatable(b.obj).__gc(b.obj) end
  end
  closed(b)
end

function step.send()
  if #bases == 0 then return end
  local b = pick(bases)
  if b.kind == "file" then
    if b.fifo.pending < 2000 then
      b.fifo.writer:write("x")
      b.fifo.pending = b.fifo.pending + 1
    end
    note("fifo write fd %d", b.fd)
  else
    local ok, _, code = b.obj:send("x")
    note("send %s -> %s", tostring(b.obj), tostring(ok or code))
  end
end

function step.drain()
  if #bases == 0 then return end
  local b = pick(bases)
  if b.kind == "file" then
    if b.fifo.pending > 0 then
      check(b.obj:read(b.fifo.pending), "fifo read")
      b.fifo.pending = 0
    end
    note("fifo drain fd %d", b.fd)
  else
    for _ = 1, 200 do
      if not b.obj:recv(65536) then break end
    end
    note("drain %s", tostring(b.obj))
  end
end

function step.sendfds()
  if #bases == 0 then return end
  local b = pick(bases)
  local ok, msg = q1:sendfds("x", { b.obj })
  check(ok, "sendfds: %s", tostring(msg))
  inflight[#inflight + 1] = b.fifo or false
  stats.copies = stats.copies + 1
  note("sendfds %s (%d in flight)", show(b.obj), #inflight)
end

function step.recvfds()
  if #inflight == 0 then return end
  local fifo = table.remove(inflight, 1)
  local fds, fd = opened(function() return select(2, assert(q2:recvfds())) end)
  local got = fds[1]
  if fifo then  -- a FIFO reader's copy: a new Lua file, the same FIFO
    addbase(got, "file", fifo, fd)
    note("recvfds: a second file fd %d", fd)
  else
    addbase(got, uxsock.type(got))
    note("recvfds: a second handle %s", tostring(got))
  end
end

function step.flush()
  while #inflight > 0 do
    local _, fds = assert(q2:recvfds())
    for _, f in ipairs(fds) do f:close() end
    table.remove(inflight)
  end
  note("flush the copies in flight")
end

-- the child of a fork: uses its copies, then waits to be told to end
local function child(lc)
  local how = r(4)
  if how == 1 or how == 3 then  -- its pollers: its own from the first use
    for _, P in pairs(pollers) do
      P.p:wait(0)
      for _, e in pairs(P.live) do P.p:remove(e[1]) end
      if #bases > 0 then P.p:add(pick(bases).obj) end
    end
  end
  if how == 2 or how == 3 then  -- closes its copies of handles
    for _, b in ipairs(bases) do
      if b.kind ~= "file" and r(2) == 0 then b.obj:close() end
    end
  end
  lc:send("r")
  lc:settimeout(60)
  lc:recv()
  local exit = r(3)
  if exit == 0 and CAN_CLOSE_STATE then os.exit(0, true) end  -- every __gc runs
  if exit == 1 then
    for _, b in ipairs(bases) do b.obj:close() end
    for _, P in pairs(pollers) do P.p:close() end
  end
  os.exit(0)
end

function step.fork()
  if not forkable or #children >= 3 or r(1000) >= FORKS * 1000 then return end
  local lp, lc = assert(uxsock.socketpair())
  io.stdout:flush()
  local pid = os.getenv("UXSOCK_FORK")
  check(pid and pid ~= "-1", "fork failed")
  if pid == "0" then
    lp:close()
    child(lc)
  end
  -- the child's draws are its own: the parent's sequence goes on
  lc:close()
  lp:settimeout(20)
  check(lp:recv() == "r", "the child did not report")
  children[#children + 1] = { pid = pid, lp = lp }
  stats.forks = stats.forks + 1
  note("fork %s", pid)
end

local function reap(c)
  c.lp:send("x")
  local status = os.getenv("UXSOCK_WAIT=" .. c.pid)
  check(status == "exit 0", "child %s: %s", c.pid, tostring(status))
  c.lp:close()
  note("reap %s", c.pid)
end

function step.reap()
  if #children == 0 then return end
  reap(table.remove(children, r(#children) + 1))
end

function step.poller()
  local slot, k = r(3) + 1, r(4)
  if not pollers[slot] then newpoller(slot)
  elseif k == 0 then
    pollers[slot].p:close()
    pollers[slot] = nil
    note("poller %d closed", slot)
  elseif k == 1 then
    pollers[slot] = nil
    collectgarbage()
    collectgarbage()
    note("poller %d collected", slot)
  else
    pollers[slot].pub = assert(pollers[slot].p:getfd())
    note("poller %d getfd %d", slot, pollers[slot].pub)
  end
end

function step.new()
  if #bases < 12 then
    if r(3) == 0 then newfifo() else newpair() end
  end
end

local STEPS_BY_WEIGHT = {
  "add", "add", "add", "add", "modify", "remove", "remove", "close", "close",
  "send", "send", "drain", "sendfds", "recvfds", "flush", "fork", "reap", "poller", "new",
  "new",
}

-- }======================================================


local before, nbefore = fdset()
for c = 1, CASES do
  case_no, step_no, log = c, 0, {}
  bases, everything, seen, proxies, fifos, pollers, children = {}, {}, {}, {}, {}, {}, {}
  q1, q2 = assert(uxsock.socketpair())
  inflight = {}
  newpair()
  newpoller(1)
  for s = 1, STEPS do
    step_no = s
    local name = pick(STEPS_BY_WEIGHT)
    step[name]()
    stats.steps = stats.steps + 1
    -- every value ever given, for remove: live and closed
    for _, b in ipairs(bases) do
      for _, v in ipairs({ b.obj, b.kind ~= "file" and b.fd, proxies[b.obj] }) do
        if v and not seen[v] then
          seen[v] = true
          everything[#everything + 1] = v
        end
      end
    end
    checkall(r(8) == 0 and anypoller() or nil)
  end
  step_no = STEPS + 1
  for _, ch in ipairs(children) do reap(ch) end
  for _, P in pairs(pollers) do P.p:close() end
  for _, b in ipairs(bases) do b.obj:close() end
  for _, f in ipairs(fifos) do f.writer:close() end
  step.flush()
  q1:close()
  q2:close()
  bases, everything, proxies, fifos, pollers, children = nil, nil, nil, nil, nil, nil
  collectgarbage()
  collectgarbage()
  local now, n = fdset()
  if n ~= nbefore then
    local extra = {}
    for k in pairs(now) do if not before[k] then extra[#extra + 1] = k end end
    table.sort(extra)
    fail("%d descriptors before, %d after: %s", nbefore, n, table.concat(extra, ", "))
  end
end
os.execute("rm -rf " .. dir)

print(string.format("[poller property] %d cases, %d steps, seed %d: %d waits (%d timed, %d "
                    .. "with something ready), %d forks, %d copies in flight, %d closes, "
                    .. "%d registrations dropped by wait; idle waits used %.1f%% of their "
                    .. "%.2f s in processor time (at most %.0f%% in one)",
                    CASES, stats.steps, SEED, stats.waits, stats.timed, stats.ready,
                    stats.forks, stats.copies, stats.closes, stats.dropped,
                    stats.idle_wall > 0 and 100 * stats.idle_cpu / stats.idle_wall or 0,
                    stats.idle_wall, 100 * stats.maxcpu))
