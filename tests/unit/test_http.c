/*
 * test_http.c - the HTTP layer and its request pipeline, against a real
 * server on a loopback port driven by libcurl: no silent caps (40 route
 * tables, 20 response headers), malformed routes refused at start, error
 * formats per route / prefix / server default for 404, 405, 413 and filter
 * rejections, the filter chain (order, request id, identity, call context,
 * deadline), body policies, and every route of the real API tables declaring
 * an auth class.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/api.h"
#include "http/http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ a client */

struct answer {
	long status;
	struct mw_buf body;
	struct mw_buf headers; /* raw header lines */
};

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
	return mw_buf_append(ud, p, size * n) ? 0 : size * n; /* 0: curl stops */
}

/* method path (body may be NULL) with extra header lines (NULL-terminated). */
static void fetch(int port, const char *method, const char *path, const char *body,
		  const char *const *hdrs, struct answer *a)
{
	CURL *c = curl_easy_init();
	assert_non_null(c);
	char url[512];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	mw_buf_init(&a->body, 64u << 20);
	mw_buf_init(&a->headers, 1 << 20);
	struct curl_slist *h = NULL;
	for (size_t i = 0; hdrs && hdrs[i]; i++)
		h = curl_slist_append(h, hdrs[i]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &a->headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

static void answer_free(struct answer *a)
{
	mw_buf_release(&a->body);
	mw_buf_release(&a->headers);
}

/* The value of response header name (case-insensitive), copied to out. */
static bool header(const struct answer *a, const char *name, char *out, size_t n)
{
	size_t len = strlen(name);
	for (const char *p = a->headers.data; p && *p;) {
		const char *e = strstr(p, "\r\n");
		if (!e)
			break;
		if ((size_t)(e - p) > len + 1 && !strncasecmp(p, name, len) && p[len] == ':') {
			const char *v = p + len + 1;
			while (*v == ' ')
				v++;
			snprintf(out, n, "%.*s", (int)(e - v), v);
			return true;
		}
		p = e + 2;
	}
	return false;
}

static struct mw_http_server *server(enum mw_errfmt def, size_t max_body)
{
	struct mw_http_opts o = {.host = "127.0.0.1", .port = 0, .threads = 2,
				 .max_body = max_body, .error_format = def};
	return mw_http_new(&o);
}

static void start(struct mw_http_server *s)
{
	struct mw_err err = {0};
	int rc = mw_http_start(s, &err);
	if (rc)
		fail_msg("mw_http_start: %s", err.msg);
}

/* ------------------------------------------------------------ handlers */

static void say_ud(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)req;
	mw_http_resp_text(resp, 200, "text/plain", ud);
}

/* The call context as text: user|verified|request id|deadline-now (ms)|body length */
static void say_call(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)ud;
	long long left = req->call.deadline_ms ? (long long)(req->call.deadline_ms - mw_now_ms()) : 0;
	char *t = mw_arena_printf(req->arena, "%s|%d|%s|%lld|%zu", req->call.user,
				  req->user_verified, req->call.request_id, left, req->body_len);
	mw_http_resp_text(resp, 200, "text/plain", t);
}

static void twenty_headers(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)ud;
	mw_http_resp_text(resp, 200, "text/plain", "ok");
	for (int i = 0; i < 20; i++)
		mw_http_resp_header(resp, mw_arena_printf(req->arena, "X-H-%d", i),
				    mw_arena_printf(req->arena, "v%d", i));
}

/* ------------------------------------------------------------ no silent caps */

static void test_forty_route_tables(void **state)
{
	(void)state;
	struct mw_http_server *s = server(MW_ERRFMT_TEXT, 0);
	enum { N = 40 };
	struct mw_route *tables = calloc(N, sizeof *tables);
	char *pats[N], *texts[N];
	for (int i = 0; i < N; i++) {
		pats[i] = malloc(32);
		texts[i] = malloc(16);
		snprintf(pats[i], 32, "/table/%d", i);
		snprintf(texts[i], 16, "t%d", i);
		tables[i] = (struct mw_route){.method = "GET", .pattern = pats[i], .fn = say_ud,
					      .ud = texts[i], .auth = MW_AUTH_OPEN};
		assert_int_equal(mw_http_add_routes(s, &tables[i], 1), 0);
	}
	start(s);
	int port = mw_http_port(s);
	for (int i = 0; i < N; i++) {
		char path[32];
		snprintf(path, sizeof path, "/table/%d", i);
		struct answer a;
		fetch(port, "GET", path, NULL, NULL, &a);
		assert_int_equal(a.status, 200);
		assert_string_equal(a.body.data, texts[i]);
		answer_free(&a);
	}
	mw_http_free(s);
	for (int i = 0; i < N; i++) {
		free(pats[i]);
		free(texts[i]);
	}
	free(tables);
}

static void test_twenty_response_headers(void **state)
{
	(void)state;
	struct mw_http_server *s = server(MW_ERRFMT_TEXT, 0);
	static struct mw_route r[] = {
		{.method = "GET", .pattern = "/h", .fn = twenty_headers, .auth = MW_AUTH_OPEN}};
	mw_http_add_routes(s, r, 1);
	start(s);
	struct answer a;
	fetch(mw_http_port(s), "GET", "/h", NULL, NULL, &a);
	assert_int_equal(a.status, 200);
	for (int i = 0; i < 20; i++) {
		char name[16], want[16], got[64];
		snprintf(name, sizeof name, "X-H-%d", i);
		snprintf(want, sizeof want, "v%d", i);
		assert_true(header(&a, name, got, sizeof got));
		assert_string_equal(got, want);
	}
	answer_free(&a);
	mw_http_free(s);
}

/* A table with one bad row: mw_http_start refuses it, naming the route. */
static void expect_refused(const struct mw_route *bad, const char *words)
{
	struct mw_http_server *s = server(MW_ERRFMT_TEXT, 0);
	static struct mw_route good[] = {
		{.method = "GET", .pattern = "/fine", .fn = say_ud, .ud = "x", .auth = MW_AUTH_OPEN}};
	mw_http_add_routes(s, good, 1);
	assert_int_not_equal(mw_http_add_routes(s, bad, 1), 0);
	struct mw_err err = {0};
	assert_int_equal(mw_http_start(s, &err), -MW_E_INVALID);
	assert_non_null(strstr(err.msg, bad->pattern));
	assert_non_null(strstr(err.msg, words));
	mw_http_free(s);
}

static int st_begin(struct mw_http_req *req, void **state, struct mw_http_resp *resp, void *ud);
static int st_data(void *state, const char *p, size_t n);
static void st_end(struct mw_http_req *req, void *state, struct mw_http_resp *resp, void *ud);
static void st_abort(void *state);
static const struct mw_http_stream stream = {st_begin, st_data, st_end, st_abort};

static void test_malformed_routes_fail_the_start(void **state)
{
	(void)state;
	struct mw_route no_auth = {.method = "GET", .pattern = "/no-auth", .fn = say_ud};
	expect_refused(&no_auth, "auth class");
	struct mw_route caps = {.method = "GET", .pattern = "/{a}/{b}/{c}/{d}/{e}", .fn = say_ud,
				.auth = MW_AUTH_READ};
	expect_refused(&caps, "captures");
	struct mw_route stream_no_policy = {.method = "PUT", .pattern = "/up", .stream = &stream,
					    .auth = MW_AUTH_WRITE};
	expect_refused(&stream_no_policy, "stream");
	struct mw_route policy_no_stream = {.method = "PUT", .pattern = "/up2", .fn = say_ud,
					    .auth = MW_AUTH_WRITE, .body = MW_BODY_STREAM};
	expect_refused(&policy_no_stream, "stream");
	struct mw_route cap_none = {.method = "GET", .pattern = "/cap", .fn = say_ud,
				    .auth = MW_AUTH_READ, .body = MW_BODY_NONE, .max_body = 10};
	expect_refused(&cap_none, "max_body");
	struct mw_route no_handler = {.method = "GET", .pattern = "/nothing", .auth = MW_AUTH_READ};
	expect_refused(&no_handler, "handler");
}

/* ------------------------------------------------------------ error formats */

/* A filter that rejects requests carrying X-Reject (in the route's format). */
static int reject_filter(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)ud;
	if (!mw_http_header(req, "X-Reject"))
		return 0;
	mw_http_error(req, resp, 429, MW_E_LIMIT, "slow down");
	return 1;
}

static struct mw_http_server *formats_server(void)
{
	struct mw_http_server *s = server(MW_ERRFMT_INHERIT, 64);
	static struct mw_route r[] = {
		{.method = "POST", .pattern = "/m/{x}", .fn = say_ud, .ud = "m",
		 .auth = MW_AUTH_WRITE, .errfmt = MW_ERRFMT_MLFLOW},
		{.method = "POST", .pattern = "/v/{x}", .fn = say_ud, .ud = "v",
		 .auth = MW_AUTH_INFERENCE, .errfmt = MW_ERRFMT_V2},
		{.method = "POST", .pattern = "/t/{x}", .fn = say_ud, .ud = "t",
		 .auth = MW_AUTH_WRITE, .errfmt = MW_ERRFMT_TEXT},
		/* no format of its own: the declared prefix /d gives V2 */
		{.method = "POST", .pattern = "/d/in", .fn = say_ud, .ud = "d",
		 .auth = MW_AUTH_WRITE, .max_body = 8},
	};
	mw_http_add_routes(s, r, sizeof r / sizeof *r);
	mw_http_error_prefix(s, "/d", MW_ERRFMT_V2);
	mw_http_add_filter(s, "reject", reject_filter, NULL);
	start(s);
	return s;
}

static void expect(int port, const char *method, const char *path, const char *body,
		   const char *const *hdrs, long status, const char *ctype, const char *want)
{
	struct answer a;
	fetch(port, method, path, body, hdrs, &a);
	char ct[128] = "";
	header(&a, "Content-Type", ct, sizeof ct);
	if (a.status != status || strcmp(a.body.data, want) || strncmp(ct, ctype, strlen(ctype)))
		fail_msg("%s %s: got %ld %s '%s', want %ld %s '%s'", method, path, a.status, ct,
			 a.body.data, status, ctype, want);
	answer_free(&a);
}

static void test_error_formats(void **state)
{
	(void)state;
	struct mw_http_server *s = formats_server();
	int port = mw_http_port(s);
	const char *J = "application/json", *T = "text/plain";
	const char *rej[] = {"X-Reject: 1", NULL};
	char big[200];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = 0;
	/* MLflow route: 405, 413, rejection; and unmatched paths under its prefix */
	expect(port, "GET", "/m/1", NULL, NULL, 405, J,
	       "{\"error_code\":\"ENDPOINT_NOT_FOUND\",\"message\":\"Method not allowed: /m/1\"}");
	expect(port, "POST", "/m/1", big, NULL, 413, J,
	       "{\"error_code\":\"RESOURCE_EXHAUSTED\",\"message\":\"Request body too large: the "
	       "limit is 64 bytes\"}");
	expect(port, "POST", "/m/1", "{}", rej, 429, J,
	       "{\"error_code\":\"REQUEST_LIMIT_EXCEEDED\",\"message\":\"slow down\"}");
	expect(port, "GET", "/m/1/2", NULL, NULL, 404, J,
	       "{\"error_code\":\"ENDPOINT_NOT_FOUND\",\"message\":\"No endpoint: /m/1/2\"}");
	/* V2 route */
	expect(port, "GET", "/v/1", NULL, NULL, 405, J, "{\"error\":\"Method not allowed: /v/1\"}");
	expect(port, "POST", "/v/1", big, NULL, 413, J,
	       "{\"error\":\"Request body too large: the limit is 64 bytes\"}");
	expect(port, "POST", "/v/1", "{}", rej, 429, J, "{\"error\":\"slow down\"}");
	expect(port, "GET", "/v/a/b", NULL, NULL, 404, J, "{\"error\":\"No endpoint: /v/a/b\"}");
	/* text route */
	expect(port, "GET", "/t/1", NULL, NULL, 405, T, "Method not allowed: /t/1");
	expect(port, "POST", "/t/1", "{}", rej, 429, T, "slow down");
	/* a route without a format under a declared prefix, with its own body cap */
	expect(port, "POST", "/d/in", "123456789", NULL, 413, J,
	       "{\"error\":\"Request body too large: the limit is 8 bytes\"}");
	expect(port, "POST", "/d/in", "12345678", NULL, 200, T, "d");
	expect(port, "GET", "/d/other", NULL, NULL, 404, J, "{\"error\":\"No endpoint: /d/other\"}");
	/* outside every prefix: the server's default (text); /mx is not under /m/ */
	expect(port, "GET", "/mx", NULL, NULL, 404, T, "No endpoint: /mx");
	expect(port, "GET", "/elsewhere", NULL, rej, 429, T, "slow down");
	/* a route with no body cap of its own takes the server's */
	expect(port, "POST", "/t/1", "{}", NULL, 200, T, "t");
	mw_http_free(s);
}

/* A server composed by hand may render errors itself (mw_http_opts.on_error);
 * mw_api_error renders the request's format, MLflow's where none is declared. */
static void test_on_error_override(void **state)
{
	(void)state;
	struct mw_http_opts o = {.host = "127.0.0.1", .threads = 2, .on_error = mw_api_error};
	struct mw_http_server *s = mw_http_new(&o);
	static struct mw_route r[] = {
		{.method = "GET", .pattern = "/v2", .fn = say_ud, .ud = "v2",
		 .auth = MW_AUTH_OPEN, .errfmt = MW_ERRFMT_V2},
	};
	mw_http_add_routes(s, r, 1);
	start(s);
	int port = mw_http_port(s);
	expect(port, "GET", "/v2/nope", NULL, NULL, 404, "application/json",
	       "{\"error\":\"No endpoint: /v2/nope\"}");
	expect(port, "GET", "/v2x", NULL, NULL, 404, "application/json",
	       "{\"error_code\":\"ENDPOINT_NOT_FOUND\",\"message\":\"No endpoint: /v2x\"}");
	mw_http_free(s);
}

/* ------------------------------------------------------------ the filter chain */

static char order_log[256];

static int log_filter(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)resp;
	size_t n = strlen(order_log);
	snprintf(order_log + n, sizeof order_log - n, "%s%s", (const char *)ud,
		 req->route ? "" : "(no route)");
	return 0;
}

static struct mw_http_server *pipeline_server(void)
{
	struct mw_http_server *s = server(MW_ERRFMT_MLFLOW, 0);
	static struct mw_route r[] = {
		{.method = "POST", .pattern = "/call", .fn = say_call, .auth = MW_AUTH_WRITE},
		{.method = "GET", .pattern = "/call", .fn = say_call, .auth = MW_AUTH_READ,
		 .body = MW_BODY_NONE, .deadline_ms = 5000},
		{.method = "PUT", .pattern = "/stream", .stream = &stream, .auth = MW_AUTH_WRITE,
		 .body = MW_BODY_STREAM},
	};
	mw_http_add_routes(s, r, sizeof r / sizeof *r);
	mw_http_add_filter(s, "a", log_filter, "a");
	mw_http_add_filter(s, "request-id", mw_http_filter_request_id, NULL);
	mw_http_add_filter(s, "identity", mw_http_filter_identity, NULL);
	mw_http_add_filter(s, "reject", reject_filter, NULL);
	mw_http_add_filter(s, "b", log_filter, "b");
	start(s);
	return s;
}

static void call_of(int port, const char *method, const char *const *hdrs, const char *body,
		    char *out, size_t n, char *rid, size_t nrid)
{
	struct answer a;
	fetch(port, method, "/call", body, hdrs, &a);
	assert_int_equal(a.status, 200);
	snprintf(out, n, "%s", a.body.data);
	assert_true(header(&a, "X-Request-Id", rid, nrid));
	answer_free(&a);
}

static bool hex32(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!strchr("0123456789abcdef", s[n]))
			return false;
	return n == 32;
}

static void test_filter_chain(void **state)
{
	(void)state;
	struct mw_http_server *s = pipeline_server();
	int port = mw_http_port(s);
	char out[512], rid[256], rid2[256];

	/* filters run in order, for unmatched paths too; a rejection stops the chain */
	order_log[0] = 0;
	call_of(port, "POST", NULL, "{}", out, sizeof out, rid, sizeof rid);
	assert_string_equal(order_log, "ab");
	order_log[0] = 0;
	struct answer a;
	fetch(port, "GET", "/nowhere", NULL, NULL, &a);
	assert_int_equal(a.status, 404);
	assert_true(header(&a, "X-Request-Id", rid, sizeof rid)); /* echoed on errors too */
	answer_free(&a);
	assert_string_equal(order_log, "a(no route)b(no route)");
	order_log[0] = 0;
	const char *rej[] = {"X-Reject: 1", NULL};
	fetch(port, "POST", "/call", "{}", rej, &a);
	assert_int_equal(a.status, 429);
	answer_free(&a);
	assert_string_equal(order_log, "a");

	/* defaults: anonymous, unverified, a generated request id, no deadline */
	call_of(port, "POST", NULL, "{}", out, sizeof out, rid, sizeof rid);
	assert_true(hex32(rid));
	char want[512];
	snprintf(want, sizeof want, "anonymous|0|%s|0|2", rid);
	assert_string_equal(out, want);
	call_of(port, "POST", NULL, "{}", out, sizeof out, rid2, sizeof rid2);
	assert_true(hex32(rid2));
	assert_string_not_equal(rid, rid2);

	/* a sane client id is kept and echoed; an insane one is replaced */
	const char *sane[] = {"X-Request-Id: trace-42.a:b/c+d=e@f~g_h", NULL};
	call_of(port, "POST", sane, "{}", out, sizeof out, rid, sizeof rid);
	assert_string_equal(rid, "trace-42.a:b/c+d=e@f~g_h");
	assert_string_equal(out, "anonymous|0|trace-42.a:b/c+d=e@f~g_h|0|2");
	char longid[200] = "X-Request-Id: ";
	memset(longid + strlen(longid), 'x', 129);
	const char *insane[][2] = {{"X-Request-Id: has space", NULL}, {"X-Request-Id: a\"b", NULL},
				   {longid, NULL}};
	for (size_t i = 0; i < 3; i++) {
		call_of(port, "POST", insane[i], "{}", out, sizeof out, rid, sizeof rid);
		assert_true(hex32(rid));
	}

	/* identity: X-MW-User, else the Basic user name; never verified */
	const char *user[] = {"X-MW-User: alice", "Authorization: Basic Ym9iOnB3", NULL};
	call_of(port, "POST", user, "{}", out, sizeof out, rid, sizeof rid);
	assert_non_null(strstr(out, "alice|0|"));
	const char *basic[] = {"Authorization: Basic Ym9iOnB3", NULL}; /* bob:pw */
	call_of(port, "POST", basic, "{}", out, sizeof out, rid, sizeof rid);
	assert_non_null(strstr(out, "bob|0|"));
	const char *junk[] = {"Authorization: Basic !!!", NULL};
	call_of(port, "POST", junk, "{}", out, sizeof out, rid, sizeof rid);
	assert_non_null(strstr(out, "anonymous|0|"));
	const char *bearer[] = {"Authorization: Bearer abc", NULL};
	call_of(port, "POST", bearer, "{}", out, sizeof out, rid, sizeof rid);
	assert_non_null(strstr(out, "anonymous|0|"));
	char longuser[300] = "X-MW-User: ";
	memset(longuser + strlen(longuser), 'u', 256);
	const char *bad[] = {longuser, NULL};
	fetch(port, "POST", "/call", "{}", bad, &a);
	assert_int_equal(a.status, 400);
	assert_non_null(strstr(a.body.data, "\"error_code\":\"INVALID_PARAMETER_VALUE\""));
	assert_true(header(&a, "X-Request-Id", rid, sizeof rid));
	answer_free(&a);

	/* the route's deadline; a route that takes no body never sees one */
	call_of(port, "GET", NULL, "ignored body", out, sizeof out, rid, sizeof rid);
	long long left = -1;
	size_t blen = 99;
	const char *p = strrchr(out, '|');
	assert_non_null(p);
	blen = (size_t)strtoull(p + 1, NULL, 10);
	const char *q = p - 1;
	while (q > out && *q != '|')
		q--;
	left = strtoll(q + 1, NULL, 10);
	assert_true(left > 0 && left <= 5000);
	assert_int_equal(blen, 0);
	mw_http_free(s);
}

/* ------------------------------------------------------------ streams and filters */

static int stream_begins;

static int st_begin(struct mw_http_req *req, void **state, struct mw_http_resp *resp, void *ud)
{
	(void)req;
	(void)resp;
	(void)ud;
	__atomic_fetch_add(&stream_begins, 1, __ATOMIC_RELAXED);
	size_t *n = calloc(1, sizeof *n);
	*state = n;
	return 0;
}

static int st_data(void *state, const char *p, size_t n)
{
	(void)p;
	*(size_t *)state += n;
	return 0;
}

static void st_end(struct mw_http_req *req, void *state, struct mw_http_resp *resp, void *ud)
{
	(void)ud;
	mw_http_resp_text(resp, 200, "text/plain",
			  mw_arena_printf(req->arena, "%zu", *(size_t *)state));
	free(state);
}

static void st_abort(void *state)
{
	free(state);
}

static void test_stream_after_filters(void **state)
{
	(void)state;
	struct mw_http_server *s = pipeline_server();
	int port = mw_http_port(s);
	stream_begins = 0;
	struct answer a;
	fetch(port, "PUT", "/stream", "0123456789", NULL, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.body.data, "10");
	answer_free(&a);
	assert_int_equal(stream_begins, 1);
	const char *rej[] = {"X-Reject: 1", NULL};
	fetch(port, "PUT", "/stream", "0123456789", rej, &a);
	assert_int_equal(a.status, 429);
	answer_free(&a);
	assert_int_equal(stream_begins, 1); /* a rejected stream never begins */
	mw_http_free(s);
}

/* ------------------------------------------------------------ the real tables */

struct route_check {
	int n, bad;
	char first_bad[256];
};

static void check_route(void *ctx, const struct mw_route *r, enum mw_errfmt fmt)
{
	struct route_check *c = ctx;
	c->n++;
	bool ok = r->auth > MW_AUTH_UNSET && r->auth < MW_AUTH__COUNT && fmt != MW_ERRFMT_INHERIT;
	/* inference routes answer V2 errors under /v2, MLflow's elsewhere */
	if (!strncmp(r->pattern, "/v2", 3))
		ok = ok && fmt == MW_ERRFMT_V2;
	else
		ok = ok && fmt == MW_ERRFMT_MLFLOW;
	if (!ok && !c->bad++)
		snprintf(c->first_bad, sizeof c->first_bad, "%s %s (auth %d, format %d)", r->method,
			 r->pattern, r->auth, fmt);
}

static void test_every_api_route_declares_auth_and_format(void **state)
{
	(void)state;
	struct mw_http_server *s = server(MW_ERRFMT_INHERIT, 0);
	struct mw_api_ctx ctx = {.http = s, .max_json_depth = 64};
	mw_api_ops_register(&ctx, s);
	mw_api_artifacts_register(&ctx, s);
	mw_api_serving_register(&ctx, s);
	mw_api_mlflow_register(&ctx, s);
	mw_api_registry_register(&ctx, s);
	start(s);
	struct route_check c = {0};
	mw_http_routes_each(s, check_route, &c);
	if (c.bad)
		fail_msg("%d routes without auth class or with the wrong format, first: %s", c.bad,
			 c.first_bad);
	assert_true(c.n > 100);
	mw_http_free(s);
	mw_api_free();
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	mw_log_set_level(MW_LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forty_route_tables),
		cmocka_unit_test(test_twenty_response_headers),
		cmocka_unit_test(test_malformed_routes_fail_the_start),
		cmocka_unit_test(test_error_formats),
		cmocka_unit_test(test_on_error_override),
		cmocka_unit_test(test_filter_chain),
		cmocka_unit_test(test_stream_after_filters),
		cmocka_unit_test(test_every_api_route_declares_auth_and_format),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
