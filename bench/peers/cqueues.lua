-- Benchmark peer: cqueues sockets (cqueues.socket), binary mode, buffers
-- sized for the workload, everything running in one cqueues controller.
-- Protocol: bench/README.md.
--   lua5.4 bench/peers/cqueues.lua server|client WORKLOAD PATH COUNT SIZE
--
-- Datagrams: cqueues has no sendto/recvfrom and cannot bind a Unix path on
-- a socket it connects (the `bind` option only parses IP addresses). So a
-- datagram peer uses two sockets: one bound to its own path with
-- socket.listen{path=..., type=SOCK_DGRAM} to receive, and one unbound
-- socket connected with socket.connect{path=..., type=SOCK_DGRAM} to send.
-- The client's datagrams therefore arrive from an unnamed address, and the
-- server's reply comes from an unnamed socket; both sides address the
-- other by path (PATH, PATH.c), as the protocol says.

local cqueues = require("cqueues")
local socket = require("cqueues.socket")
local errno = require("cqueues.errno")

local NAME = "cqueues"

-- Monotonic clock: lua-system's monotime (the one every Lua peer uses),
-- else cqueues' own monotime (also CLOCK_MONOTONIC).
local clock
do
  local ok, system = pcall(require, "system")
  clock = (ok and system.monotime) or cqueues.monotime
end

local function fail(msg)
  error(msg, 0)
end

local protocol = dofile(arg[0]:gsub("[^/]*$", "") .. "protocol.lua")
local unsupported = protocol.unsupported
local role, workload, path, count, size = protocol.args(NAME)

-- Defaults for every socket created from here on (socket.setmode and
-- socket.setbufsiz on the module set the prototype's values):
--  * input "b": binary, no CRLF translation;
--  * output "bn": binary, no buffering: every write is flushed at once
--    (one write(2) per message, one datagram per write);
--  * buffers of at least SIZE bytes (default 4096), so a SIZE-byte
--    message goes out in one write(2) and a read(-SIZE) can be filled by
--    one read(2). The input buffer gets 4 x SIZE so a bulk reader drains
--    the socket in big reads and serves several reads from its buffer.
-- (setmaxline only matters for line reads and line buffering: unused.)
local BUFSIZ = math.max(size, 4096)
socket.setmode("b", "bn")
socket.setbufsiz(4 * BUFSIZ, BUFSIZ)

local extra = ""  -- more fields for the result line (W5)

local function check(v, what, err)
  if v == nil or v == false then
    if math.type(err) == "integer" then err = errno.strerror(err) end
    fail(what .. ": " .. tostring(err))
  end
  return v
end

-- Stream server socket bound to PATH and listening.
local function listener()
  os.remove(path)
  local srv, err = socket.listen{ path = path }
  check(srv, "listen " .. path, err)
  -- socket.listen binds at once, but ignores errors: :listen() reports
  -- them (and waits if the operation is still in progress).
  local ok, lerr = srv:listen()
  check(ok, "listen " .. path, lerr)
  return srv
end

local function dial(p, type)
  local con, err = socket.connect{ path = p, type = type }
  check(con, "connect " .. p, err)
  return con
end

local function accept(srv)
  local con, err = srv:accept()
  return check(con, "accept", err)
end

local function send(con, data)
  local ok, err = con:write(data)
  check(ok, "write", err)
end

local server, client = {}, {}

-- W1: pingpong -----------------------------------------------------------

function server.pingpong()
  local srv = listener()
  local con = accept(srv)
  local n = 0
  while true do
    local msg = con:read(size) -- exactly size bytes; nil at end of stream
    if not msg then break end
    if #msg ~= size then
      fail("partial message of " .. #msg .. " bytes at end of stream")
    end
    send(con, msg)
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
  local con = dial(path)
  for _ = 1, count do
    send(con, msg)
    local got = con:read(size)
    if not got or #got ~= size then fail("short echo") end
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
    local data = con:read(-size) -- 1 to size bytes; nil at end of stream
    if not data then break end
    total = total + #data
  end
  send(con, string.format("%d\n", total))
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
  local con = dial(path)
  for _ = 1, count do
    send(con, chunk)
  end
  local ok, err = con:shutdown("w")
  check(ok, "shutdown", err)
  local data = con:read("*a") or ""
  local t1 = clock()
  con:close()
  if data ~= expect then
    fail(string.format("reply %q, expected %q", data, expect))
  end
  return t1 - t0
end

-- W2b: bulkbuf -------------------------------------------------------------

function server.bulkbuf()
  unsupported("cqueues has no receive-into-buffer call")
end
client.bulkbuf = server.bulkbuf

-- W3b: dgrambatch ----------------------------------------------------------

function server.dgrambatch()
  unsupported("cqueues has no batched datagram call")
end
client.dgrambatch = server.dgrambatch

-- W3: dgram ----------------------------------------------------------------

-- cqueues' reads cannot tell an empty datagram from no data (it waits on).
local function no_empty_dgram()
  if size == 0 then unsupported("cqueues cannot receive an empty datagram") end
end

function server.dgram()
  no_empty_dgram()
  os.remove(path)
  local srv, err = socket.listen{ path = path, type = socket.SOCK_DGRAM }
  check(srv, "bind " .. path, err)
  local ok, lerr = srv:listen()
  check(ok, "bind " .. path, lerr)
  local max = -(size + 1) -- a longer datagram would show as size + 1 bytes
  for i = 1, count do
    local d = srv:read(max)
    if not d then fail(string.format("datagram %d: end of stream", i)) end
    if #d ~= size then
      fail(string.format("datagram %d is %d bytes, expected %d", i, #d, size))
    end
  end
  local rep = dial(path .. ".c", socket.SOCK_DGRAM)
  send(rep, string.format("%d", count))
  rep:close()
  srv:close()
end

function client.dgram()
  no_empty_dgram()
  local cpath = path .. ".c"
  local msg = string.rep("x", size)
  local expect = string.format("%d", count)
  os.remove(cpath)
  local t0 = clock()
  local rx, err = socket.listen{ path = cpath, type = socket.SOCK_DGRAM }
  check(rx, "bind " .. cpath, err)
  local ok, lerr = rx:listen()
  check(ok, "bind " .. cpath, lerr)
  local tx = dial(path, socket.SOCK_DGRAM)
  for _ = 1, count do
    send(tx, msg)
  end
  local reply = rx:read(-64)
  local t1 = clock()
  tx:close()
  rx:close()
  if reply ~= expect then
    fail(string.format("reply %q, expected %q", tostring(reply), expect))
  end
  return t1 - t0
end

-- W4: connect --------------------------------------------------------------

function server.connect()
  local srv = listener()
  for i = 1, count do
    local con = accept(srv)
    local b = con:read(1)
    if not b then fail(string.format("connection %d: end of stream", i)) end
    send(con, b)
    con:close()
  end
  srv:close()
end

function client.connect()
  local t0 = clock()
  for i = 1, count do
    local con = dial(path)
    send(con, "x")
    if con:read(1) ~= "x" then
      fail(string.format("connection %d: no echo", i))
    end
    con:close()
  end
  return clock() - t0
end

-- W5: handles --------------------------------------------------------------

function server.handles()
  local srv = listener()
  local conns = {}
  for i = 1, count do conns[i] = accept(srv) end
  if conns[1]:read(1) ~= nil then fail("expected end of stream") end
  for i = 1, count do conns[i]:close() end
  srv:close()
end

function client.handles()
  local memory = dofile(arg[0]:gsub("[^/]*$", "") .. "memory.lua")
  local seconds, conns
  seconds, extra, conns = memory.measure(count, function() return dial(path) end, clock)
  for i = 1, count do conns[i]:close() end
  return seconds
end

-----------------------------------------------------------------------------

local fn = (role == "server" and server or client)[workload]
if not fn then
  io.stderr:write("error: unknown workload ", workload, "\n")
  os.exit(2)
end

local result
local cq = cqueues.new()
cq:wrap(function()
  result = fn()
end)
local ok, err = cq:loop()
protocol.finish(NAME, role, workload, path, count, size, ok, ok and result or err, extra)
