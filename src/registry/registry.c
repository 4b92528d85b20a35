/*
 * registry.c - the model registry operations: validation, MLflow's registry
 * semantics, version sources and pinning, lineage, model cards and the
 * promotion history, on top of the store.
 *
 * Every operation reads its message with the mw_req_* getters, checks
 * MLflow's limits (registry tag key 250 / value 5000 characters, aliases
 * ^[\w-]*$ of at most 255 characters that are neither "latest" nor v<digits>,
 * model version numbers that parse as integers, stages None / Staging /
 * Production / Archived in any case) and calls the store.
 *
 * Sources.  resolve_source() turns a model-versions/create `source` into the
 * manifest prefix the store pins (see registry.h).  Artifact paths taken from
 * a source follow the artifact proxy's rules (art.h: mw_art_uri_to_path and
 * mw_art_path_normalize: no NUL, control character or backslash, no empty,
 * "." or ".." segment, no percent-encoded dot, slash or backslash), so a URI
 * names the same files for the registry as for the proxy.  A local directory is walked without following
 * symbolic links (a link, device, FIFO or socket anywhere is an error), each
 * regular file is streamed into the blob store and put in the manifest under
 * "_sources/<random>/", the version pins that prefix, and the staging entries
 * are removed again whatever the outcome (the blobs stay, referenced by the
 * pinned copy, or are collected by gc).
 *
 * Lengths are counted in characters (UTF-8 code points), as MLflow does.
 */
#include "registry/registry.h"

#include "art/art.h"
#include "mlmodel/mlmodel.h"
#include "store/audit.h"
#include "store/registry.h"
#include "track/track.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct mw_registry {
	struct mw_store *store;
	struct mw_blob *blob;
	bool local_sources;
	size_t max_bytes; /* a search answer's budget (max-response-bytes), 0: none */
	bool check_models; /* refuse versions whose MLmodel could never serve */
	uint64_t gen;      /* the generation: starts at 1, see mw_registry_generation */
	mw_registry_shapes_fn shapes; /* shapes seen at load (optional) */
	void *shapes_ud;
};

int mw_registry_new(struct mw_store *store, struct mw_blob *blob, struct mw_registry **out,
		    struct mw_err *err)
{
	(void)err;
	struct mw_registry *r = mw_xcalloc(1, sizeof *r);
	r->store = store;
	r->blob = blob;
	r->check_models = true;
	r->gen = 1;
	*out = r;
	return 0;
}

void mw_registry_set_shapes(struct mw_registry *r, mw_registry_shapes_fn fn, void *ud)
{
	r->shapes = fn;
	r->shapes_ud = ud;
}

void mw_registry_free(struct mw_registry *r)
{
	free(r);
}

void mw_registry_allow_local_sources(struct mw_registry *r, bool allow)
{
	r->local_sources = allow;
}

void mw_registry_check_models(struct mw_registry *r, bool check)
{
	r->check_models = check;
}

void mw_registry_set_max_response(struct mw_registry *r, size_t max_bytes)
{
	r->max_bytes = max_bytes;
}

/* The generation (mw_registry_generation): bumped after every write that may
 * have changed what a reference resolves to, whether or not it reports
 * success (a commit whose answer failed still counts; a spurious bump only
 * costs readers a re-resolve). */
static int bumped(struct mw_registry *r, int rc)
{
	__atomic_add_fetch(&r->gen, 1, __ATOMIC_RELEASE);
	return rc;
}

uint64_t mw_registry_generation(struct mw_registry *r)
{
	return __atomic_load_n(&r->gen, __ATOMIC_ACQUIRE);
}

/* ================================================================ limits */

#define MAX_NAME 256
#define MAX_TAG_KEY 250
#define MAX_TAG_VALUE 5000
#define MAX_ALIAS 255
#define MAX_DESCRIPTION 65536
#define MAX_SOURCE 4096
#define MAX_RUN_LINK 4096
#define MAX_REASON 5000
#define MAX_EVIDENCE 65536
#define MAX_CARD (1u << 20)
#define MAX_FILTER 65536
#define MAX_ORDER_BY 16
#define MAX_TAGS 1000
#define RM_SEARCH_DEFAULT 100
#define RM_SEARCH_MAX 1000
#define MV_SEARCH_MAX 200000
#define MAX_LOCAL_FILES 100000
#define MAX_LOCAL_DEPTH 64

/* Where a version's pinned copy of its files lives in the artifact manifest:
 * "_registry/<model id>/<version>" (a reserved root, read-only through the
 * artifact API, see art.h). */
#define PIN_ROOT "_registry"

static bool word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c >= 0x80;
}

static const char *user_of(const struct mw_call *call)
{
	return call && call->user && *call->user ? call->user : "anonymous";
}

/* Every write goes through the store bound to its call's audit record
 * (store/audit.h): the change and its record commit together. */
static struct mw_store *audited(struct mw_registry *r, struct mw_audit_rec *ar,
				struct mw_store_bound *sb)
{
	return mw_store_audit_bind(r->store, ar, sb);
}

/* A version's audit resource id, "name/version" (malloc'd). */
static char *version_id(const char *name, int64_t v)
{
	size_t n = strlen(name) + 24;
	char *s = mw_xmalloc(n);
	snprintf(s, n, "%s/%lld", name, (long long)v);
	return s;
}

/* The user_id recorded on new entities: none for anonymous callers. */
static const char *owner_of(const struct mw_call *call)
{
	const char *u = user_of(call);
	return strcmp(u, "anonymous") ? u : NULL;
}

static int get_name(json_t *req, const char *field, const char **out, struct mw_err *err)
{
	int rc = mw_req_str(req, field, true, 0, out, err);
	if (rc)
		return rc;
	if (mw_utf8_chars(*out) > MAX_NAME)
		return mw_err_set(err, MW_E_INVALID,
				  "Registered model name is %zu characters long, over the limit of %d.",
				  mw_utf8_chars(*out), MAX_NAME);
	return 0;
}

static int parse_version(const char *s, int64_t *v, struct mw_err *err)
{
	if (mw_parse_int64(s, v))
		return mw_err_set(err, MW_E_INVALID, "Model version must be an integer, got '%.64s'",
				  s);
	return 0;
}

static int get_version(json_t *req, int64_t *v, struct mw_err *err)
{
	json_t *j = json_object_get(req, "version");
	if (json_is_integer(j)) {
		*v = json_integer_value(j);
		return 0;
	}
	const char *s = NULL;
	int rc = mw_req_str(req, "version", true, 0, &s, err);
	if (rc)
		return rc;
	return parse_version(s, v, err);
}

static int get_opt_str(json_t *req, const char *field, size_t maxchars, const char **out,
		       struct mw_err *err)
{
	*out = NULL;
	int rc = mw_req_str(req, field, false, 0, out, err);
	if (rc || !*out)
		return rc;
	if (mw_utf8_chars(*out) > maxchars)
		return mw_err_set(err, MW_E_INVALID,
				  "Parameter '%s' is %zu characters long, over the limit of %zu.",
				  field, mw_utf8_chars(*out), maxchars);
	return 0;
}

/* MLflow's tag-name rule (^[/\w.\- ]*$, a path that normalises to itself)
 * and the registry's lengths. */
static int check_tag(const char *key, const char *value, struct mw_err *err)
{
	if (!key || !*key)
		return mw_err_set(err, MW_E_INVALID, "Missing value for required parameter 'key'.");
	if (mw_utf8_chars(key) > MAX_TAG_KEY)
		return mw_err_set(err, MW_E_INVALID,
				  "Tag key '%.64s...' is %zu characters long, over the limit of %d.",
				  key, mw_utf8_chars(key), MAX_TAG_KEY);
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		if (!word_char(*p) && *p != '/' && *p != '.' && *p != '-' && *p != ' ')
			return mw_err_set(err, MW_E_INVALID,
					  "Invalid tag name: '%s'. Names may only contain alphanumerics, "
					  "underscores (_), dashes (-), periods (.), spaces ( ), and "
					  "slashes (/).",
					  key);
	size_t n = strlen(key);
	bool bad = key[0] == '/' || (n > 1 && key[n - 1] == '/') || strstr(key, "//");
	for (const char *seg = key; !bad && seg;) {
		const char *e = strchr(seg, '/');
		size_t sl = e ? (size_t)(e - seg) : strlen(seg);
		if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
			bad = true;
		seg = e ? e + 1 : NULL;
	}
	if (bad)
		return mw_err_set(err, MW_E_INVALID,
				  "Invalid tag name: '%s'. Names cannot contain '..', '.' segments, "
				  "'//' or a leading or trailing '/'.",
				  key);
	if (value && mw_utf8_chars(value) > MAX_TAG_VALUE)
		return mw_err_set(err, MW_E_INVALID,
				  "Tag value for key '%s' is %zu characters long, over the limit of %d.",
				  key, mw_utf8_chars(value), MAX_TAG_VALUE);
	return 0;
}

/* [{key, value}] into a malloc'd array of mw_kv (strings borrowed). */
static int get_tags(json_t *req, struct mw_kv **out, size_t *n, struct mw_err *err)
{
	*out = NULL;
	*n = 0;
	json_t *arr = NULL;
	int rc = mw_req_list(req, "tags", &arr, err);
	if (rc || !arr)
		return rc;
	size_t cnt = json_array_size(arr);
	if (cnt > MAX_TAGS)
		return mw_err_set(err, MW_E_INVALID, "At most %d tags may be given at once.",
				  MAX_TAGS);
	struct mw_kv *kv = mw_xcalloc(cnt ? cnt : 1, sizeof *kv);
	for (size_t i = 0; i < cnt; i++) {
		json_t *e = json_array_get(arr, i);
		const char *k = NULL, *v = NULL;
		if (!json_is_object(e))
			rc = mw_err_set(err, MW_E_INVALID,
					"Invalid value for parameter 'tags': each entry must be an "
					"object with 'key' and 'value'.");
		if (!rc)
			rc = mw_req_str(e, "key", true, 0, &k, err);
		if (!rc)
			rc = mw_req_str(e, "value", false, 0, &v, err);
		if (!rc)
			rc = check_tag(k, v, err);
		if (rc) {
			free(kv);
			return rc;
		}
		kv[i].key = k;
		kv[i].value = v ? v : "";
	}
	*out = kv;
	*n = cnt;
	return 0;
}

static int check_alias(const char *alias, struct mw_err *err)
{
	if (mw_utf8_chars(alias) > MAX_ALIAS)
		return mw_err_set(err, MW_E_INVALID,
				  "Alias name is %zu characters long, over the limit of %d.",
				  mw_utf8_chars(alias), MAX_ALIAS);
	for (const unsigned char *p = (const unsigned char *)alias; *p; p++)
		if (!word_char(*p) && *p != '-')
			return mw_err_set(err, MW_E_INVALID,
					  "Invalid alias name: '%s'. Names may only contain "
					  "alphanumerics, underscores (_), and dashes (-).",
					  alias);
	if (mw_str_eq_nocase(alias, "latest"))
		return mw_err_set(err, MW_E_INVALID,
				  "'latest' alias name (case insensitive) is reserved.");
	if ((alias[0] == 'v' || alias[0] == 'V') && alias[1]) {
		bool digits = true;
		for (const char *p = alias + 1; *p; p++)
			if (*p < '0' || *p > '9')
				digits = false;
		if (digits)
			return mw_err_set(err, MW_E_INVALID,
					  "Version alias name '%s' is reserved (aliases of the form "
					  "v<number> would shadow version references).",
					  alias);
	}
	return 0;
}

static int get_alias(json_t *req, const char **out, struct mw_err *err)
{
	int rc = mw_req_str(req, "alias", true, 0, out, err);
	return rc ? rc : check_alias(*out, err);
}

static const char *const stages[] = {"None", "Staging", "Production", "Archived"};

static int canonical_stage(const char *s, const char **out, struct mw_err *err)
{
	for (size_t i = 0; i < 4; i++)
		if (s && mw_str_eq_nocase(s, stages[i])) {
			*out = stages[i];
			return 0;
		}
	return mw_err_set(err, MW_E_INVALID,
			  "Invalid Model Version stage: %.64s. Value must be one of None, Staging, "
			  "Production, Archived.",
			  s ? s : "(none)");
}

/* Audit fields of a request: reason and evidence only when the operation
 * takes them (native routes); MLflow's endpoints record them as null. */
static int get_audit(const struct mw_call *call, json_t *req, bool native, struct mw_audit *a,
		     char **evidence_text,
		     struct mw_err *err)
{
	memset(a, 0, sizeof *a);
	*evidence_text = NULL;
	a->who = user_of(call);
	a->verified = call && call->verified;
	a->now_ms = mw_now_ms();
	if (!native)
		return 0;
	int rc = get_opt_str(req, "reason", MAX_REASON, &a->reason, err);
	if (rc)
		return rc;
	if (a->reason && !*a->reason)
		a->reason = NULL;
	json_t *ev = json_object_get(req, "evidence");
	if (ev && !json_is_null(ev)) {
		if (json_is_string(ev)) {
			/* a JSON document sent as a string (CLI --evidence, form fields):
			 * its size is checked before it is parsed */
			if (json_string_length(ev) > MAX_EVIDENCE)
				return mw_err_set(err, MW_E_INVALID,
						  "Evidence is over the limit of %d bytes: link to large "
						  "reports instead of embedding them.",
						  MAX_EVIDENCE);
			struct mw_err ignored = {0}; /* not JSON: kept as the string it is */
			json_t *parsed =
				mw_json_parse_text(json_string_value(ev), json_string_length(ev),
						   MW_JSON_TEXT_DEPTH, "evidence", &ignored);
			if (parsed && (json_is_object(parsed) || json_is_array(parsed))) {
				*evidence_text = mw_json_dump(parsed, NULL);
			} else {
				*evidence_text = mw_json_dump(ev, NULL);
			}
			json_decref(parsed);
		} else if (json_is_object(ev) || json_is_array(ev)) {
			*evidence_text = mw_json_dump(ev, NULL);
		} else {
			return mw_err_set(err, MW_E_INVALID,
					  "Invalid value for parameter 'evidence': expected a JSON object, "
					  "array or string.");
		}
		if (strlen(*evidence_text) > MAX_EVIDENCE) {
			free(*evidence_text);
			*evidence_text = NULL;
			return mw_err_set(err, MW_E_INVALID,
					  "Evidence is over the limit of %d bytes: link to large "
					  "reports instead of embedding them.",
					  MAX_EVIDENCE);
		}
		a->evidence = *evidence_text;
	}
	return 0;
}

/* ================================================================ MLflow's shapes */

/* The registry's records in MLflow's protobuf-JSON shape: version numbers as
 * strings, absent strings and empty lists omitted, fields in MLflow's order.
 * A version's pinned files are served by mw's artifact proxy, so its
 * storage_location is their mlflow-artifacts:/ URI. */

#define ARTIFACTS_URI "mlflow-artifacts:/"

static json_t *version_str(int64_t v)
{
	char b[32];
	snprintf(b, sizeof b, "%lld", (long long)v);
	return json_string(b);
}

static void set_str(json_t *o, const char *k, const char *v)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
}

static void set_arr(json_t *o, const char *k, json_t *arr)
{
	if (json_array_size(arr))
		json_object_set_new(o, k, arr);
	else
		json_decref(arr);
}

static json_t *mv_json(const struct mw_model_version *v)
{
	json_t *o = json_object();
	set_str(o, "name", v->name);
	json_object_set_new(o, "version", version_str(v->version));
	json_object_set_new(o, "creation_timestamp", json_integer(v->creation_timestamp));
	json_object_set_new(o, "last_updated_timestamp", json_integer(v->last_updated_timestamp));
	set_str(o, "description", v->description);
	set_str(o, "user_id", v->user_id);
	set_str(o, "current_stage", v->current_stage);
	set_str(o, "source", v->source);
	set_str(o, "run_id", v->run_id);
	set_str(o, "run_link", v->run_link);
	set_str(o, "status", v->status);
	/* status_message: never (see mw_registry_mv_create); the note is in
	 * the lineage (native API) */
	if (v->files) {
		size_t n = strlen(ARTIFACTS_URI) + strlen(v->files) + 1;
		char *loc = mw_xmalloc(n);
		snprintf(loc, n, "%s%s", ARTIFACTS_URI, v->files);
		json_object_set_new(o, "storage_location", json_string(loc));
		free(loc);
	}
	set_str(o, "model_id", v->model_id);
	set_str(o, "manifest_digest", v->manifest_digest);
	set_arr(o, "tags", mw_track_kv_json(v->tags, v->ntags));
	json_t *aliases = json_array();
	for (size_t i = 0; i < v->naliases; i++)
		json_array_append_new(aliases, json_string(v->aliases[i]));
	set_arr(o, "aliases", aliases);
	return o;
}

static json_t *mvs_json(const struct mw_model_version *v, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, mv_json(&v[i]));
	return arr;
}

static json_t *rm_json(const struct mw_registered_model *m)
{
	json_t *o = json_object();
	set_str(o, "name", m->name);
	set_str(o, "description", m->description);
	set_str(o, "user_id", m->user_id);
	json_object_set_new(o, "creation_timestamp", json_integer(m->creation_timestamp));
	json_object_set_new(o, "last_updated_timestamp", json_integer(m->last_updated_timestamp));
	set_arr(o, "latest_versions", mvs_json(m->latest_versions, m->nlatest));
	set_arr(o, "tags", mw_track_kv_json(m->tags, m->ntags));
	json_t *aliases = json_array();
	for (size_t i = 0; i < m->naliases; i++) {
		json_t *a = json_object();
		json_object_set_new(a, "alias", json_string(m->aliases[i].alias));
		json_object_set_new(a, "version", version_str(m->aliases[i].version));
		json_array_append_new(aliases, a);
	}
	set_arr(o, "aliases", aliases);
	return o;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *event_json(const struct mw_promotion_event *e)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(e->id));
	json_object_set_new(o, "kind", str_or_null(e->kind));
	json_object_set_new(o, "target", str_or_null(e->target));
	json_object_set_new(o, "from_version",
			    e->from_version ? version_str(e->from_version) : json_null());
	json_object_set_new(o, "to_version",
			    e->to_version ? version_str(e->to_version) : json_null());
	json_object_set_new(o, "from_stage", str_or_null(e->from_stage));
	json_object_set_new(o, "to_stage", str_or_null(e->to_stage));
	json_object_set_new(o, "who", str_or_null(e->who));
	json_object_set_new(o, "who_verified",
			    e->who_verified < 0 ? json_null() : json_boolean(e->who_verified));
	json_object_set_new(o, "at", json_integer(e->at));
	json_object_set_new(o, "reason", str_or_null(e->reason));
	json_t *ev = NULL;
	if (e->evidence) {
		/* stored as JSON text; shown as the JSON it holds */
		json_error_t je;
		ev = json_loads(e->evidence, JSON_DECODE_ANY, &je);
		if (!ev)
			ev = json_string(e->evidence);
	}
	json_object_set_new(o, "evidence", ev ? ev : json_null());
	return o;
}

/* ================================================================ MLflow's errors */

/* MLflow's words for the store's registry errors (err->detail says what is
 * missing or taken); other errors pass unchanged.  name is the model the
 * call named, v its version (when it named one), alias its alias. */
static int reg_err(int rc, const char *name, int64_t v, const char *alias, struct mw_err *err)
{
	if (!rc)
		return 0;
	switch (err->detail) {
	case MW_STORE_MODEL:
		if (rc == -MW_E_EXISTS)
			return mw_err_set(err, MW_E_EXISTS,
					  "Registered Model (name=%s) already exists.", name);
		if (rc == -MW_E_NOT_FOUND)
			return mw_err_set(err, MW_E_NOT_FOUND,
					  "Registered Model with name=%s not found", name);
		break;
	case MW_STORE_VERSION:
		if (rc == -MW_E_NOT_FOUND && v)
			return mw_err_set(err, MW_E_NOT_FOUND,
					  "Model Version (name=%s, version=%lld) not found", name,
					  (long long)v);
		if (rc == -MW_E_NOT_FOUND)
			return mw_err_set(err, MW_E_NOT_FOUND,
					  "Model Version (name=%s, alias=%s) not found", name,
					  alias ? alias : "?");
		break;
	case MW_STORE_ALIAS:
		if (!alias)
			alias = "?";
		if (rc == -MW_E_NOT_FOUND)
			return mw_err_set(err, MW_E_NOT_FOUND,
					  "Registered model alias %s not found.", alias);
		if (rc == -MW_E_CONFLICT)
			return mw_err_set(err, MW_E_CONFLICT,
					  "Alias '%s' of model '%s' changed while rolling back; "
					  "look at its history and retry.",
					  alias, name);
		break;
	case MW_STORE_CARD:
		if (rc == -MW_E_NOT_FOUND)
			return mw_err_set(err, MW_E_NOT_FOUND,
					  "Model version %s/%lld has no model card yet. Write one with "
					  "PUT /api/mw/models/<name>/versions/<version>/card or "
					  "`mw models card %s %lld --set FILE`.",
					  name, (long long)v, name, (long long)v);
		break;
	default:
		break;
	}
	return rc;
}

/* ---------------------------------------------------------------- reads as messages */

static int rm_get_json(struct mw_registry *r, const char *name, json_t **out, struct mw_err *err)
{
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_registered_model m;
	int rc = reg_err(mw_store_rm_get(r->store, name, a, &m, err), name, 0, NULL, err);
	if (!rc)
		*out = rm_json(&m);
	mw_arena_free(a);
	return rc;
}

static int mv_get_json(struct mw_registry *r, const char *name, int64_t v, json_t **out,
		       struct mw_err *err)
{
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_model_version m;
	int rc = reg_err(mw_store_mv_get(r->store, name, v, a, &m, err), name, v, NULL, err);
	if (!rc)
		*out = mv_json(&m);
	mw_arena_free(a);
	return rc;
}

/* The shapes of listed records, as mw_page_json's shape (search.h). */
static json_t *rm_shape(const void *rec, void *ud)
{
	(void)ud;
	return rm_json(rec);
}

static json_t *mv_shape(const void *rec, void *ud)
{
	(void)ud;
	return mv_json(rec);
}

static int by_alias_json(struct mw_registry *r, const char *name, const char *alias, json_t **out,
			 struct mw_err *err)
{
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_model_version m;
	int rc = reg_err(mw_store_rm_get_by_alias(r->store, name, alias, a, &m, err), name, 0,
			 alias, err);
	if (!rc)
		*out = mv_json(&m);
	mw_arena_free(a);
	return rc;
}

/* ================================================================ search */

/* MLflow's prompts: registered models and versions tagged
 * mlflow.prompt.is_prompt = true.  A search returns them only when its filter
 * says tags.`mlflow.prompt.is_prompt` = 'true' (or != 'false'); otherwise
 * they are left out and clauses on that tag are dropped. */
#define PROMPT_TAG "mlflow.prompt.is_prompt"

static const struct mw_hide_tag hide_prompts = {PROMPT_TAG, "true"};

static bool asks_for_prompts(const struct mw_filter *f)
{
	for (size_t i = 0; f && i < f->n; i++) {
		const struct mw_clause *cl = &f->c[i];
		if (cl->kind != MW_KEY_TAG || strcmp(cl->key, PROMPT_TAG) || !cl->str)
			continue;
		return (cl->cmp == MW_CMP_EQ && mw_str_eq_nocase(cl->str, "true")) ||
		       (cl->cmp == MW_CMP_NE && mw_str_eq_nocase(cl->str, "false"));
	}
	return false;
}

/* The filter the store sees and what it hides (f is changed in place). */
static const struct mw_hide_tag *prompt_rule(struct mw_filter *f)
{
	if (asks_for_prompts(f))
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < f->n; i++)
		if (f->c[i].kind != MW_KEY_TAG || strcmp(f->c[i].key, PROMPT_TAG))
			f->c[k++] = f->c[i];
	f->n = k;
	return &hide_prompts;
}

static int get_search(json_t *req, enum mw_search_entity ent, bool with_filter,
		      struct mw_arena *a, struct mw_filter *f, struct mw_order *o, size_t *no,
		      struct mw_err *err)
{
	*no = 0;
	int rc;
	if (with_filter) {
		const char *filter = NULL;
		if ((rc = mw_req_str(req, "filter", false, MAX_FILTER, &filter, err)) ||
		    (rc = mw_filter_parse(ent, filter, a, f, err)))
			return rc;
	}
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
		for (size_t k = 0; k < *no; k++)
			if (o[k].kind == o[*no].kind && !strcmp(o[k].key, o[*no].key))
				return mw_err_set(err, MW_E_INVALID,
						  "`order_by` contains duplicate fields: '%.100s'",
						  json_string_value(e));
		(*no)++;
	}
	return 0;
}

static int rm_search(struct mw_registry *r, json_t *req, json_t **resp, bool legacy,
		     struct mw_err *err)
{
	struct mw_arena *a = mw_arena_new(4096);
	struct mw_filter f = {0};
	struct mw_order o[MAX_ORDER_BY];
	size_t no = 0;
	struct mw_page p;
	int rc = mw_page_from_req(req, RM_SEARCH_DEFAULT, RM_SEARCH_MAX, &p, err);
	if (!rc)
		rc = get_search(req, MW_SEARCH_REGISTERED_MODELS, !legacy, a, &f, o, &no, err);
	struct mw_registered_model *m = NULL;
	size_t n = 0;
	bool more = false;
	struct mw_page_json pj; /* the answer within its budget, built while the store reads */
	mw_page_json_init(&pj, rm_shape, "registered model", "registered_models", 0, r->max_bytes,
			  true);
	p.take = mw_page_json_take;
	p.ud = &pj;
	if (!rc)
		rc = mw_store_rm_search(r->store, &f, o, no, prompt_rule(&f), &p, a, &m, &n, &more,
					err);
	json_t *out = json_object();
	if ((rc = mw_page_json_finish(&pj, rc, out, "registered_models", &p, more)))
		json_decref(out);
	else
		*resp = out;
	mw_arena_free(a);
	return rc;
}

int mw_registry_rm_search(struct mw_registry *r, const struct mw_call *call, json_t *req,
			  json_t **resp, struct mw_err *err)
{
	return rm_search(r, req, resp, false, err);
}

int mw_registry_rm_list(struct mw_registry *r, const struct mw_call *call, json_t *req,
			json_t **resp, struct mw_err *err)
{
	return rm_search(r, req, resp, true, err);
}

int mw_registry_mv_search(struct mw_registry *r, const struct mw_call *call, json_t *req,
			  json_t **resp, struct mw_err *err)
{
	struct mw_arena *a = mw_arena_new(4096);
	struct mw_filter f = {0};
	struct mw_order o[MAX_ORDER_BY];
	size_t no = 0;
	struct mw_page p;
	int rc = mw_page_from_req(req, MV_SEARCH_MAX, MV_SEARCH_MAX, &p, err);
	if (!rc)
		rc = get_search(req, MW_SEARCH_MODEL_VERSIONS, true, a, &f, o, &no, err);
	struct mw_model_version *m = NULL;
	size_t n = 0;
	bool more = false;
	struct mw_page_json pj;
	mw_page_json_init(&pj, mv_shape, "model version", "model_versions", 0, r->max_bytes, true);
	p.take = mw_page_json_take;
	p.ud = &pj;
	if (!rc)
		rc = mw_store_mv_search(r->store, &f, o, no, prompt_rule(&f), &p, a, &m, &n, &more,
					err);
	json_t *out = json_object();
	if ((rc = mw_page_json_finish(&pj, rc, out, "model_versions", &p, more)))
		json_decref(out);
	else
		*resp = out;
	mw_arena_free(a);
	return rc;
}

/* ================================================================ registered models */

static json_t *ok_empty(void)
{
	return json_object();
}

int mw_registry_rm_create(struct mw_registry *r, const struct mw_call *call, json_t *req,
			  json_t **resp, struct mw_err *err)
{
	const char *name = NULL, *desc = NULL;
	struct mw_kv *tags = NULL;
	size_t nt = 0;
	int rc = get_name(req, "name", &name, err);
	if (!rc)
		rc = get_opt_str(req, "description", MAX_DESCRIPTION, &desc, err);
	if (!rc)
		rc = get_tags(req, &tags, &nt, err);
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_registered_model rm;
	struct mw_audit_rec ar;
	struct mw_store_bound sb;
	mw_audit_rec_init(&ar, call, "model.create", "model", name);
	mw_audit_rec_after(&ar, "{s:s*, s:I}", "description", desc, "tags", (json_int_t)nt);
	if (!rc)
		rc = reg_err(bumped(r,
				    mw_store_rm_create(audited(r, &ar, &sb), name, desc, tags, nt,
						       owner_of(call), mw_now_ms(), a, &rm, err)),
			     name, 0, NULL, err);
	mw_audit_rec_release(&ar);
	free(tags);
	if (!rc)
		*resp = json_pack("{s:o}", "registered_model", rm_json(&rm));
	mw_arena_free(a);
	return rc;
}

int mw_registry_rm_get(struct mw_registry *r, const struct mw_call *call, json_t *req,
		       json_t **resp, struct mw_err *err)
{
	const char *name = NULL;
	json_t *rm = NULL;
	int rc = get_name(req, "name", &name, err);
	if (rc || (rc = rm_get_json(r, name, &rm, err)))
		return rc;
	*resp = json_pack("{s:o}", "registered_model", rm);
	return 0;
}

int mw_registry_rm_rename(struct mw_registry *r, const struct mw_call *call, json_t *req,
			  json_t **resp, struct mw_err *err)
{
	const char *name = NULL, *new_name = NULL;
	json_t *rm = NULL;
	int rc = get_name(req, "name", &name, err);
	if (!rc)
		rc = get_name(req, "new_name", &new_name, err);
	if (rc)
		return rc;
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_registered_model m;
	struct mw_audit_rec ar;
	struct mw_store_bound sb;
	mw_audit_rec_init(&ar, call, "model.rename", "model", name);
	mw_audit_rec_before(&ar, "{s:s}", "name", name);
	mw_audit_rec_after(&ar, "{s:s}", "name", new_name);
	rc = bumped(r, mw_store_rm_rename(audited(r, &ar, &sb), name, new_name, mw_now_ms(), a, &m,
					  err));
	mw_audit_rec_release(&ar);
	rc = reg_err(rc, rc == -MW_E_EXISTS ? new_name : name, 0, NULL, err);
	if (!rc)
		rm = rm_json(&m);
	mw_arena_free(a);
	if (rc)
		return rc;
	*resp = json_pack("{s:o}", "registered_model", rm);
	return 0;
}

int mw_registry_rm_update(struct mw_registry *r, const struct mw_call *call, json_t *req,
			  json_t **resp, struct mw_err *err)
{
	const char *name = NULL, *desc = NULL;
	json_t *rm = NULL;
	int rc = get_name(req, "name", &name, err);
	if (!rc)
		rc = get_opt_str(req, "description", MAX_DESCRIPTION, &desc, err);
	if (rc)
		return rc;
	if (!json_object_get(req, "description")) {
		/* nothing to change: answer with the model as it is */
		if ((rc = rm_get_json(r, name, &rm, err)))
			return rc;
	} else {
		struct mw_arena *a = mw_arena_new(8192);
		struct mw_registered_model m;
		struct mw_audit_rec ar;
		struct mw_store_bound sb;
		mw_audit_rec_init(&ar, call, "model.update", "model", name);
		mw_audit_rec_after(&ar, "{s:s}", "description", desc ? desc : "");
		rc = reg_err(mw_store_rm_update(audited(r, &ar, &sb), name, desc ? desc : "",
						mw_now_ms(), a, &m, err),
			     name, 0, NULL, err);
		mw_audit_rec_release(&ar);
		if (!rc)
			rm = rm_json(&m);
		mw_arena_free(a);
		if (rc)
			return rc;
	}
	*resp = json_pack("{s:o}", "registered_model", rm);
	return 0;
}

int mw_registry_rm_delete(struct mw_registry *r, const struct mw_call *call, json_t *req,
			  json_t **resp, struct mw_err *err)
{
	const char *name = NULL;
	int rc = get_name(req, "name", &name, err);
	if (rc)
		return rc;
	struct mw_audit_rec ar;
	struct mw_store_bound sb;
	mw_audit_rec_init(&ar, call, "model.delete", "model", name);
	rc = bumped(r, mw_store_rm_delete(audited(r, &ar, &sb), name, mw_now_ms(), err));
	if ((rc = reg_err(rc, name, 0, NULL, err)))
		return rc;
	*resp = ok_empty();
	return 0;
}

int mw_registry_rm_latest_versions(struct mw_registry *r, const struct mw_call *call, json_t *req,
				   json_t **resp,
				   struct mw_err *err)
{
	const char *name = NULL;
	json_t *list = NULL;
	int rc = get_name(req, "name", &name, err);
	if (!rc)
		rc = mw_req_list(req, "stages", &list, err);
	if (rc)
		return rc;
	size_t n = json_array_size(list);
	const char **st = mw_xcalloc(n ? n : 1, sizeof *st);
	for (size_t i = 0; !rc && i < n; i++) {
		json_t *e = json_array_get(list, i);
		if (!json_is_string(e))
			rc = mw_err_set(err, MW_E_INVALID,
					"Invalid value for parameter 'stages': expected strings.");
		else
			rc = canonical_stage(json_string_value(e), &st[i], err);
	}
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_model_version *mv = NULL;
	size_t nv = 0;
	if (!rc)
		rc = reg_err(mw_store_rm_latest_versions(r->store, name, n ? st : NULL, n, a, &mv,
							 &nv, err),
			     name, 0, NULL, err);
	free(st);
	if (!rc) {
		*resp = json_object();
		set_arr(*resp, "model_versions", mvs_json(mv, nv));
	}
	mw_arena_free(a);
	return rc;
}

int mw_registry_rm_set_tag(struct mw_registry *r, const struct mw_call *call, json_t *req,
			   json_t **resp, struct mw_err *err)
{
	const char *name = NULL, *key = NULL, *value = NULL;
	int rc = get_name(req, "name", &name, err);
	if (!rc)
		rc = mw_req_str(req, "key", true, 0, &key, err);
	if (!rc)
		rc = mw_req_str(req, "value", false, 0, &value, err);
	if (!rc)
		rc = check_tag(key, value, err);
	if (rc)
		return rc;
	struct mw_audit_rec ar;
	struct mw_store_bound sb;
	mw_audit_rec_init(&ar, call, "model.set_tag", "model", name);
	mw_audit_rec_after(&ar, "{s:{s:s}}", "tags", key, value ? value : "");
	rc = mw_store_rm_set_tag(audited(r, &ar, &sb), name, key, value ? value : "", err);
	mw_audit_rec_release(&ar);
	if ((rc = reg_err(rc, name, 0, NULL, err)))
		return rc;
	*resp = ok_empty();
	return 0;
}

int mw_registry_rm_delete_tag(struct mw_registry *r, const struct mw_call *call, json_t *req,
			      json_t **resp,
			      struct mw_err *err)
{
	const char *name = NULL, *key = NULL;
	int rc = get_name(req, "name", &name, err);
	if (!rc)
		rc = mw_req_str(req, "key", true, 0, &key, err);
	if (rc)
		return rc;
	struct mw_audit_rec ar;
	struct mw_store_bound sb;
	mw_audit_rec_init(&ar, call, "model.delete_tag", "model", name);
	mw_audit_rec_before(&ar, "{s:[s]}", "tags", key);
	rc = mw_store_rm_delete_tag(audited(r, &ar, &sb), name, key, err);
	mw_audit_rec_release(&ar);
	if ((rc = reg_err(rc, name, 0, NULL, err)))
		return rc;
	*resp = ok_empty();
	return 0;
}

/* ================================================================ register what serves */

/* The files of a source about to be pinned, for mw_mlmodel_check. */
struct tree_view {
	struct mw_art_file *f;
	size_t n;
};

static int tree_has(void *ctx, const char *rel)
{
	struct tree_view *t = ctx;
	size_t rl = strlen(rel);
	for (size_t i = 0; i < t->n; i++) {
		const char *p = t->f[i].path;
		if (!strcmp(p, rel))
			return MW_MLMODEL_FILE;
		if (!strncmp(p, rel, rl) && p[rl] == '/')
			return MW_MLMODEL_DIR;
	}
	return MW_MLMODEL_NONE;
}

/* A blob's bytes (at most max; *n the size), malloc'd. */
static int read_blob(struct mw_registry *r, const char *digest, size_t max, char **out, size_t *n,
		     struct mw_err *err)
{
	int fd = -1;
	uint64_t size = 0;
	int rc = mw_blob_open_fd(r->blob, digest, &fd, &size, err);
	if (rc)
		return rc;
	if (size > max) {
		close(fd);
		return mw_err_set(err, MW_E_INVALID, "MLmodel is larger than %zu bytes", max);
	}
	char *buf = mw_xmalloc((size_t)size + 1);
	size_t got = 0;
	while (got < size) {
		ssize_t k = read(fd, buf + got, (size_t)size - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			close(fd);
			free(buf);
			return mw_err_set(err, MW_E_IO, "cannot read a blob of the model's files");
		}
		got += (size_t)k;
	}
	close(fd);
	buf[got] = 0;
	*out = buf;
	*n = got;
	return 0;
}

/* The MLmodel of the files under prefix in the artifact manifest (*mlmodel,
 * NULL when there is none).  With check, an MLmodel that could never serve
 * (empty, not YAML, no flavor mw serves, a flavor's file missing) is
 * MW_E_INVALID with the reason. */
static int model_files_mlmodel(struct mw_registry *r, const char *prefix, bool check,
			       json_t **mlmodel, struct mw_err *err)
{
	*mlmodel = NULL;
	struct mw_arena *a = mw_arena_new(8192);
	struct tree_view t = {0};
	int rc = mw_store_art_tree(r->store, prefix, a, &t.f, &t.n, err);
	const char *digest = NULL;
	for (size_t i = 0; !rc && i < t.n; i++)
		if (!strcmp(t.f[i].path, "MLmodel"))
			digest = t.f[i].digest;
	if (rc || !digest) {
		mw_arena_free(a);
		return rc; /* not an MLflow model directory: nothing to check */
	}
	char *text = NULL;
	size_t n = 0;
	json_t *doc = NULL;
	rc = read_blob(r, digest, MW_MLMODEL_MAX_BYTES, &text, &n, err);
	if (!rc)
		rc = mw_mlmodel_parse(text, n, &doc, err);
	if (!rc && check)
		rc = mw_mlmodel_check(doc, tree_has, &t, err);
	free(text);
	mw_arena_free(a);
	if (rc) {
		json_decref(doc);
		return rc;
	}
	*mlmodel = doc;
	return 0;
}

/* Refuse at registration what could never serve (issue 10): the MLmodel is
 * read from the very files about to be pinned. */
static int check_servable(struct mw_registry *r, const char *source, const char *prefix,
			  struct mw_err *err)
{
	json_t *doc = NULL;
	int rc = model_files_mlmodel(r, prefix, true, &doc, err);
	json_decref(doc);
	if (rc == -MW_E_INVALID) {
		char msg[sizeof err->msg + 256];
		snprintf(msg, sizeof msg, "Cannot register '%.200s': %s", source, err->msg);
		rc = mw_err_set(err, MW_E_INVALID, "%s", msg);
	}
	return rc;
}

/* ================================================================ model code is code */

/* Whether the files under prefix run code when served (mw_mlmodel_runs_code
 * on their MLmodel; without one, a file the Python runtime would import or
 * unpickle).  An unreadable MLmodel counts as code. */
static int files_run_code(struct mw_registry *r, const char *prefix, bool *code, struct mw_err *err)
{
	*code = false;
	struct mw_arena *a = mw_arena_new(8192);
	struct tree_view t = {0};
	int rc = mw_store_art_tree(r->store, prefix, a, &t.f, &t.n, err);
	const char *digest = NULL;
	for (size_t i = 0; !rc && i < t.n; i++) {
		if (!strcmp(t.f[i].path, "MLmodel"))
			digest = t.f[i].digest;
		else if (mw_mlmodel_code_file(t.f[i].path))
			*code = true;
	}
	if (!rc && digest) {
		char *text = NULL;
		size_t n = 0;
		json_t *doc = NULL;
		struct mw_err e2 = {0};
		*code = read_blob(r, digest, MW_MLMODEL_MAX_BYTES, &text, &n, &e2) ||
			mw_mlmodel_parse(text, n, &doc, &e2) || mw_mlmodel_runs_code(doc);
		free(text);
		json_decref(doc);
	}
	mw_arena_free(a);
	return rc;
}

/* With authentication (a verified call carries roles), registering or
 * promoting a model whose serving runs its own code needs the editor role:
 * a permission on the model (EDIT) is not enough.  The operator (no roles:
 * no --auth, or mw on the data directory) always may. */
static int need_editor_for_code(struct mw_registry *r, const struct mw_call *call,
				const char *prefix, const char *what, struct mw_err *err)
{
	if (!call || !call->roles || mw_call_has_role(call, "editor") || !prefix)
		return 0;
	bool code = false;
	int rc = files_run_code(r, prefix, &code, err);
	if (!rc && code)
		rc = mw_err_set(err, MW_E_DENIED,
				"%s a model that runs its own code when served (a Python or pickle "
				"model) needs the editor role",
				what);
	return rc;
}

/* The same for version v of name, before an alias or stage moves to it (a
 * version that does not exist passes: the move answers 404). */
static int need_editor_for_version(struct mw_registry *r, const struct mw_call *call,
				   const char *name, int64_t v, const char *what,
				   struct mw_err *err)
{
	if (!call || !call->roles || mw_call_has_role(call, "editor"))
		return 0;
	struct mw_arena *a = mw_arena_new(4096);
	struct mw_model_version mv;
	struct mw_err e2 = {0};
	int rc = 0;
	if (!mw_store_mv_get(r->store, name, v, a, &mv, &e2))
		rc = need_editor_for_code(r, call, mv.files, what, err);
	mw_arena_free(a);
	return rc;
}

/* ================================================================ aliases */

/* The signature of a pinned version's MLmodel (NULL: none, or no MLmodel). */
static json_t *version_signature(struct mw_registry *r, const struct mw_model_version *v)
{
	if (!v->files)
		return NULL;
	json_t *doc = NULL;
	struct mw_err e = {0};
	if (model_files_mlmodel(r, v->files, false, &doc, &e))
		return NULL; /* unreadable now: nothing to compare */
	json_t *sig = mw_mlmodel_signature(doc);
	json_decref(doc);
	return sig;
}

/* Moving an alias must not change the serving contract silently.  When both
 * versions' MLmodels declare a signature, they are compared; when only one
 * does, the move would drop or add a declared contract, which is a change
 * too.  When neither does and this process serves the registry's models
 * (mw_registry_set_shapes) with the current target loaded, the shapes it
 * serves are compared with the new version's, which is loaded now (warming
 * it for the traffic the move sends it); a new version that does not load
 * refuses the move, since the alias is being served.  A current target that
 * is not loaded here is not compared (nothing is loaded only to check).  A
 * refused move can be forced; the difference is shown. */
static int check_contract(struct mw_registry *r, const char *name, const char *alias, int64_t v,
			  struct mw_err *err)
{
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_model_version cur, next;
	struct mw_err e = {0};
	int rc = 0;
	if (mw_store_rm_get_by_alias(r->store, name, alias, a, &cur, &e) || cur.version == v ||
	    mw_store_mv_get(r->store, name, v, a, &next, &e)) {
		mw_arena_free(a); /* a new alias, the same version, or an error the move reports */
		return 0;
	}
	json_t *before = version_signature(r, &cur), *after = version_signature(r, &next);
	const char *what = "what it serves";
	char *diff = NULL;
	if ((before || after) || !r->shapes) {
		diff = mw_mlmodel_signature_diff(before, after);
	} else {
		if (!r->shapes(r->shapes_ud, name, cur.version, false, &before, &e)) {
			if (r->shapes(r->shapes_ud, name, v, true, &after, &e)) {
				char m[sizeof e.msg + 64];
				snprintf(m, sizeof m, "version %lld does not load (%.500s)",
					 (long long)v, e.msg);
				diff = mw_xstrdup(m);
			} else {
				diff = mw_mlmodel_signature_diff(before, after);
				what = "the shapes it serves";
			}
		}
	}
	if (diff)
		rc = mw_err_set(err, MW_E_INVALID,
				"Moving alias '%.100s' of model '%.100s' from version %lld to %lld would "
				"change %s: %.600s. Set force (mw models alias --force) to "
				"move it anyway.",
				alias, name, (long long)cur.version, (long long)v, what, diff);
	free(diff);
	json_decref(before);
	json_decref(after);
	mw_arena_free(a);
	return rc;
}

/* Set or move an alias.  native: with the reason and evidence, and *mv gets
 * the version the alias now points to, read in the same write job as the
 * move (a concurrent move cannot change what this one answers). */
static int alias_set(struct mw_registry *r, const struct mw_call *call, json_t *req, bool native,
		     json_t **mv, struct mw_err *err)
{
	const char *name = NULL, *alias = NULL;
	int64_t v = 0;
	int rc = get_name(req, "name", &name, err);
	if (!rc)
		rc = get_alias(req, &alias, err);
	if (!rc)
		rc = get_version(req, &v, err);
	bool force = false, given = false;
	if (!rc)
		rc = mw_req_bool(req, "force", &force, &given, err);
	if (!rc)
		rc = need_editor_for_version(r, call, name, v, "Moving an alias to", err);
	if (!rc && !force)
		rc = check_contract(r, name, alias, v, err);
	if (rc)
		return rc;
	struct mw_audit au;
	char *evidence = NULL;
	struct mw_audit_rec ar;
	struct mw_store_bound sb;
	mw_audit_rec_init(&ar, call, "alias.set", "model", name);
	mw_audit_rec_after(&ar, "{s:s, s:I}", "alias", alias, "version", (json_int_t)v);
	struct mw_store *st = audited(r, &ar, &sb);
	if (!(rc = get_audit(call, req, native, &au, &evidence, err))) {
		if (!mv) {
			rc = bumped(r, mw_store_rm_set_alias(st, name, alias, v, false, &au, err));
		} else {
			struct mw_arena *a = mw_arena_new(8192);
			struct mw_alias_move m;
			rc = bumped(r, mw_store_rm_move_alias(st, name, alias, v, false, &au, a, &m,
							      err));
			if (!rc)
				*mv = mv_json(&m.version);
			mw_arena_free(a);
		}
		rc = reg_err(rc, name, v, alias, err);
	}
	free(evidence);
	mw_audit_rec_release(&ar);
	return rc;
}

int mw_registry_rm_set_alias(struct mw_registry *r, const struct mw_call *call, json_t *req,
			     json_t **resp,
			     struct mw_err *err)
{
	int rc = alias_set(r, call, req, false, NULL, err);
	if (rc)
		return rc;
	*resp = ok_empty();
	return 0;
}

int mw_registry_alias_set(struct mw_registry *r, const struct mw_call *call, json_t *req,
			  json_t **resp, struct mw_err *err)
{
	json_t *mv = NULL;
	int rc = alias_set(r, call, req, true, &mv, err);
	if (rc)
		return rc;
	*resp = json_pack("{s:o}", "model_version", mv);
	return 0;
}

static int alias_delete(struct mw_registry *r, const struct mw_call *call, json_t *req, bool native,
			struct mw_err *err)
{
	const char *name = NULL, *alias = NULL;
	int rc = get_name(req, "name", &name, err);
	if (!rc)
		rc = get_alias(req, &alias, err);
	if (rc)
		return rc;
	struct mw_audit au;
	char *evidence = NULL;
	struct mw_audit_rec ar;
	struct mw_store_bound sb;
	mw_audit_rec_init(&ar, call, "alias.delete", "model", name);
	mw_audit_rec_after(&ar, "{s:s, s:n}", "alias", alias, "version");
	if (!(rc = get_audit(call, req, native, &au, &evidence, err)))
		rc = reg_err(bumped(r, mw_store_rm_delete_alias(audited(r, &ar, &sb), name, alias,
								&au, err)),
			     name, 0, alias, err);
	mw_audit_rec_release(&ar);
	free(evidence);
	return rc;
}

int mw_registry_rm_delete_alias(struct mw_registry *r, const struct mw_call *call, json_t *req,
				json_t **resp,
				struct mw_err *err)
{
	int rc = alias_delete(r, call, req, false, err);
	if (rc)
		return rc;
	*resp = ok_empty();
	return 0;
}

int mw_registry_alias_delete(struct mw_registry *r, const struct mw_call *call, json_t *req,
			     json_t **resp,
			     struct mw_err *err)
{
	int rc = alias_delete(r, call, req, true, err);
	if (rc)
		return rc;
	*resp = ok_empty();
	return 0;
}

int mw_registry_rm_get_by_alias(struct mw_registry *r, const struct mw_call *call, json_t *req,
				json_t **resp,
				struct mw_err *err)
{
	const char *name = NULL, *alias = NULL;
	json_t *mv = NULL;
	int rc = get_name(req, "name", &name, err);
	if (!rc)
		rc = get_alias(req, &alias, err);
	if (rc || (rc = by_alias_json(r, name, alias, &mv, err)))
		return rc;
	*resp = json_pack("{s:o}", "model_version", mv);
	return 0;
}

static json_t *version_or_null(int64_t v)
{
	return v ? version_str(v) : json_null();
}

/* Roll an alias back in one write job: the store finds the previous version,
 * moves the alias and records the event in the same job, so the answer's
 * from_version and to_version are the event's, however many rollbacks and
 * moves run at once. */
int mw_registry_rollback(struct mw_registry *r, const struct mw_call *call, json_t *req,
			 json_t **resp, struct mw_err *err)
{
	const char *name = NULL, *alias = NULL;
	int rc = get_name(req, "name", &name, err);
	if (!rc)
		rc = get_alias(req, &alias, err);
	/* the version it goes back to is found in the write: with
	 * authentication a rollback needs the editor role (model code is code) */
	if (!rc && call && call->roles && !mw_call_has_role(call, "editor"))
		rc = mw_err_set(err, MW_E_DENIED, "Rolling an alias back needs the editor role");
	if (rc)
		return rc;
	struct mw_audit au;
	char *evidence = NULL;
	if ((rc = get_audit(call, req, true, &au, &evidence, err)))
		return rc;
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_alias_move m;
	struct mw_audit_rec ar;
	struct mw_store_bound sb;
	mw_audit_rec_init(&ar, call, "alias.rollback", "model", name); /* after: the store's */
	rc = bumped(r, mw_store_rm_move_alias(audited(r, &ar, &sb), name, alias, 0, true, &au, a,
					      &m, err));
	free(evidence);
	if ((rc == -MW_E_NOT_FOUND || rc == -MW_E_INVALID) && err->detail == MW_STORE_ALIAS) {
		/* an alias that has nowhere to go back to: why, as the job found it */
		const struct mw_alias_state *st = &m.state;
		if (!st->events)
			rc = mw_err_set(err, MW_E_NOT_FOUND,
					"Alias '%s' of model '%s' has no history: it was never set.",
					alias, name);
		else if (st->current)
			rc = mw_err_set(err, MW_E_INVALID,
					"Alias '%s' of model '%s' has no earlier version to roll back "
					"to: it points to version %lld, and no version it pointed to "
					"before that still exists.",
					alias, name, (long long)st->current);
		else
			rc = mw_err_set(err, MW_E_NOT_FOUND,
					"Alias '%s' of model '%s' is not set, and none of the versions it "
					"pointed to still exists.",
					alias, name);
	} else {
		rc = reg_err(rc, name, 0, alias, err);
	}
	if (!rc) {
		json_t *o = json_object();
		json_object_set_new(o, "alias", json_string(alias));
		json_object_set_new(o, "from_version", version_or_null(m.from_version));
		json_object_set_new(o, "to_version", version_str(m.to_version));
		json_object_set_new(o, "model_version", mv_json(&m.version));
		*resp = o;
	}
	mw_arena_free(a);
	return rc;
}

int mw_registry_history(struct mw_registry *r, const struct mw_call *call, json_t *req,
			json_t **resp, struct mw_err *err)
{
	const char *name = NULL;
	int rc = get_name(req, "name", &name, err);
	if (rc)
		return rc;
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_promotion_event *e = NULL;
	size_t n = 0;
	rc = reg_err(mw_store_rm_history(r->store, name, a, &e, &n, err), name, 0, NULL, err);
	if (!rc) {
		json_t *ev = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(ev, event_json(&e[i]));
		*resp = json_pack("{s:s,s:o}", "name", name, "events", ev);
	}
	mw_arena_free(a);
	return rc;
}

static char *dup_or_null(const char *s);

/* ================================================================ resolving */

void mw_registry_pin_release(struct mw_registry_pin *p)
{
	if (!p)
		return;
	free(p->name);
	free(p->files);
	free(p->run_id);
	free(p->model_id);
	free(p->status);
	free(p->via);
	memset(p, 0, sizeof *p);
}

/* The highest version number of a registered model (0 when none). */
/* The highest version number of a registered model (0 when none). */
static int latest_version(struct mw_registry *r, const char *name, int64_t *out,
			  struct mw_err *err)
{
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_model_version *list = NULL;
	size_t n = 0;
	int rc = reg_err(mw_store_rm_latest_versions(r->store, name, NULL, 0, a, &list, &n, err),
			 name, 0, NULL, err);
	*out = 0;
	for (size_t i = 0; !rc && i < n; i++)
		if (list[i].version > *out)
			*out = list[i].version;
	mw_arena_free(a);
	return rc;
}

/* The latest version in a stage (MLflow's stage names, any case). */
static int in_stage(struct mw_registry *r, const char *name, const char *stage_in,
		    struct mw_arena *a, struct mw_model_version *out, struct mw_err *err)
{
	const char *stage = NULL;
	struct mw_model_version *list = NULL;
	size_t n = 0;
	int rc = canonical_stage(stage_in, &stage, err);
	if (!rc)
		rc = reg_err(mw_store_rm_latest_versions(r->store, name, &stage, 1, a, &list, &n,
							 err),
			     name, 0, NULL, err);
	if (!rc && !n)
		rc = mw_err_set(err, MW_E_NOT_FOUND, "No version of model '%s' is in stage %s.",
				name, stage);
	if (!rc)
		*out = list[0];
	return rc;
}

/* Whether a model's alias was ever set (its promotion history names it):
 * 1 yes, 0 no, or an error.  One indexed query, not the whole history. */
static int had_alias(struct mw_registry *r, const char *name, const char *alias,
		     struct mw_arena *a, struct mw_err *err)
{
	(void)a;
	struct mw_alias_state st;
	struct mw_err e2 = {0};
	int rc = mw_store_rm_alias_state(r->store, name, alias, &st, &e2);
	if (rc == -MW_E_NOT_FOUND)
		return 0; /* no such model: the caller's lookup says so */
	if (rc) {
		*err = e2;
		return rc;
	}
	return st.events > 0;
}

int mw_registry_resolve(struct mw_registry *r, const char *name, const char *ref,
			const char *default_alias, struct mw_registry_pin *out,
			struct mw_err *err)
{
	memset(out, 0, sizeof *out);
	const char *via = NULL;
	int rc = 0;
	int64_t v;
	bool found = false;
	if (!name || !*name)
		return mw_err_set(err, MW_E_INVALID, "a registered model name is required");
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_model_version mv = {0};
	if ((!ref || !*ref) && default_alias && *default_alias) {
		struct mw_err e2 = {0};
		rc = mw_store_rm_get_by_alias(r->store, name, default_alias, a, &mv, &e2);
		if (rc && e2.code != MW_E_NOT_FOUND) {
			*err = e2;
			mw_arena_free(a);
			return rc;
		}
		via = "default-alias";
		found = !rc;
		rc = 0;
		if (!found && (rc = had_alias(r, name, default_alias, a, err)) == 0)
			ref = "latest"; /* never promoted: its latest version */
		if (rc == 1)
			rc = mw_err_set(
				err, MW_E_NOT_FOUND,
				"Registered model '%.100s' has no alias '%.100s' any more (it was "
				"deleted, or went with its version): promote a version to serve "
				"its default (it never falls back to an unpromoted version).",
				name, default_alias);
		if (rc) {
			mw_arena_free(a);
			return rc;
		}
	}
	if (found) {
		/* resolved through the default alias above */
	} else if (!ref || !*ref || mw_str_eq_nocase(ref, "latest")) {
		via = "latest";
		rc = latest_version(r, name, &v, err);
		if (!rc && !v)
			rc = mw_err_set(err, MW_E_NOT_FOUND, "Registered model '%s' has no versions.",
					name);
		if (!rc)
			rc = reg_err(mw_store_mv_get(r->store, name, v, a, &mv, err), name, v, NULL,
				     err);
	} else if (ref[0] == '@') {
		via = "alias";
		rc = check_alias(ref + 1, err);
		if (!rc)
			rc = reg_err(mw_store_rm_get_by_alias(r->store, name, ref + 1, a, &mv, err),
				     name, 0, ref + 1, err);
	} else if (!mw_parse_int64(ref, &v)) {
		via = "version";
		rc = reg_err(mw_store_mv_get(r->store, name, v, a, &mv, err), name, v, NULL, err);
	} else {
		via = "stage";
		rc = in_stage(r, name, ref, a, &mv, err);
	}
	if (!rc) {
		out->name = mw_xstrdup(name);
		out->version = mv.version;
		out->files = dup_or_null(mv.files);
		snprintf(out->manifest_digest, sizeof out->manifest_digest, "%s",
			 mv.manifest_digest ? mv.manifest_digest : "");
		out->run_id = dup_or_null(mv.run_id);
		out->model_id = dup_or_null(mv.model_id);
		out->status = mw_xstrdup(mv.status ? mv.status : "READY");
		out->via = mw_xstrdup(via);
	}
	mw_arena_free(a);
	return rc;
}

int mw_registry_parse_uri(const char *uri, char **name, char **ref, struct mw_err *err)
{
	*name = *ref = NULL;
	const char *p = mw_uri_prefix(uri, "models:/");
	if (!p)
		return mw_err_set(err, MW_E_INVALID, "'%.200s' is not a models:/ URI",
				  uri ? uri : "");
	const char *at = strrchr(p, '@'), *slash = strrchr(p, '/');
	if (at && (!slash || at > slash) && at > p && at[1]) {
		*name = mw_xstrndup(p, (size_t)(at - p));
		*ref = mw_xstrdup(at);
		return 0;
	}
	if (slash && slash > p && slash[1]) {
		*name = mw_xstrndup(p, (size_t)(slash - p));
		*ref = mw_xstrdup(slash + 1);
		return 0;
	}
	return mw_err_set(err, MW_E_INVALID,
			  "'%.200s' is not a registered model version: expected models:/<name>/<version>, "
			  "models:/<name>/<stage>, models:/<name>/latest or models:/<name>@<alias>",
			  uri);
}

/* ================================================================ sources */

struct source {
	char *pin;        /* manifest prefix to pin, or NULL */
	char *run_id;     /* run implied by the source, or NULL */
	char *model_id;   /* logged model implied by the source, or NULL */
	char *staging;    /* "_sources/<hex>" to remove afterwards, or NULL */
};

static void source_release(struct source *s)
{
	free(s->pin);
	free(s->run_id);
	free(s->model_id);
	free(s->staging);
	memset(s, 0, sizeof *s);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int bad_source(const char *src, const char *why, struct mw_err *err)
{
	return mw_err_set(err, MW_E_INVALID, "Invalid model version source '%.300s': %s", src, why);
}

/* An artifact path from a source, with the artifact proxy's rules
 * (mw_art_path_normalize / mw_art_uri_to_path), so that a URI names the same
 * manifest path for the registry as for the proxy. */
static int wrap_path_err(const char *src, int rc, struct mw_err *err)
{
	if (rc) {
		char m[sizeof err->msg];
		snprintf(m, sizeof m, "%s", err->msg);
		return mw_err_set(err, MW_E_INVALID, "Invalid model version source '%.300s': %s",
				  src, m);
	}
	return 0;
}

/* The manifest path of an "mlflow-artifacts:" URI; *out NULL when uri has
 * another scheme (not served by mw). */
static int artifacts_uri_path(const char *src, const char *uri, char **out, struct mw_err *err)
{
	*out = NULL;
	if (!mw_uri_prefix(uri, "mlflow-artifacts:"))
		return 0;
	return wrap_path_err(src, mw_art_uri_to_path(uri, out, err), err);
}

static bool is_run_id(const char *s, size_t n)
{
	if (n == 0 || n > 256)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '-')))
			return false;
	}
	return true;
}

static bool is_model_id(const char *s)
{
	if (strncmp(s, "m-", 2) || strlen(s) != 34)
		return false;
	for (const char *p = s + 2; *p; p++)
		if (hexval(*p) < 0)
			return false;
	return true;
}

static char *join_path(const char *a, const char *b)
{
	if (!*a)
		return mw_xstrdup(b);
	if (!*b)
		return mw_xstrdup(a);
	size_t n = strlen(a) + strlen(b) + 2;
	char *s = mw_xmalloc(n);
	snprintf(s, n, "%s/%s", a, b);
	return s;
}

static char *dup_or_null(const char *s)
{
	return s && *s ? mw_xstrdup(s) : NULL;
}

static int source_runs(struct mw_registry *r, const char *src, struct source *out,
		       struct mw_err *err)
{
	const char *p = mw_uri_prefix(src, "runs:/");
	const char *slash = strchr(p, '/');
	size_t idn = slash ? (size_t)(slash - p) : strlen(p);
	if (!is_run_id(p, idn))
		return bad_source(src, "expected runs:/<run_id>/<path>", err);
	char *run_id = mw_xstrndup(p, idn);
	char *rel = NULL;
	int rc = slash ? wrap_path_err(src, mw_art_path_normalize(slash + 1, true, &rel, err), err)
		       : 0;
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_run run;
	if (!rc)
		rc = mw_track_not_found(mw_store_run_get(r->store, run_id, a, &run, err), run_id,
					err);
	if (!rc) {
		const char *auri = run.info.artifact_uri;
		char *base = NULL;
		if (auri && !(rc = artifacts_uri_path(src, auri, &base, err)) && base)
			out->pin = join_path(base, rel ? rel : "");
		free(base);
		out->run_id = run_id;
		run_id = NULL;
	}
	mw_arena_free(a);
	free(run_id);
	free(rel);
	return rc;
}

static int source_logged_model(struct mw_registry *r, const char *src, const char *model_id,
			       struct source *out, struct mw_err *err)
{
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_logged_model lm;
	int rc =
		mw_track_not_found(mw_store_lm_get(r->store, model_id, a, &lm, err), model_id, err);
	if (rc) {
		mw_arena_free(a);
		return rc;
	}
	const char *auri = lm.artifact_uri;
	char *base = NULL;
	if (auri && !(rc = artifacts_uri_path(src, auri, &base, err)) && base)
		out->pin = base;
	else
		free(base);
	out->model_id = mw_xstrdup(model_id);
	out->run_id = dup_or_null(lm.source_run_id);
	mw_arena_free(a);
	return rc;
}

/* models:/<name>/<version>, models:/<name>/<stage>, models:/<name>@<alias>. */
static int source_model_version(struct mw_registry *r, const char *src, struct source *out,
				struct mw_err *err)
{
	const char *p = mw_uri_prefix(src, "models:/");
	const char *at = strrchr(p, '@'), *slash = strrchr(p, '/');
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_model_version mv = {0};
	int rc;
	if (at && (!slash || at > slash)) {
		char *name = mw_xstrndup(p, (size_t)(at - p));
		rc = !*name || !at[1] ? bad_source(src, "expected models:/<name>@<alias>", err)
				      : check_alias(at + 1, err);
		if (!rc)
			rc = reg_err(mw_store_rm_get_by_alias(r->store, name, at + 1, a, &mv, err),
				     name, 0, at + 1, err);
		free(name);
	} else if (slash && slash > p && slash[1]) {
		char *name = mw_xstrndup(p, (size_t)(slash - p));
		int64_t v;
		const char *stage = NULL;
		if (!mw_parse_int64(slash + 1, &v))
			rc = reg_err(mw_store_mv_get(r->store, name, v, a, &mv, err), name, v, NULL,
				     err);
		else if (canonical_stage(slash + 1, &stage, err))
			rc = bad_source(src, "expected models:/<name>/<version or stage>", err);
		else
			rc = in_stage(r, name, stage, a, &mv, err);
		free(name);
	} else {
		mw_arena_free(a);
		return bad_source(src,
				  "expected models:/<model_id>, models:/<name>/<version> or "
				  "models:/<name>@<alias>",
				  err);
	}
	if (!rc) {
		/* the pinned files of that version (none: the version is not in mw's store) */
		out->pin = dup_or_null(mv.files);
		out->run_id = dup_or_null(mv.run_id);
		out->model_id = dup_or_null(mv.model_id);
	}
	mw_arena_free(a);
	return rc;
}

/* ------------------------------------------------------------ local sources */

struct ingest {
	struct mw_registry *r;
	const char *src;
	const char *staging;
	int files;
	struct mw_err *err;
};

static int ingest_file(struct ingest *g, const char *abs, const char *rel)
{
	if (!mw_utf8_valid(rel, strlen(rel)))
		return bad_source(g->src, "a file name under it is not valid UTF-8", g->err);
	for (const unsigned char *p = (const unsigned char *)rel; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			return mw_err_set(g->err, MW_E_INVALID,
					  "Invalid model version source '%.300s': the file name '%.200s' "
					  "holds a control character or backslash",
					  g->src, rel);
	if (++g->files > MAX_LOCAL_FILES)
		return mw_err_set(g->err, MW_E_INVALID,
				  "Invalid model version source '%.300s': more than %d files",
				  g->src, MAX_LOCAL_FILES);
	char digest[65];
	uint64_t size = 0;
	struct mw_blob_hold *hold = NULL;
	int rc = mw_blob_put_file(g->r->blob, abs, digest, &size, &hold, g->err);
	if (rc)
		return rc;
	char *path = join_path(g->staging, rel);
	rc = mw_store_art_put(g->r->store, path, digest, size, mw_now_ms(), NULL, g->err);
	mw_blob_hold_release(hold); /* referenced now (or failed): gc may decide */
	free(path);
	return rc;
}

static int ingest_dir(struct ingest *g, const char *abs, const char *rel, int depth)
{
	if (depth > MAX_LOCAL_DEPTH)
		return bad_source(g->src, "directories nest too deep", g->err);
	DIR *d = opendir(abs);
	if (!d)
		return mw_err_set(g->err, MW_E_INVALID,
				  "Invalid model version source '%.300s': cannot read directory "
				  "'%.300s': %s",
				  g->src, abs, strerror(errno));
	/* read every name first, sorted, so ingestion order is stable */
	json_t *names = json_array();
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			json_array_append_new(names, json_string_nocheck(e->d_name));
	int dfd = dirfd(d);
	int rc = 0;
	size_t n = json_array_size(names);
	const char **sorted = mw_xcalloc(n ? n : 1, sizeof *sorted);
	for (size_t i = 0; i < n; i++)
		sorted[i] = json_string_value(json_array_get(names, i));
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(sorted[j - 1], sorted[j]) > 0; j--) {
			const char *t = sorted[j];
			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}
	for (size_t i = 0; !rc && i < n; i++) {
		const char *nm = sorted[i];
		struct stat st;
		char *cabs = join_path(abs, nm), *crel = join_path(rel, nm);
		if (fstatat(dfd, nm, &st, AT_SYMLINK_NOFOLLOW)) {
			rc = mw_err_set(g->err, MW_E_INVALID,
					"Invalid model version source '%.300s': cannot stat '%.300s': %s",
					g->src, cabs, strerror(errno));
		} else if (S_ISLNK(st.st_mode)) {
			rc = mw_err_set(g->err, MW_E_INVALID,
					"Invalid model version source '%.300s': '%.300s' is a symbolic "
					"link; links are not followed (copy the files instead)",
					g->src, crel);
		} else if (S_ISDIR(st.st_mode)) {
			rc = ingest_dir(g, cabs, crel, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			rc = ingest_file(g, cabs, crel);
		} else {
			rc = mw_err_set(g->err, MW_E_INVALID,
					"Invalid model version source '%.300s': '%.300s' is not a "
					"regular file or directory",
					g->src, crel);
		}
		free(cabs);
		free(crel);
	}
	free(sorted);
	json_decref(names);
	closedir(d);
	return rc;
}

static int source_local(struct mw_registry *r, const char *src, const char *path,
			struct source *out, struct mw_err *err)
{
	if (!r->local_sources)
		return mw_err_set(err, MW_E_INVALID,
				  "Invalid model version source '%.300s': local paths are not "
				  "accepted by the server (it does not read its own filesystem for "
				  "clients). Upload the files with PUT "
				  "/api/2.0/mlflow-artifacts/artifacts/<path> and register "
				  "mlflow-artifacts:/<path>, or register from the machine that holds "
				  "the files with `mw models register --data-dir`.",
				  src);
	if (!*path)
		return bad_source(src, "empty path", err);
	/* no ".." anywhere, even where the OS would resolve it */
	for (const char *seg = path; seg;) {
		const char *e = strchr(seg, '/');
		size_t sl = e ? (size_t)(e - seg) : strlen(seg);
		if (sl == 2 && seg[0] == '.' && seg[1] == '.')
			return bad_source(src, "'..' path segments are not allowed", err);
		seg = e ? e + 1 : NULL;
	}
	if (strchr(path, '\\'))
		return bad_source(src, "backslashes are not allowed", err);
	struct stat st;
	if (lstat(path, &st))
		return mw_err_set(err, MW_E_INVALID,
				  "Invalid model version source '%.300s': %s", src, strerror(errno));
	if (S_ISLNK(st.st_mode))
		return bad_source(src, "it is a symbolic link; links are not followed", err);
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return bad_source(src, "not a regular file or directory", err);
	char hex[33];
	int rc = mw_id_hex32(hex, err);
	if (rc)
		return rc;
	char staging[64];
	snprintf(staging, sizeof staging, "_sources/%s", hex);
	out->staging = mw_xstrdup(staging);
	struct ingest g = {r, src, staging, 0, err};
	if (S_ISDIR(st.st_mode)) {
		rc = ingest_dir(&g, path, "", 0);
	} else {
		const char *base = strrchr(path, '/');
		rc = ingest_file(&g, path, base ? base + 1 : path);
	}
	if (!rc)
		out->pin = mw_xstrdup(staging);
	return rc;
}

/* True for "<scheme>:" with an RFC 3986 scheme of two or more characters. */
static bool has_scheme(const char *s)
{
	const char *p = s;
	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return false;
	for (p++; *p && *p != ':' && *p != '/'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '+' || *p == '.' || *p == '-'))
			return false;
	return *p == ':' && p - s >= 2;
}

static int resolve_source(struct mw_registry *r, const char *src, struct source *out,
			  struct mw_err *err)
{
	memset(out, 0, sizeof *out);
	const char *rest, *p;
	/* schemes compare without case (RFC 3986): FILE:///etc is a file URI too */
	if (mw_uri_prefix(src, "runs:/"))
		return source_runs(r, src, out, err);
	if ((rest = mw_uri_prefix(src, "models:/"))) {
		if (is_model_id(rest))
			return source_logged_model(r, src, rest, out, err);
		return source_model_version(r, src, out, err);
	}
	if (mw_uri_prefix(src, "mlflow-artifacts:")) {
		int rc = artifacts_uri_path(src, src, &out->pin, err);
		if (!rc && !*out->pin)
			rc = bad_source(src, "it names the whole artifact store", err);
		return rc;
	}
	if (mw_uri_prefix(src, "http://") || mw_uri_prefix(src, "https://")) {
		if (!strstr(src, "/mlflow-artifacts/artifacts"))
			return 0; /* another web location: recorded, not pinned */
		int rc = wrap_path_err(src, mw_art_uri_to_path(src, &out->pin, err), err);
		if (!rc && !*out->pin)
			rc = bad_source(src, "it names the whole artifact store", err);
		return rc;
	}
	if ((p = mw_uri_prefix(src, "file:"))) {
		if (!strncmp(p, "//", 2)) {
			p += 2;
			if (!strncasecmp(p, "localhost/", 10)) /* host names have no case either */
				p += 9;
			else if (*p != '/')
				return bad_source(src, "file URIs must name a local path", err);
		}
		/* percent-decode, keeping the path absolute */
		size_t n = strlen(p);
		char *d = mw_xmalloc(n + 1);
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			if (p[i] == '%') {
				int a = i + 1 < n ? hexval(p[i + 1]) : -1;
				int b = i + 2 < n ? hexval(p[i + 2]) : -1;
				if (a < 0 || b < 0 || (a == 0 && b == 0)) {
					free(d);
					return bad_source(src, "bad percent-escape in the path", err);
				}
				d[k++] = (char)(a * 16 + b);
				i += 2;
			} else {
				d[k++] = p[i];
			}
		}
		d[k] = 0;
		int rc = source_local(r, src, d, out, err);
		free(d);
		return rc;
	}
	if (has_scheme(src))
		return 0; /* s3://, gs://, dbfs:/ ...: recorded verbatim, not pinned */
	if (strchr(src, '%')) {
		/* a plain path is taken literally; refuse what looks like an escape */
		for (const char *q = strchr(src, '%'); q; q = strchr(q + 1, '%'))
			if (hexval(q[1]) >= 0 && q[1] && hexval(q[2]) >= 0)
				return bad_source(src, "percent-escapes are only decoded in file:// URIs",
						  err);
	}
	return source_local(r, src, src, out, err);
}

/* ================================================================ model versions */

int mw_registry_mv_create(struct mw_registry *r, const struct mw_call *call, json_t *req,
			  json_t **resp, struct mw_err *err)
{
	const char *name = NULL, *source = NULL, *run_id = NULL, *run_link = NULL, *desc = NULL,
		   *model_id = NULL;
	struct mw_kv *tags = NULL;
	size_t nt = 0;
	int rc = get_name(req, "name", &name, err);
	if (!rc)
		rc = mw_req_str(req, "source", false, 0, &source, err);
	if (!rc && source && !*source)
		source = NULL; /* MLflow 1.x: a version without a source (no files) */
	if (!rc && source && mw_utf8_chars(source) > MAX_SOURCE)
		rc = mw_err_set(err, MW_E_INVALID, "Source is over the limit of %d characters.",
				MAX_SOURCE);
	if (!rc)
		rc = get_opt_str(req, "run_id", 256, &run_id, err);
	if (!rc)
		rc = get_opt_str(req, "run_link", MAX_RUN_LINK, &run_link, err);
	if (!rc)
		rc = get_opt_str(req, "description", MAX_DESCRIPTION, &desc, err);
	if (!rc)
		rc = get_opt_str(req, "model_id", 64, &model_id, err);
	if (!rc)
		rc = get_tags(req, &tags, &nt, err);
	if (rc)
		return rc;
	if (run_id && !*run_id)
		run_id = NULL;
	if (model_id && !*model_id)
		model_id = NULL;
	if (run_id && !is_run_id(run_id, strlen(run_id))) {
		free(tags);
		return mw_err_set(err, MW_E_INVALID, "Invalid run ID: '%.300s'", run_id);
	}
	if (model_id) {
		/* MLflow 3 names the logged model; it must exist */
		struct mw_arena *a = mw_arena_new(8192);
		struct mw_logged_model lm;
		rc = mw_track_not_found(mw_store_lm_get(r->store, model_id, a, &lm, err), model_id,
					err);
		mw_arena_free(a);
		if (rc) {
			free(tags);
			return rc;
		}
	}
	/* the model must exist before any file is ingested */
	json_t *rm = NULL;
	if ((rc = rm_get_json(r, name, &rm, err))) {
		free(tags);
		return rc;
	}
	json_decref(rm);
	struct source s = {0};
	rc = source ? resolve_source(r, source, &s, err) : 0;
	if (!rc && run_id && s.run_id && strcmp(run_id, s.run_id))
		rc = mw_err_set(err, MW_E_INVALID,
				"run_id '%.100s' does not match the run of source '%.300s' (%s).",
				run_id, source, s.run_id);
	const char *mrest = source ? mw_uri_prefix(source, "models:/") : NULL;
	if (!rc && model_id && s.model_id && strcmp(model_id, s.model_id) && mrest &&
	    !strncmp(mrest, "m-", 2))
		rc = mw_err_set(err, MW_E_INVALID,
				"model_id '%.100s' does not match the logged model of source '%.300s'.",
				model_id, source);
	if (!rc && s.pin)
		rc = need_editor_for_code(r, call, s.pin, "Registering", err);
	if (!rc && s.pin && r->check_models)
		rc = check_servable(r, source, s.pin, err);
	json_t *mv = NULL;
	if (!rc) {
		struct mw_mv_create c = {
			.name = name,
			.source = source,
			.run_id = run_id ? run_id : s.run_id,
			.run_link = run_link,
			.description = desc,
			.logged_model_id = model_id ? model_id : s.model_id,
			.user_id = owner_of(call),
			.tags = tags,
			.ntags = nt,
			.stage = "None",
			.status = "READY",
			.pin_prefix = s.pin,
			.pin_root = PIN_ROOT,
			/* mw's note on the version (the native API shows it;
			 * MLflow's shape never does: MLflow leaves status_message
			 * empty on every version it creates) */
			.status_message =
				!source ? "registered without a source (an MLflow 1.x "
					  "client may do so): the version has no files"
				: s.pin ? NULL
					: "the source is outside mw's artifact store: its "
					  "files were not pinned, and the version resolves to "
					  "the source itself",
			.status_message_no_files = "no artifacts were found at the source when the "
						   "version was created",
			.now_ms = mw_now_ms(),
		};
		struct mw_arena *a = mw_arena_new(8192);
		struct mw_model_version rec;
		struct mw_audit_rec ar;
		struct mw_store_bound sb;
		mw_audit_rec_init(&ar, call, "version.create", "version", NULL); /* "name/v" */
		mw_audit_rec_after(&ar, "{s:s, s:s*, s:s*, s:I}", "model", name, "source", source,
				   "run_id", c.run_id, "tags", (json_int_t)nt);
		rc = reg_err(bumped(r, mw_store_mv_create(audited(r, &ar, &sb), &c, a, &rec, err)),
			     name, 0, NULL, err);
		mw_audit_rec_release(&ar);
		if (!rc)
			mv = mv_json(&rec);
		mw_arena_free(a);
	}
	if (s.staging) {
		struct mw_err e2;
		int removed = 0;
		mw_store_art_delete(r->store, s.staging, mw_now_ms(), &removed, &e2);
	}
	source_release(&s);
	free(tags);
	if (rc)
		return rc;
	*resp = json_pack("{s:o}", "model_version", mv);
	return 0;
}

static int get_name_version(json_t *req, const char **name, int64_t *v, struct mw_err *err)
{
	int rc = get_name(req, "name", name, err);
	return rc ? rc : get_version(req, v, err);
}

int mw_registry_mv_get(struct mw_registry *r, const struct mw_call *call, json_t *req,
		       json_t **resp, struct mw_err *err)
{
	const char *name = NULL;
	int64_t v;
	json_t *mv = NULL;
	int rc = get_name_version(req, &name, &v, err);
	if (rc || (rc = mv_get_json(r, name, v, &mv, err)))
		return rc;
	*resp = json_pack("{s:o}", "model_version", mv);
	return 0;
}

int mw_registry_mv_update(struct mw_registry *r, const struct mw_call *call, json_t *req,
			  json_t **resp, struct mw_err *err)
{
	const char *name = NULL, *desc = NULL;
	int64_t v;
	json_t *mv = NULL;
	int rc = get_name_version(req, &name, &v, err);
	if (!rc)
		rc = get_opt_str(req, "description", MAX_DESCRIPTION, &desc, err);
	if (rc)
		return rc;
	if (!json_object_get(req, "description")) {
		rc = mv_get_json(r, name, v, &mv, err);
	} else {
		struct mw_arena *a = mw_arena_new(8192);
		struct mw_model_version rec;
		struct mw_audit_rec ar;
		struct mw_store_bound sb;
		char *rid = version_id(name, v);
		mw_audit_rec_init(&ar, call, "version.update", "version", rid);
		mw_audit_rec_after(&ar, "{s:s}", "description", desc ? desc : "");
		rc = reg_err(mw_store_mv_update(audited(r, &ar, &sb), name, v, desc ? desc : "",
						mw_now_ms(), a, &rec, err),
			     name, v, NULL, err);
		mw_audit_rec_release(&ar);
		free(rid);
		if (!rc)
			mv = mv_json(&rec);
		mw_arena_free(a);
	}
	if (rc)
		return rc;
	*resp = json_pack("{s:o}", "model_version", mv);
	return 0;
}

int mw_registry_mv_delete(struct mw_registry *r, const struct mw_call *call, json_t *req,
			  json_t **resp, struct mw_err *err)
{
	const char *name = NULL;
	int64_t v;
	int rc = get_name_version(req, &name, &v, err);
	if (rc)
		return rc;
	struct mw_audit au;
	char *evidence = NULL;
	char reason[96];
	snprintf(reason, sizeof reason, "version %lld was deleted", (long long)v);
	struct mw_audit_rec ar;
	struct mw_store_bound sb;
	char *rid = version_id(name, v);
	mw_audit_rec_init(&ar, call, "version.delete", "version", rid);
	if (!(rc = get_audit(call, req, false, &au, &evidence, err)))
		rc = reg_err(bumped(r, mw_store_mv_delete(audited(r, &ar, &sb), name, v, &au,
							  reason, err)),
			     name, v, NULL, err);
	mw_audit_rec_release(&ar);
	free(rid);
	free(evidence);
	if (rc)
		return rc;
	*resp = ok_empty();
	return 0;
}

static int transition(struct mw_registry *r, const struct mw_call *call, json_t *req, json_t **resp,
		      bool native,
		      struct mw_err *err)
{
	const char *name = NULL, *stage_in = NULL, *stage = NULL;
	int64_t v;
	bool archive = false, present = false;
	int rc = get_name_version(req, &name, &v, err);
	if (!rc)
		rc = mw_req_str(req, "stage", true, 0, &stage_in, err);
	if (!rc)
		rc = canonical_stage(stage_in, &stage, err);
	if (!rc)
		rc = mw_req_bool(req, "archive_existing_versions", &archive, &present, err);
	if (!rc && !present && !native)
		rc = mw_err_set(err, MW_E_INVALID,
				"Missing value for required parameter 'archive_existing_versions'.");
	if (!rc && archive && strcmp(stage, "Staging") && strcmp(stage, "Production"))
		rc = mw_err_set(err, MW_E_INVALID,
				"Model version transition cannot archive existing model versions "
				"because '%s' is not an Active stage. Valid stages are Staging, "
				"Production.",
				stage);
	if (!rc && (!strcmp(stage, "Staging") || !strcmp(stage, "Production")))
		rc = need_editor_for_version(r, call, name, v, "Moving a stage to", err);
	if (rc)
		return rc;
	struct mw_audit au;
	char *evidence = NULL;
	json_t *mv = NULL;
	/* archive_existing_versions: the others in an active stage go to Archived */
	bool archives = archive && (!strcmp(stage, "Staging") || !strcmp(stage, "Production"));
	char reason[128];
	snprintf(reason, sizeof reason, "archive_existing_versions: version %lld moved to %s",
		 (long long)v, stage);
	if (!(rc = get_audit(call, req, native, &au, &evidence, err))) {
		struct mw_arena *a = mw_arena_new(8192);
		struct mw_model_version rec;
		struct mw_audit_rec ar;
		struct mw_store_bound sb;
		char *rid = version_id(name, v);
		mw_audit_rec_init(&ar, call, "version.stage", "version", rid);
		mw_audit_rec_after(&ar, "{s:s, s:b}", "stage", stage, "archive_existing_versions",
				   archives);
		rc = reg_err(bumped(r, mw_store_mv_transition(audited(r, &ar, &sb), name, v, stage,
							      archives ? "Archived" : NULL, reason,
							      &au, a, &rec, err)),
			     name, v, NULL, err);
		mw_audit_rec_release(&ar);
		free(rid);
		if (!rc)
			mv = mv_json(&rec);
		mw_arena_free(a);
	}
	free(evidence);
	if (rc)
		return rc;
	*resp = json_pack("{s:o}", "model_version", mv);
	return 0;
}

int mw_registry_mv_transition(struct mw_registry *r, const struct mw_call *call, json_t *req,
			      json_t **resp,
			      struct mw_err *err)
{
	return transition(r, call, req, resp, false, err);
}

int mw_registry_stage(struct mw_registry *r, const struct mw_call *call, json_t *req, json_t **resp,
		      struct mw_err *err)
{
	return transition(r, call, req, resp, true, err);
}

int mw_registry_mv_download_uri(struct mw_registry *r, const struct mw_call *call, json_t *req,
				json_t **resp,
				struct mw_err *err)
{
	const char *name = NULL;
	int64_t v;
	json_t *mv = NULL;
	int rc = get_name_version(req, &name, &v, err);
	if (rc || (rc = mv_get_json(r, name, v, &mv, err)))
		return rc;
	const char *loc = json_string_value(json_object_get(mv, "storage_location"));
	if (!loc)
		loc = json_string_value(json_object_get(mv, "source"));
	*resp = json_pack("{s:s}", "artifact_uri", loc ? loc : "");
	json_decref(mv);
	return 0;
}

int mw_registry_mv_set_tag(struct mw_registry *r, const struct mw_call *call, json_t *req,
			   json_t **resp, struct mw_err *err)
{
	const char *name = NULL, *key = NULL, *value = NULL;
	int64_t v;
	int rc = get_name_version(req, &name, &v, err);
	if (!rc)
		rc = mw_req_str(req, "key", true, 0, &key, err);
	if (!rc)
		rc = mw_req_str(req, "value", false, 0, &value, err);
	if (!rc)
		rc = check_tag(key, value, err);
	if (rc)
		return rc;
	struct mw_audit_rec ar;
	struct mw_store_bound sb;
	char *rid = version_id(name, v);
	mw_audit_rec_init(&ar, call, "version.set_tag", "version", rid);
	mw_audit_rec_after(&ar, "{s:{s:s}}", "tags", key, value ? value : "");
	rc = mw_store_mv_set_tag(audited(r, &ar, &sb), name, v, key, value ? value : "", err);
	mw_audit_rec_release(&ar);
	free(rid);
	if ((rc = reg_err(rc, name, v, NULL, err)))
		return rc;
	*resp = ok_empty();
	return 0;
}

int mw_registry_mv_delete_tag(struct mw_registry *r, const struct mw_call *call, json_t *req,
			      json_t **resp,
			      struct mw_err *err)
{
	const char *name = NULL, *key = NULL;
	int64_t v;
	int rc = get_name_version(req, &name, &v, err);
	if (!rc)
		rc = mw_req_str(req, "key", true, 0, &key, err);
	if (rc)
		return rc;
	struct mw_audit_rec ar;
	struct mw_store_bound sb;
	char *rid = version_id(name, v);
	mw_audit_rec_init(&ar, call, "version.delete_tag", "version", rid);
	mw_audit_rec_before(&ar, "{s:[s]}", "tags", key);
	rc = mw_store_mv_delete_tag(audited(r, &ar, &sb), name, v, key, err);
	mw_audit_rec_release(&ar);
	free(rid);
	if ((rc = reg_err(rc, name, v, NULL, err)))
		return rc;
	*resp = ok_empty();
	return 0;
}

/* ================================================================ lineage */

static const char *tag_value(json_t *tags, const char *key)
{
	for (size_t i = 0; i < json_array_size(tags); i++) {
		json_t *t = json_array_get(tags, i);
		const char *k = json_string_value(json_object_get(t, "key"));
		if (k && !strcmp(k, key))
			return json_string_value(json_object_get(t, "value"));
	}
	return NULL;
}

static void set_opt(json_t *o, const char *k, const char *v, bool null_when_missing)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
	else if (null_when_missing)
		json_object_set_new(o, k, json_null());
}

int mw_registry_lineage(struct mw_registry *r, const struct mw_call *call, json_t *req,
			json_t **resp, struct mw_err *err)
{
	const char *name = NULL;
	int64_t v;
	int rc = get_name_version(req, &name, &v, err);
	if (rc)
		return rc;
	struct mw_arena *va = mw_arena_new(8192);
	struct mw_model_version rec;
	if ((rc = reg_err(mw_store_mv_get(r->store, name, v, va, &rec, err), name, v, NULL, err))) {
		mw_arena_free(va);
		return rc;
	}
	json_t *mv = mv_json(&rec);
	json_t *out = json_object();
	json_object_set_new(out, "model_version", mv);
	if (rec.status_message) /* mw's note on how the version was registered */
		json_object_set_new(out, "registration_note", json_string(rec.status_message));

	/* the run, its code and its datasets */
	const char *run_id = json_string_value(json_object_get(mv, "run_id"));
	json_t *run = NULL;
	struct mw_arena *a = mw_arena_new(8192);
	if (run_id) {
		struct mw_err e2 = {0};
		struct mw_run rr;
		int rrc = mw_store_run_get(r->store, run_id, a, &rr, &e2);
		if (rrc && e2.code != MW_E_NOT_FOUND) {
			*err = e2;
			json_decref(out);
			mw_arena_free(a);
			mw_arena_free(va);
			return rrc;
		}
		if (!rrc)
			run = mw_track_run_json(&rr);
	}
	if (run) {
		json_t *data = json_object_get(run, "data");
		json_t *tags = json_object_get(data, "tags");
		json_t *jr = json_object();
		json_object_set(jr, "info", json_object_get(run, "info"));
		json_t *params = json_object_get(data, "params");
		json_t *metrics = json_object_get(data, "metrics");
		json_object_set_new(jr, "params", params ? json_incref(params) : json_array());
		json_object_set_new(jr, "metrics", metrics ? json_incref(metrics) : json_array());
		json_object_set_new(jr, "tags", tags ? json_incref(tags) : json_array());
		json_object_set_new(out, "run", jr);
		json_t *code = json_object();
		set_opt(code, "git_commit", tag_value(tags, "mlflow.source.git.commit"), true);
		set_opt(code, "source_name", tag_value(tags, "mlflow.source.name"), true);
		set_opt(code, "source_type", tag_value(tags, "mlflow.source.type"), true);
		set_opt(code, "git_repo_url", tag_value(tags, "mlflow.source.git.repoURL"), false);
		set_opt(code, "git_branch", tag_value(tags, "mlflow.source.git.branch"), false);
		json_object_set_new(out, "code", code);
		json_t *dins = json_object_get(json_object_get(run, "inputs"), "dataset_inputs");
		json_object_set_new(out, "datasets", dins ? json_incref(dins) : json_array());
		json_decref(run);
	} else {
		json_object_set_new(out, "run", json_null());
		json_object_set_new(out, "code", json_null());
		json_object_set_new(out, "datasets", json_array());
	}

	/* the logged model (MLflow 3) */
	const char *model_id = json_string_value(json_object_get(mv, "model_id"));
	json_t *lm = NULL;
	if (model_id) {
		struct mw_err e2 = {0};
		struct mw_logged_model lmr;
		int lrc = mw_store_lm_get(r->store, model_id, a, &lmr, &e2);
		if (lrc && e2.code != MW_E_NOT_FOUND) {
			*err = e2;
			json_decref(out);
			mw_arena_free(a);
			mw_arena_free(va);
			return lrc;
		}
		if (!lrc)
			lm = mw_track_logged_model_json(&lmr);
	}
	mw_arena_free(a);
	json_object_set_new(out, "logged_model", lm ? lm : json_null());

	/* the pinned files */
	json_t *files = NULL;
	if (rec.files) {
		struct mw_art_file *f = NULL;
		size_t nf = 0;
		if ((rc = mw_store_art_tree(r->store, rec.files, va, &f, &nf, err))) {
			json_decref(out);
			mw_arena_free(va);
			return rc;
		}
		files = mw_art_files_json(f, nf);
	}
	mw_arena_free(va);
	json_object_set_new(out, "artifacts", files ? files : json_array());
	json_t *md = json_object_get(mv, "manifest_digest");
	json_object_set_new(out, "manifest_digest", md ? json_incref(md) : json_null());
	*resp = out;
	return 0;
}

/* ================================================================ model cards */

static const char *const card_text_fields[] = {
	"intended_use",    "training_data", "evaluation_data", "failure_modes",
	"latency_profile", "cost_profile",  "owner",	   "markdown",
};

static int check_card(json_t *card, struct mw_err *err)
{
	if (!json_is_object(card))
		return mw_err_set(err, MW_E_INVALID, "A model card must be a JSON object.");
	const char *k;
	json_t *val;
	json_object_foreach(card, k, val) {
		if (json_is_null(val))
			continue;
		if (!strcmp(k, "slice_metrics")) {
			if (!json_is_object(val) && !json_is_array(val))
				return mw_err_set(err, MW_E_INVALID,
						  "Model card field 'slice_metrics' must be an object or "
						  "an array.");
			continue;
		}
		bool known = false;
		for (size_t i = 0; i < sizeof card_text_fields / sizeof *card_text_fields; i++)
			if (!strcmp(k, card_text_fields[i]))
				known = true;
		if (!known)
			return mw_err_set(err, MW_E_INVALID,
					  "Unknown model card field '%.64s'. Fields: intended_use, "
					  "training_data, evaluation_data, slice_metrics, failure_modes, "
					  "latency_profile, cost_profile, owner, markdown.",
					  k);
		if (!json_is_string(val))
			return mw_err_set(err, MW_E_INVALID,
					  "Model card field '%s' must be a string.", k);
	}
	return 0;
}

/* The stored card of a version as {card, updated, updated_by?, name, version}. */
static int card_reply(struct mw_registry *r, const char *name, int64_t v, json_t **out,
		      struct mw_err *err)
{
	struct mw_arena *a = mw_arena_new(8192);
	struct mw_model_card c;
	int rc = reg_err(mw_store_mv_get_card(r->store, name, v, a, &c, err), name, v, NULL, err);
	json_t *card = NULL;
	if (!rc) {
		json_error_t je;
		card = json_loads(c.card, 0, &je);
		if (!json_is_object(card))
			rc = mw_err_set(err, MW_E_INTERNAL,
					"the stored model card of %s version %lld is not a JSON object",
					name, (long long)v);
	}
	if (!rc) {
		json_t *o = json_object();
		json_object_set_new(o, "card", card);
		json_object_set_new(o, "updated", json_integer(c.updated));
		set_str(o, "updated_by", c.updated_by);
		json_object_set_new(o, "name", json_string(name));
		json_object_set_new(o, "version", version_str(v));
		*out = o;
	} else {
		json_decref(card);
	}
	mw_arena_free(a);
	return rc;
}

int mw_registry_card_get(struct mw_registry *r, const struct mw_call *call, json_t *req,
			 json_t **resp, struct mw_err *err)
{
	const char *name = NULL;
	int64_t v;
	int rc = get_name_version(req, &name, &v, err);
	return rc ? rc : card_reply(r, name, v, resp, err);
}

int mw_registry_card_put(struct mw_registry *r, const struct mw_call *call, json_t *req,
			 json_t **resp, struct mw_err *err)
{
	const char *name = NULL;
	int64_t v;
	int rc = get_name_version(req, &name, &v, err);
	if (rc)
		return rc;
	json_t *card = json_object_get(req, "card");
	if (!card)
		return mw_err_set(err, MW_E_INVALID, "Missing value for required parameter 'card'.");
	if ((rc = check_card(card, err)))
		return rc;
	/* drop nulls: a card holds only the fields it has */
	json_t *clean = json_object();
	const char *k;
	json_t *val;
	json_object_foreach(card, k, val)
		if (!json_is_null(val))
			json_object_set(clean, k, val);
	char *text = json_dumps(clean, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
	json_decref(clean);
	if (!text)
		return mw_err_set(err, MW_E_INVALID, "The model card cannot be encoded as JSON.");
	if (strlen(text) > MAX_CARD) {
		size_t n = strlen(text);
		free(text);
		return mw_err_set(err, MW_E_INVALID,
				  "The model card is %zu bytes, over the limit of %u bytes: link to "
				  "large reports instead of embedding them.",
				  n, MAX_CARD);
	}
	struct mw_audit_rec ar;
	struct mw_store_bound sb;
	char *rid = version_id(name, v);
	mw_audit_rec_init(&ar, call, "version.set_card", "version", rid);
	mw_audit_rec_after(&ar, "{s:I}", "card_bytes", (json_int_t)strlen(text));
	rc = reg_err(mw_store_mv_set_card(audited(r, &ar, &sb), name, v, text, user_of(call),
					  mw_now_ms(), err),
		     name, v, NULL, err);
	mw_audit_rec_release(&ar);
	free(rid);
	free(text);
	return rc ? rc : card_reply(r, name, v, resp, err);
}
