-- EINTR: a signal that interrupts a timed call does not end it early, and
-- does not restart its clock. Each call waits in a child of its own: the
-- Lua under test ($LUA) itself, whose SIGINT handler (the same in lua5.1
-- to lua5.4 and luajit) makes the system call fail with EINTR and then
-- raises "interrupted!" once control is back in Lua (where exactly
-- differs: LuaJIT raises it only after a pcall around the call has
-- returned), so the child does not catch it and ends. The children wait at
-- once, so the suite waits 2 s for all of them. Each child prints the
-- monotonic clock (the same one in every process) as its call starts;
-- the parent reads it when it signals and when it sees a child end.
-- Under load a child may be late to start or to end; the checks allow
-- for that: the call lasts its full 2 s, the signal came inside it, and
-- it ended before a clock restarted at the signal would have let it.
local h = require("helpers")
local uxsock = require("uxsock")

-- how each call gets an idle handle and waits on it, with a 2 s timeout
local CALLS = {
  recv = [[
    local a, b = uxsock.socketpair("datagram")
    b:settimeout(2)
    call = function() return b:recv() end]],
  accept = [[
    local l = assert(uxsock.listen(ready .. ".sock"))
    l:settimeout(2)
    call = function() return l:accept() end]],
  recvfrom = [[
    local d = assert(uxsock.datagram())
    d:settimeout(2)
    call = function() return d:recvfrom() end]],
  poll = [[
    local a, b = uxsock.socketpair()
    call = function() return uxsock.poll({ a }, 2) end]],
  ["poller:wait"] = [[
    local a, b = uxsock.socketpair()
    local p = assert(uxsock.poller())
    assert(p:add(a))
    call = function() return p:wait(2) end]],
}
local NAMES = { "recv", "accept", "recvfrom", "poll", "poller:wait" }

local CHILD = [[
  local uxsock = require("uxsock")
  local ready = ...
  local call
  %s
  io.open(ready, "w"):close()
  io.write(string.format("start %%.6f\n", uxsock.monotime()))
  io.flush()
  call()
  print("returned")
]]

-- starts every call, signals all of them once all wait and 1 s has
-- passed, and watches them end: { [name] = { t0 =, t1 =, sig =, out = } }
local function run_all()
  local jobs, readies = {}, {}
  for _, name in ipairs(NAMES) do
    readies[name] = h.tmpdir() .. "/ready"
    jobs[name] = h.spawn(h.luacmd(CHILD:format(CALLS[name]), readies[name]))
  end
  for _, name in ipairs(NAMES) do
    assert(h.waitfor(readies[name], 30), name .. " never started: " .. jobs[name]:describe())
  end
  uxsock.poll({}, 1)
  local sig = uxsock.monotime()
  for _, name in ipairs(NAMES) do jobs[name]:kill("INT") end
  local ended, left = {}, #NAMES
  local deadline = sig + 30
  while left > 0 and uxsock.monotime() < deadline do
    for _, name in ipairs(NAMES) do
      if not ended[name] and select(2, jobs[name]:wait(0)) then
        ended[name] = uxsock.monotime()
        left = left - 1
      end
    end
    uxsock.poll({}, 0.005)
  end
  local results = {}
  for _, name in ipairs(NAMES) do
    local out = jobs[name]:wait(0)
    results[name] = { t0 = tonumber(out:match("^start (%S+)")), t1 = ended[name], sig = sig,
                      out = jobs[name]:describe() }
  end
  return results
end

describe("a signal during a timed call", function()
  local results
  lazy_setup(function() results = run_all() end)
  lazy_teardown(h.cleanup)

  for _, name in ipairs(NAMES) do
    it(name .. " keeps waiting for the time that remains", function()
      local r = results[name]
      local why = string.format("call from %.3f to %.3f, signal at %.3f: %s", r.t0 or -1,
                                r.t1 or -1, r.sig, r.out)
      assert.is_not_nil(r.t0 and r.t1, why)
      assert.matches("interrupted!", r.out)                      -- the handler ran
      assert.matches("exit 1", r.out)                            -- by the error it raised
      assert.is_true(r.t0 < r.sig and r.sig < r.t1, why)          -- during the call
      assert.is_true(r.t1 - r.t0 >= 1.95, why)                    -- not cut short
      assert.is_true(r.t1 < r.sig + 2, why)                       -- not restarted
    end)
  end
end)
