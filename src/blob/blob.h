/*
 * blob.h - the content-addressed blob store: bytes named by their SHA-256.
 *
 * A blob is written by streaming it through a writer: bytes go to a temporary
 * file in <data>/tmp while they are hashed; commit fsyncs it and renames it to
 * <data>/blobs/sha256/<2 hex>/<64 hex> (the same filesystem, so the rename is
 * atomic), then fsyncs the directory.  Identical content is stored once: if
 * the blob exists, the temporary file is dropped.  Nothing ever holds a whole
 * blob in memory.  A writer that is aborted, or a process that dies, leaves
 * only a temporary file, which mw_blob_clean_tmp removes after a grace period.
 *
 * Backends fill struct mw_blob_ops (blob/local.c today; blob/s3.c later).
 * Every call that can fail returns 0 or a negative MW_E* code and fills err.
 * A full disk is MW_E_IO with a message that says so, never a partial blob.
 */
#ifndef MW_BLOB_H
#define MW_BLOB_H

#include "core/core.h"

struct mw_blob;
struct mw_blob_writer;

struct mw_blob_opts {
	const char *data_dir;
};

int mw_blob_open(const struct mw_blob_opts *o, struct mw_blob **out, struct mw_err *err);
void mw_blob_close(struct mw_blob *b);

/* Streaming writes.  commit and abort free the writer. */
int mw_blob_begin(struct mw_blob *b, struct mw_blob_writer **out, struct mw_err *err);
int mw_blob_write(struct mw_blob_writer *w, const void *p, size_t n, struct mw_err *err);
int mw_blob_commit(struct mw_blob_writer *w, char digest[65], uint64_t *size,
		   struct mw_err *err);
void mw_blob_abort(struct mw_blob_writer *w);
/* Bytes written so far. */
uint64_t mw_blob_written(const struct mw_blob_writer *w);

/* Store a local file (streamed, hashed) and return its digest. */
int mw_blob_put_file(struct mw_blob *b, const char *path, char digest[65], uint64_t *size,
		     struct mw_err *err);

/* Open a blob for reading: a file descriptor the caller closes. */
int mw_blob_open_fd(struct mw_blob *b, const char *digest, int *fd, uint64_t *size,
		    struct mw_err *err);
bool mw_blob_exists(struct mw_blob *b, const char *digest);
/* Make dest a read-only copy of a blob (a hard link when the filesystem
 * allows, else a copy).  dest must not exist; its directory must. */
int mw_blob_link(struct mw_blob *b, const char *digest, const char *dest, struct mw_err *err);
/* Re-hash a blob: *ok is false when its bytes no longer match its name. */
int mw_blob_verify(struct mw_blob *b, const char *digest, bool *ok, uint64_t *size,
		   struct mw_err *err);
int mw_blob_remove(struct mw_blob *b, const char *digest, struct mw_err *err);

/* Every stored blob: fn returns non-zero to stop (that value is returned). */
typedef int (*mw_blob_each_fn)(void *ctx, const char *digest, uint64_t size, int64_t mtime_ms);
int mw_blob_each(struct mw_blob *b, mw_blob_each_fn fn, void *ctx, struct mw_err *err);
/* Remove temporary files older than older_than_ms (abandoned uploads). */
int mw_blob_clean_tmp(struct mw_blob *b, int64_t older_than_ms, int *removed,
		      struct mw_err *err);

/* A digest is 64 lowercase hex characters. */
bool mw_blob_digest_valid(const char *digest);

#endif
