/* /v1/units: registration, listing, heartbeats. */
#include <stdlib.h>
#include <string.h>

#include "broker.h"

static const char *const unit_set_status[] = {"available", "out_of_service", NULL};

struct unit_req {
    char id[COORD_ID_MAX + 1];
    char kind[COORD_ID_MAX + 1];
    id_list caps;
    const char *url;
    int64_t capacity;
    bool has_capacity;
    int status;
    bool has_status;
};

static const field_spec unit_fields[] = {
    {"id", FT_ID, offsetof(struct unit_req, id), true, 0, 0, NULL, 0},
    {"kind", FT_ID, offsetof(struct unit_req, kind), true, 0, 0, NULL, 0},
    {"capabilities", FT_ID_LIST, offsetof(struct unit_req, caps), true, 0, BROKER_MAX_CAPS, NULL,
     0},
    {"url", FT_STRING, offsetof(struct unit_req, url), true, 1, BROKER_URL_MAX - 1, NULL, 0},
    {"capacity", FT_INT, offsetof(struct unit_req, capacity), false, 1, BROKER_MAX_CAPACITY, NULL,
     offsetof(struct unit_req, has_capacity)},
    {"status", FT_ENUM, offsetof(struct unit_req, status), false, 0, 0, unit_set_status,
     offsetof(struct unit_req, has_status)},
    FIELD_END,
};

static bool url_ok(const char *u)
{
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return false;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
            return false;
    return strlen(u) > 8;
}

static void reply_field_error(api_response *res, const field_error *fe)
{
    api_reply_error(res, fe->code, "%s", fe->message);
}

static void set_caps(char (**dst)[COORD_ID_MAX + 1], size_t *n, id_list *l)
{
    free(*dst);
    *dst = l->v;
    *n = l->n;
    l->v = NULL;
    l->n = 0;
}

void h_units_post(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    struct unit_req r = {0};
    field_error fe;
    if (json_parse_fields(req->body, unit_fields, &r, &fe) < 0) {
        reply_field_error(res, &fe);
        return;
    }
    if (!url_ok(r.url)) {
        id_list_release(&r.caps);
        api_reply_error(res, API_E_INVALID_FIELD, "url must be an http:// or https:// URL");
        return;
    }
    uint32_t capacity = r.has_capacity ? (uint32_t)r.capacity : 1;

    pthread_mutex_lock(&b->mu);
    unit *u = broker_unit(b, r.id);
    bool created = u == NULL;
    if (created) {
        u = calloc(1, sizeof(*u));
        if (!u || hmap_put(b->units, r.id, u, NULL) < 0) {
            free(u);
            pthread_mutex_unlock(&b->mu);
            id_list_release(&r.caps);
            api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
            return;
        }
        snprintf(u->id, sizeof(u->id), "%s", r.id);
        u->registered_ms = coord_now_wall_ms();
    }
    if (u->held && capacity > u->capacity) {
        struct held *nh = realloc(u->held, capacity * sizeof(*nh));
        if (!nh) {
            pthread_mutex_unlock(&b->mu);
            id_list_release(&r.caps);
            api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
            return;
        }
        u->held = nh;
    }
    snprintf(u->kind, sizeof(u->kind), "%s", r.kind);
    broker_unindex_unit(b, u);
    set_caps(&u->caps, &u->ncaps, &r.caps);
    if (broker_index_unit(b, u) < 0)
        service_log("error", "capability index: out of memory for unit %s", u->id);
    snprintf(u->url, sizeof(u->url), "%s", r.url);
    /* Never below what it holds now: the held array must stay valid. */
    u->capacity = capacity > u->load ? capacity : (u->load ? u->load : 1);
    if (r.has_status)
        u->out_of_service = r.status == 1;
    /* Registration is a sign of life. */
    u->last_hb_wall_ms = coord_now_wall_ms();
    bool back = fd_heartbeat(b->fd, u->id, coord_now_mono_ms()) == 1 || u->lost;
    u->lost = false;

    broker_txn_begin(b);
    broker_save_unit(b, u);
    broker_event(b, created ? "unit_registered" : "unit_updated", NULL, u->id, 0, "%s %s at %s%s",
                 u->kind, unit_status_str(unit_current_status(u)), u->url,
                 back ? " (back from lost)" : "");
    broker_commit_or_die(b);
    if (back)
        b->m.units_returned++;
    json_t *body =
        json_pack("{s:o, s:o}", "unit", unit_to_json(b, u), "vclock", broker_clock_json(b));
    pthread_mutex_unlock(&b->mu);
    broker_request_drain(b);
    api_reply_json(res, created ? 201 : 200, body);
}

static int cmp_unit_ptr(const void *a, const void *b)
{
    const unit *const *x = a, *const *y = b;
    return strcmp((*x)->id, (*y)->id);
}

static bool unit_has_cap(const unit *u, const char *cap)
{
    for (size_t i = 0; i < u->ncaps; i++)
        if (strcmp(u->caps[i], cap) == 0)
            return true;
    return false;
}

void h_units_list(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *fstatus = api_query(req, "status");
    const char *fcap = api_query(req, "capability");
    unit_status want = UNIT_AVAILABLE;
    if (fstatus && unit_status_parse(fstatus, &want) < 0) {
        api_reply_error(res, API_E_BAD_REQUEST,
                        "status must be available, busy, lost or out_of_service");
        return;
    }
    if (fcap && !coord_id_valid(fcap)) {
        api_reply_error(res, API_E_INVALID_ID, "capability is not a valid id");
        return;
    }
    bool city;
    if (!list_scope(req, res, &city))
        return;
    pthread_mutex_lock(&b->mu);
    size_t n = hmap_size(b->units), k = 0;
    unit **arr = calloc(n ? n : 1, sizeof(*arr));
    if (!arr) {
        pthread_mutex_unlock(&b->mu);
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    size_t it = 0;
    const char *key;
    void *val;
    while (hmap_next(b->units, &it, &key, &val)) {
        unit *u = val;
        if (fstatus && unit_current_status(u) != want)
            continue;
        if (fcap && !unit_has_cap(u, fcap))
            continue;
        arr[k++] = u;
    }
    qsort(arr, k, sizeof(*arr), cmp_unit_ptr);
    json_t *list = json_array();
    for (size_t i = 0; i < k; i++)
        json_array_append_new(list, unit_to_json(b, arr[i]));
    /* Then every other district's units, from the synced copies. */
    if (city) {
        json_t *remote = remote_list(b, b->remote_units, fstatus, fcap);
        json_array_extend(list, remote);
        json_decref(remote);
    }
    json_t *body = json_pack("{s:o, s:o}", "units", list, "vclock", broker_clock_json(b));
    pthread_mutex_unlock(&b->mu);
    free(arr);
    api_reply_json(res, 200, body);
}

void h_unit_get(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *id = path_id(req, res, "unit");
    if (!id)
        return;
    pthread_mutex_lock(&b->mu);
    unit *u = broker_unit(b, id);
    const remote_entry *e = u ? NULL : hmap_get(b->remote_units, id);
    json_t *body =
        u   ? json_pack("{s:o, s:o}", "unit", unit_to_json(b, u), "vclock", broker_clock_json(b))
        : e ? json_pack("{s:o, s:o}", "unit", remote_view(b, e), "vclock", broker_clock_json(b))
            : NULL;
    pthread_mutex_unlock(&b->mu);
    if (!body) {
        api_reply_error(res, API_E_NOT_FOUND, "no unit %s", id);
        return;
    }
    api_reply_json(res, 200, body);
}

/* Optional heartbeat body: {"jobs":[{"job_id":..., "attempt":n}, ...]}. */
#define HB_MAX_JOBS 256

struct hb_job {
    char job_id[COORD_ID_MAX + 1];
    int64_t attempt;
};

static const field_spec hb_job_fields[] = {
    {"job_id", FT_ID, offsetof(struct hb_job, job_id), true, 0, 0, NULL, 0},
    {"attempt", FT_INT, offsetof(struct hb_job, attempt), true, 1, 1000000, NULL, 0},
    FIELD_END,
};

struct hb_req {
    json_t *jobs;
};

static const field_spec hb_fields[] = {
    {"jobs", FT_ANY, offsetof(struct hb_req, jobs), false, 0, 0, NULL, 0},
    FIELD_END,
};

static void add_revoked(json_t *arr, const char *job_id, uint32_t n, const char *owner,
                        const char *reason)
{
    size_t i;
    json_t *v;
    json_array_foreach (arr, i, v) {
        if (strcmp(json_string_value(json_object_get(v, "job_id")), job_id) == 0)
            return;
    }
    json_array_append_new(arr, json_pack("{s:s, s:i, s:s, s:s}", "job_id", job_id, "attempt",
                                         (int)n, "owner", owner, "reason", reason));
}

void h_unit_heartbeat(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *id = path_id(req, res, "unit");
    if (!id)
        return;
    struct hb_req r = {0};
    struct hb_job held[HB_MAX_JOBS];
    size_t nheld = 0;
    field_error fe;
    if (req->body) {
        if (json_parse_fields(req->body, hb_fields, &r, &fe) < 0) {
            reply_field_error(res, &fe);
            return;
        }
        if (r.jobs && (!json_is_array(r.jobs) || json_array_size(r.jobs) > HB_MAX_JOBS)) {
            api_reply_error(res, API_E_INVALID_FIELD, "jobs must be an array of at most %d",
                            HB_MAX_JOBS);
            return;
        }
        size_t i;
        json_t *v;
        json_array_foreach (r.jobs, i, v) {
            memset(&held[nheld], 0, sizeof(held[nheld]));
            if (!json_is_object(v)) {
                api_reply_error(res, API_E_INVALID_FIELD, "jobs[%zu] must be an object", i);
                return;
            }
            if (json_parse_fields(v, hb_job_fields, &held[nheld], &fe) < 0) {
                api_reply_error(res, fe.code, "jobs[%zu]: %s", i, fe.message);
                return;
            }
            nheld++;
        }
    }

    pthread_mutex_lock(&b->mu);
    unit *u = broker_unit(b, id);
    if (!u) {
        pthread_mutex_unlock(&b->mu);
        api_reply_error(res, API_E_NOT_FOUND, "no unit %s: register again", id);
        return;
    }
    u->last_hb_wall_ms = coord_now_wall_ms();
    bool back = fd_heartbeat(b->fd, u->id, coord_now_mono_ms()) == 1 || u->lost;
    if (back) {
        u->lost = false;
        b->m.units_returned++;
        broker_txn_begin(b);
        broker_event(b, "unit_returned", NULL, u->id, 0, "heartbeat after being lost");
        broker_commit_or_die(b);
    }
    json_t *revoked = json_array();
    for (size_t i = 0; i < u->nnotices; i++)
        add_revoked(revoked, u->notices[i].job_id, u->notices[i].attempt, b->cfg.id,
                    u->notices[i].reason);
    u->nnotices = 0;
    for (size_t i = 0; i < nheld; i++) {
        job *j = broker_job(b, held[i].job_id);
        if (!j)
            continue; /* not ours: a mutual-aid job is its owner's business */
        for (size_t k = 0; k < j->nattempts; k++) {
            attempt *a = &j->attempts[k];
            if (a->n != (uint32_t)held[i].attempt || strcmp(a->unit_id, u->id) != 0)
                continue;
            if (a->state == ATT_REVOKED || a->state == ATT_FINISHED) {
                const char *why = j->status == JOB_COMPLETED   ? "result_accepted"
                                  : j->status == JOB_CANCELLED ? "cancelled"
                                                               : "redeployed";
                add_revoked(revoked, j->id, a->n, b->cfg.id, why);
                a->notified = true;
            }
        }
    }
    /* Ten thousand of these a second: a small reply (GET the unit for more). */
    json_t *body = json_pack("{s:s, s:s, s:o, s:o}", "id", u->id, "status",
                             unit_status_str(unit_current_status(u)), "revoked", revoked, "vclock",
                             broker_clock_json(b));
    pthread_mutex_unlock(&b->mu);
    if (back)
        broker_request_drain(b);
    api_reply_json(res, 200, body);
}
