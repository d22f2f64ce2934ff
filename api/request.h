/* Requests: api_raw_request, what a transport (the HTTP server, a test, a
 * fuzz target) hands to api_dispatch, and api_request, what a handler gets
 * from it, with its query arguments and headers reachable through
 * api_query and api_header. No transport types: anything that can name a
 * method, a target, headers and body bytes can dispatch. */
#ifndef API_REQUEST_H
#define API_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "auth.h"
#include "router.h"

/* One request header, for a transport that has them in an array. */
typedef struct api_field {
    const char *name;
    const char *value;
} api_field;

/* Returns the value of header name (case-insensitive), or NULL; the value
 * must stay valid until the request is answered. */
typedef const char *(*api_header_fn)(void *cls, const char *name);

typedef struct api_raw_request {
    const char *method; /* "GET", ...; NULL resolves to no route */
    const char *target; /* the request target as sent: path, optional ?query,
                         * %-escapes kept; NUL-terminated */
    /* Header lookup: header_fn when set, else the headers array (first
     * match wins, names compare case-insensitively). Both unset: none. */
    api_header_fn header_fn;
    void *header_cls;
    const api_field *headers;
    size_t nheaders;
    const char *body; /* body bytes (not NUL-terminated), NULL when none */
    size_t body_len;
    bool body_too_large; /* the transport saw more than its cap and dropped it */
    void *ctx;           /* the service context, handed to the handler */
    bool can_defer;      /* the transport takes api_reply_defer (reply.h) */
} api_raw_request;

struct api_request {
    const char *method;
    const char *path;                   /* without the query string (raw: %-escapes kept) */
    const char *params[API_MAX_PARAMS]; /* {id} captures, in order (URL-decoded) */
    size_t nparams;
    json_t *body; /* parsed body (borrowed), NULL when none */
    void *ctx;    /* the service context given at start */
    /* Behind api_query and api_header; set by api_dispatch. Left NULL (a
     * request built by hand), both answer NULL. */
    const api_raw_request *raw;
    const char *query_raw; /* after '?', as sent */
    const char *query_buf; /* query_raw decoded argument by argument in place */
    api_identity caller;   /* set by api_dispatch from the credential */
};

/* Value of a query argument (?key=value; '+' and %XX decoded, key
 * case-insensitive, the first one wins), or NULL when absent or given
 * without '='. Valid while the handler runs. */
const char *api_query(const api_request *req, const char *key);
/* Value of a request header, or NULL. */
const char *api_header(const api_request *req, const char *name);
/* Whether the handler may answer with api_reply_defer. */
bool api_can_defer(const api_request *req);

/* Who is calling: the role and subject of the credential the dispatcher
 * checked; role API_ROLE_NONE on a service without --tokens and on an
 * open route. Handlers never read the Authorization header themselves. */
const api_identity *api_caller(const api_request *req);
/* False when the caller holds a credential of the bound role `role` (unit,
 * peer) for a subject other than id: the check of a subject that only the
 * handler can find (the owner of a claim). True for every other caller,
 * whom the route table has already let in. */
bool api_caller_may_act_for(const api_request *req, api_role_id role, const char *id);

/* Gives req the query after '?' of its target (raw, NULL for none), decoded
 * into buf, which must hold strlen(raw) + 1 bytes and outlive req's use.
 * Used by api_dispatch. */
void api_request_set_query(api_request *req, const char *raw, char *buf);

#endif
