/* The failure detector thread (see monitor.h). */
#include "monitor.h"

#include <stdio.h>
#include <stdlib.h>

#include "core.h"
#include "txn.h"
#include "units.h"

static uint64_t monitor_period_ms(const broker *b)
{
    uint64_t p = b->cfg.failure_timeout_ms / 10;

    return p < 20 ? 20 : p > 200 ? 200 : p;
}

struct lost_list {
    char (*ids)[COORD_ID_MAX + 1];
    size_t n, cap;
};

static void collect_lost(const char *id, void *arg)
{
    struct lost_list *l = arg;

    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        void *p = realloc(l->ids, nc * sizeof(*l->ids));

        if (!p)
            return; /* judged lost again on the next run: fd_check keeps it */
        l->ids = p;
        l->cap = nc;
    }
    snprintf(l->ids[l->n++], COORD_ID_MAX + 1, "%s", id);
}

static bool lends(const unit *u)
{
    for (uint32_t i = 0; i < u->load; i++)
        if (u->held[i].foreign)
            return true;
    return false;
}

/* One unit found lost: its state changes and what they mean, in t. Quiet
 * (state.h) unless another district's job stands on it: that owner must
 * move its job now, everyone else learns of the loss with the next pull. */
static void unit_lost(broker *b, txn *t, unit *u, size_t *moved)
{
    lost_items items;
    b->st.quiet = !lends(u);
    int rc = state_unit_lost(&b->st, u, coord_now_wall_ms(), &items);

    if (rc < 0) {
        b->st.quiet = false;
        txn_log(t, "error", "unit %s: cannot mark lost (%s)", u->id, coord_strerror(rc));
        return;
    }
    b->m.units_lost++;
    txn_event(t, "unit_lost", NULL, u->id, 0, "no heartbeat for %llu ms",
              (unsigned long long)b->cfg.failure_timeout_ms);
    txn_taken_back(t, u->id, &items, "unit lost");
    b->st.quiet = false;
    *moved += items.moved;
    free(items.v);
}

void *monitor_main(void *arg)
{
    broker *b = arg;
    struct lost_list l = {0};
    uint64_t last_run = coord_now_mono_ms();

    while (wake_sleep(&b->stop, monitor_period_ms(b))) {
        size_t moved = 0;
        txn t;

        l.n = 0;
        pthread_mutex_lock(&b->mu);
        if (!txn_store_ok(b)) {
            /* Nothing could be recorded: judge no unit (the reload gave
             * each a fresh window anyway) until storage is back. This loop
             * is also what probes it. */
            last_run = coord_now_mono_ms();
            pthread_mutex_unlock(&b->mu);
            continue;
        }
        txn_begin(b, &t);
        uint64_t now = coord_now_mono_ms();
        if (now - last_run > b->cfg.failure_timeout_ms / 2) {
            /* We ourselves were not running (paused, starved, suspended):
             * the heartbeats waiting in our sockets have not been read, so
             * silence proves nothing. Give every unit a fresh window. */
            size_t it = 0;
            const char *key;
            void *val;

            while (hmap_next(b->st.units, &it, &key, &val))
                if (!unit_cond_lost(((unit *)val)->cond))
                    fd_heartbeat(b->st.fd, key, now);
            txn_log(&t, "warn",
                    "failure detector did not run for %llu ms; no unit is judged on that gap",
                    (unsigned long long)(now - last_run));
        }
        last_run = now;
        fd_check(b->st.fd, now, collect_lost, &l);
        for (size_t i = 0; i < l.n; i++) {
            unit *u = state_unit(&b->st, l.ids[i]);

            if (u && !unit_cond_lost(u->cond))
                unit_lost(b, &t, u, &moved);
        }
        if (moved)
            txn_wake_dispatch(&t);
        txn_commit_or_drop(&t);
        txn_end(&t);
    }
    free(l.ids);
    return NULL;
}
