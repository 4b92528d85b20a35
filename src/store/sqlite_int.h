/*
 * sqlite_int.h - private to store/: the SQLite backend's plumbing, shared by
 * its files (sqlite.c: connections, statement cache, read pool, transaction
 * hooks, migrations, the query builder; sqlite_<domain>.c: one file per
 * domain).
 *
 * Connections cache prepared statements by the address of their SQL text, so
 * SQL given to sqi_prep must be a static string.  Writes run as jobs through
 * sqi_submit (group commit, one writer at a time); reads run between
 * sqi_rd_begin and sqi_rd_end (one read transaction on a pooled connection).
 */
#ifndef MW_STORE_SQLITE_INT_H
#define MW_STORE_SQLITE_INT_H

#include "store/backend.h"

#include <pthread.h>
#include <sqlite3.h>

#define CACHE_SLOTS 256

struct conn {
	sqlite3 *db;
	/* The write connection only: the state a job noted as replaced, for
	 * its audit row (sqi_audit_before); malloc'd, cleared per job. */
	char *audit_before;
	char *audit_resource; /* the id a job created (sqi_audit_resource) */
	char *audit_after;    /* the state a job set (sqi_audit_after) */
	struct {
		const char *sql;
		sqlite3_stmt *st;
	} cache[CACHE_SLOTS];
};

struct sq {
	char *path;
	struct conn *w; /* used by the store's writer only (writer.c) */

	struct conn **readers;
	int nreaders;
	struct conn **freelist;
	int nfree;
	pthread_mutex_t rmu;
	pthread_cond_t rcv;
};

/* ------------------------------------------------------------ plumbing */

int sqi_sqerr(struct conn *c, struct mw_err *err, const char *what);
/* Make the fault-seam VFS (sqlite_vfs.c) the default, once; 0 or -1. */
int sqi_vfs_register(void);
sqlite3_stmt *sqi_prep(struct conn *c, const char *sql, struct mw_err *err);
int sqi_exec(struct conn *c, const char *sql, struct mw_err *err);
int sqi_step_done(struct conn *c, sqlite3_stmt *st, struct mw_err *err);
void sqi_bind_text(sqlite3_stmt *st, int i, const char *s);
const char *sqi_col_text(sqlite3_stmt *st, int i);
/* Run fn on the write connection in the store's next group commit. */
int sqi_submit(struct mw_store *store, int (*fn)(struct conn *, void *, struct mw_err *), void *arg,
	       struct mw_err *err);
struct conn *sqi_rd_begin(struct mw_store *store, struct mw_err *err);
void sqi_rd_end(struct mw_store *store, struct conn *c);
/* A copy of a text column in the arena; NULL for SQL NULL. */
const char *sqi_col_dup(struct mw_arena *a, sqlite3_stmt *st, int i);
/* The (key, value) rows of a two-column query keyed by id (text) or iid, in
 * the arena (a NULL value reads as ""). */
int sqi_kv_rows(struct conn *c, const char *sql, const char *id, int64_t iid, struct mw_arena *a,
		struct mw_kv **out, size_t *n, struct mw_err *err);

/* ------------------------------------------------------------ domains */

extern const struct mw_store_tracking_ops mw_sqlite_tracking_ops;   /* sqlite_tracking.c */
extern const struct mw_store_registry_ops mw_sqlite_registry_ops;   /* sqlite_registry.c */
extern const struct mw_store_artifacts_ops mw_sqlite_artifacts_ops; /* sqlite_artifacts.c */
extern const struct mw_store_auth_ops mw_sqlite_auth_ops;           /* sqlite_auth.c */
extern const struct mw_store_audit_ops mw_sqlite_audit_ops;         /* sqlite_audit.c */

/* The audit hook of the writer (struct mw_store_txn.audit, sqlite_audit.c). */
int sqi_audit_append(void *tx, const struct mw_audit_rec *rec, struct mw_err *err);
/* Inside a write job: note json (object text, copied) as the state this
 * job replaced, for its audit row when the record has no before. */
void sqi_audit_before(struct conn *c, const char *json);
/* The same for the state it set (a rollback's target version). */
void sqi_audit_after(struct conn *c, const char *json);
/* Inside a write job: the id of what it created, for an audit record that
 * names none (copied). */
void sqi_audit_resource(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sqi_audit_clear(struct conn *c);

/* ------------------------------------------------------------ shared by domains
 * (sqlite_artifacts.c) */

/* Copy every manifest entry under src_prefix to dst_prefix (pinning), inside
 * the caller's write job; *count gets the number of files, and manifest_hex
 * (may be NULL) the SHA-256 over "path\tdigest\n" lines in path order. */
int sqi_art_copy_tree(struct conn *c, const char *src_prefix, const char *dst_prefix,
		      int64_t now_ms, int *count, char manifest_hex[65], struct mw_err *err);
/* Delete every manifest entry under prefix (recording history), inside a job. */
int sqi_art_delete_tree(struct conn *c, const char *prefix, int64_t now_ms, int *count,
			struct mw_err *err);

/* ------------------------------------------------------------ query builder */

struct bind {
	int type; /* 0 null, 1 int, 2 double, 3 text */
	int64_t i;
	double d;
	const char *s;
};

struct qb {
	struct mw_buf sql;
	struct bind *b;
	int nb, ab;
	int alias;
};

/* Append SQL text.  The builder's buffer is capped (MW_SQL_MAX): a failed
 * append is sticky and sqi_qb_prepare refuses the query, so builders append
 * without checking each piece. */
#define MW_SQL_MAX ((size_t)4 << 20)
void sqi_qs(struct qb *q, const char *s);
void sqi_qf(struct qb *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define QS(q, s) sqi_qs(q, s)

void sqi_qb_init(struct qb *q);
void sqi_qb_release(struct qb *q);
struct bind *sqi_qb_next(struct qb *q);
void sqi_qb_text(struct qb *q, const char *s);
void sqi_qb_int(struct qb *q, int64_t v);
void sqi_qb_num(struct qb *q, const struct mw_clause *cl);
/* "<col> <op> <value>" for a clause against a column expression. */
void sqi_qb_cmp(struct qb *q, const char *col, const struct mw_clause *cl);
int sqi_qb_prepare(struct conn *c, struct qb *q, sqlite3_stmt **out, struct mw_err *err);
void sqi_qb_page(struct qb *q, const struct mw_page *p);
void sqi_qb_view(struct qb *q, const char *col, enum mw_view v);
/* Run a built query (max_results + 1 rows) and collect a page of records:
 * row fills the zeroed element (size bytes) it is given from the current row
 * and returns false to skip it (e.g. a row deleted meanwhile); each record is
 * then offered to the page's take (search.h), which may end the page before
 * it; *out (in the arena), *n and *more (a last extra row, or a page ended
 * by take) get the page.  Frees q. */
int sqi_qb_rows(struct mw_store *store, struct qb *q, const struct mw_page *p, struct mw_arena *a,
		size_t size,
		bool (*row)(struct conn *c, sqlite3_stmt *st, struct mw_arena *a, void *slot,
			    struct mw_err *err),
		void **out, size_t *n, bool *more, struct mw_err *err);
/* Order term with NULLs last (and NaN before NULL when nan_col is given). */
void sqi_qb_order_col(struct qb *q, const char *col, const char *nan_col, bool asc);

#endif
