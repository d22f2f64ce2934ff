/* The wire view of an assignment (view.h). */
#include "view.h"

#include <stdio.h>
#include <time.h>

#include "api.h"

/* ISO 8601 UTC, second precision. */
static void format_time(uint64_t wall_ms, char *buf, size_t len)
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "1970-01-01T00:00:00Z");
}

json_t *asg_view_json(const assignment *a)
{
    char when[32];
    format_time(a->received_ms, when, sizeof when);
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:O, s:s, s:o, s:s, s:O}", "job_id", a->job_id,
                          "attempt", (json_int_t)a->attempt, "owner", a->owner, "owner_url",
                          a->owner_url, "job", a->job ? a->job : json_null(), "state",
                          asg_state_str(a->state), "vclock", vclock_to_json(&a->vc), "received_at",
                          when, "report", a->report ? a->report : json_null());
    if (o && a->revoke_reason[0])
        json_object_set_new(o, "revoke_reason", json_string(a->revoke_reason));
    return o;
}
