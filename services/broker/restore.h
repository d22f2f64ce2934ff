/* Recovery at start: the broker rebuilt from its store. Every stored value
 * is checked as it is read; a record that does not read back as valid
 * fails the start (a damaged store is refused, never taken for a smaller
 * district). What is not stored (queue, unit loads, the capability index,
 * borrowed jobs, the change list, the failure detector's window) is
 * rebuilt by state_recover. */
#ifndef BROKER_RESTORE_H
#define BROKER_RESTORE_H

#include <stddef.h>

#include "core.h"

/* The clock, the event counter, units, jobs, claims, synced copies, the
 * emergency level and the peers. 0, or -1 with a message in err. */
int restore_broker(broker *b, const char *path, char *err, size_t errlen);
/* After a failed commit (txn.c): the district in memory is thrown away and
 * read again from the store, so it is exactly what the store holds. Kept:
 * the clock (it never goes back), synced copies, the peer table (each peer
 * is pulled whole again), and what the store never holds (revocations not
 * yet told to a unit, jobs a thread is dispatching). Lost, as in a
 * restart: pending reservations (their calls settle as overtaken) and who
 * is lost (every unit gets a fresh failure window). 0, or -1 with a
 * message in err: the district in memory is then what it was before the
 * call (SQLite stops the process; with etcd it is served until a reload
 * succeeds). */
int restore_reload(broker *b, const char *path, char *err, size_t errlen);
/* A new incarnation id (the epoch of the metadata pull): at start, and
 * when this broker becomes its district's leader, so peers pull it whole.
 * Caller holds b->mu once the broker serves. */
void restore_new_epoch(broker *b);

#endif
