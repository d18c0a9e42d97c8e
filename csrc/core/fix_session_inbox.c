/* Inbound bytes: reassembly into frames, the field pool the parsed frames
 * are indexed in, and the event queue. An event pins the frame and fields
 * behind it, so the buffer and the pool are only compacted (and only grown)
 * when every event has been polled. */
#include "fix_session_int.h"

#include <stdlib.h>

/* --------------------------------------------------------------- events */

static size_t ev_free(const struct fix_session *s)
{
	return s->ev_cap - s->ev_n;
}

struct fix_event *fs_push_event(struct fix_session *s, enum fix_event_type type,
				const struct fix_msg *m)
{
	if (s->ev_n == s->ev_cap)
		return NULL; /* cannot happen: frames stop at EV_RESERVE */
	struct ev_slot *slot = &s->ev[s->ev_n++];
	memset(&slot->ev, 0, sizeof(slot->ev));
	slot->ev.type = type;
	if (m) {
		slot->msg = *m;
		slot->ev.msg = &slot->msg;
	}
	return &slot->ev;
}

int fix_session_poll_event(struct fix_session *s, struct fix_event *ev)
{
	if (s->ev_head == s->ev_n) {
		memset(ev, 0, sizeof(*ev));
		return 0;
	}
	*ev = s->ev[s->ev_head++].ev;
	return 1;
}

/* A frame the codec refused starts with "8=" and a complete version-like
 * value ("FIX.4.2", "FIXT.1.1") other than FIX.4.4: the peer speaks another
 * version, which is fatal whatever else is wrong; line noise is not. */
static int wrong_begin_string(const char *p, size_t n, struct fix_sv *got)
{
	if (n < 6 || memcmp(p, "8=FIX", 5) != 0)
		return 0;
	size_t i = 2;
	while (i < n && i < 2 + 16 && p[i] != FIX_SOH) {
		char c = p[i];
		/* the framer's version characters: letters of either case too,
		 * or a listed "FIXt.1.1" would be line noise here */
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      c == '.'))
			return 0;
		i++;
	}
	if (i >= n || p[i] != FIX_SOH)
		return 0;
	got->ptr = p + 2;
	got->len = i - 2;
	return !sv_eq(got->ptr, got->len, FIX_BEGIN_STRING);
}

/* got is one of cfg.begin_strings (taken on application messages). */
static int begin_string_listed(const struct fix_session *s, const struct fix_sv *got)
{
	const char *b = s->begin_strings;
	while (*b) {
		size_t n = strcspn(b, " ");
		if (n == got->len && memcmp(b, got->ptr, n) == 0)
			return 1;
		b += n;
		b += strspn(b, " ");
	}
	return 0;
}

/* Doubles the field pool; only while no event pins its entries. */
static int grow_pool(struct fix_session *s)
{
	size_t cap = s->pool_cap * 2 > POOL_MAX ? POOL_MAX : s->pool_cap * 2;
	struct fix_field *p = realloc(s->pool, cap * sizeof *p);
	if (!p)
		return -1;
	s->pool = p;
	s->pool_cap = cap;
	return 0;
}

/* Doubles the event queue; only while no event is queued, since a polled
 * event's msg points into its slot until the next feed or tick. */
static void grow_events(struct fix_session *s)
{
	size_t cap =
	    s->ev_cap * 2 > FIX_SESSION_MAX_EVENTS ? FIX_SESSION_MAX_EVENTS : s->ev_cap * 2;
	struct ev_slot *p = realloc(s->ev, cap * sizeof *p);
	if (!p)
		return; /* not an error: the session goes on at its present size */
	s->ev = p;
	s->ev_cap = cap;
}

/* Doubles the input buffer; only while no event points into it. A new block
 * and a wipe of the old one, since realloc could leave a 554 behind. */
static int grow_in(struct fix_session *s)
{
	size_t cap = s->in_cap * 2 > s->in_max ? s->in_max : s->in_cap * 2;
	char *p = malloc(cap);
	if (!p)
		return -1;
	memcpy(p, s->in, s->in_len);
	wipe(s->in, s->in_hw);
	free(s->in);
	s->in = p;
	s->in_cap = cap;
	s->in_hw = s->in_len;
	return 0;
}

enum input_status fs_process_input(struct fix_session *s, int64_t now)
{
	while (s->in_pos < s->in_len) {
		if (s->st != FIX_ST_LOGON_SENT && s->st != FIX_ST_AWAIT_LOGON &&
		    s->st != FIX_ST_ACTIVE && s->st != FIX_ST_LOGOUT_SENT)
			return s->st == FIX_ST_CLOSED ? IN_IDLE : IN_HELD;
		if (ev_free(s) < EV_RESERVE) {
			s->ev_short = s->ev_cap < FIX_SESSION_MAX_EVENTS;
			return IN_BLOCKED;
		}
		const char *p = s->in + s->in_pos;
		size_t avail = s->in_len - s->in_pos, flen = 0;
		size_t room = s->pool_cap - s->pool_used;
		size_t cap = room < FIX_SESSION_MAX_FIELDS ? room : FIX_SESSION_MAX_FIELDS;
		fix_msg_init(&s->cur, s->pool + s->pool_used, cap);
		/* One pass frames, checks the sum and indexes: a frame's bytes are
		 * read once (fix_frame then fix_parse summed them twice). */
		int r = fix_frame_parse(&s->cur, p, avail, s->max_body, &flen);
		if (r == FIX_E_NEED_MORE)
			return IN_IDLE;
		struct fix_sv got;
		int other_version = 0; /* parsed under one of cfg.begin_strings */
		if (r == FIX_E_BEGIN_STRING && flen && s->begin_strings[0] &&
		    wrong_begin_string(p, flen, &got) && begin_string_listed(s, &got)) {
			r = fix_parse_any_version(&s->cur, p, flen);
			other_version = 1;
		}
		if (r == FIX_E_TOO_MANY_FIELDS) { /* a whole frame, summed right */
			if (cap < FIX_SESSION_MAX_FIELDS) {
				if (s->pool_used > 0 || s->pool_cap >= POOL_MAX) {
					s->pool_short = 1;
					return IN_BLOCKED;
				}
				/* nothing pinned: the pool may move */
				if (grow_pool(s) < 0) {
					fs_close(s, "nomem", 0,
						 "out of memory for the field index");
					return IN_IDLE;
				}
				continue;
			}
			s->in_pos += flen;
			fs_fail(s, now, "protocol", "too many fields",
				"a message with more than %d fields arrived",
				FIX_SESSION_MAX_FIELDS);
			return IN_IDLE;
		}
		if (r != FIX_OK && wrong_begin_string(p, avail, &got) &&
		    !begin_string_listed(s, &got)) {
			fs_trace(s, FIX_TRACE_GARBLED, p, flen ? flen : avail);
			s->in_pos = s->in_len;
			fs_fail(s, now, "protocol", "wrong BeginString, expected FIX.4.4",
				"wrong BeginString %.*s, expected " FIX_BEGIN_STRING, clip(&got),
				got.ptr);
			return IN_IDLE;
		}
		/* A listed BeginString is for application messages only. */
		if (r == FIX_OK && other_version && s->cur.msg_type_len == 1 &&
		    s->cur.msg_type[0] && strchr("012345A", s->cur.msg_type[0])) {
			fs_trace(s, FIX_TRACE_GARBLED, p, flen);
			s->in_pos = s->in_len;
			fs_fail(s, now, "protocol", "wrong BeginString, expected FIX.4.4",
				"wrong BeginString %.*s on a session message (35=%.*s), "
				"expected " FIX_BEGIN_STRING,
				(int)s->cur.fields[0].len, p + 2, (int)s->cur.msg_type_len,
				s->cur.msg_type);
			return IN_IDLE;
		}
		if (flen == 0 || flen > avail)
			flen = avail; /* defensive: never stall on a broken framer answer */
		if (r != FIX_OK) {
			/* Garbled: dropped, no sequence number consumed. */
			fs_trace(s, FIX_TRACE_GARBLED, p, flen);
			s->in_pos += flen;
			continue;
		}
		s->in_pos += flen;
		fs_trace(s, FIX_TRACE_IN, p, flen);
		if (fs_handle_msg(s, &s->cur, now))
			s->pool_used += s->cur.nfields;
	}
	return IN_IDLE;
}

/* Reclaim the processed bytes and the event queue once all events are out. */
void fs_compact(struct fix_session *s)
{
	if (s->ev_head != s->ev_n)
		return;
	s->ev_head = s->ev_n = 0;
	s->pool_used = 0;
	/* Growth failures here are not errors: the session just keeps going at
	 * its present size. */
	if (s->pool_short && s->pool_cap < POOL_MAX)
		grow_pool(s);
	s->pool_short = 0;
	if (s->ev_short)
		grow_events(s);
	s->ev_short = 0;
	if (s->in_pos) {
		size_t rest = s->in_len - s->in_pos;
		memmove(s->in, s->in + s->in_pos, rest);
		/* Processed frames may have carried a 554: do not leave copies. */
		wipe(s->in + rest, s->in_pos);
		s->in_len = rest;
		s->in_pos = 0;
	}
}

/* Only whole frames that were processed (or a trailing partial frame) are
 * taken: bytes left unprocessed because the event queue is full are handed
 * back, so nothing waits inside the session for a feed that may never come. */
size_t fix_session_feed(struct fix_session *s, const char *bytes, size_t n, int64_t now_ms)
{
	size_t taken = 0;
	for (;;) {
		if (s->st == FIX_ST_CLOSED)
			return n;
		fs_compact(s);
		if (s->in_short && s->in_cap < s->in_max && s->ev_head == s->ev_n)
			grow_in(s);
		s->in_short = 0;
		if (s->in_len == s->in_cap && s->in_pos == 0 && s->ev_head == s->ev_n &&
		    s->in_cap < s->in_max && taken < n && grow_in(s) < 0) {
			/* one frame does not fit what we have */
			fs_close(s, "nomem", 0, "out of memory for a %zu-byte frame", s->in_len);
			return n;
		}
		size_t k = s->in_cap - s->in_len;
		if (k > n - taken)
			k = n - taken;
		memcpy(s->in + s->in_len, bytes + taken, k);
		s->in_len += k;
		if (s->in_len > s->in_hw)
			s->in_hw = s->in_len;
		taken += k;
		enum input_status r = fs_process_input(s, now_ms);
		if (s->st == FIX_ST_CLOSED)
			return n;
		if (r == IN_BLOCKED) {
			size_t back = s->in_len - s->in_pos;
			if (back > k)
				back = k;
			s->in_len -= back;
			taken -= back;
			return taken;
		}
		if (taken == n)
			return taken;
		if (s->in_len < s->in_cap)
			continue;
		if (s->ev_head != s->ev_n) {
			s->in_short = 1;
			return taken; /* compaction waits for the driver to poll */
		}
		if (r == IN_HELD && s->in_pos == 0 && s->in_cap >= s->in_max) {
			fs_close(s, "protocol", 0,
				 "%s sent %zu bytes without waiting for the Logon reply",
				 peer_name(s), s->in_len);
			return n;
		}
	}
}
