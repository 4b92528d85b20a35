/*
 * test_serve.c - unit tests for the serve object through its public seams:
 * the model source interface (a fake source in memory whose alias the test
 * moves), the pick step (default and explicit versions), hot swap, the
 * observer hook and the model directory cache (mw_model_dir).
 *
 * Models are one-tree XGBoost JSON models written here: a stump on feature 0
 * whose leaves are a value per version, so an answer tells which version
 * computed it (reg:squarederror, base score 0.5: prediction = 0.5 + leaf).
 * Each test works in its own mkdtemp() directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/serve.h"
#include "stump_model.h"

#define OK(call)                                                         \
	do {                                                             \
		struct mw_err err_ = {0};                                \
		struct mw_err *E = &err_;                                \
		(void)E;                                                 \
		int rc_ = (call);                                        \
		if (rc_ != 0)                                            \
			fail_msg("%s: rc %d: %s", #call, rc_, err_.msg); \
	} while (0)

/* ------------------------------------------------------------ a fake source */

/* Versions 1..3 of model "m" (1..maxv when maxv is set: the others are
 * deleted); "@champion" names `champion`; version v's leaves are
 * (-(v + 10 epoch), v + 10 epoch), and its digest changes with epoch (the
 * name registered again with other files).  Counts its calls.  With
 * fake_gen_ops it has a generation, gen. */
struct fake {
	struct mw_model_source base;
	char root[128];
	int champion;
	int resolves, fetches;
	int maxv, epoch;
	uint64_t gen;
	int slow; /* fetch takes 400 ms */
};

static int fake_resolve(struct mw_model_source *src, const char *name, const char *ref,
			const char *default_alias, struct mw_model_ident *out, struct mw_err *err)
{
	struct fake *f = (struct fake *)src;
	__atomic_fetch_add(&f->resolves, 1, __ATOMIC_RELAXED);
	if (strcmp(name, "m"))
		return mw_err_set(err, MW_E_NOT_FOUND, "Registered Model with name=%s not found",
				  name);
	int v = 0;
	if (!ref || !*ref)
		ref = default_alias ? "@champion" : "latest";
	if (!strcmp(ref, "@champion"))
		v = __atomic_load_n(&f->champion, __ATOMIC_RELAXED);
	else if (!strcmp(ref, "latest"))
		v = 3;
	else
		v = (int)strtol(ref, NULL, 10);
	int maxv = __atomic_load_n(&f->maxv, __ATOMIC_RELAXED);
	if (v < 1 || v > (maxv ? maxv : 3))
		return mw_err_set(err, MW_E_NOT_FOUND, "no version %s", ref);
	memset(out, 0, sizeof *out);
	out->name = strdup(name);
	char vs[16];
	snprintf(vs, sizeof vs, "%d", v);
	out->version = strdup(vs);
	memset(out->digest, '0', 64);
	char d4[16];
	unsigned w = (unsigned)(v + 100 * __atomic_load_n(&f->epoch, __ATOMIC_RELAXED)) % 10000u;
	snprintf(d4, sizeof d4, "%04u", w);
	memcpy(out->digest, d4, 4);
	return 0;
}

static int fill(void *ctx, const char *tmp, struct mw_err *err)
{
	(void)err;
	int v = *(int *)ctx;
	write_stump_model(tmp, -v, v);
	return 0;
}

static int fake_fetch(struct mw_model_source *src, const struct mw_model_ident *id, char **dir,
		      struct mw_err *err)
{
	struct fake *f = (struct fake *)src;
	__atomic_fetch_add(&f->fetches, 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&f->slow, __ATOMIC_RELAXED)) {
		struct timespec ts = {0, 400000000L};
		nanosleep(&ts, NULL);
	}
	char d4[5];
	memcpy(d4, id->digest, 4);
	d4[4] = 0;
	int w = (int)strtol(d4, NULL, 10), v = w % 100 + 10 * (w / 100);
	return mw_model_dir(f->root, id, fill, &v, dir, err);
}

static void fake_free(struct mw_model_source *src)
{
	(void)src; /* the test owns it */
}

static const struct mw_model_source_ops fake_ops = {.kind = "fake",
						    .resolve = fake_resolve,
						    .fetch = fake_fetch,
						    .free = fake_free};

static uint64_t fake_generation(struct mw_model_source *src)
{
	return __atomic_load_n(&((struct fake *)src)->gen, __ATOMIC_ACQUIRE);
}

static const struct mw_model_source_ops fake_gen_ops = {.kind = "fake",
							.resolve = fake_resolve,
							.fetch = fake_fetch,
							.generation = fake_generation,
							.free = fake_free};

/* ------------------------------------------------------------ helpers */

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
};

static void on_done(struct mw_infer *inf, void *ud)
{
	(void)inf;
	struct waiter *w = ud;
	pthread_mutex_lock(&w->mu);
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Predict rows x 2 through name/version; returns the first output and
 * fills *version (static storage of the served version until release). */
static float predict(struct mw_serve *s, const char *name, const char *version, const float *x,
		     size_t rows, const char *rid, char *got_version, size_t gvn)
{
	struct mw_served *m = NULL;
	OK(mw_serve_acquire(s, name, version, &m, E));
	struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
	struct mw_infer inf =
		{.x = x, .rows = rows, .cols = 2, .request_id = rid, .done = on_done, .ud = &w};
	OK(mw_served_submit(m, &inf, E));
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	assert_int_equal(inf.rc, 0);
	float y = inf.y[0];
	free(inf.y);
	if (got_version)
		snprintf(got_version, gvn, "%s", mw_served_version(m));
	mw_served_release(m);
	return y;
}

static struct mw_serve *new_serve(struct mw_model_source *src, int64_t poll_ms, bool bound_only,
				  size_t cache_bytes)
{
	struct mw_serve_opts o = {.source = src,
				  .bound_only = bound_only,
				  .poll_ms = poll_ms,
				  .default_alias = "champion"};
	o.batching.max_batch_rows = 64;
	o.batching.max_queue = 16;
	o.batching.timeout_ms = 5000;
	o.batching.cache_bytes = cache_bytes;
	struct mw_serve *s = NULL;
	OK(mw_serve_new(&o, &s, E));
	return s;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void rm_tree(const char *dir)
{
	struct mw_err err = {0};
	mw_fs_rm_rf(dir, &err);
}

/* ------------------------------------------------------------ tests */

static void test_source_default_explicit_and_swap(void **state)
{
	(void)state;
	struct fake f = {.base.ops = &fake_ops, .champion = 1};
	snprintf(f.root, sizeof f.root, "/tmp/mw-test-serve-XXXXXX");
	assert_non_null(mkdtemp(f.root));
	struct mw_serve *s = new_serve(&f.base, 20, false, 0);
	const float pos[2] = {1, 0}, neg[2] = {-1, 0};
	char v[16];

	/* the default follows the alias; an explicit version is loaded beside it */
	assert_float_equal(predict(s, "m", NULL, pos, 1, "a", v, sizeof v), 1.5f, 1e-6);
	assert_string_equal(v, "1");
	assert_float_equal(predict(s, "m", "2", neg, 1, "b", v, sizeof v), -1.5f, 1e-6);
	assert_string_equal(v, "2");
	/* already loaded: no fetch on the request path */
	int fetches = f.fetches;
	assert_float_equal(predict(s, "m", "", pos, 1, "c", v, sizeof v), 1.5f, 1e-6);
	assert_int_equal(f.fetches, fetches);

	/* hot swap: the alias moves, the watcher loads and swaps */
	__atomic_store_n(&f.champion, 3, __ATOMIC_RELAXED);
	for (int i = 0; i < 500; i++) {
		predict(s, "m", NULL, pos, 1, "d", v, sizeof v);
		if (!strcmp(v, "3"))
			break;
		sleep_ms(10);
	}
	assert_string_equal(v, "3");
	assert_float_equal(predict(s, "m", NULL, pos, 1, "e", v, sizeof v), 3.5f, 1e-6);

	/* unknown names and versions are 404 and leave no entry */
	struct mw_served *m = NULL;
	struct mw_err err = {0};
	assert_int_equal(mw_serve_acquire(s, "ghost", NULL, &m, &err), -MW_E_NOT_FOUND);
	assert_int_equal(mw_serve_acquire(s, "m", "abc", &m, &err), -MW_E_NOT_FOUND);
	assert_int_equal(mw_serve_acquire(s, "m", "9", &m, &err), -MW_E_NOT_FOUND);
	json_t *list = mw_serve_list(s);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")),
			    "m");
	json_decref(list);
	mw_serve_free(s);
	rm_tree(f.root);
}

static void test_bound_only(void **state)
{
	(void)state;
	struct fake f = {.base.ops = &fake_ops, .champion = 2};
	snprintf(f.root, sizeof f.root, "/tmp/mw-test-serve-XXXXXX");
	assert_non_null(mkdtemp(f.root));
	struct mw_serve *s = new_serve(&f.base, 0, true, 0);
	OK(mw_serve_bind(s, "m", "@champion", E));
	assert_true(mw_serve_ready(s));
	const float pos[2] = {1, 0};
	char v[16];
	assert_float_equal(predict(s, "m", NULL, pos, 1, "a", v, sizeof v), 2.5f, 1e-6);
	/* a name the source knows but that is not bound: 404 without asking it */
	int resolves = f.resolves;
	struct mw_served *m = NULL;
	struct mw_err err = {0};
	assert_int_equal(mw_serve_acquire(s, "other", NULL, &m, &err), -MW_E_NOT_FOUND);
	assert_int_equal(f.resolves, resolves);
	mw_serve_free(s);
	/* a binding that does not resolve fails at once, and the server is not
	 * ready */
	s = new_serve(&f.base, 0, true, 0);
	assert_int_equal(mw_serve_bind(s, "m", "7", &err), -MW_E_NOT_FOUND);
	assert_false(mw_serve_ready(s));
	mw_serve_free(s);
	rm_tree(f.root);
}

/* The source's generation moves: what is loaded is re-resolved before the
 * next request, deleted versions are gone at once and new content loads;
 * while it stays, requests never resolve. */
static void test_generation_revalidates(void **state)
{
	(void)state;
	struct fake f = {.base.ops = &fake_gen_ops, .champion = 1, .gen = 1};
	snprintf(f.root, sizeof f.root, "/tmp/mw-test-serve-XXXXXX");
	assert_non_null(mkdtemp(f.root));
	struct mw_serve *s = new_serve(&f.base, 0, false, 0); /* no poll */
	const float pos[2] = {1, 0};
	char v[16];
	assert_float_equal(predict(s, "m", NULL, pos, 1, "a", v, sizeof v), 1.5f, 1e-6);
	assert_float_equal(predict(s, "m", "2", pos, 1, "b", v, sizeof v), 2.5f, 1e-6);
	int resolves = f.resolves;
	for (int i = 0; i < 50; i++)
		predict(s, "m", i % 2 ? "2" : NULL, pos, 1, "c", v, sizeof v);
	assert_int_equal(f.resolves, resolves); /* nothing changed: no resolve */

	/* versions 2 and 3 deleted: without a new generation nothing is asked */
	__atomic_store_n(&f.maxv, 1, __ATOMIC_RELAXED);
	assert_float_equal(predict(s, "m", "2", pos, 1, "d", v, sizeof v), 2.5f, 1e-6);
	__atomic_add_fetch(&f.gen, 1, __ATOMIC_RELEASE);
	struct mw_served *m = NULL;
	struct mw_err err = {0};
	assert_int_equal(mw_serve_acquire(s, "m", "2", &m, &err), -MW_E_NOT_FOUND);
	assert_float_equal(predict(s, "m", NULL, pos, 1, "e", v, sizeof v), 1.5f, 1e-6);

	/* registered again with other files: same version, new digest */
	__atomic_store_n(&f.epoch, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&f.gen, 1, __ATOMIC_RELEASE);
	assert_float_equal(predict(s, "m", NULL, pos, 1, "f", v, sizeof v), 11.5f, 1e-6);
	assert_string_equal(v, "1");
	assert_float_equal(predict(s, "m", "1", pos, 1, "g", v, sizeof v), 11.5f, 1e-6);

	/* the model deleted: 404, and the name is forgotten */
	__atomic_store_n(&f.maxv, -1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&f.gen, 1, __ATOMIC_RELEASE);
	assert_int_equal(mw_serve_acquire(s, "m", NULL, &m, &err), -MW_E_NOT_FOUND);
	json_t *list = mw_serve_list(s);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	mw_serve_free(s);
	rm_tree(f.root);
}

struct ready_seen {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls, rc;
	struct mw_served *m;
};

static void on_ready(void *ud, struct mw_served *m, int rc, const struct mw_err *err)
{
	(void)err;
	struct ready_seen *r = ud;
	pthread_mutex_lock(&r->mu);
	r->calls++;
	r->rc = rc;
	r->m = m;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* mw_serve_acquire_async: pending, then ready exactly once with the version;
 * loaded versions come back at once; a version that does not exist is
 * answered through ready too. */
static void test_acquire_async(void **state)
{
	(void)state;
	struct fake f = {.base.ops = &fake_gen_ops, .champion = 1, .gen = 1};
	snprintf(f.root, sizeof f.root, "/tmp/mw-test-serve-XXXXXX");
	assert_non_null(mkdtemp(f.root));
	struct mw_serve *s = new_serve(&f.base, 0, false, 0);
	struct ready_seen r[3];
	for (int i = 0; i < 3; i++) {
		memset(&r[i], 0, sizeof r[i]);
		pthread_mutex_init(&r[i].mu, NULL);
		pthread_cond_init(&r[i].cv, NULL);
	}
	struct mw_served *m = NULL;
	struct mw_err err = {0};
	/* two requests for one version join one load */
	assert_int_equal(mw_serve_acquire_async(s, "m", "3", on_ready, &r[0], &m, &err),
			 MW_SERVE_PENDING);
	assert_int_equal(mw_serve_acquire_async(s, "m", "3", on_ready, &r[1], &m, &err),
			 MW_SERVE_PENDING);
	assert_int_equal(mw_serve_acquire_async(s, "m", "7", on_ready, &r[2], &m, &err),
			 MW_SERVE_PENDING);
	for (int i = 0; i < 3; i++) {
		pthread_mutex_lock(&r[i].mu);
		while (!r[i].calls)
			pthread_cond_wait(&r[i].cv, &r[i].mu);
		pthread_mutex_unlock(&r[i].mu);
	}
	sleep_ms(20);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r[i].calls, 1);
	assert_int_equal(r[0].rc, 0);
	assert_int_equal(r[1].rc, 0);
	assert_ptr_equal(r[0].m, r[1].m);
	assert_string_equal(mw_served_version(r[0].m), "3");
	assert_int_equal(f.fetches, 1);
	assert_int_equal(r[2].rc, -MW_E_NOT_FOUND);
	assert_null(r[2].m);
	mw_served_release(r[0].m);
	mw_served_release(r[1].m);
	assert_int_equal(mw_serve_acquire_async(s, "m", "3", on_ready, &r[0], &m, &err), 0);
	assert_string_equal(mw_served_version(m), "3");
	mw_served_release(m);
	for (int i = 0; i < 3; i++) {
		pthread_mutex_destroy(&r[i].mu);
		pthread_cond_destroy(&r[i].cv);
	}
	mw_serve_free(s);
	rm_tree(f.root);
}

/* max_loaded: the least recently used version is unloaded for a new one */
static void test_max_loaded(void **state)
{
	(void)state;
	struct fake f = {.base.ops = &fake_gen_ops, .champion = 1, .gen = 1};
	snprintf(f.root, sizeof f.root, "/tmp/mw-test-serve-XXXXXX");
	assert_non_null(mkdtemp(f.root));
	struct mw_serve_opts o = {.source = &f.base, .default_alias = "champion", .max_loaded = 2};
	o.batching.max_batch_rows = 64;
	o.batching.max_queue = 16;
	o.batching.timeout_ms = 5000;
	struct mw_serve *s = NULL;
	OK(mw_serve_new(&o, &s, E));
	const float pos[2] = {1, 0};
	char v[16];
	static const char *order[] = {"1", "2", "3", "1", "3", "2"};
	static const int fetched[] = {1, 2, 3, 4, 4, 5};
	for (int i = 0; i < 6; i++) {
		float want = 0.5f + (float)strtol(order[i], NULL, 10);
		assert_float_equal(predict(s, "m", order[i], pos, 1, "a", v, sizeof v), want, 1e-6);
		assert_int_equal(f.fetches, fetched[i]);
	}
	mw_serve_free(s);
	rm_tree(f.root);
}

struct seen {
	pthread_mutex_t mu;
	int n, cached;
	char model[32], version[16], rid[32];
	size_t rows, cols, ycols;
	float x0, y0;
	double latency, queue;
	int rc;
};

static void observer(const struct mw_prediction *p, void *ud)
{
	struct seen *s = ud;
	pthread_mutex_lock(&s->mu);
	s->n++;
	s->cached += p->cached;
	snprintf(s->model, sizeof s->model, "%s", p->model);
	snprintf(s->version, sizeof s->version, "%s", p->version);
	snprintf(s->rid, sizeof s->rid, "%s", p->request_id);
	s->rows = p->rows;
	s->cols = p->cols;
	s->ycols = p->ycols;
	s->x0 = p->x[0];
	s->y0 = p->y ? p->y[0] : NAN;
	s->latency = p->latency_ms;
	s->queue = p->queue_ms;
	s->rc = p->rc;
	pthread_mutex_unlock(&s->mu);
}

static void test_observers_see_every_completed_request(void **state)
{
	(void)state;
	char dir[] = "/tmp/mw-test-serve-XXXXXX";
	assert_non_null(mkdtemp(dir));
	write_stump_model(dir, -2, 2);
	struct mw_serve *s = new_serve(NULL, 0, false, 1 << 16);
	struct seen a = {.mu = PTHREAD_MUTEX_INITIALIZER}, b = {.mu = PTHREAD_MUTEX_INITIALIZER};
	mw_serve_observe(s, observer, &a);
	mw_serve_observe(s, observer, &b);
	OK(mw_serve_add_dir(s, "dirmodel", "4", dir, E));
	const float x[4] = {-1, 0, 1, 0};
	assert_float_equal(predict(s, "dirmodel", NULL, x, 2, "req-1", NULL, 0), -1.5f, 1e-6);
	assert_int_equal(a.n, 1);
	assert_int_equal(b.n, 1);
	assert_string_equal(a.model, "dirmodel");
	assert_string_equal(a.version, "4");
	assert_string_equal(a.rid, "req-1");
	assert_int_equal(a.rows, 2);
	assert_int_equal(a.cols, 2);
	assert_int_equal(a.ycols, 1);
	assert_float_equal(a.x0, -1.0f, 0);
	assert_float_equal(a.y0, -1.5f, 1e-6);
	assert_int_equal(a.rc, 0);
	assert_true(a.latency >= a.queue && a.queue >= 0);
	assert_int_equal(a.cached, 0);
	/* the same rows again: a cache hit is observed too, marked cached */
	predict(s, "dirmodel", NULL, x, 2, "req-2", NULL, 0);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.cached, 1);
	assert_string_equal(a.rid, "req-2");
	/* a directory serves no other version and no other name */
	struct mw_served *m = NULL;
	struct mw_err err = {0};
	assert_int_equal(mw_serve_acquire(s, "dirmodel", "5", &m, &err), -MW_E_NOT_FOUND);
	assert_int_equal(mw_serve_acquire(s, "x", NULL, &m, &err), -MW_E_NOT_FOUND);
	mw_serve_free(s);
	rm_tree(dir);
}

struct where {
	pthread_t th;
	bool done;
};

static void note_thread(struct mw_infer *inf, void *ud)
{
	(void)inf;
	struct where *w = ud;
	w->th = pthread_self();
	__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
}

/* A small request to an idle version of an in-process runtime with no batch
 * delay is computed on the submitting thread (done has run when submit
 * returns); with a delay, or a larger request, it goes to the batcher. */
static void test_inline_runs(void **state)
{
	(void)state;
	char dir[] = "/tmp/mw-test-serve-XXXXXX";
	assert_non_null(mkdtemp(dir));
	write_stump_model(dir, -2, 2);
	for (int delay = 0; delay < 2; delay++) {
		struct mw_serve_opts o = {.default_alias = "champion"};
		o.batching.max_batch_rows = 64;
		o.batching.max_queue = 16;
		o.batching.timeout_ms = 5000;
		o.batching.max_delay_us = delay ? 1000 : 0;
		struct mw_serve *s = NULL;
		OK(mw_serve_new(&o, &s, E));
		OK(mw_serve_add_dir(s, "m", NULL, dir, E));
		struct mw_served *m = NULL;
		OK(mw_serve_acquire(s, "m", NULL, &m, E));
		float x[2 * 100] = {1, 0};
		for (size_t rows = 1; rows <= 100; rows += 99) {
			struct where w = {0};
			struct mw_infer inf = {.x = x,
					       .rows = rows,
					       .cols = 2,
					       .done = note_thread,
					       .ud = &w};
			OK(mw_served_submit(m, &inf, E));
			bool inline_run = !delay && rows <= 64;
			if (inline_run) {
				assert_true(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE));
				assert_true(pthread_equal(w.th, pthread_self()));
			}
			while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE))
				sleep_ms(1);
			if (!inline_run)
				assert_false(pthread_equal(w.th, pthread_self()));
			assert_int_equal(inf.rc, 0);
			assert_float_equal(inf.y[0], 2.5f, 1e-6);
			free(inf.y);
		}
		mw_served_release(m);
		mw_serve_free(s);
	}
	rm_tree(dir);
}

static int fail_fill(void *ctx, const char *tmp, struct mw_err *err)
{
	(void)tmp;
	(*(int *)ctx)++;
	return mw_err_set(err, MW_E_IO, "disk on fire");
}

static int count_fill(void *ctx, const char *tmp, struct mw_err *err)
{
	(void)err;
	(*(int *)ctx)++;
	write_stump_model(tmp, 0, 1);
	return 0;
}

static void test_model_dir_is_filled_once(void **state)
{
	(void)state;
	char root[] = "/tmp/mw-test-serve-XXXXXX";
	assert_non_null(mkdtemp(root));
	struct mw_model_ident id = {.name = "team/fraud model", .version = "3"};
	snprintf(id.digest, sizeof id.digest, "%s", "abcdef0123456789abcdef");
	int calls = 0;
	char *dir = NULL;
	struct mw_err err = {0};
	/* a failing fill leaves nothing behind */
	assert_int_equal(mw_model_dir(root, &id, fail_fill, &calls, &dir, &err), -MW_E_IO);
	assert_null(dir);
	OK(mw_model_dir(root, &id, count_fill, &calls, &dir, E));
	assert_int_equal(calls, 2);
	/* the name is made safe for a file name; the digest is part of it */
	char want[256];
	snprintf(want, sizeof want, "%s/team_fraud_model/3-abcdef012345", root);
	assert_string_equal(dir, want);
	free(dir);
	OK(mw_model_dir(root, &id, count_fill, &calls, &dir, E));
	assert_int_equal(calls, 2); /* complete: not filled again */
	free(dir);
	/* no temporary directory is left: only the complete one */
	char parent[300];
	snprintf(parent, sizeof parent, "%s/team_fraud_model", root);
	DIR *d = opendir(parent);
	assert_non_null(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	assert_int_equal(n, 1);
	rm_tree(root);
}

/* An unload on request while the poll loads the name's new default: the poll
 * must notice the entry is gone (ASan: no use after free), and what it loaded
 * is released. */
static void test_unload_during_swap(void **state)
{
	(void)state;
	struct fake f = {.base.ops = &fake_ops, .champion = 1};
	snprintf(f.root, sizeof f.root, "/tmp/mw-test-serve-XXXXXX");
	assert_non_null(mkdtemp(f.root));
	struct mw_serve *s = new_serve(&f.base, 20, false, 0);
	const float pos[2] = {1, 0};
	char v[16];
	predict(s, "m", NULL, pos, 1, "a", v, sizeof v);
	int fetches = __atomic_load_n(&f.fetches, __ATOMIC_RELAXED);
	__atomic_store_n(&f.slow, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&f.champion, 2, __ATOMIC_RELAXED);
	for (int i = 0; i < 400 && __atomic_load_n(&f.fetches, __ATOMIC_RELAXED) == fetches; i++)
		sleep_ms(5);
	OK(mw_serve_unload(s, "m", E)); /* while the poll loads version 2 */
	sleep_ms(700);
	json_t *idx = mw_serve_index(s, true, 100);
	assert_int_equal(json_array_size(idx), 0); /* nothing of m was put back */
	json_decref(idx);
	__atomic_store_n(&f.slow, 0, __ATOMIC_RELAXED);
	predict(s, "m", NULL, pos, 1, "b", v, sizeof v); /* loads again on request */
	assert_string_equal(v, "2");
	mw_serve_free(s);
	rm_tree(f.root);
}

/* A version loaded by name first (a request by number or reference), then
 * made the default by an alias move: one loaded copy, one series. */
static void test_default_reuses_a_loaded_version(void **state)
{
	(void)state;
	struct fake f = {.base.ops = &fake_ops, .champion = 1};
	snprintf(f.root, sizeof f.root, "/tmp/mw-test-serve-XXXXXX");
	assert_non_null(mkdtemp(f.root));
	struct mw_serve *s = new_serve(&f.base, 20, false, 0);
	const float pos[2] = {1, 0};
	char v[16];
	predict(s, "m", NULL, pos, 1, "a", v, sizeof v);
	predict(s, "m", "2", pos, 1, "b", v, sizeof v);
	assert_int_equal(__atomic_load_n(&f.fetches, __ATOMIC_RELAXED), 2);
	__atomic_store_n(&f.champion, 2, __ATOMIC_RELAXED);
	for (int i = 0; i < 500; i++) {
		predict(s, "m", NULL, pos, 1, "d", v, sizeof v);
		if (!strcmp(v, "2"))
			break;
		sleep_ms(10);
	}
	assert_string_equal(v, "2");
	assert_int_equal(__atomic_load_n(&f.fetches, __ATOMIC_RELAXED), 2); /* not loaded again */
	struct mw_buf b;
	mw_buf_init(&b, 1 << 20);
	assert_int_equal(mw_serve_render_metrics(s, &b), 0);
	size_t n = 0;
	for (const char *p = b.data; (p = strstr(p, "mw_model_loaded{model=\"m\",version=\"2\"")); p++)
		n++;
	assert_int_equal(n, 1);
	mw_buf_release(&b);
	mw_serve_free(s);
	rm_tree(f.root);
}

int main(void)
{
	mw_log_set_level(MW_LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unload_during_swap),
		cmocka_unit_test(test_default_reuses_a_loaded_version),
		cmocka_unit_test(test_source_default_explicit_and_swap),
		cmocka_unit_test(test_generation_revalidates),
		cmocka_unit_test(test_acquire_async),
		cmocka_unit_test(test_max_loaded),
		cmocka_unit_test(test_bound_only),
		cmocka_unit_test(test_observers_see_every_completed_request),
		cmocka_unit_test(test_model_dir_is_filled_once),
		cmocka_unit_test(test_inline_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
