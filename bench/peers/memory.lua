-- W5 for the Lua peers (bench/README.md): the Lua heap and RSS that COUNT
-- open connections add to the client process. Each peer gives its own
-- way to connect; the table that keeps the connections is made before
-- the first measure, so only the connections are counted.
local memory = {}

local function rss()
  local f = assert(io.open("/proc/self/statm"))
  local pages = tonumber(f:read("l"):match("^%d+%s+(%d+)"))
  f:close()
  return pages * 4096
end

-- connects count times with connect(); returns the seconds it took, the
-- result line's extra fields, and the connections (still open)
function memory.measure(count, connect, clock)
  local conns = {}
  for i = 1, count do conns[i] = false end
  collectgarbage("collect")
  local heap0, rss0, t0 = collectgarbage("count") * 1024, rss(), clock()
  for i = 1, count do conns[i] = connect() end
  local seconds = clock() - t0
  collectgarbage("collect")
  local heap = collectgarbage("count") * 1024 - heap0
  return seconds, string.format(" heap_per_handle=%.0f rss_per_handle=%.0f", heap / count,
                                (rss() - rss0) / count), conns
end

return memory
