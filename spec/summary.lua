-- busted output handler: the plain terminal report, then one closing line
-- "N passed, N failed" (", N skipped" and the reasons when tests were skipped).
return function(options)
  local busted = require("busted")
  local handler = require("busted.outputHandlers.plainTerminal")(options)
  busted.subscribe({ "suite", "end" }, function()
    local line = string.format("%d passed, %d failed", handler.successesCount,
                               handler.failuresCount + handler.errorsCount)
    if handler.pendingsCount > 0 then
      for _, p in ipairs(handler.pendings) do
        print("skipped: " .. p.name .. (p.message and (": " .. p.message) or ""))
      end
      line = line .. string.format(", %d skipped", handler.pendingsCount)
    end
    print(line)
    io.stdout:flush()
    return nil, true
  end)
  return handler
end
