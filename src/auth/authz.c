/*
 * authz.c - authorisation: the effective permission of a verified user on
 * an experiment or a registered model, the caches that keep a check off the
 * store, and the management of permission rows (see auth.h for the rules).
 *
 * One cache of look-ups keeps a check off the store: 8192 slots under one
 * mutex, each remembering one answer with the generation it was read in and
 * when.  What a slot answers is named by its kind, a number and a key:
 *   a user's permission row on a resource (kind: the resource's kind, num:
 *     the user id, key: the resource; the row, or that there is none);
 *   the experiment of a run or a logged model (key: its id);
 *   the experiment whose artifact root holds a proxy path (key: the path);
 *   a registered model's current name by its internal id (num: the id),
 *     valid for the caller's epoch (the registry's generation) besides.
 * A slot is valid while its generation is the object's and it is younger
 * than the credential cache's TTL; any change of a row, a role or a user
 * bumps the generation, which empties the cache at once without touching
 * it.  A run's or logged model's experiment never changes, so those slots
 * skip both checks and are only ever replaced.  Keys and answers longer than
 * a slot holds are not cached (they are read every time).  The table is
 * fixed-size: memory never grows with traffic.
 */
#include "auth/auth_int.h"

#include "store/registry.h"
#include "store/tracking.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 8192
#define ROOT_DEPTH 32 /* deepest artifact root matched, in segments */
#define RES_MAX 128   /* longest key or answer cached */

/* What a slot answers (the permission kinds are enum mw_perm_kind's). */
enum {
	K_RUN = 3,  /* a run's experiment */
	K_LM,       /* a logged model's experiment */
	K_ROOT,     /* the experiment whose artifact root holds a path ("": none) */
	K_NAME,     /* a registered model's name by its id */
};

struct slot {
	uint64_t gen; /* 0: empty; else the generation it was read in */
	uint64_t epoch;
	int64_t read_ms;
	int64_t num;
	int kind;
	int ival;          /* a permission row (-1: none) */
	char key[RES_MAX];
	char val[RES_MAX]; /* an experiment id or a name */
};

struct authz {
	pthread_mutex_t mu;
	uint64_t gen;
	struct slot s[SLOTS];
};

struct authz *mw_authz_new_cache(void)
{
	struct authz *z = mw_xcalloc(1, sizeof *z);
	pthread_mutex_init(&z->mu, NULL);
	z->gen = 1;
	return z;
}

void mw_authz_free_cache(struct authz *z)
{
	if (!z)
		return;
	pthread_mutex_destroy(&z->mu);
	free(z);
}

void mw_authz_invalidate(struct mw_authn *a)
{
	pthread_mutex_lock(&a->z->mu);
	a->z->gen++;
	pthread_mutex_unlock(&a->z->mu);
}

static struct slot *slot_of(struct authz *z, int kind, int64_t num, const char *key)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)kind;
	h = (h ^ (uint64_t)num) * 1099511628211ull;
	for (const char *c = key; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ull;
	return &z->s[(h ^ (h >> 29)) % SLOTS];
}

/* A cached answer for (kind, num, key, epoch) into *out; *gen gets the
 * generation to hand to cache_put after a read from the store.  sticky: the
 * answer never changes (no generation or TTL check). */
static bool cache_get(struct mw_authn *a, int kind, int64_t num, const char *key, uint64_t epoch,
		      bool sticky, struct slot *out, uint64_t *gen)
{
	struct authz *z = a->z;
	struct slot *s = slot_of(z, kind, num, key);
	int64_t now = mw_now_ms();
	pthread_mutex_lock(&z->mu);
	*gen = z->gen;
	bool hit = strlen(key) < RES_MAX && s->gen && s->kind == kind && s->num == num &&
		   s->epoch == epoch && !strcmp(s->key, key) &&
		   (sticky || (s->gen == *gen && now - s->read_ms < a->ttl_ms));
	if (hit)
		*out = *s;
	pthread_mutex_unlock(&z->mu);
	return hit;
}

/* Remember an answer read from the store, unless something changed since
 * the read began (the generation moved) or it does not fit a slot. */
static void cache_put(struct mw_authn *a, int kind, int64_t num, const char *key, uint64_t epoch,
		      uint64_t gen, int ival, const char *val)
{
	struct authz *z = a->z;
	if (strlen(key) >= RES_MAX || strlen(val) >= RES_MAX)
		return;
	struct slot *s = slot_of(z, kind, num, key);
	pthread_mutex_lock(&z->mu);
	if (z->gen == gen) {
		s->gen = gen;
		s->epoch = epoch;
		s->read_ms = mw_now_ms();
		s->num = num;
		s->kind = kind;
		s->ival = ival;
		snprintf(s->key, sizeof s->key, "%s", key);
		snprintf(s->val, sizeof s->val, "%s", val);
	}
	pthread_mutex_unlock(&z->mu);
}

/* The user's row on a resource: 0 and *row (-1: none), from the cache or
 * the store. */
static int user_row(struct mw_authn *a, int64_t user_id, enum mw_perm_kind kind, const char *res,
		    int *row, struct mw_err *err)
{
	struct slot c;
	uint64_t gen;
	if (cache_get(a, (int)kind, user_id, res, 0, false, &c, &gen)) {
		*row = c.ival;
		return 0;
	}
	enum mw_perm p = MW_PERM_NONE;
	struct mw_err e2 = {0};
	int rc = mw_store_perm_get(a->store, kind, res, user_id, &p, &e2);
	if (rc == -MW_E_NOT_FOUND)
		*row = -1;
	else if (rc)
		return mw_err_set(err, e2.code, "%s", e2.msg);
	else
		*row = (int)p;
	cache_put(a, (int)kind, user_id, res, 0, gen, *row, "");
	return 0;
}

int mw_authz_perm(struct mw_authn *a, const struct mw_principal *p, enum mw_perm_kind kind,
		  const char *resource, enum mw_perm *out, struct mw_err *err)
{
	if (!p || p->admin) {
		*out = MW_PERM_MANAGE;
		return 0;
	}
	int row = -1;
	int rc = user_row(a, p->user_id, kind, resource ? resource : "", &row, err);
	if (rc)
		return rc;
	if (row >= 0)
		*out = (enum mw_perm)row;
	else
		*out = p->role == MW_ROLE_EDITOR ? MW_PERM_EDIT : MW_PERM_READ;
	return 0;
}

int mw_authz_check(struct mw_authn *a, const struct mw_principal *p, enum mw_perm_kind kind,
		   const char *resource, enum mw_perm need, struct mw_err *err)
{
	enum mw_perm have = MW_PERM_NONE;
	int rc = mw_authz_perm(a, p, kind, resource, &have, err);
	if (rc)
		return rc;
	if (have < need)
		return mw_err_set(err, MW_E_DENIED, "Permission denied");
	return 0;
}

bool mw_authz_can_read(struct mw_authn *a, const struct mw_principal *p, enum mw_perm_kind kind,
		       const char *resource)
{
	struct mw_err e = {0};
	return mw_authz_check(a, p, kind, resource, MW_PERM_READ, &e) == 0;
}

/* ------------------------------------------------------------ experiments of things */

static int copy_exp(const char *exp, char out[64], struct mw_err *err)
{
	if (!exp || strlen(exp) >= 64)
		return mw_err_set(err, MW_E_INTERNAL, "an experiment id is too long");
	snprintf(out, 64, "%s", exp);
	return 0;
}

int mw_authz_run_experiment(struct mw_authn *a, const char *run_id, char out[64],
			    struct mw_err *err)
{
	struct slot c;
	uint64_t gen;
	if (cache_get(a, K_RUN, 0, run_id, 0, true, &c, &gen))
		return copy_exp(c.val, out, err);
	struct mw_arena *ar = mw_arena_new(4096);
	struct mw_run r;
	int rc = mw_store_run_get(a->store, run_id, ar, &r, err);
	if (!rc)
		rc = copy_exp(r.info.experiment_id, out, err);
	if (!rc)
		cache_put(a, K_RUN, 0, run_id, 0, gen, 0, out);
	mw_arena_free(ar);
	return rc;
}

int mw_authz_lm_experiment(struct mw_authn *a, const char *model_id, char out[64],
			   struct mw_err *err)
{
	struct slot c;
	uint64_t gen;
	if (cache_get(a, K_LM, 0, model_id, 0, true, &c, &gen))
		return copy_exp(c.val, out, err);
	struct mw_arena *ar = mw_arena_new(2048);
	struct mw_logged_model m;
	int rc = mw_store_lm_get(a->store, model_id, ar, &m, err);
	if (!rc)
		rc = copy_exp(m.experiment_id, out, err);
	if (!rc)
		cache_put(a, K_LM, 0, model_id, 0, gen, 0, out);
	mw_arena_free(ar);
	return rc;
}

int mw_authz_exp_by_name(struct mw_authn *a, const char *name, char out[64], struct mw_err *err)
{
	struct mw_arena *ar = mw_arena_new(2048);
	struct mw_experiment e;
	int rc = mw_store_exp_get_by_name(a->store, name, ar, &e, err);
	if (!rc)
		rc = copy_exp(e.experiment_id, out, err);
	mw_arena_free(ar);
	return rc;
}

/* The store's look-up: every prefix of path that ends at a segment
 * boundary (at most ROOT_DEPTH segments), longest first, each as the
 * location "mlflow-artifacts:/<prefix>" and with a trailing '/'. */
static int root_lookup(struct mw_authn *a, const char *path, char exp[32], struct mw_err *err)
{
	const char *locs[2 * ROOT_DEPTH];
	size_t ends[ROOT_DEPTH], nseg = 0, n = 0;
	for (const char *p = path; nseg < ROOT_DEPTH; p++) {
		if (!*p || *p == '/')
			ends[nseg++] = (size_t)(p - path);
		if (!*p)
			break;
	}
	struct mw_arena *ar = mw_arena_new(4096);
	for (size_t i = nseg; i-- > 0;) {
		int len = (int)ends[i];
		locs[n++] = mw_arena_printf(ar, "mlflow-artifacts:/%.*s", len, path);
		locs[n++] = mw_arena_printf(ar, "mlflow-artifacts:/%.*s/", len, path);
	}
	int rc = mw_store_exp_by_location(a->store, locs, n, exp, NULL, err);
	mw_arena_free(ar);
	return rc;
}

int mw_authz_art_experiment(struct mw_authn *a, const char *path, char out[32], struct mw_err *err)
{
	if (!path || !*path)
		return mw_err_set(err, MW_E_NOT_FOUND, "no experiment holds the artifact root");
	struct slot c;
	uint64_t gen;
	char exp[32] = "";
	if (cache_get(a, K_ROOT, 0, path, 0, false, &c, &gen)) {
		snprintf(exp, sizeof exp, "%.31s", c.val); /* put from an exp[32] */
	} else {
		struct mw_err e2 = {0};
		int rc = root_lookup(a, path, exp, &e2);
		if (rc == -MW_E_NOT_FOUND)
			exp[0] = 0;
		else if (rc)
			return mw_err_set(err, e2.code, "%s", e2.msg);
		cache_put(a, K_ROOT, 0, path, 0, gen, 0, exp);
	}
	if (!exp[0])
		return mw_err_set(err, MW_E_NOT_FOUND, "no experiment holds the artifact root");
	memcpy(out, exp, 32);
	return 0;
}

int mw_authz_model_name(struct mw_authn *a, int64_t rm_id, uint64_t epoch, char *out, size_t n,
			struct mw_err *err)
{
	struct slot c;
	uint64_t gen;
	if (cache_get(a, K_NAME, rm_id, "", epoch, false, &c, &gen) && strlen(c.val) < n) {
		snprintf(out, n, "%s", c.val);
		return 0;
	}
	struct mw_arena *ar = mw_arena_new(1024);
	const char *name = NULL;
	int rc = mw_store_rm_name_by_id(a->store, rm_id, ar, &name, err);
	if (!rc && strlen(name) >= n)
		rc = mw_err_set(err, MW_E_INTERNAL, "a registered model's name is too long");
	if (!rc) {
		snprintf(out, n, "%s", name);
		cache_put(a, K_NAME, rm_id, "", epoch, gen, 0, name);
	}
	mw_arena_free(ar);
	return rc;
}

/* ------------------------------------------------------------ managing rows */

static int check_resource(enum mw_perm_kind kind, const char *resource, struct mw_err *err)
{
	size_t n = resource ? strlen(resource) : 0;
	if (kind != MW_PERM_EXPERIMENT && kind != MW_PERM_MODEL)
		return mw_err_set(err, MW_E_INVALID, "unknown kind of resource");
	if (!n || n > 1000 || !mw_utf8_valid(resource, n))
		return mw_err_set(err, MW_E_INVALID, "Missing value for required parameter '%s'.",
				  kind == MW_PERM_EXPERIMENT ? "experiment_id" : "name");
	return 0;
}

/* The caller may manage the resource's rows, and user exists (*uid). */
static int manage_prep(struct mw_authn *a, const struct mw_principal *p, enum mw_perm_kind kind,
		       const char *resource, const char *user, int64_t *uid, struct mw_err *err)
{
	int rc = check_resource(kind, resource, err);
	if (!rc && !user)
		rc = mw_err_set(err, MW_E_INVALID,
				"Missing value for required parameter 'username'.");
	if (!rc)
		rc = mw_auth_check_name(user, err);
	if (!rc)
		rc = mw_authz_check(a, p, kind, resource, MW_PERM_MANAGE, err);
	if (rc)
		return rc;
	struct mw_arena *ar = mw_arena_new(512);
	struct mw_user u;
	rc = mw_store_user_get(a->store, user, ar, &u, err);
	if (!rc)
		*uid = u.id;
	mw_arena_free(ar);
	return rc;
}

/* A permission row's audit resource: "experiment/<id>/<user>" or
 * "model/<name>/<user>". */
static const char *perm_resource(char *buf, size_t n, enum mw_perm_kind kind,
				 const char *resource, const char *user)
{
	snprintf(buf, n, "%s/%.300s/%.256s", kind == MW_PERM_EXPERIMENT ? "experiment" : "model",
		 resource, user);
	return buf;
}

int mw_authz_put(struct mw_authn *a, const struct mw_principal *p, enum mw_perm_kind kind,
		 const char *resource, const char *user, enum mw_perm perm, enum mw_perm_put mode,
		 int64_t *user_id, struct mw_err *err)
{
	if ((unsigned)perm >= MW_PERM__COUNT)
		return mw_err_set(err, MW_E_INVALID,
				  "a permission is READ, EDIT, MANAGE or NO_PERMISSIONS");
	int64_t uid = 0;
	int rc = manage_prep(a, p, kind, resource, user, &uid, err);
	if (!rc) {
		char res[600];
		struct mw_audit_rec ar;
		struct mw_store_bound sb;
		struct mw_store *st =
			mw_auth_audited(a, p, &ar, "permission.set", "permission",
					perm_resource(res, sizeof res, kind, resource, user), &sb);
		mw_audit_rec_after(&ar, "{s:s}", "permission", mw_perm_name(perm));
		rc = mw_store_perm_put(st, kind, resource, uid, perm, mode, err);
		mw_audit_rec_release(&ar);
	}
	mw_authz_invalidate(a);
	if (!rc && user_id)
		*user_id = uid;
	return rc;
}

int mw_authz_get(struct mw_authn *a, const struct mw_principal *p, enum mw_perm_kind kind,
		 const char *resource, const char *user, enum mw_perm *perm, int64_t *user_id,
		 struct mw_err *err)
{
	int64_t uid = 0;
	int rc = manage_prep(a, p, kind, resource, user, &uid, err);
	if (!rc)
		rc = mw_store_perm_get(a->store, kind, resource, uid, perm, err);
	if (!rc && user_id)
		*user_id = uid;
	return rc;
}

int mw_authz_delete(struct mw_authn *a, const struct mw_principal *p, enum mw_perm_kind kind,
		    const char *resource, const char *user, struct mw_err *err)
{
	int64_t uid = 0;
	int rc = manage_prep(a, p, kind, resource, user, &uid, err);
	if (!rc) {
		char res[600];
		struct mw_audit_rec ar;
		struct mw_store_bound sb;
		rc = mw_store_perm_delete(
			mw_auth_audited(a, p, &ar, "permission.delete", "permission",
					perm_resource(res, sizeof res, kind, resource, user), &sb),
			kind, resource, uid, err);
		mw_audit_rec_release(&ar);
	}
	mw_authz_invalidate(a);
	return rc;
}

int mw_authz_grant_creator(struct mw_authn *a, const struct mw_principal *p, enum mw_perm_kind kind,
			   const char *resource, struct mw_err *err)
{
	if (!p)
		return 0;
	int rc = check_resource(kind, resource, err);
	if (!rc) {
		char res[600];
		struct mw_audit_rec ar;
		struct mw_store_bound sb;
		struct mw_store *st =
			mw_auth_audited(a, p, &ar, "permission.set", "permission",
					perm_resource(res, sizeof res, kind, resource, p->user), &sb);
		mw_audit_rec_after(&ar, "{s:s, s:b}", "permission", "MANAGE", "creator", true);
		rc = mw_store_perm_put(st, kind, resource, p->user_id, MW_PERM_MANAGE,
				       MW_PERM_PUT_UPSERT, err);
		mw_audit_rec_release(&ar);
	}
	mw_authz_invalidate(a);
	return rc;
}

int mw_authz_list(struct mw_authn *a, int64_t user_id, struct mw_arena *ar,
		  struct mw_perm_row **rows, size_t *n, struct mw_err *err)
{
	return mw_store_perm_list(a->store, user_id, ar, rows, n, err);
}
