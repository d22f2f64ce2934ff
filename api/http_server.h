/* The HTTP server on libmicrohttpd: it reads each request (target, headers,
 * body within its cap), hands it to api_dispatch (dispatch.h: route table,
 * routing errors, body checks, the handler) and writes the api_response
 * back. Routes, requests and replies are declared in router.h, request.h
 * and reply.h; this header includes them all for the services. */
#ifndef API_HTTP_SERVER_H
#define API_HTTP_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "dispatch.h"
#include "listen.h"
#include "service.h"

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
 * (e.g. port in use, host not an IPv4 literal, a route table that fails
 * api_routes_valid). *bound_port receives the actual port.
 * Every request goes through api_dispatch (see dispatch.h for the order:
 * 414, 404, 405 with Allow, 400 invalid_id, 413, then 400/415 on body
 * routes; a handler that sets no status gets 500 internal). A body over
 * body_cap is read on and dropped, up to about as much again, so the 413
 * arrives on an intact connection; a longer upload, or a declared
 * Content-Length beyond that, is answered at once and cut off. HEAD gets
 * the GET reply without its body. Every error is {"error":{"code",
 * "message"}} JSON (only MHD's own replies to HTTP-level garbage, e.g.
 * broken chunking, are not). on_request receives the route's method and
 * pattern, or "unmatched" when no pattern matched the path.
 * Threads: handlers and on_request run concurrently on cfg->threads
 * threads; whatever they share must be locked (cfg->latency is, with
 * cfg->latency_mu). */
api_server *api_server_start(const api_server_config *cfg, const api_route *routes, size_t nroutes,
                             void *ctx, uint16_t *bound_port);
/* Stops accepting, waits for in-flight requests, frees. Accepts NULL. */
void api_server_stop(api_server *s);

#endif
