rockspec_format = "3.0"
package = "betatrader-exchange"
version = "scm-1"
source = {
   url = "git+file://.",
}
description = {
   summary = "A local BetaTrader exchange and betatrader.testing, for quickstarts and specs",
   detailed = [[
      The betatrader-exchange command (REST registration over libmicrohttpd,
      accounts in SQLite, a FIX 4.4 acceptor and a matching engine) and
      betatrader.testing, which starts and scripts it from a spec, with its
      C helper betatrader.testing.process (spawn, kill, fork, waitpid).
      Not needed to trade: bots need only the betatrader rock.
   ]],
   license = "MIT",
   labels = { "fix", "trading", "testing" },
}
dependencies = {
   "lua >= 5.4",
   "betatrader",
   "lua-cjson",
}
build_dependencies = {}
external_dependencies = {
   OPENSSL = { header = "openssl/ssl.h", library = "ssl" },
   JANSSON = { header = "jansson.h", library = "jansson" },
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
      -- Only the exchange part: the client is the betatrader rock.
      BT_CLIENT = "OFF",
      BT_EXCHANGE = "ON",
      BT_TESTS = "OFF",
   },
}
