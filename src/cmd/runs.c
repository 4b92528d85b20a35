/*
 * runs.c - `mw runs list|show|search`.
 */
#include "cmd/cmd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
	"mw runs list [--experiment-id ID] [--view active|deleted|all] [--max N] [--json]\n"
	"   or: mw runs search [--experiment-id ID[,ID...]] [--filter F] [--order-by EXPR]\n"
	"                      [--max N] [--json]\n"
	"   or: mw runs show RUN_ID [--json]";

static const char ABOUT[] =
	"List, search and show runs, in the server named by --uri / MW_URI, or else directly\n"
	"in the data directory.  Filters use MLflow's search grammar, e.g.\n"
	"  --filter \"metrics.rmse < 0.5 AND params.depth = '6'\"\n"
	"  --filter \"tags.`mlflow.source.git.commit` = 'abc123'\"\n"
	"and --order-by takes \"metrics.rmse ASC\" (repeat --order-by with commas: a,b).";

/* "k=v, k=v" of a run's latest metrics, at most ~60 characters. */
static char *metrics_summary(json_t *run)
{
	json_t *ms = json_object_get(json_object_get(run, "data"), "metrics");
	struct mw_buf b;
	mw_buf_init(&b, MW_CLI_TEXT_MAX); /* display text: cut at the cap */
	int bad = 0;
	for (size_t i = 0; i < json_array_size(ms) && b.len < 60 && !bad; i++) {
		json_t *m = json_array_get(ms, i);
		json_t *v = json_object_get(m, "value");
		if (i)
			bad |= mw_buf_puts(&b, ", ");
		if (json_is_number(v))
			bad |= mw_buf_printf(&b, "%s=%.6g",
					     json_string_value(json_object_get(m, "key")),
					     json_number_value(v));
		else
			bad |= mw_buf_printf(&b, "%s=%s",
					     json_string_value(json_object_get(m, "key")),
					     json_string_value(v));
	}
	char *s = mw_buf_detach(&b, NULL);
	mw_buf_release(&b);
	return s;
}

static void print_runs(json_t *runs)
{
	size_t n = json_array_size(runs);
	const char **cells = mw_xcalloc(n * 6 + 1, sizeof *cells);
	char (*times)[32] = mw_xcalloc(n + 1, 32);
	char **sums = mw_xcalloc(n + 1, sizeof *sums);
	for (size_t i = 0; i < n; i++) {
		json_t *info = json_object_get(json_array_get(runs, i), "info");
		cells[i * 6 + 0] = json_string_value(json_object_get(info, "run_id"));
		cells[i * 6 + 1] = json_string_value(json_object_get(info, "run_name"));
		cells[i * 6 + 2] = json_string_value(json_object_get(info, "status"));
		cells[i * 6 + 3] = json_string_value(json_object_get(info, "experiment_id"));
		mw_time_fmt(json_integer_value(json_object_get(info, "start_time")), times[i]);
		cells[i * 6 + 4] = times[i];
		sums[i] = metrics_summary(json_array_get(runs, i));
		cells[i * 6 + 5] = sums[i];
	}
	static const char *hdr[] = {"RUN_ID", "NAME", "STATUS", "EXPERIMENT", "STARTED (UTC)",
				    "METRICS"};
	cmd_table(stdout, hdr, 6, cells, n);
	for (size_t i = 0; i < n; i++)
		free(sums[i]);
	free(sums);
	free(times);
	free(cells);
}

static void print_kvs(const char *title, json_t *arr, bool metric)
{
	if (!json_array_size(arr))
		return;
	printf("\n%s:\n", title);
	size_t n = json_array_size(arr);
	const char **cells = mw_xcalloc(n * 3 + 1, sizeof *cells);
	char (*vals)[64] = mw_xcalloc(n + 1, 64);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);
		cells[i * 3] = json_string_value(json_object_get(e, "key"));
		json_t *v = json_object_get(e, "value");
		if (json_is_number(v)) {
			snprintf(vals[i], 64, "%.10g", json_number_value(v));
			cells[i * 3 + 1] = vals[i];
		} else {
			cells[i * 3 + 1] = json_string_value(v);
		}
		if (metric) {
			char *s = mw_xmalloc(32);
			snprintf(s, 32, "%lld", (long long)json_integer_value(json_object_get(e, "step")));
			cells[i * 3 + 2] = s;
		}
	}
	static const char *hk[] = {"KEY", "VALUE", "STEP"};
	if (metric) {
		cmd_table(stdout, hk, 3, cells, n);
		for (size_t i = 0; i < n; i++)
			free((char *)cells[i * 3 + 2]);
	} else {
		const char **c2 = mw_xcalloc(n * 2 + 1, sizeof *c2);
		for (size_t i = 0; i < n; i++) {
			c2[i * 2] = cells[i * 3];
			c2[i * 2 + 1] = cells[i * 3 + 1];
		}
		cmd_table(stdout, hk, 2, c2, n);
		free(c2);
	}
	free(vals);
	free(cells);
}

static void print_run(json_t *run)
{
	json_t *info = json_object_get(run, "info");
	static const char *fields[] = {"run_id", "run_name", "experiment_id", "status", "user_id",
				       "artifact_uri", "lifecycle_stage"};
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		const char *v = json_string_value(json_object_get(info, fields[i]));
		printf("%-16s %s\n", fields[i], v ? v : "");
	}
	char t[32];
	mw_time_fmt(json_integer_value(json_object_get(info, "start_time")), t);
	printf("%-16s %s UTC\n", "start_time", t);
	if (json_object_get(info, "end_time")) {
		mw_time_fmt(json_integer_value(json_object_get(info, "end_time")), t);
		printf("%-16s %s UTC\n", "end_time", t);
	}
	json_t *data = json_object_get(run, "data");
	print_kvs("params", json_object_get(data, "params"), false);
	print_kvs("metrics (latest)", json_object_get(data, "metrics"), true);
	print_kvs("tags", json_object_get(data, "tags"), false);
	json_t *dins = json_object_get(json_object_get(run, "inputs"), "dataset_inputs");
	if (json_array_size(dins)) {
		printf("\ndatasets:\n");
		for (size_t i = 0; i < json_array_size(dins); i++) {
			json_t *d = json_object_get(json_array_get(dins, i), "dataset");
			printf("  %s (digest %s, %s)\n", json_string_value(json_object_get(d, "name")),
			       json_string_value(json_object_get(d, "digest")),
			       json_string_value(json_object_get(d, "source_type")));
		}
	}
}

/* Ids of every active experiment (for searches across all of them). */
static int all_experiments(struct mw_client *cl, json_t *ids, struct mw_err *err)
{
	char *tok = NULL;
	int rc = 0;
	do {
		json_t *req = json_pack("{s:s,s:i}", "view_type", "ACTIVE_ONLY", "max_results", 1000);
		json_t *resp = NULL;
		if (tok)
			json_object_set_new(req, "page_token", json_string(tok));
		rc = mw_client_call(cl, "experiments/search", req, &resp, err);
		json_decref(req);
		free(tok);
		tok = NULL;
		if (rc)
			break;
		json_t *exps = json_object_get(resp, "experiments");
		for (size_t i = 0; i < json_array_size(exps); i++)
			json_array_append(ids, json_object_get(json_array_get(exps, i), "experiment_id"));
		const char *t = json_string_value(json_object_get(resp, "next_page_token"));
		tok = t && json_array_size(ids) < 1000 ? mw_xstrdup(t) : NULL;
		json_decref(resp);
	} while (tok);
	free(tok);
	return rc;
}

/* mw runs list|search: every page up to --max, printed. */
static int runs_search(struct mw_client *cl, struct cmd_opt *opts, size_t nopts,
		       const char *vt, int64_t limit, bool as_json)
{
	struct mw_err err = {0};
	json_t *exps = NULL;
	const char *ids = cmd_opt(opts, nopts, "experiment-id");
	if (ids) {
		exps = cmd_split_list(ids);
	} else {
		exps = json_array();
		if (all_experiments(cl, exps, &err)) {
			cmd_fail(&err);
			json_decref(exps);
			return 1;
		}
	}
	json_t *req = json_pack("{s:o,s:o,s:s}", "experiment_ids", exps, "order_by",
				cmd_split_list(cmd_opt(opts, nopts, "order-by")), "run_view_type", vt);
	const char *filter = cmd_opt(opts, nopts, "filter");
	if (filter)
		json_object_set_new(req, "filter", json_string(filter));
	json_t *all = NULL;
	int rc = mw_client_collect(cl, "runs/search", req, "runs", limit, &all, &err);
	json_decref(req);
	if (rc) {
		cmd_fail(&err);
		return 1;
	}
	return cmd_print_list("runs", all, as_json, print_runs);
}

/* mw runs show RUN */
static int runs_show(struct mw_client *cl, const char *run_id, bool as_json)
{
	struct mw_err err = {0};
	json_t *req = json_pack("{s:s}", "run_id", run_id), *resp = NULL;
	int rc = mw_client_call(cl, "runs/get", req, &resp, &err);
	json_decref(req);
	if (rc) {
		cmd_fail(&err);
		return 1;
	}
	if (as_json)
		cmd_print_json(stdout, resp);
	else
		print_run(json_object_get(resp, "run"));
	json_decref(resp);
	return 0;
}

int cmd_runs(int argc, char **argv)
{
	struct cmd_opt opts[] = {
		CMD_CLIENT_OPTS,
		{"experiment-id", "ID", "experiments to look in, comma-separated (default: all active)", NULL, false},
		{"filter", "FILTER", "search: MLflow search filter", NULL, false},
		{"order-by", "EXPR", "search: order, e.g. \"metrics.rmse ASC,start_time DESC\"", NULL, false},
		{"view", "VIEW", "active (default), deleted or all", NULL, false},
		{"max", "N", "at most N runs (default 100)", NULL, false},
	};
	size_t nopts = sizeof opts / sizeof *opts;
	const char *pos[3];
	size_t npos;
	int prc = cmd_parse(argc, argv, opts, nopts, pos, 2, &npos, USAGE, ABOUT);
	if (prc)
		return prc < 0 ? 2 : 0;
	const char *sub = npos ? pos[0] : "";
	bool show = !strcmp(sub, "show");
	if (npos && !show && strcmp(sub, "list") && strcmp(sub, "search")) {
		fprintf(stderr, "mw runs: unknown subcommand '%s'\n", sub);
		return 2;
	}
	if (!npos || (show && npos != 2) || (!show && npos != 1)) {
		cmd_usage(stderr, opts, nopts, USAGE, NULL);
		return 2;
	}
	if (!strcmp(sub, "list") && cmd_opt(opts, nopts, "filter")) {
		fprintf(stderr, "mw runs list: use 'mw runs search --filter ...'\n");
		return 2;
	}
	int64_t limit;
	if (cmd_max(cmd_opt(opts, nopts, "max"), 100, &limit))
		return 2;
	const char *vt = cmd_view_type(cmd_opt(opts, nopts, "view"));
	if (!vt) {
		cmd_error(MW_E_INVALID, "--view must be active, deleted or all");
		return 2;
	}
	struct mw_err err = {0};
	struct mw_client *cl;
	if (mw_client_open(cmd_opt(opts, nopts, "uri"), cmd_opt(opts, nopts, "data-dir"), &cl, &err)) {
		cmd_fail(&err);
		return 1;
	}
	bool as_json = cmd_flag(opts, nopts, "json");
	int ret = show ? runs_show(cl, pos[1], as_json)
		       : runs_search(cl, opts, nopts, vt, limit, as_json);
	mw_client_close(cl);
	return ret;
}
