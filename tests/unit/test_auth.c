/*
 * test_auth.c - the auth module: scrypt password hashing and verification,
 * token format and hashing, Basic and token checks over a real store, token
 * revocation and expiry, user changes, and the failed-login limiter.
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
	mw_auth_set_cache_ttl(f->a, 200);
	char text[64];
	struct mw_token t;
	assert_int_equal(mw_auth_token_create(other, NULL, "admin", "ci", 0, text, &t, &err), 0);
	struct mw_principal p;
	assert_int_equal(mw_auth_check_token(f->a, text, &p, &err), 0);
	assert_int_equal(mw_auth_check_basic(f->a, "admin", "admin-password-1", &p, &err), 0);
	assert_int_equal(mw_auth_token_revoke(other, NULL, t.id, &err), 0);
	assert_int_equal(mw_auth_user_set_admin(other, NULL, "admin", false, &err), 0);
	assert_int_equal(mw_auth_check_token(f->a, text, &p, &err), 0); /* still cached */
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 300 * 1000 * 1000};
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password_hash),
		cmocka_unit_test(test_token_format),
		cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_ttl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limiter, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
