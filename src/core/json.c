/*
 * json.c - jansson, wrapped once.
 *
 * Request bodies are parsed strictly (jansson rejects NaN literals, invalid
 * UTF-8 and lone surrogates), after a linear pre-scan that caps nesting depth
 * far below jansson's built-in 2048.  Requests are protobuf-JSON messages:
 * the mw_req_* getters give every operation the same typing rules (numbers may
 * arrive as strings, doubles as "NaN"/"Infinity", lists as single values) and
 * the same error messages.
 */
#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The most values a parsed body may hold (see mw_json_set_max_values). */
static size_t max_values = 2000000;

void mw_json_set_max_values(size_t n)
{
	max_values = n ? n : 1;
}

/* One linear pass: the deepest nesting (stopping past cap) and the number of
 * values the tree will hold, counted as its separators (',' and ':') plus
 * its containers plus one: what jansson will allocate, known before it does. */
static int scan(const char *p, size_t n, int cap, size_t *values)
{
	int depth = 0, max = 0;
	size_t v = 1;
	bool in_str = false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			v++;
			if (++depth > max) {
				max = depth;
				if (max > cap)
					break;
			}
		} else if (c == ']' || c == '}') {
			depth--;
		} else if (c == ',' || c == ':') {
			v++;
		}
	}
	if (values)
		*values = v;
	return max;
}

int mw_json_depth(const char *p, size_t n, int cap)
{
	return scan(p, n, cap, NULL);
}

static bool all_space(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return false;
	return true;
}

json_t *mw_json_parse_body(const char *p, size_t n, int max_depth, struct mw_err *err)
{
	if (n == 0 || all_space(p, n))
		return json_object();
	size_t values = 0;
	if (scan(p, n, max_depth, &values) > max_depth) {
		mw_err_set(err, MW_E_BAD_REQUEST,
			   "Malformed request: JSON nesting deeper than %d levels", max_depth);
		return NULL;
	}
	if (values > max_values) { /* refused before jansson allocates a tree for them */
		mw_err_set(err, MW_E_TOO_LARGE,
			   "Request too large: about %zu JSON values, the limit is %zu "
			   "(--max-json-values)",
			   values, max_values);
		return NULL;
	}
	json_error_t je;
	json_t *v = json_loadb(p, n, JSON_DECODE_ANY, &je);
	if (!v && json_error_code(&je) == json_error_null_character) {
		mw_err_set(err, MW_E_INVALID,
			   "Invalid request: strings must not contain NUL characters (\\u0000), "
			   "line %d, column %d",
			   je.line, je.column);
		return NULL;
	}
	if (!v) {
		mw_err_set(err, MW_E_BAD_REQUEST, "Malformed JSON in request body: %s (line %d, column %d)",
			   je.text, je.line, je.column);
		return NULL;
	}
	if (json_is_string(v)) {
		/* old clients send the message as a JSON string holding JSON */
		const char *s = json_string_value(v);
		size_t sl = json_string_length(v);
		json_t *inner = NULL;
		size_t inner_values = 0;
		if (scan(s, sl, max_depth, &inner_values) <= max_depth) {
			if (inner_values > max_values) { /* counted before jansson builds it */
				json_decref(v);
				mw_err_set(err, MW_E_TOO_LARGE,
					   "Request too large: about %zu JSON values, the limit is "
					   "%zu (--max-json-values)",
					   inner_values, max_values);
				return NULL;
			}
			inner = json_loadb(s, sl, 0, &je);
		}
		json_decref(v);
		v = inner;
		if (!v) {
			mw_err_set(err, MW_E_BAD_REQUEST,
				   "Malformed request: body is a string that is not a JSON object");
			return NULL;
		}
	}
	if (!json_is_object(v)) {
		json_decref(v);
		mw_err_set(err, MW_E_BAD_REQUEST, "Malformed request: body must be a JSON object");
		return NULL;
	}
	/* keys starting with \x01 are reserved for marks the server sets itself */
	const char *k;
	void *tmp;
	json_t *val;
	json_object_foreach_safe(v, tmp, k, val) {
		if (k[0] == '\x01')
			json_object_del(v, k);
	}
	return v;
}

#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(17) | JSON_ENCODE_ANY)

char *mw_json_dump(const json_t *v, size_t *len)
{
	char *s = json_dumps(v, DUMP_FLAGS);
	if (!s)
		s = mw_xstrdup("{}");
	if (len)
		*len = strlen(s);
	return s;
}

static int dump_to_buf(const char *p, size_t n, void *ud)
{
	return mw_buf_append(ud, p, n) ? -1 : 0;
}

char *mw_json_dump_max(const json_t *v, size_t max, size_t *len)
{
	struct mw_buf b;
	mw_buf_init(&b, max ? max : 1);
	if (json_dump_callback(v, dump_to_buf, &b, DUMP_FLAGS)) {
		mw_buf_release(&b);
		return NULL;
	}
	char *s = mw_buf_detach(&b, len);
	mw_buf_release(&b);
	return s;
}

/* A string as the dump writes it: quoted, with '"' and '\\' and the
 * control characters escaped (\b \f \n \r \t, else \u00XX); everything
 * else, UTF-8 included, as it is (no JSON_ENSURE_ASCII, no
 * JSON_ESCAPE_SLASH). */
static size_t string_size(const char *s, size_t n)
{
	size_t k = n + 2;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' ||
		    c == '\t')
			k += 1;
		else if (c < 0x20)
			k += 5;
	}
	return k;
}

size_t mw_json_size(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		size_t k = 2, n = 0;
		const char *key;
		json_t *val;
		json_object_foreach((json_t *)v, key, val)
		{
			k += string_size(key, strlen(key)) + 1 + mw_json_size(val);
			n++;
		}
		return k + (n ? n - 1 : 0);
	}
	case JSON_ARRAY: {
		size_t n = json_array_size(v), k = 2 + (n ? n - 1 : 0);
		for (size_t i = 0; i < n; i++)
			k += mw_json_size(json_array_get(v, i));
		return k;
	}
	case JSON_STRING:
		return string_size(json_string_value(v), json_string_length(v));
	case JSON_INTEGER: {
		char buf[32];
		int n = snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return n > 0 ? (size_t)n : 0;
	}
	case JSON_REAL: /* jansson's own formatting, so the count is its own */
		return json_dumpb(v, NULL, 0, DUMP_FLAGS);
	case JSON_TRUE:
	case JSON_NULL:
		return 4;
	case JSON_FALSE:
		return 5;
	}
	return 0;
}

json_t *mw_json_parse_text(const char *p, size_t n, int max_depth, const char *what,
			   struct mw_err *err)
{
	size_t values = 0;
	if (scan(p, n, max_depth, &values) > max_depth) {
		mw_err_set(err, MW_E_INVALID, "Invalid %s: JSON nesting deeper than %d levels",
			   what, max_depth);
		return NULL;
	}
	if (values > max_values) {
		mw_err_set(err, MW_E_TOO_LARGE,
			   "Invalid %s: about %zu JSON values, the limit is %zu (--max-json-values)",
			   what, values, max_values);
		return NULL;
	}
	json_error_t je;
	json_t *v = json_loadb(p, n, JSON_DECODE_ANY, &je);
	if (!v)
		mw_err_set(err, MW_E_INVALID, "Invalid %s: %s (line %d, column %d)", what, je.text,
			   je.line, je.column);
	return v;
}

int mw_json_str_append(struct mw_buf *b, const char *s)
{
	int bad = mw_buf_puts(b, "\"");
	const char *run = s;
	for (const unsigned char *p = (const unsigned char *)s; *p && !bad; p++) {
		if (*p != '"' && *p != '\\' && *p >= 0x20)
			continue;
		bad |= mw_buf_append(b, run, (size_t)((const char *)p - run));
		if (*p == '"' || *p == '\\')
			bad |= mw_buf_printf(b, "\\%c", *p);
		else
			bad |= mw_buf_printf(b, "\\u%04x", *p);
		run = (const char *)p + 1;
	}
	bad |= mw_buf_puts(b, run);
	bad |= mw_buf_puts(b, "\"");
	return bad ? mw_buf_error(b) : 0;
}

/* ------------------------------------------------------------- float32 text */

/* Powers of ten as long double literals (correctly rounded by the compiler;
 * exact up to 10^27). */
static const long double pow10l_tab[] = {1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,
					 1e8L,  1e9L,  1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L,
					 1e16L, 1e17L, 1e18L, 1e19L, 1e20L, 1e21L, 1e22L, 1e23L,
					 1e24L, 1e25L, 1e26L, 1e27L, 1e28L, 1e29L, 1e30L, 1e31L,
					 1e32L, 1e33L, 1e34L, 1e35L, 1e36L, 1e37L, 1e38L, 1e39L,
					 1e40L, 1e41L, 1e42L, 1e43L, 1e44L, 1e45L, 1e46L, 1e47L,
					 1e48L, 1e49L, 1e50L, 1e51L, 1e52L, 1e53L, 1e54L, 1e55L,
					 1e56L, 1e57L, 1e58L, 1e59L, 1e60L};

static const char two_digits[] = "00010203040506070809101112131415161718192021222324"
				 "25262728293031323334353637383940414243444546474849"
				 "50515253545556575859606162636465666768697071727374"
				 "75767778798081828384858687888990919293949596979899";

/* Write digits of n (exactly 9, n in [10^8, 10^9)) into d: one, then four
 * pairs from a table. */
static void nine_digits(uint32_t n, char d[9])
{
	uint32_t lo = n % 100000000u, a = lo / 10000u, b = lo % 10000u;
	d[0] = (char)('0' + n / 100000000u);
	memcpy(d + 1, two_digits + 2 * (a / 100u), 2);
	memcpy(d + 3, two_digits + 2 * (a % 100u), 2);
	memcpy(d + 5, two_digits + 2 * (b / 100u), 2);
	memcpy(d + 7, two_digits + 2 * (b % 100u), 2);
}

static bool eight_digits(uint64_t v)
{
	return ((v & 0xF0F0F0F0F0F0F0F0ull) |
		(((v + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) >> 4)) ==
	       0x3333333333333333ull;
}

const char *mw_json_digits_end(const char *p, const char *e)
{
	while (e - p >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		if (!eight_digits(v))
			break;
		p += 8;
	}
	while (p < e && *p >= '0' && *p <= '9')
		p++;
	return p;
}

/* w * 10^(e - p) + the digits [p, e): eight at a time where the bytes
 * allow (a little-endian word of eight ASCII digits), then one by one. */
static uint64_t digits_into(uint64_t w, const char *p, const char *e)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while (e - p >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		if (!eight_digits(v))
			break; /* not eight digits (cannot happen: the caller checked) */
		v -= 0x3030303030303030ull;
		v = v * 10 + (v >> 8); /* pairs */
		v = (((v & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
		     (((v >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >>
		    32;
		w = w * 100000000u + v;
		p += 8;
	}
#endif
	for (; p < e; p++)
		w = w * 10 + (uint64_t)(*p - '0');
	return w;
}

bool mw_json_fast_double(const char *s, size_t n, double *out)
{
	/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, already checked by
	 * the lexer; read its decimal significand (at most 19 digits from the
	 * first non-zero one) and exponent */
	const char *p = s, *end = s + n;
	bool neg = p < end && *p == '-';
	if (neg)
		p++;
	const char *ib = p;
	p = mw_json_digits_end(p, end);
	const char *ie = p, *fb = p, *fe = p;
	if (p < end && *p == '.') {
		fb = ++p;
		p = mw_json_digits_end(p, end);
		fe = p;
	}
	bool digits = ie > ib || fe > fb;
	int frac = (int)(fe - fb);
	int e = 0;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		bool eneg = p < end && *p == '-';
		if (p < end && (*p == '-' || *p == '+'))
			p++;
		int ed = 0;
		for (; p < end && *p >= '0' && *p <= '9'; p++) {
			if (++ed > 4)
				return false;
			e = e * 10 + (*p - '0');
		}
		if (!ed)
			return false;
		if (eneg)
			e = -e;
	}
	if (p != end || !digits)
		return false;
	/* the significant digits: from the first non-zero one */
	const char *a = ib;
	while (a < ie && *a == '0')
		a++;
	uint64_t w;
	if (a < ie) {
		if ((ie - a) + (fe - fb) > 19)
			return false;
		w = digits_into(digits_into(0, a, ie), fb, fe);
	} else {
		a = fb;
		while (a < fe && *a == '0')
			a++;
		if (fe - a > 19)
			return false;
		w = digits_into(0, a, fe);
	}
	if (!w) {
		*out = neg ? -0.0 : 0.0;
		return true;
	}
	int q = e - frac;
	if (q < -27 || q > 27)
		return false; /* 10^q is exact in a long double only up to 10^27 */
	/* one rounding in a long double (64-bit significand): within 2^-64 of
	 * the exact value; its rounding to a double is the correct one unless
	 * the exact value may sit on the other side of a midpoint */
	long double l = (long double)w;
	l = q >= 0 ? l * pow10l_tab[q] : l / pow10l_tab[-q];
	double d = (double)l;
	if ((long double)d != l) {
		double other = nextafter(d, (long double)d < l ? INFINITY : -INFINITY);
		long double mid = ((long double)d + (long double)other) / 2;
		if (fabsl(l - mid) <= l * 0x1p-62L)
			return false;
	}
	*out = neg ? -d : d;
	return true;
}

/* Powers of ten exact in a double (10^22 is the last). */
static const double pow10d_tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
				    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
				    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

size_t mw_fmt_float9(float f, char out[32])
{
	double v = (double)f;
	if (!isfinite(v))
		return (size_t)snprintf(out, 32, "%.9g", v);
	if (v == 0)
		return (size_t)snprintf(out, 32, "%s", signbit(v) ? "-0" : "0");
	/* The 9 significant digits: N = round(|v| * 10^(8-k)) with
	 * 10^k <= |v| < 10^(k+1).  |v| is exact in a double, and so is 10^p for
	 * p <= 22 (in a long double for p <= 27): one multiplication or division
	 * adds at most 2^-53 relative error (2^-64, then 2^-53 for the rounding
	 * to a double, past 10^22), under 2^-22 absolute on N < 2^30.  When that
	 * leaves the rounding in doubt (N within 1e-6 of a half), printf
	 * decides.  k starts from the float's binary exponent e2 as
	 * floor(e2 * log10(2)), off by at most one, corrected below. */
	double a = fabs(v);
	uint32_t bits;
	memcpy(&bits, &f, sizeof bits);
	int be = (int)((bits >> 23) & 0xffu);
	int e2 = be ? be - 127 : ilogb(v); /* 2^e2 <= |v| < 2^(e2+1) */
	int k = e2 >= 0 ? (e2 * 78913) / 262144 : -((-e2 * 78913 + 262143) / 262144);
	double sc = 0;
	for (int tries = 0; tries < 3; tries++) {
		int p = 8 - k;
		if (p > 60 || p < -60)
			return (size_t)snprintf(out, 32, "%.9g", v);
		if (p >= 0 && p <= 22)
			sc = a * pow10d_tab[p];
		else if (p < 0 && p >= -22)
			sc = a / pow10d_tab[-p];
		else
			sc = (double)(p >= 0 ? (long double)a * pow10l_tab[p]
					     : (long double)a / pow10l_tab[-p]);
		if (sc < 1e8)
			k--;
		else if (sc >= 1e9)
			k++;
		else
			break;
	}
	if (sc < 1e8 || sc >= 1e9)
		return (size_t)snprintf(out, 32, "%.9g", v);
	uint32_t n = (uint32_t)sc;
	double frac = sc - (double)n;
	if (fabs(frac - 0.5) < 1e-6)
		return (size_t)snprintf(out, 32, "%.9g", v); /* a tie, or too close to call */
	n += frac > 0.5;
	if (n == 1000000000u) {
		n = 100000000u;
		k++;
	}
	char d[9];
	nine_digits(n, d);
	int nd = 9;
	while (nd > 1 && d[nd - 1] == '0')
		nd--;
	char *o = out;
	if (v < 0)
		*o++ = '-';
	if (k < -4 || k >= 9) { /* d.ddde+XX */
		*o++ = d[0];
		if (nd > 1) {
			*o++ = '.';
			memcpy(o, d + 1, (size_t)nd - 1);
			o += nd - 1;
		}
		o += snprintf(o, 8, "e%c%02d", k < 0 ? '-' : '+', k < 0 ? -k : k);
	} else if (k >= 0) { /* ddd.ddd */
		memcpy(o, d, (size_t)k + 1);
		o += k + 1;
		if (nd > k + 1) {
			*o++ = '.';
			memcpy(o, d + k + 1, (size_t)(nd - k - 1));
			o += nd - k - 1;
		}
	} else { /* 0.000ddd */
		*o++ = '0';
		*o++ = '.';
		for (int i = 0; i < -k - 1; i++)
			*o++ = '0';
		memcpy(o, d, (size_t)nd);
		o += nd;
	}
	*o = 0;
	return (size_t)(o - out);
}

int mw_json_floats_append(struct mw_buf *b, const float *v, size_t n)
{
	/* formatted into a chunk on the stack, appended a chunk at a time */
	char chunk[512];
	size_t used = 0;
	int bad = 0;
	for (size_t i = 0; i < n && !bad; i++) {
		if (used > sizeof chunk - 40) {
			bad |= mw_buf_append(b, chunk, used);
			used = 0;
		}
		if (i)
			chunk[used++] = ',';
		if (isfinite(v[i])) {
			used += mw_fmt_float9(v[i], chunk + used);
		} else {
			memcpy(chunk + used, "null", 4);
			used += 4;
		}
	}
	if (used && !bad)
		bad |= mw_buf_append(b, chunk, used);
	return bad ? mw_buf_error(b) : 0;
}

size_t mw_fmt_i64(long long v, char out[24])
{
	char tmp[24];
	size_t n = 0;
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	size_t o = 0;
	if (v < 0)
		out[o++] = '-';
	while (n)
		out[o++] = tmp[--n];
	out[o] = 0;
	return o;
}

size_t mw_fmt_fixed4(double x, char out[48])
{
	if (!(x >= 0 && x < 1e9) || signbit(x))
		return (size_t)snprintf(out, 48, "%.4f", x);
	/* x * 10^4 in a long double: one rounding, 2^-64 relative, under 2^-20
	 * absolute below 10^13; a result that close to a half goes to printf */
	long double t = (long double)x * 10000.0L;
	uint64_t n = (uint64_t)t;
	long double frac = t - (long double)n;
	if (fabsl(frac - 0.5L) < 1e-5L)
		return (size_t)snprintf(out, 48, "%.4f", x);
	n += frac > 0.5L;
	size_t o = mw_fmt_i64((long long)(n / 10000), out);
	uint32_t r = (uint32_t)(n % 10000);
	out[o++] = '.';
	out[o++] = (char)('0' + r / 1000);
	out[o++] = (char)('0' + r / 100 % 10);
	out[o++] = (char)('0' + r / 10 % 10);
	out[o++] = (char)('0' + r % 10);
	out[o] = 0;
	return o;
}

json_t *mw_json_double(double d)
{
	if (isnan(d))
		return json_string("NaN");
	if (isinf(d))
		return json_string(d > 0 ? "Infinity" : "-Infinity");
	return json_real(d);
}

/* ------------------------------------------------------------- getters */

static int missing(const char *field, struct mw_err *err)
{
	return mw_err_set(err, MW_E_INVALID, "Missing value for required parameter '%s'.", field);
}

static int bad_type(const char *field, const json_t *v, const char *want, struct mw_err *err)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	int rc = mw_err_set(err, MW_E_INVALID,
			    "Invalid value %.100s for parameter '%s' supplied: expected %s.",
			    s ? s : "?", field, want);
	free(s);
	return rc;
}

int mw_req_str(json_t *req, const char *field, bool required, size_t maxlen,
	       const char **out, struct mw_err *err)
{
	json_t *v = json_object_get(req, field);
	if (!v || json_is_null(v)) {
		if (required)
			return missing(field, err);
		return 0;
	}
	if (!json_is_string(v))
		return bad_type(field, v, "a string", err);
	const char *s = json_string_value(v);
	if (required && !*s)
		return missing(field, err);
	if (maxlen && json_string_length(v) > maxlen)
		return mw_err_set(err, MW_E_INVALID,
				  "Parameter '%s' is %zu characters long, over the limit of %zu.",
				  field, json_string_length(v), maxlen);
	*out = s;
	return 0;
}

int mw_req_int64(json_t *req, const char *field, bool required, int64_t *out, bool *present,
		 struct mw_err *err)
{
	if (present)
		*present = false;
	json_t *v = json_object_get(req, field);
	if (!v || json_is_null(v)) {
		if (required)
			return missing(field, err);
		return 0;
	}
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
	} else if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d != floor(d) || d < -9.2e18 || d > 9.2e18)
			return bad_type(field, v, "an integer", err);
		*out = (int64_t)d;
	} else if (json_is_string(v)) {
		if (mw_parse_int64(json_string_value(v), out))
			return bad_type(field, v, "an integer", err);
	} else {
		return bad_type(field, v, "an integer", err);
	}
	if (present)
		*present = true;
	return 0;
}

int mw_req_double(json_t *req, const char *field, bool required, double *out,
		  struct mw_err *err)
{
	json_t *v = json_object_get(req, field);
	if (!v || json_is_null(v)) {
		if (required)
			return missing(field, err);
		return 0;
	}
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return 0;
	}
	if (json_is_string(v) && !mw_parse_double(json_string_value(v), out))
		return 0;
	return bad_type(field, v, "a number", err);
}

int mw_req_bool(json_t *req, const char *field, bool *out, bool *present, struct mw_err *err)
{
	if (present)
		*present = false;
	json_t *v = json_object_get(req, field);
	if (!v || json_is_null(v))
		return 0;
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
	} else if (json_is_string(v) && !strcasecmp(json_string_value(v), "true")) {
		*out = true;
	} else if (json_is_string(v) && !strcasecmp(json_string_value(v), "false")) {
		*out = false;
	} else {
		return bad_type(field, v, "a boolean", err);
	}
	if (present)
		*present = true;
	return 0;
}

int mw_req_list(json_t *req, const char *field, json_t **out, struct mw_err *err)
{
	*out = NULL;
	json_t *v = json_object_get(req, field);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v) && !json_object_get(req, MW_REQ_FROM_QUERY))
		return bad_type(field, v, "a list", err);
	if (!json_is_array(v)) {
		json_t *a = json_array();
		json_array_append(a, v);
		json_object_set_new(req, field, a);
		v = a;
	}
	*out = v;
	return 0;
}
