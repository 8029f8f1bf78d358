/* h2out.c: gathering an nghttp2 session's frames (see h2out.h).
 * Happy path: mem_send until it has nothing or the room is used. Failure
 * modes: nghttp2's error (the session is broken: the caller closes) or no
 * memory for the buffer. */
#include "config.h"

#include "lib/h2out.h"

#include "lib/err.h"
#include "lib/log.h"

int gw_h2out_take(nghttp2_session *ng, struct gw_buf *out, size_t room, const char *who)
{
	while (out->len < room) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(ng, &data);
		if (n < 0) {
			gw_debugf(who, "http/2 send: %s", nghttp2_strerror((int)n));
			return GW_EPROTO;
		}
		if (n == 0) {
			return 0;
		}
		if (gw_buf_append(out, data, (size_t)n) != 0) {
			return GW_ENOMEM;
		}
	}
	return 0;
}
