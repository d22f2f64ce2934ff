/* Running one call per broker in parallel, so a slow or silent district
 * costs one timeout, not one per district. */
#ifndef COORDINATOR_FANOUT_H
#define COORDINATOR_FANOUT_H

#include <stddef.h>

#define FANOUT_MAX_THREADS 64

/* Runs fn(arg, i) for i in 0..n-1 on up to max_threads threads (at most
 * FANOUT_MAX_THREADS) and waits for all. Whatever threads cannot be made,
 * the calling thread does the work of. */
void fanout_run(size_t n, size_t max_threads, void (*fn)(void *arg, size_t i), void *arg);

#endif
