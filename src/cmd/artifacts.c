/*
 * artifacts.c - `mw artifacts upload|download|ls`, `mw fsck`, `mw gc`.
 *
 * Remote mode (MW_URI / --uri) streams through the server's artifact proxy
 * with libcurl: uploads are PUT straight from the file, downloads are written
 * to a temporary file while hashed, checked against the ETag (the SHA-256 the
 * server stores) and only then renamed into place.  Local mode uses the data
 * directory's blob store directly.  A progress line is drawn on stderr when it
 * is a terminal.
 */
#include "cmd/cmd.h"

#include "registry/registry.h"

#include "art/art.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char USAGE[] =
	"mw artifacts upload LOCAL_PATH DEST [--run-id RUN] [--json]\n"
	"   or: mw artifacts download SOURCE [LOCAL_DIR] [--json]\n"
	"   or: mw artifacts ls [SOURCE] [--json]";

static const char ABOUT[] =
	"Move files in and out of mw's artifact store.  DEST and SOURCE are artifact paths\n"
	"(\"0/<run>/artifacts/model\") or URIs: runs:/<run>/<path>, models:/<name>/<version>,\n"
	"models:/<name>/<stage>, models:/<name>/latest, models:/<name>@<alias>,\n"
	"mlflow-artifacts:/<path>.  With --run-id, DEST is relative to that run's artifact\n"
	"root.  Directories are uploaded and downloaded recursively: a model's files land\n"
	"directly in LOCAL_DIR (./<name> when LOCAL_DIR is not given), any other path's\n"
	"last part is kept (runs:/<run>/model -> LOCAL_DIR/model/).  Every download is\n"
	"checked against the SHA-256 the store keeps for the file.";

/* ------------------------------------------------------------ progress */

struct progress {
	const char *name;
	uint64_t total;
	uint64_t start_ns;
	bool tty;
	uint64_t drawn_ns; /* when the line was last drawn */
};

/* The progress line on a terminal: the file's name (its end, when long),
 * percent, size and rate; drawn at most ten times a second, and once more at
 * the end. */
static void progress_show(struct progress *p, uint64_t done, bool last)
{
	if (!p->tty)
		return;
	uint64_t now = mw_mono_ns();
	if (!last && p->drawn_ns && now - p->drawn_ns < 100000000ull)
		return;
	p->drawn_ns = now;
	double secs = (double)(now - p->start_ns) / 1e9;
	double mbs = secs > 0 ? (double)done / 1e6 / secs : 0;
	size_t nl = strlen(p->name);
	const char *name = nl > 40 ? p->name + nl - 40 : p->name;
	if (p->total)
		fprintf(stderr, "\r  %-40.40s %3d%%  %8.1f MB  %7.1f MB/s", name,
			(int)(100.0 * (double)done / (double)p->total), (double)done / 1e6, mbs);
	else
		fprintf(stderr, "\r  %-40.40s %8.1f MB  %7.1f MB/s", name, (double)done / 1e6, mbs);
	if (last)
		fputc('\n', stderr);
}

static int xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		    curl_off_t ulnow)
{
	struct progress *p = ud;
	if (ultotal > 0)
		progress_show(p, (uint64_t)ulnow, false);
	else if (dltotal > 0 || dlnow > 0) {
		p->total = (uint64_t)dltotal;
		progress_show(p, (uint64_t)dlnow, false);
	}
	return 0;
}

/* ------------------------------------------------------------ remote helpers */

static char *url_of(struct mw_client *cl, CURL *curl, const char *path)
{
	/* escape every segment, keep the slashes */
	struct mw_buf b;
	/* every byte escapes to at most 3: the cap cannot be reached */
	mw_buf_init(&b, strlen(mw_client_uri(cl)) + 3 * strlen(path) + 64);
	int bad = mw_buf_printf(&b, "%s/api/2.0/mlflow-artifacts/artifacts/", mw_client_uri(cl));
	const char *seg = path;
	while (seg) {
		const char *e = strchr(seg, '/');
		size_t n = e ? (size_t)(e - seg) : strlen(seg);
		char *esc = curl_easy_escape(curl, seg, (int)n);
		bad |= mw_buf_puts(&b, esc ? esc : "");
		curl_free(esc);
		if (e)
			bad |= mw_buf_puts(&b, "/");
		seg = e ? e + 1 : NULL;
	}
	if (bad)
		abort(); /* cannot happen: the cap is the largest size */
	char *s = mw_buf_detach(&b, NULL);
	mw_buf_release(&b);
	return s;
}

static size_t sink_buf(char *p, size_t size, size_t n, void *ud)
{
	return mw_buf_append(ud, p, size * n) ? 0 : size * n;
}

/* Decode a JSON error reply into err. */
static int http_error(long status, struct mw_buf *body, struct mw_err *err)
{
	json_error_t je;
	json_t *v = json_loadb(body->data, body->len, 0, &je);
	const char *msg = json_string_value(json_object_get(v, "message"));
	int kind = status == 404 ? MW_E_NOT_FOUND : status >= 500 ? MW_E_IO : MW_E_INVALID;
	int rc = mw_err_set(err, kind, "HTTP %ld: %s", status, msg ? msg : "unexpected answer");
	json_decref(v);
	return rc;
}

/* POST a JSON message to a native path (/api/mw/...). */
static int native_post(struct mw_client *cl, const char *path, json_t *req, json_t **resp,
		       struct mw_err *err)
{
	CURL *curl = curl_easy_init();
	if (!curl)
		return mw_err_set(err, MW_E_INTERNAL, "cannot initialise libcurl");
	struct mw_buf body;
	mw_buf_init(&body, 64u << 20);
	char *url = mw_xmalloc(strlen(mw_client_uri(cl)) + strlen(path) + 1);
	snprintf(url, strlen(mw_client_uri(cl)) + strlen(path) + 1, "%s%s", mw_client_uri(cl),
		 path);
	char *payload = mw_json_dump(req, NULL);
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	cmd_curl_auth(curl);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink_buf);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	CURLcode cc = curl_easy_perform(curl);
	long status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	int rc = 0;
	if (cc != CURLE_OK) {
		rc = mw_err_set(err, MW_E_UNAVAILABLE, "cannot reach %s: %s", mw_client_uri(cl),
				curl_easy_strerror(cc));
	} else if (status != 200) {
		rc = http_error(status, &body, err);
	} else {
		json_error_t je;
		*resp = json_loadb(body.data, body.len, 0, &je);
		if (!*resp)
			rc = mw_err_set(err, MW_E_INTERNAL, "the server's answer is not JSON");
	}
	curl_slist_free_all(hdr);
	free(payload);
	free(url);
	mw_buf_release(&body);
	curl_easy_cleanup(curl);
	return rc;
}

/* ------------------------------------------------------------ source resolution */

/* An artifact path for a URI or path argument (malloc'd). */
static int resolve(struct mw_client *cl, const char *src, char **path, struct mw_err *err)
{
	json_t *req = json_object(), *resp = NULL;
	int rc = 0;
	char *uri = NULL;
	const char *r, *m;
	if ((r = mw_uri_prefix(src, "runs:/"))) {
		const char *slash = strchr(r, '/');
		char *run = slash ? mw_xstrndup(r, (size_t)(slash - r)) : mw_xstrdup(r);
		json_object_set_new(req, "run_id", json_string(run));
		free(run);
		rc = mw_client_call(cl, "runs/get", req, &resp, err);
		if (!rc) {
			const char *au = json_string_value(json_object_get(
				json_object_get(json_object_get(resp, "run"), "info"), "artifact_uri"));
			size_t n = strlen(au ? au : "") + strlen(slash ? slash : "") + 2;
			uri = mw_xmalloc(n);
			snprintf(uri, n, "%s%s", au ? au : "", slash && slash[1] ? slash : "");
		}
	} else if ((m = mw_uri_prefix(src, "models:/"))) {
		/* any reference MLflow takes: a version, a stage, latest, @alias */
		char *name = NULL, *ref = NULL;
		json_t *mv = NULL;
		rc = mw_registry_parse_uri(src, &name, &ref, err);
		if (!rc)
			rc = mw_cli_model_version(cl, name, ref, &mv, err);
		if (!rc) {
			json_object_clear(req);
			json_object_set_new(req, "name", json_string(name));
			json_object_set(req, "version", json_object_get(mv, "version"));
			rc = mw_client_call(cl, "model-versions/get-download-uri", req, &resp, err);
			const char *au = json_string_value(json_object_get(resp, "artifact_uri"));
			if (!rc)
				uri = mw_xstrdup(au ? au : "");
		}
		json_decref(mv);
		free(name);
		free(ref);
	} else if (mw_uri_prefix(src, "mlflow-artifacts:")) {
		uri = mw_xstrdup(src);
	}
	json_decref(req);
	json_decref(resp);
	if (rc) {
		free(uri);
		return rc;
	}
	if (uri) {
		rc = mw_art_uri_to_path(uri, path, err);
		free(uri);
		return rc;
	}
	return mw_art_path_normalize(src, true, path, err);
}

/* ------------------------------------------------------------ listing */

static int list_dir(struct mw_client *cl, const char *dir, json_t **out, struct mw_err *err)
{
	if (!mw_client_uri(cl))
		return mw_art_list(mw_client_art(cl), dir, out, err);
	CURL *curl = curl_easy_init();
	if (!curl)
		return mw_err_set(err, MW_E_INTERNAL, "cannot initialise libcurl");
	char *esc = curl_easy_escape(curl, dir, 0);
	size_t n = strlen(mw_client_uri(cl)) + strlen(esc ? esc : "") + 64;
	char *url = mw_xmalloc(n);
	snprintf(url, n, "%s/api/2.0/mlflow-artifacts/artifacts?path=%s", mw_client_uri(cl),
		 esc ? esc : "");
	curl_free(esc);
	struct mw_buf body;
	mw_buf_init(&body, 256u << 20);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	cmd_curl_auth(curl);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink_buf);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	CURLcode cc = curl_easy_perform(curl);
	long status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	int rc = 0;
	if (cc != CURLE_OK) {
		rc = mw_err_set(err, MW_E_UNAVAILABLE, "cannot reach %s: %s", mw_client_uri(cl),
				curl_easy_strerror(cc));
	} else if (status != 200) {
		rc = http_error(status, &body, err);
	} else {
		json_error_t je;
		*out = json_loadb(body.data, body.len, 0, &je);
		if (!*out)
			rc = mw_err_set(err, MW_E_INTERNAL, "the server's listing is not JSON");
	}
	free(url);
	mw_buf_release(&body);
	curl_easy_cleanup(curl);
	return rc;
}

/* ------------------------------------------------------------ upload */

struct etag {
	char digest[65];
};

static size_t header_cb(char *p, size_t size, size_t n, void *ud)
{
	struct etag *e = ud;
	size_t len = size * n;
	if (len > 6 && !strncasecmp(p, "ETag:", 5)) {
		const char *q = memchr(p, '"', len);
		if (q && (size_t)(p + len - q) > 65) {
			memcpy(e->digest, q + 1, 64);
			e->digest[64] = 0;
		}
	}
	return len;
}

/* The file being uploaded, hashed as curl reads it. */
struct reading {
	FILE *f;
	struct mw_sha256 *h;
};

static size_t read_file(char *p, size_t size, size_t n, void *ud)
{
	struct reading *r = ud;
	size_t k = fread(p, size, n, r->f);
	mw_sha256_update(r->h, p, k * size);
	return k;
}

/* The digest a path holds now ("" when it names no file). */
static void current_digest(struct mw_client *cl, const char *path, char out[65])
{
	out[0] = 0;
	if (!mw_client_uri(cl)) {
		int fd;
		struct mw_art_entry e;
		struct mw_err err = {0};
		if (!mw_art_open(mw_client_art(cl), path, &fd, &e, &err)) {
			close(fd);
			memcpy(out, e.digest, 65);
		}
		return;
	}
	CURL *curl = curl_easy_init();
	char *url = url_of(cl, curl, path);
	struct etag et = {""};
	curl_easy_setopt(curl, CURLOPT_URL, url);
	cmd_curl_auth(curl);
	curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &et);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
	long status = 0;
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200)
		memcpy(out, et.digest, 65);
	free(url);
	curl_easy_cleanup(curl);
}

static int upload_file(struct mw_client *cl, const char *local, const char *dest,
		       json_t *report, struct mw_err *err)
{
	FILE *f = fopen(local, "rb");
	if (!f)
		return mw_err_set(err, MW_E_IO, "cannot open %s: %s", local, strerror(errno));
	struct stat st;
	fstat(fileno(f), &st);
	struct progress pr = {dest, (uint64_t)st.st_size, mw_mono_ns(), isatty(2), 0};
	int rc = 0;
	char digest[65] = "", before[65];
	current_digest(cl, dest, before);
	if (!mw_client_uri(cl)) {
		struct mw_art_upload *u;
		struct mw_call local_call = {.user = mw_client_user(), .request_id = ""};
		rc = mw_art_upload_begin(mw_client_art(cl), &local_call, dest, &u, err);
		char *buf = mw_xmalloc(1 << 20);
		uint64_t done = 0;
		while (!rc) {
			size_t k = fread(buf, 1, 1 << 20, f);
			if (!k)
				break;
			rc = mw_art_upload_data(u, buf, k, err);
			done += k;
			progress_show(&pr, done, false);
		}
		free(buf);
		if (!rc && ferror(f))
			rc = mw_err_set(err, MW_E_IO, "read %s: %s", local, strerror(errno));
		if (rc) {
			if (u)
				mw_art_upload_abort(u);
		} else {
			uint64_t sz;
			rc = mw_art_upload_commit(u, digest, &sz, err);
		}
	} else {
		CURL *curl = curl_easy_init();
		char *url = url_of(cl, curl, dest);
		struct mw_buf body;
		mw_buf_init(&body, 1u << 20);
		struct curl_slist *hdr = curl_slist_append(NULL, "Expect:");
		hdr = curl_slist_append(hdr, "Content-Type: application/octet-stream");
		curl_easy_setopt(curl, CURLOPT_URL, url);
		cmd_curl_auth(curl);
		curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
		struct reading rd = {f, mw_sha256_new()};
		curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_file);
		curl_easy_setopt(curl, CURLOPT_READDATA, &rd);
		curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink_buf);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
		curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, xferinfo);
		curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &pr);
		CURLcode cc = curl_easy_perform(curl);
		long status = 0;
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		if (cc != CURLE_OK)
			rc = mw_err_set(err, MW_E_UNAVAILABLE, "upload of %s failed: %s", local,
					curl_easy_strerror(cc));
		else if (status != 200)
			rc = http_error(status, &body, err);
		mw_sha256_final(rd.h, digest);
		curl_slist_free_all(hdr);
		free(url);
		mw_buf_release(&body);
		curl_easy_cleanup(curl);
	}
	fclose(f);
	progress_show(&pr, pr.total, true);
	if (!rc) {
		json_t *e = json_pack("{s:s,s:s,s:I,s:s}", "local", local, "path", dest, "size",
				      (json_int_t)st.st_size, "sha256", digest);
		/* nothing is replaced silently: say what the path held before */
		if (*before && strcmp(before, digest))
			json_object_set_new(e, "replaced", json_string(before));
		else if (*before)
			json_object_set_new(e, "unchanged", json_true());
		json_array_append_new(report, e);
	}
	return rc;
}

static int upload_tree(struct mw_client *cl, const char *local, const char *dest, json_t *report,
		       struct mw_err *err)
{
	struct stat st;
	if (lstat(local, &st))
		return mw_err_set(err, MW_E_NOT_FOUND, "%s: %s", local, strerror(errno));
	if (S_ISLNK(st.st_mode)) {
		fprintf(stderr, "mw: skipping symbolic link %s\n", local);
		return 0;
	}
	if (S_ISREG(st.st_mode))
		return upload_file(cl, local, dest, report, err);
	if (!S_ISDIR(st.st_mode))
		return mw_err_set(err, MW_E_INVALID, "%s is not a file or a directory", local);
	DIR *d = opendir(local);
	if (!d)
		return mw_err_set(err, MW_E_IO, "%s: %s", local, strerror(errno));
	int rc = 0;
	struct dirent *e;
	while (!rc && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		size_t n1 = strlen(local) + strlen(e->d_name) + 2;
		size_t n2 = strlen(dest) + strlen(e->d_name) + 2;
		char *l = mw_xmalloc(n1), *dd = mw_xmalloc(n2);
		snprintf(l, n1, "%s/%s", local, e->d_name);
		snprintf(dd, n2, "%s%s%s", dest, *dest ? "/" : "", e->d_name);
		rc = upload_tree(cl, l, dd, report, err);
		free(l);
		free(dd);
	}
	closedir(d);
	return rc;
}

/* ------------------------------------------------------------ download */

struct dl {
	int fd;
	struct mw_sha256 *h;
	uint64_t n;
	int werr;
};

static size_t dl_write(char *p, size_t size, size_t n, void *ud)
{
	struct dl *d = ud;
	size_t len = size * n, off = 0;
	while (off < len) {
		ssize_t k = write(d->fd, p + off, len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			d->werr = errno;
			return 0;
		}
		off += (size_t)k;
	}
	mw_sha256_update(d->h, p, len);
	d->n += len;
	return len;
}

static int mkdirs_for(const char *file)
{
	char *p = mw_xstrdup(file);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		mkdir(p, 0755);
		*s = '/';
	}
	free(p);
	return 0;
}

static int download_file(struct mw_client *cl, const char *path, const char *local,
			 uint64_t expect_size, json_t *report, struct mw_err *err)
{
	mkdirs_for(local);
	size_t tn = strlen(local) + 16;
	char *tmp = mw_xmalloc(tn);
	snprintf(tmp, tn, "%s.mw-part", local);
	struct dl d = {.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
	if (d.fd < 0) {
		int rc = mw_err_set(err, MW_E_IO, "cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return rc;
	}
	d.h = mw_sha256_new();
	struct progress pr = {path, expect_size, mw_mono_ns(), isatty(2), 0};
	char want[65] = "";
	int rc = 0;
	if (!mw_client_uri(cl)) {
		int fd;
		struct mw_art_entry e;
		rc = mw_art_open(mw_client_art(cl), path, &fd, &e, err);
		if (!rc) {
			memcpy(want, e.digest, 65);
			pr.total = e.size;
			char *buf = mw_xmalloc(1 << 20);
			for (;;) {
				ssize_t k = read(fd, buf, 1 << 20);
				if (k < 0 && errno == EINTR)
					continue;
				if (k <= 0) {
					if (k < 0)
						rc = mw_err_set(err, MW_E_IO, "read: %s", strerror(errno));
					break;
				}
				if (dl_write(buf, 1, (size_t)k, &d) != (size_t)k) {
					rc = mw_err_set(err, MW_E_IO, "write %s: %s", tmp,
							strerror(d.werr));
					break;
				}
				progress_show(&pr, d.n, false);
			}
			free(buf);
			close(fd);
		}
	} else {
		CURL *curl = curl_easy_init();
		char *url = url_of(cl, curl, path);
		struct etag et = {""};
		curl_easy_setopt(curl, CURLOPT_URL, url);
		cmd_curl_auth(curl);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, dl_write);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, &d);
		curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024); /* fewer, larger writes */
		curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
		curl_easy_setopt(curl, CURLOPT_HEADERDATA, &et);
		curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, xferinfo);
		curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &pr);
		CURLcode cc = curl_easy_perform(curl);
		long status = 0;
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		if (cc != CURLE_OK)
			rc = mw_err_set(err, MW_E_UNAVAILABLE, "download of %s failed: %s", path,
					d.werr ? strerror(d.werr) : curl_easy_strerror(cc));
		else if (status != 200)
			rc = mw_err_set(err, status == 404 ? MW_E_NOT_FOUND : MW_E_IO,
					"download of %s: HTTP %ld", path, status);
		memcpy(want, et.digest, 65);
		free(url);
		curl_easy_cleanup(curl);
	}
	char got[65];
	mw_sha256_final(d.h, got);
	if (!rc && fsync(d.fd))
		rc = mw_err_set(err, MW_E_IO, "fsync %s: %s", tmp, strerror(errno));
	close(d.fd);
	if (!rc && *want && strcmp(want, got))
		rc = mw_err_set(err, MW_E_IO,
				"%s arrived with SHA-256 %.12s..., the store says %.12s...: not saved",
				path, got, want);
	if (!rc && rename(tmp, local))
		rc = mw_err_set(err, MW_E_IO, "rename %s: %s", local, strerror(errno));
	if (rc)
		unlink(tmp);
	progress_show(&pr, d.n, true);
	if (!rc)
		json_array_append_new(report, json_pack("{s:s,s:s,s:I,s:s,s:b}", "path", path, "local",
							local, "size", (json_int_t)d.n, "sha256",
							got, "verified", *want != 0));
	free(tmp);
	return rc;
}

static int download_tree(struct mw_client *cl, const char *path, const char *local,
			 json_t *report, int depth, struct mw_err *err)
{
	if (depth > 64)
		return mw_err_set(err, MW_E_INVALID, "%s: directories nest too deep", path);
	json_t *listing = NULL;
	int rc = list_dir(cl, path, &listing, err);
	if (rc)
		return rc;
	json_t *files = json_object_get(listing, "files");
	if (!json_array_size(files)) {
		json_decref(listing);
		/* not a directory: a single file */
		return download_file(cl, path, local, 0, report, err);
	}
	for (size_t i = 0; !rc && i < json_array_size(files); i++) {
		json_t *f = json_array_get(files, i);
		const char *base = json_string_value(json_object_get(f, "path"));
		size_t n1 = strlen(path) + strlen(base) + 2, n2 = strlen(local) + strlen(base) + 2;
		char *p = mw_xmalloc(n1), *l = mw_xmalloc(n2);
		snprintf(p, n1, "%s%s%s", path, *path ? "/" : "", base);
		snprintf(l, n2, "%s/%s", local, base);
		if (json_is_true(json_object_get(f, "is_dir")))
			rc = download_tree(cl, p, l, report, depth + 1, err);
		else
			rc = download_file(cl, p, l,
					   (uint64_t)json_integer_value(json_object_get(f, "file_size")),
					   report, err);
		free(p);
		free(l);
	}
	json_decref(listing);
	return rc;
}

/* ------------------------------------------------------------ for other commands */

int mw_cli_download(struct mw_client *cl, const char *src, const char *local_dir,
		    struct mw_err *err)
{
	char *path = NULL;
	int rc = resolve(cl, src, &path, err);
	if (rc)
		return rc;
	json_t *report = json_array();
	rc = download_tree(cl, path, local_dir, report, 0, err);
	json_decref(report);
	free(path);
	return rc;
}

int mw_cli_upload(struct mw_client *cl, const char *local, const char *dest, json_t *report,
		  struct mw_err *err)
{
	char *path = NULL;
	int rc = resolve(cl, dest, &path, err);
	if (!rc)
		rc = upload_tree(cl, local, path, report, err);
	free(path);
	return rc;
}

/* One line per uploaded file: path, size, SHA-256, and what it replaced. */
static void print_uploads(json_t *report)
{
	size_t n = json_array_size(report);
	const char **cells = mw_xcalloc(n * 4 + 1, sizeof *cells);
	char (*sizes)[32] = mw_xcalloc(n + 1, 32);
	char (*notes)[96] = mw_xcalloc(n + 1, 96);
	for (size_t i = 0; i < n; i++) {
		json_t *f = json_array_get(report, i);
		snprintf(sizes[i], 32, "%lld", (long long)json_integer_value(json_object_get(f, "size")));
		const char *was = json_string_value(json_object_get(f, "replaced"));
		if (was)
			snprintf(notes[i], 96, "replaced %.12s (kept in history)", was);
		else if (json_is_true(json_object_get(f, "unchanged")))
			snprintf(notes[i], 96, "unchanged");
		else
			snprintf(notes[i], 96, "new");
		cells[i * 4] = json_string_value(json_object_get(f, "path"));
		cells[i * 4 + 1] = sizes[i];
		cells[i * 4 + 2] = json_string_value(json_object_get(f, "sha256"));
		cells[i * 4 + 3] = notes[i];
	}
	static const char *hdr[] = {"PATH", "SIZE", "SHA256", "NOTE"};
	cmd_table(stdout, hdr, 4, cells, n);
	free(cells);
	free(sizes);
	free(notes);
}

/* ------------------------------------------------------------ commands */

int cmd_artifacts(int argc, char **argv)
{
	struct cmd_opt opts[] = {
		CMD_CLIENT_OPTS,
		{"run-id", "RUN", "upload: DEST is relative to this run's artifact root", NULL, false},
	};
	size_t nopts = sizeof opts / sizeof *opts;
	const char *pos[4];
	size_t npos;
	int prc = cmd_parse(argc, argv, opts, nopts, pos, 3, &npos, USAGE, ABOUT);
	if (prc)
		return prc < 0 ? 2 : 0;
	const char *sub = npos ? pos[0] : "";
	bool up = !strcmp(sub, "upload"), down = !strcmp(sub, "download"), ls = !strcmp(sub, "ls");
	if ((!up && !down && !ls) || (up && npos != 3) || (down && npos < 2) || (ls && npos > 2)) {
		cmd_usage(stderr, opts, nopts, USAGE, NULL);
		return 2;
	}
	bool as_json = cmd_flag(opts, nopts, "json");
	struct mw_err err = {0};
	struct mw_client *cl;
	if (mw_client_open(cmd_opt(opts, nopts, "uri"), cmd_opt(opts, nopts, "data-dir"), &cl, &err)) {
		cmd_fail(&err);
		return 1;
	}
	int rc = 0;
	json_t *report = json_array();
	char *path = NULL;
	if (up) {
		const char *run = cmd_opt(opts, nopts, "run-id");
		char *dest = NULL;
		if (run) {
			size_t n = strlen(run) + strlen(pos[2]) + 16;
			char *uri = mw_xmalloc(n);
			snprintf(uri, n, "runs:/%s/%s", run, pos[2]);
			rc = resolve(cl, uri, &dest, &err);
			free(uri);
		} else {
			rc = resolve(cl, pos[2], &dest, &err);
		}
		if (!rc)
			rc = upload_tree(cl, pos[1], dest, report, &err);
		free(dest);
	} else {
		rc = resolve(cl, npos > 1 ? pos[1] : "", &path, &err);
		if (!rc && down) {
			/* a model without LOCAL_DIR goes to ./<name> (never straight into
			 * the working directory, over whatever files are there) */
			char *own = NULL;
			if (npos <= 2 && mw_uri_prefix(pos[1], "models:/")) {
				char *mn = NULL, *mr = NULL;
				struct mw_err e2 = {0};
				if (!mw_registry_parse_uri(pos[1], &mn, &mr, &e2)) {
					for (char *c = mn; *c; c++)
						if (*c == '/')
							*c = '_';
					own = mn;
					mn = NULL;
				}
				free(mn);
				free(mr);
			}
			const char *dir = own ? own : npos > 2 ? pos[2] : ".";
			const char *base = strrchr(path, '/');
			base = base ? base + 1 : path;
			/* a model's files go straight into DIR (as MLflow does): the
			 * path must not move with an alias; a run's path keeps its
			 * last part (DIR/model/...) */
			if (mw_uri_prefix(pos[1], "models:/"))
				base = "";
			size_t n = strlen(dir) + strlen(base) + 2;
			char *local = mw_xmalloc(n);
			if (*base || mw_uri_prefix(pos[1], "models:/"))
				snprintf(local, n, "%s%s%s", dir, *base ? "/" : "", base);
			else
				snprintf(local, n, "%s/artifacts", dir);
			rc = download_tree(cl, path, local, report, 0, &err);
			free(local);
			free(own);
		} else if (!rc) {
			json_t *listing = NULL;
			rc = list_dir(cl, path, &listing, &err);
			if (!rc) {
				json_decref(report);
				report = json_incref(json_object_get(listing, "files"));
				if (!report)
					report = json_array();
				json_decref(listing);
			}
		}
	}
	if (rc) {
		cmd_fail(&err);
	} else if (as_json) {
		cmd_print_json(stdout, report);
	} else if (ls) {
		size_t n = json_array_size(report);
		const char **cells = mw_xcalloc(n * 3 + 1, sizeof *cells);
		char (*sizes)[32] = mw_xcalloc(n + 1, 32);
		for (size_t i = 0; i < n; i++) {
			json_t *f = json_array_get(report, i);
			bool dir = json_is_true(json_object_get(f, "is_dir"));
			cells[i * 3] = json_string_value(json_object_get(f, "path"));
			cells[i * 3 + 1] = dir ? "dir" : "file";
			if (!dir)
				snprintf(sizes[i], 32, "%lld",
					 (long long)json_integer_value(json_object_get(f, "file_size")));
			cells[i * 3 + 2] = sizes[i];
		}
		static const char *hdr[] = {"NAME", "TYPE", "SIZE"};
		cmd_table(stdout, hdr, 3, cells, n);
		free(cells);
		free(sizes);
	} else {
		unsigned long long bytes = 0;
		for (size_t i = 0; i < json_array_size(report); i++)
			bytes += (unsigned long long)json_integer_value(
				json_object_get(json_array_get(report, i), "size"));
		if (up)
			print_uploads(report);
		printf("%s %zu file%s, %llu bytes%s\n", up ? "uploaded" : "downloaded",
		       json_array_size(report), json_array_size(report) == 1 ? "" : "s", bytes,
		       down ? " (SHA-256 verified)" : "");
	}
	free(path);
	json_decref(report);
	mw_client_close(cl);
	return rc ? 1 : 0;
}

int cmd_fsck(int argc, char **argv)
{
	struct cmd_opt opts[] = {CMD_CLIENT_OPTS};
	size_t nopts = sizeof opts / sizeof *opts;
	const char *pos[1];
	size_t npos;
	int prc = cmd_parse(argc, argv, opts, nopts, pos, 0, &npos, "mw fsck [--json]",
			    "Re-hash every blob and check every artifact's manifest entry against its\n"
			    "blob.  Reports corrupt blobs (bytes that no longer match their SHA-256),\n"
			    "missing blobs (dangling references) and size mismatches.  Exit status 1\n"
			    "when anything is wrong.");
	if (prc)
		return prc < 0 ? 2 : 0;
	struct mw_err err = {0};
	struct mw_client *cl;
	if (mw_client_open(cmd_opt(opts, nopts, "uri"), cmd_opt(opts, nopts, "data-dir"), &cl, &err)) {
		cmd_fail(&err);
		return 1;
	}
	json_t *report = NULL, *req = json_object();
	int rc = mw_client_uri(cl) ? native_post(cl, "/api/mw/fsck", req, &report, &err)
				   : mw_art_fsck(mw_client_art(cl), &report, &err);
	json_decref(req);
	int ret = 1;
	if (rc) {
		cmd_fail(&err);
	} else {
		bool ok = json_is_true(json_object_get(report, "ok"));
		if (cmd_flag(opts, nopts, "json")) {
			cmd_print_json(stdout, report);
		} else {
			printf("%lld blobs, %lld bytes checked\n",
			       (long long)json_integer_value(json_object_get(report, "blobs")),
			       (long long)json_integer_value(json_object_get(report, "bytes")));
			static const char *kinds[] = {"corrupt", "missing", "size_mismatch"};
			for (size_t k = 0; k < 3; k++) {
				json_t *a = json_object_get(report, kinds[k]);
				for (size_t i = 0; i < json_array_size(a); i++) {
					json_t *e = json_array_get(a, i);
					const char *p = json_string_value(json_object_get(e, "path"));
					const char *r = json_string_value(json_object_get(e, "reason"));
					printf("%s: %s%s%s%s\n", kinds[k],
					       json_string_value(json_object_get(e, "digest")),
					       p ? " at " : "", p ? p : "", r ? r : "");
				}
			}
			printf("%s\n", ok ? "clean" : "PROBLEMS FOUND");
		}
		ret = ok ? 0 : 1;
	}
	json_decref(report);
	mw_client_close(cl);
	return ret;
}

int cmd_gc(int argc, char **argv)
{
	struct cmd_opt opts[] = {
		CMD_CLIENT_OPTS,
		{"grace", "SECONDS", "keep unreferenced blobs younger than this (default 3600)", NULL,
		 false},
		{"dry-run", NULL, "only report what would be removed", NULL, false},
	};
	size_t nopts = sizeof opts / sizeof *opts;
	const char *pos[1];
	size_t npos;
	int prc = cmd_parse(argc, argv, opts, nopts, pos, 0, &npos,
			    "mw gc [--grace SECONDS] [--dry-run] [--json]",
			    "Remove blobs that no artifact references any more (replaced or deleted\n"
			    "files, deleted model versions) and abandoned upload files, once they are\n"
			    "older than the grace period, so uploads in flight are never touched.");
	if (prc)
		return prc < 0 ? 2 : 0;
	int64_t grace = 3600;
	const char *g = cmd_opt(opts, nopts, "grace");
	if (g && (mw_parse_int64(g, &grace) || grace < 0)) {
		cmd_error(MW_E_INVALID, "--grace must be a number of seconds");
		return 2;
	}
	bool dry = cmd_flag(opts, nopts, "dry-run");
	struct mw_err err = {0};
	struct mw_client *cl;
	if (mw_client_open(cmd_opt(opts, nopts, "uri"), cmd_opt(opts, nopts, "data-dir"), &cl, &err)) {
		cmd_fail(&err);
		return 1;
	}
	json_t *report = NULL;
	json_t *req = json_pack("{s:I,s:b}", "grace_seconds", (json_int_t)grace, "dry_run", dry);
	struct mw_call local_call = {.user = mw_client_user(), .request_id = ""};
	int rc = mw_client_uri(cl) ? native_post(cl, "/api/mw/gc", req, &report, &err)
				   : mw_art_gc(mw_client_art(cl), &local_call, grace * 1000, dry,
					       &report, &err);
	json_decref(req);
	if (rc) {
		cmd_fail(&err);
	} else if (cmd_flag(opts, nopts, "json")) {
		cmd_print_json(stdout, report);
	} else {
		printf("%s %lld blobs (%lld bytes) and %lld abandoned upload files; kept %lld "
		       "unreferenced blobs younger than %lld s\n",
		       dry ? "would remove" : "removed",
		       (long long)json_integer_value(json_object_get(report, "removed_blobs")),
		       (long long)json_integer_value(json_object_get(report, "removed_bytes")),
		       (long long)json_integer_value(json_object_get(report, "removed_tmp")),
		       (long long)json_integer_value(json_object_get(report, "kept_young")),
		       (long long)grace);
	}
	json_decref(report);
	mw_client_close(cl);
	return rc ? 1 : 0;
}
