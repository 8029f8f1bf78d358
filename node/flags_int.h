/* flags_int.h: the flag table, read-only, for the node's own tools.
 *
 * The man pages, the shell completion (node/flags_doc.c) and the SIGHUP
 * reload (node/reload.c) walk the one table of flags.c, so none of them can
 * name a flag the parser does not know or miss one it does. */
#ifndef GW_NODE_FLAGS_INT_H
#define GW_NODE_FLAGS_INT_H

#include "node/flags.h"

#include <stdbool.h>
#include <stddef.h>

/* One row of the table. Strings are static; @meta is NULL for a flag that
 * takes no value, @def NULL or "" when there is no default. */
struct gw_node_flag_info {
	const char *name; /* without the leading "--" */
	const char *meta; /* value placeholder, NULL = takes no value */
	const char *def;  /* default text */
	const char *help; /* one-line description */
	unsigned cmds;    /* bit (1u << enum gw_cmd) per subcommand that accepts it */
	bool required;
	bool repeat; /* may be given more than once on the command line */
	bool array;  /* in the --config file: a string or a list of strings */
};

/* Number of flags in the table. */
size_t gw_node__flag_count(void);

/* Row @i (< gw_node__flag_count()) into @out. */
void gw_node__flag_info(size_t i, struct gw_node_flag_info *out);

/* True when flag @i holds different values in @a and @b. */
bool gw_node__flag_differs(size_t i, const struct gw_node_config *a,
			   const struct gw_node_config *b);

/* The one-line summary of subcommand @cmd (static string). */
const char *gw_node__cmd_summary(enum gw_cmd cmd);

#endif
