-- Many clients at once in one process: uxsock.loop runs a task per
-- connection, each written as plain blocking code. Every line a client
-- sends comes back to it; a client that sends the line "quit" stops the
-- server once the connected clients have left.
--   lua5.4 examples/multi_echo_server.lua [path [clients]]
-- path defaults to /tmp/docode.sock; with a number of clients the server
-- ends after serving that many; uxsock.loop comes from lua/.
local here = arg[0]:gsub("[^/]*$", "")
-- Run after `make`: the module is found in build/ beside examples/ (or in
-- $UXSOCK_BUILD, a directory of the repository, as the specs set it).
local build = here .. "../" .. (os.getenv("UXSOCK_BUILD") or "build")
package.cpath = build .. "/?.so;" .. package.cpath
package.path = here .. "../lua/?.lua;" .. package.path
local uxsock = require("uxsock")
local loop = require("uxsock.loop")

local path = arg[1] or "/tmp/docode.sock"
local limit = tonumber(arg[2])

local server <close> = assert(loop.listen(path))
local served, active, stopping = 0, 0, false

-- one client: its lines come back until it hangs up
local function serve(conn)
  active = active + 1
  while true do
    local line, err, code = conn:read("L")
    if not line then
      if code ~= uxsock.EOF then print("client: " .. err) end
      break
    end
    if line == "quit\n" or line == "quit" then
      stopping = true
      server:close()  -- wakes the accepting task; the others finish
      break
    end
    local ok, serr = conn:sendall(line)
    if not ok then print("client: " .. serr) break end
  end
  conn:close()
  active = active - 1
end

loop.spawn(function ()
  while not stopping and not (limit and served >= limit) do
    local conn, err = server:accept()
    if not conn then
      if stopping then break end
      error(err)
    end
    served = served + 1
    loop.spawn(serve, conn)
  end
  server:close()
end)

-- in slices: between two, Ctrl-C raises here and unwinds through the
-- <close> listener, which removes its socket file
while true do
  local ok, err, code = loop.run(0.5)
  if ok then break end
  if code ~= uxsock.ETIMEDOUT then error(err) end
end
print(string.format("served %d clients", served))
