-- The socket file against everyone else who acts on its directory (the
-- threat model in src/sockfile.c), each played for real:
--   another user holding a lock on the directory, or squatting the
--   stale-file lock; another user swapping symlinks and directories in a
--   loop while a root server sets a mode (thousands of rounds, the target
--   must never change); a forked child closing, collecting, exiting or
--   exec'ing; 8 servers racing for one path, stale or absent; a program
--   that is not uxsock with a socket bound but not listening; a process
--   of the same user holding the lock (the wait is bounded);
-- and the places a socket file lives: /tmp (sticky), a private 0700
-- directory, a relative path (a directory the process cannot read: spec 27).
local h = require("helpers")
local uxsock = require("uxsock")
local lfs = require("lfs")

local track = h.track
local MEMCHECK = os.getenv("UXSOCK_MEMCHECK")
local FORKENV = h.ROOT .. "/build/forkenv.so"

local as_other, opendir = h.as_other, h.opendir
local root = h.can_act_as_other()

-- every process a test starts is killed and reaped after it, pass or
-- fail (spec/children.lua); a test with rounds stops them between rounds
local start, stop_jobs = h.spawn, h.stop_children

-- waits until f() is true (generous deadline); false if it never is
local function until_true(f, seconds)
  local deadline = uxsock.monotime() + (seconds or 20)
  while not f() do
    if uxsock.monotime() > deadline then return false end
    uxsock.poll({}, 0.01)
  end
  return true
end

-- a stale socket file at path (its server gone, the file kept)
local function stale(path, make)
  assert((make or uxsock.listen)(path, { unlink = false })):close()
  assert.equal("socket", h.filetype(path))
  return lfs.attributes(path)
end

-- the abstract name of the lock for replacing the stale file st (sockfile.c)
local function lock_name(st, uid)
  return string.format("@uxsock-stale/%x/%x/%x", uid or h.uid(), st.dev, st.ino)
end

-- Python 3 for the peers: Debian's, which every user can run (a
-- per-user install, such as pyenv's under /root, is not)
local PYTHON = h.filetype("/usr/bin/python3") and "/usr/bin/python3" or "python3"

-- a command that runs Python code; the peers print "ready" when set
local function python(code, ...)
  local script = opendir() .. "/peer.py"
  h.writeshared(script, code)
  local args = {}
  for i = 1, select("#", ...) do args[i] = h.q((select(i, ...))) end
  return PYTHON .. " -u " .. h.q(script) .. " " .. table.concat(args, " ")
end
local function ready(job)
  return until_true(function() return (h.readfile(job.out) or ""):match("ready") end)
end

describe("socket files against others", function()
  lazy_teardown(h.cleanup)
  after_each(h.close_tracked)

  describe("another user", function()
    if not root then
      pending("needs root and setpriv, to act as another user")
      return
    end

    it("holding a flock of the directory delays neither listen nor datagram", function()
      local dir = opendir()
      -- the lock is taken on a descriptor that the shell hands to sleep by
      -- exec, so the process the job kills is the one that holds it
      local holder = start(as_other("sh -c 'exec 9<\"$1\" && flock 9 && exec sleep 120' sh "
                                    .. h.q(dir)))
      assert.is_true(until_true(function()
        local _, _, code = h.run("flock -n " .. h.q(dir) .. " true")
        return code ~= 0
      end), "the lock was never taken: " .. tostring(h.readfile(holder.out)))
      for _, make in ipairs({ uxsock.listen, uxsock.datagram }) do
        local fresh, replaced = dir .. "/fresh.sock", dir .. "/stale.sock"
        local took, s = h.timed(make, fresh)
        track(assert(s))
        assert.is_true(took < 5, string.format("a free path took %.3f s", took))
        stale(replaced, make)
        took, s = h.timed(make, replaced)
        track(assert(s))
        assert.is_true(took < 5, string.format("a stale path took %.3f s", took))
        h.close_tracked()
        assert.is_nil(h.filetype(fresh))
        assert.is_nil(h.filetype(replaced))
      end
      -- and a program started under `flock DIR` (single-instance idiom)
      local code = [[
        local uxsock = require("uxsock")
        local path = arg[1]
        assert(uxsock.listen(path, { unlink = false })):close()
        assert(uxsock.listen(path)):close()
        io.write("ok")
      ]]
      local mine = opendir()
      local out, how, rc = h.run("timeout 60 flock " .. h.q(mine) .. " "
                                 .. h.luacmd(code, mine .. "/self.sock"))
      assert.same({ "exit", 0, "ok" }, { how, rc, out })
    end)

    it("squatting the stale-file lock name is ignored", function()
      local dir = opendir()
      for _, listens in ipairs({ true, false }) do
        local path = dir .. (listens and "/squat-l.sock" or "/squat-b.sock")
        local st = stale(path)
        local squatter = start(as_other(python([[
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(b"\0" + sys.argv[1].encode()[1:])
if sys.argv[2] == "listen":
    s.listen(0)
print("ready")
time.sleep(120)
]], lock_name(st), listens and "listen" or "bind")))
        assert.is_true(ready(squatter), h.readfile(squatter.out))
        local took, l = h.timed(uxsock.listen, path)
        track(assert(l))
        -- a squatter that listens is seen at once; one that only binds
        -- after the wait (UX_STALE_WAIT, 1 s)
        assert.is_true(took < 5, string.format("listen took %.3f s", took))
        local c = track(assert(uxsock.connect(path)))
        c:send("through")
        assert.equal("through", track(assert(l:accept())):recv())
      end
    end)

    -- the attacker owns the directory (not sticky) and swaps in a loop;
    -- the server is root, with a umask that always takes bits from mode,
    -- so every round it must widen the mode, the step an attack aims at
    local ATTACKER = [[
import os, sys
d, target, how = sys.argv[1], sys.argv[2], sys.argv[3]
print("ready")
n = 0
while True:
    n += 1
    try:
        if how == "symlink":
            # the socket's own name: moved away, a symlink put in its place
            try: os.rename(d + "/s.sock", d + "/moved")
            except OSError: pass
            try: os.symlink(target, d + "/tmp")
            except OSError: pass
            os.rename(d + "/tmp", d + "/s.sock")
            if n % 2: os.unlink(d + "/s.sock")
        else:
            # a directory component: d/sub flips between a directory and
            # a symlink to the directory that holds the target
            os.symlink(target if n % 2 else d + "/real", d + "/new")
            os.rename(d + "/new", d + "/sub")
    except OSError:
        pass
]]
    local SERVER = [[
      local uxsock = require("uxsock")
      local lfs = require("lfs")
      local path, target, rounds = arg[1], arg[2], tonumber(arg[3])
      local mode = tonumber("666", 8)
      local target_mode = lfs.attributes(target, "permissions")
      local counts, other = { ok = 0, EADDRINUSE = 0, ENOENT = 0 }, {}
      for _ = 1, rounds do
        local l, err, code = uxsock.listen(path, { mode = mode })
        if l then counts.ok = counts.ok + 1; l:close()
        elseif code == uxsock.EADDRINUSE then counts.EADDRINUSE = counts.EADDRINUSE + 1
        elseif code == uxsock.ENOENT then counts.ENOENT = counts.ENOENT + 1
        else other[#other + 1] = err end
        if lfs.attributes(target, "permissions") ~= target_mode then
          io.write("TARGET CHANGED to ", lfs.attributes(target, "permissions"), "\n")
          os.exit(1)
        end
      end
      io.write(string.format("ok %d EADDRINUSE %d ENOENT %d other %d %s\n", counts.ok,
               counts.EADDRINUSE, counts.ENOENT, #other, table.concat(other, "; ")))
    ]]

    for _, how in ipairs({ "symlink", "directory" }) do
      it("swapping a " .. how .. " while a root server sets mode never changes another file",
         function()
        local rounds = MEMCHECK and 300 or 3000
        local base = opendir()
        local d = base .. "/attacker"
        assert(lfs.mkdir(d))
        assert(lfs.mkdir(d .. "/real"))
        -- the target: a root file the attacker can name but not change;
        -- in the directory case it is named like the socket
        local tdir = opendir()
        local target = tdir .. "/s.sock"
        h.writefile(target, "root's")
        assert(os.execute("chmod 644 " .. h.q(target)))
        assert(os.execute("chown -R 4321:4321 " .. h.q(d)))
        local attacker = start(as_other(python(ATTACKER, d, how == "symlink" and target or tdir,
                                               how)))
        assert.is_true(ready(attacker), h.readfile(attacker.out))
        local path = how == "symlink" and d .. "/s.sock" or d .. "/sub/s.sock"
        local out, st, rc = h.run("umask 077; " .. h.luacmd(SERVER, path, target, tostring(rounds)))
        attacker:kill("KILL")
        attacker:wait(20)
        assert.same({ "exit", 0 }, { st, rc }, out)
        assert.equal(tonumber("644", 8), h.filemode(target))
        assert.equal("root's", h.readfile(target))
        local ok, busy, moved, other =
          out:match("^ok (%d+) EADDRINUSE (%d+) ENOENT (%d+) other (%d+)")
        assert.is_not_nil(ok, out)
        assert.equal("0", other, out)
        assert.is_true(tonumber(ok) > 0, "the server never started: " .. out)
        -- the attack did reach the server
        assert.is_true(tonumber(busy) + tonumber(moved) > 0, "no round was attacked: " .. out)
        io.stderr:write(string.format("[%s swap, %d rounds] %s", how, rounds, out))
      end)
    end
  end)

  describe("a forked child", function()
    local CHILD = [[
      local uxsock = require("uxsock")
      local lfs = require("lfs")
      local make, path, how = arg[1], arg[2], arg[3]
      local s = assert(uxsock[make](path))
      local ino = lfs.attributes(path, "ino")
      local pid = os.getenv("UXSOCK_FORK")
      assert(pid and pid ~= "-1", "fork failed")
      if pid == "0" then  -- the child, a copy of this state
        if how == "close" then s:close()
        elseif how == "gc" then s = nil; collectgarbage(); collectgarbage()
        elseif how == "lua_close" then os.exit(0, true)
        elseif how == "exec" then os.getenv("UXSOCK_EXEC=exit 0") end
        os.exit(0)
      end
      local status = os.getenv("UXSOCK_WAIT=" .. pid)
      -- the parent: the file is still there, the same, and reaches it
      local same = lfs.attributes(path, "ino") == ino
      local served = false
      s:settimeout(10)  -- a file the child removed reaches nobody
      if make == "listen" then
        local c = uxsock.connect(path)
        if c and c:send("x") then
          local a = s:accept()
          served = a and a:recv() == "x"
        end
      elseif assert(uxsock.datagram()):sendto("x", path) then
        served = s:recv() == "x"
      end
      s:close()
      io.write(status, " ", tostring(same), " ", tostring(served), " ",
               tostring(lfs.attributes(path, "mode")))
    ]]
    local hows = { "close", "gc", "exec" }
    if _VERSION ~= "Lua 5.1" then hows[#hows + 1] = "lua_close" end  -- os.exit(c, true)

    for _, make in ipairs({ "listen", "datagram" }) do
      for _, how in ipairs(hows) do
        it("leaves the " .. make .. " file after its " .. how .. "; the parent removes it",
           function()
          h.test_hosts()
          local path = h.sockpath("fork")
          local out = h.run("env " .. h.preload(FORKENV) .. " "
                            .. h.luacmd(CHILD, make, path, how))
          assert.equal("exit 0 true true nil", out)
          assert.is_nil(h.filetype(path))
        end)
      end
    end

    it("os.exit without closing leaves the file, which the next server replaces", function()
      local path = h.sockpath("exit")
      local out, how, code = h.run(h.luacmd([[
        local uxsock = require("uxsock")
        local l = assert(uxsock.listen(arg[1]))
        os.exit(l and 0 or 1)
      ]], path))
      assert.same({ "exit", 0 }, { how, code }, out)
      assert.equal("socket", h.filetype(path))
      track(assert(uxsock.listen(path)))
    end)
  end)

  describe("racing servers", function()
    -- each round: 8 processes listen on one path at once, stale or
    -- absent; one must win, the others get EADDRINUSE, and the path must
    -- lead to the winner (no winner orphaned by another's replacement)
    local RACER = [[
      local uxsock = require("uxsock")
      local path, dir, i = arg[1], arg[2], arg[3]
      local function exists(p) local f = io.open(p) if f then f:close() return true end end
      io.open(dir .. "/ready." .. i, "w"):close()
      while not exists(dir .. "/go") do uxsock.poll({}, 0.001) end
      local l, _, code = uxsock.listen(path, { timeout = 30 })
      if not l then io.write("lost ", code, "\n") return end
      io.write("won ", i, "\n")
      io.stdout:flush()
      local c = assert(l:accept())
      c:settimeout(30)
      if c:read("l") == "who" then c:sendall(i) end
      c:close()
      l:close()
    ]]
    local RACERS = 8
    local rounds = MEMCHECK and 2 or 12

    for _, state in ipairs({ "stale", "absent" }) do
      it("on a " .. state .. " path: exactly one of " .. RACERS .. " wins, reachable, "
         .. rounds .. " rounds", function()
        for round = 1, rounds do
          local dir = h.tmpdir()
          local path = dir .. "/race.sock"
          if state == "stale" then stale(path) end
          local racers = {}
          for i = 1, RACERS do racers[i] = start(h.luacmd(RACER, path, dir, tostring(i))) end
          assert.is_true(until_true(function()
            for i = 1, RACERS do
              if not h.filetype(dir .. "/ready." .. i) then return false end
            end
            return true
          end, 60), "the racers never got ready")
          h.writefile(dir .. "/go", "")
          local said = {}
          assert.is_true(until_true(function()
            for i = 1, RACERS do
              said[i] = h.readfile(racers[i].out)
              if not (said[i] or ""):match("\n$") then return false end
            end
            return true
          end, 60), "round " .. round .. ": the racers said " .. table.concat(said, "|"))
          local winners, losers = {}, 0
          for i = 1, RACERS do
            local who = said[i]:match("^won (%d+)")
            if who then winners[#winners + 1] = who
            else
              assert.equal("lost " .. uxsock.EADDRINUSE .. "\n", said[i])
              losers = losers + 1
            end
          end
          assert.equal(1, #winners, "round " .. round .. ": " .. table.concat(said, "|"))
          assert.equal(RACERS - 1, losers)
          local c = assert(uxsock.connect(path, { timeout = 30 }))
          c:sendall("who\n")
          assert.equal(winners[1], c:read("a"), "round " .. round)
          c:close()
          for i = 1, RACERS do
            local _, rc = racers[i]:wait(30)
            assert.equal(0, rc, h.readfile(racers[i].out))
          end
          assert.is_nil(h.filetype(path))  -- the winner removed its file
          stop_jobs()
        end
      end)
    end

    it("a socket bound by another program, not yet listening, is live", function()
      -- the moment between another server's bind and its listen: its file
      -- must not be taken for a stale one, whatever the socket's type
      local dir = h.tmpdir()
      local peer = start(python([[
import os, socket, sys, time
d = sys.argv[1]
socks = {}
for name, kind in (("stream", socket.SOCK_STREAM), ("seqpacket", socket.SOCK_SEQPACKET),
                   ("datagram", socket.SOCK_DGRAM)):
    s = socket.socket(socket.AF_UNIX, kind)
    s.bind(d + "/" + name + ".sock")
    socks[name] = s
print("ready")
while not os.path.exists(d + "/listen"):
    time.sleep(0.01)
s = socks["stream"]
s.listen(1)
print("listening")
c, _ = s.accept()
print("accepted", c.recv(16).decode())
]], dir))
      assert.is_true(ready(peer), h.readfile(peer.out))
      for _, name in ipairs({ "stream", "seqpacket", "datagram" }) do
        local path = dir .. "/" .. name .. ".sock"
        local ino = lfs.attributes(path, "ino")
        for _, make in ipairs({ uxsock.listen, uxsock.datagram }) do
          local s, err, code = make(path)
          assert.is_nil(s, name)
          assert.equal(uxsock.EADDRINUSE, code, err)
          assert.equal(ino, lfs.attributes(path, "ino"), name .. ": the file was replaced")
        end
      end
      h.writefile(dir .. "/listen", "")
      assert.is_true(until_true(function()
        return (h.readfile(peer.out) or ""):match("listening")
      end), h.readfile(peer.out))
      local c = track(assert(uxsock.connect(dir .. "/stream.sock", { timeout = 30 })))
      c:sendall("still its")
      local _, rc = peer:wait(30)
      assert.equal(0, rc, h.readfile(peer.out))
      assert.equal("ready\nlistening\naccepted still its\n", h.readfile(peer.out))
    end)

    it("a process of this user holding the lock is waited for, within the timeout", function()
      local path = h.sockpath("held")
      local st = stale(path)
      local lock = track(assert(uxsock.listen(lock_name(st))))
      local took, l, _, code = h.timed(uxsock.listen, path, { timeout = 0.2 })
      assert.is_nil(l)
      assert.equal(uxsock.ETIMEDOUT, code)
      assert.is_true(took >= 0.19 and took < 10, string.format("took %.3f s", took))
      assert.equal(uxsock.EAGAIN, select(3, uxsock.listen(path, { timeout = 0 })))
      assert.equal(uxsock.EAGAIN, select(3, uxsock.datagram(path, { timeout = 0 })))
      -- with no timeout, the wait still ends (UX_STALE_WAIT: 1 s)
      took, l, _, code = h.timed(uxsock.listen, path)
      assert.is_nil(l)
      assert.equal(uxsock.ETIMEDOUT, code)
      assert.is_true(took >= 0.99 and took < 10, string.format("took %.3f s", took))
      assert.equal(st.ino, lfs.attributes(path, "ino"))  -- left as it was
      lock:close()
      track(assert(uxsock.listen(path)))
    end)
  end)

  describe("places", function()
    -- stale replacement, exact mode and removal by close, at path
    local function lifecycle(path)
      for _, make in ipairs({ uxsock.listen, uxsock.datagram }) do
        stale(path, make)
        local s = assert(make(path, { mode = tonumber("640", 8) }))
        assert.equal(tonumber("640", 8), h.filemode(path))
        s:close()
        assert.is_nil(h.filetype(path))
      end
    end

    it("/tmp itself, a sticky directory", function()
      lifecycle(string.format("/tmp/uxsock-spec-%d-sticky.sock", h.pid()))
    end)

    it("a private 0700 directory", function()
      local dir = h.tmpdir()
      assert(os.execute("chmod 700 " .. h.q(dir)))
      lifecycle(dir .. "/private.sock")
    end)

    it("a relative path, and a close after chdir touches only its own file", function()
      local dir, elsewhere = h.tmpdir(), h.tmpdir()
      local ok, err = pcall(function()
        assert(lfs.chdir(dir))
        lifecycle("rel.sock")
        local l = assert(uxsock.listen("rel.sock"))
        assert(lfs.chdir(elsewhere))
        h.writefile("rel.sock", "not a socket")
        l:close()
        assert.equal("not a socket", h.readfile("rel.sock"))
        assert.equal("socket", h.filetype(dir .. "/rel.sock"))  -- left: stale now
      end)
      assert(lfs.chdir(h.ROOT))
      assert(ok, err)
      track(assert(uxsock.listen(dir .. "/rel.sock")))  -- and replaced
    end)
  end)
end)
