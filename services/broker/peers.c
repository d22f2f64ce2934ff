/* Pull, apply, notify debounce and backoff (see peers.h), and every call
 * to a peer district through its URL set (leader_client.h): pulls go to
 * whichever URL answered last (a follower serves reads), writes follow a
 * follower's 307 to the leader. */
#include "peers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emergency.h"
#include "http_client.h"
#include "leader_client.h"
#include "outbox.h"
#include "pages.h"
#include "views.h"

#define NOTIFY_DEBOUNCE_MS 50
#define NOTIFY_MAX_WAIT_MS 300
#define NOTIFY_MIN_GAP_MS  500
#define PULL_MIN_GAP_MS    500
/* A storm (a city joining at once, a district in turmoil): with at least
 * BUSY_OBJECTS changes since the last signal, or brought by the last pull,
 * signals and signalled pulls are spaced BUSY_GAP_MS instead. What each
 * pull carries grows, the number of exchanges (each an HTTP round trip, a
 * commit and an event at both ends, twenty brokers times nineteen peers)
 * falls. A lone change still travels within PULL_MIN_GAP_MS. */
#define BUSY_OBJECTS 64
#define BUSY_GAP_MS  2000
#define PULL_PAGE          500
#define PULL_MAX_PAGES     1000
#define BACKOFF_FIRST_MS   250

/* raw: pages.c reads each part of a page on its own. */
static const leader_call_opts pull_opts = {
    .http = {.connect_timeout_ms = 500, .timeout_ms = 2000, .raw = true}};
static const leader_call_opts notify_opts = {.http = {.connect_timeout_ms = 300, .timeout_ms = 600}};
/* A release is retried by the outbox on its own schedule. */
static const leader_call_opts release_opts = {
    .http = {.connect_timeout_ms = 300, .timeout_ms = 1000}};

/* Fills p's set from p->urls (current stays on a URL still listed). */
static void set_fill(peer *p)
{
    char list[BROKER_URL_MAX], *v[PEER_URLS_MAX], *save;
    const char *cv[PEER_URLS_MAX];
    size_t n = 0;

    snprintf(list, sizeof(list), "%s", p->urls[0] ? p->urls : p->url);
    for (save = list; *save && n < PEER_URLS_MAX;) {
        v[n] = save;
        save += strcspn(save, ",");
        if (*save)
            *save++ = '\0';
        cv[n] = v[n];
        n++;
    }
    if (n && leader_set_replace(p->set, cv, n) == 0)
        p->set->learn = n == 1; /* one URL is a door: it learns the leader it names */
}

/* p's URL set, made (from p->urls) on first use; refilled by peers_add
 * when the list changes, never freed (peers are never removed), so a
 * caller may use it after dropping mu. Caller holds mu. NULL only when out
 * of memory. */
static leader_set *set_locked(peer *p)
{
    if (!p->set) {
        p->set = malloc(sizeof(*p->set));
        if (!p->set)
            return NULL;
        leader_set_init(p->set);
        set_fill(p);
    }
    return p->set;
}

leader_set *peers_set_locked(broker *b, const char *id)
{
    peer *p = peertab_find(&b->peers, id);

    return p ? set_locked(p) : NULL;
}

/* outbox's router for releases (outbox.h): to the peer district whose set
 * has url, following its leader; else to url itself, as a door. */
static int route_release(void *arg, const char *url, const char *path, const json_t *body,
                         http_reply *rep)
{
    broker *b = arg;
    leader_set *set = NULL, door;
    int rc;

    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < b->peers.n && !set; i++)
        if (b->peers.v[i].set && leader_set_has(b->peers.v[i].set, url))
            set = b->peers.v[i].set;
    pthread_mutex_unlock(&b->mu);
    if (set)
        return leader_call(set, "POST", path, body, &release_opts, rep, NULL, 0);
    leader_set_init(&door);
    rc = leader_set_add_list(&door, url) == 0
             ? leader_call(&door, "POST", path, body, &release_opts, rep, NULL, 0)
             : http_json("POST", url, body, &release_opts.http, rep);
    leader_set_release(&door);
    return rc;
}

struct peer_arg {
    broker *b;
    size_t idx;
};

static void *peer_main(void *arg);

static bool start_thread(broker *b, size_t idx)
{
    peer *p = &b->peers.v[idx];
    struct peer_arg *a = malloc(sizeof(*a));

    if (!a || !set_locked(p)) {
        free(a);
        return false;
    }
    a->b = b;
    a->idx = idx;
    if (pthread_create(&p->thr, NULL, peer_main, a) != 0) {
        free(a);
        return false;
    }
    p->thread_started = true;
    return true;
}

/* The peers we know, {"id": "url", ...}: a broker restarted while the
 * coordinator cannot be reached still knows them. */
static void persist(broker *b, txn *t)
{
    json_t *o = json_object();
    char *text = NULL;

    for (size_t i = 0; o && i < b->peers.n; i++)
        json_object_set_new(o, b->peers.v[i].id, json_string(b->peers.v[i].urls));
    if (o)
        text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    if (text)
        txn_put_meta(t, PEERS_META_KEY, text);
    else
        txn_log(t, "warn", "out of memory: the peer table is not saved");
    free(text);
    json_decref(o);
}

/* Releases that waited for this peer's URL go out now. */
static void unpark(broker *b, txn *t, const peer *p)
{
    parked_release r[16];
    size_t n;

    while ((n = peertab_unpark(&b->peers, p->id, r, sizeof(r) / sizeof(r[0]))) > 0) {
        for (size_t i = 0; i < n; i++) {
            txn_release(t, p->url, r[i].unit_id, r[i].job_id, r[i].attempt, r[i].reason);
            txn_log(t, "info", "release of %s for %s sent to %s, now known", r[i].unit_id,
                    r[i].job_id, p->id);
        }
    }
}

void peers_add(broker *b, txn *t, const char *id, const char *url)
{
    const peer *old = peertab_get(&b->peers, id);
    char list[BROKER_URL_MAX];
    bool moved;
    size_t idx;
    bool added;
    int rc;

    if (leader_list_normalize(url, PEER_URLS_MAX, list, sizeof(list)) < 1) {
        txn_log(t, "warn", "peer %s ignored: bad URL list '%s'", id, url);
        return;
    }
    moved = old && strcmp(old->urls, list) != 0;
    rc = peertab_add(&b->peers, b->cfg.id, id, list, coord_now_mono_ms(), &idx, &added);
    if (rc == COORD_E_RANGE)
        txn_log(t, "warn", "peer %s ignored: at most %d peers", id, BROKER_MAX_PEERS);
    if (rc < 0)
        return;
    if (added || moved)
        txn_log(t, "info", "peer %s at %s", id, list);
    if (added || moved)
        persist(b, t);
    if (moved && b->peers.v[idx].set)
        set_fill(&b->peers.v[idx]);
    if (added)
        unpark(b, t, &b->peers.v[idx]);
    /* Before the server runs, peers_start starts the threads. A thread
     * that could not be started is tried again when the peer is named
     * again (the registrar does every few seconds). */
    if (b->server && !b->peers.v[idx].thread_started && !wake_stopping(&b->sched) &&
        !start_thread(b, idx))
        txn_log(t, "error", "cannot start the sync thread of peer %s", id);
}

int peers_start(broker *b)
{
    txn t;
    int rc = 0;

    outbox_set_router(&b->ob, route_release, b);
    pthread_mutex_lock(&b->mu);
    txn_begin(b, &t);
    for (size_t i = 0; i < b->cfg.npeers; i++)
        peers_add(b, &t, b->cfg.peer_id[i], b->cfg.peer_url[i]);
    for (size_t i = 0; i < b->peers.n && rc == 0; i++)
        if (!b->peers.v[i].thread_started && !start_thread(b, i))
            rc = -1;
    txn_commit_or_drop(&t);
    txn_end(&t);
    return rc;
}

void peers_join(broker *b)
{
    size_t n;

    pthread_mutex_lock(&b->mu);
    n = b->peers.n;
    pthread_mutex_unlock(&b->mu);
    /* Called once nothing starts peer threads any more (the server and the
     * registrar are stopped), so the flags read here are final. */
    for (size_t i = 0; i < n; i++) {
        if (b->peers.v[i].thread_started)
            pthread_join(b->peers.v[i].thr, NULL);
        b->peers.v[i].thread_started = false;
    }
}

void peers_takeover(broker *b)
{
    uint64_t now = coord_now_mono_ms();

    b->st.urgent_version = b->st.meta_version;
    b->last_change_mono_ms = now;
    for (size_t i = 0; i < b->peers.n; i++) {
        peer *p = &b->peers.v[i];

        p->notified_version = 0;
        p->pending_since_mono_ms = 0;
        p->last_notify_mono_ms = 0;
        p->pull_requested = true;
        p->last_pull_mono_ms = 0;
        p->next_due_mono_ms = now;
    }
}

/* ---- the peer thread ---- */

/* Success or failure of a pull, for the schedule; caller holds mu. */
static void pulled(broker *b, txn *t, peer *p, bool ok, const char *error)
{
    uint64_t mono = coord_now_mono_ms(), interval = emergency_sync_interval(b);

    if (!ok) {
        uint64_t cap = interval > 30000 ? interval : 30000;

        p->failures++;
        uint64_t bo = BACKOFF_FIRST_MS << (p->failures > 10 ? 10 : p->failures - 1);
        p->backoff_ms = wake_jitter(bo < cap ? bo : cap);
        p->next_due_mono_ms = mono + p->backoff_ms;
        if (p->failures == 1 || p->failures % 10 == 0)
            txn_log(t, "warn", "pull from %s failed (%s); retry in %llu ms", p->id, error,
                    (unsigned long long)p->backoff_ms);
        return;
    }
    if (p->failures)
        txn_log(t, "info", "peer %s back after %u failed pulls", p->id, p->failures);
    p->failures = 0;
    p->backoff_ms = 0;
    p->pulls++;
    b->m.sync_pulls++;
    p->last_success_wall_ms = coord_now_wall_ms();
    p->last_success_mono_ms = mono;
    p->next_due_mono_ms = mono + wake_jitter(interval);
}

static void pull_peer(broker *b, size_t idx)
{
    pthread_mutex_lock(&b->mu);
    uint64_t had = b->peers.v[idx].pulled_units + b->peers.v[idx].pulled_jobs;
    pthread_mutex_unlock(&b->mu);
    for (int page = 0; page < PULL_MAX_PAGES; page++) {
        char path[256];
        leader_set *set;
        http_reply rep;
        size_t moved = 0;
        int more = -1;
        txn t;

        pthread_mutex_lock(&b->mu);
        peer *p = &b->peers.v[idx];
        if (!txn_store_ok(b)) {
            /* The copies could not be kept: pull once storage is back, at
             * the probe's pace meanwhile. */
            p->next_due_mono_ms = coord_now_mono_ms() + TXN_PROBE_MS;
            pthread_mutex_unlock(&b->mu);
            return;
        }
        p->pull_requested = false;
        p->last_attempt_wall_ms = coord_now_wall_ms();
        /* form=compact: a broker before it ignores the parameter and
         * sends the full form, which reads the same way. */
        snprintf(path, sizeof(path), "/v1/metadata?since=%llu&epoch=%s&limit=%d&from=%s&form=compact",
                 (unsigned long long)p->since, p->epoch[0] ? p->epoch : "none", PULL_PAGE,
                 b->cfg.id);
        set = set_locked(p);
        pthread_mutex_unlock(&b->mu);

        int rc = set ? leader_call(set, "GET", path, NULL, &pull_opts, &rep, NULL, 0) : -1;
        if (!set)
            snprintf(rep.error, sizeof(rep.error), "out of memory");

        if (rc == 0 && rep.status == 200 && rep.raw)
            more = page_apply(b, idx, rep.raw, rep.raw_len, &moved);
        pthread_mutex_lock(&b->mu);
        txn_begin(b, &t);
        p = &b->peers.v[idx];
        pulled(b, &t, p, more >= 0, rc < 0 ? rep.error : "bad reply");
        p->last_pull_objects = p->pulled_units + p->pulled_jobs - had;
        if (moved)
            txn_wake_dispatch(&t);
        txn_commit_or_drop(&t);
        txn_end(&t);
        http_reply_release(&rep);
        if (more != 1 || wake_stopping(&b->sched))
            return;
    }
}

static void notify_peer(broker *b, size_t idx, uint64_t version)
{
    leader_set *set;
    http_reply rep;

    pthread_mutex_lock(&b->mu);
    set = set_locked(&b->peers.v[idx]);
    b->m.sync_notifies++;
    json_t *body = view_envelope(
        json_pack("{s:s, s:I}", "broker", b->cfg.id, "version", (json_int_t)version), &b->clock);
    pthread_mutex_unlock(&b->mu);
    if (body && set) {
        (void)leader_call(set, "POST", "/v1/notify", body, &notify_opts, &rep, NULL, 0);
        http_reply_release(&rep);
    }
    json_decref(body);
}

/* What the peer thread does next: pull, notify, or wait until *deadline.
 * Caller holds mu. */
static void schedule(broker *b, peer *p, uint64_t mono, bool *pull, bool *notify, uint64_t *version,
                     uint64_t *deadline)
{
    *deadline = p->next_due_mono_ms;
    *pull = mono >= p->next_due_mono_ms;
    /* A signalled pull comes soon, but at most every PULL_MIN_GAP_MS per
     * peer (a busy city must not turn signals into a pull storm), and
     * never inside a failing peer's backoff. */
    if (p->pull_requested && !p->failures) {
        uint64_t at = p->last_pull_mono_ms +
                      (p->last_pull_objects >= BUSY_OBJECTS ? BUSY_GAP_MS : PULL_MIN_GAP_MS);

        if (mono >= at)
            *pull = true;
        else if (at < *deadline)
            *deadline = at;
    }
    /* Our own urgent changes are signalled once things are quiet for the
     * debounce, or at the latest NOTIFY_MAX_WAIT_MS after the first, and
     * at most every NOTIFY_MIN_GAP_MS to the same peer. Quiet ones
     * (state.h) wait for the peer's next pull, whatever brings it. */
    *version = b->st.meta_version;
    *notify = false;
    if (b->st.urgent_version > p->notified_version && p->failures == 0) {
        if (!p->pending_since_mono_ms)
            p->pending_since_mono_ms = mono;
        uint64_t quiet = b->last_change_mono_ms + NOTIFY_DEBOUNCE_MS;
        uint64_t latest = p->pending_since_mono_ms + NOTIFY_MAX_WAIT_MS;
        uint64_t at = quiet < latest ? quiet : latest;
        uint64_t gap = p->last_notify_mono_ms + (*version - p->notified_version >= BUSY_OBJECTS
                                                     ? BUSY_GAP_MS
                                                     : NOTIFY_MIN_GAP_MS);

        if (gap > at)
            at = gap;
        if (mono >= at)
            *notify = true;
        else if (at < *deadline)
            *deadline = at;
    }
    if (*notify) {
        p->notified_version = *version;
        p->pending_since_mono_ms = 0;
        p->last_notify_mono_ms = mono;
    }
    if (*pull)
        p->last_pull_mono_ms = mono;
}

static void *peer_main(void *arg)
{
    struct peer_arg a = *(struct peer_arg *)arg;
    broker *b = a.b;
    uint64_t seen = wake_gen(&b->sched);

    free(arg);
    while (!wake_stopping(&b->sched)) {
        bool pull, notify;
        uint64_t version, deadline;

        pthread_mutex_lock(&b->mu);
        schedule(b, &b->peers.v[a.idx], coord_now_mono_ms(), &pull, &notify, &version, &deadline);
        pthread_mutex_unlock(&b->mu);
        if (notify)
            notify_peer(b, a.idx, version);
        if (pull)
            pull_peer(b, a.idx);
        if (!notify && !pull) {
            uint64_t now = coord_now_mono_ms();

            wake_wait(&b->sched, &seen, deadline > now ? deadline - now : 0);
        }
    }
    http_client_thread_cleanup();
    return NULL;
}
