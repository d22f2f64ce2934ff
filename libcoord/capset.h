/* A set of capabilities as units offer them and jobs require them: the
 * names interned in a strtab, kept in the order given (views print them so).
 * Every question about capabilities goes through caps_match (match.h), the
 * one matcher. Caller-owned value type. */
#ifndef COORD_CAPSET_H
#define COORD_CAPSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strtab.h"

typedef struct capset {
    const char **v; /* interned; NULL when n == 0 */
    uint32_t n;
} capset;

/* Makes *cs hold caps[0..n) (replacing what it held). 0, or COORD_E_NOMEM
 * / COORD_E_INVAL (NULL element) with *cs untouched. */
int capset_set(capset *cs, strtab *t, const char *const *caps, size_t n);
/* A copy of src interned in t (which may be another table). Errors as
 * capset_set. */
int capset_copy(capset *dst, strtab *t, const capset *src);
/* Lets go of every name and empties cs. Accepts NULL. */
void capset_release(capset *cs, strtab *t);
/* offered covers every capability in required (an empty one is covered). */
bool capset_covers(const capset *offered, const capset *required);
/* offered includes cap. */
bool capset_has(const capset *offered, const char *cap);

#endif
