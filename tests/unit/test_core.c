/*
 * test_core.c - unit tests for the base layer (core/): capped buffers,
 * arenas, errors, the request JSON parser and typed getters, UTF-8
 * validation, number parsing, base64, ids, SHA-256, settings and histograms.
 *
 * Everything here is pure and in-process; the only global touched is the
 * environment (MW_* variables for the settings test), which is restored.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* ------------------------------------------------------------ mw_buf */

static void test_buf_append(void **state)
{
	struct mw_buf b;

	(void)state;
	mw_buf_init(&b, 1 << 20);
	assert_non_null(b.data);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(mw_buf_append(&b, "abc", 3), 0);
	assert_int_equal(mw_buf_puts(&b, "def"), 0);
	assert_int_equal(mw_buf_append(&b, "", 0), 0);
	assert_int_equal(b.len, 6);
	assert_string_equal(b.data, "abcdef");
	/* embedded NUL bytes are kept; the buffer stays NUL-terminated */
	assert_int_equal(mw_buf_append(&b, "x\0y", 3), 0);
	assert_int_equal(b.len, 9);
	assert_memory_equal(b.data, "abcdefx\0y", 9);
	assert_int_equal(b.data[9], '\0');
	/* growth over many appends */
	mw_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	for (int i = 0; i < 10000; i++)
		assert_int_equal(mw_buf_append(&b, "0123456789", 10), 0);
	assert_int_equal(b.len, 100000);
	assert_true(b.len < b.alloc);
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] != (char)('0' + i % 10))
			fail_msg("byte %zu is %c", i, b.data[i]);
	assert_int_equal(b.data[b.len], '\0');
	mw_buf_release(&b);
	assert_null(b.data);
}

static void test_buf_printf(void **state)
{
	struct mw_buf b;
	char big[1000];

	(void)state;
	mw_buf_init(&b, 1 << 20);
	assert_int_equal(mw_buf_printf(&b, "%d-%s", 42, "x"), 0);
	assert_string_equal(b.data, "42-x");
	/* one printf whose output is longer than the 256-byte stack buffer */
	memset(big, 'q', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(mw_buf_printf(&b, "[%s]%d", big, 7), 0);
	assert_int_equal(b.len, 4 + 1 + 999 + 1 + 1);
	assert_memory_equal(b.data, "42-x[", 5);
	for (size_t i = 5; i < 5 + 999; i++)
		assert_int_equal(b.data[i], 'q');
	assert_string_equal(b.data + 5 + 999, "]7");
	assert_int_equal(strlen(b.data), b.len);
	/* exactly 255 and 256 characters: both sides of the stack buffer */
	mw_buf_reset(&b);
	assert_int_equal(mw_buf_printf(&b, "%.*s", 255, big), 0);
	assert_int_equal(b.len, 255);
	assert_int_equal(mw_buf_printf(&b, "%.*s", 256, big), 0);
	assert_int_equal(b.len, 511);
	assert_int_equal(strlen(b.data), 511);
	mw_buf_release(&b);
}

static void test_buf_cap(void **state)
{
	struct mw_buf b;
	char big[300];

	(void)state;
	mw_buf_init(&b, 10);
	assert_int_equal(mw_buf_puts(&b, "hello"), 0);
	assert_int_equal(mw_buf_puts(&b, "world!"), -MW_E_TOO_LARGE);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "hello");
	assert_int_equal(mw_buf_printf(&b, "%s", "world!"), -MW_E_TOO_LARGE);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "hello");
	/* a long printf (the second vsnprintf path) past the cap */
	memset(big, 'z', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(mw_buf_printf(&b, "%s", big), -MW_E_TOO_LARGE);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "hello");
	/* exactly up to the cap is fine, one more byte is not */
	assert_int_equal(mw_buf_puts(&b, "world"), 0);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "helloworld");
	assert_int_equal(mw_buf_append(&b, "!", 1), -MW_E_TOO_LARGE);
	assert_int_equal(mw_buf_append(&b, "", 0), 0);
	assert_string_equal(b.data, "helloworld");
	/* a huge length cannot wrap around the cap check */
	assert_int_equal(mw_buf_append(&b, "x", (size_t)-1), -MW_E_TOO_LARGE);
	assert_int_equal(b.len, 10);
	mw_buf_release(&b);

	/* a long printf within a larger cap succeeds, past it fails */
	mw_buf_init(&b, 400);
	assert_int_equal(mw_buf_printf(&b, "%s", big), 0);
	assert_int_equal(b.len, 299);
	assert_int_equal(mw_buf_printf(&b, "%s", big), -MW_E_TOO_LARGE);
	assert_int_equal(b.len, 299);
	assert_int_equal(strlen(b.data), 299);
	/* the buffer remembers a failure until it is reset */
	assert_int_equal(mw_buf_error(&b), -MW_E_TOO_LARGE);
	mw_buf_reset(&b);
	assert_int_equal(mw_buf_error(&b), 0);
	assert_int_equal(mw_buf_puts(&b, "ok"), 0);
	assert_int_equal(mw_buf_error(&b), 0);
	mw_buf_release(&b);
}

static void test_buf_detach(void **state)
{
	struct mw_buf b;
	size_t len = 0;
	char *p;

	(void)state;
	mw_buf_init(&b, 100);
	assert_int_equal(mw_buf_puts(&b, "payload"), 0);
	p = mw_buf_detach(&b, &len);
	assert_int_equal(len, 7);
	assert_string_equal(p, "payload");
	/* re-initialised empty, cap kept, and usable */
	assert_non_null(b.data);
	assert_ptr_not_equal(b.data, p);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(b.cap, 100);
	assert_int_equal(mw_buf_puts(&b, "again"), 0);
	assert_string_equal(b.data, "again");
	free(p);
	p = mw_buf_detach(&b, NULL);
	assert_string_equal(p, "again");
	free(p);
	mw_buf_release(&b);
}

/* ------------------------------------------------------------ arena */

static void test_arena_alloc(void **state)
{
	struct mw_arena *a = mw_arena_new(1024);
	unsigned char *ptrs[2000];
	size_t sizes[2000];
	size_t total = 0;

	(void)state;
	for (size_t i = 0; i < 2000; i++) {
		sizes[i] = (i * 37) % 200;
		if (i % 250 == 7)
			sizes[i] = 5000 + i; /* larger than the chunk */
		ptrs[i] = mw_arena_alloc(a, sizes[i]);
		assert_non_null(ptrs[i]);
		if ((uintptr_t)ptrs[i] % 16)
			fail_msg("allocation %zu (%zu bytes) not 16-aligned: %p", i, sizes[i],
				 (void *)ptrs[i]);
		memset(ptrs[i], (int)(i & 0xff), sizes[i]);
		total += sizes[i];
	}
	/* no block overlaps another: every byte still holds its own pattern */
	for (size_t i = 0; i < 2000; i++)
		for (size_t k = 0; k < sizes[i]; k++)
			if (ptrs[i][k] != (unsigned char)(i & 0xff))
				fail_msg("allocation %zu byte %zu overwritten", i, k);
	assert_true(mw_arena_used(a) >= total);

	/* a zero-byte allocation still gives a distinct aligned pointer */
	void *z1 = mw_arena_alloc(a, 0), *z2 = mw_arena_alloc(a, 0);
	assert_non_null(z1);
	assert_ptr_not_equal(z1, z2);
	assert_int_equal((uintptr_t)z1 % 16, 0);
	mw_arena_free(a);
	mw_arena_free(NULL);
}

static void test_arena_big_first(void **state)
{
	/* a big block while the first chunk still has room, then reset */
	struct mw_arena *a = mw_arena_new(1024);
	char *small = mw_arena_alloc(a, 100);
	char *big = mw_arena_alloc(a, 100000);
	char *after = mw_arena_alloc(a, 100);

	(void)state;
	memset(small, 1, 100);
	memset(big, 2, 100000);
	memset(after, 3, 100);
	assert_int_equal((uintptr_t)big % 16, 0);
	assert_int_equal(small[99], 1);
	assert_int_equal(after[0], 3);
	mw_arena_reset(a);
	assert_int_equal(mw_arena_used(a), 0);
	for (int i = 0; i < 1000; i++) {
		char *p = mw_arena_alloc(a, 200);
		assert_int_equal((uintptr_t)p % 16, 0);
		memset(p, 4, 200);
	}
	mw_arena_free(a);
}

static void test_arena_strings(void **state)
{
	struct mw_arena *a = mw_arena_new(0);
	char long_s[3000];

	(void)state;
	char *s = mw_arena_strdup(a, "hello");
	assert_string_equal(s, "hello");
	s = mw_arena_strndup(a, "hello world", 5);
	assert_string_equal(s, "hello");
	s = mw_arena_strdup(a, "");
	assert_string_equal(s, "");
	s = mw_arena_printf(a, "%s=%d;%.2f", "k", -12, 1.5);
	assert_string_equal(s, "k=-12;1.50");
	memset(long_s, 'L', sizeof long_s - 1);
	long_s[sizeof long_s - 1] = '\0';
	s = mw_arena_printf(a, "<%s>", long_s);
	assert_int_equal(strlen(s), 3001);
	assert_int_equal(s[0], '<');
	assert_int_equal(s[3000], '>');
	s = mw_arena_strdup(a, long_s);
	assert_string_equal(s, long_s);
	assert_true(mw_arena_used(a) > 6000);

	/* reset: usage back to zero, and the arena is still usable */
	mw_arena_reset(a);
	assert_int_equal(mw_arena_used(a), 0);
	for (int i = 0; i < 5000; i++) {
		s = mw_arena_printf(a, "item-%d", i);
		assert_int_equal((uintptr_t)s % 16, 0);
		char want[32];
		snprintf(want, sizeof want, "item-%d", i);
		assert_string_equal(s, want);
	}
	mw_arena_reset(a);
	mw_arena_reset(a);
	assert_int_equal(mw_arena_used(a), 0);
	mw_arena_free(a);
}

/* ------------------------------------------------------------ errors */

static void test_err(void **state)
{
	struct mw_err err = { 0 };
	char long_arg[2000];

	(void)state;
	assert_int_equal(mw_err_set(&err, MW_E_NOT_FOUND, "run %s id=%d", "x", 5),
			 -MW_E_NOT_FOUND);
	assert_int_equal(err.code, MW_E_NOT_FOUND);
	assert_string_equal(err.msg, "run x id=5");
	assert_int_equal(mw_err_set(NULL, MW_E_INVALID, "ignored"), -MW_E_INVALID);
	/* over-long messages are truncated, never overflow */
	memset(long_arg, 'm', sizeof long_arg - 1);
	long_arg[sizeof long_arg - 1] = '\0';
	mw_err_set(&err, MW_E_IO, "%s", long_arg);
	assert_int_equal(strlen(err.msg), sizeof err.msg - 1);
	mw_err_clear(&err);
	assert_int_equal(err.code, 0);
	assert_string_equal(err.msg, "");
	mw_err_clear(NULL);

	assert_string_equal(mw_err_name(MW_OK), "OK");
	assert_string_equal(mw_err_name(MW_E_INVALID), "INVALID_PARAMETER_VALUE");
	assert_string_equal(mw_err_name(MW_E_BAD_REQUEST), "BAD_REQUEST");
	assert_string_equal(mw_err_name(MW_E_EXISTS), "RESOURCE_ALREADY_EXISTS");
	assert_string_equal(mw_err_name(MW_E_NOT_FOUND), "RESOURCE_DOES_NOT_EXIST");
	assert_string_equal(mw_err_name(MW_E_NO_ENDPOINT), "ENDPOINT_NOT_FOUND");
	assert_string_equal(mw_err_name(MW_E_CONFLICT), "RESOURCE_CONFLICT");
	assert_string_equal(mw_err_name(MW_E_TOO_LARGE), "RESOURCE_EXHAUSTED");
	assert_string_equal(mw_err_name(MW_E_LIMIT), "REQUEST_LIMIT_EXCEEDED");
	assert_string_equal(mw_err_name(MW_E_INTERNAL), "INTERNAL_ERROR");
	assert_string_equal(mw_err_name(MW_E_IO), "INTERNAL_ERROR");
	assert_string_equal(mw_err_name(MW_E_NOT_IMPLEMENTED), "NOT_IMPLEMENTED");
	assert_string_equal(mw_err_name(MW_E_UNAVAILABLE), "TEMPORARILY_UNAVAILABLE");
	assert_string_equal(mw_err_name(999), "INTERNAL_ERROR");
	assert_string_equal(mw_err_name(-1), "INTERNAL_ERROR");
}

/* ------------------------------------------------------------ JSON parsing */

static json_t *parse_ok(const char *s, int depth)
{
	struct mw_err err = { 0 };
	json_t *v = mw_json_parse_body(s, strlen(s), depth, &err);

	if (!v)
		fail_msg("parse %s: unexpected error %d: %s", s, err.code, err.msg);
	assert_true(json_is_object(v));
	return v;
}

static void parse_bad_n(const char *s, size_t n, int depth, int code)
{
	struct mw_err err = { 0 };
	json_t *v = mw_json_parse_body(s, n, depth, &err);

	if (v) {
		json_decref(v);
		fail_msg("parse %.80s: expected error %d, got an object", s, code);
	}
	if (err.code != code)
		fail_msg("parse %.80s: expected error %d, got %d (%s)", s, code, err.code, err.msg);
	assert_true(err.msg[0] != '\0');
}

static void parse_bad(const char *s, int depth, int code)
{
	parse_bad_n(s, strlen(s), depth, code);
}

static void test_json_empty(void **state)
{
	json_t *v;

	(void)state;
	v = mw_json_parse_body("", 0, 64, NULL);
	assert_non_null(v);
	assert_true(json_is_object(v));
	assert_int_equal(json_object_size(v), 0);
	json_decref(v);
	/* n == 0 wins even if p points at something */
	v = mw_json_parse_body("garbage", 0, 64, NULL);
	assert_true(json_is_object(v) && json_object_size(v) == 0);
	json_decref(v);
	v = parse_ok(" \t\r\n  ", 64);
	assert_int_equal(json_object_size(v), 0);
	json_decref(v);
	v = parse_ok("  {\"a\": 1}\n", 64);
	assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
	json_decref(v);
}

static void nest(char *out, int depth, const char *open, const char *inner, const char *close)
{
	out[0] = '\0';
	for (int i = 0; i < depth; i++)
		strcat(out, open);
	strcat(out, inner);
	for (int i = 0; i < depth; i++)
		strcat(out, close);
}

static void test_json_depth_cap(void **state)
{
	char buf[1024];
	json_t *v;

	(void)state;
	/* objects: depth exactly at the cap is accepted, one more is not */
	nest(buf, 8, "{\"a\":", "1", "}");
	assert_int_equal(mw_json_depth(buf, strlen(buf), 100), 8);
	v = parse_ok(buf, 8);
	json_decref(v);
	nest(buf, 9, "{\"a\":", "1", "}");
	parse_bad(buf, 8, MW_E_BAD_REQUEST);
	/* arrays inside an object */
	strcpy(buf, "{\"a\":");
	nest(buf + strlen(buf), 7, "[", "1", "]");
	strcat(buf, "}");
	json_decref(parse_ok(buf, 8));
	strcpy(buf, "{\"a\":");
	nest(buf + strlen(buf), 8, "[", "1", "]");
	strcat(buf, "}");
	parse_bad(buf, 8, MW_E_BAD_REQUEST);
	/* brackets inside strings do not count */
	json_decref(parse_ok("{\"a\":\"[[[[[[[[[[{{{{{{{{\"}", 2));
	json_decref(parse_ok("{\"a\":\"\\\"[[[[[[[[\"}", 1));
	/* the default server cap */
	nest(buf, 64, "{\"a\":", "1", "}");
	json_decref(parse_ok(buf, 64));
	nest(buf, 65, "{\"a\":", "1", "}");
	parse_bad(buf, 64, MW_E_BAD_REQUEST);
}

static void test_json_deep(void **state)
{
	const size_t n = 100000;
	char *p = malloc(2 * n + 1);
	struct mw_err err = { 0 };
	json_t *v;

	(void)state;
	memset(p, '[', n);
	p[n] = '\0';
	/* depth counting stops just past the cap */
	assert_int_equal(mw_json_depth(p, n, 64), 65);
	parse_bad_n(p, n, 64, MW_E_BAD_REQUEST);
	/* balanced, too */
	memset(p + n, ']', n);
	p[2 * n] = '\0';
	parse_bad_n(p, 2 * n, 64, MW_E_BAD_REQUEST);
	/* even with a cap above jansson's own limit: an error, not a crash */
	v = mw_json_parse_body(p, 2 * n, 1000000, &err);
	assert_null(v);
	assert_true(err.code == MW_E_BAD_REQUEST);
	/* deep '{' as well */
	memset(p, '{', n);
	parse_bad_n(p, n, 64, MW_E_BAD_REQUEST);
	free(p);
}

static void test_json_depth_fn(void **state)
{
	(void)state;
	assert_int_equal(mw_json_depth("", 0, 10), 0);
	assert_int_equal(mw_json_depth("1", 1, 10), 0);
	assert_int_equal(mw_json_depth("\"x\"", 3, 10), 0);
	assert_int_equal(mw_json_depth("{}", 2, 10), 1);
	assert_int_equal(mw_json_depth("[[],[[]]]", 9, 10), 3);
	assert_int_equal(mw_json_depth("{\"a\":[{\"b\":[]}]}", 16, 10), 4);
	assert_int_equal(mw_json_depth("[\"]]]\",[1]]", 11, 10), 2);
	assert_int_equal(mw_json_depth("[\"\\\"[\",[1]]", 11, 10), 2);
	/* stops counting past the cap */
	assert_int_equal(mw_json_depth("[[[[[[]]]]]]", 12, 3), 4);
	/* only n bytes are looked at */
	assert_int_equal(mw_json_depth("[[[[[[", 2, 10), 2);
}

static void test_json_reject(void **state)
{
	(void)state;
	/* invalid UTF-8 in a string and in a key */
	parse_bad("{\"a\":\"\xff\"}", 64, MW_E_BAD_REQUEST);
	parse_bad("{\"a\":\"\xc3\"}", 64, MW_E_BAD_REQUEST);
	parse_bad("{\"\xc0\xaf\":1}", 64, MW_E_BAD_REQUEST);
	parse_bad("{\"a\":\"\xed\xa0\x80\"}", 64, MW_E_BAD_REQUEST);
	/* a lone surrogate escape */
	parse_bad("{\"a\":\"\\ud800\"}", 64, MW_E_BAD_REQUEST);
	/* NaN / Infinity literals */
	parse_bad("{\"a\":NaN}", 64, MW_E_BAD_REQUEST);
	parse_bad("{\"a\":Infinity}", 64, MW_E_BAD_REQUEST);
	parse_bad("{\"a\":-Infinity}", 64, MW_E_BAD_REQUEST);
	parse_bad("{\"a\":nan}", 64, MW_E_BAD_REQUEST);
	/* \u0000 in a string value is its own, clearer error */
	parse_bad("{\"a\":\"x\\u0000y\"}", 64, MW_E_INVALID);
	/* not an object at the top */
	parse_bad("[1,2]", 64, MW_E_BAD_REQUEST);
	parse_bad("[]", 64, MW_E_BAD_REQUEST);
	parse_bad("1", 64, MW_E_BAD_REQUEST);
	parse_bad("true", 64, MW_E_BAD_REQUEST);
	parse_bad("null", 64, MW_E_BAD_REQUEST);
	/* trailing garbage, truncation, syntax */
	parse_bad("{} x", 64, MW_E_BAD_REQUEST);
	parse_bad("{}{}", 64, MW_E_BAD_REQUEST);
	parse_bad("{\"a\":1}]", 64, MW_E_BAD_REQUEST);
	parse_bad("{\"a\":1", 64, MW_E_BAD_REQUEST);
	parse_bad("{\"a\" 1}", 64, MW_E_BAD_REQUEST);
	parse_bad("{'a':1}", 64, MW_E_BAD_REQUEST);
	parse_bad("{\"a\":1,}", 64, MW_E_BAD_REQUEST);
	parse_bad("\"unterminated", 64, MW_E_BAD_REQUEST);
	/* a raw NUL byte inside the body */
	parse_bad_n("{\"a\":1}\0", 8, 64, MW_E_BAD_REQUEST);
	parse_bad_n("{\"a\":\"x\0y\"}", 11, 64, MW_E_BAD_REQUEST);
	/* NULL err is allowed on every path */
	assert_null(mw_json_parse_body("[1]", 3, 64, NULL));
	assert_null(mw_json_parse_body("{", 1, 64, NULL));
}

static void test_json_hand_written(void **state)
{
	(void)state;
	struct mw_buf b;
	mw_buf_init(&b, 1 << 20);
	assert_int_equal(mw_json_str_append(&b, "a\"b\\c\n\x01"
						"d\xc3\xa9"),
			 0);
	assert_int_equal(mw_buf_puts(&b, ":["), 0);
	float v[] = {0.1f, -2.5f, NAN, INFINITY, 16777216.0f};
	assert_int_equal(mw_json_floats_append(&b, v, 5), 0);
	assert_int_equal(mw_buf_puts(&b, "]"), 0);
	assert_string_equal(b.data,
			    "\"a\\\"b\\\\c\\u000a\\u0001d\xc3\xa9\":"
			    "[0.100000001,-2.5,null,null,16777216]");
	/* it is valid JSON that reads back the same */
	char doc[512];
	snprintf(doc, sizeof doc, "{%s}", b.data);
	json_error_t je;
	json_t *o = json_loads(doc, 0, &je);
	assert_non_null(o);
	json_t *a = json_object_get(o, "a\"b\\c\n\x01" "d\xc3\xa9");
	assert_non_null(a);
	assert_true((float)json_real_value(json_array_get(a, 0)) == 0.1f);
	assert_true(json_is_null(json_array_get(a, 2)));
	json_decref(o);
	mw_buf_release(&b);
}

static void test_json_double_encoded(void **state)
{
	json_t *v;

	(void)state;
	v = parse_ok("\"{\\\"run_id\\\":\\\"abc\\\",\\\"n\\\":[1,2]}\"", 64);
	assert_string_equal(json_string_value(json_object_get(v, "run_id")), "abc");
	assert_int_equal(json_array_size(json_object_get(v, "n")), 2);
	json_decref(v);
	v = parse_ok("  \"{}\"  ", 64);
	assert_int_equal(json_object_size(v), 0);
	json_decref(v);
	/* strings that hold something other than an object */
	parse_bad("\"[1,2]\"", 64, MW_E_BAD_REQUEST);
	parse_bad("\"42\"", 64, MW_E_BAD_REQUEST);
	parse_bad("\"not json\"", 64, MW_E_BAD_REQUEST);
	parse_bad("\"\"", 64, MW_E_BAD_REQUEST);
	parse_bad("\"{} x\"", 64, MW_E_BAD_REQUEST);
	/* decoded once only: a string holding a string holding an object */
	parse_bad("\"\\\"{}\\\"\"", 64, MW_E_BAD_REQUEST);
	/* the depth cap applies to the inner document too */
	parse_bad("\"{\\\"a\\\":{\\\"b\\\":{}}}\"", 2, MW_E_BAD_REQUEST);
	json_decref(parse_ok("\"{\\\"a\\\":{\\\"b\\\":{}}}\"", 3));
}

static void test_json_dump_double(void **state)
{
	json_t *v;
	char *s;
	size_t len = 0;

	(void)state;
	v = mw_json_double(NAN);
	assert_true(json_is_string(v));
	assert_string_equal(json_string_value(v), "NaN");
	json_decref(v);
	v = mw_json_double(INFINITY);
	assert_string_equal(json_string_value(v), "Infinity");
	json_decref(v);
	v = mw_json_double(-INFINITY);
	assert_string_equal(json_string_value(v), "-Infinity");
	json_decref(v);
	v = mw_json_double(1.5);
	assert_true(json_is_real(v));
	assert_true(json_real_value(v) == 1.5);
	json_decref(v);
	v = mw_json_double(-0.0);
	assert_true(json_is_real(v));
	json_decref(v);

	v = json_pack("{s:f}", "a", 0.1);
	s = mw_json_dump(v, &len);
	assert_string_equal(s, "{\"a\":0.10000000000000001}");
	assert_int_equal(len, strlen(s));
	free(s);
	json_decref(v);
	v = json_string("scalar");
	s = mw_json_dump(v, NULL);
	assert_string_equal(s, "\"scalar\"");
	free(s);
	json_decref(v);
}

/* mw_json_size is exact: the length of the dump for every kind of value,
 * strings with every escape, UTF-8, reals of every magnitude, nesting. */
static uint64_t rnd_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static json_t *rnd_string(void)
{
	static const char *pieces[] = {"a",    "Z",        "\"",           "\\",
				       "/",    "\n",       "\t",           "\r",
				       "\b",   "\f",       "\x01",         "\x1f",
				       "\x7f", "\xc3\xa9", "\xe2\x80\xa8", "\xf0\x9f\x98\x80",
				       " ",    "0"};
	char buf[256];
	size_t n = 0, k = rnd() % 24;
	for (size_t i = 0; i < k; i++) {
		const char *p = pieces[rnd() % (sizeof pieces / sizeof *pieces)];
		size_t l = strlen(p);
		memcpy(buf + n, p, l);
		n += l;
	}
	if (rnd() % 8 == 0)
		return json_stringn("a\0b", 3); /* jansson strings may hold NUL */
	return json_stringn(buf, n);
}

static json_t *rnd_value(int depth)
{
	switch (rnd() % (depth > 3 ? 6 : 8)) {
	case 0:
		return json_null();
	case 1:
		return json_boolean(rnd() % 2);
	case 2: {
		int64_t v = (int64_t)rnd();
		return json_integer(rnd() % 2 ? v : v % 1000);
	}
	case 3: {
		double d;
		uint64_t bits = rnd();
		memcpy(&d, &bits, sizeof d);
		if (!isfinite(d))
			d = 1.5;
		static const double specials[] = {0.0,
						  -0.0,
						  1.0,
						  1e20,
						  1e21,
						  1e22,
						  1e-7,
						  0.1,
						  123456789012345678.0,
						  5e-324,
						  1.7976931348623157e308,
						  -2.5e-5,
						  100.0};
		if (rnd() % 2)
			d = specials[rnd() % (sizeof specials / sizeof *specials)];
		return json_real(d);
	}
	case 4:
	case 5:
		return rnd_string();
	case 6: {
		json_t *a = json_array();
		for (size_t i = rnd() % 5; i > 0; i--)
			json_array_append_new(a, rnd_value(depth + 1));
		return a;
	}
	default: {
		json_t *o = json_object();
		for (size_t i = rnd() % 5; i > 0; i--) {
			json_t *k = rnd_string();
			char key[300];
			snprintf(key, sizeof key, "%s%zu", json_string_value(k), i);
			json_decref(k);
			json_object_set_new(o, key, rnd_value(depth + 1));
		}
		return o;
	}
	}
}

static void test_json_size(void **state)
{
	(void)state;
	for (int i = 0; i < 20000; i++) {
		json_t *v = rnd_value(0);
		size_t len = 0;
		char *s = mw_json_dump(v, &len);
		if (mw_json_size(v) != len)
			fail_msg("mw_json_size %zu, dump %zu: %s", mw_json_size(v), len, s);
		free(s);
		json_decref(v);
	}
}

static void test_json_dump_max(void **state)
{
	(void)state;
	json_t *v = json_pack("{s:s,s:[i,i,i]}", "name", "x\ny", "n", 1, 2, 3);
	size_t len = 0, full = mw_json_size(v);
	char *s = mw_json_dump_max(v, full, &len);
	assert_non_null(s);
	assert_int_equal(len, full);
	assert_string_equal(s, "{\"name\":\"x\\ny\",\"n\":[1,2,3]}");
	free(s);
	assert_null(mw_json_dump_max(v, full - 1, &len)); /* one byte short: nothing */
	json_decref(v);
}

static void test_json_parse_text(void **state)
{
	struct mw_err err = {0};
	(void)state;
	json_t *v = mw_json_parse_text("{\"a\":[1,2]}", 11, 64, "model", &err);
	assert_non_null(v);
	json_decref(v);
	v = mw_json_parse_text("[1]", 3, 64, "model", &err); /* any value: callers check */
	assert_true(json_is_array(v));
	json_decref(v);
	assert_null(mw_json_parse_text("[[[1]]]", 7, 2, "model", &err));
	assert_int_equal(err.code, MW_E_INVALID);
	assert_non_null(strstr(err.msg, "model"));
	assert_null(mw_json_parse_text("{", 1, 64, "model", &err));
	assert_int_equal(err.code, MW_E_INVALID);
	/* counted before it is built */
	mw_json_set_max_values(1000);
	size_t n = 5000;
	char *big = malloc(2 * n + 2);
	big[0] = '[';
	for (size_t i = 0; i < n; i++) {
		big[1 + 2 * i] = '0';
		big[2 + 2 * i] = i + 1 < n ? ',' : ']';
	}
	assert_null(mw_json_parse_text(big, 2 * n + 1, 64, "model", &err));
	assert_int_equal(err.code, MW_E_TOO_LARGE);
	/* and so is the inner document of a double-encoded body */
	json_t *str = json_stringn(big, 2 * n + 1);
	char *body = json_dumps(str, JSON_ENCODE_ANY);
	json_decref(str);
	assert_null(mw_json_parse_body(body, strlen(body), 64, &err));
	assert_int_equal(err.code, MW_E_TOO_LARGE);
	free(body);
	free(big);
	mw_json_set_max_values(2000000);
}

static void test_uri_prefix(void **state)
{
	(void)state;
	assert_string_equal(mw_uri_prefix("file:///etc", "file:"), "///etc");
	assert_string_equal(mw_uri_prefix("FILE:///etc", "file:"), "///etc");
	assert_string_equal(mw_uri_prefix("File:///etc", "file:"), "///etc");
	assert_string_equal(mw_uri_prefix("Models:/m/1", "models:/"), "m/1");
	assert_string_equal(mw_uri_prefix("MLFLOW-ARTIFACTS://h:1/p", "mlflow-artifacts://"),
			    "h:1/p");
	assert_null(mw_uri_prefix("models:m/1", "models:/")); /* after the scheme: exact */
	assert_null(mw_uri_prefix("modelz:/m", "models:/"));
	assert_null(mw_uri_prefix("fil", "file:"));
	assert_null(mw_uri_prefix("", "file:"));
	assert_null(mw_uri_prefix(NULL, "file:"));
	assert_null(mw_uri_prefix("/etc/file:", "file:"));
}

/* ------------------------------------------------------------ request getters */

static json_t *req(const char *s)
{
	json_error_t je;
	json_t *v = json_loads(s, 0, &je);

	if (!v)
		fail_msg("bad test JSON %s: %s", s, je.text);
	return v;
}

static void test_req_str(void **state)
{
	json_t *r = req("{\"s\":\"abc\",\"e\":\"\",\"n\":1,\"z\":null,\"a\":[\"x\"],\"o\":{}}");
	struct mw_err err = { 0 };
	const char *out;

	(void)state;
	out = NULL;
	assert_int_equal(mw_req_str(r, "s", true, 0, &out, &err), 0);
	assert_string_equal(out, "abc");
	/* missing, optional: 0 and *out untouched */
	out = "keep";
	assert_int_equal(mw_req_str(r, "missing", false, 0, &out, &err), 0);
	assert_string_equal(out, "keep");
	assert_int_equal(mw_req_str(r, "z", false, 0, &out, &err), 0);
	assert_string_equal(out, "keep");
	/* missing, required */
	assert_int_equal(mw_req_str(r, "missing", true, 0, &out, &err), -MW_E_INVALID);
	assert_int_equal(err.code, MW_E_INVALID);
	assert_non_null(strstr(err.msg, "'missing'"));
	assert_int_equal(mw_req_str(r, "z", true, 0, &out, &err), -MW_E_INVALID);
	/* "" counts as missing only when required */
	assert_int_equal(mw_req_str(r, "e", true, 0, &out, &err), -MW_E_INVALID);
	assert_non_null(strstr(err.msg, "'e'"));
	out = NULL;
	assert_int_equal(mw_req_str(r, "e", false, 0, &out, &err), 0);
	assert_string_equal(out, "");
	/* wrong types name the field */
	mw_err_clear(&err);
	assert_int_equal(mw_req_str(r, "n", false, 0, &out, &err), -MW_E_INVALID);
	assert_non_null(strstr(err.msg, "'n'"));
	assert_non_null(strstr(err.msg, "string"));
	assert_int_equal(mw_req_str(r, "a", false, 0, &out, &err), -MW_E_INVALID);
	assert_int_equal(mw_req_str(r, "o", true, 0, &out, &err), -MW_E_INVALID);
	/* max length */
	assert_int_equal(mw_req_str(r, "s", true, 3, &out, &err), 0);
	assert_int_equal(mw_req_str(r, "s", true, 2, &out, &err), -MW_E_INVALID);
	assert_non_null(strstr(err.msg, "'s'"));
	/* NULL err is allowed */
	assert_int_equal(mw_req_str(r, "n", false, 0, &out, NULL), -MW_E_INVALID);
	json_decref(r);
}

static void test_req_int64(void **state)
{
	json_t *r = req("{\"i\":42,\"neg\":-7,\"s\":\"123\",\"sneg\":\"-9223372036854775808\","
			"\"big\":\"9223372036854775807\",\"over\":\"9223372036854775808\","
			"\"r\":5.0,\"rf\":5.5,\"rhuge\":1e300,\"b\":true,\"a\":[1],\"str\":\"12x\","
			"\"sf\":\"1.0\",\"empty\":\"\",\"z\":null}");
	struct mw_err err = { 0 };
	int64_t v;
	bool present;

	(void)state;
	v = 0;
	present = false;
	assert_int_equal(mw_req_int64(r, "i", true, &v, &present, &err), 0);
	assert_int_equal(v, 42);
	assert_true(present);
	assert_int_equal(mw_req_int64(r, "neg", true, &v, NULL, &err), 0);
	assert_int_equal(v, -7);
	assert_int_equal(mw_req_int64(r, "s", true, &v, &present, &err), 0);
	assert_int_equal(v, 123);
	assert_true(present);
	assert_int_equal(mw_req_int64(r, "sneg", true, &v, NULL, &err), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(mw_req_int64(r, "big", true, &v, NULL, &err), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(mw_req_int64(r, "r", true, &v, NULL, &err), 0);
	assert_int_equal(v, 5);
	/* missing: *out untouched, present false */
	v = 77;
	present = true;
	assert_int_equal(mw_req_int64(r, "missing", false, &v, &present, &err), 0);
	assert_int_equal(v, 77);
	assert_false(present);
	present = true;
	assert_int_equal(mw_req_int64(r, "z", false, &v, &present, &err), 0);
	assert_false(present);
	assert_int_equal(mw_req_int64(r, "missing", true, &v, &present, &err), -MW_E_INVALID);
	assert_non_null(strstr(err.msg, "'missing'"));
	/* wrong types and values */
	static const char *bad[] = { "over", "rf", "rhuge", "b", "a", "str", "sf", "empty" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		mw_err_clear(&err);
		v = 77;
		present = true;
		if (mw_req_int64(r, bad[i], false, &v, &present, &err) != -MW_E_INVALID)
			fail_msg("int64 field %s: expected MW_E_INVALID", bad[i]);
		assert_int_equal(err.code, MW_E_INVALID);
		assert_non_null(strstr(err.msg, bad[i]));
		assert_non_null(strstr(err.msg, "integer"));
		assert_false(present);
		assert_int_equal(v, 77);
	}
	json_decref(r);
}

static void test_req_double(void **state)
{
	json_t *r = req("{\"d\":1.25,\"i\":3,\"s\":\"2.5\",\"nan\":\"NaN\",\"inf\":\"Infinity\","
			"\"ninf\":\"-Infinity\",\"x\":\"abc\",\"b\":false,\"a\":[],\"o\":{},"
			"\"z\":null,\"e\":\"\",\"huge\":\"1e999\"}");
	struct mw_err err = { 0 };
	double d;

	(void)state;
	assert_int_equal(mw_req_double(r, "d", true, &d, &err), 0);
	assert_true(d == 1.25);
	assert_int_equal(mw_req_double(r, "i", true, &d, &err), 0);
	assert_true(d == 3.0);
	assert_int_equal(mw_req_double(r, "s", true, &d, &err), 0);
	assert_true(d == 2.5);
	assert_int_equal(mw_req_double(r, "nan", true, &d, &err), 0);
	assert_true(isnan(d));
	assert_int_equal(mw_req_double(r, "inf", true, &d, &err), 0);
	assert_true(isinf(d) && d > 0);
	assert_int_equal(mw_req_double(r, "ninf", true, &d, &err), 0);
	assert_true(isinf(d) && d < 0);
	d = 9;
	assert_int_equal(mw_req_double(r, "missing", false, &d, &err), 0);
	assert_true(d == 9);
	assert_int_equal(mw_req_double(r, "z", false, &d, &err), 0);
	assert_true(d == 9);
	assert_int_equal(mw_req_double(r, "missing", true, &d, &err), -MW_E_INVALID);
	assert_int_equal(mw_req_double(r, "z", true, &d, &err), -MW_E_INVALID);
	static const char *bad[] = { "x", "b", "a", "o", "e", "huge" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		mw_err_clear(&err);
		d = 9;
		if (mw_req_double(r, bad[i], false, &d, &err) != -MW_E_INVALID)
			fail_msg("double field %s: expected MW_E_INVALID", bad[i]);
		assert_non_null(strstr(err.msg, "number"));
		assert_true(d == 9);
	}
	json_decref(r);
}

static void test_req_bool(void **state)
{
	json_t *r = req("{\"t\":true,\"f\":false,\"st\":\"True\",\"sf\":\"FALSE\",\"s1\":\"1\","
			"\"n\":1,\"z\":null,\"yes\":\"yes\",\"a\":[true]}");
	struct mw_err err = { 0 };
	bool b, present;

	(void)state;
	b = false;
	assert_int_equal(mw_req_bool(r, "t", &b, &present, &err), 0);
	assert_true(b && present);
	assert_int_equal(mw_req_bool(r, "f", &b, &present, &err), 0);
	assert_true(!b && present);
	b = false;
	assert_int_equal(mw_req_bool(r, "st", &b, &present, &err), 0);
	assert_true(b && present);
	assert_int_equal(mw_req_bool(r, "sf", &b, NULL, &err), 0);
	assert_false(b);
	b = true;
	present = true;
	assert_int_equal(mw_req_bool(r, "missing", &b, &present, &err), 0);
	assert_true(b);
	assert_false(present);
	present = true;
	assert_int_equal(mw_req_bool(r, "z", &b, &present, &err), 0);
	assert_false(present);
	static const char *bad[] = { "s1", "n", "yes", "a" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		mw_err_clear(&err);
		present = true;
		if (mw_req_bool(r, bad[i], &b, &present, &err) != -MW_E_INVALID)
			fail_msg("bool field %s: expected MW_E_INVALID", bad[i]);
		assert_non_null(strstr(err.msg, "boolean"));
		assert_false(present);
	}
	json_decref(r);
}

static void test_req_list(void **state)
{
	json_t *r = req("{\"l\":[1,2],\"s\":\"x\",\"n\":5,\"o\":{},\"z\":null}");
	struct mw_err err = { 0 };
	json_t *out;

	(void)state;
	out = NULL;
	assert_int_equal(mw_req_list(r, "l", &out, &err), 0);
	assert_ptr_equal(out, json_object_get(r, "l"));
	assert_int_equal(json_array_size(out), 2);
	out = (json_t *)1;
	assert_int_equal(mw_req_list(r, "missing", &out, &err), 0);
	assert_null(out);
	out = (json_t *)1;
	assert_int_equal(mw_req_list(r, "z", &out, &err), 0);
	assert_null(out);
	/* a body message is strict: scalars are not lists */
	assert_int_equal(mw_req_list(r, "s", &out, &err), -MW_E_INVALID);
	assert_non_null(strstr(err.msg, "'s'"));
	assert_non_null(strstr(err.msg, "list"));
	assert_null(out);
	assert_int_equal(mw_req_list(r, "n", &out, &err), -MW_E_INVALID);
	assert_int_equal(mw_req_list(r, "o", &out, &err), -MW_E_INVALID);
	assert_true(json_is_string(json_object_get(r, "s")));
	json_decref(r);

	/* a query-string message: a single value reads as a list of one */
	r = req("{\"s\":\"x\",\"l\":[\"a\",\"b\"]}");
	json_object_set_new(r, MW_REQ_FROM_QUERY, json_true());
	assert_int_equal(mw_req_list(r, "s", &out, &err), 0);
	assert_true(json_is_array(out));
	assert_int_equal(json_array_size(out), 1);
	assert_string_equal(json_string_value(json_array_get(out, 0)), "x");
	/* stored back into the message */
	assert_ptr_equal(json_object_get(r, "s"), out);
	/* and reading it again gives the same list */
	json_t *again = NULL;
	assert_int_equal(mw_req_list(r, "s", &again, &err), 0);
	assert_ptr_equal(again, out);
	assert_int_equal(mw_req_list(r, "l", &out, &err), 0);
	assert_int_equal(json_array_size(out), 2);
	assert_int_equal(mw_req_list(r, "missing", &out, &err), 0);
	assert_null(out);
	json_decref(r);
}

/* ------------------------------------------------------------ strings */

static void test_utf8(void **state)
{
	static const struct {
		const char *s;
		size_t n;
		bool ok;
	} cases[] = {
		{ "", 0, true },
		{ "plain ascii", 11, true },
		{ "h\xc3\xa9llo", 6, true },                 /* é */
		{ "\xe2\x82\xac", 3, true },                 /* € */
		{ "\xf0\x9f\x98\x80", 4, true },             /* U+1F600 */
		{ "\xf4\x8f\xbf\xbf", 4, true },             /* U+10FFFF */
		{ "\xef\xbf\xbf", 3, true },                 /* U+FFFF */
		{ "\xed\x9f\xbf", 3, true },                 /* U+D7FF */
		{ "\xee\x80\x80", 3, true },                 /* U+E000 */
		{ "\xc2\x80", 2, true },                     /* U+0080 */
		{ "a\0b", 3, true },                         /* NUL is ASCII */
		/* overlong */
		{ "\xc0\x80", 2, false },
		{ "\xc1\xbf", 2, false },
		{ "\xe0\x80\x80", 3, false },
		{ "\xe0\x9f\xbf", 3, false },
		{ "\xf0\x80\x80\x80", 4, false },
		{ "\xf0\x8f\xbf\xbf", 4, false },
		/* surrogates */
		{ "\xed\xa0\x80", 3, false },
		{ "\xed\xbf\xbf", 3, false },
		{ "\xed\xa0\xbd\xed\xb8\x80", 6, false },    /* CESU-8 pair */
		/* truncated */
		{ "\xc3", 1, false },
		{ "\xe2\x82", 2, false },
		{ "\xf0\x9f\x98", 3, false },
		{ "ab\xe2\x82", 4, false },
		{ "\xc3x", 2, false },
		{ "\xe2\x82x", 3, false },
		/* above U+10FFFF and invalid lead bytes */
		{ "\xf4\x90\x80\x80", 4, false },
		{ "\xf5\x80\x80\x80", 4, false },
		{ "\xf7\xbf\xbf\xbf", 4, false },
		{ "\xf8\x88\x80\x80\x80", 5, false },
		{ "\xfe", 1, false },
		{ "\xff", 1, false },
		/* stray continuation byte */
		{ "\x80", 1, false },
		{ "a\xbf", 2, false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		if (mw_utf8_valid(cases[i].s, cases[i].n) != cases[i].ok)
			fail_msg("utf8 case %zu: expected %s", i, cases[i].ok ? "valid" : "invalid");
	/* only n bytes are examined */
	assert_true(mw_utf8_valid("ok\xff", 2));
	assert_false(mw_utf8_valid("\xe2\x82\xac", 2));
}

static void test_parse_int64(void **state)
{
	int64_t v;

	(void)state;
	v = 0;
	assert_int_equal(mw_parse_int64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(mw_parse_int64("-15", &v), 0);
	assert_int_equal(v, -15);
	assert_int_equal(mw_parse_int64("9223372036854775807", &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(mw_parse_int64("-9223372036854775808", &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(mw_parse_int64("007", &v), 0);
	assert_int_equal(v, 7);
	v = 99;
	static const char *bad[] = { "", "abc", "12a", "1.0", "1e3", "9223372036854775808",
				     "-9223372036854775809", "99999999999999999999", "-", "0x10",
				     "5 " };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (mw_parse_int64(bad[i], &v) != -1)
			fail_msg("int64 '%s': expected -1", bad[i]);
	assert_int_equal(v, 99);
	assert_int_equal(mw_parse_int64(NULL, &v), -1);
}

static void test_parse_double(void **state)
{
	double d;

	(void)state;
	assert_int_equal(mw_parse_double("1.5", &d), 0);
	assert_true(d == 1.5);
	assert_int_equal(mw_parse_double("-2e-3", &d), 0);
	assert_true(d == -2e-3);
	assert_int_equal(mw_parse_double("42", &d), 0);
	assert_true(d == 42);
	assert_int_equal(mw_parse_double(".5", &d), 0);
	assert_true(d == 0.5);
	assert_int_equal(mw_parse_double("1.7976931348623157e308", &d), 0);
	assert_true(d == 1.7976931348623157e308);
	/* NaN / Infinity words */
	assert_int_equal(mw_parse_double("NaN", &d), 0);
	assert_true(isnan(d));
	assert_int_equal(mw_parse_double("nan", &d), 0);
	assert_true(isnan(d));
	assert_int_equal(mw_parse_double("Infinity", &d), 0);
	assert_true(isinf(d) && d > 0);
	assert_int_equal(mw_parse_double("-Infinity", &d), 0);
	assert_true(isinf(d) && d < 0);
	assert_int_equal(mw_parse_double("inf", &d), 0);
	assert_true(isinf(d) && d > 0);
	assert_int_equal(mw_parse_double("-INF", &d), 0);
	assert_true(isinf(d) && d < 0);
	/* rejections leave *out alone */
	d = 7;
	static const char *bad[] = { "", "abc", "1.5x", "1e", "--1", "1e400", "-1e400", "1 2",
				     "." };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (mw_parse_double(bad[i], &d) != -1)
			fail_msg("double '%s': expected -1", bad[i]);
	assert_true(d == 7);
	assert_int_equal(mw_parse_double(NULL, &d), -1);
}

static void test_str_eq_nocase(void **state)
{
	(void)state;
	assert_true(mw_str_eq_nocase("Hello", "hELLO"));
	assert_true(mw_str_eq_nocase("", ""));
	assert_false(mw_str_eq_nocase("abc", "abd"));
	assert_false(mw_str_eq_nocase("abc", "abcd"));
}

/* ------------------------------------------------------------ base64 */

static void test_base64(void **state)
{
	static const struct {
		const char *in, *out;
	} vec[] = {
		{ "", "" },          { "f", "Zg==" },         { "fo", "Zm8=" },
		{ "foo", "Zm9v" },   { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	unsigned char bytes[10];
	unsigned char *dec;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof vec / sizeof *vec; i++) {
		char *e = mw_base64_encode(vec[i].in, strlen(vec[i].in));
		assert_string_equal(e, vec[i].out);
		free(e);
		assert_int_equal(mw_base64_decode(vec[i].out, &dec, &len), 0);
		assert_int_equal(len, strlen(vec[i].in));
		assert_memory_equal(dec, vec[i].in, len);
		assert_int_equal(dec[len], 0);
		free(dec);
	}
	/* round trip of every length 0..10 with every byte value in play */
	for (int round = 0; round < 26; round++) {
		for (size_t n = 0; n <= 10; n++) {
			for (size_t k = 0; k < n; k++)
				bytes[k] = (unsigned char)(round * 10 + k * 37 + n);
			char *e = mw_base64_encode(bytes, n);
			assert_int_equal(strlen(e), 4 * ((n + 2) / 3));
			for (const char *p = e; *p; p++)
				assert_true(isalnum((unsigned char)*p) || *p == '+' || *p == '/' ||
					    *p == '=');
			assert_int_equal(mw_base64_decode(e, &dec, &len), 0);
			assert_int_equal(len, n);
			if (n)
				assert_memory_equal(dec, bytes, n);
			free(dec);
			free(e);
		}
	}
	/* the URL-safe alphabet decodes too; padding is optional */
	assert_int_equal(mw_base64_decode("-_8", &dec, &len), 0);
	assert_int_equal(len, 2);
	assert_int_equal(dec[0], 0xfb);
	assert_int_equal(dec[1], 0xff);
	free(dec);
	assert_int_equal(mw_base64_decode("Zg", &dec, &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(dec[0], 'f');
	free(dec);
	/* bad input */
	static const char *bad[] = { "!!!!", "a", "Zm9vY", "Zm 9v", "Zm9v\n", "Z=g=", "é" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		dec = (unsigned char *)1;
		if (mw_base64_decode(bad[i], &dec, &len) != -1)
			fail_msg("base64 '%s': expected -1", bad[i]);
		assert_ptr_equal(dec, (unsigned char *)1);
	}
}

/* ------------------------------------------------------------ ids, hashes */

static void test_ids(void **state)
{
	char a[33], b[33], name[64];
	struct mw_err err = { 0 };

	(void)state;
	assert_int_equal(mw_id_hex32(a, &err), 0);
	assert_int_equal(mw_id_hex32(b, &err), 0);
	assert_int_equal(strlen(a), 32);
	assert_int_equal(strlen(b), 32);
	for (int i = 0; i < 32; i++) {
		assert_true((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));
		assert_true((b[i] >= '0' && b[i] <= '9') || (b[i] >= 'a' && b[i] <= 'f'));
	}
	assert_string_not_equal(a, b);

	for (int round = 0; round < 50; round++) {
		assert_int_equal(mw_id_run_name(name, &err), 0);
		/* adjective-animal-NNN */
		const char *d1 = strchr(name, '-');
		assert_non_null(d1);
		const char *d2 = strchr(d1 + 1, '-');
		assert_non_null(d2);
		assert_null(strchr(d2 + 1, '-'));
		assert_true(d1 > name && d2 > d1 + 1);
		for (const char *p = name; p < d2; p++)
			assert_true(p == d1 || (*p >= 'a' && *p <= 'z'));
		size_t nd = strlen(d2 + 1);
		assert_true(nd >= 1 && nd <= 3);
		for (const char *p = d2 + 1; *p; p++)
			assert_true(*p >= '0' && *p <= '9');
	}

	unsigned char raw[3] = { 0x00, 0xab, 0xff };
	char hex[7];
	mw_hex(raw, 3, hex);
	assert_string_equal(hex, "00abff");
	mw_hex(raw, 0, hex);
	assert_string_equal(hex, "");

	char buf[64];
	mw_time_fmt(0, buf);
	assert_string_equal(buf, "1970-01-01 00:00:00");
	mw_time_fmt(INT64_C(1700000000123), buf);
	assert_string_equal(buf, "2023-11-14 22:13:20");
	assert_true(mw_now_ms() > INT64_C(1700000000000));
	uint64_t t0 = mw_mono_ns(), t1 = mw_mono_ns();
	assert_true(t1 >= t0);
}

static void test_sha256(void **state)
{
	char hex[65], hex2[65];
	static const char *abc_hash =
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	static const char *long_in = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	(void)state;
	mw_sha256_hex("", 0, hex);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	mw_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, abc_hash);
	mw_sha256_hex(long_in, strlen(long_in), hex);
	assert_string_equal(hex,
			    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

	/* streaming in pieces equals one shot */
	struct mw_sha256 *h = mw_sha256_new();
	mw_sha256_update(h, "a", 1);
	mw_sha256_update(h, "", 0);
	mw_sha256_update(h, "bc", 2);
	mw_sha256_final(h, hex2);
	assert_string_equal(hex2, abc_hash);

	unsigned char *big = malloc(100000);
	for (size_t i = 0; i < 100000; i++)
		big[i] = (unsigned char)(i * 131 + 7);
	mw_sha256_hex(big, 100000, hex);
	h = mw_sha256_new();
	for (size_t off = 0, step = 1; off < 100000; off += step, step = step * 3 % 4093 + 1) {
		size_t n = step < 100000 - off ? step : 100000 - off;
		mw_sha256_update(h, big + off, n);
	}
	mw_sha256_final(h, hex2);
	assert_string_equal(hex, hex2);
	free(big);
	/* an empty stream */
	h = mw_sha256_new();
	mw_sha256_final(h, hex2);
	assert_string_equal(hex2,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* ------------------------------------------------------------ settings */

static void test_settings(void **state)
{
	struct mw_settings *s;
	struct mw_err err = { 0 };
	long long v;
	char *saved_port = getenv("MW_PORT") ? strdup(getenv("MW_PORT")) : NULL;
	char *saved_dir = getenv("MW_DATA_DIR") ? strdup(getenv("MW_DATA_DIR")) : NULL;
	char *saved_host = getenv("MW_HOST") ? strdup(getenv("MW_HOST")) : NULL;

	(void)state;
	unsetenv("MW_PORT");
	unsetenv("MW_DATA_DIR");
	unsetenv("MW_HOST");

	/* defaults */
	s = mw_settings_new();
	assert_true(mw_settings_count(s) > 0);
	assert_string_equal(mw_settings_get(s, "port"), "5000");
	assert_string_equal(mw_settings_get(s, "host"), "127.0.0.1");
	assert_null(mw_settings_get(s, "no-such-setting"));
	assert_true(mw_settings_has(s, "data-dir"));
	assert_false(mw_settings_has(s, "nope"));
	for (size_t i = 0; i < mw_settings_count(s); i++) {
		const struct mw_setting *row = mw_settings_at(s, i);
		assert_non_null(row);
		assert_non_null(row->name);
		assert_non_null(row->help);
		assert_string_equal(row->value, row->def);
		assert_string_equal(row->source, "default");
	}
	assert_null(mw_settings_at(s, mw_settings_count(s)));
	assert_int_equal(mw_settings_get_int(s, "port", 1, 65535, &v, &err), 0);
	assert_int_equal(v, 5000);

	/* environment: MW_<NAME>, dashes as underscores; empty values ignored */
	setenv("MW_PORT", "6001", 1);
	setenv("MW_DATA_DIR", "/tmp/elsewhere", 1);
	setenv("MW_HOST", "", 1);
	mw_settings_load_env(s);
	assert_string_equal(mw_settings_get(s, "port"), "6001");
	assert_string_equal(mw_settings_get(s, "data-dir"), "/tmp/elsewhere");
	assert_string_equal(mw_settings_get(s, "host"), "127.0.0.1");
	for (size_t i = 0; i < mw_settings_count(s); i++) {
		const struct mw_setting *row = mw_settings_at(s, i);
		if (!strcmp(row->name, "port") || !strcmp(row->name, "data-dir"))
			assert_string_equal(row->source, "env");
		else
			assert_string_equal(row->source, "default");
	}
	assert_int_equal(mw_settings_get_int(s, "port", 1, 65535, &v, &err), 0);
	assert_int_equal(v, 6001);

	/* flags over environment */
	assert_int_equal(mw_settings_apply_flag(s, "port", "7002", &err), 0);
	assert_string_equal(mw_settings_get(s, "port"), "7002");
	assert_int_equal(mw_settings_apply_flag(s, "port", "7003", &err), 0);
	assert_string_equal(mw_settings_get(s, "port"), "7003");
	for (size_t i = 0; i < mw_settings_count(s); i++) {
		const struct mw_setting *row = mw_settings_at(s, i);
		if (!strcmp(row->name, "port"))
			assert_string_equal(row->source, "flag");
	}
	assert_int_equal(mw_settings_get_int(s, "port", 1, 65535, &v, &err), 0);
	assert_int_equal(v, 7003);
	/* unknown setting */
	mw_err_clear(&err);
	assert_int_equal(mw_settings_apply_flag(s, "prot", "1", &err), -MW_E_INVALID);
	assert_int_equal(err.code, MW_E_INVALID);
	assert_non_null(strstr(err.msg, "prot"));
	/* get_int range and type errors */
	v = 123;
	assert_int_equal(mw_settings_get_int(s, "port", 1, 7000, &v, &err), -MW_E_INVALID);
	assert_non_null(strstr(err.msg, "port"));
	assert_int_equal(v, 123);
	assert_int_equal(mw_settings_get_int(s, "port", 7004, 8000, &v, &err), -MW_E_INVALID);
	assert_int_equal(mw_settings_get_int(s, "port", 7003, 7003, &v, &err), 0);
	assert_int_equal(v, 7003);
	assert_int_equal(mw_settings_apply_flag(s, "threads", "four", &err), 0);
	assert_int_equal(mw_settings_get_int(s, "threads", 0, 100, &v, &err), -MW_E_INVALID);
	assert_int_equal(mw_settings_apply_flag(s, "threads", "", &err), 0);
	assert_int_equal(mw_settings_get_int(s, "threads", 0, 100, &v, &err), -MW_E_INVALID);
	assert_int_equal(mw_settings_apply_flag(s, "threads", "-1", &err), 0);
	assert_int_equal(mw_settings_get_int(s, "threads", 0, 100, &v, &err), -MW_E_INVALID);
	assert_int_equal(mw_settings_get_int(s, "host", 0, 100, &v, &err), -MW_E_INVALID);
	assert_int_equal(mw_settings_get_int(s, "nope", 0, 100, &v, &err), -MW_E_INVALID);
	mw_settings_free(s);
	mw_settings_free(NULL);

	/* a fresh table ignores what an earlier one was given */
	s = mw_settings_new();
	assert_string_equal(mw_settings_get(s, "port"), "5000");
	mw_settings_free(s);

	if (saved_port)
		setenv("MW_PORT", saved_port, 1);
	else
		unsetenv("MW_PORT");
	if (saved_dir)
		setenv("MW_DATA_DIR", saved_dir, 1);
	else
		unsetenv("MW_DATA_DIR");
	if (saved_host)
		setenv("MW_HOST", saved_host, 1);
	else
		unsetenv("MW_HOST");
	free(saved_port);
	free(saved_dir);
	free(saved_host);
}

static void test_log_level(void **state)
{
	enum mw_log_level lvl, old = mw_log_get_level();

	(void)state;
	assert_int_equal(mw_log_parse_level("debug", &lvl), 0);
	assert_int_equal(lvl, MW_LOG_DEBUG);
	assert_int_equal(mw_log_parse_level("WARNING", &lvl), 0);
	assert_int_equal(lvl, MW_LOG_WARN);
	assert_int_equal(mw_log_parse_level("Off", &lvl), 0);
	assert_int_equal(lvl, MW_LOG_OFF);
	assert_int_equal(mw_log_parse_level("loud", &lvl), -1);
	mw_log_set_level(MW_LOG_ERROR);
	assert_int_equal(mw_log_get_level(), MW_LOG_ERROR);
	mw_info("not printed");
	mw_log_set_level(old);
}

/* ------------------------------------------------------------ histograms */

static void test_hist(void **state)
{
	static const double bounds[] = { 1, 2, 5 };
	struct mw_hist h;
	struct mw_buf b;

	(void)state;
	mw_hist_init(&h, bounds, 3);
	mw_hist_observe(&h, 0.5);
	mw_hist_observe(&h, 1.0);   /* on a bound: counted in le="1" */
	mw_hist_observe(&h, 1.5);
	mw_hist_observe(&h, 3);
	mw_hist_observe(&h, 10);
	mw_hist_observe(&h, 100);
	assert_int_equal(h.count, 6);
	assert_true(h.sum == 116.0);

	mw_buf_init(&b, 1 << 20);
	assert_int_equal(mw_hist_render(&h, &b, "mw_x_seconds", ""), 0);
	const char *want =
		"mw_x_seconds_bucket{le=\"1\"} 2\n"
		"mw_x_seconds_bucket{le=\"2\"} 3\n"
		"mw_x_seconds_bucket{le=\"5\"} 4\n"
		"mw_x_seconds_bucket{le=\"+Inf\"} 6\n"
		"mw_x_seconds_sum 116\n"
		"mw_x_seconds_count 6\n";
	assert_string_equal(b.data, want);

	mw_buf_reset(&b);
	assert_int_equal(mw_hist_render(&h, &b, "req", "route=\"/a\""), 0);
	assert_non_null(strstr(b.data, "req_bucket{route=\"/a\",le=\"1\"} 2\n"));
	assert_non_null(strstr(b.data, "req_bucket{route=\"/a\",le=\"5\"} 4\n"));
	assert_non_null(strstr(b.data, "req_bucket{route=\"/a\",le=\"+Inf\"} 6\n"));
	assert_non_null(strstr(b.data, "req_sum{route=\"/a\"} 116\n"));
	assert_non_null(strstr(b.data, "req_count{route=\"/a\"} 6\n"));

	/* NULL labels render like "" */
	mw_buf_reset(&b);
	assert_int_equal(mw_hist_render(&h, &b, "mw_x_seconds", NULL), 0);
	assert_string_equal(b.data, want);

	/* an empty histogram and the latency buckets */
	mw_hist_init(&h, mw_latency_buckets, mw_latency_nbuckets);
	mw_buf_reset(&b);
	assert_int_equal(mw_hist_render(&h, &b, "lat", ""), 0);
	assert_non_null(strstr(b.data, "lat_bucket{le=\"0.0001\"} 0\n"));
	assert_non_null(strstr(b.data, "lat_bucket{le=\"10\"} 0\n"));
	assert_non_null(strstr(b.data, "lat_bucket{le=\"+Inf\"} 0\n"));
	assert_non_null(strstr(b.data, "lat_count 0\n"));
	mw_hist_observe(&h, 0.003);
	mw_buf_reset(&b);
	assert_int_equal(mw_hist_render(&h, &b, "lat", ""), 0);
	assert_non_null(strstr(b.data, "lat_bucket{le=\"0.0025\"} 0\n"));
	assert_non_null(strstr(b.data, "lat_bucket{le=\"0.005\"} 1\n"));
	assert_non_null(strstr(b.data, "lat_bucket{le=\"+Inf\"} 1\n"));
	assert_non_null(strstr(b.data, "lat_sum 0.003\n"));

	/* more bounds than fit are cut at the maximum */
	double many[20];
	for (int i = 0; i < 20; i++)
		many[i] = i + 1;
	mw_hist_init(&h, many, 20);
	assert_int_equal(h.nb, MW_HIST_MAX_BUCKETS);
	mw_hist_observe(&h, 1000);
	assert_int_equal(h.counts[MW_HIST_MAX_BUCKETS], 1);
	mw_buf_release(&b);
}

/* Log lines stay one line and carry no terminal controls, whatever a client
 * put in a path or a name. */
static void test_log_escape(void **state)
{
	(void)state;
	char out[256];
	mw_log_escape("plain é 🙂 text", out, sizeof out);
	assert_string_equal(out, "plain é 🙂 text");
	mw_log_escape("a\nb\rc\td\x1b[31me\x7f", out, sizeof out);
	assert_string_equal(out, "a\\x0ab\\x0dc\\x09d\\x1b[31me\\x7f");
	mw_log_escape("back\\slash", out, sizeof out);
	assert_string_equal(out, "back\\\\slash");
	/* C1 controls as UTF-8, stray and truncated UTF-8, surrogates, overlongs */
	mw_log_escape("\xc2\x85|\xff|\xe2\x82|\xed\xa0\x80|\xc0\xaf", out, sizeof out);
	assert_string_equal(out, "\\xc2\\x85|\\xff|\\xe2\\x82|\\xed\\xa0\\x80|\\xc0\\xaf");
	/* bounded: never past n - 1 bytes, never half an escape or character */
	size_t n = mw_log_escape("\n\n\n", out, 6);
	assert_int_equal(n, 4);
	assert_string_equal(out, "\\x0a");
	n = mw_log_escape("ab🙂", out, 5);
	assert_string_equal(out, "ab");
	assert_int_equal(n, 2);
	assert_int_equal(mw_log_escape("x", out, 1), 0);
	assert_string_equal(out, "");
}

static void test_prom_label_escape(void **state)
{
	(void)state;
	char out[64];
	mw_prom_label_escape("fraud-é 🙂", out, sizeof out);
	assert_string_equal(out, "fraud-é 🙂");
	mw_prom_label_escape("a\"b\\c\nd", out, sizeof out);
	assert_string_equal(out, "a\\\"b\\\\c\\nd");
	mw_prom_label_escape("x\xff\xc3", out, sizeof out);
	assert_string_equal(out, "x\xef\xbf\xbd\xef\xbf\xbd");
	assert_int_equal(mw_prom_label_escape("ab\"", out, 4), 2); /* never half an escape */
	assert_string_equal(out, "ab");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_hand_written),
		cmocka_unit_test(test_buf_append),
		cmocka_unit_test(test_buf_printf),
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_buf_detach),
		cmocka_unit_test(test_arena_alloc),
		cmocka_unit_test(test_arena_big_first),
		cmocka_unit_test(test_arena_strings),
		cmocka_unit_test(test_err),
		cmocka_unit_test(test_json_empty),
		cmocka_unit_test(test_json_depth_cap),
		cmocka_unit_test(test_json_deep),
		cmocka_unit_test(test_json_depth_fn),
		cmocka_unit_test(test_json_reject),
		cmocka_unit_test(test_json_double_encoded),
		cmocka_unit_test(test_json_dump_double),
		cmocka_unit_test(test_json_size),
		cmocka_unit_test(test_json_dump_max),
		cmocka_unit_test(test_json_parse_text),
		cmocka_unit_test(test_uri_prefix),
		cmocka_unit_test(test_req_str),
		cmocka_unit_test(test_req_int64),
		cmocka_unit_test(test_req_double),
		cmocka_unit_test(test_req_bool),
		cmocka_unit_test(test_req_list),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_parse_int64),
		cmocka_unit_test(test_parse_double),
		cmocka_unit_test(test_str_eq_nocase),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_log_level),
		cmocka_unit_test(test_log_escape),
		cmocka_unit_test(test_prom_label_escape),
		cmocka_unit_test(test_hist),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
