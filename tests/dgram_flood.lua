-- tests/dgram_flood.lua: a datagram sender faster than its receiver.
--
--   lua5.4 tests/dgram_flood.lua [--mode sendto|sendmany|nonblocking|blocking|loop]
--          [--count 20000] [--seconds 10] [--timeout 0.002] [--delay 0.005]
--          [--max 4096]
--
-- The receiver (a child process, or a loop task with --mode loop) takes
-- one datagram, then sleeps --delay seconds, so its queue fills (Linux
-- keeps net.unix.max_dgram_qlen datagrams, 10 by default). The sender
-- sends up to --count datagrams of 24 to --max bytes within --seconds:
--   sendto       one sendto each, with settimeout(--timeout): a full
--                queue makes it wait, then fail with ETIMEDOUT
--   sendmany     batches of 1 to 64 with the same timeout: a partial
--                batch fails with ETIMEDOUT and the count that went
--   nonblocking  sendto with settimeout(0): EAGAIN, never a wait
--   blocking     sendto with no timeout: every call waits for room, none
--                fails
--   loop         uxsock.loop tasks in one process: the proxy's sendto
--                backs off (1 ms doubling to 50 ms) within --timeout
-- A datagram that failed is not sent again: the next one has the next
-- number. What must hold, or the script exits 1 saying what broke:
--   - every failure is ETIMEDOUT (EAGAIN for nonblocking), no other;
--   - a failed call waited about --timeout: not less, not 0.2 s more;
--     a nonblocking one never waited (under 0.1 s);
--   - some calls failed (the receiver was slower), and some went; in
--     blocking mode none failed and some waited (--delay / 2 or more);
--   - every datagram received is intact (its number, length and bytes
--     are the ones sent), in order, none twice; the receiver got
--     exactly those the sender was told went (a Unix socket drops none
--     it accepted), so received <= sent;
--   - afterwards: no socket file left, the child gone, no descriptor
--     of this process left open.
-- Plain Lua 5.1 syntax: any Lua uxsock builds for.
local here = arg[0]:gsub("[^/]*$", "")
if here == "" then here = "./" end
local BUILD = os.getenv("UXSOCK_BUILD") or "build"
package.cpath = here .. "../" .. BUILD .. "/?.so;" .. package.cpath
package.path = here .. "../lua/?.lua;" .. package.path
local uxsock = require("uxsock")

local opt = { mode = "sendto", count = 20000, seconds = 10, timeout = 0.002, delay = 0.005,
              max = 4096, role = "sender", path = nil }
do
  local i = 1
  while i <= #arg do
    local k = arg[i]:match("^%-%-(%w+)$")
    if not k or (opt[k] == nil and k ~= "path") then
      io.stderr:write("usage: tests/dgram_flood.lua [--mode sendto|sendmany|nonblocking|" ..
                      "blocking|loop] " ..
                      "[--count N] [--seconds S] [--timeout T] [--delay D] [--max B]\n")
      os.exit(2)
    end
    opt[k] = tonumber(arg[i + 1]) or arg[i + 1]
    i = i + 2
  end
end

local now = uxsock.monotime
local floor = math.floor

-- datagram n of len bytes: "n:len:" then bytes that depend on both
local function dgram(n, len)
  local head = n .. ":" .. len .. ":"
  local unit = string.char(n % 251, (n * 7 + len) % 256, 65 + n % 26)
  local body = unit:rep(floor((len - #head) / 3) + 1)
  return head .. body:sub(1, len - #head)
end
local function lenof(n)  -- the length of datagram n: 24 to max (its head fits)
  return 24 + (n * 2654435761) % (opt.max - 23)
end
assert(opt.max >= 24, "--max: at least 24 bytes")

-- {======================================================
-- The receiver
-- =======================================================

-- checks one datagram; returns its number. END:<n> ends the flood.
local function check(data, state)
  local fin = data:match("^END:(%d+)$")
  if fin then return nil, tonumber(fin) end
  local n = tonumber(data:match("^(%d+):") or "")
  if not n then error("receiver: a datagram no one sent: " .. ("%q"):format(data:sub(1, 40))) end
  if n <= state.last then error(("receiver: datagram %d after %d"):format(n, state.last)) end
  if #data ~= lenof(n) or data ~= dgram(n, #data) then
    error(("receiver: datagram %d is not intact (%d bytes)"):format(n, #data))
  end
  state.last, state.count, state.sum = n, state.count + 1, state.sum + n
  state.bytes = state.bytes + #data
  return n
end

local function receive(d, sleep)
  local state = { last = 0, count = 0, sum = 0, bytes = 0 }
  d:settimeout(opt.seconds + 10)
  while true do
    local data, err = d:recv()
    if not data then error("receiver: recv: " .. tostring(err)) end
    local n, fin = check(data, state)
    if fin then state.sent = fin break end
    if n and opt.delay > 0 then sleep(opt.delay) end
  end
  return state
end

local function psleep(t) uxsock.poll({}, t) end

if opt.role == "receiver" then
  local d = assert(uxsock.datagram(opt.path))
  io.stdout:write("ready\n")
  io.stdout:flush()
  local ok, st = pcall(receive, d, psleep)
  d:close()
  if not ok then print("error " .. tostring(st)) os.exit(1) end
  print(("received %d sum %d bytes %d last %d"):format(st.count, st.sum, st.bytes, st.last))
  os.exit(0)
end

-- }======================================================


-- {======================================================
-- The sender
-- =======================================================

local problems = {}
local function problem(msg) problems[#problems + 1] = msg end

-- this process's descriptors, and what they are (tests/common.lua)
local fdlist = dofile(here .. "common.lua").fdlist
local function fdcount()
  collectgarbage("collect")  -- what is garbage closes now, not between counts
  collectgarbage("collect")
  local fds = fdlist()
  return #fds, table.concat(fds, ", ")
end

local WANT = opt.mode == "nonblocking" and uxsock.EAGAIN or uxsock.ETIMEDOUT
local stats = { sent = 0, sum = 0, failed = 0, calls = 0, waits = {}, okmax = 0 }

-- one call's outcome: ok, or the failure's code and how long it took
local function outcome(code, secs, msg)
  if code ~= WANT then
    problem(("a failure that is not %s: %s (%s)"):format(
            WANT == uxsock.EAGAIN and "EAGAIN" or "ETIMEDOUT", tostring(code), tostring(msg)))
    return
  end
  stats.failed = stats.failed + 1
  local w = stats.waits
  w.min = math.min(w.min or secs, secs)
  w.max = math.max(w.max or secs, secs)
end

-- sends until count or seconds; send(n) sends datagram n (and, for a
-- batch, those after it) and returns how many went, and on failure the
-- code and message
local function flood(send)
  local n, stop = 1, now() + opt.seconds
  while n <= opt.count and now() < stop do
    local t0 = now()
    local went, code, msg = send(n)
    stats.calls = stats.calls + 1
    if not code then stats.okmax = math.max(stats.okmax, now() - t0) end
    for k = n, n + went - 1 do stats.sent, stats.sum = stats.sent + 1, stats.sum + k end
    if code then
      outcome(code, now() - t0, msg)
      n = n + went + 1  -- the one that failed is not sent again
    else
      n = n + went
    end
  end
  return n - 1
end

local function sendto_fn(d, path)
  return function(n)
    local r, msg, code = d:sendto(dgram(n, lenof(n)), path)
    if r then return 1 end
    return 0, code, msg
  end
end

local function sendmany_fn(d, path)
  return function(n)
    local batch = {}
    for k = n, math.min(n + 1 + (n * 13) % 64, opt.count) - 1 do
      batch[#batch + 1] = dgram(k, lenof(k))
    end
    if #batch == 0 then batch[1] = dgram(n, lenof(n)) end
    local r, msg, code, sent = d:sendmany(batch, path)
    if r then return r end
    return sent or 0, code, msg
  end
end

local before, beforelist = fdcount()
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 '" .. dir .. "'"))
local path = dir .. "/flood.sock"
local t0 = now()
local recvd, last

if opt.mode == "loop" then
  local loop = require("uxsock.loop")
  local r = assert(loop.datagram(path))
  local s = assert(loop.datagram())
  s:settimeout(opt.timeout)
  local rstate
  loop.spawn(function()  -- no pcall: Lua 5.1 cannot yield across one
    rstate = receive(r, loop.sleep)
  end)
  loop.spawn(function()
    last = flood(sendto_fn(s, path))
    s:settimeout(10)
    assert(s:sendto("END:" .. stats.sent, path))
  end)
  local done, ok, err = pcall(loop.run, opt.seconds + 30)
  if not done or not ok then problem("loop: " .. tostring(done and err or ok)) end
  s:close()
  r:close()
  loop.backend("poll")  -- closes the loop's own epoll descriptor
  if rstate then recvd = rstate end
else
  local cmd = table.concat({ os.getenv("LUA") or "lua5.4", arg[0], "--role", "receiver",
                             "--path", path, "--delay", opt.delay, "--seconds", opt.seconds,
                             "--max", opt.max }, " ")
  local child = assert(io.popen(cmd, "r"))
  assert(child:read("*l") == "ready", "the receiver did not start")
  local d = assert(uxsock.datagram())
  if opt.mode == "nonblocking" then d:settimeout(0)
  elseif opt.mode == "blocking" then d:settimeout(nil)
  else d:settimeout(opt.timeout) end
  last = flood(opt.mode == "sendmany" and sendmany_fn(d, path) or sendto_fn(d, path))
  d:settimeout(10)
  assert(d:sendto("END:" .. stats.sent, path))
  d:close()
  local out = child:read("*a")
  child:close()
  local c, s, b, l = out:match("received (%d+) sum (%d+) bytes (%d+) last (%d+)")
  if not c then problem("the receiver: " .. out)
  else recvd = { count = tonumber(c), sum = tonumber(s), bytes = tonumber(b),
                 last = tonumber(l), sent = stats.sent } end
end
local secs = now() - t0

-- }======================================================


if recvd then
  if recvd.count > stats.sent then problem("received more than sent") end
  if recvd.count ~= stats.sent or recvd.sum ~= stats.sum then
    problem(("the sender sent %d (numbers summing to %d), the receiver got %d (%d)"):format(
            stats.sent, stats.sum, recvd.count, recvd.sum))
  end
end
if opt.mode == "blocking" then
  if stats.failed > 0 then problem("a call failed with no timeout") end
  if stats.okmax < opt.delay / 2 then problem("no call waited: the receiver was not slower") end
elseif stats.failed == 0 then
  problem("no call failed: the receiver was not slower")
end
if stats.sent == 0 then problem("nothing went") end
local w = stats.waits
if w.min then
  if opt.mode == "nonblocking" then
    if w.max > 0.1 then problem(("a nonblocking call waited %.3f s"):format(w.max)) end
  elseif w.min < opt.timeout * 0.9 or w.max > opt.timeout + 0.2 then
    problem(("failed calls waited %.4f to %.4f s for a timeout of %g"):format(w.min, w.max,
                                                                            opt.timeout))
  end
end
os.execute("rm -rf '" .. dir .. "'")
local after, afterlist = fdcount()
-- under valgrind /proc lists its own descriptors too, which come and go
if after ~= before and os.getenv("UXSOCK_MEMCHECK") ~= "valgrind" then
  problem(("descriptors: %d before (%s), %d after (%s)"):format(before, beforelist, after,
                                                               afterlist))
end

print(("flood %s: %d datagrams tried in %d calls, %.1f s: %d sent, %d received intact " ..
       "(%d bytes), %d calls failed (%s) after %.4f..%.4f s, the longest call that went " ..
       "%.4f s, %s"):format(
       opt.mode, last or 0, stats.calls, secs, stats.sent, recvd and recvd.count or 0,
       recvd and recvd.bytes or 0, stats.failed, WANT == uxsock.EAGAIN and "EAGAIN" or "ETIMEDOUT",
       w.min or 0, w.max or 0, stats.okmax, #problems == 0 and "all as configured" or "FAILED"))
if #problems > 0 then
  io.stderr:write("flood: ", table.concat(problems, "; "), "\n")
  os.exit(1)
end
