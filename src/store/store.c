/*
 * store.c - picks a backend and dispatches every call through its ops.
 *
 * Today the only backend is SQLite (store/sqlite.c).  A PostgreSQL backend
 * adds a row to `backends` and a file; nothing above store/ changes.
 */
#include "store/backend.h"

#include <stdlib.h>
#include <string.h>

struct mw_store {
	const struct mw_store_ops *ops;
	void *impl;
};

int mw_store_open(const struct mw_store_opts *o, struct mw_store **out, struct mw_err *err)
{
	struct mw_store *s = mw_xcalloc(1, sizeof *s);
	s->ops = &mw_store_sqlite_ops;
	int rc = s->ops->open(o, &s->impl, err);
	if (rc) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void mw_store_close(struct mw_store *s)
{
	if (!s)
		return;
	s->ops->close(s->impl);
	free(s);
}

void mw_store_stats(struct mw_store *s, struct mw_store_stats *out)
{
	s->ops->stats(s->impl, out);
}

int mw_store_schema_version(struct mw_store *s)
{
	return s->ops->schema_version(s->impl);
}

void mw_store_trim(struct mw_store *s)
{
	if (s->ops->trim)
		s->ops->trim(s->impl);
}

#define D(op, ...) return s->ops->op(s->impl, __VA_ARGS__)

int mw_store_exp_create(struct mw_store *s, const char *name, const char *loc, const char *root,
			const struct mw_kv *tags, size_t ntags, int64_t now, char id[32],
			struct mw_err *err)
{
	D(exp_create, name, loc, root, tags, ntags, now, id, err);
}
int mw_store_exp_get(struct mw_store *s, const char *id, json_t **out, struct mw_err *err)
{
	D(exp_get, id, out, err);
}
int mw_store_exp_get_by_name(struct mw_store *s, const char *name, json_t **out,
			     struct mw_err *err)
{
	D(exp_get_by_name, name, out, err);
}
int mw_store_exp_search(struct mw_store *s, const struct mw_filter *f, const struct mw_order *o,
			size_t no, enum mw_view v, const struct mw_page *p, json_t **out,
			bool *more, struct mw_err *err)
{
	D(exp_search, f, o, no, v, p, out, more, err);
}
int mw_store_exp_rename(struct mw_store *s, const char *id, const char *name, int64_t now,
			struct mw_err *err)
{
	D(exp_rename, id, name, now, err);
}
int mw_store_exp_set_deleted(struct mw_store *s, const char *id, bool del, int64_t now,
			     struct mw_err *err)
{
	D(exp_set_deleted, id, del, now, err);
}
int mw_store_exp_set_tag(struct mw_store *s, const char *id, const char *k, const char *v,
			 struct mw_err *err)
{
	D(exp_set_tag, id, k, v, err);
}
int mw_store_exp_delete_tag(struct mw_store *s, const char *id, const char *k,
			    struct mw_err *err)
{
	D(exp_delete_tag, id, k, err);
}
int mw_store_run_create(struct mw_store *s, const struct mw_run_create *rc, json_t **out,
			struct mw_err *err)
{
	D(run_create, rc, out, err);
}
int mw_store_run_get(struct mw_store *s, const char *id, json_t **out, struct mw_err *err)
{
	D(run_get, id, out, err);
}
int mw_store_run_update(struct mw_store *s, const char *id, const char *status, int64_t end,
			const char *name, json_t **out, struct mw_err *err)
{
	D(run_update, id, status, end, name, out, err);
}
int mw_store_run_set_deleted(struct mw_store *s, const char *id, bool del, int64_t now,
			     struct mw_err *err)
{
	D(run_set_deleted, id, del, now, err);
}
int mw_store_run_log_batch(struct mw_store *s, const char *id, const struct mw_metric *m,
			   size_t nm, const struct mw_kv *p, size_t np, const struct mw_kv *t,
			   size_t nt, struct mw_err *err)
{
	D(run_log_batch, id, m, nm, p, np, t, nt, err);
}
int mw_store_run_delete_tag(struct mw_store *s, const char *id, const char *k,
			    struct mw_err *err)
{
	D(run_delete_tag, id, k, err);
}
int mw_store_run_log_inputs(struct mw_store *s, const char *id, const struct mw_dataset_input *d,
			    size_t nd, const struct mw_model_ref *m, size_t nm, struct mw_err *err)
{
	D(run_log_inputs, id, d, nd, m, nm, err);
}
int mw_store_run_log_outputs(struct mw_store *s, const char *id, const struct mw_model_ref *m,
			     size_t nm, struct mw_err *err)
{
	D(run_log_outputs, id, m, nm, err);
}
int mw_store_run_search(struct mw_store *s, const char *const *ex, size_t nex,
			const struct mw_filter *f, const struct mw_order *o, size_t no,
			enum mw_view v, const struct mw_page *p, json_t **out, bool *more,
			struct mw_err *err)
{
	D(run_search, ex, nex, f, o, no, v, p, out, more, err);
}
int mw_store_metric_history(struct mw_store *s, const char *id, const char *key,
			    const struct mw_page *p, json_t **out, bool *more, struct mw_err *err)
{
	D(metric_history, id, key, p, out, more, err);
}
int mw_store_metric_history_sampled(struct mw_store *s, const char *const *ids, size_t n,
				    const char *key, bool has_range, int64_t a, int64_t b,
				    int64_t max, json_t **out, struct mw_err *err)
{
	D(metric_history_sampled, ids, n, key, has_range, a, b, max, out, err);
}
int mw_store_metric_history_bulk(struct mw_store *s, const char *const *ids, size_t n,
				 const char *key, int64_t max, json_t **out, struct mw_err *err)
{
	D(metric_history_bulk, ids, n, key, max, out, err);
}
int mw_store_lm_create(struct mw_store *s, const struct mw_lm_create *c, json_t **out,
		       struct mw_err *err)
{
	D(lm_create, c, out, err);
}
int mw_store_lm_get(struct mw_store *s, const char *id, json_t **out, struct mw_err *err)
{
	D(lm_get, id, out, err);
}
int mw_store_lm_finalize(struct mw_store *s, const char *id, const char *st, int64_t now,
			 json_t **out, struct mw_err *err)
{
	D(lm_finalize, id, st, now, out, err);
}
int mw_store_lm_delete(struct mw_store *s, const char *id, struct mw_err *err)
{
	D(lm_delete, id, err);
}
int mw_store_lm_set_tags(struct mw_store *s, const char *id, const struct mw_kv *t, size_t n,
			 int64_t now, struct mw_err *err)
{
	D(lm_set_tags, id, t, n, now, err);
}
int mw_store_lm_delete_tag(struct mw_store *s, const char *id, const char *k, struct mw_err *err)
{
	D(lm_delete_tag, id, k, err);
}
int mw_store_lm_log_params(struct mw_store *s, const char *id, const struct mw_kv *p, size_t n,
			   struct mw_err *err)
{
	D(lm_log_params, id, p, n, err);
}
int mw_store_lm_search(struct mw_store *s, const char *const *ex, size_t nex,
		       const struct mw_filter *f, const struct mw_order *o, size_t no,
		       const struct mw_page *p, json_t **out, bool *more, struct mw_err *err)
{
	D(lm_search, ex, nex, f, o, no, p, out, more, err);
}
int mw_store_art_put(struct mw_store *s, const char *path, const char *digest, uint64_t size, int64_t now_ms, bool *replaced, struct mw_err *err)
{
	D(art_put, path, digest, size, now_ms, replaced, err);
}
int mw_store_art_get(struct mw_store *s, const char *path, struct mw_art_entry *out, struct mw_err *err)
{
	D(art_get, path, out, err);
}
int mw_store_art_list(struct mw_store *s, const char *dir, json_t **out, struct mw_err *err)
{
	D(art_list, dir, out, err);
}
int mw_store_art_tree(struct mw_store *s, const char *dir, json_t **out, struct mw_err *err)
{
	D(art_tree, dir, out, err);
}
int mw_store_art_delete(struct mw_store *s, const char *path, int64_t now_ms, int *removed, struct mw_err *err)
{
	D(art_delete, path, now_ms, removed, err);
}
int mw_store_art_digest_used(struct mw_store *s, const char *digest, bool *used,
			     struct mw_err *err)
{
	D(art_digest_used, digest, used, err);
}
int mw_store_art_each(struct mw_store *s, bool include_history, mw_store_digest_fn fn, void *ctx, struct mw_err *err)
{
	D(art_each, include_history, fn, ctx, err);
}
int mw_store_rm_create(struct mw_store *s, const char *name, const char *description, const struct mw_kv *tags, size_t ntags, const char *user_id, int64_t now_ms, json_t **out, struct mw_err *err)
{
	D(rm_create, name, description, tags, ntags, user_id, now_ms, out, err);
}
int mw_store_rm_get(struct mw_store *s, const char *name, json_t **out, struct mw_err *err)
{
	D(rm_get, name, out, err);
}
int mw_store_rm_rename(struct mw_store *s, const char *name, const char *new_name, int64_t now_ms, json_t **out, struct mw_err *err)
{
	D(rm_rename, name, new_name, now_ms, out, err);
}
int mw_store_rm_update(struct mw_store *s, const char *name, const char *description, int64_t now_ms, json_t **out, struct mw_err *err)
{
	D(rm_update, name, description, now_ms, out, err);
}
int mw_store_rm_delete(struct mw_store *s, const char *name, int64_t now_ms, struct mw_err *err)
{
	D(rm_delete, name, now_ms, err);
}
int mw_store_rm_search(struct mw_store *s, const struct mw_filter *f, const struct mw_order *o, size_t norder, const struct mw_page *page, json_t **out, bool *has_more, struct mw_err *err)
{
	D(rm_search, f, o, norder, page, out, has_more, err);
}
int mw_store_rm_set_tag(struct mw_store *s, const char *name, const char *key, const char *value, struct mw_err *err)
{
	D(rm_set_tag, name, key, value, err);
}
int mw_store_rm_delete_tag(struct mw_store *s, const char *name, const char *key, struct mw_err *err)
{
	D(rm_delete_tag, name, key, err);
}
int mw_store_rm_set_alias(struct mw_store *s, const char *name, const char *alias, int64_t version, bool rollback, const struct mw_audit *a, struct mw_err *err)
{
	D(rm_set_alias, name, alias, version, rollback, a, err);
}
int mw_store_rm_delete_alias(struct mw_store *s, const char *name, const char *alias, const struct mw_audit *a, struct mw_err *err)
{
	D(rm_delete_alias, name, alias, a, err);
}
int mw_store_rm_get_by_alias(struct mw_store *s, const char *name, const char *alias, json_t **out, struct mw_err *err)
{
	D(rm_get_by_alias, name, alias, out, err);
}
int mw_store_rm_alias_previous(struct mw_store *s, const char *name, const char *alias, int64_t *version, struct mw_err *err)
{
	D(rm_alias_previous, name, alias, version, err);
}
int mw_store_rm_latest_versions(struct mw_store *s, const char *name, const char *const *stages, size_t nstages, json_t **out, struct mw_err *err)
{
	D(rm_latest_versions, name, stages, nstages, out, err);
}
int mw_store_rm_history(struct mw_store *s, const char *name, json_t **out, struct mw_err *err)
{
	D(rm_history, name, out, err);
}
int mw_store_mv_create(struct mw_store *s, const struct mw_mv_create *c, json_t **out, struct mw_err *err)
{
	D(mv_create, c, out, err);
}
int mw_store_mv_get(struct mw_store *s, const char *name, int64_t version, json_t **out, struct mw_err *err)
{
	D(mv_get, name, version, out, err);
}
int mw_store_mv_update(struct mw_store *s, const char *name, int64_t version, const char *description, int64_t now_ms, json_t **out, struct mw_err *err)
{
	D(mv_update, name, version, description, now_ms, out, err);
}
int mw_store_mv_delete(struct mw_store *s, const char *name, int64_t version, const struct mw_audit *a, struct mw_err *err)
{
	D(mv_delete, name, version, a, err);
}
int mw_store_mv_transition(struct mw_store *s, const char *name, int64_t version, const char *stage, bool archive_existing, const struct mw_audit *a, json_t **out, struct mw_err *err)
{
	D(mv_transition, name, version, stage, archive_existing, a, out, err);
}
int mw_store_mv_search(struct mw_store *s, const struct mw_filter *f, const struct mw_order *o, size_t norder, const struct mw_page *page, json_t **out, bool *has_more, struct mw_err *err)
{
	D(mv_search, f, o, norder, page, out, has_more, err);
}
int mw_store_mv_set_tag(struct mw_store *s, const char *name, int64_t version, const char *key, const char *value, struct mw_err *err)
{
	D(mv_set_tag, name, version, key, value, err);
}
int mw_store_mv_delete_tag(struct mw_store *s, const char *name, int64_t version, const char *key, struct mw_err *err)
{
	D(mv_delete_tag, name, version, key, err);
}
int mw_store_mv_set_card(struct mw_store *s, const char *name, int64_t version, const char *card_json, const char *who, int64_t now_ms, struct mw_err *err)
{
	D(mv_set_card, name, version, card_json, who, now_ms, err);
}
int mw_store_mv_get_card(struct mw_store *s, const char *name, int64_t version, json_t **out, struct mw_err *err)
{
	D(mv_get_card, name, version, out, err);
}
