-- The echo client over datagrams: send one message, print the reply.
--   lua5.4 examples/datagram_client.lua [path]  (default /tmp/docode-dgram.sock)
-- Run after `make`: the module is found in build/ beside examples/ (or in
-- $UXSOCK_BUILD, a directory of the repository, as the specs set it).
local build = arg[0]:gsub("[^/]*$", "") .. "../" .. (os.getenv("UXSOCK_BUILD") or "build")
package.cpath = build .. "/?.so;" .. package.cpath
local uxsock = require("uxsock")

local path = arg[1] or "/tmp/docode-dgram.sock"

-- The server can only answer a socket with a name: Linux gives an unbound
-- socket a unique abstract one with autobind.
local sock <close> = assert(uxsock.datagram(nil, { autobind = true, timeout = 10 }))
assert(sock:sendto("Hello, docode!", path))
local data, sender = assert(sock:recvfrom())
print(string.format("Received %q from %q", data, sender))
