-- A server that serves only its own user: the socket file is open to
-- everyone (mode 0666), and each connection is checked with peercred(),
-- the peer's uid as the kernel saw it at connect time, which no client can
-- forge. Others get one line, "denied", and are hung up on. Its own user's
-- clients get their lines echoed in upper case.
--   lua5.4 examples/authorized_server.lua [path [clients]]
-- (default /tmp/authorized.sock; with 'clients' it exits after that many)
-- Run after `make`: the module is found in build/ beside examples/ (or in
-- $UXSOCK_BUILD, a directory of the repository, as the specs set it).
local build = arg[0]:gsub("[^/]*$", "") .. "../" .. (os.getenv("UXSOCK_BUILD") or "build")
package.cpath = build .. "/?.so;" .. package.cpath
local uxsock = require("uxsock")

local path = arg[1] or "/tmp/authorized.sock"
local clients = tonumber(arg[2])

-- this process's uid, as peercred tells it: ask a socketpair of our own
local function myuid()
  local a, b = assert(uxsock.socketpair())
  local _, uid = assert(a:peercred())
  a:close()
  b:close()
  return uid
end
local me = myuid()

local server <close> = assert(uxsock.listen(path, { mode = tonumber("666", 8) }))
print(string.format("serving uid %d on %s", me, path))
io.stdout:flush()

local served = 0
while not clients or served < clients do
  local conn <close> = assert(server:accept())
  local pid, uid = conn:peercred()
  served = served + 1
  if uid ~= me then
    print(string.format("refused pid %s uid %s", pid, uid))
    conn:sendall("denied\n")
  else
    print(string.format("serving pid %d", pid))
    conn:settimeout(10)  -- a client that goes quiet is let go
    while true do
      local line, err, code = conn:read("l")
      if not line then
        if code ~= uxsock.EOF then print("client: " .. err) end
        break
      end
      if not conn:sendall(line:upper() .. "\n") then break end
    end
  end
  io.stdout:flush()
end
