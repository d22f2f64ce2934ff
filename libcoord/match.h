/* Capability matching and unit selection. */
#ifndef COORD_MATCH_H
#define COORD_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "types.h"

/* required ⊆ offered (exact string equality). An empty required set matches. */
bool caps_match(const char *const *required, size_t nreq, const char *const *offered, size_t noff);

typedef struct unit_candidate {
    const char *id;
    const char *district;
    unit_status status;
    uint32_t active_jobs; /* active + pending attempts it holds */
    uint32_t capacity;    /* >= 1 */
    const char *const *caps;
    size_t ncaps;
} unit_candidate;

/* A candidate from its parts (caps borrowed). Inline: built for every
 * unit a dispatch looks at. */
static inline unit_candidate unit_candidate_of(const char *id, const char *district,
                                               unit_status status, uint32_t active_jobs,
                                               uint32_t capacity, const char *const *caps,
                                               size_t ncaps)
{
    unit_candidate c = {id, district, status, active_jobs, capacity, caps, ncaps};

    return c;
}

/* Room for one more job: status available or busy, active_jobs <
 * capacity. Inline: the first question asked of every unit a dispatch
 * looks at, and in a busy city most are full. */
static inline bool unit_has_room(const unit_candidate *u)
{
    return u && u->id && (u->status == UNIT_AVAILABLE || u->status == UNIT_BUSY) &&
           u->active_jobs < u->capacity;
}

/* Eligible: room for one more job (unit_has_room) and the capabilities
 * match (caps_match). */
bool unit_eligible(const unit_candidate *u, const char *const *req, size_t nreq);

/* The one preference order of units for a job: own district first, then
 * fewest active jobs, then id (strcmp). Negative when a comes before b,
 * positive after, 0 for the same key. Every choice of a unit (local
 * dispatch, mutual aid, rank_units, select_unit) uses it. */
int unit_order(const unit_candidate *a, const unit_candidate *b, const char *own_district);

/* Writes into out_idx (room for n) the indexes of the eligible candidates in
 * unit_order, ties by index (deterministic). Returns how many were written. */
size_t rank_units(const unit_candidate *c, size_t n, const char *own_district,
                  const char *const *req, size_t nreq, size_t *out_idx);

/* Index of the best eligible candidate, or -1. */
long select_unit(const unit_candidate *c, size_t n, const char *own_district,
                 const char *const *req, size_t nreq);

#endif
