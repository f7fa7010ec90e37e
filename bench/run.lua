-- The benchmark runner (make bench; bench/README.md has the protocol).
--   lua5.4 bench/run.lua [--pin same|none|both] [--passes N] [--quick]
--                        [--peers raw,uxsock,...] [--workloads pingpong,...]
--                        [--out DIR]
--   lua5.4 bench/run.lua --count [--peers raw,uxsock] [--workloads ...]
-- Speed mode: for each pinning mode and pass, every workload is run for
-- every peer (the order rotated each pass), a server and a client over a
-- socket file; the client's line gives the seconds. It prints medians,
-- min-max and each peer's ratio to raw C from the same run, and writes
-- DIR/latest.csv and DIR/latest.json.
-- Count mode: instructions (callgrind) and system calls (strace) per
-- operation of the client, from two runs of different counts, so start-up
-- cancels out: stable on a noisy machine.
local ROOT = (arg[0]:match("^(.*)/bench/[^/]*$") or (arg[0]:match("^bench/") and ".")
              or (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/..")

local PEERS = {
  { name = "raw", cmd = ROOT .. "/bench/build/raw" },
  { name = "uxsock", cmd = "lua5.4 " .. ROOT .. "/bench/peers/uxsock.lua", lua = true },
  { name = "luasocket", cmd = "lua5.4 " .. ROOT .. "/bench/peers/luasocket.lua", lua = true },
  { name = "cqueues", cmd = "lua5.4 " .. ROOT .. "/bench/peers/cqueues.lua", lua = true },
  { name = "python", cmd = "python3 " .. ROOT .. "/bench/peers/python.py" },
}

-- label, count, size, what a client's second measures
local WORKLOADS = {
  { name = "pingpong", label = "W1", count = 200000, size = 64, unit = "rt/s",
    rate = function(r) return r.count / r.seconds end },
  { name = "bulk", label = "W2", count = 16384, size = 65536, unit = "MB/s",
    rate = function(r) return r.count * r.size / r.seconds / 1e6 end },
  { name = "bulkbuf", label = "W2b", count = 16384, size = 65536, unit = "MB/s",
    rate = function(r) return r.count * r.size / r.seconds / 1e6 end },
  { name = "dgram", label = "W3", count = 500000, size = 256, unit = "msg/s",
    rate = function(r) return r.count / r.seconds end },
  -- the batched datagram API; raw C does W3 (a call per message): the
  -- ratio is what batching gains over the kernel's one-call limit
  { name = "dgrambatch", label = "W3b", count = 500000, size = 256, unit = "msg/s",
    rate = function(r) return r.count / r.seconds end },
  { name = "connect", label = "W4", count = 20000, size = 1, unit = "conn/s",
    rate = function(r) return r.count / r.seconds end },
  -- memory per open connection: lower is better; the Lua peers only
  { name = "handles", label = "W5", count = 10000, size = 1, unit = "heap B/conn",
    rate = function(r) return r.heap_per_handle end, lua = true },
}

local common = dofile(ROOT .. "/bench/common.lua")
local readfile, sh, median, machine = common.readfile, common.sh, common.median, common.machine

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end



local function sleep(s) os.execute("sleep " .. s) end

local function exists(path) return os.rename(path, path) ~= nil end

-- {{{ options
local opts = { pin = "both", passes = 3, quick = false, out = ROOT .. "/bench/results" }
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "--quick" then opts.quick = true
    elseif a == "--count" then opts.count = true
    elseif a == "--pin" or a == "--passes" or a == "--peers" or a == "--workloads"
           or a == "--out" then
      i = i + 1
      opts[a:sub(3)] = assert(arg[i], a .. " needs a value")
    else
      io.stderr:write("unknown option ", a, "\n")
      os.exit(2)
    end
    i = i + 1
  end
  opts.passes = assert(math.tointeger(tonumber(opts.passes)), "--passes: an integer")
  assert(({ same = 1, none = 1, both = 1 })[opts.pin], "--pin: same, none or both")
end

local function pick(list, csv)
  if not csv then return list end
  local want, out = {}, {}
  for name in csv:gmatch("[^,]+") do want[name] = true end
  for _, x in ipairs(list) do if want[x.name] then out[#out + 1] = x end end
  return out
end
local peers, workloads = pick(PEERS, opts.peers), pick(WORKLOADS, opts.workloads)
-- }}}

local tmp = sh("mktemp -d"):gsub("%s+$", "")

-- one run: the server in the background, the client in the foreground;
-- returns the client's result table, "unsupported", or nil and why
local function run_once(peer, w, pin, count, wrap, side)
  local path = tmp .. "/" .. peer.name .. "-" .. w.name .. ".sock"
  local rc, err = tmp .. "/server.rc", tmp .. "/server.err"
  os.remove(path); os.remove(rc)
  local cpu = pin and "taskset -c 0 " or ""
  local args = string.format("%s %s %d %d", w.name, q(path), count, w.size)
  local swrap = side == "server" and wrap or ""
  if side == "server" then wrap = nil end
  os.execute(string.format("( timeout 300 %s%s%s server %s 2>%s; echo $? >%s ) &",
                           cpu, swrap, peer.cmd, args, q(err), q(rc)))
  local waited = 0
  while not exists(path) do
    local status = readfile(rc)
    if status and status ~= "" then  -- the server ended before binding
      if tonumber(status) == 3 then return "unsupported" end
      return nil, "server: " .. (readfile(err) or "")
    end
    sleep(0.01)
    waited = waited + 0.01
    if waited > 30 then return nil, "server did not start" end
  end
  local out, _, _, code = sh(string.format("timeout 300 %s%s%s client %s 2>&1",
                                           cpu, wrap or "", peer.cmd, args))
  while (readfile(rc) or "") == "" do sleep(0.01) end
  local src = tonumber(readfile(rc))
  if code == 3 or src == 3 then return "unsupported" end
  if code ~= 0 or src ~= 0 then
    return nil, string.format("client %s, server %s: %s %s", tostring(code), tostring(src),
                              out, readfile(err) or "")
  end
  local r = { out = out }
  for k, v in out:gmatch("([%w_]+)=(%S+)") do r[k] = tonumber(v) or v end
  return r
end



-- {{{ speed mode
local function speed()
  local modes = opts.pin == "both" and { "same", "none" } or { opts.pin }
  local results = {}  -- results[mode][workload][peer] = { rates }
  local unsupported = {}
  for _, mode in ipairs(modes) do
    results[mode] = {}
    for pass = 1, opts.passes do
      for _, w in ipairs(workloads) do
        results[mode][w.name] = results[mode][w.name] or {}
        local count = opts.quick and math.max(1, w.count // 20) or w.count
        for k = 0, #peers - 1 do
          local peer = peers[(k + pass - 1) % #peers + 1]
          local r, why
          if w.lua and not peer.lua then r = "unsupported"  -- a Lua heap
          else r, why = run_once(peer, w, mode == "same", count) end
          if type(r) == "table" and not w.rate(r) then r = "unsupported" end
          if r == "unsupported" then
            unsupported[peer.name .. "/" .. w.name] = true
          elseif not r then
            io.stderr:write(string.format("FAILED %s %s %s: %s\n", mode, w.name, peer.name, why))
          else
            local list = results[mode][w.name][peer.name] or {}
            list[#list + 1] = w.rate(r)
            results[mode][w.name][peer.name] = list
            io.stderr:write(string.format("pass %d/%d pin=%s %-8s %-9s %12.1f %s\n", pass,
                            opts.passes, mode, w.name, peer.name, w.rate(r), w.unit))
          end
        end
      end
    end
  end

  -- the table, and the rows for the files
  local rows = {}
  for _, mode in ipairs(modes) do
    print(string.format("\npin=%s (%d passes; median [min-max]; ratio to raw C's median)", mode,
                        opts.passes))
    local head = string.format("%-4s %-9s %-7s", "", "workload", "unit")
    for _, p in ipairs(peers) do head = head .. string.format(" %26s", p.name) end
    print(head)
    for _, w in ipairs(workloads) do
      local base = median(results[mode][w.name]["raw"] or {})
      local line = string.format("%-4s %-9s %-7s", w.label, w.name, w.unit)
      for _, p in ipairs(peers) do
        local rates = results[mode][w.name][p.name]
        if rates and #rates > 0 then
          local med = median(rates)
          local lo, hi = math.min(table.unpack(rates)), math.max(table.unpack(rates))
          local ratio = base and med / base
          line = line .. string.format(" %10.0f [%.0f-%.0f] %5s", med, lo, hi,
                                       ratio and string.format("%.2f", ratio) or "-")
          rows[#rows + 1] = { mode = mode, label = w.label, workload = w.name, peer = p.name,
                              unit = w.unit, median = med, min = lo, max = hi,
                              ratio = ratio, passes = #rates }
        else
          local what = unsupported[p.name .. "/" .. w.name] and "unsupported" or "failed"
          line = line .. string.format(" %26s", what)
          rows[#rows + 1] = { mode = mode, label = w.label, workload = w.name, peer = p.name,
                              unit = w.unit, status = what }
        end
      end
      print(line)
    end
  end

  os.execute("mkdir -p " .. q(opts.out))
  local date = os.date("!%Y-%m-%d %H:%M UTC")
  local csv = { "# " .. date .. "; " .. machine(),
                "mode,label,workload,peer,unit,median,min,max,ratio,passes,status" }
  for _, r in ipairs(rows) do
    csv[#csv + 1] = string.format("%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s", r.mode, r.label,
      r.workload, r.peer, r.unit, r.median and string.format("%.1f", r.median) or "",
      r.min and string.format("%.1f", r.min) or "", r.max and string.format("%.1f", r.max) or "",
      r.ratio and string.format("%.3f", r.ratio) or "", r.passes or 0, r.status or "ok")
  end
  local f = assert(io.open(opts.out .. "/latest.csv", "w"))
  f:write(table.concat(csv, "\n"), "\n")
  f:close()
  local json = {}
  for _, r in ipairs(rows) do
    local fields = {}
    for _, k in ipairs({ "mode", "label", "workload", "peer", "unit", "median", "min", "max",
                         "ratio", "passes", "status" }) do
      local v = r[k]
      if type(v) == "string" then fields[#fields + 1] = string.format("%q: %q", k, v)
      elseif v then fields[#fields + 1] = string.format("%q: %.6g", k, v) end
    end
    json[#json + 1] = "    {" .. table.concat(fields, ", ") .. "}"
  end
  f = assert(io.open(opts.out .. "/latest.json", "w"))
  f:write(string.format('{\n  "date": %q,\n  "machine": %q,\n  "passes": %d,\n  "quick": %s,\n',
                        date, machine(), opts.passes, tostring(opts.quick)),
          '  "results": [\n', table.concat(json, ",\n"), "\n  ]\n}\n")
  f:close()
  -- the Markdown table, for README.md (between its bench markers)
  local md = { string.format("Measured %s on %s; %d passes, medians; the ratio to raw C's " ..
                             "median from the same run in parentheses.", date, machine(),
                             opts.passes), "" }
  for _, mode in ipairs(modes) do
    md[#md + 1] = mode == "same" and "Both processes pinned to one CPU (`--pin same`):"
                  or "Unpinned:"
    md[#md + 1] = ""
    local head, rule = "| workload | unit |", "|---|---|"
    for _, p in ipairs(peers) do head, rule = head .. " " .. p.name .. " |", rule .. "---:|" end
    md[#md + 1] = head
    md[#md + 1] = rule
    for _, w in ipairs(workloads) do
      local line = string.format("| %s %s | %s |", w.label, w.name, w.unit)
      for _, p in ipairs(peers) do
        for _, r in ipairs(rows) do
          if r.mode == mode and r.workload == w.name and r.peer == p.name then
            local ratio = r.ratio and string.format(" (%.2f)", r.ratio) or ""
            line = line .. (r.median and string.format(" %.0f%s |", r.median, ratio)
                             or " " .. r.status .. " |")
          end
        end
      end
      md[#md + 1] = line
    end
    md[#md + 1] = ""
  end
  f = assert(io.open(opts.out .. "/latest.md", "w"))
  f:write(table.concat(md, "\n"))
  f:close()
  print(string.format("\n%s; %s\nwritten: %s/latest.csv, .json, .md", date, machine(),
                      opts.out))
end
-- }}}

-- {{{ count mode
-- instructions and system calls of the client per operation, from runs of
-- n and 2n operations (start-up cancels out)
local COUNTS = { pingpong = 2000, bulk = 200, bulkbuf = 200, dgram = 5000, dgrambatch = 5000,
                 connect = 500 }

-- the calls column of strace -c's "total" line
local function strace_total(text)
  for line in text:gmatch("[^\n]+") do
    if line:match("%stotal%s*$") then
      local fields = {}
      for x in line:gmatch("[%d.]+") do fields[#fields + 1] = x end
      return tonumber(fields[4])
    end
  end
end

local function count_mode()
  print(string.format("%-9s %-9s %-6s %12s %12s", "workload", "peer", "side", "instr/op",
                      "syscalls/op"))
  for _, w in ipairs(workloads) do
    -- W5 measures memory, not operations
    for _, peer in ipairs(COUNTS[w.name] and peers or {}) do
      for _, side in ipairs({ "client", "server" }) do
        local n = COUNTS[w.name]
        local ir, calls, ok = {}, {}, true
        for k, c in ipairs({ n, 2 * n }) do
          local log, st = tmp .. "/cg.log", tmp .. "/strace.out"
          local r = run_once(peer, w, true, c, "valgrind --tool=callgrind " ..
            "--callgrind-out-file=/dev/null --log-file=" .. log .. " ", side)
          ir[k] = type(r) == "table" and tonumber((readfile(log) or ""):match("Collected : (%d+)"))
          r = run_once(peer, w, true, c, "strace -f -c -o " .. st .. " ", side)
          calls[k] = type(r) == "table" and strace_total(readfile(st) or "")
          ok = ok and ir[k] and calls[k]
        end
        if ok then
          print(string.format("%-9s %-9s %-6s %12.0f %12.2f", w.name, peer.name, side,
                              (ir[2] - ir[1]) / n, (calls[2] - calls[1]) / n))
        else
          print(string.format("%-9s %-9s %-6s %25s", w.name, peer.name, side,
                              "unsupported or failed"))
        end
      end
    end
  end
end
-- }}}

if opts.count then count_mode() else speed() end
os.execute("rm -rf " .. q(tmp))
