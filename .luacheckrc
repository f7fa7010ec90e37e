-- luacheck settings: lua/ spec/ examples/
std = "lua54"
max_line_length = 100
files["spec/"] = { std = "+busted" }
exclude_files = { "lua_modules/", ".luarocks/" }
color = false
