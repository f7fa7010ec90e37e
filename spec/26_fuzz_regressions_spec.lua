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
    if not out then job:kill() end
    assert.equal(0, rc)
    assert.equal("reply\n", out)
    assert.equal(uxsock.EAGAIN, select(3, trap:recv()))
  end)
end)
