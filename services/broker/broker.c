/* Broker lifecycle: recovery from SQLite, threads, server. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"

static void recover_claim(void *arg, const char *unit_id, const char *job_id, uint32_t attempt_no,
                          const char *owner)
{
    broker *b = arg;
    unit *u = broker_unit(b, unit_id);
    if (!u)
        return;
    if (u->load >= u->capacity)
        u->capacity = u->load + 1;
    if (unit_hold(u, job_id, attempt_no, false) == 0) {
        struct held *h = &u->held[u->load - 1];
        h->foreign = true;
        snprintf(h->owner, sizeof(h->owner), "%s", owner);
    }
}

static void merge_clock_text(vclock *clock, const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    vclock *tmp = malloc(sizeof(*tmp));
    field_error fe;
    if (j && tmp && vclock_from_json(j, tmp, &fe) == 0)
        vclock_merge(clock, tmp);
    free(tmp);
    json_decref(j);
}

static void merge_event_clock(void *arg, uint64_t seq, uint64_t time_ms, const char *node,
                              const char *type, const char *job_id, const char *unit_id,
                              uint32_t attempt_no, const char *detail, const char *vclock_json)
{
    merge_clock_text(arg, vclock_json);
}

static void free_unit_v(void *p)
{
    unit_free(p);
}

static void free_job_v(void *p)
{
    job_free(p);
}

/* Rebuilds what is not stored: the queue, unit loads, a fresh failure
 * window for every unit (a restart must not declare the city lost). */
static int recover(broker *b)
{
    uint64_t now = coord_now_mono_ms();
    size_t it = 0;
    const char *key;
    void *val;
    while (hmap_next(b->units, &it, &key, &val)) {
        unit *u = val;
        if (u->capacity < 1)
            u->capacity = 1;
        if (broker_index_unit(b, u) < 0)
            return -1;
        if (fd_heartbeat(b->fd, u->id, now) < 0)
            return -1;
    }
    it = 0;
    while (hmap_next(b->jobs, &it, &key, &val)) {
        job *j = val;
        if (j->seq > b->next_seq)
            b->next_seq = j->seq;
        if (j->status == JOB_QUEUED && jobq_push(b->queue, j->id, j->sev, j->seq) < 0)
            return -1;
        for (size_t i = 0; i < j->nattempts; i++) {
            attempt *a = &j->attempts[i];
            if (a->state != ATT_ACTIVE)
                continue;
            if (strcmp(a->unit_district, b->cfg.id) != 0) {
                if (j->status == JOB_ASSIGNED && a == job_current_attempt(j))
                    hmap_put(b->borrowed, j->id, j, NULL);
                continue;
            }
            unit *u = broker_unit(b, a->unit_id);
            if (!u)
                continue;
            if (u->load >= u->capacity)
                u->capacity = u->load + 1; /* keep what it holds representable */
            if (unit_hold(u, j->id, a->n, false) < 0)
                return -1;
        }
    }
    db_list_claims(b->db, recover_claim, b);
    /* The change list starts with everything, in a stable order. */
    it = 0;
    while (hmap_next(b->units, &it, &key, &val))
        broker_touch_unit(b, val);
    it = 0;
    while (hmap_next(b->jobs, &it, &key, &val))
        broker_touch_job(b, val);
    return 0;
}

int broker_init(broker *b, const broker_config *cfg, char *err, size_t errlen)
{
    memset(b, 0, sizeof(*b));
    b->cfg = *cfg;
    pthread_mutex_init(&b->mu, NULL);
    pthread_mutex_init(&b->wmu, NULL);
    pthread_cond_init(&b->wcond, NULL);
    vclock_init(&b->clock);
    b->units = hmap_new();
    b->jobs = hmap_new();
    b->cap_index = hmap_new();
    b->queue = jobq_new();
    b->fd = fd_new(cfg->failure_timeout_ms);
    b->remote_units = hmap_new();
    b->remote_jobs = hmap_new();
    b->borrowed = hmap_new();
    b->changes.next = b->changes.prev = &b->changes;
    /* A new incarnation id per start: peers resync everything from us. */
    snprintf(b->epoch, sizeof(b->epoch), "%llx-%llx", (unsigned long long)coord_now_wall_ms(),
             (unsigned long long)(coord_now_mono_ms() ^ (uint64_t)getpid()));
    b->boot_mono_ms = coord_now_mono_ms();
    if (!b->units || !b->jobs || !b->cap_index || !b->queue || !b->fd || !b->remote_units ||
        !b->remote_jobs || !b->borrowed) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (service_mkdir_p(cfg->data_dir) < 0) {
        snprintf(err, errlen, "cannot create data dir %s: %s", cfg->data_dir, strerror(errno));
        return -1;
    }
    char path[1100];
    snprintf(path, sizeof(path), "%s/broker.db", cfg->data_dir);
    b->db = db_open(path, err, errlen);
    if (!b->db)
        return -1;
    char idbuf[COORD_ID_MAX + 1];
    if (db_get_meta(b->db, "district", idbuf, sizeof(idbuf)) == 0 && strcmp(idbuf, cfg->id) != 0) {
        snprintf(err, errlen, "data dir %s belongs to district %s, not %s", cfg->data_dir, idbuf,
                 cfg->id);
        return -1;
    }
    if (db_put_meta(b->db, "district", cfg->id) < 0) {
        snprintf(err, errlen, "cannot write to %s", path);
        return -1;
    }
    /* Every state change is an event stamped with the clock after it, so
     * the newest event's clock is the clock we stopped with (older data
     * dirs also kept it in meta; take the larger). */
    char vc[8192];
    if (db_get_meta(b->db, "vclock", vc, sizeof(vc)) == 0)
        merge_clock_text(&b->clock, vc);
    uint64_t last = db_last_event_seq(b->db);
    if (last)
        db_list_events(b->db, last - 1, 1, merge_event_clock, &b->clock);
    if (db_load(b->db, b->units, b->jobs) < 0 || recover(b) < 0 || broker_load_remote(b) < 0) {
        snprintf(err, errlen, "cannot load state from %s", path);
        return -1;
    }
    b->event_seq = db_last_event_seq(b->db);
    char level[32];
    if (db_get_meta(b->db, "emergency", level, sizeof(level)) == 0)
        severity_parse(level, &b->emergency);
    if (db_get_meta(b->db, "emergency_set_ms", level, sizeof(level)) == 0)
        b->emergency_set_ms = strtoull(level, NULL, 10);
    return 0;
}

int broker_start(broker *b, uint16_t *port)
{
    api_server_config sc = {
        .host = b->cfg.host,
        .port = b->cfg.port,
        .threads = b->cfg.threads,
        .latency = &b->m.latency,
        .latency_mu = &b->mu,
    };
    b->server = api_server_start(&sc, broker_routes, broker_nroutes, b, port);
    if (!b->server)
        return -1;
    if (b->cfg.advertise_url[0])
        snprintf(b->self_url, sizeof(b->self_url), "%s", b->cfg.advertise_url);
    else
        snprintf(b->self_url, sizeof(b->self_url), "http://%s:%u", b->cfg.host, *port);
    pthread_create(&b->monitor_thr, NULL, broker_monitor_main, b);
    pthread_create(&b->dispatch_thr, NULL, broker_dispatch_main, b);
    pthread_create(&b->notify_thr, NULL, broker_notify_main, b);
    broker_sync_start(b);
    /* Jobs recovered as queued wait for nobody: try them now. */
    broker_request_drain(b);
    return 0;
}

void broker_stop(broker *b)
{
    api_server_stop(b->server);
    b->server = NULL;
    pthread_mutex_lock(&b->wmu);
    b->stopping = true;
    pthread_cond_broadcast(&b->wcond);
    pthread_mutex_unlock(&b->wmu);
    pthread_join(b->monitor_thr, NULL);
    pthread_join(b->dispatch_thr, NULL);
    pthread_join(b->notify_thr, NULL);
    if (b->cfg.coordinator[0])
        pthread_join(b->registrar_thr, NULL);
    pthread_mutex_lock(&b->mu);
    size_t npeers = b->npeers;
    pthread_mutex_unlock(&b->mu);
    for (size_t i = 0; i < npeers; i++)
        if (b->peers[i].thread_started)
            pthread_join(b->peers[i].thr, NULL);
}

void broker_release(broker *b)
{
    while (b->revocations) {
        revocation *r = b->revocations;
        b->revocations = r->next;
        free(r);
    }
    broker_free_remote(b);
    broker_free_index(b);
    hmap_free(b->units, free_unit_v);
    hmap_free(b->jobs, free_job_v);
    jobq_free(b->queue);
    fd_free(b->fd);
    db_close(b->db);
    pthread_mutex_destroy(&b->mu);
    pthread_mutex_destroy(&b->wmu);
    pthread_cond_destroy(&b->wcond);
}
