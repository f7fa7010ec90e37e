-- Socket-file security: permissions keep other users out (EACCES), a
-- server can admit only its own user by peercred (the example), and a
-- directory the process cannot read works as any other. (Mode bits,
-- symlinks and non-socket files: spec 06; attacks on the socket file:
-- spec 29.)
local h = require("helpers")
local uxsock = require("uxsock")

local track = h.track

local other_luacmd, opendir = h.other_luacmd, h.opendir
local root = h.can_act_as_other()

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
      local out = h.run(other_luacmd(probe, dir .. "/closed.sock"))
      assert.equal(uxsock.EACCES .. " connect " .. dir .. "/closed.sock: Permission denied", out)
      out = h.run(other_luacmd(probe, dir .. "/open.sock"))
      assert.equal("connected", out)
      assert.is_truthy(open:accept())
      closed:settimeout(0)
      assert.equal(uxsock.EAGAIN, select(3, closed:accept()))  -- nobody got in
    end)

    it("replaces, sets mode and removes in a directory it may write but not read", function()
      local dir = h.tmpdir()
      assert(os.execute("chmod 333 " .. h.q(dir)))  -- -wx for everyone
      local code = [[
        local uxsock = require("uxsock")
        local lfs = require("lfs")
        local path = arg[1]
        assert(uxsock.listen(path, { unlink = false })):close()  -- stale
        local l = assert(uxsock.listen(path, { mode = tonumber("660", 8) }))
        assert(lfs.attributes(path, "permissions") == "rw-rw----")
        local c = assert(uxsock.connect(path))
        assert(l:accept())
        c:close()
        l:close()
        io.write(lfs.attributes(path) and "left" or "ok")
      ]]
      assert.equal("ok", h.run("umask 077; " .. other_luacmd(code, dir .. "/nolock.sock")))
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
      assert.equal("denied", h.run(other_luacmd(client, path)))
      local out, rc = server:wait(20)
      assert.equal(0, rc, out)
      assert.matches("serving uid 0 on " .. path:gsub("%p", "%%%0"), out)
      assert.matches("refused pid %d+ uid 4321", out)
      assert.is_nil(h.filetype(path))  -- removed on the way out
    end)
  end)

end)
