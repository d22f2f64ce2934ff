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

/* The roles a credential can carry (--tokens FILE, auth.h). unit and peer
 * are bound to a subject (a unit id, a district id); for the others a
 * subject is only a label. API_ROLE_NONE is the caller of a service that
 * checks no credentials (no --tokens). */
typedef enum api_role_id {
    API_ROLE_NONE = 0,
    API_ROLE_VIEWER,
    API_ROLE_DISPATCHER,
    API_ROLE_UNIT,
    API_ROLE_PEER,
    API_ROLE_OPERATOR,
    API_ROLE__COUNT
} api_role_id;

/* Who may call a route: a set of roles (bits), or API_OPEN_ROUTE for a
 * route that takes no credential at all (health, the dashboard page). The
 * operator may call every route, whatever its set says. */
#define API_ROLE_BIT(r) (1u << (r))
#define API_VIEWER      API_ROLE_BIT(API_ROLE_VIEWER)
#define API_DISPATCHER  API_ROLE_BIT(API_ROLE_DISPATCHER)
#define API_UNIT        API_ROLE_BIT(API_ROLE_UNIT)
#define API_PEER        API_ROLE_BIT(API_ROLE_PEER)
#define API_OPERATOR    API_ROLE_BIT(API_ROLE_OPERATOR)
#define API_ALL_ROLES   (API_VIEWER | API_DISPATCHER | API_UNIT | API_PEER | API_OPERATOR)
#define API_OPEN_ROUTE  (1u << 15)

/* Where the subject of a bound role (unit, peer) must appear in a request
 * for it to be served; a mismatch is 403. Roles without a subject
 * (viewer, dispatcher, operator) are not subject to the rule. */
typedef enum api_subject_rule {
    API_SUBJECT_NONE = 0, /* any subject may call */
    API_SUBJECT_PATH,     /* == the path capture number param */
    API_SUBJECT_BODY,     /* == the body's top-level string member field; checked
                           * after the body is parsed, before the handler */
    API_SUBJECT_SELF,     /* == the dispatcher's own id (api_dispatcher_set_auth) */
} api_subject_rule;

/* A route's access: its roles and its subject rule. Written in the tables
 * with the macros below. */
typedef struct api_access {
    unsigned roles;
    api_subject_rule subject;
    const char *field;   /* API_SUBJECT_BODY */
    unsigned char param; /* API_SUBJECT_PATH */
} api_access;

#define API_ACCESS_OPEN                                                                            \
    {                                                                                              \
        API_OPEN_ROUTE, API_SUBJECT_NONE, NULL, 0                                                  \
    }
#define API_ACCESS(roles)                                                                          \
    {                                                                                              \
        (roles), API_SUBJECT_NONE, NULL, 0                                                         \
    }
#define API_ACCESS_PATH(roles, param)                                                              \
    {                                                                                              \
        (roles), API_SUBJECT_PATH, NULL, (param)                                                   \
    }
#define API_ACCESS_BODY(roles, field)                                                              \
    {                                                                                              \
        (roles), API_SUBJECT_BODY, (field), 0                                                      \
    }
#define API_ACCESS_SELF(roles)                                                                     \
    {                                                                                              \
        (roles), API_SUBJECT_SELF, NULL, 0                                                         \
    }

/* The names the tables used before credentials were checked, for tables
 * (tests, fuzz targets, the bench's stub) where who calls does not matter:
 * each is its roles without a subject rule. */
#define ROLE_ANY    API_ACCESS(API_ALL_ROLES)
#define ROLE_CLIENT API_ACCESS(API_DISPATCHER | API_OPERATOR)
#define ROLE_UNIT   API_ACCESS(API_UNIT | API_OPERATOR)
#define ROLE_PEER   API_ACCESS(API_PEER | API_OPERATOR)
#define ROLE_ADMIN  API_ACCESS(API_OPERATOR)

/* Route flags */
#define API_BODY_NONE     0u
#define API_BODY_JSON     1u /* a JSON object body is required (400/415 otherwise) */
#define API_BODY_OPTIONAL 2u /* a JSON object body is parsed when present */

typedef struct api_route {
    const char *method;  /* "GET", "POST", "DELETE", ... */
    const char *pattern; /* "/v1/units/{id}/heartbeat"; {x} matches one segment */
    api_handler handler;
    api_access access;
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
 * '/', at most API_MAX_PARAMS captures, and a subject rule that can be
 * applied (a body field on a body route, a path capture it has). */
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
