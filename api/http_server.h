/* The HTTP server on libmicrohttpd: it accepts connections itself (within
 * per-client and total limits, with a read deadline; conn_table.h), reads
 * each request (target, headers, body within its cap), hands it to
 * api_dispatch (dispatch.h: route table, routing errors, body checks, the
 * handler) and writes the api_response back. Routes, requests and replies
 * are declared in router.h, request.h and reply.h; this header includes
 * them all for the services. */
#ifndef API_HTTP_SERVER_H
#define API_HTTP_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "dispatch.h"
#include "listen.h"
#include "service.h"

/* Connection defaults (README, "Connection limits"). */
#define API_DEFAULT_PER_CLIENT       256
#define API_MAX_CONNECTIONS          4096
#define API_DEFAULT_READ_DEADLINE_MS 10000
#define API_DEFAULT_IDLE_TIMEOUT_S   30

typedef struct api_server_config {
    const char *host; /* "127.0.0.1" */
    uint16_t port;    /* 0: pick a free port */
    size_t body_cap;  /* 0: API_DEFAULT_BODY_CAP */
    unsigned threads; /* 0: 8 */
    /* Called after every request (for metrics/logging); may be NULL. */
    void (*on_request)(void *ctx, const char *method, const char *route_pattern, unsigned status,
                       double seconds);
    /* When both are set, the server also observes every request's
     * duration (the same requests and seconds on_request sees) into
     * *latency, holding *latency_mu while it does; the service reads it
     * under that mutex. Both must outlive the server. NULL: only the
     * server's own per-thread histograms (api_server_latency), which need
     * no mutex shared by the workers. */
    histogram *latency;
    pthread_mutex_t *latency_mu;
    /* Connections served at once; 0: derived from RLIMIT_NOFILE
     * (conn_limit_for_nofile, at most API_MAX_CONNECTIONS). A larger value
     * is cut down to what the fd limit allows. */
    size_t max_connections;
    size_t max_per_client; /* per client address; 0: API_DEFAULT_PER_CLIENT */
    /* A request must be whole (headers and body) within this many ms of
     * its connection being accepted or of the previous reply on it; bytes
     * trickled meanwhile do not extend it. 0: API_DEFAULT_READ_DEADLINE_MS. */
    unsigned read_deadline_ms;
    /* libmicrohttpd's idle timeout (every byte resets it): bounds a reply
     * the client does not read. Longer than the read deadline, which is
     * what closes a connection waiting for a request, idle or trickling.
     * 0: API_DEFAULT_IDLE_TIMEOUT_S. */
    unsigned idle_timeout_s;
    /* The credentials every route but the open ones needs (dispatch.h);
     * NULL: none checked. auth_self: the subject of API_SUBJECT_SELF routes.
     * Both must outlive the server. */
    api_auth *auth;
    const char *auth_self;
    /* The CORS origins (dispatch.h); NULL: no CORS. Must outlive the server. */
    const api_cors *cors;
    /* The service's gate (dispatch.h, api_dispatcher_set_gate); NULL: none. */
    api_gate gate;
    /* PEM certificate (chain) and key, in memory: when both are set the
     * server speaks HTTPS only. libmicrohttpd keeps the pointers: they
     * must outlive the server. */
    const char *tls_cert_pem, *tls_key_pem;
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
 * the GET reply without its body. Before any of that, at the headers: 400
 * for an HTTP/1.1 request without exactly one Host header (any version:
 * more than one), for a Transfer-Encoding other than chunked and for one
 * sent with Content-Length; 413 at once, without 100 Continue, for
 * Expect: 100-continue with a Content-Length above the cap. Every error is
 * {"error":{"code","message"}} JSON except the replies libmicrohttpd sends
 * by itself before any hook runs (malformed request line, header or
 * chunking, 431, 505, unparsable Content-Length: README, "Replies the
 * server cannot shape"). on_request receives the route's method and
 * pattern, or "unmatched" when no pattern matched the path.
 * Connections: one past its address's limit is answered 503 unavailable
 * and closed at accept; past the total, the connection waiting longest for
 * a request, of the address holding the most, is cut to make room, and
 * when none can be, only a light client (conn_table.h) is still served;
 * one whose request is not whole by its read deadline is cut. Each of these
 * is counted (api_server_metrics) and logged with service_log, at most one
 * line per kind every 10 s: the server is the only place that sees them.
 * Threads: handlers and on_request run concurrently on cfg->threads
 * threads; whatever they share must be locked (cfg->latency is, with
 * cfg->latency_mu). */
api_server *api_server_start(const api_server_config *cfg, const api_route *routes, size_t nroutes,
                             void *ctx, uint16_t *bound_port);
/* Answers a deferred request (api_reply_defer, reply.h) with res, whose
 * contents it takes (res is left empty): the reply goes out on the
 * connection's worker, which was serving others meanwhile. Call it exactly
 * once per deferral, from any thread; d is not valid afterwards. Every
 * deferred request must be answered before api_server_stop (libmicrohttpd
 * cannot stop with a connection suspended). */
void api_deferred_reply(api_deferred *d, api_response *res);

/* A streamed body's connection (api_reply_stream): suspend only from
 * inside ops->read, which then returns 0; resume from any thread, once
 * per suspension, never after ops->done. A suspended stream is not polled
 * (a client gone is seen at the next resume) and must be resumed before
 * api_server_stop. */
void api_stream_suspend(api_stream *h);
void api_stream_resume(api_stream *h);
/* Bytes written to the stream's socket that the kernel could not send yet
 * (the client's window is full: it is not reading), or -1 when unknown.
 * Bytes in flight on a slow link are not counted. */
long api_stream_unsent(api_stream *h);

/* Stops accepting, waits for in-flight requests, frees. Accepts NULL. */
void api_server_stop(api_server *s);

/* Every request's duration so far, merged from the workers' shards into
 * *out (zero for a NULL server). Thread-safe. */
void api_server_latency(api_server *s, histogram *out);

/* Appends the connection metrics (Prometheus text, ergrid_http_*: open
 * connections and clients, the limits, connections accepted, refused and
 * cut, accept errors) and the credential refusals
 * (ergrid_auth_refusals_total) to sb. Thread-safe; accepts a NULL server. */
void api_server_metrics(api_server *s, strbuf *sb);

#endif
