/* rt_python.c - placeholder until the Python runtime lands. */
#include "serve/serve.h"

static int py_load(const struct mw_rt_spec *spec, void **model, struct mw_err *err)
{
	(void)spec;
	(void)model;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the python runtime is not built yet");
}

static int py_describe(void *model, json_t **out, struct mw_err *err)
{
	(void)model;
	(void)out;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the python runtime is not built yet");
}

static int py_predict(void *model, const float *x, size_t rows, size_t cols, float *y,
		      struct mw_err *err)
{
	(void)model;
	(void)x;
	(void)rows;
	(void)cols;
	(void)y;
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED, "the python runtime is not built yet");
}

static void py_unload(void *model)
{
	(void)model;
}

const struct mw_rt_ops mw_rt_python = {"python", py_load, py_describe, py_predict, py_unload};
