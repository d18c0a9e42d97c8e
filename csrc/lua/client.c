/* betatrader.client userdata: a thin handle on the AuthCoordinator (auth.h).
 * Argument shapes are checked here; option semantics were already checked
 * by config.lua, which is the only caller of core.client_new. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "btl.h"
#include "fix_session.h"
#include "op.h"

#define CLIENT_MT "betatrader.client"

struct lclient {
	struct bt_auth *a; /* NULL once closed */
};

/* For methods, whose upvalue 1 is the metatable: fix:send runs this per order,
 * and luaL_checkudata would look the metatable up by name each time. */
static struct bt_auth *check_open(lua_State *L)
{
	struct lclient *c = lua_touserdata(L, 1);
	int ok = 0;
	if (c && lua_getmetatable(L, 1)) {
		ok = lua_rawequal(L, -1, lua_upvalueindex(1));
		lua_pop(L, 1);
	}
	if (!ok)
		c = luaL_checkudata(L, 1, CLIENT_MT);
	if (!c->a)
		luaL_error(L, "client is closed");
	return c->a;
}

static const char *opt_string(lua_State *L, int t, const char *k)
{
	lua_getfield(L, t, k);
	const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	lua_pop(L, 1); /* the string stays alive in the table */
	return s;
}

static lua_Number opt_number(lua_State *L, int t, const char *k, lua_Number dflt)
{
	lua_getfield(L, t, k);
	lua_Number n = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : dflt;
	lua_pop(L, 1);
	return n;
}

static int opt_bool(lua_State *L, int t, const char *k)
{
	lua_getfield(L, t, k);
	int b = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return b;
}

/* core.client_new(cfg) with cfg as normalised by config.lua. */
static int client_new(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	struct bt_auth_cfg cfg;
	bt_auth_cfg_init(&cfg);
	cfg.api_url = opt_string(L, 1, "api_url");
	cfg.fix_host = opt_string(L, 1, "fix_host");
	cfg.fix_port = (uint16_t)opt_number(L, 1, "fix_port", 9878);
	cfg.target_comp_id = opt_string(L, 1, "target_comp_id");
	cfg.heartbeat_s = (int)opt_number(L, 1, "heartbeat", 30);
	cfg.reset_on_logon = opt_bool(L, 1, "reset_on_logon");
	cfg.logon_username = opt_string(L, 1, "logon_username");
	cfg.logon_password = opt_string(L, 1, "logon_password");
	cfg.max_body = (size_t)opt_number(L, 1, "max_message_size", 65536);
	cfg.max_response = (size_t)opt_number(L, 1, "max_response_size", 1 << 20);
	cfg.store_dir = opt_string(L, 1, "store");
	cfg.store_fsync = opt_bool(L, 1, "fsync");
	cfg.resend_window = (size_t)opt_number(L, 1, "resend_window", BT_DEFAULT_RESEND_WINDOW);
	lua_getfield(L, 1, "trace");
	cfg.trace = lua_isfunction(L, -1);
	lua_pop(L, 1);
	cfg.timeout_ms = (int64_t)(opt_number(L, 1, "timeout", 10) * 1000);
	cfg.connect_timeout_ms = (int64_t)(opt_number(L, 1, "connect_timeout", 10) * 1000);
	cfg.logon_timeout_ms = (int64_t)(opt_number(L, 1, "logon_timeout", 10) * 1000);
	cfg.logout_timeout_ms = (int64_t)(opt_number(L, 1, "logout_timeout", 10) * 1000);
	lua_getfield(L, 1, "tls");
	if (lua_istable(L, -1)) {
		int t = lua_gettop(L);
		cfg.fix_tls = 1;
		cfg.ca_file = opt_string(L, t, "ca_file");
		cfg.cert_file = opt_string(L, t, "cert_file");
		cfg.key_file = opt_string(L, t, "key_file");
		cfg.server_name = opt_string(L, t, "server_name");
		lua_getfield(L, t, "verify");
		cfg.tls_insecure = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	/* keep the tls table on the stack: its strings are borrowed until
	 * bt_auth_new has copied them */
	struct lclient *c = lua_newuserdatauv(L, sizeof *c, 0);
	c->a = NULL;
	luaL_setmetatable(L, CLIENT_MT);
	char err[256];
	c->a = bt_auth_new(btl_reactor(L), btl_cq(L), &cfg, err, sizeof err);
	if (!c->a) {
		luaL_pushfail(L);
		lua_pushstring(L, err);
		return 2;
	}
	return 1;
}

static int client_close(lua_State *L)
{
	struct lclient *c = luaL_checkudata(L, 1, CLIENT_MT);
	if (c->a)
		bt_auth_free(c->a);
	c->a = NULL;
	return 0;
}

/* state() -> name, reason|nil, code|nil (the reason only while Failed). */
static int client_state(lua_State *L)
{
	struct bt_auth *a = check_open(L);
	char reason[512], code[32];
	enum bt_auth_state st = bt_auth_state(a, reason, sizeof reason, code, sizeof code);
	lua_pushstring(L, bt_auth_state_name(st));
	if (st != BT_AUTH_FAILED)
		return 1;
	lua_pushstring(L, reason);
	lua_pushstring(L, code);
	return 3;
}

/* last_error() -> reason, code of the last failure, or nil. */
static int client_last_error(lua_State *L)
{
	struct bt_auth *a = check_open(L);
	char reason[512], code[32];
	bt_auth_state(a, reason, sizeof reason, code, sizeof code);
	if (!reason[0]) {
		lua_pushnil(L);
		return 1;
	}
	lua_pushstring(L, reason);
	lua_pushstring(L, code);
	return 2;
}

static int client_sender_comp_id(lua_State *L)
{
	struct bt_auth *a = check_open(L);
	char id[80];
	bt_auth_sender_comp_id(a, id, sizeof id);
	if (id[0])
		lua_pushstring(L, id);
	else
		lua_pushnil(L);
	return 1;
}

static int client_target(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)bt_auth_event_target(check_open(L)));
	return 1;
}

static int push_op(lua_State *L, struct bt_op *op)
{
	if (!op)
		return luaL_error(L, "out of memory");
	btl_op_push(L, op);
	bt_op_unref(op); /* the userdata holds its own reference */
	return 1;
}

static int client_register(lua_State *L)
{
	struct bt_auth *a = check_open(L);
	const char *u = luaL_checkstring(L, 2);
	const char *p = luaL_checkstring(L, 3);
	return push_op(L, bt_auth_register(a, u, p));
}

static int client_login(lua_State *L)
{
	struct bt_auth *a = check_open(L);
	const char *id = luaL_checkstring(L, 2);
	const char *p = luaL_checkstring(L, 3);
	return push_op(L, bt_auth_login(a, id, p));
}

static int client_profile(lua_State *L)
{
	return push_op(L, bt_auth_profile(check_open(L)));
}

static int client_logout(lua_State *L)
{
	return push_op(L, bt_auth_logout(check_open(L)));
}

/* Decimal digits of v into buf (at least 21 bytes), without snprintf's
 * format parsing: this runs once per integer field of every order. */
static size_t fmt_int(char *buf, lua_Integer v)
{
	char tmp[24];
	size_t n = 0, k = 0;
	/* unsigned, so that the most negative value has a magnitude too */
	lua_Unsigned u = v < 0 ? (lua_Unsigned)0 - (lua_Unsigned)v : (lua_Unsigned)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		buf[k++] = '-';
	while (n)
		buf[k++] = tmp[--n];
	return k;
}

/* Field values on the wire: strings as they are, integers in decimal,
 * floats with up to 15 significant digits and no exponent, booleans Y/N. */
static const char *field_value(lua_State *L, int idx, size_t *len, char *buf, size_t buflen)
{
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		return lua_tolstring(L, idx, len);
	case LUA_TBOOLEAN:
		*len = 1;
		return lua_toboolean(L, idx) ? "Y" : "N";
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			*len = fmt_int(buf, lua_tointeger(L, idx));
		} else {
			lua_Number n = lua_tonumber(L, idx);
			if (n != n || n > 1e15 || n < -1e15)
				return NULL;
			int w = snprintf(buf, buflen, "%.15g", (double)n);
			if (strchr(buf, 'e'))
				return NULL;
			*len = (size_t)w;
		}
		return buf;
	default:
		return NULL;
	}
}

/* A bad field raises at the user's call of fix:send (level 2: fix.lua's
 * wrapper is level 1), as Lua's own argument errors do. */
static int send_argerror(lua_State *L, const char *fmt, ...)
{
	va_list ap;
	luaL_where(L, 2);
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	lua_concat(L, 2);
	return lua_error(L);
}

/* t[i] as lua_geti gives it, but without the API's metamethod machinery when
 * the slot is set (an __index is only consulted for absent keys anyway).
 * *raw is cleared when a metamethod produced the value, which the table then
 * does not anchor. */
static int get_index(lua_State *L, int t, lua_Integer i, int *raw)
{
	int ty = lua_rawgeti(L, t, i);
	if (ty != LUA_TNIL)
		return ty;
	lua_pop(L, 1);
	*raw = 0;
	return lua_geti(L, t, i);
}

/* Fields up to this count live on the C stack; longer messages use a userdata. */
#define SEND_STACK_FIELDS 64
#define NUM_BUF 32 /* bytes per formatted number */

/* send(msg_type, { {tag, value}, ... }) -> true | nil, message, code */
static int client_send(lua_State *L)
{
	struct bt_auth *a = check_open(L);
	const char *msg_type = luaL_checkstring(L, 2);
	luaL_checktype(L, 3, LUA_TTABLE);
	lua_Integer n = luaL_len(L, 3);
	luaL_argcheck(L, n <= FIX_SESSION_MAX_FIELDS, 3, "too many fields");
	struct fix_out_field fbuf[SEND_STACK_FIELDS];
	char sbuf[SEND_STACK_FIELDS * NUM_BUF];
	struct fix_out_field *f = fbuf;
	char *scratch = sbuf;
	if (n > SEND_STACK_FIELDS) {
		f = lua_newuserdatauv(L, sizeof *f * (size_t)n, 0);
		scratch = lua_newuserdatauv(L, NUM_BUF * (size_t)n, 0);
	}
	int base = lua_gettop(L);
	for (lua_Integer i = 1; i <= n; i++) {
		int raw = 1;
		if (get_index(L, 3, i, &raw) != LUA_TTABLE)
			return send_argerror(
			    L, "bad argument #2 to 'send' (field %d: {tag, value} expected)",
			    (int)i);
		int pair = base + 1;
		get_index(L, pair, 1, &raw);
		int isnum;
		lua_Integer tag = lua_tointegerx(L, -1, &isnum);
		if (!isnum || tag <= 0 || tag > 999999999)
			return send_argerror(L,
					     "bad argument #2 to 'send' (field %d: tag must be an "
					     "integer from 1 to 999999999)",
					     (int)i);
		get_index(L, pair, 2, &raw);
		size_t len = 0;
		const char *v = field_value(L, -1, &len, scratch + NUM_BUF * (i - 1), NUM_BUF);
		if (!v)
			return send_argerror(L,
					     "bad argument #2 to 'send' (field %d, tag %d: string, "
					     "number or boolean value expected)",
					     (int)i, (int)tag);
		if (len == 0 || memchr(v, '\x01', len))
			return send_argerror(
			    L,
			    "bad argument #2 to 'send' (field %d, tag %d: value is "
			    "empty or contains SOH)",
			    (int)i, (int)tag);
		f[i - 1].tag = (uint32_t)tag;
		f[i - 1].val = v;
		f[i - 1].len = len;
		if (raw) {
			/* the list anchors the pair, the pair anchors the value */
			lua_settop(L, base);
		} else {
			/* a metamethod made it: keep the value referenced on the stack */
			lua_replace(L, pair);
			lua_settop(L, pair);
			base = pair;
			luaL_checkstack(L, 3, "too many fields");
		}
	}
	char err[160];
	if (bt_auth_send(a, msg_type, f, (size_t)n, err, sizeof err) != 0) {
		/* Not being Active is a state a script must handle; anything else
		 * (a header tag, an oversized value) is misuse and raises. */
		if (!strstr(err, "not Active"))
			return luaL_error(L, "bad argument to 'send' (%s)", err);
		luaL_pushfail(L);
		lua_pushstring(L, err);
		lua_pushstring(L, BT_E_INVALID_STATE);
		return 3;
	}
	lua_pushboolean(L, 1);
	return 1;
}

void btl_open_client(lua_State *L, int mod)
{
	static const luaL_Reg meth[] = {
	    {"state", client_state},
	    {"last_error", client_last_error},
	    {"sender_comp_id", client_sender_comp_id},
	    {"target", client_target},
	    {"register", client_register},
	    {"login", client_login},
	    {"logout", client_logout},
	    {"profile", client_profile},
	    {"send", client_send},
	    {"close", client_close},
	    {NULL, NULL},
	};
	static const luaL_Reg metameth[] = {
	    {"__index", NULL},
	    {"__gc", client_close},
	    {"__close", client_close},
	    {NULL, NULL},
	};
	luaL_newmetatable(L, CLIENT_MT);
	luaL_setfuncs(L, metameth, 0);
	luaL_newlibtable(L, meth);
	lua_pushvalue(L, -2);
	luaL_setfuncs(L, meth, 1);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	lua_pushcfunction(L, client_new);
	lua_setfield(L, mod, "client_new");
}
