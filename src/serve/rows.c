/*
 * rows.c - the one row parser: MLflow's scoring input (JSON:
 * dataframe_split, dataframe_records, instances, inputs; and CSV) into a
 * row-major float32 matrix whose columns are a model's features.
 *
 * Shared by /invocations (api/serving.c) and `mw predict`, so a file and a
 * request with the same rows give the same matrix, or the same error.
 *
 * Columns are matched to features by name when the model has feature names
 * and the input names its columns (dataframe_split.columns, the keys of
 * records or of an inputs dict, a CSV header), else by position, and then
 * their number must equal the model's.  A cell is a number, null or an empty
 * string (missing: NaN), true/false (1/0), or a string holding a number;
 * anything else is an error that names its row (CSV: its line) and column,
 * 1-based: a row is never dropped or shifted, so outputs always line up with
 * input rows.
 *
 * CSV: one row per line, \n or \r\n, blank lines skipped, quoted fields with
 * "" for a quote.  The first line is a header when none of its fields is a
 * number; a first line that mixes numbers and other text is an error (a
 * header or a row with a typo: mw does not guess).  CSV is parsed straight
 * into floats, never into an intermediate tree, and nothing is allocated per
 * cell: a line is a list of spans of the body (at most the header's columns
 * are kept after the first line, at most MW_SERVE_MAX_FEATURES fields on any
 * line), each cell copied into one scratch buffer when it is read: a body
 * costs its floats plus the first line's spans (24 bytes a field) and header
 * names, however it is cut.
 *
 * Every size is capped: at most MW_ROWS_MAX_CELLS values in all.
 */
#include "serve/serve_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mw_served_schema(const struct mw_served *m, struct mw_rows_schema *out)
{
	out->nfeat = m->nfeat;
	out->feature_names = json_object_get(m->meta, "feature_names");
}

/* ------------------------------------------------------------ cells */

/* Where a cell is, for messages: CSV line or JSON row, and column, 1-based,
 * with the column's name when it has one. */
struct at {
	bool csv;
	size_t row, col;
	const char *name;
};

static int not_a_number(const struct at *a, const char *what, struct mw_err *err)
{
	char where[200];
	if (a->name)
		snprintf(where, sizeof where, "%s %zu, column %zu ('%.80s')",
			 a->csv ? "line" : "row", a->row, a->col, a->name);
	else
		snprintf(where, sizeof where, "%s %zu, column %zu", a->csv ? "line" : "row", a->row,
			 a->col);
	return mw_err_set(err, MW_E_INVALID, "%s: %.80s is not a number", where, what);
}

static int cell_text(const char *s, const struct at *a, float *out, struct mw_err *err)
{
	double d;
	if (!*s) {
		*out = NAN;
		return 0;
	}
	if (!mw_parse_double(s, &d)) {
		*out = (float)d;
		return 0;
	}
	char q[90];
	snprintf(q, sizeof q, "'%.80s'", s);
	return not_a_number(a, q, err);
}

static int cell(json_t *v, const struct at *a, float *out, struct mw_err *err)
{
	if (json_is_number(v)) {
		*out = (float)json_number_value(v);
		return 0;
	}
	if (json_is_null(v)) {
		*out = NAN;
		return 0;
	}
	if (json_is_boolean(v)) {
		*out = json_is_true(v) ? 1.0f : 0.0f;
		return 0;
	}
	if (json_is_string(v))
		return cell_text(json_string_value(v), a, out, err);
	char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	int rc = not_a_number(a, s ? s : "?", err);
	free(s);
	return rc;
}

/* ------------------------------------------------------------ columns */

/* Column i of the model reads input column map[i] (positional when the
 * model or the input has no names).  names: the input's column names
 * (count nc), or NULL. */
static int map_columns(const struct mw_rows_schema *sc, const char *const *names, size_t nc,
		       size_t *map, struct mw_err *err)
{
	size_t nf = sc->nfeat;
	json_t *fnames = sc->feature_names;
	if (!names || !json_array_size(fnames)) {
		if (names && nc != nf)
			return mw_err_set(err, MW_E_INVALID,
					  "the model takes %zu features, the request has %zu columns",
					  nf, nc);
		for (size_t i = 0; i < nf; i++)
			map[i] = i;
		return 0;
	}
	struct mw_buf missing;
	mw_buf_init(&missing, 4096);
	size_t nmiss = 0, unlisted = 0;
	for (size_t i = 0; i < nf; i++) {
		const char *fn = json_string_value(json_array_get(fnames, i));
		map[i] = (size_t)-1;
		for (size_t j = 0; j < nc; j++)
			if (names[j] && fn && !strcmp(names[j], fn)) {
				map[i] = j;
				break;
			}
		if (map[i] == (size_t)-1) {
			/* the message names as many as fit in its buffer */
			if (mw_buf_printf(&missing, "%s'%.200s'", nmiss ? ", " : "", fn ? fn : "?"))
				unlisted++;
			nmiss++;
		}
	}
	int rc = 0;
	if (nmiss) {
		rc = unlisted ? mw_err_set(err, MW_E_INVALID, "missing features: %s and %zu more",
					   missing.data, unlisted)
			      : mw_err_set(err, MW_E_INVALID, "missing features: %s", missing.data);
	} else if (nc > nf) {
		/* name the first extra column */
		for (size_t j = 0; j < nc && !rc; j++) {
			bool used = false;
			for (size_t i = 0; i < nf && !used; i++)
				used = map[i] == j;
			if (!used)
				rc = mw_err_set(err, MW_E_INVALID,
						"unexpected feature '%s': the model takes %zu features",
						names[j] ? names[j] : "?", nf);
		}
	}
	mw_buf_release(&missing);
	return rc;
}

/* The strings of a JSON list of column names (NULL when it is NULL). */
static const char **names_of(json_t *columns, size_t *nc)
{
	*nc = json_array_size(columns);
	if (!columns)
		return NULL;
	const char **v = mw_xcalloc(*nc + 1, sizeof *v);
	for (size_t i = 0; i < *nc; i++)
		v[i] = json_string_value(json_array_get(columns, i));
	return v;
}

static int too_many(size_t rows, size_t nf, struct mw_err *err)
{
	if (nf && rows > MW_ROWS_MAX_CELLS / nf)
		return mw_err_set(err, MW_E_TOO_LARGE, "the request has more than %u values",
				  (unsigned)MW_ROWS_MAX_CELLS);
	return 0;
}

/* ------------------------------------------------------------ JSON */

/* rows: a list of lists (split/instances) or of objects (records). */
static int from_rows(const struct mw_rows_schema *sc, json_t *columns, json_t *rows,
		     struct mw_rows *t, struct mw_err *err)
{
	size_t n = json_array_size(rows), nf = sc->nfeat;
	if (!json_is_array(rows))
		return mw_err_set(err, MW_E_INVALID, "expected a list of rows");
	int rc = too_many(n, nf, err);
	if (rc)
		return rc;
	bool records = n && json_is_object(json_array_get(rows, 0));
	json_t *cols = columns;
	json_t *owned = NULL;
	if (records) { /* the keys of the first record are the columns */
		owned = json_array();
		const char *k;
		json_t *v;
		json_object_foreach(json_array_get(rows, 0), k, v)
			json_array_append_new(owned, json_string(k));
		cols = owned;
	}
	size_t nc;
	const char **names = names_of(cols, &nc);
	size_t *map = mw_xcalloc(nf ? nf : 1, sizeof *map);
	rc = map_columns(sc, names, nc, map, err);
	float *x = mw_xmalloc((n ? n : 1) * (nf ? nf : 1) * sizeof(float));
	for (size_t r = 0; !rc && r < n; r++) {
		json_t *row = json_array_get(rows, r);
		struct at a = {.row = r + 1};
		if (records) {
			if (!json_is_object(row)) {
				rc = mw_err_set(err, MW_E_INVALID, "row %zu is not an object",
						r + 1);
				break;
			}
			for (size_t i = 0; !rc && i < nf; i++) {
				const char *cn = names[map[i]];
				json_t *v = json_object_get(row, cn);
				a.col = map[i] + 1;
				a.name = cn;
				if (!v)
					rc = mw_err_set(err, MW_E_INVALID, "row %zu has no '%s'",
							r + 1, cn);
				else
					rc = cell(v, &a, &x[r * nf + i], err);
			}
			if (!rc && json_object_size(row) != nc)
				rc = mw_err_set(err, MW_E_INVALID,
						"row %zu has %zu fields, the first row has %zu",
						r + 1, json_object_size(row), nc);
		} else {
			size_t want = cols ? nc : nf;
			if (!json_is_array(row)) {
				/* instances of a one-feature model may be scalars */
				if (nf == 1 && !cols) {
					a.col = 1;
					rc = cell(row, &a, &x[r], err);
					continue;
				}
				rc = mw_err_set(err, MW_E_INVALID, "row %zu is not a list", r + 1);
				break;
			}
			if (json_array_size(row) != want) {
				rc = mw_err_set(err, MW_E_INVALID,
						"row %zu has %zu values, expected %zu", r + 1,
						json_array_size(row), want);
				break;
			}
			for (size_t i = 0; !rc && i < nf; i++) {
				a.col = map[i] + 1;
				a.name = names ? names[map[i]] : NULL;
				rc = cell(json_array_get(row, map[i]), &a, &x[r * nf + i], err);
			}
		}
	}
	free(map);
	free(names);
	json_decref(owned);
	if (rc) {
		free(x);
		return rc;
	}
	t->x = x;
	t->rows = n;
	t->cols = nf;
	return 0;
}

/* {"col": [values...], ...}: a dict of columns (MLflow "inputs" form). */
static int from_column_dict(const struct mw_rows_schema *sc, json_t *obj, struct mw_rows *t,
			    struct mw_err *err)
{
	json_t *cols = json_array(), *rows = json_array();
	const char *k;
	json_t *v;
	size_t n = (size_t)-1;
	int rc = 0;
	json_object_foreach(obj, k, v)
	{
		if (!json_is_array(v)) {
			rc = mw_err_set(err, MW_E_INVALID, "column '%s' is not a list", k);
			break;
		}
		if (n == (size_t)-1)
			n = json_array_size(v);
		else if (json_array_size(v) != n) {
			rc = mw_err_set(err, MW_E_INVALID, "columns have different lengths");
			break;
		}
		json_array_append_new(cols, json_string(k));
	}
	if (!rc && n != (size_t)-1)
		rc = too_many(n, sc->nfeat, err);
	for (size_t r = 0; !rc && n != (size_t)-1 && r < n; r++) {
		json_t *row = json_array();
		json_object_foreach(obj, k, v) json_array_append(row, json_array_get(v, r));
		json_array_append_new(rows, row);
	}
	if (!rc)
		rc = from_rows(sc, cols, rows, t, err);
	json_decref(cols);
	json_decref(rows);
	return rc;
}

int mw_rows_from_json(const struct mw_rows_schema *sc, json_t *body, struct mw_rows *t,
		      struct mw_err *err)
{
	static const char *keys[] = {"dataframe_split", "dataframe_records", "instances", "inputs"};
	const char *found = NULL;
	int nfound = 0;
	for (size_t i = 0; i < 4; i++)
		if (json_object_get(body, keys[i])) {
			found = keys[i];
			nfound++;
		}
	if (nfound != 1)
		return mw_err_set(
			err, MW_E_INVALID,
			"The input must be a JSON dictionary with exactly one of the input "
			"fields {'dataframe_split', 'dataframe_records', 'instances', 'inputs'}");
	json_t *v = json_object_get(body, found);
	if (!strcmp(found, "dataframe_split")) {
		if (!json_is_object(v))
			return mw_err_set(err, MW_E_INVALID,
					  "dataframe_split must be an object with "
					  "'columns' and 'data'");
		json_t *cols = json_object_get(v, "columns");
		if (cols && !json_is_array(cols))
			return mw_err_set(err, MW_E_INVALID,
					  "dataframe_split.columns must be a list");
		return from_rows(sc, cols, json_object_get(v, "data"), t, err);
	}
	if (!strcmp(found, "dataframe_records")) {
		if (!json_is_array(v) ||
		    (json_array_size(v) && !json_is_object(json_array_get(v, 0))))
			return mw_err_set(err, MW_E_INVALID,
					  "dataframe_records must be a list of objects");
		return from_rows(sc, NULL, v, t, err);
	}
	if (json_is_object(v))
		return from_column_dict(sc, v, t, err);
	return from_rows(sc, NULL, v, t, err);
}

/* ------------------------------------------------------------ CSV */

/* A CSV line as spans of the body: nothing is allocated per field (a body of
 * commas is millions of fields).  Fields are copied one at a time into tmp
 * when their text is needed. */
struct span {
	const char *p; /* the field's text; for a quoted field, inside the quotes */
	size_t n;
	bool quoted; /* "" in it stands for a quote */
};

struct csv_line {
	struct span *f;
	size_t n;     /* fields on the line (all of them, counted) */
	size_t alloc; /* spans stored: the first min(n, alloc) */
	struct mw_buf tmp;
};

/* The most fields a line may have: the header may name more columns than
 * the model has features, but not more than a model could have. */
#define CSV_MAX_FIELDS MW_SERVE_MAX_FEATURES

static void line_release(struct csv_line *l)
{
	free(l->f);
	mw_buf_release(&l->tmp);
	memset(l, 0, sizeof *l);
}

/* Split the line [q, le) into spans, storing at most keep of them (the rest
 * are only counted). */
static int split_line(const char *q, const char *le, struct csv_line *l, size_t keep,
		      struct mw_err *err)
{
	l->n = 0;
	while (q <= le) {
		struct span sp = {.p = q, .n = 0, .quoted = false};
		const char *c = q;
		if (c < le && *c == '"') { /* quoted field, "" is a quote */
			c++;
			sp.p = c;
			sp.quoted = true;
			while (c < le) {
				if (*c == '"' && c + 1 < le && c[1] == '"')
					c += 2;
				else if (*c == '"')
					break;
				else
					c++;
			}
			sp.n = (size_t)(c - sp.p);
			if (sp.n > 2 * (size_t)MW_ROWS_MAX_FIELD)
				return mw_err_set(err, MW_E_TOO_LARGE,
						  "a CSV field is longer than %u bytes",
						  (unsigned)MW_ROWS_MAX_FIELD);
			if (c < le)
				c++; /* the closing quote */
			const char *comma = memchr(c, ',', (size_t)(le - c));
			q = comma ? comma + 1 : le + 1;
		} else {
			const char *comma = memchr(c, ',', (size_t)(le - c));
			const char *fe = comma ? comma : le;
			sp.n = (size_t)(fe - c);
			q = fe + 1;
		}
		if (l->n >= CSV_MAX_FIELDS)
			return mw_err_set(err, MW_E_TOO_LARGE, "a CSV line has more than %u fields",
					  (unsigned)CSV_MAX_FIELDS);
		if (l->n < keep) {
			if (l->n == l->alloc) {
				size_t na = l->alloc ? l->alloc * 2 : 16;
				if (na > keep)
					na = keep;
				l->f = mw_xrealloc(l->f, na * sizeof *l->f);
				l->alloc = na;
			}
			l->f[l->n] = sp;
		}
		l->n++;
	}
	return 0;
}

/* Field i's text, NUL-terminated, in l->tmp (valid until the next call). */
static int field(struct csv_line *l, size_t i, const char **out, struct mw_err *err)
{
	const struct span *sp = &l->f[i];
	mw_buf_reset(&l->tmp);
	int rc = 0;
	if (!sp->quoted) {
		rc = mw_buf_append(&l->tmp, sp->p, sp->n);
	} else {
		for (size_t k = 0; k < sp->n && !rc; k++) {
			rc = mw_buf_append(&l->tmp, sp->p + k, 1);
			if (sp->p[k] == '"')
				k++; /* "" */
		}
	}
	if (!rc)
		rc = mw_buf_append(&l->tmp, "", 1);
	if (rc)
		return mw_err_set(err, MW_E_TOO_LARGE, "a CSV field is longer than %u bytes",
				  (unsigned)MW_ROWS_MAX_FIELD);
	*out = l->tmp.data;
	return 0;
}

static bool is_number(const char *s)
{
	double d;
	return *s && !mw_parse_double(s, &d);
}

int mw_rows_from_csv(const struct mw_rows_schema *sc, const char *p, size_t n, struct mw_rows *t,
		     struct mw_err *err)
{
	const char *end = p + n;
	size_t nf = sc->nfeat, lineno = 0, rows = 0, cap = 0, ncols = 0;
	bool first = true;
	char **header = NULL;
	size_t *map = mw_xcalloc(nf ? nf : 1, sizeof *map);
	float *x = NULL;
	struct csv_line l = {0};
	mw_buf_init(&l.tmp, (size_t)MW_ROWS_MAX_FIELD + 1);
	int rc = 0;
	while (p < end && !rc) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *q = p;
		p = nl ? nl + 1 : end;
		lineno++;
		if (le > q && le[-1] == '\r')
			le--;
		if (le == q)
			continue; /* a blank line */
		/* after the first line, a line with more fields than the columns
		 * is an error: only that many spans are kept */
		if ((rc = split_line(q, le, &l, first ? CSV_MAX_FIELDS : ncols, err)))
			break;
		if (first) {
			first = false;
			size_t nums = 0, text = 0, bad = 0;
			for (size_t i = 0; !rc && i < l.n; i++) {
				const char *f;
				if ((rc = field(&l, i, &f, err)))
					break;
				if (is_number(f))
					nums++;
				else if (*f && !text++)
					bad = i;
			}
			if (rc)
				break;
			if (text && nums) {
				const char *f = "";
				(void)field(&l, bad, &f, err);
				rc = mw_err_set(err, MW_E_INVALID,
						"line %zu, column %zu: '%.80s' is not a number (a header "
						"line holds no numbers, a row only numbers)",
						lineno, bad + 1, f);
				break;
			}
			if (text) { /* the header: its names are kept */
				ncols = l.n;
				header = mw_xcalloc(ncols, sizeof *header);
				for (size_t i = 0; !rc && i < ncols; i++) {
					const char *f;
					if (!(rc = field(&l, i, &f, err)))
						header[i] = mw_xstrdup(f);
				}
				if (!rc)
					rc = map_columns(sc, (const char *const *)header, ncols,
							 map, err);
				continue;
			}
			ncols = nf;
			rc = map_columns(sc, NULL, 0, map, err);
			if (rc)
				break;
		}
		if (l.n != ncols) {
			rc = mw_err_set(err, MW_E_INVALID, "line %zu has %zu fields, expected %zu",
					lineno, l.n, ncols);
			break;
		}
		if ((rc = too_many(rows + 1, nf, err)))
			break;
		if (rows == cap) {
			cap = cap ? cap * 2 : 64;
			if (nf && cap > MW_ROWS_MAX_CELLS / nf)
				cap = MW_ROWS_MAX_CELLS / nf;
			x = mw_xrealloc(x, cap * (nf ? nf : 1) * sizeof(float));
		}
		for (size_t i = 0; !rc && i < nf; i++) {
			struct at a = {.csv = true,
				       .row = lineno,
				       .col = map[i] + 1,
				       .name = header ? header[map[i]] : NULL};
			const char *f;
			if (!(rc = field(&l, map[i], &f, err)))
				rc = cell_text(f, &a, &x[rows * nf + i], err);
		}
		rows++;
	}
	line_release(&l);
	if (header) {
		for (size_t i = 0; i < ncols; i++)
			free(header[i]);
		free(header);
	}
	free(map);
	if (rc) {
		free(x);
		return rc;
	}
	t->x = x ? x : mw_xmalloc(sizeof(float));
	t->rows = rows;
	t->cols = nf;
	return 0;
}
