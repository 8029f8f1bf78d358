/* log.c: see log.h. */
#include "config.h"

#include "lib/log.h"
#include "lib/err.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = GW_LOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void gw_log_set_level(enum gw_log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum gw_log_level gw_log_get_level(void)
{
	return (enum gw_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int gw_log_parse_level(const char *s, enum gw_log_level *out)
{
	static const char *const names[] = {"debug", "info", "warn", "error", "none"};
	for (int i = 0; i <= GW_LOG_NONE; i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*out = (enum gw_log_level)i;
			return 0;
		}
	}
	return GW_EINVAL;
}

/* Append @src to @dst (at @n, capacity @cap) with control bytes written as
 * \xNN, so a value from outside (a name, a path, a header) can never end the
 * line or forge another one. Returns the new length. */
static size_t append_escaped(char *dst, size_t n, size_t cap, const char *src)
{
	static const char hex[] = "0123456789abcdef";

	for (; *src != '\0' && n + 4 < cap; src++) {
		unsigned char c = (unsigned char)*src;
		if (c < 0x20 || c == 0x7f) {
			dst[n++] = '\\';
			dst[n++] = 'x';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 15];
		} else {
			dst[n++] = (char)c;
		}
	}
	return n;
}

void gw_log(enum gw_log_level level, const char *component, const char *fmt, ...)
{
	char line[2048], msg[1800];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int rv;
	va_list ap;

	if (level < gw_log_get_level() || level >= GW_LOG_NONE) {
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
	rv = snprintf(line + n, sizeof line - n, ".%03ldZ %s %s: ", ts.tv_nsec / 1000000L,
		      level_names[level], component);
	if (rv > 0) {
		n += (size_t)rv;
	}
	va_start(ap, fmt);
	rv = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (rv > 0) {
		n = append_escaped(line, n, sizeof line, msg);
	}
	if (n > sizeof line - 2) {
		n = sizeof line - 2; /* truncated: keep the newline */
	}
	line[n++] = '\n';
	/* One write per line; a short write to stderr is not worth retrying. */
	if (write(STDERR_FILENO, line, n) < 0) {
		return;
	}
}
