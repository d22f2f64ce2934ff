/* Raw SQLite in this process as a peer of the benchmark (sqlite_peer.c). */
#ifndef ERGRID_BENCH_SQLITE_PEER_H
#define ERGRID_BENCH_SQLITE_PEER_H

#include <stdbool.h>

#include "../bench.h"

/* ---- SQLite, in process (sqlite.c) ---- */
/* WAL, synchronous=NORMAL (full false) or FULL, one shared connection
 * behind a mutex (a broker's model), a fresh database file per trial. */
int sqlite_trial(bool full, unsigned threads, long njobs, unsigned trial, race_stats *out);

#endif
