/*
 * serving.c - inference over the Open Inference Protocol (KServe/Triton V2)
 * and MLflow's scoring protocol (/invocations), both on the serve module.
 *
 * A request is decoded into a row-major float32 matrix whose columns are the
 * model's features (by name when the model has feature names and the request
 * names its columns, else by position; MLflow's forms through serve/'s row
 * parser, mw_rows_from_json/csv), submitted to the model's batcher, and
 * the connection is suspended (mw_http_defer) until the batch completes; the
 * completion callback encodes the answer in the protocol's format and
 * resumes the connection.  No thread waits for a batch, nor for a model to
 * load: a request (inference, V2 metadata or ready) whose model is not
 * loaded yet is suspended the same way, and the loader's callback
 * (mw_serve_acquire_async) goes on with it when the load ends.
 *
 * Errors: V2 answers {"error": "..."}; /invocations answers MLflow's
 * {"error_code", "message"}.  Status: bad input 400, unknown model or version
 * 404, queue full / timeout / shutting down 503, not supported 501.
 */
#include "api/api.h"

#include "serve/serve.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum proto { V2, INVOCATIONS };

static int serve_status(int code)
{
	switch (code) {
	case MW_E_INVALID:
	case MW_E_BAD_REQUEST: return 400;
	case MW_E_NOT_FOUND:
	case MW_E_NO_ENDPOINT: return 404;
	case MW_E_TOO_LARGE: return 413;
	case MW_E_NOT_IMPLEMENTED: return 501;
	case MW_E_UNAVAILABLE:
	case MW_E_LIMIT: return 503;
	default: return 500;
	}
}

static void proto_error(enum proto p, struct mw_http_resp *resp, int code, const char *msg)
{
	json_t *e;
	if (p == V2)
		e = json_pack("{s:s}", "error", msg && *msg ? msg : mw_err_name(code));
	else
		e = json_pack("{s:s,s:s}", "error_code",
			      code == MW_E_INVALID || code == MW_E_BAD_REQUEST ? "BAD_REQUEST"
										: mw_err_name(code),
			      "message", msg && *msg ? msg : mw_err_name(code));
	if (!e)
		e = json_pack("{s:s}", "error", "invalid request");
	size_t n;
	char *s = mw_json_dump(e, &n);
	json_decref(e);
	mw_http_resp_set(resp, serve_status(code), "application/json", s, n);
}

/* ------------------------------------------------------------ decoding */

/* The request's rows (and, for V2, its id and output form): V2 through
 * serve/'s V2 decoder, MLflow's forms through its row parser. */
static int decode(struct mw_api_ctx *ctx, struct mw_http_req *req, struct mw_served *m,
		  enum proto p, struct mw_v2_request *out, struct mw_err *err)
{
	struct mw_rows_schema schema;
	mw_served_schema(m, &schema);
	memset(out, 0, sizeof *out);
	if (p == V2) {
		size_t jlen = req->body_len;
		const char *hl = mw_http_header(req, "Inference-Header-Content-Length");
		int64_t h = 0;
		if (hl) {
			if (mw_parse_int64(hl, &h) || h < 0 || (size_t)h > req->body_len)
				return mw_err_set(err, MW_E_INVALID,
						  "Inference-Header-Content-Length is not a length within "
						  "the body");
			jlen = (size_t)h;
		}
		return mw_v2_decode(&schema, req->body, jlen,
				    (const unsigned char *)req->body + jlen, req->body_len - jlen,
				    ctx->max_json_depth, out, err);
	}
	const char *ct = mw_http_header(req, "Content-Type");
	if (ct && !strncasecmp(ct, "text/csv", 8))
		return mw_rows_from_csv(&schema, req->body, req->body_len, &out->rows, err);
	if (ct && strncasecmp(ct, "application/json", 16))
		return mw_err_set(
			err, MW_E_INVALID,
			"Content-Type '%.60s' is not supported: use application/json or text/csv",
			ct);
	json_t *body = mw_json_parse_body(req->body, req->body_len, ctx->max_json_depth, err);
	if (!body)
		return -err->code;
	int rc = mw_rows_from_json(&schema, body, &out->rows, err);
	json_decref(body);
	return rc;
}

/* ------------------------------------------------------------ the request */

struct job {
	struct mw_infer inf;
	struct mw_api_ctx *ctx;
	struct mw_served *m;
	struct mw_http_deferred *d;
	enum proto proto;
	float *x;
	char *id;          /* V2 id to echo, or NULL */
	char *request_id;  /* for the observers (the prediction log) */
	bool binary_out;
};

/* 0, or -MW_E_TOO_LARGE when the answer would pass MW_RESPONSE_MAX. */
static int encode_v2(struct job *j, struct mw_http_resp *resp)
{
	struct mw_infer *inf = &j->inf;
	size_t n = inf->rows * inf->ycols;
	struct mw_buf b;
	mw_buf_init(&b, MW_RESPONSE_MAX);
	/* the usual size at once: ~16 bytes a value (the cap still bounds it) */
	mw_buf_reserve(&b, 160 + (j->id ? strlen(j->id) : 0) + (n < 65536 ? n : 65536) * 16);
	int bad = mw_buf_puts(&b, "{\"model_name\":");
	bad |= mw_json_str_append(&b, mw_served_name(j->m));
	bad |= mw_buf_puts(&b, ",\"model_version\":");
	bad |= mw_json_str_append(&b, mw_served_version(j->m));
	if (j->id) {
		bad |= mw_buf_puts(&b, ",\"id\":");
		bad |= mw_json_str_append(&b, j->id);
	}
	char num[24];
	bad |= mw_buf_puts(&b, ",\"outputs\":[{\"name\":\"output-0\",\"datatype\":\"FP32\","
			       "\"shape\":[");
	bad |= mw_buf_append(&b, num, mw_fmt_i64((long long)inf->rows, num));
	if (inf->ycols != 1) {
		bad |= mw_buf_puts(&b, ",");
		bad |= mw_buf_append(&b, num, mw_fmt_i64((long long)inf->ycols, num));
	}
	bad |= mw_buf_puts(&b, "]");
	if (j->binary_out) {
		bad |= mw_buf_printf(&b, ",\"parameters\":{\"binary_data_size\":%zu}}]}", n * 4);
		size_t hl = b.len;
		bad |= mw_buf_append(&b, inf->y, n * 4);
		if (bad) {
			mw_buf_release(&b);
			return -MW_E_TOO_LARGE;
		}
		size_t len;
		char *body = mw_buf_detach(&b, &len);
		mw_http_resp_set(resp, 200, "application/octet-stream", body, len);
		mw_http_resp_header(resp, "Inference-Header-Content-Length",
				    mw_arena_printf(mw_http_deferred_req(j->d)->arena, "%zu", hl));
	} else {
		bad |= mw_buf_puts(&b, ",\"data\":[");
		bad |= mw_json_floats_append(&b, inf->y, n);
		bad |= mw_buf_puts(&b, "]}]}");
		if (bad) {
			mw_buf_release(&b);
			return -MW_E_TOO_LARGE;
		}
		size_t len;
		char *body = mw_buf_detach(&b, &len);
		mw_http_resp_set(resp, 200, "application/json", body, len);
	}
	mw_buf_release(&b);
	/* headers are copied when the answer is sent, after j->m may be gone */
	mw_http_resp_header(resp, "X-MW-Model-Version",
			    mw_arena_strdup(mw_http_deferred_req(j->d)->arena, mw_served_version(j->m)));
	return 0;
}

static int encode_invocations(struct job *j, struct mw_http_resp *resp)
{
	struct mw_infer *inf = &j->inf;
	struct mw_buf b;
	mw_buf_init(&b, MW_RESPONSE_MAX);
	int bad = mw_buf_puts(&b, "{\"predictions\":[");
	for (size_t r = 0; r < inf->rows; r++) {
		if (r)
			bad |= mw_buf_puts(&b, ",");
		if (inf->ycols == 1) {
			bad |= mw_json_floats_append(&b, inf->y + r, 1);
		} else {
			bad |= mw_buf_puts(&b, "[");
			bad |= mw_json_floats_append(&b, inf->y + r * inf->ycols, inf->ycols);
			bad |= mw_buf_puts(&b, "]");
		}
	}
	bad |= mw_buf_puts(&b, "]}");
	if (bad) {
		mw_buf_release(&b);
		return -MW_E_TOO_LARGE;
	}
	size_t len;
	char *body = mw_buf_detach(&b, &len);
	mw_buf_release(&b);
	mw_http_resp_set(resp, 200, "application/json", body, len);
	/* headers are copied when the answer is sent, after j->m may be gone */
	mw_http_resp_header(resp, "X-MW-Model-Version",
			    mw_arena_strdup(mw_http_deferred_req(j->d)->arena, mw_served_version(j->m)));
	return 0;
}

static void job_done(struct mw_infer *inf, void *ud)
{
	struct job *j = ud;
	struct mw_http_resp resp = {0};
	int rc = 0;
	if (inf->rc)
		proto_error(j->proto, &resp, inf->err.code ? inf->err.code : -inf->rc, inf->err.msg);
	else if (j->proto == V2)
		rc = encode_v2(j, &resp);
	else
		rc = encode_invocations(j, &resp);
	if (rc)
		proto_error(j->proto, &resp, -rc,
			    "the answer would be larger than the server's response cap: ask for fewer "
			    "rows per request, or for binary outputs (V2 binary_data_output)");
	mw_served_release(j->m);
	free(inf->y);
	free(j->x);
	free(j->id);
	free(j->request_id);
	struct mw_http_deferred *d = j->d;
	free(j);
	mw_http_complete(d, &resp);
}

/* Answer a deferred request with an error. */
static void complete_error(struct mw_http_deferred *d, enum proto p, int code, const char *msg)
{
	struct mw_http_resp r = {0};
	proto_error(p, &r, code, msg);
	mw_http_complete(d, &r);
}

/* The model is loaded: decode, submit; the batch's callback completes d. */
static void infer_loaded(struct mw_api_ctx *ctx, struct mw_http_deferred *d, enum proto p,
			 struct mw_served *m)
{
	struct mw_http_req *req = mw_http_deferred_req(d);
	struct mw_err err = {0};
	struct mw_v2_request in;
	int rc = decode(ctx, req, m, p, &in, &err);
	if (rc) {
		struct mw_http_resp r = {0};
		proto_error(p, &r, err.code ? err.code : -rc, err.msg);
		const char *ct = mw_http_header(req, "Content-Type");
		if (p == INVOCATIONS && ct && strncasecmp(ct, "text/csv", 8) &&
		    strncasecmp(ct, "application/json", 16))
			r.status = 415; /* as MLflow's scoring server answers */
		mw_served_release(m);
		mw_v2_request_release(&in);
		mw_http_complete(d, &r);
		return;
	}
	struct job *j = mw_xcalloc(1, sizeof *j);
	j->ctx = ctx;
	j->m = m;
	j->proto = p;
	j->x = in.rows.x;
	j->id = in.id;
	j->binary_out = in.binary_out;
	/* the client's X-Request-ID, else the V2 id, else the id the request-id
	 * filter gave the request (it is on the response too) */
	const char *rid = mw_http_header(req, "X-Request-ID");
	if (rid && *rid && strlen(rid) < 200 && mw_utf8_valid(rid, strlen(rid)))
		j->request_id = mw_xstrdup(rid);
	else if (in.id)
		j->request_id = mw_xstrdup(in.id);
	else if (req->call.request_id && *req->call.request_id)
		j->request_id = mw_xstrdup(req->call.request_id);
	else {
		char hex[33];
		mw_id_hex32(hex, &err);
		j->request_id = mw_xstrdup(hex);
	}
	j->inf.request_id = j->request_id;
	j->inf.x = in.rows.x;
	j->inf.rows = in.rows.rows;
	j->inf.cols = in.rows.cols;
	j->inf.done = job_done;
	j->inf.ud = j;
	j->d = d;
	if ((rc = mw_served_submit(m, &j->inf, &err))) {
		mw_served_release(m);
		free(j->x);
		free(j->id);
		free(j->request_id);
		free(j);
		complete_error(d, p, err.code ? err.code : -rc, err.msg);
	}
}

/* A request whose model is being loaded: its connection stays suspended and
 * no thread waits; the loader's callback goes on with it. */
enum pend_kind { PEND_INFER, PEND_META, PEND_READY, PEND_LOAD };
struct pend {
	struct mw_api_ctx *ctx;
	struct mw_http_deferred *d;
	enum proto proto;
	enum pend_kind kind;
};

static void meta_loaded(struct mw_http_deferred *d, struct mw_served *m);
/* Answer a JSON object (taken) with a status. */
static void json_answer(struct mw_http_resp *resp, int status, json_t *o)
{
	size_t n;
	char *s = mw_json_dump(o, &n);
	json_decref(o);
	mw_http_resp_set(resp, status, "application/json", s, n);
}

static void ready_answer(struct mw_http_deferred *d, int rc, const struct mw_err *err);
static void load_answer(struct mw_http_deferred *d, int rc, const struct mw_err *err);

static void pend_ready(void *ud, struct mw_served *m, int rc, const struct mw_err *err)
{
	struct pend *pd = ud;
	struct pend p = *pd;
	free(pd);
	if (p.kind == PEND_READY) {
		mw_served_release(m);
		ready_answer(p.d, rc, err);
	} else if (p.kind == PEND_LOAD) {
		mw_served_release(m);
		load_answer(p.d, rc, err);
	} else if (rc) {
		complete_error(p.d, p.proto, err && err->code ? err->code : -rc,
			       err ? err->msg : "");
	} else if (p.kind == PEND_INFER) {
		infer_loaded(p.ctx, p.d, p.proto, m);
	} else {
		meta_loaded(p.d, m);
	}
}

/* Acquire the model without blocking this thread; the request is deferred
 * from the start (completed at once when the model is loaded and the batch
 * runs inline).  0: m holds a reference and the caller goes on with d;
 * otherwise d is being or has been answered. */
static int acquire_deferred(struct mw_api_ctx *ctx, struct mw_http_deferred *d, enum proto p,
			    enum pend_kind kind, const char *name, const char *version,
			    struct mw_served **m, int *rc_out, struct mw_err *err)
{
	struct pend *pd = mw_xcalloc(1, sizeof *pd);
	*pd = (struct pend){ctx, d, p, kind};
	int rc = mw_serve_acquire_async(ctx->serve, name, version, pend_ready, pd, m, err);
	*rc_out = rc;
	if (rc == MW_SERVE_PENDING)
		return 1; /* pd belongs to the callback */
	free(pd);
	return rc ? 1 : 0;
}

/* Decode, submit, defer.  name/version identify the model. */
static void infer(struct mw_api_ctx *ctx, struct mw_http_req *req, enum proto p, const char *name,
		  const char *version)
{
	struct mw_err err = {0};
	struct mw_served *m = NULL;
	struct mw_http_deferred *d = mw_http_defer(req);
	int rc;
	if (acquire_deferred(ctx, d, p, PEND_INFER, name, version, &m, &rc, &err)) {
		if (rc != MW_SERVE_PENDING)
			complete_error(d, p, err.code ? err.code : -rc, err.msg);
		return;
	}
	infer_loaded(ctx, d, p, m);
}

/* ------------------------------------------------------------ V2 routes */

static const char *cap_version(struct mw_http_req *req)
{
	return req->ncap > 1 ? req->cap[1] : NULL;
}

static void v2_infer(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)resp; /* answered through the deferred request */
	infer(ud, req, V2, req->cap[0], cap_version(req));
}

static void v2_live(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)req;
	(void)ud;
	mw_http_resp_text(resp, 200, "application/json", "{\"live\":true}");
}

static void v2_ready(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)req;
	struct mw_api_ctx *ctx = ud;
	bool ok = mw_serve_ready(ctx->serve);
	struct mw_serve_source_status st;
	mw_serve_source_status(ctx->serve, &st);
	json_t *o = json_pack("{s:b}", "ready", ok);
	/* a replica says whether it can see its registry (it keeps serving what
	 * it has either way); the server's own registry always answers */
	if (st.kind && strcmp(st.kind, "registry")) {
		json_t *src = json_pack("{s:s,s:b}", "kind", st.kind, "reachable", st.reachable);
		if (!st.reachable) {
			json_object_set_new(src, "error", json_string(st.error));
			json_object_set_new(src, "unreachable_since_ms", json_integer(st.since_ms));
		}
		if (st.last_ok_ms)
			json_object_set_new(src, "last_answer_ms", json_integer(st.last_ok_ms));
		json_object_set_new(o, "model_source", src);
	}
	json_answer(resp, ok ? 200 : 503, o);
}

static void v2_server(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)req;
	(void)ud;
	json_t *o = json_pack("{s:s,s:s,s:[s,s]}", "name", "millwright", "version", MW_VERSION,
			      "extensions", "binary_tensor_data", "model_repository");
	json_answer(resp, 200, o);
}

static void meta_loaded(struct mw_http_deferred *d, struct mw_served *m)
{
	struct mw_err err = {0};
	struct mw_http_resp r = {0};
	json_t *meta = NULL;
	int rc = mw_served_describe(m, &meta, &err);
	if (rc) {
		proto_error(V2, &r, err.code ? err.code : -rc, err.msg);
	} else {
		json_answer(&r, 200, json_incref(meta));
	}
	json_decref(meta);
	mw_served_release(m);
	mw_http_complete(d, &r);
}

static void v2_model(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)resp; /* answered through the deferred request */
	struct mw_api_ctx *ctx = ud;
	struct mw_err err = {0};
	struct mw_served *m = NULL;
	struct mw_http_deferred *d = mw_http_defer(req);
	int rc;
	if (acquire_deferred(ctx, d, V2, PEND_META, req->cap[0], cap_version(req), &m, &rc, &err)) {
		if (rc != MW_SERVE_PENDING)
			complete_error(d, V2, err.code ? err.code : -rc, err.msg);
		return;
	}
	meta_loaded(d, m);
}

static void ready_answer(struct mw_http_deferred *d, int rc, const struct mw_err *err)
{
	struct mw_http_resp r = {0};
	if (rc && err && (err->code == MW_E_NOT_FOUND || -rc == MW_E_NOT_FOUND)) {
		proto_error(V2, &r, MW_E_NOT_FOUND, err->msg);
	} else {
		json_t *o = json_pack("{s:s,s:b}", "name", mw_http_deferred_req(d)->cap[0], "ready",
				      rc == 0);
		json_answer(&r, rc ? 503 : 200, o);
	}
	mw_http_complete(d, &r);
}

static void v2_model_ready(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)resp; /* answered through the deferred request */
	struct mw_api_ctx *ctx = ud;
	struct mw_err err = {0};
	struct mw_served *m = NULL;
	struct mw_http_deferred *d = mw_http_defer(req);
	int rc;
	if (acquire_deferred(ctx, d, V2, PEND_READY, req->cap[0], cap_version(req), &m, &rc,
			     &err)) {
		if (rc != MW_SERVE_PENDING)
			ready_answer(d, rc, &err);
		return;
	}
	mw_served_release(m);
	ready_answer(d, 0, NULL);
}

static void models_list(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)req;
	struct mw_api_ctx *ctx = ud;
	json_t *o = json_pack("{s:o}", "models", mw_serve_list(ctx->serve));
	json_answer(resp, 200, o);
}

/* ------------------------------------------------------------ V2 repository extension */

/* The most entries an index lists. */
#define MAX_INDEX 10000


/* POST /v2/repository/index {"ready": bool}: what the server serves and could
 * serve; GET /v2/models: the same as {"models": [...]}. */
static void repo_index(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	bool ready_only = false;
	if (req->body_len) {
		struct mw_err err = {0};
		json_t *b = mw_json_parse_body(req->body, req->body_len, ctx->max_json_depth, &err);
		json_t *r = json_object_get(b, "ready");
		if (!b || !json_is_object(b) || (r && !json_is_boolean(r))) {
			json_decref(b);
			proto_error(V2, resp, MW_E_INVALID,
				    b ? "the index request is {\"ready\": true|false}" : err.msg);
			return;
		}
		ready_only = json_is_true(r);
		json_decref(b);
	}
	json_answer(resp, 200, mw_serve_index(ctx->serve, ready_only, MAX_INDEX));
}

static void v2_models(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)req;
	struct mw_api_ctx *ctx = ud;
	json_answer(resp, 200,
		    json_pack("{s:o}", "models", mw_serve_index(ctx->serve, false, MAX_INDEX)));
}

static void load_answer(struct mw_http_deferred *d, int rc, const struct mw_err *err)
{
	struct mw_http_resp r = {0};
	if (rc)
		proto_error(V2, &r, err && err->code ? err->code : -rc, err ? err->msg : "");
	else
		json_answer(&r, 200,
			    json_pack("{s:s,s:b}", "name", mw_http_deferred_req(d)->cap[0], "load",
				      1));
	mw_http_complete(d, &r);
}

/* POST /v2/repository/models/{name}/load: load the name's default (answered
 * when it is loaded, or failed to). */
static void repo_load(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)resp; /* answered through the deferred request */
	struct mw_api_ctx *ctx = ud;
	struct mw_err err = {0};
	struct mw_served *m = NULL;
	struct mw_http_deferred *d = mw_http_defer(req);
	int rc;
	if (acquire_deferred(ctx, d, V2, PEND_LOAD, req->cap[0], NULL, &m, &rc, &err)) {
		if (rc != MW_SERVE_PENDING)
			load_answer(d, rc, &err);
		return;
	}
	mw_served_release(m);
	load_answer(d, 0, NULL);
}

static void repo_unload(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	struct mw_err err = {0};
	int rc = mw_serve_unload(ctx->serve, req->cap[0], &err);
	if (rc)
		proto_error(V2, resp, err.code ? err.code : -rc, err.msg);
	else
		json_answer(resp, 200, json_pack("{s:s,s:b}", "name", req->cap[0], "unload", 1));
}

/* ------------------------------------------------------------ MLflow scoring */

static void inv_named(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)resp; /* answered through the deferred request */
	infer(ud, req, INVOCATIONS, req->cap[0], cap_version(req));
}

static void inv_default(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	if (!ctx->default_model) {
		proto_error(INVOCATIONS, resp, MW_E_NOT_FOUND,
			    "/invocations needs one served model (mw serve MODEL); use "
			    "/models/<name>/invocations");
		return;
	}
	infer(ctx, req, INVOCATIONS, ctx->default_model, NULL);
}

static void ping(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)req;
	struct mw_api_ctx *ctx = ud;
	bool ok = mw_serve_ready(ctx->serve);
	mw_http_resp_text(resp, ok ? 200 : 503, "application/json", ok ? "\n" : "{\"ready\":false}");
}

#define V2R(p) .pattern = p, .errfmt = MW_ERRFMT_V2
#define INV(p) .pattern = p, .errfmt = MW_ERRFMT_MLFLOW

static struct mw_route routes[] = {
	{.method = "GET", V2R("/v2/health/live"), .fn = v2_live, .auth = MW_AUTH_OPEN},
	{.method = "GET", V2R("/v2/health/ready"), .fn = v2_ready, .auth = MW_AUTH_OPEN},
	{.method = "GET", V2R("/v2"), .fn = v2_server, .auth = MW_AUTH_OPEN},
	{.method = "GET", V2R("/v2/"), .fn = v2_server, .auth = MW_AUTH_OPEN},
	{.method = "POST",
	 V2R("/v2/models/{name}/infer"),
	 .fn = v2_infer,
	 .name = "/v2/models/:name/infer",
	 .auth = MW_AUTH_INFERENCE},
	{.method = "POST",
	 V2R("/v2/models/{name}/versions/{version}/infer"),
	 .fn = v2_infer,
	 .name = "/v2/models/:name/versions/:version/infer",
	 .auth = MW_AUTH_INFERENCE},
	{.method = "GET",
	 V2R("/v2/models/{name}/ready"),
	 .fn = v2_model_ready,
	 .name = "/v2/models/:name/ready",
	 .auth = MW_AUTH_INFERENCE},
	{.method = "GET",
	 V2R("/v2/models/{name}/versions/{version}/ready"),
	 .fn = v2_model_ready,
	 .name = "/v2/models/:name/versions/:version/ready",
	 .auth = MW_AUTH_INFERENCE},
	{.method = "GET",
	 V2R("/v2/models/{name}"),
	 .fn = v2_model,
	 .name = "/v2/models/:name",
	 .auth = MW_AUTH_INFERENCE},
	{.method = "GET",
	 V2R("/v2/models/{name}/versions/{version}"),
	 .fn = v2_model,
	 .name = "/v2/models/:name/versions/:version",
	 .auth = MW_AUTH_INFERENCE},
	{.method = "GET", V2R("/v2/models"), .fn = v2_models, .auth = MW_AUTH_READ},
	{.method = "POST", V2R("/v2/repository/index"), .fn = repo_index, .auth = MW_AUTH_READ},
	{.method = "POST",
	 V2R("/v2/repository/models/{name}/load"),
	 .fn = repo_load,
	 .name = "/v2/repository/models/:name/load",
	 .auth = MW_AUTH_ADMIN},
	{.method = "POST",
	 V2R("/v2/repository/models/{name}/unload"),
	 .fn = repo_unload,
	 .name = "/v2/repository/models/:name/unload",
	 .auth = MW_AUTH_ADMIN},
	{.method = "POST", INV("/invocations"), .fn = inv_default, .auth = MW_AUTH_INFERENCE},
	{.method = "GET", INV("/ping"), .fn = ping, .auth = MW_AUTH_OPEN},
	{.method = "POST",
	 INV("/models/{name}/invocations"),
	 .fn = inv_named,
	 .name = "/models/:name/invocations",
	 .auth = MW_AUTH_INFERENCE},
	{.method = "POST",
	 INV("/models/{name}/versions/{version}/invocations"),
	 .fn = inv_named,
	 .name = "/models/:name/versions/:version/invocations",
	 .auth = MW_AUTH_INFERENCE},
	{.method = "GET", INV("/api/mw/serving/models"), .fn = models_list, .auth = MW_AUTH_READ},
};

void mw_api_serving_register(struct mw_api_ctx *ctx, struct mw_http_server *http)
{
	for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
		routes[i].ud = ctx;
	mw_http_add_routes(http, routes, sizeof routes / sizeof *routes);
}
