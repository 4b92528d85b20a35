/*
 * auth.h - the auth domain of the metadata store: users and API tokens, as
 * plain C records.
 *
 * The store keeps what must hold inside one write: user names are unique
 * (MW_E_EXISTS, detail MW_STORE_USER), ids are never reused (AUTOINCREMENT),
 * deleting a user deletes its tokens in the same transaction.  It knows no
 * hashing: auth/ hashes passwords (scrypt) and tokens (SHA-256) and hands
 * the store the encoded hashes; a secret never reaches the store.  Missing
 * things are MW_E_NOT_FOUND with detail MW_STORE_USER or MW_STORE_TOKEN.
 *
 * Ownership: results are allocated from the caller's arena; inputs are
 * borrowed for the call.
 */
#ifndef MW_STORE_AUTH_H
#define MW_STORE_AUTH_H

#include "store/store.h"

struct mw_user {
	int64_t id;
	const char *name;
	const char *pw_hash; /* "scrypt$N$r$p$salt$hash" */
	bool admin;
	int64_t created_ms;
};

struct mw_token {
	int64_t id;
	int64_t user_id;
	const char *user; /* the owner's name */
	bool admin;       /* the owner's admin flag */
	const char *name;
	const char *hash; /* SHA-256 hex of the token text */
	int64_t created_ms;
	int64_t expires_ms;   /* 0: never */
	int64_t last_used_ms; /* 0: never used */
	int64_t revoked_ms;   /* 0: live */
	bool inference;       /* scope 'inference': serving routes only (else 'full') */
};

int mw_store_user_create(struct mw_store *s, const char *name, const char *pw_hash, bool admin,
			 int64_t now_ms, int64_t *id, struct mw_err *err);
int mw_store_user_get(struct mw_store *s, const char *name, struct mw_arena *a, struct mw_user *out,
		      struct mw_err *err);
int mw_store_user_count(struct mw_store *s, int64_t *n, struct mw_err *err);
int mw_store_user_set_password(struct mw_store *s, const char *name, const char *pw_hash,
			       struct mw_err *err);
int mw_store_user_set_admin(struct mw_store *s, const char *name, bool admin, struct mw_err *err);
/* Deletes the user's tokens too. */
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

#endif
