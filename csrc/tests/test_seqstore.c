/* test-deps: seqstore */
/* The durable sequence store: persistence, resend iteration, reset, file
 * naming, locking, corruption that must be refused, and the kill -9 proof. */
#include "seqstore.h"
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char root[64];

/* pwritev and fdatasync are interposed (the store's calls bind here) to
 * count the writes of a group commit. */
static int pwritev_calls, fdatasync_calls;

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	pwritev_calls++;
	return syscall(SYS_pwritev, fd, iov, cnt, (long)off, (long)((uint64_t)off >> 32));
}

int fdatasync(int fd)
{
	fdatasync_calls++;
	return (int)syscall(SYS_fdatasync, fd);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory path (not created) for one test. */
static const char *dir_for(const char *name)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s/%s", root, name);
	return buf;
}

static struct seqstore *open_ok(const char *dir, const char *sender, const char *target, int flags)
{
	struct seqstore *s = NULL;
	char err[512];

	if (seqstore_open(&s, dir, sender, target, flags, err, sizeof(err)) != 0) {
		T_FAIL("open %s %s/%s: %s", dir, sender, target, err);
		return NULL;
	}
	return s;
}

/* Open must fail, with an error containing want. */
static void open_fails(const char *dir, const char *sender, const char *target, const char *want)
{
	struct seqstore *s = (struct seqstore *)1;
	char err[512];

	if (seqstore_open(&s, dir, sender, target, 0, err, sizeof(err)) == 0) {
		T_FAIL("open %s/%s succeeded, wanted \"%s\"", sender, target, want);
		seqstore_close(s);
		return;
	}
	T_OK(s == NULL);
	if (!strstr(err, want))
		T_FAIL("error \"%s\" does not contain \"%s\"", err, want);
	if (strncmp(err, "seqstore: ", 10) != 0)
		T_FAIL("error \"%s\" does not start with \"seqstore: \"", err);
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void flip_byte(const char *path, long off)
{
	unsigned char c;
	int fd = open(path, O_RDWR);

	T_OK(fd >= 0);
	T_EQ_INT(pread(fd, &c, 1, off), 1);
	c ^= 0x5a;
	T_EQ_INT(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* Deterministic frame for seq n; now and then longer than a page, so a kill
 * can land between the pages of one write. */
static size_t frame_for(uint64_t n, char *buf)
{
	size_t len = 30 + (n % 17 == 0 ? 9000 : n % 200);
	int h = snprintf(buf, len,
			 "8=FIX.4.4\x01"
			 "34=%llu\x01",
			 (unsigned long long)n);

	for (size_t i = (size_t)h; i < len; i++)
		buf[i] = (char)('a' + (n + i) % 26);
	return len;
}

struct collect {
	uint64_t seqs[64];
	char frames[64][32];
	int n;
	int stop_after; /* return this from the callback after that many (0: never) */
	int stop_rc;
};

static int collect_fn(void *arg, uint64_t seq, const char *frame, size_t len)
{
	struct collect *c = arg;

	if (c->n < 64) {
		c->seqs[c->n] = seq;
		snprintf(c->frames[c->n], sizeof(c->frames[0]), "%.*s", (int)len, frame);
	}
	c->n++;
	return c->stop_after && c->n >= c->stop_after ? c->stop_rc : 0;
}

static void test_basic_persist(void)
{
	const char *dir = dir_for("basic/a/b");
	struct seqstore *s = open_ok(dir, "CLIENT0001", "BETA_EXCHANGE", 0);
	struct stat st;
	struct fix_store fs;

	if (!s)
		return;
	T_EQ_INT(stat(dir, &st), 0);
	T_EQ_INT(st.st_mode & 0777, 0700);
	T_EQ_INT(seqstore_next_out(s), 1);
	T_EQ_INT(seqstore_next_in(s), 1);
	T_EQ_INT(seqstore_set_next_out(s, 5), 0);
	T_EQ_INT(seqstore_set_next_in(s, 7), 0);
	T_EQ_INT(seqstore_set_next_out(s, 0), -1);
	T_EQ_INT(errno, EINVAL);
	seqstore_close(s);

	s = open_ok(dir, "CLIENT0001", "BETA_EXCHANGE", 0);
	if (!s)
		return;
	T_EQ_INT(seqstore_next_out(s), 5);
	T_EQ_INT(seqstore_next_in(s), 7);
	fs = seqstore_as_fix_store(s);
	T_EQ_INT(fs.next_out, 5);
	T_EQ_INT(fs.next_in, 7);
	T_OK(fs.ctx == s);
	T_EQ_INT(fs.ops->set_next_out(fs.ctx, 6), 0);
	T_EQ_INT(fs.ops->set_next_in(fs.ctx, 9), 0);
	T_EQ_INT(fs.ops->save(fs.ctx, 5, "X", 1), 0);
	seqstore_close(s);

	s = open_ok(dir, "CLIENT0001", "BETA_EXCHANGE", SEQSTORE_FSYNC);
	if (!s)
		return;
	T_EQ_INT(seqstore_next_out(s), 6);
	T_EQ_INT(seqstore_next_in(s), 9);
	T_EQ_INT(seqstore_msg_count(s), 1);
	T_EQ_INT(seqstore_set_next_out(s, 8), 0);
	T_EQ_INT(seqstore_save(s, 7, "Y", 1), 0);
	seqstore_close(s);
	s = open_ok(dir, "CLIENT0001", "BETA_EXCHANGE", 0);
	if (!s)
		return;
	T_EQ_INT(seqstore_next_out(s), 8);
	T_EQ_INT(seqstore_msg_count(s), 2);
	seqstore_close(s);
	seqstore_close(NULL);
}

static void test_unknown_flags(void)
{
	struct seqstore *s = NULL;
	char err[256];

	T_EQ_INT(seqstore_open(&s, dir_for("flags"), "A", "B", 0x40, err, sizeof(err)), -1);
	T_EQ_STR(err, "seqstore: unknown flags 0x40");
}

static void test_save_each(void)
{
	const char *dir = dir_for("each");
	struct seqstore *s = open_ok(dir, "S", "T", 0);
	struct collect c;
	char f[32];

	if (!s)
		return;
	for (int i = 1; i <= 10; i++) {
		if (i == 4)
			continue;
		snprintf(f, sizeof(f), "msg%d", i);
		T_EQ_INT(seqstore_save(s, (uint64_t)i, f, strlen(f)), 0);
	}
	T_EQ_INT(seqstore_save(s, 0, "x", 1), -1);
	T_EQ_INT(seqstore_save(s, 11, "", 0), -1);
	T_EQ_INT(seqstore_save(s, 11, "x", SEQSTORE_MAX_FRAME + 1), -1);

	memset(&c, 0, sizeof(c));
	T_EQ_INT(seqstore_each(s, 3, 7, collect_fn, &c), 0);
	T_EQ_INT(c.n, 4);
	T_EQ_INT(c.seqs[0], 3);
	T_EQ_INT(c.seqs[1], 5);
	T_EQ_INT(c.seqs[3], 7);
	T_EQ_STR(c.frames[1], "msg5");

	memset(&c, 0, sizeof(c));
	T_EQ_INT(seqstore_each(s, 8, 0, collect_fn, &c), 0);
	T_EQ_INT(c.n, 3);
	T_EQ_INT(c.seqs[2], 10);

	memset(&c, 0, sizeof(c));
	T_EQ_INT(seqstore_each(s, 11, 0, collect_fn, &c), 0);
	T_EQ_INT(c.n, 0);

	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	c.stop_rc = 1;
	T_EQ_INT(seqstore_each(s, 1, 0, collect_fn, &c), 0);
	T_EQ_INT(c.n, 2);
	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	c.stop_rc = -1;
	T_EQ_INT(seqstore_each(s, 1, 0, collect_fn, &c), -1);

	/* Saving a seq again replaces it, also across a reopen. */
	T_EQ_INT(seqstore_save(s, 5, "again5", 6), 0);
	T_EQ_INT(seqstore_save(s, 4, "late4", 5), 0);
	seqstore_close(s);
	s = open_ok(dir, "S", "T", 0);
	if (!s)
		return;
	T_EQ_INT(seqstore_msg_count(s), 10);
	memset(&c, 0, sizeof(c));
	T_EQ_INT(seqstore_each(s, 0, 0, collect_fn, &c), 0);
	T_EQ_INT(c.n, 10);
	for (int i = 0; i < 10; i++)
		T_EQ_INT(c.seqs[i], i + 1);
	T_EQ_STR(c.frames[3], "late4");
	T_EQ_STR(c.frames[4], "again5");
	T_EQ_STR(c.frames[9], "msg10");
	seqstore_close(s);
}

static void test_reset(void)
{
	const char *dir = dir_for("reset");
	struct seqstore *s = open_ok(dir, "S", "T", 0);
	struct collect c;

	if (!s)
		return;
	T_EQ_INT(seqstore_set_next_out(s, 50), 0);
	T_EQ_INT(seqstore_set_next_in(s, 60), 0);
	T_EQ_INT(seqstore_save(s, 49, "old", 3), 0);
	T_EQ_INT(seqstore_reset(s), 0);
	T_EQ_INT(seqstore_next_out(s), 1);
	T_EQ_INT(seqstore_next_in(s), 1);
	T_EQ_INT(seqstore_msg_count(s), 0);
	seqstore_close(s);
	s = open_ok(dir, "S", "T", 0);
	if (!s)
		return;
	T_EQ_INT(seqstore_next_out(s), 1);
	T_EQ_INT(seqstore_next_in(s), 1);
	T_EQ_INT(seqstore_msg_count(s), 0);
	T_EQ_INT(seqstore_save(s, 1, "new", 3), 0);
	seqstore_close(s);
	s = open_ok(dir, "S", "T", 0);
	if (!s)
		return;
	memset(&c, 0, sizeof(c));
	T_EQ_INT(seqstore_each(s, 1, 0, collect_fn, &c), 0);
	T_EQ_INT(c.n, 1);
	T_EQ_STR(c.frames[0], "new");
	seqstore_close(s);
}

static void test_names(void)
{
	const char *dir = dir_for("names");
	struct seqstore *a = open_ok(dir, "A+B", "C", 0);
	struct seqstore *b = open_ok(dir, "A", "B+C", 0);
	struct seqstore *c = open_ok(dir, "AB", "C", 0);
	struct seqstore *d = open_ok(dir, "A", "BC", 0);
	struct seqstore *e = open_ok(dir, "we ird%2B", "x:y", 0);
	char path[512], longname[300];

	if (!a || !b || !c || !d || !e)
		goto out;
	T_EQ_INT(seqstore_set_next_out(a, 10), 0);
	T_EQ_INT(seqstore_set_next_out(b, 20), 0);
	T_EQ_INT(seqstore_set_next_out(c, 30), 0);
	T_EQ_INT(seqstore_set_next_out(d, 40), 0);
	T_EQ_INT(seqstore_set_next_out(e, 50), 0);
	snprintf(path, sizeof(path), "%s/we%%20ird%%252B+x%%3Ay.seq", dir);
	T_OK(file_size(path) > 0);
out:
	seqstore_close(a);
	seqstore_close(b);
	seqstore_close(c);
	seqstore_close(d);
	seqstore_close(e);
	a = open_ok(dir, "A+B", "C", 0);
	b = open_ok(dir, "A", "B+C", 0);
	if (a && b) {
		T_EQ_INT(seqstore_next_out(a), 10);
		T_EQ_INT(seqstore_next_out(b), 20);
	}
	seqstore_close(a);
	seqstore_close(b);

	open_fails(dir, "a/b", "T", "seqstore: sender CompID \"a/b\" contains '/'");
	open_fails(dir, "S", "..", "seqstore: target CompID \"..\" contains \"..\"");
	open_fails(dir, "x..y", "T", "contains \"..\"");
	open_fails(dir, "", "T", "seqstore: sender CompID is empty");
	open_fails(dir, "S", "a\x01b", "seqstore: target CompID contains a control character");
	memset(longname, '#', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	open_fails(dir, longname, "T", "seqstore: CompIDs too long for a file name");
	open_fails("", "S", "T", "seqstore: directory name is empty");
	open_fails("/proc/version/x", "S", "T", "cannot create directory");
}

static void test_compaction(void)
{
	const char *dir = dir_for("compact");
	struct seqstore *s = open_ok(dir, "S", "T", 0);
	char path[512];

	if (!s)
		return;
	for (uint64_t i = 2; i <= 3000; i++)
		if (seqstore_set_next_out(s, i) != 0 || seqstore_set_next_in(s, i * 2) != 0) {
			T_FAIL("update %llu: %s", (unsigned long long)i, seqstore_error(s));
			break;
		}
	seqstore_close(s);
	snprintf(path, sizeof(path), "%s/S+T.seq", dir);
	T_OK(file_size(path) <= 32 + 512 * 32);
	s = open_ok(dir, "S", "T", 0);
	if (!s)
		return;
	T_EQ_INT(seqstore_next_out(s), 3000);
	T_EQ_INT(seqstore_next_in(s), 6000);
	seqstore_close(s);
}

/* A store with next_out 11 after ten updates (records 1..11), next_in 1. */
static void make_seq(const char *dir, char *path, size_t len)
{
	struct seqstore *s;

	rm_rf(dir);
	s = open_ok(dir, "S", "T", 0);
	if (!s)
		return;
	for (uint64_t i = 2; i <= 11; i++)
		T_EQ_INT(seqstore_set_next_out(s, i), 0);
	seqstore_close(s);
	snprintf(path, len, "%s/S+T.seq", dir);
	T_EQ_INT(file_size(path), 32 + 11 * 32);
}

static void expect_next_out(const char *dir, uint64_t want)
{
	struct seqstore *s = open_ok(dir, "S", "T", 0);

	if (!s)
		return;
	T_EQ_INT(seqstore_next_out(s), want);
	/* the recovered log takes new records where the good ones end */
	T_EQ_INT(seqstore_set_next_out(s, want + 1), 0);
	seqstore_close(s);
	s = open_ok(dir, "S", "T", 0);
	if (!s)
		return;
	T_EQ_INT(seqstore_next_out(s), want + 1);
	seqstore_close(s);
}

static void test_corrupt_seq(void)
{
	const char *dir = dir_for("corrupt_seq");
	char path[512];

	make_seq(dir, path, sizeof(path));
	flip_byte(path, 0);
	open_fails(dir, "S", "T", "S+T.seq: bad magic (not a seqstore file)");

	make_seq(dir, path, sizeof(path));
	flip_byte(path, 32 + 3 * 32 + 9);
	open_fails(dir, "S", "T", "S+T.seq: checksum mismatch in record at offset 128");

	make_seq(dir, path, sizeof(path));
	T_EQ_INT(truncate(path, 10), 0);
	open_fails(dir, "S", "T", "S+T.seq: file shorter than its header (10 of 32 bytes)");
	T_EQ_INT(truncate(path, 0), 0);
	open_fails(dir, "S", "T", "file shorter than its header (0 of 32 bytes)");

	make_seq(dir, path, sizeof(path));
	T_EQ_INT(truncate(path, 32), 0);
	open_fails(dir, "S", "T", "no complete record");

	make_seq(dir, path, sizeof(path));
	flip_byte(path, 20);
	open_fails(dir, "S", "T", "header checksum mismatch");

	/* Crash artefacts: a partial or garbled last record is dropped. */
	make_seq(dir, path, sizeof(path));
	T_EQ_INT(truncate(path, 32 + 11 * 32 - 5), 0);
	expect_next_out(dir, 10);
	make_seq(dir, path, sizeof(path));
	flip_byte(path, 32 + 10 * 32 + 9);
	expect_next_out(dir, 10);
	make_seq(dir, path, sizeof(path));
	T_EQ_INT(truncate(path, 32 + 11 * 32 + 7), 0);
	expect_next_out(dir, 11);
}

/* Five frames "frame1".."frame5" (24-byte record header + 6 bytes each). */
static void make_msgs(const char *dir, char *path, size_t len)
{
	struct seqstore *s;
	char f[16];

	rm_rf(dir);
	s = open_ok(dir, "S", "T", 0);
	if (!s)
		return;
	for (int i = 1; i <= 5; i++) {
		snprintf(f, sizeof(f), "frame%d", i);
		T_EQ_INT(seqstore_save(s, (uint64_t)i, f, 6), 0);
	}
	seqstore_close(s);
	snprintf(path, len, "%s/S+T.msgs", dir);
	T_EQ_INT(file_size(path), 16 + 5 * 30);
}

static void test_corrupt_msgs(void)
{
	const char *dir = dir_for("corrupt_msgs");
	char path[512];
	struct seqstore *s;
	struct collect c;

	make_msgs(dir, path, sizeof(path));
	flip_byte(path, 3);
	open_fails(dir, "S", "T", "S+T.msgs: bad magic (not a seqstore file)");

	make_msgs(dir, path, sizeof(path));
	flip_byte(path, 16 + 30 + 24 + 2); /* frame of the second record */
	open_fails(dir, "S", "T", "S+T.msgs: checksum mismatch in record at offset 46");

	make_msgs(dir, path, sizeof(path));
	flip_byte(path, 16 + 30 + 5); /* length of the second record */
	open_fails(dir, "S", "T", "S+T.msgs: bad record header at offset 46");

	make_msgs(dir, path, sizeof(path));
	T_EQ_INT(truncate(path, 9), 0);
	open_fails(dir, "S", "T", "S+T.msgs: file shorter than its header (9 of 16 bytes)");

	make_msgs(dir, path, sizeof(path));
	T_EQ_INT(unlink(path), 0);
	open_fails(dir, "S", "T", "S+T.msgs: missing although S+T.seq exists");

	/* A torn last frame is dropped; the rest stays and saving goes on. */
	make_msgs(dir, path, sizeof(path));
	T_EQ_INT(truncate(path, 16 + 4 * 30 + 27), 0);
	s = open_ok(dir, "S", "T", 0);
	if (!s)
		return;
	T_EQ_INT(seqstore_msg_count(s), 4);
	T_EQ_INT(file_size(path), 16 + 4 * 30);
	T_EQ_INT(seqstore_save(s, 5, "FRAME5", 6), 0);
	seqstore_close(s);
	s = open_ok(dir, "S", "T", 0);
	if (!s)
		return;
	memset(&c, 0, sizeof(c));
	T_EQ_INT(seqstore_each(s, 1, 0, collect_fn, &c), 0);
	T_EQ_INT(c.n, 5);
	T_EQ_STR(c.frames[3], "frame4");
	T_EQ_STR(c.frames[4], "FRAME5");
	seqstore_close(s);

	/* A zero-filled tail (power loss) is dropped too. */
	make_msgs(dir, path, sizeof(path));
	T_EQ_INT(truncate(path, 16 + 5 * 30 + 100), 0);
	s = open_ok(dir, "S", "T", 0);
	if (s)
		T_EQ_INT(seqstore_msg_count(s), 5);
	seqstore_close(s);
}

static void test_in_use(void)
{
	const char *dir = dir_for("lock");
	struct seqstore *s = open_ok(dir, "S", "T", 0), *other;
	int status;
	pid_t pid;

	if (!s)
		return;
	open_fails(dir, "S", "T", "S+T.lock: in use by another process");
	pid = fork();
	if (pid == 0) {
		char err[512];
		other = NULL;
		/* a separate process, as when two bots share a store dir */
		int rc = 0;
		if (seqstore_open(&other, dir, "S", "T", 0, err, sizeof(err)) == 0)
			rc = 1;
		else if (!strstr(err, "in use by another process"))
			rc = 2;
		/* our copy of the parent's store: closing it leaves its lock,
		 * which the parent's descriptor still holds */
		seqstore_close(s);
		_exit(rc);
	}
	T_OK(pid > 0);
	T_EQ_INT(waitpid(pid, &status, 0), pid);
	T_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	other = open_ok(dir, "S", "U", 0); /* another session is independent */
	seqstore_close(other);
	seqstore_close(s);
	s = open_ok(dir, "S", "T", 0);
	seqstore_close(s);
}

/* ------------------------------------------------------ group commit */

/* Deferred mode: a batch of 100 messages (numbers, frames, next_in) costs one
 * .seq record and one .msgs write at commit, one fdatasync each with
 * SEQSTORE_FSYNC, and nothing before. */
static void test_group_commit(void)
{
	for (int flags = 0; flags <= SEQSTORE_FSYNC; flags += SEQSTORE_FSYNC) {
		const char *dir = dir_for(flags ? "group-fsync" : "group");
		char seqp[512], msgp[512], f[64];
		struct seqstore *s = open_ok(dir, "S", "T", flags);
		struct collect c;

		if (!s)
			return;
		snprintf(seqp, sizeof(seqp), "%s/S+T.seq", dir);
		snprintf(msgp, sizeof(msgp), "%s/S+T.msgs", dir);
		long seq0 = file_size(seqp), msg0 = file_size(msgp);
		seqstore_set_deferred(s, 1);
		pwritev_calls = fdatasync_calls = 0;
		long bytes = 0;
		for (uint64_t n = 1; n <= 100; n++) {
			T_EQ_INT(seqstore_set_next_out(s, n + 1), 0);
			snprintf(f, sizeof(f), "frame %llu", (unsigned long long)n);
			T_EQ_INT(seqstore_save(s, n, f, strlen(f)), 0);
			bytes += 24 + (long)strlen(f);
			T_EQ_INT(seqstore_set_next_in(s, n + 5), 0);
		}
		T_EQ_INT(pwritev_calls, 0);
		T_EQ_INT(fdatasync_calls, 0);
		T_EQ_INT(file_size(seqp), seq0);
		T_EQ_INT(file_size(msgp), msg0);
		T_EQ_INT(seqstore_next_out(s), 101);
		T_EQ_INT(seqstore_commit(s), 0);
		T_EQ_INT(pwritev_calls, 2);
		T_EQ_INT(fdatasync_calls, flags ? 2 : 0);
		T_EQ_INT(file_size(seqp), seq0 + 32);
		T_EQ_INT(file_size(msgp), msg0 + bytes);
		/* Nothing new: commit writes nothing. */
		T_EQ_INT(seqstore_commit(s), 0);
		T_EQ_INT(pwritev_calls, 2);
		/* A resend reads frames of the open batch: each commits first. */
		T_EQ_INT(seqstore_save(s, 101, "late", 4), 0);
		memset(&c, 0, sizeof(c));
		T_EQ_INT(seqstore_each(s, 100, 0, collect_fn, &c), 0);
		T_EQ_INT(c.n, 2);
		T_EQ_STR(c.frames[1], "late");
		/* close commits what is left. */
		T_EQ_INT(seqstore_set_next_out(s, 103), 0);
		seqstore_close(s);
		s = open_ok(dir, "S", "T", flags);
		if (!s)
			return;
		T_EQ_INT(seqstore_next_out(s), 103);
		T_EQ_INT(seqstore_next_in(s), 105);
		T_EQ_INT(seqstore_msg_count(s), 101);
		seqstore_close(s);
	}
}

/* The resend window: with a window of 100, 10,000 frames leave at most 200
 * in the index and the file, the newest 100 always among them. */
static void test_resend_window(void)
{
	const char *dir = dir_for("window");
	char msgp[512], f[300];
	struct seqstore *s = open_ok(dir, "S", "T", 0);
	struct collect c;

	if (!s)
		return;
	snprintf(msgp, sizeof(msgp), "%s/S+T.msgs", dir);
	seqstore_set_window(s, 100);
	seqstore_set_deferred(s, 1);
	long max_size = 0;
	size_t max_count = 0;
	for (uint64_t n = 1; n <= 10000; n++) {
		T_EQ_INT(seqstore_set_next_out(s, n + 1), 0);
		int len = snprintf(f, sizeof(f), "frame %llu %0200d", (unsigned long long)n, 0);
		T_EQ_INT(seqstore_save(s, n, f, (size_t)len), 0);
		if (n % 7 == 0) {
			T_EQ_INT(seqstore_commit(s), 0);
			if (file_size(msgp) > max_size)
				max_size = file_size(msgp);
		}
		if (seqstore_msg_count(s) > max_count)
			max_count = seqstore_msg_count(s);
	}
	T_EQ_INT(seqstore_commit(s), 0);
	/* Bounded by twice the window plus one batch. */
	T_OK(max_count <= 200 + 7);
	T_OK(max_size <= 16 + (200 + 7) * (24 + 215));
	memset(&c, 0, sizeof(c));
	T_EQ_INT(seqstore_each(s, 1, 9900, collect_fn, &c), 0);
	uint64_t first = c.n ? c.seqs[0] : 9901;
	T_OK(first > 9800 - 7);
	memset(&c, 0, sizeof(c));
	T_EQ_INT(seqstore_each(s, 9901, 0, collect_fn, &c), 0);
	T_EQ_INT(c.n, 100);
	memset(&c, 0, sizeof(c));
	T_EQ_INT(seqstore_each(s, 10000, 0, collect_fn, &c), 0);
	T_EQ_INT(c.n, 1);
	T_OK(!strncmp(c.frames[0], "frame 10000 ", 12));
	size_t kept = seqstore_msg_count(s);
	seqstore_close(s);
	/* Reopened: the same frames, read from the compacted file. */
	s = open_ok(dir, "S", "T", 0);
	if (!s)
		return;
	T_EQ_INT(seqstore_msg_count(s), kept);
	memset(&c, 0, sizeof(c));
	T_EQ_INT(seqstore_each(s, 9901, 0, collect_fn, &c), 0);
	T_EQ_INT(c.n, 100);
	T_EQ_INT(c.seqs[0], 9901);
	seqstore_close(s);
}

/* ------------------------------------------------------------ kill -9 */

struct report {
	char kind; /* 'R' ready, 'U' number used, 'S' saved, 'I' next_in recorded */
	uint64_t n;
} __attribute__((packed));

static void send_report(int fd, char kind, uint64_t n)
{
	struct report r = {.kind = kind, .n = n};

	if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(6);
}

/* Uses numbers the way the session does: record next_out, only then hand the
 * number out, then keep the frame. Never returns; the parent kills it. */
static void writer_child(const char *dir, int wfd)
{
	struct seqstore *s;
	static char frame[10000];

	if (seqstore_open(&s, dir, "KILL", "EXCH", 0, NULL, 0) != 0)
		_exit(3);
	send_report(wfd, 'R', 0);
	for (;;) {
		uint64_t n = seqstore_next_out(s);
		size_t len;

		if (seqstore_set_next_out(s, n + 1) != 0)
			_exit(4);
		send_report(wfd, 'U', n);
		len = frame_for(n, frame);
		if (seqstore_save(s, n, frame, len) != 0)
			_exit(5);
		send_report(wfd, 'S', n);
		if (seqstore_set_next_in(s, n + 7) != 0)
			_exit(4);
		send_report(wfd, 'I', n + 7);
	}
}

/* The batched path, as fix_conn drives it: deferred mode with a small
 * resend window (so compaction runs under the kills too), batches of 1..40
 * messages, numbers handed out (reported) only after commit_numbers, frames
 * reported saved only after the full commit. */
#define KILL_WINDOW 64
static void writer_child_batched(const char *dir, int wfd, unsigned seed)
{
	struct seqstore *s;
	static char frame[10000];

	if (seqstore_open(&s, dir, "KILL", "EXCH", 0, NULL, 0) != 0)
		_exit(3);
	seqstore_set_window(s, KILL_WINDOW);
	seqstore_set_deferred(s, 1);
	send_report(wfd, 'R', 0);
	for (;;) {
		uint64_t first = seqstore_next_out(s), n = first;
		int batch = 1 + (int)(rand_r(&seed) % 40);
		for (int i = 0; i < batch; i++, n++) {
			if (seqstore_set_next_out(s, n + 1) != 0)
				_exit(4);
			if (seqstore_save(s, n, frame, frame_for(n, frame)) != 0)
				_exit(5);
			if (seqstore_set_next_in(s, n + 7) != 0)
				_exit(4);
		}
		/* As fix_conn does: the numbers, then the bytes leave, then the
		 * frames are written. */
		if (seqstore_commit_numbers(s) != 0)
			_exit(5);
		for (uint64_t k = first; k < n; k++)
			send_report(wfd, 'U', k);
		send_report(wfd, 'I', n - 1 + 7);
		if (seqstore_commit(s) != 0)
			_exit(5);
		for (uint64_t k = first; k < n; k++)
			send_report(wfd, 'S', k);
	}
}

struct verify {
	unsigned char *seen;
	uint64_t limit;
	int bad;
};

static int verify_fn(void *arg, uint64_t seq, const char *frame, size_t len)
{
	struct verify *v = arg;
	static char want[10000];
	size_t wlen = frame_for(seq, want);

	if (len != wlen || memcmp(frame, want, len) != 0)
		v->bad++;
	if (seq < v->limit)
		v->seen[seq] = 1;
	return 0;
}

static void kill9(int batched)
{
	const char *dir = dir_for(batched ? "kill9-batched" : "kill9");
	const char *env = getenv("BT_SEQSTORE_KILLS");
	int kills = env ? atoi(env) : 300;
	unsigned seed = getenv("BT_SEQSTORE_SEED") ? (unsigned)atoi(getenv("BT_SEQSTORE_SEED"))
						   : (unsigned)time(NULL) ^ (unsigned)getpid();
	uint64_t max_used = 0, max_in = 0, total_used = 0;
	uint64_t *saved = NULL;
	size_t nsaved = 0, capsaved = 0;
	struct seqstore *s;
	int failures_before = t_failed_checks;

	printf("     kill9: %d kills, seed %u\n", kills, seed);
	s = open_ok(dir, "KILL", "EXCH", 0);
	seqstore_close(s);
	for (int k = 0; k < kills && t_failed_checks == failures_before; k++) {
		int p[2], status;
		pid_t pid;
		struct report r;
		char err[512];

		if (pipe2(p, O_CLOEXEC) != 0) {
			T_FAIL("pipe2: %s", strerror(errno));
			break;
		}
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			if (batched)
				writer_child_batched(dir, p[1], seed + (unsigned)k);
			writer_child(dir, p[1]);
		}
		close(p[1]);
		if (k % 2) {
			/* Odd rounds kill after the open, so the update loop
			 * takes the hits; even rounds may hit open itself. */
			struct pollfd pfd = {.fd = p[0], .events = POLLIN};
			if (poll(&pfd, 1, 10000) != 1)
				T_FAIL("writer child never became ready");
		}
		usleep((useconds_t)(rand_r(&seed) % 2001));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			T_FAIL("writer child exited by itself (status %d)", status);
		while (read(p[0], &r, sizeof(r)) == (ssize_t)sizeof(r)) {
			if (r.kind == 'U') {
				max_used = r.n > max_used ? r.n : max_used;
				total_used++;
			} else if (r.kind == 'I') {
				max_in = r.n > max_in ? r.n : max_in;
			} else if (r.kind == 'S') {
				if (nsaved == capsaved) {
					capsaved = capsaved ? capsaved * 2 : 1024;
					saved = realloc(saved, capsaved * sizeof(*saved));
				}
				saved[nsaved++] = r.n;
			}
		}
		close(p[0]);

		if (seqstore_open(&s, dir, "KILL", "EXCH", 0, err, sizeof(err)) != 0) {
			T_FAIL("round %d: reopen after kill -9: %s", k, err);
			break;
		}
		if (seqstore_next_out(s) <= max_used)
			T_FAIL("round %d: next_out %llu but %llu was already used", k,
			       (unsigned long long)seqstore_next_out(s),
			       (unsigned long long)max_used);
		if (seqstore_next_in(s) < max_in)
			T_FAIL("round %d: next_in %llu went back from %llu", k,
			       (unsigned long long)seqstore_next_in(s), (unsigned long long)max_in);
		{
			struct verify v = {.limit = seqstore_next_out(s) + 1};
			v.seen = calloc(v.limit, 1);
			T_EQ_INT(seqstore_each(s, 1, 0, verify_fn, &v), 0);
			T_EQ_INT(v.bad, 0);
			for (size_t i = 0; i < nsaved; i++)
				if (batched && saved[i] + KILL_WINDOW < seqstore_next_out(s))
					continue; /* outside the window: may be compacted away */
				else if (saved[i] >= v.limit || !v.seen[saved[i]]) {
					T_FAIL("round %d: saved frame %llu is gone", k,
					       (unsigned long long)saved[i]);
					break;
				}
			free(v.seen);
		}
		/* Keep the files small so each round stays quick. */
		if (seqstore_next_out(s) > 2000) {
			T_EQ_INT(seqstore_reset(s), 0);
			max_used = max_in = 0;
			nsaved = 0;
		}
		seqstore_close(s);
	}
	printf("     kill9: %llu numbers used in total\n", (unsigned long long)total_used);
	T_OK(total_used > 0);
	free(saved);
}

static void test_kill9(void)
{
	kill9(0);
}

/* The same proof on the group-commit path fix_conn uses. */
static void test_kill9_batched(void)
{
	kill9(1);
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/bt_seqstore_XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	T_RUN(test_basic_persist);
	T_RUN(test_unknown_flags);
	T_RUN(test_save_each);
	T_RUN(test_reset);
	T_RUN(test_names);
	T_RUN(test_compaction);
	T_RUN(test_corrupt_seq);
	T_RUN(test_corrupt_msgs);
	T_RUN(test_in_use);
	T_RUN(test_group_commit);
	T_RUN(test_resend_window);
	T_RUN(test_kill9);
	T_RUN(test_kill9_batched);
	rm_rf(root);
	return T_END();
}
