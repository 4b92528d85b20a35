/*
 * test_resolve.c - unit tests for resolving registered versions
 * (mw_registry_resolve, mw_registry_parse_uri) through the registry's
 * public operations only, so they hold whatever the store looks like.
 *
 * Each test opens a fresh store, blob store, artifact module and registry in
 * its own mkdtemp() directory, uploads two files as a run's artifacts through
 * art/, registers versions from them and resolves every kind of reference:
 * a version number, an alias, a stage (any case), "latest", the default
 * alias and its fallback, and the errors for what does not exist; then
 * materialises a resolved version's pinned files into a local directory
 * (mw_art_materialise), as serving does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art/art.h"
#include "blob/blob.h"
#include "registry/registry.h"
#include "store/store.h"

struct fx {
	char dir[64];
	struct mw_store *store;
	struct mw_blob *blob;
	struct mw_art *art;
	struct mw_registry *reg;
};

static const struct mw_call who = {.user = "alice", .request_id = ""};

#define OK(call)                                                                  \
	do {                                                                      \
		struct mw_err err_ = {0};                                         \
		struct mw_err *E = &err_;                                         \
		(void)E;                                                          \
		int rc_ = (call);                                                 \
		if (rc_ != 0)                                                     \
			fail_msg("%s: rc %d: %s", #call, rc_, err_.msg);          \
	} while (0)

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/mw-test-resolve-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	struct mw_store_opts so = {.data_dir = f->dir, .read_conns = 2, .sync_full = false};
	struct mw_blob_opts bo = {.data_dir = f->dir};
	OK(mw_store_open(&so, &f->store, E));
	OK(mw_blob_open(&bo, &f->blob, E));
	OK(mw_art_new(f->store, f->blob, &f->art, E));
	OK(mw_registry_new(f->store, f->blob, &f->reg, E));
	*state = f;
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	mw_registry_free(f->reg);
	mw_art_free(f->art);
	mw_store_close(f->store);
	mw_blob_close(f->blob);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void upload(struct fx *f, const char *path, const char *content)
{
	struct mw_art_upload *u = NULL;
	OK(mw_art_upload_begin(f->art, NULL, path, &u, E));
	OK(mw_art_upload_data(u, content, strlen(content), E));
	OK(mw_art_upload_commit(u, NULL, NULL, E));
}

/* Call a registry operation with a message built by json_pack. */
static json_t *op(struct fx *f, mw_registry_op fn, json_t *req)
{
	json_t *resp = NULL;
	struct mw_err err = {0};
	int rc = fn(f->reg, &who, req, &resp, &err);
	json_decref(req);
	if (rc)
		fail_msg("registry op: rc %d: %s", rc, err.msg);
	return resp;
}

static void make_versions(struct fx *f, int n)
{
	upload(f, "0/r1/artifacts/model/MLmodel",
	       "flavors: {xgboost: {data: model.json, model_format: json}}\n");
	upload(f, "0/r1/artifacts/model/model.json", "{}");
	json_decref(op(f, mw_registry_rm_create, json_pack("{s:s}", "name", "fraud")));
	for (int i = 0; i < n; i++)
		json_decref(op(f, mw_registry_mv_create,
			       json_pack("{s:s,s:s}", "name", "fraud", "source",
					 "mlflow-artifacts:/0/r1/artifacts/model")));
}

static void test_resolve_each_kind(void **state)
{
	struct fx *f = *state;
	make_versions(f, 3);
	json_decref(op(f, mw_registry_rm_set_alias,
		       json_pack("{s:s,s:s,s:s}", "name", "fraud", "alias", "champion", "version",
				 "2")));
	json_decref(op(f, mw_registry_mv_transition,
		       json_pack("{s:s,s:s,s:s,s:b}", "name", "fraud", "version", "1", "stage",
				 "Production", "archive_existing_versions", 0)));

	struct mw_registry_pin p;
	OK(mw_registry_resolve(f->reg, "fraud", "3", NULL, &p, E));
	assert_int_equal(p.version, 3);
	assert_string_equal(p.via, "version");
	assert_non_null(p.files);
	assert_string_equal(p.files, "_registry/1/3");
	assert_int_equal(strlen(p.manifest_digest), 64);
	assert_string_equal(p.status, "READY");
	/* the pinned files are readable through art/ */
	json_t *tree = NULL;
	OK(mw_art_tree(f->art, p.files, &tree, E));
	assert_int_equal(json_array_size(tree), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(tree, 0), "path")),
			    "MLmodel");
	json_decref(tree);
	char digest3[65];
	snprintf(digest3, sizeof digest3, "%s", p.manifest_digest);
	mw_registry_pin_release(&p);

	OK(mw_registry_resolve(f->reg, "fraud", "@champion", NULL, &p, E));
	assert_int_equal(p.version, 2);
	assert_string_equal(p.via, "alias");
	/* same files, so the same manifest digest */
	assert_string_equal(p.manifest_digest, digest3);
	mw_registry_pin_release(&p);

	OK(mw_registry_resolve(f->reg, "fraud", "production", NULL, &p, E));
	assert_int_equal(p.version, 1);
	assert_string_equal(p.via, "stage");
	mw_registry_pin_release(&p);

	OK(mw_registry_resolve(f->reg, "fraud", "latest", NULL, &p, E));
	assert_int_equal(p.version, 3);
	mw_registry_pin_release(&p);

	OK(mw_registry_resolve(f->reg, "fraud", NULL, "champion", &p, E));
	assert_int_equal(p.version, 2);
	assert_string_equal(p.via, "default-alias");
	mw_registry_pin_release(&p);

	/* a default alias that is not set falls back to the latest version */
	OK(mw_registry_resolve(f->reg, "fraud", "", "challenger", &p, E));
	assert_int_equal(p.version, 3);
	assert_string_equal(p.via, "latest");
	mw_registry_pin_release(&p);
}

static void test_resolve_errors(void **state)
{
	struct fx *f = *state;
	struct mw_registry_pin p;
	struct mw_err err = {0};
	assert_int_equal(mw_registry_resolve(f->reg, "nope", NULL, NULL, &p, &err), -MW_E_NOT_FOUND);
	make_versions(f, 1);
	assert_int_equal(mw_registry_resolve(f->reg, "fraud", "7", NULL, &p, &err), -MW_E_NOT_FOUND);
	assert_int_equal(mw_registry_resolve(f->reg, "fraud", "@gone", NULL, &p, &err),
			 -MW_E_NOT_FOUND);
	assert_int_equal(mw_registry_resolve(f->reg, "fraud", "Staging", NULL, &p, &err),
			 -MW_E_NOT_FOUND);
	assert_non_null(strstr(err.msg, "Staging"));
	assert_int_equal(mw_registry_resolve(f->reg, "fraud", "Stagingx", NULL, &p, &err),
			 -MW_E_INVALID);
	assert_int_equal(mw_registry_resolve(f->reg, "", NULL, NULL, &p, &err), -MW_E_INVALID);
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	char *buf = calloc(1, 4096);
	size_t n = fread(buf, 1, 4095, fp);
	buf[n] = 0;
	fclose(fp);
	return buf;
}

static void test_materialise_pinned_files(void **state)
{
	struct fx *f = *state;
	upload(f, "0/r1/artifacts/model/MLmodel",
	       "flavors: {python_function: {loader_module: m}}\n");
	upload(f, "0/r1/artifacts/model/sub/weights.bin", "0123456789");
	json_decref(op(f, mw_registry_rm_create, json_pack("{s:s}", "name", "fraud")));
	json_decref(op(f, mw_registry_mv_create,
		       json_pack("{s:s,s:s}", "name", "fraud", "source",
				 "mlflow-artifacts:/0/r1/artifacts/model")));
	struct mw_registry_pin p;
	OK(mw_registry_resolve(f->reg, "fraud", "1", NULL, &p, E));
	assert_non_null(p.files);
	char dest[128];
	snprintf(dest, sizeof dest, "%s/out", f->dir);
	OK(mw_art_materialise(f->art, p.files, dest, E));
	char path[256];
	snprintf(path, sizeof path, "%s/MLmodel", dest);
	char *text = slurp(path);
	assert_non_null(text);
	assert_string_equal(text, "flavors: {python_function: {loader_module: m}}\n");
	free(text);
	snprintf(path, sizeof path, "%s/sub/weights.bin", dest);
	text = slurp(path);
	assert_non_null(text);
	assert_string_equal(text, "0123456789");
	free(text);
	/* the files are already there: a second materialisation into the same
	 * place fails rather than mixing two versions */
	struct mw_err err = {0};
	assert_true(mw_art_materialise(f->art, p.files, dest, &err) < 0);
	/* a directory without files */
	assert_int_equal(mw_art_materialise(f->art, "0/none", dest, &err), -MW_E_NOT_FOUND);
	mw_registry_pin_release(&p);
}

static void test_parse_uri(void **state)
{
	(void)state;
	char *name, *ref;
	OK(mw_registry_parse_uri("models:/fraud/3", &name, &ref, E));
	assert_string_equal(name, "fraud");
	assert_string_equal(ref, "3");
	free(name);
	free(ref);
	OK(mw_registry_parse_uri("models:/team/fraud@champion", &name, &ref, E));
	assert_string_equal(name, "team/fraud");
	assert_string_equal(ref, "@champion");
	free(name);
	free(ref);
	OK(mw_registry_parse_uri("models:/fraud/Production", &name, &ref, E));
	assert_string_equal(ref, "Production");
	free(name);
	free(ref);
	OK(mw_registry_parse_uri("models:/fraud/latest", &name, &ref, E));
	assert_string_equal(ref, "latest");
	free(name);
	free(ref);
	struct mw_err err = {0};
	assert_int_equal(mw_registry_parse_uri("models:/m-0123", &name, &ref, &err), -MW_E_INVALID);
	assert_int_equal(mw_registry_parse_uri("runs:/abc/model", &name, &ref, &err), -MW_E_INVALID);
	assert_int_equal(mw_registry_parse_uri("models:/fraud@", &name, &ref, &err), -MW_E_INVALID);
	assert_null(name);
	assert_null(ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_resolve_each_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_materialise_pinned_files, setup, teardown),
		cmocka_unit_test(test_parse_uri),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
