/*
 * fs.c - the file seam: joins, mkdir -p, rm -rf, atomic writes, and the
 * write/fsync/rename calls every writer of files goes through.
 *
 * Invariants: mw_fs_write_atomic never leaves a half-written file at its
 * path (a reader sees the old bytes or the new ones); mw_fs_rm_rf never
 * follows a symlink out of the tree it removes.  Failures return -MW_E_IO
 * with a message naming the operation, never a partial result.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *mw_fs_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = mw_xmalloc(n);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

int mw_fs_error(int e, const char *what, struct mw_err *err)
{
	if (e == ENOSPC || e == EDQUOT)
		return mw_err_set(err, MW_E_IO, "%s: the disk is full", what);
	return mw_err_set(err, MW_E_IO, "%s: %s", what, strerror(e));
}

int mw_fs_mkdirs(const char *path, struct mw_err *err)
{
	char *p = mw_xstrdup(path);
	int rc = 0;
	for (char *s = p + 1; *s && !rc; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0755) && errno != EEXIST)
			rc = mw_err_set(err, MW_E_IO, "cannot create %s: %s", p, strerror(errno));
		*s = '/';
	}
	if (!rc && mkdir(p, 0755) && errno != EEXIST)
		rc = mw_err_set(err, MW_E_IO, "cannot create %s: %s", p, strerror(errno));
	free(p);
	return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) && errno != ENOENT)
		return errno;
	return 0;
}

int mw_fs_rm_rf(const char *path, struct mw_err *err)
{
	struct stat st;
	if (lstat(path, &st))
		return errno == ENOENT ? 0 : mw_fs_error(errno, path, err);
	int e = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (e > 0)
		return mw_fs_error(e, path, err);
	if (e < 0 && errno != ENOENT)
		return mw_fs_error(errno, path, err);
	return 0;
}

int mw_fs_write(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int mw_fs_fsync(int fd)
{
	return fsync(fd);
}

int mw_fs_rename(const char *from, const char *to)
{
	return rename(from, to);
}

int mw_fs_fsync_dir(const char *dir, struct mw_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return mw_fs_error(errno, dir, err);
	int rc = mw_fs_fsync(fd) ? mw_fs_error(errno, dir, err) : 0;
	close(fd);
	return rc;
}

int mw_fs_write_atomic(const char *path, const void *p, size_t n, int mode, struct mw_err *err)
{
	char rnd[33];
	int rc = mw_id_hex32(rnd, err);
	if (rc)
		return rc;
	size_t tn = strlen(path) + 48;
	char *tmp = mw_xmalloc(tn);
	snprintf(tmp, tn, "%s.tmp-%s", path, rnd);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = mw_fs_error(errno, path, err);
		free(tmp);
		return rc;
	}
	if (mw_fs_write(fd, p, n) || mw_fs_fsync(fd))
		rc = mw_fs_error(errno, path, err);
	if (close(fd) && !rc)
		rc = mw_fs_error(errno, path, err);
	if (!rc && mw_fs_rename(tmp, path))
		rc = mw_fs_error(errno, path, err);
	if (rc) {
		unlink(tmp);
		free(tmp);
		return rc;
	}
	free(tmp);
	char *dir = mw_xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	rc = mw_fs_fsync_dir(slash ? dir : ".", err);
	free(dir);
	return rc;
}
