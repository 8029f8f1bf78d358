/* prom.h: writing the Prometheus text exposition format (version 0.0.4).
 *
 * A family is announced once with gw_prom_family (HELP and TYPE lines), then
 * any number of samples follow with gw_prom_sample. Label values are escaped
 * here. Output goes to a gw_buf; errors are GW_ENOMEM only. Any thread (the
 * buffer belongs to the caller). */
#ifndef GW_PROM_H
#define GW_PROM_H

#include "lib/buf.h"

/* @type: "counter", "gauge" or "histogram". */
int gw_prom_family(struct gw_buf *b, const char *name, const char *type, const char *help);

/* One sample: name{k1="v1",...} value. @labels is NULL or a NULL-terminated
 * array of alternating keys and values. */
int gw_prom_sample(struct gw_buf *b, const char *name, const char *const *labels, double value);

#endif
