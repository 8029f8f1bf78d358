/* hash.c: a checksum of the keyspace at a revision, to check that replicas
 * hold the same data (etcd's HashKV / Hash, `etcdctl endpoint hashkv`).
 *
 * The hash is CRC-32C over every key live at the revision, in key order:
 * key, value, create and mod revision, version and lease, each length- or
 * width-prefixed, so two stores hash alike exactly when a range of the
 * whole keyspace at that revision would answer alike. It is not etcd's
 * number (etcd hashes its bbolt history records); only equality between
 * members means something. Failure modes: the range's (compacted, future
 * revision). Threads: the store's (reads a consistent LMDB snapshot). */
#include "config.h"

#include "lib/crc32c.h"
#include "lib/err.h"
#include "store/store.h"

#include <string.h>

static uint32_t add_u64(uint32_t h, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < 8; i++) {
		b[i] = (unsigned char)(v >> (8 * i));
	}
	return gw_crc32c(h, b, sizeof b);
}

int gw_store_hash_kv(struct gw_store *s, int64_t revision, uint32_t *hash, int64_t *at)
{
	struct gw_range_req req;
	struct gw_range_resp resp;
	uint32_t h = 0;
	size_t i;
	int rv;

	memset(&req, 0, sizeof req);
	req.key = "\0";
	req.key_len = 1;
	req.range_end = "\0";
	req.range_end_len = 1;
	req.revision = revision;
	req.sort_order = GW_SORT_ASCEND;
	req.sort_target = GW_SORT_KEY;
	rv = gw_store_range(s, &req, &resp);
	if (rv != 0) {
		return rv;
	}
	for (i = 0; i < resp.n_kvs; i++) {
		const struct gw_kv *kv = &resp.kvs[i];
		h = add_u64(h, kv->key_len);
		h = gw_crc32c(h, kv->key, kv->key_len);
		h = add_u64(h, kv->value_len);
		h = gw_crc32c(h, kv->value, kv->value_len);
		h = add_u64(h, (uint64_t)kv->create_revision);
		h = add_u64(h, (uint64_t)kv->mod_revision);
		h = add_u64(h, (uint64_t)kv->version);
		h = add_u64(h, (uint64_t)kv->lease);
	}
	*hash = h;
	*at = revision > 0 ? revision : resp.revision;
	gw_store_range_resp_free(&resp);
	return 0;
}
