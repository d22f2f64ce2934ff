/* The broker's lifecycle: setting its parts up, opening its store (SQLite:
 * refusing another district's, and a lost, empty or damaged one where the
 * data dir was used before; etcd: the district's key prefix), recovery
 * (restore.c), starting and stopping its server, its threads and its
 * standby role (role.c). */
#include "broker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "dispatch.h"
#include "ha.h"
#include "handlers.h"
#include "monitor.h"
#include "peers.h"
#include "registrar.h"
#include "restore.h"
#include "role.h"
#include "routes.h"
#include "sqlstore.h"
#include "store_etcd.h"

/* Next to broker.db, naming the district: written once the district is in
 * the database, it outlives the database (README "Durability"). */
#define MARKER_FILE "district.id"

/* The district's id is kept with its data: a data dir of another district
 * is refused, and so is a database without one where the marker says the
 * district was there (a database replaced by a new one). */
static int check_district(broker *b, const char *path, bool marked, char *err, size_t errlen)
{
    char idbuf[COORD_ID_MAX + 1], why[256];
    int rc = b->store.get_meta(b->store.cls, "district", idbuf, sizeof(idbuf));

    if (rc == 0 && strcmp(idbuf, b->cfg.id) != 0) {
        snprintf(err, errlen, "data dir %s belongs to district %s, not %s", b->cfg.data_dir, idbuf,
                 b->cfg.id);
        return -1;
    }
    if (rc == 0)
        return 0;
    if (rc == COORD_E_NOTFOUND && marked) {
        snprintf(err, errlen,
                 "database %s holds no district, but %s/%s says %s used this data dir: it was "
                 "replaced; put the district's database back",
                 path, b->cfg.data_dir, MARKER_FILE, b->cfg.id);
        return -1;
    }
    /* A new data dir: claim it, as every write, inside a transaction. */
    if (rc != COORD_E_NOTFOUND || b->store.begin(b->store.cls) < 0)
        goto fail;
    if (b->store.put_meta(b->store.cls, "district", b->cfg.id) < 0 ||
        b->store.commit(b->store.cls) < 0 ||
        (b->store.sync && b->store.sync(b->store.cls) < 0)) /* before the marker */
        goto fail;
    return 0;
fail:
    b->store.error(b->store.cls, why, sizeof(why));
    b->store.rollback(b->store.cls);
    snprintf(err, errlen, "cannot write to %s: %s", path, why);
    return -1;
}

static int init_parts(broker *b)
{
    if (ha_init(b) < 0)
        return -1;
    b->mu_ok = pthread_mutex_init(&b->mu, NULL) == 0;
    b->grp_ok = batch_init(&b->grp) == 0;
    b->drain_ok = wake_init(&b->drain) == 0;
    b->sched_ok = wake_init(&b->sched) == 0;
    b->stop_ok = wake_init(&b->stop) == 0;
    b->ob_ok = outbox_init(&b->ob, OUTBOX_MAX, dispatch_revocation_delivered, b) == 0;
    vclock_init(&b->clock);
    if (!b->mu_ok || !b->grp_ok || !b->drain_ok || !b->sched_ok || !b->stop_ok || !b->ob_ok)
        return -1;
    if (state_init(&b->st, b->cfg.id, b->cfg.failure_timeout_ms) < 0 ||
        remote_init(&b->rem, b->st.strings) < 0)
        return -1;
    b->st.max_fix_age_ms = b->cfg.max_fix_age_ms;
    return 0;
}

/* With etcd the district is its key prefix: no database, marker or
 * district check; the records are loaded as a restart does, a follower's
 * copy until the election makes this broker the leader, and nothing is
 * written. */
static int open_etcd(broker *b, char *err, size_t errlen)
{
    char where[COORD_ID_MAX + 32];

    store_etcd_prefix(b->cfg.id, where, sizeof(where));
    if (store_etcd_open(&b->store, b->cfg.etcd, b->cfg.id, NULL, err, errlen) < 0)
        return -1;
    return restore_broker(b, where, err, errlen);
}

broker *broker_new(const broker_config *cfg, char *err, size_t errlen)
{
    broker *b = calloc(1, sizeof(*b));
    char path[1100], marker[1100];
    bool marked;

    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->cfg = *cfg;
    /* A new incarnation id per start: peers resync everything from us. */
    restore_new_epoch(b);
    b->boot_mono_ms = coord_now_mono_ms();
    if (init_parts(b) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (service_mkdir_p(cfg->data_dir) < 0) {
        snprintf(err, errlen, "cannot create data dir %s: %s", cfg->data_dir, strerror(errno));
        goto fail;
    }
    if (cfg->store == BROKER_STORE_ETCD) {
        if (open_etcd(b, err, errlen) < 0)
            goto fail;
        return b;
    }
    snprintf(path, sizeof(path), "%s/broker.db", cfg->data_dir);
    snprintf(marker, sizeof(marker), "%s/%s", cfg->data_dir, MARKER_FILE);
    if (sqlstore_preflight(path, marker, cfg->id, &marked, err, errlen) < 0 ||
        store_sqlite_open(&b->store, path, cfg->durability, err, errlen) < 0)
        goto fail;
    if (check_district(b, path, marked, err, errlen) < 0 ||
        restore_broker(b, path, err, errlen) < 0)
        goto fail;
    /* Only now: a marker beside a database that never held the district
     * would refuse every later start. */
    if (!marked && sqlstore_mark(marker, cfg->id, err, errlen) < 0)
        goto fail;
    return b;
fail:
    broker_free(b);
    return NULL;
}

const char *broker_url(const broker *b)
{
    return b->self_url;
}

static bool start_thread(pthread_t *t, bool *started, void *(*fn)(void *), broker *b)
{
    *started = pthread_create(t, NULL, fn, b) == 0;
    return *started;
}

int broker_start(broker *b, uint16_t *port)
{
    api_server_config sc = {
        .host = b->cfg.host,
        .port = b->cfg.port,
        .threads = b->cfg.threads,
        .gate = role_gate,
    };

    api_security_apply(&b->cfg.sec, &sc, NULL);
    /* Before the server: its handlers hand calls to the pool. */
    b->calls_ok = outpool_start(&b->calls) == 0;
    if (!b->calls_ok)
        return -1;
    api_sse_config ssc = {
        .max_streams = b->cfg.max_streams,
        .heartbeat_ms = (unsigned)b->cfg.stream_heartbeat_ms,
        .read = broker_stream_read,
        .read_cls = b,
    };
    b->sse = api_sse_hub_new(&ssc);
    if (b->sse)
        b->server = api_server_start(&sc, broker_routes, broker_nroutes, b, port);
    if (!b->server) {
        api_sse_hub_free(b->sse);
        b->sse = NULL;
        outpool_stop(&b->calls);
        return -1;
    }
    if (b->cfg.advertise_url[0])
        snprintf(b->self_url, sizeof(b->self_url), "%s", b->cfg.advertise_url);
    else
        snprintf(b->self_url, sizeof(b->self_url), "%s://%s:%u", api_security_scheme(&b->cfg.sec),
                 b->cfg.host, *port);
    if (outbox_start(&b->ob) < 0 ||
        !start_thread(&b->monitor_thr, &b->monitor_started, monitor_main, b) ||
        !start_thread(&b->dispatch_thr, &b->dispatch_started, dispatch_drain_main, b) ||
        peers_start(b) < 0 ||
        (b->cfg.coordinator[0] &&
         !start_thread(&b->registrar_thr, &b->registrar_started, registrar_main, b))) {
        service_log("error", "cannot start the broker's threads");
        broker_stop(b);
        return -1;
    }
    /* Once self_url is known: it is this broker's candidate id. */
    char why[256];
    if (role_start(b, why, sizeof(why)) < 0) {
        service_log("error", "%s", why);
        broker_stop(b);
        return -1;
    }
    /* Jobs recovered as queued wait for nobody: try them now. */
    dispatch_request_drain(b);
    return 0;
}

void broker_stop(broker *b)
{
    /* First: every deferred submission is answered before the server
     * stops (it cannot stop with a connection suspended). */
    if (b->calls_ok)
        outpool_stop(&b->calls);
    /* Open streams are parked connections too: ended before the server. */
    api_sse_hub_close(b->sse);
    api_server_stop(b->server);
    pthread_mutex_lock(&b->mu); /* peers_add reads it under the mutex */
    b->server = NULL;
    pthread_mutex_unlock(&b->mu);
    wake_stop(&b->drain);
    wake_stop(&b->sched);
    wake_stop(&b->stop);
    outbox_stop(&b->ob);
    if (b->monitor_started)
        pthread_join(b->monitor_thr, NULL);
    if (b->dispatch_started)
        pthread_join(b->dispatch_thr, NULL);
    /* The registrar adds peers (and starts their threads): join it first. */
    if (b->registrar_started)
        pthread_join(b->registrar_thr, NULL);
    b->monitor_started = b->dispatch_started = b->registrar_started = false;
    peers_join(b);
    role_stop(b);
    /* No thread is left to make an event (txn_event notifies the hub). */
    api_sse_hub_free(b->sse);
    b->sse = NULL;
}

void broker_free(broker *b)
{
    if (!b)
        return;
    remote_release(&b->rem);
    state_release(&b->st);
    if (b->store.close)
        b->store.close(b->store.cls);
    role_release(b); /* the store used its election */
    if (b->ob_ok)
        outbox_release(&b->ob);
    if (b->calls_ok)
        outpool_destroy(&b->calls);
    if (b->drain_ok)
        wake_destroy(&b->drain);
    if (b->sched_ok)
        wake_destroy(&b->sched);
    if (b->stop_ok)
        wake_destroy(&b->stop);
    if (b->grp_ok)
        batch_destroy(&b->grp);
    if (b->mu_ok)
        pthread_mutex_destroy(&b->mu);
    free(b);
}
