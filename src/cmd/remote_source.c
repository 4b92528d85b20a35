/*
 * remote_source.c - the model source of a replica: models:/ references
 * resolved by another mw over HTTP (MW_URI / --uri), files downloaded into a
 * local cache.
 *
 * It plugs into serve/ through the same struct mw_model_source as the
 * registry source, so `mw serve models:/fraud@champion` with MW_URI hot-swaps
 * exactly like `mw server` does: the serve object's watcher re-resolves the
 * reference every --alias-poll-ms and loads a version whose identity
 * changed.  It lives in cmd/ because it is a client of mw's own REST API
 * (the CLI's struct mw_client and mw_cli_download); serve/ never sees HTTP.
 *
 *   resolve  "@alias": registered-models/alias; a number: model-versions/get;
 *            a stage or "latest": registered-models/get-latest-versions;
 *            the default: the default alias, else the latest version.  The
 *            identity is (name, version, manifest_digest) as the server
 *            reports them.
 *   fetch    mw_cli_download of models:/<name>/<version> (every file SHA-256
 *            verified) into <root>/<name>/<version>-<digest>/ through
 *            mw_model_dir, so a version is downloaded once.
 *
 * The client has one libcurl handle, so calls are serialised by a mutex
 * (resolve runs on the watcher thread, fetch also on a request's first use
 * of an explicit version).  An unreachable server makes resolve fail; the
 * watcher then keeps serving what it has.
 */
#include "cmd/cmd.h"

#include "serve/serve.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct remote {
	struct mw_model_source base; /* first member */
	struct mw_client *cl;        /* borrowed */
	char *root;
	pthread_mutex_t mu;
};

/* The identity in a model_version message. */
static int ident_of(json_t *mv, const char *name, struct mw_model_ident *out, struct mw_err *err)
{
	const char *v = json_string_value(json_object_get(mv, "version"));
	const char *d = json_string_value(json_object_get(mv, "manifest_digest"));
	if (!v || !*v)
		return mw_err_set(err, MW_E_INTERNAL,
				  "the registry's answer for '%.100s' has no version", name);
	memset(out, 0, sizeof *out);
	out->name = mw_xstrdup(name);
	out->version = mw_xstrdup(v);
	snprintf(out->digest, sizeof out->digest, "%s", d && strlen(d) == 64 ? d : "");
	return 0;
}

/* The highest version of a name, or of its versions in one stage. */
static int latest(struct remote *r, const char *name, const char *stage, struct mw_model_ident *out,
		  struct mw_err *err)
{
	json_t *req = json_pack("{s:s}", "name", name), *resp = NULL;
	if (stage)
		json_object_set_new(req, "stages", json_pack("[s]", stage));
	int rc = mw_client_request(r->cl, "GET", "registered-models/get-latest-versions", req,
				   &resp, err);
	json_decref(req);
	if (rc)
		return rc;
	json_t *best = NULL;
	int64_t bv = 0;
	json_t *list = json_object_get(resp, "model_versions");
	for (size_t i = 0; i < json_array_size(list); i++) {
		int64_t v;
		const char *vs =
			json_string_value(json_object_get(json_array_get(list, i), "version"));
		if (vs && !mw_parse_int64(vs, &v) && v > bv) {
			bv = v;
			best = json_array_get(list, i);
		}
	}
	rc = best ? ident_of(best, name, out, err)
		  : mw_err_set(err, MW_E_NOT_FOUND,
			       "registered model '%.100s' has no version%s%.40s", name,
			       stage ? " in stage " : "", stage ? stage : "");
	json_decref(resp);
	return rc;
}

static int by_alias(struct remote *r, const char *name, const char *alias,
		    struct mw_model_ident *out, struct mw_err *err)
{
	json_t *req = json_pack("{s:s,s:s}", "name", name, "alias", alias), *resp = NULL;
	int rc = mw_client_request(r->cl, "GET", "registered-models/alias", req, &resp, err);
	json_decref(req);
	if (!rc)
		rc = ident_of(json_object_get(resp, "model_version"), name, out, err);
	json_decref(resp);
	return rc;
}

static int remote_resolve(struct mw_model_source *src, const char *name, const char *ref,
			  const char *default_alias, struct mw_model_ident *out, struct mw_err *err)
{
	struct remote *r = (struct remote *)src;
	int64_t v;
	int rc;
	pthread_mutex_lock(&r->mu);
	if (!ref || !*ref) {
		rc = default_alias && *default_alias ? by_alias(r, name, default_alias, out, err)
						     : -MW_E_NOT_FOUND;
		if (rc == -MW_E_NOT_FOUND) { /* no such alias: the latest version */
			mw_err_clear(err);
			rc = latest(r, name, NULL, out, err);
		}
	} else if (ref[0] == '@') {
		rc = by_alias(r, name, ref + 1, out, err);
	} else if (!mw_parse_int64(ref, &v)) {
		json_t *req = json_pack("{s:s,s:s}", "name", name, "version", ref), *resp = NULL;
		rc = mw_client_request(r->cl, "GET", "model-versions/get", req, &resp, err);
		if (!rc)
			rc = ident_of(json_object_get(resp, "model_version"), name, out, err);
		json_decref(req);
		json_decref(resp);
	} else {
		rc = latest(r, name, strcasecmp(ref, "latest") ? ref : NULL, out, err);
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

struct fill {
	struct remote *r;
	const struct mw_model_ident *id;
};

static int remote_fill(void *ctx, const char *tmp, struct mw_err *err)
{
	struct fill *f = ctx;
	size_t n = strlen(f->id->name) + strlen(f->id->version) + 16;
	char *uri = mw_xmalloc(n);
	snprintf(uri, n, "models:/%s/%s", f->id->name, f->id->version);
	int rc = mw_cli_download(f->r->cl, uri, tmp, err);
	free(uri);
	return rc;
}

static int remote_fetch(struct mw_model_source *src, const struct mw_model_ident *id, char **dir,
			struct mw_err *err)
{
	struct remote *r = (struct remote *)src;
	struct fill f = {r, id};
	pthread_mutex_lock(&r->mu);
	int rc = mw_model_dir(r->root, id, remote_fill, &f, dir, err);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static void remote_free(struct mw_model_source *src)
{
	struct remote *r = (struct remote *)src;
	if (!r)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r->root);
	free(r);
}

static const struct mw_model_source_ops remote_ops = {
	.kind = "remote",
	.resolve = remote_resolve,
	.fetch = remote_fetch,
	.free = remote_free,
};

struct mw_model_source *cmd_remote_source(struct mw_client *cl, const char *root)
{
	struct remote *r = mw_xcalloc(1, sizeof *r);
	r->base.ops = &remote_ops;
	r->cl = cl;
	r->root = mw_xstrdup(root);
	pthread_mutex_init(&r->mu, NULL);
	return &r->base;
}
