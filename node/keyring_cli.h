/* keyring_cli.h: `apigw keyring rotate|list|reseal`, the operator's side of
 * the data-encryption keyring (lib/keyring.h, docs/tls.md).
 *
 *   rotate  add a new random key to <data-dir>/keyring and make it current
 *           (older keys stay, so every sealed secret still opens); a
 *           running node reads the file again on SIGHUP.
 *   list    the key ids, oldest first, the current one marked (never a key).
 *   reseal  re-write, through the local Admin API, every ssls object and
 *           consumer (credential) holding a secret sealed by an older key;
 *           the Admin API re-seals it with the current key.
 * Threads: main() only; blocking. */
#ifndef GW_NODE_KEYRING_CLI_H
#define GW_NODE_KEYRING_CLI_H

#include <stdbool.h>

/* True when argv names the keyring subcommand. */
bool gw_node_keyring_is_cmd(int argc, char **argv);

/* Run it: the process exit code (0 done, 1 failure, 2 usage). */
int gw_node_keyring_main(int argc, char **argv);

#endif
