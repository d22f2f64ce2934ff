/* Mutual aid at the unit's home broker: POST /v1/units/{id}/claim and
 * POST /v1/units/{id}/release. The home broker is the only authority over
 * its units' assignments (DESIGN.md §3.2): a claim checks and reserves the
 * unit in one step under the broker lock, then hands the assignment to the
 * executor; a second claim for the same unit meanwhile gets 409. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

struct claim_req {
    json_t *job;
    int64_t attempt;
    char owner[COORD_ID_MAX + 1];
    const char *owner_url;
    vclock clock;
    bool has_clock;
};

static const field_spec claim_fields[] = {
    {"job", FT_OBJECT, offsetof(struct claim_req, job), true, 0, 0, NULL, 0},
    {"attempt", FT_INT, offsetof(struct claim_req, attempt), true, 1, 1000000, NULL, 0},
    {"owner", FT_ID, offsetof(struct claim_req, owner), true, 0, 0, NULL, 0},
    {"owner_url", FT_STRING, offsetof(struct claim_req, owner_url), true, 8, BROKER_URL_MAX - 1,
     NULL, 0},
    {"vclock", FT_VCLOCK, offsetof(struct claim_req, clock), false, 0, 0, NULL,
     offsetof(struct claim_req, has_clock)},
    FIELD_END,
};

static const http_opts claim_assign_opts = {.connect_timeout_ms = 500, .timeout_ms = 2000};

static bool unit_offers(const unit *u, const json_t *caps)
{
    size_t i;
    json_t *v;
    json_array_foreach (caps, i, v) {
        bool found = false;
        for (size_t k = 0; k < u->ncaps && !found; k++)
            found = json_is_string(v) && strcmp(u->caps[k], json_string_value(v)) == 0;
        if (!found)
            return false;
    }
    return true;
}

/* attempt_no 0: any attempt of the job. */
static struct held *find_held(unit *u, const char *job_id, uint32_t attempt_no)
{
    for (uint32_t i = 0; i < u->load; i++)
        if (strcmp(u->held[i].job_id, job_id) == 0 &&
            (!attempt_no || u->held[i].attempt == attempt_no))
            return &u->held[i];
    return NULL;
}

void h_unit_claim(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *uid = path_id(req, res, "unit");
    if (!uid)
        return;
    struct claim_req *r = calloc(1, sizeof(*r));
    field_error fe;
    if (!r) {
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    if (json_parse_fields(req->body, claim_fields, r, &fe) < 0) {
        free(r);
        api_reply_error(res, fe.code, "%s", fe.message);
        return;
    }
    const char *job_id = json_string_value(json_object_get(r->job, "id"));
    json_t *req_caps = json_object_get(r->job, "required_capabilities");
    if (!job_id || !coord_id_valid(job_id) || !json_is_array(req_caps) ||
        json_array_size(req_caps) == 0 || json_array_size(req_caps) > BROKER_MAX_CAPS ||
        (strncmp(r->owner_url, "http://", 7) != 0 && strncmp(r->owner_url, "https://", 8) != 0)) {
        free(r);
        api_reply_error(
            res, API_E_INVALID_FIELD,
            "job.id must be an id, job.required_capabilities a non-empty list and owner_url a URL");
        return;
    }
    char jid[COORD_ID_MAX + 1];
    snprintf(jid, sizeof(jid), "%s", job_id);

    pthread_mutex_lock(&b->mu);
    unit *u = broker_unit(b, uid);
    if (!u) {
        pthread_mutex_unlock(&b->mu);
        free(r);
        api_reply_error(res, API_E_NOT_FOUND, "no unit %s in %s", uid, b->cfg.id);
        return;
    }
    struct held *h = find_held(u, jid, (uint32_t)r->attempt);
    if (h && h->foreign && !h->pending) {
        /* A retry of a claim that succeeded: same answer. */
        json_t *body = json_pack("{s:o, s:{s:s, s:i, s:s}, s:o}", "unit", unit_to_json(b, u),
                                 "claim", "job_id", jid, "attempt", (int)r->attempt, "owner",
                                 r->owner, "vclock", broker_clock_json(b));
        pthread_mutex_unlock(&b->mu);
        free(r);
        api_reply_json(res, 200, body);
        return;
    }
    struct held *older = find_held(u, jid, 0);
    if (older && older->foreign && !older->pending && older->attempt < (uint32_t)r->attempt) {
        /* The owner moved its job to a new attempt on the same unit: the
         * new claim supersedes the old one (as at the executor). */
        unit_release_attempt(u, jid, older->attempt);
    } else if (older) {
        json_t *extra =
            json_pack("{s:o, s:o}", "unit", unit_to_json(b, u), "vclock", broker_clock_json(b));
        pthread_mutex_unlock(&b->mu);
        free(r);
        api_reply_error_extra(res, API_E_CONFLICT, extra,
                              "unit %s already holds job %s under another attempt", uid, jid);
        return;
    }
    unit_status st = unit_current_status(u);
    if (st != UNIT_AVAILABLE || u->load >= u->capacity ||
        !unit_offers(u, json_object_get(r->job, "required_capabilities"))) {
        json_t *extra = json_pack("{s:o}", "unit", unit_to_json(b, u));
        pthread_mutex_unlock(&b->mu);
        free(r);
        api_reply_error_extra(res, API_E_CONFLICT, extra, "unit %s is %s", uid,
                              st == UNIT_AVAILABLE ? "not able to take this job"
                                                   : unit_status_str(st));
        return;
    }
    if (unit_hold(u, jid, (uint32_t)r->attempt, true) < 0) {
        pthread_mutex_unlock(&b->mu);
        free(r);
        api_reply_error(res, API_E_CONFLICT, "unit %s is taken", uid);
        return;
    }
    h = find_held(u, jid, (uint32_t)r->attempt);
    h->foreign = true;
    snprintf(h->owner, sizeof(h->owner), "%s", r->owner);
    if (r->has_clock) {
        vclock tmp;
        vclock_copy(&tmp, &b->clock);
        if (vclock_merge(&tmp, &r->clock) == 0)
            vclock_copy(&b->clock, &tmp);
    }
    vclock_tick(&b->clock, b->cfg.id);
    char url[BROKER_URL_MAX + 32];
    snprintf(url, sizeof(url), "%s/v1/assignments", u->url);
    json_t *body =
        json_pack("{s:O, s:i, s:s, s:s, s:o}", "job", r->job, "attempt", (int)r->attempt, "owner",
                  r->owner, "owner_url", r->owner_url, "vclock", broker_clock_json(b));
    pthread_mutex_unlock(&b->mu);

    http_reply rep;
    int rc = http_json("POST", url, body, &claim_assign_opts, &rep);
    json_decref(body);
    bool ok = rc == 0 && (rep.status == 201 || rep.status == 200);
    long status = rep.status;
    http_reply_release(&rep);

    pthread_mutex_lock(&b->mu);
    u = broker_unit(b, uid);
    h = find_held(u, jid, (uint32_t)r->attempt);
    if (ok && h && !u->lost) {
        h->pending = false;
        broker_txn_begin(b);
        if (db_put_claim(b->db, uid, jid, (uint32_t)r->attempt, r->owner) < 0)
            b->txn_failed = true;
        broker_touch_unit(b, u);
        broker_event(b, "unit_claimed", jid, uid, (uint32_t)r->attempt,
                     "mutual aid: %s lends %s to %s for job %s", b->cfg.id, uid, r->owner, jid);
        broker_commit_or_die(b);
        json_t *reply = json_pack("{s:o, s:{s:s, s:i, s:s}, s:o}", "unit", unit_to_json(b, u),
                                  "claim", "job_id", jid, "attempt", (int)r->attempt, "owner",
                                  r->owner, "vclock", broker_clock_json(b));
        pthread_mutex_unlock(&b->mu);
        free(r);
        api_reply_json(res, 201, reply);
        return;
    }
    if (h)
        unit_release_attempt(u, jid, (uint32_t)r->attempt);
    if (ok)
        broker_queue_revocation(b, u->url, jid, (uint32_t)r->attempt);
    pthread_mutex_unlock(&b->mu);
    free(r);
    if (rc == 0 && status == 409)
        api_reply_error(res, API_E_CONFLICT, "unit %s refused: at capacity", uid);
    else
        api_reply_error(res, API_E_BAD_GATEWAY, "unit %s did not take the assignment", uid);
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
    if (!uid)
        return;
    struct release_req r = {0};
    field_error fe;
    if (json_parse_fields(req->body, release_fields, &r, &fe) < 0) {
        api_reply_error(res, fe.code, "%s", fe.message);
        return;
    }
    pthread_mutex_lock(&b->mu);
    unit *u = broker_unit(b, uid);
    if (!u) {
        pthread_mutex_unlock(&b->mu);
        api_reply_error(res, API_E_NOT_FOUND, "no unit %s in %s", uid, b->cfg.id);
        return;
    }
    struct held *h = find_held(u, r.job_id, (uint32_t)r.attempt);
    bool released = h && h->foreign;
    if (released) {
        unit_release_attempt(u, r.job_id, (uint32_t)r.attempt);
        broker_txn_begin(b);
        if (db_del_claim(b->db, uid, r.job_id) < 0)
            b->txn_failed = true;
        broker_touch_unit(b, u);
        broker_event(b, "unit_released", r.job_id, uid, (uint32_t)r.attempt,
                     "claim on %s for job %s ended (%s)", uid, r.job_id,
                     r.reason[0] ? r.reason : "released");
        broker_commit_or_die(b);
        /* The executor may still hold it (a revocation, not a finished
         * report): tell it to stop. Harmless after a report. */
        if (strcmp(r.reason, "finished") != 0)
            broker_queue_revocation(b, u->url, r.job_id, (uint32_t)r.attempt);
    }
    json_t *body = json_pack("{s:b, s:o, s:o}", "released", released, "unit", unit_to_json(b, u),
                             "vclock", broker_clock_json(b));
    pthread_mutex_unlock(&b->mu);
    if (released)
        broker_request_drain(b);
    api_reply_json(res, 200, body);
}
