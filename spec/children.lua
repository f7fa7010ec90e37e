-- The processes the suite starts: servers, clients, Python peers,
-- setpriv children, examples. Who else acts: a spec that fails or raises
-- before its own cleanup; a child that forks (a server and its workers,
-- a shell and its command); a child that waits for a peer that never
-- comes and holds the suite's output pipe, so that `make test | cat`
-- would never end. How each is met:
--   - start() runs a command in a process group of its own (setsid), its
--     output in a file; job:wait() gives the output and the exit status
--     (after a timeout, the output so far), job:describe() the command,
--     how it ended, when, and its output, for a failure message.
--   - After every test, pass, fail or error, stop_all() kills each job's
--     whole group and waits for it to be reaped (the output handler,
--     spec/summary.lua, calls it on busted's "test end"); a job lives for
--     one test. At the end of each file, its temporary directories go.
--   - spec/run marks the suite's environment (UXSOCK_SUITE, which every
--     child inherits); at the end of the run, leftovers() finds every
--     process that still carries the mark, whatever group it moved to,
--     and the handler kills them and fails the run, naming each one.
-- This module is loaded by the output handler before any spec file:
-- busted unloads the modules a spec file loaded when the file ends, and
-- this registry must be one for the whole run.
local lfs = require("lfs")

local children = {}

local running = {}  -- the jobs started and not yet reaped, in order

-- quotes a string for sh
function children.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
local q = children.q

-- a file's bytes, or nil when it cannot be read
function children.readfile(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local d = f:read("*a")
  f:close()
  return d
end
local readfile = children.readfile

-- seconds, for deadlines (LuaSocket's clock: uxsock itself stays out
-- of the handler, so each spec file loads it afresh)
local now = require("socket").gettime

-- how a child ended, for messages: "exit 3", or "signal 9" as a shell
-- reports it (128 + N)
function children.status(rc)
  if rc == nil then return "still running" end
  if rc > 128 then return string.format("exit %d (signal %d)", rc, rc - 128) end
  return "exit " .. rc
end

-- Starts cmd (a shell command) in the background, in a new session and
-- process group, with its output (stdout and stderr) in a file of dir.
-- The job: job:wait(timeout), job:kill(signal), job:stop(),
-- job:describe().
function children.start(cmd, dir)
  local out, pidf, rcf = dir .. "/out", dir .. "/pid", dir .. "/rc"
  local inner = "echo $$ >" .. q(pidf) .. "; exec " .. cmd
  -- setsid -w: a group leader cannot make a session, so setsid forks
  -- then, and -w waits for that child and gives its status
  os.execute(string.format("( setsid -w sh -c %s >%s 2>&1 </dev/null; echo $? >%s ) &",
             q(inner), q(out), q(rcf)))
  local job = { cmd = cmd, out = out, started = now() }
  running[#running + 1] = job

  -- the exit code once the command has ended (and when that was seen)
  local function rc()
    local code = tonumber((readfile(rcf) or ""):match("%d+"))
    if code and not job.ended then job.ended = now() end
    return code
  end
  local function pid()
    -- the pid file is written before the command runs: wait for it
    local deadline = now() + 20
    while not job.pid and now() < deadline do
      job.pid = tonumber((readfile(pidf) or ""):match("%d+"))
      if not job.pid then os.execute("sleep 0.01") end
    end
    return job.pid
  end

  -- waits up to timeout seconds (default 20) for the command to end;
  -- returns its output and exit code, or the output so far and nil
  function job.wait(_, timeout)
    local deadline = now() + (timeout or 20)
    local code = rc()
    while not code and now() < deadline do
      os.execute("sleep 0.02")
      code = rc()
    end
    return readfile(out) or "", code
  end

  -- signals the command itself (default TERM)
  function job.kill(_, sig)
    local p = pid()
    if p and not rc() then os.execute("kill -" .. (sig or "TERM") .. " " .. p .. " 2>/dev/null") end
  end

  -- kills the command's whole process group and waits until it is
  -- reaped; true once it has ended
  function job.stop()
    local p = pid()
    if not rc() and p then os.execute("kill -KILL -" .. p .. " 2>/dev/null") end
    local _, code = job:wait(20)
    return code ~= nil
  end

  -- the command, how it ended and its output, for a failure message
  function job.describe()
    local output, code = readfile(out) or "", rc()
    return string.format("%s\n%s after %.1f s; its output:\n%s", cmd, children.status(code),
                         (job.ended or now()) - job.started, output)
  end

  return job
end

-- Kills every job still running, with its group, and reaps it
function children.stop_all()
  for _, job in ipairs(running) do job:stop() end
  running = {}
end

-- What the end of the running spec file does besides: fn() (helpers
-- removes the file's temporary directories so, whether or not the file
-- asked for it). The output handler calls children.file_ended().
local at_end = {}
function children.at_file_end(fn)
  at_end[#at_end + 1] = fn
end

function children.file_ended()
  children.stop_all()
  local fns = at_end
  at_end = {}
  for _, fn in ipairs(fns) do pcall(fn) end
end

-- The mark of this run's processes, set by spec/run (UXSOCK_SUITE, one
-- per busted) or spec/parallel (UXSOCK_RUN, one per whole run); nil when
-- busted was started some other way
function children.mark(var)
  local m = os.getenv(var or "UXSOCK_SUITE")
  return m ~= "" and m or nil
end

local function parent(pid)
  local stat = readfile("/proc/" .. pid .. "/stat")
  return stat and tonumber(stat:match("^%d+ %b() %S+ (%d+)"))
end

-- this process and its ancestors (the runner itself carries the mark)
local function lineage()
  local set = {}
  local pid = tonumber(readfile("/proc/self/stat"):match("^(%d+)"))
  while pid and pid > 1 do
    set[pid] = true
    pid = parent(pid)
  end
  return set
end

-- The processes other than the runner that carry this run's mark (in
-- the variable var, default UXSOCK_SUITE) in their environment:
-- { { pid = N, cmdline = "..." }, ... }. Two looks, 0.2 s apart: a
-- process in the middle of an exec shows no environment.
function children.leftovers(var)
  var = var or "UXSOCK_SUITE"
  local mark = children.mark(var)
  if not mark then return {} end
  local needle = "\0" .. var .. "=" .. mark .. "\0"
  local mine, seen, found = lineage(), {}, {}
  for look = 1, 2 do
    if look == 2 then os.execute("sleep 0.2") end
    for e in lfs.dir("/proc") do
      local pid = tonumber(e)
      if pid and not mine[pid] and not seen[pid] then
        local env = readfile("/proc/" .. pid .. "/environ")
        if env and ("\0" .. env):find(needle, 1, true) then
          local cmdline = (readfile("/proc/" .. pid .. "/cmdline") or ""):gsub("%z", " ")
          seen[pid] = true
          found[#found + 1] = { pid = pid, cmdline = cmdline }
        end
      end
    end
  end
  table.sort(found, function(a, b) return a.pid < b.pid end)
  return found
end

-- kills the processes leftovers() found
function children.kill(list)
  for _, p in ipairs(list) do
    os.execute("kill -KILL " .. p.pid .. " 2>/dev/null")
  end
end

-- The end of a run: kills every leftover (var as for leftovers), names
-- each on stdout, and returns how many there were
function children.end_of_run(var)
  local left = children.leftovers(var)
  if #left > 0 then
    children.kill(left)
    print("left running when the specs ended (killed now):")
    for _, p in ipairs(left) do print(string.format("  pid %d: %s", p.pid, p.cmdline)) end
  end
  return #left
end

return children
