/* The transaction runner (see txn.h). */
#include "txn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "codec.h"
#include "batch.h"
#include "restore.h"
#include "ha.h"
#include "store_etcd.h"

#define TXN_LOG_MAX (1024 * 1024)

void txn_begin(broker *b, txn *t)
{
    /* Not memset: the log buffer needs no clearing. */
    t->b = b;
    t->opened = t->failed = t->committed = t->refused = false;
    t->staged = t->unlocked = t->fire = t->signal = false;
    t->batch = 0;
    t->wake_dispatch = t->signal_peers = false;
    t->version0 = b->st.urgent_version;
    t->log[0] = '\0';
    t->loglen = 0;
    strbuf_init(&t->more, TXN_LOG_MAX);
    memset(&t->msgs, 0, sizeof(t->msgs));
    memset(&t->on_abort, 0, sizeof(t->on_abort));
    memset(&t->parked, 0, sizeof(t->parked));
}

/* SQLite's word on the failure, before a rollback replaces it. */
static void note_error(broker *b)
{
    b->health.error[0] = '\0';
    b->store.error(b->store.cls, b->health.error, sizeof(b->health.error));
}

bool txn_store_ok(broker *b)
{
    store_health *h = &b->health;
    uint64_t now;

    /* A standby, or a leader not rebuilt for its term, writes nothing. With
     * etcd a failing store is not probed: the role thread rebuilds before
     * this broker leads again, and that ends it. */
    if (b->ha.on)
        return ha_writable(b) && !h->failing;
    if (!h->failing)
        return true;
    now = coord_now_mono_ms();
    if (now < h->next_probe_mono_ms)
        return false;
    h->next_probe_mono_ms = now + TXN_PROBE_MS;
    if (b->store.probe(b->store.cls) < 0) {
        note_error(b);
        h->probes_failed++;
        return false;
    }
    h->probes_ok++;
    h->failing = false;
    service_log("info", "storage takes writes again after %llu ms (%llu failed probes)",
                (unsigned long long)(now - h->failing_since_mono_ms),
                (unsigned long long)(h->probes_failed - h->probes_failed_before));
    /* Jobs queued meanwhile waited for this. */
    wake_signal(&b->drain);
    return true;
}

static int commit_batch(broker *b);

/* True when writes may go on: the store transaction is open (the group's
 * batch: opening it now if no batch is) and nothing failed yet. While
 * storage is failing nothing reaches the store, nor while this broker is
 * not its district's writing leader (etcd). */
static bool writable(txn *t)
{
    broker *b = t->b;
    bool fresh;

    if (t->failed)
        return false;
    if (b->health.failing) {
        t->failed = true;
        return false;
    }
    if (!ha_writable(b)) {
        t->failed = true;
        t->refused = !t->opened; /* nothing of it reached the store */
        return false;
    }
    /* A batch as large as one etcd txn may be: committed before this change
     * joins (the change's own writes then open the next one). A failure is
     * this change's, handled where every failed write is (txn_commit). */
    if (!t->opened && batch_is_open(&b->grp) && b->store.full && b->store.full(b->store.cls) &&
        commit_batch(b) < 0) {
        note_error(b);
        t->failed = true;
        return false;
    }
    if (!t->opened) {
        if (!batch_is_open(&b->grp) && b->store.begin(b->store.cls) < 0) {
            note_error(b);
            t->failed = true;
            return false;
        }
        t->batch = batch_open(&b->grp, &fresh);
        t->opened = true;
    }
    return true;
}

static void check(txn *t, int rc)
{
    if (rc < 0) {
        note_error(t->b);
        t->failed = true;
    }
}

void txn_put_unit(txn *t, unit *u)
{
    state_touch_unit(&t->b->st, u);
    if (writable(t))
        check(t, t->b->store.put_unit(t->b->store.cls, u));
}

void txn_put_job(txn *t, job *j)
{
    state_touch_job(&t->b->st, j);
    if (writable(t))
        check(t, t->b->store.put_job(t->b->store.cls, j));
}

void txn_insert_result(txn *t, const job *j, const result *r)
{
    if (writable(t))
        check(t, t->b->store.insert_result(t->b->store.cls, j->id, r));
}

void txn_put_meta(txn *t, const char *key, const char *value)
{
    if (writable(t))
        check(t, t->b->store.put_meta(t->b->store.cls, key, value));
}

void txn_put_claim(txn *t, const char *unit_id, const char *job_id, uint32_t attempt_no,
                   const char *owner)
{
    store_claim c = {.unit_id = unit_id, .job_id = job_id, .owner = owner, .attempt = attempt_no};

    if (writable(t))
        check(t, t->b->store.put_claim(t->b->store.cls, &c));
}

void txn_del_claim(txn *t, const char *unit_id, const char *job_id)
{
    if (writable(t))
        check(t, t->b->store.del_claim(t->b->store.cls, unit_id, job_id));
}

void txn_put_step(txn *t, const char *unit_id, const char *job_id, uint32_t attempt_no,
                  const char *step, uint64_t at_ms)
{
    store_step x = {
        .unit_id = unit_id, .job_id = job_id, .step = step, .attempt = attempt_no, .at_ms = at_ms};

    if (writable(t))
        check(t, t->b->store.put_step(t->b->store.cls, &x));
}

void txn_put_remote(txn *t, char kind, const char *id, const char *owner, const char *obj,
                    uint64_t fetched_ms)
{
    store_remote r = {.kind = kind, .id = id, .owner = owner, .obj = obj, .fetched_ms = fetched_ms};

    if (writable(t))
        check(t, t->b->store.put_remote(t->b->store.cls, &r));
}

void txn_del_remote(txn *t, char kind, const char *id)
{
    if (writable(t))
        check(t, t->b->store.del_remote(t->b->store.cls, kind, id));
}

/* A line may quote client input: no control character may split it (the
 * log shows them as spaces anyway). */
static void sanitize(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            p[i] = ' ';
}

/* Formats "level\tline\n" straight into the txn's buffer; a line that does
 * not fit, and every one after it, goes to the heap. */
static void vlog_line(txn *t, const char *level, const char *fmt, va_list ap)
{
    size_t lvl = strlen(level), room = sizeof(t->log) - t->loglen;

    if (t->more.len == 0 && room > lvl + 2) {
        char *p = t->log + t->loglen;
        va_list aq;
        int n;

        memcpy(p, level, lvl);
        p[lvl] = '\t';
        va_copy(aq, ap);
        n = vsnprintf(p + lvl + 1, room - lvl - 1, fmt, aq);
        va_end(aq);
        if (n >= 0 && lvl + (size_t)n + 2 < room) {
            sanitize(p + lvl + 1, (size_t)n);
            p[lvl + 1 + (size_t)n] = '\n';
            p[lvl + 2 + (size_t)n] = '\0';
            t->loglen += lvl + 2 + (size_t)n;
            return;
        }
        t->log[t->loglen] = '\0';
    }
    char line[8192]; /* an event line carries its whole clock */
    int n = vsnprintf(line, sizeof(line), fmt, ap);

    if (n > 0)
        sanitize(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    strbuf_addf(&t->more, "%s\t%s\n", level, line);
}

void txn_log(txn *t, const char *level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog_line(t, level, fmt, ap);
    va_end(ap);
}

void txn_event(txn *t, const char *type, const char *job_id, const char *unit_id,
               uint32_t attempt_no, const char *fmt, ...)
{
    broker *b = t->b;
    char detail[512], vc[CLOCKTEXT_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    /* What an event names may have changed: peers should see it. */
    state_touch_unit(&b->st, state_unit(&b->st, unit_id));
    state_touch_job(&b->st, state_job(&b->st, job_id));
    /* Every state change is an event at this node: tick, then stamp. */
    if (clock_tick(b) < 0)
        txn_log(t, "error", "vector clock full; event %s not ticked", type);
    clocktext(&b->clock, vc);
    store_event ev = {
        .seq = ++b->event_seq,
        .time_ms = coord_now_wall_ms(),
        .node = b->cfg.id,
        .type = type,
        .job_id = job_id,
        .unit_id = unit_id,
        .attempt = attempt_no,
        .detail = detail,
        .vclock = vc,
    };
    if (writable(t))
        check(t, b->store.add_event(b->store.cls, &ev));
    api_sse_notify(b->sse);
    txn_log(t, "info", "event %llu %s job=%s unit=%s attempt=%u %s vclock=%s",
            (unsigned long long)ev.seq, type, job_id ? job_id : "-", unit_id ? unit_id : "-",
            attempt_no, detail, vc);
}

void txn_taken_back(txn *t, const char *unit_id, const lost_items *items, const char *why)
{
    for (size_t i = 0; i < items->n; i++) {
        const lost_item *it = &items->v[i];

        if (it->foreign) {
            txn_del_claim(t, unit_id, it->job_id);
            txn_event(t, "claim_dropped", it->job_id, unit_id, it->attempt,
                      "claim on %s for job %s dropped: %s; %s will redeploy it", unit_id,
                      it->job_id, why, it->owner);
            continue;
        }
        txn_put_job(t, state_job(&t->b->st, it->job_id));
        txn_event(t, "job_requeued", it->job_id, unit_id, it->attempt, "attempt %u revoked: %s",
                  it->attempt, why);
    }
}

static void add_msg(txn_msgs *l, const char *url, const char *unit_id, const char *job_id,
                    uint32_t attempt_no, const char *reason)
{
    outbox_msg *m;

    if (l->n == l->alloc) {
        size_t na = l->alloc ? l->alloc * 2 : 2;
        outbox_msg *nv = realloc(l->v, na * sizeof(*nv));

        if (!nv)
            return; /* as if the outbox were full: the heartbeat repeats it */
        l->v = nv;
        l->alloc = na;
    }
    m = &l->v[l->n++];
    memset(m, 0, sizeof(*m));
    snprintf(m->url, sizeof(m->url), "%s", url);
    snprintf(m->unit_id, sizeof(m->unit_id), "%s", unit_id ? unit_id : "");
    snprintf(m->job_id, sizeof(m->job_id), "%s", job_id);
    snprintf(m->reason, sizeof(m->reason), "%s", reason ? reason : "");
    m->attempt = attempt_no;
}

void txn_revoke(txn *t, const char *url, const char *job_id, uint32_t attempt_no)
{
    add_msg(&t->msgs, url, NULL, job_id, attempt_no, NULL);
}

void txn_release(txn *t, const char *home_url, const char *unit_id, const char *job_id,
                 uint32_t attempt_no, const char *reason)
{
    add_msg(&t->msgs, home_url, unit_id, job_id, attempt_no, reason);
}

void txn_revoke_on_abort(txn *t, const char *url, const char *job_id, uint32_t attempt_no)
{
    add_msg(&t->on_abort, url, NULL, job_id, attempt_no, NULL);
}

void txn_release_on_abort(txn *t, const char *home_url, const char *unit_id, const char *job_id,
                          uint32_t attempt_no)
{
    add_msg(&t->on_abort, home_url, unit_id, job_id, attempt_no, "revoked");
}

void txn_followups(txn *t, const followups *fu)
{
    for (size_t i = 0; fu && i < fu->n; i++) {
        const followup *f = &fu->v[i];

        if (!f->release) {
            txn_revoke(t, f->url, f->job_id, f->attempt);
            continue;
        }
        const peer *p = peertab_get(&t->b->peers, f->district);
        if (p) {
            txn_release(t, p->url, f->unit_id, f->job_id, f->attempt, f->reason);
        } else if (followups_push(&t->parked, f)) {
            /* Restarted while the coordinator is down, before it named the
             * home: the release waits for its URL (peers_add sends it). */
            txn_log(t, "warn", "release of %s for %s waits: %s is not a known peer yet", f->unit_id,
                    f->job_id, f->district);
        }
    }
}

void txn_wake_dispatch(txn *t)
{
    t->wake_dispatch = true;
}

void txn_signal_peers(txn *t)
{
    t->signal_peers = true;
}

/* The open batch cannot become durable: it is rolled back whole (its
 * changes share one store transaction), settled as failed so none of its
 * changes is acknowledged, and the district in memory is reloaded from the
 * store, which memory was ahead of. With etcd the reload can fail too
 * (no quorum): the copy is kept, writes stay refused, and the role thread
 * reloads it before this broker leads again; false then. SQLite that
 * cannot be read back stops the process. Caller holds b->mu. */
static bool abort_batch(broker *b)
{
    char path[sizeof(b->cfg.data_dir) + 16], err[2048];

    if (batch_is_open(&b->grp))
        b->store.rollback(b->store.cls);
    batch_settle(&b->grp, false);
    if (b->ha.on)
        snprintf(path, sizeof(path), "etcd");
    else
        snprintf(path, sizeof(path), "%s/broker.db", b->cfg.data_dir);
    if (restore_reload(b, path, err, sizeof(err)) == 0)
        return true;
    if (b->ha.on) {
        service_log("error", "%s; keeping the copy in memory, writes refused until it is reloaded",
                    err);
        return false;
    }
    service_log("fatal", "%s; stopping so memory never diverges from disk", err);
    _exit(70);
}

/* etcd: a commit failed (no quorum, the leadership lost, an ambiguous
 * reply): memory is what etcd held when read back, writes are refused
 * and this broker steps down, campaigning again; whoever leads next
 * rebuilds from etcd, which settles an ambiguous commit (docs/HA.md §4).
 * Caller holds b->mu. */
static void etcd_failed(broker *b, bool was_failing)
{
    /* before the reload's reads replace it */
    bool lost = store_etcd_last_error(&b->store) == ETCD_E_NOT_LEADER;

    if (!was_failing)
        service_log("error", "etcd commit failed (%s): %s; writes go to the next leader, which "
                             "rebuilds from etcd first",
                    b->health.error,
                    lost ? "another broker leads now" : "stepping down");
    ha_commit_failed(b, abort_batch(b), !lost);
}

/* The one place a failed write or commit is decided (see txn.h). */
static void store_failed(broker *b)
{
    store_health *h = &b->health;
    bool was_failing = h->failing;

    h->commit_failures++;
    if (!was_failing) {
        h->failing_since_mono_ms = coord_now_mono_ms();
        h->probes_failed_before = h->probes_failed;
    }
    h->failing = true;
    h->next_probe_mono_ms = coord_now_mono_ms() + TXN_PROBE_MS;
    if (b->ha.on) {
        etcd_failed(b, was_failing);
        return;
    }
    if (was_failing)
        service_log("warn", "a change while storage is failing was dropped; reloading %s/broker.db",
                    b->cfg.data_dir);
    else
        service_log("error",
                    "storage failed (%s): writes are refused (503) until a probe write "
                    "succeeds, every %d ms; reloading %s/broker.db so memory is what it holds",
                    h->error, TXN_PROBE_MS, b->cfg.data_dir);
    (void)abort_batch(b);
}

/* A commit is in the WAL, but perhaps not on the disk, and a failed fsync
 * cannot be retried: nothing of it was acknowledged, and stopping is the
 * only way not to (the restart reads what the disk holds). */
static void sync_failed(broker *b)
{
    service_log("fatal", "fsync of %s/broker.db-wal failed (%s): stopping before anything of it "
                         "is acknowledged",
                b->cfg.data_dir, strerror(errno));
    _exit(70);
}

/* Commits the open batch and makes it as durable as asked, settling its
 * members: 0, or -1 when the commit failed (the batch is still open, to be
 * handled by the caller). Caller holds b->mu. */
static int commit_batch(broker *b)
{
    uint64_t members, n;

    if (b->store.commit(b->store.cls) < 0)
        return -1;
    n = batch_close(&b->grp, &members);
    if (b->store.sync && b->store.sync(b->store.cls) < 0)
        sync_failed(b);
    batch_done(&b->grp, n, members, true);
    return 0;
}

/* Commits the open batch, if any: false when it failed (handled: rolled
 * back, memory reloaded). Caller holds b->mu. */
static bool commit_open(broker *b)
{
    if (!batch_is_open(&b->grp))
        return true;
    if (commit_batch(b) < 0) {
        note_error(b);
        store_failed(b);
        return false;
    }
    return true;
}

/* The committer of batch_wait: whatever is open by the time the mutex is
 * ours goes in this one commit. With --durability full its fsync, the slow
 * part, runs after the mutex is released: the next batch fills meanwhile,
 * and what is read of this one waits for it (batch_pending). */
static void commit_leader(void *arg)
{
    broker *b = arg;
    uint64_t members, n;

    pthread_mutex_lock(&b->mu);
    if (!b->store.sync || !batch_is_open(&b->grp)) {
        (void)commit_open(b);
        pthread_mutex_unlock(&b->mu);
        return;
    }
    if (b->store.commit(b->store.cls) < 0) {
        note_error(b);
        store_failed(b);
        pthread_mutex_unlock(&b->mu);
        return;
    }
    n = batch_close(&b->grp, &members);
    pthread_mutex_unlock(&b->mu);
    if (b->store.sync(b->store.cls) < 0)
        sync_failed(b);
    batch_done(&b->grp, n, members, true);
}

static void park_releases(txn *t)
{
    for (size_t i = 0; i < t->parked.n; i++) {
        const followup *f = &t->parked.v[i];

        peertab_park(&t->b->peers, f->district, f->unit_id, f->job_id, f->attempt, f->reason);
    }
}

/* A change a standby refused before it wrote anything: no store failure,
 * nothing to roll back. */
static bool refused_only(txn *t)
{
    return t->failed && t->refused && !t->opened;
}

bool txn_commit(txn *t)
{
    if (refused_only(t))
        return false;
    if (t->failed) {
        store_failed(t->b);
        t->opened = false;
        return false;
    }
    if (t->opened) {
        batch_member(&t->b->grp);
        /* Whatever others staged in the batch is committed with it. */
        if (!commit_open(t->b)) {
            t->opened = false;
            return false;
        }
    }
    t->committed = true;
    park_releases(t);
    return true;
}

bool txn_stage(txn *t)
{
    if (refused_only(t))
        return false;
    if (t->failed) {
        store_failed(t->b);
        t->opened = false;
        return false;
    }
    if (t->opened)
        batch_member(&t->b->grp);
    else
        t->batch = batch_pending(&t->b->grp); /* what it read may be in flight */
    t->committed = t->staged = true;
    return true;
}

void txn_commit_or_drop(txn *t)
{
    (void)!txn_commit(t);
}

void txn_lock(broker *b)
{
    batch_arrive(&b->grp);
    pthread_mutex_lock(&b->mu);
    batch_passed(&b->grp);
}

bool txn_read_done(broker *b)
{
    uint64_t n = batch_pending(&b->grp);

    pthread_mutex_unlock(&b->mu);
    return batch_wait(&b->grp, n, commit_leader, b);
}

void txn_counts(broker *b, uint64_t *commits, uint64_t *changes)
{
    batch_counts(&b->grp, commits, changes);
}

/* Writes the collected "level\tline\n" entries. */
static void write_log(const char *p)
{
    while (*p) {
        const char *tab = strchr(p, '\t'), *nl = tab ? strchr(tab, '\n') : NULL;
        char level[16];

        if (!tab || !nl)
            break;
        snprintf(level, sizeof(level), "%.*s", (int)(tab - p), p);
        service_log(level, "%.*s", (int)(nl - tab - 1), tab + 1);
        p = nl + 1;
    }
}

void txn_unlock(txn *t)
{
    broker *b = t->b;

    if (t->unlocked)
        return;
    t->fire = t->committed;
    if (!t->committed && t->opened) {
        /* Its writes are in the shared batch and cannot be taken out
         * alone: the batch goes, and memory with it. */
        service_log("warn", "a change left uncommitted: its batch is rolled back and reloaded");
        if (!abort_batch(b))
            ha_commit_failed(b, false, true);
    }
    if (t->fire && (b->st.urgent_version != t->version0 || t->signal_peers) && b->peers.n) {
        b->last_change_mono_ms = coord_now_mono_ms();
        t->signal = peertab_note_change(&b->peers, b->last_change_mono_ms) || t->signal_peers;
    }
    t->unlocked = true;
    pthread_mutex_unlock(&b->mu);
}

bool txn_end(txn *t)
{
    broker *b = t->b;

    txn_unlock(t);
    /* Nothing of a staged change is said or done before it is durable. */
    if (t->fire && t->staged && !batch_wait(&b->grp, t->batch, commit_leader, b))
        t->fire = false;
    bool fire = t->fire;
    const txn_msgs *send = fire ? &t->msgs : &t->on_abort;
    if (fire) {
        write_log(t->log);
        write_log(t->more.buf);
    }
    for (size_t i = 0; i < send->n; i++)
        outbox_push(&b->ob, &send->v[i]);
    if (fire) {
        if (t->wake_dispatch)
            wake_signal(&b->drain);
        if (t->signal)
            wake_signal(&b->sched);
        if (t->staged && t->parked.n) {
            pthread_mutex_lock(&b->mu);
            park_releases(t);
            pthread_mutex_unlock(&b->mu);
        }
    }
    strbuf_release(&t->more);
    free(t->msgs.v);
    free(t->on_abort.v);
    memset(&t->msgs, 0, sizeof(t->msgs));
    memset(&t->on_abort, 0, sizeof(t->on_abort));
    followups_release(&t->parked);
    return fire;
}
