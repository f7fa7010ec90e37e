-- What the fuzzers found (fuzz/): each finding, once fixed, stays here
-- as a case of its own. fuzz/addr.c is the address harness, fuzz/api.c
-- and fuzz/random_calls.lua the random API-call fuzzers.
local h = require("helpers")
local uxsock = require("uxsock")
local lfs = require("lfs")

local PYTHON = os.getenv("PYTHON") or "python3"

describe("fuzz regressions", function()
  lazy_teardown(h.cleanup)
  after_each(h.close_tracked)

  -- fuzz/addr.c: a name ux_addr_name gave, passed back to ux_addr_make,
  -- must name the same socket. A file whose name starts with '@' (which
  -- another program can bind: "@c" relative to its directory) came back
  -- as "@c", which uxsock takes as the abstract name "\0c": a reply went
  -- to whoever held that abstract name, never to the sender. It comes
  -- back as "./@c" now, the spelling README gives for such a file.
  it("a file named '@x' comes back as './@x', and a reply reaches it", function()
    local dir = h.tmpdir()
    local spath = dir .. "/server.sock"
    local d = h.track(assert(uxsock.datagram(spath, { timeout = 10 })))
    local sender = "@c" .. h.pid()
    -- an abstract socket of the name the file's would have been read as
    local trap = h.track(assert(uxsock.datagram(sender, { timeout = 0 })))
    local script = table.concat({
      "import os, socket, sys",
      "os.chdir(sys.argv[1])",
      "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)",
      "s.bind(sys.argv[2])",          -- Python: a leading '@' is a file
      "s.settimeout(10)",
      "s.sendto(b'hello', sys.argv[3])",
      "print(s.recv(100).decode())",
      "os.unlink(sys.argv[2])",
    }, "\n")
    local file = dir .. "/peer.py"
    h.writefile(file, script)
    local job = h.spawn(table.concat({ PYTHON, h.q(file), h.q(dir), h.q(sender),
                                       h.q(spath) }, " "))
    local data, from = d:recvfrom()
    assert.equal("hello", data)
    assert.equal("./" .. sender, from)
    -- the reply goes to the file, as a path relative to the sender's
    -- directory: send it from there
    local cwd = lfs.currentdir()
    assert(lfs.chdir(dir))
    local ok, n, err = pcall(d.sendto, d, "reply", from)
    lfs.chdir(cwd)
    assert(ok, n)
    assert(n, err)
    local out, rc = job:wait(20)
    assert.equal(0, rc, job:describe())
    assert.equal("reply\n", out)
    assert.equal(uxsock.EAGAIN, select(3, trap:recv()))
  end)

  -- fuzz/api.c (a timeout, libFuzzer's): a timed call blocked for good.
  -- A handle with a timeout keeps its descriptor O_NONBLOCK, but the
  -- flag is the open file description's, shared by every copy: a copy
  -- from recvfds whose timeout went from a number to nil (or
  -- uxsock_detachfd, or another process) turned it off, and the timed
  -- handle's next recv, send or accept waited in the system call with
  -- no end. Timed calls pass MSG_DONTWAIT now, and a timed accept sets
  -- O_NONBLOCK again. The calls run in a child under `timeout`, so a
  -- return of the bug fails this case instead of hanging the suite.
  it("a timed call times out after a copy of its descriptor was made blocking", function()
    local code = [[
      local uxsock = require("uxsock")
      local now = uxsock.monotime
      local x, y = uxsock.socketpair()
      -- a copy of h through a socket, made blocking the way a handle does
      local function blockcopy(h)
        assert(x:sendfds("z", { h }))
        local _, fds = assert(y:recvfds())
        local c = fds[1]
        assert(c:settimeout(5))
        assert(c:settimeout(nil))
        return c
      end
      local function try(what, h, f, ...)
        assert(h:settimeout(0.2))
        local copy = blockcopy(h)
        local t0 = now()
        local r, _, code = f(h, ...)
        print(what, tostring(r), tostring(code), ("%.2f"):format(now() - t0))
        copy:close()
      end
      local a, b = uxsock.socketpair()
      try("recv", a, a.recv)
      try("read", a, a.read, 1)
      assert(b:settimeout(0))
      repeat until not b:send(("x"):rep(65536))
      try("sendall", b, b.sendall, ("x"):rep(65536))
      local l = assert(uxsock.listen("@uxsock-spec26-" .. tostring(now()):gsub("%.", "")))
      try("accept", l, l.accept)
      local d1, d2 = uxsock.socketpair("datagram")
      try("recvfrom", d1, d1.recvfrom)
      try("recvmany", d1, d1.recvmany, 4)
      assert(d2:settimeout(0))
      repeat until not d2:send("x")
      try("sendmany", d2, d2.sendmany, { "y", "z" })
    ]]
    local out, how, rc = h.run("timeout 30 " .. h.luacmd(code))
    assert.equal("exit", how)
    assert.equal(0, rc, out)
    local seen = 0
    for what, r, ecode, secs in out:gmatch("(%w+)\t(%S+)\t(%S+)\t(%S+)") do
      seen = seen + 1
      assert.equal("nil", r, what)
      assert.equal(tostring(uxsock.ETIMEDOUT), ecode, what)
      assert.is_true(tonumber(secs) >= 0.15 and tonumber(secs) < 5, what .. " took " .. secs)
    end
    assert.equal(7, seen, out)
  end)
end)
