/* Mutual aid at the unit's home broker: POST /v1/units/{id}/claim (another
 * district borrows one of our units, lend.c) and POST
 * /v1/units/{id}/release (it is done with it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "handlers.h"
#include "lend.h"
#include "txn.h"
#include "units.h"
#include "views.h"

struct claim_req {
    json_t *job;
    int64_t attempt;
    char owner[COORD_ID_MAX + 1];
    const char *owner_url;
    vclock clock;
    bool has_clock;
};

static const field_spec claim_fields[] = {
    {"job", FT_OBJECT, offsetof(struct claim_req, job), true, API_JSON_JOB_DEPTH_MAX,
     BROKER_JOB_OBJECT_MAX, NULL, 0},
    {"attempt", FT_INT, offsetof(struct claim_req, attempt), true, 1, 1000000, NULL, 0},
    {"owner", FT_ID, offsetof(struct claim_req, owner), true, 0, 0, NULL, 0},
    {"owner_url", FT_STRING, offsetof(struct claim_req, owner_url), true, 8, BROKER_URL_MAX - 1,
     NULL, 0},
    {"vclock", FT_VCLOCK, offsetof(struct claim_req, clock), false, 0, 0, NULL,
     offsetof(struct claim_req, has_clock)},
    FIELD_END,
};

/* The claimed job's id and required capabilities; false when they are not
 * an id and a non-empty list. A non-string capability is kept as NULL,
 * which no unit offers. */
static bool claimed_job(const struct claim_req *r, const char **job_id, const char **req,
                        size_t *nreq)
{
    const json_t *caps = json_object_get(r->job, "required_capabilities");
    size_t i;
    json_t *v;

    *job_id = json_string_value(json_object_get(r->job, "id"));
    if (!coord_id_valid(*job_id) || !json_is_array(caps) || json_array_size(caps) == 0 ||
        json_array_size(caps) > BROKER_MAX_CAPS ||
        (strncmp(r->owner_url, "http://", 7) != 0 && strncmp(r->owner_url, "https://", 8) != 0))
        return false;
    json_array_foreach (caps, i, v)
        req[i] = json_string_value(v);
    *nreq = json_array_size(caps);
    return true;
}

/* The reply for lend_unit's outcome. */
static void claim_answer(broker *b, lend_outcome out, json_t *body, const char *uid,
                         const char *jid, const char *why, api_response *res)
{
    api_request plain = {.ctx = b}; /* all reply_storage_failed reads */

    switch (out) {
    case LEND_CLAIMED:
        api_reply_json(res, 201, body);
        break;
    case LEND_RETRY:
        api_reply_json(res, 200, body);
        break;
    case LEND_NO_UNIT:
        api_reply_error(res, API_E_NOT_FOUND, "no unit %s in %s", uid, b->cfg.id);
        break;
    case LEND_HELD_OTHER:
        api_reply_error_extra(res, API_E_CONFLICT, body,
                              "unit %s already holds job %s under another attempt", uid, jid);
        break;
    case LEND_NOT_FREE:
        api_reply_error_extra(res, API_E_CONFLICT, body, "unit %s is %s", uid, why);
        break;
    case LEND_TAKEN:
        api_reply_error(res, API_E_CONFLICT, "unit %s is taken", uid);
        break;
    case LEND_REFUSED:
        api_reply_error(res, API_E_CONFLICT, "unit %s refused: at capacity", uid);
        break;
    case LEND_FAILED:
        api_reply_error(res, API_E_BAD_GATEWAY, "unit %s did not take the assignment", uid);
        break;
    case LEND_STORAGE:
        reply_storage_failed(&plain, res);
        break;
    }
}

/* A claim whose call to the terminal runs on the outgoing pool, so the
 * HTTP worker serves others meanwhile: what the handler parsed, with the
 * request body its job and owner_url point into. */
struct claim_call {
    broker *b;
    json_t *body;
    struct claim_req *r;
    char uid[COORD_ID_MAX + 1], jid[COORD_ID_MAX + 1];
    const char *caps[BROKER_MAX_CAPS];
    lend_request lr;
    api_deferred *d;
};

static void claim_run(void *arg, bool stopping)
{
    struct claim_call *c = arg;
    api_response res = {0};
    json_t *body = NULL;
    char why[32] = "";

    /* Stopping: nothing reserved, and a 5xx, to the claimer, may have
     * landed, so it releases and moves on. */
    if (stopping) {
        api_reply_error(&res, API_E_UNAVAILABLE, "the broker is stopping");
    } else {
        lend_outcome out = lend_unit(c->b, &c->lr, &body, why);
        claim_answer(c->b, out, body, c->uid, c->jid, why, &res);
    }
    api_deferred_reply(c->d, &res);
    json_decref(c->body);
    free(c->r);
    free(c);
}

static void claim_start(void *arg, api_deferred *d)
{
    struct claim_call *c = arg;

    c->d = d;
    outpool_submit(&c->b->calls, claim_run, c);
}

/* Hands the claim to the pool, taking r; false when there is no room (or
 * the transport cannot defer): the caller lends inline. */
static bool claim_defer(api_request *req, api_response *res, broker *b, struct claim_req *r,
                        const lend_request *lr)
{
    if (!api_can_defer(req) || !outpool_reserve(&b->calls))
        return false;
    struct claim_call *c = calloc(1, sizeof(*c));
    if (!c) {
        outpool_unreserve(&b->calls);
        return false;
    }
    c->b = b;
    c->body = json_incref(req->body);
    c->r = r;
    snprintf(c->uid, sizeof(c->uid), "%s", lr->unit_id);
    snprintf(c->jid, sizeof(c->jid), "%s", lr->job_id);
    memcpy(c->caps, lr->req, lr->nreq * sizeof(c->caps[0]));
    c->lr = *lr;
    c->lr.unit_id = c->uid;
    c->lr.job_id = c->jid;
    c->lr.req = c->caps;
    api_reply_defer(res, claim_start, c);
    return true;
}

void h_unit_claim(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *uid = path_id(req, res, "unit");
    const char *caps[BROKER_MAX_CAPS];
    char why[32] = "";
    json_t *body;
    struct claim_req *r;

    if (!uid)
        return;
    r = calloc(1, sizeof(*r));
    if (!r) {
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    if (!parse_body(req, res, claim_fields, r))
        goto out;
    lend_request lr = {
        .unit_id = uid,
        .job = r->job,
        .attempt = (uint32_t)r->attempt,
        .owner = r->owner,
        .owner_url = r->owner_url,
        .clock = r->has_clock ? &r->clock : NULL,
        .req = caps,
    };
    if (!claimed_job(r, &lr.job_id, caps, &lr.nreq)) {
        api_reply_error(
            res, API_E_INVALID_FIELD,
            "job.id must be an id, job.required_capabilities a non-empty list and owner_url a URL");
        goto out;
    }
    char jid[COORD_ID_MAX + 1];
    snprintf(jid, sizeof(jid), "%s", lr.job_id);
    lr.job_id = jid;
    if (claim_defer(req, res, b, r, &lr))
        return;
    lend_outcome out = lend_unit(b, &lr, &body, why);
    claim_answer(b, out, body, uid, jid, why, res);
out:
    free(r);
}

struct release_req {
    char job_id[COORD_ID_MAX + 1];
    int64_t attempt;
    char reason[COORD_ID_MAX + 1];
};

static const field_spec release_fields[] = {
    {"job_id", FT_ID, offsetof(struct release_req, job_id), true, 0, 0, NULL, 0},
    {"attempt", FT_INT, offsetof(struct release_req, attempt), true, 1, 1000000, NULL, 0},
    {"reason", FT_ID, offsetof(struct release_req, reason), false, 0, 0, NULL, 0},
    FIELD_END,
};

void h_unit_release(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *uid = path_id(req, res, "unit");
    struct release_req r = {0};
    txn t;

    if (!uid || !parse_body(req, res, release_fields, &r))
        return;
    pthread_mutex_lock(&b->mu);
    unit *u = state_unit(&b->st, uid);
    if (!u) {
        pthread_mutex_unlock(&b->mu);
        api_reply_error(res, API_E_NOT_FOUND, "no unit %s in %s", uid, b->cfg.id);
        return;
    }
    /* Only the district that made the claim may end it. */
    const held *h = unit_find_held(u, r.job_id, (uint32_t)r.attempt);
    if (h && h->foreign && !api_caller_may_act_for(req, API_ROLE_PEER, h->owner)) {
        pthread_mutex_unlock(&b->mu);
        api_reply_refused(res, API_REFUSAL_SUBJECT, "the claim on %s is not district %s's", uid,
                          api_caller(req)->subject);
        return;
    }
    if (!store_ok_or_503(req, res))
        return;
    txn_begin(b, &t);
    bool released = state_release_claim(&b->st, u, r.job_id, (uint32_t)r.attempt);
    if (released) {
        txn_del_claim(&t, uid, r.job_id);
        txn_event(&t, "unit_released", r.job_id, uid, (uint32_t)r.attempt,
                  "claim on %s for job %s ended (%s)", uid, r.job_id,
                  r.reason[0] ? r.reason : "released");
        /* The executor may still hold it (a revocation, not a finished
         * report): tell it to stop. Harmless after a report. */
        if (strcmp(r.reason, "finished") != 0)
            txn_revoke(&t, u->url, r.job_id, (uint32_t)r.attempt);
        txn_wake_dispatch(&t);
    }
    if (!commit_or_503(&t, req, res))
        return;
    json_t *body = view_envelope(json_pack("{s:b, s:o}", "released", released, "unit",
                                           view_unit(&b->st, u, coord_now_wall_ms())),
                                 &b->clock);
    txn_end(&t);
    api_reply_json(res, 200, body);
}
