/* Sync with peer brokers: one thread per peer pulls its metadata ("what
 * changed since V", in pages; a different epoch means everything again) on
 * a schedule, sooner when the peer signals a change, with exponential
 * backoff and jitter when it fails; the same thread signals our own changes
 * to that peer, debounced. A pulled page becomes typed synced copies
 * (remote.h); a copy showing a borrowed unit lost requeues our job on it. */
#ifndef BROKER_PEERS_H
#define BROKER_PEERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "txn.h"

/* Adds (or updates) a peer and, once the broker serves, starts its thread.
 * Caller holds the domain mutex; what happened is logged through t. */
void peers_add(broker *b, txn *t, const char *id, const char *url);
/* The configured peers; their threads. 0, or -1 when a thread could not be
 * started. */
int peers_start(broker *b);
void peers_join(broker *b);

/* Applies one metadata page of peer p (caller holds the domain mutex, in
 * t). Returns 1 when another page follows, 0 when not, -1 when the reply
 * is not a metadata page; *moved counts jobs that may now be dispatched. */
int peers_apply_page(broker *b, txn *t, peer *p, const json_t *page, size_t *moved);

#endif
