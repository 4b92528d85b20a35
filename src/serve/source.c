/*
 * source.c - model sources: the registry source, and the model directory
 * cache every source fills.
 *
 * The registry source resolves a reference with mw_registry_resolve (so
 * versions, aliases, stages, "latest" and the default alias mean what they
 * mean everywhere else in mw) and materialises a version's pinned files with
 * mw_art_materialise: hard links to the blobs, no copy.  It never reads the
 * store: the registry and the artifact module own those rules.  Its
 * generation is the registry's (mw_registry_generation), so the server
 * re-resolves what it has loaded after every registry write.
 *
 * The directory cache: a version's files live in
 * <root>/<safe name>/<version>-<12 hex of the manifest digest>/.  The name
 * changes whenever the bytes could (a new digest), so a directory, once
 * complete, is never written again; it is filled in a temporary directory
 * beside it that is renamed into place with a ".complete" mark inside, so a
 * reader never sees a half-filled directory, and two processes or threads
 * filling the same version at once both end up with the winner's copy.
 */
#include "serve/serve_int.h"

#include "art/art.h"
#include "registry/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void mw_model_ident_release(struct mw_model_ident *id)
{
	if (!id)
		return;
	free(id->name);
	free(id->version);
	free(id->files);
	memset(id, 0, sizeof *id);
}

/* ------------------------------------------------------------ the directory cache */

int mw_model_dir(const char *root, const struct mw_model_ident *id, mw_model_fill_fn fill,
		 void *ctx, char **dir_out, struct mw_err *err)
{
	char safe[160];
	size_t k = 0;
	for (const char *p = id->name; *p && k < sizeof safe - 1; p++)
		safe[k++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
					    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
				    ? *p
				    : '_';
	safe[k] = 0;
	char sub[400];
	snprintf(sub, sizeof sub, "%s/%.40s-%.12s", safe, id->version,
		 id->digest[0] ? id->digest : "none");
	for (char *p = strchr(sub, '/') + 1; *p; p++) /* the version is a file name too */
		if (*p == '/' || (*p == '.' && p[1] == '.'))
			*p = '_';
	char *dir = mw_fs_join(root, sub);
	char *done = mw_fs_join(dir, ".complete");
	struct stat st;
	int seen = stat(done, &st);
	free(done);
	if (!seen) { /* filled before */
		*dir_out = dir;
		return 0;
	}
	char rnd[33];
	int rc = mw_id_hex32(rnd, err);
	if (rc) {
		free(dir);
		return rc;
	}
	size_t tn = strlen(dir) + 48;
	char *tmp = mw_xmalloc(tn);
	snprintf(tmp, tn, "%s.tmp-%s", dir, rnd);
	rc = mw_fs_mkdirs(tmp, err);
	if (!rc)
		rc = fill(ctx, tmp, err);
	if (!rc) {
		char *mark = mw_fs_join(tmp, ".complete");
		int fd = mw_fs_open(mark, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			rc = mw_fs_error(errno, "cannot mark a model directory complete", err);
		else
			close(fd);
		free(mark);
		if (!rc && mw_fs_rename(tmp, dir) && errno != ENOTEMPTY && errno != EEXIST)
			rc = mw_fs_error(errno, "cannot move a model directory into place", err);
	}
	if (access(tmp, F_OK) == 0) { /* failed, or another loader won the race */
		struct mw_err e2 = {0};
		mw_fs_rm_rf(tmp, &e2);
	}
	free(tmp);
	if (rc) {
		free(dir);
		return rc;
	}
	*dir_out = dir;
	return 0;
}

/* ------------------------------------------------------------ the registry source */

struct reg_source {
	struct mw_model_source base; /* first member */
	struct mw_registry *reg;
	struct mw_art *art;
	char *root; /* <data_dir>/models */
};

static int reg_resolve(struct mw_model_source *src, const char *name, const char *ref,
		       const char *default_alias, struct mw_model_ident *out, struct mw_err *err)
{
	struct reg_source *rs = (struct reg_source *)src;
	struct mw_registry_pin pin;
	int rc = mw_registry_resolve(rs->reg, name, ref, default_alias, &pin, err);
	if (rc)
		return rc;
	if (!pin.files) {
		rc = mw_err_set(err, MW_E_INVALID,
				"%.100s/%lld has no files in mw's artifact store (it was registered "
				"from a source mw does not serve)",
				name, (long long)pin.version);
		mw_registry_pin_release(&pin);
		return rc;
	}
	char v[32];
	snprintf(v, sizeof v, "%lld", (long long)pin.version);
	memset(out, 0, sizeof *out);
	out->name = mw_xstrdup(pin.name);
	out->version = mw_xstrdup(v);
	memcpy(out->digest, pin.manifest_digest, sizeof out->digest);
	out->files = pin.files; /* taken over */
	pin.files = NULL;
	mw_registry_pin_release(&pin);
	return 0;
}

struct reg_fill {
	struct reg_source *rs;
	const char *files;
	const struct mw_model_ident *id;
};

static int reg_fill(void *ctx, const char *tmp, struct mw_err *err)
{
	struct reg_fill *f = ctx;
	int rc = mw_art_materialise(f->rs->art, f->files, tmp, err);
	if (rc == -MW_E_NOT_FOUND) /* the version exists: its files are the problem */
		rc = mw_err_set(err, MW_E_INVALID, "%.100s/%.30s has no files", f->id->name,
				f->id->version);
	return rc;
}

static int reg_fetch(struct mw_model_source *src, const struct mw_model_ident *id, char **dir,
		     struct mw_err *err)
{
	struct reg_source *rs = (struct reg_source *)src;
	if (!id->files)
		return mw_err_set(err, MW_E_INVALID, "%.100s/%.30s has no files", id->name,
				  id->version);
	struct reg_fill f = {rs, id->files, id};
	return mw_model_dir(rs->root, id, reg_fill, &f, dir, err);
}

static uint64_t reg_generation(struct mw_model_source *src)
{
	return mw_registry_generation(((struct reg_source *)src)->reg);
}

static int reg_list(struct mw_model_source *src, size_t max, json_t **names, struct mw_err *err)
{
	struct reg_source *rs = (struct reg_source *)src;
	*names = json_array();
	char *token = NULL;
	int rc = 0;
	while (!rc && json_array_size(*names) < max) {
		json_t *req = json_pack("{s:I}", "max_results",
					(json_int_t)(max - json_array_size(*names) < 1000
							     ? max - json_array_size(*names)
							     : 1000));
		if (token)
			json_object_set_new(req, "page_token", json_string(token));
		json_t *resp = NULL;
		rc = mw_registry_rm_search(rs->reg, &mw_call_system, req, &resp, err);
		json_decref(req);
		free(token);
		token = NULL;
		json_t *list = json_object_get(resp, "registered_models");
		for (size_t i = 0; !rc && i < json_array_size(list); i++)
			json_array_append(*names, json_object_get(json_array_get(list, i), "name"));
		const char *next = json_string_value(json_object_get(resp, "next_page_token"));
		if (next && *next)
			token = mw_xstrdup(next);
		json_decref(resp);
		if (!token)
			break;
	}
	free(token);
	if (rc) {
		json_decref(*names);
		*names = NULL;
	}
	return rc;
}

static void reg_free(struct mw_model_source *src)
{
	struct reg_source *rs = (struct reg_source *)src;
	free(rs->root);
	free(rs);
}

static const struct mw_model_source_ops reg_ops = {
	.kind = "registry",
	.resolve = reg_resolve,
	.fetch = reg_fetch,
	.generation = reg_generation,
	.list = reg_list,
	.free = reg_free,
};

struct mw_model_source *mw_serve_registry_source(struct mw_registry *registry, struct mw_art *art,
						 const char *data_dir)
{
	struct reg_source *rs = mw_xcalloc(1, sizeof *rs);
	rs->base.ops = &reg_ops;
	rs->reg = registry;
	rs->art = art;
	rs->root = mw_fs_join(data_dir ? data_dir : ".", "models");
	return &rs->base;
}
