/*
 * registry.h - the registry domain of the metadata store: registered
 * models, model versions, tags, aliases, stages, model cards and the
 * promotion history, as plain C records.
 *
 * The records are mw's, not MLflow's: no JSON, no MLflow message, no stage
 * name and no URI.  registry/ shapes MLflow's messages, words the errors,
 * validates stages and decides what a transition archives and what the
 * audit says.  The store keeps the rules that must hold inside one write:
 * names are unique (MW_E_EXISTS, detail MW_STORE_MODEL), versions are
 * numbered max + 1 per model and never reused, a rollback only moves an
 * alias that is still where the caller saw it (MW_E_CONFLICT, detail
 * MW_STORE_ALIAS), and every alias move, stage change and deletion appends a
 * promotion event in the same transaction.  Missing things are
 * MW_E_NOT_FOUND with detail MW_STORE_MODEL, MW_STORE_VERSION,
 * MW_STORE_ALIAS or MW_STORE_CARD.
 *
 * Pinning: a version created with a pin_prefix gets a copy of the manifest
 * entries below that prefix (a prefix naming one file pins that file under
 * its base name) at a path of its own, <pin_root>/<model key>/<version>,
 * in the same transaction; the record's files is that path, and
 * manifest_digest the SHA-256 over "path\tdigest\n" lines of the pinned
 * entries in path order.  The pinned entries are new paths nothing else
 * writes, so a version's files never change.  Deleting a version (or its
 * model) deletes its pinned entries; the blobs stay until gc.
 *
 * Ownership: results are allocated from the caller's arena; inputs are
 * borrowed for the call.  A string field that may be absent is NULL.
 */
#ifndef MW_STORE_REGISTRY_H
#define MW_STORE_REGISTRY_H

#include "store/store.h"

/* ------------------------------------------------------------ records */

struct mw_model_version {
	const char *name; /* of its registered model */
	int64_t version;
	int64_t creation_timestamp;
	int64_t last_updated_timestamp;
	const char *description; /* may be NULL (also below unless said) */
	const char *user_id;
	const char *current_stage;
	const char *source; /* as given at creation */
	const char *run_id;
	const char *run_link;
	const char *status;
	const char *status_message;
	const char *files;           /* the pinned manifest prefix; NULL: nothing pinned */
	const char *model_id;        /* MLflow 3 logged model */
	const char *manifest_digest; /* with files */
	struct mw_kv *tags;          /* by key */
	size_t ntags;
	const char **aliases; /* the aliases pointing here, by name */
	size_t naliases;
};

struct mw_alias {
	const char *alias;
	int64_t version;
};

struct mw_registered_model {
	const char *name;
	const char *description; /* may be NULL */
	const char *user_id;     /* may be NULL */
	int64_t creation_timestamp;
	int64_t last_updated_timestamp;
	struct mw_model_version *latest_versions; /* the newest live version of each
						   * stage, in version order */
	size_t nlatest;
	struct mw_kv *tags; /* by key */
	size_t ntags;
	struct mw_alias *aliases; /* by alias */
	size_t naliases;
};

/* Kinds of promotion events. */
#define MW_EVENT_ALIAS_SET "alias_set"
#define MW_EVENT_ALIAS_DELETED "alias_deleted"
#define MW_EVENT_ROLLBACK "rollback"
#define MW_EVENT_STAGE "stage_transition"
#define MW_EVENT_VERSION_DELETED "version_deleted"
#define MW_EVENT_MODEL_DELETED "model_deleted"

struct mw_promotion_event {
	int64_t id;             /* increasing */
	const char *kind;       /* MW_EVENT_* */
	const char *target;     /* the alias, the version number, or the model */
	int64_t from_version;   /* 0: none */
	int64_t to_version;     /* 0: none */
	const char *from_stage; /* NULL: none (also below) */
	const char *to_stage;
	const char *who;
	/* 1: who was authenticated; 0: only claimed (no --auth); -1: not
	 * recorded (events from before migration 7) */
	int who_verified;
	int64_t at;
	const char *reason;
	const char *evidence; /* JSON text as given */
};

struct mw_model_card {
	const char *card; /* JSON text as given */
	int64_t updated;
	const char *updated_by; /* may be NULL */
};

/* Who did a registry change, why, and with what evidence (promotion history). */
struct mw_audit {
	const char *who;      /* NULL or "": not known */
	bool verified;        /* who was authenticated (struct mw_call's verified) */
	const char *reason;   /* may be NULL */
	const char *evidence; /* JSON text (object or array), may be NULL */
	int64_t now_ms;
};

/* Registered models and versions tagged hide_tag = hide_value (any case) are
 * left out of a search (MLflow's prompts); NULL hide: none. */
struct mw_hide_tag {
	const char *key;
	const char *value;
};

/* ------------------------------------------------------------ registered models */

int mw_store_rm_create(struct mw_store *s, const char *name, const char *description,
		       const struct mw_kv *tags, size_t ntags, const char *user_id, int64_t now_ms,
		       struct mw_arena *a, struct mw_registered_model *out, struct mw_err *err);
int mw_store_rm_get(struct mw_store *s, const char *name, struct mw_arena *a,
		    struct mw_registered_model *out, struct mw_err *err);
int mw_store_rm_rename(struct mw_store *s, const char *name, const char *new_name, int64_t now_ms,
		       struct mw_arena *a, struct mw_registered_model *out, struct mw_err *err);
/* The current name of the registered model with internal id rm_id (the
 * <model id> of its pinned files' paths, "_registry/<model id>/<version>"),
 * in a; MW_E_NOT_FOUND (MW_STORE_MODEL) when there is none.  An id is never
 * reused; a rename keeps it. */
int mw_store_rm_name_by_id(struct mw_store *s, int64_t rm_id, struct mw_arena *a, const char **name,
			   struct mw_err *err);
int mw_store_rm_update(struct mw_store *s, const char *name, const char *description,
		       int64_t now_ms, struct mw_arena *a, struct mw_registered_model *out,
		       struct mw_err *err);
/* Deletes the model, its versions, aliases, tags, cards and pinned manifests
 * (blobs stay until gc); the promotion history is kept (an event
 * MW_EVENT_MODEL_DELETED with no who). */
int mw_store_rm_delete(struct mw_store *s, const char *name, int64_t now_ms, struct mw_err *err);
/* A page of models; by default by name. */
int mw_store_rm_search(struct mw_store *s, const struct mw_filter *f, const struct mw_order *o,
		       size_t norder, const struct mw_hide_tag *hide, const struct mw_page *page,
		       struct mw_arena *a, struct mw_registered_model **out, size_t *n, bool *more,
		       struct mw_err *err);
int mw_store_rm_set_tag(struct mw_store *s, const char *name, const char *key, const char *value,
			struct mw_err *err);
/* Deleting a tag that is not there is fine. */
int mw_store_rm_delete_tag(struct mw_store *s, const char *name, const char *key,
			   struct mw_err *err);

/* ------------------------------------------------------------ aliases */

/* Set an alias (audited MW_EVENT_ALIAS_SET, or MW_EVENT_ROLLBACK when
 * rollback: then version must be the alias's previous version, else
 * MW_E_CONFLICT with detail MW_STORE_ALIAS).  Setting it where it is changes
 * nothing. */
int mw_store_rm_set_alias(struct mw_store *s, const char *name, const char *alias, int64_t version,
			  bool rollback, const struct mw_audit *a, struct mw_err *err);
/* Where an alias could roll back to: its history replayed as a stack (a set
 * pushes, a rollback pops back to its target), previous the newest entry
 * below current that still exists (0 when none), events the number of sets
 * and rollbacks seen (0: never set). */
struct mw_alias_state {
	int64_t current; /* 0: not set */
	int64_t previous;
	int events;
};
int mw_store_rm_alias_state(struct mw_store *s, const char *name, const char *alias,
			    struct mw_alias_state *out, struct mw_err *err);
/* What an alias move did, exactly as its promotion event records it. */
struct mw_alias_move {
	int64_t from_version;            /* where the alias was (0: not set) */
	int64_t to_version;              /* where it is now */
	bool changed;                    /* false: it was there already (nothing recorded) */
	struct mw_alias_state state;     /* the alias as the move found it (set for rollbacks,
					  * also when there was nowhere to roll back to) */
	struct mw_model_version version; /* the version it points to now (in the arena) */
};
/* Move an alias in one write job, which reads where it is, decides where it
 * goes, writes, audits and reads back the version, so concurrent moves each
 * answer exactly what their event records.  rollback false: to version.
 * rollback true and version 0: to its previous version as
 * mw_store_rm_alias_state computes it, inside the job; with nowhere to go,
 * MW_E_NOT_FOUND (never set, or not set and none of its versions exists) or
 * MW_E_INVALID (set, nothing earlier exists), detail MW_STORE_ALIAS, with
 * out->state saying which.  rollback true and a version: only if that is the
 * previous version (else MW_E_CONFLICT, detail MW_STORE_ALIAS).  Audited as
 * mw_store_rm_set_alias. */
int mw_store_rm_move_alias(struct mw_store *s, const char *name, const char *alias, int64_t version,
			   bool rollback, const struct mw_audit *a, struct mw_arena *ar,
			   struct mw_alias_move *out, struct mw_err *err);
/* Audited MW_EVENT_ALIAS_DELETED; deleting an alias that is not set is fine. */
int mw_store_rm_delete_alias(struct mw_store *s, const char *name, const char *alias,
			     const struct mw_audit *a, struct mw_err *err);
/* The version an alias points to (MW_E_NOT_FOUND, MW_STORE_ALIAS: not set). */
int mw_store_rm_get_by_alias(struct mw_store *s, const char *name, const char *alias,
			     struct mw_arena *a, struct mw_model_version *out, struct mw_err *err);

/* ------------------------------------------------------------ versions */

/* The newest live version of each stage, in version order, of those in stages
 * (NULL or none: every stage). */
int mw_store_rm_latest_versions(struct mw_store *s, const char *name, const char *const *stages,
				size_t nstages, struct mw_arena *a, struct mw_model_version **out,
				size_t *n, struct mw_err *err);
/* Promotion history, oldest first. */
int mw_store_rm_history(struct mw_store *s, const char *name, struct mw_arena *a,
			struct mw_promotion_event **out, size_t *n, struct mw_err *err);

struct mw_mv_create {
	const char *name;
	const char *source; /* stored verbatim */
	const char *run_id; /* may be NULL */
	const char *run_link;
	const char *description;
	const char *logged_model_id; /* MLflow 3 model_id, may be NULL */
	const char *user_id;
	const struct mw_kv *tags;
	size_t ntags;
	const char *stage;  /* the initial stage */
	const char *status; /* the initial status */
	/* The artifact directory (manifest path prefix) whose files the version
	 * pins, NULL pins nothing; "" is MW_E_INVALID (the whole store).  The
	 * copy goes under <pin_root>/<model key>/<version>. */
	const char *pin_prefix;
	const char *pin_root;
	const char *status_message;          /* stored as given, may be NULL */
	const char *status_message_no_files; /* stored instead when the pin finds no file */
	int64_t now_ms;
};
int mw_store_mv_create(struct mw_store *s, const struct mw_mv_create *c, struct mw_arena *a,
		       struct mw_model_version *out, struct mw_err *err);
int mw_store_mv_get(struct mw_store *s, const char *name, int64_t version, struct mw_arena *a,
		    struct mw_model_version *out, struct mw_err *err);
int mw_store_mv_update(struct mw_store *s, const char *name, int64_t version,
		       const char *description, int64_t now_ms, struct mw_arena *a,
		       struct mw_model_version *out, struct mw_err *err);
/* The version is kept as a hidden row (its number is never reused); its
 * tags, card and pinned manifest go, and so do the aliases pointing to it,
 * each audited with alias_reason.  Audited MW_EVENT_VERSION_DELETED. */
int mw_store_mv_delete(struct mw_store *s, const char *name, int64_t version,
		       const struct mw_audit *a, const char *alias_reason, struct mw_err *err);
/* Move a version to stage (audited MW_EVENT_STAGE when it changes).  With
 * archive_to, every other live version in that stage first moves to
 * archive_to, each audited with archive_reason. */
int mw_store_mv_transition(struct mw_store *s, const char *name, int64_t version, const char *stage,
			   const char *archive_to, const char *archive_reason,
			   const struct mw_audit *a, struct mw_arena *ar,
			   struct mw_model_version *out, struct mw_err *err);
/* A page of versions; by default the latest change first. */
int mw_store_mv_search(struct mw_store *s, const struct mw_filter *f, const struct mw_order *o,
		       size_t norder, const struct mw_hide_tag *hide, const struct mw_page *page,
		       struct mw_arena *a, struct mw_model_version **out, size_t *n, bool *more,
		       struct mw_err *err);
int mw_store_mv_set_tag(struct mw_store *s, const char *name, int64_t version, const char *key,
			const char *value, struct mw_err *err);
int mw_store_mv_delete_tag(struct mw_store *s, const char *name, int64_t version, const char *key,
			   struct mw_err *err);

/* ------------------------------------------------------------ model cards */

/* A card is JSON text, stored as given (the registry checks it). */
int mw_store_mv_set_card(struct mw_store *s, const char *name, int64_t version, const char *card,
			 const char *who, int64_t now_ms, struct mw_err *err);
int mw_store_mv_get_card(struct mw_store *s, const char *name, int64_t version, struct mw_arena *a,
			 struct mw_model_card *out, struct mw_err *err);

#endif
