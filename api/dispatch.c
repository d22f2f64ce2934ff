/* The dispatcher: every generic failure (414, 404, 405, 400 invalid_id,
 * 413, 415, 400 on the body) is answered here, in one pass from top to
 * bottom, so a handler only ever sees a matched route, decoded path
 * parameters and, on a body route, a parsed JSON object. New steps
 * (credentials from the route's role, CORS preflights) go into
 * api_dispatch in their place in that order. */
#include "dispatch.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int api_dispatcher_init(api_dispatcher *d, const api_route *routes, size_t nroutes,
                        size_t body_cap)
{
    if (!d || !api_routes_valid(routes, nroutes))
        return -1;
    d->routes = routes;
    d->nroutes = nroutes;
    d->body_cap = body_cap ? body_cap : API_DEFAULT_BODY_CAP;
    return 0;
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

void api_dispatch(const api_dispatcher *d, const api_raw_request *rq, api_response *res)
{
    api_route_match m;
    char query[API_MAX_URL + 1]; /* the router refused longer targets */
    api_request req = {0};
    json_t *body = NULL;
    size_t body_len;

    if (!res)
        return;
    memset(res, 0, sizeof(*res));
    if (!d || !rq) {
        api_reply_error(res, API_E_INTERNAL, "no request to dispatch");
        return;
    }
    body_len = rq->body ? rq->body_len : 0;

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

    /* 413 */
    if (rq->body_too_large || body_len > d->body_cap) {
        api_reply_error(res, API_E_TOO_LARGE, "the body is larger than %zu bytes", d->body_cap);
        goto out;
    }

    /* 400 empty, 415, 400 invalid JSON */
    if (!parse_body(&req, m.route->flags, rq->body, body_len, &body, res))
        goto out;
    req.body = body;

    m.route->handler(&req, res);
    if (res->status == 0)
        api_reply_error(res, API_E_INTERNAL, "the handler produced no reply");
    else if (res->status < 100 || res->status > 599)
        api_reply_error(res, API_E_INTERNAL, "the handler produced an invalid status");

out:
    /* Whoever answered 405, the router or a handler, Allow says what would do. */
    if (res->status == 405 && m.allow[0] && !api_response_header(res, "Allow"))
        api_response_add_header(res, "Allow", m.allow);
    json_decref(body);
    res->route = m.route;
    res->pattern = m.pattern;
}
