/*
 * sqlite_auth.c - the auth domain in the SQLite backend: users, API tokens
 * (schema: migration 5 in sqlite.c, a token's scope 6), roles and permissions
 * (migration 8), as the records of store/auth.h.
 *
 * Only hashes are stored: a password as its scrypt encoding, a token as the
 * SHA-256 hex of its text (auth/ computes both).  Ids are AUTOINCREMENT, so
 * a deleted user's or token's id never names another.  Deleting a user
 * deletes its tokens in the same write.  Writes run as group-commit jobs,
 * reads on a pooled read connection; every statement is a static string
 * with bound values.
 */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <string.h>

static const char SQL_USER_BY_NAME[] =
	"SELECT id, name, pw_hash, is_admin, created_at, role FROM auth_users WHERE name = ?";
static const char SQL_USER_INSERT[] = "INSERT INTO auth_users (name, pw_hash, is_admin, created_at,"
				      " role) VALUES (?, ?, ?, ?, ?)";
static const char SQL_USER_COUNT[] = "SELECT count(*) FROM auth_users";
static const char SQL_USER_SET_PW[] = "UPDATE auth_users SET pw_hash = ? WHERE name = ?";
static const char SQL_USER_SET_ROLE[] =
	"UPDATE auth_users SET role = ?, is_admin = (?1 = 'admin') WHERE name = ?";
static const char SQL_USER_DEL_PERMS[] =
	"DELETE FROM auth_permissions WHERE user_id = (SELECT id FROM auth_users WHERE name = ?)";
static const char SQL_USER_DEL_TOKENS[] =
	"DELETE FROM auth_tokens WHERE user_id = (SELECT id FROM auth_users WHERE name = ?)";
static const char SQL_USER_DEL[] = "DELETE FROM auth_users WHERE name = ?";
static const char SQL_TOKEN_INSERT[] =
	"INSERT INTO auth_tokens (user_id, name, hash, created_at, expires_at, scope)"
	" VALUES (?, ?, ?, ?, ?, ?)";
#define TOKEN_COLS                                                                            \
	"SELECT t.id, t.user_id, u.name, u.is_admin, t.name, t.hash, t.created_at,"           \
	" coalesce(t.expires_at, 0), coalesce(t.last_used_at, 0), coalesce(t.revoked_at, 0)," \
	" t.scope = 'inference', u.role"                                                      \
	" FROM auth_tokens t JOIN auth_users u ON u.id = t.user_id"
static const char SQL_TOKEN_BY_HASH[] = TOKEN_COLS " WHERE t.hash = ?";
static const char SQL_TOKEN_LIST_USER[] = TOKEN_COLS " WHERE t.user_id = ? ORDER BY t.id";
static const char SQL_TOKEN_LIST_ALL[] = TOKEN_COLS " ORDER BY t.id";
static const char SQL_TOKEN_OWNER[] = "SELECT user_id, hash, coalesce(revoked_at, 0)"
				      " FROM auth_tokens WHERE id = ?";
static const char SQL_TOKEN_REVOKE[] = "UPDATE auth_tokens SET revoked_at = ? WHERE id = ?";
static const char SQL_TOKEN_TOUCH[] = "UPDATE auth_tokens SET last_used_at = ? WHERE id = ?";

static enum mw_role role_of(sqlite3_stmt *st, int col)
{
	enum mw_role r = MW_ROLE_VIEWER;
	(void)mw_role_parse(sqi_col_text(st, col), &r); /* anything else: the least */
	return r;
}

static int user_not_found(const char *name, struct mw_err *err)
{
	return mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_USER, "user '%.200s' does not exist",
			    name);
}

static int user_row(struct conn *c, const char *name, struct mw_arena *a, struct mw_user *o,
		    struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, SQL_USER_BY_NAME, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, name);
	int rc = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		memset(o, 0, sizeof *o);
		o->id = sqlite3_column_int64(st, 0);
		if (a) {
			o->name = sqi_col_dup(a, st, 1);
			o->pw_hash = sqi_col_dup(a, st, 2);
		}
		o->admin = sqlite3_column_int(st, 3) != 0;
		o->created_ms = sqlite3_column_int64(st, 4);
		o->role = role_of(st, 5);
	} else {
		rc = user_not_found(name, err);
	}
	sqlite3_reset(st);
	return rc;
}

/* ------------------------------------------------------------ users */

struct user_arg {
	const char *name, *pw_hash;
	enum mw_role role;
	int64_t now, *id;
};

static int job_user_create(struct conn *c, void *p, struct mw_err *err)
{
	struct user_arg *u = p;
	struct mw_user o;
	struct mw_err e2;
	if (!user_row(c, u->name, NULL, &o, &e2))
		return mw_store_err(err, MW_E_EXISTS, MW_STORE_USER, "user '%.200s' exists",
				    u->name);
	sqlite3_stmt *st = sqi_prep(c, SQL_USER_INSERT, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 1, u->name);
	sqi_bind_text(st, 2, u->pw_hash);
	sqlite3_bind_int(st, 3, u->role == MW_ROLE_ADMIN);
	sqlite3_bind_int64(st, 4, u->now);
	sqi_bind_text(st, 5, mw_role_name(u->role));
	int rc = sqi_step_done(c, st, err);
	if (!rc && u->id)
		*u->id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

static int sqa_user_create(struct mw_store *s, const char *name, const char *pw_hash,
			   enum mw_role role, int64_t now, int64_t *id, struct mw_err *err)
{
	struct user_arg u = {.name = name, .pw_hash = pw_hash, .role = role, .now = now, .id = id};
	return sqi_submit(s, job_user_create, &u, err);
}

static int sqa_user_get(struct mw_store *s, const char *name, struct mw_arena *a,
			struct mw_user *out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(s, err);
	if (!c)
		return -err->code;
	int rc = user_row(c, name, a, out, err);
	sqi_rd_end(s, c);
	return rc;
}

static int sqa_user_count(struct mw_store *s, int64_t *n, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(s, err);
	if (!c)
		return -err->code;
	sqlite3_stmt *st = sqi_prep(c, SQL_USER_COUNT, err);
	int rc = st ? 0 : -err->code;
	if (st) {
		if (sqlite3_step(st) == SQLITE_ROW)
			*n = sqlite3_column_int64(st, 0);
		else
			rc = sqi_sqerr(c, err, "count users");
		sqlite3_reset(st);
	}
	sqi_rd_end(s, c);
	return rc;
}

/* One UPDATE/DELETE by user name; MW_E_NOT_FOUND when no row changed. */
struct named_arg {
	const char *sql, *name, *text;
	int64_t ival;
	bool use_text;
};

static int job_user_update(struct conn *c, void *p, struct mw_err *err)
{
	struct named_arg *a = p;
	sqlite3_stmt *st = sqi_prep(c, a->sql, err);
	if (!st)
		return -err->code;
	if (a->use_text)
		sqi_bind_text(st, 1, a->text);
	else
		sqlite3_bind_int64(st, 1, a->ival);
	sqi_bind_text(st, 2, a->name);
	int rc = sqi_step_done(c, st, err);
	if (!rc && sqlite3_changes(c->db) == 0)
		rc = user_not_found(a->name, err);
	return rc;
}

static int sqa_user_set_password(struct mw_store *s, const char *name, const char *pw_hash,
				 struct mw_err *err)
{
	struct named_arg a = {.sql = SQL_USER_SET_PW,
			      .name = name,
			      .text = pw_hash,
			      .use_text = true};
	return sqi_submit(s, job_user_update, &a, err);
}

static int sqa_user_set_role(struct mw_store *s, const char *name, enum mw_role role,
			     struct mw_err *err)
{
	struct named_arg a = {.sql = SQL_USER_SET_ROLE,
			      .name = name,
			      .text = mw_role_name(role),
			      .use_text = true};
	return sqi_submit(s, job_user_update, &a, err);
}

static int job_user_delete(struct conn *c, void *p, struct mw_err *err)
{
	const char *name = p;
	int rc = 0;
	sqlite3_stmt *st;
	static const char *const before[] = {SQL_USER_DEL_TOKENS, SQL_USER_DEL_PERMS};
	for (size_t i = 0; i < sizeof before / sizeof *before; i++) {
		if (!(st = sqi_prep(c, before[i], err)))
			return -err->code;
		sqi_bind_text(st, 1, name);
		if ((rc = sqi_step_done(c, st, err)))
			return rc;
	}
	if (!(st = sqi_prep(c, SQL_USER_DEL, err)))
		return -err->code;
	sqi_bind_text(st, 1, name);
	rc = sqi_step_done(c, st, err);
	if (!rc && sqlite3_changes(c->db) == 0)
		rc = user_not_found(name, err);
	return rc;
}

static int sqa_user_delete(struct mw_store *s, const char *name, struct mw_err *err)
{
	return sqi_submit(s, job_user_delete, (void *)name, err);
}

/* ------------------------------------------------------------ tokens */

struct token_arg {
	int64_t user_id, id, now, expires;
	bool inference;
	const char *name, *hash;
	int64_t *out_id;
	char *out_hash;
};

static int job_token_create(struct conn *c, void *p, struct mw_err *err)
{
	struct token_arg *t = p;
	sqlite3_stmt *st = sqi_prep(c, SQL_TOKEN_INSERT, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, t->user_id);
	sqi_bind_text(st, 2, t->name);
	sqi_bind_text(st, 3, t->hash);
	sqlite3_bind_int64(st, 4, t->now);
	if (t->expires)
		sqlite3_bind_int64(st, 5, t->expires);
	else
		sqlite3_bind_null(st, 5);
	sqi_bind_text(st, 6, t->inference ? "inference" : "full");
	int rc = sqi_step_done(c, st, err);
	if (!rc)
		sqi_audit_resource(c, "%lld", (long long)sqlite3_last_insert_rowid(c->db));
	if (!rc && t->out_id)
		*t->out_id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

static int sqa_token_create(struct mw_store *s, int64_t user_id, const char *name, const char *hash,
			    int64_t now, int64_t expires, bool inference, int64_t *id,
			    struct mw_err *err)
{
	struct token_arg t = {.user_id = user_id,
			      .inference = inference,
			      .name = name,
			      .hash = hash,
			      .now = now,
			      .expires = expires,
			      .out_id = id};
	return sqi_submit(s, job_token_create, &t, err);
}

static void token_row(sqlite3_stmt *st, struct mw_arena *a, struct mw_token *o)
{
	o->id = sqlite3_column_int64(st, 0);
	o->user_id = sqlite3_column_int64(st, 1);
	o->user = sqi_col_dup(a, st, 2);
	o->admin = sqlite3_column_int(st, 3) != 0;
	o->name = sqi_col_dup(a, st, 4);
	o->hash = sqi_col_dup(a, st, 5);
	o->created_ms = sqlite3_column_int64(st, 6);
	o->expires_ms = sqlite3_column_int64(st, 7);
	o->last_used_ms = sqlite3_column_int64(st, 8);
	o->revoked_ms = sqlite3_column_int64(st, 9);
	o->inference = sqlite3_column_int(st, 10) != 0;
	o->role = role_of(st, 11);
}

static int sqa_token_get(struct mw_store *s, const char *hash, struct mw_arena *a,
			 struct mw_token *out, struct mw_err *err)
{
	struct conn *c = sqi_rd_begin(s, err);
	if (!c)
		return -err->code;
	sqlite3_stmt *st = sqi_prep(c, SQL_TOKEN_BY_HASH, err);
	int rc = st ? 0 : -err->code;
	if (st) {
		sqi_bind_text(st, 1, hash);
		if (sqlite3_step(st) == SQLITE_ROW) {
			memset(out, 0, sizeof *out);
			token_row(st, a, out);
		} else {
			rc = mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_TOKEN, "no such token");
		}
		sqlite3_reset(st);
	}
	sqi_rd_end(s, c);
	return rc;
}

static int sqa_token_list(struct mw_store *s, int64_t user_id, struct mw_arena *a,
			  struct mw_token **out, size_t *n, struct mw_err *err)
{
	*out = NULL;
	*n = 0;
	struct conn *c = sqi_rd_begin(s, err);
	if (!c)
		return -err->code;
	sqlite3_stmt *st = sqi_prep(c, user_id ? SQL_TOKEN_LIST_USER : SQL_TOKEN_LIST_ALL, err);
	int rc = st ? 0 : -err->code;
	if (st) {
		if (user_id)
			sqlite3_bind_int64(st, 1, user_id);
		struct mw_store_vec v = {0};
		int r;
		while ((r = sqlite3_step(st)) == SQLITE_ROW)
			token_row(st, a, mw_store_vec_push(&v, a, sizeof(struct mw_token)));
		if (r != SQLITE_DONE)
			rc = sqi_sqerr(c, err, "list tokens");
		sqlite3_reset(st);
		*out = v.v;
		*n = v.n;
	}
	sqi_rd_end(s, c);
	return rc;
}

static int job_token_revoke(struct conn *c, void *p, struct mw_err *err)
{
	struct token_arg *t = p;
	sqlite3_stmt *st = sqi_prep(c, SQL_TOKEN_OWNER, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, t->id);
	int rc = 0;
	int64_t revoked = 0;
	if (sqlite3_step(st) == SQLITE_ROW &&
	    (!t->user_id || sqlite3_column_int64(st, 0) == t->user_id)) {
		const char *h = sqi_col_text(st, 1);
		if (t->out_hash)
			snprintf(t->out_hash, 65, "%s", h ? h : "");
		revoked = sqlite3_column_int64(st, 2);
	} else {
		rc = mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_TOKEN, "token %lld does not exist",
				  (long long)t->id);
	}
	sqlite3_reset(st);
	if (rc || revoked)
		return rc;
	if (!(st = sqi_prep(c, SQL_TOKEN_REVOKE, err)))
		return -err->code;
	sqlite3_bind_int64(st, 1, t->now);
	sqlite3_bind_int64(st, 2, t->id);
	return sqi_step_done(c, st, err);
}

static int sqa_token_revoke(struct mw_store *s, int64_t id, int64_t user_id, int64_t now,
			    char hash[65], struct mw_err *err)
{
	struct token_arg t = {.id = id, .user_id = user_id, .now = now, .out_hash = hash};
	if (hash)
		hash[0] = 0;
	return sqi_submit(s, job_token_revoke, &t, err);
}

static int job_token_touch(struct conn *c, void *p, struct mw_err *err)
{
	struct token_arg *t = p;
	sqlite3_stmt *st = sqi_prep(c, SQL_TOKEN_TOUCH, err);
	if (!st)
		return -err->code;
	sqlite3_bind_int64(st, 1, t->now);
	sqlite3_bind_int64(st, 2, t->id);
	return sqi_step_done(c, st, err);
}

static int sqa_token_touch(struct mw_store *s, int64_t id, int64_t now, struct mw_err *err)
{
	struct token_arg t = {.id = id, .now = now};
	return sqi_submit(s, job_token_touch, &t, err);
}

/* ------------------------------------------------------------ permissions */

static const char SQL_PERM_GET[] =
	"SELECT permission FROM auth_permissions WHERE kind = ? AND resource = ? AND user_id = ?";
static const char SQL_PERM_INSERT[] =
	"INSERT INTO auth_permissions (kind, resource, user_id, permission) VALUES (?, ?, ?, ?)";
static const char SQL_PERM_UPSERT[] =
	"INSERT OR REPLACE INTO auth_permissions (kind, resource, user_id, permission)"
	" VALUES (?, ?, ?, ?)";
static const char SQL_PERM_UPDATE[] = "UPDATE auth_permissions SET permission = ?4"
				      " WHERE kind = ?1 AND resource = ?2 AND user_id = ?3";
static const char SQL_PERM_DELETE[] =
	"DELETE FROM auth_permissions WHERE kind = ? AND resource = ? AND user_id = ?";
static const char SQL_PERM_LIST[] = "SELECT kind, resource, permission FROM auth_permissions"
				    " WHERE user_id = ? ORDER BY kind, resource";

struct perm_arg {
	enum mw_perm_kind kind;
	const char *resource;
	int64_t user_id;
	enum mw_perm perm;
	enum mw_perm_put mode;
};

static int perm_not_found(const struct perm_arg *a, struct mw_err *err)
{
	return mw_store_err(err, MW_E_NOT_FOUND, MW_STORE_PERMISSION,
			    "no permission of user %lld on %s '%.200s'", (long long)a->user_id,
			    a->kind == MW_PERM_EXPERIMENT ? "experiment" : "registered model",
			    a->resource);
}

static sqlite3_stmt *perm_prep(struct conn *c, const char *sql, const struct perm_arg *a,
			       struct mw_err *err)
{
	sqlite3_stmt *st = sqi_prep(c, sql, err);
	if (st) {
		sqlite3_bind_int(st, 1, (int)a->kind);
		sqi_bind_text(st, 2, a->resource);
		sqlite3_bind_int64(st, 3, a->user_id);
	}
	return st;
}

static int job_perm_put(struct conn *c, void *p, struct mw_err *err)
{
	struct perm_arg *a = p;
	const char *sql = a->mode == MW_PERM_PUT_CREATE   ? SQL_PERM_INSERT
			  : a->mode == MW_PERM_PUT_UPDATE ? SQL_PERM_UPDATE
							  : SQL_PERM_UPSERT;
	if (a->mode == MW_PERM_PUT_CREATE) {
		sqlite3_stmt *st = perm_prep(c, SQL_PERM_GET, a, err);
		if (!st)
			return -err->code;
		bool exists = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_reset(st);
		if (exists)
			return mw_store_err(err, MW_E_EXISTS, MW_STORE_PERMISSION,
					    "user %lld already has a permission on %s '%.200s'",
					    (long long)a->user_id,
					    a->kind == MW_PERM_EXPERIMENT ? "experiment"
									  : "registered model",
					    a->resource);
	}
	sqlite3_stmt *st = perm_prep(c, sql, a, err);
	if (!st)
		return -err->code;
	sqi_bind_text(st, 4, mw_perm_name(a->perm));
	int rc = sqi_step_done(c, st, err);
	if (!rc && a->mode == MW_PERM_PUT_UPDATE && sqlite3_changes(c->db) == 0)
		rc = perm_not_found(a, err);
	return rc;
}

static int sqa_perm_put(struct mw_store *s, enum mw_perm_kind kind, const char *resource,
			int64_t user_id, enum mw_perm perm, enum mw_perm_put mode,
			struct mw_err *err)
{
	struct perm_arg a = {.kind = kind,
			     .resource = resource,
			     .user_id = user_id,
			     .perm = perm,
			     .mode = mode};
	return sqi_submit(s, job_perm_put, &a, err);
}

static int sqa_perm_get(struct mw_store *s, enum mw_perm_kind kind, const char *resource,
			int64_t user_id, enum mw_perm *out, struct mw_err *err)
{
	struct perm_arg a = {.kind = kind, .resource = resource, .user_id = user_id};
	struct conn *c = sqi_rd_begin(s, err);
	if (!c)
		return -err->code;
	sqlite3_stmt *st = perm_prep(c, SQL_PERM_GET, &a, err);
	int rc = st ? 0 : -err->code;
	if (st) {
		int r = sqlite3_step(st);
		if (r == SQLITE_ROW) {
			*out = MW_PERM_NONE; /* an unknown name grants nothing */
			(void)mw_perm_parse(sqi_col_text(st, 0), out);
		} else if (r == SQLITE_DONE) {
			rc = perm_not_found(&a, err);
		} else {
			rc = sqi_sqerr(c, err, "read a permission");
		}
		sqlite3_reset(st);
	}
	sqi_rd_end(s, c);
	return rc;
}

static int job_perm_delete(struct conn *c, void *p, struct mw_err *err)
{
	struct perm_arg *a = p;
	sqlite3_stmt *st = perm_prep(c, SQL_PERM_DELETE, a, err);
	if (!st)
		return -err->code;
	int rc = sqi_step_done(c, st, err);
	if (!rc && sqlite3_changes(c->db) == 0)
		rc = perm_not_found(a, err);
	return rc;
}

static int sqa_perm_delete(struct mw_store *s, enum mw_perm_kind kind, const char *resource,
			   int64_t user_id, struct mw_err *err)
{
	struct perm_arg a = {.kind = kind, .resource = resource, .user_id = user_id};
	return sqi_submit(s, job_perm_delete, &a, err);
}

static int sqa_perm_list(struct mw_store *s, int64_t user_id, struct mw_arena *a,
			 struct mw_perm_row **out, size_t *n, struct mw_err *err)
{
	*out = NULL;
	*n = 0;
	struct conn *c = sqi_rd_begin(s, err);
	if (!c)
		return -err->code;
	sqlite3_stmt *st = sqi_prep(c, SQL_PERM_LIST, err);
	int rc = st ? 0 : -err->code;
	if (st) {
		sqlite3_bind_int64(st, 1, user_id);
		struct mw_store_vec v = {0};
		int r;
		while ((r = sqlite3_step(st)) == SQLITE_ROW) {
			struct mw_perm_row *o = mw_store_vec_push(&v, a, sizeof *o);
			o->kind = (enum mw_perm_kind)sqlite3_column_int(st, 0);
			o->resource = sqi_col_dup(a, st, 1);
			o->user_id = user_id;
			o->perm = MW_PERM_NONE;
			(void)mw_perm_parse(sqi_col_text(st, 2), &o->perm);
		}
		if (r != SQLITE_DONE)
			rc = sqi_sqerr(c, err, "list permissions");
		sqlite3_reset(st);
		*out = v.v;
		*n = v.n;
	}
	sqi_rd_end(s, c);
	return rc;
}

const struct mw_store_auth_ops mw_sqlite_auth_ops = {
	.user_create = sqa_user_create,
	.user_get = sqa_user_get,
	.user_count = sqa_user_count,
	.user_set_password = sqa_user_set_password,
	.user_set_role = sqa_user_set_role,
	.user_delete = sqa_user_delete,
	.token_create = sqa_token_create,
	.token_get = sqa_token_get,
	.token_list = sqa_token_list,
	.token_revoke = sqa_token_revoke,
	.token_touch = sqa_token_touch,
	.perm_put = sqa_perm_put,
	.perm_get = sqa_perm_get,
	.perm_delete = sqa_perm_delete,
	.perm_list = sqa_perm_list,
};
