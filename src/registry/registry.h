/*
 * registry.h - the warehouse: registered models, versions, aliases and
 * stages, model cards, lineage and promotion history.
 *
 * Operations follow track/'s pattern: a request message in, a response
 * message out, both jansson objects in MLflow's protobuf-JSON shape (the
 * native operations use the shapes documented in docs/api/registry.md).
 * The API layer puts the caller's identity into the message under
 * MW_REQ_USER before calling.
 *
 * Ownership: req is borrowed; *resp is a new reference set only on success.
 */
#ifndef MW_REGISTRY_H
#define MW_REGISTRY_H

#include "blob/blob.h"
#include "core/core.h"
#include "store/store.h"

struct mw_registry;

int mw_registry_new(struct mw_store *store, struct mw_blob *blob, struct mw_registry **out,
		    struct mw_err *err);
void mw_registry_free(struct mw_registry *r);

typedef int (*mw_registry_op)(struct mw_registry *r, json_t *req, json_t **resp,
			      struct mw_err *err);

/* (the operations are declared below by the registry's author) */

#endif
