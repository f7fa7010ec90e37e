-- tests/load.lua: many clients, many messages of random size, through an
-- echo server built on uxsock.loop; every byte checked both ways.
--
--   lua5.4 tests/load.lua [--clients 1000] [--messages 1000] [--procs 0]
--                         [--min 1] [--max 65536] [--seed 1] [--timeout 600]
--                         [--server own|example]
--
-- The server is one loop task per connection. A message is a 16-byte
-- header (length, client, sequence number, offset) and a payload of
-- 'length' bytes (uniform in min..max) cut from a pseudo-random blob at
-- 'offset', so either side can know what every byte must be without
-- sending it twice:
--   - the server compares each payload received with the blob's bytes
--     (every byte, client to server) and echoes header and payload;
--   - the client compares each reply with its request (every byte,
--     server to client) and its header with what it sent;
--   - both keep a running checksum of the payloads and counts of
--     messages and bytes; at the end the client sends a frame of length
--     0 and the server answers with its figures, which must be the
--     client's.
-- --procs 0 runs the clients as tasks in the server's process; --procs P
-- starts P child processes (this script, --role clients) that share the
-- clients out, so the server serves other processes. One message per
-- client is in flight at a time; all clients run at once.
-- Prints one line of figures; exits 0 when every byte was right, 1 (and
-- why) otherwise. --corrupt 1 (the server changes a byte of its third
-- reply) and --corrupt 2 (a client changes a byte of its third request)
-- check the checks: the run must fail.
-- --server example runs examples/multi_echo_server.lua (Lua 5.4) in a
-- process of its own instead: a message is then a line, the blob's
-- bytes with each newline made a NUL, and the client compares the echoed
-- line with its request, which checks every byte both ways (no server
-- figures: the example only echoes). Plain Lua 5.1 syntax: any Lua
-- uxsock builds for.
local here = arg[0]:gsub("[^/]*$", "")
if here == "" then here = "./" end
local BUILD = os.getenv("UXSOCK_BUILD") or "build"
package.cpath = here .. "../" .. BUILD .. "/?.so;" .. package.cpath
package.path = here .. "../lua/?.lua;" .. package.path
local uxsock = require("uxsock")
local loop = require("uxsock.loop")

local floor = math.floor
local unpack = table.unpack or unpack  -- luacheck: ignore (5.1)

-- {======================================================
-- Options
-- =======================================================

local opt = { clients = 1000, messages = 1000, procs = 0, min = 1, max = 65536, seed = 1,
              timeout = 600, role = "all", path = nil, first = 1, corrupt = 0,
              server = "own" }
do
  local i = 1
  while i <= #arg do
    local k = arg[i]:match("^%-%-(%w+)$")
    if not k or opt[k] == nil and k ~= "path" then
      io.stderr:write("usage: tests/load.lua [--clients N] [--messages M] [--procs P] " ..
                      "[--min B] [--max B] [--seed S] [--timeout T] [--server own|example]\n")
      os.exit(2)
    end
    local v = arg[i + 1]
    opt[k] = tonumber(v) or v
    i = i + 2
  end
end
assert(opt.min >= 1 and opt.max >= opt.min and opt.max <= 1048576, "1 <= min <= max <= 1 MiB")
assert(opt.server == "own" or opt.server == "example", "--server own|example")
local LINES = opt.server == "example"
assert(not (LINES and opt.corrupt == 1), "--corrupt 1 needs our own server")

-- }======================================================


-- {======================================================
-- The blob, frames and checksums
-- =======================================================

-- the bytes payloads are cut from: Park-Miller, exact in a double, so
-- every Lua and every process makes the same blob from the same seed
local BLOBLEN = 1048576 + opt.max
local blob, prefix
do
  local x = opt.seed % 2147483646 + 1
  local t, chunk = {}, {}
  prefix = { [0] = 0 }  -- prefix[i]: the sum of bytes 1..i, every 64th i
  local sum = 0
  for i = 1, BLOBLEN do
    x = x * 16807 % 2147483647
    local b = x % 256
    chunk[#chunk + 1] = b
    sum = sum + b
    if i % 64 == 0 then prefix[i / 64] = sum end
    if #chunk == 4096 then
      t[#t + 1] = string.char(unpack(chunk))
      chunk = {}
    end
  end
  if #chunk > 0 then t[#t + 1] = string.char(unpack(chunk)) end
  blob = table.concat(t)
  if LINES then blob = blob:gsub("\n", "\0") end  -- a message is a line
end

-- the sum of the blob's bytes off+1 .. off+len, from the prefix sums of
-- 64-byte steps and the bytes at the ends
local byte = string.byte
local function sumof(off, len)
  local function upto(n)  -- bytes 1..n
    local q = floor(n / 64)
    local s = prefix[q]
    local from = q * 64 + 1
    if from <= n then
      local bytes = { byte(blob, from, n) }
      for i = 1, #bytes do s = s + bytes[i] end
    end
    return s
  end
  return upto(off + len) - upto(off)
end

-- the running checksum of a client's payloads, in order
local M31 = 2147483647
local function mix(h, seq, off, len)
  local d = (sumof(off, len) + len * 65599 + off * 31 + seq) % M31
  return (h * 1000003 + d) % M31
end

local function u32(n)
  return string.char(floor(n / 16777216) % 256, floor(n / 65536) % 256,
                     floor(n / 256) % 256, n % 256)
end
local function getu32(s, i)
  local a, b, c, d = byte(s, i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end
local function header(len, client, seq, off)
  return u32(len) .. u32(client) .. u32(seq) .. u32(off)
end

-- }======================================================


-- the payload with one byte changed, for --corrupt
local function flip(payload)
  local i = math.floor(#payload / 2) + 1
  local b = (byte(payload, i) + 1) % 256
  if b == 10 then b = 11 end  -- not a newline: a line stays one line
  return payload:sub(1, i - 1) .. string.char(b) ..
         payload:sub(i + 1)
end

local failures = {}
local function fail(msg)
  failures[#failures + 1] = msg
  error(msg, 0)
end

-- {======================================================
-- The server
-- =======================================================

local served = { conns = 0, msgs = 0, bytes = 0, done = 0, replies = 0 }

local function serve(conn)
  local msgs, bytes, h = 0, 0, 0
  while true do
    local hd, err = conn:read(16)
    if not hd then fail("server: read header: " .. tostring(err)) end
    local len, client, seq, off = getu32(hd, 1), getu32(hd, 5), getu32(hd, 9), getu32(hd, 13)
    if len == 0 then  -- the end: our figures for the client to check
      local figures = ("%d %d %d"):format(msgs, bytes, h)
      assert(conn:sendall(header(#figures, client, seq, 0) .. figures))
      break
    end
    if len > opt.max or off + len > BLOBLEN then
      fail(("server: bad header (client %d, seq %d: %d bytes at %d)"):format(client, seq,
                                                                          len, off))
    end
    local payload, rerr = conn:read(len)
    if not payload then fail("server: read payload: " .. tostring(rerr)) end
    if payload ~= blob:sub(off + 1, off + len) then
      fail(("server: client %d, message %d: the payload is not what was sent"):format(
           client, seq))
    end
    msgs, bytes, h = msgs + 1, bytes + len, mix(h, seq, off, len)
    served.replies = served.replies + 1
    if opt.corrupt == 1 and served.replies == 3 then payload = flip(payload) end
    local ok, serr = conn:sendall(hd)
    if ok then ok, serr = conn:sendall(payload) end
    if not ok then fail("server: send: " .. tostring(serr)) end
  end
  conn:close()
  served.msgs, served.bytes = served.msgs + msgs, served.bytes + bytes
  served.done = served.done + 1
end

local function server(listener, nclients)
  loop.spawn(function()
    while served.conns < nclients do
      local conn, err = listener:accept()
      if not conn then fail("server: accept: " .. tostring(err)) end
      served.conns = served.conns + 1
      loop.spawn(serve, conn)
    end
    listener:close()
  end)
end

-- }======================================================


-- {======================================================
-- The clients
-- =======================================================

local got = { clients = 0, msgs = 0, sent = 0, received = 0 }

-- the end of a client's run with our server: its figures must be ours
local function checkfigures(c, id, sent, h)
  assert(c:sendall(header(0, id, opt.messages + 1, 0)))
  local rh, rerr = c:read(16)
  if not rh then fail(("client %d: read figures: %s"):format(id, tostring(rerr))) end
  local figures = assert(c:read(getu32(rh, 1)))
  local want = ("%d %d %d"):format(opt.messages, sent, h)
  if figures ~= want then
    fail(("client %d: the server counted %s, the client %s"):format(id, figures, want))
  end
end

local function client(path, id)
  local c, err = loop.connect(path, { timeout = opt.timeout })
  if not c then fail(("client %d: connect: %s"):format(id, tostring(err))) end
  local h, sent, received = 0, 0, 0
  for seq = 1, opt.messages do
    local len = math.random(opt.min, opt.max)
    local off = math.random(0, BLOBLEN - len)
    local hd = LINES and "" or header(len, id, seq, off)
    local eol = LINES and "\n" or ""
    local payload = blob:sub(off + 1, off + len)
    local wire = payload .. eol
    if opt.corrupt == 2 and seq == 3 then wire = flip(payload) .. eol end
    payload = payload .. eol
    local ok, serr = c:sendall(hd .. wire)
    if not ok then fail(("client %d: send: %s"):format(id, tostring(serr))) end
    sent = sent + len
    local reply, rerr
    if not LINES then
      local rh
      rh, rerr = c:read(16)
      if not rh then fail(("client %d: read: %s"):format(id, tostring(rerr))) end
      if rh ~= hd then
        fail(("client %d, message %d: the reply's header differs"):format(id, seq))
      end
    end
    reply, rerr = c:read(LINES and "L" or len)
    if not reply then fail(("client %d: read: %s"):format(id, tostring(rerr))) end
    if reply ~= payload then
      fail(("client %d, message %d: the reply is not the request"):format(id, seq))
    end
    received = received + len
    h = mix(h, seq, off, len)
  end
  if not LINES then checkfigures(c, id, sent, h) end
  c:close()
  got.clients, got.msgs = got.clients + 1, got.msgs + opt.messages
  got.sent, got.received = got.sent + sent, got.received + received
end

local dir  -- the server's directory, removed on the way out

local function quit(msg)
  io.stderr:write("load: ", msg, "\n")
  if dir then os.execute("rm -rf '" .. dir .. "'") end
  os.exit(1)
end

-- runs the loop until every task ended, in slices (Ctrl-C between two);
-- what a task raised ends the process, its first line said
local function runall(deadline)
  while true do
    local done, ok, err, code = pcall(loop.run, 1)
    if not done then quit(tostring(ok):match("^[^\n]*")) end
    if ok then return end
    if code ~= uxsock.ETIMEDOUT then quit(tostring(err)) end
    if uxsock.monotime() > deadline then
      quit(("not done after %d s: %d tasks left"):format(opt.timeout, loop.count()))
    end
  end
end

-- }======================================================


local t0 = uxsock.monotime()
local deadline = t0 + opt.timeout
math.randomseed(opt.seed + opt.first)

if opt.role == "clients" then
  for id = opt.first, opt.first + opt.clients - 1 do loop.spawn(client, opt.path, id) end
  runall(deadline)
  print(("clients %d msgs %d sent %d received %d"):format(got.clients, got.msgs, got.sent,
                                                          got.received))
  os.exit(0)
end

dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 '" .. dir .. "'"))
local path = dir .. "/load.sock"
local LUA = os.getenv("LUA") or "lua5.4"

-- runs cmd; a task gathers its output and gives it, and whether it
-- exited well, to done(out, ok)
local function child(cmd, done)
  local f = assert(io.popen(cmd, "r"))
  loop.spawn(function()
    local out = {}
    while true do
      assert(loop.wait(f, "r", opt.timeout))
      local line = f:read("*l")
      if not line then break end
      out[#out + 1] = line
    end
    done(table.concat(out, " | "), f:close())  -- one line: runall shows the first
  end)
end

local function startclients()
  if opt.procs == 0 then
    for id = 1, opt.clients do loop.spawn(client, path, id) end
  else
    -- the clients shared out among child processes; a task per child
    -- waits for its report
    local per = math.ceil(opt.clients / opt.procs)
    local first = 1
    while first <= opt.clients do
      local n = math.min(per, opt.clients - first + 1)
      local cmd = table.concat({ LUA, arg[0], "--role", "clients", "--server", opt.server,
                                 "--path", path, "--first", first, "--clients", n,
                                 "--messages", opt.messages, "--min", opt.min, "--max", opt.max,
                                 "--seed", opt.seed, "--timeout", opt.timeout,
                                 "--corrupt", opt.corrupt }, " ")
      child(cmd, function(out, ok)
        local c, m, s, r = out:match("clients (%d+) msgs (%d+) sent (%d+) received (%d+)")
        if not c or ok == false then fail("a client process failed: " .. out) end
        got.clients, got.msgs = got.clients + tonumber(c), got.msgs + tonumber(m)
        got.sent, got.received = got.sent + tonumber(s), got.received + tonumber(r)
      end)
      first = first + n
    end
  end
end

local listener
if LINES then
  -- the example serves opt.clients and our probe, which waits for it
  child(table.concat({ LUA, here .. "../examples/multi_echo_server.lua", path,
                       opt.clients + 1, "2>&1" }, " "), function(out, ok)
    if ok == false or not out:find("served " .. (opt.clients + 1) .. " clients", 1, true) then
      fail("the example server failed: " .. out)
    end
    served.done = opt.clients
  end)
  loop.spawn(function()
    local probe
    repeat
      probe = uxsock.connect(path)
      if not probe then loop.sleep(0.05) end
    until probe or uxsock.monotime() > deadline
    if not probe then fail("the example server never listened at " .. path) end
    probe:close()
    startclients()
  end)
else
  listener = assert(loop.listen(path, { backlog = math.max(opt.clients, 128) }))
  server(listener, opt.clients)
  startclients()
end


runall(deadline)
local secs = uxsock.monotime() - t0
if listener then listener:close() end
os.execute("rm -rf '" .. dir .. "'")

local want = opt.clients * opt.messages
local problems = {}
if served.done ~= opt.clients then
  problems[#problems + 1] = "connections served: " .. served.done
end
if got.clients ~= opt.clients then problems[#problems + 1] = "clients done: " .. got.clients end
if got.msgs ~= want or got.received ~= got.sent then
  problems[#problems + 1] = ("clients: %d messages, %d bytes sent, %d echoed back"):format(
                            got.msgs, got.sent, got.received)
end
-- our server counts what it checked; the example counts nothing, and
-- there the echo, equal to each request, checked the bytes it received
if not LINES and (served.msgs ~= want or served.bytes ~= got.sent) then
  problems[#problems + 1] = ("server: %d messages, %d bytes"):format(served.msgs, served.bytes)
end
local checked = (LINES and got.sent or served.bytes) + got.received
local mb = got.sent / 1048576
print(("load: %d clients x %d messages (%d..%d B)%s in %s: %d messages, %.1f MiB each way, " ..
       "%.1f MiB verified in all, %.1f s, %.0f MiB/s echoed, %s"):format(
       opt.clients, opt.messages, opt.min, opt.max,
       LINES and " through examples/multi_echo_server.lua" or "",
       opt.procs > 0 and (opt.procs .. " client processes") or
         LINES and "one client process" or "one process",
       got.msgs, mb, checked / 1048576, secs, mb / secs,
       #problems == 0 and "every byte right" or "FAILED"))
if #problems > 0 then
  io.stderr:write("load: ", table.concat(problems, "; "), "\n")
  os.exit(1)
end
