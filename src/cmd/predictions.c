/*
 * predictions.c - `mw predictions read|tail`: the prediction log as JSON
 * lines.
 *
 * Thin: the reader is serve/'s (mw_predlog_open / mw_predlog_poll, which
 * owns the segment format); this file parses options, prints each record on
 * one line (ts, request_id, model, version, inputs, outputs, latency_ms,
 * queue_ms, ok, error), and for `tail --follow` polls until SIGINT/SIGTERM.
 * Lines of the log that are not records are skipped and counted on stderr.
 * The log is local files: there is no remote mode.
 */
#include "cmd/cmd.h"

#include "serve/serve.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] = "mw predictions read|tail [options]";
static const char about[] =
	"Print the prediction log (<data-dir>/logs/predictions-*.jsonl) as JSON lines,\n"
	"one record a line: ts, request_id, model, version, inputs, outputs, latency_ms,\n"
	"queue_ms, ok, error.\n"
	"\n"
	"  read   every matching record, oldest first\n"
	"  tail   the last --lines matching records; with --follow, then every new one\n"
	"         as it is written, until interrupted";

static volatile sig_atomic_t stop_now;

static void on_signal(int sig)
{
	(void)sig;
	stop_now = 1;
}

static int print_record(void *ctx, json_t *rec)
{
	(void)ctx;
	char *s = json_dumps(rec, JSON_COMPACT | JSON_REAL_PRECISION(9));
	if (!s)
		return 0;
	int rc = puts(s) < 0 ? -MW_E_IO : 0;
	free(s);
	return rc;
}

static int parse_count(const char *v, const char *what, int64_t *out)
{
	if (!v)
		return 0;
	if (mw_parse_int64(v, out) || *out < 0) {
		cmd_error(MW_E_INVALID, "%s must be a whole number >= 0", what);
		return -1;
	}
	return 0;
}

/* Print the matching records (tail: the last `lines`, then with follow
 * every new one until SIGINT/SIGTERM); damaged lines are counted on stderr. */
static int print_log(const char *logs, struct mw_predlog_query *q, bool tail, size_t lines,
		     bool follow, struct mw_err *err)
{
	q->last = tail ? lines : 0;
	struct mw_predlog_cursor *c = NULL;
	int rc = mw_predlog_open(logs, q, &c, err);
	/* tail --lines 0: nothing old, only what comes */
	if (!rc)
		rc = mw_predlog_poll(c, tail && !lines ? NULL : print_record, NULL, err);
	fflush(stdout);
	if (!rc && follow) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		while (!stop_now && !rc) {
			struct timespec ts = {0, 200 * 1000000L};
			nanosleep(&ts, NULL);
			rc = mw_predlog_poll(c, print_record, NULL, err);
			fflush(stdout);
		}
	}
	size_t damaged = c ? mw_predlog_damaged(c) : 0;
	if (damaged)
		fprintf(stderr, "mw: %zu line%s of %s %s not a record and %s skipped\n", damaged,
			damaged == 1 ? "" : "s", logs, damaged == 1 ? "is" : "are",
			damaged == 1 ? "was" : "were");
	mw_predlog_close(c);
	return rc;
}

int cmd_predictions(int argc, char **argv)
{
	struct cmd_opt opts[] = {
		{"data-dir", "DIR", "data directory (default: env MW_DATA_DIR, else ./mw-data)",
		 NULL, false},
		{"model", "NAME", "only records of this model", NULL, false},
		{"version", "V", "only records of this version", NULL, false},
		{"request-id", "ID", "only records of this request id", NULL, false},
		{"since", "MS", "only records at or after this time (ms since the Unix epoch)",
		 NULL, false},
		{"lines", "N", "tail: how many records (default 10)", NULL, false},
		{"follow", NULL, "tail: then print new records as they are written", NULL, false},
	};
	size_t no = sizeof opts / sizeof *opts;
	const char *pos[2];
	size_t npos;
	int prc = cmd_parse(argc, argv, opts, no, pos, 1, &npos, usage, about);
	if (prc)
		return prc < 0 ? 2 : 0;
	bool tail = npos == 1 && !strcmp(pos[0], "tail");
	if (npos != 1 || (!tail && strcmp(pos[0], "read"))) {
		cmd_usage(stderr, opts, no, usage, NULL);
		return 2;
	}
	int64_t since = 0, lines = 10;
	if (parse_count(cmd_opt(opts, no, "since"), "--since", &since) ||
	    parse_count(cmd_opt(opts, no, "lines"), "--lines", &lines))
		return 2;
	bool follow = cmd_flag(opts, no, "follow");
	if (!tail && (follow || cmd_opt(opts, no, "lines"))) {
		cmd_error(MW_E_INVALID, "--lines and --follow are for `mw predictions tail`");
		return 2;
	}
	const char *dir = cmd_opt(opts, no, "data-dir");
	if (!dir)
		dir = getenv("MW_DATA_DIR");
	if (!dir || !*dir)
		dir = "./mw-data";
	char *logs = mw_fs_join(dir, "logs");
	struct mw_predlog_query q = {
		.model = cmd_opt(opts, no, "model"),
		.version = cmd_opt(opts, no, "version"),
		.request_id = cmd_opt(opts, no, "request-id"),
		.since_ms = since,
	};
	struct mw_err err = {0};
	int rc = print_log(logs, &q, tail, (size_t)lines, follow, &err);
	free(logs);
	if (rc == -MW_E_IO && !err.code)
		return 1; /* stdout went away */
	if (rc) {
		cmd_fail(&err);
		return 1;
	}
	return 0;
}
