/*
 * batcher.c - a loaded version's queue and its batcher thread.
 *
 * Requests are queued in order (mw_served_submit).  One thread per loaded
 * version waits for the first request, then for more until max_batch_rows
 * rows are queued or the first has waited max_delay_us, takes whole requests
 * up to max_batch_rows (at least one), runs the runtime once for the batch
 * and completes every request with its own rows.  A full queue is refused
 * at submit (503), and so is a request whose inputs would take the queued
 * input bytes of the whole server (every version's, rows x cols x 4) past
 * max_queue_bytes; a request that waited past its timeout is failed instead
 * of computed; a stopping version fails what is queued with 503.
 *
 * Completion (finish) updates the version's counters and histograms, hands
 * the request to the observers and calls its done callback exactly once.
 *
 * Inline runs (serve.h, mw_served_submit): a small request to an idle
 * version of a fast in-process runtime, with no batch delay, is computed on
 * the submitting thread as a batch of its own (run_batch, so metrics, cache
 * and observers are the same).  This saves the two thread switches of the
 * hand-off and the suspend/resume of the HTTP connection; when the version
 * is busy (queued requests, the batcher computing, as many inline runs as
 * CPUs) requests queue and batch as before, so batches still form under a
 * load the CPUs cannot keep up with.  A cache hit completes at
 * once on the submitting thread.
 */
#include "serve/serve_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INLINE_ROWS 64 /* the largest request computed inline */

static void abs_deadline(struct timespec *ts, uint64_t mono_ns)
{
	ts->tv_sec = (time_t)(mono_ns / 1000000000ull);
	ts->tv_nsec = (long)(mono_ns % 1000000000ull);
}

static void finish(struct mw_served *m, struct mw_infer *inf)
{
	inf->t_end_ns = mw_mono_ns();
	double total = (double)(inf->t_end_ns - inf->t_enqueue_ns) / 1e9;
	mw_hist_observe(&m->c->h_total, total);
	if (inf->rc) {
		int code = inf->err.code > 0 && inf->err.code < MW_E__COUNT ? inf->err.code
									    : MW_E_INTERNAL;
		__atomic_fetch_add(&m->c->n_err, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&m->c->n_err_code[code], 1, __ATOMIC_RELAXED);
	} else
		__atomic_fetch_add(&m->c->n_ok, 1, __ATOMIC_RELAXED);
	svi_observe(m->s, m, inf);
	inf->done(inf, inf->ud);
}

static void fail(struct mw_served *m, struct mw_infer *inf, int code, const char *msg)
{
	inf->rc = mw_err_set(&inf->err, code, "%s", msg);
	finish(m, inf);
}

static void run_batch(struct mw_served *m, struct mw_infer *batch)
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
			snprintf(msg, sizeof msg,
				 "request timed out after %lld ms in the queue of %s/%s",
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
	mw_hist_observe(&m->c->h_compute, (double)(t1 - t0) / 1e9);
	mw_hist_observe(&m->c->h_batch, (double)nrows);
	__atomic_fetch_add(&m->c->n_batches, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&m->c->n_rows, nrows, __ATOMIC_RELAXED);
	size_t off = 0;
	for (struct mw_infer *i = live; i;) {
		struct mw_infer *next = i->next;
		i->t_start_ns = t0;
		mw_hist_observe(&m->c->h_queue, (double)(t0 - i->t_enqueue_ns) / 1e9);
		if (rc) {
			i->rc = rc;
			i->err = err;
		} else {
			i->ycols = m->nout;
			i->y = mw_xmalloc((i->rows ? i->rows : 1) * m->nout * sizeof(float));
			memcpy(i->y, y + off * m->nout, i->rows * m->nout * sizeof(float));
			if (m->cache) {
				char key[65];
				svi_cache_key(m, i, key);
				svi_cache_put(m->cache, key, i->y, i->rows * m->nout);
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
		if (!m->stopping && m->b.max_delay_us > 0 &&
		    m->qrows < (size_t)m->b.max_batch_rows) {
			uint64_t deadline =
				m->head->t_enqueue_ns + (uint64_t)m->b.max_delay_us * 1000ull;
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
		size_t bytes = rows * m->nfeat * sizeof(float);
		m->qbytes -= bytes;
		__atomic_fetch_sub(&m->s->queue_bytes, bytes, __ATOMIC_RELAXED);
		bool stopping = m->stopping;
		m->busy = true;
		pthread_mutex_unlock(&m->mu);
		if (stopping) {
			for (struct mw_infer *i = batch; i;) {
				struct mw_infer *next = i->next;
				fail(m, i, MW_E_UNAVAILABLE, "the model is being unloaded");
				i = next;
			}
		} else {
			run_batch(m, batch);
		}
		pthread_mutex_lock(&m->mu);
		m->busy = false;
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

int svi_batcher_start(struct mw_served *m, struct mw_err *err)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	m->inline_max = m->rt->inline_ok && m->b.max_delay_us == 0 ? (cpus > 0 ? (int)cpus : 1) : 0;
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* batch deadlines are monotonic */
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&m->th, NULL, batcher_main, m))
		return mw_err_set(err, MW_E_INTERNAL, "cannot start a batcher thread");
	m->th_started = true;
	return 0;
}

void svi_batcher_stop(struct mw_served *m)
{
	pthread_mutex_lock(&m->mu);
	m->stopping = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

void svi_batcher_join(struct mw_served *m)
{
	if (m->th_started) {
		svi_batcher_stop(m);
		pthread_join(m->th, NULL);
		m->th_started = false;
	}
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
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
		svi_cache_key(m, inf, key);
		size_t n;
		if (svi_cache_get(m->cache, key, &inf->y, &n)) {
			inf->cached = true;
			inf->ycols = m->nout;
			inf->t_start_ns = inf->t_enqueue_ns;
			__atomic_fetch_add(&m->c->n_cache_hits, 1, __ATOMIC_RELAXED);
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
	if (m->inlined < m->inline_max && !m->head && !m->busy && inf->rows <= INLINE_ROWS &&
	    inf->rows <= (size_t)m->b.max_batch_rows) {
		/* idle and small: compute it here (see serve.h) */
		m->inlined++;
		pthread_mutex_unlock(&m->mu);
		__atomic_fetch_add(&m->refs, 1, __ATOMIC_RELAXED); /* done may drop the caller's */
		run_batch(m, inf); /* completes inf: it may be gone after this */
		pthread_mutex_lock(&m->mu);
		m->inlined--;
		pthread_mutex_unlock(&m->mu);
		mw_served_release(m);
		return 0;
	}
	if (m->qlen >= m->b.max_queue) {
		pthread_mutex_unlock(&m->mu);
		__atomic_fetch_add(&m->c->n_rejected, 1, __ATOMIC_RELAXED);
		return mw_err_set(err, MW_E_UNAVAILABLE,
				  "model %s/%s is overloaded: %d requests are queued (max-queue)",
				  m->name, m->version, m->b.max_queue);
	}
	size_t bytes = inf->rows * inf->cols * sizeof(float), cap = m->s->o.max_queue_bytes;
	size_t now = __atomic_add_fetch(&m->s->queue_bytes, bytes, __ATOMIC_RELAXED);
	if (cap && now > cap) {
		__atomic_fetch_sub(&m->s->queue_bytes, bytes, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&m->mu);
		__atomic_fetch_add(&m->c->n_rejected, 1, __ATOMIC_RELAXED);
		return mw_err_set(err, MW_E_UNAVAILABLE,
				  "the server is overloaded: %zu bytes of inputs are queued and this "
				  "request's %zu would pass max-queue-bytes (%zu)",
				  now - bytes, bytes, cap);
	}
	if (m->tail)
		m->tail->next = inf;
	else
		m->head = inf;
	m->tail = inf;
	m->qlen++;
	m->qrows += inf->rows;
	m->qbytes += bytes;
	if (m->qlen == 1 || m->qrows >= (size_t)m->b.max_batch_rows)
		pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	return 0;
}
