/*
 * common.c - option parsing, tables and the client shared by the commands.
 *
 * Options are tables (struct cmd_opt); a server's options come from the
 * settings table (cmd_settings_parse), so --help, the flags, MW_* and
 * /api/mw/config never disagree.
 *
 * The client has two faces with one behaviour: remote (libcurl to MW_URI,
 * MLflow's REST paths, errors decoded from {error_code, message}) and local
 * (the data directory opened in-process by the application object with the
 * local composition, and the very operations the server runs, looked up by
 * endpoint path).
 */
#include "cmd/cmd.h"

#include "api/api.h"
#include "app/app.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ options */

void cmd_usage(FILE *f, struct cmd_opt *opts, size_t nopts, const char *usage, const char *about)
{
	fprintf(f, "usage: %s\n", usage);
	if (about && *about)
		fprintf(f, "\n%s\n", about);
	if (nopts)
		fprintf(f, "\noptions:\n");
	for (size_t i = 0; i < nopts; i++) {
		char left[64];
		snprintf(left, sizeof left, "--%s%s%s", opts[i].name, opts[i].arg ? " " : "",
			 opts[i].arg ? opts[i].arg : "");
		fprintf(f, "  %-26s %s\n", left, opts[i].help);
	}
	fprintf(f, "  %-26s %s\n", "-h, --help", "show this help");
}

/* The lines of a multi-command usage text ("mw runs list ...\n   or: mw runs
 * search ...\n      continued") for one subcommand, as a usage text of its
 * own (malloc'd), or NULL when none is about sub: `mw runs search --help`
 * shows the usage of search, not of the whole group. */
static char *usage_of(const char *usage, const char *sub)
{
	size_t n = strlen(usage), sl = strlen(sub);
	char *out = mw_xmalloc(n + 1);
	size_t k = 0;
	bool keep = false, any = false;
	for (const char *p = usage; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) + 1 : strlen(p);
		const char *t = p;
		while (*t == ' ')
			t++;
		bool head = !strncmp(t, "or: ", 4) || p == usage;
		if (head) {
			const char *mw = strstr(t, "mw ");
			const char *w = mw ? strchr(mw + 3, ' ') : NULL; /* after "mw <cmd>" */
			keep = w && !strncmp(w + 1, sub, sl) &&
			       (w[1 + sl] == ' ' || w[1 + sl] == '\n' || !w[1 + sl] ||
				w[1 + sl] == '|');
			if (keep && !any && !strncmp(t, "or: ", 4)) { /* first kept: drop "or: " */
				p = t + 4;
				len = e ? (size_t)(e - p) + 1 : strlen(p);
			}
		}
		if (keep) {
			memcpy(out + k, p, len);
			k += len;
			any = true;
		}
		p += len;
	}
	while (k && out[k - 1] == '\n')
		k--;
	out[k] = 0;
	if (!any) {
		free(out);
		return NULL;
	}
	return out;
}

/* --json on the command line: errors are printed as JSON too (cmd_error). */
static bool json_errors;

void cmd_error(int code, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "mw: %s\n", msg);
	if (json_errors) {
		json_t *o = json_pack("{s:s,s:s}", "error_code",
				      mw_err_name(code ? code : MW_E_INTERNAL), "message", msg);
		char *t = json_dumps(o, JSON_INDENT(2));
		fprintf(stdout, "%s\n", t ? t : "{}");
		fflush(stdout);
		free(t);
		json_decref(o);
	}
}

int cmd_fail(const struct mw_err *err)
{
	cmd_error(err->code, "%s", err->msg);
	return 1;
}

/* --ca-cert of this invocation (cmd_parse), over MLFLOW_TRACKING_SERVER_CERT_PATH */
static const char *ca_cert_flag;

int cmd_parse(int argc, char **argv, struct cmd_opt *opts, size_t nopts, const char **pos,
	      size_t maxpos, size_t *npos, const char *usage, const char *about)
{
	*npos = 0;
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--json"))
			json_errors = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			char *own = *npos ? usage_of(usage, pos[0]) : NULL;
			cmd_usage(stdout, opts, nopts, own ? own : usage, about);
			free(own);
			return 1;
		}
		if (!strcmp(a, "--")) {
			for (i++; i < argc; i++) {
				if (*npos >= maxpos)
					goto too_many;
				pos[(*npos)++] = argv[i];
			}
			break;
		}
		if (a[0] == '-' && a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t nl = eq ? (size_t)(eq - name) : strlen(name);
			struct cmd_opt *o = NULL;
			for (size_t k = 0; k < nopts; k++)
				if (strlen(opts[k].name) == nl && !strncmp(opts[k].name, name, nl))
					o = &opts[k];
			if (!o) {
				cmd_error(MW_E_INVALID, "unknown option '%s'", a);
				cmd_usage(stderr, opts, nopts, usage, NULL);
				return -1;
			}
			if (o->arg) {
				if (eq) {
					o->value = eq + 1;
				} else if (i + 1 < argc) {
					o->value = argv[++i];
				} else {
					cmd_error(MW_E_INVALID, "option '--%s' needs a value",
						  o->name);
					return -1;
				}
			} else {
				if (eq) {
					cmd_error(MW_E_INVALID, "option '--%s' takes no value",
						  o->name);
					return -1;
				}
				o->value = "1";
			}
			o->set = true;
			if (!strcmp(o->name, "ca-cert"))
				ca_cert_flag = o->value;
			continue;
		}
		if (*npos >= maxpos)
			goto too_many;
		pos[(*npos)++] = a;
	}
	return 0;
too_many:
	cmd_error(MW_E_INVALID, "too many arguments");
	cmd_usage(stderr, opts, nopts, usage, NULL);
	return -1;
}

const char *cmd_opt(struct cmd_opt *opts, size_t nopts, const char *name)
{
	for (size_t i = 0; i < nopts; i++)
		if (!strcmp(opts[i].name, name))
			return opts[i].set ? opts[i].value : NULL;
	return NULL;
}

bool cmd_flag(struct cmd_opt *opts, size_t nopts, const char *name)
{
	return cmd_opt(opts, nopts, name) != NULL;
}

/* ------------------------------------------------------------ settings as options */

/* The argument name --help shows for a row. */
static const char *setting_arg(const struct mw_setting *s)
{
	switch (s->type) {
	case MW_SETTING_INT: return "N";
	case MW_SETTING_SIZE: return "BYTES";
	case MW_SETTING_BOOL: return "BOOL";
	case MW_SETTING_ENUM: return "NAME";
	case MW_SETTING_DURATION:
		return !strcmp(s->unit, "s") ? "SECONDS" : !strcmp(s->unit, "ms") ? "MS" : "US";
	default: return "VALUE";
	}
}

/* The help line of a row, with its default as it stands before the
 * environment and flags are read (a command may change a default first,
 * e.g. mw serve's port). */
static char *setting_help(const struct mw_setting *s)
{
	size_t n = strlen(s->help) + strlen(s->value) + 48;
	char *h = mw_xmalloc(n);
	if (s->secret)
		snprintf(h, n, "%s (secret; %s by default)", s->help, *s->value ? "set" : "unset");
	else if (!*s->value)
		snprintf(h, n, "%s (empty by default)", s->help);
	else
		snprintf(h, n, "%s (default %s)", s->help, s->value);
	return h;
}

static bool offered(const struct cmd_settings_spec *sp, const char *name)
{
	if (!sp->only)
		return true;
	for (size_t i = 0; i < sp->nonly; i++)
		if (!strcmp(sp->only[i], name))
			return true;
	return false;
}

int cmd_settings_parse_ex(struct mw_settings *set, int argc, char **argv,
			  const struct cmd_settings_spec *sp)
{
	size_t n = mw_settings_count(set);
	struct cmd_opt *opts = mw_xcalloc(n + sp->nextra + 1, sizeof *opts);
	char **helps = mw_xcalloc(n + 1, sizeof *helps);
	size_t no = 0;
	for (size_t i = 0; i < n; i++) {
		const struct mw_setting *s = mw_settings_at(set, i);
		if (!offered(sp, s->name))
			continue;
		helps[no] = setting_help(s);
		opts[no] = (struct cmd_opt){s->name, setting_arg(s), helps[no], NULL, false};
		no++;
	}
	size_t nset = no;
	for (size_t i = 0; i < sp->nextra; i++)
		opts[no++] = sp->extra[i];
	const char *nopos[1];
	size_t npos0;
	struct mw_err err = {0};
	enum mw_log_level lvl = MW_LOG_INFO;
	int rc = cmd_parse(argc, argv, opts, no, sp->pos ? sp->pos : nopos, sp->maxpos,
			   sp->npos ? sp->npos : &npos0, sp->usage, sp->about);
	if (!rc) {
		mw_settings_load_env(set);
		for (size_t i = 0; i < nset && !rc; i++)
			if (opts[i].set)
				rc = mw_settings_apply_flag(set, opts[i].name, opts[i].value, &err);
		if (!rc)
			rc = mw_settings_validate(set, &err);
		if (!rc && mw_log_parse_level(mw_settings_get(set, "log-level"), &lvl))
			rc = mw_err_set(&err, MW_E_INVALID, "unknown log level"); /* validated: never */
		if (rc) {
			cmd_fail(&err);
			rc = -1;
		} else {
			mw_log_set_level(lvl);
		}
	}
	for (size_t i = 0; i < sp->nextra; i++) /* hand the command its own options back */
		sp->extra[i] = opts[nset + i];
	for (size_t i = 0; i < nset; i++)
		free(helps[i]);
	free(helps);
	free(opts);
	return rc;
}

int cmd_settings_parse(struct mw_settings *set, int argc, char **argv, const char *usage,
		       const char *about)
{
	struct cmd_settings_spec sp = {.usage = usage, .about = about};
	return cmd_settings_parse_ex(set, argc, argv, &sp);
}

/* ------------------------------------------------------------ output */


void cmd_table(FILE *f, const char *const *header, size_t ncols, const char *const *cells,
	       size_t nrows)
{
	size_t *w = mw_xcalloc(ncols, sizeof *w);
	for (size_t c = 0; c < ncols; c++)
		w[c] = mw_utf8_chars(header[c]);
	for (size_t r = 0; r < nrows; r++)
		for (size_t c = 0; c < ncols; c++) {
			const char *s = cells[r * ncols + c] ? cells[r * ncols + c] : "";
			if (mw_utf8_chars(s) > w[c])
				w[c] = mw_utf8_chars(s);
		}
	for (size_t r = 0; r <= nrows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			const char *s = r == 0 ? header[c] : cells[(r - 1) * ncols + c];
			if (!s)
				s = "";
			if (c + 1 < ncols)
				fprintf(f, "%s%*s  ", s, (int)(w[c] - mw_utf8_chars(s)), "");
			else
				fprintf(f, "%s", s);
		}
		fputc('\n', f);
	}
	free(w);
}

void cmd_print_json(FILE *f, json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_REAL_PRECISION(17) | JSON_ENCODE_ANY);
	fprintf(f, "%s\n", s ? s : "null");
	free(s);
}

int cmd_print_list(const char *key, json_t *all, bool as_json, void (*print)(json_t *all))
{
	if (as_json) {
		json_t *o = json_pack("{s:O}", key, all);
		cmd_print_json(stdout, o);
		json_decref(o);
	} else {
		print(all);
	}
	json_decref(all);
	return 0;
}

/* ------------------------------------------------------------ client */

struct mw_client {
	char *uri;
	CURL *curl;
	struct mw_settings *set;  /* local mode: the settings of the app */
	struct mw_app *app;       /* local mode: store, blob, track, art, registry */
	struct mw_api_ctx *ctx;   /* local mode: what the app built */
};

const char *mw_client_uri(struct mw_client *c)
{
	return c->uri;
}

struct mw_art *mw_client_art(struct mw_client *c)
{
	return c->ctx ? c->ctx->art : NULL;
}

struct mw_store *mw_client_store(struct mw_client *c)
{
	return c->ctx ? c->ctx->store : NULL;
}

const char *mw_client_user(void)
{
	const char *u = getenv("MW_USER");
	if (!u || !*u)
		u = getenv("USER");
	return u && *u ? u : "cli";
}

void cmd_curl_auth(void *curl)
{
	const char *ca = ca_cert_flag ? ca_cert_flag : getenv("MLFLOW_TRACKING_SERVER_CERT_PATH");
	if (ca && *ca)
		curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
	const char *insecure = getenv("MLFLOW_TRACKING_INSECURE_TLS");
	if (insecure && !strcasecmp(insecure, "true")) {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	const char *tok = getenv("MLFLOW_TRACKING_TOKEN");
	const char *u = getenv("MLFLOW_TRACKING_USERNAME");
	const char *pw = getenv("MLFLOW_TRACKING_PASSWORD");
	if (tok && *tok) {
		curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		curl_easy_setopt(curl, CURLOPT_XOAUTH2_BEARER, tok);
	} else if (u && *u && pw) {
		curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(curl, CURLOPT_USERNAME, u);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, pw);
	}
}

static const char *cli_user(void)
{
	return mw_client_user();
}

static size_t curl_sink(char *p, size_t size, size_t n, void *ud)
{
	struct mw_buf *b = ud;
	if (mw_buf_append(b, p, size * n))
		return 0;
	return size * n;
}

static int open_remote(struct mw_client *c, const char *uri, struct mw_err *err)
{
	c->uri = mw_xstrdup(uri);
	size_t n = strlen(c->uri);
	while (n && c->uri[n - 1] == '/')
		c->uri[--n] = 0;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c->curl = curl_easy_init();
	if (!c->curl)
		return mw_err_set(err, MW_E_INTERNAL, "cannot initialise libcurl");
	return 0;
}

/* The data directory through the application object's local composition.
 * The defaults of mw server, except: one read connection, and local sources
 * allowed (a user's own files are theirs to read).  The environment is not
 * consulted (a CLI call is not configured like a server), except for where
 * the data lives: MW_DATA_DIR (above) and MW_STORE_URI, the metadata store
 * when it is not <data-dir>/mw.db (a secret, so never a flag on a command
 * line others can read). */
static int open_local(struct mw_client *c, const char *data_dir, struct mw_err *err)
{
	struct stat stt;
	if (stat(data_dir, &stt) || !S_ISDIR(stt.st_mode))
		return mw_err_set(err, MW_E_NOT_FOUND,
				  "no data directory at '%s' (set MW_URI to use a server, or --data-dir)",
				  data_dir);
	/* the modules' info lines are a server's log, not a command's output
	 * (MW_LOG_LEVEL=info brings them back) */
	enum mw_log_level lvl = MW_LOG_WARN;
	const char *env = getenv("MW_LOG_LEVEL");
	if (env && mw_log_parse_level(env, &lvl))
		lvl = MW_LOG_WARN;
	mw_log_set_level(lvl);
	c->set = mw_settings_new();
	int rc = mw_settings_set(c->set, "data-dir", data_dir, "cli", err);
	if (!rc)
		rc = mw_settings_set(c->set, "read-conns", "1", "cli", err);
	if (!rc)
		rc = mw_settings_set(c->set, "allow-local-sources", "true", "cli", err);
	const char *store_uri = getenv("MW_STORE_URI");
	if (!rc && store_uri && *store_uri)
		rc = mw_settings_set(c->set, "store-uri", store_uri, "env", err);
	if (!rc)
		rc = mw_settings_validate(c->set, err);
	if (rc)
		return rc;
	size_t n;
	const struct mw_app_module *const *mods = mw_app_local(&n);
	struct mw_app_opts o = {.settings = c->set, .modules = mods, .nmodules = n};
	c->app = mw_app_new(&o);
	rc = mw_app_start(c->app, err);
	if (!rc)
		c->ctx = mw_app_ctx(c->app);
	return rc;
}

int mw_client_open(const char *uri, const char *data_dir, struct mw_client **out,
		   struct mw_err *err)
{
	struct mw_client *c = mw_xcalloc(1, sizeof *c);
	if (!uri || !*uri)
		uri = getenv("MW_URI");
	if (!data_dir || !*data_dir)
		data_dir = getenv("MW_DATA_DIR");
	if (!data_dir || !*data_dir)
		data_dir = "./mw-data";
	int rc = uri && *uri ? open_remote(c, uri, err) : open_local(c, data_dir, err);
	if (rc) {
		mw_client_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void mw_client_close(struct mw_client *c)
{
	if (!c)
		return;
	if (c->curl) {
		curl_easy_cleanup(c->curl);
		curl_global_cleanup();
	}
	mw_app_free(c->app);
	mw_settings_free(c->set);
	free(c->uri);
	free(c);
}

/* A GET message as a query string appended to url (a list repeats its key). */
static void append_query(struct mw_client *c, struct mw_buf *url, json_t *req)
{
	const char *k;
	json_t *v;
	char sep = '?';
	json_object_foreach(req, k, v) {
		size_t n = json_is_array(v) ? json_array_size(v) : 1;
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
			char *ev = NULL;
			if (json_is_string(e)) {
				ev = curl_easy_escape(c->curl, json_string_value(e), 0);
			} else {
				char *s = json_dumps(e, JSON_ENCODE_ANY);
				ev = curl_easy_escape(c->curl, s ? s : "", 0);
				free(s);
			}
			/* a failure is sticky: remote_call checks the URL once */
			(void)!mw_buf_printf(url, "%c%s=%s", sep, k, ev ? ev : "");
			curl_free(ev);
			sep = '&';
		}
	}
}

/* The reply message of a 200, else the server's {error_code, message}. */
static int decode_answer(struct mw_client *c, long status, struct mw_buf *body, json_t **resp,
			 struct mw_err *err)
{
	json_error_t je;
	json_t *v = json_loadb(body->data, body->len, 0, &je);
	int rc = 0;
	if (status == 200 && json_is_object(v)) {
		*resp = v;
		return 0;
	}
	if (json_is_object(v) && json_is_string(json_object_get(v, "message"))) {
		const char *code = json_string_value(json_object_get(v, "error_code"));
		int kind = status == 404 ? MW_E_NOT_FOUND : status >= 500 ? MW_E_INTERNAL : MW_E_INVALID;
		rc = mw_err_set(err, kind, "%s: %s", code ? code : "ERROR",
				json_string_value(json_object_get(v, "message")));
	} else {
		rc = mw_err_set(err, MW_E_INTERNAL, "unexpected answer from %s (HTTP %ld)", c->uri,
				status);
	}
	json_decref(v);
	return rc;
}

static int remote_call(struct mw_client *c, const char *path, const char *method, json_t *req,
		       json_t **resp, struct mw_err *err)
{
	struct mw_buf url, body;
	mw_buf_init(&url, MW_CLI_URL_MAX);
	mw_buf_init(&body, 256u << 20);
	if (path[0] == '/') /* a full path (native routes) */
		(void)!mw_buf_printf(&url, "%s%s", c->uri, path); /* checked below (sticky) */
	else
		(void)!mw_buf_printf(&url, "%s/api/2.0/mlflow/%s", c->uri, path);
	char *payload = NULL;
	curl_easy_reset(c->curl);
	cmd_curl_auth(c->curl);
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	char user_hdr[300];
	snprintf(user_hdr, sizeof user_hdr, "X-MW-User: %.256s", cli_user());
	hdr = curl_slist_append(hdr, user_hdr);
	if (!strcmp(method, "GET")) {
		append_query(c, &url, req);
	} else {
		payload = mw_json_dump(req, NULL);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, payload);
		if (strcmp(method, "POST"))
			curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	}
	if (mw_buf_error(&url)) {
		curl_slist_free_all(hdr);
		free(payload);
		mw_buf_release(&url);
		mw_buf_release(&body);
		return mw_err_set(err, MW_E_TOO_LARGE, "the request's URL would pass %zu bytes",
				  MW_CLI_URL_MAX);
	}
	curl_easy_setopt(c->curl, CURLOPT_URL, url.data);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, curl_sink);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	CURLcode cc = curl_easy_perform(c->curl);
	long status = 0;
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	free(payload);
	int rc = cc != CURLE_OK ? mw_err_set(err, MW_E_UNAVAILABLE, "cannot reach %s: %s", c->uri,
					     curl_easy_strerror(cc))
				: decode_answer(c, status, &body, resp, err);
	mw_buf_release(&url);
	mw_buf_release(&body);
	return rc;
}

int mw_client_call(struct mw_client *c, const char *path, json_t *req, json_t **resp,
		   struct mw_err *err)
{
	const char *method = mw_api_method(path);
	if (!method)
		return mw_err_set(err, MW_E_NO_ENDPOINT, "unknown endpoint %s", path);
	if (c->uri)
		return remote_call(c, path, method, req, resp, err);
	struct mw_call call = {.user = cli_user(), .request_id = ""};
	return mw_api_call(c->ctx, &call, path, req, resp, err);
}

char *mw_client_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct mw_buf b;
	mw_buf_init(&b, 3 * strlen(s) + 1); /* every byte escapes to at most 3 */
	int bad = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			bad |= mw_buf_append(&b, p, 1);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			bad |= mw_buf_append(&b, e, 3);
		}
	}
	if (bad)
		abort(); /* cannot happen: the cap is the largest size */
	char *out = mw_buf_detach(&b, NULL);
	mw_buf_release(&b);
	return out;
}

int mw_client_request(struct mw_client *c, const char *method, const char *path, json_t *req,
		      json_t **resp, struct mw_err *err)
{
	if (c->uri)
		return remote_call(c, path, method, req, resp, err);
	struct mw_call call = {.user = cli_user(), .request_id = ""};
	return mw_api_call_method(c->ctx, &call, method, path, req, resp, err);
}

int mw_client_native(struct mw_client *c, const char *method, const char *path,
		     mw_client_local_fn local, json_t *req, json_t **resp, struct mw_err *err)
{
	if (c->uri)
		return remote_call(c, path, method, req, resp, err);
	struct mw_call call = {.user = cli_user(), .request_id = ""};
	return local(c->ctx->registry, &call, req, resp, err);
}

/* ------------------------------------------------------------ model references */

/* The highest version of a name, or of its versions in one stage. */
static int latest_version(struct mw_client *c, const char *name, const char *stage, json_t **mv,
			  struct mw_err *err)
{
	json_t *req = json_pack("{s:s}", "name", name), *resp = NULL;
	if (stage)
		json_object_set_new(req, "stages", json_pack("[s]", stage));
	int rc = mw_client_request(c, "GET", "registered-models/get-latest-versions", req, &resp,
				   err);
	json_decref(req);
	if (rc)
		return rc;
	json_t *best = NULL;
	int64_t bv = 0;
	json_t *list = json_object_get(resp, "model_versions");
	for (size_t i = 0; i < json_array_size(list); i++) {
		int64_t v;
		const char *vs =
			json_string_value(json_object_get(json_array_get(list, i), "version"));
		if (vs && !mw_parse_int64(vs, &v) && v > bv) {
			bv = v;
			best = json_array_get(list, i);
		}
	}
	if (best)
		*mv = json_incref(best);
	else
		rc = mw_err_set(err, MW_E_NOT_FOUND,
				"registered model '%.100s' has no version%s%.40s", name,
				stage ? " in stage " : "", stage ? stage : "");
	json_decref(resp);
	return rc;
}

int mw_cli_model_version(struct mw_client *c, const char *name, const char *ref, json_t **mv,
			 struct mw_err *err)
{
	*mv = NULL;
	int64_t v;
	if (!ref || !*ref)
		return mw_err_set(err, MW_E_INVALID, "no version, alias or stage of '%.100s' named",
				  name);
	if (ref[0] != '@' && mw_parse_int64(ref, &v))
		return latest_version(c, name, strcasecmp(ref, "latest") ? ref : NULL, mv, err);
	json_t *req = ref[0] == '@' ? json_pack("{s:s,s:s}", "name", name, "alias", ref + 1)
				    : json_pack("{s:s,s:s}", "name", name, "version", ref);
	json_t *resp = NULL;
	int rc = mw_client_request(c, "GET",
				   ref[0] == '@' ? "registered-models/alias" : "model-versions/get",
				   req, &resp, err);
	json_decref(req);
	json_t *got = json_object_get(resp, "model_version");
	if (!rc && !json_is_object(got))
		rc = mw_err_set(err, MW_E_INTERNAL,
				"the registry's answer for '%.100s' has no version", name);
	if (!rc)
		*mv = json_incref(got);
	json_decref(resp);
	return rc;
}

/* ------------------------------------------------------------ option values, paging */

const char *cmd_view_type(const char *view)
{
	return !view || !strcmp(view, "active") ? "ACTIVE_ONLY"
	       : !strcmp(view, "deleted")       ? "DELETED_ONLY"
	       : !strcmp(view, "all")           ? "ALL"
						: NULL;
}

int cmd_max(const char *max, int64_t def, int64_t *limit)
{
	*limit = def;
	if (max && (mw_parse_int64(max, limit) || *limit < 1)) {
		cmd_error(MW_E_INVALID, "--max must be a positive number");
		return -1;
	}
	return 0;
}

json_t *cmd_split_list(const char *s)
{
	json_t *a = json_array();
	char *copy = mw_xstrdup(s ? s : "");
	for (char *p = copy, *e; p; p = e) {
		e = strchr(p, ',');
		if (e)
			*e++ = 0;
		while (*p == ' ')
			p++;
		size_t n = strlen(p);
		while (n && p[n - 1] == ' ')
			p[--n] = 0;
		if (*p)
			json_array_append_new(a, json_string(p));
	}
	free(copy);
	return a;
}

int mw_client_collect(struct mw_client *c, const char *path, json_t *req, const char *field,
		      int64_t limit, json_t **all, struct mw_err *err)
{
	json_t *out = json_array();
	char *tok = NULL;
	int rc = 0;
	do {
		int64_t left = limit - (int64_t)json_array_size(out);
		json_object_set_new(req, "max_results", json_integer(left < 1000 ? left : 1000));
		if (tok)
			json_object_set_new(req, "page_token", json_string(tok));
		json_t *resp = NULL;
		if ((rc = mw_client_call(c, path, req, &resp, err)))
			break;
		json_array_extend(out, json_object_get(resp, field));
		free(tok);
		const char *t = json_string_value(json_object_get(resp, "next_page_token"));
		tok = t ? mw_xstrdup(t) : NULL;
		json_decref(resp);
	} while (tok && (int64_t)json_array_size(out) < limit);
	free(tok);
	if (rc) {
		json_decref(out);
		return rc;
	}
	*all = out;
	return 0;
}
