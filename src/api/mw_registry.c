/*
 * mw_registry.c - the registry's native REST routes under /api/mw/models/:
 * promotion (aliases with reason and evidence, rollback, stages), the
 * promotion history, lineage and model cards.
 *
 *   GET    /api/mw/models/{name}/history
 *   POST   /api/mw/models/{name}/aliases               {alias, version, reason?, evidence?}
 *   DELETE /api/mw/models/{name}/aliases/{alias}       {reason?, evidence?}
 *   POST   /api/mw/models/{name}/rollback              {alias, reason?, evidence?}
 *   POST   /api/mw/models/{name}/versions/{v}/stage    {stage, archive_existing_versions?, ...}
 *   GET    /api/mw/models/{name}/versions/{v}/lineage
 *   GET    /api/mw/models/{name}/versions/{v}/card
 *   PUT    /api/mw/models/{name}/versions/{v}/card     <the card object>
 *
 * A registered model's name may contain '/' (MLflow allows it, and the HTTP
 * layer decodes %2F), so each method has one route ending in "*" and the
 * handler recognises the operation by the path's tail, reading from the
 * right: whatever precedes the tail is the name.  A known tail with another
 * method is 405, an unknown one 404.  Messages are built like the MLflow
 * routes' (query string for GET, JSON body otherwise, caller identity in
 * the call context the request pipeline built), path parts override body
 * fields, and errors use the same {error_code, message} body (mw_api_reply;
 * the routes' error format is MLflow's).  With --auth each operation needs
 * a permission on the named model (READ for reads, EDIT for changes).
 */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

enum op_kind { OP_NONE, OP_HISTORY, OP_ALIASES, OP_ALIAS_ONE, OP_ROLLBACK, OP_STAGE,
	       OP_LINEAGE, OP_CARD };

struct parsed {
	enum op_kind kind;
	char *name;     /* arena */
	char *version;  /* arena, or NULL */
	char *alias;    /* arena, or NULL */
};

static bool ends_with(const char *s, size_t n, const char *suf, size_t *cut)
{
	size_t m = strlen(suf);
	if (n <= m || memcmp(s + n - m, suf, m))
		return false;
	*cut = n - m;
	return true;
}

/* The last path segment before s[0..n) ends: its start. */
static size_t last_segment(const char *s, size_t n)
{
	size_t i = n;
	while (i > 0 && s[i - 1] != '/')
		i--;
	return i;
}

static void parse_tail(struct mw_arena *a, const char *t, struct parsed *p)
{
	memset(p, 0, sizeof *p);
	size_t n = strlen(t), cut;
	if (ends_with(t, n, "/history", &cut)) {
		p->kind = OP_HISTORY;
	} else if (ends_with(t, n, "/aliases", &cut)) {
		p->kind = OP_ALIASES;
	} else if (ends_with(t, n, "/rollback", &cut)) {
		p->kind = OP_ROLLBACK;
	} else {
		enum op_kind k = OP_NONE;
		if (ends_with(t, n, "/lineage", &cut))
			k = OP_LINEAGE;
		else if (ends_with(t, n, "/card", &cut))
			k = OP_CARD;
		else if (ends_with(t, n, "/stage", &cut))
			k = OP_STAGE;
		if (k != OP_NONE) {
			/* <name>/versions/<v>/<op> */
			size_t vs = last_segment(t, cut);
			static const char vw[] = "/versions/";
			size_t vl = sizeof vw - 1;
			if (vs == cut || vs < vl + 1 || memcmp(t + vs - vl, vw, vl))
				return;
			p->version = mw_arena_strndup(a, t + vs, cut - vs);
			cut = vs - vl;
			p->kind = k;
		} else {
			/* <name>/aliases/<alias> */
			size_t as = last_segment(t, n);
			static const char aw[] = "/aliases/";
			size_t al = sizeof aw - 1;
			if (as == n || as < al + 1 || memcmp(t + as - al, aw, al))
				return;
			p->alias = mw_arena_strndup(a, t + as, n - as);
			cut = as - al;
			p->kind = OP_ALIAS_ONE;
		}
	}
	if (cut == 0) {
		p->kind = OP_NONE;
		return;
	}
	p->name = mw_arena_strndup(a, t, cut);
}

struct route_def {
	enum op_kind kind;
	const char *method;
	mw_registry_op op;
	enum mw_perm perm; /* on the registered model the path names (with --auth) */
};

static const struct route_def defs[] = {
	{OP_HISTORY, "GET", mw_registry_history, MW_PERM_READ},
	{OP_ALIASES, "POST", mw_registry_alias_set, MW_PERM_EDIT},
	{OP_ALIAS_ONE, "DELETE", mw_registry_alias_delete, MW_PERM_EDIT},
	{OP_ROLLBACK, "POST", mw_registry_rollback, MW_PERM_EDIT},
	{OP_STAGE, "POST", mw_registry_stage, MW_PERM_EDIT},
	{OP_LINEAGE, "GET", mw_registry_lineage, MW_PERM_READ},
	{OP_CARD, "GET", mw_registry_card_get, MW_PERM_READ},
	{OP_CARD, "PUT", mw_registry_card_put, MW_PERM_EDIT},
};

static void handle(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	struct mw_api_ctx *ctx = ud;
	struct parsed p;
	parse_tail(req->arena, req->ncap > 0 ? req->cap[0] : "", &p);
	const struct route_def *def = NULL;
	bool known = false;
	for (size_t i = 0; i < sizeof defs / sizeof *defs; i++)
		if (defs[i].kind == p.kind && p.kind != OP_NONE) {
			known = true;
			if (!strcmp(defs[i].method, req->method) ||
			    (!strcmp(req->method, "HEAD") && !strcmp(defs[i].method, "GET")))
				def = &defs[i];
		}
	if (!def) {
		if (known)
			mw_http_error(req, resp, 405, MW_E_NO_ENDPOINT,
				     "This endpoint does not support that method.");
		else
			mw_http_error(req, resp, 404, MW_E_NO_ENDPOINT,
				     "No registry endpoint at this path. See docs/api/registry.md.");
		return;
	}
	if (!mw_utf8_valid(p.name, strlen(p.name)) ||
	    (p.version && !mw_utf8_valid(p.version, strlen(p.version))) ||
	    (p.alias && !mw_utf8_valid(p.alias, strlen(p.alias)))) {
		mw_http_error(req, resp, 400, MW_E_INVALID, "The path is not valid UTF-8.");
		return;
	}
	json_t *msg = mw_api_message(ctx, req, NULL, 0, resp);
	if (!msg)
		return;
	if (def->op == mw_registry_card_put) {
		/* the body is the card itself */
		json_t *card = json_object();
		const char *k;
		json_t *v;
		json_object_foreach(msg, k, v)
			if (k[0] != '\x01')
				json_object_set(card, k, v);
		json_decref(msg);
		msg = json_object();
		json_object_set_new(msg, "card", card);
	}
	json_object_set_new(msg, "name", json_string(p.name));
	if (p.version)
		json_object_set_new(msg, "version", json_string(p.version));
	if (p.alias)
		json_object_set_new(msg, "alias", json_string(p.alias));
	struct mw_err err = {0};
	json_t *out = NULL;
	int rc = mw_api_authorize(ctx, req, (struct mw_api_need){MW_RES_RM, def->perm}, msg, &err);
	if (!rc)
		rc = def->op(ctx->registry, &req->call, msg, &out, &err);
	json_decref(msg);
	mw_api_reply(req, resp, rc, out, &err);
}

#define ROUTE(m, a, b)                                                                       \
	{.method = m, .pattern = "/api/mw/models/*", .fn = handle,                              \
	 .name = "/api/mw/models/:name/...", .auth = a, .errfmt = MW_ERRFMT_MLFLOW, .body = b}

static struct mw_route routes[] = {
	ROUTE("GET", MW_AUTH_READ, MW_BODY_NONE),
	ROUTE("POST", MW_AUTH_WRITE, MW_BODY_BUFFERED),
	ROUTE("PUT", MW_AUTH_WRITE, MW_BODY_BUFFERED),
	ROUTE("DELETE", MW_AUTH_WRITE, MW_BODY_BUFFERED),
};

void mw_api_registry_register(struct mw_api_ctx *ctx, struct mw_http_server *http)
{
	for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
		routes[i].ud = ctx;
	mw_http_add_routes(http, routes, sizeof routes / sizeof *routes);
}
