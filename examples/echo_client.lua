-- The tutorial's client.py in Lua: connect, send a greeting, print the reply.
--   lua5.4 examples/echo_client.lua [path]      (default /tmp/docode.sock)
-- Run after `make`: the module is found in build/ beside examples/ (or in
-- $UXSOCK_BUILD, a directory of the repository, as the specs set it).
local build = arg[0]:gsub("[^/]*$", "") .. "../" .. (os.getenv("UXSOCK_BUILD") or "build")
package.cpath = build .. "/?.so;" .. package.cpath
local uxsock = require("uxsock")

local path = arg[1] or "/tmp/docode.sock"
local data
do
  local sock <close> = assert(uxsock.connect(path, { timeout = 10 }))
  assert(sock:sendall("Hello, docode!"))
  data = assert(sock:recv(1024))
end  -- the socket is closed here, as when Python's `with` block ends

print(string.format("Received %q", data))
