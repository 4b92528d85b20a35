/*
 * serve_int.h - private to serve/: helpers shared by the serve files.
 */
#ifndef MW_SERVE_INT_H
#define MW_SERVE_INT_H

#include "serve/serve.h"

/* Read a YAML file (an MLflow MLmodel) into JSON: mappings become objects,
 * sequences arrays, scalars strings.  Capped at 1 MiB and 64 levels. */
int mw_mlmodel_load(const char *path, json_t **out, struct mw_err *err);

/* The runtime for a model directory and its MLmodel (NULL when none), and
 * the model file it should load (malloc'd, may be NULL). */
const struct mw_rt_ops *mw_serve_pick_runtime(const char *dir, json_t *mlmodel, char **file,
					      struct mw_err *err);

#endif
