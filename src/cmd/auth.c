/*
 * auth.c - `mw auth init` and `mw auth token create|list|revoke`.
 *
 * init works on a data directory only (the operator's bootstrap): it creates
 * user "admin" (an admin) when no user exists, with the password of
 * --password or MW_ADMIN_PASSWORD.  The token commands work on the server
 * named by --uri / MW_URI, as the user the environment's credentials name
 * (MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME/PASSWORD), or else
 * directly on the data directory, where create makes a token for --user
 * (default admin) and list shows every user's tokens.  A token is printed
 * once, when it is created; the server keeps only its hash.  role sets a
 * user's role (admin, editor, viewer): on the server through
 * /api/mw/users/role (the caller must be an admin), or on the data
 * directory.
 */
#include "cmd/cmd.h"

#include "auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] = "mw auth init [--password P] [--data-dir DIR]\n"
			    "   or: mw auth token create NAME [--expires-in SECONDS] [--scope "
			    "full|inference] [--user U] [--json]\n"
			    "   or: mw auth token list [--all] [--json]\n"
			    "   or: mw auth token revoke ID\n"
			    "   or: mw auth role USER admin|editor|viewer";

static const char ABOUT[] =
	"Authentication (mw server --auth true).  init creates user 'admin' in the data\n"
	"directory when no user exists (password from --password or MW_ADMIN_PASSWORD).\n"
	"token: API tokens of the caller, in the server named by --uri / MW_URI (credentials\n"
	"from MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD),\n"
	"or else directly in the data directory (--data-dir, MW_DATA_DIR, default ./mw-data),\n"
	"where create makes a token for --user (default admin).  A token is shown once.\n"
	"--scope inference makes a token that may only call the serving routes (predictions).\n"
	"role: set a user's role (admin: everything; editor: EDIT on every experiment and\n"
	"model without a permission of its own, and may register Python models; viewer:\n"
	"READ), on the server (as an admin) or in the data directory.";

static void print_tokens(json_t *arr)
{
	size_t n = json_array_size(arr);
	const char **cells = mw_xcalloc(n * 7 + 1, sizeof *cells);
	char(*buf)[4][32] = mw_xcalloc(n + 1, sizeof *buf);
	for (size_t i = 0; i < n; i++) {
		json_t *t = json_array_get(arr, i);
		snprintf(buf[i][0], 32, "%lld",
			 (long long)json_integer_value(json_object_get(t, "id")));
		cells[i * 7 + 0] = buf[i][0];
		cells[i * 7 + 1] = json_string_value(json_object_get(t, "user"));
		cells[i * 7 + 2] = json_string_value(json_object_get(t, "name"));
		const char *sc = json_string_value(json_object_get(t, "scope"));
		cells[i * 7 + 6] = sc ? sc : "full";
		mw_time_fmt(json_integer_value(json_object_get(t, "created_at")), buf[i][1]);
		cells[i * 7 + 3] = buf[i][1];
		json_t *e = json_object_get(t, "expires_at");
		if (e)
			mw_time_fmt(json_integer_value(e), buf[i][2]);
		cells[i * 7 + 4] = e ? buf[i][2] : "never";
		cells[i * 7 + 5] = json_object_get(t, "revoked_at") ? "revoked" : "live";
	}
	static const char *hdr[] = {"ID",    "USER", "NAME", "CREATED (UTC)", "EXPIRES (UTC)",
				    "STATE", "SCOPE"};
	cmd_table(stdout, hdr, 7, cells, n);
	free(cells);
	free(buf);
}

/* The token commands in local mode, on the data directory's store. */
static int token_local(struct mw_client *cl, const char *sub, const char *arg, const char *user,
		       int64_t expires, bool inference, bool all, json_t **resp, struct mw_err *err)
{
	struct mw_authn *a = NULL;
	int rc = mw_auth_new(mw_client_store(cl), &a, err);
	if (rc)
		return rc;
	(void)all;
	if (!strcmp(sub, "create")) {
		char text[64];
		struct mw_token t;
		rc = mw_auth_token_create_scoped(a, NULL, user, arg, expires, inference, text, &t,
						 err);
		if (!rc) {
			t.user = user;
			t.name = arg;
			json_t *o = mw_auth_token_json(&t);
			json_object_set_new(o, "token", json_string(text));
			*resp = json_pack("{s:o}", "token", o);
		}
		memset(text, 0, sizeof text);
	} else if (!strcmp(sub, "list")) {
		struct mw_arena *ar = mw_arena_new(4096);
		struct mw_token *t = NULL;
		size_t n = 0;
		rc = mw_auth_token_list(a, NULL, true, ar, &t, &n, err);
		if (!rc) {
			json_t *arr = json_array();
			for (size_t i = 0; i < n; i++)
				json_array_append_new(arr, mw_auth_token_json(&t[i]));
			*resp = json_pack("{s:o}", "tokens", arr);
		}
		mw_arena_free(ar);
	} else {
		rc = mw_auth_token_revoke(a, NULL, strtoll(arg, NULL, 10), err);
		if (!rc)
			*resp = json_object();
	}
	mw_auth_free(a);
	return rc;
}

static int token_cmd(struct mw_client *cl, const char *sub, const char *arg, struct cmd_opt *opts,
		     size_t nopts)
{
	bool as_json = cmd_flag(opts, nopts, "json");
	int64_t expires = 0;
	const char *ex = cmd_opt(opts, nopts, "expires-in");
	if (ex) {
		char *end;
		long long v = strtoll(ex, &end, 10);
		if (end == ex || *end || v < 0) {
			cmd_error(MW_E_INVALID, "--expires-in is a number of seconds");
			return 2;
		}
		expires = v;
	}
	bool inference = false;
	const char *scope = cmd_opt(opts, nopts, "scope");
	if (scope) {
		struct mw_err se = {0};
		if (strcmp(sub, "create") || mw_auth_scope_parse(scope, &inference, &se)) {
			cmd_error(MW_E_INVALID, "--scope is for token create: full or inference");
			return 2;
		}
	}
	if (!strcmp(sub, "revoke")) {
		char *end;
		long long id = strtoll(arg, &end, 10);
		if (end == arg || *end || id <= 0) {
			cmd_error(MW_E_INVALID, "a token id is a positive integer");
			return 2;
		}
	}
	const char *user = cmd_opt(opts, nopts, "user");
	bool all = cmd_flag(opts, nopts, "all");
	struct mw_err err = {0};
	json_t *resp = NULL;
	int rc;
	if (mw_client_uri(cl)) {
		if (user) {
			cmd_error(MW_E_INVALID, "--user is for the data directory: a server makes "
						"tokens for the caller");
			return 2;
		}
		json_t *req = json_object();
		char path[96];
		const char *method = "GET";
		snprintf(path, sizeof path, "/api/mw/tokens");
		if (!strcmp(sub, "create")) {
			method = "POST";
			json_object_set_new(req, "name", json_string(arg));
			if (expires)
				json_object_set_new(req, "expires_in_s", json_integer(expires));
			if (inference)
				json_object_set_new(req, "scope", json_string("inference"));
		} else if (!strcmp(sub, "list")) {
			if (all)
				json_object_set_new(req, "all", json_string("true"));
		} else {
			method = "DELETE";
			snprintf(path, sizeof path, "/api/mw/tokens/%lld", strtoll(arg, NULL, 10));
		}
		rc = mw_client_native(cl, method, path, NULL, req, &resp, &err);
		json_decref(req);
	} else {
		rc = token_local(cl, sub, arg, user ? user : "admin", expires, inference, all,
				 &resp, &err);
	}
	if (rc)
		return cmd_fail(&err);
	if (as_json) {
		cmd_print_json(stdout, resp);
	} else if (!strcmp(sub, "create")) {
		json_t *t = json_object_get(resp, "token");
		printf("created %s token %lld '%s' (shown once, keep it):\n%s\n",
		       json_string_value(json_object_get(t, "scope"))
			       ? json_string_value(json_object_get(t, "scope"))
			       : "full",
		       (long long)json_integer_value(json_object_get(t, "id")),
		       json_string_value(json_object_get(t, "name")),
		       json_string_value(json_object_get(t, "token")));
	} else if (!strcmp(sub, "list")) {
		print_tokens(json_object_get(resp, "tokens"));
	} else {
		printf("revoked token %s\n", arg);
	}
	json_decref(resp);
	return 0;
}

static int role_cmd(struct mw_client *cl, const char *user, const char *role_name)
{
	enum mw_role role;
	if (!mw_role_parse(role_name, &role)) {
		cmd_error(MW_E_INVALID, "a role is admin, editor or viewer");
		return 2;
	}
	struct mw_err err = {0};
	int rc;
	if (mw_client_uri(cl)) {
		json_t *req = json_pack("{s:s,s:s}", "username", user, "role", role_name);
		json_t *resp = NULL;
		rc = mw_client_native(cl, "PATCH", "/api/mw/users/role", NULL, req, &resp, &err);
		json_decref(req);
		json_decref(resp);
	} else {
		struct mw_authn *a = NULL;
		rc = mw_auth_new(mw_client_store(cl), &a, &err);
		if (!rc)
			rc = mw_auth_user_set_role(a, NULL, user, role, &err);
		mw_auth_free(a);
	}
	if (rc)
		return cmd_fail(&err);
	printf("user %s is now %s %s\n", user, role == MW_ROLE_VIEWER ? "a" : "an", role_name);
	return 0;
}

static int init_cmd(struct mw_client *cl, struct cmd_opt *opts, size_t nopts)
{
	const char *pw = cmd_opt(opts, nopts, "password");
	if (!pw)
		pw = getenv("MW_ADMIN_PASSWORD");
	if (!pw || !*pw) {
		cmd_error(MW_E_INVALID, "mw auth init needs --password or MW_ADMIN_PASSWORD");
		return 2;
	}
	if (mw_client_uri(cl)) {
		cmd_error(MW_E_INVALID, "mw auth init works on a data directory: unset MW_URI");
		return 2;
	}
	struct mw_err err = {0};
	struct mw_authn *a = NULL;
	bool created = false;
	int rc = mw_auth_new(mw_client_store(cl), &a, &err);
	if (!rc)
		rc = mw_auth_ensure_admin(a, pw, &created, &err);
	mw_auth_free(a);
	if (rc)
		return cmd_fail(&err);
	if (!created) {
		cmd_error(MW_E_EXISTS, "users exist already: nothing done");
		return 1;
	}
	printf("created user admin (an admin)\n");
	return 0;
}

int cmd_auth(int argc, char **argv)
{
	struct cmd_opt opts[] = {
		CMD_CLIENT_OPTS,
		{"password", "P", "init: the admin's password (default: env MW_ADMIN_PASSWORD)",
		 NULL, false},
		{"user", "U", "token create on a data directory: whose token (default admin)", NULL,
		 false},
		{"expires-in", "SECONDS", "token create: expire after this many seconds", NULL,
		 false},
		{"all", NULL, "token list: every user's tokens (an admin)", NULL, false},
		{"scope", "SCOPE",
		 "token create: full (default) or inference (serving routes only)", NULL, false},
	};
	size_t nopts = sizeof opts / sizeof *opts;
	const char *pos[4];
	size_t npos;
	int prc = cmd_parse(argc, argv, opts, nopts, pos, 3, &npos, USAGE, ABOUT);
	if (prc)
		return prc < 0 ? 2 : 0;
	bool init = npos == 1 && !strcmp(pos[0], "init");
	bool role = npos == 3 && !strcmp(pos[0], "role");
	bool token = npos >= 2 && !strcmp(pos[0], "token");
	const char *sub = token ? pos[1] : "";
	bool needs_arg = !strcmp(sub, "create") || !strcmp(sub, "revoke");
	if (!init && !role &&
	    !(token && ((needs_arg && npos == 3) || (!strcmp(sub, "list") && npos == 2)))) {
		cmd_usage(stderr, opts, nopts, USAGE, NULL);
		return 2;
	}
	if (init && cmd_opt(opts, nopts, "uri")) {
		cmd_error(MW_E_INVALID,
			  "mw auth init works on a data directory (--data-dir), not a "
			  "server");
		return 2;
	}
	struct mw_err err = {0};
	if (init) { /* the bootstrap may come first: the data directory too */
		const char *dir = cmd_opt(opts, nopts, "data-dir");
		if (!dir)
			dir = getenv("MW_DATA_DIR");
		if (mw_fs_mkdirs(dir && *dir ? dir : "./mw-data", &err))
			return cmd_fail(&err);
	}
	struct mw_client *cl;
	if (mw_client_open(init ? NULL : cmd_opt(opts, nopts, "uri"),
			   cmd_opt(opts, nopts, "data-dir"), &cl, &err))
		return cmd_fail(&err);
	int ret = init   ? init_cmd(cl, opts, nopts)
		  : role ? role_cmd(cl, pos[1], pos[2])
			 : token_cmd(cl, sub, npos == 3 ? pos[2] : "", opts, nopts);
	mw_client_close(cl);
	return ret;
}
