/* The city's emergency level at this broker: one city-wide setting where
 * the newest declaration wins (by the wall-clock time it was made),
 * wherever it was made, so a pull from a peer that has not heard of it yet
 * never undoes it. Kept in the store's meta through the txn runner. At
 * level high or critical peers are pulled more often and a critical job
 * may preempt a low one. Caller holds the domain mutex. */
#ifndef BROKER_EMERGENCY_H
#define BROKER_EMERGENCY_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"
#include "txn.h"

bool emergency_active(const broker *b);
/* The pull interval the level calls for. */
uint64_t emergency_sync_interval(const broker *b);
/* Applies a declaration of level made at set_ms (0: a direct push, made
 * now, which always applies) from source; stores it and records the event
 * in t. True when the level changed. */
bool emergency_apply(broker *b, txn *t, severity level, uint64_t set_ms, const char *source);
/* Every peer is pulled on the current level's schedule from now on. */
void emergency_reschedule_peers(broker *b, uint64_t now_mono);

#endif
