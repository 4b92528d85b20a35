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
 * resumes the connection.  No thread waits for a batch.
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

#define MAX_CELLS MW_ROWS_MAX_CELLS /* floats in one request */

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

struct tab {
	float *x;
	size_t rows, cols;
};

/* A V2 tensor value (MLflow's forms go through serve/'s row parser). */
static int cell(json_t *v, float *out, struct mw_err *err)
{
	if (json_is_number(v)) {
		*out = (float)json_number_value(v);
		return 0;
	}
	if (json_is_null(v)) {
		*out = NAN;
		return 0;
	}
	if (json_is_boolean(v)) {
		*out = json_is_true(v) ? 1.0f : 0.0f;
		return 0;
	}
	if (json_is_string(v)) {
		double d;
		const char *s = json_string_value(v);
		if (!*s) {
			*out = NAN;
			return 0;
		}
		if (!mw_parse_double(s, &d)) {
			*out = (float)d;
			return 0;
		}
	}
	char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	int rc = mw_err_set(err, MW_E_INVALID, "value %.60s is not a number", s ? s : "?");
	free(s);
	return rc;
}

static size_t dtype_size(const char *dt)
{
	static const struct {
		const char *n;
		size_t s;
	} t[] = {{"BOOL", 1}, {"UINT8", 1}, {"UINT16", 2}, {"UINT32", 4}, {"UINT64", 8},
		 {"INT8", 1}, {"INT16", 2}, {"INT32", 4}, {"INT64", 8}, {"FP32", 4}, {"FP64", 8}};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++)
		if (!strcmp(dt, t[i].n))
			return t[i].s;
	return 0;
}

static float from_binary(const char *dt, const unsigned char *p)
{
	union {
		float f;
		double d;
		int8_t i8;
		int16_t i16;
		int32_t i32;
		int64_t i64;
		uint8_t u8;
		uint16_t u16;
		uint32_t u32;
		uint64_t u64;
	} u;
	memcpy(&u, p, dtype_size(dt));
	if (!strcmp(dt, "FP32")) return u.f;
	if (!strcmp(dt, "FP64")) return (float)u.d;
	if (!strcmp(dt, "INT8")) return u.i8;
	if (!strcmp(dt, "INT16")) return u.i16;
	if (!strcmp(dt, "INT32")) return (float)u.i32;
	if (!strcmp(dt, "INT64")) return (float)u.i64;
	if (!strcmp(dt, "UINT8") || !strcmp(dt, "BOOL")) return u.u8;
	if (!strcmp(dt, "UINT16")) return u.u16;
	if (!strcmp(dt, "UINT32")) return (float)u.u32;
	return (float)u.u64;
}

/* Flatten nested data into out[count]; returns the number of values seen. */
static int flatten(json_t *d, float *out, size_t cap, size_t *n, int depth, struct mw_err *err)
{
	if (depth > 8)
		return mw_err_set(err, MW_E_INVALID, "tensor data nests too deep");
	if (!json_is_array(d)) {
		if (*n >= cap)
			return mw_err_set(err, MW_E_INVALID, "tensor data has more values than its shape");
		int rc = cell(d, &out[*n], err);
		(*n)++;
		return rc;
	}
	for (size_t i = 0; i < json_array_size(d); i++) {
		int rc = flatten(json_array_get(d, i), out, cap, n, depth + 1, err);
		if (rc)
			return rc;
	}
	return 0;
}

struct v2in {
	const char *name, *dt;
	size_t elems, rows, cols;
	json_t *data;
	const unsigned char *bin;
	size_t binlen;
};

static int parse_v2(struct mw_served *m, json_t *body, const unsigned char *bin, size_t binlen,
		    struct tab *t, struct mw_err *err)
{
	json_t *inputs = json_object_get(body, "inputs");
	size_t ni = json_array_size(inputs);
	if (!json_is_array(inputs) || !ni)
		return mw_err_set(err, MW_E_INVALID, "'inputs' must be a non-empty list");
	if (ni > 4096)
		return mw_err_set(err, MW_E_INVALID, "too many inputs");
	struct v2in *in = mw_xcalloc(ni, sizeof *in);
	size_t off = 0;
	int rc = 0;
	for (size_t i = 0; i < ni && !rc; i++) {
		json_t *e = json_array_get(inputs, i);
		in[i].name = json_string_value(json_object_get(e, "name"));
		in[i].dt = json_string_value(json_object_get(e, "datatype"));
		json_t *shape = json_object_get(e, "shape");
		if (!json_is_object(e) || !in[i].name || !in[i].dt || !json_is_array(shape)) {
			rc = mw_err_set(err, MW_E_INVALID,
					"input %zu needs 'name', 'datatype' and 'shape'", i);
			break;
		}
		if (!dtype_size(in[i].dt)) {
			rc = mw_err_set(err, MW_E_INVALID,
					"input '%s': datatype %s is not supported for tabular models "
					"(use FP32, FP64, INT*, UINT* or BOOL)",
					in[i].name, in[i].dt);
			break;
		}
		size_t ns = json_array_size(shape);
		if (ns < 1 || ns > 2) {
			rc = mw_err_set(err, MW_E_INVALID,
					"input '%s': shape must be [rows] or [rows, features]", in[i].name);
			break;
		}
		size_t dims[2] = {1, 1};
		for (size_t k = 0; k < ns; k++) {
			json_t *dv = json_array_get(shape, k);
			if (!json_is_integer(dv) || json_integer_value(dv) < 0 ||
			    json_integer_value(dv) > (json_int_t)MAX_CELLS) {
				rc = mw_err_set(err, MW_E_INVALID, "input '%s': bad shape", in[i].name);
				break;
			}
			dims[k] = (size_t)json_integer_value(dv);
		}
		if (rc)
			break;
		in[i].rows = dims[0];
		in[i].cols = ns == 2 ? dims[1] : 1;
		in[i].elems = in[i].rows * in[i].cols;
		if (in[i].elems > MAX_CELLS) {
			rc = mw_err_set(err, MW_E_TOO_LARGE, "input '%s' is too large", in[i].name);
			break;
		}
		json_t *params = json_object_get(e, "parameters");
		json_t *bds = json_object_get(params, "binary_data_size");
		if (bds) {
			size_t sz = (size_t)json_integer_value(bds);
			if (!json_is_integer(bds) || off + sz > binlen ||
			    sz != in[i].elems * dtype_size(in[i].dt)) {
				rc = mw_err_set(err, MW_E_INVALID,
						"input '%s': binary_data_size does not match the shape "
						"or the binary part of the body",
						in[i].name);
				break;
			}
			in[i].bin = bin + off;
			in[i].binlen = sz;
			off += sz;
		} else {
			in[i].data = json_object_get(e, "data");
			if (!in[i].data) {
				rc = mw_err_set(err, MW_E_INVALID, "input '%s' has no data", in[i].name);
				break;
			}
		}
	}
	size_t nf = mw_served_num_features(m);
	size_t rows = ni ? in[0].rows : 0;
	if (!rc) {
		if (ni == 1 && in[0].cols == nf) {
			/* one [rows, features] input */
		} else if (ni == 1 && nf == 1 && in[0].cols == 1) {
		} else if (ni > 1 || in[0].cols == 1) {
			/* one [rows] input per feature */
			if (ni != nf)
				rc = mw_err_set(err, MW_E_INVALID,
						"the model takes %zu features: send one input of shape "
						"[rows, %zu] or %zu inputs of shape [rows]",
						nf, nf, nf);
			for (size_t i = 0; !rc && i < ni; i++)
				if (in[i].rows != rows || in[i].cols != 1)
					rc = mw_err_set(err, MW_E_INVALID,
							"input '%s': every per-feature input must have "
							"shape [%zu]",
							in[i].name, rows);
		} else {
			rc = mw_err_set(err, MW_E_INVALID,
					"input '%s' has %zu features per row, the model takes %zu",
					in[0].name, in[0].cols, nf);
		}
	}
	float *x = NULL;
	if (!rc)
		x = mw_xmalloc((rows ? rows : 1) * nf * sizeof(float));
	if (!rc && ni == 1) {
		if (in[0].bin) {
			size_t es = dtype_size(in[0].dt);
			for (size_t k = 0; k < in[0].elems; k++)
				x[k] = from_binary(in[0].dt, in[0].bin + k * es);
		} else {
			size_t cnt = 0;
			rc = flatten(in[0].data, x, in[0].elems, &cnt, 0, err);
			if (!rc && cnt != in[0].elems)
				rc = mw_err_set(err, MW_E_INVALID,
						"input '%s' has %zu values, its shape says %zu", in[0].name,
						cnt, in[0].elems);
		}
	} else if (!rc) {
		/* per-feature inputs: by feature name when the model has names */
		json_t *names = mw_served_feature_names(m);
		float *col = mw_xmalloc((rows ? rows : 1) * sizeof(float));
		for (size_t f = 0; !rc && f < nf; f++) {
			size_t src = f;
			if (json_array_size(names)) {
				const char *fn = json_string_value(json_array_get(names, f));
				src = ni;
				for (size_t i = 0; i < ni; i++)
					if (fn && !strcmp(in[i].name, fn))
						src = i;
				if (src == ni) {
					rc = mw_err_set(err, MW_E_INVALID, "missing input for feature '%s'",
							fn ? fn : "?");
					break;
				}
			}
			if (in[src].bin) {
				size_t es = dtype_size(in[src].dt);
				for (size_t r = 0; r < rows; r++)
					col[r] = from_binary(in[src].dt, in[src].bin + r * es);
			} else {
				size_t cnt = 0;
				rc = flatten(in[src].data, col, rows, &cnt, 0, err);
				if (!rc && cnt != rows)
					rc = mw_err_set(err, MW_E_INVALID,
							"input '%s' has %zu values, its shape says %zu",
							in[src].name, cnt, rows);
			}
			for (size_t r = 0; !rc && r < rows; r++)
				x[r * nf + f] = col[r];
		}
		free(col);
	}
	free(in);
	if (rc) {
		free(x);
		return rc;
	}
	t->x = x;
	t->rows = rows;
	t->cols = nf;
	return 0;
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

static void encode_v2(struct job *j, struct mw_http_resp *resp)
{
	struct mw_infer *inf = &j->inf;
	size_t n = inf->rows * inf->ycols;
	struct mw_buf b;
	mw_buf_init(&b, 0);
	mw_buf_puts(&b, "{\"model_name\":");
	mw_json_str_append(&b, mw_served_name(j->m));
	mw_buf_puts(&b, ",\"model_version\":");
	mw_json_str_append(&b, mw_served_version(j->m));
	if (j->id) {
		mw_buf_puts(&b, ",\"id\":");
		mw_json_str_append(&b, j->id);
	}
	if (inf->ycols == 1)
		mw_buf_printf(&b, ",\"outputs\":[{\"name\":\"output-0\",\"datatype\":\"FP32\","
				  "\"shape\":[%zu]",
			      inf->rows);
	else
		mw_buf_printf(&b, ",\"outputs\":[{\"name\":\"output-0\",\"datatype\":\"FP32\","
				  "\"shape\":[%zu,%zu]",
			      inf->rows, inf->ycols);
	if (j->binary_out) {
		mw_buf_printf(&b, ",\"parameters\":{\"binary_data_size\":%zu}}]}", n * 4);
		size_t hl = b.len;
		mw_buf_append(&b, inf->y, n * 4);
		size_t len;
		char *body = mw_buf_detach(&b, &len);
		mw_http_resp_set(resp, 200, "application/octet-stream", body, len);
		mw_http_resp_header(resp, "Inference-Header-Content-Length",
				    mw_arena_printf(mw_http_deferred_req(j->d)->arena, "%zu", hl));
	} else {
		mw_buf_puts(&b, ",\"data\":[");
		mw_json_floats_append(&b, inf->y, n);
		mw_buf_puts(&b, "]}]}");
		size_t len;
		char *body = mw_buf_detach(&b, &len);
		mw_http_resp_set(resp, 200, "application/json", body, len);
	}
	mw_buf_release(&b);
	/* headers are copied when the answer is sent, after j->m may be gone */
	mw_http_resp_header(resp, "X-MW-Model-Version",
			    mw_arena_strdup(mw_http_deferred_req(j->d)->arena, mw_served_version(j->m)));
}

static void encode_invocations(struct job *j, struct mw_http_resp *resp)
{
	struct mw_infer *inf = &j->inf;
	struct mw_buf b;
	mw_buf_init(&b, 0);
	mw_buf_puts(&b, "{\"predictions\":[");
	for (size_t r = 0; r < inf->rows; r++) {
		if (r)
			mw_buf_puts(&b, ",");
		if (inf->ycols == 1) {
			mw_json_floats_append(&b, inf->y + r, 1);
		} else {
			mw_buf_puts(&b, "[");
			mw_json_floats_append(&b, inf->y + r * inf->ycols, inf->ycols);
			mw_buf_puts(&b, "]");
		}
	}
	mw_buf_puts(&b, "]}");
	size_t len;
	char *body = mw_buf_detach(&b, &len);
	mw_buf_release(&b);
	mw_http_resp_set(resp, 200, "application/json", body, len);
	/* headers are copied when the answer is sent, after j->m may be gone */
	mw_http_resp_header(resp, "X-MW-Model-Version",
			    mw_arena_strdup(mw_http_deferred_req(j->d)->arena, mw_served_version(j->m)));
}

static void job_done(struct mw_infer *inf, void *ud)
{
	struct job *j = ud;
	struct mw_http_resp resp = {0};
	if (inf->rc)
		proto_error(j->proto, &resp, inf->err.code ? inf->err.code : -inf->rc, inf->err.msg);
	else if (j->proto == V2)
		encode_v2(j, &resp);
	else
		encode_invocations(j, &resp);
	mw_served_release(j->m);
	free(inf->y);
	free(j->x);
	free(j->id);
	free(j->request_id);
	struct mw_http_deferred *d = j->d;
	free(j);
	mw_http_complete(d, &resp);
}

/* Decode, submit, defer.  name/version identify the model. */
static void infer(struct mw_api_ctx *ctx, struct mw_http_req *req, struct mw_http_resp *resp,
		  enum proto p, const char *name, const char *version)
{
	struct mw_err err = {0};
	struct mw_served *m = NULL;
	int rc = mw_serve_acquire(ctx->serve, name, version, &m, &err);
	if (rc) {
		proto_error(p, resp, err.code ? err.code : -rc, err.msg);
		return;
	}
	struct tab t = {0};
	char *id = NULL;
	bool binary_out = false;
	const char *ct = mw_http_header(req, "Content-Type");
	const char *hl = mw_http_header(req, "Inference-Header-Content-Length");
	struct mw_rows_schema schema;
	mw_served_schema(m, &schema);
	if (p == INVOCATIONS && ct && !strncasecmp(ct, "text/csv", 8)) {
		struct mw_rows rows = {0};
		rc = mw_rows_from_csv(&schema, req->body, req->body_len, &rows, &err);
		t = (struct tab){rows.x, rows.rows, rows.cols};
	} else if (p == INVOCATIONS && ct && strncasecmp(ct, "application/json", 16)) {
		rc = mw_err_set(&err, MW_E_INVALID,
				"Content-Type '%.60s' is not supported: use application/json or text/csv",
				ct);
	} else {
		size_t jlen = req->body_len;
		int64_t h = 0;
		if (p == V2 && hl) {
			if (mw_parse_int64(hl, &h) || h < 0 || (size_t)h > req->body_len)
				rc = mw_err_set(&err, MW_E_INVALID,
						"Inference-Header-Content-Length is not a length within "
						"the body");
			else
				jlen = (size_t)h;
		}
		json_t *body = NULL;
		if (!rc)
			body = mw_json_parse_body(req->body, jlen, ctx->max_json_depth, &err);
		if (!rc && !body)
			rc = -err.code;
		if (!rc && p == V2) {
			json_t *idv = json_object_get(body, "id");
			if (json_is_string(idv))
				id = mw_xstrdup(json_string_value(idv));
			json_t *outs = json_object_get(body, "outputs");
			json_t *bdo = json_object_get(json_object_get(body, "parameters"),
						      "binary_data_output");
			binary_out = json_is_true(bdo);
			for (size_t i = 0; !rc && i < json_array_size(outs); i++) {
				json_t *o = json_array_get(outs, i);
				const char *on = json_string_value(json_object_get(o, "name"));
				if (!on || strcmp(on, "output-0"))
					rc = mw_err_set(&err, MW_E_INVALID,
							"unknown output '%.60s': the model has 'output-0'",
							on ? on : "?");
				json_t *bd = json_object_get(json_object_get(o, "parameters"),
							     "binary_data");
				if (bd)
					binary_out = json_is_true(bd);
			}
			if (!rc)
				rc = parse_v2(m, body, (const unsigned char *)req->body + jlen,
					      req->body_len - jlen, &t, &err);
		} else if (!rc) {
			struct mw_rows rows = {0};
			rc = mw_rows_from_json(&schema, body, &rows, &err);
			t = (struct tab){rows.x, rows.rows, rows.cols};
		}
		json_decref(body);
	}
	if (rc) {
		proto_error(p, resp, err.code ? err.code : -rc, err.msg);
		if (p == INVOCATIONS && ct && strncasecmp(ct, "text/csv", 8) &&
		    strncasecmp(ct, "application/json", 16))
			resp->status = 415; /* as MLflow's scoring server answers */
		mw_served_release(m);
		free(id);
		return;
	}
	struct job *j = mw_xcalloc(1, sizeof *j);
	j->ctx = ctx;
	j->m = m;
	j->proto = p;
	j->x = t.x;
	j->id = id;
	j->binary_out = binary_out;
	/* the client's X-Request-ID, else the V2 id, else the id the request-id
	 * filter gave the request (it is on the response too) */
	const char *rid = mw_http_header(req, "X-Request-ID");
	if (rid && *rid && strlen(rid) < 200 && mw_utf8_valid(rid, strlen(rid)))
		j->request_id = mw_xstrdup(rid);
	else if (id)
		j->request_id = mw_xstrdup(id);
	else if (req->call.request_id && *req->call.request_id)
		j->request_id = mw_xstrdup(req->call.request_id);
	else {
		char hex[33];
		mw_id_hex32(hex, &err);
		j->request_id = mw_xstrdup(hex);
	}
	j->inf.request_id = j->request_id;
	j->inf.x = t.x;
	j->inf.rows = t.rows;
	j->inf.cols = t.cols;
	j->inf.done = job_done;
	j->inf.ud = j;
	j->d = mw_http_defer(req);
	if ((rc = mw_served_submit(m, &j->inf, &err))) {
		struct mw_http_resp r2 = {0};
		proto_error(p, &r2, err.code ? err.code : -rc, err.msg);
		mw_served_release(m);
		free(j->x);
		free(j->id);
		free(j->request_id);
		struct mw_http_deferred *d = j->d;
		free(j);
		mw_http_complete(d, &r2);
	}
}

/* ------------------------------------------------------------ V2 routes */

static const char *cap_version(struct mw_http_req *req)
{
	return req->ncap > 1 ? req->cap[1] : NULL;
}

static void v2_infer(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	infer(ud, req, resp, V2, req->cap[0], cap_version(req));
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
	mw_http_resp_text(resp, ok ? 200 : 503, "application/json",
			  ok ? "{\"ready\":true}" : "{\"ready\":false}");
}

static void v2_server(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)req;
	(void)ud;
	json_t *o = json_pack("{s:s,s:s,s:[s,s]}", "name", "millwright", "version", MW_VERSION,
			      "extensions", "binary_tensor_data", "model_repository");
	size_t n;
	char *s = mw_json_dump(o, &n);
	json_decref(o);
	mw_http_resp_set(resp, 200, "application/json", s, n);
}

static void v2_model(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	struct mw_err err = {0};
	struct mw_served *m = NULL;
	int rc = mw_serve_acquire(ctx->serve, req->cap[0], cap_version(req), &m, &err);
	json_t *meta = NULL;
	if (!rc)
		rc = mw_served_describe(m, &meta, &err);
	if (rc) {
		proto_error(V2, resp, err.code ? err.code : -rc, err.msg);
	} else {
		size_t n;
		char *s = mw_json_dump(meta, &n);
		mw_http_resp_set(resp, 200, "application/json", s, n);
	}
	json_decref(meta);
	mw_served_release(m);
}

static void v2_model_ready(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	struct mw_err err = {0};
	struct mw_served *m = NULL;
	int rc = mw_serve_acquire(ctx->serve, req->cap[0], cap_version(req), &m, &err);
	if (rc && (err.code == MW_E_NOT_FOUND || -rc == MW_E_NOT_FOUND)) {
		proto_error(V2, resp, MW_E_NOT_FOUND, err.msg);
		return;
	}
	json_t *o = json_pack("{s:s,s:b}", "name", req->cap[0], "ready", rc == 0);
	size_t n;
	char *s = mw_json_dump(o, &n);
	json_decref(o);
	mw_http_resp_set(resp, rc ? 503 : 200, "application/json", s, n);
	mw_served_release(m);
}

static void models_list(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)req;
	struct mw_api_ctx *ctx = ud;
	json_t *o = json_pack("{s:o}", "models", mw_serve_list(ctx->serve));
	size_t n;
	char *s = mw_json_dump(o, &n);
	json_decref(o);
	mw_http_resp_set(resp, 200, "application/json", s, n);
}

/* ------------------------------------------------------------ MLflow scoring */

static void inv_named(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	infer(ud, req, resp, INVOCATIONS, req->cap[0], cap_version(req));
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
	infer(ctx, req, resp, INVOCATIONS, ctx->default_model, NULL);
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
	{.method = "POST", V2R("/v2/models/{name}/infer"), .fn = v2_infer,
	 .name = "/v2/models/:name/infer", .auth = MW_AUTH_INFERENCE},
	{.method = "POST", V2R("/v2/models/{name}/versions/{version}/infer"), .fn = v2_infer,
	 .name = "/v2/models/:name/versions/:version/infer", .auth = MW_AUTH_INFERENCE},
	{.method = "GET", V2R("/v2/models/{name}/ready"), .fn = v2_model_ready,
	 .name = "/v2/models/:name/ready", .auth = MW_AUTH_INFERENCE},
	{.method = "GET", V2R("/v2/models/{name}/versions/{version}/ready"),
	 .fn = v2_model_ready, .name = "/v2/models/:name/versions/:version/ready",
	 .auth = MW_AUTH_INFERENCE},
	{.method = "GET", V2R("/v2/models/{name}"), .fn = v2_model, .name = "/v2/models/:name",
	 .auth = MW_AUTH_INFERENCE},
	{.method = "GET", V2R("/v2/models/{name}/versions/{version}"), .fn = v2_model,
	 .name = "/v2/models/:name/versions/:version", .auth = MW_AUTH_INFERENCE},
	{.method = "POST", INV("/invocations"), .fn = inv_default, .auth = MW_AUTH_INFERENCE},
	{.method = "GET", INV("/ping"), .fn = ping, .auth = MW_AUTH_OPEN},
	{.method = "POST", INV("/models/{name}/invocations"), .fn = inv_named,
	 .name = "/models/:name/invocations", .auth = MW_AUTH_INFERENCE},
	{.method = "POST", INV("/models/{name}/versions/{version}/invocations"),
	 .fn = inv_named, .name = "/models/:name/versions/:version/invocations",
	 .auth = MW_AUTH_INFERENCE},
	{.method = "GET", INV("/api/mw/serving/models"), .fn = models_list, .auth = MW_AUTH_READ},
};

void mw_api_serving_register(struct mw_api_ctx *ctx, struct mw_http_server *http)
{
	for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
		routes[i].ud = ctx;
	mw_http_add_routes(http, routes, sizeof routes / sizeof *routes);
}
