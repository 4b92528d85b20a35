/*
 * artifacts.c - MLflow's artifact proxy and the artifact listings.
 *
 * /api/2.0/mlflow-artifacts/artifacts/<path>: PUT streams the raw body into
 * the blob store (never buffered, no body cap), GET sends the file from its
 * blob with sendfile, honouring Range (206), If-None-Match (304, the ETag is
 * the SHA-256), DELETE removes it.  GET .../artifacts?path=<dir> lists.
 * Errors use MLflow's {error_code, message}.
 */
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void error_reply(struct mw_http_req *req, struct mw_http_resp *resp, int rc,
			struct mw_err *err)
{
	mw_api_reply(req, resp, rc ? rc : -MW_E_INTERNAL, NULL, err);
}

static void ok_empty(struct mw_http_resp *resp)
{
	mw_http_resp_text(resp, 200, "application/json", "{}");
}

/* With --auth: whether the caller may act on the resource named by field k
 * = v (api.h's needs); when not, resp holds the 403 (or 401). */
static bool allowed(struct mw_api_ctx *ctx, struct mw_http_req *req, struct mw_http_resp *resp,
		    enum mw_api_res res, enum mw_perm perm, const char *k, const char *v)
{
	if (!ctx->auth)
		return true;
	json_t *m = json_object();
	if (v && mw_utf8_valid(v, strlen(v)))
		json_object_set_new(m, k, json_string(v));
	struct mw_err err = {0};
	int rc = mw_api_authorize(ctx, req, (struct mw_api_need){res, perm}, m, &err);
	json_decref(m);
	if (rc)
		error_reply(req, resp, rc, &err);
	return !rc;
}

/* ------------------------------------------------------------ upload */

struct upload {
	struct mw_art_upload *u;
	struct mw_err err;
	int rc;
	uint64_t bytes;
};

static int up_begin(struct mw_http_req *req, void **state, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	if (!allowed(ctx, req, resp, MW_RES_ART, MW_PERM_EDIT, "path",
		     req->ncap ? req->cap[0] : ""))
		return 1;
	struct upload *up = mw_xcalloc(1, sizeof *up);
	up->rc = mw_art_upload_begin(ctx->art, &req->call, req->ncap ? req->cap[0] : "", &up->u,
				     &up->err);
	if (up->rc) {
		error_reply(req, resp, up->rc, &up->err);
		free(up);
		return 1;
	}
	*state = up;
	return 0;
}

static int up_data(void *state, const char *p, size_t n)
{
	struct upload *up = state;
	if (up->rc)
		return up->rc;
	up->rc = mw_art_upload_data(up->u, p, n, &up->err);
	up->bytes += n;
	return up->rc;
}

static void up_end(struct mw_http_req *req, void *state, struct mw_http_resp *resp, void *ud)
{
	struct upload *up = state;
	(void)ud;
	if (up->rc) {
		mw_art_upload_abort(up->u);
		error_reply(req, resp, up->rc, &up->err);
	} else {
		up->rc = mw_art_upload_commit(up->u, NULL, NULL, &up->err);
		if (up->rc)
			error_reply(req, resp, up->rc, &up->err);
		else
			ok_empty(resp);
	}
	free(up);
}

static void up_abort(void *state)
{
	struct upload *up = state;
	mw_info("artifact upload abandoned after %llu bytes; nothing was stored",
		(unsigned long long)up->bytes);
	mw_art_upload_abort(up->u);
	free(up);
}

static const struct mw_http_stream upload_stream = {up_begin, up_data, up_end, up_abort};

/* ------------------------------------------------------------ download */

static const char *mime_of(const char *path)
{
	static const struct {
		const char *ext, *type;
	} t[] = {{".json", "application/json"}, {".txt", "text/plain; charset=utf-8"},
		 {".log", "text/plain; charset=utf-8"}, {".yaml", "text/yaml"},
		 {".yml", "text/yaml"}, {".csv", "text/csv"}, {".html", "text/html"},
		 {".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
		 {".svg", "image/svg+xml"}, {".md", "text/markdown"}, {".py", "text/x-python"}};
	const char *dot = strrchr(path, '.');
	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < sizeof t / sizeof *t; i++)
			if (!strcasecmp(dot, t[i].ext))
				return t[i].type;
	return "application/octet-stream";
}

/* "bytes=a-b", "bytes=a-", "bytes=-n" against size; 0 ok, 1 ignore, -1 bad. */
static int parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
	if (strncmp(h, "bytes=", 6) || strchr(h, ','))
		return 1;
	const char *p = h + 6;
	char *end;
	if (*p == '-') {
		unsigned long long n = strtoull(p + 1, &end, 10);
		if (*end || end == p + 1 || n == 0)
			return -1;
		if (n > size)
			n = size;
		*off = size - n;
		*len = n;
		return size ? 0 : -1;
	}
	unsigned long long a = strtoull(p, &end, 10);
	if (end == p || *end != '-')
		return -1;
	const char *q = end + 1;
	unsigned long long b = size ? size - 1 : 0;
	if (*q) {
		b = strtoull(q, &end, 10);
		if (*end || end == q)
			return -1;
		if (b >= size)
			b = size - 1;
	}
	if (a >= size || b < a)
		return -1;
	*off = a;
	*len = b - a + 1;
	return 0;
}

static void send_file(struct mw_api_ctx *ctx, struct mw_http_req *req, struct mw_http_resp *resp,
		      const char *path)
{
	struct mw_err err = {0};
	struct mw_art_entry e;
	int fd;
	int rc = mw_art_open(ctx->art, path, &fd, &e, &err);
	if (rc) {
		error_reply(req, resp, rc, &err);
		return;
	}
	const char *etag = mw_arena_printf(req->arena, "\"%s\"", e.digest);
	const char *inm = mw_http_header(req, "If-None-Match");
	if (inm && (strstr(inm, e.digest) || !strcmp(inm, "*"))) {
		close(fd);
		mw_http_resp_set(resp, 304, "application/octet-stream", NULL, 0);
		mw_http_resp_header(resp, "ETag", etag);
		return;
	}
	const char *base = strrchr(e.path, '/');
	base = base ? base + 1 : e.path;
	char *safe = mw_arena_strdup(req->arena, base);
	for (char *p = safe; *p; p++)
		if (*p == '"' || *p == '\\')
			*p = '_';
	uint64_t off = 0, len = e.size;
	int status = 200;
	const char *range = mw_http_header(req, "Range");
	if (range) {
		int r = parse_range(range, e.size, &off, &len);
		if (r < 0) {
			close(fd);
			mw_http_resp_text(resp, 416, "application/json",
					  "{\"error_code\":\"INVALID_PARAMETER_VALUE\","
					  "\"message\":\"Range not satisfiable\"}");
			mw_http_resp_header(resp, "Content-Range",
					    mw_arena_printf(req->arena, "bytes */%llu",
							    (unsigned long long)e.size));
			return;
		}
		if (r == 0) {
			status = 206;
			mw_http_resp_header(resp, "Content-Range",
					    mw_arena_printf(req->arena, "bytes %llu-%llu/%llu",
							    (unsigned long long)off,
							    (unsigned long long)(off + len - 1),
							    (unsigned long long)e.size));
		} else {
			off = 0;
			len = e.size;
		}
	}
	mw_http_resp_fd(resp, status, mime_of(e.path), fd, off, len);
	mw_http_resp_header(resp, "ETag", etag);
	mw_http_resp_header(resp, "Accept-Ranges", "bytes");
	mw_http_resp_header(resp, "X-Content-Type-Options", "nosniff");
	mw_http_resp_header(resp, "Content-Disposition",
			    mw_arena_printf(req->arena, "attachment; filename=\"%s\"", safe));
}

static void list_reply(struct mw_http_req *req, struct mw_http_resp *resp, int rc, json_t *out,
		       struct mw_err *err)
{
	mw_api_reply(req, resp, rc, out, err);
}

static void art_get(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	const char *path = req->ncap ? req->cap[0] : "";
	if (!*path) { /* GET .../artifacts/?path=dir lists, like the bare route */
		struct mw_err err = {0};
		json_t *out = NULL;
		const char *dir = mw_http_query(req, "path");
		if (!allowed(ctx, req, resp, MW_RES_ART, MW_PERM_READ, "path", dir ? dir : ""))
			return;
		int rc = mw_art_list(ctx->art, dir ? dir : "", &out, &err);
		if (!rc)
			mw_api_authorize_art_list(ctx, req, dir, out);
		list_reply(req, resp, rc, out, &err);
		return;
	}
	if (allowed(ctx, req, resp, MW_RES_ART, MW_PERM_READ, "path", path))
		send_file(ctx, req, resp, path);
}

static void art_delete(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	if (!allowed(ctx, req, resp, MW_RES_ART, MW_PERM_MANAGE, "path",
		     req->ncap ? req->cap[0] : ""))
		return;
	struct mw_err err = {0};
	int rc = mw_art_delete(ctx->art, &req->call, req->ncap ? req->cap[0] : "", &err);
	if (rc)
		error_reply(req, resp, rc, &err);
	else
		ok_empty(resp);
}

static void mpu_unsupported(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	if (!allowed(ud, req, resp, MW_RES_ART, MW_PERM_EDIT, "path", req->ncap ? req->cap[0] : ""))
		return;
	struct mw_err err = {0};
	mw_err_set(&err, MW_E_NOT_IMPLEMENTED,
		   "Multipart upload is not supported for the current artifact repository");
	error_reply(req, resp, -MW_E_NOT_IMPLEMENTED, &err);
}

/* ------------------------------------------------------------ listings by entity */

/* GET artifacts/list?run_id=&path= */
static void run_list(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	struct mw_err err = {0};
	const char *run = mw_http_query(req, "run_id");
	if (!run || !*run)
		run = mw_http_query(req, "run_uuid");
	if (!allowed(ctx, req, resp, MW_RES_RUN, MW_PERM_READ, "run_id", run))
		return;
	json_t *out = NULL;
	int rc = 0;
	if (!run || !*run) {
		rc = mw_err_set(&err, MW_E_INVALID, "Missing value for required parameter 'run_id'.");
	} else {
		char *root = NULL, *uri = NULL;
		rc = mw_art_run_root(ctx->art, run, &root, &uri, &err);
		if (!rc)
			rc = mw_art_list_under(ctx->art, root, uri, mw_http_query(req, "path"),
					       mw_http_query(req, "page_token"), &out, &err);
		free(root);
		free(uri);
	}
	mw_api_reply(req, resp, rc, out, &err);
}

/* GET logged-models/{id}/artifacts/directories?artifact_directory_path= */
static void model_list(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	if (!allowed(ctx, req, resp, MW_RES_LM, MW_PERM_READ, "model_id", req->cap[0]))
		return;
	struct mw_err err = {0};
	json_t *out = NULL;
	char *root = NULL, *uri = NULL;
	int rc = mw_art_model_root(ctx->art, req->cap[0], &root, &uri, &err);
	if (!rc)
		rc = mw_art_list_under(ctx->art, root, uri,
				       mw_http_query(req, "artifact_directory_path"),
				       mw_http_query(req, "page_token"), &out, &err);
	free(root);
	free(uri);
	mw_api_reply(req, resp, rc, out, &err);
}

/* GET /get-artifact?run_uuid=&path= (the UI) */
static void run_get_artifact(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	struct mw_err err = {0};
	const char *run = mw_http_query(req, "run_uuid");
	if (!run || !*run)
		run = mw_http_query(req, "run_id");
	const char *path = mw_http_query(req, "path");
	if (!run || !*run || !path || !*path) {
		mw_err_set(&err, MW_E_INVALID, "run_uuid and path are required");
		error_reply(req, resp, -MW_E_INVALID, &err);
		return;
	}
	if (!allowed(ctx, req, resp, MW_RES_RUN, MW_PERM_READ, "run_id", run))
		return;
	char *root = NULL, *uri = NULL, *norm = NULL;
	int rc = mw_art_run_root(ctx->art, run, &root, &uri, &err);
	if (!rc)
		rc = mw_art_path_normalize(path, false, &norm, &err);
	if (rc) {
		error_reply(req, resp, rc, &err);
	} else {
		char *full = mw_arena_printf(req->arena, "%s/%s", root, norm);
		send_file(ctx, req, resp, full);
	}
	free(root);
	free(uri);
	free(norm);
}

/* GET /model-versions/get-artifact?name=&version=&path= (the UI) */
static void mv_get_artifact(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	struct mw_err err = {0};
	const char *name = mw_http_query(req, "name"), *ver = mw_http_query(req, "version");
	const char *path = mw_http_query(req, "path");
	int64_t v;
	if (!name || !ver || !path || mw_parse_int64(ver, &v)) {
		mw_err_set(&err, MW_E_INVALID, "name, version (a number) and path are required");
		error_reply(req, resp, -MW_E_INVALID, &err);
		return;
	}
	if (!allowed(ctx, req, resp, MW_RES_RM, MW_PERM_READ, "name", name))
		return;
	struct mw_registry_pin pin;
	char *norm = NULL;
	int rc = mw_registry_resolve(ctx->registry, name, ver, NULL, &pin, &err);
	if (!rc && !pin.files) /* a version whose files mw does not hold */
		rc = mw_err_set(&err, MW_E_INVALID,
				"'' is not an artifact location served by mw (mlflow-artifacts:/...)");
	if (!rc)
		rc = mw_art_path_normalize(path, false, &norm, &err);
	if (rc)
		error_reply(req, resp, rc, &err);
	else
		send_file(ctx, req, resp, mw_arena_printf(req->arena, "%s/%s", pin.files, norm));
	mw_registry_pin_release(&pin); /* zeroed by resolve, also when it failed */
	free(norm);
}

/* ------------------------------------------------------------ fsck, gc */

static void fsck(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	struct mw_err err = {0};
	json_t *out = NULL;
	int rc = mw_art_fsck(ctx->art, &out, &err);
	mw_api_reply(req, resp, rc, out, &err);
}

static void gc(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	struct mw_err err = {0};
	json_t *msg = mw_api_message(ctx, req, NULL, 0, resp);
	if (!msg)
		return;
	int64_t grace = 3600;
	bool dry = false;
	int rc = mw_req_int64(msg, "grace_seconds", false, &grace, NULL, &err);
	if (!rc)
		rc = mw_req_bool(msg, "dry_run", &dry, NULL, &err);
	if (!rc && grace < 0)
		rc = mw_err_set(&err, MW_E_INVALID, "grace_seconds must not be negative");
	json_decref(msg);
	json_t *out = NULL;
	if (!rc)
		rc = mw_art_gc(ctx->art, &req->call, grace * 1000, dry, &out, &err);
	mw_api_reply(req, resp, rc, out, &err);
}

/* ------------------------------------------------------------ routes */

#define A "/api/2.0/mlflow-artifacts/artifacts"
#define M MW_ERRFMT_MLFLOW
#define RD MW_AUTH_READ, .errfmt = M, .body = MW_BODY_NONE
#define WR MW_AUTH_WRITE, .errfmt = M

static struct mw_route routes[] = {
	{.method = "PUT", .pattern = A "/*", .stream = &upload_stream, .name = A "/:path",
	 .auth = WR, .body = MW_BODY_STREAM},
	{.method = "GET", .pattern = A, .fn = art_get, .name = A, .auth = RD},
	{.method = "GET", .pattern = A "/*", .fn = art_get, .name = A "/:path", .auth = RD},
	{.method = "DELETE", .pattern = A "/*", .fn = art_delete, .name = A "/:path", .auth = WR},
	{.method = "POST", .pattern = "/api/2.0/mlflow-artifacts/mpu/*", .fn = mpu_unsupported,
	 .name = "/api/2.0/mlflow-artifacts/mpu/:path", .auth = WR},
	{.method = "GET", .pattern = "/api/2.0/mlflow/artifacts/list", .fn = run_list, .auth = RD},
	{.method = "GET", .pattern = "/ajax-api/2.0/mlflow/artifacts/list", .fn = run_list,
	 .auth = RD},
	{.method = "GET", .pattern = "/api/2.0/preview/mlflow/artifacts/list", .fn = run_list,
	 .auth = RD},
	{.method = "GET", .pattern = "/ajax-api/2.0/preview/mlflow/artifacts/list", .fn = run_list,
	 .auth = RD},
	{.method = "GET", .pattern = "/api/2.0/mlflow/logged-models/{model_id}/artifacts/directories",
	 .fn = model_list, .name = "/api/2.0/mlflow/logged-models/:model_id/artifacts/directories",
	 .auth = RD},
	{.method = "GET",
	 .pattern = "/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/directories",
	 .fn = model_list, .name = "/ajax-api/2.0/mlflow/logged-models/:model_id/artifacts/directories",
	 .auth = RD},
	{.method = "GET", .pattern = "/get-artifact", .fn = run_get_artifact, .auth = RD},
	{.method = "GET", .pattern = "/ajax-api/2.0/mlflow/get-artifact", .fn = run_get_artifact,
	 .auth = RD},
	{.method = "GET", .pattern = "/model-versions/get-artifact", .fn = mv_get_artifact,
	 .auth = RD},
	{.method = "GET", .pattern = "/ajax-api/2.0/mlflow/model-versions/get-artifact",
	 .fn = mv_get_artifact, .auth = RD},
	{.method = "POST", .pattern = "/api/mw/fsck", .fn = fsck, .auth = MW_AUTH_ADMIN, .errfmt = M},
	{.method = "POST", .pattern = "/api/mw/gc", .fn = gc, .auth = MW_AUTH_ADMIN, .errfmt = M},
};

void mw_api_artifacts_register(struct mw_api_ctx *ctx, struct mw_http_server *http)
{
	for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
		routes[i].ud = ctx;
	mw_http_add_routes(http, routes, sizeof routes / sizeof *routes);
}
