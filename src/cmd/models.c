/*
 * models.c - `mw models ...`: the model registry from the command line.
 *
 * Subcommands list, show, versions, register, alias, promote, rollback,
 * history, lineage and card; each has its own option table (so each answers
 * --help) and prints an aligned table or, with --json, the server's JSON.
 * MLflow's endpoints are called through mw_client_call / mw_client_native
 * and the native ones (/api/mw/models/...) through mw_client_native, which
 * talks HTTP to MW_URI / --uri, or runs the same registry operation on the
 * data directory in-process.  Only local mode reads local source
 * directories (`register NAME ./dir`): a server never reads its own disk
 * for a client.
 */
#include "cmd/cmd.h"

#include "registry/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_CARD_FILE (2u << 20)

/* ------------------------------------------------------------ helpers */

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void fmt_time(json_t *o, const char *k, char out[32])
{
	json_t *v = json_object_get(o, k);
	if (json_is_integer(v))
		mw_time_fmt(json_integer_value(v), out);
	else
		out[0] = 0;
}

static int fail(struct mw_err *err)
{
	cmd_fail(err);
	return 1;
}

/* "/api/mw/models/<escaped name>/<rest>" (malloc'd). */
static char *native_path(const char *name, const char *rest)
{
	char *en = mw_client_escape(name);
	size_t n = strlen(en) + strlen(rest) + 32;
	char *p = mw_xmalloc(n);
	snprintf(p, n, "/api/mw/models/%s/%s", en, rest);
	free(en);
	return p;
}

/* A filter value: single-quoted, quotes doubled. */
static char *quote(const char *s)
{
	struct mw_buf b;
	mw_buf_init(&b, 2 * strlen(s) + 3); /* every quote doubles: the cap cannot be reached */
	int bad = mw_buf_puts(&b, "'");
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			bad |= mw_buf_puts(&b, "'");
		bad |= mw_buf_append(&b, p, 1);
	}
	bad |= mw_buf_puts(&b, "'");
	if (bad)
		abort(); /* cannot happen: the cap is the largest size */
	char *out = mw_buf_detach(&b, NULL);
	mw_buf_release(&b);
	return out;
}

/* "champion=3, challenger=4" from [{alias, version}] or ["champion"]. */
static char *aliases_text(json_t *arr)
{
	struct mw_buf b;
	mw_buf_init(&b, MW_CLI_TEXT_MAX); /* display text: cut at the cap */
	int bad = 0;
	for (size_t i = 0; i < json_array_size(arr) && !bad; i++) {
		json_t *a = json_array_get(arr, i);
		if (i)
			bad |= mw_buf_puts(&b, ", ");
		if (json_is_string(a))
			bad |= mw_buf_puts(&b, json_string_value(a));
		else
			bad |= mw_buf_printf(&b, "%s=%s", jstr(a, "alias"), jstr(a, "version"));
	}
	char *out = mw_buf_detach(&b, NULL);
	mw_buf_release(&b);
	return out;
}

static char *kv_text(json_t *arr, size_t max)
{
	struct mw_buf b;
	mw_buf_init(&b, MW_CLI_TEXT_MAX); /* display text: cut at the cap */
	int bad = 0;
	for (size_t i = 0; i < json_array_size(arr) && (!max || b.len < max) && !bad; i++) {
		json_t *e = json_array_get(arr, i);
		json_t *v = json_object_get(e, "value");
		if (i)
			bad |= mw_buf_puts(&b, ", ");
		if (json_is_number(v))
			bad |= mw_buf_printf(&b, "%s=%.6g", jstr(e, "key"), json_number_value(v));
		else
			bad |= mw_buf_printf(&b, "%s=%s", jstr(e, "key"), json_string_value(v));
	}
	char *out = mw_buf_detach(&b, NULL);
	mw_buf_release(&b);
	return out;
}

static int64_t latest_of(json_t *rm)
{
	int64_t best = 0, v;
	json_t *lv = json_object_get(rm, "latest_versions");
	for (size_t i = 0; i < json_array_size(lv); i++)
		if (!mw_parse_int64(jstr(json_array_get(lv, i), "version"), &v) && v > best)
			best = v;
	return best;
}

/* ------------------------------------------------------------ tables */

static void print_models(json_t *models)
{
	size_t n = json_array_size(models);
	const char **cells = mw_xcalloc(n * 4 + 1, sizeof *cells);
	char (*latest)[32] = mw_xcalloc(n + 1, 32);
	char (*times)[32] = mw_xcalloc(n + 1, 32);
	char **al = mw_xcalloc(n + 1, sizeof *al);
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_array_get(models, i);
		int64_t lv = latest_of(m);
		if (lv)
			snprintf(latest[i], 32, "%lld", (long long)lv);
		al[i] = aliases_text(json_object_get(m, "aliases"));
		fmt_time(m, "last_updated_timestamp", times[i]);
		cells[i * 4] = jstr(m, "name");
		cells[i * 4 + 1] = lv ? latest[i] : "-";
		cells[i * 4 + 2] = *al[i] ? al[i] : "-";
		cells[i * 4 + 3] = times[i];
	}
	static const char *hdr[] = {"NAME", "LATEST", "ALIASES", "UPDATED (UTC)"};
	cmd_table(stdout, hdr, 4, cells, n);
	for (size_t i = 0; i < n; i++)
		free(al[i]);
	free(al);
	free(times);
	free(latest);
	free(cells);
}

static void print_versions(json_t *versions)
{
	size_t n = json_array_size(versions);
	const char **cells = mw_xcalloc(n * 7 + 1, sizeof *cells);
	char (*times)[32] = mw_xcalloc(n + 1, 32);
	char **al = mw_xcalloc(n + 1, sizeof *al);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(versions, i);
		al[i] = aliases_text(json_object_get(v, "aliases"));
		fmt_time(v, "creation_timestamp", times[i]);
		cells[i * 7] = jstr(v, "version");
		cells[i * 7 + 1] = jstr(v, "current_stage");
		cells[i * 7 + 2] = *al[i] ? al[i] : "-";
		cells[i * 7 + 3] = jstr(v, "status");
		cells[i * 7 + 4] = jstr(v, "run_id") ? jstr(v, "run_id") : "-";
		cells[i * 7 + 5] = times[i];
		cells[i * 7 + 6] = jstr(v, "source");
	}
	static const char *hdr[] = {"VERSION", "STAGE", "ALIASES", "STATUS", "RUN_ID",
				    "CREATED (UTC)", "SOURCE"};
	cmd_table(stdout, hdr, 7, cells, n);
	for (size_t i = 0; i < n; i++)
		free(al[i]);
	free(al);
	free(times);
	free(cells);
}

static void field(const char *k, const char *v)
{
	if (v && *v)
		printf("%-18s %s\n", k, v);
}

static void print_card(json_t *c)
{
	json_t *card = json_object_get(c, "card");
	static const char *order[] = {"owner", "intended_use", "training_data", "evaluation_data",
				      "failure_modes", "latency_profile", "cost_profile"};
	for (size_t i = 0; i < sizeof order / sizeof *order; i++)
		field(order[i], jstr(card, order[i]));
	json_t *sm = json_object_get(card, "slice_metrics");
	if (sm) {
		char *s = json_dumps(sm, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
		field("slice_metrics", s);
		free(s);
	}
	char t[32];
	fmt_time(c, "updated", t);
	printf("%-18s %s UTC by %s\n", "updated", t, jstr(c, "updated_by") ? jstr(c, "updated_by") : "?");
	if (jstr(card, "markdown"))
		printf("\n%s\n", jstr(card, "markdown"));
}

static void print_version(json_t *v)
{
	char t[32], who[300];
	field("name", jstr(v, "name"));
	field("version", jstr(v, "version"));
	field("stage", jstr(v, "current_stage"));
	field("status", jstr(v, "status"));
	char *al = aliases_text(json_object_get(v, "aliases"));
	field("aliases", al);
	free(al);
	field("description", jstr(v, "description"));
	field("source", jstr(v, "source"));
	field("storage_location", jstr(v, "storage_location"));
	field("manifest_digest", jstr(v, "manifest_digest"));
	field("run_id", jstr(v, "run_id"));
	field("model_id", jstr(v, "model_id"));
	snprintf(who, sizeof who, "%s", jstr(v, "user_id") ? jstr(v, "user_id") : "");
	field("user_id", who);
	fmt_time(v, "creation_timestamp", t);
	printf("%-18s %s UTC\n", "created", t);
	fmt_time(v, "last_updated_timestamp", t);
	printf("%-18s %s UTC\n", "updated", t);
	char *tags = kv_text(json_object_get(v, "tags"), 0);
	field("tags", tags);
	free(tags);
}

/* ------------------------------------------------------------ client calls */

struct ctx {
	struct mw_client *cl;
	struct mw_err err;
	bool json;
};

static int open_client(struct cmd_opt *opts, size_t nopts, struct ctx *x)
{
	memset(x, 0, sizeof *x);
	x->json = cmd_flag(opts, nopts, "json");
	if (mw_client_open(cmd_opt(opts, nopts, "uri"), cmd_opt(opts, nopts, "data-dir"), &x->cl,
			   &x->err))
		return fail(&x->err);
	return 0;
}

/* Follow page tokens of a search endpoint; returns the concatenated list. */
static int model_versions(struct ctx *x, const char *name, int64_t limit, json_t **out)
{
	char *q = quote(name);
	size_t n = strlen(q) + 16;
	char *f = mw_xmalloc(n);
	snprintf(f, n, "name = %s", q);
	json_t *base = json_pack("{s:s,s:[s]}", "filter", f, "order_by", "version_number DESC");
	free(q);
	free(f);
	int rc = mw_client_collect(x->cl, "model-versions/search", base, "model_versions", limit, out,
				   &x->err);
	json_decref(base);
	return rc;
}

/* ------------------------------------------------------------ subcommands */

struct sub {
	const char *name;
	const char *usage;
	const char *about;
	int npos;
	int (*run)(struct cmd_opt *opts, size_t nopts, const char **pos, size_t npos);
	struct cmd_opt opts[10];
};

static int run_list(struct cmd_opt *opts, size_t nopts, const char **pos, size_t npos)
{
	(void)pos;
	(void)npos;
	int64_t limit;
	int rc = cmd_max(cmd_opt(opts, nopts, "max"), 1000, &limit) ? 2 : 0;
	struct ctx x;
	if (rc || (rc = open_client(opts, nopts, &x)))
		return rc;
	json_t *base = json_pack("{s:o}", "order_by", cmd_split_list(cmd_opt(opts, nopts, "order-by")));
	if (cmd_opt(opts, nopts, "filter"))
		json_object_set_new(base, "filter", json_string(cmd_opt(opts, nopts, "filter")));
	json_t *all = NULL;
	if (mw_client_collect(x.cl, "registered-models/search", base, "registered_models", limit,
			      &all, &x.err))
		rc = fail(&x.err);
	else
		rc = cmd_print_list("registered_models", all, x.json, print_models);
	json_decref(base);
	mw_client_close(x.cl);
	return rc;
}

static int get_version_card(struct ctx *x, const char *name, const char *version, json_t **card)
{
	*card = NULL;
	char rest[96];
	char *ev = mw_client_escape(version);
	snprintf(rest, sizeof rest, "versions/%.60s/card", ev);
	free(ev);
	char *path = native_path(name, rest);
	json_t *req = json_pack("{s:s,s:s}", "name", name, "version", version);
	struct mw_err e = {0};
	int rc = mw_client_native(x->cl, "GET", path, mw_registry_card_get, req, card, &e);
	free(path);
	json_decref(req);
	if (rc && e.code != MW_E_NOT_FOUND) {
		x->err = e;
		return rc;
	}
	return 0;
}

static int run_show(struct cmd_opt *opts, size_t nopts, const char **pos, size_t npos)
{
	(void)npos;
	struct ctx x;
	int rc = open_client(opts, nopts, &x);
	if (rc)
		return rc;
	const char *name = pos[0], *version = cmd_opt(opts, nopts, "version");
	json_t *req = json_pack("{s:s}", "name", name), *resp = NULL;
	if (version) {
		json_object_set_new(req, "version", json_string(version));
		json_t *card = NULL;
		if (mw_client_call(x.cl, "model-versions/get", req, &resp, &x.err) ||
		    get_version_card(&x, name, version, &card)) {
			rc = fail(&x.err);
		} else if (x.json) {
			json_object_set_new(resp, "model_card", card ? card : json_null());
			cmd_print_json(stdout, resp);
		} else {
			print_version(json_object_get(resp, "model_version"));
			printf("\nmodel card:\n");
			if (card)
				print_card(card);
			else
				printf("  (none: write one with `mw models card %s %s --set FILE`)\n", name,
				       version);
			json_decref(card);
		}
	} else {
		json_t *versions = NULL;
		if (mw_client_call(x.cl, "registered-models/get", req, &resp, &x.err) ||
		    model_versions(&x, name, 100000, &versions)) {
			rc = fail(&x.err);
		} else if (x.json) {
			json_object_set_new(resp, "model_versions", versions);
			cmd_print_json(stdout, resp);
		} else {
			json_t *m = json_object_get(resp, "registered_model");
			char t[32];
			field("name", jstr(m, "name"));
			field("description", jstr(m, "description"));
			field("user_id", jstr(m, "user_id"));
			fmt_time(m, "creation_timestamp", t);
			printf("%-18s %s UTC\n", "created", t);
			fmt_time(m, "last_updated_timestamp", t);
			printf("%-18s %s UTC\n", "updated", t);
			char *tags = kv_text(json_object_get(m, "tags"), 0);
			field("tags", tags);
			free(tags);
			char *al = aliases_text(json_object_get(m, "aliases"));
			field("aliases", al);
			free(al);
			printf("\nversions:\n");
			print_versions(versions);
			json_decref(versions);
		}
	}
	json_decref(resp);
	json_decref(req);
	mw_client_close(x.cl);
	return rc;
}

static int run_versions(struct cmd_opt *opts, size_t nopts, const char **pos, size_t npos)
{
	(void)npos;
	int64_t limit;
	int rc = cmd_max(cmd_opt(opts, nopts, "max"), 100000, &limit) ? 2 : 0;
	struct ctx x;
	if (rc || (rc = open_client(opts, nopts, &x)))
		return rc;
	json_t *req = json_pack("{s:s}", "name", pos[0]), *resp = NULL, *versions = NULL;
	/* a model without versions is still a model: check it exists */
	if (mw_client_call(x.cl, "registered-models/get", req, &resp, &x.err) ||
	    model_versions(&x, pos[0], limit, &versions)) {
		rc = fail(&x.err);
	} else if (x.json) {
		json_t *o = json_pack("{s:o}", "model_versions", versions);
		cmd_print_json(stdout, o);
		json_decref(o);
	} else {
		print_versions(versions);
		json_decref(versions);
	}
	json_decref(resp);
	json_decref(req);
	mw_client_close(x.cl);
	return rc;
}

static int run_register(struct cmd_opt *opts, size_t nopts, const char **pos, size_t npos)
{
	(void)npos;
	struct ctx x;
	int rc = open_client(opts, nopts, &x);
	if (rc)
		return rc;
	json_t *req = json_pack("{s:s}", "name", pos[0]), *resp = NULL;
	struct mw_err e = {0};
	/* the model may exist already: RESOURCE_ALREADY_EXISTS is fine, as for MLflow */
	if (mw_client_call(x.cl, "registered-models/create", req, &resp, &e) &&
	    !strstr(e.msg, "already exists")) {
		x.err = e;
		rc = fail(&x.err);
	}
	json_decref(resp);
	resp = NULL;
	json_decref(req);
	if (!rc) {
		req = json_pack("{s:s,s:s}", "name", pos[0], "source", pos[1]);
		static const char *fields[][2] = {{"run-id", "run_id"},
						  {"model-id", "model_id"},
						  {"description", "description"}};
		for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
			if (cmd_opt(opts, nopts, fields[i][0]))
				json_object_set_new(req, fields[i][1],
						    json_string(cmd_opt(opts, nopts, fields[i][0])));
		if (mw_client_call(x.cl, "model-versions/create", req, &resp, &x.err)) {
			rc = fail(&x.err);
		} else if (x.json) {
			cmd_print_json(stdout, resp);
		} else {
			json_t *v = json_object_get(resp, "model_version");
			printf("registered %s version %s\n", jstr(v, "name"), jstr(v, "version"));
			field("pinned at", jstr(v, "storage_location"));
			field("manifest", jstr(v, "manifest_digest"));
			/* mw's note on the registration (no source, not pinned ...) */
			char *rest = NULL, *path = NULL;
			const char *ver = jstr(v, "version");
			size_t rn = strlen(ver ? ver : "") + 32;
			rest = mw_xmalloc(rn);
			snprintf(rest, rn, "versions/%s/lineage", ver ? ver : "");
			path = native_path(jstr(v, "name"), rest);
			json_t *lq = json_pack("{s:s,s:s}", "name", jstr(v, "name"), "version",
					       ver ? ver : ""),
			       *lin = NULL;
			struct mw_err e2 = {0};
			if (!mw_client_native(x.cl, "GET", path, mw_registry_lineage, lq, &lin, &e2))
				field("note", jstr(lin, "registration_note"));
			json_decref(lq);
			json_decref(lin);
			free(path);
			free(rest);
		}
		json_decref(req);
		json_decref(resp);
	}
	mw_client_close(x.cl);
	return rc;
}

/* mw models log NAME DIR: a run (given, or a new one in the Default
 * experiment or --experiment-id), DIR's files uploaded under its artifacts as
 * "model/" (MLflow's layout), then registered as a new version of NAME. */
static int run_log(struct cmd_opt *opts, size_t nopts, const char **pos, size_t npos)
{
	(void)npos;
	struct stat st;
	if (stat(pos[1], &st) || !S_ISDIR(st.st_mode)) {
		cmd_error(MW_E_INVALID, "%s is not a directory", pos[1]);
		return 2;
	}
	char *mlmodel = mw_fs_join(pos[1], "MLmodel");
	bool has_mlmodel = !stat(mlmodel, &st) && S_ISREG(st.st_mode) && st.st_size > 0;
	free(mlmodel);
	if (!has_mlmodel) {
		cmd_error(MW_E_INVALID, "%s has no MLmodel file: log an MLflow model directory",
			  pos[1]);
		return 2;
	}
	struct ctx x;
	int rc = open_client(opts, nopts, &x);
	if (rc)
		return rc;
	const char *artifact = cmd_opt(opts, nopts, "artifact-path");
	if (!artifact)
		artifact = "model";
	char *run = cmd_opt(opts, nopts, "run-id") ? mw_xstrdup(cmd_opt(opts, nopts, "run-id")) : NULL;
	json_t *req = NULL, *resp = NULL, *report = json_array();
	if (!run) {
		const char *exp = cmd_opt(opts, nopts, "experiment-id");
		req = json_pack("{s:s,s:s,s:I}", "experiment_id", exp ? exp : "0", "run_name",
				pos[0], "start_time", (json_int_t)mw_now_ms());
		if (mw_client_call(x.cl, "runs/create", req, &resp, &x.err)) {
			rc = fail(&x.err);
		} else {
			const char *id = json_string_value(json_object_get(
				json_object_get(json_object_get(resp, "run"), "info"), "run_id"));
			run = mw_xstrdup(id ? id : "");
		}
		json_decref(req);
		json_decref(resp);
		req = resp = NULL;
	}
	char *source = NULL;
	if (!rc) {
		size_t n = strlen(run) + strlen(artifact) + 16;
		source = mw_xmalloc(n);
		snprintf(source, n, "runs:/%s/%s", run, artifact);
		if (mw_cli_upload(x.cl, pos[1], source, report, &x.err))
			rc = fail(&x.err);
	}
	if (!rc) {
		req = json_pack("{s:s}", "name", pos[0]);
		struct mw_err e = {0};
		if (mw_client_call(x.cl, "registered-models/create", req, &resp, &e) &&
		    !strstr(e.msg, "already exists")) {
			x.err = e;
			rc = fail(&x.err);
		}
		json_decref(req);
		json_decref(resp);
		req = resp = NULL;
	}
	if (!rc) {
		req = json_pack("{s:s,s:s,s:s}", "name", pos[0], "source", source, "run_id", run);
		const char *d = cmd_opt(opts, nopts, "description");
		if (d)
			json_object_set_new(req, "description", json_string(d));
		if (mw_client_call(x.cl, "model-versions/create", req, &resp, &x.err)) {
			rc = fail(&x.err);
		} else if (x.json) {
			json_t *o = json_pack("{s:O,s:O,s:s}", "model_version",
					      json_object_get(resp, "model_version"), "files", report,
					      "run_id", run);
			cmd_print_json(stdout, o);
			json_decref(o);
		} else {
			json_t *v = json_object_get(resp, "model_version");
			printf("logged %zu file%s to %s\n", json_array_size(report),
			       json_array_size(report) == 1 ? "" : "s", source);
			printf("registered %s version %s\n", jstr(v, "name"), jstr(v, "version"));
			field("run", run);
			field("pinned at", jstr(v, "storage_location"));
			field("manifest", jstr(v, "manifest_digest"));
		}
		json_decref(req);
		json_decref(resp);
	}
	json_decref(report);
	free(source);
	free(run);
	mw_client_close(x.cl);
	return rc;
}

/* --evidence JSON into req["evidence"], --reason into req["reason"]. */
static int add_audit(struct cmd_opt *opts, size_t nopts, json_t *req)
{
	const char *reason = cmd_opt(opts, nopts, "reason"), *ev = cmd_opt(opts, nopts, "evidence");
	if (reason)
		json_object_set_new(req, "reason", json_string(reason));
	if (ev) {
		json_error_t je;
		json_t *j = json_loads(ev, JSON_DECODE_ANY, &je);
		if (!j || (!json_is_object(j) && !json_is_array(j))) {
			json_decref(j);
			cmd_error(MW_E_INVALID, "--evidence must be a JSON object or array (%s)",
				  j ? "got a scalar" : je.text);
			return 2;
		}
		json_object_set_new(req, "evidence", j);
	}
	return 0;
}

static int set_alias(struct ctx *x, const char *name, const char *alias, const char *version,
		     struct cmd_opt *opts, size_t nopts)
{
	json_t *req = json_pack("{s:s,s:s,s:s}", "name", name, "alias", alias, "version", version);
	if (cmd_flag(opts, nopts, "force"))
		json_object_set_new(req, "force", json_true());
	int rc = add_audit(opts, nopts, req);
	if (rc) {
		json_decref(req);
		return rc;
	}
	char *path = native_path(name, "aliases");
	json_t *resp = NULL;
	if (mw_client_native(x->cl, "POST", path, mw_registry_alias_set, req, &resp, &x->err))
		rc = fail(&x->err);
	else if (x->json)
		cmd_print_json(stdout, resp);
	else
		printf("%s@%s -> version %s\n", name, alias,
		       jstr(json_object_get(resp, "model_version"), "version"));
	free(path);
	json_decref(resp);
	json_decref(req);
	return rc;
}

static int run_alias(struct cmd_opt *opts, size_t nopts, const char **pos, size_t npos)
{
	bool del = cmd_flag(opts, nopts, "delete");
	if ((del && npos != 2) || (!del && npos != 3)) {
		fprintf(stderr, "mw models alias: expected NAME ALIAS VERSION, or NAME ALIAS --delete\n");
		return 2;
	}
	struct ctx x;
	int rc = open_client(opts, nopts, &x);
	if (rc)
		return rc;
	if (!del) {
		rc = set_alias(&x, pos[0], pos[1], pos[2], opts, nopts);
	} else {
		json_t *req = json_pack("{s:s,s:s}", "name", pos[0], "alias", pos[1]), *resp = NULL;
		if (!(rc = add_audit(opts, nopts, req))) {
			char *ea = mw_client_escape(pos[1]);
			size_t n = strlen(ea) + 16;
			char *rest = mw_xmalloc(n);
			snprintf(rest, n, "aliases/%s", ea);
			char *path = native_path(pos[0], rest);
			if (mw_client_native(x.cl, "DELETE", path, mw_registry_alias_delete, req, &resp,
					     &x.err))
				rc = fail(&x.err);
			else if (x.json)
				cmd_print_json(stdout, resp);
			else
				printf("%s@%s deleted\n", pos[0], pos[1]);
			free(path);
			free(rest);
			free(ea);
		}
		json_decref(resp);
		json_decref(req);
	}
	mw_client_close(x.cl);
	return rc;
}

static int run_promote(struct cmd_opt *opts, size_t nopts, const char **pos, size_t npos)
{
	(void)npos;
	const char *alias = cmd_opt(opts, nopts, "alias"), *stage = cmd_opt(opts, nopts, "stage");
	if (alias && stage) {
		fprintf(stderr, "mw models promote: give --alias or --stage, not both\n");
		return 2;
	}
	if (cmd_flag(opts, nopts, "archive-existing") && !stage) {
		fprintf(stderr, "mw models promote: --archive-existing goes with --stage\n");
		return 2;
	}
	struct ctx x;
	int rc = open_client(opts, nopts, &x);
	if (rc)
		return rc;
	if (!stage) {
		rc = set_alias(&x, pos[0], alias ? alias : "champion", pos[1], opts, nopts);
	} else {
		json_t *req = json_pack("{s:s,s:s,s:s,s:b}", "name", pos[0], "version", pos[1],
					"stage", stage, "archive_existing_versions",
					cmd_flag(opts, nopts, "archive-existing")),
		       *resp = NULL;
		if (!(rc = add_audit(opts, nopts, req))) {
			char *ev = mw_client_escape(pos[1]);
			size_t n = strlen(ev) + 32;
			char *rest = mw_xmalloc(n);
			snprintf(rest, n, "versions/%s/stage", ev);
			char *path = native_path(pos[0], rest);
			if (mw_client_native(x.cl, "POST", path, mw_registry_stage, req, &resp, &x.err))
				rc = fail(&x.err);
			else if (x.json)
				cmd_print_json(stdout, resp);
			else
				printf("%s version %s -> stage %s\n", pos[0], pos[1],
				       jstr(json_object_get(resp, "model_version"), "current_stage"));
			free(path);
			free(rest);
			free(ev);
		}
		json_decref(resp);
		json_decref(req);
	}
	mw_client_close(x.cl);
	return rc;
}

static int run_rollback(struct cmd_opt *opts, size_t nopts, const char **pos, size_t npos)
{
	(void)npos;
	struct ctx x;
	int rc = open_client(opts, nopts, &x);
	if (rc)
		return rc;
	json_t *req = json_pack("{s:s,s:s}", "name", pos[0], "alias", pos[1]), *resp = NULL;
	if (!(rc = add_audit(opts, nopts, req))) {
		char *path = native_path(pos[0], "rollback");
		if (mw_client_native(x.cl, "POST", path, mw_registry_rollback, req, &resp, &x.err))
			rc = fail(&x.err);
		else if (x.json)
			cmd_print_json(stdout, resp);
		else
			printf("%s@%s: version %s -> %s\n", pos[0], pos[1],
			       jstr(resp, "from_version") ? jstr(resp, "from_version") : "(unset)",
			       jstr(resp, "to_version"));
		free(path);
	}
	json_decref(resp);
	json_decref(req);
	mw_client_close(x.cl);
	return rc;
}

static void event_side(json_t *e, const char *vk, const char *sk, char out[64])
{
	const char *kind = jstr(e, "kind");
	const char *v = jstr(e, vk), *s = jstr(e, sk);
	if (kind && !strcmp(kind, "stage_transition"))
		snprintf(out, 64, "%s", s ? s : "-");
	else
		snprintf(out, 64, "%s", v ? v : "-");
}

static int run_history(struct cmd_opt *opts, size_t nopts, const char **pos, size_t npos)
{
	(void)npos;
	struct ctx x;
	int rc = open_client(opts, nopts, &x);
	if (rc)
		return rc;
	json_t *req = json_pack("{s:s}", "name", pos[0]), *resp = NULL;
	char *path = native_path(pos[0], "history");
	if (mw_client_native(x.cl, "GET", path, mw_registry_history, req, &resp, &x.err)) {
		rc = fail(&x.err);
	} else if (x.json) {
		cmd_print_json(stdout, resp);
	} else {
		json_t *ev = json_object_get(resp, "events");
		size_t n = json_array_size(ev);
		const char **cells = mw_xcalloc(n * 8 + 1, sizeof *cells);
		char (*bufs)[3][64] = mw_xcalloc(n + 1, sizeof *bufs);
		char **evid = mw_xcalloc(n + 1, sizeof *evid);
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_array_get(ev, i);
			fmt_time(e, "at", bufs[i][0]);
			event_side(e, "from_version", "from_stage", bufs[i][1]);
			event_side(e, "to_version", "to_stage", bufs[i][2]);
			json_t *evj = json_object_get(e, "evidence");
			evid[i] = evj && !json_is_null(evj)
					  ? json_dumps(evj, JSON_COMPACT | JSON_ENCODE_ANY)
					  : NULL;
			cells[i * 8] = bufs[i][0];
			cells[i * 8 + 1] = jstr(e, "kind");
			cells[i * 8 + 2] = jstr(e, "target");
			cells[i * 8 + 3] = bufs[i][1];
			cells[i * 8 + 4] = bufs[i][2];
			cells[i * 8 + 5] = jstr(e, "who") ? jstr(e, "who") : "-";
			cells[i * 8 + 6] = jstr(e, "reason") ? jstr(e, "reason") : "-";
			cells[i * 8 + 7] = evid[i] ? evid[i] : "-";
		}
		static const char *hdr[] = {"WHEN (UTC)", "KIND", "TARGET", "FROM", "TO", "WHO",
					    "REASON", "EVIDENCE"};
		cmd_table(stdout, hdr, 8, cells, n);
		for (size_t i = 0; i < n; i++)
			free(evid[i]);
		free(evid);
		free(bufs);
		free(cells);
	}
	free(path);
	json_decref(resp);
	json_decref(req);
	mw_client_close(x.cl);
	return rc;
}

static void print_lineage(json_t *l)
{
	json_t *mv = json_object_get(l, "model_version");
	char *al = aliases_text(json_object_get(mv, "aliases"));
	printf("%-14s %s version %s (%s, stage %s%s%s)\n", "model", jstr(mv, "name"),
	       jstr(mv, "version"), jstr(mv, "status"), jstr(mv, "current_stage"),
	       *al ? ", aliases " : "", al);
	free(al);
	printf("%-14s %s\n", "source", jstr(mv, "source"));
	json_t *files = json_object_get(l, "artifacts");
	if (jstr(mv, "storage_location"))
		printf("%-14s %s (%zu files, manifest sha256 %s)\n", "pinned",
		       jstr(mv, "storage_location"), json_array_size(files),
		       jstr(l, "manifest_digest") ? jstr(l, "manifest_digest") : "-");
	json_t *run = json_object_get(l, "run");
	if (json_is_object(run)) {
		json_t *info = json_object_get(run, "info");
		printf("%-14s %s (%s, %s, experiment %s)\n", "run", jstr(info, "run_id"),
		       jstr(info, "run_name") ? jstr(info, "run_name") : "-", jstr(info, "status"),
		       jstr(info, "experiment_id"));
		json_t *code = json_object_get(l, "code");
		if (jstr(code, "git_commit") || jstr(code, "source_name")) {
			printf("%-14s %s%s%s%s%s%s%s\n", "code",
			       jstr(code, "git_commit") ? "commit " : "",
			       jstr(code, "git_commit") ? jstr(code, "git_commit") : "",
			       jstr(code, "git_repo_url") ? " of " : "",
			       jstr(code, "git_repo_url") ? jstr(code, "git_repo_url") : "",
			       jstr(code, "git_branch") ? " (" : "",
			       jstr(code, "git_branch") ? jstr(code, "git_branch") : "",
			       jstr(code, "git_branch") ? ")" : "");
			if (jstr(code, "source_name"))
				printf("%-14s %s (%s)\n", "", jstr(code, "source_name"),
				       jstr(code, "source_type") ? jstr(code, "source_type") : "?");
		}
		char *p = kv_text(json_object_get(run, "params"), 200);
		if (*p)
			printf("%-14s %s\n", "params", p);
		free(p);
		char *m = kv_text(json_object_get(run, "metrics"), 200);
		if (*m)
			printf("%-14s %s\n", "metrics", m);
		free(m);
	} else if (jstr(mv, "run_id")) {
		printf("%-14s %s (not in this server)\n", "run", jstr(mv, "run_id"));
	} else {
		printf("%-14s (none)\n", "run");
	}
	json_t *ds = json_object_get(l, "datasets");
	for (size_t i = 0; i < json_array_size(ds); i++) {
		json_t *d = json_object_get(json_array_get(ds, i), "dataset");
		printf("%-14s %s (digest %s, %s)\n", i ? "" : "datasets", jstr(d, "name"),
		       jstr(d, "digest"), jstr(d, "source_type") ? jstr(d, "source_type") : "?");
	}
	json_t *lm = json_object_get(json_object_get(l, "logged_model"), "info");
	if (lm)
		printf("%-14s %s (%s, %s)\n", "logged model", jstr(lm, "model_id"), jstr(lm, "name"),
		       jstr(lm, "status"));
	size_t n = json_array_size(files);
	if (n) {
		printf("\nfiles:\n");
		const char **cells = mw_xcalloc(n * 3 + 1, sizeof *cells);
		char (*sizes)[32] = mw_xcalloc(n + 1, 32);
		for (size_t i = 0; i < n; i++) {
			json_t *f = json_array_get(files, i);
			snprintf(sizes[i], 32, "%lld",
				 (long long)json_integer_value(json_object_get(f, "size")));
			cells[i * 3] = jstr(f, "path");
			cells[i * 3 + 1] = sizes[i];
			cells[i * 3 + 2] = jstr(f, "digest");
		}
		static const char *hdr[] = {"PATH", "SIZE", "SHA256"};
		cmd_table(stdout, hdr, 3, cells, n);
		free(sizes);
		free(cells);
	}
}

static int run_lineage(struct cmd_opt *opts, size_t nopts, const char **pos, size_t npos)
{
	(void)npos;
	struct ctx x;
	int rc = open_client(opts, nopts, &x);
	if (rc)
		return rc;
	json_t *req = json_pack("{s:s,s:s}", "name", pos[0], "version", pos[1]), *resp = NULL;
	char *ev = mw_client_escape(pos[1]);
	size_t n = strlen(ev) + 32;
	char *rest = mw_xmalloc(n);
	snprintf(rest, n, "versions/%s/lineage", ev);
	char *path = native_path(pos[0], rest);
	if (mw_client_native(x.cl, "GET", path, mw_registry_lineage, req, &resp, &x.err))
		rc = fail(&x.err);
	else if (x.json)
		cmd_print_json(stdout, resp);
	else
		print_lineage(resp);
	free(path);
	free(rest);
	free(ev);
	json_decref(resp);
	json_decref(req);
	mw_client_close(x.cl);
	return rc;
}

static int read_card_file(const char *file, json_t **out)
{
	FILE *f = strcmp(file, "-") ? fopen(file, "rb") : stdin;
	if (!f) {
		cmd_error(MW_E_NOT_FOUND, "cannot open %s", file);
		return 1;
	}
	struct mw_buf b;
	mw_buf_init(&b, MAX_CARD_FILE);
	char chunk[65536];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (mw_buf_append(&b, chunk, n)) {
			cmd_error(MW_E_INVALID, "%s is larger than %u bytes", file, MAX_CARD_FILE);
			rc = 1;
			break;
		}
	if (f != stdin)
		fclose(f);
	if (!rc) {
		json_error_t je;
		json_t *j = json_loadb(b.data, b.len, 0, &je);
		if (!json_is_object(j)) {
			cmd_error(MW_E_INVALID, "%s: a model card is a JSON object (%s, line %d)",
				  file, j ? "not an object" : je.text, je.line);
			json_decref(j);
			rc = 1;
		} else {
			*out = j;
		}
	}
	mw_buf_release(&b);
	return rc;
}

static int run_card(struct cmd_opt *opts, size_t nopts, const char **pos, size_t npos)
{
	(void)npos;
	const char *file = cmd_opt(opts, nopts, "set");
	json_t *card = NULL;
	if (file && read_card_file(file, &card))
		return 1;
	struct ctx x;
	int rc = open_client(opts, nopts, &x);
	if (rc) {
		json_decref(card);
		return rc;
	}
	char *ev = mw_client_escape(pos[1]);
	size_t n = strlen(ev) + 32;
	char *rest = mw_xmalloc(n);
	snprintf(rest, n, "versions/%s/card", ev);
	char *path = native_path(pos[0], rest);
	json_t *resp = NULL, *req;
	if (card && mw_client_uri(x.cl)) {
		req = json_incref(card); /* remote: the body is the card itself */
	} else {
		req = json_pack("{s:s,s:s}", "name", pos[0], "version", pos[1]);
		if (card)
			json_object_set(req, "card", card);
	}
	int crc = card ? mw_client_native(x.cl, "PUT", path, mw_registry_card_put, req, &resp, &x.err)
		       : mw_client_native(x.cl, "GET", path, mw_registry_card_get, req, &resp, &x.err);
	if (crc)
		rc = fail(&x.err);
	else if (x.json)
		cmd_print_json(stdout, resp);
	else {
		printf("model card of %s version %s\n\n", pos[0], pos[1]);
		print_card(resp);
	}
	free(path);
	free(rest);
	free(ev);
	json_decref(req);
	json_decref(card);
	json_decref(resp);
	mw_client_close(x.cl);
	return rc;
}

/* ------------------------------------------------------------ dispatch */

#define AUDIT_OPTS                                                                     \
	{"reason", "TEXT", "why (recorded in the promotion history)", NULL, false},        \
	{"evidence", "JSON", "linked evidence, a JSON object or array (e.g. eval run ids)", \
	 NULL, false}

static struct sub subs[] = {
	{"list",
	 "mw models list [--filter F] [--order-by EXPR] [--max N] [--json]",
	 "List registered models: name, latest version, aliases, last update.  Filters use\n"
	 "MLflow's grammar: --filter \"name LIKE 'fraud%'\", --filter \"tags.team = 'risk'\".",
	 0,
	 run_list,
	 {CMD_CLIENT_OPTS,
	  {"filter", "FILTER", "MLflow search filter (name, tags.<key>)", NULL, false},
	  {"order-by", "EXPR", "e.g. \"name ASC\" or \"last_updated_timestamp DESC\"", NULL, false},
	  {"max", "N", "at most N models (default 1000)", NULL, false}}},
	{"show",
	 "mw models show NAME [--version V] [--json]",
	 "Show a model with its aliases and versions; with --version, one version and its model\n"
	 "card.",
	 1,
	 run_show,
	 {CMD_CLIENT_OPTS, {"version", "V", "show this version and its model card", NULL, false}}},
	{"versions",
	 "mw models versions NAME [--max N] [--json]",
	 "List the versions of a model, newest first.",
	 1,
	 run_versions,
	 {CMD_CLIENT_OPTS, {"max", "N", "at most N versions", NULL, false}}},
	{"register",
	 "mw models register NAME SOURCE [--run-id ID] [--model-id ID] [--description D] [--json]",
	 "Register SOURCE as a new version of NAME (the model is created when missing).  SOURCE\n"
	 "is runs:/<run_id>/<path>, models:/<m-id>, models:/<name>/<version>,\n"
	 "mlflow-artifacts:/<path>, or - with --data-dir only - a local directory, whose files\n"
	 "are copied into the data directory.  The version pins the files it names.",
	 2,
	 run_register,
	 {CMD_CLIENT_OPTS,
	  {"run-id", "ID", "the run that produced the model (lineage)", NULL, false},
	  {"model-id", "ID", "the MLflow 3 logged model (m-...)", NULL, false},
	  {"description", "TEXT", "version description", NULL, false}}},
	{"log",
	 "mw models log NAME DIR [--run-id ID | --experiment-id ID] [--artifact-path P] [--description D] [--json]",
	 "Upload a local MLflow model directory (with its MLmodel) as a run's artifacts\n"
	 "(runs:/<run>/model, MLflow's layout; a new run in the Default experiment or\n"
	 "--experiment-id unless --run-id names one) and register it as a new version of NAME,\n"
	 "in one command, with progress.  Files are streamed and SHA-256 hashed.",
	 2,
	 run_log,
	 {CMD_CLIENT_OPTS,
	  {"run-id", "ID", "log to this run instead of a new one", NULL, false},
	  {"experiment-id", "ID", "the new run's experiment (default 0, Default)", NULL, false},
	  {"artifact-path", "P", "where under the run's artifacts (default model)", NULL, false},
	  {"description", "TEXT", "version description", NULL, false}}},
	{"alias",
	 "mw models alias NAME ALIAS VERSION [--force] [--reason R] [--evidence JSON] [--json]\n"
	 "   or: mw models alias NAME ALIAS --delete [--reason R]",
	 "Point ALIAS (e.g. champion) at VERSION, or delete it; audited in the history.  A move\n"
	 "to a version whose MLmodel signature (inputs, outputs) differs from the current one's\n"
	 "is refused, with the difference, unless --force.",
	 -1,
	 run_alias,
	 {CMD_CLIENT_OPTS,
	  AUDIT_OPTS,
	  {"delete", NULL, "delete the alias instead", NULL, false},
	  {"force", NULL, "move even when the signature changes", NULL, false}}},
	{"promote",
	 "mw models promote NAME VERSION [--alias A [--force] | --stage S [--archive-existing]] [--reason R] [--evidence JSON]",
	 "Promote VERSION: point an alias at it (default --alias champion), or move it to a\n"
	 "stage (None, Staging, Production, Archived); --archive-existing archives the versions\n"
	 "that were in that stage.  Audited, with reason and evidence, in the history.",
	 2,
	 run_promote,
	 {CMD_CLIENT_OPTS,
	  AUDIT_OPTS,
	  {"alias", "A", "alias to point at VERSION (default champion)", NULL, false},
	  {"force", NULL, "with --alias: move even when the signature changes", NULL, false},
	  {"stage", "S", "stage to move VERSION to", NULL, false},
	  {"archive-existing", NULL, "with --stage Staging/Production: archive the others", NULL,
	   false}}},
	{"rollback",
	 "mw models rollback NAME ALIAS [--reason R] [--evidence JSON] [--json]",
	 "Re-point ALIAS to the version it pointed to before (repeat to go further back).",
	 2,
	 run_rollback,
	 {CMD_CLIENT_OPTS, AUDIT_OPTS}},
	{"history",
	 "mw models history NAME [--json]",
	 "The promotion history: every alias move, rollback, stage transition and deletion,\n"
	 "with who, when, from, to, reason and evidence.",
	 1,
	 run_history,
	 {CMD_CLIENT_OPTS}},
	{"lineage",
	 "mw models lineage NAME VERSION [--json]",
	 "The chain behind a version: run, code commit, params, metrics, datasets, logged model\n"
	 "and the pinned files with their SHA-256.",
	 2,
	 run_lineage,
	 {CMD_CLIENT_OPTS}},
	{"card",
	 "mw models card NAME VERSION [--set FILE] [--json]",
	 "Show a version's model card, or replace it with the JSON object in FILE (- = stdin).\n"
	 "Fields: intended_use, training_data, evaluation_data, slice_metrics (object or\n"
	 "array), failure_modes, latency_profile, cost_profile, owner, markdown.",
	 2,
	 run_card,
	 {CMD_CLIENT_OPTS, {"set", "FILE", "write the card from a JSON file", NULL, false}}},
};

#define NSUBS (sizeof subs / sizeof *subs)

static const char USAGE[] =
	"mw models <list|show|versions|register|log|alias|promote|rollback|history|lineage|card> ...";

static void models_usage(FILE *f)
{
	fprintf(f, "usage: %s\n\nThe model registry: registered models, versions, aliases, stages,\n"
		   "model cards, lineage and the promotion history.\n\ncommands:\n",
		USAGE);
	for (size_t i = 0; i < NSUBS; i++)
		fprintf(f, "  %s\n", subs[i].usage);
	fprintf(f, "\nEach command answers --help.  Commands talk to the server named by --uri or\n"
		   "MW_URI, or else work directly on the data directory (--data-dir, MW_DATA_DIR).\n");
}

int cmd_models(int argc, char **argv)
{
	if (argc < 2) {
		models_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		models_usage(stdout);
		return 0;
	}
	struct sub *s = NULL;
	for (size_t i = 0; i < NSUBS; i++)
		if (!strcmp(subs[i].name, argv[1]))
			s = &subs[i];
	if (!s) {
		fprintf(stderr, "mw models: unknown command '%s'\n", argv[1]);
		models_usage(stderr);
		return 2;
	}
	size_t nopts = 0;
	while (nopts < sizeof s->opts / sizeof *s->opts && s->opts[nopts].name)
		nopts++;
	const char *pos[4];
	size_t npos;
	int prc = cmd_parse(argc - 1, argv + 1, s->opts, nopts, pos, 3, &npos, s->usage, s->about);
	if (prc)
		return prc < 0 ? 2 : 0;
	if (s->npos >= 0 && npos != (size_t)s->npos) {
		cmd_usage(stderr, s->opts, nopts, s->usage, NULL);
		return 2;
	}
	return s->run(s->opts, nopts, pos, npos);
}
