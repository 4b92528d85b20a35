/*
 * rt_xgboost.c - the native XGBoost runtime: xgb/ evaluates JSON and UBJSON
 * models in-process, with no Python and no copy of the batch.
 *
 * V2 metadata: one input "input-0" FP32 [-1, num_features] (or one [-1]
 * input per named feature is accepted by the API layer when the model has
 * feature names), one output "output-0" FP32 [-1, outputs].
 */
#include "serve/serve_int.h"

#include "xgb/xgb.h"

#include <stdlib.h>
#include <string.h>

/* A loaded model and the server's pool, which splits large batches across
 * cores (mw_xgb_predict_pool decides when that pays). */
struct xm {
	struct mw_xgb *m;
	struct mw_pool *pool;
};

/* The model file as the model names it: relative to its directory. */
static const char *rel_of(const struct mw_rt_spec *spec)
{
	size_t n = strlen(spec->dir);
	if (!strncmp(spec->file, spec->dir, n) && spec->file[n] == '/')
		return spec->file + n + 1;
	const char *slash = strrchr(spec->file, '/');
	return slash ? slash + 1 : spec->file;
}

/* A load error without the absolute path (the data directory's layout is
 * nobody's business) and without why a file could not be opened. */
static int load_error(const struct mw_rt_spec *spec, int rc, struct mw_err *err)
{
	const char *rel = rel_of(spec);
	if (rc == -MW_E_IO || rc == -MW_E_NOT_FOUND)
		return mw_err_set(err, MW_E_INVALID, "cannot read the model file '%.200s'", rel);
	char msg[sizeof err->msg];
	size_t k = 0, fl = strlen(spec->file);
	for (const char *c = err->msg; *c && k + 1 < sizeof msg;) {
		if (fl && !strncmp(c, spec->file, fl)) {
			k += (size_t)snprintf(msg + k, sizeof msg - k, "'%.200s'", rel);
			if (k >= sizeof msg)
				k = sizeof msg - 1;
			c += fl;
		} else {
			msg[k++] = *c++;
		}
	}
	msg[k] = 0;
	return mw_err_set(err, -rc, "%s", msg);
}

static int xgb_load(const struct mw_rt_spec *spec, void **model, struct mw_err *err)
{
	if (!spec->file)
		return mw_err_set(err, MW_E_INVALID,
				  "no XGBoost model file in the model directory");
	struct mw_xgb *m;
	int rc = mw_xgb_load_file(spec->file, &m, err);
	if (rc)
		return load_error(spec, rc, err);
	size_t nf = mw_xgb_num_features(m), no = mw_xgb_num_outputs(m, false);
	if (nf > MW_SERVE_MAX_FEATURES || no > MW_SERVE_MAX_OUTPUTS) {
		mw_xgb_free(m);
		return mw_err_set(err, MW_E_INVALID,
				  "the model has %zu features and %zu outputs per row; mw serves at "
				  "most %u and %u",
				  nf, no, MW_SERVE_MAX_FEATURES, MW_SERVE_MAX_OUTPUTS);
	}
	struct xm *x = mw_xmalloc(sizeof *x);
	x->m = m;
	x->pool = spec->pool;
	*model = x;
	return 0;
}

static int xgb_describe(void *model, json_t **out, struct mw_err *err)
{
	(void)err;
	struct mw_xgb *m = ((struct xm *)model)->m;
	size_t nf = mw_xgb_num_features(m), no = mw_xgb_num_outputs(m, false);
	json_t *o = json_pack("{s:[{s:s,s:s,s:[i,I]}],s:[{s:s,s:s,s:[i,I]}],s:I,s:I,s:s,s:s}",
			      "inputs", "name", "input-0", "datatype", "FP32", "shape", -1,
			      (json_int_t)nf, "outputs", "name", "output-0", "datatype", "FP32",
			      "shape", -1, (json_int_t)no, "features", (json_int_t)nf,
			      "outputs_per_row", (json_int_t)no, "objective", mw_xgb_objective(m),
			      "booster", mw_xgb_booster(m));
	const char *const *names = mw_xgb_feature_names(m);
	if (names) {
		json_t *a = json_array();
		for (size_t i = 0; i < nf; i++)
			json_array_append_new(a, json_string(names[i] ? names[i] : ""));
		json_object_set_new(o, "feature_names", a);
	}
	*out = o;
	return 0;
}

static int xgb_predict(void *model, const float *x, size_t rows, size_t cols, float *y,
		       struct mw_err *err)
{
	struct xm *xm = model;
	return mw_xgb_predict_pool(xm->m, xm->pool, x, rows, cols, y, false, err);
}

static void xgb_unload(void *model)
{
	struct xm *xm = model;
	mw_xgb_free(xm->m);
	free(xm);
}

const struct mw_rt_ops mw_rt_xgboost = {
	.name = "xgboost",
	.inline_ok = true, /* in-process, thread-safe, ~2 us a row */
	.load = xgb_load,
	.describe = xgb_describe,
	.predict = xgb_predict,
	.unload = xgb_unload,
};
