/*
 * registry.c - the model registry operations (placeholder until written).
 */
#include "registry/registry.h"

#include <stdlib.h>

struct mw_registry {
	struct mw_store *store;
	struct mw_blob *blob;
};

int mw_registry_new(struct mw_store *store, struct mw_blob *blob, struct mw_registry **out,
		    struct mw_err *err)
{
	(void)err;
	struct mw_registry *r = mw_xcalloc(1, sizeof *r);
	r->store = store;
	r->blob = blob;
	*out = r;
	return 0;
}

void mw_registry_free(struct mw_registry *r)
{
	free(r);
}
