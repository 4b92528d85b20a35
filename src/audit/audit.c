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

int mw_audit_verify(struct mw_store *s, const struct mw_call *call, json_t *req, json_t **resp,
		    struct mw_err *err)
{
	(void)call;
	(void)req;
	int64_t rows = 0, bad = 0;
	int rc = mw_store_audit_verify(s, &rows, &bad, err);
	if (rc)
		return rc;
	*resp = json_pack("{s:b, s:I}", "ok", bad == 0, "rows", (json_int_t)rows);
	json_object_set_new(*resp, "first_bad_seq", bad ? json_integer(bad) : json_null());
	return 0;
}
