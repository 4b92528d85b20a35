/*
 * app.h - the application object: the one composition root of mw.
 *
 * An application is a table of modules, each a row {name, init, routes,
 * start, quiesce, stop, fini} (any hook may be NULL), run in a fixed life:
 *
 *   init     in table order: build what the module owns (open the store,
 *            create the HTTP server ...); no threads serving requests yet.
 *   routes   in table order, after every init: add route tables to the HTTP
 *            server (skipped when the table has no HTTP server).
 *   start    in table order: begin work (listen, start background workers).
 *   ...      mw_app_run waits for SIGINT/SIGTERM.
 *   quiesce  in reverse order: stop taking new work (the HTTP server stops
 *            accepting, serving fails queued inferences with 503).
 *            The app then waits for in-flight requests, at most
 *            --shutdown-timeout seconds, and stops every background worker.
 *   stop     in reverse order, for modules whose start succeeded: end the
 *            work start began (the HTTP server closes its connections).
 *   fini     in reverse order, for modules whose init succeeded: release
 *            what init built (the store closes last, committing every queued
 *            write).
 *
 * A failure unwinds exactly what was done: an init that fails gets the fini
 * of the modules initialised before it (in reverse order); a start that fails
 * gets the workers stopped, the stop of the modules started before it and the
 * fini of every initialised module, each in reverse order.
 *
 * Modules share what they build through the application's struct mw_api_ctx
 * (mw_app_ctx: store, blob, track, art, registry, serve, http, settings), and
 * keep private state in the void * that init may set.  Background work runs
 * on workers (core/worker.c) the app owns: mw_app_add_worker from a start
 * hook; the app stops them all, newest first, before any module's stop.
 *
 * Compositions (app/modules.c): mw_app_server() for `mw server` (store, blob,
 * track, art, registry, serve, http, auth (with --auth), idle trim), mw_app_local() for the
 * CLI's local mode (store, blob, track, art, registry), and mw_app_one_model()
 * for `mw serve` and `mw predict` ({serve, bind, http}, with store, blob, art
 * and registry in front when a models:/ URI resolves in --data-dir); see
 * docs/architecture.md.
 *
 * Ownership: the settings and the module table are borrowed and must outlive
 * the app; everything the modules build is released by mw_app_stop.
 */
#ifndef MW_APP_H
#define MW_APP_H

#include "api/api.h"
#include "core/core.h"
#include "http/http.h"

struct mw_app;

struct mw_app_module {
	const char *name;
	int (*init)(struct mw_app *app, void **state, struct mw_err *err);
	void (*routes)(struct mw_app *app, void *state, struct mw_http_server *http);
	int (*start)(struct mw_app *app, void *state, struct mw_err *err);
	void (*quiesce)(struct mw_app *app, void *state);
	void (*stop)(struct mw_app *app, void *state);
	void (*fini)(struct mw_app *app, void *state);
	/* Before any row's init: a check that changes nothing (a busy port is
	 * found before the data directory is created). */
	int (*check)(struct mw_app *app, struct mw_err *err);
};

/* The one model of a process that serves one (`mw serve`, `mw predict`):
 * the bind row serves it under its name before anything starts. */
struct mw_app_model {
	const char *model; /* a model directory or file, or a models:/ URI */
	const char *name;  /* the name it is served under; NULL: the registered
			    * model's name, or the directory's base name */
	/* Where models:/ URIs resolve: a source the caller made (a replica's
	 * remote registry, cmd/: over HTTP), borrowed and outliving the app; or
	 * NULL for the registry in --data-dir. */
	struct mw_model_source *source;
};

struct mw_app_opts {
	struct mw_settings *settings;          /* validated (mw_settings_validate) */
	const struct mw_app_module *const *modules;
	size_t nmodules;
	int64_t start_ms;                      /* 0: now */
	const struct mw_app_model *model;      /* for the bind row; NULL in mw server */
	void *ud;                              /* the caller's, see mw_app_ud */
};

struct mw_app *mw_app_new(const struct mw_app_opts *o);
/* init every module, then routes.  On failure everything is unwound. */
int mw_app_init(struct mw_app *app, struct mw_err *err);
/* mw_app_init if not done, then start every module.  On failure everything
 * is unwound (the app can only be freed). */
int mw_app_start(struct mw_app *app, struct mw_err *err);
/* The drain and shutdown (see above): quiesce, wait for in-flight requests,
 * stop workers, stop, fini.  Does what is needed for how far the app got;
 * a second call does nothing. */
void mw_app_stop(struct mw_app *app);
/* The life of a server: block SIGINT/SIGTERM (before any thread starts, so
 * every thread inherits it) and ignore SIGPIPE, start, wait for a signal,
 * stop.  Returns 0 after a clean stop, or the start error. */
int mw_app_run(struct mw_app *app, struct mw_err *err);
/* mw_app_stop if needed, then free the app. */
void mw_app_free(struct mw_app *app);

/* What modules build and share. */
struct mw_api_ctx *mw_app_ctx(struct mw_app *app);
struct mw_settings *mw_app_settings(struct mw_app *app);
void *mw_app_ud(struct mw_app *app);
int64_t mw_app_start_ms(struct mw_app *app);
const struct mw_app_model *mw_app_model(struct mw_app *app);
/* HTTP worker threads: --threads, or 4 per core (at least 4) when it is 0. */
int mw_app_threads(struct mw_app *app);

/* Start a background worker (core/worker.c) owned by the app: tick runs every
 * period_ms on its own thread until the app stops it, during the drain,
 * before any module's stop.  Call from a start hook. */
int mw_app_add_worker(struct mw_app *app, const char *name, int64_t period_ms, mw_worker_fn tick,
		      void *ud, struct mw_worker **out, struct mw_err *err);

/* The standard rows (app/modules.c) and the compositions built from them. */
extern const struct mw_app_module mw_app_store, mw_app_blob, mw_app_track, mw_app_art,
	mw_app_registry, mw_app_serve, mw_app_bind, mw_app_http, mw_app_auth, mw_app_trim;
/* `mw server`: store, blob, track, art, registry, serve, http, auth, trim. */
const struct mw_app_module *const *mw_app_server(size_t *n);
/* The CLI without a server: store, blob, track, art, registry (no HTTP). */
const struct mw_app_module *const *mw_app_local(size_t *n);
/* One model (the app's opts.model): serve and bind, then http when `http`
 * (`mw serve`; without it, `mw predict`).  A models:/ URI without a source
 * of the caller's puts store, blob, art and registry in front, without
 * their routes: the model resolves in --data-dir, and the process serves
 * inference only. */
const struct mw_app_module *const *mw_app_one_model(const struct mw_app_model *m, bool http,
						    size_t *n);

#endif
