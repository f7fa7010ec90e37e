-- Stream sockets: listen, connect, accept, sending, receiving, the buffered
-- readers, end of stream, timeouts and the errors of each.
local h = require("helpers")
local uxsock = require("uxsock")

local track = h.track

local function pair()
  return track(assert(uxsock.socketpair()))
end

-- a connected pair through a listener: client, server side, listener, path
local function connected(opts)
  local path = h.sockpath("st")
  local l = assert(uxsock.listen(path, opts))
  local c = assert(uxsock.connect(path, opts and { type = opts.type }))
  local s = assert(l:accept())
  return c, s, l, path
end

-- a client in another process: a child Lua that connects to a new
-- listener as c and runs body. Returns the accepted side and the child
-- (h.spawn); each side waits up to 20 s
local function child_client(tag, body)
  local path = h.sockpath(tag)
  local l = track(assert(uxsock.listen(path, { timeout = 20 })))
  local child = h.spawn(h.luacmd(string.format([[
    local uxsock = require("uxsock")
    local c = assert(uxsock.connect(%q, { timeout = 20 }))
  ]], path) .. body))
  local s = track(assert(l:accept()))
  s:settimeout(20)
  return s, child
end

local timed = h.timed

describe("stream sockets", function()
  lazy_teardown(h.cleanup)
  after_each(h.close_tracked)

  describe("connecting", function()
    it("listen, connect and accept on a path and on an abstract name", function()
      for _, path in ipairs({ h.sockpath("c"), h.abstract("c") }) do
        local l = track(assert(uxsock.listen(path)))
        local c = track(assert(uxsock.connect(path)))
        local s = track(assert(l:accept()))
        assert.equal("stream", uxsock.type(c))
        assert.equal("stream", uxsock.type(s))
        assert.equal(5, c:send("hello"))
        assert.equal("hello", s:recv())
        assert.equal(3, s:send("bye"))
        assert.equal("bye", c:recv())
      end
    end)

    it("names: the listener's path on the server side, '' for the client's own", function()
      local c, s, l, path = track(connected())
      assert.equal(path, l:getsockname())
      assert.equal(path, s:getsockname())
      assert.equal(path, c:getpeername())
      assert.equal("", c:getsockname())
      assert.equal("", s:getpeername())
    end)

    it("connect to a missing path gives ENOENT and names connect and the path", function()
      local path = h.sockpath("missing")
      local c, err, code = uxsock.connect(path)
      assert.is_nil(c)
      assert.equal(uxsock.ENOENT, code)
      assert.equal("connect " .. path .. ": No such file or directory", err)
    end)

    it("connect to a stale socket file gives ECONNREFUSED", function()
      local path = h.sockpath("stale")
      assert(uxsock.listen(path, { unlink = false })):close()
      assert.equal("socket", h.filetype(path))
      local c, err, code = uxsock.connect(path)
      assert.is_nil(c)
      assert.equal(uxsock.ECONNREFUSED, code)
      assert.matches("^connect ", err)
    end)

    it("connect to a path that is not a socket gives ECONNREFUSED", function()
      local path = h.sockpath("file")
      h.writefile(path, "data")
      local c, _, code = uxsock.connect(path)
      assert.is_nil(c)
      assert.equal(uxsock.ECONNREFUSED, code)
      assert.equal("data", h.readfile(path))
    end)
  end)

  describe("send", function()
    it("returns the count and takes i and j as string.sub does", function()
      local a, b = pair()
      local cases = {
        { { "abcdef" }, "abcdef" },
        { { "abcdef", 2 }, "bcdef" },
        { { "abcdef", 2, 4 }, "bcd" },
        { { "abcdef", -3 }, "def" },
        { { "abcdef", -3, -2 }, "de" },
        { { "abcdef", 0, 2 }, "ab" },
        { { "abcdef", 4, 100 }, "def" },
        { { "abcdef", -100, 1 }, "a" },
      }
      for _, case in ipairs(cases) do
        local n = a:send(h.unpack(case[1]))
        assert.equal(#case[2], n)
        assert.equal(case[2], b:recv())
      end
      assert.equal(0, a:send("abcdef", 5, 4))  -- i > j: nothing
      assert.equal(4, a:sendall("abcdef", 5, 4))  -- the last byte sent: i - 1
      b:settimeout(0)
      assert.same({ nil, "recv: would block", uxsock.EAGAIN }, { b:recv() })
    end)

    it("sendall moves 8 MiB to a reader in another process", function()
      local size = 8 * 1024 * 1024
      -- the child counts the bytes and checks them, then answers with both
      local s, child = child_client("bulk", [[
        local n, bad = 0, 0
        while true do
          local data, err, code = c:recv()
          if not data then assert(code == uxsock.EOF, err) break end
          for i = 1, #data, 4096 do
            if data:byte(i) ~= math.floor((n + i - 1) / 4096) % 251 then bad = bad + 1 end
          end
          n = n + #data
        end
        assert(c:sendall(n .. " " .. bad))
        c:close()
      ]])
      local parts = {}
      for k = 0, math.floor(size / 4096) - 1 do
        parts[#parts + 1] = string.char(k % 251):rep(4096)
      end
      local data = table.concat(parts)
      assert.equal(size, s:sendall(data))
      assert(s:shutdown("write"))
      assert.equal(size .. " 0", s:read("a"))
      local out, rc = child:wait(30)
      assert.equal(0, rc, out)
    end)

    it("send on a full buffer with a timeout is partial or times out", function()
      local a, b = pair()
      a:settimeout(0.1)
      local big = ("x"):rep(4 * 1024 * 1024)
      local n = assert(a:send(big))  -- one call: as much as fits
      assert.is_true(n > 0 and n < #big)
      local elapsed, r, err, code = timed(a.send, a, big)
      assert.is_nil(r)
      assert.equal(uxsock.ETIMEDOUT, code)
      assert.equal("send: timed out", err)
      assert.is_true(elapsed >= 0.08 and elapsed < 5, elapsed)
      assert.is_truthy(b)
    end)

    it("sendall on a full buffer with a timeout reports how much went", function()
      local c, s = track(connected())
      c:settimeout(0.2)
      local big = ("y"):rep(8 * 1024 * 1024)
      local elapsed, r, err, code, sent = timed(c.sendall, c, big)
      assert.is_nil(r)
      assert.equal(uxsock.ETIMEDOUT, code)
      assert.matches("^sendall .*: timed out$", err)
      assert.is_true(sent > 0 and sent < #big)
      assert.is_true(elapsed >= 0.15 and elapsed < 5, elapsed)
      -- what was reported sent is exactly what the peer can read
      s:settimeout(0.5)
      local got = 0
      while true do
        local d = s:recv()
        if not d then break end
        got = got + #d
      end
      assert.equal(sent, got)
    end)
  end)

  describe("recv", function()
    it("gives what is there, up to max (default 65536)", function()
      local a, b = pair()
      assert(a:sendall(("z"):rep(100000)))
      assert.equal(10, #b:recv(10))
      local rest = b:recv()
      assert.is_true(#rest > 0 and #rest <= 65536)
      local total = 10 + #rest
      while total < 100000 do total = total + #assert(b:recv(100000)) end
      assert.equal(100000, total)
    end)

    it("returns nil, msg, EOF at end of stream, every time", function()
      local a, b = pair()
      assert(a:sendall("last"))
      a:close()
      assert.equal("last", b:recv())
      for _ = 1, 2 do
        local d, err, code = b:recv()
        assert.is_nil(d)
        assert.equal(uxsock.EOF, code)
        assert.equal("recv: end of stream", err)
      end
    end)

    it("times out after the timeout, and a later recv still gets the data", function()
      local a, b = pair()
      b:settimeout(0.2)
      local elapsed, d, err, code = timed(b.recv, b)
      assert.is_nil(d)
      assert.equal(uxsock.ETIMEDOUT, code)
      assert.equal("recv: timed out", err)
      assert.is_true(elapsed >= 0.15 and elapsed < 5, elapsed)
      a:send("late")
      assert.equal("late", b:recv())
    end)

    it("with settimeout(0) gives EAGAIN at once", function()
      local _, b = pair()
      b:settimeout(0)
      local elapsed, d, _, code = timed(b.recv, b)
      assert.is_nil(d)
      assert.equal(uxsock.EAGAIN, code)
      assert.is_true(elapsed < 1)
    end)

    it("returns bytes a reader buffered first, without waiting", function()
      local a, b = pair()
      a:send("line one\nrest of it")
      assert.equal("line one", b:read("l"))
      b:settimeout(0)  -- a system call would fail with EAGAIN
      assert.equal("rest", b:recv(4))
      assert.equal(" of it", b:recv())
      assert.equal(uxsock.EAGAIN, select(3, b:recv()))
    end)
  end)

  describe("read", function()
    it("read(n) waits for exactly n bytes arriving in pieces", function()
      local a, b = pair()
      for _, piece in ipairs({ "ab", "cde", "fghij", "k" }) do a:send(piece) end
      assert.equal("abcdefg", b:read(7))
      assert.equal("hij", b:read(3))
      assert.equal("", b:read(0))
      assert.equal("k", b:read(1))
    end)

    it("read(n) at end of stream gives the bytes that came, as io does", function()
      local a, b = pair()
      a:send("12345")
      a:close()
      assert.equal("12345", b:read(10))
      local d, err, code = b:read(10)
      assert.is_nil(d)
      assert.equal(uxsock.EOF, code)
      assert.equal("read: end of stream", err)
      assert.equal("", b:read("a"))
    end)

    it("read(n) that times out keeps the bytes for the next read", function()
      local a, b = pair()
      b:settimeout(0.1)
      a:send("half")
      local d, _, code = b:read(8)
      assert.is_nil(d)
      assert.equal(uxsock.ETIMEDOUT, code)
      a:send("-full")
      assert.equal("half-ful", b:read(8))
      assert.equal("l", b:recv())
    end)

    it("reads lines with 'l', 'L', the default and '*l'", function()
      local a, b = pair()
      a:send("one\ntwo\nthree\nfour\n\nlast")
      a:close()
      assert.equal("one", b:read("l"))
      assert.equal("two\n", b:read("L"))
      assert.equal("three", b:read())
      assert.equal("four", b:read("*l"))
      assert.equal("", b:read("l"))
      assert.equal("last", b:read("l"))  -- a last line with no newline
      local d, _, code = b:read("l")
      assert.is_nil(d)
      assert.equal(uxsock.EOF, code)
    end)

    it("a line cut by a timeout is whole on the next read", function()
      local a, b = pair()
      b:settimeout(0.1)
      a:send("partial li")
      local d, _, code = b:read("l")
      assert.is_nil(d)
      assert.equal(uxsock.ETIMEDOUT, code)
      a:send("ne\nnext\n")
      assert.equal("partial line", b:read("l"))
      assert.equal("next", b:read("l"))
    end)

    it("reads long lines that span many receives", function()
      -- 300 kB lines: more than a socket buffer holds, so a writer process
      local s, child = child_client("long", [[
        local long = ("0123456789"):rep(30000)
        assert(c:sendall(long .. "\n" .. long))
        c:close()
      ]])
      local long = ("0123456789"):rep(30000)
      assert.equal(long, s:read("l"))
      assert.equal(long, s:read("a"))
      assert.equal("", s:read("a"))  -- "a" at end of stream is ""
      local out, rc = child:wait(20)
      assert.equal(0, rc, out)
    end)

    it("read('a') reads to end of stream", function()
      local a, b = pair()
      a:send("x\ny\n")
      a:send("z")
      a:shutdown("write")
      assert.equal("x\ny\nz", b:read("a"))
    end)
  end)

  describe("lines", function()
    it("iterates lines to end of stream, with a format too", function()
      local a, b = pair()
      a:send("a\nb\nc")
      a:shutdown("write")
      local got = {}
      for line in b:lines() do got[#got + 1] = line end
      assert.same({ "a", "b", "c" }, got)

      local c, d = pair()
      c:send("a\nb\n")
      c:close()
      got = {}
      for line in d:lines("L") do got[#got + 1] = line end
      assert.same({ "a\n", "b\n" }, got)

      local e, f = pair()
      e:send("aabbc")
      e:close()
      got = {}
      for chunk in f:lines(2) do got[#got + 1] = chunk end
      assert.same({ "aa", "bb", "c" }, got)  -- the last chunk too, as io's
    end)

    it("raises the message when a read times out", function()
      local a, b = pair()
      b:settimeout(0.1)
      a:send("one\n")
      local got = {}
      local ok, err = pcall(function()
        for line in b:lines() do got[#got + 1] = line end
      end)
      assert.is_false(ok)
      assert.matches("read: timed out", err)
      assert.same({ "one" }, got)
    end)

    it("raises when the handle was closed during the loop", function()
      local a, b = pair()
      a:send("one\ntwo\n")
      local ok, err = pcall(function()
        for _ in b:lines() do b:close() end
      end)
      assert.is_false(ok)
      assert.matches("closed stream", err)
    end)
  end)

  describe("timeouts", function()
    it("accept times out, and gives EAGAIN with settimeout(0)", function()
      local path = h.sockpath("acc")
      local l = track(assert(uxsock.listen(path, { timeout = 0.2 })))
      local elapsed, s, err, code = timed(l.accept, l)
      assert.is_nil(s)
      assert.equal(uxsock.ETIMEDOUT, code)
      assert.equal("accept " .. path .. ": timed out", err)
      assert.is_true(elapsed >= 0.15 and elapsed < 5, elapsed)
      l:settimeout(0)
      assert.equal(uxsock.EAGAIN, select(3, l:accept()))
      track(assert(uxsock.connect(path)))
      local s2 = track(assert(l:accept()))
      assert.is_nil(s2:gettimeout())  -- accepted sockets block by default
    end)

    it("connect times out while the listener's backlog is full, leaking nothing", function()
      local path = h.sockpath("full")
      track(assert(uxsock.listen(path, { backlog = 0 })))
      local before = h.settled_fdcount()
      local clients, timed_out = {}, nil
      for _ = 1, 50 do
        local elapsed, c, err, code = timed(uxsock.connect, path, { timeout = 0.2 })
        if not c then
          timed_out = { elapsed, err, code }
          break
        end
        clients[#clients + 1] = c
      end
      assert.is_table(timed_out, "no connect ever waited")
      assert.equal(uxsock.ETIMEDOUT, timed_out[3])
      assert.equal("connect " .. path .. ": timed out", timed_out[2])
      assert.is_true(timed_out[1] >= 0.15 and timed_out[1] < 5, timed_out[1])
      assert.equal(uxsock.EAGAIN, select(3, uxsock.connect(path, { timeout = 0 })))
      for _, c in ipairs(clients) do c:close() end
      assert.equal(before, h.fdcount())
    end)
  end)

  describe("peercred", function()
    it("gives this process's pid, uid and gid in one process", function()
      local c, s = track(connected())
      local uid, gid = h.uid()
      assert.same({ h.pid(), uid, gid }, { c:peercred() })
      assert.same({ h.pid(), uid, gid }, { s:peercred() })
    end)

    it("gives the pid of a client in another process", function()
      local s, child = child_client("cred", [[
        local f = io.open("/proc/self/stat")
        local pid = f:read("*l"):match("^%d+")
        f:close()
        assert(c:sendall(pid))
        c:close()
      ]])
      local pid = tonumber(s:read("a"))
      local out, rc = child:wait(20)
      assert.equal(0, rc, out)
      assert.is_number(pid)
      assert.are_not.equal(h.pid(), pid)
      assert.equal(pid, (s:peercred()))
    end)
  end)

  describe("shutdown", function()
    it("'read', 'write', 'both' and the default", function()
      for _, how in ipairs({ "write", "both" }) do
        local a, b = pair()
        assert.is_true(a:shutdown(how))
        assert.equal(uxsock.EOF, select(3, b:recv()))
      end
      local a, b = pair()
      assert.is_true(a:shutdown("read"))
      -- Linux: writing to a peer that stopped reading is EPIPE, not a signal
      assert.equal(uxsock.EPIPE, select(3, b:send("more")))
      assert.equal(uxsock.EOF, select(3, a:recv()))
      assert.equal(1, a:send("x"))      -- the other way still works
      assert.equal("x", b:recv())
      local c, d = pair()
      assert.is_true(c:shutdown())
      assert.equal(uxsock.EOF, select(3, d:recv()))
      assert.equal(uxsock.EPIPE, select(3, c:send("after")))
    end)
  end)

  it("serves a client in another process through the echo protocol", function()
    local s, child = child_client("echo", [[
      for i = 1, 100 do
        assert(c:sendall("message " .. i .. "\n"))
        assert(c:read("l") == "MESSAGE " .. i)
      end
      print("client done")
      c:close()
    ]])
    local n = 0
    for line in s:lines() do
      n = n + 1
      assert(s:sendall(line:upper() .. "\n"))
    end
    assert.equal(100, n)
    local out, rc = child:wait(20)
    assert.equal(0, rc, out)
    assert.equal("client done\n", out)
  end)
end)
