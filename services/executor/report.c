/* Forwarding a crew's report (report.h). The report carries the
 * assignment's clock plus this unit's own dot, whose counter is persisted
 * before the report leaves, so it only ever grows across restarts. */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "coord.h"
#include "table.h"

#define REPORT_TRIES 3

static bool is_result_rejected(long status, const json_t *body)
{
    if (status != 409)
        return false;
    const char *code = json_string_value(json_object_get(json_object_get(body, "error"), "code"));
    return code && strcmp(code, "result_rejected") == 0;
}

static void count(executor *e, uint64_t *counter)
{
    pthread_mutex_lock(&e->metrics_mu);
    (*counter)++;
    pthread_mutex_unlock(&e->metrics_mu);
}

int exec_report(executor *e, const char *job_id, const char *outcome, const json_t *data,
                long *status, json_t **body, char *msg, size_t msglen)
{
    char url[EXEC_URL_MAX + COORD_ID_MAX + 32];
    int64_t attempt;
    vclock vc;
    bool send_vc = true;

    /* 1. Take this report's dot under the lock, and persist it. */
    pthread_mutex_lock(&e->mu);
    assignment *a = exec_find_locked(e, job_id);
    if (!a) {
        pthread_mutex_unlock(&e->mu);
        snprintf(msg, msglen, "no assignment for job %s", job_id);
        return EXEC_E_NOTFOUND;
    }
    attempt = a->attempt;
    snprintf(url, sizeof url, "%s/v1/jobs/%s/results", a->owner_url, a->job_id);
    vclock_copy(&vc, &a->vc);
    uint64_t k = e->report_counter + 1;
    uint64_t seen = vclock_get(&vc, e->cfg.id);
    if (seen >= k)
        k = seen + 1;
    if (vclock_set(&vc, e->cfg.id, k) == 0) {
        e->report_counter = k;
        e->gen++;
    } else {
        /* The clock is full: a clock-less report skips the causality check
         * instead of claiming a false order. */
        send_vc = false;
    }
    pthread_mutex_unlock(&e->mu);
    if (exec_sync(e) != 0) {
        snprintf(msg, msglen, "cannot persist the report counter");
        count(e, &e->metrics.reports_error);
        return EXEC_E_STORAGE;
    }

    /* 2. Forward, without any lock held. */
    json_t *req = json_pack("{s:s, s:I, s:s}", "unit_id", e->cfg.id, "attempt", (json_int_t)attempt,
                            "outcome", outcome);
    if (!req) {
        snprintf(msg, msglen, "out of memory");
        return EXEC_E_GATEWAY;
    }
    if (data)
        json_object_set_new(req, "data", json_deep_copy(data));
    if (send_vc)
        json_object_set_new(req, "vclock", vclock_to_json(&vc));
    http_opts opts = {.connect_timeout_ms = 1000,
                      .timeout_ms = 3000,
                      .retries = REPORT_TRIES - 1,
                      .backoff_ms = 200};
    http_reply rep;
    memset(&rep, 0, sizeof rep);
    int hrc = http_json("POST", url, req, &opts, &rep);
    if (hrc != 0 || rep.status == 0) {
        snprintf(msg, msglen, "owner broker at %s unreachable: %s", url,
                 rep.error[0] ? rep.error : "transport error");
        http_reply_release(&rep);
        json_decref(req);
        count(e, &e->metrics.reports_error);
        return EXEC_E_GATEWAY;
    }
    if (!rep.body) {
        snprintf(msg, msglen, "owner broker answered HTTP %ld without a JSON body", rep.status);
        http_reply_release(&rep);
        json_decref(req);
        count(e, &e->metrics.reports_error);
        return EXEC_E_GATEWAY;
    }

    /* 3. A decision (accepted, retry of the winner, or rejected): record it. */
    bool ok = rep.status >= 200 && rep.status < 300;
    bool rejected = is_result_rejected(rep.status, rep.body);
    count(e, ok         ? &e->metrics.reports_accepted
             : rejected ? &e->metrics.reports_rejected
                        : &e->metrics.reports_error);
    if (ok || rejected) {
        json_t *accepted = json_object_get(rep.body, "accepted");
        json_t *result = json_object_get(rep.body, "result");
        json_t *rec =
            json_pack("{s:s, s:O, s:I, s:b, s:O, s:o}", "outcome", outcome, "data",
                      data ? data : json_null(), "status", (json_int_t)rep.status, "accepted",
                      json_is_boolean(accepted) ? json_is_true(accepted) : ok, "result",
                      result ? result : json_null(), "vclock", vclock_to_json(&vc));
        bool changed = false;
        pthread_mutex_lock(&e->mu);
        a = exec_find_locked(e, job_id);
        /* A newer attempt may have replaced it meanwhile: leave that one. */
        bool had_won = a && json_is_true(json_object_get(a->report, "accepted"));
        bool won = json_is_true(json_object_get(rec, "accepted"));
        /* A won decision is kept (libcoord's asg_report says so). */
        if (a && a->attempt == attempt && rec && asg_report(&a->state, had_won, won) == COORD_OK) {
            json_decref(a->report);
            a->report = rec;
            rec = NULL;
            e->gen++;
            changed = true;
        }
        pthread_mutex_unlock(&e->mu);
        json_decref(rec);
        if (changed && exec_sync(e) != 0)
            service_log("error", "job %s: broker decided (HTTP %ld) but it could not be stored",
                        job_id, rep.status);
    }
    *status = rep.status;
    *body = rep.body;
    rep.body = NULL;
    http_reply_release(&rep);
    json_decref(req);
    return EXEC_OK;
}
