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

#include "registry/registry.h"
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

/* What a reference names on the server (mw_cli_model_version). */
static int ref_ident(struct remote *r, const char *name, const char *ref,
		     struct mw_model_ident *out, struct mw_err *err)
{
	json_t *mv = NULL;
	int rc = mw_cli_model_version(r->cl, name, ref, &mv, err);
	if (!rc)
		rc = ident_of(mv, name, out, err);
	json_decref(mv);
	return rc;
}

/* Whether the server's promotion history of a model names an alias (it was
 * set once): the same rule as mw_registry_resolve, so a replica never falls
 * back to the latest version of a model that had its default alias.  A
 * history that cannot be read counts as "had it" (never fall back blind). */
static bool had_alias(struct remote *r, const char *name, const char *alias, struct mw_err *err)
{
	char *en = mw_client_escape(name);
	size_t n = strlen(en) + 40;
	char *path = mw_xmalloc(n);
	snprintf(path, n, "/api/mw/models/%s/history", en);
	free(en);
	json_t *req = json_pack("{s:s}", "name", name), *resp = NULL;
	struct mw_err e2 = {0};
	int rc = mw_client_native(r->cl, "GET", path, mw_registry_history, req, &resp, &e2);
	free(path);
	json_decref(req);
	bool had = rc != 0;
	if (rc && e2.code == MW_E_NOT_FOUND)
		had = false; /* no such model: the latest says so */
	json_t *ev = json_object_get(resp, "events");
	for (size_t i = 0; !had && i < json_array_size(ev); i++) {
		json_t *e = json_array_get(ev, i);
		const char *kind = json_string_value(json_object_get(e, "kind"));
		const char *target = json_string_value(json_object_get(e, "target"));
		had = kind && target && !strcmp(target, alias) &&
		      (!strcmp(kind, "alias_set") || !strcmp(kind, "alias_deleted") ||
		       !strcmp(kind, "rollback"));
	}
	json_decref(resp);
	(void)err;
	return had;
}

static int remote_resolve(struct mw_model_source *src, const char *name, const char *ref,
			  const char *default_alias, struct mw_model_ident *out, struct mw_err *err)
{
	struct remote *r = (struct remote *)src;
	int rc;
	pthread_mutex_lock(&r->mu);
	if (!ref || !*ref) {
		rc = -MW_E_NOT_FOUND;
		if (default_alias && *default_alias) {
			char at[300];
			snprintf(at, sizeof at, "@%.290s", default_alias);
			rc = ref_ident(r, name, at, out, err);
		}
		if (rc == -MW_E_NOT_FOUND && default_alias && *default_alias &&
		    had_alias(r, name, default_alias, err))
			rc = mw_err_set(err, MW_E_NOT_FOUND,
					"Registered model '%.100s' has no alias '%.100s' any more: "
					"promote a version to serve its default (it never falls back "
					"to an unpromoted version).",
					name, default_alias);
		else if (rc == -MW_E_NOT_FOUND) { /* never promoted: the latest version */
			mw_err_clear(err);
			rc = ref_ident(r, name, "latest", out, err);
		}
	} else {
		rc = ref_ident(r, name, ref, out, err);
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
