-- The uxsock peer of the benchmarks (bench/README.md has the protocol):
--   lua5.4 bench/peers/uxsock.lua server|client WORKLOAD PATH COUNT SIZE
-- It finds the module built in build/ beside bench/, and uses uxsock the
-- way a program that cares for speed would: blocking handles (one system
-- call per operation), recvinto a buffer where the workload allows it.
package.cpath = arg[0]:gsub("[^/]*$", "") .. "../../build/?.so;" .. package.cpath
local uxsock = require("uxsock")
local monotime = require("system").monotime
local memory = dofile(arg[0]:gsub("[^/]*$", "") .. "memory.lua")

local protocol = dofile(arg[0]:gsub("[^/]*$", "") .. "protocol.lua")
local role, workload, path, count, size = protocol.args("uxsock")

local function fail(fmt, ...)
  io.stderr:write("error: ", string.format(fmt, ...), "\n")
  os.exit(1)
end

local function check(ok, err, ...)
  if not ok then fail("%s", err) end
  return ok, err, ...
end

local function report(seconds, extra)
  protocol.result("uxsock", workload, count, size, seconds, extra)
end
local server, client = {}, {}

-- pingpong: one buffer each side, so a round trip makes no string; the
-- hot loops call the methods they looked up once, and test results inline
function server.pingpong()
  local l <close> = check(uxsock.listen(path))
  local c <close> = check(l:accept())
  local send, recvinto = c.send, c.recvinto
  local buf, n = uxsock.buffer(size), 0
  while true do
    local got, err, code = recvinto(c, buf)
    if not got then
      if code == uxsock.EOF then break end
      fail("%s", err)
    end
    while got < size do got = got + check(recvinto(c, buf, got + 1)) end
    if not send(c, buf) then fail("send failed") end
    n = n + 1
  end
  if n ~= count then fail("echoed %d messages, expected %d", n, count) end
end

function client.pingpong()
  local buf = uxsock.buffer(size)
  buf:fill(("x"):rep(size))
  local t0 = monotime()
  local c <close> = check(uxsock.connect(path))
  local send, recvinto = c.send, c.recvinto
  for _ = 1, count do
    if not send(c, buf) then fail("send failed") end
    local got = recvinto(c, buf)
    if not got then fail("recvinto failed") end
    while got < size do got = got + check(recvinto(c, buf, got + 1)) end
  end
  report(monotime() - t0)
end

-- bulk: a Lua string per read (recv); bulkbuf: one buffer (recvinto)
local function serve_bulk(reuse)
  local l <close> = check(uxsock.listen(path))
  local c <close> = check(l:accept())
  local total, n, err, code = 0
  if reuse then
    local buf, recvinto = uxsock.buffer(size), c.recvinto
    while true do
      n, err, code = recvinto(c, buf)
      if not n then break end
      total = total + n
    end
  else
    local recv = c.recv
    while true do
      local data
      data, err, code = recv(c, size)
      if not data then break end
      total = total + #data
    end
  end
  if code ~= uxsock.EOF then fail("%s", err) end
  check(c:sendall(total .. "\n"))
  if total ~= count * size then fail("received %d bytes, expected %d", total, count * size) end
end

function server.bulk() serve_bulk(false) end
function server.bulkbuf() serve_bulk(true) end

function client.bulk()
  local chunk = uxsock.buffer(size)
  chunk:fill(("x"):rep(size))
  local t0 = monotime()
  local c <close> = check(uxsock.connect(path))
  local sendall = c.sendall
  for _ = 1, count do
    if not sendall(c, chunk) then fail("sendall failed") end
  end
  check(c:shutdown("write"))
  local reply = check(c:read("a"))
  local seconds = monotime() - t0
  if reply ~= (count * size) .. "\n" then fail("reply %q", reply) end
  report(seconds)
end
client.bulkbuf = client.bulk

function server.dgram()
  local d <close> = check(uxsock.datagram(path))
  local buf = uxsock.buffer(size + 1)  -- room to see a longer datagram
  local recvinto = d.recvinto
  for _ = 1, count do
    local n, err = recvinto(d, buf)
    if n ~= size then fail("a datagram of %s bytes, expected %d", n or err, size) end
  end
  check(d:sendto(tostring(count), path .. ".c"))
end

function client.dgram()
  local msg = ("x"):rep(size)
  local t0 = monotime()
  local d <close> = check(uxsock.datagram(path .. ".c"))
  check(d:connect(path))  -- connected: no address per datagram
  local send = d.send
  for _ = 1, count do
    if not send(d, msg) then fail("send failed") end
  end
  local reply = check(d:recv())
  local seconds = monotime() - t0
  if reply ~= tostring(count) then fail("reply %q", reply) end
  report(seconds)
end

-- dgrambatch: W3 through sendmany and recvmany, BATCH messages a call
local BATCH = 64

function server.dgrambatch()
  local d <close> = check(uxsock.datagram(path))
  local recvmany, got = d.recvmany, 0
  while got < count do
    local msgs, err = recvmany(d, BATCH, size + 1)  -- room to see a longer one
    if not msgs then fail("%s", err) end
    for i = 1, #msgs do
      if #msgs[i] ~= size then fail("a datagram of %d bytes, expected %d", #msgs[i], size) end
    end
    got = got + #msgs
  end
  if got ~= count then fail("received %d datagrams, expected %d", got, count) end
  check(d:sendto(tostring(count), path .. ".c"))
end

function client.dgrambatch()
  local msg, batch = ("x"):rep(size), {}
  for i = 1, BATCH do batch[i] = msg end
  local t0 = monotime()
  local d <close> = check(uxsock.datagram(path .. ".c"))
  check(d:connect(path))
  local sendmany, sent = d.sendmany, 0
  while sent < count do
    if count - sent < BATCH then
      batch = {}
      for i = 1, count - sent do batch[i] = msg end
    end
    sent = sent + check(sendmany(d, batch))
  end
  local reply = check(d:recv())
  local seconds = monotime() - t0
  if reply ~= tostring(count) then fail("reply %q", reply) end
  report(seconds)
end

function server.connect()
  local l <close> = check(uxsock.listen(path, { backlog = 128 }))
  for _ = 1, count do
    local c <close> = check(l:accept())
    check(c:send(check(c:recv(1))))
  end
end

function client.connect()
  local t0 = monotime()
  for _ = 1, count do
    local c <close> = check(uxsock.connect(path))
    check(c:send("x"))
    if check(c:recv(1)) ~= "x" then fail("echo differs") end
  end
  report(monotime() - t0)
end

-- W5: memory per open connection, this side's
function server.handles()
  local l <close> = check(uxsock.listen(path, { backlog = 1024 }))
  local conns = {}
  for i = 1, count do conns[i] = check(l:accept()) end
  local _, _, code = conns[1]:recv(1)  -- the client closes them all at once
  if code ~= uxsock.EOF then fail("expected end of stream") end
  for i = 1, count do conns[i]:close() end
end

function client.handles()
  local seconds, extra, conns = memory.measure(count, function()
    return check(uxsock.connect(path))
  end, monotime)
  report(seconds, extra)
  for i = 1, count do conns[i]:close() end
end

local run = (role == "server" and server or role == "client" and client or {})[workload]
if not run then
  io.stderr:write("error: unknown role or workload: ", role, " ", workload, "\n")
  os.exit(2)
end
run()
