/*
 * common.c - option parsing, tables and the client shared by the commands.
 *
 * The client has two faces with one behaviour: remote (libcurl to MW_URI,
 * MLflow's REST paths, errors decoded from {error_code, message}) and local
 * (the store opened in-process, the very operations the server runs, looked
 * up by endpoint path).
 */
#include "cmd/cmd.h"

#include "api/api.h"
#include "store/store.h"
#include "track/track.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int cmd_parse(int argc, char **argv, struct cmd_opt *opts, size_t nopts, const char **pos,
	      size_t maxpos, size_t *npos, const char *usage, const char *about)
{
	*npos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cmd_usage(stdout, opts, nopts, usage, about);
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
				fprintf(stderr, "mw: unknown option '%s'\n", a);
				cmd_usage(stderr, opts, nopts, usage, NULL);
				return -1;
			}
			if (o->arg) {
				if (eq) {
					o->value = eq + 1;
				} else if (i + 1 < argc) {
					o->value = argv[++i];
				} else {
					fprintf(stderr, "mw: option '--%s' needs a value\n", o->name);
					return -1;
				}
			} else {
				if (eq) {
					fprintf(stderr, "mw: option '--%s' takes no value\n", o->name);
					return -1;
				}
				o->value = "1";
			}
			o->set = true;
			continue;
		}
		if (*npos >= maxpos)
			goto too_many;
		pos[(*npos)++] = a;
	}
	return 0;
too_many:
	fprintf(stderr, "mw: too many arguments\n");
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

/* ------------------------------------------------------------ client */

struct mw_client {
	char *uri;
	CURL *curl;
	struct mw_store *store;
	struct mw_blob *blob;
	struct mw_track *track;
	struct mw_registry *registry;
	struct mw_art *art;
	struct mw_api_ctx ctx;
};

const char *mw_client_uri(struct mw_client *c)
{
	return c->uri;
}

struct mw_art *mw_client_art(struct mw_client *c)
{
	return c->art;
}

const char *mw_client_user(void)
{
	const char *u = getenv("MW_USER");
	if (!u || !*u)
		u = getenv("USER");
	return u && *u ? u : "cli";
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

int mw_client_open(const char *uri, const char *data_dir, struct mw_client **out,
		   struct mw_err *err)
{
	struct mw_client *c = mw_xcalloc(1, sizeof *c);
	if (!uri || !*uri)
		uri = getenv("MW_URI");
	if (uri && *uri) {
		c->uri = mw_xstrdup(uri);
		size_t n = strlen(c->uri);
		while (n && c->uri[n - 1] == '/')
			c->uri[--n] = 0;
		curl_global_init(CURL_GLOBAL_DEFAULT);
		c->curl = curl_easy_init();
		if (!c->curl) {
			free(c->uri);
			free(c);
			return mw_err_set(err, MW_E_INTERNAL, "cannot initialise libcurl");
		}
		*out = c;
		return 0;
	}
	if (!data_dir || !*data_dir)
		data_dir = getenv("MW_DATA_DIR");
	if (!data_dir || !*data_dir)
		data_dir = "./mw-data";
	struct stat stt;
	if (stat(data_dir, &stt) || !S_ISDIR(stt.st_mode)) {
		free(c);
		return mw_err_set(err, MW_E_NOT_FOUND,
				  "no data directory at '%s' (set MW_URI to use a server, or --data-dir)",
				  data_dir);
	}
	struct mw_store_opts so = {.data_dir = data_dir, .read_conns = 1, .sync_full = true};
	struct mw_blob_opts bo = {.data_dir = data_dir};
	int rc = mw_store_open(&so, &c->store, err);
	if (!rc)
		rc = mw_blob_open(&bo, &c->blob, err);
	if (!rc) {
		struct mw_track_opts to = {.artifact_root = "mlflow-artifacts:/",
					   .truncate_long_values = true};
		rc = mw_track_new(c->store, &to, &c->track, err);
	}
	if (!rc)
		rc = mw_registry_new(c->store, c->blob, &c->registry, err);
	if (!rc) /* the user's own files: a local source is theirs to read */
		mw_registry_allow_local_sources(c->registry, true);
	if (!rc)
		rc = mw_art_new(c->store, c->blob, &c->art, err);
	if (rc) {
		mw_client_close(c);
		return rc;
	}
	c->ctx.track = c->track;
	c->ctx.registry = c->registry;
	c->ctx.blob = c->blob;
	c->ctx.art = c->art;
	c->ctx.store = c->store;
	c->ctx.max_json_depth = 64;
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
	mw_registry_free(c->registry);
	mw_art_free(c->art);
	mw_track_free(c->track);
	mw_blob_close(c->blob);
	mw_store_close(c->store);
	free(c->uri);
	free(c);
}

static int remote_call(struct mw_client *c, const char *path, const char *method, json_t *req,
		       json_t **resp, struct mw_err *err)
{
	bool is_get = !strcmp(method, "GET");
	struct mw_buf url, body;
	mw_buf_init(&url, 0);
	mw_buf_init(&body, 256u << 20);
	if (path[0] == '/') /* a full path (native routes) */
		mw_buf_printf(&url, "%s%s", c->uri, path);
	else
		mw_buf_printf(&url, "%s/api/2.0/mlflow/%s", c->uri, path);
	char *payload = NULL;
	curl_easy_reset(c->curl);
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	char user_hdr[300];
	snprintf(user_hdr, sizeof user_hdr, "X-MW-User: %.256s", cli_user());
	hdr = curl_slist_append(hdr, user_hdr);
	if (is_get) {
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
				mw_buf_printf(&url, "%c%s=%s", sep, k, ev ? ev : "");
				curl_free(ev);
				sep = '&';
			}
		}
	} else {
		payload = mw_json_dump(req, NULL);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, payload);
		if (strcmp(method, "POST"))
			curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
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
	int rc = 0;
	if (cc != CURLE_OK) {
		rc = mw_err_set(err, MW_E_UNAVAILABLE, "cannot reach %s: %s", c->uri,
				curl_easy_strerror(cc));
	} else {
		json_error_t je;
		json_t *v = json_loadb(body.data, body.len, 0, &je);
		if (status == 200 && json_is_object(v)) {
			*resp = v;
			v = NULL;
		} else if (json_is_object(v) && json_is_string(json_object_get(v, "message"))) {
			const char *code = json_string_value(json_object_get(v, "error_code"));
			int kind = status == 404 ? MW_E_NOT_FOUND : status >= 500 ? MW_E_INTERNAL : MW_E_INVALID;
			rc = mw_err_set(err, kind, "%s: %s", code ? code : "ERROR",
					json_string_value(json_object_get(v, "message")));
		} else {
			rc = mw_err_set(err, MW_E_INTERNAL, "unexpected answer from %s (HTTP %ld)",
					c->uri, status);
		}
		json_decref(v);
	}
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
	return mw_api_call(&c->ctx, &call, path, req, resp, err);
}

char *mw_client_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct mw_buf b;
	mw_buf_init(&b, 0);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			mw_buf_append(&b, p, 1);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			mw_buf_append(&b, e, 3);
		}
	}
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
	return mw_api_call_method(&c->ctx, &call, method, path, req, resp, err);
}

int mw_client_native(struct mw_client *c, const char *method, const char *path,
		     mw_client_local_fn local, json_t *req, json_t **resp, struct mw_err *err)
{
	if (c->uri)
		return remote_call(c, path, method, req, resp, err);
	struct mw_call call = {.user = cli_user(), .request_id = ""};
	return local(c->registry, &call, req, resp, err);
}
