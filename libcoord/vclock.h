/* Vector clocks (DESIGN.md §4). Nodes are brokers, the coordinator and, for
 * the dot a unit adds to a report, units. A clock is a sparse map
 * node -> counter kept sorted by node name, with a hard cap on entries so a
 * hostile clock cannot grow memory. Caller-owned value type: no heap. */
#ifndef COORD_VCLOCK_H
#define COORD_VCLOCK_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

#define VCLOCK_MAX_ENTRIES 64
/* Counters above this are refused as absurd (2^53, exact in JSON doubles). */
#define VCLOCK_COUNTER_MAX 9007199254740991ULL
/* The most one received message may raise an entry of the receiver's clock
 * (docs/PROTOCOL.md, "Vector clocks"). Receivers lag a peer by one sync
 * interval of its events, far below this even at benchmark rates; a peer met
 * for the first time after 4 billion events of its own is caught up over a
 * few messages. A forged 2^53 would need two million. */
#define VCLOCK_MAX_STEP (1ULL << 32)

typedef struct vclock_entry {
    char node[COORD_ID_MAX + 1];
    uint64_t counter; /* > 0; zero entries are never stored */
} vclock_entry;

typedef struct vclock {
    size_t n;
    vclock_entry e[VCLOCK_MAX_ENTRIES]; /* sorted by strcmp(node) */
} vclock;

typedef enum vc_order {
    VC_EQUAL = 0,
    VC_BEFORE,     /* a happened before b: a < b */
    VC_AFTER,      /* a > b */
    VC_CONCURRENT, /* neither */
} vc_order;

void vclock_init(vclock *vc);
void vclock_copy(vclock *dst, const vclock *src);
/* Counter of node, 0 when absent. */
uint64_t vclock_get(const vclock *vc, const char *node);
/* Sets node's counter (0 removes it). COORD_E_INVAL for a bad node id or a
 * counter above VCLOCK_COUNTER_MAX, COORD_E_RANGE when the cap is reached. */
int vclock_set(vclock *vc, const char *node, uint64_t counter);
/* Increments node's entry. Errors as vclock_set; vc untouched on failure. */
int vclock_tick(vclock *vc, const char *node);
/* dst = element-wise max(dst, src). COORD_E_RANGE (dst untouched) when the
 * union would exceed the cap. */
int vclock_merge(vclock *dst, const vclock *src);
/* The receive step of a clock node self: dst = element-wise max(dst, src),
 * except that self's entry in src is ignored (only self's own events move
 * it: nobody can know more of them than self) and every other entry rises
 * by at most VCLOCK_MAX_STEP over dst's (a larger jump is clamped to it).
 * *refused, when not NULL, is how many entries were ignored or clamped
 * (self's entry counts only when above dst's). COORD_E_RANGE (dst and
 * *refused untouched) when the union would exceed the cap. */
int vclock_receive(vclock *dst, const vclock *src, const char *self, size_t *refused);
vc_order vclock_compare(const vclock *a, const vclock *b);
const char *vc_order_str(vc_order o); /* "equal", "before", ... */

#endif
