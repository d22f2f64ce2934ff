/* The failure detector thread: a unit silent for the failure timeout is
 * lost, and each of its jobs goes back to the queue for another unit
 * (DESIGN.md §3.3). It runs every failure_timeout/10 (20..200 ms). */
#ifndef BROKER_MONITOR_H
#define BROKER_MONITOR_H

void *monitor_main(void *arg);

#endif
