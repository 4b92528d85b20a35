/*
 * test_pool.c - unit tests for the parallel for (core/pool.c).
 *
 * Every task of a job runs exactly once and its writes are visible when
 * mw_pool_run returns, for 0, 1, a few and many tasks and for pools of one
 * to eight threads; a pool's workers really run tasks at the same time as
 * the caller; several threads calling one pool at once each get all their
 * tasks run; a call that finds the pool busy runs inline instead of waiting
 * (no deadlock, even while the running job waits for it), and so does a
 * task that calls mw_pool_run itself; pools are freed while idle, right
 * after creation and after their workers went to sleep.  Waits that prove
 * concurrency are bounded (a stuck pool fails the test, it does not hang
 * it).  Besides ASan/UBSan (make asan), this file is meant to stay clean
 * under ThreadSanitizer: plain writes by tasks are read by the caller after
 * mw_pool_run without any lock of the test's own, so a missing
 * happens-before edge in the pool shows as a race.  CI does not build with
 * TSan; to run it (test_xgb covers mw_xgb_predict_pool the same way):
 *   cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
 *     -DCMAKE_C_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
 *     -DMW_XGB_BENCH=OFF
 *   cmake --build build-tsan --target test_pool test_xgb
 *   TSAN_OPTIONS=halt_on_error=1 build-tsan/test_pool
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"

#define WAIT_NS (20ull * 1000 * 1000 * 1000) /* bound on every wait: 20 s */

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static struct mw_pool *new_pool(int n)
{
	struct mw_pool *p = NULL;
	struct mw_err err = {0};
	assert_int_equal(mw_pool_new(n, &p, &err), 0);
	assert_non_null(p);
	return p;
}

/* ------------------------------------------------------------ every task once */

struct count_job {
	atomic_int *hits;  /* per task */
	uint64_t *squares; /* plain writes, read after the run */
	pthread_t *thread; /* who ran each task */
};

static void count_task(void *ctx, size_t i)
{
	struct count_job *j = ctx;
	atomic_fetch_add(&j->hits[i], 1);
	j->squares[i] = (uint64_t)i * i;
	j->thread[i] = pthread_self();
}

static void run_and_check(struct mw_pool *p, size_t ntasks)
{
	struct count_job j = {
		calloc(ntasks + 1, sizeof *j.hits),
		calloc(ntasks + 1, sizeof *j.squares),
		calloc(ntasks + 1, sizeof *j.thread),
	};
	for (size_t i = 0; i <= ntasks; i++)
		atomic_init(&j.hits[i], 0);
	mw_pool_run(p, ntasks, count_task, &j);
	for (size_t i = 0; i < ntasks; i++) {
		if (atomic_load(&j.hits[i]) != 1)
			fail_msg("%zu tasks: task %zu ran %d times", ntasks, i,
				 atomic_load(&j.hits[i]));
		assert_true(j.squares[i] == (uint64_t)i * i);
	}
	assert_int_equal(atomic_load(&j.hits[ntasks]), 0); /* nothing past the end */
	free(j.hits);
	free(j.squares);
	free(j.thread);
}

static void test_every_task_once(void **state)
{
	(void)state;
	static const int threads[] = {1, 2, 3, 8};
	static const size_t counts[] = {0, 1, 2, 3, 7, 16, 64, 1000, 5000};
	for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
		struct mw_pool *p = new_pool(threads[t]);
		assert_int_equal(mw_pool_threads(p), (size_t)threads[t]);
		for (int rep = 0; rep < 20; rep++)
			for (size_t c = 0; c < sizeof counts / sizeof *counts; c++)
				run_and_check(p, counts[c]);
		mw_pool_free(p);
	}
	/* no pool: inline */
	run_and_check(NULL, 0);
	run_and_check(NULL, 5);
	assert_int_equal(mw_pool_threads(NULL), 1);
}

/* One task, and a one-thread pool, run on the caller's own thread. */
static void test_inline_cases(void **state)
{
	(void)state;
	struct mw_pool *one = new_pool(1), *two = new_pool(2);
	pthread_t th[4];
	struct count_job j = {calloc(4, sizeof(atomic_int)), calloc(4, sizeof(uint64_t)), th};
	mw_pool_run(two, 1, count_task, &j);
	assert_true(pthread_equal(th[0], pthread_self()));
	mw_pool_run(one, 4, count_task, &j);
	for (int i = 0; i < 4; i++)
		assert_true(pthread_equal(th[i], pthread_self()));
	mw_pool_run(NULL, 4, count_task, &j);
	for (int i = 0; i < 4; i++)
		assert_int_equal(atomic_load(&j.hits[i]), i == 0 ? 3 : 2);
	free(j.hits);
	free(j.squares);
	mw_pool_free(one);
	mw_pool_free(two);
}

/* ------------------------------------------------------------ really parallel */

struct meet_job {
	atomic_int arrived;
	int n;
	atomic_int met; /* tasks that saw all n arrive */
	pthread_t who[8];
};

/* Each task waits (bounded) until all n tasks have started: only possible
 * when n threads run them at once. */
static void meet_task(void *ctx, size_t i)
{
	struct meet_job *j = ctx;
	j->who[i] = pthread_self();
	atomic_fetch_add(&j->arrived, 1);
	uint64_t until = mw_mono_ns() + WAIT_NS;
	while (atomic_load(&j->arrived) < j->n && mw_mono_ns() < until)
		sleep_ms(1);
	if (atomic_load(&j->arrived) >= j->n)
		atomic_fetch_add(&j->met, 1);
}

static void test_workers_run_in_parallel(void **state)
{
	(void)state;
	for (int n = 2; n <= 4; n++) {
		struct mw_pool *p = new_pool(n);
		for (int rep = 0; rep < 3; rep++) {
			struct meet_job j = {.n = n};
			atomic_init(&j.arrived, 0);
			atomic_init(&j.met, 0);
			mw_pool_run(p, (size_t)n, meet_task, &j);
			assert_int_equal(atomic_load(&j.met), n);
			for (int a = 0; a < n; a++)
				for (int b = a + 1; b < n; b++)
					assert_false(pthread_equal(j.who[a], j.who[b]));
			if (rep == 1)
				sleep_ms(50); /* let the workers go to sleep: they must wake */
		}
		mw_pool_free(p);
	}
}

/* ------------------------------------------------------------ many callers */

struct caller {
	struct mw_pool *p;
	unsigned seed;
	int bad;
};

struct sum_job {
	const uint32_t *in;
	uint64_t *out;
	size_t per;
};

static void sum_task(void *ctx, size_t i)
{
	struct sum_job *j = ctx;
	uint64_t s = 0;
	for (size_t k = 0; k < j->per; k++)
		s += j->in[i * j->per + k];
	j->out[i] = s;
}

static void *caller_main(void *arg)
{
	struct caller *c = arg;
	uint32_t in[64 * 16];
	uint64_t out[64];
	for (int it = 0; it < 300; it++) {
		c->seed = c->seed * 1103515245u + 12345u;
		size_t ntasks = (c->seed >> 16) % 65, per = 1 + (c->seed >> 8) % 16;
		for (size_t k = 0; k < ntasks * per; k++)
			in[k] = (uint32_t)(k * 2654435761u) ^ c->seed;
		memset(out, 0xff, sizeof out);
		struct sum_job j = {in, out, per};
		mw_pool_run(c->p, ntasks, sum_task, &j);
		for (size_t i = 0; i < ntasks; i++) {
			uint64_t want = 0;
			for (size_t k = 0; k < per; k++)
				want += in[i * per + k];
			if (out[i] != want)
				c->bad++;
		}
	}
	return NULL;
}

static void test_concurrent_callers(void **state)
{
	(void)state;
	struct mw_pool *p = new_pool(3);
	pthread_t th[6];
	struct caller cs[6];
	for (int i = 0; i < 6; i++) {
		cs[i] = (struct caller){p, (unsigned)i * 7919u + 1, 0};
		assert_int_equal(pthread_create(&th[i], NULL, caller_main, &cs[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(cs[i].bad, 0);
	}
	mw_pool_free(p);
}

/* ------------------------------------------------------------ busy pool, nesting */

struct hold_job {
	atomic_int started;
	atomic_int release;
	atomic_int timed_out;
};

/* Blocks (bounded) until the test releases it. */
static void hold_task(void *ctx, size_t i)
{
	(void)i;
	struct hold_job *j = ctx;
	atomic_fetch_add(&j->started, 1);
	uint64_t until = mw_mono_ns() + WAIT_NS;
	while (!atomic_load(&j->release)) {
		if (mw_mono_ns() > until) {
			atomic_store(&j->timed_out, 1);
			return;
		}
		sleep_ms(1);
	}
}

struct hold_caller {
	struct mw_pool *p;
	struct hold_job *j;
};

static void *hold_main(void *arg)
{
	struct hold_caller *h = arg;
	mw_pool_run(h->p, 2, hold_task, h->j);
	return NULL;
}

static void test_busy_pool_runs_inline(void **state)
{
	(void)state;
	struct mw_pool *p = new_pool(2);
	struct hold_job hj;
	atomic_init(&hj.started, 0);
	atomic_init(&hj.release, 0);
	atomic_init(&hj.timed_out, 0);
	struct hold_caller hc = {p, &hj};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, hold_main, &hc), 0);
	/* wait until the other caller's job occupies the pool */
	uint64_t until = mw_mono_ns() + WAIT_NS;
	while (atomic_load(&hj.started) < 1 && mw_mono_ns() < until)
		sleep_ms(1);
	assert_true(atomic_load(&hj.started) >= 1);

	/* the pool is busy until we release that job: this call must not wait
	 * for it, and runs every task here */
	pthread_t who[16];
	struct count_job j = {calloc(16, sizeof(atomic_int)), calloc(16, sizeof(uint64_t)), who};
	mw_pool_run(p, 16, count_task, &j);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(atomic_load(&j.hits[i]), 1);
		assert_true(pthread_equal(who[i], pthread_self()));
	}
	atomic_store(&hj.release, 1);
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&hj.started), 2);
	assert_int_equal(atomic_load(&hj.timed_out), 0);
	free(j.hits);
	free(j.squares);

	/* the pool is free again: a new job runs normally */
	run_and_check(p, 100);
	mw_pool_free(p);
}

struct nest_job {
	struct mw_pool *p;
	atomic_int inner;
};

static void inner_task(void *ctx, size_t i)
{
	(void)i;
	atomic_fetch_add((atomic_int *)ctx, 1);
}

static void outer_task(void *ctx, size_t i)
{
	(void)i;
	struct nest_job *j = ctx;
	mw_pool_run(j->p, 10, inner_task, &j->inner);
}

static void test_nested_run(void **state)
{
	(void)state;
	struct mw_pool *p = new_pool(2);
	struct nest_job j = {.p = p};
	atomic_init(&j.inner, 0);
	mw_pool_run(p, 8, outer_task, &j);
	assert_int_equal(atomic_load(&j.inner), 80);
	mw_pool_free(p);
}

/* ------------------------------------------------------------ lifecycle */

/* Ask mw_pool_hot a millisecond apart until it says no (bounded): idle
 * workers go to sleep, and spaced asks do not count as back to back.
 * Returns the last answer. */
static bool cools_down(struct mw_pool *p)
{
	uint64_t until = mw_mono_ns() + WAIT_NS;
	bool hot = true;
	while (hot && mw_mono_ns() < until) {
		sleep_ms(1);
		hot = mw_pool_hot(p);
	}
	return hot;
}

static void test_new_and_free(void **state)
{
	(void)state;
	struct mw_err err = {0};
	struct mw_pool *p = (struct mw_pool *)&err; /* must be reset */
	assert_int_equal(mw_pool_new(-1, &p, &err), -MW_E_INVALID);
	assert_null(p);
	assert_non_null(strstr(err.msg, "-1 threads"));
	assert_int_equal(mw_pool_new(MW_POOL_MAX_THREADS + 1, &p, &err), -MW_E_INVALID);
	assert_null(p);

	/* 0: one thread per CPU */
	assert_int_equal(mw_pool_new(0, &p, &err), 0);
	assert_true(mw_pool_threads(p) >= 1 && mw_pool_threads(p) <= MW_POOL_MAX_THREADS);
	run_and_check(p, 33);
	mw_pool_free(p);

	/* freed at once, before the workers even got going */
	for (int i = 0; i < 20; i++)
		mw_pool_free(new_pool(1 + i % 4));

	/* freed while its workers sleep: idle workers do go to sleep (the pool
	 * stops being hot), and a sleeping pool still runs jobs */
	p = new_pool(4);
	run_and_check(p, 10);
	assert_false(cools_down(p));
	run_and_check(p, 10);
	assert_false(cools_down(p));
	/* asks that come back to back make it hot again, even while the
	 * workers still sleep (bounded retries: the test thread may be
	 * descheduled between two asks) */
	bool hot = false;
	for (int i = 0; i < 1000 && !hot; i++) {
		mw_pool_hot(p);
		hot = mw_pool_hot(p);
	}
	assert_true(hot);
	mw_pool_free(p);
	assert_false(mw_pool_hot(NULL));
	p = new_pool(1);
	assert_false(mw_pool_hot(p)); /* no workers */
	mw_pool_free(p);

	/* freed right after a job, while its workers still poll for the next */
	p = new_pool(4);
	run_and_check(p, 10);
	mw_pool_free(p);

	mw_pool_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_task_once),
		cmocka_unit_test(test_inline_cases),
		cmocka_unit_test(test_workers_run_in_parallel),
		cmocka_unit_test(test_concurrent_callers),
		cmocka_unit_test(test_busy_pool_runs_inline),
		cmocka_unit_test(test_nested_run),
		cmocka_unit_test(test_new_and_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
