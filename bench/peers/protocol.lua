-- What the Lua peers share of the protocol (bench/README.md): the command
-- line, "unsupported", the result line and how a run ends. Each peer
-- loads it with dofile beside itself.
local protocol = {}

-- role, workload, path, count, size from arg; exits 2 with a usage line
-- when they are not what the protocol says
function protocol.args(name)
  local role, workload, path = arg[1], arg[2], arg[3]
  local count, size = math.tointeger(tonumber(arg[4])), math.tointeger(tonumber(arg[5]))
  if (role ~= "server" and role ~= "client") or not workload or not path
    or not count or count < 0 or not size or size < 0
    or (size == 0 and workload ~= "connect" and not workload:match("^dgram")) then
    io.stderr:write("usage: ", name, ".lua server|client WORKLOAD PATH COUNT SIZE\n")
    os.exit(2)
  end
  return role, workload, path, count, size
end

function protocol.unsupported(why)
  io.stdout:write("unsupported: ", why, "\n")
  os.exit(3)
end

-- the client's one line
function protocol.result(name, workload, count, size, seconds, extra)
  io.stdout:write(string.format("result peer=%s workload=%s count=%d size=%d seconds=%.6f%s\n",
                                name, workload, count, size, seconds, extra or ""))
end

-- ends the run of fn: removes this side's socket file, reports a failure
-- (exit 1) or, for a client, the result line with 'extra' fields
function protocol.finish(name, role, workload, path, count, size, ok, res, extra)
  os.remove(role == "server" and path or path .. ".c")
  if not ok then
    io.stderr:write("error: ", tostring(res), "\n")
    os.exit(1)
  end
  if role == "client" then protocol.result(name, workload, count, size, res, extra) end
  os.exit(0)
end

return protocol
