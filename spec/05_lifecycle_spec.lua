-- Scoped handles and safety: <close>, __gc, socket files, no descriptor
-- leaks, close-on-exec, EPIPE instead of SIGPIPE, shutdown.
local helpers = require("helpers")
local uxsock = require("uxsock")

local CYCLES = 10000

-- runs f with the collector stopped, so that only explicit closes can
-- give descriptors back; restarts it whatever happens
local function nogc(f)
  collectgarbage("stop")
  local ok, err = pcall(f)
  collectgarbage("restart")
  if not ok then error(err, 0) end
end

local fdtarget, findfd, child_fds = helpers.fdtarget, helpers.findfd, helpers.child_fds

-- asks a child shell whether it has descriptor fd, as the brief's check does
local function child_has(fd)
  local p = io.popen("test -e /proc/$$/fd/" .. fd .. " && echo inherited || echo clean")
  local out = p:read("*a")
  p:close()
  return out:match("%a+")
end

-- runs Lua code in a child process, with SIGPIPE at its default action
local function runchild(code)
  return helpers.run("env --default-signal=PIPE " .. helpers.luacmd(code))
end

-- connects a client to a listener and accepts it: client, server side
local function pair(l, path)
  local c = assert(uxsock.connect(path))
  local s = assert(l:accept())
  return c, s
end

if _VERSION == "Lua 5.4" then
  -- the file is Lua 5.4 syntax; it runs here, with this file's busted
  -- environment
  assert(loadfile("spec/lua54/close.lua", "t", _ENV))()
else
  describe("<close>", function()
    pending("needs Lua 5.4: <close> variables (spec/lua54/close.lua)")
  end)
end

describe("__gc", function()
  lazy_teardown(function() helpers.cleanup() end)

  it("closes forgotten handles", function()
    collectgarbage("collect")
    collectgarbage("collect")
    local before = helpers.fdcount()
    local path = helpers.sockpath("gc")
    local weak = setmetatable({}, { __mode = "v" })
    local function make()
      local a, b = uxsock.socketpair()
      local p, q = uxsock.socketpair("seqpacket")
      local d = uxsock.datagram()
      local l = assert(uxsock.listen(path))
      local c = assert(uxsock.connect(path))
      local s = assert(l:accept())
      weak[1], weak[2], weak[3], weak[4], weak[5], weak[6], weak[7], weak[8] =
        a, b, p, q, d, l, c, s
    end
    make()
    assert.are.equal(before + 8, helpers.fdcount())
    assert.are.equal("socket", helpers.filetype(path))
    collectgarbage("collect")
    collectgarbage("collect")
    assert.is_nil(next(weak), "some handle is still alive")
    assert.are.equal(before, helpers.fdcount())
    -- the listener's socket file went with it
    assert.is_nil(helpers.filetype(path))
  end)

  it("of an already closed handle is harmless", function()
    collectgarbage("collect")
    local before = helpers.fdcount()
    local weak = setmetatable({}, { __mode = "v" })
    local fd
    local function make()
      local a, b = uxsock.socketpair()
      fd = a:getfd()
      a:close()
      b:close()
      weak[1], weak[2] = a, b
    end
    make()
    -- new sockets most likely reuse the numbers the closed ones had:
    -- collecting the closed handles must not close them
    local c, d = uxsock.socketpair()
    assert.is_true(c:getfd() == fd or d:getfd() == fd,
                   "the test needs the fd number to be reused")
    collectgarbage("collect")
    collectgarbage("collect")
    assert.is_nil(next(weak))
    assert.is_false(c:isclosed())
    assert.are.equal(before + 2, helpers.fdcount())
    assert.are.equal(4, c:send("ping"))
    assert.are.equal("ping", d:read(4))
    assert.are.equal(4, d:send("pong"))
    assert.are.equal("pong", c:read(4))
    c:close(); d:close()
    assert.are.equal(before, helpers.fdcount())
  end)

  it("of closed and open handles gives no warning or crash (child process)", function()
    local path = helpers.sockpath("gcchild")
    -- Lua 5.4 turns an error in __gc into a warning, shown once warnings
    -- are on, and closes b with <close>. Before 5.4 an error in __gc is
    -- raised (the child fails), and b is closed by uxsock.with, the
    -- stand-in for <close>.
    local lua54 = _VERSION == "Lua 5.4"
    local out, how, code = runchild(string.format([[
      %s
      local uxsock = require("uxsock")
      local path = %q
      for _ = 1, 200 do
        local a, b = uxsock.socketpair()
        a:close()                           -- closed, then collected
        %s  -- closed by its scope, then collected
        local d = uxsock.datagram()
        d:close()
        local l = assert(uxsock.listen(path))
        assert(uxsock.connect(path))        -- open, left to the collector
        l:close()
        assert(uxsock.datagram())           -- open, left to the collector
      end
      collectgarbage("collect")
      collectgarbage("collect")
      io.write("done")
    ]], lua54 and 'warn("@on")' or "", path,
        lua54 and "do local cb <close> = b end" or "uxsock.with(b, function() end)"))
    assert.are.equal("exit", how)
    assert.are.equal(0, code)
    assert.are.equal("done", out)
  end)
end)

describe("socket files", function()
  lazy_teardown(function() helpers.cleanup() end)

  it("closing a listener removes its socket file", function()
    local path = helpers.sockpath("rm")
    local l = assert(uxsock.listen(path))
    assert.are.equal("socket", helpers.filetype(path))
    assert.is_true(l:close())
    assert.is_nil(helpers.filetype(path))
  end)

  it("listen on a live server's path gives EADDRINUSE, also when its backlog is full",
     function()
    local path = helpers.sockpath("live")
    local l = assert(uxsock.listen(path))
    local s, msg, code = uxsock.listen(path)
    assert.is_nil(s)
    assert.matches(path, msg, 1, true)
    assert.are.equal(uxsock.EADDRINUSE, code)
    l:close()
    -- a busy server: its queue of connections not yet accepted is full
    l = assert(uxsock.listen(path, { backlog = 0 }))
    local queued = {}
    finally(function()
      for _, c in ipairs(queued) do c:close() end
      l:close()
    end)
    for _ = 1, 4 do
      local c = uxsock.connect(path, { timeout = 0 })
      if not c then break end
      queued[#queued + 1] = c
    end
    local probe, _, pcode = uxsock.connect(path, { timeout = 0 })
    assert.is_nil(probe)
    assert.are.equal(uxsock.EAGAIN, pcode)  -- full indeed
    s, msg, code = uxsock.listen(path)
    assert.is_nil(s)
    assert.are.equal(uxsock.EADDRINUSE, code, msg)
    assert.are.equal("socket", helpers.filetype(path))
  end)

  it("connected sockets outlive their listener and close fine after it", function()
    local path = helpers.sockpath("after")
    local l = assert(uxsock.listen(path))
    local c, s = pair(l, path)
    assert.is_true(l:close())
    assert.is_nil(helpers.filetype(path))
    -- the connection still works both ways
    assert.are.equal(6, c:sendall("hello\n"))
    assert.are.equal("hello", s:read("l"))
    assert.are.equal(3, s:sendall("bye"))
    assert.are.equal("bye", c:read(3))
    assert.is_true(c:close())
    assert.is_true(s:close())
    assert.is_true(c:isclosed())
    assert.is_true(s:isclosed())
  end)
end)

describe("no descriptor leak over " .. CYCLES .. " cycles", function()
  lazy_teardown(function() helpers.cleanup() end)
  -- what earlier tests left to the collector is gone before counting
  before_each(function()
    collectgarbage("collect")
    collectgarbage("collect")
  end)

  it("socketpair open/close", function()
    local before = helpers.fdcount()
    nogc(function()
      for _ = 1, CYCLES do
        local a, b = uxsock.socketpair()
        a:close()
        b:close()
      end
    end)
    assert.are.equal(before, helpers.fdcount())
  end)

  it("listen+connect+accept with one listener", function()
    local path = helpers.sockpath("leak")
    local l = assert(uxsock.listen(path))
    local before = helpers.fdcount()
    nogc(function()
      for i = 1, CYCLES do
        local c, s = pair(l, path)
        if i % 1000 == 0 then  -- they are really connected
          assert.are.equal(1, c:send("x"))
          assert.are.equal("x", s:recv())
        end
        c:close()
        s:close()
      end
    end)
    assert.are.equal(before, helpers.fdcount())
    l:close()
  end)

  it("listen/close on one path", function()
    local path = helpers.sockpath("relisten")
    local before = helpers.fdcount()
    nogc(function()
      for _ = 1, CYCLES / 10 do
        local l = assert(uxsock.listen(path))
        l:close()
      end
    end)
    assert.are.equal(before, helpers.fdcount())
    assert.is_nil(helpers.filetype(path))
  end)

  it("datagram sockets, unbound and bound", function()
    local path = helpers.sockpath("dleak")
    local before = helpers.fdcount()
    nogc(function()
      for i = 1, CYCLES do
        local d = uxsock.datagram()
        d:close()
        if i % 10 == 0 then
          local b = assert(uxsock.datagram(path))
          b:close()
        end
      end
    end)
    assert.are.equal(before, helpers.fdcount())
    assert.is_nil(helpers.filetype(path))
  end)

  it("failed connects to a missing path", function()
    local path = helpers.sockpath("nothere")
    local before = helpers.fdcount()
    local other = {}
    nogc(function()
      for _ = 1, CYCLES do
        local s, msg, code = uxsock.connect(path)
        if s ~= nil or code ~= uxsock.ENOENT then
          other[#other + 1] = string.format("%s, %s, %s", tostring(s), tostring(msg),
                                            tostring(code))
          if s then s:close() end
        end
      end
    end)
    assert.are.equal(before, helpers.fdcount())
    assert.are.equal(0, #other, "not ENOENT: " .. #other .. " times, first: "
                     .. tostring(other[1]))
    local s, msg, code = uxsock.connect(path)
    assert.is_nil(s)
    assert.matches(path, msg, 1, true)
    assert.are.equal(uxsock.ENOENT, code)
  end)

  it("failed listens on a live path (EADDRINUSE)", function()
    local path = helpers.sockpath("busy")
    local l = assert(uxsock.listen(path))
    local before = helpers.fdcount()
    local other = {}
    nogc(function()
      for i = 1, CYCLES do
        local s, msg, code = uxsock.listen(path)
        if s ~= nil or code ~= uxsock.EADDRINUSE then
          other[#other + 1] = string.format("cycle %d: %s, %s, %s", i, tostring(s),
                                            tostring(msg), tostring(code))
          if s then s:close() end
        end
      end
    end)
    assert.are.equal(before, helpers.fdcount())
    -- the live server's file is untouched; whatever the liveness probes
    -- left in its queue can be accepted and closed, and it still serves
    assert.are.equal("socket", helpers.filetype(path))
    l:settimeout(0)
    while true do
      local s = l:accept()
      if not s then break end
      s:close()
    end
    l:settimeout(nil)
    assert.are.equal(before, helpers.fdcount())
    local c, s = pair(l, path)
    assert.are.equal(2, c:send("ok"))
    assert.are.equal("ok", s:read(2))
    c:close(); s:close(); l:close()
    assert.is_nil(helpers.filetype(path))
    -- every one of them was EADDRINUSE
    assert.are.equal(0, #other, "not EADDRINUSE: " .. #other .. " times, first: "
                     .. tostring(other[1]))
  end)
end)

describe("close-on-exec", function()
  lazy_teardown(function() helpers.cleanup() end)

  it("the check sees a descriptor that is inherited (io.open)", function()
    local dir = helpers.tmpdir()
    local file = dir .. "/inherited.txt"
    helpers.writefile(file, "x")
    local f = assert(io.open(file))
    local fd = findfd(file)
    assert.is_number(fd, "no descriptor of ours points at " .. file)
    local fds, targets = child_fds()
    assert.is_true(targets[file], "the child should hold " .. file)
    assert.are.equal(file, fds[fd])
    assert.are.equal("inherited", child_has(fd))
    f:close()
    assert.are.equal("clean", child_has(fd))
  end)

  it("no uxsock descriptor reaches a child started with io.popen", function()
    local path = helpers.sockpath("exec")
    local dpath = helpers.sockpath("execd")
    local a, b = uxsock.socketpair()
    local p, q = uxsock.socketpair("seqpacket")
    local x, y = uxsock.socketpair("datagram")
    local l = assert(uxsock.listen(path))
    local c = assert(uxsock.connect(path))
    local s = assert(l:accept())
    local d = assert(uxsock.datagram(dpath))
    local u = assert(uxsock.datagram())
    local handles = {
      socketpair_a = a, socketpair_b = b, seqpacket_a = p, seqpacket_b = q,
      dgrampair_a = x, dgrampair_b = y, listener = l, connected = c,
      accepted = s, datagram_bound = d, datagram_unbound = u,
    }
    -- a control that is inherited, in the same child
    local file = helpers.tmpdir() .. "/control.txt"
    helpers.writefile(file, "x")
    local f = assert(io.open(file))
    local _, targets = child_fds()
    assert.is_true(targets[file], "the control descriptor was not seen in the child")
    for what, h in pairs(handles) do
      local fd = h:getfd()
      local target = fdtarget(fd)
      assert.matches("^socket:%[%d+%]$", target, 1, false)
      assert.is_nil(targets[target], what .. " (fd " .. fd .. ", " .. target
                    .. ") was inherited")
      assert.are.equal("clean", child_has(fd), what .. " (fd " .. fd .. ")")
    end
    f:close()
    for _, h in pairs(handles) do h:close() end
  end)
end)

describe("EPIPE instead of SIGPIPE", function()
  lazy_teardown(function() helpers.cleanup() end)

  it("the child setup would die of SIGPIPE on a plain broken pipe", function()
    local out, how, code = runchild([[
      local p = io.popen("exit 0", "w")
      for _ = 1, 64 do p:write(string.rep("x", 65536)) end
      p:flush()
      print("survived")
    ]])
    assert.is_nil(out:find("survived", 1, true))
    assert.is_true((how == "signal" and code == 13) or (how == "exit" and code == 141),
                   "ended with " .. tostring(how) .. " " .. tostring(code))
  end)

  it("send and sendall on a socketpair whose peer closed, or after shutdown",
     function()
    local out, how, code = runchild([[
      local f = assert(io.open("/proc/self/status"))
      local ign = tonumber(f:read("*a"):match("SigIgn:%s*(%x+)"), 16)
      f:close()
      print("ignored", math.floor(ign / 4096) % 2)  -- bit 12: SIGPIPE (13)
      local uxsock = require("uxsock")
      for _, kind in ipairs({ "stream", "seqpacket" }) do
        local a, b = uxsock.socketpair(kind)
        b:close()
        print(kind, "send", a:send("hello"))
        print(kind, "sendall", a:sendall(string.rep("x", 100000)))
        a:close()
      end
      -- writing after one's own shutdown("write")
      local a, b = uxsock.socketpair()
      a:shutdown("write")
      print("shut", "send", a:send("hello"))
      print("shut", "sendall", a:sendall("hello"))
      a:close(); b:close()
      print("end")
    ]])
    assert.are.equal("exit", how, out)
    assert.are.equal(0, code, out)
    assert.matches("ignored\t0\n", out, 1, true)  -- SIGPIPE was live in the child
    local ep = uxsock.EPIPE
    for _, kind in ipairs({ "stream", "seqpacket", "shut" }) do
      local sendcode = out:match(kind .. "\tsend\tnil\t[^\t]*\t(%-?%d+)\n")
      assert.are.equal(ep, tonumber(sendcode), out)
      local allcode, sent = out:match(kind .. "\tsendall\tnil\t[^\t]*\t(%-?%d+)\t(%d+)\n")
      assert.are.equal(ep, tonumber(allcode), out)
      assert.are.equal(0, tonumber(sent), out)
    end
    assert.matches("\nend\n$", out)
  end)

  it("send and sendall on a connected stream whose accepted peer closed", function()
    local path = helpers.sockpath("pipe")
    local out, how, code = runchild(string.format([[
      local uxsock = require("uxsock")
      local path = %q
      local l = assert(uxsock.listen(path))
      local c = assert(uxsock.connect(path))
      local s = assert(l:accept())
      s:close()
      print("send", c:send("hello"))
      print("sendall", c:sendall(string.rep("y", 300000)))
      c:close()
      l:close()
      print("end")
    ]], path))
    assert.are.equal("exit", how, out)
    assert.are.equal(0, code, out)
    local sendcode = out:match("send\tnil\t[^\t]*\t(%-?%d+)\n")
    assert.are.equal(uxsock.EPIPE, tonumber(sendcode), out)
    local allcode = out:match("sendall\tnil\t[^\t]*\t(%-?%d+)\t%d+\n")
    assert.are.equal(uxsock.EPIPE, tonumber(allcode), out)
    assert.matches("\nend\n$", out)
  end)
end)

describe("shutdown", function()
  lazy_teardown(function() helpers.cleanup() end)

  local function check_half_close(a, b)
    assert.are.equal(6, a:sendall("before"))
    assert.is_true(a:shutdown("write"))
    -- the peer reads what was sent, then end of stream
    assert.are.equal("before", b:read(6))
    local data, msg, code = b:recv()
    assert.is_nil(data)
    assert.is_string(msg)
    assert.are.equal(uxsock.EOF, code)
    data, msg, code = b:read("l")
    assert.is_nil(data)
    assert.is_string(msg)
    assert.are.equal(uxsock.EOF, code)
    assert.are.equal("", b:read("a"))
    -- the other direction still works
    assert.are.equal(5, b:sendall("reply"))
    assert.are.equal("reply", a:read(5))
    assert.are.equal(4, b:send("more"))
    assert.are.equal("more", a:recv())
  end

  it("after shutdown('write') the peer reads EOF, the other way still works", function()
    local a, b = uxsock.socketpair()
    check_half_close(a, b)
    a:close(); b:close()
  end)

  it("the same for a connected stream, either side", function()
    local path = helpers.sockpath("shut")
    local l = assert(uxsock.listen(path))
    local c, s = pair(l, path)
    check_half_close(c, s)
    c:close(); s:close()
    c, s = pair(l, path)
    check_half_close(s, c)
    c:close(); s:close()
    l:close()
  end)

  it("seqpacket: shutdown('write') gives the peer EOF", function()
    local a, b = uxsock.socketpair("seqpacket")
    assert.is_true(a:shutdown("write"))
    local data, _, code = b:recv()
    assert.is_nil(data)
    assert.are.equal(uxsock.EOF, code)
    assert.are.equal(4, b:send("back"))
    assert.are.equal("back", a:recv())
    a:close(); b:close()
  end)
end)
