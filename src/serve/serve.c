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
 * Hot swap.  The housekeeping thread polls each name's alias every poll_ms.
 * When it moved, the new version is loaded and warmed (one prediction) off
 * the request path, then swapped in under the lock: new requests go to it,
 * requests already queued finish on the old one, which retires when the last
 * of them is done.  A version that fails to load leaves the old one serving
 * and its error is kept for the status endpoints.
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
	char *bind;                /* alias (without '@') or version, NULL = default */
	bool from_dir;
	struct mw_served *current; /* default version (one reference) */
	struct mw_served **versions; /* explicitly requested versions (one ref each) */
	size_t nversions;
	bool loading;
	char *last_error;
	char *failed_version;      /* the version that last failed to load */
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
	json_t *mv = NULL;
	int rc = mw_store_mv_get(s->o.store, name, v, &mv, err);
	if (rc)
		return rc;
	json_t *o = json_object_get(mv, "model_version");
	if (!o)
		o = mv;
	const char *loc = json_string_value(json_object_get(o, "storage_location"));
	const char *digest = json_string_value(json_object_get(o, "manifest_digest"));
	if (!loc || strncmp(loc, "mlflow-artifacts:/", 18)) {
		rc = mw_err_set(err, MW_E_INVALID,
				"%s/%s has no files in mw's artifact store (storage_location %s)", name,
				version, loc ? loc : "missing");
		json_decref(mv);
		return rc;
	}
	char safe[160];
	size_t k = 0;
	for (const char *p = name; *p && k < sizeof safe - 1; p++)
		safe[k++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
					    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
				    ? *p
				    : '_';
	safe[k] = 0;
	char sub[400];
	snprintf(sub, sizeof sub, "models/%s/%s-%.12s", safe, version, digest ? digest : "none");
	char *dir = mw_fs_join(s->data_dir, sub);
	char *done = mw_fs_join(dir, ".complete");
	struct stat st;
	if (!stat(done, &st)) { /* materialised before */
		free(done);
		json_decref(mv);
		*dir_out = dir;
		return 0;
	}
	free(done);
	json_t *files = NULL;
	rc = mw_store_art_tree(s->o.store, loc + 18, &files, err);
	json_decref(mv);
	if (rc) {
		free(dir);
		return rc;
	}
	if (!json_array_size(files)) {
		json_decref(files);
		rc = mw_err_set(err, MW_E_INVALID, "%s/%s has no files", name, version);
		free(dir);
		return rc;
	}
	char rnd[33];
	mw_id_hex32(rnd, err);
	size_t tn = strlen(dir) + 48;
	char *tmp = mw_xmalloc(tn);
	snprintf(tmp, tn, "%s.tmp-%s", dir, rnd);
	if (mw_fs_mkdirs(tmp, err)) {
		json_decref(files);
		free(tmp);
		free(dir);
		return -err->code;
	}
	for (size_t i = 0; !rc && i < json_array_size(files); i++) {
		json_t *f = json_array_get(files, i);
		char *dest = mw_fs_join(tmp, json_string_value(json_object_get(f, "path")));
		char *slash = strrchr(dest, '/');
		*slash = 0;
		rc = mw_fs_mkdirs(dest, err);
		*slash = '/';
		if (!rc)
			rc = mw_blob_link(s->o.blob,
					  json_string_value(json_object_get(f, "digest")), dest,
					  err);
		free(dest);
	}
	json_decref(files);
	if (!rc) {
		char *mark = mw_fs_join(tmp, ".complete");
		int fd = open(mark, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		free(mark);
		if (rename(tmp, dir) && errno != ENOTEMPTY && errno != EEXIST)
			rc = mw_err_set(err, MW_E_IO, "cannot move %s into place: %s", dir,
					strerror(errno));
	}
	if (access(tmp, F_OK) == 0) { /* failed, or another loader won the race */
		struct mw_err e2 = {0};
		mw_fs_rm_rf(tmp, &e2);
	}
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
static int resolve_default(struct mw_serve *s, struct svi_entry *e, char **version,
			   struct mw_err *err)
{
	const char *alias = e->bind ? e->bind : s->default_alias;
	bool is_version = e->bind && e->bind[0] >= '0' && e->bind[0] <= '9';
	if (is_version) {
		*version = mw_xstrdup(e->bind);
		return 0;
	}
	json_t *mv = NULL;
	int rc = alias ? mw_store_rm_get_by_alias(s->o.store, e->name, alias, &mv, err) : -1;
	if (!rc) {
		json_t *o = json_object_get(mv, "model_version");
		if (!o)
			o = mv;
		*version = mw_xstrdup(json_string_value(json_object_get(o, "version")));
		json_decref(mv);
		return 0;
	}
	if (e->bind) /* an explicit alias that does not resolve is an error */
		return rc;
	/* no alias: the latest version */
	json_t *rm = NULL;
	struct mw_err e2 = {0};
	if ((rc = mw_store_rm_get(s->o.store, e->name, &rm, &e2))) {
		*err = e2;
		return rc;
	}
	int64_t best = 0;
	json_t *lv = json_object_get(json_object_get(rm, "registered_model") ? json_object_get(rm, "registered_model") : rm,
				     "latest_versions");
	for (size_t i = 0; i < json_array_size(lv); i++) {
		int64_t v;
		const char *vs = json_string_value(json_object_get(json_array_get(lv, i), "version"));
		if (vs && !mw_parse_int64(vs, &v) && v > best)
			best = v;
	}
	json_decref(rm);
	if (!best)
		return mw_err_set(err, MW_E_NOT_FOUND, "registered model '%s' has no version to serve",
				  e->name);
	char buf[32];
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
		rc = svi_load(s, name, version, dir, out, err);
	free(dir);
	return rc;
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

static void set_error(struct svi_entry *e, const char *version, const char *msg)
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
		struct svi_entry *e = entry_find(s, name);
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
	int rc = svi_load(s, name, version && *version ? version : "1", dir, &m, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->mu);
	struct svi_entry *e = entry_get(s, name);
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
	struct svi_entry *e = entry_get(s, name);
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
	for (struct svi_entry *e = s->entries; e; e = e->next)
		n++;
	char **names = mw_xcalloc(n + 1, sizeof *names);
	size_t k = 0;
	for (struct svi_entry *e = s->entries; e; e = e->next)
		if (!e->from_dir && e->current && !e->loading)
			names[k++] = mw_xstrdup(e->name);
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < k; i++) {
		pthread_mutex_lock(&s->mu);
		struct svi_entry *e = entry_find(s, names[i]);
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
		svi_destroy(list);
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
	if (o->log_dir && *o->log_dir) {
		int rc = svi_predlog_open(o->log_dir, o->log_queue, &s->log, err);
		if (rc) {
			mw_serve_free(s);
			return rc;
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

void mw_serve_stop(struct mw_serve *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	for (struct svi_entry *e = s->entries; e; e = e->next) {
		if (e->current)
			svi_batcher_stop(e->current);
		for (size_t i = 0; i < e->nversions; i++)
			svi_batcher_stop(e->versions[i]);
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
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->data_dir);
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

json_t *mw_serve_list(struct mw_serve *s)
{
	json_t *a = json_array();
	pthread_mutex_lock(&s->mu);
	for (struct svi_entry *e = s->entries; e; e = e->next) {
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
	for (struct svi_entry *e = s->entries; e && ok; e = e->next)
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
		for (struct svi_entry *e = s->entries; e; e = e->next) {
			if (e->current)
				render_one(out, e->current, part);
			for (size_t i = 0; i < e->nversions; i++)
				if (e->versions[i] != e->current)
					render_one(out, e->versions[i], part);
		}
	}
	pthread_mutex_unlock(&s->mu);
	svi_predlog_render_metrics(s->log, out);
}

void mw_serve_log(struct mw_serve *s, const struct mw_served *m, const char *request_id,
		  const struct mw_infer *inf)
{
	if (s->log)
		svi_predlog_add(s->log, m, request_id, inf);
}
