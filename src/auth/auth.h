/*
 * auth.h - authentication: users with passwords, API tokens, the checks the
 * request pipeline makes, and the failed-login limiter.
 *
 * Passwords are hashed with OpenSSL's scrypt (EVP_PBE_scrypt, N=2^15, r=8,
 * p=1, 16 random bytes of salt, 32 bytes of hash), stored as
 * "scrypt$N$r$p$<salt b64>$<hash b64>"; verification recomputes with the
 * stored parameters and compares in constant time (CRYPTO_memcmp).  A user
 * name that does not exist still costs one scrypt, so timing does not tell
 * names apart.
 *
 * API tokens are 32 bytes from the CSPRNG shown once as "mw_<base64url>";
 * the store keeps their SHA-256 (hex) only.  A token may expire and may be
 * revoked; revocation is effective on the next request.  A token has a
 * scope: "full" (whatever its user may do) or "inference" (only the routes
 * that call a served model: what an application embedding a model needs,
 * and nothing that reads or changes the registry).
 *
 * The cache.  Verified credentials are remembered in a 1024-slot table keyed
 * by a SHA-256 (a token's hash; for Basic credentials the hash of a
 * per-process random key, the user name and the password, so the table
 * never holds a password), so a request with known credentials costs no SQL
 * and no scrypt.  Revoking a token evicts it; changing a user (password,
 * admin flag, deletion) empties the table.  A cached token's expiry is
 * checked on every hit, and its last-used time is written at most once a
 * minute.  An entry older than MW_AUTH_CACHE_TTL_MS is confirmed with the
 * store again (a token: read again; Basic: the user's stored hash compared
 * with the one it was verified against, no scrypt), so changes made by
 * another process (mw auth on the data directory) apply within that time.
 *
 * The limiter.  More than 10 failed logins from one client address within a
 * minute refuse that address (MW_E_LIMIT, with the seconds to wait) until
 * the minute ends; addresses live in a fixed table of 4096 slots (a full
 * table reuses the oldest slot).
 *
 * Authorisation (authz.c).  A user has a role: admin (everything), editor
 * or viewer (MLflow's default_permission: EDIT for an editor, READ for a
 * viewer, on every experiment and registered model without a row of its
 * own).  A permission row (store/auth.h) on one experiment or registered
 * model overrides the role's default for that user, both ways: READ, EDIT,
 * MANAGE or NO_PERMISSIONS (nothing, the resource is hidden).  READ reads;
 * EDIT also changes (runs, metrics, tags, versions, aliases); MANAGE also
 * deletes and manages the resource's permissions.  An admin always has
 * MANAGE.  The creator of an experiment or registered model gets MANAGE on
 * it (mw_authz_grant_creator).  Runs and logged models belong to their
 * experiment, versions, aliases and tags to their registered model.  Users
 * created without a role get the server's default role
 * (mw_auth_set_default_role; --auth-default-role, viewer unless set).
 *
 * The permission cache.  Effective permissions are remembered per (user,
 * kind, resource) in a 4096-slot table, and a run's or logged model's
 * experiment (which never changes) in another; a check on a cached pair
 * costs one mutex and no SQL.  Every change of a permission row, a role or
 * a user empties the permission table (a generation counter: O(1)); an
 * entry older than the credential cache's TTL is read again, so changes
 * made by another process apply within that time.
 *
 * Errors: MW_E_UNAUTHENTICATED (no or wrong credentials), MW_E_DENIED
 * (not allowed, PERMISSION_DENIED), MW_E_LIMIT, and the store's.  Thread-safe.
 */
#ifndef MW_AUTH_H
#define MW_AUTH_H

#include "core/core.h"
#include "store/auth.h"
#include "store/store.h"

#define MW_AUTH_FAIL_LIMIT 10 /* failed logins per address per window */
#define MW_AUTH_FAIL_WINDOW_MS 60000
#define MW_AUTH_CACHE_SLOTS 1024
#define MW_AUTH_CACHE_TTL_MS 10000 /* a cached credential is re-confirmed after this */
#define MW_AUTH_TOKEN_PREFIX "mw_"

/* A verified caller. */
struct mw_principal {
	int64_t user_id;
	char user[256];
	bool admin; /* role == MW_ROLE_ADMIN */
	enum mw_role role;
	int64_t token_id; /* 0 when Basic */
	/* The request it was verified for (set by the request pipeline after
	 * the check, never cached): the request id of the audit records its
	 * changes write.  NULL outside a request. */
	const char *request_id;
	/* an inference token: the request pipeline lets it call MW_AUTH_INFERENCE
	 * (and open) routes only, whatever its user may do elsewhere */
	bool inference_only;
};

struct mw_authn;

int mw_auth_new(struct mw_store *store, struct mw_authn **out, struct mw_err *err);
void mw_auth_free(struct mw_authn *a);

/* How long a cached credential is used before the store confirms it again
 * (default MW_AUTH_CACHE_TTL_MS; tests shorten it). */
void mw_auth_set_cache_ttl(struct mw_authn *a, int64_t ttl_ms);

/* Password hashing: *out (malloc'd) gets the encoding above. */
int mw_auth_hash_password(const char *password, char **out, struct mw_err *err);
/* True when password matches the encoding (a malformed encoding never does). */
bool mw_auth_verify_password(const char *password, const char *encoded);
/* "mw_<base64url of 32 random bytes>" into out (64 bytes is enough). */
int mw_auth_token_new(char out[64], struct mw_err *err);
/* SHA-256 hex of a token's text (what the store keeps). */
void mw_auth_token_hash(const char *token, char hex[65]);

/* Check credentials: a bearer token, or Basic user and password.  0 and *p
 * filled, or MW_E_UNAUTHENTICATED (any wrong credential, never which part). */
int mw_auth_check_token(struct mw_authn *a, const char *token, struct mw_principal *p,
			struct mw_err *err);
int mw_auth_check_basic(struct mw_authn *a, const char *user, const char *password,
			struct mw_principal *p, struct mw_err *err);

/* The limiter: mw_auth_limited answers the seconds to wait (0: go on);
 * mw_auth_failed records one failure. */
int mw_auth_limited(struct mw_authn *a, const char *addr);
void mw_auth_failed(struct mw_authn *a, const char *addr);

/* Users.  The caller p decides: create, set admin and delete need an admin;
 * get and set password need an admin or the user itself (p may be NULL:
 * the operator on the data directory, mw auth). */
int mw_auth_user_create(struct mw_authn *a, const struct mw_principal *p, const char *name,
			const char *password, bool admin, struct mw_err *err);
int mw_auth_user_get(struct mw_authn *a, const struct mw_principal *p, const char *name,
		     struct mw_arena *ar, struct mw_user *out, struct mw_err *err);
int mw_auth_user_set_password(struct mw_authn *a, const struct mw_principal *p, const char *name,
			      const char *password, struct mw_err *err);
int mw_auth_user_set_admin(struct mw_authn *a, const struct mw_principal *p, const char *name,
			   bool admin, struct mw_err *err);
int mw_auth_user_delete(struct mw_authn *a, const struct mw_principal *p, const char *name,
			struct mw_err *err);
/* The role of users created without one (MW_ROLE_VIEWER unless set). */
void mw_auth_set_default_role(struct mw_authn *a, enum mw_role role);
enum mw_role mw_auth_default_role(const struct mw_authn *a);
/* Create a user with a role (mw_auth_user_create: the default role, or
 * admin). */
int mw_auth_user_create_role(struct mw_authn *a, const struct mw_principal *p, const char *name,
			     const char *password, enum mw_role role, struct mw_err *err);
/* Set a user's role (an admin only).  MLflow's update-admin is
 * mw_auth_user_set_admin: true makes an admin; false makes an admin a user
 * of the default role and leaves others as they are. */
int mw_auth_user_set_role(struct mw_authn *a, const struct mw_principal *p, const char *name,
			  enum mw_role role, struct mw_err *err);
/* Create user "admin" (an admin) with password when no user exists yet;
 * *created tells whether it did. */
int mw_auth_ensure_admin(struct mw_authn *a, const char *password, bool *created,
			 struct mw_err *err);

/* Tokens of the caller p (or of user `owner` when p is NULL, for mw auth).
 * expires_in_s 0: never.  text gets the token, shown once. */
int mw_auth_token_create(struct mw_authn *a, const struct mw_principal *p, const char *owner,
			 const char *name, int64_t expires_in_s, char text[64],
			 struct mw_token *out, struct mw_err *err);
/* The same with a scope: inference true makes an inference token.  An
 * inference-only caller p cannot create tokens (MW_E_DENIED). */
int mw_auth_token_create_scoped(struct mw_authn *a, const struct mw_principal *p, const char *owner,
				const char *name, int64_t expires_in_s, bool inference,
				char text[64], struct mw_token *out, struct mw_err *err);
/* "full" or "inference" into *inference; anything else MW_E_INVALID. */
int mw_auth_scope_parse(const char *scope, bool *inference, struct mw_err *err);
/* The caller's tokens (an admin with all: everyone's; p NULL: everyone's). */
int mw_auth_token_list(struct mw_authn *a, const struct mw_principal *p, bool all,
		       struct mw_arena *ar, struct mw_token **out, size_t *n, struct mw_err *err);
/* Revoke: the caller's own token, or any when p is an admin or NULL. */
int mw_auth_token_revoke(struct mw_authn *a, const struct mw_principal *p, int64_t id,
			 struct mw_err *err);

/* A token as the API and the CLI show it (never its text or hash): {id,
 * user, name, scope, created_at, expires_at?, last_used_at?, revoked_at?}, times in
 * ms since the Unix epoch.  A new reference. */
json_t *mw_auth_token_json(const struct mw_token *t);

/* Validation of names and passwords (MW_E_INVALID). */
int mw_auth_check_name(const char *name, struct mw_err *err);

/* ------------------------------------------------------------ authorisation (authz.c) */

/* The effective permission of p on a resource (an experiment id, a
 * registered model's name): admin MANAGE, else the user's row, else the
 * role's default.  p NULL (the operator, no --auth): MANAGE. */
int mw_authz_perm(struct mw_authn *a, const struct mw_principal *p, enum mw_perm_kind kind,
		  const char *resource, enum mw_perm *out, struct mw_err *err);
/* 0 when p has at least need, else MW_E_DENIED ("Permission denied"). */
int mw_authz_check(struct mw_authn *a, const struct mw_principal *p, enum mw_perm_kind kind,
		   const char *resource, enum mw_perm need, struct mw_err *err);
/* Whether p may read the resource (errors read as no: for filtering). */
bool mw_authz_can_read(struct mw_authn *a, const struct mw_principal *p, enum mw_perm_kind kind,
		       const char *resource);
/* The experiment of a run, of a logged model, of an experiment name (the
 * first two cached: they never change) into out; MW_E_NOT_FOUND when
 * there is none. */
int mw_authz_run_experiment(struct mw_authn *a, const char *run_id, char out[64],
			    struct mw_err *err);
int mw_authz_lm_experiment(struct mw_authn *a, const char *model_id, char out[64],
			   struct mw_err *err);
int mw_authz_exp_by_name(struct mw_authn *a, const char *name, char out[64], struct mw_err *err);
/* The experiment whose artifact root holds the proxy path `path` (canonical,
 * mw_art_path_normalize; not a reserved root) into out: the experiment
 * whose artifact_location is "mlflow-artifacts:/<prefix>" (or with a
 * trailing '/') for the longest prefix of path that ends at a segment
 * boundary ("team-a/proj2" is not under "team-a/proj"), of at most 32
 * segments; among experiments sharing that root the oldest (lowest id);
 * deleted experiments keep their root.  MW_E_NOT_FOUND when there is none.
 * Cached by path with the permission table's rules (a slot is dropped by
 * mw_authz_invalidate, which a creation's MANAGE grant calls, and read again
 * after the TTL). */
int mw_authz_art_experiment(struct mw_authn *a, const char *path, char out[32], struct mw_err *err);
/* The current name of the registered model with internal id rm_id (the
 * <model id> of its pinned files, "_registry/<model id>/<version>") into
 * out (n bytes; MW_AUTH_MODEL_NAME_MAX is enough); MW_E_NOT_FOUND when
 * there is none.  Cached by id in a 1024-slot table with the permission
 * table's rules (a slot is dropped by mw_authz_invalidate and read again
 * after the TTL), and only for the same epoch: the caller passes the
 * registry's generation (mw_registry_generation), which every registry
 * write bumps, so a rename in this process applies at once and one by
 * another process within the TTL. */
#define MW_AUTH_MODEL_NAME_MAX 1100
int mw_authz_model_name(struct mw_authn *a, int64_t rm_id, uint64_t epoch, char *out, size_t n,
			struct mw_err *err);

/* Manage the permission rows of a resource (MLflow's
 * experiments/permissions/..., registered-models/permissions/...): the
 * caller p needs MANAGE on it (an admin always has it; p NULL: the
 * operator).  user is the name of the user the row is about.  *user_id
 * (may be NULL) gets its id.  Put follows mode (store/auth.h). */
int mw_authz_put(struct mw_authn *a, const struct mw_principal *p, enum mw_perm_kind kind,
		 const char *resource, const char *user, enum mw_perm perm, enum mw_perm_put mode,
		 int64_t *user_id, struct mw_err *err);
int mw_authz_get(struct mw_authn *a, const struct mw_principal *p, enum mw_perm_kind kind,
		 const char *resource, const char *user, enum mw_perm *perm, int64_t *user_id,
		 struct mw_err *err);
int mw_authz_delete(struct mw_authn *a, const struct mw_principal *p, enum mw_perm_kind kind,
		    const char *resource, const char *user, struct mw_err *err);
/* The creator of a resource gets MANAGE on it, an admin too (so it keeps
 * it as an editor or viewer); p NULL: nothing. */
int mw_authz_grant_creator(struct mw_authn *a, const struct mw_principal *p, enum mw_perm_kind kind,
			   const char *resource, struct mw_err *err);
/* Every permission row of user_id (for users/get), from the arena. */
int mw_authz_list(struct mw_authn *a, int64_t user_id, struct mw_arena *ar,
		  struct mw_perm_row **rows, size_t *n, struct mw_err *err);
/* Forget every cached permission (after any change that may alter one). */
void mw_authz_invalidate(struct mw_authn *a);

#endif
