-- Passing an open file to another process: the parent opens a file and
-- listens on a socket; a child process (this script again, with "child")
-- connects, receives the open file with recvfds and reads it. The child
-- never opens the file by name: it reads through the parent's descriptor.
--   lua5.4 examples/fd_passing.lua [file]      (default: this script)
-- It runs on every Lua uxsock supports, so it closes handles by hand.
-- Run after `make`: the module is found in build/ beside examples/ (or in
-- $UXSOCK_BUILD, a directory of the repository, as the specs set it).
local build = arg[0]:gsub("[^/]*$", "") .. "../" .. (os.getenv("UXSOCK_BUILD") or "build")
package.cpath = build .. "/?.so;" .. package.cpath
local uxsock = require("uxsock")

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

if arg[1] == "child" then
  local conn = assert(uxsock.connect(arg[2], { timeout = 10 }))
  local data, fds = assert(conn:recvfds())
  local file = fds[1]
  print(string.format("child: got %q and a %s", data, io.type(file) or type(file)))
  local first = file:read("*l")
  local rest = file:read("*a")
  file:close()
  print(string.format("child: its first line is %q", first))
  assert(conn:sendall(string.format("read %d bytes", #first + 1 + #rest)))
  conn:close()
  os.exit(0)
end

local name = arg[1] or arg[0]
local path = os.tmpname()
os.remove(path)  -- the name is ours; the socket file takes its place

local server = assert(uxsock.listen(path, { timeout = 10 }))
-- arg[-1] is the Lua that runs this script; the child inherits the
-- environment, so it finds the module the same way
local child = assert(io.popen(table.concat({ q(arg[-1]), q(arg[0]), "child", q(path) }, " ")))
local conn = assert(server:accept())
server:close()  -- removes the socket file

local file = assert(io.open(name, "rb"))
assert(conn:sendfds("here is " .. name, { file }))
file:close()  -- the child holds its own copy now
print("parent: sent an open file, " .. name .. ", and closed it")

local reply = assert(conn:read("a"))
conn:close()
io.write(child:read("*a"))
child:close()
print("parent: the child says: " .. reply)
