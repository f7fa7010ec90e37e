-- The tutorial's server.py in Lua: accept one connection on a Unix stream
-- socket, echo what it sends until it hangs up, then exit.
--   lua5.4 examples/echo_server.lua [path]      (default /tmp/docode.sock)
-- Run after `make`: the module is found in build/ beside examples/ (or in
-- $UXSOCK_BUILD, a directory of the repository, as the specs set it).
local build = arg[0]:gsub("[^/]*$", "") .. "../" .. (os.getenv("UXSOCK_BUILD") or "build")
package.cpath = build .. "/?.so;" .. package.cpath
local uxsock = require("uxsock")

local path = arg[1] or "/tmp/docode.sock"

-- Waits in short slices: control returns to Lua between them, so Ctrl-C
-- raises an error that unwinds through the <close> handles below, and the
-- listener removes its socket file on the way out.
local function patiently(handle, method, ...)
  handle:settimeout(0.5)
  while true do
    local r, err, code = handle[method](handle, ...)
    if r or code ~= uxsock.ETIMEDOUT then return r, err, code end
  end
end

local sock <close> = assert(uxsock.listen(path))
local conn <close> = assert(patiently(sock, "accept"))
while true do
  local data, err, code = patiently(conn, "recv", 1024)
  if not data and code ~= uxsock.EOF then error(err) end
  print(string.format("Got connection with message: %q", data or ""))
  io.stdout:flush()
  if not data then break end
  assert(conn:sendall(data))
end
