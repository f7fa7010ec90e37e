-- The examples as real processes: against each other, and against the
-- tutorial's Python server and client (examples/tutorial/).
local h = require("helpers")

local PYTHON = os.getenv("PYTHON") or "python3"

-- The examples are Lua 5.4 programs (they use <close>) that load the 5.4
-- build, build/uxsock.so: they run when the suite runs on Lua 5.4, and
-- are reported skipped on the other versions.
local LUA54 = _VERSION == "Lua 5.4"
local function it54(name, fn)
  if LUA54 then
    it(name, fn)
  else
    pending(name .. ": needs Lua 5.4: the examples are Lua 5.4 programs")
  end
end

-- the tutorial's script with its fixed path replaced by ours
local function tutorial(name, path)
  local code = assert(h.readfile("examples/tutorial/" .. name))
  assert.truthy(code:find("/tmp/docode.sock", 1, true))
  local file = h.tmpdir() .. "/" .. name
  h.writefile(file, (code:gsub("/tmp/docode%.sock", path)))
  return PYTHON .. " " .. h.q(file)
end

local function example(name, path)
  return h.LUA .. " " .. h.q("examples/" .. name) .. " " .. h.q(path)
end

-- starts a server, waits for its socket file, runs the client
local function exchange(server_cmd, client_cmd, path)
  local server = h.spawn(server_cmd)
  assert.is_true(h.waitfor(path, 20), "the server did not create " .. path)
  local client_out, how, code = h.run(client_cmd)
  local server_out, rc = server:wait(20)
  return client_out, how, code, server_out, rc
end

describe("examples", function()
  lazy_teardown(h.cleanup)

  local SERVED_LUA = 'Got connection with message: "Hello, docode!"\n' ..
                     'Got connection with message: ""\n'
  local SERVED_PY = "Got connection with message: b'Hello, docode!'\n" ..
                    "Got connection with message: b''\n"
  local GOT_LUA, GOT_PY = 'Received "Hello, docode!"\n', "Received b'Hello, docode!'\n"
  -- server, client, what each prints, whether the server removes its file
  local pairs_to_run = {
    { "the Lua echo client and server talk",
      example, "echo_server.lua", example, "echo_client.lua", GOT_LUA, SERVED_LUA, true },
    { "the Lua echo server serves the tutorial's Python client",
      example, "echo_server.lua", tutorial, "client.py", GOT_PY, SERVED_LUA, true },
    { "the Lua echo client works against the tutorial's Python server",
      tutorial, "server.py", example, "echo_client.lua", GOT_LUA, SERVED_PY, false },
  }
  for _, t in ipairs(pairs_to_run) do
    local name, server, sname, client, cname, client_says, server_says, removes = h.unpack(t)
    it54(name, function()
      local path = h.sockpath("echo")
      local cout, how, code, sout, rc = exchange(server(sname, path), client(cname, path), path)
      assert.same({ "exit", 0 }, { how, code }, cout)
      assert.equal(client_says, cout)
      assert.equal(0, rc)
      assert.equal(server_says, sout)
      if removes then assert.is_nil(h.filetype(path)) end
    end)
  end

  it54("the datagram client and server exchange one message", function()
    local path = h.sockpath("dgram")
    local cout, how, code, sout, rc = exchange(example("datagram_server.lua", path),
                                               example("datagram_client.lua", path), path)
    assert.same({ "exit", 0 }, { how, code })
    assert.equal(string.format('Received "Hello, docode!" from %q\n', path), cout)
    assert.equal(0, rc)
    assert.matches('^Got datagram from "@%x+" with message: "Hello, docode!"\n$', sout)
    assert.is_nil(h.filetype(path))
  end)

  it54("a server stopped with SIGINT removes its socket file", function()
    for _, name in ipairs({ "echo_server.lua", "datagram_server.lua" }) do
      local path = h.sockpath("sigint")
      local server = h.spawn(example(name, path))
      assert.is_true(h.waitfor(path, 20))
      server:kill("INT")
      local out, rc = server:wait(20)
      assert.is_not_nil(rc, server:describe())
      assert.matches("interrupted", out)
      assert.is_true(rc ~= 0)
      assert.is_nil(h.filetype(path), name .. " left " .. path)
    end
  end)

  it54("make demo runs both exchanges", function()
    local out, how, code = h.make("demo")
    assert.same({ "exit", 0 }, { how, code }, out)
    assert.matches('Received "Hello, docode!"', out, 1, true)
    assert.matches("both servers removed their socket files", out, 1, true)
  end)
end)
