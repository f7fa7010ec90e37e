-- Abstract names (Linux) round-trip whole: every name the kernel can hand
-- out. A property test runs thousands of generated names (1 to 107 bytes
-- after the '@', any bytes, many NULs and 0xFF, trailing NULs, always the
-- edge lengths 1, 2, 106 and 107) through what takes or gives a name:
-- listen, connect, datagram, sendto, sendmany, datagram connect,
-- getsockname, getpeername, recvfrom, recvmanyfrom, recvfds, recvcred,
-- tostring and the error messages; "\0x" and "@x" spell one name.
-- Python's socket module is an independent oracle both ways: the names a
-- Python process binds reach uxsock's recvfrom byte for byte and a reply
-- to them gets back; the names uxsock binds are reached by Python by
-- their raw bytes. Then: messages show a name whole, each NUL inside as
-- "\0"; 108 bytes with the '@' work everywhere and 109 raise.
-- A failure names its seed: UXSOCK_SEED=<seed> sh spec/run <this file>
-- repeats the run's names (h.generator, the same on
-- every Lua; Python's random.Random for Python's names).
-- uxsock has no flag telling Linux: as in 06_names_spec.lua, these tests
-- run everywhere, and elsewhere fail ("abstract socket names need Linux").
local h = require("helpers")
local uxsock = require("uxsock")

local track = h.track
local PYTHON = os.getenv("PYTHON") or "python3"
local SEED = h.seed()
local PROPERTY_NAMES = 5000  -- round trips of the property test
local PYTHON_NAMES = 1000    -- names through Python, each way

local generator = h.generator

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function unhex(s)
  return (s:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

-- a name as messages show it: each NUL after the '@' as the two
-- characters \0
local function label(name)
  local t = { "@" }
  for i = 2, #name do
    local c = name:sub(i, i)
    t[#t + 1] = c == "\0" and "\\0" or c
  end
  return table.concat(t)
end

-- a value for a failure message: a string as its bytes in hex
local function show(v)
  if type(v) == "string" then return string.format("hex %s (%d bytes)", hex(v), #v) end
  return tostring(v)
end

-- this process's own start of names (its pid in 4 bytes): no other run
-- of the spec makes a name that starts so
local PREFIX = "\0uxsock28\0" .. string.char(math.floor(h.pid() / 16777216) % 256,
                                             math.floor(h.pid() / 65536) % 256,
                                             math.floor(h.pid() / 256) % 256,
                                             h.pid() % 256) .. "\255"

-- n bytes, a third of them NUL, many 0xFF and '@'
local function random_bytes(r, n)
  local t = {}
  for i = 1, n do
    local k = r(100)
    t[i] = k < 30 and 0 or k < 45 and 255 or k < 50 and 64 or r(256)
  end
  return string.char(h.unpack(t))
end

local SHAPES = { "random", "prefixed", "nuls", "ffs", "trailing" }
local EDGES = { 1, 2, 106, 107 }
local NEAR_EDGES = { 1, 2, 3, 105, 106, 107 }

-- the bytes after the '@' of a name of n bytes in that shape
local function make_rest(r, n, shape)
  if shape == "nuls" then return ("\0"):rep(n) end
  if shape == "ffs" then return ("\255"):rep(n) end
  if shape == "trailing" then
    local k = 1 + r(n)
    return random_bytes(r, n - k) .. ("\0"):rep(k)
  end
  if shape == "prefixed" and n > #PREFIX then return PREFIX .. random_bytes(r, n - #PREFIX) end
  return random_bytes(r, n)
end

-- case i's length and shape: first every shape at every edge length,
-- then any length (a quarter of them near an edge), mostly random bytes
local function case_shape(r, i)
  local edge_cases = #EDGES * #SHAPES
  if i <= edge_cases then
    return EDGES[(i - 1) % #EDGES + 1], SHAPES[math.floor((i - 1) / #EDGES) + 1]
  end
  local n = r(4) == 0 and NEAR_EDGES[r(#NEAR_EDGES) + 1] or 1 + r(107)
  local k = r(10)
  return n, k < 4 and "random" or k < 8 and "prefixed" or SHAPES[3 + r(3)]
end

-- handles of the case running, closed after it (and after a failure)
local open = {}
local function keep(x, ...)
  if x then open[#open + 1] = x end
  return x, ...
end
local function close_open()
  for _, x in ipairs(open) do x:close() end
  open = {}
end

-- an equality that names the case when it fails (ctx: a string, or a
-- function that makes it then), names in hex
local function context(ctx)
  if type(ctx) == "function" then return ctx() end
  return ctx
end
local function same(expected, got, what, ctx)
  if expected ~= got then
    assert.equal(show(expected), show(got), what .. ": " .. context(ctx))
  end
end
local function ok(v, what, err, ctx)
  if not v then
    assert.is_truthy(v, what .. " failed: " .. tostring(err) .. ": " .. context(ctx))
  end
end

-- the ways to receive one datagram: data (cut to the max given), sender,
-- and what went wrong
local RECEIVERS = {
  { "recvfrom", function(d) return d:recvfrom() end },
  { "recvmanyfrom", function(d)
      local msgs, senders = d:recvmanyfrom(8)
      if not msgs then return nil, nil, senders end
      if #msgs ~= 1 then return nil, nil, #msgs .. " messages" end
      return msgs[1], senders[1]
    end },
  { "recvfds", function(d)
      local data, fds, sender = d:recvfds()
      if not data then return nil, nil, fds end
      if #fds ~= 0 then return nil, nil, #fds .. " descriptors" end
      return data, sender
    end },
  { "recvcred", function(d)
      local data, cred, sender = d:recvcred()
      if not data then return nil, nil, cred end
      return data, sender
    end },
  { "recvfrom(3), too long", function(d)
      local r, err, code, head, sender = d:recvfrom(3)
      if code ~= uxsock.EMSGSIZE then
        return nil, nil, "not cut: " .. show(r) .. " " .. show(err)
      end
      return head, sender
    end, 3 },
}

local SENDERS = {
  { "sendto", function(d, data, to) return d:sendto(data, to) end },
  { "sendmany", function(d, data, to) return d:sendmany({ data }, to) end },
}

-- one generated name through everything; false when it is taken
-- (EADDRINUSE: by another process), to be made again
local function roundtrip(i, rest, probe, home, seed)
  local name, nul = "@" .. rest, "\0" .. rest
  local ctx = string.format("case %d, seed %d (UXSOCK_SEED=%d repeats it), name '@' .. hex %s" ..
                            " (%d bytes after the '@')", i, seed, seed, hex(rest), #rest)
  -- each step takes one spelling or the other by a bit of i
  local function spell(k) return math.floor(i / 2 ^ k) % 2 == 0 and name or nul end
  local kind = i % 3 == 0 and "seqpacket" or "stream"

  -- a listener, a client and the accepted socket
  local l, err, code = keep(uxsock.listen(spell(0), { type = kind }))
  if not l and code == uxsock.EADDRINUSE then return false end
  ok(l, "listen", err, ctx)
  same(name, l:getsockname(), "the listener's getsockname", ctx)
  same(string.format("uxsock.listener (fd %d, %s)", l:getfd(), label(name)), tostring(l),
       "tostring(listener)", ctx)
  l:settimeout(5)
  local c
  c, err = keep(uxsock.connect(spell(1), { type = kind, timeout = 5 }))
  ok(c, "connect", err, ctx)
  same(name, c:getpeername(), "connect's getpeername", ctx)
  local s
  s, err = keep(l:accept())
  ok(s, "accept", err, ctx)
  same(name, s:getsockname(), "the accepted socket's getsockname", ctx)
  close_open()

  -- a datagram socket bound to it
  local d
  d, err, code = keep(uxsock.datagram(spell(6), { timeout = 5 }))
  if not d and code == uxsock.EADDRINUSE then return false end
  ok(d, "datagram", err, ctx)
  same(name, d:getsockname(), "the datagram socket's getsockname", ctx)
  same(string.format("uxsock.datagram (fd %d, %s)", d:getfd(), label(name)), tostring(d),
       "tostring(datagram)", ctx)
  -- to it: delivered, from home
  local send, recv = SENDERS[i % #SENDERS + 1], RECEIVERS[i % #RECEIVERS + 1]
  local payload = "to case " .. i
  local n
  n, err = send[2](probe, payload, spell(2))
  ok(n, send[1], err, ctx)
  local data, from
  data, from, err = recv[2](d)
  same(payload:sub(1, recv[3] or -1), data, recv[1] .. "'s data (" .. tostring(err) .. ")", ctx)
  same(home, from, recv[1] .. "'s sender", ctx)
  -- from it: home sees it as the sender, and a reply to that gets back
  recv = RECEIVERS[(i + 2) % #RECEIVERS + 1]
  payload = "from case " .. i
  n, err = d:sendto(payload, home)
  ok(n, "sendto home", err, ctx)
  data, from, err = recv[2](probe)
  same(payload:sub(1, recv[3] or -1), data, recv[1] .. "'s data (" .. tostring(err) .. ")", ctx)
  same(name, from, recv[1] .. "'s sender", ctx)
  n, err = probe:sendto("reply " .. i, from)
  ok(n, "sendto the sender", err, ctx)
  same("reply " .. i, d:recv(), "the reply to the sender", ctx)
  -- a datagram socket connected to it
  local u = keep(assert(uxsock.datagram()))
  n, err = u:connect(spell(3))
  ok(n, "datagram connect", err, ctx)
  same(name, u:getpeername(), "the connected datagram's getpeername", ctx)
  same(string.format("uxsock.datagram (fd %d, %s)", u:getfd(), label(name)), tostring(u),
       "tostring(connected datagram)", ctx)
  n, err = u:send("connected " .. i)
  ok(n, "send", err, ctx)
  same("connected " .. i, d:recv(), "what the connected datagram sent", ctx)
  close_open()

  -- gone now: the errors name it whole. Only for this process's own
  -- names: another run may have taken a short one meanwhile
  if rest:sub(1, #PREFIX) == PREFIX then
    local r
    r, err, code = probe:sendto("x", spell(4))
    same(nil, r, "sendto a closed name", ctx)
    same(uxsock.ECONNREFUSED, code, "sendto a closed name: code", ctx)
    same("sendto " .. label(name) .. ": Connection refused", err, "sendto's message", ctx)
    r, err, code = uxsock.connect(spell(5), { type = kind })
    same(nil, r, "connect to a closed name", ctx)
    same(uxsock.ECONNREFUSED, code, "connect to a closed name: code", ctx)
    same("connect " .. label(name) .. ": Connection refused", err, "connect's message", ctx)
  end
  return true
end

-- the Python side: 'send' binds datagram sockets on random names and
-- sends from each to uxsock, checking the reply; 'serve' reaches the
-- names uxsock binds by their raw bytes
local PEER = [=[
import errno, os, random, socket, sys

def lengths(rnd, count):
    edges = [1, 2, 106, 107]
    for i in range(count):
        if i < 3 * len(edges):
            yield edges[i % len(edges)]
        elif rnd.randrange(4) == 0:
            yield rnd.choice([1, 2, 3, 105, 106, 107])
        else:
            yield rnd.randint(1, 107)

def random_bytes(rnd, n):
    out = bytearray()
    for _ in range(n):
        k = rnd.randrange(100)
        out.append(0 if k < 30 else 255 if k < 45 else 64 if k < 50 else rnd.randrange(256))
    return bytes(out)

PREFIX = b"py28\0" + os.getpid().to_bytes(4, "big") + b"\xff"

def bind_new(rnd, n):
    """a datagram socket bound to a fresh abstract name of n bytes"""
    for _ in range(1000):
        if n > len(PREFIX) and rnd.randrange(2) == 0:
            raw = PREFIX + random_bytes(rnd, n - len(PREFIX))
        elif rnd.randrange(8) == 0:
            raw = b"\0" * n
        else:
            raw = random_bytes(rnd, n)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.bind(b"\0" + raw)
            return s, raw
        except OSError as e:
            s.close()
            if e.errno != errno.EADDRINUSE:
                raise
    raise RuntimeError("no free name of %d bytes" % n)

def send(target_hex, count, seed):
    target = b"\0" + bytes.fromhex(target_hex)
    rnd = random.Random(seed)
    for i, n in enumerate(lengths(rnd, count)):
        s, raw = bind_new(rnd, n)
        with s:
            s.settimeout(20)
            problem = ""
            if s.getsockname() != b"\0" + raw:
                problem += " python's getsockname " + s.getsockname().hex()
            msg = b"%d %s" % (i, raw.hex().encode())
            s.sendto(msg, target)
            reply, addr = s.recvfrom(1000)
            if reply != b"re " + msg:
                problem += " reply %r" % reply
            if addr != target:
                problem += " reply from %r" % addr
            print("%d %s%s" % (i, raw.hex(), problem), flush=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"done", target)
    print("ok %d" % count, flush=True)

TYPES = {b"stream": socket.SOCK_STREAM, b"seqpacket": socket.SOCK_SEQPACKET}

def serve(home_hex, seed):
    home = b"\0" + bytes.fromhex(home_hex)
    rnd = random.Random(seed)
    ctrl, _ = bind_new(rnd, rnd.choice([1, 107, rnd.randint(1, 107)]))
    ctrl.settimeout(30)
    ctrl.sendto(b"ready", home)
    count = 0
    while True:
        data, addr = ctrl.recvfrom(1000)
        if data == b"done":
            break
        what, name_hex = data.split(b" ", 1)
        target = b"\0" + bytes.fromhex(name_hex.decode())
        problem = b""
        if what == b"dgram":
            if addr != target:
                problem = b" sender %r" % addr
            ctrl.sendto(b"py " + name_hex + problem, target)
        else:
            if addr != home:
                problem = b" sender %r" % addr
            with socket.socket(socket.AF_UNIX, TYPES[what]) as c:
                c.settimeout(20)
                c.connect(target)
                if c.getpeername() != target:
                    problem += b" python's getpeername %r" % c.getpeername()
                c.sendall(b"py " + name_hex + problem)
        print("%s %s%s" % (what.decode(), name_hex.decode(), problem.decode("latin-1")),
              flush=True)
        count += 1
    print("ok %d" % count, flush=True)

if sys.argv[1] == "send":
    send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
else:
    serve(sys.argv[2], int(sys.argv[3]))
]=]

-- the end of what the Python peer printed so far, for a failure message
local function last_lines(job)
  local out = h.readfile(job.out) or ""
  local lines = {}
  for line in out:gmatch("[^\n]+") do
    lines[#lines + 1] = line
    if #lines > 6 then table.remove(lines, 1) end
  end
  return "\n" .. table.concat(lines, "\n")
end

-- runs the Python peer with these arguments; fn(job) talks to it. The
-- process is killed and reaped whatever happens (spec/children.lua);
-- returns its output and exit code
local function with_python(args, fn)
  local script = h.tmpdir() .. "/abstract_peer.py"
  h.writefile(script, PEER)
  local job = h.spawn(PYTHON .. " " .. h.q(script) .. " " .. args)
  fn(job)
  local out, rc = job:wait(20)
  return out, rc
end

describe("abstract names (Linux)", function()
  lazy_teardown(h.cleanup)
  after_each(function()
    close_open()
    h.close_tracked()
  end)

  it("every generated name round-trips through every call (property)", function()
    local r = generator(SEED)
    local home = h.abstract("home") .. "\0\255\0"
    local probe = track(assert(uxsock.datagram(home, { timeout = 5 })))
    local done, again, lengths = 0, 0, {}
    local i = 0
    while done < PROPERTY_NAMES do
      i = i + 1
      local n, shape = case_shape(r, i)
      local rest = make_rest(r, n, shape)
      local tries = 0
      while not roundtrip(i, rest, probe, home, SEED) do
        close_open()
        tries, again = tries + 1, again + 1
        assert.is_true(tries < 100, "no free name of " .. n .. " bytes after 100 tries")
        rest = make_rest(r, n, n > #PREFIX and "prefixed" or "random")
      end
      done = done + 1
      lengths[n] = (lengths[n] or 0) + 1
    end
    for _, n in ipairs({ 1, 2, 106, 107 }) do
      assert.is_true((lengths[n] or 0) >= #SHAPES, "length " .. n .. ", seed " .. SEED)
    end
    local covered = 0
    for n = 1, 107 do
      if lengths[n] then covered = covered + 1 end
    end
    assert.is_true(covered >= 100, covered .. " lengths of 107 covered, seed " .. SEED)
    assert.is_true(again < PROPERTY_NAMES / 10, again .. " names taken, seed " .. SEED)
  end)

  it("Python's names (raw bytes) come from recvfrom whole, and replies reach them", function()
    local srv = h.abstract("pysrv") .. "\0\255"
    local server = track(assert(uxsock.datagram(srv, { timeout = 20 })))
    local seen, k = {}, 0
    local out, rc = with_python(string.format("send %s %d %d", hex(srv:sub(2)), PYTHON_NAMES, SEED),
                                function(job)
      while true do
        k = k + 1
        local recv = RECEIVERS[k % 4 + 1]  -- not the one that cuts
        local data, from, err = recv[2](server)
        if not data then
          assert.is_truthy(data, recv[1] .. ": " .. tostring(err) .. "; python's last lines: " ..
                           last_lines(job))
        end
        if data == "done" then break end
        local i, name_hex = data:match("^(%d+) (%x*)$")
        assert.is_truthy(i, "from python: " .. show(data))
        local ctx = string.format("python's name %s, seed %d (UXSOCK_SEED repeats it)",
                                  name_hex, SEED)
        same("@" .. unhex(name_hex), from, recv[1] .. "'s sender", ctx)
        local n, serr = server:sendto("re " .. data, from)
        ok(n, "sendto the sender", serr, ctx)
        seen[#seen + 1] = data
      end
    end)
    assert.equal(0, rc, out)
    assert.equal(PYTHON_NAMES, #seen)
    assert.equal(table.concat(seen, "\n") .. "\nok " .. PYTHON_NAMES .. "\n", out)
  end)

  it("Python reaches the names uxsock binds by their raw bytes", function()
    local r = generator(SEED + 1)
    local home_name = h.abstract("pyhome") .. "\0"
    local home = track(assert(uxsock.datagram(home_name, { timeout = 20 })))
    local lines = {}
    local out, rc = with_python(string.format("serve %s %d", hex(home_name:sub(2)), SEED),
                                function(job)
      local function said() return "; python's last lines: " .. last_lines(job) end
      local ready, ctrl = home:recvfrom()
      assert.equal("ready", ready, said())
      assert.matches("^@", ctrl)
      local i = 0
      while #lines < PYTHON_NAMES do
        i = i + 1
        local n, shape = case_shape(r, i)
        local rest = make_rest(r, n, shape)
        local name, name_hex = "@" .. rest, hex(rest)
        local function ctx()
          return string.format("name '@' .. hex %s, seed %d (UXSOCK_SEED repeats it)%s",
                               name_hex, SEED, said())
        end
        local what = ({ "dgram", "stream", "seqpacket" })[i % 3 + 1]
        local spelling = i % 2 == 0 and name or "\0" .. rest
        local x, err, code
        if what == "dgram" then
          x, err, code = keep(uxsock.datagram(spelling, { timeout = 20 }))
        else
          x, err, code = keep(uxsock.listen(spelling, { type = what }))
        end
        if x then
          if what == "dgram" then
            local sent
            sent, err = x:sendto("dgram " .. name_hex, ctrl)
            ok(sent, "sendto python", err, ctx)
            local data, from = x:recvfrom()
            same("py " .. name_hex, data, "python's datagram", ctx)
            same(ctrl, from, "python's datagram's sender", ctx)
          else
            x:settimeout(20)
            local sent
            sent, err = home:sendto(what .. " " .. name_hex, ctrl)
            ok(sent, "sendto python", err, ctx)
            local s
            s, err = keep(x:accept())
            ok(s, "accept", err, ctx)
            same(name, s:getsockname(), "the accepted socket's getsockname", ctx)
            s:settimeout(20)
            local data = what == "stream" and s:read("a") or s:recv()
            same("py " .. name_hex, data, "what python sent", ctx)
          end
          lines[#lines + 1] = what .. " " .. name_hex
        else
          assert.equal(uxsock.EADDRINUSE, code, err)  -- taken: another one
        end
        close_open()
      end
      home:sendto("done", ctrl)
    end)
    assert.equal(0, rc, out)
    assert.equal(table.concat(lines, "\n") .. "\nok " .. PYTHON_NAMES .. "\n", out)
  end)

  it("tostring and error messages show a name whole, each NUL inside as \\0", function()
    local base = h.abstract("show")
    local function check(name, shown)
      assert.equal(shown, label(name))  -- the spec's own oracle, checked once
      local l = track(assert(uxsock.listen("\0" .. name:sub(2))))
      assert.equal(string.format("uxsock.listener (fd %d, %s)", l:getfd(), shown), tostring(l))
      local c = track(assert(uxsock.connect(name)))
      assert.equal(string.format("uxsock.stream (fd %d, %s)", c:getfd(), shown), tostring(c))
      local s = track(assert(l:accept()))
      assert.equal(string.format("uxsock.stream (fd %d, %s)", s:getfd(), shown), tostring(s))
      local r, err, code = uxsock.listen(name)
      assert.is_nil(r)
      assert.equal(uxsock.EADDRINUSE, code)
      assert.equal("bind " .. shown .. ": Address already in use", err)
      l:close()
      assert.equal("uxsock.listener (closed, " .. shown .. ")", tostring(l))
      -- nothing there now: a refused connect, by either spelling
      for _, spelling in ipairs({ name, "\0" .. name:sub(2) }) do
        for _, kind in ipairs({ "stream", "seqpacket" }) do
          r, err, code = uxsock.connect(spelling, { type = kind })
          assert.is_nil(r)
          assert.equal(uxsock.ECONNREFUSED, code)
          assert.equal("connect " .. shown .. ": Connection refused", err)
        end
        local d = track(assert(uxsock.datagram()))
        r, err, code = d:sendto("x", spelling)
        assert.is_nil(r)
        assert.equal(uxsock.ECONNREFUSED, code)
        assert.equal("sendto " .. shown .. ": Connection refused", err)
        r, err, code = d:connect(spelling)
        assert.is_nil(r)
        assert.equal(uxsock.ECONNREFUSED, code)
        assert.equal("connect " .. shown .. ": Connection refused", err)
      end
      -- a datagram socket of that name, and one connected to it
      local d = track(assert(uxsock.datagram(name)))
      assert.equal(string.format("uxsock.datagram (fd %d, %s)", d:getfd(), shown), tostring(d))
      r, err, code = uxsock.datagram(name)
      assert.is_nil(r)
      assert.equal(uxsock.EADDRINUSE, code)
      assert.equal("bind " .. shown .. ": Address already in use", err)
      d:settimeout(0)
      r, err, code = d:recvfrom()
      assert.is_nil(r)
      assert.equal(uxsock.EAGAIN, code)
      assert.equal("recvfrom " .. shown .. ": would block", err)
      local u = track(assert(uxsock.datagram()))
      assert(u:connect(name))
      assert.equal(string.format("uxsock.datagram (fd %d, %s)", u:getfd(), shown), tostring(u))
      d:close()
      r, err, code = u:send("gone")
      assert.is_nil(r)
      assert.equal(uxsock.ECONNREFUSED, code)
      assert.equal("send " .. shown .. ": Connection refused", err)
    end
    -- NULs inside and at the end
    check(base .. "\0ab\0\0cd\0", base .. "\\0ab\\0\\0cd\\0")
    -- NULs first after the '@'
    check("@\0\0" .. base:sub(2) .. "\0", "@\\0\\0" .. base:sub(2) .. "\\0")
    -- 107 bytes after the '@', NULs to the last byte
    local long = (base .. "-long\0" .. ("\255\0x"):rep(40)):sub(1, 107) .. "\0"
    assert.equal(108, #long)
    local shown = label(long)
    local nuls = 0
    for j = 2, #long do
      if long:byte(j) == 0 then nuls = nuls + 1 end
    end
    assert.equal(108 + nuls, #shown)  -- each NUL two characters, none left out
    assert.equal(base .. "-long\\0", shown:sub(1, #base + 7))
    assert.equal("\\0", shown:sub(-2))
    check(long, shown)
    -- a name without NULs is shown as it is
    check(base .. "-plain", base .. "-plain")
  end)

  it("108 bytes with the '@' work in every call; 109 raise, naming the argument", function()
    -- 108 bytes: the '@', a unique start, then NULs and 0xFF to a NUL
    local function full(tag)
      local name = (h.abstract(tag) .. ("\0\255"):rep(60)):sub(1, 107) .. "\0"
      assert.equal(108, #name)
      return name
    end
    local lname, dname, oname = full("l108"), full("d108"), full("o108")
    for _, kind in ipairs({ "stream", "seqpacket" }) do
      local l = track(assert(uxsock.listen(lname, { type = kind })))
      same(lname, l:getsockname(), "listen's getsockname", kind)
      local c = track(assert(uxsock.connect("\0" .. lname:sub(2), { type = kind })))
      same(lname, c:getpeername(), "connect's getpeername", kind)
      same(lname, track(assert(l:accept())):getsockname(), "accepted's getsockname", kind)
      l:close()
    end
    local d = track(assert(uxsock.datagram("\0" .. dname:sub(2))))
    same(dname, d:getsockname(), "datagram's getsockname", "108 bytes")
    local o = track(assert(uxsock.datagram(oname)))
    same(oname, o:getsockname(), "datagram's getsockname", "108 bytes")
    assert.equal(2, o:sendto("to", dname))
    local data, from = d:recvfrom()
    assert.equal("to", data)
    same(oname, from, "recvfrom's sender", "108 bytes")
    assert.equal(1, o:sendmany({ "many" }, "\0" .. dname:sub(2)))
    local msgs, senders = d:recvmanyfrom(4)
    assert.same({ "many" }, msgs)
    assert.equal(1, #senders)
    same(oname, senders[1], "recvmanyfrom's sender", "108 bytes")
    assert.equal(4, d:sendto("back", oname))
    data, from = o:recvfrom()
    assert.equal("back", data)
    same(dname, from, "recvfrom's sender", "108 bytes")
    local u = track(assert(uxsock.datagram()))
    assert.is_true(u:connect(dname))
    same(dname, u:getpeername(), "connected datagram's getpeername", "108 bytes")
    assert.equal(9, u:send("connected"))
    assert.equal("connected", d:recv())

    local TOO_LONG = "abstract socket name too long (%d bytes, the limit is 108 with its '@')"
    local file = assert(io.open("/dev/null"))
    -- (no tail calls below: LuaJIT would name the function '?')
    for _, long in ipairs({ dname .. "q", "\0" .. dname:sub(2) .. "\0", "@" .. ("\0"):rep(199) }) do
      local expect = string.format(TOO_LONG, #long)
      for _, case in ipairs({
        { "bad argument #1 to 'listen'", function() uxsock.listen(long) end },
        { "bad argument #1 to 'connect'", function() uxsock.connect(long) end },
        { "bad argument #1 to 'datagram'", function() uxsock.datagram(long) end },
        { "bad argument #3 to 'sendto'", function() d.sendto(d, "x", long) end },
        { "bad argument #3 to 'sendmany'", function() d.sendmany(d, { "x" }, long) end },
        { "bad argument #4 to 'sendfds'", function() d.sendfds(d, "x", { file }, long) end },
        { "bad argument #2 to 'connect'", function() d.connect(d, long) end },
      }) do
        local okay, err = pcall(case[2])
        assert.is_false(okay, case[1])
        assert.truthy(tostring(err):find(case[1], 1, true), err)
        assert.truthy(tostring(err):find(expect, 1, true), err)
      end
    end
    file:close()
    -- nothing was sent or bound by the calls that raised
    d:settimeout(0)
    assert.equal(uxsock.EAGAIN, select(3, d:recvfrom()))
  end)

  it("the empty abstract name '@' (nothing after it) round-trips too", function()
    -- one name for every process: another run may hold it a moment
    local l, err, code
    for _ = 1, 100 do
      l, err, code = uxsock.listen("@")
      if l or code ~= uxsock.EADDRINUSE then break end
      os.execute("sleep 0.02")
    end
    l = track(assert(l, err))
    assert.equal("@", l:getsockname())
    assert.equal(string.format("uxsock.listener (fd %d, @)", l:getfd()), tostring(l))
    local c = track(assert(uxsock.connect("\0")))
    assert.equal("@", c:getpeername())
    assert.equal("@", track(assert(l:accept())):getsockname())
  end)
end)
