/* String interning with reference counts: one copy of each distinct string
 * (capability names, clock node names), shared by every set and clock that
 * holds it, freed with its last holder. Interned strings compare equal by
 * pointer. Not thread-safe: the owner locks. */
#ifndef COORD_STRTAB_H
#define COORD_STRTAB_H

#include <stddef.h>

typedef struct strtab strtab;

strtab *strtab_new(void);
/* Frees every string, whoever still holds it. Accepts NULL. */
void strtab_free(strtab *t);
/* The table's copy of s, with one more holder; NULL when out of memory or
 * when s is NULL. */
const char *strtab_intern(strtab *t, const char *s);
/* Drops one holder of an interned string; the last one frees it. NULL and
 * strings the table does not hold are ignored. */
void strtab_release(strtab *t, const char *s);
/* Distinct strings held. */
size_t strtab_size(const strtab *t);

#endif
