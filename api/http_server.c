/* The libmicrohttpd glue: daemon options, the per-request state machine,
 * body accumulation within the caps, turning an api_response into an MHD
 * response, and the latency and on_request observation. Everything about
 * what a request means is api_dispatch's (dispatch.c).
 *
 * Request lifecycle on libmicrohttpd: the URI log callback sees the raw
 * request target first (before MHD decodes it; the router decodes path
 * parameters segment by segment) and allocates the per-request state; the
 * access handler is then called once after the headers, once per body
 * chunk and once at the end, where the request is dispatched and the reply
 * queued; the completion callback frees the state. */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define DEFAULT_THREADS      8
#define CONNECTION_TIMEOUT_S 30
#define CONNECTION_LIMIT     4096
/* Bytes past the body cap that are still read (and dropped) so the 413 can
 * be delivered on an intact connection; a longer upload is cut off. */
#define DRAIN_EXTRA_MIN ((size_t)1 << 20)

struct api_server {
    struct MHD_Daemon *daemon;
    api_dispatcher dispatcher;
    void *ctx;
    size_t drain_cap;
    void (*on_request)(void *ctx, const char *method, const char *route_pattern, unsigned status,
                       double seconds);
    histogram *latency;
    pthread_mutex_t *latency_mu;
};

typedef struct req_state {
    struct timespec start;
    /* The target as sent, kept to API_MAX_URL + 1 bytes: enough for the
     * router to see that a longer one is too long. NULL if out of memory. */
    char *target;
    bool headers_seen;
    bool responded;
    bool too_large;
    char *body;
    size_t len, alloc;
    uint64_t received;
} req_state;

/* Written by hand because it is what is sent when nothing can be built. */
static const char oom_body[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

static double seconds_since(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Metrics labels must stay bounded: unknown methods are folded. */
static const char *method_label(const char *m)
{
    static const char *const known[] = {"GET",    "HEAD",  "POST",    "PUT",
                                        "DELETE", "PATCH", "OPTIONS", NULL};

    for (size_t i = 0; m && known[i]; i++)
        if (strcmp(m, known[i]) == 0)
            return known[i];
    return "OTHER";
}

static void observe(api_server *s, const req_state *st, const char *method,
                    const api_response *res, unsigned status)
{
    double seconds;

    if (!s->on_request && !s->latency)
        return;
    seconds = seconds_since(&st->start);
    if (s->latency) {
        pthread_mutex_lock(s->latency_mu);
        histogram_observe(s->latency, seconds);
        pthread_mutex_unlock(s->latency_mu);
    }
    if (s->on_request)
        s->on_request(s->ctx, res->route ? res->route->method : method_label(method),
                      res->pattern ? res->pattern : "unmatched", status, seconds);
}

/* Queues res on conn; takes res->text. */
static enum MHD_Result send_response(api_server *s, struct MHD_Connection *conn, req_state *st,
                                     const char *method, api_response *res)
{
    struct MHD_Response *r = NULL;
    const char *ct = res->content_type ? res->content_type : "application/json";
    unsigned status = res->status;
    enum MHD_Result ret;

    if (res->body) {
        char *buf = json_dumps(res->body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (buf)
            r = MHD_create_response_from_buffer(strlen(buf), buf, MHD_RESPMEM_MUST_FREE);
        if (!r)
            free(buf);
    } else if (res->text) {
        r = MHD_create_response_from_buffer(res->text_len, res->text, MHD_RESPMEM_MUST_FREE);
        if (r)
            res->text = NULL; /* now owned by the response */
    } else {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (r) {
        for (size_t i = 0; i < res->nheaders; i++)
            MHD_add_response_header(r, res->headers[i].name, res->headers[i].value);
    } else {
        status = 500;
        ct = "application/json";
        r = MHD_create_response_from_buffer(sizeof(oom_body) - 1, (void *)oom_body,
                                            MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    st->responded = true;
    observe(s, st, method, res, status);
    return ret;
}

static const char *mhd_header(void *cls, const char *name)
{
    return MHD_lookup_connection_value(cls, MHD_HEADER_KIND, name);
}

static enum MHD_Result finish(api_server *s, struct MHD_Connection *conn, req_state *st,
                              const char *method)
{
    api_raw_request rq = {
        .method = method,
        .target = st->target,
        .header_fn = mhd_header,
        .header_cls = conn,
        .body = st->body,
        .body_len = st->len,
        .body_too_large = st->too_large,
        .ctx = s->ctx,
    };
    api_response res;
    enum MHD_Result ret;

    api_dispatch(&s->dispatcher, &rq, &res);
    ret = send_response(s, conn, st, method, &res);
    api_response_release(&res);
    return ret;
}

static bool append_body(api_server *s, req_state *st, const char *data, size_t n)
{
    if (st->len + n > st->alloc) {
        size_t na = st->alloc ? st->alloc : 4096;
        char *nb;
        while (na < st->len + n)
            na *= 2;
        if (na > s->dispatcher.body_cap)
            na = s->dispatcher.body_cap;
        nb = realloc(st->body, na);
        if (!nb)
            return false;
        st->body = nb;
        st->alloc = na;
    }
    memcpy(st->body + st->len, data, n);
    st->len += n;
    return true;
}

static void drop_body(req_state *st)
{
    free(st->body);
    st->body = NULL;
    st->len = st->alloc = 0;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls)
{
    api_server *s = cls;
    req_state *st = *req_cls;
    size_t cap = s->dispatcher.body_cap;

    if (!st) {
        /* The URI callback could not allocate: answer without state. */
        struct MHD_Response *r = MHD_create_response_from_buffer(
            sizeof(oom_body) - 1, (void *)oom_body, MHD_RESPMEM_PERSISTENT);
        enum MHD_Result ret;
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        ret = MHD_queue_response(conn, 500, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (st->responded)
        return MHD_YES;

    if (!st->headers_seen) {
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long declared = 0;
        bool have_cl = false;

        st->headers_seen = true;
        if (cl) {
            char *end;
            errno = 0;
            declared = strtoull(cl, &end, 10);
            have_cl = errno == 0 && end != cl && *end == '\0' && cl[0] != '-';
        }
        if (have_cl && declared > cap) {
            st->too_large = true;
            /* Too much to drain: answer now; MHD then discards the upload
             * and closes the connection. */
            if (declared > s->drain_cap)
                return finish(s, conn, st, method);
        } else if (have_cl && declared > 0) {
            st->body = malloc((size_t)declared);
            if (st->body)
                st->alloc = (size_t)declared;
        }
        return MHD_YES;
    }

    if (*upload_data_size) {
        size_t n = *upload_data_size;

        *upload_data_size = 0;
        st->received += n;
        if (st->received > s->drain_cap)
            return MHD_NO; /* cut off an endless upload */
        if (st->too_large)
            return MHD_YES;
        if (st->received > cap) {
            st->too_large = true;
            drop_body(st);
            return MHD_YES;
        }
        /* Kept whatever the route: the dispatcher decides whether it is
         * read, and the cap bounds it either way. */
        if (!append_body(s, st, upload_data, n))
            return MHD_NO;
        return MHD_YES;
    }
    return finish(s, conn, st, method);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    req_state *st = calloc(1, sizeof(*st));

    if (!st)
        return NULL;
    clock_gettime(CLOCK_MONOTONIC, &st->start);
    st->target = strndup(uri ? uri : "", API_MAX_URL + 1);
    return st;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    req_state *st = *req_cls;

    if (!st)
        return;
    free(st->target);
    free(st->body);
    free(st);
    *req_cls = NULL;
}

/* ---- lifecycle -------------------------------------------------------- */

static int host_to_addr(const char *host, struct in_addr *addr)
{
    if (!host || !*host || strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    return inet_pton(AF_INET, host, addr) == 1 ? 0 : -1;
}

api_server *api_server_start(const api_server_config *cfg, const api_route *routes, size_t nroutes,
                             void *ctx, uint16_t *bound_port)
{
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    api_server *s;
    size_t extra;

    if (!cfg)
        return NULL;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(cfg->port);
    if (host_to_addr(cfg->host, &sa.sin_addr) < 0)
        return NULL;

    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (api_dispatcher_init(&s->dispatcher, routes, nroutes, cfg->body_cap) < 0) {
        free(s);
        return NULL;
    }
    s->ctx = ctx;
    s->on_request = cfg->on_request;
    if (cfg->latency && cfg->latency_mu) {
        s->latency = cfg->latency;
        s->latency_mu = cfg->latency_mu;
    }
    extra = s->dispatcher.body_cap > DRAIN_EXTRA_MIN ? s->dispatcher.body_cap : DRAIN_EXTRA_MIN;
    s->drain_cap = s->dispatcher.body_cap > SIZE_MAX - extra ? SIZE_MAX
                                                             : s->dispatcher.body_cap + extra;
    /* poll, not epoll: with MHD 0.9.75's edge-triggered epoll, a FIN that
     * arrives together with the request is missed and the connection idles
     * until the timeout (seen in tests with half-closing clients). */
    flags |= MHD_USE_POLL;

    s->daemon = MHD_start_daemon(
        flags, cfg->port, NULL, NULL, on_access, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)(cfg->threads ? cfg->threads : DEFAULT_THREADS),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT, MHD_OPTION_URI_LOG_CALLBACK,
        on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->daemon) {
        free(s);
        return NULL;
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || info->port == 0) {
        MHD_stop_daemon(s->daemon);
        free(s);
        return NULL;
    }
    if (bound_port)
        *bound_port = info->port;
    return s;
}

void api_server_stop(api_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    free(s);
}
