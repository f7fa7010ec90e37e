-- The kernel's own ceiling for batched datagrams (make bench-limits):
-- bench/build/batch (bench/limits/batch.c) in both modes, pinned to one
-- CPU, interleaved passes; prints the medians and their ratio.
local median = dofile((arg[0]:match("^(.*)/limits/[^/]*$") or "bench") .. "/common.lua").median
local BIN, PASSES = arg[1] or "bench/build/batch", tonumber(arg[2]) or 5

local rates = { single = {}, batch = {} }
for pass = 1, PASSES do
  for _, mode in ipairs({ "single", "batch" }) do
    local p = io.popen("taskset -c 0 " .. BIN .. " " .. mode)
    local out = p:read("a")
    assert(p:close(), "batch " .. mode .. " failed")
    local rate = assert(tonumber(out:match("(%d+) msg/s")), out)
    table.insert(rates[mode], rate)
    print(string.format("pass %d/%d %-6s %9d msg/s", pass, PASSES, mode, rate))
  end
end

local single, batch = median(rates.single), median(rates.batch)
print(string.format("raw C, 500,000 x 256 B, pinned: a call per datagram %.0f msg/s, "
                    .. "64 per call %.0f msg/s: batching gains %.2fx", single, batch,
                    batch / single))
