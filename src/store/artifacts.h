/*
 * artifacts.h - the artifacts domain of the metadata store: path manifests
 * over content-addressed blobs, as plain C records.
 *
 * An artifact path (normalised by art/, relative to the root of mw's
 * artifact store, e.g. "0/<run>/artifacts/model/MLmodel") maps to the
 * SHA-256 digest and size of a blob.  Putting a path that exists with other
 * content replaces it and keeps the old entry in the manifest's history
 * (nothing is replaced silently); the same digest again is a no-op.
 * Directories are implicit: the prefixes of the paths.  A path that names
 * nothing is MW_E_NOT_FOUND with detail MW_STORE_ARTIFACT.
 *
 * The store knows nothing of URIs or of MLflow's listing shape: art/ (and the
 * registry, for a version's pinned files) turn these records into them.
 *
 * Ownership: listings are allocated from the caller's arena; inputs are
 * borrowed for the call.
 */
#ifndef MW_STORE_ARTIFACTS_H
#define MW_STORE_ARTIFACTS_H

#include "store/store.h"

/* ------------------------------------------------------------ records */

/* One manifest entry (fixed-size: it is read one at a time). */
struct mw_art_entry {
	char path[1024];
	char digest[65];
	uint64_t size;
	int64_t created;
};

/* A direct child of a directory. */
struct mw_art_child {
	const char *name; /* the base name */
	bool is_dir;
	uint64_t size; /* files only */
};

/* A file somewhere under a directory. */
struct mw_art_file {
	const char *path; /* relative to the directory */
	const char *digest;
	uint64_t size;
};

/* ------------------------------------------------------------ calls */

/* A new path must keep the manifest a tree: a file where one of its
 * directories would go, or files below it, make the put MW_E_INVALID with
 * detail MW_STORE_ARTIFACT (checked inside the write). */
int mw_store_art_put(struct mw_store *s, const char *path, const char *digest, uint64_t size,
		     int64_t now_ms, bool *replaced, struct mw_err *err);
int mw_store_art_get(struct mw_store *s, const char *path, struct mw_art_entry *out,
		     struct mw_err *err);
/* A page of the direct children of dir ("" = the root), sorted by name
 * (search.h: max_results, offset, take); *more when others follow.  A
 * directory that does not exist has no children (no error). */
int mw_store_art_list(struct mw_store *s, const char *dir, const struct mw_page *page,
		      struct mw_arena *a, struct mw_art_child **out, size_t *n, bool *more,
		      struct mw_err *err);
/* Every file under dir with its digest, sorted by path. */
int mw_store_art_tree(struct mw_store *s, const char *dir, struct mw_arena *a,
		      struct mw_art_file **out, size_t *n, struct mw_err *err);
/* Delete a file, or everything under a directory; *removed gets the count. */
int mw_store_art_delete(struct mw_store *s, const char *path, int64_t now_ms, int *removed,
			struct mw_err *err);
/* Call fn for every digest referenced now or (include_history) ever (for gc
 * and fsck); a non-zero return from fn stops and is returned. */
typedef int (*mw_store_digest_fn)(void *ctx, const char *digest, uint64_t size, const char *path);
int mw_store_art_each(struct mw_store *s, bool include_history, mw_store_digest_fn fn, void *ctx,
		      struct mw_err *err);
/* Whether a current manifest entry references digest (gc's last check, made
 * while the blob is locked; reads what is committed now). */
int mw_store_art_digest_used(struct mw_store *s, const char *digest, bool *used,
			     struct mw_err *err);

#endif
