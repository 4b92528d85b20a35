/*
 * ops.c - operator endpoints: /health, /version, /metrics, /api/mw/config,
 * /api/mw/audit, /api/mw/audit/verify and /api/mw/audit/head (admin).
 *
 * /api/mw/config lists every setting with its resolved value, default,
 * source and type; a secret setting shows "(set)" or "(unset)", never its
 * value (mw_setting_show).
 *
 * /metrics is Prometheus text exposition 0.0.4: per-route request counters
 * and latency histograms (from http/), the store's group-commit batch sizes
 * and commit latency, and the standard process_* figures read from /proc.
 */
#include "api/api.h"

#include "audit/audit.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void health(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)req;
	(void)ud;
	mw_http_resp_text(resp, 200, "text/plain; charset=utf-8", "OK");
}

static void version(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)req;
	(void)ud;
	mw_http_resp_text(resp, 200, "text/plain; charset=utf-8", MW_VERSION);
}

static int process_metrics(struct mw_buf *b, int64_t start_ms)
{
	long page = sysconf(_SC_PAGESIZE), hz = sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/self/stat", "r");
	unsigned long utime = 0, stime = 0, vsize = 0;
	long rss = 0;
	if (f) {
		char line[1024];
		if (fgets(line, sizeof line, f)) {
			const char *p = strrchr(line, ')');
			if (p)
				sscanf(p + 2,
				       "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
				       "%*d %*d %*u %lu %ld",
				       &utime, &stime, &vsize, &rss);
		}
		fclose(f);
	}
	int fds = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				fds++;
		closedir(d);
	}
	return mw_buf_printf(
		b,
		"# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
		"# TYPE process_cpu_seconds_total counter\n"
		"process_cpu_seconds_total %.2f\n"
		"# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
		"# TYPE process_resident_memory_bytes gauge\n"
		"process_resident_memory_bytes %ld\n"
		"# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
		"# TYPE process_virtual_memory_bytes gauge\n"
		"process_virtual_memory_bytes %lu\n"
		"# HELP process_open_fds Number of open file descriptors.\n"
		"# TYPE process_open_fds gauge\n"
		"process_open_fds %d\n"
		"# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
		"# TYPE process_start_time_seconds gauge\n"
		"process_start_time_seconds %.3f\n",
		(double)(utime + stime) / (double)hz, rss * page, vsize, fds,
		(double)start_ms / 1000.0);
}

static void metrics(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	struct mw_buf b;
	mw_buf_init(&b, MW_METRICS_MAX);
	int bad =
		mw_buf_printf(&b,
			      "# HELP mw_build_info Millwright version.\n# TYPE mw_build_info gauge\n"
			      "mw_build_info{version=\"%s\"} 1\n",
			      MW_VERSION);
	bad |= mw_http_render_metrics(ctx->http, &b);
	struct mw_store_stats st = {0};
	if (ctx->store)
		mw_store_stats(ctx->store, &st);
	if (ctx->store) {
		bad |= mw_buf_printf(
			&b,
			"# HELP mw_store_commits_total Group commits of the store writer.\n"
			"# TYPE mw_store_commits_total counter\nmw_store_commits_total %llu\n"
			"# HELP mw_store_writes_total Write operations committed or failed.\n"
			"# TYPE mw_store_writes_total counter\n"
			"mw_store_writes_total{result=\"ok\"} %llu\n"
			"mw_store_writes_total{result=\"error\"} %llu\n"
			"# HELP mw_store_write_queue_depth Writes waiting for the writer.\n"
			"# TYPE mw_store_write_queue_depth gauge\nmw_store_write_queue_depth %d\n"
			"# HELP mw_store_memory_bytes Memory the store's backend holds (SQLite: the "
			"page caches of its connections, statements).\n"
			"# TYPE mw_store_memory_bytes gauge\nmw_store_memory_bytes %llu\n",
			st.commits, st.jobs - st.failed_jobs, st.failed_jobs, st.queue_depth,
			(unsigned long long)st.memory_bytes);
		bad |= mw_buf_puts(&b,
				   "# HELP mw_store_commit_batch_size Write operations per group commit.\n"
				   "# TYPE mw_store_commit_batch_size histogram\n");
		bad |= mw_hist_render(st.batch_size, &b, "mw_store_commit_batch_size", "");
		bad |= mw_buf_puts(
			&b,
			"# HELP mw_store_commit_duration_seconds Time to run and commit one group.\n"
			"# TYPE mw_store_commit_duration_seconds histogram\n");
		bad |= mw_hist_render(st.commit_seconds, &b, "mw_store_commit_duration_seconds",
				      "");
	}
	if (ctx->serve)
		bad |= mw_serve_render_metrics(ctx->serve, &b);
	bad |= process_metrics(&b, ctx->start_ms);
	if (bad) {
		mw_buf_release(&b);
		mw_http_error(req, resp, 500, MW_E_TOO_LARGE,
			      "the metrics text is over its cap (MW_METRICS_MAX)");
		return;
	}
	size_t n;
	char *s = mw_buf_detach(&b, &n);
	mw_buf_release(&b);
	mw_http_resp_set(resp, 200, "text/plain; version=0.0.4; charset=utf-8", s, n);
}

static void config(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)req;
	struct mw_api_ctx *ctx = ud;
	json_t *arr = json_array();
	char bound[16];
	snprintf(bound, sizeof bound, "%d", ctx->http ? mw_http_port(ctx->http) : 0);
	for (size_t i = 0; i < mw_settings_count(ctx->settings); i++) {
		const struct mw_setting *s = mw_settings_at(ctx->settings, i);
		/* the port is the one listened on (--port 0 picks a free one) */
		const char *v = !strcmp(s->name, "port") && ctx->http ? bound
								      : mw_setting_show(s, s->value);
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "name", s->name,
						     "value", v, "default", mw_setting_show(s, s->def),
						     "source", s->source, "type",
						     mw_setting_type_name(s->type), "secret", s->secret));
	}
	json_t *o = json_pack("{s:o,s:s,s:i}", "settings", arr, "version", MW_VERSION,
			      "schema_version", ctx->store ? mw_store_schema_version(ctx->store) : 0);
	size_t n;
	char *s = mw_json_dump(o, &n);
	json_decref(o);
	mw_http_resp_set(resp, 200, "application/json", s, n);
}

/* GET /api/mw/audit (admin): the audit log, filtered and paged
 * (audit/audit.h, docs/api/audit.md); GET /api/mw/audit/verify: the chain
 * (and an anchor, ?expect=SEQ:HASH); GET /api/mw/audit/head: the anchor. */
static void audit_list(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	json_t *msg = mw_api_message(ctx, req, NULL, 0, resp);
	if (!msg)
		return;
	json_t *out = NULL;
	struct mw_err err = {0};
	int rc = mw_audit_query(ctx->store, &req->call, msg, &out, &err);
	json_decref(msg);
	mw_api_reply(req, resp, rc, out, &err);
}

static void audit_verify(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	json_t *out = NULL;
	struct mw_err err = {0};
	json_t *msg = mw_api_message(ctx, req, NULL, 0, resp);
	if (!msg)
		return;
	int rc = mw_audit_verify(ctx->store, &req->call, msg, &out, &err);
	json_decref(msg);
	mw_api_reply(req, resp, rc, out, &err);
}

static void audit_head(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	json_t *out = NULL;
	struct mw_err err = {0};
	int rc = mw_audit_head(ctx->store, &req->call, NULL, &out, &err);
	mw_api_reply(req, resp, rc, out, &err);
}

/* Errors in MLflow's format, as every non-inference route of mw answers. */
#define OPS(p, f, a)                                                                         \
	{.method = "GET", .pattern = p, .fn = f, .auth = a, .errfmt = MW_ERRFMT_MLFLOW,         \
	 .body = MW_BODY_NONE}

static struct mw_route ops_routes[] = {
	OPS("/health", health, MW_AUTH_OPEN),
	OPS("/version", version, MW_AUTH_OPEN),
	OPS("/metrics", metrics, MW_AUTH_OPEN), /* scrapers do not log in */
	OPS("/api/mw/config", config, MW_AUTH_ADMIN),
	OPS("/api/mw/audit", audit_list, MW_AUTH_ADMIN),
	OPS("/api/mw/audit/verify", audit_verify, MW_AUTH_ADMIN),
	OPS("/api/mw/audit/head", audit_head, MW_AUTH_ADMIN),
};

void mw_api_ops_register(struct mw_api_ctx *ctx, struct mw_http_server *http)
{
	for (size_t i = 0; i < sizeof ops_routes / sizeof *ops_routes; i++)
		ops_routes[i].ud = ctx;
	mw_http_add_routes(http, ops_routes, sizeof ops_routes / sizeof *ops_routes);
}
