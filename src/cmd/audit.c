/*
 * audit.c - `mw audit` (list), `mw audit export` (JSON lines) and
 * `mw audit verify` (the hash chain, and an anchor with --expect),
 * `mw audit head` (the anchor: the newest row's seq and hash), on the server named by --uri / MW_URI
 * (GET /api/mw/audit, an admin's credentials from the environment) or
 * directly on the data directory (audit/audit.h, the same messages).
 */
#include "cmd/cmd.h"

#include "audit/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
	"mw audit [--since T] [--until T] [--user U] [--action A] [--resource R] [--limit N] "
	"[--json]\n"
	"   or: mw audit export [--since T] [--until T] [--user U] [--action A] [--resource R] "
	"[--limit N]\n"
	"   or: mw audit verify [--expect SEQ:HASH] [--json]\n"
	"   or: mw audit head [--json]";

static const char ABOUT[] =
	"The audit log: every state change (who, verified or only claimed, when, what,\n"
	"before -> after, request id), oldest first.  export prints every matching entry as\n"
	"JSON lines; verify walks the hash chain (exit status 1 when a row was changed).\n"
	"The chain cannot show that the newest rows were removed: head prints the newest\n"
	"row as SEQ:HASH; keep it elsewhere (a ticket, a log shipper) and later run\n"
	"verify --expect SEQ:HASH, which also fails when that row is gone or differs.\n"
	"Times are ms since the epoch or UTC (2025-01-31, 2025-01-31T12:00:00Z); an action\n"
	"ending in '*' is a prefix (alias.*); a resource is a kind, an id or kind/id.  On a\n"
	"server this needs an admin (MLFLOW_TRACKING_TOKEN or USERNAME/PASSWORD).";

enum audit_call { CALL_LIST, CALL_VERIFY, CALL_HEAD };

static int call_audit(struct mw_client *cl, enum audit_call what, json_t *req, json_t **resp,
		      struct mw_err *err)
{
	static const char *const path[] = {"/api/mw/audit", "/api/mw/audit/verify",
					   "/api/mw/audit/head"};
	if (mw_client_uri(cl))
		return mw_client_native(cl, "GET", path[what], NULL, req, resp, err);
	struct mw_call call = {.user = mw_client_user(), .request_id = ""};
	struct mw_store *st = mw_client_store(cl);
	return what == CALL_VERIFY ? mw_audit_verify(st, &call, req, resp, err)
	       : what == CALL_HEAD ? mw_audit_head(st, &call, req, resp, err)
				   : mw_audit_query(st, &call, req, resp, err);
}

/* mw audit verify: 0 intact, 1 not (or the anchor does not hold), 2 a
 * malformed anchor. */
static int verify(struct mw_client *cl, const char *expect, bool as_json)
{
	struct mw_err err = {0};
	json_t *req = json_object(), *resp = NULL;
	if (expect)
		json_object_set_new(req, "expect", json_string(expect));
	int rc = call_audit(cl, CALL_VERIFY, req, &resp, &err);
	json_decref(req);
	if (rc == -MW_E_INVALID && expect) { /* a malformed anchor: a usage error */
		cmd_error(err.code, "%s", err.msg);
		return 2;
	}
	if (rc)
		return cmd_fail(&err);
	bool ok = json_is_true(json_object_get(resp, "ok"));
	json_t *bad = json_object_get(resp, "first_bad_seq");
	json_t *anchor = json_object_get(resp, "expect");
	if (as_json) {
		cmd_print_json(stdout, resp);
	} else if (json_is_integer(bad)) {
		printf("AUDIT LOG TAMPERED: the chain breaks at seq %lld\n",
		       (long long)json_integer_value(bad));
	} else if (anchor && !json_is_true(json_object_get(anchor, "ok"))) {
		const char *m = json_string_value(json_object_get(anchor, "message"));
		printf("AUDIT LOG TAMPERED: %s\n", m ? m : "the anchor does not hold");
	} else {
		printf("audit log intact: %lld rows, hash chain verified",
		       (long long)json_integer_value(json_object_get(resp, "rows")));
		if (anchor)
			printf(", row %lld matches the anchor",
			       (long long)json_integer_value(json_object_get(anchor, "seq")));
		printf("\n");
	}
	json_decref(resp);
	return ok ? 0 : 1;
}

/* mw audit head: SEQ:HASH, what verify --expect takes. */
static int head(struct mw_client *cl, bool as_json)
{
	struct mw_err err = {0};
	json_t *resp = NULL;
	if (call_audit(cl, CALL_HEAD, NULL, &resp, &err))
		return cmd_fail(&err);
	if (as_json)
		cmd_print_json(stdout, resp);
	else
		printf("%lld:%s\n", (long long)json_integer_value(json_object_get(resp, "seq")),
		       json_string_value(json_object_get(resp, "hash")));
	json_decref(resp);
	return 0;
}

/* "before -> after", compact, cut for a table cell. */
static void change_text(json_t *e, char *out, size_t n)
{
	json_t *b = json_object_get(e, "before"), *a = json_object_get(e, "after");
	char *bs = json_is_null(b) || !b ? NULL : json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
	char *as = json_is_null(a) || !a ? NULL : json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
	if (bs && as)
		snprintf(out, n, "%s -> %s", bs, as);
	else
		snprintf(out, n, "%s", bs ? bs : as ? as : "");
	if (strlen(out) > 80)
		memcpy(out + 77, "...", 4);
	free(bs);
	free(as);
}

static void print_entries(json_t *all)
{
	size_t n = json_array_size(all);
	const char **cells = mw_xcalloc(n * 6 + 1, sizeof *cells);
	char(*buf)[5][160] = mw_xcalloc(n + 1, sizeof *buf);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(all, i);
		snprintf(buf[i][0], 160, "%lld",
			 (long long)json_integer_value(json_object_get(e, "seq")));
		mw_time_fmt(json_integer_value(json_object_get(e, "at")), buf[i][1]);
		const char *u = json_string_value(json_object_get(e, "user"));
		snprintf(buf[i][2], 160, "%.120s%s", u ? u : "",
			 json_is_true(json_object_get(e, "verified")) ? "" : " (unverified)");
		change_text(e, buf[i][3], 160);
		cells[i * 6 + 0] = buf[i][0];
		cells[i * 6 + 1] = buf[i][1];
		cells[i * 6 + 2] = buf[i][2];
		cells[i * 6 + 3] = json_string_value(json_object_get(e, "action"));
		const char *k = json_string_value(json_object_get(e, "kind"));
		const char *r = json_string_value(json_object_get(e, "resource"));
		snprintf(buf[i][4], 160, "%.40s/%.110s", k ? k : "", r ? r : "");
		cells[i * 6 + 4] = buf[i][4];
		cells[i * 6 + 5] = buf[i][3];
	}
	static const char *hdr[] = {"SEQ", "TIME (UTC)", "USER", "ACTION", "RESOURCE", "CHANGE"};
	cmd_table(stdout, hdr, 6, cells, n);
	free(cells);
	free(buf);
}

/* Page through the log: up to limit entries (-1: all), each to fn. */
static int each_entry(struct mw_client *cl, json_t *req, int64_t limit,
		      void (*fn)(void *ctx, json_t *e), void *ctx, struct mw_err *err)
{
	int64_t got = 0;
	for (;;) {
		int64_t want = limit < 0 ? MW_AUDIT_MAX_RESULTS : limit - got;
		if (want > MW_AUDIT_MAX_RESULTS)
			want = MW_AUDIT_MAX_RESULTS;
		if (want <= 0)
			return 0;
		json_object_set_new(req, "max_results", json_integer(want));
		json_t *resp = NULL;
		int rc = call_audit(cl, CALL_LIST, req, &resp, err);
		if (rc)
			return rc;
		json_t *arr = json_object_get(resp, "entries");
		for (size_t i = 0; i < json_array_size(arr); i++)
			fn(ctx, json_array_get(arr, i));
		got += (int64_t)json_array_size(arr);
		json_t *tok = json_object_get(resp, "next_page_token");
		bool more = json_is_string(tok) && json_array_size(arr);
		if (more)
			json_object_set(req, "page_token", tok);
		json_decref(resp);
		if (!more)
			return 0;
	}
}

static void collect(void *ctx, json_t *e)
{
	json_array_append(ctx, e);
}

static void print_line(void *ctx, json_t *e)
{
	(void)ctx;
	char *s = json_dumps(e, JSON_COMPACT | JSON_REAL_PRECISION(17));
	if (s) {
		fputs(s, stdout);
		fputc('\n', stdout);
	}
	free(s);
}

int cmd_audit(int argc, char **argv)
{
	struct cmd_opt opts[] = {
		CMD_CLIENT_OPTS,
		{"since", "T",
		 "entries at or after T (ms since the epoch, or UTC 2025-01-31T12:00Z)", NULL,
		 false},
		{"until", "T", "entries before T", NULL, false},
		{"user", "U", "entries by this user", NULL, false},
		{"action", "A", "entries of this action (alias.set), or a prefix (alias.*)", NULL,
		 false},
		{"resource", "R", "entries about this resource: a kind, an id or kind/id", NULL,
		 false},
		{"limit", "N", "at most N entries (default 100; export: all)", NULL, false},
		{"expect", "SEQ:HASH",
		 "verify: also fail unless row SEQ still has HASH (an anchor from mw audit head)",
		 NULL, false},
	};
	size_t nopts = sizeof opts / sizeof *opts;
	const char *pos[2];
	size_t npos;
	int prc = cmd_parse(argc, argv, opts, nopts, pos, 1, &npos, USAGE, ABOUT);
	if (prc)
		return prc < 0 ? 2 : 0;
	const char *sub = npos ? pos[0] : "";
	bool export = !strcmp(sub, "export"), is_verify = !strcmp(sub, "verify");
	bool is_head = !strcmp(sub, "head");
	if (npos && !export && !is_verify && !is_head) {
		cmd_usage(stderr, opts, nopts, USAGE, NULL);
		return 2;
	}
	const char *expect = cmd_opt(opts, nopts, "expect");
	if (expect && !is_verify) {
		cmd_error(MW_E_INVALID, "--expect goes with mw audit verify");
		return 2;
	}
	int64_t limit = export ? -1 : 100;
	const char *lim = cmd_opt(opts, nopts, "limit");
	if (lim && (mw_parse_int64(lim, &limit) || limit < 1)) {
		cmd_error(MW_E_INVALID, "--limit must be a positive number");
		return 2;
	}
	struct mw_err err = {0};
	struct mw_client *cl;
	if (mw_client_open(cmd_opt(opts, nopts, "uri"), cmd_opt(opts, nopts, "data-dir"), &cl,
			   &err))
		return cmd_fail(&err);
	int ret = 0;
	if (is_verify || is_head) {
		bool as_json = cmd_flag(opts, nopts, "json");
		ret = is_head ? head(cl, as_json) : verify(cl, expect, as_json);
		mw_client_close(cl);
		return ret;
	}
	json_t *req = json_object();
	static const char *const filters[] = {"since", "until", "user", "action", "resource"};
	for (size_t i = 0; i < sizeof filters / sizeof *filters; i++)
		if (cmd_opt(opts, nopts, filters[i]))
			json_object_set_new(req, filters[i],
					    json_string(cmd_opt(opts, nopts, filters[i])));
	if (export) {
		if (each_entry(cl, req, limit, print_line, NULL, &err))
			ret = cmd_fail(&err);
	} else {
		json_t *all = json_array();
		if (each_entry(cl, req, limit, collect, all, &err)) {
			json_decref(all);
			ret = cmd_fail(&err);
		} else {
			ret = cmd_print_list("entries", all, cmd_flag(opts, nopts, "json"),
					     print_entries);
		}
	}
	json_decref(req);
	mw_client_close(cl);
	return ret;
}
