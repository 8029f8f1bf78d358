/* crc32c.h: CRC-32C (Castagnoli), the checksum etcd's HashKV uses, in
 * software (a 256-entry table built once). Threads: any (the table is
 * built under pthread_once). */
#ifndef GW_CRC32C_H
#define GW_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend @crc (0 to start) with @len bytes at @p. */
uint32_t gw_crc32c(uint32_t crc, const void *p, size_t len);

#endif
