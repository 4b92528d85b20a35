/*
 * serve.c - the model server: loading registered versions, batching,
 * hot swap, response cache, metrics and the prediction log.
 *
 * Lifetimes.  A loaded version (struct mw_served) is reference counted.
 * References are held by: the entry that serves it as a name's default,
 * the entry's list of explicitly requested versions, every API caller between
 * acquire and release, and every queued request.  When the count drops to
 * zero the version goes to the retire list; the housekeeping thread stops its
 * batcher and unloads it (never the batcher thread itself, which may be the
 * one that dropped the last reference).
 *
 * Hot swap.  The housekeeping thread polls each name's alias every poll_ms.
 * When it moved, the new version is loaded and warmed (one prediction) off
 * the request path, then swapped in under the lock: new requests go to it,
 * requests already queued finish on the old one, which retires when the last
 * of them is done.  A version that fails to load leaves the old one serving
 * and its error is kept for the status endpoints.
 *
 * Batching.  One thread per loaded version.  It waits for the first request,
 * then for more until max_batch_rows rows are queued or the first has waited
 * max_delay_us, runs the runtime once and completes every request.  A full
 * queue is refused at submit (503); a request that waited past its timeout
 * is failed instead of computed.
 */
#include "serve/serve_int.h"
#include "store/artifacts.h"
#include "store/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ================================================================ types */

struct cache_ent {
	char key[65];
	float *y;
	size_t n;
	int64_t expires;
	struct cache_ent *prev, *next, *hnext;
};

struct cache {
	pthread_mutex_t mu;
	size_t cap, bytes;
	int64_t ttl_ms;
	struct cache_ent **tab;
	size_t nb;
	struct cache_ent *head, *tail; /* LRU: head is newest */
};

struct mw_served {
	struct mw_serve *s;
	char *name, *version, *dir, *runtime_name;
	const struct mw_rt_ops *rt;
	void *model;
	json_t *meta;
	size_t nfeat, nout;
	int refs;

	pthread_t th;
	bool th_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct mw_infer *head, *tail;
	int qlen;
	size_t qrows;
	bool stopping;
	struct mw_batching b;
	struct cache *cache;

	unsigned long long n_ok, n_err, n_rejected, n_cache_hits, n_batches, n_rows;
	unsigned long long n_err_code[MW_E__COUNT];
	struct mw_hist h_queue, h_compute, h_total, h_batch;
	struct mw_served *retire_next;
};

struct entry {
	char *name;
	char *bind;                /* alias (without '@') or version, NULL = default */
	bool from_dir;
	struct mw_served *current; /* default version (one reference) */
	struct mw_served **versions; /* explicitly requested versions (one ref each) */
	size_t nversions;
	bool loading;
	char *last_error;
	char *failed_version;      /* the version that last failed to load */
	uint64_t failed_at_ns;     /* when: it is tried again 30 s later */
	struct entry *next;
};

/* A prediction as handed to the logger: copied, formatted by the logger
 * thread so the batcher only copies floats. */
struct logrec {
	char *request_id, *model, *version, *error;
	float *x, *y;
	size_t rows, cols, ycols;
	int64_t ts;
	double latency_ms, queue_ms;
};

struct mw_serve {
	struct mw_serve_opts o;
	char *data_dir, *python, *default_alias, *log_dir;
	pthread_mutex_t mu;
	pthread_cond_t cv;          /* entry loading finished, or retire work */
	struct entry *entries;
	struct mw_served *retire;
	pthread_t house;
	bool house_started;
	bool stopping;
	int live;                   /* loaded versions not destroyed yet */

	/* prediction log */
	pthread_t log_th;
	bool log_on;
	pthread_mutex_t lmu;
	pthread_cond_t lcv;
	struct logrec *ring;
	int ring_cap, ring_head, ring_len;
	unsigned long long log_written, log_dropped;
	FILE *log_f;
	size_t log_bytes;
};

/* ================================================================ helpers */

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = mw_xmalloc(n);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

static int mkdirs(const char *path)
{
	char *p = mw_xstrdup(path);
	for (char *q = p + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = 0;
		mkdir(p, 0755);
		*q = '/';
	}
	int rc = mkdir(p, 0755) && errno != EEXIST ? -1 : 0;
	free(p);
	return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Remove a directory tree (our own materialised copies only). */
static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void abs_deadline(struct timespec *ts, uint64_t mono_ns)
{
	ts->tv_sec = (time_t)(mono_ns / 1000000000ull);
	ts->tv_nsec = (long)(mono_ns % 1000000000ull);
}

/* ================================================================ cache */

static struct cache *cache_new(size_t cap, int64_t ttl)
{
	struct cache *c = mw_xcalloc(1, sizeof *c);
	pthread_mutex_init(&c->mu, NULL);
	c->cap = cap;
	c->ttl_ms = ttl;
	c->nb = 1024;
	c->tab = mw_xcalloc(c->nb, sizeof *c->tab);
	return c;
}

static size_t cache_slot(struct cache *c, const char *key)
{
	size_t h = 0;
	for (int i = 0; i < 8 && key[i]; i++)
		h = h * 16 + (size_t)(key[i] <= '9' ? key[i] - '0' : key[i] - 'a' + 10);
	return h % c->nb;
}

static void cache_unlink(struct cache *c, struct cache_ent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	struct cache_ent **pp = &c->tab[cache_slot(c, e->key)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	c->bytes -= e->n * sizeof(float) + sizeof *e;
	free(e->y);
	free(e);
}

static void cache_free(struct cache *c)
{
	if (!c)
		return;
	while (c->head)
		cache_unlink(c, c->head);
	free(c->tab);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void cache_key(const struct mw_served *m, const struct mw_infer *inf, char key[65])
{
	struct mw_sha256 *h = mw_sha256_new();
	mw_sha256_update(h, m->name, strlen(m->name) + 1);
	mw_sha256_update(h, m->version, strlen(m->version) + 1);
	uint64_t shape[2] = {inf->rows, inf->cols};
	mw_sha256_update(h, shape, sizeof shape);
	mw_sha256_update(h, inf->x, inf->rows * inf->cols * sizeof(float));
	mw_sha256_final(h, key);
}

static bool cache_get(struct cache *c, const char *key, float **y, size_t *n)
{
	bool hit = false;
	pthread_mutex_lock(&c->mu);
	for (struct cache_ent *e = c->tab[cache_slot(c, key)]; e; e = e->hnext) {
		if (strcmp(e->key, key))
			continue;
		if (e->expires && e->expires < mw_now_ms()) {
			cache_unlink(c, e);
			break;
		}
		*y = mw_xmalloc(e->n * sizeof(float));
		memcpy(*y, e->y, e->n * sizeof(float));
		*n = e->n;
		/* move to the front */
		if (c->head != e) {
			e->prev->next = e->next;
			if (e->next)
				e->next->prev = e->prev;
			else
				c->tail = e->prev;
			e->prev = NULL;
			e->next = c->head;
			c->head->prev = e;
			c->head = e;
		}
		hit = true;
		break;
	}
	pthread_mutex_unlock(&c->mu);
	return hit;
}

static void cache_put(struct cache *c, const char *key, const float *y, size_t n)
{
	size_t cost = n * sizeof(float) + sizeof(struct cache_ent);
	if (cost > c->cap)
		return;
	pthread_mutex_lock(&c->mu);
	for (struct cache_ent *e = c->tab[cache_slot(c, key)]; e; e = e->hnext)
		if (!strcmp(e->key, key)) {
			pthread_mutex_unlock(&c->mu);
			return;
		}
	while (c->tail && c->bytes + cost > c->cap)
		cache_unlink(c, c->tail);
	struct cache_ent *e = mw_xcalloc(1, sizeof *e);
	memcpy(e->key, key, 65);
	e->y = mw_xmalloc(n * sizeof(float));
	memcpy(e->y, y, n * sizeof(float));
	e->n = n;
	e->expires = c->ttl_ms ? mw_now_ms() + c->ttl_ms : 0;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
	size_t slot = cache_slot(c, key);
	e->hnext = c->tab[slot];
	c->tab[slot] = e;
	c->bytes += cost;
	pthread_mutex_unlock(&c->mu);
}

/* ================================================================ batcher */

static void finish(struct mw_served *m, struct mw_infer *inf)
{
	inf->t_end_ns = mw_mono_ns();
	double total = (double)(inf->t_end_ns - inf->t_enqueue_ns) / 1e9;
	mw_hist_observe(&m->h_total, total);
	if (inf->rc) {
		int code = inf->err.code > 0 && inf->err.code < MW_E__COUNT ? inf->err.code
									    : MW_E_INTERNAL;
		__atomic_fetch_add(&m->n_err, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&m->n_err_code[code], 1, __ATOMIC_RELAXED);
	} else
		__atomic_fetch_add(&m->n_ok, 1, __ATOMIC_RELAXED);
	inf->done(inf, inf->ud);
}

static void fail(struct mw_served *m, struct mw_infer *inf, int code, const char *msg)
{
	inf->rc = mw_err_set(&inf->err, code, "%s", msg);
	finish(m, inf);
}

static void run_batch(struct mw_served *m, struct mw_infer *batch, size_t rows)
{
	uint64_t now = mw_mono_ns();
	/* drop requests that waited too long */
	struct mw_infer *live = NULL, **tail = &live;
	size_t nrows = 0;
	for (struct mw_infer *i = batch; i;) {
		struct mw_infer *next = i->next;
		int64_t to = i->timeout_ms ? i->timeout_ms : m->b.timeout_ms;
		if (to > 0 && now - i->t_enqueue_ns > (uint64_t)to * 1000000ull) {
			char msg[160];
			snprintf(msg, sizeof msg, "request timed out after %lld ms in the queue of %s/%s",
				 (long long)to, m->name, m->version);
			i->t_start_ns = now;
			fail(m, i, MW_E_UNAVAILABLE, msg);
		} else {
			*tail = i;
			tail = &i->next;
			nrows += i->rows;
		}
		i = next;
	}
	*tail = NULL;
	(void)rows;
	if (!live)
		return;
	size_t cols = m->nfeat;
	float *x;
	bool own = false;
	if (!live->next) {
		x = (float *)live->x;
	} else {
		x = mw_xmalloc((nrows ? nrows : 1) * cols * sizeof(float));
		own = true;
		size_t off = 0;
		for (struct mw_infer *i = live; i; i = i->next) {
			memcpy(x + off * cols, i->x, i->rows * cols * sizeof(float));
			off += i->rows;
		}
	}
	float *y = mw_xmalloc((nrows ? nrows : 1) * m->nout * sizeof(float));
	struct mw_err err = {0};
	uint64_t t0 = mw_mono_ns();
	int rc = m->rt->predict(m->model, x, nrows, cols, y, &err);
	uint64_t t1 = mw_mono_ns();
	mw_hist_observe(&m->h_compute, (double)(t1 - t0) / 1e9);
	mw_hist_observe(&m->h_batch, (double)nrows);
	__atomic_fetch_add(&m->n_batches, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&m->n_rows, nrows, __ATOMIC_RELAXED);
	size_t off = 0;
	for (struct mw_infer *i = live; i;) {
		struct mw_infer *next = i->next;
		i->t_start_ns = t0;
		mw_hist_observe(&m->h_queue, (double)(t0 - i->t_enqueue_ns) / 1e9);
		if (rc) {
			i->rc = rc;
			i->err = err;
		} else {
			i->ycols = m->nout;
			i->y = mw_xmalloc((i->rows ? i->rows : 1) * m->nout * sizeof(float));
			memcpy(i->y, y + off * m->nout, i->rows * m->nout * sizeof(float));
			if (m->cache) {
				char key[65];
				cache_key(m, i, key);
				cache_put(m->cache, key, i->y, i->rows * m->nout);
			}
		}
		off += i->rows;
		finish(m, i);
		i = next;
	}
	free(y);
	if (own)
		free(x);
}

static void *batcher_main(void *p)
{
	struct mw_served *m = p;
	pthread_mutex_lock(&m->mu);
	for (;;) {
		while (!m->head && !m->stopping)
			pthread_cond_wait(&m->cv, &m->mu);
		if (!m->head)
			break;
		if (!m->stopping && m->b.max_delay_us > 0 && m->qrows < (size_t)m->b.max_batch_rows) {
			uint64_t deadline = m->head->t_enqueue_ns + (uint64_t)m->b.max_delay_us * 1000ull;
			struct timespec ts;
			abs_deadline(&ts, deadline);
			while (!m->stopping && m->qrows < (size_t)m->b.max_batch_rows &&
			       mw_mono_ns() < deadline)
				if (pthread_cond_timedwait(&m->cv, &m->mu, &ts) == ETIMEDOUT)
					break;
		}
		/* take whole requests up to max_batch_rows (at least one) */
		struct mw_infer *batch = m->head, *last = m->head;
		size_t rows = last->rows;
		int n = 1;
		while (last->next && rows + last->next->rows <= (size_t)m->b.max_batch_rows) {
			last = last->next;
			rows += last->rows;
			n++;
		}
		m->head = last->next;
		if (!m->head)
			m->tail = NULL;
		last->next = NULL;
		m->qlen -= n;
		m->qrows -= rows;
		bool stopping = m->stopping;
		pthread_mutex_unlock(&m->mu);
		if (stopping) {
			for (struct mw_infer *i = batch; i;) {
				struct mw_infer *next = i->next;
				fail(m, i, MW_E_UNAVAILABLE, "the model is being unloaded");
				i = next;
			}
		} else {
			run_batch(m, batch, rows);
		}
		pthread_mutex_lock(&m->mu);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/* ================================================================ loaded versions */

static void served_destroy(struct mw_served *m)
{
	if (m->th_started) {
		pthread_mutex_lock(&m->mu);
		m->stopping = true;
		pthread_cond_broadcast(&m->cv);
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->th, NULL);
	}
	if (m->model)
		m->rt->unload(m->model);
	mw_info("serve: unloaded %s/%s", m->name, m->version);
	__atomic_fetch_sub(&m->s->live, 1, __ATOMIC_RELAXED);
	cache_free(m->cache);
	json_decref(m->meta);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m->name);
	free(m->version);
	free(m->dir);
	free(m);
}

static void served_ref(struct mw_served *m)
{
	__atomic_fetch_add(&m->refs, 1, __ATOMIC_RELAXED);
}

void mw_served_release(struct mw_served *m)
{
	if (!m)
		return;
	if (__atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	struct mw_serve *s = m->s;
	pthread_mutex_lock(&s->mu);
	m->retire_next = s->retire;
	s->retire = m;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static int served_load_abs(struct mw_serve *s, const char *name, const char *version,
			   const char *dir, struct mw_served **out, struct mw_err *err);

/* Load a model directory with its runtime, warm it, start its batcher. */
static int served_load(struct mw_serve *s, const char *name, const char *version,
		       const char *dir_in, struct mw_served **out, struct mw_err *err)
{
	/* runtimes (and python workers, whose cwd may differ) get absolute paths */
	char *dir = realpath(dir_in, NULL);
	if (!dir)
		return mw_err_set(err, MW_E_NOT_FOUND, "cannot open model %s: %s", dir_in,
				  strerror(errno));
	int lrc = served_load_abs(s, name, version, dir, out, err);
	free(dir);
	return lrc;
}

static int served_load_abs(struct mw_serve *s, const char *name, const char *version,
			   const char *dir, struct mw_served **out, struct mw_err *err)
{
	json_t *mlmodel = NULL;
	struct stat st;
	char *mlpath = join(dir, "MLmodel");
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
		.timeout_ms = s->o.batching.timeout_ms > 0 ? s->o.batching.timeout_ms : 30000,
	};
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
	size_t nf = (size_t)json_integer_value(json_object_get(meta, "features"));
	size_t no = (size_t)json_integer_value(json_object_get(meta, "outputs_per_row"));
	if (!nf || !no) {
		json_decref(meta);
		rt->unload(model);
		return mw_err_set(err, MW_E_INVALID, "%s/%s: the runtime could not tell the model's "
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
	m->dir = mw_xstrdup(dir);
	m->rt = rt;
	m->model = model;
	m->meta = meta;
	m->nfeat = nf;
	m->nout = no;
	m->refs = 1;
	m->b = s->o.batching;
	if (m->b.max_batch_rows < 1)
		m->b.max_batch_rows = 1;
	if (m->b.max_queue < 1)
		m->b.max_queue = 1024;
	if (m->b.cache_bytes)
		m->cache = cache_new(m->b.cache_bytes, m->b.cache_ttl_ms);
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* batch deadlines are monotonic */
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	static const double rows_b[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
	mw_hist_init(&m->h_queue, mw_latency_buckets, mw_latency_nbuckets);
	mw_hist_init(&m->h_compute, mw_latency_buckets, mw_latency_nbuckets);
	mw_hist_init(&m->h_total, mw_latency_buckets, mw_latency_nbuckets);
	mw_hist_init(&m->h_batch, rows_b, 12);
	if (pthread_create(&m->th, NULL, batcher_main, m)) {
		__atomic_fetch_add(&s->live, 1, __ATOMIC_RELAXED); /* destroy decrements */
		served_destroy(m);
		return mw_err_set(err, MW_E_INTERNAL, "cannot start a batcher thread");
	}
	m->th_started = true;
	__atomic_fetch_add(&s->live, 1, __ATOMIC_RELAXED);
	mw_info("serve: loaded %s/%s (%s runtime, %zu features, %zu outputs) in %.1f ms", name,
		version, rt->name, nf, no, (double)(mw_mono_ns() - t0) / 1e6);
	*out = m;
	return 0;
}

/* ================================================================ registry versions */

/* Copy (hard-link) the pinned files of a version into the model cache. */
static int materialise(struct mw_serve *s, const char *name, const char *version,
		       char **dir_out, struct mw_err *err)
{
	int64_t v;
	if (mw_parse_int64(version, &v) || v < 1)
		return mw_err_set(err, MW_E_NOT_FOUND,
				  "registered model '%.100s' has no version '%.40s' (versions are "
				  "numbers)",
				  name, version);
	struct mw_arena *ar = mw_arena_new(4096);
	struct mw_model_version mv;
	int rc = mw_store_mv_get(s->o.store, name, v, ar, &mv, err);
	if (rc) {
		mw_arena_free(ar);
		return rc;
	}
	char *pinned = mv.files ? mw_xstrdup(mv.files) : NULL;
	char digest[65];
	snprintf(digest, sizeof digest, "%s", mv.manifest_digest ? mv.manifest_digest : "none");
	mw_arena_free(ar);
	if (!pinned)
		return mw_err_set(err, MW_E_INVALID,
				  "%s/%s has no files in mw's artifact store (storage_location missing)",
				  name, version);
	char safe[160];
	size_t k = 0;
	for (const char *p = name; *p && k < sizeof safe - 1; p++)
		safe[k++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
					    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
				    ? *p
				    : '_';
	safe[k] = 0;
	char sub[400];
	snprintf(sub, sizeof sub, "models/%s/%s-%.12s", safe, version, digest);
	char *dir = join(s->data_dir, sub);
	char *done = join(dir, ".complete");
	struct stat st;
	if (!stat(done, &st)) { /* materialised before */
		free(done);
		free(pinned);
		*dir_out = dir;
		return 0;
	}
	free(done);
	ar = mw_arena_new(16384);
	struct mw_art_file *files = NULL;
	size_t nfiles = 0;
	rc = mw_store_art_tree(s->o.store, pinned, ar, &files, &nfiles, err);
	free(pinned);
	if (!rc && !nfiles)
		rc = mw_err_set(err, MW_E_INVALID, "%s/%s has no files", name, version);
	if (rc) {
		mw_arena_free(ar);
		free(dir);
		return rc;
	}
	char rnd[33];
	mw_id_hex32(rnd, err);
	size_t tn = strlen(dir) + 48;
	char *tmp = mw_xmalloc(tn);
	snprintf(tmp, tn, "%s.tmp-%s", dir, rnd);
	mkdirs(tmp);
	for (size_t i = 0; !rc && i < nfiles; i++) {
		char *dest = join(tmp, files[i].path);
		char *slash = strrchr(dest, '/');
		*slash = 0;
		mkdirs(dest);
		*slash = '/';
		rc = mw_blob_link(s->o.blob, files[i].digest, dest, err);
		free(dest);
	}
	mw_arena_free(ar);
	if (!rc) {
		char *mark = join(tmp, ".complete");
		int fd = open(mark, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		free(mark);
		if (rename(tmp, dir) && errno != ENOTEMPTY && errno != EEXIST)
			rc = mw_err_set(err, MW_E_IO, "cannot move %s into place: %s", dir,
					strerror(errno));
	}
	if (access(tmp, F_OK) == 0) /* failed, or another loader won the race */
		rm_rf(tmp);
	free(tmp);
	if (rc) {
		free(dir);
		return rc;
	}
	*dir_out = dir;
	return 0;
}

/* The version a name's default resolves to now ("@alias" binding, the
 * default alias, else the latest version). */
static int resolve_default(struct mw_serve *s, struct entry *e, char **version,
			   struct mw_err *err)
{
	const char *alias = e->bind ? e->bind : s->default_alias;
	bool is_version = e->bind && e->bind[0] >= '0' && e->bind[0] <= '9';
	if (is_version) {
		*version = mw_xstrdup(e->bind);
		return 0;
	}
	struct mw_arena *ar = mw_arena_new(8192);
	struct mw_model_version mv;
	char buf[32];
	int rc = alias ? mw_store_rm_get_by_alias(s->o.store, e->name, alias, ar, &mv, err) : -1;
	if (!rc) {
		snprintf(buf, sizeof buf, "%lld", (long long)mv.version);
		mw_arena_free(ar);
		*version = mw_xstrdup(buf);
		return 0;
	}
	if (e->bind) { /* an explicit alias that does not resolve is an error */
		mw_arena_free(ar);
		return rc;
	}
	/* no alias: the latest version */
	struct mw_registered_model rm;
	struct mw_err e2 = {0};
	if ((rc = mw_store_rm_get(s->o.store, e->name, ar, &rm, &e2))) {
		mw_arena_free(ar);
		*err = e2;
		return rc;
	}
	int64_t best = 0;
	for (size_t i = 0; i < rm.nlatest; i++)
		if (rm.latest_versions[i].version > best)
			best = rm.latest_versions[i].version;
	mw_arena_free(ar);
	if (!best)
		return mw_err_set(err, MW_E_NOT_FOUND,
				  "registered model '%s' has no version to serve", e->name);
	snprintf(buf, sizeof buf, "%lld", (long long)best);
	*version = mw_xstrdup(buf);
	return 0;
}

static int load_version(struct mw_serve *s, const char *name, const char *version,
			struct mw_served **out, struct mw_err *err)
{
	char *dir = NULL;
	int rc = materialise(s, name, version, &dir, err);
	if (!rc)
		rc = served_load(s, name, version, dir, out, err);
	free(dir);
	return rc;
}

/* ================================================================ entries */

static struct entry *entry_find(struct mw_serve *s, const char *name)
{
	for (struct entry *e = s->entries; e; e = e->next)
		if (!strcmp(e->name, name))
			return e;
	return NULL;
}

static void entry_drop(struct mw_serve *s, struct entry *e)
{
	for (struct entry **pp = &s->entries; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	free(e->versions);
	free(e->name);
	free(e->bind);
	free(e->last_error);
	free(e->failed_version);
	free(e);
}

static struct entry *entry_get(struct mw_serve *s, const char *name)
{
	struct entry *e = entry_find(s, name);
	if (e)
		return e;
	e = mw_xcalloc(1, sizeof *e);
	e->name = mw_xstrdup(name);
	e->next = s->entries;
	s->entries = e;
	return e;
}

static void set_error(struct entry *e, const char *version, const char *msg)
{
	e->failed_at_ns = mw_mono_ns();
	free(e->last_error);
	free(e->failed_version);
	e->last_error = msg ? mw_xstrdup(msg) : NULL;
	e->failed_version = version ? mw_xstrdup(version) : NULL;
}

int mw_serve_acquire(struct mw_serve *s, const char *name, const char *version,
		     struct mw_served **out, struct mw_err *err)
{
	bool want_default = !version || !*version;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		if (s->stopping) {
			pthread_mutex_unlock(&s->mu);
			return mw_err_set(err, MW_E_UNAVAILABLE, "the server is shutting down");
		}
		struct entry *e = entry_find(s, name);
		if (!e && !s->o.store) {
			pthread_mutex_unlock(&s->mu);
			return mw_err_set(err, MW_E_NOT_FOUND, "no model named '%s' is served", name);
		}
		if (!e)
			e = entry_get(s, name);
		struct mw_served *hit = NULL;
		if (want_default)
			hit = e->current;
		else {
			for (size_t i = 0; i < e->nversions; i++)
				if (!strcmp(e->versions[i]->version, version))
					hit = e->versions[i];
			if (!hit && e->current && !strcmp(e->current->version, version))
				hit = e->current;
		}
		if (hit) {
			served_ref(hit);
			pthread_mutex_unlock(&s->mu);
			*out = hit;
			return 0;
		}
		if (e->from_dir) {
			pthread_mutex_unlock(&s->mu);
			return mw_err_set(err, MW_E_NOT_FOUND, "model '%s' has no version '%s'", name,
					  version ? version : "");
		}
		if (want_default && !e->current && e->last_error &&
		    mw_mono_ns() - e->failed_at_ns < 5000000000ull) {
			/* it failed to load moments ago: answer that, do not reload per request */
			int rc = mw_err_set(err, MW_E_UNAVAILABLE,
					    "model %.100s version %.30s cannot be loaded: %.300s", name,
					    e->failed_version ? e->failed_version : "?", e->last_error);
			pthread_mutex_unlock(&s->mu);
			return rc;
		}
		if (e->loading) { /* someone else is loading this name: wait */
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		e->loading = true;
		pthread_mutex_unlock(&s->mu);

		char *ver = NULL;
		int rc = 0;
		struct mw_served *m = NULL;
		if (want_default)
			rc = resolve_default(s, e, &ver, err);
		else
			ver = mw_xstrdup(version);
		if (!rc)
			rc = load_version(s, name, ver, &m, err);

		pthread_mutex_lock(&s->mu);
		e->loading = false;
		pthread_cond_broadcast(&s->cv);
		if (rc) {
			int code = err->code ? err->code : -rc;
			if (want_default && code != MW_E_NOT_FOUND)
				set_error(e, ver, err->msg); /* the default failed to load */
			if (code == MW_E_NOT_FOUND && !e->current && !e->nversions && !e->bind &&
			    !e->from_dir)
				entry_drop(s, e); /* remember nothing of names that do not exist */
			pthread_mutex_unlock(&s->mu);
			if (code != MW_E_NOT_FOUND && code != MW_E_UNAVAILABLE) {
				/* a model that cannot load makes the endpoint unavailable, not the
				 * request bad */
				char msg[sizeof err->msg];
				snprintf(msg, sizeof msg, "model %.100s version %.30s cannot be loaded: %.300s",
					 name, ver ? ver : "?", err->msg);
				rc = mw_err_set(err, MW_E_UNAVAILABLE, "%s", msg);
			}
			free(ver);
			return rc;
		}
		set_error(e, NULL, NULL);
		if (want_default && !e->current) {
			e->current = m; /* the entry's reference */
		} else {
			e->versions = mw_xrealloc(e->versions, (e->nversions + 1) * sizeof *e->versions);
			e->versions[e->nversions++] = m;
		}
		free(ver);
		served_ref(m);
		pthread_mutex_unlock(&s->mu);
		*out = m;
		return 0;
	}
}

int mw_serve_add_dir(struct mw_serve *s, const char *name, const char *version, const char *dir,
		     struct mw_err *err)
{
	struct mw_served *m = NULL;
	int rc = served_load(s, name, version && *version ? version : "1", dir, &m, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->mu);
	struct entry *e = entry_get(s, name);
	e->from_dir = true;
	struct mw_served *old = e->current;
	e->current = m;
	pthread_mutex_unlock(&s->mu);
	mw_served_release(old);
	return 0;
}

int mw_serve_bind(struct mw_serve *s, const char *name, const char *spec, struct mw_err *err)
{
	if (!spec || !*spec)
		return mw_err_set(err, MW_E_INVALID, "empty binding for '%s'", name);
	pthread_mutex_lock(&s->mu);
	struct entry *e = entry_get(s, name);
	free(e->bind);
	e->bind = mw_xstrdup(spec[0] == '@' ? spec + 1 : spec);
	pthread_mutex_unlock(&s->mu);
	/* load now, so a bad binding fails at start-up */
	struct mw_served *m;
	int rc = mw_serve_acquire(s, name, NULL, &m, err);
	if (!rc)
		mw_served_release(m);
	return rc;
}

/* ================================================================ housekeeping */

static void check_aliases(struct mw_serve *s)
{
	pthread_mutex_lock(&s->mu);
	size_t n = 0;
	for (struct entry *e = s->entries; e; e = e->next)
		n++;
	char **names = mw_xcalloc(n + 1, sizeof *names);
	size_t k = 0;
	for (struct entry *e = s->entries; e; e = e->next)
		if (!e->from_dir && e->current && !e->loading)
			names[k++] = mw_xstrdup(e->name);
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < k; i++) {
		pthread_mutex_lock(&s->mu);
		struct entry *e = entry_find(s, names[i]);
		if (!e || !e->current || e->loading || s->stopping) {
			pthread_mutex_unlock(&s->mu);
			continue;
		}
		char *cur = mw_xstrdup(e->current->version);
		bool recent = e->failed_version && mw_mono_ns() - e->failed_at_ns < 30000000000ull;
		char *failed = recent ? mw_xstrdup(e->failed_version) : NULL;
		e->loading = true;
		pthread_mutex_unlock(&s->mu);

		char *ver = NULL;
		struct mw_err err = {0};
		struct mw_served *m = NULL;
		int rc = resolve_default(s, e, &ver, &err);
		bool changed = !rc && strcmp(ver, cur) && !(failed && !strcmp(failed, ver));
		if (changed) {
			mw_info("serve: %s moved from version %s to %s; loading", names[i], cur, ver);
			rc = load_version(s, names[i], ver, &m, &err);
			if (rc)
				mw_warn("serve: %s/%s failed to load, %s/%s keeps serving: %s", names[i],
					ver, names[i], cur, err.msg);
		}
		pthread_mutex_lock(&s->mu);
		e->loading = false;
		pthread_cond_broadcast(&s->cv);
		struct mw_served *old = NULL;
		if (changed && rc) {
			set_error(e, ver, err.msg);
		} else if (changed) {
			set_error(e, NULL, NULL);
			old = e->current;
			e->current = m; /* atomic for requests: they take it under this lock */
			mw_info("serve: %s now serves version %s", names[i], ver);
		}
		pthread_mutex_unlock(&s->mu);
		mw_served_release(old);
		free(ver);
		free(cur);
		free(failed);
		free(names[i]);
	}
	free(names);
}

static void reap(struct mw_serve *s)
{
	pthread_mutex_lock(&s->mu);
	struct mw_served *list = s->retire;
	s->retire = NULL;
	pthread_mutex_unlock(&s->mu);
	while (list) {
		struct mw_served *next = list->retire_next;
		served_destroy(list);
		list = next;
	}
}

static void *house_main(void *p)
{
	struct mw_serve *s = p;
	uint64_t next_poll = mw_mono_ns();
	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		if (s->retire) {
			pthread_mutex_unlock(&s->mu);
			reap(s);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		if (s->o.poll_ms > 0 && s->o.store && mw_mono_ns() >= next_poll) {
			pthread_mutex_unlock(&s->mu);
			check_aliases(s);
			next_poll = mw_mono_ns() + (uint64_t)s->o.poll_ms * 1000000ull;
			pthread_mutex_lock(&s->mu);
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ================================================================ prediction log */

static void logrec_free(struct logrec *r)
{
	free(r->request_id);
	free(r->model);
	free(r->version);
	free(r->error);
	free(r->x);
	free(r->y);
}

static char *format_record(const struct logrec *r, size_t *len)
{
	struct mw_buf b;
	mw_buf_init(&b, 0);
	mw_buf_printf(&b, "{\"ts\":%lld,\"request_id\":", (long long)r->ts);
	mw_json_str_append(&b, r->request_id);
	mw_buf_puts(&b, ",\"model\":");
	mw_json_str_append(&b, r->model);
	mw_buf_puts(&b, ",\"version\":");
	mw_json_str_append(&b, r->version);
	mw_buf_puts(&b, ",\"inputs\":[");
	for (size_t i = 0; i < r->rows; i++) {
		mw_buf_puts(&b, i ? ",[" : "[");
		mw_json_floats_append(&b, r->x + i * r->cols, r->cols);
		mw_buf_puts(&b, "]");
	}
	mw_buf_puts(&b, "],\"outputs\":[");
	for (size_t i = 0; r->y && i < r->rows; i++) {
		mw_buf_puts(&b, i ? ",[" : "[");
		mw_json_floats_append(&b, r->y + i * r->ycols, r->ycols);
		mw_buf_puts(&b, "]");
	}
	mw_buf_printf(&b, "],\"latency_ms\":%.4f,\"queue_ms\":%.4f,\"ok\":%s", r->latency_ms,
		      r->queue_ms, r->error ? "false" : "true");
	if (r->error) {
		mw_buf_puts(&b, ",\"error\":");
		mw_json_str_append(&b, r->error);
	}
	mw_buf_puts(&b, "}");
	char *line = mw_buf_detach(&b, len);
	mw_buf_release(&b);
	return line;
}

static void *log_main(void *p)
{
	struct mw_serve *s = p;
	bool dirty = false;
	pthread_mutex_lock(&s->lmu);
	for (;;) {
		while (!s->ring_len && s->log_on) {
			if (!dirty) {
				pthread_cond_wait(&s->lcv, &s->lmu);
				continue;
			}
			/* flush once things go quiet for 20 ms, not after every record */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 20 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			if (pthread_cond_timedwait(&s->lcv, &s->lmu, &ts) == ETIMEDOUT && !s->ring_len) {
				if (s->log_f)
					fflush(s->log_f);
				dirty = false;
			}
		}
		if (!s->ring_len && !s->log_on)
			break;
		struct logrec r = s->ring[s->ring_head];
		s->ring_head = (s->ring_head + 1) % s->ring_cap;
		s->ring_len--;
		pthread_mutex_unlock(&s->lmu);
		if (!s->log_f || s->log_bytes > (64u << 20)) {
			if (s->log_f)
				fclose(s->log_f);
			char name[64];
			snprintf(name, sizeof name, "predictions-%lld.jsonl", (long long)mw_now_ms());
			char *path = join(s->log_dir, name);
			s->log_f = fopen(path, "a");
			if (!s->log_f)
				mw_warn("prediction log: cannot open %s", path);
			free(path);
			s->log_bytes = 0;
		}
		if (s->log_f) {
			size_t n;
			char *line = format_record(&r, &n);
			fwrite(line, 1, n, s->log_f);
			fputc('\n', s->log_f);
			s->log_bytes += n + 1;
			free(line);
		}
		logrec_free(&r);
		pthread_mutex_lock(&s->lmu);
		s->log_written++;
		dirty = true;
	}
	pthread_mutex_unlock(&s->lmu);
	if (s->log_f)
		fclose(s->log_f);
	return NULL;
}

void mw_serve_log(struct mw_serve *s, const struct mw_served *m, const char *request_id,
		  const struct mw_infer *inf)
{
	if (!s->log_on)
		return;
	pthread_mutex_lock(&s->lmu);
	bool full = s->ring_len >= s->ring_cap;
	pthread_mutex_unlock(&s->lmu);
	if (full) {
		__atomic_fetch_add(&s->log_dropped, 1, __ATOMIC_RELAXED);
		return;
	}
	size_t rows = inf->rows < 4096 ? inf->rows : 4096;
	struct logrec r = {
		.request_id = mw_xstrdup(request_id ? request_id : ""),
		.model = mw_xstrdup(m->name),
		.version = mw_xstrdup(m->version),
		.error = inf->rc ? mw_xstrdup(inf->err.msg) : NULL,
		.rows = rows,
		.cols = inf->cols,
		.ycols = inf->y ? inf->ycols : 0,
		.ts = mw_now_ms(),
		.latency_ms = (double)(inf->t_end_ns - inf->t_enqueue_ns) / 1e6,
		.queue_ms = (double)(inf->t_start_ns - inf->t_enqueue_ns) / 1e6,
	};
	r.x = mw_xmalloc((rows * inf->cols + 1) * sizeof(float));
	memcpy(r.x, inf->x, rows * inf->cols * sizeof(float));
	if (inf->y) {
		r.y = mw_xmalloc((rows * inf->ycols + 1) * sizeof(float));
		memcpy(r.y, inf->y, rows * inf->ycols * sizeof(float));
	}
	pthread_mutex_lock(&s->lmu);
	if (s->ring_len >= s->ring_cap) {
		s->log_dropped++;
		logrec_free(&r);
	} else {
		s->ring[(s->ring_head + s->ring_len) % s->ring_cap] = r;
		s->ring_len++;
		pthread_cond_signal(&s->lcv);
	}
	pthread_mutex_unlock(&s->lmu);
}

/* ================================================================ public */

int mw_serve_new(const struct mw_serve_opts *o, struct mw_serve **out, struct mw_err *err)
{
	struct mw_serve *s = mw_xcalloc(1, sizeof *s);
	s->o = *o;
	s->data_dir = mw_xstrdup(o->data_dir ? o->data_dir : ".");
	s->python = mw_xstrdup(o->python ? o->python : "/usr/bin/python3");
	s->default_alias = o->default_alias && *o->default_alias ? mw_xstrdup(o->default_alias)
								 : NULL;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_mutex_init(&s->lmu, NULL);
	pthread_cond_init(&s->lcv, NULL);
	if (o->log_dir && *o->log_dir) {
		s->log_dir = mw_xstrdup(o->log_dir);
		if (mkdirs(s->log_dir)) {
			int rc = mw_err_set(err, MW_E_IO, "cannot create %s: %s", s->log_dir,
					    strerror(errno));
			mw_serve_free(s);
			return rc;
		}
		s->ring_cap = o->log_queue > 0 ? o->log_queue : 10000;
		s->ring = mw_xcalloc((size_t)s->ring_cap, sizeof *s->ring);
		s->log_on = true;
		if (pthread_create(&s->log_th, NULL, log_main, s)) {
			s->log_on = false;
			mw_serve_free(s);
			return mw_err_set(err, MW_E_INTERNAL, "cannot start the prediction logger");
		}
	}
	if (pthread_create(&s->house, NULL, house_main, s)) {
		mw_serve_free(s);
		return mw_err_set(err, MW_E_INTERNAL, "cannot start the model housekeeping thread");
	}
	s->house_started = true;
	*out = s;
	return 0;
}

static void stop_one(struct mw_served *m)
{
	pthread_mutex_lock(&m->mu);
	m->stopping = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

void mw_serve_stop(struct mw_serve *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	for (struct entry *e = s->entries; e; e = e->next) {
		if (e->current)
			stop_one(e->current);
		for (size_t i = 0; i < e->nversions; i++)
			stop_one(e->versions[i]);
	}
	pthread_mutex_unlock(&s->mu);
}

void mw_serve_free(struct mw_serve *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->house_started)
		pthread_join(s->house, NULL);
	/* drop the entries' references; retired versions fail what is queued */
	struct entry *e = s->entries;
	s->entries = NULL;
	while (e) {
		struct entry *next = e->next;
		mw_served_release(e->current);
		for (size_t i = 0; i < e->nversions; i++)
			mw_served_release(e->versions[i]);
		free(e->versions);
		free(e->name);
		free(e->bind);
		free(e->last_error);
		free(e->failed_version);
		free(e);
		e = next;
	}
	/* versions still referenced by queued requests retire as those finish */
	for (int i = 0; i < 30000; i++) {
		reap(s);
		if (!__atomic_load_n(&s->live, __ATOMIC_RELAXED))
			break;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	if (__atomic_load_n(&s->live, __ATOMIC_RELAXED))
		mw_warn("serve: %d model versions still in use at shutdown",
			__atomic_load_n(&s->live, __ATOMIC_RELAXED));
	if (s->log_on) {
		pthread_mutex_lock(&s->lmu);
		bool was_on = s->log_on;
		s->log_on = false;
		pthread_cond_broadcast(&s->lcv);
		pthread_mutex_unlock(&s->lmu);
		if (was_on)
			pthread_join(s->log_th, NULL);
	}
	free(s->ring);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->lmu);
	pthread_cond_destroy(&s->lcv);
	free(s->data_dir);
	free(s->python);
	free(s->default_alias);
	free(s->log_dir);
	free(s);
}

const char *mw_served_name(const struct mw_served *m)
{
	return m->name;
}

const char *mw_served_version(const struct mw_served *m)
{
	return m->version;
}

const char *mw_served_runtime(const struct mw_served *m)
{
	return m->rt->name;
}

size_t mw_served_num_features(const struct mw_served *m)
{
	return m->nfeat;
}

size_t mw_served_num_outputs(const struct mw_served *m)
{
	return m->nout;
}

json_t *mw_served_feature_names(const struct mw_served *m)
{
	return json_object_get(m->meta, "feature_names");
}

int mw_served_describe(struct mw_served *m, json_t **out, struct mw_err *err)
{
	(void)err;
	json_t *outputs = json_pack("[{s:s,s:s,s:o}]", "name", "output-0", "datatype", "FP32",
				    "shape",
				    m->nout == 1 ? json_pack("[i]", -1)
						 : json_pack("[i,I]", -1, (json_int_t)m->nout));
	json_t *o = json_pack("{s:s,s:[s],s:s,s:O,s:o}", "name", m->name, "versions", m->version,
			      "platform", m->rt->name, "inputs",
			      json_object_get(m->meta, "inputs"), "outputs", outputs);
	*out = o;
	return 0;
}

int mw_served_submit(struct mw_served *m, struct mw_infer *inf, struct mw_err *err)
{
	if (inf->cols != m->nfeat)
		return mw_err_set(err, MW_E_INVALID,
				  "model %s/%s takes %zu features per row, the request has %zu",
				  m->name, m->version, m->nfeat, inf->cols);
	inf->t_enqueue_ns = mw_mono_ns();
	inf->rc = 0;
	inf->y = NULL;
	inf->sv = m;
	inf->next = NULL;
	if (m->cache && inf->rows) {
		char key[65];
		cache_key(m, inf, key);
		size_t n;
		if (cache_get(m->cache, key, &inf->y, &n)) {
			inf->cached = true;
			inf->ycols = m->nout;
			inf->t_start_ns = inf->t_enqueue_ns;
			__atomic_fetch_add(&m->n_cache_hits, 1, __ATOMIC_RELAXED);
			finish(m, inf);
			return 0;
		}
	}
	pthread_mutex_lock(&m->mu);
	if (m->stopping) {
		pthread_mutex_unlock(&m->mu);
		return mw_err_set(err, MW_E_UNAVAILABLE, "model %s/%s is being unloaded", m->name,
				  m->version);
	}
	if (m->qlen >= m->b.max_queue) {
		pthread_mutex_unlock(&m->mu);
		__atomic_fetch_add(&m->n_rejected, 1, __ATOMIC_RELAXED);
		return mw_err_set(err, MW_E_UNAVAILABLE,
				  "model %s/%s is overloaded: %d requests are queued (max-queue)",
				  m->name, m->version, m->b.max_queue);
	}
	if (m->tail)
		m->tail->next = inf;
	else
		m->head = inf;
	m->tail = inf;
	m->qlen++;
	m->qrows += inf->rows;
	if (m->qlen == 1 || m->qrows >= (size_t)m->b.max_batch_rows)
		pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	return 0;
}

json_t *mw_serve_list(struct mw_serve *s)
{
	json_t *a = json_array();
	pthread_mutex_lock(&s->mu);
	for (struct entry *e = s->entries; e; e = e->next) {
		json_t *o = json_pack("{s:s,s:b}", "name", e->name, "ready", e->current != NULL);
		if (e->current)
			json_object_set_new(o, "version", json_string(e->current->version));
		if (e->bind)
			json_object_set_new(o, "bind", json_string(e->bind));
		if (e->last_error)
			json_object_set_new(o, "last_error", json_string(e->last_error));
		if (e->failed_version)
			json_object_set_new(o, "failed_version", json_string(e->failed_version));
		json_array_append_new(a, o);
	}
	pthread_mutex_unlock(&s->mu);
	return a;
}

bool mw_serve_ready(struct mw_serve *s)
{
	pthread_mutex_lock(&s->mu);
	bool ok = !s->stopping;
	for (struct entry *e = s->entries; e && ok; e = e->next)
		if ((e->from_dir || e->bind) && !e->current)
			ok = false;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

static void render_one(struct mw_buf *b, struct mw_served *m, int part)
{
	char l[512];
	snprintf(l, sizeof l, "model=\"%s\",version=\"%s\"", m->name, m->version);
	switch (part) {
	case 0:
		mw_buf_printf(b, "mw_model_requests_total{%s,result=\"ok\"} %llu\n", l,
			      __atomic_load_n(&m->n_ok, __ATOMIC_RELAXED));
		mw_buf_printf(b, "mw_model_requests_total{%s,result=\"error\"} %llu\n", l,
			      __atomic_load_n(&m->n_err, __ATOMIC_RELAXED));
		mw_buf_printf(b, "mw_model_requests_total{%s,result=\"rejected\"} %llu\n", l,
			      __atomic_load_n(&m->n_rejected, __ATOMIC_RELAXED));
		break;
	case 8:
		for (int c = 1; c < MW_E__COUNT; c++) {
			unsigned long long v = __atomic_load_n(&m->n_err_code[c], __ATOMIC_RELAXED);
			if (v)
				mw_buf_printf(b, "mw_model_errors_total{%s,code=\"%s\"} %llu\n", l,
					      mw_err_name(c), v);
		}
		break;
	case 1:
		mw_buf_printf(b, "mw_model_cache_hits_total{%s} %llu\n", l,
			      __atomic_load_n(&m->n_cache_hits, __ATOMIC_RELAXED));
		break;
	case 2:
		mw_buf_printf(b, "mw_model_queue_depth{%s} %d\n", l, m->qlen);
		break;
	case 3:
		mw_hist_render(&m->h_queue, b, "mw_model_queue_seconds", l);
		break;
	case 4:
		mw_hist_render(&m->h_compute, b, "mw_model_compute_seconds", l);
		break;
	case 5:
		mw_hist_render(&m->h_total, b, "mw_model_request_seconds", l);
		break;
	case 6:
		mw_hist_render(&m->h_batch, b, "mw_model_batch_rows", l);
		break;
	case 7:
		mw_buf_printf(b, "mw_model_loaded{%s,runtime=\"%s\"} 1\n", l, m->rt->name);
		break;
	}
}

void mw_serve_render_metrics(struct mw_serve *s, struct mw_buf *out)
{
	static const char *heads[] = {
		"# HELP mw_model_requests_total Inference requests by result.\n"
		"# TYPE mw_model_requests_total counter\n",
		"# HELP mw_model_cache_hits_total Requests answered from the response cache.\n"
		"# TYPE mw_model_cache_hits_total counter\n",
		"# HELP mw_model_queue_depth Requests waiting for a batch.\n"
		"# TYPE mw_model_queue_depth gauge\n",
		"# HELP mw_model_queue_seconds Time requests waited for their batch.\n"
		"# TYPE mw_model_queue_seconds histogram\n",
		"# HELP mw_model_compute_seconds Time the runtime took per batch.\n"
		"# TYPE mw_model_compute_seconds histogram\n",
		"# HELP mw_model_request_seconds Time from queueing to completion.\n"
		"# TYPE mw_model_request_seconds histogram\n",
		"# HELP mw_model_batch_rows Rows per batch.\n# TYPE mw_model_batch_rows histogram\n",
		"# HELP mw_model_loaded Loaded model versions.\n# TYPE mw_model_loaded gauge\n",
		"# HELP mw_model_errors_total Failed inference requests by error code.\n"
		"# TYPE mw_model_errors_total counter\n",
	};
	pthread_mutex_lock(&s->mu);
	for (int part = 0; part < 9; part++) {
		mw_buf_puts(out, heads[part]);
		for (struct entry *e = s->entries; e; e = e->next) {
			if (e->current)
				render_one(out, e->current, part);
			for (size_t i = 0; i < e->nversions; i++)
				if (e->versions[i] != e->current)
					render_one(out, e->versions[i], part);
		}
	}
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_lock(&s->lmu);
	mw_buf_printf(out,
		      "# HELP mw_prediction_log_records_total Prediction log records by result.\n"
		      "# TYPE mw_prediction_log_records_total counter\n"
		      "mw_prediction_log_records_total{result=\"written\"} %llu\n"
		      "mw_prediction_log_records_total{result=\"dropped\"} %llu\n",
		      s->log_written, s->log_dropped);
	pthread_mutex_unlock(&s->lmu);
}
