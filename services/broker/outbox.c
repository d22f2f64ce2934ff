/* The outbox queue and its notifier thread (see outbox.h). */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_client.h"
#include "service.h"

/* Short: a terminal that does not answer must not hold up the messages
 * behind it for long; the outbox retries on its own schedule. */
static const http_opts revoke_opts = {
    .connect_timeout_ms = 300,
    .timeout_ms = 1000,
    .retries = 0,
};

int outbox_init(outbox *o, size_t max, outbox_delivered_fn delivered, void *arg)
{
    pthread_condattr_t ca;
    int rc = -1;

    memset(o, 0, sizeof(*o));
    o->max = max;
    o->delivered = delivered;
    o->arg = arg;
    if (pthread_mutex_init(&o->mu, NULL) != 0)
        return -1;
    if (pthread_condattr_init(&ca) == 0) {
        if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
            pthread_cond_init(&o->cv, &ca) == 0)
            rc = 0;
        pthread_condattr_destroy(&ca);
    }
    if (rc < 0)
        pthread_mutex_destroy(&o->mu);
    return rc;
}

static bool same_msg(const outbox_msg *a, const outbox_msg *b)
{
    return a->attempt == b->attempt && strcmp(a->job_id, b->job_id) == 0 &&
           strcmp(a->unit_id, b->unit_id) == 0 && strcmp(a->url, b->url) == 0;
}

/* Caller holds o->mu. */
static void append_locked(outbox *o, outbox_msg *c)
{
    c->next = NULL;
    if (o->tail)
        o->tail->next = c;
    else
        o->head = c;
    o->tail = c;
    o->n++;
    pthread_cond_signal(&o->cv);
}

bool outbox_push(outbox *o, const outbox_msg *m)
{
    outbox_msg *c = NULL;

    pthread_mutex_lock(&o->mu);
    for (const outbox_msg *q = o->head; q; q = q->next) {
        if (same_msg(q, m)) {
            pthread_mutex_unlock(&o->mu);
            return true; /* one delivery is enough */
        }
    }
    if (o->n < o->max && !o->stopping)
        c = malloc(sizeof(*c));
    if (!c) {
        o->dropped++;
        pthread_mutex_unlock(&o->mu);
        return false;
    }
    *c = *m;
    c->tries = 0;
    c->due_ms = 0;
    append_locked(o, c);
    pthread_mutex_unlock(&o->mu);
    return true;
}

void outbox_set_router(outbox *o, outbox_router_fn fn, void *arg)
{
    pthread_mutex_lock(&o->mu);
    o->router = fn;
    o->router_arg = arg;
    pthread_mutex_unlock(&o->mu);
}

static bool send_release(outbox *o, const outbox_msg *m)
{
    char url[BROKER_URL_MAX + 128], path[128];
    http_reply rep;
    json_t *body = json_pack("{s:s, s:i, s:s}", "job_id", m->job_id, "attempt", (int)m->attempt,
                             "reason", m->reason);
    outbox_router_fn router;
    void *router_arg;
    bool ok;

    pthread_mutex_lock(&o->mu);
    router = o->router;
    router_arg = o->router_arg;
    pthread_mutex_unlock(&o->mu);
    snprintf(path, sizeof(path), "/v1/units/%s/release", m->unit_id);
    snprintf(url, sizeof(url), "%s%s", m->url, path);
    /* 404: the home does not know the unit; asking again cannot help. */
    ok = body &&
         (router ? router(router_arg, m->url, path, body, &rep)
                 : http_json("POST", url, body, &revoke_opts, &rep)) == 0 &&
         (rep.status == 200 || rep.status == 404);
    if (body)
        http_reply_release(&rep);
    json_decref(body);
    if (!ok && m->tries == 0)
        service_log("warn", "release of %s for %s at %s failed; retrying", m->unit_id, m->job_id,
                    m->url);
    return ok;
}

static bool send_revocation(outbox *o, const outbox_msg *m)
{
    char url[BROKER_URL_MAX + 128];
    http_reply rep;
    bool delivered;

    snprintf(url, sizeof(url), "%s/v1/assignments/%s?attempt=%u", m->url, m->job_id, m->attempt);
    delivered = http_json("DELETE", url, NULL, &revoke_opts, &rep) == 0 &&
                (rep.status == 200 || rep.status == 404);
    http_reply_release(&rep);
    if (delivered && o->delivered)
        o->delivered(o->arg, m);
    return delivered;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t retry_ms(uint32_t tries)
{
    uint64_t ms = OUTBOX_RETRY_MIN_MS;

    for (uint32_t i = 1; i < tries && ms < OUTBOX_RETRY_MAX_MS; i++)
        ms *= 2;
    return ms < OUTBOX_RETRY_MAX_MS ? ms : OUTBOX_RETRY_MAX_MS;
}

/* Takes out the first message that is due, in queue order; otherwise sets
 * *wait_ms to the time until the earliest one (UINT64_MAX: none). Caller
 * holds o->mu. */
static outbox_msg *take_due_locked(outbox *o, uint64_t now, uint64_t *wait_ms)
{
    outbox_msg *prev = NULL;

    *wait_ms = UINT64_MAX;
    for (outbox_msg *m = o->head; m; prev = m, m = m->next) {
        if (m->due_ms <= now) {
            if (prev)
                prev->next = m->next;
            else
                o->head = m->next;
            if (o->tail == m)
                o->tail = prev;
            o->n--;
            return m;
        }
        if (m->due_ms - now < *wait_ms)
            *wait_ms = m->due_ms - now;
    }
    return NULL;
}

static void wait_locked(outbox *o, uint64_t ms)
{
    struct timespec ts;

    if (ms == UINT64_MAX) {
        pthread_cond_wait(&o->cv, &o->mu);
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&o->cv, &o->mu, &ts);
}

static void *notifier_main(void *arg)
{
    outbox *o = arg;

    for (;;) {
        outbox_msg *m = NULL;
        uint64_t wait;
        bool ok;

        pthread_mutex_lock(&o->mu);
        while (!o->stopping && !(m = take_due_locked(o, mono_ms(), &wait)))
            wait_locked(o, wait);
        if (o->stopping) {
            pthread_mutex_unlock(&o->mu);
            free(m);
            break;
        }
        pthread_mutex_unlock(&o->mu);

        ok = m->unit_id[0] ? send_release(o, m) : send_revocation(o, m);
        pthread_mutex_lock(&o->mu);
        if (ok) {
            o->sent++;
        } else if (m->tries + 1 < OUTBOX_MAX_TRIES && !o->stopping) {
            m->tries++;
            m->due_ms = mono_ms() + retry_ms(m->tries);
            o->retried++;
            append_locked(o, m);
            m = NULL;
        } else {
            o->failed++;
        }
        pthread_mutex_unlock(&o->mu);
        if (m && !ok)
            service_log("warn", "%s of %s attempt %u at %s given up after %u tries",
                        m->unit_id[0] ? "release" : "revocation", m->job_id, m->attempt, m->url,
                        m->tries + 1);
        free(m);
    }
    http_client_thread_cleanup();
    return NULL;
}

int outbox_start(outbox *o)
{
    if (pthread_create(&o->thr, NULL, notifier_main, o) != 0)
        return -1;
    o->started = true;
    return 0;
}

void outbox_stop(outbox *o)
{
    pthread_mutex_lock(&o->mu);
    o->stopping = true;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    if (o->started)
        pthread_join(o->thr, NULL);
    o->started = false;
}

void outbox_release(outbox *o)
{
    while (o->head) {
        outbox_msg *m = o->head;

        o->head = m->next;
        free(m);
    }
    o->tail = NULL;
    o->n = 0;
    pthread_cond_destroy(&o->cv);
    pthread_mutex_destroy(&o->mu);
}

void outbox_get_stats(outbox *o, outbox_stats *st)
{
    pthread_mutex_lock(&o->mu);
    st->queued = o->n;
    st->sent = o->sent;
    st->failed = o->failed;
    st->dropped = o->dropped;
    st->retried = o->retried;
    pthread_mutex_unlock(&o->mu);
}
