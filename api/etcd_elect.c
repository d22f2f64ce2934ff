/* Leader election on etcd with a lease and a create-revision key, and the
 * fenced txn that keeps a former leader from writing. The rules are in
 * etcd.h; this file owns the campaign/keep-alive thread and the role state
 * it shares with callers. */
#include "etcd.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TTL_S 3

struct etcd_election {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool started, stop, campaigning;
    /* tc: the thread's keep-alives and campaigns; cc: the callers' txns and
     * observations, so a fenced write never queues behind a keep-alive */
    etcd_client *tc, *cc;
    char prefix[200];
    char key[256];
    char id[128];
    int64_t ttl_s;
    long tick_ms, retry_ms;
    void (*on_change)(void *arg, etcd_role role, const etcd_fence *fence);
    void *on_change_arg;
    /* under lock */
    int64_t lease;
    long lease_deadline_ms; /* when the lease may be gone, by our own clock */
    long next_campaign_ms, next_keepalive_ms;
    etcd_role role;
    etcd_fence fence;
};

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void notify(etcd_election *e, etcd_role role, const etcd_fence *fence)
{
    if (e->on_change)
        e->on_change(e->on_change_arg, role, fence);
}

/* ---- fencing (needs no election object) ---- */

static bool fence_holds(const etcd_fence *f, const etcd_kv *kv)
{
    return kv && kv->create_revision == f->create_revision && strcmp(kv->value, f->id) == 0;
}

etcd_err etcd_txn_fenced(etcd_client *c, const etcd_fence *fence, const etcd_cmp *cmps, size_t ncmp,
                         const etcd_op *ops, size_t nops, etcd_txn_result *out)
{
    etcd_cmp *all;
    etcd_op read_leader = {.kind = ETCD_OP_RANGE, .key = fence ? fence->key : NULL};
    etcd_txn_result r = {0};
    etcd_err e;

    if (!c || !fence || !fence->key[0] || !fence->id[0] || fence->create_revision <= 0 ||
        (ncmp && !cmps))
        return ETCD_E_INVALID;
    all = calloc(ncmp + 2, sizeof(*all));
    if (!all)
        return ETCD_E_NOMEM;
    all[0] = (etcd_cmp){.key = fence->key,
                        .target = ETCD_CMP_VALUE,
                        .op = ETCD_EQ,
                        .value = fence->id,
                        .value_len = strlen(fence->id)};
    all[1] = (etcd_cmp){.key = fence->key,
                        .target = ETCD_CMP_CREATE_REVISION,
                        .op = ETCD_EQ,
                        .number = fence->create_revision};
    if (ncmp)
        memcpy(all + 2, cmps, ncmp * sizeof(*cmps));
    /* The failure branch reads the leader key, so one round trip tells a
     * broken fence from a failed compare of the caller's. */
    e = etcd_txn(c, all, ncmp + 2, ops, nops, &read_leader, 1, &r);
    free(all);
    if (e == ETCD_OK) {
        if (out)
            *out = r;
        else
            etcd_txn_result_release(&r);
        return ETCD_OK;
    }
    if (e == ETCD_E_COMPARE_FAILED) {
        const etcd_range_result *lr = r.n == 1 ? &r.results[0].range : NULL;
        e = lr && lr->n == 1 && fence_holds(fence, &lr->kvs[0]) ? ETCD_E_COMPARE_FAILED
                                                                : ETCD_E_NOT_LEADER;
        etcd_txn_result_release(&r);
    }
    return e;
}

static int leader_from_kv(const etcd_kv *kv, int64_t rev, etcd_leader *out)
{
    if (kv->value_len == 0 || kv->value_len >= sizeof(out->id) ||
        strlen(kv->value) != kv->value_len)
        return -1;
    memcpy(out->id, kv->value, kv->value_len + 1);
    out->lease = kv->lease;
    out->create_revision = kv->create_revision;
    out->revision = rev;
    return 0;
}

static int leader_key(char *buf, size_t n, const char *prefix)
{
    size_t len = strlen(prefix);

    if (len == 0 || len + sizeof("/leader") > n)
        return -1;
    memcpy(buf, prefix, len);
    memcpy(buf + len, "/leader", sizeof("/leader"));
    return 0;
}

etcd_err etcd_leader_get(etcd_client *c, const char *prefix, etcd_leader *out)
{
    char key[256];
    etcd_kv kv;
    etcd_leader l = {0};
    int64_t rev;
    etcd_err e;

    if (!c || !prefix || !out || leader_key(key, sizeof(key), prefix) < 0)
        return ETCD_E_INVALID;
    e = etcd_get(c, key, &kv, &rev);
    if (e)
        return e;
    if (leader_from_kv(&kv, rev, &l) < 0) {
        etcd_kv_release(&kv);
        return ETCD_E_BAD_REPLY;
    }
    etcd_kv_release(&kv);
    *out = l;
    return ETCD_OK;
}

/* ---- election ---- */

etcd_election *etcd_election_new(const char *const *urls, size_t n, const char *prefix,
                                 const char *id, const etcd_election_opts *opts)
{
    etcd_election *e;
    etcd_election_opts o = {0};
    etcd_opts co;
    size_t idlen = id ? strlen(id) : 0;

    if (!prefix || !prefix[0] || strlen(prefix) >= sizeof(e->prefix) || idlen == 0 ||
        idlen >= sizeof(e->id))
        return NULL;
    if (opts)
        o = *opts;
    if (o.ttl_s <= 0)
        o.ttl_s = DEFAULT_TTL_S;
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    pthread_mutex_init(&e->lock, NULL);
    {
        /* the thread's period must not jump with the wall clock */
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&e->cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    e->ttl_s = o.ttl_s;
    /* Three keep-alives per TTL: two may be lost before the lease is. */
    e->tick_ms = (long)(o.ttl_s * 1000 / 3);
    e->retry_ms = o.retry_ms > 0 && o.retry_ms < e->tick_ms ? o.retry_ms : e->tick_ms;
    e->on_change = o.on_change;
    e->on_change_arg = o.on_change_arg;
    e->campaigning = true;
    memcpy(e->id, id, idlen + 1);
    memcpy(e->prefix, prefix, strlen(prefix) + 1);
    leader_key(e->key, sizeof(e->key), prefix);
    co = o.client;
    /* A keep-alive that takes longer than a tick is as good as lost. */
    if (co.timeout_ms <= 0 || co.timeout_ms > e->tick_ms)
        co.timeout_ms = e->tick_ms;
    if (co.request_timeout_ms <= 0 || co.request_timeout_ms > co.timeout_ms)
        co.request_timeout_ms = co.timeout_ms;
    e->tc = etcd_new(urls, n, &co);
    e->cc = etcd_new(urls, n, &co);
    if (!e->tc || !e->cc) {
        etcd_election_free(e);
        return NULL;
    }
    return e;
}

/* The lease is gone or may be: forget it, and step down if leading. */
static void lose_lease(etcd_election *e, int64_t lease)
{
    bool was_leader = false;

    pthread_mutex_lock(&e->lock);
    if (e->lease == lease) {
        e->lease = 0;
        was_leader = e->role == ETCD_LEADER;
        e->role = ETCD_FOLLOWER;
        e->fence = (etcd_fence){0};
    }
    pthread_mutex_unlock(&e->lock);
    if (was_leader)
        notify(e, ETCD_FOLLOWER, NULL);
}

/* Steps down from the term of fence f (and only that term: a newer one won
 * meanwhile stays). */
static void step_down(etcd_election *e, const etcd_fence *f)
{
    bool was_leader = false;

    pthread_mutex_lock(&e->lock);
    if (e->role == ETCD_LEADER && e->fence.create_revision == f->create_revision) {
        e->role = ETCD_FOLLOWER;
        e->fence = (etcd_fence){0};
        was_leader = true;
    }
    pthread_mutex_unlock(&e->lock);
    if (was_leader)
        notify(e, ETCD_FOLLOWER, NULL);
}

static void keepalive(etcd_election *e)
{
    int64_t lease, ttl = 0;
    long deadline, sent;
    etcd_err err;

    pthread_mutex_lock(&e->lock);
    lease = e->lease;
    deadline = e->lease_deadline_ms;
    pthread_mutex_unlock(&e->lock);
    if (!lease)
        return;
    sent = now_ms();
    /* Past the deadline (we were paused, or keep-alives kept failing): the
     * lease may be gone at etcd, so this candidate is no leader any more,
     * whatever a late keep-alive would say. */
    if (sent >= deadline) {
        lose_lease(e, lease);
        return;
    }
    err = etcd_lease_keepalive_once(e->tc, lease, &ttl);
    if (err == ETCD_OK) {
        pthread_mutex_lock(&e->lock);
        /* etcd renews from when it received the keep-alive, which is after
         * we sent it: counting from `sent` errs on the safe side. */
        if (e->lease == lease)
            e->lease_deadline_ms = sent + ttl * 1000;
        pthread_mutex_unlock(&e->lock);
    } else if (err == ETCD_E_NOT_FOUND || now_ms() >= deadline) {
        lose_lease(e, lease);
    }
}

static etcd_err campaign(etcd_election *e, etcd_role *role_out)
{
    int64_t lease, granted = 0;
    etcd_cmp absent = {.key = e->key, .target = ETCD_CMP_CREATE_REVISION, .op = ETCD_EQ};
    etcd_op put = {.kind = ETCD_OP_PUT, .key = e->key, .value = e->id, .value_len = strlen(e->id)};
    etcd_op get = {.kind = ETCD_OP_RANGE, .key = e->key};
    etcd_txn_result r = {0};
    etcd_fence won = {0};
    bool leader = false;
    etcd_err err;

    pthread_mutex_lock(&e->lock);
    lease = e->lease;
    if (e->role == ETCD_LEADER) {
        pthread_mutex_unlock(&e->lock);
        *role_out = ETCD_LEADER;
        return ETCD_OK;
    }
    pthread_mutex_unlock(&e->lock);
    /* While somebody else leads, a read is all it takes to know it; the
     * campaign txn is a raft write, so standbys polling with it would load
     * the cluster for nothing. */
    {
        etcd_kv cur;
        err = etcd_get(e->tc, e->key, &cur, NULL);
        if (err == ETCD_OK) {
            bool ours = lease && cur.lease == lease && strcmp(cur.value, e->id) == 0;
            etcd_kv_release(&cur);
            if (!ours) {
                *role_out = ETCD_FOLLOWER;
                return ETCD_OK;
            }
        } else if (err != ETCD_E_NOT_FOUND) {
            return err;
        }
    }
    if (!lease) {
        long sent = now_ms();
        err = etcd_lease_grant(e->tc, e->ttl_s, &lease, &granted);
        if (err)
            return err;
        pthread_mutex_lock(&e->lock);
        e->lease = lease;
        e->lease_deadline_ms = sent + granted * 1000;
        pthread_mutex_unlock(&e->lock);
    }
    put.lease = lease;
    err = etcd_txn(e->tc, &absent, 1, &put, 1, &get, 1, &r);
    memcpy(won.key, e->key, sizeof(won.key));
    memcpy(won.id, e->id, sizeof(won.id));
    if (err == ETCD_OK) {
        /* a put inside a txn creates the key at the txn's revision */
        won.create_revision = r.revision;
        leader = true;
    } else if (err == ETCD_E_COMPARE_FAILED) {
        const etcd_range_result *cur = r.n == 1 ? &r.results[0].range : NULL;
        /* Our own earlier campaign, applied but its reply lost (the failover
         * sent it again): the key is ours. */
        if (cur && cur->n == 1 && cur->kvs[0].lease == lease &&
            strcmp(cur->kvs[0].value, e->id) == 0) {
            won.create_revision = cur->kvs[0].create_revision;
            leader = true;
        }
        err = ETCD_OK;
    }
    etcd_txn_result_release(&r);
    if (err == ETCD_E_NOT_FOUND) {
        /* the lease expired while we were not looking (paused, or etcd
         * unreachable): grant a new one next time */
        lose_lease(e, lease);
        return err;
    }
    if (err)
        return err;
    if (leader) {
        pthread_mutex_lock(&e->lock);
        /* the lease may have been lost while the txn was in flight */
        leader = e->lease == lease && now_ms() < e->lease_deadline_ms;
        if (leader) {
            e->role = ETCD_LEADER;
            e->fence = won;
        }
        pthread_mutex_unlock(&e->lock);
        if (leader)
            notify(e, ETCD_LEADER, &won);
    }
    *role_out = leader ? ETCD_LEADER : ETCD_FOLLOWER;
    return ETCD_OK;
}

etcd_err etcd_election_campaign_once(etcd_election *e, etcd_role *role)
{
    etcd_role r = ETCD_FOLLOWER;
    etcd_err err;

    if (!e || !role || e->started)
        return ETCD_E_INVALID;
    keepalive(e);
    err = campaign(e, &r);
    if (err == ETCD_OK)
        *role = r;
    return err;
}

static void *election_thread(void *arg)
{
    etcd_election *e = arg;

    pthread_mutex_lock(&e->lock);
    while (!e->stop) {
        long now = now_ms(), wake;
        /* a follower polls more often than T/3 but keeps its lease alive
         * no more often than a leader does */
        bool do_keepalive = now >= e->next_keepalive_ms, do_campaign;
        struct timespec ts;

        pthread_mutex_unlock(&e->lock);
        if (do_keepalive)
            keepalive(e);
        pthread_mutex_lock(&e->lock);
        now = now_ms();
        if (do_keepalive)
            e->next_keepalive_ms = now + e->tick_ms;
        do_campaign = e->campaigning && e->role == ETCD_FOLLOWER && now >= e->next_campaign_ms;
        pthread_mutex_unlock(&e->lock);
        if (do_campaign) {
            etcd_role r;
            campaign(e, &r);
        }
        pthread_mutex_lock(&e->lock);
        now = now_ms();
        if (do_campaign)
            e->next_campaign_ms = now + e->retry_ms;
        wake = e->role == ETCD_LEADER || !e->campaigning ? e->tick_ms : e->retry_ms;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += wake / 1000;
        ts.tv_nsec += (wake % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!e->stop)
            pthread_cond_timedwait(&e->cond, &e->lock, &ts);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

int etcd_election_start(etcd_election *e)
{
    if (!e || e->started)
        return -1;
    if (pthread_create(&e->thread, NULL, election_thread, e) != 0)
        return -1;
    e->started = true;
    return 0;
}

etcd_role etcd_election_role(etcd_election *e, etcd_fence *fence)
{
    etcd_role r;

    if (!e)
        return ETCD_FOLLOWER;
    pthread_mutex_lock(&e->lock);
    /* Our own clock says the lease may be gone: not leader, even before the
     * thread gets to run (it may have been paused with the process). */
    if (e->role == ETCD_LEADER && now_ms() >= e->lease_deadline_ms) {
        int64_t lease = e->lease;
        pthread_mutex_unlock(&e->lock);
        lose_lease(e, lease);
        pthread_mutex_lock(&e->lock);
    }
    r = e->role;
    if (r == ETCD_LEADER && fence)
        *fence = e->fence;
    pthread_mutex_unlock(&e->lock);
    return r;
}

etcd_err etcd_election_observe(etcd_election *e, etcd_leader *out)
{
    if (!e)
        return ETCD_E_INVALID;
    return etcd_leader_get(e->cc, e->prefix, out);
}

etcd_err etcd_election_txn(etcd_election *e, const etcd_cmp *cmps, size_t ncmp, const etcd_op *ops,
                           size_t nops, etcd_txn_result *out)
{
    etcd_fence f;
    etcd_err err;

    if (!e)
        return ETCD_E_INVALID;
    if (etcd_election_role(e, &f) != ETCD_LEADER)
        return ETCD_E_NOT_LEADER;
    err = etcd_txn_fenced(e->cc, &f, cmps, ncmp, ops, nops, out);
    if (err == ETCD_E_NOT_LEADER)
        step_down(e, &f);
    return err;
}

etcd_err etcd_election_resign(etcd_election *e, bool keep_running)
{
    etcd_fence f = {0};
    int64_t lease;
    bool was_leader;
    etcd_err err = ETCD_OK;

    if (!e)
        return ETCD_E_INVALID;
    pthread_mutex_lock(&e->lock);
    was_leader = e->role == ETCD_LEADER;
    f = e->fence;
    lease = e->lease;
    e->role = ETCD_FOLLOWER;
    e->fence = (etcd_fence){0};
    e->lease = 0;
    e->campaigning = keep_running;
    /* campaign again one retry period from now, not at once: resigning
     * is meant to let a standby win */
    e->next_campaign_ms = now_ms() + e->retry_ms;
    pthread_mutex_unlock(&e->lock);
    if (was_leader) {
        etcd_op del = {.kind = ETCD_OP_DELETE, .key = f.key};
        err = etcd_txn_fenced(e->cc, &f, NULL, 0, &del, 1, NULL);
        if (err == ETCD_E_NOT_LEADER)
            err = ETCD_OK; /* somebody else's already */
        notify(e, ETCD_FOLLOWER, NULL);
    }
    if (lease) {
        etcd_err r = etcd_lease_revoke(e->cc, lease);
        if (r != ETCD_OK && r != ETCD_E_NOT_FOUND && err == ETCD_OK)
            err = r;
    }
    return err;
}

void etcd_election_free(etcd_election *e)
{
    if (!e)
        return;
    if (e->started) {
        pthread_mutex_lock(&e->lock);
        e->stop = true;
        pthread_cond_signal(&e->cond);
        pthread_mutex_unlock(&e->lock);
        pthread_join(e->thread, NULL);
    }
    /* the caller is tearing down: its callback's state may be gone */
    e->on_change = NULL;
    if (e->tc && e->cc)
        etcd_election_resign(e, false);
    etcd_free(e->tc);
    etcd_free(e->cc);
    pthread_cond_destroy(&e->cond);
    pthread_mutex_destroy(&e->lock);
    free(e);
}
