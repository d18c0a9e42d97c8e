/* core.fix_decode(frame): one received FIX frame as a Lua table. The frame
 * was validated by the session before it reached Lua, so a failure here is
 * a caller passing something else; it returns nil, message. */
#include "btl.h"
#include "fix_codec.h"
#include "fix_session.h"

/* FIX 4.4 StandardHeader tags (NoHops' group included). */
static int header_tag(uint32_t tag)
{
	switch (tag) {
	case 8:
	case 9:
	case 34:
	case 35:
	case 43:
	case 49:
	case 50:
	case 52:
	case 56:
	case 57:
	case 90:
	case 91:
	case 97:
	case 115:
	case 116:
	case 122:
	case 128:
	case 129:
	case 142:
	case 143:
	case 144:
	case 145:
	case 212:
	case 213:
	case 347:
	case 369:
	case 627:
	case 628:
	case 629:
	case 630:
		return 1;
	default:
		return 0;
	}
}

/* StandardTrailer: SignatureLength, Signature, CheckSum. */
static int trailer_tag(uint32_t tag)
{
	return tag == 93 || tag == 89 || tag == 10;
}

void btl_push_field_list(lua_State *L, const char *frame, const struct fix_msg *m, size_t from,
			 size_t to, int set_tags)
{
	lua_createtable(L, (int)(to - from), 0);
	for (size_t i = from; i < to; i++) {
		lua_createtable(L, 2, 0);
		lua_pushinteger(L, m->fields[i].tag);
		lua_rawseti(L, -2, 1);
		lua_pushlstring(L, frame + m->fields[i].off, m->fields[i].len);
		if (set_tags) {
			lua_pushvalue(L, -1);
			lua_rawseti(L, -3, 2);
			/* the first occurrence wins for msg[tag] */
			if (lua_rawgeti(L, -4, m->fields[i].tag) == LUA_TNIL) {
				lua_pop(L, 1);
				lua_rawseti(L, -4, m->fields[i].tag);
			} else {
				lua_pop(L, 2);
			}
		} else {
			lua_rawseti(L, -2, 2);
		}
		lua_rawseti(L, -2, (lua_Integer)(i - from) + 1);
	}
}

void btl_fix_split(const struct fix_msg *m, size_t *hdr, size_t *tr)
{
	size_t h = 0, t = m->nfields;
	while (h < m->nfields && header_tag(m->fields[h].tag))
		h++;
	while (t > h && trailer_tag(m->fields[t - 1].tag))
		t--;
	*hdr = h;
	*tr = t;
}

/* -> { msg_type = "8", seq_num = 12,
 *      header = { {8, "FIX.4.4"}, {9, ...}, {35, "8"}, ... },
 *      fields = { {tag, value}, ... }   (the body only)
 *      trailer = { {10, "123"} },
 *      [tag] = value of the first field with that tag, header and trailer
 *              included }
 * The header is the run of StandardHeader tags the frame starts with, the
 * trailer the run of 93/89/10 it ends with. */
#define FIX_DECODE_STACK_FIELDS 128

static int fix_decode(lua_State *L)
{
	size_t len;
	const char *frame = luaL_checklstring(L, 1, &len);
	/* Most messages fit the stack; a 12 KiB userdata per message made the
	 * receive path a malloc/GC benchmark. */
	struct fix_field small[FIX_DECODE_STACK_FIELDS];
	struct fix_msg m;
	fix_msg_init(&m, small, FIX_DECODE_STACK_FIELDS);
	int rc = fix_parse(&m, frame, len);
	if (rc == FIX_E_TOO_MANY_FIELDS) {
		struct fix_field *fields =
		    lua_newuserdatauv(L, sizeof(struct fix_field) * FIX_SESSION_MAX_FIELDS, 0);
		fix_msg_init(&m, fields, FIX_SESSION_MAX_FIELDS);
		rc = fix_parse(&m, frame, len);
	}
	if (rc != FIX_OK) {
		luaL_pushfail(L);
		lua_pushfstring(L, "not a valid FIX 4.4 frame: %s", fix_strerror(rc));
		return 2;
	}
	size_t hdr, tr;
	btl_fix_split(&m, &hdr, &tr);
	lua_createtable(L, 0, (int)m.nfields + 5);
	lua_pushlstring(L, m.msg_type, m.msg_type_len);
	lua_setfield(L, -2, "msg_type");
	lua_pushinteger(L, (lua_Integer)m.seq_num);
	lua_setfield(L, -2, "seq_num");
	btl_push_field_list(L, frame, &m, 0, hdr, 1);
	lua_setfield(L, -2, "header");
	btl_push_field_list(L, frame, &m, hdr, tr, 1);
	lua_setfield(L, -2, "fields");
	btl_push_field_list(L, frame, &m, tr, m.nfields, 1);
	lua_setfield(L, -2, "trailer");
	return 1;
}

void btl_open_fix(lua_State *L, int mod)
{
	lua_pushcfunction(L, fix_decode);
	lua_setfield(L, mod, "fix_decode");
}
