/* The city's sync, server side: GET /v1/metadata (a peer's pull of what
 * changed since its last one, from the change list), GET /v1/peers (sync
 * health per peer) and POST /v1/notify (a peer's "pull me soon"). */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "emergency.h"
#include "handlers.h"
#include "views.h"

#define PULL_PAGE_DEFAULT 500
#define PULL_PAGE_MAX     5000

void h_metadata_get(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *epoch = api_query(req, "epoch"), *form = api_query(req, "form");
    uint64_t since = 0, limit = PULL_PAGE_DEFAULT;

    if (!query_uint(req, res, "since", 0, INT64_MAX, &since,
                    "since must be a whole number below 2^63") ||
        !query_uint(req, res, "limit", 1, PULL_PAGE_MAX, &limit, "limit must be 1..5000"))
        return;
    if (form && strcmp(form, "compact") != 0 && strcmp(form, "full") != 0) {
        api_reply_error(res, API_E_BAD_REQUEST, "form must be compact or full");
        return;
    }
    /* Ten thousand units joining at once are 190,000 copies across a city
     * of 20: each one's JSON, built here and read at the peer, is what
     * the join storm costs. */
    bool compact = form && strcmp(form, "compact") == 0;
    pthread_mutex_lock(&b->mu);
    /* Another incarnation's versions mean nothing here: send everything. */
    bool full = !epoch || strcmp(epoch, b->epoch) != 0;
    /* This incarnation never reached since: the caller is confused or
     * hostile, and a full page would make it the cheapest way to download
     * the district over and over. */
    if (!full && since > b->st.meta_version) {
        uint64_t v = b->st.meta_version;

        pthread_mutex_unlock(&b->mu);
        api_reply_error(res, API_E_BAD_REQUEST,
                        "since %llu is ahead of version %llu of epoch %s (pull with since=0)",
                        (unsigned long long)since, (unsigned long long)v, b->epoch);
        return;
    }
    if (full)
        since = 0;
    json_t *units = json_array(), *jobs = json_array();
    uint64_t version = since, now = coord_now_wall_ms();
    size_t count = 0;
    bool more = false;
    for (const change_node *n = state_changes_after(&b->st, since); n;
         n = state_change_next(&b->st, n)) {
        if (count == limit) {
            more = true;
            break;
        }
        if (n->is_job)
            json_array_append_new(jobs, view_job(&b->st, (const job *)n));
        else if (compact)
            json_array_append_new(units, view_unit_compact(&b->st, (const unit *)n, now));
        else
            json_array_append_new(units, view_unit(&b->st, (const unit *)n, now));
        version = n->version;
        count++;
    }
    if (!more && b->st.meta_version > version)
        version = b->st.meta_version;
    json_t *body = view_envelope(
        json_pack("{s:s, s:s, s:s, s:I, s:b, s:b, s:o, s:o, s:s, s:I, s:s}", "broker", b->cfg.id,
                  "url", b->self_url, "epoch", b->epoch, "version", (json_int_t)version, "full",
                  full, "more", more, "units", units, "jobs", jobs, "emergency",
                  severity_str(b->emergency), "emergency_set_ms", (json_int_t)b->emergency_set_ms,
                  "form", compact ? "compact" : "full"),
        &b->clock);
    /* A peer copies no change before it is durable (group commit). */
    if (!read_done_or_503(req, res, body))
        return;
    api_reply_json(res, 200, body);
}

void h_peers_get(api_request *req, api_response *res)
{
    broker *b = req->ctx;

    pthread_mutex_lock(&b->mu);
    uint64_t interval = emergency_sync_interval(b);
    uint64_t now = coord_now_wall_ms(), mono = coord_now_mono_ms();
    json_t *arr = json_array();
    for (size_t i = 0; i < b->peers.n; i++)
        json_array_append_new(arr, view_peer(&b->peers.v[i], interval, now, mono));
    json_t *body =
        view_envelope(json_pack("{s:o, s:I, s:s, s:I}", "peers", arr, "sync_interval_ms",
                                (json_int_t)interval, "emergency", severity_str(b->emergency),
                                "version", (json_int_t)b->st.meta_version),
                      &b->clock);
    pthread_mutex_unlock(&b->mu);
    api_reply_json(res, 200, body);
}

struct notify_req {
    char broker[COORD_ID_MAX + 1];
    int64_t version;
    vclock clock;
    bool has_clock;
};

static const field_spec notify_fields[] = {
    {"broker", FT_ID, offsetof(struct notify_req, broker), true, 0, 0, NULL, 0},
    {"version", FT_INT, offsetof(struct notify_req, version), false, 0, INT64_MAX, NULL, 0},
    {"vclock", FT_VCLOCK, offsetof(struct notify_req, clock), false, 0, 0, NULL,
     offsetof(struct notify_req, has_clock)},
    FIELD_END,
};

/* A peer signals that it changed: pull it soon. Only a hint; the pull is
 * what carries (and merges) the clock. */
void h_notify_post(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    struct notify_req *r = calloc(1, sizeof(*r));

    if (!r) {
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    if (!parse_body(req, res, notify_fields, r)) {
        free(r);
        return;
    }
    pthread_mutex_lock(&b->mu);
    peer *p = peertab_find(&b->peers, r->broker);
    if (p) {
        /* However many signals come, one pull is pending per peer, made
         * at most every PULL_MIN_GAP_MS (peers.c). */
        b->m.sync_signals++;
        b->m.sync_coalesced += p->pull_requested;
        p->pull_requested = true;
    }
    json_t *body = p ? view_envelope(json_pack("{s:b}", "scheduled", 1), &b->clock) : NULL;
    pthread_mutex_unlock(&b->mu);
    if (!p) {
        api_reply_error(res, API_E_NOT_FOUND, "%s is not a known peer", r->broker);
        free(r);
        return;
    }
    free(r);
    wake_signal(&b->sched);
    api_reply_json(res, 202, body);
}
