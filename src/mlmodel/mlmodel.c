/*
 * mlmodel.c - MLflow MLmodel files: YAML to JSON, the serveability check,
 * signatures (see mlmodel.h).
 *
 * The YAML tree is built from libyaml's events by one recursive function
 * bounded by MAX_DEPTH; every event is deleted on every path.  Signatures
 * are stored by MLflow as JSON text inside the YAML (inputs: '[{"name": ...,
 * "type": ...}]'), so they are decoded with jansson (its own nesting limit;
 * the text is inside the 1 MiB MLmodel).
 */
#include "mlmodel/mlmodel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define MAX_DEPTH 64

/* ------------------------------------------------------------ YAML */

static int next(yaml_parser_t *p, yaml_event_t *ev, struct mw_err *err)
{
	if (!yaml_parser_parse(p, ev))
		return mw_err_set(err, MW_E_INVALID, "MLmodel is not valid YAML: %.200s (line %zu)",
				  p->problem ? p->problem : "?", p->problem_mark.line + 1);
	return 0;
}

static int build(yaml_parser_t *p, yaml_event_t *ev, json_t **out, int depth, struct mw_err *err);

static int build_seq(yaml_parser_t *p, json_t **out, int depth, struct mw_err *err)
{
	json_t *a = json_array();
	int rc = 0;
	for (;;) {
		yaml_event_t e;
		if ((rc = next(p, &e, err)))
			break;
		if (e.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&e);
			break;
		}
		json_t *v = NULL;
		rc = build(p, &e, &v, depth + 1, err);
		yaml_event_delete(&e);
		if (rc)
			break;
		json_array_append_new(a, v);
	}
	if (rc)
		json_decref(a);
	else
		*out = a;
	return rc;
}

static int build_map(yaml_parser_t *p, json_t **out, int depth, struct mw_err *err)
{
	json_t *o = json_object();
	int rc = 0;
	for (;;) {
		yaml_event_t k;
		if ((rc = next(p, &k, err)))
			break;
		if (k.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&k);
			break;
		}
		if (k.type != YAML_SCALAR_EVENT) {
			yaml_event_delete(&k);
			rc = mw_err_set(err, MW_E_INVALID,
					"MLmodel has a mapping key that is not text");
			break;
		}
		char *key = mw_xstrndup((const char *)k.data.scalar.value, k.data.scalar.length);
		yaml_event_delete(&k);
		yaml_event_t v;
		if ((rc = next(p, &v, err))) {
			free(key);
			break;
		}
		json_t *val = NULL;
		rc = build(p, &v, &val, depth + 1, err);
		yaml_event_delete(&v);
		if (!rc && json_object_set_new(o, key, val))
			rc = mw_err_set(err, MW_E_INVALID, "MLmodel has a key that is not UTF-8");
		free(key);
		if (rc)
			break;
	}
	if (rc)
		json_decref(o);
	else
		*out = o;
	return rc;
}

static int build(yaml_parser_t *p, yaml_event_t *ev, json_t **out, int depth, struct mw_err *err)
{
	if (depth > MAX_DEPTH)
		return mw_err_set(err, MW_E_INVALID, "MLmodel nests deeper than %d levels",
				  MAX_DEPTH);
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		*out = json_stringn((const char *)ev->data.scalar.value, ev->data.scalar.length);
		return *out ? 0
			    : mw_err_set(err, MW_E_INVALID, "MLmodel holds text that is not UTF-8");
	case YAML_ALIAS_EVENT:
		return mw_err_set(err, MW_E_INVALID, "MLmodel uses YAML aliases, which mw refuses");
	case YAML_SEQUENCE_START_EVENT:
		return build_seq(p, out, depth, err);
	case YAML_MAPPING_START_EVENT:
		return build_map(p, out, depth, err);
	default:
		return mw_err_set(err, MW_E_INVALID, "MLmodel has an unexpected YAML structure");
	}
}

int mw_mlmodel_parse(const char *text, size_t n, json_t **out, struct mw_err *err)
{
	*out = NULL;
	if (n > MW_MLMODEL_MAX_BYTES)
		return mw_err_set(err, MW_E_INVALID, "MLmodel is larger than %u bytes",
				  MW_MLMODEL_MAX_BYTES);
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p))
		return mw_err_set(err, MW_E_INTERNAL, "cannot initialise the YAML parser");
	yaml_parser_set_input_string(&p, (const unsigned char *)text, n);
	int rc = 0;
	json_t *doc = NULL;
	for (bool done = false; !done && !rc;) {
		yaml_event_t ev;
		if ((rc = next(&p, &ev, err)))
			break;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
		case YAML_ALIAS_EVENT:
			if (!doc)
				rc = build(&p, &ev, &doc, 0, err);
			else
				done = true; /* a second document: the first is the MLmodel */
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	if (!rc && !doc)
		rc = mw_err_set(err, MW_E_INVALID, "MLmodel is empty");
	else if (!rc && !json_is_object(doc))
		rc = mw_err_set(err, MW_E_INVALID, "MLmodel is not a YAML mapping");
	if (rc) {
		json_decref(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

/* ------------------------------------------------------------ the check */

/* A path a flavor names: relative, no "..", no empty segment. */
static int check_path(const char *flavor, const char *field, const char *path, int want,
		      mw_mlmodel_has_fn has, void *ctx, struct mw_err *err)
{
	if (!*path || path[0] == '/' || strstr(path, "//"))
		goto bad;
	for (const char *s = path; *s;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 2 && s[0] == '.' && s[1] == '.')
			goto bad;
		s += n + (e ? 1 : 0);
	}
	/* "dir/" and "dir" are the same directory */
	char *p = mw_xstrdup(path);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = 0;
	int got = has(ctx, p);
	free(p);
	if (got == MW_MLMODEL_NONE || (want && got != want))
		return mw_err_set(err, MW_E_INVALID,
				  "MLmodel's %.40s flavor names %.40s '%.200s', which is not among "
				  "the model's files",
				  flavor, field, path);
	return 0;
bad:
	return mw_err_set(err, MW_E_INVALID,
			  "MLmodel's %.40s flavor names %.40s '%.200s': a model's files are "
			  "relative paths inside its directory (no '/' at the start, no '..')",
			  flavor, field, path);
}

/* One field of a flavor that names a file or directory, when present. */
static int check_field(json_t *flavors, const char *flavor, const char *field, int want,
		       mw_mlmodel_has_fn has, void *ctx, struct mw_err *err)
{
	json_t *f = json_object_get(flavors, flavor);
	json_t *v = json_object_get(f, field);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return mw_err_set(err, MW_E_INVALID,
				  "MLmodel's %s flavor has a %s that is not text", flavor, field);
	const char *s = json_string_value(v);
	if (!strcmp(s, "null") || !strcmp(s, "~"))
		return 0; /* YAML's null, kept as text by the parser */
	return check_path(flavor, field, s, want, has, ctx, err);
}

int mw_mlmodel_check(json_t *mlmodel, mw_mlmodel_has_fn has, void *ctx, struct mw_err *err)
{
	json_t *flavors = json_object_get(mlmodel, "flavors");
	if (!json_is_object(flavors) || !json_object_size(flavors))
		return mw_err_set(err, MW_E_INVALID,
				  "MLmodel has no flavors: it does not say how to load the model");
	static const char *served[] = {"xgboost", "sklearn", "python_function"};
	bool any = false;
	for (size_t i = 0; i < sizeof served / sizeof *served; i++) {
		json_t *f = json_object_get(flavors, served[i]);
		if (!f)
			continue;
		if (!json_is_object(f))
			return mw_err_set(err, MW_E_INVALID, "MLmodel's %s flavor is not a mapping",
					  served[i]);
		any = true;
	}
	if (!any) {
		char names[200] = "";
		const char *k;
		json_t *v;
		json_object_foreach(flavors, k, v)
		{
			size_t l = strlen(names);
			snprintf(names + l, sizeof names - l, "%s%.40s", l ? ", " : "", k);
		}
		return mw_err_set(err, MW_E_INVALID,
				  "MLmodel's flavors (%s) are none mw can serve: log the model with "
				  "an xgboost, sklearn or python_function flavor",
				  names);
	}
	int rc;
	if ((rc = check_field(flavors, "xgboost", "data", MW_MLMODEL_FILE, has, ctx, err)) ||
	    (rc = check_field(flavors, "sklearn", "pickled_model", MW_MLMODEL_FILE, has, ctx,
			      err)) ||
	    (rc = check_field(flavors, "python_function", "data", 0, has, ctx, err)) ||
	    (rc = check_field(flavors, "python_function", "model_path", 0, has, ctx, err)))
		return rc;
	json_t *pf = json_object_get(flavors, "python_function");
	if (pf && !json_object_get(flavors, "xgboost") && !json_object_get(flavors, "sklearn") &&
	    !json_is_string(json_object_get(pf, "loader_module")) &&
	    !json_object_get(pf, "python_model") && !json_object_get(pf, "cloudpickle_version"))
		return mw_err_set(err, MW_E_INVALID,
				  "MLmodel's python_function flavor has no loader_module: it does not "
				  "say how to load the model");
	return 0;
}

/* ------------------------------------------------------------ code */

static bool ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && !strcasecmp(s + n - m, suf);
}

bool mw_mlmodel_code_file(const char *path)
{
	static const char *const ext[] = {".py", ".pkl", ".pickle", ".joblib", ".cloudpickle"};
	for (size_t i = 0; path && i < sizeof ext / sizeof *ext; i++)
		if (ends_with(path, ext[i]))
			return true;
	return false;
}

bool mw_mlmodel_runs_code(json_t *mlmodel)
{
	json_t *fl = json_object_get(mlmodel, "flavors");
	json_t *pf = json_object_get(fl, "python_function");
	json_t *xgb = json_object_get(fl, "xgboost");
	if (json_object_get(fl, "sklearn"))
		return true;
	if (xgb && mw_mlmodel_code_file(json_string_value(json_object_get(xgb, "data"))))
		return true;
	if (!pf)
		return false;
	if (json_object_get(pf, "python_model") || json_object_get(pf, "cloudpickle_version"))
		return true;
	const char *lm = json_string_value(json_object_get(pf, "loader_module"));
	if (lm && strncmp(lm, "mlflow.", 7))
		return true;
	return !xgb;
}

/* ------------------------------------------------------------ signatures */

json_t *mw_mlmodel_signature(json_t *mlmodel)
{
	json_t *sig = json_object_get(mlmodel, "signature");
	if (!json_is_object(sig))
		return NULL;
	json_t *out = json_object();
	static const char *parts[] = {"inputs", "outputs", "params"};
	for (size_t i = 0; i < 3; i++) {
		json_t *v = json_object_get(sig, parts[i]);
		if (json_is_string(v)) {
			json_error_t je;
			const char *s = json_string_value(v);
			json_t *d = json_loadb(s, strlen(s), JSON_REJECT_DUPLICATES, &je);
			json_object_set_new(out, parts[i], d ? d : json_string(s));
		} else if (v && !json_is_null(v)) {
			json_object_set(out, parts[i], v);
		}
	}
	if (!json_object_size(out)) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* One column or tensor spec as short text: name:type[shape]. */
static void spec_text(json_t *c, char *buf, size_t n)
{
	const char *name = json_string_value(json_object_get(c, "name"));
	const char *type = json_string_value(json_object_get(c, "type"));
	json_t *ts = json_object_get(c, "tensor-spec");
	if (!type && ts)
		type = json_string_value(json_object_get(ts, "dtype"));
	json_t *shape = json_object_get(ts ? ts : c, "shape");
	char *sh = shape ? json_dumps(shape, JSON_COMPACT) : NULL;
	snprintf(buf, n, "%.60s:%.30s%s%.60s", name ? name : "(unnamed)", type ? type : "?",
		 sh ? " " : "", sh ? sh : "");
	free(sh);
}

static void part_diff(const char *part, json_t *a, json_t *b, char *out, size_t n)
{
	size_t na = json_is_array(a) ? json_array_size(a) : 0;
	size_t nb = json_is_array(b) ? json_array_size(b) : 0;
	size_t l = strlen(out);
	if (na != nb) {
		snprintf(out + l, n - l, "%s%s: %zu columns before, %zu after", l ? "; " : "", part,
			 na, nb);
		l = strlen(out);
	}
	for (size_t i = 0; i < na && i < nb; i++) {
		char x[200], y[200];
		spec_text(json_array_get(a, i), x, sizeof x);
		spec_text(json_array_get(b, i), y, sizeof y);
		if (strcmp(x, y)) {
			snprintf(out + l, n - l, "%s%s[%zu]: %s before, %s after", l ? "; " : "",
				 part, i, x, y);
			return; /* the first difference is enough to tell */
		}
	}
}

char *mw_mlmodel_signature_diff(json_t *before, json_t *after)
{
	if (!before && !after)
		return NULL;
	char out[1024] = "";
	if (!before || !after) {
		snprintf(out, sizeof out, "%s",
			 before ? "the new version has no signature"
				: "the old version has no signature");
		return mw_xstrdup(out);
	}
	static const char *parts[] = {"inputs", "outputs"};
	for (size_t i = 0; i < 2; i++) {
		json_t *a = json_object_get(before, parts[i]),
		       *b = json_object_get(after, parts[i]);
		if (json_equal(a, b) || (!a && !b))
			continue;
		if (!json_is_array(a) || !json_is_array(b)) {
			size_t l = strlen(out);
			snprintf(out + l, sizeof out - l, "%s%s differ", l ? "; " : "", parts[i]);
			continue;
		}
		size_t l0 = strlen(out);
		part_diff(parts[i], a, b, out, sizeof out);
		if (strlen(out) == l0) { /* equal as text, different in a detail */
			size_t l = strlen(out);
			snprintf(out + l, sizeof out - l, "%s%s differ", l ? "; " : "", parts[i]);
		}
	}
	return out[0] ? mw_xstrdup(out) : NULL;
}
