/* The broker's vector clock (DESIGN.md §4) as messages move it: a receive
 * merges what arrived. Ticks happen where events are recorded (txn.c) and
 * where an assignment or a claim is sent. Caller holds the domain mutex. */
#ifndef BROKER_CLOCK_H
#define BROKER_CLOCK_H

#include <jansson.h>

#include "core.h"

/* Every receive goes through libcoord's vclock_receive: this broker's own
 * entry in a received clock is ignored, and no entry rises by more than
 * VCLOCK_MAX_STEP in one message; each such entry is counted
 * (ergrid_clock_entries_refused_total). */

/* Merges the broker and coordinator entries of in (a unit's own dot is
 * dropped, so the clock grows with brokers, not units). */
void clock_receive(broker *b, const vclock *in);
/* The same for a clock as it came in a JSON message (ignored when it is
 * not a valid clock). */
void clock_receive_json(broker *b, const json_t *vc);
/* Merges every entry of a peer broker's clock (a claim), when the union
 * fits. */
void clock_receive_all(broker *b, const vclock *in);
/* A send or local event: this broker's entry goes up by one. <0 when the
 * clock is full (it stays as it was). */
int clock_tick(broker *b);

#endif
