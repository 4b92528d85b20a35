/*
 * test_rows.c - unit tests for the one row parser (serve/rows.c) that
 * /invocations and `mw predict` share: every JSON form and CSV give the same
 * matrix; columns by name or position; missing values; and every bad cell is
 * an error naming its row (CSV: line) and column, never a dropped row.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"

static json_t *names;

static struct mw_rows_schema named(void)
{
	return (struct mw_rows_schema){.nfeat = 3, .feature_names = names};
}

static struct mw_rows_schema positional(size_t nf)
{
	return (struct mw_rows_schema){.nfeat = nf, .feature_names = NULL};
}

static void expect(const struct mw_rows *t, size_t rows, const float *want)
{
	assert_int_equal(t->rows, rows);
	for (size_t i = 0; i < rows * t->cols; i++) {
		if (isnan(want[i]))
			assert_true(isnan(t->x[i]));
		else
			assert_float_equal(t->x[i], want[i], 0);
	}
}

static struct mw_rows json_ok(const struct mw_rows_schema *sc, const char *text)
{
	json_t *body = json_loads(text, 0, NULL);
	assert_non_null(body);
	struct mw_rows t = {0};
	struct mw_err err = {0};
	int rc = mw_rows_from_json(sc, body, &t, &err);
	json_decref(body);
	if (rc)
		fail_msg("%s: %s", text, err.msg);
	return t;
}

/* The error for a bad input, which must contain each of the words. */
static void json_bad(const struct mw_rows_schema *sc, const char *text, const char *w1,
		     const char *w2)
{
	json_t *body = json_loads(text, 0, NULL);
	assert_non_null(body);
	struct mw_rows t = {0};
	struct mw_err err = {0};
	int rc = mw_rows_from_json(sc, body, &t, &err);
	json_decref(body);
	if (rc != -MW_E_INVALID)
		fail_msg("%s: rc %d (%s)", text, rc, err.msg);
	if ((w1 && !strstr(err.msg, w1)) || (w2 && !strstr(err.msg, w2)))
		fail_msg("%s: '%s' lacks '%s' / '%s'", text, err.msg, w1, w2 ? w2 : "");
}

static struct mw_rows csv_ok(const struct mw_rows_schema *sc, const char *text)
{
	struct mw_rows t = {0};
	struct mw_err err = {0};
	if (mw_rows_from_csv(sc, text, strlen(text), &t, &err))
		fail_msg("%s: %s", text, err.msg);
	return t;
}

static void csv_bad(const struct mw_rows_schema *sc, const char *text, const char *w1,
		    const char *w2)
{
	struct mw_rows t = {0};
	struct mw_err err = {0};
	int rc = mw_rows_from_csv(sc, text, strlen(text), &t, &err);
	if (rc != -MW_E_INVALID)
		fail_msg("%s: rc %d (%s)", text, rc, err.msg);
	if ((w1 && !strstr(err.msg, w1)) || (w2 && !strstr(err.msg, w2)))
		fail_msg("%s: '%s' lacks '%s' / '%s'", text, err.msg, w1, w2 ? w2 : "");
}

static void test_json_forms_agree(void **state)
{
	(void)state;
	struct mw_rows_schema sc = named();
	const float want[] = {1, 2, 3, 4, NAN, 6};
	const char *forms[] = {
		"{\"dataframe_split\": {\"columns\": [\"c\", \"a\", \"b\"], "
		"\"data\": [[3, 1, 2], [6, 4, null]]}}",
		"{\"dataframe_split\": {\"data\": [[1, 2, 3], [4, \"\", 6]]}}",
		"{\"dataframe_records\": [{\"b\": 2, \"a\": 1, \"c\": 3}, {\"a\": 4, \"b\": null, "
		"\"c\": \"6\"}]}",
		"{\"instances\": [[1, 2, 3], [4, null, 6]]}",
		"{\"instances\": [{\"a\": 1, \"b\": 2, \"c\": 3}, {\"a\": 4, \"b\": null, \"c\": 6}]}",
		"{\"inputs\": [[1, 2, 3], [4, null, 6.0]]}",
		"{\"inputs\": {\"c\": [3, 6], \"b\": [2, null], \"a\": [1, 4]}}",
	};
	for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
		struct mw_rows t = json_ok(&sc, forms[i]);
		expect(&t, 2, want);
		free(t.x);
	}
	/* booleans, numeric strings; scalars for a one-feature model */
	struct mw_rows_schema one = positional(1);
	struct mw_rows t = json_ok(&one, "{\"instances\": [true, false, \"2.5\", 7]}");
	const float w1[] = {1, 0, 2.5f, 7};
	expect(&t, 4, w1);
	free(t.x);
	/* no rows is no error */
	t = json_ok(&sc, "{\"instances\": []}");
	assert_int_equal(t.rows, 0);
	free(t.x);
}

static void test_json_errors_name_the_cell(void **state)
{
	(void)state;
	struct mw_rows_schema sc = named();
	json_bad(&sc, "{\"instances\": [[1, 2, 3], [4, \"x\", 6]]}", "row 2, column 2", "'x'");
	json_bad(&sc,
		 "{\"dataframe_split\": {\"columns\": [\"c\", \"a\", \"b\"], "
		 "\"data\": [[3, 1, 2], [6, [4], 5]]}}",
		 "row 2, column 2 ('a')", "[4]");
	json_bad(&sc, "{\"dataframe_records\": [{\"a\": 1, \"b\": {}, \"c\": 3}]}",
		 "row 1, column 2 ('b')", NULL);
	json_bad(&sc, "{\"instances\": [[1, 2, 3], [4, 5]]}", "row 2 has 2 values", NULL);
	json_bad(&sc, "{\"dataframe_split\": {\"columns\": [\"a\", \"b\"], \"data\": [[1, 2]]}}",
		 "missing features", "'c'");
	json_bad(&sc,
		 "{\"dataframe_split\": {\"columns\": [\"a\", \"b\", \"c\", \"d\"], "
		 "\"data\": [[1, 2, 3, 4]]}}",
		 "unexpected feature 'd'", NULL);
	json_bad(&sc, "{\"dataframe_records\": [{\"a\": 1, \"b\": 2, \"c\": 3}, {\"a\": 1}]}",
		 "row 2 has no 'b'", NULL);
	json_bad(&sc, "{\"instances\": [[1, 2, 3]], \"inputs\": [[1, 2, 3]]}", "exactly one", NULL);
	json_bad(&sc, "{\"data\": [[1, 2, 3]]}", "exactly one", NULL);
	json_bad(&sc, "{\"inputs\": {\"a\": [1], \"b\": [1, 2], \"c\": [3]}}", "different lengths",
		 NULL);
	struct mw_rows_schema pos = positional(3);
	json_bad(&pos, "{\"dataframe_split\": {\"columns\": [\"a\", \"b\"], \"data\": [[1, 2]]}}",
		 "takes 3 features", "2 columns");
}

static void test_csv(void **state)
{
	(void)state;
	struct mw_rows_schema sc = named();
	const float want[] = {1, 2, 3, 4, NAN, 6};
	/* a header by name in any order, CRLF, a blank line, quotes */
	struct mw_rows t = csv_ok(&sc, "c,\"a\",b\r\n3,1,2\r\n\r\n6,4,\r\n");
	expect(&t, 2, want);
	free(t.x);
	/* no header: by position; no newline at the end */
	t = csv_ok(&sc, "1,2,3\n4,,6");
	expect(&t, 2, want);
	free(t.x);
	/* a quoted number, a quoted quote in a header name, NaN spelled out */
	struct mw_rows_schema pos = positional(2);
	t = csv_ok(&pos, "\"x \"\"1\"\"\",y\n\"1.5\",nan\n");
	const float w2[] = {1.5f, NAN};
	expect(&t, 1, w2);
	free(t.x);
	/* only a header: no rows */
	t = csv_ok(&sc, "a,b,c\n");
	assert_int_equal(t.rows, 0);
	free(t.x);
}

static void test_csv_errors_name_line_and_column(void **state)
{
	(void)state;
	struct mw_rows_schema sc = named();
	/* the row is an error, not dropped: line 3 counts the header and the
	 * blank line */
	csv_bad(&sc, "a,b,c\n1,2,3\n\n4,x,6\n7,8,9\n", "line 4, column 2 ('b')", "'x'");
	csv_bad(&sc, "1,2,3\n4,5,oops\n", "line 2, column 3", "'oops'");
	/* a first line mixing numbers and text: a header or a row with a typo */
	csv_bad(&sc, "1,abc,3\n4,5,6\n", "line 1, column 2", "'abc'");
	csv_bad(&sc, "a,b,c\n1,2\n", "line 2 has 2 fields, expected 3", NULL);
	csv_bad(&sc, "a,b,zz\n1,2,3\n", "missing features", "'c'");
	struct mw_rows_schema pos = positional(3);
	csv_bad(&pos, "a,b\n1,2\n", "takes 3 features", NULL);
}

static void test_caps(void **state)
{
	(void)state;
	/* more values than MW_ROWS_MAX_CELLS: refused before any row is read */
	struct mw_rows_schema wide = positional(MW_ROWS_MAX_CELLS / 2 + 1);
	json_t *body = json_pack("{s:[[],[],[]]}", "instances");
	struct mw_rows t = {0};
	struct mw_err err = {0};
	assert_int_equal(mw_rows_from_json(&wide, body, &t, &err), -MW_E_TOO_LARGE);
	json_decref(body);
	/* a quoted CSV field past its cap */
	size_t n = MW_ROWS_MAX_FIELD + 16;
	char *big = malloc(n + 4);
	big[0] = '"';
	memset(big + 1, 'a', n);
	big[n + 1] = '"';
	big[n + 2] = 0;
	struct mw_rows_schema one = positional(1);
	assert_int_equal(mw_rows_from_csv(&one, big, strlen(big), &t, &err), -MW_E_TOO_LARGE);
	free(big);
	/* a line of more fields than a model may have features: refused, and
	 * without a cell's worth of memory each */
	n = (size_t)MW_SERVE_MAX_FEATURES + 1;
	char *commas = malloc(n + 1);
	memset(commas, ',', n);
	commas[n] = 0;
	assert_int_equal(mw_rows_from_csv(&one, commas, n, &t, &err), -MW_E_TOO_LARGE);
	assert_non_null(strstr(err.msg, "fields"));
	/* after the first line, a long line is counted, not stored */
	struct mw_rows_schema sc = named();
	memcpy(commas, "a,b,c\n", 6);
	assert_int_equal(mw_rows_from_csv(&sc, commas, 1000, &t, &err), -MW_E_INVALID);
	assert_non_null(strstr(err.msg, "line 2 has 995 fields, expected 3"));
	free(commas);
	/* quoted names and cells are read from spans of the body */
	t = csv_ok(&sc, "c,\"b\",a\n3,\"2\",1\n");
	const float want[] = {1, 2, 3};
	expect(&t, 1, want);
	free(t.x);
}

int main(void)
{
	names = json_pack("[s,s,s]", "a", "b", "c");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_forms_agree),
		cmocka_unit_test(test_json_errors_name_the_cell),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_csv_errors_name_line_and_column),
		cmocka_unit_test(test_caps),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	json_decref(names);
	return rc;
}
