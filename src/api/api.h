/*
 * api.h - the HTTP APIs: MLflow's REST surface and the operator endpoints.
 *
 * Each API is a route table whose handlers decode an HTTP request into a
 * request message (JSON body, or the query string for GET), call one domain
 * operation and encode the reply or the error in that API's own format.
 * Handlers never touch SQL; domain modules never see HTTP.
 */
#ifndef MW_API_H
#define MW_API_H

#include "core/core.h"
#include "http/http.h"
#include "store/store.h"
#include "track/track.h"

struct mw_api_ctx {
	struct mw_track *track;
	struct mw_store *store;
	struct mw_http_server *http;
	struct mw_settings *settings;
	int max_json_depth;
	int64_t start_ms;
};

/* Register MLflow's routes under /api/2.0/mlflow/ and /ajax-api/2.0/mlflow/. */
void mw_api_mlflow_register(struct mw_api_ctx *ctx, struct mw_http_server *http);
/* /health, /version, /metrics, /api/mw/config. */
void mw_api_ops_register(struct mw_api_ctx *ctx, struct mw_http_server *http);
/* Error renderer for errors the HTTP layer produces (404, 405, 413). */
void mw_api_error(struct mw_http_req *req, struct mw_http_resp *resp, int status, int code,
		  const char *msg);
/* HTTP status for an error kind. */
int mw_api_status(int code);

/* The MLflow operation behind an endpoint path such as "runs/search", for the
 * CLI's local mode; NULL when unknown. *is_get tells how a client sends it. */
mw_track_op mw_api_mlflow_op(const char *path, bool *is_get);

/* Release route tables allocated by the register functions. */
void mw_api_free(void);

#endif
