-- Socket-file security: permissions keep other users out (EACCES), a
-- server can admit only its own user by peercred (the example), and
-- replacing a stale socket file cannot be raced into removing a live
-- server's socket. (Mode bits, symlinks and non-socket files: spec 06.)
local h = require("helpers")
local uxsock = require("uxsock")

local track = h.track

-- a command that runs as another user (uid and gid 4321): root only
local function as_other(cmd)
  return "setpriv --reuid=4321 --regid=4321 --clear-groups " .. cmd
end
local root = h.uid() == 0 and os.execute("command -v setpriv >/dev/null 2>&1")

-- a directory every user may enter, for sockets another user connects to
local function opendir()
  local dir = h.tmpdir()
  assert(os.execute("chmod 755 " .. h.q(dir)))
  return dir
end

describe("socket files", function()
  lazy_teardown(h.cleanup)
  after_each(h.close_tracked)

  describe("another user", function()
    if not root then
      pending("needs root and setpriv, to run a client as another user")
      return
    end

    local probe = [[
      local uxsock = require("uxsock")
      local c, err, code = uxsock.connect(arg[1])
      io.write(c and "connected" or (code .. " " .. err))
    ]]

    it("gets EACCES from a socket file of mode 0600, and gets in at 0666", function()
      local dir = opendir()
      local closed = track(assert(uxsock.listen(dir .. "/closed.sock",
                                                 { mode = tonumber("600", 8) })))
      local open = track(assert(uxsock.listen(dir .. "/open.sock", { mode = tonumber("666", 8) })))
      local out = h.run(as_other(h.luacmd(probe, dir .. "/closed.sock")))
      assert.equal(uxsock.EACCES .. " connect " .. dir .. "/closed.sock: Permission denied", out)
      out = h.run(as_other(h.luacmd(probe, dir .. "/open.sock")))
      assert.equal("connected", out)
      assert.is_truthy(open:accept())
      closed:settimeout(0)
      assert.equal(uxsock.EAGAIN, select(3, closed:accept()))  -- nobody got in
    end)

    it("binds in a directory it may write but not read: the lock is skipped", function()
      local dir = h.tmpdir()
      assert(os.execute("chmod 333 " .. h.q(dir)))  -- -wx for everyone
      local code = [[
        local uxsock = require("uxsock")
        local l = assert(uxsock.listen(arg[1]))
        local c = assert(uxsock.connect(arg[1]))
        assert(l:accept())
        c:close()
        l:close()
        io.write("ok")
      ]]
      assert.equal("ok", h.run(as_other(h.luacmd(code, dir .. "/nolock.sock"))))
      assert(os.execute("chmod 755 " .. h.q(dir)))
      assert.is_nil(h.filetype(dir .. "/nolock.sock"))  -- removed by its close
    end)

    it("is refused by examples/authorized_server.lua, its own user is served", function()
      if _VERSION ~= "Lua 5.4" then
        pending("needs Lua 5.4: the examples are Lua 5.4 programs")
        return
      end
      local path = opendir() .. "/auth.sock"
      local server = h.spawn(h.luacmd(h.ROOT .. "/examples/authorized_server.lua", path, "2"))
      assert.is_true(h.waitfor(path, 20))
      local c = track(assert(uxsock.connect(path, { timeout = 10 })))
      c:sendall("let me in\n")
      assert.equal("LET ME IN", c:read("l"))
      c:close()
      local client = [[
        local uxsock = require("uxsock")
        local c = assert(uxsock.connect(arg[1], { timeout = 10 }))
        c:sendall("let me in\n")
        io.write(tostring(c:read("l")))
      ]]
      assert.equal("denied", h.run(as_other(h.luacmd(client, path))))
      local out, rc = server:wait(20)
      assert.equal(0, rc, out)
      assert.matches("serving uid 0 on " .. path:gsub("%p", "%%%0"), out)
      assert.matches("refused pid %d+ uid 4321", out)
      assert.is_nil(h.filetype(path))  -- removed on the way out
    end)
  end)

  it("a stale file raced by several new servers goes to one, which stays reachable", function()
    -- each round: a stale socket file, then 6 processes listen on its path
    -- at once; one must win, the others get EADDRINUSE, and the path must
    -- lead to the winner (no winner orphaned by another's replacement)
    local child = [[
      local uxsock = require("uxsock")
      local path, go = arg[1], arg[2]
      local function exists(p) local f = io.open(p) if f then f:close() return true end end
      while not exists(go) do uxsock.poll({}, 0.001) end
      local l, _, code = uxsock.listen(path, { timeout = 10 })
      if not l then io.write("lost ", code, "\n") return end
      local pid = io.open("/proc/self/stat"):read("*l"):match("^%d+")
      io.write("won ", pid, "\n")
      io.stdout:flush()
      -- serve until the parent asks who is there: the other racers'
      -- probes of a live server are connections too, which close at once
      while true do
        local c = l:accept()
        if not c then break end
        c:settimeout(10)
        local asked = c:read("l") == "who"
        if asked then c:sendall(pid) end
        c:close()
        if asked then break end
      end
      l:close()
    ]]
    for round = 1, 8 do
      local dir = h.tmpdir()
      local path, go = dir .. "/race.sock", dir .. "/go"
      assert(uxsock.listen(path, { unlink = false })):close()
      assert.equal("socket", h.filetype(path))
      local jobs = {}
      for i = 1, 6 do jobs[i] = h.spawn(h.luacmd(child, path, go)) end
      os.execute("sleep 0.2")  -- they are all waiting for go
      h.writefile(go, "")
      -- every child says whether it won (the winner before it accepts)
      local said, deadline = {}, os.time() + 20
      repeat
        for i, job in ipairs(jobs) do said[i] = h.readfile(job.out) end
        local n = 0
        for i = 1, #jobs do if (said[i] or ""):match("\n$") then n = n + 1 end end
        if n < #jobs then uxsock.poll({}, 0.01) end
      until n == #jobs or os.time() > deadline
      local losers, winners = 0, {}
      for i = 1, #jobs do
        local pid = (said[i] or ""):match("^won (%d+)")
        if pid then winners[#winners + 1] = pid
        elseif said[i] then
          assert.equal("lost " .. uxsock.EADDRINUSE .. "\n", said[i])
          losers = losers + 1
        end
      end
      -- then ask the path who serves it
      local c, err = uxsock.connect(path, { timeout = 10 })
      if not c then
        error(("round %d: %s; the children said: %s; the directory holds: %s"):format(
          round, err, table.concat(said, "|"), h.run("ls -la " .. h.q(dir))))
      end
      c:sendall("who\n")
      local reached = c:read("a")
      c:close()
      for _, job in ipairs(jobs) do job:wait(20) end
      assert.equal(1, #winners, "round " .. round .. ": " .. #winners .. " servers won")
      assert.equal(5, losers, "round " .. round)
      assert.equal(winners[1], reached, "round " .. round)
    end
  end)

  it("binds under an exclusive lock of the directory (flock), held through listen", function()
    -- while another process holds the lock, listen waits for it
    local dir = h.tmpdir()
    local path = dir .. "/locked.sock"
    local holder = h.spawn("flock " .. h.q(dir) .. " sh -c 'touch " .. h.q(dir .. "/held")
                           .. "; sleep 0.6'")
    assert.is_true(h.waitfor(dir .. "/held", 20))
    local elapsed, l = h.timed(uxsock.listen, path)
    track(l)
    assert.is_true(elapsed >= 0.3, string.format("listen took %.3f s", elapsed))
    assert.is_truthy(holder:wait(20))
    -- and an abstract name takes no lock: it has no directory
    holder = h.spawn("flock " .. h.q(dir) .. " sh -c 'touch " .. h.q(dir .. "/held2")
                     .. "; sleep 0.6'")
    assert.is_true(h.waitfor(dir .. "/held2", 20))
    elapsed, l = h.timed(uxsock.listen, h.abstract("nolock"))
    track(l)
    assert.is_true(elapsed < 0.3, string.format("listen took %.3f s", elapsed))
    assert.is_truthy(holder:wait(20))
  end)
end)
