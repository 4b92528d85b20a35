/*
 * fuzz_xgb.c - libFuzzer target for the XGBoost model loader (xgb/).
 *
 * The input is a model file, JSON or UBJSON (the loader sniffs which).  It
 * goes through mw_xgb_load; when that succeeds and the model has at most
 * MAX_FEATURES features, a fixed set of rows (NaN, infinities, zeros,
 * category-like integers, huge values) is predicted one row at a time and as
 * a batch of 9 (which takes the lockstep block path), with and without
 * margins.
 *
 * Invariants checked (abort on violation):
 *  - load returns 0 with a model, or a negative code equal to -err.code with
 *    a message and no model;
 *  - the model's counts are sane (features >= 1, outputs >= 1);
 *  - prediction of well-formed rows succeeds;
 *  - a row predicted alone gives the same bytes as in the batch.
 * Memory safety (no read past the input, no out-of-bounds walk) is checked
 * by ASan/UBSan, which the fuzz build enables.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "xgb/xgb.h"

#define MAX_FEATURES 4096
#define NROWS 9

static const float values[] = { NAN, 0.0f, 1.0f, -1.0f, 0.5f, 2.0f, 3.7f, 1e30f,
				-INFINITY, INFINITY, 16777216.0f, -0.0f, 7.0f };
#define NVALUES (sizeof values / sizeof *values)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mw_err err = { 0 };
	struct mw_xgb *m = NULL;
	int rc = mw_xgb_load(data, size, &m, &err);
	if (rc != 0) {
		if (m || rc != -err.code || err.code <= 0 || !err.msg[0])
			abort();
		return 0;
	}
	if (!m)
		abort();
	size_t nf = mw_xgb_num_features(m);
	size_t nmargin = mw_xgb_num_outputs(m, true), nout = mw_xgb_num_outputs(m, false);
	if (nf < 1 || nmargin < 1 || nout < 1 || nout > nmargin)
		abort();
	if (nf <= MAX_FEATURES && nmargin <= 1024) {
		float *rows = mw_xmalloc(NROWS * nf * sizeof *rows);
		float *batch = mw_xmalloc(NROWS * nmargin * sizeof *batch);
		float *one = mw_xmalloc(nmargin * sizeof *one);
		for (size_t i = 0; i < NROWS * nf; i++)
			rows[i] = values[(i * 7 + i / nf) % NVALUES];
		for (int margin = 0; margin < 2; margin++) {
			size_t k = margin ? nmargin : nout;
			if (mw_xgb_predict(m, rows, NROWS, nf, batch, margin, &err))
				abort();
			for (size_t r = 0; r < NROWS; r++) {
				if (mw_xgb_predict(m, rows + r * nf, 1, nf, one, margin, &err))
					abort();
				if (memcmp(one, batch + r * k, k * sizeof *one) != 0)
					abort();
			}
		}
		free(rows);
		free(batch);
		free(one);
	}
	mw_xgb_free(m);
	return 0;
}
