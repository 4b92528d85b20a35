/* version.c - `mw version`: print the version of mw and its libraries. */
#include "cmd/cmd.h"

#include <microhttpd.h>
#include <sqlite3.h>
#include <stdio.h>

int cmd_version(int argc, char **argv)
{
	struct cmd_opt opts[] = {{"verbose", NULL, "also print library versions", NULL, false}};
	const char *pos[1];
	size_t npos;
	int rc = cmd_parse(argc, argv, opts, 1, pos, 0, &npos, "mw version [--verbose]",
			   "Print the version of mw.");
	if (rc)
		return rc < 0 ? 2 : 0;
	printf("mw %s\n", MW_VERSION);
	if (cmd_flag(opts, 1, "verbose"))
		printf("sqlite %s\nlibmicrohttpd %s\njansson %s\n", sqlite3_libversion(),
		       MHD_get_version(), JANSSON_VERSION);
	return 0;
}
