/*
 * mlmodel.c - MLflow MLmodel files (YAML) as JSON, and the choice of runtime.
 *
 * The YAML is parsed by the mlmodel module (mw_mlmodel_parse), the same
 * parser the registry checks versions with.  The runtime choice:
 * an xgboost flavor saved as JSON or UBJSON is evaluated natively; an
 * xgboost flavor in another format, sklearn, python_function, a .py module
 * or a pickle go to the python runtime.
 *
 * Confinement: every file a model names (the paths in its MLmodel's
 * flavors, its proxy.json, the model file found in its directory, the
 * MLmodel itself) must stay inside the model's directory: no absolute path,
 * no '..' component, and the path with its symlinks resolved must lie under
 * the directory's own realpath (mw_serve_model_path).  Errors name the path
 * as the model wrote it (escaped, truncated), never a file's content, an
 * absolute path or why a file could not be opened.
 */
#include "serve/serve_int.h"

#include "mlmodel/mlmodel.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* rel as text for a message: printable ASCII as is, the rest as \xNN,
 * at most about 100 characters. */
static void show(const char *rel, char *buf, size_t n)
{
	size_t k = 0, i = 0;
	for (; rel[i] && k + 8 < n && i < 100; i++) {
		unsigned char c = (unsigned char)rel[i];
		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
			buf[k++] = (char)c;
		else
			k += (size_t)snprintf(buf + k, n - k, "\\x%02x", c);
	}
	if (rel[i] && k + 4 < n) {
		memcpy(buf + k, "...", 3);
		k += 3;
	}
	buf[k] = 0;
}

/* Whether the absolute, resolved path p is root or lies under it. */
static bool under(const char *root, const char *p)
{
	size_t n = strlen(root);
	if (n == 1 && root[0] == '/')
		return true;
	return !strncmp(root, p, n) && (p[n] == 0 || p[n] == '/');
}

/* Whether rel, as written, is absolute or has a '..' component. */
static bool leaves_lexically(const char *rel)
{
	if (rel[0] == '/')
		return true;
	for (const char *c = rel; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return true;
		c += n;
		while (*c == '/')
			c++;
	}
	return false;
}

int mw_serve_model_path(const char *dir, const char *rel, const char *what, bool must_exist,
			char **out, struct mw_err *err)
{
	*out = NULL;
	char shown[512];
	show(rel ? rel : "", shown, sizeof shown);
	if (!rel || !*rel)
		return mw_err_set(err, MW_E_INVALID, "the model's %s path is empty", what);
	if (leaves_lexically(rel))
		return mw_err_set(err, MW_E_INVALID,
				  "the model's %s path '%s' leaves the model directory", what,
				  shown);
	char *root = realpath(dir, NULL);
	if (!root)
		return mw_err_set(err, MW_E_INVALID, "cannot read the model directory");
	char *joined = mw_fs_join(root, rel);
	char *real = realpath(joined, NULL);
	int rc = 0;
	if (!real) {
		if (must_exist || errno != ENOENT)
			rc = mw_err_set(err, MW_E_INVALID, "cannot read the model file '%s'",
					shown);
		/* a dangling symlink must not point out either */
		struct stat st;
		if (!lstat(joined, &st) && S_ISLNK(st.st_mode))
			rc = mw_err_set(err, MW_E_INVALID, "cannot read the model file '%s'",
					shown);
	} else if (!under(root, real)) {
		rc = mw_err_set(err, MW_E_INVALID,
				"the model's %s path '%s' leaves the model directory", what, shown);
	}
	free(joined);
	free(root);
	if (rc || !real) {
		free(real);
		return rc;
	}
	*out = real;
	return 0;
}

int mw_mlmodel_load(const char *path, json_t **out, struct mw_err *err)
{
	/* MLmodel itself must be a file of its directory (not a symlink out) */
	const char *slash = strrchr(path, '/');
	char *dir = slash ? mw_xstrndup(path, slash == path ? 1 : (size_t)(slash - path))
			  : mw_xstrdup(".");
	char *real = NULL;
	int crc = mw_serve_model_path(dir, slash ? slash + 1 : path, "MLmodel", true, &real, err);
	free(dir);
	if (crc)
		return crc;
	FILE *f = fopen(real, "rb");
	free(real);
	if (!f)
		return mw_err_set(err, MW_E_INVALID, "cannot read the model file 'MLmodel'");
	struct stat st;
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
		fclose(f);
		return mw_err_set(err, MW_E_INVALID,
				  "the model's MLmodel is not a regular file of at most 1 MiB");
	}
	char *text = mw_xmalloc((size_t)st.st_size + 1);
	size_t n = fread(text, 1, (size_t)st.st_size, f);
	bool bad = ferror(f);
	fclose(f);
	int rc = bad ? mw_err_set(err, MW_E_INVALID, "cannot read the model file 'MLmodel'") : 0;
	json_t *doc = NULL;
	if (!rc)
		rc = mw_mlmodel_parse(text, n, &doc, err); /* the one MLmodel parser */
	free(text);
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
				found = mw_xstrdup(e->d_name);
	closedir(d);
	return found;
}

/* The keys of a flavor that name files or directories of the model. */
static const char *const path_keys[] = {"data",         "model_path", "pickled_model", "code",
					"python_model", "model_file", "model_data",    NULL};

static bool is_null_text(const char *v)
{
	return !*v || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL") ||
	       !strcmp(v, "~");
}

static int check_value(const char *dir, json_t *v, const char *what, struct mw_err *err)
{
	const char *s = json_string_value(v);
	if (!s || is_null_text(s))
		return 0;
	char *real = NULL;
	int rc = mw_serve_model_path(dir, s, what, false, &real, err);
	free(real);
	return rc;
}

/* Every path an MLmodel's flavors name (data, model_path, pickled_model,
 * code, ..., and the env files) stays in the model directory; files that do
 * not exist are the runtime's business. */
static int check_mlmodel_paths(const char *dir, json_t *mlmodel, struct mw_err *err)
{
	json_t *flavors = json_object_get(mlmodel, "flavors");
	const char *fname;
	json_t *fl;
	int rc = 0;
	json_object_foreach(flavors, fname, fl)
	{
		for (const char *const *k = path_keys; *k && !rc; k++)
			rc = check_value(dir, json_object_get(fl, *k), *k, err);
		json_t *env = json_object_get(fl, "env");
		if (!rc && json_is_string(env))
			rc = check_value(dir, env, "env", err);
		const char *ek;
		json_t *ev;
		json_object_foreach(env, ek, ev)
		{
			if (!rc)
				rc = check_value(dir, ev, "env", err);
		}
		if (rc)
			return rc;
	}
	return 0;
}

const struct mw_rt_ops *mw_serve_pick_runtime(const char *dir, json_t *mlmodel, char **file,
					      struct mw_err *err)
{
	*file = NULL;
	if (mlmodel && check_mlmodel_paths(dir, mlmodel, err))
		return NULL;
	json_t *flavors = json_object_get(mlmodel, "flavors");
	json_t *xgb = json_object_get(flavors, "xgboost");
	if (xgb) {
		const char *data = json_string_value(json_object_get(xgb, "data"));
		const char *fmt = json_string_value(json_object_get(xgb, "model_format"));
		if (data) {
			if ((fmt && (!strcasecmp(fmt, "json") || !strcasecmp(fmt, "ubj"))) ||
			    ends_with(data, ".json") || ends_with(data, ".ubj")) {
				if (mw_serve_model_path(dir, data, "data", true, file, err))
					return NULL;
				return &mw_rt_xgboost;
			}
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
	if (!stat(dir, &st) && S_ISREG(st.st_mode)) {
		*file = mw_xstrdup(dir);
		if (ends_with(dir, ".json") || ends_with(dir, ".ubj"))
			return &mw_rt_xgboost;
		return &mw_rt_python;
	}
	char *pj = mw_fs_join(dir, "proxy.json");
	bool proxy = !lstat(pj, &st);
	free(pj);
	if (proxy)
		return &mw_rt_proxy; /* rt_proxy confines proxy.json itself */
	static const char *const xgb_files[] = {".ubj", ".json", NULL};
	static const char *const py_files[] = {".py", ".pkl", ".pickle", ".joblib", NULL};
	const struct mw_rt_ops *rt = &mw_rt_xgboost;
	char *name = find_file(dir, xgb_files);
	if (!name) {
		rt = &mw_rt_python;
		name = find_file(dir, py_files);
	}
	if (name) {
		int rc = mw_serve_model_path(dir, name, "model file", true, file, err);
		free(name);
		return rc ? NULL : rt;
	}
	mw_err_set(err, MW_E_INVALID,
		   "the model directory has no MLmodel file and no model file mw recognises "
		   "(.json, .ubj, .py, .pkl)");
	return NULL;
}
