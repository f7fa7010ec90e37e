-- Stream reads against untrusted peers and CRLF protocols: the readlimit
-- (a line, or a read to end of stream, longer than the handle's limit
-- fails with EMSGSIZE and its bytes stay readable; memory stays bounded
-- whatever the peer sends), the "crlf" format, formats checked before
-- anything is read, reads of several formats that take nothing when they
-- fail, lines with NUL bytes, and reads that finalizers interrupt (the
-- rule of src/handle.h: every byte goes to exactly one reader).
-- The property tests print their seed: UXSOCK_SEED=<seed> repeats them.
local h = require("helpers")
local uxsock = require("uxsock")

local track = h.track
local SEED = h.seed()
local MiB = 1024 * 1024

local generator = h.generator

local function pair()
  return track(assert(uxsock.socketpair()))
end

-- a writer of 'bytes' into a non-blocking a, in random pieces: pump()
-- sends one (and ends the stream after the last); the reader b is
-- non-blocking too, and read(...) calls b:read until it would not block
local function feeder(a, b, bytes, r)
  a:settimeout(0)
  b:settimeout(0)
  local f, sent, ended = {}, 0, false
  function f.pump()
    if ended then return false end
    if sent == #bytes then
      a:shutdown("write")
      ended = true
      return true
    end
    local size = r(3) == 0 and 1 + r(4) or 1 + r(5000)
    local n = a:send(bytes, sent + 1, math.min(#bytes, sent + size))
    if n then sent = sent + n end
    return true
  end
  function f.read(...)
    while true do
      local t = h.pack(b:read(...))
      if t[1] ~= nil or t[3] ~= uxsock.EAGAIN then return h.unpack(t, 1, t.n) end
      assert(f.pump(), "a read would block after the stream ended")
    end
  end
  return f
end

describe("the \"crlf\" format", function()
  after_each(h.close_tracked)

  it("drops CR LF or LF, and keeps any other CR", function()
    local a, b = pair()
    a:send("GET / HTTP/1.1\r\nHost: x\r\n\r\nbare\nodd\r\r\nlone\rcr\r\n*last\r")
    a:close()
    assert.equal("GET / HTTP/1.1", b:read("crlf"))
    assert.equal("Host: x", b:read("crlf"))
    assert.equal("", b:read("crlf"))
    assert.equal("bare", b:read("crlf"))
    assert.equal("odd\r", b:read("crlf"))
    assert.equal("lone\rcr", b:read("*crlf"))
    assert.equal("*last\r", b:read("crlf"))  -- a last line with no LF: as it came
    local d, _, code = b:read("crlf")
    assert.is_nil(d)
    assert.equal(uxsock.EOF, code)
  end)

  it("joins a CR and its LF split across receives, in lines() too", function()
    local a, b = pair()
    b:settimeout(0.05)
    a:send("one\r")
    assert.equal(uxsock.ETIMEDOUT, select(3, b:read("crlf")))
    a:send("\ntwo\r\n")
    a:close()
    local got = {}
    for line in b:lines("crlf") do got[#got + 1] = line end
    assert.same({ "one", "two" }, got)
  end)

  it("gives io's \"L\" lines less their CR LF or LF, for random streams", function()
    local r = generator(SEED)
    local cases = h.cases(2000)
    local lines = 0
    for i = 1, cases do
      local t = {}
      for k = 1, r(12) do
        local n = r(4) == 0 and r(9000) or r(20)
        t[k] = ("z"):rep(n) .. ({ "\r\n", "\n", "\r", "\r\r\n", "" })[1 + r(5)]
      end
      local bytes = table.concat(t)
      local want = {}
      for line in bytes:gmatch("[^\n]*\n?") do
        if line ~= "" then want[#want + 1] = line:gsub("\r?\n$", "") end
      end
      local a, b = pair()
      local f = feeder(a, b, bytes, r)
      local got = {}
      while true do
        local line, msg, code = f.read("crlf")
        if not line then
          assert.equal(uxsock.EOF, code, msg)
          break
        end
        got[#got + 1] = line
      end
      assert.same(want, got, string.format("case %d, seed %d (UXSOCK_SEED repeats it)", i, SEED))
      lines = lines + #got
      a:close()
      b:close()
      h.close_tracked()
    end
    print(string.format("[crlf] %d streams, %d lines, seed %d", cases, lines, SEED))
  end)
end)

describe("readlimit", function()
  after_each(function()
    h.close_tracked()
    h.cleanup()
  end)

  it("is 4 MiB by default, set per handle, passed from a listener to what it accepts", function()
    local a, b = pair()
    assert.equal(4 * MiB, a:getoption("readlimit"))
    assert.is_true(a:setoption("readlimit", 100))
    assert.equal(100, a:getoption("readlimit"))
    assert.equal(4 * MiB, b:getoption("readlimit"))
    assert.is_true(a:setoption("readlimit", math.huge))
    assert.equal(math.huge, a:getoption("readlimit"))

    local path = h.sockpath("limit")
    local l = track(assert(uxsock.listen(path)))
    assert.equal(4 * MiB, l:getoption("readlimit"))
    assert.is_true(l:setoption("readlimit", 512))
    local c = track(assert(uxsock.connect(path)))
    local s = track(assert(l:accept()))
    assert.equal(512, s:getoption("readlimit"))
    assert.equal(4 * MiB, c:getoption("readlimit"))
    c:send(("x"):rep(600) .. "\n")
    local d, msg, code = s:read("l")
    assert.is_nil(d)
    assert.equal(uxsock.EMSGSIZE, code)
    assert.equal("read " .. path .. ": line longer than readlimit (512 bytes)", msg)
  end)

  it("raises for a value that is not a limit, and on other kinds", function()
    local a = pair()
    for _, v in ipairs({ 0, -1, 1.5, "big", true }) do
      assert.has_error(function() a:setoption("readlimit", v) end)
    end
    assert.error_matches(function() a:setoption("readlimit", 0) end, "#2.*at least 1")
    local q = track(assert(uxsock.socketpair("seqpacket")))
    local d = track(assert(uxsock.socketpair("datagram")))
    assert.error_matches(function() q:setoption("readlimit", 10) end, "listener or stream expected")
    assert.error_matches(function() d:getoption("readlimit") end, "listener or stream expected")
  end)

  it("counts a line with its newline, and a last line with none", function()
    local a, b = pair()
    assert(b:setoption("readlimit", 10))
    a:send("123456789\n" .. "1234567890\n" .. "12345678\r\n" .. "1234567890")
    a:close()
    assert.equal("123456789", b:read("l"))           -- 10 bytes with its newline
    local d, _, code = b:read("L")                   -- 11
    assert.is_nil(d)
    assert.equal(uxsock.EMSGSIZE, code)
    assert.equal(uxsock.EMSGSIZE, select(3, b:read("crlf")))
    assert.equal("1234567890\n", b:read(11))         -- the bytes are all there
    assert.equal("12345678", b:read("crlf"))         -- 10 with its CR LF
    assert.equal("1234567890", b:read("l"))          -- 10 at end of stream
    assert(b:setoption("readlimit", 9))
    local e, f = pair()
    assert(f:setoption("readlimit", 9))
    e:send("1234567890")
    e:close()
    assert.equal(uxsock.EMSGSIZE, select(3, f:read("l")))  -- 10 at end of stream
    assert.equal("1234567890", f:read(100))
  end)

  it("fails a peer that never sends a newline, and the bytes stay readable", function()
    local a, b = pair()
    assert(b:setoption("readlimit", 65536))
    local junk = ("x"):rep(1000)
    local f = feeder(a, b, junk:rep(300), generator(SEED))  -- 300 kB, no newline
    local d, msg, code = f.read("l")
    assert.is_nil(d)
    assert.equal(uxsock.EMSGSIZE, code)
    assert.equal("read: line longer than readlimit (65536 bytes)", msg)
    -- asked again, it fails again from what it holds, receiving nothing more
    assert.equal(uxsock.EMSGSIZE, select(3, b:read("l")))
    -- every byte sent is there, through recv (which takes the buffered ones first)
    local got, ended = {}, false
    while not ended do
      f.pump()
      local chunk, _, ecode = b:recv()
      if chunk then got[#got + 1] = chunk
      elseif ecode == uxsock.EOF then ended = true
      else assert.equal(uxsock.EAGAIN, ecode) end
    end
    assert.equal(300000, #table.concat(got))
    assert.is_nil(table.concat(got):find("[^x]"))
  end)

  it("bounds a read to end of stream, which keeps its bytes", function()
    local a, b = pair()
    assert(b:setoption("readlimit", 65536))
    local data = ("0123456789"):rep(20000)
    local f = feeder(a, b, data, generator(SEED + 1))
    local d, msg, code = f.read("a")
    assert.is_nil(d)
    assert.equal(uxsock.EMSGSIZE, code)
    assert.equal("read: more than readlimit (65536 bytes) before end of stream", msg)
    assert(b:setoption("readlimit", math.huge))
    assert.equal(data, f.read("a"))
  end)

  it("raises in lines(), and fails a read of several formats as a whole", function()
    local a, b = pair()
    assert(b:setoption("readlimit", 8))
    a:send("short\n" .. ("long"):rep(5) .. "\n")
    a:close()
    local d, _, code = b:read("l", "l")
    assert.is_nil(d)
    assert.equal(uxsock.EMSGSIZE, code)
    local got = {}
    local ok, err = pcall(function()
      for line in b:lines() do got[#got + 1] = line end
    end)
    assert.is_false(ok)
    assert.matches("line longer than readlimit %(8 bytes%)", err)
    assert.same({ "short" }, got)
    assert.equal(("long"):rep(5) .. "\n", b:read(21))
  end)

  it("takes a line iff it fits, for random lines and limits", function()
    local r = generator(SEED + 2)
    local cases = h.cases(3000)
    local refused = 0
    for i = 1, cases do
      local limit = 1 + r(r(2) == 0 and 20 or 10000)
      local a, b = pair()
      assert(b:setoption("readlimit", limit))
      local t = {}
      for k = 1, 1 + r(6) do
        local n = r(3) == 0 and limit - 1 + r(3) or r(2 * limit)
        t[k] = ("q"):rep(n) .. (r(3) == 0 and "\r\n" or "\n")
      end
      local f = feeder(a, b, table.concat(t), r)
      local ctx = string.format("case %d, limit %d, seed %d (UXSOCK_SEED=%d repeats it)",
                                i, limit, SEED, SEED)
      for k, line in ipairs(t) do
        local fmt = ({ "L", "l", "crlf" })[1 + r(3)]
        local got, _, code = f.read(fmt)
        if #line <= limit then
          local want = fmt == "L" and line or fmt == "l" and line:sub(1, -2)
                       or line:gsub("\r?\n$", "")
          assert.equal(want, got, ctx .. ", line " .. k)
        else
          assert.is_nil(got, ctx .. ", line " .. k)
          assert.equal(uxsock.EMSGSIZE, code, ctx)
          assert.equal(line, f.read(#line), ctx)
          refused = refused + 1
        end
      end
      assert.equal(uxsock.EOF, select(3, f.read("l")), ctx)
      h.close_tracked()
    end
    print(string.format("[readlimit] %d streams, %d lines refused, seed %d", cases, refused,
                        SEED + 2))
    assert.is_true(refused > 0)
  end)

  it("keeps memory bounded against a peer that sends without end and no newline", function()
    -- in a child, whose peak memory is its own: a limit of 1 MiB, then
    -- none (the control: the same attack grows it by what was sent)
    local code = [[
      local uxsock = require("uxsock")
      local limit = ...
      local function hwm()
        local f = io.open("/proc/self/status")
        local s = f:read("*a")
        f:close()
        return tonumber(s:match("VmHWM:%s*(%d+) kB")) * 1024
      end
      local a, b = uxsock.socketpair()
      a:settimeout(0)
      b:settimeout(0)
      if limit == "none" then assert(b:setoption("readlimit", math.huge))
      else assert(b:setoption("readlimit", tonumber(limit))) end
      local chunk = ("x"):rep(65536)
      local before, sent, failed = hwm(), 0, 0
      while sent < 64 * 1048576 do
        local n = a:send(chunk)
        if n then sent = sent + n end
        local d, _, code = b:read("l")
        assert(d == nil and (code == uxsock.EAGAIN or code == uxsock.EMSGSIZE), tostring(code))
        if code == uxsock.EMSGSIZE then
          failed = failed + 1
          if failed > 20 then break end  -- nothing reads the socket any more
        end
      end
      print(sent, failed, hwm() - before)
    ]]
    local function attack(limit)
      local out, how, rc = h.run(h.luacmd(code, limit))
      assert.same({ "exit", 0 }, { how, rc }, out)
      local sent, failed, grown = out:match("^(%d+)%s+(%d+)%s+(%-?%d+)")
      assert(sent, out)
      return tonumber(sent), tonumber(failed), tonumber(grown)
    end
    local sent, failed, grown = attack(MiB)
    assert.is_true(failed > 0)
    assert.is_true(grown < 8 * MiB, string.format("grew by %d bytes", grown))
    local sent2, failed2, grown2 = attack("none")
    assert.equal(0, failed2)
    assert.is_true(grown2 > 32 * MiB, string.format("without a limit it grew by %d bytes", grown2))
    print(string.format("[readlimit] limit 1 MiB: %d bytes sent, peak grew %.1f MiB; " ..
                        "no limit: %d bytes sent, peak grew %.1f MiB",
                        sent, grown / MiB, sent2, grown2 / MiB))
  end)
end)

describe("stream read formats", function()
  after_each(h.close_tracked)

  it("are all checked before anything is read", function()
    local a, b = pair()
    a:send("one\ntwo\n")
    assert.error_matches(function() b:read("l", "x") end, "#2.*invalid format")
    assert.error_matches(function() b:read("l", -1) end, "#2.*count must not be negative")
    assert.error_matches(function() b:read("l", 1.5) end, "#2")
    assert.error_matches(function() b:read("l", {}) end, "#2.*string expected")
    assert.error_matches(function() b:read("n") end, "#1.*format 'n' is not supported.*tonumber")
    assert.error_matches(function() b:read("*n") end, "format 'n' is not supported")
    assert.error_matches(function() b:read("l", nil, "l") end, "#2.*string expected, got nil")
    assert.error_matches(function() b:lines("n") end, "format 'n' is not supported")
    local many = {}
    for i = 1, 251 do many[i] = "l" end
    assert.error_matches(function() b:lines(h.unpack(many)) end, "too many arguments")
    assert.equal("one", b:read("l", nil, nil))  -- trailing nils are no formats
    assert.equal("two", b:read())
  end)

  it("of a read that fails take nothing, the values before included", function()
    local a, b = pair()
    b:settimeout(0.05)
    a:send("one\ntw")
    local t = h.pack(b:read("l", "l"))
    assert.same({ n = 3, nil, "read: timed out", uxsock.ETIMEDOUT }, t)
    b:settimeout(0)
    assert.equal(uxsock.EAGAIN, select(3, b:read(4, 3)))
    a:send("o\n")
    local x, y = b:read("l", "l")
    assert.same({ "one", "two" }, { x, y })
  end)

  it("give lines with NUL bytes whole, on every Lua", function()
    local a, b = pair()
    a:send("a\0b\n\0\n\0\0")
    a:close()
    assert.equal("a\0b", b:read("l"))
    assert.equal("\0\n", b:read("L"))
    assert.equal("\0\0", b:read("crlf"))
  end)
end)

describe("reads that finalizers interrupt", function()
  -- In a child, whose heap is small: with the collector tuned to run a
  -- whole cycle at almost every allocation, the garbage made just before
  -- a read is finalized while the read makes its strings, and each
  -- finalizer reads from the same stream (5.1 and LuaJIT finalize only
  -- userdata: newproxy). Each side keeps what it read in a list of its
  -- own (an append can run finalizers between taking the index and
  -- storing); the records must all be there, once each, whole.
  local code = [[
    local uxsock = require("uxsock")
    local seed, cases = ...
    local x = tonumber(seed) % 2147483646 + 1
    local function r(n) x = x * 16807 % 2147483647 return math.floor(x * n / 2147483647) end
    local function pack(...) return { n = select("#", ...), ... } end
    local function garbage(f)
      if newproxy then
        local p = newproxy(true)
        getmetatable(p).__gc = f
        return p
      end
      return setmetatable({}, { __gc = f })
    end
    collectgarbage("setpause", 0)
    collectgarbage("setstepmul", 1000)
    local during, finreads, records = 0, 0, 0
    for i = 1, tonumber(cases) do
      local N = 100 + r(400)
      local t = {}
      for k = 1, N do t[k] = string.format("%07d\n", k) end
      local data = table.concat(t)
      local a, b = uxsock.socketpair()
      a:settimeout(0)
      b:settimeout(0)
      local sent = 0
      local pieces, fpieces, inread = {}, {}, false
      local function finalizer()
        if b:isclosed() then return end
        if inread then during = during + 1 end
        local k = r(3)
        local v = pack(b:read(k == 0 and "L" or k == 1 and 8 or 16, k == 2 and "L" or nil))
        local j = 1
        while v[j] ~= nil do
          fpieces[#fpieces + 1] = v[j]
          j = j + 1
        end
        if j > 1 then finreads = finreads + 1 end
      end
      local done = false
      while not done do
        if sent < #data then
          local n = a:send(data, sent + 1, math.min(#data, sent + 1 + r(300)))
          if n then sent = sent + n end
          if sent == #data then a:close() end
        end
        local k = r(4)
        garbage(finalizer)
        inread = true
        local v
        if k == 0 then v = pack(b:read("L"))
        elseif k == 1 then v = pack(b:read(8 * (1 + r(5))))
        elseif k == 2 then v = pack(b:read("L", 8, "l"))
        else v = pack(b:read("l", "L")) end
        inread = false
        local j = 1
        while v[j] ~= nil do
          -- "l" gave a record without its newline
          local piece = v[j] .. ((k == 2 and j == 3 or k == 3 and j == 1) and "\n" or "")
          pieces[#pieces + 1] = piece
          j = j + 1
        end
        if j <= v.n then
          assert(v[j + 2] == uxsock.EOF or v[j + 2] == uxsock.EAGAIN and j == 1,
                 "case " .. i .. ": " .. tostring(v[j + 1]))
          done = v[j + 2] == uxsock.EOF
        end
      end
      for _, p in ipairs(fpieces) do pieces[#pieces + 1] = p end
      local seen, count = {}, 0
      for _, p in ipairs(pieces) do
        assert(#p % 8 == 0, "case " .. i .. ": a piece of " .. #p .. " bytes")
        for rec in p:gmatch("(.......)\n") do
          local n = tonumber(rec)
          assert(n and not seen[n], "case " .. i .. ": record " .. rec .. " twice or broken")
          seen[n] = true
          count = count + 1
        end
      end
      assert(count == N, "case " .. i .. ": " .. count .. " records of " .. N)
      records = records + N
      b:close()
    end
    print("ok", records, finreads, during)
  ]]

  it("give every record to exactly one reader, whole", function()
    local seed, cases = SEED + 3, h.cases(200, 5)
    local out, how, rc = h.run(h.luacmd(code, seed, cases))
    assert.same({ "exit", 0 }, { how, rc }, string.format("seed %d (UXSOCK_SEED=%d repeats it): %s",
                                                          seed, SEED, out))
    local records, finreads, during = out:match("^ok%s+(%d+)%s+(%d+)%s+(%d+)")
    assert(records, out)
    print(string.format("[read finalizers] %d cases, %s records, %s finalizer reads, %s " ..
                        "finalizers inside a read, seed %d", cases, records, finreads, during,
                        seed))
    assert.is_true(tonumber(during) > cases, "finalizers rarely ran inside a read")
  end)
end)
