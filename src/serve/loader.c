/*
 * loader.c - a model directory becomes a loaded version.
 *
 * The directory's MLmodel (when there is one) picks the runtime
 * (mlmodel.c); the runtime loads the model and describes it (features and
 * outputs per row); one row of zeros must predict (the warm-up: a model that
 * cannot predict never receives a request); then the version gets its
 * histograms, its response cache and its batcher thread.  Runtimes get
 * absolute paths (python workers may run in another directory).
 *
 * Caps: once the runtime is known and before it loads, svi_admit (serve.c)
 * makes room under max-loaded-versions and max-python-workers and reserves
 * a slot; svi_load ends the reservation when the load does.
 *
 * The result holds one reference; svi_destroy is for a version whose last
 * reference is gone (serve.c retires it from its housekeeping thread, never
 * from the batcher, which may be the thread that dropped the reference).
 */
#include "serve/serve_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* *admitted: the python workers reserved by svi_admit, -1 when not admitted. */
static int load_abs(struct mw_serve *s, const char *name, const char *version, const char *digest,
		    const char *dir, int *admitted, struct mw_served **out, struct mw_err *err)
{
	json_t *mlmodel = NULL;
	struct stat st;
	char *mlpath = mw_fs_join(dir, "MLmodel");
	int rc = 0;
	if (!stat(mlpath, &st))
		rc = mw_mlmodel_load(mlpath, &mlmodel, err);
	free(mlpath);
	if (rc)
		return rc;
	char *file = NULL;
	const struct mw_rt_ops *rt = mw_serve_pick_runtime(dir, mlmodel, &file, err);
	if (!rt) {
		json_decref(mlmodel);
		return -err->code;
	}
	struct mw_rt_spec spec = {
		.dir = dir,
		.file = file,
		.mlmodel = mlmodel,
		.python = s->python,
		.workers = s->o.python_workers > 0 ? s->o.python_workers : 2,
		.sandbox = &s->o.sandbox,
		.timeout_ms = s->o.batching.timeout_ms > 0 ? s->o.batching.timeout_ms : 30000,
		.pool = s->pool,
		.proxy_allow = s->o.proxy_allow,
	};
	int workers = rt == &mw_rt_python ? spec.workers : 0;
	if ((rc = svi_admit(s, name, version, workers, err))) {
		free(file);
		json_decref(mlmodel);
		return rc;
	}
	*admitted = workers;
	void *model = NULL;
	uint64_t t0 = mw_mono_ns();
	rc = rt->load(&spec, &model, err);
	free(file);
	json_decref(mlmodel);
	if (rc)
		return rc;
	json_t *meta = NULL;
	if ((rc = rt->describe(model, &meta, err))) {
		rt->unload(model);
		return rc;
	}
	json_int_t jnf = json_integer_value(json_object_get(meta, "features"));
	json_int_t jno = json_integer_value(json_object_get(meta, "outputs_per_row"));
	if (jnf > (json_int_t)MW_SERVE_MAX_FEATURES || jno > (json_int_t)MW_SERVE_MAX_OUTPUTS) {
		json_decref(meta); /* capped before anything is sized by them */
		rt->unload(model);
		return mw_err_set(err, MW_E_INVALID,
				  "%s/%s: the model has more than %u features or %u outputs per row",
				  name, version, MW_SERVE_MAX_FEATURES, MW_SERVE_MAX_OUTPUTS);
	}
	size_t nf = jnf > 0 ? (size_t)jnf : 0, no = jno > 0 ? (size_t)jno : 0;
	if (!nf || !no) {
		json_decref(meta);
		rt->unload(model);
		return mw_err_set(err, MW_E_INVALID,
				  "%s/%s: the runtime could not tell the model's "
				  "number of features and outputs",
				  name, version);
	}
	/* warm: one row of zeros must predict */
	float *x = mw_xcalloc(nf, sizeof(float)), *y = mw_xcalloc(no, sizeof(float));
	rc = rt->predict(model, x, 1, nf, y, err);
	free(x);
	free(y);
	if (rc) {
		char m2[700];
		snprintf(m2, sizeof m2, "%.60s/%.20s failed its warm-up prediction: %.500s", name,
			 version, err->msg);
		json_decref(meta);
		rt->unload(model);
		return mw_err_set(err, MW_E_INVALID, "%s", m2);
	}
	struct mw_served *m = mw_xcalloc(1, sizeof *m);
	m->s = s;
	m->name = mw_xstrdup(name);
	m->version = mw_xstrdup(version);
	snprintf(m->digest, sizeof m->digest, "%s", digest ? digest : "");
	m->dir = mw_xstrdup(dir);
	m->rt = rt;
	m->model = model;
	m->meta = meta;
	m->nfeat = nf;
	m->nout = no;
	m->refs = 1;
	m->py_workers = *admitted; /* counted in the server's python_workers until destroyed */
	m->last_used_ns = mw_mono_ns();
	m->b = s->o.batching;
	if (m->b.max_batch_rows < 1)
		m->b.max_batch_rows = 1;
	if (m->b.max_queue < 1)
		m->b.max_queue = 1024;
	if (m->b.cache_bytes)
		m->cache = svi_cache_new(m->b.cache_bytes, m->b.cache_ttl_ms);
	m->c = svi_counters_get(s, name, version);
	__atomic_fetch_add(&s->live, 1, __ATOMIC_RELAXED); /* svi_destroy decrements */
	if ((rc = svi_batcher_start(m, err))) {
		m->py_workers = 0; /* svi_load gives the reservation back */
		svi_destroy(m);
		return rc;
	}
	mw_info("serve: loaded %s/%s (%s runtime, %zu features, %zu outputs) in %.1f ms", name,
		version, rt->name, nf, no, (double)(mw_mono_ns() - t0) / 1e6);
	*out = m;
	return 0;
}

int svi_load(struct mw_serve *s, const char *name, const char *version, const char *digest,
	     const char *dir_in, struct mw_served **out, struct mw_err *err)
{
	/* runtimes (and python workers, whose cwd may differ) get absolute paths */
	char *dir = realpath(dir_in, NULL);
	if (!dir)
		return mw_err_set(err, MW_E_NOT_FOUND, "cannot open model %s: %s", dir_in,
				  strerror(errno));
	int admitted = -1;
	int rc = load_abs(s, name, version, digest, dir, &admitted, out, err);
	if (admitted >= 0)
		svi_unreserve(s, admitted, rc == 0);
	free(dir);
	return rc;
}

void svi_destroy(struct mw_served *m)
{
	svi_batcher_join(m);
	if (m->model)
		m->rt->unload(m->model);
	mw_info("serve: unloaded %s/%s", m->name, m->version);
	__atomic_fetch_sub(&m->s->python_workers, m->py_workers, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&m->s->live, 1, __ATOMIC_RELAXED);
	svi_cache_free(m->cache);
	svi_counters_put(m->s, m->c);
	json_decref(m->meta);
	free(m->name);
	free(m->version);
	free(m->dir);
	free(m);
}
