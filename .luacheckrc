-- luacheck settings: lua/ spec/ examples/
std = "lua54"
max_line_length = 100
files["spec/"] = { std = "+busted" }
exclude_files = { "lua_modules/", ".luarocks/" }
color = false
-- a to-be-closed local named _x is there to be closed, not to be read
ignore = { "211/_.*" }
