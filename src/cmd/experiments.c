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
	if (npos < 1) {
		cmd_usage(stderr, opts, nopts, USAGE, NULL);
		return 2;
	}
	const char *sub = pos[0];
	bool as_json = cmd_flag(opts, nopts, "json");
	struct mw_err err = {0};
	struct mw_client *cl;
	if (strcmp(sub, "list") && strcmp(sub, "create") && strcmp(sub, "delete") &&
	    strcmp(sub, "restore")) {
		fprintf(stderr, "mw experiments: unknown subcommand '%s'\n", sub);
		return 2;
	}
	if ((!strcmp(sub, "list") && npos != 1) || (strcmp(sub, "list") && npos != 2)) {
		cmd_usage(stderr, opts, nopts, USAGE, NULL);
		return 2;
	}
	if (mw_client_open(cmd_opt(opts, nopts, "uri"), cmd_opt(opts, nopts, "data-dir"), &cl, &err)) {
		fprintf(stderr, "mw: %s\n", err.msg);
		return 1;
	}
	int ret = 0;
	json_t *req = json_object(), *resp = NULL;
	if (!strcmp(sub, "list")) {
		const char *view = cmd_opt(opts, nopts, "view");
		const char *filter = cmd_opt(opts, nopts, "filter");
		const char *max = cmd_opt(opts, nopts, "max");
		int64_t limit = 1000;
		if (max && (mw_parse_int64(max, &limit) || limit < 1)) {
			fprintf(stderr, "mw: --max must be a positive number\n");
			ret = 2;
			goto done;
		}
		const char *vt = !view || !strcmp(view, "active") ? "ACTIVE_ONLY"
				 : !strcmp(view, "deleted")      ? "DELETED_ONLY"
				 : !strcmp(view, "all")          ? "ALL"
								 : NULL;
		if (!vt) {
			fprintf(stderr, "mw: --view must be active, deleted or all\n");
			ret = 2;
			goto done;
		}
		json_t *all = json_array();
		const char *token = NULL;
		char *tok = NULL;
		do {
			json_object_clear(req);
			json_object_set_new(req, "view_type", json_string(vt));
			json_object_set_new(req, "max_results",
					    json_integer(limit - (int64_t)json_array_size(all) < 1000
								 ? limit - (int64_t)json_array_size(all)
								 : 1000));
			if (filter)
				json_object_set_new(req, "filter", json_string(filter));
			if (token)
				json_object_set_new(req, "page_token", json_string(token));
			if (mw_client_call(cl, "experiments/search", req, &resp, &err)) {
				fprintf(stderr, "mw: %s\n", err.msg);
				ret = 1;
				break;
			}
			json_array_extend(all, json_object_get(resp, "experiments"));
			free(tok);
			token = json_string_value(json_object_get(resp, "next_page_token"));
			tok = token ? mw_xstrdup(token) : NULL;
			token = tok;
			json_decref(resp);
			resp = NULL;
		} while (token && (int64_t)json_array_size(all) < limit);
		free(tok);
		if (!ret) {
			if (as_json) {
				json_t *o = json_pack("{s:O}", "experiments", all);
				cmd_print_json(stdout, o);
				json_decref(o);
			} else {
				size_t n = json_array_size(all);
				const char **cells = mw_xcalloc(n * 5 + 1, sizeof *cells);
				char (*times)[32] = mw_xcalloc(n + 1, 32);
				for (size_t i = 0; i < n; i++) {
					json_t *e = json_array_get(all, i);
					cells[i * 5 + 0] = json_string_value(json_object_get(e, "experiment_id"));
					cells[i * 5 + 1] = json_string_value(json_object_get(e, "name"));
					cells[i * 5 + 2] = json_string_value(json_object_get(e, "lifecycle_stage"));
					mw_time_fmt(json_integer_value(json_object_get(e, "creation_time")),
						    times[i]);
					cells[i * 5 + 3] = times[i];
					cells[i * 5 + 4] =
						json_string_value(json_object_get(e, "artifact_location"));
				}
				static const char *hdr[] = {"ID", "NAME", "STAGE", "CREATED (UTC)",
							    "ARTIFACT_LOCATION"};
				cmd_table(stdout, hdr, 5, cells, n);
				free(cells);
				free(times);
			}
		}
		json_decref(all);
	} else if (!strcmp(sub, "create")) {
		json_object_set_new(req, "name", json_string(pos[1]));
		const char *loc = cmd_opt(opts, nopts, "artifact-location");
		if (loc)
			json_object_set_new(req, "artifact_location", json_string(loc));
		if (mw_client_call(cl, "experiments/create", req, &resp, &err)) {
			fprintf(stderr, "mw: %s\n", err.msg);
			ret = 1;
		} else if (as_json) {
			cmd_print_json(stdout, resp);
		} else {
			printf("created experiment %s (%s)\n",
			       json_string_value(json_object_get(resp, "experiment_id")), pos[1]);
		}
	} else {
		json_object_set_new(req, "experiment_id", json_string(pos[1]));
		const char *path = !strcmp(sub, "delete") ? "experiments/delete" : "experiments/restore";
		if (mw_client_call(cl, path, req, &resp, &err)) {
			fprintf(stderr, "mw: %s\n", err.msg);
			ret = 1;
		} else if (as_json) {
			cmd_print_json(stdout, resp);
		} else {
			printf("%s experiment %s\n", !strcmp(sub, "delete") ? "deleted" : "restored",
			       pos[1]);
		}
	}
done:
	json_decref(resp);
	json_decref(req);
	mw_client_close(cl);
	return ret;
}
