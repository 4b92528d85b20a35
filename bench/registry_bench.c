/*
 * registry_bench.c - fills a data directory with a registry for the search
 * benchmark: N registered models with V versions each (each with a tag),
 * written through the store API by 8 threads (the same group-commit path the
 * server uses).  bench/registry.sh then times searches over HTTP.
 *
 * usage: registry_bench DATA_DIR [MODELS] [VERSIONS]
 */
#include "store/registry.h"
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct work {
	struct mw_store *s;
	int first, count, versions;
	int failed;
};

/* What the registry records for a version whose files mw does not hold. */
#define NOT_PINNED                                                                               \
	"the source is outside mw's artifact store: its files were not pinned, and the version " \
	"resolves to the source itself"

static void *fill(void *p)
{
	struct work *w = p;
	struct mw_arena *a = mw_arena_new(16384);
	for (int i = w->first; i < w->first + w->count; i++) {
		char name[64], val[32];
		snprintf(name, sizeof name, "model-%06d", i);
		snprintf(val, sizeof val, "team-%d", i % 10);
		struct mw_kv tag = {"team", val};
		struct mw_err err = {0};
		struct mw_registered_model rm;
		mw_arena_reset(a);
		if (mw_store_rm_create(w->s, name, "bench", &tag, 1, "bench", mw_now_ms(), a, &rm,
				       &err)) {
			w->failed++;
			continue;
		}
		for (int v = 0; v < w->versions; v++) {
			struct mw_mv_create c = {.name = name,
						 .source = "mlflow-artifacts:/bench",
						 .user_id = "bench",
						 .stage = "None",
						 .status = "READY",
						 .status_message = NOT_PINNED,
						 .now_ms = mw_now_ms()};
			struct mw_model_version mv;
			if (mw_store_mv_create(w->s, &c, a, &mv, &err))
				w->failed++;
		}
	}
	mw_arena_free(a);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: registry_bench DATA_DIR [MODELS] [VERSIONS]\n");
		return 2;
	}
	int models = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 10000;
	int versions = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 10;
	if (models < 1 || versions < 0) {
		fprintf(stderr, "registry_bench: bad counts\n");
		return 2;
	}
	mw_log_set_level(MW_LOG_WARN);
	struct mw_store_opts o = {.data_dir = argv[1], .read_conns = 2, .sync_full = false,
				  .max_batch = 256};
	struct mw_store *s;
	struct mw_err err = {0};
	if (mw_store_open(&o, &s, &err)) {
		fprintf(stderr, "registry_bench: %s\n", err.msg);
		return 1;
	}
	uint64_t t0 = mw_mono_ns();
	enum { T = 8 };
	pthread_t th[T];
	struct work w[T];
	int per = (models + T - 1) / T;
	for (int i = 0; i < T; i++) {
		int first = i * per, count = first + per > models ? models - first : per;
		w[i] = (struct work){s, first, count > 0 ? count : 0, versions, 0};
		pthread_create(&th[i], NULL, fill, &w[i]);
	}
	int failed = 0;
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		failed += w[i].failed;
	}
	double secs = (double)(mw_mono_ns() - t0) / 1e9;
	mw_store_close(s);
	printf("models=%d\nversions=%d\nfailed=%d\nfill_s=%.3f\n", models, models * versions, failed,
	       secs);
	return failed ? 1 : 0;
}
