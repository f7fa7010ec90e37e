-- The cost of a call: with no timeout, a blocking send or recv is exactly
-- one system call (no poll first), counted with strace on a real ping-pong
-- between two processes.
local h = require("helpers")

local ROUNDS = 1000

-- runs 'code' under strace (this process only, not its children) and
-- returns the number of calls of each traced system call. The question
-- of which file a bind made (sock_diag: one netlink sendto and recvfrom)
-- is not a message's cost, and is left out by what it carries: it is
-- not asked when the system has no netlink socket to spare.
local function count_syscalls(code, ...)
  local dir = h.tmpdir()
  local script, out = dir .. "/traced.lua", dir .. "/strace.out"
  h.writefile(script, code)
  local cmd = string.format("timeout 60 strace -o %s -e trace=%s %s", h.q(out),
    "sendto,recvfrom,sendmsg,recvmsg,read,write,poll,ppoll,select,pselect6,epoll_wait,fcntl",
    h.luacmd(script, ...))
  local output, how, rc = h.run(cmd)
  assert.same({ "exit", 0 }, { how, rc }, output)
  local counts = {}
  for line in io.lines(out) do
    local name = line:match("^(%w+)%(")
    if name and not line:find("nlmsg_", 1, true) then
      counts[name] = (counts[name] or 0) + 1
    end
  end
  return counts
end

describe("system calls", function()
  lazy_teardown(h.cleanup)

  it("a blocking ping-pong costs one sendto and one recvfrom a message", function()
    local function pingpong(rounds)
      local peer = h.luacmd(string.format([[
        local uxsock = require("uxsock")
        local c = assert(uxsock.connect(arg[1]))
        for _ = 1, %d do assert(c:recv(64) == "ping"); assert(c:send("pong") == 4) end
      ]], rounds), "PATH")
      return count_syscalls(string.format([[
        local uxsock = require("uxsock")
        local path = arg[1]
        local l = assert(uxsock.listen(path))
        local peer = io.popen(((%q):gsub("PATH", path)))
        local c = assert(l:accept())
        for _ = 1, %d do assert(c:send("ping") == 4); assert(c:recv(64) == "pong") end
        peer:close()
      ]], peer, rounds), h.sockpath("sys"))
    end
    -- the same processes with no message: what is not per message (io.popen
    -- makes one fcntl; a checking tool, make asan or valgrind, its own)
    local base, counts = pingpong(0), pingpong(ROUNDS)
    local function show(t)
      local parts = {}
      for name, n in pairs(t) do parts[#parts + 1] = name .. "=" .. n end
      table.sort(parts)
      return table.concat(parts, " ")
    end
    local seen = "with no message: " .. show(base) .. "; with " .. ROUNDS .. ": " .. show(counts)
    assert.equal(ROUNDS, (counts.sendto or 0) - (base.sendto or 0), seen)
    assert.equal(ROUNDS, (counts.recvfrom or 0) - (base.recvfrom or 0), seen)
    for _, waiting in ipairs({ "poll", "ppoll", "select", "pselect6", "epoll_wait" }) do
      assert.is_nil(counts[waiting], waiting .. " was called")
    end
    assert.equal(base.fcntl or 0, counts.fcntl or 0, "fcntl called per message")
  end)
end)
