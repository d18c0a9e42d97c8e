/* luaopen_betatrader_core: the per-state plumbing between the shared reactor
 * and one Lua state. Each state gets its own completion queue; the I/O thread
 * only ever writes to that queue, and core.step drains it on the Lua side. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "btl.h"
#include "defaults.h"
#include "op.h"
#include "reactor.h"

#ifndef BT_VERSION
#define BT_VERSION "0.0.0-unknown"
#endif

#define STATE_MT "betatrader.core.state"
#define BATCH_MT "betatrader.core.batch"
#define BATCH_MAX 64

/* Its address is the registry key of the state; never written. */
static const char state_key = 's';

struct state {
	struct bt_reactor *r; /* one reference, released on close */
	struct bt_cq *cq;
	unsigned gen; /* reactor_fork_generation() when made */
};

/* Events drained but not yet handed to Lua; kept in a userdata so that a
 * memory error while building the result table leaks nothing. */
struct batch {
	size_t i, n;
	struct bt_event ev[BATCH_MAX];
};

static int state_close(lua_State *L)
{
	struct state *s = luaL_checkudata(L, 1, STATE_MT);
	if (s->gen != reactor_fork_generation()) {
		/* the parent's, in a forked child: not ours to close */
		s->cq = NULL;
		s->r = NULL;
	}
	/* The queue goes first: it cancels pending ops, whose hooks the reactor
	 * still runs before its thread exits. */
	if (s->cq)
		bt_cq_close(s->cq);
	s->cq = NULL;
	if (s->r)
		reactor_release(s->r);
	s->r = NULL;
	return 0;
}

static struct state *new_state(lua_State *L);

static struct state *get_state(lua_State *L)
{
	lua_rawgetp(L, LUA_REGISTRYINDEX, &state_key);
	struct state *s = lua_touserdata(L, -1);
	lua_pop(L, 1);
	if (s && s->cq && s->gen != reactor_fork_generation()) {
		/* A forked child: the parent's queue and reactor stay untouched
		 * (its eventfd is shared with the parent); new work gets its own. */
		s->cq = NULL;
		s->r = NULL;
		s = new_state(L);
		lua_pop(L, 1);
	}
	if (!s || !s->cq)
		luaL_error(L, "betatrader.core is closed");
	return s;
}

struct bt_cq *btl_cq(lua_State *L)
{
	return get_state(L)->cq;
}

struct bt_reactor *btl_reactor(lua_State *L)
{
	return get_state(L)->r;
}

static void batch_flush(struct batch *b)
{
	while (b->i < b->n)
		bt_event_clear(&b->ev[b->i++]);
	b->i = b->n = 0;
}

static int batch_gc(lua_State *L)
{
	batch_flush(luaL_checkudata(L, 1, BATCH_MT));
	return 0;
}

/* Appends one event to the flat list at index -1 from slot k + 1 on and
 * returns the new last slot. A finished op is its id (an integer); a user
 * event is name, target, n, then its n values (nil ones included), so a batch
 * costs one table, not one per event. */
static lua_Integer push_event(lua_State *L, lua_Integer k, struct bt_event *ev)
{
	if (ev->kind == BT_EVENT_OP) {
		lua_pushinteger(L, (lua_Integer)ev->id);
		lua_rawseti(L, -2, ++k);
		return k;
	}
	lua_pushstring(L, ev->name);
	lua_rawseti(L, -2, ++k);
	lua_pushinteger(L, (lua_Integer)ev->id);
	lua_rawseti(L, -2, ++k);
	lua_pushinteger(L, ev->n);
	lua_rawseti(L, -2, ++k);
	for (int i = 0; i < ev->n; i++) {
		btl_push_value(L, &ev->v[i]);
		lua_rawseti(L, -2, ++k);
	}
	return k;
}

/* core.step([timeout]) waits up to timeout seconds (nil: forever, 0: poll)
 * for events, then returns everything queued as one flat list and its last
 * index: an integer per finished op (its id); per user event its name (a
 * string), target, n and n values. */
static int core_step(lua_State *L)
{
	struct state *s = get_state(L); /* not cached: a forked child gets a new one */
	struct batch *b = lua_touserdata(L, lua_upvalueindex(1));
	int ms = -1;
	if (!lua_isnoneornil(L, 1)) {
		lua_Number t = luaL_checknumber(L, 1);
		luaL_argcheck(L, t >= 0 && !isnan(t), 1, "non-negative number expected");
		ms = t * 1000.0 >= (lua_Number)INT_MAX ? INT_MAX : (int)ceil(t * 1000.0);
	}
	batch_flush(b);
	lua_Integer k = 0;
	size_t n = bt_cq_drain(s->cq, b->ev, BATCH_MAX);
	if (n == 0 && ms != 0) {
		int rc = bt_cq_wait(s->cq, ms);
		if (rc < 0)
			return luaL_error(L, "step: poll: %s", strerror(-rc));
		n = bt_cq_drain(s->cq, b->ev, BATCH_MAX);
	}
	lua_createtable(L, (int)n * 2, 0);
	while (n > 0) {
		b->n = n;
		b->i = 0;
		while (b->i < b->n) {
			k = push_event(L, k, &b->ev[b->i]);
			bt_event_clear(&b->ev[b->i++]);
		}
		n = n == BATCH_MAX ? bt_cq_drain(s->cq, b->ev, BATCH_MAX) : 0;
	}
	b->i = b->n = 0;
	lua_pushinteger(L, k);
	return 2;
}

/* core.generation(): changes in a forked child (see reactor.h). */
static int core_generation(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)reactor_fork_generation());
	return 1;
}

/* core.pollfd(): the queue's eventfd, readable while events wait. */
static int core_pollfd(lua_State *L)
{
	lua_pushinteger(L, bt_cq_fd(btl_cq(L)));
	return 1;
}

/* core.now(): seconds on the monotonic clock the timers use. */
static int core_now(lua_State *L)
{
	/* Same clock as reactor_now_ms, at full resolution for measurements. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
	return 1;
}

/* core.new_id(): an id unique in this state, for user-event targets. */
static int core_new_id(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)bt_cq_next_id(btl_cq(L)));
	return 1;
}

/* core.emit(target, name, ...): queues a user event, exactly as the C side
 * would; lets Lua code and specs exercise the same dispatch path. */
static int core_emit(lua_State *L)
{
	lua_Integer target = luaL_checkinteger(L, 1);
	const char *name = luaL_checkstring(L, 2);
	int n = lua_gettop(L) - 2;
	luaL_argcheck(L, n <= BT_MAX_VALUES, BT_MAX_VALUES + 3, "too many values");
	struct bt_value v[BT_MAX_VALUES];
	for (int i = 0; i < n; i++) {
		int idx = i + 3;
		switch (lua_type(L, idx)) {
		case LUA_TNIL:
			v[i] = BT_VNIL;
			break;
		case LUA_TBOOLEAN:
			v[i] = BT_VBOOL(lua_toboolean(L, idx));
			break;
		case LUA_TNUMBER:
			v[i] = BT_VINT(luaL_checkinteger(L, idx));
			break;
		case LUA_TSTRING: {
			size_t len;
			const char *str = lua_tolstring(L, idx, &len);
			v[i] = BT_VLSTR(str, len);
			break;
		}
		default:
			return luaL_typeerror(L, idx, "nil, boolean, integer or string");
		}
	}
	int rc = bt_cq_post_event(btl_cq(L), (uint64_t)target, name, n, v);
	if (rc < 0)
		return luaL_error(L, "emit: %s", strerror(-rc));
	return 0;
}

/* Pushes a new state userdata and makes it this lua_State's (registry). */
static struct state *new_state(lua_State *L)
{
	static const luaL_Reg state_mm[] = {
	    {"__gc", state_close},
	    {"__close", state_close},
	    {NULL, NULL},
	};
	struct state *s = lua_newuserdatauv(L, sizeof *s, 0);
	s->r = NULL;
	s->cq = NULL;
	s->gen = reactor_fork_generation();
	if (luaL_newmetatable(L, STATE_MT))
		luaL_setfuncs(L, state_mm, 0);
	lua_setmetatable(L, -2);
	char err[256] = "";
	s->r = reactor_acquire(err, sizeof err);
	if (!s->r)
		luaL_error(L, "betatrader.core: %s", err);
	s->cq = bt_cq_new(s->r, err, sizeof err);
	if (!s->cq)
		luaL_error(L, "betatrader.core: %s", err);
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &state_key);
	return s;
}

/* Seconds as Lua users write them: 10, not 10.0. */
static void push_secs(lua_State *L, int64_t ms)
{
	if (ms % 1000 == 0)
		lua_pushinteger(L, ms / 1000);
	else
		lua_pushnumber(L, (lua_Number)ms / 1000.0);
}

/* core.defaults: defaults.h under config.lua's option names and in its units
 * (seconds, bytes), so the Lua options and the C core cannot disagree. */
static void open_defaults(lua_State *L, int mod)
{
	static const struct {
		const char *name;
		const char *s;
		lua_Integer i;
		int secs; /* i is in ms, shown in seconds */
	} d[] = {
	    {"api_url", BT_DEFAULT_API_URL, 0, 0},
	    {"fix_host", BT_DEFAULT_FIX_HOST, 0, 0},
	    {"fix_port", NULL, BT_DEFAULT_FIX_PORT, 0},
	    {"target_comp_id", BT_DEFAULT_TARGET_COMP_ID, 0, 0},
	    {"store", BT_DEFAULT_STORE, 0, 0},
	    {"heartbeat", NULL, BT_DEFAULT_HEARTBEAT_S, 0},
	    {"timeout", NULL, BT_DEFAULT_TIMEOUT_MS, 1},
	    {"connect_timeout", NULL, BT_DEFAULT_CONNECT_TIMEOUT_MS, 1},
	    {"logon_timeout", NULL, BT_DEFAULT_LOGON_TIMEOUT_MS, 1},
	    {"logout_timeout", NULL, BT_DEFAULT_LOGOUT_TIMEOUT_MS, 1},
	    {"resend_window", NULL, BT_DEFAULT_RESEND_WINDOW, 0},
	    {"max_message_size", NULL, BT_DEFAULT_MAX_BODY, 0},
	    {"max_response_size", NULL, BT_DEFAULT_MAX_RESPONSE, 0},
	    {"max_send_queue", NULL, BT_DEFAULT_SEND_QUEUE, 0},
	};
	lua_createtable(L, 0, (int)(sizeof d / sizeof d[0]));
	for (size_t k = 0; k < sizeof d / sizeof d[0]; k++) {
		if (d[k].s)
			lua_pushstring(L, d[k].s);
		else if (d[k].secs)
			push_secs(L, d[k].i);
		else
			lua_pushinteger(L, d[k].i);
		lua_setfield(L, -2, d[k].name);
	}
	/* reconnect's fields; the option itself defaults to false */
	lua_createtable(L, 0, 4);
	push_secs(L, BT_DEFAULT_RECONNECT_INTERVAL_MS);
	lua_setfield(L, -2, "interval");
	push_secs(L, BT_DEFAULT_RECONNECT_MAX_INTERVAL_MS);
	lua_setfield(L, -2, "max_interval");
	lua_pushnumber(L, BT_DEFAULT_RECONNECT_BACKOFF);
	lua_setfield(L, -2, "backoff");
	lua_pushnumber(L, BT_DEFAULT_RECONNECT_JITTER);
	lua_setfield(L, -2, "jitter");
	lua_setfield(L, -2, "reconnect");
	lua_setfield(L, mod, "defaults");
}

LUA_API int luaopen_betatrader_core(lua_State *L);
__attribute__((visibility("default"))) int luaopen_betatrader_core(lua_State *L)
{
	static const luaL_Reg funcs[] = {
	    {"pollfd", core_pollfd},         {"now", core_now},
	    {"new_id", core_new_id},         {"emit", core_emit},
	    {"generation", core_generation}, {NULL, NULL},
	};

	/* One state per lua_State, even if the module is loaded again. */
	lua_rawgetp(L, LUA_REGISTRYINDEX, &state_key);
	struct state *s = lua_touserdata(L, -1);
	if (!s || !s->cq || s->gen != reactor_fork_generation()) {
		lua_pop(L, 1);
		if (s) { /* the parent's (fork), or closed: never touched again */
			s->cq = NULL;
			s->r = NULL;
		}
		new_state(L);
	}

	lua_newtable(L);
	int mod = lua_gettop(L);
	luaL_setfuncs(L, funcs, 0);
	lua_pushliteral(L, BT_VERSION);
	lua_setfield(L, mod, "version");
	open_defaults(L, mod);

	struct batch *b = lua_newuserdatauv(L, sizeof *b, 0);
	b->i = b->n = 0;
	if (luaL_newmetatable(L, BATCH_MT)) {
		lua_pushcfunction(L, batch_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	lua_pushcclosure(L, core_step, 1);
	lua_setfield(L, mod, "step");

	btl_open_op(L, mod);
	btl_open_client(L, mod);
	btl_open_fix(L, mod);
	btl_open_dict(L, mod);
	btl_open_timers(L, mod);
	return 1;
}
