-- Datagram sockets: whole messages, sender names, truncation reported,
-- connected datagrams, timeouts and errors.
local h = require("helpers")
local uxsock = require("uxsock")
local gettime = require("socket").gettime

local track = h.track

local function bound(name, opts)
  local path = name or h.sockpath("dg")
  return track(assert(uxsock.datagram(path, opts))), path
end

describe("datagram sockets", function()
  lazy_teardown(h.cleanup)
  after_each(h.close_tracked)

  it("sendto and recvfrom carry the sender's name exactly", function()
    local server, spath = bound()
    local named, npath = bound()
    local abstract, aname = bound(h.abstract("dg"))
    local auto = track(assert(uxsock.datagram(nil, { autobind = true })))
    local unbound = track(assert(uxsock.datagram()))
    assert.equal(5, named:sendto("hello", spath))
    assert.same({ "hello", npath }, { server:recvfrom() })
    abstract:sendto("abs", spath)
    assert.same({ "abs", aname }, { server:recvfrom() })
    auto:sendto("auto", spath)
    local data, sender = server:recvfrom()
    assert.equal("auto", data)
    assert.matches("^@%x+$", sender)
    assert.equal(sender, auto:getsockname())
    unbound:sendto("anon", spath)
    assert.same({ "anon", "" }, { server:recvfrom() })
    assert.equal("", unbound:getsockname())
    -- the sender's name can be used to reply
    assert.equal(5, server:sendto("reply", sender))
    assert.same({ "reply", spath }, { auto:recvfrom() })
  end)

  it("keeps boundaries and order; a zero-length datagram is data", function()
    local server, spath = bound()
    local client = bound()
    local sent = { "first", "", "second", ("x"):rep(5000), "" }
    for _, m in ipairs(sent) do assert.equal(#m, client:sendto(m, spath)) end
    for _, m in ipairs(sent) do assert.equal(m, server:recv()) end
    server:settimeout(0)
    assert.equal(uxsock.EAGAIN, select(3, server:recv()))
  end)

  it("a datagram longer than max is EMSGSIZE with its size, never cut silently", function()
    local server, spath = bound()
    local client, cpath = bound()
    client:sendto(("a"):rep(100) .. ("z"):rep(200), spath)
    client:sendto("next", spath)
    local d, err, code, cut, sender = server:recvfrom(100)
    assert.is_nil(d)
    assert.equal(uxsock.EMSGSIZE, code)
    assert.equal("recvfrom " .. spath .. ": message too long (300 bytes, max 100)", err)
    assert.equal(("a"):rep(100), cut)  -- what arrived is not lost
    assert.equal(cpath, sender)
    assert.equal("next", server:recvfrom(100))
    -- the limits of the default max (65536), through the large-buffer path
    client:sendto(("b"):rep(65536), spath)
    assert.equal(65536, #server:recv())
    client:sendto(("c"):rep(70000), spath)
    d, err, code, cut = server:recv()
    assert.is_nil(d)
    assert.equal(uxsock.EMSGSIZE, code)
    assert.matches("message too long %(70000 bytes, max 65536%)", err)
    assert.equal(("c"):rep(65536), cut)
    client:sendto(("d"):rep(70000), spath)
    assert.equal(70000, #server:recv(70000))
  end)

  it("connect, then send and recv go to and come from that peer", function()
    local server, spath = bound()
    local client, cpath = bound()
    assert.is_true(client:connect(spath))
    assert.equal(spath, client:getpeername())
    assert.equal(4, client:send("ping"))
    assert.equal(2, client:send("abcdef", 2, 3))
    assert.same({ "ping", cpath }, { server:recvfrom() })
    assert.same({ "bc", cpath }, { server:recvfrom() })
    server:sendto("pong", cpath)
    assert.equal("pong", client:recv())
  end)

  it("an unbound connected socket is named by its peer in messages", function()
    local server, spath = bound()
    local client = track(assert(uxsock.datagram()))
    assert(client:connect(spath))
    assert.matches(spath:gsub("%p", "%%%0"), tostring(client))
    server:close()
    local r, err, code = client:send("gone")
    assert.is_nil(r)
    assert.equal(uxsock.ECONNREFUSED, code)
    assert.equal("send " .. spath .. ": Connection refused", err)
  end)

  it("sendto a missing path or a stale file fails, naming sendto and the path", function()
    local client = track(assert(uxsock.datagram()))
    local missing = h.sockpath("none")
    local r, err, code = client:sendto("x", missing)
    assert.is_nil(r)
    assert.equal(uxsock.ENOENT, code)
    assert.equal("sendto " .. missing .. ": No such file or directory", err)
    local stale = h.sockpath("stale")
    assert(uxsock.datagram(stale, { unlink = false })):close()
    r, err, code = client:sendto("x", stale)
    assert.is_nil(r)
    assert.equal(uxsock.ECONNREFUSED, code)
    assert.matches("^sendto " .. stale:gsub("%p", "%%%0"), err)
    assert.equal(uxsock.ECONNREFUSED, select(3, client:connect(stale)))
  end)

  it("recvfrom times out after the timeout", function()
    local server = bound()
    server:settimeout(0.2)
    local t0 = gettime()
    local d, err, code = server:recvfrom()
    local elapsed = gettime() - t0
    assert.is_nil(d)
    assert.equal(uxsock.ETIMEDOUT, code)
    assert.matches("^recvfrom .*: timed out$", err)
    assert.is_true(elapsed >= 0.15 and elapsed < 5, elapsed)
  end)

  it("sending to a full receiver times out, or gives EAGAIN with settimeout(0)", function()
    local _, spath = bound()
    for _, connect in ipairs({ false, true }) do
      local client = bound()
      if connect then assert(client:connect(spath)) end
      client:settimeout(0.2)
      local t0, r, err, code = gettime(), nil, nil, nil
      for _ = 1, 100000 do  -- the receiver's queue fills long before this
        if connect then r, err, code = client:send("fill")
        else r, err, code = client:sendto("fill", spath) end
        if not r then break end
      end
      local elapsed = gettime() - t0
      assert.is_nil(r)
      assert.equal(uxsock.ETIMEDOUT, code, err)
      assert.is_true(elapsed >= 0.15 and elapsed < 10, elapsed)
      client:settimeout(0)
      assert.equal(uxsock.EAGAIN, select(3, client:sendto("more", spath)))
    end
  end)

  it("a bound datagram socket removes its file on close, not with unlink = false", function()
    local d, path = bound()
    assert.equal("socket", h.filetype(path))
    d:close()
    assert.is_nil(h.filetype(path))
    local kept, kpath = bound(nil, { unlink = false })
    kept:close()
    assert.equal("socket", h.filetype(kpath))
  end)

  it("a server in another process replies to each sender", function()
    local spath = h.sockpath("srv")
    local ready = spath .. ".ready"
    local child = h.spawn(h.luacmd(string.format([[
      local uxsock = require("uxsock")
      local s = assert(uxsock.datagram(%q, { timeout = 20 }))
      io.open(%q, "w"):close()
      for _ = 1, 3 do
        local data, sender = assert(s:recvfrom())
        assert(s:sendto(data:upper(), sender))
      end
      s:close()
    ]], spath, ready)))
    assert.is_true(h.waitfor(ready, 20))
    for i = 1, 3 do
      local c = track(assert(uxsock.datagram(nil, { autobind = true, timeout = 20 })))
      assert(c:sendto("hello " .. i, spath))
      assert.same({ "HELLO " .. i, spath }, { c:recvfrom() })
    end
    local out, rc = child:wait(20)
    assert.equal(0, rc, out)
    assert.is_nil(h.filetype(spath))
  end)
end)
