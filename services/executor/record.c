/* Lifecycle of an assignment record (record.h). */
#include "record.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

assignment *asg_new(void)
{
    return calloc(1, sizeof(assignment)); /* ASG_ACTIVE is 0: a new holding is active */
}

assignment *asg_dup(const assignment *a)
{
    assignment *d = malloc(sizeof *d);
    if (!d)
        return NULL;
    /* Everything before the clock, then only the clock's live entries: a
     * snapshot of 1024 records must not copy 5 KiB of unused clock each. */
    memcpy(d, a, offsetof(assignment, vc));
    vclock_copy(&d->vc, &a->vc);
    json_incref(d->job);
    json_incref(d->report);
    return d;
}

void asg_free(assignment *a)
{
    if (!a)
        return;
    json_decref(a->job);
    json_decref(a->report);
    free(a);
}
