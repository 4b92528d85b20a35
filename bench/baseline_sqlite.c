/*
 * baseline_sqlite.c - the in-process ceiling for metric ingest.
 *
 * Benchmark (a) compares mw's log-batch throughput with this program, run on
 * the same machine in the same `make bench`: it writes the same shape of
 * metric points (run_uuid, key, step, timestamp, value, is_nan) straight into
 * a fresh SQLite file database, with no HTTP, no JSON and no threads:
 *
 *   - WAL journal, synchronous=FULL (every commit is durable, as mw promises
 *     for every acknowledged write);
 *   - one prepared INSERT, --batch rows (default 1000, one log-batch) per
 *     transaction;
 *   - table metrics(run_uuid, key, step, timestamp, value, is_nan) with the
 *     whole row as PRIMARY KEY, WITHOUT ROWID (MLflow's metrics key).
 *
 * The points mimic loadgen's logbatch mode: --runs run ids (default 8, one
 * per loadgen connection) taking turns per batch, --keys keys (default 10)
 * per batch, fresh steps and timestamps, values uniform in [0,1).
 *
 * With --batch 1 it measures the other floor: the latency of one durable
 * single-row commit (txn_p50_ms), which bounds a single log-metric.
 *
 * Bounded by --points and by --duration seconds.  Output: key=value lines.
 * The database lives in a fresh directory (under --dir, default $TMPDIR or
 * /tmp) that is removed at the end unless --keep is given.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static uint64_t rnd_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 2685821657736338717ull;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile (ms) of n sorted samples (ns). */
static double pct_ms(const uint64_t *v, long n, double q)
{
	if (n <= 0)
		return 0.0;
	long rank = (long)((double)n * q);
	if ((double)rank < (double)n * q)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)v[rank - 1] / 1e6;
}

static long parse_long(const char *s, const char *what, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "baseline_sqlite: bad %s: %s (want %ld..%ld)\n", what, s, lo, hi);
		exit(2);
	}
	return v;
}

static int exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "baseline_sqlite: %s: %s\n", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: baseline_sqlite [--points N] [--duration S] [--batch N] [--runs N]\n"
		"                       [--keys K] [--dir D] [--keep]\n"
		"Inserts metric points into a fresh SQLite WAL database (synchronous=FULL),\n"
		"--batch rows per transaction; prints points_per_s=... (key=value lines).\n");
}

int main(int argc, char **argv)
{
	long points = 100000000L, batch = 1000, runs = 8, keys = 10;
	double duration = 5.0;
	const char *dir = getenv("TMPDIR");
	bool keep = false;
	static const struct option lopts[] = {
		{ "points", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "batch", required_argument, NULL, 'b' },
		{ "runs", required_argument, NULL, 'r' },
		{ "keys", required_argument, NULL, 'k' },
		{ "dir", required_argument, NULL, 'D' },
		{ "keep", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'p': points = parse_long(optarg, "--points", 1, 1000000000000L); break;
		case 'b': batch = parse_long(optarg, "--batch", 1, 1000000); break;
		case 'r': runs = parse_long(optarg, "--runs", 1, 100000); break;
		case 'k': keys = parse_long(optarg, "--keys", 1, 100000); break;
		case 'D': dir = optarg; break;
		case 'K': keep = true; break;
		case 'd': {
			char *end;
			duration = strtod(optarg, &end);
			if (end == optarg || *end || !(duration > 0) || duration > 86400) {
				fprintf(stderr, "baseline_sqlite: bad --duration %s\n", optarg);
				return 2;
			}
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!dir || !dir[0])
		dir = "/tmp";
	if (keys > batch)
		keys = batch;

	char tmpl[4096];
	snprintf(tmpl, sizeof(tmpl), "%s/mw-baseline-XXXXXX", dir);
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "baseline_sqlite: mkdtemp %s: %s\n", tmpl, strerror(errno));
		return 2;
	}
	char path[4200];
	snprintf(path, sizeof(path), "%s/baseline.db", tmpl);

	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "baseline_sqlite: open %s: %s\n", path, sqlite3_errmsg(db));
		return 2;
	}
	int rc = 1;
	sqlite3_stmt *ins = NULL;
	if (exec_sql(db, "PRAGMA journal_mode=WAL") < 0 ||
	    exec_sql(db, "PRAGMA synchronous=FULL") < 0 ||
	    exec_sql(db, "CREATE TABLE metrics(run_uuid TEXT, key TEXT, step INT, timestamp INT,"
			 " value REAL, is_nan INT,"
			 " PRIMARY KEY(run_uuid,key,step,timestamp,value,is_nan)) WITHOUT ROWID") < 0)
		goto out;
	if (sqlite3_prepare_v2(db,
			       "INSERT OR IGNORE INTO metrics(run_uuid,key,step,timestamp,value,is_nan)"
			       " VALUES(?,?,?,?,?,?)",
			       -1, &ins, NULL) != SQLITE_OK) {
		fprintf(stderr, "baseline_sqlite: prepare: %s\n", sqlite3_errmsg(db));
		goto out;
	}

	/* run ids: 32 lowercase hex characters, like mw's */
	uint64_t rng = mono_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull;
	char (*run_ids)[33] = malloc((size_t)runs * sizeof(*run_ids));
	char (*key_names)[24] = malloc((size_t)keys * sizeof(*key_names));
	long *seq = calloc((size_t)runs, sizeof(*seq));
	long lat_alloc = 4096;
	uint64_t *lat = malloc((size_t)lat_alloc * sizeof(*lat));
	if (!run_ids || !key_names || !seq || !lat) {
		fprintf(stderr, "baseline_sqlite: out of memory\n");
		abort();
	}
	for (long r = 0; r < runs; r++)
		snprintf(run_ids[r], sizeof(run_ids[r]), "%016" PRIx64 "%016" PRIx64,
			 rnd_next(&rng), rnd_next(&rng));
	for (long k = 0; k < keys; k++)
		snprintf(key_names[k], sizeof(key_names[k]), "m%03ld", k);
	long per_key = batch / keys + (batch % keys != 0);

	uint64_t t0 = mono_ns();
	uint64_t deadline = t0 + (uint64_t)(duration * 1e9);
	long done = 0, txns = 0;
	while (done < points && mono_ns() < deadline) {
		long r = txns % runs;
		long n = batch < points - done ? batch : points - done;
		int64_t ts = wall_ms();
		uint64_t tx0 = mono_ns();
		if (exec_sql(db, "BEGIN") < 0)
			goto out_free;
		for (long i = 0; i < n; i++) {
			uint64_t x = rnd_next(&rng);
			sqlite3_bind_text(ins, 1, run_ids[r], 32, SQLITE_STATIC);
			sqlite3_bind_text(ins, 2, key_names[i % keys], -1, SQLITE_STATIC);
			sqlite3_bind_int64(ins, 3, seq[r] * per_key + i / keys);
			sqlite3_bind_int64(ins, 4, ts);
			sqlite3_bind_double(ins, 5, (double)(x % 1000000u) / 1e6);
			sqlite3_bind_int(ins, 6, 0);
			if (sqlite3_step(ins) != SQLITE_DONE) {
				fprintf(stderr, "baseline_sqlite: insert: %s\n", sqlite3_errmsg(db));
				goto out_free;
			}
			sqlite3_reset(ins);
		}
		if (exec_sql(db, "COMMIT") < 0)
			goto out_free;
		if (txns == lat_alloc) {
			lat_alloc *= 2;
			uint64_t *nl = realloc(lat, (size_t)lat_alloc * sizeof(*lat));
			if (!nl) {
				fprintf(stderr, "baseline_sqlite: out of memory\n");
				abort();
			}
			lat = nl;
		}
		lat[txns] = mono_ns() - tx0;
		seq[r]++;
		txns++;
		done += n;
	}
	double elapsed = (double)(mono_ns() - t0) / 1e9;
	printf("mode=baseline_sqlite\n");
	printf("sqlite_version=%s\n", sqlite3_libversion());
	printf("batch=%ld\n", batch);
	printf("transactions=%ld\n", txns);
	printf("points=%ld\n", done);
	printf("elapsed_s=%.3f\n", elapsed);
	printf("points_per_s=%.0f\n", elapsed > 0 ? (double)done / elapsed : 0.0);
	printf("txn_per_s=%.1f\n", elapsed > 0 ? (double)txns / elapsed : 0.0);
	qsort(lat, (size_t)txns, sizeof(*lat), cmp_u64);
	printf("txn_p50_ms=%.3f\n", pct_ms(lat, txns, 0.50));
	printf("txn_p99_ms=%.3f\n", pct_ms(lat, txns, 0.99));
	printf("txn_max_ms=%.3f\n", txns ? (double)lat[txns - 1] / 1e6 : 0.0);
	rc = 0;
out_free:
	free(run_ids);
	free(key_names);
	free(seq);
	free(lat);
out:
	sqlite3_finalize(ins);
	sqlite3_close(db);
	if (!keep) {
		const char *suffix[] = { "", "-wal", "-shm", "-journal" };
		for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
			char p[4300];
			snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
			unlink(p);
		}
		rmdir(tmpl);
	} else {
		printf("db=%s\n", path);
	}
	return rc;
}
