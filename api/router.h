/* The route table and the router: which route serves a method and a raw
 * request target, with its {x} captures decoded, or which routing error
 * (414, 404, 405 with the methods to Allow, 400 invalid_id) it gets.
 * Pure string work: no libmicrohttpd, no JSON, no allocation. */
#ifndef API_ROUTER_H
#define API_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include "api_errors.h"

#define API_MAX_PARAMS 4
#define API_MAX_URL    2048 /* bytes of the request target, query included */
#define API_PARAM_MAX  64   /* bytes of one capture after %-decoding */
#define API_ALLOW_MAX  96   /* bytes of an Allow list; methods past it are left out */

/* Defined in request.h and reply.h; named here so a route can hold its
 * handler without the router knowing either. */
typedef struct api_request api_request;
typedef struct api_response api_response;
typedef void (*api_handler)(api_request *req, api_response *res);

/* Who may call a route; enforced once auth lands (for now all pass). */
typedef enum api_role { ROLE_ANY = 0, ROLE_CLIENT, ROLE_UNIT, ROLE_PEER, ROLE_ADMIN } api_role;

/* Route flags */
#define API_BODY_NONE     0u
#define API_BODY_JSON     1u /* a JSON object body is required (400/415 otherwise) */
#define API_BODY_OPTIONAL 2u /* a JSON object body is parsed when present */

typedef struct api_route {
    const char *method;  /* "GET", "POST", "DELETE", ... */
    const char *pattern; /* "/v1/units/{id}/heartbeat"; {x} matches one segment */
    api_handler handler;
    api_role role;
    unsigned flags;
} api_route;

/* What api_route_resolve found. Filled in every case, so a failed
 * resolution still says which pattern the path matched (for metrics) and
 * what to Allow. */
typedef struct api_route_match {
    const api_route *route; /* the route for path and method; also kept when
                             * its capture was refused (400 invalid_id) */
    const char *pattern;    /* pattern that matched the path (the route's when
                             * one resolved), NULL when none did */
    char path[API_MAX_URL + 1]; /* the target up to '?' or '#', %-escapes kept */
    const char *query;          /* into the target, after '?'; NULL without one */
    char params[API_MAX_PARAMS][API_PARAM_MAX + 1]; /* decoded {x} captures, in order */
    size_t nparams;
    char allow[API_ALLOW_MAX]; /* "GET, HEAD, POST": methods of the routes matching the path */
    api_err err;               /* on failure: the error to answer */
    const char *message;       /* on failure: its message (a string literal) */
} api_route_match;

/* True when every route has a method, a handler, a pattern starting with
 * '/' and at most API_MAX_PARAMS captures. */
bool api_routes_valid(const api_route *routes, size_t n);

/* Resolves method and the raw request target (NUL-terminated, path and
 * optional ?query exactly as sent) against routes, in this order:
 * 414 uri_too_long (target > API_MAX_URL bytes), 404 not_found (no pattern
 * matches the path), 405 method_not_allowed (path matches, method does not;
 * HEAD is served by GET routes), 400 invalid_id (a capture longer than
 * API_PARAM_MAX bytes after decoding, or with a bad %-escape, an encoded
 * NUL or '/'). Literal segments compare exactly; an empty segment never
 * matches {x}; the first route in table order wins. NULL method or target
 * resolve to nothing. Returns true when the handler may run, else false
 * with m->err and m->message set. */
bool api_route_resolve(const api_route *routes, size_t n, const char *method, const char *target,
                       api_route_match *m);

#endif
