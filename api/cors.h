/* CORS (the Fetch standard's cross-origin protocol) for the services'
 * --cors-origin flags: the set of origins a browser page may call from,
 * the check of a flag's value, and the headers of a preflight and of an
 * actual reply. Transport-free: api_dispatch applies it to every request
 * of a dispatcher that has one (dispatch.h). */
#ifndef API_CORS_H
#define API_CORS_H

#include <stdbool.h>
#include <stddef.h>
#include "reply.h"

#define API_CORS_MAX        16  /* --cors-origin flags of one service */
#define API_CORS_ORIGIN_MAX 128 /* bytes of one origin, NUL included */
/* Seconds a browser may keep a preflight's answer (Chromium caps it at 7200). */
#define API_CORS_MAX_AGE "600"
/* The request headers a page may send: the credential, the JSON body's
 * type, and the SSE resume point. */
#define API_CORS_HEADERS "Authorization, Content-Type, Last-Event-ID"

typedef struct api_cors {
    char origins[API_CORS_MAX][API_CORS_ORIGIN_MAX];
    size_t n;
    bool any; /* "*": every origin (allowed only with --tokens, security.c) */
} api_cors;

/* Adds origin: "*", or scheme://host[:port] exactly as a browser sends it
 * in Origin (http or https, a lower-case host name, IPv4 or [IPv6]
 * literal, a port 1-65535 other than the scheme's default, nothing after).
 * -1 with the reason in err when it is not one, or c holds API_CORS_MAX. */
int api_cors_add(api_cors *c, const char *origin, char *err, size_t errlen);
/* True when c lets a page of origin (the request's Origin header) call. */
bool api_cors_allows(const api_cors *c, const char *origin);
/* A preflight: OPTIONS with Origin and Access-Control-Request-Method. */
bool api_cors_is_preflight(const char *method, const char *origin, const char *request_method);
/* Answers an allowed preflight: 204, no body, Access-Control-Allow-Origin,
 * -Methods (methods: what the path serves), -Headers, -Max-Age. */
void api_cors_preflight(const api_cors *c, const char *origin, const char *methods,
                        api_response *res);
/* Adds the headers of any reply of a service with CORS: Vary: Origin, and
 * Access-Control-Allow-Origin when origin is allowed. Nothing for c NULL. */
void api_cors_annotate(const api_cors *c, const char *origin, api_response *res);

#endif
