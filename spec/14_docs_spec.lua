-- The reference: README's API section is what `make docs` writes from the
-- doc comments in src/ (never edited by hand, never stale), LDoc renders
-- the same comments as HTML, and every function the module has is there.
local h = require("helpers")
local uxsock = require("uxsock")

local README = assert(h.readfile("README.md"))

-- the README's reference part, between the markers doc/readme.lua uses
local function api_section(text)
  return text:match("<!%-%- api:begin.-%-%->\n(.-)<!%-%- api:end %-%->")
end

-- the method names of a handle's metatable
local function methods(handle)
  local names = {}
  for name in pairs(getmetatable(handle).__index) do names[#names + 1] = name end
  table.sort(names)
  return names
end

describe("the API reference", function()
  lazy_teardown(h.cleanup)

  it("README's API section is exactly what the doc comments give", function()
    local copy = h.tmpdir() .. "/README.md"
    -- an empty section between the markers, for the filter to fill
    local emptied = README:gsub("(<!%-%- api:begin.-%-%->\n).-(<!%-%- api:end %-%->)", "%1%2")
    assert.is_nil(api_section(emptied):find("|", 1, true))
    h.writefile(copy, emptied)
    local out, how, code = h.run("UXSOCK_README=" .. h.q(copy) ..
      " ldoc -q --filter doc.readme.markdown .")
    assert.same({ "exit", 0 }, { how, code }, out)
    assert.equal(README, h.readfile(copy), "README.md is stale: run make docs")
  end)

  it("LDoc renders the same comments as HTML", function()
    local dir = h.tmpdir()
    local out, how, code = h.run("ldoc -q -d " .. h.q(dir) .. " .")
    assert.same({ "exit", 0 }, { how, code }, out)
    local html = assert(h.readfile(dir .. "/index.html"))
    for _, name in ipairs({ "listen", "connect", "datagram", "socketpair", "with",
                            "stream:read", "datagram:recvfrom", "listener:accept" }) do
      assert.truthy(html:find(name, 1, true), name .. " is not in the HTML")
    end
  end)

  it("names every function and method the module has", function()
    local api = assert(api_section(README))
    for name, v in pairs(uxsock) do
      if type(v) == "function" then
        assert.truthy(api:find("`uxsock." .. name .. "(", 1, true), "uxsock." .. name)
      end
    end
    local common = {}
    local a, b = uxsock.socketpair()
    for _, name in ipairs(methods(a)) do
      common[name] = api:find("`h:" .. name .. "(", 1, true) ~= nil
    end
    local path = h.sockpath("doc")
    local kinds = {
      { "l", assert(uxsock.listen(path)) },
      { "s", a },
      { "q", (uxsock.socketpair("seqpacket")) },
      { "d", assert(uxsock.datagram()) },
    }
    for _, k in ipairs(kinds) do
      local var, handle = k[1], k[2]
      for _, name in ipairs(methods(handle)) do
        -- a method is in its kind's table, or in every handle's, or (for
        -- seqpacket, which shares them) in the stream's
        local found = common[name] or api:find("`" .. var .. ":" .. name .. "(", 1, true)
          or (var == "q" and api:find("`s:" .. name .. "(", 1, true))
        assert.truthy(found, var .. ":" .. name .. " is not in README's API reference")
      end
      handle:close()
    end
    b:close()
    -- and the poller's methods, and every function of uxsock.loop
    local p = uxsock.poller()
    if p then
      for _, name in ipairs(methods(p)) do
        assert.truthy(api:find("`p:" .. name .. "(", 1, true), "p:" .. name)
      end
      p:close()
    end
    for name, v in pairs(require("uxsock.loop")) do
      if type(v) == "function" then
        assert.truthy(README:find("`loop." .. name .. "(", 1, true), "loop." .. name)
      end
    end
  end)
end)
