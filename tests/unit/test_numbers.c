/*
 * test_numbers.c - the fast number text of core/json.c against libc:
 *  - mw_fmt_float9 writes a float exactly as snprintf's "%.9g" does: every
 *    edge we know (zeros, powers of ten, the %g switch points -4 and 9,
 *    values that round up to a new power of ten, subnormals, the largest and
 *    smallest floats) and millions of random bit patterns and
 *    decimal-looking values;
 *    and every 1009th float bit pattern;
 *  - mw_fmt_fixed4 writes a double exactly as "%.4f" (latencies: random
 *    milliseconds, halves of 1e-4 and their neighbours, every magnitude),
 *    mw_fmt_i64 as "%lld";
 *  - mw_json_fast_double reads a JSON number exactly as strtod does, bit for
 *    bit, when it answers at all: random significands of 1 to 20 digits with
 *    exponents, shortest round-trip texts of random doubles and floats (what
 *    clients send), halfway cases, and what it must leave to strtod.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static unsigned long long checked;

static void same(float f)
{
	if (!isfinite(f))
		return;
	char want[64], got[32];
	snprintf(want, sizeof want, "%.9g", (double)f);
	size_t n = mw_fmt_float9(f, got);
	checked++;
	if (n != strlen(want) || strcmp(got, want))
		fail_msg("%a: got '%s' (%zu), printf '%s'", (double)f, got, n, want);
}

static float from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static void test_edges(void **state)
{
	(void)state;
	static const float fixed[] = {0.0f,
				      -0.0f,
				      1,
				      -1,
				      0.1f,
				      0.5f,
				      1.5f,
				      2.5f,
				      123456789.0f,
				      999999999.0f,
				      999999995.0f,
				      99999999.5f,
				      1e9f,
				      1e-4f,
				      1e-5f,
				      9.9999999e-5f,
				      0.00012345678f,
				      1e8f,
				      1e10f,
				      3.4028235e38f,
				      1.17549435e-38f,
				      1.4e-45f,
				      16777216.0f,
				      16777217.0f,
				      0.3f,
				      2.0f / 3.0f,
				      1e-45f};
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
		same(fixed[i]);
		same(-fixed[i]);
	}
	same(FLT_MAX);
	same(FLT_MIN);
	same(FLT_TRUE_MIN);
	/* powers of ten and their neighbours */
	for (int e = -45; e <= 38; e++) {
		float p = (float)pow(10, e);
		same(p);
		same(nextafterf(p, 0));
		same(nextafterf(p, INFINITY));
	}
	/* values around the 9-digit rounding points */
	for (int e = -40; e <= 30; e++)
		for (int k = 0; k < 200; k++) {
			double base = (999999999.5 - k * 0.25) * pow(10, e - 8);
			float f = (float)base;
			same(f);
			same(nextafterf(f, 0));
			same(nextafterf(f, INFINITY));
		}
	/* every small integer (exact ties to 9 digits do not occur, but near
	 * ties do past 2^24) */
	for (uint32_t i = 0; i < 1000000; i++)
		same((float)i);
	for (uint32_t i = 0; i < 200000; i++)
		same((float)(1000000000u + i * 64u));
}

static void test_random_bits(void **state)
{
	(void)state;
	uint64_t x = 0x9E3779B97F4A7C15ull;
	for (int i = 0; i < 2000000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		same(from_bits((uint32_t)x));
	}
	/* decimal-looking values, as clients send them */
	for (int i = 0; i < 1000000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double d = (double)(x % 2000000001) / 1000.0 - 1e6;
		same((float)d);
		same((float)(d * 1e-7));
	}
	print_message("checked %llu floats\n", checked);
}

static unsigned long long parsed, declined;

/* fast must agree with strtod when it answers. */
static void read_same(const char *text)
{
	double want = strtod(text, NULL), got = 0;
	if (mw_json_fast_double(text, strlen(text), &got)) {
		parsed++;
		if (memcmp(&want, &got, sizeof got))
			fail_msg("'%s': fast %a, strtod %a", text, got, want);
	} else {
		declined++;
	}
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void test_read_numbers(void **state)
{
	(void)state;
	static const char *const fixed[] = {
		"0",
		"-0",
		"0.0",
		"-0.0",
		"1",
		"1.5",
		"0.1",
		"0.3",
		"1e5",
		"1E-5",
		"1e+27",
		"1e-27",
		"123456789012345678",
		"9007199254740993",
		"9007199254740993.0",
		"0.32801759243011475",
		"1.7976931348623157e308",
		"4.9e-324",
		"2.2250738585072014e-308",
		"9999999999999999999",
		"0.000000000000000001",
		/* halfway between two doubles: strtod's ties-to-even decides */
		"9007199254740993",
		"4503599627370496.5",
		"2.5",
		"0.5000000000000000555111512312578270211815834045410156250001",
	};
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
		read_same(fixed[i]);
	char buf[64];
	uint64_t x = 0x2545F4914F6CDD1Dull;
	/* random significands and exponents */
	for (int i = 0; i < 1000000; i++) {
		int nd = 1 + (int)(rnd(&x) % 20), e = (int)(rnd(&x) % 80) - 40;
		char digits[24];
		for (int k = 0; k < nd; k++)
			digits[k] = (char)('0' + rnd(&x) % 10);
		digits[nd] = 0;
		int point = (int)(rnd(&x) % (unsigned)(nd + 1));
		snprintf(buf, sizeof buf, "%s%.*s%s%s%se%d", rnd(&x) & 1 ? "-" : "",
			 point ? point : 1, point ? digits : "0", point < nd ? "." : "",
			 digits + point, "", e);
		read_same(buf);
		if (!(i & 3)) { /* no exponent */
			char *ep = strchr(buf, 'e');
			*ep = 0;
			read_same(buf);
		}
	}
	/* shortest round-trip texts, as JSON encoders write them */
	for (int i = 0; i < 400000; i++) {
		uint64_t b = rnd(&x);
		double d;
		memcpy(&d, &b, 8);
		if (!isfinite(d))
			continue;
		snprintf(buf, sizeof buf, "%.17g", d);
		read_same(buf);
		float f = (float)(d / pow(10, (int)(rnd(&x) % 10)));
		snprintf(buf, sizeof buf, "%.17g", (double)f);
		read_same(buf);
		snprintf(buf, sizeof buf, "%.9g", (double)f);
		read_same(buf);
	}
	print_message("fast read %llu, left %llu to strtod\n", parsed, declined);
	/* what it must decline: more than 19 digits, large exponents */
	double v;
	assert_false(mw_json_fast_double("12345678901234567890", 20, &v));
	assert_false(mw_json_fast_double("1e30", 4, &v));
	assert_false(mw_json_fast_double("1e-300", 6, &v));
	assert_true(parsed > declined);
}

/* Every 1009th float bit pattern (4.3 million, through every exponent and
 * both signs, subnormals included). */
static void test_float_sweep(void **state)
{
	(void)state;
	unsigned long long before = checked;
	for (uint64_t u = 0; u <= 0xffffffffu; u += 1009)
		same(from_bits((uint32_t)u));
	print_message("swept %llu floats\n", checked - before);
}

static void fixed_same(double x)
{
	char want[512], got[48];
	snprintf(want, sizeof want, "%.4f", x);
	if (strlen(want) >= sizeof got)
		return; /* printf's answer does not fit: not for mw_fmt_fixed4 */
	size_t n = mw_fmt_fixed4(x, got);
	if (n != strlen(want) || strcmp(got, want))
		fail_msg("%a: got '%s' (%zu), printf '%s'", x, got, n, want);
}

/* mw_fmt_fixed4 against "%.4f"; mw_fmt_i64 against "%lld". */
static void test_fixed_and_ints(void **state)
{
	(void)state;
	static const double fixed[] =
		{0,       -0.0,     0.00005,     0.00015,         0.00025,    0.5,         1.23445,
		 1.23455, 9.99995,  99999.99995, 999999999.99994, 1e9,        1e9 - 1e-5,  1e300,
		 -1,      -0.00004, 12.3456,     0.0001,          0.00009999, 123456.78905};
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
		fixed_same(fixed[i]);
		fixed_same(nextafter(fixed[i], 0));
		fixed_same(nextafter(fixed[i], INFINITY));
	}
	fixed_same(NAN);
	fixed_same(INFINITY);
	fixed_same(-INFINITY);
	uint64_t x = 0x2545F4914F6CDD1Dull;
	for (int i = 0; i < 1000000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* latencies as they come (ms with sub-us parts), halves of 1e-4 and
		 * their neighbours, and values of every magnitude up to 1e10 */
		double ms = (double)(x % 100000000) / 1e6;
		fixed_same(ms);
		double half = ((double)(x % 2000000000) + 0.5) / 1e4;
		fixed_same(half);
		fixed_same(nextafter(half, 0));
		fixed_same(nextafter(half, INFINITY));
		fixed_same((double)(x >> 11) * 0x1p-53 * pow(10, (int)(x % 15) - 5));
	}
	static const long long ints[] = {0,
					 1,
					 -1,
					 9,
					 10,
					 99,
					 100,
					 1234567890123LL,
					 -987654321,
					 9223372036854775807LL,
					 -9223372036854775807LL - 1};
	for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
		char want[32], got[24];
		snprintf(want, sizeof want, "%lld", ints[i]);
		size_t n = mw_fmt_i64(ints[i], got);
		assert_int_equal(n, strlen(want));
		assert_string_equal(got, want);
	}
}

/* mw_json_digits_end against a byte loop: runs of digits of every length
 * up to 40, ended by every byte value (the neighbours of '0' and '9', bytes
 * whose high nibble is 3, bytes past ASCII), and the end of the text. */
static void test_digit_runs(void **state)
{
	(void)state;
	char buf[64];
	for (int len = 0; len <= 40; len++)
		for (int stop = -1; stop < 256; stop++) {
			for (int i = 0; i < len; i++)
				buf[i] = (char)('0' + (i * 7 + len) % 10);
			size_t n = (size_t)len;
			if (stop >= 0)
				buf[n++] = (char)stop;
			for (size_t tail = n; tail < sizeof buf; tail++)
				buf[tail] = '5'; /* digits past the end must not count */
			size_t want = 0;
			while (want < n && buf[want] >= '0' && buf[want] <= '9')
				want++;
			const char *got = mw_json_digits_end(buf, buf + n);
			if ((size_t)(got - buf) != want)
				fail_msg("len %d stop %d: %zu, want %zu", len, stop,
					 (size_t)(got - buf), want);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edges),          cmocka_unit_test(test_random_bits),
		cmocka_unit_test(test_read_numbers),   cmocka_unit_test(test_float_sweep),
		cmocka_unit_test(test_fixed_and_ints), cmocka_unit_test(test_digit_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
