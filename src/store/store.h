/*
 * store.h - the metadata store: opening it (the backend is chosen by URI),
 * its statistics, and what every domain shares.  Each domain has its own
 * header with its records and calls: store/tracking.h, store/registry.h,
 * store/artifacts.h (see docs/architecture.md for why the store has one
 * header per domain rather than one for the module).
 *
 * The store is the only place that knows SQL, and it knows nothing of
 * MLflow: it takes and returns plain C records, and the domain modules
 * (track/, registry/, art/) shape MLflow's messages, word its errors and
 * compose its URIs.
 *
 * Backends implement one ops struct per domain (store/backend.h;
 * store/sqlite_<domain>.c today, store/postgres_<domain>.c later) and nothing
 * outside store/ changes when one is added.  A backend that lacks a domain
 * answers its calls with MW_E_NOT_IMPLEMENTED.
 *
 * Durability contract: every write function returns only after its
 * transaction has committed (fsync'd per the sync setting).  Writes from many
 * threads are grouped by one writer into a single transaction (group
 * commit) so clients never see "database is locked"; each call still succeeds
 * or fails on its own (a savepoint per call).  Reads run concurrently on their
 * own connections and see every committed write.
 *
 * Errors are neutral: a kind (err->code) and a short message for logs.  When
 * the kind alone cannot tell the caller what happened, err->detail says what
 * the error is about (enum mw_store_what): MW_E_NOT_FOUND names what is
 * missing (the model or its version?), MW_E_EXISTS what is taken,
 * MW_E_INVALID with a detail an entity that is not active, MW_E_CONFLICT a
 * rule checked inside the write (a param's other value, an alias that moved).
 * The domain modules turn these into their protocol's messages.
 *
 * Ownership: records are allocated from the caller's arena (see each domain
 * header).  Input strings are borrowed for the duration of the call.
 */
#ifndef MW_STORE_H
#define MW_STORE_H

#include "core/core.h"
#include "search/search.h"

/* ------------------------------------------------------------ shared */

struct mw_kv {
	const char *key;
	const char *value;
};

/* What a store error is about (err->detail). */
enum mw_store_what {
	MW_STORE_EXPERIMENT = 1,
	MW_STORE_RUN,
	MW_STORE_LOGGED_MODEL,
	MW_STORE_TAG,
	MW_STORE_PARAM,
	MW_STORE_MODEL,   /* a registered model */
	MW_STORE_VERSION, /* a model version */
	MW_STORE_ALIAS,
	MW_STORE_CARD,
	MW_STORE_ARTIFACT,
	MW_STORE_USER,       /* an auth user */
	MW_STORE_TOKEN,      /* an API token */
	MW_STORE_PERMISSION, /* an auth permission row */
};

/* Set err as the store does: a kind, what it is about, a neutral message. */
int mw_store_err(struct mw_err *err, int code, enum mw_store_what what, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ------------------------------------------------------------ the interface */

struct mw_store;

struct mw_store_stats {
	unsigned long long commits, jobs, failed_jobs;
	struct mw_hist *batch_size;     /* jobs per commit */
	struct mw_hist *commit_seconds; /* commit latency */
	int queue_depth;
	uint64_t memory_bytes; /* what the backend holds (SQLite: page caches, statements) */
};

struct mw_store_opts {
	const char *data_dir; /* the default database: <data_dir>/mw.db */
	/* The backend and its database (--store-uri, a secret: it may hold a
	 * password; never logged, never repeated in a message).  NULL or "":
	 * SQLite in data_dir.  sqlite:///relative/path.db (relative to the
	 * working directory) and sqlite:////absolute/path.db, as SQLAlchemy and
	 * MLflow write them.  postgresql:// (or postgres://) is
	 * MW_E_NOT_IMPLEMENTED (not built yet); another scheme MW_E_INVALID. */
	const char *uri;
	int read_conns;         /* concurrent readers */
	bool sync_full;         /* fsync every commit (PRAGMA synchronous=FULL) */
	int max_batch;          /* jobs per group commit */
};

/* Opens the backend, brings its schema up to date (numbered migrations; a
 * database newer than this mw is refused) and starts the writer. */
int mw_store_open(const struct mw_store_opts *o, struct mw_store **out, struct mw_err *err);
/* Drains queued writes, then closes every connection. */
void mw_store_close(struct mw_store *s);
void mw_store_stats(struct mw_store *s, struct mw_store_stats *out);
int mw_store_schema_version(struct mw_store *s);
/* Give back cache memory of idle connections (called when the server idles). */
void mw_store_trim(struct mw_store *s);

#endif
