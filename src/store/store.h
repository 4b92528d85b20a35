/*
 * store.h - the metadata store: one interface, one file per backend.
 *
 * The store is the only place that knows SQL.  Callers (domain modules such as
 * track/) see entities as jansson objects in MLflow's protobuf-JSON shape
 * (the canonical entity shape of mw), and pass writes as plain C values.
 *
 * Backends implement struct mw_store_ops (store/sqlite.c today;
 * store/postgres.c later) and nothing outside store/ changes when one is added.
 *
 * Durability contract: every write function returns only after its
 * transaction has committed (fsync'd per the sync setting).  Writes from many
 * threads are grouped by one writer thread into a single transaction (group
 * commit) so clients never see "database is locked"; each call still succeeds
 * or fails on its own (a savepoint per call).  Reads run concurrently on their
 * own connections and see every committed write.
 *
 * Ownership: json_t results are new references owned by the caller.  Input
 * strings are borrowed for the duration of the call.
 */
#ifndef MW_STORE_H
#define MW_STORE_H

#include "core/core.h"

/* ------------------------------------------------------------ search types */

/* A parsed search filter (the MLflow search grammar: clauses joined by AND).
 * Produced by track/filter.c, consumed by the backends.  All strings live in
 * the arena the parser was given. */
enum mw_cmp {
	MW_CMP_EQ, MW_CMP_NE, MW_CMP_GT, MW_CMP_GE, MW_CMP_LT, MW_CMP_LE,
	MW_CMP_LIKE, MW_CMP_ILIKE, MW_CMP_IN, MW_CMP_NOT_IN
};

enum mw_key_kind {
	MW_KEY_ATTR,     /* an attribute of the entity: canonical name in key */
	MW_KEY_METRIC,   /* metrics.<key> */
	MW_KEY_PARAM,    /* params.<key> */
	MW_KEY_TAG,      /* tags.<key> */
	MW_KEY_DATASET   /* datasets.<name|digest|context> */
};

enum mw_search_entity {
	MW_SEARCH_RUNS,
	MW_SEARCH_EXPERIMENTS,
	MW_SEARCH_LOGGED_MODELS,
	MW_SEARCH_REGISTERED_MODELS,
	MW_SEARCH_MODEL_VERSIONS
};

struct mw_clause {
	enum mw_key_kind kind;
	const char *key;       /* canonical attribute name, or the metric/param/tag key */
	enum mw_cmp cmp;
	bool is_num;           /* value is a number (metrics, numeric attributes) */
	double num;            /* the number, when is_num */
	int64_t inum;          /* the number as int64 when it is integral */
	const char *str;       /* the string, when !is_num and not a list */
	const char **list;     /* IN / NOT IN values */
	size_t nlist;
};

struct mw_filter {
	struct mw_clause *c;
	size_t n;
};

struct mw_order {
	enum mw_key_kind kind;
	const char *key;       /* canonical attribute name or metric/param/tag key */
	bool asc;
};

/* ------------------------------------------------------------ write inputs */

struct mw_kv {
	const char *key;
	const char *value;
};

struct mw_metric {
	const char *key;
	double value;          /* may be NaN or +-Inf */
	int64_t timestamp;
	int64_t step;
	const char *model_id;        /* may be NULL */
	const char *dataset_name;    /* may be NULL */
	const char *dataset_digest;  /* may be NULL */
};

struct mw_dataset_input {
	const char *name, *digest, *source_type, *source, *schema, *profile;
	struct mw_kv *tags;
	size_t ntags;
};

struct mw_model_ref {
	const char *model_id;
	int64_t step;
};

enum mw_view { MW_VIEW_ACTIVE = 1, MW_VIEW_DELETED = 2, MW_VIEW_ALL = 3 };

/* A page request: offset-based, encoded by callers as an opaque token. */
struct mw_page {
	int64_t max_results;
	int64_t offset;
};

/* ------------------------------------------------------------ the interface */

struct mw_store;

struct mw_store_stats {
	unsigned long long commits, jobs, failed_jobs;
	struct mw_hist *batch_size;     /* jobs per commit */
	struct mw_hist *commit_seconds; /* commit latency */
	int queue_depth;
};

struct mw_store_opts {
	const char *data_dir;   /* the database lives at <data_dir>/mw.db */
	int read_conns;         /* concurrent readers */
	bool sync_full;         /* fsync every commit (PRAGMA synchronous=FULL) */
	int max_batch;          /* jobs per group commit */
};

int mw_store_open(const struct mw_store_opts *o, struct mw_store **out, struct mw_err *err);
/* Drains queued writes, then closes every connection. */
void mw_store_close(struct mw_store *s);
void mw_store_stats(struct mw_store *s, struct mw_store_stats *out);
int mw_store_schema_version(struct mw_store *s);
/* Give back cache memory of idle connections (called when the server idles). */
void mw_store_trim(struct mw_store *s);

/* Experiments.  Ids are decimal strings ("0" is Default). */
/* artifact_location NULL: "<artifact_root>/<id>". */
int mw_store_exp_create(struct mw_store *s, const char *name, const char *artifact_location,
			const char *artifact_root, const struct mw_kv *tags, size_t ntags,
			int64_t now_ms, char id_out[32], struct mw_err *err);
int mw_store_exp_get(struct mw_store *s, const char *id, json_t **out, struct mw_err *err);
int mw_store_exp_get_by_name(struct mw_store *s, const char *name, json_t **out,
			     struct mw_err *err);
/* out: {"experiments":[...]} plus has_more flag. */
int mw_store_exp_search(struct mw_store *s, const struct mw_filter *f,
			const struct mw_order *order, size_t norder, enum mw_view view,
			const struct mw_page *page, json_t **out, bool *has_more,
			struct mw_err *err);
int mw_store_exp_rename(struct mw_store *s, const char *id, const char *new_name,
			int64_t now_ms, struct mw_err *err);
/* deleted=true soft-deletes the experiment and its runs; false restores. */
int mw_store_exp_set_deleted(struct mw_store *s, const char *id, bool deleted, int64_t now_ms,
			     struct mw_err *err);
int mw_store_exp_set_tag(struct mw_store *s, const char *id, const char *key,
			 const char *value, struct mw_err *err);
int mw_store_exp_delete_tag(struct mw_store *s, const char *id, const char *key,
			    struct mw_err *err);

/* Runs. */
struct mw_run_create {
	const char *run_id;          /* 32 hex, generated by the caller */
	const char *experiment_id;
	const char *user_id;
	const char *run_name;
	int64_t start_time;
	const struct mw_kv *tags;
	size_t ntags;
};
int mw_store_run_create(struct mw_store *s, const struct mw_run_create *rc, json_t **out,
			struct mw_err *err);
int mw_store_run_get(struct mw_store *s, const char *run_id, json_t **out, struct mw_err *err);
/* Any of status/run_name may be NULL, end_time < 0 means unchanged.
 * out gets the updated run_info. */
int mw_store_run_update(struct mw_store *s, const char *run_id, const char *status,
			int64_t end_time, const char *run_name, json_t **out,
			struct mw_err *err);
int mw_store_run_set_deleted(struct mw_store *s, const char *run_id, bool deleted,
			     int64_t now_ms, struct mw_err *err);
/* Atomic: all or nothing.  Params are immutable (same value again is fine,
 * a different value is MW_E_INVALID); tags overwrite; metrics append with
 * exact duplicates dropped.  A deleted run rejects writes. */
int mw_store_run_log_batch(struct mw_store *s, const char *run_id,
			   const struct mw_metric *m, size_t nm,
			   const struct mw_kv *params, size_t np,
			   const struct mw_kv *tags, size_t nt, struct mw_err *err);
int mw_store_run_delete_tag(struct mw_store *s, const char *run_id, const char *key,
			    struct mw_err *err);
int mw_store_run_log_inputs(struct mw_store *s, const char *run_id,
			    const struct mw_dataset_input *d, size_t nd,
			    const struct mw_model_ref *models, size_t nmodels,
			    struct mw_err *err);
int mw_store_run_log_outputs(struct mw_store *s, const char *run_id,
			     const struct mw_model_ref *models, size_t nmodels,
			     struct mw_err *err);
/* out: {"runs":[...]}. */
int mw_store_run_search(struct mw_store *s, const char *const *experiment_ids, size_t nexp,
			const struct mw_filter *f, const struct mw_order *order, size_t norder,
			enum mw_view view, const struct mw_page *page, json_t **out,
			bool *has_more, struct mw_err *err);
/* out: array of {key,value,timestamp,step}, ordered by step, timestamp. */
int mw_store_metric_history(struct mw_store *s, const char *run_id, const char *key,
			    const struct mw_page *page, json_t **out, bool *has_more,
			    struct mw_err *err);
/* Sampled history for charts: at most max_results points per run, evenly
 * spaced over the steps in [start_step, end_step] (has_range), always
 * keeping the first and last step.  out: array of {key,value,timestamp,step,run_id}. */
int mw_store_metric_history_sampled(struct mw_store *s, const char *const *run_ids, size_t nruns,
				    const char *key, bool has_range, int64_t start_step,
				    int64_t end_step, int64_t max_results, json_t **out,
				    struct mw_err *err);
/* Every point of the runs for one key, up to max_results in all (UI bulk). */
int mw_store_metric_history_bulk(struct mw_store *s, const char *const *run_ids, size_t nruns,
				 const char *key, int64_t max_results, json_t **out,
				 struct mw_err *err);

/* Logged models (MLflow 3). */
struct mw_lm_create {
	const char *model_id;        /* "m-" + 32 hex, generated by the caller */
	const char *experiment_id;
	const char *name;
	const char *model_type;      /* may be NULL */
	const char *source_run_id;   /* may be NULL */
	const struct mw_kv *params;
	size_t nparams;
	const struct mw_kv *tags;
	size_t ntags;
	int64_t now_ms;
};
int mw_store_lm_create(struct mw_store *s, const struct mw_lm_create *c, json_t **out,
		       struct mw_err *err);
int mw_store_lm_get(struct mw_store *s, const char *model_id, json_t **out, struct mw_err *err);
int mw_store_lm_finalize(struct mw_store *s, const char *model_id, const char *status,
			 int64_t now_ms, json_t **out, struct mw_err *err);
int mw_store_lm_delete(struct mw_store *s, const char *model_id, struct mw_err *err);
int mw_store_lm_set_tags(struct mw_store *s, const char *model_id, const struct mw_kv *tags,
			 size_t ntags, int64_t now_ms, struct mw_err *err);
int mw_store_lm_delete_tag(struct mw_store *s, const char *model_id, const char *key,
			   struct mw_err *err);
int mw_store_lm_log_params(struct mw_store *s, const char *model_id, const struct mw_kv *params,
			   size_t nparams, struct mw_err *err);
/* out: {"models":[...]}. */
int mw_store_lm_search(struct mw_store *s, const char *const *experiment_ids, size_t nexp,
		       const struct mw_filter *f, const struct mw_order *order, size_t norder,
		       const struct mw_page *page, json_t **out, bool *has_more,
		       struct mw_err *err);

#endif
