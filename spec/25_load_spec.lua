-- Load: many clients at once through a uxsock.loop echo server (ours,
-- and examples/multi_echo_server.lua), every byte checked both ways
-- (tests/load.lua), and a datagram sender faster than its receiver
-- (tests/dgram_flood.lua). Bounded sizes here; the scripts take the full
-- ones on their command line (the header of each).
local h = require("helpers")

-- the most clients one process can hold: two descriptors each (client
-- and server side), and some to spare
local function fdlimit()
  local out = h.run("ulimit -n")
  return tonumber(out:match("%d+")) or 1024
end

local function script(name, ...)
  return "timeout 120 " .. h.luacmd("tests/" .. name, ...)
end

describe("load", function()
  lazy_teardown(h.cleanup)

  -- under the memory checkers (make asan, make valgrind) every byte goes
  -- through an instrumented process: a tenth of the clients and messages
  local scale = os.getenv("UXSOCK_MEMCHECK") and 10 or 1
  local clients = math.floor(math.min(1000, math.floor((fdlimit() - 100) / 2)) / scale)
  local msgs = scale == 1 and 20 or 5

  it(clients .. " clients x " .. msgs .. " messages of 1 B to 64 KiB, in the server's process",
     function()
    local out, how, rc = h.run(script("load.lua", "--clients", clients, "--messages", msgs,
                                      "--seed", 25))
    assert.equal("exit", how)
    assert.equal(0, rc, out)
    assert.matches(("%d clients x %d messages .* in one process: %d messages, "):format(
                   clients, msgs, clients * msgs), out)
    assert.matches("every byte right", out)
  end)

  local far = math.floor(200 / scale)
  it(far .. " clients x 100 messages, clients in 4 other processes", function()
    local out, how, rc = h.run(script("load.lua", "--clients", far, "--messages", 100,
                                      "--procs", 4, "--seed", 26))
    assert.equal("exit", how)
    assert.equal(0, rc, out)
    assert.matches(("%d clients x 100 messages .* in 4 client processes: %d messages, "):format(
                   far, far * 100), out)
    assert.matches("every byte right", out)
  end)

  -- the issue's multi-client server is the example, a Lua 5.4 program
  local example = clients .. " clients x " .. msgs ..
                  " messages through examples/multi_echo_server.lua, as lines"
  if _VERSION == "Lua 5.4" then
    it(example, function()
      local out, how, rc = h.run(script("load.lua", "--clients", clients, "--messages", msgs,
                                        "--server", "example", "--seed", 27))
      assert.equal("exit", how)
      assert.equal(0, rc, out)
      assert.matches(("%d clients x %d messages .* through examples/multi_echo_server.lua " ..
                      "in one client process: %d messages, "):format(clients, msgs,
                                                                     clients * msgs), out)
      assert.matches("every byte right", out)
      -- the check is the echo: a request changed on its way is caught
      out, how, rc = h.run(script("load.lua", "--clients", 3, "--messages", 5,
                                  "--server", "example", "--corrupt", 2))
      assert.equal("exit", how)
      assert.equal(1, rc, out)
      assert.truthy(out:find("the reply is not the request", 1, true), out)
    end)
  else
    pending(example .. ": needs Lua 5.4, the example's language")
  end

  it("a byte changed either way is caught", function()
    for corrupt, why in pairs({ "the reply is not the request",
                                "the payload is not what was sent" }) do
      local out, how, rc = h.run(script("load.lua", "--clients", 3, "--messages", 5,
                                        "--corrupt", corrupt))
      assert.equal("exit", how)
      assert.equal(1, rc, out)
      assert.truthy(out:find(why, 1, true), out)
    end
  end)
end)

describe("datagram flood", function()
  -- the receiver takes a datagram every 5 ms; a sender's call that
  -- finds the queue full gives up after 2 ms (nonblocking: at once;
  -- blocking: waits for room)
  for _, mode in ipairs({ "sendto", "sendmany", "nonblocking", "blocking", "loop" }) do
    it(mode .. ": the sender fails or waits as configured, every datagram arrives intact",
       function()
      local out, how, rc = h.run(script("dgram_flood.lua", "--mode", mode, "--count", 3000,
                                        "--seconds", 0.5, "--timeout", 0.002,
                                        "--delay", 0.005))
      assert.equal("exit", how)
      assert.equal(0, rc, out)
      assert.matches("all as configured", out)
      local sent, received, failed =
        out:match("(%d+) sent, (%d+) received intact .- (%d+) calls failed")
      assert.truthy(sent, out)
      assert.is_true(tonumber(sent) > 0)
      assert.is_true(tonumber(received) <= tonumber(sent))
      if mode == "blocking" then
        assert.equal(0, tonumber(failed))
      else
        assert.is_true(tonumber(failed) > 0)
      end
    end)
  end
end)
