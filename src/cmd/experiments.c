/*
 * experiments.c - `mw experiments list|create|delete|restore`.
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
	"mw experiments list [--view active|deleted|all] [--filter F] [--max N] [--json]\n"
	"   or: mw experiments create NAME [--artifact-location URI] [--json]\n"
	"   or: mw experiments delete ID\n"
	"   or: mw experiments restore ID";

static const char ABOUT[] =
	"Manage experiments, in the server named by --uri / MW_URI, or else directly in the\n"
	"data directory (--data-dir, MW_DATA_DIR, default ./mw-data).";

static void print_experiments(json_t *all)
{
	size_t n = json_array_size(all);
	const char **cells = mw_xcalloc(n * 5 + 1, sizeof *cells);
	char (*times)[32] = mw_xcalloc(n + 1, 32);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(all, i);
		cells[i * 5 + 0] = json_string_value(json_object_get(e, "experiment_id"));
		cells[i * 5 + 1] = json_string_value(json_object_get(e, "name"));
		cells[i * 5 + 2] = json_string_value(json_object_get(e, "lifecycle_stage"));
		mw_time_fmt(json_integer_value(json_object_get(e, "creation_time")), times[i]);
		cells[i * 5 + 3] = times[i];
		cells[i * 5 + 4] = json_string_value(json_object_get(e, "artifact_location"));
	}
	static const char *hdr[] = {"ID", "NAME", "STAGE", "CREATED (UTC)", "ARTIFACT_LOCATION"};
	cmd_table(stdout, hdr, 5, cells, n);
	free(cells);
	free(times);
}

/* mw experiments list: every page up to --max, printed. */
static int experiments_list(struct mw_client *cl, struct cmd_opt *opts, size_t nopts,
			    bool as_json)
{
	int64_t limit;
	if (cmd_max(cmd_opt(opts, nopts, "max"), 1000, &limit))
		return 2;
	const char *vt = cmd_view_type(cmd_opt(opts, nopts, "view"));
	if (!vt) {
		cmd_error(MW_E_INVALID, "--view must be active, deleted or all");
		return 2;
	}
	json_t *req = json_pack("{s:s}", "view_type", vt), *all = NULL;
	const char *filter = cmd_opt(opts, nopts, "filter");
	if (filter)
		json_object_set_new(req, "filter", json_string(filter));
	struct mw_err err = {0};
	int rc = mw_client_collect(cl, "experiments/search", req, "experiments", limit, &all, &err);
	json_decref(req);
	if (rc) {
		cmd_fail(&err);
		return 1;
	}
	return cmd_print_list("experiments", all, as_json, print_experiments);
}

/* mw experiments create|delete|restore NAME-OR-ID */
static int experiments_change(struct mw_client *cl, const char *sub, const char *arg,
			      const char *location, bool as_json)
{
	bool create = !strcmp(sub, "create");
	json_t *req = json_pack("{s:s}", create ? "name" : "experiment_id", arg), *resp = NULL;
	if (create && location)
		json_object_set_new(req, "artifact_location", json_string(location));
	const char *path = create			? "experiments/create"
			   : !strcmp(sub, "delete") ? "experiments/delete"
						    : "experiments/restore";
	struct mw_err err = {0};
	int rc = mw_client_call(cl, path, req, &resp, &err);
	json_decref(req);
	if (rc) {
		cmd_fail(&err);
		return 1;
	}
	if (as_json)
		cmd_print_json(stdout, resp);
	else if (create)
		printf("created experiment %s (%s)\n",
		       json_string_value(json_object_get(resp, "experiment_id")), arg);
	else
		printf("%s experiment %s\n", !strcmp(sub, "delete") ? "deleted" : "restored", arg);
	json_decref(resp);
	return 0;
}

int cmd_experiments(int argc, char **argv)
{
	struct cmd_opt opts[] = {
		CMD_CLIENT_OPTS,
		{"view", "VIEW", "list: active (default), deleted or all", NULL, false},
		{"filter", "FILTER", "list: MLflow search filter, e.g. \"name LIKE 'fraud%'\"", NULL, false},
		{"max", "N", "list: at most N experiments (default 1000)", NULL, false},
		{"artifact-location", "URI", "create: artifact root of the experiment", NULL, false},
	};
	size_t nopts = sizeof opts / sizeof *opts;
	const char *pos[3];
	size_t npos;
	int prc = cmd_parse(argc, argv, opts, nopts, pos, 2, &npos, USAGE, ABOUT);
	if (prc)
		return prc < 0 ? 2 : 0;
	const char *sub = npos ? pos[0] : "";
	bool list = !strcmp(sub, "list");
	if (npos && !list && strcmp(sub, "create") && strcmp(sub, "delete") &&
	    strcmp(sub, "restore")) {
		fprintf(stderr, "mw experiments: unknown subcommand '%s'\n", sub);
		return 2;
	}
	if (!npos || (list && npos != 1) || (!list && npos != 2)) {
		cmd_usage(stderr, opts, nopts, USAGE, NULL);
		return 2;
	}
	struct mw_err err = {0};
	struct mw_client *cl;
	if (mw_client_open(cmd_opt(opts, nopts, "uri"), cmd_opt(opts, nopts, "data-dir"), &cl, &err)) {
		cmd_fail(&err);
		return 1;
	}
	bool as_json = cmd_flag(opts, nopts, "json");
	int ret = list ? experiments_list(cl, opts, nopts, as_json)
		       : experiments_change(cl, sub, pos[1], cmd_opt(opts, nopts, "artifact-location"),
					    as_json);
	mw_client_close(cl);
	return ret;
}
