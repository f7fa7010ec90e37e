-- What the standalone test scripts (tests/dgram_flood.lua, tests/oom.lua,
-- fuzz/random_calls.lua) and the specs (spec/helpers.lua) share. Loaded
-- with dofile from a path relative to the script: these scripts run
-- without busted, on every Lua (plain Lua 5.1 syntax), and tests/oom.lua
-- inside build/oomhost.
local common = {}

local lfs, pid  -- looked up by the first fdlist(): oom.lua never needs them

-- this process's open descriptors: their numbers through lfs when it
-- loads, or else "N target" lines of ls, whose popen pipe can show both
-- its ends for a moment (a pipe listed twice is that one, left out)
function common.fdlist()
  if lfs == nil then
    local ok, m = pcall(require, "lfs")
    lfs = ok and type(m) == "table" and m.dir and m or false
  end
  local fds = {}
  if lfs then
    for e in lfs.dir("/proc/self/fd") do
      if e ~= "." and e ~= ".." then fds[#fds + 1] = e end
    end
    return fds
  end
  if not pid then
    -- ls's own /proc/self would be ls
    local f = assert(io.open("/proc/self/stat"))
    pid = f:read("*l"):match("^%d+")
    f:close()
  end
  local p = assert(io.popen("ls -l /proc/" .. pid .. "/fd"))
  local seen = {}
  for line in p:lines() do
    local fd, what = line:match("(%d+) %-> (.*)$")
    if fd then
      fds[#fds + 1] = fd .. " " .. what
      seen[what] = (seen[what] or 0) + 1
    end
  end
  p:close()
  local kept = {}
  for _, e in ipairs(fds) do
    local what = e:match("^%d+ (.*)$")
    if not (what:match("^pipe:") and seen[what] == 2) then kept[#kept + 1] = e end
  end
  return kept
end

-- the bytes readable now from a stream handle, without waiting; the
-- handle is left blocking (no timeout)
function common.drain(s)
  local got = {}
  s:settimeout(0)
  while true do
    local d = s:recv()
    if not d then break end
    got[#got + 1] = d
  end
  s:settimeout(nil)
  return table.concat(got)
end

return common
