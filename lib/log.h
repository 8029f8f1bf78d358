/* log.h: leveled log lines to stderr.
 *
 * One line per call: "2026-11-25T10:55:38.123Z INFO  store: message". A line
 * is formatted into a stack buffer and written with one write(2), so lines of
 * different threads never interleave. Control bytes in the message are
 * written as \xNN, so a logged value can never forge a line. Any thread. Errors are logged once,
 * where they are decided, never again by the callers that pass them up. */
#ifndef GW_LOG_H
#define GW_LOG_H

enum gw_log_level {
	GW_LOG_DEBUG = 0,
	GW_LOG_INFO,
	GW_LOG_WARN,
	GW_LOG_ERROR,
	GW_LOG_NONE,
};

/* Set the lowest level that is printed. Call before starting threads. */
void gw_log_set_level(enum gw_log_level level);
enum gw_log_level gw_log_get_level(void);

/* Parse "debug", "info", "warn", "error" or "none". Returns 0 or GW_EINVAL. */
int gw_log_parse_level(const char *s, enum gw_log_level *out);

/* Print one line if @level is enabled. @component names the module. */
void gw_log(enum gw_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define gw_debugf(comp, ...)                                                                       \
	do {                                                                                       \
		if (gw_log_get_level() <= GW_LOG_DEBUG)                                            \
			gw_log(GW_LOG_DEBUG, comp, __VA_ARGS__);                                   \
	} while (0)
#define gw_infof(comp, ...)  gw_log(GW_LOG_INFO, comp, __VA_ARGS__)
#define gw_warnf(comp, ...)  gw_log(GW_LOG_WARN, comp, __VA_ARGS__)
#define gw_errorf(comp, ...) gw_log(GW_LOG_ERROR, comp, __VA_ARGS__)

#endif
