-- fuzz/random_calls.lua: random sequences of uxsock API calls, driven by
-- a seeded PRNG (the engine is fuzz/calls.lua; fuzz/api.c is the same
-- engine under libFuzzer). Plain Lua: runs on every Lua uxsock builds
-- for, and under valgrind.
--
--   lua5.4 fuzz/random_calls.lua [SEED [N [ROUND]]]
--   valgrind --error-exitcode=99 lua5.4 fuzz/random_calls.lua 7 2000
--   UXFUZZ_LOG=1 ...        prints every call to stderr (to find one)
--
-- N calls (default 5000) in rounds of ROUND (default 200): each round
-- starts with no objects and ends with everything closed and collected,
-- and the process's descriptors counted as they were before it. The
-- module is build/uxsock.so (UXSOCK_BUILD=build/lua5.1 ... for another
-- Lua). Exits 0 with a summary line, or 1 naming the broken invariant,
-- the seed and the round. A crash, a hang (run it under `timeout`) or a
-- valgrind report is a failure too.
local here = arg[0]:gsub("[^/]*$", "")
if here == "" then here = "./" end
package.cpath = here .. "../" .. (os.getenv("UXSOCK_BUILD") or "build") .. "/?.so;" ..
                package.cpath
package.path = here .. "../lua/?.lua;" .. package.path
local uxsock = require("uxsock")
local calls = dofile(here .. "calls.lua")
local fdlist = dofile(here .. "../tests/common.lua").fdlist

local seed = tonumber(arg[1]) or os.time()
local total = tonumber(arg[2]) or 5000
local round = tonumber(arg[3]) or 200
math.randomseed(seed)

local function nextbyte() return math.random(0, 255) end

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 '" .. dir .. "'"))
local f = assert(io.open("/proc/self/stat"))
local pid = f:read("*l"):match("^(%d+)")
f:close()

local sum = { calls = 0, ok = 0, raised = 0, failed = 0 }
local t0 = uxsock.monotime()
local n = 0
while sum.calls < total do
  n = n + 1
  local ok, stats = pcall(calls.run, uxsock, nextbyte, {
    dir = dir, tag = pid .. "-" .. n, calls = math.min(round, total - sum.calls),
    fdcount = function() return #fdlist() end,
  })
  if not ok then
    io.stderr:write(("random_calls: seed %d, round %d: %s\n"):format(seed, n, tostring(stats)))
    os.execute("rm -rf '" .. dir .. "'")
    os.exit(1)
  end
  for k, v in pairs(stats) do sum[k] = sum[k] + v end
  os.execute("rm -rf '" .. dir .. "'/*")
end
os.execute("rm -rf '" .. dir .. "'")
print(("random_calls: seed %d: %d calls in %d rounds, %.1f s (%d ok, %d failed, %d raised), " ..
       "no leak"):format(seed, sum.calls, n, uxsock.monotime() - t0, sum.ok, sum.failed,
                         sum.raised))
