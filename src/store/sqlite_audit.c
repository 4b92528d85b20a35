/*
 * sqlite_audit.c - the audit domain in the SQLite backend (store/audit.h):
 * the append hook the writer runs after an audited job, the filtered list,
 * and the chain check.  Schema: migration 7 in sqlite.c (audit_log, with
 * triggers that refuse UPDATE and DELETE).
 *
 * Appending runs on the write connection inside the job's savepoint: it
 * reads the last row (seq, hash) through the primary key, so the next row
 * is seq + 1 chained to that hash; only the writer appends, one job at a
 * time, so the chain has no forks.  A job may note the state it replaced
 * (sqi_audit_before) when the domain could not know it before the write
 * (an alias's previous version, a version's previous stage); a record's own
 * before wins.
 */
#include "store/sqlite_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_LAST[] = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
static const char SQL_INSERT[] =
	"INSERT INTO audit_log (seq, at_ms, user_name, verified, request_id, action, kind,"
	" resource, before, after, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
#define COLS                                                                                  \
	"SELECT seq, at_ms, user_name, verified, request_id, action, kind, resource, before," \
	" after, prev_hash, hash FROM audit_log"
static const char SQL_LIST[] =
	COLS " WHERE seq > ?1 AND (?2 = 0 OR at_ms >= ?2) AND (?3 = 0 OR at_ms < ?3)"
	     " AND (?4 IS NULL OR user_name = ?4)"
	     " AND (?5 IS NULL OR action = ?5 OR substr(action, 1, length(?5)) = ?5 AND ?6)"
	     " AND (?7 IS NULL OR resource = ?7 OR kind = ?7 OR kind || '/' || resource = ?7)"
	     " ORDER BY seq LIMIT ?8";
static const char SQL_ALL[] = COLS " ORDER BY seq";

static const char ZERO_HASH[] = "0000000000000000000000000000000000000000000000000000000000000000";

void sqi_audit_before(struct conn *c, const char *json)
{
	free(c->audit_before);
	c->audit_before = json ? mw_xstrdup(json) : NULL;
}

void sqi_audit_after(struct conn *c, const char *json)
{
	free(c->audit_after);
	c->audit_after = json ? mw_xstrdup(json) : NULL;
}

void sqi_audit_resource(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	free(c->audit_resource);
	c->audit_resource = mw_xmalloc((size_t)(n > 0 ? n : 0) + 1);
	va_start(ap, fmt);
	vsnprintf(c->audit_resource, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
	va_end(ap);
}

void sqi_audit_clear(struct conn *c)
{
	free(c->audit_before);
	free(c->audit_resource);
	free(c->audit_after);
	c->audit_before = c->audit_resource = c->audit_after = NULL;
}

int sqi_audit_append(void *tx, const struct mw_audit_rec *rec, struct mw_err *err)
{
	struct conn *c = tx;
	sqlite3_stmt *st = sqi_prep(c, SQL_LAST, err);
	if (!st)
		return -err->code;
	struct mw_audit_entry e = {0};
	char prev[65];
	memcpy(prev, ZERO_HASH, sizeof prev);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		e.seq = sqlite3_column_int64(st, 0);
		const char *h = sqi_col_text(st, 1);
		if (h && strlen(h) == 64)
			memcpy(prev, h, 65);
	}
	sqlite3_reset(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return sqi_sqerr(c, err, "audit: last row");
	e.seq++;
	e.at_ms = rec->at_ms ? rec->at_ms : mw_now_ms();
	e.user = rec->user && *rec->user ? rec->user : "anonymous";
	e.verified = rec->verified;
	e.request_id = rec->request_id ? rec->request_id : "";
	e.action = rec->action ? rec->action : "";
	e.kind = rec->kind ? rec->kind : "";
	e.resource = rec->resource ? rec->resource : c->audit_resource ? c->audit_resource : "";
	e.before = rec->before ? rec->before : c->audit_before;
	e.after = rec->after ? rec->after : c->audit_after;
	e.prev_hash = prev;
	char hash[65];
	mw_store_audit_hash(&e, hash);

	st = sqi_prep(c, SQL_INSERT, err);
	if (!st) {
		sqi_audit_clear(c);
		return -err->code;
	}
	sqlite3_bind_int64(st, 1, e.seq);
	sqlite3_bind_int64(st, 2, e.at_ms);
	sqi_bind_text(st, 3, e.user);
	sqlite3_bind_int(st, 4, e.verified ? 1 : 0);
	sqi_bind_text(st, 5, e.request_id);
	sqi_bind_text(st, 6, e.action);
	sqi_bind_text(st, 7, e.kind);
	sqi_bind_text(st, 8, e.resource);
	sqi_bind_text(st, 9, e.before);
	sqi_bind_text(st, 10, e.after);
	sqi_bind_text(st, 11, prev);
	sqi_bind_text(st, 12, hash);
	int rc = sqi_step_done(c, st, err);
	sqi_audit_clear(c);
	return rc;
}

static void row(sqlite3_stmt *st, struct mw_arena *a, struct mw_audit_entry *e)
{
	e->seq = sqlite3_column_int64(st, 0);
	e->at_ms = sqlite3_column_int64(st, 1);
	e->user = sqi_col_dup(a, st, 2);
	e->verified = sqlite3_column_int(st, 3) != 0;
	e->request_id = sqi_col_dup(a, st, 4);
	e->action = sqi_col_dup(a, st, 5);
	e->kind = sqi_col_dup(a, st, 6);
	e->resource = sqi_col_dup(a, st, 7);
	e->before = sqi_col_dup(a, st, 8);
	e->after = sqi_col_dup(a, st, 9);
	e->prev_hash = sqi_col_dup(a, st, 10);
	e->hash = sqi_col_dup(a, st, 11);
}

static int audit_list(struct mw_store *store, const struct mw_audit_query *q, size_t max,
		      struct mw_arena *a, struct mw_audit_entry **out, size_t *n, bool *more,
		      struct mw_err *err)
{
	*out = NULL;
	*n = 0;
	*more = false;
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = 0;
	sqlite3_stmt *st = sqi_prep(c, SQL_LIST, err);
	if (!st) {
		rc = -err->code;
		goto out;
	}
	/* "alias.*" and "alias." match by prefix ("alias."); others exactly */
	char *prefix = NULL;
	bool by_prefix = false;
	if (q->action && *q->action) {
		size_t k = strlen(q->action);
		by_prefix = q->action[k - 1] == '*' || q->action[k - 1] == '.';
		prefix = mw_arena_strndup(a, q->action, q->action[k - 1] == '*' ? k - 1 : k);
	}
	sqlite3_bind_int64(st, 1, q->after_seq);
	sqlite3_bind_int64(st, 2, q->since_ms);
	sqlite3_bind_int64(st, 3, q->until_ms);
	sqi_bind_text(st, 4, q->user && *q->user ? q->user : NULL);
	sqi_bind_text(st, 5, prefix);
	sqlite3_bind_int(st, 6, by_prefix ? 1 : 0);
	sqi_bind_text(st, 7, q->resource && *q->resource ? q->resource : NULL);
	sqlite3_bind_int64(st, 8, (int64_t)max + 1);
	struct mw_store_vec v = {0};
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (v.n == max) {
			*more = true;
			break;
		}
		row(st, a, mw_store_vec_push(&v, a, sizeof(struct mw_audit_entry)));
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		rc = sqi_sqerr(c, err, "audit: list");
	sqlite3_reset(st);
	if (!rc) {
		*out = v.v;
		*n = v.n;
	}
out:
	sqi_rd_end(store, c);
	return rc;
}

static int audit_verify(struct mw_store *store, int64_t *rows, int64_t *bad_seq, struct mw_err *err)
{
	*rows = 0;
	*bad_seq = 0;
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = 0;
	sqlite3_stmt *st = sqi_prep(c, SQL_ALL, err);
	if (!st) {
		rc = -err->code;
		goto out;
	}
	struct mw_arena *a = mw_arena_new(0);
	char prev[65];
	memcpy(prev, ZERO_HASH, sizeof prev);
	int64_t want = 1;
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct mw_audit_entry e;
		row(st, a, &e);
		char h[65];
		mw_store_audit_hash(&e, h);
		(*rows)++;
		/* a gap in seq (a row removed), a link to another hash, or content
		 * that no longer hashes to the stored hash */
		if (e.seq != want || !e.prev_hash || strcmp(e.prev_hash, prev) || !e.hash ||
		    strcmp(e.hash, h)) {
			*bad_seq = e.seq;
			break;
		}
		memcpy(prev, e.hash, sizeof prev);
		want++;
		mw_arena_reset(a);
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		rc = sqi_sqerr(c, err, "audit: verify");
	sqlite3_reset(st);
	mw_arena_free(a);
out:
	sqi_rd_end(store, c);
	return rc;
}

static int audit_head(struct mw_store *store, int64_t *seq, char hash[65], struct mw_err *err)
{
	*seq = 0;
	memcpy(hash, ZERO_HASH, 65);
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = 0;
	sqlite3_stmt *st = sqi_prep(c, SQL_LAST, err);
	if (!st) {
		rc = -err->code;
	} else {
		int r = sqlite3_step(st);
		if (r == SQLITE_ROW) {
			const char *h = sqi_col_text(st, 1);
			*seq = sqlite3_column_int64(st, 0);
			snprintf(hash, 65, "%s", h ? h : "");
		} else if (r != SQLITE_DONE) {
			rc = sqi_sqerr(c, err, "audit: head");
		}
		sqlite3_reset(st);
	}
	sqi_rd_end(store, c);
	return rc;
}

const struct mw_store_audit_ops mw_sqlite_audit_ops = {
	.list = audit_list,
	.verify = audit_verify,
	.head = audit_head,
};
