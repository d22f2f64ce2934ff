/* The crew's status state machine (unitstatus.h): names and the legal
 * moves between a unit's steps on one attempt. */
#include "unitstatus.h"

#include <string.h>

#include "errors.h"

const char *const unit_step_names[UST_NSTEPS + 1] = {
    "dispatched",   "acknowledged", "en_route", "on_scene",
    "transporting", "at_hospital",  "cleared",  NULL,
};

/* legal[from][to], read like the list in unitstatus.h. */
static const bool unit_step_legal[UST_NSTEPS][UST_NSTEPS] = {
    /*                  disp   ack    enr    ons    trans  hosp   clear */
    [UST_DISPATCHED] = {false, true, true, true, false, false, true},
    [UST_ACKNOWLEDGED] = {false, false, true, true, false, false, true},
    [UST_EN_ROUTE] = {false, false, false, true, false, false, true},
    [UST_ON_SCENE] = {false, false, false, false, true, false, true},
    [UST_TRANSPORTING] = {false, false, false, false, false, true, true},
    [UST_AT_HOSPITAL] = {false, false, false, false, false, false, true},
    [UST_CLEARED] = {false, false, false, false, false, false, false},
};

static bool valid(unit_step s)
{
    return (int)s >= 0 && (int)s < UST_NSTEPS;
}

const char *unit_step_str(unit_step s)
{
    return valid(s) ? unit_step_names[s] : "unknown";
}

int unit_step_parse(const char *s, unit_step *out)
{
    for (int i = 0; s && out && i < UST_NSTEPS; i++) {
        if (strcmp(s, unit_step_names[i]) == 0) {
            *out = (unit_step)i;
            return COORD_OK;
        }
    }
    return COORD_E_INVAL;
}

int unit_step_check(unit_step from, unit_step to)
{
    if (!valid(from) || !valid(to) || !unit_step_legal[from][to])
        return COORD_E_TRANSITION;
    return COORD_OK;
}

int unit_step_move(unit_step *step, unit_step to)
{
    if (!step || unit_step_check(*step, to) != COORD_OK)
        return COORD_E_TRANSITION;
    *step = to;
    return COORD_OK;
}

bool unit_step_frees(unit_step s)
{
    return s == UST_CLEARED;
}
