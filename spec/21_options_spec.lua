-- setoption and getoption: socket options by name.
local h = require("helpers")
local uxsock = require("uxsock")

local track = h.track
local linux = io.open("/proc/self/stat") ~= nil

describe("options", function()
  lazy_teardown(h.cleanup)
  after_each(h.close_tracked)

  it("sndbuf and rcvbuf round-trip through the kernel's figure", function()
    local a = track(assert(uxsock.socketpair("stream")))
    assert.is_true(a:setoption("sndbuf", 65536))
    assert.is_true(a:setoption("rcvbuf", 32768))
    local snd, rcv = a:getoption("sndbuf"), a:getoption("rcvbuf")
    assert.equal("integer", h.mathtype(snd))
    if linux then  -- Linux doubles what it is given
      assert.equal(131072, snd)
      assert.equal(65536, rcv)
    else
      assert.is_true(snd >= 65536 and rcv >= 32768)
    end
  end)

  it("a smaller send buffer makes a non-blocking send stop sooner", function()
    local a = track(assert(uxsock.socketpair("stream")))
    local b = track(assert(uxsock.socketpair("stream")))
    local function fill(s)
      s:settimeout(0)
      local total = 0
      while true do
        local n = s:send(("x"):rep(4096))
        if not n then return total end
        total = total + n
      end
    end
    a:setoption("sndbuf", 4096)
    b:setoption("sndbuf", 1024 * 1024)
    assert.is_true(fill(a) < fill(b))
  end)

  it("read-only options tell type, listening, pending error and queues", function()
    local a, b = track(assert(uxsock.socketpair("stream")))
    local q = track(assert(uxsock.socketpair("seqpacket")))
    local d1, d2 = track(assert(uxsock.socketpair("datagram")))
    local l = track(assert(uxsock.listen(h.sockpath("opt"))))
    assert.equal("stream", a:getoption("type"))
    assert.equal("seqpacket", q:getoption("type"))
    assert.equal("datagram", d1:getoption("type"))
    assert.equal("stream", l:getoption("type"))
    assert.is_true(l:getoption("acceptconn"))
    assert.is_false(a:getoption("acceptconn"))
    assert.equal(0, a:getoption("error"))
    assert.equal(0, b:getoption("nread"))
    assert.equal(0, a:getoption("nwrite"))
    a:send("hello")
    assert.equal(5, b:getoption("nread"))
    assert.is_true(a:getoption("nwrite") > 0)
    assert.equal("hello", b:recv())
    assert.equal(0, a:getoption("nwrite"))
    d1:send("abc")
    d1:send("defgh")
    if linux then  -- the next datagram's size
      assert.equal(3, d2:getoption("nread"))
    end
  end)

  it("passcred is a boolean where the system has it, ENOTSUP elsewhere", function()
    local a = track(assert(uxsock.socketpair("datagram")))
    if linux then
      assert.is_false(a:getoption("passcred"))
      assert.is_true(a:setoption("passcred", true))
      assert.is_true(a:getoption("passcred"))
      assert.is_true(a:setoption("passcred", false))
      assert.is_false(a:getoption("passcred"))
      -- on before the peer sends: a plain send carries the sender's ids
      local d1, d2 = track(assert(uxsock.socketpair("datagram")))
      assert.is_true(d2:setoption("passcred", true))
      d1:send("who")
      local data, cred = d2:recvcred()
      assert.equal("who", data)
      assert.equal(h.pid(), cred.pid)
    else
      local ok, err, code = a:setoption("passcred", true)
      assert.is_nil(ok)
      assert.equal(uxsock.ENOTSUP, code)
      assert.matches("setoption", err)
    end
  end)

  it("raises for unknown names, wrong values and read-only options", function()
    local a = track(assert(uxsock.socketpair("stream")))
    assert.error_matches(function() a:setoption("nosuch", 1) end,
      "#1.*unknown option 'nosuch' %(known: sndbuf, rcvbuf,")
    assert.error_matches(function() a:getoption("nosuch") end, "unknown option 'nosuch'")
    assert.error_matches(function() a:getoption() end, "#1.*string expected")
    assert.error_matches(function() a:setoption("type", "datagram") end,
      "option 'type' is read%-only")
    assert.error_matches(function() a:setoption("sndbuf", -1) end, "#2.*value out of range")
    assert.error_matches(function() a:setoption("sndbuf", 2 ^ 40) end, "#2.*value out of range")
    assert.error_matches(function() a:setoption("sndbuf", "big") end, "#2.*number expected")
    assert.error_matches(function() a:setoption("passcred", 1) end, "#2.*boolean expected")
    a:close()
    assert.error_matches(function() a:getoption("sndbuf") end, "closed stream")
  end)
end)
