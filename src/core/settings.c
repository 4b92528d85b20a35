/*
 * settings.c - one declarative table for every server setting.
 *
 * The same rows serve command-line flags (--name), environment variables
 * (MW_NAME with dashes as underscores), --help and the /api/mw/config view.
 * Precedence: flag over environment over default.
 *
 * Each row has a type with its bounds (or its choices), and may be secret.
 * Values arrive as text from anywhere; mw_settings_validate checks them all
 * once, at load, and rewrites each in canonical form (booleans "true"/"false",
 * sizes in bytes, durations in the row's unit, enums by their first name), so
 * every later reader sees a valid value.  A secret's value is never part of a
 * message or a view (mw_setting_show).
 */
#include "core/core.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STR(n, d, h) {.name = n, .def = d, .help = h, .type = MW_SETTING_STRING}
#define SECRET(n, d, h) {.name = n, .def = d, .help = h, .type = MW_SETTING_STRING, .secret = true}
#define INT(n, d, lo, hi, h) {.name = n, .def = d, .help = h, .type = MW_SETTING_INT, .min = lo, .max = hi}
#define SIZE(n, d, lo, hi, h) {.name = n, .def = d, .help = h, .type = MW_SETTING_SIZE, .min = lo, .max = hi}
#define DUR(n, d, u, lo, hi, h)                                                                   \
	{.name = n, .def = d, .help = h, .type = MW_SETTING_DURATION, .unit = u, .min = lo, .max = hi}
#define BOOL(n, d, h) {.name = n, .def = d, .help = h, .type = MW_SETTING_BOOL}
#define ENUM(n, d, c, h) {.name = n, .def = d, .help = h, .type = MW_SETTING_ENUM, .choices = c}

static const char *const log_levels[] = {"debug", "info", "warn|warning", "error", "off", NULL};
static const char *const sync_modes[] = {"full", "normal", NULL};
static const char *const roles[] = {"viewer", "editor", "admin", NULL};

static const struct mw_setting defaults[] = {
	STR("host", "127.0.0.1", "address to listen on"),
	INT("port", "5000", 0, 65535, "TCP port to listen on"),
	STR("data-dir", "./mw-data", "data directory (mw.db, blobs, logs)"),
	SECRET("store-uri", "",
	       "metadata store URI: sqlite:///relative/path.db or sqlite:////absolute/path.db "
	       "(empty: SQLite in the data directory; postgresql://... is not built yet)"),
	ENUM("log-level", "info", log_levels, "debug, info, warn, error or off"),
	INT("threads", "0", 0, 1024, "HTTP worker threads (0 = 4 per core, at least 4)"),
	SIZE("max-body", "33554432", 1024, 1ll << 40, "largest request body in bytes (413 above)"),
	INT("max-json-depth", "64", 2, 1000, "deepest JSON nesting accepted in a request"),
	INT("max-json-values", "2000000", 1000, 1000000000,
	    "most values (numbers, strings, lists, objects) in a JSON request body"),
	SIZE("max-response-bytes", "33554432", 4096, 1ll << 40,
	     "largest JSON answer in bytes: a search or listing ends its page early (next_page_token), "
	     "a larger single entity is an error"),
	INT("max-connections", "4096", 16, 1000000, "open client connections at most"),
	SIZE("max-response-memory", "1073741824", 1 << 20, 1ll << 40,
	     "answer bodies held in memory for clients still reading them, in all (503 above)"),
	SIZE("max-header-bytes", "65536", 8192, 1 << 20,
	     "room for a request's line and headers (a long GET query string needs it)"),
	INT("max-connections-per-client", "256", 1, 1000000,
	    "open connections from one client address at most (more are dropped at once)"),
	DUR("header-timeout", "30", "s", 1, 86400,
	    "seconds a request's headers may take, from the connection opening or the previous "
	    "response (also the idle keep-alive time)"),
	DUR("body-timeout", "30", "s", 1, 86400,
	    "seconds a request body may take, plus one per body-min-rate bytes received"),
	SIZE("body-min-rate", "1024", 1, 1ll << 40,
	     "bytes per second a request body must keep up to (see body-timeout)"),
	DUR("idle-timeout", "300", "s", 1, 86400,
	    "seconds a connection may stay silent while a response is sent"),
	ENUM("sync", "full", sync_modes,
	     "full: fsync every commit; normal: survive process kill only"),
	STR("artifact-root", "mlflow-artifacts:/", "default artifact root for new experiments"),
	INT("read-conns", "0", 0, 1024, "SQLite read connections (0 = threads + 2)"),
	BOOL("truncate-long-values", "true",
	     "truncate over-long param and tag values like MLflow (false: reject with 400)"),
	DUR("shutdown-timeout", "10", "s", 0, 3600,
	    "seconds to drain in-flight requests on SIGTERM"),
	INT("batch-size", "64", 1, 65536, "inference: most rows per batch (1 = no batching)"),
	DUR("batch-delay-us", "0", "us", 0, 10000000,
	    "inference: longest wait for more rows before a batch runs, us (0: at once; batches "
	    "still form from requests queued while one computes)"),
	INT("max-queue", "1024", 1, 1000000,
	    "inference: queued requests per model version before 503"),
	DUR("infer-timeout-ms", "30000", "ms", 0, 3600000,
	    "inference: per request, queue plus compute"),
	SIZE("cache-bytes", "0", 0, 1ll << 40,
	     "inference: response cache size per model version (0 = off)"),
	DUR("cache-ttl-ms", "60000", "ms", 0, 1ll << 40,
	    "inference: how long a cached response stays valid"),
	STR("python", "/usr/bin/python3", "interpreter of the python model runtime"),
	INT("python-workers", "2", 1, 256, "worker processes per python-served model version"),
	SIZE("python-worker-memory", "4294967296", 0, 1ll << 44,
	     "address space of each python worker in bytes (RLIMIT_AS; an allocation past it "
	     "fails the request and the worker is replaced; 0 = no limit)"),
	DUR("python-worker-cpu-seconds", "300", "s", 0, 86400,
	    "CPU seconds a python worker may use per request and for loading its model "
	    "(RLIMIT_CPU, all threads together; past it the worker is killed; 0 = no limit)"),
	INT("python-worker-max-files", "1024", 0, 1048576,
	    "open files per python worker (RLIMIT_NOFILE; 0 = the server's limit)"),
	INT("python-worker-max-procs", "1024", 0, 4194304,
	    "processes and threads of the python workers' user, all workers together "
	    "(RLIMIT_NPROC; applied when the server runs as root and switches user; 0 = no limit)"),
	STR("python-worker-user", "nobody",
	    "user the python workers run as when the server runs as root (must exist; empty: "
	    "stay root, unsafe)"),
	STR("default-alias", "champion", "the alias a model name serves when no version is named"),
	DUR("alias-poll-ms", "1000", "ms", 0, 3600000,
	    "how often served aliases are checked for moves (0 = never)"),
	BOOL("prediction-log", "true", "log every prediction to <data-dir>/logs (true/false)"),
	BOOL("allow-local-sources", "false",
	     "let model-versions/create read a local directory on the server (trusted clients only)"),
	BOOL("check-models", "true",
	     "refuse a model version whose MLmodel could never serve (empty, not YAML, no flavor mw serves, a missing file)"),
	INT("prediction-log-queue", "10000", 1, 10000000,
	    "records waiting for the prediction log before drops"),
	INT("max-loaded-versions", "64", 0, 100000,
	    "inference: most model versions loaded at once; past it the least recently used "
	    "one is unloaded (0 = no cap)"),
	INT("max-python-workers", "32", 0, 65536,
	    "inference: most python worker processes across loaded model versions; past it the "
	    "least recently used python version is unloaded (0 = no cap)"),
	DUR("model-idle-unload", "0", "s", 0, 31536000,
	    "inference: unload a model version nobody asked for in this many seconds (0 = never)"),
	SIZE("max-queue-bytes", "268435456", 0, 1ll << 40,
	     "inference: input bytes (rows x features x 4) queued across all models before 503 "
	     "(0 = no cap)"),
	BOOL("auth", "false",
	     "require authentication (Bearer token or Basic user:password) on every route but "
	     "the open ones (true/false)"),
	SECRET("admin-password", "",
	       "with --auth: create user 'admin' (an admin) with this password at start when no "
	       "user exists (8 to 1024 bytes)"),
	ENUM("auth-default-role", "viewer", roles,
	     "with --auth: the role of users created without one (viewer: READ on every "
	     "experiment and model without a permission of its own, like MLflow's "
	     "default_permission; editor: EDIT; admin: everything)"),
	BOOL("auth-open-health", "true",
	     "with --auth: /health, /version, /metrics, /ping and the V2 health routes answer "
	     "without credentials (false: they need a user too)"),
	STR("tls-cert", "",
	    "TLS: certificate chain (PEM file) to serve HTTPS with; needs --tls-key (empty: plain "
	    "HTTP)"),
	SECRET("tls-key", "",
	       "TLS: private key (PEM file) of --tls-cert; its path is not shown in the config "
	       "view (empty: plain HTTP)"),
	STR("proxy-upstreams", "",
	    "URL prefixes (comma-separated, scheme://host[:port][/path]) that proxy models may "
	    "send requests to (empty: the proxy runtime refuses every upstream)"),
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
	char *copy = mw_xstrdup(v); /* v may be the value being replaced */
	free(s->owned[i]);
	s->owned[i] = copy;
	s->row[i].value = copy;
	s->row[i].source = source;
}

static void env_name(const char *name, char out[64])
{
	size_t k = 3;
	memcpy(out, "MW_", 3);
	for (const char *p = name; *p && k < 63; p++)
		out[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	out[k] = 0;
}

void mw_settings_load_env(struct mw_settings *s)
{
	for (size_t i = 0; i < NSET; i++) {
		char env[64];
		env_name(s->row[i].name, env);
		const char *v = getenv(env);
		if (v && *v)
			set_value(s, i, v, "env");
	}
}

int mw_settings_set(struct mw_settings *s, const char *name, const char *value,
		    const char *source, struct mw_err *err)
{
	size_t i;
	if (!find(s, name, &i))
		return mw_err_set(err, MW_E_INVALID, "unknown setting '%s'", name);
	set_value(s, i, value, source);
	return 0;
}

int mw_settings_apply_flag(struct mw_settings *s, const char *name, const char *value,
			   struct mw_err *err)
{
	return mw_settings_set(s, name, value, "flag", err);
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

/* ------------------------------------------------------------ parsing */

/* "123" + suffix: the number and where the suffix starts. */
static int split_number(const char *v, long long *n, const char **suffix)
{
	const char *p = v;
	if (*p == '-' || *p == '+')
		p++;
	while (isdigit((unsigned char)*p))
		p++;
	if (p == v || (p == v + 1 && !isdigit((unsigned char)*v)))
		return -1;
	char num[32];
	size_t len = (size_t)(p - v);
	if (len >= sizeof num)
		return -1;
	memcpy(num, v, len);
	num[len] = 0;
	int64_t x;
	if (mw_parse_int64(num, &x))
		return -1;
	*n = x;
	*suffix = p;
	return 0;
}

static int mul_checked(long long a, long long m, long long *out)
{
	if (a && (a > INT64_MAX / m || a < INT64_MIN / m))
		return -1;
	*out = a * m;
	return 0;
}

static int parse_size(const char *v, long long *out)
{
	static const struct {
		const char *suffix;
		int shift;
	} units[] = {{"", 0},     {"B", 0},     {"k", 10},   {"K", 10},   {"KB", 10}, {"KiB", 10},
		     {"M", 20},   {"MB", 20},   {"MiB", 20}, {"G", 30},   {"GB", 30}, {"GiB", 30},
		     {"T", 40},   {"TB", 40},   {"TiB", 40}};
	long long n;
	const char *suf;
	if (split_number(v, &n, &suf))
		return -1;
	for (size_t i = 0; i < sizeof units / sizeof *units; i++)
		if (!strcmp(suf, units[i].suffix))
			return mul_checked(n, 1ll << units[i].shift, out);
	return -1;
}

static long long unit_us(const char *u)
{
	static const struct {
		const char *name;
		long long us;
	} units[] = {{"us", 1}, {"ms", 1000}, {"s", 1000000}, {"m", 60000000},
		     {"h", 3600000000ll}};
	for (size_t i = 0; i < sizeof units / sizeof *units; i++)
		if (!strcmp(u, units[i].name))
			return units[i].us;
	return 0;
}

/* A duration in the row's unit: a bare number is already in it. */
static int parse_duration(const char *v, const char *unit, long long *out)
{
	long long n;
	const char *suf;
	if (split_number(v, &n, &suf))
		return -1;
	if (!*suf) {
		*out = n;
		return 0;
	}
	long long from = unit_us(suf), to = unit_us(unit);
	long long us;
	if (!from || !to || mul_checked(n, from, &us) || us % to)
		return -1;
	*out = us / to;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "1", "yes", "on"};
	static const char *const no[] = {"false", "0", "no", "off"};
	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* The canonical name of v among choices ("warn|warning": warning reads as
 * warn), written to out; -1 when v is none of them. */
static int parse_enum(const char *v, const char *const *choices, char *out, size_t n)
{
	for (const char *const *c = choices; c && *c; c++) {
		const char *p = *c;
		const char *bar = strchr(p, '|');
		size_t first = bar ? (size_t)(bar - p) : strlen(p);
		while (*p) {
			const char *e = strchr(p, '|');
			size_t len = e ? (size_t)(e - p) : strlen(p);
			if (strlen(v) == len && !strncasecmp(v, p, len)) {
				snprintf(out, n, "%.*s", (int)first, *c);
				return 0;
			}
			p += len + (e ? 1 : 0);
		}
	}
	return -1;
}

/* A number of a numeric row, in its unit. */
static int parse_number(const struct mw_setting *r, const char *v, long long *out)
{
	int64_t x;
	switch (r->type) {
	case MW_SETTING_SIZE: return parse_size(v, out);
	case MW_SETTING_DURATION: return parse_duration(v, r->unit ? r->unit : "ms", out);
	default:
		if (mw_parse_int64(v, &x))
			return -1;
		*out = x;
		return 0;
	}
}

/* What a row accepts, for messages: "an integer in [0, 65535]". */
static void accepted(const struct mw_setting *r, char *out, size_t n)
{
	switch (r->type) {
	case MW_SETTING_INT:
		snprintf(out, n, "an integer in [%lld, %lld]", r->min, r->max);
		break;
	case MW_SETTING_SIZE:
		snprintf(out, n, "a size in bytes in [%lld, %lld] (suffixes k, M, G, T: powers of 1024)",
			 r->min, r->max);
		break;
	case MW_SETTING_DURATION:
		snprintf(out, n, "a duration in [%lld, %lld] %s (a bare number is in %s; or give a "
				 "unit: us, ms, s, m, h)",
			 r->min, r->max, r->unit, r->unit);
		break;
	case MW_SETTING_BOOL: snprintf(out, n, "true or false"); break;
	case MW_SETTING_ENUM: {
		size_t k = 0;
		out[0] = 0;
		for (const char *const *c = r->choices; c && *c && k + 1 < n; c++) {
			const char *bar = strchr(*c, '|');
			int len = bar ? (int)(bar - *c) : (int)strlen(*c);
			int w = snprintf(out + k, n - k, "%s%.*s", k ? ", " : "one of ", len, *c);
			if (w < 0 || (size_t)w >= n - k)
				break;
			k += (size_t)w;
		}
		break;
	}
	default: snprintf(out, n, "text"); break;
	}
}

/* Where a row's value came from, for messages: "--port" or "MW_PORT". */
static void origin(const struct mw_setting *r, char *out, size_t n)
{
	char env[64];
	env_name(r->name, env);
	if (!strcmp(r->source, "env"))
		snprintf(out, n, "%s", env);
	else if (!strcmp(r->source, "flag"))
		snprintf(out, n, "--%s", r->name);
	else
		snprintf(out, n, "%s value", r->source);
}

static int invalid(const struct mw_setting *r, struct mw_err *err)
{
	char what[256], from[96];
	accepted(r, what, sizeof what);
	origin(r, from, sizeof from);
	if (r->secret)
		return mw_err_set(err, MW_E_INVALID, "setting '%s' (%s): the value is not %s", r->name,
				  from, what);
	return mw_err_set(err, MW_E_INVALID, "setting '%s' (%s): '%.200s' is not %s", r->name, from,
			  r->value, what);
}

/* Check row i and rewrite its value in canonical form. */
static int validate_row(struct mw_settings *s, size_t i, struct mw_err *err)
{
	struct mw_setting *r = &s->row[i];
	char canon[64];
	long long n;
	bool b;
	switch (r->type) {
	case MW_SETTING_STRING: return 0;
	case MW_SETTING_BOOL:
		if (parse_bool(r->value, &b))
			return invalid(r, err);
		snprintf(canon, sizeof canon, "%s", b ? "true" : "false");
		break;
	case MW_SETTING_ENUM:
		if (parse_enum(r->value, r->choices, canon, sizeof canon))
			return invalid(r, err);
		break;
	default:
		if (parse_number(r, r->value, &n) || n < r->min || n > r->max)
			return invalid(r, err);
		snprintf(canon, sizeof canon, "%lld", n);
		break;
	}
	if (strcmp(canon, r->value))
		set_value(s, i, canon, r->source);
	return 0;
}

int mw_settings_validate(struct mw_settings *s, struct mw_err *err)
{
	for (size_t i = 0; i < NSET; i++) {
		int rc = validate_row(s, i, err);
		if (rc)
			return rc;
	}
	return 0;
}

int mw_settings_get_int(const struct mw_settings *s, const char *name, long long min,
			long long max, long long *out, struct mw_err *err)
{
	const struct mw_setting *r = find(s, name, NULL);
	long long x;
	bool numeric = r && r->type != MW_SETTING_BOOL && r->type != MW_SETTING_ENUM;
	if (!numeric || parse_number(r, r->value, &x) || x < min || x > max) {
		if (r && r->secret)
			return mw_err_set(err, MW_E_INVALID,
					  "setting '%s': the value is not a number in [%lld, %lld]",
					  name, min, max);
		return mw_err_set(err, MW_E_INVALID, "setting '%s': '%s' is not a number in [%lld, %lld]",
				  name, r ? r->value : "", min, max);
	}
	*out = x;
	return 0;
}

static const struct mw_setting *typed(const struct mw_settings *s, const char *name, bool want_bool)
{
	const struct mw_setting *r = find(s, name, NULL);
	bool ok = r && (want_bool ? r->type == MW_SETTING_BOOL
				  : r->type == MW_SETTING_INT || r->type == MW_SETTING_SIZE ||
					    r->type == MW_SETTING_DURATION);
	if (!ok) {
		mw_error("settings: '%s' is not a %s setting (a bug)", name, want_bool ? "bool" : "numeric");
		abort();
	}
	return r;
}

long long mw_settings_int(const struct mw_settings *s, const char *name)
{
	const struct mw_setting *r = typed(s, name, false);
	long long x = 0;
	if (parse_number(r, r->value, &x))
		x = 0; /* only before mw_settings_validate */
	return x;
}

bool mw_settings_bool(const struct mw_settings *s, const char *name)
{
	const struct mw_setting *r = typed(s, name, true);
	bool b = false;
	if (parse_bool(r->value, &b))
		b = false; /* only before mw_settings_validate */
	return b;
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

const char *mw_setting_show(const struct mw_setting *row, const char *v)
{
	if (!row->secret)
		return v ? v : "";
	return v && *v ? "(set)" : "(unset)";
}

const char *mw_setting_type_name(enum mw_setting_type t)
{
	switch (t) {
	case MW_SETTING_INT: return "int";
	case MW_SETTING_BOOL: return "bool";
	case MW_SETTING_ENUM: return "enum";
	case MW_SETTING_SIZE: return "size";
	case MW_SETTING_DURATION: return "duration";
	default: return "string";
	}
}
