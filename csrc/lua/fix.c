/* core.fix_decode(frame): one received FIX frame as a Lua table. The frame
 * was validated by the session before it reached Lua, so a failure here is
 * a caller passing something else; it returns nil, message. */
#include "btl.h"
#include "fix_codec.h"
#include "fix_session.h"

/* -> { msg_type = "8", seq_num = 12, fields = { {tag, value}, ... },
 *      [tag] = value of the first field with that tag } */
static int fix_decode(lua_State *L)
{
	size_t len;
	const char *frame = luaL_checklstring(L, 1, &len);
	struct fix_field *fields =
	    lua_newuserdatauv(L, sizeof(struct fix_field) * FIX_SESSION_MAX_FIELDS, 0);
	struct fix_msg m;
	fix_msg_init(&m, fields, FIX_SESSION_MAX_FIELDS);
	int rc = fix_parse(&m, frame, len);
	if (rc != FIX_OK) {
		luaL_pushfail(L);
		lua_pushfstring(L, "not a valid FIX 4.4 frame: %s", fix_strerror(rc));
		return 2;
	}
	lua_createtable(L, 0, (int)m.nfields + 3);
	lua_pushlstring(L, m.msg_type, m.msg_type_len);
	lua_setfield(L, -2, "msg_type");
	lua_pushinteger(L, (lua_Integer)m.seq_num);
	lua_setfield(L, -2, "seq_num");
	lua_createtable(L, (int)m.nfields, 0);
	for (size_t i = 0; i < m.nfields; i++) {
		lua_createtable(L, 2, 0);
		lua_pushinteger(L, m.fields[i].tag);
		lua_rawseti(L, -2, 1);
		lua_pushlstring(L, frame + m.fields[i].off, m.fields[i].len);
		lua_pushvalue(L, -1);
		lua_rawseti(L, -3, 2);
		/* the first occurrence wins for msg[tag] */
		if (lua_rawgeti(L, -4, m.fields[i].tag) == LUA_TNIL) {
			lua_pop(L, 1);
			lua_rawseti(L, -4, m.fields[i].tag);
		} else {
			lua_pop(L, 2);
		}
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "fields");
	return 1;
}

void btl_open_fix(lua_State *L, int mod)
{
	lua_pushcfunction(L, fix_decode);
	lua_setfield(L, mod, "fix_decode");
}
