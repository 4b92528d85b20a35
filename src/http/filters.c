/*
 * filters.c - the standard filters of the request pipeline: request id and
 * identity.
 *
 * They run in the first access-handler call, once the headers are in, before
 * any body is read (http.c).  Both only fill req->call; neither verifies
 * anything.  Strings they put there live in the request's arena or in the
 * connection's header memory, both valid until the request ends.
 *
 * Generated request ids are 32 hex digits: 16 random ones drawn once per
 * process, then a 64-bit counter, so ids are unique in a process, unlikely to
 * collide across processes, and cost no system call per request.
 */
#include "http/http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ request id */

static char id_prefix[17];
static pthread_once_t id_once = PTHREAD_ONCE_INIT;
static unsigned long long id_counter;

static void id_init(void)
{
	unsigned char r[8] = {0};
	if (mw_random(r, sizeof r, NULL)) { /* no CSPRNG: still unique per process */
		uint64_t t = mw_mono_ns() ^ (uint64_t)mw_now_ms() << 20;
		memcpy(r, &t, sizeof r);
	}
	mw_hex(r, sizeof r, id_prefix);
}

static bool sane_request_id(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		unsigned char ch = (unsigned char)s[n];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || strchr("._:/+=@~-", ch);
		if (!ok || n >= 128)
			return false;
	}
	return n > 0;
}

int mw_http_filter_request_id(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)resp;
	(void)ud;
	const char *id = mw_http_header(req, "X-Request-Id");
	if (id && sane_request_id(id)) {
		req->call.request_id = id;
		return 0;
	}
	pthread_once(&id_once, id_init);
	unsigned long long n = __atomic_add_fetch(&id_counter, 1, __ATOMIC_RELAXED);
	req->call.request_id = mw_arena_printf(req->arena, "%s%016llx", id_prefix, n);
	return 0;
}

/* ------------------------------------------------------------ identity */

static bool sane_user(const char *u)
{
	size_t n = strlen(u);
	if (n > 255 || !mw_utf8_valid(u, n))
		return false;
	for (const unsigned char *p = (const unsigned char *)u; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* The user name of "Basic base64(user:password)", or NULL. */
static const char *basic_user(struct mw_http_req *req, const char *auth)
{
	if (strncasecmp(auth, "Basic ", 6))
		return NULL;
	unsigned char *dec = NULL;
	size_t n = 0;
	if (mw_base64_decode(auth + 6, &dec, &n))
		return NULL;
	char *colon = memchr(dec, ':', n);
	const char *user = NULL;
	size_t len = colon ? (size_t)(colon - (char *)dec) : 0;
	if (len && mw_utf8_valid((char *)dec, len))
		user = mw_arena_strndup(req->arena, (char *)dec, len);
	free(dec);
	return user && sane_user(user) ? user : NULL;
}

int mw_http_filter_identity(struct mw_http_req *req, struct mw_http_resp *resp, void *ud)
{
	(void)ud;
	req->user_verified = false;
	const char *u = mw_http_header(req, "X-MW-User");
	if (u && *u) {
		if (!sane_user(u)) {
			mw_http_error(req, resp, 400, MW_E_INVALID,
				      "X-MW-User must be a user name: at most 255 bytes of UTF-8 "
				      "without control characters");
			return 1;
		}
		req->call.user = u;
		return 0;
	}
	const char *auth = mw_http_header(req, "Authorization");
	const char *bu = auth ? basic_user(req, auth) : NULL;
	if (bu)
		req->call.user = bu;
	return 0;
}
