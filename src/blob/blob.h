/*
 * blob.h - the content-addressed blob store: bytes named by their SHA-256.
 *
 * A blob is written by streaming it through a writer: bytes go to a temporary
 * file in <data>/tmp while they are hashed; commit fsyncs it and renames it to
 * <data>/blobs/sha256/<2 hex>/<64 hex> (the same filesystem, so the rename is
 * atomic), then fsyncs the directory.  Identical content is stored once: if
 * the blob exists and its bytes still hash to its name, the temporary file is
 * dropped; if they do not (the stored copy was corrupted on disk), the new,
 * verified bytes replace it.  Nothing ever holds a whole blob in memory.  A
 * writer that is aborted, or a process that dies, leaves only a temporary
 * file, which mw_blob_clean_tmp removes after a grace period; a temporary file
 * still being written is never removed, whatever the grace period.
 *
 * Holds and garbage collection.  A blob is garbage when no manifest entry
 * references it, but a commit and the manifest entry that will reference its
 * blob are two steps: between them the blob is referenced by nobody.  So a
 * commit can return a hold (struct mw_blob_hold) that keeps the blob from
 * being removed until the caller has written its reference and released the
 * hold; and mw_blob_remove_unreferenced removes a blob only when no hold is
 * on it and a reference check made while it has the blob locked says it is
 * unreferenced.  A commit that finds its blob locked by a removal waits for
 * it, and stores its own bytes again if the blob went.  Holds are advisory
 * file locks (flock), so they also work between processes (`mw gc` in the
 * CLI's local mode next to a running server).
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

/* A blob kept from garbage collection until released (see above). */
struct mw_blob_hold;

/* Streaming writes.  commit and abort free the writer.  With hold non-NULL
 * a successful commit sets *hold, which the caller releases once the blob is
 * referenced (or the reference failed); with hold NULL nothing is held. */
int mw_blob_begin(struct mw_blob *b, struct mw_blob_writer **out, struct mw_err *err);
int mw_blob_write(struct mw_blob_writer *w, const void *p, size_t n, struct mw_err *err);
int mw_blob_commit(struct mw_blob_writer *w, char digest[65], uint64_t *size,
		   struct mw_blob_hold **hold, struct mw_err *err);
void mw_blob_abort(struct mw_blob_writer *w);
/* Bytes written so far. */
uint64_t mw_blob_written(const struct mw_blob_writer *w);
/* Release a hold (NULL is fine). */
void mw_blob_hold_release(struct mw_blob_hold *h);

/* Store a local file (streamed, hashed) and return its digest; hold as for
 * mw_blob_commit. */
int mw_blob_put_file(struct mw_blob *b, const char *path, char digest[65], uint64_t *size,
		     struct mw_blob_hold **hold, struct mw_err *err);

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

/* Garbage collection's removal: remove the blob unless a hold is on it or
 * referenced() (called while the blob is locked against new holds, so a
 * reference written before that call is seen) reports a reference.  *removed
 * tells what happened; a blob that does not exist is not an error.  A
 * commit of the same content that arrives meanwhile waits, then stores its
 * bytes again. */
typedef int (*mw_blob_ref_fn)(void *ctx, const char *digest, bool *referenced, struct mw_err *err);
enum mw_blob_removal {
	MW_BLOB_REMOVED,
	MW_BLOB_KEPT_HELD,       /* a commit holds it */
	MW_BLOB_KEPT_REFERENCED, /* referenced() said so */
	MW_BLOB_ABSENT,          /* nothing to remove */
};
int mw_blob_remove_unreferenced(struct mw_blob *b, const char *digest, mw_blob_ref_fn referenced,
				void *ctx, enum mw_blob_removal *removed, struct mw_err *err);

/* Every stored blob: fn returns non-zero to stop (that value is returned). */
typedef int (*mw_blob_each_fn)(void *ctx, const char *digest, uint64_t size, int64_t mtime_ms);
int mw_blob_each(struct mw_blob *b, mw_blob_each_fn fn, void *ctx, struct mw_err *err);
/* Remove temporary files older than older_than_ms (abandoned uploads); a
 * file a writer still has open is never removed. */
int mw_blob_clean_tmp(struct mw_blob *b, int64_t older_than_ms, int *removed, struct mw_err *err);

/* A digest is 64 lowercase hex characters. */
bool mw_blob_digest_valid(const char *digest);

#endif
