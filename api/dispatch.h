/* The dispatcher: one entry, api_dispatch, that takes one parsed request
 * (method, raw target, headers, body bytes) through the whole pipeline of
 * the route table and leaves a reply with a status in an api_response.
 * The HTTP server calls it at the end of each request; tests and fuzz
 * targets call it directly, without sockets. */
#ifndef API_DISPATCH_H
#define API_DISPATCH_H

#include <stddef.h>
#include "reply.h"
#include "request.h"
#include "router.h"

#define API_DEFAULT_BODY_CAP (1024 * 1024)

typedef struct api_dispatcher {
    const api_route *routes; /* not owned; must outlive the dispatcher */
    size_t nroutes;
    size_t body_cap; /* a longer body is 413 */
} api_dispatcher;

/* Fills d for routes (body_cap 0: API_DEFAULT_BODY_CAP). Nothing to
 * release. -1, d untouched, when the table fails api_routes_valid. */
int api_dispatcher_init(api_dispatcher *d, const api_route *routes, size_t nroutes,
                        size_t body_cap);

/* Answers rq into res, which it overwrites (whatever res held is not
 * freed; release it with api_response_release afterwards). Order:
 *   414, 404, 405, 400 invalid_id (api_route_resolve);
 *   413 when the body is longer than d->body_cap or rq->body_too_large,
 *       on every route;
 *   body routes (API_BODY_JSON, or API_BODY_OPTIONAL with a body):
 *       400 invalid_json for an empty body, 415 unless Content-Type is
 *       application/json (parameters allowed), 400 invalid_json unless the
 *       body is one JSON object without duplicate keys; other routes
 *       ignore the body;
 *   the handler, with api_query and api_header working on its request;
 *   500 internal when it set no status, or one outside 100-599.
 * Every error is the {"error":{"code","message"}} body; every 405 (the
 * router's or a handler's) has an Allow header. res->route and
 * res->pattern say what served (see reply.h). HEAD runs GET routes and
 * gets their body: dropping it is the transport's job. Thread-safe as far
 * as the handlers are. */
void api_dispatch(const api_dispatcher *d, const api_raw_request *rq, api_response *res);

#endif
