/* sm.c: explicit life-cycle state machines (see sm.h). A move outside the
 * table aborts: the module has a bug, and carrying on would act on a state
 * nobody designed for. */
#include "lib/sm.h"

#include "lib/log.h"

#include <stdio.h>
#include <stdlib.h>

static const char *state_name(const struct gw_sm_conf *conf, int s)
{
	return s >= 0 && s < conf->n_states ? conf->names[s] : "?";
}

_Noreturn void gw_assert_fail(const char *expr, const char *file, int line, const char *func)
{
	gw_errorf("assert", "%s:%d %s: assertion failed: %s", file, line, func, expr);
	abort();
}

void gw_sm_init(struct gw_sm *sm, const struct gw_sm_conf *conf, int initial)
{
	GW_ASSERT(conf->n_states > 0 && conf->n_states <= 32);
	GW_ASSERT(initial >= 0 && initial < conf->n_states);
	sm->conf = conf;
	sm->state = initial;
}

void gw_sm_move(struct gw_sm *sm, int to)
{
	const struct gw_sm_conf *conf = sm->conf;
	int from = sm->state;

	if (to < 0 || to >= conf->n_states || (conf->allowed[from] & GW_SM_BIT(to)) == 0) {
		gw_errorf("assert", "%s: illegal transition %s -> %s", conf->name,
			  state_name(conf, from), state_name(conf, to));
		abort();
	}
	gw_debugf(conf->name, "state %s -> %s", state_name(conf, from), state_name(conf, to));
	sm->state = to;
}

const char *gw_sm_name(const struct gw_sm *sm)
{
	return state_name(sm->conf, sm->state);
}
