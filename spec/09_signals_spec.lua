-- EINTR: a signal that interrupts a timed call does not end it early, and
-- does not restart its clock. The child is the Lua under test ($LUA)
-- itself, whose SIGINT handler (the same in lua5.1 to lua5.4 and luajit)
-- makes the system call fail with EINTR and then raises "interrupted!"
-- once control is back in Lua.
local h = require("helpers")

-- runs 'call' on an idle socket with a 2 s timeout in a child, sends SIGINT
-- 1 s in, and returns the seconds from the call's start to the child's end
local function interrupted_after(call)
  local ready = h.tmpdir() .. "/ready"
  local code = string.format([[
    local uxsock = require("uxsock")
    local path = %q
    local a, b = uxsock.socketpair("datagram")
    local l = assert(uxsock.listen(path .. ".sock"))
    local d = assert(uxsock.datagram())
    local handle = ({ recv = b, accept = l, recvfrom = d })[%q]
    handle:settimeout(2)
    io.open(path, "w"):close()
    local r, err, code = handle[%q](handle)
    print(r, err, code)
  ]], ready, call, call)
  return h.interrupt_after_1s(code, ready)
end

describe("a signal during a timed call", function()
  lazy_teardown(h.cleanup)

  for _, call in ipairs({ "recv", "accept", "recvfrom" }) do
    it(call .. " keeps waiting for the time that remains", function()
      h.assert_full_wait(interrupted_after(call))
    end)
  end
end)
