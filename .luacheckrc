-- luacheck settings: lua/ spec/ examples/
std = "lua54"
max_line_length = 100
-- the specs run on every Lua (5.1 to 5.4, LuaJIT): "max" is the union of
-- their globals; what only 5.4 can parse lives in spec/lua54/
files["spec/"] = { std = "max+busted" }
files["spec/lua54/"] = { std = "lua54+busted" }
exclude_files = { "lua_modules/", ".luarocks/" }
color = false
-- a to-be-closed local named _x is there to be closed, not to be read
ignore = { "211/_.*" }
