/*
 * mlmodel.c - MLflow MLmodel files (YAML) as JSON, and the choice of runtime.
 *
 * libyaml's event parser builds a jansson tree: mappings -> objects,
 * sequences -> arrays, scalars -> strings (no type guessing: callers read
 * what they need).  Aliases and anchors are refused.  The runtime choice:
 * an xgboost flavor saved as JSON or UBJSON is evaluated natively; an
 * xgboost flavor in another format, sklearn, python_function, a .py module
 * or a pickle go to the python runtime.
 */
#include "serve/serve_int.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#define MAX_DEPTH 64

static int build(yaml_parser_t *p, yaml_event_t *first, json_t **out, int depth,
		 struct mw_err *err);

static int next(yaml_parser_t *p, yaml_event_t *ev, struct mw_err *err)
{
	if (!yaml_parser_parse(p, ev))
		return mw_err_set(err, MW_E_INVALID, "MLmodel is not valid YAML: %s (line %zu)",
				  p->problem ? p->problem : "?", p->problem_mark.line + 1);
	return 0;
}

static int build(yaml_parser_t *p, yaml_event_t *ev, json_t **out, int depth, struct mw_err *err)
{
	if (depth > MAX_DEPTH)
		return mw_err_set(err, MW_E_INVALID, "MLmodel nests deeper than %d levels", MAX_DEPTH);
	int rc = 0;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		*out = json_stringn((const char *)ev->data.scalar.value, ev->data.scalar.length);
		if (!*out)
			return mw_err_set(err, MW_E_INVALID, "MLmodel holds a value that is not UTF-8");
		return 0;
	case YAML_ALIAS_EVENT:
		return mw_err_set(err, MW_E_INVALID, "MLmodel uses YAML aliases, which mw refuses");
	case YAML_SEQUENCE_START_EVENT: {
		json_t *a = json_array();
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
	case YAML_MAPPING_START_EVENT: {
		json_t *o = json_object();
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
				rc = mw_err_set(err, MW_E_INVALID, "MLmodel has a non-scalar mapping key");
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
	default:
		return mw_err_set(err, MW_E_INVALID, "unexpected YAML structure in MLmodel");
	}
}

int mw_mlmodel_load(const char *path, json_t **out, struct mw_err *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return mw_err_set(err, MW_E_NOT_FOUND, "cannot open %s", path);
	struct stat st;
	if (fstat(fileno(f), &st) || st.st_size > (1 << 20)) {
		fclose(f);
		return mw_err_set(err, MW_E_INVALID, "%s is larger than 1 MiB", path);
	}
	yaml_parser_t p;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
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
			if (!doc)
				rc = build(&p, &ev, &doc, 0, err);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	fclose(f);
	if (!rc && !json_is_object(doc)) {
		rc = mw_err_set(err, MW_E_INVALID, "%s is not a YAML mapping", path);
	}
	if (rc) {
		json_decref(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

static bool ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && !strcasecmp(s + n - m, suf);
}

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = mw_xmalloc(n);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

/* A file in dir with one of the endings, or NULL. */
static char *find_file(const char *dir, const char *const *endings)
{
	DIR *d = opendir(dir);
	if (!d)
		return NULL;
	struct dirent *e;
	char *found = NULL;
	while (!found && (e = readdir(d)))
		for (const char *const *x = endings; *x && !found; x++)
			if (ends_with(e->d_name, *x))
				found = join(dir, e->d_name);
	closedir(d);
	return found;
}

const struct mw_rt_ops *mw_serve_pick_runtime(const char *dir, json_t *mlmodel, char **file,
					      struct mw_err *err)
{
	*file = NULL;
	json_t *flavors = json_object_get(mlmodel, "flavors");
	json_t *xgb = json_object_get(flavors, "xgboost");
	if (xgb) {
		const char *data = json_string_value(json_object_get(xgb, "data"));
		const char *fmt = json_string_value(json_object_get(xgb, "model_format"));
		if (data) {
			char *path = join(dir, data);
			if ((fmt && (!strcasecmp(fmt, "json") || !strcasecmp(fmt, "ubj"))) ||
			    ends_with(path, ".json") || ends_with(path, ".ubj")) {
				*file = path;
				return &mw_rt_xgboost;
			}
			free(path);
		}
		return &mw_rt_python; /* old binary format: XGBoost itself loads it */
	}
	if (json_object_get(flavors, "sklearn") || json_object_get(flavors, "python_function"))
		return &mw_rt_python;
	if (mlmodel) {
		mw_err_set(err, MW_E_NOT_IMPLEMENTED,
			   "MLmodel has no flavor mw can serve (xgboost, sklearn, python_function)");
		return NULL;
	}
	struct stat st;
	char *pj = join(dir, "proxy.json");
	bool proxy = !stat(pj, &st);
	free(pj);
	if (proxy)
		return &mw_rt_proxy;
	if (!stat(dir, &st) && S_ISREG(st.st_mode)) {
		*file = mw_xstrdup(dir);
		if (ends_with(dir, ".json") || ends_with(dir, ".ubj"))
			return &mw_rt_xgboost;
		return &mw_rt_python;
	}
	static const char *xgb_files[] = {".ubj", ".json", NULL};
	static const char *py_files[] = {".py", ".pkl", ".pickle", ".joblib", NULL};
	if ((*file = find_file(dir, xgb_files)))
		return &mw_rt_xgboost;
	if ((*file = find_file(dir, py_files)))
		return &mw_rt_python;
	mw_err_set(err, MW_E_INVALID,
		   "%s has no MLmodel file and no model file mw recognises (.json, .ubj, .py, .pkl)",
		   dir);
	return NULL;
}
