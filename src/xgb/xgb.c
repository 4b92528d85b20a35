/*
 * xgb.c - load XGBoost JSON/UBJSON models, flatten their trees, predict.
 *
 * Loading has three stages.  (1) Bytes to a jansson tree: JSON through
 * json_loadb after a nesting check (bare NaN/Infinity tokens, which XGBoost
 * writes, are first blanked out), UBJSON through the small strict reader
 * below (only the subset XGBoost writes: objects, untyped and typed/counted
 * arrays, strings, integers, float32/float64, booleans, null), which checks
 * every length against the bytes left before it reads or allocates.
 * (2) The jansson tree to a model: learner parameters, objective, booster
 * (gbtree or dart), and each tree's node arrays, in the 1.7 or the 2.x
 * layout.  (3) Each tree is walked breadth-first from its root and copied
 * into one contiguous node array: a node's two children are stored next to
 * each other (right = left + 1) and always after it, and every node is
 * reached exactly once, so a walk can neither loop nor leave its tree.
 * Nodes that are not reachable (deleted by pruning) are dropped.
 *
 * Each tree is then walked one of three ways (enum kind).  K_HEAP: a tree of
 * depth <= HEAP_MAX_DEPTH whose complete form is not much bigger is also
 * stored as a complete binary tree (children of i at 2i+1 and 2i+2), so a
 * step is "load feature, compare, i = 2i + 2 - (x < thr)".  K_LOCKSTEP: the
 * breadth-first array, where a leaf has threshold NaN and left = itself - 1,
 * so a step from a leaf stays on it.  Both walk exactly depth steps with no
 * branch, 8 lanes at a time (8 rows through one tree, or one row through 8
 * trees), which hides memory latency.  They read an "expanded row" instead
 * of the row (see encode_lockstep): NaN pre-replaced by -inf or +inf so the
 * missing-value default costs nothing per step, and every value and
 * threshold turned into an order-preserving unsigned code (fkey), so a
 * comparison is one integer compare whose carry feeds the index update,
 * taking exactly the decisions the float comparison would.  K_SLOW: trees with
 * categorical splits or deeper than FIXED_MAX_DEPTH use a plain loop over
 * the breadth-first array, on the raw row.
 *
 * Arithmetic follows XGBoost 1.7's CPU predictor: each output starts at
 * base_score in margin space (logit for logistic objectives, log for
 * exp-link ones, computed in float32), then leaf values are added in float32
 * in tree order (dart leaves are pre-multiplied by their tree's weight, the
 * same float32 product XGBoost computes); a row goes left when
 * value < threshold and to the default child when the value is NaN.
 * Transforms use the same float formulas (sigmoid with the 88.7 clamp,
 * softmax with a double sum).
 *
 * Invariants of a loaded struct mw_xgb: every tree's feature indices are
 * < nfeat, its child indices are inside the tree and greater than the
 * parent's, every category set lies inside cat_words, every tree group is
 * < ngroups, every expanded-row index is < 2 * nslots * LANES; nothing in it
 * changes after mw_xgb_load returns, and prediction uses only the stack
 * (about 17 KB) or memory it allocates and frees itself.
 */
#include "xgb/xgb.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- model */

#define F_DL 0x80000000u    /* missing goes left */
#define F_CAT 0x40000000u   /* categorical split */
#define F_LEAF 0x20000000u  /* leaf */
#define F_MASK 0x1fffffffu  /* feature index */

#define LANES 8             /* lockstep walks */
#define BLOCK 64            /* rows per block in batch prediction */
#define FIXED_MAX_DEPTH 32  /* deeper trees use the looping walk */
#define XT_STACK_FLOATS 4096 /* expanded rows kept on the stack */
#define HEAP_MAX_DEPTH 8    /* deepest tree stored as a complete tree */
#define CAT_LIMIT 16777216  /* XGBoost's OutOfRangeCat(): 2^24 */

struct node {
	union {
		float thr;    /* slow trees */
		uint32_t key; /* lockstep trees: fkey(thr), 0 for a leaf */
	};
	/* lockstep trees: LANES * index into the expanded row (see expand_rows);
	 * slow trees: feature index | F_* flags */
	uint32_t fdl;
	int32_t left;   /* relative to the tree's first node; right = left + 1 */
	union {
		float leaf;
		uint32_t cat;  /* index into catsets */
	} u;
};

/* How a tree is walked: as a complete binary tree (shallow trees), in
 * lockstep over the breadth-first node array, or by the looping walk
 * (categorical splits, deep trees). */
enum kind { K_HEAP, K_LOCKSTEP, K_SLOW };

struct tree {
	uint32_t root;   /* index of the tree's first node in nodes */
	uint32_t nnodes;
	uint32_t group;
	uint32_t depth;  /* longest root-to-leaf path, in edges */
	uint32_t kind;   /* enum kind */
	uint32_t heap;   /* K_HEAP: index of its first hnode, and of its first */
	uint32_t hleaf;  /* leaf in hleaves */
};

/* A complete binary tree of depth D: 2^D - 1 split nodes, node i's
 * children at 2i + 1 and 2i + 2, then 2^D leaves.  A leaf above the bottom
 * becomes a split with threshold NaN (code 0: always right) over copies of
 * itself. */
struct hnode {
	uint32_t key;    /* fkey(threshold), 0 for "always right" */
	uint32_t fx;     /* as node.fdl of a lockstep tree */
};

/* A run of up to LANES consecutive trees of one kind (one tree for
 * K_SLOW), used to predict a single row. */
struct chunk {
	uint32_t first;
	uint32_t n;
	uint32_t depth;
	uint32_t kind;
};

struct catset {
	uint32_t off;
	uint32_t nwords;
};

enum xform { X_IDENTITY, X_SIGMOID, X_EXP, X_HINGE, X_SOFTPROB, X_SOFTMAX };
enum blink { B_IDENTITY, B_LOGIT, B_LOG };

struct objective {
	const char *name;
	enum xform xf;
	enum blink bl;
	bool multi;   /* needs num_class */
};

/* The objectives whose prediction transform is known (XGBoost 1.7/2.x). */
static const struct objective objectives[] = {
	{ "reg:squarederror", X_IDENTITY, B_IDENTITY, false },
	{ "reg:linear", X_IDENTITY, B_IDENTITY, false },
	{ "reg:squaredlogerror", X_IDENTITY, B_IDENTITY, false },
	{ "reg:pseudohubererror", X_IDENTITY, B_IDENTITY, false },
	{ "reg:absoluteerror", X_IDENTITY, B_IDENTITY, false },
	{ "reg:quantileerror", X_IDENTITY, B_IDENTITY, false },
	{ "reg:logistic", X_SIGMOID, B_LOGIT, false },
	{ "binary:logistic", X_SIGMOID, B_LOGIT, false },
	{ "binary:logitraw", X_IDENTITY, B_IDENTITY, false },
	{ "binary:hinge", X_HINGE, B_IDENTITY, false },
	{ "count:poisson", X_EXP, B_LOG, false },
	{ "reg:gamma", X_EXP, B_LOG, false },
	{ "reg:tweedie", X_EXP, B_LOG, false },
	{ "multi:softprob", X_SOFTPROB, B_IDENTITY, true },
	{ "multi:softmax", X_SOFTMAX, B_IDENTITY, true },
	{ "rank:pairwise", X_IDENTITY, B_IDENTITY, false },
	{ "rank:ndcg", X_IDENTITY, B_IDENTITY, false },
	{ "rank:map", X_IDENTITY, B_IDENTITY, false },
};
#define NOBJECTIVES (sizeof objectives / sizeof *objectives)

struct mw_xgb {
	struct node *nodes;
	size_t nnodes;
	struct tree *trees;
	size_t ntrees;
	struct chunk *chunks;
	size_t nchunks;
	struct hnode *hnodes;
	size_t nhnodes;
	float *hleaves;
	size_t nhleaves;
	struct catset *catsets;
	size_t ncatsets;
	uint32_t *cat_words;
	size_t ncat_words;

	size_t nfeat;
	size_t ngroups;
	uint32_t *slots;     /* features used by lockstep trees, in slot order */
	size_t nslots;
	/* a row's cost in walk steps: nslots + 1 + the trees' depths */
	size_t row_work;
	const struct objective *obj;
	char *objective;
	bool dart;
	float *base_prob;    /* ngroups, as stored */
	float *base_margin;  /* ngroups, in margin space */
	char **fnames;       /* nfeat or NULL */
	char **ftypes;       /* nfeat or NULL */
	int version[3];
};

/* ---------------------------------------------------------------- UBJSON */

/* The reader turns UBJSON into the same jansson tree json_loadb makes, so
 * one loader serves both formats.  Every count is checked against the bytes
 * left before anything is allocated: an untyped element takes at least one
 * byte and a typed one its payload size, so the tree stays proportional to
 * the input.  Numbers are big-endian.  Non-finite floats become null (only
 * fields the loader reads are then rejected, with their name). */

struct ub {
	const unsigned char *start, *p, *end;
	struct mw_err *err;
};

static int ub_fail(struct ub *u, const char *what)
{
	return mw_err_set(u->err, MW_E_INVALID, "invalid UBJSON model: %s at byte %zu", what,
			  (size_t)(u->p - u->start));
}

static size_t ub_left(const struct ub *u)
{
	return (size_t)(u->end - u->p);
}

static uint64_t be_read(const unsigned char *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static size_t ub_payload(int marker)
{
	switch (marker) {
	case 'i': case 'U': case 'C': return 1;
	case 'I': return 2;
	case 'l': case 'd': return 4;
	case 'L': case 'D': return 8;
	default: return 0;
	}
}

/* Integer payload for an integer marker; 1 when marker is not an integer. */
static int ub_int(struct ub *u, int marker, int64_t *out)
{
	size_t n;
	switch (marker) {
	case 'i': case 'U': n = 1; break;
	case 'I': n = 2; break;
	case 'l': n = 4; break;
	case 'L': n = 8; break;
	default: return 1;
	}
	if (ub_left(u) < n)
		return ub_fail(u, "truncated integer");
	uint64_t v = be_read(u->p, n);
	u->p += n;
	switch (marker) {
	case 'i': *out = (int8_t)v; break;
	case 'U': *out = (uint8_t)v; break;
	case 'I': *out = (int16_t)v; break;
	case 'l': *out = (int32_t)v; break;
	default: *out = (int64_t)v; break;
	}
	return 0;
}

/* A length: an integer marker and its payload, non-negative. */
static int ub_count(struct ub *u, int64_t *out)
{
	if (ub_left(u) < 1)
		return ub_fail(u, "truncated length");
	int marker = *u->p++;
	int rc = ub_int(u, marker, out);
	if (rc > 0)
		return ub_fail(u, "length without an integer marker");
	if (rc < 0)
		return rc;
	if (*out < 0)
		return ub_fail(u, "negative length");
	return 0;
}

static int ub_string(struct ub *u, json_t **out)
{
	int64_t n;
	int rc = ub_count(u, &n);
	if (rc)
		return rc;
	if ((uint64_t)n > ub_left(u))
		return ub_fail(u, "string longer than the input");
	*out = json_stringn((const char *)u->p, (size_t)n);
	if (!*out)
		return ub_fail(u, "string is not valid UTF-8");
	u->p += n;
	return 0;
}

static json_t *real_or_null(double d)
{
	return isfinite(d) ? json_real(d) : json_null();
}

/* A scalar value whose marker has been read. */
static int ub_scalar(struct ub *u, int marker, json_t **out)
{
	int64_t iv = 0;
	int rc;
	switch (marker) {
	case 'Z': *out = json_null(); return 0;
	case 'T': *out = json_true(); return 0;
	case 'F': *out = json_false(); return 0;
	case 'i': case 'U': case 'I': case 'l': case 'L':
		rc = ub_int(u, marker, &iv);
		if (rc)
			return rc;
		*out = json_integer(iv);
		return 0;
	case 'd': {
		if (ub_left(u) < 4)
			return ub_fail(u, "truncated float32");
		uint32_t bits = (uint32_t)be_read(u->p, 4);
		float f;
		memcpy(&f, &bits, 4);
		u->p += 4;
		*out = real_or_null(f);
		return 0;
	}
	case 'D': {
		if (ub_left(u) < 8)
			return ub_fail(u, "truncated float64");
		uint64_t bits = be_read(u->p, 8);
		double d;
		memcpy(&d, &bits, 8);
		u->p += 8;
		*out = real_or_null(d);
		return 0;
	}
	case 'C':
		if (ub_left(u) < 1)
			return ub_fail(u, "truncated char");
		if (*u->p > 127)
			return ub_fail(u, "char is not ASCII");
		*out = json_stringn((const char *)u->p, 1);
		u->p++;
		return 0;
	case 'S':
		return ub_string(u, out);
	case 'H':
		return ub_fail(u, "high-precision numbers are not supported");
	default:
		u->p--;
		return ub_fail(u, "unknown type marker");
	}
}

static int ub_value(struct ub *u, int marker, int depth, json_t **out);

/* The optional "$type" and "#count" after '[' or '{'. */
static int ub_header(struct ub *u, int *type, int64_t *count)
{
	*type = 0;
	*count = -1;
	if (ub_left(u) >= 1 && *u->p == '$') {
		u->p++;
		if (ub_left(u) < 1)
			return ub_fail(u, "truncated container type");
		*type = *u->p++;
		if (ub_payload(*type) == 0 && *type != 'S')
			return ub_fail(u, "unsupported container element type");
		if (ub_left(u) < 1 || *u->p != '#')
			return ub_fail(u, "typed container without a count");
	}
	if (ub_left(u) >= 1 && *u->p == '#') {
		u->p++;
		int rc = ub_count(u, count);
		if (rc)
			return rc;
		/* every element takes at least one byte (its marker or payload) */
		size_t min = *type ? (*type == 'S' ? 2 : ub_payload(*type)) : 1;
		if ((uint64_t)*count > ub_left(u) / min)
			return ub_fail(u, "container count larger than the input");
	}
	return 0;
}

/* Next element's marker in an untyped container, skipping no-ops. */
static int ub_marker(struct ub *u, int *marker)
{
	do {
		if (ub_left(u) < 1)
			return ub_fail(u, "truncated container");
		*marker = *u->p++;
	} while (*marker == 'N');
	return 0;
}

static int ub_array(struct ub *u, int depth, json_t **out)
{
	int type, marker = 0, rc;
	int64_t count;
	if ((rc = ub_header(u, &type, &count)))
		return rc;
	json_t *a = json_array();
	for (int64_t i = 0; count < 0 || i < count; i++) {
		json_t *v = NULL;
		if (type) {
			rc = ub_value(u, type, depth, &v);
		} else {
			if ((rc = ub_marker(u, &marker)))
				break;
			if (count < 0 && marker == ']')
				break;
			rc = ub_value(u, marker, depth, &v);
		}
		if (rc)
			break;
		json_array_append_new(a, v);
	}
	if (rc) {
		json_decref(a);
		return rc;
	}
	*out = a;
	return 0;
}

static int ub_object(struct ub *u, int depth, json_t **out)
{
	int type, marker = 0, rc;
	int64_t count;
	if ((rc = ub_header(u, &type, &count)))
		return rc;
	json_t *o = json_object();
	for (int64_t i = 0; count < 0 || i < count; i++) {
		if (count < 0) {
			while (ub_left(u) >= 1 && *u->p == 'N')
				u->p++;
			if (ub_left(u) >= 1 && *u->p == '}') {
				u->p++;
				break;
			}
		}
		int64_t klen;
		if ((rc = ub_count(u, &klen)))
			break;
		if ((uint64_t)klen > ub_left(u)) {
			rc = ub_fail(u, "key longer than the input");
			break;
		}
		const char *key = (const char *)u->p;
		u->p += klen;
		if (json_object_getn(o, key, (size_t)klen)) {
			rc = ub_fail(u, "duplicate key");
			break;
		}
		json_t *v = NULL;
		if (type) {
			rc = ub_value(u, type, depth, &v);
		} else {
			if ((rc = ub_marker(u, &marker)))
				break;
			rc = ub_value(u, marker, depth, &v);
		}
		if (rc)
			break;
		if (json_object_setn_new(o, key, (size_t)klen, v)) {
			rc = ub_fail(u, "key is not valid UTF-8");
			break;
		}
	}
	if (rc) {
		json_decref(o);
		return rc;
	}
	*out = o;
	return 0;
}

static int ub_value(struct ub *u, int marker, int depth, json_t **out)
{
	if (marker == '[' || marker == '{') {
		if (depth >= MW_XGB_MAX_NESTING)
			return ub_fail(u, "nesting too deep");
		return marker == '[' ? ub_array(u, depth + 1, out) : ub_object(u, depth + 1, out);
	}
	return ub_scalar(u, marker, out);
}

static int ubjson_parse(const unsigned char *p, size_t n, json_t **out, struct mw_err *err)
{
	struct ub u = { p, p, p + n, err };
	if (n < 1 || *u.p != '{')
		return ub_fail(&u, "top level is not an object");
	u.p++;
	int rc = ub_value(&u, '{', 0, out);
	if (rc)
		return rc;
	if (u.p != u.end) {
		json_decref(*out);
		*out = NULL;
		return ub_fail(&u, "trailing bytes after the model");
	}
	return 0;
}

/* ---------------------------------------------------------------- JSON */

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* XGBoost writes non-finite floats as bare NaN, Infinity and -Infinity,
 * which are not JSON (a categorical split stores NaN as its unused
 * threshold).  Outside strings, each such token is replaced by an empty
 * array padded with blanks to the same length, so offsets in error messages
 * stay right and the loader sees a value that is not a number (accepted only
 * where the value is unused).  Returns a malloc'd patched copy, or NULL when
 * there is nothing to patch. */
static char *patch_nonfinite(const unsigned char *p, size_t n)
{
	static const char *const tokens[] = { "-Infinity", "Infinity", "-NaN", "NaN" };
	char *copy = NULL;
	bool in_str = false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
			continue;
		}
		if (c != 'N' && c != 'I' && c != '-')
			continue;
		for (size_t k = 0; k < 4; k++) {
			size_t len = strlen(tokens[k]);
			if (n - i >= len && memcmp(p + i, tokens[k], len) == 0) {
				if (!copy) {
					copy = mw_xmalloc(n);
					memcpy(copy, p, n);
				}
				memset(copy + i, ' ', len);
				memcpy(copy + i, "[]", 2);
				i += len - 1;
				break;
			}
		}
	}
	return copy;
}

static int parse_bytes(const unsigned char *p, size_t n, json_t **out, struct mw_err *err)
{
	size_t i = 0;
	while (i < n && is_ws(p[i]))
		i++;
	if (i == n)
		return mw_err_set(err, MW_E_INVALID, "empty model");
	if (p[i] != '{')
		return mw_err_set(err, MW_E_INVALID,
				  "not an XGBoost JSON or UBJSON model (the legacy binary format is "
				  "not supported; save the model as .json or .ubj)");
	/* After '{' UBJSON has a key-length marker (or $ # N }), JSON a quote. */
	if (i == 0 && n > 1 && p[1] != 0 && strchr("iUIlL$#N", p[1]))
		return ubjson_parse(p, n, out, err);
	if (mw_json_depth((const char *)p, n, MW_XGB_MAX_NESTING) > MW_XGB_MAX_NESTING)
		return mw_err_set(err, MW_E_INVALID, "invalid JSON model: nesting deeper than %d",
				  MW_XGB_MAX_NESTING);
	json_error_t je;
	char *patched = patch_nonfinite(p, n);
	*out = json_loadb(patched ? patched : (const char *)p, n, JSON_REJECT_DUPLICATES, &je);
	free(patched);
	if (!*out)
		return mw_err_set(err, MW_E_INVALID, "invalid JSON model: %s (line %d, column %d)",
				  je.text, je.line, je.column);
	return 0;
}

/* ---------------------------------------------------------------- fields */

static json_t *field(json_t *o, const char *key)
{
	return json_is_object(o) ? json_object_get(o, key) : NULL;
}

static int need_object(json_t *o, const char *key, const char *where, json_t **out,
		       struct mw_err *err)
{
	*out = field(o, key);
	if (!json_is_object(*out))
		return mw_err_set(err, MW_E_INVALID, "invalid model: %s%s%s is %s", where,
				  *where ? "." : "", key, *out ? "not an object" : "missing");
	return 0;
}

static int need_array(json_t *o, const char *key, const char *where, json_t **out,
		      struct mw_err *err)
{
	*out = field(o, key);
	if (!json_is_array(*out))
		return mw_err_set(err, MW_E_INVALID, "invalid model: %s.%s is %s", where, key,
				  *out ? "not an array" : "missing");
	return 0;
}

/* XGBoost stores parameters as strings ("num_feature": "30"); integers are
 * accepted too.  Absent gives def. */
static int param_int(json_t *o, const char *key, int64_t def, int64_t min, int64_t max,
		     int64_t *out, struct mw_err *err)
{
	json_t *v = field(o, key);
	int64_t x = def;
	if (json_is_integer(v)) {
		x = json_integer_value(v);
	} else if (json_is_string(v)) {
		if (mw_parse_int64(json_string_value(v), &x))
			return mw_err_set(err, MW_E_INVALID, "invalid model: %s is \"%.40s\", not an integer",
					  key, json_string_value(v));
	} else if (v) {
		return mw_err_set(err, MW_E_INVALID, "invalid model: %s is not an integer", key);
	}
	if (x < min || x > max)
		return mw_err_set(err, MW_E_INVALID, "invalid model: %s = %lld is outside [%lld, %lld]",
				  key, (long long)x, (long long)min, (long long)max);
	*out = x;
	return 0;
}

static bool elem_int(json_t *a, size_t i, int64_t *out)
{
	json_t *v = json_array_get(a, i);
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return true;
	}
	return false;
}

/* A finite float32 (numbers outside float range are rejected too). */
static bool elem_float(json_t *a, size_t i, float *out)
{
	json_t *v = json_array_get(a, i);
	if (!json_is_number(v))
		return false;
	float f = (float)json_number_value(v);
	if (!isfinite(f))
		return false;
	*out = f;
	return true;
}

/* "5E-1", "[5E-1]" or "[5E-1,2.5E-1]" (2.x and later write a vector). */
static int parse_base_score(json_t *v, size_t ngroups, float *out, struct mw_err *err)
{
	if (!v) {
		for (size_t g = 0; g < ngroups; g++)
			out[g] = 0.5f;
		return 0;
	}
	if (json_is_number(v)) {
		for (size_t g = 0; g < ngroups; g++)
			out[g] = (float)json_number_value(v);
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) > 65536)
		goto bad;
	const char *s = json_string_value(v);
	while (is_ws((unsigned char)*s))
		s++;
	bool bracket = *s == '[';
	if (bracket)
		s++;
	size_t n = 0;
	for (;;) {
		char *end;
		while (is_ws((unsigned char)*s))
			s++;
		errno = 0;
		float f = strtof(s, &end);
		if (end == s || errno == ERANGE)
			goto bad;
		if (n < ngroups)
			out[n] = f;
		n++;
		s = end;
		while (is_ws((unsigned char)*s))
			s++;
		if (*s == ',' && bracket) {
			s++;
			continue;
		}
		break;
	}
	if (bracket) {
		if (*s != ']')
			goto bad;
		s++;
	}
	while (is_ws((unsigned char)*s))
		s++;
	if (*s)
		goto bad;
	if (n == 1) {
		for (size_t g = 1; g < ngroups; g++)
			out[g] = out[0];
	} else if (n != ngroups) {
		return mw_err_set(err, MW_E_INVALID,
				  "invalid model: base_score has %zu values for %zu output groups", n,
				  ngroups);
	}
	return 0;
bad:
	return mw_err_set(err, MW_E_INVALID, "invalid model: base_score is not a number or a list of numbers");
}

static int string_list(json_t *a, const char *what, size_t nfeat, char ***out,
		       struct mw_err *err)
{
	*out = NULL;
	if (!a || (json_is_array(a) && json_array_size(a) == 0))
		return 0;
	if (!json_is_array(a))
		return mw_err_set(err, MW_E_INVALID, "invalid model: learner.%s is not an array", what);
	if (json_array_size(a) != nfeat)
		return mw_err_set(err, MW_E_INVALID,
				  "invalid model: learner.%s has %zu entries for %zu features", what,
				  json_array_size(a), nfeat);
	for (size_t i = 0; i < nfeat; i++)
		if (!json_is_string(json_array_get(a, i)))
			return mw_err_set(err, MW_E_INVALID, "invalid model: learner.%s[%zu] is not a string",
					  what, i);
	char **l = mw_xcalloc(nfeat + 1, sizeof *l);
	for (size_t i = 0; i < nfeat; i++)
		l[i] = mw_xstrdup(json_string_value(json_array_get(a, i)));
	*out = l;
	return 0;
}

/* ---------------------------------------------------------------- trees */

/* Per-load scratch, sized for the largest tree. */
struct scratch {
	uint32_t *order;    /* new index -> file index */
	int32_t *newleft;   /* new index -> new index of left child, -1 for a leaf */
	uint32_t *depth;    /* new index -> depth */
	uint8_t *seen;      /* file index -> reached */
	int32_t *catmap;    /* file index -> position in categories_nodes, or -1 */
};

struct tree_arrays {
	json_t *left, *right, *index, *cond, *dleft, *stype;
	json_t *cnodes, *csegs, *csizes, *cats;
	size_t n;
};

static int tree_fail(struct mw_err *err, size_t t, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int tree_fail(struct mw_err *err, size_t t, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return mw_err_set(err, MW_E_INVALID, "invalid model: tree %zu: %s", t, msg);
}

static int tree_arrays(json_t *tr, size_t t, struct tree_arrays *a, struct mw_err *err)
{
	static const char *const names[] = { "left_children", "right_children", "split_indices",
					     "split_conditions", "default_left" };
	json_t **slots[] = { &a->left, &a->right, &a->index, &a->cond, &a->dleft };
	if (!json_is_object(tr))
		return tree_fail(err, t, "not an object");
	for (size_t i = 0; i < 5; i++) {
		*slots[i] = field(tr, names[i]);
		if (!json_is_array(*slots[i]))
			return tree_fail(err, t, "%s is %s", names[i],
					 *slots[i] ? "not an array" : "missing");
	}
	a->n = json_array_size(a->left);
	if (a->n == 0)
		return tree_fail(err, t, "no nodes");
	for (size_t i = 1; i < 5; i++)
		if (json_array_size(*slots[i]) != a->n)
			return tree_fail(err, t, "%s has %zu entries, left_children %zu", names[i],
					 json_array_size(*slots[i]), a->n);
	a->stype = field(tr, "split_type");
	if (a->stype && (!json_is_array(a->stype) || json_array_size(a->stype) != a->n))
		return tree_fail(err, t, "split_type is not an array of %zu entries", a->n);
	json_t *tp = field(tr, "tree_param");
	int64_t v;
	int rc;
	if ((rc = param_int(tp, "size_leaf_vector", 0, 0, INT32_MAX, &v, err)))
		return rc;
	if (v > 1)
		return mw_err_set(err, MW_E_NOT_IMPLEMENTED,
				  "tree %zu has vector leaves (size_leaf_vector %lld, multi_strategy="
				  "multi_output_tree): not supported",
				  t, (long long)v);
	if ((rc = param_int(tp, "num_nodes", (int64_t)a->n, 0, INT64_MAX, &v, err)))
		return rc;
	if ((size_t)v != a->n)
		return tree_fail(err, t, "tree_param.num_nodes is %lld but the arrays have %zu nodes",
				 (long long)v, a->n);
	a->cnodes = field(tr, "categories_nodes");
	a->csegs = field(tr, "categories_segments");
	a->csizes = field(tr, "categories_sizes");
	a->cats = field(tr, "categories");
	json_t *c[] = { a->cnodes, a->csegs, a->csizes, a->cats };
	for (size_t i = 0; i < 4; i++)
		if (c[i] && !json_is_array(c[i]))
			return tree_fail(err, t, "a categories field is not an array");
	size_t nc = a->cnodes ? json_array_size(a->cnodes) : 0;
	if ((a->csegs ? json_array_size(a->csegs) : 0) != nc ||
	    (a->csizes ? json_array_size(a->csizes) : 0) != nc)
		return tree_fail(err, t,
				 "categories_nodes, categories_segments and categories_sizes differ in length");
	return 0;
}

/* Build the category set of file node `old` (categorical split) and return
 * its index in m->catsets. */
static int build_catset(struct mw_xgb *m, const struct tree_arrays *a, const struct scratch *s,
			size_t t, uint32_t old, uint32_t *out, struct mw_err *err)
{
	int64_t seg = 0, size = 0;
	int32_t j = s->catmap[old];
	if (j >= 0) {
		if (!elem_int(a->csegs, (size_t)j, &seg) || !elem_int(a->csizes, (size_t)j, &size))
			return tree_fail(err, t, "categories_segments/sizes[%d] is not an integer", j);
		size_t ncats = a->cats ? json_array_size(a->cats) : 0;
		if (seg < 0 || size < 0 || (uint64_t)seg > ncats || (uint64_t)size > ncats - (uint64_t)seg)
			return tree_fail(err, t, "categories segment of node %u is out of range", old);
	}
	int64_t max = -1;
	for (int64_t k = 0; k < size; k++) {
		int64_t c;
		if (!elem_int(a->cats, (size_t)(seg + k), &c) || c < 0 || c >= CAT_LIMIT)
			return tree_fail(err, t, "category %lld of node %u is not an integer in [0, %d)",
					 (long long)(seg + k), old, CAT_LIMIT);
		if (c > max)
			max = c;
	}
	size_t words = (size_t)(max + 1 + 31) / 32;
	if (words > (size_t)MW_XGB_MAX_CAT_WORDS - m->ncat_words)
		return mw_err_set(err, MW_E_INVALID,
				  "invalid model: category sets exceed %ld words (limit)",
				  (long)MW_XGB_MAX_CAT_WORDS);
	/* grow by doubling; both arrays are bounded by the limits */
	size_t need = m->ncat_words + words;
	size_t cap = 64;
	while (cap < need)
		cap *= 2;
	m->cat_words = mw_xrealloc(m->cat_words, cap * sizeof *m->cat_words);
	memset(m->cat_words + m->ncat_words, 0, words * sizeof *m->cat_words);
	for (int64_t k = 0; k < size; k++) {
		int64_t c = 0;
		elem_int(a->cats, (size_t)(seg + k), &c);  /* checked above */
		m->cat_words[m->ncat_words + (size_t)c / 32] |= 1u << (c % 32);
	}
	cap = 16;
	while (cap < m->ncatsets + 1)
		cap *= 2;
	m->catsets = mw_xrealloc(m->catsets, cap * sizeof *m->catsets);
	m->catsets[m->ncatsets].off = (uint32_t)m->ncat_words;
	m->catsets[m->ncatsets].nwords = (uint32_t)words;
	m->ncat_words += words;
	*out = (uint32_t)m->ncatsets++;
	return 0;
}

/* Validate tree t and append its reachable nodes, breadth-first, at
 * m->nodes + m->nnodes. */
static int flatten_tree(struct mw_xgb *m, json_t *tr, size_t t, float weight, struct scratch *s,
			struct mw_err *err)
{
	struct tree_arrays a;
	int rc = tree_arrays(tr, t, &a, err);
	if (rc)
		return rc;
	size_t n = a.n;
	memset(s->seen, 0, n);
	for (size_t i = 0; i < n; i++)
		s->catmap[i] = -1;
	size_t nc = a.cnodes ? json_array_size(a.cnodes) : 0;
	for (size_t j = 0; j < nc; j++) {
		int64_t id;
		if (!elem_int(a.cnodes, j, &id) || id < 0 || (uint64_t)id >= n)
			return tree_fail(err, t, "categories_nodes[%zu] is not a node index", j);
		if (s->catmap[id] >= 0)
			return tree_fail(err, t, "categories_nodes lists node %lld twice", (long long)id);
		s->catmap[id] = (int32_t)j;
	}

	/* Breadth-first from the root (node 0).  Children get consecutive new
	 * indices after their parent; a node reached twice is rejected, which
	 * rules out cycles and shared subtrees. */
	size_t head = 0, tail = 1;
	s->order[0] = 0;
	s->depth[0] = 0;
	s->seen[0] = 1;
	uint32_t maxdepth = 0;
	while (head < tail) {
		size_t k = head++;
		uint32_t old = s->order[k];
		int64_t l, r;
		if (!elem_int(a.left, old, &l) || !elem_int(a.right, old, &r))
			return tree_fail(err, t, "children of node %u are not integers", old);
		if (l == -1 && r == -1) {
			s->newleft[k] = -1;
			if (s->depth[k] > maxdepth)
				maxdepth = s->depth[k];
			continue;
		}
		if (l < 0 || r < 0 || (uint64_t)l >= n || (uint64_t)r >= n)
			return tree_fail(err, t,
					 "node %u has children %lld and %lld, outside [0, %zu) (or only one "
					 "of them is -1)",
					 old, (long long)l, (long long)r, n);
		if (l == r || s->seen[l] || s->seen[r])
			return tree_fail(err, t,
					 "node %u: child %lld or %lld is reached twice (cycle or shared node)",
					 old, (long long)l, (long long)r);
		s->seen[l] = s->seen[r] = 1;
		s->order[tail] = (uint32_t)l;
		s->order[tail + 1] = (uint32_t)r;
		s->depth[tail] = s->depth[tail + 1] = s->depth[k] + 1;
		s->newleft[k] = (int32_t)tail;
		tail += 2;
	}

	bool has_cat = false;
	struct node *base = m->nodes + m->nnodes;
	for (size_t k = 0; k < tail; k++) {
		uint32_t old = s->order[k];
		struct node *nd = &base[k];
		int64_t fi, dl, st = 0;
		if (s->newleft[k] >= 0 && a.stype &&
		    (!elem_int(a.stype, old, &st) || (st != 0 && st != 1)))
			return tree_fail(err, t, "split_type[%u] is not 0 (numerical) or 1 (categorical)",
					 old);
		float f = NAN;
		if (!elem_float(a.cond, old, &f) && st != 1)  /* unused by categorical splits */
			return tree_fail(err, t, "split_conditions[%u] is not a finite float32", old);
		if (s->newleft[k] < 0) {
			nd->thr = NAN;
			nd->fdl = F_LEAF;
			nd->left = (int32_t)k - 1;
			nd->u.leaf = f * weight;  /* float32 product, as dart does */
			continue;
		}
		if (!elem_int(a.index, old, &fi) || fi < 0 || (uint64_t)fi >= m->nfeat)
			return tree_fail(err, t, "split_indices[%u] is not a feature index below %zu", old,
					 m->nfeat);
		if (!elem_int(a.dleft, old, &dl) || (dl != 0 && dl != 1))
			return tree_fail(err, t, "default_left[%u] is not 0 or 1", old);
		nd->thr = f;
		nd->fdl = (uint32_t)fi | (dl ? F_DL : 0);
		nd->left = s->newleft[k];
		nd->u.cat = 0;
		if (st == 1) {
			has_cat = true;
			nd->fdl |= F_CAT;
			if ((rc = build_catset(m, &a, s, t, old, &nd->u.cat, err)))
				return rc;
		}
	}
	struct tree *tt = &m->trees[t];
	tt->root = (uint32_t)m->nnodes;
	tt->nnodes = (uint32_t)tail;
	tt->depth = maxdepth;
	tt->kind = has_cat || maxdepth > FIXED_MAX_DEPTH ? K_SLOW : K_LOCKSTEP;
	m->nnodes += tail;
	return 0;
}

/* Lockstep trees read features from an expanded row: each feature a split
 * uses gets a slot s, and the row is written twice, NaN replaced by -inf in
 * copy s and by +inf in copy nslots + s.  A split that sends missing values
 * left reads the first copy (-inf < threshold: left), one that sends them
 * right the second (+inf < threshold is false: right); other values compare
 * as they are, since thresholds are finite.  Values are stored as their
 * fkey codes, and thresholds too (encode_keys), so a step is one load and
 * one unsigned comparison.  Copies are interleaved by lane (LANES codes per
 * copy), so the node stores LANES * copy and lane l adds l. */
static void encode_lockstep(struct mw_xgb *m)
{
	int32_t *slot = mw_xmalloc(m->nfeat * sizeof *slot);
	for (size_t f = 0; f < m->nfeat; f++)
		slot[f] = -1;
	m->slots = mw_xmalloc(m->nfeat * sizeof *m->slots);
	m->nslots = 0;
	for (size_t t = 0; t < m->ntrees; t++) {
		const struct tree *tr = &m->trees[t];
		for (size_t k = 0; k < tr->nnodes && tr->kind != K_SLOW; k++) {
			uint32_t f = m->nodes[tr->root + k].fdl;
			if (!(f & F_LEAF) && slot[f & F_MASK] < 0) {
				slot[f & F_MASK] = (int32_t)m->nslots;
				m->slots[m->nslots++] = f & F_MASK;
			}
		}
	}
	if (m->nslots == 0)  /* leaves still read slot 0 */
		m->slots[m->nslots++] = 0;
	for (size_t t = 0; t < m->ntrees; t++) {
		const struct tree *tr = &m->trees[t];
		for (size_t k = 0; k < tr->nnodes && tr->kind != K_SLOW; k++) {
			struct node *n = &m->nodes[tr->root + k];
			uint32_t copy = 0;
			if (!(n->fdl & F_LEAF))
				copy = (uint32_t)slot[n->fdl & F_MASK] +
				       (n->fdl & F_DL ? 0 : (uint32_t)m->nslots);
			n->fdl = copy * LANES;
		}
	}
	free(slot);
}

/* An order-preserving code for a float that is not NaN: x < y exactly
 * when fkey(x) < fkey(y), and -0 and +0 (which compare equal) get the same
 * code.  So a walk compares codes as unsigned integers and takes exactly
 * the decisions the float comparisons take.  The smallest code, that of
 * -inf, is 0x007fffff: code 0 (a NaN threshold) is below every value. */
static inline uint32_t fkey(float x)
{
	uint32_t u;
	x += 0.0f; /* -0 -> +0 */
	memcpy(&u, &x, sizeof u);
	/* negative: all bits flipped; positive: the sign bit set (no branch) */
	uint32_t neg = 0u - (u >> 31);
	return u ^ (neg | 0x80000000u);
}

/* Lockstep nodes compare codes: a split's threshold becomes fkey(thr), a
 * leaf's NaN becomes 0 (never less: the walk stays on the leaf). */
static void encode_keys(struct mw_xgb *m)
{
	for (size_t t = 0; t < m->ntrees; t++) {
		const struct tree *tr = &m->trees[t];
		for (size_t k = 0; k < tr->nnodes && tr->kind == K_LOCKSTEP; k++) {
			struct node *n = &m->nodes[tr->root + k];
			n->key = n->thr != n->thr ? 0 : fkey(n->thr);
		}
	}
}

static void heap_fill(struct mw_xgb *m, const struct tree *tr, uint32_t k, size_t h,
		      uint32_t level)
{
	const struct node *n = &m->nodes[tr->root + k];
	size_t nsplit = ((size_t)1 << tr->depth) - 1;
	if (level == tr->depth) {
		m->hleaves[tr->hleaf + h - nsplit] = n->u.leaf;  /* a leaf: depth is its max */
		return;
	}
	struct hnode *hn = &m->hnodes[tr->heap + h];
	if (n->thr != n->thr) {  /* leaf above the bottom */
		hn->key = 0;
		hn->fx = 0;
		heap_fill(m, tr, k, 2 * h + 1, level + 1);
		heap_fill(m, tr, k, 2 * h + 2, level + 1);
		return;
	}
	hn->key = fkey(n->thr);
	hn->fx = n->fdl;
	heap_fill(m, tr, (uint32_t)n->left, 2 * h + 1, level + 1);
	heap_fill(m, tr, (uint32_t)n->left + 1, 2 * h + 2, level + 1);
}

/* Shallow lockstep trees whose complete form is not much bigger become
 * K_HEAP: a step then needs no child index. */
static void plan_heaps(struct mw_xgb *m)
{
	size_t nh = 0, nl = 0;
	for (size_t t = 0; t < m->ntrees; t++) {
		struct tree *tr = &m->trees[t];
		if (tr->kind != K_LOCKSTEP || tr->depth > HEAP_MAX_DEPTH ||
		    ((size_t)2 << tr->depth) > 4 * (size_t)tr->nnodes + 64)
			continue;
		tr->kind = K_HEAP;
		tr->heap = (uint32_t)nh;
		tr->hleaf = (uint32_t)nl;
		nh += ((size_t)1 << tr->depth) - 1;
		nl += (size_t)1 << tr->depth;
	}
	m->hnodes = mw_xcalloc(nh ? nh : 1, sizeof *m->hnodes);
	m->hleaves = mw_xcalloc(nl ? nl : 1, sizeof *m->hleaves);
	m->nhnodes = nh;
	m->nhleaves = nl;
	for (size_t t = 0; t < m->ntrees; t++)
		if (m->trees[t].kind == K_HEAP)
			heap_fill(m, &m->trees[t], 0, 0, 0);
}

static void plan_chunks(struct mw_xgb *m)
{
	m->chunks = mw_xcalloc(m->ntrees ? m->ntrees : 1, sizeof *m->chunks);
	m->nchunks = 0;
	struct chunk *c = NULL;
	for (size_t t = 0; t < m->ntrees; t++) {
		const struct tree *tr = &m->trees[t];
		if (tr->kind == K_SLOW || !c || c->kind != tr->kind || c->n == LANES) {
			c = &m->chunks[m->nchunks++];
			c->first = (uint32_t)t;
			c->n = 0;
			c->depth = 0;
			c->kind = tr->kind;
		}
		c->n++;
		if (tr->depth > c->depth)
			c->depth = tr->depth;
	}
}

/* A row's cost in walk steps, to decide when a batch is worth splitting
 * across threads: expanding its features, plus each tree's depth (a
 * leaf-only tree still costs a step). */
static void plan_work(struct mw_xgb *m)
{
	size_t w = m->nslots + 1;
	for (size_t t = 0; t < m->ntrees; t++)
		w += m->trees[t].depth ? m->trees[t].depth : 1;
	m->row_work = w;
}

/* ---------------------------------------------------------------- load */

static const struct objective *find_objective(const char *name)
{
	for (size_t i = 0; i < NOBJECTIVES; i++)
		if (strcmp(objectives[i].name, name) == 0)
			return &objectives[i];
	return NULL;
}

static int base_margins(struct mw_xgb *m, struct mw_err *err)
{
	for (size_t g = 0; g < m->ngroups; g++) {
		float b = m->base_prob[g], v = b;
		switch (m->obj->bl) {
		case B_IDENTITY:
			break;
		case B_LOGIT:
			if (!(b > 0.0f && b < 1.0f))
				return mw_err_set(err, MW_E_INVALID,
						  "invalid model: base_score must be in (0,1) for %s, got %g",
						  m->objective, (double)b);
			v = -logf(1.0f / b - 1.0f);
			break;
		case B_LOG:
			if (!(b > 0.0f))
				return mw_err_set(err, MW_E_INVALID,
						  "invalid model: base_score must be positive for %s, got %g",
						  m->objective, (double)b);
			v = logf(b);
			break;
		}
		if (!isfinite(v))
			return mw_err_set(err, MW_E_INVALID, "invalid model: base_score %g is not finite",
					  (double)b);
		m->base_margin[g] = v;
	}
	return 0;
}

static int load_learner(struct mw_xgb *m, json_t *root, struct mw_err *err)
{
	int rc;
	json_t *ver = field(root, "version");
	if (json_is_array(ver) && json_array_size(ver) == 3) {
		for (int i = 0; i < 3; i++) {
			int64_t v;
			if (!elem_int(ver, (size_t)i, &v) || v < 0 || v > 1000000)
				return mw_err_set(err, MW_E_INVALID, "invalid model: version is not [major, minor, patch]");
			m->version[i] = (int)v;
		}
	} else if (ver) {
		return mw_err_set(err, MW_E_INVALID, "invalid model: version is not [major, minor, patch]");
	}

	json_t *learner, *lmp, *objo, *gb;
	if ((rc = need_object(root, "learner", "", &learner, err)) ||
	    (rc = need_object(learner, "learner_model_param", "learner", &lmp, err)) ||
	    (rc = need_object(learner, "objective", "learner", &objo, err)) ||
	    (rc = need_object(learner, "gradient_booster", "learner", &gb, err)))
		return rc;

	int64_t nfeat, nclass, ntarget;
	if ((rc = param_int(lmp, "num_feature", -1, -1, MW_XGB_MAX_FEATURES, &nfeat, err)) ||
	    (rc = param_int(lmp, "num_class", 0, 0, MW_XGB_MAX_GROUPS, &nclass, err)) ||
	    (rc = param_int(lmp, "num_target", 1, 1, MW_XGB_MAX_GROUPS, &ntarget, err)))
		return rc;
	if (nfeat < 1)
		return mw_err_set(err, MW_E_INVALID, "invalid model: learner_model_param.num_feature is %s",
				  nfeat < 0 ? "missing" : "0");
	if (nclass > 1 && ntarget > 1)
		return mw_err_set(err, MW_E_NOT_IMPLEMENTED,
				  "model has both num_class %lld and num_target %lld: not supported",
				  (long long)nclass, (long long)ntarget);
	m->nfeat = (size_t)nfeat;
	m->ngroups = (size_t)(nclass > ntarget ? nclass : ntarget);
	if (m->ngroups < 1)
		m->ngroups = 1;

	json_t *oname = field(objo, "name");
	if (!json_is_string(oname))
		return mw_err_set(err, MW_E_INVALID, "invalid model: learner.objective.name is missing");
	m->objective = mw_xstrndup(json_string_value(oname), strnlen(json_string_value(oname), 200));
	m->obj = find_objective(m->objective);
	if (!m->obj)
		return mw_err_set(err, MW_E_NOT_IMPLEMENTED,
				  "objective \"%.100s\" is not supported by the native evaluator",
				  m->objective);
	if (m->obj->multi && nclass < 1)
		return mw_err_set(err, MW_E_INVALID, "invalid model: %s needs num_class >= 1",
				  m->objective);

	m->base_prob = mw_xcalloc(m->ngroups, sizeof *m->base_prob);
	m->base_margin = mw_xcalloc(m->ngroups, sizeof *m->base_margin);
	if ((rc = parse_base_score(field(lmp, "base_score"), m->ngroups, m->base_prob, err)) ||
	    (rc = base_margins(m, err)))
		return rc;

	if ((rc = string_list(field(learner, "feature_names"), "feature_names", m->nfeat,
			      &m->fnames, err)) ||
	    (rc = string_list(field(learner, "feature_types"), "feature_types", m->nfeat,
			      &m->ftypes, err)))
		return rc;
	return 0;
}

static int load_booster(struct mw_xgb *m, json_t *root, struct mw_err *err)
{
	int rc;
	json_t *gb = field(field(root, "learner"), "gradient_booster");
	json_t *name = field(gb, "name");
	if (!json_is_string(name))
		return mw_err_set(err, MW_E_INVALID, "invalid model: gradient_booster.name is missing");
	const char *bn = json_string_value(name);
	json_t *model, *weights = NULL;
	if (strcmp(bn, "gbtree") == 0) {
		if ((rc = need_object(gb, "model", "gradient_booster", &model, err)))
			return rc;
	} else if (strcmp(bn, "dart") == 0) {
		json_t *inner;
		if ((rc = need_object(gb, "gbtree", "gradient_booster", &inner, err)) ||
		    (rc = need_object(inner, "model", "gradient_booster.gbtree", &model, err)) ||
		    (rc = need_array(gb, "weight_drop", "gradient_booster", &weights, err)))
			return rc;
		m->dart = true;
	} else if (strcmp(bn, "gblinear") == 0) {
		return mw_err_set(err, MW_E_NOT_IMPLEMENTED,
				  "gblinear models are not supported by the native evaluator");
	} else {
		return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "booster \"%.60s\" is not supported", bn);
	}

	json_t *trees, *info;
	if ((rc = need_array(model, "trees", "gradient_booster.model", &trees, err)) ||
	    (rc = need_array(model, "tree_info", "gradient_booster.model", &info, err)))
		return rc;
	size_t nt = json_array_size(trees);
	if (nt > MW_XGB_MAX_TREES)
		return mw_err_set(err, MW_E_INVALID, "invalid model: %zu trees (limit %d)", nt,
				  MW_XGB_MAX_TREES);
	if (json_array_size(info) != nt)
		return mw_err_set(err, MW_E_INVALID, "invalid model: tree_info has %zu entries for %zu trees",
				  json_array_size(info), nt);
	if (weights && json_array_size(weights) != nt)
		return mw_err_set(err, MW_E_INVALID, "invalid model: weight_drop has %zu entries for %zu trees",
				  json_array_size(weights), nt);
	int64_t declared;
	if ((rc = param_int(field(model, "gbtree_model_param"), "num_trees", (int64_t)nt, 0,
			    INT64_MAX, &declared, err)))
		return rc;
	if ((size_t)declared != nt)
		return mw_err_set(err, MW_E_INVALID,
				  "invalid model: gbtree_model_param.num_trees is %lld but there are %zu trees",
				  (long long)declared, nt);

	/* Size the node array by the nodes in the file, before reading any. */
	size_t total = 0, maxn = 1;
	for (size_t t = 0; t < nt; t++) {
		json_t *lc = field(json_array_get(trees, t), "left_children");
		size_t n = json_is_array(lc) ? json_array_size(lc) : 0;
		if (n > (size_t)MW_XGB_MAX_NODES - total)
			return mw_err_set(err, MW_E_INVALID, "invalid model: more than %ld nodes (limit)",
					  (long)MW_XGB_MAX_NODES);
		total += n;
		if (n > maxn)
			maxn = n;
	}
	m->ntrees = nt;
	m->trees = mw_xcalloc(nt ? nt : 1, sizeof *m->trees);
	m->nodes = mw_xcalloc(total ? total : 1, sizeof *m->nodes);
	struct scratch s = {
		.order = mw_xmalloc(maxn * sizeof *s.order),
		.newleft = mw_xmalloc(maxn * sizeof *s.newleft),
		.depth = mw_xmalloc(maxn * sizeof *s.depth),
		.seen = mw_xmalloc(maxn),
		.catmap = mw_xmalloc(maxn * sizeof *s.catmap),
	};
	rc = 0;
	for (size_t t = 0; t < nt && !rc; t++) {
		int64_t g;
		float w = 1.0f;
		if (!elem_int(info, t, &g) || g < 0 || (uint64_t)g >= m->ngroups) {
			rc = mw_err_set(err, MW_E_INVALID,
					"invalid model: tree_info[%zu] is not a group below %zu", t,
					m->ngroups);
			break;
		}
		if (weights && !elem_float(weights, t, &w)) {
			rc = mw_err_set(err, MW_E_INVALID,
					"invalid model: weight_drop[%zu] is not a finite number", t);
			break;
		}
		m->trees[t].group = (uint32_t)g;
		rc = flatten_tree(m, json_array_get(trees, t), t, w, &s, err);
	}
	free(s.order);
	free(s.newleft);
	free(s.depth);
	free(s.seen);
	free(s.catmap);
	if (rc)
		return rc;
	encode_lockstep(m);
	plan_heaps(m);
	encode_keys(m);
	plan_chunks(m);
	plan_work(m);
	return 0;
}

int mw_xgb_load(const void *buf, size_t len, struct mw_xgb **out, struct mw_err *err)
{
	*out = NULL;
	if (!buf && len)
		return mw_err_set(err, MW_E_INVALID, "no model bytes");
	if (len > MW_XGB_MAX_BYTES)
		return mw_err_set(err, MW_E_INVALID, "model is %zu bytes (limit %zu)", len,
				  MW_XGB_MAX_BYTES);
	json_t *root = NULL;
	int rc = parse_bytes(buf, len, &root, err);
	if (rc)
		return rc;
	struct mw_xgb *m = mw_xcalloc(1, sizeof *m);
	rc = load_learner(m, root, err);
	if (!rc)
		rc = load_booster(m, root, err);
	json_decref(root);
	if (rc) {
		mw_xgb_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int mw_xgb_load_file(const char *path, struct mw_xgb **out, struct mw_err *err)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mw_err_set(err, errno == ENOENT ? MW_E_NOT_FOUND : MW_E_IO,
				  "cannot open model %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return mw_err_set(err, MW_E_IO, "model %s is not a regular file", path);
	}
	if ((uint64_t)st.st_size > MW_XGB_MAX_BYTES) {
		close(fd);
		return mw_err_set(err, MW_E_INVALID, "model %s is %lld bytes (limit %zu)", path,
				  (long long)st.st_size, MW_XGB_MAX_BYTES);
	}
	size_t n = (size_t)st.st_size, got = 0;
	unsigned char *buf = mw_xmalloc(n ? n : 1);
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : 0;
			free(buf);
			close(fd);
			return mw_err_set(err, MW_E_IO, "cannot read model %s: %s", path,
					  e ? strerror(e) : "file shrank while reading");
		}
		got += (size_t)r;
	}
	close(fd);
	int rc = mw_xgb_load(buf, n, out, err);
	free(buf);
	return rc;
}

static void free_list(char **l)
{
	if (!l)
		return;
	for (char **p = l; *p; p++)
		free(*p);
	free(l);
}

void mw_xgb_free(struct mw_xgb *m)
{
	if (!m)
		return;
	free(m->nodes);
	free(m->trees);
	free(m->slots);
	free(m->chunks);
	free(m->hnodes);
	free(m->hleaves);
	free(m->catsets);
	free(m->cat_words);
	free(m->objective);
	free(m->base_prob);
	free(m->base_margin);
	free_list(m->fnames);
	free_list(m->ftypes);
	free(m);
}

/* ---------------------------------------------------------------- getters */

size_t mw_xgb_num_features(const struct mw_xgb *m)
{
	return m->nfeat;
}

size_t mw_xgb_num_outputs(const struct mw_xgb *m, bool margin)
{
	return !margin && m->obj->xf == X_SOFTMAX ? 1 : m->ngroups;
}

size_t mw_xgb_num_trees(const struct mw_xgb *m)
{
	return m->ntrees;
}

const char *mw_xgb_objective(const struct mw_xgb *m)
{
	return m->objective;
}

const char *mw_xgb_booster(const struct mw_xgb *m)
{
	return m->dart ? "dart" : "gbtree";
}

const char *const *mw_xgb_feature_names(const struct mw_xgb *m)
{
	return (const char *const *)m->fnames;
}

const char *const *mw_xgb_feature_types(const struct mw_xgb *m)
{
	return (const char *const *)m->ftypes;
}

bool mw_xgb_has_categorical(const struct mw_xgb *m)
{
	return m->ncatsets > 0;
}

void mw_xgb_version(const struct mw_xgb *m, int version[3])
{
	memcpy(version, m->version, sizeof m->version);
}

float mw_xgb_base_score(const struct mw_xgb *m, size_t g)
{
	return g < m->ngroups ? m->base_prob[g] : NAN;
}

/* ---------------------------------------------------------------- predict */

/* Expanded rows (see encode_lockstep): LANES rows, or one row in lane 0. */
static void expand_rows(const struct mw_xgb *m, const float *const row[LANES], uint32_t *xt)
{
	size_t S = m->nslots;
	for (size_t s = 0; s < S; s++) {
		uint32_t f = m->slots[s];
		uint32_t *lo = xt + s * LANES, *hi = xt + (s + S) * LANES;
		for (size_t l = 0; l < LANES; l++) {
			float v = row[l][f];
			lo[l] = fkey(v > -INFINITY ? v : -INFINITY); /* NaN -> -inf (maxss) */
			hi[l] = fkey(v < INFINITY ? v : INFINITY);   /* NaN -> +inf (minss) */
		}
	}
}

static void expand_row(const struct mw_xgb *m, const float *row, uint32_t *xt)
{
	size_t S = m->nslots;
	for (size_t s = 0; s < S; s++) {
		float v = row[m->slots[s]];
		xt[s * LANES] = fkey(v > -INFINITY ? v : -INFINITY);
		xt[(s + S) * LANES] = fkey(v < INFINITY ? v : INFINITY);
	}
}

/* One step of a lockstep tree: left when x < thr (missing values were
 * expanded to -inf or +inf).  From a leaf (thr NaN, left = itself - 1) it
 * stays. */
static inline uint32_t step(const struct node *n, const uint32_t *x)
{
	return (uint32_t)n->left + 1u - (x[n->fdl] < n->key);
}

/* LANES expanded rows through one tree, depth steps each. */
static inline void walk_rows(const struct node *t, const uint32_t *xt, uint32_t depth,
			     uint32_t idx[LANES])
{
	uint32_t i0 = 0, i1 = 0, i2 = 0, i3 = 0, i4 = 0, i5 = 0, i6 = 0, i7 = 0;
	for (uint32_t d = 0; d < depth; d++) {
		i0 = step(t + i0, xt + 0);
		i1 = step(t + i1, xt + 1);
		i2 = step(t + i2, xt + 2);
		i3 = step(t + i3, xt + 3);
		i4 = step(t + i4, xt + 4);
		i5 = step(t + i5, xt + 5);
		i6 = step(t + i6, xt + 6);
		i7 = step(t + i7, xt + 7);
	}
	idx[0] = i0; idx[1] = i1; idx[2] = i2; idx[3] = i3;
	idx[4] = i4; idx[5] = i5; idx[6] = i6; idx[7] = i7;
}

/* One expanded row (lane 0) through LANES trees, depth steps each. */
static inline void walk_trees(const struct node *const t[LANES], const uint32_t *xt, uint32_t depth,
			      uint32_t idx[LANES])
{
	uint32_t i0 = 0, i1 = 0, i2 = 0, i3 = 0, i4 = 0, i5 = 0, i6 = 0, i7 = 0;
	for (uint32_t d = 0; d < depth; d++) {
		i0 = step(t[0] + i0, xt);
		i1 = step(t[1] + i1, xt);
		i2 = step(t[2] + i2, xt);
		i3 = step(t[3] + i3, xt);
		i4 = step(t[4] + i4, xt);
		i5 = step(t[5] + i5, xt);
		i6 = step(t[6] + i6, xt);
		i7 = step(t[7] + i7, xt);
	}
	idx[0] = i0; idx[1] = i1; idx[2] = i2; idx[3] = i3;
	idx[4] = i4; idx[5] = i5; idx[6] = i6; idx[7] = i7;
}

static inline uint32_t hstep(const struct hnode *h, uint32_t i, const uint32_t *x)
{
	const struct hnode *n = h + i;
	return 2 * i + 2 - (x[n->fx] < n->key);
}

/* LANES expanded rows through one complete tree; leaf indices out. */
static inline void heap_rows(const struct hnode *h, const uint32_t *xt, uint32_t depth,
			     uint32_t idx[LANES])
{
	uint32_t i0 = 0, i1 = 0, i2 = 0, i3 = 0, i4 = 0, i5 = 0, i6 = 0, i7 = 0;
	for (uint32_t d = 0; d < depth; d++) {
		i0 = hstep(h, i0, xt + 0);
		i1 = hstep(h, i1, xt + 1);
		i2 = hstep(h, i2, xt + 2);
		i3 = hstep(h, i3, xt + 3);
		i4 = hstep(h, i4, xt + 4);
		i5 = hstep(h, i5, xt + 5);
		i6 = hstep(h, i6, xt + 6);
		i7 = hstep(h, i7, xt + 7);
	}
	uint32_t first = (1u << depth) - 1;
	idx[0] = i0 - first; idx[1] = i1 - first; idx[2] = i2 - first; idx[3] = i3 - first;
	idx[4] = i4 - first; idx[5] = i5 - first; idx[6] = i6 - first; idx[7] = i7 - first;
}

/* One expanded row through LANES complete trees. */
static inline void heap_trees(const struct hnode *const h[LANES], const uint32_t *xt,
			      uint32_t depth, uint32_t idx[LANES])
{
	uint32_t i0 = 0, i1 = 0, i2 = 0, i3 = 0, i4 = 0, i5 = 0, i6 = 0, i7 = 0;
	for (uint32_t d = 0; d < depth; d++) {
		i0 = hstep(h[0], i0, xt);
		i1 = hstep(h[1], i1, xt);
		i2 = hstep(h[2], i2, xt);
		i3 = hstep(h[3], i3, xt);
		i4 = hstep(h[4], i4, xt);
		i5 = hstep(h[5], i5, xt);
		i6 = hstep(h[6], i6, xt);
		i7 = hstep(h[7], i7, xt);
	}
	uint32_t first = (1u << depth) - 1;
	idx[0] = i0 - first; idx[1] = i1 - first; idx[2] = i2 - first; idx[3] = i3 - first;
	idx[4] = i4 - first; idx[5] = i5 - first; idx[6] = i6 - first; idx[7] = i7 - first;
}

/* XGBoost's categorical decision: left unless the (truncated) value is in
 * the node's set; negative and too-large values go left. */
static bool cat_left(const struct mw_xgb *m, uint32_t set, float x)
{
	if (x < 0.0f || x >= (float)CAT_LIMIT)
		return true;
	uint32_t c = (uint32_t)(int32_t)x;
	const struct catset *s = &m->catsets[set];
	if (c / 32 >= s->nwords)
		return true;
	return !((m->cat_words[s->off + c / 32] >> (c % 32)) & 1u);
}

/* The general walk: until a leaf, with categorical splits.  Children are
 * always after their parent, so it ends within the tree's node count. */
static float walk_slow(const struct mw_xgb *m, const struct node *t, const float *row)
{
	uint32_t i = 0;
	for (;;) {
		const struct node *n = t + i;
		uint32_t f = n->fdl;
		if (f & F_LEAF)
			return n->u.leaf;
		float x = row[f & F_MASK];
		bool left;
		if (x != x)
			left = f & F_DL;
		else if (f & F_CAT)
			left = cat_left(m, n->u.cat, x);
		else
			left = x < n->thr;
		i = (uint32_t)n->left + !left;
	}
}

/* acc[g] += trees' leaves for one row, in tree order.  xt holds one
 * expanded row. */
static void predict_row(const struct mw_xgb *m, const float *row, uint32_t *xt, float *acc)
{
	const struct node *base[LANES];
	uint32_t idx[LANES];
	expand_row(m, row, xt);
	for (size_t c = 0; c < m->nchunks; c++) {
		const struct chunk *ch = &m->chunks[c];
		const struct tree *tr = &m->trees[ch->first];
		if (ch->kind == K_SLOW) {
			acc[tr->group] += walk_slow(m, m->nodes + tr->root, row);
			continue;
		}
		if (ch->kind == K_HEAP) {
			/* a chunk's trees may differ in depth: walk each at its own,
			 * grouped so that lanes share the loop */
			const struct hnode *hb[LANES];
			for (uint32_t l = 0; l < ch->n; l++) {
				hb[0] = m->hnodes + tr[l].heap;
				uint32_t d = tr[l].depth, lo = l;
				size_t nl = 1;
				while (l + 1 < ch->n && tr[l + 1].depth == d && nl < LANES)
					hb[nl++] = m->hnodes + tr[++l].heap;
				for (size_t k = nl; k < LANES; k++)
					hb[k] = hb[0];
				heap_trees(hb, xt, d, idx);
				for (size_t k = 0; k < nl; k++)
					acc[tr[lo + k].group] += m->hleaves[tr[lo + k].hleaf + idx[k]];
			}
			continue;
		}
		for (uint32_t l = 0; l < LANES; l++)
			base[l] = m->nodes + tr[l < ch->n ? l : 0].root;
		walk_trees(base, xt, ch->depth, idx);
		for (uint32_t l = 0; l < ch->n; l++)
			acc[tr[l].group] += base[l][idx[l]].u.leaf;
	}
}

/* acc[r * G + g] += trees' leaves for nrows (>= LANES) rows, tree by tree;
 * xt holds ceil(nrows / LANES) groups of LANES expanded rows. */
static void predict_block(const struct mw_xgb *m, const float *rows, size_t nrows, size_t ncols,
			  uint32_t *xt, float *acc)
{
	size_t G = m->ngroups, stride = 2 * m->nslots * LANES;
	size_t ngroups = (nrows + LANES - 1) / LANES;
	const float *rp[LANES];
	uint32_t idx[LANES];
	for (size_t g = 0; g < ngroups; g++) {
		for (size_t l = 0; l < LANES; l++) {
			size_t r = g * LANES + l;
			rp[l] = rows + (r < nrows ? r : nrows - 1) * ncols;
		}
		expand_rows(m, rp, xt + g * stride);
	}
	for (size_t t = 0; t < m->ntrees; t++) {
		const struct tree *tr = &m->trees[t];
		const struct node *base = m->nodes + tr->root;
		float *a = acc + tr->group;
		if (tr->kind == K_SLOW) {
			for (size_t r = 0; r < nrows; r++)
				a[r * G] += walk_slow(m, base, rows + r * ncols);
			continue;
		}
		if (tr->kind == K_HEAP) {
			const struct hnode *h = m->hnodes + tr->heap;
			const float *lv = m->hleaves + tr->hleaf;
			for (size_t g = 0; g < ngroups; g++) {
				size_t r = g * LANES, k = nrows - r < LANES ? nrows - r : LANES;
				heap_rows(h, xt + g * stride, tr->depth, idx);
				for (size_t l = 0; l < k; l++)
					a[(r + l) * G] += lv[idx[l]];
			}
			continue;
		}
		for (size_t g = 0; g < ngroups; g++) {
			size_t r = g * LANES, k = nrows - r < LANES ? nrows - r : LANES;
			walk_rows(base, xt + g * stride, tr->depth, idx);
			for (size_t l = 0; l < k; l++)
				a[(r + l) * G] += base[idx[l]].u.leaf;
		}
	}
}

/* XGBoost 1.7 common::Sigmoid. */
static float sigmoid(float x)
{
	const float eps = 1e-16f;
	float y = 88.7f < -x ? 88.7f : -x;  /* std::min(-x, 88.7f) */
	float denom = expf(y) + 1.0f + eps;
	return 1.0f / denom;
}

/* XGBoost common::Softmax, in place over n values. */
static void softmax(float *v, size_t n)
{
	float wmax = v[0];
	for (size_t i = 1; i < n; i++)
		wmax = fmaxf(v[i], wmax);
	double wsum = 0.0;
	for (size_t i = 0; i < n; i++) {
		v[i] = expf(v[i] - wmax);
		wsum += v[i];
	}
	for (size_t i = 0; i < n; i++)
		v[i] /= (float)wsum;
}

static void finish(const struct mw_xgb *m, float *acc, size_t nrows, float *out, bool margin)
{
	size_t G = m->ngroups, n = nrows * G;
	if (margin) {
		memcpy(out, acc, n * sizeof *out);
		return;
	}
	switch (m->obj->xf) {
	case X_IDENTITY:
		memcpy(out, acc, n * sizeof *out);
		break;
	case X_SIGMOID:
		for (size_t i = 0; i < n; i++)
			out[i] = sigmoid(acc[i]);
		break;
	case X_EXP:
		for (size_t i = 0; i < n; i++)
			out[i] = expf(acc[i]);
		break;
	case X_HINGE:
		for (size_t i = 0; i < n; i++)
			out[i] = acc[i] > 0.0f ? 1.0f : 0.0f;
		break;
	case X_SOFTPROB:
		for (size_t r = 0; r < nrows; r++)
			softmax(acc + r * G, G);
		memcpy(out, acc, n * sizeof *out);
		break;
	case X_SOFTMAX:
		for (size_t r = 0; r < nrows; r++) {
			const float *v = acc + r * G;
			size_t best = 0;
			for (size_t g = 1; g < G; g++)
				if (v[g] > v[best])
					best = g;
			out[r] = (float)best;
		}
		break;
	}
}

/* Rows per block of batch prediction (see predict_rows): as many groups of
 * LANES expanded rows as fit XT_STACK_FLOATS, at most BLOCK rows, at least
 * LANES.  A function of the model only. */
static size_t block_rows(const struct mw_xgb *m)
{
	size_t stride = 2 * m->nslots * LANES, lgroups = XT_STACK_FLOATS / stride;
	if (lgroups == 0)
		lgroups = 1;
	else if (lgroups > BLOCK / LANES)
		lgroups = BLOCK / LANES;
	return lgroups * LANES;
}

/* The evaluation itself, for arguments already checked: blocks of
 * block_rows(m) rows, each through every tree (predict_block, or
 * predict_row below LANES rows), then the transform.  Scratch: expanded
 * rows and sums, on the stack when small (about 17 KB), else on the heap.
 * Every row's arithmetic is the same whichever block it lands in. */
static void predict_rows(const struct mw_xgb *m, const float *rows, size_t nrows, size_t ncols,
			 float *out, bool margin)
{
	size_t G = m->ngroups, nout = mw_xgb_num_outputs(m, margin);
	uint32_t stack_xt[XT_STACK_FLOATS];
	float stack_acc[BLOCK * 4];
	size_t stride = 2 * m->nslots * LANES, block = block_rows(m);
	uint32_t *xt = stride <= XT_STACK_FLOATS ? stack_xt : mw_xmalloc(stride * sizeof *xt);
	float *acc = G <= 4 ? stack_acc : mw_xmalloc(block * G * sizeof *acc);
	for (size_t r0 = 0; r0 < nrows; r0 += block) {
		size_t b = nrows - r0 < block ? nrows - r0 : block;
		const float *rows0 = rows + r0 * ncols;
		for (size_t r = 0; r < b; r++)
			memcpy(acc + r * G, m->base_margin, G * sizeof *acc);
		if (b >= LANES) {
			predict_block(m, rows0, b, ncols, xt, acc);
		} else {
			for (size_t r = 0; r < b; r++)
				predict_row(m, rows0 + r * ncols, xt, acc + r * G);
		}
		finish(m, acc, b, out + r0 * nout, margin);
	}
	if (xt != stack_xt)
		free(xt);
	if (acc != stack_acc)
		free(acc);
}

static int check_args(const struct mw_xgb *m, const float *rows, size_t nrows, size_t ncols,
		      const float *out, bool margin, struct mw_err *err)
{
	if (!m)
		return mw_err_set(err, MW_E_INVALID, "no model");
	if (ncols != m->nfeat)
		return mw_err_set(err, MW_E_INVALID,
				  "rows have %zu features, the model expects %zu", ncols, m->nfeat);
	if (nrows == 0)
		return 0;
	if (!rows || !out)
		return mw_err_set(err, MW_E_INVALID, "no input rows or no output buffer");
	size_t G = m->ngroups, nout = mw_xgb_num_outputs(m, margin);
	if (nrows > SIZE_MAX / sizeof(float) / ncols || nrows > SIZE_MAX / sizeof(float) / G ||
	    nrows > SIZE_MAX / sizeof(float) / nout)
		return mw_err_set(err, MW_E_INVALID, "%zu rows overflow the buffer sizes", nrows);
	return 0;
}

int mw_xgb_predict(const struct mw_xgb *m, const float *rows, size_t nrows, size_t ncols,
		   float *out, bool margin, struct mw_err *err)
{
	int rc = check_args(m, rows, nrows, ncols, out, margin, err);
	if (rc || nrows == 0)
		return rc;
	predict_rows(m, rows, nrows, ncols, out, margin);
	return 0;
}

/* A batch split for the pool: task i is the rows [i * chunk, (i + 1) *
 * chunk), chunk a whole number of lane groups and at most a block, and each
 * task evaluates its rows as mw_xgb_predict would.  A row's arithmetic does
 * not depend on the rows it shares a block with (walks and sums are per
 * row and lane; padding lanes repeat a row and are dropped), so the outputs
 * are the same bytes however the batch is cut. */
struct split {
	const struct mw_xgb *m;
	const float *rows;
	size_t nrows, ncols, chunk, nout;
	float *out;
	bool margin;
};

static void split_task(void *ctx, size_t task)
{
	const struct split *s = ctx;
	size_t r0 = task * s->chunk, n = s->nrows - r0 < s->chunk ? s->nrows - r0 : s->chunk;
	predict_rows(s->m, s->rows + r0 * s->ncols, n, s->ncols, s->out + r0 * s->nout, s->margin);
}

/* Rows per task: an even share for each of the pool's threads, rounded up
 * to whole lane groups, at most one block. */
static size_t split_rows(const struct mw_xgb *m, size_t nrows, size_t nthreads)
{
	size_t share = (nrows + nthreads - 1) / nthreads;
	size_t chunk = (share + LANES - 1) / LANES * LANES, block = block_rows(m);
	return chunk < block ? chunk : block;
}

size_t mw_xgb_pool_min_rows(const struct mw_xgb *m, bool hot)
{
	size_t work = hot ? MW_XGB_POOL_MIN_WORK : MW_XGB_POOL_MIN_WORK_COLD;
	size_t rows = (work + m->row_work - 1) / m->row_work;
	return rows > 2 * LANES ? rows : 2 * LANES;
}

bool mw_xgb_pool_pays(const struct mw_xgb *m, struct mw_pool *pool, size_t nrows)
{
	if (!m || mw_pool_threads(pool) < 2 || nrows < mw_xgb_pool_min_rows(m, true))
		return false;
	return nrows >= mw_xgb_pool_min_rows(m, false) || mw_pool_hot(pool);
}

int mw_xgb_predict_pool(const struct mw_xgb *m, struct mw_pool *pool, const float *rows,
			size_t nrows, size_t ncols, float *out, bool margin, struct mw_err *err)
{
	int rc = check_args(m, rows, nrows, ncols, out, margin, err);
	if (rc || nrows == 0)
		return rc;
	if (!mw_xgb_pool_pays(m, pool, nrows)) {
		predict_rows(m, rows, nrows, ncols, out, margin);
		return 0;
	}
	size_t chunk = split_rows(m, nrows, mw_pool_threads(pool));
	struct split s = {m, rows, nrows, ncols, chunk, mw_xgb_num_outputs(m, margin), out, margin};
	mw_pool_run(pool, (nrows + chunk - 1) / chunk, split_task, &s);
	return 0;
}
