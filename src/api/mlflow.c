/*
 * mlflow.c - MLflow's tracking REST API.
 *
 * One table maps each endpoint (method + path under the MLflow prefix) to a
 * tracking operation.  Every route goes through one handler: GET requests read
 * their message from the query string (a repeated key becomes a list), other
 * methods from the JSON body (an empty body is {}), path segments such as
 * {model_id} are copied into the message, and the reply is the operation's
 * message or {"error_code", "message"} with MLflow's status for that code.
 * The same table serves /api/2.0/mlflow/ and /ajax-api/2.0/mlflow/, and the
 * /api/2.0/preview/mlflow/ (and ajax) prefix that MLflow 1.x servers serve
 * every endpoint under too: many 1.x clients (Java, Scala, JS, old Python)
 * call only that one.
 *
 * Each row declares its auth class (R reads, W changes; searches sent as
 * POST are reads) and, with --auth, the resource it acts on and the
 * permission it needs there (mw_api_authorize, checked before the
 * operation; listings are filtered after it).  Every route answers errors
 * in MLflow's format (also the server's 404/405/413 and filter
 * rejections), GET routes take no body, and operations get the call
 * context the request pipeline built (req->call).
 */
#include "api/api.h"
#include "api/registry_endpoints.h"

#include <stdlib.h>
#include <string.h>

enum domain { TRACK, REGISTRY };

struct endpoint {
	enum mw_auth auth;       /* R: reads, W: changes */
	const char *method;
	const char *path;        /* below the prefix; {x} and * capture */
	mw_track_op op;          /* a tracking operation, or */
	mw_registry_op rop;      /* a registry operation */
	const char *cap[2];      /* message fields that receive the captures */
	struct mw_api_need need; /* the resource and permission (api.h) */
};

/* one endpoint per line */
/* clang-format off */
#define R MW_AUTH_READ
#define W MW_AUTH_WRITE
#define NEED(r, p) {MW_RES_##r, MW_PERM_##p}
#define EXP_R NEED(EXP, READ)
#define EXP_W NEED(EXP, EDIT)
#define EXP_M NEED(EXP, MANAGE)
#define EXPN_R NEED(EXP_NAME, READ)
#define EXPS_R NEED(EXP_IDS, READ)
#define RUN_R NEED(RUN, READ)
#define RUN_W NEED(RUN, EDIT)
#define RUN_M NEED(RUN, MANAGE)
#define RUNS_R NEED(RUN_IDS, READ)
#define LM_R NEED(LM, READ)
#define LM_W NEED(LM, EDIT)
#define LM_M NEED(LM, MANAGE)
#define RM_R NEED(RM, READ)
#define RM_W NEED(RM, EDIT)
#define RM_M NEED(RM, MANAGE)
#define NEW_EXP NEED(EXP_NEW, NONE)
#define NEW_RM NEED(RM_NEW, NONE)
#define EXP_LIST NEED(EXP_LIST, READ)
#define RM_LIST NEED(RM_LIST, READ)
#define MV_LIST NEED(MV_LIST, READ)

static const struct endpoint endpoints[] = {
	{W, "POST", "experiments/create", mw_track_exp_create, NULL, {0}, NEW_EXP},
	{R, "GET", "experiments/get", mw_track_exp_get, NULL, {0}, EXP_R},
	{R, "GET", "experiments/get-by-name", mw_track_exp_get_by_name, NULL, {0}, EXPN_R},
	{R, "POST", "experiments/search", mw_track_exp_search, NULL, {0}, EXP_LIST},
	{R, "GET", "experiments/search", mw_track_exp_search, NULL, {0}, EXP_LIST},
	{R, "GET", "experiments/list", mw_track_exp_list, NULL, {0}, EXP_LIST},
	{W, "POST", "experiments/update", mw_track_exp_update, NULL, {0}, EXP_W},
	{W, "POST", "experiments/delete", mw_track_exp_delete, NULL, {0}, EXP_M},
	{W, "POST", "experiments/restore", mw_track_exp_restore, NULL, {0}, EXP_M},
	{W, "POST", "experiments/set-experiment-tag", mw_track_exp_set_tag, NULL, {0}, EXP_W},
	{W, "POST", "experiments/delete-experiment-tag", mw_track_exp_delete_tag, NULL, {0}, EXP_W},
	{W, "POST", "runs/create", mw_track_run_create, NULL, {0}, EXP_W},
	{R, "GET", "runs/get", mw_track_run_get, NULL, {0}, RUN_R},
	{W, "POST", "runs/update", mw_track_run_update, NULL, {0}, RUN_W},
	{W, "POST", "runs/delete", mw_track_run_delete, NULL, {0}, RUN_M},
	{W, "POST", "runs/restore", mw_track_run_restore, NULL, {0}, RUN_M},
	{R, "POST", "runs/search", mw_track_run_search, NULL, {0}, EXPS_R},
	{W, "POST", "runs/log-metric", mw_track_run_log_metric, NULL, {0}, RUN_W},
	{W, "POST", "runs/log-parameter", mw_track_run_log_param, NULL, {0}, RUN_W},
	{W, "POST", "runs/set-tag", mw_track_run_set_tag, NULL, {0}, RUN_W},
	{W, "POST", "runs/delete-tag", mw_track_run_delete_tag, NULL, {0}, RUN_W},
	{W, "POST", "runs/log-batch", mw_track_run_log_batch, NULL, {0}, RUN_W},
	{W, "POST", "runs/log-model", mw_track_run_log_model, NULL, {0}, RUN_W},
	{W, "POST", "runs/log-inputs", mw_track_run_log_inputs, NULL, {0}, RUN_W},
	{W, "POST", "runs/outputs", mw_track_run_log_outputs, NULL, {0}, RUN_W},
	{R, "GET", "metrics/get-history", mw_track_metric_history, NULL, {0}, RUN_R},
	{R, "GET", "metrics/get-history-bulk-interval", mw_track_metric_history_bulk_interval, NULL, {0}, RUNS_R},
	{R, "GET", "metrics/get-history-bulk", mw_track_metric_history_bulk, NULL, {0}, RUNS_R},
	{W, "POST", "logged-models", mw_track_lm_create, NULL, {0}, EXP_W},
	{R, "POST", "logged-models/search", mw_track_lm_search, NULL, {0}, EXPS_R},
	{R, "GET", "logged-models/{model_id}", mw_track_lm_get, NULL, {"model_id"}, LM_R},
	{W, "PATCH", "logged-models/{model_id}", mw_track_lm_finalize, NULL, {"model_id"}, LM_W},
	{W, "DELETE", "logged-models/{model_id}", mw_track_lm_delete, NULL, {"model_id"}, LM_M},
	{W, "PATCH", "logged-models/{model_id}/tags", mw_track_lm_set_tags, NULL, {"model_id"}, LM_W},
	{W, "DELETE", "logged-models/{model_id}/tags/*", mw_track_lm_delete_tag, NULL, {"model_id", "tag_key"}, LM_W},
	{W, "POST", "logged-models/{model_id}/params", mw_track_lm_log_params, NULL, {"model_id"}, LM_W},
	/* model registry (registry/) */
	REGISTRY_ENDPOINTS
};
/* clang-format on */

#define NEP (sizeof endpoints / sizeof *endpoints)

static const char *prefixes[] = {"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/",
				 "/api/2.0/preview/mlflow/", "/ajax-api/2.0/preview/mlflow/"};
#define NPREFIX (sizeof prefixes / sizeof *prefixes)

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
	case MW_E_UNAUTHENTICATED:
		return 401;
	case MW_E_DENIED:
		return 403;
	case MW_E_NOT_IMPLEMENTED: return 501;
	case MW_E_UNAVAILABLE: return 503;
	default: return 500;
	}
}

void mw_api_error(struct mw_http_req *req, struct mw_http_resp *resp, int status, int code,
		  const char *msg)
{
	enum mw_errfmt fmt = req ? mw_http_req_errfmt(req) : MW_ERRFMT_INHERIT;
	mw_http_render_error(resp, fmt == MW_ERRFMT_INHERIT ? MW_ERRFMT_MLFLOW : fmt, status, code,
			     msg);
}

/* ------------------------------------------------------------ decoding */

static void add_query(void *ctx, const char *key, const char *value)
{
	json_t *msg = ctx;
	json_t *old = json_object_get(msg, key);
	if (!mw_utf8_valid(value, strlen(value)) || !mw_utf8_valid(key, strlen(key)) ||
	    key[0] == '\x01')
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

json_t *mw_api_message(struct mw_api_ctx *ctx, struct mw_http_req *req,
		       const char *const *cap_fields, size_t ncap, struct mw_http_resp *resp)
{
	struct mw_err err = {0};
	json_t *msg;
	bool is_get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
	if (is_get) {
		msg = json_object();
		mw_http_query_each(req, add_query, msg);
		json_object_set_new(msg, MW_REQ_FROM_QUERY, json_true());
	} else {
		msg = mw_json_parse_body(req->body, req->body_len, ctx->max_json_depth, &err);
		if (!msg) {
			mw_http_render_error(resp, MW_ERRFMT_MLFLOW, mw_api_status(err.code),
					     err.code, err.msg);
			return NULL;
		}
	}
	for (size_t i = 0; i < ncap && (int)i < req->ncap; i++)
		if (cap_fields[i] && mw_utf8_valid(req->cap[i], strlen(req->cap[i])))
			json_object_set_new(msg, cap_fields[i], json_string(req->cap[i]));
	return msg;
}

static size_t max_response; /* mw_api_set_max_response; 0: no limit */

void mw_api_set_max_response(size_t max_bytes)
{
	max_response = max_bytes;
}

void mw_api_reply(struct mw_http_req *req, struct mw_http_resp *resp, int rc, json_t *out,
		  struct mw_err *err)
{
	size_t n = 0;
	char *s = NULL;
	if (!rc) {
		s = max_response ? mw_json_dump_max(out, max_response, &n) : mw_json_dump(out, &n);
		if (!s)
			rc = mw_err_set(err, MW_E_TOO_LARGE,
					"The answer is larger than the limit of %zu bytes "
					"(--max-response-bytes)",
					max_response);
	}
	json_decref(out);
	if (rc) {
		int code = err->code ? err->code : -rc;
		if (code == MW_E_IO || code == MW_E_INTERNAL)
			mw_error("%s %s: %s", req->method, req->path, err->msg);
		mw_http_render_error(resp, MW_ERRFMT_MLFLOW, mw_api_status(code), code, err->msg);
		return;
	}
	mw_http_resp_set(resp, 200, "application/json", s, n);
}

static void handle(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct binding *b = ud;
	json_t *msg = mw_api_message(b->ctx, req, b->ep->cap, 2, resp);
	if (!msg)
		return;
	struct mw_err err = {0};
	json_t *out = NULL;
	int rc = mw_api_authorize(b->ctx, req, b->ep->need, msg, &err);
	if (!rc)
		rc = b->ep->op ? b->ep->op(b->ctx->track, &req->call, msg, &out, &err)
			       : b->ep->rop(b->ctx->registry, &req->call, msg, &out, &err);
	if (!rc)
		mw_api_authorize_after(b->ctx, req, b->ep->need, out);
	json_decref(msg);
	mw_api_reply(req, resp, rc, out, &err);
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
	size_t n = NEP * NPREFIX;
	routes = mw_xcalloc(n, sizeof *routes);
	bindings = mw_xcalloc(NEP, sizeof *bindings);
	for (size_t i = 0; i < NEP; i++) {
		bindings[i].ctx = ctx;
		bindings[i].ep = &endpoints[i];
	}
	for (size_t p = 0; p < NPREFIX; p++)
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
			r->auth = endpoints[i].auth;
			r->errfmt = MW_ERRFMT_MLFLOW;
			/* GET messages come from the query string */
			r->body = strcmp(r->method, "GET") ? MW_BODY_BUFFERED : MW_BODY_NONE;
		}
	for (size_t p = 0; p < NPREFIX; p++) /* unknown endpoints below the prefixes too */
		mw_http_error_prefix(http, prefixes[p], MW_ERRFMT_MLFLOW);
	mw_http_add_routes(http, routes, n);
}

void mw_api_free(void)
{
	if (routes)
		for (size_t i = 0; i < NEP * NPREFIX; i++) {
			free((char *)routes[i].pattern);
			free((char *)routes[i].name);
		}
	free(routes);
	free(bindings);
	routes = NULL;
	bindings = NULL;
}

int mw_api_call(struct mw_api_ctx *ctx, const struct mw_call *call, const char *path, json_t *req,
		json_t **resp, struct mw_err *err)
{
	for (size_t i = 0; i < NEP; i++)
		if (!strcmp(endpoints[i].path, path))
			return endpoints[i].op ? endpoints[i].op(ctx->track, call, req, resp, err)
					       : endpoints[i].rop(ctx->registry, call, req, resp, err);
	return mw_err_set(err, MW_E_NO_ENDPOINT, "unknown endpoint %s", path);
}

int mw_api_call_method(struct mw_api_ctx *ctx, const struct mw_call *call, const char *method,
		       const char *path, json_t *req, json_t **resp, struct mw_err *err)
{
	for (size_t i = 0; i < NEP; i++)
		if (!strcmp(endpoints[i].path, path) && !strcmp(endpoints[i].method, method))
			return endpoints[i].op ? endpoints[i].op(ctx->track, call, req, resp, err)
					       : endpoints[i].rop(ctx->registry, call, req, resp, err);
	return mw_err_set(err, MW_E_NO_ENDPOINT, "unknown endpoint %s %s", method, path);
}

const char *mw_api_method(const char *path)
{
	for (size_t i = 0; i < NEP; i++)
		if (!strcmp(endpoints[i].path, path))
			return endpoints[i].method;
	return NULL;
}
