-- The module surface: the table require returns, error codes, handle
-- kinds, tostring, socketpair, the methods every handle has, and the
-- argument checks of every function and method.
local helpers = require("helpers")
local lfs = require("lfs")
local uxsock = require("uxsock")

-- every code README lists as exported
local CODES = {
  "EOF", "ETIMEDOUT", "EAGAIN", "EPIPE", "ECONNREFUSED", "ECONNRESET", "ENOENT",
  "EADDRINUSE", "EACCES", "EPERM", "EMSGSIZE", "ENOTCONN", "EISCONN",
  "EDESTADDRREQ", "EPROTOTYPE", "EMFILE", "ENFILE", "ENOBUFS", "ENOMEM",
  "ENOTSOCK", "ENOTDIR", "ENAMETOOLONG", "EINVAL", "ENOTSUP", "EINTR",
  "EBADF", "EAFNOSUPPORT", "EEXIST",
}

-- calls f, which must raise; each further argument is a piece of text the
-- message must hold (plain, not a pattern). Returns the message.
-- f makes its call as a statement, not as 'return g()': LuaJIT names no
-- function in 'bad argument' that was called in a tail call.
local function raises(f, ...)
  local ok, err = pcall(f)
  assert.is_false(ok, "expected an error, got none")
  err = tostring(err)
  for i = 1, select("#", ...) do
    local part = select(i, ...)
    assert.is_truthy(err:find(part, 1, true),
                     string.format("error %q does not contain %q", err, part))
  end
  return err
end

-- the values the C library's <errno.h> gives these names, from the C
-- preprocessor of this machine
local function os_errnos(names)
  local dir = helpers.tmpdir()
  local src = dir .. "/errno.c"
  local lines = { "#include <errno.h>" }
  for _, n in ipairs(names) do
    lines[#lines + 1] = "uxsock_errno_" .. n .. " = " .. n
  end
  helpers.writefile(src, table.concat(lines, "\n") .. "\n")
  local out = helpers.run("cc -E -P " .. helpers.q(src))
  local values = {}
  for name, value in out:gmatch("uxsock_errno_(%w+) = %(?(%d+)%)?") do
    values[name] = tonumber(value)
  end
  return values
end

-- every kind of open handle, made fresh: { kind = handle }, and a list
-- of everything to close
local function allkinds()
  local path = helpers.sockpath("k")
  local l = assert(uxsock.listen(path))
  local c = assert(uxsock.connect(path))
  local a = assert(l:accept())
  local p, q = assert(uxsock.socketpair("seqpacket"))
  local d = assert(uxsock.datagram())
  return { listener = l, stream = c, seqpacket = p, datagram = d },
         { l, c, a, p, q, d }, path, { a, q }
end

local function closeall(list)
  for _, h in ipairs(list) do h:close() end
end

describe("uxsock module", function()
  lazy_teardown(function() helpers.cleanup() end)

  it("require returns a table, the same one each time", function()
    assert.are.equal("table", type(uxsock))
    assert.are.equal(uxsock, require("uxsock"))
    for _, f in ipairs({ "listen", "connect", "datagram", "socketpair", "type" }) do
      assert.are.equal("function", type(uxsock[f]), f)
    end
  end)

  it("monotime counts seconds on a clock that never goes back", function()
    local t0 = uxsock.monotime()
    assert.equal("number", type(t0))
    os.execute("sleep 0.05")
    local t1 = uxsock.monotime()
    assert.is_true(t1 - t0 >= 0.04 and t1 - t0 < 5, t1 - t0)
  end)

  it("_VERSION is 'uxsock 0.1.0'", function()
    assert.are.equal("uxsock 0.1.0", uxsock._VERSION)
    assert.matches("^uxsock %d+%.%d+%.%d+$", uxsock._VERSION)
  end)

  it("exports every error code as an integer; EOF is -1", function()
    for _, name in ipairs(CODES) do
      assert.are.equal("integer", helpers.mathtype(uxsock[name]), name)
    end
    assert.are.equal(-1, uxsock.EOF)
  end)

  it("gives each errno code the value of the system's <errno.h>", function()
    local names = {}
    for _, n in ipairs(CODES) do
      if n ~= "EOF" then names[#names + 1] = n end
    end
    local sys = os_errnos(names)
    for _, n in ipairs(names) do
      assert.is_number(sys[n], "the C preprocessor did not give " .. n)
      assert.are.equal(sys[n], uxsock[n], n)
      assert.is_true(uxsock[n] > 0, n)
      assert.are_not.equal(uxsock.EOF, uxsock[n], n)
    end
    -- distinct exactly where the system makes them distinct
    for _, a in ipairs(names) do
      for _, b in ipairs(names) do
        assert.are.equal(sys[a] == sys[b], uxsock[a] == uxsock[b], a .. " vs " .. b)
      end
    end
  end)

  it("codes are the ones failures return (ENOENT from a missing path)", function()
    local s, msg, code = uxsock.connect(helpers.sockpath("missing"))
    assert.is_nil(s)
    assert.is_string(msg)
    assert.are.equal(uxsock.ENOENT, code)
  end)
end)

describe("uxsock.type", function()
  lazy_teardown(function() helpers.cleanup() end)

  it("names each kind of open handle", function()
    local kinds, list = allkinds()
    for kind, h in pairs(kinds) do
      assert.are.equal(kind, uxsock.type(h))
    end
    local a, b = assert(uxsock.socketpair("datagram"))
    assert.are.equal("datagram", uxsock.type(a))
    assert.are.equal("datagram", uxsock.type(b))
    a:close(); b:close()
    -- a seqpacket listener makes seqpacket sockets
    local path = helpers.sockpath("sp")
    local l = assert(uxsock.listen(path, { type = "seqpacket" }))
    local c = assert(uxsock.connect(path, { type = "seqpacket" }))
    local s = assert(l:accept())
    assert.are.equal("listener", uxsock.type(l))
    assert.are.equal("seqpacket", uxsock.type(c))
    assert.are.equal("seqpacket", uxsock.type(s))
    closeall({ l, c, s })
    closeall(list)
  end)

  it("names closed handles 'closed <kind>'", function()
    local kinds, list = allkinds()
    closeall(list)
    for kind, h in pairs(kinds) do
      assert.are.equal("closed " .. kind, uxsock.type(h))
    end
  end)

  it("returns nil for values that are not handles", function()
    local s, t = assert(uxsock.socketpair())
    local f = assert(io.open("/dev/null"))
    local fakes = {
      {}, "stream", "uxsock.stream", 42, 1.5, true, false, print,
      io.stdout, f, coroutine.create(function() end),
      setmetatable({}, getmetatable(s)),  -- a table dressed as a handle
    }
    for i, v in ipairs(fakes) do
      local n = select("#", uxsock.type(v))
      assert.are.equal(1, n, "case " .. i)
      assert.is_nil(uxsock.type(v), "case " .. i)
    end
    assert.is_nil(uxsock.type(nil))
    assert.are.equal(1, select("#", uxsock.type(nil)))
    f:close()
    s:close(); t:close()
  end)

  it("raises without an argument", function()
    raises(function() uxsock.type() end, "bad argument #1 to 'type'")
  end)
end)

describe("tostring of a handle", function()
  lazy_teardown(function() helpers.cleanup() end)

  it("shows the kind and the fd of an unnamed open handle", function()
    local a, b = assert(uxsock.socketpair())
    assert.are.equal(string.format("uxsock.stream (fd %d)", a:getfd()), tostring(a))
    assert.are.equal(string.format("uxsock.stream (fd %d)", b:getfd()), tostring(b))
    local p, q = assert(uxsock.socketpair("seqpacket"))
    assert.are.equal(string.format("uxsock.seqpacket (fd %d)", p:getfd()), tostring(p))
    local d = assert(uxsock.datagram())
    assert.are.equal(string.format("uxsock.datagram (fd %d)", d:getfd()), tostring(d))
    closeall({ a, b, p, q, d })
  end)

  it("shows 'closed' for an unnamed closed handle", function()
    local a, b = assert(uxsock.socketpair())
    local p, q = assert(uxsock.socketpair("seqpacket"))
    local d = assert(uxsock.datagram())
    closeall({ a, b, p, q, d })
    assert.are.equal("uxsock.stream (closed)", tostring(a))
    assert.are.equal("uxsock.seqpacket (closed)", tostring(p))
    assert.are.equal("uxsock.datagram (closed)", tostring(d))
  end)

  it("shows the name of a named handle, open and closed", function()
    local path = helpers.sockpath("ts")
    local l = assert(uxsock.listen(path))
    local c = assert(uxsock.connect(path))
    local s = assert(l:accept())
    local dpath = helpers.sockpath("tsd")
    local d = assert(uxsock.datagram(dpath))
    assert.are.equal(string.format("uxsock.listener (fd %d, %s)", l:getfd(), path),
                     tostring(l))
    assert.are.equal(string.format("uxsock.stream (fd %d, %s)", c:getfd(), path),
                     tostring(c))
    assert.are.equal(string.format("uxsock.stream (fd %d, %s)", s:getfd(), path),
                     tostring(s))
    assert.are.equal(string.format("uxsock.datagram (fd %d, %s)", d:getfd(), dpath),
                     tostring(d))
    closeall({ s, c, l, d })
    assert.are.equal("uxsock.listener (closed, " .. path .. ")", tostring(l))
    assert.are.equal("uxsock.stream (closed, " .. path .. ")", tostring(c))
    assert.are.equal("uxsock.stream (closed, " .. path .. ")", tostring(s))
    assert.are.equal("uxsock.datagram (closed, " .. dpath .. ")", tostring(d))
  end)

  it("shows abstract names with '@', also when made with a NUL", function()
    local name = helpers.abstract("ts")
    local l = assert(uxsock.listen("\0" .. name:sub(2)))
    assert.are.equal(string.format("uxsock.listener (fd %d, %s)", l:getfd(), name),
                     tostring(l))
    local name2 = helpers.abstract("ts2")
    local l2 = assert(uxsock.listen(name2, { type = "seqpacket" }))
    local c = assert(uxsock.connect(name2, { type = "seqpacket" }))
    assert.are.equal(string.format("uxsock.seqpacket (fd %d, %s)", c:getfd(), name2),
                     tostring(c))
    closeall({ l, c, l2 })
    assert.are.equal("uxsock.listener (closed, " .. name .. ")", tostring(l))
    assert.are.equal("uxsock.seqpacket (closed, " .. name2 .. ")", tostring(c))
  end)
end)

describe("uxsock.socketpair", function()
  it("makes two connected stream sockets by default", function()
    local a, b = uxsock.socketpair()
    assert.are.equal("stream", uxsock.type(a))
    assert.are.equal("stream", uxsock.type(b))
    assert.are_not.equal(a:getfd(), b:getfd())
    assert.are.equal(5, a:send("hello"))
    assert.are.equal("hello", b:read(5))
    assert.are.equal(3, b:send("abc"))
    assert.are.equal("abc", a:read(3))
    a:close(); b:close()
  end)

  it("makes each type it is asked for, connected", function()
    for _, kind in ipairs({ "stream", "datagram", "seqpacket" }) do
      local a, b = uxsock.socketpair(kind)
      assert.are.equal(kind, uxsock.type(a))
      assert.are.equal(kind, uxsock.type(b))
      assert.are.equal(3, a:send("one"))
      assert.are.equal(3, a:send("two"))
      if kind == "stream" then
        assert.are.equal("onetwo", b:read(6))
      else  -- message boundaries kept
        assert.are.equal("one", b:recv())
        assert.are.equal("two", b:recv())
      end
      a:close(); b:close()
    end
  end)

  it("raises naming argument #1 for a bad type", function()
    raises(function() uxsock.socketpair("listener") end,
           "bad argument #1 to 'socketpair'", "listener")
    raises(function() uxsock.socketpair("dgram") end,
           "bad argument #1 to 'socketpair'", "dgram")
    raises(function() uxsock.socketpair({}) end,
           "bad argument #1 to 'socketpair'")
    raises(function() uxsock.socketpair(true) end,
           "bad argument #1 to 'socketpair'")
  end)
end)

describe("methods of every handle", function()
  lazy_teardown(function() helpers.cleanup() end)

  it("isclosed tells open from closed", function()
    local kinds, list = allkinds()
    for kind, h in pairs(kinds) do
      assert.is_false(h:isclosed(), kind)
    end
    closeall(list)
    for kind, h in pairs(kinds) do
      assert.is_true(h:isclosed(), kind)
    end
  end)

  it("close returns true", function()
    local kinds, _, _, others = allkinds()
    for kind, h in pairs(kinds) do
      local r = helpers.pack(h:close())
      assert.are.equal(1, r.n, kind)
      assert.is_true(r[1], kind)
      assert.is_true(h:isclosed(), kind)
    end
    closeall(others)
  end)

  it("close twice is harmless and returns true", function()
    local kinds, list = allkinds()
    closeall(list)
    for kind, h in pairs(kinds) do
      local ok, r = pcall(h.close, h)
      assert.is_true(ok, kind .. ": close of a closed handle raised: " .. tostring(r))
      assert.is_true(r, kind)
      assert.is_true(h:isclosed(), kind)
      assert.are.equal("closed " .. kind, uxsock.type(h))
    end
  end)

  it("getfd returns an integer >= 0, different for each open handle", function()
    local kinds, list = allkinds()
    local seen = {}
    for kind, h in pairs(kinds) do
      local fd = h:getfd()
      assert.are.equal("integer", helpers.mathtype(fd), kind)
      assert.is_true(fd >= 0, kind)
      assert.is_nil(seen[fd], kind)
      seen[fd] = true
      -- it is this process's descriptor, and a socket
      local link = lfs.symlinkattributes("/proc/self/fd/" .. fd)
      assert.is_table(link, kind)
      assert.matches("^socket:%[%d+%]$", link.target)
    end
    closeall(list)
  end)

  it("gettimeout and settimeout round trip", function()
    local kinds, list = allkinds()
    for kind, h in pairs(kinds) do
      assert.is_nil(h:gettimeout(), kind)
      assert.is_true(h:settimeout(1.5), kind)
      assert.are.equal(1.5, h:gettimeout(), kind)
      assert.is_true(h:settimeout(0), kind)
      assert.are.equal(0, h:gettimeout(), kind)
      assert.is_true(h:settimeout(2), kind)
      assert.are.equal(2, h:gettimeout(), kind)
      assert.is_true(h:settimeout(nil), kind)
      assert.is_nil(h:gettimeout(), kind)
      assert.is_true(h:settimeout(0.25), kind)
      assert.is_true(h:settimeout(), kind)  -- no argument: no limit
      assert.is_nil(h:gettimeout(), kind)
      assert.is_true(h:settimeout(math.huge), kind)
      assert.is_nil(h:gettimeout(), kind)
    end
    closeall(list)
  end)

  it("opts.timeout becomes the handle's timeout", function()
    local path = helpers.sockpath("to")
    local l = assert(uxsock.listen(path, { timeout = 1.5 }))
    assert.are.equal(1.5, l:gettimeout())
    local c = assert(uxsock.connect(path, { timeout = 2.5 }))
    assert.are.equal(2.5, c:gettimeout())
    local d = assert(uxsock.datagram(nil, { timeout = 0 }))
    assert.are.equal(0, d:gettimeout())
    local e = assert(uxsock.datagram(nil, { timeout = math.huge }))
    assert.is_nil(e:gettimeout())
    closeall({ c, l, d, e })
  end)

  it("a listener has only accept; seqpacket has no read or lines", function()
    local kinds, list = allkinds()
    local l, p = kinds.listener, kinds.seqpacket
    assert.is_function(l.accept)
    assert.is_nil(l.send)
    assert.is_nil(l.recv)
    assert.is_nil(p.read)
    assert.is_nil(p.lines)
    assert.is_function(p.recv)
    assert.is_nil(kinds.stream.accept)
    assert.is_nil(kinds.stream.sendto)
    assert.is_nil(kinds.datagram.read)
    assert.is_nil(kinds.datagram.accept)
    closeall(list)
  end)
end)

describe("argument mistakes raise and name the argument", function()
  lazy_teardown(function() helpers.cleanup() end)

  it("listen: path", function()
    raises(function() uxsock.listen() end, "bad argument #1 to 'listen'")
    raises(function() uxsock.listen({}) end, "bad argument #1 to 'listen'",
           "string expected, got table")
    raises(function() uxsock.listen("") end, "bad argument #1 to 'listen'",
           "empty socket name")
    raises(function() uxsock.listen("/tmp/a\0b") end,
           "bad argument #1 to 'listen'", "NUL")
  end)

  it("name length: 107 bytes is the limit, 108 raises naming it", function()
    local dir = helpers.tmpdir()
    -- a path of exactly 107 bytes works
    local ok107 = dir .. "/" .. string.rep("p", 107 - #dir - 1)
    assert.are.equal(107, #ok107)
    local l = assert(uxsock.listen(ok107))
    assert.are.equal(ok107, l:getsockname())
    l:close()
    local long = dir .. "/" .. string.rep("p", 108 - #dir - 1)
    assert.are.equal(108, #long)
    local e = raises(function() uxsock.listen(long) end,
                     "bad argument #1 to 'listen'", "107")
    assert.matches("too long", e)
    assert.is_nil(helpers.filetype(long))
    raises(function() uxsock.connect(long) end,
           "bad argument #1 to 'connect'", "107")
    raises(function() uxsock.datagram(long) end,
           "bad argument #1 to 'datagram'", "107")
    -- an abstract name has all 108 bytes of sun_path, its '@' for the NUL
    assert(uxsock.listen(helpers.abstract_of_length(108))):close()
    raises(function() uxsock.listen(helpers.abstract_of_length(109)) end,
           "bad argument #1 to 'listen'", "108")
    raises(function() uxsock.listen(string.rep("a", 500)) end,
           "bad argument #1 to 'listen'", "107")
  end)

  it("listen: opts", function()
    local p = helpers.sockpath("opt")
    raises(function() uxsock.listen(p, "fast") end,
           "bad argument #2 to 'listen'", "table expected")
    raises(function() uxsock.listen(p, 5) end, "bad argument #2 to 'listen'")
    raises(function() uxsock.listen(p, { bogus = 1 }) end,
           "bad argument #2 to 'listen'", "unknown option 'bogus'")
    raises(function() uxsock.listen(p, { autobind = true }) end,
           "bad argument #2 to 'listen'", "unknown option 'autobind'")
    raises(function() uxsock.listen(p, { [1] = "x" }) end,
           "bad argument #2 to 'listen'")
    raises(function() uxsock.listen(p, { type = "datagram" }) end,
           "bad argument #2 to 'listen'", "opts.type")
    raises(function() uxsock.listen(p, { type = "listener" }) end,
           "bad argument #2 to 'listen'", "opts.type")
    raises(function() uxsock.listen(p, { type = 1 }) end,
           "bad argument #2 to 'listen'", "opts.type")
    raises(function() uxsock.listen(p, { mode = -1 }) end,
           "bad argument #2 to 'listen'", "opts.mode")
    raises(function() uxsock.listen(p, { mode = 512 }) end,
           "bad argument #2 to 'listen'", "opts.mode")
    raises(function() uxsock.listen(p, { mode = "660" }) end,
           "bad argument #2 to 'listen'", "opts.mode")
    raises(function() uxsock.listen(p, { backlog = -1 }) end,
           "bad argument #2 to 'listen'", "opts.backlog")
    raises(function() uxsock.listen(p, { backlog = "many" }) end,
           "bad argument #2 to 'listen'", "opts.backlog")
    raises(function() uxsock.listen(p, { timeout = -1 }) end,
           "bad argument #2 to 'listen'", "opts.timeout")
    raises(function() uxsock.listen(p, { timeout = 0 / 0 }) end,
           "bad argument #2 to 'listen'", "opts.timeout")
    raises(function() uxsock.listen(p, { timeout = "soon" }) end,
           "bad argument #2 to 'listen'", "opts.timeout")
    raises(function() uxsock.listen(p, { unlink = "yes" }) end,
           "bad argument #2 to 'listen'", "opts.unlink")
    -- nothing was made by any of them
    assert.is_nil(helpers.filetype(p))
  end)

  it("listen: non-integer opts.mode and opts.backlog name argument #2", function()
    local p = helpers.sockpath("opt")
    raises(function() uxsock.listen(p, { mode = 1.5 }) end,
           "bad argument #2 to 'listen'", "opts.mode")
    raises(function() uxsock.listen(p, { backlog = 1.5 }) end,
           "bad argument #2 to 'listen'", "opts.backlog")
    raises(function() uxsock.datagram(p, { mode = 0.5 }) end,
           "bad argument #2 to 'datagram'", "opts.mode")
    assert.is_nil(helpers.filetype(p))
  end)

  it("connect: path and opts", function()
    local p = helpers.sockpath("c")
    raises(function() uxsock.connect() end, "bad argument #1 to 'connect'")
    raises(function() uxsock.connect(false) end, "bad argument #1 to 'connect'")
    raises(function() uxsock.connect("") end,
           "bad argument #1 to 'connect'", "empty socket name")
    raises(function() uxsock.connect("/tmp/a\0b") end,
           "bad argument #1 to 'connect'", "NUL")
    raises(function() uxsock.connect(p, "x") end,
           "bad argument #2 to 'connect'", "table expected")
    raises(function() uxsock.connect(p, { mode = 384 }) end,
           "bad argument #2 to 'connect'", "unknown option 'mode'")
    raises(function() uxsock.connect(p, { backlog = 1 }) end,
           "bad argument #2 to 'connect'", "unknown option 'backlog'")
    raises(function() uxsock.connect(p, { type = "datagram" }) end,
           "bad argument #2 to 'connect'", "opts.type")
    raises(function() uxsock.connect(p, { type = "listener" }) end,
           "bad argument #2 to 'connect'", "opts.type")
    raises(function() uxsock.connect(p, { timeout = -0.5 }) end,
           "bad argument #2 to 'connect'", "opts.timeout")
    raises(function() uxsock.connect(p, { timeout = 0 / 0 }) end,
           "bad argument #2 to 'connect'", "opts.timeout")
    raises(function() uxsock.connect(p, { timeout = {} }) end,
           "bad argument #2 to 'connect'", "opts.timeout")
  end)

  it("datagram: path and opts", function()
    local p = helpers.sockpath("d")
    raises(function() uxsock.datagram({}) end, "bad argument #1 to 'datagram'")
    raises(function() uxsock.datagram("") end,
           "bad argument #1 to 'datagram'", "empty socket name")
    raises(function() uxsock.datagram("/tmp/a\0b") end,
           "bad argument #1 to 'datagram'", "NUL")
    raises(function() uxsock.datagram(p, 1) end,
           "bad argument #2 to 'datagram'")
    raises(function() uxsock.datagram(nil, "x") end,
           "bad argument #2 to 'datagram'", "table expected")
    raises(function() uxsock.datagram(p, { type = "datagram" }) end,
           "bad argument #2 to 'datagram'", "unknown option 'type'")
    raises(function() uxsock.datagram(p, { backlog = 1 }) end,
           "bad argument #2 to 'datagram'", "unknown option 'backlog'")
    raises(function() uxsock.datagram(p, { mode = -1 }) end,
           "bad argument #2 to 'datagram'", "opts.mode")
    raises(function() uxsock.datagram(p, { mode = 4096 }) end,
           "bad argument #2 to 'datagram'", "opts.mode")
    raises(function() uxsock.datagram(p, { timeout = -1 }) end,
           "bad argument #2 to 'datagram'", "opts.timeout")
    raises(function() uxsock.datagram(p, { timeout = 0 / 0 }) end,
           "bad argument #2 to 'datagram'", "opts.timeout")
    raises(function() uxsock.datagram(p, { unlink = 0 }) end,
           "bad argument #2 to 'datagram'", "opts.unlink")
    raises(function() uxsock.datagram(nil, { autobind = "yes" }) end,
           "bad argument #2 to 'datagram'", "opts.autobind")
    raises(function() uxsock.datagram(p, { autobind = true }) end,
           "bad argument #2 to 'datagram'", "opts.autobind")
    assert.is_nil(helpers.filetype(p))
  end)

  it("settimeout: negative, NaN and non-numbers", function()
    local kinds, list = allkinds()
    for kind, h in pairs(kinds) do
      raises(function() h.settimeout(h, -1) end,
             "bad argument #2 to 'settimeout'", "negative")
      raises(function() h.settimeout(h, -math.huge) end,
             "bad argument #2 to 'settimeout'")
      raises(function() h.settimeout(h, 0 / 0) end,
             "bad argument #2 to 'settimeout'")
      raises(function() h.settimeout(h, "soon") end,
             "bad argument #2 to 'settimeout'", "number or nil expected")
      raises(function() h.settimeout(h, true) end,
             "bad argument #2 to 'settimeout'")
      assert.is_nil(h:gettimeout(), kind)  -- unchanged
    end
    closeall(list)
  end)

  it("with method syntax the first argument after self is #1", function()
    local a, b = uxsock.socketpair()
    raises(function() a:recv(0) end, "bad argument #1 to 'recv'")
    raises(function() a:settimeout(-1) end, "bad argument #1 to 'settimeout'")
    raises(function() a:read("x") end, "bad argument #1 to 'read'")
    a:close(); b:close()
  end)

  it("send and sendall: data, i, j", function()
    local a, b = uxsock.socketpair()
    local p, q = uxsock.socketpair("seqpacket")
    local d, e = uxsock.socketpair("datagram")
    for _, h in ipairs({ a, p, d }) do
      raises(function() h.send(h) end, "bad argument #2 to 'send'")
      raises(function() h.send(h, {}) end, "bad argument #2 to 'send'",
             "string or buffer expected, got table")
      raises(function() h.send(h, "x", "one") end, "bad argument #3 to 'send'")
      raises(function() h.send(h, "x", 1, 1.5) end, "bad argument #4 to 'send'")
    end
    for _, h in ipairs({ a, p }) do
      raises(function() h.sendall(h, nil) end, "bad argument #2 to 'sendall'")
      raises(function() h.sendall(h, "x", {}) end, "bad argument #3 to 'sendall'")
      raises(function() h.sendall(h, "x", 1, "z") end,
             "bad argument #4 to 'sendall'")
    end
    closeall({ a, b, p, q, d, e })
  end)

  it("recv: zero, negative and non-integer max", function()
    local a, b = uxsock.socketpair()
    local p, q = uxsock.socketpair("seqpacket")
    local d, e = uxsock.socketpair("datagram")
    for _, h in ipairs({ a, p, d }) do
      raises(function() h.recv(h, 0) end, "bad argument #2 to 'recv'",
             "max must be positive")
      raises(function() h.recv(h, -5) end, "bad argument #2 to 'recv'",
             "max must be positive")
      raises(function() h.recv(h, 1.5) end, "bad argument #2 to 'recv'")
      raises(function() h.recv(h, "lots") end, "bad argument #2 to 'recv'")
    end
    raises(function() d.recvfrom(d, 0) end, "bad argument #2 to 'recvfrom'",
           "max must be positive")
    raises(function() d.recvfrom(d, -1) end, "bad argument #2 to 'recvfrom'")
    raises(function() d.recvfrom(d, {}) end, "bad argument #2 to 'recvfrom'")
    closeall({ a, b, p, q, d, e })
  end)

  it("read and lines: negative count, invalid format", function()
    local a, b = uxsock.socketpair()
    raises(function() a.read(a, -1) end, "bad argument #2 to 'read'",
           "count must not be negative")
    raises(function() a.read(a, 2.5) end, "bad argument #2 to 'read'")
    raises(function() a.read(a, "x") end, "bad argument #2 to 'read'",
           "invalid format")
    raises(function() a.read(a, "") end, "bad argument #2 to 'read'",
           "invalid format")
    raises(function() a.read(a, "*x") end, "bad argument #2 to 'read'")
    raises(function() a.read(a, {}) end, "bad argument #2 to 'read'")
    raises(function() a.lines(a, "x") end, "bad argument #2 to 'lines'",
           "invalid format")
    raises(function() a.lines(a, -3) end, "bad argument #2 to 'lines'",
           "count must not be negative")
    raises(function() a.lines(a, {}) end, "bad argument #2 to 'lines'")
    -- none of them consumed anything
    assert.are.equal(2, b:send("ok"))
    assert.are.equal("ok", a:read(2))
    a:close(); b:close()
  end)

  it("shutdown: unknown how", function()
    local a, b = uxsock.socketpair()
    raises(function() a.shutdown(a, "sideways") end,
           "bad argument #2 to 'shutdown'", "sideways")
    raises(function() a.shutdown(a, 1) end, "bad argument #2 to 'shutdown'")
    a:close(); b:close()
  end)

  it("sendto and datagram connect: names", function()
    local d = assert(uxsock.datagram())
    raises(function() d.sendto(d, {}, "/tmp/x") end, "bad argument #2 to 'sendto'")
    raises(function() d.sendto(d, "x") end, "bad argument #3 to 'sendto'")
    raises(function() d.sendto(d, "x", "") end, "bad argument #3 to 'sendto'",
           "empty socket name")
    raises(function() d.sendto(d, "x", "/tmp/a\0b") end,
           "bad argument #3 to 'sendto'", "NUL")
    raises(function() d.sendto(d, "x", "/" .. string.rep("x", 107)) end,
           "bad argument #3 to 'sendto'", "107")
    raises(function() d.connect(d) end, "bad argument #2 to 'connect'")
    raises(function() d.connect(d, "") end, "bad argument #2 to 'connect'",
           "empty socket name")
    raises(function() d.connect(d, "/" .. string.rep("x", 107)) end,
           "bad argument #2 to 'connect'", "107")
    d:close()
  end)

  it("a method called on the wrong kind of handle", function()
    local kinds, list = allkinds()
    local l, s, p, d = kinds.listener, kinds.stream, kinds.seqpacket, kinds.datagram
    -- the listener's own method function, on a stream
    local accept = l.accept
    raises(function() accept(s) end, "bad argument #1 to 'accept'",
           "listener expected, got stream")
    raises(function() getmetatable(l).__index.accept(d) end,
           "bad argument #1 to 'accept'", "listener expected, got datagram")
    raises(function() s.read(p, 1) end, "bad argument #1 to 'read'",
           "stream expected, got seqpacket")
    raises(function() s.lines(d) end, "bad argument #1 to 'lines'",
           "stream expected, got datagram")
    raises(function() s.send(l, "x") end, "bad argument #1 to 'send'",
           "got listener")
    raises(function() s.sendall(d, "x") end, "bad argument #1 to 'sendall'",
           "got datagram")
    raises(function() s.recv(l) end, "bad argument #1 to 'recv'", "got listener")
    raises(function() s.shutdown(d) end, "bad argument #1 to 'shutdown'",
           "got datagram")
    raises(function() s.peercred(d) end, "bad argument #1 to 'peercred'",
           "got datagram")
    raises(function() s.getpeername(l) end, "bad argument #1 to 'getpeername'",
           "got listener")
    raises(function() d.sendto(s, "x", "/tmp/x") end,
           "bad argument #1 to 'sendto'", "datagram expected, got stream")
    raises(function() d.recvfrom(p) end, "bad argument #1 to 'recvfrom'",
           "datagram expected, got seqpacket")
    raises(function() d.connect(s, "/tmp/x") end,
           "bad argument #1 to 'connect'", "datagram expected, got stream")
    closeall(list)
  end)

  it("a method called on something that is not a handle", function()
    local kinds, list = allkinds()
    local s = kinds.stream
    local fake = setmetatable({}, getmetatable(s))
    for _, v in ipairs({ {}, "x", 1, io.stdout, fake }) do
      raises(function() s.close(v) end, "bad argument #1 to 'close'")
      raises(function() s.isclosed(v) end, "bad argument #1 to 'isclosed'")
      raises(function() s.getfd(v) end, "bad argument #1 to 'getfd'")
      raises(function() s.settimeout(v, 1) end, "bad argument #1 to 'settimeout'")
      raises(function() s.gettimeout(v) end, "bad argument #1 to 'gettimeout'")
      raises(function() s.getsockname(v) end, "bad argument #1 to 'getsockname'")
      raises(function() s.send(v, "x") end, "bad argument #1 to 'send'")
      raises(function() s.recv(v) end, "bad argument #1 to 'recv'")
      raises(function() s.read(v) end, "bad argument #1 to 'read'")
      raises(function() kinds.listener.accept(v) end, "bad argument #1 to 'accept'")
      raises(function() kinds.datagram.sendto(v, "x", "/tmp/x") end,
             "bad argument #1 to 'sendto'")
    end
    raises(function() s.getfd() end, "bad argument #1 to 'getfd'")
    raises(function() getmetatable(s).__tostring({}) end, "bad argument #1")
    closeall(list)
  end)

  it("every method of a closed handle raises 'attempt to use a closed <kind>'",
     function()
    local kinds, list, path = allkinds()
    closeall(list)
    local calls = {
      common = {
        settimeout = { 1 }, gettimeout = {}, getsockname = {}, getfd = {},
      },
      listener = { accept = {} },
      stream = {
        send = { "x" }, sendall = { "x" }, recv = {}, read = { 1 }, lines = {},
        shutdown = {}, getpeername = {}, peercred = {},
      },
      seqpacket = {
        send = { "x" }, sendall = { "x" }, recv = {}, shutdown = {},
        getpeername = {}, peercred = {},
      },
      datagram = {
        sendto = { "x", path }, recvfrom = {}, connect = { path }, send = { "x" },
        recv = {}, getpeername = {},
      },
    }
    local checked = 0
    for kind, h in pairs(kinds) do
      local want = "attempt to use a closed " .. kind
      for _, set in ipairs({ calls.common, calls[kind] }) do
        for name, args in pairs(set) do
          local method = h[name]
          assert.is_function(method, kind .. ":" .. name)
          raises(function() method(h, helpers.unpack(args)) end,
                 "bad argument #1 to 'method'", want)
          checked = checked + 1
        end
      end
      -- these still work
      assert.is_true(h:isclosed())
      assert.matches("closed", tostring(h))
    end
    assert.are.equal(4 * 4 + 1 + 8 + 6 + 6, checked)
    -- a lines iterator made while open raises once the stream is closed
    local a, b = uxsock.socketpair()
    b:send("one\ntwo\n")
    local iter = a:lines()
    assert.are.equal("one", iter())
    a:close()
    raises(function() iter() end, "attempt to use a closed stream")
    b:close()
  end)
end)
