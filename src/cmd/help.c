/* help.c - `mw help [COMMAND]`: the command list, or one command's help. */
#include "cmd/cmd.h"

#include <stdio.h>
#include <string.h>

int cmd_help(int argc, char **argv)
{
	size_t n;
	const struct mw_cmd *t = mw_cmd_table(&n);
	if (argc >= 2 && strcmp(argv[1], "-h") && strcmp(argv[1], "--help")) {
		for (size_t i = 0; i < n; i++)
			if (!strcmp(t[i].name, argv[1])) {
				char *av[] = {argv[1], "--help", NULL};
				return t[i].fn(2, av);
			}
		cmd_error(MW_E_INVALID, "no help for '%s': not a command", argv[1]);
		return 2;
	}
	printf("mw %s - Millwright, the model factory in one binary\n\n"
	       "usage: mw <command> [options]\n\ncommands:\n",
	       MW_VERSION);
	for (size_t i = 0; i < n; i++)
		printf("  %-12s %s\n", t[i].name, t[i].summary);
	printf("\nRun 'mw <command> --help' for a command's options.\n"
	       "Environment: MW_URI selects a server for the CLI; MW_<SETTING> sets any server "
	       "setting.\n");
	return 0;
}
