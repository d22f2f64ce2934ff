/* Compact vector clocks for storing many of them (one per attempt): only the
 * live entries, on the heap, with node names interned in a strtab. A full
 * vclock is 64 x 72 bytes; a compact one with four nodes is 16 + 4 x 16.
 * Computation happens on vclock: unpack, compare, pack. */
#ifndef COORD_CCLOCK_H
#define COORD_CCLOCK_H

#include <stdint.h>

#include "strtab.h"
#include "vclock.h"

typedef struct cclock_entry {
    const char *node; /* interned */
    uint64_t counter;
} cclock_entry;

typedef struct cclock {
    cclock_entry *e; /* sorted by node name, as in vclock; NULL when n == 0 */
    uint32_t n;
} cclock;

/* *out = vc (replacing what it held). 0, or COORD_E_NOMEM / COORD_E_INVAL
 * with *out untouched. */
int cclock_pack(cclock *out, strtab *t, const vclock *vc);
/* *out = the clock c stands for. A NULL c gives the empty clock. */
void cclock_unpack(const cclock *c, vclock *out);
/* Lets go of the entries. Accepts NULL. */
void cclock_release(cclock *c, strtab *t);

#endif
