-- busted output handler: the plain terminal report, then one closing line
-- "N passed, N failed" (", N skipped" and the reasons when tests were skipped).
-- It also owns the suite's child processes (spec/children.lua): every job
-- a test started is killed and reaped when the test ends, and a process of
-- this run still alive when the specs end fails the run, by name; each
-- spec file's temporary directories are removed when it ends.
return function(options)
  local busted = require("busted")
  local children = require("children")
  local handler = require("busted.outputHandlers.plainTerminal")(options)
  busted.subscribe({ "test", "end" }, function()
    children.stop_all()
    return nil, true
  end)
  busted.subscribe({ "file", "end" }, function()
    children.file_ended()
    return nil, true
  end)
  busted.subscribe({ "suite", "end" }, function()
    children.stop_all()
    local left = children.end_of_run()
    local failed = handler.failuresCount + handler.errorsCount
    if left > 0 then failed = failed + 1 end
    local line = string.format("%d passed, %d failed", handler.successesCount, failed)
    if handler.pendingsCount > 0 then
      for _, p in ipairs(handler.pendings) do
        print("skipped: " .. p.name .. (p.message and (": " .. p.message) or ""))
      end
      line = line .. string.format(", %d skipped", handler.pendingsCount)
    end
    print(line)
    io.stdout:flush()
    if left > 0 then os.exit(1) end  -- busted's own exit counts only specs
    return nil, true
  end)
  return handler
end
