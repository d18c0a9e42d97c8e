/* Internal header of the Lua binding (betatrader.core). Each C file of the
 * binding adds its functions to the module table through one btl_open_*()
 * called from luaopen_betatrader_core in core.c. */
#ifndef BT_BTL_H
#define BT_BTL_H

#include <lauxlib.h>
#include <lua.h>

struct bt_op;
struct bt_cq;
struct bt_reactor;
struct bt_value;

/* Each takes the module table at stack index `mod` and adds its fields. */
void btl_open_op(lua_State *L, int mod);     /* op.c: op userdata, sleep, op() */
void btl_open_client(lua_State *L, int mod); /* client.c: the AuthCoordinator */
void btl_open_fix(lua_State *L, int mod);    /* fix.c: decode a FIX frame to a table */
void btl_open_dict(lua_State *L, int mod);   /* dict.c: FIX by name (data dictionary) */
void btl_open_timers(lua_State *L, int mod); /* timers.c: the timer heap for async.lua */

struct bt_auth;
struct fix_dict;
struct fix_msg;
/* The client behind the userdata at idx, NULL once closed (raises for
 * another type, or for a client inherited across fork()). */
struct bt_auth *btl_client_check(lua_State *L, int idx);
/* The same for a userdata whose metatable is known to be the client's. */
struct bt_auth *btl_client_auth(lua_State *L, int idx);
/* The dictionary behind the userdata at idx (raises otherwise). */
const struct fix_dict *btl_dict_check(lua_State *L, int idx);
/* fix_session_cfg.validate for a dictionary (ud: the struct fix_dict). */
int btl_dict_validate(void *ud, const struct fix_msg *m, int *ref_tag, int *reason, char *text,
		      size_t textlen);

/* Push an op userdata holding one new reference to op. */
void btl_op_push(lua_State *L, struct bt_op *op);
/* The op behind the userdata at idx (raises on a wrong type). */
struct bt_op *btl_op_check(lua_State *L, int idx);
/* This Lua state's completion queue and reactor (raise once closed). */
struct bt_cq *btl_cq(lua_State *L);
struct bt_reactor *btl_reactor(lua_State *L);
struct fix_msg;
/* fix.c: the header [0, *hdr), body [*hdr, *tr) and trailer [*tr, n) of m:
 * the run of StandardHeader tags it starts with, the run of 93/89/10 it
 * ends with. */
void btl_fix_split(const struct fix_msg *m, size_t *hdr, size_t *tr);
/* fix.c: pushes fields [from, to) of m as { {tag, value}, ... }; with
 * set_tags also sets t[tag] (first occurrence wins) in the table below it. */
void btl_push_field_list(lua_State *L, const char *frame, const struct fix_msg *m, size_t from,
			 size_t to, int set_tags);
/* client.c: the decimal digits of v into buf (at least 22 bytes), NUL
 * terminated, without snprintf's format parsing (once per integer field of
 * every order). Returns the length. */
size_t btl_fmt_int(char *buf, lua_Integer v);
/* The longest plain decimal of a double: DBL_MAX has 309 integer digits,
 * the smallest subnormal 323 zeros after "0." before its digit. */
#define BTL_DEC_MAX 340
/* client.c: x as the shortest plain decimal that reads back as the same
 * double, with no exponent (FIX has none): 1e-05 -> "0.00001", 1e15 ->
 * "1000000000000000", -0.0 -> "0". x is finite; buf holds BTL_DEC_MAX bytes. */
size_t btl_fmt_decimal(char *buf, double x);
/* Push a result value (nil, boolean, integer or string). */
void btl_push_value(lua_State *L, const struct bt_value *v);

#endif
