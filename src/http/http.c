/*
 * http.c - libmicrohttpd behind route tables and a filter chain.
 *
 * Life of a request: the first access-handler call (headers in) allocates a
 * context (arena, body buffer), matches the route, gives the call context its
 * defaults and runs the filters; a rejection is kept as the answer and the
 * body is then dropped.  Otherwise the route's body policy decides: a
 * buffered body is checked against its cap (Content-Length first, then the
 * bytes: past the cap they are counted and dropped so the connection stays
 * usable), a streamed one goes to the stream's begin and data, a route that
 * takes none drops it unbuffered.  The last call (no more data) runs the
 * handler and queues the response.  Responses are only ever queued from that
 * last call: queuing earlier makes MHD 0.9.75 close keep-alive connections
 * (see ARCHITECTURE.md, traps).  The completion callback frees the context
 * and updates the in-flight count that shutdown drains.
 *
 * A body far beyond the cap (over max(4 x cap, 256 MiB)) is answered at once
 * and the connection closed, so nobody can make us read forever.
 *
 * Slow clients.  Every connection has a record (MHD's socket context) with a
 * deadline: headers complete by header_timeout after the connection opened or
 * the previous response ended; the body by body_timeout after the headers,
 * plus a second per body_min_rate bytes received.  A watchdog worker walks
 * the records every second and shuts down (shutdown(2), never close(2): the
 * descriptor stays MHD's) the socket of every connection past its deadline;
 * MHD then sees the connection end and cleans it up.  Records leave the list
 * under its lock when MHD reports the connection closed, which happens before
 * MHD closes the descriptor, so the watchdog never shuts down a reused
 * descriptor.  While a handler runs or a response is sent there is no
 * deadline (MHD's idle timeout still applies).
 *
 * Errors (404, 405, 413, filter rejections) are rendered in the error format
 * resolved for the request: the route's; for a path with no route, the
 * longest route prefix (a pattern's text before its first capture) or
 * declared prefix it falls under; else the server's default.  Formats are
 * resolved once, at start.  Route tables, prefixes, filters and response
 * headers are growable arrays: nothing is dropped for lack of room, and a
 * malformed route fails the start instead of misbehaving later.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>
#include <ctype.h>
#include <microhttpd.h>
#include <pthread.h>
#include <netinet/in.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const int status_codes[] = {200, 201, 204, 206, 304, 400, 401, 403, 404, 405, 409,
				   413, 416, 429, 499, 500, 501, 503, 504};
#define NSTATUS (sizeof status_codes / sizeof *status_codes)

struct route_stats {
	unsigned long long by_status[NSTATUS + 1];
	struct mw_hist latency;
};

struct route_slot {
	const struct mw_route *r;
	struct route_stats stats;
	enum mw_errfmt fmt;   /* resolved at start */
};

struct route_table {
	struct route_slot *slot;
	size_t n;
};

/* The routes whose pattern can match a path with a given first segment, in
 * matching order (built at start): routes whose first segment is that text,
 * and routes whose first segment is a capture. */
struct seg_index {
	const char *seg; /* borrowed from a pattern */
	size_t len;
	struct route_slot **slots;
	size_t n;
};

struct prefix {
	const char *p;
	size_t len;
	enum mw_errfmt fmt;
};

struct filter {
	const char *name;
	mw_http_filter_fn fn;
	void *ud;
};

/* One per connection (MHD's socket context), linked in the server's list. */
struct sock {
	struct sock *prev, *next;
	int fd;
	char addr[INET6_ADDRSTRLEN]; /* the client's address as text ("" when unknown) */
	int64_t deadline_ms;   /* mw_mono_ms clock; 0 = none; atomic */
	int64_t body_credit;   /* body bytes whose time is already added; atomic */
};

struct mw_http_server {
	struct mw_http_opts o;
	struct MHD_Daemon *d;
	struct route_table *tables;
	size_t ntables, atables;
	struct prefix *declared;     /* mw_http_error_prefix */
	size_t ndeclared, adeclared;
	struct prefix *prefixes;     /* at start: declared + route prefixes, longest first */
	struct seg_index *segs;      /* at start: routes by their first segment */
	size_t nsegs;
	struct seg_index wild;       /* routes whose first segment captures */
	size_t nprefixes;
	struct filter *filters;
	size_t nfilters, afilters;
	pthread_mutex_t smu;         /* socks */
	struct sock socks;           /* list head */
	struct mw_worker *watchdog;
	size_t resp_bytes;                /* answer bodies in memory, not yet sent */
	unsigned long long resp_refused;  /* answers refused for the budget */
	unsigned long long timeouts; /* connections cut for being too slow */
	struct mw_err setup_err;     /* the first malformed route */
	struct route_stats unmatched;
	int inflight;
	unsigned long long requests;
	int port;
};

struct ctx {
	struct mw_http_req req;       /* first member: mw_http_defer casts */
	struct mw_http_server *srv;
	struct mw_buf body;
	size_t seen;          /* body bytes received, kept or not */
	size_t cap;           /* the body cap of this request */
	enum mw_body policy;  /* the route's, NONE when no route matched */
	enum mw_errfmt fmt;   /* resolved error format */
	bool too_large;
	bool counted;         /* counted in inflight (the handler has started) */
	bool answered;        /* a response was queued before the body ended */
	const struct mw_route *route; /* matched at the first call */
	struct route_stats *route_stats;
	bool wrong_method;
	void *stream_state;   /* a streaming route's state until end/abort */
	bool early;           /* early_resp is the answer: a filter rejected, or begin refused */
	struct mw_http_resp early_resp;
	uint64_t start_ns;
	struct route_stats *stats;
	struct sock *sock;    /* the connection's record (slow-client deadlines) */
	size_t resp_bytes;    /* counted in the server's resp_bytes until completion */
	/* deferred responses (mw_http_defer / mw_http_complete) */
	pthread_mutex_t dmu;
	int dstate;           /* DEFER_* */
	struct mw_http_resp dresp;
	struct MHD_Connection *conn;
};

enum { DEFER_NONE, DEFER_PENDING, DEFER_SUSPENDED, DEFER_DONE };

/* Grow *arr (elements of size sz) to hold n + 1. */
static void *grow(void *arr, size_t *alloc, size_t n, size_t sz)
{
	if (n < *alloc)
		return arr;
	*alloc = *alloc ? *alloc * 2 : 8;
	return mw_xrealloc(arr, *alloc * sz);
}

/* ------------------------------------------------------------ matching */

static bool match(const char *pat, const char *path, struct mw_http_req *req)
{
	int ncap = 0;
	const char *p = pat, *u = path;
	while (*p) {
		if (p[0] == '*' && p[1] == 0) {
			if (ncap < MW_HTTP_MAX_CAPTURES) /* more is refused at start */
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

/* The first segment of a path or pattern ("/v2/models" -> "v2"). */
static const char *first_seg(const char *p, size_t *len)
{
	if (*p == '/')
		p++;
	const char *e = strchr(p, '/');
	*len = e ? (size_t)(e - p) : strlen(p);
	return p;
}

static bool seg_captures(const char *seg, size_t len)
{
	return (len && seg[0] == '{') || (len == 1 && seg[0] == '*');
}

/* Index every route by its first segment, keeping the matching order, so a
 * request scans only the routes that can match it (a V2 inference does not
 * walk the hundreds of MLflow routes). */
static void build_index(struct mw_http_server *s)
{
	size_t aseg = 0;
	for (size_t t = 0; t < s->ntables; t++)
		for (size_t i = 0; i < s->tables[t].n; i++) {
			size_t len;
			const char *seg = first_seg(s->tables[t].slot[i].r->pattern, &len);
			if (seg_captures(seg, len))
				continue;
			size_t k = 0;
			while (k < s->nsegs &&
			       !(s->segs[k].len == len && !memcmp(s->segs[k].seg, seg, len)))
				k++;
			if (k == s->nsegs) {
				s->segs = grow(s->segs, &aseg, s->nsegs, sizeof *s->segs);
				s->segs[s->nsegs++] = (struct seg_index){.seg = seg, .len = len};
			}
		}
	size_t total = 0;
	for (size_t t = 0; t < s->ntables; t++)
		total += s->tables[t].n;
	for (size_t k = 0; k <= s->nsegs; k++) {
		struct seg_index *x = k < s->nsegs ? &s->segs[k] : &s->wild;
		x->slots = mw_xcalloc(total ? total : 1, sizeof *x->slots);
		for (size_t t = 0; t < s->ntables; t++)
			for (size_t i = 0; i < s->tables[t].n; i++) {
				size_t len;
				const char *seg = first_seg(s->tables[t].slot[i].r->pattern, &len);
				bool wild = seg_captures(seg, len);
				if (wild || (k < s->nsegs && len == x->len && !memcmp(seg, x->seg, len)))
					x->slots[x->n++] = &s->tables[t].slot[i];
			}
	}
}

/* Find a route; *path_slot gets the first route whose path matches with
 * another method (a 405), when no route matches both. */
static struct route_slot *route_find(struct mw_http_server *s, struct mw_http_req *req,
				     struct route_slot **path_slot)
{
	*path_slot = NULL;
	size_t len;
	const char *seg = first_seg(req->path, &len);
	const struct seg_index *x = &s->wild;
	for (size_t k = 0; k < s->nsegs; k++)
		if (s->segs[k].len == len && !memcmp(s->segs[k].seg, seg, len)) {
			x = &s->segs[k];
			break;
		}
	for (size_t i = 0; i < x->n; i++) {
		struct route_slot *sl = x->slots[i];
		const struct mw_route *r = sl->r;
		if (!match(r->pattern, req->path, req))
			continue;
		if (!strcmp(r->method, req->method) ||
		    (!strcmp(req->method, "HEAD") && !strcmp(r->method, "GET")))
			return sl;
		if (!*path_slot)
			*path_slot = sl;
	}
	req->ncap = 0;
	return NULL;
}

/* path is pre or below it (pre ends a segment). */
static bool under(const char *path, const char *pre, size_t len)
{
	if (!len || strncmp(path, pre, len))
		return false;
	return pre[len - 1] == '/' || path[len] == 0 || path[len] == '/';
}

static enum mw_errfmt prefix_fmt(const struct prefix *p, size_t n, const char *path,
				 enum mw_errfmt def)
{
	size_t best = 0;
	enum mw_errfmt fmt = def;
	for (size_t i = 0; i < n; i++)
		if (p[i].len > best && under(path, p[i].p, p[i].len)) {
			best = p[i].len;
			fmt = p[i].fmt;
		}
	return fmt;
}

/* The text of a pattern before its first capture. */
static size_t literal_len(const char *pattern)
{
	size_t n = strcspn(pattern, "{*");
	return n;
}

/* Resolve every route's format (its own, else its declared prefix's, else
 * the server's) and the prefix list that unmatched paths are looked up in. */
static void resolve_formats(struct mw_http_server *s)
{
	size_t n = s->ndeclared;
	for (size_t t = 0; t < s->ntables; t++)
		n += s->tables[t].n;
	free(s->prefixes);
	s->prefixes = mw_xcalloc(n ? n : 1, sizeof *s->prefixes);
	if (s->ndeclared)
		memcpy(s->prefixes, s->declared, s->ndeclared * sizeof *s->declared);
	s->nprefixes = s->ndeclared;
	for (size_t t = 0; t < s->ntables; t++)
		for (size_t i = 0; i < s->tables[t].n; i++) {
			struct route_slot *sl = &s->tables[t].slot[i];
			sl->fmt = sl->r->errfmt;
			if (sl->fmt == MW_ERRFMT_INHERIT)
				sl->fmt = prefix_fmt(s->declared, s->ndeclared, sl->r->pattern,
						     s->o.error_format);
			size_t len = literal_len(sl->r->pattern);
			if (sl->fmt != MW_ERRFMT_INHERIT && len)
				s->prefixes[s->nprefixes++] =
					(struct prefix){sl->r->pattern, len, sl->fmt};
		}
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
	size_t alloc = (size_t)resp->ahdr;
	resp->hdr = grow(resp->hdr, &alloc, (size_t)resp->nhdr * 2 + 1, sizeof *resp->hdr);
	resp->ahdr = (int)alloc;
	resp->hdr[resp->nhdr * 2] = name;
	resp->hdr[resp->nhdr * 2 + 1] = value;
	resp->nhdr++;
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

/* Free what a response that is never sent still owns. */
static void resp_release(struct mw_http_resp *resp)
{
	free(resp->body);
	if (resp->has_fd)
		close(resp->fd);
	free(resp->hdr);
	memset(resp, 0, sizeof *resp);
}

void mw_http_render_error(struct mw_http_resp *resp, enum mw_errfmt fmt, int status, int code,
			  const char *msg)
{
	const char *text = msg && *msg ? msg : mw_err_name(code);
	json_t *e;
	switch (fmt) {
	case MW_ERRFMT_MLFLOW:
		e = json_pack("{s:s,s:s}", "error_code", mw_err_name(code), "message", text);
		if (!e) /* msg was not valid UTF-8: say so without echoing it */
			e = json_pack("{s:s,s:s}", "error_code", mw_err_name(code), "message",
				      "invalid request (the error message held invalid UTF-8)");
		break;
	case MW_ERRFMT_V2:
		e = json_pack("{s:s}", "error", text);
		if (!e)
			e = json_object();
		break;
	default:
		mw_http_resp_text(resp, status, "text/plain; charset=utf-8", text);
		return;
	}
	size_t n;
	char *s = mw_json_dump(e, &n);
	json_decref(e);
	mw_http_resp_set(resp, status, "application/json", s, n);
}

enum mw_errfmt mw_http_req_errfmt(struct mw_http_req *req)
{
	return ((struct ctx *)req)->fmt;
}

void mw_http_error(struct mw_http_req *req, struct mw_http_resp *resp, int status, int code,
		   const char *msg)
{
	struct ctx *c = (struct ctx *)req;
	if (c->srv->o.on_error)
		c->srv->o.on_error(req, resp, status, code, msg);
	else
		mw_http_render_error(resp, c->fmt, status, code, msg);
}

static void count_status(struct route_stats *st, int status)
{
	size_t i = 0;
	while (i < NSTATUS && status_codes[i] != status)
		i++;
	__atomic_fetch_add(&st->by_status[i], 1, __ATOMIC_RELAXED);
}

/* Answers up to this size are not counted against max_response_memory: the
 * kernel's socket buffer takes them whether the client reads or not. */
#define SMALL_RESPONSE (64u << 10)

static enum MHD_Result send_resp(struct MHD_Connection *conn, struct ctx *c,
				 struct mw_http_resp *resp)
{
	if (!resp->status)
		resp->status = 500;
	if (!resp->has_fd && resp->body && resp->len > SMALL_RESPONSE) {
		/* Answers in memory wait there until the client has read them: a
		 * budget keeps slow readers from pinning more than it. */
		struct mw_http_server *s = c->srv;
		size_t was = __atomic_fetch_add(&s->resp_bytes, resp->len, __ATOMIC_RELAXED);
		if (was + resp->len > s->o.max_response_memory) {
			__atomic_fetch_sub(&s->resp_bytes, resp->len, __ATOMIC_RELAXED);
			__atomic_fetch_add(&s->resp_refused, 1, __ATOMIC_RELAXED);
			resp_release(resp);
			mw_http_error(&c->req, resp, 503, MW_E_UNAVAILABLE,
				      "the server is busy: answers waiting for slow clients fill its "
				      "response memory; try again");
		} else {
			c->resp_bytes = resp->len;
		}
	}
	int status = resp->status;
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
	if (!r) {
		resp_release(resp);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				resp->content_type ? resp->content_type : "application/json");
	const char *rid = c->req.call.request_id;
	if (rid && *rid)
		MHD_add_response_header(r, "X-Request-Id", rid);
	for (int i = 0; i < resp->nhdr; i++)
		MHD_add_response_header(r, resp->hdr[2 * i], resp->hdr[2 * i + 1]);
	resp_release(resp);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);

	double secs = (double)(mw_mono_ns() - c->start_ns) / 1e9;
	count_status(c->stats, status);
	mw_hist_observe(&c->stats->latency, secs);
	if (mw_log_get_level() <= MW_LOG_INFO)
		mw_info("%s %s %d %zu %.3fms%s%s", c->req.method, c->req.path, status, sent,
			secs * 1000, rid && *rid ? " rid=" : "", rid ? rid : "");
	return ret;
}

/* ------------------------------------------------------------ MHD glue */

static size_t hard_cap(size_t cap)
{
	return cap * 4 > (256u << 20) ? cap * 4 : (256u << 20);
}

/* ------------------------------------------------------------ slow clients */

static int64_t mono_ms(void)
{
	return (int64_t)(mw_mono_ns() / 1000000);
}

static struct sock *sock_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static void sock_deadline(struct sock *k, int64_t ms_from_now)
{
	if (!k)
		return;
	__atomic_store_n(&k->body_credit, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&k->deadline_ms, ms_from_now ? mono_ms() + ms_from_now : 0,
			 __ATOMIC_RELAXED);
}

/* The client's address of conn as text into buf ("" when unknown). */
static void addr_text(struct MHD_Connection *conn, char *buf, size_t n)
{
	buf[0] = 0;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
			  (socklen_t)n);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  buf, (socklen_t)n);
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			      enum MHD_ConnectionNotificationCode code)
{
	struct mw_http_server *s = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct sock *k = mw_xcalloc(1, sizeof *k);
		k->fd = ci ? ci->connect_fd : -1;
		addr_text(conn, k->addr, sizeof k->addr);
		k->deadline_ms = mono_ms() + s->o.header_timeout_ms;
		pthread_mutex_lock(&s->smu);
		k->next = s->socks.next;
		k->prev = &s->socks;
		s->socks.next->prev = k;
		s->socks.next = k;
		pthread_mutex_unlock(&s->smu);
		*socket_context = k;
		return;
	}
	struct sock *k = *socket_context;
	if (!k)
		return;
	/* before MHD closes the descriptor: the watchdog cannot see it after */
	pthread_mutex_lock(&s->smu);
	k->prev->next = k->next;
	k->next->prev = k->prev;
	pthread_mutex_unlock(&s->smu);
	free(k);
	*socket_context = NULL;
}

static void watchdog(struct mw_worker *w, void *ud)
{
	(void)w;
	struct mw_http_server *s = ud;
	int64_t now = mono_ms();
	int64_t rate = s->o.body_min_rate;
	pthread_mutex_lock(&s->smu);
	for (struct sock *k = s->socks.next; k != &s->socks; k = k->next) {
		int64_t d = __atomic_load_n(&k->deadline_ms, __ATOMIC_RELAXED);
		if (!d || k->fd < 0)
			continue;
		int64_t credit = __atomic_load_n(&k->body_credit, __ATOMIC_RELAXED);
		if (now <= d + credit / rate * 1000 + credit % rate * 1000 / rate)
			continue;
		__atomic_store_n(&k->deadline_ms, 0, __ATOMIC_RELAXED);
		shutdown(k->fd, SHUT_RDWR); /* MHD sees the end and cleans up */
		s->timeouts++;
	}
	pthread_mutex_unlock(&s->smu);
}

/* The first call: route, call context, filters, body policy. */
static struct ctx *begin_request(struct mw_http_server *s, struct MHD_Connection *conn,
				 const char *url, const char *method)
{
	struct ctx *c = mw_xcalloc(1, sizeof *c);
	pthread_mutex_init(&c->dmu, NULL);
	c->srv = s;
	c->conn = conn;
	c->start_ns = mw_mono_ns();
	c->sock = sock_of(conn);
	sock_deadline(c->sock, s->o.body_timeout_ms); /* the body, if any, from now */
	c->req.arena = mw_arena_new(8192);
	c->req.method = method;
	c->req.path = url;
	c->req.conn = conn;
	c->stats = &s->unmatched;
	struct route_slot *path_slot, *sl = route_find(s, &c->req, &path_slot);
	c->route = sl ? sl->r : NULL;
	c->route_stats = sl ? &sl->stats : NULL;
	c->wrong_method = !sl && path_slot;
	c->req.route = c->route;
	c->req.path_route = !sl && path_slot ? path_slot->r : NULL;
	c->fmt = sl ? sl->fmt
		    : path_slot ? path_slot->fmt
				: prefix_fmt(s->prefixes, s->nprefixes, url, s->o.error_format);
	c->req.call.user = "anonymous";
	c->req.call.request_id = "";
	if (c->route && c->route->deadline_ms > 0)
		c->req.call.deadline_ms = mw_now_ms() + c->route->deadline_ms;
	for (size_t i = 0; i < s->nfilters && !c->early; i++)
		if (s->filters[i].fn(&c->req, &c->early_resp, s->filters[i].ud))
			c->early = true;
	c->policy = c->route ? c->route->body : MW_BODY_NONE;
	c->cap = c->route && c->route->body == MW_BODY_BUFFERED && c->route->max_body
			 ? c->route->max_body
			 : s->o.max_body;
	bool buffered = c->policy == MW_BODY_BUFFERED && !c->early;
	mw_buf_init(&c->body, buffered ? c->cap : 1);
	if (c->policy == MW_BODY_STREAM) {
		/* streaming: no buffer, no body cap; the route decides */
		if (!c->early && c->route->stream->begin(&c->req, &c->stream_state, &c->early_resp,
							 c->route->ud)) {
			c->early = true;
			c->stream_state = NULL;
		}
		return c;
	}
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	int64_t n;
	if (!c->early && cl && !mw_parse_int64(cl, &n) && (uint64_t)n > c->cap)
		c->too_large = true;
	return c;
}

/* A body chunk: to the stream, the buffer, or dropped.  Returns true when the
 * request must be answered at once (far too much body). */
static bool take_body(struct ctx *c, const char *p, size_t n)
{
	c->seen += n;
	if (c->sock) /* each body_min_rate bytes buy the sender another second */
		__atomic_fetch_add(&c->sock->body_credit, (int64_t)n, __ATOMIC_RELAXED);
	if (c->policy == MW_BODY_STREAM) {
		/* a failing chunk is remembered by the state and reported by end */
		if (c->stream_state)
			(void)c->route->stream->data(c->stream_state, p, n);
		return false;
	}
	if (!c->early && !c->too_large) {
		if (c->policy == MW_BODY_BUFFERED) {
			if (mw_buf_append(&c->body, p, n)) {
				c->too_large = true;
				mw_buf_release(&c->body);
				mw_buf_init(&c->body, 1);
			}
		} else if (c->seen > c->cap) {
			c->too_large = true;
		}
	}
	return (c->too_large || c->early) && c->seen > hard_cap(c->cap);
}

static void body_too_large(struct ctx *c, struct mw_http_resp *resp)
{
	char msg[128];
	snprintf(msg, sizeof msg, "Request body too large: the limit is %zu bytes", c->cap);
	mw_http_error(&c->req, resp, 413, MW_E_TOO_LARGE, msg);
}

/* The handler returned after mw_http_defer: send now if it was completed
 * already, else suspend the connection until mw_http_complete. */
static enum MHD_Result after_defer(struct MHD_Connection *conn, struct ctx *c)
{
	pthread_mutex_lock(&c->dmu);
	if (c->dstate == DEFER_DONE) { /* completed before we got here */
		struct mw_http_resp resp = c->dresp;
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

static bool expects_continue(struct MHD_Connection *conn)
{
	const char *e = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
	return e && !strcasecmp(e, "100-continue");
}

static enum MHD_Result ahc(void *cls, struct MHD_Connection *conn, const char *url,
			   const char *method, const char *version, const char *upload_data,
			   size_t *upload_data_size, void **con_cls)
{
	struct mw_http_server *s = cls;
	struct ctx *c = *con_cls;
	(void)version;
	if (c && c->dstate == DEFER_DONE) {
		/* resumed after mw_http_complete: send what the completer left */
		struct mw_http_resp resp = c->dresp;
		memset(&c->dresp, 0, sizeof c->dresp);
		c->dstate = DEFER_NONE;
		return send_resp(conn, c, &resp);
	}
	if (!c) {
		c = begin_request(s, conn, url, method);
		*con_cls = c;
		if ((c->too_large || c->early) && expects_continue(conn)) {
			/* The client waits for "100 Continue" before it sends the
			 * body: answer now instead (MHD then never sends the 100, and
			 * closes the connection, which the body never sent needs). */
			struct mw_http_resp resp = {0};
			if (c->early) {
				resp = c->early_resp;
				memset(&c->early_resp, 0, sizeof c->early_resp);
			} else {
				body_too_large(c, &resp);
			}
			c->answered = true;
			return send_resp(conn, c, &resp);
		}
		return MHD_YES;
	}
	if (c->answered) { /* answered in the middle of the body: close */
		*upload_data_size = 0;
		return MHD_NO;
	}
	if (*upload_data_size) {
		bool now = take_body(c, upload_data, *upload_data_size);
		*upload_data_size = 0;
		if (!now)
			return MHD_YES;
		struct mw_http_resp resp = {0};
		if (c->early) {
			resp = c->early_resp;
			memset(&c->early_resp, 0, sizeof c->early_resp);
		} else {
			mw_http_error(&c->req, &resp, 413, MW_E_TOO_LARGE, "Request body too large");
		}
		c->answered = true;
		return send_resp(conn, c, &resp);
	}

	/* in flight from here: shutdown waits for handlers, not for bodies that
	 * are still arriving (those were never acknowledged and are dropped) */
	sock_deadline(c->sock, 0); /* the body is in: no deadline while we work */
	c->counted = true;
	__atomic_fetch_add(&s->inflight, 1, __ATOMIC_RELAXED);
	struct mw_http_resp resp = {0};
	const struct mw_route *r = c->route;
	if (c->route_stats)
		c->stats = c->route_stats;
	if (c->early) {
		resp = c->early_resp;
		memset(&c->early_resp, 0, sizeof c->early_resp);
	} else if (c->policy == MW_BODY_STREAM) {
		void *stt = c->stream_state;
		c->stream_state = NULL; /* end owns it now */
		r->stream->end(&c->req, stt, &resp, r->ud);
	} else if (c->too_large) {
		body_too_large(c, &resp);
	} else if (!r) {
		char msg[256];
		snprintf(msg, sizeof msg, "%s %.200s",
			 c->wrong_method ? "Method not allowed:" : "No endpoint:", url);
		mw_http_error(&c->req, &resp, c->wrong_method ? 405 : 404, MW_E_NO_ENDPOINT, msg);
	} else {
		c->req.body = c->body.data;
		c->req.body_len = c->body.len;
		r->fn(&c->req, &resp, r->ud);
		if (c->dstate != DEFER_NONE)
			return after_defer(conn, c);
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
	if (!c)
		return;
	if (c->resp_bytes)
		__atomic_fetch_sub(&s->resp_bytes, c->resp_bytes, __ATOMIC_RELAXED);
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) /* the next request's headers */
		sock_deadline(c->sock, s->o.header_timeout_ms);
	if (c->stream_state && c->route && c->route->stream)
		c->route->stream->abort(c->stream_state); /* the body never completed */
	resp_release(&c->early_resp);
	resp_release(&c->dresp);
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

/* The last message libmicrohttpd logged on this thread (what a failed
 * start says about TLS). */
static _Thread_local char mhd_last[256];

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = 0;
	snprintf(mhd_last, sizeof mhd_last, "%s", msg);
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
	if (s->o.max_connections <= 0)
		s->o.max_connections = 4096;
	if (s->o.max_per_client <= 0)
		s->o.max_per_client = 256;
	if (!s->o.max_response_memory)
		s->o.max_response_memory = (size_t)1 << 30;
	if (s->o.max_header_bytes < 8192)
		s->o.max_header_bytes = 64 * 1024;
	if (s->o.header_timeout_ms <= 0)
		s->o.header_timeout_ms = 30000;
	if (s->o.body_timeout_ms <= 0)
		s->o.body_timeout_ms = 30000;
	if (s->o.body_min_rate <= 0)
		s->o.body_min_rate = 1024;
	if (s->o.idle_timeout_s <= 0)
		s->o.idle_timeout_s = 300;
	pthread_mutex_init(&s->smu, NULL);
	s->socks.next = s->socks.prev = &s->socks;
	mw_hist_init(&s->unmatched.latency, mw_latency_buckets, mw_latency_nbuckets);
	return s;
}

static int count_captures(const char *pattern)
{
	int n = 0;
	for (const char *p = pattern; *p; p++)
		if (*p == '{' || (p[0] == '*' && p[1] == 0))
			n++;
	return n;
}

/* Why a route cannot be served, or 0. */
static int check_route(const struct mw_route *r, struct mw_err *err)
{
	if (!r->method || !r->pattern)
		return mw_err_set(err, MW_E_INVALID, "http: a route has no method or no pattern");
	const char *m = r->method, *p = r->pattern;
	if (r->auth <= MW_AUTH_UNSET || r->auth >= MW_AUTH__COUNT)
		return mw_err_set(err, MW_E_INVALID, "http: route %s %s declares no auth class", m, p);
	if ((int)r->errfmt < 0 || r->errfmt >= MW_ERRFMT__COUNT)
		return mw_err_set(err, MW_E_INVALID, "http: route %s %s: unknown error format", m, p);
	if (r->body > MW_BODY_NONE)
		return mw_err_set(err, MW_E_INVALID, "http: route %s %s: unknown body policy", m, p);
	if ((r->body == MW_BODY_STREAM) != (r->stream != NULL))
		return mw_err_set(err, MW_E_INVALID,
				  "http: route %s %s: a streamed body needs stream callbacks, and "
				  "stream callbacks need MW_BODY_STREAM",
				  m, p);
	if (!r->stream && !r->fn)
		return mw_err_set(err, MW_E_INVALID, "http: route %s %s has no handler", m, p);
	if (r->max_body && r->body != MW_BODY_BUFFERED)
		return mw_err_set(err, MW_E_INVALID,
				  "http: route %s %s: max_body applies to buffered bodies only", m, p);
	if (count_captures(p) > MW_HTTP_MAX_CAPTURES)
		return mw_err_set(err, MW_E_INVALID, "http: route %s %s has more than %d captures", m,
				  p, MW_HTTP_MAX_CAPTURES);
	return 0;
}

int mw_http_add_routes(struct mw_http_server *s, const struct mw_route *r, size_t n)
{
	s->tables = grow(s->tables, &s->atables, s->ntables, sizeof *s->tables);
	struct route_table *t = &s->tables[s->ntables++];
	t->n = n;
	t->slot = mw_xcalloc(n ? n : 1, sizeof *t->slot);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		t->slot[i].r = &r[i];
		mw_hist_init(&t->slot[i].stats.latency, mw_latency_buckets, mw_latency_nbuckets);
		struct mw_err e = {0};
		if (!rc && (rc = check_route(&r[i], &e)) && !s->setup_err.code)
			s->setup_err = e;
	}
	return rc;
}

void mw_http_error_prefix(struct mw_http_server *s, const char *prefix, enum mw_errfmt fmt)
{
	s->declared = grow(s->declared, &s->adeclared, s->ndeclared, sizeof *s->declared);
	s->declared[s->ndeclared++] = (struct prefix){prefix, strlen(prefix), fmt};
}

void mw_http_add_filter(struct mw_http_server *s, const char *name, mw_http_filter_fn fn,
			void *ud)
{
	s->filters = grow(s->filters, &s->afilters, s->nfilters, sizeof *s->filters);
	s->filters[s->nfilters++] = (struct filter){name, fn, ud};
}

void mw_http_routes_each(struct mw_http_server *s, mw_http_route_cb cb, void *ctx)
{
	for (size_t t = 0; t < s->ntables; t++)
		for (size_t i = 0; i < s->tables[t].n; i++)
			cb(ctx, s->tables[t].slot[i].r, s->tables[t].slot[i].fmt);
}

/* host and port as a socket address; *ipv6 tells the family. */
static int parse_addr(const char *host, int port, struct sockaddr_storage *ss, bool *ipv6,
		      struct mw_err *err)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	*ipv6 = false;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*ipv6 = true;
	} else if (!strcmp(host, "localhost")) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		return mw_err_set(err, MW_E_INVALID, "--host must be an IPv4 or IPv6 address: '%s'",
				  host);
	}
	return 0;
}

int mw_http_check_listen(const char *host, int port, struct mw_err *err)
{
	struct sockaddr_storage ss;
	bool ipv6;
	if (!host)
		host = "127.0.0.1";
	int rc = parse_addr(host, port, &ss, &ipv6, err);
	if (rc || !port)
		return rc;
	int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0; /* cannot tell: the start will */
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, ipv6 ? sizeof(struct sockaddr_in6)
						  : sizeof(struct sockaddr_in))) {
		int e = errno;
		close(fd);
		return mw_err_set(err, MW_E_IO, "cannot listen on %s:%d: %s", host, port,
				  e == EADDRINUSE ? "the port is in use" : strerror(e));
	}
	close(fd);
	return 0;
}

int mw_http_start(struct mw_http_server *s, struct mw_err *err)
{
	if (s->setup_err.code) {
		if (err)
			*err = s->setup_err;
		return -s->setup_err.code;
	}
	resolve_formats(s);
	build_index(s);
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
			 MHD_USE_ERROR_LOG;
	const char *host = s->o.host ? s->o.host : "127.0.0.1";
	bool ipv6;
	int prc = parse_addr(host, s->o.port, &ss, &ipv6, err);
	if (prc)
		return prc;
	if (ipv6)
		flags |= MHD_USE_IPv6;
	bool tls = s->o.tls_cert_pem || s->o.tls_key_pem;
	struct MHD_OptionItem tls_opts[3] = {{MHD_OPTION_END, 0, NULL},
					     {MHD_OPTION_END, 0, NULL},
					     {MHD_OPTION_END, 0, NULL}};
	if (tls) {
		if (!s->o.tls_cert_pem || !s->o.tls_key_pem)
			return mw_err_set(err, MW_E_INVALID,
					  "TLS needs both a certificate and a key");
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
			return mw_err_set(err, MW_E_NOT_IMPLEMENTED,
					  "this libmicrohttpd is built without TLS (GnuTLS): "
					  "serve plain HTTP behind a TLS proxy, or install a "
					  "libmicrohttpd with HTTPS support");
		flags |= MHD_USE_TLS;
		tls_opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
						      (void *)s->o.tls_cert_pem};
		tls_opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
						      (void *)s->o.tls_key_pem};
	}
	mhd_last[0] = 0;
	s->d = MHD_start_daemon(flags, (uint16_t)s->o.port, NULL, NULL, ahc, s,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
				&ss, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->o.threads,
				MHD_OPTION_NOTIFY_COMPLETED, completed, s,
				MHD_OPTION_NOTIFY_CONNECTION, notify_connection, s,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->o.idle_timeout_s,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.max_connections,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)s->o.max_per_client,
				MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
				MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->o.max_header_bytes,
				MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
	if (!s->d && tls)
		return mw_err_set(err, MW_E_INVALID,
				  "cannot start TLS on %s:%d: the certificate or the key is not valid "
				  "PEM, or the key is not the certificate's (%s)",
				  host, s->o.port, mhd_last[0] ? mhd_last : "no detail");
	if (!s->d)
		return mw_err_set(err, MW_E_IO, "cannot listen on %s:%d (address in use?)", host,
				  s->o.port);
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : s->o.port;
	int rc = mw_worker_start("http-watchdog", 1000, watchdog, s, &s->watchdog, err);
	if (rc) {
		MHD_stop_daemon(s->d);
		s->d = NULL;
	}
	return rc;
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

void mw_http_stop(struct mw_http_server *s)
{
	if (s) {
		mw_worker_stop(s->watchdog);
		s->watchdog = NULL;
	}
	if (s && s->d) {
		MHD_stop_daemon(s->d);
		s->d = NULL;
	}
}

void mw_http_free(struct mw_http_server *s)
{
	if (!s)
		return;
	mw_http_stop(s);
	for (size_t t = 0; t < s->ntables; t++)
		free(s->tables[t].slot);
	free(s->tables);
	free(s->declared);
	free(s->prefixes);
	for (size_t k = 0; k < s->nsegs; k++)
		free(s->segs[k].slots);
	free(s->segs);
	free(s->wild.slots);
	free(s->filters);
	pthread_mutex_destroy(&s->smu);
	free(s);
}

/* ------------------------------------------------------------ metrics */

static int render_route(struct mw_buf *out, const char *method, const char *name,
			const struct route_stats *st, bool counts)
{
	int bad = 0;
	if (counts) {
		for (size_t i = 0; i <= NSTATUS; i++) {
			unsigned long long v = __atomic_load_n(&st->by_status[i], __ATOMIC_RELAXED);
			if (!v)
				continue;
			if (i < NSTATUS)
				bad |= mw_buf_printf(
					out,
					"mw_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
					method, name, status_codes[i], v);
			else
				bad |= mw_buf_printf(
					out,
					"mw_http_requests_total{method=\"%s\",route=\"%s\",status=\"other\"} %llu\n",
					method, name, v);
		}
		return bad;
	}
	if (!__atomic_load_n(&st->latency.count, __ATOMIC_RELAXED))
		return 0;
	char labels[512];
	snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\"", method, name);
	return mw_hist_render(&st->latency, out, "mw_http_request_duration_seconds", labels);
}

int mw_http_render_metrics(struct mw_http_server *s, struct mw_buf *out)
{
	int bad = 0;
	for (int pass = 0; pass < 2; pass++) {
		bool counts = pass == 0;
		if (counts)
			bad |= mw_buf_puts(
				out,
				"# HELP mw_http_requests_total HTTP requests by route and status.\n"
				"# TYPE mw_http_requests_total counter\n");
		else
			bad |= mw_buf_puts(out,
					   "# HELP mw_http_request_duration_seconds Time from the first "
					   "byte of a request to its response being queued.\n"
					   "# TYPE mw_http_request_duration_seconds histogram\n");
		for (size_t t = 0; t < s->ntables; t++)
			for (size_t i = 0; i < s->tables[t].n; i++) {
				const struct route_slot *sl = &s->tables[t].slot[i];
				bad |= render_route(out, sl->r->method,
						    sl->r->name ? sl->r->name : sl->r->pattern,
						    &sl->stats, counts);
			}
		bad |= render_route(out, "any", "unmatched", &s->unmatched, counts);
	}
	bad |= mw_buf_printf(out,
			     "# HELP mw_http_inflight_requests Requests being handled now.\n"
			     "# TYPE mw_http_inflight_requests gauge\nmw_http_inflight_requests %d\n",
			     mw_http_inflight(s));
	pthread_mutex_lock(&s->smu);
	unsigned long long cut = s->timeouts;
	unsigned open = 0;
	for (struct sock *k = s->socks.next; k != &s->socks; k = k->next)
		open++;
	pthread_mutex_unlock(&s->smu);
	bad |= mw_buf_printf(out,
			     "# HELP mw_http_connections Open client connections.\n"
			     "# TYPE mw_http_connections gauge\nmw_http_connections %u\n"
			     "# HELP mw_http_slow_client_disconnects_total Connections closed because "
			     "their headers or body arrived too slowly.\n"
			     "# TYPE mw_http_slow_client_disconnects_total counter\n"
			     "mw_http_slow_client_disconnects_total %llu\n"
			     "# HELP mw_http_response_memory_bytes Answer bodies in memory waiting to "
			     "be read by their clients.\n"
			     "# TYPE mw_http_response_memory_bytes gauge\n"
			     "mw_http_response_memory_bytes %zu\n"
			     "# HELP mw_http_responses_refused_total Large answers replaced by 503 "
			     "because the response memory was full.\n"
			     "# TYPE mw_http_responses_refused_total counter\n"
			     "mw_http_responses_refused_total %llu\n",
			     open, cut, __atomic_load_n(&s->resp_bytes, __ATOMIC_RELAXED),
			     __atomic_load_n(&s->resp_refused, __ATOMIC_RELAXED));
	return bad ? mw_buf_error(out) : 0;
}

/* ------------------------------------------------------------ request helpers */

const char *mw_http_client_addr(struct mw_http_req *req)
{
	struct sock *k = sock_of(req->conn); /* formatted once per connection */
	if (k)
		return k->addr;
	char buf[INET6_ADDRSTRLEN];
	addr_text(req->conn, buf, sizeof buf);
	return mw_arena_strdup(req->arena, buf);
}

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
