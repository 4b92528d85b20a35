/*
 * predlog.c - the prediction log: every finished request, appended to
 * segment files by a writer thread.  It is the first observer of the serve
 * object (mw_serve_observe), added by mw_serve_new when the log is on.
 *
 * The observer hands over a copy of its record (at most 4096 rows of inputs and
 * outputs) through a bounded ring; a full ring drops the record and counts
 * it, so logging never blocks a request.  The writer thread formats each
 * record as one JSON line and appends it to <dir>/predictions-<unix ms>.jsonl,
 * starting a new segment once the current one passed 64 MiB.  Under load it
 * wakes every 10 ms and writes what came meanwhile (a record wakes it only
 * when it sleeps, so requests do not pay a thread switch each); it flushes
 * once a pause brings nothing.  Closing writes everything queued.
 *
 * The reader (mw_predlog_open/poll, used by `mw predictions`) walks the
 * segments oldest first, by the time in their names, and keeps its place as
 * (segment, byte offset after the last complete line), so following the log
 * is polling again: a line the writer has not finished is read next time.
 */
#include "serve/serve_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SEGMENT_BYTES (64u << 20)
#define MAX_ROWS 4096
#define PAUSE_MS 10 /* the writer's pause while records keep coming */

/* A record as handed to the writer: copied, formatted by the writer thread
 * so the request only copies floats. */
struct logrec {
	char *request_id, *model, *version, *error;
	float *x, *y;
	size_t rows, cols, ycols;
	int64_t ts;
	double latency_ms, queue_ms;
};

#define MAX_LINE (256u << 20) /* a record longer than this is damage */

struct mw_predlog {
	char *dir;
	pthread_t th;
	bool on;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct logrec *ring;
	int cap, head, len;
	bool sleeping; /* the writer waits to be woken by a record */
	unsigned long long written, dropped;
	FILE *f;
	size_t bytes;
};

static void logrec_free(struct logrec *r)
{
	free(r->request_id);
	free(r->model);
	free(r->version);
	free(r->error);
	free(r->x);
	free(r->y);
}

/* The record as one line, or NULL when it would be longer than MAX_LINE
 * (the reader would take it for damage). */
static char *format_record(const struct logrec *r, size_t *len)
{
	struct mw_buf b;
	mw_buf_init(&b, MAX_LINE);
	/* the usual size at once: ~16 bytes a value */
	size_t nv = r->rows * r->cols + (r->y ? r->rows * r->ycols : 0);
	mw_buf_reserve(&b, 256 + strlen(r->request_id) + strlen(r->model) + strlen(r->version) +
				   (nv < MAX_ROWS * 64 ? nv : MAX_ROWS * 64) * 16);
	char num[48];
	int bad = mw_buf_puts(&b, "{\"ts\":");
	bad |= mw_buf_append(&b, num, mw_fmt_i64((long long)r->ts, num));
	bad |= mw_buf_puts(&b, ",\"request_id\":");
	bad |= mw_json_str_append(&b, r->request_id);
	bad |= mw_buf_puts(&b, ",\"model\":");
	bad |= mw_json_str_append(&b, r->model);
	bad |= mw_buf_puts(&b, ",\"version\":");
	bad |= mw_json_str_append(&b, r->version);
	bad |= mw_buf_puts(&b, ",\"inputs\":[");
	for (size_t i = 0; i < r->rows; i++) {
		bad |= mw_buf_puts(&b, i ? ",[" : "[");
		bad |= mw_json_floats_append(&b, r->x + i * r->cols, r->cols);
		bad |= mw_buf_puts(&b, "]");
	}
	bad |= mw_buf_puts(&b, "],\"outputs\":[");
	for (size_t i = 0; r->y && i < r->rows; i++) {
		bad |= mw_buf_puts(&b, i ? ",[" : "[");
		bad |= mw_json_floats_append(&b, r->y + i * r->ycols, r->ycols);
		bad |= mw_buf_puts(&b, "]");
	}
	/* as "%.4f" */
	bad |= mw_buf_puts(&b, "],\"latency_ms\":");
	bad |= mw_buf_append(&b, num, mw_fmt_fixed4(r->latency_ms, num));
	bad |= mw_buf_puts(&b, ",\"queue_ms\":");
	bad |= mw_buf_append(&b, num, mw_fmt_fixed4(r->queue_ms, num));
	bad |= mw_buf_puts(&b, r->error ? ",\"ok\":false" : ",\"ok\":true");
	if (r->error) {
		bad |= mw_buf_puts(&b, ",\"error\":");
		bad |= mw_json_str_append(&b, r->error);
	}
	bad |= mw_buf_puts(&b, "}");
	if (bad) {
		mw_buf_release(&b);
		return NULL;
	}
	char *line = mw_buf_detach(&b, len);
	mw_buf_release(&b);
	return line;
}

/* false: the record was dropped */
static bool write_record(struct mw_predlog *l, const struct logrec *r)
{
	if (!l->f || l->bytes > SEGMENT_BYTES) {
		if (l->f)
			fclose(l->f);
		char name[64];
		snprintf(name, sizeof name, "predictions-%lld.jsonl", (long long)mw_now_ms());
		char *path = mw_fs_join(l->dir, name);
		l->f = fopen(path, "a");
		if (!l->f)
			mw_warn("prediction log: cannot open %s", path);
		free(path);
		l->bytes = 0;
	}
	if (l->f) {
		size_t n;
		char *line = format_record(r, &n);
		if (!line) /* too long to be read back: dropped, and counted */
			return false;
		fwrite(line, 1, n, l->f);
		fputc('\n', l->f);
		l->bytes += n + 1;
		free(line);
	}
	return l->f != NULL;
}

static void deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_nsec += ms * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* The writer: drain the ring, then pause 10 ms while records keep arriving
 * (they are not signalled: one wake-up per pause, not per record), and once
 * a pause brings nothing, flush and sleep until a record wakes it. */
static void *log_main(void *p)
{
	struct mw_predlog *l = p;
	bool dirty = false;
	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (l->len) {
			struct logrec r = l->ring[l->head];
			l->head = (l->head + 1) % l->cap;
			l->len--;
			pthread_mutex_unlock(&l->mu);
			bool ok = write_record(l, &r);
			logrec_free(&r);
			pthread_mutex_lock(&l->mu);
			if (ok)
				l->written++;
			else
				l->dropped++;
			dirty = true;
		}
		if (!l->on)
			break;
		struct timespec ts;
		deadline_in(&ts, PAUSE_MS);
		while (!l->len && l->on && pthread_cond_timedwait(&l->cv, &l->mu, &ts) != ETIMEDOUT)
			;
		if (l->len || !l->on)
			continue;
		if (dirty) { /* quiet: flush what was written */
			pthread_mutex_unlock(&l->mu);
			if (l->f)
				fflush(l->f);
			pthread_mutex_lock(&l->mu);
			dirty = false;
			continue;
		}
		l->sleeping = true;
		while (l->sleeping && l->on)
			pthread_cond_wait(&l->cv, &l->mu);
		l->sleeping = false;
	}
	pthread_mutex_unlock(&l->mu);
	if (l->f)
		fclose(l->f);
	return NULL;
}

int svi_predlog_open(const char *dir, int queue, struct mw_predlog **out, struct mw_err *err)
{
	int rc = mw_fs_mkdirs(dir, err);
	if (rc)
		return rc;
	struct mw_predlog *l = mw_xcalloc(1, sizeof *l);
	l->dir = mw_xstrdup(dir);
	l->cap = queue > 0 ? queue : 10000;
	l->ring = mw_xcalloc((size_t)l->cap, sizeof *l->ring);
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	l->on = true;
	if (pthread_create(&l->th, NULL, log_main, l)) {
		l->on = false;
		svi_predlog_close(l);
		return mw_err_set(err, MW_E_INTERNAL, "cannot start the prediction logger");
	}
	*out = l;
	return 0;
}

void svi_predlog_observe(const struct mw_prediction *p, void *ud)
{
	struct mw_predlog *l = ud;
	pthread_mutex_lock(&l->mu);
	bool full = l->len >= l->cap;
	if (full)
		l->dropped++;
	pthread_mutex_unlock(&l->mu);
	if (full) /* no copies for a record that cannot be kept */
		return;
	size_t rows = p->rows < MAX_ROWS ? p->rows : MAX_ROWS;
	struct logrec r = {
		.request_id = mw_xstrdup(p->request_id ? p->request_id : ""),
		.model = mw_xstrdup(p->model),
		.version = mw_xstrdup(p->version),
		.error = p->rc ? mw_xstrdup(p->error ? p->error : "") : NULL,
		.rows = rows,
		.cols = p->cols,
		.ycols = p->y ? p->ycols : 0,
		.ts = p->ts_ms,
		.latency_ms = p->latency_ms,
		.queue_ms = p->queue_ms,
	};
	r.x = mw_xmalloc((rows * p->cols + 1) * sizeof(float));
	memcpy(r.x, p->x, rows * p->cols * sizeof(float));
	if (p->y) {
		r.y = mw_xmalloc((rows * p->ycols + 1) * sizeof(float));
		memcpy(r.y, p->y, rows * p->ycols * sizeof(float));
	}
	pthread_mutex_lock(&l->mu);
	if (l->len >= l->cap) {
		l->dropped++;
		pthread_mutex_unlock(&l->mu);
		logrec_free(&r);
		return;
	}
	l->ring[(l->head + l->len) % l->cap] = r;
	l->len++;
	if (l->sleeping) { /* only a sleeping writer needs a wake-up */
		l->sleeping = false;
		pthread_cond_signal(&l->cv);
	}
	pthread_mutex_unlock(&l->mu);
}

int svi_predlog_render_metrics(struct mw_predlog *l, struct mw_buf *out)
{
	unsigned long long written = 0, dropped = 0;
	if (l) {
		pthread_mutex_lock(&l->mu);
		written = l->written;
		dropped = l->dropped;
		pthread_mutex_unlock(&l->mu);
	}
	return mw_buf_printf(out,
			     "# HELP mw_prediction_log_records_total Prediction log records by result.\n"
			     "# TYPE mw_prediction_log_records_total counter\n"
			     "mw_prediction_log_records_total{result=\"written\"} %llu\n"
			     "mw_prediction_log_records_total{result=\"dropped\"} %llu\n",
			     written, dropped);
}

void svi_predlog_close(struct mw_predlog *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	bool was_on = l->on;
	l->on = false;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	if (was_on)
		pthread_join(l->th, NULL);
	free(l->ring);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l->dir);
	free(l);
}

/* ================================================================ the reader */

struct mw_predlog_cursor {
	char *dir;
	struct mw_predlog_query q; /* strings owned */
	char *seg;                 /* the segment being read (file name), NULL before the first */
	uint64_t off;              /* bytes of it consumed: up to the end of a complete line */
	size_t skip;               /* matching records still to skip (tail) */
	size_t damaged;
};

/* "predictions-<ms>.jsonl": its ms, or -1 for any other name. */
static int64_t segment_ms(const char *name)
{
	static const char pre[] = "predictions-", suf[] = ".jsonl";
	size_t n = strlen(name);
	if (n <= sizeof pre - 1 + sizeof suf - 1 || strncmp(name, pre, sizeof pre - 1) ||
	    strcmp(name + n - (sizeof suf - 1), suf))
		return -1;
	int64_t ms = 0;
	for (const char *p = name + sizeof pre - 1; p < name + n - (sizeof suf - 1); p++) {
		if (*p < '0' || *p > '9' || ms > (INT64_MAX - 9) / 10)
			return -1;
		ms = ms * 10 + (*p - '0');
	}
	return ms;
}

static int seg_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int64_t mx = segment_ms(x), my = segment_ms(y);
	if (mx != my)
		return mx < my ? -1 : 1;
	return strcmp(x, y);
}

/* The segment names in dir, oldest first (NULL-terminated, malloc'd). */
static int list_segments(const char *dir, char ***out, size_t *n, struct mw_err *err)
{
	*out = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0; /* no log yet */
		return mw_err_set(err, MW_E_IO, "cannot read %s: %s", dir, strerror(errno));
	}
	size_t cap = 0;
	char **v = NULL;
	for (struct dirent *e; (e = readdir(d));) {
		if (segment_ms(e->d_name) < 0)
			continue;
		if (*n + 1 >= cap) {
			cap = cap ? cap * 2 : 16;
			v = mw_xrealloc(v, cap * sizeof *v);
		}
		v[(*n)++] = mw_xstrdup(e->d_name);
	}
	closedir(d);
	if (v) {
		qsort(v, *n, sizeof *v, seg_cmp);
		v[*n] = NULL;
	}
	*out = v;
	return 0;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* A stored line as the documented record, or NULL when it is not one. */
static json_t *record_of(const char *line, size_t len)
{
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o) || !json_is_string(json_object_get(o, "model")) ||
	    !json_is_string(json_object_get(o, "version"))) {
		json_decref(o);
		return NULL;
	}
	static const char *const keys[] = {"ts",      "request_id", "model",    "version", "inputs",
					   "outputs", "latency_ms", "queue_ms", "ok"};
	json_t *r = json_object();
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		json_t *v = json_object_get(o, keys[i]);
		json_object_set(r, keys[i], v ? v : json_null());
	}
	json_t *e = json_object_get(o, "error");
	if (e && !json_is_null(e))
		json_object_set(r, "error", e);
	json_decref(o);
	return r;
}

static bool str_is(json_t *v, const char *want)
{
	return !want || (json_is_string(v) && !strcmp(json_string_value(v), want));
}

static bool matches(const struct mw_predlog_query *q, json_t *r)
{
	if (!str_is(json_object_get(r, "model"), q->model) ||
	    !str_is(json_object_get(r, "version"), q->version) ||
	    !str_is(json_object_get(r, "request_id"), q->request_id))
		return false;
	return !q->since_ms || json_integer_value(json_object_get(r, "ts")) >= q->since_ms;
}

/* Read one segment from c->off: every complete line, handed to fn when it is
 * a matching record; c->off follows the complete lines.  An unfinished last
 * line is left for later in the newest segment (still being written), and
 * counted as damage in an older one.  Returns fn's non-zero value, or an
 * error. */
static int scan_segment(struct mw_predlog_cursor *c, const char *name, bool newest,
			mw_predlog_fn fn, void *ctx, struct mw_err *err)
{
	char *path = mw_fs_join(c->dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int rc = errno == ENOENT ? 0
					 : mw_err_set(err, MW_E_IO, "cannot open %s: %s", path,
						      strerror(errno));
		free(path);
		return rc;
	}
	free(path);
	if (c->off && lseek(fd, (off_t)c->off, SEEK_SET) < 0) {
		close(fd);
		return mw_err_set(err, MW_E_IO, "cannot seek in %s: %s", name, strerror(errno));
	}
	struct mw_buf line;
	mw_buf_init(&line, MAX_LINE);
	bool overlong = false;
	uint64_t pos = c->off; /* bytes read so far */
	char *buf = mw_xmalloc(1u << 16);
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, buf, 1u << 16);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mw_err_set(err, MW_E_IO, "cannot read %s: %s", name, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		const char *p = buf, *end = buf + n;
		while (p < end && !rc) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *stop = nl ? nl : end;
			if (!overlong && mw_buf_append(&line, p, (size_t)(stop - p)))
				overlong = true;
			pos += (uint64_t)(stop - p);
			p = stop;
			if (!nl)
				break;
			p++; /* the newline */
			pos++;
			c->off = pos;
			json_t *r = overlong ? NULL : record_of(line.data, line.len);
			if (!r && (line.len || overlong))
				c->damaged++;
			mw_buf_reset(&line);
			overlong = false;
			if (r && matches(&c->q, r)) {
				if (c->skip)
					c->skip--;
				else if (fn)
					rc = fn(ctx, r);
			}
			json_decref(r);
		}
		if (rc)
			break;
	}
	if (!rc && (line.len || overlong) && !newest) {
		c->damaged++; /* a torn last line: the writer has moved on */
		c->off = pos;
	}
	free(buf);
	mw_buf_release(&line);
	close(fd);
	return rc;
}

static int count_one(void *ctx, json_t *rec)
{
	(void)rec;
	(*(size_t *)ctx)++;
	return 0;
}

int mw_predlog_open(const char *dir, const struct mw_predlog_query *q,
		    struct mw_predlog_cursor **out, struct mw_err *err)
{
	struct mw_predlog_cursor *c = mw_xcalloc(1, sizeof *c);
	c->dir = mw_xstrdup(dir);
	c->q = *q;
	c->q.model = q->model ? mw_xstrdup(q->model) : NULL;
	c->q.version = q->version ? mw_xstrdup(q->version) : NULL;
	c->q.request_id = q->request_id ? mw_xstrdup(q->request_id) : NULL;
	if (q->last) {
		/* count matching records from the newest segment back until there
		 * are enough, and start in that segment after skipping the rest */
		char **segs;
		size_t n;
		int rc = list_segments(dir, &segs, &n, err);
		if (rc) {
			mw_predlog_close(c);
			return rc;
		}
		size_t total = 0;
		for (size_t i = n; i-- > 0 && !rc;) {
			size_t k = 0;
			struct mw_predlog_cursor probe = {.dir = c->dir, .q = c->q};
			rc = scan_segment(&probe, segs[i], i + 1 == n, count_one, &k, err);
			total += k;
			if (!rc && (total >= q->last || i == 0)) {
				c->seg = mw_xstrdup(segs[i]);
				c->skip = total > q->last ? total - q->last : 0;
				break;
			}
		}
		free_list(segs, n);
		if (rc) {
			mw_predlog_close(c);
			return rc;
		}
	}
	*out = c;
	return 0;
}

int mw_predlog_poll(struct mw_predlog_cursor *c, mw_predlog_fn fn, void *ctx, struct mw_err *err)
{
	char **segs;
	size_t n;
	int rc = list_segments(c->dir, &segs, &n, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		int cmp = c->seg ? seg_cmp(&segs[i], &c->seg) : 1;
		if (cmp < 0)
			continue; /* read before */
		if (cmp > 0) {    /* a segment not read yet */
			free(c->seg);
			c->seg = mw_xstrdup(segs[i]);
			c->off = 0;
		}
		rc = scan_segment(c, segs[i], i + 1 == n, fn, ctx, err);
	}
	free_list(segs, n);
	return rc;
}

size_t mw_predlog_damaged(const struct mw_predlog_cursor *c)
{
	return c->damaged;
}

void mw_predlog_close(struct mw_predlog_cursor *c)
{
	if (!c)
		return;
	free(c->dir);
	free((char *)c->q.model);
	free((char *)c->q.version);
	free((char *)c->q.request_id);
	free(c->seg);
	free(c);
}
