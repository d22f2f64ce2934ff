/* PostgreSQL 15 as a peer of the benchmark (pg_peer.c). */
#ifndef ERGRID_BENCH_PG_PEER_H
#define ERGRID_BENCH_PG_PEER_H

#include "../bench.h"

/* ---- PostgreSQL 15 (pg.c) ---- */
typedef struct pg_peer pg_peer;
/* Starts it through bench/peers/postgres.sh; NULL after bench_fail (also
 * when the bench was built without libpq). */
pg_peer *pg_peer_start(void);
/* The server's version and durability settings, as it reports them. */
const char *pg_peer_describe(const pg_peer *p);
/* One trial on a fresh table; trial numbers name the table. */
int pg_trial(pg_peer *p, unsigned threads, long njobs, unsigned trial, race_stats *out);
void pg_peer_stop(pg_peer *p);

#endif
