/* The in-memory fix_store (see fix_store_mem.h). One ring of frames whose
 * slots keep their buffers across a sequence reset, so a long-lived exchange
 * session does not allocate per message once warm. */
#include "fix_store_mem.h"

#include <stdlib.h>
#include <string.h>

static int failing(struct fix_store_mem *m, enum fix_store_mem_op op)
{
	return m->fail && m->fail(m->fail_arg, m, op);
}

static int set_next_out(void *ctx, uint64_t v)
{
	struct fix_store_mem *m = ctx;
	if (failing(m, FIX_STORE_MEM_SET_OUT))
		return -1;
	m->next_out = v;
	return 0;
}

static int set_next_in(void *ctx, uint64_t v)
{
	struct fix_store_mem *m = ctx;
	if (failing(m, FIX_STORE_MEM_SET_IN))
		return -1;
	m->next_in = v;
	return 0;
}

static int save(void *ctx, uint64_t seq, const char *frame, size_t len)
{
	struct fix_store_mem *m = ctx;
	if (failing(m, FIX_STORE_MEM_SAVE))
		return -1;
	struct fix_store_mem_msg *s;
	if (m->max_msgs && m->n == m->max_msgs) {
		/* Oldest first out. */
		s = &m->msgs[m->head];
		m->head = (m->head + 1) % m->cap;
	} else {
		if (m->n == m->cap) {
			/* Below the limit the ring never wraps (head is 0): plain growth. */
			size_t cap = m->cap ? 2 * m->cap : 16;
			if (m->max_msgs && cap > m->max_msgs)
				cap = m->max_msgs;
			struct fix_store_mem_msg *p = realloc(m->msgs, cap * sizeof(*p));
			if (!p)
				return -1;
			memset(p + m->cap, 0, (cap - m->cap) * sizeof(*p));
			m->msgs = p;
			m->cap = cap;
		}
		s = &m->msgs[(m->head + m->n) % m->cap];
		m->n++;
	}
	if (s->cap < len || !s->frame) {
		size_t cap = len > 512 ? len : 512;
		char *p = malloc(cap);
		if (!p) {
			/* Keep the ring consistent: the slot holds nothing now. */
			s->len = 0;
			s->seq = 0;
			return -1;
		}
		free(s->frame);
		s->frame = p;
		s->cap = cap;
	}
	memcpy(s->frame, frame, len);
	s->len = len;
	s->seq = seq;
	return 0;
}

static int each(void *ctx, uint64_t begin, uint64_t end,
		int (*fn)(void *arg, uint64_t seq, const char *frame, size_t len), void *arg)
{
	struct fix_store_mem *m = ctx;
	for (size_t i = 0; i < m->n; i++) {
		const struct fix_store_mem_msg *s = &m->msgs[(m->head + i) % m->cap];
		if (s->seq < begin || (end && s->seq > end))
			continue;
		if (fn(arg, s->seq, s->frame, s->len))
			break;
	}
	return 0;
}

static int reset(void *ctx)
{
	struct fix_store_mem *m = ctx;
	m->head = m->n = 0;
	m->next_out = m->next_in = 1;
	m->resets++;
	return 0;
}

static const struct fix_store_ops ops = {
    .set_next_out = set_next_out,
    .set_next_in = set_next_in,
    .save = save,
    .each = each,
    .reset = reset,
};

void fix_store_mem_init(struct fix_store_mem *m, uint64_t next_out, uint64_t next_in,
			size_t max_msgs)
{
	memset(m, 0, sizeof(*m));
	m->next_out = next_out;
	m->next_in = next_in;
	m->max_msgs = max_msgs;
	m->st.ops = &ops;
	m->st.ctx = m;
	m->st.next_out = next_out;
	m->st.next_in = next_in;
}

const struct fix_store_mem_msg *fix_store_mem_at(const struct fix_store_mem *m, size_t i)
{
	return i < m->n ? &m->msgs[(m->head + i) % m->cap] : NULL;
}

void fix_store_mem_free(struct fix_store_mem *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->msgs[i].frame);
	free(m->msgs);
	m->msgs = NULL;
	m->head = m->n = m->cap = 0;
}
