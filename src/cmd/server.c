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
#include <stdlib.h>
#include <string.h>

static const char usage[] = "mw server [options]";
static const char about[] =
	"Run the tracking server: MLflow's REST API (/api/2.0/mlflow/...), /health,\n"
	"/version and /metrics, on an embedded SQLite store in the data directory.\n"
	"Every option can also be set as MW_<NAME> (dashes as underscores).";

static int run(struct mw_settings *set, int64_t start_ms)
{
	size_t n;
	const struct mw_app_module *const *mods = mw_app_server(&n);
	struct mw_app_opts o = {.settings = set,
				.modules = mods,
				.nmodules = n,
				.start_ms = start_ms};
	struct mw_app *app = mw_app_new(&o);
	struct mw_err err = {0};
	int rc = mw_app_run(app, &err);
	if (rc)
		cmd_fail(&err);
	mw_app_free(app);
	return rc ? 1 : 0;
}

int cmd_server(int argc, char **argv)
{
	int64_t start_ms = mw_now_ms();
	struct mw_settings *set = mw_settings_new();
	int prc = cmd_settings_parse(set, argc, argv, usage, about);
	/* the settings hold a copy: nothing the server starts (python model
	 * workers inherit the environment) sees the admin's password */
	unsetenv("MW_ADMIN_PASSWORD");
	int ret = prc == 0 ? run(set, start_ms) : prc > 0 ? 0 : 2;
	mw_settings_free(set);
	return ret;
}
