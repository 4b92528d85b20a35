/*
 * writer.c - the store's group-commit writer, the same for every backend.
 *
 * Every write is a job: a function run inside a write transaction on the
 * backend's one write handle.  Callers hand a job to mw_store_writer_submit
 * and block until the transaction that holds it has committed (or failed):
 * a write returns only after COMMIT returned.
 *
 * Group commit with a moving writer role.  The thread that finds no writer
 * active becomes the writer: it takes every queued job (up to max_batch),
 * runs them in one transaction, each inside its own savepoint (a failing job
 * rolls back alone and reports its own error; a lone job needs no savepoint,
 * its failure rolls back the whole transaction), commits once and wakes the
 * owners.  It repeats until its own job is done, then hands the role on to a
 * waiting thread if jobs remain.  Only the writer touches the write handle,
 * so there is one writer at a time and a backend never sees two
 * transactions at once; an uncontended write costs no thread switch.
 *
 * The backend supplies the transaction hooks (struct mw_store_txn: begin,
 * commit, rollback, savepoint, release, rollback-to) for its handle.  A
 * commit that fails turns every job of the group that had succeeded into a
 * failure with the commit's error, after a rollback.
 *
 * Audit.  A job may carry an audit record (store/audit.h): once the job
 * succeeded the writer appends it through the backend's audit hook inside
 * the job's savepoint, so the change and its record commit together or not
 * at all, and the hash chain is extended by one writer at a time.
 *
 * Invariants: a job lives on its submitter's stack until done is set under
 * the lock (the submitter waits for exactly that); after drain, submit
 * refuses with MW_E_UNAVAILABLE and nothing is left queued.
 */
#include "store/backend.h"

#include <pthread.h>
#include <stdlib.h>

struct job {
	mw_store_job_fn fn;
	void *arg;
	const struct mw_audit_rec *audit;
	struct mw_err err;
	int rc;
	bool done;
	struct job *next;
};

struct mw_store_writer {
	const struct mw_store_txn *txn;
	void *tx;
	int max_batch;

	pthread_mutex_t mu;
	pthread_cond_t cv_done;
	bool writing; /* a thread holds the writer role */
	bool stopping;
	struct job *head, *tail;
	int qlen;

	unsigned long long commits, jobs, failed;
	struct mw_hist batch_size, commit_seconds;
};

struct mw_store_writer *mw_store_writer_new(const struct mw_store_txn *txn, void *tx, int max_batch)
{
	struct mw_store_writer *w = mw_xcalloc(1, sizeof *w);
	w->txn = txn;
	w->tx = tx;
	w->max_batch = max_batch > 0 ? max_batch : 256;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv_done, NULL);
	static const double sizes[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
	mw_hist_init(&w->batch_size, sizes, 9);
	mw_hist_init(&w->commit_seconds, mw_latency_buckets, mw_latency_nbuckets);
	return w;
}

void mw_store_writer_drain(struct mw_store_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	while (w->writing || w->head)
		pthread_cond_wait(&w->cv_done, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

void mw_store_writer_free(struct mw_store_writer *w)
{
	if (!w)
		return;
	mw_store_writer_drain(w);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv_done);
	free(w);
}

/* Run one group of jobs in one transaction, each in its own savepoint. */
static void run_batch(struct mw_store_writer *w, struct job *batch, int n)
{
	const struct mw_store_txn *t = w->txn;
	uint64_t t0 = mw_mono_ns();
	struct mw_err berr = {0};
	int brc = t->begin(w->tx, &berr);
	/* one job needs no savepoint: its failure rolls back the transaction */
	bool single = n == 1;
	for (struct job *j = batch; j; j = j->next) {
		if (brc) {
			j->rc = brc;
			j->err = berr;
			continue;
		}
		struct mw_err serr = {0};
		if (!single && t->savepoint(w->tx, &serr)) {
			j->rc = -serr.code;
			j->err = serr;
			continue;
		}
		j->rc = j->fn(w->tx, j->arg, &j->err);
		/* the change's audit row, in the change's own savepoint: both or neither */
		if (!j->rc && j->audit)
			j->rc = t->audit ? t->audit(w->tx, j->audit, &j->err)
					 : mw_err_set(&j->err, MW_E_NOT_IMPLEMENTED,
						      "this store backend has no audit log");
		if (j->rc && !single)
			t->rollback_to(w->tx);
		if (!single)
			t->release(w->tx);
	}
	if (!brc && single && batch->rc) {
		t->rollback(w->tx);
	} else if (!brc) {
		struct mw_err cerr = {0};
		if (t->commit(w->tx, &cerr)) {
			mw_error("store: commit failed: %s", cerr.msg);
			t->rollback(w->tx);
			for (struct job *j = batch; j; j = j->next)
				if (!j->rc) {
					j->rc = -MW_E_IO;
					j->err = cerr;
				}
		}
	}
	mw_hist_observe(&w->commit_seconds, (double)(mw_mono_ns() - t0) / 1e9);
	mw_hist_observe(&w->batch_size, n);
}

int mw_store_writer_submit(struct mw_store_writer *w, mw_store_job_fn fn, void *arg,
			   const struct mw_audit_rec *audit, struct mw_err *err)
{
	struct job j = {.fn = fn, .arg = arg, .audit = audit};
	pthread_mutex_lock(&w->mu);
	if (w->stopping) {
		pthread_mutex_unlock(&w->mu);
		return mw_err_set(err, MW_E_UNAVAILABLE, "the server is shutting down");
	}
	/* the job stays on this stack until done is seen below */
	if (w->tail)
		w->tail->next = &j;
	else
		w->head = &j;
	w->tail = &j;
	w->qlen++;
	while (!j.done) {
		if (w->writing) {
			pthread_cond_wait(&w->cv_done, &w->mu);
			continue;
		}
		w->writing = true;
		while (!j.done && w->head) {
			struct job *batch = w->head, *last = w->head;
			int n = 1;
			while (last->next && n < w->max_batch) {
				last = last->next;
				n++;
			}
			w->head = last->next;
			if (!w->head)
				w->tail = NULL;
			last->next = NULL;
			w->qlen -= n;
			pthread_mutex_unlock(&w->mu);
			run_batch(w, batch, n);
			pthread_mutex_lock(&w->mu);
			w->commits++;
			for (struct job *b = batch; b;) {
				struct job *next = b->next; /* b may vanish once done is seen */
				w->jobs++;
				if (b->rc)
					w->failed++;
				b->done = true;
				b = next;
			}
		}
		w->writing = false;
		/* wake the owners of the jobs just done, and a next writer if any */
		pthread_cond_broadcast(&w->cv_done);
	}
	pthread_mutex_unlock(&w->mu);
	if (j.rc && err)
		*err = j.err;
	return j.rc;
}

void mw_store_writer_stats(struct mw_store_writer *w, struct mw_store_stats *out)
{
	pthread_mutex_lock(&w->mu);
	out->commits = w->commits;
	out->jobs = w->jobs;
	out->failed_jobs = w->failed;
	out->queue_depth = w->qlen;
	pthread_mutex_unlock(&w->mu);
	out->batch_size = &w->batch_size;
	out->commit_seconds = &w->commit_seconds;
}

void mw_store_writer_when_idle(struct mw_store_writer *w, void (*fn)(void *tx, void *ud), void *ud)
{
	pthread_mutex_lock(&w->mu);
	if (!w->writing)
		fn(w->tx, ud);
	pthread_mutex_unlock(&w->mu);
}
