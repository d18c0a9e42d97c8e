/* The initiator's side of fix_conn: connect to the acceptor, with the
 * client's durable sequence store (seqstore) plugged into the driver's group
 * commit. Kept apart from the driver so the exchange links without the
 * store. */
#include "fix_conn_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seqstore.h"
#include "transport.h"

static int ss_commit_numbers(void *ctx)
{
	return seqstore_commit_numbers(ctx);
}

static int ss_commit(void *ctx)
{
	return seqstore_commit(ctx);
}

static int ss_pending_frames(void *ctx)
{
	return seqstore_pending_frames(ctx) != 0;
}

static const char *ss_error(void *ctx)
{
	return seqstore_error(ctx);
}

static void ss_close(void *ctx)
{
	seqstore_close(ctx);
}

static const struct fc_durable_ops SEQSTORE_OPS = {
    ss_commit_numbers, ss_commit, ss_pending_frames, ss_error, ss_close,
};

static char *dup_or_null(const char *s, int *oom)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*oom = 1;
	return d;
}

struct fix_conn *fix_conn_open(struct bt_reactor *r, const struct fix_conn_opts *opts,
			       const struct fix_conn_cbs *cbs, void *arg, char *err, size_t errlen)
{
	if (!r || !opts || !cbs) {
		if (opts)
			seqstore_close(opts->store);
		snprintf(err, errlen, "fix_conn: reactor, options and callbacks are required");
		return NULL;
	}
	struct fix_session_cfg cfg = opts->session;
	if (!cfg.sender_comp_id || !*cfg.sender_comp_id || !cfg.target_comp_id ||
	    !*cfg.target_comp_id) {
		seqstore_close(opts->store);
		snprintf(err, errlen, "fix_conn: sender_comp_id and target_comp_id are required");
		return NULL;
	}
	struct fix_conn *c = fc_new(r, cbs, arg);
	if (!c) {
		seqstore_close(opts->store);
		snprintf(err, errlen, "fix_conn: out of memory");
		return NULL;
	}
	struct seqstore *store = opts->store;
	if (store) {
		c->dops = &SEQSTORE_OPS;
		c->dctx = store;
	}
	int oom = 0;
	c->username = dup_or_null(cfg.username, &oom);
	c->password = dup_or_null(cfg.password, &oom);
	if (oom) {
		snprintf(err, errlen, "fix_conn: out of memory");
		goto fail;
	}
	cfg.role = FIX_INITIATOR;
	cfg.username = c->username;
	cfg.password = c->password;
	cfg.store = NULL;
	if (!store && opts->store_dir) {
		if (seqstore_open(&store, opts->store_dir, cfg.sender_comp_id, cfg.target_comp_id,
				  opts->store_flags, err, errlen) != 0)
			goto fail;
		c->dops = &SEQSTORE_OPS;
		c->dctx = store;
	}
	if (store) {
		c->fstore = seqstore_as_fix_store(store);
		cfg.store = &c->fstore;
		seqstore_set_deferred(store, 1); /* committed by the driver's write_out */
	}
	c->s = fix_session_new(&cfg);
	if (!c->s) {
		/* fix_session_new says no reason: list every rule it applies */
		snprintf(err, errlen,
			 "fix_conn: invalid session settings (CompIDs 1..%d bytes without SOH, "
			 "heartbeat 0..86400 s, begin_strings space-separated \"FIX...\" "
			 "versions of at most 16 characters)",
			 FIX_SESSION_MAX_COMP_ID);
		goto fail;
	}
	struct transport_opts to = {
	    .host = opts->host,
	    .port = opts->port,
	    .connect_timeout_ms = opts->connect_timeout_ms,
	    .tls = opts->tls,
	    .server_name = opts->server_name,
	};
	c->t = transport_open(r, &to, &fc_transport_cbs, c, err, errlen);
	if (!c->t)
		goto fail;
	return c;
fail:
	fc_destroy(c);
	return NULL;
}
