/*
 * page.c - paging of search results: offset pages behind opaque tokens, and
 * the max_results / page_token fields of request messages.
 *
 * A token is base64 of {"offset":N}; nothing else about it is promised to
 * clients.  Decoding never trusts it: it is length-capped before decoding,
 * must be a JSON object whose "offset" is a non-negative integer, and any
 * other shape is MW_E_INVALID ("Invalid page token").
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
	p->max_results = mr;
	p->offset = 0;
	const char *tok = NULL;
	if ((rc = mw_req_str(req, "page_token", false, 0, &tok, err)))
		return rc;
	if (tok && *tok)
		return mw_page_token_decode(tok, &p->offset, err);
	return 0;
}

void mw_page_set_next(json_t *resp, const struct mw_page *p, bool more)
{
	if (!more)
		return;
	char *tok = mw_page_token_encode(p->offset + p->max_results);
	json_object_set_new(resp, "next_page_token", json_string(tok));
	free(tok);
}
