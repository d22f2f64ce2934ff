/* The standby role (see role.h): the election, the role thread and the
 * request gate. */
#include "role.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "ha.h"
#include "peers.h"
#include "restore.h"
#include "store_etcd.h"

/* Where a reload's messages say the district was read from. */
#define ROLE_SOURCE "etcd"

/* Splits --etcd for the election (the store's client takes the list). */
static size_t split_urls(char *list, const char **urls, size_t max)
{
    size_t n = 0;

    for (char *p = list; p && *p && n < max;) {
        char *comma = strchr(p, ',');

        urls[n++] = p;
        if (comma)
            *comma++ = '\0';
        p = comma;
    }
    return n;
}

static uint64_t now_ms(void)
{
    return coord_now_mono_ms();
}

/* Rebuilt as the leader of the term of fence f (generation g): the
 * district from etcd, a fresh failure window for every unit and the queue
 * (restore_reload, as a restart), a new epoch so peers pull us whole.
 * Writes open only if no other change of role came meanwhile. */
static void lead(broker *b, const etcd_fence *f, uint64_t g)
{
    broker_ha *ha = &b->ha;
    uint64_t t0 = now_ms();
    char err[2048];
    int64_t rev = 0;
    bool current = false;

    pthread_mutex_lock(&b->mu);
    int rc = restore_reload(b, ROLE_SOURCE, err, sizeof(err));
    if (rc == 0 && atomic_load(&ha->gen) == g) {
        restore_new_epoch(b);
        b->health.failing = false;
        b->health.error[0] = '\0';
        ha->leading = true;
        ha->ready_gen = g;
        rev = store_etcd_revision(&b->store);
        peers_takeover(b);
        current = true;
    }
    pthread_mutex_unlock(&b->mu);
    if (rc < 0) {
        service_log("error", "cannot rebuild %s from etcd as its leader (%s): resigning",
                    b->cfg.id, err);
        pthread_mutex_lock(&ha->mu);
        ha->step_down = true;
        ha->stale = true;
        pthread_mutex_unlock(&ha->mu);
        return;
    }
    if (!current)
        return; /* the role changed again: the thread acts on the news */
    pthread_mutex_lock(&ha->mu);
    current = atomic_load(&ha->gen) == g;
    if (current) {
        ha->acting = ETCD_LEADER;
        snprintf(ha->leader, sizeof(ha->leader), "%.127s", b->self_url); /* ids are < 128 */
        ha->term = f->create_revision;
        ha->revision = rev;
        ha->fresh_mono_ms = now_ms();
        ha->stale = false;
        ha->failed = false;
        ha->takeovers++;
    }
    pthread_mutex_unlock(&ha->mu);
    if (!current)
        return;
    /* Now, not at the next interval: the queue, and peers told to pull. */
    dispatch_request_drain(b);
    wake_signal(&b->sched);
    service_log("info", "leader of %s (term %" PRId64 ") after %llu ms rebuild", b->cfg.id,
                f->create_revision, (unsigned long long)(now_ms() - t0));
}

/* A follower's round: who leads (for Location), and the copy reloaded
 * when meta/commit moved (or the last reload failed). False when etcd
 * could not be read: the next round waits longer, since each holds the
 * domain mutex, and so every read, for up to the store's call timeout. */
static bool follow(broker *b)
{
    broker_ha *ha = &b->ha;
    etcd_leader l;
    etcd_err le = etcd_election_observe(ha->e, &l);
    char err[2048];
    bool changed = false, stale;
    int64_t rev = 0;
    int rc;

    pthread_mutex_lock(&ha->mu);
    if (le == ETCD_OK) {
        snprintf(ha->leader, sizeof(ha->leader), "%s", l.id);
        ha->term = l.create_revision;
    } else if (le == ETCD_E_NOT_FOUND) {
        ha->leader[0] = '\0';
    }
    stale = ha->stale;
    pthread_mutex_unlock(&ha->mu);
    /* etcd did not answer (no quorum): keep the last word, and do not ask
     * it again under the domain mutex, where every read would wait */
    if (le != ETCD_OK && le != ETCD_E_NOT_FOUND)
        return false;

    pthread_mutex_lock(&b->mu);
    if (ha->leading) {
        pthread_mutex_unlock(&b->mu);
        return true;
    }
    rc = store_etcd_changed(&b->store, &changed);
    if (rc == 0 && (changed || stale)) {
        rc = restore_reload(b, ROLE_SOURCE, err, sizeof(err));
        if (rc < 0 && !stale)
            service_log("warn", "follower of %s: cannot reload from etcd (%s); serving the "
                                "copy of revision %" PRId64 " meanwhile",
                        b->cfg.id, err, store_etcd_revision(&b->store));
    }
    rev = store_etcd_revision(&b->store);
    pthread_mutex_unlock(&b->mu);

    pthread_mutex_lock(&ha->mu);
    if (rc == 0) {
        ha->fresh_mono_ms = now_ms();
        ha->revision = rev;
        ha->stale = false;
    } else if (changed) {
        ha->stale = true;
    }
    pthread_mutex_unlock(&ha->mu);
    return rc == 0;
}

static void *role_main(void *arg)
{
    broker *b = arg;
    broker_ha *ha = &b->ha;
    uint64_t built = UINT64_MAX, next_poll = 0, seen = wake_gen(&ha->wake);
    etcd_role was = ETCD_FOLLOWER;

    while (!wake_stopping(&ha->wake)) {
        uint64_t now = now_ms(), g = atomic_load(&ha->gen);

        pthread_mutex_lock(&ha->mu);
        bool to_lead = ha->elected == ETCD_LEADER && g != built;
        bool to_follow = ha->elected == ETCD_FOLLOWER && was == ETCD_LEADER;
        /* a leader has nothing to poll: it is the one that writes */
        bool polling = ha->elected == ETCD_FOLLOWER, due = polling && now >= next_poll;
        bool resign = ha->step_down;
        etcd_fence f = ha->fence;

        ha->step_down = false;
        pthread_mutex_unlock(&ha->mu);
        if (resign) {
            /* keep campaigning: whoever wins rebuilds first */
            etcd_err e = etcd_election_resign(ha->e, true);
            service_log("warn", "stepped down as leader of %s%s%s", b->cfg.id,
                        e ? "; resigning failed: " : "", e ? etcd_strerror(e) : "");
            continue;
        }
        if (to_lead) {
            built = g;
            was = ETCD_LEADER;
            lead(b, &f, g);
            continue;
        }
        if (to_follow) {
            was = ETCD_FOLLOWER;
            built = UINT64_MAX;
            pthread_mutex_lock(&b->mu);
            ha->leading = false;
            pthread_mutex_unlock(&b->mu);
            service_log("warn", "follower of %s now: writes go to the next leader", b->cfg.id);
        }
        if (due) {
            next_poll = now_ms() + (follow(b) ? ROLE_POLL_MS : ROLE_POLL_FAILED_MS);
            continue;
        }
        /* a change of role or a step-down signals the wake, also one that
         * came while this round ran */
        (void)wake_wait(&ha->wake, &seen, polling ? next_poll - now : WAKE_FOREVER);
    }
    return NULL;
}

int role_start(broker *b, char *err, size_t errlen)
{
    broker_ha *ha = &b->ha;
    char list[sizeof(b->cfg.etcd)], prefix[COORD_ID_MAX + 32];
    const char *urls[BROKER_ETCD_MAX_URLS];
    size_t n;

    if (!ha->on)
        return 0;
    snprintf(list, sizeof(list), "%s", b->cfg.etcd);
    n = split_urls(list, urls, BROKER_ETCD_MAX_URLS);
    /* the election's prefix has no trailing slash: its key is prefix/leader */
    snprintf(prefix, sizeof(prefix), "%s%s", STORE_ETCD_ROOT, b->cfg.id);
    etcd_election_opts eo = {
        .ttl_s = (int64_t)(b->cfg.leader_lease_ms / 1000),
        .retry_ms = ROLE_ELECTION_RETRY_MS,
        .on_change = ha_on_change,
        .on_change_arg = b,
    };
    ha->e = etcd_election_new(urls, n, prefix, b->self_url, &eo);
    if (!ha->e) {
        snprintf(err, errlen, "cannot set up the election for %s (URL %s)", b->cfg.id,
                 b->self_url);
        return -1;
    }
    pthread_mutex_lock(&b->mu);
    store_etcd_set_election(&b->store, ha->e);
    int64_t rev = store_etcd_revision(&b->store);
    pthread_mutex_unlock(&b->mu);
    pthread_mutex_lock(&ha->mu);
    ha->revision = rev;
    ha->fresh_mono_ms = now_ms(); /* the load at start */
    pthread_mutex_unlock(&ha->mu);
    if (pthread_create(&ha->thr, NULL, role_main, b) != 0) {
        snprintf(err, errlen, "cannot start the role thread");
        return -1;
    }
    ha->thr_started = true;
    if (etcd_election_start(ha->e) < 0) {
        snprintf(err, errlen, "cannot start the election thread");
        return -1;
    }
    return 0;
}

void role_stop(broker *b)
{
    broker_ha *ha = &b->ha;

    if (!ha->on)
        return;
    wake_stop(&ha->wake);
    if (ha->thr_started) {
        pthread_join(ha->thr, NULL);
        ha->thr_started = false;
    }
    /* A planned stop hands over now, not after the lease. */
    if (ha->e)
        (void)etcd_election_resign(ha->e, false);
}

void role_release(broker *b)
{
    etcd_election_free(b->ha.e);
    b->ha.e = NULL;
    ha_destroy(b);
}

/* Reads at a follower: whose copy, how fresh. */
static void follower_headers(api_response *res, const char *leader, int64_t rev, uint64_t age)
{
    char v[32];

    (void)api_response_add_header(res, "X-Ergrid-Role", "follower");
    if (leader[0])
        (void)api_response_add_header(res, "X-Ergrid-Leader", leader);
    snprintf(v, sizeof(v), "%" PRId64, rev);
    (void)api_response_add_header(res, "X-Ergrid-Revision", v);
    snprintf(v, sizeof(v), "%llu", (unsigned long long)age);
    (void)api_response_add_header(res, "X-Ergrid-Age-Ms", v);
}

bool role_gate(const api_route *route, api_request *req, api_response *res)
{
    broker *b = req->ctx;
    broker_ha *ha = &b->ha;
    char leader[sizeof(ha->leader)], loc[API_REPLY_HEADER_MAX];
    etcd_role acting;
    int64_t rev;
    uint64_t fresh;
    bool failed;

    if (!ha->on)
        return true;
    pthread_mutex_lock(&ha->mu);
    acting = ha->acting;
    memcpy(leader, ha->leader, sizeof(leader));
    rev = ha->revision;
    fresh = ha->fresh_mono_ms;
    failed = ha->failed;
    pthread_mutex_unlock(&ha->mu);
    if (acting == ETCD_LEADER) {
        (void)api_response_add_header(res, "X-Ergrid-Role", "leader");
        /* A leader whose commit failed (ha_commit_failed) may hold in
         * memory what etcd never took, when the reload failed too: an
         * exact retry must not get a 200 from that copy. */
        if (strcmp(route->method, "GET") == 0 || !failed)
            return true;
        (void)api_response_add_header(res, "Retry-After", "1");
        api_reply_error(res, API_E_UNAVAILABLE,
                        "district %s: this leader's last commit failed and it has not rebuilt "
                        "from etcd since: nothing was changed; retry in a second",
                        b->cfg.id);
        return false;
    }
    /* HEAD is served by GET routes */
    if (strcmp(route->method, "GET") == 0) {
        uint64_t now = now_ms();

        follower_headers(res, leader, rev, now > fresh ? now - fresh : 0);
        return true;
    }
    (void)api_response_add_header(res, "X-Ergrid-Role", "follower");
    /* No leader, or we are it and still rebuilding: soon. */
    if (!leader[0] || strcmp(leader, b->self_url) == 0) {
        (void)api_response_add_header(res, "Retry-After", "1");
        api_reply_error(res, API_E_UNAVAILABLE,
                        "district %s has no leader that takes writes right now (a takeover is "
                        "under way): nothing was changed; retry in a second",
                        b->cfg.id);
        return false;
    }
    /* the target as sent: path and query, escapes kept */
    int n = snprintf(loc, sizeof(loc), "%s%s", leader, req->raw->target);
    (void)api_response_add_header(res, "X-Ergrid-Leader", leader);
    if (n < 0 || (size_t)n >= sizeof(loc) ||
        api_response_add_header(res, "Location", loc) < 0) {
        (void)api_response_add_header(res, "Retry-After", "1");
        api_reply_error(res, API_E_UNAVAILABLE,
                        "this broker is a standby and the target is too long to redirect: "
                        "send it to the leader, %s",
                        leader);
        return false;
    }
    api_reply_error(res, API_E_NOT_LEADER,
                    "this broker is a standby of district %s: writes go to the leader, %s",
                    b->cfg.id, leader);
    return false;
}

