/* /v1/assignments (handlers_assignments.h). Input is parsed by
 * json_parse_fields; the rules live in table.c, report.c and libcoord. */
#include "handlers_assignments.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "context.h"
#include "coord.h"
#include "faults.h"
#include "report.h"
#include "table.h"

static void reply_storage(api_response *res)
{
    api_reply_error(res, API_E_UNAVAILABLE, "cannot persist the change; nothing acknowledged");
}

/* {"assignment": a, "vclock": vc}; steals a. */
static void reply_assignment(api_response *res, unsigned status, json_t *a, const vclock *vc)
{
    if (!a) {
        api_reply_error(res, API_E_INTERNAL, "out of memory");
        return;
    }
    json_t *body = json_pack("{s:o, s:o}", "assignment", a, "vclock", vclock_to_json(vc));
    api_reply_json(res, status, body);
}

static bool job_id_param(api_request *req, api_response *res, const char **out)
{
    const char *id = req->nparams > 0 ? req->params[0] : NULL;
    if (!coord_id_valid(id)) {
        api_reply_error(res, API_E_INVALID_ID, "job id must match [A-Za-z0-9._-]{1,64}");
        return false;
    }
    *out = id;
    return true;
}

void h_assign(api_request *req, api_response *res)
{
    executor *e = req->ctx;
    asg_input in;
    memset(&in, 0, sizeof in);
    static const field_spec spec[] = {
        {"job", FT_OBJECT, offsetof(asg_input, job), true, API_JSON_JOB_DEPTH_MAX,
         EXEC_MAX_JOB_BYTES, NULL, 0},
        {"attempt", FT_INT, offsetof(asg_input, attempt), true, 1, INT32_MAX, NULL, 0},
        {"owner", FT_ID, offsetof(asg_input, owner), true, 0, 0, NULL, 0},
        {"owner_url", FT_STRING, offsetof(asg_input, owner_url), true, 0, EXEC_URL_MAX, NULL, 0},
        {"vclock", FT_VCLOCK, offsetof(asg_input, vc), false, 0, 0, NULL,
         offsetof(asg_input, has_vc)},
        FIELD_END,
    };
    field_error fe;
    if (json_parse_fields(req->body, spec, &in, &fe) != 0) {
        api_reply_error(res, fe.code, "%s", fe.message);
        return;
    }
    const char *job_id = json_string_value(json_object_get(in.job, "id"));
    if (!job_id) {
        api_reply_error(res, API_E_MISSING_FIELD, "job.id is required");
        return;
    }
    if (!coord_id_valid(job_id)) {
        api_reply_error(res, API_E_INVALID_ID, "job.id must match [A-Za-z0-9._-]{1,64}");
        return;
    }
    if (!exec_url_valid(in.owner_url)) {
        api_reply_error(res, API_E_INVALID_FIELD,
                        "owner_url must be an http:// or https:// URL of at most %d characters", EXEC_URL_MAX);
        return;
    }
    snprintf(in.job_id, sizeof in.job_id, "%s", job_id);
    /* Keep the owner URL without a trailing '/' so paths join cleanly. */
    char url[EXEC_URL_MAX + 1];
    size_t n = strlen(in.owner_url);
    while (n > 7 && in.owner_url[n - 1] == '/')
        n--;
    memcpy(url, in.owner_url, n);
    url[n] = '\0';
    in.owner_url = url;

    json_t *a = NULL;
    vclock vc;
    int rc = exec_assign(e, &in, &a, &vc);
    uint64_t stall = rc == EXEC_CREATED || rc == EXEC_OK ? fault_assign_stall_ms(e) : 0;
    if (stall) {
        /* Stored, and the answer comes too late: the caller's timeout fires
         * although the assignment landed. */
        service_log("warn", "fault hook: job %s attempt %lld stored, answer held %llu ms",
                    in.job_id, (long long)in.attempt, (unsigned long long)stall);
        fault_stall(e, stall);
    }
    switch (rc) {
    case EXEC_CREATED:
        service_log("info", "job %s attempt %lld assigned by %s", in.job_id, (long long)in.attempt,
                    in.owner);
        reply_assignment(res, 201, a, &vc);
        return;
    case EXEC_OK:
        reply_assignment(res, 200, a, &vc);
        return;
    case EXEC_E_CAPACITY:
        api_reply_error(res, API_E_AT_CAPACITY,
                        "unit %s holds %u active assignment(s), its capacity", e->cfg.id,
                        e->cfg.capacity);
        return;
    case EXEC_E_STALE: {
        long long held = a ? (long long)json_integer_value(json_object_get(a, "attempt")) : 0;
        json_decref(a);
        api_reply_error(res, API_E_CONFLICT, "job %s: attempt %lld is held, newer than %lld",
                        in.job_id, held, (long long)in.attempt);
        return;
    }
    case EXEC_E_STORAGE:
        reply_storage(res);
        return;
    default:
        json_decref(a);
        api_reply_error(res, API_E_INTERNAL, "out of memory");
        return;
    }
}

void h_list(api_request *req, api_response *res)
{
    executor *e = req->ctx;
    json_t *body = exec_list_json(e);
    api_reply_json(res, 200, body);
}

void h_get(api_request *req, api_response *res)
{
    executor *e = req->ctx;
    const char *job_id;
    if (!job_id_param(req, res, &job_id))
        return;
    json_t *a = NULL;
    if (exec_get(e, job_id, &a) != EXEC_OK) {
        api_reply_error(res, API_E_NOT_FOUND, "no assignment for job %s", job_id);
        return;
    }
    json_t *body = a ? json_pack("{s:o}", "assignment", a) : NULL;
    api_reply_json(res, 200, body);
}

void h_revoke(api_request *req, api_response *res)
{
    executor *e = req->ctx;
    const char *job_id;
    if (!job_id_param(req, res, &job_id))
        return;
    int64_t attempt = 0;
    const char *q = api_query(req, "attempt");
    if (q) {
        char *end = NULL;
        errno = 0;
        long long v = (q[0] >= '0' && q[0] <= '9') ? strtoll(q, &end, 10) : -1;
        if (v < 1 || v > INT32_MAX || errno || !end || *end) {
            api_reply_error(res, API_E_BAD_REQUEST, "attempt must be an integer >= 1");
            return;
        }
        attempt = v;
    }
    const char *reason = api_query(req, "reason");
    if (fault_refuse_revocation(e)) {
        service_log("warn", "fault hook: revocation of job %s refused", job_id);
        api_reply_error(res, API_E_UNAVAILABLE, "fault hook: revocation refused, nothing changed");
        return;
    }
    json_t *a = NULL;
    vclock vc;
    int rc = exec_revoke(e, job_id, attempt, reason, &a, &vc);
    if (rc == EXEC_E_NOTFOUND) {
        api_reply_error(res, API_E_NOT_FOUND, "no assignment for job %s", job_id);
        return;
    }
    if (rc == EXEC_E_STORAGE) {
        reply_storage(res);
        return;
    }
    const char *state = json_string_value(json_object_get(a, "state"));
    service_log("info", "job %s: revoke (attempt %lld): now %s", job_id, (long long)attempt,
                state ? state : "?");
    reply_assignment(res, 200, a, &vc);
}

typedef struct result_input {
    char outcome[COORD_ID_MAX + 1];
    json_t *data;
} result_input;

void h_result(api_request *req, api_response *res)
{
    executor *e = req->ctx;
    const char *job_id;
    if (!job_id_param(req, res, &job_id))
        return;
    result_input in;
    memset(&in, 0, sizeof in);
    static const field_spec spec[] = {
        {"outcome", FT_ID, offsetof(result_input, outcome), true, 0, 0, NULL, 0},
        {"data", FT_OBJECT, offsetof(result_input, data), false, 0, 0, NULL, 0},
        FIELD_END,
    };
    field_error fe;
    if (json_parse_fields(req->body, spec, &in, &fe) != 0) {
        api_reply_error(res, fe.code, "%s", fe.message);
        return;
    }
    long status = 0;
    json_t *body = NULL;
    char msg[512] = "";
    int rc = exec_report(e, job_id, in.outcome, in.data, &status, &body, msg, sizeof msg);
    /* This is a libmicrohttpd worker thread, which never runs the client's
     * per-thread cleanup on exit: release the cached connection now
     * (reports are rare, so reuse buys little). */
    http_client_thread_cleanup();
    switch (rc) {
    case EXEC_OK:
        service_log("info", "job %s: report '%s' -> owner broker answered %ld", job_id, in.outcome,
                    status);
        /* The broker's status and body, unchanged. */
        api_reply_json(res, (unsigned)status, body);
        return;
    case EXEC_E_NOTFOUND:
        api_reply_error(res, API_E_NOT_FOUND, "%s", msg);
        return;
    case EXEC_E_STORAGE:
        reply_storage(res);
        return;
    default:
        service_log("warn", "job %s: report '%s' not delivered: %s", job_id, in.outcome, msg);
        api_reply_error(res, API_E_BAD_GATEWAY, "%s", msg);
        return;
    }
}
