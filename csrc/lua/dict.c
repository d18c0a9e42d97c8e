/* betatrader.dict userdata: a FIX data dictionary (fix_dict.h) seen from
 * Lua. It sends messages by name (field order, enum names, typed values
 * and repeating groups from the dictionary), decodes received frames into
 * message tables answering by name with groups parsed into arrays, checks
 * messages against the dictionary, and lists its names as constants.
 * Name lookups go through Lua tables built once per dictionary (a string
 * key is a hash hit), the structure through the C arrays. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "btl.h"
#include "fix_codec.h"
#include "fix_dict.h"
#include "fix_session.h"
#include "op.h"

#define DICT_MT "betatrader.dict"
#define NUM_BUF 32       /* bytes per formatted value */
#define GROUP_BITS 16384 /* tags below this have a "count field" bit */
#define LEVEL_MAX 256    /* members given at one level of a message */
#define MAX_FIELDS FIX_SESSION_MAX_FIELDS

/* user values of the dictionary userdata */
enum { UV_LAYOUTS = 1, UV_MSGS, UV_TAGS, UV_MSGMT, UV_TYPENAMES, UV_ENUMS, UV_N = UV_ENUMS };

struct ldict {
	const struct fix_dict *d; /* one reference; NULL once collected */
	uint8_t group_bits[GROUP_BITS / 8];
	/* per-call work space of send and decode (Lua runs one C call of a
	 * state at a time, and neither yields) */
	struct fix_out_field out[MAX_FIELDS];
	char scratch[MAX_FIELDS][NUM_BUF];
	struct fix_field in[MAX_FIELDS];
};

/* registry[&dict_mt_key] is the metatable: checked per call without the
 * string lookup of luaL_checkudata */
static const char dict_mt_key = 0;

/* dict:send's arguments: the dictionary and the client are checked against
 * the metatables kept as upvalues 1 and 2 (as the client's own methods do):
 * it runs per order. */
static int has_mt(lua_State *L, int idx, int up)
{
	int ok = 0;
	if (lua_getmetatable(L, idx)) {
		ok = lua_rawequal(L, -1, lua_upvalueindex(up));
		lua_pop(L, 1);
	}
	return ok;
}

static struct ldict *check_dict(lua_State *L, int idx)
{
	struct ldict *ld = lua_touserdata(L, idx);
	int ok = 0;
	if (ld && lua_getmetatable(L, idx)) {
		lua_rawgetp(L, LUA_REGISTRYINDEX, &dict_mt_key);
		ok = lua_rawequal(L, -1, -2);
		lua_pop(L, 2);
	}
	if (!ok)
		ld = luaL_checkudata(L, idx, DICT_MT);
	if (!ld->d)
		luaL_error(L, "dictionary is closed");
	return ld;
}

static const char *S(const struct fix_dict *d, uint32_t off)
{
	return d->strings + off;
}

static const char *field_name(const struct fix_dict *d, uint32_t e)
{
	return S(d, d->fields[d->entries[e].field].name);
}

static int is_count_tag(const struct ldict *ld, uint32_t tag)
{
	if (tag < GROUP_BITS)
		return ld->group_bits[tag >> 3] & (1u << (tag & 7));
	int f = fix_dict_field_by_tag(ld->d, tag);
	return f >= 0 && ld->d->fields[f].type == FIX_T_NUMINGROUP;
}

/* ------------------------------------------------------------- creation */

static int msg_index(lua_State *L);
static int msg_enum(lua_State *L);
static int msg_number(lua_State *L);
static int msg_time(lua_State *L);

/* Wraps d (one reference already taken) in a new userdata. */
static void push_dict(lua_State *L, const struct fix_dict *d)
{
	struct ldict *ld = lua_newuserdatauv(L, sizeof *ld, UV_N);
	ld->d = NULL;
	luaL_setmetatable(L, DICT_MT);
	ld->d = d;
	memset(ld->group_bits, 0, sizeof ld->group_bits);
	int u = lua_gettop(L);
	lua_newtable(L); /* field name -> tag */
	for (uint32_t i = 0; i < d->nfields; i++) {
		const struct fix_dict_field *f = &d->fields[i];
		lua_pushinteger(L, f->tag);
		lua_setfield(L, -2, S(d, f->name));
		if (f->type == FIX_T_NUMINGROUP && f->tag < GROUP_BITS)
			ld->group_bits[f->tag >> 3] |= (uint8_t)(1u << (f->tag & 7));
	}
	int tags = lua_gettop(L);
	lua_newtable(L); /* message name and MsgType -> index; MsgType -> name */
	lua_newtable(L);
	for (uint32_t i = 0; i < d->nmessages; i++) {
		lua_pushinteger(L, i);
		lua_setfield(L, -3, S(d, d->messages[i].name));
		lua_pushinteger(L, i);
		lua_setfield(L, -3, S(d, d->messages[i].msg_type));
		lua_pushstring(L, S(d, d->messages[i].name));
		lua_setfield(L, -2, S(d, d->messages[i].msg_type));
	}
	int typenames = lua_gettop(L);
	lua_setiuservalue(L, u, UV_TYPENAMES);
	lua_setiuservalue(L, u, UV_MSGS);
	(void)typenames;
	/* the metatable of received messages and their group entries */
	lua_createtable(L, 0, 2);
	lua_pushvalue(L, tags);
	static const luaL_Reg methods[] = {
	    {"enum", msg_enum},
	    {"number", msg_number},
	    {"time", msg_time},
	    {NULL, NULL},
	};
	lua_createtable(L, 0, 3);
	lua_pushvalue(L, u);
	luaL_setfuncs(L, methods, 1);
	lua_getiuservalue(L, u, UV_TYPENAMES);
	lua_pushvalue(L, u);
	lua_pushcclosure(L, msg_index, 4);
	lua_setfield(L, -2, "__index");
	lua_pushliteral(L, "betatrader.message");
	lua_setfield(L, -2, "__name");
	lua_setiuservalue(L, u, UV_MSGMT);
	lua_setiuservalue(L, u, UV_TAGS);
	lua_newtable(L);
	lua_setiuservalue(L, u, UV_LAYOUTS);
	lua_newtable(L);
	lua_setiuservalue(L, u, UV_ENUMS);
	lua_settop(L, u);
}

/* core.dict_default() -> the FIX 4.4 dictionary compiled in */
static int dict_default(lua_State *L)
{
	push_dict(L, fix_dict_default());
	return 1;
}

/* core.dict_load(path) -> dictionary | nil, "FILE:LINE: problem" */
static int dict_load(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char err[512];
	struct fix_dict *d = fix_dict_load(path, err, sizeof err);
	if (!d) {
		luaL_pushfail(L);
		lua_pushstring(L, err);
		return 2;
	}
	push_dict(L, d);
	return 1;
}

static int dict_gc(lua_State *L)
{
	struct ldict *ld = luaL_checkudata(L, 1, DICT_MT);
	fix_dict_unref(ld->d);
	ld->d = NULL;
	return 0;
}

const struct fix_dict *btl_dict_check(lua_State *L, int idx)
{
	return check_dict(L, idx)->d;
}

/* --------------------------------------------------------- did you mean */

/* Pushes " (did you mean 'X'?)" for the closest of n candidate names, or "". */
static void push_suggestion(lua_State *L, const char *given, const struct fix_dict *d,
			    const uint32_t *names, size_t n)
{
	int best = 4; /* further than this is no suggestion */
	const char *pick = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *s = S(d, names[i]);
		int k = fix_dict_distance(given, s);
		if (k < best || (k == best && pick && strlen(s) < strlen(pick))) {
			best = k;
			pick = s;
		}
	}
	if (pick && best < 4 && (size_t)best < strlen(given))
		lua_pushfstring(L, " (did you mean '%s'?)", pick);
	else
		lua_pushliteral(L, "");
}

static void push_field_suggestion(lua_State *L, const char *given, const struct fix_dict *d,
				  uint32_t layout)
{
	const struct fix_dict_layout *lay = &d->layouts[layout];
	uint32_t names[512];
	size_t n = 0;
	for (uint32_t e = lay->first; e < lay->first + lay->n && n < 512; e++)
		names[n++] = d->fields[d->entries[e].field].name;
	push_suggestion(L, given, d, names, n);
}

static void push_any_field_suggestion(lua_State *L, const char *given, const struct fix_dict *d)
{
	uint32_t *names = lua_newuserdatauv(L, sizeof *names * (d->nfields + 1), 0);
	for (uint32_t i = 0; i < d->nfields; i++)
		names[i] = d->fields[i].name;
	push_suggestion(L, given, d, names, d->nfields);
	lua_remove(L, -2);
}

static void push_enum_suggestion(lua_State *L, const char *given, const struct fix_dict *d,
				 uint32_t f)
{
	uint32_t names[512];
	size_t n = 0;
	const struct fix_dict_field *fd = &d->fields[f];
	for (uint32_t i = fd->enum_off; i < fd->enum_off + fd->enum_n && n < 512; i++)
		names[n++] = d->enums[i].name;
	push_suggestion(L, given, d, names, n);
}

/* --------------------------------------------------------------- sending */

struct sender {
	lua_State *L;
	struct ldict *ld;
	const struct fix_dict *d;
	const char *msg; /* message name, for errors */
	size_t nout;
	int lvl_path; /* stack index of the current path string */
	int level;    /* of the user's call: 2 through fix:send, 1 for encode */
	int enums;    /* stack index of the UV_ENUMS table */
	int empty;    /* fix:send(type, {}): the raw form applies */
	const char *fn;
};

/* Raises at the user's call of fix:send (fix.lua's wrapper is level 1). */
static int send_error(struct sender *s, const char *fmt, ...)
{
	lua_State *L = s->L;
	luaL_where(L, s->level);
	lua_pushfstring(L, "bad argument #2 to '%s' (", s->fn);
	if (s->lvl_path)
		lua_pushvalue(L, s->lvl_path);
	else
		lua_pushstring(L, s->msg);
	lua_pushliteral(L, ": ");
	va_list ap;
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	lua_pushliteral(L, ")");
	lua_concat(L, 6);
	return lua_error(L);
}

/* |n| in [1e-4, 1e15) with 15 significant digits, trailing zeros dropped,
 * by integer arithmetic: the same text as "%.15g" for any decimal of up to
 * 15 significant digits (a price), several times faster. 0: not handled,
 * including when those digits do not read back as n (then a longer form is
 * needed: btl_fmt_decimal). */
static size_t fmt_float_fast(char *buf, double n)
{
	static const double p10[] = {1,    1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8, 1e9,
				     1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};
	double a = fabs(n);
	if (!(a >= 1e-4 && a < 1e15))
		return 0;
	int e = 0; /* a in [10^e, 10^(e+1)), without log10 */
	if (a >= 1) {
		while (e < 14 && a >= p10[e + 1])
			e++;
	} else {
		e = -1;
		while (e > -4 && a * p10[-e] < 1)
			e--;
	}
	int d = 14 - e; /* decimals for 15 significant digits */
	if (d < 0)
		d = 0;
	if (d > 18)
		return 0;
	double sc = a * p10[d];
	if (sc >= 1e15 || sc < 1e13) /* log10 rounded across a power of ten */
		return 0;
	uint64_t v = (uint64_t)llround(sc);
	/* v and 10^d are exact doubles, so the division is correctly rounded,
	 * as strtod of the text would be: equal means the text reads back as n */
	if ((double)v / p10[d] != a)
		return 0;
	/* trailing zeros of the fraction go first, five at a time when they can */
	while (d >= 5 && v % 100000 == 0) {
		v /= 100000;
		d -= 5;
	}
	while (d > 0 && v % 10 == 0) {
		v /= 10;
		d--;
	}
	char dig[24];
	int nd = 0;
	do {
		dig[nd++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	char *p = buf;
	if (n < 0)
		*p++ = '-';
	if (nd <= d)
		*p++ = '0';
	for (int i = nd - 1; i >= d; i--)
		*p++ = dig[i];
	int low = 0; /* lowest fraction digit that is not a trailing zero */
	while (low < d && low < nd && dig[low] == '0')
		low++;
	if (low < d) {
		*p++ = '.';
		for (int i = d - 1; i >= low; i--)
			*p++ = i >= nd ? '0' : dig[i];
	}
	*p = '\0';
	return (size_t)(p - buf);
}

/* A float as the shortest plain decimal that reads back as n (no exponent),
 * into buf (NUM_BUF bytes); 0 when it needs more. */
static size_t fmt_float(char *buf, double n)
{
	size_t k = fmt_float_fast(buf, n);
	if (k)
		return k;
	char dec[BTL_DEC_MAX];
	k = btl_fmt_decimal(dec, n);
	if (k >= NUM_BUF)
		return 0;
	memcpy(buf, dec, k + 1);
	return k;
}

static const char *type_name(const struct fix_dict *d, uint32_t f)
{
	return S(d, d->fields[f].tname);
}

/* The wire form of the value at idx for field entry e, into out. */
static void encode_value(struct sender *s, uint32_t e, int idx, struct fix_out_field *out,
			 char *buf)
{
	lua_State *L = s->L;
	const struct fix_dict *d = s->d;
	uint32_t f = d->entries[e].field;
	const struct fix_dict_field *fd = &d->fields[f];
	const char *name = S(d, fd->name);
	const char *v = NULL;
	size_t len = 0;
	int t = lua_type(L, idx);
	out->tag = fd->tag;
	switch (t) {
	case LUA_TSTRING:
		v = lua_tolstring(L, idx, &len);
		break;
	case LUA_TBOOLEAN:
		if (fd->type != FIX_T_BOOLEAN && fix_dict_enum_by_value(d, f, "Y", 1) < 0)
			send_error(s, "%s (%d) is %s, got boolean", name, (int)fd->tag,
				   type_name(d, f));
		v = lua_toboolean(L, idx) ? "Y" : "N";
		len = 1;
		break;
	case LUA_TNUMBER:
		if (fd->type == FIX_T_UTCTIMESTAMP) {
			lua_Number secs = lua_tonumber(L, idx);
			if (!(secs >= 0 && secs < 253402300800.0))
				send_error(s, "%s (%d) is UTCTIMESTAMP, got out of range number",
					   name, (int)fd->tag);
			fix_format_time((int64_t)llround(secs * 1000.0), buf);
			v = buf;
			len = strlen(buf);
		} else if (lua_isinteger(L, idx)) {
			len = btl_fmt_int(buf, lua_tointeger(L, idx));
			v = buf;
		} else {
			lua_Number n = lua_tonumber(L, idx);
			if (fd->type == FIX_T_INT || fd->type == FIX_T_NUMINGROUP) {
				lua_Integer i = 0;
				if (!lua_numbertointeger(n, &i) || (lua_Number)i != n)
					send_error(s, "%s (%d) is %s, got non-integer %f", name,
						   (int)fd->tag, type_name(d, f), n);
				len = btl_fmt_int(buf, i);
			} else {
				if (n != n || n > 1e15 || n < -1e15)
					send_error(s, "%s (%d) is %s, got %f", name, (int)fd->tag,
						   type_name(d, f), n);
				len = fmt_float(buf, n);
				if (!len)
					send_error(s,
						   "%s (%d) is %s, got %g: more than %d characters "
						   "as a plain decimal",
						   name, (int)fd->tag, type_name(d, f), n,
						   NUM_BUF - 1);
			}
			v = buf;
		}
		break;
	default:
		send_error(s, "%s (%d) is %s, got %s", name, (int)fd->tag, type_name(d, f),
			   lua_typename(L, t));
	}
	if (fd->enum_n && fd->type != FIX_T_MULTI && t == LUA_TSTRING) {
		/* name or wire value -> wire value, through a Lua table per field
		 * (a string key is one hash lookup; the table anchors the result) */
		if (lua_rawgeti(L, s->enums, f) != LUA_TTABLE) {
			lua_pop(L, 1);
			lua_createtable(L, 0, (int)fd->enum_n * 2);
			for (uint32_t i = fd->enum_off; i < fd->enum_off + fd->enum_n; i++) {
				lua_pushstring(L, S(d, d->enums[i].value));
				lua_pushvalue(L, -1);
				lua_setfield(L, -3, S(d, d->enums[i].name));
				lua_setfield(L, -2, S(d, d->enums[i].value));
			}
			lua_pushvalue(L, -1);
			lua_rawseti(L, s->enums, f);
		}
		lua_pushvalue(L, idx);
		if (lua_rawget(L, -2) != LUA_TSTRING) {
			push_enum_suggestion(L, v, d, f);
			send_error(s, "'%s' is not a valid %s (%d) value%s", v, name, (int)fd->tag,
				   lua_tostring(L, -1));
		}
		v = lua_tolstring(L, -1, &len);
		lua_pop(L, 2);
	} else if (fd->enum_n && fd->type != FIX_T_MULTI) {
		if (fix_dict_enum_by_value(d, f, v, len) < 0) {
			int en = fix_dict_enum_by_name(d, f, v, len);
			if (en < 0) {
				push_enum_suggestion(L, v, d, f);
				send_error(s, "'%s' is not a valid %s (%d) value%s", v, name,
					   (int)fd->tag, lua_tostring(L, -1));
			}
			v = S(d, d->enums[en].value);
			len = strlen(v);
		}
	} else if (len == 0 || memchr(v, '\x01', len)) {
		send_error(s, "%s (%d): value is empty or contains SOH", name, (int)fd->tag);
	} else if ((t == LUA_TSTRING || fd->type == FIX_T_CHAR || fd->type == FIX_T_BOOLEAN ||
		    fd->type >= FIX_T_DATE) &&
		   !fix_dict_value_ok(d, f, v, len)) {
		/* numbers were formatted here already in the field's form */
		send_error(s, "'%s' is not a valid %s for %s (%d)", v, type_name(d, f), name,
			   (int)fd->tag);
	}
	if (fd->enum_n && fd->type == FIX_T_MULTI) {
		/* every word must be a wire value (names are not mapped here) */
		size_t i = 0;
		while (i < len) {
			size_t j = i;
			while (j < len && v[j] != ' ')
				j++;
			if (j > i && fix_dict_enum_by_value(d, f, v + i, j - i) < 0)
				send_error(s, "'%s' is not a valid %s (%d) value", v, name,
					   (int)fd->tag);
			i = j + 1;
		}
	}
	out->val = v;
	out->len = len;
}

/* name -> entry index of layout l (members, and for a message the header
 * fields as negative indices - 1), built on first use. Pushes the table. */
static void push_layout_names(struct sender *s, uint32_t l, int with_header)
{
	lua_State *L = s->L;
	lua_getiuservalue(L, 1, UV_LAYOUTS);
	if (lua_rawgeti(L, -1, (lua_Integer)l) == LUA_TTABLE) {
		lua_remove(L, -2);
		return;
	}
	lua_pop(L, 1);
	const struct fix_dict *d = s->d;
	const struct fix_dict_layout *lay = &d->layouts[l];
	lua_createtable(L, 0, (int)lay->n);
	if (with_header) {
		const struct fix_dict_layout *h = &d->layouts[d->header];
		for (uint32_t e = h->first; e < h->first + h->n; e++) {
			lua_pushinteger(L, -(lua_Integer)e - 1);
			lua_setfield(L, -2, field_name(d, e));
		}
	}
	for (uint32_t e = lay->first; e < lay->first + lay->n; e++) {
		lua_pushinteger(L, e);
		lua_setfield(L, -2, field_name(d, e));
	}
	lua_pushvalue(L, -1);
	lua_rawseti(L, -3, (lua_Integer)l);
	lua_remove(L, -2);
}

struct item {
	long order; /* header entries first, then members in dictionary order */
	uint32_t entry;
	int idx; /* stack index of the value */
};

static void encode_layout(struct sender *s, uint32_t l, int t, int top);

static int is_empty(lua_State *L, int t)
{
	lua_pushnil(L);
	if (!lua_next(L, t))
		return 1;
	lua_pop(L, 2);
	return 0;
}

static void encode_group(struct sender *s, uint32_t e, int arr)
{
	lua_State *L = s->L;
	const struct fix_dict *d = s->d;
	const char *gname = field_name(d, e);
	if (lua_type(L, arr) != LUA_TTABLE)
		send_error(s, "group %s expects an array of tables, got %s", gname,
			   luaL_typename(L, arr));
	lua_Integer n = (lua_Integer)lua_rawlen(L, arr);
	if (n == 0)
		return;
	if (s->nout >= MAX_FIELDS)
		send_error(s, "too many fields");
	struct fix_out_field *cnt = &s->ld->out[s->nout];
	cnt->tag = d->fields[d->entries[e].field].tag;
	cnt->len = btl_fmt_int(s->ld->scratch[s->nout], n);
	cnt->val = s->ld->scratch[s->nout];
	s->nout++;
	uint32_t g = (uint32_t)d->entries[e].group;
	int saved = s->lvl_path;
	for (lua_Integer i = 1; i <= n; i++) {
		if (lua_rawgeti(L, arr, i) != LUA_TTABLE)
			send_error(s, "%s[%d] must be a table, got %s", gname, (int)i,
				   luaL_typename(L, -1));
		int inst = lua_gettop(L);
		lua_pushfstring(L, "%s.%s[%d]", saved ? lua_tostring(L, saved) : s->msg, gname,
				(int)i);
		s->lvl_path = lua_gettop(L);
		size_t before = s->nout;
		encode_layout(s, g, inst, 0);
		uint32_t delim = d->fields[d->entries[d->layouts[g].first].field].tag;
		if (s->nout == before || s->ld->out[before].tag != delim)
			send_error(s, "the first field of each entry, %s (%d), is missing",
				   field_name(d, d->layouts[g].first), (int)delim);
		s->lvl_path = saved;
		lua_settop(L, inst - 1);
	}
}

static void encode_layout(struct sender *s, uint32_t l, int t, int top)
{
	lua_State *L = s->L;
	const struct fix_dict *d = s->d;
	struct item items[LEVEL_MAX];
	size_t n = 0;
	push_layout_names(s, l, top);
	int names = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, t)) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pop(L, 1);
			send_error(s,
				   "field names expected, got key %s (for tag numbers use "
				   "the raw form { {tag, value}, ... })",
				   luaL_tolstring(L, -1, NULL));
		}
		lua_pushvalue(L, -2);
		int isnum;
		lua_Integer e = (lua_rawget(L, names), lua_tointegerx(L, -1, &isnum));
		lua_pop(L, 1);
		if (!isnum) {
			const char *k = lua_tostring(L, -2);
			int f = fix_dict_field_by_name(d, k);
			if (f >= 0)
				send_error(s, "field %s (%d) is not part of this message", k,
					   (int)d->fields[f].tag);
			push_field_suggestion(L, k, d, l);
			send_error(s, "unknown field '%s'%s", k, lua_tostring(L, -1));
		}
		if (e < 0 && !fix_session_app_tag_ok(d->fields[d->entries[-e - 1].field].tag))
			send_error(s, "%s (%d) is written by the session", lua_tostring(L, -2),
				   (int)d->fields[d->entries[-e - 1].field].tag);
		if (e >= 0 && d->entries[e].group >= 0 && lua_type(L, -1) == LUA_TTABLE &&
		    lua_rawlen(L, -1) == 0) {
			lua_pop(L, 1); /* an empty group is an absent one */
			continue;
		}
		if (n == LEVEL_MAX)
			send_error(s, "too many fields");
		/* keep the value on the stack, under the key, until encoded */
		items[n].order = e < 0 ? -(long)d->nentries + (-e - 1) : (long)e;
		items[n].entry = (uint32_t)(e < 0 ? -e - 1 : e);
		items[n].idx = lua_gettop(L);
		if (n % 16 == 0)
			luaL_checkstack(L, 40, "too many fields");
		lua_pushvalue(L, -2); /* the key for lua_next */
		n++;
	}
	if (top && n == 0 && s->level == 2) {
		s->empty = 1;
		return;
	}
	/* insertion sort: a message has few fields */
	for (size_t i = 1; i < n; i++) {
		struct item x = items[i];
		size_t j = i;
		while (j > 0 && items[j - 1].order > x.order) {
			items[j] = items[j - 1];
			j--;
		}
		items[j] = x;
	}
	/* required members; a group instance is checked from its first field */
	const struct fix_dict_layout *lay = &d->layouts[l];
	size_t k = 0;
	for (uint32_t r = lay->req_off; r < lay->req_off + lay->req_n; r++) {
		uint32_t e = d->required[r];
		while (k < n && items[k].order < (long)e)
			k++;
		if (!(k < n && items[k].entry == e))
			send_error(s, "required field %s (%d) is missing", field_name(d, e),
				   (int)d->fields[d->entries[e].field].tag);
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t e = items[i].entry;
		if (d->entries[e].group >= 0 && items[i].order >= 0) {
			encode_group(s, e, items[i].idx);
			continue;
		}
		if (s->nout >= MAX_FIELDS)
			send_error(s, "too many fields");
		encode_value(s, e, items[i].idx, &s->ld->out[s->nout], s->ld->scratch[s->nout]);
		s->nout++;
	}
	(void)names;
}

/* Encodes fields (stack index fi) of the message named at ni into ld->out;
 * returns the message. Raises naming the message, the field and the rule. */
static const struct fix_dict_message *encode_named(lua_State *L, struct ldict *ld, int ni, int fi,
						   int level, size_t *nout)
{
	const struct fix_dict *d = ld->d;
	const char *mname = luaL_checkstring(L, ni);
	luaL_checktype(L, fi, LUA_TTABLE);
	struct sender s = {.L = L,
			   .ld = ld,
			   .d = d,
			   .msg = mname,
			   .level = level,
			   .fn = level == 2 ? "send" : "encode"};
	/* fix:send(type, {}) is the raw form, as before names: checked only
	 * where the answer differs, so that an order pays no extra lua_next */
	*nout = 0;
	lua_getiuservalue(L, 1, UV_MSGS);
	lua_pushvalue(L, ni);
	int isnum;
	lua_Integer mi = (lua_rawget(L, -2), lua_tointegerx(L, -1, &isnum));
	lua_pop(L, 2);
	if (!isnum && level == 2 && is_empty(L, fi))
		return NULL;
	if (!isnum) {
		uint32_t names[1024];
		size_t n = 0;
		for (uint32_t i = 0; i < d->nmessages && n < 1024; i++)
			names[n++] = d->messages[i].name;
		push_suggestion(L, mname, d, names, n);
		luaL_where(L, level);
		lua_pushfstring(L, "bad argument #1 to '%s' (unknown message '%s'%s)", s.fn, mname,
				lua_tostring(L, -2));
		lua_concat(L, 2);
		lua_error(L);
	}
	const struct fix_dict_message *m = &d->messages[mi];
	int top = lua_gettop(L);
	s.msg = S(d, m->name); /* errors name the message, not the MsgType given */
	lua_getiuservalue(L, 1, UV_ENUMS);
	s.enums = lua_gettop(L);
	if (m->admin && level == 2 && is_empty(L, fi))
		return NULL;
	if (m->admin)
		send_error(&s, "session message %s (35=%s) is sent by the session", S(d, m->name),
			   S(d, m->msg_type));
	encode_layout(&s, m->layout, fi, 1);
	lua_settop(L, top);
	if (s.empty)
		return NULL;
	*nout = s.nout;
	return m;
}

/* dict:send(client, msg, { Name = value, ... }) -> true | nil, message, code */
static int dict_send(lua_State *L)
{
	struct ldict *ld = lua_touserdata(L, 1);
	if (!ld || !has_mt(L, 1, 1) || !ld->d)
		ld = check_dict(L, 1);
	struct bt_auth *a = has_mt(L, 2, 2) ? btl_client_auth(L, 2) : btl_client_check(L, 2);
	size_t n;
	const struct fix_dict_message *m = encode_named(L, ld, 3, 4, 2, &n);
	char err[160];
	const char *type = m ? S(ld->d, m->msg_type) : lua_tostring(L, 3);
	int rc = a ? bt_auth_send(a, type, ld->out, n, err, sizeof err) : BT_AUTH_SEND_STATE;
	if (!a)
		snprintf(err, sizeof err, "client is closed");
	switch (rc) {
	case BT_AUTH_SEND_OK:
		lua_pushboolean(L, 1);
		return 1;
	case BT_AUTH_SEND_STATE:
	case BT_AUTH_SEND_BUSY:
		/* as the raw form answers: states a script must handle */
		luaL_pushfail(L);
		lua_pushstring(L, err);
		lua_pushstring(
		    L, bt_err_code(rc == BT_AUTH_SEND_BUSY ? BT_ERR_BUSY : BT_ERR_INVALID_STATE));
		return 3;
	case BT_AUTH_SEND_NOMEM:
		return luaL_error(L, "send: %s", err);
	default:
		return luaL_error(L, "bad argument to 'send' (%s)", err);
	}
}

/* dict:encode(msg, { Name = value, ... } [, { sender =, target =, seq =,
 * time = seconds }]) -> the whole FIX frame, as send would put it on the
 * wire (for tests, logs and replay tools). */
static int dict_encode(lua_State *L)
{
	struct ldict *ld = check_dict(L, 1);
	size_t n;
	const struct fix_dict_message *m = encode_named(L, ld, 2, 3, 1, &n);
	const char *sender = "SENDER", *target = "TARGET";
	lua_Integer seq = 1;
	lua_Number secs = 0;
	if (lua_istable(L, 4)) {
		lua_getfield(L, 4, "sender");
		sender = luaL_optstring(L, -1, sender);
		lua_getfield(L, 4, "target");
		target = luaL_optstring(L, -1, target);
		lua_getfield(L, 4, "seq");
		seq = luaL_optinteger(L, -1, seq);
		lua_getfield(L, 4, "time");
		secs = luaL_optnumber(L, -1, secs);
	}
	size_t cap = FIX_ENC_HEADROOM + 256;
	for (size_t i = 0; i < n; i++)
		cap += ld->out[i].len + 12;
	char *buf = lua_newuserdatauv(L, cap, 0);
	struct fix_enc enc;
	fix_enc_begin(&enc, buf, cap, S(ld->d, m->msg_type), sender, target, (uint64_t)seq,
		      (int64_t)llround(secs * 1000.0));
	for (size_t i = 0; i < n; i++)
		fix_enc_str(&enc, ld->out[i].tag, ld->out[i].val, ld->out[i].len);
	size_t len;
	const char *frame = fix_enc_finish(&enc, &len);
	if (!frame)
		return luaL_error(L, "encode: %s", fix_strerror(enc.status));
	lua_pushlstring(L, frame, len);
	return 1;
}

/* ------------------------------------------------------------- receiving */

struct decoder {
	lua_State *L;
	const struct fix_dict *d;
	const struct fix_msg *m;
	int mt; /* stack index of the message metatable */
};

static void decode_layout(struct decoder *c, uint32_t l, size_t *pi, int t);

/* Count field at *pi (entry e of the enclosing layout): the array of its
 * instances is stored in table t under the group's name. */
static void decode_group(struct decoder *c, uint32_t e, size_t *pi, int t)
{
	lua_State *L = c->L;
	const struct fix_dict *d = c->d;
	uint32_t g = (uint32_t)d->entries[e].group;
	uint32_t delim = d->fields[d->entries[d->layouts[g].first].field].tag;
	/* tables sized up front: growing them one key at a time is most of
	 * the cost of a decode */
	const struct fix_field *cnt = &c->m->fields[*pi];
	int declared = 0;
	for (uint32_t k = 0; k < cnt->len && declared < 1024; k++)
		declared = declared * 10 + (c->m->buf[cnt->off + k] - '0');
	(*pi)++;
	lua_createtable(L, declared, 0);
	int arr = lua_gettop(L);
	lua_Integer n = 0;
	int size = 4; /* fields of the previous entry */
	while (*pi < c->m->nfields && c->m->fields[*pi].tag == delim) {
		size_t from = *pi;
		lua_createtable(L, 0, size);
		lua_pushvalue(L, c->mt);
		lua_setmetatable(L, -2);
		decode_layout(c, g, pi, lua_gettop(L));
		lua_rawseti(L, arr, ++n);
		size = (int)(*pi - from);
	}
	lua_setfield(L, t, field_name(d, e));
}

/* Fields of one group instance into t: up to the first tag outside the
 * group, or the delimiter starting the next instance. */
static void decode_layout(struct decoder *c, uint32_t l, size_t *pi, int t)
{
	lua_State *L = c->L;
	const struct fix_dict *d = c->d;
	const struct fix_msg *m = c->m;
	uint32_t delim = d->fields[d->entries[d->layouts[l].first].field].tag;
	size_t start = *pi;
	while (*pi < m->nfields) {
		const struct fix_field *f = &m->fields[*pi];
		if (f->tag == delim && *pi != start)
			return;
		int e = fix_dict_layout_find(d, l, f->tag);
		if (e < 0)
			return;
		lua_pushlstring(L, m->buf + f->off, f->len);
		lua_rawseti(L, t, f->tag);
		if (d->entries[e].group >= 0)
			decode_group(c, (uint32_t)e, pi, t);
		else
			(*pi)++;
	}
}

/* Top level of a message with groups: a group's entries in an array at
 * msg[GroupName] (msg[tag] is already set for every tag). */
static void decode_groups(struct decoder *c, uint32_t l, int t)
{
	const struct fix_msg *m = c->m;
	size_t i = 0;
	while (i < m->nfields) {
		const struct fix_field *f = &m->fields[i];
		int e = fix_dict_layout_find(c->d, l, f->tag);
		if (e >= 0 && c->d->entries[e].group >= 0)
			decode_group(c, (uint32_t)e, &i, t);
		else
			i++;
	}
}

/* dict:decode(frame [, check]) -> message [, problem] | nil, error
 * The message: { msg_type, seq_num, fields = { {tag, value}, ... },
 * [tag] = first value, GroupName = { entry, ... } } answering by name. */
static int dict_decode(lua_State *L)
{
	struct ldict *ld = check_dict(L, 1);
	size_t len;
	const char *frame = luaL_checklstring(L, 2, &len);
	int check = lua_toboolean(L, 3);
	const struct fix_dict *d = ld->d;
	struct fix_msg m;
	fix_msg_init(&m, ld->in, MAX_FIELDS);
	/* any version the framer takes: a client with begin_strings receives
	 * FIXT.1.1 frames, and its session has already vetted them */
	int rc = fix_parse_any_version(&m, frame, len);
	if (rc != FIX_OK) {
		luaL_pushfail(L);
		lua_pushfstring(L, "not a valid FIX 4.4 frame: %s", fix_strerror(rc));
		return 2;
	}
	lua_settop(L, 2);
	lua_getiuservalue(L, 1, UV_MSGMT);
	int mt = lua_gettop(L);
	int groups = 0;
	for (size_t i = 0; i < m.nfields && !groups; i++)
		groups = is_count_tag(ld, m.fields[i].tag);
	lua_createtable(L, 0, (int)m.nfields + 3);
	int t = lua_gettop(L);
	lua_pushvalue(L, mt);
	lua_setmetatable(L, t);
	lua_pushlstring(L, m.msg_type, m.msg_type_len);
	lua_setfield(L, t, "msg_type");
	lua_pushinteger(L, (lua_Integer)m.seq_num);
	lua_setfield(L, t, "seq_num");
	/* msg[tag] is the first value of every tag, inside groups too (as
	 * core.fix_decode gives it) */
	for (size_t i = 0; i < m.nfields; i++) {
		uint32_t tag = m.fields[i].tag;
		if (lua_rawgeti(L, t, tag) == LUA_TNIL) {
			lua_pushlstring(L, frame + m.fields[i].off, m.fields[i].len);
			lua_rawseti(L, t, tag);
		}
		lua_pop(L, 1);
	}
	int mi = groups ? fix_dict_message_by_type(d, m.msg_type, m.msg_type_len) : -1;
	if (mi >= 0) {
		struct decoder c = {L, d, &m, mt};
		decode_groups(&c, d->messages[mi].layout, t);
	}
	/* msg.fields, the list of {tag, value} pairs, is built from the frame
	 * kept at [0] when first read: most bots never look at it */
	lua_pushvalue(L, 2);
	lua_rawseti(L, t, 0);
	if (!check)
		return 1;
	struct fix_dict_problem p;
	if (!fix_dict_check(d, &m, &p))
		return 1;
	if (p.ref_tag >= 0)
		lua_pushfstring(L, "%s (371=%d, 373=%d)", p.text, p.ref_tag, p.reason);
	else
		lua_pushfstring(L, "%s (373=%d)", p.text, p.reason);
	return 2;
}

/* The tag of a field named at idx (a name or a number); raises if unknown. */
static lua_Integer arg_tag(lua_State *L, int idx, const char *fn)
{
	if (lua_isinteger(L, idx))
		return lua_tointeger(L, idx);
	const char *k = luaL_checkstring(L, idx);
	lua_getiuservalue(L, lua_upvalueindex(1), UV_TAGS);
	int isnum;
	lua_Integer tag = (lua_getfield(L, -1, k), lua_tointegerx(L, -1, &isnum));
	lua_pop(L, 2);
	if (!isnum) {
		push_any_field_suggestion(L, k, check_dict(L, lua_upvalueindex(1))->d);
		luaL_error(L, "bad argument #1 to '%s' (unknown field '%s'%s)", fn, k,
			   lua_tostring(L, -1));
	}
	return tag;
}

/* msg:enum(name) -> the dictionary's name of the value ("FILLED"), or nil
 * when absent; a value outside the enumeration gives nil, value. */
static int msg_enum(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Integer tag = arg_tag(L, 2, "enum");
	const struct fix_dict *d = check_dict(L, lua_upvalueindex(1))->d;
	if (lua_rawgeti(L, 1, tag) != LUA_TSTRING)
		return 1;
	size_t len;
	const char *v = lua_tolstring(L, -1, &len);
	int f = fix_dict_field_by_tag(d, (uint32_t)tag);
	int en = f < 0 ? -1 : fix_dict_enum_by_value(d, (uint32_t)f, v, len);
	if (en < 0) {
		luaL_pushfail(L);
		lua_insert(L, -2);
		return 2;
	}
	lua_pushstring(L, S(d, d->enums[en].name));
	return 1;
}

/* msg:number(name) -> the value as a Lua number, nil when absent; raises on
 * a value that is not a FIX number. */
static int msg_number(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Integer tag = arg_tag(L, 2, "number");
	if (lua_rawgeti(L, 1, tag) != LUA_TSTRING)
		return 1;
	size_t len;
	const char *v = lua_tolstring(L, -1, &len);
	size_t i = v[0] == '-', nd = 0;
	int dots = 0, ok = 1;
	for (; i < len; i++) {
		if (v[i] >= '0' && v[i] <= '9')
			nd++;
		else if (v[i] == '.' && !dots)
			dots = 1;
		else
			ok = 0;
	}
	if (!ok || !nd || !lua_stringtonumber(L, v))
		return luaL_error(L, "number: %s (%d) is not a number: '%s'",
				  lua_isinteger(L, 2) ? "tag" : lua_tostring(L, 2), (int)tag, v);
	return 1;
}

/* msg:time(name) -> seconds since the epoch (with milliseconds), nil when
 * absent; raises on a value that is not a UTCTimestamp. */
static int msg_time(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Integer tag = arg_tag(L, 2, "time");
	if (lua_rawgeti(L, 1, tag) != LUA_TSTRING)
		return 1;
	size_t len;
	const char *v = lua_tolstring(L, -1, &len);
	int64_t ms;
	if (fix_parse_time(v, len, &ms) != FIX_OK)
		return luaL_error(L, "time: %s (%d) is not a UTCTimestamp: '%s'",
				  lua_isinteger(L, 2) ? "tag" : lua_tostring(L, 2), (int)tag, v);
	lua_pushnumber(L, (lua_Number)ms / 1000.0);
	return 1;
}

/* msg.header, msg.fields (the body) and msg.trailer, built together on
 * first use of any of them: { {tag, value}, ... } in wire order. The key
 * asked for is at index 2. */
static int build_fields(lua_State *L)
{
	size_t len;
	const char *frame = lua_tolstring(L, -1, &len);
	struct ldict *ld = check_dict(L, lua_upvalueindex(4));
	struct fix_msg m;
	fix_msg_init(&m, ld->in, MAX_FIELDS);
	if (fix_parse_any_version(&m, frame, len) != FIX_OK)
		return 0;
	size_t hdr, tr;
	btl_fix_split(&m, &hdr, &tr);
	btl_push_field_list(L, frame, &m, 0, hdr, 0);
	lua_setfield(L, 1, "header");
	btl_push_field_list(L, frame, &m, hdr, tr, 0);
	lua_setfield(L, 1, "fields");
	btl_push_field_list(L, frame, &m, tr, m.nfields, 0);
	lua_setfield(L, 1, "trailer");
	lua_pushvalue(L, 2);
	lua_rawget(L, 1);
	return 1;
}

/* __index of messages: methods, then field names (upvalues: tags by name,
 * methods, message names by MsgType, the dictionary). */
static int msg_index(lua_State *L)
{
	if (lua_type(L, 2) != LUA_TSTRING)
		return 0;
	const char *key = lua_tostring(L, 2);
	if (!strcmp(key, "fields") || !strcmp(key, "header") || !strcmp(key, "trailer"))
		return lua_rawgeti(L, 1, 0) == LUA_TSTRING ? build_fields(L) : 0;
	lua_pushvalue(L, 2);
	if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL)
		return 1;
	lua_pop(L, 1);
	lua_pushvalue(L, 2);
	int isnum;
	lua_Integer tag = (lua_rawget(L, lua_upvalueindex(1)), lua_tointegerx(L, -1, &isnum));
	if (!isnum) {
		const char *k = lua_tostring(L, 2);
		/* FIX names are capitalised; lower-case keys are the library's own
		 * (msg.invalid, msg.header) and read as nil when absent */
		if (k[0] >= 'a' && k[0] <= 'z')
			return 0;
		push_any_field_suggestion(L, k, check_dict(L, lua_upvalueindex(4))->d);
		return luaL_error(L, "unknown field '%s'%s", k, lua_tostring(L, -1));
	}
	if (lua_rawgeti(L, 1, tag) == LUA_TSTRING && tag == 35) {
		lua_pushvalue(L, -1);
		if (lua_rawget(L, lua_upvalueindex(3)) == LUA_TNIL)
			lua_pop(L, 1);
	}
	return 1;
}

/* --------------------------------------------------- constants and misc */

/* dict:constants() -> { tags = { Name = tag }, messages = { Name = MsgType },
 *   FieldName = { ENUM_NAME = "value" } } */
static int dict_constants(lua_State *L)
{
	const struct fix_dict *d = check_dict(L, 1)->d;
	lua_createtable(L, 0, 64);
	lua_createtable(L, 0, (int)d->nfields);
	for (uint32_t i = 0; i < d->nfields; i++) {
		const struct fix_dict_field *f = &d->fields[i];
		lua_pushinteger(L, f->tag);
		lua_setfield(L, -2, S(d, f->name));
		if (!f->enum_n)
			continue;
		lua_createtable(L, 0, (int)f->enum_n);
		for (uint32_t k = f->enum_off; k < f->enum_off + f->enum_n; k++) {
			lua_pushstring(L, S(d, d->enums[k].value));
			lua_setfield(L, -2, S(d, d->enums[k].name));
		}
		lua_setfield(L, -3, S(d, f->name));
	}
	lua_setfield(L, -2, "tags");
	lua_createtable(L, 0, (int)d->nmessages);
	for (uint32_t i = 0; i < d->nmessages; i++) {
		lua_pushstring(L, S(d, d->messages[i].msg_type));
		lua_setfield(L, -2, S(d, d->messages[i].name));
	}
	lua_setfield(L, -2, "messages");
	return 1;
}

/* dict:field(name | tag) -> name, tag, type | nil */
static int dict_field(lua_State *L)
{
	const struct fix_dict *d = check_dict(L, 1)->d;
	int f = lua_isinteger(L, 2) ? fix_dict_field_by_tag(d, (uint32_t)lua_tointeger(L, 2))
				    : fix_dict_field_by_name(d, luaL_checkstring(L, 2));
	if (f < 0) {
		luaL_pushfail(L);
		return 1;
	}
	lua_pushstring(L, S(d, d->fields[f].name));
	lua_pushinteger(L, d->fields[f].tag);
	lua_pushstring(L, S(d, d->fields[f].tname));
	return 3;
}

/* core.utc([seconds]) -> "YYYYMMDD-HH:MM:SS.sss" */
static int utc(lua_State *L)
{
	int64_t ms;
	if (lua_isnoneornil(L, 1)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	} else {
		lua_Number s = luaL_checknumber(L, 1);
		luaL_argcheck(L, s >= 0 && s < 253402300800.0, 1, "seconds out of range");
		ms = (int64_t)llround(s * 1000.0);
	}
	char buf[22];
	fix_format_time(ms, buf);
	lua_pushstring(L, buf);
	return 1;
}

/* The I/O thread's validator for validate = "reject". */
int btl_dict_validate(void *ud, const struct fix_msg *m, int *ref_tag, int *reason, char *text,
		      size_t textlen)
{
	struct fix_dict_problem p;
	if (!fix_dict_check(ud, m, &p))
		return 0;
	*ref_tag = p.ref_tag;
	*reason = p.reason;
	snprintf(text, textlen, "%s", p.text);
	return 1;
}

void btl_open_dict(lua_State *L, int mod)
{
	static const luaL_Reg meth[] = {
	    {"send", dict_send},           {"encode", dict_encode}, {"decode", dict_decode},
	    {"constants", dict_constants}, {"field", dict_field},   {NULL, NULL},
	};
	luaL_newmetatable(L, DICT_MT);
	lua_pushvalue(L, -1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &dict_mt_key);
	lua_pushcfunction(L, dict_gc);
	lua_setfield(L, -2, "__gc");
	luaL_newlibtable(L, meth);
	lua_pushvalue(L, -2);
	luaL_getmetatable(L, "betatrader.client"); /* btl_open_client ran first */
	luaL_setfuncs(L, meth, 2);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	lua_pushcfunction(L, dict_default);
	lua_setfield(L, mod, "dict_default");
	lua_pushcfunction(L, dict_load);
	lua_setfield(L, mod, "dict_load");
	lua_pushcfunction(L, utc);
	lua_setfield(L, mod, "utc");
}
