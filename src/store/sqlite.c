/*
 * sqlite.c - the embedded metadata backend (SQLite 3, WAL).
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
 * Values: NaN metric values are stored as 0 with is_nan=1 (SQLite turns a
 * bound NaN into NULL); +-Inf are stored as REAL infinities.
 */
#include "store/sqlite_int.h"

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
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

void sqi_jset_str(json_t *o, const char *k, const char *v)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
}

void sqi_jset_arr(json_t *o, const char *k, json_t *a)
{
	if (json_array_size(a))
		json_object_set_new(o, k, a);
	else
		json_decref(a);
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
};

/* A job on the write connection, through the neutral writer (writer.c). */
struct tramp {
	int (*fn)(struct conn *c, void *arg, struct mw_err *err);
	void *arg;
};

static int trampoline(void *tx, void *p, struct mw_err *err)
{
	struct tramp *t = p;
	return t->fn(tx, t->arg, err);
}

int sqi_submit(struct mw_store *store, int (*fn)(struct conn *, void *, struct mw_err *),
	       void *arg, struct mw_err *err)
{
	struct tramp t = {fn, arg};
	return mw_store_submit(store, trampoline, &t, err);
}

/* A write job that builds a result: on success the result goes to *out, on
 * failure whatever the job built is dropped. */
int sqi_submit_out(struct mw_store *store, int (*fn)(struct conn *, void *, struct mw_err *),
		   void *arg, json_t **result, json_t **out, struct mw_err *err)
{
	int rc = sqi_submit(store, fn, arg, err);
	if (rc) {
		json_decref(*result);
		*result = NULL;
	} else {
		*out = *result;
	}
	return rc;
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
static int db_path(const struct mw_store_opts *o, const char *uri, char **out,
		   struct mw_err *err)
{
	static const char form[] =
		"use sqlite:///relative/path.db or sqlite:////absolute/path.db";
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
				  "query parameters in a SQLite store URI are not supported: %s", form);
	*out = mw_xstrdup(p);
	return 0;
}

static void sq_close(void *impl);

static int sq_open(const struct mw_store_opts *o, const char *uri, void **impl,
		   struct mw_err *err)
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

/* ================================================================ entities */

static const char SQL_EXP_BY_ID[] =
	"SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time,"
	" last_update_time FROM experiments WHERE experiment_id = ?";
static const char SQL_EXP_BY_NAME[] =
	"SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time,"
	" last_update_time FROM experiments WHERE name = ?";
static const char SQL_EXP_TAGS[] =
	"SELECT key, value FROM experiment_tags WHERE experiment_id = ? ORDER BY key";

json_t *sqi_kv_rows(struct conn *c, const char *sql, const char *id, int64_t iid,
		       struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, sql, err);
	if (!st)
		return NULL;
	if (id)
		sqi_bind_text(st, 1, id);
	else
		sqlite3_bind_int64(st, 1, iid);
	json_t *a = json_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *kv = json_object();
		sqi_jset_str(kv, "key", sqi_col_text(st, 0));
		json_object_set_new(kv, "value", json_string(sqi_col_text(st, 1) ? sqi_col_text(st, 1) : ""));
		json_array_append_new(a, kv);
	}
	sqlite3_reset(st);
	return a;
}

/* Experiment from a row of SQL_EXP_BY_*; st is reset by the caller. */
static json_t *exp_row(struct conn *c, sqlite3_stmt *st, struct mw_err *err)
{
	json_t *e = json_object();
	int64_t id = sqlite3_column_int64(st, 0);
	char ids[32];
	snprintf(ids, sizeof ids, "%lld", (long long)id);
	json_object_set_new(e, "experiment_id", json_string(ids));
	sqi_jset_str(e, "name", sqi_col_text(st, 1));
	sqi_jset_str(e, "artifact_location", sqi_col_text(st, 2));
	sqi_jset_str(e, "lifecycle_stage", sqi_col_text(st, 3));
	json_object_set_new(e, "creation_time", json_integer(sqlite3_column_int64(st, 4)));
	json_object_set_new(e, "last_update_time", json_integer(sqlite3_column_int64(st, 5)));
	json_t *tags = sqi_kv_rows(c, SQL_EXP_TAGS, NULL, id, err);
	if (tags)
		sqi_jset_arr(e, "tags", tags);
	return e;
}

static bool parse_exp_id(const char *id, int64_t *out)
{
	return id && !mw_parse_int64(id, out) && *out >= 0;
}

int sqi_exp_not_found(const char *id, struct mw_err *err)
{
	return mw_err_set(err, MW_E_NOT_FOUND, "No Experiment with id=%s exists", id);
}

/* Load an experiment by id; *stage gets its lifecycle stage if non-NULL. */
int sqi_exp_load(struct conn *c, const char *id, json_t **out, struct mw_err *err)
{
	int64_t iid;
	if (!parse_exp_id(id, &iid))
		return sqi_exp_not_found(id, err);
	sqlite3_stmt *st = sqi_prep(c, SQL_EXP_BY_ID, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, iid);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return sqi_exp_not_found(id, err);
	}
	json_t *e = exp_row(c, st, err);
	sqlite3_reset(st);
	*out = e;
	return 0;
}

int sqi_exp_require_active(struct conn *c, const char *id, char **artifact_location,
			      struct mw_err *err)
{
	json_t *e = NULL;
	int rc = sqi_exp_load(c, id, &e, err);
	if (rc)
		return rc;
	const char *stage = json_string_value(json_object_get(e, "lifecycle_stage"));
	if (!stage || strcmp(stage, "active")) {
		int rc2 = mw_err_set(err, MW_E_INVALID,
				     "The experiment %s must be in the 'active' state. Current state is %s.",
				     id, stage ? stage : "?");
		json_decref(e);
		return rc2;
	}
	if (artifact_location)
		*artifact_location =
			mw_xstrdup(json_string_value(json_object_get(e, "artifact_location")));
	json_decref(e);
	return 0;
}

/* ---------------------------------------------------------------- runs */

static const char SQL_RUN_INFO[] =
	"SELECT run_uuid, name, experiment_id, user_id, status, start_time, end_time,"
	" artifact_uri, lifecycle_stage FROM runs WHERE run_uuid = ?";
static const char SQL_RUN_LATEST[] =
	"SELECT key, value, is_nan, timestamp, step FROM latest_metrics WHERE run_uuid = ?"
	" ORDER BY key";
static const char SQL_RUN_PARAMS[] = "SELECT key, value FROM params WHERE run_uuid = ? ORDER BY key";
static const char SQL_RUN_TAGS[] = "SELECT key, value FROM tags WHERE run_uuid = ? ORDER BY key";
static const char SQL_RUN_DATASETS[] =
	"SELECT i.input_uuid, d.name, d.digest, d.source_type, d.source, d.schema, d.profile"
	" FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id"
	" WHERE i.destination_type = 'RUN' AND i.destination_id = ? AND i.source_type = 'DATASET'"
	" ORDER BY i.rowid";
static const char SQL_INPUT_TAGS[] =
	"SELECT key, value FROM input_tags WHERE input_uuid = ? ORDER BY key";
static const char SQL_RUN_MODEL_INPUTS[] =
	"SELECT source_id FROM inputs WHERE destination_type = 'RUN' AND destination_id = ?"
	" AND source_type = 'MODEL' ORDER BY rowid";
static const char SQL_RUN_OUTPUTS[] =
	"SELECT model_id, step FROM run_outputs WHERE run_uuid = ? ORDER BY model_id";

json_t *sqi_metric_json(const char *key, double value, int is_nan, int64_t ts, int64_t step)
{
	json_t *m = json_object();
	json_object_set_new(m, "key", json_string(key));
	json_object_set_new(m, "value", is_nan ? json_string("NaN") : mw_json_double(value));
	json_object_set_new(m, "timestamp", json_integer(ts));
	json_object_set_new(m, "step", json_integer(step));
	return m;
}

static json_t *run_info_row(sqlite3_stmt *st)
{
	json_t *i = json_object();
	const char *id = sqi_col_text(st, 0);
	sqi_jset_str(i, "run_id", id);
	sqi_jset_str(i, "run_uuid", id);
	sqi_jset_str(i, "run_name", sqi_col_text(st, 1));
	char ex[32];
	snprintf(ex, sizeof ex, "%lld", (long long)sqlite3_column_int64(st, 2));
	json_object_set_new(i, "experiment_id", json_string(ex));
	sqi_jset_str(i, "user_id", sqi_col_text(st, 3));
	sqi_jset_str(i, "status", sqi_col_text(st, 4));
	if (sqlite3_column_type(st, 5) != SQLITE_NULL)
		json_object_set_new(i, "start_time", json_integer(sqlite3_column_int64(st, 5)));
	if (sqlite3_column_type(st, 6) != SQLITE_NULL)
		json_object_set_new(i, "end_time", json_integer(sqlite3_column_int64(st, 6)));
	sqi_jset_str(i, "artifact_uri", sqi_col_text(st, 7));
	sqi_jset_str(i, "lifecycle_stage", sqi_col_text(st, 8));
	return i;
}

int sqi_run_not_found(const char *id, struct mw_err *err)
{
	return mw_err_set(err, MW_E_NOT_FOUND, "Run with id=%s not found", id);
}

/* Run info only; stage gets a copy of lifecycle_stage when non-NULL. */
int sqi_run_info_load(struct conn *c, const char *id, json_t **out, struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_RUN_INFO, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return sqi_run_not_found(id, err);
	}
	*out = run_info_row(st);
	sqlite3_reset(st);
	return 0;
}

int sqi_run_load(struct conn *c, const char *id, json_t **out, struct mw_err *err)
{
	json_t *info = NULL;
	int rc = sqi_run_info_load(c, id, &info, err);
	if (rc)
		return rc;
	json_t *run = json_object();
	json_object_set_new(run, "info", info);

	json_t *data = json_object();
	json_t *metrics = json_array();
	sqlite3_stmt *st = sqi_prep(c, SQL_RUN_LATEST, err);
	if (st) {
		sqi_bind_text(st, 1, id);
		while (sqlite3_step(st) == SQLITE_ROW)
			json_array_append_new(
				metrics, sqi_metric_json(sqi_col_text(st, 0), sqlite3_column_double(st, 1),
						     sqlite3_column_int(st, 2),
						     sqlite3_column_int64(st, 3),
						     sqlite3_column_int64(st, 4)));
		sqlite3_reset(st);
	}
	sqi_jset_arr(data, "metrics", metrics);
	json_t *params = sqi_kv_rows(c, SQL_RUN_PARAMS, id, 0, err);
	if (params)
		sqi_jset_arr(data, "params", params);
	json_t *tags = sqi_kv_rows(c, SQL_RUN_TAGS, id, 0, err);
	if (tags)
		sqi_jset_arr(data, "tags", tags);
	json_object_set_new(run, "data", data);

	json_t *inputs = json_object();
	json_t *dins = json_array();
	st = sqi_prep(c, SQL_RUN_DATASETS, err);
	if (st) {
		sqi_bind_text(st, 1, id);
		while (sqlite3_step(st) == SQLITE_ROW) {
			json_t *di = json_object();
			json_t *itags = sqi_kv_rows(c, SQL_INPUT_TAGS, sqi_col_text(st, 0), 0, err);
			if (itags)
				sqi_jset_arr(di, "tags", itags);
			json_t *ds = json_object();
			sqi_jset_str(ds, "name", sqi_col_text(st, 1));
			sqi_jset_str(ds, "digest", sqi_col_text(st, 2));
			sqi_jset_str(ds, "source_type", sqi_col_text(st, 3));
			sqi_jset_str(ds, "source", sqi_col_text(st, 4));
			sqi_jset_str(ds, "schema", sqi_col_text(st, 5));
			sqi_jset_str(ds, "profile", sqi_col_text(st, 6));
			json_object_set_new(di, "dataset", ds);
			json_array_append_new(dins, di);
		}
		sqlite3_reset(st);
	}
	sqi_jset_arr(inputs, "dataset_inputs", dins);
	json_t *mins = json_array();
	st = sqi_prep(c, SQL_RUN_MODEL_INPUTS, err);
	if (st) {
		sqi_bind_text(st, 1, id);
		while (sqlite3_step(st) == SQLITE_ROW) {
			json_t *mi = json_object();
			sqi_jset_str(mi, "model_id", sqi_col_text(st, 0));
			json_array_append_new(mins, mi);
		}
		sqlite3_reset(st);
	}
	sqi_jset_arr(inputs, "model_inputs", mins);
	json_object_set_new(run, "inputs", inputs);

	json_t *outputs = json_object();
	json_t *mouts = json_array();
	st = sqi_prep(c, SQL_RUN_OUTPUTS, err);
	if (st) {
		sqi_bind_text(st, 1, id);
		while (sqlite3_step(st) == SQLITE_ROW) {
			json_t *mo = json_object();
			sqi_jset_str(mo, "model_id", sqi_col_text(st, 0));
			json_object_set_new(mo, "step", json_integer(sqlite3_column_int64(st, 1)));
			json_array_append_new(mouts, mo);
		}
		sqlite3_reset(st);
	}
	sqi_jset_arr(outputs, "model_outputs", mouts);
	json_object_set_new(run, "outputs", outputs);
	*out = run;
	return 0;
}

static const char SQL_RUN_STAGE_GET[] = "SELECT lifecycle_stage FROM runs WHERE run_uuid = ?";

int sqi_run_require_active(struct conn *c, const char *id, struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_RUN_STAGE_GET, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, id);
	int rc = 0;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = sqi_run_not_found(id, err);
	} else {
		const char *stage = sqi_col_text(st, 0);
		if (!stage || strcmp(stage, "active"))
			rc = mw_err_set(err, MW_E_INVALID,
					"The run %s must be in the 'active' state. Current state is %s.",
					id, stage ? stage : "?");
	}
	sqlite3_reset(st);
	return rc;
}

/* ================================================================ query builder */



void sqi_qb_init(struct qb *q)
{
	mw_buf_init(&q->sql, 0);
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
	mw_buf_puts(&q->sql, "?");
}

void sqi_qb_int(struct qb *q, int64_t v)
{
	struct bind *b = sqi_qb_next(q);
	b->type = 1;
	b->i = v;
	mw_buf_puts(&q->sql, "?");
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
	mw_buf_puts(&q->sql, "?");
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
		mw_buf_printf(&q->sql, "lower(%s) LIKE lower(", col);
		sqi_qb_text(q, cl->str);
		QS(q, ")");
		return;
	}
	if (cl->cmp == MW_CMP_LIKE) {
		/* LIKE with case_sensitive_like=ON; no ESCAPE, as in MLflow */
		mw_buf_printf(&q->sql, "%s LIKE ", col);
		sqi_qb_text(q, cl->str);
		return;
	}
	if (cl->cmp == MW_CMP_IN || cl->cmp == MW_CMP_NOT_IN) {
		mw_buf_printf(&q->sql, "%s%s(", col, cmp_sql(cl->cmp));
		for (size_t i = 0; i < cl->nlist; i++) {
			if (i)
				QS(q, ", ");
			sqi_qb_text(q, cl->list[i]);
		}
		QS(q, ")");
		return;
	}
	mw_buf_printf(&q->sql, "%s%s", col, cmp_sql(cl->cmp));
	if (cl->is_num)
		sqi_qb_num(q, cl);
	else
		sqi_qb_text(q, cl->str);
}

int sqi_qb_prepare(struct conn *c, struct qb *q, sqlite3_stmt **out, struct mw_err *err)
{
	sqlite3_stmt *st;
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
		mw_buf_printf(&q->sql, " AND %s = 'active'", col);
	else if (v == MW_VIEW_DELETED)
		mw_buf_printf(&q->sql, " AND %s = 'deleted'", col);
}

/* NULLs (and NaN) last in either direction. */
void sqi_qb_order_col(struct qb *q, const char *col, const char *nan_col, bool asc)
{
	/* numbers, then NaN, then missing; a plain "col DESC" keeps index order usable
	 * (SQLite sorts NULL first ascending, last descending) */
	if (nan_col)
		mw_buf_printf(&q->sql, "coalesce(%s, 2), %s %s", nan_col, col, asc ? "ASC" : "DESC");
	else
		mw_buf_printf(&q->sql, "%s %s", col, asc ? "ASC NULLS LAST" : "DESC");
}

/* Run a built search query and collect one page of entities: row turns a
 * result row into an entity (NULL skips it, e.g. a row deleted meanwhile);
 * the query asked for max_results + 1 rows, so a last extra row means more.
 * Frees q.  out: {field: [...]} (omitted when empty). */
int sqi_qb_search(struct mw_store *store, struct qb *q, const struct mw_page *p, const char *field,
		  json_t *(*row)(struct conn *c, sqlite3_stmt *st, struct mw_err *err),
		  json_t **out, bool *more, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c) {
		sqi_qb_release(q);
		return -err->code;
	}
	sqlite3_stmt *st;
	int rc = sqi_qb_prepare(c, q, &st, err);
	if (!rc) {
		json_t *arr = json_array();
		int64_t n = 0;
		int r;
		*more = false;
		while ((r = sqlite3_step(st)) == SQLITE_ROW) {
			if (n++ == p->max_results) {
				*more = true;
				break;
			}
			json_t *e = row(c, st, err);
			if (e)
				json_array_append_new(arr, e);
		}
		if (r != SQLITE_ROW && r != SQLITE_DONE)
			rc = sqi_sqerr(c, err, "search");
		sqlite3_finalize(st);
		if (rc) {
			json_decref(arr);
		} else {
			*out = json_object();
			sqi_jset_arr(*out, field, arr);
		}
	}
	sqi_rd_end(store, c);
	sqi_qb_release(q);
	return rc;
}

/* ================================================================ experiments */

struct exp_create_arg {
	const char *name, *loc, *root;
	const struct mw_kv *tags;
	size_t ntags;
	int64_t now;
	char *id_out;
};

static const char SQL_EXP_INSERT[] =
	"INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time,"
	" last_update_time) VALUES (?, '', 'active', ?, ?)";
static const char SQL_EXP_SET_LOC[] =
	"UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?";
static const char SQL_EXP_TAG_SET[] =
	"INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?)"
	" ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value";

static int job_exp_create(struct conn *c, void *p, struct mw_err *err)
{
	struct exp_create_arg *a = p;
	sqlite3_stmt *st = sqi_prep(c, SQL_EXP_BY_NAME, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->name);
	bool exists = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	if (exists)
		return mw_err_set(err, MW_E_EXISTS, "Experiment(name=%s) already exists.", a->name);
	if (!(st = sqi_prep(c, SQL_EXP_INSERT, err)))
		return -err->code;
	sqi_bind_text(st, 1, a->name);
	sqlite3_bind_int64(st, 2, a->now);
	sqlite3_bind_int64(st, 3, a->now);
	int rc = sqi_step_done(c, st, err);
	if (rc)
		return rc;
	int64_t id = sqlite3_last_insert_rowid(c->db);
	snprintf(a->id_out, 32, "%lld", (long long)id);
	char *loc;
	if (a->loc && *a->loc) {
		loc = mw_xstrdup(a->loc);
	} else {
		const char *root = a->root ? a->root : "mlflow-artifacts:/";
		size_t n = strlen(root) + 32;
		loc = mw_xmalloc(n);
		size_t rl = strlen(root);
		snprintf(loc, n, "%s%s%lld", root, rl && root[rl - 1] == '/' ? "" : "/",
			 (long long)id);
	}
	if (!(st = sqi_prep(c, SQL_EXP_SET_LOC, err))) {
		free(loc);
		return -err->code;
	}
	sqi_bind_text(st, 1, loc);
	sqlite3_bind_int64(st, 2, id);
	rc = sqi_step_done(c, st, err);
	free(loc);
	for (size_t i = 0; !rc && i < a->ntags; i++) {
		if (!(st = sqi_prep(c, SQL_EXP_TAG_SET, err)))
			return -err->code;
		sqlite3_bind_int64(st, 1, id);
		sqi_bind_text(st, 2, a->tags[i].key);
		sqi_bind_text(st, 3, a->tags[i].value);
		rc = sqi_step_done(c, st, err);
	}
	return rc;
}

static int sq_exp_create(struct mw_store *store, const char *name, const char *loc, const char *root,
			 const struct mw_kv *tags, size_t ntags, int64_t now, char id[32],
			 struct mw_err *err)
{
	struct exp_create_arg a = {name, loc, root, tags, ntags, now, id};
	return sqi_submit(store, job_exp_create, &a, err);
}

static int sq_exp_get(struct mw_store *store, const char *id, json_t **out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = sqi_exp_load(c, id, out, err);
	sqi_rd_end(store, c);
	return rc;
}

static int sq_exp_get_by_name(struct mw_store *store, const char *name, json_t **out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = 0;
	sqlite3_stmt *st = sqi_prep(c, SQL_EXP_BY_NAME, err);
	if (!st) {
		rc = -err->code;
	} else {
		sqi_bind_text(st, 1, name);
		if (sqlite3_step(st) == SQLITE_ROW)
			*out = exp_row(c, st, err);
		else
			rc = mw_err_set(err, MW_E_NOT_FOUND, "Could not find experiment with name '%s'",
					name);
		sqlite3_reset(st);
	}
	sqi_rd_end(store, c);
	return rc;
}

static const char *exp_attr_col(const char *k)
{
	if (!strcmp(k, "name")) return "e.name";
	if (!strcmp(k, "creation_time")) return "e.creation_time";
	if (!strcmp(k, "last_update_time")) return "e.last_update_time";
	if (!strcmp(k, "experiment_id")) return "e.experiment_id";
	return NULL;
}

static int sq_exp_search(struct mw_store *store, const struct mw_filter *f, const struct mw_order *o,
			 size_t no, enum mw_view v, const struct mw_page *p, json_t **out,
			 bool *more, struct mw_err *err)
{
	struct qb q;
	sqi_qb_init(&q);
	QS(&q, "SELECT e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage,"
	       " e.creation_time, e.last_update_time FROM experiments e WHERE 1");
	sqi_qb_view(&q, "e.lifecycle_stage", v);
	for (size_t i = 0; f && i < f->n; i++) {
		const struct mw_clause *cl = &f->c[i];
		QS(&q, " AND ");
		if (cl->kind == MW_KEY_TAG) {
			QS(&q, "EXISTS (SELECT 1 FROM experiment_tags t WHERE"
			       " t.experiment_id = e.experiment_id AND t.key = ");
			sqi_qb_text(&q, cl->key);
			QS(&q, " AND ");
			sqi_qb_cmp(&q, "t.value", cl);
			QS(&q, ")");
		} else {
			const char *col = exp_attr_col(cl->key);
			sqi_qb_cmp(&q, col ? col : "NULL", cl);
		}
	}
	QS(&q, " ORDER BY ");
	bool has_id = false;
	for (size_t i = 0; i < no; i++) {
		const char *col = exp_attr_col(o[i].key);
		if (!col)
			continue;
		if (!strcmp(o[i].key, "experiment_id"))
			has_id = true;
		mw_buf_printf(&q.sql, "%s %s, ", col, o[i].asc ? "ASC" : "DESC");
	}
	if (!no)
		QS(&q, "e.creation_time DESC, ");
	QS(&q, has_id ? "1" : "e.experiment_id DESC");
	sqi_qb_page(&q, p);
	return sqi_qb_search(store, &q, p, "experiments", exp_row, out, more, err);
}

struct exp_upd_arg {
	const char *id, *name, *key, *value;
	bool flag;
	int64_t now;
};

static const char SQL_EXP_RENAME[] =
	"UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?";

static int job_exp_rename(struct conn *c, void *p, struct mw_err *err)
{
	struct exp_upd_arg *a = p;
	int rc = sqi_exp_require_active(c, a->id, NULL, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_EXP_BY_NAME, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->name);
	bool taken = sqlite3_step(st) == SQLITE_ROW &&
		     strcmp(a->id, sqi_col_text(st, 0) ? sqi_col_text(st, 0) : "");
	sqlite3_reset(st);
	if (taken)
		return mw_err_set(err, MW_E_EXISTS, "Experiment(name=%s) already exists.", a->name);
	if (!(st = sqi_prep(c, SQL_EXP_RENAME, err)))
		return -err->code;
	sqi_bind_text(st, 1, a->name);
	sqlite3_bind_int64(st, 2, a->now);
	sqlite3_bind_int64(st, 3, strtoll(a->id, NULL, 10));
	return sqi_step_done(c, st, err);
}

static int sq_exp_rename(struct mw_store *store, const char *id, const char *name, int64_t now,
			 struct mw_err *err)
{
	struct exp_upd_arg a = {.id = id, .name = name, .now = now};
	return sqi_submit(store, job_exp_rename, &a, err);
}

static const char SQL_EXP_STAGE[] =
	"UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?";
static const char SQL_EXP_RUNS_DELETE[] =
	"UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ?"
	" WHERE experiment_id = ? AND lifecycle_stage = 'active'";
static const char SQL_EXP_RUNS_RESTORE[] =
	"UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL"
	" WHERE experiment_id = ? AND lifecycle_stage = 'deleted'";

static int job_exp_set_deleted(struct conn *c, void *p, struct mw_err *err)
{
	struct exp_upd_arg *a = p;
	json_t *e = NULL;
	int rc = sqi_exp_load(c, a->id, &e, err);
	if (rc)
		return rc;
	json_decref(e);
	int64_t id = strtoll(a->id, NULL, 10);
	sqlite3_stmt *st = sqi_prep(c, SQL_EXP_STAGE, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->flag ? "deleted" : "active");
	sqlite3_bind_int64(st, 2, a->now);
	sqlite3_bind_int64(st, 3, id);
	if ((rc = sqi_step_done(c, st, err)))
		return rc;
	if (!(st = sqi_prep(c, a->flag ? SQL_EXP_RUNS_DELETE : SQL_EXP_RUNS_RESTORE, err)))
		return -err->code;
	if (a->flag) {
		sqlite3_bind_int64(st, 1, a->now);
		sqlite3_bind_int64(st, 2, id);
	} else {
		sqlite3_bind_int64(st, 1, id);
	}
	return sqi_step_done(c, st, err);
}

static int sq_exp_set_deleted(struct mw_store *store, const char *id, bool del, int64_t now,
			      struct mw_err *err)
{
	struct exp_upd_arg a = {.id = id, .flag = del, .now = now};
	return sqi_submit(store, job_exp_set_deleted, &a, err);
}

static int job_exp_set_tag(struct conn *c, void *p, struct mw_err *err)
{
	struct exp_upd_arg *a = p;
	int rc = sqi_exp_require_active(c, a->id, NULL, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_EXP_TAG_SET, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, strtoll(a->id, NULL, 10));
	sqi_bind_text(st, 2, a->key);
	sqi_bind_text(st, 3, a->value);
	return sqi_step_done(c, st, err);
}

static int sq_exp_set_tag(struct mw_store *store, const char *id, const char *k, const char *v,
			  struct mw_err *err)
{
	struct exp_upd_arg a = {.id = id, .key = k, .value = v};
	return sqi_submit(store, job_exp_set_tag, &a, err);
}

static const char SQL_EXP_TAG_DEL[] =
	"DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?";

static int job_exp_delete_tag(struct conn *c, void *p, struct mw_err *err)
{
	struct exp_upd_arg *a = p;
	int rc = sqi_exp_require_active(c, a->id, NULL, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_EXP_TAG_DEL, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, strtoll(a->id, NULL, 10));
	sqi_bind_text(st, 2, a->key);
	if ((rc = sqi_step_done(c, st, err)))
		return rc;
	if (!sqlite3_changes(c->db))
		return mw_err_set(err, MW_E_NOT_FOUND, "No tag with name: %s in experiment with id %s",
				  a->key, a->id);
	return 0;
}

static int sq_exp_delete_tag(struct mw_store *store, const char *id, const char *k, struct mw_err *err)
{
	struct exp_upd_arg a = {.id = id, .key = k};
	return sqi_submit(store, job_exp_delete_tag, &a, err);
}

/* ================================================================ runs: writes */

static const char SQL_RUN_INSERT[] =
	"INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time,"
	" end_time, artifact_uri, lifecycle_stage) VALUES (?, ?, ?, ?, 'RUNNING', ?, NULL, ?, 'active')";
static const char SQL_TAG_SET[] =
	"INSERT INTO tags (run_uuid, key, value) VALUES (?, ?, ?)"
	" ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value";

struct run_create_arg {
	const struct mw_run_create *rc;
	json_t *out;
};

int sqi_tag_set(struct conn *c, const char *run, const char *k, const char *v,
		   struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_TAG_SET, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, run);
	sqi_bind_text(st, 2, k);
	sqi_bind_text(st, 3, v ? v : "");
	return sqi_step_done(c, st, err);
}

static int job_run_create(struct conn *c, void *p, struct mw_err *err)
{
	struct run_create_arg *a = p;
	const struct mw_run_create *r = a->rc;
	char *loc = NULL;
	int rc = sqi_exp_require_active(c, r->experiment_id, &loc, err);
	if (rc)
		return rc;
	size_t n = strlen(loc) + strlen(r->run_id) + 16;
	char *uri = mw_xmalloc(n);
	size_t ll = strlen(loc);
	snprintf(uri, n, "%s%s%s/artifacts", loc, ll && loc[ll - 1] == '/' ? "" : "/", r->run_id);
	free(loc);
	sqlite3_stmt *st = sqi_prep(c, SQL_RUN_INSERT, err);
	if (!st) {
		free(uri);
		return -err->code;
	}
	sqi_bind_text(st, 1, r->run_id);
	sqi_bind_text(st, 2, r->run_name);
	sqlite3_bind_int64(st, 3, strtoll(r->experiment_id, NULL, 10));
	sqi_bind_text(st, 4, r->user_id);
	sqlite3_bind_int64(st, 5, r->start_time);
	sqi_bind_text(st, 6, uri);
	rc = sqi_step_done(c, st, err);
	free(uri);
	for (size_t i = 0; !rc && i < r->ntags; i++)
		rc = sqi_tag_set(c, r->run_id, r->tags[i].key, r->tags[i].value, err);
	if (!rc)
		rc = sqi_run_load(c, r->run_id, &a->out, err);
	return rc;
}

static int sq_run_create(struct mw_store *store, const struct mw_run_create *r, json_t **out,
			 struct mw_err *err)
{
	struct run_create_arg a = {r, NULL};
	return sqi_submit_out(store, job_run_create, &a, &a.out, out, err);
}

static int sq_run_get(struct mw_store *store, const char *id, json_t **out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = sqi_run_load(c, id, out, err);
	sqi_rd_end(store, c);
	return rc;
}

struct run_upd_arg {
	const char *id, *status, *name, *key;
	int64_t end;
	bool flag;
	json_t *out;
};

static const char SQL_RUN_UPD_STATUS[] = "UPDATE runs SET status = ? WHERE run_uuid = ?";
static const char SQL_RUN_UPD_END[] = "UPDATE runs SET end_time = ? WHERE run_uuid = ?";
static const char SQL_RUN_UPD_NAME[] = "UPDATE runs SET name = ? WHERE run_uuid = ?";

static int run_set_col(struct conn *c, const char *sql, const char *id, const char *s, int64_t v,
		       struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, sql, err);
	if (!st)
		return -err->code;
	if (s)
		sqi_bind_text(st, 1, s);
	else
		sqlite3_bind_int64(st, 1, v);
	sqi_bind_text(st, 2, id);
	return sqi_step_done(c, st, err);
}

static int job_run_update(struct conn *c, void *p, struct mw_err *err)
{
	struct run_upd_arg *a = p;
	int rc = sqi_run_require_active(c, a->id, err);
	if (!rc && a->status)
		rc = run_set_col(c, SQL_RUN_UPD_STATUS, a->id, a->status, 0, err);
	if (!rc && a->end >= 0)
		rc = run_set_col(c, SQL_RUN_UPD_END, a->id, NULL, a->end, err);
	if (!rc && a->name) {
		rc = run_set_col(c, SQL_RUN_UPD_NAME, a->id, a->name, 0, err);
		if (!rc)
			rc = sqi_tag_set(c, a->id, "mlflow.runName", a->name, err);
	}
	if (!rc)
		rc = sqi_run_info_load(c, a->id, &a->out, err);
	return rc;
}

static int sq_run_update(struct mw_store *store, const char *id, const char *status, int64_t end,
			 const char *name, json_t **out, struct mw_err *err)
{
	struct run_upd_arg a = {.id = id, .status = status, .end = end, .name = name};
	return sqi_submit_out(store, job_run_update, &a, &a.out, out, err);
}

static const char SQL_RUN_STAGE[] =
	"UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?";

static int job_run_set_deleted(struct conn *c, void *p, struct mw_err *err)
{
	struct run_upd_arg *a = p;
	json_t *info = NULL;
	int rc = sqi_run_info_load(c, a->id, &info, err);
	if (rc)
		return rc;
	json_decref(info);
	sqlite3_stmt *st = sqi_prep(c, SQL_RUN_STAGE, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->flag ? "deleted" : "active");
	if (a->flag)
		sqlite3_bind_int64(st, 2, a->end);
	else
		sqlite3_bind_null(st, 2);
	sqi_bind_text(st, 3, a->id);
	return sqi_step_done(c, st, err);
}

static int sq_run_set_deleted(struct mw_store *store, const char *id, bool del, int64_t now,
			      struct mw_err *err)
{
	struct run_upd_arg a = {.id = id, .flag = del, .end = now};
	return sqi_submit(store, job_run_set_deleted, &a, err);
}

static const char SQL_PARAM_GET[] = "SELECT value FROM params WHERE run_uuid = ? AND key = ?";
static const char SQL_PARAM_INSERT[] =
	"INSERT OR IGNORE INTO params (run_uuid, key, value) VALUES (?, ?, ?)";
static const char SQL_METRIC_INSERT[] =
	"INSERT OR IGNORE INTO metrics (run_uuid, key, step, timestamp, value, is_nan)"
	" VALUES (?, ?, ?, ?, ?, ?)";
static const char SQL_LM_METRIC_INSERT[] =
	"INSERT OR IGNORE INTO logged_model_metrics (model_id, key, step, timestamp, value, is_nan,"
	" run_uuid, dataset_name, dataset_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
static const char SQL_LATEST_UPSERT[] =
	"INSERT INTO latest_metrics (run_uuid, key, value, is_nan, timestamp, step)"
	" VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_uuid, key) DO UPDATE SET"
	" value = excluded.value, is_nan = excluded.is_nan, timestamp = excluded.timestamp,"
	" step = excluded.step WHERE (excluded.step, excluded.timestamp, excluded.value) >"
	" (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)";

struct batch_arg {
	const char *id;
	const struct mw_metric *m;
	size_t nm;
	const struct mw_kv *p;
	size_t np;
	const struct mw_kv *t;
	size_t nt;
};

double sqi_stored_value(double v)
{
	return isnan(v) ? 0.0 : v;
}

/* Order metrics by (key, step, timestamp, value) to find each key's latest. */
static int metric_cmp(const void *a, const void *b, void *base)
{
	const struct mw_metric *m = base;
	const struct mw_metric *x = &m[*(const size_t *)a];
	const struct mw_metric *y = &m[*(const size_t *)b];
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	if (x->timestamp != y->timestamp)
		return x->timestamp < y->timestamp ? -1 : 1;
	double xv = sqi_stored_value(x->value), yv = sqi_stored_value(y->value);
	return xv < yv ? -1 : xv > yv;
}

static int job_log_batch(struct conn *c, void *p, struct mw_err *err)
{
	struct batch_arg *a = p;
	int rc = sqi_run_require_active(c, a->id, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < a->np; i++) {
		sqlite3_stmt *st = sqi_prep(c, SQL_PARAM_GET, err);
		if (!st)
			return -err->code;
		sqi_bind_text(st, 1, a->id);
		sqi_bind_text(st, 2, a->p[i].key);
		if (sqlite3_step(st) == SQLITE_ROW) {
			const char *old = sqi_col_text(st, 0);
			if (strcmp(old ? old : "", a->p[i].value ? a->p[i].value : "")) {
				rc = mw_err_set(err, MW_E_INVALID,
						"Changing param values is not allowed. Param with key='%s' "
						"was already logged with value='%.200s' for run ID='%s'. "
						"Attempted logging new value '%.200s'.",
						a->p[i].key, old ? old : "", a->id,
						a->p[i].value ? a->p[i].value : "");
				sqlite3_reset(st);
				return rc;
			}
			sqlite3_reset(st);
			continue;
		}
		sqlite3_reset(st);
		if (!(st = sqi_prep(c, SQL_PARAM_INSERT, err)))
			return -err->code;
		sqi_bind_text(st, 1, a->id);
		sqi_bind_text(st, 2, a->p[i].key);
		sqi_bind_text(st, 3, a->p[i].value ? a->p[i].value : "");
		if ((rc = sqi_step_done(c, st, err)))
			return rc;
	}
	for (size_t i = 0; i < a->nt; i++) {
		if ((rc = sqi_tag_set(c, a->id, a->t[i].key, a->t[i].value, err)))
			return rc;
		/* the run-name tag is the run's name, as in MLflow */
		if (!strcmp(a->t[i].key, "mlflow.runName") &&
		    (rc = run_set_col(c, SQL_RUN_UPD_NAME, a->id, a->t[i].value, 0, err)))
			return rc;
	}
	if (!a->nm)
		return 0;
	sqlite3_stmt *st = sqi_prep(c, SQL_METRIC_INSERT, err);
	if (!st)
		return -err->code;
	for (size_t i = 0; i < a->nm; i++) {
		const struct mw_metric *m = &a->m[i];
		sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, m->key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, m->step);
		sqlite3_bind_int64(st, 4, m->timestamp);
		sqlite3_bind_double(st, 5, sqi_stored_value(m->value));
		sqlite3_bind_int(st, 6, isnan(m->value) ? 1 : 0);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = sqi_sqerr(c, err, "log metric");
			sqlite3_reset(st);
			return rc;
		}
		sqlite3_reset(st);
		if (m->model_id) {
			/* a metric of a logged model (MLflow 3) is also kept with the model */
			sqlite3_stmt *lst = sqi_prep(c, SQL_LM_METRIC_INSERT, err);
			if (!lst)
				return -err->code;
			sqi_bind_text(lst, 1, m->model_id);
			sqi_bind_text(lst, 2, m->key);
			sqlite3_bind_int64(lst, 3, m->step);
			sqlite3_bind_int64(lst, 4, m->timestamp);
			sqlite3_bind_double(lst, 5, sqi_stored_value(m->value));
			sqlite3_bind_int(lst, 6, isnan(m->value) ? 1 : 0);
			sqi_bind_text(lst, 7, a->id);
			sqi_bind_text(lst, 8, m->dataset_name ? m->dataset_name : "");
			sqi_bind_text(lst, 9, m->dataset_digest ? m->dataset_digest : "");
			if ((rc = sqi_step_done(c, lst, err)))
				return rc;
			st = sqi_prep(c, SQL_METRIC_INSERT, err);
			if (!st)
				return -err->code;
		}
	}
	/* the latest point per key in this batch, then one upsert per key */
	size_t *idx = mw_xmalloc(a->nm * sizeof *idx);
	for (size_t i = 0; i < a->nm; i++)
		idx[i] = i;
	qsort_r(idx, a->nm, sizeof *idx, metric_cmp, (void *)a->m);
	if (!(st = sqi_prep(c, SQL_LATEST_UPSERT, err))) {
		free(idx);
		return -err->code;
	}
	for (size_t k = 0; k < a->nm && !rc; k++) {
		if (k + 1 < a->nm && !strcmp(a->m[idx[k]].key, a->m[idx[k + 1]].key))
			continue;
		const struct mw_metric *m = &a->m[idx[k]];
		sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, m->key, -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 3, sqi_stored_value(m->value));
		sqlite3_bind_int(st, 4, isnan(m->value) ? 1 : 0);
		sqlite3_bind_int64(st, 5, m->timestamp);
		sqlite3_bind_int64(st, 6, m->step);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = sqi_sqerr(c, err, "log metric");
		sqlite3_reset(st);
	}
	free(idx);
	return rc;
}

static int sq_run_log_batch(struct mw_store *store, const char *id, const struct mw_metric *m, size_t nm,
			    const struct mw_kv *p, size_t np, const struct mw_kv *t, size_t nt,
			    struct mw_err *err)
{
	struct batch_arg a = {id, m, nm, p, np, t, nt};
	return sqi_submit(store, job_log_batch, &a, err);
}

static const char SQL_TAG_DEL[] = "DELETE FROM tags WHERE run_uuid = ? AND key = ?";

static int job_run_delete_tag(struct conn *c, void *p, struct mw_err *err)
{
	struct run_upd_arg *a = p;
	int rc = sqi_run_require_active(c, a->id, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_TAG_DEL, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->id);
	sqi_bind_text(st, 2, a->key);
	if ((rc = sqi_step_done(c, st, err)))
		return rc;
	if (!sqlite3_changes(c->db))
		return mw_err_set(err, MW_E_NOT_FOUND, "No tag with name: %s in run with id %s",
				  a->key, a->id);
	return 0;
}

static int sq_run_delete_tag(struct mw_store *store, const char *id, const char *k, struct mw_err *err)
{
	struct run_upd_arg a = {.id = id, .key = k};
	return sqi_submit(store, job_run_delete_tag, &a, err);
}

struct inputs_arg {
	const char *id;
	const struct mw_dataset_input *d;
	size_t nd;
	const struct mw_model_ref *m;
	size_t nm;
};

static const char SQL_RUN_EXP[] = "SELECT experiment_id FROM runs WHERE run_uuid = ?";
static const char SQL_DATASET_FIND[] =
	"SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?";
static const char SQL_DATASET_INSERT[] =
	"INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, source_type, source,"
	" schema, profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
static const char SQL_INPUT_FIND[] =
	"SELECT input_uuid FROM inputs WHERE source_type = ? AND source_id = ?"
	" AND destination_type = 'RUN' AND destination_id = ?";
static const char SQL_INPUT_INSERT[] =
	"INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id)"
	" VALUES (?, ?, ?, 'RUN', ?)";
static const char SQL_INPUT_TAG_SET[] =
	"INSERT INTO input_tags (input_uuid, key, value) VALUES (?, ?, ?)"
	" ON CONFLICT (input_uuid, key) DO UPDATE SET value = excluded.value";

/* Find or create the input row linking source to the run; id into out[33]. */
static int input_link(struct conn *c, const char *type, const char *source, const char *run,
		      char out[33], struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_INPUT_FIND, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, type);
	sqi_bind_text(st, 2, source);
	sqi_bind_text(st, 3, run);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(out, 33, "%s", sqi_col_text(st, 0));
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	int rc = mw_id_hex32(out, err);
	if (rc)
		return rc;
	if (!(st = sqi_prep(c, SQL_INPUT_INSERT, err)))
		return -err->code;
	sqi_bind_text(st, 1, out);
	sqi_bind_text(st, 2, type);
	sqi_bind_text(st, 3, source);
	sqi_bind_text(st, 4, run);
	return sqi_step_done(c, st, err);
}

static int job_log_inputs(struct conn *c, void *p, struct mw_err *err)
{
	struct inputs_arg *a = p;
	int rc = sqi_run_require_active(c, a->id, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_RUN_EXP, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->id);
	int64_t exp = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	for (size_t i = 0; i < a->nd && !rc; i++) {
		const struct mw_dataset_input *d = &a->d[i];
		char duuid[33];
		if (!(st = sqi_prep(c, SQL_DATASET_FIND, err)))
			return -err->code;
		sqlite3_bind_int64(st, 1, exp);
		sqi_bind_text(st, 2, d->name);
		sqi_bind_text(st, 3, d->digest);
		bool found = sqlite3_step(st) == SQLITE_ROW;
		if (found)
			snprintf(duuid, sizeof duuid, "%s", sqi_col_text(st, 0));
		sqlite3_reset(st);
		if (!found) {
			if ((rc = mw_id_hex32(duuid, err)))
				return rc;
			if (!(st = sqi_prep(c, SQL_DATASET_INSERT, err)))
				return -err->code;
			sqi_bind_text(st, 1, duuid);
			sqlite3_bind_int64(st, 2, exp);
			sqi_bind_text(st, 3, d->name);
			sqi_bind_text(st, 4, d->digest);
			sqi_bind_text(st, 5, d->source_type);
			sqi_bind_text(st, 6, d->source);
			sqi_bind_text(st, 7, d->schema);
			sqi_bind_text(st, 8, d->profile);
			if ((rc = sqi_step_done(c, st, err)))
				return rc;
		}
		char iuuid[33];
		if ((rc = input_link(c, "DATASET", duuid, a->id, iuuid, err)))
			return rc;
		for (size_t t = 0; t < d->ntags && !rc; t++) {
			if (!(st = sqi_prep(c, SQL_INPUT_TAG_SET, err)))
				return -err->code;
			sqi_bind_text(st, 1, iuuid);
			sqi_bind_text(st, 2, d->tags[t].key);
			sqi_bind_text(st, 3, d->tags[t].value);
			rc = sqi_step_done(c, st, err);
		}
	}
	for (size_t i = 0; i < a->nm && !rc; i++) {
		char iuuid[33];
		rc = input_link(c, "MODEL", a->m[i].model_id, a->id, iuuid, err);
	}
	return rc;
}

static int sq_run_log_inputs(struct mw_store *store, const char *id, const struct mw_dataset_input *d,
			     size_t nd, const struct mw_model_ref *m, size_t nm, struct mw_err *err)
{
	struct inputs_arg a = {id, d, nd, m, nm};
	return sqi_submit(store, job_log_inputs, &a, err);
}

static const char SQL_OUTPUT_SET[] =
	"INSERT INTO run_outputs (run_uuid, model_id, step) VALUES (?, ?, ?)"
	" ON CONFLICT (run_uuid, model_id) DO UPDATE SET step = excluded.step";

static int job_log_outputs(struct conn *c, void *p, struct mw_err *err)
{
	struct inputs_arg *a = p;
	int rc = sqi_run_require_active(c, a->id, err);
	for (size_t i = 0; i < a->nm && !rc; i++) {
		sqlite3_stmt *st = sqi_prep(c, SQL_OUTPUT_SET, err);
		if (!st)
			return -err->code;
		sqi_bind_text(st, 1, a->id);
		sqi_bind_text(st, 2, a->m[i].model_id);
		sqlite3_bind_int64(st, 3, a->m[i].step);
		rc = sqi_step_done(c, st, err);
	}
	return rc;
}

static int sq_run_log_outputs(struct mw_store *store, const char *id, const struct mw_model_ref *m, size_t nm,
			      struct mw_err *err)
{
	struct inputs_arg a = {.id = id, .m = m, .nm = nm};
	return sqi_submit(store, job_log_outputs, &a, err);
}

/* ================================================================ runs: search */

/* A run search row (its id in column 0) as the whole run. */
static json_t *run_by_id(struct conn *c, sqlite3_stmt *st, struct mw_err *err)
{
	json_t *run = NULL;
	return sqi_run_load(c, sqi_col_text(st, 0), &run, err) ? NULL : run;
}

static const char *run_attr_col(const char *k)
{
	if (!strcmp(k, "run_id")) return "r.run_uuid";
	if (!strcmp(k, "run_name")) return "r.name";
	if (!strcmp(k, "status")) return "r.status";
	if (!strcmp(k, "artifact_uri")) return "r.artifact_uri";
	if (!strcmp(k, "user_id")) return "r.user_id";
	if (!strcmp(k, "start_time")) return "r.start_time";
	if (!strcmp(k, "end_time")) return "r.end_time";
	if (!strcmp(k, "lifecycle_stage")) return "r.lifecycle_stage";
	return NULL;
}

static const char *dataset_col(const char *k)
{
	if (!strcmp(k, "name")) return "d.name";
	if (!strcmp(k, "digest")) return "d.digest";
	return NULL;
}

static bool is_range_cmp(enum mw_cmp c)
{
	return c == MW_CMP_EQ || c == MW_CMP_GT || c == MW_CMP_GE || c == MW_CMP_LT ||
	       c == MW_CMP_LE;
}

static int sq_run_search(struct mw_store *store, const char *const *exps, size_t nexp,
			 const struct mw_filter *f, const struct mw_order *o, size_t no,
			 enum mw_view v, const struct mw_page *p, json_t **out, bool *more,
			 struct mw_err *err)
{
	struct qb q;
	sqi_qb_init(&q);
	QS(&q, "SELECT r.run_uuid FROM runs r");
	/* A metric that is filtered with a range comparison and also ordered on is
	 * joined once, so SQLite can walk the (key, value) index in order. */
	const char *joined_metric = NULL;
	int joined_clause = -1;
	if (no > 0 && o[0].kind == MW_KEY_METRIC) {
		for (size_t i = 0; f && i < f->n; i++)
			if (f->c[i].kind == MW_KEY_METRIC && !strcmp(f->c[i].key, o[0].key) &&
			    is_range_cmp(f->c[i].cmp)) {
				joined_metric = o[0].key;
				joined_clause = (int)i;
				break;
			}
	}
	if (joined_metric) {
		QS(&q, " JOIN latest_metrics jm ON jm.run_uuid = r.run_uuid AND jm.key = ");
		sqi_qb_text(&q, joined_metric);
		QS(&q, " AND jm.is_nan = 0 AND ");
		sqi_qb_cmp(&q, "jm.value", &f->c[joined_clause]);
	}
	/* LEFT JOINs for the other order keys */
	for (size_t i = 0; i < no; i++) {
		if (i == 0 && joined_metric)
			continue;
		const char *tbl = o[i].kind == MW_KEY_METRIC ? "latest_metrics"
				  : o[i].kind == MW_KEY_PARAM ? "params"
				  : o[i].kind == MW_KEY_TAG   ? "tags"
							      : NULL;
		if (!tbl)
			continue;
		mw_buf_printf(&q.sql, " LEFT JOIN %s o%zu ON o%zu.run_uuid = r.run_uuid AND o%zu.key = ",
			      tbl, i, i, i);
		sqi_qb_text(&q, o[i].key);
	}
	QS(&q, " WHERE r.experiment_id IN (");
	for (size_t i = 0; i < nexp; i++) {
		if (i)
			QS(&q, ", ");
		int64_t id;
		sqi_qb_int(&q, mw_parse_int64(exps[i], &id) ? -1 : id);
	}
	QS(&q, ")");
	sqi_qb_view(&q, "r.lifecycle_stage", v);
	for (size_t i = 0; f && i < f->n; i++) {
		if ((int)i == joined_clause)
			continue;
		const struct mw_clause *cl = &f->c[i];
		QS(&q, " AND ");
		switch (cl->kind) {
		case MW_KEY_ATTR: {
			const char *col = run_attr_col(cl->key);
			sqi_qb_cmp(&q, col ? col : "NULL", cl);
			break;
		}
		case MW_KEY_METRIC:
			QS(&q, "EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_uuid = r.run_uuid"
			       " AND m.key = ");
			sqi_qb_text(&q, cl->key);
			QS(&q, cl->cmp == MW_CMP_NE ? " AND " : " AND m.is_nan = 0 AND ");
			sqi_qb_cmp(&q, "m.value", cl);
			QS(&q, ")");
			break;
		case MW_KEY_PARAM:
		case MW_KEY_TAG:
			mw_buf_printf(&q.sql,
				      "EXISTS (SELECT 1 FROM %s x WHERE x.run_uuid = r.run_uuid AND x.key = ",
				      cl->kind == MW_KEY_PARAM ? "params" : "tags");
			sqi_qb_text(&q, cl->key);
			QS(&q, " AND ");
			sqi_qb_cmp(&q, "x.value", cl);
			QS(&q, ")");
			break;
		case MW_KEY_DATASET:
			QS(&q, "EXISTS (SELECT 1 FROM inputs i JOIN datasets d ON d.dataset_uuid ="
			       " i.source_id");
			if (!strcmp(cl->key, "context"))
				QS(&q, " JOIN input_tags it ON it.input_uuid = i.input_uuid AND"
				       " it.key = 'mlflow.data.context'");
			QS(&q, " WHERE i.destination_type = 'RUN' AND i.destination_id = r.run_uuid"
			       " AND i.source_type = 'DATASET' AND ");
			sqi_qb_cmp(&q, !strcmp(cl->key, "context") ? "it.value"
				   : dataset_col(cl->key)     ? dataset_col(cl->key)
							      : "NULL",
			       cl);
			QS(&q, ")");
			break;
		}
	}
	QS(&q, " ORDER BY ");
	bool has_start = false, has_id = false;
	for (size_t i = 0; i < no; i++) {
		char col[32];
		if (i == 0 && joined_metric) {
			mw_buf_printf(&q.sql, "jm.value %s, ", o[i].asc ? "ASC" : "DESC");
			continue;
		}
		switch (o[i].kind) {
		case MW_KEY_ATTR: {
			const char *c = run_attr_col(o[i].key);
			if (!c)
				continue;
			if (!strcmp(o[i].key, "start_time"))
				has_start = true;
			if (!strcmp(o[i].key, "run_id"))
				has_id = true;
			sqi_qb_order_col(&q, c, NULL, o[i].asc);
			break;
		}
		case MW_KEY_METRIC:
			snprintf(col, sizeof col, "o%zu.value", i);
			char nan[32];
			snprintf(nan, sizeof nan, "o%zu.is_nan", i);
			sqi_qb_order_col(&q, col, nan, o[i].asc);
			break;
		case MW_KEY_PARAM:
		case MW_KEY_TAG:
			snprintf(col, sizeof col, "o%zu.value", i);
			sqi_qb_order_col(&q, col, NULL, o[i].asc);
			break;
		default:
			continue;
		}
		QS(&q, ", ");
	}
	if (!has_start)
		QS(&q, "r.start_time DESC, ");
	QS(&q, has_id ? "1" : "r.run_uuid ASC");
	sqi_qb_page(&q, p);
	return sqi_qb_search(store, &q, p, "runs", run_by_id, out, more, err);
}

/* ================================================================ metric history */

static const char SQL_HISTORY[] =
	"SELECT key, value, is_nan, timestamp, step FROM metrics WHERE run_uuid = ? AND key = ?"
	" ORDER BY step, timestamp, value LIMIT ? OFFSET ?";

static int sq_metric_history(struct mw_store *store, const char *id, const char *key,
			     const struct mw_page *p, json_t **out, bool *more, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	json_t *info = NULL;
	int rc = sqi_run_info_load(c, id, &info, err);
	if (!rc) {
		json_decref(info);
		sqlite3_stmt *st = sqi_prep(c, SQL_HISTORY, err);
		if (!st) {
			rc = -err->code;
		} else {
			sqi_bind_text(st, 1, id);
			sqi_bind_text(st, 2, key);
			sqlite3_bind_int64(st, 3, p->max_results + 1);
			sqlite3_bind_int64(st, 4, p->offset);
			json_t *arr = json_array();
			int64_t n = 0;
			*more = false;
			while (sqlite3_step(st) == SQLITE_ROW) {
				if (n++ == p->max_results) {
					*more = true;
					break;
				}
				json_array_append_new(
					arr, sqi_metric_json(sqi_col_text(st, 0), sqlite3_column_double(st, 1),
							 sqlite3_column_int(st, 2),
							 sqlite3_column_int64(st, 3),
							 sqlite3_column_int64(st, 4)));
			}
			sqlite3_reset(st);
			*out = arr;
		}
	}
	sqi_rd_end(store, c);
	return rc;
}

static const char SQL_STEPS[] =
	"SELECT DISTINCT step FROM metrics WHERE run_uuid = ? AND key = ? AND step BETWEEN ? AND ?"
	" ORDER BY step";
static const char SQL_RANGE[] =
	"SELECT key, value, is_nan, timestamp, step FROM metrics WHERE run_uuid = ? AND key = ?"
	" AND step BETWEEN ? AND ? ORDER BY step, timestamp, value";

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Like MLflow: the steps of all runs together are sampled evenly (at most
 * max of them), and every run keeps its own first and last step. */
static int sq_metric_history_sampled(struct mw_store *store, const char *const *ids, size_t nids,
				     const char *key, bool has_range, int64_t a, int64_t b,
				     int64_t max, json_t **out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int64_t lo = has_range ? a : INT64_MIN, hi = has_range ? b : INT64_MAX;
	size_t ns = 0, as = 0;
	int64_t *steps = NULL;
	int rc = 0;
	for (size_t r = 0; r < nids && !rc; r++) {
		json_t *info = NULL;
		if ((rc = sqi_run_info_load(c, ids[r], &info, err)))
			break;
		json_decref(info);
		sqlite3_stmt *st = sqi_prep(c, SQL_STEPS, err);
		if (!st) {
			rc = -err->code;
			break;
		}
		sqi_bind_text(st, 1, ids[r]);
		sqi_bind_text(st, 2, key);
		sqlite3_bind_int64(st, 3, lo);
		sqlite3_bind_int64(st, 4, hi);
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (ns == as) {
				as = as ? as * 2 : 256;
				steps = mw_xrealloc(steps, as * sizeof *steps);
			}
			steps[ns++] = sqlite3_column_int64(st, 0);
		}
		sqlite3_reset(st);
	}
	json_t *arr = json_array();
	if (!rc && ns) {
		qsort(steps, ns, sizeof *steps, cmp_i64);
		size_t u = 0;
		for (size_t i = 0; i < ns; i++)
			if (!u || steps[u - 1] != steps[i])
				steps[u++] = steps[i];
		ns = u;
		/* keep every step when they fit, else max evenly spaced ones */
		size_t want = (size_t)max < ns ? (size_t)max : ns, k = 0;
		int64_t *pick = mw_xmalloc((want ? want : 1) * sizeof *pick);
		for (size_t j = 0; j < want; j++) {
			size_t i = want == 1 ? 0 : (size_t)((double)j * (double)(ns - 1) / (double)(want - 1) + 0.5);
			if (!k || pick[k - 1] != steps[i])
				pick[k++] = steps[i];
		}
		for (size_t r = 0; r < nids && !rc; r++) {
			sqlite3_stmt *st = sqi_prep(c, SQL_RANGE, err);
			if (!st) {
				rc = -err->code;
				break;
			}
			sqi_bind_text(st, 1, ids[r]);
			sqi_bind_text(st, 2, key);
			sqlite3_bind_int64(st, 3, lo);
			sqlite3_bind_int64(st, 4, hi);
			size_t first = json_array_size(arr);
			int64_t last_step = 0;
			bool any = false;
			while (sqlite3_step(st) == SQLITE_ROW) {
				int64_t step = sqlite3_column_int64(st, 4);
				bool is_first = !any || step == json_integer_value(json_object_get(
								 json_array_get(arr, first), "step"));
				any = true;
				last_step = step;
				if (!is_first && !bsearch(&step, pick, k, sizeof *pick, cmp_i64)) {
					/* remember the run's last point, added below if skipped */
					continue;
				}
				json_t *m = sqi_metric_json(sqi_col_text(st, 0), sqlite3_column_double(st, 1),
							sqlite3_column_int(st, 2),
							sqlite3_column_int64(st, 3), step);
				json_object_set_new(m, "run_id", json_string(ids[r]));
				json_array_append_new(arr, m);
			}
			sqlite3_reset(st);
			/* the run's last step, when sampling skipped it */
			size_t n = json_array_size(arr);
			if (any && (n == first || json_integer_value(json_object_get(
							 json_array_get(arr, n - 1), "step")) != last_step)) {
				sqlite3_stmt *s2 = sqi_prep(c, SQL_RANGE, err);
				if (!s2) {
					rc = -err->code;
					break;
				}
				sqi_bind_text(s2, 1, ids[r]);
				sqi_bind_text(s2, 2, key);
				sqlite3_bind_int64(s2, 3, last_step);
				sqlite3_bind_int64(s2, 4, last_step);
				while (sqlite3_step(s2) == SQLITE_ROW) {
					json_t *m = sqi_metric_json(sqi_col_text(s2, 0), sqlite3_column_double(s2, 1),
								sqlite3_column_int(s2, 2),
								sqlite3_column_int64(s2, 3),
								sqlite3_column_int64(s2, 4));
					json_object_set_new(m, "run_id", json_string(ids[r]));
					json_array_append_new(arr, m);
				}
				sqlite3_reset(s2);
			}
		}
		free(pick);
	}
	free(steps);
	sqi_rd_end(store, c);
	if (rc)
		json_decref(arr);
	else
		*out = arr;
	return rc;
}

static const char SQL_BULK[] =
	"SELECT key, value, is_nan, timestamp, step FROM metrics WHERE run_uuid = ? AND key = ?"
	" ORDER BY step, timestamp, value LIMIT ?";

static int sq_metric_history_bulk(struct mw_store *store, const char *const *ids, size_t nids,
				  const char *key, int64_t max, json_t **out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	json_t *arr = json_array();
	int rc = 0;
	int64_t left = max;
	for (size_t r = 0; r < nids && left > 0; r++) {
		sqlite3_stmt *st = sqi_prep(c, SQL_BULK, err);
		if (!st) {
			rc = -err->code;
			break;
		}
		sqi_bind_text(st, 1, ids[r]);
		sqi_bind_text(st, 2, key);
		sqlite3_bind_int64(st, 3, left);
		while (sqlite3_step(st) == SQLITE_ROW) {
			json_t *m = sqi_metric_json(sqi_col_text(st, 0), sqlite3_column_double(st, 1),
						sqlite3_column_int(st, 2), sqlite3_column_int64(st, 3),
						sqlite3_column_int64(st, 4));
			json_object_set_new(m, "run_id", json_string(ids[r]));
			json_array_append_new(arr, m);
			left--;
		}
		sqlite3_reset(st);
	}
	sqi_rd_end(store, c);
	if (rc)
		json_decref(arr);
	else
		*out = arr;
	return rc;
}

/* ================================================================ logged models */

static const char SQL_LM_GET[] =
	"SELECT model_id, experiment_id, name, artifact_location, creation_timestamp_ms,"
	" last_updated_timestamp_ms, status, lifecycle_stage, model_type, source_run_id,"
	" status_message FROM logged_models WHERE model_id = ?";
static const char SQL_LM_TAGS[] = "SELECT key, value FROM logged_model_tags WHERE model_id = ? ORDER BY key";
static const char SQL_LM_PARAMS[] =
	"SELECT key, value FROM logged_model_params WHERE model_id = ? ORDER BY key";
static const char SQL_LM_METRICS[] =
	"SELECT key, value, is_nan, timestamp, step, run_uuid, nullif(dataset_name, ''),"
	" nullif(dataset_digest, '') FROM logged_model_metrics WHERE model_id = ?"
	" ORDER BY key, step, timestamp";

static int lm_not_found(const char *id, struct mw_err *err)
{
	return mw_err_set(err, MW_E_NOT_FOUND, "Logged model with ID '%s' not found.", id);
}

static int lm_load(struct conn *c, const char *id, json_t **out, struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_LM_GET, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW || strcmp(sqi_col_text(st, 7), "active")) {
		sqlite3_reset(st);
		return lm_not_found(id, err);
	}
	json_t *info = json_object();
	sqi_jset_str(info, "model_id", sqi_col_text(st, 0));
	char ex[32];
	snprintf(ex, sizeof ex, "%lld", (long long)sqlite3_column_int64(st, 1));
	json_object_set_new(info, "experiment_id", json_string(ex));
	sqi_jset_str(info, "name", sqi_col_text(st, 2));
	sqi_jset_str(info, "artifact_uri", sqi_col_text(st, 3));
	json_object_set_new(info, "creation_timestamp_ms", json_integer(sqlite3_column_int64(st, 4)));
	json_object_set_new(info, "last_updated_timestamp_ms",
			    json_integer(sqlite3_column_int64(st, 5)));
	sqi_jset_str(info, "status", sqi_col_text(st, 6));
	sqi_jset_str(info, "model_type", sqi_col_text(st, 8));
	sqi_jset_str(info, "source_run_id", sqi_col_text(st, 9));
	sqi_jset_str(info, "status_message", sqi_col_text(st, 10));
	sqlite3_reset(st);
	json_t *tags = sqi_kv_rows(c, SQL_LM_TAGS, id, 0, err);
	if (tags)
		sqi_jset_arr(info, "tags", tags);
	json_t *data = json_object();
	json_t *params = sqi_kv_rows(c, SQL_LM_PARAMS, id, 0, err);
	if (params)
		sqi_jset_arr(data, "params", params);
	json_t *metrics = json_array();
	if ((st = sqi_prep(c, SQL_LM_METRICS, err))) {
		sqi_bind_text(st, 1, id);
		while (sqlite3_step(st) == SQLITE_ROW) {
			json_t *m = sqi_metric_json(sqi_col_text(st, 0), sqlite3_column_double(st, 1),
						sqlite3_column_int(st, 2), sqlite3_column_int64(st, 3),
						sqlite3_column_int64(st, 4));
			sqi_jset_str(m, "run_id", sqi_col_text(st, 5));
			sqi_jset_str(m, "dataset_name", sqi_col_text(st, 6));
			sqi_jset_str(m, "dataset_digest", sqi_col_text(st, 7));
			json_object_set_new(m, "model_id", json_string(id));
			json_array_append_new(metrics, m);
		}
		sqlite3_reset(st);
	}
	sqi_jset_arr(data, "metrics", metrics);
	json_t *model = json_object();
	json_object_set_new(model, "info", info);
	json_object_set_new(model, "data", data);
	*out = model;
	return 0;
}

static const char SQL_LM_INSERT[] =
	"INSERT INTO logged_models (model_id, experiment_id, name, artifact_location,"
	" creation_timestamp_ms, last_updated_timestamp_ms, status, lifecycle_stage, model_type,"
	" source_run_id) VALUES (?, ?, ?, ?, ?, ?, 'LOGGED_MODEL_PENDING', 'active', ?, ?)";
static const char SQL_LM_TAG_SET[] =
	"INSERT INTO logged_model_tags (model_id, key, value) VALUES (?, ?, ?)"
	" ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value";
static const char SQL_LM_PARAM_SET[] =
	"INSERT INTO logged_model_params (model_id, key, value) VALUES (?, ?, ?)"
	" ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value";

static int lm_kvs(struct conn *c, const char *sql, const char *id, const struct mw_kv *kv,
		  size_t n, struct mw_err *err)
{
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		sqlite3_stmt *st = sqi_prep(c, sql, err);
		if (!st)
			return -err->code;
		sqi_bind_text(st, 1, id);
		sqi_bind_text(st, 2, kv[i].key);
		sqi_bind_text(st, 3, kv[i].value ? kv[i].value : "");
		rc = sqi_step_done(c, st, err);
	}
	return rc;
}

struct lm_arg {
	const struct mw_lm_create *cr;
	const char *id, *status, *key;
	const struct mw_kv *kv;
	size_t nkv;
	int64_t now;
	json_t *out;
};

static int job_lm_create(struct conn *c, void *p, struct mw_err *err)
{
	struct lm_arg *a = p;
	const struct mw_lm_create *cr = a->cr;
	char *loc = NULL;
	int rc = sqi_exp_require_active(c, cr->experiment_id, &loc, err);
	if (rc)
		return rc;
	size_t n = strlen(loc) + strlen(cr->model_id) + 32;
	char *uri = mw_xmalloc(n);
	size_t ll = strlen(loc);
	snprintf(uri, n, "%s%smodels/%s/artifacts", loc, ll && loc[ll - 1] == '/' ? "" : "/",
		 cr->model_id);
	free(loc);
	sqlite3_stmt *st = sqi_prep(c, SQL_LM_INSERT, err);
	if (!st) {
		free(uri);
		return -err->code;
	}
	sqi_bind_text(st, 1, cr->model_id);
	sqlite3_bind_int64(st, 2, strtoll(cr->experiment_id, NULL, 10));
	sqi_bind_text(st, 3, cr->name);
	sqi_bind_text(st, 4, uri);
	sqlite3_bind_int64(st, 5, cr->now_ms);
	sqlite3_bind_int64(st, 6, cr->now_ms);
	sqi_bind_text(st, 7, cr->model_type);
	sqi_bind_text(st, 8, cr->source_run_id);
	rc = sqi_step_done(c, st, err);
	free(uri);
	if (!rc)
		rc = lm_kvs(c, SQL_LM_TAG_SET, cr->model_id, cr->tags, cr->ntags, err);
	if (!rc)
		rc = lm_kvs(c, SQL_LM_PARAM_SET, cr->model_id, cr->params, cr->nparams, err);
	if (!rc)
		rc = lm_load(c, cr->model_id, &a->out, err);
	return rc;
}

static int sq_lm_create(struct mw_store *store, const struct mw_lm_create *cr, json_t **out,
			struct mw_err *err)
{
	struct lm_arg a = {.cr = cr};
	return sqi_submit_out(store, job_lm_create, &a, &a.out, out, err);
}

static int sq_lm_get(struct mw_store *store, const char *id, json_t **out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = lm_load(c, id, out, err);
	sqi_rd_end(store, c);
	return rc;
}

static const char SQL_LM_STATUS[] =
	"UPDATE logged_models SET status = ?, last_updated_timestamp_ms = ? WHERE model_id = ?";
static const char SQL_LM_TOUCH[] =
	"UPDATE logged_models SET last_updated_timestamp_ms = ? WHERE model_id = ?";
static const char SQL_LM_DELETE[] =
	"UPDATE logged_models SET lifecycle_stage = 'deleted' WHERE model_id = ?";
static const char SQL_LM_TAG_DEL[] = "DELETE FROM logged_model_tags WHERE model_id = ? AND key = ?";

static int lm_exists(struct conn *c, const char *id, struct mw_err *err)
{
	json_t *m = NULL;
	int rc = lm_load(c, id, &m, err);
	if (!rc)
		json_decref(m);
	return rc;
}

static int job_lm_finalize(struct conn *c, void *p, struct mw_err *err)
{
	struct lm_arg *a = p;
	int rc = lm_exists(c, a->id, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_LM_STATUS, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->status);
	sqlite3_bind_int64(st, 2, a->now);
	sqi_bind_text(st, 3, a->id);
	if ((rc = sqi_step_done(c, st, err)))
		return rc;
	return lm_load(c, a->id, &a->out, err);
}

static int sq_lm_finalize(struct mw_store *store, const char *id, const char *status, int64_t now,
			  json_t **out, struct mw_err *err)
{
	struct lm_arg a = {.id = id, .status = status, .now = now};
	return sqi_submit_out(store, job_lm_finalize, &a, &a.out, out, err);
}

static int job_lm_delete(struct conn *c, void *p, struct mw_err *err)
{
	struct lm_arg *a = p;
	int rc = lm_exists(c, a->id, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_LM_DELETE, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->id);
	return sqi_step_done(c, st, err);
}

static int sq_lm_delete(struct mw_store *store, const char *id, struct mw_err *err)
{
	struct lm_arg a = {.id = id};
	return sqi_submit(store, job_lm_delete, &a, err);
}

static int job_lm_set_kv(struct conn *c, void *p, struct mw_err *err)
{
	struct lm_arg *a = p;
	int rc = lm_exists(c, a->id, err);
	if (!rc)
		rc = lm_kvs(c, a->status, a->id, a->kv, a->nkv, err);
	if (!rc) {
		sqlite3_stmt *st = sqi_prep(c, SQL_LM_TOUCH, err);
		if (!st)
			return -err->code;
		sqlite3_bind_int64(st, 1, a->now ? a->now : mw_now_ms());
		sqi_bind_text(st, 2, a->id);
		rc = sqi_step_done(c, st, err);
	}
	return rc;
}

static int sq_lm_set_tags(struct mw_store *store, const char *id, const struct mw_kv *t, size_t n,
			  int64_t now, struct mw_err *err)
{
	struct lm_arg a = {.id = id, .status = SQL_LM_TAG_SET, .kv = t, .nkv = n, .now = now};
	return sqi_submit(store, job_lm_set_kv, &a, err);
}

static int sq_lm_log_params(struct mw_store *store, const char *id, const struct mw_kv *p, size_t n,
			    struct mw_err *err)
{
	struct lm_arg a = {.id = id, .status = SQL_LM_PARAM_SET, .kv = p, .nkv = n};
	return sqi_submit(store, job_lm_set_kv, &a, err);
}

static int job_lm_delete_tag(struct conn *c, void *p, struct mw_err *err)
{
	struct lm_arg *a = p;
	int rc = lm_exists(c, a->id, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_LM_TAG_DEL, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->id);
	sqi_bind_text(st, 2, a->key);
	if ((rc = sqi_step_done(c, st, err)))
		return rc;
	if (!sqlite3_changes(c->db))
		return mw_err_set(err, MW_E_NOT_FOUND, "No tag with key '%s' on logged model '%s'",
				  a->key, a->id);
	return 0;
}

static int sq_lm_delete_tag(struct mw_store *store, const char *id, const char *k, struct mw_err *err)
{
	struct lm_arg a = {.id = id, .key = k};
	return sqi_submit(store, job_lm_delete_tag, &a, err);
}

static int lm_load(struct conn *c, const char *id, json_t **out, struct mw_err *err);

/* A logged-model search row (its id in column 0) as the whole model. */
static json_t *lm_by_id(struct conn *c, sqlite3_stmt *st, struct mw_err *err)
{
	json_t *m = NULL;
	return lm_load(c, sqi_col_text(st, 0), &m, err) ? NULL : m;
}

static const char *lm_attr_col(const char *k)
{
	if (!strcmp(k, "name")) return "l.name";
	if (!strcmp(k, "model_id")) return "l.model_id";
	if (!strcmp(k, "model_type")) return "l.model_type";
	if (!strcmp(k, "status")) return "l.status";
	if (!strcmp(k, "source_run_id")) return "l.source_run_id";
	if (!strcmp(k, "creation_timestamp")) return "l.creation_timestamp_ms";
	if (!strcmp(k, "last_updated_timestamp")) return "l.last_updated_timestamp_ms";
	return NULL;
}

static int sq_lm_search(struct mw_store *store, const char *const *exps, size_t nexp,
			const struct mw_filter *f, const struct mw_order *o, size_t no,
			const struct mw_page *p, json_t **out, bool *more, struct mw_err *err)
{
	struct qb q;
	sqi_qb_init(&q);
	QS(&q, "SELECT l.model_id FROM logged_models l");
	for (size_t i = 0; i < no; i++) {
		if (o[i].kind != MW_KEY_METRIC)
			continue;
		mw_buf_printf(&q.sql,
			      " LEFT JOIN (SELECT model_id, max(value) AS value FROM logged_model_metrics"
			      " WHERE key = ");
		sqi_qb_text(&q, o[i].key);
		mw_buf_printf(&q.sql, " GROUP BY model_id) o%zu ON"
				      " o%zu.model_id = l.model_id",
			      i, i);
	}
	QS(&q, " WHERE l.lifecycle_stage = 'active' AND l.experiment_id IN (");
	for (size_t i = 0; i < nexp; i++) {
		if (i)
			QS(&q, ", ");
		int64_t id;
		sqi_qb_int(&q, mw_parse_int64(exps[i], &id) ? -1 : id);
	}
	QS(&q, ")");
	for (size_t i = 0; f && i < f->n; i++) {
		const struct mw_clause *cl = &f->c[i];
		QS(&q, " AND ");
		if (cl->kind == MW_KEY_ATTR) {
			const char *col = lm_attr_col(cl->key);
			sqi_qb_cmp(&q, col ? col : "NULL", cl);
		} else if (cl->kind == MW_KEY_METRIC) {
			QS(&q, "EXISTS (SELECT 1 FROM logged_model_metrics m WHERE m.model_id = l.model_id"
			       " AND m.key = ");
			sqi_qb_text(&q, cl->key);
			QS(&q, " AND ");
			sqi_qb_cmp(&q, "m.value", cl);
			QS(&q, ")");
		} else {
			mw_buf_printf(&q.sql,
				      "EXISTS (SELECT 1 FROM %s x WHERE x.model_id = l.model_id AND x.key = ",
				      cl->kind == MW_KEY_PARAM ? "logged_model_params"
							       : "logged_model_tags");
			sqi_qb_text(&q, cl->key);
			QS(&q, " AND ");
			sqi_qb_cmp(&q, "x.value", cl);
			QS(&q, ")");
		}
	}
	QS(&q, " ORDER BY ");
	for (size_t i = 0; i < no; i++) {
		if (o[i].kind == MW_KEY_METRIC) {
			char col[32];
			snprintf(col, sizeof col, "o%zu.value", i);
			sqi_qb_order_col(&q, col, NULL, o[i].asc);
		} else {
			const char *col = lm_attr_col(o[i].key);
			if (!col)
				continue;
			sqi_qb_order_col(&q, col, NULL, o[i].asc);
		}
		QS(&q, ", ");
	}
	if (!no)
		QS(&q, "l.creation_timestamp_ms DESC, ");
	QS(&q, "l.model_id ASC");
	sqi_qb_page(&q, p);
	return sqi_qb_search(store, &q, p, "models", lm_by_id, out, more, err);
}

/* ================================================================ ops */

static const struct mw_store_ops sqlite_ops = {
	.exp_create = sq_exp_create,
	.exp_get = sq_exp_get,
	.exp_get_by_name = sq_exp_get_by_name,
	.exp_search = sq_exp_search,
	.exp_rename = sq_exp_rename,
	.exp_set_deleted = sq_exp_set_deleted,
	.exp_set_tag = sq_exp_set_tag,
	.exp_delete_tag = sq_exp_delete_tag,
	.run_create = sq_run_create,
	.run_get = sq_run_get,
	.run_update = sq_run_update,
	.run_set_deleted = sq_run_set_deleted,
	.run_log_batch = sq_run_log_batch,
	.run_delete_tag = sq_run_delete_tag,
	.run_log_inputs = sq_run_log_inputs,
	.run_log_outputs = sq_run_log_outputs,
	.run_search = sq_run_search,
	.metric_history = sq_metric_history,
	.metric_history_sampled = sq_metric_history_sampled,
	.metric_history_bulk = sq_metric_history_bulk,
	.lm_create = sq_lm_create,
	.lm_get = sq_lm_get,
	.lm_finalize = sq_lm_finalize,
	.lm_delete = sq_lm_delete,
	.lm_set_tags = sq_lm_set_tags,
	.lm_delete_tag = sq_lm_delete_tag,
	.lm_log_params = sq_lm_log_params,
	.lm_search = sq_lm_search,
	.art_put = sqa_art_put,
	.art_get = sqa_art_get,
	.art_list = sqa_art_list,
	.art_tree = sqa_art_tree,
	.art_delete = sqa_art_delete,
	.art_each = sqa_art_each,
	.rm_create = sqr_rm_create,
	.rm_get = sqr_rm_get,
	.rm_rename = sqr_rm_rename,
	.rm_update = sqr_rm_update,
	.rm_delete = sqr_rm_delete,
	.rm_search = sqr_rm_search,
	.rm_set_tag = sqr_rm_set_tag,
	.rm_delete_tag = sqr_rm_delete_tag,
	.rm_set_alias = sqr_rm_set_alias,
	.rm_delete_alias = sqr_rm_delete_alias,
	.rm_get_by_alias = sqr_rm_get_by_alias,
	.rm_alias_previous = sqr_rm_alias_previous,
	.rm_latest_versions = sqr_rm_latest_versions,
	.rm_history = sqr_rm_history,
	.mv_create = sqr_mv_create,
	.mv_get = sqr_mv_get,
	.mv_update = sqr_mv_update,
	.mv_delete = sqr_mv_delete,
	.mv_transition = sqr_mv_transition,
	.mv_search = sqr_mv_search,
	.mv_set_tag = sqr_mv_set_tag,
	.mv_delete_tag = sqr_mv_delete_tag,
	.mv_set_card = sqr_mv_set_card,
	.mv_get_card = sqr_mv_get_card,
};

const struct mw_store_backend mw_store_sqlite = {
	.scheme = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.trim = sq_trim,
	.write_handle = sq_write_handle,
	.txn = &sqlite_txn,
	.sql = &sqlite_sql,
	.migrations = &sqlite_migrations,
	.ops = &sqlite_ops,
};
