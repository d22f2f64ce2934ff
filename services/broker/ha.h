/* The standby role's state as the rest of the broker sees it (--store
 * etcd, docs/HA.md): whether this broker may write now, what a failed
 * commit does to the role, the election's callback that records a change
 * of role, and what health and metrics show. The role thread that acts on
 * it is role.c's. With SQLite the broker always leads. */
#ifndef BROKER_HA_H
#define BROKER_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

/* Sets up b->ha for b->cfg (before the store opens). 0, or -1. */
int ha_init(broker *b);
/* Undoes ha_init; accepts a broker it never ran on. */
void ha_destroy(broker *b);

/* The election's callback (etcd_election_opts.on_change; arg: the
 * broker): from the election's thread, or from a commit's thread holding
 * b->mu (a fenced txn that found the key gone), so it only records the
 * role, makes ha_writable false at once and wakes the role thread. */
void ha_on_change(void *arg, etcd_role role, const etcd_fence *fence);

/* Caller holds b->mu: this broker may write to its store now (SQLite:
 * always; etcd: rebuilt as the leader of the current term). */
bool ha_writable(broker *b);
/* Caller holds b->mu: a commit failed in etcd mode (quorum lost, or the
 * leadership). Writes stop at once (the gate answers them 503 until this
 * broker rebuilt as leader again); with resign the role thread resigns and
 * keeps campaigning (without: the election already stepped down, the
 * leadership is another's). reloaded: false when the district could not be
 * read back (the role thread reloads it). */
void ha_commit_failed(broker *b, bool reloaded, bool resign);

typedef struct ha_view {
    bool etcd, leader;
    char leader_url[128]; /* "" when none is known */
    int64_t term;
    uint64_t takeovers;
} ha_view;
/* What /v1/health and /metrics show; takes only b->ha.mu. */
void ha_get(broker *b, ha_view *v);

#endif
