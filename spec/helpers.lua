-- Shared helpers for the uxsock specs (busted runs from the repository root).
local lfs = require("lfs")
-- the processes a spec starts: one registry for the whole run, which the
-- output handler (spec/summary.lua) loads before any spec file
local children = require("children")

local helpers = {}

helpers.LUA = os.getenv("LUA") or "lua5.4"
helpers.ROOT = lfs.currentdir()
-- how a child Lua process finds the module built in build/
helpers.CPATH = helpers.ROOT .. "/" .. (os.getenv("UXSOCK_BUILD") or "build") .. "/?.so;;"

-- The specs run on Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT: what differs is
-- wrapped here. (io reads use "*l" and "*a", which every version knows.)
helpers.unpack = table.unpack or unpack

function helpers.pack(...)
  return { n = select("#", ...), ... }
end

-- math.type where Lua has integers (5.3, 5.4). Lua 5.1, 5.2 and LuaJIT
-- have only floats: there the nearest true thing to "integer" is a whole
-- number a double holds exactly.
function helpers.mathtype(x)
  if math.type then return math.type(x) end
  if type(x) ~= "number" then return nil end
  if x == math.floor(x) and math.abs(x) <= 2 ^ 53 then return "integer" end
  return "float"
end

-- a & ~b for integers >= 0, without the operators 5.1 and 5.2 lack
function helpers.andnot(a, b)
  local r, bit = 0, 1
  while a > 0 do
    if a % 2 == 1 and b % 2 == 0 then r = r + bit end
    a, b, bit = math.floor(a / 2), math.floor(b / 2), bit * 2
  end
  return r
end

-- How many cases a property test or an oracle runs, 'full' being its CI
-- size: all of them in CI (CI=true) and under ASan, a tenth in make test,
-- a fiftieth under valgrind (which is 30 times slower); UXSOCK_SCALE (a
-- fraction) overrides. Never fewer than 'least' (default 10).
function helpers.cases(full, least)
  local scale = tonumber(os.getenv("UXSOCK_SCALE"))
  if not scale then
    local memcheck = os.getenv("UXSOCK_MEMCHECK")
    if memcheck == "valgrind" then scale = 0.02
    elseif memcheck or os.getenv("CI") == "true" then scale = 1
    else scale = 0.1 end
  end
  return math.max(least or 10, math.floor(full * scale))
end

local counter = 0

-- a fresh private directory under /tmp, removed by helpers.cleanup()
function helpers.tmpdir()
  local name = os.tmpname()
  os.remove(name)
  assert(lfs.mkdir(name))
  helpers._dirs = helpers._dirs or {}
  table.insert(helpers._dirs, name)
  return name
end

-- a fresh directory every user may read and enter (mode 0755), for
-- sockets and scripts another user reaches
function helpers.opendir()
  local dir = helpers.tmpdir()
  assert(os.execute("chmod 755 " .. helpers.q(dir)))
  return dir
end

-- a socket path that nothing uses yet
function helpers.sockpath(tag)
  counter = counter + 1
  helpers._base = helpers._base or helpers.tmpdir()
  return string.format("%s/%s%d.sock", helpers._base, tag or "s", counter)
end

-- a unique abstract name
function helpers.abstract(tag)
  counter = counter + 1
  return string.format("@uxsock-spec-%s-%d-%d", tag or "a", helpers.pid(), counter)
end

-- a unique abstract name of exactly n bytes with its '@' (n >= 30): a
-- fixed name of the longest length would clash with a suite running beside
function helpers.abstract_of_length(n)
  local name = helpers.abstract("len")
  assert(#name <= n, "abstract_of_length: " .. n .. " is too short")
  return name .. ("a"):rep(n - #name)
end

function helpers.cleanup()
  children.stop_all()
  for _, d in ipairs(helpers._dirs or {}) do
    os.execute("rm -rf '" .. d .. "'")
  end
  helpers._dirs, helpers._base = nil, nil
end

-- whatever a spec file made is removed when it ends, cleanup or not
children.at_file_end(helpers.cleanup)

-- Handles a test made, closed by helpers.close_tracked() in after_each:
-- Lua allows one <close> per local statement, and a pair comes in one.
local tracked = {}
function helpers.track(...)
  local uxsock = require("uxsock")
  for i = 1, select("#", ...) do
    local x = select(i, ...)
    if uxsock.type(x) then tracked[#tracked + 1] = x end
  end
  return ...
end

function helpers.close_tracked()
  for _, x in ipairs(tracked) do x:close() end
  tracked = {}
end

-- this process's pid
function helpers.pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = tonumber(f:read("*l"):match("^(%d+)"))
  f:close()
  return pid
end

-- The seed of a property test: UXSOCK_SEED when set (to repeat a failed
-- run), otherwise a fresh one
function helpers.seed()
  return tonumber(os.getenv("UXSOCK_SEED")) or (os.time() * 1000 + helpers.pid()) % 2147483646
end

-- What a seed gives: r(n) is 0 to n-1 (Park and Miller's generator: the
-- products stay below 2^46, exact in a double, so every Lua agrees)
function helpers.generator(seed)
  local x = seed % 2147483646 + 1
  return function(n)
    x = x * 16807 % 2147483647
    return math.floor(x * n / 2147483647)
  end
end

-- a value for a failure message: strings short, in %q
function helpers.show(v)
  if type(v) ~= "string" then return tostring(v) end
  if #v > 48 then return string.format("%q.. (%d bytes)", v:sub(1, 40), #v) end
  return string.format("%q", v)
end

function helpers.uid()
  local f = assert(io.open("/proc/self/status"))
  local uid, gid
  for line in f:lines() do
    uid = uid or tonumber(line:match("^Uid:%s+(%d+)"))
    gid = gid or tonumber(line:match("^Gid:%s+(%d+)"))
  end
  f:close()
  return uid, gid
end

-- what the standalone test scripts share with the specs (tests/common.lua)
local common = dofile(helpers.ROOT .. "/tests/common.lua")

-- number of open descriptors of this process
function helpers.fdcount()
  return #common.fdlist()
end

-- a full collection: garbage from earlier tests is finalized now, so no
-- handle closes behind a test's "before" count
local function settle()
  collectgarbage("collect")
  collectgarbage("collect")
end

-- fdcount after that
function helpers.settled_fdcount()
  settle()
  return helpers.fdcount()
end

-- what /proc/self/fd/N points at ("socket:[1234]", a file's path, ...)
function helpers.fdtarget(fd)
  local a = lfs.symlinkattributes("/proc/self/fd/" .. fd)
  return a and a.target
end

-- this process's descriptors as a set of "N target" after a full
-- collection (lfs.dir's own left out): what a test opened and left open
-- shows up as a new member, whatever unrelated garbage closed meanwhile
function helpers.settled_fdset()
  settle()
  return helpers.fdset()
end

function helpers.fdset()
  local set = {}
  for _, fd in ipairs(common.fdlist()) do
    local t = helpers.fdtarget(fd)
    if t and not t:match("^/proc/%d+/fd$") then set[fd .. " " .. t] = true end
  end
  return set
end

-- the members of set 'after' that 'before' lacks, sorted
function helpers.fds_added(before, after)
  local added = {}
  for e in pairs(after) do
    if not before[e] then added[#added + 1] = e end
  end
  table.sort(added)
  return added
end

-- the descriptor of this process that points at target, or nil. The
-- loop runs to the end: before 5.4 a loop left early keeps lfs.dir's
-- descriptor open until a collection
function helpers.findfd(target)
  local found
  for e in lfs.dir("/proc/self/fd") do
    if not found and e:match("^%d+$") and helpers.fdtarget(e) == target then
      found = tonumber(e)
    end
  end
  return found
end

-- whether descriptor fd is close-on-exec: O_CLOEXEC (02000000) in the
-- octal "flags:" of /proc/self/fdinfo/N
function helpers.cloexec(fd)
  local info = assert(helpers.readfile("/proc/self/fdinfo/" .. fd), "no descriptor " .. fd)
  local flags = tonumber(info:match("flags:%s*(%d+)"), 8)
  return math.floor(flags / 524288) % 2 == 1
end

-- the descriptors a child shell started with io.popen holds:
-- { [N] = target }, and the set of their targets
function helpers.child_fds()
  local p = io.popen('for f in /proc/$$/fd/*; do echo "${f##*/} $(readlink "$f")"; done')
  local out = p:read("*a")
  p:close()
  local fds, targets = {}, {}
  for n, target in out:gmatch("(%d+) ([^\n]*)") do
    fds[tonumber(n)] = target
    targets[target] = true
  end
  return fds, targets
end

-- "socket", "file", "directory", "link", ... or nil when nothing is there
function helpers.filetype(path)
  local a = lfs.symlinkattributes(path)
  return a and a.mode
end

-- permission bits of a file, as an integer (e.g. 416 == 0640)
function helpers.filemode(path)
  local p = io.popen("stat -c %a '" .. path .. "'")
  local out = p:read("*a")
  p:close()
  return tonumber(out, 8)
end

function helpers.writefile(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

helpers.readfile = children.readfile

-- the bytes readable now from a stream handle, without waiting
helpers.drain = common.drain

-- whether x is one of the values that follow
function helpers.oneof(x, ...)
  for i = 1, select("#", ...) do
    if x == select(i, ...) then return true end
  end
  return false
end

-- quotes a string for sh
helpers.q = children.q

-- the command that runs a Lua script with arguments, the module found by
-- cpath (a LUA_CPATH)
local function luascript(cpath, script, ...)
  local args = {}
  for i = 1, select("#", ...) do args[#args + 1] = helpers.q((select(i, ...))) end
  return "env LUA_CPATH=" .. helpers.q(cpath) .. " " .. helpers.LUA .. " " .. helpers.q(script)
         .. " " .. table.concat(args, " ")
end

-- a shell command that runs Lua code (or a script with arguments) with
-- build/ on the module path
function helpers.luacmd(code_or_script, ...)
  local script = code_or_script
  if not script:match("%.lua$") then
    -- 'lua -e code arg' would run arg as a script: code with arguments
    -- goes to a file of its own
    script = helpers.tmpdir() .. "/code.lua"
    helpers.writefile(script, code_or_script)
  end
  return luascript(helpers.CPATH, script, ...)
end

-- {======================================================
-- Another user
-- Specs that need a second user run code as uid and gid 4321 (root
-- and util-linux's setpriv make that possible). That user may read
-- nothing of the checkout: a clone inside a private (0700) directory is
-- common. So what it runs (the module, scripts) is copied into a
-- directory it may read, and it runs from there.
-- =======================================================

function helpers.can_act_as_other()
  return helpers.uid() == 0 and helpers.run("command -v setpriv") ~= ""
end

-- writes a file any user may read (mode 0644, whatever the umask)
function helpers.writeshared(path, data)
  helpers.writefile(path, data)
  assert(os.execute("chmod 644 " .. helpers.q(path)))
end

-- a directory every user may read (0755) that holds a copy of the
-- module: made once per spec file, removed by helpers.cleanup()
local shared
function helpers.shared()
  if shared and lfs.attributes(shared, "mode") == "directory" then return shared end
  shared = helpers.opendir()
  local so = helpers.ROOT .. "/" .. (os.getenv("UXSOCK_BUILD") or "build") .. "/uxsock.so"
  helpers.writeshared(shared .. "/uxsock.so", assert(helpers.readfile(so), so))
  return shared
end

-- a command that runs cmd as the other user, from the shared directory
function helpers.as_other(cmd)
  return "setpriv --reuid=4321 --regid=4321 --clear-groups env -C "
         .. helpers.q(helpers.shared()) .. " " .. cmd
end

-- as helpers.luacmd, as the other user: code (or a script, copied) and
-- the module from the shared directory
function helpers.other_luacmd(code_or_script, ...)
  local dir = helpers.shared()
  local code = code_or_script
  if code:match("%.lua$") then code = assert(helpers.readfile(code), code) end
  counter = counter + 1
  local script = string.format("%s/code%d.lua", dir, counter)
  helpers.writeshared(script, code)
  return helpers.as_other(luascript(dir .. "/?.so;;", script, ...))
end

-- "LD_PRELOAD=..." for a library of build/ (mk/faults.mk): the loader
-- splits its list at spaces and colons, which a checkout's path may
-- hold, so the library is copied into the shared directory first
function helpers.preload(lib)
  local copy = helpers.shared() .. "/" .. lib:match("[^/]+$")
  if not lfs.attributes(copy) then helpers.writeshared(copy, assert(helpers.readfile(lib), lib)) end
  return "LD_PRELOAD=" .. helpers.q(copy)
end

-- }======================================================

-- whether closing an io.popen file gives how the command ended (5.2+;
-- on 5.1 and LuaJIT it gives only true)
local POPEN_STATUS = select(2, io.popen("exit 0"):close()) == "exit"

-- runs a command; returns its output, and how it ended ("exit" or
-- "signal") with the code, as io.popen's close reports them on 5.2+.
-- On 5.1 and LuaJIT the shell around the command writes its status to a
-- file: always "exit", a signal N showing as 128 + N, as a shell says it.
function helpers.run(cmd)
  if POPEN_STATUS then
    local p = io.popen(cmd .. " 2>&1")
    local out = p:read("*a")
    local _, how, code = p:close()
    return out, how, code
  end
  local status = helpers.tmpdir() .. "/status"
  local p = io.popen("( " .. cmd .. " ) 2>&1; echo $? >" .. helpers.q(status))
  local out = p:read("*a")
  p:close()
  return out, "exit", tonumber(helpers.readfile(status))
end

-- runs make with args in the checkout, as helpers.run does a command:
-- one make at a time (a lock in build/), since spec files run in
-- parallel (spec/parallel) and two makes would write the same objects at
-- once; without make test's MAKEFLAGS, which name its jobserver
function helpers.make(args)
  local lock = helpers.ROOT .. "/build/.make.lock"
  return helpers.run("mkdir -p " .. helpers.q(helpers.ROOT .. "/build") .. " && flock "
                     .. helpers.q(lock) .. " env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS "
                     .. "make -s --no-print-directory -C " .. helpers.q(helpers.ROOT)
                     .. " " .. args)
end

-- starts a command in the background, in a process group of its own;
-- output goes to a file. The job (spec/children.lua) has :wait(timeout)
-- (output, exit code; nil for the code while it runs), :kill(signal),
-- which signals the command itself (the shell around it execs it), and
-- :describe() for failure messages. Whatever is still running when the
-- test ends is killed with its group and reaped.
function helpers.spawn(cmd)
  return children.start(cmd, helpers.tmpdir())
end

-- kills every job still running, with its group, and reaps it (what the
-- end of a test does), for a test that starts jobs in rounds
helpers.stop_children = children.stop_all

-- builds the test programs of mk/faults.mk once (build/oomhost,
-- build/sigpump.so, build/forkenv.so): make test builds the module, and
-- this make is a child of it, with flags of its own
local hosts_built = false
function helpers.test_hosts()
  if hosts_built then return end
  local out, how, code = helpers.make("test-hosts")
  assert(how == "exit" and code == 0, "make test-hosts: " .. out)
  hosts_built = true
end

-- calls f and returns how many seconds it took, then its results
function helpers.timed(f, ...)
  local now = require("uxsock").monotime
  local t0 = now()
  local r = helpers.pack(f(...))
  return now() - t0, helpers.unpack(r, 1, r.n)
end

-- true when the kernel lists a socket bound to 'path' that is ready for
-- clients: a datagram socket once bound, a stream or seqpacket socket once
-- it listens (flag __SO_ACCEPTCON, 0x10000, in /proc/net/unix); nil when
-- the system has no such list
local function serving(path)
  local f = io.open("/proc/net/unix", "r")
  if not f then return nil end
  for line in f:lines() do
    local flags, kind, name = line:match("^%x+: %x+ %x+ (%x+) (%x+) %x+ +%d+ (.+)$")
    if name == path and (kind == "0002" or
        math.floor(tonumber(flags, 16) / 0x10000) % 2 == 1) then  -- no & in 5.1
      f:close()
      return true
    end
  end
  f:close()
  return false
end

-- waits up to 'timeout' s until 'path' exists and, if it is a socket file,
-- until its server is ready: a server's file appears at bind, before its
-- listen, and a client connecting in between is refused (seen under
-- valgrind, where that gap is long)
function helpers.waitfor(path, timeout)
  local deadline = os.time() + (timeout or 10)
  while true do
    local kind = helpers.filetype(path)
    if kind and (kind ~= "socket" or serving(path) ~= false) then return true end
    if os.time() > deadline then return false end
    os.execute("sleep 0.02")
  end
end

return helpers
