-- Seqpacket sockets: connected like streams, but every send is one message.
local h = require("helpers")
local uxsock = require("uxsock")

local track = h.track

-- client and server side of a seqpacket connection through a listener
local function connected()
  local path = h.sockpath("sq")
  local l = track(assert(uxsock.listen(path, { type = "seqpacket" })))
  local c = track(assert(uxsock.connect(path, { type = "seqpacket" })))
  local s = track(assert(l:accept()))
  return c, s, l, path
end

describe("seqpacket sockets", function()
  lazy_teardown(h.cleanup)
  after_each(h.close_tracked)

  it("a listener of type seqpacket accepts seqpacket sockets", function()
    local c, s, l, path = connected()
    assert.equal("listener", uxsock.type(l))
    assert.equal("seqpacket", uxsock.type(c))
    assert.equal("seqpacket", uxsock.type(s))
    assert.equal(path, c:getpeername())
    assert.matches("^uxsock.seqpacket %(fd %d+, ", tostring(s))
  end)

  it("keeps message boundaries, both ways and through socketpair", function()
    local c, s = connected()
    local p, q = track(assert(uxsock.socketpair("seqpacket")))
    for _, ends in ipairs({ { c, s }, { s, c }, { p, q } }) do
      local from, to = ends[1], ends[2]
      assert.equal(3, from:send("one"))
      assert.equal(3, from:send("two"))
      assert.equal(5, from:sendall("three"))
      assert.equal("one", to:recv())
      assert.equal("two", to:recv())
      assert.equal("three", to:recv(1000))
    end
  end)

  it("a message longer than max is EMSGSIZE, with the sizes and its first max bytes", function()
    local c, s = connected()
    c:send(("m"):rep(2999) .. "z")
    c:send("small")
    local d, err, code, cut = s:recv(100)
    assert.is_nil(d)
    assert.equal(uxsock.EMSGSIZE, code)
    assert.matches("^recv .*: message too long %(3000 bytes, max 100%)$", err)
    assert.equal(("m"):rep(100), cut)
    assert.equal("small", s:recv(100))  -- the next message is intact
  end)

  it("has no byte-stream readers", function()
    local c = connected()
    assert.is_nil(c.read)
    assert.is_nil(c.lines)
    assert.is_function(c.recv)
  end)

  it("ends with nil, msg, EOF when the peer closes", function()
    local c, s = connected()
    c:send("bye")
    c:close()
    assert.equal("bye", s:recv())
    local d, err, code = s:recv()
    assert.is_nil(d)
    assert.equal(uxsock.EOF, code)
    assert.matches("^recv .*: end of stream$", err)
  end)

  it("times out, and gives EAGAIN with settimeout(0)", function()
    local _, s = connected()
    s:settimeout(0.1)
    assert.equal(uxsock.ETIMEDOUT, select(3, s:recv()))
    s:settimeout(0)
    assert.equal(uxsock.EAGAIN, select(3, s:recv()))
  end)

  it("peercred gives this process", function()
    local c, s = connected()
    local uid, gid = h.uid()
    assert.same({ h.pid(), uid, gid }, { c:peercred() })
    assert.same({ h.pid(), uid, gid }, { s:peercred() })
  end)

  it("a stream client cannot connect to a seqpacket listener", function()
    local path = h.sockpath("mix")
    track(assert(uxsock.listen(path, { type = "seqpacket" })))
    local c, err, code = uxsock.connect(path)
    assert.is_nil(c)
    assert.is_true(code == uxsock.ECONNREFUSED or code == uxsock.EPROTOTYPE, err)
    assert.matches("^connect " .. path:gsub("%p", "%%%0"), err)
  end)
end)
