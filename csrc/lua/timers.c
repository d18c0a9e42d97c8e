/* core.timer_heap(): the core's one timer heap (timer_heap.h) for the Lua
 * scheduler (lua/betatrader/async.lua), so that Lua keeps no heap of its
 * own. Entries are any Lua values; each armed entry has a slot holding its
 * struct reactor_timer. The heap's uservalue table maps entry -> slot and
 * slot -> entry (slots as light userdata), so the GC keeps an entry alive
 * exactly while it is armed. Slots come from chunks the heap owns, so arming
 * makes no Lua object. Like the C heap, the Lua thread alone uses it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "btl.h"
#include "timer_heap.h"

#define HEAP_MT "betatrader.timer_heap"
#define SLOTS_PER_CHUNK 256

struct slot {
	struct reactor_timer t;
	lua_Number deadline;    /* as given, so top() returns it unrounded */
	struct slot *next_free; /* in lheap.free while not armed */
};

struct chunk {
	struct chunk *next;
	struct slot s[SLOTS_PER_CHUNK];
};

struct lheap {
	struct bt_timer_heap h;
	size_t peak;          /* most entries armed since the map was last made */
	struct chunk *chunks; /* every slot's memory */
	struct slot *free;
};

/* The heap orders int64s; the deadline's own bits make one with neither
 * rounding nor overflow: a non-negative double's IEEE bits order as its
 * value, and flipping all but the sign bit of a negative one reverses it.
 * -0.0 becomes 0.0 first, so both tie in start order, as they compare. */
static int64_t deadline_key(lua_Number d)
{
	double x = (double)d + 0.0;
	int64_t k;
	memcpy(&k, &x, sizeof k);
	return k < 0 ? k ^ INT64_MAX : k;
}

/* The heap at 1; the metatable is upvalue 1, so the hot path looks nothing
 * up by name. */
static struct lheap *check_heap(lua_State *L)
{
	struct lheap *lh = lua_touserdata(L, 1);
	if (lh && lua_getmetatable(L, 1)) {
		int same = lua_rawequal(L, -1, lua_upvalueindex(1));
		lua_pop(L, 1);
		if (same)
			return lh;
	}
	return luaL_checkudata(L, 1, HEAP_MT);
}

static void free_slots(struct lheap *lh)
{
	while (lh->chunks) {
		struct chunk *c = lh->chunks;
		lh->chunks = c->next;
		free(c);
	}
	lh->free = NULL;
}

static int grow(struct lheap *lh)
{
	struct chunk *c = malloc(sizeof *c);
	if (!c)
		return -1;
	c->next = lh->chunks;
	lh->chunks = c;
	for (size_t i = 0; i < SLOTS_PER_CHUNK; i++) {
		c->s[i].next_free = lh->free;
		lh->free = &c->s[i];
	}
	return 0;
}

/* Once a crowd has left, a fresh map, array and slots: a Lua table never
 * shrinks on deletes, and the scheduler's heap lives as long as the state. */
static void shrink_if_empty(lua_State *L, struct lheap *lh)
{
	if (lh->h.len > 0 || lh->peak <= SLOTS_PER_CHUNK)
		return;
	bt_timer_heap_free(&lh->h);
	free_slots(lh);
	lh->peak = 0;
	lua_newtable(L);
	lua_setiuservalue(L, 1, 1);
}

static void no_cb(struct bt_reactor *r, struct reactor_timer *t, void *ud)
{
	/* never run: the scheduler pops entries itself (async.lua fire_timers) */
	(void)r;
	(void)t;
	(void)ud;
}

/* Forgets a disarmed entry's two mappings (the map is at `map`, the entry
 * at `entry`) and frees its slot. Setting nil never allocates. */
static void release(lua_State *L, struct lheap *lh, int map, int entry, struct slot *s)
{
	lua_pushnil(L);
	lua_rawsetp(L, map, s);
	lua_pushvalue(L, entry);
	lua_pushnil(L);
	lua_rawset(L, map);
	s->next_free = lh->free;
	lh->free = s;
}

/* h:push(deadline, entry): arms entry (moves it if armed) to fire at
 * deadline, a number on the caller's clock; equal deadlines keep push
 * order. */
static int heap_push(lua_State *L)
{
	struct lheap *lh = check_heap(L);
	lua_Number deadline = luaL_checknumber(L, 2);
	luaL_argcheck(L, !lua_isnoneornil(L, 3), 3, "entry expected");
	lua_settop(L, 3);
	lua_getiuservalue(L, 1, 1); /* 4: the map */
	lua_pushvalue(L, 3);
	struct slot *s;
	if (lua_rawget(L, 4) == LUA_TLIGHTUSERDATA) {
		s = lua_touserdata(L, -1);
	} else {
		if (!lh->free && grow(lh) != 0)
			return luaL_error(L, "not enough memory");
		s = lh->free;
		/* slot -> entry first: should entry -> slot then fail for memory,
		 * the slot is still free and its stale mapping is overwritten when
		 * it is next used */
		lua_pushvalue(L, 3);
		lua_rawsetp(L, 4, s);
		lua_pushvalue(L, 3);
		lua_pushlightuserdata(L, s);
		lua_rawset(L, 4);
		lh->free = s->next_free;
		reactor_timer_init(&s->t, no_cb, NULL);
	}
	s->deadline = deadline;
	if (bt_timer_heap_start(&lh->h, &s->t, deadline_key(deadline)) != 0) {
		release(L, lh, 4, 3, s);
		return luaL_error(L, "not enough memory");
	}
	if (lh->h.len > lh->peak)
		lh->peak = lh->h.len;
	return 0;
}

/* h:remove(entry): disarms entry; a no-op when it is not armed. */
static int heap_remove(lua_State *L)
{
	struct lheap *lh = check_heap(L);
	luaL_checkany(L, 2);
	lua_settop(L, 2);
	lua_getiuservalue(L, 1, 1); /* 3: the map */
	lua_pushvalue(L, 2);
	if (lua_rawget(L, 3) == LUA_TLIGHTUSERDATA) {
		struct slot *s = lua_touserdata(L, -1);
		bt_timer_heap_stop(&lh->h, &s->t);
		release(L, lh, 3, 2, s);
		shrink_if_empty(L, lh);
	}
	return 0;
}

/* The earliest slot, NULL when the heap is empty. */
static struct slot *top_slot(const struct bt_timer_heap *h)
{
	return h->len ? (struct slot *)h->t[0] : NULL;
}

/* h:top(): the earliest entry and its deadline, or nil. */
static int heap_top(lua_State *L)
{
	struct slot *s = top_slot(&check_heap(L)->h);
	if (!s) {
		lua_pushnil(L);
		return 1;
	}
	lua_getiuservalue(L, 1, 1);
	lua_rawgetp(L, -1, s);
	lua_pushnumber(L, s->deadline);
	return 2;
}

/* h:pop(): disarms and returns the earliest entry, or nil. */
static int heap_pop(lua_State *L)
{
	struct lheap *lh = check_heap(L);
	struct slot *s = top_slot(&lh->h);
	if (!s) {
		lua_pushnil(L);
		return 1;
	}
	bt_timer_heap_stop(&lh->h, &s->t);
	lua_settop(L, 1);
	lua_getiuservalue(L, 1, 1); /* 2: the map */
	lua_rawgetp(L, 2, s);       /* 3: the entry */
	release(L, lh, 2, 3, s);
	shrink_if_empty(L, lh);
	lua_settop(L, 3);
	return 1;
}

/* #h: the number of armed entries. */
static int heap_len(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)check_heap(L)->h.len);
	return 1;
}

static int heap_gc(lua_State *L)
{
	struct lheap *lh = check_heap(L);
	bt_timer_heap_free(&lh->h);
	free_slots(lh);
	return 0;
}

static int core_timer_heap(lua_State *L)
{
	struct lheap *lh = lua_newuserdatauv(L, sizeof *lh, 1);
	memset(lh, 0, sizeof *lh);
	lua_newtable(L);
	lua_setiuservalue(L, -2, 1);
	luaL_setmetatable(L, HEAP_MT);
	return 1;
}

void btl_open_timers(lua_State *L, int mod)
{
	static const luaL_Reg meth[] = {
	    {"push", heap_push}, {"remove", heap_remove}, {"top", heap_top}, {"pop", heap_pop},
	    {NULL, NULL},
	};
	static const luaL_Reg metameth[] = {
	    {"__index", NULL},
	    {"__gc", heap_gc},
	    {"__len", heap_len},
	    {NULL, NULL},
	};
	mod = lua_absindex(L, mod);
	luaL_newmetatable(L, HEAP_MT);
	lua_pushvalue(L, -1);
	luaL_setfuncs(L, metameth, 1);
	luaL_newlibtable(L, meth);
	lua_pushvalue(L, -2);
	luaL_setfuncs(L, meth, 1);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	lua_pushcfunction(L, core_timer_heap);
	lua_setfield(L, mod, "timer_heap");
}
