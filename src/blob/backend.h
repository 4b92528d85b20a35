/*
 * backend.h - private to blob/: the ops struct every blob backend fills.
 * blob.c dispatches through it; local.c is the filesystem backend (an S3
 * backend through libcurl's SigV4 is one more file).
 */
#ifndef MW_BLOB_BACKEND_H
#define MW_BLOB_BACKEND_H

#include "blob/blob.h"

struct mw_blob_ops {
	const char *name;
	int (*open)(const struct mw_blob_opts *o, void **impl, struct mw_err *err);
	void (*close)(void *impl);
	int (*begin)(void *impl, void **writer, struct mw_err *err);
	int (*write)(void *writer, const void *p, size_t n, struct mw_err *err);
	/* On success *hold (never NULL) is the backend's hold on the blob. */
	int (*commit)(void *writer, char digest[65], uint64_t *size, void **hold,
		      struct mw_err *err);
	void (*hold_release)(void *hold);
	void (*abort)(void *writer);
	uint64_t (*written)(const void *writer);
	int (*open_fd)(void *impl, const char *digest, int *fd, uint64_t *size, struct mw_err *err);
	int (*remove)(void *impl, const char *digest, struct mw_err *err);
	int (*remove_unreferenced)(void *impl, const char *digest, mw_blob_ref_fn referenced,
				   void *ctx, enum mw_blob_removal *removed, struct mw_err *err);
	int (*each)(void *impl, mw_blob_each_fn fn, void *ctx, struct mw_err *err);
	int (*clean_tmp)(void *impl, int64_t older_than_ms, int *removed, struct mw_err *err);
};

extern const struct mw_blob_ops mw_blob_local_ops;

#endif
