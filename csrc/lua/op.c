/* Lua userdata for operations (betatrader.op) and core.sleep. The friendly
 * API (await, get, <close> cancelling) is lua/betatrader/async.lua; this file
 * only exposes what the C op knows. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "btl.h"
#include "op.h"
#include "reactor.h"

#define OP_MT "betatrader.op"

struct lop {
	struct bt_op *op; /* NULL once closed */
	unsigned gen;     /* reactor_fork_generation() when made */
};

/* An op made before fork(), used in the child: its queue and I/O thread are
 * the parent's, so it would never finish here. */
static int inherited_error(lua_State *L)
{
	return luaL_error(L, "betatrader: this operation was created before fork() in the "
			     "parent process and cannot be used in the child");
}

static const char *const status_names[] = {"pending", "done", "failed", "cancelled"};

/* Pushes a new userdata holding its own reference on op. */
void btl_op_push(lua_State *L, struct bt_op *op)
{
	struct lop *u = lua_newuserdatauv(L, sizeof *u, 0);
	u->op = NULL; /* closed until the metatable is set, so an error leaks nothing */
	u->gen = reactor_fork_generation();
	luaL_setmetatable(L, OP_MT);
	u->op = bt_op_ref(op);
}

struct bt_op *btl_op_check(lua_State *L, int idx)
{
	struct lop *u = luaL_checkudata(L, idx, OP_MT);
	if (!u->op)
		luaL_argerror(L, idx, "operation is closed");
	if (u->gen != reactor_fork_generation())
		inherited_error(L);
	return u->op;
}

static int op_close(lua_State *L)
{
	struct lop *u = luaL_checkudata(L, 1, OP_MT);
	if (u->gen != reactor_fork_generation())
		u->op = NULL; /* the parent's: its locks may be held by a thread that is not here */
	bt_op_unref(u->op);
	u->op = NULL;
	return 0;
}

/* Methods share upvalues: 1 the metatable, 2-5 the status names, so the
 * hot calls neither look the metatable up by name nor intern a string. */
#define UV_MT lua_upvalueindex(1)
#define UV_STATUS(st) lua_upvalueindex(2 + (int)(st))

/* btl_op_check through the upvalue; the slow path only to raise its error. */
static struct bt_op *fast_check(lua_State *L)
{
	struct lop *u = lua_touserdata(L, 1);
	if (u && lua_getmetatable(L, 1)) {
		int same = lua_rawequal(L, -1, UV_MT);
		lua_pop(L, 1);
		if (same && u->op && u->gen == reactor_fork_generation())
			return u->op;
	}
	return btl_op_check(L, 1);
}

static int op_status(lua_State *L)
{
	lua_pushvalue(L, UV_STATUS(bt_op_status(fast_check(L))));
	return 1;
}

static int op_done(lua_State *L)
{
	lua_pushboolean(L, bt_op_status(fast_check(L)) != BT_OP_PENDING);
	return 1;
}

static int op_id(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)bt_op_id(btl_op_check(L, 1)));
	return 1;
}

static void push_value(lua_State *L, const struct bt_value *v)
{
	switch (v->type) {
	case BT_VAL_BOOL:
		lua_pushboolean(L, (int)v->i);
		break;
	case BT_VAL_INT:
		lua_pushinteger(L, (lua_Integer)v->i);
		break;
	case BT_VAL_STR:
		lua_pushlstring(L, v->s, v->len);
		break;
	default:
		lua_pushnil(L);
	}
}

void btl_push_value(lua_State *L, const struct bt_value *v)
{
	push_value(L, v);
}

/* done: the values (maybe none); failed/cancelled: nil, message, code;
 * pending: nothing. */
static int op_result(lua_State *L)
{
	struct bt_op *op = btl_op_check(L, 1);
	switch (bt_op_status(op)) {
	case BT_OP_DONE: {
		int n = bt_op_nvalues(op);
		luaL_checkstack(L, n, NULL);
		for (int i = 0; i < n; i++)
			push_value(L, bt_op_value(op, i));
		return n;
	}
	case BT_OP_FAILED:
	case BT_OP_CANCELLED:
		luaL_pushfail(L);
		lua_pushstring(L, bt_op_message(op));
		lua_pushstring(L, bt_op_code(op));
		return 3;
	default:
		return 0;
	}
}

static int op_cancel(lua_State *L)
{
	lua_pushboolean(L, bt_op_cancel(btl_op_check(L, 1)));
	return 1;
}

static int op_pollfd(lua_State *L)
{
	int fd = bt_op_pollfd(btl_op_check(L, 1));
	if (fd < 0)
		return luaL_error(L, "operation pollfd: %s", strerror(-fd));
	lua_pushinteger(L, fd);
	return 1;
}

/* Values a Lua producer may hand to op:succeed: nil, boolean, integer, string. */
static void check_value(lua_State *L, int idx, struct bt_value *v)
{
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
	case LUA_TNONE:
		*v = BT_VNIL;
		break;
	case LUA_TBOOLEAN:
		*v = BT_VBOOL(lua_toboolean(L, idx));
		break;
	case LUA_TNUMBER:
		if (!lua_isinteger(L, idx))
			luaL_argerror(L, idx, "integer expected");
		*v = BT_VINT(lua_tointeger(L, idx));
		break;
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);
		*v = BT_VLSTR(s, len);
		break;
	}
	default:
		luaL_typeerror(L, idx, "nil, boolean, integer or string");
	}
}

/* op:succeed(...) finishes a Lua-made op; returns whether it won. */
static int op_succeed(lua_State *L)
{
	struct bt_op *op = btl_op_check(L, 1);
	int n = lua_gettop(L) - 1;
	if (n > BT_MAX_VALUES)
		return luaL_error(L, "succeed: at most %d values", BT_MAX_VALUES);
	struct bt_value v[BT_MAX_VALUES];
	for (int i = 0; i < n; i++)
		check_value(L, i + 2, &v[i]);
	lua_pushboolean(L, bt_op_succeed(op, n, v) == 1);
	return 1;
}

/* op:fail(message, code) finishes a Lua-made op with a failure. */
static int op_fail(lua_State *L)
{
	struct bt_op *op = btl_op_check(L, 1);
	const char *msg = luaL_checkstring(L, 2);
	const char *code = luaL_checkstring(L, 3);
	luaL_argcheck(L, *code != '\0', 3, "code must not be empty");
	lua_pushboolean(L, bt_op_fail(op, code, "%s", msg) == 1);
	return 1;
}

static int op_tostring(lua_State *L)
{
	struct lop *u = luaL_checkudata(L, 1, OP_MT);
	if (!u->op)
		lua_pushstring(L, "betatrader.op (closed)");
	else
		lua_pushfstring(L, "betatrader.op %I (%s)", (lua_Integer)bt_op_id(u->op),
				status_names[bt_op_status(u->op)]);
	return 1;
}

/* Pushes a closed op userdata, then creates its op: a memory error while
 * pushing leaves nothing to leak. */
static struct bt_op *new_op(lua_State *L, const char *what)
{
	struct lop *u = lua_newuserdatauv(L, sizeof *u, 0);
	u->op = NULL;
	u->gen = reactor_fork_generation();
	luaL_setmetatable(L, OP_MT);
	u->op = bt_op_new(btl_cq(L));
	if (!u->op)
		luaL_error(L, "%s: out of memory", what);
	return u->op;
}

/* core.op(): a pending op for Lua code to finish with succeed/fail. */
static int core_op(lua_State *L)
{
	new_op(L, "core.op");
	return 1;
}

/* ---- core.sleep: an op finished by an I/O-thread timer ---- */

struct sleeper {
	struct reactor_timer t;
	struct bt_op *op; /* the sleeper's own reference */
	struct bt_reactor *r;
	int64_t ms;
};

static void sleeper_free(struct sleeper *s)
{
	bt_op_unref(s->op);
	free(s);
}

static void sleep_fire(struct bt_reactor *r, struct reactor_timer *t, void *ud)
{
	struct sleeper *s = ud;
	bt_op_succeed(s->op, 0, NULL); /* drops the hook, so no cancel can follow */
	sleeper_free(s);
}

static void sleep_cancelled(struct bt_op *op, void *ud)
{
	struct sleeper *s = ud;
	/* Hooks run on the I/O thread, where stopping the timer is allowed. */
	reactor_timer_stop(s->r, &s->t);
	sleeper_free(s);
}

static void sleep_start(struct bt_reactor *r, void *ud)
{
	struct sleeper *s = ud;
	if (bt_op_set_cancel(s->op, sleep_cancelled, s) < 0) {
		sleeper_free(s); /* cancelled before the I/O thread saw it */
		return;
	}
	int rc = reactor_timer_start(r, &s->t, s->ms);
	if (rc < 0) {
		bt_op_fail(s->op, BT_E_NOMEM, "sleep: cannot arm timer: %s", strerror(-rc));
		sleeper_free(s);
	}
}

static int core_sleep(lua_State *L)
{
	lua_Number sec = luaL_checknumber(L, 1);
	luaL_argcheck(L, sec >= 0 && isfinite(sec), 1, "non-negative number expected");
	struct bt_reactor *r = btl_reactor(L);
	struct bt_op *op = new_op(L, "sleep");
	struct sleeper *s = calloc(1, sizeof *s);
	if (!s) {
		bt_op_fail(op, BT_E_NOMEM, "sleep: out of memory");
		return 1;
	}
	double ms = ceil(sec * 1000.0);
	s->ms = ms > 1e15 ? (int64_t)1e15 : (int64_t)ms;
	s->op = bt_op_ref(op);
	s->r = r;
	reactor_timer_init(&s->t, sleep_fire, s);
	int rc = reactor_post(r, sleep_start, s);
	if (rc < 0) {
		bt_op_fail(op, BT_E_NOMEM, "sleep: %s", strerror(-rc));
		sleeper_free(s);
	}
	return 1;
}

void btl_open_op(lua_State *L, int mod)
{
	static const luaL_Reg meth[] = {
	    {"status", op_status},   {"result", op_result}, {"cancel", op_cancel},
	    {"id", op_id},           {"done", op_done},     {"pollfd", op_pollfd},
	    {"succeed", op_succeed}, {"fail", op_fail},     {NULL, NULL},
	};
	static const luaL_Reg metameth[] = {
	    {"__index", NULL},           {"__gc", op_close}, {"__close", op_close},
	    {"__tostring", op_tostring}, {NULL, NULL},
	};
	luaL_newmetatable(L, OP_MT);
	luaL_setfuncs(L, metameth, 0);
	luaL_newlibtable(L, meth);
	lua_pushvalue(L, -2);
	for (int i = 0; i < 4; i++)
		lua_pushstring(L, status_names[i]);
	luaL_setfuncs(L, meth, 5);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);

	mod = lua_absindex(L, mod);
	lua_pushcfunction(L, core_sleep);
	lua_setfield(L, mod, "sleep");
	lua_pushcfunction(L, core_op);
	lua_setfield(L, mod, "op");
}
