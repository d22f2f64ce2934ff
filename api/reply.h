/* Replies: the api_response a handler fills and every api_reply_* builder,
 * including the one error body {"error":{"code","message"}} with the status
 * and code from api_errors' table. Transport-free: the HTTP server turns an
 * api_response into bytes. */
#ifndef API_REPLY_H
#define API_REPLY_H

#include <jansson.h>
#include <stddef.h>
#include "api_errors.h"

/* Extra headers one reply can carry: a CORS preflight takes 5; a standby
 * broker's reply (X-Ergrid-Role, -Leader, -Revision, -Age-Ms) 4 beside
 * CORS's 2 and a Retry-After or an Allow. */
#define API_REPLY_HEADERS 12
/* Bytes of one extra header's value: a standby's Location is the leader's
 * URL (< 128) and the request's path and query as sent. */
#define API_REPLY_HEADER_MAX 640

struct api_route;

typedef struct api_reply_header {
    const char *name; /* not owned: use a string literal */
    char value[API_REPLY_HEADER_MAX];
} api_reply_header;

/* Why a request was refused for its credential (counted by the
 * dispatcher in ergrid_auth_refusals_total). */
typedef enum api_refusal {
    API_REFUSAL_NONE = 0,
    API_REFUSAL_MISSING,   /* 401: no Authorization header */
    API_REFUSAL_MALFORMED, /* 401: not "Bearer <token>" */
    API_REFUSAL_UNKNOWN,   /* 401: a token not in the table (or revoked) */
    API_REFUSAL_ROLE,      /* 403: the role may not call the route */
    API_REFUSAL_SUBJECT,   /* 403: the unit or district is not the caller's own */
    API_REFUSAL__COUNT
} api_refusal;

typedef struct api_response api_response;
/* A reply that comes later (api_reply_defer). */
typedef struct api_deferred api_deferred;
typedef void (*api_defer_fn)(void *arg, api_deferred *d);
/* A body made while it is sent (api_reply_stream): the transport's handle. */
typedef struct api_stream api_stream;
typedef struct api_stream_ops {
    /* Up to max bytes into buf: their count; 0 only right after
     * api_stream_suspend(h) (http_server.h), which parks the connection
     * until api_stream_resume(h); API_STREAM_END ends the body and
     * API_STREAM_ABORT closes the connection without ending it. Runs on
     * the connection's worker. */
    long (*read)(void *arg, api_stream *h, char *buf, size_t max);
    /* The body ended, the client went away, or it was never sent: arg is
     * the caller's again. Called exactly once. */
    void (*done)(void *arg);
    /* A write that makes no progress this long (a client that stopped
     * reading) cuts the connection; 0: the server's idle timeout. */
    unsigned stall_s;
} api_stream_ops;
#define API_STREAM_END   (-1L)
#define API_STREAM_ABORT (-2L)
struct api_response {
    unsigned status;
    json_t *body; /* owned by the response (set with api_reply_json) */
    char *text;   /* alternative raw body, malloc'd, owned */
    size_t text_len;
    const char *content_type; /* default application/json; not owned: use a string literal */
    /* Extra headers (Allow on a 405, ...); the api_reply_* builders leave
     * them alone, so the dispatcher may add some around a handler. */
    api_reply_header headers[API_REPLY_HEADERS];
    size_t nheaders;
    /* Set by api_dispatch, for metrics: the route that served (also on 400
     * invalid_id) and the pattern the path matched; NULL when none. */
    const struct api_route *route;
    const char *pattern;
    api_refusal refusal; /* set by api_reply_refused; cleared by every other builder */
    /* Set by api_reply_defer; cleared by every other builder. */
    api_defer_fn defer;
    void *defer_arg;
    /* Set by api_reply_stream; every other builder (and release) ends it
     * with ops->done. */
    const api_stream_ops *stream;
    void *stream_arg;
};

/* Replies. api_reply_json steals body; a NULL body (a failed json_pack)
 * becomes a 500 internal error, never an empty 2xx. Each replaces what
 * res held before. */
void api_reply_json(api_response *res, unsigned status, json_t *body);
void api_reply_error(api_response *res, api_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Error with extra members merged into the top-level object (steals extra),
 * e.g. {"error":{...},"result":{...}} for a rejected result. */
void api_reply_error_extra(api_response *res, api_err code, json_t *extra, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A refusal for the caller's credential: 401 unauthorized with
 * WWW-Authenticate for the first three reasons (error="invalid_token" for
 * a malformed or unknown token), 403 forbidden for role and subject. The
 * message must never quote the token. */
void api_reply_refused(api_response *res, api_refusal why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "missing", "malformed", "unknown", "role", "subject" (metrics labels). */
const char *api_refusal_name(api_refusal why);
/* Raw body (copied). */
void api_reply_text(api_response *res, unsigned status, const char *content_type, const char *text,
                    size_t len);

/* The reply comes later, from another thread: once the handler has
 * returned, the transport parks the request (its worker serves others
 * meanwhile) and calls start(arg, d); whoever then holds d answers with
 * api_deferred_reply (http_server.h) exactly once. Only when
 * api_can_defer(req) says the transport can; otherwise reply now. */
void api_reply_defer(api_response *res, api_defer_fn start, void *arg);

/* A 200 whose body ops->read produces while it is sent (a push stream);
 * ops must outlive the reply. Only when api_can_defer(req): the same
 * transports that park a connection stream. */
void api_reply_stream(api_response *res, const char *content_type, const api_stream_ops *ops,
                      void *arg);

/* Adds a header (name: a string literal; value copied). -1 when value is
 * longer than API_REPLY_HEADER_MAX - 1 bytes, holds CR or LF, or the
 * reply has API_REPLY_HEADERS already. */
int api_response_add_header(api_response *res, const char *name, const char *value);
/* The value of an extra header (names compare case-insensitively), or NULL. */
const char *api_response_header(const api_response *res, const char *name);

/* Frees what res owns and empties it. Accepts NULL. */
void api_response_release(api_response *res);

#endif
