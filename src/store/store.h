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
	/* The backend and its database (--store-uri, a secret: it may hold a
	 * password; never log it).  NULL or "": SQLite in data_dir.  Read by
	 * mw_store_open once the backends support it (another change). */
	const char *uri;
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

/* ------------------------------------------------------------ artifacts */

/* Path manifests: an artifact path (normalised, relative to the
 * mlflow-artifacts:/ root, e.g. "0/<run>/artifacts/model/MLmodel") maps to
 * the SHA-256 digest and size of a blob.  Putting a path that exists with
 * other content replaces it and keeps the old entry in artifact_history
 * (nothing is replaced silently); the same digest again is a no-op. */
struct mw_art_entry {
	char path[1024];
	char digest[65];
	uint64_t size;
	int64_t created;
};

int mw_store_art_put(struct mw_store *s, const char *path, const char *digest, uint64_t size,
		     int64_t now_ms, bool *replaced, struct mw_err *err);
int mw_store_art_get(struct mw_store *s, const char *path, struct mw_art_entry *out,
		     struct mw_err *err);
/* Direct children of dir ("" = root): {"files":[{path (basename), is_dir,
 * file_size}]} sorted by name; files omitted when empty.  Paths of a
 * directory that does not exist give no files, as MLflow does. */
int mw_store_art_list(struct mw_store *s, const char *dir, json_t **out, struct mw_err *err);
/* Every file under dir with its digest: [{path (relative to dir), digest, size}]. */
int mw_store_art_tree(struct mw_store *s, const char *dir, json_t **out, struct mw_err *err);
/* Delete a file, or everything under a directory; *removed gets the count. */
int mw_store_art_delete(struct mw_store *s, const char *path, int64_t now_ms, int *removed,
			struct mw_err *err);
/* Call fn for every digest referenced now or by history (for gc and fsck). */
typedef int (*mw_store_digest_fn)(void *ctx, const char *digest, uint64_t size,
				  const char *path);
int mw_store_art_each(struct mw_store *s, bool include_history, mw_store_digest_fn fn, void *ctx,
		      struct mw_err *err);
/* Whether a current manifest entry references digest (gc's last check, made
 * while the blob is locked; reads what is committed now). */
int mw_store_art_digest_used(struct mw_store *s, const char *digest, bool *used,
			     struct mw_err *err);

/* ------------------------------------------------------------ registry */

/* Who did a registry change, why, and with what evidence (promotion history). */
struct mw_audit {
	const char *who;        /* user, or "anonymous" */
	const char *reason;     /* may be NULL */
	const char *evidence;   /* JSON text (object or array), may be NULL */
	int64_t now_ms;
};

int mw_store_rm_create(struct mw_store *s, const char *name, const char *description,
		       const struct mw_kv *tags, size_t ntags, const char *user_id, int64_t now_ms,
		       json_t **out, struct mw_err *err);
/* {name, description, user_id, creation_timestamp, last_updated_timestamp,
 *  latest_versions[], tags[], aliases[{alias,version}]} */
int mw_store_rm_get(struct mw_store *s, const char *name, json_t **out, struct mw_err *err);
int mw_store_rm_rename(struct mw_store *s, const char *name, const char *new_name,
		       int64_t now_ms, json_t **out, struct mw_err *err);
int mw_store_rm_update(struct mw_store *s, const char *name, const char *description,
		       int64_t now_ms, json_t **out, struct mw_err *err);
/* Deletes the model, its versions, aliases, tags, cards and pinned manifests
 * (blobs stay until gc); the promotion history is kept. */
int mw_store_rm_delete(struct mw_store *s, const char *name, int64_t now_ms, struct mw_err *err);
/* out: {"registered_models":[...]} */
int mw_store_rm_search(struct mw_store *s, const struct mw_filter *f, const struct mw_order *o,
		       size_t norder, const struct mw_page *page, json_t **out, bool *has_more,
		       struct mw_err *err);
int mw_store_rm_set_tag(struct mw_store *s, const char *name, const char *key, const char *value,
			struct mw_err *err);
int mw_store_rm_delete_tag(struct mw_store *s, const char *name, const char *key,
			   struct mw_err *err);
/* Alias moves are audited (promotion_events, kind "alias_set"/"alias_deleted"
 * or "rollback" when rollback is true). */
int mw_store_rm_set_alias(struct mw_store *s, const char *name, const char *alias,
			  int64_t version, bool rollback, const struct mw_audit *a,
			  struct mw_err *err);
int mw_store_rm_delete_alias(struct mw_store *s, const char *name, const char *alias,
			     const struct mw_audit *a, struct mw_err *err);
/* The version an alias points to, as a model_version object. */
int mw_store_rm_get_by_alias(struct mw_store *s, const char *name, const char *alias,
			     json_t **out, struct mw_err *err);
/* The version the alias pointed to before its current one (from history);
 * MW_E_NOT_FOUND when there is none that still exists. */
int mw_store_rm_alias_previous(struct mw_store *s, const char *name, const char *alias,
			       int64_t *version, struct mw_err *err);
/* Latest READY version per stage (stages NULL/0 = every stage). out: array */
int mw_store_rm_latest_versions(struct mw_store *s, const char *name, const char *const *stages,
				size_t nstages, json_t **out, struct mw_err *err);
/* Promotion history, oldest first: array of {kind, target, from_version,
 * to_version, from_stage, to_stage, who, at, reason, evidence}. */
int mw_store_rm_history(struct mw_store *s, const char *name, json_t **out, struct mw_err *err);

struct mw_mv_create {
	const char *name;
	const char *source;            /* stored verbatim */
	const char *run_id;            /* may be NULL */
	const char *run_link;
	const char *description;
	const char *logged_model_id;   /* MLflow 3 model_id, may be NULL */
	const char *user_id;
	const struct mw_kv *tags;
	size_t ntags;
	/* The artifact directory (manifest path prefix) whose files the version
	 * pins; NULL pins nothing.  The pinned copy lives under
	 * "_registry/<rm_id>/<version>" and storage_location is
	 * "mlflow-artifacts:/_registry/<rm_id>/<version>". */
	const char *pin_prefix;
	int64_t now_ms;
};
/* out: {model_version}.  The version number is max + 1 for the model. */
int mw_store_mv_create(struct mw_store *s, const struct mw_mv_create *c, json_t **out,
		       struct mw_err *err);
/* model_version: {name, version (string), creation_timestamp,
 *  last_updated_timestamp, user_id, description, current_stage, source, run_id,
 *  run_link, status, status_message, tags[], aliases[], model_id,
 *  storage_location, manifest_digest} */
int mw_store_mv_get(struct mw_store *s, const char *name, int64_t version, json_t **out,
		    struct mw_err *err);
int mw_store_mv_update(struct mw_store *s, const char *name, int64_t version,
		       const char *description, int64_t now_ms, json_t **out, struct mw_err *err);
/* Deleting a version removes its aliases (audited) and pinned manifest. */
int mw_store_mv_delete(struct mw_store *s, const char *name, int64_t version,
		       const struct mw_audit *a, struct mw_err *err);
int mw_store_mv_transition(struct mw_store *s, const char *name, int64_t version,
			   const char *stage, bool archive_existing, const struct mw_audit *a,
			   json_t **out, struct mw_err *err);
/* out: {"model_versions":[...]} */
int mw_store_mv_search(struct mw_store *s, const struct mw_filter *f, const struct mw_order *o,
		       size_t norder, const struct mw_page *page, json_t **out, bool *has_more,
		       struct mw_err *err);
int mw_store_mv_set_tag(struct mw_store *s, const char *name, int64_t version, const char *key,
			const char *value, struct mw_err *err);
int mw_store_mv_delete_tag(struct mw_store *s, const char *name, int64_t version,
			   const char *key, struct mw_err *err);
/* Model cards: a JSON object per version (NULL card = none yet). */
int mw_store_mv_set_card(struct mw_store *s, const char *name, int64_t version,
			 const char *card_json, const char *who, int64_t now_ms,
			 struct mw_err *err);
int mw_store_mv_get_card(struct mw_store *s, const char *name, int64_t version, json_t **out,
			 struct mw_err *err);

#endif
