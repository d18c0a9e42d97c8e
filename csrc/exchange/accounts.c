/* Accounts in SQLite: one connection guarded by a mutex, because the HTTP
 * thread and the FIX loop both use it. Passwords are stored as a random
 * 16-byte salt plus PBKDF2-HMAC-SHA256; the iteration count is stored per
 * row so that it can be raised later without breaking old accounts. */
#include "exchange.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SALT_LEN 16
#define HASH_LEN 32
#define TOKEN_BYTES 24

/* Statements prepared once at open: preparing costs more than running these
 * one-row queries. Each is used only under mu and reset before mu is
 * released, so no read transaction outlives a call. */
enum {
	ST_INSERT,
	ST_SET_CLIENT_ID,
	ST_BY_TOKEN,
	ST_HAS_CLIENT,
	ST_VERIFY,
	ST_COUNT,
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_INSERT] = "INSERT INTO accounts(username, salt, hash, iterations, token,"
		  " created_at) VALUES(?, ?, ?, ?, ?, ?)",
    [ST_SET_CLIENT_ID] = "UPDATE accounts SET client_id = ? WHERE id = ?",
    [ST_BY_TOKEN] = "SELECT client_id, username, token, created_at FROM accounts"
		    " WHERE token = ?",
    [ST_HAS_CLIENT] = "SELECT 1 FROM accounts WHERE client_id = ?",
    [ST_VERIFY] = "SELECT salt, hash, iterations FROM accounts WHERE client_id = ?",
};

struct accounts {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	pthread_mutex_t mu;
	int iterations;
	char *tmp_path; /* set when the database is ours to delete */
};

static const char schema[] = "PRAGMA journal_mode=WAL;"
			     "CREATE TABLE IF NOT EXISTS accounts ("
			     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
			     " username TEXT NOT NULL UNIQUE,"
			     " client_id TEXT UNIQUE,"
			     " salt BLOB NOT NULL,"
			     " hash BLOB NOT NULL,"
			     " iterations INTEGER NOT NULL,"
			     " token TEXT NOT NULL UNIQUE,"
			     " created_at INTEGER NOT NULL);";

struct accounts *accounts_open(const char *path, int iterations, char *err, size_t errlen)
{
	struct accounts *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "accounts: out of memory");
		return NULL;
	}
	pthread_mutex_init(&a->mu, NULL);
	a->iterations = iterations > 0 ? iterations : EXCH_DEFAULT_ITER;
	if (!path) {
		const char *dir = getenv("TMPDIR");
		char tmpl[4096];
		snprintf(tmpl, sizeof(tmpl), "%s/betatrader-exchange-XXXXXX.db",
			 dir && *dir ? dir : "/tmp");
		int fd = mkstemps(tmpl, 3);
		if (fd < 0) {
			snprintf(err, errlen, "accounts: %s: %s", tmpl, strerror(errno));
			goto fail;
		}
		close(fd);
		a->tmp_path = strdup(tmpl);
		if (!a->tmp_path) {
			unlink(tmpl);
			snprintf(err, errlen, "accounts: out of memory");
			goto fail;
		}
		path = a->tmp_path;
	}
	if (sqlite3_open_v2(path, &a->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "accounts: %s: %s", path,
			 a->db ? sqlite3_errmsg(a->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(a->db, 5000);
	char *msg = NULL;
	if (sqlite3_exec(a->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "accounts: %s: %s", path, msg ? msg : "schema failed");
		sqlite3_free(msg);
		goto fail;
	}
	for (int i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(a->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &a->st[i],
				       NULL) != SQLITE_OK) {
			snprintf(err, errlen, "accounts: %s: %s", path, sqlite3_errmsg(a->db));
			goto fail;
		}
	}
	return a;
fail:
	accounts_close(a);
	return NULL;
}

void accounts_close(struct accounts *a)
{
	if (!a)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(a->st[i]);
	sqlite3_close(a->db);
	if (a->tmp_path) {
		/* WAL mode leaves side files next to the database. */
		char side[4200];
		unlink(a->tmp_path);
		snprintf(side, sizeof(side), "%s-wal", a->tmp_path);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", a->tmp_path);
		unlink(side);
		free(a->tmp_path);
	}
	pthread_mutex_destroy(&a->mu);
	free(a);
}

static int hash_password(const char *pw, size_t pwlen, const unsigned char *salt, int iter,
			 unsigned char out[HASH_LEN])
{
	return PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, SALT_LEN, iter, EVP_sha256(), HASH_LEN,
				 out) == 1
		   ? 0
		   : -1;
}

/* Ready a cached statement for the next caller; the bound buffers are the
 * caller's stack, so they must not stay attached. Call with mu held. */
static void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static void copy_col(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	snprintf(dst, cap, "%s", s ? (const char *)s : "");
}

static void fill_info(sqlite3_stmt *st, struct acct_info *out)
{
	copy_col(out->client_id, sizeof(out->client_id), st, 0);
	copy_col(out->username, sizeof(out->username), st, 1);
	copy_col(out->token, sizeof(out->token), st, 2);
	out->created_at = sqlite3_column_int64(st, 3);
}

int accounts_register(struct accounts *a, const char *username, const char *password,
		      struct acct_info *out)
{
	unsigned char salt[SALT_LEN], hash[HASH_LEN], rnd[TOKEN_BYTES];
	char token[2 * TOKEN_BYTES + 1];
	if (RAND_bytes(salt, sizeof(salt)) != 1 || RAND_bytes(rnd, sizeof(rnd)) != 1)
		return ACCT_ERROR;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(token + 2 * i, 3, "%02x", rnd[i]);
	/* Hash outside the lock: it is the slow part and touches no shared state. */
	if (hash_password(password, strlen(password), salt, a->iterations, hash) < 0)
		return ACCT_ERROR;

	int rc = ACCT_ERROR;
	sqlite3_stmt *ins = a->st[ST_INSERT], *upd = a->st[ST_SET_CLIENT_ID];
	int64_t now = (int64_t)time(NULL);
	pthread_mutex_lock(&a->mu);
	if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(ins, 1, username, -1, SQLITE_STATIC);
	sqlite3_bind_blob(ins, 2, salt, SALT_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(ins, 3, hash, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int(ins, 4, a->iterations);
	sqlite3_bind_text(ins, 5, token, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 6, now);
	int step = sqlite3_step(ins);
	if (step == SQLITE_CONSTRAINT) {
		rc = ACCT_TAKEN;
		goto rollback;
	}
	if (step != SQLITE_DONE)
		goto rollback;
	int64_t id = sqlite3_last_insert_rowid(a->db);
	/* The row id comes from AUTOINCREMENT, so ids are never reused. */
	snprintf(out->client_id, sizeof(out->client_id), "CLIENT%04lld", (long long)id);
	sqlite3_bind_text(upd, 1, out->client_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(upd, 2, id);
	if (sqlite3_step(upd) != SQLITE_DONE)
		goto rollback;
	if (sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto rollback;
	snprintf(out->username, sizeof(out->username), "%s", username);
	snprintf(out->token, sizeof(out->token), "%s", token);
	out->created_at = now;
	rc = ACCT_OK;
	goto out;
rollback:
	sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
out:
	stmt_done(ins);
	stmt_done(upd);
	pthread_mutex_unlock(&a->mu);
	OPENSSL_cleanse(hash, sizeof(hash));
	return rc;
}

int accounts_by_token(struct accounts *a, const char *token, struct acct_info *out)
{
	sqlite3_stmt *st = a->st[ST_BY_TOKEN];
	int rc = ACCT_ERROR;
	pthread_mutex_lock(&a->mu);
	if (sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC) == SQLITE_OK) {
		int step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			fill_info(st, out);
			rc = ACCT_OK;
		} else if (step == SQLITE_DONE) {
			rc = ACCT_NOT_FOUND;
		}
	}
	stmt_done(st);
	pthread_mutex_unlock(&a->mu);
	return rc;
}

int accounts_has_client(struct accounts *a, const char *client_id)
{
	sqlite3_stmt *st = a->st[ST_HAS_CLIENT];
	int rc = -1;
	pthread_mutex_lock(&a->mu);
	if (sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC) == SQLITE_OK) {
		int step = sqlite3_step(st);
		rc = step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : -1;
	}
	stmt_done(st);
	pthread_mutex_unlock(&a->mu);
	return rc;
}

int accounts_verify(struct accounts *a, const char *client_id, const char *password,
		    size_t password_len)
{
	sqlite3_stmt *st = a->st[ST_VERIFY];
	unsigned char salt[SALT_LEN], want[HASH_LEN], got[HASH_LEN];
	int iter = 0, rc = ACCT_ERROR;
	pthread_mutex_lock(&a->mu);
	if (sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC) == SQLITE_OK) {
		int step = sqlite3_step(st);
		if (step == SQLITE_ROW && sqlite3_column_bytes(st, 0) == SALT_LEN &&
		    sqlite3_column_bytes(st, 1) == HASH_LEN) {
			memcpy(salt, sqlite3_column_blob(st, 0), SALT_LEN);
			memcpy(want, sqlite3_column_blob(st, 1), HASH_LEN);
			iter = sqlite3_column_int(st, 2);
			rc = ACCT_OK;
		} else if (step == SQLITE_DONE) {
			rc = ACCT_NOT_FOUND;
		}
	}
	stmt_done(st);
	pthread_mutex_unlock(&a->mu);
	if (rc != ACCT_OK)
		return rc;
	if (iter <= 0 || hash_password(password, password_len, salt, iter, got) < 0)
		rc = ACCT_ERROR;
	else if (CRYPTO_memcmp(got, want, HASH_LEN) != 0)
		rc = ACCT_BAD_PASSWORD;
	OPENSSL_cleanse(got, sizeof(got));
	return rc;
}
