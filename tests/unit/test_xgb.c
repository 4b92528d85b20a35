/*
 * test_xgb.c - unit tests for the native XGBoost evaluator (xgb/).
 *
 * Models are built here as jansson values in XGBoost's 1.7 JSON layout, then
 * loaded from their JSON text or from a UBJSON encoding made by the small
 * encoder below (typed arrays as XGBoost writes them, or untyped arrays with
 * ']' terminators and no-op markers).  Predictions are checked against hand
 * computed values and, for random models with shuffled node numbering,
 * against a straightforward recursive evaluator over the model's own arrays
 * (same float32 operations, so results must be bit-identical).  Corrupt
 * inputs (every truncation of a JSON and a UBJSON model, bad indices,
 * cycles, limits) must fail with an error and never crash; run under ASan
 * this also checks that the loader never reads outside its buffer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "xgb/xgb.h"

/* ------------------------------------------------------------ builders */

static json_t *int_array(int n, const int *v)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_integer(v[i]));
	return a;
}

static json_t *real_array(int n, const float *v)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_real(v[i]));
	return a;
}

/* A tree in XGBoost's JSON layout; stype may be NULL (all numerical). */
static json_t *mk_tree(int id, int n, const int *left, const int *right, const int *idx,
		       const float *cond, const int *dl, const int *stype)
{
	json_t *t = json_object();
	int *zeros = calloc((size_t)n, sizeof *zeros);
	float *fz = calloc((size_t)n, sizeof *fz);
	char nn[32];
	snprintf(nn, sizeof nn, "%d", n);
	json_object_set_new(t, "base_weights", real_array(n, fz));
	json_object_set_new(t, "categories", json_array());
	json_object_set_new(t, "categories_nodes", json_array());
	json_object_set_new(t, "categories_segments", json_array());
	json_object_set_new(t, "categories_sizes", json_array());
	json_object_set_new(t, "default_left", int_array(n, dl));
	json_object_set_new(t, "id", json_integer(id));
	json_object_set_new(t, "left_children", int_array(n, left));
	json_object_set_new(t, "loss_changes", real_array(n, fz));
	json_object_set_new(t, "parents", int_array(n, zeros));
	json_object_set_new(t, "right_children", int_array(n, right));
	json_object_set_new(t, "split_conditions", real_array(n, cond));
	json_object_set_new(t, "split_indices", int_array(n, idx));
	json_object_set_new(t, "split_type", int_array(n, stype ? stype : zeros));
	json_object_set_new(t, "sum_hessian", real_array(n, fz));
	json_object_set_new(t, "tree_param",
			    json_pack("{s:s,s:s,s:s,s:s}", "num_deleted", "0", "num_feature", "1",
				      "num_nodes", nn, "size_leaf_vector", "0"));
	free(zeros);
	free(fz);
	return t;
}

/* A stump on feature f: x < thr -> lo, else hi; missing -> lo when dl. */
static json_t *stump(int id, int f, float thr, float lo, float hi, int dl)
{
	int left[] = { 1, -1, -1 }, right[] = { 2, -1, -1 }, idx[] = { f, 0, 0 };
	int dls[] = { dl, 0, 0 };
	float cond[] = { thr, lo, hi };
	return mk_tree(id, 3, left, right, idx, cond, dls, NULL);
}

static json_t *leaf_tree(int id, float v)
{
	int m1[] = { -1 }, z[] = { 0 };
	float c[] = { v };
	return mk_tree(id, 1, m1, m1, z, c, z, NULL);
}

/* A model: trees (stolen) with tree_info groups; weights (stolen) make it dart. */
static json_t *mk_model(const char *objective, int nfeat, int nclass, const char *base,
			json_t *trees, const int *groups, json_t *weights)
{
	size_t nt = json_array_size(trees);
	json_t *info = json_array();
	for (size_t i = 0; i < nt; i++)
		json_array_append_new(info, json_integer(groups ? groups[i] : 0));
	char nf[32], nc[32], ntr[32];
	snprintf(nf, sizeof nf, "%d", nfeat);
	snprintf(nc, sizeof nc, "%d", nclass);
	snprintf(ntr, sizeof ntr, "%zu", nt);
	json_t *model = json_pack("{s:{s:s,s:s,s:s},s:o,s:o}", "gbtree_model_param", "num_parallel_tree",
				  "1", "num_trees", ntr, "size_leaf_vector", "0", "tree_info", info,
				  "trees", trees);
	json_t *gb;
	if (weights)
		gb = json_pack("{s:s,s:{s:s,s:o},s:o}", "name", "dart", "gbtree", "name", "gbtree",
			       "model", model, "weight_drop", weights);
	else
		gb = json_pack("{s:s,s:o}", "name", "gbtree", "model", model);
	json_t *lmp = json_pack("{s:s,s:s,s:s,s:s,s:s}", "base_score", base, "boost_from_average",
				"1", "num_class", nc, "num_feature", nf, "num_target", "1");
	return json_pack("{s:{s:{},s:[],s:[],s:o,s:o,s:{s:s}},s:[i,i,i]}", "learner", "attributes",
			 "feature_names", "feature_types", "gradient_booster", gb,
			 "learner_model_param", lmp, "objective", "name", objective, "version", 1, 7,
			 4);
}

static json_t *trees_of(json_t *model)
{
	json_t *gb = json_object_get(json_object_get(model, "learner"), "gradient_booster");
	if (json_object_get(gb, "gbtree"))
		gb = json_object_get(gb, "gbtree");
	return json_object_get(json_object_get(gb, "model"), "trees");
}

/* ------------------------------------------------------------ UBJSON encoder */

static void put_be(struct mw_buf *b, uint64_t v, int n)
{
	unsigned char c[8];
	for (int i = 0; i < n; i++)
		c[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	assert_int_equal(mw_buf_append(b, c, (size_t)n), 0);
}

static void put_len(struct mw_buf *b, size_t n)
{
	assert_int_equal(mw_buf_append(b, "L", 1), 0);
	put_be(b, n, 8);
}

static void put_f32(struct mw_buf *b, double d)
{
	float f = (float)d;
	uint32_t u;
	memcpy(&u, &f, 4);
	put_be(b, u, 4);
}

/* typed: counted typed arrays for numbers, as XGBoost writes; otherwise
 * '[' ... ']' with a no-op marker before each element. */
static void ub_encode(struct mw_buf *b, json_t *v, bool typed)
{
	if (json_is_object(v)) {
		const char *k;
		json_t *x;
		assert_int_equal(mw_buf_append(b, "{", 1), 0);
		json_object_foreach(v, k, x) {
			put_len(b, strlen(k));
			assert_int_equal(mw_buf_puts(b, k), 0);
			ub_encode(b, x, typed);
		}
		assert_int_equal(mw_buf_append(b, "}", 1), 0);
	} else if (json_is_array(v)) {
		size_t n = json_array_size(v), ints = 0, reals = 0;
		for (size_t i = 0; i < n; i++) {
			ints += json_is_integer(json_array_get(v, i));
			reals += json_is_real(json_array_get(v, i));
		}
		if (typed && n && ints == n) {
			assert_int_equal(mw_buf_append(b, "[$l#", 4), 0);
			put_len(b, n);
			for (size_t i = 0; i < n; i++)
				put_be(b, (uint32_t)(int32_t)json_integer_value(json_array_get(v, i)), 4);
		} else if (typed && n && reals == n) {
			assert_int_equal(mw_buf_append(b, "[$d#", 4), 0);
			put_len(b, n);
			for (size_t i = 0; i < n; i++)
				put_f32(b, json_real_value(json_array_get(v, i)));
		} else if (typed) {
			assert_int_equal(mw_buf_append(b, "[#", 2), 0);
			put_len(b, n);
			for (size_t i = 0; i < n; i++)
				ub_encode(b, json_array_get(v, i), typed);
		} else {
			assert_int_equal(mw_buf_append(b, "[", 1), 0);
			for (size_t i = 0; i < n; i++) {
				assert_int_equal(mw_buf_append(b, "N", 1), 0);
				ub_encode(b, json_array_get(v, i), typed);
			}
			assert_int_equal(mw_buf_append(b, "]", 1), 0);
		}
	} else if (json_is_string(v)) {
		assert_int_equal(mw_buf_append(b, "S", 1), 0);
		put_len(b, json_string_length(v));
		assert_int_equal(mw_buf_append(b, json_string_value(v), json_string_length(v)), 0);
	} else if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i >= -128 && i < 128) {
			assert_int_equal(mw_buf_append(b, "i", 1), 0);
			put_be(b, (uint8_t)(int8_t)i, 1);
		} else {
			assert_int_equal(mw_buf_append(b, "L", 1), 0);
			put_be(b, (uint64_t)i, 8);
		}
	} else if (json_is_real(v)) {
		assert_int_equal(mw_buf_append(b, "d", 1), 0);
		put_f32(b, json_real_value(v));
	} else {
		assert_int_equal(mw_buf_append(b,
					       json_is_true(v)    ? "T"
					       : json_is_false(v) ? "F"
								  : "Z",
					       1),
				 0);
	}
}

static char *to_ubjson(json_t *v, bool typed, size_t *len)
{
	struct mw_buf b;
	mw_buf_init(&b, 1 << 20);
	ub_encode(&b, v, typed);
	char *out = mw_buf_detach(&b, len);
	mw_buf_release(&b);
	return out;
}

/* ------------------------------------------------------------ helpers */

static int try_load(json_t *model, struct mw_xgb **m, struct mw_err *err)
{
	char *s = json_dumps(model, JSON_COMPACT | JSON_REAL_PRECISION(9));
	int rc = mw_xgb_load(s, strlen(s), m, err);
	free(s);
	return rc;
}

static struct mw_xgb *load_ok(json_t *model)
{
	struct mw_err err = { 0 };
	struct mw_xgb *m = NULL;
	int rc = try_load(model, &m, &err);
	if (rc)
		fail_msg("load failed: %s", err.msg);
	return m;
}

/* Load must fail with code and a message containing needle. */
static void load_fails(json_t *model, int code, const char *needle)
{
	struct mw_err err = { 0 };
	struct mw_xgb *m = NULL;
	int rc = try_load(model, &m, &err);
	if (rc == 0) {
		mw_xgb_free(m);
		fail_msg("load succeeded, expected an error with \"%s\"", needle);
	}
	assert_int_equal(rc, -code);
	assert_int_equal(err.code, code);
	assert_null(m);
	if (!strstr(err.msg, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err.msg, needle);
}

static void load_bytes_fails(const void *p, size_t n)
{
	struct mw_err err = { 0 };
	struct mw_xgb *m = NULL;
	int rc = mw_xgb_load(p, n, &m, &err);
	if (rc == 0) {
		mw_xgb_free(m);
		fail_msg("%zu bytes loaded, expected an error", n);
	}
	assert_true(rc < 0);
	assert_int_equal(err.code, -rc);
	assert_true(err.msg[0] != 0);
	assert_null(m);
}

static float predict1(const struct mw_xgb *m, const float *row, bool margin)
{
	float out[16];
	struct mw_err err = { 0 };
	assert_true(mw_xgb_num_outputs(m, margin) <= 16);
	assert_int_equal(mw_xgb_predict(m, row, 1, mw_xgb_num_features(m), out, margin, &err), 0);
	return out[0];
}

/* ------------------------------------------------------------ basic semantics */

static void test_stump_semantics(void **state)
{
	(void)state;
	json_t *trees = json_array();
	json_array_append_new(trees, stump(0, 1, 0.5f, 1.0f, 2.0f, 1));
	json_array_append_new(trees, stump(1, 0, -1.0f, 10.0f, 20.0f, 0));
	json_t *model = mk_model("reg:squarederror", 2, 0, "5E-1", trees, NULL, NULL);
	struct mw_xgb *m = load_ok(model);
	assert_int_equal(mw_xgb_num_features(m), 2);
	assert_int_equal(mw_xgb_num_outputs(m, false), 1);
	assert_int_equal(mw_xgb_num_trees(m), 2);
	assert_string_equal(mw_xgb_objective(m), "reg:squarederror");
	assert_string_equal(mw_xgb_booster(m), "gbtree");
	assert_null(mw_xgb_feature_names(m));
	assert_null(mw_xgb_feature_types(m));
	assert_false(mw_xgb_has_categorical(m));
	int v[3];
	mw_xgb_version(m, v);
	assert_int_equal(v[0], 1);
	assert_int_equal(v[1], 7);

	struct { float x0, x1, want; } cases[] = {
		{ 0, 0, 0.5f + 1 + 20 },     /* 0 < 0.5 left; 0 >= -1 right */
		{ 0, 0.5f, 0.5f + 2 + 20 },  /* strict: 0.5 < 0.5 is false */
		{ -2, 0.49f, 0.5f + 1 + 10 },
		{ -1, 7, 0.5f + 2 + 20 },
		{ NAN, NAN, 0.5f + 1 + 20 }, /* missing: tree 0 default left, tree 1 right */
		{ -INFINITY, INFINITY, 0.5f + 2 + 10 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		float row[2] = { cases[i].x0, cases[i].x1 };
		assert_float_equal(predict1(m, row, false), cases[i].want, 0);
		assert_float_equal(predict1(m, row, true), cases[i].want, 0);
	}
	/* the same rows in one batch, and in a batch big enough for lockstep */
	float rows[6 * 2 * 4], out[24];
	struct mw_err err = { 0 };
	for (int r = 0; r < 24; r++) {
		rows[2 * r] = cases[r % 6].x0;
		rows[2 * r + 1] = cases[r % 6].x1;
	}
	assert_int_equal(mw_xgb_predict(m, rows, 24, 2, out, false, &err), 0);
	for (int r = 0; r < 24; r++)
		assert_float_equal(out[r], cases[r % 6].want, 0);
	mw_xgb_free(m);
	json_decref(model);
}

/* Splits on awkward thresholds and values: signed zeros (equal, so never
 * less), subnormals, the largest floats, infinities, neighbours of a
 * threshold, NaN with both default directions.  Tree j sends a row right
 * when it is not below T[j] and adds 2^j there (exact in float32), so the
 * output spells out every decision.  Once as stumps (complete-tree walks)
 * and once as combs 9 deep (lockstep walks), one row at a time and as a
 * batch, against decisions taken here with float comparisons. */
static void test_split_edge_values(void **state)
{
	(void)state;
	const float T[] = {-FLT_MAX, -1.0f,  -FLT_MIN, -1e-45f, -0.0f,
			   0.0f,     1e-45f, FLT_MIN,  1.0f,    FLT_MAX};
	enum { NT = sizeof T / sizeof *T, NV = NT + 5, DEPTH = 9 };
	float V[NV];
	memcpy(V, T, sizeof T);
	V[NT] = -INFINITY;
	V[NT + 1] = INFINITY;
	V[NT + 2] = NAN;
	V[NT + 3] = nextafterf(1.0f, 2.0f);
	V[NT + 4] = nextafterf(1.0f, 0.0f);
	for (int deep = 0; deep < 2; deep++) {
		json_t *trees = json_array();
		for (int j = 0; j < NT; j++) {
			float right = (float)(1 << j);
			if (!deep) {
				json_array_append_new(trees, stump(j, 0, T[j], 0.0f, right, j % 2));
				continue;
			}
			/* 0: x0 < T[j] ? leaf 1 (0) : 2; 2k: x1 < 1e30 ? leaf 2k+1 : 2k+2;
			 * leaf 3 holds 2^j */
			int n = 2 * DEPTH + 1, l[2 * DEPTH + 1], r[2 * DEPTH + 1];
			int idx[2 * DEPTH + 1], dl[2 * DEPTH + 1];
			float c[2 * DEPTH + 1];
			for (int k = 0; k < n; k++) {
				bool split = k % 2 == 0 && k < n - 1;
				l[k] = split ? k + 1 : -1;
				r[k] = split ? k + 2 : -1;
				idx[k] = k == 0 ? 0 : split ? 1 : 0;
				dl[k] = k == 0 ? j % 2 : 0;
				c[k] = k == 0 ? T[j] : split ? 1e30f : k == 3 ? right : 0.0f;
			}
			json_array_append_new(trees, mk_tree(j, n, l, r, idx, c, dl, NULL));
		}
		json_t *model = mk_model("reg:squarederror", 2, 0, "0", trees, NULL, NULL);
		struct mw_xgb *m = load_ok(model);
		float rows[NV * 2], want[NV], got[NV];
		for (int v = 0; v < NV; v++) {
			rows[2 * v] = V[v];
			rows[2 * v + 1] = 0.0f;
			want[v] = 0.0f;
			for (int j = 0; j < NT; j++) {
				bool go_right = isnan(V[v]) ? j % 2 == 0 : !(V[v] < T[j]);
				if (go_right)
					want[v] += (float)(1 << j);
			}
		}
		struct mw_err err = {0};
		assert_int_equal(mw_xgb_predict(m, rows, NV, 2, got, true, &err), 0);
		for (int v = 0; v < NV; v++) {
			if (got[v] != want[v])
				fail_msg("%s, value %a: batch %g, want %g", deep ? "comb" : "stump",
					 (double)V[v], (double)got[v], (double)want[v]);
			float one = predict1(m, &rows[2 * v], true);
			if (one != want[v])
				fail_msg("%s, value %a: one row %g, want %g",
					 deep ? "comb" : "stump", (double)V[v], (double)one,
					 (double)want[v]);
		}
		mw_xgb_free(m);
		json_decref(model);
	}
}

static void test_objectives(void **state)
{
	(void)state;
	float row[1] = { 0.0f }, row2[1] = { 1.0f };
	struct mw_xgb *m;
	json_t *trees, *model;

	/* binary:logistic: base_score 0.25 -> margin logit(0.25) in float32 */
	trees = json_array();
	json_array_append_new(trees, stump(0, 0, 0.5f, -0.3f, 0.8f, 1));
	model = mk_model("binary:logistic", 1, 0, "2.5E-1", trees, NULL, NULL);
	m = load_ok(model);
	float base = -logf(1.0f / 0.25f - 1.0f);
	assert_float_equal(predict1(m, row, true), base + -0.3f, 0);
	assert_float_equal(predict1(m, row, false), 1.0f / (1.0f + expf(-(base - 0.3f))), 1e-7);
	assert_float_equal(predict1(m, row2, false), 1.0f / (1.0f + expf(-(base + 0.8f))), 1e-7);
	assert_float_equal(mw_xgb_base_score(m, 0), 0.25f, 0);
	mw_xgb_free(m);
	json_decref(model);

	/* binary:logitraw keeps base_score as the margin (XGBoost 1.7) */
	trees = json_array();
	json_array_append_new(trees, stump(0, 0, 0.5f, -0.3f, 0.8f, 1));
	model = mk_model("binary:logitraw", 1, 0, "2.5E-1", trees, NULL, NULL);
	m = load_ok(model);
	assert_float_equal(predict1(m, row, false), 0.25f - 0.3f, 0);
	mw_xgb_free(m);
	json_decref(model);

	/* count:poisson: margin log(base), output exp */
	trees = json_array();
	json_array_append_new(trees, stump(0, 0, 0.5f, -0.3f, 0.8f, 1));
	model = mk_model("count:poisson", 1, 0, "2E0", trees, NULL, NULL);
	m = load_ok(model);
	assert_float_equal(predict1(m, row2, true), logf(2.0f) + 0.8f, 0);
	assert_float_equal(predict1(m, row2, false), expf(logf(2.0f) + 0.8f), 0);
	mw_xgb_free(m);
	json_decref(model);

	/* binary:hinge: 1 when the margin is positive */
	trees = json_array();
	json_array_append_new(trees, stump(0, 0, 0.5f, -0.3f, 0.8f, 1));
	model = mk_model("binary:hinge", 1, 0, "0", trees, NULL, NULL);
	m = load_ok(model);
	assert_float_equal(predict1(m, row, false), 0.0f, 0);
	assert_float_equal(predict1(m, row2, false), 1.0f, 0);
	mw_xgb_free(m);
	json_decref(model);
}

static void test_multiclass(void **state)
{
	(void)state;
	int groups[] = { 0, 1, 2, 0, 1, 2 };
	const char *objs[] = { "multi:softprob", "multi:softmax" };
	for (int o = 0; o < 2; o++) {
		json_t *trees = json_array();
		for (int t = 0; t < 6; t++)
			json_array_append_new(trees, stump(t, 0, 0.0f, (float)t * 0.1f, 1.0f - (float)t * 0.3f, 1));
		json_t *model = mk_model(objs[o], 1, 3, "5E-1", trees, groups, NULL);
		struct mw_xgb *m = load_ok(model);
		assert_int_equal(mw_xgb_num_outputs(m, true), 3);
		assert_int_equal(mw_xgb_num_outputs(m, false), o == 0 ? 3 : 1);
		float row[2] = { -1.0f, 1.0f }, out[6], marg[6];
		struct mw_err err = { 0 };
		assert_int_equal(mw_xgb_predict(m, row, 2, 1, marg, true, &err), 0);
		assert_int_equal(mw_xgb_predict(m, row, 2, 1, out, false, &err), 0);
		for (int r = 0; r < 2; r++) {
			float want[3];
			for (int g = 0; g < 3; g++) {
				float a = 0.5f;
				for (int t = g; t < 6; t += 3)
					a += r == 0 ? (float)t * 0.1f : 1.0f - (float)t * 0.3f;
				want[g] = a;
				assert_float_equal(marg[r * 3 + g], a, 0);
			}
			if (o == 0) {
				float mx = fmaxf(want[0], fmaxf(want[1], want[2]));
				double sum = 0;
				float e[3];
				for (int g = 0; g < 3; g++)
					sum += e[g] = expf(want[g] - mx);
				for (int g = 0; g < 3; g++)
					assert_float_equal(out[r * 3 + g], e[g] / (float)sum, 0);
			} else {
				int best = 0;
				for (int g = 1; g < 3; g++)
					if (want[g] > want[best])
						best = g;
				assert_float_equal(out[r], (float)best, 0);
			}
		}
		mw_xgb_free(m);
		json_decref(model);
	}
}

static void test_dart_weights(void **state)
{
	(void)state;
	json_t *trees = json_array();
	json_array_append_new(trees, stump(0, 0, 0.5f, 0.3f, 0.7f, 1));
	json_array_append_new(trees, stump(1, 0, 0.5f, 0.11f, -0.9f, 1));
	json_t *w = json_pack("[f,f]", 0.9090909, 0.5);
	json_t *model = mk_model("reg:squarederror", 1, 0, "5E-1", trees, NULL, w);
	struct mw_xgb *m = load_ok(model);
	assert_string_equal(mw_xgb_booster(m), "dart");
	float row[1] = { 0.0f };
	float w0 = (float)0.9090909;
	assert_float_equal(predict1(m, row, false), 0.5f + 0.3f * w0 + 0.11f * 0.5f, 0);
	mw_xgb_free(m);
	json_decref(model);
}

static void test_empty_and_leaf_trees(void **state)
{
	(void)state;
	/* no trees at all: the base score */
	json_t *model = mk_model("binary:logistic", 3, 0, "5E-1", json_array(), NULL, NULL);
	struct mw_xgb *m = load_ok(model);
	float row[3] = { 1, 2, 3 };
	assert_float_equal(predict1(m, row, false), 0.5f, 0);
	assert_int_equal(mw_xgb_num_trees(m), 0);
	mw_xgb_free(m);
	json_decref(model);

	/* single-leaf trees, single row and batch */
	json_t *trees = json_array();
	for (int t = 0; t < 11; t++)
		json_array_append_new(trees, leaf_tree(t, 0.25f));
	model = mk_model("reg:squarederror", 3, 0, "0", trees, NULL, NULL);
	m = load_ok(model);
	assert_float_equal(predict1(m, row, false), 11 * 0.25f, 0);
	float rows[30] = { 0 }, out[10];
	struct mw_err err = { 0 };
	assert_int_equal(mw_xgb_predict(m, rows, 10, 3, out, false, &err), 0);
	for (int r = 0; r < 10; r++)
		assert_float_equal(out[r], 11 * 0.25f, 0);
	/* zero rows is fine and writes nothing */
	assert_int_equal(mw_xgb_predict(m, NULL, 0, 3, NULL, false, &err), 0);
	mw_xgb_free(m);
	json_decref(model);

	/* a tree with no nodes is an error */
	trees = json_array();
	json_array_append_new(trees, mk_tree(0, 0, NULL, NULL, NULL, NULL, NULL, NULL));
	model = mk_model("reg:squarederror", 3, 0, "0", trees, NULL, NULL);
	load_fails(model, MW_E_INVALID, "no nodes");
	json_decref(model);
}

/* ------------------------------------------------------------ random models */

/* Recursive reference evaluator over the model's own arrays. */
static float ref_tree(json_t *t, int nid, const float *row)
{
	json_t *l = json_object_get(t, "left_children");
	int left = (int)json_integer_value(json_array_get(l, (size_t)nid));
	float cond = (float)json_number_value(
		json_array_get(json_object_get(t, "split_conditions"), (size_t)nid));
	if (left == -1)
		return cond;
	int right = (int)json_integer_value(
		json_array_get(json_object_get(t, "right_children"), (size_t)nid));
	int f = (int)json_integer_value(
		json_array_get(json_object_get(t, "split_indices"), (size_t)nid));
	int dl = (int)json_integer_value(
		json_array_get(json_object_get(t, "default_left"), (size_t)nid));
	float x = row[f];
	bool go_left = isnan(x) ? dl : x < cond;
	return ref_tree(t, go_left ? left : right, row);
}

static unsigned rnd(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 16) & 0x7fff;
}

static const float grid[] = { -1.5f, -0.5f, 0.0f, 0.25f, 0.5f, 1.0f, 2.0f };

/* A random tree with up to 2^(depth+1)-1 nodes whose ids are shuffled, so
 * children are neither at left + 1 nor after their parent. */
static json_t *random_tree(unsigned *s, int id, int depth, int nfeat, float leaf_scale)
{
	int cap = (1 << (depth + 1)) - 1;
	int *left = malloc((size_t)cap * sizeof *left), *right = malloc((size_t)cap * sizeof *right);
	int *idx = calloc((size_t)cap, sizeof *idx), *dl = calloc((size_t)cap, sizeof *dl);
	int *perm = malloc((size_t)cap * sizeof *perm), *lvl = malloc((size_t)cap * sizeof *lvl);
	float *cond = calloc((size_t)cap, sizeof *cond);
	/* grow breadth-first in logical order, then renumber */
	int n = 1;
	lvl[0] = 0;
	for (int i = 0; i < n; i++) {
		bool split = lvl[i] < depth && (lvl[i] < 2 || rnd(s) % 5 != 0);
		if (!split) {
			left[i] = right[i] = -1;
			cond[i] = leaf_scale * ((float)(rnd(s) % 2001) / 1000.0f - 1.0f);
			continue;
		}
		left[i] = n;
		right[i] = n + 1;
		lvl[n] = lvl[n + 1] = lvl[i] + 1;
		n += 2;
		idx[i] = (int)(rnd(s) % (unsigned)nfeat);
		cond[i] = grid[rnd(s) % 7];
		dl[i] = (int)(rnd(s) & 1);
	}
	for (int i = 0; i < n; i++)
		perm[i] = i;
	for (int i = n - 1; i > 1; i--) { /* keep the root at 0 */
		int j = 1 + (int)(rnd(s) % (unsigned)i);
		int tmp = perm[i];
		perm[i] = perm[j];
		perm[j] = tmp;
	}
	int *l2 = malloc((size_t)n * sizeof *l2), *r2 = malloc((size_t)n * sizeof *r2);
	int *i2 = malloc((size_t)n * sizeof *i2), *d2 = malloc((size_t)n * sizeof *d2);
	float *c2 = malloc((size_t)n * sizeof *c2);
	for (int i = 0; i < n; i++) {
		int p = perm[i];
		l2[p] = left[i] < 0 ? -1 : perm[left[i]];
		r2[p] = right[i] < 0 ? -1 : perm[right[i]];
		i2[p] = idx[i];
		d2[p] = dl[i];
		c2[p] = cond[i];
	}
	json_t *t = mk_tree(id, n, l2, r2, i2, c2, d2, NULL);
	free(left); free(right); free(idx); free(dl); free(perm); free(lvl); free(cond);
	free(l2); free(r2); free(i2); free(d2); free(c2);
	return t;
}

static void check_random(int ntrees, int depth, int nfeat, int ngroups, unsigned seed,
			 bool ubjson)
{
	unsigned s = seed;
	json_t *trees = json_array();
	int *groups = malloc((size_t)ntrees * sizeof *groups);
	for (int t = 0; t < ntrees; t++) {
		json_array_append_new(trees, random_tree(&s, t, depth, nfeat, 0.1f));
		groups[t] = t % ngroups;
	}
	json_t *model = mk_model(ngroups > 1 ? "multi:softprob" : "reg:squarederror", nfeat,
				 ngroups > 1 ? ngroups : 0, "5E-1", trees, groups, NULL);
	struct mw_xgb *m;
	struct mw_err err = { 0 };
	if (ubjson) {
		size_t len;
		char *u = to_ubjson(model, true, &len);
		assert_int_equal(mw_xgb_load(u, len, &m, &err), 0);
		free(u);
	} else {
		m = load_ok(model);
	}
	size_t nrows = 150;
	float *rows = malloc(nrows * (size_t)nfeat * sizeof *rows);
	for (size_t i = 0; i < nrows * (size_t)nfeat; i++)
		rows[i] = rnd(&s) % 9 == 0 ? NAN : grid[rnd(&s) % 7] + (rnd(&s) % 3 == 0 ? 0.01f : 0.0f);
	size_t G = (size_t)ngroups;
	float *want = malloc(nrows * G * sizeof *want);
	for (size_t r = 0; r < nrows; r++) {
		for (size_t g = 0; g < G; g++)
			want[r * G + g] = 0.5f;
		for (int t = 0; t < ntrees; t++)
			want[r * G + (size_t)groups[t]] +=
				ref_tree(json_array_get(trees_of(model), (size_t)t), 0, rows + r * (size_t)nfeat);
	}
	float *out = malloc(nrows * G * sizeof *out);
	size_t batches[] = { 1, 3, 8, 9, 64, 65, 150 };
	for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
		size_t b = batches[bi];
		memset(out, 0, nrows * G * sizeof *out);
		for (size_t r = 0; r < nrows; r += b) {
			size_t k = nrows - r < b ? nrows - r : b;
			assert_int_equal(mw_xgb_predict(m, rows + r * (size_t)nfeat, k, (size_t)nfeat,
							out + r * G, true, &err), 0);
		}
		for (size_t i = 0; i < nrows * G; i++)
			if (memcmp(&out[i], &want[i], sizeof(float)) != 0)
				fail_msg("seed %u depth %d batch %zu: output %zu is %.9g, want %.9g", seed,
					 depth, b, i, (double)out[i], (double)want[i]);
	}
	free(rows);
	free(want);
	free(out);
	free(groups);
	mw_xgb_free(m);
	json_decref(model);
}

static void test_random_models(void **state)
{
	(void)state;
	check_random(20, 6, 5, 1, 1, false);
	check_random(37, 4, 3, 3, 2, true);
	check_random(9, 1, 1, 1, 3, false);
	check_random(5, 12, 8, 1, 4, true);
}

static void test_deep_trees(void **state)
{
	(void)state;
	/* a chain 300 deep (the looping walk): node i splits on x < i, going
	 * right; its left child is a leaf worth i. */
	int n = 601;
	int *l = malloc((size_t)n * sizeof *l), *r = malloc((size_t)n * sizeof *r);
	int *idx = calloc((size_t)n, sizeof *idx), *dl = calloc((size_t)n, sizeof *dl);
	float *c = calloc((size_t)n, sizeof *c);
	for (int i = 0; i < 300; i++) {
		int node = 2 * i;
		l[node] = node + 1;
		r[node] = node + 2;
		c[node] = (float)i;
		l[node + 1] = r[node + 1] = -1;
		c[node + 1] = (float)i;
	}
	l[600] = r[600] = -1;
	c[600] = 1000.0f;
	json_t *trees = json_array();
	json_array_append_new(trees, mk_tree(0, n, l, r, idx, c, dl, NULL));
	json_array_append_new(trees, stump(1, 0, 0.0f, 0.5f, 0.25f, 0));
	json_t *model = mk_model("reg:squarederror", 1, 0, "0", trees, NULL, NULL);
	struct mw_xgb *m = load_ok(model);
	float rows[20], out[20];
	struct mw_err err = { 0 };
	for (int i = 0; i < 20; i++)
		rows[i] = (float)(i * 17) - 0.5f;
	rows[19] = NAN; /* missing: default right all the way down */
	assert_int_equal(mw_xgb_predict(m, rows, 20, 1, out, false, &err), 0);
	for (int i = 0; i < 20; i++) {
		/* x = 17i - 0.5 first satisfies x < j at j = 17i (leaf 17i); from
		 * i = 18 on no j < 300 does (leaf 1000); NaN goes right to 1000 */
		float want = i >= 18 ? 1000.0f : (float)(17 * i);
		want += rows[i] < 0 ? 0.5f : 0.25f;
		assert_float_equal(out[i], want, 0);
		assert_float_equal(predict1(m, &rows[i], false), want, 0);
	}
	mw_xgb_free(m);
	json_decref(model);
	free(l); free(r); free(idx); free(dl); free(c);
}

/* ------------------------------------------------------------ categorical */

static void test_categorical(void **state)
{
	(void)state;
	int left[] = { 1, -1, -1 }, right[] = { 2, -1, -1 }, idx[] = { 1, 0, 0 };
	int dl[] = { 0, 0, 0 }, st[] = { 1, 0, 0 };
	float cond[] = { 0, -1.0f, 1.0f };
	json_t *t = mk_tree(0, 3, left, right, idx, cond, dl, st);
	json_object_set_new(t, "categories", json_pack("[i,i,i]", 1, 3, 40));
	json_object_set_new(t, "categories_nodes", json_pack("[i]", 0));
	json_object_set_new(t, "categories_segments", json_pack("[i]", 0));
	json_object_set_new(t, "categories_sizes", json_pack("[i]", 3));
	json_t *trees = json_array();
	json_array_append_new(trees, t);
	json_t *model = mk_model("reg:squarederror", 2, 0, "0", trees, NULL, NULL);
	json_object_set_new(json_object_get(model, "learner"), "feature_types",
			    json_pack("[s,s]", "q", "c"));
	for (int enc = 0; enc < 2; enc++) {
		struct mw_xgb *m;
		struct mw_err err = { 0 };
		if (enc) {
			size_t len;
			char *u = to_ubjson(model, true, &len);
			assert_int_equal(mw_xgb_load(u, len, &m, &err), 0);
			free(u);
		} else {
			m = load_ok(model);
		}
		assert_true(mw_xgb_has_categorical(m));
		assert_string_equal(mw_xgb_feature_types(m)[1], "c");
		struct { float x, want; } cases[] = {
			{ 1, 1 }, { 3, 1 }, { 40, 1 }, { 3.7f, 1 }, /* in the set: right */
			{ 0, -1 }, { 2, -1 }, { 39, -1 }, { 41, -1 }, { 1000, -1 },
			{ -1, -1 }, { 16777216.0f, -1 }, { INFINITY, -1 }, /* invalid: left */
			{ NAN, 1 },  /* missing: default right */
		};
		float rows[26], out[13];
		for (int i = 0; i < 13; i++) {
			rows[2 * i] = 0;
			rows[2 * i + 1] = cases[i].x;
			assert_float_equal(predict1(m, &rows[2 * i], false), cases[i].want, 0);
		}
		assert_int_equal(mw_xgb_predict(m, rows, 13, 2, out, false, &err), 0);
		for (int i = 0; i < 13; i++)
			assert_float_equal(out[i], cases[i].want, 0);
		mw_xgb_free(m);
	}
	/* a category outside [0, 2^24) in the model is rejected */
	json_object_set_new(json_array_get(trees_of(model), 0), "categories",
			    json_pack("[i,i,i]", 1, 3, 16777216));
	load_fails(model, MW_E_INVALID, "category");
	/* a segment past the end of categories */
	json_object_set_new(json_array_get(trees_of(model), 0), "categories_sizes",
			    json_pack("[i]", 4));
	load_fails(model, MW_E_INVALID, "out of range");
	json_decref(model);
}

/* ------------------------------------------------------------ formats */

static void test_ubjson_and_2x_layout(void **state)
{
	(void)state;
	json_t *trees = json_array();
	json_array_append_new(trees, stump(0, 1, 0.5f, 1.0f, 2.0f, 1));
	json_array_append_new(trees, stump(1, 0, -1.0f, 10.0f, 20.0f, 0));
	json_t *model = mk_model("reg:logistic", 2, 0, "3E-1", trees, NULL, NULL);
	json_object_set_new(json_object_get(model, "learner"), "feature_names",
			    json_pack("[s,s]", "age", "height"));
	float rows[8] = { 0, 0, 0, 0.5f, NAN, NAN, -3, 1 }, want[4], out[4];
	struct mw_err err = { 0 };
	struct mw_xgb *m = load_ok(model);
	assert_string_equal(mw_xgb_feature_names(m)[0], "age");
	assert_string_equal(mw_xgb_feature_names(m)[1], "height");
	assert_int_equal(mw_xgb_predict(m, rows, 4, 2, want, false, &err), 0);
	mw_xgb_free(m);

	for (int typed = 0; typed < 2; typed++) {
		size_t len;
		char *u = to_ubjson(model, typed, &len);
		assert_int_equal(mw_xgb_load(u, len, &m, &err), 0);
		assert_int_equal(mw_xgb_predict(m, rows, 4, 2, out, false, &err), 0);
		assert_memory_equal(out, want, sizeof want);
		assert_string_equal(mw_xgb_feature_names(m)[1], "height");
		mw_xgb_free(m);
		/* every truncation fails cleanly */
		for (size_t n = 0; n < len; n++)
			load_bytes_fails(u, n);
		/* trailing bytes are rejected */
		char *v = malloc(len + 1);
		memcpy(v, u, len);
		v[len] = 'Z';
		load_bytes_fails(v, len + 1);
		free(v);
		free(u);
	}

	/* 2.x: version 2, base_score as "[...]", size_leaf_vector 1,
	 * iteration_indptr; leading whitespace before the JSON */
	json_t *m2 = json_deep_copy(model);
	json_object_set_new(m2, "version", json_pack("[i,i,i]", 2, 0, 3));
	json_t *lmp = json_object_get(json_object_get(m2, "learner"), "learner_model_param");
	json_object_set_new(lmp, "base_score", json_string("[3E-1]"));
	json_t *mod = json_object_get(json_object_get(json_object_get(m2, "learner"), "gradient_booster"),
				      "model");
	json_object_set_new(mod, "iteration_indptr", json_pack("[i,i,i]", 0, 1, 2));
	json_t *tr;
	size_t i;
	json_array_foreach(json_object_get(mod, "trees"), i, tr)
		json_object_set_new(json_object_get(tr, "tree_param"), "size_leaf_vector",
				    json_string("1"));
	char *s = json_dumps(m2, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
	size_t sl = strlen(s);
	char *ws = malloc(sl + 3);
	memcpy(ws, " \n", 2);
	memcpy(ws + 2, s, sl + 1);
	assert_int_equal(mw_xgb_load(ws, sl + 2, &m, &err), 0);
	assert_int_equal(mw_xgb_predict(m, rows, 4, 2, out, false, &err), 0);
	assert_memory_equal(out, want, sizeof want);
	int v[3];
	mw_xgb_version(m, v);
	assert_int_equal(v[0], 2);
	mw_xgb_free(m);
	/* every truncation of the JSON text fails cleanly */
	for (size_t n = 0; n < sl + 2; n += 1 + n / 50)
		load_bytes_fails(ws, n);
	free(ws);
	free(s);

	/* vector leaves (multi_output_tree) are not supported */
	json_object_set_new(json_object_get(json_array_get(json_object_get(mod, "trees"), 0),
					    "tree_param"),
			    "size_leaf_vector", json_string("3"));
	load_fails(m2, MW_E_NOT_IMPLEMENTED, "vector leaves");
	json_decref(m2);
	json_decref(model);
}

static void test_nonfinite_tokens(void **state)
{
	(void)state;
	/* XGBoost writes NaN for a categorical split's threshold: accepted;
	 * as a leaf value or numerical threshold it is an error. */
#define TMPL \
		"{\"learner\":{\"feature_names\":[],\"feature_types\":[],\"gradient_booster\":{" \
		"\"model\":{\"gbtree_model_param\":{\"num_parallel_tree\":\"1\",\"num_trees\":\"1\"}," \
		"\"tree_info\":[0],\"trees\":[{\"categories\":[2],\"categories_nodes\":[0]," \
		"\"categories_segments\":[0],\"categories_sizes\":[1],\"default_left\":[0,0,0]," \
		"\"id\":0,\"left_children\":[1,-1,-1],\"right_children\":[2,-1,-1]," \
		"\"split_conditions\":[%s,%s,2.5E0],\"split_indices\":[0,0,0],\"split_type\":[%s,0,0]," \
		"\"tree_param\":{\"num_nodes\":\"3\",\"size_leaf_vector\":\"0\"}}]},\"name\":\"gbtree\"}," \
		"\"learner_model_param\":{\"base_score\":\"0\",\"num_class\":\"0\",\"num_feature\":\"1\"}," \
		"\"objective\":{\"name\":\"reg:squarederror\"}},\"version\":[1,7,4]}"
	char buf[2048];
	struct mw_xgb *m;
	struct mw_err err = { 0 };
	snprintf(buf, sizeof buf, TMPL, "NaN", "1.5E0", "1");
	assert_int_equal(mw_xgb_load(buf, strlen(buf), &m, &err), 0);
	float x[3] = { 2, 1, NAN };
	assert_float_equal(predict1(m, &x[0], false), 2.5f, 0);
	assert_float_equal(predict1(m, &x[1], false), 1.5f, 0);
	assert_float_equal(predict1(m, &x[2], false), 2.5f, 0);
	mw_xgb_free(m);
	snprintf(buf, sizeof buf, TMPL, "NaN", "1.5E0", "0");
	load_bytes_fails(buf, strlen(buf));
	snprintf(buf, sizeof buf, TMPL, "0", "-Infinity", "0");
	load_bytes_fails(buf, strlen(buf));
	snprintf(buf, sizeof buf, TMPL, "Infinity", "1", "0");
	load_bytes_fails(buf, strlen(buf));
	/* "NaN" inside a string is left alone */
	snprintf(buf, sizeof buf, TMPL, "0", "1", "0");
	char *p = strstr(buf, "reg:squarederror");
	memcpy(p, "NaN:Infinity-NaN", 16);
	assert_int_equal(mw_xgb_load(buf, strlen(buf), &m, &err), -MW_E_NOT_IMPLEMENTED);
	assert_non_null(strstr(err.msg, "NaN:Infinity-NaN"));
}

/* ------------------------------------------------------------ errors */

static json_t *simple_model(void)
{
	json_t *trees = json_array();
	json_array_append_new(trees, stump(0, 1, 0.5f, 1.0f, 2.0f, 1));
	return mk_model("reg:squarederror", 2, 0, "5E-1", trees, NULL, NULL);
}

static json_t *tree0(json_t *model)
{
	return json_array_get(trees_of(model), 0);
}

static void set_ints(json_t *model, const char *key, int a, int b, int c)
{
	json_object_set_new(tree0(model), key, json_pack("[i,i,i]", a, b, c));
}

static void test_bad_structure(void **state)
{
	(void)state;
	json_t *m;

	m = simple_model();
	set_ints(m, "left_children", 0, -1, -1); /* points at itself */
	load_fails(m, MW_E_INVALID, "reached twice");
	json_decref(m);

	m = simple_model();
	set_ints(m, "left_children", 1, -1, -1);
	set_ints(m, "right_children", 1, -1, -1); /* both children the same */
	load_fails(m, MW_E_INVALID, "reached twice");
	json_decref(m);

	m = simple_model();
	set_ints(m, "left_children", 1, 2, -1);   /* 1 -> 2 while 0 -> 2 too */
	set_ints(m, "right_children", 2, 0, -1);
	load_fails(m, MW_E_INVALID, "reached twice");
	json_decref(m);

	m = simple_model();
	set_ints(m, "right_children", 3, -1, -1);
	load_fails(m, MW_E_INVALID, "outside");
	json_decref(m);

	m = simple_model();
	set_ints(m, "right_children", -1, -1, -1); /* only one child */
	load_fails(m, MW_E_INVALID, "outside");
	json_decref(m);

	m = simple_model();
	set_ints(m, "split_indices", 2, 0, 0); /* feature 2 of 2 */
	load_fails(m, MW_E_INVALID, "split_indices");
	json_decref(m);

	m = simple_model();
	set_ints(m, "default_left", 2, 0, 0);
	load_fails(m, MW_E_INVALID, "default_left");
	json_decref(m);

	m = simple_model();
	json_object_set_new(tree0(m), "split_conditions", json_pack("[f,f]", 0.5, 1.0));
	load_fails(m, MW_E_INVALID, "split_conditions has 2 entries");
	json_decref(m);

	m = simple_model();
	json_object_set_new(tree0(m), "split_conditions", json_pack("[f,s,f]", 0.5, "x", 1.0));
	load_fails(m, MW_E_INVALID, "split_conditions[1]");
	json_decref(m);

	m = simple_model();
	json_object_set_new(tree0(m), "split_conditions", json_pack("[f,f,f]", 0.5, 1e300, 1.0));
	load_fails(m, MW_E_INVALID, "finite float32");
	json_decref(m);

	m = simple_model();
	json_object_del(tree0(m), "left_children");
	load_fails(m, MW_E_INVALID, "left_children is missing");
	json_decref(m);

	/* unreachable (deleted) nodes may hold anything */
	m = simple_model();
	json_t *t = tree0(m);
	json_array_append_new(json_object_get(t, "left_children"), json_integer(77));
	json_array_append_new(json_object_get(t, "right_children"), json_integer(-5));
	json_array_append_new(json_object_get(t, "split_indices"), json_integer(99));
	json_array_append_new(json_object_get(t, "split_conditions"), json_real(0));
	json_array_append_new(json_object_get(t, "default_left"), json_integer(0));
	json_array_append_new(json_object_get(t, "split_type"), json_integer(0));
	json_object_set_new(json_object_get(t, "tree_param"), "num_nodes", json_string("4"));
	struct mw_xgb *x = load_ok(m);
	float row[2] = { 0, 0.7f };
	assert_float_equal(predict1(x, row, false), 2.5f, 0);
	mw_xgb_free(x);
	json_object_set_new(json_object_get(t, "tree_param"), "num_nodes", json_string("5"));
	load_fails(m, MW_E_INVALID, "num_nodes");
	json_decref(m);

	m = simple_model();
	json_object_set_new(json_object_get(json_object_get(json_object_get(json_object_get(m, "learner"),
		"gradient_booster"), "model"), "gbtree_model_param"), "num_trees", json_string("2"));
	load_fails(m, MW_E_INVALID, "num_trees");
	json_decref(m);
}

static void test_bad_learner(void **state)
{
	(void)state;
	json_t *m;
	json_t *lmp;
#define LMP(m) json_object_get(json_object_get(m, "learner"), "learner_model_param")

	m = simple_model();
	json_object_set_new(json_object_get(json_object_get(m, "learner"), "objective"), "name",
			    json_string("survival:cox"));
	load_fails(m, MW_E_NOT_IMPLEMENTED, "survival:cox");
	json_decref(m);

	m = simple_model();
	json_object_set_new(json_object_get(json_object_get(m, "learner"), "gradient_booster"), "name",
			    json_string("gblinear"));
	load_fails(m, MW_E_NOT_IMPLEMENTED, "gblinear");
	json_decref(m);

	m = simple_model();
	lmp = LMP(m);
	json_object_set_new(lmp, "num_feature", json_string("0"));
	load_fails(m, MW_E_INVALID, "num_feature");
	json_object_set_new(lmp, "num_feature", json_string("99999999"));
	load_fails(m, MW_E_INVALID, "num_feature");
	json_object_set_new(lmp, "num_feature", json_string("2x"));
	load_fails(m, MW_E_INVALID, "not an integer");
	json_object_del(lmp, "num_feature");
	load_fails(m, MW_E_INVALID, "missing");
	json_decref(m);

	m = simple_model();
	lmp = LMP(m);
	json_object_set_new(lmp, "base_score", json_string("abc"));
	load_fails(m, MW_E_INVALID, "base_score");
	json_object_set_new(lmp, "base_score", json_string("[0.5,0.2]"));
	load_fails(m, MW_E_INVALID, "2 values for 1 output groups");
	json_decref(m);

	json_t *trees = json_array();
	json_array_append_new(trees, stump(0, 1, 0.5f, 1.0f, 2.0f, 1));
	m = mk_model("binary:logistic", 2, 0, "1.5E0", trees, NULL, NULL);
	load_fails(m, MW_E_INVALID, "(0,1)");
	json_decref(m);

	trees = json_array();
	json_array_append_new(trees, stump(0, 1, 0.5f, 1.0f, 2.0f, 1));
	int groups[] = { 3 };
	m = mk_model("multi:softprob", 2, 3, "5E-1", trees, groups, NULL);
	load_fails(m, MW_E_INVALID, "tree_info[0]");
	json_decref(m);

	trees = json_array();
	m = mk_model("multi:softmax", 2, 0, "5E-1", trees, NULL, NULL);
	load_fails(m, MW_E_INVALID, "num_class");
	json_decref(m);

	m = simple_model();
	json_object_set_new(json_object_get(m, "learner"), "feature_names", json_pack("[s]", "a"));
	load_fails(m, MW_E_INVALID, "feature_names has 1 entries for 2 features");
	json_decref(m);

	trees = json_array();
	json_array_append_new(trees, stump(0, 0, 0.5f, 1.0f, 2.0f, 1));
	m = mk_model("reg:squarederror", 1, 0, "0", trees, NULL, json_pack("[f,f]", 1.0, 1.0));
	load_fails(m, MW_E_INVALID, "weight_drop has 2 entries for 1 trees");
	json_decref(m);
#undef LMP
}

static void test_bad_bytes(void **state)
{
	(void)state;
	struct mw_xgb *m = NULL;
	struct mw_err err = { 0 };
	load_bytes_fails("", 0);
	load_bytes_fails("   ", 3);
	load_bytes_fails("[]", 2);
	load_bytes_fails("{}", 2);
	load_bytes_fails("{\"learner\":1}", 13);
	load_bytes_fails("binf\0\0\0\1", 8);
	/* nesting over the cap, in JSON and UBJSON */
	char deep[200];
	memset(deep, '[', sizeof deep);
	memcpy(deep, "{\"a\":", 5);
	load_bytes_fails(deep, sizeof deep);
	assert_int_equal(mw_xgb_load(deep, sizeof deep, &m, &err), -MW_E_INVALID);
	assert_non_null(strstr(err.msg, "nesting"));
	unsigned char ub[200];
	memset(ub, '[', sizeof ub);
	memcpy(ub, "{i\001a", 4);
	assert_int_equal(mw_xgb_load(ub, sizeof ub, &m, &err), -MW_E_INVALID);
	assert_non_null(strstr(err.msg, "nesting"));
	/* counts larger than the input, negative lengths, bad markers */
	const unsigned char c1[] = "{i\001a[$d#L\x7f\xff\xff\xff\xff\xff\xff\xff}";
	const unsigned char c2[] = "{i\001a[#l\x00\x10\x00\x00i\x01}";
	const unsigned char c3[] = "{i\001aSi\xff}";
	const unsigned char c4[] = "{i\001a?}";
	const unsigned char c5[] = "{i\001aSi\002\xff\xfe}";
	const unsigned char c6[] = "{i\001a[$Z#i\005}";
	const unsigned char c7[] = "{i\005ab}";
	const unsigned char c8[] = "{i\001a{i\001bi\001i\001bi\002}}";
	const unsigned char *cs[] = { c1, c2, c3, c4, c5, c6, c7, c8 };
	size_t ls[] = { sizeof c1 - 1, sizeof c2 - 1, sizeof c3 - 1, sizeof c4 - 1,
			sizeof c5 - 1, sizeof c6 - 1, sizeof c7 - 1, sizeof c8 - 1 };
	for (size_t i = 0; i < sizeof cs / sizeof *cs; i++)
		load_bytes_fails(cs[i], ls[i]);
	assert_int_equal(mw_xgb_load(c8, ls[7], &m, &err), -MW_E_INVALID);
	assert_non_null(strstr(err.msg, "duplicate key"));
	/* files */
	assert_int_equal(mw_xgb_load_file("/nonexistent/model.json", &m, &err), -MW_E_NOT_FOUND);
	assert_int_equal(mw_xgb_load_file("/", &m, &err), -MW_E_IO);
}

static void test_predict_args(void **state)
{
	(void)state;
	json_t *model = simple_model();
	struct mw_xgb *m = load_ok(model);
	struct mw_err err = { 0 };
	float rows[6] = { 0 }, out[3];
	assert_int_equal(mw_xgb_predict(m, rows, 2, 3, out, false, &err), -MW_E_INVALID);
	assert_non_null(strstr(err.msg, "3 features, the model expects 2"));
	assert_int_equal(mw_xgb_predict(m, rows, 3, 1, out, false, &err), -MW_E_INVALID);
	assert_int_equal(mw_xgb_predict(m, NULL, 3, 2, out, false, &err), -MW_E_INVALID);
	assert_int_equal(mw_xgb_predict(m, rows, 3, 2, NULL, false, &err), -MW_E_INVALID);
	assert_int_equal(mw_xgb_predict(m, rows, SIZE_MAX / 2, 2, out, false, &err), -MW_E_INVALID);
	assert_int_equal(mw_xgb_predict(NULL, rows, 3, 2, out, false, &err), -MW_E_INVALID);
	mw_xgb_free(m);
	mw_xgb_free(NULL);
	json_decref(model);
}

/* ------------------------------------------------------------ threads */

struct tjob {
	const struct mw_xgb *m;
	const float *rows;
	const float *want;
	size_t nrows, nfeat;
	int bad;
};

static void *tjob_run(void *arg)
{
	struct tjob *j = arg;
	float *out = malloc(j->nrows * sizeof *out);
	struct mw_err err = { 0 };
	for (int it = 0; it < 50; it++) {
		size_t b = (size_t)it % 9 + 1;
		for (size_t r = 0; r < j->nrows; r += b) {
			size_t k = j->nrows - r < b ? j->nrows - r : b;
			if (mw_xgb_predict(j->m, j->rows + r * j->nfeat, k, j->nfeat, out + r, false, &err))
				j->bad++;
		}
		if (memcmp(out, j->want, j->nrows * sizeof *out) != 0)
			j->bad++;
	}
	free(out);
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	unsigned s = 99;
	json_t *trees = json_array();
	for (int t = 0; t < 30; t++)
		json_array_append_new(trees, random_tree(&s, t, 5, 4, 1.0f));
	json_t *model = mk_model("binary:logistic", 4, 0, "5E-1", trees, NULL, NULL);
	struct mw_xgb *m = load_ok(model);
	size_t nrows = 100;
	float rows[400], want[100];
	for (size_t i = 0; i < 400; i++)
		rows[i] = rnd(&s) % 7 == 0 ? NAN : grid[rnd(&s) % 7];
	struct mw_err err = { 0 };
	assert_int_equal(mw_xgb_predict(m, rows, nrows, 4, want, false, &err), 0);
	pthread_t tid[8];
	struct tjob jobs[8];
	for (int i = 0; i < 8; i++) {
		jobs[i] = (struct tjob){ m, rows, want, nrows, 4, 0 };
		pthread_create(&tid[i], NULL, tjob_run, &jobs[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(tid[i], NULL);
		assert_int_equal(jobs[i].bad, 0);
	}
	mw_xgb_free(m);
	json_decref(model);
}

/* ------------------------------------------------------------ pool */

/* mw_xgb_predict_pool must give the bytes mw_xgb_predict gives, one row at
 * a time and as one batch, with and without margins, for the whole batch
 * (split across the pool) and in pieces around the split threshold. */
static void check_pool(json_t *model, struct mw_pool *pool, size_t nrows, unsigned seed)
{
	struct mw_xgb *m = load_ok(model);
	struct mw_err err = {0};
	unsigned s = seed;
	size_t nf = mw_xgb_num_features(m), G = mw_xgb_num_outputs(m, true);
	float *rows = malloc(nrows * nf * sizeof *rows);
	for (size_t i = 0; i < nrows * nf; i++)
		rows[i] = rnd(&s) % 9 == 0 ? NAN
					   : grid[rnd(&s) % 7] + (rnd(&s) % 3 == 0 ? 0.01f : 0.0f);
	float *one = malloc(nrows * G * sizeof *one), *all = malloc(nrows * G * sizeof *all);
	float *got = malloc(nrows * G * sizeof *got);
	/* big enough to split even when the workers sleep; never below two
	 * lane groups, never without a pool of two threads */
	assert_int_equal(mw_xgb_pool_pays(m, pool, nrows), mw_pool_threads(pool) > 1);
	assert_false(mw_xgb_pool_pays(m, pool, 1));
	assert_false(mw_xgb_pool_pays(m, pool, 15));
	for (int margin = 0; margin < 2; margin++) {
		size_t k = mw_xgb_num_outputs(m, margin);
		for (size_t r = 0; r < nrows; r++)
			assert_int_equal(mw_xgb_predict(m, rows + r * nf, 1, nf, one + r * k,
							margin, &err),
					 0);
		assert_int_equal(mw_xgb_predict(m, rows, nrows, nf, all, margin, &err), 0);
		assert_memory_equal(one, all, nrows * k * sizeof *one);
		size_t batches[] = {nrows, 1, 9, 16, 17, 40, 64, 127, 128, 129, 500, 1000, 1025};
		for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
			size_t b = batches[bi];
			memset(got, 0, nrows * k * sizeof *got);
			for (size_t r = 0; r < nrows; r += b) {
				size_t n = nrows - r < b ? nrows - r : b;
				assert_int_equal(mw_xgb_predict_pool(m, pool, rows + r * nf, n, nf,
								     got + r * k, margin, &err),
						 0);
			}
			for (size_t i = 0; i < nrows * k; i++)
				if (memcmp(&got[i], &all[i], sizeof *got) != 0)
					fail_msg("seed %u batch %zu margin %d: output %zu is %.9g, want %.9g",
						 seed, b, margin, i, (double)got[i],
						 (double)all[i]);
		}
	}
	/* the same argument checks as mw_xgb_predict */
	assert_int_equal(mw_xgb_predict_pool(m, pool, rows, 2, nf + 1, got, false, &err),
			 -MW_E_INVALID);
	assert_int_equal(mw_xgb_predict_pool(m, pool, NULL, 2, nf, got, false, &err),
			 -MW_E_INVALID);
	assert_int_equal(mw_xgb_predict_pool(NULL, pool, rows, 2, nf, got, false, &err),
			 -MW_E_INVALID);
	assert_int_equal(mw_xgb_predict_pool(m, pool, NULL, 0, nf, NULL, false, &err), 0);
	free(rows);
	free(one);
	free(all);
	free(got);
	mw_xgb_free(m);
}

static json_t *random_model(unsigned seed, int ntrees, int depth, int nfeat, int ngroups)
{
	unsigned s = seed;
	json_t *trees = json_array();
	int *groups = malloc((size_t)ntrees * sizeof *groups);
	for (int t = 0; t < ntrees; t++) {
		json_array_append_new(trees, random_tree(&s, t, depth, nfeat, 0.1f));
		groups[t] = t % ngroups;
	}
	json_t *model = mk_model(ngroups > 1 ? "multi:softprob" : "binary:logistic", nfeat,
				 ngroups > 1 ? ngroups : 0, "5E-1", trees, groups, NULL);
	free(groups);
	return model;
}

static void test_predict_pool(void **state)
{
	(void)state;
	struct mw_pool *pools[3] = {NULL, NULL, NULL};
	struct mw_err err = {0};
	assert_int_equal(mw_pool_new(3, &pools[1], &err), 0);
	assert_int_equal(mw_pool_new(1, &pools[2], &err), 0);
	json_t *models[] = {
		random_model(21, 20, 6, 5, 1),   /* complete-tree walks, blocks of 64 */
		random_model(22, 30, 4, 6, 5),   /* 5 groups: sums on the heap */
		random_model(23, 20, 10, 5, 1),  /* lockstep walks */
		random_model(24, 60, 7, 400, 1), /* > 256 features used: blocks of 8 */
	};
	for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
		for (int p = 0; p < 3; p++)
			check_pool(models[i], pools[p], 4500, 100 + (unsigned)i);
		json_decref(models[i]);
	}
	mw_pool_free(pools[1]);
	mw_pool_free(pools[2]);
}

/* The threshold in rows follows the model's cost per row: features used
 * by splits + 1 + the sum of the trees' depths (leaf-only trees count 1). */
static void test_pool_threshold(void **state)
{
	(void)state;
	for (int big = 0; big < 2; big++) {
		int ntrees = big ? 600 : 10;
		json_t *trees = json_array();
		for (int t = 0; t < ntrees; t++)
			json_array_append_new(trees, t == 0 ? leaf_tree(0, 1.0f)
							    : stump(t, t % 2, 0.5f, 1.0f, 2.0f, 0));
		json_t *model = mk_model("reg:squarederror", 2, 0, "0", trees, NULL, NULL);
		struct mw_xgb *m = load_ok(model);
		size_t work = 2 + 1 + (size_t)ntrees; /* 2 features, depth 1 each */
		size_t hot = (MW_XGB_POOL_MIN_WORK + work - 1) / work;
		size_t cold = (MW_XGB_POOL_MIN_WORK_COLD + work - 1) / work;
		assert_int_equal(mw_xgb_pool_min_rows(m, true), hot > 16 ? hot : 16);
		assert_int_equal(mw_xgb_pool_min_rows(m, false), cold > 16 ? cold : 16);
		struct mw_pool *pool;
		struct mw_err err = {0};
		assert_int_equal(mw_pool_new(2, &pool, &err), 0);
		size_t cold_rows = mw_xgb_pool_min_rows(m, false);
		assert_true(mw_xgb_pool_pays(m, pool, cold_rows));
		assert_false(mw_xgb_pool_pays(m, pool, mw_xgb_pool_min_rows(m, true) - 1));
		assert_false(mw_xgb_pool_pays(m, NULL, cold_rows));
		mw_pool_free(pool);
		mw_xgb_free(m);
		json_decref(model);
	}
}

/* Several threads share one pool and one model: each call either gets the
 * pool or (while another holds it) runs inline; all get the same bytes. */
struct pjob {
	const struct mw_xgb *m;
	struct mw_pool *pool;
	const float *rows;
	const float *want;
	size_t nrows, nfeat;
	int bad;
};

static void *pjob_run(void *arg)
{
	struct pjob *j = arg;
	float *out = malloc(j->nrows * sizeof *out);
	struct mw_err err = {0};
	for (int it = 0; it < 20; it++) {
		memset(out, 0, j->nrows * sizeof *out);
		if (mw_xgb_predict_pool(j->m, j->pool, j->rows, j->nrows, j->nfeat, out, false,
					&err))
			j->bad++;
		if (memcmp(out, j->want, j->nrows * sizeof *out) != 0)
			j->bad++;
	}
	free(out);
	return NULL;
}

static void test_predict_pool_threads(void **state)
{
	(void)state;
	json_t *model = random_model(31, 60, 6, 8, 1);
	struct mw_xgb *m = load_ok(model);
	struct mw_pool *pool;
	struct mw_err err = {0};
	assert_int_equal(mw_pool_new(2, &pool, &err), 0);
	unsigned s = 5;
	size_t nrows = 1500, nf = 8;
	float *rows = malloc(nrows * nf * sizeof *rows), *want = malloc(nrows * sizeof *want);
	for (size_t i = 0; i < nrows * nf; i++)
		rows[i] = rnd(&s) % 7 == 0 ? NAN : grid[rnd(&s) % 7];
	assert_true(mw_xgb_pool_pays(m, pool, nrows));
	assert_int_equal(mw_xgb_predict(m, rows, nrows, nf, want, false, &err), 0);
	pthread_t tid[4];
	struct pjob jobs[4];
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct pjob){m, pool, rows, want, nrows, nf, 0};
		pthread_create(&tid[i], NULL, pjob_run, &jobs[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(tid[i], NULL);
		assert_int_equal(jobs[i].bad, 0);
	}
	mw_pool_free(pool);
	free(rows);
	free(want);
	mw_xgb_free(m);
	json_decref(model);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stump_semantics),
		cmocka_unit_test(test_split_edge_values),
		cmocka_unit_test(test_objectives),
		cmocka_unit_test(test_multiclass),
		cmocka_unit_test(test_dart_weights),
		cmocka_unit_test(test_empty_and_leaf_trees),
		cmocka_unit_test(test_random_models),
		cmocka_unit_test(test_deep_trees),
		cmocka_unit_test(test_categorical),
		cmocka_unit_test(test_ubjson_and_2x_layout),
		cmocka_unit_test(test_nonfinite_tokens),
		cmocka_unit_test(test_bad_structure),
		cmocka_unit_test(test_bad_learner),
		cmocka_unit_test(test_bad_bytes),
		cmocka_unit_test(test_predict_args),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_predict_pool),
		cmocka_unit_test(test_pool_threshold),
		cmocka_unit_test(test_predict_pool_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
