/*
 * api.h - the HTTP APIs: MLflow's REST surface and the operator endpoints.
 *
 * Each API is a route table whose handlers decode an HTTP request into a
 * request message (JSON body, or the query string for GET), call one domain
 * operation and encode the reply or the error in that API's own format.
 * Every row declares its auth class, error format and body policy (http.h).
 * Handlers never touch SQL; domain modules never see HTTP.
 */
#ifndef MW_API_H
#define MW_API_H

#include "core/core.h"
#include "http/http.h"
#include "store/store.h"
#include "art/art.h"
#include "auth/auth.h"
#include "blob/blob.h"
#include "registry/registry.h"
#include "serve/serve.h"
#include "track/track.h"

struct mw_api_ctx {
	struct mw_track *track;
	struct mw_registry *registry;
	struct mw_blob *blob;
	struct mw_art *art;
	struct mw_serve *serve;          /* NULL when the server does not serve models */
	const char *default_model;       /* the model /invocations serves (mw serve) */
	struct mw_store *store;
	struct mw_http_server *http;
	struct mw_settings *settings;
	struct mw_authn *auth; /* NULL unless --auth */
	bool auth_open_health; /* --auth-open-health */
	int max_json_depth;
	int64_t start_ms;
};

/* What a route needs beyond its auth class (with --auth): which resource
 * the message names and the permission on it (auth.h has the rules).  The
 * check runs before the operation, so a denied call changes nothing. */
enum mw_api_res {
	MW_RES_NONE = 0, /* the auth class alone */
	MW_RES_EXP,      /* experiment_id ("0" when absent) */
	MW_RES_EXP_NAME, /* experiment_name */
	MW_RES_EXP_IDS,  /* every one of experiment_ids */
	MW_RES_RUN,      /* run_id or run_uuid: its experiment */
	MW_RES_RUN_IDS,  /* every one of run_ids / run_id: their experiments */
	MW_RES_LM,       /* model_id: a logged model's experiment */
	MW_RES_RM,       /* name: a registered model */
	MW_RES_EXP_NEW,  /* creates an experiment: the caller gets MANAGE on it */
	MW_RES_RM_NEW,   /* creates a registered model: the caller gets MANAGE on it */
	MW_RES_EXP_LIST, /* answers experiments: those the caller cannot READ are left out */
	MW_RES_RM_LIST,  /* answers registered models: the same */
	MW_RES_MV_LIST,  /* answers model versions: those of models the caller cannot READ
			    are left out */
	MW_RES_ART,      /* an artifact path <experiment id>/...: that experiment */
};

struct mw_api_need {
	enum mw_api_res res;
	enum mw_perm perm;
};

/* Before the operation: 0 when the caller (req->principal) may, else an
 * error (MW_E_DENIED) in err.  msg holds the request's fields; a resource
 * that does not exist passes (the operation answers 404).  No-op without
 * --auth. */
int mw_api_authorize(struct mw_api_ctx *ctx, struct mw_http_req *req, struct mw_api_need need,
		     json_t *msg, struct mw_err *err);
/* With --auth: leave out of the artifact proxy's listing of dir (out,
 * {"files": [...]}) what the caller may not READ: at the root, the
 * experiments it cannot read and "_sources" (an admin's); under
 * "_registry", the registered models it cannot read (api/authz.c). */
void mw_api_authorize_art_list(struct mw_api_ctx *ctx, struct mw_http_req *req, const char *dir,
			       json_t *out);
/* After a successful operation: grant the creator MANAGE, or filter a
 * listing in out. */
void mw_api_authorize_after(struct mw_api_ctx *ctx, struct mw_http_req *req,
			    struct mw_api_need need, json_t *out);
/* The permission routes (MLflow's experiments/permissions/... and
 * registered-models/permissions/...) and /api/mw/users/role. */
void mw_api_authz_register(struct mw_api_ctx *ctx, struct mw_http_server *http);

/* Register MLflow's routes under /api/2.0/mlflow/ and /ajax-api/2.0/mlflow/. */
void mw_api_mlflow_register(struct mw_api_ctx *ctx, struct mw_http_server *http);
/* The registry's native routes under /api/mw/models/ (docs/api/registry.md). */
void mw_api_registry_register(struct mw_api_ctx *ctx, struct mw_http_server *http);
/* The artifact proxy (/api/2.0/mlflow-artifacts/...), artifacts/list, the
 * UI's get-artifact routes, and /api/mw/fsck and /api/mw/gc. */
void mw_api_artifacts_register(struct mw_api_ctx *ctx, struct mw_http_server *http);
/* Inference: Open Inference Protocol (/v2/...), MLflow scoring
 * (/invocations, /models/<name>/invocations, /ping). */
void mw_api_serving_register(struct mw_api_ctx *ctx, struct mw_http_server *http);
/* Authentication (--auth, api/auth.c): the filter that checks credentials
 * and route classes (add after identity), and the users and token routes
 * (MLflow's /api/2.0/mlflow/users/..., /api/mw/tokens). */
int mw_api_auth_filter(struct mw_http_req *req, struct mw_http_resp *resp, void *ud);
void mw_api_auth_register(struct mw_api_ctx *ctx, struct mw_http_server *http);
/* /health, /version, /metrics, /api/mw/config. */
void mw_api_ops_register(struct mw_api_ctx *ctx, struct mw_http_server *http);
/* An error in the request's format (mw_http_req_errfmt), MLflow's where
 * nothing declared one.  Also usable as mw_http_opts.on_error for a server
 * composed by hand. */
void mw_api_error(struct mw_http_req *req, struct mw_http_resp *resp, int status, int code,
		  const char *msg);
/* HTTP status for an error kind. */
int mw_api_status(int code);

/* Run the MLflow operation behind an endpoint path such as "runs/search"
 * in-process (the CLI's local mode); MW_E_NO_ENDPOINT when unknown. */
int mw_api_call(struct mw_api_ctx *ctx, const struct mw_call *call, const char *path, json_t *req,
		json_t **resp, struct mw_err *err);
/* The same for one method of a path ("GET", "registered-models/alias"). */
int mw_api_call_method(struct mw_api_ctx *ctx, const struct mw_call *call, const char *method,
		       const char *path, json_t *req, json_t **resp, struct mw_err *err);
/* The HTTP method a client uses for an endpoint path, NULL when unknown. */
const char *mw_api_method(const char *path);

/* Decode an MLflow-style request message: the query string for GET/HEAD (a
 * repeated key becomes a list), else the JSON body; path captures go into
 * the named fields.  On a bad body
 * it fills an MLflow error reply and returns NULL. */
json_t *mw_api_message(struct mw_api_ctx *ctx, struct mw_http_req *req,
		       const char *const *cap_fields, size_t ncap, struct mw_http_resp *resp);
/* Reply with out (taken over) when rc is 0, else MLflow's error for err.
 * Operations called by handlers get the request's call context, req->call
 * (built by the request pipeline: see http.h).  An answer whose text would
 * pass the answer limit (mw_api_set_max_response) is not sent: the reply is
 * 413 RESOURCE_EXHAUSTED instead (listings page before they get there; this
 * catches single entities and answers that cannot page). */
void mw_api_reply(struct mw_http_req *req, struct mw_http_resp *resp, int rc, json_t *out,
		  struct mw_err *err);
/* The largest answer mw_api_reply sends, in bytes (the max-response-bytes
 * setting; 0, the default: no limit).  Process-wide, set by the application
 * before it serves. */
void mw_api_set_max_response(size_t max_bytes);

/* Release route tables allocated by the register functions. */
void mw_api_free(void);

#endif
