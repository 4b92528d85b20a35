/*
 * http.h - the HTTP server wrapper (libmicrohttpd, thread pool) and the
 * request pipeline.
 *
 * The server owns route tables, per-request arenas, body policies and caps
 * (413), the filter chain, the access log, per-route Prometheus metrics and
 * graceful shutdown (quiesce, drain, stop).  Handlers are synchronous: they
 * get the whole body, fill a response and return; a handler may block (the
 * store's group commit does), so the pool has several threads per core.
 *
 * Route patterns are paths whose segments may be "{name}" (one segment,
 * captured) and whose last segment may be "*" (the rest of the path, possibly
 * empty, captured).  The first matching row wins; a path that matches with
 * another method gets 405.
 *
 * The pipeline of one request: the route is matched when the headers are in;
 * the call context (req->call) gets its defaults (user "anonymous", no
 * request id, the route's deadline); the filters run in the order they were
 * added (request id, identity, later authentication and limits) and may
 * reject the request with an error in the route's format; then the body is
 * read according to the route's body policy and the handler (or the stream's
 * begin/data/end) runs.  Every error the server or a filter produces is
 * rendered in the route's error format; a path no route matches uses the
 * format of the longest route prefix or declared prefix it falls under
 * (mw_http_error_prefix), else the server's default.
 *
 * No silent caps: route tables, filters and response headers grow as needed;
 * a route that is malformed (no auth class, too many captures, a body policy
 * that does not fit its handler) makes mw_http_start fail with a message that
 * names it.
 */
#ifndef MW_HTTP_H
#define MW_HTTP_H

#include "core/core.h"

#define MW_HTTP_MAX_CAPTURES 4 /* per pattern; more is refused at start-up */

/* Who may call a route.  Every route declares one (MW_AUTH_UNSET is refused
 * at start-up); the authentication filter (api/auth.c, with --auth) enforces
 * them: OPEN passes, ADMIN needs an admin, the others any verified user. */
enum mw_auth {
	MW_AUTH_UNSET = 0,
	MW_AUTH_OPEN,      /* anyone, unauthenticated too: health, version, metrics */
	MW_AUTH_READ,      /* reads tracking, registry and artifact data */
	MW_AUTH_WRITE,     /* changes them */
	MW_AUTH_ADMIN,     /* operator surface: config, fsck, gc */
	MW_AUTH_INFERENCE, /* calls a served model */
	MW_AUTH__COUNT
};

/* The shape of every error answered on a route. */
enum mw_errfmt {
	MW_ERRFMT_INHERIT = 0, /* a route: the prefix's or server's; a server: TEXT */
	MW_ERRFMT_MLFLOW,      /* {"error_code": "...", "message": "..."} */
	MW_ERRFMT_V2,          /* Open Inference Protocol: {"error": "..."} */
	MW_ERRFMT_TEXT,        /* text/plain; the message */
	MW_ERRFMT__COUNT
};

/* How a route takes its request body. */
enum mw_body {
	MW_BODY_BUFFERED = 0, /* in memory, up to the route's max_body (0: the server's) */
	MW_BODY_STREAM,       /* never buffered: the route's stream callbacks get it */
	MW_BODY_NONE,         /* the handler takes none: bytes sent are dropped unbuffered
				 (a body over the server's cap is still 413) */
};

struct mw_http_req {
	const char *method;
	const char *path;              /* decoded path, no query string */
	const char *body;              /* NUL-terminated; body_len bytes */
	size_t body_len;
	struct mw_arena *arena;        /* freed when the request ends */
	const char *cap[MW_HTTP_MAX_CAPTURES]; /* captured path segments */
	int ncap;
	const struct mw_route *route;  /* NULL when no route matched */
	/* When route is NULL but a route matches the path with another method
	 * (the answer will be 405): that route, so filters judge the request as
	 * they would a right one (authentication comes before the 405). */
	const struct mw_route *path_route;
	/* The call context, built by the pipeline and passed on by handlers to
	 * every operation: user (never NULL; "anonymous" unless a filter found
	 * one), roles, request id ("" unless the request-id filter ran), deadline
	 * (now + the route's deadline_ms, or 0).  Strings live as long as the
	 * request. */
	struct mw_call call;
	/* false: call.user is only what the client claims (X-MW-User or a Basic
	 * user name); the authentication filter (--auth) sets it once it has
	 * checked. */
	bool user_verified;
	/* The authentication filter's record of the verified caller (struct
	 * mw_principal, api/auth.c, in the arena); NULL when none. */
	const void *principal;
	void *conn;                    /* internal */
};

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
	/* Extra headers added with mw_http_resp_header (no limit on their
	 * number): name/value pairs, strings static or in the request's arena;
	 * the array is the server's to free. */
	const char **hdr;
	int nhdr, ahdr;
};

typedef void (*mw_http_handler)(struct mw_http_req *req, struct mw_http_resp *resp, void *ud);

/* A streaming request body: never buffered.  begin runs once the headers are
 * in and the filters passed (a non-zero return means it already filled resp
 * with an error: the body is then read and dropped and resp is sent); data
 * runs for each chunk (a non-zero return drops the rest of the body; the
 * state keeps the error for end); end runs when the body is complete and
 * fills resp; abort runs instead of end when the request dies first (client
 * gone, server stopping).  After end or abort the state is never used again. */
struct mw_http_stream {
	int (*begin)(struct mw_http_req *req, void **state, struct mw_http_resp *resp, void *ud);
	int (*data)(void *state, const char *p, size_t n);
	void (*end)(struct mw_http_req *req, void *state, struct mw_http_resp *resp, void *ud);
	void (*abort)(void *state);
};

struct mw_route {
	const char *method;            /* "GET", "POST", ... */
	const char *pattern;
	mw_http_handler fn;            /* buffered or no body; or */
	void *ud;
	const char *name;              /* label for metrics; pattern when NULL */
	const struct mw_http_stream *stream; /* streaming body (fn unused) */
	enum mw_auth auth;             /* required */
	enum mw_errfmt errfmt;         /* INHERIT: the prefix's or the server's */
	enum mw_body body;             /* STREAM exactly when stream is set */
	size_t max_body;               /* BUFFERED: the cap; 0 = the server's --max-body */
	int64_t deadline_ms;           /* call.deadline_ms = now + this; 0 = no deadline */
};

/* Errors the server itself produces (no route, wrong method, body too large)
 * and filter rejections are rendered in the request's error format.  A
 * server may instead hand them to on_error (kept for servers composed by hand;
 * the application object leaves it NULL).  code is an enum mw_errcode. */
typedef void (*mw_http_error_fn)(struct mw_http_req *req, struct mw_http_resp *resp,
				 int status, int code, const char *msg);

struct mw_http_opts {
	const char *host;
	int port;                      /* 0: pick a free port (see mw_http_port) */
	int threads;
	size_t max_body;
	/* Connection limits (0: the defaults in brackets).  A client (an IP
	 * address) beyond max_per_client connections is disconnected at once, so
	 * one client cannot take every connection [256 of 4096].  Slow clients:
	 * a request's headers must be complete within header_timeout_ms of the
	 * connection opening or of the previous response [30 s] (this is also
	 * how long an idle keep-alive connection stays open); a body must arrive
	 * within body_timeout_ms, extended by one second per body_min_rate bytes
	 * received [30 s, 1024 bytes/s], so a trickle cannot hold a connection
	 * while any real upload can; a connection with nothing moving is closed
	 * after idle_timeout_s [300 s].  The watchdog checks every second. */
	int max_connections;
	int max_per_client;
	/* Room for a request's line and headers (MHD's per-connection memory,
	 * which it clears on every request, so more costs a little on each) [64
	 * KiB]: a GET whose query string holds 1000 quoted run ids fits. */
	size_t max_header_bytes;
	/* Answer bodies held in memory until their clients read them, all
	 * connections together [1 GiB]; past it a large answer is replaced by 503
	 * (answers of at most 64 KiB are not counted). */
	size_t max_response_memory;
	int64_t header_timeout_ms;
	int64_t body_timeout_ms;
	int64_t body_min_rate;
	int idle_timeout_s;
	/* TLS: the certificate chain and private key as PEM text, both or
	 * neither (NULL: plain HTTP).  Borrowed: they must stay valid until
	 * mw_http_free.  mw_http_start refuses when libmicrohttpd was built
	 * without TLS, or the pair does not load (bad PEM, key of another
	 * certificate). */
	const char *tls_cert_pem;
	const char *tls_key_pem;
	enum mw_errfmt error_format;   /* for paths under no route prefix (INHERIT: TEXT) */
	mw_http_error_fn on_error;     /* NULL: render in the request's format */
};

struct mw_http_server;

struct mw_http_server *mw_http_new(const struct mw_http_opts *o);
/* Add a route table before start; the array must outlive the server.  There
 * is no limit on the number of tables.  A malformed row is remembered and
 * reported by mw_http_start (and returned here). */
int mw_http_add_routes(struct mw_http_server *s, const struct mw_route *r, size_t n);
/* Errors on paths under prefix that no route matches use fmt (unless a
 * longer route prefix says otherwise).  prefix is borrowed. */
void mw_http_error_prefix(struct mw_http_server *s, const char *prefix, enum mw_errfmt fmt);
/* Visit every registered route (in matching order) with its resolved error
 * format.  Valid after mw_http_start. */
typedef void (*mw_http_route_cb)(void *ctx, const struct mw_route *r, enum mw_errfmt fmt);
void mw_http_routes_each(struct mw_http_server *s, mw_http_route_cb cb, void *ctx);

/* A filter runs before every handler and stream begin, also when no route
 * matched (req->route NULL; a filter that judges routes lets those pass, the
 * 404 follows).  It returns 0 to go on, or non-zero after filling resp, most
 * simply with mw_http_error (the request is then answered with resp, its body
 * dropped, and no later filter or handler runs).  Filters run in the order
 * they were added; add them before start. */
typedef int (*mw_http_filter_fn)(struct mw_http_req *req, struct mw_http_resp *resp, void *ud);
void mw_http_add_filter(struct mw_http_server *s, const char *name, mw_http_filter_fn fn,
			void *ud);
/* The standard filters (http/filters.c).
 *  request id: a sane X-Request-Id from the client (1-128 characters of
 *    [A-Za-z0-9._:/+=@~-]) becomes call.request_id, anything else is replaced
 *    by a generated one (32 hex digits); the server echoes it as X-Request-Id
 *    on the response and writes it in the access log line.
 *  identity: X-MW-User, else the user name of a Basic Authorization header,
 *    becomes call.user, unverified (user_verified stays false); no claim
 *    leaves "anonymous", and so do Basic credentials that are not base64 of
 *    "user:password" (nothing is authenticated here; with --auth the
 *    authentication filter, api/auth.c, runs after it and has the last word).  An X-MW-User that
 *    cannot be a user name (over 255 bytes, not UTF-8, control characters)
 *    is rejected with 400 rather than silently dropped. */
int mw_http_filter_request_id(struct mw_http_req *req, struct mw_http_resp *resp, void *ud);
int mw_http_filter_identity(struct mw_http_req *req, struct mw_http_resp *resp, void *ud);

int mw_http_start(struct mw_http_server *s, struct mw_err *err);
/* Whether host:port could be listened on now (a bind that is undone at
 * once; port 0 is always fine): "the port is in use" before anything else is
 * done, rather than after. */
int mw_http_check_listen(const char *host, int port, struct mw_err *err);
int mw_http_port(struct mw_http_server *s);
/* Stop accepting new connections; in-flight requests go on. */
void mw_http_quiesce(struct mw_http_server *s);
/* Requests answered since start (any route, any status). */
unsigned long long mw_http_request_count(struct mw_http_server *s);
/* Requests being handled now. */
int mw_http_inflight(struct mw_http_server *s);
/* Stop the daemon: close every connection, join its threads (no handler runs
 * after this returns).  mw_http_free does it too. */
void mw_http_stop(struct mw_http_server *s);
/* Stop the daemon and free everything. */
void mw_http_free(struct mw_http_server *s);
/* Per-route request counters and latency histograms, Prometheus text. */
MW_MUST_USE int mw_http_render_metrics(struct mw_http_server *s, struct mw_buf *out);

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
/* The client's address as text ("127.0.0.1", "::1"), formatted once per
 * connection (it lives at least as long as the request); "" when unknown. */
const char *mw_http_client_addr(struct mw_http_req *req);
typedef void (*mw_http_kv_cb)(void *ctx, const char *key, const char *value);
void mw_http_query_each(struct mw_http_req *req, mw_http_kv_cb cb, void *ctx);
const char *mw_http_query(struct mw_http_req *req, const char *key);

/* Errors: render status/code/msg in the request's error format (the route's,
 * else its prefix's, else the server's), or through the server's on_error. */
void mw_http_error(struct mw_http_req *req, struct mw_http_resp *resp, int status, int code,
		   const char *msg);
/* The request's resolved error format (INHERIT only when nothing declared one). */
enum mw_errfmt mw_http_req_errfmt(struct mw_http_req *req);
/* Render an error in format fmt (INHERIT renders TEXT).  MLflow's body is
 * {"error_code": mw_err_name(code), "message": msg}, V2's {"error": msg};
 * an empty msg is replaced by the code's name. */
void mw_http_render_error(struct mw_http_resp *resp, enum mw_errfmt fmt, int status, int code,
			  const char *msg);

/* Response helpers: take a malloc'd body, or copy a string. */
void mw_http_resp_set(struct mw_http_resp *resp, int status, const char *content_type,
		      char *body, size_t len);
void mw_http_resp_text(struct mw_http_resp *resp, int status, const char *content_type,
		       const char *text);
/* Add a header (name and value static or in the request's arena); any number. */
void mw_http_resp_header(struct mw_http_resp *resp, const char *name, const char *value);
/* Send len bytes of fd from off (fd is taken over, also on error). */
void mw_http_resp_fd(struct mw_http_resp *resp, int status, const char *content_type, int fd,
		     uint64_t off, uint64_t len);

#endif
