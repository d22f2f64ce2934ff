/* The broker's in-memory model: lookups, derived status, events and the
 * transaction wrapper every state change goes through. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"

job *broker_job(broker *b, const char *id)
{
    return id ? hmap_get(b->jobs, id) : NULL;
}

unit *broker_unit(broker *b, const char *id)
{
    return id ? hmap_get(b->units, id) : NULL;
}

unit_status unit_current_status(const unit *u)
{
    if (u->out_of_service)
        return UNIT_OUT_OF_SERVICE;
    if (u->lost)
        return UNIT_LOST;
    return u->load >= u->capacity ? UNIT_BUSY : UNIT_AVAILABLE;
}

attempt *job_current_attempt(job *j)
{
    /* The latest attempt that the executor confirmed. */
    for (size_t i = j->nattempts; i > 0; i--)
        if (j->attempts[i - 1].state != ATT_PENDING)
            return &j->attempts[i - 1];
    return NULL;
}

static void result_free(result *r)
{
    if (!r)
        return;
    free(r->data);
    free(r);
}

void job_free(job *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->nattempts; i++)
        free(j->attempts[i].clock);
    free(j->attempts);
    result_free(j->res);
    free(j->caps);
    free(j->location);
    free(j->payload);
    free(j);
}

void unit_free(unit *u)
{
    if (!u)
        return;
    free(u->caps);
    free(u->held);
    free(u->notices);
    free(u);
}

int job_add_attempt(job *j, const attempt *a)
{
    if (j->nattempts == j->aattempts) {
        size_t na = j->aattempts ? j->aattempts * 2 : 2;
        attempt *arr = realloc(j->attempts, na * sizeof(*arr));
        if (!arr)
            return COORD_E_NOMEM;
        j->attempts = arr;
        j->aattempts = na;
    }
    j->attempts[j->nattempts++] = *a;
    return 0;
}

static char *clock_text(const vclock *vc)
{
    json_t *j = vclock_to_json(vc);
    char *s = j ? json_canonical(j) : NULL;
    json_decref(j);
    return s;
}

void broker_event(broker *b, const char *type, const char *job_id, const char *unit_id,
                  uint32_t attempt_no, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);

    /* What an event names may have changed: peers should see it. */
    broker_touch_unit(b, broker_unit(b, unit_id));
    broker_touch_job(b, broker_job(b, job_id));
    /* Every state change is an event at this node: tick, then stamp. */
    if (vclock_tick(&b->clock, b->cfg.id) < 0)
        service_log("error", "vector clock full; event %s not ticked", type);
    char *vc = clock_text(&b->clock);
    uint64_t seq = ++b->event_seq;
    if (db_add_event(b->db, seq, coord_now_wall_ms(), b->cfg.id, type, job_id, unit_id, attempt_no,
                     detail, vc ? vc : "{}") < 0)
        b->txn_failed = true;
    service_log("info", "event %llu %s job=%s unit=%s attempt=%u %s vclock=%s",
                (unsigned long long)seq, type, job_id ? job_id : "-", unit_id ? unit_id : "-",
                attempt_no, detail, vc ? vc : "{}");
    free(vc);
}

int broker_save_job(broker *b, job *j)
{
    broker_touch_job(b, j);
    if (db_put_job(b->db, j) < 0) {
        b->txn_failed = true;
        return -1;
    }
    return 0;
}

int broker_save_unit(broker *b, unit *u)
{
    broker_touch_unit(b, u);
    if (db_put_unit(b->db, u) < 0) {
        b->txn_failed = true;
        return -1;
    }
    return 0;
}

int broker_txn_begin(broker *b)
{
    b->txn_failed = false;
    return db_begin(b->db);
}

int broker_txn_commit(broker *b)
{
    /* The clock itself is not written here: the transaction's events carry
     * it (see broker_init). */
    if (b->txn_failed || db_commit(b->db) < 0) {
        db_rollback(b->db);
        return -1;
    }
    return 0;
}

void broker_txn_rollback(broker *b)
{
    db_rollback(b->db);
}

int unit_hold(unit *u, const char *job_id, uint32_t attempt_no, bool pending)
{
    if (u->load >= u->capacity)
        return COORD_E_RANGE;
    if (!u->held) {
        u->held = calloc(u->capacity, sizeof(*u->held));
        if (!u->held)
            return COORD_E_NOMEM;
    }
    struct held *h = &u->held[u->load++];
    /* A reused slot must not keep a former claim's owner or flags. */
    memset(h, 0, sizeof(*h));
    snprintf(h->job_id, sizeof(h->job_id), "%s", job_id);
    h->attempt = attempt_no;
    h->pending = pending;
    return 0;
}

void unit_release(unit *u, const char *job_id)
{
    unit_release_attempt(u, job_id, 0);
}

void unit_release_attempt(unit *u, const char *job_id, uint32_t attempt_no)
{
    for (uint32_t i = 0; i < u->load; i++) {
        if (strcmp(u->held[i].job_id, job_id) == 0 &&
            (!attempt_no || u->held[i].attempt == attempt_no)) {
            u->held[i] = u->held[--u->load];
            return;
        }
    }
}

void unit_confirm(unit *u, const char *job_id)
{
    for (uint32_t i = 0; i < u->load; i++)
        if (strcmp(u->held[i].job_id, job_id) == 0)
            u->held[i].pending = false;
}

void unit_add_notice(unit *u, const char *job_id, uint32_t attempt_no, const char *reason)
{
    if (!u->notices) {
        u->notices = calloc(UNIT_MAX_NOTICES, sizeof(*u->notices));
        if (!u->notices)
            return;
    }
    if (u->nnotices == UNIT_MAX_NOTICES) {
        memmove(&u->notices[0], &u->notices[1], (UNIT_MAX_NOTICES - 1) * sizeof(*u->notices));
        u->nnotices--;
    }
    struct notice *n = &u->notices[u->nnotices++];
    snprintf(n->job_id, sizeof(n->job_id), "%s", job_id);
    n->attempt = attempt_no;
    snprintf(n->reason, sizeof(n->reason), "%s", reason);
}

void broker_commit_or_die(broker *b)
{
    if (broker_txn_commit(b) < 0) {
        service_log("fatal", "storage commit failed; stopping so memory never diverges from disk");
        _exit(70);
    }
}

bool broker_wait(broker *b, uint64_t ms, bool until_timeout)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&b->wmu);
    while (ms && !b->stopping) {
        if (pthread_cond_timedwait(&b->wcond, &b->wmu, &ts) == ETIMEDOUT || !until_timeout)
            break;
    }
    bool stop = b->stopping;
    pthread_mutex_unlock(&b->wmu);
    return stop;
}

int broker_index_unit(broker *b, unit *u)
{
    for (size_t i = 0; i < u->ncaps; i++) {
        unit_list *l = hmap_get(b->cap_index, u->caps[i]);
        if (!l) {
            l = calloc(1, sizeof(*l));
            if (!l || hmap_put(b->cap_index, u->caps[i], l, NULL) < 0) {
                free(l);
                return COORD_E_NOMEM;
            }
        }
        if (l->n == l->cap) {
            size_t nc = l->cap ? l->cap * 2 : 8;
            unit **nv = realloc(l->v, nc * sizeof(*nv));
            if (!nv)
                return COORD_E_NOMEM;
            l->v = nv;
            l->cap = nc;
        }
        l->v[l->n++] = u;
    }
    return 0;
}

void broker_unindex_unit(broker *b, const unit *u)
{
    for (size_t i = 0; i < u->ncaps; i++) {
        unit_list *l = hmap_get(b->cap_index, u->caps[i]);
        for (size_t k = 0; l && k < l->n; k++) {
            if (l->v[k] == u) {
                l->v[k] = l->v[--l->n];
                break;
            }
        }
    }
}

static void free_unit_list(void *p)
{
    unit_list *l = p;
    if (l)
        free(l->v);
    free(l);
}

void broker_free_index(broker *b)
{
    hmap_free(b->cap_index, free_unit_list);
    b->cap_index = NULL;
}
