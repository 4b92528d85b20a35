/*
 * audit.h - the store's audit domain: an append-only, hash-chained record of
 * every state change, written in the same transaction as the change.
 *
 * The seam.  A domain operation describes its change in a struct
 * mw_audit_rec (who from its struct mw_call, what, which resource, the
 * changed fields before and after) and binds it to the store for that call
 * (mw_store_audit_bind): every write made through the bound handle commits
 * one audit row beside the change, inside the change's own savepoint in the
 * group commit (writer.c).  So a change and its record are both committed
 * or neither is: a write that fails leaves no row, and a row whose insert
 * fails fails the write.  The bound handle lives on the caller's stack
 * (struct mw_store_bound) and is valid while the store and rec are; it is
 * used like the store itself and never closed.  A change with no store
 * write of its own (gc removing blobs) is recorded by mw_store_audit_append.
 *
 * The table (SQLite: audit_log, migration 7) is append-only twice over: the
 * database refuses UPDATE and DELETE on it (triggers that RAISE(ABORT)), and
 * each row carries hash = SHA-256 of the previous row's hash and its own
 * content (mw_store_audit_hash), so an edit made around the triggers
 * breaks the chain at that row, which mw_store_audit_verify finds.
 *
 * Strings in a rec are borrowed for the call; before and after are JSON
 * object text (small: the changed fields) or NULL.  Entries read back are
 * in the caller's arena.
 */
#ifndef MW_STORE_AUDIT_H
#define MW_STORE_AUDIT_H

#include "store/store.h"

struct mw_audit_rec {
	const char *user;       /* NULL or "": "anonymous" */
	bool verified;          /* struct mw_call's verified */
	const char *request_id; /* NULL or "": none */
	const char *action;     /* "experiment.create", "alias.set", ... */
	const char *kind;       /* "experiment", "run", "model", ... */
	const char *resource;   /* the resource's id or name; NULL: the one the
				   write created (a backend notes it) */
	const char *before;     /* JSON object text, or NULL */
	const char *after;      /* JSON object text, or NULL */
	int64_t at_ms;          /* 0: the time of the write */
	char *owned[2];         /* before and after when set below */
};

/* Fill rec from a call (user, verified, request id) and what it does;
 * before, after and at_ms are cleared. */
void mw_audit_rec_init(struct mw_audit_rec *rec, const struct mw_call *call, const char *action,
		       const char *kind, const char *resource);

/* Set rec->before or rec->after to the compact JSON of a json_pack format
 * (jansson's: "{s:s, s:I}"); the text is the rec's until
 * mw_audit_rec_release.  A format that does not pack leaves it NULL. */
void mw_audit_rec_before(struct mw_audit_rec *rec, const char *fmt, ...);
void mw_audit_rec_after(struct mw_audit_rec *rec, const char *fmt, ...);
void mw_audit_rec_release(struct mw_audit_rec *rec);

/* Storage for a bound handle; its contents are the store's. */
struct mw_store_bound {
	void *opaque[8];
};

/* A handle on s whose writes each record rec (see above).  rec NULL: s. */
struct mw_store *mw_store_audit_bind(struct mw_store *s, const struct mw_audit_rec *rec,
				     struct mw_store_bound *buf);
/* The record bound to s (NULL for a plain store handle). */
const struct mw_audit_rec *mw_store_audit_of(struct mw_store *s);

/* Record rec alone, in a transaction of its own (a change outside the store). */
int mw_store_audit_append(struct mw_store *s, const struct mw_audit_rec *rec, struct mw_err *err);

/* One audit row. */
struct mw_audit_entry {
	int64_t seq; /* 1, 2, ... in commit order */
	int64_t at_ms;
	const char *user;
	bool verified;
	const char *request_id; /* "" when none */
	const char *action, *kind, *resource;
	const char *before, *after; /* NULL when none */
	const char *prev_hash;      /* 64 hex digits; 64 zeros for the first row */
	const char *hash;
};

/* Filters (each optional: 0 / NULL is no filter).  user, action and
 * resource match exactly, except that an action or kind ending in '.' or
 * '*' matches that prefix ("alias.*"); resource matches "kind/id" or id. */
struct mw_audit_query {
	int64_t since_ms, until_ms; /* at_ms >= since, at_ms < until */
	int64_t after_seq;          /* seq > after_seq (paging) */
	const char *user;
	const char *action;
	const char *resource;
};

/* Up to max entries matching q in seq order; *more when there are others
 * after them. */
int mw_store_audit_list(struct mw_store *s, const struct mw_audit_query *q, size_t max,
			struct mw_arena *a, struct mw_audit_entry **out, size_t *n, bool *more,
			struct mw_err *err);

/* Walk the whole chain: *rows gets the rows checked, *bad_seq the first row
 * whose prev_hash or hash does not match (0: the chain is intact). */
int mw_store_audit_verify(struct mw_store *s, int64_t *rows, int64_t *bad_seq, struct mw_err *err);

/* The newest row: *seq (0 when the log is empty) and its hash (64 zeros
 * when empty), the anchor an operator keeps elsewhere. */
int mw_store_audit_head(struct mw_store *s, int64_t *seq, char hash[65], struct mw_err *err);

/* The chain hash of an entry: SHA-256 hex over prev_hash and the entry's
 * fields, each length-prefixed (so no two contents hash alike by moving a
 * separator).  e->hash is not read. */
void mw_store_audit_hash(const struct mw_audit_entry *e, char hex[65]);

#endif
