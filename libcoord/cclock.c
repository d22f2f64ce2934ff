/* Compact clocks: pack copies the live prefix of a vclock, so unpack gives
 * back exactly the clock that was packed (sorted, zero entries absent). */
#include "cclock.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"

int cclock_pack(cclock *out, strtab *t, const vclock *vc)
{
    cclock_entry *e = NULL;
    size_t n;

    if (!out || !t || !vc || vc->n > VCLOCK_MAX_ENTRIES)
        return COORD_E_INVAL;
    n = vc->n;
    if (n) {
        e = malloc(n * sizeof(*e));
        if (!e)
            return COORD_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        e[i].node = strtab_intern(t, vc->e[i].node);
        e[i].counter = vc->e[i].counter;
        if (!e[i].node) {
            while (i-- > 0)
                strtab_release(t, e[i].node);
            free(e);
            return COORD_E_NOMEM;
        }
    }
    cclock_release(out, t);
    out->e = e;
    out->n = (uint32_t)n;
    return COORD_OK;
}

void cclock_unpack(const cclock *c, vclock *out)
{
    if (!out)
        return;
    out->n = 0;
    if (!c)
        return;
    /* Entries came from a valid vclock: sorted, ids that fit, at most the
     * cap; copying them back keeps every vclock invariant. */
    for (uint32_t i = 0; i < c->n && i < VCLOCK_MAX_ENTRIES; i++) {
        size_t len = strlen(c->e[i].node);

        if (len > COORD_ID_MAX)
            continue;
        memcpy(out->e[out->n].node, c->e[i].node, len + 1);
        out->e[out->n].counter = c->e[i].counter;
        out->n++;
    }
}

void cclock_release(cclock *c, strtab *t)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->n; i++)
        strtab_release(t, c->e[i].node);
    free(c->e);
    c->e = NULL;
    c->n = 0;
}
