/*
 * fuzz_artpath.c - libFuzzer target for the artifact path rules (art/art.c).
 *
 * The input, NUL-terminated, goes through mw_art_path_normalize (with and
 * without allow_empty) and through mw_art_uri_to_path, both as it is and
 * behind the "mlflow-artifacts:/" scheme.  Every output that is accepted must
 * be confined: no "." or ".." segment, no empty segment ("//", leading or
 * trailing "/"), no control character, no backslash, no percent-encoded
 * '.', '/', '\' or NUL, at most MW_ART_MAX_PATH bytes, valid UTF-8, empty
 * only when allowed; and normalising it again gives the same string
 * (idempotent).  Any violation aborts.  ASan reports reads past the input
 * and leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "art/art.h"

static void check_confined(const char *o, bool allow_empty)
{
	size_t n = strlen(o);

	if (n == 0) {
		if (!allow_empty)
			abort();
		return;
	}
	if (n > MW_ART_MAX_PATH)
		abort();
	if (o[0] == '/' || o[n - 1] == '/' || strstr(o, "//"))
		abort();
	if (!mw_utf8_valid(o, n))
		abort();
	for (const char *p = o; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f || c == '\\')
			abort();
		if (c == '%' && p[1] && p[2]) {
			char h[3] = {p[1], p[2], 0};
			if (!strcasecmp(h, "2e") || !strcasecmp(h, "2f") || !strcasecmp(h, "5c") ||
			    !strcasecmp(h, "00"))
				abort();
		}
	}
	for (const char *seg = o; seg;) {
		const char *e = strchr(seg, '/');
		size_t sl = e ? (size_t)(e - seg) : strlen(seg);
		if (sl == 0)
			abort();
		if (sl == 1 && seg[0] == '.')
			abort();
		if (sl == 2 && seg[0] == '.' && seg[1] == '.')
			abort();
		seg = e ? e + 1 : NULL;
	}
}

/* o was accepted: it must be confined, and a fixed point of normalisation. */
static void check_output(const char *o, bool allow_empty)
{
	struct mw_err err = {0};
	char *again = NULL;

	check_confined(o, allow_empty);
	if (mw_art_path_normalize(o, allow_empty, &again, &err) != 0)
		abort();
	if (strcmp(again, o) != 0)
		abort();
	free(again);
}

static void try_normalize(const char *s, bool allow_empty)
{
	struct mw_err err = {0};
	char *out = NULL;
	int rc = mw_art_path_normalize(s, allow_empty, &out, &err);

	if (rc == 0) {
		if (!out)
			abort();
		check_output(out, allow_empty);
		free(out);
	} else if (rc > 0 || out != NULL || err.msg[0] == '\0') {
		abort(); /* failures are negative, fill err and allocate nothing */
	}
}

static void try_uri(const char *s)
{
	struct mw_err err = {0};
	char *out = NULL;
	int rc = mw_art_uri_to_path(s, &out, &err);

	if (rc == 0) {
		if (!out)
			abort();
		check_output(out, true);
		free(out);
	} else if (rc > 0 || out != NULL || err.msg[0] == '\0') {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char scheme[] = "mlflow-artifacts:/";
	char *s = malloc(size + 1);
	char *u = malloc(sizeof scheme + size);

	memcpy(s, data, size);
	s[size] = '\0';
	memcpy(u, scheme, sizeof scheme - 1);
	memcpy(u + sizeof scheme - 1, data, size);
	u[sizeof scheme - 1 + size] = '\0';

	try_normalize(s, false);
	try_normalize(s, true);
	try_uri(s);
	try_uri(u);

	free(u);
	free(s);
	return 0;
}
