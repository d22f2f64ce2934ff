/* The dispatcher: every generic failure (414, 404, 405, 400 invalid_id,
 * 401/403 from the route's access, 413, 415, 400 on the body) is answered
 * here, in one pass from top to bottom, so a handler only ever sees a
 * matched route, an authorised caller, decoded path parameters and, on a
 * body route, a parsed JSON object. New steps (CORS preflights) go into
 * api_dispatch in their place in that order. It also counts refusals. */
#include "dispatch.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int api_dispatcher_init(api_dispatcher *d, const api_route *routes, size_t nroutes,
                        size_t body_cap)
{
    if (!d || !api_routes_valid(routes, nroutes) || nroutes > API_MAX_ROUTES)
        return -1;
    d->routes = routes;
    d->nroutes = nroutes;
    d->body_cap = body_cap ? body_cap : API_DEFAULT_BODY_CAP;
    d->auth = NULL;
    d->self = NULL;
    d->cors = NULL;
    d->gate = NULL;
    for (size_t i = 0; i < API_MAX_ROUTES; i++)
        for (size_t j = 0; j < API_REFUSAL__COUNT - 1; j++)
            atomic_init(&d->refused[i][j], 0);
    return 0;
}

void api_dispatcher_set_auth(api_dispatcher *d, api_auth *auth, const char *self)
{
    if (!d)
        return;
    d->auth = auth;
    d->self = self;
}

void api_dispatcher_set_cors(api_dispatcher *d, const api_cors *cors)
{
    if (d)
        d->cors = cors;
}

void api_dispatcher_set_gate(api_dispatcher *d, api_gate gate)
{
    if (d)
        d->gate = gate;
}

void api_dispatcher_metrics(api_dispatcher *d, strbuf *sb)
{
    bool head = false;

    if (!d || !sb)
        return;
    for (size_t i = 0; i < d->nroutes; i++) {
        for (int j = API_REFUSAL_MISSING; j < API_REFUSAL__COUNT; j++) {
            uint64_t n = atomic_load_explicit(&d->refused[i][j - 1], memory_order_relaxed);
            if (!n)
                continue;
            if (!head) {
                strbuf_addf(sb, "# HELP ergrid_auth_refusals_total Requests refused for their "
                                "credential, by route and reason.\n"
                                "# TYPE ergrid_auth_refusals_total counter\n");
                head = true;
            }
            strbuf_addf(sb, "ergrid_auth_refusals_total{route=\"%s %s\",reason=\"%s\"} %llu\n",
                        d->routes[i].method, d->routes[i].pattern, api_refusal_name((api_refusal)j),
                        (unsigned long long)n);
        }
    }
}

/* The caller of req on route r, from its bearer token: true with
 * req->caller set, false with the 401/403 in res. A bound role's subject
 * must be where the route says, except in the body, checked later. */
static bool authorise(const api_dispatcher *d, const api_route *r, api_request *req,
                      api_response *res)
{
    const api_access *a = &r->access;
    const char *tok;
    size_t len;
    api_identity who;
    const char *want = NULL;

    switch (api_bearer_token(api_header(req, "Authorization"), &tok, &len)) {
    case API_BEARER_MISSING:
        api_reply_refused(res, API_REFUSAL_MISSING,
                          "this route needs an Authorization: Bearer token");
        return false;
    case API_BEARER_MALFORMED:
        api_reply_refused(res, API_REFUSAL_MALFORMED,
                          "the Authorization header must be 'Bearer <token>'");
        return false;
    case API_BEARER_OK:
        break;
    }
    if (!api_auth_lookup(d->auth, tok, len, &who)) {
        api_reply_refused(res, API_REFUSAL_UNKNOWN, "the token is not known here");
        return false;
    }
    if (who.role != API_ROLE_OPERATOR && !(a->roles & API_ROLE_BIT(who.role))) {
        api_reply_refused(res, API_REFUSAL_ROLE, "role %s may not call %s %s",
                          api_role_name(who.role), r->method, r->pattern);
        return false;
    }
    if (api_role_bound(who.role)) {
        if (a->subject == API_SUBJECT_PATH)
            want = req->params[a->param];
        else if (a->subject == API_SUBJECT_SELF)
            want = d->self ? d->self : "";
    }
    if (want && strcmp(want, who.subject) != 0) {
        api_reply_refused(res, API_REFUSAL_SUBJECT, "%s %s may not act for '%s'",
                          api_role_name(who.role), who.subject, want);
        return false;
    }
    req->caller = who;
    return true;
}

/* The body half of the subject rule, once the body is parsed. */
static bool subject_in_body(const api_route *r, const api_request *req, api_response *res)
{
    const api_identity *who = &req->caller;
    const char *got;

    if (r->access.subject != API_SUBJECT_BODY || !api_role_bound(who->role))
        return true;
    got = json_string_value(json_object_get(req->body, r->access.field));
    if (got && strcmp(got, who->subject) == 0)
        return true;
    api_reply_refused(res, API_REFUSAL_SUBJECT, "%s %s may not send %s '%.64s'",
                      api_role_name(who->role), who->subject, r->access.field,
                      got ? got : "(none)");
    return false;
}

/* "application/json", any case, optionally followed by parameters. */
static bool is_json_type(const char *ct)
{
    static const char want[] = "application/json";

    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, want, sizeof(want) - 1) != 0)
        return false;
    ct += sizeof(want) - 1;
    return *ct == '\0' || *ct == ';' || *ct == ' ' || *ct == '\t';
}

/* The body a route takes, parsed into *out (NULL for none). False with the
 * error in res when the request must not reach the handler. */
static bool parse_body(const api_request *req, unsigned flags, const char *bytes, size_t len,
                       json_t **out, api_response *res)
{
    json_error_t jerr;
    json_t *body;

    *out = NULL;
    if (!(flags & API_BODY_JSON) && !((flags & API_BODY_OPTIONAL) && len))
        return true;
    if (len == 0) {
        api_reply_error(res, API_E_BAD_JSON, "a JSON object body is required");
        return false;
    }
    if (!is_json_type(api_header(req, "Content-Type"))) {
        api_reply_error(res, API_E_MEDIA_TYPE,
                        "the body must be sent as Content-Type: application/json");
        return false;
    }
    body = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        api_reply_error(res, API_E_BAD_JSON, "invalid JSON at line %d column %d: %s", jerr.line,
                        jerr.column, jerr.text);
        return false;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        api_reply_error(res, API_E_BAD_JSON, "the body must be a JSON object");
        return false;
    }
    *out = body;
    return true;
}

void api_dispatch(api_dispatcher *d, const api_raw_request *rq, api_response *res)
{
    api_route_match m;
    char query[API_MAX_URL + 1]; /* the router refused longer targets */
    api_request req = {0};
    json_t *body = NULL;
    size_t body_len;
    const char *origin = NULL;

    if (!res)
        return;
    memset(res, 0, sizeof(*res));
    m.route = NULL;
    m.pattern = NULL;
    m.allow[0] = '\0';
    if (!d || !rq) {
        api_reply_error(res, API_E_INTERNAL, "no request to dispatch");
        return;
    }
    body_len = rq->body ? rq->body_len : 0;
    req.raw = rq;
    if (d->cors)
        origin = api_header(&req, "Origin");

    /* A CORS preflight, before the credential: browsers send it without
     * one. Resolved as OPTIONS, which no route serves, so a path that
     * exists is the 405 whose Allow list the preflight answers with. */
    if (d->cors && api_cors_is_preflight(rq->method, origin,
                                         api_header(&req, "Access-Control-Request-Method"))) {
        if (!api_cors_allows(d->cors, origin)) {
            api_reply_error(res, API_E_FORBIDDEN,
                            "origin '%.128s' may not call this service (--cors-origin)", origin);
            goto out;
        }
        if (!api_route_resolve(d->routes, d->nroutes, rq->method, rq->target, &m)) {
            if (m.err == API_E_METHOD) {
                api_cors_preflight(d->cors, origin, m.allow, res);
                m.allow[0] = '\0'; /* a 204, not a 405: no Allow */
            } else {
                api_reply_error(res, m.err, "%s", m.message);
            }
            goto out;
        }
        /* else a route of the table's own serves OPTIONS: it answers */
    }

    /* 414, 404, 405, 400 invalid_id */
    if (!api_route_resolve(d->routes, d->nroutes, rq->method, rq->target, &m)) {
        api_reply_error(res, m.err, "%s", m.message);
        goto out;
    }
    req.method = rq->method;
    req.path = m.path;
    for (size_t i = 0; i < m.nparams; i++)
        req.params[i] = m.params[i];
    req.nparams = m.nparams;
    req.ctx = rq->ctx;
    req.raw = rq;
    api_request_set_query(&req, m.query, query);

    /* 401, 403 (before the body is even measured: a stranger learns
     * nothing about the route's limits) */
    if (d->auth && !(m.route->access.roles & API_OPEN_ROUTE) && !authorise(d, m.route, &req, res))
        goto out;

    /* the service's gate: after the credential, so a refused caller learns
     * nothing from it */
    if (d->gate && !d->gate(m.route, &req, res))
        goto out;

    /* 413 */
    if (rq->body_too_large || body_len > d->body_cap) {
        api_reply_error(res, API_E_TOO_LARGE, "the body is larger than %zu bytes", d->body_cap);
        goto out;
    }

    /* 400 empty, 415, 400 invalid JSON */
    if (!parse_body(&req, m.route->flags, rq->body, body_len, &body, res))
        goto out;
    req.body = body;

    /* 403 for a bound subject that is not the body's */
    if (!subject_in_body(m.route, &req, res))
        goto out;

    m.route->handler(&req, res);
    if (res->defer && rq->can_defer) {
        /* answered later, through the transport */
    } else if (res->status == 0)
        api_reply_error(res, API_E_INTERNAL, "the handler produced no reply");
    else if (res->status < 100 || res->status > 599)
        api_reply_error(res, API_E_INTERNAL, "the handler produced an invalid status");

out:
    /* Whoever answered 405, the router or a handler, Allow says what would do. */
    if (res->status == 405 && m.allow[0] && !api_response_header(res, "Allow"))
        api_response_add_header(res, "Allow", m.allow);
    api_cors_annotate(d->cors, origin, res);
    if (res->refusal != API_REFUSAL_NONE && m.route)
        atomic_fetch_add_explicit(&d->refused[m.route - d->routes][res->refusal - 1], 1,
                                  memory_order_relaxed);
    json_decref(body);
    res->route = m.route;
    res->pattern = m.pattern;
}
