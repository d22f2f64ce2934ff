/* Capability sets: interning keeps a hundred thousand jobs that need
 * "firefighting" from holding a hundred thousand copies of the word. */
#include "capset.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "match.h"

int capset_set(capset *cs, strtab *t, const char *const *caps, size_t n)
{
    const char **v = NULL;

    if (!cs || !t || (n && !caps) || n > UINT32_MAX)
        return COORD_E_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!caps[i])
            return COORD_E_INVAL;
    if (n) {
        v = malloc(n * sizeof(*v));
        if (!v)
            return COORD_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        v[i] = strtab_intern(t, caps[i]);
        if (!v[i]) {
            while (i-- > 0)
                strtab_release(t, v[i]);
            free(v);
            return COORD_E_NOMEM;
        }
    }
    capset_release(cs, t);
    cs->v = v;
    cs->n = (uint32_t)n;
    return COORD_OK;
}

int capset_copy(capset *dst, strtab *t, const capset *src)
{
    if (!src)
        return COORD_E_INVAL;
    return capset_set(dst, t, src->v, src->n);
}

void capset_release(capset *cs, strtab *t)
{
    if (!cs)
        return;
    for (uint32_t i = 0; i < cs->n; i++)
        strtab_release(t, cs->v[i]);
    free(cs->v);
    cs->v = NULL;
    cs->n = 0;
}

bool capset_covers(const capset *offered, const capset *required)
{
    if (!required || required->n == 0)
        return true;
    if (!offered)
        return false;
    return caps_match(required->v, required->n, offered->v, offered->n);
}

bool capset_has(const capset *offered, const char *cap)
{
    if (!offered || !cap)
        return false;
    return caps_match(&cap, 1, offered->v, offered->n);
}
