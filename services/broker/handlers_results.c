/* POST /v1/jobs/{id}/results: the FCFS arbiter at the job's owner broker.
 * The rule itself is libcoord's arbiter_decide; this file loads the job's
 * attempts into it, records an acceptance durably before answering, and
 * tells every other holder to stop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

struct result_req {
    char unit_id[COORD_ID_MAX + 1];
    int64_t attempt;
    char outcome[COORD_ID_MAX + 1];
    json_t *data;
    vclock clock;
    bool has_clock;
};

static const field_spec result_fields[] = {
    {"unit_id", FT_ID, offsetof(struct result_req, unit_id), true, 0, 0, NULL, 0},
    {"attempt", FT_INT, offsetof(struct result_req, attempt), true, 1, 1000000, NULL, 0},
    {"outcome", FT_ID, offsetof(struct result_req, outcome), true, 0, 0, NULL, 0},
    {"data", FT_OBJECT, offsetof(struct result_req, data), false, 0, 0, NULL, 0},
    {"vclock", FT_VCLOCK, offsetof(struct result_req, clock), false, 0, 0, NULL,
     offsetof(struct result_req, has_clock)},
    FIELD_END,
};

/* Digest of what makes two reports "the same content". */
static uint64_t content_digest(const char *outcome, const char *data)
{
    size_t lo = strlen(outcome), ld = strlen(data);
    char *buf = malloc(lo + ld + 2);
    if (!buf)
        return 0;
    memcpy(buf, outcome, lo);
    buf[lo] = '\n';
    memcpy(buf + lo + 1, data, ld + 1);
    uint64_t d = coord_digest(buf, lo + ld + 1);
    free(buf);
    return d;
}

static bool is_broker_node(const broker *b, const char *node)
{
    /* Peers learned from the coordinator count as much as --peer ones. */
    return strcmp(node, b->cfg.id) == 0 || strcmp(node, "coordinator") == 0 ||
           broker_peer((broker *)b, node) != NULL;
}

/* Receive event: merge the broker entries of the sender's clock. A unit's
 * own dot is dropped so the broker clock grows with brokers, not units. */
static void merge_report_clock(broker *b, const vclock *in)
{
    vclock filtered;
    vclock_init(&filtered);
    for (size_t i = 0; i < in->n; i++)
        if (is_broker_node(b, in->e[i].node))
            vclock_set(&filtered, in->e[i].node, in->e[i].counter);
    vclock_merge(&b->clock, &filtered);
}

void h_job_results_post(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *job_id = path_id(req, res, "job");
    if (!job_id)
        return;
    struct result_req *r = calloc(1, sizeof(*r));
    if (!r) {
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    field_error fe;
    if (json_parse_fields(req->body, result_fields, r, &fe) < 0) {
        free(r);
        api_reply_error(res, fe.code, "%s", fe.message);
        return;
    }
    char *data = r->data ? json_canonical(r->data) : strdup("{}");
    if (!data || strlen(data) > BROKER_JSON_FIELD_MAX) {
        free(data);
        free(r);
        api_reply_error(res, API_E_INVALID_FIELD, "data is limited to %d bytes",
                        BROKER_JSON_FIELD_MAX);
        return;
    }

    arb_submission sub = {0};
    snprintf(sub.r.unit_id, sizeof(sub.r.unit_id), "%s", r->unit_id);
    sub.r.attempt = (uint32_t)r->attempt;
    sub.r.digest = content_digest(r->outcome, data);
    sub.clock = r->has_clock ? &r->clock : NULL;

    vclock *assign_clock = malloc(sizeof(*assign_clock));
    pthread_mutex_lock(&b->mu);
    job *j = broker_job(b, job_id);
    if (!j || !assign_clock) {
        pthread_mutex_unlock(&b->mu);
        free(assign_clock);
        free(data);
        free(r);
        if (!j)
            api_reply_error(res, API_E_NOT_FOUND,
                            "no job %s here: results go to the job's owner broker", job_id);
        else
            api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }

    if (j->status == JOB_CANCELLED) {
        json_t *extra = json_pack("{s:b, s:o}", "accepted", 0, "vclock", broker_clock_json(b));
        pthread_mutex_unlock(&b->mu);
        free(assign_clock);
        free(data);
        free(r);
        api_reply_error_extra(res, API_E_CONFLICT, extra, "job %s was cancelled", job_id);
        return;
    }
    arb_attempt *atts = calloc(j->nattempts ? j->nattempts : 1, sizeof(*atts));
    if (!atts) {
        pthread_mutex_unlock(&b->mu);
        free(assign_clock);
        free(data);
        free(r);
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    for (size_t i = 0; i < j->nattempts; i++) {
        attempt *a = &j->attempts[i];
        snprintf(atts[i].unit_id, sizeof(atts[i].unit_id), "%s", a->unit_id);
        atts[i].attempt = a->n;
        atts[i].state = a->state;
        /* Only the answered attempt's clock matters to the rule. */
        if (a->n == sub.r.attempt && strcmp(a->unit_id, sub.r.unit_id) == 0 && a->clock) {
            json_t *cj = json_loads(a->clock, 0, NULL);
            field_error cfe;
            if (cj && vclock_from_json(cj, assign_clock, &cfe) == 0)
                atts[i].assign_clock = assign_clock;
            json_decref(cj);
        }
    }
    arb_result winner = {0};
    if (j->res) {
        snprintf(winner.unit_id, sizeof(winner.unit_id), "%s", j->res->unit_id);
        winner.attempt = j->res->attempt;
        winner.digest = j->res->digest;
    }
    arb_verdict v = arbiter_decide(atts, j->nattempts, j->res ? &winner : NULL, &sub);
    free(atts);
    free(assign_clock);

    json_t *body = NULL;
    unsigned status = 0;
    switch (v) {
    case ARB_ACCEPT: {
        result *rr = calloc(1, sizeof(*rr));
        if (!rr) {
            pthread_mutex_unlock(&b->mu);
            free(data);
            free(r);
            api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
            return;
        }
        snprintf(rr->unit_id, sizeof(rr->unit_id), "%s", r->unit_id);
        rr->attempt = sub.r.attempt;
        snprintf(rr->outcome, sizeof(rr->outcome), "%s", r->outcome);
        rr->data = data;
        data = NULL;
        rr->digest = sub.r.digest;
        rr->at_ms = coord_now_wall_ms();
        if (sub.clock)
            merge_report_clock(b, sub.clock);

        broker_txn_begin(b);
        if (db_insert_result(b->db, j->id, rr) < 0)
            b->txn_failed = true;
        j->res = rr;
        j->status = JOB_COMPLETED;
        j->updated_ms = rr->at_ms;
        jobq_remove(b->queue, j->id);
        hmap_del(b->borrowed, j->id);
        for (size_t i = 0; i < j->nattempts; i++) {
            attempt *a = &j->attempts[i];
            bool is_winner = a->n == rr->attempt && strcmp(a->unit_id, rr->unit_id) == 0;
            if (strcmp(a->unit_district, b->cfg.id) != 0) {
                /* A borrowed unit: its home broker holds the claim. */
                peer *p = broker_peer(b, a->unit_district);
                if (p && a->state == ATT_ACTIVE)
                    broker_queue_release(b, p->url, a->unit_id, j->id, a->n,
                                         is_winner ? "finished" : "revoked");
                if (is_winner)
                    a->state = ATT_FINISHED;
                else if (a->state == ATT_ACTIVE)
                    a->state = ATT_REVOKED;
                continue;
            }
            unit *u = broker_unit(b, a->unit_id);
            if (is_winner) {
                if (u && a->state == ATT_ACTIVE)
                    unit_release(u, j->id);
                a->state = ATT_FINISHED;
            } else if (a->state == ATT_ACTIVE) {
                /* Someone else still holds it: tell them to stop. */
                a->state = ATT_REVOKED;
                a->notified = false;
                if (u) {
                    unit_release(u, j->id);
                    unit_add_notice(u, j->id, a->n, "result_accepted");
                    broker_queue_revocation(b, u->url, j->id, a->n);
                }
            }
        }
        broker_save_job(b, j);
        broker_event(b, "result_accepted", j->id, rr->unit_id, rr->attempt,
                     "outcome %s from %s attempt %u (first to arrive)", rr->outcome, rr->unit_id,
                     rr->attempt);
        broker_commit_or_die(b);
        b->m.results_accepted++;
        status = 201;
        body = json_pack("{s:b, s:o, s:o, s:o}", "accepted", 1, "result", result_to_json(rr), "job",
                         job_to_json(b, j), "vclock", broker_clock_json(b));
        break;
    }
    case ARB_RETRY:
        b->m.results_retried++;
        status = 200;
        body = json_pack("{s:b, s:o, s:o, s:o}", "accepted", 1, "result", result_to_json(j->res),
                         "job", job_to_json(b, j), "vclock", broker_clock_json(b));
        break;
    case ARB_REJECT:
        b->m.results_rejected++;
        broker_txn_begin(b);
        broker_event(b, "result_rejected", j->id, r->unit_id, (uint32_t)r->attempt,
                     "outcome %s from %s attempt %u rejected: %s attempt %u was first", r->outcome,
                     r->unit_id, (unsigned)r->attempt, j->res->unit_id, j->res->attempt);
        broker_commit_or_die(b);
        status = 409;
        body = json_pack("{s:b, s:o, s:o}", "accepted", 0, "result", result_to_json(j->res),
                         "vclock", broker_clock_json(b));
        break;
    default:
        b->m.results_forbidden++;
        break;
    }
    pthread_mutex_unlock(&b->mu);
    free(data);

    switch (v) {
    case ARB_ACCEPT:
    case ARB_RETRY:
        api_reply_json(res, status, body);
        if (v == ARB_ACCEPT)
            broker_request_drain(b);
        break;
    case ARB_REJECT:
        api_reply_error_extra(res, API_E_DUPLICATE_RESULT, body,
                              "job %s already has an accepted result", job_id);
        break;
    case ARB_FORBIDDEN:
        api_reply_error(res, API_E_FORBIDDEN, "unit %s never held an attempt of job %s", r->unit_id,
                        job_id);
        break;
    case ARB_BAD_ATTEMPT:
        api_reply_error(res, API_E_FORBIDDEN, "unit %s did not hold attempt %u of job %s",
                        r->unit_id, (unsigned)r->attempt, job_id);
        break;
    case ARB_CAUSALITY:
        api_reply_error(res, API_E_CAUSALITY,
                        "the result's vclock does not follow the clock of attempt %u's assignment",
                        (unsigned)r->attempt);
        break;
    }
    free(r);
}
