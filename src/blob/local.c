/*
 * local.c - blobs as files under <data_dir>/blobs/sha256/<2 hex>/<64 hex>.
 *
 * Writes: an O_TMPFILE-free temporary file <data_dir>/tmp/up-<random> (same
 * filesystem as blobs/), hashed while written, fsync'd, then renamed (or
 * dropped if the blob exists: content is stored once), then the blob's
 * directory is fsync'd so the rename itself is durable.  Blob files are made
 * read-only (0444).
 *
 * Every write, fsync and rename goes through core/fs.c (mw_fs_*), the seam
 * where tests inject ENOSPC or EIO; nothing here knows about test faults.
 */
#include "blob/backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct local {
	char *root;     /* <data_dir> */
	char *blobs;    /* <data_dir>/blobs/sha256 */
	char *tmp;      /* <data_dir>/tmp */
};

struct writer {
	struct local *l;
	int fd;
	char *tmp_path;
	struct mw_sha256 *h;
	uint64_t n;
};

static void local_close(void *impl)
{
	struct local *l = impl;
	if (!l)
		return;
	free(l->root);
	free(l->blobs);
	free(l->tmp);
	free(l);
}

static int local_open(const struct mw_blob_opts *o, void **impl, struct mw_err *err)
{
	struct local *l = mw_xcalloc(1, sizeof *l);
	l->root = mw_xstrdup(o->data_dir);
	l->blobs = mw_fs_join(o->data_dir, "blobs/sha256");
	l->tmp = mw_fs_join(o->data_dir, "tmp");
	int rc = mw_fs_mkdirs(l->blobs, err);
	if (!rc)
		rc = mw_fs_mkdirs(l->tmp, err);
	if (rc) {
		local_close(l);
		return rc;
	}
	*impl = l;
	return 0;
}

static int local_begin(void *impl, void **out, struct mw_err *err)
{
	struct local *l = impl;
	char id[33];
	int rc = mw_id_hex32(id, err);
	if (rc)
		return rc;
	struct writer *w = mw_xcalloc(1, sizeof *w);
	w->l = l;
	size_t n = strlen(l->tmp) + 48;
	w->tmp_path = mw_xmalloc(n);
	snprintf(w->tmp_path, n, "%s/up-%s", l->tmp, id);
	w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		rc = mw_fs_error(errno, "cannot create a temporary file", err);
		free(w->tmp_path);
		free(w);
		return rc;
	}
	w->h = mw_sha256_new();
	*out = w;
	return 0;
}

static int local_write(void *wp, const void *p, size_t n, struct mw_err *err)
{
	struct writer *w = wp;
	const char *q = p;
	mw_sha256_update(w->h, p, n);
	if (mw_fs_write(w->fd, q, n))
		return mw_fs_error(errno, "write blob", err);
	w->n += n;
	return 0;
}

static void writer_free(struct writer *w, bool unlink_tmp)
{
	if (w->fd >= 0)
		close(w->fd);
	if (unlink_tmp)
		unlink(w->tmp_path);
	if (w->h) {
		char hex[65];
		mw_sha256_final(w->h, hex);
	}
	free(w->tmp_path);
	free(w);
}

static void local_abort(void *wp)
{
	writer_free(wp, true);
}

static uint64_t local_written(const void *wp)
{
	return ((const struct writer *)wp)->n;
}

static void blob_path(struct local *l, const char *digest, char *dir, size_t dn, char *file,
		      size_t fn)
{
	snprintf(dir, dn, "%s/%.2s", l->blobs, digest);
	snprintf(file, fn, "%s/%.2s/%s", l->blobs, digest, digest);
}

static int local_commit(void *wp, char digest[65], uint64_t *size, struct mw_err *err)
{
	struct writer *w = wp;
	struct local *l = w->l;
	mw_sha256_final(w->h, digest);
	w->h = NULL;
	if (mw_fs_fsync(w->fd)) {
		int rc = mw_fs_error(errno, "fsync blob", err);
		writer_free(w, true);
		return rc;
	}
	if (close(w->fd)) {
		w->fd = -1;
		int rc = mw_fs_error(errno, "close blob", err);
		writer_free(w, true);
		return rc;
	}
	w->fd = -1;
	*size = w->n;
	char dir[4096], file[4200];
	blob_path(l, digest, dir, sizeof dir, file, sizeof file);
	struct stat st;
	if (!stat(file, &st) && (uint64_t)st.st_size == w->n) {
		writer_free(w, true); /* stored once */
		return 0;
	}
	if (mkdir(dir, 0755) && errno != EEXIST) {
		int rc = mw_fs_error(errno, "create blob directory", err);
		writer_free(w, true);
		return rc;
	}
	chmod(w->tmp_path, 0444);
	if (mw_fs_rename(w->tmp_path, file)) {
		int rc = mw_fs_error(errno, "rename blob into place", err);
		writer_free(w, true);
		rmdir(dir); /* fails while other blobs share it; that is fine */
		return rc;
	}
	if (mw_fs_fsync_dir(dir, err)) {
		int rc = -err->code;
		writer_free(w, false);
		return rc;
	}
	writer_free(w, false);
	return 0;
}

static int local_open_fd(void *impl, const char *digest, int *fd, uint64_t *size,
			 struct mw_err *err)
{
	struct local *l = impl;
	char dir[4096], file[4200];
	blob_path(l, digest, dir, sizeof dir, file, sizeof file);
	int f = open(file, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return errno == ENOENT
			       ? mw_err_set(err, MW_E_NOT_FOUND, "blob %s is missing", digest)
			       : mw_fs_error(errno, "open blob", err);
	struct stat st;
	if (fstat(f, &st)) {
		int rc = mw_fs_error(errno, "stat blob", err);
		close(f);
		return rc;
	}
	*fd = f;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int local_remove(void *impl, const char *digest, struct mw_err *err)
{
	struct local *l = impl;
	char dir[4096], file[4200];
	blob_path(l, digest, dir, sizeof dir, file, sizeof file);
	if (unlink(file) && errno != ENOENT)
		return mw_fs_error(errno, "remove blob", err);
	rmdir(dir); /* fails while other blobs share it; that is fine */
	return 0;
}

static int local_each(void *impl, mw_blob_each_fn fn, void *ctx, struct mw_err *err)
{
	struct local *l = impl;
	DIR *top = opendir(l->blobs);
	if (!top)
		return mw_fs_error(errno, "list blobs", err);
	int rc = 0;
	struct dirent *d;
	while (!rc && (d = readdir(top))) {
		if (strlen(d->d_name) != 2 || d->d_name[0] == '.')
			continue;
		char sub[4200];
		snprintf(sub, sizeof sub, "%s/%s", l->blobs, d->d_name);
		DIR *dd = opendir(sub);
		if (!dd)
			continue;
		struct dirent *e;
		while (!rc && (e = readdir(dd))) {
			if (e->d_name[0] == '.')
				continue;
			char file[4500];
			snprintf(file, sizeof file, "%s/%s", sub, e->d_name);
			struct stat st;
			if (stat(file, &st))
				continue;
			rc = fn(ctx, e->d_name, (uint64_t)st.st_size,
				(int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000);
		}
		closedir(dd);
	}
	closedir(top);
	return rc;
}

static int local_clean_tmp(void *impl, int64_t older_than_ms, int *removed, struct mw_err *err)
{
	struct local *l = impl;
	DIR *d = opendir(l->tmp);
	if (!d)
		return mw_fs_error(errno, "list temporary files", err);
	int n = 0;
	int64_t now = mw_now_ms();
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "up-", 3))
			continue;
		char file[4200];
		snprintf(file, sizeof file, "%s/%s", l->tmp, e->d_name);
		struct stat st;
		if (stat(file, &st))
			continue;
		int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		if (now - mt >= older_than_ms && !unlink(file))
			n++;
	}
	closedir(d);
	if (removed)
		*removed = n;
	return 0;
}

const struct mw_blob_ops mw_blob_local_ops = {
	.name = "local",
	.open = local_open,
	.close = local_close,
	.begin = local_begin,
	.write = local_write,
	.commit = local_commit,
	.abort = local_abort,
	.written = local_written,
	.open_fd = local_open_fd,
	.remove = local_remove,
	.each = local_each,
	.clean_tmp = local_clean_tmp,
};
