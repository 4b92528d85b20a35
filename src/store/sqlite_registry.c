/*
 * sqlite_registry.c - the registry domain in the SQLite backend: registered
 * models, model versions, tags, aliases, stages, model cards and the
 * promotion history (schema: migrations 2 and 4 in sqlite.c), as the
 * records of store/registry.h.
 *
 * Identity.  A registered model is keyed by rm_id (AUTOINCREMENT, so an id is
 * never reused, even after a delete); its name is a unique attribute, which
 * makes a rename one UPDATE.  Versions are numbered per model, max + 1 over
 * every version ever created: a deleted version is kept as a row in the
 * hidden stage 'Deleted_Internal' (as MLflow's SQL store does), so a number
 * never names two different models.
 *
 * Pinning.  Creating a version with a pin_prefix copies the manifest entries
 * below that prefix to "<pin_root>/<rm_id>/<version>" inside the same write
 * job (sqi_art_copy_tree), and records that path (pinned_files) and the
 * SHA-256 over the pinned manifest (manifest_digest).  The pinned entries are
 * new paths that nothing else writes, so the version names the same bytes
 * for as long as it exists, whatever happens to the run's artifacts.  A
 * prefix that names a single file pins that file under its base name.
 *
 * Audit.  Every alias set/move/delete, rollback, stage transition and version
 * or model deletion appends a promotion_events row in the same transaction as
 * the change.  Events are never updated or deleted (not even with the model).
 * The version an alias pointed to "before" is computed by replaying its
 * events as a stack: a set pushes, a rollback pops back to its target.
 *
 * Records are built in the caller's arena.  Hot statements are cached per
 * connection (sqi_prep); rare multi-table deletes are prepared on the spot so
 * they do not use cache slots.  Messages are neutral; registry/ words
 * MLflow's from the kinds and details (store.h).
 */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DELETED_STAGE "Deleted_Internal"

/* ================================================================ statements */

static const char SQL_RM_BY_NAME[] =
	"SELECT rm_id, name, description, user_id, creation_timestamp, last_updated_timestamp"
	" FROM registered_models WHERE name = ?";
static const char SQL_RM_NAME_BY_ID[] = "SELECT name FROM registered_models WHERE rm_id = ?";
static const char SQL_RM_INSERT[] =
	"INSERT INTO registered_models (name, description, user_id, creation_timestamp,"
	" last_updated_timestamp) VALUES (?, ?, ?, ?, ?)";
static const char SQL_RM_TAGS[] =
	"SELECT key, value FROM registered_model_tags WHERE rm_id = ? ORDER BY key";
static const char SQL_RM_TAG_SET[] =
	"INSERT INTO registered_model_tags (rm_id, key, value) VALUES (?, ?, ?)"
	" ON CONFLICT (rm_id, key) DO UPDATE SET value = excluded.value";
static const char SQL_RM_TAG_DEL[] = "DELETE FROM registered_model_tags WHERE rm_id = ? AND key = ?";
static const char SQL_RM_ALIASES[] =
	"SELECT alias, version FROM registered_model_aliases WHERE rm_id = ? ORDER BY alias";
static const char SQL_RM_TOUCH[] =
	"UPDATE registered_models SET last_updated_timestamp = ? WHERE rm_id = ?";
static const char SQL_RM_LATEST[] =
	"SELECT max(version) FROM model_versions WHERE rm_id = ? AND current_stage != '"
	DELETED_STAGE "' GROUP BY current_stage ORDER BY 1";
static const char SQL_RM_PINNED[] =
	"SELECT pinned_files FROM model_versions WHERE rm_id = ? AND pinned_files IS NOT NULL";

#define MV_COLS                                                                                 \
	"v.rm_id, r.name, v.version, v.creation_timestamp, v.last_updated_timestamp,"           \
	" v.description, v.user_id, v.current_stage, v.source, v.run_id, v.run_link, v.status," \
	" v.status_message, v.pinned_files, v.logged_model_id, v.manifest_digest"

static const char SQL_MV_GET[] =
	"SELECT " MV_COLS " FROM model_versions v JOIN registered_models r ON r.rm_id = v.rm_id"
	" WHERE v.rm_id = ? AND v.version = ? AND v.current_stage != '" DELETED_STAGE "'";
static const char SQL_MV_TAGS[] =
	"SELECT key, value FROM model_version_tags WHERE rm_id = ? AND version = ? ORDER BY key";
static const char SQL_MV_ALIASES[] =
	"SELECT alias FROM registered_model_aliases WHERE rm_id = ? AND version = ? ORDER BY alias";
static const char SQL_MV_ALIVE[] =
	"SELECT current_stage, pinned_files FROM model_versions WHERE rm_id = ? AND version = ?"
	" AND current_stage != '" DELETED_STAGE "'";
static const char SQL_MV_NEXT[] =
	"SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE rm_id = ?";
static const char SQL_MV_INSERT[] =
	"INSERT INTO model_versions (rm_id, version, creation_timestamp, last_updated_timestamp,"
	" description, user_id, current_stage, source, run_id, run_link, status, status_message,"
	" pinned_files, logged_model_id, manifest_digest)"
	" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
static const char SQL_MV_TAG_SET[] =
	"INSERT INTO model_version_tags (rm_id, version, key, value) VALUES (?, ?, ?, ?)"
	" ON CONFLICT (rm_id, version, key) DO UPDATE SET value = excluded.value";
static const char SQL_MV_TAG_DEL[] =
	"DELETE FROM model_version_tags WHERE rm_id = ? AND version = ? AND key = ?";
static const char SQL_MV_DESC[] =
	"UPDATE model_versions SET description = ?, last_updated_timestamp = ?"
	" WHERE rm_id = ? AND version = ?";
static const char SQL_MV_STAGE[] =
	"UPDATE model_versions SET current_stage = ?, last_updated_timestamp = ?"
	" WHERE rm_id = ? AND version = ?";
static const char SQL_MV_IN_STAGE[] =
	"SELECT version FROM model_versions WHERE rm_id = ? AND current_stage = ? AND version != ?"
	" ORDER BY version";

static const char SQL_ALIAS_GET[] =
	"SELECT version FROM registered_model_aliases WHERE rm_id = ? AND alias = ?";
static const char SQL_ALIAS_SET[] =
	"INSERT INTO registered_model_aliases (rm_id, alias, version) VALUES (?, ?, ?)"
	" ON CONFLICT (rm_id, alias) DO UPDATE SET version = excluded.version";
static const char SQL_ALIAS_DEL[] =
	"DELETE FROM registered_model_aliases WHERE rm_id = ? AND alias = ?";
static const char SQL_ALIAS_EVENTS[] =
	"SELECT kind, to_version FROM promotion_events WHERE rm_id = ? AND target = ?"
	" AND kind IN ('" MW_EVENT_ALIAS_SET "', '" MW_EVENT_ROLLBACK "') ORDER BY id";

static const char SQL_EVENT_INSERT[] =
	"INSERT INTO promotion_events (rm_id, kind, target, from_version, to_version, from_stage,"
	" to_stage, who, at, reason, evidence, who_verified)"
	" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
static const char SQL_EVENTS[] =
	"SELECT id, kind, target, from_version, to_version, from_stage, to_stage, who, at,"
	" reason, evidence, coalesce(who_verified, -1) FROM promotion_events WHERE rm_id = ?"
	" ORDER BY id";

static const char SQL_CARD_SET[] =
	"INSERT INTO model_cards (rm_id, version, card, updated, updated_by) VALUES (?, ?, ?, ?, ?)"
	" ON CONFLICT (rm_id, version) DO UPDATE SET card = excluded.card,"
	" updated = excluded.updated, updated_by = excluded.updated_by";
static const char SQL_CARD_GET[] =
	"SELECT card, updated, updated_by FROM model_cards WHERE rm_id = ? AND version = ?";

static const char SQL_ART_FILE[] = "SELECT digest, size FROM artifacts WHERE path = ?";
static const char SQL_ART_PIN_FILE[] =
	"INSERT INTO artifacts (path, digest, size, created) VALUES (?, ?, ?, ?)"
	" ON CONFLICT (path) DO UPDATE SET digest = excluded.digest, size = excluded.size,"
	" created = excluded.created";

/* Rare statements (prepared on the spot). */
static const char *const SQL_RM_DELETE_ALL[] = {
	"DELETE FROM registered_model_tags WHERE rm_id = ?",
	"DELETE FROM registered_model_aliases WHERE rm_id = ?",
	"DELETE FROM model_version_tags WHERE rm_id = ?",
	"DELETE FROM model_cards WHERE rm_id = ?",
	"DELETE FROM model_versions WHERE rm_id = ?",
	"DELETE FROM registered_models WHERE rm_id = ?",
};
static const char *const SQL_MV_DELETE_ALL[] = {
	"DELETE FROM model_version_tags WHERE rm_id = ? AND version = ?",
	"DELETE FROM model_cards WHERE rm_id = ? AND version = ?",
	"UPDATE model_versions SET current_stage = '" DELETED_STAGE "', pinned_files = NULL"
	" WHERE rm_id = ? AND version = ?",
};
static const char SQL_RM_RENAME[] =
	"UPDATE registered_models SET name = ?, last_updated_timestamp = ? WHERE rm_id = ?";
static const char SQL_RM_DESC[] =
	"UPDATE registered_models SET description = ?, last_updated_timestamp = ? WHERE rm_id = ?";

/* ================================================================ helpers */

/* Prepare, bind one or two integers, run and finalize a statement. */
static int exec_ids(struct conn *c, const char *sql, int64_t a, int64_t b, int nb,
		    struct mw_err *err)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sqi_sqerr(c, err, "prepare");
	sqlite3_bind_int64(st, 1, a);
	if (nb > 1)
		sqlite3_bind_int64(st, 2, b);
	int r = sqlite3_step(st);
	int rc = (r == SQLITE_DONE || r == SQLITE_ROW) ? 0 : sqi_sqerr(c, err, "write");
	sqlite3_finalize(st);
	return rc;
}

static int rm_not_found(const char *name, struct mw_err *err)
{
	return mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_MODEL,
			    "registered model '%.200s' does not exist", name);
}

static int mv_not_found(const char *name, int64_t v, struct mw_err *err)
{
	return mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_VERSION,
			    "version %lld of registered model '%.200s' does not exist",
			    (long long)v, name);
}

static int rm_taken(const char *name, struct mw_err *err)
{
	return mw_store_err(err, MW_E_EXISTS, MW_STORE_MODEL,
			    "a registered model named '%.200s' exists", name);
}

/* rm_id of a model by name; MW_E_NOT_FOUND when there is none. */
static int rm_lookup(struct conn *c, const char *name, int64_t *rm_id, struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_RM_BY_NAME, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, name);
	int rc = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		*rm_id = sqlite3_column_int64(st, 0);
	else
		rc = rm_not_found(name, err);
	sqlite3_reset(st);
	return rc;
}

/* The current stage and pinned prefix of a live version (either may be NULL);
 * MW_E_NOT_FOUND when the version does not exist or was deleted. */
static int mv_require(struct conn *c, int64_t rm_id, const char *name, int64_t v, char stage[32],
		      char pinned[256], struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_MV_ALIVE, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, rm_id);
	sqlite3_bind_int64(st, 2, v);
	int rc = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		if (stage)
			snprintf(stage, 32, "%s", sqi_col_text(st, 0) ? sqi_col_text(st, 0) : "None");
		if (pinned)
			snprintf(pinned, 256, "%s", sqi_col_text(st, 1) ? sqi_col_text(st, 1) : "");
	} else {
		rc = mv_not_found(name, v, err);
	}
	sqlite3_reset(st);
	return rc;
}

static bool mv_alive(struct conn *c, int64_t rm_id, int64_t v)
{
	struct mw_err e;
	sqlite3_stmt *st = sqi_prep(c, SQL_MV_ALIVE, &e);
	if (!st)
		return false;
	sqlite3_bind_int64(st, 1, rm_id);
	sqlite3_bind_int64(st, 2, v);
	bool ok = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	return ok;
}

static int touch_rm(struct conn *c, int64_t rm_id, int64_t now, struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_RM_TOUCH, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, rm_id);
	return sqi_step_done(c, st, err);
}

/* One promotion_events row; versions <= 0 and NULL strings are stored as NULL. */
struct event {
	const char *kind, *target;
	int64_t from_version, to_version;
	const char *from_stage, *to_stage;
	const char *reason;
	const char *evidence;
};

static int add_event(struct conn *c, int64_t rm_id, const struct event *e, const struct mw_audit *a,
		     struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_EVENT_INSERT, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, rm_id);
	sqi_bind_text(st, 2, e->kind);
	sqi_bind_text(st, 3, e->target);
	if (e->from_version > 0)
		sqlite3_bind_int64(st, 4, e->from_version);
	if (e->to_version > 0)
		sqlite3_bind_int64(st, 5, e->to_version);
	sqi_bind_text(st, 6, e->from_stage);
	sqi_bind_text(st, 7, e->to_stage);
	sqi_bind_text(st, 8, a && a->who && *a->who ? a->who : NULL); /* NULL: not known */
	sqlite3_bind_int64(st, 9, a ? a->now_ms : mw_now_ms());
	sqi_bind_text(st, 10, e->reason);
	sqi_bind_text(st, 11, e->evidence);
	if (a && a->who && *a->who)
		sqlite3_bind_int(st, 12, a->verified ? 1 : 0);
	else
		sqlite3_bind_null(st, 12);
	int rc = sqi_step_done(c, st, err);
	if (!rc) {
		/* the job's audit row shows the move (the last event of a job is
		 * its own; earlier ones are versions archived on the way) */
		json_t *b = json_object(), *t = json_object();
		if (e->from_version > 0)
			json_object_set_new(b, "version", json_integer(e->from_version));
		if (e->from_stage)
			json_object_set_new(b, "stage", json_string(e->from_stage));
		if (e->to_version > 0)
			json_object_set_new(t, "version", json_integer(e->to_version));
		if (e->to_stage)
			json_object_set_new(t, "stage", json_string(e->to_stage));
		char *bs = mw_json_dump(b, NULL), *ts = mw_json_dump(t, NULL);
		sqi_audit_before(c, bs);
		sqi_audit_after(c, ts);
		free(bs);
		free(ts);
		json_decref(b);
		json_decref(t);
	}
	return rc;
}

/* ================================================================ records */

static int kv_rows2(struct conn *c, const char *sql, int64_t a, int64_t b, struct mw_arena *ar,
		    struct mw_kv **out, size_t *n, struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, sql, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	struct mw_store_vec v = {0};
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct mw_kv *kv = mw_store_vec_push(&v, ar, sizeof *kv);
		kv->key = sqi_col_dup(ar, st, 0);
		kv->value = sqi_col_dup(ar, st, 1);
		if (!kv->value)
			kv->value = "";
	}
	sqlite3_reset(st);
	*out = v.v;
	*n = v.n;
	return 0;
}

static const char *nonempty(struct mw_arena *a, sqlite3_stmt *st, int col)
{
	const char *s = sqi_col_text(st, col);
	return s && *s ? mw_arena_strdup(a, s) : NULL;
}

/* A model version from a row with MV_COLS (st is left on the row). */
static int mv_row(struct conn *c, sqlite3_stmt *st, struct mw_arena *a, struct mw_model_version *o,
		  struct mw_err *err)
{
	int64_t rm_id = sqlite3_column_int64(st, 0), v = sqlite3_column_int64(st, 2);
	memset(o, 0, sizeof *o);
	o->name = sqi_col_dup(a, st, 1);
	o->version = v;
	o->creation_timestamp = sqlite3_column_int64(st, 3);
	o->last_updated_timestamp = sqlite3_column_int64(st, 4);
	o->description = sqi_col_dup(a, st, 5);
	o->user_id = sqi_col_dup(a, st, 6);
	o->current_stage = sqi_col_dup(a, st, 7);
	o->source = sqi_col_dup(a, st, 8);
	o->run_id = nonempty(a, st, 9);
	o->run_link = nonempty(a, st, 10);
	o->status = sqi_col_dup(a, st, 11);
	o->status_message = sqi_col_dup(a, st, 12);
	o->files = sqi_col_dup(a, st, 13);
	o->model_id = sqi_col_dup(a, st, 14);
	o->manifest_digest = sqi_col_dup(a, st, 15);
	int rc = kv_rows2(c, SQL_MV_TAGS, rm_id, v, a, &o->tags, &o->ntags, err);
	if (rc)
		return rc;
	sqlite3_stmt *as = sqi_prep(c, SQL_MV_ALIASES, err);
	if (!as)
		return -err->code;
	sqlite3_bind_int64(as, 1, rm_id);
	sqlite3_bind_int64(as, 2, v);
	struct mw_store_vec al = {0};
	while (sqlite3_step(as) == SQLITE_ROW)
		*(const char **)mw_store_vec_push(&al, a, sizeof(const char *)) =
			sqi_col_dup(a, as, 0);
	sqlite3_reset(as);
	o->aliases = al.v;
	o->naliases = al.n;
	return 0;
}

static int mv_load(struct conn *c, int64_t rm_id, const char *name, int64_t v, struct mw_arena *a,
		   struct mw_model_version *out, struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_MV_GET, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, rm_id);
	sqlite3_bind_int64(st, 2, v);
	int rc = sqlite3_step(st) == SQLITE_ROW ? mv_row(c, st, a, out, err)
						: mv_not_found(name, v, err);
	sqlite3_reset(st);
	return rc;
}

/* Latest live version per stage, in version order. */
static int latest_versions(struct conn *c, int64_t rm_id, const char *name, struct mw_arena *a,
			   struct mw_model_version **out, size_t *n, struct mw_err *err)
{
	int64_t vs[8];
	int nv = 0;
	*out = NULL;
	*n = 0;
	sqlite3_stmt *st = sqi_prep(c, SQL_RM_LATEST, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, rm_id);
	while (nv < 8 && sqlite3_step(st) == SQLITE_ROW)
		vs[nv++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	struct mw_store_vec v = {0};
	for (int i = 0; i < nv; i++) {
		struct mw_model_version *mv = mw_store_vec_push(&v, a, sizeof *mv);
		struct mw_err e = {0};
		if (mv_load(c, rm_id, name, vs[i], a, mv, &e))
			v.n--;
	}
	*out = v.v;
	*n = v.n;
	return 0;
}

/* A registered model from a row of SQL_RM_BY_NAME's columns (read before the
 * caller resets st: only other statements are used). */
static int rm_row(struct conn *c, sqlite3_stmt *st, struct mw_arena *a,
		  struct mw_registered_model *o, struct mw_err *err)
{
	int64_t rm_id = sqlite3_column_int64(st, 0);
	memset(o, 0, sizeof *o);
	o->name = sqi_col_dup(a, st, 1);
	o->description = sqi_col_dup(a, st, 2);
	o->user_id = sqi_col_dup(a, st, 3);
	o->creation_timestamp = sqlite3_column_int64(st, 4);
	o->last_updated_timestamp = sqlite3_column_int64(st, 5);
	int rc = latest_versions(c, rm_id, o->name, a, &o->latest_versions, &o->nlatest, err);
	if (!rc)
		rc = sqi_kv_rows(c, SQL_RM_TAGS, NULL, rm_id, a, &o->tags, &o->ntags, err);
	if (rc)
		return rc;
	sqlite3_stmt *as = sqi_prep(c, SQL_RM_ALIASES, err);
	if (!as)
		return -err->code;
	sqlite3_bind_int64(as, 1, rm_id);
	struct mw_store_vec v = {0};
	while (sqlite3_step(as) == SQLITE_ROW) {
		struct mw_alias *al = mw_store_vec_push(&v, a, sizeof *al);
		al->alias = sqi_col_dup(a, as, 0);
		al->version = sqlite3_column_int64(as, 1);
	}
	sqlite3_reset(as);
	o->aliases = v.v;
	o->naliases = v.n;
	return 0;
}

static int rm_load(struct conn *c, const char *name, struct mw_arena *a,
		   struct mw_registered_model *out, struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_RM_BY_NAME, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, name);
	int rc = sqlite3_step(st) == SQLITE_ROW ? rm_row(c, st, a, out, err)
						: rm_not_found(name, err);
	sqlite3_reset(st);
	return rc;
}

/* ================================================================ registered models */

struct rm_arg {
	const char *name, *new_name, *description, *user_id, *key, *value;
	const struct mw_kv *tags;
	size_t ntags;
	int64_t now;
	struct mw_arena *a;
	struct mw_registered_model *out;
};

static int job_rm_create(struct conn *c, void *p, struct mw_err *err)
{
	struct rm_arg *a = p;
	int64_t id = 0;
	struct mw_err e2;
	if (!rm_lookup(c, a->name, &id, &e2))
		return rm_taken(a->name, err);
	sqlite3_stmt *st = sqi_prep(c, SQL_RM_INSERT, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->name);
	sqi_bind_text(st, 2, a->description);
	sqi_bind_text(st, 3, a->user_id && *a->user_id ? a->user_id : NULL);
	sqlite3_bind_int64(st, 4, a->now);
	sqlite3_bind_int64(st, 5, a->now);
	int rc = sqi_step_done(c, st, err);
	if (rc)
		return rc;
	id = sqlite3_last_insert_rowid(c->db);
	for (size_t i = 0; !rc && i < a->ntags; i++) {
		if (!(st = sqi_prep(c, SQL_RM_TAG_SET, err)))
			return -err->code;
		sqlite3_bind_int64(st, 1, id);
		sqi_bind_text(st, 2, a->tags[i].key);
		sqi_bind_text(st, 3, a->tags[i].value ? a->tags[i].value : "");
		rc = sqi_step_done(c, st, err);
	}
	if (!rc)
		rc = rm_load(c, a->name, a->a, a->out, err);
	return rc;
}

static int sqr_rm_create(struct mw_store *store, const char *name, const char *description,
			 const struct mw_kv *tags, size_t ntags, const char *user_id, int64_t now,
			 struct mw_arena *ar, struct mw_registered_model *out, struct mw_err *err)
{
	struct rm_arg a = {.name = name,
			   .description = description,
			   .user_id = user_id,
			   .tags = tags,
			   .ntags = ntags,
			   .now = now,
			   .a = ar,
			   .out = out};
	return sqi_submit(store, job_rm_create, &a, err);
}

static int sqr_rm_get(struct mw_store *store, const char *name, struct mw_arena *a,
		      struct mw_registered_model *out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = rm_load(c, name, a, out, err);
	sqi_rd_end(store, c);
	return rc;
}

static int sqr_rm_name_by_id(struct mw_store *store, int64_t rm_id, struct mw_arena *a,
			     const char **name, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int rc = 0;
	sqlite3_stmt *st = sqi_prep(c, SQL_RM_NAME_BY_ID, err);
	if (!st) {
		rc = -err->code;
	} else {
		sqlite3_bind_int64(st, 1, rm_id);
		int r = sqlite3_step(st);
		if (r == SQLITE_ROW)
			*name = mw_arena_strdup(a, sqi_col_text(st, 0));
		else if (r == SQLITE_DONE)
			rc = mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_MODEL,
					  "no registered model has id %lld", (long long)rm_id);
		else
			rc = sqi_sqerr(c, err, "registry: model by id");
		sqlite3_reset(st);
	}
	sqi_rd_end(store, c);
	return rc;
}

/* Permissions on a registered model are kept by its name (as MLflow does):
 * a rename moves them to the new name, a delete (new_name NULL) drops them,
 * in the same write as the change. */
static const char SQL_PERM_RM_RENAME[] =
	"UPDATE auth_permissions SET resource = ? WHERE kind = 2 AND resource = ?";
static const char SQL_PERM_RM_DROP[] =
	"DELETE FROM auth_permissions WHERE kind = 2 AND resource = ?";

static int rm_permissions_follow(struct conn *c, const char *name, const char *new_name,
				 struct mw_err *err)
{
	if (new_name && !strcmp(name, new_name))
		return 0;
	sqlite3_stmt *st = sqi_prep(c, new_name ? SQL_PERM_RM_RENAME : SQL_PERM_RM_DROP, err);
	if (!st)
		return -err->code;
	int k = 1;
	if (new_name)
		sqi_bind_text(st, k++, new_name);
	sqi_bind_text(st, k, name);
	return sqi_step_done(c, st, err);
}

static int job_rm_rename(struct conn *c, void *p, struct mw_err *err)
{
	struct rm_arg *a = p;
	int64_t id = 0, other = 0;
	int rc = rm_lookup(c, a->name, &id, err);
	if (rc)
		return rc;
	struct mw_err e2;
	if (strcmp(a->name, a->new_name) && !rm_lookup(c, a->new_name, &other, &e2))
		return rm_taken(a->new_name, err);
	sqlite3_stmt *st = sqi_prep(c, SQL_RM_RENAME, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->new_name);
	sqlite3_bind_int64(st, 2, a->now);
	sqlite3_bind_int64(st, 3, id);
	if ((rc = sqi_step_done(c, st, err)))
		return rc;
	if ((rc = rm_permissions_follow(c, a->name, a->new_name, err)))
		return rc;
	return rm_load(c, a->new_name, a->a, a->out, err);
}

static int sqr_rm_rename(struct mw_store *store, const char *name, const char *new_name,
			 int64_t now, struct mw_arena *ar, struct mw_registered_model *out,
			 struct mw_err *err)
{
	struct rm_arg a = {.name = name, .new_name = new_name, .now = now, .a = ar, .out = out};
	return sqi_submit(store, job_rm_rename, &a, err);
}

static int job_rm_update(struct conn *c, void *p, struct mw_err *err)
{
	struct rm_arg *a = p;
	int64_t id = 0;
	int rc = rm_lookup(c, a->name, &id, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_RM_DESC, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->description);
	sqlite3_bind_int64(st, 2, a->now);
	sqlite3_bind_int64(st, 3, id);
	if ((rc = sqi_step_done(c, st, err)))
		return rc;
	return rm_load(c, a->name, a->a, a->out, err);
}

static int sqr_rm_update(struct mw_store *store, const char *name, const char *description,
			 int64_t now, struct mw_arena *ar, struct mw_registered_model *out,
			 struct mw_err *err)
{
	struct rm_arg a = {.name = name,
			   .description = description,
			   .now = now,
			   .a = ar,
			   .out = out};
	return sqi_submit(store, job_rm_update, &a, err);
}

static int job_rm_delete(struct conn *c, void *p, struct mw_err *err)
{
	struct rm_arg *a = p;
	int64_t id = 0;
	int rc = rm_lookup(c, a->name, &id, err);
	if (rc)
		return rc;
	/* the pinned files of every live version (collected first: deleting while
	 * stepping is not allowed) */
	sqlite3_stmt *st = sqi_prep(c, SQL_RM_PINNED, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, id);
	char **pins = NULL;
	size_t np = 0, cap = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (np == cap) {
			cap = cap ? cap * 2 : 16;
			pins = mw_xrealloc(pins, cap * sizeof *pins);
		}
		pins[np++] = mw_xstrdup(sqi_col_text(st, 0));
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < np; i++) {
		if (!rc && *pins[i])
			rc = sqi_art_delete_tree(c, pins[i], a->now, NULL, err);
		free(pins[i]);
	}
	free(pins);
	for (size_t i = 0; !rc && i < sizeof SQL_RM_DELETE_ALL / sizeof *SQL_RM_DELETE_ALL; i++)
		rc = exec_ids(c, SQL_RM_DELETE_ALL[i], id, 0, 1, err);
	if (!rc)
		rc = rm_permissions_follow(c, a->name, NULL, err);
	if (rc)
		return rc;
	/* the store interface does not say who deletes a model: who stays NULL */
	struct event ev = {.kind = MW_EVENT_MODEL_DELETED, .target = a->name};
	struct mw_audit au = {.who = NULL, .now_ms = a->now};
	return add_event(c, id, &ev, &au, err);
}

static int sqr_rm_delete(struct mw_store *store, const char *name, int64_t now, struct mw_err *err)
{
	struct rm_arg a = {.name = name, .now = now};
	return sqi_submit(store, job_rm_delete, &a, err);
}

static const char *rm_col(const char *k)
{
	if (!strcmp(k, "name")) return "r.name";
	if (!strcmp(k, "creation_timestamp")) return "r.creation_timestamp";
	if (!strcmp(k, "last_updated_timestamp")) return "r.last_updated_timestamp";
	return NULL;
}

static bool rm_search_row(struct conn *c, sqlite3_stmt *st, struct mw_arena *a, void *slot,
			  struct mw_err *err)
{
	return !rm_row(c, st, a, slot, err);
}

static int sqr_rm_search(struct mw_store *store, const struct mw_filter *f,
			 const struct mw_order *o, size_t no, const struct mw_hide_tag *hide,
			 const struct mw_page *p, struct mw_arena *a,
			 struct mw_registered_model **out, size_t *n, bool *more,
			 struct mw_err *err)
{
	struct qb q;
	sqi_qb_init(&q);
	QS(&q, "SELECT r.rm_id, r.name, r.description, r.user_id, r.creation_timestamp,"
	       " r.last_updated_timestamp FROM registered_models r WHERE 1");
	for (size_t i = 0; f && i < f->n; i++) {
		const struct mw_clause *cl = &f->c[i];
		QS(&q, " AND ");
		if (cl->kind == MW_KEY_TAG) {
			QS(&q, "EXISTS (SELECT 1 FROM registered_model_tags t WHERE t.rm_id = r.rm_id"
			       " AND t.key = ");
			sqi_qb_text(&q, cl->key);
			QS(&q, " AND ");
			sqi_qb_cmp(&q, "t.value", cl);
			QS(&q, ")");
		} else {
			const char *col = rm_col(cl->key);
			sqi_qb_cmp(&q, col ? col : "NULL", cl);
		}
	}
	if (hide) {
		QS(&q, " AND NOT EXISTS (SELECT 1 FROM registered_model_tags t WHERE"
		       " t.rm_id = r.rm_id AND t.key = ");
		sqi_qb_text(&q, hide->key);
		QS(&q, " AND lower(t.value) = lower(");
		sqi_qb_text(&q, hide->value);
		QS(&q, "))");
	}
	QS(&q, " ORDER BY ");
	bool by_name = false;
	for (size_t i = 0; i < no; i++) {
		const char *col = rm_col(o[i].key);
		if (!col)
			continue;
		if (!strcmp(col, "r.name")) {
			if (by_name)
				continue;
			by_name = true;
		}
		sqi_qf(&q, "%s %s, ", col, o[i].asc ? "ASC" : "DESC");
	}
	QS(&q, by_name ? "r.rm_id ASC" : "r.name ASC");
	sqi_qb_page(&q, p);
	return sqi_qb_rows(store, &q, p, a, sizeof **out, rm_search_row, (void **)out, n, more,
			   err);
}

static int job_rm_set_tag(struct conn *c, void *p, struct mw_err *err)
{
	struct rm_arg *a = p;
	int64_t id = 0;
	int rc = rm_lookup(c, a->name, &id, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, a->value ? SQL_RM_TAG_SET : SQL_RM_TAG_DEL, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, id);
	sqi_bind_text(st, 2, a->key);
	if (a->value)
		sqi_bind_text(st, 3, a->value);
	return sqi_step_done(c, st, err);
}

static int sqr_rm_set_tag(struct mw_store *store, const char *name, const char *key,
			  const char *value, struct mw_err *err)
{
	struct rm_arg a = {.name = name, .key = key, .value = value ? value : ""};
	return sqi_submit(store, job_rm_set_tag, &a, err);
}

static int sqr_rm_delete_tag(struct mw_store *store, const char *name, const char *key,
			     struct mw_err *err)
{
	struct rm_arg a = {.name = name, .key = key, .value = NULL};
	return sqi_submit(store, job_rm_set_tag, &a, err);
}

/* ================================================================ aliases */

/* Current version of an alias, 0 when unset. */
static int alias_current(struct conn *c, int64_t rm_id, const char *alias, int64_t *v,
			 struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_ALIAS_GET, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, rm_id);
	sqi_bind_text(st, 2, alias);
	*v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return 0;
}

/* Replay the alias's history as a stack (a set pushes its version, a
 * rollback pops back to its target) and find the newest entry below the
 * current version that still exists.  *prev = 0 when there is none;
 * *events gets the number of set/rollback events seen. */
static int alias_prev(struct conn *c, int64_t rm_id, const char *alias, int64_t current,
		      int64_t *prev, int *events, struct mw_err *err)
{
	*prev = 0;
	*events = 0;
	sqlite3_stmt *st = sqi_prep(c, SQL_ALIAS_EVENTS, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, rm_id);
	sqi_bind_text(st, 2, alias);
	int64_t *stk = NULL;
	size_t n = 0, cap = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *kind = sqi_col_text(st, 0);
		int64_t to = sqlite3_column_int64(st, 1);
		(*events)++;
		if (kind && !strcmp(kind, MW_EVENT_ROLLBACK)) {
			if (n)
				n--;
			while (n && stk[n - 1] != to)
				n--;
			if (n)
				continue;
		} else if (n && stk[n - 1] == to) {
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			stk = mw_xrealloc(stk, cap * sizeof *stk);
		}
		stk[n++] = to;
	}
	sqlite3_reset(st);
	size_t i = n;
	while (i && stk[i - 1] == current)
		i--;
	for (; i; i--)
		if (stk[i - 1] != current && mv_alive(c, rm_id, stk[i - 1])) {
			*prev = stk[i - 1];
			break;
		}
	free(stk);
	return 0;
}

struct alias_arg {
	const char *name, *alias;
	int64_t version; /* with rollback, 0: the previous version */
	bool rollback;
	const struct mw_audit *au;
	struct mw_arena *ar;       /* out's version record; NULL: no out */
	struct mw_alias_move *out; /* may be NULL */
};

/* Every step of a move in this one job: where the alias is, where it goes
 * (a rollback's previous version is computed here, not before), the write,
 * its event, and the version read back, so the caller's answer is what the
 * event records whatever other moves run around it. */
static int job_set_alias(struct conn *c, void *p, struct mw_err *err)
{
	struct alias_arg *a = p;
	int64_t id = 0, cur = 0, to = a->version;
	int rc = rm_lookup(c, a->name, &id, err);
	if (!rc && (to || !a->rollback)) /* a rollback to 0 finds its version below */
		rc = mv_require(c, id, a->name, to, NULL, NULL, err);
	if (!rc)
		rc = alias_current(c, id, a->alias, &cur, err);
	if (rc)
		return rc;
	if (a->rollback) {
		int64_t prev;
		int nev;
		if ((rc = alias_prev(c, id, a->alias, cur, &prev, &nev, err)))
			return rc;
		if (a->out)
			a->out->state = (struct mw_alias_state){.current = cur,
								.previous = prev,
								.events = nev};
		if (!to && !prev)
			return mw_store_err(err, cur ? MW_E_INVALID : MW_E_NOT_FOUND,
					    MW_STORE_ALIAS,
					    "alias '%.200s' of '%.200s' has nowhere to roll back to",
					    a->alias, a->name);
		if (!to)
			to = prev; /* alive: alias_prev only returns live versions */
		else if (prev != to)
			return mw_store_err(err, MW_E_CONFLICT, MW_STORE_ALIAS,
					    "alias '%.200s' of '%.200s' moved", a->alias, a->name);
	}
	if (cur != to) { /* already there: a replayed request changes nothing */
		sqlite3_stmt *st = sqi_prep(c, SQL_ALIAS_SET, err);
		if (!st)
			return -err->code;
		sqlite3_bind_int64(st, 1, id);
		sqi_bind_text(st, 2, a->alias);
		sqlite3_bind_int64(st, 3, to);
		if ((rc = sqi_step_done(c, st, err)))
			return rc;
		struct event ev = {.kind = a->rollback ? MW_EVENT_ROLLBACK : MW_EVENT_ALIAS_SET,
				   .target = a->alias,
				   .from_version = cur,
				   .to_version = to,
				   .reason = a->au ? a->au->reason : NULL,
				   .evidence = a->au ? a->au->evidence : NULL};
		if ((rc = add_event(c, id, &ev, a->au, err)))
			return rc;
	}
	if (!a->out)
		return 0;
	a->out->from_version = cur;
	a->out->to_version = to;
	a->out->changed = cur != to;
	return mv_load(c, id, a->name, to, a->ar, &a->out->version, err);
}

static int sqr_rm_set_alias(struct mw_store *store, const char *name, const char *alias,
			    int64_t version, bool rollback, const struct mw_audit *au,
			    struct mw_err *err)
{
	struct alias_arg a = {.name = name, .alias = alias, .version = version,
			      .rollback = rollback, .au = au};
	return sqi_submit(store, job_set_alias, &a, err);
}

static int sqr_rm_move_alias(struct mw_store *store, const char *name, const char *alias,
			     int64_t version, bool rollback, const struct mw_audit *au,
			     struct mw_arena *ar, struct mw_alias_move *out, struct mw_err *err)
{
	memset(out, 0, sizeof *out);
	struct alias_arg a = {.name = name,
			      .alias = alias,
			      .version = version,
			      .rollback = rollback,
			      .au = au,
			      .ar = ar,
			      .out = out};
	return sqi_submit(store, job_set_alias, &a, err);
}

/* Delete an alias row and audit it (from the current version to none). */
static int drop_alias(struct conn *c, int64_t rm_id, const char *alias, int64_t cur,
		      const char *reason, const char *evidence, const struct mw_audit *au,
		      struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_ALIAS_DEL, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, rm_id);
	sqi_bind_text(st, 2, alias);
	int rc = sqi_step_done(c, st, err);
	if (rc)
		return rc;
	struct event ev = {.kind = MW_EVENT_ALIAS_DELETED,
			   .target = alias,
			   .from_version = cur,
			   .reason = reason,
			   .evidence = evidence};
	return add_event(c, rm_id, &ev, au, err);
}

static int job_delete_alias(struct conn *c, void *p, struct mw_err *err)
{
	struct alias_arg *a = p;
	int64_t id = 0, cur = 0;
	int rc = rm_lookup(c, a->name, &id, err);
	if (!rc)
		rc = alias_current(c, id, a->alias, &cur, err);
	if (rc || !cur)
		return rc; /* deleting an alias that is not there is a no-op */
	return drop_alias(c, id, a->alias, cur, a->au ? a->au->reason : NULL,
			  a->au ? a->au->evidence : NULL, a->au, err);
}

static int sqr_rm_delete_alias(struct mw_store *store, const char *name, const char *alias,
			       const struct mw_audit *au, struct mw_err *err)
{
	struct alias_arg a = {.name = name, .alias = alias, .au = au};
	return sqi_submit(store, job_delete_alias, &a, err);
}

static int sqr_rm_get_by_alias(struct mw_store *store, const char *name, const char *alias,
			       struct mw_arena *a, struct mw_model_version *out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int64_t id = 0, v = 0;
	int rc = rm_lookup(c, name, &id, err);
	if (!rc)
		rc = alias_current(c, id, alias, &v, err);
	if (!rc && !v)
		rc = mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_ALIAS,
				  "registered model '%.200s' has no alias '%.200s'", name, alias);
	if (!rc)
		rc = mv_load(c, id, name, v, a, out, err);
	sqi_rd_end(store, c);
	return rc;
}

static int sqr_rm_alias_state(struct mw_store *store, const char *name, const char *alias,
			      struct mw_alias_state *out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int64_t id = 0;
	memset(out, 0, sizeof *out);
	int rc = rm_lookup(c, name, &id, err);
	if (!rc)
		rc = alias_current(c, id, alias, &out->current, err);
	if (!rc)
		rc = alias_prev(c, id, alias, out->current, &out->previous, &out->events, err);
	sqi_rd_end(store, c);
	return rc;
}

/* ================================================================ latest, history */

static int sqr_rm_latest_versions(struct mw_store *store, const char *name,
				  const char *const *stages, size_t ns, struct mw_arena *a,
				  struct mw_model_version **out, size_t *n, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int64_t id = 0;
	struct mw_model_version *all = NULL;
	size_t nall = 0;
	int rc = rm_lookup(c, name, &id, err);
	if (!rc)
		rc = latest_versions(c, id, name, a, &all, &nall, err);
	if (!rc) {
		size_t k = 0;
		for (size_t i = 0; i < nall; i++) {
			const char *stage = all[i].current_stage;
			bool want = !stages || !ns;
			for (size_t j = 0; !want && j < ns; j++)
				want = stage && !strcmp(stage, stages[j]);
			if (want)
				all[k++] = all[i];
		}
		*out = all;
		*n = k;
	}
	sqi_rd_end(store, c);
	return rc;
}

static int64_t col_version(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, col);
}

static int sqr_rm_history(struct mw_store *store, const char *name, struct mw_arena *a,
			  struct mw_promotion_event **out, size_t *n, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int64_t id = 0;
	int rc = rm_lookup(c, name, &id, err);
	sqlite3_stmt *st = NULL;
	if (!rc && !(st = sqi_prep(c, SQL_EVENTS, err)))
		rc = -err->code;
	if (!rc) {
		struct mw_store_vec v = {0};
		sqlite3_bind_int64(st, 1, id);
		while (sqlite3_step(st) == SQLITE_ROW) {
			struct mw_promotion_event *e = mw_store_vec_push(&v, a, sizeof *e);
			e->id = sqlite3_column_int64(st, 0);
			e->kind = sqi_col_dup(a, st, 1);
			e->target = sqi_col_dup(a, st, 2);
			e->from_version = col_version(st, 3);
			e->to_version = col_version(st, 4);
			e->from_stage = sqi_col_dup(a, st, 5);
			e->to_stage = sqi_col_dup(a, st, 6);
			e->who = sqi_col_dup(a, st, 7);
			e->at = sqlite3_column_int64(st, 8);
			e->reason = sqi_col_dup(a, st, 9);
			e->evidence = sqi_col_dup(a, st, 10);
			e->who_verified = sqlite3_column_int(st, 11);
		}
		sqlite3_reset(st);
		*out = v.v;
		*n = v.n;
	}
	sqi_rd_end(store, c);
	return rc;
}

/* ================================================================ model versions */

/* Pin a single file: the prefix names one manifest entry, pinned under its
 * base name.  *count is 1 when it did. */
static int pin_file(struct conn *c, const char *src, const char *dst, int64_t now, int *count,
		    char manifest_hex[65], struct mw_err *err)
{
	*count = 0;
	sqlite3_stmt *st = sqi_prep(c, SQL_ART_FILE, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, src);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return 0;
	}
	char digest[65];
	snprintf(digest, sizeof digest, "%s", sqi_col_text(st, 0) ? sqi_col_text(st, 0) : "");
	int64_t size = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	const char *base = strrchr(src, '/');
	base = base ? base + 1 : src;
	size_t n = strlen(dst) + strlen(base) + 2;
	char *path = mw_xmalloc(n);
	snprintf(path, n, "%s/%s", dst, base);
	int rc = 0;
	if (!(st = sqi_prep(c, SQL_ART_PIN_FILE, err))) {
		rc = -err->code;
	} else {
		sqi_bind_text(st, 1, path);
		sqi_bind_text(st, 2, digest);
		sqlite3_bind_int64(st, 3, size);
		sqlite3_bind_int64(st, 4, now);
		rc = sqi_step_done(c, st, err);
	}
	free(path);
	if (!rc) {
		/* the same line format as sqi_art_copy_tree: "path\tdigest\n" */
		struct mw_sha256 *h = mw_sha256_new();
		mw_sha256_update(h, base, strlen(base));
		mw_sha256_update(h, "\t", 1);
		mw_sha256_update(h, digest, strlen(digest));
		mw_sha256_update(h, "\n", 1);
		mw_sha256_final(h, manifest_hex);
		*count = 1;
	}
	return rc;
}

struct mv_arg {
	const struct mw_mv_create *cr;
	const char *name, *key, *value, *description, *stage, *card, *who, *archive_to, *reason;
	int64_t version, now;
	bool has_value;
	const struct mw_audit *au;
	struct mw_arena *a;
	struct mw_model_version *out;
};

static int job_mv_create(struct conn *c, void *p, struct mw_err *err)
{
	struct mv_arg *a = p;
	const struct mw_mv_create *cr = a->cr;
	int64_t id = 0, v = 0;
	int rc = rm_lookup(c, cr->name, &id, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_MV_NEXT, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (v < 1)
		return mw_err_set(err, MW_E_INTERNAL, "cannot number a new version of %s", cr->name);
	sqi_audit_resource(c, "%s/%lld", cr->name, (long long)v);

	char *dst = NULL, manifest[65] = {0};
	const char *status_message = cr->status_message;
	if (cr->pin_prefix) {
		size_t n = strlen(cr->pin_root) + 48;
		dst = mw_xmalloc(n);
		snprintf(dst, n, "%s/%lld/%lld", cr->pin_root, (long long)id, (long long)v);
		int count = 0;
		/* a fresh path, but never mix with anything a client may have put there */
		rc = sqi_art_delete_tree(c, dst, cr->now_ms, NULL, err);
		if (!rc)
			rc = sqi_art_copy_tree(c, cr->pin_prefix, dst, cr->now_ms, &count, manifest,
					       err);
		if (!rc && !count)
			rc = pin_file(c, cr->pin_prefix, dst, cr->now_ms, &count, manifest, err);
		if (!rc && !count)
			status_message = cr->status_message_no_files;
	}
	if (!rc && !(st = sqi_prep(c, SQL_MV_INSERT, err)))
		rc = -err->code;
	if (!rc) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, v);
		sqlite3_bind_int64(st, 3, cr->now_ms);
		sqlite3_bind_int64(st, 4, cr->now_ms);
		sqi_bind_text(st, 5, cr->description);
		sqi_bind_text(st, 6, cr->user_id && *cr->user_id ? cr->user_id : NULL);
		sqi_bind_text(st, 7, cr->stage);
		sqi_bind_text(st, 8, cr->source);
		sqi_bind_text(st, 9, cr->run_id && *cr->run_id ? cr->run_id : NULL);
		sqi_bind_text(st, 10, cr->run_link && *cr->run_link ? cr->run_link : NULL);
		sqi_bind_text(st, 11, cr->status);
		sqi_bind_text(st, 12, status_message);
		sqi_bind_text(st, 13, dst);
		sqi_bind_text(st, 14,
			      cr->logged_model_id && *cr->logged_model_id ? cr->logged_model_id
									  : NULL);
		sqi_bind_text(st, 15, dst ? manifest : NULL);
		rc = sqi_step_done(c, st, err);
	}
	free(dst);
	for (size_t i = 0; !rc && i < cr->ntags; i++) {
		if (!(st = sqi_prep(c, SQL_MV_TAG_SET, err)))
			return -err->code;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, v);
		sqi_bind_text(st, 3, cr->tags[i].key);
		sqi_bind_text(st, 4, cr->tags[i].value ? cr->tags[i].value : "");
		rc = sqi_step_done(c, st, err);
	}
	if (!rc)
		rc = touch_rm(c, id, cr->now_ms, err);
	if (!rc)
		rc = mv_load(c, id, cr->name, v, a->a, a->out, err);
	return rc;
}

static int sqr_mv_create(struct mw_store *store, const struct mw_mv_create *cr, struct mw_arena *ar,
			 struct mw_model_version *out, struct mw_err *err)
{
	if (cr->pin_prefix && !*cr->pin_prefix)
		return mw_err_set(err, MW_E_INVALID,
				  "a version cannot pin the whole artifact store (empty prefix)");
	if (cr->pin_prefix && (!cr->pin_root || !*cr->pin_root))
		return mw_err_set(err, MW_E_INVALID, "a pinned version needs a pin root");
	if (!cr->stage || !cr->status)
		return mw_err_set(err, MW_E_INVALID, "a new version needs a stage and a status");
	struct mv_arg a = {.cr = cr, .a = ar, .out = out};
	return sqi_submit(store, job_mv_create, &a, err);
}

static int sqr_mv_get(struct mw_store *store, const char *name, int64_t v, struct mw_arena *a,
		      struct mw_model_version *out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int64_t id = 0;
	int rc = rm_lookup(c, name, &id, err);
	if (!rc)
		rc = mv_load(c, id, name, v, a, out, err);
	sqi_rd_end(store, c);
	return rc;
}

static int job_mv_update(struct conn *c, void *p, struct mw_err *err)
{
	struct mv_arg *a = p;
	int64_t id = 0;
	int rc = rm_lookup(c, a->name, &id, err);
	if (!rc)
		rc = mv_require(c, id, a->name, a->version, NULL, NULL, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_MV_DESC, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, a->description);
	sqlite3_bind_int64(st, 2, a->now);
	sqlite3_bind_int64(st, 3, id);
	sqlite3_bind_int64(st, 4, a->version);
	if ((rc = sqi_step_done(c, st, err)) || (rc = touch_rm(c, id, a->now, err)))
		return rc;
	return mv_load(c, id, a->name, a->version, a->a, a->out, err);
}

static int sqr_mv_update(struct mw_store *store, const char *name, int64_t v,
			 const char *description, int64_t now, struct mw_arena *ar,
			 struct mw_model_version *out, struct mw_err *err)
{
	struct mv_arg a = {.name = name,
			   .version = v,
			   .description = description,
			   .now = now,
			   .a = ar,
			   .out = out};
	return sqi_submit(store, job_mv_update, &a, err);
}

static int job_mv_delete(struct conn *c, void *p, struct mw_err *err)
{
	struct mv_arg *a = p;
	int64_t id = 0;
	char stage[32], pinned[256];
	int rc = rm_lookup(c, a->name, &id, err);
	if (!rc)
		rc = mv_require(c, id, a->name, a->version, stage, pinned, err);
	if (rc)
		return rc;
	int64_t now = a->au ? a->au->now_ms : mw_now_ms();
	/* aliases pointing to the version go with it, each audited */
	sqlite3_stmt *st = sqi_prep(c, SQL_MV_ALIASES, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, a->version);
	char **aliases = NULL;
	size_t na = 0, cap = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (na == cap) {
			cap = cap ? cap * 2 : 8;
			aliases = mw_xrealloc(aliases, cap * sizeof *aliases);
		}
		aliases[na++] = mw_xstrdup(sqi_col_text(st, 0));
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < na; i++) {
		if (!rc)
			rc = drop_alias(c, id, aliases[i], a->version, a->reason, NULL, a->au, err);
		free(aliases[i]);
	}
	free(aliases);
	if (!rc && *pinned)
		rc = sqi_art_delete_tree(c, pinned, now, NULL, err);
	for (size_t i = 0; !rc && i < sizeof SQL_MV_DELETE_ALL / sizeof *SQL_MV_DELETE_ALL; i++)
		rc = exec_ids(c, SQL_MV_DELETE_ALL[i], id, a->version, 2, err);
	if (!rc) {
		char target[32];
		snprintf(target, sizeof target, "%lld", (long long)a->version);
		struct event ev = {.kind = MW_EVENT_VERSION_DELETED,
				   .target = target,
				   .from_version = a->version,
				   .from_stage = stage,
				   .reason = a->au ? a->au->reason : NULL,
				   .evidence = a->au ? a->au->evidence : NULL};
		rc = add_event(c, id, &ev, a->au, err);
	}
	if (!rc)
		rc = touch_rm(c, id, now, err);
	return rc;
}

static int sqr_mv_delete(struct mw_store *store, const char *name, int64_t v,
			 const struct mw_audit *au, const char *alias_reason, struct mw_err *err)
{
	struct mv_arg a = {.name = name, .version = v, .au = au, .reason = alias_reason};
	return sqi_submit(store, job_mv_delete, &a, err);
}

static int set_stage(struct conn *c, int64_t id, int64_t v, const char *stage, int64_t now,
		     struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_MV_STAGE, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, stage);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, id);
	sqlite3_bind_int64(st, 4, v);
	return sqi_step_done(c, st, err);
}

static int job_mv_transition(struct conn *c, void *p, struct mw_err *err)
{
	struct mv_arg *a = p;
	int64_t id = 0;
	char from[32];
	int rc = rm_lookup(c, a->name, &id, err);
	if (!rc)
		rc = mv_require(c, id, a->name, a->version, from, NULL, err);
	if (rc)
		return rc;
	int64_t now = a->au ? a->au->now_ms : mw_now_ms();
	char target[32];
	snprintf(target, sizeof target, "%lld", (long long)a->version);
	if (a->archive_to) {
		/* collect first: rows cannot be updated while the statement steps over them */
		sqlite3_stmt *st = sqi_prep(c, SQL_MV_IN_STAGE, err);
		if (!st)
			return -err->code;
		sqlite3_bind_int64(st, 1, id);
		sqi_bind_text(st, 2, a->stage);
		sqlite3_bind_int64(st, 3, a->version);
		int64_t *others = NULL;
		size_t n = 0, cap = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				others = mw_xrealloc(others, cap * sizeof *others);
			}
			others[n++] = sqlite3_column_int64(st, 0);
		}
		sqlite3_reset(st);
		for (size_t i = 0; !rc && i < n; i++) {
			char otarget[32];
			snprintf(otarget, sizeof otarget, "%lld", (long long)others[i]);
			struct event ev = {.kind = MW_EVENT_STAGE,
					   .target = otarget,
					   .from_version = others[i],
					   .to_version = others[i],
					   .from_stage = a->stage,
					   .to_stage = a->archive_to,
					   .reason = a->reason};
			if (!(rc = set_stage(c, id, others[i], a->archive_to, now, err)))
				rc = add_event(c, id, &ev, a->au, err);
		}
		free(others);
		if (rc)
			return rc;
	}
	if ((rc = set_stage(c, id, a->version, a->stage, now, err)))
		return rc;
	if (strcmp(from, a->stage)) {
		struct event ev = {.kind = MW_EVENT_STAGE,
				   .target = target,
				   .from_version = a->version,
				   .to_version = a->version,
				   .from_stage = from,
				   .to_stage = a->stage,
				   .reason = a->au ? a->au->reason : NULL,
				   .evidence = a->au ? a->au->evidence : NULL};
		if ((rc = add_event(c, id, &ev, a->au, err)))
			return rc;
	}
	if ((rc = touch_rm(c, id, now, err)))
		return rc;
	return mv_load(c, id, a->name, a->version, a->a, a->out, err);
}

static int sqr_mv_transition(struct mw_store *store, const char *name, int64_t v, const char *stage,
			     const char *archive_to, const char *archive_reason,
			     const struct mw_audit *au, struct mw_arena *ar,
			     struct mw_model_version *out, struct mw_err *err)
{
	if (!stage || !*stage)
		return mw_err_set(err, MW_E_INVALID, "a transition needs a stage");
	struct mv_arg a = {.name = name,
			   .version = v,
			   .stage = stage,
			   .archive_to = archive_to,
			   .reason = archive_reason,
			   .au = au,
			   .a = ar,
			   .out = out};
	return sqi_submit(store, job_mv_transition, &a, err);
}

static const char *mv_col(const char *k)
{
	if (!strcmp(k, "name")) return "r.name";
	if (!strcmp(k, "version_number")) return "v.version";
	if (!strcmp(k, "run_id")) return "v.run_id";
	if (!strcmp(k, "source_path")) return "v.source";
	if (!strcmp(k, "creation_timestamp")) return "v.creation_timestamp";
	if (!strcmp(k, "last_updated_timestamp")) return "v.last_updated_timestamp";
	return NULL;
}

static bool mv_search_row(struct conn *c, sqlite3_stmt *st, struct mw_arena *a, void *slot,
			  struct mw_err *err)
{
	return !mv_row(c, st, a, slot, err);
}

static int sqr_mv_search(struct mw_store *store, const struct mw_filter *f,
			 const struct mw_order *o, size_t no, const struct mw_hide_tag *hide,
			 const struct mw_page *p, struct mw_arena *a, struct mw_model_version **out,
			 size_t *n, bool *more, struct mw_err *err)
{
	struct qb q;
	sqi_qb_init(&q);
	QS(&q, "SELECT " MV_COLS " FROM model_versions v JOIN registered_models r"
	       " ON r.rm_id = v.rm_id WHERE v.current_stage != '" DELETED_STAGE "'");
	if (hide) {
		QS(&q, " AND NOT EXISTS (SELECT 1 FROM model_version_tags t WHERE t.rm_id = v.rm_id"
		       " AND t.version = v.version AND t.key = ");
		sqi_qb_text(&q, hide->key);
		QS(&q, " AND lower(t.value) = lower(");
		sqi_qb_text(&q, hide->value);
		QS(&q, "))");
	}
	for (size_t i = 0; f && i < f->n; i++) {
		const struct mw_clause *cl = &f->c[i];
		QS(&q, " AND ");
		if (cl->kind == MW_KEY_TAG) {
			QS(&q, "EXISTS (SELECT 1 FROM model_version_tags t WHERE t.rm_id = v.rm_id"
			       " AND t.version = v.version AND t.key = ");
			sqi_qb_text(&q, cl->key);
			QS(&q, " AND ");
			sqi_qb_cmp(&q, "t.value", cl);
			QS(&q, ")");
		} else {
			const char *col = mv_col(cl->key);
			sqi_qb_cmp(&q, col ? col : "NULL", cl);
		}
	}
	QS(&q, " ORDER BY ");
	bool seen_name = false, seen_version = false, seen_updated = false;
	for (size_t i = 0; i < no; i++) {
		const char *col = mv_col(o[i].key);
		if (!col)
			continue;
		bool *seen = !strcmp(col, "r.name")			   ? &seen_name
			     : !strcmp(col, "v.version")		   ? &seen_version
			     : !strcmp(col, "v.last_updated_timestamp") ? &seen_updated
									   : NULL;
		if (seen) {
			if (*seen)
				continue;
			*seen = true;
		}
		sqi_qf(&q, "%s %s, ", col, o[i].asc ? "ASC" : "DESC");
	}
	/* by default the latest change first; ties (and every explicit order) end
	 * with name ASC, version DESC */
	if (!no)
		QS(&q, "v.last_updated_timestamp DESC, ");
	if (!seen_name)
		QS(&q, "r.name ASC, ");
	QS(&q, seen_version ? "v.rm_id ASC" : "v.version DESC");
	sqi_qb_page(&q, p);
	return sqi_qb_rows(store, &q, p, a, sizeof **out, mv_search_row, (void **)out, n, more,
			   err);
}

static int job_mv_set_tag(struct conn *c, void *p, struct mw_err *err)
{
	struct mv_arg *a = p;
	int64_t id = 0;
	int rc = rm_lookup(c, a->name, &id, err);
	if (!rc)
		rc = mv_require(c, id, a->name, a->version, NULL, NULL, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, a->has_value ? SQL_MV_TAG_SET : SQL_MV_TAG_DEL, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, a->version);
	sqi_bind_text(st, 3, a->key);
	if (a->has_value)
		sqi_bind_text(st, 4, a->value);
	return sqi_step_done(c, st, err);
}

static int sqr_mv_set_tag(struct mw_store *store, const char *name, int64_t v, const char *key,
			  const char *value, struct mw_err *err)
{
	struct mv_arg a = {.name = name, .version = v, .key = key, .value = value ? value : "",
			   .has_value = true};
	return sqi_submit(store, job_mv_set_tag, &a, err);
}

static int sqr_mv_delete_tag(struct mw_store *store, const char *name, int64_t v, const char *key,
			     struct mw_err *err)
{
	struct mv_arg a = {.name = name, .version = v, .key = key};
	return sqi_submit(store, job_mv_set_tag, &a, err);
}

/* ================================================================ model cards */

static int job_set_card(struct conn *c, void *p, struct mw_err *err)
{
	struct mv_arg *a = p;
	int64_t id = 0;
	int rc = rm_lookup(c, a->name, &id, err);
	if (!rc)
		rc = mv_require(c, id, a->name, a->version, NULL, NULL, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = sqi_prep(c, SQL_CARD_SET, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, a->version);
	sqi_bind_text(st, 3, a->card);
	sqlite3_bind_int64(st, 4, a->now);
	sqi_bind_text(st, 5, a->who && *a->who ? a->who : NULL);
	return sqi_step_done(c, st, err);
}

static int sqr_mv_set_card(struct mw_store *store, const char *name, int64_t v, const char *card,
			   const char *who, int64_t now, struct mw_err *err)
{
	if (!card)
		return mw_err_set(err, MW_E_INVALID, "no model card to store");
	struct mv_arg a = {.name = name, .version = v, .card = card, .who = who, .now = now};
	return sqi_submit(store, job_set_card, &a, err);
}

static int sqr_mv_get_card(struct mw_store *store, const char *name, int64_t v, struct mw_arena *a,
			   struct mw_model_card *out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(store, err);
	if (!c)
		return -err->code;
	int64_t id = 0;
	int rc = rm_lookup(c, name, &id, err);
	if (!rc)
		rc = mv_require(c, id, name, v, NULL, NULL, err);
	sqlite3_stmt *st = NULL;
	if (!rc && !(st = sqi_prep(c, SQL_CARD_GET, err)))
		rc = -err->code;
	if (!rc) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, v);
		if (sqlite3_step(st) == SQLITE_ROW) {
			out->card = sqi_col_dup(a, st, 0);
			out->updated = sqlite3_column_int64(st, 1);
			out->updated_by = sqi_col_dup(a, st, 2);
		} else {
			rc = mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_CARD,
					  "version %lld of '%.200s' has no model card",
					  (long long)v, name);
		}
		sqlite3_reset(st);
	}
	sqi_rd_end(store, c);
	return rc;
}

/* ================================================================ ops */

const struct mw_store_registry_ops mw_sqlite_registry_ops = {
	.rm_create = sqr_rm_create,
	.rm_get = sqr_rm_get,
	.rm_name_by_id = sqr_rm_name_by_id,
	.rm_rename = sqr_rm_rename,
	.rm_update = sqr_rm_update,
	.rm_delete = sqr_rm_delete,
	.rm_search = sqr_rm_search,
	.rm_set_tag = sqr_rm_set_tag,
	.rm_delete_tag = sqr_rm_delete_tag,
	.rm_set_alias = sqr_rm_set_alias,
	.rm_move_alias = sqr_rm_move_alias,
	.rm_delete_alias = sqr_rm_delete_alias,
	.rm_get_by_alias = sqr_rm_get_by_alias,
	.rm_alias_state = sqr_rm_alias_state,
	.rm_latest_versions = sqr_rm_latest_versions,
	.rm_history = sqr_rm_history,
	.mv_create = sqr_mv_create,
	.mv_get = sqr_mv_get,
	.mv_update = sqr_mv_update,
	.mv_delete = sqr_mv_delete,
	.mv_transition = sqr_mv_transition,
	.mv_search = sqr_mv_search,
	.mv_set_tag = sqr_mv_set_tag,
	.mv_delete_tag = sqr_mv_delete_tag,
	.mv_set_card = sqr_mv_set_card,
	.mv_get_card = sqr_mv_get_card,
};
