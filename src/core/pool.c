/*
 * pool.c - a parallel for: persistent worker threads that, together with
 * the calling thread, run the tasks 0 .. n-1 of one job.
 *
 * A pool holds one job slot.  mw_pool_run takes the slot (an atomic flag),
 * writes the job (fn, ctx, ntasks), resets `done`, then publishes it by
 * storing `remaining` = ntasks with release order and wakes sleeping workers.
 * Every thread, the caller included, claims tasks by decrementing
 * `remaining` with a compare-and-swap while it is above zero; task
 * ntasks - r is the one claimed by taking r to r - 1, so tasks start in
 * order.  Claiming is dynamic: a worker that wakes late, or is descheduled
 * by other load on the machine, simply claims fewer tasks.  After running a
 * task a thread adds one to `done` (release); the caller returns once `done`
 * reaches ntasks (acquire), so every write of every task happens before
 * mw_pool_run returns.  A caller that finds the slot taken (another thread's
 * job, or a task that calls mw_pool_run itself) runs its tasks inline, on
 * its own thread: concurrent callers never wait for each other and nested
 * calls cannot deadlock.
 *
 * Invariants:
 *  - fn, ctx and ntasks are written only by the slot's owner before it
 *    publishes `remaining`, and read by a worker only after it claimed a
 *    task with an acquire CAS on `remaining` (which reads the owner's
 *    release store or a later CAS of the same job); a claimed task keeps its
 *    job from completing, so while a worker holds one the fields do not
 *    change.  A worker that claims nothing reads nothing of the job.
 *  - `done` counts tasks of the current job only: a task is claimed before
 *    it completes, and the job cannot complete (nor the next be published)
 *    while a claimed task is outstanding.  The slot is released only after
 *    `done` reached ntasks.
 *  - nothing is allocated after mw_pool_new; mw_pool_run never fails.
 *  - workers spin for a short while after a job (back-to-back calls start
 *    without a wake-up), then sleep on a condition variable; the poster
 *    wakes sleepers under the same mutex the sleepers check `remaining`
 *    under, so no wake-up is lost.  On the 2-CPU VM this was measured on, a
 *    wake-up costs the poster ~18 us (the futex system call) and the worker
 *    joins ~50 us later, which is why mw_pool_hot exists: callers with
 *    small jobs split them only when no wake-up is needed, or when calls
 *    come back to back (one wake-up then serves the whole run).
 *  - mw_pool_free must not race with mw_pool_run on the same pool (the
 *    owner frees it when no call is running); it stops and joins every
 *    worker.
 */
#include "core/core.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long a thread polls before it sleeps: a worker waiting for the next
 * job, and the caller waiting for the workers' last tasks.  Asks of
 * mw_pool_hot less than HOT_WINDOW_NS apart count as back to back: calls
 * that come that often, each of a job worth splitting when hot, keep the
 * workers awake from one to the next once woken (measured on the 2-CPU
 * VM: a medium job of 100-150 us repeated back to back asks every
 * 100-150 us). */
#define WORKER_SPIN_NS 100000
#define CALLER_SPIN_NS 200000
#define HOT_WINDOW_NS 250000

struct mw_pool {
	size_t nthreads; /* workers + the caller */
	size_t nworkers; /* started */
	pthread_t *th;

	atomic_bool busy;        /* the job slot is taken */
	atomic_size_t remaining; /* tasks not yet claimed */
	atomic_size_t done;      /* tasks completed */
	atomic_bool stop;
	/* the job (see the invariants) */
	mw_pool_fn fn;
	void *ctx;
	size_t ntasks;

	pthread_mutex_t mu;
	pthread_cond_t wake;           /* workers: remaining > 0 or stop */
	pthread_cond_t finished;       /* the caller: done == ntasks */
	atomic_size_t sleepers;        /* workers waiting on wake; changed under mu */
	_Atomic uint64_t last_hot_ask; /* mw_mono_ns of the last mw_pool_hot */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Claim one task of the published job: its index, or false when none is
 * left.  On success the job's fields may be read (acquire). */
static bool claim(struct mw_pool *p, size_t *task)
{
	size_t r = atomic_load_explicit(&p->remaining, memory_order_relaxed);
	while (r > 0) {
		if (atomic_compare_exchange_weak_explicit(&p->remaining, &r, r - 1,
							  memory_order_acquire,
							  memory_order_relaxed)) {
			*task = p->ntasks - r;
			return true;
		}
	}
	return false;
}

/* Run claimed tasks until none is left. */
static void drain(struct mw_pool *p)
{
	size_t task;
	while (claim(p, &task)) {
		/* read before the task counts as done: after that the job may
		 * end and the next one overwrite the fields */
		size_t n = p->ntasks;
		p->fn(p->ctx, task);
		if (atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel) + 1 == n) {
			pthread_mutex_lock(&p->mu);
			pthread_cond_signal(&p->finished);
			pthread_mutex_unlock(&p->mu);
		}
	}
}

static bool has_work(struct mw_pool *p)
{
	return atomic_load_explicit(&p->remaining, memory_order_relaxed) > 0 ||
	       atomic_load_explicit(&p->stop, memory_order_relaxed);
}

static void *worker_main(void *arg)
{
	struct mw_pool *p = arg;
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	for (;;) {
		drain(p);
		/* poll a while, then sleep until a job is published */
		uint64_t until = mw_mono_ns() + WORKER_SPIN_NS;
		unsigned polls = 0;
		while (!has_work(p) && (++polls % 64 || mw_mono_ns() < until))
			cpu_relax();
		if (!has_work(p)) {
			pthread_mutex_lock(&p->mu);
			atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_relaxed);
			while (!has_work(p))
				pthread_cond_wait(&p->wake, &p->mu);
			atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
			pthread_mutex_unlock(&p->mu);
		}
		if (atomic_load_explicit(&p->stop, memory_order_acquire))
			return NULL;
	}
}

int mw_pool_new(int nthreads, struct mw_pool **out, struct mw_err *err)
{
	*out = NULL;
	if (nthreads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = n < 1 ? 1 : n > MW_POOL_MAX_THREADS ? MW_POOL_MAX_THREADS : (int)n;
	}
	if (nthreads < 1 || nthreads > MW_POOL_MAX_THREADS)
		return mw_err_set(err, MW_E_INVALID,
				  "pool: %d threads (0 for one per CPU, or 1 to %d)", nthreads,
				  MW_POOL_MAX_THREADS);
	struct mw_pool *p = mw_xcalloc(1, sizeof *p);
	p->nthreads = (size_t)nthreads;
	atomic_init(&p->busy, false);
	atomic_init(&p->remaining, 0);
	atomic_init(&p->done, 0);
	atomic_init(&p->stop, false);
	atomic_init(&p->sleepers, 0);
	atomic_init(&p->last_hot_ask, 0);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->finished, NULL);
	p->th = mw_xcalloc(p->nthreads, sizeof *p->th);
	for (size_t i = 0; i + 1 < p->nthreads; i++) {
		int rc = pthread_create(&p->th[i], NULL, worker_main, p);
		if (rc) {
			mw_pool_free(p);
			return mw_err_set(err, MW_E_INTERNAL,
					  "pool: cannot start worker %zu of %d: %s", i + 1,
					  nthreads - 1, strerror(rc));
		}
		char name[16];
		snprintf(name, sizeof name, "mw-pool-%u", (unsigned)(i % 1000));
		pthread_setname_np(p->th[i], name);
		p->nworkers++;
	}
	*out = p;
	return 0;
}

void mw_pool_free(struct mw_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store_explicit(&p->stop, true, memory_order_release);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < p->nworkers; i++)
		pthread_join(p->th[i], NULL);
	pthread_cond_destroy(&p->finished);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->mu);
	free(p->th);
	free(p);
}

size_t mw_pool_threads(const struct mw_pool *p)
{
	return p ? p->nthreads : 1;
}

bool mw_pool_hot(struct mw_pool *p)
{
	if (!p || p->nworkers == 0)
		return false;
	uint64_t now = mw_mono_ns();
	uint64_t prev = atomic_exchange_explicit(&p->last_hot_ask, now, memory_order_relaxed);
	return atomic_load_explicit(&p->sleepers, memory_order_relaxed) < p->nworkers ||
	       now - prev < HOT_WINDOW_NS;
}

void mw_pool_run(struct mw_pool *p, size_t ntasks, mw_pool_fn fn, void *ctx)
{
	if (ntasks == 0)
		return;
	if (!p || p->nworkers == 0 || ntasks == 1 ||
	    atomic_exchange_explicit(&p->busy, true, memory_order_acquire)) {
		for (size_t i = 0; i < ntasks; i++)
			fn(ctx, i);
		return;
	}
	p->fn = fn;
	p->ctx = ctx;
	p->ntasks = ntasks;
	atomic_store_explicit(&p->done, 0, memory_order_relaxed);
	atomic_store_explicit(&p->remaining, ntasks, memory_order_release);
	pthread_mutex_lock(&p->mu);
	size_t sleepers = atomic_load_explicit(&p->sleepers, memory_order_relaxed);
	if (sleepers > 0) {
		/* wake as many workers as there are tasks for besides ours */
		if (ntasks - 1 >= sleepers) {
			pthread_cond_broadcast(&p->wake);
		} else {
			for (size_t i = 0; i + 1 < ntasks; i++)
				pthread_cond_signal(&p->wake);
		}
	}
	pthread_mutex_unlock(&p->mu);

	drain(p);

	/* Workers may still be running their last tasks: poll a while, then
	 * sleep until the last one signals. */
	uint64_t until = mw_mono_ns() + CALLER_SPIN_NS;
	unsigned polls = 0;
	while (atomic_load_explicit(&p->done, memory_order_acquire) < ntasks &&
	       (++polls % 64 || mw_mono_ns() < until))
		cpu_relax();
	if (atomic_load_explicit(&p->done, memory_order_acquire) < ntasks) {
		pthread_mutex_lock(&p->mu);
		while (atomic_load_explicit(&p->done, memory_order_acquire) < ntasks)
			pthread_cond_wait(&p->finished, &p->mu);
		pthread_mutex_unlock(&p->mu);
	}
	atomic_store_explicit(&p->busy, false, memory_order_release);
}
