/*
 * search.h - the search grammar of every listing: MLflow's filter language
 * parsed into a small tree, order_by entries, and offset paging behind
 * opaque page tokens.
 *
 * Place.  search sits above core and below store: the domain modules (track,
 * registry) parse the user's filter and order_by text here, and the store
 * backends consume the result (struct mw_filter, struct mw_order,
 * struct mw_page) and turn it into their query language.  A backend never
 * sees user text: identifiers come from a closed set per entity, comparators
 * from an enum, values are typed and bound as parameters.
 *
 * Ownership.  Parsed filters and orders live in the arena given to the
 * parser (every string and array); nothing in them needs freeing but the
 * arena.  Page tokens are malloc'd strings owned by the caller.
 */
#ifndef MW_SEARCH_H
#define MW_SEARCH_H

#include "core/core.h"

/* ------------------------------------------------------------ the tree */

enum mw_cmp {
	MW_CMP_EQ,
	MW_CMP_NE,
	MW_CMP_GT,
	MW_CMP_GE,
	MW_CMP_LT,
	MW_CMP_LE,
	MW_CMP_LIKE,
	MW_CMP_ILIKE,
	MW_CMP_IN,
	MW_CMP_NOT_IN
};

enum mw_key_kind {
	MW_KEY_ATTR,   /* an attribute of the entity: canonical name in key */
	MW_KEY_METRIC, /* metrics.<key> */
	MW_KEY_PARAM,  /* params.<key> */
	MW_KEY_TAG,    /* tags.<key> */
	MW_KEY_DATASET /* datasets.<name|digest|context> */
};

enum mw_search_entity {
	MW_SEARCH_RUNS,
	MW_SEARCH_EXPERIMENTS,
	MW_SEARCH_LOGGED_MODELS,
	MW_SEARCH_REGISTERED_MODELS,
	MW_SEARCH_MODEL_VERSIONS
};

struct mw_clause {
	enum mw_key_kind kind;
	const char *key; /* canonical attribute name, or the metric/param/tag key */
	enum mw_cmp cmp;
	bool is_num;       /* value is a number (metrics, numeric attributes) */
	double num;        /* the number, when is_num */
	int64_t inum;      /* the number as int64 when it is integral */
	const char *str;   /* the string, when !is_num and not a list */
	const char **list; /* IN / NOT IN values */
	size_t nlist;
};

/* Clauses joined by AND; n == 0 matches everything. */
struct mw_filter {
	struct mw_clause *c;
	size_t n;
};

struct mw_order {
	enum mw_key_kind kind;
	const char *key; /* canonical attribute name or metric/param/tag key */
	bool asc;
};

/* Which lifecycle stages a listing shows (MLflow's ViewType). */
enum mw_view { MW_VIEW_ACTIVE = 1, MW_VIEW_DELETED = 2, MW_VIEW_ALL = 3 };

/* A page request: offset-based, encoded for clients as an opaque token.
 *
 * A page is bounded in count (max_results) and, when take is set, in what
 * the caller makes of it: a backend offers each record to take (ud, the
 * record, row = its offset in the whole listing) as soon as it has read it,
 * before it reads the next row.  take returns 0 to keep the record,
 * MW_PAGE_FULL to end the page before it (the backend stops reading and
 * reports *more; the next page starts at that row), or a negative error,
 * which the backend returns.  So a listing never reads more than its answer
 * can hold (mw_page_json below is the take of every answer). */
struct mw_page {
	int64_t max_results;
	int64_t offset;
	int (*take)(void *ud, const void *rec, int64_t row, struct mw_err *err);
	void *ud;
};
#define MW_PAGE_FULL 1

/* ------------------------------------------------------------ parsing */

/* Parse an MLflow search filter for one entity kind into out (allocated from
 * the arena).  An empty or NULL string gives an empty filter.  Syntax errors,
 * OR, parentheses, unknown identifiers and comparators that do not fit the
 * identifier are MW_E_INVALID with a message saying what was wrong. */
int mw_filter_parse(enum mw_search_entity ent, const char *s, struct mw_arena *a,
		    struct mw_filter *out, struct mw_err *err);
/* Parse one order_by entry ("metrics.rmse DESC", "name", "`tags.a b` ASC"). */
int mw_order_parse(enum mw_search_entity ent, const char *s, struct mw_arena *a,
		   struct mw_order *out, struct mw_err *err);

/* ------------------------------------------------------------ paging */

/* Opaque page tokens: base64 of {"offset":N}.  Decoding a bad token is
 * MW_E_INVALID. */
char *mw_page_token_encode(int64_t offset); /* malloc'd */
int mw_page_token_decode(const char *tok, int64_t *offset, struct mw_err *err);
/* max_results (default def, 1..max, else MW_E_INVALID) and page_token of a
 * request message into a page. */
int mw_page_from_req(json_t *req, int64_t def, int64_t max, struct mw_page *p, struct mw_err *err);

/* ------------------------------------------------------------ answers in bytes */

/* An answer's page built record by record within a byte budget (the
 * max-response-bytes setting), as a struct mw_page's take: each record is
 * shaped into JSON and kept while the whole answer (its envelope, the
 * entities and a next_page_token) stays within max_bytes; the first record
 * that would pass it ends the page (its row is where the next page starts).
 * A first record that alone passes the budget is MW_E_TOO_LARGE, never
 * truncated; without paging (a listing whose protocol has no page token) a
 * page that would end early is MW_E_TOO_LARGE too.  max_bytes 0: no budget.
 * Usage: mw_page_json_init, p.take = mw_page_json_take, p.ud = &pj, the
 * listing, then mw_page_json_finish (which also frees what is left when the
 * listing failed: call it on every path). */
struct mw_page_json {
	json_t *(*shape)(const void *rec, void *ud); /* a record's JSON, a new reference */
	void *shape_ud;                              /* shape's ud (NULL unless set after init) */
	const char *what;                            /* what a record is ("run"), for messages */
	size_t max_bytes;
	bool paged;   /* false: no next page to offer (ending early is an error) */
	json_t *arr;  /* the records kept, shaped */
	size_t bytes; /* the answer so far: envelope, entities and separators */
	int64_t next; /* the row that did not fit, -1: none */
};
/* extra: bytes of the answer's other members (e.g. ,"root_uri":"...") */
void mw_page_json_init(struct mw_page_json *pj, json_t *(*shape)(const void *rec, void *ud),
		       const char *what, const char *field, size_t extra, size_t max_bytes,
		       bool paged);
int mw_page_json_take(void *ud, const void *rec, int64_t row, struct mw_err *err);
/* Put the records into out[field] (left out when there are none) and, when
 * more follow, next_page_token; rc is the listing's result, returned (out
 * untouched on error).  Releases the records either way. */
int mw_page_json_finish(struct mw_page_json *pj, int rc, json_t *out, const char *field,
			const struct mw_page *p, bool more);

#endif
