-- Benchmark peer: LuaSocket's socket.unix (stream and dgram), blocking.
-- Protocol: bench/README.md.
--   lua5.4 bench/peers/luasocket.lua server|client WORKLOAD PATH COUNT SIZE

local unix = require("socket.unix")

local NAME = "luasocket"

-- Monotonic clock: lua-system's monotime (CLOCK_MONOTONIC); LuaSocket's
-- gettime (wall clock) only when lua-system is missing.
local clock
do
  local ok, system = pcall(require, "system")
  if ok and system.monotime then
    clock = system.monotime
  else
    clock = require("socket").gettime
  end
end

-- Errors are raised and reported once, at the end (so PATH is removed).
local function fail(msg)
  error(msg, 0)
end

local function check(v, what, err)
  if v == nil then
    fail(what .. ": " .. tostring(err))
  end
  return v
end

local protocol = dofile(arg[0]:gsub("[^/]*$", "") .. "protocol.lua")
local unsupported = protocol.unsupported
local role, workload, path, count, size = protocol.args(NAME)

local extra = ""  -- more fields for the result line (W5)

-- Stream server socket bound to PATH and listening.
local function listener(backlog)
  os.remove(path)
  local srv = check(unix.stream(), "socket")
  local ok, err = srv:bind(path)
  check(ok, "bind " .. path, err)
  ok, err = srv:listen(backlog or 128)
  check(ok, "listen", err)
  srv:settimeout(nil)
  return srv
end

local function accept(srv)
  local con, err = srv:accept()
  check(con, "accept", err)
  con:settimeout(nil)
  return con
end

local function dial()
  local con = check(unix.stream(), "socket")
  con:settimeout(nil)
  local ok, err = con:connect(path)
  check(ok, "connect " .. path, err)
  return con
end

local function sendall(con, data)
  local ok, err = con:send(data)
  check(ok, "send", err)
end

local server, client = {}, {}

-- W1: pingpong -----------------------------------------------------------

function server.pingpong()
  local srv = listener()
  local con = accept(srv)
  local n = 0
  while true do
    local msg, err, partial = con:receive(size)
    if not msg then
      if err ~= "closed" then fail("receive: " .. tostring(err)) end
      if partial and #partial > 0 then
        fail("partial message of " .. #partial .. " bytes at end of stream")
      end
      break
    end
    sendall(con, msg)
    n = n + 1
  end
  con:close()
  srv:close()
  if n ~= count then
    fail(string.format("echoed %d messages, expected %d", n, count))
  end
end

function client.pingpong()
  local msg = string.rep("x", size)
  local t0 = clock()
  local con = dial()
  for _ = 1, count do
    local ok, err = con:send(msg)
    check(ok, "send", err)
    local got, rerr = con:receive(size)
    check(got, "receive", rerr)
  end
  local t1 = clock()
  con:close()
  return t1 - t0
end

-- W2: bulk -----------------------------------------------------------------

function server.bulk()
  local srv = listener()
  local con = accept(srv)
  local total = 0
  while true do
    -- receive(n) returns exactly n bytes, or nil, "closed", partial at
    -- the end of the stream.
    local data, err, partial = con:receive(size)
    if data then
      total = total + #data
    else
      if err ~= "closed" then fail("receive: " .. tostring(err)) end
      total = total + #partial
      break
    end
  end
  sendall(con, string.format("%d\n", total))
  con:close()
  srv:close()
  if total ~= count * size then
    fail(string.format("received %d bytes, expected %d", total, count * size))
  end
end

function client.bulk()
  local chunk = string.rep("x", size)
  local expect = string.format("%d\n", count * size)
  local t0 = clock()
  local con = dial()
  for _ = 1, count do
    local ok, err = con:send(chunk)
    check(ok, "send", err)
  end
  local ok, err = con:shutdown("send")
  check(ok, "shutdown", err)
  local data, rerr, partial = con:receive("*a")
  if not data then
    if rerr ~= "closed" then fail("receive: " .. tostring(rerr)) end
    data = partial
  end
  local t1 = clock()
  con:close()
  if data ~= expect then
    fail(string.format("reply %q, expected %q", data, expect))
  end
  return t1 - t0
end

-- W2b: bulkbuf -------------------------------------------------------------

function server.bulkbuf()
  unsupported("LuaSocket has no receive-into-buffer call")
end
client.bulkbuf = server.bulkbuf

-- W3b: dgrambatch ----------------------------------------------------------

function server.dgrambatch()
  unsupported("LuaSocket has no batched datagram call")
end
client.dgrambatch = server.dgrambatch

-- W3: dgram ----------------------------------------------------------------

function server.dgram()
  os.remove(path)
  local sock = check(unix.dgram(), "socket")
  local ok, err = sock:bind(path)
  check(ok, "bind " .. path, err)
  sock:settimeout(nil)
  local max = size + 1 -- a longer datagram would show as size + 1 bytes
  for i = 1, count do
    local d, rerr = sock:receive(max)
    check(d, "receive", rerr)
    if #d ~= size then
      fail(string.format("datagram %d is %d bytes, expected %d", i, #d, size))
    end
  end
  ok, err = sock:sendto(string.format("%d", count), path .. ".c")
  check(ok, "sendto " .. path .. ".c", err)
  sock:close()
end

function client.dgram()
  local cpath = path .. ".c"
  local msg = string.rep("x", size)
  local expect = string.format("%d", count)
  os.remove(cpath)
  local t0 = clock()
  local sock = check(unix.dgram(), "socket")
  local ok, err = sock:bind(cpath)
  check(ok, "bind " .. cpath, err)
  sock:settimeout(nil)
  ok, err = sock:setpeername(path)  -- connected: no address per datagram
  check(ok, "setpeername " .. path, err)
  for _ = 1, count do
    ok, err = sock:send(msg)
    check(ok, "send", err)
  end
  local reply, rerr = sock:receive(64)
  check(reply, "receive", rerr)
  local t1 = clock()
  sock:close()
  os.remove(cpath)
  if reply ~= expect then
    fail(string.format("reply %q, expected %q", reply, expect))
  end
  return t1 - t0
end

-- W4: connect --------------------------------------------------------------

function server.connect()
  local srv = listener()
  for i = 1, count do
    local con = accept(srv)
    local b, err = con:receive(1)
    if not b then fail(string.format("connection %d: receive: %s", i, tostring(err))) end
    sendall(con, b)
    con:close()
  end
  srv:close()
end

function client.connect()
  local t0 = clock()
  for i = 1, count do
    local con = dial()
    local ok, err = con:send("x")
    check(ok, "send", err)
    local b, rerr = con:receive(1)
    if b ~= "x" then fail(string.format("connection %d: receive: %s", i, tostring(rerr))) end
    con:close()
  end
  return clock() - t0
end

-- W5: handles --------------------------------------------------------------

function server.handles()
  -- a backlog for every client: LuaSocket reports a connect that meets a
  -- full backlog as done, and that connection never comes
  local srv = listener(count)
  local conns = {}
  for i = 1, count do conns[i] = accept(srv) end
  local _, err = conns[1]:receive(1)  -- the client closes them all
  if err ~= "closed" then fail("expected end of stream, got " .. tostring(err)) end
  for i = 1, count do conns[i]:close() end
  srv:close()
end

function client.handles()
  local memory = dofile(arg[0]:gsub("[^/]*$", "") .. "memory.lua")
  local seconds, conns
  seconds, extra, conns = memory.measure(count, dial, clock)
  for i = 1, count do conns[i]:close() end
  return seconds
end

-----------------------------------------------------------------------------

local fn = (role == "server" and server or client)[workload]
if not fn then
  io.stderr:write("error: unknown workload ", workload, "\n")
  os.exit(2)
end

local ok, res = pcall(fn)
protocol.finish(NAME, role, workload, path, count, size, ok, res, extra)
