/*
 * serve.c - `mw serve MODEL` (a standalone model server, e.g. one replica)
 * and `mw predict MODEL --input FILE` (one prediction, no server).
 *
 * Thin: both parse options and hand the model to the application object
 * (app/: mw_app_one_model), which builds the serve object, binds the model
 * (the bind row: a directory is added, a models:/ URI bound to its
 * reference) and, for mw serve, the HTTP server with the inference and
 * operations routes.  MODEL is a local model directory or file, or
 * models:/<name>@<alias> / models:/<name>/<version|stage|latest> /
 * models:/<name>.  With --uri / MW_URI a models:/ URI resolves through that
 * server: this file gives the app the remote model source
 * (cmd/remote_source.c; files downloaded, SHA-256 verified, into
 * <data-dir>/serve-cache), and the serve object's watcher follows a moved
 * alias as it does for the registry in --data-dir.
 */
#include "cmd/cmd.h"

#include "app/app.h"
#include "serve/serve.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The settings mw serve offers as flags (the rest keep their defaults, or
 * come from MW_* variables). */
static const char *const serve_flags[] = {
	"host",
	"port",
	"data-dir",
	"store-uri",
	"log-level",
	"threads",
	"max-body",
	"max-json-depth",
	"max-json-values",
	"max-connections",
	"max-header-bytes",
	"max-response-memory",
	"max-connections-per-client",
	"header-timeout",
	"body-timeout",
	"body-min-rate",
	"idle-timeout",
	"shutdown-timeout",
	"batch-size",
	"batch-delay-us",
	"max-queue",
	"infer-timeout-ms",
	"cache-bytes",
	"cache-ttl-ms",
	"python",
	"python-workers",
	"default-alias",
	"alias-poll-ms",
	"prediction-log",
	"prediction-log-queue",
	"max-loaded-versions",
	"max-python-workers",
	"model-idle-unload",
	"max-queue-bytes",
	"proxy-upstreams",
	"python-worker-memory",
	"python-worker-cpu-seconds",
	"python-worker-max-files",
	"python-worker-max-procs",
	"python-worker-user",
	"auth",
	"auth-open-health",
	"tls-cert",
	"tls-key",
};

static const char serve_usage[] = "mw serve MODEL [options]";
static const char serve_about[] =
	"Serve one model over the Open Inference Protocol (/v2/models/<name>/infer)\n"
	"and MLflow's scoring protocol (/invocations, /ping), with dynamic batching,\n"
	"/metrics and the prediction log.  MODEL is a model directory or file, or\n"
	"models:/<name>@<alias>, models:/<name>/<version> or models:/<name> (through\n"
	"--uri/MW_URI, or the registry in --data-dir).  When the alias moves, the new\n"
	"version is loaded, warmed and swapped in while requests keep being answered.\n"
	"Every option can also be set as MW_<NAME> (dashes as underscores).";

/* A models:/ URI through a server: the client and the remote source. */
struct remote {
	struct mw_client *cl;
	struct mw_model_source *src;
};

static int remote_open(const char *model, const char *uri, const char *root, struct remote *r,
		       struct mw_err *err)
{
	memset(r, 0, sizeof *r);
	if (!uri || !*uri)
		uri = getenv("MW_URI");
	if (!mw_uri_prefix(model, "models:/") || !uri || !*uri)
		return 0; /* a directory, or the registry in --data-dir */
	int rc = mw_client_open(uri, NULL, &r->cl, err);
	if (!rc)
		r->src = cmd_remote_source(r->cl, root);
	return rc;
}

static void remote_close(struct remote *r)
{
	if (r->src)
		r->src->ops->free(r->src);
	mw_client_close(r->cl);
}

static int serve_run(struct mw_settings *set, const char *model, const char *name, const char *uri)
{
	struct mw_err err = {0};
	struct remote r;
	char *cache = mw_fs_join(mw_settings_get(set, "data-dir"), "serve-cache");
	int rc = remote_open(model, uri, cache, &r, &err);
	free(cache);
	if (!rc) {
		struct mw_app_model one = {.model = model, .name = name, .source = r.src};
		size_t n;
		const struct mw_app_module *const *mods = mw_app_one_model(&one, true, &n);
		struct mw_app_opts o = {.settings = set,
					.modules = mods,
					.nmodules = n,
					.model = &one};
		struct mw_app *app = mw_app_new(&o);
		rc = mw_app_run(app, &err);
		mw_app_free(app);
	}
	remote_close(&r);
	if (rc)
		cmd_fail(&err);
	return rc ? 1 : 0;
}

int cmd_serve(int argc, char **argv)
{
	struct cmd_opt extra[] = {
		{"name", "NAME", "the name the model is served under", NULL, false},
		{"uri", "URL", "registry server for models:/ URIs (default: env MW_URI)", NULL,
		 false},
	};
	const char *pos[1];
	size_t npos = 0;
	struct cmd_settings_spec sp = {
		.usage = serve_usage,
		.about = serve_about,
		.only = serve_flags,
		.nonly = sizeof serve_flags / sizeof *serve_flags,
		.extra = extra,
		.nextra = sizeof extra / sizeof *extra,
		.pos = pos,
		.maxpos = 1,
		.npos = &npos,
	};
	struct mw_settings *set = mw_settings_new();
	struct mw_err err = {0};
	mw_settings_set(set, "port", "8080", "default", &err); /* mw serve's own defaults */
	/* inference requests carry short headers; libmicrohttpd clears a
	 * connection's whole header memory before every request, so mw server's
	 * 64 KiB (long tracking GET queries) would cost every inference a 64 KiB
	 * memset (~15% of CPU at 40k req/s) */
	mw_settings_set(set, "max-header-bytes", "16384", "default", &err);
	int prc = cmd_settings_parse_ex(set, argc, argv, &sp);
	int ret;
	if (prc)
		ret = prc > 0 ? 0 : 2;
	else if (npos != 1) {
		cmd_error(MW_E_INVALID, "mw serve needs one MODEL");
		ret = 2;
	} else
		ret = serve_run(set, pos[0], cmd_opt(extra, 2, "name"), cmd_opt(extra, 2, "uri"));
	mw_settings_free(set);
	return ret;
}

/* ------------------------------------------------------------ predict */

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

/* The rows of a .json file (an object with inputs, instances,
 * dataframe_split or dataframe_records, or a bare list of rows) or of a CSV
 * file, through serve/'s row parser: the same rules and errors as
 * /invocations, so a bad cell names its line or row instead of being
 * dropped. */
static int read_rows(const char *path, const struct mw_served *m, struct mw_rows *out,
		     struct mw_err *err)
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
	struct mw_rows_schema sc;
	mw_served_schema(m, &sc);
	size_t n = strlen(path);
	if (n > 5 && !strcmp(path + n - 5, ".json")) {
		json_error_t je;
		json_t *doc = NULL;
		if (mw_json_depth(b.data, b.len, 64) > 64)
			rc = mw_err_set(err, MW_E_INVALID, "JSON nested deeper than 64 levels");
		else if (!(doc = json_loadb(b.data, b.len, JSON_DECODE_ANY, &je)))
			rc = mw_err_set(err, MW_E_INVALID, "%s (line %d)", je.text, je.line);
		if (json_is_array(doc)) { /* a bare list of rows */
			json_t *o = json_pack("{s:o}", "instances", doc);
			doc = o;
		}
		if (!rc)
			rc = mw_rows_from_json(&sc, doc, out, err);
		json_decref(doc);
	} else {
		rc = mw_rows_from_csv(&sc, b.data, b.len, out, err);
	}
	mw_buf_release(&b);
	if (rc) {
		char msg[sizeof err->msg];
		snprintf(msg, sizeof msg, "%.200s: %.300s", path, err->msg);
		rc = mw_err_set(err, err->code ? err->code : -rc, "%s", msg);
	}
	return rc;
}

/* A settings table for mw predict: the server's defaults, except one
 * batch for the whole file, a generous timeout, one python worker, one read
 * connection, no prediction log and no alias polling. */
static struct mw_settings *predict_settings(const char *data_dir, struct mw_err *err)
{
	static const char *const kv[][2] = {
		{"batch-size", "65536"}, {"max-queue", "4"},    {"infer-timeout-ms", "600000"},
		{"python-workers", "1"}, {"read-conns", "1"},   {"prediction-log", "false"},
		{"alias-poll-ms", "0"},  {"log-level", "warn"},
	};
	struct mw_settings *set = mw_settings_new();
	int rc = mw_settings_set(set, "data-dir", data_dir, "cli", err);
	/* the data directory's metadata store, as mw server is told it */
	const char *store_uri = getenv("MW_STORE_URI");
	if (!rc && store_uri && *store_uri)
		rc = mw_settings_set(set, "store-uri", store_uri, "env", err);
	for (size_t i = 0; !rc && i < sizeof kv / sizeof *kv; i++)
		rc = mw_settings_set(set, kv[i][0], kv[i][1], "cli", err);
	if (!rc)
		rc = mw_settings_validate(set, err);
	if (rc) {
		mw_settings_free(set);
		return NULL;
	}
	return set;
}

/* Predict rows with the app's model and print them. */
static int predict_rows(struct mw_app *app, const char *input, bool as_json, struct mw_err *err)
{
	struct mw_api_ctx *ctx = mw_app_ctx(app);
	struct mw_served *m = NULL;
	int rc = mw_serve_acquire(ctx->serve, ctx->default_model, NULL, &m, err);
	if (rc)
		return rc;
	struct mw_rows in = {0};
	rc = read_rows(input, m, &in, err);
	size_t rows = in.rows;
	struct wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
	struct mw_infer inf = {.x = in.x,
			       .rows = rows,
			       .cols = in.cols,
			       .done = predict_done,
			       .ud = &w};
	if (!rc)
		rc = mw_served_submit(m, &inf, err);
	if (!rc) {
		pthread_mutex_lock(&w.mu);
		while (!w.done)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
		if (inf.rc) {
			*err = inf.err;
			rc = inf.rc;
		}
	}
	if (!rc && as_json) {
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
		char *out = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
		printf("%s\n", out);
		free(out);
		json_decref(o);
	} else if (!rc) {
		for (size_t r = 0; r < rows; r++) {
			for (size_t c = 0; c < inf.ycols; c++)
				printf("%s%.9g", c ? "," : "", inf.y[r * inf.ycols + c]);
			printf("\n");
		}
	}
	free(inf.y);
	free(in.x);
	mw_served_release(m);
	return rc;
}

/* Load the model through the application object (no HTTP server) and
 * predict the rows of input.  A replica's downloads go to a temporary
 * directory, removed after. */
static int predict_run(const char *model, const char *input, const char *dir, const char *uri,
		       bool as_json, struct mw_err *err)
{
	char tmpl[] = "/tmp/mw-predict-XXXXXX";
	char *tmpdir = NULL;
	struct remote r = {0};
	struct mw_settings *set = predict_settings(dir, err);
	int rc = set ? 0 : -err->code;
	if (!uri)
		uri = getenv("MW_URI");
	bool registered = mw_uri_prefix(model, "models:/") != NULL;
	if (!rc && registered && uri && *uri) {
		if (!(tmpdir = mkdtemp(tmpl)))
			rc = mw_err_set(err, MW_E_IO, "cannot create a temporary directory");
		else
			rc = remote_open(model, uri, tmpdir, &r, err);
	}
	if (!rc) {
		/* a directory is served as "model" */
		struct mw_app_model one = {.model = model,
					   .name = registered ? NULL : "model",
					   .source = r.src};
		size_t n;
		const struct mw_app_module *const *mods = mw_app_one_model(&one, false, &n);
		struct mw_app_opts o = {.settings = set,
					.modules = mods,
					.nmodules = n,
					.model = &one};
		struct mw_app *app = mw_app_new(&o);
		rc = mw_app_start(app, err);
		if (!rc)
			rc = predict_rows(app, input, as_json, err);
		mw_app_free(app);
	}
	remote_close(&r);
	mw_settings_free(set);
	if (tmpdir) {
		struct mw_err e2 = {0};
		mw_fs_rm_rf(tmpdir, &e2);
	}
	return rc;
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
	const char *dir = cmd_opt(opts, no, "data-dir");
	if (!dir)
		dir = getenv("MW_DATA_DIR");
	struct mw_err err = {0};
	int rc = predict_run(pos[0], input, dir ? dir : "./mw-data", cmd_opt(opts, no, "uri"),
			     cmd_flag(opts, no, "json"), &err);
	if (rc) {
		cmd_fail(&err);
		return 1;
	}
	return 0;
}
