/*
 * loadgen.c - the HTTP/1.1 load generator behind `make bench` (bench/run.sh).
 *
 * A deliberately small client: pthreads, one blocking TCP socket per
 * connection to 127.0.0.1 (no other host is accepted), keep-alive, requests
 * with Content-Length bodies, responses framed by Content-Length, chunked
 * transfer coding or connection close.  A response carrying
 * `Connection: close` closes the socket and the next request reconnects (the
 * reconnects are counted and printed, because they distort latency).
 *
 * Every loop is bounded twice: by a count (--requests, --runs, --pages, ...)
 * and by a time limit (--duration, --timeout-ms).  Every socket has send and
 * receive timeouts (--io-timeout-ms), so a stuck server cannot hang a run.
 *
 * Output is machine-readable: one `key=value` per line on stdout; progress and
 * diagnostics go to stderr.  Modes:
 *
 *   fixed     the same request (--method --path --body/--body-file) from
 *             --conns connections; --requests in total; latency percentiles
 *   logbatch  each connection creates its own run, then sends log-batch
 *             bodies of --batch metrics with fresh steps and timestamps;
 *             prints metric points/s
 *   logmetric each connection creates its own run, then sends one
 *             runs/log-metric per request; latency percentiles
 *   populate  --runs runs in --experiment-id: runs/create (distinct
 *             start_time) + log-batch with metric `m` (uniform in [0,1)) and
 *             param `p`
 *   search    --pages pages of runs/search (--filter, --order-by, page 1
 *             without page_token, then with next_page_token); ms per page;
 *             also checks the filter and the order of what came back
 *   mkexp     experiments/create --name; prints experiment_id
 *   probe     poll GET /health with fresh connections until the first 200
 *   spawn     fork/exec the command after `--` (output to --log), poll
 *             /health until the first 200 (time to ready), read its VmRSS
 *             after --settle-ms, stop it with SIGTERM (SIGKILL after
 *             --timeout-ms); the child never outlives loadgen
 *   exec      run the command after `--` --repeat times, print wall times
 *
 * Plain libc, pthreads and jansson (for the few responses it must read).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define MAX_CONNS 256
#define MAX_RESPONSE (64u << 20)   /* cap on one response (headers + body) */
#define MAX_BODY_FILE (64u << 20)  /* cap on --body-file */

/* ---------------------------------------------------------------- options */

enum mode {
	MODE_FIXED, MODE_LOGBATCH, MODE_LOGMETRIC, MODE_POPULATE, MODE_SEARCH,
	MODE_MKEXP, MODE_PROBE, MODE_SPAWN, MODE_EXEC
};

static const char *const mode_names[] = {
	"fixed", "logbatch", "logmetric", "populate", "search",
	"mkexp", "probe", "spawn", "exec"
};

struct opts {
	enum mode mode;
	int port;
	int conns;
	long requests;          /* total requests (fixed, logbatch, logmetric) */
	double duration;        /* seconds: time limit of the main loop */
	const char *method;
	const char *path;
	char *body;             /* owned */
	size_t body_len;
	int batch;              /* metrics per log-batch body */
	int keys;               /* distinct metric keys in a log-batch body */
	const char *experiment_id;
	const char *name;
	long runs;              /* populate */
	int pages;              /* search */
	int max_results;        /* search */
	const char *filter;     /* search */
	const char *order_by;   /* search */
	long timeout_ms;        /* probe, spawn */
	long io_timeout_ms;
	const char *log_path;   /* spawn */
	int repeat;             /* exec */
	long settle_ms;         /* spawn: wait after ready before reading RSS */
	char **cmd;             /* spawn, exec: argv after "--" */
	bool quiet;
	const char *header;     /* one extra request header line, "Name: value" */
};

static struct opts O = {
	.mode = MODE_FIXED, .port = 0, .conns = 1, .requests = 1000, .duration = 10.0,
	.method = "GET", .path = "/health", .batch = 1000, .keys = 10,
	.experiment_id = "0", .name = NULL, .runs = 1000, .pages = 20, .max_results = 100,
	.filter = "", .order_by = "", .timeout_ms = 5000, .io_timeout_ms = 30000,
	.log_path = "/dev/null", .repeat = 5, .settle_ms = 200,
};

/* ---------------------------------------------------------------- clocks */

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static uint64_t deadline_ns;  /* absolute mono time at which loops stop */

static bool time_left(void)
{
	return mono_ns() < deadline_ns;
}

/* xorshift64*: cheap per-thread pseudo-random numbers (not for secrets). */
static uint64_t rnd_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 2685821657736338717ull;
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fprintf(stderr, "loadgen: out of memory (%zu bytes)\n", n);
		abort();
	}
	return q;
}

/* ---------------------------------------------------------------- buffers */

struct buf {
	char *data;
	size_t len;
	size_t alloc;
};

static void buf_reserve(struct buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->alloc)
		return;
	size_t n = b->alloc ? b->alloc : 4096;
	while (n < b->len + extra + 1)
		n *= 2;
	b->data = xrealloc(b->data, n);
	b->alloc = n;
}

static void buf_append(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	buf_reserve(b, 256);
	va_start(ap, fmt);
	int n = vsnprintf(b->data + b->len, b->alloc - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->alloc - b->len) {
		buf_reserve(b, (size_t)n + 1);
		va_start(ap, fmt);
		n = vsnprintf(b->data + b->len, b->alloc - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
	}
	b->len += (size_t)n;
}

/* Append s as a JSON string literal (quotes included). */
static void buf_json_str(struct buf *b, const char *s)
{
	buf_append(b, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			char e[2] = { '\\', (char)ch };
			buf_append(b, e, 2);
		} else if (ch < 0x20) {
			buf_printf(b, "\\u%04x", ch);
		} else {
			buf_append(b, s, 1);
		}
	}
	buf_append(b, "\"", 1);
}

static void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static void buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->alloc = 0;
}

/* Latency samples (ns), growable. */
struct lat {
	uint64_t *v;
	size_t n;
	size_t alloc;
};

static void lat_add(struct lat *l, uint64_t ns)
{
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 1024;
		l->v = xrealloc(l->v, l->alloc * sizeof(*l->v));
	}
	l->v[l->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples. */
static double pct_ms(const struct lat *l, double q)
{
	if (l->n == 0)
		return 0.0;
	size_t rank = (size_t)ceil(q * (double)l->n);
	if (rank < 1)
		rank = 1;
	if (rank > l->n)
		rank = l->n;
	return (double)l->v[rank - 1] / 1e6;
}

static void print_latency(const char *prefix, struct lat *l)
{
	if (l->n == 0) {
		printf("%s_samples=0\n", prefix);
		return;
	}
	qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
	double sum = 0;
	for (size_t i = 0; i < l->n; i++)
		sum += (double)l->v[i];
	printf("%s_samples=%zu\n", prefix, l->n);
	printf("%s_min_ms=%.3f\n", prefix, (double)l->v[0] / 1e6);
	printf("%s_mean_ms=%.3f\n", prefix, sum / (double)l->n / 1e6);
	printf("%s_p50_ms=%.3f\n", prefix, pct_ms(l, 0.50));
	printf("%s_p90_ms=%.3f\n", prefix, pct_ms(l, 0.90));
	printf("%s_p99_ms=%.3f\n", prefix, pct_ms(l, 0.99));
	printf("%s_max_ms=%.3f\n", prefix, (double)l->v[l->n - 1] / 1e6);
}

/* ---------------------------------------------------------------- HTTP */

struct conn {
	int fd;              /* -1 when closed */
	struct buf in;       /* bytes received, not yet consumed */
	struct buf body;     /* body of the last response */
	struct buf out;      /* request being sent */
	int status;          /* status of the last response, 0 on transport error */
	long reconnects;     /* connects after the first one */
	long connects;
	char err[160];       /* last transport error */
};

static void conn_init(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_reset(&c->in);
}

static void conn_release(struct conn *c)
{
	conn_close(c);
	buf_release(&c->in);
	buf_release(&c->body);
	buf_release(&c->out);
}

static int conn_open(struct conn *c)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(c->err, sizeof(c->err), "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct timeval tv = {
		.tv_sec = O.io_timeout_ms / 1000,
		.tv_usec = (O.io_timeout_ms % 1000) * 1000,
	};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)O.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  /* 127.0.0.1 only */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(c->err, sizeof(c->err), "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (c->connects > 0)
		c->reconnects++;
	c->connects++;
	c->fd = fd;
	buf_reset(&c->in);
	return 0;
}

static int send_all(struct conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			snprintf(c->err, sizeof(c->err), "send: %s", strerror(errno));
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read more bytes into c->in.  Returns bytes read, 0 on EOF, -1 on error. */
static ssize_t fill(struct conn *c)
{
	if (c->in.len >= MAX_RESPONSE) {
		snprintf(c->err, sizeof(c->err), "response larger than %u bytes", MAX_RESPONSE);
		return -1;
	}
	buf_reserve(&c->in, 65536);
	for (;;) {
		ssize_t r = recv(c->fd, c->in.data + c->in.len, c->in.alloc - c->in.len - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(c->err, sizeof(c->err), "recv: %s",
				 errno == EAGAIN ? "timeout" : strerror(errno));
			return -1;
		}
		c->in.len += (size_t)r;
		c->in.data[c->in.len] = '\0';
		return r;
	}
}

/* Ensure at least `need` bytes are buffered. */
static int fill_to(struct conn *c, size_t need)
{
	while (c->in.len < need) {
		ssize_t r = fill(c);
		if (r < 0)
			return -1;
		if (r == 0) {
			snprintf(c->err, sizeof(c->err), "connection closed mid-response");
			return -1;
		}
	}
	return 0;
}

/* Find "\r\n" at or after off, reading more as needed; returns its offset. */
static long find_crlf(struct conn *c, size_t off)
{
	for (;;) {
		if (c->in.len >= off + 2) {
			char *p = memmem(c->in.data + off, c->in.len - off, "\r\n", 2);
			if (p)
				return p - c->in.data;
		}
		ssize_t r = fill(c);
		if (r <= 0) {
			if (r == 0)
				snprintf(c->err, sizeof(c->err), "connection closed mid-response");
			return -1;
		}
	}
}

/* Case-insensitive header lookup within [hdr, hdr_end); value copied to out. */
static bool header_value(const char *hdr, const char *hdr_end, const char *name,
			 char *out, size_t outsz)
{
	size_t nl = strlen(name);
	const char *p = memmem(hdr, (size_t)(hdr_end - hdr), "\r\n", 2);
	while (p && p < hdr_end) {
		const char *line = p + 2;
		const char *eol = memmem(line, (size_t)(hdr_end - line), "\r\n", 2);
		if (!eol)
			eol = hdr_end;
		if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			size_t vl = (size_t)(eol - v);
			while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			if (vl >= outsz)
				vl = outsz - 1;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return true;
		}
		p = eol < hdr_end ? eol : NULL;
	}
	return false;
}

/*
 * Read one response: sets c->status and c->body.  Returns 0, or -1 on a
 * transport or framing error (the connection is then closed).
 */
static int read_response(struct conn *c, bool head_only)
{
	char *hend;
	for (;;) {
		hend = c->in.len ? memmem(c->in.data, c->in.len, "\r\n\r\n", 4) : NULL;
		if (hend)
			break;
		ssize_t r = fill(c);
		if (r <= 0) {
			if (r == 0)
				snprintf(c->err, sizeof(c->err), "connection closed before response");
			return -1;
		}
	}
	size_t hdr_len = (size_t)(hend - c->in.data) + 4;
	const char *hdr = c->in.data;
	if (strncmp(hdr, "HTTP/1.", 7) != 0 || hdr_len < 12) {
		snprintf(c->err, sizeof(c->err), "bad status line");
		return -1;
	}
	char *endp;
	long st = strtol(hdr + 9, &endp, 10);
	if (st < 100 || st > 999) {
		snprintf(c->err, sizeof(c->err), "bad status code");
		return -1;
	}
	char val[64];
	bool close_after = false;
	if (header_value(hdr, hend + 2, "Connection", val, sizeof(val)) &&
	    strcasecmp(val, "close") == 0)
		close_after = true;
	if (strncmp(hdr, "HTTP/1.0", 8) == 0 &&
	    !(header_value(hdr, hend + 2, "Connection", val, sizeof(val)) &&
	      strcasecmp(val, "keep-alive") == 0))
		close_after = true;
	bool chunked = header_value(hdr, hend + 2, "Transfer-Encoding", val, sizeof(val)) &&
		       strcasecmp(val, "chunked") == 0;
	long long clen = -1;
	if (header_value(hdr, hend + 2, "Content-Length", val, sizeof(val))) {
		clen = strtoll(val, &endp, 10);
		if (*endp != '\0' || clen < 0 || clen > (long long)MAX_RESPONSE) {
			snprintf(c->err, sizeof(c->err), "bad Content-Length");
			return -1;
		}
	}
	buf_reset(&c->body);
	size_t consumed;
	if (head_only || st == 204 || st == 304 || (st >= 100 && st < 200)) {
		consumed = hdr_len;
	} else if (chunked) {
		size_t off = hdr_len;
		for (;;) {
			long eol = find_crlf(c, off);
			if (eol < 0)
				return -1;
			unsigned long long n = strtoull(c->in.data + off, &endp, 16);
			if (endp == c->in.data + off || n > MAX_RESPONSE) {
				snprintf(c->err, sizeof(c->err), "bad chunk size");
				return -1;
			}
			off = (size_t)eol + 2;
			if (n == 0) {
				/* trailers: lines until an empty one */
				for (;;) {
					long e2 = find_crlf(c, off);
					if (e2 < 0)
						return -1;
					bool empty = (size_t)e2 == off;
					off = (size_t)e2 + 2;
					if (empty)
						break;
				}
				break;
			}
			if (fill_to(c, off + (size_t)n + 2) < 0)
				return -1;
			buf_append(&c->body, c->in.data + off, (size_t)n);
			off += (size_t)n + 2;
		}
		consumed = off;
	} else if (clen >= 0) {
		if (fill_to(c, hdr_len + (size_t)clen) < 0)
			return -1;
		buf_append(&c->body, c->in.data + hdr_len, (size_t)clen);
		consumed = hdr_len + (size_t)clen;
	} else {
		/* body until EOF */
		for (;;) {
			ssize_t r = fill(c);
			if (r < 0)
				return -1;
			if (r == 0)
				break;
		}
		buf_append(&c->body, c->in.data + hdr_len, c->in.len - hdr_len);
		consumed = c->in.len;
		close_after = true;
	}
	c->status = (int)st;
	/* keep any pipelined leftover (there should be none) */
	memmove(c->in.data, c->in.data + consumed, c->in.len - consumed);
	c->in.len -= consumed;
	c->in.data[c->in.len] = '\0';
	if (close_after)
		conn_close(c);
	return 0;
}

/*
 * One request/response exchange on c (connecting first if needed).  Returns
 * the status, or 0 on a transport error (c->err says which; the connection is
 * closed so the next call reconnects).
 */
static int http_do(struct conn *c, const char *method, const char *path,
		   const char *body, size_t body_len)
{
	c->status = 0;
	if (c->fd < 0 && conn_open(c) < 0)
		return 0;
	buf_reset(&c->out);
	buf_printf(&c->out,
		   "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: mw-loadgen\r\n"
		   "Accept: application/json\r\n",
		   method, path, O.port);
	if (O.header)
		buf_printf(&c->out, "%s\r\n", O.header);
	if (body || strcmp(method, "GET") != 0)
		buf_printf(&c->out, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
			   body_len);
	buf_append(&c->out, "\r\n", 2);
	if (body_len)
		buf_append(&c->out, body, body_len);
	if (send_all(c, c->out.data, c->out.len) < 0 ||
	    read_response(c, strcmp(method, "HEAD") == 0) < 0) {
		conn_close(c);
		c->status = 0;
		return 0;
	}
	return c->status;
}

/* ---------------------------------------------------------------- shared counters */

static atomic_long g_claimed;      /* work items claimed (requests or runs) */
static atomic_long g_ok;           /* 2xx responses */
static atomic_long g_err_status;   /* non-2xx responses */
static atomic_long g_err_io;       /* transport errors */
static atomic_long g_runs_created; /* populate */
static atomic_long g_runs_done;    /* populate: create + log-batch both 2xx */
static pthread_mutex_t g_err_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_first_err[400];

static void note_error(struct conn *c, const char *what)
{
	if (c->status == 0)
		atomic_fetch_add(&g_err_io, 1);
	else
		atomic_fetch_add(&g_err_status, 1);
	pthread_mutex_lock(&g_err_lock);
	if (!g_first_err[0]) {
		if (c->status == 0)
			snprintf(g_first_err, sizeof(g_first_err), "%s: %s", what, c->err);
		else
			snprintf(g_first_err, sizeof(g_first_err), "%s: HTTP %d %.300s", what,
				 c->status, c->body.data ? c->body.data : "");
		/* keep it one line */
		for (char *p = g_first_err; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
	}
	pthread_mutex_unlock(&g_err_lock);
}

static bool ok_status(int st)
{
	return st >= 200 && st < 300;
}

/* Claim one unit of work below limit; false when the count is exhausted. */
static bool claim(long limit, long *idx)
{
	long i = atomic_fetch_add(&g_claimed, 1);
	if (i >= limit)
		return false;
	if (idx)
		*idx = i;
	return true;
}

/* POST runs/create in experiment; copies the run id into out[64]. */
static int create_run(struct conn *c, const char *run_name, int64_t start_time, char out[64])
{
	struct buf b = { 0 };
	buf_append(&b, "{\"experiment_id\":", 17);
	buf_json_str(&b, O.experiment_id);
	if (run_name) {
		buf_append(&b, ",\"run_name\":", 12);
		buf_json_str(&b, run_name);
	}
	buf_printf(&b, ",\"start_time\":%" PRId64 "}", start_time);
	int st = http_do(c, "POST", "/api/2.0/mlflow/runs/create", b.data, b.len);
	buf_release(&b);
	if (!ok_status(st)) {
		note_error(c, "runs/create");
		return -1;
	}
	json_error_t je;
	json_t *root = json_loadb(c->body.data, c->body.len, 0, &je);
	json_t *info = json_object_get(json_object_get(root, "run"), "info");
	const char *id = json_string_value(json_object_get(info, "run_id"));
	if (!id)
		id = json_string_value(json_object_get(info, "run_uuid"));
	int rc = -1;
	if (id && strlen(id) < 64) {
		snprintf(out, 64, "%s", id);
		rc = 0;
	} else {
		pthread_mutex_lock(&g_err_lock);
		if (!g_first_err[0])
			snprintf(g_first_err, sizeof(g_first_err),
				 "runs/create: no run.info.run_id in response");
		pthread_mutex_unlock(&g_err_lock);
		atomic_fetch_add(&g_err_status, 1);
	}
	json_decref(root);
	return rc;
}

/* ---------------------------------------------------------------- workers */

struct worker {
	pthread_t th;
	int id;
	struct conn c;
	struct lat lat;
	uint64_t rng;
	pthread_barrier_t *start;  /* logbatch/logmetric: after setup */
	bool ready;                /* setup succeeded */
};

static void *run_fixed(void *arg)
{
	struct worker *w = arg;
	while (time_left() && claim(O.requests, NULL)) {
		uint64_t t0 = mono_ns();
		int st = http_do(&w->c, O.method, O.path, O.body, O.body_len);
		lat_add(&w->lat, mono_ns() - t0);
		if (ok_status(st))
			atomic_fetch_add(&g_ok, 1);
		else
			note_error(&w->c, O.path);
	}
	return NULL;
}

static void *run_logbatch(void *arg)
{
	struct worker *w = arg;
	char run_id[64];
	char name[64];
	snprintf(name, sizeof(name), "loadgen-logbatch-%d", w->id);
	w->ready = create_run(&w->c, name, wall_ms(), run_id) == 0;
	pthread_barrier_wait(w->start);
	if (!w->ready)
		return NULL;
	struct buf b = { 0 };
	long seq = 0;
	int per_key = O.batch / O.keys + (O.batch % O.keys != 0);
	while (time_left() && claim(O.requests, NULL)) {
		buf_reset(&b);
		buf_append(&b, "{\"run_id\":\"", 11);
		buf_append(&b, run_id, strlen(run_id));
		buf_append(&b, "\",\"metrics\":[", 13);
		int64_t ts = wall_ms();
		for (int i = 0; i < O.batch; i++) {
			uint64_t r = rnd_next(&w->rng);
			long step = seq * per_key + i / O.keys;
			buf_printf(&b, "%s{\"key\":\"m%03d\",\"value\":0.%06u,\"timestamp\":%" PRId64
				       ",\"step\":%ld}",
				   i ? "," : "", i % O.keys, (unsigned)(r % 1000000u), ts, step);
		}
		buf_append(&b, "]}", 2);
		seq++;
		uint64_t t0 = mono_ns();
		int st = http_do(&w->c, "POST", "/api/2.0/mlflow/runs/log-batch", b.data, b.len);
		lat_add(&w->lat, mono_ns() - t0);
		if (ok_status(st))
			atomic_fetch_add(&g_ok, 1);
		else
			note_error(&w->c, "runs/log-batch");
	}
	buf_release(&b);
	return NULL;
}

static void *run_logmetric(void *arg)
{
	struct worker *w = arg;
	char run_id[64];
	char name[64];
	snprintf(name, sizeof(name), "loadgen-logmetric-%d", w->id);
	w->ready = create_run(&w->c, name, wall_ms(), run_id) == 0;
	pthread_barrier_wait(w->start);
	if (!w->ready)
		return NULL;
	struct buf b = { 0 };
	long step = 0;
	while (time_left() && claim(O.requests, NULL)) {
		buf_reset(&b);
		uint64_t r = rnd_next(&w->rng);
		buf_printf(&b,
			   "{\"run_id\":\"%s\",\"key\":\"latency\",\"value\":0.%06u,"
			   "\"timestamp\":%" PRId64 ",\"step\":%ld}",
			   run_id, (unsigned)(r % 1000000u), wall_ms(), step++);
		uint64_t t0 = mono_ns();
		int st = http_do(&w->c, "POST", "/api/2.0/mlflow/runs/log-metric", b.data, b.len);
		lat_add(&w->lat, mono_ns() - t0);
		if (ok_status(st))
			atomic_fetch_add(&g_ok, 1);
		else
			note_error(&w->c, "runs/log-metric");
	}
	buf_release(&b);
	return NULL;
}

static int64_t g_populate_base_ms;

static void *run_populate(void *arg)
{
	struct worker *w = arg;
	struct buf b = { 0 };
	long i;
	while (time_left() && claim(O.runs, &i)) {
		char run_id[64];
		char name[64];
		snprintf(name, sizeof(name), "bench-%ld", i);
		uint64_t t0 = mono_ns();
		/* distinct start times so start_time order is total */
		if (create_run(&w->c, name, g_populate_base_ms + i, run_id) < 0)
			continue;
		atomic_fetch_add(&g_runs_created, 1);
		atomic_fetch_add(&g_ok, 1);
		uint64_t r = rnd_next(&w->rng);
		double m = (double)(r >> 11) * (1.0 / 9007199254740992.0);
		buf_reset(&b);
		buf_printf(&b,
			   "{\"run_id\":\"%s\",\"metrics\":[{\"key\":\"m\",\"value\":%.17g,"
			   "\"timestamp\":%" PRId64 ",\"step\":0}],"
			   "\"params\":[{\"key\":\"p\",\"value\":\"v%ld\"}]}",
			   run_id, m, wall_ms(), i % 100);
		int st = http_do(&w->c, "POST", "/api/2.0/mlflow/runs/log-batch", b.data, b.len);
		lat_add(&w->lat, mono_ns() - t0);
		if (ok_status(st)) {
			atomic_fetch_add(&g_ok, 1);
			atomic_fetch_add(&g_runs_done, 1);
		} else {
			note_error(&w->c, "runs/log-batch");
		}
	}
	buf_release(&b);
	return NULL;
}

static void print_common(double elapsed_s, const struct worker *ws, int n)
{
	long reconnects = 0;
	for (int i = 0; i < n; i++)
		reconnects += ws[i].c.reconnects;
	long ok = atomic_load(&g_ok);
	printf("conns=%d\n", n);
	printf("elapsed_s=%.3f\n", elapsed_s);
	printf("requests_ok=%ld\n", ok);
	printf("errors_status=%ld\n", atomic_load(&g_err_status));
	printf("errors_io=%ld\n", atomic_load(&g_err_io));
	printf("reconnects=%ld\n", reconnects);
	printf("requests_per_s=%.1f\n", elapsed_s > 0 ? (double)ok / elapsed_s : 0.0);
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		/* the load generator shares the machine with the server */
		printf("client_cpu_s=%.3f\n", cpu);
	}
	if (g_first_err[0])
		printf("first_error=%s\n", g_first_err);
}

static int run_workers(void *(*fn)(void *), bool with_barrier)
{
	int n = O.conns;
	struct worker *ws = xrealloc(NULL, (size_t)n * sizeof(*ws));
	memset(ws, 0, (size_t)n * sizeof(*ws));
	pthread_barrier_t bar;
	if (with_barrier)
		pthread_barrier_init(&bar, NULL, (unsigned)n + 1);
	uint64_t seed = mono_ns() ^ ((uint64_t)getpid() << 32);
	for (int i = 0; i < n; i++) {
		ws[i].id = i;
		conn_init(&ws[i].c);
		ws[i].rng = seed + 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
		if (ws[i].rng == 0)
			ws[i].rng = 1;
		ws[i].start = with_barrier ? &bar : NULL;
		if (pthread_create(&ws[i].th, NULL, fn, &ws[i]) != 0) {
			fprintf(stderr, "loadgen: pthread_create failed\n");
			exit(2);
		}
	}
	if (with_barrier)
		pthread_barrier_wait(&bar);
	uint64_t t0 = mono_ns();
	for (int i = 0; i < n; i++)
		pthread_join(ws[i].th, NULL);
	double elapsed = (double)(mono_ns() - t0) / 1e9;
	if (with_barrier)
		pthread_barrier_destroy(&bar);

	struct lat all = { 0 };
	for (int i = 0; i < n; i++)
		for (size_t j = 0; j < ws[i].lat.n; j++)
			lat_add(&all, ws[i].lat.v[j]);

	printf("mode=%s\n", mode_names[O.mode]);
	print_common(elapsed, ws, n);
	if (O.mode == MODE_LOGBATCH) {
		int ready = 0;
		for (int i = 0; i < n; i++)
			ready += ws[i].ready;
		long pts = atomic_load(&g_ok) * O.batch;
		printf("runs=%d\n", ready);
		printf("batch=%d\n", O.batch);
		printf("points=%ld\n", pts);
		printf("points_per_s=%.0f\n", elapsed > 0 ? (double)pts / elapsed : 0.0);
	}
	if (O.mode == MODE_POPULATE) {
		long done = atomic_load(&g_runs_done);
		printf("runs_requested=%ld\n", O.runs);
		printf("runs_created=%ld\n", atomic_load(&g_runs_created));
		printf("runs_complete=%ld\n", done);
		printf("runs_per_s=%.1f\n", elapsed > 0 ? (double)done / elapsed : 0.0);
		printf("timed_out=%d\n", done < O.runs && !time_left());
	}
	print_latency(O.mode == MODE_POPULATE ? "run" : "lat", &all);
	free(all.v);
	for (int i = 0; i < n; i++) {
		free(ws[i].lat.v);
		conn_release(&ws[i].c);
	}
	free(ws);
	long bad = atomic_load(&g_err_io) + atomic_load(&g_err_status);
	return atomic_load(&g_ok) == 0 && bad > 0 ? 1 : 0;
}

/* ---------------------------------------------------------------- search */

/* Compare with the previous value for a monotone order; NaN-free input. */
static bool in_order(double prev, double cur, bool desc)
{
	return desc ? cur <= prev : cur >= prev;
}

static double metric_of(json_t *run, const char *key, bool *found)
{
	json_t *ms = json_object_get(json_object_get(run, "data"), "metrics");
	size_t i;
	json_t *m;
	*found = false;
	json_array_foreach(ms, i, m) {
		const char *k = json_string_value(json_object_get(m, "key"));
		if (k && strcmp(k, key) == 0) {
			json_t *v = json_object_get(m, "value");
			*found = json_is_number(v);
			return json_number_value(v);
		}
	}
	return 0.0;
}

static int mode_search(void)
{
	/* What to check: "metrics.<k> > <x>" filters, "metrics.<k>" or
	 * "start_time" orderings. */
	char fkey[128] = "";
	double fmin = 0;
	bool fcheck = false;
	{
		const char *f = O.filter;
		while (*f == ' ')
			f++;
		if (strncmp(f, "metrics.", 8) == 0) {
			const char *k = f + 8;
			size_t kl = strcspn(k, " >");
			const char *op = k + kl;
			while (*op == ' ')
				op++;
			if (kl < sizeof(fkey) && op[0] == '>' && op[1] != '=') {
				char *endp;
				fmin = strtod(op + 1, &endp);
				while (*endp == ' ')
					endp++;
				if (endp != op + 1 && *endp == '\0') {
					memcpy(fkey, k, kl);
					fkey[kl] = '\0';
					fcheck = true;
				}
			}
		}
	}
	char okey[128] = "";
	bool odesc = strstr(O.order_by, " DESC") != NULL || strstr(O.order_by, " desc") != NULL;
	int okind = 0; /* 0 none, 1 metric, 2 start_time */
	if (strncmp(O.order_by, "metrics.", 8) == 0) {
		size_t kl = strcspn(O.order_by + 8, " ");
		if (kl < sizeof(okey)) {
			memcpy(okey, O.order_by + 8, kl);
			okey[kl] = '\0';
			okind = 1;
		}
	} else if (strncmp(O.order_by, "start_time", 10) == 0 ||
		   strncmp(O.order_by, "attributes.start_time", 21) == 0) {
		okind = 2;
	}

	struct conn c;
	conn_init(&c);
	struct lat lat = { 0 };
	struct buf b = { 0 };
	char *token = NULL;
	long runs_total = 0, filter_bad = 0, order_bad = 0;
	long first_count = -1;
	double first_ms = 0;
	double prev = 0;
	bool have_prev = false;
	int pages = 0, rc = 0;
	bool exhausted = false;
	for (int pg = 0; pg < O.pages && time_left(); pg++) {
		buf_reset(&b);
		buf_append(&b, "{\"experiment_ids\":[", 19);
		buf_json_str(&b, O.experiment_id);
		buf_append(&b, "]", 1);
		if (O.filter[0]) {
			buf_append(&b, ",\"filter\":", 10);
			buf_json_str(&b, O.filter);
		}
		if (O.order_by[0]) {
			buf_append(&b, ",\"order_by\":[", 13);
			buf_json_str(&b, O.order_by);
			buf_append(&b, "]", 1);
		}
		buf_printf(&b, ",\"max_results\":%d", O.max_results);
		if (token) {
			buf_append(&b, ",\"page_token\":", 14);
			buf_json_str(&b, token);
		}
		buf_append(&b, "}", 1);
		uint64_t t0 = mono_ns();
		int st = http_do(&c, "POST", "/api/2.0/mlflow/runs/search", b.data, b.len);
		uint64_t dt = mono_ns() - t0;
		if (!ok_status(st)) {
			note_error(&c, "runs/search");
			rc = 1;
			break;
		}
		lat_add(&lat, dt);
		if (pg == 0)
			first_ms = (double)dt / 1e6;
		pages++;
		json_error_t je;
		json_t *root = json_loadb(c.body.data, c.body.len, 0, &je);
		if (!root) {
			snprintf(g_first_err, sizeof(g_first_err), "runs/search: bad JSON: %s", je.text);
			rc = 1;
			break;
		}
		json_t *runs = json_object_get(root, "runs");
		size_t i;
		json_t *run;
		long count = 0;
		json_array_foreach(runs, i, run) {
			count++;
			bool found = false;
			if (fcheck) {
				double v = metric_of(run, fkey, &found);
				if (!found || !(v > fmin))
					filter_bad++;
			}
			double ov = 0;
			found = false;
			if (okind == 1) {
				ov = metric_of(run, okey, &found);
			} else if (okind == 2) {
				json_t *stj = json_object_get(json_object_get(run, "info"), "start_time");
				found = json_is_number(stj);
				ov = json_number_value(stj);
			}
			if (found) {
				if (have_prev && !in_order(prev, ov, odesc))
					order_bad++;
				prev = ov;
				have_prev = true;
			}
		}
		runs_total += count;
		if (first_count < 0)
			first_count = count;
		free(token);
		token = NULL;
		const char *nt = json_string_value(json_object_get(root, "next_page_token"));
		if (nt && nt[0])
			token = strdup(nt);
		json_decref(root);
		if (!token) {
			exhausted = true;
			break;
		}
	}
	printf("mode=search\n");
	printf("filter=%s\n", O.filter);
	printf("order_by=%s\n", O.order_by);
	printf("max_results=%d\n", O.max_results);
	printf("pages=%d\n", pages);
	printf("last_page=%d\n", exhausted);
	printf("runs_returned=%ld\n", runs_total);
	printf("first_page_runs=%ld\n", first_count < 0 ? 0 : first_count);
	printf("first_page_ms=%.3f\n", first_ms);
	if (fcheck)
		printf("filter_violations=%ld\n", filter_bad);
	if (okind)
		printf("order_violations=%ld\n", order_bad);
	printf("reconnects=%ld\n", c.reconnects);
	if (g_first_err[0])
		printf("first_error=%s\n", g_first_err);
	print_latency("page", &lat);
	free(token);
	free(lat.v);
	buf_release(&b);
	conn_release(&c);
	return rc;
}

/* ---------------------------------------------------------------- small modes */

static int mode_mkexp(void)
{
	if (!O.name) {
		fprintf(stderr, "loadgen: mkexp needs --name\n");
		return 2;
	}
	struct conn c;
	conn_init(&c);
	struct buf b = { 0 };
	buf_append(&b, "{\"name\":", 8);
	buf_json_str(&b, O.name);
	buf_append(&b, "}", 1);
	int rc = 1;
	int st = http_do(&c, "POST", "/api/2.0/mlflow/experiments/create", b.data, b.len);
	if (ok_status(st)) {
		json_error_t je;
		json_t *root = json_loadb(c.body.data, c.body.len, 0, &je);
		json_t *id = json_object_get(root, "experiment_id");
		if (json_is_string(id)) {
			printf("experiment_id=%s\n", json_string_value(id));
			rc = 0;
		} else if (json_is_integer(id)) {
			printf("experiment_id=%" JSON_INTEGER_FORMAT "\n", json_integer_value(id));
			rc = 0;
		} else {
			printf("first_error=experiments/create: no experiment_id in response\n");
		}
		json_decref(root);
	} else {
		note_error(&c, "experiments/create");
		printf("first_error=%s\n", g_first_err);
	}
	buf_release(&b);
	conn_release(&c);
	return rc;
}

/* One attempt: fresh connection, GET /health; true on 200. */
static bool probe_once(void)
{
	struct conn c;
	conn_init(&c);
	int st = http_do(&c, "GET", "/health", NULL, 0);
	conn_release(&c);
	return st == 200;
}

static int mode_probe(void)
{
	uint64_t t0 = mono_ns();
	uint64_t end = t0 + (uint64_t)O.timeout_ms * 1000000u;
	long attempts = 0;
	bool ok = false;
	while (mono_ns() < end && attempts < 10000000) {
		attempts++;
		if (probe_once()) {
			ok = true;
			break;
		}
		sleep_us(200);
	}
	printf("mode=probe\n");
	printf("ready=%d\n", ok);
	printf("attempts=%ld\n", attempts);
	printf("probe_ms=%.3f\n", (double)(mono_ns() - t0) / 1e6);
	return ok ? 0 : 1;
}

/* VmRSS of pid in kB, or -1. */
static long rss_kb(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[256];
	long kb = -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

/* Wait for pid until end_ns; true when it was reaped (status in *wst). */
static bool wait_child(pid_t pid, uint64_t end_ns, int *wst)
{
	for (;;) {
		pid_t r = waitpid(pid, wst, WNOHANG);
		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR)
			return true;
		if (mono_ns() >= end_ns)
			return false;
		sleep_us(1000);
	}
}

/*
 * Start the command, poll GET /health until the first 200 (time from fork to
 * ready), let it settle, read its VmRSS, then stop it with SIGTERM (SIGKILL
 * after --timeout-ms) and report how it exited.  The child never outlives
 * this process.
 */
static int mode_spawn(void)
{
	if (!O.cmd || !O.cmd[0]) {
		fprintf(stderr, "loadgen: spawn needs a command after --\n");
		return 2;
	}
	bool to_null = strcmp(O.log_path, "/dev/null") == 0;
	int logfd = open(O.log_path, to_null ? O_WRONLY | O_CLOEXEC
				     : O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		fprintf(stderr, "loadgen: %s: %s\n", O.log_path, strerror(errno));
		return 2;
	}
	fflush(stdout);
	uint64_t t0 = mono_ns();
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "loadgen: fork: %s\n", strerror(errno));
		return 2;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		execvp(O.cmd[0], O.cmd);
		_exit(127);
	}
	close(logfd);
	uint64_t end = t0 + (uint64_t)O.timeout_ms * 1000000u;
	long attempts = 0;
	bool ok = false, died = false;
	int wst = 0;
	while (mono_ns() < end && attempts < 10000000) {
		attempts++;
		if (probe_once()) {
			ok = true;
			break;
		}
		if (waitpid(pid, &wst, WNOHANG) == pid) {
			died = true;
			break;
		}
		sleep_us(100);
	}
	double ready_ms = (double)(mono_ns() - t0) / 1e6;
	long rss_ready = -1, rss_settled = -1;
	if (!died) {
		rss_ready = rss_kb(pid);
		sleep_us(O.settle_ms * 1000);
		rss_settled = rss_kb(pid);
	}
	double stop_ms = 0;
	bool killed = false;
	if (!died) {
		uint64_t ts = mono_ns();
		kill(pid, SIGTERM);
		if (!wait_child(pid, ts + (uint64_t)O.timeout_ms * 1000000u, &wst)) {
			kill(pid, SIGKILL);
			killed = true;
			wait_child(pid, mono_ns() + 5000000000u, &wst);
		}
		stop_ms = (double)(mono_ns() - ts) / 1e6;
	}
	printf("mode=spawn\n");
	printf("ready=%d\n", ok);
	printf("attempts=%ld\n", attempts);
	printf("ready_ms=%.3f\n", ready_ms);
	printf("rss_ready_kb=%ld\n", rss_ready);
	printf("rss_settled_kb=%ld\n", rss_settled);
	printf("died_before_ready=%d\n", died);
	printf("stop_ms=%.3f\n", stop_ms);
	printf("killed=%d\n", killed);
	if (WIFEXITED(wst))
		printf("exit_status=%d\n", WEXITSTATUS(wst));
	else if (WIFSIGNALED(wst))
		printf("exit_signal=%d\n", WTERMSIG(wst));
	return ok && !killed ? 0 : 1;
}

static int mode_exec(void)
{
	if (!O.cmd || !O.cmd[0]) {
		fprintf(stderr, "loadgen: exec needs a command after --\n");
		return 2;
	}
	struct lat lat = { 0 };
	int fails = 0;
	for (int i = 0; i < O.repeat && time_left(); i++) {
		uint64_t t0 = mono_ns();
		pid_t pid = fork();
		if (pid < 0)
			return 2;
		if (pid == 0) {
			int nul = open("/dev/null", O_RDWR);
			if (nul >= 0) {
				dup2(nul, 0);
				dup2(nul, 1);
				dup2(nul, 2);
			}
			execvp(O.cmd[0], O.cmd);
			_exit(127);
		}
		int wst;
		while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {
		}
		lat_add(&lat, mono_ns() - t0);
		if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
			fails++;
	}
	printf("mode=exec\n");
	printf("failures=%d\n", fails);
	print_latency("wall", &lat);
	free(lat.v);
	return fails ? 1 : 0;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loadgen --port P [--mode MODE] [options] [-- command...]\n"
		"modes: fixed (default), logbatch, logmetric, populate, search, mkexp,\n"
		"       probe, spawn, exec\n"
		"  --conns N            connections/threads (default 1, max %d)\n"
		"  --requests N         total requests (default 1000)\n"
		"  --duration S         time limit in seconds (default 10)\n"
		"  --method M --path P  request line (fixed; default GET /health)\n"
		"  --body S | --body-file F   request body (fixed)\n"
		"  --batch N --keys K   metrics per log-batch, distinct keys (logbatch)\n"
		"  --experiment-id ID   experiment for runs (default 0)\n"
		"  --name NAME          experiment name (mkexp)\n"
		"  --runs N             runs to create (populate)\n"
		"  --pages N --max-results N --filter F --order-by O   (search)\n"
		"  --timeout-ms MS      readiness time limit (probe, spawn; default 5000)\n"
		"  --io-timeout-ms MS   socket send/receive timeout (default 30000)\n"
		"  --log FILE           child's stdout/stderr (spawn)\n"
		"  --settle-ms MS       wait after ready before reading VmRSS (spawn; 200)\n"
		"  --header 'N: V'      one extra header on every request (e.g. Authorization)\n"
		"  --repeat N           runs of the command (exec; default 5)\n"
		"Output: key=value lines on stdout.  Connects to 127.0.0.1 only.\n",
		MAX_CONNS);
}

static long parse_long(const char *s, const char *what, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "loadgen: bad %s: %s (want %ld..%ld)\n", what, s, lo, hi);
		exit(2);
	}
	return v;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	struct buf b = { 0 };
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		if (b.len + n > MAX_BODY_FILE) {
			fprintf(stderr, "loadgen: %s: larger than %u bytes\n", path, MAX_BODY_FILE);
			exit(2);
		}
		buf_append(&b, tmp, n);
	}
	fclose(f);
	*len = b.len;
	if (!b.data)
		buf_reserve(&b, 1);
	return b.data;
}

int main(int argc, char **argv)
{
	enum { OPT_PORT = 256, OPT_MODE, OPT_CONNS, OPT_REQUESTS, OPT_DURATION, OPT_METHOD,
	       OPT_PATH, OPT_BODY, OPT_BODY_FILE, OPT_BATCH, OPT_KEYS, OPT_EXP, OPT_NAME,
	       OPT_RUNS, OPT_PAGES, OPT_MAXRES, OPT_FILTER, OPT_ORDER, OPT_TIMEOUT,
	       OPT_IOTIMEOUT, OPT_LOG, OPT_REPEAT, OPT_PROBE, OPT_HOST, OPT_SETTLE, OPT_HEADER };
	static const struct option lopts[] = {
		{ "port", required_argument, NULL, OPT_PORT },
		{ "host", required_argument, NULL, OPT_HOST },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "conns", required_argument, NULL, OPT_CONNS },
		{ "requests", required_argument, NULL, OPT_REQUESTS },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "method", required_argument, NULL, OPT_METHOD },
		{ "path", required_argument, NULL, OPT_PATH },
		{ "body", required_argument, NULL, OPT_BODY },
		{ "body-file", required_argument, NULL, OPT_BODY_FILE },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "keys", required_argument, NULL, OPT_KEYS },
		{ "experiment-id", required_argument, NULL, OPT_EXP },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "runs", required_argument, NULL, OPT_RUNS },
		{ "pages", required_argument, NULL, OPT_PAGES },
		{ "max-results", required_argument, NULL, OPT_MAXRES },
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "order-by", required_argument, NULL, OPT_ORDER },
		{ "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
		{ "io-timeout-ms", required_argument, NULL, OPT_IOTIMEOUT },
		{ "log", required_argument, NULL, OPT_LOG },
		{ "repeat", required_argument, NULL, OPT_REPEAT },
		{ "probe", no_argument, NULL, OPT_PROBE },
		{ "settle-ms", required_argument, NULL, OPT_SETTLE },
		{ "header", required_argument, NULL, OPT_HEADER },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "+hq", lopts, NULL)) != -1) {
		switch (ch) {
		case OPT_PORT: O.port = (int)parse_long(optarg, "--port", 1, 65535); break;
		case OPT_HOST:
			if (strcmp(optarg, "127.0.0.1") != 0 && strcmp(optarg, "localhost") != 0) {
				fprintf(stderr, "loadgen: only 127.0.0.1 is supported\n");
				return 2;
			}
			break;
		case OPT_MODE: {
			bool found = false;
			for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
				if (strcmp(optarg, mode_names[i]) == 0) {
					O.mode = (enum mode)i;
					found = true;
				}
			if (!found) {
				fprintf(stderr, "loadgen: unknown mode %s\n", optarg);
				return 2;
			}
			break;
		}
		case OPT_PROBE: O.mode = MODE_PROBE; break;
		case OPT_CONNS: O.conns = (int)parse_long(optarg, "--conns", 1, MAX_CONNS); break;
		case OPT_REQUESTS:
			O.requests = parse_long(optarg, "--requests", 1, 1000000000L);
			break;
		case OPT_DURATION: {
			char *end;
			O.duration = strtod(optarg, &end);
			if (end == optarg || *end || !(O.duration > 0) || O.duration > 86400) {
				fprintf(stderr, "loadgen: bad --duration %s\n", optarg);
				return 2;
			}
			break;
		}
		case OPT_METHOD: O.method = optarg; break;
		case OPT_PATH: O.path = optarg; break;
		case OPT_BODY:
			free(O.body);
			O.body_len = strlen(optarg);
			O.body = strdup(optarg);
			break;
		case OPT_BODY_FILE:
			free(O.body);
			O.body = read_file(optarg, &O.body_len);
			break;
		case OPT_BATCH: O.batch = (int)parse_long(optarg, "--batch", 1, 100000); break;
		case OPT_KEYS: O.keys = (int)parse_long(optarg, "--keys", 1, 1000); break;
		case OPT_EXP: O.experiment_id = optarg; break;
		case OPT_NAME: O.name = optarg; break;
		case OPT_RUNS: O.runs = parse_long(optarg, "--runs", 0, 100000000L); break;
		case OPT_PAGES: O.pages = (int)parse_long(optarg, "--pages", 1, 100000); break;
		case OPT_MAXRES:
			O.max_results = (int)parse_long(optarg, "--max-results", 1, 100000);
			break;
		case OPT_FILTER: O.filter = optarg; break;
		case OPT_ORDER: O.order_by = optarg; break;
		case OPT_TIMEOUT:
			O.timeout_ms = parse_long(optarg, "--timeout-ms", 1, 3600000L);
			break;
		case OPT_IOTIMEOUT:
			O.io_timeout_ms = parse_long(optarg, "--io-timeout-ms", 1, 3600000L);
			break;
		case OPT_LOG: O.log_path = optarg; break;
		case OPT_REPEAT: O.repeat = (int)parse_long(optarg, "--repeat", 1, 100000); break;
		case OPT_SETTLE:
			O.settle_ms = parse_long(optarg, "--settle-ms", 0, 60000);
			break;
		case OPT_HEADER:
			if (!strchr(optarg, ':') || strpbrk(optarg, "\r\n")) {
				fprintf(stderr, "loadgen: --header wants one 'Name: value' line\n");
				return 2;
			}
			O.header = optarg;
			break;
		case 'q': O.quiet = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		O.cmd = argv + optind;
	if (O.port == 0 && O.mode != MODE_EXEC) {
		fprintf(stderr, "loadgen: --port is required\n");
		usage(stderr);
		return 2;
	}
	if (O.keys > O.batch)
		O.keys = O.batch;
	signal(SIGPIPE, SIG_IGN);
	deadline_ns = mono_ns() + (uint64_t)(O.duration * 1e9);
	g_populate_base_ms = wall_ms();
	int rc;
	switch (O.mode) {
	case MODE_FIXED: rc = run_workers(run_fixed, false); break;
	case MODE_LOGBATCH: rc = run_workers(run_logbatch, true); break;
	case MODE_LOGMETRIC: rc = run_workers(run_logmetric, true); break;
	case MODE_POPULATE: rc = run_workers(run_populate, false); break;
	case MODE_SEARCH: rc = mode_search(); break;
	case MODE_MKEXP: rc = mode_mkexp(); break;
	case MODE_PROBE: rc = mode_probe(); break;
	case MODE_SPAWN: rc = mode_spawn(); break;
	case MODE_EXEC: rc = mode_exec(); break;
	default: rc = 2; break;
	}
	free(O.body);
	fflush(stdout);
	return rc;
}
