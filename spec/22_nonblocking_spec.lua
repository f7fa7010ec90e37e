-- Non-blocking mode: settimeout(0) makes every call return at once; a
-- call that would wait returns nil, "...: would block", EAGAIN, and
-- partial sends say how much went.
local h = require("helpers")
local uxsock = require("uxsock")
local gettime = require("socket").gettime

local track = h.track

-- (busted's assert passes on a trailing nil: skip it)
local function nonblocking(...)
  for i = 1, select("#", ...) do
    local x = select(i, ...)
    if x then assert(x:settimeout(0)) end
  end
  return ...
end

-- calls f(...) and checks it returned at once with EAGAIN
local function would_block(op, f, ...)
  local t0 = gettime()
  local r = h.pack(f(...))
  assert.is_true(gettime() - t0 < 0.5)
  assert.is_nil(r[1])
  assert.equal(op .. ": would block", r[2])
  assert.equal(uxsock.EAGAIN, r[3])
  return r
end

-- fills a's send buffer (and b's receive buffer); returns the bytes sent
local function fill(a)
  local total, chunk = 0, ("f"):rep(65536)
  while true do
    local n = a:send(chunk)
    if not n then return total end
    total = total + n
  end
end

describe("non-blocking mode", function()
  lazy_teardown(h.cleanup)
  after_each(h.close_tracked)

  it("settimeout(0) is reported by gettimeout", function()
    local a = track(assert(uxsock.socketpair()))
    assert.is_true(a:settimeout(0))
    assert.equal(0, a:gettimeout())
  end)

  it("every stream call that would wait returns EAGAIN at once", function()
    local a, b = nonblocking(track(assert(uxsock.socketpair("stream"))))
    local buf = uxsock.buffer(16)
    would_block("recv", b.recv, b)
    would_block("read", b.read, b, "l")
    would_block("read", b.read, b, 4)
    would_block("recvinto", b.recvinto, b, buf)
    fill(a)
    would_block("send", a.send, a, "more")
    local r = would_block("sendall", a.sendall, a, "more")
    assert.equal(0, r[4])
  end)

  it("accept and connect return EAGAIN at once", function()
    local path = h.sockpath("nb")
    local l = nonblocking(track(assert(uxsock.listen(path, { backlog = 1 }))))
    would_block("accept " .. path, l.accept, l)
    -- fill the backlog, then a connect with timeout 0 cannot wait
    for _ = 1, 8 do
      local c = uxsock.connect(path, { timeout = 0 })
      if not c then break end
      track(c)
    end
    would_block("connect " .. path, uxsock.connect, path, { timeout = 0 })
    assert.is_truthy(l:accept())
  end)

  it("datagram and seqpacket calls return EAGAIN at once", function()
    local _, d2 = nonblocking(track(assert(uxsock.socketpair("datagram"))))
    local _, q2 = nonblocking(track(assert(uxsock.socketpair("seqpacket"))))
    local path = h.sockpath("nbd")
    local server = track(assert(uxsock.datagram(path)))
    local client = nonblocking(track(assert(uxsock.datagram())))
    would_block("recv", d2.recv, d2)
    would_block("recvfrom", d2.recvfrom, d2)
    would_block("recvinto", d2.recvinto, d2, uxsock.buffer(8))
    would_block("recvmany", d2.recvmany, d2, 8)
    would_block("recvmanyfrom", d2.recvmanyfrom, d2, 8)
    would_block("recv", q2.recv, q2)
    would_block("recvmany", q2.recvmany, q2, 8)
    local sent = 0
    while client:sendto("x", path) do sent = sent + 1 end
    assert.is_true(sent > 0)
    would_block("sendto " .. path, client.sendto, client, "x", path)
    local r = would_block("sendmany " .. path, client.sendmany, client, { "x", "y" }, path)
    assert.equal(0, r[4])
    assert.is_truthy(server:recv())
  end)

  it("a partial send reports how much went, and nothing is lost", function()
    local a, b = nonblocking(track(assert(uxsock.socketpair("stream"))))
    local data = {}
    for i = 1, 40000 do data[i] = string.char(65 + i % 26) end
    data = table.concat(data):rep(50)  -- 2,000,000 bytes
    local n = assert(a:send(data))
    assert.is_true(n > 0 and n < #data)
    local received = {}
    local function drain()
      while true do
        local s = b:recv()
        if not s then return end
        received[#received + 1] = s
      end
    end
    -- sendall stops where the buffer is full and says where (the index of
    -- the last byte sent): go on after it
    local last = n
    while last < #data do
      local ok, err, code, at = a:sendall(data, last + 1)
      if ok then last = ok else
        assert.equal(uxsock.EAGAIN, code, err)
        last = at
      end
      drain()
    end
    drain()
    assert.equal(data, table.concat(received))
  end)

  it("a read cut short keeps its bytes for the next try", function()
    local a, b = track(assert(uxsock.socketpair("stream")))
    b:settimeout(0)
    a:send("partial li")
    would_block("read", b.read, b, "l")
    would_block("read", b.read, b, 20)
    a:send("ne\nnext")
    assert.equal("partial line", b:read("l"))
    assert.equal("next", b:recv())
  end)
end)
