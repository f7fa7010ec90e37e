-- fuzz/calls.lua: the engine of the random API-call fuzzer. Both drivers
-- use it: fuzz/api.c (libFuzzer: the input's bytes make the choices, so
-- coverage guides them) and fuzz/random_calls.lua (a seeded PRNG makes
-- them; plain Lua, any version, and valgrind).
--
--   local calls = dofile("fuzz/calls.lua")
--   local stats = calls.run(uxsock, nextbyte, { dir = "/tmp/x", tag = "123" })
--
-- opts: dir (a private directory for socket files), tag (unique per
-- process and run: abstract names), calls (how many, else until the
-- input ends), fdcount (a function giving how many descriptors the
-- process has: check for leaks), bigalloc (the driver caps
-- allocations), log (a function given each call), and the C API from
-- api.c: detach, attach, checkfd. UXFUZZ_LOG=1 logs to stderr.
--
-- nextbyte() gives 0..255, or raises calls.DONE when the input is used
-- up. Each choice takes a byte: what to do (a module function, a method
-- of any kind on an object of any kind, a close, a collection, a call
-- inside a coroutine, ...) and every argument: nil, booleans, integers
-- (negative, 0, huge, 2^31 and 2^63 edges), floats (-0.0, NaN, inf,
-- 1e300), strings with NULs, long strings, tables (options, message and
-- descriptor lists, poll items, tables whose metamethods raise),
-- functions, coroutines, handles open and closed, of the right kind and
-- not, buffers, pollers, Lua files (a temporary file, a directory,
-- /dev/null, io.popen pipes, closed files) and socket names in a private
-- directory or the abstract namespace.
--
-- Every call runs under pcall: a Lua error is an answer. What is not:
--   - an invariant the README states broken (uxsock.type or tostring
--     raising; close not returning true or leaving the handle open,
--     __gc or __close leaving it open; a failure that is not nil, a
--     message and an integer code; a new descriptor without
--     close-on-exec; a descriptor the engine owns closed by someone
--     else; uxsock_checkfd wrong): run raises "INVARIANT: ...";
--   - a descriptor leaked: with opts.fdcount, run counts the process's
--     descriptors before and after, everything closed and collected;
--   - a crash, a sanitizer report or a hang, which the driver sees.
-- No call may block for long: every handle's timeout is put back to at
-- most MAXT after every call (settimeout(nil) would make the next recv
-- wait forever), timeouts given to connect, listen, poll and wait come
-- from a list without nil and math.huge. fromfd, fdopen, closefd and
-- attach take only descriptors this engine owns (integers recvfds or
-- detach gave it) or numbers no descriptor has: a random integer could
-- be the driver's own descriptor, stdin or a handle's.
-- Plain Lua 5.1 syntax: random_calls.lua runs on every Lua.
local M = {}

local DONE = setmetatable({}, { __tostring = function() return "input used up" end })
M.DONE = DONE

local unpack = table.unpack or unpack  -- luacheck: ignore (5.1)
local MAXINT = math.maxinteger or 2 ^ 53
local MININT = math.mininteger or -2 ^ 53
local MAXT = 0.003          -- the longest any handle may wait

-- the integer type of Lua 5.3+; elsewhere a whole float
local function isinteger(x)
  if math.type then return math.type(x) == "integer" end
  return type(x) == "number" and x == math.floor(x)
end

-- {======================================================
-- Values
-- =======================================================

local INTS = {
  0, 1, -1, 2, 3, 7, 8, 16, 63, 64, 100, 106, 107, 108, 109, 252, 253, 254,
  255, 256, 1023, 1024, 1025, 4096, 8191, 8192, 8193, 65535, 65536, 65537,
  1048576, 0x7fffffff, -0x7fffffff - 1, 0x80000000, 0xffffffff,
  0x100000000, MAXINT, MININT, MAXINT - 1, -65536,
}
local FLOATS = {
  0.0, -0.0, 0.5, -0.5, 1.5, 1e-9, 1e-300, 1e300, -1e300, math.huge,
  -math.huge, 0 / 0, 2 ^ 31, 2 ^ 32, 2 ^ 53, 2 ^ 63, -2 ^ 63, 2 ^ 64,
  65536.0, 3.0, 0.001, 1 / 3,
}
local STRINGS = {
  "", "r", "w", "rw", "wr", "rrw", "x", "a", "l", "L", "n", "*l", "*a",
  "a+", "r+", "w+", "rb", "wb", "both", "read", "write", "stream",
  "datagram", "seqpacket", "listener", "poller", "sndbuf", "rcvbuf",
  "rcvlowat", "passcred", "type", "nread", "nwrite", "error",
  "acceptconn", "timeout", "backlog", "mode", "unlink", "autobind",
  "\0", "x\0y", "@", "\0\0", "hello\n", "line1\nline2\n", "\n", "10",
  "0x10", "-1", "1e3", " 5 ", "close", "__gc",
}
local EVENTS = { "r", "w", "rw", nil, "wr", "", "x", 1, true }
local FORMATS = { "l", "L", "a", "n", "*l", "*a", 1, 2, 10, 100, 65536, 70000,
                  0, -1, 1.5, "x", "la", "", nil }
local OPTNAMES = { "sndbuf", "rcvbuf", "rcvlowat", "passcred", "acceptconn",
                   "error", "type", "nread", "nwrite", "nosuch", "", 1 }
local KINDS = { "listener", "stream", "seqpacket", "datagram", "socket", "",
                nil, 1 }
local MODES = { "r", "w", "r+", "a", "a+", "rb", "x", "", "rw", nil, 1 }

local BIG = {}  -- long strings, made once
local function bigstring(n)
  if not BIG[n] then
    local unit = "0123456789abcdefghijklmnopqrstuvwxyz\n"
    BIG[n] = unit:rep(math.ceil(n / #unit)):sub(1, n)
  end
  return BIG[n]
end
local BIGSIZES = { 107, 108, 4096, 65536, 65537, 212992, 300000 }

-- }======================================================


-- {======================================================
-- The engine
-- =======================================================

function M.run(uxsock, nextbyte, opts)
  opts = opts or {}
  local dir = assert(opts.dir, "opts.dir: a private directory")
  local tag = tostring(opts.tag or "0")
  local log = opts.log
  if not log and os.getenv("UXFUZZ_LOG") then  -- every call, to stderr
    log = function(label, ...)
      local t = {}
      for i = 1, select("#", ...) do
        local v = select(i, ...)
        if type(v) == "string" then
          t[i] = ("%q"):format(#v > 40 and v:sub(1, 40) .. "..." or v)
        else
          t[i] = tostring(v)
        end
      end
      io.stderr:write(label, "(", table.concat(t, ", "), ")\n")
    end
  end
  local maxcalls = opts.calls or math.huge
  local stats = { calls = 0, ok = 0, raised = 0, failed = 0 }

  local function byte() return nextbyte() end
  local function pick(list, n)
    n = n or #list
    return list[byte() % n + 1]
  end
  local function chance(k)  -- true one time in k
    return byte() % k == 0
  end

  local function invariant(what)
    error("INVARIANT: " .. what, 0)
  end

  local fdcount = opts.fdcount
  local fdbefore
  if fdcount then
    collectgarbage("collect")
    collectgarbage("collect")
    fdbefore = fdcount()
  end

  -- the metatables, from a sample of each kind (closed at once)
  local MT = {}
  local methods, metamethods = {}, {}  -- name -> list of distinct functions
  local fnkind = {}                    -- function -> the kind it came from
  do
    local samples = {}
    local l = assert(uxsock.listen(dir .. "/sample"))
    samples[#samples + 1] = l
    local a, b = assert(uxsock.socketpair("stream"))
    samples[#samples + 1] = a
    samples[#samples + 1] = b
    a, b = assert(uxsock.socketpair("seqpacket"))
    samples[#samples + 1] = a
    samples[#samples + 1] = b
    a, b = assert(uxsock.socketpair("datagram"))
    samples[#samples + 1] = a
    samples[#samples + 1] = b
    local p = uxsock.poller()
    if p then samples[#samples + 1] = p end
    samples[#samples + 1] = uxsock.buffer(1)
    local seen = {}
    for _, x in ipairs(samples) do
      local mt = getmetatable(x)
      MT[mt] = uxsock.type(x) or tostring(x):match("^uxsock%.(%a+)")
      for k, v in pairs(mt) do
        if type(v) == "function" and not seen[v] then
          seen[v] = true
          metamethods[k] = metamethods[k] or {}
          table.insert(metamethods[k], v)
        end
      end
      if type(mt.__index) == "table" then
        for k, v in pairs(mt.__index) do
          if type(v) == "function" and not seen[v] then
            seen[v] = true
            fnkind[v] = MT[mt]
            methods[k] = methods[k] or {}
            table.insert(methods[k], v)
          end
        end
      end
      if x.close then x:close() end
    end
  end
  local METHODNAMES, METANAMES = {}, {}
  for k in pairs(methods) do METHODNAMES[#METHODNAMES + 1] = k end
  for k in pairs(metamethods) do METANAMES[#METANAMES + 1] = k end
  table.sort(METHODNAMES)
  table.sort(METANAMES)

  local function kindof(x)
    if type(x) ~= "userdata" then return nil end
    local mt = getmetatable(x)
    return mt and MT[mt]
  end
  local function ishandle(x) return uxsock.type(x) ~= nil end
  local function isopen(x)
    local k = kindof(x)
    if not k or k == "buffer" then return false end
    return not x:isclosed()
  end

  -- {==================================
  -- The pool of objects calls act on
  -- ===================================
  local pool, inpool = {}, {}
  local POOLMAX = 40
  local owned = {}    -- integer descriptors this engine owns (recvfds)
  local iters = {}    -- lines iterators
  local coros = {}    -- suspended coroutines
  local files = {}    -- Lua files made here

  local function closeobj(x)
    if kindof(x) and kindof(x) ~= "buffer" then
      x:close()
    elseif io.type(x) == "file" then
      pcall(io.close, x)
    end
  end

  local function remove_at(i)
    local x = pool[i]
    inpool[x] = nil
    pool[i] = pool[#pool]
    pool[#pool] = nil
    return x
  end

  local function small_timeout()
    local t = pick({ 0, 0, 0.001, MAXT })
    return t
  end

  -- a handle's timeout back to at most MAXT. This and adopt take no
  -- byte: they run in the bookkeeping after a call, which the end of
  -- the input must not cut short (an integer recvfds gave, not yet
  -- noted as owned, would be counted as a leak)
  local ntame = 0
  local function tame(x)
    if isopen(x) and kindof(x) ~= "poller" then
      local t = x:gettimeout()
      if t == nil or t > MAXT then
        ntame = ntame + 1
        x:settimeout(ntame % 2 == 0 and 0 or MAXT)
      end
    end
  end

  local function adopt(x, depth)
    depth = depth or 0
    if type(x) == "table" and depth < 2 and getmetatable(x) == nil then
      for _, v in pairs(x) do adopt(v, depth + 1) end
      return
    end
    if inpool[x] then return end
    local k = kindof(x)
    if k or io.type(x) then
      if k and k ~= "buffer" and isopen(x) then
        tame(x)
        -- every descriptor uxsock makes is close-on-exec
        local f = io.open("/proc/self/fdinfo/" .. x:getfd())
        if f then
          local flags = f:read("*a"):match("flags:%s*(%d+)")
          f:close()
          -- O_CLOEXEC is 02000000 (octal): bit 2 of the seventh digit
          -- from the right
          flags = flags and ("0"):rep(8 - #flags) .. flags
          if flags and tonumber(flags:sub(-7, -7)) % 4 < 2 then
            invariant("no close-on-exec: " .. tostring(x))
          end
        end
      end
      if #pool >= POOLMAX then closeobj(remove_at(1)) end
      pool[#pool + 1] = x
      inpool[x] = true
    end
  end

  local function anyobj()
    if #pool == 0 then return nil end
    return pool[byte() % #pool + 1]
  end

  local function objof(kinds)  -- an object of one of the kinds, or any
    local found = {}
    for _, x in ipairs(pool) do
      local k = kindof(x) or io.type(x)
      if k and kinds[k:gsub("^closed ", "")] then found[#found + 1] = x end
    end
    if #found == 0 or chance(8) then return anyobj() end
    return pick(found)
  end

  local nnames = 0
  local function name()
    local c = byte() % 16
    if c < 5 then return dir .. "/s" .. (c + 1) end
    if c < 8 then return "@uxfuzz-" .. tag .. "-" .. (c - 4) end
    if c == 8 then return "\0uxfuzz-" .. tag .. "-1" end
    if c == 9 then
      return pick({ "", dir, dir .. "/s1/x", dir .. "/nosuch/x", dir .. "/file",
                    "/" .. ("x"):rep(107), "@" .. tag .. ("a"):rep(106 - #tag),
                    "@" .. tag .. ("a"):rep(107 - #tag), dir .. "/\0x",
                    "@", "\0", dir .. "/sample" })
    end
    if c == 10 then  -- one a call gave: getsockname, recvfrom
      for _, x in ipairs(pool) do
        if isopen(x) and kindof(x) ~= "poller" and chance(2) then
          local ok, n = pcall(x.getsockname, x)
          if ok and type(n) == "string" and n ~= "" then return n end
        end
      end
      return dir .. "/s1"
    end
    -- random bytes: abstract, or a file in dir (no '/', no way out)
    local len = byte() % 40
    local t = {}
    for i = 1, len do t[i] = string.char(byte()) end
    local s = table.concat(t)
    if c < 13 then return "@" .. s end
    nnames = nnames + 1
    return dir .. "/r" .. s:gsub("[/%z]", "_")
  end

  local function str()
    local c = byte() % 8
    if c < 3 then return pick(STRINGS) end
    if c == 3 then return bigstring(pick(BIGSIZES)) end
    local len = byte() % 64
    local t = {}
    for i = 1, len do t[i] = string.char(byte()) end
    return table.concat(t)
  end

  local function int()
    local c = byte() % 4
    if c == 0 then return byte() - 128 end
    return pick(INTS)
  end

  local function timeoutarg()  -- never nil, inf or a long wait
    return pick({ 0, 0.001, MAXT, 0, -1, 0 / 0, "x", true, -0.0, 1e-300 })
  end

  local function idx()
    return pick({ nil, 0, 1, 2, 3, -1, -2, 5, 100, 65536, MAXINT, MININT,
                  1.5, 0 / 0, "3", 2 ^ 63, -2 ^ 63, 0x7fffffff, 0x80000000 })
  end

  local function max()
    return pick({ nil, 1, 2, 16, 100, 1024, 8192, 8193, 65536, 65537, 1048576,
                  0, -1, MAXINT, 2 ^ 40, 2 ^ 62, 1.5, 0 / 0, "8", 0x7fffffff,
                  0x80000000, 64 * 1048576 })
  end

  -- a descriptor number that is ours to give away, or one no
  -- descriptor has
  local function fdint()
    local list = {}
    for fd in pairs(owned) do list[#list + 1] = fd end
    table.sort(list)
    if #list > 0 and not chance(4) then return pick(list) end
    -- (no "3": a string that converts is a descriptor number too)
    return pick({ -1, -2, 1000000, 0x7fffffff, 0x80000000, MAXINT, MININT, 0.5,
                  0 / 0, 2 ^ 53, "-1", "x", nil })
  end

  local value  -- any value (forward)

  local function buffer()
    for _ = 1, 3 do
      local x = anyobj()
      if kindof(x) == "buffer" then return x end
    end
    local ok, b = pcall(uxsock.buffer, pick({ 1, 2, 16, 100, 4096, 65536, 70000 }))
    if ok then adopt(b) return b end
    return nil
  end

  local function data()
    local c = byte() % 8
    if c < 4 then return str() end
    if c < 6 then return buffer() end
    return value(1)
  end

  local FUNCS
  local depth = 0
  local step  -- one random call (forward)

  local function weirdtable()
    local c = byte() % 4
    if c == 0 then  -- every field raises
      return setmetatable({}, { __index = function() error("fuzz: __index raised") end })
    elseif c == 1 then  -- fields made up on demand, the timeout kept short
      return setmetatable({}, { __index = function(_, k)
        if k == "timeout" then return MAXT end
        return value(2)
      end })
    elseif c == 2 then  -- a list with a hole
      return { str(), nil, str() }
    end
    local t = {}
    t[t] = t
    return t
  end

  local function optstable()
    if chance(6) then return weirdtable() end
    local o = {}
    local keys = { "timeout", "backlog", "mode", "type", "unlink", "autobind",
                   "bogus", 1 }
    for _ = 1, byte() % 4 do
      local k = pick(keys)
      if k == "backlog" then o[k] = pick({ 0, 1, 2, -1, 0x7fffffff, MAXINT, 1.5, "5" })
      elseif k == "mode" then o[k] = pick({ 0, 384, 420, 438, 511, 4095, 4096, -1,
                                            MAXINT, 1.5, "660" })
      elseif k == "type" then o[k] = pick(KINDS)
      elseif k == "unlink" or k == "autobind" then o[k] = pick({ true, false, 1, "x" })
      else o[k] = value(2) end
    end
    return o
  end

  -- options for a call that may wait: the timeout is short, or a value
  -- that raises before anything waits
  local function waitopts()
    local o = optstable()
    if type(o) == "table" and getmetatable(o) == nil then o.timeout = timeoutarg() end
    if o == nil then o = { timeout = small_timeout() } end
    return o
  end

  -- a timeout argument that would wait long (nil, inf, 256) made short
  local function shortwait(t)
    if t == nil or (type(t) == "number" and t > MAXT) then return timeoutarg() end
    return t
  end
  local function shortopts(o)
    if o == nil then return { timeout = small_timeout() } end
    if type(o) == "table" and getmetatable(o) == nil then o.timeout = shortwait(o.timeout) end
    return o
  end

  local function msglist()
    local c = byte() % 8
    if c == 0 then
      local t = {}
      for i = 1, pick({ 1024, 1025 }) do t[i] = "m" end
      return t
    end
    if c == 1 then return weirdtable() end
    local t = {}
    for i = 1, byte() % 6 do t[i] = data() end
    return t
  end

  -- something with a descriptor, to watch or to send a copy of (never
  -- to close: stdout and small numbers are the driver's)
  local function fdobj()
    local c = byte() % 8
    if c < 5 then return anyobj() end
    if c == 5 then return pick({ 0, 1, 2, 3, 4, 5, 6, 7, io.stdout }) end
    if c == 6 then return fdint() end
    return value(1)
  end

  local function fdlist()
    local c = byte() % 8
    if c == 0 then
      local t, x = {}, anyobj()
      for i = 1, pick({ 253, 254 }) do t[i] = x or 0 end
      return t
    end
    if c == 1 then return weirdtable() end
    local t = {}
    for i = 1, byte() % 4 do t[i] = fdobj() end
    return t
  end

  local function pollitems()
    local c = byte() % 8
    if c == 0 then return weirdtable() end
    local t = {}
    for i = 1, byte() % 5 do
      if chance(2) then t[i] = { fdobj(), pick(EVENTS) }
      else t[i] = fdobj() end
    end
    return t
  end

  function value(d)
    d = d or 0
    local c = byte() % 20
    if c == 0 then return nil end
    if c == 1 then return byte() % 2 == 0 end
    if c <= 3 then return int() end
    if c == 4 then return pick(FLOATS) end
    if c <= 6 then return str() end
    if c == 7 then return name() end
    if c == 8 and d < 2 then
      local k = byte() % 5
      if k == 0 then return optstable() end
      if k == 1 then return msglist() end
      if k == 2 then return fdlist() end
      if k == 3 then return pollitems() end
      return {}
    end
    if c == 9 then return pick(FUNCS) end
    if c == 10 then return coroutine.create(function() end) end
    if c == 11 then return buffer() end
    if c == 12 and d < 2 then return weirdtable() end
    return anyobj()
  end

  -- }==================================

  -- {==================================
  -- Checking what a call gave
  -- ===================================

  -- calls that reach the system: they succeed with a value, or fail
  -- with nil, a message and an integer code
  local SYSCALL = {}
  for _, n in ipairs({ "send", "sendall", "recv", "recvfrom", "recvinto", "sendto",
                       "connect", "sendmany", "recvmany", "recvmanyfrom",
                       "sendfds", "recvfds", "sendcred", "recvcred", "setoption",
                       "getoption", "accept", "shutdown", "getsockname",
                       "getpeername", "peercred", "settimeout", "add", "modify",
                       "remove", "wait", "read", "listen", "datagram", "socketpair",
                       "poll", "poller", "fromfd", "fdopen", "closefd" }) do
    SYSCALL[n] = true
  end

  local function check(fname, res)
    if not SYSCALL[fname] then return end
    if res[1] == nil and (type(res[2]) ~= "string" or not isinteger(res[3])) then
      invariant(fname .. ": a failure must be nil, msg, code; got " ..
                tostring(res[2]) .. ", " .. tostring(res[3]))
    end
  end

  local function after(fname, args, ok, res)
    if not ok then res = { n = 0 } end
    if fname == "recvfds" and type(res[2]) == "table" then
      for _, v in pairs(res[2]) do
        if type(v) == "number" then owned[v] = true end
      end
    end
    if (fname == "fromfd" or fname == "fdopen" or fname == "closefd") and res[1]
       and isinteger(args[1]) then
      owned[args[1]] = nil
    end
    -- objects the call made join the pool, handles get a short timeout
    for i = 1, res.n do adopt(res[i]) end
    if fname == "lines" and type(res[1]) == "function" then
      iters[#iters + 1] = res[1]
      if #iters > 8 then table.remove(iters, 1) end
    end
    for _, x in ipairs(pool) do tame(x) end
  end

  local function pack(...) return { n = select("#", ...), ... } end

  -- Without a cap on allocations (plain Lua, valgrind), a number of
  -- 2^27 or more becomes 2^40: recv(2^31) would keep a 2 GiB read
  -- buffer (and valgrind reports any recv of 2^31 bytes or more, even
  -- into a block that size), uxsock.buffer(2^31) zeroes 2 GiB; 2^40 is
  -- a quick memory error. api.c caps allocations and keeps them all.
  local function sized(a)
    if not opts.bigalloc and type(a) == "number" and a >= 134217728 then return 2 ^ 40 end
    return a
  end

  -- calls f(...) under pcall; the results, packed
  local function call(label, f, ...)
    stats.calls = stats.calls + 1
    local a = pack(...)
    for i = 1, a.n do a[i] = sized(a[i]) end
    if log then log(label, unpack(a, 1, a.n)) end
    local r = pack(pcall(f, unpack(a, 1, a.n)))
    local ok, res = r[1], { n = r.n - 1 }
    for i = 2, r.n do res[i - 1] = r[i] end
    if not ok then
      stats.raised = stats.raised + 1
      local err = res[1]
      if type(err) == "string" and err:match("^INVARIANT: ") then error(err, 0) end
      if err == DONE then error(DONE, 0) end
      return false, res
    end
    if res[1] == nil then stats.failed = stats.failed + 1 else stats.ok = stats.ok + 1 end
    return true, res
  end

  -- }==================================

  -- {==================================
  -- The calls
  -- ===================================

  -- typical arguments of each method, by name
  local ARGS = {
    settimeout = function() return { value(1) } end,
    send = function() return { data(), idx(), idx() } end,
    recv = function() return { max() } end,
    recvfrom = function() return { max() } end,
    recvinto = function() return { buffer(), idx(), idx() } end,
    read = function() return { pick(FORMATS) } end,
    lines = function() return { pick(FORMATS) } end,
    shutdown = function() return { pick({ "read", "write", "both", nil, "x", 1 }) } end,
    sendto = function() return { data(), name() } end,
    connect = function() return { name() } end,
    sendmany = function() return { msglist(), chance(2) and name() or nil } end,
    recvmany = function() return { pick({ 1, 2, 64, 65, 1024, 1025, 0, -1, MAXINT }), max() } end,
    sendfds = function() return { data(), fdlist(), chance(3) and name() or nil } end,
    recvfds = function()
      return { max(), pick({ nil, 0, 1, 2, 253, 254, -1, MAXINT, 0x7fffffff }) }
    end,
    sendcred = function() return { data(), chance(3) and name() or nil } end,
    recvcred = function() return { max() } end,
    setoption = function() return { pick(OPTNAMES), value(1) } end,
    getoption = function() return { pick(OPTNAMES) } end,
    sub = function() return { idx(), idx() } end,
    byte = function() return { idx(), idx() } end,
    find = function() return { str(), idx() } end,
    fill = function() return { str(), idx() } end,
    add = function() return { fdobj(), pick(EVENTS) } end,
    modify = function() return { fdobj(), pick(EVENTS) } end,
    remove = function() return { fdobj() } end,
    wait = function() return { timeoutarg(), pick({ nil, 1, 2, 256, 0, -1, MAXINT }) } end,
  }
  ARGS.sendall = ARGS.send
  ARGS.recvmanyfrom = ARGS.recvmany

  local function method_call()
    local mname = pick(METHODNAMES)
    local f = pick(methods[mname])
    -- mostly an object of the method's own kind, to get past the check
    local self = chance(4) and anyobj() or objof({ [fnkind[f]] = true })
    if chance(8) then self = value(1) end
    local args = ARGS[mname] and ARGS[mname]() or {}
    if chance(8) then args[#args + 1] = value(1) end
    if chance(16) then args = { value(1), value(1), value(1) } end
    if mname == "wait" then args[1] = shortwait(args[1]) end
    local ok, res = call(mname, f, self, unpack(args, 1, 4))
    if ok then check(mname, res) end
    after(mname, args, ok, res)
  end

  local function meta_call()
    local mname = pick(METANAMES)
    local f = pick(metamethods[mname])
    local self = chance(4) and value(1) or anyobj()
    local ok, res = call(mname, f, self, value(1))
    if ok and (mname == "__gc" or mname == "__close") and isopen(self)
       and kindof(self) ~= nil and getmetatable(self)[mname] == f then
      invariant(mname .. " left " .. tostring(self) .. " open")
    end
    if not ok and (mname == "__gc" or mname == "__tostring") and kindof(self)
       and getmetatable(self)[mname] == f then
      invariant(mname .. " raised on its own kind: " .. tostring(res[1]))
    end
  end

  local MODULE = {
    listen = function() return { name(), waitopts() } end,
    connect = function() return { name(), waitopts() } end,
    datagram = function()
      if chance(4) then return {} end
      return { chance(4) and value(1) or name(), waitopts() }
    end,
    socketpair = function() return { pick({ "stream", "datagram", "seqpacket", nil, "x", 1 }) } end,
    poll = function() return { pollitems(), timeoutarg() } end,
    poller = function() return {} end,
    fromfd = function() return { fdint(), pick(KINDS) } end,
    fdopen = function() return { fdint(), pick(MODES) } end,
    closefd = function() return { fdint() } end,
    buffer = function()
      local n = pick({ 1, 2, 100, 4096, 65536, 0, -1, 1.5, MAXINT, 2 ^ 62, 0x7fffffff,
                       0x80000000, "10", 0 / 0 })
      return { n }
    end,
    with = function() return { value(1), pick(FUNCS), value(1) } end,
    type = function() return { value(1) } end,
    monotime = function() return {} end,
  }
  local MODNAMES = {}
  for k in pairs(MODULE) do MODNAMES[#MODNAMES + 1] = k end
  table.sort(MODNAMES)

  local function module_call()
    local fname = pick(MODNAMES)
    local args = MODULE[fname]()
    if chance(16) then args = { value(1), value(1) } end
    if fname ~= "with" and fname ~= "type" then
      -- never a random descriptor to a function that takes ownership
      if fname == "fromfd" or fname == "fdopen" or fname == "closefd" then
        args[1] = fdint()
      end
    end
    -- and no long wait
    if fname == "poll" then args[2] = shortwait(args[2]) end
    if fname == "connect" or fname == "listen" or fname == "datagram" then
      args[2] = shortopts(args[2])
    end
    local ok, res = call(fname, uxsock[fname], unpack(args, 1, 3))
    if fname == "type" and not ok then
      invariant("uxsock.type raised: " .. tostring(res[1]))
    end
    if ok then check(fname, res) end
    after(fname, args, ok, res)
  end

  -- a listener, a client and the accepted connection, quickly: random
  -- calls rarely line them up
  local function fixture()
    local c = byte() % 6
    local res
    if c == 0 then
      local ty = pick({ "stream", "seqpacket" })
      local path = name()
      local ok, r = call("listen", uxsock.listen, path, { type = ty, timeout = 0 })
      if ok and r[1] then
        adopt(r[1])
        local ok2, r2 = call("connect", uxsock.connect, path, { type = ty, timeout = MAXT })
        if ok2 and r2[1] then
          adopt(r2[1])
          ok, res = call("accept", r[1].accept, r[1])
          if ok then after("accept", {}, ok, res) end
        end
      end
    elseif c == 1 then
      local ok, r = call("socketpair", uxsock.socketpair,
                         pick({ "stream", "seqpacket", "datagram" }))
      if ok then after("socketpair", {}, ok, r) end
    elseif c == 2 then
      local ok, r = call("datagram", uxsock.datagram, name(), { timeout = 0 })
      if ok then after("datagram", {}, ok, r) end
      ok, r = call("datagram", uxsock.datagram, nil, { timeout = 0, autobind = chance(2) })
      if ok then after("datagram", {}, ok, r) end
    elseif c == 3 then  -- a poller watching some of the pool
      local ok, r = call("poller", uxsock.poller)
      if ok then after("poller", {}, ok, r) end
      local p = ok and r[1]
      if p then
        for _ = 1, 1 + byte() % 3 do
          local x = anyobj()
          if isopen(x) and ishandle(x) or io.type(x) == "file" then
            ok, r = call("add", p.add, p, x, pick({ "r", "w", "rw" }))
            if ok then check("add", r) end
          end
        end
        ok, r = call("wait", p.wait, p, pick({ 0, 0.001 }), pick({ nil, 1, 2 }))
        if ok then check("wait", r) end
      end
    else  -- a stream whose read buffer holds bytes: recv, recvfds and
          -- recvinto take those first
      local ok, r = call("socketpair", uxsock.socketpair, "stream")
      if ok then
        after("socketpair", {}, ok, r)
        local a, b = r[1], r[2]
        if a then
          a:sendall("line\n" .. str())
          call("read", b.read, b, pick({ "l", 1, 3 }))
        end
      end
    end
  end

  -- Lua files of every sort the API takes
  local function makefile()
    local c = byte() % 8
    local f
    if c == 0 then f = io.tmpfile()
    elseif c == 1 then f = io.open(dir, "r")           -- a directory
    elseif c == 2 then f = io.open("/dev/null", "r+")
    elseif c == 3 then f = io.popen("echo fuzz", "r")  -- ends by itself
    elseif c == 4 then f = io.popen("true", "w")       -- reads nothing
    elseif c == 5 then
      f = io.tmpfile()
      if f then f:write(str()) f:seek("set") end
    else
      f = io.tmpfile()
      if f then f:close() end
    end
    if f then
      files[#files + 1] = f
      adopt(f)
    end
  end

  -- descriptors through a socket and back: handles, files, integers
  local function fdpass()
    local ok, r = call("socketpair", uxsock.socketpair, pick({ "stream", "seqpacket", "datagram" }))
    if not ok or not r[1] then return end
    local a, b = r[1], r[2]
    a:settimeout(0)
    b:settimeout(0)
    local list = {}
    for i = 1, 1 + byte() % 4 do list[i] = anyobj() or 0 end
    local p
    if chance(3) then  -- an epoll descriptor comes back as an integer
      p = uxsock.poller()
      if p then list[#list + 1] = p:getfd() end
    end
    ok, r = call("sendfds", a.sendfds, a, chance(4) and "" or str(), list)
    if p then p:close() end
    if ok then check("sendfds", r) end
    for _ = 1, 2 do
      local args = { max(), pick({ nil, 1, 2, 253 }) }
      ok, r = call("recvfds", b.recvfds, b, unpack(args, 1, 2))
      if ok then check("recvfds", r) end
      after("recvfds", args, ok, r)
    end
    if chance(2) then adopt(a) adopt(b) else a:close() b:close() end
  end

  -- close with the object's own method: true, and closed after
  local function close_one()
    local x = anyobj()
    local k = kindof(x)
    if not k or k == "buffer" then
      if io.type(x) == "file" then pcall(io.close, x) end
      return
    end
    local ok, res = call("close", x.close, x)
    if not ok then invariant("close raised: " .. tostring(res[1])) end
    if res[1] ~= true then invariant("close gave " .. tostring(res[1])) end
    if not x:isclosed() then invariant("open after close: " .. tostring(x)) end
    if ishandle(x) and not uxsock.type(x):match("^closed ") then
      invariant("uxsock.type of a closed handle: " .. uxsock.type(x))
    end
  end

  local function look()
    local x = chance(2) and anyobj() or value(1)
    local ok, t = pcall(uxsock.type, x)
    if not ok then invariant("uxsock.type raised: " .. tostring(t)) end
    if t ~= nil and type(t) ~= "string" then invariant("uxsock.type gave " .. type(t)) end
    if kindof(x) then
      local ok2, s = pcall(tostring, x)
      if not ok2 or type(s) ~= "string" then invariant("tostring raised: " .. tostring(s)) end
      if kindof(x) == "buffer" or kindof(x) == "poller" then
        local ok3, n = pcall(function() return #x end)
        if kindof(x) == "buffer" and not ok3 then invariant("#buffer raised") end
        if ok3 and not isinteger(n) then invariant("# gave " .. tostring(n)) end
      end
    end
  end

  local function in_coroutine()
    if #coros > 0 and chance(2) then
      local co = table.remove(coros, byte() % #coros + 1)
      local ok, err = coroutine.resume(co, value(1))
      if not ok and type(err) == "string" and err:match("^INVARIANT: ") then error(err, 0) end
      if not ok and err == DONE then error(DONE, 0) end
      if coroutine.status(co) == "suspended" then coros[#coros + 1] = co end
      return
    end
    local co = coroutine.create(function() step() end)
    local ok, err = coroutine.resume(co)
    if not ok and type(err) == "string" and err:match("^INVARIANT: ") then error(err, 0) end
    if not ok and err == DONE then error(DONE, 0) end
    if coroutine.status(co) == "suspended" then
      coros[#coros + 1] = co
      if #coros > 4 then table.remove(coros, 1) end
    end
  end

  FUNCS = {
    function() end,
    function(...) return ... end,
    function() error("fuzz: fn raised") end,
    function() error({}) end,
    function(h) if ishandle(h) then h:close() end return true end,
    function(...) return coroutine.yield(...) end,
    function() if depth < 2 then step() end return 1, 2, 3 end,
    function() collectgarbage("collect") end,
  }

  local ACTIONS = {
    method_call, method_call, method_call, method_call, method_call, method_call,
    method_call, method_call, method_call, method_call,
    module_call, module_call, module_call, module_call, module_call, module_call,
    fixture, fixture, fixture, makefile, fdpass, fdpass,
    close_one, close_one, look, meta_call, meta_call, in_coroutine,
    function() if #pool > 0 then remove_at(byte() % #pool + 1) end end,  -- dropped
    function() collectgarbage(pick({ "collect", "step" })) end,
    function()
      if #iters > 0 then
        local ok, res = call("iterator", pick(iters))
        if ok then after("iterator", {}, ok, res) end
      end
    end,
    function()
      if opts.checkfd and chance(3) then  -- the C API: uxsock_checkfd
        local x = chance(4) and value(1) or anyobj()
        local ok, r = call("checkfd", opts.checkfd, x)
        if ok and not (isopen(x) and ishandle(x) and r[1] == x:getfd()) then
          invariant("uxsock_checkfd gave " .. tostring(r[1]) .. " for " .. tostring(x))
        end
      elseif opts.detach and #pool > 0 and chance(2) then  -- uxsock_detachfd
        local x = anyobj()
        if isopen(x) and ishandle(x) then
          local ok, r = call("detach", opts.detach, x)
          if ok and isinteger(r[1]) then owned[r[1]] = true end
        end
      elseif opts.attach then  -- uxsock_pushfd
        local args = { fdint(), pick(KINDS) }
        local ok, r = call("attach", opts.attach, unpack(args, 1, 2))
        if ok and r[1] then owned[args[1]] = nil end
        after("attach", args, ok, r)
      else
        method_call()
      end
    end,
  }

  function step()
    depth = depth + 1
    local ok, err = pcall(pick(ACTIONS))
    depth = depth - 1
    if not ok then error(err, 0) end
  end

  -- }==================================

  local ok, err = pcall(function()
    while stats.calls < maxcalls do
      depth = 0
      step()
    end
  end)
  if not ok and err ~= DONE then error(err, 0) end

  -- everything closed, then collected: the descriptors are what they were
  for _, x in ipairs(pool) do closeobj(x) end
  for _, f in ipairs(files) do pcall(io.close, f) end
  for fd in pairs(owned) do
    -- nothing but this engine closes what it owns
    local done, msg = uxsock.closefd(fd)
    if not done then invariant("closefd of a descriptor recvfds gave: " .. msg) end
  end
  pool, inpool, owned, iters, coros, files = nil, nil, nil, nil, nil, nil
  if fdbefore then
    collectgarbage("collect")
    collectgarbage("collect")
    local fdafter = fdcount()
    if fdafter ~= fdbefore then
      local f = assert(io.open("/proc/self/stat"))
      local pid = f:read("*l"):match("^(%d+)")
      f:close()
      local p = io.popen("ls -l /proc/" .. pid .. "/fd")
      local listing = p and p:read("*a") or ""
      if p then p:close() end
      invariant(("descriptors leaked: %d before, %d after\n%s"):format(
                fdbefore, fdafter, listing))
    end
  end
  return stats
end

-- }======================================================

return M
