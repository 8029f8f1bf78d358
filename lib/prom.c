/* prom.c: see prom.h. */
#include "config.h"

#include "lib/prom.h"

#include <math.h>
#include <string.h>

int gw_prom_family(struct gw_buf *b, const char *name, const char *type, const char *help)
{
	return gw_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int escape(struct gw_buf *b, const char *v)
{
	int rv = 0;
	for (const char *p = v; *p && rv == 0; p++) {
		switch (*p) {
		case '\\':
			rv = gw_buf_append(b, "\\\\", 2);
			break;
		case '"':
			rv = gw_buf_append(b, "\\\"", 2);
			break;
		case '\n':
			rv = gw_buf_append(b, "\\n", 2);
			break;
		default:
			rv = gw_buf_append(b, p, 1);
		}
	}
	return rv;
}

int gw_prom_sample(struct gw_buf *b, const char *name, const char *const *labels, double value)
{
	int rv = gw_buf_appends(b, name);
	if (rv == 0 && labels != NULL && labels[0] != NULL) {
		rv = gw_buf_append(b, "{", 1);
		for (int i = 0; rv == 0 && labels[i] != NULL && labels[i + 1] != NULL; i += 2) {
			rv = gw_buf_printf(b, "%s%s=\"", i ? "," : "", labels[i]);
			if (rv == 0) {
				rv = escape(b, labels[i + 1]);
			}
			if (rv == 0) {
				rv = gw_buf_append(b, "\"", 1);
			}
		}
		if (rv == 0) {
			rv = gw_buf_append(b, "}", 1);
		}
	}
	if (rv != 0) {
		return rv;
	}
	if (isinf(value)) {
		return gw_buf_appends(b, value > 0 ? " +Inf\n" : " -Inf\n");
	}
	if (value == floor(value) && fabs(value) < 9.007199254740992e15) {
		return gw_buf_printf(b, " %.0f\n", value);
	}
	return gw_buf_printf(b, " %.9g\n", value);
}
