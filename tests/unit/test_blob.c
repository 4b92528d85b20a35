/*
 * test_blob.c - unit tests for the local blob store's holds, removal by
 * garbage collection, verified deduplication and temporary-file cleaning.
 *
 * What must hold (blob/blob.h): a held blob is never removed; a blob that is
 * referenced by the time removal asks is kept; a commit of the same bytes
 * that races a removal ends with the blob present; storing bytes whose blob
 * exists but was corrupted on disk replaces the corrupt copy; the cleaner of
 * temporary files never removes the file of a writer still writing, even with
 * a zero grace period, but does remove abandoned ones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob/blob.h"
#include "core/core.h"

struct fx {
	char root[64];
	struct mw_blob *b;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	snprintf(f->root, sizeof f->root, "/tmp/mw-test-blob-XXXXXX");
	if (!mkdtemp(f->root)) {
		free(f);
		return -1;
	}
	struct mw_err err = {0};
	struct mw_blob_opts o = {.data_dir = f->root};
	if (mw_blob_open(&o, &f->b, &err)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct mw_err err = {0};
	mw_blob_close(f->b);
	mw_fs_rm_rf(f->root, &err);
	free(f);
	return 0;
}

static int put(struct mw_blob *b, const char *data, char digest[65], struct mw_blob_hold **hold)
{
	struct mw_err err = {0};
	struct mw_blob_writer *w;
	if (mw_blob_begin(b, &w, &err))
		return -1;
	if (mw_blob_write(w, data, strlen(data), &err)) {
		mw_blob_abort(w);
		return -1;
	}
	uint64_t size;
	return mw_blob_commit(w, digest, &size, hold, &err);
}

static void blob_file(struct fx *f, const char *digest, char *out, size_t n)
{
	snprintf(out, n, "%s/blobs/sha256/%.2s/%s", f->root, digest, digest);
}

static char *read_blob(struct mw_blob *b, const char *digest)
{
	struct mw_err err = {0};
	int fd;
	uint64_t size;
	if (mw_blob_open_fd(b, digest, &fd, &size, &err))
		return NULL;
	char *s = calloc(1, size + 1);
	ssize_t n = read(fd, s, size);
	close(fd);
	if (n != (ssize_t)size) {
		free(s);
		return NULL;
	}
	return s;
}

static int count_tmp(struct fx *f)
{
	char dir[128];
	snprintf(dir, sizeof dir, "%s/tmp", f->root);
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static int say(void *ctx, const char *digest, bool *referenced, struct mw_err *err)
{
	(void)digest;
	(void)err;
	*referenced = *(bool *)ctx;
	return 0;
}

/* A hold keeps a blob from removal; released, an unreferenced blob goes,
 * and a referenced one stays. */
static void test_hold_and_removal(void **state)
{
	struct fx *f = *state;
	struct mw_err err = {0};
	char d[65];
	struct mw_blob_hold *h = NULL;
	assert_int_equal(put(f->b, "held bytes", d, &h), 0);
	assert_non_null(h);
	bool ref = false;
	enum mw_blob_removal r;
	assert_int_equal(mw_blob_remove_unreferenced(f->b, d, say, &ref, &r, &err), 0);
	assert_int_equal(r, MW_BLOB_KEPT_HELD);
	assert_true(mw_blob_exists(f->b, d));

	/* a second commit of the same bytes holds too; both must go */
	struct mw_blob_hold *h2 = NULL;
	char d2[65];
	assert_int_equal(put(f->b, "held bytes", d2, &h2), 0);
	assert_string_equal(d, d2);
	mw_blob_hold_release(h);
	assert_int_equal(mw_blob_remove_unreferenced(f->b, d, say, &ref, &r, &err), 0);
	assert_int_equal(r, MW_BLOB_KEPT_HELD);
	mw_blob_hold_release(h2);

	ref = true;
	assert_int_equal(mw_blob_remove_unreferenced(f->b, d, say, &ref, &r, &err), 0);
	assert_int_equal(r, MW_BLOB_KEPT_REFERENCED);
	assert_true(mw_blob_exists(f->b, d));
	ref = false;
	assert_int_equal(mw_blob_remove_unreferenced(f->b, d, say, &ref, &r, &err), 0);
	assert_int_equal(r, MW_BLOB_REMOVED);
	assert_false(mw_blob_exists(f->b, d));
	assert_int_equal(mw_blob_remove_unreferenced(f->b, d, say, &ref, &r, &err), 0);
	assert_int_equal(r, MW_BLOB_ABSENT);
	/* no hold asked for: nothing is held after the commit */
	assert_int_equal(put(f->b, "unheld", d, NULL), 0);
	assert_int_equal(mw_blob_remove_unreferenced(f->b, d, say, &ref, &r, &err), 0);
	assert_int_equal(r, MW_BLOB_REMOVED);
}

struct race {
	struct fx *f;
	pthread_t t;
	int rc;
	char digest[65];
	bool started;
};

static void *commit_same(void *p)
{
	struct race *x = p;
	x->rc = put(x->f->b, "racing bytes", x->digest, NULL);
	return NULL;
}

/* Called while the removal has the blob locked: a commit of the same bytes
 * starts now and must wait, then store its bytes again. */
static int start_commit(void *ctx, const char *digest, bool *referenced, struct mw_err *err)
{
	(void)digest;
	(void)err;
	struct race *x = ctx;
	pthread_create(&x->t, NULL, commit_same, x);
	x->started = true;
	usleep(50 * 1000); /* lets it reach the lock most of the time; either way is correct */
	*referenced = false;
	return 0;
}

static void test_commit_racing_removal(void **state)
{
	struct fx *f = *state;
	struct mw_err err = {0};
	char d[65];
	assert_int_equal(put(f->b, "racing bytes", d, NULL), 0);
	struct race x = {.f = f};
	enum mw_blob_removal r;
	assert_int_equal(mw_blob_remove_unreferenced(f->b, d, start_commit, &x, &r, &err), 0);
	assert_true(x.started);
	pthread_join(x.t, NULL);
	assert_int_equal(x.rc, 0);
	assert_string_equal(x.digest, d);
	/* removed or not, the committed bytes are there after the commit */
	char *s = read_blob(f->b, d);
	assert_non_null(s);
	assert_string_equal(s, "racing bytes");
	free(s);
}

/* A blob corrupted on disk is replaced by the next commit of its bytes. */
static void test_corrupt_blob_repaired(void **state)
{
	struct fx *f = *state;
	char d[65];
	assert_int_equal(put(f->b, "the right bytes", d, NULL), 0);
	char path[256];
	blob_file(f, d, path, sizeof path);
	/* same size, other bytes: a size check alone would not see it */
	chmod(path, 0644);
	int fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "the wrong bytes", 15), 15);
	close(fd);
	struct mw_err err = {0};
	bool ok = true;
	uint64_t size;
	assert_int_equal(mw_blob_verify(f->b, d, &ok, &size, &err), 0);
	assert_false(ok);

	char d2[65];
	assert_int_equal(put(f->b, "the right bytes", d2, NULL), 0);
	assert_string_equal(d, d2);
	assert_int_equal(mw_blob_verify(f->b, d, &ok, &size, &err), 0);
	assert_true(ok);
	char *s = read_blob(f->b, d);
	assert_string_equal(s, "the right bytes");
	free(s);
	assert_int_equal(count_tmp(f), 0);
}

/* The temporary-file cleaner skips files being written, even with grace 0. */
static void test_clean_tmp_spares_writers(void **state)
{
	struct fx *f = *state;
	struct mw_err err = {0};
	struct mw_blob_writer *w;
	assert_int_equal(mw_blob_begin(f->b, &w, &err), 0);
	assert_int_equal(mw_blob_write(w, "half", 4, &err), 0);
	/* an abandoned file from a process that died: nobody holds it */
	char orphan[128];
	snprintf(orphan, sizeof orphan, "%s/tmp/up-deadbeef", f->root);
	int fd = open(orphan, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(count_tmp(f), 2);
	int removed = -1;
	assert_int_equal(mw_blob_clean_tmp(f->b, 0, &removed, &err), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(count_tmp(f), 1);
	assert_int_equal(access(orphan, F_OK), -1);
	/* the writer goes on and commits */
	assert_int_equal(mw_blob_write(w, " done", 5, &err), 0);
	char d[65];
	uint64_t size;
	assert_int_equal(mw_blob_commit(w, d, &size, NULL, &err), 0);
	char *s = read_blob(f->b, d);
	assert_string_equal(s, "half done");
	free(s);
	assert_int_equal(count_tmp(f), 0);
}

int main(void)
{
	mw_log_set_level(MW_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hold_and_removal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_racing_removal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_blob_repaired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clean_tmp_spares_writers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
