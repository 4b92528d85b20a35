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
 * Allow-list.  A model names its upstream, so the proxy runtime would
 * otherwise be a way for whoever registers models to make the server send
 * requests anywhere (SSRF).  The admin lists the upstreams models may use in
 * --proxy-upstreams (spec->proxy_allow): comma-separated URL prefixes
 * scheme://host[:port][/path].  Empty (the default) refuses every upstream.
 * Both the entries and proxy.json's url are parsed by libcurl's URL parser
 * (curl_url; dot segments removed), never compared as strings: the scheme
 * (http or https only) and host case-insensitively, the port with the
 * scheme's default filled in, the path as a prefix ending on a segment
 * boundary.  A url with user info, a query or a fragment is refused.  The
 * request goes to the URL as curl parsed it, redirects are not followed and
 * only http and https are enabled.
 *
 * Errors map to mw's kinds: unreachable or timed out -> MW_E_UNAVAILABLE
 * (503) with one text, "upstream unreachable: <url>", whatever curl said
 * (refused, timed out, no such host: no port-scan oracle); an upstream 4xx ->
 * MW_E_INVALID with the upstream's message, an upstream 5xx or a malformed
 * answer -> MW_E_UNAVAILABLE.  The features and outputs the upstream's
 * metadata claims are capped (MW_SERVE_MAX_FEATURES, MW_SERVE_MAX_OUTPUTS)
 * before anything is sized by them.  One curl handle per call (the batcher
 * is one thread per model version, so calls do not overlap for one model).
 */
#include "serve/serve_int.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PX_META_MAX (1u << 20)     /* bytes of an upstream's model metadata */
#define PX_ANSWER_MAX (256u << 20) /* bytes of an upstream's answer to a batch */

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

/* One request; the answer is read up to cap bytes (a larger one is an
 * upstream failure) and must be a JSON object. */
static int call(struct proxy *px, const char *path, const char *body, size_t cap, json_t **out,
		struct mw_err *err)
{
	CURL *c = curl_easy_init();
	if (!c)
		return mw_err_set(err, MW_E_INTERNAL, "cannot initialise libcurl");
	char url[2048];
	snprintf(url, sizeof url, "%s%s", px->url, path);
	struct mw_buf resp;
	mw_buf_init(&resp, cap);
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, px->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, px->timeout_ms < 5000 ? px->timeout_ms : 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	CURLcode cc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	int rc = 0;
	json_error_t je;
	json_t *v = NULL;
	if (cc == CURLE_WRITE_ERROR) {
		rc = mw_err_set(err, MW_E_UNAVAILABLE,
				"upstream %.300s answered more than %zu bytes", px->url, cap);
	} else if (cc != CURLE_OK) {
		/* one text whatever curl said: no port-scan oracle */
		rc = mw_err_set(err, MW_E_UNAVAILABLE, "upstream unreachable: %.300s", px->url);
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

/* A URL's parts as compared against the allow-list. */
struct url {
	char *scheme, *host, *port, *path, *full;
};

static void url_release(struct url *u)
{
	curl_free(u->scheme);
	curl_free(u->host);
	curl_free(u->port);
	curl_free(u->path);
	curl_free(u->full);
	memset(u, 0, sizeof *u);
}

/* Parse text as an http(s) URL without user info, query or fragment.
 * Returns a static reason on failure, NULL on success. */
static const char *url_parse(const char *text, struct url *out)
{
	memset(out, 0, sizeof *out);
	CURLU *u = curl_url();
	if (!u)
		return "cannot initialise libcurl";
	const char *why = NULL;
	char *user = NULL, *pass = NULL, *query = NULL, *frag = NULL;
	if (curl_url_set(u, CURLUPART_URL, text, 0) != CURLUE_OK)
		why = "is not a URL";
	else if (curl_url_get(u, CURLUPART_SCHEME, &out->scheme, 0) != CURLUE_OK ||
		 (strcasecmp(out->scheme, "http") && strcasecmp(out->scheme, "https")))
		why = "is not an http or https URL";
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
		 curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK)
		why = "has user info, which mw refuses";
	else if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
		 curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK)
		why = "has a query or fragment, which mw refuses";
	else if (curl_url_get(u, CURLUPART_HOST, &out->host, 0) != CURLUE_OK || !*out->host)
		why = "has no host";
	else if (curl_url_get(u, CURLUPART_PORT, &out->port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
		 curl_url_get(u, CURLUPART_PATH, &out->path, 0) != CURLUE_OK ||
		 curl_url_get(u, CURLUPART_URL, &out->full, 0) != CURLUE_OK)
		why = "is not a URL";
	curl_free(user);
	curl_free(pass);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(u);
	if (why)
		url_release(out);
	return why;
}

/* The path without trailing slashes has prefix as a whole-segment prefix. */
static bool path_under(const char *prefix, const char *path)
{
	size_t n = strlen(prefix);
	while (n && prefix[n - 1] == '/')
		n--;
	if (n == 0)
		return true;
	return !strncmp(prefix, path, n) && (path[n] == 0 || path[n] == '/');
}

/* Whether u is under one of the comma-separated prefixes of allow. */
static int allowed(const char *allow, const struct url *u, const char *shown, struct mw_err *err)
{
	if (!allow || !*allow)
		return mw_err_set(err, MW_E_INVALID,
				  "the proxy runtime allows no upstream: the server admin lists the "
				  "upstreams models may proxy to in --proxy-upstreams "
				  "(MW_PROXY_UPSTREAMS), e.g. http://10.0.0.5:8000");
	for (const char *c = allow; *c;) {
		size_t n = strcspn(c, ",");
		char *entry = mw_xstrndup(c, n);
		c += n;
		if (*c == ',')
			c++;
		char *t = entry, *e = entry + strlen(entry);
		while (*t == ' ' || *t == '\t')
			t++;
		while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = 0;
		if (!*t) {
			free(entry);
			continue;
		}
		struct url a;
		const char *why = url_parse(t, &a);
		if (why) {
			int rc = mw_err_set(err, MW_E_INVALID,
					    "--proxy-upstreams entry '%.200s' %s", t, why);
			free(entry);
			return rc;
		}
		bool ok = !strcasecmp(a.scheme, u->scheme) && !strcasecmp(a.host, u->host) &&
			  !strcmp(a.port, u->port) && path_under(a.path, u->path);
		url_release(&a);
		free(entry);
		if (ok)
			return 0;
	}
	return mw_err_set(err, MW_E_INVALID,
			  "the proxy model's upstream '%s' is not one the server allows "
			  "(--proxy-upstreams)",
			  shown);
}

/* text for a message: printable ASCII, at most 200 characters */
static void shown_of(const char *text, char *buf, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; text[i] && k + 4 < n && i < 200; i++) {
		unsigned char ch = (unsigned char)text[i];
		buf[k++] = ch >= 0x20 && ch < 0x7f && ch != '\'' ? (char)ch : '?';
	}
	buf[k] = 0;
}

static int px_load(const struct mw_rt_spec *spec, void **model, struct mw_err *err)
{
	char *path = NULL;
	int rc = mw_serve_model_path(spec->dir, "proxy.json", "proxy.json", true, &path, err);
	if (rc)
		return rc;
	json_error_t je;
	json_t *cfg = json_load_file(path, 0, &je);
	free(path);
	if (!cfg) /* je.text may quote the file: only the line */
		return mw_err_set(err, MW_E_INVALID,
				  "the model's proxy.json is not a JSON object (line %d)", je.line);
	const char *url = json_string_value(json_object_get(cfg, "url"));
	const char *name = json_string_value(json_object_get(cfg, "model"));
	if (!url || !name || !*name) {
		json_decref(cfg);
		return mw_err_set(err, MW_E_INVALID,
				  "the model's proxy.json needs \"url\" (http or https) and \"model\"");
	}
	char shown[256];
	shown_of(url, shown, sizeof shown);
	struct url u;
	const char *why = url_parse(url, &u);
	if (why) {
		json_decref(cfg);
		return mw_err_set(err, MW_E_INVALID, "the proxy model's url '%s' %s", shown, why);
	}
	if ((rc = allowed(spec->proxy_allow, &u, shown, err))) {
		url_release(&u);
		json_decref(cfg);
		return rc;
	}
	struct proxy *px = mw_xcalloc(1, sizeof *px);
	px->url = mw_xstrdup(u.full); /* the URL as curl parsed it, not as written */
	url_release(&u);
	size_t n = strlen(px->url);
	while (n && px->url[n - 1] == '/')
		px->url[--n] = 0;
	px->model = mw_xstrdup(name);
	json_t *to = json_object_get(cfg, "timeout_ms");
	px->timeout_ms = json_is_integer(to) && json_integer_value(to) > 0 &&
					 json_integer_value(to) <= 3600000
				 ? (long)json_integer_value(to)
				 : (spec->timeout_ms > 0 ? (long)spec->timeout_ms : 30000);
	json_decref(cfg);
	char *esc = curl_easy_escape(NULL, px->model, 0);
	char p2[1024];
	snprintf(p2, sizeof p2, "/v2/models/%s", esc ? esc : "");
	curl_free(esc);
	json_t *meta = NULL;
	rc = call(px, p2, NULL, PX_META_MAX, &meta, err);
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
					"upstream model '%.200s' does not say its number of features "
					"(inputs[0].shape[-1]) and outputs",
					px->model);
		else if (f > (json_int_t)MW_SERVE_MAX_FEATURES ||
			 o > (json_int_t)MW_SERVE_MAX_OUTPUTS)
			rc = mw_err_set(err, MW_E_INVALID,
					"upstream model '%.200s' claims %lld features and %lld "
					"outputs per row; mw serves at most %u and %u",
					px->model, (long long)f, (long long)o,
					MW_SERVE_MAX_FEATURES, MW_SERVE_MAX_OUTPUTS);
		else {
			px->nf = (size_t)f;
			px->no = (size_t)o;
		}
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
	/* a number in JSON takes at most ~32 bytes; generous room for the rest */
	size_t cap = rows * px->no * 64 + (1u << 20);
	int rc = call(px, path, body, cap < PX_ANSWER_MAX ? cap : PX_ANSWER_MAX, &resp, err);
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
