/*
 * sqlite_vfs.c - a thin SQLite VFS ("mw") over the default one, so the
 * store's opens, writes, syncs and truncates pass through the file seam of
 * core/fs.c (mw_fs_fault_check) like every other file the process writes.
 *
 * Each file opened through it is a struct vfile: the real file of the
 * wrapped VFS lives right after it in the same allocation (szOsFile is the
 * sum), and every method forwards to the real one.  xOpen (of a named
 * file), xWrite, xSync and xTruncate first ask the seam; an injected ENOSPC
 * becomes SQLITE_FULL and any other errno the matching SQLITE_IOERR_* code
 * (SQLITE_CANTOPEN for an open), before the real call, so a failed write
 * changes nothing on disk.  Without a test rule the cost is one atomic load
 * per call.
 *
 * sqi_vfs_register makes it the process's default VFS, once; the wrapped VFS
 * is the default at that moment (unix).  Nothing here reads the environment.
 */
#include "store/sqlite_int.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

struct vfile {
	sqlite3_file base;  /* base.pMethods = &methods, or NULL when open failed */
	const char *path;   /* xOpen's name: valid until xClose (SQLite's promise) */
	sqlite3_file *real; /* the wrapped VFS's file, after this struct */
};

static sqlite3_vfs *real_vfs;

#define REAL(f) (((struct vfile *)(f))->real)

static int fault_code(int e, int ioerr)
{
	return e == ENOSPC ? SQLITE_FULL : ioerr;
}

static int v_close(sqlite3_file *f)
{
	sqlite3_file *r = REAL(f);
	int rc = r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
	f->pMethods = NULL;
	return rc;
}

static int v_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}

static int v_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	int e = mw_fs_fault_check(MW_FS_WRITE, ((struct vfile *)f)->path,
				  (uint64_t)off + (uint64_t)n);
	if (e)
		return fault_code(e, SQLITE_IOERR_WRITE);
	return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}

static int v_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	int e = mw_fs_fault_check(MW_FS_TRUNCATE, ((struct vfile *)f)->path, (uint64_t)size);
	if (e)
		return fault_code(e, SQLITE_IOERR_TRUNCATE);
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int v_sync(sqlite3_file *f, int flags)
{
	int e = mw_fs_fault_check(MW_FS_FSYNC, ((struct vfile *)f)->path, 0);
	if (e)
		return fault_code(e, SQLITE_IOERR_FSYNC);
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int v_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int v_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int v_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int v_check_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int v_file_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int v_sector_size(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int v_device_chars(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int v_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	const sqlite3_io_methods *m = REAL(f)->pMethods;
	return m->iVersion >= 2 ? m->xShmMap(REAL(f), pg, pgsz, extend, pp) : SQLITE_IOERR_SHMMAP;
}

static int v_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	const sqlite3_io_methods *m = REAL(f)->pMethods;
	return m->iVersion >= 2 ? m->xShmLock(REAL(f), off, n, flags) : SQLITE_IOERR_SHMLOCK;
}

static void v_shm_barrier(sqlite3_file *f)
{
	const sqlite3_io_methods *m = REAL(f)->pMethods;
	if (m->iVersion >= 2)
		m->xShmBarrier(REAL(f));
}

static int v_shm_unmap(sqlite3_file *f, int del)
{
	const sqlite3_io_methods *m = REAL(f)->pMethods;
	return m->iVersion >= 2 ? m->xShmUnmap(REAL(f), del) : SQLITE_OK;
}

static int v_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	const sqlite3_io_methods *m = REAL(f)->pMethods;
	if (m->iVersion >= 3)
		return m->xFetch(REAL(f), off, n, pp);
	*pp = NULL;
	return SQLITE_OK;
}

static int v_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	const sqlite3_io_methods *m = REAL(f)->pMethods;
	return m->iVersion >= 3 ? m->xUnfetch(REAL(f), off, p) : SQLITE_OK;
}

static const sqlite3_io_methods methods = {
	.iVersion = 3,
	.xClose = v_close,
	.xRead = v_read,
	.xWrite = v_write,
	.xTruncate = v_truncate,
	.xSync = v_sync,
	.xFileSize = v_file_size,
	.xLock = v_lock,
	.xUnlock = v_unlock,
	.xCheckReservedLock = v_check_reserved,
	.xFileControl = v_file_control,
	.xSectorSize = v_sector_size,
	.xDeviceCharacteristics = v_device_chars,
	.xShmMap = v_shm_map,
	.xShmLock = v_shm_lock,
	.xShmBarrier = v_shm_barrier,
	.xShmUnmap = v_shm_unmap,
	.xFetch = v_fetch,
	.xUnfetch = v_unfetch,
};

/* The real file sits after struct vfile, rounded up to 8 bytes. */
#define VFILE_SIZE ((sizeof(struct vfile) + 7) & ~(size_t)7)

static int x_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	(void)vfs;
	struct vfile *v = (struct vfile *)f;
	v->path = name;
	v->real = (sqlite3_file *)((char *)f + VFILE_SIZE);
	v->real->pMethods = NULL;
	f->pMethods = NULL;
	if (name) {
		int e = mw_fs_fault_check(MW_FS_OPEN, name, 0);
		if (e)
			return fault_code(e, SQLITE_CANTOPEN);
	}
	int rc = real_vfs->xOpen(real_vfs, name, v->real, flags, out_flags);
	/* SQLite calls xClose whenever pMethods is set, even after a failed open */
	f->pMethods = v->real->pMethods ? &methods : NULL;
	return rc;
}

static int x_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int x_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int x_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *x_dlopen(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return real_vfs->xDlOpen(real_vfs, name);
}

static void x_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
	(void)vfs;
	real_vfs->xDlError(real_vfs, n, msg);
}

static void (*x_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	(void)vfs;
	return real_vfs->xDlSym(real_vfs, h, sym);
}

static void x_dlclose(sqlite3_vfs *vfs, void *h)
{
	(void)vfs;
	real_vfs->xDlClose(real_vfs, h);
}

static int x_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return real_vfs->xRandomness(real_vfs, n, out);
}

static int x_sleep(sqlite3_vfs *vfs, int us)
{
	(void)vfs;
	return real_vfs->xSleep(real_vfs, us);
}

static int x_current_time(sqlite3_vfs *vfs, double *out)
{
	(void)vfs;
	return real_vfs->xCurrentTime(real_vfs, out);
}

static int x_last_error(sqlite3_vfs *vfs, int n, char *msg)
{
	(void)vfs;
	return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, msg) : 0;
}

static int x_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	(void)vfs;
	if (real_vfs->iVersion >= 2 && real_vfs->xCurrentTimeInt64)
		return real_vfs->xCurrentTimeInt64(real_vfs, out);
	double d;
	int rc = real_vfs->xCurrentTime(real_vfs, &d);
	*out = (sqlite3_int64)(d * 86400000.0);
	return rc;
}

static sqlite3_vfs vfs = {
	.iVersion = 2,
	.zName = "mw",
	.xOpen = x_open,
	.xDelete = x_delete,
	.xAccess = x_access,
	.xFullPathname = x_full_pathname,
	.xDlOpen = x_dlopen,
	.xDlError = x_dlerror,
	.xDlSym = x_dlsym,
	.xDlClose = x_dlclose,
	.xRandomness = x_randomness,
	.xSleep = x_sleep,
	.xCurrentTime = x_current_time,
	.xGetLastError = x_last_error,
	.xCurrentTimeInt64 = x_current_time64,
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int register_rc = SQLITE_ERROR;

static void do_register(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	if (!real_vfs)
		return;
	vfs.szOsFile = (int)VFILE_SIZE + real_vfs->szOsFile;
	vfs.mxPathname = real_vfs->mxPathname;
	register_rc = sqlite3_vfs_register(&vfs, 1);
}

int sqi_vfs_register(void)
{
	pthread_once(&once, do_register);
	return register_rc == SQLITE_OK ? 0 : -1;
}
