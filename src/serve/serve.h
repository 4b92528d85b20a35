/*
 * serve.h - serving registered models: model sources, runtimes, dynamic
 * batching, hot swap.
 *
 * A model source (struct mw_model_source) resolves a name and a reference
 * ("3", "@champion", "Production", "latest", or the default) to one version's
 * immutable identity (name, version, pinned manifest digest) and materialises
 * that version's files in a local directory: the registry source reads the
 * registry and the artifact store of this process (registry/, art/); another
 * source (cmd/: a replica following a remote mw over HTTP) plugs in through
 * the same ops.  A runtime (ops struct, one file each: rt_xgboost.c,
 * rt_python.c, rt_proxy.c) loads a model directory and predicts a batch of
 * rows.  A loaded model version (struct mw_served) is reference counted:
 * every request holds a reference while it is queued or computing, so
 * swapping versions never pulls a model from under a request.  Each loaded
 * version has one batcher thread: it takes queued requests until the batch is
 * full (max_batch rows) or the oldest has waited max_delay_us, runs the
 * runtime once for the whole batch and completes each request through its
 * callback.  Nothing in this module knows HTTP: the API layer suspends the
 * connection, submits, and resumes it from the callback.
 *
 * Data model: tabular.  A request is rows x cols float32 features (NaN means
 * missing) and gets rows x outputs float32 back.  The proxy runtime is the
 * exception: it passes request bodies through (mw_served_proxy).
 */
#ifndef MW_SERVE_H
#define MW_SERVE_H

#include "core/core.h"

struct mw_registry;
struct mw_art;

/* ------------------------------------------------------------ model sources */

/* What a reference resolved to: one version, identified by its pinned
 * content.  Strings are malloc'd; mw_model_ident_release frees them. */
struct mw_model_ident {
	char *name;      /* the registered model */
	char *version;   /* "3" */
	char digest[65]; /* the pinned manifest's SHA-256 ("" when the source has none) */
	char *files;     /* the source's own note of where the files are, or NULL */
};
void mw_model_ident_release(struct mw_model_ident *id);

/* A source of model versions.  Implementations embed struct mw_model_source
 * as their first member.  resolve and fetch may be called from several
 * threads at once.
 *
 *   resolve  name + ref -> identity.  ref: "3" (a version), "@alias",
 *            a stage name, "latest", or NULL/"" for the default (the alias
 *            default_alias when it exists, else the latest version).
 *            MW_E_NOT_FOUND when the model, version, alias or stage does not
 *            exist.
 *   fetch    the files of a resolved version in a local directory (*dir,
 *            malloc'd), complete before it is returned and never changed
 *            afterwards (the same identity gives the same directory).
 *   generation  optional (NULL, or 0 returned: unknown): a number that
 *            changes whenever a resolve might answer differently than before
 *            (the registry source returns mw_registry_generation).  The
 *            server re-resolves its loaded versions when it changes, so a
 *            deleted or replaced version stops answering at once; without
 *            it only the alias poll (poll_ms) notices changes.  Called on
 *            every request: it must be cheap (one atomic load).
 *   list     optional: the names of the models it holds (*names, a new JSON
 *            array of strings, at most max), for the V2 repository index.
 *   free     release the source. */
struct mw_model_source;
struct mw_model_source_ops {
	const char *kind; /* "registry", "remote", ... */
	int (*resolve)(struct mw_model_source *src, const char *name, const char *ref,
		       const char *default_alias, struct mw_model_ident *out, struct mw_err *err);
	int (*fetch)(struct mw_model_source *src, const struct mw_model_ident *id, char **dir,
		     struct mw_err *err);
	uint64_t (*generation)(struct mw_model_source *src);
	int (*list)(struct mw_model_source *src, size_t max, json_t **names, struct mw_err *err);
	void (*free)(struct mw_model_source *src);
};
struct mw_model_source {
	const struct mw_model_source_ops *ops;
};

/* The registry of this process: resolve through mw_registry_resolve, fetch
 * by hard-linking the pinned files (mw_art_materialise) into
 * <data_dir>/models/<name>/<version>-<digest>/.  registry and art are
 * borrowed and must outlive the source. */
struct mw_model_source *mw_serve_registry_source(struct mw_registry *registry, struct mw_art *art,
						 const char *data_dir);

/* For sources: the directory root/<name>/<version>-<first 12 of digest>
 * (the name made safe for a file name), filled once.  When it is not complete
 * yet, fill(ctx, tmp) fills a fresh temporary directory next to it, which is
 * then marked complete and renamed into place (a concurrent loader that wins
 * the race is fine).  *dir is malloc'd. */
typedef int (*mw_model_fill_fn)(void *ctx, const char *tmp, struct mw_err *err);
int mw_model_dir(const char *root, const struct mw_model_ident *id, mw_model_fill_fn fill,
		 void *ctx, char **dir, struct mw_err *err);

/* ------------------------------------------------------------ runtimes */

/* What a runtime is given to load: a directory with the model's files (an
 * MLflow model directory with an MLmodel file, or a plain directory or file)
 * and the parsed MLmodel (NULL when there is none). */
struct mw_rt_spec {
	const char *dir;          /* model directory (files materialised there) */
	const char *file;         /* the main model file when known, else NULL */
	json_t *mlmodel;          /* MLmodel as JSON, or NULL */
	const char *python;       /* interpreter for the python runtime */
	int workers;              /* python worker processes */
	/* python: the workers' sandbox (limits, user); NULL: no limits, the
	 * server's user, the environment scrubbed all the same */
	const struct mw_py_sandbox *sandbox;
	int64_t timeout_ms;       /* per-batch compute timeout */
	const char *upstream;     /* proxy: upstream base URL */
	/* proxy: the upstreams a proxy.json may name (--proxy-upstreams: URL
	 * prefixes, comma-separated; NULL or "" refuses every upstream) */
	const char *proxy_allow;
	/* The server's parallel-for pool (borrowed; outlives every loaded model),
	 * for runtimes that split a large batch across cores; NULL: one thread. */
	struct mw_pool *pool;
};

/* What confines a python worker (rt_python.c).  Limits of 0 are not set
 * (inherited).  memory: RLIMIT_AS in bytes; cpu_seconds: CPU time per
 * request (and for the load), armed by the worker before each (RLIMIT_CPU
 * soft limit; SIGXCPU kills it); max_files: RLIMIT_NOFILE; max_procs:
 * RLIMIT_NPROC, applied only with switch_user (it counts every task of the
 * worker's user, threads too; with the server's own user it would count the
 * server).  switch_user: setgroups({gid}), setgid(gid), setuid(uid) before
 * the worker's exec (the server runs as root); home: that user's HOME. */
struct mw_py_sandbox {
	uint64_t memory;
	int64_t cpu_seconds;
	int64_t max_files;
	int64_t max_procs;
	bool switch_user;
	uint32_t uid;
	uint32_t gid;
	char user[64];
	char home[256];
};

/* The sandbox of the settings python-worker-memory, -cpu-seconds,
 * -max-files, -max-procs and -user.  The user is looked up only when the
 * process runs as root (euid 0): a missing user is MW_E_INVALID naming it;
 * "" (or a non-root server) keeps the server's user. */
int mw_py_sandbox_from_settings(const struct mw_settings *set, struct mw_py_sandbox *sb,
				struct mw_err *err);

struct mw_rt_ops {
	const char *name;         /* "xgboost", "python", "proxy" */
	/* predict runs in this process, needs no more than the CPU and takes
	 * microseconds a row, and may run on several threads at once: a small
	 * request may then be computed on the thread that submits it when the
	 * version's batcher is idle (see mw_served_submit). */
	bool inline_ok;
	int (*load)(const struct mw_rt_spec *spec, void **model, struct mw_err *err);
	/* Inputs and outputs for V2 metadata: {inputs:[{name,datatype,shape}],
	 * outputs:[...], features:n, outputs_per_row:k, feature_names:[...]} */
	int (*describe)(void *model, json_t **out, struct mw_err *err);
	/* Predict rows x cols (row-major) into y (rows x outputs). */
	int (*predict)(void *model, const float *x, size_t rows, size_t cols, float *y,
		       struct mw_err *err);
	void (*unload)(void *model);
};

/* Caps on what any runtime may report for one row, checked before anything
 * is sized by them (a hostile upstream or worker cannot make the server
 * allocate by claiming 10^12 features). */
#define MW_SERVE_MAX_FEATURES (1u << 20)
#define MW_SERVE_MAX_OUTPUTS (1u << 16)

/* A file a model names (rel: as written in its MLmodel, proxy.json, ...)
 * inside the model directory dir (mlmodel.c).  Refused with MW_E_INVALID
 * "the model's <what> path 'rel' leaves the model directory" when rel is
 * absolute, has a '..' component, or resolves (symlinks followed) outside
 * realpath(dir); "cannot read the model file 'rel'" when it does not resolve
 * and must_exist (or is a dangling symlink).  Messages show rel escaped and
 * truncated, never an absolute path, a file's content or strerror.  *out:
 * the resolved absolute path (malloc'd), or NULL when the file does not
 * exist and !must_exist. */
int mw_serve_model_path(const char *dir, const char *rel, const char *what, bool must_exist,
			char **out, struct mw_err *err);

extern const struct mw_rt_ops mw_rt_xgboost;
extern const struct mw_rt_ops mw_rt_python;
extern const struct mw_rt_ops mw_rt_proxy;

/* ------------------------------------------------------------ requests */

struct mw_infer {
	/* in (owned by the caller until done runs) */
	const float *x;
	size_t rows, cols;
	const char *request_id; /* for the observers (NULL: none) */
	void (*done)(struct mw_infer *inf, void *ud);
	void *ud;
	/* out (y is malloc'd by the server, freed by the caller) */
	float *y;
	size_t ycols;
	int rc;                    /* 0, or -MW_E_* (UNAVAILABLE: queue full / timeout) */
	struct mw_err err;
	bool cached;               /* answered from the response cache */
	uint64_t t_enqueue_ns, t_start_ns, t_end_ns;
	int64_t timeout_ms;        /* 0: the model's default */
	/* internal */
	struct mw_infer *next;
	struct mw_served *sv;
};

/* ------------------------------------------------------------ rows */

/* The one row parser (rows.c), shared by /invocations and `mw predict`:
 * MLflow's scoring input into rows x nfeat float32 (row-major; NaN is a
 * missing value), columns matched to the model's features by name when both
 * have names, else by position.  A cell that is not a number is an error
 * naming its row (CSV: line) and column, 1-based; no row is ever dropped.
 * MW_E_INVALID for bad input, MW_E_TOO_LARGE past the caps. */
#define MW_ROWS_MAX_CELLS (64u << 20) /* values in one input */
#define MW_ROWS_MAX_FIELD (1u << 20)  /* bytes in one quoted CSV field */
struct mw_rows_schema {
	size_t nfeat;
	json_t *feature_names; /* borrowed; NULL or [] when the model has none */
};
struct mw_rows {
	float *x;          /* malloc'd, rows x cols */
	size_t rows, cols; /* cols == the schema's nfeat */
};
/* A JSON object with exactly one of dataframe_split ({columns?, data}),
 * dataframe_records (a list of objects), instances (a list of rows, or of
 * scalars for a one-feature model), inputs (a list of rows, or a dict of
 * columns). */
int mw_rows_from_json(const struct mw_rows_schema *sc, json_t *body, struct mw_rows *out,
		      struct mw_err *err);
/* CSV text: an optional header line (a first line without numbers), then
 * one row per line; "" quotes, \n or \r\n, blank lines skipped, an empty
 * cell is missing. */
int mw_rows_from_csv(const struct mw_rows_schema *sc, const char *p, size_t n, struct mw_rows *out,
		     struct mw_err *err);

/* ------------------------------------------------------------ V2 requests */

/* An Open Inference Protocol inference request (v2.c), decoded for a model:
 * one input of shape [rows, features] or one [rows] input per feature (by
 * feature name when the model has names), JSON data or the binary tensor
 * extension, into the same kind of matrix as the row parser. */
struct mw_v2_request {
	struct mw_rows rows;
	char *id;        /* the request's id to echo (malloc'd), or NULL */
	bool binary_out; /* answer with a binary output tensor */
};
/* json/len: the JSON part; bin/binlen: the binary part after it (the HTTP
 * layer splits them by Inference-Header-Content-Length).  max_depth caps
 * nesting.  MW_E_BAD_REQUEST for malformed JSON, MW_E_INVALID for a request
 * the model cannot take, MW_E_TOO_LARGE past MW_ROWS_MAX_CELLS. */
int mw_v2_decode(const struct mw_rows_schema *sc, const char *json, size_t len,
		 const unsigned char *bin, size_t binlen, int max_depth, struct mw_v2_request *out,
		 struct mw_err *err);
void mw_v2_request_release(struct mw_v2_request *r);

/* ------------------------------------------------------------ observers */

/* A completed request as observers see it.  Everything is borrowed for the
 * duration of the call. */
struct mw_prediction {
	const char *model, *version; /* the version that answered */
	const char *request_id;      /* "" when the request had none */
	const float *x;              /* inputs, rows x cols, row-major */
	size_t rows, cols;
	const float *y; /* outputs, rows x ycols; NULL when it failed */
	size_t ycols;
	int64_t ts_ms;     /* completion, ms since the Unix epoch */
	double latency_ms; /* queueing plus compute */
	double queue_ms;   /* waiting for the batch */
	int rc;            /* 0, or -MW_E_* */
	const char *error; /* the message when rc != 0, else NULL */
	bool cached;       /* answered from the response cache */
};

/* Called for every request that completes (answered, failed in the
 * runtime, timed out in the queue, failed because the version is being
 * unloaded), on the thread that completes it (a batcher thread, or the
 * submitting thread for a cache hit), before the request's done callback.
 * An observer must not block: it copies what it keeps and hands it to its
 * own thread (the prediction log does so).  Requests refused at submit
 * (full queue, bad shape) are not observed. */
typedef void (*mw_serve_observer_fn)(const struct mw_prediction *p, void *ud);

/* ------------------------------------------------------------ the server */

struct mw_batching {
	int max_batch_rows;        /* rows per batch (1 = no batching) */
	int64_t max_delay_us;      /* wait for more rows at most this long */
	int max_queue;             /* queued requests before 503 */
	int64_t timeout_ms;        /* per request, queue + compute */
	size_t cache_bytes;        /* response cache cap (0 = off) */
	int64_t cache_ttl_ms;
};

struct mw_serve_opts {
	/* Where named versions come from; borrowed, it must outlive the server.
	 * NULL: only directories added with mw_serve_add_dir are served. */
	struct mw_model_source *source;
	/* Serve only the names bound (mw_serve_bind) or added; any other name is
	 * 404 even when the source knows it (mw serve: one model). */
	bool bound_only;
	struct mw_batching batching;
	const char *python;        /* default /usr/bin/python3 */
	int python_workers;
	struct mw_py_sandbox sandbox; /* the python workers' limits and user */
	/* the proxy runtime's allow-list of upstream URL prefixes
	 * (--proxy-upstreams, comma-separated; NULL/"": none allowed) */
	const char *proxy_allow;
	int64_t poll_ms;           /* alias watch interval (0 = no watching) */
	const char *default_alias; /* version used when none is named ("champion") */
	/* the prediction log: <log_dir>/predictions-*.jsonl (NULL = off) */
	const char *log_dir;
	int log_queue;
	/* Caps on what stays loaded (0: no cap).  Past a cap the least recently
	 * used version that is not a bound name's default and has no request in
	 * flight is unloaded first; when none can be, the load fails with
	 * MW_E_UNAVAILABLE. */
	int max_loaded;         /* loaded versions */
	int max_python_workers; /* worker processes of loaded python versions */
	int64_t idle_unload_ms; /* unload versions unused this long (0: never) */
	/* Input bytes (rows x cols x 4) of requests queued across every version
	 * before submit refuses with MW_E_UNAVAILABLE (0: no cap). */
	size_t max_queue_bytes;
	char log_dir_buf[4096]; /* storage for log_dir (mw_serve_opts_from_settings) */
};

/* The serving options of a settings table (batch-size, batch-delay-us,
 * max-queue, infer-timeout-ms, cache-bytes, cache-ttl-ms, python,
 * python-workers, default-alias, alias-poll-ms, prediction-log (into
 * <data-dir>/logs), prediction-log-queue, max-loaded-versions,
 * max-python-workers, model-idle-unload, max-queue-bytes, proxy-upstreams).  No source,
 * not bound_only.
 * Strings point into set, which must outlive o. */
int mw_serve_opts_from_settings(const struct mw_settings *set, struct mw_serve_opts *o,
				struct mw_err *err);

struct mw_serve;
struct mw_served;

int mw_serve_new(const struct mw_serve_opts *o, struct mw_serve **out, struct mw_err *err);
/* Refuse new requests and fail every queued one with 503 (batches being
 * computed finish).  The server stays valid until mw_serve_free. */
void mw_serve_stop(struct mw_serve *s);
/* Stops (as mw_serve_stop), waits for the batchers, unloads, frees. */
void mw_serve_free(struct mw_serve *s);

/* A loaded version of a model: version NULL or "" = the name's default (its
 * binding, else the default alias if set, else the latest version), else a
 * version number.  Loads through the source on first use (on the server's
 * loader threads; this call waits for the load); the caller holds a
 * reference until mw_served_release.
 *
 * Validation: when the source has a generation and it changed since the
 * last check, every loaded version is re-resolved first (one thread does it,
 * others wait): a version whose model, version or pinned content is gone is
 * dropped (MW_E_NOT_FOUND at once for a deleted one; new content loads
 * anew).  When nothing changed this costs one atomic load. */
int mw_serve_acquire(struct mw_serve *s, const char *name, const char *version,
		     struct mw_served **out, struct mw_err *err);

/* The same without waiting for a load (for the HTTP layer: no thread waits
 * for a model to load).  0: loaded, *out holds a reference.  MW_SERVE_PENDING:
 * the version is being loaded; ready(ud, m, rc, err) will run exactly once,
 * from a loader thread (or the housekeeping thread when the wait passes the
 * infer timeout, or mw_serve_stop's thread): rc 0 with m holding a reference
 * for the callee to release, or a negative MW_E_* with err (m NULL; 503 for
 * a timeout, a cap or shutting down).  ready must not call back into this
 * server's acquire.  Negative: failed now, ready will not run. */
#define MW_SERVE_PENDING 1
typedef void (*mw_serve_ready_fn)(void *ud, struct mw_served *m, int rc, const struct mw_err *err);
int mw_serve_acquire_async(struct mw_serve *s, const char *name, const char *version,
			   mw_serve_ready_fn ready, void *ud, struct mw_served **out,
			   struct mw_err *err);
/* Serve a local model directory (or file) under a name and version label
 * ("1" when NULL), replacing what the name served (mw serve ./dir). */
int mw_serve_add_dir(struct mw_serve *s, const char *name, const char *version, const char *dir,
		     struct mw_err *err);
/* Pin the default version of name to a reference for the source
 * ("@champion", "3", "Production", "latest"; NULL: the default), and load it
 * now.  The watcher re-resolves it every poll_ms and swaps versions when the
 * identity it names changes (an alias moved). */
int mw_serve_bind(struct mw_serve *s, const char *name, const char *alias_or_version,
		  struct mw_err *err);
void mw_served_release(struct mw_served *m);

const char *mw_served_name(const struct mw_served *m);
const char *mw_served_version(const struct mw_served *m);
const char *mw_served_runtime(const struct mw_served *m);
/* {name, versions, platform, inputs, outputs, ...} (V2 model metadata) */
int mw_served_describe(struct mw_served *m, json_t **out, struct mw_err *err);
/* The shapes version `version` of name shows once loaded: {"inputs":
 * [{name, type, shape}], "outputs": [...]}, the V2 metadata's tensors in the
 * form MLmodel signatures take (mw_mlmodel_signature_diff compares them).  A
 * new reference in *out.  load: loaded now when it is not yet (waiting for
 * it), else the reason it does not load; !load: MW_E_NOT_FOUND when it is
 * not loaded now. */
int mw_serve_shapes(struct mw_serve *s, const char *name, const char *version, bool load,
		    json_t **out, struct mw_err *err);
size_t mw_served_num_features(const struct mw_served *m);
size_t mw_served_num_outputs(const struct mw_served *m);
/* Feature names from the model (NULL when none). */
json_t *mw_served_feature_names(const struct mw_served *m);
/* What the row parser needs of a loaded version (borrowed from it). */
void mw_served_schema(const struct mw_served *m, struct mw_rows_schema *out);

/* Queue a request.  0: done will run exactly once, on a batcher thread, or
 * at once on this thread for a cache hit or an inline run.  Non-zero:
 * rejected now (queue full, the server's queued input bytes past
 * max_queue_bytes, shutting down), done will not run.
 *
 * Inline runs: when the runtime allows it (inline_ok), batching has no delay
 * (max_delay_us 0: the caller asked for no waiting), the version's queue is
 * empty, its batcher is not computing, fewer requests than there are CPUs
 * are running inline, and the request is small (at most 64 rows and
 * max_batch_rows), the request is computed here and now, as a batch of its
 * own: no hand-off to the batcher thread and back.  Otherwise, and so under
 * a load the CPUs cannot keep up with, requests queue and batch as usual. */
int mw_served_submit(struct mw_served *m, struct mw_infer *inf, struct mw_err *err);

/* The V2 repository index: every model the server serves now and, when the
 * source can list them, every model it could serve (at most max in all), as
 * [{name, version?, state, reason?}] with state "READY" (its default is
 * loaded), "LOADING", or "UNAVAILABLE" (not loaded: reason says why, e.g.
 * "not loaded" or the last load error).  ready_only: READY ones only. */
json_t *mw_serve_index(struct mw_serve *s, bool ready_only, size_t max);
/* Unload every loaded version of a name (requests in flight finish first).
 * MW_E_NOT_FOUND when nothing of it is loaded; MW_E_INVALID for a name bound
 * on purpose (mw serve's model, a directory). */
int mw_serve_unload(struct mw_serve *s, const char *name, struct mw_err *err);

/* Whether the model source answered the alias poll: a replica following a
 * remote registry keeps serving its last good versions while the registry
 * is unreachable, and says so here (and in its metrics and log). */
struct mw_serve_source_status {
	const char *kind;   /* the source's kind ("registry", "remote"), NULL: none */
	bool reachable;     /* the last poll got an answer (true before any poll) */
	char error[256];    /* why not, when not */
	int64_t since_ms;   /* unreachable since (Unix ms), 0 when reachable */
	int64_t last_ok_ms; /* the last answer (Unix ms), 0: none yet */
};
void mw_serve_source_status(struct mw_serve *s, struct mw_serve_source_status *out);

/* Names of every model the server serves now, and whether each is ready. */
json_t *mw_serve_list(struct mw_serve *s);
bool mw_serve_ready(struct mw_serve *s);

/* Prometheus text for every loaded version. */
MW_MUST_USE int mw_serve_render_metrics(struct mw_serve *s, struct mw_buf *out);

/* ------------------------------------------------------------ the prediction log */

/* The prediction log (when --prediction-log is on) is a directory of
 * segments, <data-dir>/logs/predictions-<unix ms of creation>.jsonl, each a
 * sequence of records, one JSON object a line, appended by one writer; a
 * segment is closed after 64 MiB and a new one begun (docs/api/serving.md has
 * the record's fields).  The reader below is the documented way to read it:
 * it gives each record as a JSON object with exactly the documented keys,
 * in order (ts, request_id, model, version, inputs, outputs, latency_ms,
 * queue_ms, ok, error when not ok), whatever the segments look like on disk.
 *
 * A line still being written (no newline yet) at the end of the newest
 * segment is not a record yet; any other line that is not a record (a torn
 * write after a crash, a truncated older segment) is skipped and counted. */
struct mw_predlog_query {
	const char *model;      /* only records of this model (NULL: any) */
	const char *version;    /* only this version (NULL: any) */
	const char *request_id; /* only this request id (NULL: any) */
	int64_t since_ms;       /* only records with ts >= since_ms (0: any) */
	size_t last;            /* start at the last `last` matching records (0: the first) */
};
struct mw_predlog_cursor;
/* fn returns non-zero to stop reading (mw_predlog_poll returns that value);
 * rec is borrowed for the call. */
typedef int (*mw_predlog_fn)(void *ctx, json_t *rec);
/* A cursor over the segments in dir, before the first matching record (or
 * the last q->last ones).  q is copied.  A missing dir is an empty log. */
int mw_predlog_open(const char *dir, const struct mw_predlog_query *q,
		    struct mw_predlog_cursor **out, struct mw_err *err);
/* Every matching record completed since the last call (all of them the
 * first time), oldest first.  Call again later to follow the log. */
int mw_predlog_poll(struct mw_predlog_cursor *c, mw_predlog_fn fn, void *ctx, struct mw_err *err);
/* Lines skipped because they were not a record. */
size_t mw_predlog_damaged(const struct mw_predlog_cursor *c);
void mw_predlog_close(struct mw_predlog_cursor *c);

/* Add an observer (see above).  The prediction log, when on, is the first,
 * added by mw_serve_new.  Add observers before requests flow: the list is not
 * guarded against submits running at the same time. */
void mw_serve_observe(struct mw_serve *s, mw_serve_observer_fn fn, void *ud);

#endif
