/* libFuzzer target for the FIX codec (fix_codec.h): the input is a byte
 * stream drained frame by frame the way fix_session does it, parsed whole,
 * read as a UTCTimestamp, and finally used as a list of fields for an
 * encode -> frame -> parse round trip that must give the fields back.
 * Every inconsistency between framer, parser and encoder aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fix_codec.h"
#include "fuzz_check.h"

#define MAX_FIELDS 4096
#define SMALL_MAX_BODY 128
#define PREFIX_CHECK_MAX 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fix_field g_fields[MAX_FIELDS];

/* The index must describe the frame: ordered, inside it, not overlapping. */
static void check_index(const struct fix_msg *m, const char *buf, size_t len)
{
	CHECK(m->nfields <= m->cap);
	size_t prev_end = 0;
	for (size_t i = 0; i < m->nfields; i++) {
		const struct fix_field *f = &m->fields[i];
		CHECK(f->off <= len && f->len <= len - f->off);
		CHECK(f->off >= prev_end);
		CHECK(memchr(buf + f->off, FIX_SOH, f->len) == NULL);
		prev_end = (size_t)f->off + f->len;
		uint64_t v;
		(void)fix_msg_get_u64(m, f->tag, &v);
	}
	if (m->msg_type) {
		CHECK(m->msg_type >= buf && m->msg_type + m->msg_type_len <= buf + len);
		(void)fix_msg_is(m, "A");
	}
}

/* fix_parse on an exact-size heap copy, so any read past len is caught. */
static int parse_copy(const char *p, size_t n, struct fix_msg *m, char **copy)
{
	*copy = malloc(n ? n : 1);
	CHECK(*copy);
	memcpy(*copy, p, n);
	fix_msg_init(m, g_fields, MAX_FIELDS);
	int r = fix_parse(m, *copy, n);
	check_index(m, *copy, n);
	return r;
}

static void drain(const char *buf, size_t len, size_t max_body)
{
	size_t off = 0;
	while (off < len) {
		size_t fl = 99;
		int r = fix_frame(buf + off, len - off, max_body, &fl);
		{
			/* the one-pass decode frames exactly like fix_frame */
			struct fix_msg dm;
			size_t dfl = 77;
			fix_msg_init(&dm, g_fields, MAX_FIELDS);
			int dr = fix_frame_parse(&dm, buf + off, len - off, max_body, &dfl);
			CHECK(dfl == fl);
			CHECK(r == FIX_OK ? dr != FIX_E_CHECKSUM && dr != FIX_E_NEED_MORE
					  : dr == r);
		}
		if (r == FIX_E_NEED_MORE) {
			CHECK(fl == 0);
			return;
		}
		CHECK(fl >= 1 && fl <= len - off);
		if (r < 0 && r != FIX_E_CHECKSUM) {
			/* Garbage is skipped up to the next possible frame start. */
			size_t rest = len - off - fl, k = rest < 5 ? rest : 5;
			CHECK(memcmp(buf + off + fl, "8=FIX", k) == 0);
		}
		if (r == FIX_OK) {
			/* A good frame's prefixes are incomplete, never bad. */
			if (fl <= PREFIX_CHECK_MAX) {
				for (size_t k = 0; k < fl; k++) {
					size_t pl = 99;
					CHECK(fix_frame(buf + off, k, max_body, &pl) ==
					      FIX_E_NEED_MORE);
				}
			}
			struct fix_msg m;
			char *copy;
			int pr = parse_copy(buf + off, fl, &m, &copy);
			CHECK(pr != FIX_E_BODY_LENGTH && pr != FIX_E_CHECKSUM &&
			      pr != FIX_E_NEED_MORE);
			if (fl > 10 && memcmp(copy, "8=FIX.4.4\x01", 10) == 0)
				CHECK(pr != FIX_E_BEGIN_STRING);
			if (pr == FIX_OK) {
				CHECK(m.nfields >= 7 && m.msg_type && m.msg_type_len > 0);
				CHECK(fix_msg_find(&m, 49) && fix_msg_find(&m, 56) &&
				      fix_msg_find(&m, 52));
			}
			free(copy);
		}
		off += fl;
	}
}

static void time_checks(const char *buf, size_t len)
{
	int64_t ms, back;
	char out[22];
	if (fix_parse_time(buf, len, &ms) == FIX_OK) {
		fix_format_time(ms, out);
		CHECK(strlen(out) == 21);
		CHECK(fix_parse_time(out, 21, &back) == FIX_OK && back == ms);
	}
	if (len >= 8) {
		memcpy(&ms, buf, 8);
		fix_format_time(ms, out);
		CHECK(fix_parse_time(out, 21, &back) == FIX_OK);
		if (ms >= INT64_C(-62167219200000) && ms <= INT64_C(253402300799999))
			CHECK(back == ms);
	}
}

struct in_field {
	uint32_t tag;
	const char *val;
	size_t len;
};

/* Input as [tag:2][len:1][value] records; first record's value is the
 * MsgType. Encoding must succeed exactly when every value is encodable, and
 * framing/parsing the result must return every field unchanged. */
static void round_trip(const uint8_t *d, size_t n)
{
	static struct in_field in[MAX_FIELDS];
	static char enc_buf[1 << 17];
	size_t nin = 0, i = 0;
	if (n < 9 || n > 60000)
		return;
	uint64_t seq;
	int64_t t;
	memcpy(&seq, d, 8);
	seq >>= 8 + (d[8] & 31); /* small numbers too */
	t = (int64_t)(seq % INT64_C(253402300799999));
	i = 9;
	while (i + 3 <= n && nin < MAX_FIELDS - 16) {
		uint32_t tag = (uint32_t)d[i] | (uint32_t)d[i + 1] << 8;
		size_t vl = d[i + 2];
		i += 3;
		if (vl > n - i)
			vl = n - i;
		in[nin++] = (struct in_field){tag, (const char *)d + i, vl};
		i += vl;
	}
	if (nin == 0)
		return;
	const char *type = in[0].val;
	size_t tl = in[0].len;
	if (memchr(type, '\0', tl))
		return; /* would be cut by strlen: not a round trip */
	char type_z[256];
	memcpy(type_z, type, tl);
	type_z[tl] = '\0';

	struct fix_enc enc;
	fix_enc_begin(&enc, enc_buf, sizeof(enc_buf), type_z, "SENDER", "TARGET", seq, t);
	int encodable = tl > 0 && !memchr(type, FIX_SOH, tl);
	int framing_tag = 0;
	for (size_t k = 1; k < nin; k++) {
		fix_enc_str(&enc, in[k].tag, in[k].val, in[k].len);
		if (in[k].tag == 0 || in[k].len == 0 || memchr(in[k].val, FIX_SOH, in[k].len))
			encodable = 0;
		if (in[k].tag == 8 || in[k].tag == 9 || in[k].tag == 10)
			framing_tag = 1;
	}
	size_t fl;
	const char *f = fix_enc_finish(&enc, &fl);
	if (!encodable) {
		CHECK(f == NULL && enc.status == FIX_E_BAD_VALUE);
		return;
	}
	CHECK(f != NULL && enc.status == FIX_OK);
	size_t got = 0;
	CHECK(fix_frame(f, fl, SIZE_MAX / 4, &got) == FIX_OK && got == fl);

	struct fix_msg m;
	char *copy;
	int pr = parse_copy(f, fl, &m, &copy);
	if (framing_tag) {
		CHECK(pr == FIX_E_FIELD_ORDER);
		free(copy);
		return;
	}
	CHECK(pr == FIX_OK);
	CHECK(m.seq_num == seq);
	CHECK(m.nfields == nin + 7); /* 8 9 35 49 56 34 52 ... 10 */
	CHECK(m.msg_type_len == tl && memcmp(m.msg_type, type, tl) == 0);
	int64_t pt;
	size_t l52;
	const char *v52 = fix_msg_get(&m, 52, &l52);
	CHECK(v52 && fix_parse_time(v52, l52, &pt) == FIX_OK && pt == t);
	for (size_t k = 1; k < nin; k++) {
		const struct fix_field *ff = &m.fields[6 + k];
		CHECK(ff->tag == in[k].tag && ff->len == in[k].len);
		CHECK(memcmp(copy + ff->off, in[k].val, in[k].len) == 0);
	}
	CHECK(m.fields[m.nfields - 1].tag == 10);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	drain(buf, size, 0);
	drain(buf, size, SMALL_MAX_BODY);

	struct fix_msg m;
	char *copy;
	(void)parse_copy(buf, size, &m, &copy);
	free(copy);

	time_checks(buf, size);
	round_trip(data, size);
	return 0;
}
