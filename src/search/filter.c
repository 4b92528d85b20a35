/*
 * filter.c - the MLflow search grammar: search filters and order_by entries
 * (page tokens are in page.c).
 *
 * Purpose.  Every search endpoint (runs, experiments, logged models,
 * registered models, model versions) takes a filter string in MLflow's
 * SearchUtils dialect and zero or more order_by strings.  This file turns
 * them into struct mw_filter / struct mw_order (search/search.h) so that the
 * store backends never see user text: they only see validated identifiers
 * from a closed set, comparators from an enum and typed values they bind as
 * SQL parameters.  A value such as '; DROP TABLE runs; --' is just a string.
 *
 * Grammar (hand-written tokenizer + recursive descent, no regex):
 *
 *   filter     := ws* [ clause ( ws+ AND ws+ clause )* ] ws*
 *   clause     := identifier ws* comparator ws* value
 *   identifier := prefix "." key | quoted-ident | attribute
 *   prefix     := metrics | metric | params | param | parameters | parameter
 *               | tags | tag | attributes | attribute | attr | run (runs only)
 *               | datasets | dataset
 *   key        := bare-key | "..." | `...`
 *   bare-key   := ( ASCII letter | digit | _ . - / : | any byte >= 0x80 )+
 *   comparator := = | != | > | >= | < | <= | LIKE | ILIKE | IN | NOT IN
 *   value      := 'string' | "string" | number | ( string ( , string )* )
 *   number     := [+-] ( digits [ . digits* ] | . digits ) [ (e|E) [+-] digits ]
 *   order_by   := ws* identifier [ ws+ ( ASC | DESC ) ] ws*
 *
 * Decisions (MLflow-compatible where MLflow is defined, strict elsewhere):
 *  - Keywords (AND, LIKE, ILIKE, IN, NOT IN, ASC, DESC) and prefixes
 *    (metrics., tags., ...) are case-insensitive.  Attribute names are
 *    case-sensitive (MLflow's are lower case), except the aliases
 *    "created" -> start_time and "run name" -> run_name, which match in any case.
 *  - A whole identifier may be quoted with double quotes or backticks
 *    ("run name", `metrics.my key`): when the quoted text starts with a known
 *    prefix and a dot it is prefix.key, otherwise it is an attribute name.
 *    After a prefix the key may be bare, "double-quoted" or `backticked`.
 *    Single quotes never quote identifiers: they make string values.
 *  - Escapes: inside any quoted token (identifier or value) the quote
 *    character is written twice, SQL style: 'it''s' is it's, "a""b" is a"b.
 *    Backslash has no special meaning and is kept as is.
 *  - OR, NOT (other than NOT IN) and parentheses other than an IN list are
 *    rejected.  Unknown identifiers, comparators that do not fit the
 *    identifier, a string where a number is expected (and vice versa),
 *    unterminated quotes and trailing text are MW_E_INVALID with a message
 *    naming the offending text (printable ASCII only, truncated).
 *  - Numbers: num always holds the value; inum holds it as int64 when the
 *    value is integral and fits (parsed exactly from the text for plain
 *    integers, so timestamps above 2^53 are not rounded); otherwise inum is 0.
 *    Consumers test (double)inum == num before using inum.  Overflow to
 *    infinity is rejected; NaN/Infinity words are not numbers here.
 *  - IN lists: non-empty, quoted strings only, at most MAX_LIST values.  At
 *    most MAX_CLAUSES clauses per filter.  The caller caps the filter length.
 *
 * Invariants: on success every pointer in the result points into the arena
 * or to static storage (canonical attribute names); nothing needs freeing
 * except the arena.  On failure *out is left empty (c=NULL, n=0) and err
 * holds the message.  The input is never modified and never read past its
 * terminating NUL.
 */
#include "search/search.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLAUSES 200
#define MAX_LIST 1000
#define SNIP_MAX 40 /* bytes of user text quoted in messages */

/* ------------------------------------------------------------ tables */

enum {
	A_NUM = 1 << 0,    /* numeric attribute */
	A_IN = 1 << 1,     /* IN allowed */
	A_NOTIN = 1 << 2,  /* NOT IN allowed */
	A_FILTER = 1 << 3, /* usable in filters */
	A_ORDER = 1 << 4,  /* usable in order_by */
	A_ALIAS = 1 << 5,  /* alternate spelling: case-insensitive, not listed */
};

struct attr_def {
	const char *name;
	const char *canon;
	unsigned flags;
};

#define KB(k) (1u << (k))

struct entity_def {
	const char *label; /* "runs", for messages */
	const struct attr_def *attrs;
	size_t nattrs;
	unsigned filter_kinds; /* KB(enum mw_key_kind) */
	unsigned order_kinds;
	bool run_prefix; /* "run." is an attribute prefix */
};

#define FO (A_FILTER | A_ORDER)

static const struct attr_def run_attrs[] = {
	{"run_id", "run_id", FO | A_IN | A_NOTIN},
	{"run_name", "run_name", FO},
	{"status", "status", FO},
	{"artifact_uri", "artifact_uri", FO},
	{"user_id", "user_id", FO},
	{"lifecycle_stage", "lifecycle_stage", FO},
	{"start_time", "start_time", FO | A_NUM},
	{"end_time", "end_time", FO | A_NUM},
	{"created", "start_time", FO | A_NUM | A_ALIAS},
	{"run name", "run_name", FO | A_ALIAS},
};

static const struct attr_def exp_attrs[] = {
	{"name", "name", FO},
	{"creation_time", "creation_time", FO | A_NUM},
	{"last_update_time", "last_update_time", FO | A_NUM},
	{"experiment_id", "experiment_id", A_ORDER},
};

static const struct attr_def lm_attrs[] = {
	{"name", "name", FO},
	{"model_id", "model_id", FO},
	{"model_type", "model_type", A_FILTER},
	{"status", "status", A_FILTER},
	{"source_run_id", "source_run_id", A_FILTER},
	{"creation_timestamp", "creation_timestamp", FO | A_NUM},
	{"last_updated_timestamp", "last_updated_timestamp", FO | A_NUM},
	{"creation_time", "creation_timestamp", FO | A_NUM | A_ALIAS},
};

static const struct attr_def rm_attrs[] = {
	{"name", "name", FO},
	{"creation_timestamp", "creation_timestamp", A_ORDER | A_NUM},
	{"last_updated_timestamp", "last_updated_timestamp", A_ORDER | A_NUM},
	{"timestamp", "creation_timestamp", A_ORDER | A_NUM | A_ALIAS},
};

static const struct attr_def mv_attrs[] = {
	{"name", "name", FO},
	{"run_id", "run_id", A_FILTER | A_IN},
	{"source_path", "source_path", A_FILTER},
	{"version_number", "version_number", FO | A_NUM},
	{"creation_timestamp", "creation_timestamp", A_ORDER | A_NUM},
	{"last_updated_timestamp", "last_updated_timestamp", A_ORDER | A_NUM},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct entity_def entities[] = {
	[MW_SEARCH_RUNS] = {"runs", run_attrs, N(run_attrs),
			    KB(MW_KEY_ATTR) | KB(MW_KEY_METRIC) | KB(MW_KEY_PARAM) |
				    KB(MW_KEY_TAG) | KB(MW_KEY_DATASET),
			    KB(MW_KEY_ATTR) | KB(MW_KEY_METRIC) | KB(MW_KEY_PARAM) | KB(MW_KEY_TAG),
			    true},
	[MW_SEARCH_EXPERIMENTS] = {"experiments", exp_attrs, N(exp_attrs),
				   KB(MW_KEY_ATTR) | KB(MW_KEY_TAG), KB(MW_KEY_ATTR), false},
	[MW_SEARCH_LOGGED_MODELS] = {"logged models", lm_attrs, N(lm_attrs),
				     KB(MW_KEY_ATTR) | KB(MW_KEY_METRIC) | KB(MW_KEY_PARAM) |
					     KB(MW_KEY_TAG),
				     KB(MW_KEY_ATTR) | KB(MW_KEY_METRIC), false},
	[MW_SEARCH_REGISTERED_MODELS] = {"registered models", rm_attrs, N(rm_attrs),
					 KB(MW_KEY_ATTR) | KB(MW_KEY_TAG), KB(MW_KEY_ATTR), false},
	[MW_SEARCH_MODEL_VERSIONS] = {"model versions", mv_attrs, N(mv_attrs),
				      KB(MW_KEY_ATTR) | KB(MW_KEY_TAG), KB(MW_KEY_ATTR), false},
};

static const struct {
	const char *word;
	enum mw_key_kind kind;
} prefixes[] = {
	{"metrics", MW_KEY_METRIC},   {"metric", MW_KEY_METRIC},    {"params", MW_KEY_PARAM},
	{"param", MW_KEY_PARAM},      {"parameters", MW_KEY_PARAM}, {"parameter", MW_KEY_PARAM},
	{"tags", MW_KEY_TAG},         {"tag", MW_KEY_TAG},          {"attributes", MW_KEY_ATTR},
	{"attribute", MW_KEY_ATTR},   {"attr", MW_KEY_ATTR},        {"run", MW_KEY_ATTR},
	{"datasets", MW_KEY_DATASET}, {"dataset", MW_KEY_DATASET},
};

static const char *const kind_label[] = {
	[MW_KEY_ATTR] = "attributes", [MW_KEY_METRIC] = "metrics",   [MW_KEY_PARAM] = "params",
	[MW_KEY_TAG] = "tags",        [MW_KEY_DATASET] = "datasets",
};

static const char *const dataset_keys[] = {"name", "digest", "context"};

/* Comparator sets, as bitmasks over enum mw_cmp. */
#define CB(c) (1u << (c))
#define CMP_NUMERIC                                                                      \
	(CB(MW_CMP_EQ) | CB(MW_CMP_NE) | CB(MW_CMP_GT) | CB(MW_CMP_GE) | CB(MW_CMP_LT) | \
	 CB(MW_CMP_LE))
#define CMP_STRING (CB(MW_CMP_EQ) | CB(MW_CMP_NE) | CB(MW_CMP_LIKE) | CB(MW_CMP_ILIKE))
#define CMP_LIST (CB(MW_CMP_IN) | CB(MW_CMP_NOT_IN))

static const char *const cmp_text[] = {
	[MW_CMP_EQ] = "=",          [MW_CMP_NE] = "!=",       [MW_CMP_GT] = ">",
	[MW_CMP_GE] = ">=",         [MW_CMP_LT] = "<",        [MW_CMP_LE] = "<=",
	[MW_CMP_LIKE] = "LIKE",     [MW_CMP_ILIKE] = "ILIKE", [MW_CMP_IN] = "IN",
	[MW_CMP_NOT_IN] = "NOT IN",
};

/* ------------------------------------------------------------ characters */

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Characters of a bare identifier or key. */
static bool is_ident(char c)
{
	return is_alpha(c) || is_digit(c) || c == '_' || c == '.' || c == '-' || c == '/' ||
	       c == ':' || (unsigned char)c >= 0x80;
}

static bool is_cmp_char(char c)
{
	return c == '=' || c == '!' || c == '<' || c == '>';
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* p[0..n) equals the NUL-terminated word, ignoring ASCII case. */
static bool eq_nocase(const char *p, size_t n, const char *word)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (word[i] == '\0' || lower(p[i]) != lower(word[i]))
			return false;
	return word[n] == '\0';
}

static bool eq_exact(const char *p, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(p, word, n) == 0;
}

/* Copy up to SNIP_MAX bytes of user text into out as printable ASCII (other
 * bytes become '?'), adding "..." when truncated.  Messages end up in JSON
 * bodies, so they must never carry invalid UTF-8 or control characters. */
static const char *snip(const char *p, size_t n, char out[SNIP_MAX + 4])
{
	size_t i, m = n > SNIP_MAX ? SNIP_MAX : n;

	for (i = 0; i < m; i++) {
		unsigned char c = (unsigned char)p[i];
		out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (m < n) {
		memcpy(out + m, "...", 4);
	} else {
		out[m] = '\0';
	}
	return out;
}

/* ------------------------------------------------------------ lexer state */

struct lex {
	const char *s; /* the whole input, NUL-terminated */
	size_t pos;
	const struct entity_def *ed;
	struct mw_arena *a;
	struct mw_err *err;
	bool order; /* parsing an order_by entry */
};

static char cur(const struct lex *lx)
{
	return lx->s[lx->pos];
}

static void skip_ws(struct lex *lx)
{
	while (is_ws(cur(lx)))
		lx->pos++;
}

/* Length of the run of characters at p that satisfy pred. */
static size_t run_len(const char *p, bool (*pred)(char))
{
	size_t n = 0;

	while (p[n] != '\0' && pred(p[n]))
		n++;
	return n;
}

/* Length of the text at p up to the next whitespace (for messages). */
static size_t word_len(const char *p)
{
	size_t n = 0;

	while (p[n] != '\0' && !is_ws(p[n]))
		n++;
	return n;
}

static int fail_at(struct lex *lx, const char *what)
{
	char b[SNIP_MAX + 4];
	const char *p = lx->s + lx->pos;

	if (*p == '\0')
		return mw_err_set(lx->err, MW_E_INVALID,
				  "Invalid search expression: %s at end of input", what);
	return mw_err_set(lx->err, MW_E_INVALID, "Invalid search expression: %s at '%s'", what,
			  snip(p, word_len(p) ? word_len(p) : 1, b));
}

/* Read a token quoted with the character at the current position.  A doubled
 * quote stands for one quote character.  The unescaped text goes to the arena. */
static int read_quoted(struct lex *lx, const char *what, char **out, size_t *outlen)
{
	char q = cur(lx);
	size_t start = lx->pos, i = lx->pos + 1, n = 0;
	char *buf;

	for (;;) {
		char c = lx->s[i];
		if (c == '\0') {
			char b[SNIP_MAX + 4];
			return mw_err_set(lx->err, MW_E_INVALID,
					  "Invalid search expression: unterminated quoted %s starting "
					  "at position %zu: %s",
					  what, start, snip(lx->s + start, i - start, b));
		}
		if (c == q) {
			if (lx->s[i + 1] != q)
				break;
			i++;
		}
		i++;
		n++;
	}
	buf = mw_arena_alloc(lx->a, n + 1);
	n = 0;
	for (i = start + 1;; i++) {
		char c = lx->s[i];
		if (c == q) {
			if (lx->s[i + 1] != q)
				break;
			i++;
		}
		buf[n++] = c;
	}
	buf[n] = '\0';
	lx->pos = i + 1;
	*out = buf;
	*outlen = n;
	return 0;
}

/* ------------------------------------------------------------ identifiers */

struct ident {
	enum mw_key_kind kind;
	const char *key;
	const struct attr_def *attr; /* for MW_KEY_ATTR */
	size_t start, end;           /* raw span in the input */
};

static bool lookup_prefix(const struct lex *lx, const char *p, size_t n, enum mw_key_kind *kind)
{
	size_t i;

	for (i = 0; i < N(prefixes); i++) {
		if (!eq_nocase(p, n, prefixes[i].word))
			continue;
		if (strcmp(prefixes[i].word, "run") == 0 && !lx->ed->run_prefix)
			return false;
		*kind = prefixes[i].kind;
		return true;
	}
	return false;
}

/* Comma-separated names of the attributes usable in this context. */
static void list_attrs(const struct lex *lx, char *out, size_t cap)
{
	unsigned need = lx->order ? A_ORDER : A_FILTER;
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; i < lx->ed->nattrs; i++) {
		const struct attr_def *d = &lx->ed->attrs[i];
		int w;
		if (!(d->flags & need) || (d->flags & A_ALIAS))
			continue;
		w = snprintf(out + len, cap - len, "%s%s", len ? ", " : "", d->name);
		if (w < 0 || (size_t)w >= cap - len)
			return;
		len += (size_t)w;
	}
}

static void list_kinds(unsigned kinds, char *out, size_t cap)
{
	size_t len = 0;
	int k;

	out[0] = '\0';
	for (k = MW_KEY_ATTR; k <= MW_KEY_DATASET; k++) {
		int w;
		if (!(kinds & KB(k)))
			continue;
		w = snprintf(out + len, cap - len, "%s%s", len ? ", " : "", kind_label[k]);
		if (w < 0 || (size_t)w >= cap - len)
			return;
		len += (size_t)w;
	}
}

static const char *context_label(const struct lex *lx, char *out, size_t cap)
{
	snprintf(out, cap, "%s %s", lx->order ? "order_by for" : "filter for", lx->ed->label);
	return out;
}

/* Resolve the key of an attribute identifier against the entity's table. */
static int resolve_attr(struct lex *lx, struct ident *id, const char *key, size_t klen)
{
	unsigned need = lx->order ? A_ORDER : A_FILTER;
	char b[SNIP_MAX + 4], names[256], ctx[64];
	size_t i;

	for (i = 0; i < lx->ed->nattrs; i++) {
		const struct attr_def *d = &lx->ed->attrs[i];
		bool match = (d->flags & A_ALIAS) ? eq_nocase(key, klen, d->name)
						  : eq_exact(key, klen, d->name);
		if (match && (d->flags & need)) {
			id->kind = MW_KEY_ATTR;
			id->attr = d;
			id->key = d->canon;
			return 0;
		}
	}
	list_attrs(lx, names, sizeof names);
	return mw_err_set(lx->err, MW_E_INVALID,
			  "Invalid attribute '%s' in %s: valid attributes are %s",
			  snip(key, klen, b), context_label(lx, ctx, sizeof ctx), names);
}

/* Finish an identifier whose prefix resolved to kind, with the given key. */
static int resolve_key(struct lex *lx, struct ident *id, enum mw_key_kind kind, const char *key,
		       size_t klen)
{
	unsigned allowed = lx->order ? lx->ed->order_kinds : lx->ed->filter_kinds;
	char b[SNIP_MAX + 4], kinds[128], ctx[64];
	size_t i;

	if (!(allowed & KB(kind))) {
		list_kinds(allowed, kinds, sizeof kinds);
		return mw_err_set(lx->err, MW_E_INVALID,
				  "Invalid identifier '%s': %s does not support %s (only %s)",
				  snip(lx->s + id->start, lx->pos - id->start, b),
				  context_label(lx, ctx, sizeof ctx), kind_label[kind], kinds);
	}
	if (klen == 0)
		return mw_err_set(lx->err, MW_E_INVALID,
				  "Invalid identifier '%s': missing key after the prefix",
				  snip(lx->s + id->start, lx->pos - id->start, b));
	if (kind == MW_KEY_ATTR)
		return resolve_attr(lx, id, key, klen);
	if (kind == MW_KEY_DATASET) {
		for (i = 0; i < N(dataset_keys); i++) {
			if (eq_exact(key, klen, dataset_keys[i])) {
				id->kind = kind;
				id->key = dataset_keys[i];
				return 0;
			}
		}
		return mw_err_set(lx->err, MW_E_INVALID,
				  "Invalid dataset key '%s': expected name, digest or context",
				  snip(key, klen, b));
	}
	id->kind = kind;
	id->key = mw_arena_strndup(lx->a, key, klen);
	return 0;
}

static int reserved_word(struct lex *lx, const char *p, size_t n)
{
	if (eq_nocase(p, n, "OR"))
		return mw_err_set(lx->err, MW_E_INVALID,
				  "Invalid search expression: OR is not supported, clauses can "
				  "only be joined with AND");
	if (eq_nocase(p, n, "NOT"))
		return mw_err_set(lx->err, MW_E_INVALID,
				  "Invalid search expression: NOT is only supported as NOT IN");
	if (eq_nocase(p, n, "AND"))
		return fail_at(lx, "missing clause before AND");
	if (eq_nocase(p, n, "LIKE") || eq_nocase(p, n, "ILIKE") || eq_nocase(p, n, "IN"))
		return fail_at(lx, "missing identifier before comparator");
	return 0;
}

static int parse_ident(struct lex *lx, struct ident *id)
{
	const char *s = lx->s;
	char c = cur(lx), b[SNIP_MAX + 4];
	enum mw_key_kind kind;
	int rc;

	memset(id, 0, sizeof *id);
	id->start = lx->pos;
	if (c == '"' || c == '`') {
		/* The whole identifier is quoted: "run name", `metrics.my key`. */
		char *q;
		size_t qlen;
		const char *dot;
		if ((rc = read_quoted(lx, "identifier", &q, &qlen)) < 0)
			return rc;
		dot = memchr(q, '.', qlen);
		if (dot && lookup_prefix(lx, q, (size_t)(dot - q), &kind))
			rc = resolve_key(lx, id, kind, dot + 1, qlen - (size_t)(dot - q) - 1);
		else if (qlen == 0)
			rc = mw_err_set(lx->err, MW_E_INVALID,
					"Invalid search expression: empty quoted identifier");
		else
			rc = resolve_attr(lx, id, q, qlen);
		if (rc < 0)
			return rc;
	} else if (is_ident(c)) {
		size_t n = run_len(s + lx->pos, is_ident);
		const char *w = s + lx->pos;
		const char *dot = memchr(w, '.', n);
		if (!dot && !lx->order && (rc = reserved_word(lx, w, n)) < 0)
			return rc;
		lx->pos += n;
		if (!dot) {
			if ((rc = resolve_attr(lx, id, w, n)) < 0)
				return rc;
		} else if (!lookup_prefix(lx, w, (size_t)(dot - w), &kind)) {
			char kinds[128];
			list_kinds(lx->order ? lx->ed->order_kinds : lx->ed->filter_kinds, kinds,
				   sizeof kinds);
			return mw_err_set(lx->err, MW_E_INVALID,
					  "Invalid identifier '%s': unknown entity type '%s' "
					  "(expected one of %s)",
					  snip(w, n, b),
					  snip(w, (size_t)(dot - w), (char[SNIP_MAX + 4]){0}),
					  kinds);
		} else if (dot == w + n - 1 && (cur(lx) == '"' || cur(lx) == '`')) {
			/* prefix."quoted key" */
			char *q;
			size_t qlen;
			if ((rc = read_quoted(lx, "key", &q, &qlen)) < 0)
				return rc;
			if ((rc = resolve_key(lx, id, kind, q, qlen)) < 0)
				return rc;
		} else if (dot == w + n - 1 && cur(lx) == '\'') {
			return mw_err_set(lx->err, MW_E_INVALID,
					  "Invalid identifier '%s': quote keys with double quotes or "
					  "backticks, not single quotes",
					  snip(w, word_len(w), b));
		} else {
			if ((rc = resolve_key(lx, id, kind, dot + 1, n - (size_t)(dot - w) - 1)) <
			    0)
				return rc;
		}
	} else if (c == '(' || c == ')') {
		return mw_err_set(lx->err, MW_E_INVALID,
				  "Invalid search expression: parentheses are only allowed around "
				  "an IN list, not for grouping");
	} else if (c == '\'') {
		return fail_at(lx, "expected an identifier, found a string value");
	} else if (c == '\0') {
		return fail_at(lx, "missing identifier");
	} else {
		return fail_at(lx, "expected an identifier");
	}
	id->end = lx->pos;
	c = cur(lx);
	if (c != '\0' && !is_ws(c) && !(is_cmp_char(c) && !lx->order)) {
		if (c == '(' || c == ')')
			return mw_err_set(lx->err, MW_E_INVALID,
					  "Invalid search expression: parentheses are only allowed "
					  "around an IN list, not for grouping");
		return mw_err_set(lx->err, MW_E_INVALID,
				  "Invalid search expression: unexpected character '%s' after "
				  "identifier '%s'",
				  snip(s + lx->pos, 1, (char[SNIP_MAX + 4]){0}),
				  snip(s + id->start, id->end - id->start, b));
	}
	return 0;
}

/* "params", "attribute 'start_time'": what the identifier is, for messages. */
static const char *ident_label(const struct ident *id, char *out, size_t cap)
{
	if (id->kind == MW_KEY_ATTR)
		snprintf(out, cap, "%s attribute '%s'",
			 (id->attr->flags & A_NUM) ? "numeric" : "string", id->key);
	else
		snprintf(out, cap, "%s", kind_label[id->kind]);
	return out;
}

static unsigned allowed_cmps(const struct ident *id)
{
	switch (id->kind) {
	case MW_KEY_METRIC:
		return CMP_NUMERIC;
	case MW_KEY_PARAM:
	case MW_KEY_TAG:
		return CMP_STRING;
	case MW_KEY_DATASET:
		return CMP_STRING | CMP_LIST;
	case MW_KEY_ATTR:
	default:
		if (id->attr->flags & A_NUM)
			return CMP_NUMERIC;
		return CMP_STRING | ((id->attr->flags & A_IN) ? CB(MW_CMP_IN) : 0) |
		       ((id->attr->flags & A_NOTIN) ? CB(MW_CMP_NOT_IN) : 0);
	}
}

static bool expects_number(const struct ident *id)
{
	return id->kind == MW_KEY_METRIC || (id->kind == MW_KEY_ATTR && (id->attr->flags & A_NUM));
}

/* ------------------------------------------------------------ comparators */

static int parse_cmp(struct lex *lx, const struct ident *id, enum mw_cmp *out)
{
	const char *p = lx->s + lx->pos;
	char b[SNIP_MAX + 4], ib[SNIP_MAX + 4];
	size_t n;

	if (is_cmp_char(*p)) {
		static const struct {
			const char *t;
			enum mw_cmp c;
		} syms[] = {{"=", MW_CMP_EQ},  {"!=", MW_CMP_NE}, {">", MW_CMP_GT},
			    {">=", MW_CMP_GE}, {"<", MW_CMP_LT},  {"<=", MW_CMP_LE}};
		size_t i;
		n = run_len(p, is_cmp_char);
		for (i = 0; i < N(syms); i++) {
			if (eq_exact(p, n, syms[i].t)) {
				*out = syms[i].c;
				lx->pos += n;
				return 0;
			}
		}
		return mw_err_set(lx->err, MW_E_INVALID, "Invalid comparator '%s'%s", snip(p, n, b),
				  eq_exact(p, n, "<>") ? ": use != for not equal" : "");
	}
	n = run_len(p, is_alpha);
	if (n == 0) {
		snip(lx->s + id->start, id->end - id->start, ib);
		if (*p == '\0')
			return mw_err_set(lx->err, MW_E_INVALID,
					  "Invalid search expression: missing comparator after '%s'",
					  ib);
		return mw_err_set(lx->err, MW_E_INVALID,
				  "Invalid search expression: expected a comparator after '%s', "
				  "found '%s'",
				  ib, snip(p, word_len(p) ? word_len(p) : 1, b));
	}
	if (is_ident(p[n]) && !is_alpha(p[n]))
		n += run_len(p + n, is_ident); /* "LIKE2": report the whole word */
	if (eq_nocase(p, n, "LIKE")) {
		*out = MW_CMP_LIKE;
	} else if (eq_nocase(p, n, "ILIKE")) {
		*out = MW_CMP_ILIKE;
	} else if (eq_nocase(p, n, "IN")) {
		*out = MW_CMP_IN;
	} else if (eq_nocase(p, n, "NOT")) {
		size_t m = n;
		while (is_ws(p[m]))
			m++;
		if (m == n || !eq_nocase(p + m, run_len(p + m, is_alpha), "IN") ||
		    is_ident(p[m + 2]))
			return mw_err_set(lx->err, MW_E_INVALID,
					  "Invalid search expression: NOT is only supported as NOT IN");
		*out = MW_CMP_NOT_IN;
		n = m + 2;
	} else {
		return mw_err_set(lx->err, MW_E_INVALID, "Invalid comparator '%s'", snip(p, n, b));
	}
	lx->pos += n;
	return 0;
}

/* ------------------------------------------------------------ values */

enum vtype { V_STR, V_NUM, V_LIST, V_WORD };

struct value {
	enum vtype type;
	char *str;
	size_t len;
	double num;
	int64_t inum;
	const char **list;
	size_t nlist;
	size_t start, end;
};

/* The number grammar above, over exactly p[0..n). */
static bool is_number(const char *p, size_t n, bool *integer)
{
	size_t i = 0;
	bool digits = false;

	*integer = true;
	if (i < n && (p[i] == '+' || p[i] == '-'))
		i++;
	while (i < n && is_digit(p[i])) {
		i++;
		digits = true;
	}
	if (i < n && p[i] == '.') {
		*integer = false;
		i++;
		while (i < n && is_digit(p[i])) {
			i++;
			digits = true;
		}
	}
	if (!digits)
		return false;
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		*integer = false;
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (i >= n || !is_digit(p[i]))
			return false;
		while (i < n && is_digit(p[i]))
			i++;
	}
	return i == n;
}

/* Characters of an unquoted value token. */
static bool is_word(char c)
{
	return !is_ws(c) && c != '(' && c != ')' && c != ',' && c != '\'' && c != '"' && c != '`';
}

static int convert_number(struct lex *lx, struct value *v, const char *p, size_t n, bool integer)
{
	char *t = mw_arena_strndup(lx->a, p, n), *end;
	char b[SNIP_MAX + 4];
	double d;

	errno = 0;
	d = strtod(t, &end);
	if (*end != '\0' || (errno == ERANGE && isinf(d)) || isnan(d))
		return mw_err_set(lx->err, MW_E_INVALID, "Invalid number '%s': out of range",
				  snip(p, n, b));
	v->num = d;
	v->inum = 0;
	if (integer) {
		long long ll;
		errno = 0;
		ll = strtoll(t, &end, 10);
		if (errno == 0 && *end == '\0')
			v->inum = (int64_t)ll;
	} else if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
		v->inum = (int64_t)d;
	}
	return 0;
}

static int parse_list(struct lex *lx, struct value *v)
{
	size_t cap = 8;
	int rc;

	v->type = V_LIST;
	v->list = mw_arena_alloc(lx->a, cap * sizeof *v->list);
	v->nlist = 0;
	lx->pos++; /* '(' */
	skip_ws(lx);
	if (cur(lx) == ')')
		return mw_err_set(lx->err, MW_E_INVALID,
				  "Invalid search expression: the IN list must not be empty");
	for (;;) {
		char c = cur(lx), *str;
		size_t len;
		if (c != '\'' && c != '"')
			return fail_at(lx, "IN list values must be quoted strings");
		if ((rc = read_quoted(lx, "string", &str, &len)) < 0)
			return rc;
		if (v->nlist == MAX_LIST)
			return mw_err_set(lx->err, MW_E_INVALID,
					  "Invalid search expression: more than %d values in an IN list",
					  MAX_LIST);
		if (v->nlist == cap) {
			const char **nl = mw_arena_alloc(lx->a, 2 * cap * sizeof *nl);
			memcpy(nl, v->list, cap * sizeof *nl);
			v->list = nl;
			cap *= 2;
		}
		v->list[v->nlist++] = str;
		skip_ws(lx);
		c = cur(lx);
		if (c == ')') {
			lx->pos++;
			return 0;
		}
		if (c != ',')
			return fail_at(lx, c ? "expected ',' or ')' in the IN list"
					     : "unterminated IN list");
		lx->pos++;
		skip_ws(lx);
	}
}

static int parse_value(struct lex *lx, struct value *v)
{
	const char *p = lx->s + lx->pos;
	char c = *p;
	int rc;

	memset(v, 0, sizeof *v);
	v->start = lx->pos;
	if (c == '\'' || c == '"') {
		v->type = V_STR;
		rc = read_quoted(lx, "string", &v->str, &v->len);
	} else if (c == '(') {
		rc = parse_list(lx, v);
	} else if (c == '`') {
		return fail_at(lx,
			       "backticks quote identifiers, values take single or double quotes");
	} else if (c == '\0') {
		return fail_at(lx, "missing value after the comparator");
	} else if (c == ')' || c == ',') {
		return fail_at(lx, "expected a value");
	} else {
		size_t n = run_len(p, is_word);
		bool integer;
		lx->pos += n;
		if (is_number(p, n, &integer)) {
			v->type = V_NUM;
			rc = convert_number(lx, v, p, n, integer);
		} else {
			v->type = V_WORD;
			rc = 0;
		}
	}
	v->end = lx->pos;
	return rc;
}

/* ------------------------------------------------------------ clauses */

static int check_clause(struct lex *lx, const struct ident *id, enum mw_cmp cmp,
			const struct value *v)
{
	char lb[96], ib[SNIP_MAX + 4], vb[SNIP_MAX + 4], ok[64];
	unsigned allowed = allowed_cmps(id);
	size_t len = 0;
	int k;

	snip(lx->s + id->start, id->end - id->start, ib);
	if (!(allowed & CB(cmp))) {
		ok[0] = '\0';
		for (k = MW_CMP_EQ; k <= MW_CMP_NOT_IN; k++) {
			int w;
			if (!(allowed & CB(k)))
				continue;
			w = snprintf(ok + len, sizeof ok - len, "%s%s", len ? " " : "",
				     cmp_text[k]);
			if (w > 0 && (size_t)w < sizeof ok - len)
				len += (size_t)w;
		}
		return mw_err_set(lx->err, MW_E_INVALID,
				  "Invalid comparator '%s' for %s: only %s are allowed",
				  cmp_text[cmp], ident_label(id, lb, sizeof lb), ok);
	}
	snip(lx->s + v->start, v->end - v->start, vb);
	if (cmp == MW_CMP_IN || cmp == MW_CMP_NOT_IN) {
		if (v->type != V_LIST)
			return mw_err_set(lx->err, MW_E_INVALID,
					  "Invalid value %s for '%s %s': expected a parenthesised "
					  "list of quoted strings such as ('a', 'b')",
					  vb, ib, cmp_text[cmp]);
		return 0;
	}
	if (v->type == V_LIST)
		return mw_err_set(lx->err, MW_E_INVALID,
				  "Invalid value %s for '%s %s': a list is only allowed with IN "
				  "or NOT IN",
				  vb, ib, cmp_text[cmp]);
	if (expects_number(id)) {
		if (v->type != V_NUM)
			return mw_err_set(lx->err, MW_E_INVALID,
					  "Invalid value %s for '%s': expected an unquoted number",
					  vb, ib);
		return 0;
	}
	if (v->type != V_STR)
		return mw_err_set(lx->err, MW_E_INVALID,
				  "Invalid value %s for '%s': expected a string in single or double "
				  "quotes",
				  vb, ib);
	return 0;
}

static int parse_clause(struct lex *lx, struct mw_clause *cl)
{
	struct ident id;
	struct value v;
	enum mw_cmp cmp = MW_CMP_EQ;
	int rc;

	if ((rc = parse_ident(lx, &id)) < 0)
		return rc;
	skip_ws(lx);
	if ((rc = parse_cmp(lx, &id, &cmp)) < 0)
		return rc;
	skip_ws(lx);
	if ((rc = parse_value(lx, &v)) < 0)
		return rc;
	if ((rc = check_clause(lx, &id, cmp, &v)) < 0)
		return rc;
	memset(cl, 0, sizeof *cl);
	cl->kind = id.kind;
	cl->key = id.key;
	cl->cmp = cmp;
	if (v.type == V_NUM) {
		cl->is_num = true;
		cl->num = v.num;
		cl->inum = v.inum;
	} else if (v.type == V_LIST) {
		cl->list = v.list;
		cl->nlist = v.nlist;
	} else {
		cl->str = v.str;
	}
	return 0;
}

/* After a clause: end of input, or AND and another clause. */
static int parse_joiner(struct lex *lx, bool *more)
{
	const char *p;
	size_t n;

	skip_ws(lx);
	p = lx->s + lx->pos;
	*more = false;
	if (*p == '\0')
		return 0;
	n = run_len(p, is_alpha);
	if (n > 0 && !is_ident(p[n]) && eq_nocase(p, n, "AND")) {
		lx->pos += n;
		skip_ws(lx);
		if (cur(lx) == '\0')
			return fail_at(lx, "missing clause after AND");
		*more = true;
		return 0;
	}
	if (n > 0 && !is_ident(p[n]) && eq_nocase(p, n, "OR"))
		return mw_err_set(lx->err, MW_E_INVALID,
				  "Invalid search expression: OR is not supported, clauses can only "
				  "be joined with AND");
	if (*p == '(' || *p == ')')
		return mw_err_set(lx->err, MW_E_INVALID,
				  "Invalid search expression: parentheses are only allowed around "
				  "an IN list, not for grouping");
	return fail_at(lx, "unexpected text after a clause (clauses are joined with AND)");
}

/* ------------------------------------------------------------ public API */

static bool valid_entity(enum mw_search_entity ent)
{
	return (unsigned)ent < N(entities);
}

int mw_filter_parse(enum mw_search_entity ent, const char *s, struct mw_arena *a,
		    struct mw_filter *out, struct mw_err *err)
{
	struct lex lx = {.s = s, .a = a, .err = err};
	struct mw_clause *c = NULL;
	size_t n = 0, cap = 0;
	bool more = true;
	int rc;

	out->c = NULL;
	out->n = 0;
	if (!valid_entity(ent))
		return mw_err_set(err, MW_E_INTERNAL, "unknown search entity %d", (int)ent);
	lx.ed = &entities[ent];
	if (s == NULL)
		return 0;
	skip_ws(&lx);
	if (cur(&lx) == '\0')
		return 0;
	while (more) {
		if (n == MAX_CLAUSES)
			return mw_err_set(err, MW_E_INVALID,
					  "Invalid search expression: more than %d clauses",
					  MAX_CLAUSES);
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 4;
			struct mw_clause *nc = mw_arena_alloc(a, ncap * sizeof *nc);
			if (n)
				memcpy(nc, c, n * sizeof *nc);
			c = nc;
			cap = ncap;
		}
		if ((rc = parse_clause(&lx, &c[n])) < 0)
			return rc;
		n++;
		if ((rc = parse_joiner(&lx, &more)) < 0)
			return rc;
	}
	out->c = c;
	out->n = n;
	return 0;
}

int mw_order_parse(enum mw_search_entity ent, const char *s, struct mw_arena *a,
		   struct mw_order *out, struct mw_err *err)
{
	struct lex lx = {.s = s, .a = a, .err = err, .order = true};
	struct ident id;
	const char *p;
	size_t n;
	int rc;

	if (!valid_entity(ent))
		return mw_err_set(err, MW_E_INTERNAL, "unknown search entity %d", (int)ent);
	lx.ed = &entities[ent];
	if (s == NULL)
		return mw_err_set(err, MW_E_INVALID, "Invalid order_by clause: empty");
	skip_ws(&lx);
	if (cur(&lx) == '\0')
		return mw_err_set(err, MW_E_INVALID, "Invalid order_by clause: empty");
	if ((rc = parse_ident(&lx, &id)) < 0)
		return rc;
	out->kind = id.kind;
	out->key = id.key;
	out->asc = true;
	skip_ws(&lx);
	p = lx.s + lx.pos;
	n = run_len(p, is_ident);
	if (n > 0 && eq_nocase(p, n, "ASC")) {
		lx.pos += n;
	} else if (n > 0 && eq_nocase(p, n, "DESC")) {
		out->asc = false;
		lx.pos += n;
	}
	skip_ws(&lx);
	if (cur(&lx) != '\0') {
		char b[SNIP_MAX + 4];
		return mw_err_set(err, MW_E_INVALID,
				  "Invalid order_by clause '%s': expected '<identifier> [ASC|DESC]'",
				  snip(s, strlen(s), b));
	}
	return 0;
}
