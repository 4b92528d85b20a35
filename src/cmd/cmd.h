/*
 * cmd.h - the command-line front end: one file per subcommand, one table in
 * main.c, options described as tables so --help comes for free.
 *
 * Commands are thin: they parse options, build request messages and hand
 * them to a client that either talks to a running server (MW_URI or --uri)
 * or opens the data directory itself and calls the same operations.
 * Only main.c and cmd/ print or exit.
 */
#ifndef MW_CMD_H
#define MW_CMD_H

#include "core/core.h"

struct mw_art;
struct mw_settings;

struct mw_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

const struct mw_cmd *mw_cmd_table(size_t *n);

int cmd_server(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_experiments(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_artifacts(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_predictions(int argc, char **argv);

int cmd_fsck(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_auth(int argc, char **argv);
int cmd_audit(int argc, char **argv);

/* ------------------------------------------------------------ options */

struct cmd_opt {
	const char *name;      /* long name without dashes */
	const char *arg;       /* argument name for help, NULL for a boolean flag */
	const char *help;
	const char *value;     /* parsed value (or "1" for flags) */
	bool set;
};

/* Parse argv[0..argc) (argv[0] is the command or subcommand name).
 * Returns 0 and fills positional arguments, 1 when --help was printed,
 * -1 after printing an error to stderr. */
int cmd_parse(int argc, char **argv, struct cmd_opt *opts, size_t nopts, const char **pos,
	      size_t maxpos, size_t *npos, const char *usage, const char *about);
void cmd_usage(FILE *f, struct cmd_opt *opts, size_t nopts, const char *usage, const char *about);
const char *cmd_opt(struct cmd_opt *opts, size_t nopts, const char *name);
bool cmd_flag(struct cmd_opt *opts, size_t nopts, const char *name);
/* A server's options: one --name per settings row (help from the row, a
 * secret's default shown only as set or unset), then MW_* over the defaults,
 * flags over those, every value validated against its row, and the log level
 * set.  Returns 0, 1 when --help was printed, -1 after printing an error
 * ("mw: setting 'port' (--port): ..."). */
int cmd_settings_parse(struct mw_settings *set, int argc, char **argv, const char *usage,
		       const char *about);
/* The same for a command that offers only some rows as flags (only, in the
 * table's order; NULL: all), has options of its own (extra: parsed in place,
 * after the rows in --help) and positional arguments (pos, at most maxpos). */
struct cmd_settings_spec {
	const char *usage, *about;
	const char *const *only;
	size_t nonly;
	struct cmd_opt *extra;
	size_t nextra;
	const char **pos;
	size_t maxpos;
	size_t *npos;
};
int cmd_settings_parse_ex(struct mw_settings *set, int argc, char **argv,
			  const struct cmd_settings_spec *sp);

/* ------------------------------------------------------------ client */

struct mw_client;
/* uri (or env MW_URI) selects a server; otherwise data_dir (or env
 * MW_DATA_DIR, default ./mw-data) is opened directly. */
int mw_client_open(const char *uri, const char *data_dir, struct mw_client **out,
		   struct mw_err *err);
void mw_client_close(struct mw_client *c);
/* The server URL (no trailing slash), or NULL in local mode. */
const char *mw_client_uri(struct mw_client *c);
/* The artifact store of a local-mode client (NULL when remote). */
struct mw_art *mw_client_art(struct mw_client *c);
/* The metadata store of a local-mode client (NULL when remote). */
struct mw_store *mw_client_store(struct mw_client *c);
/* Who the CLI acts as: MW_USER, else USER, else "cli". */
const char *mw_client_user(void);
/* Credentials for a libcurl handle (a CURL *) from the environment, as
 * MLflow's clients read them: MLFLOW_TRACKING_TOKEN as a Bearer token, else
 * MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD as Basic; none set:
 * nothing.  Every request the CLI sends to a server goes through it. */
/* Credentials (MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and
 * MLFLOW_TRACKING_PASSWORD) and TLS verification (--ca-cert or
 * MLFLOW_TRACKING_SERVER_CERT_PATH: the CA file; MLFLOW_TRACKING_INSECURE_TLS
 * =true: no verification, as MLflow's clients) on a curl handle. */
void cmd_curl_auth(void *curl);
/* Call an MLflow endpoint ("runs/search") with a request message. */
int mw_client_call(struct mw_client *c, const char *path, json_t *req, json_t **resp,
		   struct mw_err *err);
/* An MLflow endpoint with an explicit method (a path with several methods,
 * such as registered-models/alias: GET reads, POST sets, DELETE deletes). */
int mw_client_request(struct mw_client *c, const char *method, const char *path, json_t *req,
		      json_t **resp, struct mw_err *err);
/* The model version a reference names, as the registry reports it
 * (*mv: a new reference to the model_version object): ref "@alias", a version
 * number, a stage name (any case) or "latest" (the highest version).
 * MW_E_NOT_FOUND when the model, alias, version or stage has none. */
int mw_cli_model_version(struct mw_client *c, const char *name, const char *ref, json_t **mv,
			 struct mw_err *err);
/* Call a route by method and full path ("/api/mw/models/fraud/history",
 * "/api/2.0/mlflow/registered-models/alias"; segments already escaped with
 * mw_client_escape): over HTTP when remote, else local(registry, req) in
 * process, with req as the message (the path's parts must be in it too). */
struct mw_registry;
typedef int (*mw_client_local_fn)(struct mw_registry *r, const struct mw_call *call, json_t *req,
				  json_t **resp, struct mw_err *err);
int mw_client_native(struct mw_client *c, const char *method, const char *path,
		     mw_client_local_fn local, json_t *req, json_t **resp, struct mw_err *err);
/* Percent-encode one path segment (malloc'd). */
char *mw_client_escape(const char *s);
/* Call a search endpoint page after page (req is the first page's message;
 * max_results and page_token are set here) until limit entities of field
 * are in *all (a new array) or no page follows. */
int mw_client_collect(struct mw_client *c, const char *path, json_t *req, const char *field,
		      int64_t limit, json_t **all, struct mw_err *err);

/* ------------------------------------------------------------ option values */

/* --view active|deleted|all into MLflow's ViewType ("ACTIVE_ONLY" for NULL);
 * NULL for anything else. */
const char *cmd_view_type(const char *view);
/* --max N: a positive number into *limit (def when absent); -1 after printing
 * what is wrong. */
int cmd_max(const char *max, int64_t def, int64_t *limit);
/* "a, b,c" into a JSON array of its non-empty, space-trimmed items. */
json_t *cmd_split_list(const char *s);

/* The model source of a replica (cmd/remote_source.c): models:/ references
 * resolved by the server cl talks to, files downloaded (verified) into
 * root/<name>/<version>-<digest>.  cl is borrowed and must outlive it; free it
 * with its ops->free. */
struct mw_model_source;
struct mw_model_source *cmd_remote_source(struct mw_client *cl, const char *root);

/* Upload a local file or directory to an artifact URI or path (runs:/<run>/<p>,
 * mlflow-artifacts:/<p>, a path), streamed and hashed, with progress on a
 * terminal; report gets one {path, size, digest, ...} per file. */
int mw_cli_upload(struct mw_client *cl, const char *local, const char *dest, json_t *report,
		  struct mw_err *err);
/* Download an artifact URI or path (a file or a whole directory) into
 * local_dir, SHA-256 verified (cmd/artifacts.c). */
int mw_cli_download(struct mw_client *cl, const char *src, const char *local_dir,
		    struct mw_err *err);

/* ------------------------------------------------------------ output */

/* Print rows as an aligned table; cells are borrowed strings. */
void cmd_table(FILE *f, const char *const *header, size_t ncols, const char *const *cells,
	       size_t nrows);
void cmd_print_json(FILE *f, json_t *v);
/* A listing (takes all): {"<key>": all} as JSON with --json, else print(all),
 * a table.  Returns 0, the exit status. */
int cmd_print_list(const char *key, json_t *all, bool as_json, void (*print)(json_t *all));
/* Errors.  When the command line holds --json (cmd_parse notices), an error
 * is also printed on stdout as a JSON object in the API's shape,
 * {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "..."}, for scripts
 * that parse the output; the message always goes to stderr as "mw: ...".
 * cmd_fail prints err and returns 1 (the exit status of a failed command). */
void cmd_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cmd_fail(const struct mw_err *err);
/* Shared options of commands that use a client. */
/* The longest URL the CLI sends (a GET's query string holds the request). */
#define MW_CLI_URL_MAX ((size_t)1 << 20)
/* Display text the CLI builds (a table cell, a list of aliases): cut there. */
#define MW_CLI_TEXT_MAX ((size_t)1 << 20)

#define CMD_CLIENT_OPTS                                                                          \
	{"uri", "URL", "server to talk to (default: env MW_URI; unset = open --data-dir)", NULL, \
	 false},                                                                                 \
		{"data-dir", "DIR", "data directory when no server is used (default ./mw-data)", \
		 NULL, false},                                                                   \
		{"ca-cert", "FILE",                                                              \
		 "CA certificate (PEM) that signed an https:// server's (default: env "          \
		 "MLFLOW_TRACKING_SERVER_CERT_PATH)",                                            \
		 NULL, false},                                                                   \
	{                                                                                        \
		"json", NULL, "print JSON instead of a table", NULL, false                       \
	}

#endif
