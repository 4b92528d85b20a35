/*
 * art.h - artifacts: the files of runs, logged models and registered
 * versions, as path manifests over content-addressed blobs.
 *
 * Paths are relative to the mlflow-artifacts:/ root, e.g.
 * "0/<run>/artifacts/model/MLmodel".  Every path that comes from outside goes
 * through mw_art_path_normalize first: no absolute paths, no "." or ".."
 * segments, no empty segments, no NUL or control characters, no backslashes
 * and no percent-encoded dots, slashes or backslashes (a second decoding
 * layer is the classic traversal).
 *
 * Uploads stream: begin checks the path, data hashes and writes to a
 * temporary file, commit stores the blob and then the manifest entry, so a
 * reader never sees a path whose bytes are not complete and durable.  An
 * aborted upload (client gone) leaves nothing visible.
 *
 * Reserved roots: "_registry/..." holds the pinned files of registered model
 * versions and "_sources/..." files ingested for them; both are read-only
 * through this API.
 *
 * The store keeps the manifest as plain records (store/artifacts.h); the
 * listings' shapes, the mlflow-artifacts:/ URIs and the messages live here.
 */
#ifndef MW_ART_H
#define MW_ART_H

#include "blob/blob.h"
#include "core/core.h"
#include "store/artifacts.h"
#include "store/store.h"

#define MW_ART_MAX_PATH 1000

struct mw_art;
struct mw_art_upload;

int mw_art_new(struct mw_store *store, struct mw_blob *blob, struct mw_art **out,
	       struct mw_err *err);
void mw_art_free(struct mw_art *a);
/* The largest listing answer in bytes (0, the default: no limit; the server
 * sets max-response-bytes).  artifacts/list pages early with a
 * next_page_token; the artifact proxy's listing, whose protocol has no page
 * token, is MW_E_TOO_LARGE past it. */
void mw_art_set_max_response(struct mw_art *a, size_t max_bytes);

/* Canonical form of an artifact path into out (malloc'd).  allow_empty
 * accepts "" (the root) for listings; a trailing "/" is dropped. */
int mw_art_path_normalize(const char *in, bool allow_empty, char **out, struct mw_err *err);
/* The artifact path named by an artifact URI: "mlflow-artifacts:/p",
 * "mlflow-artifacts://host:port/p", "http(s)://host/.../mlflow-artifacts/artifacts/p".
 * MW_E_INVALID for other schemes. */
int mw_art_uri_to_path(const char *uri, char **out, struct mw_err *err);

/* Uploads.  commit and abort free the upload.  call (NULL: the system's)
 * is who uploads, for the audit record the commit writes with the manifest
 * entry; it must live until commit or abort. */
int mw_art_upload_begin(struct mw_art *a, const struct mw_call *call, const char *path,
			struct mw_art_upload **out, struct mw_err *err);
int mw_art_upload_data(struct mw_art_upload *u, const void *p, size_t n, struct mw_err *err);
/* Stores the blob, then the manifest entry.  digest/size may be NULL. */
int mw_art_upload_commit(struct mw_art_upload *u, char digest[65], uint64_t *size,
			 struct mw_err *err);
void mw_art_upload_abort(struct mw_art_upload *u);

/* Open a file for reading: fd (caller closes) and its manifest entry.  A
 * blob whose size differs from the manifest is reported as corrupt. */
int mw_art_open(struct mw_art *a, const char *path, int *fd, struct mw_art_entry *e,
		struct mw_err *err);
/* {"files":[{path (basename), is_dir, file_size}]} of a directory (the
 * artifact proxy's listing: MLflow's has no page token, so a listing larger
 * than the answer budget is MW_E_TOO_LARGE). */
int mw_art_list(struct mw_art *a, const char *dir, json_t **out, struct mw_err *err);
int mw_art_delete(struct mw_art *a, const struct mw_call *call, const char *path,
		  struct mw_err *err);

/* Every file under dir with its digest: [{path (relative to dir), digest,
 * size}], sorted by path; an empty array when there is none. */
int mw_art_tree(struct mw_art *a, const char *dir, json_t **out, struct mw_err *err);
/* The same shape from the store's records (for the registry's lineage). */
json_t *mw_art_files_json(const struct mw_art_file *f, size_t n);

/* Materialise every file under dir (as mw_art_tree lists it) into the local
 * directory dest, keeping their relative paths: each a read-only hard link
 * to its blob where the filesystem allows, else a copy (mw_blob_link).
 * Directories are created as needed; the files must not exist yet.
 * MW_E_NOT_FOUND when dir holds no file. */
int mw_art_materialise(struct mw_art *a, const char *dir, const char *dest, struct mw_err *err);

/* The artifact root path of a run ("<exp>/<run>/artifacts") or of a logged
 * model; MW_E_INVALID when its artifact URI is not served by mw. */
int mw_art_run_root(struct mw_art *a, const char *run_id, char **path, char **root_uri,
		    struct mw_err *err);
int mw_art_model_root(struct mw_art *a, const char *model_id, char **path, char **root_uri,
		      struct mw_err *err);
/* MLflow's artifacts/list for a root: {root_uri, files[{path (relative to the
 * root, including sub), is_dir, file_size}], next_page_token?}: a page from
 * page_token (NULL or "": the first) within the answer budget. */
int mw_art_list_under(struct mw_art *a, const char *root_path, const char *root_uri,
		      const char *sub, const char *page_token, json_t **out, struct mw_err *err);

/* Check every blob against its name and every manifest entry against its
 * blob.  Report: {blobs, bytes, corrupt[{digest, reason}], missing[{path,
 * digest}], size_mismatch[...], tmp_files, ok}. */
int mw_art_fsck(struct mw_art *a, json_t **report, struct mw_err *err);
/* Remove blobs no manifest references that are older than grace_ms, and
 * temporary files older than grace_ms that no upload is writing.  A blob
 * an upload holds, or that a manifest references by the time gc locks it, is
 * kept, whatever grace_ms is (so gc with grace 0 is safe next to uploads).
 * dry_run only reports.  Report: {removed_blobs, removed_bytes, kept_young,
 * kept_in_use, removed_tmp, dry_run, grace_ms}. */
int mw_art_gc(struct mw_art *a, const struct mw_call *call, int64_t grace_ms, bool dry_run,
	      json_t **report, struct mw_err *err);

#endif
