/*
 * auth.c - authentication in the request pipeline (--auth) and its routes.
 *
 * The filter runs after request id and identity.  A route of class OPEN
 * passes without a look at credentials (with --auth-open-health=false only
 * when it is not one of the health routes, which then need a user too);
 * every other route needs credentials: "Authorization: Bearer <token>" (an
 * mw API token; MLflow clients send MLFLOW_TRACKING_TOKEN this way) or
 * "Basic base64(user:password)".  The verified user replaces whatever the
 * identity filter took from X-MW-User or a Basic user name, call.roles gets
 * the user's role and those it includes ({"admin", "editor", "viewer",
 * "user"}, {"editor", "viewer", "user"} or {"viewer", "user"}), and
 * user_verified becomes true.  Missing or
 * wrong credentials answer 401 with WWW-Authenticate: Basic realm="mw";
 * ADMIN routes answer 403 to a user who is not an admin; an address with
 * more than 10 failed logins in the last minute gets 429 with Retry-After
 * (also with right credentials, until the minute ends).  An inference token
 * (scope "inference") passes INFERENCE and OPEN routes only: anything else
 * answers 403, whatever its user may do.  Every answer is in the route's
 * error format.  Requests no route matches pass (404 follows); a known path
 * with another method is judged as that path's route (then 405).
 *
 * Routes (MLflow's auth API names, docs/api/auth.md; the users routes also
 * under /ajax-api/2.0/mlflow/, as MLflow's UI calls them):
 *   POST   /api/2.0/mlflow/users/create            {username, password}   admin
 *   GET    /api/2.0/mlflow/users/get?username=                            admin or self
 *   PATCH  /api/2.0/mlflow/users/update-password   {username, password}   admin or self
 *   PATCH  /api/2.0/mlflow/users/update-admin      {username, is_admin}   admin
 *   DELETE /api/2.0/mlflow/users/delete            {username}             admin
 *   POST   /api/mw/tokens                {name, expires_in_s?, scope?}    the caller's
 *   GET    /api/mw/tokens[?all=true]                                      the caller's (admin: all)
 *   DELETE /api/mw/tokens/{id}                                            own, or admin any
 */
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* call.roles: a role and the ones it includes ("user": any verified user) */
static const char *const roles_of[MW_ROLE__COUNT][5] = {
	[MW_ROLE_VIEWER] = {"viewer", "user", NULL},
	[MW_ROLE_EDITOR] = {"editor", "viewer", "user", NULL},
	[MW_ROLE_ADMIN] = {"admin", "editor", "viewer", "user", NULL},
};

static bool health_path(const char *p)
{
	static const char *const open[] =
		{"/health",         "/version",         "/metrics", "/ping",
		 "/v2/health/live", "/v2/health/ready", "/v2",      "/v2/"};
	for (size_t i = 0; i < sizeof open / sizeof *open; i++)
		if (!strcmp(p, open[i]))
			return true;
	return false;
}

static int refuse(struct mw_http_req *req, struct mw_http_resp *resp, int code, const char *msg)
{
	mw_http_error(req, resp, mw_api_status(code), code, msg);
	if (code == MW_E_UNAUTHENTICATED)
		mw_http_resp_header(resp, "WWW-Authenticate", "Basic realm=\"mw\"");
	return 1;
}

/* Credentials of the request: 0 none, 1 checked fine (*p), -1 wrong. */
static int credentials(struct mw_authn *a, struct mw_http_req *req, struct mw_principal *p,
		       struct mw_err *err)
{
	const char *h = mw_http_header(req, "Authorization");
	if (!h || !*h)
		return 0;
	if (!strncasecmp(h, "Bearer ", 7)) {
		const char *t = h + 7;
		while (*t == ' ')
			t++;
		return mw_auth_check_token(a, t, p, err) ? -1 : 1;
	}
	if (!strncasecmp(h, "Basic ", 6)) {
		unsigned char *dec = NULL;
		size_t n = 0;
		if (mw_base64_decode(h + 6, &dec, &n))
			return mw_err_set(err, MW_E_UNAUTHENTICATED, "invalid credentials"), -1;
		char *s = mw_arena_strndup(req->arena, (const char *)dec, n);
		memset(dec, 0, n);
		free(dec);
		char *colon = strlen(s) == n ? strchr(s, ':') : NULL;
		if (!colon)
			return mw_err_set(err, MW_E_UNAUTHENTICATED, "invalid credentials"), -1;
		*colon = 0;
		int rc = mw_auth_check_basic(a, s, colon + 1, p, err);
		memset(colon + 1, 0, strlen(colon + 1));
		return rc ? -1 : 1;
	}
	mw_err_set(err, MW_E_UNAUTHENTICATED,
		   "the Authorization scheme must be Bearer <token> or Basic <user:password>");
	return -1;
}

int mw_api_auth_filter(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	/* a known path with another method is judged by its route: the 405
	 * goes only to a caller who may call the path */
	const struct mw_route *route = req->route ? req->route : req->path_route;
	if (!ctx->auth || !route)
		return 0;
	/* under auth, identity is what is verified, never what is claimed */
	req->call.user = "anonymous";
	req->call.roles = NULL;
	req->user_verified = false;
	req->call.verified = false;
	req->principal = NULL;
	enum mw_auth cls = route->auth;
	if (cls == MW_AUTH_OPEN && (ctx->auth_open_health || !health_path(req->path)))
		return 0;
	const char *addr = mw_http_client_addr(req);
	int wait = mw_auth_limited(ctx->auth, addr);
	if (wait > 0) {
		refuse(req, resp, MW_E_LIMIT,
		       "too many failed logins from this address: try again later");
		mw_http_resp_header(resp, "Retry-After", mw_arena_printf(req->arena, "%d", wait));
		return 1;
	}
	struct mw_principal *p = mw_arena_alloc(req->arena, sizeof *p);
	struct mw_err err = {0};
	int c = credentials(ctx->auth, req, p, &err);
	if (c == 0)
		return refuse(req, resp, MW_E_UNAUTHENTICATED, "authentication required");
	if (c < 0) {
		if (err.code != MW_E_UNAUTHENTICATED) /* the store failed: not the client's fault */
			return refuse(req, resp, err.code, err.msg);
		mw_auth_failed(ctx->auth, addr);
		mw_info("auth: failed login from %s on %s %s", addr, req->method, req->path);
		return refuse(req, resp, MW_E_UNAUTHENTICATED, "invalid credentials");
	}
	req->call.user = p->user;
	req->call.roles = roles_of[(unsigned)p->role < MW_ROLE__COUNT ? p->role : MW_ROLE_VIEWER];
	req->user_verified = true;
	req->call.verified = true;
	p->request_id = req->call.request_id;
	req->principal = p;
	if (p->inference_only && cls != MW_AUTH_INFERENCE && cls != MW_AUTH_OPEN)
		return refuse(req, resp, MW_E_DENIED,
			      "an inference token may only call the serving routes (predictions); "
			      "this needs a full token or a password");
	if (cls == MW_AUTH_ADMIN && !p->admin)
		return refuse(req, resp, MW_E_DENIED, "this needs an admin");
	return 0;
}

/* ------------------------------------------------------------ routes */

static const struct mw_principal *who(struct mw_http_req *req)
{
	return req->principal;
}

static const char *str_field(json_t *m, const char *k)
{
	json_t *v = json_object_get(m, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* MLflow's user: {id, username, is_admin, experiment_permissions,
 * registered_model_permissions}, with mw's role and created_at. */
static json_t *user_json(struct mw_api_ctx *ctx, struct mw_http_req *req, const struct mw_user *u)
{
	json_t *exps = json_array(), *rms = json_array();
	struct mw_perm_row *rows = NULL;
	size_t n = 0;
	struct mw_err err = {0};
	if (mw_authz_list(ctx->auth, u->id, req->arena, &rows, &n, &err))
		mw_warn("auth: cannot list the permissions of %s: %s", u->name, err.msg);
	for (size_t i = 0; i < n; i++) {
		bool exp = rows[i].kind == MW_PERM_EXPERIMENT;
		json_array_append_new(exp ? exps : rms,
				      json_pack("{s:s,s:I,s:s}", exp ? "experiment_id" : "name",
						rows[i].resource, "user_id", (json_int_t)u->id,
						"permission", mw_perm_name(rows[i].perm)));
	}
	return json_pack("{s:{s:I,s:s,s:b,s:s,s:I,s:o,s:o}}", "user", "id", (json_int_t)u->id,
			 "username", u->name, "is_admin", u->admin, "role", mw_role_name(u->role),
			 "created_at", (json_int_t)u->created_ms, "experiment_permissions", exps,
			 "registered_model_permissions", rms);
}

static void users_create(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	json_t *m = mw_api_message(ctx, req, NULL, 0, resp);
	if (!m)
		return;
	struct mw_err err = {0};
	const char *name = str_field(m, "username");
	int rc = mw_auth_user_create(ctx->auth, who(req), name, str_field(m, "password"), false,
				     &err);
	struct mw_user u;
	if (!rc)
		rc = mw_auth_user_get(ctx->auth, NULL, name, req->arena, &u, &err);
	mw_api_reply(req, resp, rc, rc ? NULL : user_json(ctx, req, &u), &err);
	json_decref(m);
}

static void users_get(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	struct mw_err err = {0};
	const char *name = mw_http_query(req, "username");
	struct mw_user u;
	int rc = mw_auth_user_get(ctx->auth, who(req), name ? name : "", req->arena, &u, &err);
	mw_api_reply(req, resp, rc, rc ? NULL : user_json(ctx, req, &u), &err);
}

static void users_update_password(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	json_t *m = mw_api_message(ctx, req, NULL, 0, resp);
	if (!m)
		return;
	struct mw_err err = {0};
	int rc = mw_auth_user_set_password(ctx->auth, who(req), str_field(m, "username"),
					   str_field(m, "password"), &err);
	mw_api_reply(req, resp, rc, rc ? NULL : json_object(), &err);
	json_decref(m);
}

static void users_update_admin(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	json_t *m = mw_api_message(ctx, req, NULL, 0, resp);
	if (!m)
		return;
	struct mw_err err = {0};
	json_t *v = json_object_get(m, "is_admin");
	int rc = 0;
	bool admin = false;
	if (json_is_boolean(v))
		admin = json_is_true(v);
	else if (json_is_string(v) && !strcasecmp(json_string_value(v), "true"))
		admin = true;
	else if (!(json_is_string(v) && !strcasecmp(json_string_value(v), "false")))
		rc = mw_err_set(&err, MW_E_INVALID, "is_admin must be true or false");
	if (!rc)
		rc = mw_auth_user_set_admin(ctx->auth, who(req), str_field(m, "username"), admin,
					    &err);
	mw_api_reply(req, resp, rc, rc ? NULL : json_object(), &err);
	json_decref(m);
}

static void users_delete(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	json_t *m = mw_api_message(ctx, req, NULL, 0, resp);
	if (!m)
		return;
	struct mw_err err = {0};
	int rc = mw_auth_user_delete(ctx->auth, who(req), str_field(m, "username"), &err);
	mw_api_reply(req, resp, rc, rc ? NULL : json_object(), &err);
	json_decref(m);
}

static void tokens_create(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	json_t *m = mw_api_message(ctx, req, NULL, 0, resp);
	if (!m)
		return;
	struct mw_err err = {0};
	json_t *e = json_object_get(m, "expires_in_s");
	int rc = 0;
	if (e && !json_is_null(e) && !json_is_integer(e))
		rc = mw_err_set(&err, MW_E_INVALID, "expires_in_s must be an integer");
	char text[64] = "";
	struct mw_token t;
	const char *name = str_field(m, "name");
	json_t *sc = json_object_get(m, "scope");
	bool inference = false;
	if (!rc && sc && !json_is_null(sc))
		rc = mw_auth_scope_parse(json_string_value(sc), &inference, &err);
	if (!rc)
		rc = mw_auth_token_create_scoped(ctx->auth, who(req), NULL, name,
						 json_is_integer(e) ? (int64_t)json_integer_value(e)
								    : 0,
						 inference, text, &t, &err);
	json_t *out = NULL;
	if (!rc) {
		t.name = name;
		t.user = who(req)->user;
		out = mw_auth_token_json(&t);
		json_object_set_new(out, "token", json_string(text));
		out = json_pack("{s:o}", "token", out);
	}
	mw_api_reply(req, resp, rc, out, &err);
	memset(text, 0, sizeof text);
	json_decref(m);
}

static void tokens_list(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	struct mw_err err = {0};
	const char *all = mw_http_query(req, "all");
	struct mw_token *t = NULL;
	size_t n = 0;
	int rc = mw_auth_token_list(ctx->auth, who(req), all && !strcasecmp(all, "true"),
				    req->arena, &t, &n, &err);
	json_t *out = NULL;
	if (!rc) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, mw_auth_token_json(&t[i]));
		out = json_pack("{s:o}", "tokens", arr);
	}
	mw_api_reply(req, resp, rc, out, &err);
}

static void tokens_revoke(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	struct mw_err err = {0};
	char *end = NULL;
	long long id = strtoll(req->cap[0], &end, 10);
	int rc = 0;
	if (!*req->cap[0] || *end || id <= 0)
		rc = mw_err_set(&err, MW_E_INVALID, "a token id is a positive integer");
	if (!rc)
		rc = mw_auth_token_revoke(ctx->auth, who(req), id, &err);
	mw_api_reply(req, resp, rc, rc ? NULL : json_object(), &err);
}

#define R(m, p, f, a, b)                                                                   \
	{                                                                                  \
		.method = m, .pattern = p, .fn = f, .auth = a, .errfmt = MW_ERRFMT_MLFLOW, \
		.body = b, .max_body = (b) == MW_BODY_BUFFERED ? 65536 : 0                 \
	}
#define BUF MW_BODY_BUFFERED
#define NONE MW_BODY_NONE

#define USERS(pfx)                                                                            \
	R("POST", pfx "users/create", users_create, MW_AUTH_ADMIN, BUF),                      \
		R("GET", pfx "users/get", users_get, MW_AUTH_READ, NONE),                     \
		R("PATCH", pfx "users/update-password", users_update_password, MW_AUTH_WRITE, \
		  BUF),                                                                       \
		R("PATCH", pfx "users/update-admin", users_update_admin, MW_AUTH_ADMIN, BUF), \
		R("DELETE", pfx "users/delete", users_delete, MW_AUTH_ADMIN, BUF)

static struct mw_route auth_routes[] = {
	USERS("/api/2.0/mlflow/"),
	USERS("/ajax-api/2.0/mlflow/"),
	R("POST", "/api/mw/tokens", tokens_create, MW_AUTH_WRITE, BUF),
	R("GET", "/api/mw/tokens", tokens_list, MW_AUTH_READ, NONE),
	R("DELETE", "/api/mw/tokens/{id}", tokens_revoke, MW_AUTH_WRITE, NONE),
};

void mw_api_auth_register(struct mw_api_ctx *ctx, struct mw_http_server *http)
{
	for (size_t i = 0; i < sizeof auth_routes / sizeof *auth_routes; i++)
		auth_routes[i].ud = ctx;
	mw_http_add_routes(http, auth_routes, sizeof auth_routes / sizeof *auth_routes);
}
