/*
 * test_mlmodel.c - unit tests for the MLmodel module: YAML into JSON (and
 * what is refused: empty, not a mapping, bad YAML, aliases, too deep, too
 * big), the serveability check (flavors, files, confinement), signatures and
 * how two differ.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mlmodel/mlmodel.h"

static int parse(const char *text, json_t **doc, struct mw_err *err)
{
	memset(err, 0, sizeof *err);
	return mw_mlmodel_parse(text, strlen(text), doc, err);
}

static void test_parse(void **state)
{
	(void)state;
	json_t *doc = NULL;
	struct mw_err err;
	assert_int_equal(parse("artifact_path: model\nflavors:\n  xgboost:\n    data: m.json\n"
			       "  python_function: {loader_module: mlflow.xgboost}\nlist: [a, b]\n",
			       &doc, &err),
			 0);
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(json_object_get(doc, "flavors"),
								    "xgboost"),
						    "data")),
			    "m.json");
	assert_int_equal(json_array_size(json_object_get(doc, "list")), 2);
	json_decref(doc);
	/* refused, each with its reason */
	static const struct {
		const char *text, *why;
	} bad[] = {
		{"", "empty"},
		{"# only a comment\n", "empty"},
		{"just text", "not a YAML mapping"},
		{"[1, 2]", "not a YAML mapping"},
		{"flavors: [unclosed\n  : :", "not valid YAML"},
		{"a: &x 1\nb: *x\n", "aliases"},
		{"? [a]\n: b\n", "not text"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		doc = NULL;
		assert_int_equal(parse(bad[i].text, &doc, &err), -MW_E_INVALID);
		assert_null(doc);
		assert_non_null(strstr(err.msg, bad[i].why));
	}
	/* nesting is capped */
	char deep[400] = "a: ";
	memset(deep + 3, '[', 100);
	assert_int_equal(parse(deep, &doc, &err), -MW_E_INVALID);
	/* size is capped before parsing */
	assert_int_equal(mw_mlmodel_parse("a: b", MW_MLMODEL_MAX_BYTES + 1, &doc, &err),
			 -MW_E_INVALID);
}

/* A model directory of three files and a directory. */
static int has(void *ctx, const char *rel)
{
	(void)ctx;
	if (!strcmp(rel, "model.json") || !strcmp(rel, "model.pkl") || !strcmp(rel, "MLmodel"))
		return MW_MLMODEL_FILE;
	if (!strcmp(rel, "data"))
		return MW_MLMODEL_DIR;
	return MW_MLMODEL_NONE;
}

static int check(const char *text, struct mw_err *err)
{
	json_t *doc = NULL;
	int rc = parse(text, &doc, err);
	if (!rc)
		rc = mw_mlmodel_check(doc, has, NULL, err);
	json_decref(doc);
	return rc;
}

static void test_check(void **state)
{
	(void)state;
	struct mw_err err;
	assert_int_equal(check("flavors:\n  xgboost: {data: model.json, model_format: json}\n",
			       &err),
			 0);
	assert_int_equal(check("flavors:\n  sklearn: {pickled_model: model.pkl}\n"
			       "  python_function: {loader_module: mlflow.sklearn, "
			       "model_path: model.pkl}\n",
			       &err),
			 0);
	assert_int_equal(check("flavors:\n  python_function: {loader_module: m, data: data/}\n",
			       &err),
			 0);
	static const struct {
		const char *text, *why;
	} bad[] = {
		{"artifact_path: m\n", "no flavors"},
		{"flavors: {}\n", "no flavors"},
		{"flavors:\n  onnx: {data: model.onnx}\n", "(onnx) are none mw can serve"},
		{"flavors:\n  xgboost: {data: missing.json}\n", "not among the model's files"},
		{"flavors:\n  xgboost: {data: data}\n", "not among the model's files"},
		{"flavors:\n  sklearn: {pickled_model: ../../etc/passwd}\n", "no '..'"},
		{"flavors:\n  xgboost: {data: /etc/passwd}\n", "no '/' at the start"},
		{"flavors:\n  python_function: {data: model.pkl}\n", "no loader_module"},
		{"flavors:\n  xgboost: [a]\n", "not a mapping"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(check(bad[i].text, &err), -MW_E_INVALID);
		if (!strstr(err.msg, bad[i].why))
			fail_msg("%s: %s", bad[i].text, err.msg);
	}
}

static json_t *sig_of(const char *text)
{
	json_t *doc = NULL;
	struct mw_err err;
	assert_int_equal(parse(text, &doc, &err), 0);
	json_t *s = mw_mlmodel_signature(doc);
	json_decref(doc);
	return s;
}

static void test_signature(void **state)
{
	(void)state;
	json_t *a = sig_of("signature:\n  inputs: '[{\"name\": \"x\", \"type\": \"double\"}, "
			   "{\"name\": \"y\", \"type\": \"double\"}]'\n"
			   "  outputs: '[{\"type\": \"long\"}]'\n");
	json_t *b = sig_of("signature:\n  inputs: '[{\"name\": \"x\", \"type\": \"double\"}, "
			   "{\"name\": \"y\", \"type\": \"double\"}]'\n"
			   "  outputs: '[{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": "
			   "\"float64\", \"shape\": [-1, 2]}}]'\n");
	json_t *c = sig_of("signature:\n  inputs: '[{\"name\": \"x\", \"type\": \"double\"}]'\n"
			   "  outputs: '[{\"type\": \"long\"}]'\n");
	assert_non_null(a);
	assert_int_equal(json_array_size(json_object_get(a, "inputs")), 2);
	assert_null(sig_of("flavors: {}\n"));
	assert_null(mw_mlmodel_signature_diff(a, a));
	assert_null(mw_mlmodel_signature_diff(NULL, NULL));
	char *d = mw_mlmodel_signature_diff(a, b);
	assert_non_null(d);
	assert_non_null(strstr(d, "outputs[0]"));
	assert_non_null(strstr(d, "[-1,2]"));
	free(d);
	d = mw_mlmodel_signature_diff(a, c);
	assert_non_null(strstr(d, "inputs: 2 columns before, 1 after"));
	free(d);
	d = mw_mlmodel_signature_diff(a, NULL);
	assert_non_null(strstr(d, "new version has no signature"));
	free(d);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

/* Model code is code: which MLmodels run their own code when served. */
static void test_runs_code(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		bool code;
	} cases[] = {
		{"flavors:\n  xgboost:\n    data: m.json\n  python_function:\n"
		 "    loader_module: mlflow.xgboost\n",
		 false},
		{"flavors:\n  xgboost:\n    data: m.json\n", false},
		{"flavors:\n  xgboost:\n    data: m.pkl\n", true},
		{"flavors:\n  sklearn:\n    pickled_model: m.pkl\n", true},
		{"flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n", true},
		{"flavors:\n  python_function:\n    python_model: python_model.pkl\n", true},
		{"flavors:\n  xgboost:\n    data: m.json\n  python_function:\n"
		 "    loader_module: evil\n",
		 true},
		{"flavors:\n  xgboost:\n    data: m.json\n  python_function:\n"
		 "    cloudpickle_version: 3.0\n",
		 true},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		json_t *doc = NULL;
		struct mw_err err = {0};
		assert_int_equal(parse(cases[i].text, &doc, &err), 0);
		if (mw_mlmodel_runs_code(doc) != cases[i].code)
			fail_msg("case %zu: %s", i, cases[i].text);
		json_decref(doc);
	}
	assert_true(mw_mlmodel_code_file("model/model.PKL"));
	assert_true(mw_mlmodel_code_file("code/train.py"));
	assert_false(mw_mlmodel_code_file("model.json"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_runs_code),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
