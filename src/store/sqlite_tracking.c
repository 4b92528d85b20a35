/*
 * sqlite_tracking.c - the tracking domain in the SQLite backend:
 * experiments, runs, params, tags, metrics (every point plus each key's
 * latest), dataset and model inputs, model outputs and MLflow 3 logged
 * models (schema: migration 1 in sqlite.c), as the records of
 * store/tracking.h.
 *
 * Reads run in one read transaction (sqi_rd_begin) so a run assembled from
 * seven tables is a snapshot; writes are jobs of the group-commit writer
 * (sqi_submit).  Records are built in the caller's arena straight from the
 * rows: strings are copied once, arrays grow with mw_store_vec_push.
 *
 * Rules kept here because they must hold inside the write: a deleted
 * experiment or run takes no writes (MW_E_INVALID, detail EXPERIMENT or
 * RUN), params never change (MW_E_CONFLICT, PARAM), experiment names are
 * unique (MW_E_EXISTS), a metric's latest value is the max of (step,
 * timestamp, value).  Messages are neutral; track/ words MLflow's.
 *
 * Values: NaN metric values are stored as 0 with is_nan = 1 (SQLite turns a
 * bound NaN into NULL) and read back as NaN; +-Inf are REAL infinities.
 * Search SQL is assembled from fixed fragments (identifiers from fixed
 * maps, never from input) and bound values.
 */
#include "store/sqlite_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================ reading */

static const char SQL_EXP_BY_ID[] =
	"SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time,"
	" last_update_time FROM experiments WHERE experiment_id = ?";
static const char SQL_EXP_BY_NAME[] =
	"SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time,"
	" last_update_time FROM experiments WHERE name = ?";
static const char SQL_EXP_TAGS[] =
	"SELECT key, value FROM experiment_tags WHERE experiment_id = ? ORDER BY key";

static const char *fmt_id(struct mw_arena *a, int64_t id)
{
	return mw_arena_printf(a, "%lld", (long long)id);
}

/* An experiment from a row of SQL_EXP_BY_* (st is reset by the caller). */
static int exp_row(struct conn *c, sqlite3_stmt *st, struct mw_arena *a, struct mw_experiment *e,
		   struct mw_err *err)
{
	int64_t id = sqlite3_column_int64(st, 0);
	memset(e, 0, sizeof *e);
	e->experiment_id = fmt_id(a, id);
	e->name = sqi_col_dup(a, st, 1);
	e->artifact_location = sqi_col_dup(a, st, 2);
	e->lifecycle_stage = sqi_col_dup(a, st, 3);
	e->creation_time = sqlite3_column_int64(st, 4);
	e->last_update_time = sqlite3_column_int64(st, 5);
	return sqi_kv_rows(c, SQL_EXP_TAGS, NULL, id, a, &e->tags, &e->ntags, err);
}

static bool parse_exp_id(const char *id, int64_t *out)
{
	return id && !mw_parse_int64(id, out) && *out >= 0;
}

static int exp_not_found(const char *id, struct mw_err *err)
{
	return mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_EXPERIMENT,
			    "experiment %s does not exist", id);
}

static int exp_load(struct conn *c, const char *id, struct mw_arena *a, struct mw_experiment *out,
		    struct mw_err *err)
{
	int64_t iid;
	if (!parse_exp_id(id, &iid))
		return exp_not_found(id, err);
	sqlite3_stmt *st = sqi_prep(c, SQL_EXP_BY_ID, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, iid);
	int rc = sqlite3_step(st) == SQLITE_ROW ? exp_row(c, st, a, out, err)
						: exp_not_found(id, err);
	sqlite3_reset(st);
	return rc;
}

/* The stage and artifact location of an experiment, inside a job. */
static const char SQL_EXP_STATE[] =
	"SELECT lifecycle_stage, artifact_location FROM experiments WHERE experiment_id = ?";

/* MW_E_NOT_FOUND when the experiment does not exist, MW_E_INVALID (detail
 * EXPERIMENT) when it is not active; *location (malloc'd) when asked. */
static int exp_require_active(struct conn *c, const char *id, char **location, struct mw_err *err)
{
	int64_t iid;
	if (!parse_exp_id(id, &iid))
		return exp_not_found(id, err);
	sqlite3_stmt *st = sqi_prep(c, SQL_EXP_STATE, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, iid);
	int rc = 0;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = exp_not_found(id, err);
	} else {
		const char *stage = sqi_col_text(st, 0);
		if (!stage || strcmp(stage, "active"))
			rc = mw_store_err(err, MW_E_INVALID, MW_STORE_EXPERIMENT,
					  "experiment %s is %s", id, stage ? stage : "?");
		else if (location)
			*location = mw_xstrdup(sqi_col_text(st, 1) ? sqi_col_text(st, 1) : "");
	}
	sqlite3_reset(st);
	return rc;
}

/* base joined with rel by exactly one '/' (malloc'd). */
static char *join_one_slash(const char *base, const char *rel)
{
	size_t bl = strlen(base);
	while (*rel == '/')
		rel++;
	size_t n = bl + strlen(rel) + 2;
	char *s = mw_xmalloc(n);
	snprintf(s, n, "%s%s%s", base, bl && base[bl - 1] == '/' ? "" : "/", rel);
	return s;
}

static const char SQL_RUN_INFO[] =
	"SELECT run_uuid, name, experiment_id, user_id, status, start_time, end_time,"
	" artifact_uri, lifecycle_stage FROM runs WHERE run_uuid = ?";
static const char SQL_RUN_LATEST[] =
	"SELECT key, value, is_nan, timestamp, step FROM latest_metrics WHERE run_uuid = ?"
	" ORDER BY key";
static const char SQL_RUN_PARAMS[] =
	"SELECT key, value FROM params WHERE run_uuid = ? ORDER BY key";
static const char SQL_RUN_TAGS[] = "SELECT key, value FROM tags WHERE run_uuid = ? ORDER BY key";
static const char SQL_RUN_DATASETS[] =
	"SELECT i.input_uuid, d.name, d.digest, d.source_type, d.source, d.schema, d.profile"
	" FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id"
	" WHERE i.destination_type = 'RUN' AND i.destination_id = ? AND i.source_type = 'DATASET'"
	" ORDER BY i.rowid";
static const char SQL_INPUT_TAGS[] =
	"SELECT key, value FROM input_tags WHERE input_uuid = ? ORDER BY key";
static const char SQL_RUN_MODEL_INPUTS[] =
	"SELECT source_id FROM inputs WHERE destination_type = 'RUN' AND destination_id = ?"
	" AND source_type = 'MODEL' ORDER BY rowid";
static const char SQL_RUN_OUTPUTS[] =
	"SELECT model_id, step FROM run_outputs WHERE run_uuid = ? ORDER BY model_id";

/* A metric point from columns key, value, is_nan, timestamp, step at col. */
static void metric_cols(sqlite3_stmt *st, int col, struct mw_arena *a, struct mw_metric *m)
{
	m->key = sqi_col_dup(a, st, col);
	m->value = sqlite3_column_int(st, col + 2) ? NAN : sqlite3_column_double(st, col + 1);
	m->timestamp = sqlite3_column_int64(st, col + 3);
	m->step = sqlite3_column_int64(st, col + 4);
}

static void run_info_row(sqlite3_stmt *st, struct mw_arena *a, struct mw_run_info *i)
{
	memset(i, 0, sizeof *i);
	i->run_id = sqi_col_dup(a, st, 0);
	i->run_name = sqi_col_dup(a, st, 1);
	i->experiment_id = fmt_id(a, sqlite3_column_int64(st, 2));
	i->user_id = sqi_col_dup(a, st, 3);
	i->status = sqi_col_dup(a, st, 4);
	if ((i->has_start_time = sqlite3_column_type(st, 5) != SQLITE_NULL))
		i->start_time = sqlite3_column_int64(st, 5);
	if ((i->has_end_time = sqlite3_column_type(st, 6) != SQLITE_NULL))
		i->end_time = sqlite3_column_int64(st, 6);
	i->artifact_uri = sqi_col_dup(a, st, 7);
	i->lifecycle_stage = sqi_col_dup(a, st, 8);
}

static int run_not_found(const char *id, struct mw_err *err)
{
	return mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_RUN, "run %s does not exist", id);
}

static int run_info_load(struct conn *c, const char *id, struct mw_arena *a,
			 struct mw_run_info *out, struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_RUN_INFO, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, id);
	int rc = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		run_info_row(st, a, out);
	else
		rc = run_not_found(id, err);
	sqlite3_reset(st);
	return rc;
}

static const char SQL_RUN_EXISTS[] = "SELECT 1 FROM runs WHERE run_uuid = ?";

static int run_exists(struct conn *c, const char *id, struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_RUN_EXISTS, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, id);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : run_not_found(id, err);
	sqlite3_reset(st);
	return rc;
}

static int run_load(struct conn *c, const char *id, struct mw_arena *a, struct mw_run *run,
		    struct mw_err *err)
{
	memset(run, 0, sizeof *run);
	int rc = run_info_load(c, id, a, &run->info, err);
	if (rc)
		return rc;
	id = run->info.run_id;

	struct mw_store_vec v = {0};
	sqlite3_stmt *st = sqi_prep(c, SQL_RUN_LATEST, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW)
		metric_cols(st, 0, a, mw_store_vec_push(&v, a, sizeof(struct mw_metric)));
	sqlite3_reset(st);
	run->metrics = v.v;
	run->nmetrics = v.n;
	if ((rc = sqi_kv_rows(c, SQL_RUN_PARAMS, id, 0, a, &run->params, &run->nparams, err)) ||
	    (rc = sqi_kv_rows(c, SQL_RUN_TAGS, id, 0, a, &run->tags, &run->ntags, err)))
		return rc;

	/* collect the datasets first: their tags need another statement */
	v = (struct mw_store_vec){0};
	struct mw_store_vec uuids = {0};
	if (!(st = sqi_prep(c, SQL_RUN_DATASETS, err)))
		return -err->code;
	sqi_bind_text(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char **u = mw_store_vec_push(&uuids, a, sizeof *u);
		*u = sqi_col_dup(a, st, 0);
		struct mw_dataset_input *d = mw_store_vec_push(&v, a, sizeof *d);
		d->name = sqi_col_dup(a, st, 1);
		d->digest = sqi_col_dup(a, st, 2);
		d->source_type = sqi_col_dup(a, st, 3);
		d->source = sqi_col_dup(a, st, 4);
		d->schema = sqi_col_dup(a, st, 5);
		d->profile = sqi_col_dup(a, st, 6);
	}
	sqlite3_reset(st);
	run->datasets = v.v;
	run->ndatasets = v.n;
	for (size_t i = 0; i < v.n; i++) {
		const char *u = ((const char **)uuids.v)[i];
		if ((rc = sqi_kv_rows(c, SQL_INPUT_TAGS, u, 0, a, &run->datasets[i].tags,
				      &run->datasets[i].ntags, err)))
			return rc;
	}

	v = (struct mw_store_vec){0};
	if (!(st = sqi_prep(c, SQL_RUN_MODEL_INPUTS, err)))
		return -err->code;
	sqi_bind_text(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct mw_model_ref *m = mw_store_vec_push(&v, a, sizeof *m);
		m->model_id = sqi_col_dup(a, st, 0);
	}
	sqlite3_reset(st);
	run->model_inputs = v.v;
	run->nmodel_inputs = v.n;

	v = (struct mw_store_vec){0};
	if (!(st = sqi_prep(c, SQL_RUN_OUTPUTS, err)))
		return -err->code;
	sqi_bind_text(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct mw_model_ref *m = mw_store_vec_push(&v, a, sizeof *m);
		m->model_id = sqi_col_dup(a, st, 0);
		m->step = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	run->model_outputs = v.v;
	run->nmodel_outputs = v.n;
	return 0;
}

static const char SQL_RUN_STAGE_GET[] = "SELECT lifecycle_stage FROM runs WHERE run_uuid = ?";

/* MW_E_NOT_FOUND when the run does not exist, MW_E_INVALID (detail RUN) when
 * it is not active. */
static int run_require_active(struct conn *c, const char *id, struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_RUN_STAGE_GET, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, id);
	int rc = 0;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = run_not_found(id, err);
	} else {
		const char *stage = sqi_col_text(st, 0);
		if (!stage || strcmp(stage, "active"))
			rc = mw_store_err(err, MW_E_INVALID, MW_STORE_RUN, "run %s is %s", id,
					  stage ? stage : "?");
	}
	sqlite3_reset(st);
	return rc;
}

/* ================================================================ experiments */

struct exp_create_arg {
	const char *name, *loc, *root;
	const struct mw_kv *tags;
	size_t ntags;
	int64_t now;
	char *id_out;
};

static const char SQL_EXP_INSERT[] =
	"INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time,"
	" last_update_time) VALUES (?, '', 'active', ?, ?)";
static const char SQL_EXP_SET_LOC[] =
	"UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?";
static const char SQL_EXP_TAG_SET[] =
	"INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?)"
	" ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value";

static int name_taken(const char *name, struct mw_err *err)
{
	return mw_store_err(err, MW_E_EXISTS, MW_STORE_EXPERIMENT,
			    "an experiment named '%.200s' exists", name);
}

static int job_exp_create(struct conn *c, void *p, struct mw_err *err)
{
	struct exp_create_arg *a = p;
	sqlite3_stmt *st = sqi_prep(c, SQL_EXP_BY_NAME, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->name);
	bool exists = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	if (exists)
		return name_taken(a->name, err);
	if (!(st = sqi_prep(c, SQL_EXP_INSERT, err)))
		return -err->code;
	sqi_bind_text(st, 1, a->name);
	sqlite3_bind_int64(st, 2, a->now);
	sqlite3_bind_int64(st, 3, a->now);
	int rc = sqi_step_done(c, st, err);
	if (rc)
		return rc;
	int64_t id = sqlite3_last_insert_rowid(c->db);
	snprintf(a->id_out, 32, "%lld", (long long)id);
	sqi_audit_resource(c, "%lld", (long long)id);
	char *loc;
	if (a->loc && *a->loc) {
		loc = mw_xstrdup(a->loc);
	} else {
		char ids[32];
		snprintf(ids, sizeof ids, "%lld", (long long)id);
		loc = join_one_slash(a->root, ids);
	}
	if (!(st = sqi_prep(c, SQL_EXP_SET_LOC, err))) {
		free(loc);
		return -err->code;
	}
	sqi_bind_text(st, 1, loc);
	sqlite3_bind_int64(st, 2, id);
	rc = sqi_step_done(c, st, err);
	free(loc);
	for (size_t i = 0; !rc && i < a->ntags; i++) {
		if (!(st = sqi_prep(c, SQL_EXP_TAG_SET, err)))
			return -err->code;
		sqlite3_bind_int64(st, 1, id);
		sqi_bind_text(st, 2, a->tags[i].key);
		sqi_bind_text(st, 3, a->tags[i].value);
		rc = sqi_step_done(c, st, err);
	}
	return rc;
}

static int sq_exp_create(struct mw_store *store, const char *name, const char *loc,
			 const char *root, const struct mw_kv *tags, size_t ntags, int64_t now,
			 char id[32], struct mw_err *err)
{
	if ((!loc || !*loc) && !root)
		return mw_err_set(err, MW_E_INVALID,
				  "a new experiment needs an artifact location or root");
	struct exp_create_arg a = {name, loc, root, tags, ntags, now, id};
	return sqi_submit(store, job_exp_create, &a, err);
}

static int sq_exp_get(struct mw_store *store, const char *id, struct mw_arena *a,
		      struct mw_experiment *out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = exp_load(c, id, a, out, err);
	sqi_rd_end(store, c);
	return rc;
}

/* experiments_location (migration 9) makes each a seek. */
static const char SQL_EXP_BY_LOC[] =
	"SELECT experiment_id FROM experiments WHERE artifact_location = ?"
	" ORDER BY experiment_id LIMIT 1";

static int sq_exp_by_location(struct mw_store *store, const char *const *locs, size_t n,
			      char id_out[32], size_t *which, struct mw_err *err)
{
	if (n > MW_STORE_EXP_LOC_MAX)
		return mw_err_set(err, MW_E_INVALID, "too many artifact locations (%zu)", n);
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = -MW_E_NOT_FOUND;
	sqlite3_stmt *st = sqi_prep(c, SQL_EXP_BY_LOC, err);
	if (!st)
		rc = -err->code;
	for (size_t i = 0; st && i < n && rc == -MW_E_NOT_FOUND; i++) {
		sqi_bind_text(st, 1, locs[i]);
		int r = sqlite3_step(st);
		if (r == SQLITE_ROW) {
			snprintf(id_out, 32, "%lld", (long long)sqlite3_column_int64(st, 0));
			if (which)
				*which = i;
			rc = 0;
		} else if (r != SQLITE_DONE) {
			rc = sqi_sqerr(c, err, "experiment by location");
		}
		sqlite3_reset(st);
	}
	sqi_rd_end(store, c);
	if (rc == -MW_E_NOT_FOUND)
		return mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_EXPERIMENT,
				    "no experiment has that artifact location");
	return rc;
}

static int sq_exp_get_by_name(struct mw_store *store, const char *name, struct mw_arena *a,
			      struct mw_experiment *out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = 0;
	sqlite3_stmt *st = sqi_prep(c, SQL_EXP_BY_NAME, err);
	if (!st) {
		rc = -err->code;
	} else {
		sqi_bind_text(st, 1, name);
		if (sqlite3_step(st) == SQLITE_ROW)
			rc = exp_row(c, st, a, out, err);
		else
			rc = mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_EXPERIMENT,
					  "no experiment is named '%.200s'", name);
		sqlite3_reset(st);
	}
	sqi_rd_end(store, c);
	return rc;
}

static const char *exp_attr_col(const char *k)
{
	if (!strcmp(k, "name"))
		return "e.name";
	if (!strcmp(k, "creation_time"))
		return "e.creation_time";
	if (!strcmp(k, "last_update_time"))
		return "e.last_update_time";
	if (!strcmp(k, "experiment_id"))
		return "e.experiment_id";
	return NULL;
}

static bool exp_search_row(struct conn *c, sqlite3_stmt *st, struct mw_arena *a, void *slot,
			   struct mw_err *err)
{
	return !exp_row(c, st, a, slot, err);
}

static int sq_exp_search(struct mw_store *store, const struct mw_filter *f,
			 const struct mw_order *o, size_t no, enum mw_view v,
			 const struct mw_page *p, struct mw_arena *a, struct mw_experiment **out,
			 size_t *n, bool *more, struct mw_err *err)
{
	struct qb q;
	sqi_qb_init(&q);
	QS(&q, "SELECT e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage,"
	       " e.creation_time, e.last_update_time FROM experiments e WHERE 1");
	sqi_qb_view(&q, "e.lifecycle_stage", v);
	for (size_t i = 0; f && i < f->n; i++) {
		const struct mw_clause *cl = &f->c[i];
		QS(&q, " AND ");
		if (cl->kind == MW_KEY_TAG) {
			QS(&q, "EXISTS (SELECT 1 FROM experiment_tags t WHERE"
			       " t.experiment_id = e.experiment_id AND t.key = ");
			sqi_qb_text(&q, cl->key);
			QS(&q, " AND ");
			sqi_qb_cmp(&q, "t.value", cl);
			QS(&q, ")");
		} else {
			const char *col = exp_attr_col(cl->key);
			sqi_qb_cmp(&q, col ? col : "NULL", cl);
		}
	}
	QS(&q, " ORDER BY ");
	bool has_id = false;
	for (size_t i = 0; i < no; i++) {
		const char *col = exp_attr_col(o[i].key);
		if (!col)
			continue;
		if (!strcmp(o[i].key, "experiment_id"))
			has_id = true;
		sqi_qf(&q, "%s %s, ", col, o[i].asc ? "ASC" : "DESC");
	}
	if (!no)
		QS(&q, "e.creation_time DESC, ");
	QS(&q, has_id ? "1" : "e.experiment_id DESC");
	sqi_qb_page(&q, p);
	return sqi_qb_rows(store, &q, p, a, sizeof **out, exp_search_row, (void **)out, n, more,
			   err);
}

struct exp_upd_arg {
	const char *id, *name, *key, *value;
	bool flag;
	int64_t now;
};

static const char SQL_EXP_RENAME[] =
	"UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?";

static int job_exp_rename(struct conn *c, void *p, struct mw_err *err)
{
	struct exp_upd_arg *a = p;
	int rc = exp_require_active(c, a->id, NULL, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_EXP_BY_NAME, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->name);
	bool taken = sqlite3_step(st) == SQLITE_ROW &&
		     strcmp(a->id, sqi_col_text(st, 0) ? sqi_col_text(st, 0) : "");
	sqlite3_reset(st);
	if (taken)
		return name_taken(a->name, err);
	if (!(st = sqi_prep(c, SQL_EXP_RENAME, err)))
		return -err->code;
	sqi_bind_text(st, 1, a->name);
	sqlite3_bind_int64(st, 2, a->now);
	sqlite3_bind_int64(st, 3, strtoll(a->id, NULL, 10));
	return sqi_step_done(c, st, err);
}

static int sq_exp_rename(struct mw_store *store, const char *id, const char *name, int64_t now,
			 struct mw_err *err)
{
	struct exp_upd_arg a = {.id = id, .name = name, .now = now};
	return sqi_submit(store, job_exp_rename, &a, err);
}

static const char SQL_EXP_STAGE[] =
	"UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?";
static const char SQL_EXP_RUNS_DELETE[] =
	"UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ?"
	" WHERE experiment_id = ? AND lifecycle_stage = 'active'";
static const char SQL_EXP_RUNS_RESTORE[] =
	"UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL"
	" WHERE experiment_id = ? AND lifecycle_stage = 'deleted'";

static int job_exp_set_deleted(struct conn *c, void *p, struct mw_err *err)
{
	struct exp_upd_arg *a = p;
	int64_t id;
	if (!parse_exp_id(a->id, &id))
		return exp_not_found(a->id, err);
	sqlite3_stmt *st = sqi_prep(c, SQL_EXP_STATE, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, id);
	bool found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	if (!found)
		return exp_not_found(a->id, err);
	if (!(st = sqi_prep(c, SQL_EXP_STAGE, err)))
		return -err->code;
	sqi_bind_text(st, 1, a->flag ? "deleted" : "active");
	sqlite3_bind_int64(st, 2, a->now);
	sqlite3_bind_int64(st, 3, id);
	int rc = sqi_step_done(c, st, err);
	if (rc)
		return rc;
	if (!(st = sqi_prep(c, a->flag ? SQL_EXP_RUNS_DELETE : SQL_EXP_RUNS_RESTORE, err)))
		return -err->code;
	if (a->flag) {
		sqlite3_bind_int64(st, 1, a->now);
		sqlite3_bind_int64(st, 2, id);
	} else {
		sqlite3_bind_int64(st, 1, id);
	}
	return sqi_step_done(c, st, err);
}

static int sq_exp_set_deleted(struct mw_store *store, const char *id, bool del, int64_t now,
			      struct mw_err *err)
{
	struct exp_upd_arg a = {.id = id, .flag = del, .now = now};
	return sqi_submit(store, job_exp_set_deleted, &a, err);
}

static int job_exp_set_tag(struct conn *c, void *p, struct mw_err *err)
{
	struct exp_upd_arg *a = p;
	int rc = exp_require_active(c, a->id, NULL, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_EXP_TAG_SET, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, strtoll(a->id, NULL, 10));
	sqi_bind_text(st, 2, a->key);
	sqi_bind_text(st, 3, a->value);
	return sqi_step_done(c, st, err);
}

static int sq_exp_set_tag(struct mw_store *store, const char *id, const char *k, const char *v,
			  struct mw_err *err)
{
	struct exp_upd_arg a = {.id = id, .key = k, .value = v};
	return sqi_submit(store, job_exp_set_tag, &a, err);
}

static const char SQL_EXP_TAG_DEL[] =
	"DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?";

static int job_exp_delete_tag(struct conn *c, void *p, struct mw_err *err)
{
	struct exp_upd_arg *a = p;
	int rc = exp_require_active(c, a->id, NULL, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_EXP_TAG_DEL, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, strtoll(a->id, NULL, 10));
	sqi_bind_text(st, 2, a->key);
	if ((rc = sqi_step_done(c, st, err)))
		return rc;
	if (!sqlite3_changes(c->db))
		return mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_TAG,
				    "experiment %s has no tag '%.200s'", a->id, a->key);
	return 0;
}

static int sq_exp_delete_tag(struct mw_store *store, const char *id, const char *k,
			     struct mw_err *err)
{
	struct exp_upd_arg a = {.id = id, .key = k};
	return sqi_submit(store, job_exp_delete_tag, &a, err);
}

/* ================================================================ runs: writes */

static const char SQL_RUN_INSERT[] =
	"INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time,"
	" end_time, artifact_uri, lifecycle_stage) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, 'active')";
static const char SQL_TAG_SET[] =
	"INSERT INTO tags (run_uuid, key, value) VALUES (?, ?, ?)"
	" ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value";

static int tag_set(struct conn *c, const char *run, const char *k, const char *v,
		   struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_TAG_SET, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, run);
	sqi_bind_text(st, 2, k);
	sqi_bind_text(st, 3, v ? v : "");
	return sqi_step_done(c, st, err);
}

struct run_create_arg {
	const struct mw_run_create *rc;
	struct mw_arena *a;
	struct mw_run *out;
};

static int job_run_create(struct conn *c, void *p, struct mw_err *err)
{
	struct run_create_arg *a = p;
	const struct mw_run_create *r = a->rc;
	char *loc = NULL;
	int rc = exp_require_active(c, r->experiment_id, &loc, err);
	if (rc)
		return rc;
	char *uri = join_one_slash(loc, r->artifact_path ? r->artifact_path : "");
	free(loc);
	sqlite3_stmt *st = sqi_prep(c, SQL_RUN_INSERT, err);
	if (!st) {
		free(uri);
		return -err->code;
	}
	sqi_bind_text(st, 1, r->run_id);
	sqi_bind_text(st, 2, r->run_name);
	sqlite3_bind_int64(st, 3, strtoll(r->experiment_id, NULL, 10));
	sqi_bind_text(st, 4, r->user_id);
	sqi_bind_text(st, 5, r->status);
	sqlite3_bind_int64(st, 6, r->start_time);
	sqi_bind_text(st, 7, uri);
	rc = sqi_step_done(c, st, err);
	free(uri);
	for (size_t i = 0; !rc && i < r->ntags; i++)
		rc = tag_set(c, r->run_id, r->tags[i].key, r->tags[i].value, err);
	if (!rc)
		rc = run_load(c, r->run_id, a->a, a->out, err);
	return rc;
}

static int sq_run_create(struct mw_store *store, const struct mw_run_create *r, struct mw_arena *ar,
			 struct mw_run *out, struct mw_err *err)
{
	if (!r->status)
		return mw_err_set(err, MW_E_INVALID, "a new run needs a status");
	struct run_create_arg a = {r, ar, out};
	return sqi_submit(store, job_run_create, &a, err);
}

static int sq_run_get(struct mw_store *store, const char *id, struct mw_arena *a,
		      struct mw_run *out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = run_load(c, id, a, out, err);
	sqi_rd_end(store, c);
	return rc;
}

struct run_upd_arg {
	const char *id, *status, *name, *key;
	const struct mw_kv *tags;
	size_t ntags;
	int64_t end;
	bool flag;
	struct mw_arena *a;
	struct mw_run_info *out;
};

static const char SQL_RUN_UPD_STATUS[] = "UPDATE runs SET status = ? WHERE run_uuid = ?";
static const char SQL_RUN_UPD_END[] = "UPDATE runs SET end_time = ? WHERE run_uuid = ?";
static const char SQL_RUN_UPD_NAME[] = "UPDATE runs SET name = ? WHERE run_uuid = ?";

static int run_set_col(struct conn *c, const char *sql, const char *id, const char *s, int64_t v,
		       struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, sql, err);
	if (!st)
		return -err->code;
	if (s)
		sqi_bind_text(st, 1, s);
	else
		sqlite3_bind_int64(st, 1, v);
	sqi_bind_text(st, 2, id);
	return sqi_step_done(c, st, err);
}

static int job_run_update(struct conn *c, void *p, struct mw_err *err)
{
	struct run_upd_arg *a = p;
	int rc = run_require_active(c, a->id, err);
	if (!rc && a->status)
		rc = run_set_col(c, SQL_RUN_UPD_STATUS, a->id, a->status, 0, err);
	if (!rc && a->end >= 0)
		rc = run_set_col(c, SQL_RUN_UPD_END, a->id, NULL, a->end, err);
	if (!rc && a->name)
		rc = run_set_col(c, SQL_RUN_UPD_NAME, a->id, a->name, 0, err);
	for (size_t i = 0; !rc && i < a->ntags; i++)
		rc = tag_set(c, a->id, a->tags[i].key, a->tags[i].value, err);
	if (!rc)
		rc = run_info_load(c, a->id, a->a, a->out, err);
	return rc;
}

static int sq_run_update(struct mw_store *store, const char *id, const char *status, int64_t end,
			 const char *name, const struct mw_kv *tags, size_t ntags,
			 struct mw_arena *ar, struct mw_run_info *out, struct mw_err *err)
{
	struct run_upd_arg a = {.id = id,
				.status = status,
				.end = end,
				.name = name,
				.tags = tags,
				.ntags = ntags,
				.a = ar,
				.out = out};
	return sqi_submit(store, job_run_update, &a, err);
}

static const char SQL_RUN_STAGE[] =
	"UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?";

static int job_run_set_deleted(struct conn *c, void *p, struct mw_err *err)
{
	struct run_upd_arg *a = p;
	/* deleting is for active runs only (MLflow refuses a second delete);
	 * restoring a run that is not deleted changes nothing */
	int rc = a->flag ? run_require_active(c, a->id, err) : run_exists(c, a->id, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_RUN_STAGE, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->flag ? "deleted" : "active");
	if (a->flag)
		sqlite3_bind_int64(st, 2, a->end);
	else
		sqlite3_bind_null(st, 2);
	sqi_bind_text(st, 3, a->id);
	return sqi_step_done(c, st, err);
}

static int sq_run_set_deleted(struct mw_store *store, const char *id, bool del, int64_t now,
			      struct mw_err *err)
{
	struct run_upd_arg a = {.id = id, .flag = del, .end = now};
	return sqi_submit(store, job_run_set_deleted, &a, err);
}

static const char SQL_PARAM_GET[] = "SELECT value FROM params WHERE run_uuid = ? AND key = ?";
static const char SQL_PARAM_INSERT[] =
	"INSERT OR IGNORE INTO params (run_uuid, key, value) VALUES (?, ?, ?)";
static const char SQL_METRIC_INSERT[] =
	"INSERT OR IGNORE INTO metrics (run_uuid, key, step, timestamp, value, is_nan)"
	" VALUES (?, ?, ?, ?, ?, ?)";
static const char SQL_LM_METRIC_INSERT[] =
	"INSERT OR IGNORE INTO logged_model_metrics (model_id, key, step, timestamp, value, is_nan,"
	" run_uuid, dataset_name, dataset_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
static const char SQL_LATEST_UPSERT[] =
	"INSERT INTO latest_metrics (run_uuid, key, value, is_nan, timestamp, step)"
	" VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_uuid, key) DO UPDATE SET"
	" value = excluded.value, is_nan = excluded.is_nan, timestamp = excluded.timestamp,"
	" step = excluded.step WHERE (excluded.step, excluded.timestamp, excluded.value) >"
	" (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)";

struct batch_arg {
	const char *id;
	const struct mw_metric *m;
	size_t nm;
	const struct mw_kv *p;
	size_t np;
	const struct mw_kv *t;
	size_t nt;
	const char *run_name;
};

static double stored_value(double v)
{
	return isnan(v) ? 0.0 : v;
}

/* Order metrics by (key, step, timestamp, value) to find each key's latest. */
static int metric_cmp(const void *a, const void *b, void *base)
{
	const struct mw_metric *m = base;
	const struct mw_metric *x = &m[*(const size_t *)a];
	const struct mw_metric *y = &m[*(const size_t *)b];
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	if (x->timestamp != y->timestamp)
		return x->timestamp < y->timestamp ? -1 : 1;
	double xv = stored_value(x->value), yv = stored_value(y->value);
	return xv < yv ? -1 : xv > yv;
}

static int job_log_batch(struct conn *c, void *p, struct mw_err *err)
{
	struct batch_arg *a = p;
	int rc = run_require_active(c, a->id, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < a->np; i++) {
		sqlite3_stmt *st = sqi_prep(c, SQL_PARAM_GET, err);
		if (!st)
			return -err->code;
		sqi_bind_text(st, 1, a->id);
		sqi_bind_text(st, 2, a->p[i].key);
		if (sqlite3_step(st) == SQLITE_ROW) {
			const char *old = sqi_col_text(st, 0);
			if (strcmp(old ? old : "", a->p[i].value ? a->p[i].value : "")) {
				rc = mw_store_err(err, MW_E_CONFLICT, MW_STORE_PARAM,
						  "param '%.250s' of run %s already has another value",
						  a->p[i].key, a->id);
				sqlite3_reset(st);
				return rc;
			}
			sqlite3_reset(st);
			continue;
		}
		sqlite3_reset(st);
		if (!(st = sqi_prep(c, SQL_PARAM_INSERT, err)))
			return -err->code;
		sqi_bind_text(st, 1, a->id);
		sqi_bind_text(st, 2, a->p[i].key);
		sqi_bind_text(st, 3, a->p[i].value ? a->p[i].value : "");
		if ((rc = sqi_step_done(c, st, err)))
			return rc;
	}
	for (size_t i = 0; i < a->nt; i++)
		if ((rc = tag_set(c, a->id, a->t[i].key, a->t[i].value, err)))
			return rc;
	if (a->run_name && (rc = run_set_col(c, SQL_RUN_UPD_NAME, a->id, a->run_name, 0, err)))
		return rc;
	if (!a->nm)
		return 0;
	sqlite3_stmt *st = sqi_prep(c, SQL_METRIC_INSERT, err);
	if (!st)
		return -err->code;
	for (size_t i = 0; i < a->nm; i++) {
		const struct mw_metric *m = &a->m[i];
		sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, m->key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, m->step);
		sqlite3_bind_int64(st, 4, m->timestamp);
		sqlite3_bind_double(st, 5, stored_value(m->value));
		sqlite3_bind_int(st, 6, isnan(m->value) ? 1 : 0);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = sqi_sqerr(c, err, "log metric");
			sqlite3_reset(st);
			return rc;
		}
		sqlite3_reset(st);
		if (m->model_id) {
			/* a metric of a logged model (MLflow 3) is also kept with the model */
			sqlite3_stmt *lst = sqi_prep(c, SQL_LM_METRIC_INSERT, err);
			if (!lst)
				return -err->code;
			sqi_bind_text(lst, 1, m->model_id);
			sqi_bind_text(lst, 2, m->key);
			sqlite3_bind_int64(lst, 3, m->step);
			sqlite3_bind_int64(lst, 4, m->timestamp);
			sqlite3_bind_double(lst, 5, stored_value(m->value));
			sqlite3_bind_int(lst, 6, isnan(m->value) ? 1 : 0);
			sqi_bind_text(lst, 7, a->id);
			sqi_bind_text(lst, 8, m->dataset_name ? m->dataset_name : "");
			sqi_bind_text(lst, 9, m->dataset_digest ? m->dataset_digest : "");
			if ((rc = sqi_step_done(c, lst, err)))
				return rc;
			st = sqi_prep(c, SQL_METRIC_INSERT, err);
			if (!st)
				return -err->code;
		}
	}
	/* the latest point per key in this batch, then one upsert per key */
	size_t *idx = mw_xmalloc(a->nm * sizeof *idx);
	for (size_t i = 0; i < a->nm; i++)
		idx[i] = i;
	qsort_r(idx, a->nm, sizeof *idx, metric_cmp, (void *)a->m);
	if (!(st = sqi_prep(c, SQL_LATEST_UPSERT, err))) {
		free(idx);
		return -err->code;
	}
	for (size_t k = 0; k < a->nm && !rc; k++) {
		if (k + 1 < a->nm && !strcmp(a->m[idx[k]].key, a->m[idx[k + 1]].key))
			continue;
		const struct mw_metric *m = &a->m[idx[k]];
		sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, m->key, -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 3, stored_value(m->value));
		sqlite3_bind_int(st, 4, isnan(m->value) ? 1 : 0);
		sqlite3_bind_int64(st, 5, m->timestamp);
		sqlite3_bind_int64(st, 6, m->step);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = sqi_sqerr(c, err, "log metric");
		sqlite3_reset(st);
	}
	free(idx);
	return rc;
}

static int sq_run_log_batch(struct mw_store *store, const char *id, const struct mw_metric *m,
			    size_t nm, const struct mw_kv *p, size_t np, const struct mw_kv *t,
			    size_t nt, const char *run_name, struct mw_err *err)
{
	struct batch_arg a = {id, m, nm, p, np, t, nt, run_name};
	return sqi_submit(store, job_log_batch, &a, err);
}

static const char SQL_TAG_DEL[] = "DELETE FROM tags WHERE run_uuid = ? AND key = ?";

static int job_run_delete_tag(struct conn *c, void *p, struct mw_err *err)
{
	struct run_upd_arg *a = p;
	int rc = run_require_active(c, a->id, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_TAG_DEL, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->id);
	sqi_bind_text(st, 2, a->key);
	if ((rc = sqi_step_done(c, st, err)))
		return rc;
	if (!sqlite3_changes(c->db))
		return mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_TAG, "run %s has no tag '%.200s'",
				    a->id, a->key);
	return 0;
}

static int sq_run_delete_tag(struct mw_store *store, const char *id, const char *k,
			     struct mw_err *err)
{
	struct run_upd_arg a = {.id = id, .key = k};
	return sqi_submit(store, job_run_delete_tag, &a, err);
}

struct inputs_arg {
	const char *id;
	const struct mw_dataset_input *d;
	size_t nd;
	const struct mw_model_ref *m;
	size_t nm;
};

static const char SQL_RUN_EXP[] = "SELECT experiment_id FROM runs WHERE run_uuid = ?";
static const char SQL_DATASET_FIND[] =
	"SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?";
static const char SQL_DATASET_INSERT[] =
	"INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, source_type, source,"
	" schema, profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
static const char SQL_INPUT_FIND[] =
	"SELECT input_uuid FROM inputs WHERE source_type = ? AND source_id = ?"
	" AND destination_type = 'RUN' AND destination_id = ?";
static const char SQL_INPUT_INSERT[] =
	"INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id)"
	" VALUES (?, ?, ?, 'RUN', ?)";
static const char SQL_INPUT_TAG_SET[] =
	"INSERT INTO input_tags (input_uuid, key, value) VALUES (?, ?, ?)"
	" ON CONFLICT (input_uuid, key) DO UPDATE SET value = excluded.value";

/* Find or create the input row linking source to the run; id into out[33]. */
static int input_link(struct conn *c, const char *type, const char *source, const char *run,
		      char out[33], struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_INPUT_FIND, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, type);
	sqi_bind_text(st, 2, source);
	sqi_bind_text(st, 3, run);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(out, 33, "%s", sqi_col_text(st, 0));
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	int rc = mw_id_hex32(out, err);
	if (rc)
		return rc;
	if (!(st = sqi_prep(c, SQL_INPUT_INSERT, err)))
		return -err->code;
	sqi_bind_text(st, 1, out);
	sqi_bind_text(st, 2, type);
	sqi_bind_text(st, 3, source);
	sqi_bind_text(st, 4, run);
	return sqi_step_done(c, st, err);
}

static int lm_exists(struct conn *c, const char *id, struct mw_err *err);

/* Every logged model a run names as input or output exists (and is not
 * deleted), checked in the job that links them: MW_E_NOT_FOUND, detail
 * MW_STORE_LOGGED_MODEL, and nothing of the request is written. */
static int models_exist(struct conn *c, const struct mw_model_ref *m, size_t n, struct mw_err *err)
{
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = lm_exists(c, m[i].model_id, err);
	return rc;
}

static int job_log_inputs(struct conn *c, void *p, struct mw_err *err)
{
	struct inputs_arg *a = p;
	int rc = run_require_active(c, a->id, err);
	if (!rc)
		rc = models_exist(c, a->m, a->nm, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_RUN_EXP, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->id);
	int64_t exp = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	for (size_t i = 0; i < a->nd && !rc; i++) {
		const struct mw_dataset_input *d = &a->d[i];
		char duuid[33];
		if (!(st = sqi_prep(c, SQL_DATASET_FIND, err)))
			return -err->code;
		sqlite3_bind_int64(st, 1, exp);
		sqi_bind_text(st, 2, d->name);
		sqi_bind_text(st, 3, d->digest);
		bool found = sqlite3_step(st) == SQLITE_ROW;
		if (found)
			snprintf(duuid, sizeof duuid, "%s", sqi_col_text(st, 0));
		sqlite3_reset(st);
		if (!found) {
			if ((rc = mw_id_hex32(duuid, err)))
				return rc;
			if (!(st = sqi_prep(c, SQL_DATASET_INSERT, err)))
				return -err->code;
			sqi_bind_text(st, 1, duuid);
			sqlite3_bind_int64(st, 2, exp);
			sqi_bind_text(st, 3, d->name);
			sqi_bind_text(st, 4, d->digest);
			sqi_bind_text(st, 5, d->source_type);
			sqi_bind_text(st, 6, d->source);
			sqi_bind_text(st, 7, d->schema);
			sqi_bind_text(st, 8, d->profile);
			if ((rc = sqi_step_done(c, st, err)))
				return rc;
		}
		char iuuid[33];
		if ((rc = input_link(c, "DATASET", duuid, a->id, iuuid, err)))
			return rc;
		for (size_t t = 0; t < d->ntags && !rc; t++) {
			if (!(st = sqi_prep(c, SQL_INPUT_TAG_SET, err)))
				return -err->code;
			sqi_bind_text(st, 1, iuuid);
			sqi_bind_text(st, 2, d->tags[t].key);
			sqi_bind_text(st, 3, d->tags[t].value);
			rc = sqi_step_done(c, st, err);
		}
	}
	for (size_t i = 0; i < a->nm && !rc; i++) {
		char iuuid[33];
		rc = input_link(c, "MODEL", a->m[i].model_id, a->id, iuuid, err);
	}
	return rc;
}

static int sq_run_log_inputs(struct mw_store *store, const char *id,
			     const struct mw_dataset_input *d, size_t nd,
			     const struct mw_model_ref *m, size_t nm, struct mw_err *err)
{
	struct inputs_arg a = {id, d, nd, m, nm};
	return sqi_submit(store, job_log_inputs, &a, err);
}

static const char SQL_OUTPUT_SET[] =
	"INSERT INTO run_outputs (run_uuid, model_id, step) VALUES (?, ?, ?)"
	" ON CONFLICT (run_uuid, model_id) DO UPDATE SET step = excluded.step";

static int job_log_outputs(struct conn *c, void *p, struct mw_err *err)
{
	struct inputs_arg *a = p;
	int rc = run_require_active(c, a->id, err);
	if (!rc)
		rc = models_exist(c, a->m, a->nm, err);
	for (size_t i = 0; i < a->nm && !rc; i++) {
		sqlite3_stmt *st = sqi_prep(c, SQL_OUTPUT_SET, err);
		if (!st)
			return -err->code;
		sqi_bind_text(st, 1, a->id);
		sqi_bind_text(st, 2, a->m[i].model_id);
		sqlite3_bind_int64(st, 3, a->m[i].step);
		rc = sqi_step_done(c, st, err);
	}
	return rc;
}

static int sq_run_log_outputs(struct mw_store *store, const char *id, const struct mw_model_ref *m,
			      size_t nm, struct mw_err *err)
{
	struct inputs_arg a = {.id = id, .m = m, .nm = nm};
	return sqi_submit(store, job_log_outputs, &a, err);
}

/* ================================================================ runs: search */

static const char *run_attr_col(const char *k)
{
	if (!strcmp(k, "run_id"))
		return "r.run_uuid";
	if (!strcmp(k, "run_name"))
		return "r.name";
	if (!strcmp(k, "status"))
		return "r.status";
	if (!strcmp(k, "artifact_uri"))
		return "r.artifact_uri";
	if (!strcmp(k, "user_id"))
		return "r.user_id";
	if (!strcmp(k, "start_time"))
		return "r.start_time";
	if (!strcmp(k, "end_time"))
		return "r.end_time";
	if (!strcmp(k, "lifecycle_stage"))
		return "r.lifecycle_stage";
	return NULL;
}

static const char *dataset_col(const char *k)
{
	if (!strcmp(k, "name"))
		return "d.name";
	if (!strcmp(k, "digest"))
		return "d.digest";
	return NULL;
}

static bool is_range_cmp(enum mw_cmp c)
{
	return c == MW_CMP_EQ || c == MW_CMP_GT || c == MW_CMP_GE || c == MW_CMP_LT ||
	       c == MW_CMP_LE;
}

/* A run search row (its id in column 0) as the whole run; a run that cannot
 * be read is skipped. */
static bool run_by_id(struct conn *c, sqlite3_stmt *st, struct mw_arena *a, void *slot,
		      struct mw_err *err)
{
	return !run_load(c, sqi_col_text(st, 0), a, slot, err);
}

static int sq_run_search(struct mw_store *store, const char *const *exps, size_t nexp,
			 const struct mw_filter *f, const struct mw_order *o, size_t no,
			 enum mw_view v, const struct mw_page *p, struct mw_arena *a,
			 struct mw_run **out, size_t *n, bool *more, struct mw_err *err)
{
	struct qb q;
	sqi_qb_init(&q);
	QS(&q, "SELECT r.run_uuid FROM runs r");
	/* A metric that is filtered with a range comparison and also ordered on is
	 * joined once, so SQLite can walk the (key, value) index in order. */
	const char *joined_metric = NULL;
	int joined_clause = -1;
	if (no > 0 && o[0].kind == MW_KEY_METRIC) {
		for (size_t i = 0; f && i < f->n; i++)
			if (f->c[i].kind == MW_KEY_METRIC && !strcmp(f->c[i].key, o[0].key) &&
			    is_range_cmp(f->c[i].cmp)) {
				joined_metric = o[0].key;
				joined_clause = (int)i;
				break;
			}
	}
	if (joined_metric) {
		QS(&q, " JOIN latest_metrics jm ON jm.run_uuid = r.run_uuid AND jm.key = ");
		sqi_qb_text(&q, joined_metric);
		QS(&q, " AND jm.is_nan = 0 AND ");
		sqi_qb_cmp(&q, "jm.value", &f->c[joined_clause]);
	}
	/* LEFT JOINs for the other order keys */
	for (size_t i = 0; i < no; i++) {
		if (i == 0 && joined_metric)
			continue;
		const char *tbl = o[i].kind == MW_KEY_METRIC  ? "latest_metrics"
				  : o[i].kind == MW_KEY_PARAM ? "params"
				  : o[i].kind == MW_KEY_TAG   ? "tags"
							      : NULL;
		if (!tbl)
			continue;
		sqi_qf(&q, " LEFT JOIN %s o%zu ON o%zu.run_uuid = r.run_uuid AND o%zu.key = ", tbl,
		       i, i, i);
		sqi_qb_text(&q, o[i].key);
	}
	QS(&q, " WHERE r.experiment_id IN (");
	for (size_t i = 0; i < nexp; i++) {
		if (i)
			QS(&q, ", ");
		int64_t id;
		sqi_qb_int(&q, mw_parse_int64(exps[i], &id) ? -1 : id);
	}
	QS(&q, ")");
	sqi_qb_view(&q, "r.lifecycle_stage", v);
	for (size_t i = 0; f && i < f->n; i++) {
		if ((int)i == joined_clause)
			continue;
		const struct mw_clause *cl = &f->c[i];
		QS(&q, " AND ");
		switch (cl->kind) {
		case MW_KEY_ATTR: {
			const char *col = run_attr_col(cl->key);
			sqi_qb_cmp(&q, col ? col : "NULL", cl);
			break;
		}
		case MW_KEY_METRIC:
			QS(&q,
			   "EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_uuid = r.run_uuid"
			   " AND m.key = ");
			sqi_qb_text(&q, cl->key);
			QS(&q, cl->cmp == MW_CMP_NE ? " AND " : " AND m.is_nan = 0 AND ");
			sqi_qb_cmp(&q, "m.value", cl);
			QS(&q, ")");
			break;
		case MW_KEY_PARAM:
		case MW_KEY_TAG:
			sqi_qf(&q,
			       "EXISTS (SELECT 1 FROM %s x WHERE x.run_uuid = r.run_uuid AND x.key = ",
			       cl->kind == MW_KEY_PARAM ? "params" : "tags");
			sqi_qb_text(&q, cl->key);
			QS(&q, " AND ");
			sqi_qb_cmp(&q, "x.value", cl);
			QS(&q, ")");
			break;
		case MW_KEY_DATASET:
			QS(&q, "EXISTS (SELECT 1 FROM inputs i JOIN datasets d ON d.dataset_uuid ="
			       " i.source_id");
			if (!strcmp(cl->key, "context"))
				QS(&q, " JOIN input_tags it ON it.input_uuid = i.input_uuid AND"
				       " it.key = 'mlflow.data.context'");
			QS(&q, " WHERE i.destination_type = 'RUN' AND i.destination_id = r.run_uuid"
			       " AND i.source_type = 'DATASET' AND ");
			sqi_qb_cmp(&q,
				   !strcmp(cl->key, "context") ? "it.value"
				   : dataset_col(cl->key)      ? dataset_col(cl->key)
							       : "NULL",
				   cl);
			QS(&q, ")");
			break;
		}
	}
	QS(&q, " ORDER BY ");
	bool has_start = false, has_id = false;
	for (size_t i = 0; i < no; i++) {
		char col[32];
		if (i == 0 && joined_metric) {
			sqi_qf(&q, "jm.value %s, ", o[i].asc ? "ASC" : "DESC");
			continue;
		}
		switch (o[i].kind) {
		case MW_KEY_ATTR: {
			const char *c = run_attr_col(o[i].key);
			if (!c)
				continue;
			if (!strcmp(o[i].key, "start_time"))
				has_start = true;
			if (!strcmp(o[i].key, "run_id"))
				has_id = true;
			sqi_qb_order_col(&q, c, NULL, o[i].asc);
			break;
		}
		case MW_KEY_METRIC:
			snprintf(col, sizeof col, "o%zu.value", i);
			char nan[32];
			snprintf(nan, sizeof nan, "o%zu.is_nan", i);
			sqi_qb_order_col(&q, col, nan, o[i].asc);
			break;
		case MW_KEY_PARAM:
		case MW_KEY_TAG:
			snprintf(col, sizeof col, "o%zu.value", i);
			sqi_qb_order_col(&q, col, NULL, o[i].asc);
			break;
		default:
			continue;
		}
		QS(&q, ", ");
	}
	if (!has_start)
		QS(&q, "r.start_time DESC, ");
	QS(&q, has_id ? "1" : "r.run_uuid ASC");
	sqi_qb_page(&q, p);
	return sqi_qb_rows(store, &q, p, a, sizeof **out, run_by_id, (void **)out, n, more, err);
}

/* ================================================================ metric history */

static const char SQL_HISTORY[] =
	"SELECT key, value, is_nan, timestamp, step FROM metrics WHERE run_uuid = ? AND key = ?"
	" ORDER BY step, timestamp, value LIMIT ? OFFSET ?";

static int sq_metric_history(struct mw_store *store, const char *id, const char *key,
			     const struct mw_page *p, struct mw_arena *a, struct mw_metric **out,
			     size_t *n, bool *more, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = run_exists(c, id, err);
	sqlite3_stmt *st = NULL;
	if (!rc && !(st = sqi_prep(c, SQL_HISTORY, err)))
		rc = -err->code;
	if (!rc) {
		sqi_bind_text(st, 1, id);
		sqi_bind_text(st, 2, key);
		sqlite3_bind_int64(st, 3, p->max_results + 1);
		sqlite3_bind_int64(st, 4, p->offset);
		struct mw_store_vec v = {0};
		*more = false;
		while (sqlite3_step(st) == SQLITE_ROW) {
			if ((int64_t)v.n == p->max_results) {
				*more = true;
				break;
			}
			struct mw_metric *m = mw_store_vec_push(&v, a, sizeof **out);
			metric_cols(st, 0, a, m);
			int t = p->take ? p->take(p->ud, m, p->offset + (int64_t)v.n - 1, err) : 0;
			if (t) { /* the answer is full (this point starts the next page), or failed */
				v.n--;
				*more = t == MW_PAGE_FULL;
				rc = t == MW_PAGE_FULL ? 0 : t;
				break;
			}
		}
		sqlite3_reset(st);
		*out = v.v;
		*n = v.n;
	}
	sqi_rd_end(store, c);
	return rc;
}

static const char SQL_STEPS[] =
	"SELECT DISTINCT step FROM metrics WHERE run_uuid = ? AND key = ? AND step BETWEEN ? AND ?"
	" ORDER BY step";
static const char SQL_RANGE[] =
	"SELECT key, value, is_nan, timestamp, step FROM metrics WHERE run_uuid = ? AND key = ?"
	" AND step BETWEEN ? AND ? ORDER BY step, timestamp, value";

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Append to v the points of run id for key with lo <= step <= hi: every one
 * without a pick list; with one, the run's first step, the picked steps and
 * (added at the end when sampling skipped it) the run's last step. */
static int range_points(struct conn *c, const char *id, const char *key, int64_t lo, int64_t hi,
			const int64_t *pick, size_t npick, struct mw_arena *a,
			struct mw_store_vec *v, struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_RANGE, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, id);
	sqi_bind_text(st, 2, key);
	sqlite3_bind_int64(st, 3, lo);
	sqlite3_bind_int64(st, 4, hi);
	size_t first = v->n;
	int64_t last_step = 0;
	bool any = false;
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t step = sqlite3_column_int64(st, 4);
		bool is_first = !any || step == ((struct mw_metric *)v->v)[first].step;
		any = true;
		last_step = step;
		if (pick && !is_first && !bsearch(&step, pick, npick, sizeof *pick, cmp_i64))
			continue;
		struct mw_metric *m = mw_store_vec_push(v, a, sizeof *m);
		metric_cols(st, 0, a, m);
		m->run_id = id;
	}
	sqlite3_reset(st);
	if (pick && any &&
	    (v->n == first || ((struct mw_metric *)v->v)[v->n - 1].step != last_step))
		return range_points(c, id, key, last_step, last_step, NULL, 0, a, v, err);
	return 0;
}

/* Like MLflow: the steps of all runs together are sampled evenly (at most
 * max of them), and every run keeps its own first and last step. */
static int sq_metric_history_sampled(struct mw_store *store, const char *const *ids, size_t nids,
				     const char *key, bool has_range, int64_t lo_in, int64_t hi_in,
				     int64_t max, struct mw_arena *a, struct mw_metric **out,
				     size_t *n, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int64_t lo = has_range ? lo_in : INT64_MIN, hi = has_range ? hi_in : INT64_MAX;
	size_t ns = 0, as = 0;
	int64_t *steps = NULL;
	int rc = 0;
	for (size_t r = 0; r < nids && !rc; r++) {
		if ((rc = run_exists(c, ids[r], err)))
			break;
		sqlite3_stmt *st = sqi_prep(c, SQL_STEPS, err);
		if (!st) {
			rc = -err->code;
			break;
		}
		sqi_bind_text(st, 1, ids[r]);
		sqi_bind_text(st, 2, key);
		sqlite3_bind_int64(st, 3, lo);
		sqlite3_bind_int64(st, 4, hi);
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (ns == as) {
				as = as ? as * 2 : 256;
				steps = mw_xrealloc(steps, as * sizeof *steps);
			}
			steps[ns++] = sqlite3_column_int64(st, 0);
		}
		sqlite3_reset(st);
	}
	struct mw_store_vec v = {0};
	if (!rc && ns) {
		qsort(steps, ns, sizeof *steps, cmp_i64);
		size_t u = 0;
		for (size_t i = 0; i < ns; i++)
			if (!u || steps[u - 1] != steps[i])
				steps[u++] = steps[i];
		ns = u;
		/* keep every step when they fit, else max evenly spaced ones */
		size_t want = (size_t)max < ns ? (size_t)max : ns, k = 0;
		int64_t *pick = mw_xmalloc((want ? want : 1) * sizeof *pick);
		for (size_t j = 0; j < want; j++) {
			size_t i = want == 1 ? 0
					     : (size_t)((double)j * (double)(ns - 1) /
								(double)(want - 1) +
							0.5);
			if (!k || pick[k - 1] != steps[i])
				pick[k++] = steps[i];
		}
		for (size_t r = 0; r < nids && !rc; r++)
			rc = range_points(c, mw_arena_strdup(a, ids[r]), key, lo, hi, pick, k, a,
					  &v, err);
		free(pick);
	}
	free(steps);
	sqi_rd_end(store, c);
	if (!rc) {
		*out = v.v;
		*n = v.n;
	}
	return rc;
}

static const char SQL_BULK[] =
	"SELECT key, value, is_nan, timestamp, step FROM metrics WHERE run_uuid = ? AND key = ?"
	" ORDER BY step, timestamp, value LIMIT ?";

static int sq_metric_history_bulk(struct mw_store *store, const char *const *ids, size_t nids,
				  const char *key, int64_t max, struct mw_arena *a,
				  struct mw_metric **out, size_t *n, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	struct mw_store_vec v = {0};
	int rc = 0;
	int64_t left = max;
	for (size_t r = 0; r < nids && left > 0; r++) {
		sqlite3_stmt *st = sqi_prep(c, SQL_BULK, err);
		if (!st) {
			rc = -err->code;
			break;
		}
		sqi_bind_text(st, 1, ids[r]);
		sqi_bind_text(st, 2, key);
		sqlite3_bind_int64(st, 3, left);
		const char *run = mw_arena_strdup(a, ids[r]);
		while (sqlite3_step(st) == SQLITE_ROW) {
			struct mw_metric *m = mw_store_vec_push(&v, a, sizeof *m);
			metric_cols(st, 0, a, m);
			m->run_id = run;
			left--;
		}
		sqlite3_reset(st);
	}
	sqi_rd_end(store, c);
	if (!rc) {
		*out = v.v;
		*n = v.n;
	}
	return rc;
}

/* ================================================================ logged models */

static const char SQL_LM_GET[] =
	"SELECT model_id, experiment_id, name, artifact_location, creation_timestamp_ms,"
	" last_updated_timestamp_ms, status, lifecycle_stage, model_type, source_run_id,"
	" status_message FROM logged_models WHERE model_id = ?";
static const char SQL_LM_TAGS[] =
	"SELECT key, value FROM logged_model_tags WHERE model_id = ? ORDER BY key";
static const char SQL_LM_PARAMS[] =
	"SELECT key, value FROM logged_model_params WHERE model_id = ? ORDER BY key";
static const char SQL_LM_METRICS[] =
	"SELECT key, value, is_nan, timestamp, step, run_uuid, nullif(dataset_name, ''),"
	" nullif(dataset_digest, '') FROM logged_model_metrics WHERE model_id = ?"
	" ORDER BY key, step, timestamp";

static int lm_not_found(const char *id, struct mw_err *err)
{
	return mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_LOGGED_MODEL,
			    "logged model '%.100s' does not exist", id);
}

static int lm_load(struct conn *c, const char *id, struct mw_arena *a, struct mw_logged_model *m,
		   struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_LM_GET, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW || strcmp(sqi_col_text(st, 7), "active")) {
		sqlite3_reset(st);
		return lm_not_found(id, err);
	}
	memset(m, 0, sizeof *m);
	m->model_id = sqi_col_dup(a, st, 0);
	m->experiment_id = fmt_id(a, sqlite3_column_int64(st, 1));
	m->name = sqi_col_dup(a, st, 2);
	m->artifact_uri = sqi_col_dup(a, st, 3);
	m->creation_timestamp_ms = sqlite3_column_int64(st, 4);
	m->last_updated_timestamp_ms = sqlite3_column_int64(st, 5);
	m->status = sqi_col_dup(a, st, 6);
	m->model_type = sqi_col_dup(a, st, 8);
	m->source_run_id = sqi_col_dup(a, st, 9);
	m->status_message = sqi_col_dup(a, st, 10);
	sqlite3_reset(st);
	id = m->model_id;
	int rc;
	if ((rc = sqi_kv_rows(c, SQL_LM_TAGS, id, 0, a, &m->tags, &m->ntags, err)) ||
	    (rc = sqi_kv_rows(c, SQL_LM_PARAMS, id, 0, a, &m->params, &m->nparams, err)))
		return rc;
	if (!(st = sqi_prep(c, SQL_LM_METRICS, err)))
		return -err->code;
	sqi_bind_text(st, 1, id);
	struct mw_store_vec v = {0};
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct mw_metric *mm = mw_store_vec_push(&v, a, sizeof *mm);
		metric_cols(st, 0, a, mm);
		mm->run_id = sqi_col_dup(a, st, 5);
		mm->dataset_name = sqi_col_dup(a, st, 6);
		mm->dataset_digest = sqi_col_dup(a, st, 7);
		mm->model_id = id;
	}
	sqlite3_reset(st);
	m->metrics = v.v;
	m->nmetrics = v.n;
	return 0;
}

static const char SQL_LM_INSERT[] =
	"INSERT INTO logged_models (model_id, experiment_id, name, artifact_location,"
	" creation_timestamp_ms, last_updated_timestamp_ms, status, lifecycle_stage, model_type,"
	" source_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)";
static const char SQL_LM_TAG_SET[] =
	"INSERT INTO logged_model_tags (model_id, key, value) VALUES (?, ?, ?)"
	" ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value";
static const char SQL_LM_PARAM_SET[] =
	"INSERT INTO logged_model_params (model_id, key, value) VALUES (?, ?, ?)"
	" ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value";

static int lm_kvs(struct conn *c, const char *sql, const char *id, const struct mw_kv *kv, size_t n,
		  struct mw_err *err)
{
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		sqlite3_stmt *st = sqi_prep(c, sql, err);
		if (!st)
			return -err->code;
		sqi_bind_text(st, 1, id);
		sqi_bind_text(st, 2, kv[i].key);
		sqi_bind_text(st, 3, kv[i].value ? kv[i].value : "");
		rc = sqi_step_done(c, st, err);
	}
	return rc;
}

struct lm_arg {
	const struct mw_lm_create *cr;
	const char *id, *status, *key, *sql;
	const struct mw_kv *kv;
	size_t nkv;
	int64_t now;
	struct mw_arena *a;
	struct mw_logged_model *out;
};

static int job_lm_create(struct conn *c, void *p, struct mw_err *err)
{
	struct lm_arg *a = p;
	const struct mw_lm_create *cr = a->cr;
	char *loc = NULL;
	int rc = exp_require_active(c, cr->experiment_id, &loc, err);
	if (rc)
		return rc;
	char *uri = join_one_slash(loc, cr->artifact_path ? cr->artifact_path : "");
	free(loc);
	sqlite3_stmt *st = sqi_prep(c, SQL_LM_INSERT, err);
	if (!st) {
		free(uri);
		return -err->code;
	}
	sqi_bind_text(st, 1, cr->model_id);
	sqlite3_bind_int64(st, 2, strtoll(cr->experiment_id, NULL, 10));
	sqi_bind_text(st, 3, cr->name);
	sqi_bind_text(st, 4, uri);
	sqlite3_bind_int64(st, 5, cr->now_ms);
	sqlite3_bind_int64(st, 6, cr->now_ms);
	sqi_bind_text(st, 7, cr->status);
	sqi_bind_text(st, 8, cr->model_type);
	sqi_bind_text(st, 9, cr->source_run_id);
	rc = sqi_step_done(c, st, err);
	free(uri);
	if (!rc)
		rc = lm_kvs(c, SQL_LM_TAG_SET, cr->model_id, cr->tags, cr->ntags, err);
	if (!rc)
		rc = lm_kvs(c, SQL_LM_PARAM_SET, cr->model_id, cr->params, cr->nparams, err);
	if (!rc)
		rc = lm_load(c, cr->model_id, a->a, a->out, err);
	return rc;
}

static int sq_lm_create(struct mw_store *store, const struct mw_lm_create *cr, struct mw_arena *ar,
			struct mw_logged_model *out, struct mw_err *err)
{
	if (!cr->status)
		return mw_err_set(err, MW_E_INVALID, "a new logged model needs a status");
	struct lm_arg a = {.cr = cr, .a = ar, .out = out};
	return sqi_submit(store, job_lm_create, &a, err);
}

static int sq_lm_get(struct mw_store *store, const char *id, struct mw_arena *a,
		     struct mw_logged_model *out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = lm_load(c, id, a, out, err);
	sqi_rd_end(store, c);
	return rc;
}

static const char SQL_LM_STATUS[] =
	"UPDATE logged_models SET status = ?, last_updated_timestamp_ms = ? WHERE model_id = ?";
static const char SQL_LM_TOUCH[] =
	"UPDATE logged_models SET last_updated_timestamp_ms = ? WHERE model_id = ?";
static const char SQL_LM_DELETE[] =
	"UPDATE logged_models SET lifecycle_stage = 'deleted' WHERE model_id = ?";
static const char SQL_LM_TAG_DEL[] = "DELETE FROM logged_model_tags WHERE model_id = ? AND key = ?";
static const char SQL_LM_ALIVE[] =
	"SELECT 1 FROM logged_models WHERE model_id = ? AND lifecycle_stage = 'active'";

static int lm_exists(struct conn *c, const char *id, struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_LM_ALIVE, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, id);
	int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : lm_not_found(id, err);
	sqlite3_reset(st);
	return rc;
}

static int job_lm_finalize(struct conn *c, void *p, struct mw_err *err)
{
	struct lm_arg *a = p;
	int rc = lm_exists(c, a->id, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_LM_STATUS, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->status);
	sqlite3_bind_int64(st, 2, a->now);
	sqi_bind_text(st, 3, a->id);
	if ((rc = sqi_step_done(c, st, err)))
		return rc;
	return lm_load(c, a->id, a->a, a->out, err);
}

static int sq_lm_finalize(struct mw_store *store, const char *id, const char *status, int64_t now,
			  struct mw_arena *ar, struct mw_logged_model *out, struct mw_err *err)
{
	struct lm_arg a = {.id = id, .status = status, .now = now, .a = ar, .out = out};
	return sqi_submit(store, job_lm_finalize, &a, err);
}

static int job_lm_delete(struct conn *c, void *p, struct mw_err *err)
{
	struct lm_arg *a = p;
	int rc = lm_exists(c, a->id, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_LM_DELETE, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->id);
	return sqi_step_done(c, st, err);
}

static int sq_lm_delete(struct mw_store *store, const char *id, struct mw_err *err)
{
	struct lm_arg a = {.id = id};
	return sqi_submit(store, job_lm_delete, &a, err);
}

static int job_lm_set_kv(struct conn *c, void *p, struct mw_err *err)
{
	struct lm_arg *a = p;
	int rc = lm_exists(c, a->id, err);
	if (!rc)
		rc = lm_kvs(c, a->sql, a->id, a->kv, a->nkv, err);
	if (!rc) {
		sqlite3_stmt *st = sqi_prep(c, SQL_LM_TOUCH, err);
		if (!st)
			return -err->code;
		sqlite3_bind_int64(st, 1, a->now ? a->now : mw_now_ms());
		sqi_bind_text(st, 2, a->id);
		rc = sqi_step_done(c, st, err);
	}
	return rc;
}

static int sq_lm_set_tags(struct mw_store *store, const char *id, const struct mw_kv *t, size_t n,
			  int64_t now, struct mw_err *err)
{
	struct lm_arg a = {.id = id, .sql = SQL_LM_TAG_SET, .kv = t, .nkv = n, .now = now};
	return sqi_submit(store, job_lm_set_kv, &a, err);
}

static int sq_lm_log_params(struct mw_store *store, const char *id, const struct mw_kv *p, size_t n,
			    struct mw_err *err)
{
	struct lm_arg a = {.id = id, .sql = SQL_LM_PARAM_SET, .kv = p, .nkv = n};
	return sqi_submit(store, job_lm_set_kv, &a, err);
}

static int job_lm_delete_tag(struct conn *c, void *p, struct mw_err *err)
{
	struct lm_arg *a = p;
	int rc = lm_exists(c, a->id, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_LM_TAG_DEL, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->id);
	sqi_bind_text(st, 2, a->key);
	if ((rc = sqi_step_done(c, st, err)))
		return rc;
	if (!sqlite3_changes(c->db))
		return mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_TAG,
				    "logged model '%.100s' has no tag '%.200s'", a->id, a->key);
	return 0;
}

static int sq_lm_delete_tag(struct mw_store *store, const char *id, const char *k,
			    struct mw_err *err)
{
	struct lm_arg a = {.id = id, .key = k};
	return sqi_submit(store, job_lm_delete_tag, &a, err);
}

/* A logged-model search row (its id in column 0) as the whole model. */
static bool lm_by_id(struct conn *c, sqlite3_stmt *st, struct mw_arena *a, void *slot,
		     struct mw_err *err)
{
	return !lm_load(c, sqi_col_text(st, 0), a, slot, err);
}

static const char *lm_attr_col(const char *k)
{
	if (!strcmp(k, "name"))
		return "l.name";
	if (!strcmp(k, "model_id"))
		return "l.model_id";
	if (!strcmp(k, "model_type"))
		return "l.model_type";
	if (!strcmp(k, "status"))
		return "l.status";
	if (!strcmp(k, "source_run_id"))
		return "l.source_run_id";
	if (!strcmp(k, "creation_timestamp"))
		return "l.creation_timestamp_ms";
	if (!strcmp(k, "last_updated_timestamp"))
		return "l.last_updated_timestamp_ms";
	return NULL;
}

static int sq_lm_search(struct mw_store *store, const char *const *exps, size_t nexp,
			const struct mw_filter *f, const struct mw_order *o, size_t no,
			const struct mw_page *p, struct mw_arena *a, struct mw_logged_model **out,
			size_t *n, bool *more, struct mw_err *err)
{
	struct qb q;
	sqi_qb_init(&q);
	QS(&q, "SELECT l.model_id FROM logged_models l");
	for (size_t i = 0; i < no; i++) {
		if (o[i].kind != MW_KEY_METRIC)
			continue;
		sqi_qf(&q,
		       " LEFT JOIN (SELECT model_id, max(value) AS value FROM logged_model_metrics"
		       " WHERE key = ");
		sqi_qb_text(&q, o[i].key);
		sqi_qf(&q,
		       " GROUP BY model_id) o%zu ON"
		       " o%zu.model_id = l.model_id",
		       i, i);
	}
	QS(&q, " WHERE l.lifecycle_stage = 'active' AND l.experiment_id IN (");
	for (size_t i = 0; i < nexp; i++) {
		if (i)
			QS(&q, ", ");
		int64_t id;
		sqi_qb_int(&q, mw_parse_int64(exps[i], &id) ? -1 : id);
	}
	QS(&q, ")");
	for (size_t i = 0; f && i < f->n; i++) {
		const struct mw_clause *cl = &f->c[i];
		QS(&q, " AND ");
		if (cl->kind == MW_KEY_ATTR) {
			const char *col = lm_attr_col(cl->key);
			sqi_qb_cmp(&q, col ? col : "NULL", cl);
		} else if (cl->kind == MW_KEY_METRIC) {
			QS(&q,
			   "EXISTS (SELECT 1 FROM logged_model_metrics m WHERE m.model_id = l.model_id"
			   " AND m.key = ");
			sqi_qb_text(&q, cl->key);
			QS(&q, " AND ");
			sqi_qb_cmp(&q, "m.value", cl);
			QS(&q, ")");
		} else {
			sqi_qf(&q,
			       "EXISTS (SELECT 1 FROM %s x WHERE x.model_id = l.model_id AND x.key = ",
			       cl->kind == MW_KEY_PARAM ? "logged_model_params"
							: "logged_model_tags");
			sqi_qb_text(&q, cl->key);
			QS(&q, " AND ");
			sqi_qb_cmp(&q, "x.value", cl);
			QS(&q, ")");
		}
	}
	QS(&q, " ORDER BY ");
	for (size_t i = 0; i < no; i++) {
		if (o[i].kind == MW_KEY_METRIC) {
			char col[32];
			snprintf(col, sizeof col, "o%zu.value", i);
			sqi_qb_order_col(&q, col, NULL, o[i].asc);
		} else {
			const char *col = lm_attr_col(o[i].key);
			if (!col)
				continue;
			sqi_qb_order_col(&q, col, NULL, o[i].asc);
		}
		QS(&q, ", ");
	}
	if (!no)
		QS(&q, "l.creation_timestamp_ms DESC, ");
	QS(&q, "l.model_id ASC");
	sqi_qb_page(&q, p);
	return sqi_qb_rows(store, &q, p, a, sizeof **out, lm_by_id, (void **)out, n, more, err);
}

/* ================================================================ ops */

const struct mw_store_tracking_ops mw_sqlite_tracking_ops = {
	.exp_create = sq_exp_create,
	.exp_get = sq_exp_get,
	.exp_get_by_name = sq_exp_get_by_name,
	.exp_by_location = sq_exp_by_location,
	.exp_search = sq_exp_search,
	.exp_rename = sq_exp_rename,
	.exp_set_deleted = sq_exp_set_deleted,
	.exp_set_tag = sq_exp_set_tag,
	.exp_delete_tag = sq_exp_delete_tag,
	.run_create = sq_run_create,
	.run_get = sq_run_get,
	.run_update = sq_run_update,
	.run_set_deleted = sq_run_set_deleted,
	.run_log_batch = sq_run_log_batch,
	.run_delete_tag = sq_run_delete_tag,
	.run_log_inputs = sq_run_log_inputs,
	.run_log_outputs = sq_run_log_outputs,
	.run_search = sq_run_search,
	.metric_history = sq_metric_history,
	.metric_history_sampled = sq_metric_history_sampled,
	.metric_history_bulk = sq_metric_history_bulk,
	.lm_create = sq_lm_create,
	.lm_get = sq_lm_get,
	.lm_finalize = sq_lm_finalize,
	.lm_delete = sq_lm_delete,
	.lm_set_tags = sq_lm_set_tags,
	.lm_delete_tag = sq_lm_delete_tag,
	.lm_log_params = sq_lm_log_params,
	.lm_search = sq_lm_search,
};
