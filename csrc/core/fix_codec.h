/* FIX 4.4 tag=value codec: an encoder that writes into a caller-owned buffer
 * and a zero-copy decoder (framer + field index). No heap allocation on
 * either path; nothing here knows about sessions, sockets or clocks. */
#ifndef BT_FIX_CODEC_H
#define BT_FIX_CODEC_H

#include "defaults.h"

#include <stddef.h>
#include <stdint.h>

#define FIX_SOH '\x01'
#define FIX_BEGIN_STRING "FIX.4.4"
#define FIX_DEFAULT_MAX_BODY BT_DEFAULT_MAX_BODY

/* Error codes shared by framer, parser and encoder. 0 is success. */
enum fix_status {
	FIX_OK = 0,
	FIX_E_NEED_MORE = 1,        /* framer: incomplete frame, keep the bytes */
	FIX_E_BEGIN_STRING = -1,    /* first field is not 8=FIX.4.4 */
	FIX_E_BODY_LENGTH = -2,     /* 9 missing, not a number, or 10= not where it says */
	FIX_E_BODY_TOO_LARGE = -3,  /* declared BodyLength above the configured maximum */
	FIX_E_CHECKSUM = -4,        /* 10 malformed or not the sum of the bytes */
	FIX_E_TAG_SYNTAX = -5,      /* tag not digits, leading zero, or no '=' */
	FIX_E_EMPTY_VALUE = -6,     /* tag= with nothing before SOH */
	FIX_E_MISSING_HEADER = -7,  /* 35, 49, 56, 34 or 52 missing / 35 not third */
	FIX_E_TOO_MANY_FIELDS = -8, /* more fields than the index can hold */
	FIX_E_BUFFER_FULL = -9,     /* encoder: caller's buffer too small */
	FIX_E_BAD_VALUE = -10,      /* encoder: value empty, contains SOH, or bad argument;
				     * parser: 34 not a number; time out of range */
	FIX_E_FIELD_ORDER = -11,    /* 8, 9 or 10 repeated inside the body */
};

/* Short, stable, human-readable name of a status ("checksum mismatch"). */
const char *fix_strerror(int status);

/* ---------------------------------------------------------------- framer */

/* Find the first frame at the start of buf[0..len).
 * FIX_OK: a whole frame of *frame_len bytes starts at buf (not yet validated
 *   beyond 8/9/10 framing; call fix_parse on it).
 * FIX_E_NEED_MORE: keep the bytes and call again with more; *frame_len = 0.
 *   Never returned once the prefix already proves the frame bad.
 * < 0: the bytes at buf are not a good frame; discard *frame_len bytes
 *   (always >= 1, always <= len) to resynchronise on the next "8=FIX".
 *   A declared BodyLength above max_body fails as soon as 9= is read,
 *   before the body arrives. max_body 0 means FIX_DEFAULT_MAX_BODY.
 * Any "8=FIX..." BeginString (at most 16 bytes) is framed, so that fix_parse
 * can report a wrong version; the checksum is verified here already (a bad
 * one gives FIX_E_CHECKSUM with *frame_len = the whole frame). */
int fix_frame(const char *buf, size_t len, size_t max_body, size_t *frame_len);

/* ----------------------------------------------------------------- parser */

struct fix_field {
	uint32_t tag;
	uint32_t off; /* value offset from the frame start */
	uint32_t len; /* value length */
};

struct fix_msg {
	const char *buf; /* the frame; not owned, must outlive the msg */
	size_t len;
	struct fix_field *fields; /* caller-owned index storage, wire order */
	size_t cap;
	size_t nfields; /* includes 8, 9 and 10 */
	/* Header values cached by fix_parse (pointers into buf). */
	const char *msg_type;
	size_t msg_type_len;
	uint64_t seq_num; /* 34 */
	int poss_dup;     /* 43=Y */
};

/* Point msg at caller-owned field storage (cap entries). */
void fix_msg_init(struct fix_msg *msg, struct fix_field *fields, size_t cap);

/* Validate one whole frame (as delimited by fix_frame) and build the index:
 * BeginString, BodyLength, CheckSum, tag syntax, empty values, required
 * header fields 35 (third), 49, 56, 34, 52. Reads only buf[0..len).
 * On an error found while indexing, msg keeps what was indexed so far
 * (nfields, msg_type, seq_num if reached), enough for a Reject's 45/372. */
int fix_parse(struct fix_msg *msg, const char *buf, size_t len);

/* fix_parse for a frame under any BeginString the framer takes ("FIXT.1.1",
 * "FIX.4.2"): the same checks and index, field 0 holds the version. For a
 * session that accepts more than FIX.4.4, and for decoding what it
 * delivered; which versions are acceptable is the caller's decision. */
int fix_parse_any_version(struct fix_msg *msg, const char *buf, size_t len);

/* fix_frame and fix_parse in one pass over the bytes (the checksum summed
 * once, by the same loads that find the SOHs): the same status and
 * *frame_len as fix_frame on buf[0..len); when that is FIX_OK, the status and
 * msg of fix_parse on the frame. */
int fix_frame_parse(struct fix_msg *msg, const char *buf, size_t len, size_t max_body,
		    size_t *frame_len);

/* First field with this tag, or NULL. */
const struct fix_field *fix_msg_find(const struct fix_msg *msg, uint32_t tag);

/* Value of the first field with this tag: pointer into the frame (not NUL
 * terminated) and its length; NULL if absent. */
const char *fix_msg_get(const struct fix_msg *msg, uint32_t tag, size_t *len);

/* Unsigned integer value; FIX_OK, or FIX_E_BAD_VALUE if absent/not digits. */
int fix_msg_get_u64(const struct fix_msg *msg, uint32_t tag, uint64_t *out);

/* 1 if msg_type equals the NUL-terminated string t. */
int fix_msg_is(const struct fix_msg *msg, const char *t);

/* ---------------------------------------------------------------- encoder */

/* Room kept in front of the body for "8=FIX.4.4|9=NNNN|". */
#define FIX_ENC_HEADROOM 32

struct fix_enc {
	char *buf;
	size_t cap;
	size_t pos; /* write position */
	int status; /* first error, sticky; FIX_OK while all fits */
};

/* Start a message in buf (cap bytes, caller-owned): writes 35, 49, 56, 34
 * and 52 (sending_time_ms = milliseconds since the Unix epoch, UTC, printed
 * as YYYYMMDD-HH:MM:SS.sss). Further header fields (43, 122, ...) and body
 * fields follow in the order the caller adds them. Empty values, values with
 * SOH and tag 0 are refused (FIX_E_BAD_VALUE, sticky like FIX_E_BUFFER_FULL). */
void fix_enc_begin(struct fix_enc *enc, char *buf, size_t cap, const char *msg_type,
		   const char *sender, const char *target, uint64_t seq_num,
		   int64_t sending_time_ms);

/* Append tag=value: len bytes, a NUL-terminated string, a signed decimal,
 * one character. No-ops once enc->status is an error. */
void fix_enc_str(struct fix_enc *enc, uint32_t tag, const char *val, size_t len);
void fix_enc_cstr(struct fix_enc *enc, uint32_t tag, const char *val);
void fix_enc_int(struct fix_enc *enc, uint32_t tag, int64_t val);
void fix_enc_char(struct fix_enc *enc, uint32_t tag, char val);
/* UTCTimestamp; ms outside years 0000..9999 gives FIX_E_BAD_VALUE. */
void fix_enc_time(struct fix_enc *enc, uint32_t tag, int64_t ms);

/* Write 8 and 9 in front of the body (no memmove: they are placed in the
 * headroom right before it) and append 10. Returns the start of the frame
 * inside buf and sets *len, or NULL with enc->status set if anything failed.
 * Call it once per fix_enc_begin. */
const char *fix_enc_finish(struct fix_enc *enc, size_t *len);

/* Format ms since the epoch as YYYYMMDD-HH:MM:SS.sss (21 chars + NUL).
 * Values outside years 0000..9999 are clamped to that range. */
void fix_format_time(int64_t ms, char out[22]);

/* Parse a UTCTimestamp with or without milliseconds into ms since the epoch
 * (6 or 9 fraction digits are accepted and truncated to ms; second 60 is a
 * leap second). Returns FIX_OK or FIX_E_BAD_VALUE. */
int fix_parse_time(const char *s, size_t len, int64_t *ms);

#endif
