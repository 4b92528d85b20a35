/*
 * sqlite_artifacts.c - the artifacts domain in the SQLite backend: path
 * manifests (schema: migration 2 in sqlite.c), as the records of
 * store/artifacts.h.
 *
 * The artifacts table maps a normalised artifact path to a blob digest and
 * size.  Directories are implicit (prefixes ending in '/'); a listing walks
 * the ordered primary key and jumps over each child directory with one seek
 * ("dir/child0" is the first key after every "dir/child/..."), so listing a
 * directory costs one lookup per direct child, whatever lies below.
 *
 * Nothing is replaced silently: a put that changes a path's digest, and every
 * delete, first copies the old row to artifact_history with the time it ended.
 *
 * A path is a file or a directory, never both: a put of a new path is
 * refused when a file sits where one of its directories goes or when files
 * lie below it (check_shape, inside the put's job).
 */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_ART_GET[] = "SELECT digest, size, created FROM artifacts WHERE path = ?";
static const char SQL_ART_INSERT[] =
	"INSERT INTO artifacts (path, digest, size, created) VALUES (?, ?, ?, ?)"
	" ON CONFLICT (path) DO UPDATE SET digest = excluded.digest, size = excluded.size,"
	" created = excluded.created";
static const char SQL_ART_HISTORY[] =
	"INSERT INTO artifact_history (path, digest, size, created, ended, action)"
	" SELECT path, digest, size, created, ?, ? FROM artifacts WHERE path = ?";
static const char SQL_ART_DELETE[] = "DELETE FROM artifacts WHERE path = ?";
static const char SQL_ART_NEXT[] =
	"SELECT path, size FROM artifacts WHERE path > ? AND path < ? ORDER BY path LIMIT 1";
static const char SQL_ART_RANGE[] =
	"SELECT path, digest, size FROM artifacts WHERE path > ? AND path < ? ORDER BY path";
static const char SQL_ART_ALL[] = "SELECT digest, size, path FROM artifacts";
static const char SQL_ART_ALL_HISTORY[] =
	"SELECT digest, size, path FROM artifacts UNION ALL"
	" SELECT digest, size, path FROM artifact_history";

/* The half-open key range [lo, hi) of everything below dir ("" = all). */
static void range_of(const char *dir, char **lo, char **hi)
{
	size_t n = strlen(dir);
	if (!n) {
		*lo = mw_xstrdup("");
		*hi = mw_xstrdup("\xf4\x90"); /* above every valid UTF-8 string */
		return;
	}
	*lo = mw_xmalloc(n + 2);
	snprintf(*lo, n + 2, "%s/", dir);
	*hi = mw_xmalloc(n + 2);
	snprintf(*hi, n + 2, "%s0", dir); /* '0' follows '/' */
}

/* ------------------------------------------------------------ put */

struct put_arg {
	const char *path, *digest;
	uint64_t size;
	int64_t now;
	bool replaced;
};

static int record_history(struct conn *c, const char *path, int64_t now, const char *action,
			  struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_ART_HISTORY, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, now);
	sqi_bind_text(st, 2, action);
	sqi_bind_text(st, 3, path);
	return sqi_step_done(c, st, err);
}

static const char SQL_ART_BELOW[] =
	"SELECT path FROM artifacts WHERE path > ? AND path < ? ORDER BY path LIMIT 1";

/* A new file at path must not make the manifest ambiguous: no file may sit
 * where one of its directories goes ("a/b" a file, then "a/b/c"), and no
 * file may be below it (it is a directory: "a/b/c", then "a/b").  Checked in
 * the put's own job, so two uploads cannot both pass.  MW_E_INVALID with
 * detail MW_STORE_ARTIFACT, naming the other path. */
static int check_shape(struct conn *c, const char *path, struct mw_err *err)
{
	sqlite3_stmt *st;
	size_t n = strlen(path);
	for (size_t i = 1; i < n; i++) {
		if (path[i] != '/')
			continue;
		if (!(st = sqi_prep(c, SQL_ART_GET, err)))
			return -err->code;
		sqlite3_bind_text(st, 1, path, (int)i, SQLITE_STATIC);
		bool file = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_reset(st);
		if (file)
			return mw_store_err(err, MW_E_INVALID, MW_STORE_ARTIFACT,
					    "'%.300s' cannot be written: '%.*s' is a file, not a "
					    "directory",
					    path, (int)(i < 300 ? i : 300), path);
	}
	char *lo, *hi;
	range_of(path, &lo, &hi);
	int rc = 0;
	if (!(st = sqi_prep(c, SQL_ART_BELOW, err))) {
		rc = -err->code;
	} else {
		sqi_bind_text(st, 1, lo);
		sqi_bind_text(st, 2, hi);
		if (sqlite3_step(st) == SQLITE_ROW)
			rc = mw_store_err(err, MW_E_INVALID, MW_STORE_ARTIFACT,
					  "'%.300s' cannot be written as a file: it is a directory "
					  "(it holds '%.300s')",
					  path, sqi_col_text(st, 0));
		sqlite3_reset(st);
	}
	free(lo);
	free(hi);
	return rc;
}

static int put_entry(struct conn *c, const char *path, const char *digest, uint64_t size,
		     int64_t now, bool *replaced, struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_ART_GET, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, path);
	bool exists = false, same = false;
	if (sqlite3_step(st) == SQLITE_ROW) {
		exists = true;
		same = !strcmp(sqi_col_text(st, 0), digest);
	}
	sqlite3_reset(st);
	if (replaced)
		*replaced = exists && !same;
	if (same)
		return 0;
	int rc;
	if (!exists && (rc = check_shape(c, path, err))) /* a new path: is its place free? */
		return rc;
	if (exists && (rc = record_history(c, path, now, "replaced", err)))
		return rc;
	if (!(st = sqi_prep(c, SQL_ART_INSERT, err)))
		return -err->code;
	sqi_bind_text(st, 1, path);
	sqi_bind_text(st, 2, digest);
	sqlite3_bind_int64(st, 3, (int64_t)size);
	sqlite3_bind_int64(st, 4, now);
	return sqi_step_done(c, st, err);
}

static int job_put(struct conn *c, void *p, struct mw_err *err)
{
	struct put_arg *a = p;
	return put_entry(c, a->path, a->digest, a->size, a->now, &a->replaced, err);
}

static int sqa_art_put(struct mw_store *store, const char *path, const char *digest, uint64_t size,
		       int64_t now, bool *replaced, struct mw_err *err)
{
	struct put_arg a = {path, digest, size, now, false};
	int rc = sqi_submit(store, job_put, &a, err);
	if (!rc && replaced)
		*replaced = a.replaced;
	return rc;
}

static int sqa_art_get(struct mw_store *store, const char *path, struct mw_art_entry *out,
		       struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = 0;
	sqlite3_stmt *st = sqi_prep(c, SQL_ART_GET, err);
	if (!st) {
		rc = -err->code;
	} else {
		sqi_bind_text(st, 1, path);
		if (sqlite3_step(st) == SQLITE_ROW) {
			snprintf(out->path, sizeof out->path, "%s", path);
			snprintf(out->digest, sizeof out->digest, "%s", sqi_col_text(st, 0));
			out->size = (uint64_t)sqlite3_column_int64(st, 1);
			out->created = sqlite3_column_int64(st, 2);
		} else {
			rc = mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_ARTIFACT,
					  "no manifest entry at '%.300s'", path);
		}
		sqlite3_reset(st);
	}
	sqi_rd_end(store, c);
	return rc;
}

/* ------------------------------------------------------------ list */

static int sqa_art_list(struct mw_store *store, const char *dir, const struct mw_page *p,
			struct mw_arena *a, struct mw_art_child **out, size_t *n, bool *more,
			struct mw_err *err)
{
	char *lo, *hi;
	range_of(dir, &lo, &hi);
	size_t plen = strlen(lo);
	struct conn *c = sqi_rd_begin(store, err);
	if (!c) {
		free(lo);
		free(hi);
		return -err->code;
	}
	struct mw_store_vec v = {0};
	char *cursor = mw_xstrdup(lo);
	int rc = 0;
	*more = false;
	/* one seek per child: the rows before the page's offset are walked, not kept */
	for (int64_t row = 0;; row++) {
		sqlite3_stmt *st = sqi_prep(c, SQL_ART_NEXT, err);
		if (!st) {
			rc = -err->code;
			break;
		}
		sqi_bind_text(st, 1, cursor);
		sqi_bind_text(st, 2, hi);
		if (sqlite3_step(st) != SQLITE_ROW) {
			sqlite3_reset(st);
			break;
		}
		if (row - p->offset == p->max_results) {
			sqlite3_reset(st);
			*more = true;
			break;
		}
		const char *path = sqi_col_text(st, 0);
		const char *rest = path + plen;
		const char *slash = strchr(rest, '/');
		struct mw_art_child child = {0};
		free(cursor);
		if (slash) {
			size_t cl = (size_t)(slash - rest);
			child.name = row < p->offset ? "" : mw_arena_strndup(a, rest, cl);
			child.is_dir = true;
			/* jump past everything below this child directory */
			size_t len = plen + cl + 2;
			cursor = mw_xmalloc(len);
			snprintf(cursor, len, "%.*s0", (int)(plen + cl), path);
		} else {
			child.name = row < p->offset ? "" : mw_arena_strdup(a, rest);
			child.size = (uint64_t)sqlite3_column_int64(st, 1);
			cursor = mw_xstrdup(path);
		}
		sqlite3_reset(st);
		if (row < p->offset)
			continue;
		struct mw_art_child *f = mw_store_vec_push(&v, a, sizeof *f);
		*f = child;
		int t = p->take ? p->take(p->ud, f, row, err) : 0;
		if (t) { /* the answer is full (this child starts the next page), or failed */
			v.n--;
			*more = t == MW_PAGE_FULL;
			rc = t == MW_PAGE_FULL ? 0 : t;
			break;
		}
	}
	free(cursor);
	sqi_rd_end(store, c);
	free(lo);
	free(hi);
	if (!rc) {
		*out = v.v;
		*n = v.n;
	}
	return rc;
}

static int sqa_art_tree(struct mw_store *store, const char *dir, struct mw_arena *a,
			struct mw_art_file **out, size_t *n, struct mw_err *err)
{
	char *lo, *hi;
	range_of(dir, &lo, &hi);
	size_t plen = strlen(lo);
	struct conn *c = sqi_rd_begin(store, err);
	if (!c) {
		free(lo);
		free(hi);
		return -err->code;
	}
	int rc = 0;
	struct mw_store_vec v = {0};
	sqlite3_stmt *st = sqi_prep(c, SQL_ART_RANGE, err);
	if (!st) {
		rc = -err->code;
	} else {
		sqi_bind_text(st, 1, lo);
		sqi_bind_text(st, 2, hi);
		while (sqlite3_step(st) == SQLITE_ROW) {
			struct mw_art_file *f = mw_store_vec_push(&v, a, sizeof *f);
			f->path = mw_arena_strdup(a, sqi_col_text(st, 0) + plen);
			f->digest = sqi_col_dup(a, st, 1);
			f->size = (uint64_t)sqlite3_column_int64(st, 2);
		}
		sqlite3_reset(st);
	}
	sqi_rd_end(store, c);
	free(lo);
	free(hi);
	if (!rc) {
		*out = v.v;
		*n = v.n;
	}
	return rc;
}

/* ------------------------------------------------------------ delete, copy */

int sqi_art_delete_tree(struct conn *c, const char *prefix, int64_t now, int *count,
			struct mw_err *err)
{
	char *lo, *hi;
	range_of(prefix, &lo, &hi);
	int rc = 0, n = 0;
	/* collect first: deleting while stepping the same range is not allowed */
	struct mw_arena *a = mw_arena_new(16384);
	struct mw_store_vec paths = {0};
	sqlite3_stmt *st = sqi_prep(c, SQL_ART_RANGE, err);
	if (!st) {
		rc = -err->code;
	} else {
		sqi_bind_text(st, 1, lo);
		sqi_bind_text(st, 2, hi);
		while (sqlite3_step(st) == SQLITE_ROW)
			*(const char **)mw_store_vec_push(&paths, a, sizeof(const char *)) =
				sqi_col_dup(a, st, 0);
		sqlite3_reset(st);
	}
	for (size_t i = 0; !rc && i < paths.n; i++) {
		const char *p = ((const char **)paths.v)[i];
		if ((rc = record_history(c, p, now, "deleted", err)))
			break;
		if (!(st = sqi_prep(c, SQL_ART_DELETE, err))) {
			rc = -err->code;
			break;
		}
		sqi_bind_text(st, 1, p);
		if (!(rc = sqi_step_done(c, st, err)))
			n++;
	}
	mw_arena_free(a);
	free(lo);
	free(hi);
	if (count)
		*count = n;
	return rc;
}

struct del_arg {
	const char *path;
	int64_t now;
	int removed;
};

static int job_delete(struct conn *c, void *p, struct mw_err *err)
{
	struct del_arg *a = p;
	sqlite3_stmt *st = sqi_prep(c, SQL_ART_GET, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->path);
	bool file = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	int rc;
	if (file) {
		if ((rc = record_history(c, a->path, a->now, "deleted", err)))
			return rc;
		if (!(st = sqi_prep(c, SQL_ART_DELETE, err)))
			return -err->code;
		sqi_bind_text(st, 1, a->path);
		if ((rc = sqi_step_done(c, st, err)))
			return rc;
		a->removed = 1;
		return 0;
	}
	if ((rc = sqi_art_delete_tree(c, a->path, a->now, &a->removed, err)))
		return rc;
	if (!a->removed)
		return mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_ARTIFACT,
				    "nothing in the manifest at '%.300s'", a->path);
	return 0;
}

static int sqa_art_delete(struct mw_store *store, const char *path, int64_t now, int *removed,
			  struct mw_err *err)
{
	struct del_arg a = {path, now, 0};
	int rc = sqi_submit(store, job_delete, &a, err);
	if (removed)
		*removed = a.removed;
	return rc;
}

int sqi_art_copy_tree(struct conn *c, const char *src, const char *dst, int64_t now, int *count,
		      char manifest_hex[65], struct mw_err *err)
{
	char *lo, *hi;
	range_of(src, &lo, &hi);
	size_t plen = strlen(lo);
	/* collect first: writing while stepping the same table is not allowed */
	struct mw_arena *a = mw_arena_new(16384);
	struct mw_store_vec rows = {0};
	int rc = 0;
	sqlite3_stmt *st = sqi_prep(c, SQL_ART_RANGE, err);
	if (!st) {
		rc = -err->code;
	} else {
		sqi_bind_text(st, 1, lo);
		sqi_bind_text(st, 2, hi);
		while (sqlite3_step(st) == SQLITE_ROW) {
			struct mw_art_file *f = mw_store_vec_push(&rows, a, sizeof *f);
			f->path = mw_arena_strdup(a, sqi_col_text(st, 0) + plen);
			f->digest = sqi_col_dup(a, st, 1);
			f->size = (uint64_t)sqlite3_column_int64(st, 2);
		}
		sqlite3_reset(st);
	}
	struct mw_sha256 *h = manifest_hex ? mw_sha256_new() : NULL;
	int n = 0;
	for (size_t i = 0; !rc && i < rows.n; i++) {
		const struct mw_art_file *f = &((struct mw_art_file *)rows.v)[i];
		const char *rel = f->path, *dg = f->digest;
		size_t len = strlen(dst) + strlen(rel) + 2;
		char *path = mw_xmalloc(len);
		snprintf(path, len, "%s/%s", dst, rel);
		rc = put_entry(c, path, dg, f->size, now, NULL, err);
		free(path);
		if (h) {
			mw_sha256_update(h, rel, strlen(rel));
			mw_sha256_update(h, "\t", 1);
			mw_sha256_update(h, dg, strlen(dg));
			mw_sha256_update(h, "\n", 1);
		}
		n++;
	}
	if (h)
		mw_sha256_final(h, manifest_hex);
	mw_arena_free(a);
	free(lo);
	free(hi);
	if (count)
		*count = n;
	return rc;
}

/* ------------------------------------------------------------ each */

static int sqa_art_each(struct mw_store *store, bool include_history, mw_store_digest_fn fn,
			void *ctx, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = 0;
	sqlite3_stmt *st = sqi_prep(c, include_history ? SQL_ART_ALL_HISTORY : SQL_ART_ALL, err);
	if (!st) {
		rc = -err->code;
	} else {
		while (!rc && sqlite3_step(st) == SQLITE_ROW)
			rc = fn(ctx, sqi_col_text(st, 0), (uint64_t)sqlite3_column_int64(st, 1),
				sqi_col_text(st, 2));
		sqlite3_reset(st);
	}
	sqi_rd_end(store, c);
	return rc;
}

static const char SQL_ART_DIGEST_USED[] = "SELECT 1 FROM artifacts WHERE digest = ? LIMIT 1";

static int sqa_art_digest_used(struct mw_store *store, const char *digest, bool *used,
			       struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = 0;
	sqlite3_stmt *st = sqi_prep(c, SQL_ART_DIGEST_USED, err);
	if (!st) {
		rc = -err->code;
	} else {
		sqi_bind_text(st, 1, digest);
		int s = sqlite3_step(st);
		if (s == SQLITE_ROW || s == SQLITE_DONE)
			*used = s == SQLITE_ROW;
		else
			rc = sqi_sqerr(c, err, "check a blob's references");
		sqlite3_reset(st);
	}
	sqi_rd_end(store, c);
	return rc;
}

/* ------------------------------------------------------------ ops */

const struct mw_store_artifacts_ops mw_sqlite_artifacts_ops = {
	.art_put = sqa_art_put,
	.art_get = sqa_art_get,
	.art_list = sqa_art_list,
	.art_tree = sqa_art_tree,
	.art_delete = sqa_art_delete,
	.art_each = sqa_art_each,
	.art_digest_used = sqa_art_digest_used,
};
