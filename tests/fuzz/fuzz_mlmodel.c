/*
 * fuzz_mlmodel.c - libFuzzer target for MLmodel files: any bytes through the
 * YAML parser, then the serveability check against a directory that holds
 * whatever the text names, and the signature decoder and comparison.
 */
#include "mlmodel/mlmodel.h"

#include <stdint.h>
#include <stdlib.h>

static int has_all(void *ctx, const char *rel)
{
	(void)ctx;
	return rel[0] == 'd' ? MW_MLMODEL_DIR : MW_MLMODEL_FILE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = NULL;
	struct mw_err err = {0};
	if (mw_mlmodel_parse((const char *)data, size, &doc, &err))
		return 0;
	mw_mlmodel_check(doc, has_all, NULL, &err);
	json_t *sig = mw_mlmodel_signature(doc);
	char *d = mw_mlmodel_signature_diff(sig, NULL);
	free(d);
	d = mw_mlmodel_signature_diff(sig, sig);
	free(d);
	json_decref(sig);
	json_decref(doc);
	return 0;
}
