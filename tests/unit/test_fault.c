/*
 * test_fault.c - unit tests for the fault-injection seam of core/fs.c and
 * the two writers that go through it: the local blob store (blob/local.c)
 * and the SQLite store's VFS shim (store/sqlite_vfs.c).
 *
 * Seam: "write past N bytes" fails exactly the write that crosses N and
 * leaves the file as it was; "Nth operation" fails once, or from N on with
 * sticky; only the operations named are counted; "under" limits the rule to
 * one directory whatever spelling (a symlink) reaches it; "while" makes the
 * rule depend on a flag file; the text form parses and rejects what it must;
 * mw_fs_write_atomic leaves no temporary file after a failure.  Blobs: an
 * upload past the limit fails with "the disk is full" and leaves no file in
 * tmp/ or blobs/; a failing fsync or rename fails the commit.  SQLite: an
 * injected ENOSPC is SQLITE_FULL, EIO on sync is SQLITE_IOERR_FSYNC and on a
 * WAL truncate SQLITE_IOERR_TRUNCATE, the
 * database is intact and writable once the rule is cleared, and the store
 * opened through mw_store_open goes through the shim.  Every test clears the
 * rule it set.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob/blob.h"
#include "core/core.h"
#include "store/sqlite_int.h"
#include "store/store.h"

struct fx {
	char root[64];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	snprintf(f->root, sizeof f->root, "/tmp/mw-test-fault-XXXXXX");
	if (!mkdtemp(f->root)) {
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
	mw_fs_fault_set(NULL);
	mw_fs_rm_rf(f->root, &err);
	free(f);
	return 0;
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

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) ? -1 : st.st_size;
}

static int open_new(const char *dir, const char *name)
{
	char *p = mw_fs_join(dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	free(p);
	return fd;
}

static void test_write_past(void **state)
{
	struct fx *f = *state;
	char buf[100];
	memset(buf, 'x', sizeof buf);
	struct mw_fs_fault rule = {.error = ENOSPC, .trigger = MW_FS_PAST, .n = 250};
	mw_fs_fault_set(&rule);
	int fd = open_new(f->root, "a");
	assert_true(fd >= 0);
	assert_int_equal(mw_fs_write(fd, buf, 100), 0);
	assert_int_equal(mw_fs_write(fd, buf, 100), 0);
	errno = 0;
	assert_int_equal(mw_fs_write(fd, buf, 100), -1); /* would end at 300 */
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(mw_fs_write(fd, buf, 50), 0); /* ends at 250 exactly */
	assert_int_equal(mw_fs_write(fd, buf, 1), -1);
	assert_int_equal(mw_fs_fault_hits(), 2);
	assert_int_equal(mw_fs_fsync(fd), 0); /* only writes are counted */
	close(fd);
	char *p = mw_fs_join(f->root, "a");
	assert_int_equal(file_size(p), 250); /* nothing of a failed write landed */

	/* every file has its own size: a second file starts at 0 */
	fd = open_new(f->root, "b");
	assert_int_equal(mw_fs_write(fd, buf, 100), 0);
	close(fd);

	/* an atomic write that cannot fit: an error and no temporary file */
	struct mw_err err = {0};
	char big[400];
	memset(big, 'y', sizeof big);
	char *q = mw_fs_join(f->root, "atomic");
	assert_int_equal(mw_fs_write_atomic(q, big, sizeof big, 0644, &err), -MW_E_IO);
	assert_non_null(strstr(err.msg, "the disk is full"));
	assert_int_equal(count_entries(f->root), 2);
	mw_fs_fault_set(NULL);
	assert_int_equal(mw_fs_write_atomic(q, big, sizeof big, 0644, &err), 0);
	assert_int_equal(file_size(q), 400);
	assert_int_equal(mw_fs_fault_hits(), 0);
	free(p);
	free(q);
}

static void test_nth(void **state)
{
	struct fx *f = *state;
	struct mw_err err = {0};
	int fd = open_new(f->root, "n");
	assert_int_equal(mw_fs_fault_set_spec("eio:fsync#2", &err), 0);
	assert_int_equal(mw_fs_write(fd, "a", 1), 0); /* not counted */
	assert_int_equal(mw_fs_fsync(fd), 0);
	errno = 0;
	assert_int_equal(mw_fs_fsync(fd), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(mw_fs_fsync(fd), 0); /* once */
	assert_int_equal(mw_fs_fault_hits(), 1);

	/* sticky: the 2nd and every later one, of writes and renames alike */
	assert_int_equal(mw_fs_fault_set_spec("enospc:write/rename#2+", &err), 0);
	assert_int_equal(mw_fs_write(fd, "a", 1), 0);
	assert_int_equal(mw_fs_fsync(fd), 0);
	assert_int_equal(mw_fs_write(fd, "a", 1), -1);
	char *from = mw_fs_join(f->root, "n"), *to = mw_fs_join(f->root, "m");
	errno = 0;
	assert_int_equal(mw_fs_rename(from, to), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(file_size(from), 2); /* not moved */
	assert_int_equal(mw_fs_fault_hits(), 2);
	mw_fs_fault_set(NULL);
	assert_int_equal(mw_fs_rename(from, to), 0);
	close(fd);

	/* opens count too: the 2nd open fails and creates nothing */
	char *o1 = mw_fs_join(f->root, "o1"), *o2 = mw_fs_join(f->root, "o2");
	assert_int_equal(mw_fs_fault_set_spec("enospc:open#2", &err), 0);
	assert_int_equal(mw_fs_write(-1, "", 0), 0); /* a write is not an open */
	int a = mw_fs_open(o1, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(a >= 0);
	close(a);
	errno = 0;
	assert_int_equal(mw_fs_open(o2, O_WRONLY | O_CREAT | O_CLOEXEC, 0644), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(file_size(o2), -1);
	assert_int_equal(mw_fs_fault_hits(), 1);
	/* an atomic write opens its temporary file and its directory */
	assert_int_equal(mw_fs_fault_set_spec("eio:open#1", &err), 0);
	assert_int_equal(mw_fs_write_atomic(o2, "x", 1, 0644, &err), -MW_E_IO);
	assert_int_equal(file_size(o2), -1);
	assert_int_equal(mw_fs_fault_set_spec("eio:open#2", &err), 0);
	assert_int_equal(mw_fs_write_atomic(o2, "x", 1, 0644, &err), -MW_E_IO);
	assert_int_equal(mw_fs_fault_hits(), 1);
	mw_fs_fault_set(NULL);
	free(o1);
	free(o2);
	free(from);
	free(to);
}

static void test_under_and_while(void **state)
{
	struct fx *f = *state;
	struct mw_err err = {0};
	char *in = mw_fs_join(f->root, "in"), *out = mw_fs_join(f->root, "out");
	char *alias = mw_fs_join(f->root, "alias"), *flag = mw_fs_join(f->root, "full");
	assert_int_equal(mw_fs_mkdirs(in, &err), 0);
	assert_int_equal(mw_fs_mkdirs(out, &err), 0);
	assert_int_equal(symlink(in, alias), 0);

	struct mw_fs_fault rule = {.error = EIO,
				   .trigger = MW_FS_NTH,
				   .n = 1,
				   .sticky = true,
				   .under = alias,
				   .while_exists = flag};
	mw_fs_fault_set(&rule);
	int fin = open_new(in, "f"), fout = open_new(out, "f");
	assert_int_equal(mw_fs_write(fin, "a", 1), 0); /* no flag file yet */
	int ff = open_new(f->root, "full");
	close(ff);
	assert_int_equal(mw_fs_write(fin, "a", 1), -1); /* under alias -> in */
	assert_int_equal(mw_fs_fsync(fin), -1);
	assert_int_equal(mw_fs_write(fout, "a", 1), 0); /* another directory */
	assert_int_equal(mw_fs_fsync_dir(in, NULL, &err), -MW_E_IO);
	assert_int_equal(mw_fs_fsync_dir(out, NULL, &err), 0);
	/* a rename counts when either name is under the directory */
	char *src = mw_fs_join(out, "f"), *dst = mw_fs_join(in, "g");
	assert_int_equal(mw_fs_rename(src, dst), -1);
	/* mw_fs_fault_check, as the SQLite shim calls it */
	char *name = mw_fs_join(in, "x.db");
	assert_int_equal(mw_fs_fault_check(MW_FS_TRUNCATE, name, 0), EIO);
	assert_int_equal(mw_fs_fault_check(MW_FS_TRUNCATE, NULL, 0), 0); /* anonymous */
	assert_int_equal(unlink(flag), 0);
	assert_int_equal(mw_fs_write(fin, "a", 1), 0);
	assert_int_equal(mw_fs_rename(src, dst), 0);
	close(fin);
	close(fout);

	/* the same rule in text form */
	char spec[512];
	snprintf(spec, sizeof spec, "eio:any#1+,under=%s,while=%s", alias, flag);
	assert_int_equal(mw_fs_fault_set_spec(spec, &err), 0);
	assert_int_equal(mw_fs_fault_check(MW_FS_WRITE, name, 1), 0);
	ff = open_new(f->root, "full");
	close(ff);
	assert_int_equal(mw_fs_fault_check(MW_FS_WRITE, name, 1), EIO);
	char *other = mw_fs_join(out, "x.db");
	assert_int_equal(mw_fs_fault_check(MW_FS_WRITE, other, 1), 0);
	free(in);
	free(out);
	free(alias);
	free(flag);
	free(src);
	free(dst);
	free(name);
	free(other);
}

static void test_parse(void **state)
{
	(void)state;
	struct mw_err err = {0};
	static const char *bad[] = {"",
				    "enospc",
				    "full:10",
				    "enospc:",
				    "enospc:1x",
				    "eio:write#0",
				    "eio:write#",
				    "eio:#3",
				    "eio:disk#1",
				    "eio:write/#1",
				    "eio:10,size=3",
				    "eio:10,under=",
				    "enospc:99999999999999999999999"};
	struct mw_fs_fault rule = {.error = EIO, .trigger = MW_FS_NTH, .n = 1, .ops = MW_FS_FSYNC};
	mw_fs_fault_set(&rule);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err.code = 0;
		assert_int_equal(mw_fs_fault_set_spec(bad[i], &err), -MW_E_INVALID);
		assert_int_equal(err.code, MW_E_INVALID);
	}
	/* the rule set before is still the one in force */
	assert_int_equal(mw_fs_fault_check(MW_FS_FSYNC, NULL, 0), EIO);
	static const char *good[] = {"enospc:0",          "eio:1048576",
				     "eio:truncate#3+",   "enospc:any#1,while=/nonexistent",
				     "eio:open/write#2+", "eio:10,under=/x,while=/y"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		assert_int_equal(mw_fs_fault_set_spec(good[i], &err), 0);
	/* the last one is scoped to /x: nothing else fails */
	assert_int_equal(mw_fs_fault_check(MW_FS_WRITE, "/tmp/f", 100), 0);
	mw_fs_fault_set(NULL);
}

static void test_blob_writes(void **state)
{
	struct fx *f = *state;
	struct mw_err err = {0};
	struct mw_blob_opts o = {.data_dir = f->root};
	struct mw_blob *b = NULL;
	assert_int_equal(mw_blob_open(&o, &b, &err), 0);
	char *tmp = mw_fs_join(f->root, "tmp"), *blobs = mw_fs_join(f->root, "blobs/sha256");
	static char data[8192];
	memset(data, 'z', sizeof data);

	/* a full disk at 5000 bytes of an upload */
	struct mw_fs_fault rule = {.error = ENOSPC, .trigger = MW_FS_PAST, .n = 5000, .under = tmp};
	mw_fs_fault_set(&rule);
	struct mw_blob_writer *w = NULL;
	assert_int_equal(mw_blob_begin(b, &w, &err), 0);
	assert_int_equal(mw_blob_write(w, data, 4096, &err), 0);
	assert_int_equal(mw_blob_write(w, data, 4096, &err), -MW_E_IO);
	assert_non_null(strstr(err.msg, "the disk is full"));
	mw_blob_abort(w);
	assert_int_equal(count_entries(tmp), 0);
	assert_int_equal(count_entries(blobs), 0);

	/* a failing fsync, then a failing rename, fail the commit and leave nothing */
	char digest[65];
	uint64_t size = 0;
	static const char *specs[] = {"eio:fsync#1", "eio:rename#1"};
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(mw_fs_fault_set_spec(specs[i], &err), 0);
		assert_int_equal(mw_blob_begin(b, &w, &err), 0);
		assert_int_equal(mw_blob_write(w, data, 100, &err), 0);
		assert_int_equal(mw_blob_commit(w, digest, &size, NULL, &err), -MW_E_IO);
		assert_int_equal(mw_fs_fault_hits(), 1);
		assert_int_equal(count_entries(tmp), 0);
		assert_int_equal(count_entries(blobs), 0);
	}
	/* a failing open of the temporary file fails the upload at its start */
	assert_int_equal(mw_fs_fault_set_spec("enospc:open#1", &err), 0);
	w = NULL;
	assert_int_equal(mw_blob_begin(b, &w, &err), -MW_E_IO);
	assert_null(w);
	assert_non_null(strstr(err.msg, "the disk is full"));
	assert_int_equal(count_entries(tmp), 0);
	mw_fs_fault_set(NULL);
	assert_int_equal(mw_blob_begin(b, &w, &err), 0);
	assert_int_equal(mw_blob_write(w, data, sizeof data, &err), 0);
	assert_int_equal(mw_blob_commit(w, digest, &size, NULL, &err), 0);
	assert_int_equal(size, sizeof data);
	assert_true(mw_blob_exists(b, digest));
	mw_blob_close(b);
	free(tmp);
	free(blobs);
}

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static void test_sqlite_shim(void **state)
{
	struct fx *f = *state;
	assert_int_equal(sqi_vfs_register(), 0);
	assert_string_equal(sqlite3_vfs_find(NULL)->zName, "mw");
	char *path = mw_fs_join(f->root, "t.db");
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 NULL),
			 SQLITE_OK);
	sqlite3_extended_result_codes(db, 1);
	assert_int_equal(exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
				  "CREATE TABLE t(x); INSERT INTO t VALUES (1);"),
			 SQLITE_OK);

	struct mw_fs_fault rule = {.error = ENOSPC,
				   .trigger = MW_FS_NTH,
				   .n = 1,
				   .sticky = true,
				   .ops = MW_FS_WRITE,
				   .under = f->root};
	mw_fs_fault_set(&rule);
	assert_int_equal(exec(db, "INSERT INTO t VALUES (2)"), SQLITE_FULL);
	assert_true(mw_fs_fault_hits() >= 1);

	struct mw_fs_fault sync = {.error = EIO,
				   .trigger = MW_FS_NTH,
				   .n = 1,
				   .ops = MW_FS_FSYNC,
				   .under = f->root};
	mw_fs_fault_set(&sync);
	assert_int_equal(exec(db, "INSERT INTO t VALUES (3)"), SQLITE_IOERR_FSYNC);
	assert_int_equal(mw_fs_fault_hits(), 1);

	/* a checkpoint that truncates the WAL fails, and the data stays */
	struct mw_fs_fault trunc = {.error = EIO,
				    .trigger = MW_FS_NTH,
				    .n = 1,
				    .sticky = true,
				    .ops = MW_FS_TRUNCATE,
				    .under = f->root};
	mw_fs_fault_set(&trunc);
	assert_int_equal(exec(db, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_IOERR_TRUNCATE);
	assert_true(mw_fs_fault_hits() >= 1);

	mw_fs_fault_set(NULL);
	assert_int_equal(exec(db, "INSERT INTO t VALUES (4)"), SQLITE_OK);
	assert_int_equal(exec(db, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
	sqlite3_close(db);

	/* reopened: the committed rows, and an intact database */
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(x) FROM t WHERE x != 3", -1,
					    &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "1,4");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* opening the database's file fails through the seam: nothing is opened */
	assert_int_equal(mw_fs_fault_set_spec("eio:open#1", &(struct mw_err){0}), 0);
	db = NULL;
	assert_int_not_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(mw_fs_fault_hits(), 1);
	sqlite3_close(db);
	mw_fs_fault_set(NULL);
	free(path);
}

static void test_store_open_uses_shim(void **state)
{
	struct fx *f = *state;
	struct mw_store_opts o = {.data_dir = f->root, .read_conns = 2, .sync_full = true};
	struct mw_store *s = NULL;
	struct mw_err err = {0};
	assert_int_equal(mw_store_open(&o, &s, &err), 0);
	struct mw_fs_fault rule = {.error = ENOSPC,
				   .trigger = MW_FS_NTH,
				   .n = 1,
				   .sticky = true,
				   .under = f->root};
	mw_fs_fault_set(&rule);
	char id[32];
	assert_int_equal(mw_store_exp_create(s, "full", NULL, "/a", NULL, 0, 1, id, &err),
			 -MW_E_IO);
	assert_true(mw_fs_fault_hits() >= 1);
	mw_fs_fault_set(NULL);
	assert_int_equal(mw_store_exp_create(s, "fits", NULL, "/a", NULL, 0, 1, id, &err), 0);
	mw_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_past, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_under_and_while, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sqlite_shim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_open_uses_shim, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
