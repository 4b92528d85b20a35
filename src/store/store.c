/*
 * store.c - picks the backend by the store URI, builds the backend-neutral
 * machinery over it (the group-commit writer, the migrations) and dispatches
 * every call through the backend's ops.
 *
 * Choosing a backend.  --store-uri (opts.uri) names the backend by its
 * scheme; NULL or "" is SQLite in the data directory (<data_dir>/mw.db).
 * sqlite:///relative/path.db and sqlite:////absolute/path.db follow
 * SQLAlchemy's and MLflow's convention (the backend reads the path).
 * postgresql:// and postgres:// (also with a +driver suffix) are known but not
 * built yet: MW_E_NOT_IMPLEMENTED at open.  Any other scheme is MW_E_INVALID.
 * The URI may hold a password: no message and no log line here repeats it
 * (only its scheme, which cannot hold one).
 *
 * Open order: backend open, writer over its write handle, migrations through
 * the writer's transaction hooks.  Close order: the writer drains (queued
 * writes commit), then the backend closes, then the writer is freed.
 */
#include "store/backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A bound handle (mw_store_audit_bind) is a copy of this with audit set. */
struct mw_store {
	const struct mw_store_backend *b;
	void *impl;
	struct mw_store_writer *w;
	int schema_version;
	const struct mw_audit_rec *audit;
};

_Static_assert(sizeof(struct mw_store) <= sizeof(struct mw_store_bound),
	       "struct mw_store_bound must hold a struct mw_store");

/* Known schemes; a NULL backend is known but not built yet. */
static const struct {
	const char *scheme;
	const char *name;
	const struct mw_store_backend *b;
} schemes[] = {
	{"sqlite", "SQLite", &mw_store_sqlite},
	{"postgresql", "PostgreSQL", NULL},
	{"postgres", "PostgreSQL", NULL},
};

/* The backend of a URI (its scheme, before ':' and any "+driver"). */
static int pick(const char *uri, const struct mw_store_backend **out, struct mw_err *err)
{
	size_t n = 0;
	while (uri[n] && uri[n] != ':' && uri[n] != '/' && n < 32)
		n++;
	if (uri[n] != ':' || n == 0)
		return mw_err_set(err, MW_E_INVALID,
				  "the store URI is not a URI: expected sqlite:///relative/path.db, "
				  "sqlite:////absolute/path.db or postgresql://...");
	size_t base = n;
	const char *plus = memchr(uri, '+', n);
	if (plus)
		base = (size_t)(plus - uri);
	for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++) {
		if (strlen(schemes[i].scheme) != base || strncasecmp(uri, schemes[i].scheme, base))
			continue;
		if (!schemes[i].b)
			return mw_err_set(err, MW_E_NOT_IMPLEMENTED,
					  "the %s backend is not built yet: use a sqlite:/// store URI "
					  "or leave --store-uri empty (SQLite in the data directory)",
					  schemes[i].name);
		if (plus)
			break; /* no drivers for built backends */
		*out = schemes[i].b;
		return 0;
	}
	char shown[40];
	size_t k = 0;
	for (size_t i = 0; i < n && k < sizeof shown - 1; i++)
		shown[k++] = (uri[i] >= 0x20 && uri[i] < 0x7f) ? uri[i] : '?';
	shown[k] = 0;
	return mw_err_set(err, MW_E_INVALID,
			  "unknown store URI scheme '%s': expected sqlite:///relative/path.db, "
			  "sqlite:////absolute/path.db (or postgresql://..., not built yet)",
			  shown);
}

int mw_store_open(const struct mw_store_opts *o, struct mw_store **out, struct mw_err *err)
{
	const char *uri = o->uri && *o->uri ? o->uri : NULL;
	const struct mw_store_backend *b = &mw_store_sqlite;
	int rc = uri ? pick(uri, &b, err) : 0;
	return rc ? rc : mw_store_open_backend(b, o, out, err);
}

int mw_store_open_backend(const struct mw_store_backend *b, const struct mw_store_opts *o,
			  struct mw_store **out, struct mw_err *err)
{
	const char *uri = o->uri && *o->uri ? o->uri : NULL;
	int rc;
	struct mw_store *s = mw_xcalloc(1, sizeof *s);
	s->b = b;
	if ((rc = b->open(o, uri, &s->impl, err))) {
		free(s);
		return rc;
	}
	void *tx = b->write_handle(s->impl);
	s->w = mw_store_writer_new(b->txn, tx, o->max_batch);
	if ((rc = mw_store_migrate(b->txn, b->sql, tx, b->migrations, &s->schema_version, err))) {
		mw_store_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void mw_store_close(struct mw_store *s)
{
	if (!s)
		return;
	mw_store_writer_drain(s->w);
	s->b->close(s->impl);
	mw_store_writer_free(s->w);
	free(s);
}

void mw_store_stats(struct mw_store *s, struct mw_store_stats *out)
{
	mw_store_writer_stats(s->w, out);
	out->memory_bytes = s->b->memory ? s->b->memory(s->impl) : 0;
}

int mw_store_schema_version(struct mw_store *s)
{
	return s->schema_version;
}

static void trim_tx(void *tx, void *ud)
{
	const struct mw_store_txn *t = ud;
	t->trim(tx);
}

void mw_store_trim(struct mw_store *s)
{
	if (s->b->trim)
		s->b->trim(s->impl);
	if (s->b->txn->trim)
		mw_store_writer_when_idle(s->w, trim_tx, (void *)s->b->txn);
}

void *mw_store_impl(struct mw_store *s)
{
	return s->impl;
}

int mw_store_submit(struct mw_store *s, mw_store_job_fn fn, void *arg, struct mw_err *err)
{
	return mw_store_writer_submit(s->w, fn, arg, s->audit, err);
}

/* ------------------------------------------------------------ audit */

void mw_audit_rec_init(struct mw_audit_rec *rec, const struct mw_call *call, const char *action,
		       const char *kind, const char *resource)
{
	memset(rec, 0, sizeof *rec);
	if (!call)
		call = &mw_call_system;
	rec->user = call->user && *call->user ? call->user : "anonymous";
	rec->verified = call->verified;
	rec->request_id = call->request_id;
	rec->action = action;
	rec->kind = kind;
	rec->resource = resource;
}

static void rec_json(struct mw_audit_rec *rec, int which, const char *fmt, va_list ap)
{
	json_error_t je;
	json_t *o = json_vpack_ex(&je, 0, fmt, ap);
	free(rec->owned[which]);
	rec->owned[which] = o ? mw_json_dump(o, NULL) : NULL;
	json_decref(o);
	if (which == 0)
		rec->before = rec->owned[0];
	else
		rec->after = rec->owned[1];
}

void mw_audit_rec_before(struct mw_audit_rec *rec, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rec_json(rec, 0, fmt, ap);
	va_end(ap);
}

void mw_audit_rec_after(struct mw_audit_rec *rec, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rec_json(rec, 1, fmt, ap);
	va_end(ap);
}

void mw_audit_rec_release(struct mw_audit_rec *rec)
{
	free(rec->owned[0]);
	free(rec->owned[1]);
	rec->owned[0] = rec->owned[1] = NULL;
	rec->before = rec->after = NULL;
}

struct mw_store *mw_store_audit_bind(struct mw_store *s, const struct mw_audit_rec *rec,
				     struct mw_store_bound *buf)
{
	if (!rec)
		return s;
	struct mw_store *b = (struct mw_store *)(void *)buf;
	*b = *s;
	b->audit = rec;
	return b;
}

const struct mw_audit_rec *mw_store_audit_of(struct mw_store *s)
{
	return s->audit;
}

static int nothing(void *tx, void *arg, struct mw_err *err)
{
	(void)tx;
	(void)arg;
	(void)err;
	return 0;
}

int mw_store_audit_append(struct mw_store *s, const struct mw_audit_rec *rec, struct mw_err *err)
{
	return mw_store_writer_submit(s->w, nothing, NULL, rec, err);
}

int mw_store_err(struct mw_err *err, int code, enum mw_store_what what, const char *fmt, ...)
{
	if (err) {
		err->code = code;
		err->detail = (int)what;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return -code;
}

void *mw_store_vec_push(struct mw_store_vec *vec, struct mw_arena *a, size_t size)
{
	if (vec->n == vec->cap) {
		size_t cap = vec->cap ? vec->cap * 2 : 8;
		void *nv = mw_arena_alloc(a, cap * size);
		if (vec->n)
			memcpy(nv, vec->v, vec->n * size);
		vec->v = nv;
		vec->cap = cap;
	}
	void *e = (char *)vec->v + vec->n++ * size;
	memset(e, 0, size);
	return e;
}

/* ------------------------------------------------------------ dispatch */

static int not_built(const char *domain, const char *op, struct mw_store *s, struct mw_err *err)
{
	return mw_err_set(err, MW_E_NOT_IMPLEMENTED,
			  "the %s store backend has no %s (%s): not built yet", s->b->scheme,
			  domain, op);
}

/* Call op of a domain's ops, or answer MW_E_NOT_IMPLEMENTED when the backend
 * lacks the domain or the op. */
#define DOMAIN(dom, op, ...)                                 \
	do {                                                 \
		if (!s->b->dom || !s->b->dom->op)            \
			return not_built(#dom, #op, s, err); \
		return s->b->dom->op(s, __VA_ARGS__);        \
	} while (0)
#define T(op, ...) DOMAIN(tracking, op, __VA_ARGS__)

int mw_store_exp_create(struct mw_store *s, const char *name, const char *loc, const char *root,
			const struct mw_kv *tags, size_t ntags, int64_t now, char id[32],
			struct mw_err *err)
{
	T(exp_create, name, loc, root, tags, ntags, now, id, err);
}
int mw_store_exp_get(struct mw_store *s, const char *id, struct mw_arena *a,
		     struct mw_experiment *out, struct mw_err *err)
{
	T(exp_get, id, a, out, err);
}
int mw_store_exp_get_by_name(struct mw_store *s, const char *name, struct mw_arena *a,
			     struct mw_experiment *out, struct mw_err *err)
{
	T(exp_get_by_name, name, a, out, err);
}
int mw_store_exp_by_location(struct mw_store *s, const char *const *locs, size_t n, char id_out[32],
			     size_t *which, struct mw_err *err)
{
	T(exp_by_location, locs, n, id_out, which, err);
}
int mw_store_exp_search(struct mw_store *s, const struct mw_filter *f, const struct mw_order *o,
			size_t no, enum mw_view v, const struct mw_page *p, struct mw_arena *a,
			struct mw_experiment **out, size_t *n, bool *more, struct mw_err *err)
{
	T(exp_search, f, o, no, v, p, a, out, n, more, err);
}
int mw_store_exp_rename(struct mw_store *s, const char *id, const char *name, int64_t now,
			struct mw_err *err)
{
	T(exp_rename, id, name, now, err);
}
int mw_store_exp_set_deleted(struct mw_store *s, const char *id, bool del, int64_t now,
			     struct mw_err *err)
{
	T(exp_set_deleted, id, del, now, err);
}
int mw_store_exp_set_tag(struct mw_store *s, const char *id, const char *k, const char *v,
			 struct mw_err *err)
{
	T(exp_set_tag, id, k, v, err);
}
int mw_store_exp_delete_tag(struct mw_store *s, const char *id, const char *k,
			    struct mw_err *err)
{
	T(exp_delete_tag, id, k, err);
}
int mw_store_run_create(struct mw_store *s, const struct mw_run_create *rc, struct mw_arena *a,
			struct mw_run *out, struct mw_err *err)
{
	T(run_create, rc, a, out, err);
}
int mw_store_run_get(struct mw_store *s, const char *id, struct mw_arena *a, struct mw_run *out,
		     struct mw_err *err)
{
	T(run_get, id, a, out, err);
}
int mw_store_run_update(struct mw_store *s, const char *id, const char *status, int64_t end,
			const char *name, const struct mw_kv *tags, size_t ntags,
			struct mw_arena *a, struct mw_run_info *out, struct mw_err *err)
{
	T(run_update, id, status, end, name, tags, ntags, a, out, err);
}
int mw_store_run_set_deleted(struct mw_store *s, const char *id, bool del, int64_t now,
			     struct mw_err *err)
{
	T(run_set_deleted, id, del, now, err);
}
int mw_store_run_log_batch(struct mw_store *s, const char *id, const struct mw_metric *m, size_t nm,
			   const struct mw_kv *p, size_t np, const struct mw_kv *t, size_t nt,
			   const char *run_name, struct mw_err *err)
{
	T(run_log_batch, id, m, nm, p, np, t, nt, run_name, err);
}
int mw_store_run_delete_tag(struct mw_store *s, const char *id, const char *k,
			    struct mw_err *err)
{
	T(run_delete_tag, id, k, err);
}
int mw_store_run_log_inputs(struct mw_store *s, const char *id, const struct mw_dataset_input *d,
			    size_t nd, const struct mw_model_ref *m, size_t nm, struct mw_err *err)
{
	T(run_log_inputs, id, d, nd, m, nm, err);
}
int mw_store_run_log_outputs(struct mw_store *s, const char *id, const struct mw_model_ref *m,
			     size_t nm, struct mw_err *err)
{
	T(run_log_outputs, id, m, nm, err);
}
int mw_store_run_search(struct mw_store *s, const char *const *ex, size_t nex,
			const struct mw_filter *f, const struct mw_order *o, size_t no,
			enum mw_view v, const struct mw_page *p, struct mw_arena *a,
			struct mw_run **out, size_t *n, bool *more, struct mw_err *err)
{
	T(run_search, ex, nex, f, o, no, v, p, a, out, n, more, err);
}
int mw_store_metric_history(struct mw_store *s, const char *id, const char *key,
			    const struct mw_page *p, struct mw_arena *a, struct mw_metric **out,
			    size_t *n, bool *more, struct mw_err *err)
{
	T(metric_history, id, key, p, a, out, n, more, err);
}
int mw_store_metric_history_sampled(struct mw_store *s, const char *const *ids, size_t nids,
				    const char *key, bool has_range, int64_t lo, int64_t hi,
				    int64_t max, struct mw_arena *a, struct mw_metric **out,
				    size_t *n, struct mw_err *err)
{
	T(metric_history_sampled, ids, nids, key, has_range, lo, hi, max, a, out, n, err);
}
int mw_store_metric_history_bulk(struct mw_store *s, const char *const *ids, size_t nids,
				 const char *key, int64_t max, struct mw_arena *a,
				 struct mw_metric **out, size_t *n, struct mw_err *err)
{
	T(metric_history_bulk, ids, nids, key, max, a, out, n, err);
}
int mw_store_lm_create(struct mw_store *s, const struct mw_lm_create *c, struct mw_arena *a,
		       struct mw_logged_model *out, struct mw_err *err)
{
	T(lm_create, c, a, out, err);
}
int mw_store_lm_get(struct mw_store *s, const char *id, struct mw_arena *a,
		    struct mw_logged_model *out, struct mw_err *err)
{
	T(lm_get, id, a, out, err);
}
int mw_store_lm_finalize(struct mw_store *s, const char *id, const char *st, int64_t now,
			 struct mw_arena *a, struct mw_logged_model *out, struct mw_err *err)
{
	T(lm_finalize, id, st, now, a, out, err);
}
int mw_store_lm_delete(struct mw_store *s, const char *id, struct mw_err *err)
{
	T(lm_delete, id, err);
}
int mw_store_lm_set_tags(struct mw_store *s, const char *id, const struct mw_kv *t, size_t n,
			 int64_t now, struct mw_err *err)
{
	T(lm_set_tags, id, t, n, now, err);
}
int mw_store_lm_delete_tag(struct mw_store *s, const char *id, const char *k, struct mw_err *err)
{
	T(lm_delete_tag, id, k, err);
}
int mw_store_lm_log_params(struct mw_store *s, const char *id, const struct mw_kv *p, size_t n,
			   struct mw_err *err)
{
	T(lm_log_params, id, p, n, err);
}
int mw_store_lm_search(struct mw_store *s, const char *const *ex, size_t nex,
		       const struct mw_filter *f, const struct mw_order *o, size_t no,
		       const struct mw_page *p, struct mw_arena *a, struct mw_logged_model **out,
		       size_t *n, bool *more, struct mw_err *err)
{
	T(lm_search, ex, nex, f, o, no, p, a, out, n, more, err);
}

#define A(op, ...) DOMAIN(artifacts, op, __VA_ARGS__)

int mw_store_art_put(struct mw_store *s, const char *path, const char *digest, uint64_t size,
		     int64_t now_ms, bool *replaced, struct mw_err *err)
{
	A(art_put, path, digest, size, now_ms, replaced, err);
}
int mw_store_art_get(struct mw_store *s, const char *path, struct mw_art_entry *out,
		     struct mw_err *err)
{
	A(art_get, path, out, err);
}
int mw_store_art_list(struct mw_store *s, const char *dir, const struct mw_page *page,
		      struct mw_arena *a, struct mw_art_child **out, size_t *n, bool *more,
		      struct mw_err *err)
{
	A(art_list, dir, page, a, out, n, more, err);
}
int mw_store_art_tree(struct mw_store *s, const char *dir, struct mw_arena *a,
		      struct mw_art_file **out, size_t *n, struct mw_err *err)
{
	A(art_tree, dir, a, out, n, err);
}
int mw_store_art_delete(struct mw_store *s, const char *path, int64_t now_ms, int *removed,
			struct mw_err *err)
{
	A(art_delete, path, now_ms, removed, err);
}
int mw_store_art_digest_used(struct mw_store *s, const char *digest, bool *used,
			     struct mw_err *err)
{
	A(art_digest_used, digest, used, err);
}

int mw_store_art_each(struct mw_store *s, bool include_history, mw_store_digest_fn fn, void *ctx,
		      struct mw_err *err)
{
	A(art_each, include_history, fn, ctx, err);
}

#define R(op, ...) DOMAIN(registry, op, __VA_ARGS__)

int mw_store_rm_create(struct mw_store *s, const char *name, const char *description,
		       const struct mw_kv *tags, size_t ntags, const char *user_id, int64_t now_ms,
		       struct mw_arena *a, struct mw_registered_model *out, struct mw_err *err)
{
	R(rm_create, name, description, tags, ntags, user_id, now_ms, a, out, err);
}
int mw_store_rm_get(struct mw_store *s, const char *name, struct mw_arena *a,
		    struct mw_registered_model *out, struct mw_err *err)
{
	R(rm_get, name, a, out, err);
}
int mw_store_rm_name_by_id(struct mw_store *s, int64_t rm_id, struct mw_arena *a, const char **name,
			   struct mw_err *err)
{
	R(rm_name_by_id, rm_id, a, name, err);
}
int mw_store_rm_rename(struct mw_store *s, const char *name, const char *new_name, int64_t now_ms,
		       struct mw_arena *a, struct mw_registered_model *out, struct mw_err *err)
{
	R(rm_rename, name, new_name, now_ms, a, out, err);
}
int mw_store_rm_update(struct mw_store *s, const char *name, const char *description,
		       int64_t now_ms, struct mw_arena *a, struct mw_registered_model *out,
		       struct mw_err *err)
{
	R(rm_update, name, description, now_ms, a, out, err);
}
int mw_store_rm_delete(struct mw_store *s, const char *name, int64_t now_ms, struct mw_err *err)
{
	R(rm_delete, name, now_ms, err);
}
int mw_store_rm_search(struct mw_store *s, const struct mw_filter *f, const struct mw_order *o,
		       size_t norder, const struct mw_hide_tag *hide, const struct mw_page *page,
		       struct mw_arena *a, struct mw_registered_model **out, size_t *n, bool *more,
		       struct mw_err *err)
{
	R(rm_search, f, o, norder, hide, page, a, out, n, more, err);
}
int mw_store_rm_set_tag(struct mw_store *s, const char *name, const char *key, const char *value,
			struct mw_err *err)
{
	R(rm_set_tag, name, key, value, err);
}
int mw_store_rm_delete_tag(struct mw_store *s, const char *name, const char *key,
			   struct mw_err *err)
{
	R(rm_delete_tag, name, key, err);
}
int mw_store_rm_set_alias(struct mw_store *s, const char *name, const char *alias, int64_t version,
			  bool rollback, const struct mw_audit *a, struct mw_err *err)
{
	R(rm_set_alias, name, alias, version, rollback, a, err);
}
int mw_store_rm_move_alias(struct mw_store *s, const char *name, const char *alias, int64_t version,
			   bool rollback, const struct mw_audit *a, struct mw_arena *ar,
			   struct mw_alias_move *out, struct mw_err *err)
{
	R(rm_move_alias, name, alias, version, rollback, a, ar, out, err);
}
int mw_store_rm_delete_alias(struct mw_store *s, const char *name, const char *alias,
			     const struct mw_audit *a, struct mw_err *err)
{
	R(rm_delete_alias, name, alias, a, err);
}
int mw_store_rm_get_by_alias(struct mw_store *s, const char *name, const char *alias,
			     struct mw_arena *a, struct mw_model_version *out, struct mw_err *err)
{
	R(rm_get_by_alias, name, alias, a, out, err);
}
int mw_store_rm_alias_state(struct mw_store *s, const char *name, const char *alias,
			    struct mw_alias_state *out, struct mw_err *err)
{
	R(rm_alias_state, name, alias, out, err);
}
int mw_store_rm_latest_versions(struct mw_store *s, const char *name, const char *const *stages,
				size_t nstages, struct mw_arena *a, struct mw_model_version **out,
				size_t *n, struct mw_err *err)
{
	R(rm_latest_versions, name, stages, nstages, a, out, n, err);
}
int mw_store_rm_history(struct mw_store *s, const char *name, struct mw_arena *a,
			struct mw_promotion_event **out, size_t *n, struct mw_err *err)
{
	R(rm_history, name, a, out, n, err);
}
int mw_store_mv_create(struct mw_store *s, const struct mw_mv_create *c, struct mw_arena *a,
		       struct mw_model_version *out, struct mw_err *err)
{
	R(mv_create, c, a, out, err);
}
int mw_store_mv_get(struct mw_store *s, const char *name, int64_t version, struct mw_arena *a,
		    struct mw_model_version *out, struct mw_err *err)
{
	R(mv_get, name, version, a, out, err);
}
int mw_store_mv_update(struct mw_store *s, const char *name, int64_t version,
		       const char *description, int64_t now_ms, struct mw_arena *a,
		       struct mw_model_version *out, struct mw_err *err)
{
	R(mv_update, name, version, description, now_ms, a, out, err);
}
int mw_store_mv_delete(struct mw_store *s, const char *name, int64_t version,
		       const struct mw_audit *a, const char *alias_reason, struct mw_err *err)
{
	R(mv_delete, name, version, a, alias_reason, err);
}
int mw_store_mv_transition(struct mw_store *s, const char *name, int64_t version, const char *stage,
			   const char *archive_to, const char *archive_reason,
			   const struct mw_audit *a, struct mw_arena *ar,
			   struct mw_model_version *out, struct mw_err *err)
{
	R(mv_transition, name, version, stage, archive_to, archive_reason, a, ar, out, err);
}
int mw_store_mv_search(struct mw_store *s, const struct mw_filter *f, const struct mw_order *o,
		       size_t norder, const struct mw_hide_tag *hide, const struct mw_page *page,
		       struct mw_arena *a, struct mw_model_version **out, size_t *n, bool *more,
		       struct mw_err *err)
{
	R(mv_search, f, o, norder, hide, page, a, out, n, more, err);
}
int mw_store_mv_set_tag(struct mw_store *s, const char *name, int64_t version, const char *key,
			const char *value, struct mw_err *err)
{
	R(mv_set_tag, name, version, key, value, err);
}
int mw_store_mv_delete_tag(struct mw_store *s, const char *name, int64_t version, const char *key,
			   struct mw_err *err)
{
	R(mv_delete_tag, name, version, key, err);
}
int mw_store_mv_set_card(struct mw_store *s, const char *name, int64_t version, const char *card,
			 const char *who, int64_t now_ms, struct mw_err *err)
{
	R(mv_set_card, name, version, card, who, now_ms, err);
}
int mw_store_mv_get_card(struct mw_store *s, const char *name, int64_t version, struct mw_arena *a,
			 struct mw_model_card *out, struct mw_err *err)
{
	R(mv_get_card, name, version, a, out, err);
}

#define AU(op, ...) DOMAIN(auth, op, __VA_ARGS__)

int mw_store_user_create(struct mw_store *s, const char *name, const char *pw_hash,
			 enum mw_role role, int64_t now_ms, int64_t *id, struct mw_err *err)
{
	AU(user_create, name, pw_hash, role, now_ms, id, err);
}
int mw_store_user_get(struct mw_store *s, const char *name, struct mw_arena *a, struct mw_user *out,
		      struct mw_err *err)
{
	AU(user_get, name, a, out, err);
}
int mw_store_user_count(struct mw_store *s, int64_t *n, struct mw_err *err)
{
	AU(user_count, n, err);
}
int mw_store_user_set_password(struct mw_store *s, const char *name, const char *pw_hash,
			       struct mw_err *err)
{
	AU(user_set_password, name, pw_hash, err);
}
int mw_store_user_set_role(struct mw_store *s, const char *name, enum mw_role role,
			   struct mw_err *err)
{
	AU(user_set_role, name, role, err);
}
int mw_store_user_delete(struct mw_store *s, const char *name, struct mw_err *err)
{
	AU(user_delete, name, err);
}
int mw_store_token_create(struct mw_store *s, int64_t user_id, const char *name, const char *hash,
			  int64_t now_ms, int64_t expires_ms, bool inference, int64_t *id,
			  struct mw_err *err)
{
	AU(token_create, user_id, name, hash, now_ms, expires_ms, inference, id, err);
}
int mw_store_token_get(struct mw_store *s, const char *hash, struct mw_arena *a,
		       struct mw_token *out, struct mw_err *err)
{
	AU(token_get, hash, a, out, err);
}
int mw_store_token_list(struct mw_store *s, int64_t user_id, struct mw_arena *a,
			struct mw_token **out, size_t *n, struct mw_err *err)
{
	AU(token_list, user_id, a, out, n, err);
}
int mw_store_token_revoke(struct mw_store *s, int64_t id, int64_t user_id, int64_t now_ms,
			  char hash[65], struct mw_err *err)
{
	AU(token_revoke, id, user_id, now_ms, hash, err);
}
int mw_store_token_touch(struct mw_store *s, int64_t id, int64_t now_ms, struct mw_err *err)
{
	AU(token_touch, id, now_ms, err);
}

#define AD(op, ...) DOMAIN(audit, op, __VA_ARGS__)

int mw_store_audit_list(struct mw_store *s, const struct mw_audit_query *q, size_t max,
			struct mw_arena *a, struct mw_audit_entry **out, size_t *n, bool *more,
			struct mw_err *err)
{
	AD(list, q, max, a, out, n, more, err);
}
int mw_store_audit_verify(struct mw_store *s, int64_t *rows, int64_t *bad_seq, struct mw_err *err)
{
	AD(verify, rows, bad_seq, err);
}
int mw_store_audit_head(struct mw_store *s, int64_t *seq, char hash[65], struct mw_err *err)
{
	AD(head, seq, hash, err);
}

/* One field of the chained content: its length in decimal, ':', its bytes
 * (a NULL string is "-", distinct from "" which is "0:"). */
static void hash_field(struct mw_sha256 *h, const char *s)
{
	char len[24];
	if (!s) {
		mw_sha256_update(h, "-", 1);
		return;
	}
	size_t n = strlen(s);
	int k = snprintf(len, sizeof len, "%zu:", n);
	mw_sha256_update(h, len, (size_t)k);
	mw_sha256_update(h, s, n);
}

static void hash_int(struct mw_sha256 *h, int64_t v)
{
	char t[24];
	snprintf(t, sizeof t, "%lld", (long long)v);
	hash_field(h, t);
}

void mw_store_audit_hash(const struct mw_audit_entry *e, char hex[65])
{
	struct mw_sha256 *h = mw_sha256_new();
	hash_field(h, e->prev_hash);
	hash_int(h, e->seq);
	hash_int(h, e->at_ms);
	hash_field(h, e->user);
	hash_int(h, e->verified ? 1 : 0);
	hash_field(h, e->request_id);
	hash_field(h, e->action);
	hash_field(h, e->kind);
	hash_field(h, e->resource);
	hash_field(h, e->before);
	hash_field(h, e->after);
	mw_sha256_final(h, hex);
}

int mw_store_perm_put(struct mw_store *s, enum mw_perm_kind kind, const char *resource,
		      int64_t user_id, enum mw_perm perm, enum mw_perm_put mode, struct mw_err *err)
{
	AU(perm_put, kind, resource, user_id, perm, mode, err);
}
int mw_store_perm_get(struct mw_store *s, enum mw_perm_kind kind, const char *resource,
		      int64_t user_id, enum mw_perm *out, struct mw_err *err)
{
	AU(perm_get, kind, resource, user_id, out, err);
}
int mw_store_perm_delete(struct mw_store *s, enum mw_perm_kind kind, const char *resource,
			 int64_t user_id, struct mw_err *err)
{
	AU(perm_delete, kind, resource, user_id, err);
}
int mw_store_perm_list(struct mw_store *s, int64_t user_id, struct mw_arena *a,
		       struct mw_perm_row **out, size_t *n, struct mw_err *err)
{
	AU(perm_list, user_id, a, out, n, err);
}

static const char *const role_names[MW_ROLE__COUNT] = {"viewer", "editor", "admin"};
static const char *const perm_names[MW_PERM__COUNT] = {"NO_PERMISSIONS", "READ", "EDIT", "MANAGE"};

const char *mw_role_name(enum mw_role r)
{
	return (unsigned)r < MW_ROLE__COUNT ? role_names[r] : "viewer";
}

bool mw_role_parse(const char *s, enum mw_role *out)
{
	for (int i = 0; s && i < MW_ROLE__COUNT; i++)
		if (!strcmp(s, role_names[i])) {
			*out = (enum mw_role)i;
			return true;
		}
	return false;
}

const char *mw_perm_name(enum mw_perm p)
{
	return (unsigned)p < MW_PERM__COUNT ? perm_names[p] : "NO_PERMISSIONS";
}

bool mw_perm_parse(const char *s, enum mw_perm *out)
{
	for (int i = 0; s && i < MW_PERM__COUNT; i++)
		if (!strcmp(s, perm_names[i])) {
			*out = (enum mw_perm)i;
			return true;
		}
	return false;
}
