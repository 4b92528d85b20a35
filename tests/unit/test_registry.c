/*
 * test_registry.c - unit tests for the registry half of the store
 * (store/sqlite_registry.c through the public store.h interface).
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

#include "store/store.h"

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

static json_t *create_version(struct mw_store *s, const char *name, const char *pin,
			      const char *run_id)
{
	struct mw_mv_create c = {.name = name, .source = pin ? pin : "s3://x", .run_id = run_id,
				 .user_id = "u", .pin_prefix = pin, .now_ms = mw_now_ms()};
	json_t *mv = NULL;
	OK(mw_store_mv_create(s, &c, &mv, E));
	return mv;
}

static void create_model(struct mw_store *s, const char *name)
{
	json_t *rm = NULL;
	OK(mw_store_rm_create(s, name, NULL, NULL, 0, "u", mw_now_ms(), &rm, E));
	json_decref(rm);
}

/* ------------------------------------------------------------ registered models */

static void test_rm_crud(void **state)
{
	struct fx *f = *state;
	struct mw_kv tags[] = {{"team", "risk"}, {"tier", "1"}};
	json_t *rm = NULL;
	OK(mw_store_rm_create(f->s, "fraud", "desc", tags, 2, "alice", 1000, &rm, E));
	assert_string_equal(js(rm, "name"), "fraud");
	assert_string_equal(js(rm, "description"), "desc");
	assert_string_equal(js(rm, "user_id"), "alice");
	assert_int_equal(json_integer_value(json_object_get(rm, "creation_timestamp")), 1000);
	assert_int_equal(json_array_size(json_object_get(rm, "tags")), 2);
	assert_null(json_object_get(rm, "latest_versions"));
	json_decref(rm);
	FAILS(MW_E_EXISTS, mw_store_rm_create(f->s, "fraud", NULL, NULL, 0, NULL, 1, &rm, E));

	OK(mw_store_rm_update(f->s, "fraud", "new", 2000, &rm, E));
	assert_string_equal(js(rm, "description"), "new");
	assert_int_equal(json_integer_value(json_object_get(rm, "last_updated_timestamp")), 2000);
	json_decref(rm);

	create_model(f->s, "other");
	FAILS(MW_E_EXISTS, mw_store_rm_rename(f->s, "fraud", "other", 3000, &rm, E));
	OK(mw_store_rm_rename(f->s, "fraud", "fraud2", 3000, &rm, E));
	assert_string_equal(js(rm, "name"), "fraud2");
	json_decref(rm);
	FAILS(MW_E_NOT_FOUND, mw_store_rm_get(f->s, "fraud", &rm, E));

	OK(mw_store_rm_set_tag(f->s, "fraud2", "team", "growth", E));
	OK(mw_store_rm_delete_tag(f->s, "fraud2", "tier", E));
	OK(mw_store_rm_delete_tag(f->s, "fraud2", "tier", E)); /* idempotent */
	OK(mw_store_rm_get(f->s, "fraud2", &rm, E));
	json_t *t = json_object_get(rm, "tags");
	assert_int_equal(json_array_size(t), 1);
	assert_string_equal(js(json_array_get(t, 0), "value"), "growth");
	json_decref(rm);
	FAILS(MW_E_NOT_FOUND, mw_store_rm_set_tag(f->s, "nope", "k", "v", E));

	OK(mw_store_rm_delete(f->s, "fraud2", 4000, E));
	FAILS(MW_E_NOT_FOUND, mw_store_rm_get(f->s, "fraud2", &rm, E));
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

	json_t *mv = create_version(f->s, "m", "0/run1/artifacts/model", "run1");
	assert_string_equal(js(mv, "version"), "1");
	assert_string_equal(js(mv, "status"), "READY");
	assert_null(json_object_get(mv, "status_message"));
	const char *rel[] = {"MLmodel", "model.pkl", "sub/env.yaml"};
	const char *content[] = {"flavors", "weights-v1", "env"};
	char want[65];
	manifest_of(rel, content, 3, want);
	assert_string_equal(js(mv, "manifest_digest"), want);
	char loc[128];
	snprintf(loc, sizeof loc, "%s", js(mv, "storage_location"));
	assert_true(!strncmp(loc, "mlflow-artifacts:/_registry/", 28));
	json_decref(mv);

	json_t *tree = NULL;
	OK(mw_store_art_tree(f->s, loc + 18, &tree, E));
	assert_int_equal(json_array_size(tree), 3);
	assert_string_equal(js(json_array_get(tree, 1), "path"), "model.pkl");
	json_decref(tree);

	/* the source changes: the version does not */
	put(f->s, "0/run1/artifacts/model/model.pkl", "weights-v2");
	int removed = 0;
	OK(mw_store_art_delete(f->s, "0/run1/artifacts/model/MLmodel", mw_now_ms(), &removed, E));
	OK(mw_store_mv_get(f->s, "m", 1, &mv, E));
	assert_string_equal(js(mv, "manifest_digest"), want);
	json_decref(mv);
	OK(mw_store_art_tree(f->s, loc + 18, &tree, E));
	assert_int_equal(json_array_size(tree), 3);
	char d1[65];
	digest_of("weights-v1", d1);
	assert_string_equal(js(json_array_get(tree, 1), "digest"), d1);
	json_decref(tree);

	/* a second version pins the new state, with another digest */
	mv = create_version(f->s, "m", "0/run1/artifacts/model", "run1");
	assert_string_equal(js(mv, "version"), "2");
	const char *rel2[] = {"model.pkl", "sub/env.yaml"};
	const char *content2[] = {"weights-v2", "env"};
	char want2[65];
	manifest_of(rel2, content2, 2, want2);
	assert_string_equal(js(mv, "manifest_digest"), want2);
	assert_string_not_equal(want, want2);
	json_decref(mv);

	/* the digest survives a reopen */
	mw_store_close(f->s);
	f->s = open_store(f->dir);
	OK(mw_store_mv_get(f->s, "m", 1, &mv, E));
	assert_string_equal(js(mv, "manifest_digest"), want);
	json_decref(mv);
}

static void test_pin_single_file_empty_and_unpinned(void **state)
{
	struct fx *f = *state;
	create_model(f->s, "m");
	put(f->s, "0/r/artifacts/model.onnx", "onnx-bytes");
	json_t *mv = create_version(f->s, "m", "0/r/artifacts/model.onnx", NULL);
	const char *rel[] = {"model.onnx"};
	const char *content[] = {"onnx-bytes"};
	char want[65];
	manifest_of(rel, content, 1, want);
	assert_string_equal(js(mv, "manifest_digest"), want);
	json_t *tree = NULL;
	OK(mw_store_art_tree(f->s, js(mv, "storage_location") + 18, &tree, E));
	assert_int_equal(json_array_size(tree), 1);
	assert_string_equal(js(json_array_get(tree, 0), "path"), "model.onnx");
	json_decref(tree);
	json_decref(mv);

	mv = create_version(f->s, "m", "0/r/artifacts/nothing-here", NULL);
	assert_string_equal(js(mv, "status"), "READY");
	assert_string_equal(js(mv, "status_message"),
			    "no artifacts were found at the source when the version was created");
	char empty[65];
	mw_sha256_hex("", 0, empty);
	assert_string_equal(js(mv, "manifest_digest"), empty);
	json_decref(mv);

	mv = create_version(f->s, "m", NULL, NULL);
	assert_null(json_object_get(mv, "storage_location"));
	assert_null(json_object_get(mv, "manifest_digest"));
	assert_non_null(js(mv, "status_message"));
	json_decref(mv);

	struct mw_mv_create c = {.name = "m", .source = "x", .pin_prefix = "", .now_ms = 1};
	FAILS(MW_E_INVALID, mw_store_mv_create(f->s, &c, &mv, E));
	c.name = "nope";
	c.pin_prefix = NULL;
	FAILS(MW_E_NOT_FOUND, mw_store_mv_create(f->s, &c, &mv, E));
}

static void test_version_from_version(void **state)
{
	struct fx *f = *state;
	create_model(f->s, "a");
	create_model(f->s, "b");
	put(f->s, "p/f1", "one");
	put(f->s, "p/f2", "two");
	json_t *v1 = create_version(f->s, "a", "p", NULL);
	/* pinning from a pinned prefix (models:/a/1) copies the same manifest */
	json_t *v2 = create_version(f->s, "b", js(v1, "storage_location") + 18, NULL);
	assert_string_equal(js(v1, "manifest_digest"), js(v2, "manifest_digest"));
	assert_string_not_equal(js(v1, "storage_location"), js(v2, "storage_location"));
	json_decref(v1);
	json_decref(v2);
}

/* ------------------------------------------------------------ delete */

static void test_version_delete(void **state)
{
	struct fx *f = *state;
	create_model(f->s, "m");
	put(f->s, "src/f", "x");
	json_decref(create_version(f->s, "m", "src", NULL));
	json_t *v2 = create_version(f->s, "m", "src", NULL);
	char pinned[128];
	snprintf(pinned, sizeof pinned, "%s", js(v2, "storage_location") + 18);
	json_decref(v2);
	struct mw_audit a = audit("alice", NULL);
	OK(mw_store_rm_set_alias(f->s, "m", "prod", 2, false, &a, E));
	OK(mw_store_mv_set_card(f->s, "m", 2, "{\"owner\":\"x\"}", "alice", 1, E));
	OK(mw_store_mv_delete(f->s, "m", 2, &a, E));
	json_t *o = NULL;
	FAILS(MW_E_NOT_FOUND, mw_store_mv_get(f->s, "m", 2, &o, E));
	FAILS(MW_E_NOT_FOUND, mw_store_mv_delete(f->s, "m", 2, &a, E));
	FAILS(MW_E_NOT_FOUND, mw_store_rm_get_by_alias(f->s, "m", "prod", &o, E));
	FAILS(MW_E_NOT_FOUND, mw_store_mv_get_card(f->s, "m", 2, &o, E));
	FAILS(MW_E_NOT_FOUND, mw_store_rm_set_alias(f->s, "m", "prod", 2, false, &a, E));
	OK(mw_store_art_tree(f->s, pinned, &o, E));
	assert_int_equal(json_array_size(o), 0);
	json_decref(o);
	/* the number is not reused */
	json_t *v3 = create_version(f->s, "m", "src", NULL);
	assert_string_equal(js(v3, "version"), "3");
	json_decref(v3);
	OK(mw_store_rm_history(f->s, "m", &o, E));
	assert_int_equal(json_array_size(o), 3);
	assert_string_equal(js(json_array_get(o, 1), "kind"), "alias_deleted");
	assert_string_equal(js(json_array_get(o, 2), "kind"), "version_deleted");
	assert_string_equal(js(json_array_get(o, 2), "target"), "2");
	json_decref(o);
}

/* ------------------------------------------------------------ aliases */

static void test_aliases_history_and_rollback(void **state)
{
	struct fx *f = *state;
	create_model(f->s, "m");
	for (int i = 0; i < 4; i++)
		json_decref(create_version(f->s, "m", NULL, NULL));
	struct mw_audit a = audit("alice", "ship it");
	a.evidence = "{\"auc\":0.9}";
	OK(mw_store_rm_set_alias(f->s, "m", "champion", 1, false, &a, E));
	struct mw_audit b = audit("bob", NULL);
	OK(mw_store_rm_set_alias(f->s, "m", "champion", 2, false, &b, E));
	OK(mw_store_rm_set_alias(f->s, "m", "champion", 3, false, &b, E));
	OK(mw_store_rm_set_alias(f->s, "m", "champion", 3, false, &b, E)); /* no-op */
	json_t *mv = NULL;
	OK(mw_store_rm_get_by_alias(f->s, "m", "champion", &mv, E));
	assert_string_equal(js(mv, "version"), "3");
	assert_string_equal(json_string_value(json_array_get(json_object_get(mv, "aliases"), 0)),
			    "champion");
	json_decref(mv);

	int64_t prev = 0;
	OK(mw_store_rm_alias_previous(f->s, "m", "champion", &prev, E));
	assert_int_equal(prev, 2);
	/* a rollback to anything but the previous version is refused (it moved) */
	FAILS(MW_E_CONFLICT, mw_store_rm_set_alias(f->s, "m", "champion", 1, true, &b, E));
	OK(mw_store_rm_set_alias(f->s, "m", "champion", 2, true, &b, E));
	OK(mw_store_rm_alias_previous(f->s, "m", "champion", &prev, E));
	assert_int_equal(prev, 1);
	OK(mw_store_rm_set_alias(f->s, "m", "champion", 1, true, &b, E));
	FAILS(MW_E_NOT_FOUND, mw_store_rm_alias_previous(f->s, "m", "champion", &prev, E));
	FAILS(MW_E_NOT_FOUND, mw_store_rm_alias_previous(f->s, "m", "never", &prev, E));
	/* moving forward again and back */
	OK(mw_store_rm_set_alias(f->s, "m", "champion", 4, false, &b, E));
	OK(mw_store_rm_alias_previous(f->s, "m", "champion", &prev, E));
	assert_int_equal(prev, 1);

	/* deleting is audited and idempotent; rollback of a deleted alias restores it */
	OK(mw_store_rm_delete_alias(f->s, "m", "champion", &b, E));
	OK(mw_store_rm_delete_alias(f->s, "m", "champion", &b, E));
	FAILS(MW_E_NOT_FOUND, mw_store_rm_get_by_alias(f->s, "m", "champion", &mv, E));
	OK(mw_store_rm_alias_previous(f->s, "m", "champion", &prev, E));
	assert_int_equal(prev, 4);

	json_t *h = NULL;
	OK(mw_store_rm_history(f->s, "m", &h, E));
	assert_int_equal(json_array_size(h), 7);
	json_t *e0 = json_array_get(h, 0);
	assert_string_equal(js(e0, "kind"), "alias_set");
	assert_string_equal(js(e0, "who"), "alice");
	assert_string_equal(js(e0, "reason"), "ship it");
	assert_true(json_is_null(json_object_get(e0, "from_version")));
	assert_string_equal(js(e0, "to_version"), "1");
	assert_true(json_real_value(json_object_get(json_object_get(e0, "evidence"), "auc")) == 0.9);
	assert_string_equal(js(json_array_get(h, 3), "kind"), "rollback");
	assert_string_equal(js(json_array_get(h, 3), "from_version"), "3");
	assert_string_equal(js(json_array_get(h, 3), "to_version"), "2");
	assert_string_equal(js(json_array_get(h, 6), "kind"), "alias_deleted");
	assert_true(json_is_null(json_object_get(json_array_get(h, 6), "to_version")));
	json_decref(h);

	FAILS(MW_E_NOT_FOUND, mw_store_rm_set_alias(f->s, "m", "x", 99, false, &b, E));
	FAILS(MW_E_NOT_FOUND, mw_store_rm_set_alias(f->s, "nope", "x", 1, false, &b, E));
	FAILS(MW_E_NOT_FOUND, mw_store_rm_history(f->s, "nope", &h, E));
}

/* ------------------------------------------------------------ stages */

static void test_transitions_and_latest(void **state)
{
	struct fx *f = *state;
	create_model(f->s, "m");
	for (int i = 0; i < 4; i++)
		json_decref(create_version(f->s, "m", NULL, NULL));
	struct mw_audit a = audit("ops", NULL);
	json_t *mv = NULL;
	OK(mw_store_mv_transition(f->s, "m", 1, "Production", false, &a, &mv, E));
	assert_string_equal(js(mv, "current_stage"), "Production");
	json_decref(mv);
	OK(mw_store_mv_transition(f->s, "m", 2, "Production", false, &a, &mv, E));
	json_decref(mv);
	OK(mw_store_mv_transition(f->s, "m", 3, "Production", true, &a, &mv, E));
	json_decref(mv);
	const char *want[] = {"Archived", "Archived", "Production", "None"};
	for (int v = 1; v <= 4; v++) {
		OK(mw_store_mv_get(f->s, "m", v, &mv, E));
		assert_string_equal(js(mv, "current_stage"), want[v - 1]);
		json_decref(mv);
	}
	FAILS(MW_E_INVALID, mw_store_mv_transition(f->s, "m", 1, "production", false, &a, &mv, E));
	FAILS(MW_E_NOT_FOUND, mw_store_mv_transition(f->s, "m", 9, "Staging", false, &a, &mv, E));

	json_t *lv = NULL;
	OK(mw_store_rm_latest_versions(f->s, "m", NULL, 0, &lv, E));
	assert_int_equal(json_array_size(lv), 3); /* Archived 2, Production 3, None 4 */
	assert_string_equal(js(json_array_get(lv, 0), "version"), "2");
	json_decref(lv);
	const char *st[] = {"Production"};
	OK(mw_store_rm_latest_versions(f->s, "m", st, 1, &lv, E));
	assert_int_equal(json_array_size(lv), 1);
	assert_string_equal(js(json_array_get(lv, 0), "version"), "3");
	json_decref(lv);

	json_t *h = NULL;
	OK(mw_store_rm_history(f->s, "m", &h, E));
	/* 1, 2 -> Production; 1, 2 archived by 3; 3 -> Production */
	assert_int_equal(json_array_size(h), 5);
	json_t *e = json_array_get(h, 2);
	assert_string_equal(js(e, "to_stage"), "Archived");
	assert_non_null(strstr(js(e, "reason"), "archive_existing_versions"));
	json_decref(h);
}

/* ------------------------------------------------------------ search */

static void test_search(void **state)
{
	struct fx *f = *state;
	const char *names[] = {"alpha", "beta", "gamma", "prompt1"};
	for (int i = 0; i < 4; i++)
		create_model(f->s, names[i]);
	OK(mw_store_rm_set_tag(f->s, "prompt1", "mlflow.prompt.is_prompt", "true", E));
	OK(mw_store_rm_set_tag(f->s, "beta", "team", "risk", E));
	struct mw_page p = {.max_results = 2, .offset = 0};
	json_t *out = NULL;
	bool more = false;
	OK(mw_store_rm_search(f->s, NULL, NULL, 0, &p, &out, &more, E));
	json_t *arr = json_object_get(out, "registered_models");
	assert_int_equal(json_array_size(arr), 2);
	assert_true(more);
	assert_string_equal(js(json_array_get(arr, 0), "name"), "alpha");
	json_decref(out);
	p.offset = 2;
	OK(mw_store_rm_search(f->s, NULL, NULL, 0, &p, &out, &more, E));
	assert_int_equal(json_array_size(json_object_get(out, "registered_models")), 1);
	assert_false(more); /* the prompt is hidden */
	json_decref(out);

	struct mw_clause c = {.kind = MW_KEY_TAG, .key = "mlflow.prompt.is_prompt",
			      .cmp = MW_CMP_EQ, .str = "true"};
	struct mw_filter fl = {&c, 1};
	p.offset = 0;
	p.max_results = 10;
	OK(mw_store_rm_search(f->s, &fl, NULL, 0, &p, &out, &more, E));
	arr = json_object_get(out, "registered_models");
	assert_int_equal(json_array_size(arr), 1);
	assert_string_equal(js(json_array_get(arr, 0), "name"), "prompt1");
	json_decref(out);

	struct mw_clause c2 = {.kind = MW_KEY_ATTR, .key = "name", .cmp = MW_CMP_LIKE, .str = "%a"};
	struct mw_order o = {.kind = MW_KEY_ATTR, .key = "name", .asc = false};
	fl.c = &c2;
	OK(mw_store_rm_search(f->s, &fl, &o, 1, &p, &out, &more, E));
	arr = json_object_get(out, "registered_models");
	assert_int_equal(json_array_size(arr), 3);
	assert_string_equal(js(json_array_get(arr, 0), "name"), "gamma");
	json_decref(out);

	/* versions: run_id IN, tags, name */
	json_decref(create_version(f->s, "alpha", NULL, "r1"));
	json_decref(create_version(f->s, "alpha", NULL, "r2"));
	json_decref(create_version(f->s, "beta", NULL, "r1"));
	OK(mw_store_mv_set_tag(f->s, "beta", 1, "qa", "ok", E));
	const char *ids[] = {"r1", "r9"};
	struct mw_clause c3 = {.kind = MW_KEY_ATTR, .key = "run_id", .cmp = MW_CMP_IN, .list = ids,
			       .nlist = 2};
	fl.c = &c3;
	struct mw_order vo = {.kind = MW_KEY_ATTR, .key = "name", .asc = true};
	OK(mw_store_mv_search(f->s, &fl, &vo, 1, &p, &out, &more, E));
	arr = json_object_get(out, "model_versions");
	assert_int_equal(json_array_size(arr), 2);
	assert_string_equal(js(json_array_get(arr, 0), "name"), "alpha");
	assert_string_equal(js(json_array_get(arr, 1), "name"), "beta");
	json_decref(out);
	struct mw_clause c4 = {.kind = MW_KEY_TAG, .key = "qa", .cmp = MW_CMP_EQ, .str = "ok"};
	fl.c = &c4;
	OK(mw_store_mv_search(f->s, &fl, NULL, 0, &p, &out, &more, E));
	assert_int_equal(json_array_size(json_object_get(out, "model_versions")), 1);
	json_decref(out);
	struct mw_clause c5 = {.kind = MW_KEY_ATTR, .key = "version_number", .cmp = MW_CMP_GE,
			       .is_num = true, .num = 2, .inum = 2};
	fl.c = &c5;
	OK(mw_store_mv_search(f->s, &fl, NULL, 0, &p, &out, &more, E));
	arr = json_object_get(out, "model_versions");
	assert_int_equal(json_array_size(arr), 1);
	assert_string_equal(js(json_array_get(arr, 0), "version"), "2");
	json_decref(out);
}

/* ------------------------------------------------------------ cards */

static void test_cards(void **state)
{
	struct fx *f = *state;
	create_model(f->s, "m");
	json_decref(create_version(f->s, "m", NULL, NULL));
	json_t *c = NULL;
	FAILS(MW_E_NOT_FOUND, mw_store_mv_get_card(f->s, "m", 1, &c, E));
	FAILS(MW_E_NOT_FOUND, mw_store_mv_set_card(f->s, "m", 2, "{}", "x", 1, E));
	OK(mw_store_mv_set_card(f->s, "m", 1, "{\"owner\":\"risk\"}", "alice", 1234, E));
	OK(mw_store_mv_get_card(f->s, "m", 1, &c, E));
	assert_string_equal(js(json_object_get(c, "card"), "owner"), "risk");
	assert_string_equal(js(c, "updated_by"), "alice");
	assert_int_equal(json_integer_value(json_object_get(c, "updated")), 1234);
	json_decref(c);
	OK(mw_store_mv_set_card(f->s, "m", 1, "{\"owner\":\"ml\"}", "bob", 1300, E));
	OK(mw_store_mv_get_card(f->s, "m", 1, &c, E));
	assert_string_equal(js(json_object_get(c, "card"), "owner"), "ml");
	assert_string_equal(js(c, "updated_by"), "bob");
	json_decref(c);
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
	for (int i = 0; i < 10; i++) {
		struct mw_mv_create c = {.name = "m", .source = "src", .pin_prefix = "src",
					 .now_ms = mw_now_ms()};
		json_t *mv = NULL;
		struct mw_err err = {0};
		if (mw_store_mv_create(a->s, &c, &mv, &err))
			continue;
		mw_parse_int64(js(mv, "version"), &a->versions[a->n++]);
		json_decref(mv);
	}
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
	json_t *a = NULL, *b = NULL;
	OK(mw_store_mv_get(f->s, "m", 1, &a, E));
	OK(mw_store_mv_get(f->s, "m", 40, &b, E));
	assert_string_equal(js(a, "manifest_digest"), js(b, "manifest_digest"));
	assert_string_not_equal(js(a, "storage_location"), js(b, "storage_location"));
	json_decref(a);
	json_decref(b);
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
		cmocka_unit_test_setup_teardown(test_transitions_and_latest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cards, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_creates, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
