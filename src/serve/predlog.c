/*
 * predlog.c - the prediction log: every finished request, appended to
 * segment files by a writer thread.  It is the first observer of the serve
 * object (mw_serve_observe), added by mw_serve_new when the log is on.
 *
 * The observer hands over a copy of its record (at most 4096 rows of inputs and
 * outputs) through a bounded ring; a full ring drops the record and counts
 * it, so logging never blocks a request.  The writer thread formats each
 * record as one JSON line and appends it to <dir>/predictions-<unix ms>.jsonl,
 * starting a new segment once the current one passed 64 MiB; it flushes when
 * the ring has been empty for 20 ms.  Closing writes everything queued.
 */
#include "serve/serve_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEGMENT_BYTES (64u << 20)
#define MAX_ROWS 4096

/* A record as handed to the writer: copied, formatted by the writer thread
 * so the request only copies floats. */
struct logrec {
	char *request_id, *model, *version, *error;
	float *x, *y;
	size_t rows, cols, ycols;
	int64_t ts;
	double latency_ms, queue_ms;
};

struct mw_predlog {
	char *dir;
	pthread_t th;
	bool on;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct logrec *ring;
	int cap, head, len;
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

static char *format_record(const struct logrec *r, size_t *len)
{
	struct mw_buf b;
	mw_buf_init(&b, 0);
	mw_buf_printf(&b, "{\"ts\":%lld,\"request_id\":", (long long)r->ts);
	mw_json_str_append(&b, r->request_id);
	mw_buf_puts(&b, ",\"model\":");
	mw_json_str_append(&b, r->model);
	mw_buf_puts(&b, ",\"version\":");
	mw_json_str_append(&b, r->version);
	mw_buf_puts(&b, ",\"inputs\":[");
	for (size_t i = 0; i < r->rows; i++) {
		mw_buf_puts(&b, i ? ",[" : "[");
		mw_json_floats_append(&b, r->x + i * r->cols, r->cols);
		mw_buf_puts(&b, "]");
	}
	mw_buf_puts(&b, "],\"outputs\":[");
	for (size_t i = 0; r->y && i < r->rows; i++) {
		mw_buf_puts(&b, i ? ",[" : "[");
		mw_json_floats_append(&b, r->y + i * r->ycols, r->ycols);
		mw_buf_puts(&b, "]");
	}
	mw_buf_printf(&b, "],\"latency_ms\":%.4f,\"queue_ms\":%.4f,\"ok\":%s", r->latency_ms,
		      r->queue_ms, r->error ? "false" : "true");
	if (r->error) {
		mw_buf_puts(&b, ",\"error\":");
		mw_json_str_append(&b, r->error);
	}
	mw_buf_puts(&b, "}");
	char *line = mw_buf_detach(&b, len);
	mw_buf_release(&b);
	return line;
}

static void write_record(struct mw_predlog *l, const struct logrec *r)
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
		fwrite(line, 1, n, l->f);
		fputc('\n', l->f);
		l->bytes += n + 1;
		free(line);
	}
}

static void *log_main(void *p)
{
	struct mw_predlog *l = p;
	bool dirty = false;
	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->len && l->on) {
			if (!dirty) {
				pthread_cond_wait(&l->cv, &l->mu);
				continue;
			}
			/* flush once things go quiet for 20 ms, not after every record */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 20 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT && !l->len) {
				if (l->f)
					fflush(l->f);
				dirty = false;
			}
		}
		if (!l->len && !l->on)
			break;
		struct logrec r = l->ring[l->head];
		l->head = (l->head + 1) % l->cap;
		l->len--;
		pthread_mutex_unlock(&l->mu);
		write_record(l, &r);
		logrec_free(&r);
		pthread_mutex_lock(&l->mu);
		l->written++;
		dirty = true;
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
	pthread_mutex_unlock(&l->mu);
	if (full) {
		__atomic_fetch_add(&l->dropped, 1, __ATOMIC_RELAXED);
		return;
	}
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
		logrec_free(&r);
	} else {
		l->ring[(l->head + l->len) % l->cap] = r;
		l->len++;
		pthread_cond_signal(&l->cv);
	}
	pthread_mutex_unlock(&l->mu);
}

void svi_predlog_render_metrics(struct mw_predlog *l, struct mw_buf *out)
{
	unsigned long long written = 0, dropped = 0;
	if (l) {
		pthread_mutex_lock(&l->mu);
		written = l->written;
		dropped = l->dropped;
		pthread_mutex_unlock(&l->mu);
	}
	mw_buf_printf(out,
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
