/*
 * xgb.h - a native evaluator for XGBoost tree models (gbtree and dart).
 *
 * mw_xgb_load reads a model saved by XGBoost's save_model, as JSON or as
 * UBJSON (told apart by the bytes after the opening '{'), in the 1.7 layout
 * or the 2.x one, checks every index in it, and flattens its trees into one
 * contiguous node array.  mw_xgb_predict then evaluates rows of float32
 * features with the same float32 arithmetic, in the same order, as XGBoost's
 * CPU predictor, so its outputs match booster.predict() (see docs/xgboost.md
 * for the exact semantics and the documented limits below).
 *
 * Invariants:
 *  - a loaded model is immutable: every function taking a const model is
 *    thread-safe and any number of threads may predict at once (no shared
 *    mutable state, no allocation in the common case);
 *  - a model that loads can never make prediction read out of bounds: every
 *    child, feature and category index was checked at load, every node is
 *    reached by exactly one path from its root (no cycles, no sharing);
 *  - nothing here knows about HTTP, servers or the registry: this is a
 *    library the serving runtime wraps.
 *
 * Errors: MW_E_INVALID for a malformed or corrupt model, a model over a
 * limit, or bad prediction arguments (wrong feature count, overflowing
 * sizes); MW_E_NOT_IMPLEMENTED for a well-formed model that uses something
 * this evaluator does not support (gblinear, vector-leaf trees, an unknown
 * objective); MW_E_IO / MW_E_NOT_FOUND from mw_xgb_load_file.
 *
 * Ownership: mw_xgb_load* return a model the caller frees with mw_xgb_free;
 * strings and arrays returned by the getters are borrowed from the model and
 * live as long as it does.
 */
#ifndef MW_XGB_H
#define MW_XGB_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

/* Documented limits; a model over any of them is rejected with MW_E_INVALID. */
#define MW_XGB_MAX_BYTES ((size_t)1 << 30)   /* model file size */
#define MW_XGB_MAX_NESTING 32                /* JSON/UBJSON container depth */
#define MW_XGB_MAX_TREES 1000000             /* trees in a model */
#define MW_XGB_MAX_NODES (1L << 24)          /* nodes, all trees together */
#define MW_XGB_MAX_FEATURES (1L << 24)       /* num_feature */
#define MW_XGB_MAX_GROUPS 65536              /* num_class / num_target */
#define MW_XGB_MAX_CAT_WORDS (1L << 24)      /* 32-bit words of category sets */

struct mw_xgb;

/* Load a model from memory (JSON or UBJSON).  buf need not be NUL-terminated
 * and is not kept. */
int mw_xgb_load(const void *buf, size_t len, struct mw_xgb **out, struct mw_err *err);
/* Read a model file (at most MW_XGB_MAX_BYTES) and load it. */
int mw_xgb_load_file(const char *path, struct mw_xgb **out, struct mw_err *err);
void mw_xgb_free(struct mw_xgb *m);

/* Number of feature columns every row must have (learner num_feature). */
size_t mw_xgb_num_features(const struct mw_xgb *m);
/* Floats mw_xgb_predict writes per row: with margin, the number of output
 * groups (num_class, num_target, or 1); without, the same except for
 * multi:softmax, which gives 1 (the class index). */
size_t mw_xgb_num_outputs(const struct mw_xgb *m, bool margin);
size_t mw_xgb_num_trees(const struct mw_xgb *m);
/* "binary:logistic", ... as named in the model. */
const char *mw_xgb_objective(const struct mw_xgb *m);
/* "gbtree" or "dart". */
const char *mw_xgb_booster(const struct mw_xgb *m);
/* Feature names and types ("float", "int", "i", "q", "c"), arrays of
 * mw_xgb_num_features strings, or NULL when the model has none. */
const char *const *mw_xgb_feature_names(const struct mw_xgb *m);
const char *const *mw_xgb_feature_types(const struct mw_xgb *m);
/* True when some split is categorical (feature values are category codes). */
bool mw_xgb_has_categorical(const struct mw_xgb *m);
/* The XGBoost version that saved the model ({0,0,0} when not recorded). */
void mw_xgb_version(const struct mw_xgb *m, int version[3]);
/* base_score as stored (probability space) for output group g. */
float mw_xgb_base_score(const struct mw_xgb *m, size_t g);

/* Predict nrows rows of ncols features (row-major float32; NaN means
 * missing).  ncols must equal mw_xgb_num_features.  out receives
 * nrows * mw_xgb_num_outputs(m, margin) floats, row-major.  With margin the
 * raw sums (base_score in margin space plus leaf values) are returned, as
 * XGBoost's output_margin=True does; otherwise the objective's transform is
 * applied.  nrows may be 0.  Thread-safe. */
int mw_xgb_predict(const struct mw_xgb *m, const float *rows, size_t nrows, size_t ncols,
		   float *out, bool margin, struct mw_err *err);

/* The same, with a batch that is big enough (mw_xgb_pool_pays) split
 * across the threads of pool (core/core.h's parallel for) and the calling
 * thread: into an even share per thread, in whole groups of 8 rows and at
 * most one block of 64 (fewer for very wide models), each evaluated exactly
 * as mw_xgb_predict evaluates a batch of those rows.  A row's result never
 * depends on the rows batched with it, so the outputs are bit-identical to
 * mw_xgb_predict's for any pool, thread count and batch.  Other batches, a
 * NULL or one-thread pool, and a pool busy with another caller's job run on
 * the calling thread.  Same arguments, errors and thread-safety as
 * mw_xgb_predict; nothing more is allocated. */
int mw_xgb_predict_pool(const struct mw_xgb *m, struct mw_pool *pool, const float *rows,
			size_t nrows, size_t ncols, float *out, bool margin, struct mw_err *err);
/* The threshold.  mw_xgb_predict_pool splits a batch when pool has two
 * threads or more and the batch has at least mw_xgb_pool_min_rows(m, false)
 * rows, or at least mw_xgb_pool_min_rows(m, true) while the pool is hot
 * (mw_pool_hot: a worker is awake, or calls come back to back; waking a
 * sleeping worker costs tens of microseconds).  Those are the rows that
 * make MW_XGB_POOL_MIN_WORK_COLD and MW_XGB_POOL_MIN_WORK walk steps, and
 * at least 16.  A row costs the sum of the trees' depths plus the number of
 * features splits use, plus 1: 631 steps for 100 trees of depth 6 on 30
 * features, so 831 rows cold and 16 rows hot. */
#define MW_XGB_POOL_MIN_WORK 8192
#define MW_XGB_POOL_MIN_WORK_COLD 524288
size_t mw_xgb_pool_min_rows(const struct mw_xgb *m, bool hot);
/* Whether mw_xgb_predict_pool would split a batch of nrows rows now (asks
 * mw_pool_hot, which counts as a call). */
bool mw_xgb_pool_pays(const struct mw_xgb *m, struct mw_pool *pool, size_t nrows);

#endif
