/* Heartbeat failure detector with time passed in (milliseconds, any
 * monotonic origin). A unit is lost once now - last_heartbeat > timeout
 * (strictly greater: a heartbeat exactly at the timeout is in time). Not
 * thread-safe: the owner locks. */
#ifndef COORD_FAILURE_H
#define COORD_FAILURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct failure_detector failure_detector;

failure_detector *fd_new(uint64_t timeout_ms);
void fd_free(failure_detector *fd); /* accepts NULL */
/* Records a heartbeat (adding the unit if new). Returns 1 when the unit was
 * lost and is now back, 0 otherwise, negative coord_err on failure. */
int fd_heartbeat(failure_detector *fd, const char *id, uint64_t now_ms);
/* Forgets a unit. COORD_E_NOTFOUND if unknown. */
int fd_remove(failure_detector *fd, const char *id);
bool fd_is_lost(const failure_detector *fd, const char *id);
/* Marks as lost every unit silent for more than the timeout that was not lost
 * yet, calling cb once for each (cb may be NULL). Returns how many. */
size_t fd_check(failure_detector *fd, uint64_t now_ms, void (*cb)(const char *id, void *arg),
                void *arg);
size_t fd_count(const failure_detector *fd);

#endif
