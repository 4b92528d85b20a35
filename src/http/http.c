/*
 * http.c - libmicrohttpd behind a route table.
 *
 * Life of a request: the first access-handler call allocates a context (arena,
 * capped body buffer) and checks Content-Length against the cap; following
 * calls append body chunks (past the cap they are counted and dropped so the
 * connection stays usable); the last call (no more data) routes the request,
 * runs the handler and queues the response.  Responses are only ever queued
 * from that last call: queuing earlier makes MHD 0.9.75 close keep-alive
 * connections (see ARCHITECTURE.md, traps).  The completion callback frees the
 * context and updates the in-flight count that shutdown drains.
 *
 * A body far beyond the cap (over max(4 x cap, 256 MiB)) is answered at once
 * and the connection closed, so nobody can make us read forever.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <pthread.h>
#include <netinet/in.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int status_codes[] = {200, 201, 204, 206, 304, 400, 401, 403, 404, 405, 409,
				   413, 416, 429, 499, 500, 501, 503, 504};
#define NSTATUS (sizeof status_codes / sizeof *status_codes)

struct route_stats {
	unsigned long long by_status[NSTATUS + 1];
	struct mw_hist latency;
};

struct route_table {
	const struct mw_route *r;
	size_t n;
	struct route_stats *stats;
};

struct mw_http_server {
	struct mw_http_opts o;
	struct MHD_Daemon *d;
	struct route_table tables[16];
	int ntables;
	struct route_stats unmatched;
	int inflight;
	unsigned long long requests;
	int port;
};

struct ctx {
	struct mw_http_req req;
	struct mw_buf body;
	size_t seen;          /* body bytes received, kept or not */
	bool too_large;
	bool counted;         /* counted in inflight (the handler has started) */
	const struct mw_route *route; /* matched at the first call */
	struct route_stats *route_stats;
	bool wrong_method;
	void *stream_state;   /* a streaming route's state until end/abort */
	bool stream_failed;   /* begin refused: drop the body, send early_resp */
	struct mw_http_resp early_resp;
	uint64_t start_ns;
	struct route_stats *stats;
	/* deferred responses (mw_http_defer / mw_http_complete) */
	pthread_mutex_t dmu;
	int dstate;           /* DEFER_* */
	struct mw_http_resp dresp;
	struct MHD_Connection *conn;
};

enum { DEFER_NONE, DEFER_PENDING, DEFER_SUSPENDED, DEFER_DONE };

/* ------------------------------------------------------------ matching */

static bool match(const char *pat, const char *path, struct mw_http_req *req)
{
	int ncap = 0;
	const char *p = pat, *u = path;
	while (*p) {
		if (p[0] == '*' && p[1] == 0) {
			if (ncap < MW_HTTP_MAX_CAPTURES)
				req->cap[ncap++] = mw_arena_strdup(req->arena, u);
			req->ncap = ncap;
			return true;
		}
		if (*p == '{') {
			const char *pe = strchr(p, '}');
			if (!pe)
				return false;
			const char *ue = u;
			while (*ue && *ue != '/')
				ue++;
			if (ue == u)
				return false;
			if (ncap < MW_HTTP_MAX_CAPTURES)
				req->cap[ncap++] = mw_arena_strndup(req->arena, u, (size_t)(ue - u));
			p = pe + 1;
			u = ue;
			continue;
		}
		if (*p != *u)
			return false;
		p++;
		u++;
	}
	if (*u)
		return false;
	req->ncap = ncap;
	return true;
}

/* Find a route; *wrong_method is set when only the method differs. */
static const struct mw_route *route_find(struct mw_http_server *s, struct mw_http_req *req,
					 struct route_stats **stats, bool *wrong_method)
{
	*wrong_method = false;
	for (int t = 0; t < s->ntables; t++) {
		for (size_t i = 0; i < s->tables[t].n; i++) {
			const struct mw_route *r = &s->tables[t].r[i];
			if (!match(r->pattern, req->path, req))
				continue;
			if (!strcmp(r->method, req->method) ||
			    (!strcmp(req->method, "HEAD") && !strcmp(r->method, "GET"))) {
				*stats = &s->tables[t].stats[i];
				return r;
			}
			*wrong_method = true;
		}
	}
	req->ncap = 0;
	return NULL;
}

/* ------------------------------------------------------------ responses */

void mw_http_resp_set(struct mw_http_resp *resp, int status, const char *content_type,
		      char *body, size_t len)
{
	free(resp->body);
	resp->status = status;
	resp->content_type = content_type;
	resp->body = body;
	resp->len = len;
}

void mw_http_resp_text(struct mw_http_resp *resp, int status, const char *content_type,
		       const char *text)
{
	size_t n = strlen(text);
	mw_http_resp_set(resp, status, content_type, mw_xstrndup(text, n), n);
}

void mw_http_resp_header(struct mw_http_resp *resp, const char *name, const char *value)
{
	if (resp->nhdr < MW_HTTP_MAX_HEADERS) {
		resp->hdr_name[resp->nhdr] = name;
		resp->hdr_val[resp->nhdr] = value;
		resp->nhdr++;
	}
}

void mw_http_resp_fd(struct mw_http_resp *resp, int status, const char *content_type, int fd,
		     uint64_t off, uint64_t len)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
	if (resp->has_fd)
		close(resp->fd);
	resp->status = status;
	resp->content_type = content_type;
	resp->has_fd = true;
	resp->fd = fd;
	resp->fd_off = off;
	resp->fd_len = len;
}

static void count_status(struct route_stats *st, int status)
{
	size_t i = 0;
	while (i < NSTATUS && status_codes[i] != status)
		i++;
	__atomic_fetch_add(&st->by_status[i], 1, __ATOMIC_RELAXED);
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, struct ctx *c,
				 struct mw_http_resp *resp)
{
	if (!resp->status)
		resp->status = 500;
	struct MHD_Response *r;
	size_t sent;
	if (resp->has_fd) {
		r = MHD_create_response_from_fd_at_offset64(resp->fd_len, resp->fd,
							     resp->fd_off);
		if (!r)
			close(resp->fd);
		resp->has_fd = false;
		sent = (size_t)resp->fd_len;
	} else {
		r = MHD_create_response_from_buffer(resp->len, resp->body ? resp->body : (void *)"",
						    resp->body ? MHD_RESPMEM_MUST_FREE
							       : MHD_RESPMEM_PERSISTENT);
		sent = resp->len;
	}
	resp->body = NULL;
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				resp->content_type ? resp->content_type : "application/json");
	for (int i = 0; i < resp->nhdr; i++)
		MHD_add_response_header(r, resp->hdr_name[i], resp->hdr_val[i]);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);

	double secs = (double)(mw_mono_ns() - c->start_ns) / 1e9;
	count_status(c->stats, resp->status);
	mw_hist_observe(&c->stats->latency, secs);
	if (mw_log_get_level() <= MW_LOG_INFO)
		mw_info("%s %s %d %zu %.3fms", c->req.method, c->req.path, resp->status, sent,
			secs * 1000);
	return ret;
}

static void server_error(struct mw_http_server *s, struct ctx *c, struct mw_http_resp *resp,
			 int status, int code, const char *msg)
{
	if (s->o.on_error) {
		s->o.on_error(&c->req, resp, status, code, msg);
	} else {
		char *b = mw_xstrdup(msg);
		mw_http_resp_set(resp, status, "text/plain", b, strlen(b));
	}
}

/* ------------------------------------------------------------ MHD glue */

static enum MHD_Result ahc(void *cls, struct MHD_Connection *conn, const char *url,
			   const char *method, const char *version, const char *upload_data,
			   size_t *upload_data_size, void **con_cls)
{
	struct mw_http_server *s = cls;
	struct ctx *c = *con_cls;
	if (c && c->dstate == DEFER_DONE) {
		/* resumed after mw_http_complete: send what the completer left */
		struct mw_http_resp resp = c->dresp;
		memset(&c->dresp, 0, sizeof c->dresp);
		c->dstate = DEFER_NONE;
		return send_resp(conn, c, &resp);
	}
	if (!c) {
		c = mw_xcalloc(1, sizeof *c);
		pthread_mutex_init(&c->dmu, NULL);
		c->conn = conn;
		c->start_ns = mw_mono_ns();
		c->req.arena = mw_arena_new(8192);
		c->req.method = method;
		c->req.path = url;
		c->req.conn = conn;
		c->stats = &s->unmatched;
		c->route = route_find(s, &c->req, &c->route_stats, &c->wrong_method);
		c->req.route = c->route;
		if (c->route && c->route->stream) {
			/* streaming: no buffer, no body cap; the route decides */
			mw_buf_init(&c->body, 1);
			if (c->route->stream->begin(&c->req, &c->stream_state, &c->early_resp,
						    c->route->ud)) {
				c->stream_failed = true;
				c->stream_state = NULL;
			}
			*con_cls = c;
			return MHD_YES;
		}
		mw_buf_init(&c->body, s->o.max_body);
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		int64_t n;
		if (cl && !mw_parse_int64(cl, &n) && (uint64_t)n > s->o.max_body)
			c->too_large = true;
		*con_cls = c;
		return MHD_YES;
	}
	if (*upload_data_size && c->route && c->route->stream) {
		/* a failing chunk is remembered by the state and reported by end */
		if (c->stream_state)
			(void)c->route->stream->data(c->stream_state, upload_data,
						     *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		c->seen += *upload_data_size;
		if (!c->too_large && mw_buf_append(&c->body, upload_data, *upload_data_size)) {
			c->too_large = true;
			mw_buf_release(&c->body);
			mw_buf_init(&c->body, 1);
		}
		*upload_data_size = 0;
		size_t hard = s->o.max_body * 4 > (256u << 20) ? s->o.max_body * 4 : (256u << 20);
		if (c->too_large && c->seen > hard) {
			struct mw_http_resp resp = {0};
			server_error(s, c, &resp, 413, MW_E_TOO_LARGE, "Request body too large");
			return send_resp(conn, c, &resp);
		}
		return MHD_YES;
	}

	/* in flight from here: shutdown waits for handlers, not for bodies that
	 * are still arriving (those were never acknowledged and are dropped) */
	c->counted = true;
	__atomic_fetch_add(&s->inflight, 1, __ATOMIC_RELAXED);
	struct mw_http_resp resp = {0};
	bool wrong_method = c->wrong_method;
	const struct mw_route *r = c->route;
	if (c->route_stats)
		c->stats = c->route_stats;
	(void)version;
	if (r && r->stream) {
		if (c->stream_failed) {
			resp = c->early_resp;
			memset(&c->early_resp, 0, sizeof c->early_resp);
		} else {
			void *stt = c->stream_state;
			c->stream_state = NULL; /* end owns it now */
			r->stream->end(&c->req, stt, &resp, r->ud);
		}
	} else if (c->too_large) {
		char msg[128];
		snprintf(msg, sizeof msg, "Request body too large: the limit is %zu bytes",
			 s->o.max_body);
		server_error(s, c, &resp, 413, MW_E_TOO_LARGE, msg);
	} else if (!r) {
		char msg[256];
		snprintf(msg, sizeof msg, "%s %.200s", wrong_method ? "Method not allowed:" : "No endpoint:",
			 url);
		server_error(s, c, &resp, wrong_method ? 405 : 404, MW_E_NO_ENDPOINT, msg);
	} else {
		c->req.body = c->body.data;
		c->req.body_len = c->body.len;
		r->fn(&c->req, &resp, r->ud);
		if (c->dstate != DEFER_NONE) {
			pthread_mutex_lock(&c->dmu);
			if (c->dstate == DEFER_DONE) { /* completed before we got here */
				resp = c->dresp;
				memset(&c->dresp, 0, sizeof c->dresp);
				c->dstate = DEFER_NONE;
				pthread_mutex_unlock(&c->dmu);
				return send_resp(conn, c, &resp);
			}
			c->dstate = DEFER_SUSPENDED;
			MHD_suspend_connection(conn);
			pthread_mutex_unlock(&c->dmu);
			return MHD_YES;
		}
	}
	return send_resp(conn, c, &resp);
}

struct mw_http_deferred *mw_http_defer(struct mw_http_req *req)
{
	struct ctx *c = (struct ctx *)req; /* req is the first member */
	c->dstate = DEFER_PENDING;
	return (struct mw_http_deferred *)c;
}

void mw_http_complete(struct mw_http_deferred *d, struct mw_http_resp *resp)
{
	struct ctx *c = (struct ctx *)d;
	pthread_mutex_lock(&c->dmu);
	c->dresp = *resp;
	memset(resp, 0, sizeof *resp);
	bool resume = c->dstate == DEFER_SUSPENDED;
	struct MHD_Connection *conn = c->conn;
	c->dstate = DEFER_DONE;
	pthread_mutex_unlock(&c->dmu);
	/* after the resume an MHD thread may send the answer and free c at once:
	 * touch nothing of c from here on */
	if (resume)
		MHD_resume_connection(conn);
}

struct mw_http_req *mw_http_deferred_req(struct mw_http_deferred *d)
{
	return &((struct ctx *)d)->req;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct mw_http_server *s = cls;
	struct ctx *c = *con_cls;
	(void)conn;
	(void)toe;
	if (!c)
		return;
	if (c->stream_state && c->route && c->route->stream)
		c->route->stream->abort(c->stream_state); /* the body never completed */
	free(c->early_resp.body);
	if (c->early_resp.has_fd)
		close(c->early_resp.fd);
	free(c->dresp.body);
	if (c->dresp.has_fd)
		close(c->dresp.fd);
	pthread_mutex_destroy(&c->dmu);
	if (c->counted) {
		__atomic_fetch_sub(&s->inflight, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&s->requests, 1, __ATOMIC_RELAXED);
	}
	mw_buf_release(&c->body);
	mw_arena_free(c->req.arena);
	free(c);
	*con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = 0;
	mw_debug("http: %s", msg);
}

/* Percent-decoding of paths and query values, in place.  "%00" is left as
 * it is: decoding it would cut the C string and hide the rest of the path,
 * so the literal stays visible to the validators, which refuse it. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *val)
{
	(void)cls;
	(void)conn;
	char *r = val, *w = val;
	while (*r) {
		if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2]) &&
		    !(r[1] == '0' && r[2] == '0')) {
			char h[3] = {r[1], r[2], 0};
			*w++ = (char)strtol(h, NULL, 16);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = 0;
	return (size_t)(w - val);
}

/* ------------------------------------------------------------ lifecycle */

struct mw_http_server *mw_http_new(const struct mw_http_opts *o)
{
	struct mw_http_server *s = mw_xcalloc(1, sizeof *s);
	s->o = *o;
	if (s->o.threads < 1)
		s->o.threads = 4;
	if (!s->o.max_body)
		s->o.max_body = 32u << 20;
	mw_hist_init(&s->unmatched.latency, mw_latency_buckets, mw_latency_nbuckets);
	return s;
}

void mw_http_add_routes(struct mw_http_server *s, const struct mw_route *r, size_t n)
{
	if (s->ntables >= 16)
		return;
	struct route_table *t = &s->tables[s->ntables++];
	t->r = r;
	t->n = n;
	t->stats = mw_xcalloc(n ? n : 1, sizeof *t->stats);
	for (size_t i = 0; i < n; i++)
		mw_hist_init(&t->stats[i].latency, mw_latency_buckets, mw_latency_nbuckets);
}

int mw_http_start(struct mw_http_server *s, struct mw_err *err)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
			 MHD_USE_ERROR_LOG;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t slen;
	const char *host = s->o.host ? s->o.host : "127.0.0.1";
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)s->o.port);
		slen = sizeof *sin;
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)s->o.port);
		slen = sizeof *sin6;
		flags |= MHD_USE_IPv6;
	} else if (!strcmp(host, "localhost")) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)s->o.port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		slen = sizeof *sin;
	} else {
		return mw_err_set(err, MW_E_INVALID, "--host must be an IPv4 or IPv6 address: '%s'",
				  host);
	}
	(void)slen;
	s->d = MHD_start_daemon(
		flags, (uint16_t)s->o.port, NULL, NULL, ahc, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
		NULL, MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->o.threads,
		MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)300, MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_UNESCAPE_CALLBACK, unescape,
		NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024), MHD_OPTION_END);
	if (!s->d)
		return mw_err_set(err, MW_E_IO, "cannot listen on %s:%d (address in use?)", host,
				  s->o.port);
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : s->o.port;
	return 0;
}

int mw_http_port(struct mw_http_server *s)
{
	return s->port;
}

void mw_http_quiesce(struct mw_http_server *s)
{
	if (s->d) {
		MHD_socket fd = MHD_quiesce_daemon(s->d);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
}

unsigned long long mw_http_request_count(struct mw_http_server *s)
{
	return __atomic_load_n(&s->requests, __ATOMIC_RELAXED);
}

int mw_http_inflight(struct mw_http_server *s)
{
	return __atomic_load_n(&s->inflight, __ATOMIC_RELAXED);
}

void mw_http_free(struct mw_http_server *s)
{
	if (!s)
		return;
	if (s->d)
		MHD_stop_daemon(s->d);
	for (int t = 0; t < s->ntables; t++)
		free(s->tables[t].stats);
	free(s);
}

/* ------------------------------------------------------------ metrics */

static void render_route(struct mw_buf *out, const char *method, const char *name,
			 const struct route_stats *st, bool counts)
{
	if (counts) {
		for (size_t i = 0; i <= NSTATUS; i++) {
			unsigned long long v = __atomic_load_n(&st->by_status[i], __ATOMIC_RELAXED);
			if (!v)
				continue;
			if (i < NSTATUS)
				mw_buf_printf(out,
					      "mw_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
					      method, name, status_codes[i], v);
			else
				mw_buf_printf(out,
					      "mw_http_requests_total{method=\"%s\",route=\"%s\",status=\"other\"} %llu\n",
					      method, name, v);
		}
		return;
	}
	if (!__atomic_load_n(&st->latency.count, __ATOMIC_RELAXED))
		return;
	char labels[512];
	snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\"", method, name);
	mw_hist_render(&st->latency, out, "mw_http_request_duration_seconds", labels);
}

void mw_http_render_metrics(struct mw_http_server *s, struct mw_buf *out)
{
	for (int pass = 0; pass < 2; pass++) {
		bool counts = pass == 0;
		if (counts)
			mw_buf_puts(out, "# HELP mw_http_requests_total HTTP requests by route and status.\n"
					 "# TYPE mw_http_requests_total counter\n");
		else
			mw_buf_puts(out, "# HELP mw_http_request_duration_seconds Time from the first "
					 "byte of a request to its response being queued.\n"
					 "# TYPE mw_http_request_duration_seconds histogram\n");
		for (int t = 0; t < s->ntables; t++)
			for (size_t i = 0; i < s->tables[t].n; i++) {
				const struct mw_route *r = &s->tables[t].r[i];
				render_route(out, r->method, r->name ? r->name : r->pattern,
					     &s->tables[t].stats[i], counts);
			}
		render_route(out, "any", "unmatched", &s->unmatched, counts);
	}
	mw_buf_printf(out, "# HELP mw_http_inflight_requests Requests being handled now.\n"
			   "# TYPE mw_http_inflight_requests gauge\nmw_http_inflight_requests %d\n",
		      mw_http_inflight(s));
}

/* ------------------------------------------------------------ request helpers */

const char *mw_http_header(struct mw_http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

struct kvwrap {
	mw_http_kv_cb cb;
	void *ctx;
};

static enum MHD_Result kv_iter(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	struct kvwrap *w = cls;
	(void)kind;
	w->cb(w->ctx, key, value ? value : "");
	return MHD_YES;
}

void mw_http_query_each(struct mw_http_req *req, mw_http_kv_cb cb, void *ctx)
{
	struct kvwrap w = {cb, ctx};
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, kv_iter, &w);
}

const char *mw_http_query(struct mw_http_req *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}
