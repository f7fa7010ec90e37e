-- uxsock.buffer and recvinto: receiving with no string per read, sending
-- from a buffer (Lua 5.1 syntax: runs on every version).
local h = require("helpers")
local uxsock = require("uxsock")

local track = h.track

describe("uxsock.buffer", function()
  after_each(h.close_tracked)

  it("is zeroed, has its size as #, and names itself", function()
    local b = uxsock.buffer(8)
    assert.equal(8, #b)
    assert.equal(("\0"):rep(8), b:sub())
    assert.equal("uxsock.buffer (8 bytes)", tostring(b))
    assert.is_nil(uxsock.type(b))  -- a buffer is no socket handle
  end)

  it("sub, byte and find follow string.sub's positions", function()
    local b = uxsock.buffer(11)
    assert.equal(12, b:fill("hello world"))
    local s = "hello world"
    for _, r in ipairs({ { 1, 5 }, { -5, -1 }, { 0, 3 }, { 4, 100 }, { 8, 2 }, { -100, 2 } }) do
      assert.equal(s:sub(r[1], r[2]), b:sub(r[1], r[2]))
      assert.same({ s:byte(r[1], r[2]) }, { b:byte(r[1], r[2]) })
    end
    assert.same({ s:byte(7) }, { b:byte(7) })
    assert.same({ s:byte(-1) }, { b:byte(-1) })
    assert.same({ 7, 11 }, { b:find("world") })
    assert.same({ 3, 4 }, { b:find("ll") })
    assert.is_nil(b:find("ll", 5))
    assert.is_nil(b:find("x"))
    for _, init in ipairs({ 1, 5, 12, -3, -100, 0 }) do  -- the empty string
      assert.same({ s:find("", init, true) }, { b:find("", init) })
    end
    assert.is_nil(b:find("", 13))  -- past #b + 1 (as string.find from 5.2 on)
    assert.is_nil(b:find("l."))  -- plain: "." is no pattern
  end)

  it("fill puts a string at a position and refuses what does not fit", function()
    local b = uxsock.buffer(4)
    assert.equal(4, b:fill("ab", 2))
    assert.equal("\0ab\0", b:sub())
    assert.error_matches(function() b:fill("abc", 3) end, "does not fit")
    assert.error_matches(function() b:fill("a", 0) end, "out of the buffer")
    assert.equal("\0ab\0", b:sub())  -- a refused fill changed nothing
  end)

  it("raises naming the argument for a bad size or a wrong type", function()
    assert.error_matches(function() uxsock.buffer(0) end, "#1.-size must be positive")
    assert.error_matches(function() uxsock.buffer(-1) end, "#1.-size must be positive")
    assert.error_matches(function() uxsock.buffer("x") end, "#1")
    assert.error_matches(function() uxsock.buffer(1.5) end, "#1")
    assert.error_matches(function() uxsock.buffer(4):sub("x") end, "#1")
  end)
end)

describe("recvinto", function()
  after_each(h.close_tracked)

  it("receives stream bytes into the buffer, at positions i..j", function()
    local a, c = track(uxsock.socketpair())
    local b = uxsock.buffer(16)
    assert(a:send("hello"))
    assert.equal(5, c:recvinto(b))
    assert.equal("hello", b:sub(1, 5))
    assert(a:send("0123456789"))
    assert.equal(3, c:recvinto(b, 6, 8))  -- only three bytes fit there
    assert.equal("hello012", b:sub(1, 8))
    assert.equal(7, c:recvinto(b, -7))    -- the rest, at the last seven bytes
    assert.equal("3456789", b:sub(-7))
  end)

  it("gives bytes a reader buffered first, then EOF as recv does", function()
    local a, c = track(uxsock.socketpair())
    local b = uxsock.buffer(16)
    assert(a:sendall("line\nrest"))
    assert.equal("line", c:read("l"))
    assert.equal(4, c:recvinto(b))
    assert.equal("rest", b:sub(1, 4))
    a:close()
    local n, err, code = c:recvinto(b)
    assert.is_nil(n)
    assert.equal(uxsock.EOF, code)
    assert.matches("^recvinto: end of stream$", err)
  end)

  it("times out, and gives EAGAIN with settimeout(0)", function()
    local _, c = track(uxsock.socketpair())
    local b = uxsock.buffer(4)
    c:settimeout(0)
    assert.equal(uxsock.EAGAIN, select(3, c:recvinto(b)))
    c:settimeout(0.05)
    assert.equal(uxsock.ETIMEDOUT, select(3, c:recvinto(b)))
  end)

  it("takes one datagram; a zero-length one is 0; a long one is EMSGSIZE with its head", function()
    local a, c = track(uxsock.socketpair("datagram"))
    local b = uxsock.buffer(8)
    assert(a:send("abc"))
    assert(a:send(""))
    assert(a:send("0123456789"))
    assert(a:send("next"))
    assert.equal(3, c:recvinto(b))
    assert.equal(0, c:recvinto(b))
    local n, err, code, head = c:recvinto(b)
    assert.is_nil(n)
    assert.equal(uxsock.EMSGSIZE, code)
    assert.matches("message too long %(10 bytes, max 8%)", err)
    assert.equal(8, head)
    assert.equal("01234567", b:sub())
    assert.equal(4, c:recvinto(b))
    assert.equal("next", b:sub(1, 4))
  end)

  it("takes one seqpacket message, and EOF when the peer closes", function()
    local a, c = track(uxsock.socketpair("seqpacket"))
    local b = uxsock.buffer(8)
    assert(a:send("one"))
    assert(a:send("two!"))
    assert.equal(3, c:recvinto(b))
    assert.equal(4, c:recvinto(b, 5))
    assert.equal("one\0two!", b:sub())
    a:close()
    assert.equal(uxsock.EOF, select(3, c:recvinto(b)))
  end)

  it("raises for a wrong buffer, an empty range or a closed handle", function()
    local _, c = track(uxsock.socketpair())
    local b = uxsock.buffer(4)
    assert.error_matches(function() c:recvinto("x") end,
      "#1.-uxsock.buffer expected, got string")
    assert.error_matches(function() c:recvinto(b, 3, 2) end, "#2.-empty range")
    assert.error_matches(function() c:recvinto(b, 5) end, "#2.-empty range")
    c:close()
    assert.error_matches(function() c:recvinto(b) end, "attempt to use a closed stream")
  end)
end)

describe("sending from a buffer", function()
  after_each(h.close_tracked)

  it("send, sendall and sendto take a buffer and its range as a string", function()
    local a, c = track(uxsock.socketpair())
    local b = uxsock.buffer(10)
    b:fill("0123456789")
    assert.equal(10, a:send(b))
    assert.equal(4, a:sendall(b, 2, 4))  -- the index of the last byte sent
    assert.equal(2, a:send(b, -2))
    assert.equal("0123456789" .. "123" .. "89", c:read(15))
    local d1 = track(uxsock.datagram(nil, { autobind = true }))
    local d2 = track(uxsock.datagram(nil, { autobind = true }))
    assert.equal(10, d1:sendto(b, d2:getsockname()))
    assert.equal("0123456789", d2:recv())
  end)

  it("a bulk transfer through one buffer keeps every byte", function()
    local a, c = track(uxsock.socketpair())
    local chunk = uxsock.buffer(65536)
    local pattern = ("uxsock"):rep(math.floor(65536 / 6) + 1):sub(1, 65536)
    chunk:fill(pattern)
    local rounds, got, bad = 32, 0, 0
    local into = uxsock.buffer(65536)
    a:settimeout(5)
    c:settimeout(5)
    for _ = 1, rounds do
      assert.equal(65536, a:sendall(chunk))
      local n = 0
      while n < 65536 do
        local k = assert(c:recvinto(into, n + 1))
        if into:sub(n + 1, n + k) ~= pattern:sub(n + 1, n + k) then bad = bad + 1 end
        n = n + k
      end
      got = got + n
    end
    assert.equal(rounds * 65536, got)
    assert.equal(0, bad)
  end)
end)
