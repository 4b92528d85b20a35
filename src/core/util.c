/*
 * util.c - clocks, CSPRNG ids, generated run names, SHA-256, base64, UTF-8
 * validation, number parsing and lock-free histograms.
 *
 * Ids come from getrandom(2), never from rand(): run ids are guessable
 * handles otherwise.  SHA-256 uses OpenSSL's EVP interface with the digest
 * fetched once.
 */
#include "core/core.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

int64_t mw_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t mw_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void mw_time_fmt(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
}

int mw_random(void *p, size_t n, struct mw_err *err)
{
	unsigned char *q = p;
	while (n > 0) {
		ssize_t r = getrandom(q, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return mw_err_set(err, MW_E_INTERNAL, "getrandom: %s", strerror(errno));
		}
		q += r;
		n -= (size_t)r;
	}
	return 0;
}

void mw_hex(const unsigned char *in, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * n] = 0;
}

int mw_id_hex32(char out[33], struct mw_err *err)
{
	unsigned char b[16];
	int rc = mw_random(b, sizeof b, err);
	if (rc)
		return rc;
	mw_hex(b, sizeof b, out);
	return 0;
}

int mw_id_run_name(char out[64], struct mw_err *err)
{
	static const char *adj[] = {
		"amazing", "bold", "brave", "bright", "calm", "capable", "clean", "clever",
		"crisp", "curious", "dapper", "defiant", "eager", "enchanting", "fearless",
		"gentle", "gifted", "glamorous", "great", "honest", "humble", "illustrious",
		"industrious", "judicious", "kindly", "languid", "legendary", "lucky",
		"magnificent", "merciful", "nimble", "orderly", "patient", "polite", "quick",
		"quiet", "rebellious", "resilient", "rogue", "salty", "silent", "skillful",
		"smiling", "steady", "stylish", "sunny", "thoughtful", "trusting", "unique",
		"upbeat", "valuable", "vaunted", "victorious", "wise", "worried", "zealous"};
	static const char *noun[] = {
		"ant", "asp", "bass", "bat", "bear", "bee", "bird", "boar", "bug", "calf", "carp",
		"cat", "colt", "crab", "crane", "croc", "crow", "cub", "deer", "doe", "dog",
		"dolphin", "donkey", "dove", "duck", "eel", "elk", "fawn", "finch", "fish", "flea",
		"fly", "foal", "fowl", "fox", "frog", "gnat", "gnu", "goat", "goose", "grouse",
		"grub", "gull", "hare", "hawk", "hen", "hog", "horse", "hound", "jay", "kit",
		"koi", "lamb", "lark", "lion", "loon", "lynx", "mare", "midge", "mink", "mole",
		"moose", "moth", "mouse", "mule", "newt", "owl", "ox", "panda", "penguin", "perch",
		"pig", "pug", "quail", "ram", "rat", "ray", "robin", "roo", "rook", "seal", "shad",
		"shark", "sheep", "shoat", "shrew", "shrike", "shrimp", "skink", "skunk", "sloth",
		"slug", "smelt", "snail", "snake", "snipe", "sow", "sponge", "squid", "squirrel",
		"stag", "steed", "stoat", "swan", "tern", "toad", "trout", "turtle", "vole",
		"wasp", "whale", "wolf", "worm", "wren", "yak", "zebra"};
	uint32_t r[3];
	int rc = mw_random(r, sizeof r, err);
	if (rc)
		return rc;
	snprintf(out, 64, "%s-%s-%u", adj[r[0] % (sizeof adj / sizeof *adj)],
		 noun[r[1] % (sizeof noun / sizeof *noun)], r[2] % 1000);
	return 0;
}

/* --------------------------------------------------------------- sha256 */

struct mw_sha256 {
	EVP_MD_CTX *ctx;
};

/* SHA-256 fetched from the default provider once: a digest initialised with
 * EVP_sha256() is fetched again on every EVP_DigestInit_ex (OpenSSL 3's
 * implicit fetch, about a third of hashing a token), one fetched explicitly
 * is not.  Kept for the life of the process. */
static EVP_MD *sha256_fetched;
static void sha256_fetch(void)
{
	sha256_fetched = EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

static const EVP_MD *sha256_md(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, sha256_fetch);
	return sha256_fetched ? sha256_fetched : EVP_sha256();
}

struct mw_sha256 *mw_sha256_new(void)
{
	struct mw_sha256 *h = mw_xmalloc(sizeof *h);
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, sha256_md(), NULL) != 1) {
		fprintf(stderr, "mw: cannot initialise SHA-256\n");
		abort();
	}
	return h;
}

void mw_sha256_update(struct mw_sha256 *h, const void *p, size_t n)
{
	EVP_DigestUpdate(h->ctx, p, n);
}

void mw_sha256_final(struct mw_sha256 *h, char hex[65])
{
	unsigned char d[32];
	unsigned int n = 0;
	EVP_DigestFinal_ex(h->ctx, d, &n);
	EVP_MD_CTX_free(h->ctx);
	free(h);
	mw_hex(d, 32, hex);
}

void mw_sha256_hex(const void *p, size_t n, char hex[65])
{
	unsigned char d[32];
	unsigned int len = 0;
	if (EVP_Digest(p, n, d, &len, sha256_md(), NULL) != 1 || len != 32) {
		fprintf(stderr, "mw: cannot compute SHA-256\n");
		abort();
	}
	mw_hex(d, 32, hex);
}

/* --------------------------------------------------------------- base64 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *mw_base64_encode(const void *p, size_t n)
{
	const unsigned char *s = p;
	char *out = mw_xmalloc(4 * ((n + 2) / 3) + 1), *o = out;
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		*o++ = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = 0;
	return out;
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+' || c == '-') return 62;
	if (c == '/' || c == '_') return 63;
	return -1;
}

int mw_base64_decode(const char *s, unsigned char **out, size_t *len)
{
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -1;
	unsigned char *o = mw_xmalloc(n * 3 / 4 + 3);
	size_t k = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)s[i]);
		if (v < 0) {
			free(o);
			return -1;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[k++] = (unsigned char)(acc >> bits);
		}
	}
	o[k] = 0;
	*out = o;
	*len = k;
	return 0;
}

/* -------------------------------------------------------------- strings */

bool mw_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	while (p < e) {
		unsigned c = *p;
		if (c < 0x80) {
			p++;
			continue;
		}
		int len;
		unsigned min;
		if ((c & 0xE0) == 0xC0) { len = 2; min = 0x80; c &= 0x1F; }
		else if ((c & 0xF0) == 0xE0) { len = 3; min = 0x800; c &= 0x0F; }
		else if ((c & 0xF8) == 0xF0) { len = 4; min = 0x10000; c &= 0x07; }
		else return false;
		if (e - p < len)
			return false;
		for (int i = 1; i < len; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return false;
			c = c << 6 | (p[i] & 0x3F);
		}
		if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
			return false;
		p += len;
	}
	return true;
}

size_t mw_utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

int mw_parse_int64(const char *s, int64_t *out)
{
	if (!s || !*s || isspace((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || end == s)
		return -1;
	*out = v;
	return 0;
}

int mw_parse_double(const char *s, double *out)
{
	if (!s || !*s)
		return -1;
	if (isspace((unsigned char)*s))
		return -1;
	if (!strcmp(s, "NaN") || !strcasecmp(s, "nan")) { *out = NAN; return 0; }
	if (!strcmp(s, "Infinity") || !strcasecmp(s, "inf")) { *out = INFINITY; return 0; }
	if (!strcmp(s, "-Infinity") || !strcasecmp(s, "-inf")) { *out = -INFINITY; return 0; }
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*end || end == s)
		return -1;
	if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL))
		return -1;
	*out = v;
	return 0;
}

bool mw_str_eq_nocase(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

const char *mw_uri_prefix(const char *uri, const char *prefix)
{
	if (!uri)
		return NULL;
	const char *colon = strchr(prefix, ':');
	size_t sl = colon ? (size_t)(colon - prefix) : 0, n = strlen(prefix);
	if (strncasecmp(uri, prefix, sl) || strncmp(uri + sl, prefix + sl, n - sl))
		return NULL;
	return uri + n;
}

/* ----------------------------------------------------------- histograms */

const double mw_latency_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
				     0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const int mw_latency_nbuckets = 16;

void mw_hist_init(struct mw_hist *h, const double *bounds, int nb)
{
	memset(h, 0, sizeof *h);
	if (nb > MW_HIST_MAX_BUCKETS)
		nb = MW_HIST_MAX_BUCKETS;
	h->nb = nb;
	memcpy(h->bounds, bounds, (size_t)nb * sizeof *bounds);
}

void mw_hist_observe(struct mw_hist *h, double v)
{
	int i = 0;
	while (i < h->nb && v > h->bounds[i])
		i++;
	__atomic_fetch_add(&h->counts[i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
	double old, nw;
	__atomic_load(&h->sum, &old, __ATOMIC_RELAXED);
	do {
		nw = old + v;
	} while (!__atomic_compare_exchange(&h->sum, &old, &nw, true, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED));
}

int mw_hist_render(const struct mw_hist *h, struct mw_buf *out, const char *name,
		   const char *labels)
{
	int bad = 0;
	unsigned long long cum = 0;
	const char *sep = labels && *labels ? "," : "";
	if (!labels)
		labels = "";
	for (int i = 0; i <= h->nb; i++) {
		cum += __atomic_load_n(&h->counts[i], __ATOMIC_RELAXED);
		if (i < h->nb)
			bad |= mw_buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
					     sep, h->bounds[i], cum);
		else
			bad |= mw_buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
					     sep, cum);
	}
	double sum;
	__atomic_load(&h->sum, &sum, __ATOMIC_RELAXED);
	if (*labels) {
		bad |= mw_buf_printf(out, "%s_sum{%s} %.9g\n", name, labels, sum);
		bad |= mw_buf_printf(out, "%s_count{%s} %llu\n", name, labels, cum);
	} else {
		bad |= mw_buf_printf(out, "%s_sum %.9g\n%s_count %llu\n", name, sum, name, cum);
	}
	return bad ? mw_buf_error(out) : 0;
}
