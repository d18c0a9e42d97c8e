/* FIX 4.4 codec. The decoder makes one SIMD pass for the checksum and walks
 * the SOH positions of 64-byte blocks as bitmasks, so the per-field cost is a
 * few integer operations; the encoder writes straight into the caller's
 * buffer and only touches the headroom and the trailer at the end. */
#include "fix_codec.h"

#include <string.h>

#if defined(__SSE2__) && !defined(FIX_NO_SIMD)
#include <emmintrin.h>
#define FIX_SIMD 1
#endif

#define BEGIN_FIELD "8=FIX.4.4\x01"
#define BEGIN_FIELD_LEN 10
#define FRAME_START "8=FIX"
#define FRAME_START_LEN 5
/* Bounds that let the framer refuse a stream without SOH early instead of
 * buffering it: "FIXT.1.1" is the longest BeginString in use. */
#define MAX_BEGIN_STRING 16
#define MAX_LEN_DIGITS 9
#define MAX_TAG_DIGITS 9
#define TRAILER_LEN 7 /* "10=nnn" SOH */
#define TIME_LEN 21   /* YYYYMMDD-HH:MM:SS.sss */

#define MS_PER_DAY INT64_C(86400000)
#define MIN_TIME_MS INT64_C(-62167219200000) /* 0000-01-01 00:00:00.000 */
#define MAX_TIME_MS INT64_C(253402300799999) /* 9999-12-31 23:59:59.999 */

static const char digit_pairs[201] = "00010203040506070809"
				     "10111213141516171819"
				     "20212223242526272829"
				     "30313233343536373839"
				     "40414243444546474849"
				     "50515253545556575859"
				     "60616263646566676869"
				     "70717273747576777879"
				     "80818283848586878889"
				     "90919293949596979899";

const char *fix_strerror(int status)
{
	switch (status) {
	case FIX_OK:
		return "ok";
	case FIX_E_NEED_MORE:
		return "incomplete frame";
	case FIX_E_BEGIN_STRING:
		return "BeginString is not FIX.4.4";
	case FIX_E_BODY_LENGTH:
		return "BodyLength missing or wrong";
	case FIX_E_BODY_TOO_LARGE:
		return "BodyLength above maximum";
	case FIX_E_CHECKSUM:
		return "checksum mismatch";
	case FIX_E_TAG_SYNTAX:
		return "bad tag syntax";
	case FIX_E_EMPTY_VALUE:
		return "empty field value";
	case FIX_E_MISSING_HEADER:
		return "required header field missing or misplaced";
	case FIX_E_TOO_MANY_FIELDS:
		return "too many fields";
	case FIX_E_BUFFER_FULL:
		return "encode buffer full";
	case FIX_E_BAD_VALUE:
		return "bad field value";
	case FIX_E_FIELD_ORDER:
		return "8, 9 or 10 repeated inside the body";
	default:
		return "unknown FIX status";
	}
}

static inline int is_digit(char c)
{
	return (unsigned char)(c - '0') < 10;
}

static inline int is_version_char(char c)
{
	return is_digit(c) || c == '.' || (unsigned char)((c | 0x20) - 'a') < 26;
}

/* Sum of bytes; only the low 8 bits matter for CheckSum(10). */
static uint64_t sum_bytes(const char *p, size_t n)
{
	uint64_t sum = 0;
	size_t i = 0;
#ifdef FIX_SIMD
	__m128i zero = _mm_setzero_si128();
	__m128i acc = zero;
	for (; i + 16 <= n; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		acc = _mm_add_epi64(acc, _mm_sad_epu8(v, zero));
	}
	uint64_t lanes[2];
	_mm_storeu_si128((__m128i *)(void *)lanes, acc);
	sum = lanes[0] + lanes[1];
#endif
	for (; i < n; i++)
		sum += (unsigned char)p[i];
	return sum;
}

/* Byte sum and SOH positions of one 64-byte block, from the same loads: the
 * parser checks and indexes in a single pass over the frame. */
#ifdef FIX_SIMD
typedef __m128i sum_acc;
#define SUM_ACC_ZERO _mm_setzero_si128()
static inline uint64_t scan_block64(const char *p, sum_acc *acc)
{
	const __m128i soh = _mm_set1_epi8(FIX_SOH), zero = _mm_setzero_si128();
	uint64_t m = 0;
	for (int i = 0; i < 64; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		*acc = _mm_add_epi64(*acc, _mm_sad_epu8(v, zero));
		m |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, soh)) << i;
	}
	return m;
}

static inline uint64_t sum_acc_total(sum_acc acc)
{
	uint64_t lanes[2];
	_mm_storeu_si128((__m128i *)(void *)lanes, acc);
	return lanes[0] + lanes[1];
}
#else
typedef uint64_t sum_acc;
#define SUM_ACC_ZERO 0
static inline uint64_t scan_block64(const char *p, sum_acc *acc)
{
	uint64_t m = 0;
	for (int i = 0; i < 64; i++) {
		*acc += (unsigned char)p[i];
		m |= (uint64_t)(p[i] == FIX_SOH) << i;
	}
	return m;
}

static inline uint64_t sum_acc_total(sum_acc acc)
{
	return acc;
}
#endif

/* Same for the first min(avail, 64) bytes at p, reading no further: a short
 * last block is copied into zeros, which add nothing and are not SOH. */
static inline uint64_t scan_block(const char *p, size_t avail, sum_acc *acc)
{
	if (avail >= 64)
		return scan_block64(p, acc);
	char tail[64] = {0};
	memcpy(tail, p, avail);
	return scan_block64(tail, acc);
}

/* ---------------------------------------------------------------- framer */

/* Bytes to drop so that the buffer starts at the next "8=FIX" after buf[0],
 * keeping a trailing partial "8=FI" that more bytes may complete. */
static size_t resync(const char *buf, size_t len)
{
	for (size_t i = 1; i < len; i++) {
		if (buf[i] != '8')
			continue;
		size_t n = len - i < FRAME_START_LEN ? len - i : FRAME_START_LEN;
		if (memcmp(buf + i, FRAME_START, n) == 0)
			return i;
	}
	return len;
}

static int frame_bad(int status, const char *buf, size_t len, size_t *frame_len)
{
	*frame_len = resync(buf, len);
	return status;
}

/* fix_frame up to, not including, the checksum comparison: on FIX_OK,
 * *frame_len is the whole frame and *want the value of its CheckSum digits
 * (-1 if they are not three digits). */
static int frame_head(const char *buf, size_t len, size_t max_body, size_t *frame_len, int *want)
{
	*frame_len = 0;
	if (max_body == 0)
		max_body = FIX_DEFAULT_MAX_BODY;
	if (len == 0)
		return FIX_E_NEED_MORE;
	size_t n = len < FRAME_START_LEN ? len : FRAME_START_LEN;
	if (memcmp(buf, FRAME_START, n) != 0)
		return frame_bad(FIX_E_BEGIN_STRING, buf, len, frame_len);

	/* BeginString value: "FIX..." up to its SOH, bounded. Only letters, digits
	 * and dots, so that "8=FIX8=FIX.4.4" resynchronises on the second start
	 * instead of swallowing that frame. */
	size_t p = FRAME_START_LEN;
	size_t lim = 2 + MAX_BEGIN_STRING;
	for (; p < len && buf[p] != FIX_SOH; p++) {
		if (p >= lim || !is_version_char(buf[p]))
			return frame_bad(FIX_E_BEGIN_STRING, buf, len, frame_len);
	}
	if (p >= len)
		return FIX_E_NEED_MORE;
	p++;

	/* "9=" and at most MAX_LEN_DIGITS digits; too large is known digit by digit. */
	if (p < len && buf[p] != '9')
		return frame_bad(FIX_E_BODY_LENGTH, buf, len, frame_len);
	if (p + 1 < len && buf[p + 1] != '=')
		return frame_bad(FIX_E_BODY_LENGTH, buf, len, frame_len);
	p += 2;
	size_t v0 = p;
	uint64_t body = 0;
	for (; p < len && buf[p] != FIX_SOH; p++) {
		if (!is_digit(buf[p]) || p - v0 >= MAX_LEN_DIGITS)
			return frame_bad(FIX_E_BODY_LENGTH, buf, len, frame_len);
		body = body * 10 + (uint64_t)(buf[p] - '0');
		if (body > max_body)
			return frame_bad(FIX_E_BODY_TOO_LARGE, buf, len, frame_len);
	}
	if (p >= len)
		return FIX_E_NEED_MORE;
	if (p == v0)
		return frame_bad(FIX_E_BODY_LENGTH, buf, len, frame_len);
	size_t b = p + 1;
	size_t tr = b + (size_t)body; /* where "10=" must be */
	size_t end = tr + TRAILER_LEN;

	/* Check what has arrived of the delimiters BodyLength promises. */
	if (body > 0 && tr - 1 < len && buf[tr - 1] != FIX_SOH)
		return frame_bad(FIX_E_BODY_LENGTH, buf, len, frame_len);
	for (size_t i = 0; i < 3 && tr + i < len; i++) {
		if (buf[tr + i] != "10="[i])
			return frame_bad(FIX_E_BODY_LENGTH, buf, len, frame_len);
	}
	if (len < end)
		return FIX_E_NEED_MORE;
	if (buf[end - 1] != FIX_SOH)
		return frame_bad(FIX_E_BODY_LENGTH, buf, len, frame_len);

	*frame_len = end;
	const char *d = buf + tr + 3;
	*want = -1;
	if (is_digit(d[0]) && is_digit(d[1]) && is_digit(d[2]))
		*want = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
	return FIX_OK;
}

static int checksum_ok(const char *frame, size_t len, int want)
{
	return want >= 0 && (int)(sum_bytes(frame, len - TRAILER_LEN) & 0xff) == want;
}

int fix_frame(const char *buf, size_t len, size_t max_body, size_t *frame_len)
{
	int want;
	int r = frame_head(buf, len, max_body, frame_len, &want);
	if (r == FIX_OK && !checksum_ok(buf, *frame_len, want))
		return FIX_E_CHECKSUM;
	return r;
}

/* ----------------------------------------------------------------- parser */

void fix_msg_init(struct fix_msg *msg, struct fix_field *fields, size_t cap)
{
	memset(msg, 0, sizeof(*msg));
	msg->fields = fields;
	msg->cap = fields ? cap : 0;
}

/* Positions of SOH in [base, end), handed out in order, 64 at a time; every
 * block loaded also adds its bytes to the checksum. */
struct soh_scan {
	const char *buf;
	size_t base, end;
	uint64_t mask;
	sum_acc acc;
};

/* Next SOH position, or end if there is none. */
static inline size_t soh_next(struct soh_scan *s)
{
	while (s->mask == 0) {
		if (s->base + 64 >= s->end)
			return s->end;
		s->base += 64;
		s->mask = scan_block(s->buf + s->base, s->end - s->base, &s->acc);
	}
	size_t pos = s->base + (size_t)__builtin_ctzll(s->mask);
	s->mask &= s->mask - 1;
	return pos;
}

/* Byte sum of [0, end): what the scan loaded plus what it did not reach. */
static uint64_t soh_scan_sum(const struct soh_scan *s)
{
	uint64_t sum = sum_acc_total(s->acc);
	size_t done = s->base + 64;
	if (done < s->end)
		sum += sum_bytes(s->buf + done, s->end - done);
	return sum;
}

static int parse_seq(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 18) /* 18 digits cannot overflow */
		return FIX_E_BAD_VALUE;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return FIX_E_BAD_VALUE;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return FIX_OK;
}

/* Tag at p, up to its '=' (which must come before end, the field's SOH).
 * Returns the number of digits, 0 on bad syntax. */
static size_t parse_tag_slow(const char *p, const char *end, uint32_t *tag)
{
	size_t k = 0;
	uint32_t v = 0;
	if (p[0] < '1' || p[0] > '9')
		return 0;
	while (p + k < end && is_digit(p[k])) {
		if (k == MAX_TAG_DIGITS)
			return 0;
		v = v * 10 + (uint32_t)(p[k++] - '0');
	}
	if (p + k == end || p[k] != '=')
		return 0;
	*tag = v;
	return k;
}

/* Same, but with p[0..8) readable: tags of up to 7 digits are read as one
 * word without a branch per digit, which is most of the cost of indexing. */
static inline size_t parse_tag(const char *p, const char *end, uint32_t *tag)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const uint64_t ones = UINT64_C(0x0101010101010101);
	uint64_t w;
	memcpy(&w, p, 8);
	uint64_t a = w ^ (ones * '0'); /* digits become 0..9 */
	/* High bit of a byte set when it is not a digit; no carry between bytes. */
	uint64_t nd = (((a & (ones * 0x7f)) + ones * 0x76) | a) & (ones * 0x80);
	if (nd != 0) {
		unsigned k = (unsigned)__builtin_ctzll(nd) >> 3;
		if (k == 0 || p[k] != '=' || p[0] == '0')
			return 0;
		/* Right-align the k digits as a 4- or 8-digit number with leading
		 * zeros, then combine pairs, quads (and octets) by multiplication. */
		if (k <= 4) {
			uint32_t v = (uint32_t)a << (32 - 8 * k);
			v = (v * 10 + (v >> 8)) & 0x00ff00ffu;
			*tag = (v * 100 + (v >> 16)) & 0xffffu;
			return k;
		}
		uint64_t v = a << (64 - 8 * k);
		v = (v * 10 + (v >> 8)) & UINT64_C(0x00ff00ff00ff00ff);
		v = (v * 100 + (v >> 16)) & UINT64_C(0x0000ffff0000ffff);
		*tag = (uint32_t)((v * 10000 + (v >> 32)) & UINT64_C(0xffffffff));
		return k;
	}
#endif
	return parse_tag_slow(p, end, tag);
}

#define BIT(t) (UINT64_C(1) << (t))
#define REQUIRED_HEADER (BIT(34) | BIT(49) | BIT(52) | BIT(56))
#define FRAMING_TAGS (BIT(8) | BIT(9) | BIT(10))

/* Length of the "8=FIX...<SOH>" field buf starts with, if its value is one the
 * framer takes (version characters, at most MAX_BEGIN_STRING); else 0. */
static size_t begin_field_len(const char *buf, size_t len)
{
	if (!buf || len < FRAME_START_LEN || memcmp(buf, FRAME_START, FRAME_START_LEN) != 0)
		return 0;
	for (size_t p = FRAME_START_LEN; p < len && p <= 2 + MAX_BEGIN_STRING; p++) {
		if (buf[p] == FIX_SOH)
			return p + 1;
		if (!is_version_char(buf[p]))
			return 0;
	}
	return 0;
}

/* fix_parse, or with any_version the same for whichever BeginString the
 * framer takes; inlined into each with a constant flag, so fix_parse is the
 * code it was (a call and a test per frame would be on the hot path). */
static inline __attribute__((always_inline)) int parse_frame(struct fix_msg *msg, const char *buf,
							     size_t len, int any_version)
{
	msg->buf = buf;
	msg->len = len;
	msg->nfields = 0;
	msg->msg_type = NULL;
	msg->msg_type_len = 0;
	msg->seq_num = 0;
	msg->poss_dup = 0;

	size_t bl = BEGIN_FIELD_LEN;
	if (any_version) {
		if (!(bl = begin_field_len(buf, len)))
			return FIX_E_BEGIN_STRING;
	} else if (!buf || len < BEGIN_FIELD_LEN ||
		   memcmp(buf, BEGIN_FIELD, BEGIN_FIELD_LEN) != 0) {
		return FIX_E_BEGIN_STRING;
	}
	if (len > UINT32_MAX)
		return FIX_E_BODY_LENGTH;

	size_t p = bl;
	if (len - p < 2 || buf[p] != '9' || buf[p + 1] != '=')
		return FIX_E_BODY_LENGTH;
	p += 2;
	size_t v0 = p;
	size_t body = 0;
	while (p < len && is_digit(buf[p]) && p - v0 < MAX_LEN_DIGITS)
		body = body * 10 + (size_t)(buf[p++] - '0');
	if (p == v0 || p >= len || buf[p] != FIX_SOH)
		return FIX_E_BODY_LENGTH;
	size_t b = p + 1;
	if (len < b + TRAILER_LEN || len - TRAILER_LEN - b != body)
		return FIX_E_BODY_LENGTH;
	size_t tr = len - TRAILER_LEN;
	if (memcmp(buf + tr, "10=", 3) != 0 || buf[len - 1] != FIX_SOH ||
	    (body > 0 && buf[tr - 1] != FIX_SOH))
		return FIX_E_BODY_LENGTH;
	const char *d = buf + tr + 3;
	if (!is_digit(d[0]) || !is_digit(d[1]) || !is_digit(d[2]))
		return FIX_E_CHECKSUM;
	unsigned want =
	    (unsigned)(d[0] - '0') * 100 + (unsigned)(d[1] - '0') * 10 + (unsigned)(d[2] - '0');

	struct fix_field *f = msg->fields;
	size_t cap = msg->cap;
	if (cap < 3)
		return (sum_bytes(buf, tr) & 0xff) != want ? FIX_E_CHECKSUM : FIX_E_TOO_MANY_FIELDS;
	f[0] = (struct fix_field){8, 2, (uint32_t)(bl - 3)};
	f[1] = (struct fix_field){9, (uint32_t)v0, (uint32_t)(b - 1 - v0)};

	/* One pass from byte 0: the checksum covers the 8= and 9= fields too,
	 * and b < 64, so the first block holds both and the body's start. */
	int st = FIX_OK;
	size_t nf = 2;
	uint64_t seen = 0;
	struct soh_scan s = {buf, 0, tr, 0, SUM_ACC_ZERO};
	s.mask = scan_block(buf, tr, &s.acc) & ~((UINT64_C(1) << b) - 1);
	size_t cur = b;
	while (cur < tr) {
		size_t e = soh_next(&s);
		uint32_t tag = 0;
		/* cur < tr and the 7-byte trailer follows tr: 8 bytes are readable. */
		size_t k = parse_tag(buf + cur, buf + e, &tag);
		if (k == 0) {
			st = FIX_E_TAG_SYNTAX;
			break;
		}
		size_t q = cur + k + 1;
		if (q == e) {
			st = FIX_E_EMPTY_VALUE;
			break;
		}
		if (nf + 1 >= cap) { /* keep a slot for 10 */
			st = FIX_E_TOO_MANY_FIELDS;
			break;
		}
		seen |= (uint64_t)(tag < 64) << (tag & 63);
		f[nf++] = (struct fix_field){tag, (uint32_t)q, (uint32_t)(e - q)};
		cur = e + 1;
	}
	/* A bad checksum outranks whatever the index found: the frame is not
	 * what its sender wrote, so nothing in it is reported. */
	if ((soh_scan_sum(&s) & 0xff) != want)
		return FIX_E_CHECKSUM;
	if (st == FIX_OK) {
		f[nf++] = (struct fix_field){10, (uint32_t)(tr + 3), 3};
		if (seen & FRAMING_TAGS)
			st = FIX_E_FIELD_ORDER;
		else if (nf < 4 || f[2].tag != 35 || (seen & REQUIRED_HEADER) != REQUIRED_HEADER)
			st = FIX_E_MISSING_HEADER;
	}
	msg->nfields = nf;
	if (nf > 2 && f[2].tag == 35) {
		msg->msg_type = buf + f[2].off;
		msg->msg_type_len = f[2].len;
	}
	/* 34 and 43 are near the front, so finding them afterwards is cheaper
	 * than testing every tag in the loop. */
	if (seen & BIT(43)) {
		const struct fix_field *pd = fix_msg_find(msg, 43);
		msg->poss_dup = pd->len == 1 && buf[pd->off] == 'Y';
	}
	if (seen & BIT(34)) {
		const struct fix_field *sq = fix_msg_find(msg, 34);
		if (parse_seq(buf + sq->off, sq->len, &msg->seq_num) != FIX_OK && !st)
			st = FIX_E_BAD_VALUE;
	}
	return st;
}

int fix_parse(struct fix_msg *msg, const char *buf, size_t len)
{
	return parse_frame(msg, buf, len, 0);
}

int fix_parse_any_version(struct fix_msg *msg, const char *buf, size_t len)
{
	return parse_frame(msg, buf, len, 1);
}

int fix_frame_parse(struct fix_msg *msg, const char *buf, size_t len, size_t max_body,
		    size_t *frame_len)
{
	int want;
	msg->buf = buf;
	msg->len = 0;
	msg->nfields = 0;
	msg->msg_type = NULL;
	msg->msg_type_len = 0;
	msg->seq_num = 0;
	msg->poss_dup = 0;
	int r = frame_head(buf, len, max_body, frame_len, &want);
	if (r != FIX_OK)
		return r;
	if (want < 0)
		return FIX_E_CHECKSUM;
	r = fix_parse(msg, buf, *frame_len);
	/* fix_parse stops before the sum on a BeginString other than FIX.4.4
	 * (framed all the same); fix_frame would have reported the sum first. */
	if ((r == FIX_E_BEGIN_STRING || r == FIX_E_BODY_LENGTH) &&
	    !checksum_ok(buf, *frame_len, want))
		return FIX_E_CHECKSUM;
	return r;
}

const struct fix_field *fix_msg_find(const struct fix_msg *msg, uint32_t tag)
{
	for (size_t i = 0; i < msg->nfields; i++) {
		if (msg->fields[i].tag == tag)
			return &msg->fields[i];
	}
	return NULL;
}

const char *fix_msg_get(const struct fix_msg *msg, uint32_t tag, size_t *len)
{
	const struct fix_field *f = fix_msg_find(msg, tag);
	if (!f)
		return NULL;
	if (len)
		*len = f->len;
	return msg->buf + f->off;
}

int fix_msg_get_u64(const struct fix_msg *msg, uint32_t tag, uint64_t *out)
{
	size_t n;
	const char *p = fix_msg_get(msg, tag, &n);
	if (!p || n == 0)
		return FIX_E_BAD_VALUE;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return FIX_E_BAD_VALUE;
		unsigned dg = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - dg) / 10)
			return FIX_E_BAD_VALUE;
		v = v * 10 + dg;
	}
	*out = v;
	return FIX_OK;
}

int fix_msg_is(const struct fix_msg *msg, const char *t)
{
	if (!msg->msg_type || !t)
		return 0;
	size_t n = strlen(t);
	return n == msg->msg_type_len && memcmp(msg->msg_type, t, n) == 0;
}

/* ------------------------------------------------------------------ time */

/* Days since 1970-01-01 of a proleptic Gregorian date, using 400-year eras
 * counted from March so that the leap day is the last day of a year. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	if (m <= 2)
		y--;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned mp = m > 2 ? m - 3 : m + 9;
	unsigned doy = (153 * mp + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static inline void put2(char *p, unsigned v)
{
	memcpy(p, digit_pairs + 2 * v, 2);
}

/* Writes exactly TIME_LEN bytes; ms must be within MIN/MAX_TIME_MS. */
static void put_time(char *p, int64_t ms)
{
	int64_t days = ms / MS_PER_DAY, r = ms % MS_PER_DAY;
	if (r < 0) {
		r += MS_PER_DAY;
		days--;
	}
	int64_t y;
	unsigned mo, d;
	civil_from_days(days, &y, &mo, &d);
	unsigned t = (unsigned)r;
	put2(p, (unsigned)(y / 100));
	put2(p + 2, (unsigned)(y % 100));
	put2(p + 4, mo);
	put2(p + 6, d);
	p[8] = '-';
	put2(p + 9, t / 3600000);
	p[11] = ':';
	put2(p + 12, t / 60000 % 60);
	p[14] = ':';
	put2(p + 15, t / 1000 % 60);
	p[17] = '.';
	p[18] = (char)('0' + t % 1000 / 100);
	put2(p + 19, t % 100);
}

void fix_format_time(int64_t ms, char out[22])
{
	if (ms < MIN_TIME_MS)
		ms = MIN_TIME_MS;
	if (ms > MAX_TIME_MS)
		ms = MAX_TIME_MS;
	put_time(out, ms);
	out[TIME_LEN] = '\0';
}

static int get_digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return 0;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 1;
}

static int is_leap(unsigned y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

int fix_parse_time(const char *s, size_t len, int64_t *ms)
{
	static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned y, mo, d, h, mi, sec, frac = 0;
	if (!s || !ms)
		return FIX_E_BAD_VALUE;
	if (len != 17 && len != 21 && len != 24 && len != 27)
		return FIX_E_BAD_VALUE;
	if (s[8] != '-' || s[11] != ':' || s[14] != ':' || (len > 17 && s[17] != '.'))
		return FIX_E_BAD_VALUE;
	if (!get_digits(s, 4, &y) || !get_digits(s + 4, 2, &mo) || !get_digits(s + 6, 2, &d) ||
	    !get_digits(s + 9, 2, &h) || !get_digits(s + 12, 2, &mi) ||
	    !get_digits(s + 15, 2, &sec))
		return FIX_E_BAD_VALUE;
	if (len > 17) {
		unsigned rest;
		if (!get_digits(s + 18, 3, &frac) || !get_digits(s + 21, len - 21, &rest))
			return FIX_E_BAD_VALUE;
	}
	if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60)
		return FIX_E_BAD_VALUE;
	if (d > mdays[mo - 1] + (unsigned)(mo == 2 && is_leap(y)))
		return FIX_E_BAD_VALUE;
	int64_t days = days_from_civil(y, mo, d);
	int64_t v = days * MS_PER_DAY + (int64_t)((h * 3600u + mi * 60u + sec) * 1000u + frac);
	if (v > MAX_TIME_MS) /* a leap second on 9999-12-31 */
		return FIX_E_BAD_VALUE;
	*ms = v;
	return FIX_OK;
}

/* --------------------------------------------------------------- encoder */

static const uint64_t pow10_tab[20] = {1u,
				       10u,
				       100u,
				       1000u,
				       10000u,
				       100000u,
				       1000000u,
				       10000000u,
				       100000000u,
				       1000000000u,
				       10000000000u,
				       100000000000u,
				       1000000000000u,
				       10000000000000u,
				       100000000000000u,
				       1000000000000000u,
				       10000000000000000u,
				       100000000000000000u,
				       1000000000000000000u,
				       10000000000000000000u};

static inline unsigned dec_len(uint64_t v)
{
	/* bits * log10(2) ~ bits * 1233 / 4096 is the digit count or one more. */
	uint64_t w = v | 1; /* same digit count, and 0 has one digit */
	unsigned bits = 64 - (unsigned)__builtin_clzll(w);
	unsigned t = bits * 1233 >> 12;
	return t + 1 - (w < pow10_tab[t]);
}

/* Write v as exactly n = dec_len(v) digits ending at p + n. */
static inline void put_dec(char *p, uint64_t v, unsigned n)
{
	char *e = p + n;
	while (v >= 100) {
		e -= 2;
		put2(e, (unsigned)(v % 100));
		v /= 100;
	}
	if (v >= 10) {
		e -= 2;
		put2(e, (unsigned)v);
	} else {
		*--e = (char)('0' + v);
	}
}

/* Reserve tag "=" vlen SOH; returns where the value goes, or NULL (status set). */
static inline char *enc_field(struct fix_enc *enc, uint32_t tag, size_t vlen)
{
	if (enc->status != FIX_OK)
		return NULL;
	if (tag == 0) {
		enc->status = FIX_E_BAD_VALUE;
		return NULL;
	}
	unsigned tl = dec_len(tag);
	size_t room = enc->cap - enc->pos;
	if (vlen > room || tl + 2 > room - vlen) {
		enc->status = FIX_E_BUFFER_FULL;
		return NULL;
	}
	char *p = enc->buf + enc->pos;
	put_dec(p, tag, tl);
	p[tl] = '=';
	p[tl + 1 + vlen] = FIX_SOH;
	enc->pos += tl + 2 + vlen;
	return p + tl + 1;
}

static void enc_u64(struct fix_enc *enc, uint32_t tag, uint64_t v)
{
	unsigned n = dec_len(v);
	char *p = enc_field(enc, tag, n);
	if (p)
		put_dec(p, v, n);
}

void fix_enc_str(struct fix_enc *enc, uint32_t tag, const char *val, size_t len)
{
	if (enc->status != FIX_OK)
		return;
	if (!val || len == 0 || memchr(val, FIX_SOH, len)) {
		enc->status = FIX_E_BAD_VALUE;
		return;
	}
	char *p = enc_field(enc, tag, len);
	if (p)
		memcpy(p, val, len);
}

void fix_enc_cstr(struct fix_enc *enc, uint32_t tag, const char *val)
{
	fix_enc_str(enc, tag, val, val ? strlen(val) : 0);
}

void fix_enc_int(struct fix_enc *enc, uint32_t tag, int64_t val)
{
	if (val >= 0) {
		enc_u64(enc, tag, (uint64_t)val);
		return;
	}
	uint64_t mag = (uint64_t)0 - (uint64_t)val; /* also right for INT64_MIN */
	unsigned n = dec_len(mag);
	char *p = enc_field(enc, tag, n + 1);
	if (p) {
		p[0] = '-';
		put_dec(p + 1, mag, n);
	}
}

void fix_enc_char(struct fix_enc *enc, uint32_t tag, char val)
{
	if (enc->status != FIX_OK)
		return;
	if (val == FIX_SOH || val == '\0') {
		enc->status = FIX_E_BAD_VALUE;
		return;
	}
	char *p = enc_field(enc, tag, 1);
	if (p)
		*p = val;
}

void fix_enc_time(struct fix_enc *enc, uint32_t tag, int64_t ms)
{
	if (enc->status != FIX_OK)
		return;
	if (ms < MIN_TIME_MS || ms > MAX_TIME_MS) {
		enc->status = FIX_E_BAD_VALUE;
		return;
	}
	char *p = enc_field(enc, tag, TIME_LEN);
	if (p)
		put_time(p, ms);
}

void fix_enc_begin(struct fix_enc *enc, char *buf, size_t cap, const char *msg_type,
		   const char *sender, const char *target, uint64_t seq_num,
		   int64_t sending_time_ms)
{
	enc->buf = buf;
	enc->cap = cap;
	enc->pos = 0;
	enc->status = FIX_OK;
	if (!buf || cap < FIX_ENC_HEADROOM) {
		enc->status = FIX_E_BUFFER_FULL;
		return;
	}
	enc->pos = FIX_ENC_HEADROOM;
	fix_enc_cstr(enc, 35, msg_type);
	fix_enc_cstr(enc, 49, sender);
	fix_enc_cstr(enc, 56, target);
	enc_u64(enc, 34, seq_num);
	fix_enc_time(enc, 52, sending_time_ms);
}

const char *fix_enc_finish(struct fix_enc *enc, size_t *len)
{
	if (len)
		*len = 0;
	if (enc->status != FIX_OK)
		return NULL;
	if (!enc->buf || enc->pos < FIX_ENC_HEADROOM || enc->pos > enc->cap) {
		enc->status = FIX_E_BAD_VALUE;
		return NULL;
	}
	if (enc->cap - enc->pos < TRAILER_LEN) {
		enc->status = FIX_E_BUFFER_FULL;
		return NULL;
	}
	size_t body = enc->pos - FIX_ENC_HEADROOM;
	unsigned dl = dec_len(body);
	size_t pre = BEGIN_FIELD_LEN + 2 + dl + 1; /* at most 33 only for bodies >= 1e19 */
	if (pre > FIX_ENC_HEADROOM) {
		enc->status = FIX_E_BUFFER_FULL;
		return NULL;
	}
	char *start = enc->buf + FIX_ENC_HEADROOM - pre;
	memcpy(start, BEGIN_FIELD, BEGIN_FIELD_LEN);
	start[BEGIN_FIELD_LEN] = '9';
	start[BEGIN_FIELD_LEN + 1] = '=';
	put_dec(start + BEGIN_FIELD_LEN + 2, body, dl);
	start[pre - 1] = FIX_SOH;

	char *p = enc->buf + enc->pos;
	unsigned sum = (unsigned)(sum_bytes(start, (size_t)(p - start)) & 0xff);
	p[0] = '1';
	p[1] = '0';
	p[2] = '=';
	p[3] = (char)('0' + sum / 100);
	put2(p + 4, sum % 100);
	p[6] = FIX_SOH;
	enc->pos += TRAILER_LEN;
	if (len)
		*len = enc->pos - (FIX_ENC_HEADROOM - pre);
	return start;
}
