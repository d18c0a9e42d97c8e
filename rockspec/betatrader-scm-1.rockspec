rockspec_format = "3.0"
package = "betatrader"
version = "scm-1"
source = {
   url = "git+file://.",
}
description = {
   summary = "BetaTrader client authentication and FIX 4.4 session module for Lua 5.4",
   detailed = [[
      Registration over the exchange's REST API (libcurl), FIX 4.4 logon and
      UserRequest authentication over TCP or TLS (OpenSSL), one state machine
      that unifies both, and a coroutine-friendly API (op:await()).
      Ships betatrader-exchange, a local exchange for quickstarts and tests.
   ]],
   license = "MIT",
   labels = { "fix", "trading", "authentication" },
}
dependencies = {
   "lua >= 5.4",
   "lua-cjson",
}
build_dependencies = {}
external_dependencies = {
   -- Debian puts curl.h under the multiarch include dir, which LuaRocks does
   -- not search; CMake finds it, so only the library is checked here.
   CURL = { library = "curl" },
   OPENSSL = { header = "openssl/ssl.h", library = "ssl" },
   JANSSON = { header = "jansson.h", library = "jansson" },
   EXPAT = { header = "expat.h", library = "expat" },
   DEFLATE = { header = "libdeflate.h", library = "deflate" },
   MICROHTTPD = { header = "microhttpd.h", library = "microhttpd" },
   SQLITE = { header = "sqlite3.h", library = "sqlite3" },
}
build = {
   type = "cmake",
   variables = {
      CMAKE_BUILD_TYPE = "Release",
      CMAKE_INSTALL_PREFIX = "$(PREFIX)",
      LUADIR = "$(LUADIR)",
      LIBDIR = "$(LIBDIR)",
      BINDIR = "$(BINDIR)",
      LUA_INCDIR = "$(LUA_INCDIR)",
      BT_TESTS = "OFF",
   },
}
test_dependencies = {
   "busted",
   "cqueues",
}
test = {
   type = "busted",
}
