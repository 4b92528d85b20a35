/*
 * audit.h - reading the audit log: the query and the chain check as
 * messages, the same for GET /api/mw/audit, GET /api/mw/audit/verify and
 * the CLI's local mode (mw audit).  Writing happens in the store, with each
 * change (store/audit.h); this module only reads.
 *
 * Query message (every field optional; numbers may be strings, as in a query
 * string): since, until (ms since the epoch, or UTC as
 * "2025-01-31", "2025-01-31T12:00Z" or "2025-01-31T12:00:00.000Z"), user, action ("alias.set", or a
 * prefix "alias.*"), resource (a kind, an id or "kind/id"), max_results (1..1000, default 100),
 * page_token (from the previous answer).  Answer: {"entries": [...], "next_page_token"?}; an entry
 * is {seq, at, user, verified, request_id, action, kind, resource, before, after, hash} with before
 * and after as the JSON objects they hold (null when none).
 */
#ifndef MW_AUDIT_H
#define MW_AUDIT_H

#include "core/core.h"

struct mw_store;

#define MW_AUDIT_MAX_RESULTS 1000

int mw_audit_query(struct mw_store *s, const struct mw_call *call, json_t *req, json_t **resp,
		   struct mw_err *err);
/* Walk the whole chain: {"ok": bool, "rows": n, "first_bad_seq": n or null}.
 * With req's "expect": "SEQ:HASH" (an anchor saved from mw_audit_head) also
 * check that row SEQ still exists with that hash, which the chain alone
 * cannot tell when the newest rows were removed: "expect": {seq, hash, ok,
 * message (why not, when not ok)}, and "ok" is false unless both hold.  A
 * malformed anchor is MW_E_INVALID. */
int mw_audit_verify(struct mw_store *s, const struct mw_call *call, json_t *req, json_t **resp,
		    struct mw_err *err);

/* The anchor, the newest row: {"seq": n, "hash": "<64 hex>"} ({"seq": 0,
 * "hash": 64 zeros} for an empty log). */
int mw_audit_head(struct mw_store *s, const struct mw_call *call, json_t *req, json_t **resp,
		  struct mw_err *err);

#endif
