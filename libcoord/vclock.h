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
vc_order vclock_compare(const vclock *a, const vclock *b);
const char *vc_order_str(vc_order o); /* "equal", "before", ... */

#endif
