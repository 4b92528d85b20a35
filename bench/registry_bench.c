/*
 * registry_bench.c - fills a data directory with a registry for the search
 * benchmark: N registered models with V versions each (each with a tag),
 * written through the store API by 8 threads (the same group-commit path the
 * server uses).  bench/registry.sh then times searches over HTTP.
 *
 * usage: registry_bench DATA_DIR [MODELS] [VERSIONS]
 */
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

static void *fill(void *p)
{
	struct work *w = p;
	for (int i = w->first; i < w->first + w->count; i++) {
		char name[64], val[32];
		snprintf(name, sizeof name, "model-%06d", i);
		snprintf(val, sizeof val, "team-%d", i % 10);
		struct mw_kv tag = {"team", val};
		struct mw_err err = {0};
		json_t *out = NULL;
		if (mw_store_rm_create(w->s, name, "bench", &tag, 1, "bench", mw_now_ms(), &out, &err)) {
			w->failed++;
			continue;
		}
		json_decref(out);
		for (int v = 0; v < w->versions; v++) {
			struct mw_mv_create c = {.name = name, .source = "mlflow-artifacts:/bench",
						 .user_id = "bench", .now_ms = mw_now_ms()};
			out = NULL;
			if (mw_store_mv_create(w->s, &c, &out, &err))
				w->failed++;
			json_decref(out);
		}
	}
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
