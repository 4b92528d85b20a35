/*
 * http.h - the HTTP server wrapper (libmicrohttpd, epoll thread pool).
 *
 * The server owns route tables, per-request arenas, body caps (413), the
 * access log, per-route Prometheus metrics and graceful shutdown (quiesce,
 * drain, stop).  Handlers are synchronous: they get the whole body, fill a
 * response and return; a handler may block (the store's group commit does),
 * so the pool has several threads per core.
 *
 * Route patterns are paths whose segments may be "{name}" (one segment,
 * captured) and whose last segment may be "*" (the rest of the path, possibly
 * empty, captured).  The first matching row wins; a path that matches with
 * another method gets 405.
 */
#ifndef MW_HTTP_H
#define MW_HTTP_H

#include "core/core.h"

#define MW_HTTP_MAX_CAPTURES 4

struct mw_http_req {
	const char *method;
	const char *path;              /* decoded path, no query string */
	const char *body;              /* NUL-terminated; body_len bytes */
	size_t body_len;
	struct mw_arena *arena;        /* freed when the request ends */
	const char *cap[MW_HTTP_MAX_CAPTURES]; /* captured path segments */
	int ncap;
	const struct mw_route *route;  /* NULL when no route matched */
	void *conn;                    /* internal */
};

#define MW_HTTP_MAX_HEADERS 8

struct mw_http_resp {
	int status;
	const char *content_type;      /* static string */
	char *body;                    /* malloc'd, taken over by the server */
	size_t len;
	/* Or a body read from a file: fd is taken over (closed by the server),
	 * fd_len bytes from fd_off are sent (sendfile where possible). */
	bool has_fd;
	int fd;
	uint64_t fd_off, fd_len;
	const char *hdr_name[MW_HTTP_MAX_HEADERS]; /* extra headers (static or arena) */
	const char *hdr_val[MW_HTTP_MAX_HEADERS];
	int nhdr;
};

typedef void (*mw_http_handler)(struct mw_http_req *req, struct mw_http_resp *resp, void *ud);

/* A streaming request body: never buffered.  begin runs once the headers are
 * in (a non-zero return means it already filled resp with an error: the body
 * is then read and dropped and resp is sent); data runs for each chunk (a
 * non-zero return drops the rest of the body; the state keeps the error for
 * end); end runs when the body is complete and fills resp; abort runs instead
 * of end when the request dies first (client gone, server stopping).  After
 * end or abort the state is never used again. */
struct mw_http_stream {
	int (*begin)(struct mw_http_req *req, void **state, struct mw_http_resp *resp, void *ud);
	int (*data)(void *state, const char *p, size_t n);
	void (*end)(struct mw_http_req *req, void *state, struct mw_http_resp *resp, void *ud);
	void (*abort)(void *state);
};

struct mw_route {
	const char *method;            /* "GET", "POST", ... */
	const char *pattern;
	mw_http_handler fn;            /* buffered body; or */
	void *ud;
	const char *name;              /* label for metrics; pattern when NULL */
	const struct mw_http_stream *stream; /* streaming body (fn unused) */
};

/* Errors the server itself produces (no route, wrong method, body too large,
 * bad body) are rendered by this callback so every API answers in its own
 * format.  code is an enum mw_errcode. */
typedef void (*mw_http_error_fn)(struct mw_http_req *req, struct mw_http_resp *resp,
				 int status, int code, const char *msg);

struct mw_http_opts {
	const char *host;
	int port;                      /* 0: pick a free port (see mw_http_port) */
	int threads;
	size_t max_body;
	mw_http_error_fn on_error;
};

struct mw_http_server;

struct mw_http_server *mw_http_new(const struct mw_http_opts *o);
/* Add routes before start; the array must outlive the server. */
void mw_http_add_routes(struct mw_http_server *s, const struct mw_route *r, size_t n);
int mw_http_start(struct mw_http_server *s, struct mw_err *err);
int mw_http_port(struct mw_http_server *s);
/* Stop accepting new connections; in-flight requests go on. */
void mw_http_quiesce(struct mw_http_server *s);
/* Requests answered since start (any route, any status). */
unsigned long long mw_http_request_count(struct mw_http_server *s);
/* Requests being handled now. */
int mw_http_inflight(struct mw_http_server *s);
/* Stop the daemon and free everything. */
void mw_http_free(struct mw_http_server *s);
/* Per-route request counters and latency histograms, Prometheus text. */
void mw_http_render_metrics(struct mw_http_server *s, struct mw_buf *out);

/* Deferred responses.  A handler that cannot answer yet (a request waiting
 * for an inference batch) calls mw_http_defer and returns without filling
 * resp: the connection is suspended, no thread waits for it.  Later, from any
 * thread, mw_http_complete hands over the response (resp's body and fd are
 * taken over) and resumes the connection.  Until then the request, its arena
 * and its body stay valid.  Every deferred request must be completed exactly
 * once, also at shutdown (the server waits for them before it stops). */
struct mw_http_deferred;
struct mw_http_deferred *mw_http_defer(struct mw_http_req *req);
void mw_http_complete(struct mw_http_deferred *d, struct mw_http_resp *resp);
struct mw_http_req *mw_http_deferred_req(struct mw_http_deferred *d);

/* Request helpers */
const char *mw_http_header(struct mw_http_req *req, const char *name);
typedef void (*mw_http_kv_cb)(void *ctx, const char *key, const char *value);
void mw_http_query_each(struct mw_http_req *req, mw_http_kv_cb cb, void *ctx);
const char *mw_http_query(struct mw_http_req *req, const char *key);

/* Response helpers: take a malloc'd body, or copy a string. */
void mw_http_resp_set(struct mw_http_resp *resp, int status, const char *content_type,
		      char *body, size_t len);
void mw_http_resp_text(struct mw_http_resp *resp, int status, const char *content_type,
		       const char *text);
void mw_http_resp_header(struct mw_http_resp *resp, const char *name, const char *value);
/* Send len bytes of fd from off (fd is taken over, also on error). */
void mw_http_resp_fd(struct mw_http_resp *resp, int status, const char *content_type, int fd,
		     uint64_t off, uint64_t len);

#endif
