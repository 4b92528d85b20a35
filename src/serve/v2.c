/*
 * v2.c - Open Inference Protocol (KServe V2) inference requests into a
 * float32 matrix, with yajl's streaming (SAX) parser.
 *
 * The design brief chose yajl's SAX parser for tensors: numbers go straight
 * from the text into float buffers, with no JSON tree in between (a tree of
 * 30 numbers is ~60 allocations; parsing it was half of a single-row
 * request's CPU).  The events build a small description of the request (id,
 * requested outputs, per input: name, datatype, shape, binary size and the
 * flattened values of `data`), then one validation step turns it into the
 * matrix exactly as the tree-based code did: the same checks, in the same
 * order, with the same messages.
 *
 * Strictness is jansson's: yajl rejects NaN/Infinity literals, control
 * characters in strings and trailing garbage; numbers are converted like
 * jansson's (an integer token with strtoll, anything else with strtod;
 * overflow is an error; an integer becomes a double, then a float).  Bodies
 * yajl would read more leniently take jansson's path instead, replayed as the
 * same events, so there is one meaning for both: a \u escape anywhere
 * (jansson rejects lone surrogates and \u0000), a byte past ASCII (yajl
 * checks only the pattern of UTF-8, not overlong forms), \v or \f (yajl's
 * whitespace), and a body that is a JSON string holding JSON (old clients).
 * A fuzz target (tests/fuzz/fuzz_serve_input.c) checks that both paths
 * agree.  Nesting is limited to max_depth, data
 * to 8 levels; duplicate keys: the last one wins, as in jansson.
 *
 * Memory: values are collected in growable buffers capped at
 * MW_ROWS_MAX_CELLS in all; the body itself is capped by the HTTP layer.
 */
#include "serve/serve_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#define MAX_INPUTS 4096
#define DATA_DEPTH 8

/* ------------------------------------------------------------ what the events build */

struct input {
	bool not_object;
	char *name, *dt;            /* NULL when missing or not a string */
	bool has_shape, shape_list; /* present; and a list */
	size_t ndims;               /* elements of the shape list */
	bool dims_bad;              /* an element not an integer in [0, MAX] */
	int64_t dims[2];
	bool has_bds, bds_int; /* parameters.binary_data_size present; an integer */
	int64_t bds;
	bool has_data;
	float *v; /* flattened data values (the first cap of them) */
	size_t nv, av;
	char *cell_err; /* the first bad value in data, or NULL */
	bool too_deep;
};

struct output {
	char *name;
	bool has_bd, bd;
};

enum role {
	R_SKIP,    /* a value nobody reads (and everything inside it) */
	R_ROOT,    /* the request object */
	R_INPUTS,  /* its inputs list */
	R_INPUT,   /* one input object */
	R_SHAPE,   /* an input's shape list */
	R_IPARAMS, /* an input's parameters */
	R_DATA,    /* a list in an input's data (any depth) */
	R_OUTPUTS, /* the outputs list */
	R_OUTPUT,  /* one output object */
	R_OPARAMS, /* an output's parameters */
	R_PARAMS,  /* the request's parameters */
	/* scalars */
	R_ID,
	R_NAME,
	R_DATATYPE,
	R_OUTNAME,
	R_SHAPE_ELEM,
	R_BDS,
	R_BD,
	R_BDO,
	R_VALUE, /* a value in data */
};

enum kind { V_SCALAR, V_MAP, V_ARRAY };

struct frame {
	enum role role;
	bool map;   /* a map (else a list) */
	int key;    /* the key whose value comes next in a map (enum key) */
	int ddepth; /* R_DATA: lists around it within data, data itself 0 */
};

enum key {
	K_OTHER,
	K_ID,
	K_INPUTS,
	K_OUTPUTS,
	K_PARAMETERS,
	K_NAME,
	K_DATATYPE,
	K_SHAPE,
	K_DATA,
	K_BDS,
	K_BD,
	K_BDO,
};

struct dec {
	/* the request as seen so far */
	char *id;
	bool has_inputs, inputs_list;
	struct input *in;
	size_t nin, ain;
	struct output *out;
	size_t nout, aout;
	bool bdo;
	/* parse state */
	struct frame *st; /* st[0..depth] */
	int depth, max_depth;
	int ddepth;       /* the data depth of the list being opened */
	bool string_body; /* the body is a JSON string: take jansson's path */
	yajl_handle h;    /* the streaming parser, NULL on jansson's path */
	size_t end;       /* yajl: the offset just after the root object */
	size_t values;    /* data values in all */
	struct mw_err *err;
	int rc; /* a decoding error, set with err */
};

static void input_free(struct input *in)
{
	free(in->name);
	free(in->dt);
	free(in->v);
	free(in->cell_err);
	memset(in, 0, sizeof *in);
}

static void dec_free(struct dec *d)
{
	free(d->id);
	for (size_t i = 0; i < d->nin; i++)
		input_free(&d->in[i]);
	free(d->in);
	for (size_t i = 0; i < d->nout; i++)
		free(d->out[i].name);
	free(d->out);
	free(d->st);
}

static struct input *cur_input(struct dec *d)
{
	return &d->in[d->nin - 1];
}

static struct output *cur_output(struct dec *d)
{
	return &d->out[d->nout - 1];
}

static void fail(struct dec *d, int code, const char *msg)
{
	if (!d->rc)
		d->rc = mw_err_set(d->err, code, "%s", msg);
}

/* ------------------------------------------------------------ data values */

static void data_value(struct dec *d, float v)
{
	struct input *in = cur_input(d);
	if (++d->values > MW_ROWS_MAX_CELLS) {
		char msg[80];
		snprintf(msg, sizeof msg, "the request has more than %u values",
			 (unsigned)MW_ROWS_MAX_CELLS);
		fail(d, MW_E_TOO_LARGE, msg);
		return;
	}
	if (in->nv == in->av) {
		in->av = in->av ? in->av * 2 : 64;
		in->v = mw_xrealloc(in->v, in->av * sizeof *in->v);
	}
	in->v[in->nv++] = v;
}

static void data_bad(struct dec *d, const char *what)
{
	struct input *in = cur_input(d);
	if (!in->cell_err) {
		char msg[128];
		snprintf(msg, sizeof msg, "value %.60s is not a number", what);
		in->cell_err = mw_xstrdup(msg);
	}
	data_value(d, NAN); /* it takes its place */
}

/* A value in data at depth dd (lists around it within data). */
static enum role data_role(struct dec *d, enum kind k, int dd)
{
	struct input *in = cur_input(d);
	if (in->too_deep)
		return R_SKIP;
	if (dd > DATA_DEPTH) {
		in->too_deep = true;
		return R_SKIP;
	}
	if (k == V_MAP) {
		data_bad(d, "{...}");
		return R_SKIP;
	}
	d->ddepth = dd;
	return k == V_ARRAY ? R_DATA : R_VALUE;
}

/* ------------------------------------------------------------ events */

/* A value of kind k is about to be seen in the current container: what it
 * is, and what its place means before its contents are known (new list
 * entries; a repeated key replaces what the earlier one said). */
static enum role begin_value(struct dec *d, enum kind k)
{
	if (d->depth < 0)
		return k == V_MAP ? R_ROOT : R_SKIP;
	struct frame *f = &d->st[d->depth];
	switch (f->role) {
	case R_ROOT:
		switch (f->key) {
		case K_INPUTS:
			for (size_t i = 0; i < d->nin; i++)
				input_free(&d->in[i]);
			d->nin = 0;
			d->values = 0;
			d->has_inputs = true;
			d->inputs_list = k == V_ARRAY;
			return k == V_ARRAY ? R_INPUTS : R_SKIP;
		case K_OUTPUTS:
			for (size_t i = 0; i < d->nout; i++)
				free(d->out[i].name);
			d->nout = 0;
			return k == V_ARRAY ? R_OUTPUTS : R_SKIP;
		case K_PARAMETERS:
			d->bdo = false;
			return k == V_MAP ? R_PARAMS : R_SKIP;
		case K_ID:
			free(d->id);
			d->id = NULL;
			return k == V_SCALAR ? R_ID : R_SKIP;
		default:
			return R_SKIP;
		}
	case R_INPUTS: {
		if (d->nin == MAX_INPUTS + 1)
			return R_SKIP; /* too many: refused when assembled */
		if (d->nin == d->ain) {
			d->ain = d->ain ? d->ain * 2 : 4;
			d->in = mw_xrealloc(d->in, d->ain * sizeof *d->in);
		}
		memset(&d->in[d->nin++], 0, sizeof *d->in);
		cur_input(d)->not_object = k != V_MAP;
		return k == V_MAP ? R_INPUT : R_SKIP;
	}
	case R_INPUT: {
		struct input *in = cur_input(d);
		switch (f->key) {
		case K_NAME:
			free(in->name);
			in->name = NULL;
			return k == V_SCALAR ? R_NAME : R_SKIP;
		case K_DATATYPE:
			free(in->dt);
			in->dt = NULL;
			return k == V_SCALAR ? R_DATATYPE : R_SKIP;
		case K_SHAPE:
			in->has_shape = true;
			in->shape_list = k == V_ARRAY;
			in->ndims = 0;
			in->dims_bad = false;
			return k == V_ARRAY ? R_SHAPE : R_SKIP;
		case K_PARAMETERS:
			in->has_bds = false;
			return k == V_MAP ? R_IPARAMS : R_SKIP;
		case K_DATA:
			in->has_data = true;
			in->nv = 0;
			free(in->cell_err);
			in->cell_err = NULL;
			in->too_deep = false;
			return data_role(d, k, 0);
		default:
			return R_SKIP;
		}
	}
	case R_SHAPE: {
		struct input *in = cur_input(d);
		in->ndims++;
		if (k != V_SCALAR)
			in->dims_bad = true;
		return k == V_SCALAR ? R_SHAPE_ELEM : R_SKIP;
	}
	case R_IPARAMS:
		if (f->key != K_BDS)
			return R_SKIP;
		cur_input(d)->has_bds = true;
		cur_input(d)->bds_int = false;
		return k == V_SCALAR ? R_BDS : R_SKIP;
	case R_DATA:
		return data_role(d, k, f->ddepth + 1);
	case R_OUTPUTS:
		if (d->nout == d->aout) {
			d->aout = d->aout ? d->aout * 2 : 4;
			d->out = mw_xrealloc(d->out, d->aout * sizeof *d->out);
		}
		memset(&d->out[d->nout++], 0, sizeof *d->out);
		return k == V_MAP ? R_OUTPUT : R_SKIP;
	case R_OUTPUT:
		if (f->key == K_NAME) {
			free(cur_output(d)->name);
			cur_output(d)->name = NULL;
			return k == V_SCALAR ? R_OUTNAME : R_SKIP;
		}
		if (f->key == K_PARAMETERS) {
			cur_output(d)->has_bd = false;
			return k == V_MAP ? R_OPARAMS : R_SKIP;
		}
		return R_SKIP;
	case R_OPARAMS:
		if (f->key != K_BD)
			return R_SKIP;
		cur_output(d)->has_bd = true;
		cur_output(d)->bd = false;
		return k == V_SCALAR ? R_BD : R_SKIP;
	case R_PARAMS:
		if (f->key != K_BDO)
			return R_SKIP;
		d->bdo = false;
		return k == V_SCALAR ? R_BDO : R_SKIP;
	default:
		return R_SKIP;
	}
}

static void root_scalar(struct dec *d, bool is_string)
{
	if (is_string)
		d->string_body = true; /* jansson's path unwraps it */
	else
		fail(d, MW_E_BAD_REQUEST, "Malformed request: body must be a JSON object");
}

/* A number, converted as jansson converts it. */
static void on_number(struct dec *d, double value, bool is_int, int64_t ival)
{
	if (d->depth < 0) {
		root_scalar(d, false);
		return;
	}
	switch (begin_value(d, V_SCALAR)) {
	case R_SHAPE_ELEM: {
		struct input *in = cur_input(d);
		if (!is_int || ival < 0 || ival > (int64_t)MW_ROWS_MAX_CELLS)
			in->dims_bad = true;
		else if (in->ndims <= 2)
			in->dims[in->ndims - 1] = ival;
		break;
	}
	case R_BDS:
		cur_input(d)->bds_int = is_int;
		cur_input(d)->bds = ival;
		break;
	case R_VALUE:
		data_value(d, (float)value);
		break;
	default:
		break;
	}
}

/* null (kind 0), a boolean (1) or a string (2). */
static void on_scalar(struct dec *d, int kind, bool truth, const char *s, size_t n)
{
	if (d->depth < 0) {
		root_scalar(d, kind == 2);
		return;
	}
	enum role r = begin_value(d, V_SCALAR);
	switch (r) {
	case R_VALUE:
		if (kind == 0 || (kind == 2 && !n)) {
			data_value(d, NAN);
		} else if (kind == 1) {
			data_value(d, truth ? 1.0f : 0.0f);
		} else {
			char small[64];
			char *buf = n < sizeof small ? small : mw_xmalloc(n + 1);
			memcpy(buf, s, n);
			buf[n] = 0;
			double v;
			if (strlen(buf) == n && !mw_parse_double(buf, &v)) {
				data_value(d, (float)v);
			} else {
				char q[80];
				snprintf(q, sizeof q, "\"%.60s\"", buf);
				data_bad(d, q);
			}
			if (buf != small)
				free(buf);
		}
		break;
	case R_SHAPE_ELEM:
		cur_input(d)->dims_bad = true;
		break;
	case R_BD:
		cur_output(d)->bd = kind == 1 && truth;
		break;
	case R_BDO:
		d->bdo = kind == 1 && truth;
		break;
	case R_ID:
		if (kind == 2)
			d->id = mw_xstrndup(s, n);
		break;
	case R_NAME:
		if (kind == 2)
			cur_input(d)->name = mw_xstrndup(s, n);
		break;
	case R_DATATYPE:
		if (kind == 2)
			cur_input(d)->dt = mw_xstrndup(s, n);
		break;
	case R_OUTNAME:
		if (kind == 2)
			cur_output(d)->name = mw_xstrndup(s, n);
		break;
	default:
		break;
	}
}

static void open_container(struct dec *d, bool map)
{
	if (d->depth < 0 && !map) {
		fail(d, MW_E_BAD_REQUEST, "Malformed request: body must be a JSON object");
		return;
	}
	if (d->depth + 1 >= d->max_depth) {
		char msg[80];
		snprintf(msg, sizeof msg, "Malformed request: JSON nesting deeper than %d levels",
			 d->max_depth);
		fail(d, MW_E_BAD_REQUEST, msg);
		return;
	}
	enum role r = begin_value(d, map ? V_MAP : V_ARRAY);
	d->depth++;
	d->st[d->depth] = (struct frame){.role = r,
					 .map = map,
					 .key = K_OTHER,
					 .ddepth = r == R_DATA ? d->ddepth : 0};
}

static void close_container(struct dec *d)
{
	d->depth--;
	if (d->depth < 0 && d->h)
		d->end = yajl_get_bytes_consumed(d->h); /* after its '}' */
}

static void on_key(struct dec *d, const char *k, size_t n)
{
	static const struct {
		const char *s;
		enum key k;
	} keys[] = {{"id", K_ID},
		    {"inputs", K_INPUTS},
		    {"outputs", K_OUTPUTS},
		    {"parameters", K_PARAMETERS},
		    {"name", K_NAME},
		    {"datatype", K_DATATYPE},
		    {"shape", K_SHAPE},
		    {"data", K_DATA},
		    {"binary_data_size", K_BDS},
		    {"binary_data", K_BD},
		    {"binary_data_output", K_BDO}};
	struct frame *f = &d->st[d->depth];
	f->key = K_OTHER;
	if (f->role == R_SKIP)
		return;
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		if (strlen(keys[i].s) == n && !memcmp(keys[i].s, k, n)) {
			f->key = keys[i].k;
			break;
		}
}

/* ------------------------------------------------------------ yajl's callbacks */

/* Each returns 0 to stop the parse once the request is known to be bad. */
static int go_on(struct dec *d)
{
	return !d->rc && !d->string_body;
}

static int y_null(void *ctx)
{
	on_scalar(ctx, 0, false, NULL, 0);
	return go_on(ctx);
}

static int y_bool(void *ctx, int b)
{
	on_scalar(ctx, 1, b != 0, NULL, 0);
	return go_on(ctx);
}

/* A number token as jansson reads it: an integer (no '.', 'e', 'E') with
 * strtoll, else a real with strtod; overflow is an error. */
static void number_token(struct dec *d, const char *s, size_t n, bool is_int)
{
	double v;
	if (!is_int && mw_json_fast_double(s, n, &v)) {
		on_number(d, v, false, 0);
		return;
	}
	char small[128];
	char *buf = n < sizeof small ? small : mw_xmalloc(n + 1);
	memcpy(buf, s, n);
	buf[n] = 0;
	char msg[120];
	errno = 0;
	if (is_int) {
		long long iv = strtoll(buf, NULL, 10);
		if (errno == ERANGE) {
			snprintf(msg, sizeof msg,
				 "Malformed JSON in request body: too big integer near '%.40s'",
				 buf);
			fail(d, MW_E_BAD_REQUEST, msg);
		} else {
			on_number(d, (double)iv, true, iv);
		}
	} else {
		v = strtod(buf, NULL);
		if (errno == ERANGE && v != 0) {
			snprintf(msg, sizeof msg,
				 "Malformed JSON in request body: real number overflow near '%.40s'",
				 buf);
			fail(d, MW_E_BAD_REQUEST, msg);
		} else {
			on_number(d, v, false, 0);
		}
	}
	if (buf != small)
		free(buf);
}

static int y_number(void *ctx, const char *s, size_t n)
{
	bool is_int = !memchr(s, '.', n) && !memchr(s, 'e', n) && !memchr(s, 'E', n);
	number_token(ctx, s, n, is_int);
	return go_on(ctx);
}

static int y_string(void *ctx, const unsigned char *s, size_t n)
{
	on_scalar(ctx, 2, false, (const char *)s, n);
	return go_on(ctx);
}

static int y_start_map(void *ctx)
{
	open_container(ctx, true);
	return go_on(ctx);
}

static int y_start_array(void *ctx)
{
	open_container(ctx, false);
	return go_on(ctx);
}

static int y_key(void *ctx, const unsigned char *k, size_t n)
{
	on_key(ctx, (const char *)k, n);
	return 1;
}

static int y_end(void *ctx)
{
	close_container(ctx);
	return 1;
}

static const yajl_callbacks callbacks = {
	.yajl_null = y_null,
	.yajl_boolean = y_bool,
	.yajl_number = y_number,
	.yajl_string = y_string,
	.yajl_start_map = y_start_map,
	.yajl_map_key = y_key,
	.yajl_end_map = y_end,
	.yajl_start_array = y_start_array,
	.yajl_end_array = y_end,
};

/* ------------------------------------------------------------ the fast path */

/* Most bodies are plain: ASCII strings without escapes, numbers, a few
 * levels of objects and lists.  This reader takes exactly those (strict
 * JSON, whitespace ' ', \t, \n, \r) and sends the same events yajl would;
 * at anything else (an escape, a byte past ASCII or a control character in a
 * string, a syntax error, a root that is not an object, anything after the
 * root) it gives up before deciding anything, and the body goes to yajl from
 * the start, so errors keep yajl's words.  It is only faster: yajl's lexer
 * and its callbacks were a third of a single-row request. */

static const char *skip_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

/* A string at p (after its opening quote) without escapes: its end quote,
 * or NULL. */
static const char *plain_string(const char *p, const char *e)
{
	for (; p < e; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			return p;
		if (c == '\\' || c < 0x20 || c >= 0x80)
			return NULL;
	}
	return NULL;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A number at p: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; its end,
 * or NULL. */
static const char *number_end(const char *p, const char *e, bool *is_int)
{
	*is_int = true;
	if (p < e && *p == '-')
		p++;
	if (p == e || !is_digit(*p))
		return NULL;
	if (*p == '0')
		p++;
	else
		p = mw_json_digits_end(p, e);
	if (p < e && *p == '.') {
		*is_int = false;
		if (++p == e || !is_digit(*p))
			return NULL;
		p = mw_json_digits_end(p, e);
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		*is_int = false;
		if (++p < e && (*p == '+' || *p == '-'))
			p++;
		if (p == e || !is_digit(*p))
			return NULL;
		while (p < e && is_digit(*p))
			p++;
	}
	return p;
}

static bool literal(const char *p, const char *e, const char *word, size_t n)
{
	return (size_t)(e - p) >= n && !memcmp(p, word, n);
}

/* true: read (d->rc holds what the events found wrong, if anything); false:
 * not a plain body, nothing decided (the caller starts again on yajl's path). */
static bool decode_plain(struct dec *d, const char *s, size_t len)
{
	const char *p = skip_ws(s, s + len), *e = s + len, *q;
	if (p == e || *p != '{')
		return false;
	for (;;) {
		/* a value at p */
		p = skip_ws(p, e);
		if (p == e)
			return false;
		switch (*p) {
		case '{':
		case '[': {
			bool map = *p++ == '{';
			open_container(d, map);
			if (!go_on(d))
				return true;
			p = skip_ws(p, e);
			if (p < e && *p == (map ? '}' : ']')) {
				p++;
				close_container(d);
				break; /* an empty container is a whole value */
			}
			if (map)
				goto key;
			continue;
		}
		case '"':
			if (!(q = plain_string(p + 1, e)))
				return false;
			on_scalar(d, 2, false, p + 1, (size_t)(q - p - 1));
			p = q + 1;
			break;
		case 't':
			if (!literal(p, e, "true", 4))
				return false;
			on_scalar(d, 1, true, NULL, 0);
			p += 4;
			break;
		case 'f':
			if (!literal(p, e, "false", 5))
				return false;
			on_scalar(d, 1, false, NULL, 0);
			p += 5;
			break;
		case 'n':
			if (!literal(p, e, "null", 4))
				return false;
			on_scalar(d, 0, false, NULL, 0);
			p += 4;
			break;
		default: {
			bool is_int;
			if (!(q = number_end(p, e, &is_int)))
				return false;
			number_token(d, p, (size_t)(q - p), is_int);
			p = q;
		}
		}
		if (!go_on(d))
			return true;
		/* after a value: a separator, or the ends of containers */
		for (;;) {
			p = skip_ws(p, e);
			if (d->depth < 0)
				return p == e; /* the root is closed: only whitespace may follow */
			if (p == e)
				return false;
			bool map = d->st[d->depth].map;
			if (*p == (map ? '}' : ']')) {
				p++;
				close_container(d);
				continue;
			}
			if (*p != ',')
				return false;
			p++;
			break;
		}
		if (!d->st[d->depth].map)
			continue;
	key:
		p = skip_ws(p, e);
		if (p == e || *p != '"' || !(q = plain_string(p + 1, e)))
			return false;
		on_key(d, p + 1, (size_t)(q - p - 1));
		p = skip_ws(q + 1, e);
		if (p == e || *p != ':')
			return false;
		p++;
	}
}

/* ------------------------------------------------------------ jansson's path */

/* Replay a parsed tree as the same events. */
static void replay(struct dec *d, json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		open_container(d, true);
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x)
		{
			if (d->rc)
				return;
			on_key(d, k, strlen(k));
			replay(d, x);
		}
		close_container(d);
		return;
	}
	case JSON_ARRAY:
		open_container(d, false);
		for (size_t i = 0; i < json_array_size(v) && !d->rc; i++)
			replay(d, json_array_get(v, i));
		close_container(d);
		return;
	case JSON_INTEGER:
		on_number(d, (double)json_integer_value(v), true, (int64_t)json_integer_value(v));
		return;
	case JSON_REAL:
		on_number(d, json_real_value(v), false, 0);
		return;
	case JSON_STRING:
		on_scalar(d, 2, false, json_string_value(v), json_string_length(v));
		return;
	case JSON_TRUE:
		on_scalar(d, 1, true, NULL, 0);
		return;
	case JSON_FALSE:
		on_scalar(d, 1, false, NULL, 0);
		return;
	default:
		on_scalar(d, 0, false, NULL, 0);
		return;
	}
}

/* ------------------------------------------------------------ the matrix */

static size_t dtype_size(const char *dt)
{
	static const struct {
		const char *n;
		size_t s;
	} t[] = {{"BOOL", 1},   {"UINT8", 1}, {"UINT16", 2}, {"UINT32", 4},
		 {"UINT64", 8}, {"INT8", 1},  {"INT16", 2},  {"INT32", 4},
		 {"INT64", 8},  {"FP32", 4},  {"FP64", 8}};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++)
		if (!strcmp(dt, t[i].n))
			return t[i].s;
	return 0;
}

static float from_binary(const char *dt, const unsigned char *p)
{
	union {
		float f;
		double d;
		int8_t i8;
		int16_t i16;
		int32_t i32;
		int64_t i64;
		uint8_t u8;
		uint16_t u16;
		uint32_t u32;
		uint64_t u64;
	} u;
	memcpy(&u, p, dtype_size(dt));
	if (!strcmp(dt, "FP32"))
		return u.f;
	if (!strcmp(dt, "FP64"))
		return (float)u.d;
	if (!strcmp(dt, "INT8"))
		return u.i8;
	if (!strcmp(dt, "INT16"))
		return u.i16;
	if (!strcmp(dt, "INT32"))
		return (float)u.i32;
	if (!strcmp(dt, "INT64"))
		return (float)u.i64;
	if (!strcmp(dt, "UINT8") || !strcmp(dt, "BOOL"))
		return u.u8;
	if (!strcmp(dt, "UINT16"))
		return u.u16;
	if (!strcmp(dt, "UINT32"))
		return (float)u.u32;
	return (float)u.u64;
}

struct span {
	const unsigned char *bin; /* the input's bytes in the binary part, or NULL */
	size_t elems, rows, cols;
};

/* An input's values into out[0..want): from its binary bytes or its data. */
static int values_of(const struct input *in, const struct span *sp, size_t want, float *out,
		     struct mw_err *err)
{
	if (sp->bin) {
		size_t es = dtype_size(in->dt);
		for (size_t k = 0; k < want; k++)
			out[k] = from_binary(in->dt, sp->bin + k * es);
		return 0;
	}
	if (in->too_deep)
		return mw_err_set(err, MW_E_INVALID, "tensor data nests too deep");
	if (in->cell_err)
		return mw_err_set(err, MW_E_INVALID, "%s", in->cell_err);
	if (in->nv > want)
		return mw_err_set(err, MW_E_INVALID, "tensor data has more values than its shape");
	if (in->nv != want)
		return mw_err_set(err, MW_E_INVALID,
				  "input '%s' has %zu values, its shape says %zu", in->name, in->nv,
				  want);
	if (out != in->v)
		memcpy(out, in->v, want * sizeof *out);
	return 0;
}

static int assemble(struct dec *d, const struct mw_rows_schema *sc, const unsigned char *bin,
		    size_t binlen, struct mw_v2_request *out, struct mw_err *err)
{
	for (size_t i = 0; i < d->nout; i++) {
		const char *on = d->out[i].name;
		if (!on || strcmp(on, "output-0"))
			return mw_err_set(err, MW_E_INVALID,
					  "unknown output '%.60s': the model has 'output-0'",
					  on ? on : "?");
	}
	bool binary_out = d->bdo;
	for (size_t i = 0; i < d->nout; i++)
		if (d->out[i].has_bd)
			binary_out = d->out[i].bd;
	size_t ni = d->nin;
	if (!d->has_inputs || !d->inputs_list || !ni)
		return mw_err_set(err, MW_E_INVALID, "'inputs' must be a non-empty list");
	if (ni > MAX_INPUTS)
		return mw_err_set(err, MW_E_INVALID, "too many inputs");
	struct span *sp = mw_xcalloc(ni, sizeof *sp);
	size_t off = 0;
	int rc = 0;
	for (size_t i = 0; i < ni && !rc; i++) {
		struct input *in = &d->in[i];
		if (in->not_object || !in->name || !in->dt || !in->shape_list) {
			rc = mw_err_set(err, MW_E_INVALID,
					"input %zu needs 'name', 'datatype' and 'shape'", i);
			break;
		}
		if (!dtype_size(in->dt)) {
			rc = mw_err_set(err, MW_E_INVALID,
					"input '%s': datatype %s is not supported for tabular models "
					"(use FP32, FP64, INT*, UINT* or BOOL)",
					in->name, in->dt);
			break;
		}
		if (in->ndims < 1 || in->ndims > 2) {
			rc = mw_err_set(err, MW_E_INVALID,
					"input '%s': shape must be [rows] or [rows, features]",
					in->name);
			break;
		}
		if (in->dims_bad) {
			rc = mw_err_set(err, MW_E_INVALID, "input '%s': bad shape", in->name);
			break;
		}
		sp[i].rows = (size_t)in->dims[0];
		sp[i].cols = in->ndims == 2 ? (size_t)in->dims[1] : 1;
		sp[i].elems = sp[i].rows * sp[i].cols;
		if ((sp[i].cols && sp[i].rows > MW_ROWS_MAX_CELLS / sp[i].cols) ||
		    sp[i].elems > MW_ROWS_MAX_CELLS) {
			rc = mw_err_set(err, MW_E_TOO_LARGE, "input '%s' is too large", in->name);
			break;
		}
		if (in->has_bds) {
			size_t sz = in->bds_int && in->bds >= 0 ? (size_t)in->bds : (size_t)-1;
			if (!in->bds_int || sz > binlen || off + sz > binlen ||
			    sz != sp[i].elems * dtype_size(in->dt)) {
				rc = mw_err_set(err, MW_E_INVALID,
						"input '%s': binary_data_size does not match the shape "
						"or the binary part of the body",
						in->name);
				break;
			}
			sp[i].bin = bin + off;
			off += sz;
		} else if (!in->has_data) {
			rc = mw_err_set(err, MW_E_INVALID, "input '%s' has no data", in->name);
			break;
		}
	}
	size_t nf = sc->nfeat;
	size_t rows = sp[0].rows;
	if (!rc) {
		if (ni == 1 && sp[0].cols == nf) {
			/* one [rows, features] input */
		} else if (ni == 1 && nf == 1 && sp[0].cols == 1) {
		} else if (ni > 1 || sp[0].cols == 1) {
			/* one [rows] input per feature */
			if (ni != nf)
				rc = mw_err_set(err, MW_E_INVALID,
						"the model takes %zu features: send one input of shape "
						"[rows, %zu] or %zu inputs of shape [rows]",
						nf, nf, nf);
			for (size_t i = 0; !rc && i < ni; i++)
				if (sp[i].rows != rows || sp[i].cols != 1)
					rc = mw_err_set(err, MW_E_INVALID,
							"input '%s': every per-feature input must have "
							"shape [%zu]",
							d->in[i].name, rows);
		} else {
			rc = mw_err_set(err, MW_E_INVALID,
					"input '%s' has %zu features per row, the model takes %zu",
					d->in[0].name, sp[0].cols, nf);
		}
	}
	float *x = NULL;
	if (!rc && ni == 1) {
		struct input *in = &d->in[0];
		if (!sp[0].bin && in->nv == sp[0].elems && in->v && !in->cell_err &&
		    !in->too_deep) {
			x = in->v; /* the values are the matrix: no copy */
			in->v = NULL;
		} else {
			x = mw_xmalloc((rows ? rows : 1) * (nf ? nf : 1) * sizeof(float));
			rc = values_of(in, &sp[0], sp[0].elems, x, err);
		}
	} else if (!rc) {
		/* per-feature inputs: by feature name when the model has names */
		x = mw_xmalloc((rows ? rows : 1) * (nf ? nf : 1) * sizeof(float));
		json_t *names = sc->feature_names;
		float *col = mw_xmalloc((rows ? rows : 1) * sizeof(float));
		for (size_t f = 0; !rc && f < nf; f++) {
			size_t src = f;
			if (json_array_size(names)) {
				const char *fn = json_string_value(json_array_get(names, f));
				src = ni;
				for (size_t i = 0; i < ni; i++)
					if (fn && !strcmp(d->in[i].name, fn))
						src = i;
				if (src == ni) {
					rc = mw_err_set(err, MW_E_INVALID,
							"missing input for feature '%s'",
							fn ? fn : "?");
					break;
				}
			}
			rc = values_of(&d->in[src], &sp[src], rows, col, err);
			for (size_t r = 0; !rc && r < rows; r++)
				x[r * nf + f] = col[r];
		}
		free(col);
	}
	free(sp);
	if (rc) {
		free(x);
		return rc;
	}
	out->rows.x = x;
	out->rows.rows = rows;
	out->rows.cols = nf;
	out->id = d->id;
	d->id = NULL;
	out->binary_out = binary_out;
	return 0;
}

/* ------------------------------------------------------------ the entry point */

/* Bodies yajl would read more leniently than jansson take jansson's path:
 * a \u escape (jansson refuses lone surrogates and \u0000), a byte past
 * ASCII (jansson refuses overlong and surrogate UTF-8, yajl only checks the
 * byte pattern), and \v or \f (whitespace to yajl, an error to jansson). */
static bool needs_tree(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c >= 0x80 || c == '\v' || c == '\f' ||
		    (c == '\\' && i + 1 < n && p[i + 1] == 'u'))
			return true;
	}
	return false;
}

static bool all_space(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return false;
	return true;
}

void mw_v2_request_release(struct mw_v2_request *r)
{
	free(r->rows.x);
	free(r->id);
	memset(r, 0, sizeof *r);
}

/* The body through jansson (strict about \u escapes), replayed. */
static int decode_tree(struct dec *d, const char *json, size_t len)
{
	json_t *body = mw_json_parse_body(json, len, d->max_depth, d->err);
	if (!body)
		return d->rc = -(d->err->code ? d->err->code : MW_E_BAD_REQUEST);
	d->depth = -1;
	replay(d, body);
	json_decref(body);
	return d->rc;
}

static void dec_init(struct dec *d, int max_depth, struct mw_err *err)
{
	*d = (struct dec){.max_depth = max_depth > 0 ? max_depth : 64, .depth = -1, .err = err};
	d->st = mw_xcalloc((size_t)d->max_depth + 2, sizeof *d->st);
}

/* The body through yajl's streaming parser. */
static int decode_stream(struct dec *d, const char *json, size_t len, int max_depth)
{
	struct mw_err *err = d->err;
	int rc = 0;
	yajl_handle h = yajl_alloc(&callbacks, NULL, d);
	d->h = h;
	yajl_status st = yajl_parse(h, (const unsigned char *)json, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	/* yajl takes an unfinished token after the root (`{}"`) for input
	 * still to come: only whitespace may follow the root */
	if (st == yajl_status_ok && !d->rc && !d->string_body &&
	    !all_space(json + d->end, len - d->end)) {
		char msg[120];
		snprintf(msg, sizeof msg,
			 "Malformed JSON in request body: trailing garbage (near byte %zu)",
			 d->end);
		fail(d, MW_E_BAD_REQUEST, msg);
	}
	if (d->string_body) {
		/* a JSON string holding JSON: jansson's path unwraps it */
		yajl_free(h);
		dec_free(d);
		dec_init(d, max_depth, err);
		return decode_tree(d, json, len);
	}
	if (st != yajl_status_ok && !d->rc) {
		unsigned char *m = yajl_get_error(h, 0, NULL, 0);
		size_t at = yajl_get_bytes_consumed(h);
		char *msg = (char *)m;
		size_t ml = msg ? strlen(msg) : 0;
		while (ml && (msg[ml - 1] == '\n' || msg[ml - 1] == ' '))
			msg[--ml] = 0;
		char where[32];
		snprintf(where, sizeof where, "%zu", at);
		rc = mw_err_set(err, MW_E_BAD_REQUEST,
				"Malformed JSON in request body: %.200s (near byte %s)",
				msg ? msg : "?", where);
		yajl_free_error(h, m);
	}
	yajl_free(h);
	d->h = NULL;
	return rc ? rc : d->rc;
}

int mw_v2_decode(const struct mw_rows_schema *sc, const char *json, size_t len,
		 const unsigned char *bin, size_t binlen, int max_depth, struct mw_v2_request *out,
		 struct mw_err *err)
{
	memset(out, 0, sizeof *out);
	struct dec d;
	dec_init(&d, max_depth, err);
	int rc = 0;
	if (decode_plain(&d, json, len)) {
		rc = d.rc;
	} else {
		/* events may have been sent: start again */
		dec_free(&d);
		dec_init(&d, max_depth, err);
		if (len && !all_space(json, len) && !needs_tree(json, len))
			rc = decode_stream(&d, json, len, max_depth);
		else if (len && !all_space(json, len))
			rc = decode_tree(&d, json, len);
	}
	if (!rc)
		rc = assemble(&d, sc, bin, binlen, out, err);
	dec_free(&d);
	return rc;
}
