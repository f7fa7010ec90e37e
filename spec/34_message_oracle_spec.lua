-- Message sockets behave as Python's socket module: a differential test.
-- A Python process (tests/msg_oracle.py, stdlib only; one per test, so a
-- failure leaves the next test in step) serves the cases of a test over a
-- control stream it connects to (lines of words, names in hex; received
-- bytes as a length when they are the sent message's head, which Python
-- checks, so no 200 KiB of hex crosses). A case is a generated list of
-- messages (0 to 200 KiB, binary bytes with NULs, empty ones; each built
-- from a short random block repeated, so only the block crosses the
-- control stream) and the max each one is received with, on a datagram
-- or a seqpacket socket, in one of two directions:
--  * Python to uxsock: Python sends every message to a uxsock socket (a
--    datagram socket bound here, or a seqpacket connection accepted here)
--    and the same messages, from the same sender, to an oracle socket of
--    its own; once all are queued, this side receives them with random
--    operations (recv, recvfrom, recvinto, recvmany, recvmanyfrom) while
--    Python receives the oracle's with recvmsg(max). Each uxsock answer
--    must be the oracle's: the same bytes (the head, for a message longer
--    than max), EMSGSIZE exactly when recvmsg set MSG_TRUNC, the sender
--    recvfrom named (a path, an abstract name, "" for an unbound sender),
--    and recvmany(n, max) must give min(n, queued) messages: all queued, so
--    nothing may be missing, and nothing kept back is lost (the next
--    operation must find the next message). After the last message: EAGAIN
--    from a non-blocking recv as Python's BlockingIOError errno, or, when
--    the sender closed (seqpacket), end of stream and EPIPE on send as
--    Python's recv b"" and BrokenPipeError errno.
--  * uxsock to Python: this side sends the messages (send, sendto or
--    sendmany, from a bound, abstract or unbound socket) to a Python
--    receiver, and Python sends the same from a Python socket to an oracle
--    receiver; what Python's receiver got from uxsock must be what the
--    oracle got from Python, and the sender's name getsockname's.
-- Fixed cases compare error codes: sendto a path nobody binds (ENOENT), a
-- dead socket file or abstract name (ECONNREFUSED), a datagram over the
-- send buffer (EMSGSIZE), errno for errno.
-- Differences allowed (README's rules, not Python's):
--  * a message longer than max: uxsock fails with nil, msg, EMSGSIZE and
--    the head (recvinto: its length); Python returns the head silently
--    (MSG_TRUNC in recvmsg's flags);
--  * an empty seqpacket message from recv or recvinto is end of stream
--    (nil, msg, EOF); in a recvmany batch it is "" , or it ends the list
--    and the next call reports it as end of stream (owed), or, first in a
--    batch, the call reports it as end of stream; either way it is taken
--    as exactly one message and nothing after it is lost;
--  * names: abstract names are "@name" where Python has b"\0name", an
--    unbound sender is "" where Python gives None;
--  * end of stream is nil, msg, uxsock.EOF where Python's recv gives b"".
-- Seqpacket from Python runs twice: without empty messages, and with them
-- (empty messages inside recvmany batches: what the receive path's fix,
-- a72f8ef, makes right; before it that test fails).
-- A datagram socket queues at most max_dgram_qlen (10 by default) messages
-- from an unconnected sender (more would make the sender wait), so
-- datagram cases hold at most that many, and at most 10;
-- a case's bytes stay far below the send buffers (4 MiB asked), so every
-- message is queued before the receiving starts and nothing waits.
-- A failure names its seed: UXSOCK_SEED=<seed> sh spec/run <this file>
-- repeats the run.
local h = require("helpers")
local uxsock = require("uxsock")

local PYTHON = os.getenv("PYTHON") or "/usr/bin/python3"
local SEED = h.seed()
local CASES = h.cases(2500, 20)  -- per test: five tests of generated cases
local TOTAL = 240 * 1024         -- a case's bytes at most
local QLEN = math.min(10, tonumber(h.readfile("/proc/sys/net/unix/max_dgram_qlen") or "") or 10)

local function hex(s)
  if s == "" then return "-" end
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function unhex(x)
  if x == "-" then return "" end
  return (x:gsub("%x%x", function(d) return string.char(tonumber(d, 16)) end))
end

local show = h.show

local function words(line)
  local t = {}
  for w in tostring(line):gmatch("%S+") do t[#t + 1] = w end
  return t
end

describe("message sockets against Python's socket module", function()
  local listener, ctl, job, r, where

  local function send(line)
    assert(ctl:sendall(line .. "\n"))
  end

  local function read()
    local line, msg = ctl:read("l")
    assert(line, "the Python oracle stopped: " .. tostring(msg) .. "\n" ..
           tostring(job and h.readfile(job.out)))
    return line
  end

  -- a failure names the case, the seed and the difference
  local function check(ok, what)
    if not ok then
      error(string.format("%s (seed %d: UXSOCK_SEED=%d sh spec/run %s)",
                          where .. ": " .. what, SEED, SEED,
                          "spec/34_message_oracle_spec.lua"), 2)
    end
  end

  before_each(function()
    local dir = h.tmpdir()
    local cpath = dir .. "/control.sock"
    listener = assert(uxsock.listen(cpath, { timeout = 30 }))
    job = h.spawn(PYTHON .. " tests/msg_oracle.py " .. h.q(cpath) .. " " .. h.q(dir))
    ctl = assert(listener:accept())
    assert(ctl:settimeout(60))
  end)

  -- every test has an oracle process of its own: a failure leaves the
  -- control stream out of step, and the next test starts afresh
  after_each(function()
    if ctl then ctl:close() end
    if listener then listener:close() end
    -- the oracle process ends with the test (spec/children.lua)
    ctl, listener, job = nil, nil, nil
  end)

  lazy_setup(function() r = h.generator(SEED) end)
  lazy_teardown(h.cleanup)

  -- {======================================================
  -- Generated cases
  -- =======================================================

  -- a message's size: empty, small, a page or so, up to 200 KiB
  local function size(room, noempty)
    local c = r(20)
    local n
    if c < 3 then n = 0
    elseif c < 12 then n = r(65)
    elseif c < 18 then n = r(4097)
    else n = r(200 * 1024 + 1) end
    -- (room may go a few bytes below 0: the buffers have megabytes)
    if n > room then n = r(math.max(1, math.min(65, room + 1))) end
    if n == 0 and noempty then n = 1 + r(64) end
    return n
  end

  -- a message: a block of 1 to 16 random bytes (some all NUL) repeated
  local function message(room, noempty)
    local n, block = size(room, noempty), {}
    local len, nul = 1 + r(16), r(8) == 0
    for i = 1, len do block[i] = string.char(nul and 0 or r(256)) end
    local b = table.concat(block)
    return string.rep(b, math.floor(n / len) + 1):sub(1, n), b
  end

  -- a max for a message of n bytes: exact, one short, larger, any
  local function maxfor(n)
    local c = r(6)
    if c == 0 then return math.max(1, n)
    elseif c == 1 then return math.max(1, n - 1)
    elseif c == 2 then return n + 1 + r(100)
    elseif c == 3 then return 1 + r(n + 1)
    else return n + r(3) + 1 end
  end

  -- a case: messages, their blocks, and receive operations over them
  -- {op, count, max}; maxes[i] is the max message i is received with
  local function gencase(kind, ops_of, noempty)
    local nmax = kind == "datagram" and QLEN or 70
    local count = r(nmax + 1)
    local msgs, blocks, room = {}, {}, TOTAL
    for i = 1, count do
      msgs[i], blocks[i] = message(room, noempty)
      room = room - #msgs[i]
    end
    local ops, maxes, i = {}, {}, 1
    while i <= count do
      local op = ops_of[1 + r(#ops_of)]
      local k = 1
      if op == "recvmany" or op == "recvmanyfrom" then
        k = math.min(1 + r(70), count - i + 1)
      end
      local m = 1
      for j = i, i + k - 1 do m = math.max(m, #msgs[j]) end
      m = maxfor(r(2) == 0 and m or #msgs[i + r(k)])
      -- n may exceed k only for the last operation: then fewer are queued
      local extra = (i + k - 1 == count and r(3) == 0) and 1 + r(3) or 0
      ops[#ops + 1] = { op = op, k = k, max = m, n = k + extra }
      for j = i, i + k - 1 do maxes[j] = m end
      i = i + k
    end
    return msgs, blocks, ops, maxes
  end

  -- a case in short, for a failure: message sizes, then operations
  local function summary(msgs, ops)
    local sizes, o = {}, {}
    for i, m in ipairs(msgs) do sizes[i] = #m end
    for i, op in ipairs(ops) do
      o[i] = op.op .. "(" .. (op.op:match("many") and op.n .. ", " or "") .. op.max .. ")"
    end
    return "[sizes " .. table.concat(sizes, " ") .. "; " .. table.concat(o, " ") .. "]"
  end

  local function describe_case(lines, msgs, blocks, maxes, closed)
    for i = 1, #msgs do
      lines[#lines + 1] = string.format("msg %d %s", #msgs[i], hex(blocks[i]))
      lines[#lines + 1] = "max " .. maxes[i]
    end
    if closed then lines[#lines + 1] = "close" end
    lines[#lines + 1] = "end"
    send(table.concat(lines, "\n"))
  end

  -- the oracle's answer for the next message of the case: data,
  -- truncated?, sender. Python says "r LEN 1 TRUNC ADDR" when the bytes it
  -- received are the first LEN of the message sent (the usual case: no hex
  -- of 200 KiB crosses), else "r LEN 0 TRUNC ADDR HEX"
  local sent = { msgs = {}, i = 0 }
  local function oracle()
    local w = words(read())
    check(w[1] == "r" and #w >= 5, "oracle line " .. table.concat(w, " "))
    sent.i = sent.i + 1
    local data = w[3] == "1" and sent.msgs[sent.i]:sub(1, tonumber(w[2])) or unhex(w[6])
    return data, w[4] == "1", unhex(w[5])
  end

  -- {======================================================
  -- Python sends, uxsock receives
  -- =======================================================

  -- one message by op (recv, recvfrom, recvinto) against the oracle
  local function one(sock, kind, op, max)
    local want, trunc, sender = oracle()
    local a, b, c, d, e
    local buf
    if op == "recvinto" then
      buf = uxsock.buffer(max)
      a, b, c, d = sock:recvinto(buf)
    elseif op == "recvfrom" then
      a, b, c, d, e = sock:recvfrom(max)
    else
      a, b, c, d = sock:recv(max)
    end
    local got = op == "recvinto" and buf and (a or d) and buf:sub(1, a or d) or (a or d)
    if trunc then
      check(a == nil and c == uxsock.EMSGSIZE,
            string.format("%s(%d) of a message of more bytes: %s, %s, %s", op, max,
                          show(a), show(b), show(c)))
      check(got == want, op .. " head " .. show(got) .. " ~= oracle's " .. show(want))
      if op == "recvfrom" then
        check(e == sender, "sender " .. show(e) .. " ~= " .. show(sender))
      end
    elseif kind == "seqpacket" and want == "" then
      check(a == nil and c == uxsock.EOF,
            op .. " of an empty seqpacket message: " .. show(a) .. ", " .. show(c))
    else
      check(a ~= nil, string.format("%s(%d): nil, %s, %s (oracle: %s)", op, max, show(b),
                                    show(c), show(want)))
      check(got == want, op .. " gave " .. show(got) .. ", oracle " .. show(want))
      if op == "recvinto" then check(a == #want, "recvinto returned " .. show(a)) end
      if op == "recvfrom" then
        check(b == sender, "sender " .. show(b) .. " ~= " .. show(sender))
      end
    end
  end

  -- a recvmany(n, max) expected to take k messages (all are queued)
  local function many(sock, kind, o)
    local left, calls = o.k, 0
    local expect = {}
    for i = 1, o.k do
      local d, t, s = oracle()
      expect[i] = { d = d, t = t, s = s }
    end
    local pos = 1
    while left > 0 do
      calls = calls + 1
      check(calls <= o.k + 1, "recvmany keeps returning less")
      local n = left + (calls == 1 and (o.n - o.k) or 0)
      local msgs, msg, code, list, senders, failsenders
      if o.op == "recvmanyfrom" then
        msgs, msg, code, list, failsenders = sock:recvmanyfrom(n, o.max)
      else
        msgs, msg, code, list = sock:recvmany(n, o.max)
      end
      if msgs == nil and code == uxsock.EOF then
        check(kind == "seqpacket" and expect[pos].d == "",
              string.format("%s(%d, %d): end of stream where the oracle has message %d of %d: %s",
                            o.op, n, o.max, pos, o.k, show(expect[pos].d)))
        pos, left = pos + 1, left - 1
      else
        local anytrunc = false
        if msgs == nil then
          check(code == uxsock.EMSGSIZE and type(list) == "table",
                string.format("%s(%d, %d): nil, %s, %s", o.op, n, o.max, show(msg), show(code)))
          msgs, senders = list, failsenders
          if o.op == "recvmanyfrom" then
            check(type(senders) == "table", "recvmanyfrom's EMSGSIZE gave no senders")
          end
        else
          senders = msg
        end
        check(#msgs >= 1 and #msgs <= left,
              string.format("%s(%d, %d) gave %d messages, %d are queued",
                            o.op, n, o.max, #msgs, left))
        for j = 1, #msgs do
          local e = expect[pos + j - 1]
          if e.t then anytrunc = true end
          check(msgs[j] == e.d, string.format("%s message %d of %d: %s, oracle %s", o.op,
                                              pos + j - 1, o.k, show(msgs[j]), show(e.d)))
          if o.op == "recvmanyfrom" and senders then
            check(senders[j] == e.s, "sender " .. show(senders[j]) .. " ~= " .. show(e.s))
          end
        end
        check(anytrunc == (code == uxsock.EMSGSIZE),
              string.format("%s: EMSGSIZE %s, oracle truncated %s", o.op,
                            tostring(code == uxsock.EMSGSIZE), tostring(anytrunc)))
        pos, left = pos + #msgs, left - #msgs
        if left > 0 then
          -- fewer than queued: only an empty seqpacket message, owed as
          -- end of stream, may end a batch early
          check(kind == "seqpacket" and expect[pos].d == "",
                string.format("%s(%d, %d) gave %d messages of the %d queued; next: %s",
                              o.op, n, o.max, #msgs, #msgs + left, show(expect[pos].d)))
        end
      end
    end
  end

  local function after(sock, closed)
    local w = words(read())
    if closed then
      check(w[1] == "eof", "oracle after close: " .. table.concat(w, " "))
      local a, _, c = sock:recv()
      check(a == nil and c == uxsock.EOF,
            "recv after the peer closed: " .. show(a) .. ", " .. show(c))
      local p = words(read())
      local s, _, e = sock:send("x")
      check(p[1] == "epipe" and s == nil and e == tonumber(p[2]),
            "send after the peer closed: " .. show(s) .. ", " .. show(e) .. "; Python: " ..
            table.concat(p, " "))
    else
      check(w[1] == "again", "oracle on an empty socket: " .. table.concat(w, " "))
      sock:settimeout(0)
      local a, _, c = sock:recv()
      check(a == nil and c == uxsock.EAGAIN and c == tonumber(w[2]),
            "recv on an empty socket: " .. show(a) .. ", " .. show(c) .. "; Python errno " .. w[2])
      local m, _, c2 = sock:recvmany(4)
      check(m == nil and c2 == uxsock.EAGAIN, "recvmany on an empty socket: " .. show(c2))
      sock:settimeout(20)
    end
  end

  local function py2ux(kind, ops_of, i, state)
    where = string.format("%s py2ux case %d", kind, i)
    local msgs, blocks, ops, maxes = gencase(kind, ops_of, state.noempty)
    sent.msgs, sent.i = msgs, 0
    where = where .. " " .. summary(msgs, ops)
    local senders = { "path", "abstract", "unbound" }
    local closed = kind == "seqpacket" and r(2) == 0
    local lines = { string.format("case %s py2ux %s %s", kind, senders[1 + r(3)], hex(state.name)) }
    describe_case(lines, msgs, blocks, maxes, closed)
    local w = words(read())
    check(w[1] == "sent", "Python: " .. table.concat(w, " "))
    local sock = state.sock
    if kind == "seqpacket" then
      sock = assert(state.listener:accept())
      sock:settimeout(20)
    end
    for _, o in ipairs(ops) do
      if o.op == "recvmany" or o.op == "recvmanyfrom" then many(sock, kind, o)
      else one(sock, kind, o.op, o.max) end
    end
    after(sock, closed)
    check(read() == "done", "Python did not end the case")
    if kind == "seqpacket" then sock:close() end
  end

  it("datagrams from Python: recv, recvfrom, recvinto, recvmany, recvmanyfrom", function()
    local name = h.sockpath("d")
    local d = assert(uxsock.datagram(name, { timeout = 20 }))
    local ok, err = pcall(function()
      for i = 1, CASES do
        py2ux("datagram", { "recv", "recvfrom", "recvinto", "recvmany", "recvmanyfrom" }, i,
              { name = name, sock = d })
      end
    end)
    d:close()
    assert(ok, err)
  end)

  local function seqpacket_from_python(noempty)
    local name = h.abstract("q")
    local l = assert(uxsock.listen(name, { type = "seqpacket", timeout = 20 }))
    local ok, err = pcall(function()
      for i = 1, CASES do
        py2ux("seqpacket", { "recv", "recvinto", "recvmany" }, i,
              { name = name, listener = l, noempty = noempty })
      end
    end)
    l:close()
    assert(ok, err)
  end

  it("seqpacket messages from Python, none empty: recv, recvinto, recvmany", function()
    seqpacket_from_python(true)
  end)

  -- an empty seqpacket message in a recvmany batch: before the receive
  -- path's fix (a72f8ef) the batch ended there and the messages after it
  -- were lost, or, the empty one first, end of stream dropped the rest
  it("seqpacket messages from Python, empty ones among them: recv, recvinto, recvmany", function()
    seqpacket_from_python(false)
  end)

  -- {======================================================
  -- uxsock sends, Python receives
  -- =======================================================

  local function ux2py(kind, i)
    where = string.format("%s ux2py case %d", kind, i)
    local msgs, blocks, _, maxes = gencase(kind, { "recv" })
    local closed = kind == "seqpacket" and r(2) == 0
    describe_case({ string.format("case %s ux2py - -", kind) }, msgs, blocks, maxes, closed)
    local w = words(read())
    check(w[1] == "ready", "Python: " .. table.concat(w, " "))
    local to = unhex(w[2])
    local u, name
    if kind == "datagram" then
      local c = r(3)
      if c == 0 then u = assert(uxsock.datagram(h.sockpath("u")))
      elseif c == 1 then u = assert(uxsock.datagram(h.abstract("u")))
      else u = assert(uxsock.datagram()) end
    else
      u = assert(uxsock.connect(to, { type = "seqpacket" }))
    end
    local ok, err = pcall(function()
      u:settimeout(20)
      assert(u:setoption("sndbuf", 4 * 1024 * 1024))
      name = assert(u:getsockname())
      if r(2) == 0 then
        local n, msg = u:sendmany(msgs, kind == "datagram" and to or nil)
        check(n == #msgs, "sendmany: " .. show(n) .. ", " .. show(msg))
      else
        for j, m in ipairs(msgs) do
          local n, msg
          if kind == "datagram" then n, msg = u:sendto(m, to) else n, msg = u:send(m) end
          check(n == #m, string.format("send of message %d: %s, %s", j, show(n), show(msg)))
        end
      end
      if closed then u:close() end
      send("go " .. hex(name))
      for j = 1, #msgs do
        local g, o = words(read()), words(read())
        check(g[1] == "g" and o[1] == "o", "Python: " .. g[1] .. " " .. tostring(o[1]))
        check(g[2] == o[2] and g[4] == o[4],
              string.format("message %d of %d bytes (max %d) from uxsock came as %s bytes " ..
                            "(truncated %s), from Python as %s (%s)", j, #msgs[j], maxes[j],
                            g[2], g[4], o[2], o[4]))
        check(g[3] == "1" and o[3] == "1", "message " .. j .. " is not what was sent: " ..
              table.concat(g, " "))
        if kind == "datagram" then
          check(unhex(g[5]) == name,
                "Python saw sender " .. show(unhex(g[5])) .. ", not " .. show(name))
        end
      end
      local ga, oa = read(), read()
      check(ga == "g" .. oa:sub(2), "after the last message: " .. ga .. " / " .. oa)
      check(read() == "done", "Python did not end the case")
    end)
    u:close()
    assert(ok, err)
  end

  it("datagrams to Python: sendto, sendmany, from bound, abstract and unbound sockets", function()
    for i = 1, CASES do ux2py("datagram", i) end
  end)

  it("seqpacket messages to Python: send, sendmany, close", function()
    for i = 1, CASES do ux2py("seqpacket", i) end
  end)

  -- {======================================================
  -- Error codes
  -- =======================================================

  local function python_err(kind, path, n)
    send(string.format("err %s %s %d", kind, hex(path), n))
    return words(read())
  end

  it("sendto fails with Python's errno: no such path, a dead socket, too large", function()
    where = "errors"
    local d = assert(uxsock.datagram())
    local dead = h.sockpath("dead")
    local gone = assert(uxsock.datagram(dead, { unlink = false }))
    gone:close()
    local live = h.sockpath("live")
    local l = assert(uxsock.datagram(live))
    local big = 2 * 1024 * 1024
    local function same(path, n, code)
      local a, _, c = d:sendto(string.rep("e", n), path)
      local p = python_err("datagram", path, n)
      check(p[1] == "errno" and a == nil and c == tonumber(p[2]),
            string.format("sendto %s (%d bytes): uxsock %s, %s; Python %s", path, n, show(a),
                          show(c), table.concat(p, " ")))
      check(c == code, "code " .. show(c))
    end
    same(h.sockpath("nobody"), 1, uxsock.ENOENT)
    same(dead, 1, uxsock.ECONNREFUSED)
    same(h.abstract("nobody"), 1, uxsock.ECONNREFUSED)
    same(live, big, uxsock.EMSGSIZE)
    -- and what works for Python works for uxsock
    local p = python_err("datagram", live, 5)
    check(p[1] == "ok" and p[2] == "5", "Python's sendto: " .. table.concat(p, " "))
    check(l:recv() == "eeeee", "the datagram Python sent")
    d:close()
    l:close()
  end)
end)
