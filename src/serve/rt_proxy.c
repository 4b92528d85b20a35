/*
 * rt_proxy.c - the proxy runtime: a model served by another server.
 *
 * The model directory holds proxy.json: {"url": "http://host:port",
 * "model": "<upstream model name>", "timeout_ms": 30000}.  The upstream must
 * speak the Open Inference Protocol: describe reads GET
 * /v2/models/<model>, predict sends one V2 infer request per batch with an
 * FP32 [rows, features] input and reads the first output.  mw keeps doing
 * HTTP, batching, routing and metrics; the upstream only computes.
 *
 * Errors map to mw's kinds: unreachable or timed out -> MW_E_UNAVAILABLE
 * (503), an upstream 4xx -> MW_E_INVALID with the upstream's message, an
 * upstream 5xx or a malformed answer -> MW_E_UNAVAILABLE.  One curl handle
 * per call (the batcher is one thread per model version, so calls do not
 * overlap for one model).
 */
#include "serve/serve_int.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct proxy {
	char *url;     /* base URL, no trailing slash */
	char *model;
	long timeout_ms;
	size_t nf, no;
	json_t *meta;
};

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
	return mw_buf_append(ud, p, size * n) ? 0 : size * n;
}

static int call(struct proxy *px, const char *path, const char *body, json_t **out,
		struct mw_err *err)
{
	CURL *c = curl_easy_init();
	if (!c)
		return mw_err_set(err, MW_E_INTERNAL, "cannot initialise libcurl");
	char url[2048];
	snprintf(url, sizeof url, "%s%s", px->url, path);
	struct mw_buf resp;
	mw_buf_init(&resp, 256u << 20);
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, px->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, px->timeout_ms < 5000 ? px->timeout_ms : 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	CURLcode cc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	int rc = 0;
	json_error_t je;
	json_t *v = NULL;
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		rc = mw_err_set(err, MW_E_UNAVAILABLE, "upstream %s timed out after %ld ms", px->url,
				px->timeout_ms);
	} else if (cc != CURLE_OK) {
		rc = mw_err_set(err, MW_E_UNAVAILABLE, "upstream %s is unreachable: %s", px->url,
				curl_easy_strerror(cc));
	} else {
		v = json_loadb(resp.data, resp.len, 0, &je);
		const char *msg = json_string_value(json_object_get(v, "error"));
		if (status >= 400 && status < 500)
			rc = mw_err_set(err, status == 404 ? MW_E_NOT_FOUND : MW_E_INVALID,
					"upstream answered %ld: %.300s", status, msg ? msg : "(no message)");
		else if (status != 200 || !json_is_object(v))
			rc = mw_err_set(err, MW_E_UNAVAILABLE, "upstream answered %ld: %.300s", status,
					msg ? msg : "(not a JSON object)");
	}
	if (!rc)
		*out = v;
	else
		json_decref(v);
	curl_slist_free_all(h);
	mw_buf_release(&resp);
	curl_easy_cleanup(c);
	return rc;
}

static void px_free(struct proxy *px)
{
	if (!px)
		return;
	free(px->url);
	free(px->model);
	json_decref(px->meta);
	free(px);
}

static int px_load(const struct mw_rt_spec *spec, void **model, struct mw_err *err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/proxy.json", spec->dir);
	json_error_t je;
	json_t *cfg = json_load_file(path, 0, &je);
	if (!cfg)
		return mw_err_set(err, MW_E_INVALID, "%s: %s", path, je.text);
	const char *url = json_string_value(json_object_get(cfg, "url"));
	const char *name = json_string_value(json_object_get(cfg, "model"));
	if (!url || strncmp(url, "http", 4) || !name) {
		json_decref(cfg);
		return mw_err_set(err, MW_E_INVALID, "%s needs \"url\" (http or https) and \"model\"",
				  path);
	}
	struct proxy *px = mw_xcalloc(1, sizeof *px);
	px->url = mw_xstrdup(url);
	size_t n = strlen(px->url);
	while (n && px->url[n - 1] == '/')
		px->url[--n] = 0;
	px->model = mw_xstrdup(name);
	json_t *to = json_object_get(cfg, "timeout_ms");
	px->timeout_ms = json_is_integer(to) && json_integer_value(to) > 0
				 ? (long)json_integer_value(to)
				 : (spec->timeout_ms > 0 ? (long)spec->timeout_ms : 30000);
	json_decref(cfg);
	char *esc = curl_easy_escape(NULL, px->model, 0);
	char p2[1024];
	snprintf(p2, sizeof p2, "/v2/models/%s", esc ? esc : "");
	curl_free(esc);
	json_t *meta = NULL;
	int rc = call(px, p2, NULL, &meta, err);
	if (!rc) {
		json_t *shape = json_object_get(json_array_get(json_object_get(meta, "inputs"), 0),
						"shape");
		json_t *oshape = json_object_get(json_array_get(json_object_get(meta, "outputs"), 0),
						 "shape");
		json_int_t f = json_integer_value(json_array_get(shape, json_array_size(shape) - 1));
		json_int_t o = json_array_size(oshape) > 1
				       ? json_integer_value(json_array_get(oshape, 1))
				       : 1;
		if (f <= 0 || o <= 0)
			rc = mw_err_set(err, MW_E_INVALID,
					"upstream model '%s' does not say its number of features "
					"(inputs[0].shape[-1]) and outputs",
					px->model);
		px->nf = (size_t)f;
		px->no = (size_t)o;
		px->meta = meta;
	}
	if (rc) {
		px_free(px);
		return rc;
	}
	*model = px;
	return 0;
}

static int px_describe(void *model, json_t **out, struct mw_err *err)
{
	(void)err;
	struct proxy *px = model;
	*out = json_pack("{s:[{s:s,s:s,s:[i,I]}],s:[{s:s,s:s,s:[i,I]}],s:I,s:I,s:s}", "inputs",
			 "name", "input-0", "datatype", "FP32", "shape", -1, (json_int_t)px->nf,
			 "outputs", "name", "output-0", "datatype", "FP32", "shape", -1,
			 (json_int_t)px->no, "features", (json_int_t)px->nf, "outputs_per_row",
			 (json_int_t)px->no, "upstream", px->url);
	return 0;
}

static int px_predict(void *model, const float *x, size_t rows, size_t cols, float *y,
		      struct mw_err *err)
{
	struct proxy *px = model;
	json_t *data = json_array();
	for (size_t i = 0; i < rows * cols; i++)
		json_array_append_new(data, isfinite(x[i]) ? json_real(x[i]) : json_null());
	json_t *req = json_pack("{s:[{s:s,s:s,s:[I,I],s:o}]}", "inputs", "name", "input-0",
				"datatype", "FP32", "shape", (json_int_t)rows, (json_int_t)cols,
				"data", data);
	char *body = json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(9));
	json_decref(req);
	char *esc = curl_easy_escape(NULL, px->model, 0);
	char path[1024];
	snprintf(path, sizeof path, "/v2/models/%s/infer", esc ? esc : "");
	curl_free(esc);
	json_t *resp = NULL;
	int rc = call(px, path, body, &resp, err);
	free(body);
	if (rc)
		return rc;
	json_t *out = json_object_get(json_array_get(json_object_get(resp, "outputs"), 0), "data");
	size_t want = rows * px->no;
	/* data may be flat or nested one level */
	size_t k = 0;
	for (size_t i = 0; i < json_array_size(out) && k <= want; i++) {
		json_t *v = json_array_get(out, i);
		if (json_is_array(v)) {
			for (size_t j = 0; j < json_array_size(v) && k < want; j++)
				y[k++] = (float)json_number_value(json_array_get(v, j));
		} else if (k < want) {
			y[k++] = json_is_number(v) ? (float)json_number_value(v) : (float)NAN;
		} else {
			k++;
		}
	}
	json_decref(resp);
	if (k != want)
		return mw_err_set(err, MW_E_UNAVAILABLE,
				  "upstream returned %zu values for %zu rows x %zu outputs", k, rows,
				  px->no);
	return 0;
}

static void px_unload(void *model)
{
	px_free(model);
}

const struct mw_rt_ops mw_rt_proxy = {
	.name = "proxy",
	.load = px_load,
	.describe = px_describe,
	.predict = px_predict,
	.unload = px_unload,
};
