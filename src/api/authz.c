/*
 * authz.c - authorisation in the APIs (--auth): what each route's message
 * names, checked against the auth module's decision before the operation
 * runs, listings filtered after it, and MLflow's permission routes.
 *
 * The decision is the auth module's (mw_authz_check: roles, permission
 * rows, the cache); this file only finds the resource in a request message
 * (an experiment id or name, a run, a logged model, a registered model's
 * name, an artifact path) and maps it to an experiment or a registered
 * model.  A resource that does not exist passes, so the operation answers
 * its own 404; everything else that is not allowed is 403 PERMISSION_DENIED
 * before anything changed.
 *
 * Routes (MLflow's auth REST API, under /api/2.0/mlflow/ and
 * /ajax-api/2.0/mlflow/; the caller needs MANAGE on the resource):
 *   POST   experiments/permissions/create        {experiment_id, username, permission}
 *   GET    experiments/permissions/get           ?experiment_id=&username=
 *   PATCH  experiments/permissions/update        {experiment_id, username, permission}
 *   DELETE experiments/permissions/delete        {experiment_id, username}
 *   POST   registered-models/permissions/create  {name, username, permission}
 *   GET    registered-models/permissions/get     ?name=&username=
 *   PATCH  registered-models/permissions/update  {name, username, permission}
 *   DELETE registered-models/permissions/delete  {name, username}
 * and mw's own (an admin):
 *   PATCH  /api/mw/users/role                    {username, role}
 */
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mw_principal *who(struct mw_http_req *req)
{
	return req->principal;
}

static const char *str_field(json_t *m, const char *k)
{
	json_t *v = json_object_get(m, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A lookup that finds nothing (or nothing valid) lets the operation answer
 * it; a failing store is an error. */
static int lookup_failed(int rc, struct mw_err *e2, struct mw_err *err, bool *skip)
{
	*skip = rc == -MW_E_NOT_FOUND || rc == -MW_E_INVALID;
	if (!rc || *skip)
		return 0;
	return mw_err_set(err, e2->code, "%s", e2->msg);
}

static int check_exp(struct mw_api_ctx *ctx, struct mw_http_req *req, const char *exp,
		     enum mw_perm need, struct mw_err *err)
{
	return mw_authz_check(ctx->auth, who(req), MW_PERM_EXPERIMENT, exp, need, err);
}

static int check_run(struct mw_api_ctx *ctx, struct mw_http_req *req, const char *run,
		     enum mw_perm need, struct mw_err *err)
{
	char exp[64];
	struct mw_err e2 = {0};
	bool skip = false;
	int rc = lookup_failed(mw_authz_run_experiment(ctx->auth, run, exp, &e2), &e2, err, &skip);
	if (rc || skip)
		return rc;
	return check_exp(ctx, req, exp, need, err);
}

/* Every string of v (a string or a list of them) through check. */
typedef int (*check_fn)(struct mw_api_ctx *, struct mw_http_req *, const char *, enum mw_perm,
			struct mw_err *);

static int each(struct mw_api_ctx *ctx, struct mw_http_req *req, json_t *v, check_fn check,
		enum mw_perm need, struct mw_err *err)
{
	if (json_is_string(v))
		return check(ctx, req, json_string_value(v), need, err);
	size_t i;
	json_t *x;
	int rc = 0;
	json_array_foreach(v, i, x)
	{
		if (!rc && json_is_string(x))
			rc = check(ctx, req, json_string_value(x), need, err);
	}
	return rc;
}

/* ------------------------------------------------------------ artifact paths */

/* Whom an artifact path (canonical, mw_art_path_normalize) belongs to:
 *   ""                            the root (listed filtered)
 *   "_registry"                   the pins' root (listed filtered)
 *   "_registry/<model id>/..."    that registered model (its internal id,
 *                                 digits; mw_authz_model_name finds its name)
 *   "_sources/...", "_registry/<anything else>"   an admin's only
 *   anything else                 the experiment whose artifact root holds
 *                                 it (mw_authz_art_experiment: the longest
 *                                 "mlflow-artifacts:/<root>" that is a
 *                                 segment prefix), else for "<digits>/..."
 *                                 the experiment with that id, else no one's:
 *                                 an admin's. */
enum art_owner { ART_ROOT, ART_EXP, ART_PINS, ART_MODEL, ART_ADMIN };

/* The leading run of digits of s when it is a whole segment (1..20 digits). */
static size_t digits(const char *s)
{
	size_t n = 0;
	while (s[n] >= '0' && s[n] <= '9' && n < 21)
		n++;
	return n && n <= 20 && (!s[n] || s[n] == '/') ? n : 0;
}

static int art_owner(struct mw_api_ctx *ctx, const char *norm, char exp[64], int64_t *rm_id,
		     enum art_owner *o, struct mw_err *err)
{
	size_t n;
	if (!*norm) {
		*o = ART_ROOT;
		return 0;
	}
	if (!strcmp(norm, "_registry")) {
		*o = ART_PINS;
		return 0;
	}
	if (!strncmp(norm, "_registry/", 10)) {
		char id[24];
		*o = ART_ADMIN;
		if ((n = digits(norm + 10))) {
			memcpy(id, norm + 10, n);
			id[n] = 0;
			if (!mw_parse_int64(id, rm_id) && *rm_id > 0)
				*o = ART_MODEL;
		}
		return 0;
	}
	*o = ART_ADMIN;
	if (!strcmp(norm, "_sources") || !strncmp(norm, "_sources/", 9))
		return 0;
	char id[32];
	struct mw_err e2 = {0};
	int rc = mw_authz_art_experiment(ctx->auth, norm, id, &e2);
	if (!rc) {
		snprintf(exp, 64, "%s", id);
		*o = ART_EXP;
	} else if (rc != -MW_E_NOT_FOUND) {
		return mw_err_set(err, e2.code, "%s", e2.msg);
	} else if ((n = digits(norm)) && n < 64) {
		memcpy(exp, norm, n);
		exp[n] = 0;
		*o = ART_EXP;
	}
	return 0;
}

static uint64_t registry_epoch(struct mw_api_ctx *ctx)
{
	return ctx->registry ? mw_registry_generation(ctx->registry) : 0;
}

/* p's permission `need` on the registered model with internal id rm_id; a
 * model that does not exist (or no longer does) is an admin's. */
static int check_model_id(struct mw_api_ctx *ctx, const struct mw_principal *p, int64_t rm_id,
			  enum mw_perm need, struct mw_err *err)
{
	if (p->admin)
		return 0;
	char name[MW_AUTH_MODEL_NAME_MAX];
	struct mw_err e2 = {0};
	int rc = mw_authz_model_name(ctx->auth, rm_id, registry_epoch(ctx), name, sizeof name, &e2);
	if (rc == -MW_E_NOT_FOUND)
		return mw_err_set(err, MW_E_DENIED, "Permission denied");
	if (rc)
		return mw_err_set(err, e2.code, "%s", e2.msg);
	return mw_authz_check(ctx->auth, p, MW_PERM_MODEL, name, need, err);
}

static int check_art(struct mw_api_ctx *ctx, struct mw_http_req *req, json_t *msg,
		     enum mw_perm need, struct mw_err *err)
{
	const char *path = str_field(msg, "path");
	char *norm = NULL, exp[64];
	int64_t rm_id = 0;
	struct mw_err e2 = {0};
	/* a path the artifact API would refuse: let it answer (same rules) */
	if (mw_art_path_normalize(path ? path : "", true, &norm, &e2))
		return 0;
	const struct mw_principal *p = who(req);
	enum art_owner o = ART_ADMIN;
	int rc = art_owner(ctx, norm, exp, &rm_id, &o, err);
	if (rc) {
		free(norm);
		return rc;
	}
	switch (o) {
	case ART_EXP:
		rc = check_exp(ctx, req, exp, need, err);
		break;
	case ART_MODEL:
		/* the reserved roots are read-only through the proxy: reading a
		 * pin needs READ on its model, anything more is an admin's */
		rc = need <= MW_PERM_READ ? check_model_id(ctx, p, rm_id, need, err)
		     : p->admin           ? 0
					  : mw_err_set(err, MW_E_DENIED, "Permission denied");
		break;
	case ART_ROOT: /* listings of the root and of _registry are filtered */
	case ART_PINS:
		if (need > MW_PERM_READ && (o == ART_ROOT || !p->admin))
			rc = mw_err_set(err, MW_E_DENIED, "Permission denied");
		break;
	case ART_ADMIN:
		if (!p->admin)
			rc = mw_err_set(err, MW_E_DENIED, "Permission denied");
		break;
	}
	free(norm);
	return rc;
}

void mw_api_authorize_art_list(struct mw_api_ctx *ctx, struct mw_http_req *req, const char *dir,
			       json_t *out)
{
	const struct mw_principal *p = who(req);
	json_t *files = json_object_get(out, "files");
	char *norm = NULL, exp[64];
	int64_t rm_id = 0;
	struct mw_err err = {0};
	if (!ctx->auth || !p || p->admin || !json_is_array(files) ||
	    mw_art_path_normalize(dir ? dir : "", true, &norm, &err))
		return;
	enum art_owner where = ART_ADMIN, o;
	int rc = art_owner(ctx, norm, exp, &rm_id, &where, &err);
	free(norm);
	if (rc || (where != ART_ROOT && where != ART_PINS))
		return; /* everything below one owner: checked before the listing */
	for (size_t i = json_array_size(files); i-- > 0;) {
		const char *name = str_field(json_array_get(files, i), "path");
		bool keep = false;
		if (name && !strchr(name, '/')) {
			char *full = mw_arena_printf(req->arena, "%s%s",
						     where == ART_PINS ? "_registry/" : "", name);
			if (art_owner(ctx, full, exp, &rm_id, &o, &err))
				keep = false;
			else if (o == ART_EXP)
				keep = mw_authz_can_read(ctx->auth, p, MW_PERM_EXPERIMENT, exp);
			else if (o == ART_MODEL)
				keep = !check_model_id(ctx, p, rm_id, MW_PERM_READ, &err);
			else
				keep = o == ART_PINS;
		}
		if (!keep)
			json_array_remove(files, i);
	}
}

int mw_api_authorize(struct mw_api_ctx *ctx, struct mw_http_req *req, struct mw_api_need need,
		     json_t *msg, struct mw_err *err)
{
	if (!ctx->auth || need.res == MW_RES_NONE)
		return 0;
	if (!who(req))
		return mw_err_set(err, MW_E_UNAUTHENTICATED, "authentication required");
	const char *s;
	char exp[64];
	struct mw_err e2 = {0};
	bool skip = false;
	int rc = 0;
	switch (need.res) {
	case MW_RES_EXP:
		s = str_field(msg, "experiment_id");
		return check_exp(ctx, req, s && *s ? s : "0", need.perm, err);
	case MW_RES_EXP_NAME:
		if (!(s = str_field(msg, "experiment_name")))
			return 0;
		rc = lookup_failed(mw_authz_exp_by_name(ctx->auth, s, exp, &e2), &e2, err, &skip);
		return rc || skip ? rc : check_exp(ctx, req, exp, need.perm, err);
	case MW_RES_EXP_IDS:
		return each(ctx, req, json_object_get(msg, "experiment_ids"), check_exp, need.perm,
			    err);
	case MW_RES_RUN:
		if (!(s = str_field(msg, "run_id")) || !*s)
			s = str_field(msg, "run_uuid");
		return s ? check_run(ctx, req, s, need.perm, err) : 0;
	case MW_RES_RUN_IDS:
		rc = each(ctx, req, json_object_get(msg, "run_ids"), check_run, need.perm, err);
		if (!rc)
			rc = each(ctx, req, json_object_get(msg, "run_id"), check_run, need.perm,
				  err);
		return rc;
	case MW_RES_LM:
		if (!(s = str_field(msg, "model_id")))
			return 0;
		rc = lookup_failed(mw_authz_lm_experiment(ctx->auth, s, exp, &e2), &e2, err, &skip);
		return rc || skip ? rc : check_exp(ctx, req, exp, need.perm, err);
	case MW_RES_RM:
		s = str_field(msg, "name");
		return s ? mw_authz_check(ctx->auth, who(req), MW_PERM_MODEL, s, need.perm, err)
			 : 0;
	case MW_RES_ART:
		return check_art(ctx, req, msg, need.perm, err);
	default:
		return 0; /* creations and listings: afterwards */
	}
}

/* Leave out of list (out[key]) the entries whose field the caller cannot
 * READ. */
static void filter(struct mw_api_ctx *ctx, struct mw_http_req *req, json_t *out, const char *key,
		   enum mw_perm_kind kind, const char *field)
{
	json_t *list = json_object_get(out, key);
	if (!json_is_array(list))
		return;
	for (size_t i = json_array_size(list); i-- > 0;) {
		const char *r = str_field(json_array_get(list, i), field);
		if (!r || !mw_authz_can_read(ctx->auth, who(req), kind, r))
			json_array_remove(list, i);
	}
}

void mw_api_authorize_after(struct mw_api_ctx *ctx, struct mw_http_req *req,
			    struct mw_api_need need, json_t *out)
{
	if (!ctx->auth || !who(req) || !out)
		return;
	struct mw_err err = {0};
	const char *s = NULL;
	enum mw_perm_kind kind = MW_PERM_EXPERIMENT;
	switch (need.res) {
	case MW_RES_EXP_NEW:
		s = str_field(out, "experiment_id");
		break;
	case MW_RES_RM_NEW:
		s = str_field(json_object_get(out, "registered_model"), "name");
		kind = MW_PERM_MODEL;
		break;
	case MW_RES_EXP_LIST:
		filter(ctx, req, out, "experiments", MW_PERM_EXPERIMENT, "experiment_id");
		return;
	case MW_RES_RM_LIST:
		filter(ctx, req, out, "registered_models", MW_PERM_MODEL, "name");
		return;
	case MW_RES_MV_LIST:
		filter(ctx, req, out, "model_versions", MW_PERM_MODEL, "name");
		return;
	default:
		return;
	}
	if (s && mw_authz_grant_creator(ctx->auth, who(req), kind, s, &err))
		mw_warn("auth: cannot give %s MANAGE on what it created: %s", who(req)->user,
			err.msg);
}

/* ------------------------------------------------------------ permission routes */

struct perm_route {
	enum mw_perm_kind kind;
	const char *field;   /* "experiment_id" or "name" */
	const char *reply;   /* "experiment_permission" or "registered_model_permission" */
	enum mw_perm_put op; /* create, update; get and delete by method */
};

static json_t *perm_json(const struct perm_route *r, const char *res, int64_t uid, enum mw_perm p)
{
	return json_pack("{s:{s:s,s:I,s:s}}", r->reply, r->field, res, "user_id", (json_int_t)uid,
			 "permission", mw_perm_name(p));
}

static int get_perm(json_t *m, enum mw_perm *p, struct mw_err *err)
{
	const char *s = str_field(m, "permission");
	if (!s)
		return mw_err_set(err, MW_E_INVALID,
				  "Missing value for required parameter 'permission'.");
	if (!mw_perm_parse(s, p))
		return mw_err_set(err, MW_E_INVALID,
				  "Invalid permission '%.100s': it is one of READ, EDIT, MANAGE, "
				  "NO_PERMISSIONS",
				  s);
	return 0;
}

static void perm_handle(struct mw_http_req *req, struct mw_http_resp *resp, struct mw_api_ctx *ctx,
			const struct perm_route *r)
{
	json_t *m = mw_api_message(ctx, req, NULL, 0, resp);
	if (!m)
		return;
	struct mw_err err = {0};
	json_t *out = NULL;
	int rc = 0;
	const char *res = str_field(m, r->field), *user = str_field(m, "username");
	enum mw_perm p = MW_PERM_NONE;
	int64_t uid = 0;
	if (!ctx->auth)
		rc = mw_err_set(&err, MW_E_NOT_IMPLEMENTED,
				"permissions need the server to run with --auth");
	else if (!strcmp(req->method, "GET"))
		rc = mw_authz_get(ctx->auth, who(req), r->kind, res, user, &p, &uid, &err);
	else if (!strcmp(req->method, "DELETE"))
		rc = mw_authz_delete(ctx->auth, who(req), r->kind, res, user, &err);
	else if (!(rc = get_perm(m, &p, &err)))
		rc = mw_authz_put(ctx->auth, who(req), r->kind, res, user, p, r->op, &uid, &err);
	if (!rc)
		out = strcmp(req->method, "GET") && strcmp(req->method, "POST")
			      ? json_object()
			      : perm_json(r, res, uid, p);
	mw_api_reply(req, resp, rc, out, &err);
	json_decref(m);
}

static const struct perm_route exp_put = {MW_PERM_EXPERIMENT, "experiment_id",
					  "experiment_permission", MW_PERM_PUT_CREATE};
static const struct perm_route exp_upd = {MW_PERM_EXPERIMENT, "experiment_id",
					  "experiment_permission", MW_PERM_PUT_UPDATE};
static const struct perm_route rm_put = {MW_PERM_MODEL, "name", "registered_model_permission",
					 MW_PERM_PUT_CREATE};
static const struct perm_route rm_upd = {MW_PERM_MODEL, "name", "registered_model_permission",
					 MW_PERM_PUT_UPDATE};

static void exp_perm_create(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	perm_handle(req, resp, ud, &exp_put);
}
static void exp_perm_update(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	perm_handle(req, resp, ud, &exp_upd);
}
static void rm_perm_create(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	perm_handle(req, resp, ud, &rm_put);
}
static void rm_perm_update(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	perm_handle(req, resp, ud, &rm_upd);
}

static void user_role(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	json_t *m = mw_api_message(ctx, req, NULL, 0, resp);
	if (!m)
		return;
	struct mw_err err = {0};
	enum mw_role role = MW_ROLE_VIEWER;
	int rc = 0;
	if (!ctx->auth)
		rc = mw_err_set(&err, MW_E_NOT_IMPLEMENTED,
				"roles need the server to run with --auth");
	else if (!mw_role_parse(str_field(m, "role"), &role))
		rc = mw_err_set(&err, MW_E_INVALID, "role must be admin, editor or viewer");
	if (!rc)
		rc = mw_auth_user_set_role(ctx->auth, who(req), str_field(m, "username"), role,
					   &err);
	mw_api_reply(req, resp, rc, rc ? NULL : json_object(), &err);
	json_decref(m);
}

#define P(m, pfx, path, f, a, b)                                                                  \
	{                                                                                         \
		.method = m, .pattern = pfx path, .fn = f, .auth = a, .errfmt = MW_ERRFMT_MLFLOW, \
		.body = b, .max_body = (b) == MW_BODY_BUFFERED ? 65536 : 0                        \
	}
#define BUF MW_BODY_BUFFERED
#define NONE MW_BODY_NONE
#define PERM_ROUTES(pfx)                                                                           \
	P("POST", pfx, "experiments/permissions/create", exp_perm_create, MW_AUTH_WRITE, BUF),     \
		P("GET", pfx, "experiments/permissions/get", exp_perm_create, MW_AUTH_READ, NONE), \
		P("PATCH", pfx, "experiments/permissions/update", exp_perm_update, MW_AUTH_WRITE,  \
		  BUF),                                                                            \
		P("DELETE", pfx, "experiments/permissions/delete", exp_perm_create, MW_AUTH_WRITE, \
		  BUF),                                                                            \
		P("POST", pfx, "registered-models/permissions/create", rm_perm_create,             \
		  MW_AUTH_WRITE, BUF),                                                             \
		P("GET", pfx, "registered-models/permissions/get", rm_perm_create, MW_AUTH_READ,   \
		  NONE),                                                                           \
		P("PATCH", pfx, "registered-models/permissions/update", rm_perm_update,            \
		  MW_AUTH_WRITE, BUF),                                                             \
		P("DELETE", pfx, "registered-models/permissions/delete", rm_perm_create,           \
		  MW_AUTH_WRITE, BUF)

static struct mw_route authz_routes[] = {
	PERM_ROUTES("/api/2.0/mlflow/"),
	PERM_ROUTES("/ajax-api/2.0/mlflow/"),
	P("PATCH", "/api/mw/users/", "role", user_role, MW_AUTH_ADMIN, BUF),
};

void mw_api_authz_register(struct mw_api_ctx *ctx, struct mw_http_server *http)
{
	for (size_t i = 0; i < sizeof authz_routes / sizeof *authz_routes; i++)
		authz_routes[i].ud = ctx;
	mw_http_add_routes(http, authz_routes, sizeof authz_routes / sizeof *authz_routes);
}
