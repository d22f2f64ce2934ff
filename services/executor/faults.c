/* The terminal's fault hooks (faults.h): counters armed by POST /v1/faults
 * and consumed by the heartbeat, assignment and revocation paths. */
#include "faults.h"

#include <string.h>

#include "executor.h"

/* A stall longer than this would hold a server thread for no test's gain. */
#define FAULT_STALL_MAX_MS 60000
#define FAULT_COUNT_MAX    1000000

static bool take(executor *e, uint32_t *counter)
{
    bool armed = false;

    pthread_mutex_lock(&e->faults_mu);
    if (e->faults.enabled && *counter > 0) {
        (*counter)--;
        armed = true;
    }
    pthread_mutex_unlock(&e->faults_mu);
    return armed;
}

bool fault_drop_heartbeat_reply(executor *e)
{
    return take(e, &e->faults.drop_heartbeat_replies);
}

uint64_t fault_assign_stall_ms(executor *e)
{
    uint64_t ms = 0;

    pthread_mutex_lock(&e->faults_mu);
    if (e->faults.enabled && e->faults.stall_assignments > 0) {
        e->faults.stall_assignments--;
        ms = e->faults.stall_ms;
    }
    pthread_mutex_unlock(&e->faults_mu);
    return ms;
}

bool fault_refuse_revocation(executor *e)
{
    return take(e, &e->faults.refuse_revocations);
}

void fault_stall(executor *e, uint64_t ms)
{
    struct timespec ts;

    exec_deadline(&ts, ms);
    pthread_mutex_lock(&e->mu);
    /* link_cond is broadcast when the executor stops: shutdown never waits
     * out a stall. */
    while (!e->stopping && pthread_cond_timedwait(&e->link_cond, &e->mu, &ts) == 0)
        ;
    pthread_mutex_unlock(&e->mu);
}

static json_t *faults_json(executor *e)
{
    pthread_mutex_lock(&e->faults_mu);
    exec_fault_hooks f = e->faults;
    pthread_mutex_unlock(&e->faults_mu);
    return json_pack("{s:{s:I, s:I, s:I, s:I}}", "faults", "drop_heartbeat_replies",
                     (json_int_t)f.drop_heartbeat_replies, "stall_assignments",
                     (json_int_t)f.stall_assignments, "stall_ms", (json_int_t)f.stall_ms,
                     "refuse_revocations", (json_int_t)f.refuse_revocations);
}

void h_faults_get(api_request *req, api_response *res)
{
    api_reply_json(res, 200, faults_json(req->ctx));
}

struct faults_req {
    int64_t drop_heartbeat_replies, stall_assignments, stall_ms, refuse_revocations;
    bool has_drop, has_stall, has_stall_ms, has_refuse;
};

void h_faults_post(api_request *req, api_response *res)
{
    executor *e = req->ctx;
    static const field_spec spec[] = {
        {"drop_heartbeat_replies", FT_INT, offsetof(struct faults_req, drop_heartbeat_replies),
         false, 0, FAULT_COUNT_MAX, NULL, offsetof(struct faults_req, has_drop)},
        {"stall_assignments", FT_INT, offsetof(struct faults_req, stall_assignments), false, 0,
         FAULT_COUNT_MAX, NULL, offsetof(struct faults_req, has_stall)},
        {"stall_ms", FT_INT, offsetof(struct faults_req, stall_ms), false, 0, FAULT_STALL_MAX_MS,
         NULL, offsetof(struct faults_req, has_stall_ms)},
        {"refuse_revocations", FT_INT, offsetof(struct faults_req, refuse_revocations), false, 0,
         FAULT_COUNT_MAX, NULL, offsetof(struct faults_req, has_refuse)},
        FIELD_END,
    };
    struct faults_req r;
    field_error fe;

    memset(&r, 0, sizeof r);
    if (json_parse_fields(req->body, spec, &r, &fe) != 0) {
        api_reply_error(res, fe.code, "%s", fe.message);
        return;
    }
    pthread_mutex_lock(&e->faults_mu);
    if (r.has_drop)
        e->faults.drop_heartbeat_replies = (uint32_t)r.drop_heartbeat_replies;
    if (r.has_stall)
        e->faults.stall_assignments = (uint32_t)r.stall_assignments;
    if (r.has_stall_ms)
        e->faults.stall_ms = (uint64_t)r.stall_ms;
    if (r.has_refuse)
        e->faults.refuse_revocations = (uint32_t)r.refuse_revocations;
    exec_fault_hooks f = e->faults;
    pthread_mutex_unlock(&e->faults_mu);
    service_log("warn",
                "fault hooks set: drop %u heartbeat replies, stall %u assignments by %llu ms, "
                "refuse %u revocations",
                f.drop_heartbeat_replies, f.stall_assignments, (unsigned long long)f.stall_ms,
                f.refuse_revocations);
    api_reply_json(res, 200, faults_json(e));
}
