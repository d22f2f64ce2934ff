/* Priority queue of waiting jobs: severity first (critical first), then
 * arrival (lower seq first). Binary heap plus an index so remove() by id is
 * O(log n). The queue borrows each id it is given: a hundred thousand
 * waiting jobs must not hold their ids two more times (the job record
 * already does). Not thread-safe: the owner locks. */
#ifndef COORD_JOBQUEUE_H
#define COORD_JOBQUEUE_H

#include <stddef.h>
#include <stdint.h>
#include "types.h"
#include "util.h"

/* What peek, pop and snapshot hand out: a copy, id included, so it stays
 * good after the caller lets go of its lock and the job leaves. */
typedef struct jobq_item {
    char id[COORD_ID_MAX + 1];
    severity sev;
    uint64_t seq; /* arrival order */
} jobq_item;

typedef struct jobqueue jobqueue;

jobqueue *jobq_new(void);
void jobq_free(jobqueue *q); /* accepts NULL */
size_t jobq_size(const jobqueue *q);
/* id is borrowed, not copied: it must stay valid and unchanged until the
 * item leaves the queue (pop, remove, free). COORD_E_EXISTS when id is
 * queued already, COORD_E_INVAL for a bad id. */
int jobq_push(jobqueue *q, const char *id, severity sev, uint64_t seq);
/* 0 and *out filled, or COORD_E_NOTFOUND when empty. */
int jobq_peek(const jobqueue *q, jobq_item *out);
int jobq_pop(jobqueue *q, jobq_item *out);
/* COORD_E_NOTFOUND when id is not queued. */
int jobq_remove(jobqueue *q, const char *id);
bool jobq_contains(const jobqueue *q, const char *id);
/* Copies up to max items in priority order into out (for scanning without
 * popping); returns how many. */
size_t jobq_snapshot(const jobqueue *q, jobq_item *out, size_t max);

#endif
