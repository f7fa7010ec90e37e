-- What the bench scripts (run.lua, poller.lua, limits/run.lua) share:
-- files, commands, medians and the machine's name. Loaded with dofile
-- from beside them.
local common = {}

function common.readfile(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local d = f:read("a")
  f:close()
  return d
end

-- a command's output, and how it ended as io.popen's close says it
function common.sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  local ok, how, code = p:close()
  return out, ok, how, code
end

function common.median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  if n == 0 then return nil end
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

-- "AMD EPYC ..., 2 cores, Linux 6.1.0" for the result tables
function common.machine()
  local cpu = (common.readfile("/proc/cpuinfo") or ""):match("model name%s*:%s*([^\n]+)") or "?"
  local cores = common.sh("nproc"):gsub("%s+$", "")
  local kernel = common.sh("uname -r"):gsub("%s+$", "")
  return string.format("%s, %s cores, Linux %s", cpu:gsub("%s+", " "), cores, kernel)
end

return common
