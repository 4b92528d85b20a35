/*
 * xgb_bench.c - the native XGBoost evaluator (xgb/) against libxgboost's own
 * predictor, on the same model and the same rows, in one run.
 *
 *   xgb_bench MODEL ROWS.f32 [--calls1 N] [--calls1024 N] [--sweep]
 *
 * ROWS.f32 is raw little-endian float32, row-major, with the model's feature
 * count per row (NaN = missing), at least 1024 rows.  The model is loaded
 * natively (mw_xgb_load_file) and through the C API (XGBoosterLoadModel);
 * XGBoost predicts in place (XGBoosterPredictFromDense, with the cache_id and
 * missing fields 1.7 requires).  First every row is predicted both ways and
 * compared: the run fails if any output differs by more than 1e-6 relative
 * (absolute near zero); the count of bit-identical outputs is printed.  The
 * native evaluator on a pool of one thread per CPU (mw_xgb_predict_pool)
 * must give exactly the bytes it gives on one thread, or the run fails.
 * Then each predictor is timed at batch 1, 64, 256 and 1024 (64 and 256 with
 * 16 and 4 times the calls of 1024): native on one thread (mw_xgb_predict),
 * native on the pool, XGBoost with nthread=1 and with nthread = the CPU
 * count, in interleaved rounds keeping each one's best.  Every figure is
 * printed as a speed-up over the faster XGBoost setting of the same run,
 * with PASS/MISS against the targets: one thread >= 3x at batch 1 and >= 2x
 * at batch 1024, the pool >= 5x at batch 1024.  bench/xgb.sh trains the
 * model and makes the rows.
 *
 * --sweep replaces the XGBoost timings with the measurement behind the
 * pool's split threshold: one thread (mw_xgb_predict) against the pool
 * (mw_xgb_predict_pool) at batch 1 to 1024, called back to back (the pool
 * stays hot) and with a 300 us sleep before every call (its workers are
 * asleep each time), best of ROUNDS interleaved rounds, sleeps excluded.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xgboost/c_api.h>

#include "core/core.h"
#include "xgb/xgb.h"

#define ROUNDS 5

static volatile float sink;

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "xgb_bench: %s: %s\n", what, msg);
	exit(1);
}

static void xcheck(int rc, const char *what)
{
	if (rc != 0)
		die(what, XGBGetLastError());
}

struct capi {
	BoosterHandle h;
	size_t ncols;
};

/* In-place prediction of n rows; returns XGBoost's buffer (valid until the
 * next call). */
static const float *capi_predict(struct capi *c, const float *rows, size_t n)
{
	char values[256];
	snprintf(values, sizeof values,
		 "{\"data\":[%llu,true],\"shape\":[%zu,%zu],\"typestr\":\"<f4\",\"version\":3}",
		 (unsigned long long)(uintptr_t)rows, n, c->ncols);
	static const char config[] =
		"{\"type\":0,\"training\":false,\"iteration_begin\":0,\"iteration_end\":0,"
		"\"strict_shape\":false,\"cache_id\":0,\"missing\":NaN}";
	const bst_ulong *shape;
	bst_ulong dim;
	const float *out;
	xcheck(XGBoosterPredictFromDense(c->h, values, config, NULL, &shape, &dim, &out),
	       "XGBoosterPredictFromDense");
	return out;
}

static double elapsed_us(uint64_t t0)
{
	return (double)(mw_mono_ns() - t0) / 1e3;
}

static int native(const struct mw_xgb *m, struct mw_pool *pool, const float *rows, size_t n,
		  size_t ncols, float *out, struct mw_err *err)
{
	if (pool)
		return mw_xgb_predict_pool(m, pool, rows, n, ncols, out, false, err);
	return mw_xgb_predict(m, rows, n, ncols, out, false, err);
}

struct result {
	double us_per_call;
	double rows_per_s;
};

/* pool NULL: mw_xgb_predict; else mw_xgb_predict_pool. */
static struct result time_native(const struct mw_xgb *m, struct mw_pool *pool, const float *rows,
				 size_t nrows, size_t ncols, size_t batch, size_t calls, float *out)
{
	struct mw_err err = { 0 };
	size_t nblocks = nrows / batch;
	for (size_t i = 0; i < calls / 10 + 1; i++) /* warm up */
		if (native(m, pool, rows + (i % nblocks) * batch * ncols, batch, ncols, out, &err))
			die("native predict", err.msg);
	uint64_t t0 = mw_mono_ns();
	float acc = 0;
	for (size_t i = 0; i < calls; i++) {
		if (native(m, pool, rows + (i % nblocks) * batch * ncols, batch, ncols, out, &err))
			die("native predict", err.msg);
		acc += out[0];
	}
	double us = elapsed_us(t0);
	sink = acc;
	return (struct result){ us / (double)calls, (double)calls * (double)batch / us * 1e6 };
}

static struct result time_capi(struct capi *c, const float *rows, size_t nrows, size_t batch,
			       size_t calls)
{
	size_t nblocks = nrows / batch;
	for (size_t i = 0; i < calls / 10 + 1; i++)
		capi_predict(c, rows + (i % nblocks) * batch * c->ncols, batch);
	uint64_t t0 = mw_mono_ns();
	float acc = 0;
	for (size_t i = 0; i < calls; i++)
		acc += capi_predict(c, rows + (i % nblocks) * batch * c->ncols, batch)[0];
	double us = elapsed_us(t0);
	sink = acc;
	return (struct result){ us / (double)calls, (double)calls * (double)batch / us * 1e6 };
}

/* Like time_native, with a sleep of sleep_us before every call (not
 * counted), so that a pool's workers are asleep when each call starts. */
static double time_spaced(const struct mw_xgb *m, struct mw_pool *pool, const float *rows,
			  size_t nrows, size_t ncols, size_t batch, size_t calls, long sleep_us,
			  float *out)
{
	struct mw_err err = {0};
	size_t nblocks = nrows / batch;
	uint64_t busy = 0;
	float acc = 0;
	for (size_t i = 0; i < calls; i++) {
		struct timespec ts = {0, sleep_us * 1000};
		nanosleep(&ts, NULL);
		uint64_t t0 = mw_mono_ns();
		if (native(m, pool, rows + (i % nblocks) * batch * ncols, batch, ncols, out, &err))
			die("native predict", err.msg);
		busy += mw_mono_ns() - t0;
		acc += out[0];
	}
	sink = acc;
	return (double)busy / 1e3 / (double)calls;
}

static void sweep(const struct mw_xgb *m, struct mw_pool *pool, const float *rows, size_t nrows,
		  size_t ncols, float *out)
{
	static const size_t batches[] = {1, 8, 16, 24, 32, 48, 64, 128, 256, 384, 512, 1024};
	printf("sweep: best of %d interleaved rounds, us/call; hot = back to back, cold = 300 us "
	       "sleep before each call\n\n",
	       ROUNDS);
	printf("%-6s %12s %12s %8s %12s %12s %8s\n", "batch", "hot 1 thr", "hot pool", "gain",
	       "cold 1 thr", "cold pool", "gain");
	for (size_t b = 0; b < sizeof batches / sizeof *batches; b++) {
		size_t n = batches[b], hot_calls = 400000 / n + 10, cold_calls = 2000 / n + 50;
		double best[4] = {1e300, 1e300, 1e300, 1e300};
		for (int round = 0; round < ROUNDS; round++) {
			for (int k = 0; k < 4; k++) {
				struct mw_pool *p = k % 2 ? pool : NULL;
				double us = k < 2 ? time_native(m, p, rows, nrows, ncols, n,
								hot_calls, out)
							    .us_per_call
						  : time_spaced(m, p, rows, nrows, ncols, n,
								cold_calls, 300, out);
				if (us < best[k])
					best[k] = us;
			}
		}
		printf("%-6zu %12.2f %12.2f %7.2fx %12.2f %12.2f %7.2fx\n", n, best[0], best[1],
		       best[0] / best[1], best[2], best[3], best[2] / best[3]);
	}
}

static size_t parse_size(const char *s)
{
	int64_t v = 0;
	if (!s || mw_parse_int64(s, &v) || v < 1)
		die("bad count", s ? s : "(none)");
	return (size_t)v;
}

int main(int argc, char **argv)
{
	size_t calls1 = 20000, calls1024 = 500;
	bool sweep_mode = false;
	const char *model_path = NULL, *rows_path = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--calls1") == 0 && i + 1 < argc)
			calls1 = parse_size(argv[++i]);
		else if (strcmp(argv[i], "--calls1024") == 0 && i + 1 < argc)
			calls1024 = parse_size(argv[++i]);
		else if (strcmp(argv[i], "--sweep") == 0)
			sweep_mode = true;
		else if (!model_path)
			model_path = argv[i];
		else if (!rows_path)
			rows_path = argv[i];
		else
			die("usage",
			    "xgb_bench MODEL ROWS.f32 [--calls1 N] [--calls1024 N] [--sweep]");
	}
	if (!rows_path)
		die("usage", "xgb_bench MODEL ROWS.f32 [--calls1 N] [--calls1024 N] [--sweep]");

	struct mw_err err = { 0 };
	struct mw_xgb *m;
	uint64_t t0 = mw_mono_ns();
	if (mw_xgb_load_file(model_path, &m, &err))
		die("native load", err.msg);
	double native_load_ms = elapsed_us(t0) / 1e3;
	size_t ncols = mw_xgb_num_features(m);
	if (mw_xgb_num_outputs(m, false) != 1)
		die("model", "the benchmark expects one output per row");

	FILE *f = fopen(rows_path, "rb");
	if (!f)
		die("rows", "cannot open");
	fseek(f, 0, SEEK_END);
	long bytes = ftell(f);
	fseek(f, 0, SEEK_SET);
	size_t nrows = (size_t)bytes / (ncols * sizeof(float));
	if (nrows < 1024)
		die("rows", "need at least 1024 rows");
	nrows -= nrows % 1024;
	float *rows = mw_xmalloc(nrows * ncols * sizeof *rows);
	if (fread(rows, sizeof *rows, nrows * ncols, f) != nrows * ncols)
		die("rows", "short read");
	fclose(f);

	struct capi c = { NULL, ncols };
	t0 = mw_mono_ns();
	xcheck(XGBoosterCreate(NULL, 0, &c.h), "XGBoosterCreate");
	xcheck(XGBoosterLoadModel(c.h, model_path), "XGBoosterLoadModel");
	double capi_load_ms = elapsed_us(t0) / 1e3;
	int major, minor, patch;
	XGBoostVersion(&major, &minor, &patch);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct mw_pool *pool;
	if (mw_pool_new(0, &pool, &err)) /* one thread per CPU */
		die("mw_pool_new", err.msg);

	/* Same outputs: all rows in batches of 1024, the first 2048 one by one. */
	float *nat = mw_xmalloc(nrows * sizeof *nat), *ref = mw_xmalloc(nrows * sizeof *ref);
	xcheck(XGBoosterSetParam(c.h, "nthread", "1"), "XGBoosterSetParam");
	for (size_t r = 0; r < nrows; r += 1024) {
		if (mw_xgb_predict(m, rows + r * ncols, 1024, ncols, nat + r, false, &err))
			die("mw_xgb_predict", err.msg);
		memcpy(ref + r, capi_predict(&c, rows + r * ncols, 1024), 1024 * sizeof *ref);
	}
	size_t identical = 0, checked = 0;
	double worst = 0;
	for (size_t i = 0; i < nrows + 2048; i++) {
		size_t r = i < nrows ? i : i - nrows;
		float a, b = ref[r];
		if (i < nrows) {
			a = nat[r];
		} else {
			if (mw_xgb_predict(m, rows + r * ncols, 1, ncols, &a, false, &err))
				die("mw_xgb_predict", err.msg);
			b = capi_predict(&c, rows + r * ncols, 1)[0];
		}
		double d = fabs((double)a - (double)b) / fmax(1.0, fabs((double)b));
		if (d > worst)
			worst = d;
		if (d > 1e-6) {
			fprintf(stderr, "xgb_bench: row %zu: native %.9g, xgboost %.9g\n", r, (double)a,
				(double)b);
			return 1;
		}
		identical += memcmp(&a, &b, sizeof a) == 0;
		checked++;
	}

	/* The pool must give the same bytes as one thread: every row in
	 * batches of 1024, and all rows in one call. */
	float *par = mw_xmalloc(nrows * sizeof *par);
	size_t pool_same = 0;
	for (int pass = 0; pass < 2; pass++) {
		size_t step = pass ? nrows : 1024;
		for (size_t r = 0; r < nrows; r += step)
			if (mw_xgb_predict_pool(m, pool, rows + r * ncols, step, ncols, par + r,
						false, &err))
				die("mw_xgb_predict_pool", err.msg);
		for (size_t r = 0; r < nrows; r++) {
			if (memcmp(&par[r], &nat[r], sizeof *par) != 0) {
				fprintf(stderr, "xgb_bench: row %zu: pool %.9g, one thread %.9g\n",
					r, (double)par[r], (double)nat[r]);
				return 1;
			}
			pool_same++;
		}
	}
	free(par);

	printf("model: %s (%zu trees, %zu features, %s, %s)\n", model_path, mw_xgb_num_trees(m),
	       ncols, mw_xgb_objective(m), mw_xgb_booster(m));
	printf("xgboost %d.%d.%d C API, %ld CPUs; native on 1 thread (mw_xgb_predict) and on a "
	       "pool of %zu (mw_xgb_predict_pool)\n",
	       major, minor, patch, ncpu, mw_pool_threads(pool));
	printf("load: native %.1f ms, C API %.1f ms\n", native_load_ms, capi_load_ms);
	printf("outputs: %zu compared, %zu bit-identical, max relative difference %.3g\n", checked,
	       identical, worst);
	printf("pool outputs: %zu compared with one thread's, %zu bit-identical\n", 2 * nrows,
	       pool_same);
	printf("pool threshold: from %zu rows, or %zu while calls come back to back\n",
	       mw_xgb_pool_min_rows(m, false), mw_xgb_pool_min_rows(m, true));

	if (sweep_mode) {
		sweep(m, pool, rows, nrows, ncols, nat);
		XGBoosterFree(c.h);
		mw_pool_free(pool);
		mw_xgb_free(m);
		free(rows);
		free(nat);
		free(ref);
		return 0;
	}

	/* Timings: ROUNDS interleaved rounds (native on one thread, native on
	 * the pool, xgboost nthread=1, xgboost nthread=CPUs), each predictor's
	 * best round kept, so a burst of load from elsewhere on the machine
	 * does not decide the ratio. */
	enum { NBATCH = 4, NPRED = 4 };
	size_t batches[NBATCH] = {1, 64, 256, 1024};
	size_t calls[NBATCH] = {calls1, calls1024 * 16, calls1024 * 4, calls1024};
	char nthreads[32];
	snprintf(nthreads, sizeof nthreads, "%ld", ncpu);
	printf("timings: best of %d interleaved rounds; %zu calls at batch 1, %zu at 64, %zu at 256, "
	       "%zu at 1024\n",
	       ROUNDS, calls[0], calls[1], calls[2], calls[3]);
	printf("\n%-6s %-26s %12s %14s %12s\n", "batch", "predictor", "us/call", "rows/s",
	       "vs faster x");
	for (int b = 0; b < NBATCH; b++) {
		struct result res[NPRED];
		for (int k = 0; k < NPRED; k++)
			res[k] = (struct result){1e300, 0};
		size_t per = calls[b] / ROUNDS + 1;
		for (int round = 0; round < ROUNDS; round++) {
			for (int k = 0; k < NPRED; k++) {
				struct result r;
				if (k < 2) {
					r = time_native(m, k ? pool : NULL, rows, nrows, ncols,
							batches[b], per, nat);
				} else {
					xcheck(XGBoosterSetParam(c.h, "nthread",
								 k == 3 ? nthreads : "1"),
					       "XGBoosterSetParam");
					r = time_capi(&c, rows, nrows, batches[b], per);
				}
				if (r.us_per_call < res[k].us_per_call)
					res[k] = r;
			}
		}
		double fx = fmin(res[2].us_per_call, res[3].us_per_call);
		char labels[NPRED][64];
		snprintf(labels[0], sizeof labels[0], "native (1 thread)");
		snprintf(labels[1], sizeof labels[1], "native (pool, %zu threads)",
			 mw_pool_threads(pool));
		snprintf(labels[2], sizeof labels[2], "xgboost nthread=1");
		snprintf(labels[3], sizeof labels[3], "xgboost nthread=%s", nthreads);
		for (int k = 0; k < NPRED; k++)
			printf("%-6zu %-26s %12.2f %14.0f %11.2fx\n", batches[b], labels[k],
			       res[k].us_per_call, res[k].rows_per_s, fx / res[k].us_per_call);
		double one = fx / res[0].us_per_call, pooled = fx / res[1].us_per_call;
		const char *how = "below the threshold: runs on the caller";
		if (batches[b] >= mw_xgb_pool_min_rows(m, false))
			how = "split across the pool";
		else if (batches[b] >= mw_xgb_pool_min_rows(m, true))
			how = "split while calls come back to back";
		printf("%-6zu pool vs 1 thread: %.2fx (%s)\n", batches[b],
		       res[0].us_per_call / res[1].us_per_call, how);
		if (batches[b] == 1)
			printf("%-6zu 1 thread vs the faster xgboost setting: %.2fx (target >= 3x) %s\n",
			       batches[b], one, one >= 3.0 ? "PASS" : "MISS");
		if (batches[b] == 1024) {
			printf("%-6zu 1 thread vs the faster xgboost setting: %.2fx (target >= 2x) %s\n",
			       batches[b], one, one >= 2.0 ? "PASS" : "MISS");
			printf("%-6zu pool vs the faster xgboost setting: %.2fx (target >= 5x) %s\n",
			       batches[b], pooled, pooled >= 5.0 ? "PASS" : "MISS");
		}
		printf("\n");
	}
	mw_pool_free(pool);
	XGBoosterFree(c.h);
	mw_xgb_free(m);
	free(rows);
	free(nat);
	free(ref);
	return 0;
}
