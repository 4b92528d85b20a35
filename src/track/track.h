/*
 * track.h - experiments, runs, metrics, params, tags, dataset inputs and
 * MLflow 3 logged models: the run as the unit of evidence.
 *
 * Operations take a request message and return a response message, both as
 * jansson objects in MLflow's protobuf-JSON shape (the API layer decodes the
 * HTTP request into the message and encodes the reply; this module never sees
 * HTTP).  Each operation validates its input (types, lengths, key syntax,
 * batch limits), applies MLflow's write semantics and calls the store, which
 * speaks in plain records (store/tracking.h): the MLflow shapes, MLflow's
 * error messages (worded here from the store's error kinds and details),
 * run statuses, the run-name tag and the artifact URI layout live here.
 *
 * Ownership: req is borrowed (operations may add normalised fields to it);
 * *resp is a new reference owned by the caller, set only on success.
 */
#ifndef MW_TRACK_H
#define MW_TRACK_H

#include "core/core.h"
#include "search/search.h"
#include "store/store.h"
#include "store/tracking.h"

/* ------------------------------------------------------------ MLflow's shapes */

/* The tracking records in MLflow's protobuf-JSON shape (field presence and
 * order as MLflow writes them: absent strings and empty lists omitted, ids
 * as strings, NaN/Infinity metric values as strings).  New references.
 * Used by the operations below and by modules that embed runs or logged
 * models in their own messages (registry lineage). */
json_t *mw_track_kv_json(const struct mw_kv *kv, size_t n); /* [{key, value}] */
json_t *mw_track_metric_json(const struct mw_metric *m);
json_t *mw_track_metrics_json(const struct mw_metric *m, size_t n);
json_t *mw_track_experiment_json(const struct mw_experiment *e);
json_t *mw_track_run_info_json(const struct mw_run_info *i);
json_t *mw_track_dataset_inputs_json(const struct mw_dataset_input *d, size_t n);
json_t *mw_track_run_json(const struct mw_run *r);
json_t *mw_track_logged_model_json(const struct mw_logged_model *m);

/* MLflow's words for a store error that names a missing experiment, run or
 * logged model by id (err->detail); any other error is returned unchanged. */
int mw_track_not_found(int rc, const char *id, struct mw_err *err);

/* ------------------------------------------------------------ operations */

struct mw_track;

struct mw_track_opts {
	const char *artifact_root;   /* default "mlflow-artifacts:/" */
	bool truncate_long_values;   /* MLflow's MLFLOW_TRUNCATE_LONG_VALUES */
	/* The largest answer of a search or history page in bytes (0: no limit;
	 * the max-response-bytes setting): a page ends early, with a
	 * next_page_token, when its next entity would pass it, and an entity
	 * larger than it alone is MW_E_TOO_LARGE. */
	size_t max_response_bytes;
};

int mw_track_new(struct mw_store *store, const struct mw_track_opts *o, struct mw_track **out,
		 struct mw_err *err);
void mw_track_free(struct mw_track *t);
struct mw_store *mw_track_store(struct mw_track *t);

typedef int (*mw_track_op)(struct mw_track *t, const struct mw_call *call, json_t *req,
	     json_t **resp, struct mw_err *err);

/* Experiments */
int mw_track_exp_create(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			struct mw_err *);
int mw_track_exp_get(struct mw_track *, const struct mw_call *, json_t *, json_t **,
		     struct mw_err *);
int mw_track_exp_get_by_name(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			     struct mw_err *);
int mw_track_exp_search(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			struct mw_err *);
int mw_track_exp_list(struct mw_track *, const struct mw_call *, json_t *, json_t **,
		      struct mw_err *); /* 1.x */
int mw_track_exp_update(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			struct mw_err *);
int mw_track_exp_delete(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			struct mw_err *);
int mw_track_exp_restore(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			 struct mw_err *);
int mw_track_exp_set_tag(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			 struct mw_err *);
int mw_track_exp_delete_tag(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			    struct mw_err *);

/* Runs */
int mw_track_run_create(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			struct mw_err *);
int mw_track_run_get(struct mw_track *, const struct mw_call *, json_t *, json_t **,
		     struct mw_err *);
int mw_track_run_update(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			struct mw_err *);
int mw_track_run_delete(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			struct mw_err *);
int mw_track_run_restore(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			 struct mw_err *);
int mw_track_run_search(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			struct mw_err *);
int mw_track_run_log_metric(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			    struct mw_err *);
int mw_track_run_log_param(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			   struct mw_err *);
int mw_track_run_set_tag(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			 struct mw_err *);
int mw_track_run_delete_tag(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			    struct mw_err *);
int mw_track_run_log_batch(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			   struct mw_err *);
int mw_track_run_log_model(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			   struct mw_err *);
int mw_track_run_log_inputs(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			    struct mw_err *);
int mw_track_run_log_outputs(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			     struct mw_err *);
int mw_track_metric_history(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			    struct mw_err *);
int mw_track_metric_history_bulk_interval(struct mw_track *, const struct mw_call *, json_t *,
					  json_t **,
					  struct mw_err *);
int mw_track_metric_history_bulk(struct mw_track *, const struct mw_call *, json_t *, json_t **,
				 struct mw_err *);

/* Logged models (MLflow 3).  model_id arrives in req["model_id"], and for
 * delete-tag the key in req["tag_key"] (the API layer copies path segments). */
int mw_track_lm_create(struct mw_track *, const struct mw_call *, json_t *, json_t **,
		       struct mw_err *);
int mw_track_lm_get(struct mw_track *, const struct mw_call *, json_t *, json_t **,
		    struct mw_err *);
int mw_track_lm_finalize(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			 struct mw_err *);
int mw_track_lm_delete(struct mw_track *, const struct mw_call *, json_t *, json_t **,
		       struct mw_err *);
int mw_track_lm_search(struct mw_track *, const struct mw_call *, json_t *, json_t **,
		       struct mw_err *);
int mw_track_lm_set_tags(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			 struct mw_err *);
int mw_track_lm_delete_tag(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			   struct mw_err *);
int mw_track_lm_log_params(struct mw_track *, const struct mw_call *, json_t *, json_t **,
			   struct mw_err *);

#endif
