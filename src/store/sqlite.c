/*
 * sqlite.c - the embedded metadata backend (SQLite 3, WAL): its plumbing
 * and its description (struct mw_store_backend mw_store_sqlite).  The
 * domains live in their own files (sqlite_tracking.c, ...), sharing what is
 * here through sqlite_int.h; the store's writer and migration runner
 * (writer.c, migrate.c) drive the hooks defined here.
 *
 * Connections:
 *  - one write connection, used only by the store's group-commit writer
 *    (writer.c) through the transaction hooks below: callers hand it a job
 *    (a function run inside a transaction) and block until the transaction
 *    that contains their job has committed.  Nobody else writes, so
 *    "database is locked" cannot happen.
 *  - a pool of read connections (PRAGMA query_only).  Each read runs in one
 *    read transaction so an entity assembled from several tables is a
 *    consistent snapshot.
 *
 * Every statement is prepared with bound parameters; SQL text never contains
 * a value.  Search SQL is assembled from fixed fragments (identifiers come
 * from a fixed map, never from input) and bound values.  Static statements
 * are cached per connection, keyed by the address of their SQL string.
 *
 * Location: the store URI's path, with SQLAlchemy's convention (db_path
 * below), or <data_dir>/mw.db.  Migrations are numbered SQL scripts below.
 */
#include "store/sqlite_int.h"

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ================================================================ plumbing */



int sqi_sqerr(struct conn *c, struct mw_err *err, const char *what)
{
	int ec = sqlite3_extended_errcode(c->db);
	if ((ec & 0xff) == SQLITE_FULL)
		return mw_err_set(err, MW_E_IO, "%s: disk full", what);
	return mw_err_set(err, MW_E_IO, "%s: %s", what, sqlite3_errmsg(c->db));
}

/* A cached prepared statement, reset and unbound. */
sqlite3_stmt *sqi_prep(struct conn *c, const char *sql, struct mw_err *err)
{
	size_t h = ((uintptr_t)sql >> 3) % CACHE_SLOTS;
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		size_t k = (h + i) % CACHE_SLOTS;
		if (c->cache[k].sql == sql) {
			sqlite3_reset(c->cache[k].st);
			sqlite3_clear_bindings(c->cache[k].st);
			return c->cache[k].st;
		}
		if (!c->cache[k].sql) {
			sqlite3_stmt *st;
			if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
			    SQLITE_OK) {
				sqi_sqerr(c, err, "prepare");
				return NULL;
			}
			c->cache[k].sql = sql;
			c->cache[k].st = st;
			return st;
		}
	}
	/* cache full: should not happen with a fixed set of statements */
	mw_err_set(err, MW_E_INTERNAL, "statement cache full");
	return NULL;
}

static void conn_close(struct conn *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		if (c->cache[i].st)
			sqlite3_finalize(c->cache[i].st);
	sqlite3_close_v2(c->db);
	free(c->audit_before);
	free(c->audit_resource);
	free(c->audit_after);
	free(c);
}

static int conn_open(const char *path, bool writer, bool sync_full, struct conn **out,
		     struct mw_err *err)
{
	struct conn *c = mw_xcalloc(1, sizeof *c);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	if (writer)
		flags |= SQLITE_OPEN_CREATE;
	sqi_vfs_register(); /* writes go through core/fs.c's seam (sqlite_vfs.c) */
	if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
		int rc = mw_err_set(err, MW_E_IO, "cannot open database %s: %s", path,
				    c->db ? sqlite3_errmsg(c->db) : "out of memory");
		conn_close(c);
		return rc;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, 10000);
	char pragmas[512];
	snprintf(pragmas, sizeof pragmas,
		 "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=OFF;"
		 "PRAGMA case_sensitive_like=ON; PRAGMA temp_store=MEMORY;"
		 "PRAGMA cache_size=%d; %s",
		 sync_full ? "FULL" : "NORMAL", writer ? -16000 : -4000,
		 writer ? "" : "PRAGMA query_only=1;");
	char *msg = NULL;
	if (sqlite3_exec(c->db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
		int rc = mw_err_set(err, MW_E_IO, "cannot configure database %s: %s", path,
				    msg ? msg : "?");
		sqlite3_free(msg);
		conn_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

int sqi_exec(struct conn *c, const char *sql, struct mw_err *err)
{
	char *msg = NULL;
	if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int rc = mw_err_set(err, MW_E_IO, "%s", msg ? msg : sqlite3_errmsg(c->db));
		sqlite3_free(msg);
		return rc;
	}
	return 0;
}

/* Step a statement that returns no rows. */
int sqi_step_done(struct conn *c, sqlite3_stmt *st, struct mw_err *err)
{
	int r = sqlite3_step(st);
	if (r == SQLITE_DONE || r == SQLITE_ROW) {
		sqlite3_reset(st);
		return 0;
	}
	int rc = sqi_sqerr(c, err, "write");
	sqlite3_reset(st);
	return rc;
}

void sqi_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

const char *sqi_col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? (const char *)t : NULL;
}

const char *sqi_col_dup(struct mw_arena *a, sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	if (!t)
		return NULL;
	return mw_arena_strndup(a, (const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

int sqi_kv_rows(struct conn *c, const char *sql, const char *id, int64_t iid, struct mw_arena *a,
		struct mw_kv **out, size_t *n, struct mw_err *err)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *st = sqi_prep(c, sql, err);
	if (!st)
		return -err->code;
	if (id)
		sqi_bind_text(st, 1, id);
	else
		sqlite3_bind_int64(st, 1, iid);
	struct mw_store_vec v = {0};
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct mw_kv *kv = mw_store_vec_push(&v, a, sizeof *kv);
		kv->key = sqi_col_dup(a, st, 0);
		kv->value = sqi_col_dup(a, st, 1);
		if (!kv->value)
			kv->value = "";
	}
	sqlite3_reset(st);
	*out = v.v;
	*n = v.n;
	return 0;
}

/* ------------------------------------------------------------ the writer */

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_SAVEPOINT[] = "SAVEPOINT j";
static const char SQL_RELEASE[] = "RELEASE j";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO j";

/* Transaction control through cached statements (no re-parsing per commit). */
static int txn(struct conn *c, const char *sql, struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, sql, err);
	if (!st)
		return -err->code;
	int r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r != SQLITE_DONE)
		return sqi_sqerr(c, err, sql);
	return 0;
}

static int tx_begin(void *tx, struct mw_err *err)
{
	return txn(tx, SQL_BEGIN, err);
}

static int tx_commit(void *tx, struct mw_err *err)
{
	return txn(tx, SQL_COMMIT, err);
}

static void tx_rollback(void *tx)
{
	struct mw_err e;
	txn(tx, SQL_ROLLBACK, &e);
}

static int tx_savepoint(void *tx, struct mw_err *err)
{
	return txn(tx, SQL_SAVEPOINT, err);
}

static void tx_release(void *tx)
{
	struct mw_err e;
	txn(tx, SQL_RELEASE, &e);
}

static void tx_rollback_to(void *tx)
{
	struct mw_err e;
	txn(tx, SQL_ROLLBACK_TO, &e);
}

static void tx_trim(void *tx);

static const struct mw_store_txn sqlite_txn = {
	.begin = tx_begin,
	.commit = tx_commit,
	.rollback = tx_rollback,
	.savepoint = tx_savepoint,
	.release = tx_release,
	.rollback_to = tx_rollback_to,
	.trim = tx_trim,
	.audit = sqi_audit_append,
};

/* A job on the write connection, through the neutral writer (writer.c). */
struct tramp {
	int (*fn)(struct conn *c, void *arg, struct mw_err *err);
	void *arg;
};

static int trampoline(void *tx, void *p, struct mw_err *err)
{
	struct tramp *t = p;
	sqi_audit_clear(tx); /* nothing noted by an earlier job */
	return t->fn(tx, t->arg, err);
}

int sqi_submit(struct mw_store *store, int (*fn)(struct conn *, void *, struct mw_err *), void *arg,
	       struct mw_err *err)
{
	struct tramp t = {fn, arg};
	return mw_store_submit(store, trampoline, &t, err);
}

/* ------------------------------------------------------------ readers */

struct conn *sqi_rd_begin(struct mw_store *store, struct mw_err *err)
{
	struct sq *q = mw_store_impl(store);
	pthread_mutex_lock(&q->rmu);
	while (q->nfree == 0)
		pthread_cond_wait(&q->rcv, &q->rmu);
	struct conn *c = q->freelist[--q->nfree];
	pthread_mutex_unlock(&q->rmu);
	if (sqi_exec(c, "BEGIN", err)) {
		pthread_mutex_lock(&q->rmu);
		q->freelist[q->nfree++] = c;
		pthread_cond_signal(&q->rcv);
		pthread_mutex_unlock(&q->rmu);
		return NULL;
	}
	return c;
}

void sqi_rd_end(struct mw_store *store, struct conn *c)
{
	struct sq *q = mw_store_impl(store);
	struct mw_err e;
	if (sqi_exec(c, "COMMIT", &e))
		sqi_exec(c, "ROLLBACK", &e);
	pthread_mutex_lock(&q->rmu);
	q->freelist[q->nfree++] = c;
	pthread_cond_signal(&q->rcv);
	pthread_mutex_unlock(&q->rmu);
}

/* ================================================================ schema */

static const char *const migrations[] = {
	/* 1: tracking */
	"CREATE TABLE experiments ("
	" experiment_id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" artifact_location TEXT NOT NULL,"
	" lifecycle_stage TEXT NOT NULL DEFAULT 'active',"
	" creation_time INTEGER NOT NULL,"
	" last_update_time INTEGER NOT NULL);"
	"CREATE TABLE experiment_tags ("
	" experiment_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT,"
	" PRIMARY KEY (experiment_id, key)) WITHOUT ROWID;"
	"CREATE TABLE runs ("
	" run_uuid TEXT PRIMARY KEY, name TEXT, experiment_id INTEGER NOT NULL,"
	" user_id TEXT, status TEXT NOT NULL, start_time INTEGER, end_time INTEGER,"
	" artifact_uri TEXT, lifecycle_stage TEXT NOT NULL DEFAULT 'active',"
	" deleted_time INTEGER);"
	"CREATE INDEX runs_experiment ON runs (experiment_id, start_time DESC, run_uuid);"
	"CREATE TABLE params ("
	" run_uuid TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
	" PRIMARY KEY (run_uuid, key)) WITHOUT ROWID;"
	"CREATE INDEX params_key ON params (key, value);"
	"CREATE TABLE tags ("
	" run_uuid TEXT NOT NULL, key TEXT NOT NULL, value TEXT,"
	" PRIMARY KEY (run_uuid, key)) WITHOUT ROWID;"
	"CREATE INDEX tags_key ON tags (key, value);"
	"CREATE TABLE metrics ("
	" run_uuid TEXT NOT NULL, key TEXT NOT NULL, step INTEGER NOT NULL,"
	" timestamp INTEGER NOT NULL, value REAL NOT NULL, is_nan INTEGER NOT NULL,"
	" PRIMARY KEY (run_uuid, key, step, timestamp, value, is_nan)) WITHOUT ROWID;"
	"CREATE TABLE logged_model_metrics ("
	" model_id TEXT NOT NULL, key TEXT NOT NULL, step INTEGER NOT NULL,"
	" timestamp INTEGER NOT NULL, value REAL NOT NULL, is_nan INTEGER NOT NULL,"
	" run_uuid TEXT NOT NULL, dataset_name TEXT NOT NULL DEFAULT '',"
	" dataset_digest TEXT NOT NULL DEFAULT '',"
	" PRIMARY KEY (model_id, key, step, timestamp, run_uuid, dataset_name, dataset_digest,"
	" value, is_nan)) WITHOUT ROWID;"
	"CREATE TABLE latest_metrics ("
	" run_uuid TEXT NOT NULL, key TEXT NOT NULL, value REAL NOT NULL,"
	" is_nan INTEGER NOT NULL, timestamp INTEGER NOT NULL, step INTEGER NOT NULL,"
	" PRIMARY KEY (run_uuid, key)) WITHOUT ROWID;"
	"CREATE INDEX latest_metrics_key ON latest_metrics (key, value);"
	"CREATE TABLE datasets ("
	" dataset_uuid TEXT PRIMARY KEY, experiment_id INTEGER NOT NULL, name TEXT NOT NULL,"
	" digest TEXT NOT NULL, source_type TEXT, source TEXT, schema TEXT, profile TEXT,"
	" UNIQUE (experiment_id, name, digest));"
	"CREATE TABLE inputs ("
	" input_uuid TEXT PRIMARY KEY, source_type TEXT NOT NULL, source_id TEXT NOT NULL,"
	" destination_type TEXT NOT NULL, destination_id TEXT NOT NULL,"
	" UNIQUE (source_type, source_id, destination_type, destination_id));"
	"CREATE INDEX inputs_destination ON inputs (destination_type, destination_id);"
	"CREATE TABLE input_tags ("
	" input_uuid TEXT NOT NULL, key TEXT NOT NULL, value TEXT,"
	" PRIMARY KEY (input_uuid, key)) WITHOUT ROWID;"
	"CREATE TABLE logged_models ("
	" model_id TEXT PRIMARY KEY, experiment_id INTEGER NOT NULL, name TEXT NOT NULL,"
	" artifact_location TEXT NOT NULL, creation_timestamp_ms INTEGER NOT NULL,"
	" last_updated_timestamp_ms INTEGER NOT NULL, status TEXT NOT NULL,"
	" lifecycle_stage TEXT NOT NULL DEFAULT 'active', model_type TEXT,"
	" source_run_id TEXT, status_message TEXT);"
	"CREATE INDEX logged_models_experiment ON logged_models (experiment_id, creation_timestamp_ms);"
	"CREATE TABLE logged_model_tags ("
	" model_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT,"
	" PRIMARY KEY (model_id, key)) WITHOUT ROWID;"
	"CREATE TABLE logged_model_params ("
	" model_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT,"
	" PRIMARY KEY (model_id, key)) WITHOUT ROWID;"
	"CREATE TABLE run_outputs ("
	" run_uuid TEXT NOT NULL, model_id TEXT NOT NULL, step INTEGER NOT NULL,"
	" PRIMARY KEY (run_uuid, model_id)) WITHOUT ROWID;",

	/* 2: artifacts (path manifests over content-addressed blobs) and the registry */
	"CREATE TABLE artifacts ("
	" path TEXT PRIMARY KEY, digest TEXT NOT NULL, size INTEGER NOT NULL,"
	" created INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX artifacts_digest ON artifacts (digest);"
	"CREATE TABLE artifact_history ("
	" path TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,"
	" created INTEGER NOT NULL, ended INTEGER NOT NULL, action TEXT NOT NULL);"
	"CREATE INDEX artifact_history_path ON artifact_history (path);"
	"CREATE INDEX artifact_history_digest ON artifact_history (digest);"
	"CREATE TABLE registered_models ("
	" rm_id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, description TEXT,"
	" user_id TEXT, creation_timestamp INTEGER NOT NULL,"
	" last_updated_timestamp INTEGER NOT NULL);"
	"CREATE TABLE registered_model_tags ("
	" rm_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT,"
	" PRIMARY KEY (rm_id, key)) WITHOUT ROWID;"
	"CREATE TABLE registered_model_aliases ("
	" rm_id INTEGER NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,"
	" PRIMARY KEY (rm_id, alias)) WITHOUT ROWID;"
	"CREATE TABLE model_versions ("
	" rm_id INTEGER NOT NULL, version INTEGER NOT NULL, creation_timestamp INTEGER NOT NULL,"
	" last_updated_timestamp INTEGER NOT NULL, description TEXT, user_id TEXT,"
	" current_stage TEXT NOT NULL DEFAULT 'None', source TEXT, run_id TEXT, run_link TEXT,"
	" status TEXT NOT NULL DEFAULT 'READY', status_message TEXT, storage_location TEXT,"
	" logged_model_id TEXT, manifest_digest TEXT,"
	" PRIMARY KEY (rm_id, version)) WITHOUT ROWID;"
	"CREATE INDEX model_versions_run ON model_versions (run_id);"
	"CREATE TABLE model_version_tags ("
	" rm_id INTEGER NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL, value TEXT,"
	" PRIMARY KEY (rm_id, version, key)) WITHOUT ROWID;"
	"CREATE TABLE model_cards ("
	" rm_id INTEGER NOT NULL, version INTEGER NOT NULL, card TEXT NOT NULL,"
	" updated INTEGER NOT NULL, updated_by TEXT,"
	" PRIMARY KEY (rm_id, version)) WITHOUT ROWID;"
	"CREATE TABLE promotion_events ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, rm_id INTEGER NOT NULL, kind TEXT NOT NULL,"
	" target TEXT NOT NULL, from_version INTEGER, to_version INTEGER, from_stage TEXT,"
	" to_stage TEXT, who TEXT, at INTEGER NOT NULL, reason TEXT, evidence TEXT);"
	"CREATE INDEX promotion_events_model ON promotion_events (rm_id, id);",

	/* 3: model-version search in its default order without a full sort */
	"CREATE INDEX model_versions_updated ON model_versions (last_updated_timestamp);",

	/* 4: a version records the path of its pinned files, not a URI (the
	 * registry composes mlflow-artifacts:/ URIs; every value so far was one) */
	"ALTER TABLE model_versions RENAME COLUMN storage_location TO pinned_files;"
	"UPDATE model_versions SET pinned_files = substr(pinned_files, 19)"
	" WHERE substr(pinned_files, 1, 18) = 'mlflow-artifacts:/';",

	/* 5: auth: users and API tokens (hashes only; sqlite_auth.c) */
	"CREATE TABLE auth_users ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,"
	" pw_hash TEXT NOT NULL, is_admin INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);"
	"CREATE TABLE auth_tokens ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL, name TEXT NOT NULL,"
	" hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL, expires_at INTEGER,"
	" last_used_at INTEGER, revoked_at INTEGER);"
	"CREATE INDEX auth_tokens_user ON auth_tokens (user_id, id);",

	/* 6: a token's scope: 'full' (what its user may do) or 'inference'
	 * (serving routes only) */
	"ALTER TABLE auth_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'full';",

	/* 7: the audit log (sqlite_audit.c, store/audit.h): append-only by
	 * trigger and hash-chained; the promotion history records whether its
	 * "who" was verified */
	"CREATE TABLE audit_log ("
	" seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, user_name TEXT NOT NULL,"
	" verified INTEGER NOT NULL, request_id TEXT NOT NULL, action TEXT NOT NULL,"
	" kind TEXT NOT NULL, resource TEXT NOT NULL, before TEXT, after TEXT,"
	" prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
	"CREATE INDEX audit_log_at ON audit_log (at_ms);"
	"CREATE INDEX audit_log_user ON audit_log (user_name, seq);"
	"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
	" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
	" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	"ALTER TABLE promotion_events ADD COLUMN who_verified INTEGER;",

	/* 8: authorisation: a role per user (users from before roles could
	 * write everything: editors, admins stay admins) and per-experiment and
	 * per-registered-model permissions (MLflow's READ, EDIT, MANAGE,
	 * NO_PERMISSIONS), kind 1 experiment (resource: its id), 2 registered
	 * model (resource: its name) */
	"ALTER TABLE auth_users ADD COLUMN role TEXT NOT NULL DEFAULT 'viewer';"
	"UPDATE auth_users SET role = CASE WHEN is_admin THEN 'admin' ELSE 'editor' END;"
	"CREATE TABLE auth_permissions ("
	" kind INTEGER NOT NULL, resource TEXT NOT NULL, user_id INTEGER NOT NULL,"
	" permission TEXT NOT NULL, PRIMARY KEY (kind, resource, user_id)) WITHOUT ROWID;"
	"CREATE INDEX auth_permissions_user ON auth_permissions (user_id);",

	/* 9: the experiment whose artifact root holds a proxy path, found by
	 * exact location (mw_store_exp_by_location, one seek per prefix) */
	"CREATE INDEX experiments_location ON experiments (artifact_location);",
};

/* The Default experiment "0", as MLflow's own schema seeds it. */
static int seed(void *tx, int version, int64_t now, struct mw_err *err)
{
	if (version != 1)
		return 0;
	char sql[256];
	snprintf(sql, sizeof sql,
		 "INSERT INTO experiments VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active', "
		 "%lld, %lld)",
		 (long long)now, (long long)now);
	return sqi_exec(tx, sql, err);
}

static const struct mw_store_migrations sqlite_migrations = {
	.table_sql = "CREATE TABLE IF NOT EXISTS schema_migrations ("
		     " version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
	.steps = migrations,
	.n = (int)(sizeof migrations / sizeof *migrations),
	.seed = seed,
};

static int sql_exec(void *tx, const char *sql, struct mw_err *err)
{
	return sqi_exec(tx, sql, err);
}

static int sql_query_int(void *tx, const char *sql, int64_t *out, struct mw_err *err)
{
	struct conn *c = tx;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sqi_sqerr(c, err, "query");
	int r = sqlite3_step(st);
	*out = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return sqi_sqerr(c, err, "query");
	return 0;
}

static const struct mw_store_sql sqlite_sql = {
	.exec = sql_exec,
	.query_int = sql_query_int,
};

/* ================================================================ open/close */

/* The database file named by a store URI, with SQLAlchemy's (and so MLflow's)
 * convention: sqlite:///relative/path.db (three slashes: relative to the
 * working directory) and sqlite:////absolute/path.db (four: absolute).  No
 * URI: <data_dir>/mw.db.  An in-memory database (sqlite://) cannot be shared
 * by several connections, so it is refused, as are a host part and query
 * parameters.  Messages never repeat the URI. */
static int db_path(const struct mw_store_opts *o, const char *uri, char **out, struct mw_err *err)
{
	static const char form[] = "use sqlite:///relative/path.db or sqlite:////absolute/path.db";
	if (!uri) {
		if (!o->data_dir || !*o->data_dir)
			return mw_err_set(err, MW_E_INVALID, "no data directory for the store");
		*out = mw_fs_join(o->data_dir, "mw.db");
		return 0;
	}
	const char *p = strchr(uri, ':');
	p = p ? p + 1 : uri;
	if (strncmp(p, "//", 2))
		return mw_err_set(err, MW_E_INVALID, "the SQLite store URI is malformed: %s", form);
	p += 2;
	if (*p && *p != '/')
		return mw_err_set(err, MW_E_INVALID,
				  "a SQLite store URI names no host (three slashes before a relative "
				  "path, four before an absolute one): %s",
				  form);
	if (*p)
		p++;
	if (!*p)
		return mw_err_set(err, MW_E_INVALID,
				  "the SQLite store URI names no file (an in-memory database cannot be "
				  "shared by mw's connections): %s",
				  form);
	if (strchr(p, '?'))
		return mw_err_set(err, MW_E_INVALID,
				  "query parameters in a SQLite store URI are not supported: %s",
				  form);
	*out = mw_xstrdup(p);
	return 0;
}

static void sq_close(void *impl);

static int sq_open(const struct mw_store_opts *o, const char *uri, void **impl, struct mw_err *err)
{
	char *path = NULL;
	int rc = db_path(o, uri, &path, err);
	if (rc)
		return rc;
	struct sq *q = mw_xcalloc(1, sizeof *q);
	q->path = path;
	pthread_mutex_init(&q->rmu, NULL);
	pthread_cond_init(&q->rcv, NULL);
	/* the write connection first: it creates the file the readers open */
	rc = conn_open(q->path, true, o->sync_full, &q->w, err);
	if (rc) {
		sq_close(q);
		return rc;
	}
	q->nreaders = o->read_conns > 0 ? o->read_conns : 4;
	q->readers = mw_xcalloc((size_t)q->nreaders, sizeof *q->readers);
	q->freelist = mw_xcalloc((size_t)q->nreaders, sizeof *q->freelist);
	for (int i = 0; i < q->nreaders; i++) {
		if ((rc = conn_open(q->path, false, o->sync_full, &q->readers[i], err))) {
			sq_close(q);
			return rc;
		}
		q->freelist[q->nfree++] = q->readers[i];
	}
	*impl = q;
	return 0;
}

/* Called after the store's writer drained: nothing writes any more. */
static void sq_close(void *impl)
{
	struct sq *q = impl;
	if (!q)
		return;
	for (int i = 0; i < q->nreaders; i++)
		conn_close(q->readers[i]);
	if (q->w) {
		struct mw_err e;
		sqi_exec(q->w, "PRAGMA wal_checkpoint(TRUNCATE)", &e);
	}
	conn_close(q->w);
	free(q->readers);
	free(q->freelist);
	free(q->path);
	free(q);
}

static void *sq_write_handle(void *impl)
{
	return ((struct sq *)impl)->w;
}

/* Every byte SQLite holds in this process (page caches of every connection,
 * prepared statements, schema); its own counter, kept by SQLite's malloc
 * wrapper. */
static uint64_t sq_memory(void *impl)
{
	(void)impl;
	sqlite3_int64 cur = 0, hi = 0;
	if (sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &cur, &hi, 0) != SQLITE_OK || cur < 0)
		return 0;
	return (uint64_t)cur;
}

static void sq_trim(void *impl)
{
	struct sq *q = impl;
	pthread_mutex_lock(&q->rmu);
	for (int i = 0; i < q->nfree; i++)
		sqlite3_db_release_memory(q->freelist[i]->db);
	pthread_mutex_unlock(&q->rmu);
}

static void tx_trim(void *tx)
{
	sqlite3_db_release_memory(((struct conn *)tx)->db);
}

/* ================================================================ query builder */

void sqi_qs(struct qb *q, const char *s)
{
	if (mw_buf_puts(&q->sql, s))
		return; /* sticky: sqi_qb_prepare refuses the query */
}

void sqi_qf(struct qb *q, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	/* pieces are column names and keywords: longer ones are a bug, refused */
	if (n < 0 || (size_t)n >= sizeof tmp)
		sqi_qs(q, "\x01"); /* not SQL: prepare fails */
	else
		sqi_qs(q, tmp);
}

void sqi_qb_init(struct qb *q)
{
	mw_buf_init(&q->sql, MW_SQL_MAX);
	q->b = NULL;
	q->nb = q->ab = 0;
	q->alias = 0;
}

void sqi_qb_release(struct qb *q)
{
	mw_buf_release(&q->sql);
	free(q->b);
}

struct bind *sqi_qb_next(struct qb *q)
{
	if (q->nb == q->ab) {
		q->ab = q->ab ? q->ab * 2 : 16;
		q->b = mw_xrealloc(q->b, (size_t)q->ab * sizeof *q->b);
	}
	struct bind *b = &q->b[q->nb++];
	memset(b, 0, sizeof *b);
	return b;
}

void sqi_qb_text(struct qb *q, const char *s)
{
	struct bind *b = sqi_qb_next(q);
	b->type = 3;
	b->s = s;
	sqi_qs(q, "?");
}

void sqi_qb_int(struct qb *q, int64_t v)
{
	struct bind *b = sqi_qb_next(q);
	b->type = 1;
	b->i = v;
	sqi_qs(q, "?");
}

void sqi_qb_num(struct qb *q, const struct mw_clause *cl)
{
	struct bind *b = sqi_qb_next(q);
	if (cl->num == (double)cl->inum) {
		b->type = 1;
		b->i = cl->inum;
	} else {
		b->type = 2;
		b->d = cl->num;
	}
	sqi_qs(q, "?");
}


static const char *cmp_sql(enum mw_cmp c)
{
	switch (c) {
	case MW_CMP_EQ: return " = ";
	case MW_CMP_NE: return " != ";
	case MW_CMP_GT: return " > ";
	case MW_CMP_GE: return " >= ";
	case MW_CMP_LT: return " < ";
	case MW_CMP_LE: return " <= ";
	case MW_CMP_LIKE: return " LIKE ";
	case MW_CMP_IN: return " IN ";
	case MW_CMP_NOT_IN: return " NOT IN ";
	default: return " = ";
	}
}

/* "<col> <op> <value>" for a string or number clause against a column expression. */
void sqi_qb_cmp(struct qb *q, const char *col, const struct mw_clause *cl)
{
	if (cl->cmp == MW_CMP_ILIKE) {
		sqi_qf(q, "lower(%s) LIKE lower(", col);
		sqi_qb_text(q, cl->str);
		QS(q, ")");
		return;
	}
	if (cl->cmp == MW_CMP_LIKE) {
		/* LIKE with case_sensitive_like=ON; no ESCAPE, as in MLflow */
		sqi_qf(q, "%s LIKE ", col);
		sqi_qb_text(q, cl->str);
		return;
	}
	if (cl->cmp == MW_CMP_IN || cl->cmp == MW_CMP_NOT_IN) {
		sqi_qf(q, "%s%s(", col, cmp_sql(cl->cmp));
		for (size_t i = 0; i < cl->nlist; i++) {
			if (i)
				QS(q, ", ");
			sqi_qb_text(q, cl->list[i]);
		}
		QS(q, ")");
		return;
	}
	sqi_qf(q, "%s%s", col, cmp_sql(cl->cmp));
	if (cl->is_num)
		sqi_qb_num(q, cl);
	else
		sqi_qb_text(q, cl->str);
}

int sqi_qb_prepare(struct conn *c, struct qb *q, sqlite3_stmt **out, struct mw_err *err)
{
	sqlite3_stmt *st;
	if (mw_buf_error(&q->sql))
		return mw_err_set(err, MW_E_INVALID,
				  "the search is too large to run (its SQL would pass %zu bytes)",
				  MW_SQL_MAX);
	if (sqlite3_prepare_v2(c->db, q->sql.data, (int)q->sql.len, &st, NULL) != SQLITE_OK) {
		mw_debug("search SQL: %s", q->sql.data);
		return sqi_sqerr(c, err, "search");
	}
	for (int i = 0; i < q->nb; i++) {
		struct bind *b = &q->b[i];
		switch (b->type) {
		case 1: sqlite3_bind_int64(st, i + 1, b->i); break;
		case 2: sqlite3_bind_double(st, i + 1, b->d); break;
		case 3: sqlite3_bind_text(st, i + 1, b->s, -1, SQLITE_STATIC); break;
		default: sqlite3_bind_null(st, i + 1);
		}
	}
	*out = st;
	return 0;
}

void sqi_qb_page(struct qb *q, const struct mw_page *p)
{
	QS(q, " LIMIT ");
	sqi_qb_int(q, p->max_results + 1);
	QS(q, " OFFSET ");
	sqi_qb_int(q, p->offset);
}

void sqi_qb_view(struct qb *q, const char *col, enum mw_view v)
{
	if (v == MW_VIEW_ACTIVE)
		sqi_qf(q, " AND %s = 'active'", col);
	else if (v == MW_VIEW_DELETED)
		sqi_qf(q, " AND %s = 'deleted'", col);
}

/* NULLs (and NaN) last in either direction. */
void sqi_qb_order_col(struct qb *q, const char *col, const char *nan_col, bool asc)
{
	/* numbers, then NaN, then missing; a plain "col DESC" keeps index order usable
	 * (SQLite sorts NULL first ascending, last descending) */
	if (nan_col)
		sqi_qf(q, "coalesce(%s, 2), %s %s", nan_col, col, asc ? "ASC" : "DESC");
	else
		sqi_qf(q, "%s %s", col, asc ? "ASC NULLS LAST" : "DESC");
}

int sqi_qb_rows(struct mw_store *store, struct qb *q, const struct mw_page *p, struct mw_arena *a,
		size_t size,
		bool (*row)(struct conn *c, sqlite3_stmt *st, struct mw_arena *a, void *slot,
			    struct mw_err *err),
		void **out, size_t *n, bool *more, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c) {
		sqi_qb_release(q);
		return -err->code;
	}
	sqlite3_stmt *st;
	int rc = sqi_qb_prepare(c, q, &st, err);
	if (!rc) {
		struct mw_store_vec v = {0};
		int64_t seen = 0;
		int r;
		*more = false;
		while ((r = sqlite3_step(st)) == SQLITE_ROW) {
			if (seen++ == p->max_results) {
				*more = true;
				break;
			}
			void *slot = mw_store_vec_push(&v, a, size);
			struct mw_err rerr = {0};
			if (!row(c, st, a, slot, &rerr)) {
				v.n--; /* e.g. a row deleted meanwhile */
				continue;
			}
			int t = p->take ? p->take(p->ud, slot, p->offset + seen - 1, err) : 0;
			/* the answer is full: this row starts the next page */
			if (t == MW_PAGE_FULL) {
				v.n--;
				*more = true;
				break;
			}
			if (t) {
				rc = t;
				break;
			}
		}
		if (!rc && r != SQLITE_ROW && r != SQLITE_DONE)
			rc = sqi_sqerr(c, err, "search");
		sqlite3_finalize(st);
		if (!rc) {
			*out = v.v;
			*n = v.n;
		}
	}
	sqi_rd_end(store, c);
	sqi_qb_release(q);
	return rc;
}

/* ================================================================ the backend */

const struct mw_store_backend mw_store_sqlite = {
	.scheme = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.trim = sq_trim,
	.memory = sq_memory,
	.write_handle = sq_write_handle,
	.txn = &sqlite_txn,
	.sql = &sqlite_sql,
	.migrations = &sqlite_migrations,
	.tracking = &mw_sqlite_tracking_ops,
	.registry = &mw_sqlite_registry_ops,
	.artifacts = &mw_sqlite_artifacts_ops,
	.auth = &mw_sqlite_auth_ops,
	.audit = &mw_sqlite_audit_ops,
};
