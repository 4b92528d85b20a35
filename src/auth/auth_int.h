/*
 * auth_int.h - private to auth/: the authentication object that auth.c
 * (credentials, users, tokens) and authz.c (permissions) share.
 */
#ifndef MW_AUTH_INT_H
#define MW_AUTH_INT_H

#include "auth/auth.h"
#include "store/audit.h"

#include <pthread.h>

#define LIMIT_SLOTS 4096

struct cache_slot {
	bool used;
	unsigned char key[32];
	struct mw_principal p;
	int64_t expires_ms; /* 0: never */
	int64_t touched_ms;
	int64_t checked_ms; /* when the store last confirmed it */
	char stamp[65];     /* Basic: SHA-256 of the stored password hash */
};

struct limit_slot {
	char addr[48];
	int64_t start_ms;
	int fails;
};

struct mw_authn {
	struct mw_store *store;
	unsigned char pepper[32]; /* keys Basic credentials in the cache */
	pthread_mutex_t cmu;
	struct cache_slot cache[MW_AUTH_CACHE_SLOTS];
	pthread_mutex_t lmu;
	struct limit_slot limit[LIMIT_SLOTS];
	char *dummy_hash; /* verified against for unknown users */
	int64_t ttl_ms;   /* MW_AUTH_CACHE_TTL_MS, or a test's */
	enum mw_role default_role;
	struct authz *z; /* authz.c */
};

/* The store, bound to an audit record of action on kind/resource by p (the
 * operator on the data directory when p is NULL): writes through it carry
 * the record (mw_store_audit_bind); release ar after the write. */
struct mw_store *mw_auth_audited(struct mw_authn *a, const struct mw_principal *p,
				 struct mw_audit_rec *ar, const char *action, const char *kind,
				 const char *resource, struct mw_store_bound *sb);

/* authz.c: its caches, made and freed with the object. */
struct authz *mw_authz_new_cache(void);
void mw_authz_free_cache(struct authz *z);

#endif
