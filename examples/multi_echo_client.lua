-- Many clients at once for multi_echo_server.lua: each is a uxsock.loop
-- task that sends lines and checks that every one comes back intact.
--   lua5.4 examples/multi_echo_client.lua [path [clients [lines [quit]]]]
-- Defaults: /tmp/docode.sock, 10 clients, 3 lines each. With "quit" as
-- the fourth argument, one more connection then stops the server.
local here = arg[0]:gsub("[^/]*$", "")
-- Run after `make`: the module is found in build/ beside examples/ (or in
-- $UXSOCK_BUILD, a directory of the repository, as the specs set it).
local build = here .. "../" .. (os.getenv("UXSOCK_BUILD") or "build")
package.cpath = build .. "/?.so;" .. package.cpath
package.path = here .. "../lua/?.lua;" .. package.path
local loop = require("uxsock.loop")

local path = arg[1] or "/tmp/docode.sock"
local nclients = tonumber(arg[2]) or 10
local nlines = tonumber(arg[3]) or 3
local quit = arg[4] == "quit"

local echoed = 0

local function client(i)
  local conn <close> = assert(loop.connect(path, { timeout = 10 }))
  for k = 1, nlines do
    -- lines of different lengths, each telling its client and number
    local line = string.format("client %d line %d ", i, k)
    line = line .. ("."):rep((i * 131 + k * 17) % 2000)
    assert(conn:sendall(line .. "\n"))
    local reply = assert(conn:read("l"))
    assert(reply == line, string.format("client %d line %d came back changed", i, k))
    echoed = echoed + 1
  end
end

for i = 1, nclients do loop.spawn(client, i) end
assert(loop.run(60))
print(string.format("%d clients, %d lines echoed intact", nclients, echoed))

if quit then
  local conn <close> = assert(loop.connect(path, { timeout = 10 }))
  assert(conn:sendall("quit\n"))
end
