/*
 * auth.h - the auth domain of the metadata store: users (with a role), API
 * tokens and per-resource permissions, as plain C records.
 *
 * The store keeps what must hold inside one write: user names are unique
 * (MW_E_EXISTS, detail MW_STORE_USER), ids are never reused (AUTOINCREMENT),
 * deleting a user deletes its tokens in the same transaction.  It knows no
 * hashing: auth/ hashes passwords (scrypt) and tokens (SHA-256) and hands
 * the store the encoded hashes; a secret never reaches the store.  Missing
 * things are MW_E_NOT_FOUND with detail MW_STORE_USER or MW_STORE_TOKEN.
 *
 * Permissions are rows (kind, resource, user, permission): an experiment by
 * its id, a registered model by its name (a rename of the model moves its
 * rows, a delete drops them, in the same write: sqlite_registry.c).
 * Deleting a user deletes its rows.  A missing row is MW_E_NOT_FOUND with
 * detail MW_STORE_PERMISSION; creating one that exists MW_E_EXISTS.
 *
 * Ownership: results are allocated from the caller's arena; inputs are
 * borrowed for the call.
 */
#ifndef MW_STORE_AUTH_H
#define MW_STORE_AUTH_H

#include "store/store.h"

/* A user's role: what it may do by default (auth.h has the rules).  Stored
 * as text: "viewer", "editor", "admin". */
enum mw_role { MW_ROLE_VIEWER = 0, MW_ROLE_EDITOR, MW_ROLE_ADMIN, MW_ROLE__COUNT };

/* A permission on one resource, MLflow's names, in increasing order: each
 * allows what the ones below it do.  Stored as text: "NO_PERMISSIONS",
 * "READ", "EDIT", "MANAGE". */
enum mw_perm { MW_PERM_NONE = 0, MW_PERM_READ, MW_PERM_EDIT, MW_PERM_MANAGE, MW_PERM__COUNT };

/* What a permission row is about. */
enum mw_perm_kind { MW_PERM_EXPERIMENT = 1, MW_PERM_MODEL = 2 };

/* How mw_store_perm_put treats an existing row. */
enum mw_perm_put {
	MW_PERM_PUT_CREATE, /* MW_E_EXISTS when there is one */
	MW_PERM_PUT_UPDATE, /* MW_E_NOT_FOUND when there is none */
	MW_PERM_PUT_UPSERT, /* either */
};

struct mw_user {
	int64_t id;
	const char *name;
	const char *pw_hash; /* "scrypt$N$r$p$salt$hash" */
	bool admin;          /* role == MW_ROLE_ADMIN (MLflow's is_admin) */
	enum mw_role role;
	int64_t created_ms;
};

struct mw_token {
	int64_t id;
	int64_t user_id;
	const char *user; /* the owner's name */
	bool admin;       /* the owner's admin flag */
	enum mw_role role; /* the owner's role */
	const char *name;
	const char *hash; /* SHA-256 hex of the token text */
	int64_t created_ms;
	int64_t expires_ms;   /* 0: never */
	int64_t last_used_ms; /* 0: never used */
	int64_t revoked_ms;   /* 0: live */
	bool inference;       /* scope 'inference': serving routes only (else 'full') */
};

int mw_store_user_create(struct mw_store *s, const char *name, const char *pw_hash,
			 enum mw_role role, int64_t now_ms, int64_t *id, struct mw_err *err);
int mw_store_user_get(struct mw_store *s, const char *name, struct mw_arena *a, struct mw_user *out,
		      struct mw_err *err);
int mw_store_user_count(struct mw_store *s, int64_t *n, struct mw_err *err);
int mw_store_user_set_password(struct mw_store *s, const char *name, const char *pw_hash,
			       struct mw_err *err);
/* Sets the role (and is_admin with it). */
int mw_store_user_set_role(struct mw_store *s, const char *name, enum mw_role role,
			   struct mw_err *err);
/* Deletes the user's tokens and permissions too. */
int mw_store_user_delete(struct mw_store *s, const char *name, struct mw_err *err);

int mw_store_token_create(struct mw_store *s, int64_t user_id, const char *name, const char *hash,
			  int64_t now_ms, int64_t expires_ms, bool inference, int64_t *id,
			  struct mw_err *err);
/* A live or revoked token by its hash, with its owner's name and admin flag. */
int mw_store_token_get(struct mw_store *s, const char *hash, struct mw_arena *a,
		       struct mw_token *out, struct mw_err *err);
/* The tokens of a user (user_id 0: every user's), revoked ones too, by id. */
int mw_store_token_list(struct mw_store *s, int64_t user_id, struct mw_arena *a,
			struct mw_token **out, size_t *n, struct mw_err *err);
/* Revoke token id; user_id non-zero: only if it is that user's (else
 * MW_E_NOT_FOUND).  *hash (may be NULL) gets its hash for cache eviction. */
int mw_store_token_revoke(struct mw_store *s, int64_t id, int64_t user_id, int64_t now_ms,
			  char hash[65], struct mw_err *err);
int mw_store_token_touch(struct mw_store *s, int64_t id, int64_t now_ms, struct mw_err *err);

struct mw_perm_row {
	enum mw_perm_kind kind;
	const char *resource;
	int64_t user_id;
	enum mw_perm perm;
};

int mw_store_perm_put(struct mw_store *s, enum mw_perm_kind kind, const char *resource,
		      int64_t user_id, enum mw_perm perm, enum mw_perm_put mode,
		      struct mw_err *err);
int mw_store_perm_get(struct mw_store *s, enum mw_perm_kind kind, const char *resource,
		      int64_t user_id, enum mw_perm *out, struct mw_err *err);
int mw_store_perm_delete(struct mw_store *s, enum mw_perm_kind kind, const char *resource,
			 int64_t user_id, struct mw_err *err);
/* Every row of a user, by kind and resource. */
int mw_store_perm_list(struct mw_store *s, int64_t user_id, struct mw_arena *a,
		       struct mw_perm_row **out, size_t *n, struct mw_err *err);

/* Text forms ("viewer", "READ"); parse answers false for anything else. */
const char *mw_role_name(enum mw_role r);
bool mw_role_parse(const char *s, enum mw_role *out);
const char *mw_perm_name(enum mw_perm p);
bool mw_perm_parse(const char *s, enum mw_perm *out);

#endif
