/* The crew's status state machine: where a unit stands on one attempt of
 * a job, from the dispatch to cleared, as its crew reports it at the
 * terminal. Pure: the executor and the broker keep the times and the
 * disk; both ask this file which step may follow which.
 *
 *   dispatched -> acknowledged -> en_route -> on_scene -> cleared
 *                                                 \-> transporting -> at_hospital -> cleared
 *
 * Legal moves (everything else is illegal, so is a step to itself):
 *   - forward on the main line dispatched < acknowledged < en_route <
 *     on_scene, skipping any: crews often press "en route" without
 *     acknowledging, or "on scene" when they were already there;
 *   - on_scene -> transporting -> at_hospital, only in that order (a
 *     transport starts at the scene and ends at a hospital);
 *   - any state but cleared -> cleared: how a unit is released, whether
 *     it finished, was cancelled on the way, or never transported.
 * No backward step: a time once recorded is never taken back, and a unit
 * that went back out is a new dispatch. A repeat of the current step is a
 * retry for the caller to answer, not a move. */
#ifndef COORD_UNITSTATUS_H
#define COORD_UNITSTATUS_H

#include <stdbool.h>

/* DISPATCHED is the zero value on purpose: an attempt starts dispatched. */
typedef enum unit_step {
    UST_DISPATCHED = 0,
    UST_ACKNOWLEDGED,
    UST_EN_ROUTE,
    UST_ON_SCENE,
    UST_TRANSPORTING,
    UST_AT_HOSPITAL,
    UST_CLEARED,
} unit_step;
#define UST_NSTEPS 7

/* Wire names "dispatched", "acknowledged", "en_route", "on_scene",
 * "transporting", "at_hospital", "cleared", in enum order and NULL after
 * the last (the shape an enum field of a request parser takes).
 * unit_step_str never returns NULL ("unknown" for a value out of range);
 * unit_step_parse returns 0 or COORD_E_INVAL (out untouched). */
extern const char *const unit_step_names[UST_NSTEPS + 1];
const char *unit_step_str(unit_step s);
int unit_step_parse(const char *s, unit_step *out);

/* 0 when from -> to is legal, COORD_E_TRANSITION otherwise (also for a
 * value out of range). unit_step_move checks and assigns in one step
 * (*step untouched when refused). */
int unit_step_check(unit_step from, unit_step to);
int unit_step_move(unit_step *step, unit_step to);

/* True for the step that ends the unit's part in the attempt: its slot is
 * free again (cleared). Every other step keeps the unit busy. */
bool unit_step_frees(unit_step s);

/* The times a step may carry, wall-clock ms: after 2001 and before 2286,
 * so a time in seconds, or an absurd one, is refused rather than kept. */
#define UNIT_STEP_AT_MIN 1000000000000LL
#define UNIT_STEP_AT_MAX 9999999999999LL

#endif
