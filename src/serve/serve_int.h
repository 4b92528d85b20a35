/*
 * serve_int.h - private to serve/: the objects the serve files share.
 *
 * serve/ is split by job, one file each:
 *   serve.c    the server object: names and their versions, the pick step
 *              (which version answers), hot swap, listings, metrics
 *   source.c   model sources: the registry source, the model directory cache
 *   loader.c   a model directory -> a loaded, warmed version (struct mw_served)
 *   batcher.c  a loaded version's queue and batcher thread; completion and
 *              the observers
 *   cache.c    the response cache of one loaded version
 *   predlog.c  the prediction log, the first observer
 *   mlmodel.c  MLmodel files and the choice of runtime
 *   rt_*.c     the runtimes
 *
 * Names private to serve/ but shared between its files start with svi_
 * (like the store's sqi_).  Locks: a version's mu guards its queue; the
 * server's mu guards the entries; neither is held while a runtime runs or an
 * observer is called.
 */
#ifndef MW_SERVE_INT_H
#define MW_SERVE_INT_H

#include "serve/serve.h"

#include <pthread.h>

/* Read a YAML file (an MLflow MLmodel) into JSON: mappings become objects,
 * sequences arrays, scalars strings.  Capped at 1 MiB and 64 levels. */
int mw_mlmodel_load(const char *path, json_t **out, struct mw_err *err);

/* The runtime for a model directory and its MLmodel (NULL when none), and
 * the model file it should load (malloc'd, may be NULL). */
const struct mw_rt_ops *mw_serve_pick_runtime(const char *dir, json_t *mlmodel, char **file,
					      struct mw_err *err);

/* ------------------------------------------------------------ cache.c */

/* An LRU cache of answers keyed by the SHA-256 of (name, version, shape,
 * input floats), capped in bytes, entries expiring after ttl_ms (0: never).
 * Thread-safe. */
struct svi_cache;
struct svi_cache *svi_cache_new(size_t cap_bytes, int64_t ttl_ms);
void svi_cache_free(struct svi_cache *c);
void svi_cache_key(const struct mw_served *m, const struct mw_infer *inf, char key[65]);
/* A hit copies the answer into *y (malloc'd) and its length into *n. */
bool svi_cache_get(struct svi_cache *c, const char *key, float **y, size_t *n);
void svi_cache_put(struct svi_cache *c, const char *key, const float *y, size_t n);

/* ------------------------------------------------------------ counters */

/* A version's request counters and histograms.  They outlive the loaded
 * version: unloading (a cap, idle, a swap) and loading it again continues
 * the same series, so Prometheus counters never go back.  Kept per (name,
 * version) in the server, at most MAX_COUNTERS unused ones (the longest
 * unused go first). */
struct svi_counters {
	char *name, *version;
	int users;             /* loaded versions using them (under the server's mu) */
	uint64_t unused_since; /* mono ns, when users dropped to 0 */
	unsigned long long n_ok, n_err, n_rejected, n_cache_hits, n_batches, n_rows;
	unsigned long long n_err_code[MW_E__COUNT];
	struct mw_hist h_queue, h_compute, h_total, h_batch;
	unsigned long long mark; /* rendering: printed in this pass (under mu) */
	struct svi_counters *next;
};
struct svi_counters *svi_counters_get(struct mw_serve *s, const char *name, const char *version);
void svi_counters_put(struct mw_serve *s, struct svi_counters *c);

/* ------------------------------------------------------------ loaded versions */

struct mw_served {
	struct mw_serve *s;
	char *name, *version, *dir;
	char digest[65]; /* its identity's pinned content ("" for a directory) */
	const struct mw_rt_ops *rt;
	void *model;
	json_t *meta;
	size_t nfeat, nout;
	int refs;

	/* the batcher (batcher.c) */
	pthread_t th;
	bool th_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct mw_infer *head, *tail;
	int qlen;
	size_t qrows;
	size_t qbytes; /* input bytes queued (counted in the server's too) */
	bool stopping;
	bool busy;               /* the batcher is computing a batch */
	int inlined, inline_max; /* requests computed on their own thread now; the cap */
	struct mw_batching b;
	struct svi_cache *cache;

	struct svi_counters *c; /* its counters, kept across unload and reload */
	struct mw_served *retire_next;
	uint64_t last_used_ns; /* last acquired (relaxed atomic), for eviction */
	int py_workers;        /* worker processes counted in the server's python_workers */
};

/* loader.c: load the model directory dir (made absolute first) with its
 * runtime, warm it with one prediction, start its batcher.  The result holds
 * one reference. */
int svi_load(struct mw_serve *s, const char *name, const char *version, const char *digest,
	     const char *dir, struct mw_served **out, struct mw_err *err);
/* Stop the batcher (failing what is queued), unload, free. */
void svi_destroy(struct mw_served *m);

/* serve.c: called by the loader once the runtime is known, before it loads:
 * make room under the caps (max_loaded, max_python_workers) by unloading
 * least recently used versions, and reserve a slot and the python workers
 * (workers: 0 for other runtimes).  MW_E_UNAVAILABLE when nothing can be
 * unloaded.  svi_unreserve gives the reservation back after the load (the
 * workers move to the loaded version, or back when it failed). */
int svi_admit(struct mw_serve *s, const char *name, const char *version, int workers,
	      struct mw_err *err);
void svi_unreserve(struct mw_serve *s, int workers, bool loaded);

/* batcher.c */
int svi_batcher_start(struct mw_served *m, struct mw_err *err);
/* Refuse new requests; the batcher fails what is queued with 503. */
void svi_batcher_stop(struct mw_served *m);
/* Stop and join the batcher thread. */
void svi_batcher_join(struct mw_served *m);

/* ------------------------------------------------------------ the server */

/* An observer (mw_serve_observe). */
struct svi_observer {
	mw_serve_observer_fn fn;
	void *ud;
};

struct svi_entry;
struct svi_job;

struct mw_serve {
	struct mw_serve_opts o;
	char *python, *default_alias;
	struct mw_model_source *source; /* NULL: directories only */
	pthread_mutex_t mu;
	pthread_cond_t cv; /* entry loading finished, or retire work */
	struct svi_entry *entries;
	struct mw_served *retire;
	pthread_t house;
	bool house_started;
	bool stopping;
	int live;                 /* loaded versions not destroyed yet */
	struct svi_observer *obs; /* called by the batcher for every completed request */
	size_t nobs;
	struct mw_predlog *log; /* the first observer, NULL when off */
	struct mw_pool *pool;   /* one thread per CPU, for large batches (rt_xgboost) */

	/* loading (serve.c): a queue of jobs, one per (name, version), run by the
	 * loader threads; requests wait on a job as waiters */
	struct svi_job *jobs;
	pthread_cond_t jobs_cv;
	pthread_t loaders[2];
	int nloaders;
	/* validation against the source's generation */
	uint64_t validated_gen; /* atomic: the generation the entries were checked at */
	bool validating;        /* a thread is re-resolving */
	bool revalidate_again;  /* a load raced with a change: check again */
	bool swap_now;          /* ask housekeeping to check defaults now */
	/* caps */
	int reserved;       /* loads admitted and not finished */
	int python_workers; /* atomic: workers of live python versions + reserved */
	size_t queue_bytes; /* atomic: input bytes queued in every version */
	uint64_t last_idle_check_ns;
	unsigned long long n_evict_cap, n_evict_idle, n_load_refused, n_revalidations,
		n_load_timeouts;
	/* references a request named (an alias, a stage, latest) and the version
	 * each resolved to, kept while the source's generation stands (or, for a
	 * source without one, for poll_ms) */
	struct svi_refmemo *refs;
	size_t nrefs;
	struct svi_counters *counters; /* every version's, loaded or not (under mu) */
	size_t ncounters;
	unsigned long long render_mark;
	/* whether the source answered the last poll (mw_serve_source_status) */
	bool source_down;
	char source_error[256];
	int64_t source_down_since_ms, source_ok_ms;
	unsigned long long n_source_failures;
};

/* Hand a completed request to every observer (batcher.c, before done). */
void svi_observe(struct mw_serve *s, const struct mw_served *m, const struct mw_infer *inf);

/* predlog.c: the prediction log, an observer. */
struct mw_predlog;
int svi_predlog_open(const char *dir, int queue, struct mw_predlog **out, struct mw_err *err);
void svi_predlog_observe(const struct mw_prediction *p, void *ud);
MW_MUST_USE int svi_predlog_render_metrics(struct mw_predlog *l, struct mw_buf *out);
/* Writes what is queued, then stops the writer thread and frees. */
void svi_predlog_close(struct mw_predlog *l);

#endif
