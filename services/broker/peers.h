/* Sync with peer brokers: one thread per peer pulls its metadata ("what
 * changed since V", in pages; a different epoch means everything again) on
 * a schedule, sooner when the peer signals a change, with exponential
 * backoff and jitter when it fails; the same thread signals our own changes
 * to that peer, debounced. A pulled page becomes typed synced copies
 * (pages.c, remote.h). The peer table is kept in the store, so a broker
 * restarted while the coordinator is down knows its peers; a release that
 * waited for a peer's URL goes out when the peer is added. */
#ifndef BROKER_PEERS_H
#define BROKER_PEERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "txn.h"

/* Adds (or updates) a peer and, once the broker serves, starts its thread;
 * a new peer or a new URL is stored through t, and releases parked for it
 * are sent. Caller holds the domain mutex; what happened is logged
 * through t. */
void peers_add(broker *b, txn *t, const char *id, const char *url);
/* The configured peers; their threads. 0, or -1 when a thread could not be
 * started. */
int peers_start(broker *b);
/* The URL set of peer district id (leader_client.h), for a write that must
 * reach its leader (a claim); NULL when it is not a peer. Caller holds the
 * domain mutex; the set stays valid after it is released. */
struct leader_set *peers_set_locked(broker *b, const char *id);
void peers_join(broker *b);
/* This broker just became its district's leader (role.c), with a new
 * epoch: every peer is signalled now (the whole district is news to it)
 * and pulled now, not at the next interval. Caller holds the domain
 * mutex; wake b->sched after releasing it. */
void peers_takeover(broker *b);

#endif
