/* test-deps: fix_store_mem */
/* The in-memory fix_store shared by the exchange, the session tests and the
 * session fuzzer: what it keeps, in which order, what a limit drops, what a
 * reset keeps, and its fault hook. */
#include "fix_store_mem.h"
#include "t.h"

struct seen {
	char buf[256];
	size_t len;
	int stop_after; /* 0: visit all */
	int visits;
};

static int collect(void *arg, uint64_t seq, const char *frame, size_t len)
{
	struct seen *s = arg;
	s->len += (size_t)snprintf(s->buf + s->len, sizeof(s->buf) - s->len, "%llu=%.*s;",
				   (unsigned long long)seq, (int)len, frame);
	return ++s->visits == s->stop_after;
}

static const char *visit(struct fix_store_mem *m, uint64_t b, uint64_t e, int stop_after)
{
	static struct seen s;
	memset(&s, 0, sizeof(s));
	s.stop_after = stop_after;
	T_EQ_INT(m->st.ops->each(m->st.ctx, b, e, collect, &s), 0);
	return s.buf;
}

static void save(struct fix_store_mem *m, uint64_t seq, const char *frame)
{
	T_EQ_INT(m->st.ops->save(m->st.ctx, seq, frame, strlen(frame)), 0);
}

static void test_keeps_numbers_and_frames_in_order(void)
{
	struct fix_store_mem m;
	fix_store_mem_init(&m, 7, 9, 0);
	T_EQ_INT(m.st.next_out, 7);
	T_EQ_INT(m.st.next_in, 9);
	T_OK(m.st.ctx == &m);
	T_EQ_INT(m.st.ops->set_next_out(m.st.ctx, 8), 0);
	T_EQ_INT(m.st.ops->set_next_in(m.st.ctx, 10), 0);
	T_EQ_INT(m.next_out, 8);
	T_EQ_INT(m.next_in, 10);
	for (int i = 1; i <= 40; i++) {
		char f[16];
		snprintf(f, sizeof(f), "m%d", i);
		save(&m, (uint64_t)i, f);
	}
	T_EQ_INT(m.n, 40);
	T_EQ_INT(fix_store_mem_at(&m, 39)->seq, 40);
	T_EQ_MEM(fix_store_mem_at(&m, 39)->frame, fix_store_mem_at(&m, 39)->len, "m40", 3);
	T_OK(fix_store_mem_at(&m, 40) == NULL);
	T_EQ_STR(visit(&m, 3, 5, 0), "3=m3;4=m4;5=m5;");
	T_EQ_STR(visit(&m, 38, 0, 0), "38=m38;39=m39;40=m40;");
	T_EQ_STR(visit(&m, 1, 0, 2), "1=m1;2=m2;"); /* fn != 0 stops the walk */
	fix_store_mem_free(&m);
}

static void test_limit_drops_the_oldest(void)
{
	struct fix_store_mem m;
	fix_store_mem_init(&m, 1, 1, 3);
	save(&m, 1, "a");
	save(&m, 2, "bb");
	save(&m, 3, "c");
	save(&m, 4, "d");
	save(&m, 5, "e");
	T_EQ_INT(m.n, 3);
	T_EQ_STR(visit(&m, 1, 0, 0), "3=c;4=d;5=e;");
	T_EQ_INT(fix_store_mem_at(&m, 0)->seq, 3);
	fix_store_mem_free(&m);
}

static void test_reset_forgets_but_keeps_buffers(void)
{
	struct fix_store_mem m;
	fix_store_mem_init(&m, 5, 6, 2);
	save(&m, 5, "x");
	save(&m, 6, "y");
	save(&m, 7, "z"); /* wrapped: head is not 0 */
	const char *buf = fix_store_mem_at(&m, 0)->frame;
	T_EQ_INT(m.st.ops->reset(m.st.ctx), 0);
	T_EQ_INT(m.resets, 1);
	T_EQ_INT(m.n, 0);
	T_EQ_INT(m.next_out, 1);
	T_EQ_INT(m.next_in, 1);
	T_EQ_STR(visit(&m, 1, 0, 0), "");
	save(&m, 1, "p");
	save(&m, 2, "q");
	T_EQ_STR(visit(&m, 1, 0, 0), "1=p;2=q;");
	/* Both slots were reused, so the old buffers back the new frames. */
	T_OK(fix_store_mem_at(&m, 0)->frame == buf || fix_store_mem_at(&m, 1)->frame == buf);
	fix_store_mem_free(&m);
}

static int fail_in_and_save(void *arg, const struct fix_store_mem *m, enum fix_store_mem_op op)
{
	(void)m;
	++*(int *)arg;
	return op != FIX_STORE_MEM_SET_OUT;
}

static void test_fail_hook_leaves_the_store_unchanged(void)
{
	struct fix_store_mem m;
	int asked = 0;
	fix_store_mem_init(&m, 1, 1, 0);
	m.fail = fail_in_and_save;
	m.fail_arg = &asked;
	T_EQ_INT(m.st.ops->set_next_out(m.st.ctx, 2), 0);
	T_EQ_INT(m.st.ops->set_next_in(m.st.ctx, 2), -1);
	T_EQ_INT(m.st.ops->save(m.st.ctx, 1, "a", 1), -1);
	T_EQ_INT(asked, 3);
	T_EQ_INT(m.next_out, 2);
	T_EQ_INT(m.next_in, 1);
	T_EQ_INT(m.n, 0);
	fix_store_mem_free(&m);
}

int main(void)
{
	T_RUN(test_keeps_numbers_and_frames_in_order);
	T_RUN(test_limit_drops_the_oldest);
	T_RUN(test_reset_forgets_but_keeps_buffers);
	T_RUN(test_fail_hook_leaves_the_store_unchanged);
	return T_END();
}
