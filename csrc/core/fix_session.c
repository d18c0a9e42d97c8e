/* FIX session lifecycle (see fix_session.h for the contract and
 * fix_session_int.h for the map of the other files): creating and freeing a
 * session, the API calls that move its state (start, accept, refuse, logout,
 * disconnected), the way into CLOSED, and the accessors. */
#include "fix_session_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void fs_close(struct fix_session *s, const char *code, int by_peer, const char *fmt, ...)
{
	if (s->st == FIX_ST_CLOSED)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
	s->st = FIX_ST_CLOSED;
	struct fix_event *ev = fs_push_event(s, FIX_EV_CLOSED, NULL);
	if (ev) {
		ev->closed.code = code;
		ev->closed.reason = s->reason;
		ev->closed.by_peer = by_peer;
		ev->closed.cause = s->close_cause;
	}
}

void fs_fail(struct fix_session *s, int64_t now, const char *code, const char *logout_text,
	     const char *fmt, ...)
{
	if (s->st == FIX_ST_CLOSED)
		return;
	if (!quiet(s) && logout_text)
		fs_send_logout(s, logout_text, now);
	va_list ap;
	va_start(ap, fmt);
	char buf[FIX_SESSION_REASON_MAX];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fs_close(s, code, 0, "%s", buf);
}

void fix_session_cfg_init(struct fix_session_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->role = FIX_INITIATOR;
	cfg->heartbeat_s = BT_DEFAULT_HEARTBEAT_S;
	cfg->logon_timeout_ms = BT_DEFAULT_LOGON_TIMEOUT_MS;
	cfg->logout_timeout_ms = BT_DEFAULT_LOGOUT_TIMEOUT_MS;
	cfg->max_body = BT_DEFAULT_MAX_BODY;
	cfg->sending_time_tolerance_ms = BT_DEFAULT_SENDING_TIME_TOLERANCE_MS;
}

static int comp_id_ok(const char *id)
{
	if (!id)
		return 0;
	size_t n = strlen(id);
	return n > 0 && n <= FIX_SESSION_MAX_COMP_ID && !memchr(id, FIX_SOH, n);
}

/* Space-separated "FIX..." values of at most 16 version characters each,
 * the shape the framer takes; anything else could never match. */
static int begin_strings_ok(const char *b)
{
	size_t n = strlen(b), run = 0;
	if (n > FIX_SESSION_MAX_BEGIN_STRINGS)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		char c = b[i];
		if (c == ' ' || c == '\0') {
			if (run > 0 && (run < 3 || run > 16 || memcmp(b + i - run, "FIX", 3) != 0))
				return 0;
			run = 0;
		} else if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
			   (c >= 'a' && c <= 'z') || c == '.') {
			run++;
		} else {
			return 0;
		}
	}
	return 1;
}

struct fix_session *fix_session_new(const struct fix_session_cfg *cfg)
{
	if (!cfg || !comp_id_ok(cfg->sender_comp_id) || cfg->heartbeat_s < 0 ||
	    cfg->heartbeat_s > 86400)
		return NULL;
	if (cfg->target_comp_id ? !comp_id_ok(cfg->target_comp_id) : cfg->role == FIX_INITIATOR)
		return NULL;
	if (cfg->role != FIX_INITIATOR && cfg->role != FIX_ACCEPTOR)
		return NULL;
	if (cfg->store && !cfg->store->ops)
		return NULL;
	if (cfg->begin_strings && !begin_strings_ok(cfg->begin_strings))
		return NULL;
	struct fix_session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->role = cfg->role;
	s->st = FIX_ST_IDLE;
	strcpy(s->sender, cfg->sender_comp_id);
	if (cfg->target_comp_id) {
		strcpy(s->target, cfg->target_comp_id);
		s->target_fixed = 1;
	}
	s->hb_s = cfg->heartbeat_s;
	s->logon_to = cfg->logon_timeout_ms > 0 ? cfg->logon_timeout_ms : 10000;
	s->logout_to = cfg->logout_timeout_ms > 0 ? cfg->logout_timeout_ms : 10000;
	s->tolerance = cfg->sending_time_tolerance_ms > 0 ? cfg->sending_time_tolerance_ms : 120000;
	s->reset_on_logon = cfg->reset_on_logon;
	s->comp_id_session_only = cfg->comp_id_session_only;
	s->logon_seq_adopt = cfg->logon_seq_adopt;
	if (cfg->begin_strings)
		strcpy(s->begin_strings, cfg->begin_strings);
	s->username = cfg->username;
	s->password = cfg->password;
	s->max_body = cfg->max_body ? cfg->max_body : FIX_DEFAULT_MAX_BODY;
	if (s->max_body > UINT32_MAX / 2)
		s->max_body = UINT32_MAX / 2;
	s->store = cfg->store;
	s->trace = cfg->trace;
	s->trace_ud = cfg->trace_ud;
	s->validate = cfg->validate;
	s->validate_ud = cfg->validate_ud;
	s->next_out = s->store && s->store->next_out ? s->store->next_out : 1;
	s->next_in = s->store && s->store->next_in ? s->store->next_in : 1;

	s->in_max = s->max_body + IN_SLACK;
	s->in_cap = s->in_max < IN_INITIAL ? s->in_max : IN_INITIAL;
	s->pool_cap = POOL_INITIAL;
	s->out_cap = OUT_INITIAL;
	s->in = malloc(s->in_cap);
	s->pool = malloc(s->pool_cap * sizeof(*s->pool));
	s->out = malloc(s->out_cap);
	if (s->trace) {
		s->trace_cap = s->in_max + TRACE_SLACK;
		s->trace_buf = malloc(s->trace_cap);
	}
	if (!s->in || !s->pool || !s->out || (s->trace && !s->trace_buf)) {
		fix_session_free(s);
		return NULL;
	}
	return s;
}

void fix_session_free(struct fix_session *s)
{
	if (!s)
		return;
	if (s->out)
		wipe(s->out, s->out_cap);
	if (s->in)
		wipe(s->in, s->in_hw); /* may hold an inbound 554; beyond, never written */
	free(s->in);
	free(s->pool);
	free(s->out);
	free(s->trace_buf);
	free(s);
}

int fix_session_start(struct fix_session *s, int64_t now_ms)
{
	if (s->st != FIX_ST_IDLE)
		return FIX_SESSION_E_STATE;
	s->last_sent = s->last_recv = now_ms;
	s->logon_deadline = add_ms(now_ms, s->logon_to);
	if (s->role == FIX_ACCEPTOR) {
		s->st = FIX_ST_AWAIT_LOGON;
		fs_process_input(s, now_ms);
		return 0;
	}
	if (s->reset_on_logon) {
		if (s->store && s->store->ops->reset && s->store->ops->reset(s->store->ctx) != 0) {
			fs_close(s, "store", 0, "sequence store failed to reset");
			return FIX_SESSION_E_STORE;
		}
		s->next_out = s->next_in = 1;
		s->reset_done = 1;
	}
	s->st = FIX_ST_LOGON_SENT;
	int r = fs_send_logon(s, now_ms);
	s->username = s->password = NULL;
	if (r) {
		if (s->st != FIX_ST_CLOSED)
			fs_close(s, "protocol", 0, "could not encode the Logon: %s",
				 fix_session_strerror(r));
		return r;
	}
	fs_process_input(s, now_ms);
	return 0;
}

void fix_session_disconnected(struct fix_session *s, int64_t now_ms)
{
	switch (s->st) {
	case FIX_ST_CLOSED:
		return;
	case FIX_ST_LOGOUT_SENT:
		fs_close(s, "logged_out", 0, "logged out (connection closed by the %s)",
			 peer_name(s));
		return;
	case FIX_ST_LOGON_SENT:
		fs_close(s, "disconnected", 0, "connection closed before the Logon reply");
		return;
	case FIX_ST_AWAIT_LOGON:
	case FIX_ST_LOGON_RECEIVED:
		fs_close(s, "disconnected", 0, "connection closed before the Logon completed");
		return;
	default:
		fs_close(s, "disconnected", 0, "connection lost");
	}
}

enum fix_session_state fix_session_state(const struct fix_session *s)
{
	return s->st;
}

const char *fix_session_state_name(enum fix_session_state st)
{
	switch (st) {
	case FIX_ST_IDLE:
		return "idle";
	case FIX_ST_LOGON_SENT:
		return "logon_sent";
	case FIX_ST_AWAIT_LOGON:
		return "await_logon";
	case FIX_ST_LOGON_RECEIVED:
		return "logon_received";
	case FIX_ST_ACTIVE:
		return "active";
	case FIX_ST_LOGOUT_SENT:
		return "logout_sent";
	case FIX_ST_CLOSED:
		return "closed";
	}
	return "?";
}

int fix_session_logout(struct fix_session *s, const char *text, int64_t now_ms)
{
	if (text && *text && !cstr_ok(text))
		return FIX_SESSION_E_ARG;
	switch (s->st) {
	case FIX_ST_ACTIVE:
		break;
	case FIX_ST_IDLE:
	case FIX_ST_LOGON_SENT:
	case FIX_ST_AWAIT_LOGON:
	case FIX_ST_LOGON_RECEIVED:
		fs_close(s, "logged_out", 0, "logged out before the logon completed");
		return 0;
	default:
		return FIX_SESSION_E_STATE;
	}
	fs_send_logout(s, text, now_ms);
	if (s->st == FIX_ST_CLOSED)
		return FIX_SESSION_E_STORE;
	s->st = FIX_ST_LOGOUT_SENT;
	s->logout_deadline = add_ms(now_ms, s->logout_to);
	return 0;
}

int fix_session_accept(struct fix_session *s, int64_t now_ms)
{
	if (s->role != FIX_ACCEPTOR || s->st != FIX_ST_LOGON_RECEIVED)
		return FIX_SESSION_E_STATE;
	if (s->reset_done) {
		if (s->store && s->store->ops->reset && s->store->ops->reset(s->store->ctx) != 0) {
			fs_close(s, "store", 0, "sequence store failed to reset");
			return FIX_SESSION_E_STORE;
		}
		s->next_out = s->next_in = 1;
	}
	int r = fs_send_logon(s, now_ms);
	if (r) {
		if (s->st != FIX_ST_CLOSED)
			fs_close(s, "protocol", 0, "could not encode the Logon reply: %s",
				 fix_session_strerror(r));
		return r;
	}
	s->st = FIX_ST_ACTIVE;
	struct fix_event *ev = fs_push_event(s, FIX_EV_LOGON, NULL);
	if (ev) {
		ev->logon.heartbeat_s = s->hb_s;
		ev->logon.reset = s->reset_done;
	}
	if (s->logon_seq == s->next_in) {
		if (fs_advance_in(s, s->next_in + 1))
			return FIX_SESSION_E_STORE;
	} else if (s->logon_seq > s->next_in) {
		if (!s->silent)
			fs_send_resend_request(s, s->next_in, now_ms);
		s->resend_end = s->logon_seq;
	}
	fs_process_input(s, now_ms);
	return 0;
}

int fix_session_refuse(struct fix_session *s, const char *text, int64_t now_ms)
{
	if (s->role != FIX_ACCEPTOR || s->st != FIX_ST_LOGON_RECEIVED)
		return FIX_SESSION_E_STATE;
	if (text && *text && !cstr_ok(text))
		return FIX_SESSION_E_ARG;
	fs_send_logout(s, text, now_ms);
	fs_close(s, "rejected", 0, "Logon refused: %s", text && *text ? text : "(no reason)");
	return 0;
}

void fix_session_set_clock(struct fix_session *s, int64_t now_ms, int64_t wall_ms)
{
	s->wall_off = wall_ms - now_ms;
}

uint64_t fix_session_next_out_seq(const struct fix_session *s)
{
	return s->next_out;
}

uint64_t fix_session_next_in_seq(const struct fix_session *s)
{
	return s->next_in;
}

const char *fix_session_target_comp_id(const struct fix_session *s)
{
	return s->target;
}

int fix_session_heartbeat_s(const struct fix_session *s)
{
	return s->hb_s;
}

enum fix_close_cause fix_session_close_cause(const struct fix_session *s)
{
	return s->close_cause;
}

const char *fix_session_strerror(int err)
{
	switch (err) {
	case FIX_SESSION_OK:
		return "ok";
	case FIX_SESSION_E_STATE:
		return "not allowed in this session state";
	case FIX_SESSION_E_ARG:
		return "bad argument";
	case FIX_SESSION_E_TOO_LARGE:
		return "message larger than max_body";
	case FIX_SESSION_E_NOMEM:
		return "out of memory";
	case FIX_SESSION_E_STORE:
		return "sequence store failed";
	default:
		return fix_strerror(err);
	}
}
