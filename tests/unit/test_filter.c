/*
 * test_filter.c - unit tests for the MLflow search grammar (search/filter.c):
 * filters for every search entity, quoting and escaping, keyword case, IN
 * lists, every rejection path, order_by entries and page tokens.
 *
 * Each test parses into a fresh arena (setup/teardown) so ASan sees every
 * allocation of the parser freed in one go.
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

#include "search/search.h"

static int setup(void **state)
{
	*state = mw_arena_new(0);
	return 0;
}

static int teardown(void **state)
{
	mw_arena_free(*state);
	return 0;
}

/* Parse and expect success; returns the filter. */
static struct mw_filter ok_parse(void **state, enum mw_search_entity ent, const char *s)
{
	struct mw_filter f;
	struct mw_err err = { 0 };
	int rc = mw_filter_parse(ent, s, *state, &f, &err);

	if (rc != 0)
		fail_msg("filter %s: unexpected error: %s", s, err.msg);
	return f;
}

/* Parse and expect MW_E_INVALID whose message contains want (if non-NULL). */
static void bad_parse(void **state, enum mw_search_entity ent, const char *s, const char *want)
{
	struct mw_filter f = { (struct mw_clause *)1, 99 };
	struct mw_err err = { 0 };
	int rc = mw_filter_parse(ent, s, *state, &f, &err);

	if (rc != -MW_E_INVALID)
		fail_msg("filter %s: expected MW_E_INVALID, got %d", s, rc);
	assert_int_equal(err.code, MW_E_INVALID);
	assert_null(f.c);
	assert_int_equal(f.n, 0);
	if (want && !strstr(err.msg, want))
		fail_msg("filter %s: message '%s' lacks '%s'", s, err.msg, want);
}

static void check_str(const struct mw_clause *c, enum mw_key_kind kind, const char *key,
		      enum mw_cmp cmp, const char *str)
{
	assert_int_equal(c->kind, kind);
	assert_string_equal(c->key, key);
	assert_int_equal(c->cmp, cmp);
	assert_false(c->is_num);
	assert_non_null(c->str);
	assert_string_equal(c->str, str);
	assert_null(c->list);
	assert_int_equal(c->nlist, 0);
}

static void check_num(const struct mw_clause *c, enum mw_key_kind kind, const char *key,
		      enum mw_cmp cmp, double num)
{
	assert_int_equal(c->kind, kind);
	assert_string_equal(c->key, key);
	assert_int_equal(c->cmp, cmp);
	assert_true(c->is_num);
	assert_true(c->num == num);
	assert_null(c->str);
	assert_null(c->list);
}

/* ------------------------------------------------------------ empty */

static void test_empty(void **state)
{
	struct mw_filter f;

	f = ok_parse(state, MW_SEARCH_RUNS, NULL);
	assert_int_equal(f.n, 0);
	f = ok_parse(state, MW_SEARCH_RUNS, "");
	assert_int_equal(f.n, 0);
	f = ok_parse(state, MW_SEARCH_EXPERIMENTS, "  \t\n\r ");
	assert_int_equal(f.n, 0);
}

/* ------------------------------------------------------------ runs */

static void test_runs_metrics(void **state)
{
	static const struct {
		const char *s;
		enum mw_cmp cmp;
		double v;
	} cases[] = {
		{ "metrics.rmse = 1", MW_CMP_EQ, 1 },
		{ "metrics.rmse != 1", MW_CMP_NE, 1 },
		{ "metrics.rmse > 0.5", MW_CMP_GT, 0.5 },
		{ "metrics.rmse >= .5", MW_CMP_GE, 0.5 },
		{ "metrics.rmse < -2", MW_CMP_LT, -2 },
		{ "metrics.rmse <= 1e3", MW_CMP_LE, 1000 },
		{ "metric.rmse<=+1.5E-1", MW_CMP_LE, 0.15 },
		{ "metrics.rmse>-1", MW_CMP_GT, -1 },
		{ "METRICS.rmse = 3.", MW_CMP_EQ, 3 },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mw_filter f = ok_parse(state, MW_SEARCH_RUNS, cases[i].s);
		assert_int_equal(f.n, 1);
		check_num(&f.c[0], MW_KEY_METRIC, "rmse", cases[i].cmp, cases[i].v);
	}
}

static void test_runs_inum(void **state)
{
	struct mw_filter f;

	f = ok_parse(state, MW_SEARCH_RUNS, "metrics.a = 42");
	assert_int_equal(f.c[0].inum, 42);
	f = ok_parse(state, MW_SEARCH_RUNS, "start_time > 9007199254740993");
	/* exact even above 2^53, where the double rounds */
	assert_true(f.c[0].inum == INT64_C(9007199254740993));
	f = ok_parse(state, MW_SEARCH_RUNS, "metrics.a = 1e3");
	assert_int_equal(f.c[0].inum, 1000);
	f = ok_parse(state, MW_SEARCH_RUNS, "metrics.a = -7.0");
	assert_int_equal(f.c[0].inum, -7);
	f = ok_parse(state, MW_SEARCH_RUNS, "metrics.a = 0.25");
	assert_true(f.c[0].num == 0.25);
	assert_true((double)f.c[0].inum != f.c[0].num);
	/* integral but beyond int64: num set, inum not usable */
	f = ok_parse(state, MW_SEARCH_RUNS, "metrics.a = 99999999999999999999");
	assert_true(f.c[0].num == 1e20);
	assert_true((double)f.c[0].inum != f.c[0].num);
	f = ok_parse(state, MW_SEARCH_RUNS, "metrics.a = 1e300");
	assert_true(f.c[0].num == 1e300);
}

static void test_runs_params_tags(void **state)
{
	struct mw_filter f;

	f = ok_parse(state, MW_SEARCH_RUNS, "params.alpha = '0.5'");
	check_str(&f.c[0], MW_KEY_PARAM, "alpha", MW_CMP_EQ, "0.5");
	f = ok_parse(state, MW_SEARCH_RUNS, "param.alpha != \"x\"");
	check_str(&f.c[0], MW_KEY_PARAM, "alpha", MW_CMP_NE, "x");
	f = ok_parse(state, MW_SEARCH_RUNS, "parameters.alpha LIKE '%a_'");
	check_str(&f.c[0], MW_KEY_PARAM, "alpha", MW_CMP_LIKE, "%a_");
	f = ok_parse(state, MW_SEARCH_RUNS, "parameter.alpha ILIKE 'A%'");
	check_str(&f.c[0], MW_KEY_PARAM, "alpha", MW_CMP_ILIKE, "A%");
	f = ok_parse(state, MW_SEARCH_RUNS, "tags.mlflow.source.type = 'LOCAL'");
	check_str(&f.c[0], MW_KEY_TAG, "mlflow.source.type", MW_CMP_EQ, "LOCAL");
	f = ok_parse(state, MW_SEARCH_RUNS, "tag.x = ''");
	check_str(&f.c[0], MW_KEY_TAG, "x", MW_CMP_EQ, "");
	f = ok_parse(state, MW_SEARCH_RUNS, "tags.a/b-c:d = 'v'");
	check_str(&f.c[0], MW_KEY_TAG, "a/b-c:d", MW_CMP_EQ, "v");
}

static void test_runs_attributes(void **state)
{
	struct mw_filter f;

	f = ok_parse(state, MW_SEARCH_RUNS, "status = 'FINISHED'");
	check_str(&f.c[0], MW_KEY_ATTR, "status", MW_CMP_EQ, "FINISHED");
	f = ok_parse(state, MW_SEARCH_RUNS, "attributes.status != 'FAILED'");
	check_str(&f.c[0], MW_KEY_ATTR, "status", MW_CMP_NE, "FAILED");
	f = ok_parse(state, MW_SEARCH_RUNS, "attribute.run_name LIKE 'a%'");
	check_str(&f.c[0], MW_KEY_ATTR, "run_name", MW_CMP_LIKE, "a%");
	f = ok_parse(state, MW_SEARCH_RUNS, "attr.artifact_uri ILIKE '%s3%'");
	check_str(&f.c[0], MW_KEY_ATTR, "artifact_uri", MW_CMP_ILIKE, "%s3%");
	f = ok_parse(state, MW_SEARCH_RUNS, "run.user_id = 'bob'");
	check_str(&f.c[0], MW_KEY_ATTR, "user_id", MW_CMP_EQ, "bob");
	f = ok_parse(state, MW_SEARCH_RUNS, "lifecycle_stage = 'active'");
	check_str(&f.c[0], MW_KEY_ATTR, "lifecycle_stage", MW_CMP_EQ, "active");
	f = ok_parse(state, MW_SEARCH_RUNS, "run_id = 'abc'");
	check_str(&f.c[0], MW_KEY_ATTR, "run_id", MW_CMP_EQ, "abc");
	f = ok_parse(state, MW_SEARCH_RUNS, "start_time >= 1700000000000");
	check_num(&f.c[0], MW_KEY_ATTR, "start_time", MW_CMP_GE, 1700000000000.0);
	assert_true(f.c[0].inum == INT64_C(1700000000000));
	f = ok_parse(state, MW_SEARCH_RUNS, "attributes.end_time < 5");
	check_num(&f.c[0], MW_KEY_ATTR, "end_time", MW_CMP_LT, 5);
	/* aliases */
	f = ok_parse(state, MW_SEARCH_RUNS, "created > 1");
	check_num(&f.c[0], MW_KEY_ATTR, "start_time", MW_CMP_GT, 1);
	f = ok_parse(state, MW_SEARCH_RUNS, "Created > 1");
	check_num(&f.c[0], MW_KEY_ATTR, "start_time", MW_CMP_GT, 1);
	f = ok_parse(state, MW_SEARCH_RUNS, "attributes.created != 2");
	check_num(&f.c[0], MW_KEY_ATTR, "start_time", MW_CMP_NE, 2);
	f = ok_parse(state, MW_SEARCH_RUNS, "\"run name\" = 'x'");
	check_str(&f.c[0], MW_KEY_ATTR, "run_name", MW_CMP_EQ, "x");
	f = ok_parse(state, MW_SEARCH_RUNS, "`Run Name` = 'x'");
	check_str(&f.c[0], MW_KEY_ATTR, "run_name", MW_CMP_EQ, "x");
	f = ok_parse(state, MW_SEARCH_RUNS, "attributes.`run name` = 'x'");
	check_str(&f.c[0], MW_KEY_ATTR, "run_name", MW_CMP_EQ, "x");
}

static void test_runs_in(void **state)
{
	struct mw_filter f;

	f = ok_parse(state, MW_SEARCH_RUNS, "run_id IN ('a', \"b\",'c')");
	assert_int_equal(f.n, 1);
	assert_int_equal(f.c[0].kind, MW_KEY_ATTR);
	assert_string_equal(f.c[0].key, "run_id");
	assert_int_equal(f.c[0].cmp, MW_CMP_IN);
	assert_null(f.c[0].str);
	assert_false(f.c[0].is_num);
	assert_int_equal(f.c[0].nlist, 3);
	assert_string_equal(f.c[0].list[0], "a");
	assert_string_equal(f.c[0].list[1], "b");
	assert_string_equal(f.c[0].list[2], "c");
	f = ok_parse(state, MW_SEARCH_RUNS, "attributes.run_id not  in('x')");
	assert_int_equal(f.c[0].cmp, MW_CMP_NOT_IN);
	assert_int_equal(f.c[0].nlist, 1);
	assert_string_equal(f.c[0].list[0], "x");
	f = ok_parse(state, MW_SEARCH_RUNS, "run_id In ( 'x' , 'y' )");
	assert_int_equal(f.c[0].cmp, MW_CMP_IN);
	assert_int_equal(f.c[0].nlist, 2);
}

static void test_runs_in_many(void **state)
{
	char *s = malloc(20 + 6 * 1001);
	size_t len, i;
	struct mw_filter f;

	len = (size_t)snprintf(s, 20, "run_id IN (");
	for (i = 0; i < 1000; i++)
		len += (size_t)snprintf(s + len, 8, "%s'%03zu'", i ? "," : "", i);
	s[len++] = ')';
	s[len] = '\0';
	f = ok_parse(state, MW_SEARCH_RUNS, s);
	assert_int_equal(f.c[0].nlist, 1000);
	assert_string_equal(f.c[0].list[999], "999");
	/* one more is too many */
	s[len - 1] = '\0';
	len--;
	len += (size_t)snprintf(s + len, 10, ",'x')");
	bad_parse(state, MW_SEARCH_RUNS, s, "more than 1000");
	free(s);
}

static void test_runs_datasets(void **state)
{
	struct mw_filter f;

	f = ok_parse(state, MW_SEARCH_RUNS, "datasets.name = 'train'");
	check_str(&f.c[0], MW_KEY_DATASET, "name", MW_CMP_EQ, "train");
	f = ok_parse(state, MW_SEARCH_RUNS, "dataset.digest LIKE 'ab%'");
	check_str(&f.c[0], MW_KEY_DATASET, "digest", MW_CMP_LIKE, "ab%");
	f = ok_parse(state, MW_SEARCH_RUNS, "datasets.context IN ('training', 'eval')");
	assert_int_equal(f.c[0].kind, MW_KEY_DATASET);
	assert_string_equal(f.c[0].key, "context");
	assert_int_equal(f.c[0].cmp, MW_CMP_IN);
	assert_int_equal(f.c[0].nlist, 2);
	f = ok_parse(state, MW_SEARCH_RUNS, "datasets.name NOT IN ('a')");
	assert_int_equal(f.c[0].cmp, MW_CMP_NOT_IN);
	f = ok_parse(state, MW_SEARCH_RUNS, "datasets.name != 'a'");
	assert_int_equal(f.c[0].cmp, MW_CMP_NE);
	f = ok_parse(state, MW_SEARCH_RUNS, "datasets.name ILIKE 'a'");
	assert_int_equal(f.c[0].cmp, MW_CMP_ILIKE);
	bad_parse(state, MW_SEARCH_RUNS, "datasets.source = 'a'", "Invalid dataset key 'source'");
	bad_parse(state, MW_SEARCH_RUNS, "datasets.name > 'a'", "Invalid comparator '>'");
	bad_parse(state, MW_SEARCH_RUNS, "datasets.name = 1", "expected a string");
}

static void test_runs_and(void **state)
{
	struct mw_filter f;

	f = ok_parse(state, MW_SEARCH_RUNS,
		     "  metrics.acc > 0.9 AND params.lr = '0.01' and tags.t != 'x'\n"
		     "\tAnD status = 'RUNNING'  ");
	assert_int_equal(f.n, 4);
	check_num(&f.c[0], MW_KEY_METRIC, "acc", MW_CMP_GT, 0.9);
	check_str(&f.c[1], MW_KEY_PARAM, "lr", MW_CMP_EQ, "0.01");
	check_str(&f.c[2], MW_KEY_TAG, "t", MW_CMP_NE, "x");
	check_str(&f.c[3], MW_KEY_ATTR, "status", MW_CMP_EQ, "RUNNING");
	/* AND directly before a quoted identifier */
	f = ok_parse(state, MW_SEARCH_RUNS, "metrics.a=1 AND`run name`='x'");
	assert_int_equal(f.n, 2);
	check_str(&f.c[1], MW_KEY_ATTR, "run_name", MW_CMP_EQ, "x");
}

static void test_runs_many_clauses(void **state)
{
	char *s = malloc(32 * 202);
	size_t len = 0;
	int i;
	struct mw_filter f;

	for (i = 0; i < 200; i++)
		len += (size_t)snprintf(s + len, 32, "%smetrics.m%d=%d", i ? " AND " : "", i, i);
	f = ok_parse(state, MW_SEARCH_RUNS, s);
	assert_int_equal(f.n, 200);
	assert_string_equal(f.c[199].key, "m199");
	assert_int_equal(f.c[199].inum, 199);
	snprintf(s + len, 20, " AND metrics.x=1");
	bad_parse(state, MW_SEARCH_RUNS, s, "more than 200 clauses");
	free(s);
}

/* ------------------------------------------------------------ quoting */

static void test_quoting(void **state)
{
	struct mw_filter f;

	f = ok_parse(state, MW_SEARCH_RUNS, "metrics.\"my key\" > 1");
	check_num(&f.c[0], MW_KEY_METRIC, "my key", MW_CMP_GT, 1);
	f = ok_parse(state, MW_SEARCH_RUNS, "tags.`a-b c` = 'v'");
	check_str(&f.c[0], MW_KEY_TAG, "a-b c", MW_CMP_EQ, "v");
	f = ok_parse(state, MW_SEARCH_RUNS, "`metrics.my key`>=2");
	check_num(&f.c[0], MW_KEY_METRIC, "my key", MW_CMP_GE, 2);
	f = ok_parse(state, MW_SEARCH_RUNS, "\"params.a b\" = 'c'");
	check_str(&f.c[0], MW_KEY_PARAM, "a b", MW_CMP_EQ, "c");
	/* doubled quotes escape the quote character */
	f = ok_parse(state, MW_SEARCH_RUNS, "tags.t = 'it''s'");
	check_str(&f.c[0], MW_KEY_TAG, "t", MW_CMP_EQ, "it's");
	f = ok_parse(state, MW_SEARCH_RUNS, "tags.t = \"say \"\"hi\"\"\"");
	check_str(&f.c[0], MW_KEY_TAG, "t", MW_CMP_EQ, "say \"hi\"");
	f = ok_parse(state, MW_SEARCH_RUNS, "tags.t = \"it's\"");
	check_str(&f.c[0], MW_KEY_TAG, "t", MW_CMP_EQ, "it's");
	f = ok_parse(state, MW_SEARCH_RUNS, "tags.`a``b` = 'x'");
	check_str(&f.c[0], MW_KEY_TAG, "a`b", MW_CMP_EQ, "x");
	/* backslash is literal */
	f = ok_parse(state, MW_SEARCH_RUNS, "tags.t = 'a\\b'");
	check_str(&f.c[0], MW_KEY_TAG, "t", MW_CMP_EQ, "a\\b");
	/* SQL metacharacters inside a quoted value are just a value */
	f = ok_parse(state, MW_SEARCH_RUNS, "tags.t = '; DROP TABLE runs; --'");
	assert_int_equal(f.n, 1);
	check_str(&f.c[0], MW_KEY_TAG, "t", MW_CMP_EQ, "; DROP TABLE runs; --");
	f = ok_parse(state, MW_SEARCH_RUNS, "params.p = 'x'' OR ''1''=''1'");
	assert_int_equal(f.n, 1);
	check_str(&f.c[0], MW_KEY_PARAM, "p", MW_CMP_EQ, "x' OR '1'='1");
	f = ok_parse(state, MW_SEARCH_RUNS, "tags.t = 'a AND b = ''c'''");
	assert_int_equal(f.n, 1);
	check_str(&f.c[0], MW_KEY_TAG, "t", MW_CMP_EQ, "a AND b = 'c'");
	/* UTF-8 keys and values */
	f = ok_parse(state, MW_SEARCH_RUNS, "tags.caf\xc3\xa9 = '\xe2\x82\xac'");
	check_str(&f.c[0], MW_KEY_TAG, "caf\xc3\xa9", MW_CMP_EQ, "\xe2\x82\xac");
}

static void test_case_insensitive(void **state)
{
	struct mw_filter f;

	f = ok_parse(state, MW_SEARCH_RUNS, "tags.a like 'x' AND tags.b iLike 'y'");
	assert_int_equal(f.c[0].cmp, MW_CMP_LIKE);
	assert_int_equal(f.c[1].cmp, MW_CMP_ILIKE);
	f = ok_parse(state, MW_SEARCH_RUNS, "Tags.A = 'x' and PARAMS.B = 'y'");
	check_str(&f.c[0], MW_KEY_TAG, "A", MW_CMP_EQ, "x");
	check_str(&f.c[1], MW_KEY_PARAM, "B", MW_CMP_EQ, "y");
	f = ok_parse(state, MW_SEARCH_RUNS, "run_id nOt In ('a')");
	assert_int_equal(f.c[0].cmp, MW_CMP_NOT_IN);
	/* attribute names are case-sensitive (aliases excepted) */
	bad_parse(state, MW_SEARCH_RUNS, "Status = 'x'", "Invalid attribute 'Status'");
}

/* ------------------------------------------------------------ rejections */

static void test_reject_structure(void **state)
{
	const enum mw_search_entity R = MW_SEARCH_RUNS;

	bad_parse(state, R, "metrics.a > 1 OR metrics.b > 1", "OR is not supported");
	bad_parse(state, R, "metrics.a > 1 or metrics.b > 1", "OR is not supported");
	bad_parse(state, R, "OR metrics.b > 1", "OR is not supported");
	bad_parse(state, R, "(metrics.a > 1)", "parentheses");
	bad_parse(state, R, "metrics.a > 1 AND (metrics.b > 1)", "parentheses");
	bad_parse(state, R, "metrics.a > 1 AND(metrics.b > 1)", "parentheses");
	bad_parse(state, R, "metrics.a > 1)", "parentheses");
	bad_parse(state, R, "metrics.a(1) > 1", "parentheses");
	bad_parse(state, R, "NOT metrics.a > 1", "NOT is only supported as NOT IN");
	bad_parse(state, R, "tags.a NOT = 'x'", "NOT is only supported as NOT IN");
	bad_parse(state, R, "tags.a NOT LIKE 'x'", "NOT is only supported as NOT IN");
	bad_parse(state, R, "run_id NOT", "NOT is only supported as NOT IN");
	bad_parse(state, R, "run_id NOTIN ('a')", "Invalid comparator 'NOTIN'");
	bad_parse(state, R, "metrics.a > 1 AND", "missing clause after AND");
	bad_parse(state, R, "metrics.a > 1 AND   ", "missing clause after AND");
	bad_parse(state, R, "AND metrics.a > 1", "missing clause before AND");
	bad_parse(state, R, "metrics.a > 1 AND AND metrics.b > 1", "missing clause before AND");
	bad_parse(state, R, "metrics.a > 1 metrics.b > 1", "unexpected text");
	bad_parse(state, R, "metrics.a > 1 ANDmetrics.b > 1", "unexpected text");
	bad_parse(state, R, "tags.t = 'x'; DROP TABLE runs; --", "unexpected text");
	bad_parse(state, R, "tags.t = 'x' 'y'", "unexpected text");
	bad_parse(state, R, "tags.t = 'x',", "unexpected text");
	bad_parse(state, R, "LIKE 'x'", "missing identifier");
	bad_parse(state, R, "'x' = tags.t", "found a string value");
	bad_parse(state, R, "= 1", "expected an identifier");
	bad_parse(state, R, "metrics.a;x > 1", "unexpected character ';'");
}

static void test_reject_tokens(void **state)
{
	const enum mw_search_entity R = MW_SEARCH_RUNS;

	bad_parse(state, R, "tags.t = 'abc", "unterminated quoted string");
	bad_parse(state, R, "tags.t = \"abc", "unterminated quoted string");
	bad_parse(state, R, "tags.t = 'it''", "unterminated quoted string");
	bad_parse(state, R, "tags.`abc = 'x'", "unterminated quoted key");
	bad_parse(state, R, "\"run name = 'x'", "unterminated quoted identifier");
	bad_parse(state, R, "run_id IN ('a', 'b'", "unterminated IN list");
	bad_parse(state, R, "run_id IN ('a' 'b')", "expected ',' or ')'");
	bad_parse(state, R, "run_id IN ('a", "unterminated quoted string");
	bad_parse(state, R, "run_id IN ()", "must not be empty");
	bad_parse(state, R, "run_id IN ('a',)", "IN list values must be quoted strings");
	bad_parse(state, R, "run_id IN (1, 2)", "IN list values must be quoted strings");
	bad_parse(state, R, "metrics.a >", "missing value");
	bad_parse(state, R, "metrics.a", "missing comparator");
	bad_parse(state, R, "tags.a 'x'", "expected a comparator");
	bad_parse(state, R, "metrics.a == 1", "Invalid comparator '=='");
	bad_parse(state, R, "metrics.a <> 1", "use != for not equal");
	bad_parse(state, R, "metrics.a => 1", "Invalid comparator '=>'");
	bad_parse(state, R, "metrics.a ! 1", "Invalid comparator '!'");
	bad_parse(state, R, "tags.a EQUALS 'x'", "Invalid comparator 'EQUALS'");
	bad_parse(state, R, "tags.a LIKE2 'x'", "Invalid comparator 'LIKE2'");
	bad_parse(state, R, "tags.a = `x`", "backticks quote identifiers");
	bad_parse(state, R, "tags.a = )", "expected a value");
	bad_parse(state, R, "tags.'a' = 'x'", "not single quotes");
	bad_parse(state, R, "metrics. > 1", "missing key");
	bad_parse(state, R, "metrics.\"\" > 1", "missing key");
	bad_parse(state, R, "\"\" = 'x'", "empty quoted identifier");
	bad_parse(state, R, "tags.\"a\"b = 'x'", "unexpected character 'b'");
	bad_parse(state, R, "metrics.a > 1e999", "out of range");
}

static void test_reject_types(void **state)
{
	const enum mw_search_entity R = MW_SEARCH_RUNS;

	/* the message names the comparator, the identifier and the allowed set */
	bad_parse(state, R, "params.a > '1'",
		  "Invalid comparator '>' for params: only = != LIKE ILIKE are allowed");
	bad_parse(state, R, "tags.a < 'x'", "Invalid comparator '<' for tags");
	bad_parse(state, R, "metrics.a LIKE '1'",
		  "Invalid comparator 'LIKE' for metrics: only = != > >= < <= are allowed");
	bad_parse(state, R, "metrics.a IN ('1')", "Invalid comparator 'IN' for metrics");
	bad_parse(state, R, "start_time LIKE '1'",
		  "Invalid comparator 'LIKE' for numeric attribute 'start_time'");
	bad_parse(state, R, "status > 'x'", "Invalid comparator '>' for string attribute 'status'");
	bad_parse(state, R, "status IN ('x')",
		  "only = != LIKE ILIKE are allowed");  /* IN only for run_id */
	bad_parse(state, R, "run_name NOT IN ('x')", "Invalid comparator 'NOT IN'");
	bad_parse(state, R, "tags.a IN ('x')", "Invalid comparator 'IN' for tags");
	/* number vs string */
	bad_parse(state, R, "metrics.a > '1'", "expected an unquoted number");
	bad_parse(state, R, "metrics.a > \"1\"", "expected an unquoted number");
	bad_parse(state, R, "metrics.a > abc", "expected an unquoted number");
	bad_parse(state, R, "metrics.a > 1abc", "expected an unquoted number");
	bad_parse(state, R, "metrics.a > NaN", "expected an unquoted number");
	bad_parse(state, R, "metrics.a > 1.2.3", "expected an unquoted number");
	bad_parse(state, R, "metrics.a > 1e", "expected an unquoted number");
	bad_parse(state, R, "start_time > '5'", "expected an unquoted number");
	bad_parse(state, R, "created = 'x'", "expected an unquoted number");
	bad_parse(state, R, "params.a = 1", "expected a string in single or double quotes");
	bad_parse(state, R, "tags.a = abc", "expected a string");
	bad_parse(state, R, "status = FINISHED", "expected a string");
	/* lists only with IN */
	bad_parse(state, R, "run_id = ('a')", "a list is only allowed with IN");
	bad_parse(state, R, "run_id IN 'a'", "expected a parenthesised list");
	/* unknown identifiers */
	bad_parse(state, R, "foo = 'x'", "Invalid attribute 'foo'");
	bad_parse(state, R, "attributes.foo = 'x'", "valid attributes are run_id");
	bad_parse(state, R, "foo.bar = 'x'", "unknown entity type 'foo'");
	bad_parse(state, R, "\"foo bar\" = 'x'", "Invalid attribute 'foo bar'");
}

static void test_message_sanitised(void **state)
{
	struct mw_filter f;
	struct mw_err err = { 0 };
	const char *s = "tags.a = 'x' \x01\xff\xfe junk";
	size_t i;

	assert_int_equal(mw_filter_parse(MW_SEARCH_RUNS, s, *state, &f, &err), -MW_E_INVALID);
	for (i = 0; err.msg[i]; i++)
		assert_true(err.msg[i] >= 0x20 && err.msg[i] < 0x7f);
	assert_non_null(strstr(err.msg, "???"));
	/* NULL err is allowed */
	assert_int_equal(mw_filter_parse(MW_SEARCH_RUNS, "x", *state, &f, NULL), -MW_E_INVALID);
}

/* ------------------------------------------------------------ other entities */

static void test_experiments(void **state)
{
	const enum mw_search_entity E = MW_SEARCH_EXPERIMENTS;
	struct mw_filter f;

	f = ok_parse(state, E, "name = 'Default'");
	check_str(&f.c[0], MW_KEY_ATTR, "name", MW_CMP_EQ, "Default");
	f = ok_parse(state, E, "attribute.name ILIKE '%exp%' AND attributes.creation_time > 5");
	check_str(&f.c[0], MW_KEY_ATTR, "name", MW_CMP_ILIKE, "%exp%");
	check_num(&f.c[1], MW_KEY_ATTR, "creation_time", MW_CMP_GT, 5);
	f = ok_parse(state, E, "last_update_time <= 10 and tags.team LIKE 'ml%'");
	check_num(&f.c[0], MW_KEY_ATTR, "last_update_time", MW_CMP_LE, 10);
	check_str(&f.c[1], MW_KEY_TAG, "team", MW_CMP_LIKE, "ml%");
	bad_parse(state, E, "metrics.a > 1", "does not support metrics");
	bad_parse(state, E, "params.a = 'x'", "does not support params");
	bad_parse(state, E, "datasets.name = 'x'", "does not support datasets");
	bad_parse(state, E, "run.name = 'x'", "unknown entity type 'run'");
	bad_parse(state, E, "experiment_id = '1'", "Invalid attribute 'experiment_id'");
	bad_parse(state, E, "status = 'x'", "valid attributes are name, creation_time");
	bad_parse(state, E, "name IN ('a')", "Invalid comparator 'IN'");
	bad_parse(state, E, "creation_time = 'x'", "expected an unquoted number");
	bad_parse(state, E, "name > 'a'", "Invalid comparator '>'");
}

static void test_logged_models(void **state)
{
	const enum mw_search_entity L = MW_SEARCH_LOGGED_MODELS;
	struct mw_filter f;

	f = ok_parse(state, L,
		     "name = 'm' AND model_id = 'm-1' AND model_type LIKE 'sk%' AND "
		     "status = 'LOGGED_MODEL_READY' AND source_run_id = 'r'");
	assert_int_equal(f.n, 5);
	check_str(&f.c[0], MW_KEY_ATTR, "name", MW_CMP_EQ, "m");
	check_str(&f.c[1], MW_KEY_ATTR, "model_id", MW_CMP_EQ, "m-1");
	check_str(&f.c[2], MW_KEY_ATTR, "model_type", MW_CMP_LIKE, "sk%");
	check_str(&f.c[3], MW_KEY_ATTR, "status", MW_CMP_EQ, "LOGGED_MODEL_READY");
	check_str(&f.c[4], MW_KEY_ATTR, "source_run_id", MW_CMP_EQ, "r");
	f = ok_parse(state, L, "creation_time > 1 AND creation_timestamp < 2 AND "
			       "last_updated_timestamp >= 3");
	check_num(&f.c[0], MW_KEY_ATTR, "creation_timestamp", MW_CMP_GT, 1);
	check_num(&f.c[1], MW_KEY_ATTR, "creation_timestamp", MW_CMP_LT, 2);
	check_num(&f.c[2], MW_KEY_ATTR, "last_updated_timestamp", MW_CMP_GE, 3);
	f = ok_parse(state, L, "metrics.acc > 0.5 AND params.p = 'x' AND tags.t != 'y'");
	check_num(&f.c[0], MW_KEY_METRIC, "acc", MW_CMP_GT, 0.5);
	check_str(&f.c[1], MW_KEY_PARAM, "p", MW_CMP_EQ, "x");
	check_str(&f.c[2], MW_KEY_TAG, "t", MW_CMP_NE, "y");
	bad_parse(state, L, "datasets.name = 'x'", "does not support datasets");
	bad_parse(state, L, "run_id = 'x'", "Invalid attribute 'run_id'");
	bad_parse(state, L, "model_id IN ('a')", "Invalid comparator 'IN'");
}

static void test_registered_models(void **state)
{
	const enum mw_search_entity M = MW_SEARCH_REGISTERED_MODELS;
	struct mw_filter f;

	f = ok_parse(state, M, "name LIKE 'prod%' AND tags.`mlflow.prompt.is_prompt` = 'true'");
	check_str(&f.c[0], MW_KEY_ATTR, "name", MW_CMP_LIKE, "prod%");
	check_str(&f.c[1], MW_KEY_TAG, "mlflow.prompt.is_prompt", MW_CMP_EQ, "true");
	f = ok_parse(state, M, "name ILIKE 'a' AND name != 'b'");
	assert_int_equal(f.n, 2);
	bad_parse(state, M, "creation_timestamp > 1", "Invalid attribute 'creation_timestamp'");
	bad_parse(state, M, "metrics.a > 1", "does not support metrics");
	bad_parse(state, M, "name IN ('a')", "Invalid comparator 'IN'");
	bad_parse(state, M, "name = 1", "expected a string");
}

static void test_model_versions(void **state)
{
	const enum mw_search_entity V = MW_SEARCH_MODEL_VERSIONS;
	struct mw_filter f;

	f = ok_parse(state, V, "name = 'M' AND version_number >= 2 AND source_path LIKE 'x%' "
			       "AND run_id IN ('r1','r2') AND tags.k = 'v'");
	assert_int_equal(f.n, 5);
	check_str(&f.c[0], MW_KEY_ATTR, "name", MW_CMP_EQ, "M");
	check_num(&f.c[1], MW_KEY_ATTR, "version_number", MW_CMP_GE, 2);
	assert_int_equal(f.c[1].inum, 2);
	check_str(&f.c[2], MW_KEY_ATTR, "source_path", MW_CMP_LIKE, "x%");
	assert_int_equal(f.c[3].cmp, MW_CMP_IN);
	assert_int_equal(f.c[3].nlist, 2);
	check_str(&f.c[4], MW_KEY_TAG, "k", MW_CMP_EQ, "v");
	f = ok_parse(state, V, "run_id = 'r'");
	check_str(&f.c[0], MW_KEY_ATTR, "run_id", MW_CMP_EQ, "r");
	bad_parse(state, V, "run_id NOT IN ('a')", "Invalid comparator 'NOT IN'");
	bad_parse(state, V, "name IN ('a')", "Invalid comparator 'IN'");
	bad_parse(state, V, "version_number = '1'", "expected an unquoted number");
	bad_parse(state, V, "version_number LIKE '1'", "Invalid comparator 'LIKE'");
	bad_parse(state, V, "params.a = 'x'", "does not support params");
	bad_parse(state, V, "creation_timestamp > 1", "Invalid attribute");
}

static void test_bad_entity(void **state)
{
	struct mw_filter f;
	struct mw_order o;
	struct mw_err err = { 0 };

	assert_int_equal(mw_filter_parse((enum mw_search_entity)99, "", *state, &f, &err),
			 -MW_E_INTERNAL);
	assert_int_equal(mw_order_parse((enum mw_search_entity)99, "name", *state, &o, &err),
			 -MW_E_INTERNAL);
}

/* ------------------------------------------------------------ order_by */

static void ok_order(void **state, enum mw_search_entity ent, const char *s,
		     enum mw_key_kind kind, const char *key, bool asc)
{
	struct mw_order o;
	struct mw_err err = { 0 };

	if (mw_order_parse(ent, s, *state, &o, &err) != 0)
		fail_msg("order_by %s: unexpected error: %s", s, err.msg);
	assert_int_equal(o.kind, kind);
	assert_string_equal(o.key, key);
	assert_int_equal(o.asc, asc);
}

static void bad_order(void **state, enum mw_search_entity ent, const char *s, const char *want)
{
	struct mw_order o;
	struct mw_err err = { 0 };

	if (mw_order_parse(ent, s, *state, &o, &err) != -MW_E_INVALID)
		fail_msg("order_by %s: expected MW_E_INVALID", s);
	if (want && !strstr(err.msg, want))
		fail_msg("order_by %s: message '%s' lacks '%s'", s, err.msg, want);
}

static void test_order_runs(void **state)
{
	const enum mw_search_entity R = MW_SEARCH_RUNS;

	ok_order(state, R, "start_time", MW_KEY_ATTR, "start_time", true);
	ok_order(state, R, "start_time DESC", MW_KEY_ATTR, "start_time", false);
	ok_order(state, R, "  attributes.run_name   asc ", MW_KEY_ATTR, "run_name", true);
	ok_order(state, R, "created desc", MW_KEY_ATTR, "start_time", false);
	ok_order(state, R, "metrics.rmse DESC", MW_KEY_METRIC, "rmse", false);
	ok_order(state, R, "metrics.`my key` Desc", MW_KEY_METRIC, "my key", false);
	ok_order(state, R, "`tags.a b` ASC", MW_KEY_TAG, "a b", true);
	ok_order(state, R, "params.lr", MW_KEY_PARAM, "lr", true);
	ok_order(state, R, "\"run name\"", MW_KEY_ATTR, "run_name", true);
	ok_order(state, R, "end_time\tDESC", MW_KEY_ATTR, "end_time", false);
	bad_order(state, R, "datasets.name", "does not support datasets");
	bad_order(state, R, "foo", "Invalid attribute 'foo'");
	bad_order(state, R, "start_time DOWN", "expected '<identifier> [ASC|DESC]'");
	bad_order(state, R, "start_time ASC DESC", "expected '<identifier> [ASC|DESC]'");
	bad_order(state, R, "start_time, run_id", "unexpected character ','");
	bad_order(state, R, "metrics.a > 1", "expected '<identifier> [ASC|DESC]'");
	bad_order(state, R, "metrics.a>1", "unexpected character '>'");
	bad_order(state, R, "", "empty");
	bad_order(state, R, "   ", "empty");
	bad_order(state, R, NULL, "empty");
	bad_order(state, R, "tags.`a", "unterminated");
}

static void test_order_other(void **state)
{
	const enum mw_search_entity E = MW_SEARCH_EXPERIMENTS, L = MW_SEARCH_LOGGED_MODELS,
				    M = MW_SEARCH_REGISTERED_MODELS, V = MW_SEARCH_MODEL_VERSIONS;

	ok_order(state, E, "name", MW_KEY_ATTR, "name", true);
	ok_order(state, E, "experiment_id DESC", MW_KEY_ATTR, "experiment_id", false);
	ok_order(state, E, "creation_time", MW_KEY_ATTR, "creation_time", true);
	ok_order(state, E, "attributes.last_update_time desc", MW_KEY_ATTR, "last_update_time",
		 false);
	bad_order(state, E, "tags.a", "does not support tags");
	bad_order(state, E, "lifecycle_stage", "Invalid attribute");

	ok_order(state, L, "name", MW_KEY_ATTR, "name", true);
	ok_order(state, L, "creation_timestamp DESC", MW_KEY_ATTR, "creation_timestamp", false);
	ok_order(state, L, "creation_time", MW_KEY_ATTR, "creation_timestamp", true);
	ok_order(state, L, "last_updated_timestamp", MW_KEY_ATTR, "last_updated_timestamp", true);
	ok_order(state, L, "model_id", MW_KEY_ATTR, "model_id", true);
	ok_order(state, L, "metrics.acc DESC", MW_KEY_METRIC, "acc", false);
	bad_order(state, L, "params.a", "does not support params");
	bad_order(state, L, "status", "Invalid attribute 'status'");

	ok_order(state, M, "name DESC", MW_KEY_ATTR, "name", false);
	ok_order(state, M, "timestamp", MW_KEY_ATTR, "creation_timestamp", true);
	ok_order(state, M, "creation_timestamp", MW_KEY_ATTR, "creation_timestamp", true);
	ok_order(state, M, "last_updated_timestamp desc", MW_KEY_ATTR, "last_updated_timestamp",
		 false);
	bad_order(state, M, "tags.a", "does not support tags");
	bad_order(state, M, "version_number", "Invalid attribute");

	ok_order(state, V, "name", MW_KEY_ATTR, "name", true);
	ok_order(state, V, "version_number DESC", MW_KEY_ATTR, "version_number", false);
	ok_order(state, V, "creation_timestamp", MW_KEY_ATTR, "creation_timestamp", true);
	ok_order(state, V, "last_updated_timestamp", MW_KEY_ATTR, "last_updated_timestamp", true);
	bad_order(state, V, "run_id", "Invalid attribute 'run_id'");
	bad_order(state, V, "timestamp", "Invalid attribute");
}

/* ------------------------------------------------------------ page tokens */

static void test_page_token(void **state)
{
	static const int64_t offs[] = { 0, 1, 100, 50000, INT64_C(9223372036854775807) };
	struct mw_err err = { 0 };
	int64_t off;
	size_t i;
	char *t;

	(void)state;
	for (i = 0; i < sizeof offs / sizeof offs[0]; i++) {
		t = mw_page_token_encode(offs[i]);
		assert_non_null(t);
		off = -1;
		assert_int_equal(mw_page_token_decode(t, &off, &err), 0);
		assert_true(off == offs[i]);
		free(t);
	}
	t = mw_page_token_encode(100);
	assert_string_equal(t, "eyJvZmZzZXQiOjEwMH0="); /* base64 of {"offset":100} */
	free(t);
	/* MLflow's own token, with a space after the colon */
	assert_int_equal(mw_page_token_decode("eyJvZmZzZXQiOiAxMDB9", &off, &err), 0);
	assert_int_equal(off, 100);
	/* no token: the first page */
	assert_int_equal(mw_page_token_decode(NULL, &off, &err), 0);
	assert_int_equal(off, 0);
	assert_int_equal(mw_page_token_decode("", &off, &err), 0);
	assert_int_equal(off, 0);
}

static void bad_token(const char *json_text, const char *raw)
{
	struct mw_err err = { 0 };
	int64_t off = 7;
	char *t = json_text ? mw_base64_encode(json_text, strlen(json_text)) : NULL;

	assert_int_equal(mw_page_token_decode(t ? t : raw, &off, &err), -MW_E_INVALID);
	assert_int_equal(err.code, MW_E_INVALID);
	assert_string_equal(err.msg, "Invalid page token");
	free(t);
}

/* An answer page within a byte budget: exact sizes, the envelope reserved,
 * the first entity that would pass the budget ends the page, a lone entity
 * over the budget is an error, and a listing without tokens cannot end early. */
static json_t *str_shape(const void *rec, void *ud)
{
	(void)ud;
	return json_pack("{s:s}", "k", (const char *)rec);
}

static void test_page_json(void **state)
{
	(void)state;
	struct mw_err err = {0};
	char v[200];
	memset(v, 'x', sizeof v - 1);
	v[sizeof v - 1] = 0;
	/* {"k":"x...x"} is 207 bytes; the envelope {"items":[]} (12) + token reserve (64) */
	struct mw_page p = {.max_results = 100, .offset = 10};
	struct mw_page_json pj;
	mw_page_json_init(&pj, str_shape, "item", "items", 0, 76 + 207 * 3 + 2, true);
	int rc = 0;
	int64_t row = 10;
	for (; row < 20 && !(rc = mw_page_json_take(&pj, v, row, &err)); row++)
		;
	assert_int_equal(rc, MW_PAGE_FULL);
	assert_int_equal(row, 13);
	assert_int_equal(json_array_size(pj.arr), 3);
	json_t *out = json_object();
	assert_int_equal(mw_page_json_finish(&pj, 0, out, "items", &p, true), 0);
	int64_t next = 0;
	assert_int_equal(mw_page_token_decode(json_string_value(
						      json_object_get(out, "next_page_token")),
					      &next, &err),
			 0);
	assert_int_equal(next, 13);
	/* the whole answer, token included, is within the budget */
	assert_true(mw_json_size(out) <= 76 + 207 * 3 + 2);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 3);
	json_decref(out);

	/* one byte less: two fit */
	mw_page_json_init(&pj, str_shape, "item", "items", 0, 76 + 207 * 3 + 1, true);
	for (row = 0; row < 10 && !mw_page_json_take(&pj, v, row, &err); row++)
		;
	assert_int_equal(row, 2);
	out = json_object();
	assert_int_equal(mw_page_json_finish(&pj, 0, out, "items", &p, true), 0);
	json_decref(out);

	/* a first entity over the budget alone is an error, never truncated */
	mw_page_json_init(&pj, str_shape, "item", "items", 0, 200, true);
	assert_int_equal(mw_page_json_take(&pj, v, 0, &err), -MW_E_TOO_LARGE);
	assert_non_null(strstr(err.msg, "item"));
	assert_non_null(strstr(err.msg, "max-response-bytes"));
	out = json_object();
	assert_int_equal(mw_page_json_finish(&pj, -MW_E_TOO_LARGE, out, "items", &p, false),
			 -MW_E_TOO_LARGE);
	assert_int_equal(json_object_size(out), 0);
	json_decref(out);

	/* no page token to offer: ending early is an error too */
	mw_page_json_init(&pj, str_shape, "item", "items", 0, 12 + 207 * 2 + 1, false);
	assert_int_equal(mw_page_json_take(&pj, v, 0, &err), 0);
	assert_int_equal(mw_page_json_take(&pj, v, 1, &err), 0);
	assert_int_equal(mw_page_json_take(&pj, v, 2, &err), -MW_E_TOO_LARGE);
	out = json_object();
	mw_page_json_finish(&pj, -MW_E_TOO_LARGE, out, "items", &p, false);
	json_decref(out);

	/* no budget: everything is kept; the last page has no token */
	mw_page_json_init(&pj, str_shape, "item", "items", 0, 0, true);
	for (row = 0; row < 50; row++)
		assert_int_equal(mw_page_json_take(&pj, v, row, &err), 0);
	out = json_object();
	assert_int_equal(mw_page_json_finish(&pj, 0, out, "items", &p, false), 0);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 50);
	assert_null(json_object_get(out, "next_page_token"));
	json_decref(out);
	/* nothing kept: the field is left out */
	mw_page_json_init(&pj, str_shape, "item", "items", 0, 1000, true);
	out = json_object();
	assert_int_equal(mw_page_json_finish(&pj, 0, out, "items", &p, false), 0);
	assert_int_equal(json_object_size(out), 0);
	json_decref(out);
}

static void test_page_token_bad(void **state)
{
	char big[600];

	(void)state;
	bad_token(NULL, "!!!notbase64!!!");
	bad_token(NULL, "a");
	bad_token(NULL, "bm90IGpzb24=");           /* "not json" */
	bad_token("{\"offset\":-1}", NULL);
	bad_token("{\"offset\":\"5\"}", NULL);
	bad_token("{\"offset\":1.5}", NULL);
	bad_token("{\"other\":1}", NULL);
	bad_token("{}", NULL);
	bad_token("[1]", NULL);
	bad_token("5", NULL);
	bad_token("{\"offset\":1,\"offset\":2}", NULL);
	bad_token("{\"offset\":1} x", NULL);
	memset(big, 'A', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	bad_token(NULL, big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runs_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runs_inum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runs_params_tags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runs_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runs_in, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runs_in_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runs_datasets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runs_and, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runs_many_clauses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quoting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_case_insensitive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_structure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_sanitised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_experiments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logged_models, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registered_models, setup, teardown),
		cmocka_unit_test_setup_teardown(test_model_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_entity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_other, setup, teardown),
		cmocka_unit_test(test_page_token),
		cmocka_unit_test(test_page_token_bad),
		cmocka_unit_test(test_page_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
