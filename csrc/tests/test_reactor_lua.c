/* test-deps: reactor */
/* betatrader.core unloads cleanly: lua_close releases the reactor, so the I/O
 * thread is joined and every fd closed, even with operations still pending.
 * Needs the bt_lua target built (BT_BUILD_DIR/betatrader/core.so). */
#include <dirent.h>
#include <dlfcn.h>

#include "srv_util.h"
#include "t.h"

/* Lua is loaded with dlopen (RTLD_GLOBAL, as the interpreter provides it to
 * core.so) so this test links no Lua library: the "lua" test dependency would
 * resolve to the bt_lua module target. */
typedef struct lua_State lua_State;
static struct {
	lua_State *(*newstate)(void);
	void (*openlibs)(lua_State *);
	int (*loadstring)(lua_State *, const char *);
	int (*pcallk)(lua_State *, int, int, int, intptr_t, void *);
	const char *(*tolstring)(lua_State *, int, size_t *);
	void (*settop)(lua_State *, int);
	void (*close)(lua_State *);
} lua;

static int load_lua(void)
{
	void *h = dlopen("liblua5.4.so.0", RTLD_NOW | RTLD_GLOBAL);
	if (!h)
		return -1;
	*(void **)&lua.newstate = dlsym(h, "luaL_newstate");
	*(void **)&lua.openlibs = dlsym(h, "luaL_openlibs");
	*(void **)&lua.loadstring = dlsym(h, "luaL_loadstring");
	*(void **)&lua.pcallk = dlsym(h, "lua_pcallk");
	*(void **)&lua.tolstring = dlsym(h, "lua_tolstring");
	*(void **)&lua.settop = dlsym(h, "lua_settop");
	*(void **)&lua.close = dlsym(h, "lua_close");
	return lua.newstate && lua.openlibs && lua.loadstring && lua.pcallk && lua.tolstring &&
		       lua.settop && lua.close
		   ? 0
		   : -1;
}

static int run(lua_State *L, const char *chunk)
{
	if (lua.loadstring(L, chunk) != 0 || lua.pcallk(L, 0, 0, 0, 0, NULL) != 0) {
		T_FAIL("lua: %s", lua.tolstring(L, -1, NULL));
		lua.settop(L, 0);
		return -1;
	}
	return 0;
}

static lua_State *new_state(void)
{
	const char *build = getenv("BT_BUILD_DIR");
	const char *src = getenv("BT_SOURCE_DIR");
	char chunk[4096];
	snprintf(chunk, sizeof chunk,
		 "package.cpath = [[%s/?.so]]; package.path = [[%s/lua/?.lua]]",
		 build ? build : "build", src ? src : ".");
	lua_State *L = lua.newstate();
	lua.openlibs(L);
	run(L, chunk);
	return L;
}

/* Leaves a sleeping op pending, a spawned task waiting and a queued event. */
static const char *busy_chunk = "local bt = require('betatrader.async')\n"
				"assert(bt.sleep(0.001))\n"
				"KEEP = bt.sleep_op(60)\n"
				"bt.spawn(function() bt.sleep(60) end)\n"
				"bt.step(0)\n"
				"require('betatrader.core').emit(1, 'x', 'queued')\n";

static void test_close_releases_reactor(void)
{
	int tasks0 = srv_count_dir("/proc/self/task");
	int fds0 = srv_count_dir("/proc/self/fd");
	for (int i = 0; i < 3; i++) {
		lua_State *L = new_state();
		if (run(L, busy_chunk) == 0)
			T_EQ_INT(srv_count_dir("/proc/self/task"), tasks0 + 1);
		lua.close(L);
		T_EQ_INT(srv_threads_settle(tasks0), tasks0);
		T_EQ_INT(srv_count_dir("/proc/self/fd"), fds0);
	}
}

/* Two states share the one I/O thread; it stops with the last. */
static void test_two_states_share_thread(void)
{
	int tasks0 = srv_count_dir("/proc/self/task");
	lua_State *a = new_state(), *b = new_state();
	run(a, busy_chunk);
	run(b, busy_chunk);
	T_EQ_INT(srv_count_dir("/proc/self/task"), tasks0 + 1);
	lua.close(a);
	T_EQ_INT(srv_count_dir("/proc/self/task"), tasks0 + 1);
	run(b, "assert(require('betatrader.async').sleep(0.001))");
	lua.close(b);
	T_EQ_INT(srv_threads_settle(tasks0), tasks0);
}

int main(void)
{
	if (load_lua() < 0) {
		printf("FAIL cannot load liblua5.4.so.0: %s\n", dlerror());
		return 1;
	}
	T_RUN(test_close_releases_reactor);
	T_RUN(test_two_states_share_thread);
	return T_END();
}
