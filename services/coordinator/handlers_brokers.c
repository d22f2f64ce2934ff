/* /v1/brokers: the district registry. Brokers register at start and then
 * periodically (which refreshes last_seen), and learn their peers and the
 * emergency level from the reply. A district with standbys registers under
 * each of its brokers' URLs: every one is kept (registry.h). */
#include "handlers_brokers.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "context.h"
#include "db.h"
#include "emergency.h"
#include "journal.h"
#include "poller.h"
#include "registry.h"

struct broker_req {
    char id[COORD_ID_MAX + 1];
    const char *url;
    vclock vc;
    bool has_vc;
};

static const field_spec broker_fields[] = {
    {"id", FT_ID, offsetof(struct broker_req, id), true, 0, 0, NULL, 0},
    {"url", FT_STRING, offsetof(struct broker_req, url), true, 8, COORD_URL_MAX, NULL, 0},
    {"vclock", FT_VCLOCK, offsetof(struct broker_req, vc), false, 0, 0, NULL,
     offsetof(struct broker_req, has_vc)},
    FIELD_END,
};

void h_brokers_post(api_request *req, api_response *res)
{
    coordinator *c = req->ctx;
    static struct broker_req zero;
    struct broker_req r = zero;
    field_error fe;
    if (json_parse_fields(req->body, broker_fields, &r, &fe) < 0) {
        api_reply_error(res, fe.code, "%s", fe.message);
        return;
    }
    if (!coord_url_valid(r.url)) {
        api_reply_error(res, API_E_INVALID_FIELD,
                        "url must be an http:// or https:// URL of at most %d characters",
                        COORD_URL_MAX);
        return;
    }
    if (strcmp(r.id, COORD_NODE) == 0) {
        api_reply_error(res, API_E_INVALID_ID, "'%s' is reserved for the coordinator's own clock",
                        COORD_NODE);
        return;
    }
    char url[COORD_URL_MAX + 1];
    snprintf(url, sizeof(url), "%s", r.url);
    for (size_t n = strlen(url); n > 0 && url[n - 1] == '/';)
        url[--n] = '\0';

    pthread_mutex_lock(&c->mu);
    broker_rec *b = coordinator_broker(c, r.id);
    if (!b && c->nbrokers == COORD_MAX_BROKERS) {
        pthread_mutex_unlock(&c->mu);
        api_reply_error(res, API_E_UNPROCESSABLE, "the registry is full (%d brokers)",
                        COORD_MAX_BROKERS);
        return;
    }
    char origin[LEADER_URL_MAX];
    if (leader_origin(url, origin, sizeof(origin)) < 0) {
        pthread_mutex_unlock(&c->mu);
        api_reply_error(res, API_E_INVALID_FIELD, "url must name a host and port to call");
        return;
    }
    bool known = false;
    for (size_t i = 0; b && i < b->nurls; i++)
        known = known || strcmp(b->urls[i], origin) == 0;
    /* A URL already listed is a refresh (a standby registering again); an
     * unknown one is a new process: a standby, or the district moved. */
    bool is_new = b == NULL, changed = is_new || !known;
    uint64_t now = coord_now_wall_ms();
    if (r.has_vc)
        coordinator_merge_vclock(c, &r.vc);
    if (cdb_begin(c->db) < 0 ||
        cdb_put_broker(c->db, r.id, url, is_new ? now : b->registered_ms, now) < 0 ||
        cdb_put_broker_url(c->db, r.id, origin, now) < 0) {
        cdb_rollback(c->db);
        pthread_mutex_unlock(&c->mu);
        api_reply_error(res, API_E_UNAVAILABLE, "storage failure");
        return;
    }
    if (is_new)
        coordinator_event(c, "broker_registered", NULL, "district %s at %s", r.id, url);
    else if (changed)
        coordinator_event(c, "broker_moved", NULL, "district %s now at %s (was %s)", r.id, url,
                          b->url);
    if (coordinator_commit(c) < 0) {
        pthread_mutex_unlock(&c->mu);
        api_reply_error(res, API_E_UNAVAILABLE, "storage failure");
        return;
    }
    if (is_new) {
        b = registry_insert(c, r.id);
        if (!b) {
            pthread_mutex_unlock(&c->mu);
            api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
            return;
        }
        b->registered_ms = now;
    }
    snprintf(b->url, sizeof(b->url), "%s", url);
    bool added;
    char evicted[LEADER_URL_MAX];
    if (registry_note_url(b, url, now, &added, evicted, sizeof(evicted)) == 0 && evicted[0] &&
        (cdb_del_broker_url(c->db, r.id, evicted) < 0 || cdb_put_broker_url(c->db, r.id, origin, now) < 0))
        service_log("warn", "district %s: the URL list could not be trimmed in storage", r.id);
    if (changed) {
        /* Another process at another address: what we knew is stale. */
        registry_forget_figures(b);
    }
    b->last_seen_ms = now;
    if (is_new)
        c->m.registrations_new++;
    else
        c->m.registrations_update++;
    json_t *body =
        json_pack("{s:o, s:o, s:o, s:o}", "broker", broker_rec_json(b, now, coord_now_mono_ms()),
                  "brokers", coordinator_brokers_json(c), "emergency",
                  emergency_json(c->level, c->level_set_ms), "vclock", coordinator_clock_json(c));
    pthread_mutex_unlock(&c->mu);
    if (changed)
        poller_wake(c);
    api_reply_json(res, is_new ? 201 : 200, body);
}

void h_brokers_list(api_request *req, api_response *res)
{
    coordinator *c = req->ctx;
    pthread_mutex_lock(&c->mu);
    json_t *body = json_pack("{s:o}", "brokers", coordinator_brokers_json(c));
    pthread_mutex_unlock(&c->mu);
    api_reply_json(res, 200, body);
}
