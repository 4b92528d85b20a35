/*
 * settings.c - one declarative table for every server setting.
 *
 * The same rows serve command-line flags (--name), environment variables
 * (MW_NAME with dashes as underscores) and the /api/mw/config view.
 * Precedence: flag over environment over default.
 */
#include "core/core.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mw_setting defaults[] = {
	{"host", "127.0.0.1", "address to listen on", NULL, NULL},
	{"port", "5000", "TCP port to listen on", NULL, NULL},
	{"data-dir", "./mw-data", "data directory (mw.db, blobs, logs)", NULL, NULL},
	{"log-level", "info", "debug, info, warn, error or off", NULL, NULL},
	{"threads", "0", "HTTP worker threads (0 = 4 per core, at least 4)", NULL, NULL},
	{"max-body", "33554432", "largest request body in bytes (413 above)", NULL, NULL},
	{"max-json-depth", "64", "deepest JSON nesting accepted in a request", NULL, NULL},
	{"sync", "full", "full: fsync every commit; normal: survive process kill only", NULL, NULL},
	{"artifact-root", "mlflow-artifacts:/", "default artifact root for new experiments", NULL,
	 NULL},
	{"read-conns", "0", "SQLite read connections (0 = threads + 2)", NULL, NULL},
	{"truncate-long-values", "true",
	 "truncate over-long param and tag values like MLflow (false: reject with 400)", NULL,
	 NULL},
	{"shutdown-timeout", "10", "seconds to drain in-flight requests on SIGTERM", NULL, NULL},
	{"batch-size", "64", "inference: most rows per batch (1 = no batching)", NULL, NULL},
	{"batch-delay-us", "0",
	 "inference: longest wait for more rows before a batch runs, us (0: at once; batches "
	 "still form from requests queued while one computes)",
	 NULL, NULL},
	{"max-queue", "1024", "inference: queued requests per model version before 503", NULL, NULL},
	{"infer-timeout-ms", "30000", "inference: per request, queue plus compute", NULL, NULL},
	{"cache-bytes", "0", "inference: response cache size per model version (0 = off)", NULL,
	 NULL},
	{"cache-ttl-ms", "60000", "inference: how long a cached response stays valid", NULL, NULL},
	{"python", "/usr/bin/python3", "interpreter of the python model runtime", NULL, NULL},
	{"python-workers", "2", "worker processes per python-served model version", NULL, NULL},
	{"default-alias", "champion", "the alias a model name serves when no version is named", NULL,
	 NULL},
	{"alias-poll-ms", "1000", "how often served aliases are checked for moves (0 = never)", NULL,
	 NULL},
	{"prediction-log", "true", "log every prediction to <data-dir>/logs (true/false)", NULL, NULL},
	{"allow-local-sources", "false",
	 "let model-versions/create read a local directory on the server (trusted clients only)",
	 NULL, NULL},
	{"prediction-log-queue", "10000", "records waiting for the prediction log before drops", NULL,
	 NULL},
};

#define NSET (sizeof defaults / sizeof *defaults)

struct mw_settings {
	struct mw_setting row[NSET];
	char *owned[NSET];
};

struct mw_settings *mw_settings_new(void)
{
	struct mw_settings *s = mw_xcalloc(1, sizeof *s);
	for (size_t i = 0; i < NSET; i++) {
		s->row[i] = defaults[i];
		s->row[i].value = defaults[i].def;
		s->row[i].source = "default";
	}
	return s;
}

void mw_settings_free(struct mw_settings *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < NSET; i++)
		free(s->owned[i]);
	free(s);
}

static struct mw_setting *find(const struct mw_settings *s, const char *name, size_t *idx)
{
	for (size_t i = 0; i < NSET; i++)
		if (!strcmp(s->row[i].name, name)) {
			if (idx)
				*idx = i;
			return (struct mw_setting *)&s->row[i];
		}
	return NULL;
}

static void set_value(struct mw_settings *s, size_t i, const char *v, const char *source)
{
	free(s->owned[i]);
	s->owned[i] = mw_xstrdup(v);
	s->row[i].value = s->owned[i];
	s->row[i].source = source;
}

void mw_settings_load_env(struct mw_settings *s)
{
	for (size_t i = 0; i < NSET; i++) {
		char env[64] = "MW_";
		size_t k = 3;
		for (const char *p = s->row[i].name; *p && k < sizeof env - 1; p++)
			env[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
		env[k] = 0;
		const char *v = getenv(env);
		if (v && *v)
			set_value(s, i, v, "env");
	}
}

int mw_settings_apply_flag(struct mw_settings *s, const char *name, const char *value,
			   struct mw_err *err)
{
	size_t i;
	if (!find(s, name, &i))
		return mw_err_set(err, MW_E_INVALID, "unknown setting '%s'", name);
	set_value(s, i, value, "flag");
	return 0;
}

bool mw_settings_has(const struct mw_settings *s, const char *name)
{
	return find(s, name, NULL) != NULL;
}

const char *mw_settings_get(const struct mw_settings *s, const char *name)
{
	struct mw_setting *r = find(s, name, NULL);
	return r ? r->value : NULL;
}

int mw_settings_get_int(const struct mw_settings *s, const char *name, long long min,
			long long max, long long *out, struct mw_err *err)
{
	const char *v = mw_settings_get(s, name);
	int64_t x;
	if (!v || mw_parse_int64(v, &x) || x < min || x > max)
		return mw_err_set(err, MW_E_INVALID, "setting '%s': '%s' is not a number in [%lld, %lld]",
				  name, v ? v : "", min, max);
	*out = x;
	return 0;
}

size_t mw_settings_count(const struct mw_settings *s)
{
	(void)s;
	return NSET;
}

const struct mw_setting *mw_settings_at(const struct mw_settings *s, size_t i)
{
	return i < NSET ? &s->row[i] : NULL;
}
