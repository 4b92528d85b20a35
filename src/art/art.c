/*
 * art.c - artifact paths, uploads, downloads, listings, fsck and gc.
 *
 * See art.h for the rules.  The order of an upload is what makes it safe:
 * blob first (fsync'd, renamed into place), manifest second (committed by
 * the store's group commit), so a crash between the two leaves an
 * unreferenced blob that gc removes after its grace period, never a manifest
 * entry without bytes.
 */
#include "art/art.h"

#include "store/audit.h"
#include "store/tracking.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct mw_art {
	struct mw_store *store;
	struct mw_blob *blob;
	size_t max_bytes; /* a listing's budget (max-response-bytes), 0: none */
};

struct mw_art_upload {
	struct mw_art *a;
	const struct mw_call *call;
	char *path;
	struct mw_blob_writer *w;
};

int mw_art_new(struct mw_store *store, struct mw_blob *blob, struct mw_art **out,
	       struct mw_err *err)
{
	(void)err;
	struct mw_art *a = mw_xcalloc(1, sizeof *a);
	a->store = store;
	a->blob = blob;
	*out = a;
	return 0;
}

void mw_art_set_max_response(struct mw_art *a, size_t max_bytes)
{
	a->max_bytes = max_bytes;
}

void mw_art_free(struct mw_art *a)
{
	free(a);
}

/* ------------------------------------------------------------ paths */

static int bad_path(const char *in, const char *why, struct mw_err *err)
{
	/* never echo bytes that might not be printable */
	char shown[80];
	size_t k = 0;
	for (const char *p = in; *p && k < sizeof shown - 4; p++)
		shown[k++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	shown[k] = 0;
	return mw_err_set(err, MW_E_INVALID, "Invalid artifact path '%s%s': %s", shown,
			  strlen(in) > k ? "..." : "", why);
}

int mw_art_path_normalize(const char *in, bool allow_empty, char **out, struct mw_err *err)
{
	if (!in)
		in = "";
	size_t n = strlen(in);
	if (n > MW_ART_MAX_PATH)
		return bad_path(in, "longer than 1000 bytes", err);
	if (!mw_utf8_valid(in, n))
		return bad_path(in, "not valid UTF-8", err);
	if (in[0] == '/')
		return bad_path(in, "absolute paths are not allowed", err);
	for (const char *p = in; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f)
			return bad_path(in, "control characters are not allowed", err);
		if (c == '\\')
			return bad_path(in, "backslashes are not allowed", err);
		if (c == '%' && p[1] && p[2]) {
			char h[3] = {p[1], p[2], 0};
			if (!strcasecmp(h, "2e") || !strcasecmp(h, "2f") || !strcasecmp(h, "5c") ||
			    !strcasecmp(h, "00"))
				return bad_path(in, "percent-encoded '.', '/', '\\' or NUL", err);
		}
	}
	char *o = mw_xstrdup(in);
	size_t len = strlen(o);
	if (len && o[len - 1] == '/')
		o[--len] = 0;
	if (!len) {
		if (allow_empty) {
			*out = o;
			return 0;
		}
		free(o);
		return bad_path(in, "empty path", err);
	}
	/* every segment: not empty, not "." or ".." */
	for (const char *seg = o; seg;) {
		const char *e = strchr(seg, '/');
		size_t sl = e ? (size_t)(e - seg) : strlen(seg);
		if (sl == 0 || (sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.')) {
			free(o);
			return bad_path(in, "empty, '.' and '..' segments are not allowed", err);
		}
		seg = e ? e + 1 : NULL;
	}
	*out = o;
	return 0;
}

int mw_art_uri_to_path(const char *uri, char **out, struct mw_err *err)
{
	const char *p = NULL, *rest;
	if ((rest = mw_uri_prefix(uri, "mlflow-artifacts://"))) {
		p = strchr(rest, '/');
		p = p ? p + 1 : "";
	} else if ((rest = mw_uri_prefix(uri, "mlflow-artifacts:/"))) {
		p = rest;
	} else if (mw_uri_prefix(uri, "http://") || mw_uri_prefix(uri, "https://")) {
		const char *m = strstr(uri, "/mlflow-artifacts/artifacts");
		if (m) {
			p = m + strlen("/mlflow-artifacts/artifacts");
			if (*p == '/')
				p++;
		}
	}
	if (!p)
		return mw_err_set(err, MW_E_INVALID,
				  "'%.200s' is not an artifact location served by mw "
				  "(mlflow-artifacts:/...)",
				  uri);
	return mw_art_path_normalize(p, true, out, err);
}

static bool reserved(const char *path)
{
	return !strncmp(path, "_registry/", 10) || !strcmp(path, "_registry") ||
	       !strncmp(path, "_sources/", 9) || !strcmp(path, "_sources");
}

/* ------------------------------------------------------------ uploads */

int mw_art_upload_begin(struct mw_art *a, const struct mw_call *call, const char *path,
			struct mw_art_upload **out, struct mw_err *err)
{
	char *norm;
	int rc = mw_art_path_normalize(path, false, &norm, err);
	if (rc)
		return rc;
	if (reserved(norm)) {
		free(norm);
		return mw_err_set(err, MW_E_INVALID,
				  "'%.200s' is under a read-only root: the files of registered model "
				  "versions never change",
				  path);
	}
	struct mw_art_upload *u = mw_xcalloc(1, sizeof *u);
	u->a = a;
	u->call = call;
	u->path = norm;
	if ((rc = mw_blob_begin(a->blob, &u->w, err))) {
		free(norm);
		free(u);
		return rc;
	}
	*out = u;
	return 0;
}

int mw_art_upload_data(struct mw_art_upload *u, const void *p, size_t n, struct mw_err *err)
{
	return mw_blob_write(u->w, p, n, err);
}

int mw_art_upload_commit(struct mw_art_upload *u, char digest[65], uint64_t *size,
			 struct mw_err *err)
{
	char d[65];
	uint64_t sz = 0;
	struct mw_blob_hold *hold = NULL;
	int rc = mw_blob_commit(u->w, d, &sz, &hold, err);
	u->w = NULL;
	if (!rc) {
		/* the hold keeps gc away until the manifest references the blob */
		bool replaced = false;
		struct mw_audit_rec ar;
		struct mw_store_bound sb;
		mw_audit_rec_init(&ar, u->call, "artifact.upload", "artifact", u->path);
		mw_audit_rec_after(&ar, "{s:s, s:I}", "digest", d, "size", (json_int_t)sz);
		rc = mw_store_art_put(mw_store_audit_bind(u->a->store, &ar, &sb), u->path, d, sz,
				      mw_now_ms(), &replaced, err);
		mw_audit_rec_release(&ar);
		mw_blob_hold_release(hold);
		if (!rc && replaced)
			mw_info("artifact %s replaced (now %.12s); the old entry is kept in history",
				u->path, d);
	}
	if (!rc && digest)
		memcpy(digest, d, 65);
	if (!rc && size)
		*size = sz;
	free(u->path);
	free(u);
	return rc;
}

void mw_art_upload_abort(struct mw_art_upload *u)
{
	if (!u)
		return;
	mw_blob_abort(u->w);
	free(u->path);
	free(u);
}

/* ------------------------------------------------------------ reads */

int mw_art_open(struct mw_art *a, const char *path, int *fd, struct mw_art_entry *e,
		struct mw_err *err)
{
	char *norm;
	int rc = mw_art_path_normalize(path, false, &norm, err);
	if (rc)
		return rc;
	rc = mw_store_art_get(a->store, norm, e, err);
	if (rc == -MW_E_NOT_FOUND && err->detail == MW_STORE_ARTIFACT)
		rc = mw_err_set(err, MW_E_NOT_FOUND, "No artifact at '%s'", norm);
	free(norm);
	if (rc)
		return rc;
	uint64_t size;
	if ((rc = mw_blob_open_fd(a->blob, e->digest, fd, &size, err))) {
		if (rc == -MW_E_NOT_FOUND)
			return mw_err_set(err, MW_E_IO, "the bytes of '%s' (blob %.12s) are missing: "
							"run 'mw fsck'",
					  e->path, e->digest);
		return rc;
	}
	if (size != e->size) {
		close(*fd);
		return mw_err_set(err, MW_E_IO,
				  "the blob of '%s' has %llu bytes, the manifest says %llu: run 'mw fsck'",
				  e->path, (unsigned long long)size, (unsigned long long)e->size);
	}
	return 0;
}

/* A listed child as {path, is_dir, file_size?}: path is its base name, or
 * with a prefix (ud: "sub/", artifacts/list's paths relative to the root). */
static json_t *child_shape(const void *rec, void *ud)
{
	const struct mw_art_child *c = rec;
	const char *prefix = ud ? ud : "";
	json_t *f = json_object();
	size_t n = strlen(prefix) + strlen(c->name) + 1;
	char *path = mw_xmalloc(n);
	snprintf(path, n, "%s%s", prefix, c->name);
	json_object_set_new(f, "path", json_string(path));
	free(path);
	json_object_set_new(f, "is_dir", json_boolean(c->is_dir));
	if (!c->is_dir)
		json_object_set_new(f, "file_size", json_integer((json_int_t)c->size));
	return f;
}

/* The direct children of dir into out["files"] (left out when none), within
 * the answer's budget: paged (a page token in, next_page_token out) or, for
 * a listing whose protocol has no token, whole or MW_E_TOO_LARGE.  extra:
 * the bytes of out's other members. */
static int children(struct mw_art *a, const char *dir, const char *prefix, const char *token,
		    bool paged, size_t extra, json_t *out, struct mw_err *err)
{
	struct mw_page p = {.max_results = INT64_MAX - 1};
	int rc = paged ? mw_page_token_decode(token, &p.offset, err) : 0;
	if (rc)
		return rc;
	struct mw_page_json pj;
	mw_page_json_init(&pj, child_shape, "artifact", "files", extra, a->max_bytes, paged);
	pj.shape_ud = (void *)prefix;
	p.take = mw_page_json_take;
	p.ud = &pj;
	struct mw_arena *ar = mw_arena_new(16384);
	struct mw_art_child *c = NULL;
	size_t n = 0;
	bool more = false;
	rc = mw_store_art_list(a->store, dir, &p, ar, &c, &n, &more, err);
	rc = mw_page_json_finish(&pj, rc, out, "files", &p, more);
	mw_arena_free(ar);
	return rc;
}

int mw_art_list(struct mw_art *a, const char *dir, json_t **out, struct mw_err *err)
{
	char *norm;
	int rc = mw_art_path_normalize(dir, true, &norm, err);
	if (rc)
		return rc;
	json_t *o = json_object();
	rc = children(a, norm, NULL, NULL, false, 0, o, err);
	free(norm);
	if (rc) {
		json_decref(o);
		return rc;
	}
	*out = o;
	return 0;
}

json_t *mw_art_files_json(const struct mw_art_file *f, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s,s:s,s:I}", "path", f[i].path, "digest",
						     f[i].digest, "size", (json_int_t)f[i].size));
	return arr;
}

int mw_art_tree(struct mw_art *a, const char *dir, json_t **out, struct mw_err *err)
{
	char *norm;
	int rc = mw_art_path_normalize(dir, true, &norm, err);
	if (rc)
		return rc;
	struct mw_arena *ar = mw_arena_new(16384);
	struct mw_art_file *f = NULL;
	size_t n = 0;
	if (!(rc = mw_store_art_tree(a->store, norm, ar, &f, &n, err)))
		*out = mw_art_files_json(f, n);
	mw_arena_free(ar);
	free(norm);
	return rc;
}

int mw_art_materialise(struct mw_art *a, const char *dir, const char *dest, struct mw_err *err)
{
	json_t *files = NULL;
	int rc = mw_art_tree(a, dir, &files, err);
	if (rc)
		return rc;
	if (!json_array_size(files)) {
		json_decref(files);
		return mw_err_set(err, MW_E_NOT_FOUND, "'%.200s' holds no files", dir);
	}
	for (size_t i = 0; !rc && i < json_array_size(files); i++) {
		json_t *f = json_array_get(files, i);
		const char *digest = json_string_value(json_object_get(f, "digest"));
		char *rel = NULL;
		/* manifest paths are normalised when written; checked again, since
		 * they become local file names here */
		rc = mw_art_path_normalize(json_string_value(json_object_get(f, "path")), false,
					   &rel, err);
		if (rc)
			break;
		char *local = mw_fs_join(dest, rel);
		char *slash = strrchr(local, '/');
		*slash = 0;
		rc = mw_fs_mkdirs(local, err);
		*slash = '/';
		if (!rc)
			rc = mw_blob_link(a->blob, digest ? digest : "", local, err);
		free(local);
		free(rel);
	}
	json_decref(files);
	return rc;
}

int mw_art_delete(struct mw_art *a, const struct mw_call *call, const char *path,
		  struct mw_err *err)
{
	char *norm;
	int rc = mw_art_path_normalize(path, false, &norm, err);
	if (rc)
		return rc;
	if (reserved(norm)) {
		free(norm);
		return mw_err_set(err, MW_E_INVALID,
				  "'%.200s' is under a read-only root: delete the model version instead",
				  path);
	}
	int removed = 0;
	struct mw_audit_rec ar;
	struct mw_store_bound sb;
	mw_audit_rec_init(&ar, call, "artifact.delete", "artifact", norm);
	rc = mw_store_art_delete(mw_store_audit_bind(a->store, &ar, &sb), norm, mw_now_ms(),
				 &removed, err);
	if (rc == -MW_E_NOT_FOUND && err->detail == MW_STORE_ARTIFACT)
		rc = mw_err_set(err, MW_E_NOT_FOUND, "No artifact at '%s'", norm);
	free(norm);
	return rc;
}

/* ------------------------------------------------------------ roots */

static int root_of(const char *uri, char **path, char **root_uri, struct mw_err *err)
{
	int rc = mw_art_uri_to_path(uri, path, err);
	if (rc)
		return rc;
	*root_uri = mw_xstrdup(uri);
	return 0;
}

int mw_art_run_root(struct mw_art *a, const char *run_id, char **path, char **root_uri,
		    struct mw_err *err)
{
	struct mw_arena *ar = mw_arena_new(4096);
	struct mw_run run;
	int rc = mw_store_run_get(a->store, run_id, ar, &run, err);
	if (rc == -MW_E_NOT_FOUND && err->detail == MW_STORE_RUN)
		rc = mw_err_set(err, MW_E_NOT_FOUND, "Run with id=%s not found", run_id);
	if (!rc) {
		const char *uri = run.info.artifact_uri;
		rc = root_of(uri ? uri : "", path, root_uri, err);
	}
	mw_arena_free(ar);
	return rc;
}

int mw_art_model_root(struct mw_art *a, const char *model_id, char **path, char **root_uri,
		      struct mw_err *err)
{
	struct mw_arena *ar = mw_arena_new(4096);
	struct mw_logged_model m;
	int rc = mw_store_lm_get(a->store, model_id, ar, &m, err);
	if (rc == -MW_E_NOT_FOUND && err->detail == MW_STORE_LOGGED_MODEL)
		rc = mw_err_set(err, MW_E_NOT_FOUND, "Logged model with ID '%s' not found.",
				model_id);
	if (!rc) {
		const char *uri = m.artifact_uri;
		rc = root_of(uri ? uri : "", path, root_uri, err);
	}
	mw_arena_free(ar);
	return rc;
}

int mw_art_list_under(struct mw_art *a, const char *root_path, const char *root_uri,
		      const char *sub, const char *page_token, json_t **out, struct mw_err *err)
{
	char *nsub;
	int rc = mw_art_path_normalize(sub ? sub : "", true, &nsub, err);
	if (rc)
		return rc;
	size_t n = strlen(root_path) + strlen(nsub) + 2;
	char *dir = mw_xmalloc(n);
	snprintf(dir, n, "%s%s%s", root_path, *nsub && *root_path ? "/" : "", nsub);
	char *prefix = mw_xmalloc(strlen(nsub) + 2);
	snprintf(prefix, strlen(nsub) + 2, "%s%s", nsub, *nsub ? "/" : "");
	json_t *o = json_pack("{s:s}", "root_uri", root_uri);
	rc = children(a, dir, prefix, page_token, true, mw_json_size(o), o, err);
	free(prefix);
	free(dir);
	free(nsub);
	if (rc) {
		json_decref(o);
		return rc;
	}
	*out = o;
	return 0;
}

/* ------------------------------------------------------------ fsck, gc */

struct scan {
	struct mw_art *a;
	json_t *corrupt, *missing, *mismatch;
	json_t *referenced; /* digest -> size (object used as a set) */
	unsigned long long blobs, bytes, removed, removed_bytes, young, in_use;
	int64_t now, grace;
	bool dry_run;
	struct mw_err *err;
};

static int fsck_blob(void *ctx, const char *digest, uint64_t size, int64_t mtime)
{
	struct scan *s = ctx;
	(void)mtime;
	s->blobs++;
	s->bytes += size;
	bool ok = false;
	uint64_t real = 0;
	struct mw_err e = {0};
	if (!mw_blob_digest_valid(digest)) {
		json_array_append_new(s->corrupt, json_pack("{s:s,s:s}", "digest", digest, "reason",
							    "the file name is not a SHA-256 digest"));
		return 0;
	}
	if (mw_blob_verify(s->a->blob, digest, &ok, &real, &e))
		json_array_append_new(s->corrupt,
				      json_pack("{s:s,s:s}", "digest", digest, "reason", e.msg));
	else if (!ok)
		json_array_append_new(s->corrupt,
				      json_pack("{s:s,s:s}", "digest", digest, "reason",
						"its bytes no longer hash to its name"));
	return 0;
}

static int fsck_ref(void *ctx, const char *digest, uint64_t size, const char *path)
{
	struct scan *s = ctx;
	int fd;
	uint64_t real;
	struct mw_err e = {0};
	if (mw_blob_open_fd(s->a->blob, digest, &fd, &real, &e)) {
		json_array_append_new(s->missing,
				      json_pack("{s:s,s:s}", "path", path, "digest", digest));
		return 0;
	}
	close(fd);
	if (real != size)
		json_array_append_new(s->mismatch, json_pack("{s:s,s:s,s:I,s:I}", "path", path,
							     "digest", digest, "manifest_size",
							     (json_int_t)size, "blob_size",
							     (json_int_t)real));
	return 0;
}

int mw_art_fsck(struct mw_art *a, json_t **report, struct mw_err *err)
{
	struct scan s = {.a = a, .err = err};
	s.corrupt = json_array();
	s.missing = json_array();
	s.mismatch = json_array();
	int rc = mw_blob_each(a->blob, fsck_blob, &s, err);
	if (!rc)
		rc = mw_store_art_each(a->store, false, fsck_ref, &s, err);
	if (rc) {
		json_decref(s.corrupt);
		json_decref(s.missing);
		json_decref(s.mismatch);
		return rc;
	}
	bool ok = !json_array_size(s.corrupt) && !json_array_size(s.missing) &&
		  !json_array_size(s.mismatch);
	*report = json_pack("{s:I,s:I,s:o,s:o,s:o,s:b}", "blobs", (json_int_t)s.blobs, "bytes",
			    (json_int_t)s.bytes, "corrupt", s.corrupt, "missing", s.missing,
			    "size_mismatch", s.mismatch, "ok", ok);
	return 0;
}

static int gc_mark(void *ctx, const char *digest, uint64_t size, const char *path)
{
	struct scan *s = ctx;
	(void)size;
	(void)path;
	json_object_set_new(s->referenced, digest, json_true());
	return 0;
}

static int gc_recheck(void *ctx, const char *digest, bool *referenced, struct mw_err *err)
{
	struct mw_art *a = ctx;
	return mw_store_art_digest_used(a->store, digest, referenced, err);
}

static int gc_sweep(void *ctx, const char *digest, uint64_t size, int64_t mtime)
{
	struct scan *s = ctx;
	if (json_object_get(s->referenced, digest))
		return 0;
	if (s->now - mtime < s->grace) {
		s->young++; /* maybe an upload whose manifest entry is on its way */
		return 0;
	}
	if (!s->dry_run) {
		/* The mark above is a snapshot: an upload may have committed the
		 * same bytes since.  The blob store removes the blob only if no
		 * upload holds it and the store, asked again while the blob is
		 * locked, still has no reference to it. */
		struct mw_err e = {0};
		enum mw_blob_removal r = MW_BLOB_ABSENT;
		if (mw_blob_remove_unreferenced(s->a->blob, digest, gc_recheck, s->a, &r, &e)) {
			mw_warn("gc: %s", e.msg);
			return 0;
		}
		if (r == MW_BLOB_KEPT_HELD || r == MW_BLOB_KEPT_REFERENCED)
			s->in_use++;
		if (r != MW_BLOB_REMOVED)
			return 0;
	}
	s->removed++;
	s->removed_bytes += size;
	return 0;
}

int mw_art_gc(struct mw_art *a, const struct mw_call *call, int64_t grace_ms, bool dry_run,
	      json_t **report, struct mw_err *err)
{
	struct scan s = {.a = a, .err = err, .now = mw_now_ms(), .grace = grace_ms,
			 .dry_run = dry_run};
	s.referenced = json_object();
	int rc = mw_store_art_each(a->store, false, gc_mark, &s, err);
	if (!rc)
		rc = mw_blob_each(a->blob, gc_sweep, &s, err);
	int tmp = 0;
	if (!rc && !dry_run)
		rc = mw_blob_clean_tmp(a->blob, grace_ms, &tmp, err);
	json_decref(s.referenced);
	if (!rc && !dry_run) {
		/* blobs are files, not rows: gc's record follows its sweep, in a
		 * transaction of its own (a crash between them loses the record,
		 * never an artifact: only unreferenced blobs were removed) */
		struct mw_audit_rec ar;
		mw_audit_rec_init(&ar, call, "ops.gc", "blobs", "");
		mw_audit_rec_after(&ar, "{s:I, s:I, s:i, s:I}", "removed_blobs",
				   (json_int_t)s.removed, "removed_bytes",
				   (json_int_t)s.removed_bytes, "removed_tmp", tmp, "grace_ms",
				   (json_int_t)grace_ms);
		rc = mw_store_audit_append(a->store, &ar, err);
		mw_audit_rec_release(&ar);
	}
	if (rc)
		return rc;
	*report = json_pack("{s:I,s:I,s:I,s:I,s:i,s:b,s:I}", "removed_blobs",
			    (json_int_t)s.removed, "removed_bytes", (json_int_t)s.removed_bytes,
			    "kept_young", (json_int_t)s.young, "kept_in_use", (json_int_t)s.in_use,
			    "removed_tmp", tmp, "dry_run", dry_run, "grace_ms", (json_int_t)grace_ms);
	return 0;
}
