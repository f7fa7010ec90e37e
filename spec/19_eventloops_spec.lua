-- uxsock handles driven by event loops other than uxsock.loop: cqueues
-- (cqueues.poll on an object with pollfd and events), luv (uv.new_poll on
-- the descriptor), a plain coroutine scheduler over uxsock.poll, and a
-- cqueues controller hosted by uxsock.loop. doc/eventloops.md shows the
-- same patterns. The pattern is the same everywhere: settimeout(0), try
-- the call, and on EAGAIN wait for the descriptor with the loop's own
-- primitive. Needs the Debian packages lua-cqueues and lua-luv.
local helpers = require("helpers")
local uxsock = require("uxsock")

local N = 20  -- clients in each test

-- what client i sends as message k: sizes from 1 byte to 100 KB
local function message(i, k)
  local unit = string.format("[%d:%d]", i, k)
  local n = ({ 1, 700, 100000, 33 })[(i + k) % 4 + 1]
  return unit:rep(math.ceil(n / #unit)):sub(1, n)
end

-- client i's part, the same over every loop: each of its 4 messages goes
-- out and must come back whole; roundtrip(m) does both with the loop's
-- own primitives and returns what came back
local function converse(i, roundtrip)
  for k = 1, 4 do
    local m = message(i, k)
    assert(roundtrip(m) == m, "client " .. i .. " message " .. k .. " differs")
  end
end

-- needs a module the machine must have: a clear failure if it is missing
local function need(name, package)
  local ok, m = pcall(require, name)
  assert(ok, name .. " is missing: apt-get install " .. package)
  return m
end

describe("event loops", function()
  after_each(helpers.close_tracked)
  lazy_teardown(helpers.cleanup)

  describe("cqueues", function()
    -- calls h[method] until it does not block, letting other cqueues
    -- coroutines run meanwhile: cqueues.poll takes any object with
    -- pollfd and events (a bare number would be a timeout)
    local function cqcall(cqueues, h, method, dir, ...)
      while true do
        local r, msg, code, extra = h[method](h, ...)
        if r ~= nil or code ~= uxsock.EAGAIN then return r, msg, code, extra end
        cqueues.poll({ pollfd = h:getfd(), events = dir })
      end
    end

    -- sendall in pieces: with timeout 0 it sends what fits, then EAGAIN
    -- and the index of the last byte sent
    local function cqsendall(cqueues, h, data)
      local last = 0
      while true do
        local n, msg, code, sent = h:sendall(data, last + 1)
        if n or code ~= uxsock.EAGAIN then return n, msg, code end
        last = sent
        cqueues.poll({ pollfd = h:getfd(), events = "w" })
      end
    end

    it("serves concurrent clients with non-blocking handles", function()
      local cqueues = need("cqueues", "lua-cqueues")
      local cq = cqueues.new()
      collectgarbage("collect")
      local before = helpers.fdcount()
      local path = helpers.sockpath("cq")
      local l = assert(uxsock.listen(path))
      l:settimeout(0)
      local verified = 0
      cq:wrap(function()
        for _ = 1, N do
          local c = assert(cqcall(cqueues, l, "accept", "r"))
          c:settimeout(0)
          cq:wrap(function()
            while true do
              local d, msg, code = cqcall(cqueues, c, "recv", "r")
              if not d then assert(code == uxsock.EOF, msg) break end
              assert(cqsendall(cqueues, c, d))
            end
            cqueues.cancel(c:getfd())  -- before the close: cqueues forgets it
            c:close()
          end)
        end
        cqueues.cancel(l:getfd())
        l:close()
      end)
      for i = 1, N do
        cq:wrap(function()
          local c = assert(uxsock.connect(path))
          c:settimeout(0)
          converse(i, function(m)
            assert(cqsendall(cqueues, c, m))
            return assert(cqcall(cqueues, c, "read", "r", #m))
          end)
          cqueues.cancel(c:getfd())
          c:close()
          verified = verified + 1
        end)
      end
      assert(cq:loop(30))
      assert.is_true(cq:empty())
      assert.are.equal(N, verified)
      assert.are.equal(before, helpers.fdcount())
    end)

    it("times a wait out with cqueues.poll's timeout", function()
      local cqueues = need("cqueues", "lua-cqueues")
      local a, b = helpers.track(uxsock.socketpair())
      b:settimeout(0)
      local cq = cqueues.new()
      local res, dt
      local pollable = { pollfd = b:getfd(), events = "r" }
      cq:wrap(function()
        local t0 = cqueues.monotime()
        res = cqueues.poll(pollable, 0.1)  -- the ready objects
        dt = cqueues.monotime() - t0
        cqueues.cancel(b:getfd())
      end)
      assert(cq:loop(5))
      assert.are_not.equal(pollable, res)  -- it did not become ready
      assert.is_true(dt >= 0.08 and dt < 1, "took " .. dt)
      assert.is_truthy(a)
    end)

    it("runs inside uxsock.loop: the controller's pollfd joins the loop", function()
      local cqueues = need("cqueues", "lua-cqueues")
      local loop = require("uxsock.loop")
      loop.reset()
      local cq = cqueues.new()
      local order = {}
      local a, b = helpers.track(uxsock.socketpair())
      b:settimeout(0)
      cq:wrap(function()
        cqueues.sleep(0.05)
        order[#order + 1] = "cqueues"
        cqueues.poll({ pollfd = b:getfd(), events = "r" })
        order[#order + 1] = assert(b:recv())
        cqueues.cancel(b:getfd())
      end)
      -- one uxsock.loop task steps the controller whenever it has work
      loop.spawn(function()
        while not cq:empty() do
          loop.wait(cq:pollfd(), "r", cq:timeout())
          assert(cq:step(0))
        end
      end)
      loop.spawn(function()
        loop.sleep(0.02)
        order[#order + 1] = "loop"
        loop.sleep(0.1)
        a:send("from a loop task")
      end)
      assert(loop.run(5))
      assert.are.same({ "loop", "cqueues", "from a loop task" }, order)
    end)
  end)

  describe("luv", function()
    it("serves concurrent clients with uv.new_poll on the descriptors", function()
      local uv = need("luv", "lua-luv")
      collectgarbage("collect")
      local before = helpers.fdcount()
      local path = helpers.sockpath("uv")
      local l = assert(uxsock.listen(path))
      l:settimeout(0)
      local accepted, verified = 0, 0

      -- the server in callback style: a poll handle per descriptor
      local function serve(c)
        c:settimeout(0)
        local watch = uv.new_poll(c:getfd())
        watch:start("r", function(err)
          assert(not err, err)
          local d, msg, code = c:recv()
          if d then
            -- a short reply: a blocking sendall is simplest (a long one
            -- would keep the data and watch for "w")
            c:settimeout(5)
            assert(c:sendall(d))
            c:settimeout(0)
          elseif code ~= uxsock.EAGAIN then
            assert(code == uxsock.EOF, msg)
            watch:stop()
            watch:close()
            c:close()
          end
        end)
      end
      local lwatch = uv.new_poll(l:getfd())
      lwatch:start("r", function()
        local c = l:accept()
        if not c then return end
        accepted = accepted + 1
        serve(c)
        if accepted == N then
          lwatch:stop()
          lwatch:close()
          l:close()
        end
      end)

      -- the clients in coroutine style: a wait resumes from a callback
      local function uvwait(h, dir)
        local co = coroutine.running()
        local w = uv.new_poll(h:getfd())
        w:start(dir, function(err, ev)
          w:stop()
          w:close()
          assert(coroutine.resume(co, err or ev))
        end)
        return coroutine.yield()
      end
      local function uvcall(h, method, dir, ...)
        while true do
          local r, msg, code = h[method](h, ...)
          if r ~= nil or code ~= uxsock.EAGAIN then return r, msg, code end
          uvwait(h, dir)
        end
      end
      for i = 1, N do
        local co = coroutine.create(function()
          local c = assert(uxsock.connect(path))
          c:settimeout(0)
          converse(i, function(m)
            local sent = 0
            while sent < #m do
              local n = uvcall(c, "send", "w", m, sent + 1)
              sent = sent + assert(n)
            end
            return assert(uvcall(c, "read", "r", #m))
          end)
          c:close()
          verified = verified + 1
        end)
        assert(coroutine.resume(co))
      end
      uv.run()  -- until no handle is left
      assert.are.equal(N, accepted)
      assert.are.equal(N, verified)
      assert.are.equal(before, helpers.fdcount())
      assert.is_nil(helpers.filetype(path))
    end)
  end)

  describe("copas", function()
    -- Copas 1.x waits for LuaSocket objects through socket.select, which
    -- calls getfd and dirty: a handle joins behind this adapter, which
    -- speaks LuaSocket's conventions ("timeout", "closed", last index)
    local function luasocketlike(h)
      h:settimeout(0)
      local o = {}
      -- Copas 1.x cannot drop a server: a closed one is -1, which
      -- socket.select skips
      function o.getfd() return h:isclosed() and -1 or h:getfd() end
      function o.dirty() return false end
      function o.settimeout() return 1 end
      function o.close() return h:close() end
      function o.accept()
        local c = h:accept()
        return c and luasocketlike(c)
      end
      -- a read cut short keeps its bytes in h: 'part' is always ""
      function o.receive(_, pattern)
        local fmt = pattern or "l"
        if type(fmt) == "string" then fmt = fmt:gsub("^%*", "") end
        local r, msg, code = h:read(fmt)
        if r then return r end
        if code == uxsock.EAGAIN then return nil, "timeout", "" end
        if code == uxsock.EOF then return nil, "closed", "" end
        return nil, msg, ""
      end
      function o.send(_, data, i, j)  -- sendall gives LuaSocket's indices
        local last, msg, code, sent = h:sendall(data, i, j)
        if last then return last end
        return nil, code == uxsock.EAGAIN and "timeout" or msg, sent
      end
      return o
    end

    local ok, copas = pcall(require, "copas")
    if not ok and (_VERSION == "Lua 5.3" or _VERSION == "Lua 5.4") then
      pending("copas: Debian's lua-copas (Copas 1.x) is for Lua 5.1, 5.2 and LuaJIT")
      return
    end

    it("serves concurrent clients through a LuaSocket-like adapter", function()
      assert(ok, "copas is missing: apt-get install lua-copas")
      collectgarbage("collect")
      local before = helpers.fdcount()
      local path = helpers.sockpath("copas")
      local l = luasocketlike(assert(uxsock.listen(path)))
      local served, verified = 0, 0
      copas.addserver(l, function(c)
        while true do
          local line, err = copas.receive(c, "*l")
          if not line then assert(err == "closed", err) break end
          assert(copas.send(c, line .. "\n"))
        end
        c:close()
        served = served + 1
      end)
      for i = 1, N do
        copas.addthread(function()
          local c = luasocketlike(assert(uxsock.connect(path)))
          converse(i, function(m)
            assert(copas.send(c, m .. "\n"))
            return assert(copas.receive(c, "*l"))
          end)
          c:close()
          verified = verified + 1
        end)
      end
      local t0 = os.time()
      while served < N and os.time() - t0 < 30 do copas.step(0.1) end
      assert.are.equal(N, verified)
      assert.are.equal(N, served)
      l:close()
      assert.are.equal(before, helpers.fdcount())
    end)
  end)

  describe("a plain coroutine scheduler over uxsock.poll", function()
    -- the whole scheduler: coroutines yield (object, "r" or "w") to wait
    local function scheduler()
      local s, ready, waiting = {}, {}, {}
      function s.spawn(fn, ...)
        local args = helpers.pack(...)
        ready[#ready + 1] = coroutine.create(function() fn(helpers.unpack(args, 1, args.n)) end)
      end
      function s.call(h, method, dir, ...)
        while true do
          local r, msg, code, extra = h[method](h, ...)
          if r ~= nil or code ~= uxsock.EAGAIN then return r, msg, code, extra end
          coroutine.yield(h, dir)
        end
      end
      function s.run(timeout)
        while #ready > 0 or #waiting > 0 do
          local now = ready
          ready = {}
          for _, co in ipairs(now) do
            local ok, h, dir = coroutine.resume(co)
            assert(ok, h)
            if coroutine.status(co) ~= "dead" then
              waiting[#waiting + 1] = { h, dir, co = co }
            end
          end
          if #waiting > 0 then
            local got, n = assert(uxsock.poll(waiting, #ready > 0 and 0 or timeout))
            assert(n > 0 or #ready > 0, "nothing became ready in time")
            local still = {}
            for _, w in ipairs(waiting) do
              local letters = got[w[1]]
              if letters and (letters:find(w[2], 1, true) or letters:find("[he]")) then
                ready[#ready + 1] = w.co
              else
                still[#still + 1] = w
              end
            end
            waiting = still
          end
        end
      end
      return s
    end

    it("serves concurrent clients", function()
      local s = scheduler()
      local before = helpers.fdcount()
      local path = helpers.sockpath("plain")
      local l = assert(uxsock.listen(path))
      l:settimeout(0)
      local verified = 0
      s.spawn(function()
        for _ = 1, N do
          local c = assert(s.call(l, "accept", "r"))
          c:settimeout(0)
          s.spawn(function()
            while true do
              local line, msg, code = s.call(c, "read", "r", "L")
              if not line then assert(code == uxsock.EOF, msg) break end
              local sent = 0
              while sent < #line do
                sent = sent + assert(s.call(c, "send", "w", line, sent + 1))
              end
            end
            c:close()
          end)
        end
        l:close()
      end)
      for i = 1, N do
        s.spawn(function()
          local c = assert(uxsock.connect(path))
          c:settimeout(0)
          converse(i, function(m)
            local line = m .. "\n"
            local sent = 0
            while sent < #line do
              sent = sent + assert(s.call(c, "send", "w", line, sent + 1))
            end
            -- the echo, whose newline must be there too
            return assert(s.call(c, "read", "r", "L")):match("^(.*)\n$")
          end)
          c:close()
          verified = verified + 1
        end)
      end
      s.run(10)
      assert.are.equal(N, verified)
      assert.are.equal(before, helpers.fdcount())
    end)
  end)
end)
