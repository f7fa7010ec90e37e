-- Batched messages: sendmany, recvmany and recvmanyfrom on datagram and
-- seqpacket sockets (sendmmsg/recvmmsg on Linux).
local h = require("helpers")
local uxsock = require("uxsock")

local track = h.track

local function pair(kind)
  return track(assert(uxsock.socketpair(kind)))
end

describe("batches", function()
  lazy_teardown(h.cleanup)
  after_each(h.close_tracked)

  it("sendmany sends every message of a list as its own message", function()
    local a, b = pair("datagram")
    local buf = uxsock.buffer(4)
    buf:fill("buff")
    assert.equal(4, a:sendmany({ "one", "", ("x"):rep(3000), buf }))
    assert.same({ "one", "", ("x"):rep(3000), "buff" }, { b:recv(), b:recv(), b:recv(), b:recv() })
    assert.equal(0, a:sendmany({}))
  end)

  it("recvmany takes what is queued, up to n, without waiting after the first", function()
    local a, b = pair("datagram")
    local sent = {}
    for i = 1, 150 do sent[i] = ("m%d"):format(i) .. ("."):rep(i) end
    assert.equal(150, a:sendmany(sent))
    local got = {}
    repeat
      local list = assert(b:recvmany(64, 1000))
      assert.is_true(#list >= 1 and #list <= 64)
      for _, m in ipairs(list) do got[#got + 1] = m end
    until #got == 150
    assert.same(sent, got)
    b:settimeout(0)
    assert.equal(uxsock.EAGAIN, select(3, b:recvmany(10)))
  end)

  it("recvmany returns a short list when fewer are queued", function()
    local a, b = pair("seqpacket")
    a:sendmany({ "x", "y", "z" })
    assert.same({ "x", "y" }, b:recvmany(2))
    assert.same({ "z" }, b:recvmany(100))
  end)

  it("a batch in flight on a full queue keeps every message, in order", function()
    -- the receiver's queue holds few datagrams (net.unix.max_dgram_qlen):
    -- sendmany waits and goes on while a child process reads
    local path = h.sockpath("batchq")
    local server = track(assert(uxsock.datagram(path)))
    local child = h.spawn(h.luacmd([[
      local uxsock = require("uxsock")
      local c = assert(uxsock.datagram())
      local msgs = {}
      for i = 1, 1000 do msgs[i] = tostring(i) end
      assert(c:sendmany(msgs, arg[1]) == 1000)
    ]], path))
    local got = {}
    server:settimeout(10)
    while #got < 1000 do
      for _, m in ipairs(assert(server:recvmany(1000, 16))) do got[#got + 1] = m end
    end
    for i = 1, 1000 do assert.equal(tostring(i), got[i]) end
    assert.same({ "", 0 }, { child:wait() })
  end)

  it("recvmanyfrom names each sender", function()
    local path = h.sockpath("many")
    local server = track(assert(uxsock.datagram(path)))
    local c1 = track(assert(uxsock.datagram(h.sockpath("c1"))))
    local c2 = track(assert(uxsock.datagram()))
    assert.equal(2, c1:sendmany({ "a", "b" }, path))
    assert.equal(1, c2:sendmany({ "c" }, path))
    local msgs, senders = server:recvmanyfrom(10)
    assert.same({ "a", "b", "c" }, msgs)
    assert.same({ c1:getsockname(), c1:getsockname(), "" }, senders)
  end)

  it("a message longer than max is reported, and no message is lost", function()
    local a, b = pair("datagram")
    a:sendmany({ "short", ("L"):rep(40), "after" })
    local ok, err, code, msgs = b:recvmany(10, 8)
    assert.is_nil(ok)
    assert.equal(uxsock.EMSGSIZE, code)
    assert.matches("message 2 longer than max %(8 bytes%)", err)
    assert.same({ "short", "LLLLLLLL", "after" }, msgs)
  end)

  it("seqpacket: end of stream ends the list, then is returned", function()
    local a, b = pair("seqpacket")
    a:sendmany({ "p", "q" })
    a:close()
    assert.same({ "p", "q" }, b:recvmany(10))
    local ok, err, code = b:recvmany(10)
    assert.is_nil(ok)
    assert.equal(uxsock.EOF, code)
    assert.matches("end of stream", err)
  end)

  it("failures return nil, msg, code and how many went", function()
    local a, b = pair("seqpacket")
    b:close()
    local ok, err, code, sent = a:sendmany({ "x", "y" })
    assert.is_nil(ok)
    assert.equal(uxsock.EPIPE, code)
    assert.matches("^sendmany", err)
    assert.equal(0, sent)
    local d = track(assert(uxsock.datagram()))
    ok, err, code, sent = d:sendmany({ "x" }, h.sockpath("nobody"))
    assert.is_nil(ok)
    assert.matches("^sendmany .*nobody.*: ", err)
    assert.equal(uxsock.ENOENT, code)
    assert.equal(0, sent)
  end)

  it("a timeout bounds the whole batch", function()
    local a = pair("datagram")
    a:settimeout(0.05)
    local msgs = {}
    for i = 1, 1000 do msgs[i] = ("z"):rep(1000) end
    local ok, _, code, sent = a:sendmany(msgs)
    assert.is_nil(ok)
    assert.equal(uxsock.ETIMEDOUT, code)
    assert.is_true(sent > 0 and sent < 1000)
  end)

  it("raises for argument mistakes, naming the argument", function()
    local a, b = pair("datagram")
    local q = pair("seqpacket")
    local s = pair("stream")
    assert.error_matches(function() a:sendmany("x") end, "#1.*table expected")
    assert.error_matches(function() a:sendmany({ "x", 5 }) end,
      "#1.*msgs%[2%]: string or buffer expected, got number")
    local many = {}
    for i = 1, 1025 do many[i] = "x" end
    assert.error_matches(function() a:sendmany(many) end, "more than 1024 messages")
    assert.error_matches(function() q:sendmany({ "x" }, "/tmp/x") end, "peer only")
    assert.error_matches(function() a:sendmany({ "x" }, "") end, "empty socket name")
    assert.error_matches(function() b:recvmany(0) end, "n must be 1 to 1024")
    assert.error_matches(function() b:recvmany(1025) end, "n must be 1 to 1024")
    assert.error_matches(function() b:recvmany() end, "number expected")
    assert.error_matches(function() b:recvmany(1, 0) end, "max must be positive")
    assert.error_matches(function() b:recvmany(1024, 1024 * 1024) end, "64 MiB")
    assert.is_nil(s.sendmany)
    assert.is_nil(s.recvmany)
    assert.is_nil(q.recvmanyfrom)
    a:close()
    assert.error_matches(function() a:sendmany({ "x" }) end, "closed datagram")
  end)
end)
