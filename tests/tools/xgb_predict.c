/*
 * xgb_predict.c - load an XGBoost model with the native evaluator (xgb/) and
 * print its predictions; the integration tests compare them with XGBoost's.
 *
 *   xgb_predict [options] MODEL [ROWS]
 *     --margin        raw margins (output_margin=True) instead of outputs
 *     --f32           ROWS is raw little-endian float32, row-major, with the
 *                     model's feature count per row (default: CSV, one row a
 *                     line, fields separated by ',', empty or "nan" = missing)
 *     --batch N       call mw_xgb_predict with N rows at a time (default: all)
 *     --threads N     predict the whole input in N threads at once and check
 *                     that every thread got the same bytes (thread safety)
 *     --pool N        predict with mw_xgb_predict_pool on one pool of N
 *                     threads (shared by the --threads callers), which splits
 *                     big batches across its threads
 *     --info          print the model's description instead of predicting
 *
 * Output: one line per row, values separated by ',' and printed with %.9g
 * (enough digits to round-trip a float32).  Errors go to stderr with exit
 * status 1; bad usage exits 2.  A test tool: it reads whole files into
 * memory and trusts its caller with memory.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "xgb/xgb.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: xgb_predict [--margin] [--f32] [--batch N] [--threads N] [--pool N] "
		"[--info] MODEL [ROWS]\n");
	return 2;
}

static int fail(const char *what, const struct mw_err *err)
{
	fprintf(stderr, "error: %s: %s (%s)\n", what, err->msg, mw_err_name(err->code));
	return 1;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct mw_buf b;
	mw_buf_init(&b, (size_t)1 << 34);
	char chunk[65536];
	size_t n;
	bool bad = false;
	while (!bad && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
		bad = mw_buf_append(&b, chunk, n) != 0;
	bad = bad || ferror(f);
	fclose(f);
	if (bad) {
		mw_buf_release(&b);
		return NULL;
	}
	char *out = mw_buf_detach(&b, len);
	mw_buf_release(&b);
	return out;
}

/* CSV rows of exactly ncols fields. */
static int parse_csv(char *text, size_t ncols, float **rows, size_t *nrows)
{
	size_t cap = 1024, n = 0;
	float *v = mw_xmalloc(cap * sizeof *v);
	size_t line = 0;
	char *p = text;
	while (*p) {
		char *eol = strchr(p, '\n');
		if (eol)
			*eol = 0;
		line++;
		size_t len = strlen(p);
		if (len && p[len - 1] == '\r')
			p[--len] = 0;
		if (len == 0) {
			p = eol ? eol + 1 : p + len;
			continue;
		}
		size_t fields = 0;
		char *f = p;
		for (;;) {
			char *comma = strchr(f, ',');
			if (comma)
				*comma = 0;
			while (*f == ' ')
				f++;
			float x;
			if (*f == 0 || strcmp(f, "nan") == 0 || strcmp(f, "NaN") == 0) {
				x = NAN;
			} else {
				char *end;
				errno = 0;
				x = strtof(f, &end);
				while (*end == ' ')
					end++;
				if (end == f || *end) {
					fprintf(stderr, "error: line %zu: \"%s\" is not a number\n", line, f);
					free(v);
					return -1;
				}
			}
			if (n == cap) {
				cap *= 2;
				v = mw_xrealloc(v, cap * sizeof *v);
			}
			v[n++] = x;
			fields++;
			if (!comma)
				break;
			f = comma + 1;
		}
		if (fields != ncols) {
			fprintf(stderr, "error: line %zu has %zu fields, expected %zu\n", line, fields,
				ncols);
			free(v);
			return -1;
		}
		p = eol ? eol + 1 : p + len;
	}
	*rows = v;
	*nrows = n / (ncols ? ncols : 1);
	return 0;
}

struct job {
	const struct mw_xgb *m;
	struct mw_pool *pool; /* NULL: mw_xgb_predict */
	const float *rows;
	size_t nrows, ncols, batch, nout;
	bool margin;
	float *out;
	struct mw_err err;
	int rc;
};

static void *run(void *arg)
{
	struct job *j = arg;
	j->rc = 0;
	for (size_t r = 0; r < j->nrows && !j->rc; r += j->batch) {
		size_t k = j->nrows - r < j->batch ? j->nrows - r : j->batch;
		if (j->pool)
			j->rc = mw_xgb_predict_pool(j->m, j->pool, j->rows + r * j->ncols, k,
						    j->ncols, j->out + r * j->nout, j->margin,
						    &j->err);
		else
			j->rc = mw_xgb_predict(j->m, j->rows + r * j->ncols, k, j->ncols,
					       j->out + r * j->nout, j->margin, &j->err);
	}
	return NULL;
}

static void print_strings(const char *name, const char *const *l, size_t n)
{
	printf("%s:", name);
	if (!l) {
		printf(" (none)\n");
		return;
	}
	for (size_t i = 0; i < n; i++)
		printf(" %s", l[i]);
	printf("\n");
}

static int info(const struct mw_xgb *m)
{
	int v[3];
	mw_xgb_version(m, v);
	size_t nf = mw_xgb_num_features(m);
	printf("version: %d.%d.%d\n", v[0], v[1], v[2]);
	printf("booster: %s\n", mw_xgb_booster(m));
	printf("objective: %s\n", mw_xgb_objective(m));
	printf("num_features: %zu\n", nf);
	printf("num_outputs: %zu\n", mw_xgb_num_outputs(m, false));
	printf("num_margins: %zu\n", mw_xgb_num_outputs(m, true));
	printf("num_trees: %zu\n", mw_xgb_num_trees(m));
	printf("base_score: %.9g\n", (double)mw_xgb_base_score(m, 0));
	printf("categorical: %s\n", mw_xgb_has_categorical(m) ? "yes" : "no");
	print_strings("feature_names", mw_xgb_feature_names(m), nf);
	print_strings("feature_types", mw_xgb_feature_types(m), nf);
	return 0;
}

static int parse_count(const char *s, size_t *out)
{
	int64_t v;
	if (!s || mw_parse_int64(s, &v) || v < 1 || v > 1000000000)
		return -1;
	*out = (size_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	bool margin = false, f32 = false, want_info = false;
	size_t batch = 0, threads = 1, pool_threads = 0;
	const char *model_path = NULL, *rows_path = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--margin") == 0) {
			margin = true;
		} else if (strcmp(a, "--f32") == 0) {
			f32 = true;
		} else if (strcmp(a, "--info") == 0) {
			want_info = true;
		} else if (strcmp(a, "--batch") == 0) {
			if (i + 1 >= argc || parse_count(argv[++i], &batch))
				return usage();
		} else if (strcmp(a, "--threads") == 0) {
			if (i + 1 >= argc || parse_count(argv[++i], &threads) || threads > 256)
				return usage();
		} else if (strcmp(a, "--pool") == 0) {
			if (i + 1 >= argc || parse_count(argv[++i], &pool_threads) ||
			    pool_threads > MW_POOL_MAX_THREADS)
				return usage();
		} else if (a[0] == '-' && a[1] == '-') {
			return usage();
		} else if (!model_path) {
			model_path = a;
		} else if (!rows_path) {
			rows_path = a;
		} else {
			return usage();
		}
	}
	if (!model_path || (!rows_path && !want_info))
		return usage();

	struct mw_err err = { 0 };
	struct mw_xgb *m;
	if (mw_xgb_load_file(model_path, &m, &err))
		return fail("load", &err);
	if (want_info) {
		info(m);
		mw_xgb_free(m);
		return 0;
	}

	size_t ncols = mw_xgb_num_features(m), nrows, len;
	char *text = read_all(rows_path, &len);
	if (!text) {
		fprintf(stderr, "error: cannot read %s: %s\n", rows_path, strerror(errno));
		mw_xgb_free(m);
		return 1;
	}
	float *rows;
	if (f32) {
		if (len % (ncols * sizeof(float))) {
			fprintf(stderr, "error: %zu bytes is not a whole number of rows of %zu float32\n",
				len, ncols);
			free(text);
			mw_xgb_free(m);
			return 1;
		}
		nrows = len / (ncols * sizeof(float));
		rows = mw_xmalloc(len ? len : 1);
		memcpy(rows, text, len);
	} else if (parse_csv(text, ncols, &rows, &nrows)) {
		free(text);
		mw_xgb_free(m);
		return 1;
	}
	free(text);

	size_t nout = mw_xgb_num_outputs(m, margin);
	struct mw_pool *pool = NULL;
	if (pool_threads && mw_pool_new((int)pool_threads, &pool, &err)) {
		free(rows);
		mw_xgb_free(m);
		return fail("pool", &err);
	}
	struct job *jobs = mw_xcalloc(threads, sizeof *jobs);
	pthread_t *tids = mw_xcalloc(threads, sizeof *tids);
	for (size_t t = 0; t < threads; t++) {
		jobs[t] = (struct job){.m = m,
				       .pool = pool,
				       .rows = rows,
				       .nrows = nrows,
				       .ncols = ncols,
				       .batch = batch ? batch : (nrows ? nrows : 1),
				       .nout = nout,
				       .margin = margin,
				       .out = mw_xcalloc(nrows * nout + 1, sizeof(float))};
	}
	int status = 0;
	if (threads == 1) {
		run(&jobs[0]);
	} else {
		for (size_t t = 0; t < threads; t++)
			pthread_create(&tids[t], NULL, run, &jobs[t]);
		for (size_t t = 0; t < threads; t++)
			pthread_join(tids[t], NULL);
	}
	for (size_t t = 0; t < threads && !status; t++) {
		if (jobs[t].rc) {
			status = fail("predict", &jobs[t].err);
		} else if (memcmp(jobs[t].out, jobs[0].out, nrows * nout * sizeof(float)) != 0) {
			fprintf(stderr, "error: thread %zu got different predictions\n", t);
			status = 1;
		}
	}
	if (!status) {
		const float *o = jobs[0].out;
		for (size_t r = 0; r < nrows; r++) {
			for (size_t k = 0; k < nout; k++)
				printf("%s%.9g", k ? "," : "", (double)o[r * nout + k]);
			printf("\n");
		}
	}
	for (size_t t = 0; t < threads; t++)
		free(jobs[t].out);
	free(jobs);
	free(tids);
	mw_pool_free(pool);
	free(rows);
	mw_xgb_free(m);
	return status;
}
