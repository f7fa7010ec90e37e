-- The echo server over datagrams: wait for one message on a bound datagram
-- socket, send it back to its sender, exit.
--   lua5.4 examples/datagram_server.lua [path]  (default /tmp/docode-dgram.sock)
-- Run after `make`: the module is found in build/ beside examples/ (or in
-- $UXSOCK_BUILD, a directory of the repository, as the specs set it).
local build = arg[0]:gsub("[^/]*$", "") .. "../" .. (os.getenv("UXSOCK_BUILD") or "build")
package.cpath = build .. "/?.so;" .. package.cpath
local uxsock = require("uxsock")

local path = arg[1] or "/tmp/docode-dgram.sock"

local sock <close> = assert(uxsock.datagram(path))
sock:settimeout(0.5)  -- slices of waiting, so that Ctrl-C can stop the loop
local data, sender, code
repeat  -- on failure, the second result is the message
  data, sender, code = sock:recvfrom()
  if not data and code ~= uxsock.ETIMEDOUT then error(sender) end
until data
print(string.format("Got datagram from %q with message: %q", sender, data))
if sender ~= "" then assert(sock:sendto(data, sender)) end
