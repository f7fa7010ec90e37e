-- The cost of one readiness check, by the number of objects watched: a
-- measurement, not a test.
--   lua5.4 bench/poller.lua [--rounds N] [--sizes 1,100,10000] [--out DIR]
-- For each size N it registers N sockets in a poller, exactly one of them
-- readable, and times p:wait(0) (epoll: the cost should not grow with N);
-- uxsock.poll over the same N objects is timed beside it (poll(2): it
-- grows with N). Every size is set up first; each round then runs, for
-- each size in turn, enough calls of each for about 0.1 s. The table gives
-- the median and range over the rounds, in ns per call, and the ratio of
-- the largest size to the smallest. It writes DIR/poller.md and .json
-- (default bench/results/).
--
-- Descriptors: every watched socket is one end of a datagram socketpair
-- whose other end is closed at once, so N sockets hold N descriptors, not
-- 2N (1 + 100 + 10,000 fit under a `ulimit -n` of 20,000). A datagram
-- socket whose peer closed is neither readable nor hung up (a stream
-- socket would report "rh"); the one ready socket holds a datagram nobody
-- reads, which keeps it readable after its peer is gone. The script checks
-- that each call sees exactly that one.
local ROOT = (arg[0]:match("^(.*)/bench/[^/]*$") or (arg[0]:match("^bench/") and ".")
              or (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/..")
package.cpath = ROOT .. "/" .. (os.getenv("UXSOCK_BUILD") or "build") .. "/?.so;"
                .. package.cpath
local uxsock = require("uxsock")

local common = dofile(ROOT .. "/bench/common.lua")
local median, machine = common.median, common.machine

local now, CLOCK = uxsock.monotime, "monotonic clock (uxsock.monotime)"

local opts = { rounds = 7, sizes = { 1, 100, 10000 }, out = ROOT .. "/bench/results" }
do
  local i = 1
  while arg[i] do
    local a, v = arg[i], arg[i + 1]
    if a == "--rounds" then opts.rounds = assert(tonumber(v), "--rounds N")
    elseif a == "--sizes" then
      opts.sizes = {}
      for n in v:gmatch("%d+") do opts.sizes[#opts.sizes + 1] = tonumber(n) end
    elseif a == "--out" then opts.out = v
    else error("usage: lua5.4 bench/poller.lua [--rounds N] [--sizes 1,100,10000] [--out DIR]") end
    i = i + 2
  end
end





-- N watched sockets, the first one readable; returns the poller, the
-- list of sockets and the one ready
local function setup(n)
  local p = assert(uxsock.poller())
  local socks = {}
  for i = 1, n do
    local a, b = uxsock.socketpair("datagram")
    if not a then
      error(string.format("socketpair %d of %d: %s (ulimit -n too low?)", i, n, b))
    end
    if i == 1 then assert(b:send("x")) end
    b:close()
    assert(p:add(a))
    socks[i] = a
  end
  return p, socks, socks[1]
end

-- how many calls of f take about 0.1 s
local function calibrate(f)
  local iters = 1
  while true do
    local t0 = now()
    for _ = 1, iters do f() end
    local dt = now() - t0
    if dt >= 0.02 then return math.max(1, math.floor(iters * 0.1 / dt)) end
    iters = iters * 2
  end
end

-- ns per call of f in one batch of iters calls
local function batch(f, iters)
  collectgarbage()
  local t0 = now()
  for _ = 1, iters do f() end
  return (now() - t0) / iters * 1e9
end

-- every size is set up first and the rounds go through all of them in
-- turn, so that a machine getting busier or quieter shows in every size
local cases = {}
for _, n in ipairs(opts.sizes) do
  local p, socks, ready = setup(n)
  -- exactly the one socket is ready, for both calls
  local r, k = p:wait(0)
  assert(k == 1 and r[ready] == "r", "p:wait(0) does not see exactly the one ready socket")
  r, k = uxsock.poll(socks, 0)
  assert(k == 1 and r[ready] == "r", "uxsock.poll does not see exactly the one ready socket")
  local c = { n = n, wait = function() return p:wait(0) end,
              poll = function() return uxsock.poll(socks, 0) end, p = p, socks = socks,
              wait_ns = {}, poll_ns = {} }
  c.wait_iters, c.poll_iters = calibrate(c.wait), calibrate(c.poll)
  cases[#cases + 1] = c
end
for r = 1, opts.rounds do
  for _, c in ipairs(cases) do
    c.wait_ns[r] = batch(c.wait, c.wait_iters)
    c.poll_ns[r] = batch(c.poll, c.poll_iters)
  end
  io.stderr:write(string.format("round %d of %d\n", r, opts.rounds))
end
local results = {}
for _, c in ipairs(cases) do
  local function range(t)
    local lo, hi = math.huge, 0
    for _, v in ipairs(t) do lo, hi = math.min(lo, v), math.max(hi, v) end
    return lo, hi
  end
  local x = { n = c.n, wait = median(c.wait_ns), poll = median(c.poll_ns),
              wait_iters = c.wait_iters, poll_iters = c.poll_iters }
  x.wait_min, x.wait_max = range(c.wait_ns)
  x.poll_min, x.poll_max = range(c.poll_ns)
  results[#results + 1] = x
  c.p:close()
  for _, sock in ipairs(c.socks) do sock:close() end
end

local first, last = results[1], results[#results]
local date = os.date("!%Y-%m-%d %H:%M UTC")
local head = string.format("Measured %s on %s; %s, %s; %d rounds, medians in ns per call; "
  .. "N sockets registered, exactly one readable.", date, machine(), _VERSION, CLOCK,
  opts.rounds)

local md = { head, "",
  "| registered | `p:wait(0)` ns | min-max | `uxsock.poll(list, 0)` ns | min-max |",
  "|---:|---:|---:|---:|---:|" }
for _, x in ipairs(results) do
  md[#md + 1] = string.format("| %d | %.0f | %.0f-%.0f | %.0f | %.0f-%.0f |", x.n, x.wait,
                              x.wait_min, x.wait_max, x.poll, x.poll_min, x.poll_max)
end
local ratio_wait, ratio_poll = last.wait / first.wait, last.poll / first.poll
md[#md + 1] = string.format("| ratio %d / %d | %.2f | | %.1f | |", last.n, first.n,
                            ratio_wait, ratio_poll)
md[#md + 1] = ""
local text = table.concat(md, "\n")
print(text)

os.execute("mkdir -p '" .. opts.out .. "'")
local f = assert(io.open(opts.out .. "/poller.md", "w"))
f:write("# Poller benchmark (bench/poller.lua)\n\n", text)
f:close()

local rows = {}
for _, x in ipairs(results) do
  rows[#rows + 1] = string.format('    {"registered": %d, "wait_ns": %.1f, "wait_min": %.1f, '
    .. '"wait_max": %.1f, "poll_ns": %.1f, "poll_min": %.1f, "poll_max": %.1f, '
    .. '"wait_iters": %d, "poll_iters": %d}', x.n, x.wait, x.wait_min, x.wait_max,
    x.poll, x.poll_min, x.poll_max, x.wait_iters, x.poll_iters)
end
f = assert(io.open(opts.out .. "/poller.json", "w"))
f:write(string.format('{\n  "date": "%s",\n  "machine": "%s",\n  "lua": "%s",\n'
  .. '  "clock": "%s",\n  "rounds": %d,\n  "results": [\n%s\n  ],\n'
  .. '  "ratio_wait": %.3f,\n  "ratio_poll": %.3f\n}\n', date, machine(), _VERSION, CLOCK,
  opts.rounds, table.concat(rows, ",\n"), ratio_wait, ratio_poll))
f:close()
print("written: " .. opts.out .. "/poller.md, .json")
