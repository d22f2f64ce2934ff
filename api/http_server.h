/* HTTP server on libmicrohttpd with one declarative route table and one
 * dispatcher. The dispatcher owns 404/405, URL and body caps (414/413),
 * content-type (415), JSON parsing (400) and the error shape; handlers get
 * parsed input and fill an api_response. */
#ifndef API_HTTP_SERVER_H
#define API_HTTP_SERVER_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "api_errors.h"
#include "service.h"

#define API_MAX_PARAMS       4
#define API_DEFAULT_BODY_CAP (1024 * 1024)
#define API_MAX_URL          2048

/* Who may call a route; enforced once auth lands (for now all pass). */
typedef enum api_role { ROLE_ANY = 0, ROLE_CLIENT, ROLE_UNIT, ROLE_PEER, ROLE_ADMIN } api_role;

typedef struct api_request {
    const char *method;
    const char *path;                   /* without the query string (raw: %-escapes kept) */
    const char *params[API_MAX_PARAMS]; /* {id} captures, in order (URL-decoded) */
    size_t nparams;
    json_t *body; /* parsed body (borrowed), NULL when none */
    void *ctx;    /* the service context given at start */
    void *conn;   /* opaque: for api_query */
} api_request;

typedef struct api_response {
    unsigned status;
    json_t *body; /* owned by the response (set with api_reply_json) */
    char *text;   /* alternative raw body, malloc'd, owned */
    size_t text_len;
    const char *content_type; /* default application/json; not owned: use a string literal */
} api_response;

typedef void (*api_handler)(api_request *req, api_response *res);

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

typedef struct api_server_config {
    const char *host; /* "127.0.0.1" */
    uint16_t port;    /* 0: pick a free port */
    size_t body_cap;  /* 0: API_DEFAULT_BODY_CAP */
    unsigned threads; /* 0: 8 */
    /* Called after every request (for metrics/logging); may be NULL. */
    void (*on_request)(void *ctx, const char *method, const char *route_pattern, unsigned status,
                       double seconds);
    /* When both are set, the server observes every request's duration (the
     * same requests and seconds on_request sees) into *latency, holding
     * *latency_mu while it does; the service reads it under that mutex.
     * Both must outlive the server. NULL: no observation. */
    histogram *latency;
    pthread_mutex_t *latency_mu;
} api_server_config;

typedef struct api_server api_server;

/* Starts serving. routes must outlive the server. Returns NULL on failure
 * (e.g. port in use, host not an IPv4 literal, a pattern not starting with
 * '/' or with more than API_MAX_PARAMS captures). *bound_port receives the
 * actual port.
 * Dispatch order: 414 (URL > API_MAX_URL), 404 (no pattern matches the
 * path), 405 with Allow (path matches, method does not; HEAD is served by
 * GET routes; an empty segment never matches {x}), 400 invalid_id (a
 * capture longer than 64 bytes after decoding, or with a bad %-escape, an
 * encoded NUL or '/'), 413 (body > body_cap,
 * on every route), then for body routes: 400 invalid_json for an empty
 * body, 415 unless Content-Type is application/json (parameters allowed),
 * 400 invalid_json unless the body is one JSON object without duplicate
 * keys. These errors are {"error":{"code","message"}} JSON (only MHD's own
 * replies to HTTP-level garbage, e.g. broken chunking, are not). A handler
 * that sets no status gets 500 internal. on_request receives the route's
 * method and pattern, or "unmatched" when no pattern matched the path.
 * Threads: handlers and on_request run concurrently on cfg->threads
 * threads; whatever they share must be locked (cfg->latency is, with
 * cfg->latency_mu). */
api_server *api_server_start(const api_server_config *cfg, const api_route *routes, size_t nroutes,
                             void *ctx, uint16_t *bound_port);
/* Stops accepting, waits for in-flight requests, frees. Accepts NULL. */
void api_server_stop(api_server *s);

/* Value of a query argument (?key=value), or NULL. */
const char *api_query(const api_request *req, const char *key);
/* Value of a request header, or NULL. */
const char *api_header(const api_request *req, const char *name);

/* Replies. api_reply_json steals body; a NULL body (a failed json_pack)
 * becomes a 500 internal error, never an empty 2xx. */
void api_reply_json(api_response *res, unsigned status, json_t *body);
void api_reply_error(api_response *res, api_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Error with extra members merged into the top-level object (steals extra),
 * e.g. {"error":{...},"result":{...}} for a rejected result. */
void api_reply_error_extra(api_response *res, api_err code, json_t *extra, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Raw body (copied). */
void api_reply_text(api_response *res, unsigned status, const char *content_type, const char *text,
                    size_t len);

/* Parses "HOST:PORT" (host an IPv4 literal or "localhost"). 0 or -1. */
int api_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif
