/*
 * main.c - the one dispatch table of mw's subcommands.
 *
 * Adding a command: src/cmd/<name>.c with cmd_<name>(), a row here, a page
 * in docs/cli/<name>.md and a test (tests/api/test_cli.py walks this table
 * through `mw help`).
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <string.h>

static const struct mw_cmd commands[] = {
	{"server", cmd_server, "run the tracking server (MLflow REST API) on a data directory"},
	{"experiments", cmd_experiments, "list, create, delete and restore experiments"},
	{"runs", cmd_runs, "list, show and search runs"},
	{"models", cmd_models, "the model registry: versions, aliases, promotion, lineage, cards"},
	{"artifacts", cmd_artifacts, "upload, download and list artifacts (SHA-256 verified)"},
	{"serve", cmd_serve, "serve one model (V2 and /invocations) with batching and hot swap"},
	{"predict", cmd_predict, "predict the rows of a file with a model, without a server"},
	{"predictions", cmd_predictions, "read or follow the prediction log as JSON lines"},
	{"fsck", cmd_fsck, "re-hash every blob and check every artifact against its blob"},
	{"gc", cmd_gc, "remove blobs nothing references any more, after a grace period"},
	{"auth", cmd_auth, "authentication: the first admin, API tokens (create, list, revoke)"},
	{"audit", cmd_audit, "the audit log: who changed what, when (list, export, verify)"},
	{"version", cmd_version, "print the version"},
	{"help", cmd_help, "show help for mw or for one command"},
};

const struct mw_cmd *mw_cmd_table(size_t *n)
{
	*n = sizeof commands / sizeof *commands;
	return commands;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return cmd_help(1, argv) == 0 ? 2 : 2;
	const char *name = argv[1];
	if (!strcmp(name, "-h") || !strcmp(name, "--help"))
		return cmd_help(1, argv);
	if (!strcmp(name, "--version") || !strcmp(name, "-V"))
		return cmd_version(1, argv);
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (!strcmp(commands[i].name, name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "mw: '%s' is not a command. See 'mw help'.\n", name);
	return 2;
}
