/*
 * test_registry.c - unit tests for the registry domain of the store
 * (store/registry.h, SQLite backend in store/sqlite_registry.c), on its
 * records, with the rules that moved up into registry/ (stage names, the
 * prompts a search hides) checked through the registry's operations.
 *
 * Every test opens a fresh store in its own mkdtemp() directory.  Artifacts
 * are put into the manifest directly (mw_store_art_put with made-up digests:
 * the store never looks at blobs), so pinning is tested without the blob
 * store or the artifact proxy.  Covered: registered-model CRUD, tags,
 * versions numbered max + 1 and never reused, pinning (directory, single
 * file, nothing found, not pinnable), manifest_digest = SHA-256 over
 * "path\tdigest\n" lines and its stability when the source changes and
 * across a reopen, soft deletion, aliases with their audit trail and the
 * rollback stack (including the concurrent-move guard), stage transitions
 * with archive_existing, latest versions per stage, search with hand-built
 * filters (prompt hiding, run_id IN, tags, paging), model cards and
 * concurrent version creates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry/registry.h"
#include "store/artifacts.h"
#include "store/registry.h"
#include "store/store.h"

/* The arena of the current test's records (made by setup, freed by teardown). */
static struct mw_arena *A;

struct fx {
	char dir[64];
	struct mw_store *s;
};

static struct mw_store *open_store(const char *dir)
{
	struct mw_store_opts o = {.data_dir = dir, .read_conns = 4, .sync_full = false};
	struct mw_store *s = NULL;
	struct mw_err err = {0};
	if (mw_store_open(&o, &s, &err) != 0)
		fail_msg("mw_store_open(%s): %s", dir, err.msg);
	return s;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/mw-test-registry-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	f->s = open_store(f->dir);
	A = mw_arena_new(65536);
	*state = f;
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	mw_store_close(f->s);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	mw_arena_free(A);
	A = NULL;
	return 0;
}

#define OK(call)                                                                  \
	do {                                                                      \
		struct mw_err err_ = {0};                                         \
		struct mw_err *E = &err_;                                         \
		(void)E;                                                          \
		int rc_ = (call);                                                 \
		if (rc_ != 0)                                                     \
			fail_msg("%s: rc %d: %s", #call, rc_, err_.msg);          \
	} while (0)

#define FAILS(want_, call)                                                        \
	do {                                                                      \
		struct mw_err err_ = {0};                                         \
		struct mw_err *E = &err_;                                         \
		(void)E;                                                          \
		int rc_ = (call);                                                 \
		if (rc_ != -(want_))                                              \
			fail_msg("%s: expected %d, got rc %d: %s", #call, -(want_), rc_, \
				 err_.msg);                                       \
		if (err_.code != (want_) || !err_.msg[0])                         \
			fail_msg("%s: err not filled (code %d)", #call, err_.code); \
	} while (0)

static const char *js(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static struct mw_audit audit(const char *who, const char *reason)
{
	struct mw_audit a = {.who = who, .reason = reason, .now_ms = mw_now_ms()};
	return a;
}

static void digest_of(const char *s, char out[65])
{
	mw_sha256_hex(s, strlen(s), out);
}

/* Put path -> sha256(content) into the manifest. */
static void put(struct mw_store *s, const char *path, const char *content)
{
	char d[65];
	digest_of(content, d);
	OK(mw_store_art_put(s, path, d, strlen(content), mw_now_ms(), NULL, E));
}

/* SHA-256 over "rel\tdigest\n" lines of (rel, content) pairs given in path order. */
static void manifest_of(const char *const *rel, const char *const *content, size_t n,
			char out[65])
{
	struct mw_sha256 *h = mw_sha256_new();
	for (size_t i = 0; i < n; i++) {
		char d[65];
		digest_of(content[i], d);
		mw_sha256_update(h, rel[i], strlen(rel[i]));
		mw_sha256_update(h, "\t", 1);
		mw_sha256_update(h, d, 64);
		mw_sha256_update(h, "\n", 1);
	}
	mw_sha256_final(h, out);
}

#define NOT_PINNED "the source is outside mw's artifact store"
#define NO_FILES "no artifacts were found at the source when the version was created"

/* A version as the registry creates one: stage None, status READY, pinned
 * under _registry, with its status messages. */
static struct mw_mv_create version_of(const char *name, const char *pin, const char *run_id)
{
	struct mw_mv_create c = {.name = name,
				 .source = pin ? pin : "s3://x",
				 .run_id = run_id,
				 .user_id = "u",
				 .pin_prefix = pin,
				 .pin_root = "_registry",
				 .stage = "None",
				 .status = "READY",
				 .status_message = pin ? NULL : NOT_PINNED,
				 .status_message_no_files = NO_FILES,
				 .now_ms = mw_now_ms()};
	return c;
}

static struct mw_model_version create_version(struct mw_store *s, const char *name, const char *pin,
					      const char *run_id)
{
	struct mw_mv_create c = version_of(name, pin, run_id);
	struct mw_model_version mv;
	OK(mw_store_mv_create(s, &c, A, &mv, E));
	return mv;
}

static void create_model(struct mw_store *s, const char *name)
{
	struct mw_registered_model rm;
	OK(mw_store_rm_create(s, name, NULL, NULL, 0, "u", mw_now_ms(), A, &rm, E));
}

static struct mw_model_version get_version(struct mw_store *s, const char *name, int64_t v)
{
	struct mw_model_version mv;
	OK(mw_store_mv_get(s, name, v, A, &mv, E));
	return mv;
}

/* The pinned files under a prefix, as the artifact domain lists them. */
struct tree {
	struct mw_art_file *f;
	size_t n;
};

static struct tree tree_of(struct mw_store *s, const char *prefix)
{
	struct tree t = {0};
	OK(mw_store_art_tree(s, prefix, A, &t.f, &t.n, E));
	return t;
}

/* The failure of call is about what. */
#define FAILS_ON(want_, what_, call)                                                            \
	do {                                                                                    \
		struct mw_err err_ = {0};                                                       \
		struct mw_err *E = &err_;                                                       \
		(void)E;                                                                        \
		int rc_ = (call);                                                               \
		if (rc_ != -(want_) || err_.code != (want_) || err_.detail != (what_))          \
			fail_msg("%s: expected %d (detail %d), got rc %d detail %d: %s", #call, \
				 -(want_), (int)(what_), rc_, err_.detail, err_.msg);           \
	} while (0)

/* ------------------------------------------------------------ registered models */

static void test_rm_crud(void **state)
{
	struct fx *f = *state;
	struct mw_kv tags[] = {{"team", "risk"}, {"tier", "1"}};
	struct mw_registered_model rm;
	OK(mw_store_rm_create(f->s, "fraud", "desc", tags, 2, "alice", 1000, A, &rm, E));
	assert_string_equal(rm.name, "fraud");
	assert_string_equal(rm.description, "desc");
	assert_string_equal(rm.user_id, "alice");
	assert_int_equal(rm.creation_timestamp, 1000);
	assert_int_equal(rm.ntags, 2);
	assert_int_equal(rm.nlatest, 0);
	FAILS_ON(MW_E_EXISTS, MW_STORE_MODEL,
		 mw_store_rm_create(f->s, "fraud", NULL, NULL, 0, NULL, 1, A, &rm, E));

	OK(mw_store_rm_update(f->s, "fraud", "new", 2000, A, &rm, E));
	assert_string_equal(rm.description, "new");
	assert_int_equal(rm.last_updated_timestamp, 2000);

	create_model(f->s, "other");
	FAILS_ON(MW_E_EXISTS, MW_STORE_MODEL,
		 mw_store_rm_rename(f->s, "fraud", "other", 3000, A, &rm, E));
	OK(mw_store_rm_rename(f->s, "fraud", "fraud2", 3000, A, &rm, E));
	assert_string_equal(rm.name, "fraud2");
	FAILS_ON(MW_E_NOT_FOUND, MW_STORE_MODEL, mw_store_rm_get(f->s, "fraud", A, &rm, E));

	OK(mw_store_rm_set_tag(f->s, "fraud2", "team", "growth", E));
	OK(mw_store_rm_delete_tag(f->s, "fraud2", "tier", E));
	OK(mw_store_rm_delete_tag(f->s, "fraud2", "tier", E)); /* idempotent */
	OK(mw_store_rm_get(f->s, "fraud2", A, &rm, E));
	assert_int_equal(rm.ntags, 1);
	assert_string_equal(rm.tags[0].value, "growth");
	FAILS_ON(MW_E_NOT_FOUND, MW_STORE_MODEL, mw_store_rm_set_tag(f->s, "nope", "k", "v", E));

	OK(mw_store_rm_delete(f->s, "fraud2", 4000, E));
	FAILS(MW_E_NOT_FOUND, mw_store_rm_get(f->s, "fraud2", A, &rm, E));
	FAILS(MW_E_NOT_FOUND, mw_store_rm_delete(f->s, "fraud2", 4000, E));
}

/* ------------------------------------------------------------ pinning */

static void test_pinning_and_manifest_digest(void **state)
{
	struct fx *f = *state;
	create_model(f->s, "m");
	put(f->s, "0/run1/artifacts/model/MLmodel", "flavors");
	put(f->s, "0/run1/artifacts/model/model.pkl", "weights-v1");
	put(f->s, "0/run1/artifacts/model/sub/env.yaml", "env");
	put(f->s, "0/run1/artifacts/modelx/other", "not under model/");
	put(f->s, "0/run1/artifacts/model0", "a sibling file");

	struct mw_model_version mv = create_version(f->s, "m", "0/run1/artifacts/model", "run1");
	assert_int_equal(mv.version, 1);
	assert_string_equal(mv.status, "READY");
	assert_string_equal(mv.current_stage, "None");
	assert_null(mv.status_message);
	const char *rel[] = {"MLmodel", "model.pkl", "sub/env.yaml"};
	const char *content[] = {"flavors", "weights-v1", "env"};
	char want[65];
	manifest_of(rel, content, 3, want);
	assert_string_equal(mv.manifest_digest, want);
	char loc[128];
	snprintf(loc, sizeof loc, "%s", mv.files);
	assert_true(!strncmp(loc, "_registry/", 10));

	struct tree tree = tree_of(f->s, loc);
	assert_int_equal(tree.n, 3);
	assert_string_equal(tree.f[1].path, "model.pkl");

	/* the source changes: the version does not */
	put(f->s, "0/run1/artifacts/model/model.pkl", "weights-v2");
	int removed = 0;
	OK(mw_store_art_delete(f->s, "0/run1/artifacts/model/MLmodel", mw_now_ms(), &removed, E));
	mv = get_version(f->s, "m", 1);
	assert_string_equal(mv.manifest_digest, want);
	tree = tree_of(f->s, loc);
	assert_int_equal(tree.n, 3);
	char d1[65];
	digest_of("weights-v1", d1);
	assert_string_equal(tree.f[1].digest, d1);

	/* a second version pins the new state, with another digest */
	mv = create_version(f->s, "m", "0/run1/artifacts/model", "run1");
	assert_int_equal(mv.version, 2);
	const char *rel2[] = {"model.pkl", "sub/env.yaml"};
	const char *content2[] = {"weights-v2", "env"};
	char want2[65];
	manifest_of(rel2, content2, 2, want2);
	assert_string_equal(mv.manifest_digest, want2);
	assert_string_not_equal(want, want2);

	/* the digest survives a reopen */
	mw_store_close(f->s);
	f->s = open_store(f->dir);
	mv = get_version(f->s, "m", 1);
	assert_string_equal(mv.manifest_digest, want);
	assert_string_equal(mv.files, loc);
}

static void test_pin_single_file_empty_and_unpinned(void **state)
{
	struct fx *f = *state;
	create_model(f->s, "m");
	put(f->s, "0/r/artifacts/model.onnx", "onnx-bytes");
	struct mw_model_version mv = create_version(f->s, "m", "0/r/artifacts/model.onnx", NULL);
	const char *rel[] = {"model.onnx"};
	const char *content[] = {"onnx-bytes"};
	char want[65];
	manifest_of(rel, content, 1, want);
	assert_string_equal(mv.manifest_digest, want);
	struct tree tree = tree_of(f->s, mv.files);
	assert_int_equal(tree.n, 1);
	assert_string_equal(tree.f[0].path, "model.onnx");

	mv = create_version(f->s, "m", "0/r/artifacts/nothing-here", NULL);
	assert_string_equal(mv.status, "READY");
	assert_string_equal(mv.status_message, NO_FILES);
	char empty[65];
	mw_sha256_hex("", 0, empty);
	assert_string_equal(mv.manifest_digest, empty);

	mv = create_version(f->s, "m", NULL, NULL);
	assert_null(mv.files);
	assert_null(mv.manifest_digest);
	assert_non_null(mv.status_message);

	struct mw_mv_create c = version_of("m", "", NULL);
	FAILS(MW_E_INVALID, mw_store_mv_create(f->s, &c, A, &mv, E));
	c.name = "nope";
	c.pin_prefix = NULL;
	FAILS_ON(MW_E_NOT_FOUND, MW_STORE_MODEL, mw_store_mv_create(f->s, &c, A, &mv, E));
}

static void test_version_from_version(void **state)
{
	struct fx *f = *state;
	create_model(f->s, "a");
	create_model(f->s, "b");
	put(f->s, "p/f1", "one");
	put(f->s, "p/f2", "two");
	struct mw_model_version v1 = create_version(f->s, "a", "p", NULL);
	/* pinning from a pinned prefix (models:/a/1) copies the same manifest */
	struct mw_model_version v2 = create_version(f->s, "b", v1.files, NULL);
	assert_string_equal(v1.manifest_digest, v2.manifest_digest);
	assert_string_not_equal(v1.files, v2.files);
}

/* ------------------------------------------------------------ delete */

static void test_version_delete(void **state)
{
	struct fx *f = *state;
	create_model(f->s, "m");
	put(f->s, "src/f", "x");
	create_version(f->s, "m", "src", NULL);
	struct mw_model_version v2 = create_version(f->s, "m", "src", NULL);
	char pinned[128];
	snprintf(pinned, sizeof pinned, "%s", v2.files);
	struct mw_audit a = audit("alice", NULL);
	OK(mw_store_rm_set_alias(f->s, "m", "prod", 2, false, &a, E));
	OK(mw_store_mv_set_card(f->s, "m", 2, "{\"owner\":\"x\"}", "alice", 1, E));
	OK(mw_store_mv_delete(f->s, "m", 2, &a, "version 2 was deleted", E));
	struct mw_model_version o;
	struct mw_model_card card;
	FAILS_ON(MW_E_NOT_FOUND, MW_STORE_VERSION, mw_store_mv_get(f->s, "m", 2, A, &o, E));
	FAILS_ON(MW_E_NOT_FOUND, MW_STORE_VERSION, mw_store_mv_delete(f->s, "m", 2, &a, "x", E));
	FAILS_ON(MW_E_NOT_FOUND, MW_STORE_ALIAS,
		 mw_store_rm_get_by_alias(f->s, "m", "prod", A, &o, E));
	FAILS(MW_E_NOT_FOUND, mw_store_mv_get_card(f->s, "m", 2, A, &card, E));
	FAILS(MW_E_NOT_FOUND, mw_store_rm_set_alias(f->s, "m", "prod", 2, false, &a, E));
	assert_int_equal(tree_of(f->s, pinned).n, 0);
	/* the number is not reused */
	struct mw_model_version v3 = create_version(f->s, "m", "src", NULL);
	assert_int_equal(v3.version, 3);
	struct mw_promotion_event *ev = NULL;
	size_t n = 0;
	OK(mw_store_rm_history(f->s, "m", A, &ev, &n, E));
	assert_int_equal(n, 3);
	assert_string_equal(ev[1].kind, "alias_deleted");
	assert_string_equal(ev[1].reason, "version 2 was deleted");
	assert_string_equal(ev[2].kind, "version_deleted");
	assert_string_equal(ev[2].target, "2");
}

/* ------------------------------------------------------------ aliases */

static void test_aliases_history_and_rollback(void **state)
{
	struct fx *f = *state;
	create_model(f->s, "m");
	for (int i = 0; i < 4; i++)
		create_version(f->s, "m", NULL, NULL);
	struct mw_audit a = audit("alice", "ship it");
	a.evidence = "{\"auc\":0.9}";
	OK(mw_store_rm_set_alias(f->s, "m", "champion", 1, false, &a, E));
	struct mw_audit b = audit("bob", NULL);
	OK(mw_store_rm_set_alias(f->s, "m", "champion", 2, false, &b, E));
	OK(mw_store_rm_set_alias(f->s, "m", "champion", 3, false, &b, E));
	OK(mw_store_rm_set_alias(f->s, "m", "champion", 3, false, &b, E)); /* no-op */
	struct mw_model_version mv;
	OK(mw_store_rm_get_by_alias(f->s, "m", "champion", A, &mv, E));
	assert_int_equal(mv.version, 3);
	assert_int_equal(mv.naliases, 1);
	assert_string_equal(mv.aliases[0], "champion");

	struct mw_alias_state st;
	OK(mw_store_rm_alias_state(f->s, "m", "champion", &st, E));
	assert_int_equal(st.current, 3);
	assert_int_equal(st.previous, 2);
	/* a rollback to anything but the previous version is refused (it moved) */
	FAILS_ON(MW_E_CONFLICT, MW_STORE_ALIAS,
		 mw_store_rm_set_alias(f->s, "m", "champion", 1, true, &b, E));
	OK(mw_store_rm_set_alias(f->s, "m", "champion", 2, true, &b, E));
	OK(mw_store_rm_alias_state(f->s, "m", "champion", &st, E));
	assert_int_equal(st.previous, 1);
	OK(mw_store_rm_set_alias(f->s, "m", "champion", 1, true, &b, E));
	/* nowhere further back; and an alias never set has no history at all */
	OK(mw_store_rm_alias_state(f->s, "m", "champion", &st, E));
	assert_int_equal(st.previous, 0);
	assert_int_equal(st.current, 1);
	assert_true(st.events > 0);
	OK(mw_store_rm_alias_state(f->s, "m", "never", &st, E));
	assert_int_equal(st.previous, 0);
	assert_int_equal(st.current, 0);
	assert_int_equal(st.events, 0);
	/* moving forward again and back */
	OK(mw_store_rm_set_alias(f->s, "m", "champion", 4, false, &b, E));
	OK(mw_store_rm_alias_state(f->s, "m", "champion", &st, E));
	assert_int_equal(st.previous, 1);

	/* deleting is audited and idempotent; rollback of a deleted alias restores it */
	OK(mw_store_rm_delete_alias(f->s, "m", "champion", &b, E));
	OK(mw_store_rm_delete_alias(f->s, "m", "champion", &b, E));
	FAILS(MW_E_NOT_FOUND, mw_store_rm_get_by_alias(f->s, "m", "champion", A, &mv, E));
	OK(mw_store_rm_alias_state(f->s, "m", "champion", &st, E));
	assert_int_equal(st.current, 0);
	assert_int_equal(st.previous, 4);

	struct mw_promotion_event *h = NULL;
	size_t n = 0;
	OK(mw_store_rm_history(f->s, "m", A, &h, &n, E));
	assert_int_equal(n, 7);
	assert_string_equal(h[0].kind, "alias_set");
	assert_string_equal(h[0].who, "alice");
	assert_string_equal(h[0].reason, "ship it");
	assert_int_equal(h[0].from_version, 0);
	assert_int_equal(h[0].to_version, 1);
	json_t *ev = json_loads(h[0].evidence, 0, NULL);
	assert_true(json_real_value(json_object_get(ev, "auc")) == 0.9);
	json_decref(ev);
	assert_string_equal(h[3].kind, "rollback");
	assert_int_equal(h[3].from_version, 3);
	assert_int_equal(h[3].to_version, 2);
	assert_string_equal(h[6].kind, "alias_deleted");
	assert_int_equal(h[6].to_version, 0);

	FAILS_ON(MW_E_NOT_FOUND, MW_STORE_VERSION,
		 mw_store_rm_set_alias(f->s, "m", "x", 99, false, &b, E));
	FAILS_ON(MW_E_NOT_FOUND, MW_STORE_MODEL,
		 mw_store_rm_set_alias(f->s, "nope", "x", 1, false, &b, E));
	FAILS(MW_E_NOT_FOUND, mw_store_rm_history(f->s, "nope", A, &h, &n, E));
}

/* A move reads, decides, writes, audits and reads back in one job: its
 * answer is its event, and a rollback finds the previous version itself. */
static void test_move_alias(void **state)
{
	struct fx *f = *state;
	create_model(f->s, "m");
	for (int i = 0; i < 4; i++)
		create_version(f->s, "m", NULL, NULL);
	struct mw_audit a = audit("ops", "ship");
	struct mw_alias_move m;
	OK(mw_store_rm_move_alias(f->s, "m", "champion", 1, false, &a, A, &m, E));
	assert_int_equal(m.from_version, 0);
	assert_int_equal(m.to_version, 1);
	assert_true(m.changed);
	assert_int_equal(m.version.version, 1);
	assert_string_equal(m.version.name, "m");
	OK(mw_store_rm_move_alias(f->s, "m", "champion", 3, false, &a, A, &m, E));
	assert_int_equal(m.from_version, 1);
	assert_int_equal(m.version.version, 3);
	assert_int_equal(m.version.naliases, 1);
	/* the same again: nothing changes, nothing is recorded */
	OK(mw_store_rm_move_alias(f->s, "m", "champion", 3, false, &a, A, &m, E));
	assert_false(m.changed);
	assert_int_equal(m.from_version, 3);
	assert_int_equal(m.to_version, 3);
	/* a rollback to 0: the previous version, found inside the job */
	OK(mw_store_rm_move_alias(f->s, "m", "champion", 0, true, &a, A, &m, E));
	assert_int_equal(m.from_version, 3);
	assert_int_equal(m.to_version, 1);
	assert_int_equal(m.version.version, 1);
	assert_int_equal(m.state.current, 3);
	assert_int_equal(m.state.previous, 1);
	/* nowhere further back: INVALID, and the state says why */
	FAILS_ON(MW_E_INVALID, MW_STORE_ALIAS,
		 mw_store_rm_move_alias(f->s, "m", "champion", 0, true, &a, A, &m, E));
	assert_int_equal(m.state.current, 1);
	assert_int_equal(m.state.previous, 0);
	assert_true(m.state.events > 0);
	/* never set: NOT_FOUND with no events */
	FAILS_ON(MW_E_NOT_FOUND, MW_STORE_ALIAS,
		 mw_store_rm_move_alias(f->s, "m", "never", 0, true, &a, A, &m, E));
	assert_int_equal(m.state.events, 0);
	/* a guarded rollback to a version that is not the previous one */
	OK(mw_store_rm_move_alias(f->s, "m", "champion", 4, false, &a, A, &m, E));
	FAILS_ON(MW_E_CONFLICT, MW_STORE_ALIAS,
		 mw_store_rm_move_alias(f->s, "m", "champion", 3, true, &a, A, &m, E));
	OK(mw_store_rm_move_alias(f->s, "m", "champion", 1, true, &a, A, &m, E));
	assert_int_equal(m.from_version, 4);
	FAILS_ON(MW_E_NOT_FOUND, MW_STORE_VERSION,
		 mw_store_rm_move_alias(f->s, "m", "champion", 99, false, &a, A, &m, E));
	FAILS_ON(MW_E_NOT_FOUND, MW_STORE_MODEL,
		 mw_store_rm_move_alias(f->s, "nope", "champion", 0, true, &a, A, &m, E));
	/* every answer above is an event: sets 1, 3, 4 and rollbacks 3->1, 4->1 */
	struct mw_promotion_event *h = NULL;
	size_t n = 0;
	OK(mw_store_rm_history(f->s, "m", A, &h, &n, E));
	assert_int_equal(n, 5);
	assert_string_equal(h[2].kind, "rollback");
	assert_int_equal(h[2].from_version, 3);
	assert_int_equal(h[2].to_version, 1);
	assert_string_equal(h[4].kind, "rollback");
	assert_int_equal(h[4].from_version, 4);
	assert_int_equal(h[4].to_version, 1);
}

/* ------------------------------------------------------------ stages */

static void test_transitions_and_latest(void **state)
{
	struct fx *f = *state;
	create_model(f->s, "m");
	for (int i = 0; i < 4; i++)
		create_version(f->s, "m", NULL, NULL);
	struct mw_audit a = audit("ops", NULL);
	struct mw_model_version mv;
	OK(mw_store_mv_transition(f->s, "m", 1, "Production", NULL, NULL, &a, A, &mv, E));
	assert_string_equal(mv.current_stage, "Production");
	OK(mw_store_mv_transition(f->s, "m", 2, "Production", NULL, NULL, &a, A, &mv, E));
	OK(mw_store_mv_transition(f->s, "m", 3, "Production", "Archived",
				  "archive_existing_versions: version 3 moved to Production", &a, A,
				  &mv, E));
	const char *want[] = {"Archived", "Archived", "Production", "None"};
	for (int v = 1; v <= 4; v++) {
		mv = get_version(f->s, "m", v);
		assert_string_equal(mv.current_stage, want[v - 1]);
	}
	FAILS_ON(MW_E_NOT_FOUND, MW_STORE_VERSION,
		 mw_store_mv_transition(f->s, "m", 9, "Staging", NULL, NULL, &a, A, &mv, E));

	/* stage names are the registry's: any case, and nothing else */
	struct mw_registry *reg = NULL;
	OK(mw_registry_new(f->s, NULL, &reg, E));
	json_t *req = json_pack("{s:s,s:s,s:s}", "name", "m", "version", "4", "stage", "Prod");
	json_t *resp = NULL;
	FAILS(MW_E_INVALID, mw_registry_stage(reg, &mw_call_system, req, &resp, E));
	json_object_set_new(req, "stage", json_string("staging"));
	OK(mw_registry_stage(reg, &mw_call_system, req, &resp, E));
	assert_string_equal(js(json_object_get(resp, "model_version"), "current_stage"), "Staging");
	json_decref(resp);
	json_object_set_new(req, "stage", json_string("none"));
	OK(mw_registry_stage(reg, &mw_call_system, req, &resp, E));
	json_decref(resp);
	json_decref(req);
	mw_registry_free(reg);

	struct mw_model_version *lv = NULL;
	size_t n = 0;
	OK(mw_store_rm_latest_versions(f->s, "m", NULL, 0, A, &lv, &n, E));
	assert_int_equal(n, 3); /* Archived 2, Production 3, None 4 */
	assert_int_equal(lv[0].version, 2);
	const char *st[] = {"Production"};
	OK(mw_store_rm_latest_versions(f->s, "m", st, 1, A, &lv, &n, E));
	assert_int_equal(n, 1);
	assert_int_equal(lv[0].version, 3);

	struct mw_promotion_event *h = NULL;
	OK(mw_store_rm_history(f->s, "m", A, &h, &n, E));
	/* 1, 2 -> Production; 1, 2 archived by 3; 3 -> Production; 4 -> Staging -> None */
	assert_int_equal(n, 7);
	assert_string_equal(h[2].to_stage, "Archived");
	assert_non_null(strstr(h[2].reason, "archive_existing_versions"));
}

/* ------------------------------------------------------------ search */

static const struct mw_hide_tag prompts = {"mlflow.prompt.is_prompt", "true"};

static void test_search(void **state)
{
	struct fx *f = *state;
	const char *names[] = {"alpha", "beta", "gamma", "prompt1"};
	for (int i = 0; i < 4; i++)
		create_model(f->s, names[i]);
	OK(mw_store_rm_set_tag(f->s, "prompt1", "mlflow.prompt.is_prompt", "TRUE", E));
	OK(mw_store_rm_set_tag(f->s, "beta", "team", "risk", E));
	struct mw_page p = {.max_results = 2, .offset = 0};
	struct mw_registered_model *rm = NULL;
	size_t n = 0;
	bool more = false;
	OK(mw_store_rm_search(f->s, NULL, NULL, 0, &prompts, &p, A, &rm, &n, &more, E));
	assert_int_equal(n, 2);
	assert_true(more);
	assert_string_equal(rm[0].name, "alpha");
	p.offset = 2;
	OK(mw_store_rm_search(f->s, NULL, NULL, 0, &prompts, &p, A, &rm, &n, &more, E));
	assert_int_equal(n, 1);
	assert_false(more); /* the prompt is hidden */
	OK(mw_store_rm_search(f->s, NULL, NULL, 0, NULL, &p, A, &rm, &n, &more, E));
	assert_int_equal(n, 2); /* nothing hidden */

	struct mw_clause c = {.kind = MW_KEY_TAG,
			      .key = "mlflow.prompt.is_prompt",
			      .cmp = MW_CMP_EQ,
			      .str = "TRUE"};
	struct mw_filter fl = {&c, 1};
	p.offset = 0;
	p.max_results = 10;
	OK(mw_store_rm_search(f->s, &fl, NULL, 0, NULL, &p, A, &rm, &n, &more, E));
	assert_int_equal(n, 1);
	assert_string_equal(rm[0].name, "prompt1");

	struct mw_clause c2 = {.kind = MW_KEY_ATTR, .key = "name", .cmp = MW_CMP_LIKE, .str = "%a"};
	struct mw_order o = {.kind = MW_KEY_ATTR, .key = "name", .asc = false};
	fl.c = &c2;
	OK(mw_store_rm_search(f->s, &fl, &o, 1, &prompts, &p, A, &rm, &n, &more, E));
	assert_int_equal(n, 3);
	assert_string_equal(rm[0].name, "gamma");

	/* the rule itself is the registry's: hidden unless the filter asks for them */
	struct mw_registry *reg = NULL;
	OK(mw_registry_new(f->s, NULL, &reg, E));
	json_t *req = json_object(), *resp = NULL;
	OK(mw_registry_rm_search(reg, &mw_call_system, req, &resp, E));
	assert_int_equal(json_array_size(json_object_get(resp, "registered_models")), 3);
	json_decref(resp);
	json_object_set_new(req, "filter",
			    json_string(
				    "tags.`mlflow.prompt.is_prompt` = 'TRUE' AND name = 'prompt1'"));
	OK(mw_registry_rm_search(reg, &mw_call_system, req, &resp, E));
	assert_int_equal(json_array_size(json_object_get(resp, "registered_models")), 1);
	json_decref(resp);
	json_decref(req);
	mw_registry_free(reg);

	/* versions: run_id IN, tags, name */
	create_version(f->s, "alpha", NULL, "r1");
	create_version(f->s, "alpha", NULL, "r2");
	create_version(f->s, "beta", NULL, "r1");
	OK(mw_store_mv_set_tag(f->s, "beta", 1, "qa", "ok", E));
	const char *ids[] = {"r1", "r9"};
	struct mw_clause c3 = {.kind = MW_KEY_ATTR, .key = "run_id", .cmp = MW_CMP_IN, .list = ids,
			       .nlist = 2};
	fl.c = &c3;
	struct mw_order vo = {.kind = MW_KEY_ATTR, .key = "name", .asc = true};
	struct mw_model_version *mv = NULL;
	OK(mw_store_mv_search(f->s, &fl, &vo, 1, &prompts, &p, A, &mv, &n, &more, E));
	assert_int_equal(n, 2);
	assert_string_equal(mv[0].name, "alpha");
	assert_string_equal(mv[1].name, "beta");
	struct mw_clause c4 = {.kind = MW_KEY_TAG, .key = "qa", .cmp = MW_CMP_EQ, .str = "ok"};
	fl.c = &c4;
	OK(mw_store_mv_search(f->s, &fl, NULL, 0, &prompts, &p, A, &mv, &n, &more, E));
	assert_int_equal(n, 1);
	struct mw_clause c5 = {.kind = MW_KEY_ATTR, .key = "version_number", .cmp = MW_CMP_GE,
			       .is_num = true, .num = 2, .inum = 2};
	fl.c = &c5;
	OK(mw_store_mv_search(f->s, &fl, NULL, 0, &prompts, &p, A, &mv, &n, &more, E));
	assert_int_equal(n, 1);
	assert_int_equal(mv[0].version, 2);
}

/* ------------------------------------------------------------ cards */

static void test_cards(void **state)
{
	struct fx *f = *state;
	create_model(f->s, "m");
	create_version(f->s, "m", NULL, NULL);
	struct mw_model_card c;
	FAILS_ON(MW_E_NOT_FOUND, MW_STORE_CARD, mw_store_mv_get_card(f->s, "m", 1, A, &c, E));
	FAILS_ON(MW_E_NOT_FOUND, MW_STORE_VERSION,
		 mw_store_mv_set_card(f->s, "m", 2, "{}", "x", 1, E));
	OK(mw_store_mv_set_card(f->s, "m", 1, "{\"owner\":\"risk\"}", "alice", 1234, E));
	OK(mw_store_mv_get_card(f->s, "m", 1, A, &c, E));
	assert_string_equal(c.card, "{\"owner\":\"risk\"}");
	assert_string_equal(c.updated_by, "alice");
	assert_int_equal(c.updated, 1234);
	OK(mw_store_mv_set_card(f->s, "m", 1, "{\"owner\":\"ml\"}", "bob", 1300, E));
	OK(mw_store_mv_get_card(f->s, "m", 1, A, &c, E));
	assert_string_equal(c.card, "{\"owner\":\"ml\"}");
	assert_string_equal(c.updated_by, "bob");
}

/* ------------------------------------------------------------ concurrency */

struct worker_arg {
	struct mw_store *s;
	int64_t versions[10];
	int n;
};

static void *worker(void *p)
{
	struct worker_arg *a = p;
	struct mw_arena *ar = mw_arena_new(8192); /* an arena per thread */
	for (int i = 0; i < 10; i++) {
		struct mw_mv_create c = version_of("m", "src", NULL);
		struct mw_model_version mv;
		struct mw_err err = {0};
		if (mw_store_mv_create(a->s, &c, ar, &mv, &err))
			continue;
		a->versions[a->n++] = mv.version;
	}
	mw_arena_free(ar);
	return NULL;
}

static void test_concurrent_creates(void **state)
{
	struct fx *f = *state;
	create_model(f->s, "m");
	put(f->s, "src/a", "a");
	struct worker_arg args[4] = {0};
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		args[i].s = f->s;
		pthread_create(&th[i], NULL, worker, &args[i]);
	}
	bool seen[41] = {0};
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].n, 10);
		for (int k = 0; k < 10; k++) {
			int64_t v = args[i].versions[k];
			assert_true(v >= 1 && v <= 40);
			assert_false(seen[v]);
			seen[v] = true;
		}
	}
	/* every version pinned its own copy with the same digest */
	struct mw_model_version a = get_version(f->s, "m", 1), b = get_version(f->s, "m", 40);
	assert_string_equal(a.manifest_digest, b.manifest_digest);
	assert_string_not_equal(a.files, b.files);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rm_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pinning_and_manifest_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pin_single_file_empty_and_unpinned, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_version_from_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aliases_history_and_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_alias, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transitions_and_latest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cards, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_creates, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
