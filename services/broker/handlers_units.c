/* /v1/units: registration, listing, lookup and heartbeats. */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "geo_json.h"
#include "handlers.h"
#include "lend.h"
#include "txn.h"
#include "units.h"
#include "views.h"

static const char *const unit_set_status[] = {"available", "out_of_service", NULL};

/* A position object: {"lat","lon"} and, in a heartbeat's fix, "age_ms". */
#define POSITION_JSON_MAX 128

struct unit_req {
    char id[COORD_ID_MAX + 1];
    char kind[COORD_ID_MAX + 1];
    id_list caps;
    const char *url;
    int64_t capacity;
    bool has_capacity;
    int status;
    bool has_status;
    json_t *station;
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
    {"station", FT_OBJECT, offsetof(struct unit_req, station), false, 1, POSITION_JSON_MAX, NULL,
     0},
    FIELD_END,
};

/* The required lat and lon of a position object; false: the reply is
 * sent. */
static bool position_of(const json_t *o, const char *what, geo_point *out, api_response *res)
{
    field_error fe;
    int rc = geo_from_json(o, what, out, &fe);

    if (rc == 0)
        api_reply_error(res, API_E_MISSING_FIELD, "%s needs lat and lon", what);
    else if (rc < 0)
        api_reply_error(res, fe.code, "%s", fe.message);
    return rc == 1;
}

static bool url_ok(const char *u)
{
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return false;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
            return false;
    return strlen(u) > 8;
}

void h_units_post(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    struct unit_req r = {0};
    const char *caps[BROKER_MAX_CAPS];
    unit *u;
    bool created, back;
    txn t;

    if (!parse_body(req, res, unit_fields, &r))
        return;
    if (!url_ok(r.url)) {
        id_list_release(&r.caps);
        api_reply_error(res, API_E_INVALID_FIELD, "url must be an http:// or https:// URL");
        return;
    }
    geo_point station = {0, 0};
    if (r.station && !position_of(r.station, "station", &station, res)) {
        id_list_release(&r.caps);
        return;
    }
    for (size_t i = 0; i < r.caps.n && i < BROKER_MAX_CAPS; i++)
        caps[i] = r.caps.v[i];
    unit_reg reg = {
        .id = r.id,
        .kind = r.kind,
        .url = r.url,
        .caps = caps,
        .ncaps = r.caps.n < BROKER_MAX_CAPS ? r.caps.n : BROKER_MAX_CAPS,
        .capacity = r.has_capacity ? (uint32_t)r.capacity : 1,
        .set_status = r.has_status,
        .out_of_service = r.status == 1,
        .has_station = r.station != NULL,
        .station = station,
    };

    pthread_mutex_lock(&b->mu);
    if (!store_ok_or_503(req, res)) {
        id_list_release(&r.caps);
        return;
    }
    txn_begin(b, &t);
    int rc = state_register_unit(&b->st, &reg, coord_now_wall_ms(), coord_now_mono_ms(), &u,
                                 &created, &back);
    id_list_release(&r.caps);
    if (rc < 0) {
        txn_end(&t);
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    if (rc == 1)
        txn_log(&t, "error", "capability index: out of memory for unit %s", u->id);
    txn_put_unit(&t, u);
    txn_event(&t, created ? "unit_registered" : "unit_updated", NULL, u->id, 0, "%s %s at %s%s",
              u->kind, unit_status_str(unit_shown_status(u)), u->url,
              back ? " (back from lost)" : "");
    if (!commit_or_503(&t, req, res))
        return;
    if (back)
        b->m.units_returned++;
    json_t *body = view_one("unit", view_unit(&b->st, u, coord_now_wall_ms()), &b->clock);
    txn_wake_dispatch(&t);
    txn_end(&t);
    api_reply_json(res, created ? 201 : 200, body);
}

static int cmp_unit_ptr(const void *a, const void *b)
{
    const unit *const *x = a, *const *y = b;

    return strcmp((*x)->id, (*y)->id);
}

/* Units built per hold of the lock: a city of synced copies (up to
 * 50,000 per peer) is listed without stalling the broker. */
#define LIST_STEP 1000

typedef char unit_id_t[COORD_ID_MAX + 1];

/* One step of the listing: the units named ids[0..n) that still match the
 * filters (a copy may have changed between two steps; each is as fresh as
 * the step that read it). Caller holds mu. */
static void list_step(broker *b, const unit_id_t *ids, size_t n, bool own, const unit_status *st,
                      const char *cap, uint64_t now, json_t *list)
{
    for (size_t i = 0; i < n; i++) {
        const unit *u = own ? state_unit(&b->st, ids[i]) : NULL;
        const runit *e = own ? NULL : remote_unit(&b->rem, ids[i]);

        if (u && (!st || unit_shown_status(u) == *st) && (!cap || capset_has(&u->caps, cap)))
            json_array_append_new(list, view_unit(&b->st, u, now));
        else if (e && (!st || e->shown == *st) && (!cap || capset_has(&e->caps, cap)))
            json_array_append_new(list, view_remote_unit(e, &b->peers, now));
    }
}

void h_units_list(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *fstatus = api_query(req, "status");
    const char *fcap = api_query(req, "capability");
    unit_status want = UNIT_AVAILABLE;
    const unit_status *st = fstatus ? &want : NULL;
    bool city;

    if (fstatus && unit_status_parse(fstatus, &want) < 0) {
        api_reply_error(res, API_E_BAD_REQUEST,
                        "status must be available, busy, lost or out_of_service");
        return;
    }
    if (fcap && !coord_id_valid(fcap)) {
        api_reply_error(res, API_E_INVALID_ID, "capability is not a valid id");
        return;
    }
    if (!list_scope(req, res, &city))
        return;
    /* The ids first, own units sorted then copies sorted (as the contract
     * orders them), then the views a step at a time. */
    pthread_mutex_lock(&b->mu);
    size_t n = hmap_size(b->st.units), k = 0, nr = 0;
    unit **arr = calloc(n ? n : 1, sizeof(*arr));
    const runit **copies = city ? remote_list_units(&b->rem, st, fcap, &nr) : NULL;
    unit_id_t *ids = arr && (!city || copies) ? malloc((n + nr + 1) * sizeof(*ids)) : NULL;
    if (!ids) {
        pthread_mutex_unlock(&b->mu);
        free(arr);
        free(copies);
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    size_t it = 0;
    const char *key;
    void *val;
    while (hmap_next(b->st.units, &it, &key, &val)) {
        unit *u = val;

        if ((!st || unit_shown_status(u) == want) && (!fcap || capset_has(&u->caps, fcap)))
            arr[k++] = u;
    }
    qsort(arr, k, sizeof(*arr), cmp_unit_ptr);
    for (size_t i = 0; i < k; i++)
        memcpy(ids[i], arr[i]->id, sizeof(ids[i]));
    for (size_t i = 0; i < nr; i++)
        memcpy(ids[k + i], copies[i]->id, sizeof(ids[0]));
    pthread_mutex_unlock(&b->mu);
    free(arr);
    free(copies);

    json_t *list = json_array();
    for (size_t at = 0; list && at < k + nr; at += LIST_STEP) {
        size_t end = at + LIST_STEP < k + nr ? at + LIST_STEP : k + nr;
        uint64_t now = coord_now_wall_ms();

        pthread_mutex_lock(&b->mu);
        if (at < k)
            list_step(b, ids + at, (end < k ? end : k) - at, true, st, fcap, now, list);
        if (end > k)
            list_step(b, ids + (at > k ? at : k), end - (at > k ? at : k), false, st, fcap, now,
                      list);
        pthread_mutex_unlock(&b->mu);
    }
    free(ids);
    pthread_mutex_lock(&b->mu);
    json_t *body = view_one("units", list, &b->clock);
    /* Assignments still in flight are shown once durable (group commit). */
    if (!read_done_or_503(req, res, body))
        return;
    api_reply_json(res, 200, body);
}

void h_unit_get(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *id = path_id(req, res, "unit");

    if (!id)
        return;
    pthread_mutex_lock(&b->mu);
    const unit *u = state_unit(&b->st, id);
    const runit *e = u ? NULL : remote_unit(&b->rem, id);
    uint64_t now = coord_now_wall_ms();
    json_t *body = u   ? view_one("unit", view_unit(&b->st, u, now), &b->clock)
                   : e ? view_one("unit", view_remote_unit(e, &b->peers, now), &b->clock)
                       : NULL;
    if (!read_done_or_503(req, res, body))
        return;
    if (!u && !e) {
        api_reply_error(res, API_E_NOT_FOUND, "no unit %s", id);
        return;
    }
    api_reply_json(res, 200, body);
}

/* Optional heartbeat body: {"jobs":[{"job_id":..., "attempt":n, "owner":...}, ...],
 * "seen":{vclock}}: what the terminal holds active, and the element-wise
 * max of the clocks it has received (units.h: the reconciliation). */
static const field_spec hb_job_fields[] = {
    {"job_id", FT_ID, offsetof(job_ref, job_id), true, 0, 0, NULL, 0},
    {"attempt", FT_INT, offsetof(job_ref, attempt), true, 1, 1000000, NULL, 0},
    {"owner", FT_ID, offsetof(job_ref, owner), false, 0, 0, NULL, 0},
    FIELD_END,
};

struct hb_req {
    json_t *jobs;
    vclock seen;
    bool has_seen;
    json_t *fix;
};

static const field_spec hb_fields[] = {
    {"jobs", FT_ANY, offsetof(struct hb_req, jobs), false, 0, HB_JOBS_JSON_MAX, NULL, 0},
    {"seen", FT_VCLOCK, offsetof(struct hb_req, seen), false, 0, 0, NULL,
     offsetof(struct hb_req, has_seen)},
    {"fix", FT_OBJECT, offsetof(struct hb_req, fix), false, 1, POSITION_JSON_MAX, NULL, 0},
    FIELD_END,
};

/* A heartbeat's latest fix, its age as the terminal measured it (so the
 * two clocks need not agree). */
typedef struct hb_fix {
    bool has;
    geo_point at;
    uint64_t age_ms;
} hb_fix;

/* A year: an age past it is a broken feed, not an old fix. */
#define HB_FIX_AGE_MAX_MS (366ULL * 24 * 3600 * 1000)

static bool parse_fix(const json_t *o, hb_fix *out, api_response *res)
{
    const json_t *age = json_object_get(o, "age_ms");

    if (!position_of(o, "fix", &out->at, res))
        return false;
    if (!json_is_integer(age) || json_integer_value(age) < 0 ||
        (uint64_t)json_integer_value(age) > HB_FIX_AGE_MAX_MS) {
        api_reply_error(res, API_E_INVALID_FIELD, "fix: age_ms must be an integer 0..%llu",
                        (unsigned long long)HB_FIX_AGE_MAX_MS);
        return false;
    }
    out->age_ms = (uint64_t)json_integer_value(age);
    out->has = true;
    return true;
}

/* What the unit says it holds, and its seen entry for this broker (0 when
 * none was sent); false (reply sent) when the body is malformed. */
static bool parse_held(api_request *req, api_response *res, const char *self, job_ref *holds,
                       size_t *nheld, uint64_t *seen_self, hb_fix *fix)
{
    struct hb_req r = {0};
    field_error fe;
    size_t i;
    json_t *v;

    *nheld = 0;
    *seen_self = 0;
    if (!req->body)
        return true;
    if (!parse_body(req, res, hb_fields, &r))
        return false;
    if (r.has_seen)
        *seen_self = vclock_get(&r.seen, self);
    if (r.fix && !parse_fix(r.fix, fix, res))
        return false;
    if (r.jobs && (!json_is_array(r.jobs) || json_array_size(r.jobs) > HB_MAX_JOBS)) {
        api_reply_error(res, API_E_INVALID_FIELD, "jobs must be an array of at most %d",
                        HB_MAX_JOBS);
        return false;
    }
    json_array_foreach (r.jobs, i, v) {
        memset(&holds[*nheld], 0, sizeof(holds[*nheld]));
        if (!json_is_object(v)) {
            api_reply_error(res, API_E_INVALID_FIELD, "jobs[%zu] must be an object", i);
            return false;
        }
        if (json_parse_fields(v, hb_job_fields, &holds[*nheld], &fe) < 0) {
            api_reply_error(res, fe.code, "jobs[%zu]: %s", i, fe.message);
            return false;
        }
        (*nheld)++;
    }
    return true;
}

/* The heartbeat's second way (units.h): what the terminal, having seen
 * it, no longer holds is taken back; caller holds mu inside t. */
static void take_back_unheld(broker *b, txn *t, unit *u, const job_ref *holds, size_t nheld,
                             uint64_t seen_self)
{
    lost_items gone;
    int rc = state_heartbeat_unheld(&b->st, u, holds, nheld, seen_self,
                                    vclock_get(&b->clock, b->cfg.id), coord_now_wall_ms(), &gone);

    if (rc < 0)
        txn_log(t, "error", "unit %s: heartbeat reconciliation: %s", u->id, coord_strerror(rc));
    /* A claim's end is the claim code's (lend.h); own jobs are requeued. */
    size_t k = 0, dropped = 0;
    for (size_t i = 0; i < gone.n; i++) {
        if (!gone.v[i].foreign)
            gone.v[k++] = gone.v[i];
        else
            dropped += lend_drop_claim(t, u, gone.v[i].job_id, gone.v[i].attempt,
                                       "its terminal no longer holds it");
    }
    gone.n = k;
    txn_taken_back(t, u->id, &gone, "its terminal no longer holds it");
    if (gone.n || dropped) {
        txn_put_unit(t, u);
        txn_wake_dispatch(t);
    }
    free(gone.v);
}

void h_unit_heartbeat(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *id = path_id(req, res, "unit");
    job_ref holds[HB_MAX_JOBS];
    revoked_entry revoked[UNIT_MAX_NOTICES + HB_MAX_JOBS];
    size_t nheld;
    uint64_t seen_self;
    hb_fix fix = {0};
    txn t;

    if (!id || !parse_held(req, res, b->cfg.id, holds, &nheld, &seen_self, &fix))
        return;
    pthread_mutex_lock(&b->mu);
    unit *u = state_unit(&b->st, id);
    if (!u) {
        pthread_mutex_unlock(&b->mu);
        api_reply_error(res, API_E_NOT_FOUND, "no unit %s: register again", id);
        return;
    }
    txn_begin(b, &t);
    if (u->refused)
        txn_wake_dispatch(&t); /* it may take work again: see units.h */
    if (state_unit_heard(&b->st, u, coord_now_wall_ms(), coord_now_mono_ms())) {
        b->m.units_returned++;
        b->st.quiet = true; /* travels with the next pull (state.h) */
        txn_event(&t, "unit_returned", NULL, u->id, 0, "heartbeat after being lost");
        b->st.quiet = false;
        txn_wake_dispatch(&t);
    }
    if (fix.has) {
        uint64_t now = coord_now_wall_ms();

        state_unit_fix(&b->st, u, fix.at, now > fix.age_ms ? now - fix.age_ms : 0);
    }
    size_t n = state_heartbeat_revoked(&b->st, u, holds, nheld, revoked,
                                       sizeof(revoked) / sizeof(revoked[0]));
    if (req->body)
        take_back_unheld(b, &t, u, holds, nheld, seen_self);
    /* Ten thousand of these a second: a small reply (GET the unit for more). */
    json_t *body = view_envelope(json_pack("{s:s, s:s, s:o}", "id", u->id, "status",
                                           unit_status_str(unit_shown_status(u)), "revoked",
                                           view_revoked(revoked, n, b->cfg.id)),
                                 &b->clock);
    if (!commit_or_503(&t, req, res)) {
        json_decref(body);
        return;
    }
    txn_end(&t);
    api_reply_json(res, 200, body);
}
