/*
 * test_app.c - the application object: the order of init, routes, start,
 * quiesce, stop and fini over a table of modules, how failures unwind
 * (exactly what was done, in reverse), workers stopped before any module's
 * stop, and the real `mw server` composition on a temporary data directory
 * (every route it registers declares an auth class and answers in a known
 * error format; the drain leaves nothing running).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "app/app.h"
#include "stump_model.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ recording modules */

static char events[1024];
static const char *fail_init, *fail_start; /* module names that fail */

static void note(const char *what, const char *name)
{
	size_t n = strlen(events);
	snprintf(events + n, sizeof events - n, "%s%s:%s", n ? " " : "", what, name);
}

static const char *name_of(void *state)
{
	return state;
}

/* Each module's state is its name (given through mw_app_ud's table). */
static const char *const *names_ud;

static int rec_init(struct mw_app *app, void **state, struct mw_err *err)
{
	static int next;
	const char *const *names = mw_app_ud(app);
	if (names != names_ud) {
		names_ud = names;
		next = 0;
	}
	const char *name = names[next++];
	note("init", name);
	if (fail_init && !strcmp(fail_init, name))
		return mw_err_set(err, MW_E_IO, "%s cannot init", name);
	*state = (void *)name;
	return 0;
}

static void rec_routes(struct mw_app *app, void *state, struct mw_http_server *http)
{
	(void)app;
	(void)http;
	note("routes", name_of(state));
}

static int rec_start(struct mw_app *app, void *state, struct mw_err *err)
{
	(void)app;
	note("start", name_of(state));
	if (fail_start && !strcmp(fail_start, name_of(state)))
		return mw_err_set(err, MW_E_IO, "%s cannot start", name_of(state));
	return 0;
}

static void rec_quiesce(struct mw_app *app, void *state)
{
	(void)app;
	note("quiesce", name_of(state));
}

static void rec_stop(struct mw_app *app, void *state)
{
	(void)app;
	note("stop", name_of(state));
}

static void rec_fini(struct mw_app *app, void *state)
{
	(void)app;
	note("fini", name_of(state));
}

static const struct mw_app_module rec = {"rec",       rec_init, rec_routes, rec_start,
					 rec_quiesce, rec_stop, rec_fini, NULL};

/* A module that builds an HTTP server (not listening), so routes run. */
static int http_init(struct mw_app *app, void **state, struct mw_err *err)
{
	(void)err;
	struct mw_http_opts o = {.host = "127.0.0.1"};
	mw_app_ctx(app)->http = mw_http_new(&o);
	*state = "H";
	note("init", "H");
	return 0;
}

static void http_fini(struct mw_app *app, void *state)
{
	note("fini", name_of(state));
	mw_http_free(mw_app_ctx(app)->http);
	mw_app_ctx(app)->http = NULL;
}

static const struct mw_app_module fake_http = {"fake-http", http_init, rec_routes, NULL,
					       NULL,        NULL,      http_fini,  NULL};

static struct mw_app *app_of(const struct mw_app_module *const *mods, size_t n,
			     const char *const *names, struct mw_settings *set)
{
	events[0] = 0;
	struct mw_app_opts o = {.settings = set, .modules = mods, .nmodules = n, .ud = (void *)names};
	return mw_app_new(&o);
}

static void test_order(void **state)
{
	(void)state;
	static const char *const names[] = {"A", "B", "C", NULL};
	const struct mw_app_module *mods[] = {&rec, &rec, &fake_http, &rec};
	struct mw_settings *set = mw_settings_new();
	mw_settings_set(set, "shutdown-timeout", "0", "test", NULL);
	fail_init = fail_start = NULL;
	struct mw_app *app = app_of(mods, 4, names, set);
	struct mw_err err = {0};
	assert_int_equal(mw_app_start(app, &err), 0);
	assert_string_equal(events, "init:A init:B init:H init:C routes:A routes:B routes:H "
				    "routes:C start:A start:B start:C");
	events[0] = 0;
	mw_app_stop(app);
	assert_string_equal(events, "quiesce:C quiesce:B quiesce:A stop:C stop:B stop:A "
				    "fini:C fini:H fini:B fini:A");
	events[0] = 0;
	mw_app_stop(app); /* a second stop does nothing */
	mw_app_free(app);
	assert_string_equal(events, "");
	mw_settings_free(set);
}

static void test_start_failure_unwinds(void **state)
{
	(void)state;
	static const char *const names[] = {"A", "B", "C", "D", NULL};
	const struct mw_app_module *mods[] = {&rec, &rec, &rec, &rec};
	fail_init = NULL;
	fail_start = "C";
	struct mw_app *app = app_of(mods, 4, names, NULL);
	struct mw_err err = {0};
	assert_int_equal(mw_app_start(app, &err), -MW_E_IO);
	assert_string_equal(err.msg, "C cannot start");
	/* no routes without an HTTP server; C's start failed: B and A stop, in
	 * reverse, then every initialised module is released, in reverse */
	assert_string_equal(events, "init:A init:B init:C init:D start:A start:B start:C "
				    "stop:B stop:A fini:D fini:C fini:B fini:A");
	events[0] = 0;
	mw_app_stop(app);
	assert_int_equal(mw_app_start(app, &err), -MW_E_INVALID); /* a stopped app stays stopped */
	mw_app_free(app);
	assert_string_equal(events, "");
	fail_start = NULL;
}

static void test_init_failure_unwinds(void **state)
{
	(void)state;
	static const char *const names[] = {"A", "B", "C", "D", NULL};
	const struct mw_app_module *mods[] = {&rec, &rec, &rec, &rec};
	fail_init = "C";
	struct mw_app *app = app_of(mods, 4, names, NULL);
	struct mw_err err = {0};
	assert_int_equal(mw_app_init(app, &err), -MW_E_IO);
	assert_string_equal(err.msg, "C cannot init");
	assert_string_equal(events, "init:A init:B init:C fini:B fini:A");
	events[0] = 0;
	mw_app_free(app);
	assert_string_equal(events, "");
	fail_init = NULL;
}

/* A failing check stops everything before any init (nothing to unwind). */
static int busy_check(struct mw_app *app, struct mw_err *err)
{
	(void)app;
	return mw_err_set(err, MW_E_IO, "the port is in use");
}

static const struct mw_app_module checked = {.name = "checked", .init = rec_init,
					     .fini = rec_fini, .check = busy_check};

static void test_check_runs_before_any_init(void **state)
{
	(void)state;
	static const char *const names[] = {"A", "B", NULL};
	const struct mw_app_module *mods[] = {&rec, &checked};
	struct mw_app *app = app_of(mods, 2, names, NULL);
	struct mw_err err = {0};
	assert_int_equal(mw_app_init(app, &err), -MW_E_IO);
	assert_string_equal(err.msg, "the port is in use");
	assert_string_equal(events, "");
	mw_app_free(app);
	assert_string_equal(events, "");
}

/* A module whose start fails without a message gets one naming it. */
static int silent_start(struct mw_app *app, void *state, struct mw_err *err)
{
	(void)app;
	(void)state;
	(void)err;
	return -MW_E_INTERNAL;
}

static const struct mw_app_module silent = {.name = "quiet-one", .start = silent_start};

static void test_failure_names_the_module(void **state)
{
	(void)state;
	const struct mw_app_module *mods[] = {&silent};
	struct mw_app *app = app_of(mods, 1, NULL, NULL);
	struct mw_err err = {0};
	assert_int_equal(mw_app_start(app, &err), -MW_E_INTERNAL);
	assert_non_null(strstr(err.msg, "quiet-one"));
	mw_app_free(app);
}

/* ------------------------------------------------------------ workers */

struct ticker {
	unsigned long long ticks;
	bool stopped_before_module;
};

static void tick(struct mw_worker *w, void *ud)
{
	(void)w;
	__atomic_fetch_add(&((struct ticker *)ud)->ticks, 1, __ATOMIC_RELAXED);
}

static struct ticker ticker;

static int worker_start(struct mw_app *app, void *state, struct mw_err *err)
{
	(void)state;
	return mw_app_add_worker(app, "test-tick", 1, tick, &ticker, NULL, err);
}

/* At stop the worker is gone: its count no longer moves. */
static void worker_stop(struct mw_app *app, void *state)
{
	(void)app;
	(void)state;
	unsigned long long a = __atomic_load_n(&ticker.ticks, __ATOMIC_RELAXED);
	struct timespec ts = {0, 30 * 1000000};
	nanosleep(&ts, NULL);
	ticker.stopped_before_module = a > 0 && a == __atomic_load_n(&ticker.ticks, __ATOMIC_RELAXED);
}

static const struct mw_app_module with_worker = {
	.name = "worker", .start = worker_start, .stop = worker_stop};

static void test_workers_stop_before_modules(void **state)
{
	(void)state;
	const struct mw_app_module *mods[] = {&with_worker};
	struct mw_app *app = app_of(mods, 1, NULL, NULL);
	struct mw_err err = {0};
	assert_int_equal(mw_app_start(app, &err), 0);
	for (int i = 0; i < 200 && !__atomic_load_n(&ticker.ticks, __ATOMIC_RELAXED); i++) {
		struct timespec ts = {0, 5 * 1000000};
		nanosleep(&ts, NULL);
	}
	mw_app_stop(app);
	assert_true(ticker.stopped_before_module);
	mw_app_free(app);
}

/* ------------------------------------------------------------ the server composition */

struct seen {
	int n, bad, trim;
};

static void see_route(void *ctx, const struct mw_route *r, enum mw_errfmt fmt)
{
	struct seen *s = ctx;
	s->n++;
	if (r->auth == MW_AUTH_UNSET || fmt == MW_ERRFMT_INHERIT)
		s->bad++;
}

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

static void test_server_composition(void **state)
{
	(void)state;
	char dir[] = "/tmp/mw-test-app-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char data[600];
	snprintf(data, sizeof data, "%s/data", dir);
	struct mw_settings *set = mw_settings_new();
	struct mw_err err = {0};
	assert_int_equal(mw_settings_set(set, "data-dir", data, "test", &err), 0);
	assert_int_equal(mw_settings_set(set, "port", "0", "test", &err), 0);
	assert_int_equal(mw_settings_set(set, "threads", "2", "test", &err), 0);
	assert_int_equal(mw_settings_set(set, "prediction-log", "off", "test", &err), 0);
	assert_int_equal(mw_settings_validate(set, &err), 0);
	size_t n;
	const struct mw_app_module *const *mods = mw_app_server(&n);
	struct mw_app_opts o = {.settings = set, .modules = mods, .nmodules = n};
	struct mw_app *app = mw_app_new(&o);
	assert_int_equal(mw_app_start(app, &err), 0);
	struct mw_api_ctx *ctx = mw_app_ctx(app);
	assert_non_null(ctx->store);
	assert_non_null(ctx->track);
	assert_non_null(ctx->serve);
	assert_non_null(ctx->http);
	struct seen seen = {0};
	mw_http_routes_each(ctx->http, see_route, &seen);
	assert_true(seen.n > 100);
	assert_int_equal(seen.bad, 0);

	/* it serves, through the pipeline */
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/health", mw_http_port(ctx->http));
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "X-Request-Id: app-test-1");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	assert_int_equal(status, 200);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);

	mw_app_stop(app);
	assert_null(ctx->http);
	assert_null(ctx->store);
	assert_null(ctx->serve);
	mw_app_free(app);
	mw_settings_free(set);
	struct mw_err e2 = {0};
	mw_fs_rm_rf(dir, &e2);
}

static long get_status(int port, const char *path)
{
	char url[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	long status = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

/* `mw serve DIR`: serve, bind and http, and nothing of tracking or the
 * registry; the bind row names the model and /invocations serves it. */
static void test_one_model_composition(void **state)
{
	(void)state;
	char dir[] = "/tmp/mw-test-one-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char model[600], data[600];
	snprintf(model, sizeof model, "%s/fraud", dir);
	snprintf(data, sizeof data, "%s/data", dir);
	assert_int_equal(mkdir(model, 0755), 0);
	assert_int_equal(write_stump_model(model, -1, 1), 0);
	struct mw_settings *set = mw_settings_new();
	struct mw_err err = {0};
	assert_int_equal(mw_settings_set(set, "data-dir", data, "test", &err), 0);
	assert_int_equal(mw_settings_set(set, "port", "0", "test", &err), 0);
	assert_int_equal(mw_settings_set(set, "threads", "2", "test", &err), 0);
	assert_int_equal(mw_settings_validate(set, &err), 0);

	struct mw_app_model one = {.model = model};
	size_t n;
	const struct mw_app_module *const *mods = mw_app_one_model(&one, true, &n);
	assert_int_equal(n, 5);
	assert_string_equal(mods[0]->name, "serve");
	assert_string_equal(mods[1]->name, "bind");
	assert_string_equal(mods[2]->name, "auth-store"); /* opens the store under --auth only */
	assert_string_equal(mods[3]->name, "http");
	assert_string_equal(mods[4]->name, "auth");
	assert_null(mods[4]->routes); /* no users or tokens routes on a replica */
	struct mw_app_opts o = {.settings = set, .modules = mods, .nmodules = n, .model = &one};
	struct mw_app *app = mw_app_new(&o);
	assert_int_equal(mw_app_start(app, &err), 0);
	struct mw_api_ctx *ctx = mw_app_ctx(app);
	assert_null(ctx->store);
	assert_null(ctx->registry);
	assert_string_equal(ctx->default_model, "fraud"); /* the directory's name */
	int port = mw_http_port(ctx->http);
	assert_int_equal(get_status(port, "/ping"), 200);
	assert_int_equal(get_status(port, "/v2/models/fraud"), 200);
	assert_int_equal(get_status(port, "/v2/models/other"), 404);
	assert_int_equal(get_status(port, "/api/2.0/mlflow/experiments/search"), 404);
	assert_int_equal(get_status(port, "/api/mw/models/fraud/history"), 404);
	mw_app_free(app);

	/* a models:/ URI without a source of the caller's resolves in the data
	 * directory: the registry's rows come first, without their routes */
	struct mw_app_model reg = {.model = "models:/fraud@champion"};
	mods = mw_app_one_model(&reg, false, &n);
	assert_int_equal(n, 6);
	assert_string_equal(mods[0]->name, "store");
	assert_string_equal(mods[3]->name, "registry");
	assert_null(mods[3]->routes);
	assert_string_equal(mods[5]->name, "bind");

	/* a model that does not load fails the start, naming it */
	struct mw_app_model bad = {.model = data, .name = "x"};
	mods = mw_app_one_model(&bad, false, &n);
	o = (struct mw_app_opts){.settings = set, .modules = mods, .nmodules = n, .model = &bad};
	app = mw_app_new(&o);
	assert_true(mw_app_start(app, &err) < 0);
	assert_non_null(strstr(err.msg, "cannot serve"));
	mw_app_free(app);
	mw_settings_free(set);
	mw_fs_rm_rf(dir, &err);
}

/* The local composition has no HTTP server and no serving, but every
 * operation the CLI calls. */
static void test_local_composition(void **state)
{
	(void)state;
	char dir[] = "/tmp/mw-test-local-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct mw_settings *set = mw_settings_new();
	struct mw_err err = {0};
	assert_int_equal(mw_settings_set(set, "data-dir", dir, "test", &err), 0);
	assert_int_equal(mw_settings_validate(set, &err), 0);
	size_t n;
	const struct mw_app_module *const *mods = mw_app_local(&n);
	struct mw_app_opts o = {.settings = set, .modules = mods, .nmodules = n};
	struct mw_app *app = mw_app_new(&o);
	assert_int_equal(mw_app_start(app, &err), 0);
	struct mw_api_ctx *ctx = mw_app_ctx(app);
	assert_null(ctx->http);
	assert_null(ctx->serve);
	json_t *req = json_pack("{s:s}", "name", "from-the-app"), *resp = NULL;
	struct mw_call call = {.user = "tester", .request_id = ""};
	assert_int_equal(mw_api_call(ctx, &call, "experiments/create", req, &resp, &err), 0);
	assert_non_null(json_object_get(resp, "experiment_id"));
	json_decref(req);
	json_decref(resp);
	mw_app_free(app);
	mw_settings_free(set);
	mw_fs_rm_rf(dir, &err);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	mw_log_set_level(MW_LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_start_failure_unwinds),
		cmocka_unit_test(test_init_failure_unwinds),
		cmocka_unit_test(test_check_runs_before_any_init),
		cmocka_unit_test(test_failure_names_the_module),
		cmocka_unit_test(test_workers_stop_before_modules),
		cmocka_unit_test(test_server_composition),
		cmocka_unit_test(test_one_model_composition),
		cmocka_unit_test(test_local_composition),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
