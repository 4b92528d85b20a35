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

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* What a prediction answers, as MLflow's pyfunc would for the same model: the
 * booster's output for a Booster or a regressor (the model's objective
 * transform: probabilities for binary:logistic, ...); for an XGBClassifier
 * (MLmodel's model_class) its predict, the class labels, or its
 * predict_proba when the model was logged with pyfunc_predict_fn
 * predict_proba (python_function's predict_fn): one column per class, [1-p,
 * p] for a binary model. */
enum out_mode { OUT_RAW, OUT_LABEL, OUT_PROBA };

/* A loaded model and the server's pool, which splits large batches across
 * cores (mw_xgb_predict_pool decides when that pays). */
struct xm {
	struct mw_xgb *m;
	struct mw_pool *pool;
	enum out_mode mode;
	size_t raw_no, no; /* outputs per row of the booster, and answered */
	bool softmax;      /* multi:softmax: the booster's output is the label */
};

static const char *flavor_str(json_t *mlmodel, const char *flavor, const char *field)
{
	return json_string_value(
		json_object_get(json_object_get(json_object_get(mlmodel, "flavors"), flavor), field));
}

static int out_mode_of(const struct mw_rt_spec *spec, struct xm *x, struct mw_err *err)
{
	const char *cls = flavor_str(spec->mlmodel, "xgboost", "model_class");
	const char *fn = flavor_str(spec->mlmodel, "python_function", "predict_fn");
	const char *base = cls ? strrchr(cls, '.') : NULL;
	base = base ? base + 1 : cls;
	bool classifier = base && (!strcmp(base, "XGBClassifier") || !strcmp(base, "XGBRFClassifier"));
	x->softmax = !strcmp(mw_xgb_objective(x->m), "multi:softmax");
	x->raw_no = mw_xgb_num_outputs(x->m, false);
	x->mode = OUT_RAW;
	x->no = x->raw_no;
	if (fn && strcmp(fn, "predict") && strcmp(fn, "predict_proba"))
		return mw_err_set(err, MW_E_NOT_IMPLEMENTED,
				  "the model's predict_fn '%.60s' is not one mw serves (predict, "
				  "predict_proba)",
				  fn);
	if (!classifier)
		return 0;
	if (fn && !strcmp(fn, "predict_proba")) {
		x->mode = OUT_PROBA;
		if (x->softmax) /* the probabilities are the softmax of the margins */
			x->raw_no = mw_xgb_num_outputs(x->m, true);
		x->no = x->raw_no == 1 ? 2 : x->raw_no;
	} else {
		x->mode = OUT_LABEL;
		x->no = 1;
	}
	return 0;
}

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
	struct xm *x = mw_xcalloc(1, sizeof *x);
	x->m = m;
	x->pool = spec->pool;
	if ((rc = out_mode_of(spec, x, err))) {
		mw_xgb_free(m);
		free(x);
		return rc;
	}
	*model = x;
	return 0;
}

static int xgb_describe(void *model, json_t **out, struct mw_err *err)
{
	(void)err;
	const struct xm *x = model;
	struct mw_xgb *m = x->m;
	size_t nf = mw_xgb_num_features(m), no = x->no;
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
	json_object_set_new(o, "answers",
			    json_string(x->mode == OUT_LABEL   ? "labels"
					: x->mode == OUT_PROBA ? "class probabilities"
							       : "the booster's output"));
	*out = o;
	return 0;
}

static int xgb_predict(void *model, const float *x, size_t rows, size_t cols, float *y,
		       struct mw_err *err)
{
	struct xm *xm = model;
	if (xm->mode == OUT_RAW)
		return mw_xgb_predict_pool(xm->m, xm->pool, x, rows, cols, y, false, err);
	bool margins = xm->softmax && xm->mode == OUT_PROBA;
	float *raw = mw_xmalloc((rows ? rows : 1) * xm->raw_no * sizeof *raw);
	int rc = mw_xgb_predict_pool(xm->m, xm->pool, x, rows, cols, raw, margins, err);
	for (size_t r = 0; !rc && r < rows; r++) {
		const float *p = raw + r * xm->raw_no;
		if (margins) { /* multi:softmax's predict_proba: softmax of the margins */
			float mx = p[0];
			for (size_t k = 1; k < xm->raw_no; k++)
				mx = p[k] > mx ? p[k] : mx;
			double sum = 0;
			for (size_t k = 0; k < xm->raw_no; k++)
				sum += exp((double)p[k] - mx);
			for (size_t k = 0; k < xm->raw_no; k++)
				y[r * xm->raw_no + k] = (float)(exp((double)p[k] - mx) / sum);
		} else if (xm->mode == OUT_PROBA && xm->raw_no == 1) { /* XGBClassifier: [1-p, p] */
			y[r * 2] = 1.0f - p[0];
			y[r * 2 + 1] = p[0];
		} else if (xm->mode == OUT_PROBA) {
			memcpy(y + r * xm->raw_no, p, xm->raw_no * sizeof *p);
		} else if (xm->softmax) { /* the booster's output is the label */
			y[r] = p[0];
		} else if (xm->raw_no == 1) { /* XGBClassifier.predict: p > 0.5 */
			y[r] = p[0] > 0.5f ? 1.0f : 0.0f;
		} else { /* the most probable class, the first of equals */
			size_t best = 0;
			for (size_t k = 1; k < xm->raw_no; k++)
				if (p[k] > p[best])
					best = k;
			y[r] = (float)best;
		}
	}
	free(raw);
	return rc;
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
