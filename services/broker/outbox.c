/* The outbox queue and its notifier thread (see outbox.h). */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_client.h"
#include "service.h"

static const http_opts revoke_opts = {
    .connect_timeout_ms = 500,
    .timeout_ms = 1500,
    .retries = 1,
    .backoff_ms = 100,
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

bool outbox_push(outbox *o, const outbox_msg *m)
{
    outbox_msg *c = NULL;

    pthread_mutex_lock(&o->mu);
    if (o->n < o->max && !o->stopping)
        c = malloc(sizeof(*c));
    if (!c) {
        o->dropped++;
        pthread_mutex_unlock(&o->mu);
        return false;
    }
    *c = *m;
    c->next = NULL;
    if (o->tail)
        o->tail->next = c;
    else
        o->head = c;
    o->tail = c;
    o->n++;
    pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
    return true;
}

static bool send_release(const outbox_msg *m)
{
    char url[BROKER_URL_MAX + 128];
    http_reply rep;
    json_t *body = json_pack("{s:s, s:i, s:s}", "job_id", m->job_id, "attempt", (int)m->attempt,
                             "reason", m->reason);
    bool ok;

    snprintf(url, sizeof(url), "%s/v1/units/%s/release", m->url, m->unit_id);
    ok = body && http_json("POST", url, body, &revoke_opts, &rep) == 0 && rep.status == 200;
    if (body)
        http_reply_release(&rep);
    json_decref(body);
    if (!ok)
        service_log("warn", "release of %s for %s at %s failed", m->unit_id, m->job_id, m->url);
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

static void *notifier_main(void *arg)
{
    outbox *o = arg;

    for (;;) {
        outbox_msg *m;
        bool ok;

        pthread_mutex_lock(&o->mu);
        while (!o->stopping && !o->head)
            pthread_cond_wait(&o->cv, &o->mu);
        if (o->stopping) {
            pthread_mutex_unlock(&o->mu);
            break;
        }
        m = o->head;
        o->head = m->next;
        if (!o->head)
            o->tail = NULL;
        o->n--;
        pthread_mutex_unlock(&o->mu);

        ok = m->unit_id[0] ? send_release(m) : send_revocation(o, m);
        pthread_mutex_lock(&o->mu);
        if (ok)
            o->sent++;
        else
            o->failed++;
        pthread_mutex_unlock(&o->mu);
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
    pthread_mutex_unlock(&o->mu);
}
