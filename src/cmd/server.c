/*
 * server.c - `mw server`: the tracking server on a data directory.
 *
 * Start-up: settings (flags over MW_* environment over defaults), the data
 * directory, the store (migrations run here), the HTTP server with its route
 * tables.  SIGINT/SIGTERM are blocked in every thread and taken by sigwait in
 * the main thread; shutdown then stops accepting, waits for in-flight
 * requests (bounded by --shutdown-timeout), stops HTTP and closes the store,
 * whose writer commits everything queued before it exits.
 */
#include "cmd/cmd.h"

#include "api/api.h"
#include "art/art.h"
#include "blob/blob.h"
#include "http/http.h"
#include "registry/registry.h"
#include "serve/serve.h"
#include "store/store.h"
#include "track/track.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int mkdir_p(const char *path, struct mw_err *err)
{
	char *p = mw_xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0755) && errno != EEXIST) {
			int rc = mw_err_set(err, MW_E_IO, "cannot create %s: %s", p, strerror(errno));
			free(p);
			return rc;
		}
		*s = '/';
	}
	int rc = 0;
	if (mkdir(p, 0755) && errno != EEXIST)
		rc = mw_err_set(err, MW_E_IO, "cannot create %s: %s", p, strerror(errno));
	free(p);
	return rc;
}

int cmd_serve_options(const struct mw_settings *set, const char *data_dir,
		      struct mw_store *store, struct mw_blob *blob, struct mw_serve_opts *o,
		      struct mw_err *err)
{
	long long batch, delay, queue, timeout, cache, ttl, workers, poll, logq;
	if (mw_settings_get_int(set, "batch-size", 1, 65536, &batch, err) ||
	    mw_settings_get_int(set, "batch-delay-us", 0, 10000000, &delay, err) ||
	    mw_settings_get_int(set, "max-queue", 1, 1000000, &queue, err) ||
	    mw_settings_get_int(set, "infer-timeout-ms", 0, 3600000, &timeout, err) ||
	    mw_settings_get_int(set, "cache-bytes", 0, 1ll << 40, &cache, err) ||
	    mw_settings_get_int(set, "cache-ttl-ms", 0, 1ll << 40, &ttl, err) ||
	    mw_settings_get_int(set, "python-workers", 1, 256, &workers, err) ||
	    mw_settings_get_int(set, "alias-poll-ms", 0, 3600000, &poll, err) ||
	    mw_settings_get_int(set, "prediction-log-queue", 1, 10000000, &logq, err))
		return -err->code;
	static char logdir[4096];
	const char *pl = mw_settings_get(set, "prediction-log");
	bool log_on = pl && strcmp(pl, "false") && strcmp(pl, "0") && strcmp(pl, "off");
	snprintf(logdir, sizeof logdir, "%s/logs", data_dir);
	memset(o, 0, sizeof *o);
	o->store = store;
	o->blob = blob;
	o->data_dir = data_dir;
	o->batching.max_batch_rows = (int)batch;
	o->batching.max_delay_us = delay;
	o->batching.max_queue = (int)queue;
	o->batching.timeout_ms = timeout;
	o->batching.cache_bytes = (size_t)cache;
	o->batching.cache_ttl_ms = ttl;
	o->python = mw_settings_get(set, "python");
	o->python_workers = (int)workers;
	o->poll_ms = poll;
	o->default_alias = mw_settings_get(set, "default-alias");
	o->log_dir = log_on ? logdir : NULL;
	o->log_queue = (int)logq;
	return 0;
}

int cmd_server(int argc, char **argv)
{
	int64_t start_ms = mw_now_ms();
	struct mw_settings *set = mw_settings_new();
	size_t nset = mw_settings_count(set);
	struct cmd_opt *opts = mw_xcalloc(nset, sizeof *opts);
	char **helps = mw_xcalloc(nset, sizeof *helps);
	for (size_t i = 0; i < nset; i++) {
		const struct mw_setting *s = mw_settings_at(set, i);
		size_t n = strlen(s->help) + strlen(s->def) + 32;
		helps[i] = mw_xmalloc(n);
		snprintf(helps[i], n, "%s (default %s)", s->help, s->def);
		opts[i].name = s->name;
		opts[i].arg = "VALUE";
		opts[i].help = helps[i];
	}
	const char *pos[1];
	size_t npos;
	int ret = 0;
	int prc = cmd_parse(argc, argv, opts, nset, pos, 0, &npos, "mw server [options]",
			    "Run the tracking server: MLflow's REST API (/api/2.0/mlflow/...), /health,\n"
			    "/version and /metrics, on an embedded SQLite store in the data directory.\n"
			    "Every option can also be set as MW_<NAME> (dashes as underscores).");
	struct mw_err err = {0};
	struct mw_store *store = NULL;
	struct mw_blob *blob = NULL;
	struct mw_track *track = NULL;
	struct mw_registry *registry = NULL;
	struct mw_art *art = NULL;
	struct mw_serve *serve = NULL;
	struct mw_http_server *http = NULL;
	long long port = 0, threads = 0, max_body = 0, depth = 0, rconns = 0, drain = 0;
	if (prc) {
		ret = prc < 0 ? 2 : 0;
		goto out;
	}
	mw_settings_load_env(set);
	for (size_t i = 0; i < nset; i++)
		if (opts[i].set)
			mw_settings_apply_flag(set, opts[i].name, opts[i].value, &err);
	enum mw_log_level lvl;
	if (mw_log_parse_level(mw_settings_get(set, "log-level"), &lvl)) {
		fprintf(stderr, "mw: --log-level must be debug, info, warn, error or off\n");
		ret = 2;
		goto out;
	}
	mw_log_set_level(lvl);
	const char *sync = mw_settings_get(set, "sync");
	const char *trunc = mw_settings_get(set, "truncate-long-values");
	if (mw_settings_get_int(set, "port", 0, 65535, &port, &err) ||
	    mw_settings_get_int(set, "threads", 0, 1024, &threads, &err) ||
	    mw_settings_get_int(set, "max-body", 1024, 1ll << 40, &max_body, &err) ||
	    mw_settings_get_int(set, "max-json-depth", 2, 1000, &depth, &err) ||
	    mw_settings_get_int(set, "read-conns", 0, 1024, &rconns, &err) ||
	    mw_settings_get_int(set, "shutdown-timeout", 0, 3600, &drain, &err)) {
		fprintf(stderr, "mw: %s\n", err.msg);
		ret = 2;
		goto out;
	}
	if (strcmp(sync, "full") && strcmp(sync, "normal")) {
		fprintf(stderr, "mw: --sync must be full or normal\n");
		ret = 2;
		goto out;
	}
	if (!threads) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		threads = cores > 0 ? cores * 4 : 4;
		if (threads < 4)
			threads = 4;
	}
	const char *dir = mw_settings_get(set, "data-dir");
	if (mkdir_p(dir, &err)) {
		fprintf(stderr, "mw: %s\n", err.msg);
		ret = 1;
		goto out;
	}

	/* signals: taken by sigwait below, never delivered to worker threads */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct mw_store_opts so = {
		.data_dir = dir,
		.read_conns = rconns ? (int)rconns : (int)threads + 2,
		.sync_full = !strcmp(sync, "full"),
		.max_batch = 256,
	};
	if (mw_store_open(&so, &store, &err)) {
		fprintf(stderr, "mw: %s\n", err.msg);
		ret = 1;
		goto out;
	}
	struct mw_blob_opts bo = {.data_dir = dir};
	if (mw_blob_open(&bo, &blob, &err)) {
		fprintf(stderr, "mw: %s\n", err.msg);
		ret = 1;
		goto out;
	}
	struct mw_track_opts to = {
		.artifact_root = mw_settings_get(set, "artifact-root"),
		.truncate_long_values = strcmp(trunc, "false") && strcmp(trunc, "0"),
	};
	if (mw_track_new(store, &to, &track, &err)) {
		fprintf(stderr, "mw: %s\n", err.msg);
		ret = 1;
		goto out;
	}
	if (mw_art_new(store, blob, &art, &err) || mw_registry_new(store, blob, &registry, &err)) {
		fprintf(stderr, "mw: %s\n", err.msg);
		ret = 1;
		goto out;
	}
	const char *als = mw_settings_get(set, "allow-local-sources");
	mw_registry_allow_local_sources(registry, als && (!strcmp(als, "true") || !strcmp(als, "1")));
	struct mw_serve_opts svo;
	if (cmd_serve_options(set, dir, store, blob, &svo, &err) || mw_serve_new(&svo, &serve, &err)) {
		fprintf(stderr, "mw: %s\n", err.msg);
		ret = 1;
		goto out;
	}
	struct mw_http_opts ho = {
		.host = mw_settings_get(set, "host"),
		.port = (int)port,
		.threads = (int)threads,
		.max_body = (size_t)max_body,
		.on_error = mw_api_error,
	};
	http = mw_http_new(&ho);
	struct mw_api_ctx ctx = {
		.track = track,
		.registry = registry,
		.blob = blob,
		.art = art,
		.serve = serve,
		.store = store,
		.http = http,
		.settings = set,
		.max_json_depth = (int)depth,
		.start_ms = start_ms,
	};
	mw_api_ops_register(&ctx, http);
	mw_api_artifacts_register(&ctx, http);
	mw_api_serving_register(&ctx, http);
	mw_api_mlflow_register(&ctx, http);
	mw_api_registry_register(&ctx, http);
	if (mw_http_start(http, &err)) {
		fprintf(stderr, "mw: %s\n", err.msg);
		ret = 1;
		goto out;
	}
	mw_info("mw %s listening on http://%s:%d (data %s, %lld threads, ready in %lld ms)",
		MW_VERSION, ho.host, mw_http_port(http), dir, threads,
		(long long)(mw_now_ms() - start_ms));

	/* wait for a signal; after two quiet seconds give idle memory back once */
	int sig = 0;
	unsigned long long seen = mw_http_request_count(http);
	int quiet = 0;
	for (;;) {
		struct timespec tick = {1, 0};
		sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig > 0)
			break;
		unsigned long long now = mw_http_request_count(http);
		if (now != seen || mw_http_inflight(http) > 0) {
			seen = now;
			quiet = 0;
		} else if (++quiet == 2) {
			mw_store_trim(store);
			malloc_trim(0);
			mw_debug("idle: released cached memory");
		}
	}
	mw_info("signal %d: stopping (draining in-flight requests)", sig);
	mw_http_quiesce(http);
	mw_serve_stop(serve); /* queued inferences answer 503 now */
	uint64_t deadline = mw_mono_ns() + (uint64_t)drain * 1000000000ull;
	while (mw_http_inflight(http) > 0 && mw_mono_ns() < deadline) {
		struct timespec ts = {0, 5 * 1000000};
		nanosleep(&ts, NULL);
	}
	if (mw_http_inflight(http) > 0)
		mw_warn("%d requests still in flight after %lld s; stopping anyway",
			mw_http_inflight(http), drain);
out:
	if (serve)
		mw_serve_stop(serve);
	mw_http_free(http);
	mw_serve_free(serve);
	mw_api_free();
	mw_registry_free(registry);
	mw_art_free(art);
	mw_track_free(track);
	mw_store_close(store);
	mw_blob_close(blob);
	if (store)
		mw_info("stopped");
	for (size_t i = 0; i < nset; i++)
		free(helps[i]);
	free(helps);
	free(opts);
	mw_settings_free(set);
	return ret;
}
