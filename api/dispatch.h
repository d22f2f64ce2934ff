/* The dispatcher: one entry, api_dispatch, that takes one parsed request
 * (method, raw target, headers, body bytes) through the whole pipeline of
 * the route table and leaves a reply with a status in an api_response.
 * The HTTP server calls it at the end of each request; tests and fuzz
 * targets call it directly, without sockets. */
#ifndef API_DISPATCH_H
#define API_DISPATCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "auth.h"
#include "cors.h"
#include "reply.h"
#include "request.h"
#include "router.h"
#include "service.h"

#define API_DEFAULT_BODY_CAP (1024 * 1024)
#define API_MAX_ROUTES       64 /* routes of one table (refusals are counted per route) */

/* A service's own step between the credential check and the body (the
 * broker's standby role: a write at a follower is redirected to the
 * leader). True to go on to the handler, with whatever headers it added
 * to res kept; false when it answered res itself. */
typedef bool (*api_gate)(const api_route *route, api_request *req, api_response *res);

typedef struct api_dispatcher {
    const api_route *routes; /* not owned; must outlive the dispatcher */
    size_t nroutes;
    size_t body_cap; /* a longer body is 413 */
    /* The credentials checked (api_dispatcher_set_auth); NULL: none, every
     * route is open and every caller API_ROLE_NONE. Not owned. */
    api_auth *auth;
    const char *self; /* the subject API_SUBJECT_SELF routes want; not owned */
    const api_cors *cors; /* --cors-origin (api_dispatcher_set_cors); NULL: no CORS. Not owned. */
    api_gate gate;        /* api_dispatcher_set_gate; NULL: none */
    /* Refusals by route (table order) and reason (api_refusal - 1). */
    _Atomic uint64_t refused[API_MAX_ROUTES][API_REFUSAL__COUNT - 1];
} api_dispatcher;

/* Fills d for routes (body_cap 0: API_DEFAULT_BODY_CAP), without
 * credentials. Nothing to release. -1, d untouched, when the table fails
 * api_routes_valid or has more than API_MAX_ROUTES routes. */
int api_dispatcher_init(api_dispatcher *d, const api_route *routes, size_t nroutes,
                        size_t body_cap);
/* From now on every route but the open ones needs a credential of auth
 * (NULL: none again); self is the id API_SUBJECT_SELF compares with (the
 * executor's unit). Both must outlive d. Call before dispatching. */
void api_dispatcher_set_auth(api_dispatcher *d, api_auth *auth, const char *self);
/* From now on preflights are answered and replies carry the CORS headers
 * of cors (NULL: none again, OPTIONS is 405 as any other method). cors
 * must outlive d. Call before dispatching. */
void api_dispatcher_set_cors(api_dispatcher *d, const api_cors *cors);
/* From now on every routed request that passed the credential check goes
 * through gate before its body is measured (NULL: none again). Call
 * before dispatching. */
void api_dispatcher_set_gate(api_dispatcher *d, api_gate gate);
/* Appends ergrid_auth_refusals_total{route,reason} (Prometheus text; the
 * series that are not zero) to sb. */
void api_dispatcher_metrics(api_dispatcher *d, strbuf *sb);

/* Answers rq into res, which it overwrites (whatever res held is not
 * freed; release it with api_response_release afterwards). Order:
 *   with CORS, a preflight (OPTIONS with Origin and
 *       Access-Control-Request-Method; no credential needed, browsers send
 *       none): 403 forbidden for an origin not allowed, else, once the path
 *       resolves (414, 404, 400 invalid_id otherwise), 204 with the
 *       preflight headers (cors.h);
 *   414, 404, 405, 400 invalid_id (api_route_resolve);
 *   with credentials, on every route but the open ones: 401 for a
 *       missing, malformed or unknown bearer token, 403 for a role the
 *       route does not take, or a bound role (unit, peer) whose subject is
 *       not the path capture (API_SUBJECT_PATH) or the dispatcher's own
 *       id (API_SUBJECT_SELF); the operator may call every route;
 *   the gate, when set (api_dispatcher_set_gate): its own reply, or
 *       headers added to the handler's;
 *   413 when the body is longer than d->body_cap or rq->body_too_large,
 *       on every route;
 *   body routes (API_BODY_JSON, or API_BODY_OPTIONAL with a body):
 *       400 invalid_json for an empty body, 415 unless Content-Type is
 *       application/json (parameters allowed), 400 invalid_json unless the
 *       body is one JSON object without duplicate keys; other routes
 *       ignore the body;
 *   403 when a bound role's subject is not the body member the route
 *       names (API_SUBJECT_BODY: absent or not a string counts as another);
 *   the handler, with api_query and api_header working on its request;
 *   500 internal when it set no status, or one outside 100-599.
 * Every error is the {"error":{"code","message"}} body; every 405 (the
 * router's or a handler's) has an Allow header. With CORS every reply,
 * errors too, has Vary: Origin, and Access-Control-Allow-Origin when the
 * request's Origin is allowed. res->route and
 * res->pattern say what served (see reply.h). HEAD runs GET routes and
 * gets their body: dropping it is the transport's job. Every refusal
 * (res->refusal, also one a handler made with api_reply_refused) is
 * counted by route and reason. Thread-safe as far as the handlers are. */
void api_dispatch(api_dispatcher *d, const api_raw_request *rq, api_response *res);

#endif
