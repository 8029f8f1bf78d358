/* crc32c.c: CRC-32C, reflected polynomial 0x82F63B78, table driven. */
#include "config.h"

#include "lib/crc32c.h"

#include <pthread.h>

static uint32_t table[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void)
{
	uint32_t i, k, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++) {
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		}
		table[i] = c;
	}
}

uint32_t gw_crc32c(uint32_t crc, const void *p, size_t len)
{
	const unsigned char *b = p;

	pthread_once(&once, build);
	crc = ~crc;
	while (len-- > 0) {
		crc = table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	}
	return ~crc;
}
