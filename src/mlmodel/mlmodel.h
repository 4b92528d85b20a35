/*
 * mlmodel.h - MLflow's MLmodel file: parsing, the checks that tell whether a
 * model directory can be served, and its signature.
 *
 * A format module, like a codec: it knows MLflow's model layout and nothing of
 * mw's store, registry or runtimes, so the registry (refusing at
 * registration what could never serve, comparing signatures when an alias
 * moves) and serve (choosing a runtime) read MLmodel files the same way.
 *
 * Parsing: YAML (libyaml's event parser) into JSON: mappings become objects,
 * sequences arrays, scalars strings (no type guessing).  Anchors and aliases
 * are refused, nesting is capped at 64 levels and the text at
 * MW_MLMODEL_MAX_BYTES.  The document must be a mapping.
 *
 * Flavors mw serves: xgboost (natively when saved as JSON or UBJSON, else
 * through XGBoost in the Python runtime), sklearn, and python_function (any
 * loader module, in the Python runtime).  An MLmodel whose flavors are all
 * others (pytorch alone, say) cannot be served.
 */
#ifndef MW_MLMODEL_H
#define MW_MLMODEL_H

#include "core/core.h"

#define MW_MLMODEL_MAX_BYTES (1u << 20)

/* text[0..n) (need not be NUL-terminated) into a JSON object (*out, a new
 * reference).  MW_E_INVALID with a message naming the problem (and the YAML
 * line) for an empty text, bad YAML, a document that is not a mapping, or a
 * text over MW_MLMODEL_MAX_BYTES. */
int mw_mlmodel_parse(const char *text, size_t n, json_t **out, struct mw_err *err);

/* What a model directory holds at a relative path: MW_MLMODEL_NONE,
 * MW_MLMODEL_FILE or MW_MLMODEL_DIR. */
enum { MW_MLMODEL_NONE = 0, MW_MLMODEL_FILE = 1, MW_MLMODEL_DIR = 2 };
typedef int (*mw_mlmodel_has_fn)(void *ctx, const char *relpath);

/* Whether an MLmodel describes a model mw can serve: `flavors` is a mapping
 * with at least one flavor mw serves, and every file a served flavor names
 * (xgboost data, sklearn pickled_model, python_function data / model_path)
 * is a relative path without "..", present in the directory (has()).
 * MW_E_INVALID with the reason otherwise. */
int mw_mlmodel_check(json_t *mlmodel, mw_mlmodel_has_fn has, void *ctx, struct mw_err *err);

/* Whether serving the model runs code it brings (issue 11, "model code is
 * code"): a sklearn flavor (a pickle), a python_function flavor with a
 * python_model or cloudpickle_version (a custom Python model), with a
 * loader_module outside MLflow's own "mlflow." modules, or without an
 * xgboost flavor beside it (the Python runtime imports it), or an xgboost
 * data file that is a pickle (.pkl, .pickle, .joblib).  A native xgboost
 * model (its python_function loader mlflow.xgboost) does not. */
bool mw_mlmodel_runs_code(json_t *mlmodel);
/* Whether a file name is one the Python runtime would import or unpickle
 * (.py, .pkl, .pickle, .joblib, .cloudpickle). */
bool mw_mlmodel_code_file(const char *path);

/* The model's signature: {"inputs": [...], "outputs": [...], "params": [...]}
 * with each present part decoded from the JSON text MLflow stores it as
 * (a new reference), or NULL when the MLmodel has no signature. */
json_t *mw_mlmodel_signature(json_t *mlmodel);

/* How two signatures differ, for a person (malloc'd text, at most ~1 KiB), or
 * NULL when they are the same.  Column names, types and tensor shapes are
 * compared, in order; a signature against none is a difference too. */
char *mw_mlmodel_signature_diff(json_t *before, json_t *after);

#endif
