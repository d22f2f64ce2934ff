/* The terminal's assignment state machine (assignment.h): the legal moves
 * between active, revoked and reported, which offered attempts a unit
 * takes, and which revocations and decisions reach a holding. */
#include "assignment.h"

#include <string.h>

#include "errors.h"

static const char *const asg_state_names[ASG_NSTATES] = {"active", "revoked", "reported"};

/* legal[from][to], read like the list in assignment.h; everything not
 * listed is illegal. */
static const bool asg_legal[ASG_NSTATES][ASG_NSTATES] = {
    /*                  active revoked reported */
    [ASG_ACTIVE] = {false, true, true},
    [ASG_REVOKED] = {false, false, true},
    [ASG_REPORTED] = {false, false, true},
};

static bool valid(asg_state s)
{
    return (int)s >= 0 && (int)s < ASG_NSTATES;
}

const char *asg_state_str(asg_state s)
{
    return valid(s) ? asg_state_names[s] : "unknown";
}

int asg_state_parse(const char *s, asg_state *out)
{
    for (int i = 0; s && out && i < ASG_NSTATES; i++) {
        if (strcmp(s, asg_state_names[i]) == 0) {
            *out = (asg_state)i;
            return COORD_OK;
        }
    }
    return COORD_E_INVAL;
}

int asg_transition_check(asg_state from, asg_state to)
{
    if (!valid(from) || !valid(to) || !asg_legal[from][to])
        return COORD_E_TRANSITION;
    return COORD_OK;
}

int asg_transition(asg_state *state, asg_state to)
{
    if (!state || asg_transition_check(*state, to) != COORD_OK)
        return COORD_E_TRANSITION;
    *state = to;
    return COORD_OK;
}

asg_admission asg_admit(int64_t held_attempt, asg_state held_state, int64_t attempt, size_t active,
                        size_t capacity)
{
    if (held_attempt > 0 && held_attempt == attempt)
        return ASG_ADMIT_HELD;
    if (held_attempt > attempt)
        return ASG_ADMIT_STALE;
    /* The newer attempt takes the slot of the one it replaces. */
    if (held_attempt > 0 && held_state == ASG_ACTIVE && active > 0)
        active--;
    return active >= capacity ? ASG_ADMIT_FULL : ASG_ADMIT_NEW;
}

int asg_revoke(asg_state *state, int64_t held_attempt, int64_t upto)
{
    if (!state || *state != ASG_ACTIVE)
        return COORD_E_TRANSITION;
    if (upto > 0 && held_attempt > upto)
        return COORD_E_ATTEMPT;
    return asg_transition(state, ASG_REVOKED);
}

int asg_report(asg_state *state, bool had_won, bool won)
{
    if (had_won && !won)
        return COORD_E_DUPLICATE;
    return asg_transition(state, ASG_REPORTED);
}
