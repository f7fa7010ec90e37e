-- Finalizers re-entering methods: the rule of src/handle.h, played.
-- Who else acts: a __gc finalizer, which any allocation inside a method
-- can run, and which can call any method on any handle - receive from the
-- very handle whose receive is making its result, use the same buffer or
-- poller, close it. The property: with the collector at its most eager
-- (pause 0) and a steady supply of garbage whose finalizers call random
-- receiving methods on the handles in use (and, now and then, close one
-- or use a poller), every byte and message sent is received exactly once,
-- intact, by the main loop or a finalizer; a stream's pieces, taken in the
-- order the calls completed (a finalizer's completes inside the call it
-- interrupted), are the stream sent; nothing crashes, and ASan (make asan)
-- sees no bad access. A call on a handle a finalizer closed raises
-- "attempt to use a closed ...". Every method that returns data is used
-- by both sides: recv, read (counts, "l", "L"), lines, recvinto, recvfds,
-- recvcred (Linux), recvfrom, recvmany, recvmanyfrom.
-- A failure names its seed: UXSOCK_SEED=<seed> sh spec/run <this file>.
local h = require("helpers")
local uxsock = require("uxsock")

local SEED = h.seed()
local CASES = h.cases(2000, 4)
local count = { final = 0, inside = 0, closes = 0 }  -- over the run
local STEPS = 60
local linux = h.run("uname -s"):find("Linux") ~= nil

-- an object whose finalizer calls f (5.1 and LuaJIT: newproxy)
local newproxy = newproxy  -- luacheck: ignore 113
local function garbage(f)
  if newproxy then
    local p = newproxy(true)
    getmetatable(p).__gc = f
    return p
  end
  return setmetatable({}, { __gc = f })
end

local function closed_error(e)
  return tostring(e):find("attempt to use a closed", 1, true) ~= nil
end

-- one case: returns a failure message, or nil
local function run_case(seed)
  local r = h.generator(seed)
  local chans = {}
  for _, kind in ipairs({ "stream", "seqpacket", "datagram" }) do
    local a, b = assert(uxsock.socketpair(kind))
    assert(a:settimeout(10))  -- a full receiver fails the send, never hangs it
    assert(b:settimeout(0))
    chans[#chans + 1] = { kind = kind, a = a, b = b, sent = {}, got = {},
                          seq = 0, closed = false }
  end
  local poller = assert(uxsock.poller())
  local fbuf = uxsock.buffer(70000)
  local mbuf = uxsock.buffer(70000)
  local problems = {}
  local infinal = false

  -- A stream's pieces are checked in the order the calls completed, so a
  -- finalizer may take from a stream only while no call of the main loop
  -- has returned unlogged: 'armed' is true during the main loop's call
  -- (set and cleared with no allocation in between), 'inmain' until it
  -- has logged.
  local armed, inmain = false, false

  local function call(main, f, ...)
    if main then inmain, armed = true, true end
    local v1, v2 = f(...)
    if main then armed = false end
    return v1, v2
  end

  -- one receive on channel c; logs what came
  local function receive(c, buf, main)
    local b, kind = c.b, c.kind
    local pick = r(kind == "stream" and 8 or 7)
    if kind == "stream" then
      local v1, v2
      if pick == 0 then v1 = call(main, b.recv, b, 1 + r(3000))
      elseif pick == 1 then v1 = call(main, b.read, b, 1 + r(200))
      elseif pick == 2 then v1 = call(main, b.read, b, "L")
      elseif pick == 3 then
        local n = call(main, b.recvinto, b, buf, 1, 1 + r(3000))
        v1 = n and buf:sub(1, n) or nil
      elseif pick == 4 then v1 = call(main, b.recvfds, b)
      elseif pick == 5 and linux then v1 = call(main, b.recvcred, b)
      elseif pick == 7 then  -- one step of lines(n), which raises EAGAIN
        local ok, v = call(main, pcall, b:lines(1 + r(100)))
        v1 = ok and v or nil
      else v1, v2 = call(main, b.read, b, 1 + r(50), 1 + r(50)) end
      if type(v1) == "string" then
        c.got[#c.got + 1] = v1 .. (type(v2) == "string" and v2 or "")
      end
      inmain = false
      return
    end
    local msgs, m = {}, nil
    if pick == 0 then m = call(main, b.recv, b, 100000)
    elseif pick == 1 then msgs = call(main, b.recvmany, b, 1 + r(8), 70000)
    elseif pick == 2 then
      local n = call(main, b.recvinto, b, buf)
      m = n and buf:sub(1, n) or nil
    elseif pick == 3 then m = call(main, b.recvfds, b, 100000)
    elseif pick == 4 and linux then m = call(main, b.recvcred, b, 100000)
    elseif pick == 5 and kind == "datagram" then m = call(main, b.recvfrom, b, 100000)
    elseif kind == "datagram" then msgs = call(main, b.recvmanyfrom, b, 1 + r(8), 70000)
    else m = call(main, b.recv, b, 100000) end
    inmain = false
    if m then c.got[#c.got + 1] = m end
    for _, x in ipairs(msgs or {}) do c.got[#c.got + 1] = x end
  end

  local function final()
    if infinal then return end  -- finalizers run one at a time
    infinal = true
    local ok, e = pcall(function()
      local c = chans[1 + r(#chans)]
      local what = r(20)
      if what == 0 and r(20) == 0 and not c.closed then
        c.closed = true
        count.closes = count.closes + 1
        c.b:close()
      elseif what == 1 then
        pcall(poller.add, poller, c.b, "r")
      elseif what == 2 then
        pcall(poller.remove, poller, c.b)
      elseif what == 3 then
        assert(poller:wait(0))
      elseif not c.closed and (c.kind ~= "stream" or armed or not inmain) then
        count.final = count.final + 1
        if armed then count.inside = count.inside + 1 end
        receive(c, fbuf, false)
      end
      if r(3) > 0 then garbage(final) end  -- a steady supply
    end)
    infinal = false
    if not ok and not closed_error(e) then problems[#problems + 1] = tostring(e) end
  end

  -- a receive of the main loop: only a closed-handle error, and only on a
  -- handle a finalizer closed, is allowed
  local function main_receive(c, where)
    local ok, e = pcall(receive, c, mbuf, true)
    inmain, armed = false, false
    if not ok and not (c.closed and closed_error(e)) then
      problems[#problems + 1] = where .. ": " .. tostring(e)
    end
  end

  collectgarbage("setpause", 0)
  collectgarbage("setstepmul", 1000)
  for _ = 1, STEPS do
    for _ = 1, 1 + r(3) do garbage(final) end
    local c = chans[1 + r(#chans)]
    if r(2) == 0 and not c.closed then  -- send one message
      c.seq = c.seq + 1
      local size = r(5) == 0 and r(c.kind == "stream" and 20000 or 66000) or r(300)
      if c.kind == "seqpacket" and size == 0 then size = 1 end
      local head = string.format("%d;", c.seq)
      local body = head .. string.rep(string.char(65 + c.seq % 26), math.max(0, size - #head))
      if c.kind == "stream" and r(2) == 0 then body = body .. "\n" end
      if c.kind == "datagram" and size == 0 then body = "" end
      local n, _, _, last
      if c.kind == "datagram" then n = c.a:send(body)
      else n, _, _, last = c.a:sendall(body) end
      if n then c.sent[#c.sent + 1] = body
      elseif c.kind == "stream" then c.sent[#c.sent + 1] = body:sub(1, last) end
    end
    main_receive(c, "main")
  end
  -- drain what is left, finalizers still running
  for _, c in ipairs(chans) do
    for _ = 1, 200 do
      if c.closed then break end
      main_receive(c, "drain")
    end
  end
  collectgarbage("setpause", 200)
  collectgarbage("setstepmul", 200)
  collectgarbage("collect")
  -- the property
  for _, c in ipairs(chans) do
    if c.kind == "stream" then
      local sent, got = table.concat(c.sent), table.concat(c.got)
      if c.closed then sent = sent:sub(1, #got) end
      if got ~= sent then
        problems[#problems + 1] = string.format(
          "stream: %d bytes sent, %d received, not the same", #sent, #got)
      end
    else
      local want, seen = {}, {}
      for _, m in ipairs(c.sent) do want[m] = (want[m] or 0) + 1 end
      for _, m in ipairs(c.got) do
        seen[m] = (seen[m] or 0) + 1
        if seen[m] > (want[m] or 0) then
          problems[#problems + 1] = string.format("%s: %s received more often than sent",
                                                  c.kind, h.show(m))
        end
      end
      if not c.closed then
        for m, n in pairs(want) do
          if (seen[m] or 0) ~= n then
            problems[#problems + 1] = string.format("%s: %s sent %d times, received %d",
                                                    c.kind, h.show(m), n, seen[m] or 0)
          end
        end
      end
    end
    c.a:close()
    c.b:close()
  end
  poller:close()
  if #problems > 0 then return table.concat(problems, "\n") end
  return nil
end

describe("finalizers that call methods on the handles in use", function()
  after_each(function()
    collectgarbage("setpause", 200)
    collectgarbage("setstepmul", 200)
    h.cleanup()
  end)

  it("lose, duplicate or corrupt nothing", function()
    local before = h.settled_fdset()
    local gen = h.generator(SEED)
    local fails = {}
    for _ = 1, CASES do
      local seed = gen(2147483646)
      local err = run_case(seed)
      if err then fails[#fails + 1] = "case seed " .. seed .. ": " .. err end
      if #fails >= 3 then break end
    end
    assert.same({}, fails, "seed " .. SEED)
    assert.same({}, h.fds_added(before, h.settled_fdset()))
    -- finalizers did receive (how many inside the main loop's calls is
    -- printed: it varies with the seed)
    assert.is_true(count.final > 0, "seed " .. SEED)
    print(string.format("[finalizers] %d cases x %d steps, seed %d: %d receives by "
                        .. "finalizers, %d inside a call of the main loop, %d closes",
                        CASES, STEPS, SEED, count.final, count.inside, count.closes))
  end)
end)
