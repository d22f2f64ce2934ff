/* /v1/jobs: submission (idempotent by client id), listing, lookup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

static const char *const severity_names[] = {"low", "medium", "high", "critical", NULL};

struct job_req {
    char id[COORD_ID_MAX + 1];
    bool has_id;
    char type[COORD_ID_MAX + 1];
    int severity;
    id_list caps;
    json_t *location;
    json_t *payload;
};

static const field_spec job_fields[] = {
    {"id", FT_ID, offsetof(struct job_req, id), false, 0, 0, NULL,
     offsetof(struct job_req, has_id)},
    {"type", FT_ID, offsetof(struct job_req, type), true, 0, 0, NULL, 0},
    {"severity", FT_ENUM, offsetof(struct job_req, severity), true, 0, 0, severity_names, 0},
    {"required_capabilities", FT_ID_LIST, offsetof(struct job_req, caps), true, 1, BROKER_MAX_CAPS,
     NULL, 0},
    {"location", FT_ANY, offsetof(struct job_req, location), false, 0, 0, NULL, 0},
    {"payload", FT_OBJECT, offsetof(struct job_req, payload), false, 0, 0, NULL, 0},
    FIELD_END,
};

/* Canonical text of an optional member, NULL when absent; -1 when too big. */
static int canonical_member(json_t *v, char **out)
{
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    char *s = json_canonical(v);
    if (!s)
        return -1;
    if (strlen(s) > BROKER_JSON_FIELD_MAX) {
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void h_jobs_post(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    struct job_req r = {0};
    field_error fe;
    if (json_parse_fields(req->body, job_fields, &r, &fe) < 0) {
        api_reply_error(res, fe.code, "%s", fe.message);
        return;
    }
    char *loc = NULL, *payload = NULL;
    if (canonical_member(r.location, &loc) < 0 || canonical_member(r.payload, &payload) < 0) {
        free(loc);
        id_list_release(&r.caps);
        api_reply_error(res, API_E_INVALID_FIELD, "location and payload are limited to %d bytes",
                        BROKER_JSON_FIELD_MAX);
        return;
    }
    /* Idempotency compares the whole submission except the id itself. */
    json_t *sans_id = json_deep_copy(req->body);
    json_object_del(sans_id, "id");
    /* null means absent: a retry that spells it either way is the same. */
    const char *mk;
    json_t *mv;
    void *tmp;
    json_object_foreach_safe (sans_id, tmp, mk, mv) {
        if (json_is_null(mv))
            json_object_del(sans_id, mk);
    }
    char *canon = json_canonical(sans_id);
    json_decref(sans_id);
    uint64_t digest = canon ? coord_digest(canon, strlen(canon)) : 0;
    free(canon);

    pthread_mutex_lock(&b->mu);
    if (r.has_id) {
        job *old = broker_job(b, r.id);
        if (old) {
            bool same = old->request_digest == digest;
            json_t *body = same ? json_pack("{s:o, s:o}", "job", job_to_json(b, old), "vclock",
                                            broker_clock_json(b))
                                : NULL;
            pthread_mutex_unlock(&b->mu);
            free(loc);
            free(payload);
            id_list_release(&r.caps);
            if (same)
                api_reply_json(res, 200, body);
            else
                api_reply_error(res, API_E_CONFLICT,
                                "job %s exists with a different body (ids are idempotency keys)",
                                r.id);
            return;
        }
    }
    const remote_entry *taken = r.has_id ? hmap_get(b->remote_jobs, r.id) : NULL;
    if (taken) {
        char owner[COORD_ID_MAX + 1];
        snprintf(owner, sizeof(owner), "%s", taken->owner);
        pthread_mutex_unlock(&b->mu);
        free(loc);
        free(payload);
        id_list_release(&r.caps);
        api_reply_error(res, API_E_CONFLICT,
                        "job id %s is already used in district %s (ids are unique in the city)",
                        r.id, owner);
        return;
    }
    job *j = calloc(1, sizeof(*j));
    if (!j) {
        pthread_mutex_unlock(&b->mu);
        free(loc);
        free(payload);
        id_list_release(&r.caps);
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    j->seq = ++b->next_seq;
    if (r.has_id)
        snprintf(j->id, sizeof(j->id), "%s", r.id);
    else
        snprintf(j->id, sizeof(j->id), "%.40s-%llu", b->cfg.id, (unsigned long long)j->seq);
    /* A generated id could collide with a client-chosen one: skip ahead. */
    while (!r.has_id && broker_job(b, j->id)) {
        j->seq = ++b->next_seq;
        snprintf(j->id, sizeof(j->id), "%.40s-%llu", b->cfg.id, (unsigned long long)j->seq);
    }
    snprintf(j->type, sizeof(j->type), "%s", r.type);
    j->sev = (severity)r.severity;
    j->caps = r.caps.v;
    j->ncaps = r.caps.n;
    r.caps.v = NULL;
    j->location = loc;
    j->payload = payload;
    j->request_digest = digest;
    j->status = JOB_QUEUED;
    /* Ours to dispatch: concurrent submissions do not wait for each other
     * and the drain leaves it alone until we are done. */
    j->dispatching = true;
    j->created_ms = j->updated_ms = coord_now_wall_ms();
    if (hmap_put(b->jobs, j->id, j, NULL) < 0 || jobq_push(b->queue, j->id, j->sev, j->seq) < 0) {
        hmap_del(b->jobs, j->id);
        pthread_mutex_unlock(&b->mu);
        job_free(j);
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    b->m.jobs_submitted++;
    broker_txn_begin(b);
    broker_save_job(b, j);
    broker_event(b, "job_submitted", j->id, NULL, 0, "%s severity %s", j->type,
                 severity_str(j->sev));
    broker_commit_or_die(b);
    char id[COORD_ID_MAX + 1];
    snprintf(id, sizeof(id), "%s", j->id);
    pthread_mutex_unlock(&b->mu);

    dispatch_outcome out = broker_dispatch(b, id, true);

    pthread_mutex_lock(&b->mu);
    j = broker_job(b, id);
    if (out == DISPATCH_QUEUED && j->status == JOB_QUEUED) {
        b->m.jobs_queued++;
        broker_txn_begin(b);
        broker_event(b, "job_queued", j->id, NULL, 0, "no free unit with %s%s", j->caps[0],
                     j->ncaps > 1 ? ",..." : "");
        broker_commit_or_die(b);
    }
    json_t *body =
        json_pack("{s:o, s:o}", "job", job_to_json(b, j), "vclock", broker_clock_json(b));
    pthread_mutex_unlock(&b->mu);
    api_reply_json(res, 201, body);
}

static int cmp_job_seq(const void *a, const void *b)
{
    const job *const *x = a, *const *y = b;
    return (*x)->seq < (*y)->seq ? -1 : (*x)->seq > (*y)->seq;
}

static int parse_uint_query(const char *s, uint64_t max, uint64_t *out)
{
    if (!s)
        return 0;
    char *end;
    if (!*s || *s == '-' || *s == '+')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v > max)
        return -1;
    *out = v;
    return 0;
}

void h_jobs_list(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *fstatus = api_query(req, "status");
    job_status want = JOB_QUEUED;
    uint64_t limit = 1000, offset = 0;
    if (fstatus && job_status_parse(fstatus, &want) < 0) {
        api_reply_error(res, API_E_BAD_REQUEST,
                        "status must be queued, assigned, completed or cancelled");
        return;
    }
    if (parse_uint_query(api_query(req, "limit"), 10000, &limit) < 0 ||
        parse_uint_query(api_query(req, "offset"), UINT32_MAX, &offset) < 0) {
        api_reply_error(res, API_E_BAD_REQUEST, "limit is 0..10000 and offset a whole number");
        return;
    }
    bool city;
    if (!list_scope(req, res, &city))
        return;
    pthread_mutex_lock(&b->mu);
    size_t n = hmap_size(b->jobs), k = 0;
    job **arr = calloc(n ? n : 1, sizeof(*arr));
    if (!arr) {
        pthread_mutex_unlock(&b->mu);
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    size_t it = 0;
    const char *key;
    void *val;
    while (hmap_next(b->jobs, &it, &key, &val)) {
        job *j = val;
        if (!fstatus || j->status == want)
            arr[k++] = j;
    }
    qsort(arr, k, sizeof(*arr), cmp_job_seq);
    json_t *list = json_array();
    for (size_t i = offset; i < k && i < offset + limit; i++)
        json_array_append_new(list, job_to_json(b, arr[i]));
    /* Other districts' jobs follow ours (scope=local leaves them out). */
    if (city) {
        json_t *remote = remote_list(b, b->remote_jobs, fstatus, NULL);
        size_t ri;
        json_t *rv;
        json_array_foreach (remote, ri, rv) {
            size_t pos = k + ri;
            if (pos >= offset && pos < offset + limit)
                json_array_append(list, rv);
        }
        k += json_array_size(remote);
        json_decref(remote);
    }
    json_t *body = json_pack("{s:o, s:I, s:o}", "jobs", list, "total", (json_int_t)k, "vclock",
                             broker_clock_json(b));
    pthread_mutex_unlock(&b->mu);
    free(arr);
    api_reply_json(res, 200, body);
}

void h_job_get(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *id = path_id(req, res, "job");
    if (!id)
        return;
    pthread_mutex_lock(&b->mu);
    job *j = broker_job(b, id);
    const remote_entry *e = j ? NULL : hmap_get(b->remote_jobs, id);
    json_t *body =
        j   ? json_pack("{s:o, s:o}", "job", job_to_json(b, j), "vclock", broker_clock_json(b))
        : e ? json_pack("{s:o, s:o}", "job", remote_view(b, e), "vclock", broker_clock_json(b))
            : NULL;
    pthread_mutex_unlock(&b->mu);
    if (!body) {
        api_reply_error(res, API_E_NOT_FOUND, "no job %s", id);
        return;
    }
    api_reply_json(res, 200, body);
}

/* POST /v1/jobs/{id}/cancel: a false alarm or a duplicate call. Every holder
 * is told to stop; the job never takes a unit again. Cancelling a cancelled
 * job answers the same again; a completed job cannot be cancelled. */
void h_job_cancel(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *id = path_id(req, res, "job");
    if (!id)
        return;
    struct {
        const char *reason;
    } r = {NULL};
    static const field_spec cancel_fields[] = {
        {"reason", FT_STRING, 0, false, 1, 256, NULL, 0},
        FIELD_END,
    };
    field_error fe;
    if (req->body && json_parse_fields(req->body, cancel_fields, &r, &fe) < 0) {
        api_reply_error(res, fe.code, "%s", fe.message);
        return;
    }
    pthread_mutex_lock(&b->mu);
    job *j = broker_job(b, id);
    if (!j) {
        bool remote = hmap_get(b->remote_jobs, id) != NULL;
        pthread_mutex_unlock(&b->mu);
        api_reply_error(res, API_E_NOT_FOUND, "no job %s here%s", id,
                        remote ? ": only its owner broker can cancel it" : "");
        return;
    }
    if (j->status == JOB_COMPLETED) {
        json_t *extra =
            json_pack("{s:o, s:o}", "job", job_to_json(b, j), "vclock", broker_clock_json(b));
        pthread_mutex_unlock(&b->mu);
        api_reply_error_extra(res, API_E_CONFLICT, extra, "job %s is completed", id);
        return;
    }
    if (j->status != JOB_CANCELLED) {
        jobq_remove(b->queue, j->id);
        hmap_del(b->borrowed, j->id);
        for (size_t i = 0; i < j->nattempts; i++) {
            attempt *a = &j->attempts[i];
            if (a->state != ATT_ACTIVE)
                continue;
            a->state = ATT_REVOKED;
            a->notified = false;
            if (strcmp(a->unit_district, b->cfg.id) != 0) {
                peer *p = broker_peer(b, a->unit_district);
                if (p)
                    broker_queue_release(b, p->url, a->unit_id, j->id, a->n, "cancelled");
                continue;
            }
            unit *u = broker_unit(b, a->unit_id);
            if (u) {
                unit_release(u, j->id);
                unit_add_notice(u, j->id, a->n, "cancelled");
                broker_queue_revocation(b, u->url, j->id, a->n);
                broker_touch_unit(b, u);
            }
        }
        j->status = JOB_CANCELLED;
        j->updated_ms = coord_now_wall_ms();
        broker_txn_begin(b);
        broker_save_job(b, j);
        broker_event(b, "job_cancelled", j->id, NULL, 0, "cancelled: %s",
                     r.reason ? r.reason : "no reason given");
        broker_commit_or_die(b);
    }
    json_t *body =
        json_pack("{s:o, s:o}", "job", job_to_json(b, j), "vclock", broker_clock_json(b));
    pthread_mutex_unlock(&b->mu);
    broker_request_drain(b);
    api_reply_json(res, 200, body);
}
