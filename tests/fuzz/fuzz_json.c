/*
 * fuzz_json.c - libFuzzer target for request JSON handling (core/json.c).
 *
 * The input is a request body: it goes through mw_json_parse_body with the
 * server's default depth cap (64).  When that yields an object, every typed
 * getter (mw_req_str/int64/double/bool/list) is run on a few field names the
 * tracking operations use, and "metrics" is walked the way a log-batch
 * request is (key/value/timestamp/step/model_id on each element).  The same
 * object is then marked as a query-string message and the list getter run
 * again, so the scalar-to-list promotion path is fuzzed too.
 *
 * Invariants checked (abort on violation):
 *  - parse_body returns an object or NULL with err.code set;
 *  - every getter returns 0 or -err.code with a message, and only the
 *    codes it documents (MW_E_INVALID);
 *  - a getter that fails on a field leaves its output alone;
 *  - mw_req_list returns an array (or NULL when absent).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static const char *const fields[] = { "run_id", "metrics", "value", "step", "tags" };
#define NFIELDS (sizeof fields / sizeof *fields)

static void check_rc(int rc, const struct mw_err *err)
{
	if (rc == 0)
		return;
	if (rc != -MW_E_INVALID || err->code != MW_E_INVALID || !err->msg[0])
		abort();
}

static void getters(json_t *o)
{
	for (size_t i = 0; i < NFIELDS; i++) {
		const char *f = fields[i];
		struct mw_err err = { 0 };
		const char *s = NULL;
		int64_t iv = 0x5a5a;
		double d = 0.25;
		bool b = false, present = true;
		json_t *l = (json_t *)1;
		int rc;

		for (int req = 0; req < 2; req++) {
			mw_err_clear(&err);
			s = NULL;
			rc = mw_req_str(o, f, req, 0, &s, &err);
			check_rc(rc, &err);
			if (rc && s)
				abort();
			if (!rc && s && strlen(s) > json_string_length(json_object_get(o, f)))
				abort();
			mw_err_clear(&err);
			rc = mw_req_str(o, f, req, 8, &s, &err);
			check_rc(rc, &err);

			mw_err_clear(&err);
			iv = 0x5a5a;
			rc = mw_req_int64(o, f, req, &iv, &present, &err);
			check_rc(rc, &err);
			if (rc && (iv != 0x5a5a || present))
				abort();

			mw_err_clear(&err);
			d = 0.25;
			rc = mw_req_double(o, f, req, &d, &err);
			check_rc(rc, &err);
			if (rc && d != 0.25)
				abort();
		}
		mw_err_clear(&err);
		rc = mw_req_bool(o, f, &b, &present, &err);
		check_rc(rc, &err);
		if (rc && present)
			abort();

		mw_err_clear(&err);
		rc = mw_req_list(o, f, &l, &err);
		check_rc(rc, &err);
		if (l && !json_is_array(l))
			abort();
		if (rc && l)
			abort();
	}
}

/* Walk "metrics" like run log-batch: each element an object with typed fields. */
static void walk_metrics(json_t *o)
{
	struct mw_err err = { 0 };
	json_t *arr = NULL;
	size_t i;
	json_t *e;

	if (mw_req_list(o, "metrics", &arr, &err) || !arr)
		return;
	json_array_foreach(arr, i, e) {
		const char *key = NULL, *model = NULL;
		double value = 0;
		int64_t ts = 0, step = 0;
		int rc;

		if (!json_is_object(e))
			continue;
		mw_err_clear(&err);
		rc = mw_req_str(e, "key", true, 250, &key, &err);
		if (!rc)
			rc = mw_req_double(e, "value", true, &value, &err);
		if (!rc)
			rc = mw_req_int64(e, "timestamp", true, &ts, NULL, &err);
		if (!rc)
			rc = mw_req_int64(e, "step", false, &step, NULL, &err);
		if (!rc)
			rc = mw_req_str(e, "model_id", false, 0, &model, &err);
		check_rc(rc, &err);
		if (!rc) {
			if (!key || !*key)
				abort();
			if (!mw_utf8_valid(key, strlen(key)))
				abort();
			/* what the store would write back */
			json_t *v = mw_json_double(value);
			char *dump = mw_json_dump(v, NULL);
			free(dump);
			json_decref(v);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mw_err err = { 0 };
	json_t *o = mw_json_parse_body((const char *)data, size, 64, &err);

	if (!o) {
		if ((err.code != MW_E_BAD_REQUEST && err.code != MW_E_INVALID) || !err.msg[0])
			abort();
		return 0;
	}
	if (!json_is_object(o))
		abort();
	if (mw_json_depth((const char *)data, size, 64) > 64)
		abort();

	getters(o);
	walk_metrics(o);

	/* the same message as if decoded from a query string */
	json_object_set_new(o, MW_REQ_FROM_QUERY, json_true());
	for (size_t i = 0; i < NFIELDS; i++) {
		json_t *l = NULL;
		json_t *before = json_object_get(o, fields[i]);
		bool had = before && !json_is_null(before);
		if (mw_req_list(o, fields[i], &l, &err))
			abort(); /* never an error for a query message */
		if (had != (l != NULL) || (l && !json_is_array(l)))
			abort();
		if (l && json_object_get(o, fields[i]) != l)
			abort();
	}
	walk_metrics(o);

	char *dump = mw_json_dump(o, NULL);
	free(dump);
	json_decref(o);
	return 0;
}
