/*
 * test_fs_worker.c - unit tests for the file seam (core/fs.c) and the
 * background workers (core/worker.c).
 *
 * Files: joins, mkdir -p over existing and new parts, atomic writes that
 * replace a file whole and leave no temporary file behind, rm -rf of a tree
 * holding a symlink to a directory outside it (the outside survives), and
 * error messages for impossible paths.  Workers: periodic ticks, a poke runs
 * a tick long before the period ends, stop joins a worker in the middle of a
 * long tick only after that tick ends, and no tick runs after stop.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = calloc(1, 4096);
	size_t n = fread(buf, 1, 4095, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	if (d)
		closedir(d);
	return n;
}

static void test_fs_files(void **state)
{
	(void)state;
	char root[] = "/tmp/mw-test-fs-XXXXXX";
	assert_non_null(mkdtemp(root));
	struct mw_err err = {0};

	char *j = mw_fs_join("a/b", "c");
	assert_string_equal(j, "a/b/c");
	free(j);

	char *deep = mw_fs_join(root, "x/y/z");
	assert_int_equal(mw_fs_mkdirs(deep, &err), 0);
	assert_int_equal(mw_fs_mkdirs(deep, &err), 0); /* again: fine */
	struct stat st;
	assert_int_equal(stat(deep, &st), 0);
	assert_true(S_ISDIR(st.st_mode));

	char *file = mw_fs_join(deep, "f.txt");
	assert_int_equal(mw_fs_write_atomic(file, "one", 3, 0644, &err), 0);
	char *got = read_all(file);
	assert_string_equal(got, "one");
	free(got);
	assert_int_equal(mw_fs_write_atomic(file, "second", 6, 0644, &err), 0);
	got = read_all(file);
	assert_string_equal(got, "second");
	free(got);
	assert_int_equal(count_entries(deep), 1); /* no temporary file left */

	/* a file where a directory is needed */
	char *under_file = mw_fs_join(file, "sub");
	assert_int_equal(mw_fs_mkdirs(under_file, &err), -MW_E_IO);
	assert_int_equal(err.code, MW_E_IO);
	assert_true(strlen(err.msg) > 0);
	char *in_missing = mw_fs_join(root, "missing/dir/f");
	assert_int_equal(mw_fs_write_atomic(in_missing, "x", 1, 0644, &err), -MW_E_IO);

	/* rm -rf removes a symlink to an outside directory, not what it points to */
	char outside[] = "/tmp/mw-test-fs-out-XXXXXX";
	assert_non_null(mkdtemp(outside));
	char *keep = mw_fs_join(outside, "keep");
	assert_int_equal(mw_fs_write_atomic(keep, "k", 1, 0644, &err), 0);
	char *link = mw_fs_join(deep, "link");
	assert_int_equal(symlink(outside, link), 0);
	char *top = mw_fs_join(root, "x");
	assert_int_equal(mw_fs_rm_rf(top, &err), 0);
	assert_int_not_equal(stat(top, &st), 0);
	assert_int_equal(stat(keep, &st), 0);
	assert_int_equal(mw_fs_rm_rf(top, &err), 0); /* gone already: fine */

	assert_int_equal(mw_fs_rm_rf(outside, &err), 0);
	assert_int_equal(mw_fs_rm_rf(root, &err), 0);
	assert_int_not_equal(stat(root, &st), 0);

	/* error texts */
	assert_int_equal(mw_fs_error(ENOSPC, "write blob", &err), -MW_E_IO);
	assert_string_equal(err.msg, "write blob: the disk is full");
	free(deep);
	free(file);
	free(under_file);
	free(in_missing);
	free(keep);
	free(link);
	free(top);
}

struct counter {
	int ticks;
	int long_ms;       /* each tick sleeps this long */
	int in_tick;       /* set while a tick runs */
	int overlaps;
};

static void count_tick(struct mw_worker *w, void *ud)
{
	(void)w;
	struct counter *c = ud;
	if (__atomic_exchange_n(&c->in_tick, 1, __ATOMIC_SEQ_CST))
		__atomic_fetch_add(&c->overlaps, 1, __ATOMIC_SEQ_CST);
	if (c->long_ms)
		sleep_ms(c->long_ms);
	__atomic_fetch_add(&c->ticks, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&c->in_tick, 0, __ATOMIC_SEQ_CST);
}

static void test_worker_periodic_and_poke(void **state)
{
	(void)state;
	struct counter c = {0};
	struct mw_worker *w = NULL;
	struct mw_err err = {0};
	assert_int_equal(mw_worker_start("tick", 10, count_tick, &c, &w, &err), 0);
	assert_string_equal(mw_worker_name(w), "tick");
	for (int i = 0; i < 500 && __atomic_load_n(&c.ticks, __ATOMIC_SEQ_CST) < 3; i++)
		sleep_ms(5);
	assert_true(__atomic_load_n(&c.ticks, __ATOMIC_SEQ_CST) >= 3);
	mw_worker_stop(w);
	int after = c.ticks;
	sleep_ms(30);
	assert_int_equal(c.ticks, after); /* nothing runs after stop */
	assert_int_equal(c.overlaps, 0);

	/* a poke runs a tick long before a one-hour period ends */
	struct counter p = {0};
	assert_int_equal(mw_worker_start("poked", 3600 * 1000, count_tick, &p, &w, &err), 0);
	mw_worker_poke(w);
	for (int i = 0; i < 400 && !__atomic_load_n(&p.ticks, __ATOMIC_SEQ_CST); i++)
		sleep_ms(5);
	assert_int_equal(p.ticks, 1);
	assert_int_equal(mw_worker_ticks(w), 1);
	mw_worker_stop(w);
	mw_worker_stop(NULL);

	assert_int_equal(mw_worker_start("bad", 0, count_tick, &p, &w, &err), -MW_E_INVALID);
}

static void test_worker_stop_drains(void **state)
{
	(void)state;
	struct counter c = {.long_ms = 150};
	struct mw_worker *w = NULL;
	struct mw_err err = {0};
	assert_int_equal(mw_worker_start("slow", 3600 * 1000, count_tick, &c, &w, &err), 0);
	mw_worker_poke(w);
	for (int i = 0; i < 400 && !__atomic_load_n(&c.in_tick, __ATOMIC_SEQ_CST); i++)
		sleep_ms(1);
	assert_int_equal(__atomic_load_n(&c.in_tick, __ATOMIC_SEQ_CST), 1);
	mw_worker_stop(w); /* waits for the tick in progress */
	assert_int_equal(c.ticks, 1);
	assert_int_equal(c.in_tick, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fs_files),
		cmocka_unit_test(test_worker_periodic_and_poke),
		cmocka_unit_test(test_worker_stop_drains),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
