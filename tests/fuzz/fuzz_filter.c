/*
 * fuzz_filter.c - libFuzzer target for the search grammar (search/filter.c).
 *
 * The input, NUL-terminated, is parsed as a filter for every search entity,
 * as an order_by entry for every entity and as a page token.  Each parse gets
 * a fresh arena that is freed afterwards, so ASan reports any read past the
 * input or any leak outside the arena.  Successful parses are checked for
 * the invariants the stores rely on (bounded counts, non-NULL keys, lists
 * only with IN / NOT IN).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "search/search.h"

static void check_filter(const struct mw_filter *f)
{
	size_t i, j;

	if (f->n > 200)
		abort();
	for (i = 0; i < f->n; i++) {
		const struct mw_clause *c = &f->c[i];
		bool listy = c->cmp == MW_CMP_IN || c->cmp == MW_CMP_NOT_IN;
		if (!c->key || c->key[0] == '\0')
			abort();
		if (listy != (c->list != NULL) || (listy && (c->nlist == 0 || c->nlist > 1000)))
			abort();
		if (!listy && !c->is_num && !c->str)
			abort();
		for (j = 0; j < c->nlist; j++)
			if (!c->list[j])
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum mw_search_entity ents[] = {
		MW_SEARCH_RUNS, MW_SEARCH_EXPERIMENTS, MW_SEARCH_LOGGED_MODELS,
		MW_SEARCH_REGISTERED_MODELS, MW_SEARCH_MODEL_VERSIONS,
	};
	char *s = malloc(size + 1);
	struct mw_err err;
	int64_t off;
	size_t i;

	memcpy(s, data, size);
	s[size] = '\0';
	for (i = 0; i < sizeof ents / sizeof ents[0]; i++) {
		struct mw_arena *a = mw_arena_new(0);
		struct mw_filter f;
		struct mw_order o;
		if (mw_filter_parse(ents[i], s, a, &f, &err) == 0)
			check_filter(&f);
		if (mw_order_parse(ents[i], s, a, &o, &err) == 0 && !o.key)
			abort();
		mw_arena_free(a);
	}
	(void)mw_page_token_decode(s, &off, &err);
	free(s);
	return 0;
}
