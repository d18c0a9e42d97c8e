std = "lua54"
max_line_length = 110
exclude_files = { "build*/**", ".luarocks/**", "lua_modules/**" }
files["spec/**/*_spec.lua"] = { std = "+busted" }
files["examples/*_spec.lua"] = { std = "+busted" }
