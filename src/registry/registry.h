/*
 * registry.h - the warehouse: registered models, versions, aliases and
 * stages, model cards, lineage and promotion history.
 *
 * Operations follow track/'s pattern: a request message in, a response
 * message out, both jansson objects in MLflow's protobuf-JSON shape (the
 * native operations use the shapes documented in docs/api/registry.md).
 * Every operation receives the call context (struct mw_call, core.h): its
 * user is the "who" of every audit record and the owner of new entities.
 *
 * The store speaks in records (store/registry.h); the MLflow shapes, MLflow's
 * error messages, the stage names and their validation, what a transition
 * archives, the prompts a search hides and the mlflow-artifacts:/ URI of a
 * version's pinned files (its storage_location) live here.
 *
 * Version sources.  model-versions/create resolves its `source` to a
 * directory of the artifact manifest and the store pins a copy of that
 * directory's manifest under "_registry/<model id>/<version>": runs:/,
 * models:/<m-id>, models:/<name>/<version|stage> and models:/<name>@<alias>,
 * mlflow-artifacts:/ and http(s) artifact-proxy URLs, and (only where the
 * registry is allowed to read local files, see below) a local directory or
 * file:// URI, whose files are ingested into the blob store first.  Other
 * URI schemes (s3://, gs://, ...) are recorded verbatim and not pinned.
 *
 * Invariants: a version's pinned manifest never changes; every alias move,
 * stage transition, rollback and deletion is recorded in the promotion
 * history in the same transaction as the change.
 *
 * Ownership: req is borrowed (operations may add normalised fields to it);
 * *resp is a new reference set only on success.
 */
#ifndef MW_REGISTRY_H
#define MW_REGISTRY_H

#include "blob/blob.h"
#include "core/core.h"
#include "store/registry.h"
#include "store/store.h"

struct mw_registry;

int mw_registry_new(struct mw_store *store, struct mw_blob *blob, struct mw_registry **out,
		    struct mw_err *err);
void mw_registry_free(struct mw_registry *r);

/* Local sources make the process read files on its own machine, so they are
 * refused unless allowed: the CLI's local mode allows them (the user reads
 * their own files); a server refuses them by default, because they would let
 * any client read the server's filesystem. */
void mw_registry_allow_local_sources(struct mw_registry *r, bool allow);
/* The largest answer of a search page in bytes (0, the default: no limit;
 * the server sets max-response-bytes): a page ends early, with a
 * next_page_token, when its next entity would pass it, and an entity larger
 * than it alone is MW_E_TOO_LARGE. */
void mw_registry_set_max_response(struct mw_registry *r, size_t max_bytes);
/* Check, at model-versions/create, that a source's MLmodel (when it has one)
 * could serve: it parses, has an xgboost, sklearn or python_function flavor,
 * and names only files the source has (mw_mlmodel_check); MW_E_INVALID
 * otherwise, before any version exists.  On by default. */
void mw_registry_check_models(struct mw_registry *r, bool check);
/* The shapes a version shows once loaded, for the alias-move contract check
 * when its MLmodel has no signature: fn(ud, name, version, load, out, err)
 * fills *out with {"inputs": [{name, type, shape}], "outputs": [...]} (a new
 * reference); load false: only when the version is loaded now (else it
 * fails), true: loading it if needed (else the reason it does not load).
 * Set by a process that serves models itself (mw server wires its serving
 * module); without it, versions without a signature are not compared. */
typedef int (*mw_registry_shapes_fn)(void *ud, const char *name, int64_t version, bool load,
				     json_t **out, struct mw_err *err);
void mw_registry_set_shapes(struct mw_registry *r, mw_registry_shapes_fn fn, void *ud);

typedef int (*mw_registry_op)(struct mw_registry *r, const struct mw_call *call, json_t *req,
	     json_t **resp,
			      struct mw_err *err);

/* ------------------------------------------------------------ MLflow: registered models */

int mw_registry_rm_create(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			  struct mw_err *);
int mw_registry_rm_get(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
		       struct mw_err *);
int mw_registry_rm_rename(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			  struct mw_err *);
int mw_registry_rm_update(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			  struct mw_err *);
int mw_registry_rm_delete(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			  struct mw_err *);
int mw_registry_rm_search(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			  struct mw_err *);
int mw_registry_rm_list(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			struct mw_err *); /* 1.x */
int mw_registry_rm_latest_versions(struct mw_registry *, const struct mw_call *, json_t *,
				   json_t **, struct mw_err *);
int mw_registry_rm_set_tag(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			   struct mw_err *);
int mw_registry_rm_delete_tag(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			      struct mw_err *);
int mw_registry_rm_set_alias(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			     struct mw_err *);
int mw_registry_rm_delete_alias(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
				struct mw_err *);
int mw_registry_rm_get_by_alias(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
				struct mw_err *);

/* ------------------------------------------------------------ MLflow: model versions */

int mw_registry_mv_create(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			  struct mw_err *);
int mw_registry_mv_get(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
		       struct mw_err *);
int mw_registry_mv_update(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			  struct mw_err *);
int mw_registry_mv_delete(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			  struct mw_err *);
int mw_registry_mv_transition(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			      struct mw_err *);
int mw_registry_mv_search(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			  struct mw_err *);
int mw_registry_mv_download_uri(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
				struct mw_err *);
int mw_registry_mv_set_tag(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			   struct mw_err *);
int mw_registry_mv_delete_tag(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			      struct mw_err *);

/* ------------------------------------------------------------ resolving versions */

/* A registered version resolved for reading its files (serving, downloads).
 * Every string is malloc'd; mw_registry_pin_release frees them. */
struct mw_registry_pin {
	char *name;              /* the registered model */
	int64_t version;
	char *files;             /* artifact path prefix of the pinned files
				  * ("_registry/<model id>/<version>"), NULL when the
				  * version's files are not in mw's artifact store */
	char manifest_digest[65];/* digest of the pinned manifest ("" when none) */
	char *run_id;            /* may be NULL */
	char *model_id;          /* MLflow 3 logged model, may be NULL */
	char *status;            /* "READY", ... */
	char *via;               /* how ref resolved: "version", "alias", "stage",
				  * "latest" or "default-alias" */
};
void mw_registry_pin_release(struct mw_registry_pin *p);

/* Resolve a reference to one version of a registered model:
 *   "3"            that version;
 *   "@champion"    the version an alias points to;
 *   "Production"   the latest version in a stage (MLflow's stage names, any case);
 *   "latest"       the highest version number;
 *   NULL or ""     default_alias when it is set and exists, else "latest" --
 *                  but only for a model that never had that alias: once it
 *                  had one (its history names it), a missing default alias
 *                  is MW_E_NOT_FOUND, never a silent fall back to the
 *                  latest, unpromoted version.
 * MW_E_NOT_FOUND (with MLflow's wording) when the model, alias, stage or
 * version does not exist. */
int mw_registry_resolve(struct mw_registry *r, const char *name, const char *ref,
			const char *default_alias, struct mw_registry_pin *out,
			struct mw_err *err);
/* The registry's generation: a counter bumped after every write that can
 * change what a reference resolves to (a model created, renamed or deleted, a
 * version created or deleted, an alias set, moved or deleted, a stage
 * transition).  Equal generations mean every resolve answers as before (for
 * writes through this registry object; another process writing the same
 * store is not seen).  One atomic load; thread-safe. */
uint64_t mw_registry_generation(struct mw_registry *r);
/* A models:/ URI into a name and a reference for mw_registry_resolve:
 * models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME/latest and
 * models:/NAME@ALIAS (name and ref malloc'd).  MW_E_INVALID otherwise
 * (models:/<model_id> names a logged model, not a registered version). */
int mw_registry_parse_uri(const char *uri, char **name, char **ref, struct mw_err *err);

/* ------------------------------------------------------------ native (/api/mw/models/...) */

/* {name, alias, version, reason?, evidence?} -> {model_version} */
int mw_registry_alias_set(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			  struct mw_err *);
/* {name, alias, reason?, evidence?} -> {} */
int mw_registry_alias_delete(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			     struct mw_err *);
/* {name, alias, reason?, evidence?} -> {alias, from_version, to_version, model_version} */
int mw_registry_rollback(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			 struct mw_err *);
/* {name, version, stage, archive_existing_versions?, reason?, evidence?} -> {model_version} */
int mw_registry_stage(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
		      struct mw_err *);
/* {name} -> {name, events[]} */
int mw_registry_history(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			struct mw_err *);
/* {name, version} -> {model_version, run, code, datasets, logged_model, artifacts,
 *  manifest_digest} */
int mw_registry_lineage(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			struct mw_err *);
/* {name, version} -> {name, version, card, updated, updated_by} */
int mw_registry_card_get(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			 struct mw_err *);
/* {name, version, card{...}} -> the same shape as card_get */
int mw_registry_card_put(struct mw_registry *, const struct mw_call *, json_t *, json_t **,
			 struct mw_err *);

#endif
