/* sm.h: explicit life-cycle state machines.
 *
 * A module lists its states in an enum and its legal transitions in a table
 * of bit masks (allowed[from] has bit `to` set); struct gw_sm holds the
 * current state and moves only through gw_sm_move, which asserts (always on,
 * NDEBUG or not) that the transition is in the table: an illegal transition
 * is a bug in the module, never a reaction to input. Each move is logged at
 * debug level with the machine's name and the state names, so a node's log
 * tells its life cycle. Not thread-safe: a machine belongs to the thread
 * that owns the object it describes. */
#ifndef GW_SM_H
#define GW_SM_H

#include <stdbool.h>
#include <stdint.h>

#define GW_SM_BIT(state) (UINT32_C(1) << (state))

struct gw_sm_conf {
	const char *name;         /* "raft", "node": for logs and assertion messages */
	const char *const *names; /* state names, indexed by state */
	const uint32_t *allowed;  /* allowed[from]: GW_SM_BIT(to) for each legal to */
	int n_states;             /* at most 32 */
};

struct gw_sm {
	const struct gw_sm_conf *conf; /* static; not owned */
	int state;                     /* current state */
};

/* Start @sm in @initial. */
void gw_sm_init(struct gw_sm *sm, const struct gw_sm_conf *conf, int initial);
/* Move to @to; aborts with a message naming both states when the table has
 * no such transition (a bug). */
void gw_sm_move(struct gw_sm *sm, int to);
static inline int gw_sm_state(const struct gw_sm *sm)
{
	return sm->state;
}
/* True when @sm is in one of the states of @mask (GW_SM_BIT(a) | ...). */
static inline bool gw_sm_in(const struct gw_sm *sm, uint32_t mask)
{
	return (GW_SM_BIT(sm->state) & mask) != 0;
}
const char *gw_sm_name(const struct gw_sm *sm);

/* Always-on assertion for invariants whose violation is a bug (never for
 * input): logs the expression, file and line, then aborts. */
#define GW_ASSERT(expr) ((expr) ? (void)0 : gw_assert_fail(#expr, __FILE__, __LINE__, __func__))
_Noreturn void gw_assert_fail(const char *expr, const char *file, int line, const char *func);

#endif
