/*
 * app.c - the application object's life: init, routes, start, the signal
 * wait, and the drain (quiesce, wait for in-flight requests, stop workers,
 * stop, fini), each over the module table in order or in reverse.
 *
 * Invariants: ninit modules (a prefix of the table) have been initialised and
 * nstarted (a prefix of those) started; unwinding and mw_app_stop walk exactly
 * those prefixes backwards, so every fini matches one init and every stop one
 * start.  Workers are stopped (newest first) before any module's stop, so no
 * tick ever sees a module being torn down.
 */
#include "app/app.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum phase { PH_NEW, PH_INIT, PH_STARTED, PH_DONE };

struct mw_app {
	struct mw_app_opts o;
	struct mw_api_ctx ctx;
	void **state;              /* one per module */
	size_t ninit, nstarted;
	struct mw_worker **workers;
	size_t nworkers, aworkers;
	enum phase phase;
	int threads;
};

struct mw_app *mw_app_new(const struct mw_app_opts *o)
{
	struct mw_app *app = mw_xcalloc(1, sizeof *app);
	app->o = *o;
	if (!app->o.start_ms)
		app->o.start_ms = mw_now_ms();
	app->state = mw_xcalloc(o->nmodules ? o->nmodules : 1, sizeof *app->state);
	struct mw_settings *set = o->settings;
	app->ctx.settings = set;
	app->ctx.start_ms = app->o.start_ms;
	app->ctx.max_json_depth = set ? (int)mw_settings_int(set, "max-json-depth") : 64;
	if (set) {
		mw_json_set_max_values((size_t)mw_settings_int(set, "max-json-values"));
		mw_api_set_max_response((size_t)mw_settings_int(set, "max-response-bytes"));
	}
	long long t = set ? mw_settings_int(set, "threads") : 0;
	if (!t) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		t = cores > 0 ? cores * 4 : 4;
		if (t < 4)
			t = 4;
	}
	app->threads = (int)t;
	return app;
}

struct mw_api_ctx *mw_app_ctx(struct mw_app *app)
{
	return &app->ctx;
}

struct mw_settings *mw_app_settings(struct mw_app *app)
{
	return app->o.settings;
}

void *mw_app_ud(struct mw_app *app)
{
	return app->o.ud;
}

int64_t mw_app_start_ms(struct mw_app *app)
{
	return app->o.start_ms;
}

const struct mw_app_model *mw_app_model(struct mw_app *app)
{
	return app->o.model;
}

int mw_app_threads(struct mw_app *app)
{
	return app->threads;
}

int mw_app_add_worker(struct mw_app *app, const char *name, int64_t period_ms, mw_worker_fn tick,
		      void *ud, struct mw_worker **out, struct mw_err *err)
{
	struct mw_worker *w;
	int rc = mw_worker_start(name, period_ms, tick, ud, &w, err);
	if (rc)
		return rc;
	if (app->nworkers == app->aworkers) {
		app->aworkers = app->aworkers ? app->aworkers * 2 : 4;
		app->workers = mw_xrealloc(app->workers, app->aworkers * sizeof *app->workers);
	}
	app->workers[app->nworkers++] = w;
	if (out)
		*out = w;
	return 0;
}

/* ------------------------------------------------------------ phases */

static const struct mw_app_module *mod(struct mw_app *app, size_t i)
{
	return app->o.modules[i];
}

static void stop_workers(struct mw_app *app)
{
	while (app->nworkers > 0)
		mw_worker_stop(app->workers[--app->nworkers]);
}

static void stop_started(struct mw_app *app)
{
	while (app->nstarted > 0) {
		size_t i = --app->nstarted;
		if (mod(app, i)->stop)
			mod(app, i)->stop(app, app->state[i]);
	}
}

static void fini_inited(struct mw_app *app)
{
	while (app->ninit > 0) {
		size_t i = --app->ninit;
		if (mod(app, i)->fini)
			mod(app, i)->fini(app, app->state[i]);
		app->state[i] = NULL;
	}
}

/* Everything done so far, undone: workers, stops, finis. */
static void unwind(struct mw_app *app)
{
	stop_workers(app);
	stop_started(app);
	fini_inited(app);
	app->phase = PH_DONE;
}

/* Prefix a module's error with its name, once. */
static int failed(const struct mw_app_module *m, int rc, struct mw_err *err)
{
	if (err && !err->code)
		mw_err_set(err, -rc > 0 ? -rc : MW_E_INTERNAL, "%s: failed", m->name);
	return rc ? rc : -MW_E_INTERNAL;
}

int mw_app_init(struct mw_app *app, struct mw_err *err)
{
	if (app->phase != PH_NEW)
		return app->phase == PH_DONE ? mw_err_set(err, MW_E_INVALID, "app: already stopped")
					     : 0;
	for (size_t i = 0; i < app->o.nmodules; i++) {
		const struct mw_app_module *m = mod(app, i);
		int rc = m->check ? m->check(app, err) : 0;
		if (rc)
			return failed(m, rc, err);
	}
	for (size_t i = 0; i < app->o.nmodules; i++) {
		const struct mw_app_module *m = mod(app, i);
		int rc = m->init ? m->init(app, &app->state[i], err) : 0;
		if (rc) {
			unwind(app);
			return failed(m, rc, err);
		}
		app->ninit = i + 1;
	}
	if (app->ctx.http)
		for (size_t i = 0; i < app->o.nmodules; i++)
			if (mod(app, i)->routes)
				mod(app, i)->routes(app, app->state[i], app->ctx.http);
	app->phase = PH_INIT;
	return 0;
}

int mw_app_start(struct mw_app *app, struct mw_err *err)
{
	int rc = mw_app_init(app, err);
	if (rc || app->phase == PH_STARTED)
		return rc;
	for (size_t i = 0; i < app->o.nmodules; i++) {
		const struct mw_app_module *m = mod(app, i);
		rc = m->start ? m->start(app, app->state[i], err) : 0;
		if (rc) {
			unwind(app);
			return failed(m, rc, err);
		}
		app->nstarted = i + 1;
	}
	app->phase = PH_STARTED;
	return 0;
}

/* Wait (bounded by --shutdown-timeout) for requests still being handled. */
static void wait_inflight(struct mw_app *app)
{
	struct mw_http_server *http = app->ctx.http;
	if (!http)
		return;
	long long secs = app->o.settings ? mw_settings_int(app->o.settings, "shutdown-timeout") : 10;
	uint64_t deadline = mw_mono_ns() + (uint64_t)secs * 1000000000ull;
	while (mw_http_inflight(http) > 0 && mw_mono_ns() < deadline) {
		struct timespec ts = {0, 5 * 1000000};
		nanosleep(&ts, NULL);
	}
	if (mw_http_inflight(http) > 0)
		mw_warn("%d requests still in flight after %lld s; stopping anyway",
			mw_http_inflight(http), secs);
}

void mw_app_stop(struct mw_app *app)
{
	if (!app || app->phase == PH_DONE)
		return;
	if (app->phase == PH_STARTED) {
		for (size_t i = app->nstarted; i-- > 0;)
			if (mod(app, i)->quiesce)
				mod(app, i)->quiesce(app, app->state[i]);
		wait_inflight(app);
	}
	unwind(app);
}

int mw_app_run(struct mw_app *app, struct mw_err *err)
{
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	int rc = mw_app_start(app, err);
	if (rc)
		return rc;
	int sig = 0;
	while (sigwait(&sigs, &sig))
		;
	mw_info("signal %d: stopping (draining in-flight requests)", sig);
	mw_app_stop(app);
	mw_info("stopped");
	return 0;
}

void mw_app_free(struct mw_app *app)
{
	if (!app)
		return;
	mw_app_stop(app);
	free(app->workers);
	free(app->state);
	free(app);
}
