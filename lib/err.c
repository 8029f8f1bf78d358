/* err.c: the strings of the gw error codes (see err.h). */
#include "config.h"

#include "lib/err.h"

#include <string.h>

static const char *const messages[] = {
#define GW__MSG(name, msg) msg,
    GW_ERRORS(GW__MSG)
#undef GW__MSG
};

static const char *const names[] = {
#define GW__NAME(name, msg) #name,
    GW_ERRORS(GW__NAME)
#undef GW__NAME
};

static int idx_of(int rv)
{
	int idx = -1001 - rv;
	if (idx < 0 || idx >= (int)GW__ERR_COUNT) {
		return -1;
	}
	return idx;
}

const char *gw_strerror(int rv)
{
	int idx;
	if (rv == 0) {
		return "success";
	}
	idx = idx_of(rv);
	if (idx >= 0) {
		return messages[idx];
	}
	if (rv < 0 && rv > -4096) {
		return strerrordesc_np(-rv) ? strerrordesc_np(-rv) : "unknown error";
	}
	return "unknown error";
}

const char *gw_errname(int rv)
{
	int idx = idx_of(rv);
	if (rv == 0) {
		return "GW_OK";
	}
	return idx >= 0 ? names[idx] : "GW_E?";
}
