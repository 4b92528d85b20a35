/*
 * server.c - `mw server`: the tracking server on a data directory.
 *
 * Thin by design: the options are the settings table (cmd_settings_parse:
 * flags over MW_* environment over defaults, each value validated against
 * its row), and everything else is the application object with the server
 * composition (app/app.h): store (migrations run there), blob, track, art,
 * registry, serve, HTTP with the request pipeline and every route table, and
 * the idle-memory trim.  mw_app_run blocks SIGINT/SIGTERM, starts the
 * modules in order, waits for a signal and drains: stop accepting, fail
 * queued inferences, wait for in-flight requests (--shutdown-timeout), stop
 * the workers and HTTP, close the store (every queued write commits first).
 */
#include "cmd/cmd.h"

#include "app/app.h"

#include <stdio.h>
#include <string.h>

int cmd_serve_options(const struct mw_settings *set, const char *data_dir, struct mw_serve_opts *o,
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

static const char usage[] = "mw server [options]";
static const char about[] =
	"Run the tracking server: MLflow's REST API (/api/2.0/mlflow/...), /health,\n"
	"/version and /metrics, on an embedded SQLite store in the data directory.\n"
	"Every option can also be set as MW_<NAME> (dashes as underscores).";

static int run(struct mw_settings *set, int64_t start_ms)
{
	size_t n;
	const struct mw_app_module *const *mods = mw_app_server(&n);
	struct mw_app_opts o = {.settings = set, .modules = mods, .nmodules = n,
				.start_ms = start_ms, .serve_options = cmd_serve_options};
	struct mw_app *app = mw_app_new(&o);
	struct mw_err err = {0};
	int rc = mw_app_run(app, &err);
	if (rc)
		fprintf(stderr, "mw: %s\n", err.msg);
	mw_app_free(app);
	return rc ? 1 : 0;
}

int cmd_server(int argc, char **argv)
{
	int64_t start_ms = mw_now_ms();
	struct mw_settings *set = mw_settings_new();
	int prc = cmd_settings_parse(set, argc, argv, usage, about);
	int ret = prc == 0 ? run(set, start_ms) : prc > 0 ? 0 : 2;
	mw_settings_free(set);
	return ret;
}
