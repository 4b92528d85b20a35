/*
 * blob.c - dispatch to the blob backend, and what every backend shares:
 * digest checks, verification by re-hashing, storing a local file.
 */
#include "blob/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mw_blob {
	const struct mw_blob_ops *ops;
	void *impl;
};

struct mw_blob_writer {
	struct mw_blob *b;
	void *impl;
};

struct mw_blob_hold {
	struct mw_blob *b;
	void *impl;
};

bool mw_blob_digest_valid(const char *d)
{
	if (!d || strlen(d) != 64)
		return false;
	for (const char *p = d; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

int mw_blob_open(const struct mw_blob_opts *o, struct mw_blob **out, struct mw_err *err)
{
	struct mw_blob *b = mw_xcalloc(1, sizeof *b);
	b->ops = &mw_blob_local_ops;
	int rc = b->ops->open(o, &b->impl, err);
	if (rc) {
		free(b);
		return rc;
	}
	*out = b;
	return 0;
}

void mw_blob_close(struct mw_blob *b)
{
	if (!b)
		return;
	b->ops->close(b->impl);
	free(b);
}

int mw_blob_begin(struct mw_blob *b, struct mw_blob_writer **out, struct mw_err *err)
{
	struct mw_blob_writer *w = mw_xcalloc(1, sizeof *w);
	w->b = b;
	int rc = b->ops->begin(b->impl, &w->impl, err);
	if (rc) {
		free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int mw_blob_write(struct mw_blob_writer *w, const void *p, size_t n, struct mw_err *err)
{
	return w->b->ops->write(w->impl, p, n, err);
}

int mw_blob_commit(struct mw_blob_writer *w, char digest[65], uint64_t *size,
		   struct mw_blob_hold **hold, struct mw_err *err)
{
	struct mw_blob *b = w->b;
	void *h = NULL;
	int rc = b->ops->commit(w->impl, digest, size, &h, err);
	free(w);
	if (rc)
		return rc;
	if (!hold) {
		b->ops->hold_release(h);
		return 0;
	}
	*hold = mw_xmalloc(sizeof **hold);
	**hold = (struct mw_blob_hold){.b = b, .impl = h};
	return 0;
}

void mw_blob_hold_release(struct mw_blob_hold *h)
{
	if (!h)
		return;
	h->b->ops->hold_release(h->impl);
	free(h);
}

void mw_blob_abort(struct mw_blob_writer *w)
{
	if (!w)
		return;
	w->b->ops->abort(w->impl);
	free(w);
}

uint64_t mw_blob_written(const struct mw_blob_writer *w)
{
	return w->b->ops->written(w->impl);
}

int mw_blob_open_fd(struct mw_blob *b, const char *digest, int *fd, uint64_t *size,
		    struct mw_err *err)
{
	if (!mw_blob_digest_valid(digest))
		return mw_err_set(err, MW_E_INVALID, "not a SHA-256 digest: '%.80s'", digest);
	return b->ops->open_fd(b->impl, digest, fd, size, err);
}

bool mw_blob_exists(struct mw_blob *b, const char *digest)
{
	int fd;
	uint64_t size;
	struct mw_err e;
	if (mw_blob_open_fd(b, digest, &fd, &size, &e))
		return false;
	close(fd);
	return true;
}

int mw_blob_link(struct mw_blob *b, const char *digest, const char *dest, struct mw_err *err)
{
	int fd;
	uint64_t size;
	int rc = mw_blob_open_fd(b, digest, &fd, &size, err);
	if (rc)
		return rc;
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	/* a hard link to the open blob: same bytes, no copy */
	if (!linkat(AT_FDCWD, proc, AT_FDCWD, dest, AT_SYMLINK_FOLLOW)) {
		close(fd);
		return 0;
	}
	int out = mw_fs_open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (out < 0) {
		rc = mw_fs_error(errno, dest, err);
		close(fd);
		return rc;
	}
	char *buf = mw_xmalloc(1 << 20);
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				rc = mw_fs_error(errno, "read blob", err);
			break;
		}
		if (mw_fs_write(out, buf, (size_t)n)) {
			rc = mw_fs_error(errno, dest, err);
			break;
		}
	}
	free(buf);
	close(fd);
	if (close(out) && !rc)
		rc = mw_fs_error(errno, dest, err);
	if (rc)
		unlink(dest);
	return rc;
}

int mw_blob_verify(struct mw_blob *b, const char *digest, bool *ok, uint64_t *size,
		   struct mw_err *err)
{
	int fd;
	int rc = mw_blob_open_fd(b, digest, &fd, size, err);
	if (rc)
		return rc;
	struct mw_sha256 *h = mw_sha256_new();
	char *buf = mw_xmalloc(1 << 20);
	uint64_t total = 0;
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mw_err_set(err, MW_E_IO, "read blob %.12s: %s", digest,
					strerror(errno));
			break;
		}
		if (n == 0)
			break;
		mw_sha256_update(h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	char hex[65];
	mw_sha256_final(h, hex);
	free(buf);
	close(fd);
	if (!rc) {
		*ok = !strcmp(hex, digest);
		*size = total;
	}
	return rc;
}

int mw_blob_remove(struct mw_blob *b, const char *digest, struct mw_err *err)
{
	if (!mw_blob_digest_valid(digest))
		return mw_err_set(err, MW_E_INVALID, "not a SHA-256 digest: '%.80s'", digest);
	return b->ops->remove(b->impl, digest, err);
}

int mw_blob_remove_unreferenced(struct mw_blob *b, const char *digest, mw_blob_ref_fn referenced,
				void *ctx, enum mw_blob_removal *removed, struct mw_err *err)
{
	if (!mw_blob_digest_valid(digest))
		return mw_err_set(err, MW_E_INVALID, "not a SHA-256 digest: '%.80s'", digest);
	return b->ops->remove_unreferenced(b->impl, digest, referenced, ctx, removed, err);
}

int mw_blob_each(struct mw_blob *b, mw_blob_each_fn fn, void *ctx, struct mw_err *err)
{
	return b->ops->each(b->impl, fn, ctx, err);
}

int mw_blob_clean_tmp(struct mw_blob *b, int64_t older_than_ms, int *removed, struct mw_err *err)
{
	return b->ops->clean_tmp(b->impl, older_than_ms, removed, err);
}

int mw_blob_put_file(struct mw_blob *b, const char *path, char digest[65], uint64_t *size,
		     struct mw_blob_hold **hold, struct mw_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return mw_err_set(err, errno == ENOENT ? MW_E_NOT_FOUND : MW_E_IO,
				  "cannot open %s: %s", path, strerror(errno));
	struct mw_blob_writer *w;
	int rc = mw_blob_begin(b, &w, err);
	if (rc) {
		close(fd);
		return rc;
	}
	char *buf = mw_xmalloc(1 << 20);
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mw_err_set(err, MW_E_IO, "read %s: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if ((rc = mw_blob_write(w, buf, (size_t)n, err)))
			break;
	}
	free(buf);
	close(fd);
	if (rc) {
		mw_blob_abort(w);
		return rc;
	}
	return mw_blob_commit(w, digest, size, hold, err);
}
