/*
 * local.c - blobs as files under <data_dir>/blobs/sha256/<2 hex>/<64 hex>.
 *
 * Writes: an O_TMPFILE-free temporary file <data_dir>/tmp/up-<random> (same
 * filesystem as blobs/), hashed while written, fsync'd, then renamed (or
 * dropped if the blob exists: content is stored once), then the blob's
 * directory is fsync'd so the rename itself is durable.  Blob files are made
 * read-only (0444).
 *
 * Locks (flock, so they hold between processes too).  A writer holds a shared
 * lock on its temporary file from creation to the end: mw_blob_clean_tmp takes
 * an exclusive lock without waiting before it removes a file, so it never
 * removes one being written.  A hold is a shared lock on the blob's file: the
 * file a commit renamed into place (still the writer's descriptor), or the
 * existing blob a commit found with the same, verified, content.  Removal by
 * garbage collection takes an exclusive lock without waiting (a held blob is
 * kept), asks whether the blob is referenced while it has the lock, and
 * unlinks it under the lock.  A commit that opened the blob waits for that
 * lock, then checks that the path still names the file it locked, and stores
 * its own bytes when it does not.  Only removals take exclusive locks and
 * they never wait, so there is no deadlock, and any number of holds of the
 * same blob coexist.
 *
 * Every open, write, fsync and rename goes through core/fs.c (mw_fs_*), the seam
 * where tests inject ENOSPC or EIO; nothing here knows about test faults.
 */
#include "blob/backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct local {
	char *root;  /* <data_dir> */
	char *blobs; /* <data_dir>/blobs/sha256 */
	char *tmp;   /* <data_dir>/tmp */
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

static int local_begin(void *impl, void **out, struct mw_err *err)
{
	struct local *l = impl;
	/* A clean_tmp with a zero grace period may remove the new file before
	 * this writer locks it; then the file is unlinked and the writer starts
	 * over (bounded: each try is a fresh random name). */
	for (int tries = 0; tries < 8; tries++) {
		char id[33];
		int rc = mw_id_hex32(id, err);
		if (rc)
			return rc;
		struct writer *w = mw_xcalloc(1, sizeof *w);
		w->l = l;
		size_t n = strlen(l->tmp) + 48;
		w->tmp_path = mw_xmalloc(n);
		snprintf(w->tmp_path, n, "%s/up-%s", l->tmp, id);
		w->fd = mw_fs_open(w->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (w->fd < 0) {
			rc = mw_fs_error(errno, "cannot create a temporary file", err);
			free(w->tmp_path);
			free(w);
			return rc;
		}
		struct stat st;
		if (flock(w->fd, LOCK_SH) || fstat(w->fd, &st)) {
			rc = mw_fs_error(errno, "lock a temporary file", err);
			writer_free(w, true);
			return rc;
		}
		if (st.st_nlink == 0) {
			writer_free(w, false);
			continue;
		}
		w->h = mw_sha256_new();
		*out = w;
		return 0;
	}
	return mw_err_set(err, MW_E_IO, "temporary files are removed as soon as they are created");
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

struct hold {
	int fd;
};

static void *hold_new(int fd)
{
	struct hold *h = mw_xmalloc(sizeof *h);
	h->fd = fd;
	return h;
}

static void local_hold_release(void *hp)
{
	struct hold *h = hp;
	if (!h)
		return;
	close(h->fd); /* drops the lock */
	free(h);
}

/* True when path still names the file open at fd and it is linked. */
static bool same_file(int fd, const char *path)
{
	struct stat a, b;
	return !fstat(fd, &a) && !stat(path, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
	       a.st_nlink > 0;
}

/* SHA-256 of the whole file at fd (read from its start). */
static int hash_fd(int fd, char hex[65], uint64_t *size, struct mw_err *err)
{
	struct mw_sha256 *h = mw_sha256_new();
	char *buf = mw_xmalloc(1 << 20);
	uint64_t total = 0;
	off_t off = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = pread(fd, buf, 1 << 20, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mw_fs_error(errno, "read blob", err);
			break;
		}
		if (n == 0)
			break;
		mw_sha256_update(h, buf, (size_t)n);
		total += (uint64_t)n;
		off += n;
	}
	mw_sha256_final(h, hex);
	free(buf);
	*size = total;
	return rc;
}

/* Rename the writer's temporary file to file (over what is there). */
static int place(struct writer *w, const char *dir, const char *file, struct mw_err *err)
{
	if (mkdir(dir, 0755) && errno != EEXIST)
		return mw_fs_error(errno, "create blob directory", err);
	fchmod(w->fd, 0444);
	if (mw_fs_rename(w->tmp_path, file)) {
		int rc = mw_fs_error(errno, "rename blob into place", err);
		rmdir(dir); /* fails while other blobs share it; that is fine */
		return rc;
	}
	return mw_fs_fsync_dir(dir, "sync the blob directory", err);
}

/* place, then hold the new blob through the writer's descriptor; the writer
 * is freed either way. */
static int place_held(struct writer *w, const char *dir, const char *file, void **hold,
		      struct mw_err *err)
{
	int rc = place(w, dir, file, err);
	if (rc) {
		writer_free(w, true);
		return rc;
	}
	*hold = hold_new(w->fd);
	w->fd = -1;
	writer_free(w, false);
	return 0;
}

/* Commit: the bytes become the blob, unless the blob exists with the same
 * verified content.  Either way the result is held (see the top). */
static int local_commit(void *wp, char digest[65], uint64_t *size, void **hold, struct mw_err *err)
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
	*size = w->n;
	char dir[4096], file[4200];
	blob_path(l, digest, dir, sizeof dir, file, sizeof file);
	for (int tries = 0; tries < 16; tries++) {
		int fd = mw_fs_open(file, O_RDONLY | O_CLOEXEC, 0);
		if (fd < 0 && errno != ENOENT) {
			int rc = mw_fs_error(errno, "open blob", err);
			writer_free(w, true);
			return rc;
		}
		if (fd < 0)
			return place_held(w, dir, file, hold, err);
		/* waits while a removal decides about this blob */
		if (flock(fd, LOCK_SH)) {
			int rc = mw_fs_error(errno, "lock blob", err);
			close(fd);
			writer_free(w, true);
			return rc;
		}
		if (!same_file(fd, file)) { /* removed or replaced meanwhile */
			close(fd);
			continue;
		}
		char hex[65];
		uint64_t n = 0;
		int rc = hash_fd(fd, hex, &n, err);
		if (rc) {
			close(fd);
			writer_free(w, true);
			return rc;
		}
		if (n == w->n && !strcmp(hex, digest)) {
			writer_free(w, true); /* stored once */
			*hold = hold_new(fd);
			return 0;
		}
		/* The stored copy no longer hashes to its name: the new bytes,
		 * verified as they were written, replace it. */
		mw_warn("blob %.12s was corrupt on disk (%llu bytes hash to %.12s); replaced by "
			"verified bytes",
			digest, (unsigned long long)n, hex);
		rc = place_held(w, dir, file, hold, err);
		close(fd);
		return rc;
	}
	writer_free(w, true);
	return mw_err_set(err, MW_E_IO, "blob %.12s kept changing while it was committed", digest);
}

static int local_open_fd(void *impl, const char *digest, int *fd, uint64_t *size,
			 struct mw_err *err)
{
	struct local *l = impl;
	char dir[4096], file[4200];
	blob_path(l, digest, dir, sizeof dir, file, sizeof file);
	int f = mw_fs_open(file, O_RDONLY | O_CLOEXEC, 0);
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

static int local_remove_unreferenced(void *impl, const char *digest, mw_blob_ref_fn referenced,
				     void *ctx, enum mw_blob_removal *removed, struct mw_err *err)
{
	struct local *l = impl;
	char dir[4096], file[4200];
	blob_path(l, digest, dir, sizeof dir, file, sizeof file);
	int fd = mw_fs_open(file, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		if (errno != ENOENT)
			return mw_fs_error(errno, "open blob", err);
		*removed = MW_BLOB_ABSENT;
		return 0;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int e = errno;
		close(fd);
		if (e != EWOULDBLOCK)
			return mw_fs_error(e, "lock blob", err);
		*removed = MW_BLOB_KEPT_HELD;
		return 0;
	}
	if (!same_file(fd, file)) { /* replaced by a commit since it was opened */
		close(fd);
		*removed = MW_BLOB_KEPT_HELD;
		return 0;
	}
	bool ref = false;
	int rc = referenced(ctx, digest, &ref, err);
	if (!rc && ref)
		*removed = MW_BLOB_KEPT_REFERENCED;
	if (!rc && !ref) {
		if (unlink(file) && errno != ENOENT) {
			rc = mw_fs_error(errno, "remove blob", err);
		} else {
			rmdir(dir); /* fails while other blobs share it; that is fine */
			*removed = MW_BLOB_REMOVED;
		}
	}
	close(fd); /* a commit waiting for the lock now sees the blob gone */
	return rc;
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
		if (lstat(file, &st) || !S_ISREG(st.st_mode))
			continue;
		int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		if (now - mt < older_than_ms)
			continue;
		/* a writer holds a lock on its file until it is done with it */
		int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (!flock(fd, LOCK_EX | LOCK_NB) && same_file(fd, file) && !unlink(file))
			n++;
		close(fd);
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
	.hold_release = local_hold_release,
	.abort = local_abort,
	.written = local_written,
	.open_fd = local_open_fd,
	.remove = local_remove,
	.remove_unreferenced = local_remove_unreferenced,
	.each = local_each,
	.clean_tmp = local_clean_tmp,
};
