/*
 * json.c - jansson, wrapped once.
 *
 * Request bodies are parsed strictly (jansson rejects NaN literals, invalid
 * UTF-8 and lone surrogates), after a linear pre-scan that caps nesting depth
 * far below jansson's built-in 2048.  Requests are protobuf-JSON messages:
 * the mw_req_* getters give every operation the same typing rules (numbers may
 * arrive as strings, doubles as "NaN"/"Infinity", lists as single values) and
 * the same error messages.
 */
#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int mw_json_depth(const char *p, size_t n, int cap)
{
	int depth = 0, max = 0;
	bool in_str = false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max) {
				max = depth;
				if (max > cap)
					return max;
			}
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return max;
}

static bool all_space(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return false;
	return true;
}

json_t *mw_json_parse_body(const char *p, size_t n, int max_depth, struct mw_err *err)
{
	if (n == 0 || all_space(p, n))
		return json_object();
	if (mw_json_depth(p, n, max_depth) > max_depth) {
		mw_err_set(err, MW_E_BAD_REQUEST,
			   "Malformed request: JSON nesting deeper than %d levels", max_depth);
		return NULL;
	}
	json_error_t je;
	json_t *v = json_loadb(p, n, JSON_DECODE_ANY, &je);
	if (!v && json_error_code(&je) == json_error_null_character) {
		mw_err_set(err, MW_E_INVALID,
			   "Invalid request: strings must not contain NUL characters (\\u0000), "
			   "line %d, column %d",
			   je.line, je.column);
		return NULL;
	}
	if (!v) {
		mw_err_set(err, MW_E_BAD_REQUEST, "Malformed JSON in request body: %s (line %d, column %d)",
			   je.text, je.line, je.column);
		return NULL;
	}
	if (json_is_string(v)) {
		/* old clients send the message as a JSON string holding JSON */
		const char *s = json_string_value(v);
		size_t sl = json_string_length(v);
		json_t *inner = NULL;
		if (mw_json_depth(s, sl, max_depth) <= max_depth)
			inner = json_loadb(s, sl, 0, &je);
		json_decref(v);
		v = inner;
		if (!v) {
			mw_err_set(err, MW_E_BAD_REQUEST,
				   "Malformed request: body is a string that is not a JSON object");
			return NULL;
		}
	}
	if (!json_is_object(v)) {
		json_decref(v);
		mw_err_set(err, MW_E_BAD_REQUEST, "Malformed request: body must be a JSON object");
		return NULL;
	}
	/* keys starting with \x01 are reserved for marks the server sets itself */
	const char *k;
	void *tmp;
	json_t *val;
	json_object_foreach_safe(v, tmp, k, val) {
		if (k[0] == '\x01')
			json_object_del(v, k);
	}
	return v;
}

char *mw_json_dump(const json_t *v, size_t *len)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(17) | JSON_ENCODE_ANY);
	if (!s)
		s = mw_xstrdup("{}");
	if (len)
		*len = strlen(s);
	return s;
}

void mw_json_str_append(struct mw_buf *b, const char *s)
{
	mw_buf_puts(b, "\"");
	const char *run = s;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p != '"' && *p != '\\' && *p >= 0x20)
			continue;
		mw_buf_append(b, run, (size_t)((const char *)p - run));
		if (*p == '"' || *p == '\\')
			mw_buf_printf(b, "\\%c", *p);
		else
			mw_buf_printf(b, "\\u%04x", *p);
		run = (const char *)p + 1;
	}
	mw_buf_puts(b, run);
	mw_buf_puts(b, "\"");
}

void mw_json_floats_append(struct mw_buf *b, const float *v, size_t n)
{
	char tmp[32];
	for (size_t i = 0; i < n; i++) {
		if (i)
			mw_buf_append(b, ",", 1);
		if (isfinite(v[i])) {
			int k = snprintf(tmp, sizeof tmp, "%.9g", (double)v[i]);
			mw_buf_append(b, tmp, (size_t)k);
		} else {
			mw_buf_append(b, "null", 4);
		}
	}
}

json_t *mw_json_double(double d)
{
	if (isnan(d))
		return json_string("NaN");
	if (isinf(d))
		return json_string(d > 0 ? "Infinity" : "-Infinity");
	return json_real(d);
}

/* ------------------------------------------------------------- getters */

static int missing(const char *field, struct mw_err *err)
{
	return mw_err_set(err, MW_E_INVALID, "Missing value for required parameter '%s'.", field);
}

static int bad_type(const char *field, const json_t *v, const char *want, struct mw_err *err)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	int rc = mw_err_set(err, MW_E_INVALID,
			    "Invalid value %.100s for parameter '%s' supplied: expected %s.",
			    s ? s : "?", field, want);
	free(s);
	return rc;
}

int mw_req_str(json_t *req, const char *field, bool required, size_t maxlen,
	       const char **out, struct mw_err *err)
{
	json_t *v = json_object_get(req, field);
	if (!v || json_is_null(v)) {
		if (required)
			return missing(field, err);
		return 0;
	}
	if (!json_is_string(v))
		return bad_type(field, v, "a string", err);
	const char *s = json_string_value(v);
	if (required && !*s)
		return missing(field, err);
	if (maxlen && json_string_length(v) > maxlen)
		return mw_err_set(err, MW_E_INVALID,
				  "Parameter '%s' is %zu characters long, over the limit of %zu.",
				  field, json_string_length(v), maxlen);
	*out = s;
	return 0;
}

int mw_req_int64(json_t *req, const char *field, bool required, int64_t *out, bool *present,
		 struct mw_err *err)
{
	if (present)
		*present = false;
	json_t *v = json_object_get(req, field);
	if (!v || json_is_null(v)) {
		if (required)
			return missing(field, err);
		return 0;
	}
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
	} else if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d != floor(d) || d < -9.2e18 || d > 9.2e18)
			return bad_type(field, v, "an integer", err);
		*out = (int64_t)d;
	} else if (json_is_string(v)) {
		if (mw_parse_int64(json_string_value(v), out))
			return bad_type(field, v, "an integer", err);
	} else {
		return bad_type(field, v, "an integer", err);
	}
	if (present)
		*present = true;
	return 0;
}

int mw_req_double(json_t *req, const char *field, bool required, double *out,
		  struct mw_err *err)
{
	json_t *v = json_object_get(req, field);
	if (!v || json_is_null(v)) {
		if (required)
			return missing(field, err);
		return 0;
	}
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return 0;
	}
	if (json_is_string(v) && !mw_parse_double(json_string_value(v), out))
		return 0;
	return bad_type(field, v, "a number", err);
}

int mw_req_bool(json_t *req, const char *field, bool *out, bool *present, struct mw_err *err)
{
	if (present)
		*present = false;
	json_t *v = json_object_get(req, field);
	if (!v || json_is_null(v))
		return 0;
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
	} else if (json_is_string(v) && !strcasecmp(json_string_value(v), "true")) {
		*out = true;
	} else if (json_is_string(v) && !strcasecmp(json_string_value(v), "false")) {
		*out = false;
	} else {
		return bad_type(field, v, "a boolean", err);
	}
	if (present)
		*present = true;
	return 0;
}

int mw_req_list(json_t *req, const char *field, json_t **out, struct mw_err *err)
{
	*out = NULL;
	json_t *v = json_object_get(req, field);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v) && !json_object_get(req, MW_REQ_FROM_QUERY))
		return bad_type(field, v, "a list", err);
	if (!json_is_array(v)) {
		json_t *a = json_array();
		json_array_append(a, v);
		json_object_set_new(req, field, a);
		v = a;
	}
	*out = v;
	return 0;
}
