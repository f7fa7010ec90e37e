-- make bench-plot (make bench runs it too): bench/results/latest.csv ->
-- bench/results/ratios.png, a bar chart (gnuplot) of each peer's median as
-- a fraction of raw C's in the same run, one group of bars per workload,
-- pinned and unpinned side by side; and bench/results/latest.md into
-- README.md, between its bench markers.
local dir = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/results"
local csv = assert(io.open(dir .. "/latest.csv"), "no " .. dir .. "/latest.csv: run make bench")

local title, rows, peers, labels, seen = "", {}, {}, {}, {}
for line in csv:lines() do
  if line:match("^#") then
    title = line:sub(3)
  elseif not line:match("^mode,") then
    local mode, label, _, peer, _, _, _, _, ratio = line:match(
      "^([^,]*),([^,]*),([^,]*),([^,]*),([^,]*),([^,]*),([^,]*),([^,]*),([^,]*)")
    rows[mode] = rows[mode] or {}
    rows[mode][label] = rows[mode][label] or {}
    rows[mode][label][peer] = tonumber(ratio)
    if not seen[peer] then seen[peer] = true; peers[#peers + 1] = peer end
    -- a workload with no ratio (W5: bytes, no raw C figure) has no bars
    if tonumber(ratio) and not seen["l:" .. label] then
      seen["l:" .. label] = true
      labels[#labels + 1] = label
    end
  end
end
csv:close()

local modes = {}
for _, m in ipairs({ "same", "none" }) do if rows[m] then modes[#modes + 1] = m end end
local names = { same = "both processes on one CPU", none = "unpinned" }

local data = dir .. "/ratios.dat"
local f = assert(io.open(data, "w"))
for _, mode in ipairs(modes) do
  f:write("workload ", table.concat(peers, " "), "\n")
  for _, label in ipairs(labels) do
    local cells = {}
    for i, p in ipairs(peers) do cells[i] = rows[mode][label][p] or "NaN" end
    f:write(label, " ", table.concat(cells, " "), "\n")
  end
  f:write("\n\n")
end
f:close()

-- room above the highest bar (and the legend), at least to 1.3
local top = 1.3
for _, mode in ipairs(modes) do
  for _, label in ipairs(labels) do
    for _, p in ipairs(peers) do
      local r = tonumber(rows[mode][label][p])
      if r and r + 0.3 > top then top = math.ceil((r + 0.3) * 10) / 10 end
    end
  end
end

local gp = {
  "set terminal pngcairo size " .. (560 * #modes) .. ",420 font 'sans,10'",
  "set output '" .. dir .. "/ratios.png'",
  "set multiplot layout 1," .. #modes .. " title 'uxsock benchmarks: median rate / raw C (" ..
    title:gsub("'", "") .. ")'",
  "set style data histograms",
  "set style histogram clustered gap 1",
  "set style fill solid 0.85 border -1",
  string.format("set yrange [0:%.1f]", top),
  "set ytics 0.1",
  "set grid ytics",
  "set key top left horizontal",
  "set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2",
}
for i, mode in ipairs(modes) do
  gp[#gp + 1] = "set title '" .. names[mode] .. "'"
  local plots = {}
  for k = 2, #peers + 1 do
    plots[#plots + 1] = string.format("'%s' index %d using %d:xtic(1) title columnheader", data,
                                      i - 1, k)
  end
  gp[#gp + 1] = "plot " .. table.concat(plots, ", ")
end
gp[#gp + 1] = "unset multiplot"
local p = assert(io.popen("gnuplot", "w"))
p:write(table.concat(gp, "\n"), "\n")
assert(p:close(), "gnuplot failed")
os.remove(data)
print("written: " .. dir .. "/ratios.png")

-- the table into README.md
local readme = (arg[0]:match("^(.*)/bench/[^/]*$") or ".") .. "/README.md"
local BEGIN, END = "<!-- bench:begin: make bench writes this part -->\n", "<!-- bench:end -->"
local mdf = io.open(dir .. "/latest.md")
local rf = io.open(readme, "rb")
if mdf and rf then
  local md, doc = mdf:read("a"), rf:read("a")
  mdf:close()
  rf:close()
  -- W5's other half: the poller's cost per wait (bench/poller.lua)
  local pf = io.open(dir .. "/poller.md")
  if pf then
    local head = "**The poller** (W5, `bench/poller.lua`): one wait. "
    md = md .. "\n" .. pf:read("a"):gsub("^# [^\n]*\n\n", head)
    pf:close()
  end
  local b = doc:find(BEGIN, 1, true)
  local e = b and doc:find(END, b, true)
  if e then
    rf = assert(io.open(readme, "wb"))
    rf:write(doc:sub(1, b - 1), BEGIN, "\n", md, "\n", doc:sub(e))
    rf:close()
    print("written: the table in " .. readme)
  end
end
