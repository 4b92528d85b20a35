/*
 * test_store.c - unit tests for the metadata store: opening (backend by URI,
 * migrations) and the tracking domain (store/tracking.h, SQLite backend in
 * store/sqlite_tracking.c).
 *
 * Every test opens a fresh store in its own mkdtemp() directory (setup) and
 * closes it and removes the directory afterwards (teardown).  The store
 * returns records in an arena; most checks read them through track/'s
 * MLflow shapes (the *_j wrappers), which also check what each failure says
 * it is about (err->detail); test_records_and_details reads records
 * directly.  Covered: experiments, runs, log_batch semantics (immutable
 * params with whole-batch rollback, overwriting tags, deduplicated metric
 * points, NaN/Inf values, the latest-metric rule), metric history paging,
 * run search with hand-built filters and orderings, dataset/model inputs and
 * outputs, logged models, concurrent writers (group commit), durability
 * across a reopen, refused newer schemas and store URIs.  Nothing asserts on
 * timings.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/backend.h"
#include "store/artifacts.h"
#include "store/store.h"
#include "store/tracking.h"
#include "track/track.h"

#include <sqlite3.h>

/* The arena of the current test's records (made by setup, freed by teardown). */
static struct mw_arena *A;

struct fx {
	char dir[64];
	struct mw_store *s;
};

static struct mw_store *open_store(const char *dir)
{
	struct mw_store_opts o = { .data_dir = dir, .read_conns = 4, .sync_full = false,
				   .max_batch = 0 };
	struct mw_store *s = NULL;
	struct mw_err err = { 0 };

	if (mw_store_open(&o, &s, &err) != 0)
		fail_msg("mw_store_open(%s): %s", dir, err.msg);
	return s;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	snprintf(f->dir, sizeof f->dir, "/tmp/mw-test-store-XXXXXX");
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

/* ------------------------------------------------------------ records as JSON */

/* The store returns records in an arena; these wrappers give the tests the
 * records in MLflow's shape (track/shape.c) so each check reads as before,
 * and check along the way that every failure says what it is about. */
static json_t *as_page(const char *field, json_t *arr)
{
	json_t *o = json_object();
	if (json_array_size(arr))
		json_object_set_new(o, field, arr);
	else
		json_decref(arr);
	return o;
}

static int exp_get_j(struct mw_store *s, const char *id, json_t **out, struct mw_err *err)
{
	struct mw_experiment e;
	int rc = mw_store_exp_get(s, id, A, &e, err);
	if (!rc)
		*out = mw_track_experiment_json(&e);
	else if (rc == -MW_E_NOT_FOUND)
		assert_int_equal(err->detail, MW_STORE_EXPERIMENT);
	return rc;
}

static int exp_get_by_name_j(struct mw_store *s, const char *name, json_t **out, struct mw_err *err)
{
	struct mw_experiment e;
	int rc = mw_store_exp_get_by_name(s, name, A, &e, err);
	if (!rc)
		*out = mw_track_experiment_json(&e);
	else if (rc == -MW_E_NOT_FOUND)
		assert_int_equal(err->detail, MW_STORE_EXPERIMENT);
	return rc;
}

static int exp_search_j(struct mw_store *s, const struct mw_filter *f, const struct mw_order *o,
			size_t no, enum mw_view v, const struct mw_page *p, json_t **out,
			bool *more, struct mw_err *err)
{
	struct mw_experiment *e = NULL;
	size_t n = 0;
	int rc = mw_store_exp_search(s, f, o, no, v, p, A, &e, &n, more, err);
	if (!rc) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, mw_track_experiment_json(&e[i]));
		*out = as_page("experiments", arr);
	}
	return rc;
}

static int run_create_j(struct mw_store *s, const struct mw_run_create *rc_in, json_t **out,
			struct mw_err *err)
{
	struct mw_run r;
	int rc = mw_store_run_create(s, rc_in, A, &r, err);
	if (!rc)
		*out = mw_track_run_json(&r);
	return rc;
}

static int run_get_j(struct mw_store *s, const char *id, json_t **out, struct mw_err *err)
{
	struct mw_run r;
	int rc = mw_store_run_get(s, id, A, &r, err);
	if (!rc)
		*out = mw_track_run_json(&r);
	else if (rc == -MW_E_NOT_FOUND)
		assert_int_equal(err->detail, MW_STORE_RUN);
	return rc;
}

/* A rename also sets the run-name tag (the caller's rule, track's in mw). */
static int run_update_j(struct mw_store *s, const char *id, const char *status, int64_t end,
			const char *name, json_t **out, struct mw_err *err)
{
	struct mw_run_info i;
	struct mw_kv tag = {"mlflow.runName", name};
	int rc = mw_store_run_update(s, id, status, end, name, &tag, name ? 1 : 0, A, &i, err);
	if (!rc)
		*out = mw_track_run_info_json(&i);
	return rc;
}

static int log_batch(struct mw_store *s, const char *id, const struct mw_metric *m, size_t nm,
		     const struct mw_kv *p, size_t np, const struct mw_kv *t, size_t nt,
		     struct mw_err *err)
{
	int rc = mw_store_run_log_batch(s, id, m, nm, p, np, t, nt, NULL, err);
	if (rc == -MW_E_CONFLICT)
		assert_int_equal(err->detail, MW_STORE_PARAM);
	if (rc == -MW_E_INVALID)
		assert_int_equal(err->detail, MW_STORE_RUN);
	return rc;
}

static int run_search_j(struct mw_store *s, const char *const *ex, size_t nex,
			const struct mw_filter *f, const struct mw_order *o, size_t no,
			enum mw_view v, const struct mw_page *p, json_t **out, bool *more,
			struct mw_err *err)
{
	struct mw_run *r = NULL;
	size_t n = 0;
	int rc = mw_store_run_search(s, ex, nex, f, o, no, v, p, A, &r, &n, more, err);
	if (!rc) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, mw_track_run_json(&r[i]));
		*out = as_page("runs", arr);
	}
	return rc;
}

static json_t *metrics_j(const struct mw_metric *m, size_t n)
{
	return mw_track_metrics_json(m, n);
}

static int history_j(struct mw_store *s, const char *id, const char *key, const struct mw_page *p,
		     json_t **out, bool *more, struct mw_err *err)
{
	struct mw_metric *m = NULL;
	size_t n = 0;
	int rc = mw_store_metric_history(s, id, key, p, A, &m, &n, more, err);
	if (!rc)
		*out = metrics_j(m, n);
	return rc;
}

static int bulk_j(struct mw_store *s, const char *const *ids, size_t nids, const char *key,
		  int64_t max, json_t **out, struct mw_err *err)
{
	struct mw_metric *m = NULL;
	size_t n = 0;
	int rc = mw_store_metric_history_bulk(s, ids, nids, key, max, A, &m, &n, err);
	if (!rc)
		*out = metrics_j(m, n);
	return rc;
}

static int sampled_j(struct mw_store *s, const char *const *ids, size_t nids, const char *key,
		     bool has_range, int64_t lo, int64_t hi, int64_t max, json_t **out,
		     struct mw_err *err)
{
	struct mw_metric *m = NULL;
	size_t n = 0;
	int rc = mw_store_metric_history_sampled(s, ids, nids, key, has_range, lo, hi, max, A, &m,
						 &n, err);
	if (!rc)
		*out = metrics_j(m, n);
	return rc;
}

static int lm_create_j(struct mw_store *s, const struct mw_lm_create *c, json_t **out,
		       struct mw_err *err)
{
	struct mw_logged_model m;
	int rc = mw_store_lm_create(s, c, A, &m, err);
	if (!rc)
		*out = mw_track_logged_model_json(&m);
	return rc;
}

static int lm_get_j(struct mw_store *s, const char *id, json_t **out, struct mw_err *err)
{
	struct mw_logged_model m;
	int rc = mw_store_lm_get(s, id, A, &m, err);
	if (!rc)
		*out = mw_track_logged_model_json(&m);
	else if (rc == -MW_E_NOT_FOUND)
		assert_int_equal(err->detail, MW_STORE_LOGGED_MODEL);
	return rc;
}

static int lm_finalize_j(struct mw_store *s, const char *id, const char *status, int64_t now,
			 json_t **out, struct mw_err *err)
{
	struct mw_logged_model m;
	int rc = mw_store_lm_finalize(s, id, status, now, A, &m, err);
	if (!rc)
		*out = mw_track_logged_model_json(&m);
	return rc;
}

static int lm_search_j(struct mw_store *s, const char *const *ex, size_t nex,
		       const struct mw_filter *f, const struct mw_order *o, size_t no,
		       const struct mw_page *p, json_t **out, bool *more, struct mw_err *err)
{
	struct mw_logged_model *m = NULL;
	size_t n = 0;
	int rc = mw_store_lm_search(s, ex, nex, f, o, no, p, A, &m, &n, more, err);
	if (!rc) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, mw_track_logged_model_json(&m[i]));
		*out = as_page("models", arr);
	}
	return rc;
}

/* ------------------------------------------------------------ helpers */

#define OK(call)                                                                      \
	do {                                                                          \
		struct mw_err err_ = { 0 };                                           \
		struct mw_err *errp_ = &err_;                                         \
		int rc_ = (call);                                                     \
		if (rc_ != 0)                                                         \
			fail_msg("%s: rc %d: %s", #call, rc_, errp_->msg);            \
	} while (0)
/* E is the error pointer inside OK(...) / FAILS(...) calls */
#define E errp_

#define FAILS(want_, call)                                                            \
	do {                                                                          \
		struct mw_err err_ = { 0 };                                           \
		struct mw_err *errp_ = &err_;                                         \
		int rc_ = (call);                                                     \
		if (rc_ != -(want_))                                                  \
			fail_msg("%s: expected %d, got rc %d: %s", #call, -(want_), rc_, \
				 errp_->msg);                                         \
		if (err_.code != (want_) || !err_.msg[0])                             \
			fail_msg("%s: err not filled (code %d)", #call, err_.code);   \
	} while (0)

static const char *jstr(json_t *o, const char *path)
{
	/* "a.b.c" through nested objects */
	char buf[256], *save = NULL;
	json_t *v = o;

	snprintf(buf, sizeof buf, "%s", path);
	for (char *t = strtok_r(buf, ".", &save); t && v; t = strtok_r(NULL, ".", &save))
		v = json_object_get(v, t);
	return json_string_value(v);
}

static json_t *jget(json_t *o, const char *path)
{
	char buf[256], *save = NULL;
	json_t *v = o;

	snprintf(buf, sizeof buf, "%s", path);
	for (char *t = strtok_r(buf, ".", &save); t && v; t = strtok_r(NULL, ".", &save))
		v = json_object_get(v, t);
	return v;
}

/* The "value" of the {key,value} element of arr with this key, or NULL. */
static const char *kv_find(json_t *arr, const char *key)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e) {
		const char *k = json_string_value(json_object_get(e, "key"));
		if (k && !strcmp(k, key))
			return json_string_value(json_object_get(e, "value"));
	}
	return NULL;
}

static json_t *metric_find(json_t *run, const char *key)
{
	size_t i;
	json_t *e, *arr = jget(run, "data.metrics");

	json_array_foreach(arr, i, e) {
		const char *k = json_string_value(json_object_get(e, "key"));
		if (k && !strcmp(k, key))
			return e;
	}
	return NULL;
}

static void new_exp(struct mw_store *s, const char *name, char id[32])
{
	OK(mw_store_exp_create(s, name, NULL, "mlflow-artifacts:/", NULL, 0, 1000, id, E));
}

/* Create a run in exp; id_out gets its id (33 bytes). */
static void new_run_at(struct mw_store *s, const char *exp, int64_t start,
		       const struct mw_kv *tags, size_t ntags, char id_out[33])
{
	struct mw_err e = { 0 };
	json_t *out = NULL;

	assert_int_equal(mw_id_hex32(id_out, &e), 0);
	char path[64];
	snprintf(path, sizeof path, "%s/artifacts", id_out);
	struct mw_run_create rc = {.run_id = id_out,
				   .experiment_id = exp,
				   .user_id = "tester",
				   .status = "RUNNING",
				   .artifact_path = path,
				   .run_name = "run",
				   .start_time = start,
				   .tags = tags,
				   .ntags = ntags};
	OK(run_create_j(s, &rc, &out, E));
	assert_non_null(out);
	json_decref(out);
}

static void new_run(struct mw_store *s, const char *exp, char id_out[33])
{
	new_run_at(s, exp, 1000, NULL, 0, id_out);
}

static json_t *get_run(struct mw_store *s, const char *id)
{
	json_t *r = NULL;

	OK(run_get_j(s, id, &r, E));
	assert_non_null(r);
	return r;
}

static void log_metric(struct mw_store *s, const char *run, const char *key, double v,
		       int64_t ts, int64_t step)
{
	struct mw_metric m = { .key = key, .value = v, .timestamp = ts, .step = step };

	OK(log_batch(s, run, &m, 1, NULL, 0, NULL, 0, E));
}

static json_t *history(struct mw_store *s, const char *run, const char *key, int64_t max,
		       int64_t off, bool *more)
{
	struct mw_page p = {.max_results = max, .offset = off};
	json_t *h = NULL;
	bool m = true;

	OK(history_j(s, run, key, &p, &h, &m, E));
	assert_true(json_is_array(h));
	if (more)
		*more = m;
	return h;
}

static size_t history_count(struct mw_store *s, const char *run, const char *key)
{
	json_t *h = history(s, run, key, 100000, 0, NULL);
	size_t n = json_array_size(h);

	json_decref(h);
	return n;
}

static bool is_hex32(const char *s)
{
	if (!s || strlen(s) != 32)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* ------------------------------------------------------------ open / default */

static void test_open_default(void **state)
{
	struct fx *f = *state;
	json_t *e = NULL;

	assert_true(mw_store_schema_version(f->s) >= 1);
	OK(exp_get_j(f->s, "0", &e, E));
	assert_string_equal(jstr(e, "experiment_id"), "0");
	assert_string_equal(jstr(e, "name"), "Default");
	assert_string_equal(jstr(e, "lifecycle_stage"), "active");
	assert_string_equal(jstr(e, "artifact_location"), "mlflow-artifacts:/0");
	assert_true(json_is_integer(json_object_get(e, "creation_time")));
	json_decref(e);
	OK(exp_get_by_name_j(f->s, "Default", &e, E));
	assert_string_equal(jstr(e, "experiment_id"), "0");
	json_decref(e);

	FAILS(MW_E_NOT_FOUND, exp_get_j(f->s, "12345", &e, E));
	FAILS(MW_E_NOT_FOUND, exp_get_j(f->s, "abc", &e, E));
	FAILS(MW_E_NOT_FOUND, exp_get_j(f->s, "-1", &e, E));
	FAILS(MW_E_NOT_FOUND, exp_get_j(f->s, "", &e, E));
	FAILS(MW_E_NOT_FOUND, exp_get_by_name_j(f->s, "nope", &e, E));

	struct mw_store_stats st;
	mw_store_stats(f->s, &st);
	assert_int_equal(st.failed_jobs, 0);
	assert_non_null(st.batch_size);
	assert_non_null(st.commit_seconds);
}

/* ------------------------------------------------------------ experiments */

static void test_experiments(void **state)
{
	struct fx *f = *state;
	struct mw_kv tags[] = { { "k1", "v1" }, { "k0", "v0" } };
	char id[32], id2[32], id3[32], id4[32];
	json_t *e = NULL;

	OK(mw_store_exp_create(f->s, "exp-a", NULL, "file:///art", tags, 2, 1234, id, E));
	assert_string_not_equal(id, "0");
	OK(exp_get_j(f->s, id, &e, E));
	assert_string_equal(jstr(e, "experiment_id"), id);
	assert_string_equal(jstr(e, "name"), "exp-a");
	assert_string_equal(jstr(e, "lifecycle_stage"), "active");
	char want[128];
	snprintf(want, sizeof want, "file:///art/%s", id);
	assert_string_equal(jstr(e, "artifact_location"), want);
	assert_int_equal(json_integer_value(json_object_get(e, "creation_time")), 1234);
	assert_int_equal(json_integer_value(json_object_get(e, "last_update_time")), 1234);
	json_t *t = json_object_get(e, "tags");
	assert_int_equal(json_array_size(t), 2);
	/* tags come back ordered by key */
	assert_string_equal(jstr(json_array_get(t, 0), "key"), "k0");
	assert_string_equal(kv_find(t, "k1"), "v1");
	json_decref(e);

	OK(exp_get_by_name_j(f->s, "exp-a", &e, E));
	assert_string_equal(jstr(e, "experiment_id"), id);
	json_decref(e);

	/* artifact locations: explicit, root with a trailing slash, default root */
	OK(mw_store_exp_create(f->s, "exp-loc", "/custom/place", "file:///ignored", NULL, 0, 1,
			       id2, E));
	OK(exp_get_j(f->s, id2, &e, E));
	assert_string_equal(jstr(e, "artifact_location"), "/custom/place");
	assert_null(json_object_get(e, "tags"));
	json_decref(e);
	OK(mw_store_exp_create(f->s, "exp-slash", NULL, "s3://bucket/", NULL, 0, 1, id3, E));
	OK(exp_get_j(f->s, id3, &e, E));
	snprintf(want, sizeof want, "s3://bucket/%s", id3);
	assert_string_equal(jstr(e, "artifact_location"), want);
	json_decref(e);
	/* no root: track's default root, mlflow-artifacts:/ (the store requires one) */
	{
		struct mw_track *tr = NULL;
		json_t *req = json_pack("{s:s}", "name", "exp-default-root"), *resp = NULL;
		char none[32];
		OK(mw_track_new(f->s, NULL, &tr, E));
		OK(mw_track_exp_create(tr, &mw_call_system, req, &resp, E));
		snprintf(id4, sizeof id4, "%s", jstr(resp, "experiment_id"));
		json_decref(req);
		json_decref(resp);
		mw_track_free(tr);
		FAILS(MW_E_INVALID,
		      mw_store_exp_create(f->s, "no-root", NULL, NULL, NULL, 0, 1, none, E));
	}
	OK(exp_get_j(f->s, id4, &e, E));
	snprintf(want, sizeof want, "mlflow-artifacts:/%s", id4);
	assert_string_equal(jstr(e, "artifact_location"), want);
	json_decref(e);
	assert_string_not_equal(id, id2);
	assert_string_not_equal(id2, id3);

	/* duplicate names */
	char dup[32];
	FAILS(MW_E_EXISTS, mw_store_exp_create(f->s, "exp-a", NULL, "/r", NULL, 0, 1, dup, E));
	FAILS(MW_E_EXISTS, mw_store_exp_create(f->s, "Default", NULL, "/r", NULL, 0, 1, dup, E));

	/* rename */
	OK(mw_store_exp_rename(f->s, id, "exp-b", 2000, E));
	OK(exp_get_j(f->s, id, &e, E));
	assert_string_equal(jstr(e, "name"), "exp-b");
	assert_int_equal(json_integer_value(json_object_get(e, "last_update_time")), 2000);
	json_decref(e);
	FAILS(MW_E_NOT_FOUND, exp_get_by_name_j(f->s, "exp-a", &e, E));
	OK(exp_get_by_name_j(f->s, "exp-b", &e, E));
	json_decref(e);
	OK(mw_store_exp_rename(f->s, id, "exp-b", 2001, E)); /* its own name */
	FAILS(MW_E_EXISTS, mw_store_exp_rename(f->s, id, "Default", 2002, E));
	FAILS(MW_E_EXISTS, mw_store_exp_rename(f->s, id, "exp-loc", 2002, E));
	FAILS(MW_E_NOT_FOUND, mw_store_exp_rename(f->s, "9999", "whatever", 2002, E));
	/* the old name is free again */
	OK(mw_store_exp_create(f->s, "exp-a", NULL, "/r", NULL, 0, 1, dup, E));

	/* tags: set, overwrite, delete */
	OK(mw_store_exp_set_tag(f->s, id, "k2", "v2", E));
	OK(mw_store_exp_set_tag(f->s, id, "k1", "v1b", E));
	OK(exp_get_j(f->s, id, &e, E));
	t = json_object_get(e, "tags");
	assert_int_equal(json_array_size(t), 3);
	assert_string_equal(kv_find(t, "k1"), "v1b");
	assert_string_equal(kv_find(t, "k2"), "v2");
	json_decref(e);
	OK(mw_store_exp_delete_tag(f->s, id, "k2", E));
	FAILS(MW_E_NOT_FOUND, mw_store_exp_delete_tag(f->s, id, "k2", E));
	FAILS(MW_E_NOT_FOUND, mw_store_exp_set_tag(f->s, "9999", "k", "v", E));
	OK(exp_get_j(f->s, id, &e, E));
	assert_null(kv_find(json_object_get(e, "tags"), "k2"));
	assert_string_equal(kv_find(json_object_get(e, "tags"), "k0"), "v0");
	json_decref(e);

	/* search: active experiments, paged */
	struct mw_page pg = {.max_results = 2, .offset = 0};
	json_t *out = NULL;
	bool more = false;
	OK(exp_search_j(f->s, NULL, NULL, 0, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(json_array_size(json_object_get(out, "experiments")), 2);
	assert_true(more);
	json_decref(out);
	pg.max_results = 100;
	OK(exp_search_j(f->s, NULL, NULL, 0, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(json_array_size(json_object_get(out, "experiments")), 6);
	assert_false(more);
	json_decref(out);
	struct mw_clause c = { .kind = MW_KEY_ATTR, .key = "name", .cmp = MW_CMP_LIKE,
			       .str = "exp-%" };
	struct mw_filter flt = { &c, 1 };
	struct mw_order o = { MW_KEY_ATTR, "name", true };
	OK(exp_search_j(f->s, &flt, &o, 1, MW_VIEW_ALL, &pg, &out, &more, E));
	json_t *arr = json_object_get(out, "experiments");
	assert_int_equal(json_array_size(arr), 5);
	assert_string_equal(jstr(json_array_get(arr, 0), "name"), "exp-a");
	assert_string_equal(jstr(json_array_get(arr, 1), "name"), "exp-b");
	assert_string_equal(jstr(json_array_get(arr, 4), "name"), "exp-slash");
	json_decref(out);
}

static void test_experiment_delete_restore(void **state)
{
	struct fx *f = *state;
	char exp[32], ra[33], rb[33], rother[33];
	json_t *e = NULL, *r;
	const char *exps[] = { NULL };

	new_exp(f->s, "del-exp", exp);
	exps[0] = exp;
	new_run(f->s, exp, ra);
	new_run(f->s, exp, rb);
	/* a run in another experiment is not touched */
	new_run(f->s, "0", rother);

	OK(mw_store_exp_set_deleted(f->s, exp, true, 5000, E));
	OK(exp_get_j(f->s, exp, &e, E));
	assert_string_equal(jstr(e, "lifecycle_stage"), "deleted");
	json_decref(e);
	/* still found by name (names stay reserved) */
	OK(exp_get_by_name_j(f->s, "del-exp", &e, E));
	json_decref(e);
	char dup[32];
	FAILS(MW_E_EXISTS, mw_store_exp_create(f->s, "del-exp", NULL, "/r", NULL, 0, 1, dup, E));

	r = get_run(f->s, ra);
	assert_string_equal(jstr(r, "info.lifecycle_stage"), "deleted");
	json_decref(r);
	r = get_run(f->s, rb);
	assert_string_equal(jstr(r, "info.lifecycle_stage"), "deleted");
	json_decref(r);
	r = get_run(f->s, rother);
	assert_string_equal(jstr(r, "info.lifecycle_stage"), "active");
	json_decref(r);

	/* a deleted experiment takes no writes */
	struct mw_metric m = { .key = "x", .value = 1, .timestamp = 1, .step = 0 };
	FAILS(MW_E_INVALID, log_batch(f->s, ra, &m, 1, NULL, 0, NULL, 0, E));
	FAILS(MW_E_INVALID, mw_store_exp_rename(f->s, exp, "other", 1, E));
	FAILS(MW_E_INVALID, mw_store_exp_set_tag(f->s, exp, "k", "v", E));
	{
		char rid[33];
		struct mw_err e2 = { 0 };
		json_t *out = NULL;
		assert_int_equal(mw_id_hex32(rid, &e2), 0);
		struct mw_run_create cr = {.run_id = rid,
					   .experiment_id = exp,
					   .start_time = 1,
					   .status = "RUNNING"};
		FAILS(MW_E_INVALID, run_create_j(f->s, &cr, &out, E));
		assert_null(out);
	}

	/* runs of the deleted experiment show up under the DELETED view only */
	struct mw_page pg = {.max_results = 100, .offset = 0};
	json_t *out = NULL;
	bool more;
	OK(run_search_j(f->s, exps, 1, NULL, NULL, 0, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(json_array_size(json_object_get(out, "runs")), 0);
	json_decref(out);
	OK(run_search_j(f->s, exps, 1, NULL, NULL, 0, MW_VIEW_DELETED, &pg, &out, &more, E));
	assert_int_equal(json_array_size(json_object_get(out, "runs")), 2);
	json_decref(out);

	/* restore brings the experiment and its runs back */
	OK(mw_store_exp_set_deleted(f->s, exp, false, 6000, E));
	OK(exp_get_j(f->s, exp, &e, E));
	assert_string_equal(jstr(e, "lifecycle_stage"), "active");
	json_decref(e);
	r = get_run(f->s, ra);
	assert_string_equal(jstr(r, "info.lifecycle_stage"), "active");
	json_decref(r);
	r = get_run(f->s, rb);
	assert_string_equal(jstr(r, "info.lifecycle_stage"), "active");
	json_decref(r);
	OK(log_batch(f->s, ra, &m, 1, NULL, 0, NULL, 0, E));
	OK(run_search_j(f->s, exps, 1, NULL, NULL, 0, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(json_array_size(json_object_get(out, "runs")), 2);
	json_decref(out);

	FAILS(MW_E_NOT_FOUND, mw_store_exp_set_deleted(f->s, "9999", true, 1, E));
}

/* ------------------------------------------------------------ runs */

static void test_run_create_get_update(void **state)
{
	struct fx *f = *state;
	struct mw_kv tags[] = { { "mlflow.user", "tester" }, { "team", "core" }, { "empty", NULL } };
	char exp[32], id[33], want[160];
	struct mw_err e = { 0 };
	json_t *out = NULL, *r;

	OK(mw_store_exp_create(f->s, "runs-exp", NULL, "file:///root", NULL, 0, 1, exp, E));
	assert_int_equal(mw_id_hex32(id, &e), 0);
	snprintf(want, sizeof want, "%s/artifacts", id);
	struct mw_run_create cr = {.run_id = id,
				   .experiment_id = exp,
				   .user_id = "tester",
				   .run_name = "first-run",
				   .start_time = 4242,
				   .tags = tags,
				   .ntags = 3,
				   .status = "RUNNING",
				   .artifact_path = want};
	OK(run_create_j(f->s, &cr, &out, E));
	assert_string_equal(jstr(out, "info.run_id"), id);
	assert_string_equal(jstr(out, "info.run_uuid"), id);
	assert_true(is_hex32(jstr(out, "info.run_id")));
	assert_string_equal(jstr(out, "info.run_name"), "first-run");
	assert_string_equal(jstr(out, "info.experiment_id"), exp);
	assert_string_equal(jstr(out, "info.user_id"), "tester");
	assert_string_equal(jstr(out, "info.status"), "RUNNING");
	assert_string_equal(jstr(out, "info.lifecycle_stage"), "active");
	assert_int_equal(json_integer_value(jget(out, "info.start_time")), 4242);
	assert_null(jget(out, "info.end_time"));
	snprintf(want, sizeof want, "file:///root/%s/%s/artifacts", exp, id);
	assert_string_equal(jstr(out, "info.artifact_uri"), want);
	json_t *t = jget(out, "data.tags");
	assert_int_equal(json_array_size(t), 3);
	assert_string_equal(kv_find(t, "team"), "core");
	assert_string_equal(kv_find(t, "mlflow.user"), "tester");
	assert_string_equal(kv_find(t, "empty"), "");
	assert_null(jget(out, "data.metrics"));
	assert_null(jget(out, "data.params"));

	/* get returns the same entity */
	r = get_run(f->s, id);
	assert_true(json_equal(r, out));
	json_decref(r);
	json_decref(out);

	FAILS(MW_E_NOT_FOUND, run_get_j(f->s, "0123456789abcdef0123456789abcdef", &r, E));
	/* a run in a missing experiment */
	{
		char rid[33];
		assert_int_equal(mw_id_hex32(rid, &e), 0);
		struct mw_run_create bad = {.run_id = rid,
					    .experiment_id = "9999",
					    .start_time = 1,
					    .status = "RUNNING"};
		out = NULL;
		FAILS(MW_E_NOT_FOUND, run_create_j(f->s, &bad, &out, E));
		assert_null(out);
	}

	/* update */
	OK(run_update_j(f->s, id, "FINISHED", 5000, "renamed", &out, E));
	assert_string_equal(jstr(out, "status"), "FINISHED");
	assert_int_equal(json_integer_value(json_object_get(out, "end_time")), 5000);
	assert_string_equal(jstr(out, "run_name"), "renamed");
	assert_string_equal(jstr(out, "run_id"), id);
	json_decref(out);
	r = get_run(f->s, id);
	assert_string_equal(jstr(r, "info.status"), "FINISHED");
	assert_string_equal(jstr(r, "info.run_name"), "renamed");
	assert_string_equal(kv_find(jget(r, "data.tags"), "mlflow.runName"), "renamed");
	json_decref(r);
	/* nothing to change: unchanged */
	OK(run_update_j(f->s, id, NULL, -1, NULL, &out, E));
	assert_string_equal(jstr(out, "status"), "FINISHED");
	assert_int_equal(json_integer_value(json_object_get(out, "end_time")), 5000);
	assert_string_equal(jstr(out, "run_name"), "renamed");
	json_decref(out);
	OK(run_update_j(f->s, id, "KILLED", -1, NULL, &out, E));
	assert_string_equal(jstr(out, "status"), "KILLED");
	assert_int_equal(json_integer_value(json_object_get(out, "end_time")), 5000);
	json_decref(out);
	out = NULL;
	FAILS(MW_E_NOT_FOUND,
	      run_update_j(f->s, "ffffffffffffffffffffffffffffffff", "FINISHED", 1, NULL, &out, E));
	assert_null(out);

	/* tags: delete, missing tag */
	OK(mw_store_run_delete_tag(f->s, id, "team", E));
	FAILS(MW_E_NOT_FOUND, mw_store_run_delete_tag(f->s, id, "team", E));
	r = get_run(f->s, id);
	assert_null(kv_find(jget(r, "data.tags"), "team"));
	json_decref(r);
}

static void test_log_batch_params_rollback(void **state)
{
	struct fx *f = *state;
	char id[33];
	json_t *r;

	new_run(f->s, "0", id);
	struct mw_kv p1[] = { { "a", "1" } };
	OK(log_batch(f->s, id, NULL, 0, p1, 1, NULL, 0, E));
	/* the same value again is fine */
	OK(log_batch(f->s, id, NULL, 0, p1, 1, NULL, 0, E));
	struct mw_kv t1[] = { { "t", "before" } };
	OK(log_batch(f->s, id, NULL, 0, NULL, 0, t1, 1, E));

	/* a different value fails the whole batch */
	struct mw_metric m[] = { { .key = "m1", .value = 1.0, .timestamp = 10, .step = 0 } };
	struct mw_kv p2[] = { { "b", "2" }, { "a", "2" } };
	struct mw_kv t2[] = { { "t", "after" }, { "t2", "x" } };
	{
		struct mw_err err = { 0 };
		int rc = log_batch(f->s, id, m, 1, p2, 2, t2, 2, &err);
		assert_int_equal(rc, -MW_E_CONFLICT);
		assert_int_equal(err.code, MW_E_CONFLICT);
		assert_int_equal(err.detail, MW_STORE_PARAM);
		assert_non_null(strstr(err.msg, "'a'"));
	}
	r = get_run(f->s, id);
	json_t *params = jget(r, "data.params");
	assert_int_equal(json_array_size(params), 1);
	assert_string_equal(kv_find(params, "a"), "1");
	assert_null(kv_find(params, "b"));
	assert_string_equal(kv_find(jget(r, "data.tags"), "t"), "before");
	assert_null(kv_find(jget(r, "data.tags"), "t2"));
	assert_null(metric_find(r, "m1"));
	json_decref(r);
	assert_int_equal(history_count(f->s, id, "m1"), 0);

	/* the store is still healthy: a good batch afterwards succeeds in full */
	struct mw_kv p3[] = { { "b", "2" }, { "a", "1" }, { "c", "" } };
	OK(log_batch(f->s, id, m, 1, p3, 3, t2, 2, E));
	r = get_run(f->s, id);
	params = jget(r, "data.params");
	assert_int_equal(json_array_size(params), 3);
	assert_string_equal(kv_find(params, "b"), "2");
	assert_string_equal(kv_find(params, "c"), "");
	assert_string_equal(kv_find(jget(r, "data.tags"), "t"), "after");
	assert_string_equal(kv_find(jget(r, "data.tags"), "t2"), "x");
	assert_non_null(metric_find(r, "m1"));
	json_decref(r);

	/* a missing run */
	FAILS(MW_E_NOT_FOUND,
	      log_batch(f->s, "00000000000000000000000000000000", m, 1, NULL, 0, NULL, 0, E));
	struct mw_store_stats st;
	mw_store_stats(f->s, &st);
	assert_int_equal(st.failed_jobs, 2);
}

static void test_log_batch_run_name_tag(void **state)
{
	struct fx *f = *state;
	char id[33];
	json_t *r;

	new_run(f->s, "0", id);
	/* the run-name tag is the run's name (track passes it as run_name) */
	struct mw_kv t[] = { { "other", "x" }, { "mlflow.runName", "via-tag" } };
	OK(mw_store_run_log_batch(f->s, id, NULL, 0, NULL, 0, t, 2, "via-tag", E));
	r = get_run(f->s, id);
	assert_string_equal(jstr(r, "info.run_name"), "via-tag");
	assert_string_equal(kv_find(jget(r, "data.tags"), "mlflow.runName"), "via-tag");
	json_decref(r);
	/* ...and a failed batch renames nothing */
	struct mw_kv p1 = { "p", "1" }, p2 = { "p", "2" };
	struct mw_kv t2 = { "mlflow.runName", "never" };
	OK(log_batch(f->s, id, NULL, 0, &p1, 1, NULL, 0, E));
	FAILS(MW_E_CONFLICT, mw_store_run_log_batch(f->s, id, NULL, 0, &p2, 1, &t2, 1, "never", E));
	r = get_run(f->s, id);
	assert_string_equal(jstr(r, "info.run_name"), "via-tag");
	json_decref(r);
	/* run_update renames both */
	json_t *out = NULL;
	OK(run_update_j(f->s, id, NULL, -1, "via-update", &out, E));
	json_decref(out);
	r = get_run(f->s, id);
	assert_string_equal(jstr(r, "info.run_name"), "via-update");
	assert_string_equal(kv_find(jget(r, "data.tags"), "mlflow.runName"), "via-update");
	json_decref(r);
}

static void test_log_batch_tags_dedup(void **state)
{
	struct fx *f = *state;
	char id[33];
	json_t *r;

	new_run(f->s, "0", id);
	struct mw_kv t1[] = { { "t", "1" } }, t2[] = { { "t", "2" } };
	OK(log_batch(f->s, id, NULL, 0, NULL, 0, t1, 1, E));
	OK(log_batch(f->s, id, NULL, 0, NULL, 0, t2, 1, E));
	r = get_run(f->s, id);
	assert_string_equal(kv_find(jget(r, "data.tags"), "t"), "2");
	json_decref(r);

	/* exact duplicate metric points are kept once, within and across batches */
	struct mw_metric d[] = {
		{ .key = "d", .value = 1.0, .timestamp = 5, .step = 1 },
		{ .key = "d", .value = 1.0, .timestamp = 5, .step = 1 },
		{ .key = "d", .value = 1.0, .timestamp = 5, .step = 1 },
	};
	OK(log_batch(f->s, id, d, 3, NULL, 0, NULL, 0, E));
	OK(log_batch(f->s, id, d, 1, NULL, 0, NULL, 0, E));
	assert_int_equal(history_count(f->s, id, "d"), 1);
	/* differing in any of step, timestamp or value: a new point */
	log_metric(f->s, id, "d", 1.0, 5, 2);
	log_metric(f->s, id, "d", 1.0, 6, 1);
	log_metric(f->s, id, "d", 1.5, 5, 1);
	assert_int_equal(history_count(f->s, id, "d"), 4);
	log_metric(f->s, id, "d", 1.5, 5, 1);
	assert_int_equal(history_count(f->s, id, "d"), 4);
}

static void test_nan_inf(void **state)
{
	struct fx *f = *state;
	char id[33];
	json_t *r, *h;

	new_run(f->s, "0", id);
	struct mw_metric m[] = {
		{ .key = "n", .value = NAN, .timestamp = 1, .step = 0 },
		{ .key = "n", .value = NAN, .timestamp = 1, .step = 0 },
		{ .key = "pinf", .value = INFINITY, .timestamp = 1, .step = 0 },
		{ .key = "ninf", .value = -INFINITY, .timestamp = 1, .step = 0 },
		{ .key = "big", .value = 1.7976931348623157e308, .timestamp = 1, .step = 0 },
		{ .key = "neg0", .value = -0.0, .timestamp = 1, .step = 0 },
	};
	OK(log_batch(f->s, id, m, 6, NULL, 0, NULL, 0, E));
	r = get_run(f->s, id);
	assert_string_equal(jstr(metric_find(r, "n"), "value"), "NaN");
	assert_string_equal(jstr(metric_find(r, "pinf"), "value"), "Infinity");
	assert_string_equal(jstr(metric_find(r, "ninf"), "value"), "-Infinity");
	assert_true(json_real_value(json_object_get(metric_find(r, "big"), "value")) ==
		    1.7976931348623157e308);
	assert_true(json_number_value(json_object_get(metric_find(r, "neg0"), "value")) == 0.0);
	json_decref(r);

	h = history(f->s, id, "n", 100, 0, NULL);
	assert_int_equal(json_array_size(h), 1); /* NaN twice is one point */
	assert_string_equal(jstr(json_array_get(h, 0), "value"), "NaN");
	json_decref(h);
	h = history(f->s, id, "pinf", 100, 0, NULL);
	assert_string_equal(jstr(json_array_get(h, 0), "value"), "Infinity");
	json_decref(h);
	h = history(f->s, id, "ninf", 100, 0, NULL);
	assert_string_equal(jstr(json_array_get(h, 0), "value"), "-Infinity");
	json_decref(h);
	/* NaN is not 0: a real 0 at the same step/timestamp is another point */
	log_metric(f->s, id, "n", 0.0, 1, 0);
	log_metric(f->s, id, "n", NAN, 1, 0);
	assert_int_equal(history_count(f->s, id, "n"), 2);
	/* ...and Inf is not the largest double */
	log_metric(f->s, id, "pinf", 1.7976931348623157e308, 1, 0);
	assert_int_equal(history_count(f->s, id, "pinf"), 2);

	/* a later NaN becomes the latest value */
	log_metric(f->s, id, "x", 3.0, 1, 0);
	log_metric(f->s, id, "x", NAN, 1, 1);
	r = get_run(f->s, id);
	assert_string_equal(jstr(metric_find(r, "x"), "value"), "NaN");
	json_decref(r);
	log_metric(f->s, id, "x", 4.0, 1, 2);
	r = get_run(f->s, id);
	assert_true(json_number_value(json_object_get(metric_find(r, "x"), "value")) == 4.0);
	json_decref(r);
}

/* The records themselves (no shaping): values, presence flags, order, and
 * what each failure says it is about. */
static void test_records_and_details(void **state)
{
	struct fx *f = *state;
	char exp[32], id[33];
	struct mw_run r;
	struct mw_err e = {0};

	new_exp(f->s, "records", exp);
	new_run(f->s, exp, id);
	struct mw_metric m[] = {{.key = "b", .value = NAN, .timestamp = 1, .step = 0},
				{.key = "a", .value = -INFINITY, .timestamp = 2, .step = 3}};
	struct mw_kv t[] = {{"z", "1"}, {"y", NULL}};
	OK(log_batch(f->s, id, m, 2, NULL, 0, t, 2, E));
	OK(mw_store_run_get(f->s, id, A, &r, E));
	assert_string_equal(r.info.run_id, id);
	assert_string_equal(r.info.experiment_id, exp);
	assert_string_equal(r.info.status, "RUNNING");
	assert_true(r.info.has_start_time);
	assert_false(r.info.has_end_time);
	assert_int_equal(r.nmetrics, 2);
	assert_string_equal(r.metrics[0].key, "a"); /* by key */
	assert_true(isinf(r.metrics[0].value) && r.metrics[0].value < 0);
	assert_int_equal(r.metrics[0].step, 3);
	assert_true(isnan(r.metrics[1].value));
	assert_null(r.metrics[0].run_id);
	assert_int_equal(r.ntags, 2);
	assert_string_equal(r.tags[0].key, "y");
	assert_string_equal(r.tags[0].value, ""); /* a missing value reads as "" */
	assert_int_equal(r.nparams, 0);
	assert_null(r.params);
	assert_int_equal(r.ndatasets + r.nmodel_inputs + r.nmodel_outputs, 0);

	/* what the failures are about */
	assert_int_equal(mw_store_run_delete_tag(f->s, id, "nope", &e), -MW_E_NOT_FOUND);
	assert_int_equal(e.detail, MW_STORE_TAG);
	assert_int_equal(mw_store_run_delete_tag(f->s, "0123", "z", &e), -MW_E_NOT_FOUND);
	assert_int_equal(e.detail, MW_STORE_RUN);
	assert_int_equal(mw_store_exp_delete_tag(f->s, exp, "nope", &e), -MW_E_NOT_FOUND);
	assert_int_equal(e.detail, MW_STORE_TAG);
	char dup[32];
	assert_int_equal(mw_store_exp_create(f->s, "records", NULL, "/r", NULL, 0, 1, dup, &e),
			 -MW_E_EXISTS);
	assert_int_equal(e.detail, MW_STORE_EXPERIMENT);
	OK(mw_store_exp_set_deleted(f->s, exp, true, 2, E));
	assert_int_equal(mw_store_exp_set_tag(f->s, exp, "k", "v", &e), -MW_E_INVALID);
	assert_int_equal(e.detail, MW_STORE_EXPERIMENT);
	assert_int_equal(mw_store_run_log_batch(f->s, id, m, 1, NULL, 0, NULL, 0, NULL, &e),
			 -MW_E_INVALID);
	assert_int_equal(e.detail, MW_STORE_RUN);
	struct mw_logged_model lm;
	assert_int_equal(mw_store_lm_get(f->s, "m-none", A, &lm, &e), -MW_E_NOT_FOUND);
	assert_int_equal(e.detail, MW_STORE_LOGGED_MODEL);
	/* an error set by mw_err_set says nothing more */
	mw_err_set(&e, MW_E_IO, "x");
	assert_int_equal(e.detail, 0);
}

static void check_latest(struct mw_store *s, const char *id, const char *key, double v,
			 int64_t ts, int64_t step)
{
	json_t *r = get_run(s, id), *m = metric_find(r, key);

	if (!m)
		fail_msg("no latest metric %s", key);
	if (json_number_value(json_object_get(m, "value")) != v ||
	    json_integer_value(json_object_get(m, "timestamp")) != ts ||
	    json_integer_value(json_object_get(m, "step")) != step)
		fail_msg("latest %s: got (v=%g ts=%lld step=%lld), want (v=%g ts=%lld step=%lld)",
			 key, json_number_value(json_object_get(m, "value")),
			 (long long)json_integer_value(json_object_get(m, "timestamp")),
			 (long long)json_integer_value(json_object_get(m, "step")), v,
			 (long long)ts, (long long)step);
	json_decref(r);
}

static void test_latest_metric(void **state)
{
	struct fx *f = *state;
	char id[33];

	new_run(f->s, "0", id);
	/* across batches: max by (step, timestamp, value) */
	log_metric(f->s, id, "loss", 5, 100, 1);
	check_latest(f->s, id, "loss", 5, 100, 1);
	log_metric(f->s, id, "loss", 1, 50, 2);      /* higher step wins over newer time */
	check_latest(f->s, id, "loss", 1, 50, 2);
	log_metric(f->s, id, "loss", 100, 999, 1);   /* lower step never wins */
	check_latest(f->s, id, "loss", 1, 50, 2);
	log_metric(f->s, id, "loss", 0.5, 50, 2);    /* same step and time, lower value */
	check_latest(f->s, id, "loss", 1, 50, 2);
	log_metric(f->s, id, "loss", 2, 50, 2);      /* same step and time, higher value */
	check_latest(f->s, id, "loss", 2, 50, 2);
	log_metric(f->s, id, "loss", -7, 51, 2);     /* same step, later time */
	check_latest(f->s, id, "loss", -7, 51, 2);
	log_metric(f->s, id, "loss", -8, 1, -5);     /* negative steps are lower */
	check_latest(f->s, id, "loss", -7, 51, 2);

	/* within one batch, in any order */
	struct mw_metric m[] = {
		{ .key = "acc", .value = 0.1, .timestamp = 10, .step = 3 },
		{ .key = "acc", .value = 0.2, .timestamp = 1, .step = 5 },
		{ .key = "b", .value = 9, .timestamp = 9, .step = 9 },
		{ .key = "acc", .value = 0.15, .timestamp = 1, .step = 5 },
		{ .key = "acc", .value = 0.9, .timestamp = 100, .step = 4 },
		{ .key = "b", .value = 1, .timestamp = 10, .step = 9 },
	};
	OK(log_batch(f->s, id, m, 6, NULL, 0, NULL, 0, E));
	check_latest(f->s, id, "acc", 0.2, 1, 5);
	check_latest(f->s, id, "b", 1, 10, 9);
	/* a batch whose best point is older than the stored latest changes nothing */
	struct mw_metric m2[] = {
		{ .key = "acc", .value = 50, .timestamp = 1000, .step = 4 },
		{ .key = "acc", .value = 60, .timestamp = 1000, .step = 1 },
	};
	OK(log_batch(f->s, id, m2, 2, NULL, 0, NULL, 0, E));
	check_latest(f->s, id, "acc", 0.2, 1, 5);
	assert_int_equal(history_count(f->s, id, "acc"), 6);
}

static void test_deleted_run(void **state)
{
	struct fx *f = *state;
	char id[33];
	json_t *r, *out = NULL;

	new_run(f->s, "0", id);
	OK(mw_store_run_set_deleted(f->s, id, true, 7000, E));
	r = get_run(f->s, id);
	assert_string_equal(jstr(r, "info.lifecycle_stage"), "deleted");
	json_decref(r);

	struct mw_metric m = { .key = "x", .value = 1, .timestamp = 1, .step = 0 };
	struct mw_kv p = { "p", "v" }, t = { "t", "v" };
	FAILS(MW_E_INVALID, log_batch(f->s, id, &m, 1, NULL, 0, NULL, 0, E));
	FAILS(MW_E_INVALID, log_batch(f->s, id, NULL, 0, &p, 1, NULL, 0, E));
	FAILS(MW_E_INVALID, log_batch(f->s, id, NULL, 0, NULL, 0, &t, 1, E));
	FAILS(MW_E_INVALID, log_batch(f->s, id, NULL, 0, NULL, 0, NULL, 0, E));
	FAILS(MW_E_INVALID, run_update_j(f->s, id, "FINISHED", 1, NULL, &out, E));
	assert_null(out);
	FAILS(MW_E_INVALID, mw_store_run_delete_tag(f->s, id, "t", E));
	struct mw_model_ref mr = { "m-00000000000000000000000000000000", 1 };
	FAILS(MW_E_INVALID, mw_store_run_log_outputs(f->s, id, &mr, 1, E));
	FAILS(MW_E_INVALID, mw_store_run_log_inputs(f->s, id, NULL, 0, &mr, 1, E));
	assert_int_equal(history_count(f->s, id, "x"), 0);

	OK(mw_store_run_set_deleted(f->s, id, false, 8000, E));
	r = get_run(f->s, id);
	assert_string_equal(jstr(r, "info.lifecycle_stage"), "active");
	json_decref(r);
	OK(log_batch(f->s, id, &m, 1, &p, 1, &t, 1, E));
	assert_int_equal(history_count(f->s, id, "x"), 1);
	FAILS(MW_E_NOT_FOUND, mw_store_run_set_deleted(f->s, "nope", true, 1, E));
}

static void check_steps(json_t *h, int64_t first, size_t n)
{
	assert_int_equal(json_array_size(h), n);
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_array_get(h, i);
		assert_int_equal(json_integer_value(json_object_get(p, "step")), first + (int64_t)i);
		assert_string_equal(jstr(p, "key"), "h");
		assert_true(json_number_value(json_object_get(p, "value")) ==
			    (double)(first + (int64_t)i) * 0.5);
		assert_int_equal(json_integer_value(json_object_get(p, "timestamp")),
				 100 + first + (int64_t)i);
	}
}

static void test_metric_history_paging(void **state)
{
	struct fx *f = *state;
	char id[33];
	struct mw_metric m[25];
	json_t *h;
	bool more;

	new_run(f->s, "0", id);
	/* logged in reverse order: history is ordered by step */
	for (int i = 0; i < 25; i++) {
		int s = 24 - i;
		m[i] = (struct mw_metric){ .key = "h", .value = s * 0.5, .timestamp = 100 + s,
					   .step = s };
	}
	OK(log_batch(f->s, id, m, 25, NULL, 0, NULL, 0, E));

	h = history(f->s, id, "h", 10, 0, &more);
	check_steps(h, 0, 10);
	assert_true(more);
	json_decref(h);
	h = history(f->s, id, "h", 10, 10, &more);
	check_steps(h, 10, 10);
	assert_true(more);
	json_decref(h);
	h = history(f->s, id, "h", 10, 20, &more);
	check_steps(h, 20, 5);
	assert_false(more);
	json_decref(h);
	h = history(f->s, id, "h", 10, 15, &more); /* ends exactly at the last point */
	check_steps(h, 15, 10);
	assert_false(more);
	json_decref(h);
	h = history(f->s, id, "h", 10, 25, &more);
	assert_int_equal(json_array_size(h), 0);
	assert_false(more);
	json_decref(h);
	h = history(f->s, id, "h", 25, 0, &more);
	check_steps(h, 0, 25);
	assert_false(more);
	json_decref(h);
	h = history(f->s, id, "h", 24, 0, &more);
	check_steps(h, 0, 24);
	assert_true(more);
	json_decref(h);

	/* same step: ordered by timestamp, then value */
	log_metric(f->s, id, "s", 3, 20, 1);
	log_metric(f->s, id, "s", 2, 10, 1);
	log_metric(f->s, id, "s", 1, 10, 1);
	h = history(f->s, id, "s", 10, 0, &more);
	assert_int_equal(json_array_size(h), 3);
	assert_true(json_number_value(json_object_get(json_array_get(h, 0), "value")) == 1);
	assert_true(json_number_value(json_object_get(json_array_get(h, 1), "value")) == 2);
	assert_true(json_number_value(json_object_get(json_array_get(h, 2), "value")) == 3);
	json_decref(h);

	/* a key never logged is empty; a missing run is not found */
	h = history(f->s, id, "never", 10, 0, &more);
	assert_int_equal(json_array_size(h), 0);
	assert_false(more);
	json_decref(h);
	struct mw_page pg = {.max_results = 10, .offset = 0};
	FAILS(MW_E_NOT_FOUND, history_j(f->s, "nope", "h", &pg, &h, &more, E));

	/* bulk and sampled views of the same points */
	const char *ids[] = { id };
	OK(bulk_j(f->s, ids, 1, "h", 7, &h, E));
	assert_int_equal(json_array_size(h), 7);
	assert_string_equal(jstr(json_array_get(h, 0), "run_id"), id);
	json_decref(h);
	OK(sampled_j(f->s, ids, 1, "h", false, 0, 0, 5, &h, E));
	assert_true(json_array_size(h) >= 5 && json_array_size(h) <= 6);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(h, 0), "step")), 0);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(h, json_array_size(h) - 1), "step")),
			 24);
	json_decref(h);
	OK(sampled_j(f->s, ids, 1, "h", true, 5, 9, 100, &h, E));
	assert_int_equal(json_array_size(h), 5);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(h, 0), "step")), 5);
	json_decref(h);
}

/* ------------------------------------------------------------ search */

static const char *run_at(json_t *out, size_t i)
{
	return jstr(json_array_get(json_object_get(out, "runs"), i), "info.run_id");
}

static size_t nruns(json_t *out)
{
	return json_array_size(json_object_get(out, "runs"));
}

static void test_run_search(void **state)
{
	struct fx *f = *state;
	char exp[32], r[5][33];
	static const double rmse[] = { 0.1, 0.2, 0.3, 0.4, -1 };
	static const char *lr[] = { "0.1", "0.1", "0.2", "0.1", "0.1" };
	static const char *team[] = { "ml-core", "ml-infra", "data", "ml-core", "ml-x" };
	const char *exps[1];
	struct mw_page pg = {.max_results = 100, .offset = 0};
	json_t *out;
	bool more;

	new_exp(f->s, "search-exp", exp);
	exps[0] = exp;
	/* a run in another experiment that would match everything */
	char other[33];
	new_run(f->s, "0", other);
	for (int i = 0; i < 5; i++) {
		new_run_at(f->s, exp, 1000 + i, NULL, 0, r[i]);
		struct mw_metric m = { .key = "rmse", .value = rmse[i], .timestamp = 1, .step = 0 };
		struct mw_kv p = { "lr", lr[i] }, t = { "team", team[i] };
		OK(log_batch(f->s, r[i], &m, rmse[i] < 0 ? 0 : 1, &p, 1, &t, 1, E));
	}
	struct mw_metric om = { .key = "rmse", .value = 0.9, .timestamp = 1, .step = 0 };
	struct mw_kv op = { "lr", "0.1" }, ot = { "team", "ml-core" };
	OK(log_batch(f->s, other, &om, 1, &op, 1, &ot, 1, E));

	/* no filter, default order: start_time DESC */
	OK(run_search_j(f->s, exps, 1, NULL, NULL, 0, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 5);
	assert_false(more);
	for (int i = 0; i < 5; i++)
		assert_string_equal(run_at(out, (size_t)i), r[4 - i]);
	/* entities are complete runs */
	json_t *first = json_array_get(json_object_get(out, "runs"), 0);
	assert_string_equal(kv_find(jget(first, "data.params"), "lr"), "0.1");
	json_decref(out);

	/* metric >, param =, tag LIKE; metric DESC (the joined-metric plan) */
	struct mw_clause c[] = {
		{ .kind = MW_KEY_METRIC, .key = "rmse", .cmp = MW_CMP_GT, .is_num = true,
		  .num = 0.15, .inum = 0 },
		{ .kind = MW_KEY_PARAM, .key = "lr", .cmp = MW_CMP_EQ, .str = "0.1" },
		{ .kind = MW_KEY_TAG, .key = "team", .cmp = MW_CMP_LIKE, .str = "ml%" },
	};
	struct mw_filter flt = { c, 3 };
	struct mw_order desc = { MW_KEY_METRIC, "rmse", false };
	OK(run_search_j(f->s, exps, 1, &flt, &desc, 1, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 2);
	assert_string_equal(run_at(out, 0), r[3]);
	assert_string_equal(run_at(out, 1), r[1]);
	json_decref(out);
	/* paging through the same search */
	struct mw_page p1 = {.max_results = 1, .offset = 0}, p2 = {.max_results = 1, .offset = 1};
	OK(run_search_j(f->s, exps, 1, &flt, &desc, 1, MW_VIEW_ACTIVE, &p1, &out, &more, E));
	assert_int_equal(nruns(out), 1);
	assert_string_equal(run_at(out, 0), r[3]);
	assert_true(more);
	json_decref(out);
	OK(run_search_j(f->s, exps, 1, &flt, &desc, 1, MW_VIEW_ACTIVE, &p2, &out, &more, E));
	assert_int_equal(nruns(out), 1);
	assert_string_equal(run_at(out, 0), r[1]);
	assert_false(more);
	json_decref(out);

	/* tag LIKE only, ordered by the metric (a LEFT JOIN): missing metric last */
	struct mw_filter tag_only = { &c[2], 1 };
	OK(run_search_j(f->s, exps, 1, &tag_only, &desc, 1, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 4);
	assert_string_equal(run_at(out, 0), r[3]);
	assert_string_equal(run_at(out, 1), r[1]);
	assert_string_equal(run_at(out, 2), r[0]);
	assert_string_equal(run_at(out, 3), r[4]);
	json_decref(out);
	struct mw_order asc = { MW_KEY_METRIC, "rmse", true };
	OK(run_search_j(f->s, exps, 1, &tag_only, &asc, 1, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 4);
	assert_string_equal(run_at(out, 0), r[0]);
	assert_string_equal(run_at(out, 1), r[1]);
	assert_string_equal(run_at(out, 2), r[3]);
	assert_string_equal(run_at(out, 3), r[4]);
	json_decref(out);

	/* LIKE is case-sensitive, ILIKE is not */
	struct mw_clause like_uc = { .kind = MW_KEY_TAG, .key = "team", .cmp = MW_CMP_LIKE,
				     .str = "ML%" };
	struct mw_filter f_uc = { &like_uc, 1 };
	OK(run_search_j(f->s, exps, 1, &f_uc, NULL, 0, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 0);
	json_decref(out);
	like_uc.cmp = MW_CMP_ILIKE;
	OK(run_search_j(f->s, exps, 1, &f_uc, NULL, 0, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 4);
	json_decref(out);

	/* metric <=, with an integral bound; param != ; run_id IN */
	struct mw_clause c2[] = {
		{ .kind = MW_KEY_METRIC, .key = "rmse", .cmp = MW_CMP_LE, .is_num = true, .num = 1,
		  .inum = 1 },
		{ .kind = MW_KEY_PARAM, .key = "lr", .cmp = MW_CMP_NE, .str = "0.2" },
	};
	struct mw_filter f2 = { c2, 2 };
	struct mw_order by_start = { MW_KEY_ATTR, "start_time", true };
	OK(run_search_j(f->s, exps, 1, &f2, &by_start, 1, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 3);
	assert_string_equal(run_at(out, 0), r[0]);
	assert_string_equal(run_at(out, 1), r[1]);
	assert_string_equal(run_at(out, 2), r[3]);
	json_decref(out);
	const char *in_list[] = { r[2], r[4], "not-a-run" };
	struct mw_clause cin = { .kind = MW_KEY_ATTR, .key = "run_id", .cmp = MW_CMP_IN,
				 .list = in_list, .nlist = 3 };
	struct mw_filter fin = { &cin, 1 };
	OK(run_search_j(f->s, exps, 1, &fin, &by_start, 1, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 2);
	assert_string_equal(run_at(out, 0), r[2]);
	assert_string_equal(run_at(out, 1), r[4]);
	json_decref(out);

	/* two experiments at once */
	const char *both[] = { exp, "0" };
	OK(run_search_j(f->s, both, 2, &flt, &desc, 1, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 3);
	assert_string_equal(run_at(out, 0), other);
	json_decref(out);

	/* views */
	OK(mw_store_run_set_deleted(f->s, r[0], true, 9000, E));
	OK(run_search_j(f->s, exps, 1, &tag_only, NULL, 0, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 3);
	json_decref(out);
	OK(run_search_j(f->s, exps, 1, &tag_only, NULL, 0, MW_VIEW_DELETED, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 1);
	assert_string_equal(run_at(out, 0), r[0]);
	json_decref(out);
	OK(run_search_j(f->s, exps, 1, &tag_only, NULL, 0, MW_VIEW_ALL, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 4);
	json_decref(out);

	/* nothing matches: an object without runs */
	struct mw_clause none = { .kind = MW_KEY_PARAM, .key = "lr", .cmp = MW_CMP_EQ,
				  .str = "0.7" };
	struct mw_filter fnone = { &none, 1 };
	OK(run_search_j(f->s, exps, 1, &fnone, NULL, 0, MW_VIEW_ALL, &pg, &out, &more, E));
	assert_true(json_is_object(out));
	assert_int_equal(nruns(out), 0);
	assert_false(more);
	json_decref(out);
}

static void expect_order(struct mw_store *s, const char *exp, const struct mw_filter *f,
			 const struct mw_order *o, char ids[][33], const int *want, size_t n)
{
	const char *exps[] = { exp };
	struct mw_page pg = {.max_results = 100, .offset = 0};
	json_t *out = NULL;
	bool more;

	OK(run_search_j(s, exps, 1, f, o, o ? 1 : 0, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	if (nruns(out) != n)
		fail_msg("order %s %s: %zu runs, want %zu", o ? o->key : "-",
			 o && o->asc ? "ASC" : "DESC", nruns(out), n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(run_at(out, i), ids[want[i]]))
			fail_msg("order %s %s: position %zu is not run %d", o ? o->key : "-",
				 o && o->asc ? "ASC" : "DESC", i, want[i]);
	json_decref(out);
}

/* A page's take (search.h) sees each record as soon as it is read, with its
 * row in the whole listing; MW_PAGE_FULL ends the page before that record
 * (more: the next page starts at its row), an error ends the listing. */
struct taker {
	int64_t rows[64];
	size_t n;
	size_t refuse_at; /* the nth record offered (0-based) is refused */
	int refuse_with;
};

static int take_some(void *ud, const void *rec, int64_t row, struct mw_err *err)
{
	struct taker *t = ud;
	assert_non_null(rec);
	t->rows[t->n] = row;
	if (t->n++ == t->refuse_at)
		return t->refuse_with < 0 ? mw_err_set(err, -t->refuse_with, "no more")
					  : t->refuse_with;
	return 0;
}

static void test_page_take(void **state)
{
	struct fx *f = *state;
	char exp[32], r[10][33];
	const char *exps[1];
	json_t *out;
	bool more;

	new_exp(f->s, "take-exp", exp);
	exps[0] = exp;
	for (int i = 0; i < 10; i++)
		new_run_at(f->s, exp, 1000 + i, NULL, 0, r[i]);
	/* the 4th record of a page from row 2 does not fit: 3 runs, more, rows 2..5 seen */
	struct taker t = {.refuse_at = 3, .refuse_with = MW_PAGE_FULL};
	struct mw_page pg = {.max_results = 100, .offset = 2, .take = take_some, .ud = &t};
	OK(run_search_j(f->s, exps, 1, NULL, NULL, 0, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 3);
	assert_true(more);
	assert_int_equal(t.n, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(t.rows[i], 2 + (int64_t)i);
	assert_string_equal(run_at(out, 0), r[7]); /* start_time DESC from row 2 */
	json_decref(out);
	/* the next page starts at the refused row */
	t = (struct taker){.refuse_at = 100};
	pg.offset = 5;
	OK(run_search_j(f->s, exps, 1, NULL, NULL, 0, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 5);
	assert_false(more);
	assert_string_equal(run_at(out, 0), r[4]);
	json_decref(out);
	/* an error from take is the listing's */
	t = (struct taker){.refuse_at = 0, .refuse_with = -MW_E_TOO_LARGE};
	pg.offset = 0;
	FAILS(MW_E_TOO_LARGE,
	      run_search_j(f->s, exps, 1, NULL, NULL, 0, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	/* experiments and metric histories page the same way */
	t = (struct taker){.refuse_at = 1, .refuse_with = MW_PAGE_FULL};
	OK(exp_search_j(f->s, NULL, NULL, 0, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_true(more);
	assert_int_equal(t.n, 2);
	json_decref(out);
	struct mw_metric m[6];
	for (int i = 0; i < 6; i++)
		m[i] = (struct mw_metric){.key = "h", .value = i, .timestamp = 1, .step = i};
	OK(log_batch(f->s, r[0], m, 6, NULL, 0, NULL, 0, E));
	t = (struct taker){.refuse_at = 2, .refuse_with = MW_PAGE_FULL};
	pg.offset = 1;
	OK(history_j(f->s, r[0], "h", &pg, &out, &more, E));
	assert_int_equal(json_array_size(out), 2);
	assert_true(more);
	assert_int_equal(t.rows[2], 3); /* the next page starts at step 3 */
	json_decref(out);
	t = (struct taker){.refuse_at = 0, .refuse_with = -MW_E_TOO_LARGE};
	FAILS(MW_E_TOO_LARGE, history_j(f->s, r[0], "h", &pg, &out, &more, E));
}

static void test_run_search_order_special(void **state)
{
	struct fx *f = *state;
	char exp[32], r[5][33];
	/* a: 0.5, b: NaN, c: no metric, d: 1.5, e: -Inf */
	static const double v[] = { 0.5, NAN, 0, 1.5, -INFINITY };
	static const char *pv[] = { "b", "a", NULL, "c", NULL };

	new_exp(f->s, "order-exp", exp);
	for (int i = 0; i < 5; i++) {
		new_run_at(f->s, exp, 100 + i, NULL, 0, r[i]);
		struct mw_metric m = { .key = "rmse", .value = v[i], .timestamp = 1, .step = 0 };
		struct mw_kv p = { "opt", pv[i] };
		OK(log_batch(f->s, r[i], &m, i == 2 ? 0 : 1, &p, pv[i] ? 1 : 0, NULL, 0, E));
	}
	/* numbers (with infinities) first, then NaN, then missing; both directions */
	struct mw_order desc = { MW_KEY_METRIC, "rmse", false }, asc = { MW_KEY_METRIC, "rmse",
									  true };
	static const int want_desc[] = { 3, 0, 4, 1, 2 }, want_asc[] = { 4, 0, 3, 1, 2 };
	expect_order(f->s, exp, NULL, &desc, r, want_desc, 5);
	expect_order(f->s, exp, NULL, &asc, r, want_asc, 5);
	/* params: missing last in both directions */
	struct mw_order pdesc = { MW_KEY_PARAM, "opt", false }, pasc = { MW_KEY_PARAM, "opt", true };
	static const int want_pdesc[] = { 3, 0, 1, 4, 2 }, want_pasc[] = { 1, 0, 3, 4, 2 };
	expect_order(f->s, exp, NULL, &pdesc, r, want_pdesc, 5);
	expect_order(f->s, exp, NULL, &pasc, r, want_pasc, 5);
	/* a range filter never matches NaN; with the same metric ordered (joined plan) too */
	struct mw_clause gt = { .kind = MW_KEY_METRIC, .key = "rmse", .cmp = MW_CMP_GT,
				.is_num = true, .num = -1e308, .inum = 0 };
	struct mw_filter fgt = { &gt, 1 };
	static const int want_gt_desc[] = { 3, 0 }, want_gt_asc[] = { 0, 3 };
	expect_order(f->s, exp, &fgt, &desc, r, want_gt_desc, 2);
	expect_order(f->s, exp, &fgt, &asc, r, want_gt_asc, 2);
	/* an attribute order: start_time ASC */
	struct mw_order st = { MW_KEY_ATTR, "start_time", true };
	static const int want_st[] = { 0, 1, 2, 3, 4 };
	expect_order(f->s, exp, NULL, &st, r, want_st, 5);
}

/* ------------------------------------------------------------ artifact manifests */

#define DIGEST_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DIGEST_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* A path is a file or a directory, never both; the listing pages. */
static void test_artifact_paths_are_a_tree(void **state)
{
	struct fx *f = *state;
	OK(mw_store_art_put(f->s, "r/a/b", DIGEST_A, 1, 1000, NULL, E));
	/* a file where a directory would go */
	struct mw_err e = {0};
	assert_int_equal(mw_store_art_put(f->s, "r/a/b/c", DIGEST_A, 1, 1000, NULL, &e),
			 -MW_E_INVALID);
	assert_int_equal(e.detail, MW_STORE_ARTIFACT);
	assert_non_null(strstr(e.msg, "'r/a/b' is a file"));
	FAILS(MW_E_INVALID, mw_store_art_put(f->s, "r/a/b/c/d/e", DIGEST_A, 1, 1000, NULL, E));
	/* a file where files lie below */
	OK(mw_store_art_put(f->s, "r/x/y/z", DIGEST_A, 1, 1000, NULL, E));
	memset(&e, 0, sizeof e);
	assert_int_equal(mw_store_art_put(f->s, "r/x/y", DIGEST_A, 1, 1000, NULL, &e),
			 -MW_E_INVALID);
	assert_non_null(strstr(e.msg, "r/x/y/z"));
	FAILS(MW_E_INVALID, mw_store_art_put(f->s, "r/x", DIGEST_A, 1, 1000, NULL, E));
	/* neighbours with a common prefix are not below: "r/x/y2", "r/x/y.txt", "r/a/bc" */
	OK(mw_store_art_put(f->s, "r/x/y2", DIGEST_A, 1, 1000, NULL, E));
	OK(mw_store_art_put(f->s, "r/x/y.txt", DIGEST_A, 1, 1000, NULL, E));
	OK(mw_store_art_put(f->s, "r/a/bc", DIGEST_A, 1, 1000, NULL, E));
	/* replacing a file is still fine */
	bool replaced = false;
	OK(mw_store_art_put(f->s, "r/a/b", DIGEST_B, 2, 2000, &replaced, E));
	assert_true(replaced);
	/* once the file is gone the place is free for a directory */
	int removed = 0;
	OK(mw_store_art_delete(f->s, "r/a/b", 3000, &removed, E));
	OK(mw_store_art_put(f->s, "r/a/b/c", DIGEST_A, 1, 3000, NULL, E));
	/* every child once; a listing pages by offset */
	struct mw_art_child *c = NULL;
	size_t n = 0;
	bool more = true;
	struct mw_page pg = {.max_results = 100, .offset = 0};
	OK(mw_store_art_list(f->s, "r/x", &pg, A, &c, &n, &more, E));
	assert_int_equal(n, 3);
	assert_false(more);
	/* in manifest (byte) order: "y.txt" < "y/..." < "y2" */
	assert_string_equal(c[0].name, "y.txt");
	assert_string_equal(c[1].name, "y");
	assert_true(c[1].is_dir);
	assert_string_equal(c[2].name, "y2");
	pg = (struct mw_page){.max_results = 1, .offset = 1};
	OK(mw_store_art_list(f->s, "r/x", &pg, A, &c, &n, &more, E));
	assert_int_equal(n, 1);
	assert_true(more);
	assert_string_equal(c[0].name, "y");
	pg = (struct mw_page){.max_results = 5, .offset = 2};
	OK(mw_store_art_list(f->s, "r/x", &pg, A, &c, &n, &more, E));
	assert_int_equal(n, 1);
	assert_false(more);
	assert_string_equal(c[0].name, "y2");
}

/* ------------------------------------------------------------ inputs, outputs */

/* A logged model with the given id in the Default experiment. */
static void new_logged_model(struct mw_store *s, const char *mid)
{
	char path[80];
	snprintf(path, sizeof path, "models/%s/artifacts", mid);
	struct mw_lm_create cr = {.model_id = mid,
				  .experiment_id = "0",
				  .name = "m",
				  .artifact_path = path,
				  .status = "LOGGED_MODEL_READY",
				  .now_ms = 1000};
	struct mw_logged_model m;
	OK(mw_store_lm_create(s, &cr, A, &m, E));
}

static void test_inputs_outputs(void **state)
{
	struct fx *f = *state;
	char id[33];
	json_t *r, *out;
	bool more;

	new_run(f->s, "0", id);
	struct mw_kv dtags[] = { { "mlflow.data.context", "training" } };
	struct mw_dataset_input d = { .name = "train", .digest = "abc", .source_type = "local",
				      .source = "/data/train.csv", .schema = "{\"cols\":[]}",
				      .profile = "{\"rows\":3}", .tags = dtags, .ntags = 1 };
	struct mw_model_ref min = { "m-11111111111111111111111111111111", 0 };
	struct mw_model_ref mout = {"m-22222222222222222222222222222222", 3};
	/* a model input or output must name a logged model: nothing is written */
	FAILS(MW_E_NOT_FOUND, mw_store_run_log_inputs(f->s, id, &d, 1, &min, 1, E));
	FAILS(MW_E_NOT_FOUND, mw_store_run_log_outputs(f->s, id, &mout, 1, E));
	r = get_run(f->s, id);
	assert_null(jget(r, "inputs.dataset_inputs"));
	assert_null(jget(r, "inputs.model_inputs"));
	assert_null(jget(r, "outputs.model_outputs"));
	json_decref(r);
	new_logged_model(f->s, min.model_id);
	new_logged_model(f->s, mout.model_id);
	OK(mw_store_run_log_inputs(f->s, id, &d, 1, &min, 1, E));
	/* logging the same input again does not duplicate it */
	OK(mw_store_run_log_inputs(f->s, id, &d, 1, &min, 1, E));
	OK(mw_store_run_log_outputs(f->s, id, &mout, 1, E));
	mout.step = 4;
	OK(mw_store_run_log_outputs(f->s, id, &mout, 1, E));

	r = get_run(f->s, id);
	json_t *di = jget(r, "inputs.dataset_inputs");
	assert_int_equal(json_array_size(di), 1);
	json_t *d0 = json_array_get(di, 0);
	assert_string_equal(jstr(d0, "dataset.name"), "train");
	assert_string_equal(jstr(d0, "dataset.digest"), "abc");
	assert_string_equal(jstr(d0, "dataset.source_type"), "local");
	assert_string_equal(jstr(d0, "dataset.source"), "/data/train.csv");
	assert_string_equal(jstr(d0, "dataset.schema"), "{\"cols\":[]}");
	assert_string_equal(jstr(d0, "dataset.profile"), "{\"rows\":3}");
	assert_string_equal(kv_find(json_object_get(d0, "tags"), "mlflow.data.context"),
			    "training");
	json_t *mi = jget(r, "inputs.model_inputs");
	assert_int_equal(json_array_size(mi), 1);
	assert_string_equal(jstr(json_array_get(mi, 0), "model_id"), min.model_id);
	json_t *mo = jget(r, "outputs.model_outputs");
	assert_int_equal(json_array_size(mo), 1);
	assert_string_equal(jstr(json_array_get(mo, 0), "model_id"), mout.model_id);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(mo, 0), "step")), 4);
	json_decref(r);

	/* a second dataset; the first keeps its place */
	struct mw_dataset_input d2 = { .name = "eval", .digest = "def", .source_type = "local",
				       .source = "/data/eval.csv" };
	OK(mw_store_run_log_inputs(f->s, id, &d2, 1, NULL, 0, E));
	r = get_run(f->s, id);
	di = jget(r, "inputs.dataset_inputs");
	assert_int_equal(json_array_size(di), 2);
	assert_string_equal(jstr(json_array_get(di, 0), "dataset.name"), "train");
	assert_string_equal(jstr(json_array_get(di, 1), "dataset.name"), "eval");
	assert_null(json_object_get(json_array_get(di, 1), "tags"));
	json_decref(r);

	/* searchable by dataset fields */
	const char *exps[] = { "0" };
	struct mw_page pg = {.max_results = 10, .offset = 0};
	struct mw_clause c = { .kind = MW_KEY_DATASET, .key = "digest", .cmp = MW_CMP_EQ,
			       .str = "abc" };
	struct mw_filter flt = { &c, 1 };
	OK(run_search_j(f->s, exps, 1, &flt, NULL, 0, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 1);
	assert_string_equal(run_at(out, 0), id);
	json_decref(out);
	c.key = "context";
	c.str = "training";
	OK(run_search_j(f->s, exps, 1, &flt, NULL, 0, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 1);
	json_decref(out);
	c.key = "name";
	c.str = "nothing";
	OK(run_search_j(f->s, exps, 1, &flt, NULL, 0, MW_VIEW_ACTIVE, &pg, &out, &more, E));
	assert_int_equal(nruns(out), 0);
	json_decref(out);

	FAILS(MW_E_NOT_FOUND, mw_store_run_log_inputs(f->s, "nope", &d, 1, NULL, 0, E));
	FAILS(MW_E_NOT_FOUND, mw_store_run_log_outputs(f->s, "nope", &mout, 1, E));
}

/* ------------------------------------------------------------ logged models */

static void test_logged_models(void **state)
{
	struct fx *f = *state;
	char exp[32], run[33], hex[33], mid[40];
	struct mw_err e = { 0 };
	json_t *m = NULL, *out;
	bool more;

	OK(mw_store_exp_create(f->s, "lm-exp", NULL, "file:///art", NULL, 0, 1, exp, E));
	new_run(f->s, exp, run);
	assert_int_equal(mw_id_hex32(hex, &e), 0);
	snprintf(mid, sizeof mid, "m-%s", hex);
	struct mw_kv params[] = { { "alpha", "0.5" } };
	struct mw_kv tags[] = { { "t1", "v1" }, { "t2", "v2" } };
	char path[80];
	snprintf(path, sizeof path, "models/%s/artifacts", mid);
	struct mw_lm_create cr = {.model_id = mid,
				  .experiment_id = exp,
				  .name = "my-model",
				  .model_type = "sklearn",
				  .source_run_id = run,
				  .params = params,
				  .nparams = 1,
				  .tags = tags,
				  .ntags = 2,
				  .now_ms = 3000,
				  .artifact_path = path,
				  .status = "LOGGED_MODEL_PENDING"};
	OK(lm_create_j(f->s, &cr, &m, E));
	assert_string_equal(jstr(m, "info.model_id"), mid);
	assert_string_equal(jstr(m, "info.experiment_id"), exp);
	assert_string_equal(jstr(m, "info.name"), "my-model");
	assert_string_equal(jstr(m, "info.model_type"), "sklearn");
	assert_string_equal(jstr(m, "info.source_run_id"), run);
	assert_string_equal(jstr(m, "info.status"), "LOGGED_MODEL_PENDING");
	assert_int_equal(json_integer_value(jget(m, "info.creation_timestamp_ms")), 3000);
	char want[200];
	snprintf(want, sizeof want, "file:///art/%s/models/%s/artifacts", exp, mid);
	assert_string_equal(jstr(m, "info.artifact_uri"), want);
	assert_string_equal(kv_find(jget(m, "info.tags"), "t1"), "v1");
	assert_string_equal(kv_find(jget(m, "data.params"), "alpha"), "0.5");
	json_t *got = NULL;
	OK(lm_get_j(f->s, mid, &got, E));
	assert_true(json_equal(got, m));
	json_decref(got);
	json_decref(m);

	/* finalize */
	OK(lm_finalize_j(f->s, mid, "LOGGED_MODEL_READY", 4000, &m, E));
	assert_string_equal(jstr(m, "info.status"), "LOGGED_MODEL_READY");
	assert_int_equal(json_integer_value(jget(m, "info.last_updated_timestamp_ms")), 4000);
	json_decref(m);

	/* tags: set (overwrite + new), delete */
	struct mw_kv t2[] = { { "t1", "v1b" }, { "t3", "v3" } };
	OK(mw_store_lm_set_tags(f->s, mid, t2, 2, 5000, E));
	OK(lm_get_j(f->s, mid, &m, E));
	json_t *tg = jget(m, "info.tags");
	assert_int_equal(json_array_size(tg), 3);
	assert_string_equal(kv_find(tg, "t1"), "v1b");
	assert_string_equal(kv_find(tg, "t2"), "v2");
	assert_string_equal(kv_find(tg, "t3"), "v3");
	assert_int_equal(json_integer_value(jget(m, "info.last_updated_timestamp_ms")), 5000);
	json_decref(m);
	OK(mw_store_lm_delete_tag(f->s, mid, "t2", E));
	FAILS(MW_E_NOT_FOUND, mw_store_lm_delete_tag(f->s, mid, "t2", E));
	OK(lm_get_j(f->s, mid, &m, E));
	assert_null(kv_find(jget(m, "info.tags"), "t2"));
	json_decref(m);
	struct mw_kv p2[] = { { "beta", "2" } };
	OK(mw_store_lm_log_params(f->s, mid, p2, 1, E));

	/* a run metric tied to the model shows up with the model */
	struct mw_metric mm = { .key = "acc", .value = 0.75, .timestamp = 10, .step = 2,
				.model_id = mid, .dataset_name = "eval", .dataset_digest = "d1" };
	OK(log_batch(f->s, run, &mm, 1, NULL, 0, NULL, 0, E));
	OK(lm_get_j(f->s, mid, &m, E));
	assert_string_equal(kv_find(jget(m, "data.params"), "beta"), "2");
	json_t *lmm = jget(m, "data.metrics");
	assert_int_equal(json_array_size(lmm), 1);
	json_t *m0 = json_array_get(lmm, 0);
	assert_string_equal(jstr(m0, "key"), "acc");
	assert_true(json_number_value(json_object_get(m0, "value")) == 0.75);
	assert_string_equal(jstr(m0, "run_id"), run);
	assert_string_equal(jstr(m0, "dataset_name"), "eval");
	assert_string_equal(jstr(m0, "dataset_digest"), "d1");
	assert_string_equal(jstr(m0, "model_id"), mid);
	json_decref(m);

	/* search */
	const char *exps[] = { exp };
	struct mw_page pg = {.max_results = 10, .offset = 0};
	OK(lm_search_j(f->s, exps, 1, NULL, NULL, 0, &pg, &out, &more, E));
	assert_int_equal(json_array_size(json_object_get(out, "models")), 1);
	json_decref(out);

	/* delete: gone for get, search and every write */
	OK(mw_store_lm_delete(f->s, mid, E));
	FAILS(MW_E_NOT_FOUND, lm_get_j(f->s, mid, &m, E));
	FAILS(MW_E_NOT_FOUND, mw_store_lm_delete(f->s, mid, E));
	m = NULL;
	FAILS(MW_E_NOT_FOUND, lm_finalize_j(f->s, mid, "LOGGED_MODEL_READY", 1, &m, E));
	assert_null(m);
	FAILS(MW_E_NOT_FOUND, mw_store_lm_set_tags(f->s, mid, t2, 2, 1, E));
	FAILS(MW_E_NOT_FOUND, mw_store_lm_delete_tag(f->s, mid, "t1", E));
	OK(lm_search_j(f->s, exps, 1, NULL, NULL, 0, &pg, &out, &more, E));
	assert_int_equal(json_array_size(json_object_get(out, "models")), 0);
	json_decref(out);

	FAILS(MW_E_NOT_FOUND, lm_get_j(f->s, "m-nope", &m, E));
	struct mw_lm_create bad = {.model_id = "m-x",
				   .experiment_id = "9999",
				   .name = "n",
				   .now_ms = 1,
				   .status = "LOGGED_MODEL_PENDING"};
	m = NULL;
	FAILS(MW_E_NOT_FOUND, lm_create_j(f->s, &bad, &m, E));
	assert_null(m);
}

/* ------------------------------------------------------------ concurrency */

#define NTHREADS 8
#define NCALLS 200
#define NPER 10

struct worker {
	struct mw_store *s;
	char run[33];
	int failures;
	char msg[512];
};

static void *worker_main(void *p)
{
	struct worker *w = p;

	for (int i = 0; i < NCALLS; i++) {
		struct mw_metric m[NPER];
		for (int j = 0; j < NPER; j++)
			m[j] = (struct mw_metric){ .key = "loss", .value = (double)(i * NPER + j) / 7,
						   .timestamp = 1000 + i, .step = i * NPER + j };
		struct mw_kv t = { "progress", "x" };
		struct mw_err err = { 0 };
		if (mw_store_run_log_batch(w->s, w->run, m, NPER, NULL, 0, &t, 1, NULL, &err)) {
			if (!w->failures++)
				snprintf(w->msg, sizeof w->msg, "%s", err.msg);
		}
	}
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	struct fx *f = *state;
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	struct mw_store_stats before, after;

	for (int i = 0; i < NTHREADS; i++) {
		w[i].s = f->s;
		w[i].failures = 0;
		w[i].msg[0] = '\0';
		new_run(f->s, "0", w[i].run);
	}
	mw_store_stats(f->s, &before);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	mw_store_stats(f->s, &after);

	for (int i = 0; i < NTHREADS; i++)
		if (w[i].failures)
			fail_msg("worker %d: %d failed batches, first: %s", i, w[i].failures,
				 w[i].msg);
	/* every point of every run is there */
	for (int i = 0; i < NTHREADS; i++) {
		bool more = true;
		json_t *h = history(f->s, w[i].run, "loss", 5000, 0, &more);
		assert_int_equal(json_array_size(h), NCALLS * NPER);
		assert_false(more);
		for (size_t k = 0; k < json_array_size(h); k++)
			if (json_integer_value(json_object_get(json_array_get(h, k), "step")) !=
			    (json_int_t)k)
				fail_msg("run %d: point %zu has the wrong step", i, k);
		json_decref(h);
		check_latest(f->s, w[i].run, "loss", (double)(NCALLS * NPER - 1) / 7,
			     1000 + NCALLS - 1, NCALLS * NPER - 1);
	}
	/* group commit: fewer commits than jobs */
	unsigned long long jobs = after.jobs - before.jobs;
	unsigned long long commits = after.commits - before.commits;
	assert_int_equal(jobs, NTHREADS * NCALLS);
	assert_true(commits >= 1);
	if (!(commits < jobs))
		fail_msg("no group commit: %llu commits for %llu jobs", commits, jobs);
	assert_int_equal(after.failed_jobs, before.failed_jobs);
	assert_int_equal(after.queue_depth, 0);
	/* the batch-size histogram saw every commit */
	struct mw_buf b;
	mw_buf_init(&b, 1 << 20);
	assert_int_equal(mw_hist_render(after.batch_size, &b, "batch", ""), 0);
	assert_non_null(strstr(b.data, "batch_count "));
	mw_buf_release(&b);
}

struct mixed {
	struct mw_store *s;
	char run[33];
	bool failing;
	int ok, invalid, other;
};

static void *mixed_main(void *p)
{
	struct mixed *w = p;

	for (int i = 0; i < 100; i++) {
		struct mw_metric m = { .key = "m", .value = i, .timestamp = 1, .step = i };
		char bk[32];
		snprintf(bk, sizeof bk, "b%d", i);
		/* failing threads: every other call changes param "a" after adding a new
		 * param and tag and a metric point; none of that may become visible */
		bool bad = w->failing && i % 2;
		struct mw_kv params[2] = { { bk, "x" }, { "a", bad ? "changed" : "orig" } };
		struct mw_kv tag = { bk, "y" };
		struct mw_err err = { 0 };
		int rc = mw_store_run_log_batch(w->s, w->run, &m, 1, bad ? params : &params[1],
						bad ? 2 : 1, bad ? &tag : NULL, bad ? 1 : 0, NULL,
						&err);
		if (rc == 0)
			w->ok++;
		else if (rc == -MW_E_CONFLICT && err.detail == MW_STORE_PARAM)
			w->invalid++;
		else
			w->other++;
	}
	return NULL;
}

static void test_concurrent_mixed(void **state)
{
	struct fx *f = *state;
	struct mixed w[NTHREADS];
	pthread_t th[NTHREADS];
	struct mw_store_stats before, after;

	for (int i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].s = f->s;
		w[i].failing = i % 2;
		new_run(f->s, "0", w[i].run);
		struct mw_kv a = { "a", "orig" };
		OK(log_batch(f->s, w[i].run, NULL, 0, &a, 1, NULL, 0, E));
	}
	mw_store_stats(f->s, &before);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, mixed_main, &w[i]), 0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	mw_store_stats(f->s, &after);

	int invalid = 0;
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(w[i].other, 0);
		assert_int_equal(w[i].invalid, w[i].failing ? 50 : 0);
		assert_int_equal(w[i].ok, w[i].failing ? 50 : 100);
		invalid += w[i].invalid;
		/* only the successful calls left anything behind */
		assert_int_equal(history_count(f->s, w[i].run, "m"), w[i].ok);
		json_t *r = get_run(f->s, w[i].run);
		assert_int_equal(json_array_size(jget(r, "data.params")), 1);
		assert_string_equal(kv_find(jget(r, "data.params"), "a"), "orig");
		assert_null(jget(r, "data.tags"));
		json_decref(r);
		/* the failed calls had odd steps */
		json_t *h = history(f->s, w[i].run, "m", 1000, 0, NULL);
		for (size_t k = 0; k < json_array_size(h); k++) {
			json_int_t step = json_integer_value(json_object_get(json_array_get(h, k),
									     "step"));
			if (w[i].failing && step % 2)
				fail_msg("run %d: point of a failed batch (step %lld) is visible", i,
					 (long long)step);
		}
		json_decref(h);
	}
	assert_int_equal(after.failed_jobs - before.failed_jobs, (unsigned long long)invalid);
	assert_int_equal(after.jobs - before.jobs, NTHREADS * 100);
}

/* ------------------------------------------------------------ durability */

static void test_reopen(void **state)
{
	struct fx *f = *state;
	char exp[32], id[33];
	json_t *r, *e = NULL, *out = NULL;
	bool more;
	struct mw_page pg = {.max_results = 100, .offset = 0};

	int v1 = mw_store_schema_version(f->s);
	new_exp(f->s, "durable", exp);
	struct mw_kv tags[] = { { "k", "v" } };
	new_run_at(f->s, exp, 77, tags, 1, id);
	struct mw_metric m[3] = {
		{ .key = "m", .value = 1.5, .timestamp = 1, .step = 0 },
		{ .key = "m", .value = NAN, .timestamp = 2, .step = 1 },
		{ .key = "inf", .value = INFINITY, .timestamp = 2, .step = 1 },
	};
	struct mw_kv p = { "p", "1" };
	OK(log_batch(f->s, id, m, 3, &p, 1, NULL, 0, E));
	OK(exp_search_j(f->s, NULL, NULL, 0, MW_VIEW_ALL, &pg, &out, &more, E));
	size_t nexp = json_array_size(json_object_get(out, "experiments"));
	json_decref(out);
	r = get_run(f->s, id);

	for (int round = 0; round < 2; round++) {
		mw_store_close(f->s);
		f->s = open_store(f->dir);
		/* migrations are idempotent */
		assert_int_equal(mw_store_schema_version(f->s), v1);
		OK(exp_search_j(f->s, NULL, NULL, 0, MW_VIEW_ALL, &pg, &out, &more, E));
		assert_int_equal(json_array_size(json_object_get(out, "experiments")), nexp);
		json_decref(out);
		OK(exp_get_by_name_j(f->s, "durable", &e, E));
		assert_string_equal(jstr(e, "experiment_id"), exp);
		json_decref(e);
		OK(exp_get_j(f->s, "0", &e, E));
		assert_string_equal(jstr(e, "name"), "Default");
		json_decref(e);
		json_t *r2 = get_run(f->s, id);
		if (!json_equal(r, r2)) {
			char *a = json_dumps(r, JSON_COMPACT), *b = json_dumps(r2, JSON_COMPACT);
			fail_msg("run changed across reopen:\n%s\n%s", a, b);
		}
		json_decref(r2);
		assert_int_equal(history_count(f->s, id, "m"), 2);
	}
	json_decref(r);
	/* and the reopened store takes writes */
	log_metric(f->s, id, "m", 3, 3, 2);
	assert_int_equal(history_count(f->s, id, "m"), 3);
}

static void test_open_bad_dir(void **state)
{
	struct mw_store_opts o = { .data_dir = "/nonexistent/dir/for/mw/tests" };
	struct mw_store *s = NULL;
	struct mw_err err = { 0 };

	(void)state;
	assert_int_equal(mw_store_open(&o, &s, &err), -MW_E_IO);
	assert_int_equal(err.code, MW_E_IO);
	assert_null(s);
}

/* A database written by a newer mw (a higher schema version) is refused. */
static void test_migrations_version(void **state)
{
	struct fx *f = *state;
	int v = mw_store_schema_version(f->s);
	char path[128];
	snprintf(path, sizeof path, "%s/mw.db", f->dir);
	mw_store_close(f->s);
	f->s = NULL;

	sqlite3 *db = NULL;
	char sql[128];
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof sql, "INSERT INTO schema_migrations VALUES (%d, 1)", v + 1);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	struct mw_store_opts o = {.data_dir = f->dir, .read_conns = 1};
	struct mw_store *s = NULL;
	struct mw_err err = {0};
	assert_int_equal(mw_store_open(&o, &s, &err), -MW_E_IO);
	assert_null(s);
	assert_non_null(strstr(err.msg, "newer"));

	/* the refused database is left as it was: without the extra row it opens */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof sql, "DELETE FROM schema_migrations WHERE version = %d", v + 1);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	f->s = open_store(f->dir);
	assert_int_equal(mw_store_schema_version(f->s), v);
}

/* The backend by --store-uri: SQLAlchemy's sqlite:/// forms, PostgreSQL not
 * built yet, unknown schemes; no message repeats a password. */
static void expect_uri_error(const char *uri, int code)
{
	struct mw_store_opts o = {.data_dir = "/nonexistent", .uri = uri, .read_conns = 1};
	struct mw_store *s = NULL;
	struct mw_err err = {0};
	int rc = mw_store_open(&o, &s, &err);
	if (rc != -code || err.code != code || !err.msg[0])
		fail_msg("%s: rc %d (%s), want %d", uri, rc, err.msg, -code);
	assert_null(s);
	assert_null(strstr(err.msg, "s3cret"));
	assert_null(strstr(err.msg, "dbhost"));
}

static void test_store_uri(void **state)
{
	struct fx *f = *state;
	char uri[160], path[128], cwd[512];
	struct mw_err err = {0};
	struct mw_store *s = NULL;

	/* four slashes: an absolute path, apart from the data directory */
	snprintf(uri, sizeof uri, "sqlite:///%s/other.db", f->dir);
	struct mw_store_opts o = {.data_dir = "/nonexistent", .uri = uri, .read_conns = 1};
	assert_int_equal(mw_store_open(&o, &s, &err), 0);
	char id[32];
	assert_int_equal(mw_store_exp_create(s, "in-other", NULL, "/a", NULL, 0, 1, id, &err), 0);
	mw_store_close(s);
	snprintf(path, sizeof path, "%s/other.db", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	/* three: relative to the working directory */
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(f->dir), 0);
	o.uri = "sqlite:///rel.db";
	s = NULL;
	int rc = mw_store_open(&o, &s, &err);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rc, 0);
	mw_store_close(s);
	snprintf(path, sizeof path, "%s/rel.db", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	/* the scheme in any case; an empty URI is the data directory's store */
	snprintf(uri, sizeof uri, "SQLite:///%s/other.db", f->dir);
	o.uri = uri;
	s = NULL;
	assert_int_equal(mw_store_open(&o, &s, &err), 0);
	json_t *e = NULL;
	assert_int_equal(exp_get_by_name_j(s, "in-other", &e, &err), 0);
	json_decref(e);
	mw_store_close(s);
	struct mw_store_opts dflt = {.data_dir = f->dir, .uri = "", .read_conns = 1};
	s = NULL;
	assert_int_equal(mw_store_open(&dflt, &s, &err), 0);
	assert_int_equal(exp_get_by_name_j(s, "in-other", &e, &err), -MW_E_NOT_FOUND);
	mw_store_close(s);

	expect_uri_error("sqlite://", MW_E_INVALID);
	expect_uri_error("sqlite:///", MW_E_INVALID);
	expect_uri_error("sqlite:", MW_E_INVALID);
	expect_uri_error("sqlite://dbhost/x.db", MW_E_INVALID);
	expect_uri_error("sqlite:////tmp/x.db?mode=ro", MW_E_INVALID);
	expect_uri_error("sqlite+pysqlite:////tmp/x.db", MW_E_INVALID);
	expect_uri_error("postgresql://mw:s3cret@dbhost/mw", MW_E_NOT_IMPLEMENTED);
	expect_uri_error("postgres://mw:s3cret@dbhost/mw", MW_E_NOT_IMPLEMENTED);
	expect_uri_error("postgresql+psycopg2://mw:s3cret@dbhost/mw", MW_E_NOT_IMPLEMENTED);
	expect_uri_error("mysql://mw:s3cret@dbhost/mw", MW_E_INVALID);
	expect_uri_error("/just/a/path.db", MW_E_INVALID);
	expect_uri_error("mw:s3cret@dbhost", MW_E_INVALID);
}

/* A backend without a domain: every call of that domain is MW_E_NOT_IMPLEMENTED
 * naming it, and the other domains work. */
static void test_missing_domain(void **state)
{
	struct fx *f = *state;
	struct mw_store_backend partial = mw_store_sqlite;
	partial.registry = NULL;
	struct mw_store_tracking_ops some = *mw_store_sqlite.tracking;
	some.lm_search = NULL;
	partial.tracking = &some;
	mw_store_close(f->s);
	struct mw_store_opts o = {.data_dir = f->dir, .read_conns = 1};
	struct mw_err err = {0};
	assert_int_equal(mw_store_open_backend(&partial, &o, &f->s, &err), 0);

	struct mw_registered_model rm;
	assert_int_equal(mw_store_rm_get(f->s, "m", A, &rm, &err), -MW_E_NOT_IMPLEMENTED);
	assert_non_null(strstr(err.msg, "registry"));
	struct mw_logged_model *lm = NULL;
	size_t n = 0;
	bool more;
	struct mw_page pg = {.max_results = 10, .offset = 0};
	const char *exps[] = {"0"};
	assert_int_equal(mw_store_lm_search(f->s, exps, 1, NULL, NULL, 0, &pg, A, &lm, &n, &more,
					    &err),
			 -MW_E_NOT_IMPLEMENTED);
	assert_non_null(strstr(err.msg, "lm_search"));
	struct mw_experiment e;
	OK(mw_store_exp_get(f->s, "0", A, &e, E));
	assert_string_equal(e.name, "Default");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_experiments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_experiment_delete_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_create_get_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_batch_params_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_batch_run_name_tag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_batch_tags_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nan_inf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records_and_details, setup, teardown),
		cmocka_unit_test_setup_teardown(test_latest_metric, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metric_history_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_search_order_special, setup, teardown),
		cmocka_unit_test_setup_teardown(test_page_take, setup, teardown),
		cmocka_unit_test_setup_teardown(test_artifact_paths_are_a_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inputs_outputs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logged_models, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_mixed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test(test_open_bad_dir),
		cmocka_unit_test_setup_teardown(test_migrations_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_uri, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_domain, setup, teardown),
	};

	mw_log_set_level(MW_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
