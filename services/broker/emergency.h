/* The city's emergency level at this broker: which declaration it holds
 * (libcoord's level_adopt: the coordinator's word is authoritative, a
 * peer's relay spreads a level a push missed but can never pin it) and its
 * persistence in the store's meta through the txn runner. At level high or
 * critical peers are pulled more often and a critical job may preempt a
 * low one. Caller holds the domain mutex. */
#ifndef BROKER_EMERGENCY_H
#define BROKER_EMERGENCY_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"
#include "txn.h"

bool emergency_active(const broker *b);
/* The pull interval the level calls for. */
uint64_t emergency_sync_interval(const broker *b);
/* The coordinator's declaration of level, stamped set_ms by its clock.
 * pushed: its push, which always applies (an unstamped one, 0, from an
 * operator or an older coordinator, is stamped now); otherwise its
 * registration reply. Stores it and records the event in t. True when the
 * level changed. */
bool emergency_from_coordinator(broker *b, txn *t, severity level, uint64_t set_ms, bool pushed);
/* A peer's relay of a declaration of level stamped set_ms, from source (the
 * peer's id; peers.c). True when the level changed. */
bool emergency_apply(broker *b, txn *t, severity level, uint64_t set_ms, const char *source);
/* Every peer is pulled on the current level's schedule from now on. */
void emergency_reschedule_peers(broker *b, uint64_t now_mono);

#endif
