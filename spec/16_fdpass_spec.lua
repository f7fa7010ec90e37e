-- Descriptors (SCM_RIGHTS) and credentials (SCM_CREDENTIALS) in
-- messages: sendfds, recvfds, sendcred, recvcred; uxsock.fromfd, fdopen,
-- closefd; with Python's socket.send_fds and recv_fds on the other end.
local h = require("helpers")
local lfs = require("lfs")
local uxsock = require("uxsock")

local track = h.track
local PYTHON = os.getenv("PYTHON") or "python3"
local PEER = "spec/fdpass_peer.py"
local linux = h.filetype("/proc/self/fdinfo") == "directory"

local function pair(kind)
  return track(assert(uxsock.socketpair(kind)))
end

-- a file holding 'content', its path
local function tmpfile(content)
  local path = h.tmpdir() .. "/f.txt"
  h.writefile(path, content)
  return path
end

-- the descriptors open now, as a set; not the one that read the
-- directory, closed when the loop ends
local function fdset()
  local s = {}
  for e in lfs.dir("/proc/self/fd") do
    if e:match("^%d+$") then s[tonumber(e)] = true end
  end
  for fd in pairs(s) do
    if not h.readfile("/proc/self/fdinfo/" .. fd) then s[fd] = nil end
  end
  return s
end

local cloexec = h.cloexec

-- runs f, then collects twice: what f left to the collector is closed
local function settled(f)
  f()
  collectgarbage()
  collectgarbage()
end

-- f must raise an error matching the pattern. It calls as h.m(h, ...),
-- not h:m(...), for the argument numbers of a plain call, and not as a
-- tail call, which LuaJIT names no function for
local function errmatch(pattern, f)
  local ok, err = pcall(f)
  assert.is_false(ok, "no error")
  assert.matches(pattern, tostring(err))
end

describe("descriptor passing", function()
  lazy_teardown(h.cleanup)
  after_each(h.close_tracked)

  it("carries descriptors of every kind in one message, each ready to use", function()
    local a, b = pair()
    local path = tmpfile("file content\nsecond line\n")
    local file = assert(io.open(path, "r"))
    local tmp = assert(io.tmpfile())
    tmp:write("in the tmpfile")
    tmp:flush()
    local s1, s2 = pair()
    local lpath = h.sockpath("l")
    local listener = track(assert(uxsock.listen(lpath)))
    local dpath = h.sockpath("d")
    local dgram = track(assert(uxsock.datagram(dpath)))
    local piped = assert(io.popen("printf 'from a pipe'"))
    local q1, q2 = pair("seqpacket")
    assert.equal(7, a:sendfds("7 items", { file, tmp, s1, listener, dgram, piped, q1:getfd() }))
    local data, fds = b:recvfds()
    assert.equal("7 items", data)
    assert.equal(7, #fds)
    assert.same({ "file", "file", "stream", "listener", "datagram", "file", "seqpacket" },
                { io.type(fds[1]), io.type(fds[2]), uxsock.type(fds[3]), uxsock.type(fds[4]),
                  uxsock.type(fds[5]), io.type(fds[6]), uxsock.type(fds[7]) })
    track(fds[3], fds[4], fds[5], fds[7])
    -- the files read what they hold
    assert.equal("file content", fds[1]:read("*l"))
    assert.equal(0, fds[2]:seek("set"))
    assert.equal("in the tmpfile", fds[2]:read("*a"))
    assert.equal("from a pipe", fds[6]:read("*a"))
    for _, i in ipairs({ 1, 2, 6 }) do assert.is_true(fds[i]:close()) end
    file:close()
    tmp:close()
    piped:close()
    -- the sockets work
    assert.equal(5, fds[3]:send("hello"))
    assert.equal("hello", s2:recv())
    local c = track(assert(uxsock.connect(lpath)))
    local accepted = track(assert(fds[4]:accept()))
    assert.equal("stream", uxsock.type(accepted))
    c:send("to the passed listener")
    assert.equal("to the passed listener", accepted:recv())
    assert.equal(3, fds[5]:sendto("dgm", dpath))
    assert.same({ "dgm", dpath }, { dgram:recvfrom() })  -- the same socket
    fds[7]:send("packet")
    assert.equal("packet", q2:recv())
    -- the passed listener did not bind the name: closing it leaves the file
    fds[4]:close()
    assert.equal("socket", h.filetype(lpath))
  end)

  it("the sender may close its copies once sendfds returns", function()
    local a, b = pair()
    local file = assert(io.open(tmpfile("still readable"), "r"))
    local s1, s2 = uxsock.socketpair()
    assert(a:sendfds("x", { file, s1 }))
    file:close()
    s1:close()
    local _, fds = b:recvfds()
    track(fds[2])
    assert.equal("still readable", fds[1]:read("*a"))
    fds[1]:close()
    -- s1's socket lives on in fds[2]: the peer is still connected
    assert(fds[2]:send("alive"))
    assert.equal("alive", s2:recv())
    fds[2]:close()
    assert.equal(uxsock.EOF, select(3, s2:recv()))
    s2:close()
  end)

  it("every received descriptor is close-on-exec", function()
    local a, b = pair()
    local file = assert(io.open(tmpfile("x"), "r"))
    local s1 = pair()
    local piped = assert(io.popen("printf x"))
    local dgram = track(assert(uxsock.datagram()))
    local before = fdset()
    assert(a:sendfds("x", { file, s1, piped, dgram:getfd() }))
    local _, fds = b:recvfds()
    track(fds[2], fds[4])
    local new = 0
    for fd in pairs(fdset()) do
      if not before[fd] then
        new = new + 1
        assert.is_true(cloexec(fd), "fd " .. fd .. " is not close-on-exec")
      end
    end
    assert.equal(4, new)
    assert.is_true(cloexec(fds[2]:getfd()))
    assert.is_true(cloexec(fds[4]:getfd()))
    fds[1]:close()
    assert.equal("x", fds[3]:read("*a"))  -- printf is done: no EPIPE for it
    fds[3]:close()
    file:close()
    piped:close()
  end)

  it("a file comes back with the mode of its descriptor's access", function()
    local a, b = pair()
    local path = tmpfile("0123456789")
    local function passed(mode)
      local f = assert(io.open(path, mode))
      assert(a:sendfds("f", { f }))
      f:close()
      local _, fds = b:recvfds()
      assert.equal("file", io.type(fds[1]))
      return fds[1]
    end
    local r = passed("r")
    assert.equal("0123", r:read(4))
    assert.is_nil(r:write("no"))  -- read-only
    r:close()
    local w = passed("w")  -- io.open truncated it; passing does not
    assert.truthy(w:write("written"))
    assert.truthy(w:flush())
    assert.is_nil(w:read("*a"))  -- write-only
    w:close()
    assert.equal("written", h.readfile(path))
    local ap = passed("a")
    ap:write("+appended")
    ap:close()
    assert.equal("written+appended", h.readfile(path))
    local rw = passed("r+")
    assert.equal("written", rw:read(7))
    rw:seek("set", 0)
    rw:write("W")
    rw:close()
    assert.equal("Written+appended", h.readfile(path))
    local aplus = passed("a+")
    aplus:write("!")
    aplus:seek("set", 0)
    assert.equal("Written+appended!", aplus:read("*a"))
    aplus:close()
  end)

  it("several messages, each with its own descriptors, stay apart on a stream", function()
    local a, b = pair()
    local one = assert(io.open(tmpfile("one"), "r"))
    local two = assert(io.open(tmpfile("two"), "r"))
    assert(a:sendfds("first", { one }))
    assert(a:sendfds("second", { two, two }))
    one:close()
    two:close()
    local d1, f1 = b:recvfds()
    local d2, f2 = b:recvfds()
    assert.same({ "first", 1, "second", 2 }, { d1, #f1, d2, #f2 })
    assert.equal("one", f1[1]:read("*a"))
    assert.equal("two", f2[1]:read("*a"))
    for _, f in ipairs({ f1[1], f2[1], f2[2] }) do f:close() end
    -- a message with no descriptors gives an empty list; a closed peer EOF
    a:send("plain")
    local d3, f3 = b:recvfds()
    assert.same({ "plain", {} }, { d3, f3 })
    a:close()
    local r, err, code = b:recvfds()
    assert.is_nil(r)
    assert.equal(uxsock.EOF, code)
    assert.equal("recvfds: end of stream", err)
  end)

  it("bytes a read buffered come first, with no descriptors", function()
    local a, b = pair()
    a:send("line\nrest")
    assert.equal("line", b:read("l"))
    assert.same({ "rest", {} }, { b:recvfds() })
    local s1 = pair()
    assert(a:sendfds("z", { s1 }))
    local d, fds = b:recvfds()
    assert.equal("z", d)
    assert.equal("stream", uxsock.type(fds[1]))
    fds[1]:close()
  end)

  it("sendfds never raises SIGPIPE; each call is one system call, with the flags", function()
    local a, b = pair()
    local s1 = pair()
    b:close()
    local r, err, code = a:sendfds("x", { s1 })
    assert.is_nil(r)
    assert.equal(uxsock.EPIPE, code)
    assert.equal("sendfds: Broken pipe", err)
    -- traced: MSG_NOSIGNAL on each send, MSG_CMSG_CLOEXEC on each receive
    local dir = h.tmpdir()
    local script, out = dir .. "/traced.lua", dir .. "/strace.out"
    h.writefile(script, [[
      local uxsock = require("uxsock")
      local a, b = uxsock.socketpair()
      for _ = 1, 3 do
        assert(a:sendfds("x", { a }))
        assert(a:sendcred("y"))
        local _, fds = assert(b:recvfds())
        fds[1]:close()
        assert(b:recvcred())
      end
    ]])
    local output, how, rc = h.run("timeout 60 strace -o " .. h.q(out) ..
                                  " -e trace=sendmsg,recvmsg " .. h.luacmd(script))
    assert.same({ "exit", 0 }, { how, rc }, output)
    local sends, recvs = 0, 0
    for line in io.lines(out) do
      if line:match("^sendmsg%(") then
        sends = sends + 1
        assert.matches("MSG_NOSIGNAL", line)
        assert.matches(sends % 2 == 1 and "SCM_RIGHTS" or "SCM_CREDENTIALS", line)
      elseif line:match("^recvmsg%(") then
        recvs = recvs + 1
        assert.matches("MSG_CMSG_CLOEXEC", line)
      end
    end
    assert.same({ 6, 6 }, { sends, recvs })
  end)

  it("recvfds follows the handle's timeout", function()
    local _, b = pair()
    b:settimeout(0)
    assert.equal(uxsock.EAGAIN, select(3, b:recvfds()))
    b:settimeout(0.1)
    local r, err, code = b:recvfds()
    assert.is_nil(r)
    assert.equal(uxsock.ETIMEDOUT, code)
    assert.equal("recvfds: timed out", err)
  end)

  it("a received socket keeps its O_NONBLOCK flag, which it shares with the sender's", function()
    local a, b = pair()
    local x, y = pair()
    x:settimeout(0)  -- makes the shared description non-blocking
    assert(a:sendfds("x", { x }))
    local _, fds = b:recvfds()
    local x2 = track(fds[1])
    assert.is_nil(x2:gettimeout())
    -- the sender's handle still does not wait
    assert.equal(uxsock.EAGAIN, select(3, x:recv()))
    -- the received one waits, as a handle without a timeout does
    x2:settimeout(0.1)
    assert.equal(uxsock.ETIMEDOUT, select(3, x2:recv()))
    x2:settimeout(nil)
    y:send("data")
    assert.equal("data", x2:recv())
  end)

  it("control data that does not fit in maxfds is an error, and nothing leaks", function()
    local a, b = pair()
    local s1 = pair()
    local before = h.settled_fdcount()
    assert(a:sendfds("three", { s1, s1, s1 }))
    local r, err, code, data = b:recvfds(100, 2)
    assert.is_nil(r)
    assert.equal(uxsock.ENOBUFS, code)
    assert.equal("recvfds: control data truncated (more descriptors than maxfds, 2)", err)
    assert.equal("three", data)
    assert.equal(before, h.fdcount())
    -- closed once: the numbers, used again, are not closed a second time
    local x, y = pair()
    collectgarbage()
    collectgarbage()
    assert.equal(10, x:send("still open"))
    assert.equal("still open", y:recv())
    x:close()
    y:close()
    -- maxfds 1 also gets room for 2 (alignment): still refused
    assert(a:sendfds("two", { s1, s1 }))
    assert.equal(uxsock.ENOBUFS, select(3, b:recvfds(100, 1)))
    assert.equal(before, h.fdcount())
    -- enough room: taken
    assert(a:sendfds("ok", { s1, s1, s1 }))
    local d, fds = b:recvfds(100, 3)
    assert.same({ "ok", 3 }, { d, #fds })
    for _, s in ipairs(fds) do s:close() end
    assert.equal(before, h.fdcount())
  end)

  it("253 descriptors pass in one message", function()
    local a, b = pair()
    local s1 = pair()
    local list = {}
    for i = 1, 253 do list[i] = s1 end
    local before = h.settled_fdcount()
    assert(a:sendfds("many", list))
    local d, fds = b:recvfds()
    assert.same({ "many", 253 }, { d, #fds })
    assert.equal(before + 253, h.fdcount())
    for _, s in ipairs(fds) do
      assert.equal("stream", uxsock.type(s))
      s:close()
    end
    assert.equal(before, h.fdcount())
  end)

  it("no descriptor leaks over 10,000 passes, errors included", function()
    local a, b = pair()
    local dpath = h.sockpath("leak")
    local server = track(assert(uxsock.datagram(dpath)))
    local client = track(assert(uxsock.datagram()))
    local file = assert(io.open(tmpfile("leak test"), "r"))
    local s1 = pair()
    local before
    settled(function()
      before = h.fdcount()
      for i = 1, 10000 do
        if i % 10 == 0 then  -- too many: refused, closed
          assert(a:sendfds("x", { file, s1 }))
          assert.equal(uxsock.ENOBUFS, select(3, b:recvfds(10, 1)))
        elseif i % 10 == 1 then  -- a datagram too long: refused, closed
          assert(client:sendfds("too long", { file, s1 }, dpath))
          assert.equal(uxsock.EMSGSIZE, select(3, server:recvfds(3)))
        else
          assert(a:sendfds("x", { file, s1 }))
          local _, fds = b:recvfds(10, 2)
          if i % 2 == 0 then  -- closed here, or left to the collector
            fds[1]:close()
            fds[2]:close()
          end
        end
        if i % 100 == 0 then collectgarbage() end
      end
    end)
    assert.equal(before, h.fdcount())
    file:close()
  end)

  it("an integer is for the rest: closefd closes it, fromfd and fdopen wrap", function()
    local path = h.sockpath("py")
    local job = h.spawn(table.concat({ PYTHON, PEER, "serve", "stream", h.q(path),
                                       h.q(tmpfile("python's file")) }, " "))
    assert.is_true(h.waitfor(path, 20))
    local c = track(assert(uxsock.connect(path, { timeout = 20 })))
    local _, fds = assert(c:recvfds())
    -- a directory and an AF_INET socket are integers
    assert.equal("number", type(fds[2]))
    assert.equal("number", type(fds[3]))
    assert.is_true(cloexec(fds[2]))
    local r, err, code = uxsock.fromfd(fds[2])
    assert.is_nil(r)
    assert.equal(uxsock.ENOTSOCK, code)
    assert.equal("fromfd: Socket operation on non-socket", err)
    r, _, code = uxsock.fromfd(fds[3])
    assert.is_nil(r)
    assert.equal(uxsock.EAFNOSUPPORT, code)  -- not a Unix socket
    assert.is_true(uxsock.closefd(fds[2]))
    assert.is_true(uxsock.closefd(fds[3]))
    r, err, code = uxsock.closefd(fds[3])
    assert.is_nil(r)
    assert.equal(uxsock.EBADF, code)
    assert.equal("closefd: Bad file descriptor", err)
    fds[1]:close()
    fds[4]:close()
    local file = assert(io.open(tmpfile("done"), "r"))
    c:sendfds("end", { file })
    file:close()
    assert.equal("end=1|done", c:read("a"))
    local out, rc = job:wait(20)
    assert.equal(0, rc, out)
  end)

  it("fromfd and fdopen wrap an inherited descriptor, as its kind", function()
    -- stdin a Unix socket (the Python peer's socketpair): a handle
    local code = [[
      local uxsock = require("uxsock")
      local r, err, code = uxsock.fromfd(0, "datagram")
      assert(r == nil and code == uxsock.EPROTOTYPE, err)
      assert(err == "fromfd: a stream, not a datagram", err)
      local s = assert(uxsock.fromfd(0, "stream"))
      local data = assert(s:recv())
      assert(s:send(data:upper() .. " from a " .. uxsock.type(s)))
      s:close()
    ]]
    local cmd = "env LUA_CPATH=" .. h.q(h.CPATH) .. " " .. h.LUA .. " -e " .. h.q(code)
    local out, how, rc = h.run(table.concat({ PYTHON, PEER, "stdin", "stream", cmd }, " "))
    assert.same({ "exit", 0 }, { how, rc }, out)
    assert.equal("PING from a stream", out)
    -- stdin a pipe: fromfd refuses it, fdopen makes a file of it
    code = [[
      local uxsock = require("uxsock")
      local r, _, code = uxsock.fromfd(0)
      assert(r == nil and code == uxsock.ENOTSOCK)
      r, _, code = uxsock.fdopen(0, "w")  -- the read end of a pipe
      assert(r == nil and code == uxsock.EINVAL)
      local f = assert(uxsock.fdopen(0))
      io.write(io.type(f), ": ", f:read("*a"))
      assert(f:close())
      assert(uxsock.closefd(0) == nil)
    ]]
    cmd = "printf piped | env LUA_CPATH=" .. h.q(h.CPATH) .. " " .. h.LUA .. " -e " .. h.q(code)
    out, how, rc = h.run(cmd)
    assert.same({ "exit", 0 }, { how, rc }, out)
    assert.equal("file: piped", out)
  end)

  for _, kind in ipairs({ "stream", "seqpacket" }) do
    it("passes descriptors to and from Python's send_fds and recv_fds (" .. kind .. ")", function()
      local path = h.sockpath("py")
      local job = h.spawn(table.concat({ PYTHON, PEER, "serve", kind, h.q(path),
                                         h.q(tmpfile("python's file")) }, " "))
      assert.is_true(h.waitfor(path, 20))
      local c = track(assert(uxsock.connect(path, { type = kind, timeout = 20 })))
      local data, fds = assert(c:recvfds())
      assert.equal("from python", data)
      assert.equal(4, #fds)
      assert.equal("python's file", fds[1]:read("*a"))
      assert.equal("through a pipe", fds[4]:read("*a"))
      fds[1]:close()
      fds[4]:close()
      uxsock.closefd(fds[2])
      uxsock.closefd(fds[3])
      -- and back: a file, a pipe, a socket whose peer answered first
      local file = assert(io.open(tmpfile("lua's file"), "r"))
      local piped = assert(io.popen("printf 'lua pipe'"))
      local s1, s2 = pair()
      s2:send("pong")
      assert(c:sendfds("from lua", { file, piped, s1 }))
      file:close()
      s1:close()
      local reply = kind == "stream" and c:read("a") or c:recv()
      piped:close()
      assert.equal("from lua=3|lua's file|lua pipe|socket:pong", reply)
      assert.equal("ping", s2:recv())
      local out, rc = job:wait(20)
      assert.equal(0, rc, out)
    end)
  end

  it("seqpacket: an empty message with descriptors is a message, not the end", function()
    local a, b = pair("seqpacket")
    local s1 = pair()
    assert.equal(0, a:sendfds("", { s1 }))
    local d, fds = b:recvfds()
    assert.equal("", d)
    assert.equal("stream", uxsock.type(fds[1]))
    fds[1]:close()
    a:sendfds("long message", { s1 })
    local before = h.settled_fdcount()
    local r, err, code, head = b:recvfds(4)
    assert.is_nil(r)
    assert.equal(uxsock.EMSGSIZE, code)
    assert.equal("recvfds: message too long (12 bytes, max 4)", err)
    assert.equal("long", head)
    assert.equal(before, h.fdcount())
    a:close()
    assert.equal(uxsock.EOF, select(3, b:recvfds()))
  end)

  it("datagram: sendfds to a name, recvfds with the sender's name", function()
    local spath = h.sockpath("srv")
    local server = track(assert(uxsock.datagram(spath)))
    local cpath = h.sockpath("cli")
    local client = track(assert(uxsock.datagram(cpath)))
    local s1 = pair()
    assert.equal(5, client:sendfds("hello", { s1 }, spath))
    local d, fds, sender = server:recvfds()
    assert.same({ "hello", "stream", cpath }, { d, uxsock.type(fds[1]), sender })
    fds[1]:close()
    -- an empty datagram carries them too; a connected socket needs no name
    assert(client:connect(spath))
    assert.equal(0, client:sendfds("", { s1, s1 }))
    d, fds, sender = server:recvfds()
    assert.same({ "", 2, cpath }, { d, #fds, sender })
    fds[1]:close()
    fds[2]:close()
    -- too long: the head and the sender, the descriptors closed
    local before = h.settled_fdcount()
    client:sendfds("0123456789", { s1 })
    local r, err, code, head, from = server:recvfds(5)
    assert.same({ uxsock.EMSGSIZE, "01234", cpath }, { code, head, from })
    assert.is_nil(r)
    assert.equal("recvfds " .. spath .. ": message too long (10 bytes, max 5)", err)
    -- too many: the data and the sender
    client:sendfds("abc", { s1, s1 })
    r, err, code, head, from = server:recvfds(100, 1)
    assert.is_nil(r)
    assert.same({ uxsock.ENOBUFS, "abc", cpath }, { code, head, from })
    assert.matches("^recvfds .*: control data truncated", err)
    assert.equal(before, h.fdcount())
    -- to a name that is not there
    local missing = h.sockpath("none")
    local other = track(assert(uxsock.datagram()))
    r, err, code = other:sendfds("x", { s1 }, missing)
    assert.is_nil(r)
    assert.equal(uxsock.ENOENT, code)
    assert.equal("sendfds " .. missing .. ": No such file or directory", err)
  end)

  it("raises for argument mistakes, naming the argument", function()
    local a, b = pair()
    local d = track(assert(uxsock.datagram()))
    local file = assert(io.open(tmpfile("x"), "r"))
    local closed = uxsock.socketpair()
    closed:close()
    local closedfile = assert(io.open(tmpfile("y"), "r"))
    closedfile:close()
    local many = {}
    for i = 1, 254 do many[i] = 0 end
    local E = "bad argument #%d to '%s' %%(%s%%)"
    local function bad(n, fname, msg, f) errmatch(E:format(n, fname, msg), f) end
    bad(2, "sendfds", "string or buffer expected, got table",
        function() a.sendfds(a, {}, {}) end)  -- data first
    bad(2, "sendfds", "empty data on a stream %(control data needs a byte%)",
        function() a.sendfds(a, "", { 0 }) end)
    bad(3, "sendfds", "table expected, got number", function() a.sendfds(a, "x", 0) end)
    bad(3, "sendfds", "fds: an empty list %(1 to 253 descriptors%)",
        function() a.sendfds(a, "x", {}) end)
    bad(3, "sendfds", "fds: more than 253 descriptors", function() a.sendfds(a, "x", many) end)
    bad(3, "sendfds", "fds%[2%]: uxsock handle, Lua file or descriptor expected, got string",
        function() a.sendfds(a, "x", { file, "3" }) end)
    bad(3, "sendfds", "fds%[1%]: attempt to use a closed stream",
        function() a.sendfds(a, "x", { closed }) end)
    bad(3, "sendfds", "fds%[2%]: attempt to use a closed file",
        function() a.sendfds(a, "x", { 0, closedfile }) end)
    bad(3, "sendfds", "fds%[1%]: descriptor must be an integer >= 0",
        function() a.sendfds(a, "x", { -1 }) end)
    bad(4, "sendfds", "a name is for datagram sockets only",
        function() a.sendfds(a, "x", { 0 }, "/tmp/x") end)
    bad(4, "sendfds", "empty socket name", function() d.sendfds(d, "x", { 0 }, "") end)
    bad(1, "sendfds", "attempt to use a closed stream",
        function() closed.sendfds(closed, "x", { 0 }) end)
    bad(2, "recvfds", "max must be positive", function() b.recvfds(b, 0) end)
    bad(3, "recvfds", "maxfds must be 1 to 253", function() b.recvfds(b, 10, 0) end)
    bad(3, "recvfds", "maxfds must be 1 to 253", function() b.recvfds(b, 10, 254) end)
    bad(3, "recvfds", "number has no integer representation",
        function() b.recvfds(b, 10, 1.5) end)
    bad(2, "sendcred", "empty data on a stream %(control data needs a byte%)",
        function() a.sendcred(a, "") end)
    bad(3, "sendcred", "a name is for datagram sockets only",
        function() a.sendcred(a, "x", "/tmp/x") end)
    bad(2, "recvcred", "max must be positive", function() b.recvcred(b, -1) end)
    bad(1, "fromfd", "descriptor must be an integer >= 0", function() uxsock.fromfd(-1) end)
    bad(1, "fromfd", "number expected, got string", function() uxsock.fromfd("x") end)
    bad(2, "fromfd", "invalid option 'socket'", function() uxsock.fromfd(0, "socket") end)
    bad(2, "fdopen", "invalid mode", function() uxsock.fdopen(0, "rw") end)
    bad(1, "closefd", "number expected, got no value", function() uxsock.closefd() end)
    -- a listener passes nothing
    local l = track(assert(uxsock.listen(h.sockpath("l"))))
    assert.is_nil(l.sendfds)
    assert.is_nil(l.recvcred)
    file:close()
  end)

  it("runs examples/fd_passing.lua", function()
    local path = tmpfile("first line\nsecond\n")
    local out, how, code = h.run(h.LUA .. " examples/fd_passing.lua " .. h.q(path))
    assert.same({ "exit", 0 }, { how, code }, out)
    assert.equal("parent: sent an open file, " .. path .. ", and closed it\n" ..
                 'child: got "here is ' .. path .. '" and a file\n' ..
                 'child: its first line is "first line"\n' ..
                 "parent: the child says: read 18 bytes\n", out)
  end)
end)

describe("credentials", function()
  lazy_teardown(h.cleanup)
  after_each(h.close_tracked)

  local uid, gid = h.uid()

  if not linux then
    it("sendcred and recvcred fail with ENOTSUP", function()
      local a, b = pair()
      assert.equal(uxsock.ENOTSUP, select(3, a:sendcred("x")))
      assert.equal(uxsock.ENOTSUP, select(3, b:recvcred()))
    end)
    return
  end

  it("recvcred gives the pid, uid and gid sendcred sent, as the kernel checked them", function()
    for _, kind in ipairs({ "stream", "seqpacket" }) do
      local a, b = pair(kind)
      assert.equal(5, a:sendcred("hello"))
      local data, cred = b:recvcred()
      assert.equal("hello", data)
      assert.same({ pid = h.pid(), uid = uid, gid = gid }, cred)
    end
  end)

  it("a message sent before SO_PASSCRED was on, without sendcred, has none", function()
    local a, b = pair()
    a:send("before")
    local data, cred = b:recvcred()  -- turns SO_PASSCRED on: too late for it
    assert.equal("before", data)
    assert.is_nil(cred)  -- Linux says pid 0, uid and gid 65534
    -- from now on the kernel attaches them to everything sent here
    a:send("after")
    data, cred = b:recvcred()
    assert.equal("after", data)
    assert.same({ pid = h.pid(), uid = uid, gid = gid }, cred)
  end)

  it("are the real ids of another process (another user too, as root)", function()
    local name = h.abstract("cred")
    local server = track(assert(uxsock.listen(name, { timeout = 20 })))
    local code = string.format([[
      local uxsock = require("uxsock")
      local f = assert(io.open("/proc/self/stat"))
      local pid = f:read("*l"):match("^(%%d+)")
      f:close()
      local ids = {}
      for line in io.lines("/proc/self/status") do
        local k, v = line:match("^([UG]id):%%s+(%%d+)")
        if k then ids[k] = v end
      end
      local c = assert(uxsock.connect(%q))
      assert(c:sendcred(pid .. " " .. ids.Uid .. " " .. ids.Gid))
      assert(c:recv())  -- waits for the parent to read
      c:close()
    ]], name)
    local other = uid == 0 and h.can_act_as_other()
    local job = h.spawn(other and h.other_luacmd(code) or h.luacmd(code))
    local conn, err = server:accept()
    assert(conn, tostring(err) .. ": " .. job:describe())
    track(conn)
    conn:settimeout(20)
    local data, cred = assert(conn:recvcred())
    conn:send("done")
    local out, rc = job:wait(20)
    assert.equal(0, rc, out)
    local pid, cuid, cgid = data:match("^(%d+) (%d+) (%d+)$")
    assert.same({ pid = tonumber(pid), uid = tonumber(cuid), gid = tonumber(cgid) }, cred)
    assert.are_not.equal(h.pid(), cred.pid)
    if other then assert.same({ 4321, 4321 }, { cred.uid, cred.gid }) end
  end)

  it("datagram: recvcred gives the sender's name; too long is EMSGSIZE", function()
    local spath = h.sockpath("srv")
    local server = track(assert(uxsock.datagram(spath)))
    local cpath = h.sockpath("cli")
    local client = track(assert(uxsock.datagram(cpath)))
    assert.equal(2, client:sendcred("hi", spath))
    local data, cred, sender = server:recvcred()
    assert.same({ "hi", h.pid(), cpath }, { data, cred.pid, sender })
    assert(client:connect(spath))
    assert.equal(0, client:sendcred(""))
    data, cred, sender = server:recvcred()
    assert.same({ "", uid, cpath }, { data, cred.uid, sender })
    client:sendcred("0123456789")
    local r, err, code, head, from = server:recvcred(4)
    assert.is_nil(r)
    assert.same({ uxsock.EMSGSIZE, "0123", cpath }, { code, head, from })
    assert.equal("recvcred " .. spath .. ": message too long (10 bytes, max 4)", err)
    -- SO_PASSCRED on: Linux names an unbound socket when it sends
    local unbound = track(assert(uxsock.datagram(nil, { timeout = 0 })))
    assert.equal(uxsock.EAGAIN, select(3, unbound:recvcred()))
    assert.equal("", unbound:getsockname())
    assert(unbound:sendto("x", spath))
    assert.matches("^@%x+$", unbound:getsockname())
    data, cred, sender = server:recvcred()
    assert.same({ "x", h.pid(), unbound:getsockname() }, { data, cred.pid, sender })
  end)

  it("recvcred closes descriptors that come along; recvfds ignores credentials", function()
    local a, b = pair("seqpacket")
    local s1 = pair()
    a:send("SO_PASSCRED on")
    assert.equal("SO_PASSCRED on", (b:recvcred()))
    local before = h.settled_fdcount()
    assert(a:sendfds("with fds", { s1, s1 }))
    local data, cred = b:recvcred()
    assert.equal("with fds", data)
    assert.equal(h.pid(), cred.pid)  -- attached by the kernel
    assert.equal(before, h.fdcount())
    -- SO_PASSCRED on: credentials come with every message, before the
    -- descriptors, and do not take their room
    assert(a:sendfds("x", { s1 }))
    local d, fds = b:recvfds(10, 1)
    assert.same({ "x", 1 }, { d, #fds })
    fds[1]:close()
    a:close()
    assert.equal(uxsock.EOF, select(3, b:recvcred()))
  end)
end)
