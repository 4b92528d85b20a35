/*
 * modules.c - the standard module rows and the compositions built from them.
 *
 * Each row reads its options from the settings table and publishes what it
 * builds in the application's struct mw_api_ctx, where later rows and the
 * route tables find it; so rows depend only on rows above them in a
 * composition (track, art and registry need store and blob; serve takes
 * registry and art when they are there; bind needs serve and the app's
 * model; trim needs http and store).  A row's fini releases
 * exactly what its init built; the app calls them in reverse order, so the
 * HTTP server is gone before anything its handlers use, and the store closes
 * last (its writer commits every queued write first).
 *
 * Adding a capability = a row here (or in its own file) and an entry in the
 * compositions that want it.
 */
#include "app/app.h"

#include <errno.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTX(app) mw_app_ctx(app)
#define SET(app) mw_app_settings(app)

/* ------------------------------------------------------------ store, blob */

static int store_init(struct mw_app *app, void **state, struct mw_err *err)
{
	(void)state;
	const char *dir = mw_settings_get(SET(app), "data-dir");
	int rc = mw_fs_mkdirs(dir, err);
	if (rc)
		return rc;
	long long rconns = mw_settings_int(SET(app), "read-conns");
	const char *uri = mw_settings_get(SET(app), "store-uri");
	struct mw_store_opts so = {
		.data_dir = dir,
		.uri = uri && *uri ? uri : NULL,
		.read_conns = rconns ? (int)rconns : mw_app_threads(app) + 2,
		.sync_full = !strcmp(mw_settings_get(SET(app), "sync"), "full"),
		.max_batch = 256,
	};
	return mw_store_open(&so, &CTX(app)->store, err);
}

static void store_fini(struct mw_app *app, void *state)
{
	(void)state;
	mw_store_close(CTX(app)->store);
	CTX(app)->store = NULL;
}

const struct mw_app_module mw_app_store = {
	.name = "store", .init = store_init, .fini = store_fini};

static int blob_init(struct mw_app *app, void **state, struct mw_err *err)
{
	(void)state;
	struct mw_blob_opts bo = {.data_dir = mw_settings_get(SET(app), "data-dir")};
	return mw_blob_open(&bo, &CTX(app)->blob, err);
}

static void blob_fini(struct mw_app *app, void *state)
{
	(void)state;
	mw_blob_close(CTX(app)->blob);
	CTX(app)->blob = NULL;
}

const struct mw_app_module mw_app_blob = {.name = "blob", .init = blob_init, .fini = blob_fini};

/* ------------------------------------------------------------ track, art, registry */

static int track_init(struct mw_app *app, void **state, struct mw_err *err)
{
	(void)state;
	struct mw_track_opts to = {
		.artifact_root = mw_settings_get(SET(app), "artifact-root"),
		.truncate_long_values = mw_settings_bool(SET(app), "truncate-long-values"),
		.max_response_bytes = (size_t)mw_settings_int(SET(app), "max-response-bytes"),
	};
	return mw_track_new(CTX(app)->store, &to, &CTX(app)->track, err);
}

static void track_routes(struct mw_app *app, void *state, struct mw_http_server *http)
{
	(void)state;
	mw_api_mlflow_register(CTX(app), http); /* tracking and the registry's MLflow endpoints */
}

static void track_fini(struct mw_app *app, void *state)
{
	(void)state;
	mw_api_free(); /* the MLflow route table (the HTTP server is gone) */
	mw_track_free(CTX(app)->track);
	CTX(app)->track = NULL;
}

const struct mw_app_module mw_app_track = {
	.name = "track", .init = track_init, .routes = track_routes, .fini = track_fini};

static int art_init(struct mw_app *app, void **state, struct mw_err *err)
{
	(void)state;
	int rc = mw_art_new(CTX(app)->store, CTX(app)->blob, &CTX(app)->art, err);
	if (!rc)
		mw_art_set_max_response(CTX(app)->art,
					(size_t)mw_settings_int(SET(app), "max-response-bytes"));
	return rc;
}

static void art_routes(struct mw_app *app, void *state, struct mw_http_server *http)
{
	(void)state;
	mw_api_artifacts_register(CTX(app), http);
}

static void art_fini(struct mw_app *app, void *state)
{
	(void)state;
	mw_art_free(CTX(app)->art);
	CTX(app)->art = NULL;
}

const struct mw_app_module mw_app_art = {
	.name = "art", .init = art_init, .routes = art_routes, .fini = art_fini};

static int registry_init(struct mw_app *app, void **state, struct mw_err *err)
{
	(void)state;
	int rc = mw_registry_new(CTX(app)->store, CTX(app)->blob, &CTX(app)->registry, err);
	if (!rc) {
		mw_registry_allow_local_sources(CTX(app)->registry,
						mw_settings_bool(SET(app), "allow-local-sources"));
		mw_registry_check_models(CTX(app)->registry,
					 mw_settings_bool(SET(app), "check-models"));
		mw_registry_set_max_response(CTX(app)->registry,
					     (size_t)mw_settings_int(SET(app),
								     "max-response-bytes"));
	}
	return rc;
}

static void registry_routes(struct mw_app *app, void *state, struct mw_http_server *http)
{
	(void)state;
	mw_api_registry_register(CTX(app), http);
}

static void registry_fini(struct mw_app *app, void *state)
{
	(void)state;
	mw_registry_free(CTX(app)->registry);
	CTX(app)->registry = NULL;
}

const struct mw_app_module mw_app_registry = {
	.name = "registry", .init = registry_init, .routes = registry_routes, .fini = registry_fini};

/* ------------------------------------------------------------ serve */

/* The serve row: options from the settings table; named versions from the
 * app's model source when it has one (opts.model->source: a replica's remote
 * registry), else from the registry and artifacts built by rows above (a
 * registry source this row owns), else none (directories only).  With a
 * model (`mw serve`) only the bound name is served. */
struct serve_state {
	struct mw_model_source *own; /* the registry source, made here */
};

/* The alias-move check's view of a version's shapes (registry.h). */
static int registry_shapes(void *ud, const char *name, int64_t version, bool load, json_t **out,
			   struct mw_err *err)
{
	char v[24];
	snprintf(v, sizeof v, "%lld", (long long)version);
	return mw_serve_shapes(ud, name, v, load, out, err);
}

static int serve_init(struct mw_app *app, void **state, struct mw_err *err)
{
	struct mw_serve_opts svo;
	int rc = mw_serve_opts_from_settings(SET(app), &svo, err);
	if (rc)
		return rc;
	struct serve_state *st = mw_xcalloc(1, sizeof *st);
	const struct mw_app_model *one = mw_app_model(app);
	if (one) {
		svo.bound_only = true;
		svo.source = one->source;
	}
	if (!svo.source && CTX(app)->registry && CTX(app)->art)
		svo.source = st->own =
			mw_serve_registry_source(CTX(app)->registry, CTX(app)->art,
						 mw_settings_get(SET(app), "data-dir"));
	rc = mw_serve_new(&svo, &CTX(app)->serve, err);
	if (rc) {
		if (st->own)
			st->own->ops->free(st->own);
		free(st);
		return rc;
	}
	if (st->own) /* the registry's versions are served here: it may ask their shapes */
		mw_registry_set_shapes(CTX(app)->registry, registry_shapes, CTX(app)->serve);
	*state = st;
	return 0;
}

static void serve_routes(struct mw_app *app, void *state, struct mw_http_server *http)
{
	(void)state;
	mw_api_serving_register(CTX(app), http);
}

static void serve_quiesce(struct mw_app *app, void *state)
{
	(void)state;
	mw_serve_stop(CTX(app)->serve); /* queued inferences answer 503 now */
}

static void serve_fini(struct mw_app *app, void *state)
{
	struct serve_state *st = state;
	if (st->own)
		mw_registry_set_shapes(CTX(app)->registry, NULL, NULL);
	mw_serve_free(CTX(app)->serve); /* stops, waits for the batchers, unloads */
	CTX(app)->serve = NULL;
	if (st->own)
		st->own->ops->free(st->own);
	free(st);
}

const struct mw_app_module mw_app_serve = {.name = "serve",
					   .init = serve_init,
					   .routes = serve_routes,
					   .quiesce = serve_quiesce,
					   .fini = serve_fini};

/* The bind row: the app's one model, served under its name and loaded now
 * (a model that does not load fails the start): a directory or file is added
 * as it is; a models:/ URI is bound to its reference, which the serve
 * object's watcher follows (hot swap, from whichever source).  Its name is
 * what /invocations serves. */
struct bind_state {
	char *name;
};

static int bind_init(struct mw_app *app, void **state, struct mw_err *err)
{
	const struct mw_app_model *one = mw_app_model(app);
	struct mw_serve *sv = CTX(app)->serve;
	if (!one || !one->model || !sv)
		return mw_err_set(err, MW_E_INTERNAL,
				  "bind: no model (mw_app_opts.model) or no serve row");
	char *name = NULL, *ref = NULL;
	int rc = 0;
	const char *p = mw_uri_prefix(one->model, "models:/");
	if (p) {
		if (*p && !strchr(p, '@') && !strchr(p, '/')) /* models:/NAME: its default */
			name = mw_xstrdup(p);
		else
			rc = mw_registry_parse_uri(one->model, &name, &ref, err);
		if (!rc && one->name && strcmp(one->name, name)) {
			free(name);
			name = mw_xstrdup(one->name);
		}
		if (!rc)
			rc = mw_serve_bind(sv, name, ref, err);
	} else {
		const char *base = strrchr(one->model, '/');
		base = base && base[1] ? base + 1 : one->model;
		name = mw_xstrdup(one->name ? one->name : base);
		rc = mw_serve_add_dir(sv, name, NULL, one->model, err);
	}
	free(ref);
	if (rc) {
		char msg[sizeof err->msg];
		snprintf(msg, sizeof msg, "cannot serve %.150s: %.340s", one->model, err->msg);
		rc = mw_err_set(err, err->code ? err->code : -rc, "%s", msg);
		free(name);
		return rc;
	}
	mw_info("serving %s as '%s'", one->model, name);
	struct bind_state *st = mw_xcalloc(1, sizeof *st);
	st->name = name;
	CTX(app)->default_model = st->name; /* what /invocations serves */
	*state = st;
	return 0;
}

static void bind_fini(struct mw_app *app, void *state)
{
	struct bind_state *st = state;
	CTX(app)->default_model = NULL;
	free(st->name);
	free(st);
}

const struct mw_app_module mw_app_bind = {.name = "bind", .init = bind_init, .fini = bind_fini};

/* ------------------------------------------------------------ http */

#define TLS_PEM_MAX (1 << 20)

/* The PEM text of --tls-cert / --tls-key (what: the setting, for messages;
 * the file's content is never part of one). */
static int read_pem(const char *what, const char *path, char **out, struct mw_err *err)
{
	*out = NULL;
	FILE *f = fopen(path, "rbe");
	if (!f)
		return mw_err_set(err, MW_E_INVALID, "--%s: cannot read '%s': %s", what, path,
				  strerror(errno));
	char *buf = mw_xmalloc(TLS_PEM_MAX + 1);
	size_t n = fread(buf, 1, TLS_PEM_MAX + 1, f);
	bool bad = ferror(f);
	fclose(f);
	int rc = 0;
	if (bad)
		rc = mw_err_set(err, MW_E_INVALID, "--%s: cannot read '%s'", what, path);
	else if (n > TLS_PEM_MAX)
		rc = mw_err_set(err, MW_E_INVALID, "--%s: '%s' is over 1 MiB: not a PEM file", what,
				path);
	else if (!memmem(buf, n, "-----BEGIN ", 11))
		rc = mw_err_set(err, MW_E_INVALID, "--%s: '%s' is not a PEM file", what, path);
	if (rc) {
		OPENSSL_cleanse(buf, TLS_PEM_MAX + 1);
		free(buf);
		return rc;
	}
	buf[n] = 0;
	*out = buf;
	return 0;
}

struct http_state {
	char *cert, *key; /* PEM, or NULL */
};

static void http_state_free(struct http_state *hs)
{
	if (!hs)
		return;
	free(hs->cert);
	if (hs->key) {
		OPENSSL_cleanse(hs->key, strlen(hs->key));
		free(hs->key);
	}
	free(hs);
}

static int http_init(struct mw_app *app, void **state, struct mw_err *err)
{
	const char *cert = mw_settings_get(SET(app), "tls-cert");
	const char *key = mw_settings_get(SET(app), "tls-key");
	bool has_cert = cert && *cert, has_key = key && *key;
	if (has_cert != has_key)
		return mw_err_set(err, MW_E_INVALID,
				  "TLS needs both --tls-cert and --tls-key (or neither)");
	struct http_state *hs = mw_xcalloc(1, sizeof *hs);
	if (has_cert) {
		int rc = read_pem("tls-cert", cert, &hs->cert, err);
		if (!rc)
			rc = read_pem("tls-key", key, &hs->key, err);
		if (rc) {
			http_state_free(hs);
			return rc;
		}
	}
	*state = hs;
	struct mw_http_opts ho = {
		.tls_cert_pem = hs->cert,
		.tls_key_pem = hs->key,
		.host = mw_settings_get(SET(app), "host"),
		.port = (int)mw_settings_int(SET(app), "port"),
		.threads = mw_app_threads(app),
		.max_body = (size_t)mw_settings_int(SET(app), "max-body"),
		.max_connections = (int)mw_settings_int(SET(app), "max-connections"),
		.max_per_client = (int)mw_settings_int(SET(app), "max-connections-per-client"),
		.max_header_bytes = (size_t)mw_settings_int(SET(app), "max-header-bytes"),
		.max_response_memory = (size_t)mw_settings_int(SET(app), "max-response-memory"),
		.header_timeout_ms = mw_settings_int(SET(app), "header-timeout") * 1000,
		.body_timeout_ms = mw_settings_int(SET(app), "body-timeout") * 1000,
		.body_min_rate = mw_settings_int(SET(app), "body-min-rate"),
		.idle_timeout_s = (int)mw_settings_int(SET(app), "idle-timeout"),
		.error_format = MW_ERRFMT_MLFLOW,
	};
	struct mw_http_server *http = mw_http_new(&ho);
	/* the request pipeline; authentication and limits go after identity */
	mw_http_add_filter(http, "request-id", mw_http_filter_request_id, NULL);
	mw_http_add_filter(http, "identity", mw_http_filter_identity, NULL);
	CTX(app)->http = http;
	return 0;
}

static void http_routes(struct mw_app *app, void *state, struct mw_http_server *http)
{
	(void)state;
	mw_api_ops_register(CTX(app), http); /* /health, /version, /metrics, /api/mw/config */
}

static int http_start(struct mw_app *app, void *state, struct mw_err *err)
{
	struct mw_http_server *http = CTX(app)->http;
	int rc = mw_http_start(http, err);
	if (rc)
		return rc;
	struct http_state *hs = state;
	mw_info("mw %s listening on %s://%s:%d (data %s, %d threads, ready in %lld ms)", MW_VERSION,
		hs && hs->cert ? "https" : "http", mw_settings_get(SET(app), "host"),
		mw_http_port(http), mw_settings_get(SET(app), "data-dir"), mw_app_threads(app),
		(long long)(mw_now_ms() - mw_app_start_ms(app)));
	return 0;
}

static void http_quiesce(struct mw_app *app, void *state)
{
	(void)state;
	mw_http_quiesce(CTX(app)->http); /* no new connections; in-flight requests go on */
}

static void http_stop(struct mw_app *app, void *state)
{
	(void)state;
	mw_http_stop(CTX(app)->http);
}

static void http_fini(struct mw_app *app, void *state)
{
	mw_http_free(CTX(app)->http);
	CTX(app)->http = NULL;
	http_state_free(state);
}

static int http_check(struct mw_app *app, struct mw_err *err)
{
	return mw_http_check_listen(mw_settings_get(SET(app), "host"),
				    (int)mw_settings_int(SET(app), "port"), err);
}

const struct mw_app_module mw_app_http = {.name = "http",
					  .check = http_check,
					  .init = http_init,
					  .routes = http_routes,
					  .start = http_start,
					  .quiesce = http_quiesce,
					  .stop = http_stop,
					  .fini = http_fini};

/* ------------------------------------------------------------ auth */

/* With --auth: the auth object over the store, the first admin from
 * --admin-password when no user exists, the authentication filter (after
 * identity, so it has the last word on call.user) and the users and token
 * routes.  Without it, nothing: every route stays open, as before. */
static int auth_init(struct mw_app *app, void **state, struct mw_err *err)
{
	(void)state;
	struct mw_api_ctx *ctx = CTX(app);
	if (!mw_settings_bool(SET(app), "auth"))
		return 0;
	if (!ctx->store || !ctx->http)
		return mw_err_set(err, MW_E_INTERNAL, "auth: needs the store and http rows");
	int rc = mw_auth_new(ctx->store, &ctx->auth, err);
	if (rc)
		return rc;
	const char *pw = mw_settings_get(SET(app), "admin-password");
	bool created = false;
	if (pw && *pw)
		rc = mw_auth_ensure_admin(ctx->auth, pw, &created, err);
	if (rc) {
		char msg[sizeof err->msg];
		snprintf(msg, sizeof msg, "--admin-password: %.400s", err->msg);
		rc = mw_err_set(err, err->code, "%s", msg);
		mw_auth_free(ctx->auth);
		ctx->auth = NULL;
		return rc;
	}
	if (created)
		mw_info("auth: created user 'admin' (an admin) from --admin-password");
	enum mw_role role = MW_ROLE_VIEWER;
	(void)mw_role_parse(mw_settings_get(SET(app), "auth-default-role"), &role);
	mw_auth_set_default_role(ctx->auth, role);
	ctx->auth_open_health = mw_settings_bool(SET(app), "auth-open-health");
	mw_http_add_filter(ctx->http, "auth", mw_api_auth_filter, ctx);
	mw_info("auth: on (Bearer tokens and Basic passwords; health routes %s)",
		ctx->auth_open_health ? "open" : "closed");
	return 0;
}

static void auth_routes(struct mw_app *app, void *state, struct mw_http_server *http)
{
	(void)state;
	if (CTX(app)->auth) {
		mw_api_auth_register(CTX(app), http);
		mw_api_authz_register(CTX(app), http);
	}
}

static void auth_fini(struct mw_app *app, void *state)
{
	(void)state;
	mw_auth_free(CTX(app)->auth);
	CTX(app)->auth = NULL;
}

const struct mw_app_module mw_app_auth = {.name = "auth",
					  .init = auth_init,
					  .routes = auth_routes,
					  .fini = auth_fini};

/* ------------------------------------------------------------ idle trim */

/* After two quiet seconds (no request answered, none in flight) the store
 * releases its page caches and glibc returns free memory, once per quiet
 * spell. */
struct trim {
	struct mw_app *app;
	unsigned long long seen;
	int quiet;
};

static void trim_tick(struct mw_worker *w, void *ud)
{
	(void)w;
	struct trim *t = ud;
	struct mw_api_ctx *ctx = CTX(t->app);
	unsigned long long now = ctx->http ? mw_http_request_count(ctx->http) : 0;
	if (now != t->seen || (ctx->http && mw_http_inflight(ctx->http) > 0)) {
		t->seen = now;
		t->quiet = 0;
	} else if (++t->quiet == 2) {
		if (ctx->store)
			mw_store_trim(ctx->store);
		malloc_trim(0);
		mw_debug("idle: released cached memory");
	}
}

static int trim_init(struct mw_app *app, void **state, struct mw_err *err)
{
	(void)err;
	struct trim *t = mw_xcalloc(1, sizeof *t);
	t->app = app;
	*state = t;
	return 0;
}

static int trim_start(struct mw_app *app, void *state, struct mw_err *err)
{
	return mw_app_add_worker(app, "idle-trim", 1000, trim_tick, state, NULL, err);
}

static void trim_fini(struct mw_app *app, void *state)
{
	(void)app;
	free(state);
}

const struct mw_app_module mw_app_trim = {
	.name = "trim", .init = trim_init, .start = trim_start, .fini = trim_fini};

/* ------------------------------------------------------------ compositions */

static const struct mw_app_module *const server_modules[] = {
	&mw_app_store, &mw_app_blob, &mw_app_track, &mw_app_art,  &mw_app_registry,
	&mw_app_serve, &mw_app_http, &mw_app_auth,  &mw_app_trim,
};

static const struct mw_app_module *const local_modules[] = {
	&mw_app_store, &mw_app_blob, &mw_app_track, &mw_app_art, &mw_app_registry,
};

const struct mw_app_module *const *mw_app_server(size_t *n)
{
	*n = sizeof server_modules / sizeof *server_modules;
	return server_modules;
}

const struct mw_app_module *const *mw_app_local(size_t *n)
{
	*n = sizeof local_modules / sizeof *local_modules;
	return local_modules;
}

/* art and registry without their routes: a process that serves one model
 * answers inference, not the registry's API. */
static const struct mw_app_module art_quiet = {.name = "art", .init = art_init, .fini = art_fini};
static const struct mw_app_module registry_quiet = {.name = "registry",
						    .init = registry_init,
						    .fini = registry_fini};

/* mw serve --auth true: tokens and passwords are checked against the store
 * of --data-dir / --store-uri, the one mw server keeps its users in when
 * they share it (a replica of the same deployment).  A model directory needs
 * no store otherwise: this row opens it only under --auth.  The users and
 * tokens routes are not served (they are the registry server's). */
static int auth_store_init(struct mw_app *app, void **state, struct mw_err *err)
{
	if (!mw_settings_bool(SET(app), "auth") || CTX(app)->store)
		return 0;
	return store_init(app, state, err);
}

static const struct mw_app_module auth_store = {.name = "auth-store",
						.init = auth_store_init,
						.fini = store_fini};
static const struct mw_app_module auth_quiet = {.name = "auth",
						.init = auth_init,
						.fini = auth_fini};

static const struct mw_app_module *const one_dir[] = {&mw_app_serve, &mw_app_bind};
static const struct mw_app_module *const one_dir_http[] = {&mw_app_serve, &mw_app_bind, &auth_store,
							   &mw_app_http, &auth_quiet};
static const struct mw_app_module *const one_registry[] = {
	&mw_app_store, &mw_app_blob, &art_quiet, &registry_quiet, &mw_app_serve, &mw_app_bind,
};
static const struct mw_app_module *const one_registry_http[] = {
	&mw_app_store, &mw_app_blob, &art_quiet,   &registry_quiet,
	&mw_app_serve, &mw_app_bind, &mw_app_http, &auth_quiet,
};

#define NMODS(a) (sizeof(a) / sizeof *(a))

const struct mw_app_module *const *mw_app_one_model(const struct mw_app_model *m, bool http,
						    size_t *n)
{
	bool registry = mw_uri_prefix(m->model, "models:/") && !m->source;
	if (registry) {
		*n = http ? NMODS(one_registry_http) : NMODS(one_registry);
		return http ? one_registry_http : one_registry;
	}
	*n = http ? NMODS(one_dir_http) : NMODS(one_dir);
	return http ? one_dir_http : one_dir;
}
