/*
 * test_auth.c - the auth module: scrypt password hashing and verification,
 * token format and hashing, Basic and token checks over a real store, token
 * revocation and expiry, user changes, and the failed-login limiter;
 * authorisation: roles' defaults, permission rows overriding them, who may
 * manage rows, the creator's MANAGE, and the permission cache (invalidated
 * at once by a change here, after its TTL by another process).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "store/store.h"

struct fx {
	char dir[64];
	struct mw_store *s;
	struct mw_authn *a;
};

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/mw-test-auth-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	struct mw_store_opts o = {.data_dir = f->dir, .read_conns = 2, .max_batch = 0};
	struct mw_err err = {0};
	if (mw_store_open(&o, &f->s, &err))
		fail_msg("mw_store_open: %s", err.msg);
	if (mw_auth_new(f->s, &f->a, &err))
		fail_msg("mw_auth_new: %s", err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	mw_auth_free(f->a);
	mw_store_close(f->s);
	nftw(f->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void test_password_hash(void **state)
{
	(void)state;
	char *h = NULL, *h2 = NULL;
	struct mw_err err = {0};
	assert_int_equal(mw_auth_hash_password("correct horse", &h, &err), 0);
	assert_int_equal(strncmp(h, "scrypt$32768$8$1$", 17), 0);
	assert_null(strstr(h, "correct horse"));
	assert_true(mw_auth_verify_password("correct horse", h));
	assert_false(mw_auth_verify_password("correct horsE", h));
	assert_false(mw_auth_verify_password("", h));
	/* a new salt every time */
	assert_int_equal(mw_auth_hash_password("correct horse", &h2, &err), 0);
	assert_string_not_equal(h, h2);
	assert_true(mw_auth_verify_password("correct horse", h2));
	/* malformed or tampered encodings never verify */
	assert_false(mw_auth_verify_password("correct horse", "plain"));
	assert_false(mw_auth_verify_password("correct horse", "scrypt$"));
	assert_false(mw_auth_verify_password("correct horse", "scrypt$33$8$1$AAAA$AAAA"));
	assert_false(mw_auth_verify_password("correct horse", "scrypt$1073741824$8$1$AAAA$AAAA"));
	char bad[512];
	snprintf(bad, sizeof bad, "%s", h);
	bad[strlen(bad) - 3] = bad[strlen(bad) - 3] == 'A' ? 'B' : 'A';
	assert_false(mw_auth_verify_password("correct horse", bad));
	free(h);
	free(h2);
}

static void test_token_format(void **state)
{
	(void)state;
	char t1[64], t2[64], hex[65];
	struct mw_err err = {0};
	assert_int_equal(mw_auth_token_new(t1, &err), 0);
	assert_int_equal(mw_auth_token_new(t2, &err), 0);
	assert_int_equal(strncmp(t1, "mw_", 3), 0);
	assert_int_equal(strlen(t1), 3 + 43); /* 32 bytes, base64url without padding */
	for (const char *p = t1 + 3; *p; p++)
		assert_non_null(
			strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
			       *p));
	assert_string_not_equal(t1, t2);
	mw_auth_token_hash(t1, hex);
	assert_int_equal(strlen(hex), 64);
}

static void test_basic(void **state)
{
	struct fx *f = *state;
	struct mw_err err = {0};
	bool created = false;
	assert_int_equal(mw_auth_ensure_admin(f->a, "admin-password-1", &created, &err), 0);
	assert_true(created);
	assert_int_equal(mw_auth_ensure_admin(f->a, "other-password", &created, &err), 0);
	assert_false(created); /* a user exists: nothing done */
	struct mw_principal p;
	assert_int_equal(mw_auth_check_basic(f->a, "admin", "admin-password-1", &p, &err), 0);
	assert_string_equal(p.user, "admin");
	assert_true(p.admin);
	assert_int_equal(mw_auth_check_basic(f->a, "admin", "admin-password-1", &p, &err),
			 0); /* cached */
	assert_int_equal(mw_auth_check_basic(f->a, "admin", "other-password", &p, &err),
			 -MW_E_UNAUTHENTICATED);
	assert_int_equal(mw_auth_check_basic(f->a, "nobody", "admin-password-1", &p, &err),
			 -MW_E_UNAUTHENTICATED);
	/* users: only an admin creates; a user is not an admin */
	struct mw_principal bob = {0};
	assert_int_equal(mw_auth_user_create(f->a, &p, "bob", "bob-password", false, &err), 0);
	assert_int_equal(mw_auth_user_create(f->a, &p, "bob", "bob-password", false, &err),
			 -MW_E_EXISTS);
	assert_int_equal(mw_auth_user_create(f->a, &p, "eve", "short", false, &err), -MW_E_INVALID);
	assert_int_equal(mw_auth_user_create(f->a, &p, "a:b", "long-enough", false, &err),
			 -MW_E_INVALID);
	assert_int_equal(mw_auth_check_basic(f->a, "bob", "bob-password", &bob, &err), 0);
	assert_false(bob.admin);
	assert_int_equal(mw_auth_user_create(f->a, &bob, "eve", "eve-password", false, &err),
			 -MW_E_DENIED);
	/* a changed password: the cached old one no longer works */
	assert_int_equal(mw_auth_user_set_password(f->a, &bob, "bob", "new-password", &err), 0);
	assert_int_equal(mw_auth_check_basic(f->a, "bob", "bob-password", &bob, &err),
			 -MW_E_UNAUTHENTICATED);
	assert_int_equal(mw_auth_check_basic(f->a, "bob", "new-password", &bob, &err), 0);
	assert_int_equal(mw_auth_user_set_password(f->a, &bob, "admin", "hijacked-pw", &err),
			 -MW_E_DENIED);
	/* deleted: gone at once, even from the cache */
	assert_int_equal(mw_auth_user_delete(f->a, &p, "bob", &err), 0);
	assert_int_equal(mw_auth_check_basic(f->a, "bob", "new-password", &bob, &err),
			 -MW_E_UNAUTHENTICATED);
}

static void test_tokens(void **state)
{
	struct fx *f = *state;
	struct mw_err err = {0};
	bool created = false;
	assert_int_equal(mw_auth_ensure_admin(f->a, "admin-password-1", &created, &err), 0);
	char text[64];
	struct mw_token t;
	assert_int_equal(mw_auth_token_create(f->a, NULL, "admin", "ci", 0, text, &t, &err), 0);
	struct mw_principal p;
	assert_int_equal(mw_auth_check_token(f->a, text, &p, &err), 0);
	assert_string_equal(p.user, "admin");
	assert_int_equal(p.token_id, t.id);
	assert_int_equal(mw_auth_check_token(f->a, text, &p, &err), 0); /* cached */
	/* the store keeps the hash, never the text */
	struct mw_arena *ar = mw_arena_new(4096);
	struct mw_token *all = NULL;
	size_t n = 0;
	assert_int_equal(mw_auth_token_list(f->a, NULL, true, ar, &all, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_not_equal(all[0].hash, text);
	assert_null(strstr(all[0].hash, text + 3));
	/* wrong tokens */
	char wrong[64];
	snprintf(wrong, sizeof wrong, "%s", text);
	wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
	assert_int_equal(mw_auth_check_token(f->a, wrong, &p, &err), -MW_E_UNAUTHENTICATED);
	assert_int_equal(mw_auth_check_token(f->a, "", &p, &err), -MW_E_UNAUTHENTICATED);
	assert_int_equal(mw_auth_check_token(f->a, "mw_", &p, &err), -MW_E_UNAUTHENTICATED);
	/* revoked: refused at once, though it was cached */
	assert_int_equal(mw_auth_token_revoke(f->a, NULL, t.id, &err), 0);
	assert_int_equal(mw_auth_check_token(f->a, text, &p, &err), -MW_E_UNAUTHENTICATED);
	/* another user cannot revoke a token that is not theirs */
	struct mw_principal admin;
	assert_int_equal(mw_auth_check_basic(f->a, "admin", "admin-password-1", &admin, &err), 0);
	assert_int_equal(mw_auth_user_create(f->a, &admin, "bob", "bob-password", false, &err), 0);
	struct mw_principal bob;
	assert_int_equal(mw_auth_check_basic(f->a, "bob", "bob-password", &bob, &err), 0);
	char t2[64];
	struct mw_token tk2;
	assert_int_equal(mw_auth_token_create(f->a, &admin, NULL, "two", 0, t2, &tk2, &err), 0);
	assert_int_equal(mw_auth_token_revoke(f->a, &bob, tk2.id, &err), -MW_E_NOT_FOUND);
	assert_int_equal(mw_auth_check_token(f->a, t2, &p, &err), 0);
	assert_int_equal(mw_auth_token_list(f->a, &bob, true, ar, &all, &n, &err), -MW_E_DENIED);
	assert_int_equal(mw_auth_token_list(f->a, &bob, false, ar, &all, &n, &err), 0);
	assert_int_equal(n, 0);
	/* expiry */
	char t3[64];
	struct mw_token tk3;
	assert_int_equal(mw_auth_token_create(f->a, &bob, NULL, "short", 1, t3, &tk3, &err), 0);
	assert_int_equal(mw_auth_check_token(f->a, t3, &p, &err), 0);
	assert_string_equal(p.user, "bob");
	struct timespec ts = {.tv_sec = 1, .tv_nsec = 100 * 1000 * 1000};
	nanosleep(&ts, NULL);
	assert_int_equal(mw_auth_check_token(f->a, t3, &p, &err), -MW_E_UNAUTHENTICATED);
	assert_int_equal(mw_auth_token_create(f->a, &bob, NULL, "neg", -1, t3, &tk3, &err),
			 -MW_E_INVALID);
	mw_arena_free(ar);
}

/* Changes made by another process (mw auth on the data directory while a
 * server runs) reach a cached credential once the entry is older than the
 * cache's TTL. */
static void test_cache_ttl(void **state)
{
	struct fx *f = *state;
	struct mw_err err = {0};
	bool created = false;
	assert_int_equal(mw_auth_ensure_admin(f->a, "admin-password-1", &created, &err), 0);
	struct mw_authn *other = NULL; /* the other process */
	assert_int_equal(mw_auth_new(f->s, &other, &err), 0);
	mw_auth_set_cache_ttl(f->a, 500);
	char text[64];
	struct mw_token t;
	assert_int_equal(mw_auth_token_create(other, NULL, "admin", "ci", 0, text, &t, &err), 0);
	struct mw_principal p;
	uint64_t cached_at = mw_mono_ns();
	assert_int_equal(mw_auth_check_token(f->a, text, &p, &err), 0);
	assert_int_equal(mw_auth_check_basic(f->a, "admin", "admin-password-1", &p, &err), 0);
	assert_int_equal(mw_auth_token_revoke(other, NULL, t.id, &err), 0);
	assert_int_equal(mw_auth_user_set_admin(other, NULL, "admin", false, &err), 0);
	/* still cached, when the machine was quick enough to ask within the TTL
	 * (a loaded CI machine may take longer than that for the writes above) */
	if (mw_mono_ns() - cached_at < 400u * 1000 * 1000)
		assert_int_equal(mw_auth_check_token(f->a, text, &p, &err), 0);
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 600 * 1000 * 1000};
	nanosleep(&ts, NULL);
	assert_int_equal(mw_auth_check_token(f->a, text, &p, &err), -MW_E_UNAUTHENTICATED);
	assert_int_equal(mw_auth_check_basic(f->a, "admin", "admin-password-1", &p, &err), 0);
	assert_false(p.admin); /* confirmed with the store: the new flag */
	assert_int_equal(mw_auth_user_set_password(other, NULL, "admin", "changed-pw-1", &err), 0);
	nanosleep(&ts, NULL);
	assert_int_equal(mw_auth_check_basic(f->a, "admin", "admin-password-1", &p, &err),
			 -MW_E_UNAUTHENTICATED);
	assert_int_equal(mw_auth_check_basic(f->a, "admin", "changed-pw-1", &p, &err), 0);
	mw_auth_free(other);
}

static void test_limiter(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < MW_AUTH_FAIL_LIMIT; i++) {
		assert_int_equal(mw_auth_limited(f->a, "10.0.0.1"), 0);
		mw_auth_failed(f->a, "10.0.0.1");
	}
	assert_int_equal(mw_auth_limited(f->a, "10.0.0.1"), 0); /* 10 is allowed */
	mw_auth_failed(f->a, "10.0.0.1");
	int wait = mw_auth_limited(f->a, "10.0.0.1");
	assert_true(wait > 0 && wait <= 60);
	assert_int_equal(mw_auth_limited(f->a, "10.0.0.2"), 0); /* per address */
	/* many addresses never grow memory nor evict a limited one at once */
	char addr[48];
	for (int i = 0; i < 20000; i++) {
		snprintf(addr, sizeof addr, "192.168.%d.%d", i / 256, i % 256);
		mw_auth_failed(f->a, addr);
	}
}

/* A principal for a user of the store (no password check: authz only). */
static struct mw_principal as(struct fx *f, const char *name)
{
	struct mw_arena *ar = mw_arena_new(512);
	struct mw_user u;
	struct mw_err err = {0};
	if (mw_store_user_get(f->s, name, ar, &u, &err))
		fail_msg("user %s: %s", name, err.msg);
	struct mw_principal p = {.user_id = u.id, .role = u.role, .admin = u.admin};
	snprintf(p.user, sizeof p.user, "%s", name);
	mw_arena_free(ar);
	return p;
}

static enum mw_perm perm_of(struct fx *f, const struct mw_principal *p, enum mw_perm_kind k,
			    const char *res)
{
	enum mw_perm got = MW_PERM_NONE;
	struct mw_err err = {0};
	assert_int_equal(mw_authz_perm(f->a, p, k, res, &got, &err), 0);
	return got;
}

static void test_authz(void **state)
{
	struct fx *f = *state;
	struct mw_err err = {0};
	mw_auth_set_default_role(f->a, MW_ROLE_VIEWER);
	assert_int_equal(mw_auth_user_create(f->a, NULL, "vic", "vic-password", false, &err), 0);
	assert_int_equal(mw_auth_user_create_role(f->a, NULL, "ed", "ed-password1", MW_ROLE_EDITOR,
						  &err),
			 0);
	assert_int_equal(mw_auth_user_create(f->a, NULL, "root", "root-password", true, &err), 0);
	struct mw_principal vic = as(f, "vic"), ed = as(f, "ed"), root = as(f, "root");
	assert_int_equal(vic.role, MW_ROLE_VIEWER);
	assert_int_equal(root.role, MW_ROLE_ADMIN);
	/* the roles' defaults */
	assert_int_equal(perm_of(f, &vic, MW_PERM_EXPERIMENT, "7"), MW_PERM_READ);
	assert_int_equal(perm_of(f, &ed, MW_PERM_EXPERIMENT, "7"), MW_PERM_EDIT);
	assert_int_equal(perm_of(f, &root, MW_PERM_MODEL, "m"), MW_PERM_MANAGE);
	assert_int_equal(perm_of(f, NULL, MW_PERM_MODEL, "m"), MW_PERM_MANAGE);
	assert_int_equal(mw_authz_check(f->a, &vic, MW_PERM_EXPERIMENT, "7", MW_PERM_EDIT, &err),
			 -MW_E_DENIED);
	/* managing rows needs MANAGE: a viewer and an editor may not; nothing changes */
	assert_int_equal(mw_authz_put(f->a, &vic, MW_PERM_EXPERIMENT, "7", "vic", MW_PERM_MANAGE,
				      MW_PERM_PUT_CREATE, NULL, &err),
			 -MW_E_DENIED);
	assert_int_equal(mw_authz_put(f->a, &ed, MW_PERM_EXPERIMENT, "7", "vic", MW_PERM_EDIT,
				      MW_PERM_PUT_CREATE, NULL, &err),
			 -MW_E_DENIED);
	assert_int_equal(perm_of(f, &vic, MW_PERM_EXPERIMENT, "7"), MW_PERM_READ);
	/* a row overrides the role both ways, at once (the cache is emptied) */
	int64_t uid = 0;
	assert_int_equal(mw_authz_put(f->a, &root, MW_PERM_EXPERIMENT, "7", "ed", MW_PERM_NONE,
				      MW_PERM_PUT_CREATE, &uid, &err),
			 0);
	assert_int_equal(uid, ed.user_id);
	assert_int_equal(perm_of(f, &ed, MW_PERM_EXPERIMENT, "7"), MW_PERM_NONE);
	assert_false(mw_authz_can_read(f->a, &ed, MW_PERM_EXPERIMENT, "7"));
	assert_int_equal(perm_of(f, &ed, MW_PERM_EXPERIMENT, "8"), MW_PERM_EDIT);
	assert_int_equal(mw_authz_put(f->a, &root, MW_PERM_EXPERIMENT, "7", "ed", MW_PERM_EDIT,
				      MW_PERM_PUT_CREATE, NULL, &err),
			 -MW_E_EXISTS);
	assert_int_equal(mw_authz_put(f->a, &root, MW_PERM_EXPERIMENT, "7", "vic", MW_PERM_EDIT,
				      MW_PERM_PUT_UPDATE, NULL, &err),
			 -MW_E_NOT_FOUND);
	assert_int_equal(mw_authz_put(f->a, NULL, MW_PERM_EXPERIMENT, "7", "vic", MW_PERM_MANAGE,
				      MW_PERM_PUT_CREATE, NULL, &err),
			 0);
	assert_int_equal(perm_of(f, &vic, MW_PERM_EXPERIMENT, "7"), MW_PERM_MANAGE);
	/* now vic manages experiment 7: it may grant there, and only there */
	assert_int_equal(mw_authz_put(f->a, &vic, MW_PERM_EXPERIMENT, "7", "ed", MW_PERM_READ,
				      MW_PERM_PUT_UPDATE, NULL, &err),
			 0);
	assert_int_equal(perm_of(f, &ed, MW_PERM_EXPERIMENT, "7"), MW_PERM_READ);
	enum mw_perm got = MW_PERM_NONE;
	assert_int_equal(mw_authz_get(f->a, &vic, MW_PERM_EXPERIMENT, "7", "ed", &got, NULL, &err),
			 0);
	assert_int_equal(got, MW_PERM_READ);
	assert_int_equal(mw_authz_get(f->a, &vic, MW_PERM_EXPERIMENT, "8", "ed", &got, NULL, &err),
			 -MW_E_DENIED);
	assert_int_equal(mw_authz_delete(f->a, &vic, MW_PERM_EXPERIMENT, "7", "ed", &err), 0);
	assert_int_equal(perm_of(f, &ed, MW_PERM_EXPERIMENT, "7"), MW_PERM_EDIT);
	assert_int_equal(mw_authz_put(f->a, &vic, MW_PERM_EXPERIMENT, "7", "nobody", MW_PERM_READ,
				      MW_PERM_PUT_CREATE, NULL, &err),
			 -MW_E_NOT_FOUND);
	/* the creator gets MANAGE on what it created */
	assert_int_equal(mw_authz_grant_creator(f->a, &ed, MW_PERM_MODEL, "m1", &err), 0);
	assert_int_equal(perm_of(f, &ed, MW_PERM_MODEL, "m1"), MW_PERM_MANAGE);
	assert_int_equal(perm_of(f, &vic, MW_PERM_MODEL, "m1"), MW_PERM_READ);
	/* a role change applies at once */
	assert_int_equal(mw_auth_user_set_role(f->a, &vic, "vic", MW_ROLE_ADMIN, &err),
			 -MW_E_DENIED);
	assert_int_equal(mw_auth_user_set_role(f->a, NULL, "vic", MW_ROLE_EDITOR, &err), 0);
	vic = as(f, "vic");
	assert_int_equal(perm_of(f, &vic, MW_PERM_MODEL, "m1"), MW_PERM_EDIT);
	/* update-admin false: an admin becomes the default role */
	assert_int_equal(mw_auth_user_set_admin(f->a, NULL, "root", false, &err), 0);
	assert_int_equal(as(f, "root").role, MW_ROLE_VIEWER);
	/* deleting a user deletes its rows */
	assert_int_equal(mw_auth_user_delete(f->a, NULL, "ed", &err), 0);
	assert_int_equal(mw_store_perm_get(f->s, MW_PERM_MODEL, "m1", ed.user_id, &got, &err),
			 -MW_E_NOT_FOUND);
}

/* Another process's change is seen after the TTL; a check on a cached pair
 * costs no SQL (timed: the figure is printed). */
static void test_authz_cache(void **state)
{
	struct fx *f = *state;
	struct mw_err err = {0};
	assert_int_equal(mw_auth_user_create(f->a, NULL, "vic", "vic-password", false, &err), 0);
	struct mw_principal vic = as(f, "vic");
	struct mw_authn *other = NULL;
	assert_int_equal(mw_auth_new(f->s, &other, &err), 0);
	mw_auth_set_cache_ttl(f->a, 200);
	assert_int_equal(perm_of(f, &vic, MW_PERM_EXPERIMENT, "3"), MW_PERM_READ);
	assert_int_equal(mw_authz_put(other, NULL, MW_PERM_EXPERIMENT, "3", "vic", MW_PERM_NONE,
				      MW_PERM_PUT_CREATE, NULL, &err),
			 0);
	assert_int_equal(perm_of(f, &vic, MW_PERM_EXPERIMENT, "3"), MW_PERM_READ); /* cached */
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 300 * 1000 * 1000};
	nanosleep(&ts, NULL);
	assert_int_equal(perm_of(f, &vic, MW_PERM_EXPERIMENT, "3"), MW_PERM_NONE);
	mw_auth_free(other);
	mw_auth_set_cache_ttl(f->a, 60000);
	const int N = 200000;
	uint64_t t0 = mw_mono_ns();
	for (int i = 0; i < N; i++)
		assert_int_equal(mw_authz_check(f->a, &vic, MW_PERM_EXPERIMENT, "3", MW_PERM_NONE,
						&err),
				 0);
	uint64_t ns = (mw_mono_ns() - t0) / N;
	printf("authz: a cached check costs %llu ns\n", (unsigned long long)ns);
	assert_true(ns < 20000); /* no SQL: a store read costs far more */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password_hash),
		cmocka_unit_test(test_token_format),
		cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_ttl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limiter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authz, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authz_cache, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
