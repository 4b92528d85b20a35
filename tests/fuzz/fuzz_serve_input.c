/*
 * fuzz_serve_input.c - libFuzzer target for the inference input parsers of
 * serve/: the V2 request decoder (v2.c: its plain reader, yajl's streaming
 * path and jansson's) and the row parser (rows.c: MLflow's JSON forms and CSV).
 *
 * The first byte picks the parser and the model's shape (1 to 4 features,
 * with or without feature names); the rest is the body (for V2, the bytes
 * after the JSON part's first NUL are its binary part).
 *
 * Invariants checked (abort on violation):
 *  - a parser returns 0 with a matrix of rows x nfeat values, or one of its
 *    documented errors (MW_E_INVALID, MW_E_BAD_REQUEST for malformed JSON,
 *    MW_E_TOO_LARGE) with a message;
 *  - V2: a body decoded as written (the plain reader, or yajl's streaming
 *    path when it has escapes) gives exactly what yajl's path gives for the
 *    same body with an unread "\t" key added, and what jansson's path gives
 *    with an unread \u-escaped key added (the same matrix bit for bit, id
 *    and output form, or the same error).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"

static json_t *names;

static void check(int rc, const struct mw_err *err, const struct mw_rows *r, size_t nf)
{
	if (!rc) {
		if (!r->x || r->cols != nf || (nf && r->rows > MW_ROWS_MAX_CELLS / nf))
			abort();
		return;
	}
	if ((rc != -MW_E_INVALID && rc != -MW_E_BAD_REQUEST && rc != -MW_E_TOO_LARGE) ||
	    err->code != -rc || !err->msg[0])
		abort();
}

static void v2(const struct mw_rows_schema *sc, const char *p, size_t n)
{
	const char *nul = memchr(p, 0, n);
	size_t jlen = nul ? (size_t)(nul - p) : n;
	const unsigned char *bin = nul ? (const unsigned char *)nul + 1 : NULL;
	size_t blen = nul ? n - jlen - 1 : 0;
	struct mw_v2_request a = {0}, b = {0};
	struct mw_err ea = {0}, eb = {0};
	int ra = mw_v2_decode(sc, p, jlen, bin, blen, 64, &a, &ea);
	check(ra, &ea, &a.rows, sc->nfeat);
	static const char *const keys[] = {"\"\\u0078\":1", "\"\\t\":1"};
	for (size_t ki = 0; ki < 2 && jlen && p[0] == '{' && !memmem(p, jlen, "\\u", 2); ki++) {
		/* the same object with a key only jansson's (or yajl's) path parses */
		size_t kl = strlen(keys[ki]), k = 1;
		while (k < jlen && (p[k] == ' ' || p[k] == '\t' || p[k] == '\n' || p[k] == '\r'))
			k++;
		bool empty = k < jlen && p[k] == '}'; /* {} : no comma after the new key */
		char *q = malloc(jlen + kl + 2);
		q[0] = '{';
		memcpy(q + 1, keys[ki], kl);
		size_t add = kl;
		if (!empty)
			q[1 + add++] = ',';
		memcpy(q + 1 + add, p + 1, jlen - 1);
		size_t qlen = jlen + add;
		int rb = mw_v2_decode(sc, q, qlen, bin, blen, 64, &b, &eb);
		/* both refuse malformed JSON, with their parser's words */
		if (!(ra == -MW_E_BAD_REQUEST && rb == -MW_E_BAD_REQUEST)) {
			if (ra != rb || (ra && strcmp(ea.msg, eb.msg)))
				abort();
			if (!ra && (a.rows.rows != b.rows.rows || a.binary_out != b.binary_out ||
				    memcmp(a.rows.x, b.rows.x,
					   a.rows.rows * a.rows.cols * sizeof(float)) ||
				    (!a.id != !b.id) || (a.id && strcmp(a.id, b.id))))
				abort();
		}
		free(q);
		mw_v2_request_release(&b);
		memset(&b, 0, sizeof b);
		memset(&eb, 0, sizeof eb);
	}
	mw_v2_request_release(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!names)
		names = json_pack("[s,s,s,s]", "a", "b", "c", "d");
	if (size < 1)
		return 0;
	unsigned sel = data[0];
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	struct mw_rows_schema sc = {.nfeat = 1 + (sel >> 2) % 4};
	json_t *fn = NULL;
	if (sel & 16) {
		fn = json_array();
		for (size_t i = 0; i < sc.nfeat; i++)
			json_array_append(fn, json_array_get(names, i));
		sc.feature_names = fn;
	}
	struct mw_err err = {0};
	struct mw_rows r = {0};
	switch (sel & 3) {
	case 0:
	case 1:
		v2(&sc, p, n);
		break;
	case 2: {
		json_t *body = mw_json_parse_body(p, n, 64, &err);
		if (body) {
			int rc = mw_rows_from_json(&sc, body, &r, &err);
			check(rc, &err, &r, sc.nfeat);
			json_decref(body);
		}
		break;
	}
	default: {
		int rc = mw_rows_from_csv(&sc, p, n, &r, &err);
		check(rc, &err, &r, sc.nfeat);
		break;
	}
	}
	free(r.x);
	json_decref(fn);
	return 0;
}
