/* Durable sequence store.
 *
 * Durability design. The promise is: no lost and no reused outbound
 * MsgSeqNum after kill -9 at any instant, and after power loss too when the
 * user asks for SEQSTORE_FSYNC.
 *
 * Both files are append-only logs, written with one pwrite(v) per update at
 * an offset we track ourselves. A completed write() is in the page cache,
 * which a killed process cannot take with it, so without fsync an update is
 * kill -9 safe the moment the call returns; SEQSTORE_FSYNC adds fdatasync()
 * for power loss. A kill during a write can leave only a *prefix* of the
 * last record (the kernel may stop a multi-page copy between pages); power
 * loss can leave that record garbled or zero-filled. So only the tail is
 * allowed to be bad, and open() recovers by dropping it and truncating:
 *
 *   NAME.seq:  32-byte header, then 32-byte records {counter, next_out,
 *              next_in, crc32}. The last record with a good CRC wins. A bad
 *              CRC anywhere but in the last record, a counter that does not
 *              go up by one, a bad magic or a file shorter than its header
 *              cannot be a crash artefact and is a hard error: we never
 *              silently fall back to 1, which would reuse numbers.
 *              After SEQ_COMPACT_AT records the update is written instead as
 *              a fresh file (header + one record) renamed over the log;
 *              rename is atomic, so either the old or the new state is seen.
 *              Files are only ever created that way, so a .seq file always
 *              has a full header and at least one record.
 *   NAME.msgs: 16-byte header, then records {magic, len, seq, body crc,
 *              header crc} + frame. The header has its own CRC so a damaged
 *              length can never pass for a torn tail and hide the records
 *              after it. The seq -> (offset, len) index lives in memory and
 *              is rebuilt by scanning at open.
 *
 * Ordering: the session calls set_next_out(n + 1) before message n leaves
 * and save(n) after, so the log can hold a number without its message (a
 * resend then gap-fills) but never a message whose number may be reused.
 * reset() truncates .msgs before it writes next_out = 1, so a crash between
 * the two never leaves old frames under numbers about to be reused.
 *
 * A failed fsync makes the store refuse every further update (EIO): after
 * such a failure the kernel may have dropped the dirty pages, and carrying
 * on would promise durability we no longer have. */
#include "seqstore.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <libdeflate.h>

#define FORMAT_VERSION 1u
#define SEQ_MAGIC "BTSEQLOG"
#define SEQ_HDR 32u
#define SEQ_REC 32u
/* Keeps the log at 16 KiB; a rewrite costs one small file and one rename. */
#define SEQ_COMPACT_AT 512u
#define MSG_MAGIC "BTMSGLOG"
#define MSG_HDR 16u
#define MSG_REC_HDR 24u
#define MSG_REC_MAGIC 0x534d5442u /* "BTMS" as little-endian bytes */
/* Encoded "sender+target" plus ".msgs.tmp" must fit NAME_MAX (255). */
#define BASE_MAX 200u

struct msg_ref {
	uint64_t seq;
	uint64_t off; /* of the record header in .msgs */
	uint32_t len; /* of the frame */
};

struct seqstore {
	int dirfd, lockfd, seqfd, msgfd;
	int flags;
	bool broken; /* an fsync or a cleanup failed: refuse further updates */
	uint64_t next_out, next_in;
	uint64_t counter;  /* of the last .seq record */
	uint64_t seq_end;  /* append offset in .seq */
	uint64_t seq_nrec; /* records in .seq */
	uint64_t msg_end;  /* append offset in .msgs */
	struct msg_ref *idx;
	size_t nidx, capidx;
	/* Deferred mode (group commit): updates wait here for seqstore_commit. */
	bool deferred;
	bool seq_dirty;      /* next_out/next_in newer than the last .seq record */
	unsigned char *pend; /* encoded .msgs records, written at msg_end */
	size_t pend_len, pend_cap;
	size_t window;     /* frames kept for resends at least; 0 = all */
	size_t compact_at; /* nidx that triggers the next .msgs compaction */
	char *dir;         /* as given, for messages */
	char *base;        /* encoded "sender+target" */
	char err[512];
};

/* ------------------------------------------------------------ helpers */

/* CRC-32 (IEEE, the same as zlib's crc32) from libdeflate: every saved frame
 * is summed on the send path, and its carry-less-multiply version costs a
 * fraction of a byte-wise table's time there. */
static uint32_t crc32_update(uint32_t crc, const void *data, size_t n)
{
	return libdeflate_crc32(crc, data, n);
}

/* Explicit little-endian so a store moves between machines. */
static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Record "seqstore: <dir>/<base><ext>: <why>" as the last error, set errno
 * to e and return -1. */
static int fail(struct seqstore *s, int e, const char *ext, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(s->err, sizeof(s->err), "seqstore: %s/%s%s: ", s->dir, s->base, ext);
	if (n > 0 && (size_t)n < sizeof(s->err)) {
		va_start(ap, fmt);
		vsnprintf(s->err + n, sizeof(s->err) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	errno = e;
	return -1;
}

/* pread exactly n bytes unless EOF comes first: bytes read, or -1. */
static ssize_t read_full(int fd, void *buf, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* pwritev all of iov (modified) at off: 0 or -1. */
static int write_full(int fd, struct iovec *iov, int cnt, uint64_t off)
{
	while (cnt > 0) {
		ssize_t w = pwritev(fd, iov, cnt, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		off += (uint64_t)w;
		while (cnt > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int write_buf(int fd, const void *buf, size_t n, uint64_t off)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = n};

	return write_full(fd, &iov, 1, off);
}

/* True if [off, size) reads as zeros: the shape power loss leaves when the
 * file size reached the disk but the data did not. */
static bool tail_is_zero(int fd, uint64_t off, uint64_t size)
{
	unsigned char buf[4096];

	while (off < size) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
		if (read_full(fd, buf, n, off) != (ssize_t)n)
			return false;
		for (size_t i = 0; i < n; i++)
			if (buf[i])
				return false;
		off += n;
	}
	return true;
}

/* ---------------------------------------------------------- file names */

static int check_name(const char *name, const char *what, char *err, size_t errlen)
{
	if (!name || !*name) {
		bt_set_err(err, errlen, "seqstore: %s CompID is empty", what);
		return -1;
	}
	for (const char *p = name; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			bt_set_err(err, errlen, "seqstore: %s CompID contains a control character",
				   what);
			return -1;
		}
	}
	if (strchr(name, '/')) {
		bt_set_err(err, errlen, "seqstore: %s CompID \"%.64s\" contains '/'", what, name);
		return -1;
	}
	if (strstr(name, "..")) {
		bt_set_err(err, errlen, "seqstore: %s CompID \"%.64s\" contains \"..\"", what,
			   name);
		return -1;
	}
	return 0;
}

static bool plain_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* Append name to out (capacity BASE_MAX + 1), %XX-escaping every byte that is
 * not plain, so '+' and '%' never appear raw and the mapping is injective. */
static int encode_name(char *out, size_t *n, const char *name)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		size_t need = plain_byte(*p) ? 1 : 3;
		if (*n + need > BASE_MAX)
			return -1;
		if (need == 1) {
			out[(*n)++] = (char)*p;
		} else {
			out[(*n)++] = '%';
			out[(*n)++] = hex[*p >> 4];
			out[(*n)++] = hex[*p & 15];
		}
	}
	out[*n] = '\0';
	return 0;
}

/* mkdir -p with mode 0700 for every directory it creates. */
static int mkdir_p(const char *dir)
{
	char *p, *copy = strdup(dir);
	int rc = 0;

	if (!copy)
		return -1;
	for (p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
			rc = -1;
			break;
		}
		*p = '/';
	}
	if (rc == 0 && mkdir(copy, 0700) < 0 && errno != EEXIST)
		rc = -1;
	free(copy);
	return rc;
}

static void file_name(char *buf, size_t len, const struct seqstore *s, const char *ext)
{
	snprintf(buf, len, "%s%s", s->base, ext);
}

/* --------------------------------------------------------- .seq file */

static void seq_encode_header(unsigned char *h)
{
	memset(h, 0, SEQ_HDR);
	memcpy(h, SEQ_MAGIC, 8);
	put32(h + 8, FORMAT_VERSION);
	put32(h + 12, SEQ_REC);
	put32(h + 28, crc32_update(0, h, 28));
}

static void seq_encode_record(unsigned char *r, uint64_t counter, uint64_t out, uint64_t in)
{
	memset(r, 0, SEQ_REC);
	put64(r, counter);
	put64(r + 8, out);
	put64(r + 16, in);
	put32(r + 28, crc32_update(0, r, 28));
}

/* Write name.tmp with the given bytes, then rename it over name: readers see
 * the old file or the whole new one. Returns the new fd or -1 (s->err set). */
static int replace_file(struct seqstore *s, const char *ext, const void *data, size_t len)
{
	char name[BASE_MAX + 16], tmp[BASE_MAX + 16];
	int e, fd;

	file_name(name, sizeof(name), s, ext);
	snprintf(tmp, sizeof(tmp), "%s%s.tmp", s->base, ext);
	fd = openat(s->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fail(s, errno, ext, "cannot create %s: %s", tmp, strerror(errno));
	if (write_buf(fd, data, len, 0) < 0 || ((s->flags & SEQSTORE_FSYNC) && fdatasync(fd) < 0)) {
		e = errno;
		goto undo;
	}
	if (renameat(s->dirfd, tmp, s->dirfd, name) < 0) {
		e = errno;
		goto undo;
	}
	if ((s->flags & SEQSTORE_FSYNC) && fsync(s->dirfd) < 0) {
		s->broken = true;
		e = errno;
		close(fd);
		return fail(s, e, ext, "fsync of the directory failed: %s", strerror(e));
	}
	return fd;
undo:
	close(fd);
	unlinkat(s->dirfd, tmp, 0);
	return fail(s, e, ext, "cannot write a new copy: %s", strerror(e));
}

/* Replace the .seq log by a header and one record. */
static int seq_rewrite(struct seqstore *s, uint64_t counter, uint64_t out, uint64_t in)
{
	unsigned char buf[SEQ_HDR + SEQ_REC];
	int fd;

	seq_encode_header(buf);
	seq_encode_record(buf + SEQ_HDR, counter, out, in);
	fd = replace_file(s, ".seq", buf, sizeof(buf));
	if (fd < 0)
		return -1;
	if (s->seqfd >= 0)
		close(s->seqfd);
	s->seqfd = fd;
	s->seq_end = SEQ_HDR + SEQ_REC;
	s->seq_nrec = 1;
	return 0;
}

/* Append (or compact into) a .seq record now. */
static int seq_write_now(struct seqstore *s, uint64_t out, uint64_t in)
{
	unsigned char r[SEQ_REC];
	uint64_t counter = s->counter + 1;

	if (s->broken)
		return fail(s, EIO, ".seq", "store unusable after an earlier I/O failure");
	if (s->seq_nrec >= SEQ_COMPACT_AT) {
		if (seq_rewrite(s, counter, out, in) < 0)
			return -1;
	} else {
		seq_encode_record(r, counter, out, in);
		if (write_buf(s->seqfd, r, sizeof(r), s->seq_end) < 0) {
			int e = errno;
			/* A partial record left behind would sit in the middle of
			 * the log once the next one lands after it. */
			if (ftruncate(s->seqfd, (off_t)s->seq_end) < 0)
				s->broken = true;
			return fail(s, e, ".seq", "write failed: %s", strerror(e));
		}
		if ((s->flags & SEQSTORE_FSYNC) && fdatasync(s->seqfd) < 0) {
			int e = errno;
			s->broken = true;
			return fail(s, e, ".seq", "fdatasync failed: %s", strerror(e));
		}
		s->seq_end += SEQ_REC;
		s->seq_nrec++;
	}
	s->counter = counter;
	s->next_out = out;
	s->next_in = in;
	s->seq_dirty = false;
	return 0;
}

/* Record (out, in): now, or at the next commit in deferred mode. */
static int seq_write(struct seqstore *s, uint64_t out, uint64_t in)
{
	if (s->broken)
		return fail(s, EIO, ".seq", "store unusable after an earlier I/O failure");
	if (!s->deferred)
		return seq_write_now(s, out, in);
	s->next_out = out;
	s->next_in = in;
	s->seq_dirty = true;
	return 0;
}

static int truncate_tail(struct seqstore *s, int fd, const char *ext, uint64_t len)
{
	if (ftruncate(fd, (off_t)len) < 0 || ((s->flags & SEQSTORE_FSYNC) && fdatasync(fd) < 0))
		return fail(s, errno, ext, "cannot drop the torn tail at offset %llu: %s",
			    (unsigned long long)len, strerror(errno));
	return 0;
}

/* Both files open the same way: a regular file at least as long as its
 * header, the right magic, and a header CRC stored at crc_at (over the bytes
 * before it). Returns 0 with the file size, or -1 with the error recorded. */
static int read_header(struct seqstore *s, int fd, const char *ext, unsigned char *h,
		       unsigned hdr_len, const char *magic, unsigned crc_at, uint64_t *size)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return fail(s, errno, ext, "fstat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(s, EINVAL, ext, "not a regular file");
	*size = (uint64_t)st.st_size;
	if (*size < hdr_len)
		return fail(s, EINVAL, ext, "file shorter than its header (%llu of %u bytes)",
			    (unsigned long long)*size, hdr_len);
	if (read_full(fd, h, hdr_len, 0) != (ssize_t)hdr_len)
		return fail(s, errno ? errno : EIO, ext, "cannot read the header");
	if (memcmp(h, magic, 8) != 0)
		return fail(s, EINVAL, ext, "bad magic (not a seqstore file)");
	if (get32(h + crc_at) != crc32_update(0, h, crc_at))
		return fail(s, EINVAL, ext, "header checksum mismatch");
	return 0;
}

static int seq_load(struct seqstore *s)
{
	unsigned char h[SEQ_HDR], r[SEQ_REC];
	uint64_t size, nfull, good = 0;

	if (read_header(s, s->seqfd, ".seq", h, SEQ_HDR, SEQ_MAGIC, 28, &size) < 0)
		return -1;
	if (get32(h + 8) != FORMAT_VERSION || get32(h + 12) != SEQ_REC)
		return fail(s, EINVAL, ".seq", "unsupported format version %u", get32(h + 8));

	nfull = (size - SEQ_HDR) / SEQ_REC;
	for (uint64_t i = 0; i < nfull; i++) {
		uint64_t off = SEQ_HDR + i * SEQ_REC, counter, out, in;

		if (read_full(s->seqfd, r, SEQ_REC, off) != SEQ_REC)
			return fail(s, errno ? errno : EIO, ".seq", "cannot read offset %llu",
				    (unsigned long long)off);
		if (get32(r + 28) != crc32_update(0, r, 28)) {
			if (i == nfull - 1)
				break; /* torn by a crash mid-write */
			return fail(s, EINVAL, ".seq",
				    "checksum mismatch in record at offset %llu (not the last "
				    "record, so not a crash artefact)",
				    (unsigned long long)off);
		}
		counter = get64(r);
		out = get64(r + 8);
		in = get64(r + 16);
		if (good > 0 && counter != s->counter + 1)
			return fail(s, EINVAL, ".seq",
				    "record at offset %llu out of order (counter %llu after %llu)",
				    (unsigned long long)off, (unsigned long long)counter,
				    (unsigned long long)s->counter);
		if (out == 0 || in == 0)
			return fail(s, EINVAL, ".seq",
				    "record at offset %llu holds sequence number 0",
				    (unsigned long long)off);
		s->counter = counter;
		s->next_out = out;
		s->next_in = in;
		good++;
	}
	if (good == 0)
		return fail(s, EINVAL, ".seq", "no complete record after the header");
	s->seq_nrec = good;
	s->seq_end = SEQ_HDR + good * SEQ_REC;
	if (size != s->seq_end)
		return truncate_tail(s, s->seqfd, ".seq", s->seq_end);
	return 0;
}

/* -------------------------------------------------------- .msgs file */

static void msg_encode_header(unsigned char *h)
{
	memcpy(h, MSG_MAGIC, 8);
	put32(h + 8, FORMAT_VERSION);
	put32(h + 12, crc32_update(0, h, 12));
}

static void msg_encode_rec_header(unsigned char *h, uint64_t seq, const char *frame, size_t len)
{
	put32(h, MSG_REC_MAGIC);
	put32(h + 4, (uint32_t)len);
	put64(h + 8, seq);
	put32(h + 16, crc32_update(0, frame, len));
	put32(h + 20, crc32_update(0, h, 20));
}

static size_t index_lower_bound(const struct seqstore *s, uint64_t seq)
{
	size_t lo = 0, hi = s->nidx;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->idx[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int index_reserve(struct seqstore *s)
{
	struct msg_ref *p;
	size_t cap;

	if (s->nidx < s->capidx)
		return 0;
	cap = s->capidx ? s->capidx * 2 : 64;
	p = realloc(s->idx, cap * sizeof(*p));
	if (!p)
		return -1;
	s->idx = p;
	s->capidx = cap;
	return 0;
}

/* Insert or replace; the capacity must have been reserved. Frames are
 * normally saved in ascending order, which makes this an append. */
static void index_put(struct seqstore *s, uint64_t seq, uint64_t off, uint32_t len)
{
	struct msg_ref ref = {.seq = seq, .off = off, .len = len};
	size_t i = s->nidx;

	if (i > 0 && s->idx[i - 1].seq >= seq) {
		i = index_lower_bound(s, seq);
		if (s->idx[i].seq == seq) {
			s->idx[i] = ref;
			return;
		}
		memmove(&s->idx[i + 1], &s->idx[i], (s->nidx - i) * sizeof(*s->idx));
	}
	s->idx[i] = ref;
	s->nidx++;
}

static int msg_create(struct seqstore *s)
{
	unsigned char h[MSG_HDR];
	int fd;

	msg_encode_header(h);
	fd = replace_file(s, ".msgs", h, sizeof(h));
	if (fd < 0)
		return -1;
	s->msgfd = fd;
	s->msg_end = MSG_HDR;
	return 0;
}

/* Read and check the record at off into *buf (grown as needed): 0 good,
 * 1 torn tail (a crash artefact, drop from off on), -1 corrupt (s->err). */
static int msg_read_record(struct seqstore *s, uint64_t off, uint64_t size, unsigned char **buf,
			   size_t *cap, uint64_t *seq, uint32_t *len)
{
	unsigned char h[MSG_REC_HDR];

	if (size - off < MSG_REC_HDR)
		return 1;
	if (read_full(s->msgfd, h, MSG_REC_HDR, off) != MSG_REC_HDR)
		return fail(s, errno ? errno : EIO, ".msgs", "cannot read offset %llu",
			    (unsigned long long)off);
	if (get32(h) != MSG_REC_MAGIC || get32(h + 20) != crc32_update(0, h, 20)) {
		if (tail_is_zero(s->msgfd, off, size))
			return 1;
		return fail(s, EINVAL, ".msgs", "bad record header at offset %llu",
			    (unsigned long long)off);
	}
	*len = get32(h + 4);
	*seq = get64(h + 8);
	if (*len == 0 || *len > SEQSTORE_MAX_FRAME || *seq == 0)
		return fail(s, EINVAL, ".msgs", "implausible record at offset %llu",
			    (unsigned long long)off);
	if (size - off - MSG_REC_HDR < *len)
		return 1; /* a kill stopped the write before the frame's end */
	if (*cap < *len) {
		unsigned char *p = realloc(*buf, *len);
		if (!p)
			return fail(s, ENOMEM, ".msgs", "out of memory");
		*buf = p;
		*cap = *len;
	}
	if (read_full(s->msgfd, *buf, *len, off + MSG_REC_HDR) != (ssize_t)*len)
		return fail(s, errno ? errno : EIO, ".msgs", "cannot read offset %llu",
			    (unsigned long long)off);
	if (get32(h + 16) != crc32_update(0, *buf, *len)) {
		if (off + MSG_REC_HDR + *len == size)
			return 1; /* last record garbled by power loss */
		return fail(s, EINVAL, ".msgs",
			    "checksum mismatch in record at offset %llu (not the last record, so "
			    "not a crash artefact)",
			    (unsigned long long)off);
	}
	return 0;
}

static int msg_load(struct seqstore *s)
{
	unsigned char h[MSG_HDR], *buf = NULL;
	size_t cap = 0;
	uint64_t size, off = MSG_HDR;
	int rc = 0;

	if (read_header(s, s->msgfd, ".msgs", h, MSG_HDR, MSG_MAGIC, 12, &size) < 0)
		return -1;
	if (get32(h + 8) != FORMAT_VERSION)
		return fail(s, EINVAL, ".msgs", "unsupported format version %u", get32(h + 8));

	while (off < size) {
		uint64_t seq;
		uint32_t len;

		rc = msg_read_record(s, off, size, &buf, &cap, &seq, &len);
		if (rc != 0)
			break;
		if (index_reserve(s) < 0) {
			rc = fail(s, ENOMEM, ".msgs", "out of memory");
			break;
		}
		index_put(s, seq, off, len);
		off += MSG_REC_HDR + len;
	}
	free(buf);
	if (rc < 0)
		return -1;
	s->msg_end = off;
	if (off != size)
		return truncate_tail(s, s->msgfd, ".msgs", off);
	return 0;
}

/* ---------------------------------------------------- resend window */

/* Copy [from, from + n) of in to out at out_off; 0 or -1 (errno). The
 * kernel copies (no trip through user memory) where it can. */
static int copy_range(int in, uint64_t from, int out, uint64_t out_off, uint64_t n)
{
	unsigned char buf[65536];

	while (n > 0) {
		off_t ioff = (off_t)from, ooff = (off_t)out_off;
		ssize_t k = copy_file_range(in, &ioff, out, &ooff, (size_t)n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break; /* unsupported here (or EOF): copy by hand */
		from += (uint64_t)k;
		out_off += (uint64_t)k;
		n -= (uint64_t)k;
	}
	while (n > 0) {
		size_t k = n < sizeof(buf) ? (size_t)n : sizeof(buf);
		ssize_t r = read_full(in, buf, k, from);
		if (r < 0)
			return -1;
		if ((size_t)r != k) {
			errno = EIO;
			return -1;
		}
		if (write_buf(out, buf, k, out_off) < 0)
			return -1;
		from += k;
		out_off += k;
		n -= k;
	}
	return 0;
}

/* Keep only the newest `window` frames: their records (the tail of .msgs,
 * saved in ascending order) are copied behind a fresh header into
 * NAME.msgs.tmp, which is renamed over .msgs, so a crash leaves the old or
 * the new file whole. Older numbers are then answered with a GapFill. A
 * failure leaves the old file in use and is retried a window later. */
static int msg_compact(struct seqstore *s)
{
	char name[BASE_MAX + 16], tmp[BASE_MAX + 16];
	unsigned char h[MSG_HDR];
	size_t first = s->nidx - s->window;
	uint64_t from = s->idx[first].off, tail = s->msg_end - from;
	int fd, e;

	for (size_t i = first; i < s->nidx; i++)
		if (s->idx[i].off < from)
			from = s->idx[i].off; /* a replaced frame sits earlier */
	tail = s->msg_end - from;
	file_name(name, sizeof(name), s, ".msgs");
	snprintf(tmp, sizeof(tmp), "%s.msgs.tmp", s->base);
	fd = openat(s->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fail(s, errno, ".msgs", "compaction: cannot create %s: %s", tmp,
			    strerror(errno));
	msg_encode_header(h);
	if (write_buf(fd, h, sizeof(h), 0) < 0 ||
	    copy_range(s->msgfd, from, fd, MSG_HDR, tail) < 0 ||
	    ((s->flags & SEQSTORE_FSYNC) && fdatasync(fd) < 0) ||
	    renameat(s->dirfd, tmp, s->dirfd, name) < 0) {
		e = errno;
		close(fd);
		unlinkat(s->dirfd, tmp, 0);
		return fail(s, e, ".msgs", "compaction failed: %s", strerror(e));
	}
	if ((s->flags & SEQSTORE_FSYNC) && fsync(s->dirfd) < 0) {
		/* The rename may not be durable: the old file may come back
		 * after a power loss, which is harmless (it holds more). */
		e = errno;
		close(s->msgfd);
		s->msgfd = fd;
		s->broken = true;
		return fail(s, e, ".msgs", "fsync of the directory failed: %s", strerror(e));
	}
	close(s->msgfd);
	s->msgfd = fd;
	for (size_t i = first; i < s->nidx; i++) {
		s->idx[i - first] = s->idx[i];
		s->idx[i - first].off = s->idx[i].off - from + MSG_HDR;
	}
	s->nidx -= first;
	s->msg_end = MSG_HDR + tail;
	return 0;
}

/* Compact once twice the window is kept: each frame is copied at most once
 * per window of later frames, so the work per message stays constant and
 * the file, the index and open() stay bounded. */
static void maybe_compact(struct seqstore *s)
{
	if (!s->window || s->nidx < s->compact_at || s->broken)
		return;
	if (msg_compact(s) < 0 && !s->broken)
		s->err[0] = '\0'; /* not fatal: the old file is intact */
	s->compact_at = s->nidx + s->window;
}

/* ------------------------------------------------------------- public */

void seqstore_set_window(struct seqstore *s, size_t window)
{
	s->window = window;
	s->compact_at = window ? 2 * window : 0;
	if (window && s->compact_at < window)
		s->compact_at = SIZE_MAX; /* overflow: never */
}

void seqstore_set_deferred(struct seqstore *s, int on)
{
	s->deferred = on != 0;
}

int seqstore_commit_numbers(struct seqstore *s)
{
	if (!s->seq_dirty)
		return 0;
	if (s->broken)
		return fail(s, EIO, ".seq", "store unusable after an earlier I/O failure");
	if (seq_write_now(s, s->next_out, s->next_in) < 0) {
		s->broken = true; /* bytes would leave under unrecorded numbers */
		return -1;
	}
	return 0;
}

size_t seqstore_pending_frames(const struct seqstore *s)
{
	return s->pend_len;
}

int seqstore_commit(struct seqstore *s)
{
	if (!s->seq_dirty && !s->pend_len)
		return 0;
	if (s->broken)
		return fail(s, EIO, ".seq", "store unusable after an earlier I/O failure");
	/* The numbers first, and with SEQSTORE_FSYNC durable before the frames
	 * are written: .msgs never holds a frame whose number the .seq log
	 * could hand out again, after a kill -9 or a power loss. */
	if (s->seq_dirty && seq_write_now(s, s->next_out, s->next_in) < 0) {
		s->broken = true; /* the frames would be sent under unrecorded numbers */
		return -1;
	}
	if (s->pend_len) {
		if (write_buf(s->msgfd, s->pend, s->pend_len, s->msg_end) < 0) {
			int e = errno;
			s->broken = true;
			return fail(s, e, ".msgs", "write failed: %s", strerror(e));
		}
		if ((s->flags & SEQSTORE_FSYNC) && fdatasync(s->msgfd) < 0) {
			int e = errno;
			s->broken = true;
			return fail(s, e, ".msgs", "fdatasync failed: %s", strerror(e));
		}
		s->msg_end += s->pend_len;
		s->pend_len = 0;
		/* The buffer stays for the next burst: freeing and refaulting a
		 * burst-sized buffer costs more than the write itself. Only an
		 * outsized one (a burst of some 300,000 orders) is given back. */
		if (s->pend_cap > 64 * 1024 * 1024) {
			free(s->pend);
			s->pend = NULL;
			s->pend_cap = 0;
		}
	}
	maybe_compact(s);
	return 0;
}

int seqstore_set_next_out(struct seqstore *s, uint64_t next_out)
{
	if (next_out == 0)
		return fail(s, EINVAL, ".seq", "next_out must be >= 1");
	return seq_write(s, next_out, s->next_in);
}

int seqstore_set_next_in(struct seqstore *s, uint64_t next_in)
{
	if (next_in == 0)
		return fail(s, EINVAL, ".seq", "next_in must be >= 1");
	return seq_write(s, s->next_out, next_in);
}

int seqstore_save(struct seqstore *s, uint64_t seq, const char *frame, size_t len)
{
	unsigned char h[MSG_REC_HDR];
	struct iovec iov[2];

	if (s->broken)
		return fail(s, EIO, ".msgs", "store unusable after an earlier I/O failure");
	if (seq == 0 || !frame || len == 0 || len > SEQSTORE_MAX_FRAME)
		return fail(s, EINVAL, ".msgs", "save: bad seq %llu or length %zu",
			    (unsigned long long)seq, len);
	/* Reserve first so nothing can fail once the record is on disk. */
	if (index_reserve(s) < 0)
		return fail(s, ENOMEM, ".msgs", "out of memory");
	if (s->deferred) {
		size_t need = MSG_REC_HDR + len;
		if (s->pend_cap - s->pend_len < need) {
			size_t cap = s->pend_cap ? s->pend_cap : 64 * 1024;
			while (cap - s->pend_len < need)
				cap *= 2;
			unsigned char *p = realloc(s->pend, cap);
			if (!p)
				return fail(s, ENOMEM, ".msgs", "out of memory");
			s->pend = p;
			s->pend_cap = cap;
		}
		unsigned char *rec = s->pend + s->pend_len;
		msg_encode_rec_header(rec, seq, frame, len);
		memcpy(rec + MSG_REC_HDR, frame, len);
		index_put(s, seq, s->msg_end + s->pend_len, (uint32_t)len);
		s->pend_len += need;
		return 0;
	}
	msg_encode_rec_header(h, seq, frame, len);
	iov[0] = (struct iovec){.iov_base = h, .iov_len = sizeof(h)};
	iov[1] = (struct iovec){.iov_base = (void *)frame, .iov_len = len};
	if (write_full(s->msgfd, iov, 2, s->msg_end) < 0) {
		int e = errno;
		if (ftruncate(s->msgfd, (off_t)s->msg_end) < 0)
			s->broken = true;
		return fail(s, e, ".msgs", "write failed: %s", strerror(e));
	}
	if ((s->flags & SEQSTORE_FSYNC) && fdatasync(s->msgfd) < 0) {
		int e = errno;
		s->broken = true;
		return fail(s, e, ".msgs", "fdatasync failed: %s", strerror(e));
	}
	index_put(s, seq, s->msg_end, (uint32_t)len);
	s->msg_end += MSG_REC_HDR + len;
	maybe_compact(s);
	return 0;
}

int seqstore_each(struct seqstore *s, uint64_t begin, uint64_t end,
		  int (*fn)(void *arg, uint64_t seq, const char *frame, size_t len), void *arg)
{
	unsigned char *buf = NULL;
	size_t cap = 0;
	uint64_t seq = begin;
	int rc = 0;

	if (!fn)
		return fail(s, EINVAL, ".msgs", "each: no callback");
	/* Frames waiting for a group commit are read back from the file: an
	 * early commit only writes sooner what was about to be written. */
	if (s->pend_len && seqstore_commit(s) < 0)
		return -1;
	if (end == 0)
		end = UINT64_MAX;
	while (seq <= end) {
		/* Look the next one up afresh each time: fn may save or reset. */
		size_t i = index_lower_bound(s, seq);
		struct msg_ref ref;
		uint64_t got;
		uint32_t len;

		if (i == s->nidx || s->idx[i].seq > end)
			break;
		ref = s->idx[i];
		rc = msg_read_record(s, ref.off, s->msg_end, &buf, &cap, &got, &len);
		if (rc == 0 && (got != ref.seq || len != ref.len))
			rc = 1;
		if (rc != 0) {
			if (rc > 0)
				fail(s, EIO, ".msgs",
				     "record of seq %llu at offset %llu changed on disk",
				     (unsigned long long)ref.seq, (unsigned long long)ref.off);
			if (errno == EINVAL)
				errno = EIO;
			rc = -1;
			break;
		}
		rc = fn(arg, ref.seq, (const char *)buf, len);
		if (rc != 0) {
			rc = rc > 0 ? 0 : -1;
			break;
		}
		if (ref.seq == UINT64_MAX)
			break;
		seq = ref.seq + 1;
	}
	free(buf);
	return rc;
}

int seqstore_reset(struct seqstore *s)
{
	if (s->broken)
		return fail(s, EIO, ".msgs", "store unusable after an earlier I/O failure");
	/* Frames go first: a crash after this leaves old numbers, no old frames. */
	s->pend_len = 0;
	if (ftruncate(s->msgfd, MSG_HDR) < 0)
		return fail(s, errno, ".msgs", "truncate failed: %s", strerror(errno));
	s->nidx = 0;
	s->msg_end = MSG_HDR;
	if ((s->flags & SEQSTORE_FSYNC) && fdatasync(s->msgfd) < 0) {
		int e = errno;
		s->broken = true;
		return fail(s, e, ".msgs", "fdatasync failed: %s", strerror(e));
	}
	return seq_write(s, 1, 1);
}

uint64_t seqstore_next_out(const struct seqstore *s)
{
	return s->next_out;
}

uint64_t seqstore_next_in(const struct seqstore *s)
{
	return s->next_in;
}

size_t seqstore_msg_count(const struct seqstore *s)
{
	return s->nidx;
}

const char *seqstore_error(const struct seqstore *s)
{
	return s->err;
}

static int op_set_next_out(void *ctx, uint64_t next_out)
{
	return seqstore_set_next_out(ctx, next_out);
}

static int op_set_next_in(void *ctx, uint64_t next_in)
{
	return seqstore_set_next_in(ctx, next_in);
}

static int op_save(void *ctx, uint64_t seq, const char *frame, size_t len)
{
	return seqstore_save(ctx, seq, frame, len);
}

static int op_each(void *ctx, uint64_t begin, uint64_t end,
		   int (*fn)(void *arg, uint64_t seq, const char *frame, size_t len), void *arg)
{
	return seqstore_each(ctx, begin, end, fn, arg);
}

static int op_reset(void *ctx)
{
	return seqstore_reset(ctx);
}

static const struct fix_store_ops seqstore_ops = {
    .set_next_out = op_set_next_out,
    .set_next_in = op_set_next_in,
    .save = op_save,
    .each = op_each,
    .reset = op_reset,
};

struct fix_store seqstore_as_fix_store(struct seqstore *s)
{
	return (struct fix_store){
	    .ops = &seqstore_ops,
	    .ctx = s,
	    .next_out = s->next_out,
	    .next_in = s->next_in,
	};
}

void seqstore_close(struct seqstore *s)
{
	if (!s)
		return;
	if (!s->broken && s->seqfd >= 0 && s->msgfd >= 0)
		(void)seqstore_commit(s); /* best effort: nothing waits on it any more */
	if (s->seqfd >= 0)
		close(s->seqfd);
	if (s->msgfd >= 0)
		close(s->msgfd);
	if (s->lockfd >= 0)
		close(s->lockfd); /* releases the flock */
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->idx);
	free(s->pend);
	free(s->dir);
	free(s->base);
	free(s);
}

/* Open or create both files; the lock is held. */
static int open_files(struct seqstore *s)
{
	char name[BASE_MAX + 16];
	int fd;

	/* Leftovers of a rewrite a crash interrupted; the real files are intact. */
	snprintf(name, sizeof(name), "%s.seq.tmp", s->base);
	unlinkat(s->dirfd, name, 0);
	snprintf(name, sizeof(name), "%s.msgs.tmp", s->base);
	unlinkat(s->dirfd, name, 0);

	file_name(name, sizeof(name), s, ".msgs");
	fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT)
		return fail(s, errno, ".msgs", "cannot open: %s", strerror(errno));
	s->msgfd = fd;
	if (fd >= 0 && msg_load(s) < 0)
		return -1;

	file_name(name, sizeof(name), s, ".seq");
	fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT)
		return fail(s, errno, ".seq", "cannot open: %s", strerror(errno));
	if (fd >= 0) {
		s->seqfd = fd;
		/* Files are created .msgs first, so this is no crash artefact. */
		if (s->msgfd < 0)
			return fail(s, ENOENT, ".msgs", "missing although %s.seq exists", s->base);
		return seq_load(s);
	}
	if (s->nidx > 0)
		return fail(s, ENOENT, ".seq", "missing although %s.msgs holds messages", s->base);
	if (s->msgfd < 0 && msg_create(s) < 0)
		return -1;
	s->counter = 1;
	s->next_out = s->next_in = 1;
	return seq_rewrite(s, 1, 1, 1);
}

int seqstore_open(struct seqstore **out, const char *dir, const char *sender, const char *target,
		  int flags, char *err, size_t errlen)
{
	char base[BASE_MAX + 1], name[BASE_MAX + 16];
	struct seqstore *s;
	size_t n = 0, dlen;
	int e;

	if (err && errlen)
		err[0] = '\0';
	if (!out) {
		bt_set_err(err, errlen, "seqstore: no place for the result");
		return -1;
	}
	*out = NULL;
	if (!dir || !*dir) {
		bt_set_err(err, errlen, "seqstore: directory name is empty");
		return -1;
	}
	if (flags & ~SEQSTORE_FSYNC) {
		bt_set_err(err, errlen, "seqstore: unknown flags 0x%x", (unsigned)flags);
		return -1;
	}
	if (check_name(sender, "sender", err, errlen) < 0 ||
	    check_name(target, "target", err, errlen) < 0)
		return -1;
	if (encode_name(base, &n, sender) == 0 && n < BASE_MAX) {
		base[n++] = '+';
		n = encode_name(base, &n, target) == 0 ? n : 0;
	} else {
		n = 0;
	}
	if (n == 0) {
		bt_set_err(err, errlen, "seqstore: CompIDs too long for a file name");
		return -1;
	}

	s = calloc(1, sizeof(*s));
	if (!s) {
		bt_set_err(err, errlen, "seqstore: out of memory");
		return -1;
	}
	s->dirfd = s->lockfd = s->seqfd = s->msgfd = -1;
	s->flags = flags;
	dlen = strlen(dir);
	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	s->dir = strndup(dir, dlen);
	s->base = strdup(base);
	if (!s->dir || !s->base) {
		bt_set_err(err, errlen, "seqstore: out of memory");
		goto out_fail;
	}
	if (mkdir_p(s->dir) < 0) {
		bt_set_err(err, errlen, "seqstore: %s: cannot create directory: %s", s->dir,
			   strerror(errno));
		goto out_fail;
	}
	s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		bt_set_err(err, errlen, "seqstore: %s: %s", s->dir, strerror(errno));
		goto out_fail;
	}
	file_name(name, sizeof(name), s, ".lock");
	s->lockfd = openat(s->dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->lockfd < 0) {
		fail(s, errno, ".lock", "cannot open: %s", strerror(errno));
		goto out_err;
	}
	/* flock, not fcntl: it belongs to the open file, so a second open in
	 * this very process is refused too. */
	while (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			fail(s, EBUSY, ".lock",
			     "in use by another process (or another open "
			     "store in this one)");
		else
			fail(s, errno, ".lock", "flock: %s", strerror(errno));
		goto out_err;
	}
	if (open_files(s) < 0)
		goto out_err;
	s->err[0] = '\0';
	*out = s;
	return 0;
out_err:
	bt_set_err(err, errlen, "%s", s->err);
out_fail:
	e = errno;
	seqstore_close(s);
	errno = e; /* EBUSY tells a held lock apart */
	return -1;
}
