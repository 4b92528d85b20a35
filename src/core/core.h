/*
 * core.h - the base layer every other module stands on.
 *
 * Errors, capped buffers, per-request arenas, JSON helpers (jansson wrapped
 * once), logging, clocks, random ids, SHA-256 and the settings table.  Nothing
 * here knows about HTTP, SQL or MLflow entities.
 *
 * Conventions (see CONTRIBUTING.md):
 *  - functions that can fail return 0 or a negative MW_E* code and fill a
 *    struct mw_err; they never print or exit;
 *  - out of memory aborts with a message (mw_xmalloc and friends): one policy,
 *    written down here, so callers never check malloc;
 *  - every buffer that input can grow has a maximum (struct mw_buf.cap).
 */
#ifndef MW_CORE_H
#define MW_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define MW_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

/* Error codes.  Each maps to one MLflow error_code and HTTP status in the API
 * layer (api/); domain modules only choose the kind. */
enum mw_errcode {
	MW_OK = 0,
	MW_E_INVALID = 1,      /* INVALID_PARAMETER_VALUE, 400 */
	MW_E_BAD_REQUEST,      /* BAD_REQUEST, 400 (malformed body) */
	MW_E_EXISTS,           /* RESOURCE_ALREADY_EXISTS, 400 */
	MW_E_NOT_FOUND,        /* RESOURCE_DOES_NOT_EXIST, 404 */
	MW_E_NO_ENDPOINT,      /* ENDPOINT_NOT_FOUND, 404 */
	MW_E_CONFLICT,         /* RESOURCE_CONFLICT, 409 */
	MW_E_TOO_LARGE,        /* RESOURCE_EXHAUSTED/413 for bodies */
	MW_E_LIMIT,            /* REQUEST_LIMIT_EXCEEDED, 429 */
	MW_E_INTERNAL,         /* INTERNAL_ERROR, 500 */
	MW_E_IO,               /* INTERNAL_ERROR, 500 (disk, database) */
	MW_E_NOT_IMPLEMENTED,  /* NOT_IMPLEMENTED, 501 */
	MW_E_UNAVAILABLE,      /* TEMPORARILY_UNAVAILABLE, 503 */
	MW_E_UNAUTHENTICATED,  /* UNAUTHENTICATED, 401 (no or wrong credentials) */
	MW_E_DENIED,           /* PERMISSION_DENIED, 403 */
	MW_E__COUNT
};

struct mw_err {
	int code;        /* enum mw_errcode, 0 when no error */
	int detail;      /* what the error is about, when the layer that set it says
			  * (the store: enum mw_store_what); 0 otherwise */
	char msg[512];
};

/* Fill err (may be NULL; detail becomes 0) and return -code. */
int mw_err_set(struct mw_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void mw_err_clear(struct mw_err *err);
const char *mw_err_name(int code);  /* "INVALID_PARAMETER_VALUE", ... */

/* ---------------------------------------------------------------- memory */

void *mw_xmalloc(size_t n);
void *mw_xcalloc(size_t n, size_t m);
void *mw_xrealloc(void *p, size_t n);
char *mw_xstrdup(const char *s);
char *mw_xstrndup(const char *s, size_t n);

/* Capped growable byte buffer.  Invariants: data is never NULL after init,
 * always NUL-terminated, len < alloc, len never exceeds cap.
 *
 * Every buffer has an explicit cap, chosen where it is created: there is no
 * unbounded buffer (mw_buf_init aborts on a cap of 0, a programming error).
 * An append that would pass the cap fails with -MW_E_TOO_LARGE and changes
 * nothing, and the buffer remembers it (mw_buf_error, until mw_buf_reset), so
 * a sequence of appends can be checked once at its end.  The appends' results
 * must be used (warn_unused_result): a caller that ignored one would send or
 * store a text with a piece missing. */
struct mw_buf {
	char *data;
	size_t len;
	size_t alloc;
	size_t cap;      /* maximum len; appends past it fail with MW_E_TOO_LARGE */
	int err;         /* 0, or the first failed append's error (until reset) */
};

#define MW_MUST_USE __attribute__((warn_unused_result))

/* Caps of buffers that hold what the server writes itself (not input). */
#define MW_METRICS_MAX ((size_t)64 << 20)   /* one /metrics answer */
#define MW_RESPONSE_MAX ((size_t)256 << 20) /* one hand-written answer (inference) */

void mw_buf_init(struct mw_buf *b, size_t cap);
void mw_buf_release(struct mw_buf *b);
/* Empty the buffer and clear a sticky failure. */
void mw_buf_reset(struct mw_buf *b);
MW_MUST_USE int mw_buf_append(struct mw_buf *b, const void *p, size_t n);
MW_MUST_USE int mw_buf_puts(struct mw_buf *b, const char *s);
MW_MUST_USE int mw_buf_printf(struct mw_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Room for n more bytes (at most up to the cap) at once, so the appends
 * that follow do not grow the buffer step by step. */
void mw_buf_reserve(struct mw_buf *b, size_t n);
/* 0, or the error of the first append that failed since init or reset. */
int mw_buf_error(const struct mw_buf *b);
/* Take ownership of the bytes; the buffer is re-initialised empty. */
char *mw_buf_detach(struct mw_buf *b, size_t *len);

/* Arena: bump allocator freed in one go (one per request). */
struct mw_arena;
struct mw_arena *mw_arena_new(size_t chunk);
void mw_arena_free(struct mw_arena *a);
void mw_arena_reset(struct mw_arena *a);
void *mw_arena_alloc(struct mw_arena *a, size_t n);
char *mw_arena_strdup(struct mw_arena *a, const char *s);
char *mw_arena_strndup(struct mw_arena *a, const char *s, size_t n);
char *mw_arena_printf(struct mw_arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
size_t mw_arena_used(const struct mw_arena *a);

/* ---------------------------------------------------------------- logging */

enum mw_log_level { MW_LOG_DEBUG, MW_LOG_INFO, MW_LOG_WARN, MW_LOG_ERROR, MW_LOG_OFF };
void mw_log_set_level(enum mw_log_level lvl);
int mw_log_parse_level(const char *s, enum mw_log_level *out);
enum mw_log_level mw_log_get_level(void);
/* Every log line is one line whatever went into it: mw_log writes the
 * formatted message through mw_log_escape, which writes a backslash as two
 * and control characters (C0, DEL, C1) and bytes that are not UTF-8 as
 * "\xHH", so a request path or a model name cannot forge lines or drive a
 * terminal.  Writes at most n - 1 bytes and a NUL (stopping before a character
 * that would not fit); returns the length. */
size_t mw_log_escape(const char *s, char *out, size_t n);
/* A Prometheus label value (text exposition 0.0.4): a backslash, a double
 * quote and a newline escaped as \\, \" and \n, bytes that are not UTF-8
 * replaced by U+FFFD, so a model name cannot forge series or break a scrape.
 * Writes at most n - 1 bytes and a NUL (never half a character or escape);
 * returns the length. */
size_t mw_prom_label_escape(const char *s, char *out, size_t n);
void mw_log(enum mw_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define mw_debug(...) mw_log(MW_LOG_DEBUG, __VA_ARGS__)
#define mw_info(...) mw_log(MW_LOG_INFO, __VA_ARGS__)
#define mw_warn(...) mw_log(MW_LOG_WARN, __VA_ARGS__)
#define mw_error(...) mw_log(MW_LOG_ERROR, __VA_ARGS__)

/* ---------------------------------------------------------------- time, ids */

int64_t mw_now_ms(void);          /* wall clock, ms since the epoch */
uint64_t mw_mono_ns(void);        /* monotonic clock */
/* Format ms since epoch as "2026-11-23 12:00:00" (UTC) into out[32]. */
void mw_time_fmt(int64_t ms, char out[32]);

/* Fill p with n bytes from the kernel CSPRNG (getrandom). */
int mw_random(void *p, size_t n, struct mw_err *err);
/* 32 lowercase hex chars + NUL, from 16 CSPRNG bytes. */
int mw_id_hex32(char out[33], struct mw_err *err);
/* "adjective-animal-NNN", like MLflow's generated run names. */
int mw_id_run_name(char out[64], struct mw_err *err);
void mw_hex(const unsigned char *in, size_t n, char *out /* 2n+1 */);

/* SHA-256 (OpenSSL EVP), streaming. */
struct mw_sha256;
struct mw_sha256 *mw_sha256_new(void);
void mw_sha256_update(struct mw_sha256 *h, const void *p, size_t n);
void mw_sha256_final(struct mw_sha256 *h, char hex[65]); /* frees h */
void mw_sha256_hex(const void *p, size_t n, char hex[65]);

/* Base64 (standard alphabet, padded) for page tokens. */
char *mw_base64_encode(const void *p, size_t n);              /* malloc'd */
int mw_base64_decode(const char *s, unsigned char **out, size_t *len); /* 0/-1 */

/* ---------------------------------------------------------------- strings */

bool mw_utf8_valid(const char *s, size_t n);
/* Characters (code points) in a UTF-8 string, as MLflow counts lengths. */
size_t mw_utf8_chars(const char *s);
int mw_parse_int64(const char *s, int64_t *out);   /* whole string, 0/-1 */
int mw_parse_double(const char *s, double *out);    /* also NaN/Infinity words */
bool mw_str_eq_nocase(const char *a, const char *b);
/* The text after prefix when uri starts with it, else NULL.  prefix is a
 * URI scheme, its colon and what must follow ("models:/", "file:",
 * "mlflow-artifacts://"); the scheme compares case-insensitively, as RFC 3986
 * (3.1) says schemes do, the rest exactly: mw_uri_prefix("FILE:///etc",
 * "file:") is "///etc".  Every check of a URI's scheme goes through here. */
const char *mw_uri_prefix(const char *uri, const char *prefix);

/* ---------------------------------------------------------------- JSON */

/* Parse a request body.  Rejects empty input as {}, depth over max_depth,
 * invalid UTF-8, NaN literals and trailing garbage.  A body that is a JSON
 * string holding a JSON object (old clients double-encode) is decoded twice.
 * Returns a new reference to an object, or NULL and fills err. */
json_t *mw_json_parse_body(const char *p, size_t n, int max_depth, struct mw_err *err);
/* The most values (scalars and containers) a request body parsed by
 * mw_json_parse_body may hold; a body with more is MW_E_TOO_LARGE before any
 * tree is built, so a few MiB of "[0,0,0,...]" cannot cost a GiB of memory.
 * Default 2,000,000 (the setting max-json-values). */
void mw_json_set_max_values(size_t n);
/* Depth of the deepest nesting in p (0 for scalars); stops counting past cap. */
int mw_json_depth(const char *p, size_t n, int cap);
/* Compact dump with 17 significant digits; malloc'd, never NULL. */
char *mw_json_dump(const json_t *v, size_t *len);
/* The same dump, refused past max bytes: NULL (nothing kept) when the text
 * would be longer, so an answer is never held whole beyond its limit. */
char *mw_json_dump_max(const json_t *v, size_t max, size_t *len);
/* The exact length of mw_json_dump(v), computed without writing it (a walk
 * that counts escapes; reals are formatted as the dump formats them). */
size_t mw_json_size(const json_t *v);
/* JSON text that came from a client inside a message (a field holding JSON:
 * a model's MLmodel dict, evidence, a model card) parsed with the body's
 * limits: nesting past max_depth is MW_E_INVALID and more values than
 * --max-json-values MW_E_TOO_LARGE, both found by the linear pre-scan before
 * jansson builds anything; any JSON value is accepted (callers check the
 * type).  what names the field in messages.  NULL on error. */
json_t *mw_json_parse_text(const char *p, size_t n, int max_depth, const char *what,
			   struct mw_err *err);
/* The nesting JSON text held in a field may have (--max-json-depth's default). */
#define MW_JSON_TEXT_DEPTH 64
/* Hand-written JSON for hot paths (answers and logs per request): a string
 * literal (quotes, backslashes and control characters escaped; the input must
 * be UTF-8), and comma-separated float32 values with 9 significant digits,
 * null for NaN and infinities. */
MW_MUST_USE int mw_json_str_append(struct mw_buf *b, const char *s);
/* Floats as JSON numbers, comma-separated: 9 significant digits (a float32
 * reads back exactly), null for NaN and infinities. */
MW_MUST_USE int mw_json_floats_append(struct mw_buf *b, const float *v, size_t n);
/* A JSON number token (as a lexer checked it) as strtod reads it, bit for
 * bit, without strtod's cost: true when it could (at most 19 significant
 * digits and a decimal exponent within +-27, and no doubt about the
 * rounding), false when the caller must ask strtod. */
bool mw_json_fast_double(const char *s, size_t n, double *out);
/* The end of the run of ASCII digits at p (p itself when there is none),
 * eight bytes at a time. */
const char *mw_json_digits_end(const char *p, const char *e);
/* One float as snprintf's "%.9g" writes it, byte for byte, ~15x faster
 * (the prediction log writes every input).  Returns the length. */
size_t mw_fmt_float9(float f, char out[32]);
/* A double as snprintf's "%.4f" writes it, byte for byte, without printf
 * for 0 <= x < 10^9 (latencies in the prediction log).  Returns the length. */
size_t mw_fmt_fixed4(double x, char out[48]);
/* An integer in decimal (as "%lld").  Returns the length. */
size_t mw_fmt_i64(long long v, char out[24]);
/* A double as MLflow writes it: a number, or "NaN" / "Infinity" / "-Infinity". */
json_t *mw_json_double(double d);

/* Typed field getters for request messages (protobuf-JSON semantics).
 * Every getter accepts a missing field (returns 0 and leaves *out, sets
 * *present=false if present is non-NULL) unless `required`; a wrong type is
 * MW_E_INVALID with a message naming the field.  Integers accept numbers and
 * numeric strings; doubles accept numbers, numeric strings and NaN words;
 * booleans accept true/false in any case; strings of "" count as missing for
 * required fields. */
int mw_req_str(json_t *req, const char *field, bool required, size_t maxlen,
	       const char **out, struct mw_err *err);
int mw_req_int64(json_t *req, const char *field, bool required, int64_t *out,
		 bool *present, struct mw_err *err);
int mw_req_double(json_t *req, const char *field, bool required, double *out,
		  struct mw_err *err);
int mw_req_bool(json_t *req, const char *field, bool *out, bool *present,
		struct mw_err *err);
/* Messages decoded from a query string carry this key (set by the API layer
 * after decoding; mw_json_parse_body drops every key starting with \x01, so
 * no client can set it): there a key given once must
 * still read as a list of one. */
#define MW_REQ_FROM_QUERY "\x01query"
/* A repeated field: an array (or, in a query-string message, a single value
 * read as a list of one).
 * Returns a borrowed array or NULL when absent (a new array is stored back
 * into req when a scalar is promoted). */
int mw_req_list(json_t *req, const char *field, json_t **out, struct mw_err *err);

/* ---------------------------------------------------------------- calls */

/* Who is calling an operation, and within what limits.  The request pipeline
 * (http/ filters, api/) builds one per request; the CLI's local mode and
 * background workers build their own.  Operations read the caller from here,
 * never from the request message.  Every field is borrowed for the duration
 * of the call; user is never NULL. */
struct mw_call {
	const char *user;            /* "anonymous" when nobody is known */
	const char *const *roles;    /* NULL-terminated list, or NULL for none */
	const char *request_id;      /* "" when there is none */
	int64_t deadline_ms;         /* wall clock (mw_now_ms); 0 = no deadline */
	/* true: user was checked (--auth: a token or password), or the process
	 * itself (mw_call_system, the local CLI); false: only what the client
	 * claimed (X-MW-User, a Basic user name).  The audit log and the
	 * promotion history record it beside the user. */
	bool verified;
};

/* The call of work the process does on its own behalf (user "system"). */
extern const struct mw_call mw_call_system;
/* True when the call holds role (always false for a NULL list). */
bool mw_call_has_role(const struct mw_call *c, const char *role);

/* ---------------------------------------------------------------- files */

/* Every file the process writes goes through these (blobs, side files, the
 * model cache, logs, downloads): one place for atomic writes and durable
 * renames, and the seam where tests inject I/O faults. */

/* "a/b", malloc'd. */
char *mw_fs_join(const char *a, const char *b);
/* mkdir -p with mode 0755; existing directories are fine. */
int mw_fs_mkdirs(const char *path, struct mw_err *err);
/* Remove a file or a whole tree (symlinks are removed, never followed); a
 * path that does not exist is not an error. */
int mw_fs_rm_rf(const char *path, struct mw_err *err);
/* fsync a directory (after a rename or create in it).  what names it in an
 * error message (a client may read it: say what failed, not where); NULL
 * names it by its path. */
int mw_fs_fsync_dir(const char *dir, const char *what, struct mw_err *err);
/* Replace path with n bytes atomically: a temporary file beside it, written,
 * fsync'd, renamed over path, then the directory fsync'd. */
int mw_fs_write_atomic(const char *path, const void *p, size_t n, int mode, struct mw_err *err);
/* write(2) all n bytes (EINTR and short writes retried); 0 or -1 with errno. */
int mw_fs_write(int fd, const void *p, size_t n);
/* open(2) through the seam: a descriptor, or -1 with errno. */
int mw_fs_open(const char *path, int flags, int mode);
/* fsync(2) and rename(2) through the seam; 0 or -1 with errno. */
int mw_fs_fsync(int fd);
int mw_fs_rename(const char *from, const char *to);
/* An error message for a failed file operation: "what: the disk is full" for
 * ENOSPC/EDQUOT, else "what: strerror".  Returns -MW_E_IO. */
int mw_fs_error(int errno_value, const char *what, struct mw_err *err);

/* Fault injection: the one seam where tests make file operations fail, as
 * SQLite's test VFS does.  Opens, writes, fsyncs and renames of blobs and side files
 * (through the functions above) and of the SQLite store's files (through the
 * VFS shim in store/sqlite_vfs.c, which calls mw_fs_fault_check) consult one
 * rule; when it fires the operation fails with the rule's errno (ENOSPC, EIO)
 * before anything is written.  No rule is set in production: the check is one
 * relaxed atomic load.
 *
 * A rule is either "the write that would take its file past n bytes" (every
 * such write fails: a disk that is full at that size) or "the nth operation
 * among ops" (once, or with sticky that one and every later one), optionally
 * only for files under a directory and only while a flag file exists (so a
 * test of the real binary can fill and free the disk at will).
 *
 * The real binary reads the rule once from MW_TEST_FAULT (see
 * mw_fs_fault_set_spec for the grammar); that is the only place a test fault is
 * read from the environment.  Unit tests call mw_fs_fault_set, which replaces
 * any rule from the environment. */
enum mw_fs_op {
	MW_FS_WRITE = 1 << 0,
	MW_FS_FSYNC = 1 << 1,
	MW_FS_RENAME = 1 << 2,
	MW_FS_TRUNCATE = 1 << 3,
	MW_FS_OPEN = 1 << 4,
};
#define MW_FS_ANY (MW_FS_WRITE | MW_FS_FSYNC | MW_FS_RENAME | MW_FS_TRUNCATE | MW_FS_OPEN)

enum mw_fs_trigger {
	MW_FS_PAST, /* a write ending past n bytes of its file */
	MW_FS_NTH,  /* the nth operation (1-based) of the kinds in ops */
};

struct mw_fs_fault {
	int error; /* errno to inject (ENOSPC, EIO, ...) */
	enum mw_fs_trigger trigger;
	uint64_t n;
	unsigned ops;             /* MW_FS_NTH: mask of enum mw_fs_op (0: MW_FS_ANY) */
	bool sticky;              /* MW_FS_NTH: the nth and every later one */
	const char *under;        /* only files under this directory (NULL: all) */
	const char *while_exists; /* only while this file exists (NULL: always) */
};

/* Set the rule (copied; NULL turns injection off) and reset the counters. */
void mw_fs_fault_set(const struct mw_fs_fault *f);
/* Set the rule from its text form (as MW_TEST_FAULT holds it):
 * "ERROR:N" (every write that would take a file past N bytes fails) or
 * "ERROR:OPS#N[+]" (the Nth of OPS fails; with '+', every later one too),
 * then optional ",under=DIR" and ",while=FILE".  ERROR is enospc or eio; OPS
 * is write, fsync, rename, truncate, open or any, joined by '/'.  Examples:
 * "enospc:1048576", "eio:fsync#1", "enospc:write#1+,under=/d,while=/tmp/full".
 * A malformed rule is -MW_E_INVALID and changes nothing. */
int mw_fs_fault_set_spec(const char *spec, struct mw_err *err);
/* Operations failed by the rule since it was set.  Each failure is also
 * logged as a warning ("fs: injected ..."), so a test of the real binary can
 * tell whether its workload reached the Nth operation. */
uint64_t mw_fs_fault_hits(void);
/* The check itself, for I/O that does not go through the functions above
 * (the SQLite VFS shim): 0 to go ahead, or the errno the operation must fail
 * with.  path may be NULL (an anonymous file); end is the offset a write or
 * truncate reaches. */
int mw_fs_fault_check(enum mw_fs_op op, const char *path, uint64_t end);

/* ---------------------------------------------------------------- workers */

/* A background worker: one thread that runs tick every period_ms (and at
 * once after mw_worker_poke) until it is stopped.  Ticks never overlap.
 * mw_worker_stop asks the worker to stop, lets a running tick finish (a long
 * tick may poll mw_worker_stopping), joins the thread and frees it.  Workers
 * block SIGINT/SIGTERM, so signals reach the main thread only. */
struct mw_worker;
typedef void (*mw_worker_fn)(struct mw_worker *w, void *ud);
int mw_worker_start(const char *name, int64_t period_ms, mw_worker_fn tick, void *ud,
		    struct mw_worker **out, struct mw_err *err);
void mw_worker_poke(struct mw_worker *w);
bool mw_worker_stopping(const struct mw_worker *w);
const char *mw_worker_name(const struct mw_worker *w);
/* Ticks run so far. */
unsigned long long mw_worker_ticks(const struct mw_worker *w);
void mw_worker_stop(struct mw_worker *w); /* NULL is fine */

/* ---------------------------------------------------------------- parallel for */

/* A pool of persistent worker threads for data-parallel work: mw_pool_run
 * runs fn(ctx, task) for every task in [0, ntasks) on the pool's workers and
 * on the calling thread, and returns when all have finished (every write a
 * task made is then visible to the caller).  Tasks are claimed one at a time
 * in index order, so a late or descheduled worker just takes fewer; which
 * thread runs which task is unspecified, so tasks must be independent.
 *
 * One job runs at a time: a call that finds the pool busy (another thread's
 * job, or a task calling mw_pool_run) runs its tasks inline on its own
 * thread, in order, rather than wait.  So any number of threads may call
 * mw_pool_run on one pool at once, nesting cannot deadlock, and a NULL pool
 * or ntasks == 1 simply runs inline.  mw_pool_run allocates nothing and
 * never fails.  After a job, workers poll briefly for the next one, then
 * sleep; they block SIGINT/SIGTERM.
 *
 * mw_pool_new starts nthreads - 1 workers (nthreads counts the caller; 0
 * means the number of online CPUs, at most MW_POOL_MAX_THREADS).
 * mw_pool_free stops and joins them; no mw_pool_run may be running on the
 * pool then.  NULL is fine. */
#define MW_POOL_MAX_THREADS 256
struct mw_pool;
typedef void (*mw_pool_fn)(void *ctx, size_t task);
int mw_pool_new(int nthreads, struct mw_pool **out, struct mw_err *err);
void mw_pool_free(struct mw_pool *p);
/* Threads that work on a job, the caller included (1 for NULL). */
size_t mw_pool_threads(const struct mw_pool *p);
/* Whether a small job, one worth splitting only if no worker has to be
 * woken (a wake-up costs the caller a system call and the worker tens of
 * microseconds on a virtual machine), should go to the pool now: true while
 * some worker is awake (running a job or polling for the next), or when the
 * previous mw_pool_hot came less than 250 us ago (calls
 * come back to back, so workers woken now stay awake for the next ones).
 * Records the call; a hint that may change at any moment. */
bool mw_pool_hot(struct mw_pool *p);
void mw_pool_run(struct mw_pool *p, size_t ntasks, mw_pool_fn fn, void *ctx);

/* ---------------------------------------------------------------- settings */

/* One table serves flags, MW_* environment variables, --help and
 * /api/mw/config.  Precedence: command-line flag, then environment, then
 * default.  Every row has a type; mw_settings_validate checks every value
 * against it once, at load, and rewrites it in canonical form, so readers
 * (mw_settings_int, mw_settings_bool, mw_settings_get) never see a bad value:
 *
 *   STRING    any text
 *   INT       a decimal integer in [min, max]
 *   BOOL      true/false, 1/0, yes/no, on/off (any case); canonical "true"/"false"
 *   ENUM      one of choices (any case; "warn|warning" lists an alias after the
 *             canonical name); canonical: the first name
 *   SIZE      bytes, optionally with a binary suffix (k/K/KiB, M/MiB, G/GiB,
 *             T/TiB); canonical: decimal bytes in [min, max]
 *   DURATION  a whole number in the row's unit ("us", "ms" or "s"), or with an
 *             explicit unit (us, ms, s, m, h) that converts to a whole number
 *             of it; canonical: decimal in the unit, in [min, max]
 *
 * A secret row (a database URI with a password, a key) is never shown: not by
 * /api/mw/config, not in --help defaults, not in logs or validation errors;
 * mw_setting_show gives "(set)" or "(unset)" instead. */
enum mw_setting_type {
	MW_SETTING_STRING,
	MW_SETTING_INT,
	MW_SETTING_BOOL,
	MW_SETTING_ENUM,
	MW_SETTING_SIZE,
	MW_SETTING_DURATION,
};

struct mw_setting {
	const char *name;     /* "port"; flag --port, env MW_PORT */
	const char *def;      /* default as text (canonical) */
	const char *help;
	const char *value;    /* resolved value (owned by the table) */
	const char *source;   /* "default", "env", "flag" or the caller's word */
	enum mw_setting_type type;
	long long min, max;   /* INT, SIZE, DURATION (in unit) */
	const char *const *choices; /* ENUM: NULL-terminated */
	const char *unit;     /* DURATION: "us", "ms" or "s" */
	bool secret;
};

struct mw_settings;
struct mw_settings *mw_settings_new(void);
void mw_settings_free(struct mw_settings *s);
/* Look up MW_<NAME> for every setting (an empty variable counts as unset).
 * Values are taken as text; mw_settings_validate checks them. */
void mw_settings_load_env(struct mw_settings *s);
/* Set one value from --name=value (source "flag"); an unknown name is an
 * error.  The value is checked by mw_settings_validate. */
int mw_settings_apply_flag(struct mw_settings *s, const char *name, const char *value,
			   struct mw_err *err);
/* The same with the caller's source word (e.g. "cli" for the CLI's local mode). */
int mw_settings_set(struct mw_settings *s, const char *name, const char *value,
		    const char *source, struct mw_err *err);
/* Check every value against its row's type and bounds and rewrite it in
 * canonical form.  The first bad one is MW_E_INVALID with one message that
 * names the setting, where its value came from (--flag or MW_ENV) and what
 * is accepted; a secret's value is never echoed. */
int mw_settings_validate(struct mw_settings *s, struct mw_err *err);
const char *mw_settings_get(const struct mw_settings *s, const char *name);
/* An INT, SIZE or DURATION value (SIZE in bytes, DURATION in the row's unit),
 * also checked against [min, max]; a STRING row is read as a plain integer.
 * Usable without mw_settings_validate. */
int mw_settings_get_int(const struct mw_settings *s, const char *name, long long min,
			long long max, long long *out, struct mw_err *err);
/* Typed reads of validated values.  name must be a row of the table of the
 * right type: anything else is a programming error and aborts. */
long long mw_settings_int(const struct mw_settings *s, const char *name);
bool mw_settings_bool(const struct mw_settings *s, const char *name);
size_t mw_settings_count(const struct mw_settings *s);
const struct mw_setting *mw_settings_at(const struct mw_settings *s, size_t i);
bool mw_settings_has(const struct mw_settings *s, const char *name);
/* What may be shown of a value v of row (its value or default): v itself, or
 * for a secret "(set)" / "(unset)". */
const char *mw_setting_show(const struct mw_setting *row, const char *v);
/* "string", "int", "bool", "enum", "size", "duration". */
const char *mw_setting_type_name(enum mw_setting_type t);

/* ---------------------------------------------------------------- metrics */

/* A fixed-bucket histogram with atomic counters (lock-free observe). */
#define MW_HIST_MAX_BUCKETS 16
struct mw_hist {
	int nb;
	double bounds[MW_HIST_MAX_BUCKETS];
	unsigned long long counts[MW_HIST_MAX_BUCKETS + 1]; /* atomic via builtins */
	unsigned long long count;
	double sum; /* protected by a CAS loop */
};
void mw_hist_init(struct mw_hist *h, const double *bounds, int nb);
void mw_hist_observe(struct mw_hist *h, double v);
/* Append Prometheus text for one series: name{labels,le=...} lines. */
MW_MUST_USE int mw_hist_render(const struct mw_hist *h, struct mw_buf *out, const char *name,
			       const char *labels /* "a=\"b\"" or "" */);
extern const double mw_latency_buckets[]; /* seconds */
extern const int mw_latency_nbuckets;

#endif
