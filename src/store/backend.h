/*
 * backend.h - private to store/: the ops struct every metadata backend fills.
 *
 * store.c dispatches each public mw_store_* call through this table, so a
 * PostgreSQL backend (store/postgres.c) is one more file and one more row in
 * store.c's backend list; callers never change.  Each op has the public
 * function's signature with the backend's own handle first.
 */
#ifndef MW_STORE_BACKEND_H
#define MW_STORE_BACKEND_H

#include "store/store.h"

struct mw_store_ops {
	const char *name;
	int (*open)(const struct mw_store_opts *o, void **impl, struct mw_err *err);
	void (*close)(void *impl);
	void (*stats)(void *impl, struct mw_store_stats *out);
	int (*schema_version)(void *impl);
	void (*trim)(void *impl);

	int (*exp_create)(void *, const char *, const char *, const char *, const struct mw_kv *,
			  size_t, int64_t, char[32], struct mw_err *);
	int (*exp_get)(void *, const char *, json_t **, struct mw_err *);
	int (*exp_get_by_name)(void *, const char *, json_t **, struct mw_err *);
	int (*exp_search)(void *, const struct mw_filter *, const struct mw_order *, size_t,
			  enum mw_view, const struct mw_page *, json_t **, bool *, struct mw_err *);
	int (*exp_rename)(void *, const char *, const char *, int64_t, struct mw_err *);
	int (*exp_set_deleted)(void *, const char *, bool, int64_t, struct mw_err *);
	int (*exp_set_tag)(void *, const char *, const char *, const char *, struct mw_err *);
	int (*exp_delete_tag)(void *, const char *, const char *, struct mw_err *);

	int (*run_create)(void *, const struct mw_run_create *, json_t **, struct mw_err *);
	int (*run_get)(void *, const char *, json_t **, struct mw_err *);
	int (*run_update)(void *, const char *, const char *, int64_t, const char *, json_t **,
			  struct mw_err *);
	int (*run_set_deleted)(void *, const char *, bool, int64_t, struct mw_err *);
	int (*run_log_batch)(void *, const char *, const struct mw_metric *, size_t,
			     const struct mw_kv *, size_t, const struct mw_kv *, size_t,
			     struct mw_err *);
	int (*run_delete_tag)(void *, const char *, const char *, struct mw_err *);
	int (*run_log_inputs)(void *, const char *, const struct mw_dataset_input *, size_t,
			      const struct mw_model_ref *, size_t, struct mw_err *);
	int (*run_log_outputs)(void *, const char *, const struct mw_model_ref *, size_t,
			       struct mw_err *);
	int (*run_search)(void *, const char *const *, size_t, const struct mw_filter *,
			  const struct mw_order *, size_t, enum mw_view, const struct mw_page *,
			  json_t **, bool *, struct mw_err *);
	int (*metric_history)(void *, const char *, const char *, const struct mw_page *,
			      json_t **, bool *, struct mw_err *);
	int (*metric_history_sampled)(void *, const char *const *, size_t, const char *, bool,
				      int64_t, int64_t, int64_t, json_t **, struct mw_err *);
	int (*metric_history_bulk)(void *, const char *const *, size_t, const char *, int64_t,
				   json_t **, struct mw_err *);

	int (*lm_create)(void *, const struct mw_lm_create *, json_t **, struct mw_err *);
	int (*lm_get)(void *, const char *, json_t **, struct mw_err *);
	int (*lm_finalize)(void *, const char *, const char *, int64_t, json_t **,
			   struct mw_err *);
	int (*lm_delete)(void *, const char *, struct mw_err *);
	int (*lm_set_tags)(void *, const char *, const struct mw_kv *, size_t, int64_t,
			   struct mw_err *);
	int (*lm_delete_tag)(void *, const char *, const char *, struct mw_err *);
	int (*lm_log_params)(void *, const char *, const struct mw_kv *, size_t, struct mw_err *);
	int (*lm_search)(void *, const char *const *, size_t, const struct mw_filter *,
			 const struct mw_order *, size_t, const struct mw_page *, json_t **, bool *,
			 struct mw_err *);

	/* artifacts and registry */
	int (*art_put)(void *, const char *, const char *, uint64_t, int64_t, bool *, struct mw_err *);
	int (*art_get)(void *, const char *, struct mw_art_entry *, struct mw_err *);
	int (*art_list)(void *, const char *, json_t **, struct mw_err *);
	int (*art_tree)(void *, const char *, json_t **, struct mw_err *);
	int (*art_delete)(void *, const char *, int64_t, int *, struct mw_err *);
	int (*art_each)(void *, bool, mw_store_digest_fn, void *, struct mw_err *);
	int (*rm_create)(void *, const char *, const char *, const struct mw_kv *, size_t, const char *, int64_t, json_t **, struct mw_err *);
	int (*rm_get)(void *, const char *, json_t **, struct mw_err *);
	int (*rm_rename)(void *, const char *, const char *, int64_t, json_t **, struct mw_err *);
	int (*rm_update)(void *, const char *, const char *, int64_t, json_t **, struct mw_err *);
	int (*rm_delete)(void *, const char *, int64_t, struct mw_err *);
	int (*rm_search)(void *, const struct mw_filter *, const struct mw_order *, size_t, const struct mw_page *, json_t **, bool *, struct mw_err *);
	int (*rm_set_tag)(void *, const char *, const char *, const char *, struct mw_err *);
	int (*rm_delete_tag)(void *, const char *, const char *, struct mw_err *);
	int (*rm_set_alias)(void *, const char *, const char *, int64_t, bool, const struct mw_audit *, struct mw_err *);
	int (*rm_delete_alias)(void *, const char *, const char *, const struct mw_audit *, struct mw_err *);
	int (*rm_get_by_alias)(void *, const char *, const char *, json_t **, struct mw_err *);
	int (*rm_alias_previous)(void *, const char *, const char *, int64_t *, struct mw_err *);
	int (*rm_latest_versions)(void *, const char *, const char *const *, size_t, json_t **, struct mw_err *);
	int (*rm_history)(void *, const char *, json_t **, struct mw_err *);
	int (*mv_create)(void *, const struct mw_mv_create *, json_t **, struct mw_err *);
	int (*mv_get)(void *, const char *, int64_t, json_t **, struct mw_err *);
	int (*mv_update)(void *, const char *, int64_t, const char *, int64_t, json_t **, struct mw_err *);
	int (*mv_delete)(void *, const char *, int64_t, const struct mw_audit *, struct mw_err *);
	int (*mv_transition)(void *, const char *, int64_t, const char *, bool, const struct mw_audit *, json_t **, struct mw_err *);
	int (*mv_search)(void *, const struct mw_filter *, const struct mw_order *, size_t, const struct mw_page *, json_t **, bool *, struct mw_err *);
	int (*mv_set_tag)(void *, const char *, int64_t, const char *, const char *, struct mw_err *);
	int (*mv_delete_tag)(void *, const char *, int64_t, const char *, struct mw_err *);
	int (*mv_set_card)(void *, const char *, int64_t, const char *, const char *, int64_t, struct mw_err *);
	int (*mv_get_card)(void *, const char *, int64_t, json_t **, struct mw_err *);
};

/* ------------------------------------------------------------ the writer (writer.c) */

/* A write job: runs inside the write transaction on the backend's write
 * handle tx; returns 0 or a negative MW_E* code with err filled. */
typedef int (*mw_store_job_fn)(void *tx, void *arg, struct mw_err *err);

/* A backend's transaction control on its write handle.  begin opens a write
 * transaction, commit makes it durable, rollback abandons it; savepoint,
 * release and rollback_to bracket one job inside a group (release and
 * rollback_to cannot fail in a way the writer could handle). */
struct mw_store_txn {
	int (*begin)(void *tx, struct mw_err *err);
	int (*commit)(void *tx, struct mw_err *err);
	void (*rollback)(void *tx);
	int (*savepoint)(void *tx, struct mw_err *err);
	void (*release)(void *tx);
	void (*rollback_to)(void *tx);
};

struct mw_store_writer;
/* The group-commit writer over tx (see writer.c); max_batch jobs per group. */
struct mw_store_writer *mw_store_writer_new(const struct mw_store_txn *txn, void *tx,
					    int max_batch);
/* Run fn in the next group commit; returns once its transaction committed
 * (0) or failed (its error).  MW_E_UNAVAILABLE after drain. */
int mw_store_writer_submit(struct mw_store_writer *w, mw_store_job_fn fn, void *arg,
			   struct mw_err *err);
/* Refuse new jobs and wait until every queued one is done. */
void mw_store_writer_drain(struct mw_store_writer *w);
/* Drains, then frees (NULL is fine). */
void mw_store_writer_free(struct mw_store_writer *w);
/* commits, jobs, failed_jobs, queue_depth and the two histograms. */
void mw_store_writer_stats(struct mw_store_writer *w, struct mw_store_stats *out);
/* Call fn(tx, ud) when no writer holds the handle (else skip it): for
 * housekeeping such as giving back cache memory. */
void mw_store_writer_when_idle(struct mw_store_writer *w, void (*fn)(void *tx, void *ud),
			       void *ud);

/* ------------------------------------------------------------ migrations (migrate.c) */

/* Plain SQL on a backend's write handle, for the migration runner. */
struct mw_store_sql {
	/* Run one or more statements that return no rows. */
	int (*exec)(void *tx, const char *sql, struct mw_err *err);
	/* The first column of the first row of a query, as an integer. */
	int (*query_int)(void *tx, const char *sql, int64_t *out, struct mw_err *err);
};

/* A backend's schema as data, in its own dialect. */
struct mw_store_migrations {
	/* Creates schema_migrations (version INTEGER PRIMARY KEY, applied_at:
	 * ms since the epoch) if it does not exist. */
	const char *table_sql;
	/* Migration v is steps[v - 1]; n is the newest version. */
	const char *const *steps;
	int n;
	/* Optional: rows a migration seeds, run in its transaction after its SQL. */
	int (*seed)(void *tx, int version, int64_t now_ms, struct mw_err *err);
};

/* Bring the database on tx up to m->n: every migration after the recorded
 * version, in order, one transaction each (txn's begin/commit/rollback),
 * recorded in schema_migrations.  A database newer than m->n is refused
 * (MW_E_IO).  *version gets the version reached. */
int mw_store_migrate(const struct mw_store_txn *txn, const struct mw_store_sql *sql, void *tx,
		     const struct mw_store_migrations *m, int *version, struct mw_err *err);

extern const struct mw_store_ops mw_store_sqlite_ops;

#endif
