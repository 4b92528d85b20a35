/*
 * page.c - paging of search results: offset pages behind opaque tokens, and
 * the max_results / page_token fields of request messages.
 *
 * A token is base64 of {"offset":N}; nothing else about it is promised to
 * clients.  Decoding never trusts it: it is length-capped before decoding,
 * must be a JSON object whose "offset" is a non-negative integer, and any
 * other shape is MW_E_INVALID ("Invalid page token").
 *
 * Answers in bytes: mw_page_json keeps a listing's answer within the
 * max-response-bytes budget while the backend reads it (struct mw_page's
 * take).  Its sizes are exact: each entity is measured as the dump will
 * write it (mw_json_size), and the envelope reserves room for the longest
 * next_page_token, so the answer the client receives is at most the budget.
 */
#include "search/search.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_TOKEN_MAX 512 /* longer tokens are rejected unread */

char *mw_page_token_encode(int64_t offset)
{
	char buf[64];
	int n = snprintf(buf, sizeof buf, "{\"offset\":%" PRId64 "}", offset);

	return mw_base64_encode(buf, (size_t)n);
}

int mw_page_token_decode(const char *tok, int64_t *offset, struct mw_err *err)
{
	unsigned char *raw = NULL;
	size_t len = 0;
	json_t *j, *o;
	bool ok = false;

	*offset = 0;
	if (tok == NULL || *tok == '\0')
		return 0; /* no token: the first page */
	if (strlen(tok) > PAGE_TOKEN_MAX || mw_base64_decode(tok, &raw, &len) != 0)
		return mw_err_set(err, MW_E_INVALID, "Invalid page token");
	j = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	o = json_is_object(j) ? json_object_get(j, "offset") : NULL;
	if (o && json_is_integer(o) && json_integer_value(o) >= 0) {
		*offset = (int64_t)json_integer_value(o);
		ok = true;
	}
	json_decref(j);
	return ok ? 0 : mw_err_set(err, MW_E_INVALID, "Invalid page token");
}

/* ------------------------------------------------------------ paging of requests */

int mw_page_from_req(json_t *req, int64_t def, int64_t max, struct mw_page *p, struct mw_err *err)
{
	bool present = false;
	int64_t mr = def;
	int rc = mw_req_int64(req, "max_results", false, &mr, &present, err);
	if (rc)
		return rc;
	if (present && (mr < 1 || mr > max))
		return mw_err_set(err, MW_E_INVALID,
				  "Invalid value %lld for parameter 'max_results' supplied. It must be "
				  "between 1 and %lld.",
				  (long long)mr, (long long)max);
	memset(p, 0, sizeof *p);
	p->max_results = mr;
	const char *tok = NULL;
	if ((rc = mw_req_str(req, "page_token", false, 0, &tok, err)))
		return rc;
	if (tok && *tok)
		return mw_page_token_decode(tok, &p->offset, err);
	return 0;
}

/* ------------------------------------------------------------ answers in bytes */

/* ,"next_page_token":"<base64 of {"offset":N}>": at most 20 + 40 bytes. */
#define TOKEN_RESERVE 64

void mw_page_json_init(struct mw_page_json *pj, json_t *(*shape)(const void *rec, void *ud),
		       const char *what, const char *field, size_t extra, size_t max_bytes,
		       bool paged)
{
	memset(pj, 0, sizeof *pj);
	pj->shape = shape;
	pj->what = what;
	pj->max_bytes = max_bytes;
	pj->paged = paged;
	pj->arr = json_array();
	/* {"field":[...]} plus the other members and a token */
	pj->bytes = 2 + strlen(field) + 5 + extra + (paged ? TOKEN_RESERVE : 0);
	pj->next = -1;
}

int mw_page_json_take(void *ud, const void *rec, int64_t row, struct mw_err *err)
{
	struct mw_page_json *pj = ud;
	json_t *j = pj->shape(rec, pj->shape_ud);
	if (!pj->max_bytes) {
		json_array_append_new(pj->arr, j);
		return 0;
	}
	size_t n = json_array_size(pj->arr);
	size_t size = mw_json_size(j) + (n ? 1 : 0);
	if (pj->bytes + size <= pj->max_bytes) {
		json_array_append_new(pj->arr, j);
		pj->bytes += size;
		return 0;
	}
	json_decref(j);
	if (!n)
		return mw_err_set(err, MW_E_TOO_LARGE,
				  "One %s is %zu bytes in JSON, more than the answer limit of %zu bytes "
				  "(--max-response-bytes): it cannot be sent",
				  pj->what, size, pj->max_bytes);
	if (!pj->paged)
		return mw_err_set(err, MW_E_TOO_LARGE,
				  "The answer would be larger than the limit of %zu bytes "
				  "(--max-response-bytes) after %zu entries, and this listing has no "
				  "page token to continue from",
				  pj->max_bytes, n);
	pj->next = row;
	return MW_PAGE_FULL;
}

int mw_page_json_finish(struct mw_page_json *pj, int rc, json_t *out, const char *field,
			const struct mw_page *p, bool more)
{
	if (!rc) {
		if (json_array_size(pj->arr))
			json_object_set(out, field, pj->arr);
		if (more) {
			char *tok = mw_page_token_encode(
				pj->next >= 0 ? pj->next : p->offset + p->max_results);
			json_object_set_new(out, "next_page_token", json_string(tok));
			free(tok);
		}
	}
	json_decref(pj->arr);
	pj->arr = NULL;
	return rc;
}
