/* Incident routing: which district broker an incident submitted to the
 * coordinator goes to. Pure policy over what the coordinator learnt by
 * asking each broker; the asking (HTTP, JSON) stays in the coordinator. */
#ifndef COORD_ROUTING_H
#define COORD_ROUTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How the district was chosen; wire names "named", "free_unit",
 * "least_loaded" (the "routing" member of the reply and a metric label). */
typedef enum route_kind { ROUTE_NAMED = 0, ROUTE_FREE_UNIT, ROUTE_LEAST_LOADED } route_kind;
const char *route_kind_str(route_kind k);             /* never NULL; "named" when out of range */
int route_kind_parse(const char *s, route_kind *out); /* 0 or COORD_E_INVAL, out untouched */

/* One registered broker and what its probes found. A probe that got no
 * usable answer leaves its _ok false, and then its figure means nothing. */
typedef struct route_candidate {
    const char *id;
    bool units_ok;       /* its list of available units answered */
    size_t free_capable; /* own available units whose capabilities cover the request */
    bool health_ok;      /* its health answered with a queue length */
    uint64_t queued;
} route_candidate;

/* Index of the candidate called id, or -1. */
long route_find(const route_candidate *c, size_t n, const char *id);

/* Index of the chosen candidate and *kind, or -1 (*kind untouched) when
 * none can take it.
 *   named (the submitter named a district): that candidate, ROUTE_NAMED,
 *     reachable or not (its broker answers for itself).
 *   otherwise: most free capable units among those whose units answered
 *     (ROUTE_FREE_UNIT); with none anywhere, the fewest queued jobs among
 *     those whose health answered (ROUTE_LEAST_LOADED). Ties go to the
 *     smallest id (strcmp), so the choice does not depend on order. */
long route_choose(const route_candidate *c, size_t n, const char *named, route_kind *kind);

#endif
