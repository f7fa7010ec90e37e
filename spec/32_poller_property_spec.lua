-- The poller under random programs (tests/poller_property.lua, which
-- says what is drawn and what must hold): add, modify, remove and close
-- of handles, proxies, integers and Lua files on several pollers, with
-- copies of the descriptors in flight (sendfds), received again (a
-- second handle on the same file) and held by forked children (through
-- build/forkenv.so) that use and close their copies; pollers made, closed,
-- collected and nested (getfd). After every step each poller's wait
-- gives exactly what uxsock.poll gives for the objects it holds, count
-- agrees, getfd is readable exactly when wait has something, and a timed
-- wait with nothing ready lasts its timeout using a small part of it in
-- processor time. A failure names its seed: UXSOCK_SEED=<seed> sh
-- spec/run spec/32_poller_property_spec.lua replays it.
local h = require("helpers")

local FORKENV = h.ROOT .. "/build/forkenv.so"
local SEED = h.seed()
local CASES = h.cases(2000)  -- of 30 steps each
-- under ASan or valgrind a forked child is slow to end: fewer forks
local FORKS = os.getenv("UXSOCK_MEMCHECK") and 0.1 or 1

describe("uxsock.poller under random programs", function()
  lazy_teardown(h.cleanup)

  it("reports exactly the ready live objects, never spins, and leaks nothing", function()
    h.test_hosts()
    local job = h.spawn("env " .. h.preload(FORKENV) .. " "
                  .. h.luacmd(h.ROOT .. "/tests/poller_property.lua", SEED, CASES, 30, FORKS))
    local out, rc = job:wait(900)
    assert.is_not_nil(rc, "the program did not end, seed " .. SEED .. ": " .. job:describe())
    assert.equal(0, rc, out)
    local line = out:match("%[poller property%][^\n]*")
    assert.is_not_nil(line, out)
    io.stderr:write(line, "\n")
    local cases, timed, forks, cpu = line:match("(%d+) cases, .- waits %((%d+) timed.- (%d+) forks"
                                                .. ".- used ([%d.]+)%% ")
    -- the run did what it says: every case, forks, timed waits
    assert.equal(CASES, tonumber(cases), line)
    assert.is_true(tonumber(forks) > 0, line)
    assert.is_true(tonumber(timed) > 0, line)
    -- idle waits sleep: a spinning one takes near 100 %, even on a loaded machine
    assert.is_true(tonumber(cpu) < 20, line)
  end)
end)
