/*
 * backend.h - private to store/: what a metadata backend provides, and the
 * backend-neutral machinery store.c builds from it.
 *
 * A backend (store/sqlite.c today, store/postgres.c later) is one struct
 * mw_store_backend: its URI scheme, open/close/trim, its write handle with
 * the transaction hooks the group-commit writer (writer.c) drives, plain SQL
 * hooks and its numbered migrations for the migration runner (migrate.c),
 * and one ops struct per domain (tracking, registry, artifacts, auth; NULL for a
 * domain it lacks) that the public mw_store_* calls dispatch to.  Callers
 * never change when a backend is added.
 */
#ifndef MW_STORE_BACKEND_H
#define MW_STORE_BACKEND_H

#include "store/store.h"
#include "store/artifacts.h"
#include "store/audit.h"
#include "store/auth.h"
#include "store/registry.h"
#include "store/tracking.h"

/* ------------------------------------------------------------ domain ops */

/* One ops struct per domain.  Each op has the public function's signature
 * (the store first); the dispatchers in store.c answer MW_E_NOT_IMPLEMENTED
 * for a domain (or an op) a backend leaves NULL.  A new domain is a new
 * struct here, a pointer in struct mw_store_backend, its header and
 * dispatchers, and a file per backend. */

struct mw_store_tracking_ops {
	int (*exp_create)(struct mw_store *, const char *, const char *, const char *,
			  const struct mw_kv *, size_t, int64_t, char[32], struct mw_err *);
	int (*exp_get)(struct mw_store *, const char *, struct mw_arena *, struct mw_experiment *,
		       struct mw_err *);
	int (*exp_get_by_name)(struct mw_store *, const char *, struct mw_arena *,
			       struct mw_experiment *, struct mw_err *);
	int (*exp_by_location)(struct mw_store *, const char *const *, size_t, char[32], size_t *,
			       struct mw_err *);
	int (*exp_search)(struct mw_store *, const struct mw_filter *, const struct mw_order *,
			  size_t, enum mw_view, const struct mw_page *, struct mw_arena *,
			  struct mw_experiment **, size_t *, bool *, struct mw_err *);
	int (*exp_rename)(struct mw_store *, const char *, const char *, int64_t, struct mw_err *);
	int (*exp_set_deleted)(struct mw_store *, const char *, bool, int64_t, struct mw_err *);
	int (*exp_set_tag)(struct mw_store *, const char *, const char *, const char *,
			   struct mw_err *);
	int (*exp_delete_tag)(struct mw_store *, const char *, const char *, struct mw_err *);

	int (*run_create)(struct mw_store *, const struct mw_run_create *, struct mw_arena *,
			  struct mw_run *, struct mw_err *);
	int (*run_get)(struct mw_store *, const char *, struct mw_arena *, struct mw_run *,
		       struct mw_err *);
	int (*run_update)(struct mw_store *, const char *, const char *, int64_t, const char *,
			  const struct mw_kv *, size_t, struct mw_arena *, struct mw_run_info *,
			  struct mw_err *);
	int (*run_set_deleted)(struct mw_store *, const char *, bool, int64_t, struct mw_err *);
	int (*run_log_batch)(struct mw_store *, const char *, const struct mw_metric *, size_t,
			     const struct mw_kv *, size_t, const struct mw_kv *, size_t,
			     const char *, struct mw_err *);
	int (*run_delete_tag)(struct mw_store *, const char *, const char *, struct mw_err *);
	int (*run_log_inputs)(struct mw_store *, const char *, const struct mw_dataset_input *,
			      size_t, const struct mw_model_ref *, size_t, struct mw_err *);
	int (*run_log_outputs)(struct mw_store *, const char *, const struct mw_model_ref *, size_t,
			       struct mw_err *);
	int (*run_search)(struct mw_store *, const char *const *, size_t, const struct mw_filter *,
			  const struct mw_order *, size_t, enum mw_view, const struct mw_page *,
			  struct mw_arena *, struct mw_run **, size_t *, bool *, struct mw_err *);
	int (*metric_history)(struct mw_store *, const char *, const char *, const struct mw_page *,
			      struct mw_arena *, struct mw_metric **, size_t *, bool *,
			      struct mw_err *);
	int (*metric_history_sampled)(struct mw_store *, const char *const *, size_t, const char *,
				      bool, int64_t, int64_t, int64_t, struct mw_arena *,
				      struct mw_metric **, size_t *, struct mw_err *);
	int (*metric_history_bulk)(struct mw_store *, const char *const *, size_t, const char *,
				   int64_t, struct mw_arena *, struct mw_metric **, size_t *,
				   struct mw_err *);

	int (*lm_create)(struct mw_store *, const struct mw_lm_create *, struct mw_arena *,
			 struct mw_logged_model *, struct mw_err *);
	int (*lm_get)(struct mw_store *, const char *, struct mw_arena *, struct mw_logged_model *,
		      struct mw_err *);
	int (*lm_finalize)(struct mw_store *, const char *, const char *, int64_t,
			   struct mw_arena *, struct mw_logged_model *, struct mw_err *);
	int (*lm_delete)(struct mw_store *, const char *, struct mw_err *);
	int (*lm_set_tags)(struct mw_store *, const char *, const struct mw_kv *, size_t, int64_t,
			   struct mw_err *);
	int (*lm_delete_tag)(struct mw_store *, const char *, const char *, struct mw_err *);
	int (*lm_log_params)(struct mw_store *, const char *, const struct mw_kv *, size_t,
			     struct mw_err *);
	int (*lm_search)(struct mw_store *, const char *const *, size_t, const struct mw_filter *,
			 const struct mw_order *, size_t, const struct mw_page *, struct mw_arena *,
			 struct mw_logged_model **, size_t *, bool *, struct mw_err *);
};

struct mw_store_registry_ops {
	int (*rm_create)(struct mw_store *, const char *, const char *, const struct mw_kv *,
			 size_t, const char *, int64_t, struct mw_arena *,
			 struct mw_registered_model *, struct mw_err *);
	int (*rm_get)(struct mw_store *, const char *, struct mw_arena *,
		      struct mw_registered_model *, struct mw_err *);
	int (*rm_name_by_id)(struct mw_store *, int64_t, struct mw_arena *, const char **,
			     struct mw_err *);
	int (*rm_rename)(struct mw_store *, const char *, const char *, int64_t, struct mw_arena *,
			 struct mw_registered_model *, struct mw_err *);
	int (*rm_update)(struct mw_store *, const char *, const char *, int64_t, struct mw_arena *,
			 struct mw_registered_model *, struct mw_err *);
	int (*rm_delete)(struct mw_store *, const char *, int64_t, struct mw_err *);
	int (*rm_search)(struct mw_store *, const struct mw_filter *, const struct mw_order *,
			 size_t, const struct mw_hide_tag *, const struct mw_page *,
			 struct mw_arena *, struct mw_registered_model **, size_t *, bool *,
			 struct mw_err *);
	int (*rm_set_tag)(struct mw_store *, const char *, const char *, const char *,
			  struct mw_err *);
	int (*rm_delete_tag)(struct mw_store *, const char *, const char *, struct mw_err *);
	int (*rm_set_alias)(struct mw_store *, const char *, const char *, int64_t, bool,
			    const struct mw_audit *, struct mw_err *);
	int (*rm_move_alias)(struct mw_store *, const char *, const char *, int64_t, bool,
			     const struct mw_audit *, struct mw_arena *, struct mw_alias_move *,
			     struct mw_err *);
	int (*rm_delete_alias)(struct mw_store *, const char *, const char *,
			       const struct mw_audit *, struct mw_err *);
	int (*rm_get_by_alias)(struct mw_store *, const char *, const char *, struct mw_arena *,
			       struct mw_model_version *, struct mw_err *);
	int (*rm_alias_state)(struct mw_store *, const char *, const char *,
			      struct mw_alias_state *, struct mw_err *);
	int (*rm_latest_versions)(struct mw_store *, const char *, const char *const *, size_t,
				  struct mw_arena *, struct mw_model_version **, size_t *,
				  struct mw_err *);
	int (*rm_history)(struct mw_store *, const char *, struct mw_arena *,
			  struct mw_promotion_event **, size_t *, struct mw_err *);
	int (*mv_create)(struct mw_store *, const struct mw_mv_create *, struct mw_arena *,
			 struct mw_model_version *, struct mw_err *);
	int (*mv_get)(struct mw_store *, const char *, int64_t, struct mw_arena *,
		      struct mw_model_version *, struct mw_err *);
	int (*mv_update)(struct mw_store *, const char *, int64_t, const char *, int64_t,
			 struct mw_arena *, struct mw_model_version *, struct mw_err *);
	int (*mv_delete)(struct mw_store *, const char *, int64_t, const struct mw_audit *,
			 const char *, struct mw_err *);
	int (*mv_transition)(struct mw_store *, const char *, int64_t, const char *, const char *,
			     const char *, const struct mw_audit *, struct mw_arena *,
			     struct mw_model_version *, struct mw_err *);
	int (*mv_search)(struct mw_store *, const struct mw_filter *, const struct mw_order *,
			 size_t, const struct mw_hide_tag *, const struct mw_page *,
			 struct mw_arena *, struct mw_model_version **, size_t *, bool *,
			 struct mw_err *);
	int (*mv_set_tag)(struct mw_store *, const char *, int64_t, const char *, const char *,
			  struct mw_err *);
	int (*mv_delete_tag)(struct mw_store *, const char *, int64_t, const char *,
			     struct mw_err *);
	int (*mv_set_card)(struct mw_store *, const char *, int64_t, const char *, const char *,
			   int64_t, struct mw_err *);
	int (*mv_get_card)(struct mw_store *, const char *, int64_t, struct mw_arena *,
			   struct mw_model_card *, struct mw_err *);
};

struct mw_store_artifacts_ops {
	int (*art_put)(struct mw_store *, const char *, const char *, uint64_t, int64_t, bool *,
		       struct mw_err *);
	int (*art_get)(struct mw_store *, const char *, struct mw_art_entry *, struct mw_err *);
	int (*art_list)(struct mw_store *, const char *, const struct mw_page *, struct mw_arena *,
			struct mw_art_child **, size_t *, bool *, struct mw_err *);
	int (*art_tree)(struct mw_store *, const char *, struct mw_arena *, struct mw_art_file **,
			size_t *, struct mw_err *);
	int (*art_delete)(struct mw_store *, const char *, int64_t, int *, struct mw_err *);
	int (*art_each)(struct mw_store *, bool, mw_store_digest_fn, void *, struct mw_err *);
	int (*art_digest_used)(struct mw_store *, const char *, bool *, struct mw_err *);
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
	/* Optional: give back cache memory (called only when no job runs). */
	void (*trim)(void *tx);
	/* Append rec to the audit log on tx, chained to the last row: run by
	 * the writer right after a job that carries a record succeeded, inside
	 * the job's savepoint (store/audit.h).  NULL: the backend has no audit
	 * log, and an audited write fails with MW_E_NOT_IMPLEMENTED. */
	int (*audit)(void *tx, const struct mw_audit_rec *rec, struct mw_err *err);
};

struct mw_store_writer;
/* The group-commit writer over tx (see writer.c); max_batch jobs per group. */
struct mw_store_writer *mw_store_writer_new(const struct mw_store_txn *txn, void *tx,
					    int max_batch);
/* Run fn in the next group commit; returns once its transaction committed
 * (0) or failed (its error).  audit (may be NULL) is appended to the audit
 * log in fn's savepoint once fn succeeded (txn->audit).  MW_E_UNAVAILABLE
 * after drain. */
int mw_store_writer_submit(struct mw_store_writer *w, mw_store_job_fn fn, void *arg,
			   const struct mw_audit_rec *audit, struct mw_err *err);
/* Refuse new jobs and wait until every queued one is done. */
void mw_store_writer_drain(struct mw_store_writer *w);
/* Drains, then frees (NULL is fine). */
void mw_store_writer_free(struct mw_store_writer *w);
/* commits, jobs, failed_jobs, queue_depth and the two histograms. */
void mw_store_writer_stats(struct mw_store_writer *w, struct mw_store_stats *out);
/* Call fn(tx, ud) when no writer holds the handle (else skip it): for
 * housekeeping such as giving back cache memory. */
void mw_store_writer_when_idle(struct mw_store_writer *w, void (*fn)(void *tx, void *ud), void *ud);

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

struct mw_store_audit_ops {
	int (*list)(struct mw_store *, const struct mw_audit_query *, size_t, struct mw_arena *,
		    struct mw_audit_entry **, size_t *, bool *, struct mw_err *);
	int (*verify)(struct mw_store *, int64_t *, int64_t *, struct mw_err *);
	int (*head)(struct mw_store *, int64_t *, char[65], struct mw_err *);
};

struct mw_store_auth_ops {
	int (*user_create)(struct mw_store *, const char *, const char *, enum mw_role, int64_t,
			   int64_t *, struct mw_err *);
	int (*user_get)(struct mw_store *, const char *, struct mw_arena *, struct mw_user *,
			struct mw_err *);
	int (*user_count)(struct mw_store *, int64_t *, struct mw_err *);
	int (*user_set_password)(struct mw_store *, const char *, const char *, struct mw_err *);
	int (*user_set_role)(struct mw_store *, const char *, enum mw_role, struct mw_err *);
	int (*user_delete)(struct mw_store *, const char *, struct mw_err *);
	int (*token_create)(struct mw_store *, int64_t, const char *, const char *, int64_t,
			    int64_t, bool, int64_t *, struct mw_err *);
	int (*token_get)(struct mw_store *, const char *, struct mw_arena *, struct mw_token *,
			 struct mw_err *);
	int (*token_list)(struct mw_store *, int64_t, struct mw_arena *, struct mw_token **,
			  size_t *, struct mw_err *);
	int (*token_revoke)(struct mw_store *, int64_t, int64_t, int64_t, char[65],
			    struct mw_err *);
	int (*token_touch)(struct mw_store *, int64_t, int64_t, struct mw_err *);
	int (*perm_put)(struct mw_store *, enum mw_perm_kind, const char *, int64_t, enum mw_perm,
			enum mw_perm_put, struct mw_err *);
	int (*perm_get)(struct mw_store *, enum mw_perm_kind, const char *, int64_t, enum mw_perm *,
			struct mw_err *);
	int (*perm_delete)(struct mw_store *, enum mw_perm_kind, const char *, int64_t,
			   struct mw_err *);
	int (*perm_list)(struct mw_store *, int64_t, struct mw_arena *, struct mw_perm_row **,
			 size_t *, struct mw_err *);
};

/* ------------------------------------------------------------ a backend */

/* Everything the store needs to know about one backend.  store.c picks it by
 * the scheme of --store-uri, opens it, makes the group-commit writer over its
 * write handle with its transaction hooks, runs its migrations, and from then
 * on dispatches every call through the domain's ops with the struct mw_store
 * as the first argument (mw_store_impl gives the backend its handle back). */
struct mw_store_backend {
	const char *scheme; /* "sqlite" */
	/* uri is the --store-uri (NULL: the default store in o->data_dir); the
	 * backend reads its location from it.  Messages must not repeat it: it
	 * may hold a password. */
	int (*open)(const struct mw_store_opts *o, const char *uri, void **impl,
		    struct mw_err *err);
	/* Called after the writer drained. */
	void (*close)(void *impl);
	/* Optional: give back cache memory of idle read handles. */
	void (*trim)(void *impl);
	/* Optional: bytes of memory the backend holds now (caches, statements). */
	uint64_t (*memory)(void *impl);
	/* The one handle writes (and migrations) run on. */
	void *(*write_handle)(void *impl);
	const struct mw_store_txn *txn;
	const struct mw_store_sql *sql;
	const struct mw_store_migrations *migrations;
	/* One pointer per domain; NULL: the backend does not have it. */
	const struct mw_store_tracking_ops *tracking;
	const struct mw_store_registry_ops *registry;
	const struct mw_store_artifacts_ops *artifacts;
	const struct mw_store_auth_ops *auth;
	const struct mw_store_audit_ops *audit;
};

extern const struct mw_store_backend mw_store_sqlite;

/* ------------------------------------------------------------ for backends (store.c) */

/* mw_store_open with a given backend instead of the URI's scheme (for tests
 * and tools; o->uri is still what the backend reads its location from). */
int mw_store_open_backend(const struct mw_store_backend *b, const struct mw_store_opts *o,
			  struct mw_store **out, struct mw_err *err);
/* The backend's handle of an open store. */
void *mw_store_impl(struct mw_store *s);
/* Run fn on the write handle in the store's next group commit (see writer.c),
 * with the audit record bound to s (mw_store_audit_bind), if any. */
int mw_store_submit(struct mw_store *s, mw_store_job_fn fn, void *arg, struct mw_err *err);

/* A growing array in an arena, for rows of unknown count: push returns a
 * zeroed new element of size bytes (the array doubles, copied, when full;
 * the old copy stays in the arena until it is freed). */
struct mw_store_vec {
	void *v;
	size_t n, cap;
};
void *mw_store_vec_push(struct mw_store_vec *vec, struct mw_arena *a, size_t size);

#endif
