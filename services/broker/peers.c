/* Pull, apply, notify debounce and backoff (see peers.h). */
#include "peers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "emergency.h"
#include "http_client.h"
#include "views.h"

#define NOTIFY_DEBOUNCE_MS 50
#define NOTIFY_MAX_WAIT_MS 300
#define NOTIFY_MIN_GAP_MS  500
#define PULL_MIN_GAP_MS    500
#define PULL_PAGE          500
#define PULL_MAX_PAGES     1000
#define BACKOFF_FIRST_MS   250

static const http_opts pull_opts = {.connect_timeout_ms = 500, .timeout_ms = 2000};
static const http_opts notify_opts = {.connect_timeout_ms = 300, .timeout_ms = 600};

struct peer_arg {
    broker *b;
    size_t idx;
};

static void *peer_main(void *arg);

static bool start_thread(broker *b, size_t idx)
{
    peer *p = &b->peers.v[idx];
    struct peer_arg *a = malloc(sizeof(*a));

    if (!a)
        return false;
    a->b = b;
    a->idx = idx;
    if (pthread_create(&p->thr, NULL, peer_main, a) != 0) {
        free(a);
        return false;
    }
    p->thread_started = true;
    return true;
}

void peers_add(broker *b, txn *t, const char *id, const char *url)
{
    size_t idx;
    bool added;
    int rc = peertab_add(&b->peers, b->cfg.id, id, url, coord_now_mono_ms(), &idx, &added);

    if (rc == COORD_E_RANGE)
        txn_log(t, "warn", "peer %s ignored: at most %d peers", id, BROKER_MAX_PEERS);
    if (rc < 0)
        return;
    if (added)
        txn_log(t, "info", "peer %s at %s", id, url);
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

/* ---- applying a page ---- */

/* A copy as it came, kept on disk too, so a restart still answers for a
 * peer that is down. */
static void keep(txn *t, char kind, const char *id, const char *from, const json_t *v, uint64_t now)
{
    char *text = json_dumps(v, JSON_COMPACT);

    if (text)
        txn_put_remote(t, kind, id, from, text, now);
    free(text);
}

static void apply_units(broker *b, txn *t, peer *p, const json_t *units, uint64_t now, size_t *nu,
                        size_t *moved)
{
    size_t i;
    json_t *v;

    json_array_foreach (units, i, v) {
        char id[COORD_ID_MAX + 1];
        copy_outcome out;
        runit copy;

        if (view_parse_unit(v, b->st.strings, p->id, now, p->gen, &copy) < 0)
            continue;
        snprintf(id, sizeof(id), "%s", copy.id);
        remote_apply_unit(&b->rem, &b->st, &copy, coord_now_wall_ms(), &out);
        if (out.stored) {
            (*nu)++;
            keep(t, 'u', id, p->id, v, now);
        }
        for (size_t k = 0; k < out.nrequeued; k++) {
            uint32_t an = job_current_attempt(out.requeued[k])->n;

            txn_put_job(t, out.requeued[k]);
            txn_event(t, "job_requeued", out.requeued[k]->id, id, an,
                      "borrowed unit %s lost at %s: attempt %u revoked", id, p->id, an);
        }
        *moved += out.nrequeued + out.may_aid;
    }
}

static void apply_jobs(broker *b, txn *t, peer *p, const json_t *jobs, uint64_t now, size_t *nj)
{
    size_t i;
    json_t *v;

    json_array_foreach (jobs, i, v) {
        char id[COORD_ID_MAX + 1];
        copy_outcome out;
        rjob copy;

        if (view_parse_job(v, b->st.strings, p->id, now, p->gen, &copy) < 0)
            continue;
        snprintf(id, sizeof(id), "%s", copy.id);
        remote_apply_job(&b->rem, &b->st, &copy, &out);
        if (out.stored) {
            (*nj)++;
            keep(t, 'j', id, p->id, v, now);
        }
    }
}

/* Forgets what a finished full sync did not confirm, on disk too. */
static void sweep(broker *b, txn *t, peer *p, char kind)
{
    char(*ids)[COORD_ID_MAX + 1] = NULL;
    size_t n = 0;

    if (remote_sweep(&b->rem, kind, p->id, p->gen, &ids, &n) < 0) {
        txn_log(t, "warn", "out of memory sweeping the copies of %s", p->id);
        return;
    }
    for (size_t i = 0; i < n; i++)
        txn_del_remote(t, kind, ids[i]);
    free(ids);
}

int peers_apply_page(broker *b, txn *t, peer *p, const json_t *page, size_t *moved)
{
    const char *who = json_string_value(json_object_get(page, "broker"));
    const char *epoch = json_string_value(json_object_get(page, "epoch"));
    const json_t *version = json_object_get(page, "version");
    const json_t *units = json_object_get(page, "units"), *jobs = json_object_get(page, "jobs");
    const json_t *em_ms = json_object_get(page, "emergency_set_ms");
    severity level;
    size_t nu = 0, nj = 0;
    uint64_t now = coord_now_wall_ms();

    if (!who || strcmp(who, p->id) != 0 || !epoch || strlen(epoch) >= sizeof(p->epoch) ||
        !json_is_integer(version) || !json_is_array(units) || !json_is_array(jobs))
        return -1;
    bool more = json_is_true(json_object_get(page, "more"));
    peer_page_begin(p, json_is_true(json_object_get(page, "full")));
    apply_units(b, t, p, units, now, &nu, moved);
    apply_jobs(b, t, p, jobs, now, &nj);
    snprintf(p->epoch, sizeof(p->epoch), "%s", epoch);
    p->since = (uint64_t)json_integer_value(version);
    p->pulled_units += nu;
    p->pulled_jobs += nj;
    if (peer_page_end(p, more)) {
        sweep(b, t, p, 'u');
        sweep(b, t, p, 'j');
    }
    clock_receive_json(b, json_object_get(page, "vclock"));
    if (nu || nj) {
        /* Receiving news is an event: it orders the peer's changes before
         * whatever we do next, and the event log shows the message. */
        txn_event(t, "synced", NULL, NULL, 0, "pulled %zu units and %zu jobs from %s", nu, nj,
                  p->id);
    }
    if (json_is_integer(em_ms) && json_integer_value(em_ms) > 0 &&
        severity_parse(json_string_value(json_object_get(page, "emergency")), &level) == 0)
        emergency_apply(b, t, level, (uint64_t)json_integer_value(em_ms), p->id);
    return more ? 1 : 0;
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
    p->last_success_wall_ms = coord_now_wall_ms();
    p->last_success_mono_ms = mono;
    p->next_due_mono_ms = mono + wake_jitter(interval);
}

static void pull_peer(broker *b, size_t idx)
{
    for (int page = 0; page < PULL_MAX_PAGES; page++) {
        char url[BROKER_URL_MAX + 256];
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
        snprintf(url, sizeof(url), "%s/v1/metadata?since=%llu&epoch=%s&limit=%d&from=%s", p->url,
                 (unsigned long long)p->since, p->epoch[0] ? p->epoch : "none", PULL_PAGE,
                 b->cfg.id);
        pthread_mutex_unlock(&b->mu);

        int rc = http_json("GET", url, NULL, &pull_opts, &rep);

        pthread_mutex_lock(&b->mu);
        txn_begin(b, &t);
        p = &b->peers.v[idx];
        if (rc == 0 && rep.status == 200 && rep.body)
            more = peers_apply_page(b, &t, p, rep.body, &moved);
        pulled(b, &t, p, more >= 0, rc < 0 ? rep.error : "bad reply");
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
    char url[BROKER_URL_MAX + 32];
    http_reply rep;

    pthread_mutex_lock(&b->mu);
    snprintf(url, sizeof(url), "%s/v1/notify", b->peers.v[idx].url);
    json_t *body = view_envelope(
        json_pack("{s:s, s:I}", "broker", b->cfg.id, "version", (json_int_t)version), &b->clock);
    pthread_mutex_unlock(&b->mu);
    if (body) {
        http_json("POST", url, body, &notify_opts, &rep);
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
        uint64_t at = p->last_pull_mono_ms + PULL_MIN_GAP_MS;

        if (mono >= at)
            *pull = true;
        else if (at < *deadline)
            *deadline = at;
    }
    /* Our own changes are signalled once things are quiet for the
     * debounce, or at the latest NOTIFY_MAX_WAIT_MS after the first, and
     * at most every NOTIFY_MIN_GAP_MS to the same peer. */
    *version = b->st.meta_version;
    *notify = false;
    if (*version > p->notified_version && p->failures == 0) {
        if (!p->pending_since_mono_ms)
            p->pending_since_mono_ms = mono;
        uint64_t quiet = b->last_change_mono_ms + NOTIFY_DEBOUNCE_MS;
        uint64_t latest = p->pending_since_mono_ms + NOTIFY_MAX_WAIT_MS;
        uint64_t at = quiet < latest ? quiet : latest;
        uint64_t gap = p->last_notify_mono_ms + NOTIFY_MIN_GAP_MS;

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
