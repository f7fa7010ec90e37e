-- LDoc filter: writes the README's API reference as Markdown, from the
-- same doc comments in src/*.c that `make docs` renders as HTML.
--   ldoc --filter doc.readme.markdown .      (see config.ld, make docs)
-- Each section (the module, then each @type) becomes a heading, its
-- description, and a table: the call, what it returns, what it gives at
-- end of stream (@eof) and on failure (@fail). The text replaces what
-- stands between the two markers in $UXSOCK_README (default README.md).
local M = {}

local BEGIN = "<!-- api:begin: make docs writes this part from the doc comments in src/ -->\n"
local END = "<!-- api:end -->"

-- module functions in the order a reader meets them
local ORDER = { listen = 1, connect = 2, datagram = 3, socketpair = 4, buffer = 5,
                poll = 6, poller = 7, fromfd = 8, fdopen = 9, closefd = 10,
                type = 11, with = 12, monotime = 13, _VERSION = 14 }

-- sections in reading order, with the variable name the calls use
local SECTIONS = {
  { name = "uxsock", var = "uxsock." },
  { name = "handle", var = "h:" },
  { name = "listener", var = "l:" },
  { name = "stream", var = "s:" },
  { name = "seqpacket", var = "q:" },
  { name = "datagram", var = "d:" },
  { name = "buffer", var = "buf:" },
  { name = "poller", var = "p:" },
}

local function oneline(s)
  s = (s or ""):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
  return (s:gsub("|", "\\|"))
end

local function section_of(item)
  if item.kind == "functions" or item.kind == "fields" then return "uxsock" end
  return (item.kind:gsub("^class ", ""):gsub("%s+$", ""))
end

local function call(item, var)
  local name = item.name:gsub("^[%w_]+[:.]", "")
  if item.type == "field" then return "`" .. var .. name .. "`" end
  if name == "__tostring" then return "`tostring(" .. var:sub(1, -2) .. ")`" end
  if name == "__close" then return "`__close`, `__gc`" end
  local args = (item.args or "()"):gsub("%[, ", " [, ")
  return "`" .. var .. name .. args .. "`"
end

local function cell(list)
  local parts = {}
  for _, s in ipairs(list or {}) do parts[#parts + 1] = oneline(s) end
  return table.concat(parts, "; ")
end

local function replace_between_markers(path, text)
  local f = assert(io.open(path, "rb"))
  local doc = f:read("*a")
  f:close()
  local b = assert(doc:find(BEGIN, 1, true), "no api:begin marker in " .. path)
  local e = assert(doc:find(END, b, true), "no api:end marker in " .. path)
  f = assert(io.open(path, "wb"))
  f:write(doc:sub(1, b - 1), BEGIN, "\n", text, "\n", doc:sub(e))
  f:close()
end

function M.markdown(module_list)
  local out = {}
  local function put(s) out[#out + 1] = s end
  for mod in module_list:iter() do
    local groups, info = {}, {}
    for item in mod.items:iter() do
      local sec = section_of(item)
      groups[sec] = groups[sec] or {}
      table.insert(groups[sec], item)
    end
    for sec in (mod.sections and mod.sections:iter() or function() end) do
      info[sec.name] = sec
    end
    for _, s in ipairs(SECTIONS) do
      local items = groups[s.name]
      if items and s.name == "uxsock" then
        for i, item in ipairs(items) do item.pos = i end
        table.sort(items, function(a, b)
          return (ORDER[a.name] or 99 + a.pos) < (ORDER[b.name] or 99 + b.pos)
        end)
      end
      if items then
        local head = s.name == "uxsock" and { summary = "Module", description = mod.description }
                     or info[s.name] or { summary = s.name }
        put("### " .. oneline(head.summary):gsub("%.$", ""))
        put("")
        local desc = oneline(head.description)
        if desc ~= "" then put(desc); put("") end
        put("| call | returns | at end of stream | on failure |")
        put("|---|---|---|---|")
        for _, item in ipairs(items) do
          local returns = oneline(item.summary .. " " .. (item.description or ""))
          local ret = cell(item.ret)
          if ret ~= "" then returns = returns .. " Returns " .. ret .. "." end
          put(string.format("| %s | %s | %s | %s |", call(item, s.var), returns,
            cell(item.tags and item.tags.eof), cell(item.tags and item.tags.fail)))
        end
        put("")
      end
    end
  end
  replace_between_markers(os.getenv("UXSOCK_README") or "README.md",
                          (table.concat(out, "\n"):gsub("\n+$", "\n")))
end

return M
