/*
 * audit.c - the audit log's read side as messages (audit.h).
 *
 * Paging: the token is the seq of the last entry of the page (entries are in
 * seq order, and seq only grows), so a page never skips or repeats an entry,
 * whatever is appended meanwhile.
 */
#include "audit/audit.h"

#include "store/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_RESULTS 100
#define MAX_FILTER 1024

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.mmm]]Z" (UTC only) into ms. */
static int parse_time(const char *s, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, n = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return -1;
	const char *p = s + n;
	if (*p == 'T' || *p == ' ') {
		int k = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &k) != 2 || k != 5)
			return -1;
		p += 1 + k;
		if (*p == ':') {
			if (sscanf(p + 1, "%2d%n", &sec, &k) != 1 || k != 2)
				return -1;
			p += 1 + k;
			if (*p == '.') {
				if (sscanf(p + 1, "%3d%n", &ms, &k) != 1 || k != 3)
					return -1;
				p += 1 + k;
			}
		}
		if (*p != 'Z' || p[1])
			return -1;
	} else if (*p) {
		return -1;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	*out = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + ms;
	return 0;
}

/* A time bound: an integer (or integer string) of ms, or ISO 8601 UTC. */
static int get_time(json_t *req, const char *field, int64_t *out, struct mw_err *err)
{
	*out = 0;
	json_t *v = json_object_get(req, field);
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (mw_parse_int64(s, out) && parse_time(s, out))
			return mw_err_set(err, MW_E_INVALID,
					  "Invalid value for '%s': expected ms since the epoch or "
					  "an ISO 8601 UTC time such as 2025-01-31T12:00:00Z",
					  field);
	} else {
		return mw_err_set(err, MW_E_INVALID,
				  "Invalid value for '%s': expected a number of ms or a time",
				  field);
	}
	if (*out < 0)
		return mw_err_set(err, MW_E_INVALID, "Invalid value for '%s': it is negative",
				  field);
	return 0;
}

static int get_int(json_t *req, const char *field, int64_t def, int64_t *out, struct mw_err *err)
{
	*out = def;
	json_t *v = json_object_get(req, field);
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v))
		*out = json_integer_value(v);
	else if (!json_is_string(v) || mw_parse_int64(json_string_value(v), out))
		return mw_err_set(err, MW_E_INVALID, "Invalid value for '%s': expected an integer",
				  field);
	return 0;
}

static json_t *json_or_null(const char *text)
{
	if (!text)
		return json_null();
	json_error_t je;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
	return v ? v : json_string(text);
}

static json_t *entry_json(const struct mw_audit_entry *e)
{
	json_t *o =
		json_pack("{s:I, s:I, s:s, s:b, s:s, s:s, s:s, s:s}", "seq", (json_int_t)e->seq,
			  "at", (json_int_t)e->at_ms, "user", e->user ? e->user : "", "verified",
			  e->verified, "request_id", e->request_id ? e->request_id : "", "action",
			  e->action ? e->action : "", "kind", e->kind ? e->kind : "", "resource",
			  e->resource ? e->resource : "");
	json_object_set_new(o, "before", json_or_null(e->before));
	json_object_set_new(o, "after", json_or_null(e->after));
	json_object_set_new(o, "hash", json_string(e->hash ? e->hash : ""));
	return o;
}

int mw_audit_query(struct mw_store *s, const struct mw_call *call, json_t *req, json_t **resp,
		   struct mw_err *err)
{
	(void)call;
	struct mw_audit_query q = {0};
	int64_t max = DEFAULT_RESULTS;
	int rc = get_time(req, "since", &q.since_ms, err);
	if (!rc)
		rc = get_time(req, "until", &q.until_ms, err);
	if (!rc)
		rc = mw_req_str(req, "user", false, MAX_FILTER, &q.user, err);
	if (!rc)
		rc = mw_req_str(req, "action", false, MAX_FILTER, &q.action, err);
	if (!rc)
		rc = mw_req_str(req, "resource", false, MAX_FILTER, &q.resource, err);
	if (!rc)
		rc = get_int(req, "max_results", DEFAULT_RESULTS, &max, err);
	if (!rc)
		rc = get_int(req, "page_token", 0, &q.after_seq, err);
	if (rc)
		return rc;
	if (max < 1 || max > MW_AUDIT_MAX_RESULTS)
		return mw_err_set(err, MW_E_INVALID,
				  "Invalid value for 'max_results': it must be 1 to %d",
				  MW_AUDIT_MAX_RESULTS);
	if (q.after_seq < 0)
		return mw_err_set(err, MW_E_INVALID, "Invalid page_token");
	struct mw_arena *a = mw_arena_new(16384);
	struct mw_audit_entry *e = NULL;
	size_t n = 0;
	bool more = false;
	rc = mw_store_audit_list(s, &q, (size_t)max, a, &e, &n, &more, err);
	if (!rc) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, entry_json(&e[i]));
		*resp = json_pack("{s:o}", "entries", arr);
		if (more && n)
			json_object_set_new(*resp, "next_page_token",
					    json_string(mw_arena_printf(a, "%lld",
									(long long)e[n - 1].seq)));
	}
	mw_arena_free(a);
	return rc;
}

/* "SEQ:HASH" (SEQ >= 0, HASH 64 hex digits, any case) into seq, hash
 * (lower case). */
static int parse_anchor(const char *s, int64_t *seq, char hash[65], struct mw_err *err)
{
	const char *colon = s ? strchr(s, ':') : NULL;
	char num[24];
	size_t n = colon ? (size_t)(colon - s) : 0;
	bool ok = colon && n && n < sizeof num && strlen(colon + 1) == 64;
	if (ok) {
		memcpy(num, s, n);
		num[n] = 0;
		ok = !mw_parse_int64(num, seq) && *seq >= 0;
	}
	for (size_t i = 0; ok && i < 64; i++) {
		char c = colon[1 + i];
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
		hash[i] = c;
	}
	if (!ok)
		return mw_err_set(err, MW_E_INVALID,
				  "Invalid value for 'expect': it is SEQ:HASH as 'mw audit head' "
				  "prints it (a row number, ':', 64 hex digits)");
	hash[64] = 0;
	return 0;
}

static const char ZERO_HASH[] = "0000000000000000000000000000000000000000000000000000000000000000";

/* Whether row seq still holds hash: *msg (static or in a) says why not. */
static int check_anchor(struct mw_store *s, int64_t seq, const char *hash, struct mw_arena *a,
			const char **msg, struct mw_err *err)
{
	*msg = NULL;
	if (seq == 0) { /* the empty log's anchor: nothing to lose */
		if (strcmp(hash, ZERO_HASH))
			*msg = "row 0 is the empty log: its hash is 64 zeros";
		return 0;
	}
	struct mw_audit_query q = {.after_seq = seq - 1};
	struct mw_audit_entry *e = NULL;
	size_t n = 0;
	bool more = false;
	int rc = mw_store_audit_list(s, &q, 1, a, &e, &n, &more, err);
	if (rc)
		return rc;
	if (!n || e[0].seq != seq) {
		int64_t last = 0;
		char h[65];
		if ((rc = mw_store_audit_head(s, &last, h, err)))
			return rc;
		*msg = last < seq
			       ? mw_arena_printf(a,
						 "row %lld is missing: the log ends at seq %lld, "
						 "so rows were removed after the anchor was taken",
						 (long long)seq, (long long)last)
			       : mw_arena_printf(a, "row %lld is missing", (long long)seq);
	} else if (!e[0].hash || strcmp(e[0].hash, hash)) {
		*msg = mw_arena_printf(a,
				       "row %lld has hash %.16s..., the anchor says %.16s...: the "
				       "log was rewritten from that row on",
				       (long long)seq, e[0].hash ? e[0].hash : "(none)", hash);
	}
	return 0;
}

int mw_audit_head(struct mw_store *s, const struct mw_call *call, json_t *req, json_t **resp,
		  struct mw_err *err)
{
	(void)call;
	(void)req;
	int64_t seq = 0;
	char hash[65];
	int rc = mw_store_audit_head(s, &seq, hash, err);
	if (!rc)
		*resp = json_pack("{s:I, s:s}", "seq", (json_int_t)seq, "hash", hash);
	return rc;
}

int mw_audit_verify(struct mw_store *s, const struct mw_call *call, json_t *req, json_t **resp,
		    struct mw_err *err)
{
	(void)call;
	int64_t rows = 0, bad = 0, seq = 0;
	char hash[65];
	json_t *x = req ? json_object_get(req, "expect") : NULL;
	bool anchored = x && !json_is_null(x) && !(json_is_string(x) && !*json_string_value(x));
	if (anchored && !json_is_string(x))
		return mw_err_set(err, MW_E_INVALID,
				  "Invalid value for 'expect': a string SEQ:HASH");
	if (anchored && parse_anchor(json_string_value(x), &seq, hash, err))
		return -MW_E_INVALID;
	int rc = mw_store_audit_verify(s, &rows, &bad, err);
	if (rc)
		return rc;
	struct mw_arena *a = mw_arena_new(1024);
	const char *why = NULL;
	if (anchored && (rc = check_anchor(s, seq, hash, a, &why, err))) {
		mw_arena_free(a);
		return rc;
	}
	*resp = json_pack("{s:b, s:I}", "ok", bad == 0 && !why, "rows", (json_int_t)rows);
	json_object_set_new(*resp, "first_bad_seq", bad ? json_integer(bad) : json_null());
	if (anchored)
		json_object_set_new(*resp, "expect",
				    json_pack("{s:I, s:s, s:b, s:s*}", "seq", (json_int_t)seq,
					      "hash", hash, "ok", !why, "message", why));
	mw_arena_free(a);
	return 0;
}
