/*
 * test_settings.c - the settings table's types: each type's accepted forms
 * and canonical value, bounds, one error naming the setting and where its
 * value came from, secrets never echoed or shown, and the typed readers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mw_setting *row(const struct mw_settings *s, const char *name)
{
	for (size_t i = 0; i < mw_settings_count(s); i++)
		if (!strcmp(mw_settings_at(s, i)->name, name))
			return mw_settings_at(s, i);
	fail_msg("no row %s", name);
	return NULL;
}

/* name=value validates to canon (NULL: is refused, with words in the error). */
static void check(const char *name, const char *value, const char *canon, const char *words)
{
	struct mw_settings *s = mw_settings_new();
	struct mw_err err = {0};
	assert_int_equal(mw_settings_apply_flag(s, name, value, &err), 0);
	int rc = mw_settings_validate(s, &err);
	if (canon) {
		if (rc)
			fail_msg("%s=%s refused: %s", name, value, err.msg);
		assert_string_equal(mw_settings_get(s, name), canon);
		assert_string_equal(row(s, name)->source, "flag");
	} else {
		if (!rc)
			fail_msg("%s=%s accepted as %s", name, value, mw_settings_get(s, name));
		assert_int_equal(rc, -MW_E_INVALID);
		char flag[80];
		snprintf(flag, sizeof flag, "'%s' (--%s)", name, name);
		assert_non_null(strstr(err.msg, flag));
		if (words && !strstr(err.msg, words))
			fail_msg("%s=%s: '%s' lacks '%s'", name, value, err.msg, words);
	}
	mw_settings_free(s);
}

static void test_defaults_are_valid_and_typed(void **state)
{
	(void)state;
	struct mw_settings *s = mw_settings_new();
	struct mw_err err = {0};
	assert_int_equal(mw_settings_validate(s, &err), 0);
	for (size_t i = 0; i < mw_settings_count(s); i++) {
		const struct mw_setting *r = mw_settings_at(s, i);
		assert_string_equal(r->value, r->def); /* defaults are canonical */
		if (r->type == MW_SETTING_INT || r->type == MW_SETTING_SIZE ||
		    r->type == MW_SETTING_DURATION)
			assert_true(r->min <= r->max);
		if (r->type == MW_SETTING_DURATION)
			assert_non_null(r->unit);
		if (r->type == MW_SETTING_ENUM)
			assert_non_null(r->choices);
	}
	assert_int_equal(row(s, "port")->type, MW_SETTING_INT);
	assert_int_equal(row(s, "max-body")->type, MW_SETTING_SIZE);
	assert_int_equal(row(s, "shutdown-timeout")->type, MW_SETTING_DURATION);
	assert_int_equal(row(s, "sync")->type, MW_SETTING_ENUM);
	assert_int_equal(row(s, "prediction-log")->type, MW_SETTING_BOOL);
	assert_true(row(s, "store-uri")->secret);
	assert_string_equal(mw_settings_get(s, "store-uri"), "");
	assert_int_equal(mw_settings_int(s, "port"), 5000);
	assert_int_equal(mw_settings_int(s, "max-body"), 33554432);
	assert_true(mw_settings_bool(s, "truncate-long-values"));
	assert_false(mw_settings_bool(s, "allow-local-sources"));
	mw_settings_free(s);
}

static void test_int(void **state)
{
	(void)state;
	check("port", "0", "0", NULL);
	check("port", "65535", "65535", NULL);
	check("port", "65536", NULL, "an integer in [0, 65535]");
	check("port", "-1", NULL, "'-1'");
	check("port", "80x", NULL, "'80x'");
	check("port", "", NULL, NULL);
	check("threads", "four", NULL, "'four'");
	check("max-json-depth", "1", NULL, "[2, 1000]");
}

static void test_bool(void **state)
{
	(void)state;
	const char *yes[] = {"true", "TRUE", "1", "yes", "On"};
	const char *no[] = {"false", "False", "0", "no", "OFF"};
	for (size_t i = 0; i < 5; i++) {
		check("prediction-log", yes[i], "true", NULL);
		check("prediction-log", no[i], "false", NULL);
	}
	check("truncate-long-values", "nope", NULL, "true or false");
	check("truncate-long-values", "", NULL, NULL);
}

static void test_enum(void **state)
{
	(void)state;
	check("sync", "normal", "normal", NULL);
	check("sync", "FULL", "full", NULL);
	check("sync", "fast", NULL, "one of full, normal");
	check("log-level", "warning", "warn", NULL); /* an alias */
	check("log-level", "Debug", "debug", NULL);
	check("log-level", "loud", NULL, "one of debug, info, warn, error, off");
}

static void test_size(void **state)
{
	(void)state;
	check("max-body", "1048576", "1048576", NULL);
	check("max-body", "1MiB", "1048576", NULL);
	check("max-body", "1M", "1048576", NULL);
	check("max-body", "64k", "65536", NULL);
	check("max-body", "2G", "2147483648", NULL);
	check("max-body", "1T", "1099511627776", NULL);
	check("max-body", "2T", NULL, "[1024, 1099511627776]");
	check("max-body", "1000", NULL, "[1024,");
	check("max-body", "10 MB", NULL, "'10 MB'");
	check("max-body", "10XB", NULL, NULL);
	check("max-body", "99999999999999999T", NULL, NULL); /* overflow */
	check("cache-bytes", "0", "0", NULL);
}

static void test_duration(void **state)
{
	(void)state;
	check("shutdown-timeout", "30", "30", NULL);      /* seconds, the row's unit */
	check("shutdown-timeout", "2m", "120", NULL);
	check("shutdown-timeout", "5000ms", "5", NULL);
	check("shutdown-timeout", "500ms", NULL, "a duration in [0, 3600] s");
	check("shutdown-timeout", "2h", NULL, "[0, 3600]");
	check("shutdown-timeout", "10 s", NULL, NULL);
	check("infer-timeout-ms", "2s", "2000", NULL);
	check("infer-timeout-ms", "1500", "1500", NULL);
	check("batch-delay-us", "3ms", "3000", NULL);
	check("batch-delay-us", "1500us", "1500", NULL);
	check("alias-poll-ms", "1d", NULL, NULL);
}

static void test_errors_name_the_origin(void **state)
{
	(void)state;
	char *saved = getenv("MW_PORT") ? strdup(getenv("MW_PORT")) : NULL;
	setenv("MW_PORT", "http", 1);
	struct mw_settings *s = mw_settings_new();
	mw_settings_load_env(s);
	struct mw_err err = {0};
	assert_int_equal(mw_settings_validate(s, &err), -MW_E_INVALID);
	assert_non_null(strstr(err.msg, "'port' (MW_PORT)"));
	assert_non_null(strstr(err.msg, "'http'"));
	/* a flag wins over the environment */
	mw_settings_apply_flag(s, "port", "6000", &err);
	mw_err_clear(&err);
	assert_int_equal(mw_settings_validate(s, &err), 0);
	assert_int_equal(mw_settings_int(s, "port"), 6000);
	/* the caller's own source word */
	assert_int_equal(mw_settings_set(s, "sync", "later", "cli", &err), 0);
	assert_int_equal(mw_settings_validate(s, &err), -MW_E_INVALID);
	assert_non_null(strstr(err.msg, "'sync' (cli value)"));
	assert_int_equal(mw_settings_set(s, "no-such", "1", "cli", &err), -MW_E_INVALID);
	mw_settings_free(s);
	if (saved) {
		setenv("MW_PORT", saved, 1);
		free(saved);
	} else {
		unsetenv("MW_PORT");
	}
}

static void test_secret_never_shown(void **state)
{
	(void)state;
	struct mw_settings *s = mw_settings_new();
	const struct mw_setting *r = row(s, "store-uri");
	assert_string_equal(mw_setting_show(r, r->value), "(unset)");
	assert_string_equal(mw_setting_show(r, r->def), "(unset)");
	struct mw_err err = {0};
	mw_settings_apply_flag(s, "store-uri", "postgresql://mw:hunter2@db/mw", &err);
	assert_int_equal(mw_settings_validate(s, &err), 0);
	r = row(s, "store-uri");
	assert_string_equal(r->value, "postgresql://mw:hunter2@db/mw"); /* readers get it */
	assert_string_equal(mw_setting_show(r, r->value), "(set)");
	/* a plain row is shown as it is */
	assert_string_equal(mw_setting_show(row(s, "port"), "5000"), "5000");
	/* get_int on a secret does not echo it */
	long long v;
	assert_int_equal(mw_settings_get_int(s, "store-uri", 0, 1, &v, &err), -MW_E_INVALID);
	assert_null(strstr(err.msg, "hunter2"));
	assert_non_null(strstr(err.msg, "store-uri"));
	mw_settings_free(s);
	assert_string_equal(mw_setting_type_name(MW_SETTING_DURATION), "duration");
	assert_string_equal(mw_setting_type_name(MW_SETTING_STRING), "string");
}

static void test_get_int_reads_typed_values(void **state)
{
	(void)state;
	struct mw_settings *s = mw_settings_new();
	struct mw_err err = {0};
	long long v = 0;
	/* without validation (mw serve composes its own server today) */
	mw_settings_apply_flag(s, "max-body", "2MiB", &err);
	assert_int_equal(mw_settings_get_int(s, "max-body", 1024, 1ll << 40, &v, &err), 0);
	assert_int_equal(v, 2 << 20);
	mw_settings_apply_flag(s, "shutdown-timeout", "1m", &err);
	assert_int_equal(mw_settings_get_int(s, "shutdown-timeout", 0, 3600, &v, &err), 0);
	assert_int_equal(v, 60);
	assert_int_equal(mw_settings_get_int(s, "sync", 0, 10, &v, &err), -MW_E_INVALID);
	assert_int_equal(mw_settings_get_int(s, "prediction-log", 0, 10, &v, &err), -MW_E_INVALID);
	mw_settings_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_valid_and_typed),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_errors_name_the_origin),
		cmocka_unit_test(test_secret_never_shown),
		cmocka_unit_test(test_get_int_reads_typed_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
