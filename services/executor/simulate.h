/* --mode simulate: a stand-in crew that reports each active assignment
 * --simulate-after it arrived. */
#ifndef EXECUTOR_SIMULATE_H
#define EXECUTOR_SIMULATE_H

#include "context.h"

/* Starts the simulated crew in --mode simulate (a no-op returning 0 in
 * manual mode). 0, or -1 when the thread could not be made. */
int exec_sim_start(executor *e);

#endif
