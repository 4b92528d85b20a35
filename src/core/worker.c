/*
 * worker.c - background workers: a thread per worker that runs a tick
 * periodically, on demand, and stops cleanly.
 *
 * Invariants: ticks of one worker never overlap; after mw_worker_stop
 * returns, no tick is running and none will start; a worker thread never
 * takes SIGINT/SIGTERM (the main thread waits for them).
 */
#include "core/core.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mw_worker {
	char name[32];
	int64_t period_ms;
	mw_worker_fn tick;
	void *ud;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* on CLOCK_MONOTONIC */
	bool poked;
	bool stop;              /* read without the lock by mw_worker_stopping */
	unsigned long long ticks;
};

static void *worker_main(void *p)
{
	struct mw_worker *w = p;
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		if (!w->poked) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			int64_t ns = ts.tv_nsec + (w->period_ms % 1000) * 1000000;
			ts.tv_sec += (time_t)(w->period_ms / 1000 + ns / 1000000000);
			ts.tv_nsec = (long)(ns % 1000000000);
			pthread_cond_timedwait(&w->cv, &w->mu, &ts);
			if (w->stop)
				break;
		}
		w->poked = false;
		pthread_mutex_unlock(&w->mu);
		w->tick(w, w->ud);
		pthread_mutex_lock(&w->mu);
		w->ticks++;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int mw_worker_start(const char *name, int64_t period_ms, mw_worker_fn tick, void *ud,
		    struct mw_worker **out, struct mw_err *err)
{
	if (period_ms < 1)
		return mw_err_set(err, MW_E_INVALID, "worker %s: period must be at least 1 ms", name);
	struct mw_worker *w = mw_xcalloc(1, sizeof *w);
	snprintf(w->name, sizeof w->name, "%s", name);
	w->period_ms = period_ms;
	w->tick = tick;
	w->ud = ud;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&w->th, NULL, worker_main, w)) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return mw_err_set(err, MW_E_INTERNAL, "cannot start worker %s", name);
	}
	*out = w;
	return 0;
}

void mw_worker_poke(struct mw_worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->poked = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

bool mw_worker_stopping(const struct mw_worker *w)
{
	return __atomic_load_n(&w->stop, __ATOMIC_ACQUIRE);
}

const char *mw_worker_name(const struct mw_worker *w)
{
	return w->name;
}

unsigned long long mw_worker_ticks(const struct mw_worker *w)
{
	struct mw_worker *m = (struct mw_worker *)w;
	pthread_mutex_lock(&m->mu);
	unsigned long long n = m->ticks;
	pthread_mutex_unlock(&m->mu);
	return n;
}

void mw_worker_stop(struct mw_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	__atomic_store_n(&w->stop, true, __ATOMIC_RELEASE);
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
