/* The coordinator registrar thread (see registrar.h). */
#include "registrar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "emergency.h"
#include "http_client.h"
#include "peers.h"
#include "views.h"

#define REGISTER_EVERY_MS 2000
#define BACKOFF_FIRST_MS  250

static const http_opts register_opts = {.connect_timeout_ms = 500, .timeout_ms = 1500};

static bool http_url(const char *u)
{
    return u && strlen(u) < BROKER_URL_MAX &&
           (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0);
}

/* The coordinator's reply: peers, the emergency level, its clock. */
static void registered(broker *b, const json_t *reply)
{
    const json_t *em = json_object_get(reply, "emergency");
    severity level;
    size_t i;
    json_t *v;
    txn t;

    pthread_mutex_lock(&b->mu);
    txn_begin(b, &t);
    if (!b->registered)
        txn_log(&t, "info", "registered with coordinator %s", b->cfg.coordinator);
    b->registered = true;
    json_array_foreach (json_object_get(reply, "brokers"), i, v) {
        const char *id = json_string_value(json_object_get(v, "id"));
        const char *purl = json_string_value(json_object_get(v, "url"));
        char list[BROKER_URL_MAX] = "";
        size_t k, len = 0;
        json_t *u;

        /* Every URL the registry keeps for the district (its leader and
         * standbys); a coordinator before them sends url alone. */
        json_array_foreach (json_object_get(v, "urls"), k, u) {
            const char *s = json_string_value(u);
            int w;

            if (!http_url(s) || k >= PEER_URLS_MAX)
                continue;
            w = snprintf(list + len, sizeof(list) - len, "%s%s", len ? "," : "", s);
            if (w < 0 || (size_t)w >= sizeof(list) - len) {
                list[len] = '\0';
                break;
            }
            len += (size_t)w;
        }
        if (id && (list[0] || http_url(purl)))
            peers_add(b, &t, id, list[0] ? list : purl);
    }
    /* The coordinator's word (emergency.h); it has none before a first
     * declaration. */
    uint64_t set_ms = view_parse_iso_ms(json_string_value(json_object_get(em, "set_at")));
    if (set_ms && severity_parse(json_string_value(json_object_get(em, "level")), &level) == 0 &&
        txn_store_ok(b)) /* else the next registration brings it again */
        emergency_from_coordinator(b, &t, level, set_ms, false);
    clock_receive_json(b, json_object_get(reply, "vclock"));
    txn_commit_or_drop(&t);
    txn_end(&t);
}

void *registrar_main(void *arg)
{
    broker *b = arg;
    unsigned failures = 0;
    char url[BROKER_URL_MAX + 32];
    uint64_t every =
        b->cfg.sync_interval_ms < REGISTER_EVERY_MS ? b->cfg.sync_interval_ms : REGISTER_EVERY_MS;

    snprintf(url, sizeof(url), "%s/v1/brokers", b->cfg.coordinator);
    for (;;) {
        json_t *body = json_pack("{s:s, s:s}", "id", b->cfg.id, "url", b->self_url);
        http_reply rep;
        bool ok = false;

        if (body) {
            int rc = http_json("POST", url, body, &register_opts, &rep);

            ok = rc == 0 && (rep.status == 200 || rep.status == 201) && rep.body;
            if (ok)
                registered(b, rep.body);
            http_reply_release(&rep);
        }
        json_decref(body);
        if (ok) {
            failures = 0;
        } else if (failures++ == 0) {
            service_log("warn", "cannot register with coordinator %s", b->cfg.coordinator);
        }
        if (!wake_sleep(&b->stop,
                        ok ? every
                           : wake_jitter(BACKOFF_FIRST_MS << (failures > 4 ? 4 : failures))))
            break;
    }
    http_client_thread_cleanup();
    return NULL;
}
