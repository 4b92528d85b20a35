/*
 * track.c - the tracking operations: validation and MLflow's write semantics
 * on top of the store.
 *
 * Every operation reads its request message with the mw_req_* getters (so
 * type errors read the same everywhere), checks MLflow's limits (key syntax,
 * value lengths, batch sizes), and calls one store function.  Over-long param
 * and tag values are truncated like MLflow does by default
 * (MLFLOW_TRUNCATE_LONG_VALUES); with truncation off they are rejected.
 * Lengths are counted in characters (UTF-8 code points), as MLflow does.
 */
#include "track/track.h"

#include "store/audit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mw_track {
	struct mw_store *store;
	char *artifact_root;
	bool truncate;
	size_t max_bytes; /* an answer's budget (max-response-bytes), 0: none */
};

/* Every write goes through the store bound to its call's audit record
 * (store/audit.h): the change and its record commit together. */
static struct mw_store *audited(struct mw_track *t, struct mw_audit_rec *au,
				struct mw_store_bound *sb)
{
	return mw_store_audit_bind(t->store, au, sb);
}

int mw_track_new(struct mw_store *store, const struct mw_track_opts *o, struct mw_track **out,
		 struct mw_err *err)
{
	(void)err;
	struct mw_track *t = mw_xcalloc(1, sizeof *t);
	t->store = store;
	t->artifact_root = mw_xstrdup(o && o->artifact_root ? o->artifact_root : "mlflow-artifacts:/");
	t->truncate = o ? o->truncate_long_values : true;
	t->max_bytes = o ? o->max_response_bytes : 0;
	*out = t;
	return 0;
}

void mw_track_free(struct mw_track *t)
{
	if (!t)
		return;
	free(t->artifact_root);
	free(t);
}

struct mw_store *mw_track_store(struct mw_track *t)
{
	return t->store;
}

/* ================================================================ limits */

#define MAX_KEY 250
#define MAX_PARAM_VALUE 6000
#define MAX_TAG_VALUE 8000
#define MAX_EXP_TAG_VALUE 5000
#define MAX_EXP_NAME 500
#define MAX_BATCH_METRICS 1000
#define MAX_BATCH_PARAMS 100
#define MAX_BATCH_TAGS 100
#define MAX_BATCH_TOTAL 1000
#define MAX_RESULTS_SEARCH 50000
#define MAX_FILTER 65536
#define MAX_ORDER_BY 16


/* Byte offset of the first n characters. */
static size_t utf8_prefix(const char *s, size_t n)
{
	size_t chars = 0, i = 0;
	for (; s[i]; i++) {
		if (((unsigned char)s[i] & 0xC0) != 0x80) {
			if (chars == n)
				break;
			chars++;
		}
	}
	return i;
}

static bool word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c >= 0x80;
}

/* Keys of metrics, params and tags: ^[/\w.\- ]*$, at most 250 characters,
 * and a path that normalises to itself (no "..", ".", "//", leading or
 * trailing "/"). */
static int check_key(const char *what, const char *key, struct mw_err *err)
{
	if (mw_utf8_chars(key) > MAX_KEY)
		return mw_err_set(err, MW_E_INVALID,
				  "%s name '%.64s...' is %zu characters long, over the limit of %d.",
				  what, key, mw_utf8_chars(key), MAX_KEY);
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		if (!word_char(*p) && *p != '/' && *p != '.' && *p != '-' && *p != ' ')
			return mw_err_set(err, MW_E_INVALID,
					  "Invalid %s name: '%s'. Names may only contain alphanumerics, "
					  "underscores (_), dashes (-), periods (.), spaces ( ), and "
					  "slashes (/).",
					  what, key);
	size_t n = strlen(key);
	bool bad = key[0] == '/' || (n > 1 && key[n - 1] == '/') || strstr(key, "//");
	const char *seg = key;
	while (!bad && seg) {
		const char *e = strchr(seg, '/');
		size_t sl = e ? (size_t)(e - seg) : strlen(seg);
		if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
			bad = true;
		seg = e ? e + 1 : NULL;
	}
	if (bad)
		return mw_err_set(err, MW_E_INVALID,
				  "Invalid %s name: '%s'. Names cannot contain '..', '.' segments, "
				  "'//' or a leading or trailing '/'.",
				  what, key);
	return 0;
}

static bool id_chars(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max + 1)
		return false;
	unsigned char c0 = (unsigned char)s[0];
	if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || (c0 >= '0' && c0 <= '9')))
		return false;
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(word_char(c) && c < 0x80) && c != '-')
			return false;
	}
	return true;
}

static int check_run_id(const char *id, struct mw_err *err)
{
	if (!id_chars(id, 255))
		return mw_err_set(err, MW_E_INVALID, "Invalid run ID: '%.300s'", id);
	return 0;
}

static int check_exp_id(const char *id, struct mw_err *err)
{
	if (!id_chars(id, 63))
		return mw_err_set(err, MW_E_INVALID, "Invalid experiment ID: '%.100s'", id);
	return 0;
}

/* A value over max characters is truncated in place (json string node) or
 * rejected, per the truncate setting. */
static int check_value(struct mw_track *t, const char *what, const char *key, json_t *node,
		       size_t max, struct mw_err *err)
{
	const char *v = json_string_value(node);
	if (!v)
		return 0;
	size_t n = mw_utf8_chars(v);
	if (n <= max)
		return 0;
	if (!t->truncate)
		return mw_err_set(err, MW_E_INVALID,
				  "%s value for key '%s' is %zu characters long, over the limit of %zu.",
				  what, key, n, max);
	mw_warn("truncating %s value for key '%s' from %zu to %zu characters", what, key, n, max);
	json_string_setn(node, v, utf8_prefix(v, max));
	return 0;
}

/* Run id from run_id or the legacy run_uuid. */
static int get_run_id(json_t *req, const char **out, struct mw_err *err)
{
	const char *id = NULL;
	int rc = mw_req_str(req, "run_id", false, 0, &id, err);
	if (!rc && (!id || !*id))
		rc = mw_req_str(req, "run_uuid", false, 0, &id, err);
	if (rc)
		return rc;
	if (!id || !*id)
		return mw_err_set(err, MW_E_INVALID, "Missing value for required parameter 'run_id'.");
	*out = id;
	return check_run_id(id, err);
}

static int get_exp_id(json_t *req, const char *field, bool required, const char **out,
		      struct mw_err *err)
{
	json_t *v = json_object_get(req, field);
	if (json_is_integer(v)) { /* tolerate numbers for string ids */
		char buf[32];
		snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
		json_object_set_new(req, field, json_string(buf));
	}
	int rc = mw_req_str(req, field, required, 0, out, err);
	if (rc || !*out)
		return rc;
	return check_exp_id(*out, err);
}

/* [{key, value}] into an array of mw_kv (malloc'd; strings borrowed from
 * the message).  Values are checked against vmax with truncation. */
static int get_kvs(struct mw_track *t, json_t *req, const char *field, const char *what,
		   size_t kmax, size_t vmax, bool check_names, struct mw_kv **out, size_t *n,
		   struct mw_err *err)
{
	*out = NULL;
	*n = 0;
	json_t *arr = NULL;
	int rc = mw_req_list(req, field, &arr, err);
	if (rc || !arr)
		return rc;
	size_t cnt = json_array_size(arr);
	struct mw_kv *kv = mw_xcalloc(cnt ? cnt : 1, sizeof *kv);
	for (size_t i = 0; i < cnt; i++) {
		json_t *e = json_array_get(arr, i);
		if (!json_is_object(e)) {
			free(kv);
			return mw_err_set(err, MW_E_INVALID,
					  "Invalid value for parameter '%s': each entry must be an object "
					  "with 'key' and 'value'.",
					  field);
		}
		const char *k = NULL, *v = NULL;
		if ((rc = mw_req_str(e, "key", true, 0, &k, err)) ||
		    (rc = mw_req_str(e, "value", false, 0, &v, err))) {
			free(kv);
			return rc;
		}
		if (check_names) {
			if ((rc = check_key(what, k, err))) {
				free(kv);
				return rc;
			}
		} else if (mw_utf8_chars(k) > kmax) {
			free(kv);
			return mw_err_set(err, MW_E_INVALID,
					  "%s key '%.64s...' is over the limit of %zu characters.", what,
					  k, kmax);
		}
		if (vmax && (rc = check_value(t, what, k, json_object_get(e, "value"), vmax, err))) {
			free(kv);
			return rc;
		}
		json_t *vn = json_object_get(e, "value");
		kv[i].key = k;
		kv[i].value = json_is_string(vn) ? json_string_value(vn) : "";
	}
	*out = kv;
	*n = cnt;
	return 0;
}

static json_t *ok_empty(void)
{
	return json_object();
}

/* ---------------------------------------------------------------- MLflow's errors */

/* The store words its errors neutrally and says what they are about
 * (err->detail); these put them in MLflow's words.  Only errors with a
 * detail are reworded: I/O and the like pass through. */

/* The lifecycle stage of an experiment or run that refused a write, read
 * back for the message ("deleted" when it cannot be read). */
static const char *stage_of(struct mw_track *t, bool run, const char *id, struct mw_arena *a)
{
	struct mw_err e = {0};
	const char *stage = NULL;
	if (run) {
		struct mw_run r;
		if (!mw_store_run_get(t->store, id, a, &r, &e))
			stage = r.info.lifecycle_stage;
	} else {
		struct mw_experiment x;
		if (!mw_store_exp_get(t->store, id, a, &x, &e))
			stage = x.lifecycle_stage;
	}
	return stage ? stage : "deleted";
}

int mw_track_not_found(int rc, const char *id, struct mw_err *err)
{
	if (rc != -MW_E_NOT_FOUND)
		return rc;
	switch (err->detail) {
	case MW_STORE_EXPERIMENT:
		return mw_err_set(err, MW_E_NOT_FOUND, "No Experiment with id=%s exists", id);
	case MW_STORE_RUN:
		return mw_err_set(err, MW_E_NOT_FOUND, "Run with id=%s not found", id);
	case MW_STORE_LOGGED_MODEL:
		return mw_err_set(err, MW_E_NOT_FOUND, "Logged model with ID '%s' not found.", id);
	default:
		return rc;
	}
}

static int exp_err(struct mw_track *t, int rc, const char *id, const char *name, struct mw_err *err)
{
	if (!rc || err->detail != MW_STORE_EXPERIMENT)
		return rc;
	if (rc == -MW_E_NOT_FOUND)
		return id ? mw_track_not_found(rc, id, err)
			  : mw_err_set(err, MW_E_NOT_FOUND,
				       "Could not find experiment with name '%s'", name);
	if (rc == -MW_E_EXISTS)
		return mw_err_set(err, MW_E_EXISTS, "Experiment(name=%s) already exists.", name);
	if (rc == -MW_E_INVALID && id) {
		struct mw_arena *a = mw_arena_new(4096);
		rc = mw_err_set(err, MW_E_INVALID,
				"The experiment %s must be in the 'active' state. Current state is %s.",
				id, stage_of(t, false, id, a));
		mw_arena_free(a);
	}
	return rc;
}

static int run_err(struct mw_track *t, int rc, const char *id, struct mw_err *err)
{
	if (!rc || err->detail != MW_STORE_RUN)
		return rc;
	if (rc == -MW_E_NOT_FOUND)
		return mw_track_not_found(rc, id, err);
	if (rc == -MW_E_INVALID) {
		struct mw_arena *a = mw_arena_new(4096);
		rc = mw_err_set(err, MW_E_INVALID,
				"The run %s must be in the 'active' state. Current state is %s.",
				id, stage_of(t, true, id, a));
		mw_arena_free(a);
	}
	return rc;
}

static int lm_err(int rc, const char *id, struct mw_err *err)
{
	return err->detail == MW_STORE_LOGGED_MODEL ? mw_track_not_found(rc, id, err) : rc;
}

/* A write of params refused because one was logged before with another value:
 * params never change, so the stored one is read back to say which. */
static int param_err(struct mw_track *t, int rc, const char *id, const struct mw_kv *p, size_t np,
		     struct mw_err *err)
{
	if (rc != -MW_E_CONFLICT || err->detail != MW_STORE_PARAM)
		return run_err(t, rc, id, err);
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_run r;
	struct mw_err e = {0};
	if (!mw_store_run_get(t->store, id, a, &r, &e)) {
		for (size_t i = 0; i < np; i++) {
			const char *v = p[i].value ? p[i].value : "";
			for (size_t k = 0; k < r.nparams; k++) {
				if (strcmp(r.params[k].key, p[i].key))
					continue;
				if (!strcmp(r.params[k].value, v))
					break;
				rc = mw_err_set(err, MW_E_INVALID,
						"Changing param values is not allowed. Param with "
						"key='%s' was already logged with value='%.200s' for "
						"run ID='%s'. Attempted logging new value '%.200s'.",
						p[i].key, r.params[k].value, id, v);
				mw_arena_free(a);
				return rc;
			}
		}
	}
	mw_arena_free(a);
	err->code = MW_E_INVALID;
	return -MW_E_INVALID;
}

static int tag_err(struct mw_track *t, int rc, const char *what, const char *id, const char *key,
		   struct mw_err *err)
{
	if (rc != -MW_E_NOT_FOUND || err->detail != MW_STORE_TAG)
		return rc;
	if (!strcmp(what, "logged model"))
		return mw_err_set(err, MW_E_NOT_FOUND, "No tag with key '%s' on logged model '%s'",
				  key, id);
	return mw_err_set(err, MW_E_NOT_FOUND, "No tag with name: %s in %s with id %s", key, what,
			  id);
}

/* A page of records as {field: [...]} (no next_page_token: the histories
 * that cannot page). */
static json_t *page_json(const char *field, json_t *arr)
{
	json_t *out = json_object();
	if (json_array_size(arr))
		json_object_set_new(out, field, arr);
	else
		json_decref(arr);
	return out;
}

/* The shapes of listed records, as mw_page_json's shape. */
static json_t *exp_shape(const void *r, void *ud)
{
	(void)ud;
	return mw_track_experiment_json(r);
}

static json_t *run_shape(const void *r, void *ud)
{
	(void)ud;
	return mw_track_run_json(r);
}

static json_t *metric_shape(const void *r, void *ud)
{
	(void)ud;
	return mw_track_metric_json(r);
}

static json_t *lm_shape(const void *r, void *ud)
{
	(void)ud;
	return mw_track_logged_model_json(r);
}

/* A search page within the answer budget: p's take builds the answer's
 * entities while the store reads them (search.h). */
static void budget_page(struct mw_track *t, struct mw_page *p, struct mw_page_json *pj,
			json_t *(*shape)(const void *, void *), const char *what, const char *field)
{
	mw_page_json_init(pj, shape, what, field, 0, t->max_bytes, true);
	p->take = mw_page_json_take;
	p->ud = pj;
}

/* {field: [...], next_page_token?} from a budget page, or the error. */
static int budget_finish(struct mw_page_json *pj, int rc, const char *field,
			 const struct mw_page *p, bool more, json_t **resp)
{
	json_t *out = json_object();
	if ((rc = mw_page_json_finish(pj, rc, out, field, p, more)))
		json_decref(out);
	else
		*resp = out;
	return rc;
}

/* ---------------------------------------------------------------- paging */



static int get_view(json_t *req, const char *field, enum mw_view *out, struct mw_err *err)
{
	*out = MW_VIEW_ACTIVE;
	json_t *v = json_object_get(req, field);
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		int64_t i = json_integer_value(v);
		if (i >= 1 && i <= 3) {
			*out = (enum mw_view)i;
			return 0;
		}
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (mw_str_eq_nocase(s, "ACTIVE_ONLY") || !strcmp(s, "1")) { *out = MW_VIEW_ACTIVE; return 0; }
		if (mw_str_eq_nocase(s, "DELETED_ONLY") || !strcmp(s, "2")) { *out = MW_VIEW_DELETED; return 0; }
		if (mw_str_eq_nocase(s, "ALL") || !strcmp(s, "3")) { *out = MW_VIEW_ALL; return 0; }
		/* MLflow parses requests with unknown fields ignored, which drops an
		 * enum name it does not know: the default view */
		if (!mw_parse_int64(s, &(int64_t){0}))
			goto bad; /* a number outside the (closed) enum is an error there */
		return 0;
	}
bad:
	return mw_err_set(err, MW_E_INVALID,
			  "Invalid value for parameter '%s': expected ACTIVE_ONLY, DELETED_ONLY or ALL.",
			  field);
}

/* Filter and order_by strings into parsed form. */
static int get_search(json_t *req, enum mw_search_entity ent, struct mw_arena *a,
		      struct mw_filter *f, struct mw_order *o, size_t *no, struct mw_err *err)
{
	const char *filter = NULL;
	int rc = mw_req_str(req, "filter", false, MAX_FILTER, &filter, err);
	if (rc)
		return rc;
	if ((rc = mw_filter_parse(ent, filter, a, f, err)))
		return rc;
	*no = 0;
	json_t *ob;
	if ((rc = mw_req_list(req, "order_by", &ob, err)))
		return rc;
	if (json_array_size(ob) > MAX_ORDER_BY)
		return mw_err_set(err, MW_E_INVALID, "At most %d order_by entries are allowed.",
				  MAX_ORDER_BY);
	for (size_t i = 0; ob && i < json_array_size(ob); i++) {
		json_t *e = json_array_get(ob, i);
		if (!json_is_string(e))
			return mw_err_set(err, MW_E_INVALID,
					  "Invalid value for parameter 'order_by': expected strings.");
		if ((rc = mw_order_parse(ent, json_string_value(e), a, &o[*no], err)))
			return rc;
		(*no)++;
	}
	return 0;
}

/* ================================================================ experiments */

/* One rule for an experiment tag's value, wherever it is set (create,
 * set-experiment-tag): over 5000 characters is refused, never truncated, as
 * MLflow's _validate_experiment_tag does (--truncate-long-values is about run
 * params and tags only, as MLFLOW_TRUNCATE_LONG_VALUES is). */
static int check_exp_tag_value(const char *value, struct mw_err *err)
{
	size_t n = value ? mw_utf8_chars(value) : 0;
	if (n > MAX_EXP_TAG_VALUE)
		return mw_err_set(err, MW_E_INVALID,
				  "Experiment tag value is %zu characters long, over the limit of %d.",
				  n, MAX_EXP_TAG_VALUE);
	return 0;
}

/* A location in mw's own artifact store ("mlflow-artifacts:/<path>") is the
 * root its experiment owns (api/authz.c: the longest root holding a path).
 * Roots under the id-named roots of new experiments (--artifact-root then a
 * segment of digits: "mlflow-artifacts:/<id>" by default) and the reserved
 * roots (_registry, _sources) are refused, so that no new experiment takes
 * over another's files. */
static bool id_segment(const char *p)
{
	size_t n = strcspn(p, "/");
	return n && strspn(p, "0123456789") == n;
}

static int check_exp_location(const struct mw_track *t, const char *loc, struct mw_err *err)
{
	if (!loc)
		return 0;
	size_t rn = strlen(t->artifact_root);
	while (rn && t->artifact_root[rn - 1] == '/')
		rn--;
	bool taken =
		!strncmp(loc, t->artifact_root, rn) && loc[rn] == '/' && id_segment(loc + rn + 1);
	const char *p = !strncmp(loc, "mlflow-artifacts:/", 18) ? loc + 18 : NULL;
	if (p && *p != '/')
		taken = taken || id_segment(p) || !strcmp(p, "_registry") ||
			!strncmp(p, "_registry/", 10) || !strcmp(p, "_sources") ||
			!strncmp(p, "_sources/", 9);
	if (taken)
		return mw_err_set(err, MW_E_INVALID,
				  "Invalid artifact_location '%.200s': it is under the root of an "
				  "experiment id or a reserved root of mw's; choose another root",
				  loc);
	return 0;
}

int mw_track_exp_create(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
			struct mw_err *err)
{
	const char *name = NULL, *loc = NULL;
	int rc = mw_req_str(req, "name", true, 0, &name, err);
	if (!rc)
		rc = mw_req_str(req, "artifact_location", false, 0, &loc, err);
	if (!rc)
		rc = check_exp_location(t, loc, err);
	if (rc)
		return rc;
	if (mw_utf8_chars(name) > MAX_EXP_NAME)
		return mw_err_set(err, MW_E_INVALID,
				  "Experiment name is %zu characters long, over the limit of %d.",
				  mw_utf8_chars(name), MAX_EXP_NAME);
	struct mw_kv *tags;
	size_t nt;
	if ((rc = get_kvs(t, req, "tags", "tag", MAX_KEY, 0, true, &tags, &nt, err)))
		return rc;
	for (size_t i = 0; i < nt; i++)
		if ((rc = check_exp_tag_value(tags[i].value, err))) {
			free(tags);
			return rc;
		}
	char id[32];
	struct mw_audit_rec au;
	struct mw_store_bound sb;
	mw_audit_rec_init(&au, call, "experiment.create", "experiment", NULL);
	mw_audit_rec_after(&au, "{s:s, s:s*, s:I}", "name", name, "artifact_location", loc, "tags",
			   (json_int_t)nt);
	rc = mw_store_exp_create(audited(t, &au, &sb), name, loc, t->artifact_root, tags, nt,
				 mw_now_ms(), id, err);
	mw_audit_rec_release(&au);
	free(tags);
	if (rc)
		return exp_err(t, rc, NULL, name, err);
	*resp = json_pack("{s:s}", "experiment_id", id);
	return 0;
}

int mw_track_exp_get(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
		     struct mw_err *err)
{
	const char *id = NULL;
	int rc = get_exp_id(req, "experiment_id", true, &id, err);
	if (rc)
		return rc;
	struct mw_arena *a = mw_arena_new(4096);
	struct mw_experiment e;
	if (!(rc = exp_err(t, mw_store_exp_get(t->store, id, a, &e, err), id, NULL, err)))
		*resp = json_pack("{s:o}", "experiment", mw_track_experiment_json(&e));
	mw_arena_free(a);
	return rc;
}

int mw_track_exp_get_by_name(struct mw_track *t, const struct mw_call *call, json_t *req,
			     json_t **resp, struct mw_err *err)
{
	const char *name = NULL;
	int rc = mw_req_str(req, "experiment_name", true, 0, &name, err);
	if (rc)
		return rc;
	struct mw_arena *a = mw_arena_new(4096);
	struct mw_experiment e;
	rc = exp_err(t, mw_store_exp_get_by_name(t->store, name, a, &e, err), NULL, name, err);
	if (!rc)
		*resp = json_pack("{s:o}", "experiment", mw_track_experiment_json(&e));
	mw_arena_free(a);
	return rc;
}

static int exp_search(struct mw_track *t, json_t *req, json_t **resp, bool legacy,
		      struct mw_err *err)
{
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_filter f = {0};
	struct mw_order o[MAX_ORDER_BY];
	size_t no = 0;
	struct mw_page p;
	enum mw_view v;
	int rc = mw_page_from_req(req, legacy ? MAX_RESULTS_SEARCH : 1000, MAX_RESULTS_SEARCH, &p, err);
	if (!rc)
		rc = get_view(req, "view_type", &v, err);
	if (!rc && !legacy)
		rc = get_search(req, MW_SEARCH_EXPERIMENTS, a, &f, o, &no, err);
	struct mw_experiment *e = NULL;
	size_t n = 0;
	bool more = false;
	struct mw_page_json pj;
	budget_page(t, &p, &pj, exp_shape, "experiment", "experiments");
	if (!rc)
		rc = mw_store_exp_search(t->store, &f, o, no, v, &p, a, &e, &n, &more, err);
	rc = budget_finish(&pj, rc, "experiments", &p, more, resp);
	mw_arena_free(a);
	return rc;
}

int mw_track_exp_search(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
			struct mw_err *err)
{
	return exp_search(t, req, resp, false, err);
}

int mw_track_exp_list(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
		      struct mw_err *err)
{
	return exp_search(t, req, resp, true, err);
}

int mw_track_exp_update(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
			struct mw_err *err)
{
	const char *id = NULL, *name = NULL;
	int rc = get_exp_id(req, "experiment_id", true, &id, err);
	if (!rc)
		rc = mw_req_str(req, "new_name", true, 0, &name, err);
	if (!rc && mw_utf8_chars(name) > MAX_EXP_NAME)
		rc = mw_err_set(err, MW_E_INVALID, "Experiment name is over the limit of %d characters.",
				MAX_EXP_NAME);
	if (rc)
		return rc;
	struct mw_audit_rec au;
	struct mw_store_bound sb;
	mw_audit_rec_init(&au, call, "experiment.rename", "experiment", id);
	mw_audit_rec_after(&au, "{s:s}", "name", name);
	rc = mw_store_exp_rename(audited(t, &au, &sb), id, name, mw_now_ms(), err);
	mw_audit_rec_release(&au);
	if ((rc = exp_err(t, rc, id, name, err)))
		return rc;
	*resp = ok_empty();
	return 0;
}

static int exp_set_deleted(struct mw_track *t, const struct mw_call *call, json_t *req,
			   json_t **resp, bool del, struct mw_err *err)
{
	const char *id = NULL;
	int rc = get_exp_id(req, "experiment_id", true, &id, err);
	if (rc)
		return rc;
	struct mw_audit_rec au;
	struct mw_store_bound sb;
	mw_audit_rec_init(&au, call, del ? "experiment.delete" : "experiment.restore", "experiment",
			  id);
	mw_audit_rec_after(&au, "{s:s}", "lifecycle_stage", del ? "deleted" : "active");
	rc = mw_store_exp_set_deleted(audited(t, &au, &sb), id, del, mw_now_ms(), err);
	mw_audit_rec_release(&au);
	if ((rc = exp_err(t, rc, id, NULL, err)))
		return rc;
	*resp = ok_empty();
	return 0;
}

int mw_track_exp_delete(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
			struct mw_err *err)
{
	return exp_set_deleted(t, call, req, resp, true, err);
}

int mw_track_exp_restore(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
			 struct mw_err *err)
{
	return exp_set_deleted(t, call, req, resp, false, err);
}

int mw_track_exp_set_tag(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
			 struct mw_err *err)
{
	const char *id = NULL, *key = NULL, *value = NULL;
	int rc = get_exp_id(req, "experiment_id", true, &id, err);
	if (!rc)
		rc = mw_req_str(req, "key", true, 0, &key, err);
	if (!rc)
		rc = mw_req_str(req, "value", false, 0, &value, err);
	if (!rc)
		rc = check_key("tag", key, err);
	if (!rc)
		rc = check_exp_tag_value(value, err);
	if (rc)
		return rc;
	struct mw_audit_rec au;
	struct mw_store_bound sb;
	mw_audit_rec_init(&au, call, "experiment.set_tag", "experiment", id);
	mw_audit_rec_after(&au, "{s:{s:s}}", "tags", key, value ? value : "");
	rc = mw_store_exp_set_tag(audited(t, &au, &sb), id, key, value ? value : "", err);
	mw_audit_rec_release(&au);
	if ((rc = exp_err(t, rc, id, NULL, err)))
		return rc;
	*resp = ok_empty();
	return 0;
}

int mw_track_exp_delete_tag(struct mw_track *t, const struct mw_call *call, json_t *req,
			    json_t **resp, struct mw_err *err)
{
	const char *id = NULL, *key = NULL;
	int rc = get_exp_id(req, "experiment_id", true, &id, err);
	if (!rc)
		rc = mw_req_str(req, "key", true, 0, &key, err);
	if (!rc) {
		struct mw_audit_rec au;
		struct mw_store_bound sb;
		mw_audit_rec_init(&au, call, "experiment.delete_tag", "experiment", id);
		mw_audit_rec_before(&au, "{s:[s]}", "tags", key);
		rc = mw_store_exp_delete_tag(audited(t, &au, &sb), id, key, err);
		mw_audit_rec_release(&au);
		rc = tag_err(t, exp_err(t, rc, id, NULL, err), "experiment", id, key, err);
	}
	if (rc)
		return rc;
	*resp = ok_empty();
	return 0;
}

/* ================================================================ runs */

static const char *run_statuses[] = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"};

/* The run status of an update.  MLflow parses requests with unknown fields
 * ignored, which drops an enum name it does not know: such a status is a
 * status not given, and the update changes the rest (a number outside the
 * enum stays an error). */
static int get_status(json_t *req, const char **out, struct mw_err *err)
{
	json_t *v = json_object_get(req, "status");
	if (json_is_integer(v)) {
		int64_t i = json_integer_value(v);
		if (i >= 1 && i <= 5) {
			*out = run_statuses[i - 1];
			return 0;
		}
		/* a number outside the (closed) enum: an error, as protobuf's parser says */
		return mw_err_set(err, MW_E_INVALID, "Invalid run status %lld.", (long long)i);
	}
	const char *s = NULL;
	int rc = mw_req_str(req, "status", false, 0, &s, err);
	if (rc || !s)
		return rc;
	for (size_t i = 0; i < 5; i++)
		if (!strcmp(s, run_statuses[i])) {
			*out = run_statuses[i];
			return 0;
		}
	int64_t n;
	if (!mw_parse_int64(s, &n)) { /* a number as text, as protobuf's parser reads it */
		if (n >= 1 && n <= 5) {
			*out = run_statuses[n - 1];
			return 0;
		}
		return mw_err_set(err, MW_E_INVALID, "Invalid run status %lld.", (long long)n);
	}
	return 0;
}

int mw_track_run_create(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
			struct mw_err *err)
{
	const char *exp = NULL, *user = NULL, *name = NULL;
	int64_t start = mw_now_ms();
	int rc = get_exp_id(req, "experiment_id", false, &exp, err);
	if (!rc)
		rc = mw_req_str(req, "user_id", false, 0, &user, err);
	if (!rc)
		rc = mw_req_str(req, "run_name", false, 0, &name, err);
	if (!rc)
		rc = mw_req_int64(req, "start_time", false, &start, NULL, err);
	if (rc)
		return rc;
	if (!exp || !*exp)
		exp = "0";
	struct mw_kv *tags;
	size_t nt;
	if ((rc = get_kvs(t, req, "tags", "tag", MAX_KEY, MAX_TAG_VALUE, true, &tags, &nt, err)))
		return rc;
	const char *tag_name = NULL;
	size_t name_idx = nt;
	for (size_t i = 0; i < nt; i++) {
		if (!strcmp(tags[i].key, "mlflow.runName")) {
			tag_name = tags[i].value;
			name_idx = i;
		}
		if (!strcmp(tags[i].key, "mlflow.user") && (!user || !*user))
			user = tags[i].value;
	}
	if (name && *name && tag_name && strcmp(name, tag_name)) {
		free(tags);
		return mw_err_set(err, MW_E_INVALID,
				  "Both 'run_name' and 'mlflow.runName' tag are specified, but with "
				  "different values (run_name='%.200s', mlflow.runName='%.200s').",
				  name, tag_name);
	}
	char gen[64];
	if (!name || !*name)
		name = tag_name;
	if (!name || !*name) {
		if ((rc = mw_id_run_name(gen, err))) {
			free(tags);
			return rc;
		}
		name = gen;
	}
	if (name_idx == nt) {
		tags = mw_xrealloc(tags, (nt + 1) * sizeof *tags);
		tags[nt].key = "mlflow.runName";
		tags[nt].value = name;
		nt++;
	}
	char id[33];
	if ((rc = mw_id_hex32(id, err))) {
		free(tags);
		return rc;
	}
	char path[64];
	snprintf(path, sizeof path, "%s/artifacts", id); /* <experiment location>/<run>/artifacts */
	struct mw_run_create rcr = {
		.run_id = id,
		.experiment_id = exp,
		.user_id = user ? user : "",
		.run_name = name,
		.status = "RUNNING",
		.start_time = start,
		.artifact_path = path,
		.tags = tags,
		.ntags = nt,
	};
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_run run;
	struct mw_audit_rec au;
	struct mw_store_bound sb;
	mw_audit_rec_init(&au, call, "run.create", "run", id);
	mw_audit_rec_after(&au, "{s:s, s:s*, s:s, s:I}", "experiment_id", exp, "run_name", name,
			   "status", "RUNNING", "tags", (json_int_t)nt);
	rc = exp_err(t, mw_store_run_create(audited(t, &au, &sb), &rcr, a, &run, err), exp, NULL,
		     err);
	mw_audit_rec_release(&au);
	free(tags);
	if (!rc)
		*resp = json_pack("{s:o}", "run", mw_track_run_json(&run));
	mw_arena_free(a);
	return rc;
}

int mw_track_run_get(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
		     struct mw_err *err)
{
	const char *id = NULL;
	int rc = get_run_id(req, &id, err);
	if (rc)
		return rc;
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_run run;
	if (!(rc = run_err(t, mw_store_run_get(t->store, id, a, &run, err), id, err)))
		*resp = json_pack("{s:o}", "run", mw_track_run_json(&run));
	mw_arena_free(a);
	return rc;
}

int mw_track_run_update(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
			struct mw_err *err)
{
	const char *id = NULL, *status = NULL, *name = NULL;
	int64_t end = -1;
	bool has_end = false;
	int rc = get_run_id(req, &id, err);
	if (!rc)
		rc = get_status(req, &status, err);
	if (!rc)
		rc = mw_req_int64(req, "end_time", false, &end, &has_end, err);
	if (!rc)
		rc = mw_req_str(req, "run_name", false, 0, &name, err);
	if (rc)
		return rc;
	if (has_end && end < 0)
		return mw_err_set(err, MW_E_INVALID, "end_time must be a non-negative number of ms.");
	/* the run-name tag is the run's name, as in MLflow */
	const char *nm = name && *name ? name : NULL;
	struct mw_kv tag = {"mlflow.runName", nm};
	struct mw_arena *a = mw_arena_new(4096);
	struct mw_run_info info;
	struct mw_audit_rec au;
	struct mw_store_bound sb;
	mw_audit_rec_init(&au, call, "run.update", "run", id);
	mw_audit_rec_after(&au, "{s:s*, s:o?, s:s*}", "status", status, "end_time",
			   has_end ? json_integer(end) : NULL, "run_name", nm);
	rc = run_err(t,
		     mw_store_run_update(audited(t, &au, &sb), id, status, has_end ? end : -1, nm,
					 &tag, nm ? 1 : 0, a, &info, err),
		     id, err);
	mw_audit_rec_release(&au);
	if (!rc)
		*resp = json_pack("{s:o}", "run_info", mw_track_run_info_json(&info));
	mw_arena_free(a);
	return rc;
}

static int run_set_deleted(struct mw_track *t, const struct mw_call *call, json_t *req,
			   json_t **resp, bool del, struct mw_err *err)
{
	const char *id = NULL;
	int rc = get_run_id(req, &id, err);
	if (rc)
		return rc;
	struct mw_audit_rec au;
	struct mw_store_bound sb;
	mw_audit_rec_init(&au, call, del ? "run.delete" : "run.restore", "run", id);
	mw_audit_rec_after(&au, "{s:s}", "lifecycle_stage", del ? "deleted" : "active");
	rc = mw_store_run_set_deleted(audited(t, &au, &sb), id, del, mw_now_ms(), err);
	mw_audit_rec_release(&au);
	if ((rc = run_err(t, rc, id, err)))
		return rc;
	*resp = ok_empty();
	return 0;
}

int mw_track_run_delete(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
			struct mw_err *err)
{
	return run_set_deleted(t, call, req, resp, true, err);
}

int mw_track_run_restore(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
			 struct mw_err *err)
{
	return run_set_deleted(t, call, req, resp, false, err);
}

/* One metric message into m (strings borrowed from e). */
static int parse_metric(json_t *e, struct mw_metric *m, struct mw_err *err)
{
	memset(m, 0, sizeof *m);
	if (!json_is_object(e))
		return mw_err_set(err, MW_E_INVALID, "Invalid metric: expected an object.");
	int rc = mw_req_str(e, "key", true, 0, &m->key, err);
	if (!rc)
		rc = mw_req_double(e, "value", true, &m->value, err);
	if (!rc)
		rc = mw_req_int64(e, "timestamp", true, &m->timestamp, NULL, err);
	if (!rc)
		rc = mw_req_int64(e, "step", false, &m->step, NULL, err);
	if (!rc)
		rc = mw_req_str(e, "model_id", false, 0, &m->model_id, err);
	if (!rc)
		rc = mw_req_str(e, "dataset_name", false, 0, &m->dataset_name, err);
	if (!rc)
		rc = mw_req_str(e, "dataset_digest", false, 0, &m->dataset_digest, err);
	if (rc)
		return rc;
	if (m->timestamp < 0)
		return mw_err_set(err, MW_E_INVALID,
				  "Invalid timestamp %lld for metric '%s': it must be non-negative.",
				  (long long)m->timestamp, m->key);
	if (m->model_id && !*m->model_id)
		m->model_id = NULL;
	return check_key("metric", m->key, err);
}

int mw_track_run_log_metric(struct mw_track *t, const struct mw_call *call, json_t *req,
			    json_t **resp, struct mw_err *err)
{
	const char *id = NULL;
	struct mw_metric m;
	int rc = get_run_id(req, &id, err);
	if (!rc)
		rc = parse_metric(req, &m, err);
	if (rc)
		return rc;
	/* ingest is summarised: which metric, not its value (docs/api/audit.md) */
	struct mw_audit_rec au;
	struct mw_store_bound sb;
	mw_audit_rec_init(&au, call, "run.log_metric", "run", id);
	mw_audit_rec_after(&au, "{s:I, s:[s]}", "metrics", (json_int_t)1, "keys", m.key);
	rc = mw_store_run_log_batch(audited(t, &au, &sb), id, &m, 1, NULL, 0, NULL, 0, NULL, err);
	mw_audit_rec_release(&au);
	if ((rc = run_err(t, rc, id, err)))
		return rc;
	*resp = ok_empty();
	return 0;
}

/* One param or tag of a run: {run_id, key, value}, checked like log-batch.
 * (The store renames the run when the tag is mlflow.runName.) */
static int log_one(struct mw_track *t, const struct mw_call *call, json_t *req, bool is_tag,
		   json_t **resp, struct mw_err *err)
{
	const char *id = NULL;
	struct mw_kv kv = {0};
	int rc = get_run_id(req, &id, err);
	if (!rc)
		rc = mw_req_str(req, "key", true, 0, &kv.key, err);
	if (!rc)
		rc = mw_req_str(req, "value", false, 0, &kv.value, err);
	if (!rc)
		rc = check_key(is_tag ? "tag" : "param", kv.key, err);
	if (!rc)
		rc = check_value(t, is_tag ? "Tag" : "Param", kv.key, json_object_get(req, "value"),
				 is_tag ? MAX_TAG_VALUE : MAX_PARAM_VALUE, err);
	if (rc)
		return rc;
	kv.value = json_string_value(json_object_get(req, "value")); /* maybe truncated */
	if (!kv.value)
		kv.value = "";
	/* the run-name tag is the run's name, as in MLflow */
	const char *run_name = is_tag && !strcmp(kv.key, "mlflow.runName") ? kv.value : NULL;
	struct mw_audit_rec au;
	struct mw_store_bound sb;
	mw_audit_rec_init(&au, call, is_tag ? "run.set_tag" : "run.log_param", "run", id);
	mw_audit_rec_after(&au, "{s:{s:s}}", is_tag ? "tags" : "params", kv.key, kv.value);
	rc = mw_store_run_log_batch(audited(t, &au, &sb), id, NULL, 0, is_tag ? NULL : &kv,
				    is_tag ? 0 : 1, is_tag ? &kv : NULL, is_tag ? 1 : 0, run_name,
				    err);
	mw_audit_rec_release(&au);
	if ((rc = param_err(t, rc, id, &kv, is_tag ? 0 : 1, err)))
		return rc;
	*resp = ok_empty();
	return 0;
}

int mw_track_run_log_param(struct mw_track *t, const struct mw_call *call, json_t *req,
			   json_t **resp, struct mw_err *err)
{
	return log_one(t, call, req, false, resp, err);
}

int mw_track_run_set_tag(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
			 struct mw_err *err)
{
	return log_one(t, call, req, true, resp, err);
}

int mw_track_run_delete_tag(struct mw_track *t, const struct mw_call *call, json_t *req,
			    json_t **resp, struct mw_err *err)
{
	const char *id = NULL, *key = NULL;
	int rc = get_run_id(req, &id, err);
	if (!rc)
		rc = mw_req_str(req, "key", true, 0, &key, err);
	if (!rc) {
		struct mw_audit_rec au;
		struct mw_store_bound sb;
		mw_audit_rec_init(&au, call, "run.delete_tag", "run", id);
		mw_audit_rec_before(&au, "{s:[s]}", "tags", key);
		rc = mw_store_run_delete_tag(audited(t, &au, &sb), id, key, err);
		mw_audit_rec_release(&au);
		rc = tag_err(t, run_err(t, rc, id, err), "run", id, key, err);
	}
	if (rc)
		return rc;
	*resp = ok_empty();
	return 0;
}

int mw_track_run_log_batch(struct mw_track *t, const struct mw_call *call, json_t *req,
			   json_t **resp, struct mw_err *err)
{
	const char *id = NULL;
	int rc = get_run_id(req, &id, err);
	json_t *jm, *jp, *jt;
	if (!rc)
		rc = mw_req_list(req, "metrics", &jm, err);
	if (!rc)
		rc = mw_req_list(req, "params", &jp, err);
	if (!rc)
		rc = mw_req_list(req, "tags", &jt, err);
	if (rc)
		return rc;
	size_t nm = json_array_size(jm), np = json_array_size(jp), nt = json_array_size(jt);
	if (nm > MAX_BATCH_METRICS)
		return mw_err_set(err, MW_E_INVALID,
				  "A batch logging request can contain at most %d metrics. Got %zu "
				  "metrics. Please split up metrics across multiple requests and try "
				  "again.",
				  MAX_BATCH_METRICS, nm);
	if (np > MAX_BATCH_PARAMS)
		return mw_err_set(err, MW_E_INVALID,
				  "A batch logging request can contain at most %d params. Got %zu params.",
				  MAX_BATCH_PARAMS, np);
	if (nt > MAX_BATCH_TAGS)
		return mw_err_set(err, MW_E_INVALID,
				  "A batch logging request can contain at most %d tags. Got %zu tags.",
				  MAX_BATCH_TAGS, nt);
	if (nm + np + nt > MAX_BATCH_TOTAL)
		return mw_err_set(err, MW_E_INVALID,
				  "A batch logging request can contain at most %d metrics, params and "
				  "tags in total. Got %zu.",
				  MAX_BATCH_TOTAL, nm + np + nt);
	struct mw_metric *m = mw_xcalloc(nm ? nm : 1, sizeof *m);
	struct mw_kv *p = NULL, *tg = NULL;
	size_t np2 = 0, nt2 = 0;
	for (size_t i = 0; i < nm && !rc; i++)
		rc = parse_metric(json_array_get(jm, i), &m[i], err);
	if (!rc)
		rc = get_kvs(t, req, "params", "param", MAX_KEY, MAX_PARAM_VALUE, true, &p, &np2, err);
	if (!rc)
		rc = get_kvs(t, req, "tags", "tag", MAX_KEY, MAX_TAG_VALUE, true, &tg, &nt2, err);
	for (size_t i = 0; !rc && i < np2; i++)
		for (size_t j = i + 1; j < np2; j++)
			if (!strcmp(p[i].key, p[j].key)) {
				rc = mw_err_set(err, MW_E_INVALID,
						"Duplicate parameter keys have been submitted: ['%s']. "
						"Please ensure the request contains only one param "
						"value per param key.",
						p[i].key);
				break;
			}
	/* within one request the last tag value wins: drop earlier duplicates */
	size_t kept = 0;
	for (size_t i = 0; !rc && i < nt2; i++) {
		bool later = false;
		for (size_t j = i + 1; j < nt2 && !later; j++)
			later = !strcmp(tg[i].key, tg[j].key);
		if (!later)
			tg[kept++] = tg[i];
	}
	/* the run-name tag is the run's name, as in MLflow */
	const char *run_name = NULL;
	for (size_t i = 0; !rc && i < kept; i++)
		if (!strcmp(tg[i].key, "mlflow.runName"))
			run_name = tg[i].value;
	if (!rc) {
		/* one record per request: how many of each, not the points
		 * (docs/api/audit.md: why ingest is summarised) */
		struct mw_audit_rec au;
		struct mw_store_bound sb;
		mw_audit_rec_init(&au, call, "run.log_batch", "run", id);
		mw_audit_rec_after(&au, "{s:I, s:I, s:I}", "metrics", (json_int_t)nm, "params",
				   (json_int_t)np2, "tags", (json_int_t)kept);
		rc = mw_store_run_log_batch(audited(t, &au, &sb), id, m, nm, p, np2, tg, kept,
					    run_name, err);
		mw_audit_rec_release(&au);
		rc = param_err(t, rc, id, p, np2, err);
	}
	free(m);
	free(p);
	free(tg);
	if (rc)
		return rc;
	*resp = ok_empty();
	return 0;
}

int mw_track_run_log_model(struct mw_track *t, const struct mw_call *call, json_t *req,
			   json_t **resp, struct mw_err *err)
{
	const char *id = NULL, *mj = NULL;
	int rc = get_run_id(req, &id, err);
	if (!rc)
		rc = mw_req_str(req, "model_json", true, 0, &mj, err);
	if (rc)
		return rc;
	/* counted before it is built, like a body (a 32 MiB string of "0," is 16M values) */
	json_t *model = mw_json_parse_text(mj, strlen(mj), MW_JSON_TEXT_DEPTH, "model_json", err);
	if (!model && err->code == MW_E_TOO_LARGE)
		return -MW_E_TOO_LARGE;
	if (!json_is_object(model)) {
		json_decref(model);
		return mw_err_set(err, MW_E_INVALID, "Malformed model info. \n %.200s \n is not a valid JSON object.", mj);
	}
	static const char *need[] = {"artifact_path", "flavors", "utc_time_created", "run_id"};
	char missing[128] = "";
	for (size_t i = 0; i < 4; i++)
		if (!json_object_get(model, need[i])) {
			size_t l = strlen(missing);
			snprintf(missing + l, sizeof missing - l, "%s%s", l ? ", " : "", need[i]);
		}
	if (*missing) {
		json_decref(model);
		return mw_err_set(err, MW_E_INVALID, "Model json is missing mandatory fields: %s",
				  missing);
	}
	/* append to the mlflow.log-model.history tag */
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_run run;
	if ((rc = run_err(t, mw_store_run_get(t->store, id, a, &run, err), id, err))) {
		mw_arena_free(a);
		json_decref(model);
		return rc;
	}
	json_t *hist = NULL;
	for (size_t i = 0; i < run.ntags; i++)
		if (!strcmp(run.tags[i].key, "mlflow.log-model.history")) {
			struct mw_err ignored = {0}; /* a damaged history starts again */
			hist = mw_json_parse_text(run.tags[i].value, strlen(run.tags[i].value),
						  MW_JSON_TEXT_DEPTH, "history", &ignored);
		}
	if (!json_is_array(hist)) {
		json_decref(hist);
		hist = json_array();
	}
	json_array_append_new(hist, model);
	char *hs = json_dumps(hist, JSON_COMPACT | JSON_REAL_PRECISION(17));
	struct mw_kv tag = {"mlflow.log-model.history", hs};
	struct mw_audit_rec au;
	struct mw_store_bound sb;
	mw_audit_rec_init(&au, call, "run.log_model", "run", id);
	mw_audit_rec_after(&au, "{s:O?}", "model", json_object_get(model, "artifact_path"));
	rc = run_err(t,
		     mw_store_run_log_batch(audited(t, &au, &sb), id, NULL, 0, NULL, 0, &tag, 1,
					    NULL, err),
		     id, err);
	mw_audit_rec_release(&au);
	free(hs);
	json_decref(hist);
	mw_arena_free(a);
	if (rc)
		return rc;
	*resp = ok_empty();
	return 0;
}

/* A model input or output refused because its logged model does not exist
 * (or was deleted): which one, read back on this error path for MLflow's
 * words (logged models are never removed, only marked deleted). */
static int model_ref_err(struct mw_track *t, int rc, const struct mw_model_ref *m, size_t n,
			 struct mw_err *err)
{
	if (rc != -MW_E_NOT_FOUND || err->detail != MW_STORE_LOGGED_MODEL)
		return rc;
	struct mw_arena *a = mw_arena_new(4096);
	for (size_t i = 0; i < n; i++) {
		struct mw_logged_model lm;
		struct mw_err e = {0};
		if (mw_store_lm_get(t->store, m[i].model_id, a, &lm, &e) == -MW_E_NOT_FOUND) {
			rc = mw_track_not_found(rc, m[i].model_id, err);
			break;
		}
	}
	mw_arena_free(a);
	return rc;
}

static int check_len(const char *what, const char *s, size_t max, struct mw_err *err)
{
	if (s && mw_utf8_chars(s) > max)
		return mw_err_set(err, MW_E_INVALID, "%s is %zu characters long, over the limit of %zu.",
				  what, mw_utf8_chars(s), max);
	return 0;
}

int mw_track_run_log_inputs(struct mw_track *t, const struct mw_call *call, json_t *req,
			    json_t **resp, struct mw_err *err)
{
	const char *id = NULL;
	json_t *jd, *jmods;
	int rc = get_run_id(req, &id, err);
	if (!rc)
		rc = mw_req_list(req, "datasets", &jd, err);
	if (!rc)
		rc = mw_req_list(req, "models", &jmods, err);
	if (rc)
		return rc;
	size_t nd = json_array_size(jd), nm = json_array_size(jmods);
	if (nd > 1000 || nm > 1000)
		return mw_err_set(err, MW_E_INVALID, "At most 1000 datasets and 1000 models per request.");
	struct mw_dataset_input *d = mw_xcalloc(nd ? nd : 1, sizeof *d);
	struct mw_model_ref *mr = mw_xcalloc(nm ? nm : 1, sizeof *mr);
	for (size_t i = 0; i < nd && !rc; i++) {
		json_t *e = json_array_get(jd, i);
		json_t *ds = json_object_get(e, "dataset");
		if (!json_is_object(e) || !json_is_object(ds)) {
			rc = mw_err_set(err, MW_E_INVALID,
					"Invalid dataset input: expected {\"dataset\": {...}, \"tags\": [...]}.");
			break;
		}
		if ((rc = mw_req_str(ds, "name", true, 0, &d[i].name, err)) ||
		    (rc = mw_req_str(ds, "digest", true, 0, &d[i].digest, err)) ||
		    (rc = mw_req_str(ds, "source_type", true, 0, &d[i].source_type, err)) ||
		    (rc = mw_req_str(ds, "source", true, 0, &d[i].source, err)) ||
		    (rc = mw_req_str(ds, "schema", false, 0, &d[i].schema, err)) ||
		    (rc = mw_req_str(ds, "profile", false, 0, &d[i].profile, err)))
			break;
		if ((rc = check_len("Dataset name", d[i].name, 500, err)) ||
		    (rc = check_len("Dataset digest", d[i].digest, 36, err)) ||
		    (rc = check_len("Dataset source", d[i].source, 65535, err)) ||
		    (rc = check_len("Dataset schema", d[i].schema, (1u << 20) - 1, err)) ||
		    (rc = check_len("Dataset profile", d[i].profile, (16u << 20) - 1, err)))
			break;
		struct mw_kv *tg;
		size_t ntg;
		if ((rc = get_kvs(t, e, "tags", "Input tag", 255, 0, false, &tg, &ntg, err)))
			break;
		for (size_t k = 0; k < ntg && !rc; k++)
			rc = check_len("Input tag value", tg[k].value, 500, err);
		d[i].tags = tg;
		d[i].ntags = ntg;
	}
	for (size_t i = 0; i < nm && !rc; i++) {
		json_t *e = json_array_get(jmods, i);
		if (!json_is_object(e))
			rc = mw_err_set(err, MW_E_INVALID, "Invalid model input: expected {\"model_id\": ...}.");
		else
			rc = mw_req_str(e, "model_id", true, 0, &mr[i].model_id, err);
	}
	if (!rc) {
		struct mw_audit_rec au;
		struct mw_store_bound sb;
		mw_audit_rec_init(&au, call, "run.log_inputs", "run", id);
		mw_audit_rec_after(&au, "{s:I, s:I}", "datasets", (json_int_t)nd, "models",
				   (json_int_t)nm);
		rc = mw_store_run_log_inputs(audited(t, &au, &sb), id, d, nd, mr, nm, err);
		mw_audit_rec_release(&au);
		rc = model_ref_err(t, run_err(t, rc, id, err), mr, nm, err);
	}
	for (size_t i = 0; i < nd; i++)
		free(d[i].tags);
	free(d);
	free(mr);
	if (rc)
		return rc;
	*resp = ok_empty();
	return 0;
}

int mw_track_run_log_outputs(struct mw_track *t, const struct mw_call *call, json_t *req,
			     json_t **resp, struct mw_err *err)
{
	const char *id = NULL;
	json_t *jmods;
	int rc = get_run_id(req, &id, err);
	if (!rc)
		rc = mw_req_list(req, "models", &jmods, err);
	if (rc)
		return rc;
	size_t nm = json_array_size(jmods);
	if (!nm)
		return mw_err_set(err, MW_E_INVALID, "Missing value for required parameter 'models'.");
	if (nm > 1000)
		return mw_err_set(err, MW_E_INVALID, "At most 1000 models per request.");
	struct mw_model_ref *mr = mw_xcalloc(nm, sizeof *mr);
	for (size_t i = 0; i < nm && !rc; i++) {
		json_t *e = json_array_get(jmods, i);
		if (!json_is_object(e))
			rc = mw_err_set(err, MW_E_INVALID, "Invalid model output: expected an object.");
		else if (!(rc = mw_req_str(e, "model_id", true, 0, &mr[i].model_id, err)))
			rc = mw_req_int64(e, "step", false, &mr[i].step, NULL, err);
	}
	if (!rc) {
		struct mw_audit_rec au;
		struct mw_store_bound sb;
		mw_audit_rec_init(&au, call, "run.log_outputs", "run", id);
		mw_audit_rec_after(&au, "{s:I}", "models", (json_int_t)nm);
		rc = mw_store_run_log_outputs(audited(t, &au, &sb), id, mr, nm, err);
		mw_audit_rec_release(&au);
		rc = model_ref_err(t, run_err(t, rc, id, err), mr, nm, err);
	}
	free(mr);
	if (rc)
		return rc;
	*resp = ok_empty();
	return 0;
}

/* experiment_ids as a C array of strings (numbers are accepted). */
static int get_exp_ids(json_t *req, const char ***out, size_t *n, bool required,
		       struct mw_err *err)
{
	json_t *arr = NULL;
	int rc = mw_req_list(req, "experiment_ids", &arr, err);
	if (rc)
		return rc;
	size_t cnt = json_array_size(arr);
	if (!cnt && required)
		return mw_err_set(err, MW_E_INVALID,
				  "Missing value for required parameter 'experiment_ids'.");
	if (cnt > 1000)
		return mw_err_set(err, MW_E_INVALID, "At most 1000 experiment_ids are allowed.");
	for (size_t i = 0; i < cnt; i++) {
		json_t *e = json_array_get(arr, i);
		if (json_is_integer(e)) {
			char buf[32];
			snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(e));
			json_array_set_new(arr, i, json_string(buf));
		} else if (!json_is_string(e)) {
			return mw_err_set(err, MW_E_INVALID,
					  "Invalid value for parameter 'experiment_ids': expected strings.");
		}
		if ((rc = check_exp_id(json_string_value(json_array_get(arr, i)), err)))
			return rc;
	}
	const char **ids = mw_xcalloc(cnt ? cnt : 1, sizeof *ids);
	for (size_t i = 0; i < cnt; i++)
		ids[i] = json_string_value(json_array_get(arr, i));
	*out = ids;
	*n = cnt;
	return 0;
}

int mw_track_run_search(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
			struct mw_err *err)
{
	const char **exps = NULL;
	size_t nexp = 0;
	struct mw_arena *a = mw_arena_new(65536);
	struct mw_filter f = {0};
	struct mw_order o[MAX_ORDER_BY];
	size_t no = 0;
	struct mw_page p;
	enum mw_view v;
	int rc = get_exp_ids(req, &exps, &nexp, false, err);
	if (!rc)
		rc = mw_page_from_req(req, 1000, MAX_RESULTS_SEARCH, &p, err);
	if (!rc)
		rc = get_view(req, "run_view_type", &v, err);
	if (!rc)
		rc = get_search(req, MW_SEARCH_RUNS, a, &f, o, &no, err);
	struct mw_run *runs = NULL;
	size_t n = 0;
	bool more = false;
	struct mw_page_json pj;
	budget_page(t, &p, &pj, run_shape, "run", "runs");
	if (!rc && nexp) /* no experiments: no runs */
		rc = mw_store_run_search(t->store, exps, nexp, &f, o, no, v, &p, a, &runs, &n,
					 &more, err);
	rc = budget_finish(&pj, rc, "runs", &p, more, resp);
	free(exps);
	mw_arena_free(a);
	return rc;
}

int mw_track_metric_history(struct mw_track *t, const struct mw_call *call, json_t *req,
			    json_t **resp, struct mw_err *err)
{
	const char *id = NULL, *key = NULL;
	int rc = get_run_id(req, &id, err);
	if (!rc)
		rc = mw_req_str(req, "metric_key", true, 0, &key, err);
	struct mw_page p;
	if (!rc)
		rc = mw_page_from_req(req, INT64_MAX - 1, INT64_MAX - 1, &p, err);
	if (rc)
		return rc;
	struct mw_arena *a = mw_arena_new(65536);
	struct mw_metric *m = NULL;
	size_t n = 0;
	bool more = false;
	struct mw_page_json pj;
	budget_page(t, &p, &pj, metric_shape, "metric point", "metrics");
	rc = run_err(t, mw_store_metric_history(t->store, id, key, &p, a, &m, &n, &more, err), id,
		     err);
	rc = budget_finish(&pj, rc, "metrics", &p, more, resp);
	mw_arena_free(a);
	return rc;
}

/* run_ids (1..100) as a C array. */
static int get_run_ids(json_t *req, const char *field, const char ***out, size_t *n,
		       struct mw_err *err)
{
	json_t *arr = NULL;
	int rc = mw_req_list(req, field, &arr, err);
	if (rc)
		return rc;
	size_t cnt = json_array_size(arr);
	if (!cnt)
		return mw_err_set(err, MW_E_INVALID, "Missing value for required parameter '%s'.", field);
	if (cnt > 100)
		return mw_err_set(err, MW_E_INVALID,
				  "GetMetricHistoryBulkInterval request must specify at most 100 run_ids. "
				  "Received %zu run_ids.",
				  cnt);
	const char **ids = mw_xcalloc(cnt, sizeof *ids);
	for (size_t i = 0; i < cnt; i++) {
		json_t *e = json_array_get(arr, i);
		if (!json_is_string(e) || (rc = check_run_id(json_string_value(e), err))) {
			free(ids);
			return rc ? rc : mw_err_set(err, MW_E_INVALID, "Invalid value for '%s'.", field);
		}
		ids[i] = json_string_value(e);
	}
	*out = ids;
	*n = cnt;
	return 0;
}

int mw_track_metric_history_bulk_interval(struct mw_track *t, const struct mw_call *call,
					  json_t *req, json_t **resp,
					  struct mw_err *err)
{
	const char **ids = NULL, *key = NULL;
	size_t n = 0;
	int64_t a = 0, b = 0, max = 2500;
	bool has_a = false, has_b = false, has_max = false;
	int rc = get_run_ids(req, "run_ids", &ids, &n, err);
	if (!rc)
		rc = mw_req_str(req, "metric_key", true, 0, &key, err);
	if (!rc)
		rc = mw_req_int64(req, "start_step", false, &a, &has_a, err);
	if (!rc)
		rc = mw_req_int64(req, "end_step", false, &b, &has_b, err);
	if (!rc)
		rc = mw_req_int64(req, "max_results", false, &max, &has_max, err);
	if (!rc && has_a != has_b)
		rc = mw_err_set(err, MW_E_INVALID,
				"If either start step or end step are specified, both must be specified.");
	if (!rc && has_a && a > b)
		rc = mw_err_set(err, MW_E_INVALID,
				"end_step must be greater than or equal to start_step. Found start_step=%lld, "
				"end_step=%lld.",
				(long long)a, (long long)b);
	if (!rc && (max < 1 || max > 2500))
		rc = mw_err_set(err, MW_E_INVALID,
				"max_results must be between 1 and 2500. Received %lld.", (long long)max);
	struct mw_arena *ar = mw_arena_new(65536);
	struct mw_metric *m = NULL;
	size_t nm = 0;
	if (!rc)
		rc = mw_store_metric_history_sampled(t->store, ids, n, key, has_a, a, b, max, ar,
						     &m, &nm, err);
	if (rc == -MW_E_NOT_FOUND && err->detail == MW_STORE_RUN) {
		/* which run: the first that does not exist (runs are never removed) */
		for (size_t i = 0; i < n; i++) {
			struct mw_run r;
			struct mw_err e = {0};
			if (mw_store_run_get(t->store, ids[i], ar, &r, &e) == -MW_E_NOT_FOUND) {
				rc = mw_track_not_found(rc, ids[i], err);
				break;
			}
		}
	}
	free(ids);
	if (!rc)
		*resp = page_json("metrics", mw_track_metrics_json(m, nm));
	mw_arena_free(ar);
	return rc;
}

int mw_track_metric_history_bulk(struct mw_track *t, const struct mw_call *call, json_t *req,
				 json_t **resp,
				 struct mw_err *err)
{
	const char **ids = NULL, *key = NULL;
	size_t n = 0;
	int64_t max = 25000;
	bool has_max = false;
	int rc = get_run_ids(req, "run_id", &ids, &n, err);
	if (!rc)
		rc = mw_req_str(req, "metric_key", true, 0, &key, err);
	if (!rc)
		rc = mw_req_int64(req, "max_results", false, &max, &has_max, err);
	if (!rc && (max < 1 || max > 25000))
		rc = mw_err_set(err, MW_E_INVALID, "max_results must be between 1 and 25000.");
	struct mw_arena *a = mw_arena_new(65536);
	struct mw_metric *m = NULL;
	size_t nm = 0;
	if (!rc)
		rc = mw_store_metric_history_bulk(t->store, ids, n, key, max, a, &m, &nm, err);
	free(ids);
	if (!rc)
		*resp = page_json("metrics", mw_track_metrics_json(m, nm));
	mw_arena_free(a);
	return rc;
}

/* ================================================================ logged models */

static int get_model_id(json_t *req, const char **out, struct mw_err *err)
{
	int rc = mw_req_str(req, "model_id", true, 0, out, err);
	if (rc)
		return rc;
	if (strlen(*out) > 64 || !id_chars(*out, 63))
		return mw_err_set(err, MW_E_INVALID, "Invalid model ID: '%.100s'", *out);
	return 0;
}

int mw_track_lm_create(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
		       struct mw_err *err)
{
	const char *exp = NULL, *name = NULL, *type = NULL, *src = NULL;
	int rc = get_exp_id(req, "experiment_id", true, &exp, err);
	if (!rc)
		rc = mw_req_str(req, "name", false, 0, &name, err);
	if (!rc)
		rc = mw_req_str(req, "model_type", false, 0, &type, err);
	if (!rc)
		rc = mw_req_str(req, "source_run_id", false, 0, &src, err);
	if (!rc && src && *src)
		rc = check_run_id(src, err);
	if (rc)
		return rc;
	struct mw_kv *params = NULL, *tags = NULL;
	size_t np = 0, nt = 0;
	if ((rc = get_kvs(t, req, "params", "param", MAX_KEY, MAX_PARAM_VALUE, true, &params, &np,
			  err)) ||
	    (rc = get_kvs(t, req, "tags", "tag", MAX_KEY, MAX_TAG_VALUE, true, &tags, &nt, err))) {
		free(params);
		return rc;
	}
	char hex[33], id[40], gen[64];
	if (!(rc = mw_id_hex32(hex, err)) && (!name || !*name))
		rc = mw_id_run_name(gen, err);
	if (rc) {
		free(params);
		free(tags);
		return rc;
	}
	snprintf(id, sizeof id, "m-%s", hex);
	char path[80];
	snprintf(path, sizeof path, "models/%s/artifacts",
		 id); /* under the experiment's location */
	struct mw_lm_create c = {
		.model_id = id,
		.experiment_id = exp,
		.name = name && *name ? name : gen,
		.model_type = type && *type ? type : NULL,
		.source_run_id = src && *src ? src : NULL,
		.artifact_path = path,
		.status = "LOGGED_MODEL_PENDING",
		.params = params,
		.nparams = np,
		.tags = tags,
		.ntags = nt,
		.now_ms = mw_now_ms(),
	};
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_logged_model model;
	struct mw_audit_rec au;
	struct mw_store_bound sb;
	mw_audit_rec_init(&au, call, "logged_model.create", "logged_model", id);
	mw_audit_rec_after(&au, "{s:s, s:s, s:s*, s:I, s:I}", "experiment_id", exp, "name", c.name,
			   "source_run_id", c.source_run_id, "params", (json_int_t)np, "tags",
			   (json_int_t)nt);
	rc = exp_err(t, mw_store_lm_create(audited(t, &au, &sb), &c, a, &model, err), exp, NULL,
		     err);
	mw_audit_rec_release(&au);
	free(params);
	free(tags);
	if (!rc)
		*resp = json_pack("{s:o}", "model", mw_track_logged_model_json(&model));
	mw_arena_free(a);
	return rc;
}

int mw_track_lm_get(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
		    struct mw_err *err)
{
	const char *id = NULL;
	int rc = get_model_id(req, &id, err);
	if (rc)
		return rc;
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_logged_model m;
	if (!(rc = lm_err(mw_store_lm_get(t->store, id, a, &m, err), id, err)))
		*resp = json_pack("{s:o}", "model", mw_track_logged_model_json(&m));
	mw_arena_free(a);
	return rc;
}

int mw_track_lm_finalize(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
			 struct mw_err *err)
{
	const char *id = NULL, *status = NULL;
	int rc = get_model_id(req, &id, err);
	json_t *sv = json_object_get(req, "status");
	if (!rc && json_is_integer(sv)) {
		int64_t i = json_integer_value(sv);
		status = i == 2 ? "LOGGED_MODEL_READY" : i == 3 ? "LOGGED_MODEL_UPLOAD_FAILED" : "?";
	} else if (!rc) {
		rc = mw_req_str(req, "status", true, 0, &status, err);
	}
	if (rc)
		return rc;
	if (strcmp(status, "LOGGED_MODEL_READY") && strcmp(status, "LOGGED_MODEL_UPLOAD_FAILED"))
		return mw_err_set(err, MW_E_INVALID,
				  "Invalid model status '%.64s': expected LOGGED_MODEL_READY or "
				  "LOGGED_MODEL_UPLOAD_FAILED.",
				  status);
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_logged_model m;
	struct mw_audit_rec au;
	struct mw_store_bound sb;
	mw_audit_rec_init(&au, call, "logged_model.finalize", "logged_model", id);
	mw_audit_rec_after(&au, "{s:s}", "status", status);
	rc = lm_err(mw_store_lm_finalize(audited(t, &au, &sb), id, status, mw_now_ms(), a, &m, err),
		    id, err);
	mw_audit_rec_release(&au);
	if (!rc)
		*resp = json_pack("{s:o}", "model", mw_track_logged_model_json(&m));
	mw_arena_free(a);
	return rc;
}

int mw_track_lm_delete(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
		       struct mw_err *err)
{
	const char *id = NULL;
	int rc = get_model_id(req, &id, err);
	if (rc)
		return rc;
	struct mw_audit_rec au;
	struct mw_store_bound sb;
	mw_audit_rec_init(&au, call, "logged_model.delete", "logged_model", id);
	mw_audit_rec_after(&au, "{s:s}", "lifecycle_stage", "deleted");
	rc = mw_store_lm_delete(audited(t, &au, &sb), id, err);
	mw_audit_rec_release(&au);
	if ((rc = lm_err(rc, id, err)))
		return rc;
	*resp = ok_empty();
	return 0;
}

int mw_track_lm_set_tags(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
			 struct mw_err *err)
{
	const char *id = NULL;
	struct mw_kv *tags = NULL;
	size_t nt = 0;
	int rc = get_model_id(req, &id, err);
	if (!rc)
		rc = get_kvs(t, req, "tags", "tag", MAX_KEY, MAX_TAG_VALUE, true, &tags, &nt, err);
	if (!rc) {
		struct mw_audit_rec au;
		struct mw_store_bound sb;
		mw_audit_rec_init(&au, call, "logged_model.set_tags", "logged_model", id);
		mw_audit_rec_after(&au, "{s:I}", "tags", (json_int_t)nt);
		rc = lm_err(mw_store_lm_set_tags(audited(t, &au, &sb), id, tags, nt, mw_now_ms(),
						 err),
			    id, err);
		mw_audit_rec_release(&au);
	}
	free(tags);
	if (rc)
		return rc;
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_logged_model m;
	if (!(rc = lm_err(mw_store_lm_get(t->store, id, a, &m, err), id, err)))
		*resp = json_pack("{s:o}", "model", mw_track_logged_model_json(&m));
	mw_arena_free(a);
	return rc;
}

int mw_track_lm_delete_tag(struct mw_track *t, const struct mw_call *call, json_t *req,
			   json_t **resp, struct mw_err *err)
{
	const char *id = NULL, *key = NULL;
	int rc = get_model_id(req, &id, err);
	if (!rc)
		rc = mw_req_str(req, "tag_key", true, 0, &key, err);
	if (!rc) {
		struct mw_audit_rec au;
		struct mw_store_bound sb;
		mw_audit_rec_init(&au, call, "logged_model.delete_tag", "logged_model", id);
		mw_audit_rec_before(&au, "{s:[s]}", "tags", key);
		rc = mw_store_lm_delete_tag(audited(t, &au, &sb), id, key, err);
		mw_audit_rec_release(&au);
		rc = tag_err(t, lm_err(rc, id, err), "logged model", id, key, err);
	}
	if (rc)
		return rc;
	*resp = ok_empty();
	return 0;
}

int mw_track_lm_log_params(struct mw_track *t, const struct mw_call *call, json_t *req,
			   json_t **resp, struct mw_err *err)
{
	const char *id = NULL;
	struct mw_kv *params = NULL;
	size_t np = 0;
	int rc = get_model_id(req, &id, err);
	if (!rc)
		rc = get_kvs(t, req, "params", "param", MAX_KEY, MAX_PARAM_VALUE, true, &params, &np,
			     err);
	if (!rc) {
		struct mw_audit_rec au;
		struct mw_store_bound sb;
		mw_audit_rec_init(&au, call, "logged_model.log_params", "logged_model", id);
		mw_audit_rec_after(&au, "{s:I}", "params", (json_int_t)np);
		rc = lm_err(mw_store_lm_log_params(audited(t, &au, &sb), id, params, np, err), id,
			    err);
		mw_audit_rec_release(&au);
	}
	free(params);
	if (rc)
		return rc;
	*resp = ok_empty();
	return 0;
}

int mw_track_lm_search(struct mw_track *t, const struct mw_call *call, json_t *req, json_t **resp,
		       struct mw_err *err)
{
	const char **exps = NULL;
	size_t nexp = 0;
	struct mw_arena *a = mw_arena_new(4096);
	struct mw_filter f = {0};
	struct mw_order o[MAX_ORDER_BY];
	size_t no = 0;
	struct mw_page p;
	int rc = get_exp_ids(req, &exps, &nexp, true, err);
	if (!rc)
		rc = mw_page_from_req(req, 50, 1000, &p, err);
	const char *filter = NULL;
	if (!rc)
		rc = mw_req_str(req, "filter", false, MAX_FILTER, &filter, err);
	if (!rc)
		rc = mw_filter_parse(MW_SEARCH_LOGGED_MODELS, filter, a, &f, err);
	json_t *ob = NULL;
	if (!rc)
		rc = mw_req_list(req, "order_by", &ob, err);
	if (!rc && json_array_size(ob) > MAX_ORDER_BY)
		rc = mw_err_set(err, MW_E_INVALID, "At most %d order_by entries are allowed.",
				MAX_ORDER_BY);
	for (size_t i = 0; !rc && i < json_array_size(ob); i++) {
		json_t *e = json_array_get(ob, i);
		const char *field = NULL;
		bool asc = true, has_asc = false;
		if (json_is_string(e)) {
			rc = mw_order_parse(MW_SEARCH_LOGGED_MODELS, json_string_value(e), a, &o[no], err);
		} else if (json_is_object(e)) {
			rc = mw_req_str(e, "field_name", true, 0, &field, err);
			if (!rc)
				rc = mw_req_bool(e, "ascending", &asc, &has_asc, err);
			if (!rc)
				rc = mw_order_parse(MW_SEARCH_LOGGED_MODELS, field, a, &o[no], err);
			if (!rc)
				o[no].asc = has_asc ? asc : true;
		} else {
			rc = mw_err_set(err, MW_E_INVALID, "Invalid value for parameter 'order_by'.");
		}
		if (!rc)
			no++;
	}
	struct mw_logged_model *models = NULL;
	size_t n = 0;
	bool more = false;
	struct mw_page_json pj;
	budget_page(t, &p, &pj, lm_shape, "logged model", "models");
	if (!rc)
		rc = mw_store_lm_search(t->store, exps, nexp, &f, o, no, &p, a, &models, &n, &more,
					err);
	rc = budget_finish(&pj, rc, "models", &p, more, resp);
	free(exps);
	mw_arena_free(a);
	return rc;
}
