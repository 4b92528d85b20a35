/*
 * serve.c - `mw serve MODEL` (a standalone model server, e.g. one replica)
 * and `mw predict MODEL --input FILE` (one prediction, no server).
 *
 * MODEL is a local model directory or file, or models:/<name>@<alias> /
 * models:/<name>/<version>.  A models:/ URI is resolved through the server
 * named by --uri / MW_URI (files downloaded, SHA-256 verified, into
 * <data-dir>/serve-cache; the alias is polled and a moved alias is loaded,
 * warmed and swapped in with no failed request), or else through the
 * registry in --data-dir directly.
 */
#include "cmd/cmd.h"

#include "api/api.h"
#include "art/art.h"
#include "http/http.h"
#include "registry/registry.h"
#include "serve/serve.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *serve_flags[] = {"host", "port", "data-dir", "log-level", "threads",
				    "max-body", "max-json-depth", "batch-size", "batch-delay-us",
				    "max-queue", "infer-timeout-ms", "cache-bytes", "cache-ttl-ms",
				    "python", "python-workers", "default-alias", "alias-poll-ms",
				    "prediction-log", "prediction-log-queue", "shutdown-timeout"};
#define NFLAGS (sizeof serve_flags / sizeof *serve_flags)

/* models:/name@alias or models:/name/version into name and "@alias"/"3". */
static int parse_model_uri(const char *uri, char **name, char **bind, struct mw_err *err)
{
	const char *m = uri + 8;
	const char *at = strchr(m, '@'), *slash = strchr(m, '/');
	if (at && at > m && at[1]) {
		*name = mw_xstrndup(m, (size_t)(at - m));
		*bind = mw_xstrdup(at);
		return 0;
	}
	if (slash && slash > m && slash[1]) {
		*name = mw_xstrndup(m, (size_t)(slash - m));
		*bind = mw_xstrdup(slash + 1);
		return 0;
	}
	if (*m && !slash && !at) {
		*name = mw_xstrdup(m);
		*bind = NULL;
		return 0;
	}
	return mw_err_set(err, MW_E_INVALID,
			  "'%s': use a directory, models:/<name>@<alias> or models:/<name>/<version>",
			  uri);
}

/* Remote mode: the version an alias (or version) names on the server. */
static int remote_version(struct mw_client *cl, const char *name, const char *bind, char **ver,
			  struct mw_err *err)
{
	if (bind && bind[0] != '@') {
		*ver = mw_xstrdup(bind);
		return 0;
	}
	json_t *req = json_pack("{s:s,s:s}", "name", name, "alias", bind ? bind + 1 : "champion");
	json_t *resp = NULL;
	int rc = mw_client_request(cl, "GET", "registered-models/alias", req, &resp, err);
	json_decref(req);
	if (!rc) {
		const char *v = json_string_value(
			json_object_get(json_object_get(resp, "model_version"), "version"));
		*ver = mw_xstrdup(v ? v : "");
	}
	json_decref(resp);
	return rc;
}

/* Remote mode: download name/version into the cache (once) and serve it. */
static int remote_load(struct mw_client *cl, struct mw_serve *sv, const char *data_dir,
		       const char *name, const char *ver, struct mw_err *err)
{
	size_t n = strlen(data_dir) + strlen(name) + strlen(ver) + 64;
	char *dir = mw_xmalloc(n);
	snprintf(dir, n, "%s/serve-cache/%s/%s", data_dir, name, ver);
	for (char *p = dir + strlen(data_dir) + 13; *p; p++)
		if (*p == '.' && p[1] == '.')
			*p = '_';
	struct stat st;
	int rc = 0;
	char *done = mw_xmalloc(n + 16);
	snprintf(done, n + 16, "%s/.complete", dir);
	if (stat(done, &st)) {
		char *p = mw_xstrdup(dir);
		for (char *q = p + 1; *q; q++)
			if (*q == '/') {
				*q = 0;
				mkdir(p, 0755);
				*q = '/';
			}
		mkdir(p, 0755);
		free(p);
		char uri[512];
		snprintf(uri, sizeof uri, "models:/%s/%s", name, ver);
		rc = mw_cli_download(cl, uri, dir, err);
		if (!rc) {
			FILE *f = fopen(done, "w");
			if (f)
				fclose(f);
		}
	}
	free(done);
	if (!rc)
		rc = mw_serve_add_dir(sv, name, ver, dir, err);
	free(dir);
	return rc;
}

int cmd_serve(int argc, char **argv)
{
	struct mw_settings *set = mw_settings_new();
	struct cmd_opt opts[NFLAGS + 3];
	char *helps[NFLAGS];
	size_t no = 0;
	for (size_t i = 0; i < NFLAGS; i++) {
		const struct mw_setting *row = NULL;
		for (size_t k = 0; k < mw_settings_count(set); k++)
			if (!strcmp(mw_settings_at(set, k)->name, serve_flags[i]))
				row = mw_settings_at(set, k);
		size_t n = strlen(row->help) + strlen(row->def) + 32;
		helps[i] = mw_xmalloc(n);
		snprintf(helps[i], n, "%s (default %s)", row->help,
			 !strcmp(row->name, "port") ? "8080" : row->def);
		opts[no++] = (struct cmd_opt){row->name, "VALUE", helps[i], NULL, false};
	}
	opts[no++] = (struct cmd_opt){"name", "NAME", "the name the model is served under", NULL,
				      false};
	opts[no++] = (struct cmd_opt){"uri", "URL",
				      "registry server for models:/ URIs (default: env MW_URI)",
				      NULL, false};
	const char *pos[2];
	size_t npos;
	int ret = 0;
	int prc = cmd_parse(argc, argv, opts, no, pos, 1, &npos, "mw serve MODEL [options]",
			    "Serve one model over the Open Inference Protocol (/v2/models/<name>/infer)\n"
			    "and MLflow's scoring protocol (/invocations, /ping), with dynamic batching,\n"
			    "/metrics and the prediction log.  MODEL is a model directory or file, or\n"
			    "models:/<name>@<alias> or models:/<name>/<version> (through --uri/MW_URI, or\n"
			    "the registry in --data-dir).  When the alias moves, the new version is\n"
			    "loaded, warmed and swapped in while requests keep being answered.");
	struct mw_err err = {0};
	struct mw_store *store = NULL;
	struct mw_blob *blob = NULL;
	struct mw_art *art = NULL;
	struct mw_registry *reg = NULL;
	struct mw_serve *sv = NULL;
	struct mw_http_server *http = NULL;
	struct mw_client *cl = NULL;
	char *name = NULL, *bind = NULL, *cur = NULL;
	if (prc || npos != 1) {
		if (!prc)
			cmd_usage(stderr, opts, no, "mw serve MODEL [options]", NULL);
		ret = prc > 0 ? 0 : 2;
		goto out;
	}
	mw_settings_apply_flag(set, "port", "8080", &err);
	mw_settings_load_env(set);
	for (size_t i = 0; i < NFLAGS; i++)
		if (opts[i].set)
			mw_settings_apply_flag(set, opts[i].name, opts[i].value, &err);
	enum mw_log_level lvl;
	if (mw_log_parse_level(mw_settings_get(set, "log-level"), &lvl)) {
		fprintf(stderr, "mw: --log-level must be debug, info, warn, error or off\n");
		ret = 2;
		goto out;
	}
	mw_log_set_level(lvl);
	long long port, threads, max_body, depth, drain;
	if (mw_settings_get_int(set, "port", 0, 65535, &port, &err) ||
	    mw_settings_get_int(set, "threads", 0, 1024, &threads, &err) ||
	    mw_settings_get_int(set, "max-body", 1024, 1ll << 40, &max_body, &err) ||
	    mw_settings_get_int(set, "max-json-depth", 2, 1000, &depth, &err) ||
	    mw_settings_get_int(set, "shutdown-timeout", 0, 3600, &drain, &err)) {
		fprintf(stderr, "mw: %s\n", err.msg);
		ret = 2;
		goto out;
	}
	if (!threads)
		threads = 4;
	const char *dir = mw_settings_get(set, "data-dir");
	const char *model = pos[0];
	const char *uri = cmd_opt(opts, no, "uri");
	if (!uri || !*uri)
		uri = getenv("MW_URI");
	bool is_uri = !strncmp(model, "models:/", 8);
	bool remote = is_uri && uri && *uri;
	mkdir(dir, 0755);

	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (is_uri && parse_model_uri(model, &name, &bind, &err)) {
		fprintf(stderr, "mw: %s\n", err.msg);
		ret = 2;
		goto out;
	}
	if (is_uri && !remote) {
		struct mw_store_opts so = {.data_dir = dir, .read_conns = 4, .sync_full = true};
		struct mw_blob_opts bo = {.data_dir = dir};
		if (mw_store_open(&so, &store, &err) || mw_blob_open(&bo, &blob, &err) ||
		    mw_art_new(store, blob, &art, &err) ||
		    mw_registry_new(store, blob, &reg, &err)) {
			fprintf(stderr, "mw: %s\n", err.msg);
			ret = 1;
			goto out;
		}
	}
	struct mw_serve_opts svo;
	if (cmd_serve_options(set, dir, &svo, &err)) {
		fprintf(stderr, "mw: %s\n", err.msg);
		ret = 2;
		goto out;
	}
	if (reg)
		svo.source = mw_serve_registry_source(reg, art, dir);
	if (mw_serve_new(&svo, &sv, &err)) {
		fprintf(stderr, "mw: %s\n", err.msg);
		ret = 1;
		goto out;
	}
	if (!is_uri) {
		const char *nm = cmd_opt(opts, no, "name");
		if (!nm) {
			const char *base = strrchr(model, '/');
			base = base && base[1] ? base + 1 : model;
			nm = base;
		}
		name = mw_xstrdup(nm);
		if (mw_serve_add_dir(sv, name, NULL, model, &err)) {
			fprintf(stderr, "mw: cannot serve %s: %s\n", model, err.msg);
			ret = 1;
			goto out;
		}
	} else if (remote) {
		if (mw_client_open(uri, NULL, &cl, &err) ||
		    remote_version(cl, name, bind, &cur, &err) ||
		    remote_load(cl, sv, dir, name, cur, &err)) {
			fprintf(stderr, "mw: cannot serve %s: %s\n", model, err.msg);
			ret = 1;
			goto out;
		}
	} else if (mw_serve_bind(sv, name, bind ? bind : "@champion", &err)) {
		fprintf(stderr, "mw: cannot serve %s: %s\n", model, err.msg);
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
		.serve = sv,
		.default_model = name,
		.store = store,
		.http = http,
		.settings = set,
		.max_json_depth = (int)depth,
		.start_ms = mw_now_ms(),
	};
	mw_api_ops_register(&ctx, http);
	mw_api_serving_register(&ctx, http);
	if (mw_http_start(http, &err)) {
		fprintf(stderr, "mw: %s\n", err.msg);
		ret = 1;
		goto out;
	}
	mw_info("mw serve: %s as '%s' on http://%s:%d", model, name, ho.host, mw_http_port(http));

	long long poll = 1000;
	mw_settings_get_int(set, "alias-poll-ms", 0, 3600000, &poll, &err);
	int sig = 0;
	uint64_t next = mw_mono_ns() + (uint64_t)poll * 1000000ull;
	for (;;) {
		struct timespec tick = {0, 100 * 1000000L};
		sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig > 0)
			break;
		if (remote && poll > 0 && (!bind || bind[0] == '@') && mw_mono_ns() >= next) {
			next = mw_mono_ns() + (uint64_t)poll * 1000000ull;
			char *v = NULL;
			struct mw_err e2 = {0};
			if (!remote_version(cl, name, bind, &v, &e2) && strcmp(v, cur)) {
				mw_info("mw serve: %s moved from %s to %s; loading", name, cur, v);
				if (remote_load(cl, sv, dir, name, v, &e2)) {
					mw_warn("mw serve: version %s failed, %s keeps serving: %s", v, cur,
						e2.msg);
				} else {
					free(cur);
					cur = v;
					v = NULL;
				}
			}
			free(v);
		}
	}
	mw_info("signal %d: stopping", sig);
	mw_http_quiesce(http);
	mw_serve_stop(sv);
	uint64_t deadline = mw_mono_ns() + (uint64_t)drain * 1000000000ull;
	while (mw_http_inflight(http) > 0 && mw_mono_ns() < deadline) {
		struct timespec ts = {0, 5 * 1000000};
		nanosleep(&ts, NULL);
	}
out:
	if (sv)
		mw_serve_stop(sv);
	mw_http_free(http);
	mw_serve_free(sv);
	mw_client_close(cl);
	mw_registry_free(reg);
	mw_art_free(art);
	mw_blob_close(blob);
	mw_store_close(store);
	free(name);
	free(bind);
	free(cur);
	for (size_t i = 0; i < NFLAGS; i++)
		free(helps[i]);
	mw_settings_free(set);
	return ret;
}

/* ------------------------------------------------------------ predict */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

struct wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
};

static void predict_done(struct mw_infer *inf, void *ud)
{
	(void)inf;
	struct wait *w = ud;
	pthread_mutex_lock(&w->mu);
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Rows of a CSV (header row optional) or a JSON file ({"inputs": [[...]]},
 * dataframe_split, or a bare list of rows) into x. */
static int read_rows(const char *path, size_t nf, float **x, size_t *rows, struct mw_err *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return mw_err_set(err, MW_E_NOT_FOUND, "cannot open %s: %s", path, strerror(errno));
	struct mw_buf b;
	mw_buf_init(&b, 512u << 20);
	char buf[65536];
	size_t k;
	int rc = 0;
	while (!rc && (k = fread(buf, 1, sizeof buf, f)) > 0)
		rc = mw_buf_append(&b, buf, k);
	fclose(f);
	if (rc) {
		mw_buf_release(&b);
		return mw_err_set(err, MW_E_TOO_LARGE, "%s is larger than 512 MiB", path);
	}
	json_t *data = NULL;
	size_t n = strlen(path);
	if (n > 5 && !strcmp(path + n - 5, ".json")) {
		json_error_t je;
		json_t *doc = json_loadb(b.data, b.len, 0, &je);
		if (!doc) {
			mw_buf_release(&b);
			return mw_err_set(err, MW_E_INVALID, "%s: %s (line %d)", path, je.text, je.line);
		}
		json_t *v = json_is_array(doc) ? doc : NULL;
		if (!v)
			v = json_object_get(doc, "inputs");
		if (!v)
			v = json_object_get(doc, "instances");
		if (!v)
			v = json_object_get(json_object_get(doc, "dataframe_split"), "data");
		data = json_incref(v);
		json_decref(doc);
	} else { /* CSV */
		data = json_array();
		char *save = NULL;
		for (char *line = strtok_r(b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			json_t *row = json_array();
			bool numeric = true;
			char *s2 = NULL;
			for (char *c = strtok_r(line, ",\r", &s2); c; c = strtok_r(NULL, ",\r", &s2)) {
				double d;
				if (mw_parse_double(c, &d))
					numeric = false;
				json_array_append_new(row, json_real(d));
			}
			if (numeric && json_array_size(row))
				json_array_append_new(data, row);
			else
				json_decref(row);
		}
	}
	mw_buf_release(&b);
	if (!json_is_array(data)) {
		json_decref(data);
		return mw_err_set(err, MW_E_INVALID,
				  "%s: expected rows (a list of lists, inputs, instances or "
				  "dataframe_split)",
				  path);
	}
	size_t nr = json_array_size(data);
	float *out = mw_xmalloc((nr ? nr : 1) * nf * sizeof(float));
	for (size_t r = 0; !rc && r < nr; r++) {
		json_t *row = json_array_get(data, r);
		if (json_array_size(row) != nf) {
			rc = mw_err_set(err, MW_E_INVALID, "row %zu has %zu values, the model takes %zu",
					r + 1, json_array_size(row), nf);
			break;
		}
		for (size_t c = 0; c < nf; c++) {
			json_t *v = json_array_get(row, c);
			out[r * nf + c] = json_is_number(v) ? (float)json_number_value(v) : (float)NAN;
		}
	}
	json_decref(data);
	if (rc) {
		free(out);
		return rc;
	}
	*x = out;
	*rows = nr;
	return 0;
}

int cmd_predict(int argc, char **argv)
{
	struct cmd_opt opts[] = {
		{"input", "FILE", "rows to predict: .json (inputs/instances/dataframe_split or a list "
				  "of rows) or .csv",
		 NULL, false},
		{"data-dir", "DIR", "registry for models:/ URIs without --uri (default ./mw-data)", NULL,
		 false},
		{"uri", "URL", "registry server for models:/ URIs (default: env MW_URI)", NULL, false},
		{"json", NULL, "print {\"predictions\": [...]} instead of one line per row", NULL, false},
	};
	size_t no = sizeof opts / sizeof *opts;
	const char *pos[2];
	size_t npos;
	int prc = cmd_parse(argc, argv, opts, no, pos, 1, &npos,
			    "mw predict MODEL --input FILE [--json]",
			    "Load a model (a directory or file, or models:/<name>@<alias> or\n"
			    "models:/<name>/<version>) with the runtime that serves it and predict the\n"
			    "rows of FILE, without starting a server.");
	if (prc)
		return prc < 0 ? 2 : 0;
	const char *input = cmd_opt(opts, no, "input");
	if (npos != 1 || !input) {
		cmd_usage(stderr, opts, no, "mw predict MODEL --input FILE [--json]", NULL);
		return 2;
	}
	mw_log_set_level(MW_LOG_WARN);
	signal(SIGPIPE, SIG_IGN);
	struct mw_err err = {0};
	const char *dir = cmd_opt(opts, no, "data-dir");
	if (!dir)
		dir = getenv("MW_DATA_DIR");
	if (!dir)
		dir = "./mw-data";
	const char *uri = cmd_opt(opts, no, "uri");
	if (!uri)
		uri = getenv("MW_URI");
	const char *model = pos[0];
	bool is_uri = !strncmp(model, "models:/", 8);
	struct mw_store *store = NULL;
	struct mw_blob *blob = NULL;
	struct mw_art *art = NULL;
	struct mw_registry *reg = NULL;
	struct mw_client *cl = NULL;
	struct mw_serve *sv = NULL;
	struct mw_served *m = NULL;
	char *name = NULL, *bind = NULL, *ver = NULL, *tmpdir = NULL;
	float *x = NULL;
	int ret = 1;
	struct mw_serve_opts so = {.python = "/usr/bin/python3", .python_workers = 1};
	so.batching.max_batch_rows = 1 << 30;
	so.batching.max_queue = 4;
	so.batching.timeout_ms = 600000;
	if (is_uri && parse_model_uri(model, &name, &bind, &err))
		goto fail;
	if (is_uri && !(uri && *uri)) {
		struct mw_store_opts sto = {.data_dir = dir, .read_conns = 1, .sync_full = true};
		struct mw_blob_opts bo = {.data_dir = dir};
		if (mw_store_open(&sto, &store, &err) || mw_blob_open(&bo, &blob, &err) ||
		    mw_art_new(store, blob, &art, &err) || mw_registry_new(store, blob, &reg, &err))
			goto fail;
		so.source = mw_serve_registry_source(reg, art, dir);
	}
	if (mw_serve_new(&so, &sv, &err))
		goto fail;
	if (!is_uri) {
		name = mw_xstrdup("model");
		if (mw_serve_add_dir(sv, name, NULL, model, &err))
			goto fail;
	} else if (uri && *uri) {
		char tmpl[] = "/tmp/mw-predict-XXXXXX";
		if (!mkdtemp(tmpl)) {
			mw_err_set(&err, MW_E_IO, "cannot create a temporary directory");
			goto fail;
		}
		tmpdir = mw_xstrdup(tmpl);
		if (mw_client_open(uri, NULL, &cl, &err) || remote_version(cl, name, bind, &ver, &err))
			goto fail;
		char u[512];
		snprintf(u, sizeof u, "models:/%s/%s", name, ver);
		if (mw_cli_download(cl, u, tmpdir, &err) || mw_serve_add_dir(sv, name, ver, tmpdir, &err))
			goto fail;
	} else if (mw_serve_bind(sv, name, bind ? bind : "@champion", &err)) {
		goto fail;
	}
	if (mw_serve_acquire(sv, name, NULL, &m, &err))
		goto fail;
	size_t rows = 0, nf = mw_served_num_features(m);
	if (read_rows(input, nf, &x, &rows, &err))
		goto fail;
	struct wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
	struct mw_infer inf = {.x = x, .rows = rows, .cols = nf, .done = predict_done, .ud = &w};
	if (mw_served_submit(m, &inf, &err))
		goto fail;
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	if (inf.rc) {
		err = inf.err;
		goto fail;
	}
	if (cmd_flag(opts, no, "json")) {
		json_t *preds = json_array();
		for (size_t r = 0; r < rows; r++) {
			if (inf.ycols == 1) {
				json_array_append_new(preds, json_real(inf.y[r]));
				continue;
			}
			json_t *row = json_array();
			for (size_t c = 0; c < inf.ycols; c++)
				json_array_append_new(row, json_real(inf.y[r * inf.ycols + c]));
			json_array_append_new(preds, row);
		}
		json_t *o = json_pack("{s:o,s:s,s:s}", "predictions", preds, "model",
				      mw_served_name(m), "version", mw_served_version(m));
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
		printf("%s\n", s);
		free(s);
		json_decref(o);
	} else {
		for (size_t r = 0; r < rows; r++) {
			for (size_t c = 0; c < inf.ycols; c++)
				printf("%s%.9g", c ? "," : "", inf.y[r * inf.ycols + c]);
			printf("\n");
		}
	}
	free(inf.y);
	ret = 0;
	goto done;
fail:
	fprintf(stderr, "mw: %s\n", err.msg);
done:
	mw_served_release(m);
	mw_serve_free(sv);
	mw_client_close(cl);
	mw_registry_free(reg);
	mw_art_free(art);
	mw_blob_close(blob);
	mw_store_close(store);
	if (tmpdir)
		nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(tmpdir);
	free(x);
	free(name);
	free(bind);
	free(ver);
	return ret;
}
