/*
 * err.c - the error type and the log.
 *
 * struct mw_err carries a kind (enum mw_errcode) and a human message; the API
 * layer maps the kind to a protocol error code and HTTP status.  The log
 * writes one line per event to stderr with a UTC timestamp; a single
 * fprintf per line keeps lines whole across threads.
 */
#include "core/core.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int mw_err_set(struct mw_err *err, int code, const char *fmt, ...)
{
	if (err) {
		err->code = code;
		err->detail = 0;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return -code;
}

void mw_err_clear(struct mw_err *err)
{
	if (err) {
		err->code = 0;
		err->detail = 0;
		err->msg[0] = 0;
	}
}

const char *mw_err_name(int code)
{
	switch (code) {
	case MW_OK: return "OK";
	case MW_E_INVALID: return "INVALID_PARAMETER_VALUE";
	case MW_E_BAD_REQUEST: return "BAD_REQUEST";
	case MW_E_EXISTS: return "RESOURCE_ALREADY_EXISTS";
	case MW_E_NOT_FOUND: return "RESOURCE_DOES_NOT_EXIST";
	case MW_E_NO_ENDPOINT: return "ENDPOINT_NOT_FOUND";
	case MW_E_CONFLICT: return "RESOURCE_CONFLICT";
	case MW_E_TOO_LARGE: return "RESOURCE_EXHAUSTED";
	case MW_E_LIMIT: return "REQUEST_LIMIT_EXCEEDED";
	case MW_E_IO: return "INTERNAL_ERROR";
	case MW_E_NOT_IMPLEMENTED: return "NOT_IMPLEMENTED";
	case MW_E_UNAVAILABLE: return "TEMPORARILY_UNAVAILABLE";
	case MW_E_UNAUTHENTICATED:
		return "UNAUTHENTICATED";
	case MW_E_DENIED:
		return "PERMISSION_DENIED";
	default: return "INTERNAL_ERROR";
	}
}

/* ------------------------------------------------------------------ log */

static enum mw_log_level log_level = MW_LOG_INFO;

void mw_log_set_level(enum mw_log_level lvl)
{
	log_level = lvl;
}

enum mw_log_level mw_log_get_level(void)
{
	return log_level;
}

int mw_log_parse_level(const char *s, enum mw_log_level *out)
{
	static const char *names[] = {"debug", "info", "warn", "error", "off"};
	for (int i = 0; i < 5; i++)
		if (!strcasecmp(s, names[i])) {
			*out = (enum mw_log_level)i;
			return 0;
		}
	if (!strcasecmp(s, "warning")) {
		*out = MW_LOG_WARN;
		return 0;
	}
	return -1;
}

size_t mw_log_escape(const char *s, char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	if (!n)
		return 0;
	while (*p) {
		char esc[5];
		size_t k = 0, take = 1;
		/* length of a well-formed UTF-8 sequence at p (0 when it is not one) */
		size_t u = 0;
		if (*p >= 0xc2 && *p <= 0xdf && (p[1] & 0xc0) == 0x80)
			u = 2;
		else if (*p >= 0xe0 && *p <= 0xef && (p[1] & 0xc0) == 0x80 &&
			 (p[2] & 0xc0) == 0x80 && !(*p == 0xe0 && p[1] < 0xa0) &&
			 !(*p == 0xed && p[1] >= 0xa0))
			u = 3;
		else if (*p >= 0xf0 && *p <= 0xf4 && (p[1] & 0xc0) == 0x80 &&
			 (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80 &&
			 !(*p == 0xf0 && p[1] < 0x90) && !(*p == 0xf4 && p[1] >= 0x90))
			u = 4;
		if (*p == '\\') {
			esc[k++] = '\\';
			esc[k++] = '\\';
		} else if (*p < 0x20 || *p == 0x7f || (*p >= 0x80 && !u) ||
			   (u == 2 && *p == 0xc2 && p[1] < 0xa0)) {
			/* control characters (C0, DEL, and C1 as UTF-8) and bytes that
			 * are not UTF-8: a log line stays one line and cannot drive a
			 * terminal */
			esc[k++] = '\\';
			esc[k++] = 'x';
			esc[k++] = hex[*p >> 4];
			esc[k++] = hex[*p & 15];
		} else {
			take = u ? u : 1;
		}
		if (k) {
			if (o + k >= n)
				break;
			memcpy(out + o, esc, k);
			o += k;
			p++;
		} else {
			if (o + take >= n)
				break;
			memcpy(out + o, p, take);
			o += take;
			p += take;
		}
	}
	out[o] = 0;
	return o;
}

/* Length of the well-formed UTF-8 sequence at p, or 0. */
static size_t utf8_len(const unsigned char *p)
{
	if (*p < 0x80)
		return 1;
	if (*p >= 0xc2 && *p <= 0xdf && (p[1] & 0xc0) == 0x80)
		return 2;
	if (*p >= 0xe0 && *p <= 0xef && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 &&
	    !(*p == 0xe0 && p[1] < 0xa0) && !(*p == 0xed && p[1] >= 0xa0))
		return 3;
	if (*p >= 0xf0 && *p <= 0xf4 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 &&
	    (p[3] & 0xc0) == 0x80 && !(*p == 0xf0 && p[1] < 0x90) && !(*p == 0xf4 && p[1] >= 0x90))
		return 4;
	return 0;
}

size_t mw_prom_label_escape(const char *s, char *out, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	if (!n)
		return 0;
	while (*p) {
		const char *piece;
		size_t k, take;
		size_t u = utf8_len(p);
		if (*p == '\\') {
			piece = "\\\\", k = 2, take = 1;
		} else if (*p == '"') {
			piece = "\\\"", k = 2, take = 1;
		} else if (*p == '\n') {
			piece = "\\n", k = 2, take = 1;
		} else if (!u) {
			piece = "\xef\xbf\xbd", k = 3, take = 1; /* U+FFFD */
		} else {
			piece = (const char *)p, k = u, take = u;
		}
		if (o + k >= n)
			break;
		memcpy(out + o, piece, k);
		o += k;
		p += take;
	}
	out[o] = 0;
	return o;
}

void mw_log(enum mw_log_level lvl, const char *fmt, ...)
{
	if (lvl < log_level)
		return;
	static const char *tag[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};
	char raw[2048], msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	mw_log_escape(raw, msg, sizeof msg);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s\n", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		tag[lvl], msg);
}

/* ---------------------------------------------------------------- calls */

const struct mw_call mw_call_system = {.user = "system",
				       .roles = NULL,
				       .request_id = "",
				       .verified = true};

bool mw_call_has_role(const struct mw_call *c, const char *role)
{
	if (!c || !c->roles)
		return false;
	for (const char *const *r = c->roles; *r; r++)
		if (!strcmp(*r, role))
			return true;
	return false;
}
