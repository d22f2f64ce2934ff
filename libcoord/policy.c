/* Queue yield and preemption victim choice (see policy.h). */
#include "policy.h"

#include <string.h>

#include "match.h"

static bool ahead_of(const jobq_item *a, const jobq_item *self)
{
    return a->sev > self->sev || (a->sev == self->sev && a->seq < self->seq);
}

bool policy_queue_yields(const jobq_item *head, size_t n, const jobq_item *self,
                         bool (*takes)(const char *job_id, void *arg), void *arg)
{
    if (!head || !self || !takes)
        return false;
    for (size_t i = 0; i < n; i++) {
        /* In priority order: past self or past the first item that is not
         * ahead, nothing further can be ahead either. */
        if (strcmp(head[i].id, self->id) == 0 || !ahead_of(&head[i], self))
            return false;
        if (takes(head[i].id, arg))
            return true;
    }
    return false;
}

bool policy_may_preempt(severity level, severity incoming)
{
    return level >= SEV_HIGH && incoming == SEV_CRITICAL;
}

static bool victim_ok(const preempt_candidate *c, const char *const *req, size_t nreq)
{
    return c->unit_id && c->job_id && c->own_active && c->unit_usable && c->sev == SEV_LOW &&
           caps_match(req, nreq, c->unit_caps, c->nunit_caps);
}

long policy_preempt_victim(const preempt_candidate *c, size_t n, severity level, severity incoming,
                           const char *const *req, size_t nreq)
{
    long best = -1;

    if (!c || !policy_may_preempt(level, incoming))
        return -1;
    for (size_t i = 0; i < n; i++) {
        int s;

        if (!victim_ok(&c[i], req, nreq))
            continue;
        if (best >= 0) {
            s = strcmp(c[i].unit_id, c[best].unit_id);
            if (s == 0)
                s = strcmp(c[i].job_id, c[best].job_id);
            if (s >= 0)
                continue;
        }
        best = (long)i;
    }
    return best;
}
