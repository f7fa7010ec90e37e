-- luacheck settings: lua/ spec/ examples/ doc/ bench/ tests/ fuzz/
std = "lua54"
max_line_length = 100
-- the specs run on every Lua (5.1 to 5.4, LuaJIT): "max" is the union of
-- their globals; what only 5.4 can parse lives in spec/lua54/
files["spec/"] = { std = "max+busted" }
files["spec/lua54/"] = { std = "lua54+busted" }
-- the test and fuzz scripts run on every Lua too; oom.lua runs inside
-- tests/oomhost.c, which gives it the global oom
files["tests/"] = { std = "max" }
files["fuzz/"] = { std = "max" }
files["tests/oom.lua"] = { std = "max", read_globals = { "oom" } }
exclude_files = { "lua_modules/", ".luarocks/" }
color = false
-- a to-be-closed local named _x is there to be closed, not to be read
ignore = { "211/_.*" }
