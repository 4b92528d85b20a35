/*
 * serve.c - the model server: the names it serves and their loaded
 * versions, loading registered versions, hot swap, listings and metrics.
 *
 * Lifetimes.  A loaded version (struct mw_served) is reference counted.
 * References are held by: the entry that serves it as a name's default,
 * the entry's list of explicitly requested versions, every API caller between
 * acquire and release, and every queued request.  When the count drops to
 * zero the version goes to the retire list; the housekeeping thread stops its
 * batcher and unloads it (never the batcher thread itself, which may be the
 * one that dropped the last reference).
 *
 * Versions come from the model source (source.c, or one plugged in by the
 * caller): a reference resolves to an identity (name, version, pinned
 * manifest digest), the source materialises its files, the loader loads
 * them.  Nothing here reads the store.
 *
 * Hot swap.  The housekeeping thread re-resolves each name's default every
 * poll_ms.  When it names another identity (an alias moved, a stage
 * changed), the new version is loaded and warmed (one prediction) off the
 * request path, then swapped in under the lock: new requests go to it,
 * requests already queued finish on the old one, which retires when the last
 * of them is done.  A version that fails to load leaves the old one serving
 * and its error is kept for the status endpoints.  The same loop serves every
 * source, so a replica following a remote registry swaps exactly like a
 * server reading its own.
 *
 * Loading.  A version that is not loaded is loaded by one of two loader
 * threads owned by the server: a request queues a job for its (name,
 * version), or joins the one queued, and waits as a waiter
 * (mw_serve_acquire_async: the HTTP layer suspends the connection; the
 * blocking mw_serve_acquire waits on a condition variable).  The loader
 * answers every waiter of the job once, outside the lock; the housekeeping
 * thread answers 503 to a waiter still waiting after infer-timeout-ms (the
 * load goes on).  So no HTTP thread ever waits for a model to load.
 *
 * Validation.  When the source has a generation (the registry source: the
 * registry's write counter), every acquire compares it with the generation
 * the entries were last checked at (one atomic load each).  When it moved,
 * one thread re-resolves every loaded version (the others wait for it):
 * an explicitly requested version whose version or pinned digest no longer
 * resolves is dropped, and so is a default that no longer resolves or whose
 * own identity is gone (a default that resolves to another, still existing,
 * version keeps serving while the hot swap loads the new one, which the
 * check asks for at once).  A load that resolved before a change and lands
 * after it marks the entries for another check.  Remote sources have no
 * generation: the poll notices moves and deletions of defaults.
 *
 * Caps.  Before a runtime loads, svi_admit makes room under max_loaded
 * (versions alive, retiring ones included) and max_python_workers by
 * unloading the least recently used version that no request holds and that
 * is not a bound name's default; none: the load fails with 503.  The
 * housekeeping thread unloads versions unused for idle_unload_ms.  A
 * request for an unloaded version loads it again.
 */
#include "serve/serve_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A name the server serves: its default version and the versions asked for
 * explicitly. */
struct svi_entry {
	char *name;
	char *bind;                /* the reference the default follows (mw_serve_bind),
				    * NULL: the source's default */
	bool from_dir;             /* a directory (mw_serve_add_dir): no source */
	bool bound;                /* bound or added on purpose (not by a request) */
	struct mw_served *current; /* default version (one reference) */
	struct mw_served **versions; /* explicitly requested versions (one ref each) */
	size_t nversions;
	bool loading;
	char *last_error;
	char *failed_version;      /* the version that last failed to load */
	char failed_digest[65];    /* and its identity */
	uint64_t failed_at_ns;     /* when: it is tried again 30 s later */
	struct svi_entry *next;
};

/* ================================================================ loaded versions */

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

/* Whether a loaded version is the one an identity names. */
static bool same_ident(const struct mw_served *m, const struct mw_model_ident *id)
{
	return !strcmp(m->version, id->version) &&
	       (!m->digest[0] || !id->digest[0] || !strcmp(m->digest, id->digest));
}

/* Fetch a resolved version's files through the source and load them. */
static int load_ident(struct mw_serve *s, const char *name, const struct mw_model_ident *id,
		      struct mw_served **out, struct mw_err *err)
{
	char *dir = NULL;
	int rc = s->source->ops->fetch(s->source, id, &dir, err);
	if (!rc)
		rc = svi_load(s, name, id->version, id->digest, dir, out, err);
	free(dir);
	return rc;
}

/* What a name's default resolves to now: its binding, else the default alias,
 * else the latest version. */
static int resolve_default(struct mw_serve *s, const char *name, const char *bind,
			   struct mw_model_ident *id, struct mw_err *err)
{
	return s->source->ops->resolve(s->source, name, bind, s->default_alias, id, err);
}

/* An explicitly requested version: a version number, nothing else. */
static int resolve_version(struct mw_serve *s, const char *name, const char *version,
			   struct mw_model_ident *id, struct mw_err *err)
{
	int64_t v;
	if (mw_parse_int64(version, &v) || v < 1)
		return mw_err_set(err, MW_E_NOT_FOUND,
				  "registered model '%.100s' has no version '%.40s' (versions are "
				  "numbers)",
				  name, version);
	return s->source->ops->resolve(s->source, name, version, NULL, id, err);
}

/* ================================================================ entries */

static struct svi_entry *entry_find(struct mw_serve *s, const char *name)
{
	for (struct svi_entry *e = s->entries; e; e = e->next)
		if (!strcmp(e->name, name))
			return e;
	return NULL;
}

static void entry_drop(struct mw_serve *s, struct svi_entry *e)
{
	for (struct svi_entry **pp = &s->entries; *pp; pp = &(*pp)->next)
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

static struct svi_entry *entry_get(struct mw_serve *s, const char *name)
{
	struct svi_entry *e = entry_find(s, name);
	if (e)
		return e;
	e = mw_xcalloc(1, sizeof *e);
	e->name = mw_xstrdup(name);
	e->next = s->entries;
	s->entries = e;
	return e;
}

static void set_error(struct svi_entry *e, const struct mw_model_ident *id, const char *msg)
{
	e->failed_at_ns = mw_mono_ns();
	free(e->last_error);
	free(e->failed_version);
	e->last_error = msg ? mw_xstrdup(msg) : NULL;
	e->failed_version = msg && id && id->version ? mw_xstrdup(id->version) : NULL;
	snprintf(e->failed_digest, sizeof e->failed_digest, "%s", msg && id ? id->digest : "");
}

/* ================================================================ the pick step */

/* Which version of a name answers a request.  Today: the version the
 * request names, else the name's default (its binding, else the source's
 * default: the default alias, else the latest version).
 *
 * This is the place for routing (issue 12): a deployment's weighted split,
 * A/B assignment, canary step or bandit chooses among its routes here, before
 * the version is looked up or loaded, so loading, batching and the observers
 * are the same whatever made the choice; shadow targets are extra picks whose
 * answers go to the observers only. */
struct pick {
	const char *version; /* NULL: the name's default */
};

static void pick(struct mw_serve *s, const char *name, const char *version, struct pick *out)
{
	(void)s;
	(void)name;
	out->version = version && *version ? version : NULL;
}

/* ================================================================ validation */

/* validated_gen when the entries must be checked again whatever the source's
 * generation is (a load raced with a change). */
#define GEN_RECHECK UINT64_MAX

static bool has_generation(const struct mw_serve *s)
{
	return s->source && s->source->ops->generation;
}

static uint64_t source_generation(struct mw_serve *s)
{
	return has_generation(s) ? s->source->ops->generation(s->source) : 0;
}

/* Under s->mu: a version resolved at generation gen0 is being put in place;
 * when the source changed since, the entries are checked again. */
static void note_generation(struct mw_serve *s, uint64_t gen0)
{
	if (has_generation(s) && source_generation(s) != gen0) {
		s->revalidate_again = true;
		__atomic_store_n(&s->validated_gen, GEN_RECHECK, __ATOMIC_RELEASE);
	}
}

/* Under s->mu: detach m from entry e (the entry's reference goes to the
 * caller). */
static bool entry_detach(struct svi_entry *e, struct mw_served *m)
{
	if (e->current == m) {
		e->current = NULL;
		return true;
	}
	for (size_t i = 0; i < e->nversions; i++)
		if (e->versions[i] == m) {
			e->versions[i] = e->versions[--e->nversions];
			return true;
		}
	return false;
}

static struct svi_job *job_find(struct mw_serve *s, const char *name, const char *version);
static void job_start(struct mw_serve *s, const char *name, const char *version);

struct check {
	char *name, *bind;
	struct mw_served *m; /* a reference */
	bool is_default;
	bool drop;
};

/* Whether the loaded version c->m is still what it stands for. */
static void check_one(struct mw_serve *s, struct check *c)
{
	struct mw_model_ident id = {0};
	struct mw_err err = {0};
	int rc;
	if (c->is_default) {
		rc = resolve_default(s, c->name, c->bind, &id, &err);
		if (!rc && same_ident(c->m, &id)) {
			mw_model_ident_release(&id);
			return;
		}
		if (rc && err.code != MW_E_NOT_FOUND) { /* cannot tell now: keep it */
			mw_model_ident_release(&id);
			return;
		}
		if (!rc) {
			/* the default names another version now (an alias moved): keep
			 * serving this one while the swap loads the other, when this one
			 * itself is still registered with the same content */
			mw_model_ident_release(&id);
			memset(&err, 0, sizeof err);
			rc = resolve_version(s, c->name, c->m->version, &id, &err);
			if (!rc && same_ident(c->m, &id)) {
				mw_model_ident_release(&id);
				pthread_mutex_lock(&s->mu);
				s->swap_now = true;
				pthread_cond_broadcast(&s->cv);
				pthread_mutex_unlock(&s->mu);
				return;
			}
		}
		c->drop = true;
	} else {
		rc = resolve_version(s, c->name, c->m->version, &id, &err);
		c->drop = (rc && err.code == MW_E_NOT_FOUND) || (!rc && !same_ident(c->m, &id));
	}
	mw_model_ident_release(&id);
}

/* The source's generation moved: re-resolve every loaded version of the
 * source and drop those whose identity is gone (a deleted model or version,
 * a name re-registered with other files, a renamed model).  One thread at a
 * time; others wait for it, so a request after a delete never finds the
 * deleted version. */
static void revalidate(struct mw_serve *s)
{
	uint64_t g = source_generation(s);
	pthread_mutex_lock(&s->mu);
	while (s->validating && !s->stopping)
		pthread_cond_wait(&s->cv, &s->mu);
	if (s->stopping || __atomic_load_n(&s->validated_gen, __ATOMIC_ACQUIRE) == g) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	s->validating = true;
	s->revalidate_again = false;
	s->n_revalidations++;
	size_t n = 0, k = 0;
	for (struct svi_entry *e = s->entries; e; e = e->next)
		n += (e->current ? 1 : 0) + e->nversions;
	struct check *cs = mw_xcalloc(n + 1, sizeof *cs);
	for (struct svi_entry *e = s->entries; e; e = e->next) {
		if (e->from_dir)
			continue;
		for (size_t i = 0; i <= e->nversions; i++) {
			struct mw_served *m = i < e->nversions ? e->versions[i] : e->current;
			if (!m)
				continue;
			served_ref(m);
			cs[k].name = mw_xstrdup(e->name);
			cs[k].bind = e->bind ? mw_xstrdup(e->bind) : NULL;
			cs[k].m = m;
			cs[k].is_default = m == e->current;
			k++;
		}
		set_error(e, NULL, NULL); /* the registry changed: a failed load may work now */
	}
	pthread_mutex_unlock(&s->mu);

	for (size_t i = 0; i < k; i++)
		check_one(s, &cs[i]);

	struct mw_served **rel = mw_xcalloc(k + 1, sizeof *rel);
	size_t nrel = 0;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < k; i++) {
		if (!cs[i].drop)
			continue;
		struct svi_entry *e = entry_find(s, cs[i].name);
		if (e && entry_detach(e, cs[i].m)) {
			rel[nrel++] = cs[i].m; /* the entry's reference */
			mw_info("serve: %s/%s no longer resolves to what was loaded; dropped",
				cs[i].name, cs[i].m->version);
		}
	}
	/* names that no longer serve anything are forgotten; a bound name loads
	 * what its binding names now */
	for (struct svi_entry *e = s->entries, *next; e; e = next) {
		next = e->next;
		if (e->from_dir || e->current || e->nversions)
			continue;
		if (!e->bound) {
			if (!job_find(s, e->name, NULL))
				entry_drop(s, e);
		} else if (!job_find(s, e->name, NULL)) {
			job_start(s, e->name, NULL);
		}
	}
	__atomic_store_n(&s->validated_gen, s->revalidate_again ? GEN_RECHECK : g,
			 __ATOMIC_RELEASE);
	s->validating = false;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < nrel; i++)
		mw_served_release(rel[i]);
	for (size_t i = 0; i < k; i++) {
		mw_served_release(cs[i].m);
		free(cs[i].name);
		free(cs[i].bind);
	}
	free(rel);
	free(cs);
}

/* The hot path's check: one atomic load (and the source's) when nothing
 * changed. */
static inline void maybe_revalidate(struct mw_serve *s)
{
	if (has_generation(s) && s->source->ops->generation(s->source) !=
					 __atomic_load_n(&s->validated_gen, __ATOMIC_ACQUIRE))
		revalidate(s);
}

/* ================================================================ caps and eviction */

/* Under s->mu: whether m may be unloaded now: no request holds it (the
 * entry's is its only reference) and it is not a bound name's default. */
static bool evictable(const struct svi_entry *e, const struct mw_served *m)
{
	if (e->bound && m == e->current)
		return false;
	return __atomic_load_n(&m->refs, __ATOMIC_ACQUIRE) == 1;
}

/* Under s->mu: the least recently used evictable version (python ones only
 * when python_only), detached from its entry; NULL when there is none. */
static struct mw_served *evict_lru(struct mw_serve *s, bool python_only)
{
	struct mw_served *best = NULL;
	struct svi_entry *best_e = NULL;
	for (struct svi_entry *e = s->entries; e; e = e->next)
		for (size_t i = 0; i <= e->nversions; i++) {
			struct mw_served *m = i < e->nversions ? e->versions[i] : e->current;
			if (!m || !evictable(e, m) || (python_only && !m->py_workers))
				continue;
			if (!best ||
			    __atomic_load_n(&m->last_used_ns, __ATOMIC_RELAXED) <
				    __atomic_load_n(&best->last_used_ns, __ATOMIC_RELAXED)) {
				best = m;
				best_e = e;
			}
		}
	if (best)
		entry_detach(best_e, best);
	return best;
}

/* Unload a version detached from its entry whose entry reference was the
 * last: nobody else can reach it, so it is destroyed here. */
static void unload_now(struct mw_served *m)
{
	__atomic_store_n(&m->refs, 0, __ATOMIC_RELEASE);
	svi_destroy(m);
}

static void reap(struct mw_serve *s);

int svi_admit(struct mw_serve *s, const char *name, const char *version, int workers,
	      struct mw_err *err)
{
	int max_n = s->o.max_loaded, max_w = s->o.max_python_workers;
	if (max_w > 0 && workers > max_w)
		return mw_err_set(err, MW_E_UNAVAILABLE,
				  "cannot load %.100s/%.30s: it needs %d python workers "
				  "(python-workers) and max-python-workers is %d",
				  name, version, workers, max_w);
	if (max_n > 0 || max_w > 0)
		reap(s); /* versions already retired count no more */
	for (;;) {
		pthread_mutex_lock(&s->mu);
		int live = __atomic_load_n(&s->live, __ATOMIC_RELAXED);
		int pw = __atomic_load_n(&s->python_workers, __ATOMIC_RELAXED);
		bool over_n = max_n > 0 && live + s->reserved + 1 > max_n;
		bool over_w = max_w > 0 && workers > 0 && pw + workers > max_w;
		if (!over_n && !over_w) {
			s->reserved++;
			__atomic_fetch_add(&s->python_workers, workers, __ATOMIC_RELAXED);
			pthread_mutex_unlock(&s->mu);
			return 0;
		}
		struct mw_served *v = evict_lru(s, !over_n);
		if (!v) {
			s->n_load_refused++;
			pthread_mutex_unlock(&s->mu);
			if (over_n)
				return mw_err_set(
					err, MW_E_UNAVAILABLE,
					"cannot load %.100s/%.30s: %d model versions are "
					"loaded (max-loaded-versions %d) and none can be "
					"unloaded now (each is bound or has requests in flight)",
					name, version, live + s->reserved, max_n);
			return mw_err_set(err, MW_E_UNAVAILABLE,
					  "cannot load %.100s/%.30s: %d python workers run "
					  "(max-python-workers %d) and no python version can be "
					  "unloaded now (each is bound or has requests in flight)",
					  name, version, pw, max_w);
		}
		s->n_evict_cap++;
		pthread_mutex_unlock(&s->mu);
		mw_info("serve: unloading %s/%s, the least recently used, to make room for %s/%s",
			v->name, v->version, name, version);
		unload_now(v);
	}
}

void svi_unreserve(struct mw_serve *s, int workers, bool loaded)
{
	pthread_mutex_lock(&s->mu);
	s->reserved--;
	if (!loaded)
		__atomic_fetch_sub(&s->python_workers, workers, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->mu);
}

/* Housekeeping: unload versions nobody asked for in idle_unload_ms. */
static void unload_idle(struct mw_serve *s)
{
	uint64_t now = mw_mono_ns(), idle = (uint64_t)s->o.idle_unload_ms * 1000000ull;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		struct mw_served *v = NULL;
		for (struct svi_entry *e = s->entries; e && !v; e = e->next)
			for (size_t i = 0; i <= e->nversions && !v; i++) {
				struct mw_served *m =
					i < e->nversions ? e->versions[i] : e->current;
				if (m && evictable(e, m) &&
				    now - __atomic_load_n(&m->last_used_ns, __ATOMIC_RELAXED) >
					    idle &&
				    entry_detach(e, m))
					v = m;
			}
		if (v)
			s->n_evict_idle++;
		pthread_mutex_unlock(&s->mu);
		if (!v)
			return;
		mw_info("serve: unloading %s/%s: unused for %lld s (model-idle-unload)", v->name,
			v->version, (long long)(s->o.idle_unload_ms / 1000));
		unload_now(v);
	}
}

/* ================================================================ loading */

/* A request waiting for a load. */
struct svi_waiter {
	mw_serve_ready_fn ready;
	void *ud;
	uint64_t deadline_ns; /* 0: waits however long the load takes */
	struct svi_waiter *next;
};

/* A load of one (name, version) (version NULL: the name's default), run by a
 * loader thread; requests for it while it is queued or running join it. */
struct svi_job {
	char *name;
	char *version;
	bool running;
	struct svi_waiter *waiters;
	struct svi_job *next;
};

static bool opt_eq(const char *a, const char *b)
{
	return a ? b && !strcmp(a, b) : !b;
}

static struct svi_job *job_find(struct mw_serve *s, const char *name, const char *version)
{
	for (struct svi_job *j = s->jobs; j; j = j->next)
		if (!strcmp(j->name, name) && opt_eq(j->version, version))
			return j;
	return NULL;
}

/* Under s->mu: queue a job (at the end: first come, first loaded). */
static void job_start(struct mw_serve *s, const char *name, const char *version)
{
	struct svi_job *j = mw_xcalloc(1, sizeof *j);
	j->name = mw_xstrdup(name);
	j->version = version ? mw_xstrdup(version) : NULL;
	struct svi_job **pp = &s->jobs;
	while (*pp)
		pp = &(*pp)->next;
	*pp = j;
	pthread_cond_signal(&s->jobs_cv);
}

static void job_unlink(struct mw_serve *s, struct svi_job *j)
{
	for (struct svi_job **pp = &s->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			return;
		}
}

static void job_free(struct svi_job *j)
{
	free(j->name);
	free(j->version);
	free(j);
}

static void fail_waiters(struct svi_waiter *w, int code, const char *msg)
{
	while (w) {
		struct svi_waiter *next = w->next;
		struct mw_err err = {0};
		int rc = mw_err_set(&err, code, "%s", msg);
		w->ready(w->ud, NULL, rc, &err);
		free(w);
		w = next;
	}
}

/* A loader thread runs job j (taken off the queue, running): resolve, load
 * (or find the identity loaded already), put it in place, answer the
 * waiters. */
static void run_job(struct mw_serve *s, struct svi_job *j, const char *bind)
{
	bool want_default = !j->version;
	uint64_t gen0 = source_generation(s);
	struct mw_model_ident id = {0};
	struct mw_err err = {0};
	struct mw_served *m = NULL; /* the job's reference */
	int rc = want_default ? resolve_default(s, j->name, bind, &id, &err)
			      : resolve_version(s, j->name, j->version, &id, &err);
	if (!rc) { /* loaded already under another reference? */
		pthread_mutex_lock(&s->mu);
		struct svi_entry *e = entry_find(s, j->name);
		for (size_t i = 0; e && i <= e->nversions && !m; i++) {
			struct mw_served *c = i < e->nversions ? e->versions[i] : e->current;
			if (c && same_ident(c, &id)) {
				served_ref(c);
				m = c;
			}
		}
		pthread_mutex_unlock(&s->mu);
	}
	bool reused = m != NULL;
	if (!rc && !m)
		rc = load_ident(s, j->name, &id, &m, &err);

	pthread_mutex_lock(&s->mu);
	job_unlink(s, j);
	struct svi_waiter *w = j->waiters;
	j->waiters = NULL;
	struct mw_served *drop = NULL;
	if (rc) {
		int code = err.code ? err.code : -rc;
		struct svi_entry *e = entry_find(s, j->name);
		if (want_default && code != MW_E_NOT_FOUND) {
			e = entry_get(s, j->name);
			set_error(e, &id, err.msg); /* the default failed to load */
		}
		if (code == MW_E_NOT_FOUND && e && !e->current && !e->nversions && !e->bound &&
		    !e->from_dir)
			entry_drop(s, e); /* remember nothing of names that do not exist */
		if (code != MW_E_NOT_FOUND && code != MW_E_UNAVAILABLE) {
			/* a model that cannot load makes the endpoint unavailable, not the
			 * request bad */
			char msg[sizeof err.msg];
			snprintf(msg, sizeof msg,
				 "model %.100s version %.30s cannot be loaded: %.300s", j->name,
				 id.version ? id.version : "?", err.msg);
			rc = mw_err_set(&err, MW_E_UNAVAILABLE, "%s", msg);
		}
	} else {
		__atomic_store_n(&m->last_used_ns, mw_mono_ns(), __ATOMIC_RELAXED);
		struct svi_entry *e = s->stopping ? NULL : entry_get(s, j->name);
		bool placed = false;
		if (e && want_default && !e->current) {
			if (reused)
				entry_detach(e, m); /* it moves from the versions to the default */
			e->current = m;
			set_error(e, NULL, NULL);
			placed = !reused;
		} else if (e && !reused) {
			e->versions =
				mw_xrealloc(e->versions, (e->nversions + 1) * sizeof *e->versions);
			e->versions[e->nversions++] = m;
			placed = true;
		}
		if (!placed)
			drop = m; /* the job's reference (the entry has its own) */
		note_generation(s, gen0);
		for (struct svi_waiter *x = w; x; x = x->next)
			served_ref(m);
	}
	pthread_mutex_unlock(&s->mu);
	while (w) {
		struct svi_waiter *next = w->next;
		w->ready(w->ud, rc ? NULL : m, rc, &err);
		free(w);
		w = next;
	}
	mw_served_release(drop);
	mw_model_ident_release(&id);
	job_free(j);
}

static void *loader_main(void *p)
{
	struct mw_serve *s = p;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct svi_job *j = NULL;
		while (!s->stopping) {
			for (j = s->jobs; j && j->running; j = j->next)
				;
			if (j)
				break;
			pthread_cond_wait(&s->jobs_cv, &s->mu);
		}
		if (s->stopping)
			break;
		j->running = true;
		struct svi_entry *e = entry_find(s, j->name);
		char *bind = e && e->bind ? mw_xstrdup(e->bind) : NULL;
		pthread_mutex_unlock(&s->mu);
		run_job(s, j, bind);
		free(bind);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* deadline: whether the wait ends at infer-timeout-ms (requests) or not
 * (mw_serve_acquire: the CLI and bindings wait for the load). */
static int acquire(struct mw_serve *s, const char *name, const char *version,
		   mw_serve_ready_fn ready, void *ud, bool deadline, struct mw_served **out,
		   struct mw_err *err)
{
	struct pick p;
	pick(s, name, version, &p);
	bool want_default = !p.version;
	maybe_revalidate(s);
	pthread_mutex_lock(&s->mu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->mu);
		return mw_err_set(err, MW_E_UNAVAILABLE, "the server is shutting down");
	}
	struct svi_entry *e = entry_find(s, name);
	if (!e && (!s->source || s->o.bound_only)) {
		pthread_mutex_unlock(&s->mu);
		return mw_err_set(err, MW_E_NOT_FOUND, "no model named '%s' is served", name);
	}
	struct mw_served *hit = NULL;
	if (e && want_default)
		hit = e->current;
	else if (e) {
		for (size_t i = 0; i < e->nversions && !hit; i++)
			if (!strcmp(e->versions[i]->version, p.version))
				hit = e->versions[i];
		if (!hit && e->current && !strcmp(e->current->version, p.version))
			hit = e->current;
	}
	if (hit) {
		served_ref(hit);
		pthread_mutex_unlock(&s->mu);
		__atomic_store_n(&hit->last_used_ns, mw_mono_ns(), __ATOMIC_RELAXED);
		*out = hit;
		return 0;
	}
	if ((e && e->from_dir) || !s->source) {
		pthread_mutex_unlock(&s->mu);
		return mw_err_set(err, MW_E_NOT_FOUND, "model '%s' has no version '%s'", name,
				  p.version ? p.version : "");
	}
	int64_t v;
	if (p.version && (mw_parse_int64(p.version, &v) || v < 1)) {
		pthread_mutex_unlock(&s->mu);
		return mw_err_set(err, MW_E_NOT_FOUND,
				  "registered model '%.100s' has no version '%.40s' (versions are "
				  "numbers)",
				  name, p.version);
	}
	if (want_default && e && !e->current && e->last_error &&
	    mw_mono_ns() - e->failed_at_ns < 5000000000ull) {
		/* it failed to load moments ago: answer that, do not reload per request */
		int rc = mw_err_set(err, MW_E_UNAVAILABLE,
				    "model %.100s version %.30s cannot be loaded: %.300s", name,
				    e->failed_version ? e->failed_version : "?", e->last_error);
		pthread_mutex_unlock(&s->mu);
		return rc;
	}
	struct svi_job *j = job_find(s, name, p.version);
	if (!j) {
		job_start(s, name, p.version);
		j = job_find(s, name, p.version);
	}
	struct svi_waiter *w = mw_xcalloc(1, sizeof *w);
	w->ready = ready;
	w->ud = ud;
	int64_t to = s->o.batching.timeout_ms;
	w->deadline_ns = deadline && to > 0 ? mw_mono_ns() + (uint64_t)to * 1000000ull : 0;
	w->next = j->waiters;
	j->waiters = w;
	pthread_mutex_unlock(&s->mu);
	return MW_SERVE_PENDING;
}

/* ================================================================ counters */

#define MAX_COUNTERS 4096

static void counters_destroy(struct svi_counters *c)
{
	free(c->name);
	free(c->version);
	free(c);
}

struct svi_counters *svi_counters_get(struct mw_serve *s, const char *name, const char *version)
{
	static const double rows_b[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
	pthread_mutex_lock(&s->mu);
	struct svi_counters *c = s->counters;
	while (c && (strcmp(c->name, name) || strcmp(c->version, version)))
		c = c->next;
	if (!c) {
		if (s->ncounters >= MAX_COUNTERS) { /* forget the longest unused */
			struct svi_counters **victim = NULL;
			for (struct svi_counters **pp = &s->counters; *pp; pp = &(*pp)->next)
				if (!(*pp)->users &&
				    (!victim || (*pp)->unused_since < (*victim)->unused_since))
					victim = pp;
			if (victim) {
				struct svi_counters *v = *victim;
				*victim = v->next;
				counters_destroy(v);
				s->ncounters--;
			}
		}
		c = mw_xcalloc(1, sizeof *c);
		c->name = mw_xstrdup(name);
		c->version = mw_xstrdup(version);
		mw_hist_init(&c->h_queue, mw_latency_buckets, mw_latency_nbuckets);
		mw_hist_init(&c->h_compute, mw_latency_buckets, mw_latency_nbuckets);
		mw_hist_init(&c->h_total, mw_latency_buckets, mw_latency_nbuckets);
		mw_hist_init(&c->h_batch, rows_b, 12);
		c->next = s->counters;
		s->counters = c;
		s->ncounters++;
	}
	c->users++;
	pthread_mutex_unlock(&s->mu);
	return c;
}

void svi_counters_put(struct mw_serve *s, struct svi_counters *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&s->mu);
	if (--c->users == 0)
		c->unused_since = mw_mono_ns();
	pthread_mutex_unlock(&s->mu);
}

static void counters_free(struct mw_serve *s)
{
	struct svi_counters *c = s->counters;
	while (c) {
		struct svi_counters *next = c->next;
		counters_destroy(c);
		c = next;
	}
	s->counters = NULL;
	s->ncounters = 0;
}

/* ================================================================ references */

/* A request may name a version by reference instead of number: "@champion"
 * or "champion" (an alias), a stage ("Production", any case), "latest", or
 * the model as NAME@ALIAS.  The reference resolves through the source to a
 * version number, which is then served like any explicitly named version
 * (loaded once, shared by every reference to it).  What a reference
 * resolved to is remembered while the source's generation stands (a registry
 * write forgets it), or for poll_ms (at least 1 s) with a source that has no
 * generation. */
struct svi_refmemo {
	char *name, *ref, *version;
	uint64_t gen, at_ns;
	struct svi_refmemo *next;
};

#define MAX_REFMEMO 1024

static void refmemo_clear(struct mw_serve *s)
{
	struct svi_refmemo *m = s->refs;
	while (m) {
		struct svi_refmemo *next = m->next;
		free(m->name);
		free(m->ref);
		free(m->version);
		free(m);
		m = next;
	}
	s->refs = NULL;
	s->nrefs = 0;
}

static bool is_number(const char *v)
{
	int64_t n;
	return !mw_parse_int64(v, &n) && n >= 1;
}

/* name and version as the request gave them -> *name2 and *version2 (malloc'd), with
 * the version a number, or NULL for the name's default. */
static int resolve_ref(struct mw_serve *s, const char *name, const char *version, char **name2,
		       char **version2, struct mw_err *err)
{
	*name2 = *version2 = NULL;
	char *ref = NULL;
	const char *at = strrchr(name, '@');
	if ((!version || !*version) && at && at > name && at[1]) {
		*name2 = mw_xstrndup(name, (size_t)(at - name));
		ref = mw_xstrdup(at);
	} else {
		*name2 = mw_xstrdup(name);
		if (version && *version && !is_number(version))
			ref = mw_xstrdup(version); /* "@alias", a stage, latest, or an alias */
		else if (version && *version)
			*version2 = mw_xstrdup(version);
	}
	if (!ref)
		return 0;
	if (!s->source) {
		int rc = mw_err_set(err, MW_E_NOT_FOUND, "model '%.100s' has no version '%.100s'",
				    *name2, ref);
		free(ref);
		return rc;
	}
	uint64_t gen = source_generation(s), now = mw_mono_ns();
	uint64_t ttl = (uint64_t)(s->o.poll_ms > 1000 ? s->o.poll_ms : 1000) * 1000000ull;
	char *stale = NULL; /* what it resolved to last, however long ago */
	pthread_mutex_lock(&s->mu);
	for (struct svi_refmemo *m = s->refs; m; m = m->next)
		if (!strcmp(m->name, *name2) && !strcmp(m->ref, ref)) {
			if (has_generation(s) ? m->gen == gen : now - m->at_ns < ttl)
				*version2 = mw_xstrdup(m->version);
			else if (!stale)
				stale = mw_xstrdup(m->version);
			if (*version2)
				break;
		}
	pthread_mutex_unlock(&s->mu);
	if (*version2) {
		free(stale);
		free(ref);
		return 0;
	}
	struct mw_model_ident id = {0};
	int rc = s->source->ops->resolve(s->source, *name2, ref, NULL, &id, err);
	if (rc == -MW_E_INVALID && ref[0] != '@') {
		/* not a stage (the source knows their names): an alias */
		size_t n = strlen(ref) + 2;
		char *at_ref = mw_xmalloc(n);
		snprintf(at_ref, n, "@%s", ref);
		mw_err_clear(err);
		rc = s->source->ops->resolve(s->source, *name2, at_ref, NULL, &id, err);
		free(at_ref);
	}
	if (rc && stale && err->code != MW_E_NOT_FOUND && err->code != MW_E_INVALID) {
		/* the source does not answer (a replica's registry is down): keep
		 * serving what the reference named last, as the default does */
		mw_err_clear(err);
		*version2 = stale;
		stale = NULL;
		free(ref);
		return 0;
	}
	free(stale);
	if (!rc) {
		*version2 = mw_xstrdup(id.version);
		pthread_mutex_lock(&s->mu);
		if (s->nrefs >= MAX_REFMEMO)
			refmemo_clear(s);
		struct svi_refmemo *m = mw_xcalloc(1, sizeof *m);
		m->name = mw_xstrdup(*name2);
		m->ref = ref;
		ref = NULL;
		m->version = mw_xstrdup(id.version);
		m->gen = gen;
		m->at_ns = now;
		m->next = s->refs;
		s->refs = m;
		s->nrefs++;
		pthread_mutex_unlock(&s->mu);
	}
	mw_model_ident_release(&id);
	free(ref);
	return rc;
}

static int acquire_ref(struct mw_serve *s, const char *name, const char *version,
		       mw_serve_ready_fn ready, void *ud, bool deadline, struct mw_served **out,
		       struct mw_err *err)
{
	bool no_version = !version || !*version;
	const char *at = no_version ? strrchr(name, '@') : NULL;
	if ((no_version || is_number(version)) && !(at && at > name && at[1]))
		return acquire(s, name, version, ready, ud, deadline, out, err); /* no reference */
	char *n2 = NULL, *v2 = NULL;
	int rc = resolve_ref(s, name, version, &n2, &v2, err);
	if (!rc)
		rc = acquire(s, n2, v2, ready, ud, deadline, out, err);
	free(n2);
	free(v2);
	return rc;
}

int mw_serve_acquire_async(struct mw_serve *s, const char *name, const char *version,
			   mw_serve_ready_fn ready, void *ud, struct mw_served **out,
			   struct mw_err *err)
{
	return acquire_ref(s, name, version, ready, ud, true, out, err);
}

/* mw_serve_acquire: waits for its load on a condition variable. */
struct sync_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	struct mw_served *m;
	int rc;
	struct mw_err err;
};

static void sync_ready(void *ud, struct mw_served *m, int rc, const struct mw_err *err)
{
	struct sync_wait *w = ud;
	pthread_mutex_lock(&w->mu);
	w->m = m;
	w->rc = rc;
	if (rc && err)
		w->err = *err;
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int mw_serve_acquire(struct mw_serve *s, const char *name, const char *version,
		     struct mw_served **out, struct mw_err *err)
{
	struct sync_wait *w = mw_xcalloc(1, sizeof *w);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	int rc = acquire_ref(s, name, version, sync_ready, w, false, out, err);
	if (rc == MW_SERVE_PENDING) {
		pthread_mutex_lock(&w->mu);
		while (!w->done)
			pthread_cond_wait(&w->cv, &w->mu);
		pthread_mutex_unlock(&w->mu);
		rc = w->rc;
		if (rc)
			*err = w->err;
		else
			*out = w->m;
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
	return rc;
}

int mw_serve_add_dir(struct mw_serve *s, const char *name, const char *version, const char *dir,
		     struct mw_err *err)
{
	struct mw_served *m = NULL;
	int rc = svi_load(s, name, version && *version ? version : "1", "", dir, &m, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->mu);
	struct svi_entry *e = entry_get(s, name);
	e->from_dir = true;
	e->bound = true;
	struct mw_served *old = e->current;
	e->current = m;
	pthread_mutex_unlock(&s->mu);
	mw_served_release(old);
	return 0;
}

int mw_serve_bind(struct mw_serve *s, const char *name, const char *ref, struct mw_err *err)
{
	if (!s->source)
		return mw_err_set(err, MW_E_INVALID, "no model source to bind '%s' to", name);
	pthread_mutex_lock(&s->mu);
	struct svi_entry *e = entry_get(s, name);
	free(e->bind);
	e->bind = ref && *ref ? mw_xstrdup(ref) : NULL;
	e->bound = true;
	pthread_mutex_unlock(&s->mu);
	/* load now, so a bad binding fails at start-up */
	struct mw_served *m;
	int rc = mw_serve_acquire(s, name, NULL, &m, err);
	if (!rc)
		mw_served_release(m);
	return rc;
}

/* ================================================================ housekeeping */

/* Hot swap: re-resolve the default of every name that serves one; when it
 * names another identity, load and warm that version here, off the request
 * path, and swap it in under the lock.  When the default no longer resolves
 * at all (the model, its versions or the bound alias are gone), it stops
 * serving: for a source without a generation this poll is how a deletion is
 * noticed.  A bound name that serves nothing is loaded again (a load failure
 * is retried after 30 s), so `mw serve` comes back when its alias does. */
/* After a poll's resolve: an answer (a version, or "no such model") means the
 * source is reachable; anything else (cannot connect, 5xx, I/O) means it is
 * not, and the versions loaded keep serving.  Logged once per change. */
static void note_source(struct mw_serve *s, int rc, const struct mw_err *err)
{
	bool down = rc && err->code != MW_E_NOT_FOUND && err->code != MW_E_INVALID;
	pthread_mutex_lock(&s->mu);
	bool was = s->source_down;
	s->source_down = down;
	if (down) {
		s->n_source_failures++;
		snprintf(s->source_error, sizeof s->source_error, "%.250s", err->msg);
		if (!was)
			s->source_down_since_ms = mw_now_ms();
	} else {
		s->source_ok_ms = mw_now_ms();
		s->source_error[0] = 0;
		s->source_down_since_ms = 0;
	}
	pthread_mutex_unlock(&s->mu);
	if (down && !was)
		mw_warn("serve: the model source (%s) is unreachable; the loaded versions keep "
			"serving: %s",
			s->source->ops->kind, err->msg);
	else if (!down && was)
		mw_info("serve: the model source (%s) answers again", s->source->ops->kind);
}

void mw_serve_source_status(struct mw_serve *s, struct mw_serve_source_status *out)
{
	memset(out, 0, sizeof *out);
	out->kind = s->source ? s->source->ops->kind : NULL;
	pthread_mutex_lock(&s->mu);
	out->reachable = !s->source_down;
	snprintf(out->error, sizeof out->error, "%s", s->source_error);
	out->since_ms = s->source_down_since_ms;
	out->last_ok_ms = s->source_ok_ms;
	pthread_mutex_unlock(&s->mu);
}

static void check_aliases(struct mw_serve *s)
{
	size_t nanswered = 0, nfail = 0; /* this poll's resolves, for note_source */
	struct mw_err fail_err = {0};
	pthread_mutex_lock(&s->mu);
	size_t n = 0;
	for (struct svi_entry *e = s->entries; e; e = e->next)
		n++;
	char **names = mw_xcalloc(n + 1, sizeof *names);
	size_t k = 0;
	for (struct svi_entry *e = s->entries; e; e = e->next) {
		if (!e->from_dir && e->current && !e->loading)
			names[k++] = mw_xstrdup(e->name);
		else if (e->bound && !e->from_dir && !e->current && !s->stopping &&
			 !job_find(s, e->name, NULL) &&
			 (!e->last_error || mw_mono_ns() - e->failed_at_ns > 30000000000ull))
			job_start(s, e->name, NULL); /* a bound name serving nothing: try again */
	}
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < k; i++) {
		pthread_mutex_lock(&s->mu);
		struct svi_entry *e = entry_find(s, names[i]);
		if (!e || !e->current || e->loading || s->stopping) {
			pthread_mutex_unlock(&s->mu);
			free(names[i]);
			continue;
		}
		struct mw_served *cur = e->current;
		served_ref(cur);
		bool recent = e->failed_version && mw_mono_ns() - e->failed_at_ns < 30000000000ull;
		struct mw_model_ident failed = {0};
		if (recent) {
			failed.version = mw_xstrdup(e->failed_version);
			memcpy(failed.digest, e->failed_digest, sizeof failed.digest);
		}
		char *bind = e->bind ? mw_xstrdup(e->bind) : NULL;
		e->loading = true;
		pthread_mutex_unlock(&s->mu);

		uint64_t gen0 = source_generation(s);
		struct mw_model_ident id = {0};
		struct mw_err err = {0};
		struct mw_served *m = NULL;
		int rc = resolve_default(s, names[i], bind, &id, &err);
		if (rc && err.code != MW_E_NOT_FOUND && err.code != MW_E_INVALID) {
			nfail++;
			fail_err = err;
		} else {
			nanswered++; /* a version, or "no such model": the source answers */
		}
		bool gone = rc && err.code == MW_E_NOT_FOUND;
		bool changed = !rc && !same_ident(cur, &id);
		if (changed && recent && !strcmp(failed.version, id.version) &&
		    !strcmp(failed.digest, id.digest))
			changed = false; /* that one failed moments ago */
		if (changed) {
			/* already loaded as an explicit version (a request named it,
			 * e.g. by reference): that copy becomes the default too */
			pthread_mutex_lock(&s->mu);
			struct svi_entry *le = entry_find(s, names[i]);
			for (size_t j = 0; le && !m && j < le->nversions; j++)
				if (same_ident(le->versions[j], &id)) {
					m = le->versions[j];
					served_ref(m);
				}
			pthread_mutex_unlock(&s->mu);
		}
		if (changed && !m) {
			mw_info("serve: %s moved from version %s to %s; loading", names[i],
				cur->version, id.version);
			rc = load_ident(s, names[i], &id, &m, &err);
			if (rc)
				mw_warn("serve: %s/%s failed to load, %s/%s keeps serving: %s",
					names[i], id.version, names[i], cur->version, err.msg);
		}
		pthread_mutex_lock(&s->mu);
		/* the entry may have been dropped (unloaded on request, or no longer
		 * resolving) or its default replaced while the lock was not held:
		 * look it up again, and change nothing that is not still ours */
		e = entry_find(s, names[i]);
		if (e)
			e->loading = false;
		pthread_cond_broadcast(&s->cv);
		struct mw_served *old = NULL;
		if (!e || e->current != cur) {
			old = m; /* loaded for an entry that moved on: not used */
		} else if (gone) {
			old = cur; /* the entry's reference */
			e->current = NULL;
			mw_info("serve: %s no longer resolves (%s); it stops serving", names[i],
				err.msg);
		} else if (changed && rc) {
			set_error(e, &id, err.msg);
		} else if (changed) {
			set_error(e, NULL, NULL);
			old = e->current;
			e->current = m; /* atomic for requests: they take it under this lock */
			note_generation(s, gen0);
			mw_info("serve: %s now serves version %s", names[i], id.version);
		}
		pthread_mutex_unlock(&s->mu);
		mw_served_release(old);
		mw_served_release(cur);
		mw_model_ident_release(&id);
		mw_model_ident_release(&failed);
		free(bind);
		free(names[i]);
	}
	free(names);
	/* one verdict per poll: reachable when anything answered */
	if (nanswered)
		note_source(s, 0, &fail_err);
	else if (nfail)
		note_source(s, -MW_E_UNAVAILABLE, &fail_err);
}

static void reap(struct mw_serve *s)
{
	pthread_mutex_lock(&s->mu);
	struct mw_served *list = s->retire;
	s->retire = NULL;
	pthread_mutex_unlock(&s->mu);
	while (list) {
		struct mw_served *next = list->retire_next;
		svi_destroy(list);
		list = next;
	}
}

/* Under s->mu: take the waiters whose wait passed its deadline. */
static struct svi_waiter *take_expired(struct mw_serve *s, uint64_t now)
{
	struct svi_waiter *out = NULL;
	for (struct svi_job *j = s->jobs; j; j = j->next)
		for (struct svi_waiter **pp = &j->waiters; *pp;) {
			struct svi_waiter *w = *pp;
			if (w->deadline_ns && now >= w->deadline_ns) {
				*pp = w->next;
				w->next = out;
				out = w;
				s->n_load_timeouts++;
			} else {
				pp = &w->next;
			}
		}
	return out;
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
		uint64_t now = mw_mono_ns();
		struct svi_waiter *late = take_expired(s, now);
		if (late) {
			pthread_mutex_unlock(&s->mu);
			char msg[200];
			snprintf(msg, sizeof msg,
				 "the model is still loading after %lld ms (infer-timeout-ms): try "
				 "again shortly",
				 (long long)s->o.batching.timeout_ms);
			fail_waiters(late, MW_E_UNAVAILABLE, msg);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		if (s->source && (s->swap_now || (s->o.poll_ms > 0 && now >= next_poll))) {
			s->swap_now = false;
			pthread_mutex_unlock(&s->mu);
			check_aliases(s);
			next_poll = mw_mono_ns() + (uint64_t)s->o.poll_ms * 1000000ull;
			pthread_mutex_lock(&s->mu);
			continue;
		}
		if (s->o.idle_unload_ms > 0 && now - s->last_idle_check_ns > 1000000000ull) {
			s->last_idle_check_ns = now;
			pthread_mutex_unlock(&s->mu);
			unload_idle(s);
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

/* ================================================================ public */

int mw_serve_opts_from_settings(const struct mw_settings *set, struct mw_serve_opts *o,
				struct mw_err *err)
{
	long long batch, delay, queue, timeout, cache, ttl, workers, poll, logq, maxv, maxw, idle,
		qbytes;
	if (mw_settings_get_int(set, "batch-size", 1, 65536, &batch, err) ||
	    mw_settings_get_int(set, "batch-delay-us", 0, 10000000, &delay, err) ||
	    mw_settings_get_int(set, "max-queue", 1, 1000000, &queue, err) ||
	    mw_settings_get_int(set, "infer-timeout-ms", 0, 3600000, &timeout, err) ||
	    mw_settings_get_int(set, "cache-bytes", 0, 1ll << 40, &cache, err) ||
	    mw_settings_get_int(set, "cache-ttl-ms", 0, 1ll << 40, &ttl, err) ||
	    mw_settings_get_int(set, "python-workers", 1, 256, &workers, err) ||
	    mw_settings_get_int(set, "alias-poll-ms", 0, 3600000, &poll, err) ||
	    mw_settings_get_int(set, "prediction-log-queue", 1, 10000000, &logq, err) ||
	    mw_settings_get_int(set, "max-loaded-versions", 0, 100000, &maxv, err) ||
	    mw_settings_get_int(set, "max-python-workers", 0, 65536, &maxw, err) ||
	    mw_settings_get_int(set, "model-idle-unload", 0, 31536000, &idle, err) ||
	    mw_settings_get_int(set, "max-queue-bytes", 0, 1ll << 40, &qbytes, err))
		return -err->code;
	const char *pl = mw_settings_get(set, "prediction-log");
	bool log_on = pl && strcmp(pl, "false") && strcmp(pl, "0") && strcmp(pl, "off");
	memset(o, 0, sizeof *o);
	o->batching.max_batch_rows = (int)batch;
	o->batching.max_delay_us = delay;
	o->batching.max_queue = (int)queue;
	o->batching.timeout_ms = timeout;
	o->batching.cache_bytes = (size_t)cache;
	o->batching.cache_ttl_ms = ttl;
	o->python = mw_settings_get(set, "python");
	o->python_workers = (int)workers;
	int src = mw_py_sandbox_from_settings(set, &o->sandbox, err);
	if (src)
		return src;
	o->poll_ms = poll;
	o->default_alias = mw_settings_get(set, "default-alias");
	o->proxy_allow = mw_settings_get(set, "proxy-upstreams"); /* rt_proxy's allow-list */
	if (log_on) {
		const char *dir = mw_settings_get(set, "data-dir");
		int n = snprintf(o->log_dir_buf, sizeof o->log_dir_buf, "%s/logs", dir ? dir : ".");
		if (n < 0 || (size_t)n >= sizeof o->log_dir_buf)
			return mw_err_set(err, MW_E_INVALID,
					  "the data directory's path is too long");
		o->log_dir = o->log_dir_buf;
	}
	o->log_queue = (int)logq;
	o->max_loaded = (int)maxv;
	o->max_python_workers = (int)maxw;
	o->idle_unload_ms = idle * 1000;
	o->max_queue_bytes = (size_t)qbytes;
	return 0;
}

int mw_serve_new(const struct mw_serve_opts *o, struct mw_serve **out, struct mw_err *err)
{
	struct mw_serve *s = mw_xcalloc(1, sizeof *s);
	s->o = *o;
	s->source = o->source;
	s->python = mw_xstrdup(o->python ? o->python : "/usr/bin/python3");
	s->default_alias = o->default_alias && *o->default_alias ? mw_xstrdup(o->default_alias)
								 : NULL;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->jobs_cv, NULL);
	s->validated_gen = source_generation(s); /* nothing loaded: nothing to check */
	if (o->log_dir && *o->log_dir) {
		int rc = svi_predlog_open(o->log_dir, o->log_queue, &s->log, err);
		if (rc) {
			mw_serve_free(s);
			return rc;
		}
		mw_serve_observe(s, svi_predlog_observe, s->log); /* the first observer */
	}
	s->o.log_dir = NULL; /* it may point into the caller's options */
	int prc = mw_pool_new(0, &s->pool, err); /* one thread per CPU */
	if (prc) {
		mw_serve_free(s);
		return prc;
	}
	if (pthread_create(&s->house, NULL, house_main, s)) {
		mw_serve_free(s);
		return mw_err_set(err, MW_E_INTERNAL, "cannot start the model housekeeping thread");
	}
	s->house_started = true;
	for (int i = 0; i < (int)(sizeof s->loaders / sizeof *s->loaders); i++) {
		if (pthread_create(&s->loaders[i], NULL, loader_main, s)) {
			mw_serve_free(s);
			return mw_err_set(err, MW_E_INTERNAL, "cannot start a model loader thread");
		}
		s->nloaders++;
	}
	*out = s;
	return 0;
}

/* Under s->mu: take every waiter of every job. */
static struct svi_waiter *take_all_waiters(struct mw_serve *s)
{
	struct svi_waiter *out = NULL;
	for (struct svi_job *j = s->jobs; j; j = j->next)
		while (j->waiters) {
			struct svi_waiter *w = j->waiters;
			j->waiters = w->next;
			w->next = out;
			out = w;
		}
	return out;
}

void mw_serve_stop(struct mw_serve *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	pthread_cond_broadcast(&s->jobs_cv);
	struct svi_waiter *waiting = take_all_waiters(s);
	for (struct svi_entry *e = s->entries; e; e = e->next) {
		if (e->current)
			svi_batcher_stop(e->current);
		for (size_t i = 0; i < e->nversions; i++)
			svi_batcher_stop(e->versions[i]);
	}
	pthread_mutex_unlock(&s->mu);
	fail_waiters(waiting, MW_E_UNAVAILABLE, "the server is shutting down");
}

void mw_serve_free(struct mw_serve *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	pthread_cond_broadcast(&s->jobs_cv);
	struct svi_waiter *waiting = take_all_waiters(s);
	pthread_mutex_unlock(&s->mu);
	fail_waiters(waiting, MW_E_UNAVAILABLE, "the server is shutting down");
	if (s->house_started)
		pthread_join(s->house, NULL);
	for (int i = 0; i < s->nloaders; i++) /* a load in progress finishes first */
		pthread_join(s->loaders[i], NULL);
	while (s->jobs) { /* queued, never run (their waiters were answered) */
		struct svi_job *j = s->jobs;
		s->jobs = j->next;
		job_free(j);
	}
	/* drop the entries' references; retired versions fail what is queued */
	struct svi_entry *e = s->entries;
	s->entries = NULL;
	while (e) {
		struct svi_entry *next = e->next;
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
	svi_predlog_close(s->log);
	mw_pool_free(s->pool); /* after every version is unloaded: none runs on it now */
	free(s->obs);
	refmemo_clear(s);
	counters_free(s);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->jobs_cv);
	free(s->python);
	free(s->default_alias);
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

/* V2 tensors [{name, datatype, shape}] as signature columns [{name, type, shape}]. */
static json_t *as_columns(json_t *tensors)
{
	json_t *cols = json_array();
	size_t i;
	json_t *t;
	json_array_foreach(tensors, i, t)
	{
		json_t *c = json_object();
		static const char *const keys[][2] = {
			{"name", "name"}, {"datatype", "type"}, {"shape", "shape"}};
		for (size_t k = 0; k < 3; k++) {
			json_t *v = json_object_get(t, keys[k][0]);
			if (v)
				json_object_set(c, keys[k][1], v);
		}
		json_array_append_new(cols, c);
	}
	return cols;
}

/* The version of name loaded now, with a reference, or NULL. */
static struct mw_served *loaded_ref(struct mw_serve *s, const char *name, const char *version)
{
	struct mw_served *m = NULL;
	pthread_mutex_lock(&s->mu);
	struct svi_entry *e = entry_find(s, name);
	if (e && e->current && !strcmp(e->current->version, version))
		m = e->current;
	for (size_t i = 0; e && !m && i < e->nversions; i++)
		if (!strcmp(e->versions[i]->version, version))
			m = e->versions[i];
	if (m)
		served_ref(m);
	pthread_mutex_unlock(&s->mu);
	return m;
}

int mw_serve_shapes(struct mw_serve *s, const char *name, const char *version, bool load,
		    json_t **out, struct mw_err *err)
{
	struct mw_served *m = NULL;
	json_t *d = NULL;
	int rc = 0;
	if (load)
		rc = mw_serve_acquire(s, name, version, &m, err);
	else if (!(m = loaded_ref(s, name, version)))
		rc = mw_err_set(err, MW_E_NOT_FOUND, "%s/%s is not loaded", name, version);
	if (!rc)
		rc = mw_served_describe(m, &d, err);
	if (m)
		mw_served_release(m);
	if (rc)
		return rc;
	*out = json_pack("{s:o,s:o}", "inputs", as_columns(json_object_get(d, "inputs")),
			 "outputs", as_columns(json_object_get(d, "outputs")));
	json_decref(d);
	return 0;
}

json_t *mw_serve_list(struct mw_serve *s)
{
	maybe_revalidate(s);
	json_t *a = json_array();
	pthread_mutex_lock(&s->mu);
	for (struct svi_entry *e = s->entries; e; e = e->next) {
		json_t *o = json_pack("{s:s,s:b}", "name", e->name, "ready", e->current != NULL);
		if (e->current)
			json_object_set_new(o, "version", json_string(e->current->version));
		if (e->bind) /* as given, an alias without its '@' */
			json_object_set_new(o, "bind",
					    json_string(e->bind[0] == '@' ? e->bind + 1 : e->bind));
		if (e->last_error)
			json_object_set_new(o, "last_error", json_string(e->last_error));
		if (e->failed_version)
			json_object_set_new(o, "failed_version", json_string(e->failed_version));
		json_array_append_new(a, o);
	}
	pthread_mutex_unlock(&s->mu);
	return a;
}

json_t *mw_serve_index(struct mw_serve *s, bool ready_only, size_t max)
{
	maybe_revalidate(s);
	json_t *out = json_array();
	json_t *seen = json_object();
	pthread_mutex_lock(&s->mu);
	for (struct svi_entry *e = s->entries; e && json_array_size(out) < max; e = e->next) {
		bool loading = job_find(s, e->name, NULL) != NULL;
		/* ready: its default, or a version asked for by number or reference */
		struct mw_served *shown = e->current ? e->current
					  : e->nversions ? e->versions[0]
							 : NULL;
		const char *state = shown ? "READY" : loading ? "LOADING" : "UNAVAILABLE";
		json_object_set_new(seen, e->name, json_true());
		if (ready_only && !shown)
			continue;
		json_t *o = json_pack("{s:s,s:s}", "name", e->name, "state", state);
		if (shown)
			json_object_set_new(o, "version", json_string(shown->version));
		else if (e->last_error)
			json_object_set_new(o, "reason", json_string(e->last_error));
		else if (!loading)
			json_object_set_new(o, "reason", json_string("not loaded"));
		json_array_append_new(out, o);
	}
	pthread_mutex_unlock(&s->mu);
	json_t *names = NULL;
	struct mw_err err = {0};
	if (!ready_only && !s->o.bound_only && s->source && s->source->ops->list &&
	    json_array_size(out) < max &&
	    !s->source->ops->list(s->source, max - json_array_size(out), &names, &err)) {
		for (size_t i = 0; i < json_array_size(names) && json_array_size(out) < max; i++) {
			const char *n = json_string_value(json_array_get(names, i));
			if (!n || json_object_get(seen, n))
				continue;
			json_array_append_new(out,
					      json_pack("{s:s,s:s,s:s}", "name", n, "state",
							"UNAVAILABLE", "reason", "not loaded"));
		}
	}
	json_decref(names);
	json_decref(seen);
	return out;
}

int mw_serve_unload(struct mw_serve *s, const char *name, struct mw_err *err)
{
	pthread_mutex_lock(&s->mu);
	struct svi_entry *e = entry_find(s, name);
	if (!e || (!e->current && !e->nversions)) {
		pthread_mutex_unlock(&s->mu);
		return mw_err_set(err, MW_E_NOT_FOUND, "model '%.200s' is not loaded", name);
	}
	if (e->bound || e->from_dir) {
		pthread_mutex_unlock(&s->mu);
		return mw_err_set(err, MW_E_INVALID,
				  "model '%.200s' is what this server was started to serve: it is "
				  "not unloaded on request",
				  name);
	}
	struct mw_served *cur = e->current, **vs = e->versions;
	size_t nv = e->nversions;
	e->current = NULL;
	e->versions = NULL;
	e->nversions = 0;
	entry_drop(s, e);
	pthread_mutex_unlock(&s->mu);
	mw_info("serve: %s unloaded on request", name);
	mw_served_release(cur);
	for (size_t i = 0; i < nv; i++)
		mw_served_release(vs[i]);
	free(vs);
	return 0;
}

bool mw_serve_ready(struct mw_serve *s)
{
	pthread_mutex_lock(&s->mu);
	bool ok = !s->stopping;
	for (struct svi_entry *e = s->entries; e && ok; e = e->next)
		if (e->bound && !e->current)
			ok = false;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

static int render_one(struct mw_buf *b, struct mw_served *m, int part)
{
	int bad = 0;
	char name[600], version[200], l[900];
	mw_prom_label_escape(m->name, name, sizeof name);
	mw_prom_label_escape(m->version, version, sizeof version);
	snprintf(l, sizeof l, "model=\"%s\",version=\"%s\"", name, version);
	switch (part) {
	case 0:
		bad |= mw_buf_printf(b, "mw_model_requests_total{%s,result=\"ok\"} %llu\n", l,
				     __atomic_load_n(&m->c->n_ok, __ATOMIC_RELAXED));
		bad |= mw_buf_printf(b, "mw_model_requests_total{%s,result=\"error\"} %llu\n", l,
				     __atomic_load_n(&m->c->n_err, __ATOMIC_RELAXED));
		bad |= mw_buf_printf(b, "mw_model_requests_total{%s,result=\"rejected\"} %llu\n", l,
				     __atomic_load_n(&m->c->n_rejected, __ATOMIC_RELAXED));
		break;
	case 8:
		for (int c = 1; c < MW_E__COUNT; c++) {
			unsigned long long v = __atomic_load_n(&m->c->n_err_code[c], __ATOMIC_RELAXED);
			if (v)
				bad |= mw_buf_printf(b,
						     "mw_model_errors_total{%s,code=\"%s\"} %llu\n",
						     l, mw_err_name(c), v);
		}
		break;
	case 1:
		bad |= mw_buf_printf(b, "mw_model_cache_hits_total{%s} %llu\n", l,
				     __atomic_load_n(&m->c->n_cache_hits, __ATOMIC_RELAXED));
		break;
	case 2:
		bad |= mw_buf_printf(b, "mw_model_queue_depth{%s} %d\n", l, m->qlen);
		break;
	case 3:
		bad |= mw_hist_render(&m->c->h_queue, b, "mw_model_queue_seconds", l);
		break;
	case 4:
		bad |= mw_hist_render(&m->c->h_compute, b, "mw_model_compute_seconds", l);
		break;
	case 5:
		bad |= mw_hist_render(&m->c->h_total, b, "mw_model_request_seconds", l);
		break;
	case 6:
		bad |= mw_hist_render(&m->c->h_batch, b, "mw_model_batch_rows", l);
		break;
	case 7:
		bad |= mw_buf_printf(b, "mw_model_loaded{%s,runtime=\"%s\"} 1\n", l, m->rt->name);
		break;
	case 9:
		bad |= mw_buf_printf(b, "mw_model_queue_bytes{%s} %zu\n", l, m->qbytes);
		break;
	}
	return bad;
}

int mw_serve_render_metrics(struct mw_serve *s, struct mw_buf *out)
{
	int bad = 0;
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
		"# HELP mw_model_queue_bytes Input bytes of the requests waiting for a batch.\n"
		"# TYPE mw_model_queue_bytes gauge\n",
	};
	pthread_mutex_lock(&s->mu);
	int njobs = 0;
	for (struct svi_job *j = s->jobs; j; j = j->next)
		njobs++;
	bad |= mw_buf_printf(
		out,
		"# HELP mw_serve_loaded_versions Model versions loaded (unloading ones included).\n"
		"# TYPE mw_serve_loaded_versions gauge\n"
		"mw_serve_loaded_versions %d\n"
		"# HELP mw_serve_python_workers Worker processes of loaded python versions.\n"
		"# TYPE mw_serve_python_workers gauge\n"
		"mw_serve_python_workers %d\n"
		"# HELP mw_serve_load_queue Model loads queued or running.\n"
		"# TYPE mw_serve_load_queue gauge\n"
		"mw_serve_load_queue %d\n"
		"# HELP mw_serve_queue_bytes Input bytes of queued requests, every version's "
		"(max-queue-bytes).\n"
		"# TYPE mw_serve_queue_bytes gauge\n"
		"mw_serve_queue_bytes %zu\n"
		"# HELP mw_serve_evictions_total Versions unloaded to make room (cap) or unused "
		"(idle).\n"
		"# TYPE mw_serve_evictions_total counter\n"
		"mw_serve_evictions_total{reason=\"cap\"} %llu\n"
		"mw_serve_evictions_total{reason=\"idle\"} %llu\n"
		"# HELP mw_serve_loads_refused_total Loads refused: a cap was reached and nothing "
		"could be unloaded.\n"
		"# TYPE mw_serve_loads_refused_total counter\n"
		"mw_serve_loads_refused_total %llu\n"
		"# HELP mw_serve_load_wait_timeouts_total Requests answered 503 while their model "
		"was still loading.\n"
		"# TYPE mw_serve_load_wait_timeouts_total counter\n"
		"mw_serve_load_wait_timeouts_total %llu\n"
		"# HELP mw_serve_revalidations_total Times the loaded versions were re-resolved "
		"after the registry changed.\n"
		"# TYPE mw_serve_revalidations_total counter\n"
		"mw_serve_revalidations_total %llu\n",
		__atomic_load_n(&s->live, __ATOMIC_RELAXED),
		__atomic_load_n(&s->python_workers, __ATOMIC_RELAXED), njobs,
		__atomic_load_n(&s->queue_bytes, __ATOMIC_RELAXED), s->n_evict_cap, s->n_evict_idle,
		s->n_load_refused, s->n_load_timeouts, s->n_revalidations);
	if (s->source)
		bad |= mw_buf_printf(
			out,
			"# HELP mw_serve_source_reachable Whether the model source answered the last "
			"alias poll (0: unreachable; the loaded versions keep serving).\n"
			"# TYPE mw_serve_source_reachable gauge\n"
			"mw_serve_source_reachable %d\n"
			"# HELP mw_serve_source_failures_total Alias polls the model source did not "
			"answer.\n"
			"# TYPE mw_serve_source_failures_total counter\n"
			"mw_serve_source_failures_total %llu\n",
			s->source_down ? 0 : 1, s->n_source_failures);
	for (int part = 0; part < 10; part++) {
		bad |= mw_buf_puts(out, heads[part]);
		/* each (name, version) once, however many loaded copies share its
		 * counters (a series twice would break the scrape) */
		unsigned long long mark = ++s->render_mark;
		for (struct svi_entry *e = s->entries; e; e = e->next) {
			if (e->current && e->current->c->mark != mark) {
				e->current->c->mark = mark;
				bad |= render_one(out, e->current, part);
			}
			for (size_t i = 0; i < e->nversions; i++)
				if (e->versions[i]->c->mark != mark) {
					e->versions[i]->c->mark = mark;
					bad |= render_one(out, e->versions[i], part);
				}
		}
	}
	pthread_mutex_unlock(&s->mu);
	bad |= svi_predlog_render_metrics(s->log, out);
	return bad ? mw_buf_error(out) : 0;
}

/* ================================================================ observers */

void mw_serve_observe(struct mw_serve *s, mw_serve_observer_fn fn, void *ud)
{
	s->obs = mw_xrealloc(s->obs, (s->nobs + 1) * sizeof *s->obs);
	s->obs[s->nobs++] = (struct svi_observer){fn, ud};
}

void svi_observe(struct mw_serve *s, const struct mw_served *m, const struct mw_infer *inf)
{
	if (!s->nobs)
		return;
	struct mw_prediction p = {
		.model = m->name,
		.version = m->version,
		.request_id = inf->request_id ? inf->request_id : "",
		.x = inf->x,
		.rows = inf->rows,
		.cols = inf->cols,
		.y = inf->rc ? NULL : inf->y,
		.ycols = inf->rc ? 0 : inf->ycols,
		.ts_ms = mw_now_ms(),
		.latency_ms = (double)(inf->t_end_ns - inf->t_enqueue_ns) / 1e6,
		.queue_ms = (double)(inf->t_start_ns - inf->t_enqueue_ns) / 1e6,
		.rc = inf->rc,
		.error = inf->rc ? inf->err.msg : NULL,
		.cached = inf->cached,
	};
	for (size_t i = 0; i < s->nobs; i++)
		s->obs[i].fn(&p, s->obs[i].ud);
}
