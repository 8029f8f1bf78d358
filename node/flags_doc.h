/* flags_doc.h: `apigw help --man 1|5` and `apigw completion bash`, the man
 * pages apigw(1) and apigw.json(5) and the bash completion, generated from
 * the flag table (node/flags_doc.c). Threads: main() only. */
#ifndef GW_NODE_FLAGS_DOC_H
#define GW_NODE_FLAGS_DOC_H

#include <stdbool.h>

/* True when argv is `apigw completion ...` or `apigw help --man ...`. */
bool gw_node_flags_doc_is_cmd(int argc, char **argv);

/* Print the page or script on stdout. Returns the exit code: 0, 1 on a
 * write error, 2 on a usage error (said on stderr). */
int gw_node_flags_doc_main(int argc, char **argv);

#endif
