/* POST /v1/assignments/{job_id}/status (handlers_status.h): the crew moves
 * its unit through dispatched .. cleared. The rules are libcoord's
 * unitstatus.c; steps.c records the step durably and forwards it to the
 * home broker, so the answer says "recorded", not "the broker has it". */
#include "handlers_status.h"

#include <string.h>

#include "context.h"
#include "coord.h"
#include "steps.h"

typedef struct status_input {
    int status;
    int64_t at;
    bool has_at;
} status_input;

void h_status(api_request *req, api_response *res)
{
    executor *e = req->ctx;
    const char *job_id = req->nparams > 0 ? req->params[0] : NULL;
    status_input in;
    memset(&in, 0, sizeof in);
    static const field_spec spec[] = {
        {"status", FT_ENUM, offsetof(status_input, status), true, 0, 0, unit_step_names, 0},
        {"at", FT_INT, offsetof(status_input, at), false, UNIT_STEP_AT_MIN, UNIT_STEP_AT_MAX, NULL,
         offsetof(status_input, has_at)},
        FIELD_END,
    };
    field_error fe;
    if (!coord_id_valid(job_id)) {
        api_reply_error(res, API_E_INVALID_ID, "job id must match [A-Za-z0-9._-]{1,64}");
        return;
    }
    if (json_parse_fields(req->body, spec, &in, &fe) != 0) {
        api_reply_error(res, fe.code, "%s", fe.message);
        return;
    }
    unit_step to = (unit_step)in.status, cur = UST_DISPATCHED;
    bool ended = false;
    json_t *view = NULL;
    int rc = exec_step(e, job_id, to, in.has_at ? (uint64_t)in.at : coord_now_wall_ms(), &view,
                       &cur, &ended);
    switch (rc) {
    case EXEC_CREATED:
    case EXEC_OK:
        if (rc == EXEC_CREATED)
            service_log("info", "job %s: crew status %s (forwarding to the home broker)", job_id,
                        unit_step_names[to]);
        api_reply_json(res, rc == EXEC_CREATED ? 201 : 200,
                       view ? json_pack("{s:o}", "crew_status", view) : NULL);
        return;
    case EXEC_E_NOTFOUND:
        api_reply_error(res, API_E_NOT_FOUND, "no assignment for job %s", job_id);
        return;
    case EXEC_E_INVAL:
        if (ended)
            api_reply_error(res, API_E_ILLEGAL_STEP,
                            "job %s is no longer held active here (now %s): only cleared "
                            "may follow, not %s",
                            job_id, unit_step_str(cur), unit_step_names[to]);
        else
            api_reply_error(res, API_E_ILLEGAL_STEP, "unit %s on job %s is %s: %s cannot follow it",
                            e->cfg.id, job_id, unit_step_str(cur), unit_step_names[to]);
        return;
    case EXEC_E_CAPACITY:
        api_reply_error(res, API_E_UNAVAILABLE,
                        "%d status steps wait for the home broker; nothing recorded",
                        EXEC_STEPS_OUTBOX_MAX);
        return;
    default:
        api_reply_error(res, API_E_UNAVAILABLE, "cannot persist the change; nothing acknowledged");
        return;
    }
}
