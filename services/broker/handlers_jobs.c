/* /v1/jobs: submission (idempotent by client id), listing, lookup and
 * cancellation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "dispatch.h"
#include "eido.h"
#include "geo_json.h"
#include "handlers.h"
#include "jobs.h"
#include "plans.h"
#include "txn.h"
#include "views.h"

static const char *const severity_names[] = {"low", "medium", "high", "critical", NULL};

struct job_req {
    char id[COORD_ID_MAX + 1];
    bool has_id;
    char type[COORD_ID_MAX + 1];
    int severity;
    id_list caps;
    bool has_caps;
    json_t *response;
    json_t *location;
    json_t *payload;
};

static const field_spec job_fields[] = {
    {"id", FT_ID, offsetof(struct job_req, id), false, 0, 0, NULL,
     offsetof(struct job_req, has_id)},
    {"type", FT_ID, offsetof(struct job_req, type), true, 0, 0, NULL, 0},
    {"severity", FT_ENUM, offsetof(struct job_req, severity), true, 0, 0, severity_names, 0},
    {"required_capabilities", FT_ID_LIST, offsetof(struct job_req, caps), false, 1,
     BROKER_MAX_CAPS, NULL, offsetof(struct job_req, has_caps)},
    /* Lines are read by plans_read_lines; 3 levels: [{"capabilities": [...]}]. */
    {"response", FT_ANY, offsetof(struct job_req, response), false, 3, 32 * 1024, NULL, 0},
    /* Depth and size are capped by the parser (API_JSON_DEPTH_MAX). */
    {"location", FT_ANY, offsetof(struct job_req, location), false, 0, BROKER_JSON_FIELD_MAX, NULL,
     0},
    {"payload", FT_OBJECT, offsetof(struct job_req, payload), false, 0, BROKER_JSON_FIELD_MAX, NULL,
     0},
    FIELD_END,
};

/* Canonical text of an optional member, NULL when absent; -1 when out of
 * memory. */
static int canonical_member(json_t *v, char **out)
{
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    *out = json_canonical(v);
    return *out ? 0 : -1;
}

/* A location is free-form (an address string, or an object with any
 * fields), but an object's lat and lon are read for the closest-unit
 * ranking, so they must be right; and a number, array or boolean is
 * refused, because [34.05, -118.24] looks like a position and would
 * silently rank as none. False: the reply is sent. */
static bool location_ok(const json_t *loc, job_submission *sub, api_response *res)
{
    field_error fe;
    int rc;

    if (!loc || json_is_null(loc) || json_is_string(loc))
        return true;
    if (!json_is_object(loc)) {
        api_reply_error(res, API_E_INVALID_FIELD,
                        "location must be an object ({\"lat\":...,\"lon\":...} and any other "
                        "fields) or a string");
        return false;
    }
    rc = geo_from_json(loc, "location", &sub->geo, &fe);
    if (rc < 0) {
        api_reply_error(res, fe.code, "%s", fe.message);
        return false;
    }
    sub->has_geo = rc == 1;
    return true;
}

/* Idempotency compares the whole submission except the id itself; null
 * means absent, so a retry that spells it either way is the same. */
static uint64_t submission_digest(const json_t *body)
{
    json_t *sans_id = json_deep_copy(body);
    const char *mk;
    json_t *mv;
    void *tmp;
    char *canon;
    uint64_t digest;

    json_object_del(sans_id, "id");
    json_object_foreach_safe (sans_id, tmp, mk, mv) {
        if (json_is_null(mv))
            json_object_del(sans_id, mk);
    }
    canon = json_canonical(sans_id);
    json_decref(sans_id);
    digest = canon ? coord_digest(canon, strlen(canon)) : 0;
    free(canon);
    return digest;
}

/* An id this district already took: the reply is sent and true returned.
 * A peer's copy never blocks an id (a lying peer could block any): the
 * district's own job is the one GET answers for. Caller holds mu. */
static bool id_taken(broker *b, api_response *res, const struct job_req *r, uint64_t digest)
{
    const job *old = r->has_id ? state_job(&b->st, r->id) : NULL;

    if (old && old->request_digest == digest)
        api_reply_json(res, 200, view_one("job", view_job(&b->st, old), &b->clock));
    else if (old)
        api_reply_error(res, API_E_CONFLICT,
                        "job %s exists with a different body (ids are idempotency keys)", r->id);
    return old != NULL;
}

/* The reply to a staged submission once its dispatch is over: waits until
 * the job is durable (its batch, which the dispatch's reservation usually
 * joined, so one commit carries both), then 201 with the job, assigned or
 * queued; 503 when that batch failed (nothing was acknowledged). t is the
 * submission's transaction, already unlocked (txn_unlock). */
static void submission_reply(broker *b, txn *t, const char *id, dispatch_outcome out,
                             api_response *res)
{
    txn q;

    if (!txn_end(t)) {
        broker_reply_storage_failed(b, res);
        return;
    }
    pthread_mutex_lock(&b->mu);
    txn_begin(b, &q);
    job *j = state_job(&b->st, id);
    if (j && out == DISPATCH_QUEUED && j->status == JOB_QUEUED && txn_store_ok(b)) {
        b->m.jobs_queued++;
        txn_event(&q, "job_queued", j->id, NULL, 0, "no free unit with %s%s", j->caps.v[0],
                  j->caps.n > 1 ? ",..." : "");
    } else if (j && j->status == JOB_ASSIGNED && job_open_line(j) >= 0 && txn_store_ok(b)) {
        txn_event(&q, "job_partly_assigned", j->id, NULL, 0,
                  "line %d still short of units: waits in the queue for them", job_open_line(j));
    }
    /* The job is durable: a lost "queued" event does not undo it (its
     * batch failing reloads memory, which still holds the job). */
    if (!txn_stage(&q))
        j = state_job(&b->st, id);
    json_t *body = j ? view_one("job", view_job(&b->st, j), &b->clock) : NULL;
    (void)txn_end(&q);
    if (!body) {
        broker_reply_storage_failed(b, res);
        return;
    }
    api_reply_json(res, 201, body);
}

/* A submission whose executor call runs on the outgoing pool, so the HTTP
 * worker that took it serves others meanwhile; its reply (still carrying
 * the assignment when the unit took it) is sent when the call is over.
 * The submission's staged transaction travels with it (a txn holds no
 * pointer into itself): txn_end, on the pool thread, waits for the job's
 * batch and fires its effects. */
struct submission {
    broker *b;
    txn t;
    char id[COORD_ID_MAX + 1];
    api_deferred *d;
};

static void submission_run(void *arg, bool stopping)
{
    struct submission *s = arg;
    api_response res = {0};
    dispatch_outcome out = DISPATCH_QUEUED;

    /* Stopping: no new calls; the job waits in the queue (and the store). */
    if (stopping)
        dispatch_release(s->b, s->id);
    else
        out = dispatch_job(s->b, s->id, true);
    submission_reply(s->b, &s->t, s->id, out, &res);
    api_deferred_reply(s->d, &res);
    free(s);
}

static void submission_start(void *arg, api_deferred *d)
{
    struct submission *s = arg;

    s->d = d;
    outpool_submit(&s->b->calls, submission_run, s);
}

/* Dispatches the staged job id (t: its transaction, unlocked): on the pool
 * with the reply deferred, or, with every pool slot taken, not at all: the
 * job stays queued for the drain thread and the reply says so, rather than
 * hold this worker for the call. A transport that cannot defer dispatches
 * inline. */
static void submission_dispatch(api_request *req, api_response *res, broker *b, txn *t,
                                const char *id)
{
    if (!api_can_defer(req)) {
        dispatch_outcome out = dispatch_job(b, id, true);

        submission_reply(b, t, id, out, res);
        return;
    }
    if (outpool_reserve(&b->calls)) {
        struct submission *s = malloc(sizeof(*s));

        if (s) {
            s->b = b;
            s->t = *t;
            snprintf(s->id, sizeof(s->id), "%s", id);
            api_reply_defer(res, submission_start, s);
            return;
        }
        outpool_unreserve(&b->calls);
    }
    dispatch_release(b, id);
    submission_reply(b, t, id, DISPATCH_QUEUED, res);
}

/* What the incident asks for: its `response` lines, else the plan for its
 * type and severity, else required_capabilities as one line of one unit.
 * False and the 400 sent when it asks for nothing or in two ways. */
static bool job_lines(broker *b, api_response *res, const struct job_req *r, line_spec *lines,
                      job_submission *sub)
{
    field_error fe;
    bool has_resp = r->response && !json_is_null(r->response);

    if (has_resp && r->has_caps) {
        api_reply_error(res, API_E_INVALID_FIELD,
                        "give response or required_capabilities, not both "
                        "(required_capabilities is the one-line, one-unit response)");
        return false;
    }
    if (has_resp) {
        if (plans_read_lines(r->response, lines, &sub->nlines, &fe) < 0) {
            api_reply_error(res, fe.code, "%s", fe.message);
            return false;
        }
        sub->lines = lines;
        return true;
    }
    /* The district's run card for the type beats the bare shorthand:
     * plans are read once at start, so no lock is needed. */
    const response_plan *p = plans_find(&b->cfg.plans, r->type, (severity)r->severity);
    if (p) {
        sub->lines = p->lines;
        sub->nlines = p->nlines;
        sub->plan = p->name;
        return true;
    }
    if (!r->has_caps) {
        api_reply_error(res, API_E_MISSING_FIELD,
                        "missing field 'required_capabilities' (or 'response'; no response plan "
                        "covers type %s severity %s)",
                        r->type, severity_str((severity)r->severity));
        return false;
    }
    return true;
}

void h_jobs_post(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    struct job_req r = {0};
    const char *caps[BROKER_MAX_CAPS];
    static _Thread_local line_spec lines[BROKER_MAX_LINES]; /* 17 KiB: off the stack */
    char id[COORD_ID_MAX + 1];
    job *j;
    txn t;

    if (!parse_body(req, res, job_fields, &r))
        return;
    job_submission sub = {
        .id = r.has_id ? r.id : NULL,
        .type = r.type,
        .sev = (severity)r.severity,
        .caps = caps,
        .ncaps = r.caps.n < BROKER_MAX_CAPS ? r.caps.n : BROKER_MAX_CAPS,
    };
    if (!job_lines(b, res, &r, lines, &sub))
        goto out;
    for (size_t i = 0; i < sub.ncaps; i++)
        caps[i] = r.caps.v[i];
    if (!location_ok(r.location, &sub, res)) {
        id_list_release(&r.caps);
        return;
    }
    if (canonical_member(r.location, &sub.location) < 0 ||
        canonical_member(r.payload, &sub.payload) < 0) {
        free(sub.location);
        id_list_release(&r.caps);
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    sub.digest = submission_digest(req->body);

    txn_lock(b);
    if (id_taken(b, res, &r, sub.digest)) {
        pthread_mutex_unlock(&b->mu);
        goto out;
    }
    if (!store_ok_or_503(req, res))
        goto out;
    txn_begin(b, &t);
    if (state_submit(&b->st, &sub, coord_now_wall_ms(), &j) < 0) {
        txn_end(&t);
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        goto out;
    }
    b->m.jobs_submitted++;
    txn_put_job(&t, j);
    txn_event(&t, "job_submitted", j->id, NULL, 0, "%s severity %s%s%s", j->type,
              severity_str(j->sev), j->plan ? ", response plan " : "", j->plan ? j->plan : "");
    if (!stage_or_503(&t, req, res))
        goto out;
    snprintf(id, sizeof(id), "%s", j->id);
    /* Not yet durable: the job is ours to dispatch (marked dispatching),
     * and its reservation joins the same open batch, so the job and its
     * pending attempt usually share one commit; that commit is durable
     * before the executor is called, and the job's before we answer. */
    txn_unlock(&t);
    submission_dispatch(req, res, b, &t, id);
out:
    free(sub.location);
    free(sub.payload);
    id_list_release(&r.caps);
}

static int cmp_job_seq(const void *a, const void *b)
{
    const job *const *x = a, *const *y = b;

    return (*x)->seq < (*y)->seq ? -1 : (*x)->seq > (*y)->seq;
}

void h_jobs_list(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *fstatus = api_query(req, "status");
    const char *bad_page = "limit is 0..10000 and offset a whole number";
    job_status want = JOB_QUEUED;
    uint64_t limit = 1000, offset = 0;
    bool city;

    if (fstatus && job_status_parse(fstatus, &want) < 0) {
        api_reply_error(res, API_E_BAD_REQUEST,
                        "status must be queued, assigned, completed or cancelled");
        return;
    }
    if (!query_uint(req, res, "limit", 0, 10000, &limit, bad_page) ||
        !query_uint(req, res, "offset", 0, UINT32_MAX, &offset, bad_page) ||
        !list_scope(req, res, &city))
        return;
    pthread_mutex_lock(&b->mu);
    size_t n = hmap_size(b->st.jobs), k = 0, nr = 0;
    job **arr = calloc(n ? n : 1, sizeof(*arr));
    const rjob **copies = city ? remote_list_jobs(&b->rem, fstatus ? &want : NULL, &nr) : NULL;
    if (!arr || (city && !copies)) {
        pthread_mutex_unlock(&b->mu);
        free(arr);
        free(copies);
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    size_t it = 0;
    const char *key;
    void *val;
    while (hmap_next(b->st.jobs, &it, &key, &val)) {
        job *j = val;

        if (!fstatus || j->status == want)
            arr[k++] = j;
    }
    qsort(arr, k, sizeof(*arr), cmp_job_seq);
    /* Ours by arrival, then other districts' by id (scope=local leaves them
     * out); one page of the whole. */
    uint64_t now = coord_now_wall_ms();
    json_t *list = json_array();
    for (size_t i = offset; i < k + nr && i < offset + limit; i++)
        json_array_append_new(list, i < k ? view_job(&b->st, arr[i])
                                          : view_remote_job(copies[i - k], &b->peers, now));
    json_t *body = view_envelope(
        json_pack("{s:o, s:I}", "jobs", list, "total", (json_int_t)(k + nr)), &b->clock);
    free(arr);
    free(copies);
    if (!read_done_or_503(req, res, body))
        return;
    api_reply_json(res, 200, body);
}

/* The views of the units a job names, by id, for its EIDO resources
 * (kind, capabilities, status). Caller holds mu. */
static json_t *job_units(broker *b, const json_t *jv, uint64_t now)
{
    json_t *units = json_object(), *a;
    size_t i;

    json_array_foreach (json_object_get(jv, "attempts"), i, a) {
        const char *uid = json_string_value(json_object_get(a, "unit_id"));
        const unit *u = uid ? state_unit(&b->st, uid) : NULL;
        const runit *ru = uid && !u ? remote_unit(&b->rem, uid) : NULL;

        if (u)
            json_object_set_new(units, uid, view_unit(&b->st, u, now));
        else if (ru)
            json_object_set_new(units, uid, view_remote_unit(ru, &b->peers, now));
    }
    return units;
}

void h_job_get(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *id = path_id(req, res, "job");
    const char *format = api_query(req, "format");
    bool eido = format && strcmp(format, "eido") == 0;
    uint64_t now = coord_now_wall_ms();
    json_t *units = NULL;

    if (!id)
        return;
    if (format && !eido && strcmp(format, "json") != 0) {
        api_reply_error(res, API_E_BAD_REQUEST, "format must be json or eido");
        return;
    }
    pthread_mutex_lock(&b->mu);
    const job *j = state_job(&b->st, id);
    const rjob *e = j ? NULL : remote_job(&b->rem, id);
    json_t *body = j   ? view_one("job", view_job(&b->st, j), &b->clock)
                   : e ? view_one("job", view_remote_job(e, &b->peers, now), &b->clock)
                       : NULL;
    if (eido && body)
        units = job_units(b, json_object_get(body, "job"), now);
    /* A job, attempt or result still in flight is shown once durable. */
    if (!read_done_or_503(req, res, body)) {
        json_decref(units);
        return;
    }
    if (!j && !e) {
        api_reply_error(res, API_E_NOT_FOUND, "no job %s", id);
        return;
    }
    if (eido) {
        /* Built off the lock from the same view the JSON reply shows. */
        json_t *o = eido_job(json_object_get(body, "job"), units, b->cfg.id);

        json_decref(units);
        json_decref(body);
        if (!o) {
            api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
            return;
        }
        body = o;
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
    struct {
        const char *reason;
    } r = {NULL};
    static const field_spec cancel_fields[] = {
        {"reason", FT_STRING, 0, false, 1, 256, NULL, 0},
        FIELD_END,
    };
    txn t;

    if (!id || (req->body && !parse_body(req, res, cancel_fields, &r)))
        return;
    pthread_mutex_lock(&b->mu);
    job *j = state_job(&b->st, id);
    if (!j) {
        bool elsewhere = remote_job(&b->rem, id) != NULL;

        pthread_mutex_unlock(&b->mu);
        api_reply_error(res, API_E_NOT_FOUND, "no job %s here%s", id,
                        elsewhere ? ": only its owner broker can cancel it" : "");
        return;
    }
    if (j->status == JOB_COMPLETED) {
        json_t *extra = view_one("job", view_job(&b->st, j), &b->clock);

        pthread_mutex_unlock(&b->mu);
        api_reply_error_extra(res, API_E_CONFLICT, extra, "job %s is completed", id);
        return;
    }
    if (!store_ok_or_503(req, res))
        return;
    txn_begin(b, &t);
    if (j->status != JOB_CANCELLED) {
        followups fu = {0};

        if (state_cancel(&b->st, j, coord_now_wall_ms(), &fu) == 0) {
            txn_followups(&t, &fu);
            txn_put_job(&t, j);
            txn_event(&t, "job_cancelled", j->id, NULL, 0, "cancelled: %s",
                      r.reason ? r.reason : "no reason given");
        } else {
            txn_log(&t, "error", "job %s: cannot cancel from %s", j->id, job_status_str(j->status));
        }
        followups_release(&fu);
    }
    if (!commit_or_503(&t, req, res))
        return;
    json_t *body = view_one("job", view_job(&b->st, j), &b->clock);
    txn_wake_dispatch(&t);
    txn_end(&t);
    api_reply_json(res, 200, body);
}
