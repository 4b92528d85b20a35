/*
 * test_rt_python.c - unit tests for the python runtime (serve/rt_python.c),
 * driven through mw_rt_python directly with real models.
 *
 * A group setup runs a Python snippet (Debian's /usr/bin/python3 with
 * python3-sklearn, python3-xgboost and python3-yaml) that trains models on
 * generated data and saves them as MLflow-style directories in a temporary
 * directory, together with test rows and the libraries' own predictions as
 * raw little-endian arrays.  The tests then load, describe and predict
 * through the runtime and compare (relative error <= 1e-6), and exercise the
 * failure paths: a worker that crashes (exit status, signal), hangs (timeout),
 * dies while idle, a corrupt pickle, a missing interpreter, threads
 * predicting at once.  After every unload the test process must have no
 * child left (no zombie, no stray worker).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "serve/serve.h"

#define PY "/usr/bin/python3"
#define NT 200 /* test rows */
#define NF 6   /* features of the sklearn and xgboost models */

static char root[256];

/* ------------------------------------------------------------ fixtures */

static const char gen_py[] =
	"import json, os, pickle, sys\n"
	"import numpy as np, yaml\n"
	"from sklearn.linear_model import LogisticRegression\n"
	"from sklearn.ensemble import RandomForestRegressor\n"
	"import xgboost as xgb\n"
	"d = sys.argv[1]\n"
	"rng = np.random.default_rng(7)\n"
	"N, F = 500, 6\n"
	"X = rng.normal(size=(N, F)).astype(np.float32)\n"
	"score = X[:, 0] + 0.5 * X[:, 1] - X[:, 2] + rng.normal(scale=0.3, size=N)\n"
	"yc = np.digitize(score, [-0.5, 0.5])\n"
	"yr = 3 * X[:, 0] - 2 * X[:, 3] * X[:, 4] + rng.normal(scale=0.1, size=N)\n"
	"Xt = rng.normal(size=(200, F)).astype(np.float32)\n"
	"Xt.astype('<f4').tofile(os.path.join(d, 'xt.f32'))\n"
	"def mkdir(name):\n"
	"    p = os.path.join(d, name)\n"
	"    os.makedirs(p, exist_ok=True)\n"
	"    return p\n"
	"def mlmodel(p, flavors, signature=None):\n"
	"    doc = {'artifact_path': 'model', 'flavors': flavors, 'mlflow_version': '2.9.2',\n"
	"           'model_uuid': '0123456789abcdef0123456789abcdef',\n"
	"           'utc_time_created': '2024-01-01 00:00:00.000000'}\n"
	"    if signature:\n"
	"        doc['signature'] = signature\n"
	"    with open(os.path.join(p, 'MLmodel'), 'w') as f:\n"
	"        yaml.safe_dump(doc, f, default_flow_style=False)\n"
	"def sk_flavors(fmt, predict_fn='predict'):\n"
	"    import sklearn\n"
	"    return {'python_function': {'env': {'conda': 'conda.yaml', 'virtualenv': 'python_env.yaml'},\n"
	"                                'loader_module': 'mlflow.sklearn', 'model_path': 'model.pkl',\n"
	"                                'predict_fn': predict_fn, 'python_version': '3.11.7'},\n"
	"            'sklearn': {'code': None, 'pickled_model': 'model.pkl',\n"
	"                        'serialization_format': fmt, 'sklearn_version': sklearn.__version__}}\n"
	"names = ['feature_%d_with_a_rather_long_descriptive_name' % i for i in range(F)]\n"
	"sig_in = json.dumps([{'type': 'double', 'name': n, 'required': True} for n in names])\n"
	"# logistic regression, 3 classes (cloudpickle declared, read by plain pickle)\n"
	"lr = LogisticRegression(max_iter=1000).fit(X.astype(np.float64), yc)\n"
	"p = mkdir('lr')\n"
	"pickle.dump(lr, open(os.path.join(p, 'model.pkl'), 'wb'))\n"
	"# logged with pyfunc_predict_fn='predict_proba': MLflow's pyfunc answers probabilities\n"
	"mlmodel(p, sk_flavors('cloudpickle', 'predict_proba'), {'inputs': sig_in, 'outputs': json.dumps(\n"
	"    [{'type': 'tensor', 'tensor-spec': {'dtype': 'int64', 'shape': [-1]}}])})\n"
	"with open(os.path.join(p, 'sig_in.json'), 'w') as f:\n"
	"    f.write(sig_in)\n"
	"lr.predict_proba(Xt.astype(np.float64)).astype('<f8').tofile(os.path.join(d, 'lr.f64'))\n"
	"# random forest regressor, no signature\n"
	"rf = RandomForestRegressor(n_estimators=25, max_depth=6, random_state=0)\n"
	"rf.fit(X.astype(np.float64), yr)\n"
	"p = mkdir('rf')\n"
	"pickle.dump(rf, open(os.path.join(p, 'model.pkl'), 'wb'))\n"
	"mlmodel(p, sk_flavors('pickle'))\n"
	"rf.predict(Xt.astype(np.float64)).astype('<f8').tofile(os.path.join(d, 'rf.f64'))\n"
	"# the same forest as a bare pickle\n"
	"p = mkdir('bare')\n"
	"pickle.dump(rf, open(os.path.join(p, 'model.pkl'), 'wb'))\n"
	"# xgboost multi:softprob through the xgboost flavor\n"
	"fn = ['f%d' % i for i in range(F)]\n"
	"bst = xgb.train({'objective': 'multi:softprob', 'num_class': 3, 'max_depth': 3,\n"
	"                 'eta': 0.3, 'nthread': 1}, xgb.DMatrix(X, label=yc, feature_names=fn), 12)\n"
	"p = mkdir('xgb')\n"
	"bst.save_model(os.path.join(p, 'model.json'))\n"
	"mlmodel(p, {'xgboost': {'code': None, 'data': 'model.json',\n"
	"                        'model_class': 'xgboost.core.Booster', 'model_format': 'json',\n"
	"                        'xgb_version': xgb.__version__},\n"
	"            'python_function': {'loader_module': 'mlflow.xgboost', 'data': 'model.json'}})\n"
	"bst.predict(xgb.DMatrix(Xt, feature_names=fn)).astype('<f8').tofile(os.path.join(d, 'xgb.f64'))\n"
	"# python_function with its own loader module in code/\n"
	"p = mkdir('pyfunc')\n"
	"os.makedirs(os.path.join(p, 'code'), exist_ok=True)\n"
	"with open(os.path.join(p, 'code', 'mw_test_loader.py'), 'w') as f:\n"
	"    f.write('import numpy as np\\n'\n"
	"            'class _M:\\n'\n"
	"            '    def __init__(self, s):\\n'\n"
	"            '        self.s = s\\n'\n"
	"            '    def predict(self, data):\\n'\n"
	"            '        return np.asarray(data, dtype=np.float64).sum(axis=1) * self.s\\n'\n"
	"            'def _load_pyfunc(path):\\n'\n"
	"            '    with open(path) as f:\\n'\n"
	"            '        return _M(float(f.read()))\\n')\n"
	"with open(os.path.join(p, 'scale.txt'), 'w') as f:\n"
	"    f.write('2.0')\n"
	"mlmodel(p, {'python_function': {'loader_module': 'mw_test_loader', 'data': 'scale.txt',\n"
	"                                 'code': 'code', 'python_version': '3.11.7'}},\n"
	"        {'inputs': json.dumps([{'type': 'double', 'name': c} for c in 'abcd']),\n"
	"         'outputs': json.dumps([{'type': 'tensor',\n"
	"                                 'tensor-spec': {'dtype': 'float64', 'shape': [-1]}}])})\n"
	"# python_function that needs mlflow, with nothing to fall back to\n"
	"p = mkdir('needs_mlflow')\n"
	"pickle.dump(rf, open(os.path.join(p, 'model.pkl'), 'wb'))\n"
	"mlmodel(p, {'python_function': {'loader_module': 'mlflow.sklearn', 'model_path': 'model.pkl'}})\n"
	"# a corrupt pickle\n"
	"p = mkdir('corrupt')\n"
	"with open(os.path.join(p, 'model.pkl'), 'wb') as f:\n"
	"    f.write(b'this is not a pickle')\n"
	"mlmodel(p, sk_flavors('cloudpickle'))\n"
	"# a plain module with failure switches on the first feature of the first row\n"
	"p = mkdir('module')\n"
	"with open(os.path.join(p, 'mod.py'), 'w') as f:\n"
	"    f.write('import os, sys, time\\n'\n"
	"            'import numpy as np\\n'\n"
	"            'FEATURES = 3\\n'\n"
	"            'OUTPUTS = 2\\n'\n"
	"            'def predict(batch):\\n'\n"
	"            '    tag = batch[0, 0]\\n'\n"
	"            '    if tag == 666: os._exit(3)\\n'\n"
	"            '    if tag == 667: os.kill(os.getpid(), 9)\\n'\n"
	"            '    if tag == 668: time.sleep(60)\\n'\n"
	"            '    if tag == 669: return np.zeros((batch.shape[0] + 1, 2))\\n'\n"
	"            '    if tag == 670: raise RuntimeError(\"boom\")\\n'\n"
	"            '    if tag == 671:\\n'\n"
	"            '        print(\"noise on stdout \" * 100)\\n'\n"
	"            '        sys.stdout.flush()\\n'\n"
	"            '    return np.stack([batch[:, 0] + batch[:, 1], batch[:, 2] * 2], axis=1)\\n')\n";

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void path_of(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", root, name);
}

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_DFL); /* the runtime must cope without the server's SIG_IGN */
	snprintf(root, sizeof root, "/tmp/mw_rtpy_XXXXXX");
	if (!mkdtemp(root))
		return -1;
	char gen[300], cmd[700];
	path_of(gen, sizeof gen, "gen.py");
	FILE *f = fopen(gen, "w");
	if (!f)
		return -1;
	fputs(gen_py, f);
	fclose(f);
	snprintf(cmd, sizeof cmd, PY " %s %s", gen, root);
	int rc = system(cmd);
	if (rc != 0) {
		fprintf(stderr, "model generator failed (%d)\n", rc);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (root[0])
		nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void *read_raw(const char *name, size_t elem, size_t count)
{
	char p[300];
	path_of(p, sizeof p, name);
	FILE *f = fopen(p, "rb");
	assert_non_null(f);
	void *buf = malloc(elem * count);
	assert_non_null(buf);
	assert_int_equal(fread(buf, elem, count, f), count);
	fclose(f);
	return buf;
}

/* ------------------------------------------------------------ helpers */

/* Children of this process: how many, and how many are zombies. */
static int children(int *zombies, pid_t *pids, int max)
{
	int n = 0;
	*zombies = 0;
	DIR *d = opendir("/proc");
	assert_non_null(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		char p[300], buf[512];
		snprintf(p, sizeof p, "/proc/%s/stat", e->d_name);
		FILE *f = fopen(p, "r");
		if (!f)
			continue;
		size_t k = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[k] = 0;
		char *rp = strrchr(buf, ')');
		if (!rp)
			continue;
		char st = 0;
		long ppid = 0;
		if (sscanf(rp + 1, " %c %ld", &st, &ppid) != 2 || ppid != (long)getpid())
			continue;
		if (st == 'Z')
			(*zombies)++;
		if (pids && n < max)
			pids[n] = (pid_t)strtol(e->d_name, NULL, 10);
		n++;
	}
	closedir(d);
	return n;
}

static void assert_no_zombies(void)
{
	int z;
	children(&z, NULL, 0);
	assert_int_equal(z, 0);
}

/* After an unload: every worker is gone and reaped. */
static void assert_no_children(void)
{
	int z;
	assert_int_equal(children(&z, NULL, 0), 0);
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void *load_ok(const char *name, const char *file, json_t *mlmodel, int workers,
		     int64_t timeout_ms)
{
	char dir[300], fp[700];
	path_of(dir, sizeof dir, name);
	if (file)
		snprintf(fp, sizeof fp, "%s/%s", dir, file);
	struct mw_rt_spec spec = {.dir = dir, .file = file ? fp : NULL, .mlmodel = mlmodel,
				  .python = PY, .workers = workers, .timeout_ms = timeout_ms};
	struct mw_err err;
	mw_err_clear(&err);
	void *m = NULL;
	int rc = mw_rt_python.load(&spec, &m, &err);
	if (rc)
		fail_msg("load %s: %s", name, err.msg);
	assert_non_null(m);
	return m;
}

static json_t *describe(void *m)
{
	struct mw_err err;
	json_t *d = NULL;
	assert_int_equal(mw_rt_python.describe(m, &d, &err), 0);
	assert_non_null(d);
	return d;
}

static void assert_close(const float *y, const double *e, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		double diff = fabs((double)y[i] - e[i]);
		if (diff > 1e-6 * fabs(e[i]) + 1e-30)
			fail_msg("%s[%zu]: got %.9g, expected %.9g", what, i, (double)y[i], e[i]);
	}
}

/* names must be prefix0suffix, prefix1suffix, ... */
static void check_names(json_t *names, const char *prefix, const char *suffix, int n)
{
	assert_true(json_is_array(names));
	assert_int_equal(json_array_size(names), n);
	for (int i = 0; i < n; i++) {
		char want[128];
		snprintf(want, sizeof want, "%s%d%s", prefix, i, suffix);
		assert_string_equal(json_string_value(json_array_get(names, (size_t)i)), want);
	}
}

#define LONG_NAME "feature_", "_with_a_rather_long_descriptive_name"

/* ------------------------------------------------------------ sklearn */

static void test_logistic_regression(void **state)
{
	(void)state;
	float *xt = read_raw("xt.f32", sizeof(float), NT * NF);
	double *e = read_raw("lr.f64", sizeof(double), NT * 3);
	void *m = load_ok("lr", NULL, NULL, 2, 0);

	json_t *d = describe(m);
	assert_int_equal(json_integer_value(json_object_get(d, "features")), NF);
	assert_int_equal(json_integer_value(json_object_get(d, "outputs_per_row")), 3);
	assert_string_equal(json_string_value(json_object_get(d, "method")), "predict_proba");
	assert_string_equal(json_string_value(json_object_get(d, "kind")), "sklearn");
	assert_int_equal(json_array_size(json_object_get(d, "classes")), 3);
	check_names(json_object_get(d, "feature_names"), LONG_NAME, NF);
	json_t *in = json_array_get(json_object_get(d, "inputs"), 0);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(in, "shape"), 1)), NF);
	json_decref(d);

	struct mw_err err;
	float y[NT * 3];
	assert_int_equal(mw_rt_python.predict(m, xt, NT, NF, y, &err), 0);
	assert_close(y, e, NT * 3, "lr");
	/* one row at a time gives the same */
	for (size_t r = 0; r < 5; r++) {
		float y1[3];
		assert_int_equal(mw_rt_python.predict(m, xt + r * NF, 1, NF, y1, &err), 0);
		assert_close(y1, e + r * 3, 3, "lr row");
	}
	/* the model refuses NaN: a clean error, and the worker stays usable */
	float xn[NF];
	memcpy(xn, xt, sizeof xn);
	xn[2] = NAN;
	assert_int_equal(mw_rt_python.predict(m, xn, 1, NF, y, &err), -MW_E_INVALID);
	assert_non_null(strstr(err.msg, "NaN"));
	/* wrong width is refused before reaching a worker */
	assert_int_equal(mw_rt_python.predict(m, xt, 2, NF - 1, y, &err), -MW_E_INVALID);
	assert_int_equal(mw_rt_python.predict(m, xt, NT, NF, y, &err), 0);
	assert_close(y, e, NT * 3, "lr again");
	assert_int_equal(mw_rt_python.predict(m, xt, 0, NF, y, &err), 0);
	assert_no_zombies();
	mw_rt_python.unload(m);
	assert_no_children();
	free(xt);
	free(e);
}

static void test_random_forest(void **state)
{
	(void)state;
	float *xt = read_raw("xt.f32", sizeof(float), NT * NF);
	double *e = read_raw("rf.f64", sizeof(double), NT);
	void *m = load_ok("rf", NULL, NULL, 2, 0);
	json_t *d = describe(m);
	assert_int_equal(json_integer_value(json_object_get(d, "features")), NF);
	assert_int_equal(json_integer_value(json_object_get(d, "outputs_per_row")), 1);
	assert_string_equal(json_string_value(json_object_get(d, "method")), "predict");
	assert_null(json_object_get(d, "feature_names"));
	json_decref(d);
	struct mw_err err;
	float y[NT];
	assert_int_equal(mw_rt_python.predict(m, xt, NT, NF, y, &err), 0);
	assert_close(y, e, NT, "rf");
	mw_rt_python.unload(m);
	assert_no_children();

	/* the same forest as a bare pickle, found in its directory */
	m = load_ok("bare", NULL, NULL, 1, 0);
	d = describe(m);
	assert_string_equal(json_string_value(json_object_get(d, "kind")), "pickle");
	json_decref(d);
	memset(y, 0, sizeof y);
	assert_int_equal(mw_rt_python.predict(m, xt, NT, NF, y, &err), 0);
	assert_close(y, e, NT, "bare");
	mw_rt_python.unload(m);
	assert_no_children();
	free(xt);
	free(e);
}

/* The worker's own MLmodel reader (used when yaml is not importable),
 * including signature strings folded over several lines. */
static void test_mini_yaml(void **state)
{
	(void)state;
	float *xt = read_raw("xt.f32", sizeof(float), NT * NF);
	double *e = read_raw("lr.f64", sizeof(double), NT * 3);
	setenv("MW_PY_WORKER_YAML", "mini", 1);
	void *m = load_ok("lr", NULL, NULL, 1, 0);
	unsetenv("MW_PY_WORKER_YAML");
	json_t *d = describe(m);
	check_names(json_object_get(d, "feature_names"), LONG_NAME, NF);
	json_decref(d);
	struct mw_err err;
	float y[NT * 3];
	assert_int_equal(mw_rt_python.predict(m, xt, NT, NF, y, &err), 0);
	assert_close(y, e, NT * 3, "lr mini");
	mw_rt_python.unload(m);
	assert_no_children();
	free(xt);
	free(e);
}

/* MLmodel handed over as JSON the way mw's own YAML reader builds it
 * (every scalar a string). */
static void test_mlmodel_json(void **state)
{
	(void)state;
	char p[300];
	path_of(p, sizeof p, "lr/sig_in.json");
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	char sigbuf[4096];
	size_t k = fread(sigbuf, 1, sizeof sigbuf - 1, f);
	fclose(f);
	sigbuf[k] = 0;
	json_t *ml = json_pack("{s:{s:{s:s,s:s,s:s}},s:{s:s}}", "flavors", "sklearn", "code", "null",
			       "pickled_model", "model.pkl", "serialization_format", "cloudpickle",
			       "signature", "inputs", sigbuf);
	assert_non_null(ml);
	void *m = load_ok("lr", NULL, ml, 1, 0);
	json_decref(ml);
	json_t *d = describe(m);
	/* no python_function predict_fn: MLflow's pyfunc calls predict, the labels */
	assert_int_equal(json_integer_value(json_object_get(d, "outputs_per_row")), 1);
	assert_string_equal(json_string_value(json_object_get(d, "method")), "predict");
	check_names(json_object_get(d, "feature_names"), LONG_NAME, NF);
	json_decref(d);
	mw_rt_python.unload(m);
	assert_no_children();
}

/* ------------------------------------------------------------ other flavors */

static void test_xgboost_flavor(void **state)
{
	(void)state;
	float *xt = read_raw("xt.f32", sizeof(float), NT * NF);
	double *e = read_raw("xgb.f64", sizeof(double), NT * 3);
	void *m = load_ok("xgb", NULL, NULL, 1, 0);
	json_t *d = describe(m);
	assert_int_equal(json_integer_value(json_object_get(d, "features")), NF);
	assert_int_equal(json_integer_value(json_object_get(d, "outputs_per_row")), 3);
	assert_string_equal(json_string_value(json_object_get(d, "kind")), "xgboost");
	check_names(json_object_get(d, "feature_names"), "f", "", NF);
	json_decref(d);
	struct mw_err err;
	float y[NT * 3];
	assert_int_equal(mw_rt_python.predict(m, xt, NT, NF, y, &err), 0);
	assert_close(y, e, NT * 3, "xgb");
	mw_rt_python.unload(m);
	assert_no_children();
	free(xt);
	free(e);
}

static void test_pyfunc_loader(void **state)
{
	(void)state;
	void *m = load_ok("pyfunc", NULL, NULL, 1, 0);
	json_t *d = describe(m);
	assert_int_equal(json_integer_value(json_object_get(d, "features")), 4);
	assert_int_equal(json_integer_value(json_object_get(d, "outputs_per_row")), 1);
	assert_string_equal(json_string_value(json_object_get(d, "kind")), "pyfunc");
	json_t *names = json_object_get(d, "feature_names");
	assert_int_equal(json_array_size(names), 4);
	assert_string_equal(json_string_value(json_array_get(names, 3)), "d");
	json_decref(d);
	float x[3 * 4] = {1, 2, 3, 4, 0.5f, 0.25f, -1, 8, 1e6f, -1e6f, 3, 0};
	float y[3];
	struct mw_err err;
	assert_int_equal(mw_rt_python.predict(m, x, 3, 4, y, &err), 0);
	for (int r = 0; r < 3; r++) {
		double s = 0;
		for (int c = 0; c < 4; c++)
			s += x[r * 4 + c];
		assert_float_equal(y[r], (float)(s * 2), 1e-6 * fabs(s * 2));
	}
	mw_rt_python.unload(m);
	assert_no_children();
}

static void test_load_errors(void **state)
{
	(void)state;
	char dir[300];
	struct mw_err err;
	void *m = NULL;

	/* a corrupt pickle: the Python exception, as MW_E_INVALID */
	path_of(dir, sizeof dir, "corrupt");
	struct mw_rt_spec spec = {.dir = dir, .python = PY, .workers = 2};
	assert_int_equal(mw_rt_python.load(&spec, &m, &err), -MW_E_INVALID);
	assert_null(m);
	assert_true(!strncmp(err.msg, "cannot load model: ", 19));
	assert_non_null(strstr(err.msg, "UnpicklingError"));
	assert_no_children();

	/* a pyfunc that needs mlflow, which is not installed, and nothing else */
	path_of(dir, sizeof dir, "needs_mlflow");
	assert_int_equal(mw_rt_python.load(&spec, &m, &err), -MW_E_NOT_IMPLEMENTED);
	assert_non_null(strstr(err.msg, "mlflow"));
	assert_no_children();

	/* no such interpreter */
	path_of(dir, sizeof dir, "rf");
	spec.python = "/nonexistent/python3";
	assert_true(mw_rt_python.load(&spec, &m, &err) < 0);
	assert_non_null(strstr(err.msg, "/nonexistent/python3"));
	assert_no_children();

	/* no such directory */
	spec.python = PY;
	path_of(dir, sizeof dir, "no-such-model");
	assert_int_equal(mw_rt_python.load(&spec, &m, &err), -MW_E_INVALID);
	assert_non_null(strstr(err.msg, "does not exist"));
	assert_no_children();
}

/* The worker's own confinement (mw_worker.py checks again what mlmodel.c
 * checked): paths out of the model directory are refused before anything is
 * opened, and the message shows the path as written, never file content. */
static void refused(const char *dir, const char *file, json_t *mlmodel, const char *needle)
{
	struct mw_rt_spec spec = {.dir = dir,
				  .file = file,
				  .mlmodel = mlmodel,
				  .python = PY,
				  .workers = 1};
	struct mw_err err;
	mw_err_clear(&err);
	void *m = NULL;
	int rc = mw_rt_python.load(&spec, &m, &err);
	if (rc != -MW_E_INVALID || !strstr(err.msg, needle) || strstr(err.msg, "root:") ||
	    strstr(err.msg, root))
		fail_msg("load %s: rc %d: %s", dir, rc, err.msg);
	assert_null(m);
	assert_no_children();
}

static void test_confinement(void **state)
{
	(void)state;
	char dir[300], other[300], link[700];
	path_of(dir, sizeof dir, "lr");
	static const char *const bad[] = {"../lr/model.pkl", "/etc/passwd", "a/../../x.pkl", ".."};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		json_t *ml = json_pack("{s:{s:{s:s,s:s}}}", "flavors", "sklearn", "pickled_model",
				       bad[i], "serialization_format", "pickle");
		refused(dir, NULL, ml, "leaves the model directory");
		json_decref(ml);
	}
	json_t *ml = json_pack("{s:{s:{s:s,s:s}}}", "flavors", "python_function", "loader_module",
			       "../../x", "data", "model.pkl");
	refused(dir, NULL, ml, "is not a module name");
	json_decref(ml);
	ml = json_pack("{s:{s:{s:s,s:s}}}", "flavors", "sklearn", "pickled_model", "model.pkl",
		       "code", "../../../usr/lib");
	refused(dir, NULL, ml, "leaves the model directory");
	json_decref(ml);
	/* an absolute model file out of the directory */
	refused(dir, "/etc/passwd", NULL, "leaves the model directory");
	/* a directory whose only pickle is a symlink out of it */
	path_of(other, sizeof other, "escape");
	assert_int_equal(mkdir(other, 0755), 0);
	snprintf(link, sizeof link, "%s/model.pkl", other);
	assert_int_equal(symlink("/etc/passwd", link), 0);
	refused(other, NULL, NULL, "leaves the model directory");
	/* a missing pickle: no OS error text */
	ml = json_pack("{s:{s:{s:s,s:s}}}", "flavors", "sklearn", "pickled_model", "nothere.pkl",
		       "serialization_format", "pickle");
	refused(dir, NULL, ml, "cannot read the model file 'nothere.pkl'");
	json_decref(ml);
}

/* ------------------------------------------------------------ plain module */

static void module_expect(const float *x, size_t rows, const float *y)
{
	for (size_t r = 0; r < rows; r++) {
		float a = x[r * 3] + x[r * 3 + 1], b = x[r * 3 + 2] * 2;
		if (!(y[r * 2] == a || (isnan(a) && isnan(y[r * 2]))) || y[r * 2 + 1] != b)
			fail_msg("row %zu: got (%g, %g), expected (%g, %g)", r, (double)y[r * 2],
				 (double)y[r * 2 + 1], (double)a, (double)b);
	}
}

static int module_predict(void *m, float tag, float *y, struct mw_err *err)
{
	float x[6] = {tag, 1, 2, 3, 4, 5};
	return mw_rt_python.predict(m, x, 2, 3, y, err);
}

static void test_module(void **state)
{
	(void)state;
	void *m = load_ok("module", "mod.py", NULL, 2, 0);
	json_t *d = describe(m);
	assert_int_equal(json_integer_value(json_object_get(d, "features")), 3);
	assert_int_equal(json_integer_value(json_object_get(d, "outputs_per_row")), 2);
	assert_string_equal(json_string_value(json_object_get(d, "kind")), "module");
	json_decref(d);

	struct mw_err err;
	float x[4 * 3] = {1, 2, 3, -1.5f, 0.25f, 8, NAN, 1, 4, 1e30f, 1e30f, -7};
	float y[4 * 2];
	assert_int_equal(mw_rt_python.predict(m, x, 4, 3, y, &err), 0);
	module_expect(x, 4, y);

	/* a batch far larger than a pipe buffer, both ways */
	size_t big = 50000;
	float *bx = malloc(big * 3 * sizeof(float)), *by = malloc(big * 2 * sizeof(float));
	for (size_t i = 0; i < big * 3; i++)
		bx[i] = (float)(i % 9973) * 0.5f + 1000;
	assert_int_equal(mw_rt_python.predict(m, bx, big, 3, by, &err), 0);
	module_expect(bx, big, by);
	free(bx);
	free(by);

	/* a model that prints does not corrupt the protocol */
	assert_int_equal(module_predict(m, 671, y, &err), 0);
	/* a wrong output shape and an exception: errors, the workers live on */
	assert_int_equal(module_predict(m, 669, y, &err), -MW_E_INTERNAL);
	assert_non_null(strstr(err.msg, "shape"));
	assert_int_equal(module_predict(m, 670, y, &err), -MW_E_INTERNAL);
	assert_non_null(strstr(err.msg, "boom"));
	assert_int_equal(module_predict(m, 10, y, &err), 0);
	assert_float_equal(y[0], 11, 0);
	mw_rt_python.unload(m);
	assert_no_children();
}

static void test_crash_restart(void **state)
{
	(void)state;
	void *m = load_ok("module", "mod.py", NULL, 1, 0);
	struct mw_err err;
	float y[4];

	assert_int_equal(module_predict(m, 666, y, &err), -MW_E_UNAVAILABLE);
	assert_non_null(strstr(err.msg, "worker crashed (exit status 3)"));
	assert_no_zombies();
	/* the only worker is restarted; the next batch waits for it and works */
	assert_int_equal(module_predict(m, 5, y, &err), 0);
	assert_float_equal(y[0], 6, 0);

	assert_int_equal(module_predict(m, 667, y, &err), -MW_E_UNAVAILABLE);
	assert_non_null(strstr(err.msg, "worker crashed (signal 9)"));
	assert_no_zombies();
	assert_int_equal(module_predict(m, 7, y, &err), 0);
	assert_float_equal(y[0], 8, 0);

	/* a crash just before unload: nothing is left behind */
	assert_int_equal(module_predict(m, 666, y, &err), -MW_E_UNAVAILABLE);
	mw_rt_python.unload(m);
	assert_no_children();
}

static void test_hang_timeout(void **state)
{
	(void)state;
	void *m = load_ok("module", "mod.py", NULL, 1, 500);
	struct mw_err err;
	float y[4];
	uint64_t t0 = mw_mono_ns();
	assert_int_equal(module_predict(m, 668, y, &err), -MW_E_UNAVAILABLE);
	double ms = (double)(mw_mono_ns() - t0) / 1e6;
	print_message("hung batch failed after %.0f ms: %s\n", ms, err.msg);
	assert_non_null(strstr(err.msg, "timed out after 500 ms"));
	assert_true(ms >= 450 && ms < 5000);
	assert_no_zombies();
	assert_int_equal(module_predict(m, 1, y, &err), 0);
	assert_float_equal(y[0], 2, 0);
	mw_rt_python.unload(m);
	assert_no_children();
}

/* Workers killed behind the runtime's back while idle are noticed and
 * replaced; the batch is not lost. */
static void test_idle_workers_killed(void **state)
{
	(void)state;
	void *m = load_ok("module", "mod.py", NULL, 2, 0);
	pid_t pids[8];
	int z, n = children(&z, pids, 8);
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	usleep(100 * 1000);
	struct mw_err err;
	float y[4];
	assert_int_equal(module_predict(m, 3, y, &err), 0);
	assert_float_equal(y[0], 4, 0);
	assert_no_zombies();
	mw_rt_python.unload(m);
	assert_no_children();
}

/* ------------------------------------------------------------ concurrency */

struct thr {
	void *m;
	int t;
	int errors;
	char msg[512];
	const float *xt;
	const double *e;
};

static void *module_thread(void *arg)
{
	struct thr *a = arg;
	for (int i = 0; i < 60 && !a->errors; i++) {
		size_t rows = 1 + (size_t)((i * 7 + a->t) % 17);
		float x[17 * 3], y[17 * 2];
		for (size_t r = 0; r < rows; r++) {
			x[r * 3] = (float)(100000 + a->t * 10000 + i * 20 + (int)r);
			x[r * 3 + 1] = (float)a->t;
			x[r * 3 + 2] = (float)i;
		}
		struct mw_err err;
		if (mw_rt_python.predict(a->m, x, rows, 3, y, &err)) {
			a->errors++;
			snprintf(a->msg, sizeof a->msg, "%s", err.msg);
			break;
		}
		for (size_t r = 0; r < rows; r++)
			if (y[r * 2] != x[r * 3] + x[r * 3 + 1] || y[r * 2 + 1] != x[r * 3 + 2] * 2) {
				a->errors++;
				snprintf(a->msg, sizeof a->msg, "thread %d got another's rows", a->t);
			}
	}
	return NULL;
}

static void *lr_thread(void *arg)
{
	struct thr *a = arg;
	for (int i = 0; i < 10 && !a->errors; i++) {
		size_t first = (size_t)((a->t * 37 + i * 11) % (NT - 20)), rows = 1 + (size_t)(i + a->t) % 20;
		float y[20 * 3];
		struct mw_err err;
		if (mw_rt_python.predict(a->m, a->xt + first * NF, rows, NF, y, &err)) {
			a->errors++;
			snprintf(a->msg, sizeof a->msg, "%s", err.msg);
			break;
		}
		for (size_t k = 0; k < rows * 3; k++) {
			double ex = a->e[first * 3 + k];
			if (fabs((double)y[k] - ex) > 1e-6 * fabs(ex) + 1e-30) {
				a->errors++;
				snprintf(a->msg, sizeof a->msg, "thread %d: wrong probabilities", a->t);
				break;
			}
		}
	}
	return NULL;
}

static void run_threads(void *m, void *(*fn)(void *), const float *xt, const double *e)
{
	pthread_t th[4];
	struct thr a[4];
	for (int t = 0; t < 4; t++) {
		a[t] = (struct thr){.m = m, .t = t, .xt = xt, .e = e};
		assert_int_equal(pthread_create(&th[t], NULL, fn, &a[t]), 0);
	}
	for (int t = 0; t < 4; t++)
		pthread_join(th[t], NULL);
	for (int t = 0; t < 4; t++)
		if (a[t].errors)
			fail_msg("thread %d: %s", t, a[t].msg);
}

static void test_concurrency(void **state)
{
	(void)state;
	void *m = load_ok("module", "mod.py", NULL, 2, 0);
	run_threads(m, module_thread, NULL, NULL);
	mw_rt_python.unload(m);
	assert_no_children();

	float *xt = read_raw("xt.f32", sizeof(float), NT * NF);
	double *e = read_raw("lr.f64", sizeof(double), NT * 3);
	m = load_ok("lr", NULL, NULL, 2, 0);
	run_threads(m, lr_thread, xt, e);
	mw_rt_python.unload(m);
	assert_no_children();
	free(xt);
	free(e);
}

int main(void)
{
	mw_log_set_level(MW_LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logistic_regression),
		cmocka_unit_test(test_random_forest),
		cmocka_unit_test(test_mini_yaml),
		cmocka_unit_test(test_mlmodel_json),
		cmocka_unit_test(test_xgboost_flavor),
		cmocka_unit_test(test_pyfunc_loader),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_confinement),
		cmocka_unit_test(test_module),
		cmocka_unit_test(test_crash_restart),
		cmocka_unit_test(test_hang_timeout),
		cmocka_unit_test(test_idle_workers_killed),
		cmocka_unit_test(test_concurrency),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
