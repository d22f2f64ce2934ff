/* Dispatch policies, pure: who goes first when a unit comes free, and
 * which job an emergency takes a unit from. */
#ifndef COORD_POLICY_H
#define COORD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobqueue.h"
#include "types.h"

/* Priority holds whoever is dispatching: a job about to take a unit yields
 * it when a job queued ahead of it (severity, then arrival) could use it.
 * head is the start of the queue in priority order (jobq_snapshot); the
 * scan stops at self or at the first item not ahead of it. takes(job_id,
 * arg) says whether that queued job is waiting (nobody is dispatching it)
 * and the unit serves it. */
bool policy_queue_yields(const jobq_item *head, size_t n, const jobq_item *self,
                         bool (*takes)(const char *job_id, void *arg), void *arg);

/* Preemption is allowed only for a critical job while the city's emergency
 * level is high or critical. */
bool policy_may_preempt(severity level, severity incoming);

/* One job a unit holds, as a possible victim. */
typedef struct preempt_candidate {
    const char *unit_id;
    const char *job_id;
    uint32_t attempt;
    severity sev;     /* of the held job */
    bool own_active;  /* a confirmed hold of an assigned job of this district */
    bool unit_usable; /* the unit is in service and not lost */
    const char *const *unit_caps;
    size_t nunit_caps;
} preempt_candidate;

/* Index of the victim for an incoming job needing req: a low-severity job
 * held as own_active on a usable unit that offers req; the lowest unit id
 * wins, then the lowest job id. -1 when preemption is not allowed
 * (policy_may_preempt) or there is no victim. */
long policy_preempt_victim(const preempt_candidate *c, size_t n, severity level, severity incoming,
                           const char *const *req, size_t nreq);

#endif
