-- Receiving keeps its promises, on every Lua:
--   * memory follows what came, never what the caller allowed: recv,
--     recvfrom, recvfds and recvcred with a huge max and a few bytes
--     queued grow the process by little (the kernel is asked first how
--     much it holds), nothing is reserved before a receive that would
--     block, and recvmany reserves n * max once, not up to twice that;
--   * a large max still takes a large message whole, and a message longer
--     than a large max is reported with its head;
--   * seqpacket: recvmany returns or keeps whatever the kernel handed over
--     (an empty message among others is ""; a run of them at the end of
--     a full batch is owed to the next receives as end of stream, as recv
--     reports an empty message), and an empty message that carries
--     credentials is a message for recvcred, as for Python's recvmsg;
--   * getoption("nread") counts the bytes a read buffered.
-- The process's size is read from /proc/self/status (VmSize: address
-- space, which an unused reservation takes too).
local h = require("helpers")
local uxsock = require("uxsock")

local track = h.track
local MiB = 1024 * 1024
local HUGE = 2 ^ 33  -- 8 GiB: what the old code reserved

local function pair(kind)
  return track(assert(uxsock.socketpair(kind)))
end

local function vmsize()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("*a")
  f:close()
  return assert(tonumber(s:match("VmSize:%s*(%d+) kB"))) * 1024
end

-- how much bigger the process is after f() than before
local function growth(f)
  collectgarbage("collect")
  local before = vmsize()
  local r = h.pack(f())
  local after = vmsize()
  return after - before, r
end

local linux = h.run("uname -s"):find("Linux") ~= nil

describe("memory follows what came", function()
  after_each(h.cleanup)

  local cases = {
    { "stream recv", "stream", function(_, b) return b:recv(HUGE) end },
    { "seqpacket recv", "seqpacket", function(_, b) return b:recv(HUGE) end },
    { "datagram recv", "datagram", function(_, b) return b:recv(HUGE) end },
    { "stream recvfds", "stream", function(_, b) return b:recvfds(HUGE) end },
    { "seqpacket recvfds", "seqpacket", function(_, b) return b:recvfds(HUGE) end },
    { "datagram recvfds", "datagram", function(_, b) return b:recvfds(HUGE) end },
  }
  if linux then
    for _, kind in ipairs({ "stream", "seqpacket", "datagram" }) do
      cases[#cases + 1] = { kind .. " recvcred", kind,
                            function(_, b) return b:recvcred(HUGE) end }
    end
  end

  for _, c in ipairs(cases) do
    it(c[1] .. " with a max of 8 GiB and 5 bytes queued", function()
      local a, b = pair(c[2])
      assert.equal(5, a:send("hello"))
      local grew, r = growth(function() return c[3](a, b) end)
      assert.equal("hello", r[1])
      assert.is_true(grew < 16 * MiB, string.format("grew by %d bytes", grew))
    end)
  end

  it("nothing is reserved before a receive that would block", function()
    local _, b = pair("datagram")
    local _, s = pair("stream")
    assert(b:settimeout(0))
    assert(s:settimeout(0))
    for _, x in ipairs({ b, s }) do
      local grew, r = growth(function() return x:recv(2 ^ 40) end)
      assert.same({ nil, r[2], uxsock.EAGAIN, n = 3 }, r)
      assert.is_true(grew < 16 * MiB, string.format("grew by %d bytes", grew))
    end
  end)

  it("a room over 64 KiB is given back after the receive", function()
    local a, b = pair("stream")
    local data = string.rep("x", 150 * 1024)
    assert(a:settimeout(30))
    local got = {}
    assert(a:setoption("sndbuf", 1024 * 1024))
    assert.equal(#data, a:sendall(data))
    local n = 0
    collectgarbage("collect")
    local before = vmsize()
    while n < #data do
      local s = assert(b:recv(HUGE))
      got[#got + 1] = s
      n = n + #s
    end
    assert.equal(data, table.concat(got))
    got = nil  -- luacheck: ignore 311
    collectgarbage("collect")
    local grew = vmsize() - before
    assert.is_true(grew < 4 * MiB, string.format("kept %d bytes", grew))
  end)

  it("recvmany reserves n * max once, not up to twice", function()
    local a, b = pair("datagram")
    assert(a:send("m"))
    local n, max = 1024, 16384
    local grew, r = growth(function() return b:recvmany(n, max) end)
    assert.same({ "m" }, r[1])
    assert.is_true(grew < n * max * 1.5,
                   string.format("grew by %d bytes for n * max = %d", grew, n * max))
  end)
end)

describe("a large max", function()
  after_each(h.cleanup)

  for _, kind in ipairs({ "datagram", "seqpacket" }) do
    it("takes a " .. kind .. " message over 64 KiB whole, and reports one longer than max",
       function()
      local a, b = pair(kind)
      assert(a:setoption("sndbuf", 1024 * 1024))
      local big = string.rep("0123456789abcdef", 100 * 1024 / 16)  -- 100 KiB
      assert.equal(#big, a:send(big))
      assert.equal(big, b:recv(1024 * 1024))
      local longer = big .. big
      assert.equal(#longer, a:send(longer))
      local r = h.pack(b:recv(150 * 1024))
      assert.is_nil(r[1])
      assert.equal(uxsock.EMSGSIZE, r[3])
      assert.equal(longer:sub(1, 150 * 1024), r[4])
    end)
  end

  it("takes what a stream holds, past 64 KiB, in one call", function()
    local a, b = pair("stream")
    assert(a:setoption("sndbuf", 1024 * 1024))
    local data = string.rep("y", 150 * 1024)
    assert(a:settimeout(30))
    assert.equal(#data, a:sendall(data))
    local s = assert(b:recv(1024 * 1024))
    assert.is_true(#s > 64 * 1024 and #s <= #data, "got " .. #s)
    assert.equal(data:sub(1, #s), s)
  end)
end)

describe("seqpacket batches", function()
  after_each(h.cleanup)

  local function sendall(a, msgs)
    for _, m in ipairs(msgs) do assert.equal(#m, a:send(m)) end
  end

  it("keep an empty message among others", function()
    local a, b = pair("seqpacket")
    sendall(a, { "m1", "", "m3", "m4" })
    assert.same({ "m1", "", "m3", "m4" }, b:recvmany(5))
    sendall(a, { "", "m2" })
    assert.same({ "", "m2" }, b:recvmany(5))
  end)

  it("keep empty messages the queue ends with", function()
    local a, b = pair("seqpacket")
    sendall(a, { "m1", "" })
    assert.same({ "m1", "" }, b:recvmany(5))
  end)

  it("owe a run of empty messages that fills the batch to the next receives", function()
    local a, b = pair("seqpacket")
    sendall(a, { "m1", "", "", "m4" })
    assert.same({ "m1" }, b:recvmany(3))
    for _ = 1, 2 do  -- as recv reports an empty message
      local r = h.pack(b:recv())
      assert.same({ nil, r[2], uxsock.EOF, n = 3 }, r)
    end
    assert.equal("m4", b:recv())
  end)

  it("report end of stream first, and again", function()
    local a, b = pair("seqpacket")
    sendall(a, { "last" })
    a:close()
    assert.same({ "last" }, b:recvmany(5))
    for _ = 1, 2 do
      local r = h.pack(b:recvmany(5))
      assert.same({ nil, r[2], uxsock.EOF, n = 3 }, r)
    end
  end)
end)

describe("an empty message with control data", function()
  after_each(h.cleanup)

  it("is a message for seqpacket recvcred", function()
    if not linux then
      local r = h.pack(pair("seqpacket"))
      assert.equal(uxsock.ENOTSUP, select(3, r[2]:recvcred()))
      return
    end
    local a, b = pair("seqpacket")
    assert(b:settimeout(0))
    assert.equal(uxsock.EAGAIN, select(3, b:recvcred()))  -- SO_PASSCRED on
    assert.equal(0, a:send(""))
    local data, cred = b:recvcred()
    assert.equal("", data)
    assert.is_table(cred)
    assert.equal(h.pid(), cred.pid)
    a:close()
    assert.equal(uxsock.EOF, select(3, b:recvcred()))
  end)

  it("is a message for seqpacket recvfds", function()
    local a, b = pair("seqpacket")
    local x, y = pair("stream")
    assert.equal(0, a:sendfds("", { x }))
    local data, fds = b:recvfds()
    assert.equal("", data)
    assert.equal(1, #fds)
    track(fds[1])
    assert.equal(3, fds[1]:send("abc"))
    assert.equal("abc", y:recv())
  end)
end)

describe("getoption('nread')", function()
  after_each(h.cleanup)

  it("counts the bytes a read buffered and those the kernel holds", function()
    local a, b = pair("stream")
    assert(a:sendall("line1\nrest"))
    assert.equal("line1", b:read("l"))
    assert.equal(4, b:getoption("nread"))
    assert(a:sendall("more"))
    local deadline = os.time() + 30
    while b:getoption("nread") < 8 and os.time() < deadline do end
    assert.equal(8, b:getoption("nread"))
    assert.equal("restmore", b:read(8))
    assert.equal(0, b:getoption("nread"))
  end)
end)
