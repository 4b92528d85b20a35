/*
 * fs.c - the file seam: joins, mkdir -p, rm -rf, atomic writes, and the
 * open/write/fsync/rename calls every writer of files goes through, with the one
 * fault-injection rule tests use to make those calls fail.
 *
 * Invariants: mw_fs_write_atomic never leaves a half-written file at its
 * path (a reader sees the old bytes or the new ones); mw_fs_rm_rf never
 * follows a symlink out of the tree it removes.  Failures return -MW_E_IO
 * with a message naming the operation, never a partial result.
 *
 * Faults: one rule (struct mw_fs_fault), set by a unit test or read once from
 * MW_TEST_FAULT (here and nowhere else), guarded by a mutex; `armed` is the
 * only thing the fast path reads.  An injected failure happens before the
 * real call, so nothing of a failed write reaches the file.  Paths are
 * compared after resolving them (realpath, or /proc/self/fd for a
 * descriptor), so "under" works whatever spelling of a directory was used.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
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

/* ---------------------------------------------------------------- faults */

static pthread_mutex_t fault_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fault_env_once = PTHREAD_ONCE_INIT;
static atomic_bool armed;
static struct mw_fs_fault rule; /* under fault_mu; strings owned below */
static char *rule_under_abs;    /* the directory made absolute */
static char *rule_under_real;   /* ... and resolved, once it exists */
static char *rule_while;
static uint64_t rule_seen, rule_hits;

/* path made absolute against the working directory (not resolved). */
static char *absolute(const char *path)
{
	if (path[0] == '/')
		return mw_xstrdup(path);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		return mw_xstrdup(path);
	return mw_fs_join(cwd, path);
}

static void strip_slashes(char *p)
{
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = 0;
}

static void rule_clear_locked(void)
{
	free(rule_under_abs);
	free(rule_under_real);
	free(rule_while);
	rule_under_abs = rule_under_real = rule_while = NULL;
	memset(&rule, 0, sizeof rule);
	rule_seen = rule_hits = 0;
	atomic_store(&armed, false);
}

static void rule_set_locked(const struct mw_fs_fault *f)
{
	rule_clear_locked();
	if (!f || !f->error)
		return;
	rule = *f;
	if (rule.trigger == MW_FS_NTH && !rule.ops)
		rule.ops = MW_FS_ANY;
	if (rule.trigger == MW_FS_PAST)
		rule.ops = MW_FS_WRITE;
	if (f->under) {
		rule_under_abs = absolute(f->under);
		strip_slashes(rule_under_abs);
		char real[PATH_MAX];
		if (realpath(rule_under_abs, real))
			rule_under_real = mw_xstrdup(real);
	}
	if (f->while_exists)
		rule_while = mw_xstrdup(f->while_exists);
	rule.under = rule_under_abs;
	rule.while_exists = rule_while;
	atomic_store(&armed, true);
}

static char *opt_dup(const char *s);
static int fault_parse(const char *spec, struct mw_fs_fault *out, struct mw_err *err);

/* Runs inside pthread_once from the first seam call: it must not call the
 * seam itself (mw_log writes with stdio, not through mw_fs_write). */
static void fault_env_load(void)
{
	const char *spec = getenv("MW_TEST_FAULT");
	if (!spec || !*spec)
		return;
	struct mw_fs_fault f;
	struct mw_err err = {0};
	if (fault_parse(spec, &f, &err)) {
		mw_warn("fs: MW_TEST_FAULT ignored: %s", err.msg);
		return;
	}
	char *under = opt_dup(f.under), *wh = opt_dup(f.while_exists);
	f.under = under;
	f.while_exists = wh;
	pthread_mutex_lock(&fault_mu);
	rule_set_locked(&f);
	pthread_mutex_unlock(&fault_mu);
	free(under);
	free(wh);
	mw_warn("fs: test fault injection on: %s", spec);
}

void mw_fs_fault_set(const struct mw_fs_fault *f)
{
	pthread_once(&fault_env_once, fault_env_load); /* so the environment never wins later */
	pthread_mutex_lock(&fault_mu);
	rule_set_locked(f);
	pthread_mutex_unlock(&fault_mu);
}

uint64_t mw_fs_fault_hits(void)
{
	pthread_mutex_lock(&fault_mu);
	uint64_t n = rule_hits;
	pthread_mutex_unlock(&fault_mu);
	return n;
}

static int parse_error(const char *s, size_t n, int *out)
{
	if (n == 6 && !strncmp(s, "enospc", 6))
		*out = ENOSPC;
	else if (n == 3 && !strncmp(s, "eio", 3))
		*out = EIO;
	else
		return -1;
	return 0;
}

static int parse_ops(const char *s, size_t n, unsigned *out)
{
	static const struct {
		const char *name;
		unsigned op;
	} names[] = {{"write", MW_FS_WRITE},       {"fsync", MW_FS_FSYNC}, {"rename", MW_FS_RENAME},
		     {"truncate", MW_FS_TRUNCATE}, {"open", MW_FS_OPEN},   {"any", MW_FS_ANY}};
	*out = 0;
	while (n) {
		const char *slash = memchr(s, '/', n);
		size_t k = slash ? (size_t)(slash - s) : n;
		size_t i = 0;
		for (; i < sizeof names / sizeof names[0]; i++)
			if (strlen(names[i].name) == k && !strncmp(s, names[i].name, k))
				break;
		if (i == sizeof names / sizeof names[0])
			return -1;
		*out |= names[i].op;
		if (!slash)
			break;
		s += k + 1;
		n -= k + 1;
		if (!n)
			return -1;
	}
	return *out ? 0 : -1;
}

static int parse_count(const char *s, size_t n, uint64_t *out)
{
	if (!n || n > 20)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Parse a rule; the strings in *out point into spec and run to the next
 * comma (opt_dup copies them out). */
static int fault_parse(const char *spec, struct mw_fs_fault *out, struct mw_err *err)
{
	memset(out, 0, sizeof *out);
	const char *colon = strchr(spec, ':');
	if (!colon || parse_error(spec, (size_t)(colon - spec), &out->error))
		return mw_err_set(err, MW_E_INVALID, "fault \"%s\": expected enospc:... or eio:...",
				  spec);
	const char *t = colon + 1;
	const char *comma = strchr(t, ',');
	size_t tn = comma ? (size_t)(comma - t) : strlen(t);
	const char *hash = memchr(t, '#', tn);
	if (!hash) {
		out->trigger = MW_FS_PAST;
		if (parse_count(t, tn, &out->n))
			return mw_err_set(err, MW_E_INVALID, "fault \"%s\": bad byte count", spec);
	} else {
		out->trigger = MW_FS_NTH;
		if (parse_ops(t, (size_t)(hash - t), &out->ops))
			return mw_err_set(err, MW_E_INVALID,
					  "fault \"%s\": operations are write, fsync, rename, "
					  "truncate, open or any, joined by '/'",
					  spec);
		const char *c = hash + 1;
		size_t cn = tn - (size_t)(c - t);
		if (cn && c[cn - 1] == '+') {
			out->sticky = true;
			cn--;
		}
		if (parse_count(c, cn, &out->n) || out->n == 0)
			return mw_err_set(err, MW_E_INVALID, "fault \"%s\": #N counts from 1",
					  spec);
	}
	/* options: the values run to the next comma (or the end) */
	for (const char *o = comma; o; o = strchr(o + 1, ',')) {
		const char *v = o + 1;
		const char *end = strchr(v, ',');
		size_t vn = end ? (size_t)(end - v) : strlen(v);
		if (vn > 6 && !strncmp(v, "under=", 6))
			out->under = v + 6;
		else if (vn > 6 && !strncmp(v, "while=", 6))
			out->while_exists = v + 6;
		else
			return mw_err_set(err, MW_E_INVALID,
					  "fault \"%s\": options are under=DIR and while=FILE",
					  spec);
	}
	return 0;
}

/* The strings in a parsed rule run to the next comma: copy them out. */
static char *opt_dup(const char *s)
{
	if (!s)
		return NULL;
	const char *end = strchr(s, ',');
	size_t n = end ? (size_t)(end - s) : strlen(s);
	char *p = mw_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

int mw_fs_fault_set_spec(const char *spec, struct mw_err *err)
{
	struct mw_fs_fault f;
	int rc = fault_parse(spec, &f, err);
	if (rc)
		return rc;
	char *under = opt_dup(f.under), *wh = opt_dup(f.while_exists);
	f.under = under;
	f.while_exists = wh;
	mw_fs_fault_set(&f);
	free(under);
	free(wh);
	return 0;
}

static bool is_under(const char *path, const char *dir)
{
	if (!dir)
		return false;
	size_t n = strlen(dir);
	if (n == 1 && dir[0] == '/')
		return path[0] == '/';
	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == 0);
}

/* Resolve a file for the "under" test: a descriptor through /proc, a name
 * through realpath (or made absolute when it does not exist). */
static char *resolve(const char *path, int fd)
{
	char buf[PATH_MAX];
	if (fd >= 0) {
		char link[64];
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, buf, sizeof buf - 1);
		if (n < 0)
			return NULL;
		buf[n] = 0;
		return mw_xstrdup(buf);
	}
	if (!path)
		return NULL;
	if (realpath(path, buf))
		return mw_xstrdup(buf);
	return absolute(path);
}

/* Does the rule's directory hold this file?  Callers hold fault_mu. */
static bool rule_matches_locked(const char *path, int fd)
{
	if (!rule_under_abs)
		return true;
	if (!rule_under_real) {
		char real[PATH_MAX];
		if (realpath(rule_under_abs, real))
			rule_under_real = mw_xstrdup(real);
	}
	char *p = resolve(path, fd);
	bool in = p && (is_under(p, rule_under_abs) || is_under(p, rule_under_real));
	free(p);
	return in;
}

static const char *op_name(enum mw_fs_op op)
{
	switch (op) {
	case MW_FS_WRITE:
		return "write";
	case MW_FS_FSYNC:
		return "fsync";
	case MW_FS_RENAME:
		return "rename";
	case MW_FS_TRUNCATE:
		return "truncate";
	case MW_FS_OPEN:
		return "open";
	}
	return "?";
}

/* The check behind every seam call; p1 is the second name of a rename. */
static int fault_hit(enum mw_fs_op op, const char *p0, const char *p1, int fd, uint64_t end)
{
	pthread_once(&fault_env_once, fault_env_load);
	if (!atomic_load_explicit(&armed, memory_order_relaxed))
		return 0;
	int e = 0;
	uint64_t seen = 0;
	pthread_mutex_lock(&fault_mu);
	if (!rule.error || !(rule.ops & (unsigned)op))
		goto out;
	if (rule_while) {
		struct stat st;
		if (stat(rule_while, &st))
			goto out;
	}
	if (!rule_matches_locked(p0, fd) && !(p1 && rule_matches_locked(p1, -1)))
		goto out;
	if (rule.trigger == MW_FS_PAST) {
		if (end > rule.n)
			e = rule.error;
	} else {
		rule_seen++;
		if (rule_seen == rule.n || (rule.sticky && rule_seen > rule.n))
			e = rule.error;
	}
	seen = rule_seen;
	if (e)
		rule_hits++;
out:
	pthread_mutex_unlock(&fault_mu);
	if (e)
		mw_warn("fs: injected %s into %s #%llu (%s)", strerror(e), op_name(op),
			(unsigned long long)seen, p0 ? p0 : (p1 ? p1 : "a descriptor"));
	return e;
}

int mw_fs_fault_check(enum mw_fs_op op, const char *path, uint64_t end)
{
	return fault_hit(op, path, NULL, -1, end);
}

/* ---------------------------------------------------------------- calls */

int mw_fs_write(int fd, const void *p, size_t n)
{
	pthread_once(&fault_env_once, fault_env_load);
	if (atomic_load_explicit(&armed, memory_order_relaxed)) {
		off_t at = lseek(fd, 0, SEEK_CUR);
		int e = fault_hit(MW_FS_WRITE, NULL, NULL, fd, (at < 0 ? 0 : (uint64_t)at) + n);
		if (e) {
			errno = e;
			return -1;
		}
	}
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

int mw_fs_open(const char *path, int flags, int mode)
{
	int e = fault_hit(MW_FS_OPEN, path, NULL, -1, 0);
	if (e) {
		errno = e;
		return -1;
	}
	return open(path, flags, mode);
}

int mw_fs_fsync(int fd)
{
	int e = fault_hit(MW_FS_FSYNC, NULL, NULL, fd, 0);
	if (e) {
		errno = e;
		return -1;
	}
	return fsync(fd);
}

int mw_fs_rename(const char *from, const char *to)
{
	int e = fault_hit(MW_FS_RENAME, from, to, -1, 0);
	if (e) {
		errno = e;
		return -1;
	}
	return rename(from, to);
}

int mw_fs_fsync_dir(const char *dir, const char *what, struct mw_err *err)
{
	if (!what)
		what = dir;
	int fd = mw_fs_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return mw_fs_error(errno, what, err);
	int rc = mw_fs_fsync(fd) ? mw_fs_error(errno, what, err) : 0;
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
	int fd = mw_fs_open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
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
	rc = mw_fs_fsync_dir(slash ? dir : ".", NULL, err);
	free(dir);
	return rc;
}
