/* betatrader.client userdata: a thin handle on the AuthCoordinator (auth.h).
 * Argument shapes are checked here; option semantics were already checked
 * by config.lua, which is the only caller of core.client_new. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "btl.h"
#include "defaults.h"
#include "fix_dict.h"
#include "fix_session.h"
#include "op.h"
#include "reactor.h"

#define CLIENT_MT "betatrader.client"

struct lclient {
	struct bt_auth *a;           /* NULL once closed */
	unsigned gen;                /* reactor_fork_generation() when made */
	const struct fix_dict *dict; /* held while the I/O thread validates with it */
};

/* The fork check of every client access (see check_client). */
static struct bt_auth *client_of(lua_State *L, struct lclient *c)
{
	if (c->gen != reactor_fork_generation() && c->a)
		luaL_error(L, "betatrader: this client was created before fork() in the parent "
			      "process and cannot be used in the child: create a new client");
	return c->a;
}

/* For methods, whose upvalue 1 is the metatable: fix:send runs this per order,
 * and luaL_checkudata would look the metatable up by name each time. NULL
 * once closed: every method has an answer for a closed client (see below). */
static struct bt_auth *check_client(lua_State *L)
{
	struct lclient *c = lua_touserdata(L, 1);
	int ok = 0;
	if (c && lua_getmetatable(L, 1)) {
		ok = lua_rawequal(L, -1, lua_upvalueindex(1));
		lua_pop(L, 1);
	}
	if (!ok)
		c = luaL_checkudata(L, 1, CLIENT_MT);
	return client_of(L, c);
}

static struct bt_auth *check_open(lua_State *L)
{
	struct bt_auth *a = check_client(L);
	if (!a)
		luaL_error(L, "client is closed");
	return a;
}

#define CLOSED_MSG "client is closed"

/* An op already failed, for a call on a closed client. */
static int push_closed_op(lua_State *L)
{
	struct bt_op *op = bt_op_new(btl_cq(L));
	if (!op)
		return luaL_error(L, "out of memory");
	bt_op_fail(op, BT_E_INVALID_STATE, CLOSED_MSG);
	btl_op_push(L, op);
	bt_op_unref(op);
	return 1;
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

/* A duration option in seconds (of the table at t), as milliseconds. */
static int64_t opt_ms_in(lua_State *L, int t, const char *k, int64_t dflt_ms)
{
	return (int64_t)(opt_number(L, t, k, (double)dflt_ms / 1000.0) * 1000);
}

static int64_t opt_ms(lua_State *L, const char *k, int64_t dflt_ms)
{
	return opt_ms_in(L, 1, k, dflt_ms);
}

/* core.client_new(cfg) with cfg as normalised by config.lua. */
static int client_new(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	struct bt_auth_cfg cfg;
	bt_auth_cfg_init(&cfg);
	cfg.api_url = opt_string(L, 1, "api_url");
	cfg.fix_host = opt_string(L, 1, "fix_host");
	cfg.fix_port = (uint16_t)opt_number(L, 1, "fix_port", BT_DEFAULT_FIX_PORT);
	cfg.target_comp_id = opt_string(L, 1, "target_comp_id");
	cfg.heartbeat_s = (int)opt_number(L, 1, "heartbeat", BT_DEFAULT_HEARTBEAT_S);
	cfg.reset_on_logon = opt_bool(L, 1, "reset_on_logon");
	cfg.logon_username = opt_string(L, 1, "logon_username");
	cfg.logon_password = opt_string(L, 1, "logon_password");
	cfg.max_body = (size_t)opt_number(L, 1, "max_message_size", BT_DEFAULT_MAX_BODY);
	cfg.max_send_queue = (size_t)opt_number(L, 1, "max_send_queue", BT_DEFAULT_SEND_QUEUE);
	cfg.max_response = (size_t)opt_number(L, 1, "max_response_size", BT_DEFAULT_MAX_RESPONSE);
	cfg.store_dir = opt_string(L, 1, "store");
	cfg.store_fsync = opt_bool(L, 1, "fsync");
	cfg.resend_window = (size_t)opt_number(L, 1, "resend_window", BT_DEFAULT_RESEND_WINDOW);
	lua_getfield(L, 1, "trace");
	cfg.trace = lua_isfunction(L, -1);
	lua_pop(L, 1);
	cfg.timeout_ms = opt_ms(L, "timeout", BT_DEFAULT_TIMEOUT_MS);
	cfg.connect_timeout_ms = opt_ms(L, "connect_timeout", BT_DEFAULT_CONNECT_TIMEOUT_MS);
	cfg.logon_timeout_ms = opt_ms(L, "logon_timeout", BT_DEFAULT_LOGON_TIMEOUT_MS);
	cfg.logout_timeout_ms = opt_ms(L, "logout_timeout", BT_DEFAULT_LOGOUT_TIMEOUT_MS);
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
	const char *auth = opt_string(L, 1, "auth");
	cfg.auth_logon = auth && !strcmp(auth, "logon");
	const char *check = opt_string(L, 1, "check_comp_id");
	cfg.comp_id_session_only = check && !strcmp(check, "session");
	const char *logon_seq = opt_string(L, 1, "logon_seq");
	cfg.logon_seq_adopt = logon_seq && !strcmp(logon_seq, "adopt");
	/* begin_strings (a list, checked by config.lua) as the session's
	 * space-separated string, kept on the stack until bt_auth_new copied it */
	lua_getfield(L, 1, "begin_strings");
	if (lua_istable(L, -1)) {
		int t = lua_gettop(L);
		lua_Integer n = luaL_len(L, t);
		luaL_Buffer b;
		luaL_buffinit(L, &b);
		for (lua_Integer i = 1; i <= n; i++) {
			if (i > 1)
				luaL_addchar(&b, ' ');
			lua_geti(L, t, i);
			luaL_addvalue(&b);
		}
		luaL_pushresult(&b);
		cfg.begin_strings = lua_tostring(L, -1);
	}
	lua_getfield(L, 1, "reconnect");
	if (lua_istable(L, -1)) {
		int t = lua_gettop(L);
		cfg.reconnect = 1;
		/* config.lua fills every field; cfg_init's defaults stay otherwise */
		cfg.reconnect_interval_ms = opt_ms_in(L, t, "interval", cfg.reconnect_interval_ms);
		cfg.reconnect_max_ms = opt_ms_in(L, t, "max_interval", cfg.reconnect_max_ms);
		cfg.reconnect_backoff = opt_number(L, t, "backoff", cfg.reconnect_backoff);
		cfg.reconnect_jitter = opt_number(L, t, "jitter", cfg.reconnect_jitter);
		cfg.reconnect_attempts = (unsigned)opt_number(L, t, "attempts", 0);
	}
	lua_pop(L, 1);
	/* keep the tls table on the stack: its strings are borrowed until
	 * bt_auth_new has copied them */
	struct lclient *c = lua_newuserdatauv(L, sizeof *c, 0);
	c->a = NULL;
	c->gen = reactor_fork_generation();
	c->dict = NULL;
	luaL_setmetatable(L, CLIENT_MT);
	/* validate = "reject": the I/O thread checks each message before Lua
	 * sees it, and answers a bad one with a session Reject */
	lua_getfield(L, 1, "validate");
	if (lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "reject")) {
		lua_getfield(L, 1, "dictionary");
		c->dict = fix_dict_ref(btl_dict_check(L, -1));
		cfg.validate = btl_dict_validate;
		cfg.validate_ud = (void *)c->dict;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
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
	/* In a forked child the parent's client is forgotten, not freed: its
	 * connection and I/O thread belong to the parent. */
	if (c->a && c->gen == reactor_fork_generation())
		bt_auth_free(c->a);
	c->a = NULL;
	fix_dict_unref(c->dict);
	c->dict = NULL;
	return 0;
}

/* The metatable also lives at registry[&client_mt_key]: a pointer key
 * costs no string lookup, and dict:send checks a client per order. */
static const char client_mt_key = 0;

struct bt_auth *btl_client_auth(lua_State *L, int idx)
{
	return client_of(L, lua_touserdata(L, idx));
}

struct bt_auth *btl_client_check(lua_State *L, int idx)
{
	struct lclient *c = lua_touserdata(L, idx);
	int ok = 0;
	if (c && lua_getmetatable(L, idx)) {
		lua_rawgetp(L, LUA_REGISTRYINDEX, &client_mt_key);
		ok = lua_rawequal(L, -1, -2);
		lua_pop(L, 2);
	}
	if (!ok)
		c = luaL_checkudata(L, idx, CLIENT_MT);
	return client_of(L, c);
}

/* state() -> name, reason|nil, code|nil (the reason while Failed, and while
 * reconnecting: why the session was lost). */
static int client_state(lua_State *L)
{
	struct bt_auth *a = check_client(L);
	if (!a) {
		lua_pushstring(L, bt_auth_state_name(BT_AUTH_DISCONNECTED));
		return 1;
	}
	char reason[512], code[32];
	enum bt_auth_state st = bt_auth_state(a, reason, sizeof reason, code, sizeof code);
	lua_pushstring(L, bt_auth_state_name(st));
	if (st != BT_AUTH_FAILED && !bt_auth_reconnecting(a))
		return 1;
	lua_pushstring(L, reason);
	lua_pushstring(L, code);
	return 3;
}

/* last_error() -> reason, code of the last failure, or nil. */
static int client_last_error(lua_State *L)
{
	struct bt_auth *a = check_client(L);
	char reason[512] = "", code[32] = "";
	if (a)
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
	struct bt_auth *a = check_client(L);
	char id[80] = "";
	if (a)
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
	struct bt_auth *a = check_client(L);
	const char *u = luaL_checkstring(L, 2);
	const char *p = luaL_checkstring(L, 3);
	return a ? push_op(L, bt_auth_register(a, u, p)) : push_closed_op(L);
}

static int client_login(lua_State *L)
{
	struct bt_auth *a = check_client(L);
	const char *id = luaL_checkstring(L, 2);
	const char *p = luaL_optstring(L, 3, NULL); /* nil: auth = "logon" */
	return a ? push_op(L, bt_auth_login(a, id, p)) : push_closed_op(L);
}

static int client_profile(lua_State *L)
{
	struct bt_auth *a = check_client(L);
	return a ? push_op(L, bt_auth_profile(a)) : push_closed_op(L);
}

static int client_logout(lua_State *L)
{
	struct bt_auth *a = check_client(L);
	return a ? push_op(L, bt_auth_logout(a)) : push_closed_op(L);
}

static int client_closed(lua_State *L)
{
	lua_pushboolean(L, check_client(L) == NULL);
	return 1;
}

size_t btl_fmt_int(char *buf, lua_Integer v)
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
	buf[k] = '\0';
	return k;
}

size_t btl_fmt_decimal(char *buf, double x)
{
	if (x == 0)
		return (size_t)snprintf(buf, BTL_DEC_MAX, "0");
	/* Most prices round-trip in 15 digits and print without an exponent;
	 * then no shorter form reads back as x either (15 digits are finer
	 * than any double's spacing, so rounding x to them gives the shortest). */
	int w = snprintf(buf, BTL_DEC_MAX, "%.15g", x);
	int exp_form = strchr(buf, 'e') != NULL;
	if (!exp_form && strtod(buf, NULL) == x)
		return (size_t)w;
	/* Otherwise the fewest significant digits that read back as x (17
	 * always do; subnormals may need only one), as digits and an exponent,
	 * laid out by hand. */
	char e[40];
	int prec = exp_form ? 1 : 16;
	for (; prec < 17; prec++) {
		snprintf(e, sizeof e, "%.*e", prec - 1, x);
		if (strtod(e, NULL) == x)
			break;
	}
	snprintf(e, sizeof e, "%.*e", prec - 1, x);
	char digits[20];
	size_t nd = 0;
	const char *p = e;
	int neg = *p == '-';
	if (neg)
		p++;
	for (; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			digits[nd++] = *p;
	int exp10 = atoi(p + 1); /* the first digit is worth 10^exp10 */
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	size_t k = 0;
	if (neg)
		buf[k++] = '-';
	if (exp10 < 0) {
		buf[k++] = '0';
		buf[k++] = '.';
		for (int i = -1; i > exp10; i--)
			buf[k++] = '0';
		memcpy(buf + k, digits, nd);
		k += nd;
	} else {
		for (int i = 0; i <= exp10 || (size_t)i < nd; i++) {
			if (i == exp10 + 1)
				buf[k++] = '.';
			buf[k++] = (size_t)i < nd ? digits[i] : '0';
		}
	}
	buf[k] = '\0';
	return k;
}

/* Field values on the wire: strings as they are, integers in decimal,
 * floats as plain decimals (fmt_decimal), booleans Y/N. NULL for another
 * type; a float that is not finite raises, naming the field. A decimal too
 * long for buf (NUM_BUF bytes) replaces the number on the stack with its
 * string, which *anchored is cleared to say. */
static const char *field_value(lua_State *L, int idx, size_t *len, char *buf, size_t buflen,
			       int *anchored, int field, lua_Integer tag);
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

static const char *field_value(lua_State *L, int idx, size_t *len, char *buf, size_t buflen,
			       int *anchored, int field, lua_Integer tag)
{
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		return lua_tolstring(L, idx, len);
	case LUA_TBOOLEAN:
		*len = 1;
		return lua_toboolean(L, idx) ? "Y" : "N";
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			*len = btl_fmt_int(buf, lua_tointeger(L, idx));
			return buf;
		} else {
			lua_Number n = lua_tonumber(L, idx);
			if (!isfinite(n))
				send_argerror(
				    L,
				    "bad argument #2 to 'send' (field %d, tag %d: %s is not "
				    "a FIX value)",
				    field, (int)tag, n != n ? "NaN" : "an infinite number");
			char dec[BTL_DEC_MAX];
			*len = btl_fmt_decimal(dec, (double)n);
			if (*len < buflen) {
				memcpy(buf, dec, *len + 1);
				return buf;
			}
			lua_pushlstring(L, dec, *len);
			lua_replace(L, idx);
			*anchored = 0;
			return lua_tolstring(L, idx, len);
		}
	default:
		return NULL;
	}
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
	struct bt_auth *a = check_client(L);
	const char *msg_type = luaL_checkstring(L, 2);
	luaL_checktype(L, 3, LUA_TTABLE);
	if (!a) {
		luaL_pushfail(L);
		lua_pushliteral(L, CLOSED_MSG);
		lua_pushstring(L, bt_err_code(BT_ERR_INVALID_STATE));
		return 3;
	}
	lua_Integer n = luaL_len(L, 3);
	if (n > BT_AUTH_MAX_FIELDS)
		return send_argerror(L, "bad argument #2 to 'send' (%I fields, at most %d)", n,
				     BT_AUTH_MAX_FIELDS);
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
		const char *v = field_value(L, lua_gettop(L), &len, scratch + NUM_BUF * (i - 1),
					    NUM_BUF, &raw, (int)i, tag);
		if (!v)
			return send_argerror(L,
					     "bad argument #2 to 'send' (field %d, tag %d: string, "
					     "number or boolean value expected)",
					     (int)i, (int)tag);
		if (len == 0 || memchr(v, '\x01', len) || memchr(v, '\0', len))
			return send_argerror(
			    L, "bad argument #2 to 'send' (field %d, tag %d: %s)", (int)i, (int)tag,
			    len == 0                 ? "empty value"
			    : memchr(v, '\x01', len) ? "value contains SOH"
						     : "value contains a NUL byte");
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
	int rc = bt_auth_send(a, msg_type, f, (size_t)n, err, sizeof err);
	switch (rc) {
	case BT_AUTH_SEND_OK:
		lua_pushboolean(L, 1);
		return 1;
	case BT_AUTH_SEND_MISUSE:
		/* a header tag, an oversized body: misuse raises at the user's line */
		return send_argerror(L, "bad argument to 'send' (%s)", err);
	case BT_AUTH_SEND_NOMEM:
		return luaL_error(L, "send: %s", err);
	default:
		/* not Active, or the queue is full: states a script must handle */
		luaL_pushfail(L);
		lua_pushstring(L, err);
		lua_pushstring(
		    L, bt_err_code(rc == BT_AUTH_SEND_BUSY ? BT_ERR_BUSY : BT_ERR_INVALID_STATE));
		return 3;
	}
}

/* queued() -> bytes, messages accepted by send and not yet taken by the socket */
static int client_queued(lua_State *L)
{
	size_t bytes, msgs;
	bt_auth_queued(check_open(L), &bytes, &msgs);
	lua_pushinteger(L, (lua_Integer)bytes);
	lua_pushinteger(L, (lua_Integer)msgs);
	return 2;
}

/* flush_request() -> true if nothing is queued, else false and a "drained"
 * event follows once everything queued went to the socket. */
static int client_flush_request(lua_State *L)
{
	lua_pushboolean(L, bt_auth_flush_request(check_open(L)));
	return 1;
}

/* received() -> "message" events the I/O thread posted so far */
static int client_received(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)bt_auth_received(check_open(L)));
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
	    {"queued", client_queued},
	    {"flush_request", client_flush_request},
	    {"received", client_received},
	    {"close", client_close},
	    {"closed", client_closed},
	    {NULL, NULL},
	};
	static const luaL_Reg metameth[] = {
	    {"__index", NULL},
	    {"__gc", client_close},
	    {"__close", client_close},
	    {NULL, NULL},
	};
	luaL_newmetatable(L, CLIENT_MT);
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &client_mt_key);
	luaL_setfuncs(L, metameth, 0);
	luaL_newlibtable(L, meth);
	lua_pushvalue(L, -2);
	luaL_setfuncs(L, meth, 1);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	lua_pushcfunction(L, client_new);
	lua_setfield(L, mod, "client_new");
}
