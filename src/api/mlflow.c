/*
 * mlflow.c - MLflow's tracking REST API.
 *
 * One table maps each endpoint (method + path under the MLflow prefix) to a
 * tracking operation.  Every route goes through one handler: GET requests read
 * their message from the query string (a repeated key becomes a list), other
 * methods from the JSON body (an empty body is {}), path segments such as
 * {model_id} are copied into the message, and the reply is the operation's
 * message or {"error_code", "message"} with MLflow's status for that code.
 * The same table serves /api/2.0/mlflow/ and /ajax-api/2.0/mlflow/.
 */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

struct endpoint {
	const char *method;
	const char *path;        /* below the prefix; {x} and * capture */
	mw_track_op op;
	const char *cap[2];      /* message fields that receive the captures */
};

static const struct endpoint endpoints[] = {
	{"POST", "experiments/create", mw_track_exp_create, {0}},
	{"GET", "experiments/get", mw_track_exp_get, {0}},
	{"GET", "experiments/get-by-name", mw_track_exp_get_by_name, {0}},
	{"POST", "experiments/search", mw_track_exp_search, {0}},
	{"GET", "experiments/search", mw_track_exp_search, {0}},
	{"GET", "experiments/list", mw_track_exp_list, {0}},
	{"POST", "experiments/update", mw_track_exp_update, {0}},
	{"POST", "experiments/delete", mw_track_exp_delete, {0}},
	{"POST", "experiments/restore", mw_track_exp_restore, {0}},
	{"POST", "experiments/set-experiment-tag", mw_track_exp_set_tag, {0}},
	{"POST", "experiments/delete-experiment-tag", mw_track_exp_delete_tag, {0}},
	{"POST", "runs/create", mw_track_run_create, {0}},
	{"GET", "runs/get", mw_track_run_get, {0}},
	{"POST", "runs/update", mw_track_run_update, {0}},
	{"POST", "runs/delete", mw_track_run_delete, {0}},
	{"POST", "runs/restore", mw_track_run_restore, {0}},
	{"POST", "runs/search", mw_track_run_search, {0}},
	{"POST", "runs/log-metric", mw_track_run_log_metric, {0}},
	{"POST", "runs/log-parameter", mw_track_run_log_param, {0}},
	{"POST", "runs/set-tag", mw_track_run_set_tag, {0}},
	{"POST", "runs/delete-tag", mw_track_run_delete_tag, {0}},
	{"POST", "runs/log-batch", mw_track_run_log_batch, {0}},
	{"POST", "runs/log-model", mw_track_run_log_model, {0}},
	{"POST", "runs/log-inputs", mw_track_run_log_inputs, {0}},
	{"POST", "runs/outputs", mw_track_run_log_outputs, {0}},
	{"GET", "metrics/get-history", mw_track_metric_history, {0}},
	{"GET", "metrics/get-history-bulk-interval", mw_track_metric_history_bulk_interval, {0}},
	{"GET", "metrics/get-history-bulk", mw_track_metric_history_bulk, {0}},
	{"POST", "logged-models", mw_track_lm_create, {0}},
	{"POST", "logged-models/search", mw_track_lm_search, {0}},
	{"GET", "logged-models/{model_id}", mw_track_lm_get, {"model_id"}},
	{"PATCH", "logged-models/{model_id}", mw_track_lm_finalize, {"model_id"}},
	{"DELETE", "logged-models/{model_id}", mw_track_lm_delete, {"model_id"}},
	{"PATCH", "logged-models/{model_id}/tags", mw_track_lm_set_tags, {"model_id"}},
	{"DELETE", "logged-models/{model_id}/tags/*", mw_track_lm_delete_tag, {"model_id", "tag_key"}},
	{"POST", "logged-models/{model_id}/params", mw_track_lm_log_params, {"model_id"}},
};

#define NEP (sizeof endpoints / sizeof *endpoints)

static const char *prefixes[] = {"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"};

struct binding {
	struct mw_api_ctx *ctx;
	const struct endpoint *ep;
};

static struct mw_route *routes;
static struct binding *bindings;

/* ------------------------------------------------------------ errors */

int mw_api_status(int code)
{
	switch (code) {
	case MW_E_INVALID:
	case MW_E_BAD_REQUEST:
	case MW_E_EXISTS: return 400;
	case MW_E_NOT_FOUND:
	case MW_E_NO_ENDPOINT: return 404;
	case MW_E_CONFLICT: return 409;
	case MW_E_TOO_LARGE: return 413;
	case MW_E_LIMIT: return 429;
	case MW_E_NOT_IMPLEMENTED: return 501;
	case MW_E_UNAVAILABLE: return 503;
	default: return 500;
	}
}

static void mlflow_error(struct mw_http_resp *resp, int status, int code, const char *msg)
{
	json_t *e = json_pack("{s:s,s:s}", "error_code", mw_err_name(code), "message",
			      msg && *msg ? msg : mw_err_name(code));
	if (!e) /* msg was not valid UTF-8: say so without echoing it */
		e = json_pack("{s:s,s:s}", "error_code", mw_err_name(code), "message",
			      "invalid request (the error message held invalid UTF-8)");
	size_t n;
	char *s = mw_json_dump(e, &n);
	json_decref(e);
	mw_http_resp_set(resp, status, "application/json", s, n);
}

void mw_api_error(struct mw_http_req *req, struct mw_http_resp *resp, int status, int code,
		  const char *msg)
{
	(void)req;
	mlflow_error(resp, status, code, msg);
}

/* ------------------------------------------------------------ decoding */

static void add_query(void *ctx, const char *key, const char *value)
{
	json_t *msg = ctx;
	json_t *old = json_object_get(msg, key);
	if (!mw_utf8_valid(value, strlen(value)) || !mw_utf8_valid(key, strlen(key)))
		return; /* jansson would refuse it; the field then reads as missing */
	if (!old) {
		json_object_set_new(msg, key, json_string(value));
	} else if (json_is_array(old)) {
		json_array_append_new(old, json_string(value));
	} else {
		json_t *a = json_array();
		json_array_append(a, old);
		json_array_append_new(a, json_string(value));
		json_object_set_new(msg, key, a);
	}
}

static void handle(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct binding *b = ud;
	struct mw_err err = {0};
	json_t *msg;
	bool is_get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
	if (is_get) {
		msg = json_object();
		mw_http_query_each(req, add_query, msg);
		json_object_set_new(msg, MW_REQ_FROM_QUERY, json_true());
	} else {
		msg = mw_json_parse_body(req->body, req->body_len, b->ctx->max_json_depth, &err);
		if (!msg) {
			mlflow_error(resp, 400, err.code, err.msg);
			return;
		}
	}
	for (int i = 0; i < req->ncap && i < 2; i++)
		if (b->ep->cap[i] && mw_utf8_valid(req->cap[i], strlen(req->cap[i])))
			json_object_set_new(msg, b->ep->cap[i], json_string(req->cap[i]));
	json_t *out = NULL;
	int rc = b->ep->op(b->ctx->track, msg, &out, &err);
	json_decref(msg);
	if (rc) {
		int code = err.code ? err.code : -rc;
		if (code == MW_E_IO || code == MW_E_INTERNAL)
			mw_error("%s %s: %s", req->method, req->path, err.msg);
		mlflow_error(resp, mw_api_status(code), code, err.msg);
		return;
	}
	size_t n;
	char *s = mw_json_dump(out, &n);
	json_decref(out);
	mw_http_resp_set(resp, 200, "application/json", s, n);
}

/* ------------------------------------------------------------ registration */

/* The route label for metrics: "{model_id}" becomes ":model_id". */
static char *metric_name(const char *pat)
{
	char *s = mw_xstrdup(pat), *o = s;
	for (const char *p = pat; *p; p++)
		if (*p == '{')
			*o++ = ':';
		else if (*p != '}')
			*o++ = *p;
	*o = 0;
	return s;
}

void mw_api_mlflow_register(struct mw_api_ctx *ctx, struct mw_http_server *http)
{
	size_t n = NEP * 2;
	routes = mw_xcalloc(n, sizeof *routes);
	bindings = mw_xcalloc(NEP, sizeof *bindings);
	for (size_t i = 0; i < NEP; i++) {
		bindings[i].ctx = ctx;
		bindings[i].ep = &endpoints[i];
	}
	for (size_t p = 0; p < 2; p++)
		for (size_t i = 0; i < NEP; i++) {
			struct mw_route *r = &routes[p * NEP + i];
			size_t len = strlen(prefixes[p]) + strlen(endpoints[i].path) + 1;
			char *pat = mw_xmalloc(len);
			snprintf(pat, len, "%s%s", prefixes[p], endpoints[i].path);
			r->method = endpoints[i].method;
			r->pattern = pat;
			r->fn = handle;
			r->ud = &bindings[i];
			r->name = metric_name(pat);
		}
	mw_http_add_routes(http, routes, n);
}

void mw_api_free(void)
{
	if (routes)
		for (size_t i = 0; i < NEP * 2; i++) {
			free((char *)routes[i].pattern);
			free((char *)routes[i].name);
		}
	free(routes);
	free(bindings);
	routes = NULL;
	bindings = NULL;
}

mw_track_op mw_api_mlflow_op(const char *path, bool *is_get)
{
	for (size_t i = 0; i < NEP; i++)
		if (!strcmp(endpoints[i].path, path)) {
			if (is_get)
				*is_get = !strcmp(endpoints[i].method, "GET");
			return endpoints[i].op;
		}
	return NULL;
}
