/* The standby role's shared state (see ha.h). */
#include "ha.h"

#include <stdio.h>
#include <string.h>

int ha_init(broker *b)
{
    broker_ha *ha = &b->ha;

    ha->on = b->cfg.store == BROKER_STORE_ETCD;
    atomic_init(&ha->gen, 0);
    ha->elected = ha->acting = ETCD_FOLLOWER;
    ha->mu_ok = pthread_mutex_init(&ha->mu, NULL) == 0;
    ha->wake_ok = wake_init(&ha->wake) == 0;
    return ha->mu_ok && ha->wake_ok ? 0 : -1;
}

void ha_destroy(broker *b)
{
    broker_ha *ha = &b->ha;

    if (ha->wake_ok)
        wake_destroy(&ha->wake);
    if (ha->mu_ok)
        pthread_mutex_destroy(&ha->mu);
    ha->wake_ok = ha->mu_ok = false;
}

void ha_on_change(void *arg, etcd_role role, const etcd_fence *fence)
{
    broker *b = arg;
    broker_ha *ha = &b->ha;

    /* before anything else: from here on ha_writable is false */
    atomic_fetch_add(&ha->gen, 1);
    pthread_mutex_lock(&ha->mu);
    ha->elected = role;
    if (role == ETCD_LEADER && fence) {
        ha->fence = *fence;
        /* ours now: writes wait (503) for the rebuild, not 307 elsewhere */
        snprintf(ha->leader, sizeof(ha->leader), "%.127s", b->self_url); /* ids are < 128 */
    } else {
        memset(&ha->fence, 0, sizeof(ha->fence));
        ha->acting = ETCD_FOLLOWER;
        if (strcmp(ha->leader, b->self_url) == 0)
            ha->leader[0] = '\0'; /* not us any more; the poll says who */
    }
    pthread_mutex_unlock(&ha->mu);
    wake_signal(&ha->wake);
}

bool ha_writable(broker *b)
{
    return !b->ha.on || (b->ha.leading && atomic_load(&b->ha.gen) == b->ha.ready_gen);
}

void ha_commit_failed(broker *b, bool reloaded, bool resign)
{
    broker_ha *ha = &b->ha;

    if (!ha->on)
        return;
    ha->leading = false;
    pthread_mutex_lock(&ha->mu);
    ha->failed = true;
    ha->step_down |= resign;
    if (!reloaded)
        ha->stale = true;
    pthread_mutex_unlock(&ha->mu);
    wake_signal(&ha->wake);
}

void ha_get(broker *b, ha_view *v)
{
    broker_ha *ha = &b->ha;

    memset(v, 0, sizeof(*v));
    v->etcd = ha->on;
    if (!ha->on) {
        v->leader = true;
        return;
    }
    pthread_mutex_lock(&ha->mu);
    v->leader = ha->acting == ETCD_LEADER;
    memcpy(v->leader_url, ha->leader, sizeof(v->leader_url));
    v->term = ha->term;
    v->takeovers = ha->takeovers;
    pthread_mutex_unlock(&ha->mu);
}
