/* The coordinator's lifecycle (coordinator.h). */
#include "coordinator.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "db.h"
#include "emergency.h"
#include "events.h"
#include "journal.h"
#include "poller.h"
#include "registry.h"
#include "routes.h"
#include "sqlstore.h"

/* The poller sleeps on the monotonic clock, so a wall-clock jump neither
 * stalls nor floods the polling. */
static int cond_init_mono(pthread_cond_t *cond)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
    return rc == 0 ? 0 : -1;
}

int coordinator_init(coordinator *c, const coordinator_config *cfg, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->cfg = *cfg;
    if (pthread_mutex_init(&c->mu, NULL) != 0 || pthread_mutex_init(&c->emergency_mu, NULL) != 0 ||
        pthread_mutex_init(&c->pmu, NULL) != 0 || cond_init_mono(&c->pcond) != 0) {
        snprintf(err, errlen, "cannot create locks");
        return -1;
    }
    vclock_init(&c->clock);
    if (service_mkdir_p(cfg->data_dir) < 0) {
        snprintf(err, errlen, "cannot create data dir %s: %s", cfg->data_dir, strerror(errno));
        return -1;
    }
    char path[1100], marker[1100];
    bool marked;
    snprintf(path, sizeof(path), "%s/coordinator.db", cfg->data_dir);
    /* The marker outlives the database: a lost one is refused, never taken
     * for a new city (README "Durability"). */
    snprintf(marker, sizeof(marker), "%s/coordinator.id", cfg->data_dir);
    if (sqlstore_preflight(path, marker, COORD_NODE, &marked, err, errlen) < 0)
        return -1;
    c->db = cdb_open(path, err, errlen);
    if (!c->db)
        return -1;

    char buf[64];
    int lrc = cdb_get_meta(c->db, "emergency_level", buf, sizeof(buf));
    if (lrc == 0)
        emergency_level_parse(buf, &c->level);
    int src = lrc < 0 ? -1 : cdb_get_meta(c->db, "emergency_set_ms", buf, sizeof(buf));
    if (src == 0)
        c->level_set_ms = strtoull(buf, NULL, 10);
    if (src < 0 || journal_load(c) < 0 || registry_load(c) < 0) {
        char why[256];
        cdb_error(c->db, why, sizeof(why));
        snprintf(err, errlen, "cannot load state from %s: %s", path, why);
        return -1;
    }
    if (!marked && sqlstore_mark(marker, COORD_NODE, err, errlen) < 0)
        return -1;
    return 0;
}

int coordinator_start(coordinator *c, uint16_t *port)
{
    api_server_config sc = {
        .host = c->cfg.host,
        .port = c->cfg.port,
        .threads = c->cfg.threads,
        .latency = &c->m.latency,
        .latency_mu = &c->mu,
    };
    /* The city sequence starts at the start time in ms times 1000: above
     * every id an earlier run gave out unless it averaged 1000 events a
     * millisecond, so a client's Last-Event-ID from before a restart reads
     * as older than what is held (a gap), never as one still to come. */
    api_sse_config ssc = {
        .max_streams = c->cfg.max_streams,
        .heartbeat_ms = (unsigned)c->cfg.stream_heartbeat_ms,
        .ring_keep = COORD_STREAM_KEEP,
        .ring_first_id = coord_now_wall_ms() * 1000,
    };
    api_security_apply(&c->cfg.sec, &sc, NULL);
    c->sse = api_sse_hub_new(&ssc);
    if (!c->sse)
        return -1;
    c->server = api_server_start(&sc, coordinator_routes, coordinator_nroutes, c, port);
    return c->server ? 0 : -1;
}

int coordinator_start_poller(coordinator *c)
{
    return poller_start(c);
}

void coordinator_stop(coordinator *c)
{
    /* Open streams are parked connections: ended before the server. */
    api_sse_hub_close(c->sse);
    api_server_stop(c->server);
    c->server = NULL;
    poller_stop(c);
    /* The poller published into it until now. */
    api_sse_hub_free(c->sse);
    c->sse = NULL;
}

void coordinator_release(coordinator *c)
{
    registry_release(c);
    event_ring_clear(&c->events);
    cdb_close(c->db);
    c->db = NULL;
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->emergency_mu);
    pthread_mutex_destroy(&c->pmu);
    pthread_cond_destroy(&c->pcond);
}
