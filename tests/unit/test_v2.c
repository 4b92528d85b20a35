/*
 * test_v2.c - unit tests for the V2 request decoder (serve/v2.c): the plain
 * reader (bodies without escapes), yajl's streaming path (other escapes) and
 * jansson's path (taken for bodies with a \u escape or a JSON string body)
 * must mean the same thing, so every request here is decoded three times,
 * once as written, once with a harmless \t escape and once with a harmless
 * \u escape added (in an unknown key), and the results must be identical:
 * the same matrix bit for bit, the same id and output form, or the same
 * error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"

static json_t *names;

struct result {
	int rc;
	struct mw_err err;
	struct mw_v2_request r;
};

static void decode(const struct mw_rows_schema *sc, const char *json, const void *bin,
		   size_t binlen, struct result *out)
{
	memset(out, 0, sizeof *out);
	out->rc = mw_v2_decode(sc, json, strlen(json), bin, binlen, 64, &out->r, &out->err);
}

/* The same body with key k (an escape) in a key nobody reads, added after
 * the first '{': "\u0078" (an escaped "x") takes jansson's path, "\t"
 * yajl's. */
static char *escaped_key(const char *json, const char *k)
{
	const char *brace = strchr(json, '{');
	if (!brace || json[0] == '"') /* a string body takes jansson's path anyway */
		return NULL;
	size_t n = strlen(json) + 32;
	char *s = malloc(n);
	snprintf(s, n, "%.*s{\"%s\":1,%s", (int)(brace - json), json, k, brace + 1);
	if (brace[1] == '}') /* {} */
		snprintf(s, n, "%.*s{\"%s\":1}%s", (int)(brace - json), json, k, brace + 2);
	return s;
}

static void same(const struct result *a, const struct result *b, const char *json)
{
	if (a->rc != b->rc || strcmp(a->err.msg, b->err.msg))
		fail_msg("%s: %d '%s' vs %d '%s'", json, a->rc, a->err.msg, b->rc, b->err.msg);
	if (a->rc)
		return;
	assert_int_equal(a->r.rows.rows, b->r.rows.rows);
	assert_int_equal(a->r.rows.cols, b->r.rows.cols);
	assert_memory_equal(a->r.rows.x, b->r.rows.x,
			    a->r.rows.rows * a->r.rows.cols * sizeof(float));
	assert_int_equal(a->r.binary_out, b->r.binary_out);
	if (a->r.id || b->r.id) {
		assert_non_null(a->r.id);
		assert_non_null(b->r.id);
		assert_string_equal(a->r.id, b->r.id);
	}
}

/* Decode both ways; returns the streaming result (release it). */
static struct result both(const struct mw_rows_schema *sc, const char *json, const void *bin,
			  size_t binlen)
{
	struct result a, b;
	decode(sc, json, bin, binlen, &a);
	static const char *const keys[] = {"\\u0078", "\\t"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		char *e = escaped_key(json, keys[i]);
		if (!e)
			continue;
		decode(sc, e, bin, binlen, &b);
		same(&a, &b, json);
		mw_v2_request_release(&b.r);
		free(e);
	}
	return a;
}

static void ok(const struct mw_rows_schema *sc, const char *json, size_t rows, const float *want)
{
	struct result a = both(sc, json, NULL, 0);
	if (a.rc)
		fail_msg("%s: %s", json, a.err.msg);
	assert_int_equal(a.r.rows.rows, rows);
	for (size_t i = 0; i < rows * sc->nfeat; i++) {
		if (isnan(want[i]))
			assert_true(isnan(a.r.rows.x[i]));
		else
			assert_float_equal(a.r.rows.x[i], want[i], 0);
	}
	mw_v2_request_release(&a.r);
}

static void bad(const struct mw_rows_schema *sc, const char *json, int code, const char *word)
{
	struct result a = both(sc, json, NULL, 0);
	if (a.rc != -code)
		fail_msg("%s: rc %d, want %d (%s)", json, a.rc, -code, a.err.msg);
	if (word && !strstr(a.err.msg, word))
		fail_msg("%s: '%s' lacks '%s'", json, a.err.msg, word);
	mw_v2_request_release(&a.r);
}

static void test_shapes_and_values(void **state)
{
	(void)state;
	struct mw_rows_schema sc = {.nfeat = 3, .feature_names = names};
	const float w[] = {1, 2, 3, 4, NAN, 6};
	const char *p = "{\"inputs\":[{\"name\":\"input-0\",\"datatype\":\"FP32\",\"shape\":[2,3],";
	char buf[512];
	snprintf(buf, sizeof buf, "%s\"data\":[[1,2,3],[4,null,6]]}]}", p);
	ok(&sc, buf, 2, w);
	snprintf(buf, sizeof buf, "%s\"data\":[1,2.0,\"3\",4,\"\",6e0]}]}", p);
	ok(&sc, buf, 2, w);
	/* data before shape; keys in any order; unknown keys of any shape */
	ok(&sc,
	   "{\"x\":[{\"y\":[1,{}]}],\"inputs\":[{\"data\":[[1,2,3],[4,null,6]],\"z\":null,"
	   "\"shape\":[2,3],\"datatype\":\"FP64\",\"name\":\"input-0\",\"parameters\":{\"q\":[1]}}]}",
	   2, w);
	/* per-feature inputs by name, in any order; booleans */
	const float w2[] = {1, 0, 7, 0, 1, 8};
	ok(&sc,
	   "{\"inputs\":[{\"name\":\"c\",\"datatype\":\"INT32\",\"shape\":[2],\"data\":[7,8]},"
	   "{\"name\":\"a\",\"datatype\":\"BOOL\",\"shape\":[2],\"data\":[true,false]},"
	   "{\"name\":\"b\",\"datatype\":\"BOOL\",\"shape\":[2],\"data\":[[false],[true]]}]}",
	   2, w2);
	/* the last of a repeated key wins */
	snprintf(buf, sizeof buf,
		 "{\"inputs\":[{\"name\":\"bogus\"}],\"inputs\":[{\"name\":\"input-0\","
		 "\"datatype\":\"FP32\",\"shape\":[9,9],\"shape\":[2,3],\"data\":[0],"
		 "\"data\":[[1,2,3],[4,null,6]]}]}");
	ok(&sc, buf, 2, w);
	/* big and small numbers, integers as jansson reads them */
	struct mw_rows_schema one = {.nfeat = 1};
	const float w3[] = {(float)9007199254740993.0, 1e-30f, -0.0f, (float)0.1};
	ok(&one,
	   "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP64\",\"shape\":[4],"
	   "\"data\":[9007199254740993,1e-30,-0,0.1]}]}",
	   4, w3);
}

static void test_id_and_outputs(void **state)
{
	(void)state;
	struct mw_rows_schema sc = {.nfeat = 1};
	struct result a =
		both(&sc,
		     "{\"id\":\"r-1\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
		     "\"shape\":[1],\"data\":[1]}],\"parameters\":{\"binary_data_output\":true}}",
		     NULL, 0);
	assert_int_equal(a.rc, 0);
	assert_string_equal(a.r.id, "r-1");
	assert_true(a.r.binary_out);
	mw_v2_request_release(&a.r);
	a = both(&sc,
		 "{\"id\":7,\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1],"
		 "\"data\":[1]}],\"parameters\":{\"binary_data_output\":true},"
		 "\"outputs\":[{\"name\":\"output-0\",\"parameters\":{\"binary_data\":false}}]}",
		 NULL, 0);
	assert_int_equal(a.rc, 0);
	assert_null(a.r.id); /* not a string: not echoed */
	assert_false(a.r.binary_out);
	mw_v2_request_release(&a.r);
	bad(&sc,
	    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}],"
	    "\"outputs\":[{\"name\":\"probabilities\"}]}",
	    MW_E_INVALID, "unknown output 'probabilities'");
}

static void test_binary(void **state)
{
	(void)state;
	struct mw_rows_schema sc = {.nfeat = 2};
	const float x[4] = {1.5f, -2, 3, 4};
	const char *j = "{\"inputs\":[{\"name\":\"input-0\",\"datatype\":\"FP32\",\"shape\":[2,2],"
			"\"parameters\":{\"binary_data_size\":16}}]}";
	struct result a = both(&sc, j, x, sizeof x);
	assert_int_equal(a.rc, 0);
	assert_memory_equal(a.r.rows.x, x, sizeof x);
	mw_v2_request_release(&a.r);
	a = both(&sc, j, x, 12); /* shorter than it says */
	assert_int_equal(a.rc, -MW_E_INVALID);
	mw_v2_request_release(&a.r);
	const double xd[2] = {0.25, -8};
	a = both(&sc,
		 "{\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP64\",\"shape\":[1],"
		 "\"parameters\":{\"binary_data_size\":8}},{\"name\":\"b\",\"datatype\":\"FP64\","
		 "\"shape\":[1],\"parameters\":{\"binary_data_size\":8}}]}",
		 xd, sizeof xd);
	assert_int_equal(a.rc, 0);
	assert_float_equal(a.r.rows.x[0], 0.25f, 0);
	assert_float_equal(a.r.rows.x[1], -8.0f, 0);
	mw_v2_request_release(&a.r);
}

static void test_errors(void **state)
{
	(void)state;
	struct mw_rows_schema sc = {.nfeat = 3, .feature_names = names};
	bad(&sc, "", MW_E_INVALID, "'inputs' must be a non-empty list");
	bad(&sc, "  ", MW_E_INVALID, "'inputs'");
	bad(&sc, "{}", MW_E_INVALID, "'inputs'");
	bad(&sc, "{\"inputs\":{}}", MW_E_INVALID, "'inputs'");
	bad(&sc, "{\"inputs\":[]}", MW_E_INVALID, "'inputs'");
	bad(&sc, "[1,2]", MW_E_BAD_REQUEST, "must be a JSON object");
	bad(&sc, "{\"inputs\":[1]}", MW_E_INVALID, "needs 'name'");
	bad(&sc, "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":3,\"data\":[]}]}",
	    MW_E_INVALID, "needs 'name'");
	bad(&sc,
	    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP16\",\"shape\":[1,3],\"data\":[]}]}",
	    MW_E_INVALID, "FP16");
	bad(&sc, "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,1,3]}]}",
	    MW_E_INVALID, "shape must be");
	bad(&sc,
	    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[-1,3],\"data\":[]}]}",
	    MW_E_INVALID, "bad shape");
	bad(&sc,
	    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1.5,3],\"data\":[]}]}",
	    MW_E_INVALID, "bad shape");
	bad(&sc, "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,3]}]}",
	    MW_E_INVALID, "has no data");
	bad(&sc,
	    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[2,3],\"data\":[1,2,3]}]}",
	    MW_E_INVALID, "its shape says 6");
	bad(&sc,
	    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,3],\"data\":[1,2,3,4]}]}",
	    MW_E_INVALID, "more values than its shape");
	bad(&sc,
	    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,4],\"data\":[1,2,3,4]}]}",
	    MW_E_INVALID, "4 features per row, the model takes 3");
	bad(&sc,
	    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,3],\"data\":[1,\"abc\",3]}]}",
	    MW_E_INVALID, "\"abc\" is not a number");
	bad(&sc,
	    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,3],\"data\":[1,{\"v\":1},3]}]}",
	    MW_E_INVALID, "is not a number");
	bad(&sc,
	    "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,3],"
	    "\"data\":[[[[[[[[[[[1]]]]]]]]]],2,3]}]}",
	    MW_E_INVALID, "nests too deep");
	bad(&sc,
	    "{\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]},"
	    "{\"name\":\"b\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]},"
	    "{\"name\":\"zz\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}]}",
	    MW_E_INVALID, "missing input for feature 'c'");
	bad(&sc,
	    "{\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]},"
	    "{\"name\":\"b\",\"datatype\":\"FP32\",\"shape\":[2],\"data\":[1,2]},"
	    "{\"name\":\"c\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1]}]}",
	    MW_E_INVALID, "every per-feature input");
	/* malformed JSON: both paths refuse it (messages differ by parser) */
	static const char *const malformed[] = {
		"{",
		"{\"inputs\": [",
		"not json",
		"{\"a\":1}x",
		"{\"a\":NaN}",
		"{\"a\":Infinity}",
		"{\"a\":1e999}",
		"{\"a\":99999999999999999999}",
		"{\"a\":\"\xff\"}",
		/* the plain reader gives up on these after sending events */
		"{\"a\":01}",
		"{\"a\":1.}",
		"{\"a\":-}",
		"{\"a\":1e}",
		"{\"a\":tru}",
		"{\"a\":[1 2]}",
		"{\"a\" 1}",
		"{\"a\":1,}",
		"{\"a\":[1,]}",
		"{\"a\":\"x\x1f\"}",
		"{\"a\":1}}",
		"{\"a\":1} 2",
		"{\"a\":1\v}",
		("{\"inputs\":[{\"name\":\"input-0\",\"datatype\":\"FP32\",\"shape\":[1,3],"
		 "\"data\":[1,2,3]}],\"x\":[1 2]}"),
	};
	for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
		struct result a;
		decode(&sc, malformed[i], NULL, 0, &a);
		if (a.rc != -MW_E_BAD_REQUEST)
			fail_msg("%s: rc %d (%s)", malformed[i], a.rc, a.err.msg);
		mw_v2_request_release(&a.r);
	}
	/* jansson's rules for escapes: a lone surrogate and \u0000 are refused */
	struct result a;
	decode(&sc, "{\"id\":\"\\ud800\",\"inputs\":[]}", NULL, 0, &a);
	assert_true(a.rc < 0);
	decode(&sc, "{\"id\":\"a\\u0000b\",\"inputs\":[]}", NULL, 0, &a);
	assert_true(a.rc < 0);
	/* nesting past max_depth */
	char deep[300];
	memset(deep, '[', 100);
	snprintf(deep + 100, sizeof deep - 100, "%s", "");
	char body[400];
	snprintf(body, sizeof body, "{\"x\":%s}", deep);
	decode(&sc, body, NULL, 0, &a);
	assert_int_equal(a.rc, -MW_E_BAD_REQUEST);
	assert_non_null(strstr(a.err.msg, "nesting deeper than 64"));
}

static void test_string_body(void **state)
{
	(void)state;
	/* old clients send the request as a JSON string holding JSON */
	struct mw_rows_schema sc = {.nfeat = 1};
	const float w[] = {2.5f};
	ok(&sc,
	   "\"{\\\"inputs\\\":[{\\\"name\\\":\\\"x\\\",\\\"datatype\\\":\\\"FP32\\\","
	   "\\\"shape\\\":[1],\\\"data\\\":[2.5]}]}\"",
	   1, w);
}

int main(void)
{
	names = json_pack("[s,s,s]", "a", "b", "c");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shapes_and_values),
		cmocka_unit_test(test_id_and_outputs),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_string_body),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	json_decref(names);
	return rc;
}
