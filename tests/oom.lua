-- tests/oom.lua: the out-of-memory sweep of spec/23, run by build/oomhost
-- (tests/oomhost.c), which gives the table 'oom' (try, bytes, fds).
-- Usage: build/oomhost tests/oom.lua DIR [CASE]
-- For each case and each mode ("all", "one"), attempt n runs the call
-- with the allocator refusing its request n + 1 (and, in "all", every
-- later one), for n = 0, 1, ... (or by the environment's OOM_STEP, as
-- oomhost's own sweeps) until the call needs no refusal. Each
-- attempt must end in success or the error "not enough memory" (or a
-- returned failure for ENOMEM); after it, with memory back:
--   - the case's own check holds (nothing lost where uxsock keeps data);
--   - once its handles are closed and collected, the descriptors are
--     those open before, and the bytes uxsock holds outside Lua's count
--     (its read buffers, a poller's arrays) are those held before.
-- Prints a line per case; returns the number of attempts, or raises with
-- the failures.
local uxsock = require("uxsock")
local DIR, ONLY = ...
assert(DIR, "usage: oomhost tests/oom.lua DIR [CASE]")
local STEP = tonumber(os.getenv("OOM_STEP")) or 1
-- what the test scripts share, beside this one (oomhost gives no arg[0])
local here = debug.getinfo(1, "S").source:match("^@(.-)[^/]*$")
local common = dofile(here .. "common.lua")

local unpack = table.unpack
local MEMERR = "not enough memory"

local failures = {}
local total = 0
local counter = 0

local function pack(...) return { n = select("#", ...), ... } end

local function settle()
  collectgarbage("collect")
  collectgarbage("collect")
end

-- descriptors, and bytes uxsock took from the allocator directly
local function baseline()
  settle()
  local host, lua = oom.bytes()
  return oom.fds(), host - lua
end

local function name(tag)
  counter = counter + 1
  return string.format("%s/%s%d.sock", DIR, tag, counter)
end

local function abstract(tag)
  counter = counter + 1
  return string.format("@uxsock-oom-%s-%s-%d", tag, DIR:gsub("%W", ""), counter)
end

-- bytes readable now from a stream, without waiting
local drain = common.drain

local function pattern(n)
  local t, i = {}, 0
  while #t * 16 < n do
    t[#t + 1] = string.format("%015d\n", i)
    i = i + 1
  end
  return table.concat(t):sub(1, n)
end

local cases = {}
local order = {}
local function case(cname, t)
  cases[cname] = t
  order[#order + 1] = cname
end

-- {{ the cases: setup() -> ctx; call(ctx) under oom.try; check(ctx, ok,
-- r1, r2, ...) with memory back (returns nil or what is wrong);
-- teardown(ctx) closes what setup made

local SMALL = pattern(700)   -- recv(1024) goes through a luaL_Buffer
local MEDIUM = pattern(30000) -- recv() through the handle's read buffer
local BIG = pattern(200000)   -- fits in a socketpair's queue

local function pairwith(data, kind)
  return function()
    local a, b = assert(uxsock.socketpair(kind))
    if data then assert(a:sendall(data) == #data) end
    return { a = a, b = b, data = data }
  end
end

local function closeall(ctx)
  for _, v in pairs(ctx) do
    if uxsock.type(v) then v:close()
    elseif io.type(v) == "file" then v:close()
    elseif type(v) == "table" then
      for _, x in pairs(v) do
        if uxsock.type(x) or io.type(x) == "file" then x:close() end
      end
    end
  end
end

-- a stream read under OOM: what it returned and what is still readable
-- must make the data, in order
local function streamcheck(ctx, ok, r)
  local got = (ok and type(r) == "string" and r or "") .. drain(ctx.b)
  if got ~= ctx.data then
    return string.format("stream data: %d bytes of %d readable, %s",
                         #got, #ctx.data, got == ctx.data:sub(1, #got)
                         and "a prefix" or "not in order")
  end
end

case("recv(1024)", {
  setup = pairwith(SMALL),
  call = function(c) return c.b:recv(1024) end,
  check = streamcheck,
  lossy = true,  -- a luaL_Buffer on the C stack: its bytes go with a raise
})

case("recv()", {
  setup = pairwith(MEDIUM),
  call = function(c) return c.b:recv() end,
  check = streamcheck,
})

case("read(n)", {
  setup = pairwith(MEDIUM),
  call = function(c) return c.b:read(#c.data) end,
  check = streamcheck,
})

case("read('l')", {
  setup = pairwith(MEDIUM),
  call = function(c) return c.b:read("L") end,
  check = function(c, ok, r)
    local got = (ok and r or "") .. drain(c.b)
    if got ~= c.data then return "lines: data lost" end
  end,
})

case("read('a')", {
  setup = function()
    local c = pairwith(BIG)()
    c.a:shutdown("write")
    return c
  end,
  call = function(c) return c.b:read("a") end,
  check = function(c, ok, r)
    local got = ok and r or c.b:read("a")
    if got ~= c.data then return "read('a'): " .. #got .. " bytes of " .. #c.data end
  end,
})

case("lines()", {
  setup = pairwith(pattern(1600)),
  call = function(c)
    local n = 0
    c.a:shutdown("write")
    for _ in c.b:lines() do n = n + 1 end
    return n
  end,
})

case("recvinto", {
  setup = function()
    local c = pairwith(MEDIUM)()
    c.buf = uxsock.buffer(#MEDIUM)
    return c
  end,
  call = function(c) return c.b:recvinto(c.buf) end,
  check = function(c, ok, n)
    local got = (ok and c.buf:sub(1, n) or "") .. drain(c.b)
    if got ~= c.data then return "recvinto: data lost" end
  end,
})

-- a failure the call returns for ENOMEM (a poller's arrays) counts as
-- running out of memory, as a raise does
local function mem(r, msg, code)
  if r == nil and code == uxsock.ENOMEM then error(msg .. ": " .. MEMERR, 0) end
  return assert(r, msg)
end

-- a message taken from the kernel is gone if its string cannot be made
local function again(sock, method, ...)
  sock:settimeout(0)
  local r = sock[method](sock, ...)
  sock:settimeout(nil)
  return r
end

case("seqpacket recv", {
  setup = pairwith(MEDIUM, "seqpacket"),
  call = function(c) return c.b:recv() end,
  check = function(c, ok, r)
    if (ok and r or again(c.b, "recv")) ~= c.data then return "message lost" end
  end,
  lossy = true,
})

case("recvfrom", {
  setup = function()
    local p = abstract("rf")
    local d = assert(uxsock.datagram(p))
    local s = assert(uxsock.datagram(abstract("rs")))
    assert(s:sendto(MEDIUM, p) == #MEDIUM)
    return { d = d, s = s }
  end,
  call = function(c) return c.d:recvfrom() end,
  check = function(c, ok, r)
    if (ok and r or again(c.d, "recvfrom")) ~= MEDIUM then return "datagram lost" end
  end,
  lossy = true,
})

case("recvmany", {
  setup = function()
    local a, b = assert(uxsock.socketpair("datagram"))
    local msgs = {}
    for i = 1, 8 do msgs[i] = pattern(100 * i) end
    assert(a:sendmany(msgs) == 8)
    return { a = a, b = b, msgs = msgs }
  end,
  call = function(c) return c.b:recvmany(16, 2048) end,
  check = function(c, ok, r)
    local got = ok and r or again(c.b, "recvmany", 16, 2048) or {}
    if table.concat(got, "|") ~= table.concat(c.msgs, "|") then
      return #got .. " of 8 datagrams"
    end
  end,
  lossy = true,
})

case("recvmanyfrom", {
  setup = function()
    local p = abstract("rmf")
    local d = assert(uxsock.datagram(p))
    local s = assert(uxsock.datagram(abstract("rms")))
    for i = 1, 8 do assert(s:sendto(pattern(50 * i), p)) end
    return { d = d, s = s }
  end,
  call = function(c) return c.d:recvmanyfrom(16, 1024) end,
  check = function(c, ok, r)
    local got = ok and r or again(c.d, "recvmanyfrom", 16, 1024) or {}
    if #got ~= 8 then return #got .. " of 8 datagrams" end
  end,
  lossy = true,
})

case("sendmany", {
  setup = function()
    local c = pairwith(nil, "datagram")()
    c.msgs = {}
    for i = 1, 100 do c.msgs[i] = "m" .. i end
    return c
  end,
  call = function(c) return c.a:sendmany(c.msgs) end,
})

case("recvfds", {
  setup = function()
    local a, b = assert(uxsock.socketpair("seqpacket"))
    local f = assert(io.open("/dev/null"))
    local x, y = assert(uxsock.socketpair())
    local l = assert(uxsock.listen(abstract("rl")))
    local d = assert(uxsock.datagram())
    -- a file, sockets of each kind, and a descriptor that stays an
    -- integer (a directory)
    local dir = assert(io.open("/"))
    assert(a:sendfds("fds", { f, x, y, l, d, dir, 0 }) == 3)
    f:close(); x:close(); y:close(); l:close(); d:close(); dir:close()
    return { a = a, b = b }
  end,
  call = function(c)
    local data, fds = c.b:recvfds()
    if fds then
      for _, v in ipairs(fds) do
        if math.type(v) == "integer" then assert(uxsock.closefd(v)) end
      end
    end
    return data, fds
  end,
  check = function(c, ok, data, fds)
    if ok and (data ~= "fds" or #fds ~= 7) then return "recvfds: wrong result" end
    if ok then c.fds = fds end
  end,
})

case("recvfds stream", {
  setup = function()
    local a, b = assert(uxsock.socketpair())
    local x, y = assert(uxsock.socketpair())
    assert(a:sendfds(MEDIUM, { x, y }) == #MEDIUM)
    x:close(); y:close()
    return { a = a, b = b }
  end,
  call = function(c) return c.b:recvfds() end,
  check = function(c, ok, data, fds)
    if ok then c.fds = fds end
    local got = (ok and data or "") .. drain(c.b)
    if got ~= MEDIUM then return "stream data lost" end
  end,
})

case("recvcred", {
  setup = function()
    local a, b = assert(uxsock.socketpair("seqpacket"))
    assert(a:sendcred("cred") == 4)
    return { a = a, b = b }
  end,
  call = function(c) return c.b:recvcred() end,
  check = function(c, ok, r)
    if (ok and r or again(c.b, "recvcred")) ~= "cred" then return "message lost" end
  end,
  lossy = true,
})

case("recvcred stream", {
  setup = function()
    local a, b = assert(uxsock.socketpair())
    assert(b:setoption("passcred", true))
    assert(a:sendcred(MEDIUM) == #MEDIUM)
    return { a = a, b = b }
  end,
  call = function(c) return c.b:recvcred() end,
  check = function(c, ok, data)
    local got = (ok and data or "") .. drain(c.b)
    if got ~= MEDIUM then return "stream data lost" end
  end,
})

case("sendfds", {
  setup = function()
    local a, b = assert(uxsock.socketpair("seqpacket"))
    local files = {}
    for i = 1, 20 do files[i] = assert(io.open("/dev/null")) end
    return { a = a, b = b, files = files }
  end,
  call = function(c) return c.a:sendfds("x", c.files) end,
})

case("accept", {
  setup = function()
    local p = abstract("acc")
    local l = assert(uxsock.listen(p))
    local cl = assert(uxsock.connect(p))
    assert(cl:sendall("hello") == 5)
    return { l = l, cl = cl }
  end,
  call = function(c) return c.l:accept() end,
  check = function(c, ok, s)
    -- the connection is accepted now, or still queued: never lost
    if not ok then
      c.l:settimeout(0)
      s = c.l:accept()
      if not s then return "accept: the queued connection is gone" end
    end
    c.s = s
    if s:read(5) ~= "hello" then return "accept: its data is gone" end
  end,
})

case("listen", {
  setup = function() return { path = name("l") } end,
  call = function(c) return uxsock.listen(c.path) end,
  check = function(c, ok, l)
    if ok then
      c.l = l
      if not l then return "listen failed" end
    else
      -- nothing to remove by hand: a socket file left behind is stale,
      -- and the next listen replaces it
      local l2 = uxsock.listen(c.path)
      if not l2 then return "listen after a failed one failed" end
      c.l = l2
    end
  end,
})

case("connect", {
  setup = function()
    local p = abstract("con")
    return { p = p, l = assert(uxsock.listen(p)) }
  end,
  call = function(c) return uxsock.connect(c.p, { timeout = 5 }) end,
  check = function(c, ok, s)
    c.l:settimeout(0)
    local accepted = c.l:accept()
    c.s, c.acc = s, accepted
    if ok and not accepted then return "connect: no connection at the server" end
  end,
})

case("socketpair", {
  setup = function() return {} end,
  call = function(c)
    c.a, c.b = uxsock.socketpair("seqpacket")
    return c.a, c.b
  end,
})

case("datagram(path)", {
  setup = function() return { path = name("d") } end,
  call = function(c)
    c.d = uxsock.datagram(c.path, { timeout = 1 })
    return c.d
  end,
})

case("buffer", {
  setup = function() return {} end,
  call = function() return uxsock.buffer(100000) end,
})

case("poll(100)", {
  setup = function()
    local items, socks = {}, {}
    for i = 1, 50 do
      local a, b = assert(uxsock.socketpair())
      socks[#socks + 1] = a
      socks[#socks + 1] = b
      items[#items + 1] = a
      items[#items + 1] = { b, "rw" }
      if i % 5 == 0 then assert(b:send("x")) end  -- a readable
    end
    return { items = items, socks = socks }
  end,
  call = function(c) return uxsock.poll(c.items, 0) end,
  check = function(_, ok, ready, n)
    if ok and (type(ready) ~= "table" or n ~= 60) then
      return "poll: " .. tostring(n) .. " ready, not 60"
    end
  end,
})

case("poller", {
  setup = function()
    local socks, peers = {}, {}
    for i = 1, 40 do
      socks[i], peers[i] = assert(uxsock.socketpair())
      if i % 4 == 1 then peers[i]:send("x") end
    end
    return { socks = socks, peers = peers }
  end,
  call = function(c)
    local p = mem(uxsock.poller())
    c.p = p
    for _, s in ipairs(c.socks) do mem(p:add(s, "r")) end
    local ready, n = mem(p:wait(0))
    mem(p:remove(c.socks[1]))
    mem(p:modify(c.socks[2], "rw"))
    p:close()
    return ready, n
  end,
  check = function(c, ok, ready, n)
    if c.p then c.p:close() end
    if ok and (not ready or n ~= 10) then return "poller: " .. tostring(n) .. " ready" end
  end,
})

case("poller wait", {
  setup = function()
    local socks, peers = {}, {}
    local p = assert(uxsock.poller())
    for i = 1, 300 do
      socks[i], peers[i] = assert(uxsock.socketpair())
      assert(p:add(socks[i]))
      if i % 3 == 0 then peers[i]:send("x") end
    end
    return { socks = socks, peers = peers, p = p }
  end,
  call = function(c) return mem(c.p:wait(0, 1000)) end,
  check = function(c, ok, ready)
    local n = 0
    for _ in pairs(ok and ready or {}) do n = n + 1 end
    c.p:close()
    if ok and n ~= 100 then return "wait: " .. n .. " ready, not 100" end
  end,
})

case("tostring and names", {
  setup = function()
    local p = abstract("names")
    local l = assert(uxsock.listen(p))
    local c = assert(uxsock.connect(p))
    return { l = l, c = c }
  end,
  call = function(c)
    return tostring(c.l), c.l:getsockname(), c.c:getpeername(),
           c.c:getoption("type"), uxsock.type(c.c)
  end,
})

case("fdopen", {
  setup = function()
    -- a directory comes out of recvfds as an integer
    local a, b = assert(uxsock.socketpair("datagram"))
    local dir = assert(io.open("/"))
    assert(a:sendfds("", { dir }))
    dir:close()
    local _, fds = assert(b:recvfds())
    a:close(); b:close()
    assert(math.type(fds[1]) == "integer")
    return { fd = fds[1] }
  end,
  call = function(c) return uxsock.fdopen(c.fd, "r") end,
  check = function(c, ok, f)
    if ok then
      c.f = f
      if io.type(f) ~= "file" then return "fdopen: no file" end
    elseif not uxsock.closefd(c.fd) then
      return "fdopen: the descriptor is not the caller's after a raise"
    end
  end,
})

case("fromfd", {
  setup = function()
    local x, y = oom.rawpair()
    return { x = x, y = y }
  end,
  call = function(c) return uxsock.fromfd(c.x) end,
  check = function(c, ok, h)
    uxsock.closefd(c.y)
    if ok then
      c.h = h
      if uxsock.type(h) ~= "stream" then return "fromfd: no stream" end
    elseif not uxsock.closefd(c.x) then
      return "fromfd: the descriptor is not the caller's after a raise"
    end
  end,
})

case("with", {
  setup = pairwith(nil),
  call = function(c)
    return uxsock.with(c.a, function(h) return h:send("x") end)
  end,
})

case("errors", {
  setup = function() return { path = name("missing") } end,
  call = function(c)
    local s, msg, code = uxsock.connect(c.path)
    assert(not s and code == uxsock.ENOENT, msg)
    local l, msg2, code2 = uxsock.listen(DIR .. "/no/such/dir/x.sock")
    assert(not l and code2 == uxsock.ENOENT, msg2)
    return msg, msg2
  end,
})
-- }}

local function run(cname, t)
  local attempts, raised, lost = 0, 0, 0
  for _, mode in ipairs({ "all", "one" }) do
    local n = 0
    while true do
      local fds0, extra0 = baseline()
      local ctx = t.setup()
      local r = pack(oom.try(n, mode, t.call, ctx))
      local refused, ok = r[1], r[2]
      local where = string.format("%s (%s, n = %d)", cname, mode, n)
      attempts = attempts + 1
      if not ok then
        raised = raised + 1
        if refused == 0 then
          failures[#failures + 1] = where .. ": raised with no refusal: " .. tostring(r[3])
        elseif not tostring(r[3]):find(MEMERR .. "$") then
          failures[#failures + 1] = where .. ": raised " .. tostring(r[3])
        end
      end
      if t.check then
        local okc, why = pcall(t.check, ctx, ok, unpack(r, 3, r.n))
        if okc and why and t.lossy and not ok then
          lost = lost + 1  -- a known limit: see the case
        elseif not okc or why then
          failures[#failures + 1] = where .. ": " .. tostring(why)
        end
      end
      for i = 3, r.n do
        local v = r[i]
        if uxsock.type(v) then v:close() end
      end
      closeall(ctx)
      r, ctx = nil, nil  -- luacheck: ignore
      local fds1, extra1 = baseline()
      if fds1 ~= fds0 then
        failures[#failures + 1] = string.format("%s: %d descriptors before, %d after",
                                                where, fds0, fds1)
      end
      if extra1 ~= extra0 then
        failures[#failures + 1] = string.format("%s: uxsock held %d bytes before, %d after",
                                                where, extra0, extra1)
      end
      if refused == 0 then break end
      n = n + STEP
      if n > 3000 then
        failures[#failures + 1] = where .. ": never succeeded"
        break
      end
    end
  end
  return attempts, raised, lost
end

for _, cname in ipairs(order) do
  if not ONLY or ONLY == cname then
    local attempts, raised, lost = run(cname, cases[cname])
    total = total + attempts
    print(string.format("case %-20s %4d attempts, %4d raised, %4d lost data",
                        cname, attempts, raised, lost))
  end
end
if #failures > 0 then
  local shown = {}
  for i = 1, math.min(#failures, 300) do shown[i] = failures[i] end
  error(#failures .. " failures:\n" .. table.concat(shown, "\n"), 0)
end
return total
