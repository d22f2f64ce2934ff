/* ergrid-executor's lifecycle: preparing and releasing the shared state
 * (context.h) and stopping its threads; and the monotonic deadlines every
 * thread waits with. */
#ifndef EXECUTOR_H
#define EXECUTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "context.h"

/* exec_init copies cfg and prepares an empty state (no I/O, no threads):
 * EXEC_OK, or EXEC_E_NOMEM with nothing to release. exec_release frees it
 * (threads must be stopped); it accepts a state exec_init never filled. */
int exec_init(executor *e, const exec_config *cfg);
void exec_release(executor *e);

/* Sets stopping, wakes and joins the threads. Returns false when a thread
 * did not finish within a few seconds (stuck in a network call); the
 * caller must then not release the state. */
bool exec_threads_stop(executor *e);

/* A condvar that waits on CLOCK_MONOTONIC (exec_deadline's clock). 0 or -1. */
int exec_cond_init_mono(pthread_cond_t *c);

/* Absolute CLOCK_MONOTONIC deadline ms from now, for the condvars. */
void exec_deadline(struct timespec *ts, uint64_t ms_from_now);

#endif
