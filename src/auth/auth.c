/*
 * auth.c - users, passwords (scrypt), API tokens, the credential cache and
 * the failed-login limiter (see auth.h for the rules).
 *
 * Invariants: no password or token text is stored, cached or logged; every
 * comparison of secret-derived bytes is CRYPTO_memcmp; the cache and the
 * limiter are fixed-size tables under one mutex each, so memory never grows
 * with traffic.
 */
#include "auth/auth_int.h"

#include "store/audit.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRYPT_N 32768ull
#define SCRYPT_R 8ull
#define SCRYPT_P 1ull
#define SALT_LEN 16
#define HASH_LEN 32
#define SCRYPT_MAXMEM ((uint64_t)256 << 20)
#define LIMIT_PROBE 8
#define TOUCH_EVERY_MS 60000

/* ------------------------------------------------------------ hashing */

static int scrypt(const char *pw, const unsigned char *salt, size_t saltlen, uint64_t n, uint64_t r,
		  uint64_t p, unsigned char *out, size_t outlen)
{
	return EVP_PBE_scrypt(pw, strlen(pw), salt, saltlen, n, r, p, SCRYPT_MAXMEM, out, outlen) ==
			       1
		       ? 0
		       : -1;
}

int mw_auth_hash_password(const char *password, char **out, struct mw_err *err)
{
	unsigned char salt[SALT_LEN], h[HASH_LEN];
	int rc = mw_random(salt, sizeof salt, err);
	if (rc)
		return rc;
	if (scrypt(password, salt, sizeof salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, h, sizeof h))
		return mw_err_set(err, MW_E_INTERNAL, "scrypt failed");
	char *s64 = mw_base64_encode(salt, sizeof salt), *h64 = mw_base64_encode(h, sizeof h);
	size_t n = strlen(s64) + strlen(h64) + 64;
	*out = mw_xmalloc(n);
	snprintf(*out, n, "scrypt$%llu$%llu$%llu$%s$%s", SCRYPT_N, SCRYPT_R, SCRYPT_P, s64, h64);
	free(s64);
	free(h64);
	OPENSSL_cleanse(h, sizeof h);
	return 0;
}

static bool parse_u64(const char **s, uint64_t *v)
{
	char *end;
	unsigned long long x = strtoull(*s, &end, 10);
	if (end == *s || *end != '$')
		return false;
	*v = x;
	*s = end + 1;
	return true;
}

bool mw_auth_verify_password(const char *password, const char *encoded)
{
	if (!password || !encoded || strncmp(encoded, "scrypt$", 7))
		return false;
	const char *s = encoded + 7;
	uint64_t n, r, p;
	if (!parse_u64(&s, &n) || !parse_u64(&s, &r) || !parse_u64(&s, &p))
		return false;
	/* bounds: a damaged row must not ask for unbounded work */
	if (n < 2 || n > (1u << 20) || (n & (n - 1)) || r < 1 || r > 32 || p < 1 || p > 16)
		return false;
	const char *dollar = strchr(s, '$');
	if (!dollar || dollar - s > 64)
		return false;
	char saltb64[65];
	memcpy(saltb64, s, (size_t)(dollar - s));
	saltb64[dollar - s] = 0;
	unsigned char *salt = NULL, *want = NULL;
	size_t saltlen = 0, wantlen = 0;
	bool ok = false;
	if (mw_base64_decode(saltb64, &salt, &saltlen) ||
	    mw_base64_decode(dollar + 1, &want, &wantlen) || wantlen < 16 || wantlen > 64)
		goto out;
	unsigned char got[64];
	if (scrypt(password, salt, saltlen, n, r, p, got, wantlen))
		goto out;
	ok = CRYPTO_memcmp(got, want, wantlen) == 0;
	OPENSSL_cleanse(got, sizeof got);
out:
	free(salt);
	free(want);
	return ok;
}

int mw_auth_token_new(char out[64], struct mw_err *err)
{
	unsigned char r[32];
	int rc = mw_random(r, sizeof r, err);
	if (rc)
		return rc;
	char *b = mw_base64_encode(r, sizeof r);
	size_t k = 0;
	for (const char *c = b; *c && *c != '=' && k < 64 - 4; c++)
		out[3 + k++] = *c == '+' ? '-' : *c == '/' ? '_' : *c;
	memcpy(out, MW_AUTH_TOKEN_PREFIX, 3);
	out[3 + k] = 0;
	free(b);
	OPENSSL_cleanse(r, sizeof r);
	return 0;
}

void mw_auth_token_hash(const char *token, char hex[65])
{
	mw_sha256_hex(token, strlen(token), hex);
}

/* ------------------------------------------------------------ the object */

int mw_auth_new(struct mw_store *store, struct mw_authn **out, struct mw_err *err)
{
	struct mw_authn *a = mw_xcalloc(1, sizeof *a);
	a->store = store;
	int rc = mw_random(a->pepper, sizeof a->pepper, err);
	if (!rc)
		rc = mw_auth_hash_password("mw-no-such-user", &a->dummy_hash, err);
	if (rc) {
		free(a->dummy_hash);
		free(a);
		return rc;
	}
	a->ttl_ms = MW_AUTH_CACHE_TTL_MS;
	a->default_role = MW_ROLE_VIEWER;
	a->z = mw_authz_new_cache();
	pthread_mutex_init(&a->cmu, NULL);
	pthread_mutex_init(&a->lmu, NULL);
	*out = a;
	return 0;
}

void mw_auth_free(struct mw_authn *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->cmu);
	pthread_mutex_destroy(&a->lmu);
	OPENSSL_cleanse(a->pepper, sizeof a->pepper);
	OPENSSL_cleanse(a->cache, sizeof a->cache);
	mw_authz_free_cache(a->z);
	free(a->dummy_hash);
	free(a);
}

/* ------------------------------------------------------------ the cache */

void mw_auth_set_cache_ttl(struct mw_authn *a, int64_t ttl_ms)
{
	a->ttl_ms = ttl_ms;
}

static size_t slot_of(const unsigned char key[32])
{
	return ((size_t)key[0] << 8 | key[1]) % MW_AUTH_CACHE_SLOTS;
}

/* A cached principal for key: 1 (and *p), 2 (and *p and stamp: cached, but
 * older than MW_AUTH_CACHE_TTL_MS, so the store must confirm it), 0 (not
 * cached), or -1 (cached but expired: evicted).  *touch is set when the
 * last-used time should be written now. */
static int cache_get(struct mw_authn *a, const unsigned char key[32], struct mw_principal *p,
		     bool *touch, char stamp[65])
{
	int64_t now = mw_now_ms();
	int r = 0;
	pthread_mutex_lock(&a->cmu);
	struct cache_slot *s = &a->cache[slot_of(key)];
	if (s->used && CRYPTO_memcmp(s->key, key, 32) == 0) {
		if (s->expires_ms && s->expires_ms <= now) {
			s->used = false;
			r = -1;
		} else {
			*p = s->p;
			*touch = s->p.token_id && now - s->touched_ms >= TOUCH_EVERY_MS;
			if (*touch)
				s->touched_ms = now;
			r = now - s->checked_ms >= a->ttl_ms ? 2 : 1;
			if (stamp)
				memcpy(stamp, s->stamp, 65);
		}
	}
	pthread_mutex_unlock(&a->cmu);
	return r;
}

static void cache_put(struct mw_authn *a, const unsigned char key[32], const struct mw_principal *p,
		      int64_t expires_ms, const char *stamp)
{
	pthread_mutex_lock(&a->cmu);
	struct cache_slot *s = &a->cache[slot_of(key)];
	s->used = true;
	memcpy(s->key, key, 32);
	s->p = *p;
	s->expires_ms = expires_ms;
	s->touched_ms = s->checked_ms = mw_now_ms();
	snprintf(s->stamp, sizeof s->stamp, "%s", stamp ? stamp : "");
	pthread_mutex_unlock(&a->cmu);
}

static void cache_clear(struct mw_authn *a)
{
	pthread_mutex_lock(&a->cmu);
	memset(a->cache, 0, sizeof a->cache);
	pthread_mutex_unlock(&a->cmu);
}

static void cache_evict_token(struct mw_authn *a, int64_t token_id)
{
	pthread_mutex_lock(&a->cmu);
	for (size_t i = 0; i < MW_AUTH_CACHE_SLOTS; i++)
		if (a->cache[i].used && a->cache[i].p.token_id == token_id)
			memset(&a->cache[i], 0, sizeof a->cache[i]);
	pthread_mutex_unlock(&a->cmu);
}

static void hex_to_key(const char hex[65], unsigned char key[32])
{
	for (int i = 0; i < 32; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char c = hex[2 * i + j];
			v = v << 4 | (unsigned)(c >= 'a' ? c - 'a' + 10 : c - '0');
		}
		key[i] = (unsigned char)v;
	}
}

/* ------------------------------------------------------------ checks */

static int unauth(struct mw_err *err)
{
	return mw_err_set(err, MW_E_UNAUTHENTICATED, "invalid credentials");
}

static void principal_set(struct mw_principal *p, int64_t uid, const char *name, enum mw_role role,
			  int64_t token_id, bool inference_only)
{
	memset(p, 0, sizeof *p);
	p->user_id = uid;
	snprintf(p->user, sizeof p->user, "%s", name ? name : "");
	p->role = role;
	p->admin = role == MW_ROLE_ADMIN;
	p->token_id = token_id;
	p->inference_only = inference_only;
}

int mw_auth_check_token(struct mw_authn *a, const char *token, struct mw_principal *p,
			struct mw_err *err)
{
	if (!token || strncmp(token, MW_AUTH_TOKEN_PREFIX, 3) || strlen(token) > 128)
		return unauth(err);
	char hex[65];
	mw_auth_token_hash(token, hex);
	unsigned char key[32];
	hex_to_key(hex, key);
	bool touch = false;
	int c = cache_get(a, key, p, &touch, NULL);
	if (c < 0)
		return unauth(err);
	if (c == 1) { /* (2: the store confirms it below, as for a miss) */
		if (touch) {
			struct mw_err e2;
			if (mw_store_token_touch(a->store, p->token_id, mw_now_ms(), &e2))
				mw_warn("auth: cannot record a token's use: %s", e2.msg);
		}
		return 0;
	}
	struct mw_arena *ar = mw_arena_new(1024);
	struct mw_token t;
	struct mw_err e2;
	int rc = mw_store_token_get(a->store, hex, ar, &t, &e2);
	int64_t now = mw_now_ms();
	if (rc == -MW_E_NOT_FOUND ||
	    (!rc && (t.revoked_ms || (t.expires_ms && t.expires_ms <= now))))
		rc = unauth(err);
	else if (rc)
		rc = mw_err_set(err, e2.code, "%s", e2.msg);
	else if (!t.hash || CRYPTO_memcmp(t.hash, hex, 64) != 0) /* the index found it; belt */
		rc = unauth(err);
	if (!rc) {
		principal_set(p, t.user_id, t.user, t.role, t.id, t.inference);
		cache_put(a, key, p, t.expires_ms, NULL);
		if (mw_store_token_touch(a->store, t.id, now, &e2))
			mw_warn("auth: cannot record a token's use: %s", e2.msg);
	}
	mw_arena_free(ar);
	return rc;
}

static void basic_key(struct mw_authn *a, const char *user, const char *pw, unsigned char key[32])
{
	struct mw_sha256 *h = mw_sha256_new();
	mw_sha256_update(h, a->pepper, sizeof a->pepper);
	mw_sha256_update(h, user, strlen(user) + 1);
	mw_sha256_update(h, pw, strlen(pw));
	char hex[65];
	mw_sha256_final(h, hex);
	hex_to_key(hex, key);
}

int mw_auth_check_basic(struct mw_authn *a, const char *user, const char *password,
			struct mw_principal *p, struct mw_err *err)
{
	if (!user || !password || !*user)
		return unauth(err);
	unsigned char key[32];
	basic_key(a, user, password, key);
	bool touch = false;
	char stamp[65] = "", now_stamp[65] = "";
	int c = cache_get(a, key, p, &touch, stamp);
	if (c == 1)
		return 0;
	struct mw_arena *ar = mw_arena_new(1024);
	struct mw_user u;
	struct mw_err e2;
	int rc = mw_store_user_get(a->store, user, ar, &u, &e2);
	if (!rc)
		mw_sha256_hex(u.pw_hash, strlen(u.pw_hash), now_stamp);
	if (!rc && c == 2 && CRYPTO_memcmp(stamp, now_stamp, 64) == 0) {
		/* stale entry, same user and password hash: no scrypt again */
		principal_set(p, u.id, u.name, u.role, 0, false);
		cache_put(a, key, p, 0, now_stamp);
	} else if (rc == -MW_E_NOT_FOUND) {
		(void)mw_auth_verify_password(password, a->dummy_hash); /* same time as a user */
		rc = unauth(err);
	} else if (rc) {
		rc = mw_err_set(err, e2.code, "%s", e2.msg);
	} else if (!mw_auth_verify_password(password, u.pw_hash)) {
		rc = unauth(err);
	} else {
		principal_set(p, u.id, u.name, u.role, 0, false);
		cache_put(a, key, p, 0, now_stamp);
	}
	mw_arena_free(ar);
	return rc;
}

/* ------------------------------------------------------------ the limiter */

static size_t addr_hash(const char *s)
{
	size_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The slot of addr (claimed when create), under lmu; NULL when absent. */
static struct limit_slot *limit_slot(struct mw_authn *a, const char *addr, int64_t now, bool create)
{
	size_t h = addr_hash(addr);
	struct limit_slot *victim = NULL;
	for (int i = 0; i < LIMIT_PROBE; i++) {
		struct limit_slot *s = &a->limit[(h + (size_t)i) % LIMIT_SLOTS];
		if (s->addr[0] && !strcmp(s->addr, addr))
			return s;
		bool stale = !s->addr[0] || now - s->start_ms >= MW_AUTH_FAIL_WINDOW_MS;
		bool vstale = victim && (!victim->addr[0] ||
					 now - victim->start_ms >= MW_AUTH_FAIL_WINDOW_MS);
		if (!victim || (stale && !vstale) ||
		    (!stale && !vstale && s->start_ms < victim->start_ms))
			victim = s;
	}
	if (!create)
		return NULL;
	snprintf(victim->addr, sizeof victim->addr, "%s", addr);
	victim->start_ms = now;
	victim->fails = 0;
	return victim;
}

int mw_auth_limited(struct mw_authn *a, const char *addr)
{
	int64_t now = (int64_t)(mw_mono_ns() / 1000000);
	int wait = 0;
	pthread_mutex_lock(&a->lmu);
	struct limit_slot *s = limit_slot(a, addr ? addr : "", now, false);
	if (s && now - s->start_ms < MW_AUTH_FAIL_WINDOW_MS && s->fails > MW_AUTH_FAIL_LIMIT)
		wait = (int)((s->start_ms + MW_AUTH_FAIL_WINDOW_MS - now + 999) / 1000);
	pthread_mutex_unlock(&a->lmu);
	return wait > 0 ? wait : 0;
}

void mw_auth_failed(struct mw_authn *a, const char *addr)
{
	int64_t now = (int64_t)(mw_mono_ns() / 1000000);
	pthread_mutex_lock(&a->lmu);
	struct limit_slot *s = limit_slot(a, addr ? addr : "", now, true);
	if (now - s->start_ms >= MW_AUTH_FAIL_WINDOW_MS) {
		s->start_ms = now;
		s->fails = 0;
	}
	s->fails++;
	pthread_mutex_unlock(&a->lmu);
}

/* ------------------------------------------------------------ users */

int mw_auth_check_name(const char *name, struct mw_err *err)
{
	size_t n = name ? strlen(name) : 0;
	if (!n || n > 255 || !mw_utf8_valid(name, n))
		return mw_err_set(err, MW_E_INVALID,
				  "a user name is 1 to 255 bytes of UTF-8 without ':' or control "
				  "characters");
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == ':')
			return mw_err_set(err, MW_E_INVALID,
					  "a user name is 1 to 255 bytes of UTF-8 without ':' or "
					  "control characters");
	return 0;
}

static int check_password(const char *pw, struct mw_err *err)
{
	size_t n = pw ? strlen(pw) : 0;
	if (n < 8 || n > 1024)
		return mw_err_set(err, MW_E_INVALID, "a password is 8 to 1024 bytes");
	return 0;
}

/* The audit record of a change made by p (NULL: the process itself, e.g.
 * mw auth on the data directory or the first admin at start), and the
 * store bound to it: the change and its record commit together.  Secrets
 * (passwords, token text or hash) never appear in a record. */
struct mw_store *mw_auth_audited(struct mw_authn *a, const struct mw_principal *p,
				struct mw_audit_rec *ar, const char *action, const char *kind,
				const char *resource, struct mw_store_bound *sb)
{
	struct mw_call c = mw_call_system;
	mw_audit_rec_init(ar, &c, action, kind, resource);
	if (p) {
		ar->user = p->user;
		ar->verified = true;
		ar->request_id = p->request_id;
	}
	return mw_store_audit_bind(a->store, ar, sb);
}

static int need_admin(const struct mw_principal *p, struct mw_err *err)
{
	if (p && !p->admin)
		return mw_err_set(err, MW_E_DENIED, "this needs an admin");
	return 0;
}

static int need_self_or_admin(const struct mw_principal *p, const char *name, struct mw_err *err)
{
	if (p && !p->admin && strcmp(p->user, name))
		return mw_err_set(err, MW_E_DENIED, "only an admin or the user itself may do this");
	return 0;
}

void mw_auth_set_default_role(struct mw_authn *a, enum mw_role role)
{
	a->default_role = role;
}

enum mw_role mw_auth_default_role(const struct mw_authn *a)
{
	return a->default_role;
}

int mw_auth_user_create_role(struct mw_authn *a, const struct mw_principal *p, const char *name,
			     const char *password, enum mw_role role, struct mw_err *err)
{
	int rc = need_admin(p, err);
	if (!rc)
		rc = mw_auth_check_name(name, err);
	if (!rc)
		rc = check_password(password, err);
	if (!rc && (unsigned)role >= MW_ROLE__COUNT)
		rc = mw_err_set(err, MW_E_INVALID, "a role is admin, editor or viewer");
	if (rc)
		return rc;
	char *h = NULL;
	if ((rc = mw_auth_hash_password(password, &h, err)))
		return rc;
	struct mw_audit_rec ar;
	struct mw_store_bound sb;
	struct mw_store *st = mw_auth_audited(a, p, &ar, "user.create", "user", name, &sb);
	mw_audit_rec_after(&ar, "{s:s}", "role", mw_role_name(role));
	rc = mw_store_user_create(st, name, h, role, mw_now_ms(), NULL, err);
	mw_audit_rec_release(&ar);
	free(h);
	return rc;
}

int mw_auth_user_create(struct mw_authn *a, const struct mw_principal *p, const char *name,
			const char *password, bool admin, struct mw_err *err)
{
	return mw_auth_user_create_role(a, p, name, password,
					admin ? MW_ROLE_ADMIN : a->default_role, err);
}

int mw_auth_user_get(struct mw_authn *a, const struct mw_principal *p, const char *name,
		     struct mw_arena *ar, struct mw_user *out, struct mw_err *err)
{
	int rc = mw_auth_check_name(name, err);
	if (!rc)
		rc = need_self_or_admin(p, name, err);
	if (!rc)
		rc = mw_store_user_get(a->store, name, ar, out, err);
	return rc;
}

int mw_auth_user_set_password(struct mw_authn *a, const struct mw_principal *p, const char *name,
			      const char *password, struct mw_err *err)
{
	int rc = mw_auth_check_name(name, err);
	if (!rc)
		rc = need_self_or_admin(p, name, err);
	if (!rc)
		rc = check_password(password, err);
	if (rc)
		return rc;
	char *h = NULL;
	if ((rc = mw_auth_hash_password(password, &h, err)))
		return rc;
	struct mw_audit_rec ar;
	struct mw_store_bound sb;
	struct mw_store *st = mw_auth_audited(a, p, &ar, "user.set_password", "user", name, &sb);
	mw_audit_rec_after(&ar, "{s:b}", "password_changed", 1);
	rc = mw_store_user_set_password(st, name, h, err);
	mw_audit_rec_release(&ar);
	free(h);
	cache_clear(a);
	return rc;
}

/* Set name's role, audited as action (the route's word for it). */
static int role_set(struct mw_authn *a, const struct mw_principal *p, const char *name,
		    enum mw_role role, const char *action, struct mw_err *err)
{
	int rc = need_admin(p, err);
	if (!rc)
		rc = mw_auth_check_name(name, err);
	if (!rc && (unsigned)role >= MW_ROLE__COUNT)
		rc = mw_err_set(err, MW_E_INVALID, "a role is admin, editor or viewer");
	if (!rc) {
		struct mw_audit_rec ar;
		struct mw_store_bound sb;
		struct mw_store *st = mw_auth_audited(a, p, &ar, action, "user", name, &sb);
		mw_audit_rec_after(&ar, "{s:s}", "role", mw_role_name(role));
		rc = mw_store_user_set_role(st, name, role, err);
		mw_audit_rec_release(&ar);
	}
	cache_clear(a);
	mw_authz_invalidate(a);
	return rc;
}

int mw_auth_user_set_role(struct mw_authn *a, const struct mw_principal *p, const char *name,
			  enum mw_role role, struct mw_err *err)
{
	return role_set(a, p, name, role, "user.set_role", err);
}

int mw_auth_user_set_admin(struct mw_authn *a, const struct mw_principal *p, const char *name,
			   bool admin, struct mw_err *err)
{
	int rc = need_admin(p, err);
	if (!rc)
		rc = mw_auth_check_name(name, err);
	if (rc)
		return rc;
	struct mw_arena *ar = mw_arena_new(512);
	struct mw_user u;
	rc = mw_store_user_get(a->store, name, ar, &u, err);
	enum mw_role role = admin                     ? MW_ROLE_ADMIN
			    : u.role == MW_ROLE_ADMIN ? a->default_role
						      : u.role;
	mw_arena_free(ar);
	if (!rc)
		rc = role_set(a, p, name, role, "user.set_admin", err);
	return rc;
}

int mw_auth_user_delete(struct mw_authn *a, const struct mw_principal *p, const char *name,
			struct mw_err *err)
{
	int rc = need_admin(p, err);
	if (!rc)
		rc = mw_auth_check_name(name, err);
	if (!rc) {
		struct mw_audit_rec ar;
		struct mw_store_bound sb;
		rc = mw_store_user_delete(mw_auth_audited(a, p, &ar, "user.delete", "user", name, &sb),
					  name, err);
	}
	cache_clear(a);
	mw_authz_invalidate(a);
	return rc;
}

int mw_auth_ensure_admin(struct mw_authn *a, const char *password, bool *created,
			 struct mw_err *err)
{
	*created = false;
	int64_t n = 0;
	int rc = mw_store_user_count(a->store, &n, err);
	if (rc || n > 0)
		return rc;
	rc = mw_auth_user_create(a, NULL, "admin", password, true, err);
	if (!rc)
		*created = true;
	return rc;
}

/* ------------------------------------------------------------ tokens */

int mw_auth_scope_parse(const char *scope, bool *inference, struct mw_err *err)
{
	if (scope && !strcmp(scope, "full"))
		*inference = false;
	else if (scope && !strcmp(scope, "inference"))
		*inference = true;
	else
		return mw_err_set(err, MW_E_INVALID, "a token's scope is 'full' or 'inference'");
	return 0;
}

int mw_auth_token_create(struct mw_authn *a, const struct mw_principal *p, const char *owner,
			 const char *name, int64_t expires_in_s, char text[64],
			 struct mw_token *out, struct mw_err *err)
{
	return mw_auth_token_create_scoped(a, p, owner, name, expires_in_s, false, text, out, err);
}

int mw_auth_token_create_scoped(struct mw_authn *a, const struct mw_principal *p, const char *owner,
				const char *name, int64_t expires_in_s, bool inference,
				char text[64], struct mw_token *out, struct mw_err *err)
{
	if (p && p->inference_only)
		return mw_err_set(err, MW_E_DENIED, "an inference token cannot create tokens");
	if (!name || !*name || strlen(name) > 255 || !mw_utf8_valid(name, strlen(name)))
		return mw_err_set(err, MW_E_INVALID, "a token's name is 1 to 255 bytes of UTF-8");
	if (expires_in_s < 0 || expires_in_s > 100ll * 365 * 86400)
		return mw_err_set(err, MW_E_INVALID,
				  "expires_in_s is 0 (never) or a number of seconds up to 100 "
				  "years");
	int64_t uid;
	bool admin;
	enum mw_role role = MW_ROLE_VIEWER;
	struct mw_arena *ar = mw_arena_new(512);
	struct mw_user u = {0};
	int rc = 0;
	if (p) {
		uid = p->user_id;
		admin = p->admin;
		role = p->role;
	} else {
		rc = mw_store_user_get(a->store, owner ? owner : "", ar, &u, err);
		uid = u.id;
		admin = u.admin;
		role = u.role;
	}
	char hex[65];
	int64_t now = mw_now_ms(), id = 0;
	int64_t exp = expires_in_s ? now + expires_in_s * 1000 : 0;
	if (!rc)
		rc = mw_auth_token_new(text, err);
	if (!rc) {
		mw_auth_token_hash(text, hex);
		struct mw_audit_rec au;
		struct mw_store_bound sb;
		struct mw_store *st = mw_auth_audited(a, p, &au, "token.create", "token", NULL, &sb);
		mw_audit_rec_after(&au, "{s:s, s:I, s:I, s:s}", "name", name, "user_id",
				   (json_int_t)uid, "expires_at", (json_int_t)exp, "scope",
				   inference ? "inference" : "full");
		rc = mw_store_token_create(st, uid, name, hex, now, exp, inference, &id, err);
		mw_audit_rec_release(&au);
	}
	if (!rc && out) {
		memset(out, 0, sizeof *out);
		out->id = id;
		out->user_id = uid;
		out->admin = admin;
		out->role = role;
		out->created_ms = now;
		out->expires_ms = exp;
		out->inference = inference;
	}
	mw_arena_free(ar);
	if (rc)
		OPENSSL_cleanse(text, 64);
	return rc;
}

int mw_auth_token_list(struct mw_authn *a, const struct mw_principal *p, bool all,
		       struct mw_arena *ar, struct mw_token **out, size_t *n, struct mw_err *err)
{
	int64_t uid = !p || (all && p->admin) ? 0 : p->user_id;
	if (all && p && !p->admin)
		return need_admin(p, err);
	return mw_store_token_list(a->store, uid, ar, out, n, err);
}

int mw_auth_token_revoke(struct mw_authn *a, const struct mw_principal *p, int64_t id,
			 struct mw_err *err)
{
	int64_t uid = !p || p->admin ? 0 : p->user_id;
	char rid[24];
	snprintf(rid, sizeof rid, "%lld", (long long)id);
	struct mw_audit_rec ar;
	struct mw_store_bound sb;
	struct mw_store *st = mw_auth_audited(a, p, &ar, "token.revoke", "token", rid, &sb);
	int rc = mw_store_token_revoke(st, id, uid, mw_now_ms(), NULL, err);
	if (!rc)
		cache_evict_token(a, id);
	return rc;
}

json_t *mw_auth_token_json(const struct mw_token *t)
{
	json_t *o = json_pack("{s:I,s:s,s:I}", "id", (json_int_t)t->id, "name",
			      t->name ? t->name : "", "created_at", (json_int_t)t->created_ms);
	json_object_set_new(o, "scope", json_string(t->inference ? "inference" : "full"));
	if (t->user)
		json_object_set_new(o, "user", json_string(t->user));
	if (t->expires_ms)
		json_object_set_new(o, "expires_at", json_integer(t->expires_ms));
	if (t->last_used_ms)
		json_object_set_new(o, "last_used_at", json_integer(t->last_used_ms));
	if (t->revoked_ms)
		json_object_set_new(o, "revoked_at", json_integer(t->revoked_ms));
	return o;
}
