/*
 * tracking.h - the tracking domain of the metadata store: experiments, runs
 * (info, latest metrics, params, tags, dataset and model inputs, model
 * outputs), metric histories and MLflow 3 logged models, as plain C records.
 *
 * The records are mw's, not MLflow's: no JSON, no MLflow message, no URI
 * scheme.  track/ shapes them into MLflow's messages and words the errors.
 * The store keeps the rules that must hold inside one write transaction and
 * reports them with a kind and err->detail (store.h): a write to a deleted
 * experiment or run is MW_E_INVALID with detail MW_STORE_EXPERIMENT or
 * MW_STORE_RUN; a param logged again with another value is MW_E_CONFLICT
 * with MW_STORE_PARAM (params never change, so the stored value can be read
 * back to word the error); a taken experiment name is MW_E_EXISTS.
 *
 * Artifact locations: a new experiment's location is artifact_root joined
 * with its id, and a new run's (logged model's) artifact URI is its
 * experiment's location joined with the caller's relative path, each join
 * with exactly one '/'.  What the root and the relative paths look like is
 * the caller's business.
 *
 * Ownership: results are allocated from the caller's arena (the records,
 * their strings and arrays), so a record graph is freed at once with the
 * arena; nothing in a result is freed on its own.  A string field that may
 * be absent is NULL.  Inputs are borrowed for the call.
 */
#ifndef MW_STORE_TRACKING_H
#define MW_STORE_TRACKING_H

#include "store/store.h"

/* ------------------------------------------------------------ records */

/* A metric point: written by log_batch, read back as a run's latest values,
 * as histories and with logged models.  NaN and infinities are kept. */
struct mw_metric {
	const char *key;
	double value; /* may be NaN or +-Inf */
	int64_t timestamp;
	int64_t step;
	const char *run_id;         /* reads across runs and of logged models; else NULL */
	const char *model_id;       /* a logged model's metric; may be NULL */
	const char *dataset_name;   /* may be NULL */
	const char *dataset_digest; /* may be NULL */
};

struct mw_dataset_input {
	const char *name, *digest, *source_type, *source, *schema,
		*profile;   /* last two may be NULL */
	struct mw_kv *tags; /* the input's tags, by key */
	size_t ntags;
};

struct mw_model_ref {
	const char *model_id;
	int64_t step; /* model outputs */
};

struct mw_experiment {
	const char *experiment_id; /* decimal */
	const char *name;
	const char *artifact_location;
	const char *lifecycle_stage; /* "active" or "deleted" */
	int64_t creation_time;
	int64_t last_update_time;
	struct mw_kv *tags; /* by key */
	size_t ntags;
};

struct mw_run_info {
	const char *run_id;
	const char *run_name; /* may be NULL */
	const char *experiment_id;
	const char *user_id; /* may be NULL */
	const char *status;
	int64_t start_time; /* when has_start_time */
	int64_t end_time;   /* when has_end_time */
	bool has_start_time, has_end_time;
	const char *artifact_uri;
	const char *lifecycle_stage; /* "active" or "deleted" */
};

struct mw_run {
	struct mw_run_info info;
	struct mw_metric *metrics; /* the latest point per key, by key */
	size_t nmetrics;
	struct mw_kv *params; /* by key */
	size_t nparams;
	struct mw_kv *tags; /* by key */
	size_t ntags;
	struct mw_dataset_input *datasets; /* in the order they were first logged */
	size_t ndatasets;
	struct mw_model_ref *model_inputs; /* in the order they were first logged */
	size_t nmodel_inputs;
	struct mw_model_ref *model_outputs; /* by model id */
	size_t nmodel_outputs;
};

struct mw_logged_model {
	const char *model_id;
	const char *experiment_id;
	const char *name;
	const char *artifact_uri;
	int64_t creation_timestamp_ms;
	int64_t last_updated_timestamp_ms;
	const char *status;
	const char *model_type;     /* may be NULL */
	const char *source_run_id;  /* may be NULL */
	const char *status_message; /* may be NULL */
	struct mw_kv *tags;         /* by key */
	size_t ntags;
	struct mw_kv *params; /* by key */
	size_t nparams;
	struct mw_metric *metrics; /* every point, by key, step, timestamp; run_id and
				    * model_id set, dataset fields when given */
	size_t nmetrics;
};

/* ------------------------------------------------------------ experiments */

/* Ids are decimal strings ("0" is Default).  artifact_location NULL or "":
 * artifact_root joined with the new id (artifact_root is then required). */
int mw_store_exp_create(struct mw_store *s, const char *name, const char *artifact_location,
			const char *artifact_root, const struct mw_kv *tags, size_t ntags,
			int64_t now_ms, char id_out[32], struct mw_err *err);
int mw_store_exp_get(struct mw_store *s, const char *id, struct mw_arena *a,
		     struct mw_experiment *out, struct mw_err *err);
int mw_store_exp_get_by_name(struct mw_store *s, const char *name, struct mw_arena *a,
			     struct mw_experiment *out, struct mw_err *err);
/* The experiment whose artifact_location is exactly one of locs (n of
 * them, at most MW_STORE_EXP_LOC_MAX), the earliest in locs winning and,
 * among experiments sharing one location, the lowest id; deleted
 * experiments count.  id_out gets its id, *which (may be NULL) the index in
 * locs; MW_E_NOT_FOUND when none matches.  One indexed look-up per
 * location, in one read. */
#define MW_STORE_EXP_LOC_MAX 64
int mw_store_exp_by_location(struct mw_store *s, const char *const *locs, size_t n, char id_out[32],
			     size_t *which, struct mw_err *err);
/* A page of experiments; *more when others follow. */
int mw_store_exp_search(struct mw_store *s, const struct mw_filter *f, const struct mw_order *order,
			size_t norder, enum mw_view view, const struct mw_page *page,
			struct mw_arena *a, struct mw_experiment **out, size_t *n, bool *more,
			struct mw_err *err);
int mw_store_exp_rename(struct mw_store *s, const char *id, const char *new_name, int64_t now_ms,
			struct mw_err *err);
/* deleted=true soft-deletes the experiment and its runs; false restores. */
int mw_store_exp_set_deleted(struct mw_store *s, const char *id, bool deleted, int64_t now_ms,
			     struct mw_err *err);
int mw_store_exp_set_tag(struct mw_store *s, const char *id, const char *key, const char *value,
			 struct mw_err *err);
/* MW_E_NOT_FOUND with detail MW_STORE_TAG when the tag is not there. */
int mw_store_exp_delete_tag(struct mw_store *s, const char *id, const char *key,
			    struct mw_err *err);

/* ------------------------------------------------------------ runs */

struct mw_run_create {
	const char *run_id; /* generated by the caller */
	const char *experiment_id;
	const char *user_id;
	const char *run_name;
	const char *status; /* the initial status */
	int64_t start_time;
	/* The run's artifact URI is the experiment's location joined with this. */
	const char *artifact_path;
	const struct mw_kv *tags;
	size_t ntags;
};
int mw_store_run_create(struct mw_store *s, const struct mw_run_create *rc, struct mw_arena *a,
			struct mw_run *out, struct mw_err *err);
int mw_store_run_get(struct mw_store *s, const char *run_id, struct mw_arena *a, struct mw_run *out,
		     struct mw_err *err);
/* status, run_name may be NULL and end_time < 0: unchanged; tags are set in
 * the same transaction.  out gets the updated run info. */
int mw_store_run_update(struct mw_store *s, const char *run_id, const char *status,
			int64_t end_time, const char *run_name, const struct mw_kv *tags,
			size_t ntags, struct mw_arena *a, struct mw_run_info *out,
			struct mw_err *err);
/* Deleting a run that is not active is MW_E_INVALID (detail RUN); restoring
 * an active run changes nothing. */
int mw_store_run_set_deleted(struct mw_store *s, const char *run_id, bool deleted, int64_t now_ms,
			     struct mw_err *err);
/* Atomic: all or nothing.  Params are immutable (the same value again is
 * fine, another is MW_E_CONFLICT, detail MW_STORE_PARAM); tags overwrite;
 * metrics append with exact duplicates dropped and keep each key's latest
 * point (the max of step, timestamp, value); a metric with a model_id is
 * also kept with that logged model.  run_name (may be NULL) renames the run
 * in the same transaction.  A deleted run rejects writes. */
int mw_store_run_log_batch(struct mw_store *s, const char *run_id, const struct mw_metric *m,
			   size_t nm, const struct mw_kv *params, size_t np,
			   const struct mw_kv *tags, size_t nt, const char *run_name,
			   struct mw_err *err);
/* MW_E_NOT_FOUND with detail MW_STORE_TAG when the tag is not there. */
int mw_store_run_delete_tag(struct mw_store *s, const char *run_id, const char *key,
			    struct mw_err *err);
/* Datasets are found or created per experiment (name, digest); an input
 * already linked to the run is not linked twice.  A model input or output
 * must name a logged model that exists and is not deleted, checked inside
 * the write: else MW_E_NOT_FOUND with detail MW_STORE_LOGGED_MODEL, and
 * nothing of the call is written. */
int mw_store_run_log_inputs(struct mw_store *s, const char *run_id,
			    const struct mw_dataset_input *d, size_t nd,
			    const struct mw_model_ref *models, size_t nmodels, struct mw_err *err);
int mw_store_run_log_outputs(struct mw_store *s, const char *run_id,
			     const struct mw_model_ref *models, size_t nmodels, struct mw_err *err);
/* A page of whole runs of the experiments.  Metric clauses compare a run's
 * latest value; runs without an order key sort last, NaN after numbers; the
 * default order is start_time DESC, run_id ASC. */
int mw_store_run_search(struct mw_store *s, const char *const *experiment_ids, size_t nexp,
			const struct mw_filter *f, const struct mw_order *order, size_t norder,
			enum mw_view view, const struct mw_page *page, struct mw_arena *a,
			struct mw_run **out, size_t *n, bool *more, struct mw_err *err);

/* ------------------------------------------------------------ metric histories */

/* Every point of one key, ordered by step, timestamp, value (run_id NULL). */
int mw_store_metric_history(struct mw_store *s, const char *run_id, const char *key,
			    const struct mw_page *page, struct mw_arena *a, struct mw_metric **out,
			    size_t *n, bool *more, struct mw_err *err);
/* Sampled history for charts: the steps of all runs together sampled evenly
 * (at most max_results of them) in [start_step, end_step] (has_range), each
 * run keeping its own first and last step.  run_id set.  MW_E_NOT_FOUND
 * (MW_STORE_RUN) when a run does not exist. */
int mw_store_metric_history_sampled(struct mw_store *s, const char *const *run_ids, size_t nruns,
				    const char *key, bool has_range, int64_t start_step,
				    int64_t end_step, int64_t max_results, struct mw_arena *a,
				    struct mw_metric **out, size_t *n, struct mw_err *err);
/* Every point of the runs for one key, up to max_results in all.  run_id set. */
int mw_store_metric_history_bulk(struct mw_store *s, const char *const *run_ids, size_t nruns,
				 const char *key, int64_t max_results, struct mw_arena *a,
				 struct mw_metric **out, size_t *n, struct mw_err *err);

/* ------------------------------------------------------------ logged models */

struct mw_lm_create {
	const char *model_id; /* generated by the caller */
	const char *experiment_id;
	const char *name;
	const char *model_type;    /* may be NULL */
	const char *source_run_id; /* may be NULL */
	/* The model's artifact URI is the experiment's location joined with this. */
	const char *artifact_path;
	const char *status; /* the initial status */
	const struct mw_kv *params;
	size_t nparams;
	const struct mw_kv *tags;
	size_t ntags;
	int64_t now_ms;
};
int mw_store_lm_create(struct mw_store *s, const struct mw_lm_create *c, struct mw_arena *a,
		       struct mw_logged_model *out, struct mw_err *err);
/* A deleted model is MW_E_NOT_FOUND (MW_STORE_LOGGED_MODEL) for every call. */
int mw_store_lm_get(struct mw_store *s, const char *model_id, struct mw_arena *a,
		    struct mw_logged_model *out, struct mw_err *err);
int mw_store_lm_finalize(struct mw_store *s, const char *model_id, const char *status,
			 int64_t now_ms, struct mw_arena *a, struct mw_logged_model *out,
			 struct mw_err *err);
int mw_store_lm_delete(struct mw_store *s, const char *model_id, struct mw_err *err);
int mw_store_lm_set_tags(struct mw_store *s, const char *model_id, const struct mw_kv *tags,
			 size_t ntags, int64_t now_ms, struct mw_err *err);
/* MW_E_NOT_FOUND with detail MW_STORE_TAG when the tag is not there. */
int mw_store_lm_delete_tag(struct mw_store *s, const char *model_id, const char *key,
			   struct mw_err *err);
int mw_store_lm_log_params(struct mw_store *s, const char *model_id, const struct mw_kv *params,
			   size_t nparams, struct mw_err *err);
/* A page of logged models of the experiments; by default the newest first. */
int mw_store_lm_search(struct mw_store *s, const char *const *experiment_ids, size_t nexp,
		       const struct mw_filter *f, const struct mw_order *order, size_t norder,
		       const struct mw_page *page, struct mw_arena *a, struct mw_logged_model **out,
		       size_t *n, bool *more, struct mw_err *err);

#endif
