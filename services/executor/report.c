/* Forwarding a crew's report (report.h). The report carries the
 * assignment's clock plus this unit's own dot, whose counter is persisted
 * before the report leaves, so it only ever grows across restarts. It goes
 * to the owner district's leader (leader_client.h): the home set for a job
 * of the home district, else the owner's URL from the assignment, and when
 * that fails the owner's URLs as the home broker's GET /v1/peers lists
 * them. The same body is resent throughout: the arbiter answers an exact
 * retry of what it accepted with 200, so a report in flight during a
 * takeover gets the decision it would have got. */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "coord.h"
#include "table.h"

/* Long enough to ride out a takeover (lease 3 s + a campaign) on the
 * crew's one request; one try at one URL gets at most REPORT_TRY_MS. */
#define REPORT_TIMEOUT_MS 8000
#define REPORT_TRY_MS     2000

static bool is_result_rejected(long status, const json_t *body)
{
    if (status != 409)
        return false;
    const char *code = json_string_value(json_object_get(json_object_get(body, "error"), "code"));
    return code && strcmp(code, "result_rejected") == 0;
}

/* The owner district's URLs as the home broker's peer table has them
 * (GET /v1/peers: {"peers":[{"id","url","urls":[...]}]}) into *out, closed
 * (a list, not a door). -1 when the home broker is away or does not list
 * the district. */
static int owner_urls_from_home(executor *e, const char *owner, leader_set *out)
{
    leader_call_opts o = {.http = {.connect_timeout_ms = 500, .timeout_ms = 2000}};
    const char *urls[LEADER_URLS_MAX];
    http_reply r;
    size_t i, n = 0;
    json_t *p, *u, *list = NULL;
    int ret = -1;

    if (leader_call(&e->home, "GET", "/v1/peers", NULL, &o, &r, NULL, 0) == 0 && r.status == 200) {
        json_array_foreach(json_object_get(r.body, "peers"), i, p) {
            const char *id = json_string_value(json_object_get(p, "id"));
            if (id && strcmp(id, owner) == 0) {
                list = json_object_get(p, "urls");
                break;
            }
        }
        json_array_foreach(list, i, u) {
            if (n < LEADER_URLS_MAX && json_is_string(u))
                urls[n++] = json_string_value(u);
        }
        if (n && leader_set_replace(out, urls, n) == 0) {
            out->learn = false;
            ret = 0;
        }
    }
    http_reply_release(&r);
    return ret;
}

/* Sends the report to the owner's leader; rep as leader_call leaves it. */
static int forward(executor *e, const char *owner, const char *owner_url, const char *path,
                   const json_t *req, http_reply *rep, char *used)
{
    leader_call_opts o = {.http = {.connect_timeout_ms = 1000, .timeout_ms = REPORT_TIMEOUT_MS},
                          .try_timeout_ms = REPORT_TRY_MS};
    leader_set other;
    int rc;

    if (leader_set_has(&e->home, owner_url))
        return leader_call(&e->home, "POST", path, req, &o, rep, used, LEADER_URL_MAX);
    /* Another district's job: its URL from the assignment is a door to
     * that district (it learns the leader a follower names). */
    leader_set_init(&other);
    o.http.timeout_ms = REPORT_TIMEOUT_MS / 4; /* then the owner's other URLs */
    rc = leader_set_add_list(&other, owner_url) == 0
             ? leader_call(&other, "POST", path, req, &o, rep, used, LEADER_URL_MAX)
             : -1;
    if (rc != 0 && (rep->status == 0 || rep->status >= 500) && owner[0] &&
        owner_urls_from_home(e, owner, &other) == 0) {
        service_log("info", "report for %s: owner %s unreachable at %s, trying its other URLs",
                    path, owner, owner_url);
        http_reply_release(rep);
        rc = leader_call(&other, "POST", path, req, &o, rep, used, LEADER_URL_MAX);
    }
    leader_set_release(&other);
    return rc;
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
    char path[COORD_ID_MAX + 32], owner_url[EXEC_URL_MAX + 1], owner[COORD_ID_MAX + 1];
    char used[LEADER_URL_MAX] = "";
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
    snprintf(path, sizeof path, "/v1/jobs/%s/results", a->job_id);
    snprintf(owner_url, sizeof owner_url, "%s", a->owner_url);
    snprintf(owner, sizeof owner, "%s", a->owner);
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
    http_reply rep;
    memset(&rep, 0, sizeof rep);
    int hrc = forward(e, owner, owner_url, path, req, &rep, used);
    if (hrc != 0 && (rep.status == 0 || (rep.status >= 300 && rep.status < 400))) {
        snprintf(msg, msglen, "owner broker %s unreachable at %s: %s", owner, used[0] ? used : owner_url,
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
