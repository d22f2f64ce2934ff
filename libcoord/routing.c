/* Incident routing policy (routing.h): named district, else most free
 * capable units, else least loaded; deterministic tie-break by id. */
#include "routing.h"

#include <string.h>

#include "errors.h"

static const char *const route_names[] = {"named", "free_unit", "least_loaded"};
#define NROUTES (sizeof(route_names) / sizeof(route_names[0]))

const char *route_kind_str(route_kind k)
{
    return (unsigned)k < NROUTES ? route_names[k] : route_names[ROUTE_NAMED];
}

int route_kind_parse(const char *s, route_kind *out)
{
    for (size_t i = 0; s && out && i < NROUTES; i++) {
        if (strcmp(s, route_names[i]) == 0) {
            *out = (route_kind)i;
            return COORD_OK;
        }
    }
    return COORD_E_INVAL;
}

long route_find(const route_candidate *c, size_t n, const char *id)
{
    for (size_t i = 0; id && i < n; i++) {
        if (c[i].id && strcmp(c[i].id, id) == 0)
            return (long)i;
    }
    return -1;
}

/* True when a should be preferred to b at equal figures. */
static bool id_before(const route_candidate *a, const route_candidate *b)
{
    return strcmp(a->id, b->id) < 0;
}

long route_choose(const route_candidate *c, size_t n, const char *named, route_kind *kind)
{
    if (named) {
        long i = route_find(c, n, named);
        if (i >= 0)
            *kind = ROUTE_NAMED;
        return i;
    }
    long best = -1;
    for (size_t i = 0; i < n; i++) {
        if (!c[i].id || !c[i].units_ok || c[i].free_capable == 0)
            continue;
        if (best < 0 || c[i].free_capable > c[best].free_capable ||
            (c[i].free_capable == c[best].free_capable && id_before(&c[i], &c[best])))
            best = (long)i;
    }
    if (best >= 0) {
        *kind = ROUTE_FREE_UNIT;
        return best;
    }
    for (size_t i = 0; i < n; i++) {
        if (!c[i].id || !c[i].health_ok)
            continue;
        if (best < 0 || c[i].queued < c[best].queued ||
            (c[i].queued == c[best].queued && id_before(&c[i], &c[best])))
            best = (long)i;
    }
    if (best >= 0)
        *kind = ROUTE_LEAST_LOADED;
    return best;
}
