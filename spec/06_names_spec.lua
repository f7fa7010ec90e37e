-- Socket names and socket files: abstract names, length limits, stale
-- files, never removing what is not ours, removal on close, permissions.
local h = require("helpers")
local uxsock = require("uxsock")
local lfs = require("lfs")

local track = h.track

local function shell(cmd)
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  return out
end

-- a path of exactly n bytes in a fresh directory
local function path_of_length(n)
  local dir = h.tmpdir() .. "/"
  return dir .. ("p"):rep(n - #dir)
end

describe("socket names", function()
  lazy_teardown(h.cleanup)
  after_each(h.close_tracked)

  describe("abstract names (Linux)", function()
    it("'@x' and '\\0x' are one name, given back as '@x'; no file is made", function()
      local name = h.abstract("one")
      local l = track(assert(uxsock.listen("\0" .. name:sub(2))))
      assert.equal(name, l:getsockname())
      local c = track(assert(uxsock.connect(name)))
      assert.equal(name, c:getpeername())
      assert.equal(name, track(assert(l:accept())):getsockname())
      assert.is_nil(h.filetype(name))
      assert.is_nil(h.filetype(name:sub(2)))
    end)

    it("NUL bytes inside an abstract name are part of it", function()
      local base = h.abstract("nul")
      local with_nul = base .. "\0tail"
      local l = track(assert(uxsock.listen(with_nul)))
      assert.equal(with_nul, l:getsockname())
      assert.equal(uxsock.ECONNREFUSED, select(3, uxsock.connect(base)))
      local c = track(assert(uxsock.connect(with_nul)))
      assert.equal(with_nul, c:getpeername())
      -- a datagram sender with such a name arrives with every byte
      local server = track(assert(uxsock.datagram(h.abstract("srv"))))
      local sender = track(assert(uxsock.datagram(with_nul .. "\0")))
      sender:sendto("hi", server:getsockname())
      assert.same({ "hi", with_nul .. "\0" }, { server:recvfrom() })
    end)

    it("'./@x' is a file, not an abstract name", function()
      local dir = h.tmpdir()
      local cwd = lfs.currentdir()
      assert(lfs.chdir(dir))
      local ok, err = pcall(function()
        local l = track(assert(uxsock.listen("./@x")))
        assert.equal("socket", h.filetype(dir .. "/@x"))
        assert.equal("./@x", l:getsockname())
        assert.equal(uxsock.ECONNREFUSED, select(3, uxsock.connect("@x")))
        track(assert(uxsock.connect("./@x")))
      end)
      lfs.chdir(cwd)
      assert(ok, err)
    end)
  end)

  describe("length", function()
    it("107 bytes is the limit for paths, 107 after the '@' for abstract names", function()
      local path = path_of_length(107)
      local l = track(assert(uxsock.listen(path)))
      assert.equal(path, l:getsockname())
      track(assert(uxsock.connect(path)))
      -- an abstract name fills all of sun_path: its NUL and 107 bytes
      local abstract = h.abstract_of_length(108)
      assert.equal(108, #abstract)
      track(assert(uxsock.listen(abstract)))
      assert.equal(abstract, track(assert(uxsock.connect(abstract))):getpeername())
      local long = path_of_length(108)
      local d = track(assert(uxsock.datagram()))
      for _, call in ipairs({
        function() return uxsock.listen(long) end,
        function() return uxsock.connect(long) end,
        function() return uxsock.datagram(long) end,
        function() return d:sendto("x", long) end,
        function() return d:connect(long) end,
      }) do
        local ok, err = pcall(call)
        assert.is_false(ok)
        assert.matches("socket name too long %(108 bytes, the limit is 107%)", err)
      end
      local over = h.abstract_of_length(109)
      for _, name in ipairs({ over, "\0" .. over:sub(2) }) do
        local ok, err = pcall(uxsock.listen, name)
        assert.is_false(ok)
        assert.matches("abstract socket name too long %(109 bytes, the limit is 108 with its '@'%)",
                       err)
      end
      assert.is_nil(h.filetype(long))
    end)

    it("a NUL in a path and an empty name raise", function()
      local p = h.sockpath("nul")
      local ok, err = pcall(uxsock.listen, p .. "\0x")
      assert.is_false(ok)
      assert.matches("bad argument #1 .*NUL", err)
      ok, err = pcall(uxsock.connect, "")
      assert.is_false(ok)
      assert.matches("bad argument #1 .*empty socket name", err)
      assert.is_nil(h.filetype(p))
    end)
  end)

  describe("stale and live socket files", function()
    it("a stale file is replaced, for listeners and datagram sockets", function()
      for _, make in ipairs({ uxsock.listen, uxsock.datagram }) do
        local path = h.sockpath("stale")
        assert(make(path, { unlink = false })):close()
        assert.equal("socket", h.filetype(path))
        local again = track(assert(make(path)))
        assert.equal(path, again:getsockname())
      end
    end)

    it("a live server's path gives EADDRINUSE and the server keeps working", function()
      local path = h.sockpath("live")
      local l = track(assert(uxsock.listen(path)))
      local before = h.settled_fdcount()
      local r, err, code = uxsock.listen(path)
      assert.is_nil(r)
      assert.equal(uxsock.EADDRINUSE, code)
      assert.equal("bind " .. path .. ": Address already in use", err)
      assert.equal(before, h.fdcount())
      -- the probe (a datagram socket's connect) never reaches the server
      -- as a connection; a real client still gets through
      l:settimeout(0)
      assert.equal(uxsock.EAGAIN, select(3, l:accept()))
      l:settimeout(nil)
      local c = track(assert(uxsock.connect(path)))
      local s = track(assert(l:accept()))
      c:send("still here")
      assert.equal("still here", s:recv())

      local dpath = h.sockpath("dlive")
      local d = track(assert(uxsock.datagram(dpath)))
      assert.equal(uxsock.EADDRINUSE, select(3, uxsock.datagram(dpath)))
      track(assert(uxsock.datagram())):sendto("ok", dpath)
      assert.equal("ok", d:recv())
    end)

    it("never removes a file, directory, fifo or symlink at the path", function()
      local dir = h.tmpdir()
      local file, target = dir .. "/file", dir .. "/target"
      h.writefile(file, "precious")
      h.writefile(target, "target")
      local live = track(assert(uxsock.listen(dir .. "/live.sock")))
      local stale = dir .. "/stale.sock"
      assert(uxsock.listen(stale, { unlink = false })):close()
      assert(lfs.mkdir(dir .. "/dir"))
      os.execute("mkfifo " .. h.q(dir .. "/fifo"))
      assert(lfs.link(target, dir .. "/link-file", true))
      assert(lfs.link(dir .. "/live.sock", dir .. "/link-live", true))
      assert(lfs.link(stale, dir .. "/link-stale", true))
      local kinds = { file = "file", dir = "directory", fifo = "named pipe",
                      ["link-file"] = "link", ["link-live"] = "link", ["link-stale"] = "link" }
      for name, kind in pairs(kinds) do
        local path = dir .. "/" .. name
        assert.equal(kind, h.filetype(path))
        for _, make in ipairs({ uxsock.listen, uxsock.datagram }) do
          local r, err, code = make(path)
          assert.is_nil(r, name)
          assert.equal(uxsock.EADDRINUSE, code, err)
          assert.equal(kind, h.filetype(path), name)
        end
      end
      assert.equal("precious", h.readfile(file))
      assert.equal("target", h.readfile(target))
      assert.equal("socket", h.filetype(stale))
      assert.equal("socket", h.filetype(dir .. "/live.sock"))
      assert.is_truthy(live)
    end)
  end)

  describe("removal on close", function()
    it("close and __gc remove the file; unlink = false keeps it", function()
      for _, make in ipairs({ uxsock.listen, uxsock.datagram }) do
        local path = h.sockpath("rm")
        make(path):close()
        assert.is_nil(h.filetype(path))
        local gpath = h.sockpath("gc")
        do make(gpath) end  -- luacheck: ignore (dropped on purpose)
        collectgarbage("collect")
        collectgarbage("collect")
        assert.is_nil(h.filetype(gpath))
        local kpath = h.sockpath("keep")
        make(kpath, { unlink = false }):close()
        assert.equal("socket", h.filetype(kpath))
      end
    end)

    it("leaves a newer server's socket, or a file put there, alone", function()
      local path = h.sockpath("newer")
      local old = assert(uxsock.listen(path))
      os.remove(path)
      local new = track(assert(uxsock.listen(path)))
      old:close()
      assert.equal("socket", h.filetype(path))
      local c = track(assert(uxsock.connect(path)))
      c:send("new")
      assert.equal("new", track(assert(new:accept())):recv())

      local fpath = h.sockpath("replaced")
      local d = assert(uxsock.datagram(fpath))
      os.remove(fpath)
      h.writefile(fpath, "someone else's")
      d:close()
      assert.equal("someone else's", h.readfile(fpath))
    end)
  end)

  describe("mode", function()
    it("gives the socket file exactly the bits asked for, whatever the umask", function()
      local umask_before = shell("umask")
      for _, mode in ipairs({ "600", "640", "660", "777", "700" }) do
        local bits = tonumber(mode, 8)
        local path = h.sockpath("mode")
        track(assert(uxsock.listen(path, { mode = bits })))
        assert.equal(bits, h.filemode(path), mode)
        local dpath = h.sockpath("dmode")
        track(assert(uxsock.datagram(dpath, { mode = bits })))
        assert.equal(bits, h.filemode(dpath), mode)
      end
      assert.equal(umask_before, shell("umask"))
    end)

    it("without mode, the file has the default permissions less the umask", function()
      local umask = tonumber(shell("umask"), 8)
      local path = h.sockpath("default")
      track(assert(uxsock.listen(path)))
      assert.equal(h.andnot(tonumber("777", 8), umask), h.filemode(path))
    end)

    it("a connected client keeps working with mode 0600 for its owner", function()
      local path = h.sockpath("owner")
      local l = track(assert(uxsock.listen(path, { mode = tonumber("600", 8) })))
      local c = track(assert(uxsock.connect(path)))
      c:send("mine")
      assert.equal("mine", track(assert(l:accept())):recv())
    end)
  end)
end)
