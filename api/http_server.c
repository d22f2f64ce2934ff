/* The libmicrohttpd glue: the listening socket and its accept thread
 * (connection limits and read deadlines, conn_table.c), daemon options, the
 * per-request state machine, the HTTP-level checks at the headers (Host,
 * Transfer-Encoding, Expect), body accumulation within the caps, turning an
 * api_response into an MHD response, and the latency and on_request
 * observation. Everything about what a request means is api_dispatch's
 * (dispatch.c).
 *
 * Why an accept loop of our own: libmicrohttpd 0.9.75 offers per-IP and
 * total limits that only refuse (a full server then answers nobody), and a
 * connection timeout that every received byte resets (one byte every few
 * seconds holds a connection for ever). So the accept thread admits each
 * connection against conn_table, cuts a waiting one when the table is full,
 * hands the socket to libmicrohttpd (MHD_add_connection) and, as a
 * watchdog, shuts down the socket of every connection whose request is not
 * whole by its deadline; libmicrohttpd then sees the end of the stream and
 * closes it. A socket is only ever shut down while the table holds it as
 * started, under conn_mu, and libmicrohttpd reports a close (under the same
 * mutex) before it closes the descriptor, so the descriptor shut down is
 * always the connection's own.
 *
 * Request lifecycle on libmicrohttpd: the URI log callback sees the raw
 * request target first (before MHD decodes it; the router decodes path
 * parameters segment by segment) and allocates the per-request state; the
 * access handler is then called once after the headers, once per body
 * chunk and once at the end, where the request is dispatched and the reply
 * queued; the completion callback frees the state.
 *
 * A deferred reply (api_reply_defer): at the end the handler only starts
 * the work elsewhere; the connection is suspended (MHD_suspend_connection,
 * so its worker serves other connections meanwhile) before the start hook
 * runs, so no one can answer a connection not yet suspended. The answer is
 * stored in the request state and the connection resumed; libmicrohttpd
 * then calls the access handler again, which queues the stored reply. A
 * suspended connection is not polled and does not time out, so the state
 * lives until then. */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn_table.h"

#define DEFAULT_THREADS 8
#define ACCEPT_BATCH    64    /* accepts per wake-up, so the watchdog runs between floods */
#define FD_MAP_MAX      65536 /* descriptors the table indexes; higher ones are refused */
#define LOG_EVERY_MS    10000 /* one log line per kind of connection event at most this often */
/* Bytes past the body cap that are still read (and dropped) so the 413 can
 * be delivered on an intact connection; a longer upload is cut off. */
#define DRAIN_EXTRA_MIN ((size_t)1 << 20)

/* What the accept thread counts, logs and exports; the order of the labels
 * in api_server_metrics. */
enum conn_event {
    EV_REFUSED_CLIENT,
    EV_REFUSED_FULL,
    EV_CUT_DEADLINE,
    EV_CUT_EVICTED,
    EV_ACCEPT_ERROR,
    EV__COUNT
};

struct api_server {
    struct MHD_Daemon *daemon;
    int listen_fd;
    int wake[2];  /* api_server_stop writes to wake[1] to end the accept thread */
    int spare_fd; /* given up to accept-and-close when the process is out of fds */
    pthread_t acceptor;
    bool acceptor_running;
    atomic_bool stopping;
    /* Guards conns and everything below it. */
    pthread_mutex_t conn_mu;
    conn_table *conns;
    conn_limits limits;
    uint64_t accepted;
    uint64_t events[EV__COUNT];
    int64_t logged_ms[EV__COUNT]; /* -1: never */
    uint64_t unlogged[EV__COUNT];
    /* The 503 written to a refused connection, built once from the error table. */
    char refusal[2][320];
    size_t refusal_len[2];
    bool tls; /* MHD speaks TLS on every connection */
    api_dispatcher dispatcher;
    void *ctx;
    size_t drain_cap;
    void (*on_request)(void *ctx, const char *method, const char *route_pattern, unsigned status,
                       double seconds);
    histogram *latency;
    pthread_mutex_t *latency_mu;
    /* The request durations, one shard per worker thread (the last one
     * shared by any thread beyond them): a request locks only its own
     * shard, which nothing but api_server_latency ever contends for. */
    struct lat_shard *shards;
    size_t nshards;
    atomic_size_t shards_taken;
};

struct lat_shard {
    pthread_mutex_t mu;
    histogram h;
} __attribute__((aligned(64))); /* no two threads' shards on one cache line */

/* The shard this thread observes into, and whose server it belongs to. */
static __thread struct lat_shard *my_shard;
static __thread const api_server *my_shard_server;

typedef struct req_state {
    struct timespec start;
    /* A deferred reply: the response api_dispatch left (route, pattern,
     * headers), completed by api_deferred_reply; ready once it has. */
    bool deferred;
    atomic_bool ready;
    api_response held;
    const char *method; /* a literal (method_label) for the late observe */
    struct api_deferred {
        struct MHD_Connection *conn;
        struct req_state *st;
    } handle; /* in here, so a deferral cannot fail for memory */
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

static int64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void addr_of(const struct sockaddr *sa, conn_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (sa && sa->sa_family == AF_INET)
        conn_addr_from_ipv4(a, ((const struct sockaddr_in *)sa)->sin_addr.s_addr);
    else if (sa && sa->sa_family == AF_INET6)
        memcpy(a->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, sizeof(a->b));
}

static void peer_text(int fd, char *buf, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    snprintf(buf, n, "?");
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, (socklen_t)n);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, (socklen_t)n);
}

/* Counts n events of kind ev; true when one line about them is due (none
 * of that kind went out in the last LOG_EVERY_MS): then the caller logs it
 * with log_event. Called with conn_mu held. */
static bool count_event(api_server *s, enum conn_event ev, uint64_t n, int64_t now)
{
    s->events[ev] += n;
    if (s->logged_ms[ev] >= 0 && now - s->logged_ms[ev] < LOG_EVERY_MS) {
        s->unlogged[ev] += n;
        return false;
    }
    s->logged_ms[ev] = now;
    return true;
}

/* The line count_event said is due, with how many went unlogged before it.
 * Called with conn_mu held (so the unlogged count is this line's). */
static void log_event(api_server *s, enum conn_event ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void log_event(api_server *s, enum conn_event ev, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (s->unlogged[ev])
        service_log("warn", "%s (and %llu more since the last such line)", msg,
                    (unsigned long long)s->unlogged[ev]);
    else
        service_log("warn", "%s", msg);
    s->unlogged[ev] = 0;
}

/* The table entry of conn, or -1 (set by on_connection). */
static int conn_id(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci && ci->socket_context ? (int)((intptr_t)ci->socket_context - 1) : -1;
}

/* The request on conn is whole or answered: its deadline no longer runs. */
static void mark_busy(api_server *s, struct MHD_Connection *conn)
{
    int id = conn_id(conn);

    if (id < 0)
        return;
    pthread_mutex_lock(&s->conn_mu);
    conn_table_busy(s->conns, id);
    pthread_mutex_unlock(&s->conn_mu);
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

static void observe(api_server *s, const req_state *st, const char *method, const api_response *res,
                    unsigned status)
{
    double seconds;

    seconds = seconds_since(&st->start);
    if (my_shard_server != s) {
        size_t i = atomic_fetch_add(&s->shards_taken, 1);

        my_shard = &s->shards[i < s->nshards ? i : s->nshards - 1];
        my_shard_server = s;
    }
    pthread_mutex_lock(&my_shard->mu);
    histogram_observe(&my_shard->h, seconds);
    pthread_mutex_unlock(&my_shard->mu);
    if (s->latency) {
        pthread_mutex_lock(s->latency_mu);
        histogram_observe(s->latency, seconds);
        pthread_mutex_unlock(s->latency_mu);
    }
    if (s->on_request)
        s->on_request(s->ctx, res->route ? res->route->method : method_label(method),
                      res->pattern ? res->pattern : "unmatched", status, seconds);
}

/* A streamed body (api_reply_stream): what the content reader needs. */
struct api_stream {
    struct MHD_Connection *conn;
    const api_stream_ops *ops;
    void *arg;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    api_stream *h = cls;
    long n = h->ops->read(h->arg, h, buf, max);

    (void)pos;
    if (n == API_STREAM_END)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : (ssize_t)n;
}

static void stream_free(void *cls)
{
    api_stream *h = cls;

    h->ops->done(h->arg);
    free(h);
}

/* The MHD response for a streamed body; takes res->stream either way. */
static struct MHD_Response *stream_response(struct MHD_Connection *conn, api_response *res)
{
    api_stream *h = malloc(sizeof(*h));
    struct MHD_Response *r = NULL;

    if (h) {
        h->conn = conn;
        h->ops = res->stream;
        h->arg = res->stream_arg;
        /* 4 KiB blocks: a record goes out as soon as it is read, and a
         * stalled client pins no more than that in the server. */
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, h,
                                              stream_free);
    }
    if (!r) {
        free(h);
        res->stream->done(res->stream_arg);
    } else if (res->stream->stall_s) {
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                  (unsigned int)res->stream->stall_s);
    }
    res->stream = NULL;
    res->stream_arg = NULL;
    return r;
}

void api_stream_suspend(api_stream *h)
{
    MHD_suspend_connection(h->conn);
}

void api_stream_resume(api_stream *h)
{
    MHD_resume_connection(h->conn);
}

long api_stream_unsent(api_stream *h)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(h->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int n = 0;

    if (!ci || ioctl(ci->connect_fd, SIOCOUTQNSD, &n) != 0)
        return -1;
    return n;
}

/* Queues res on conn; takes res->text. */
static enum MHD_Result send_response(api_server *s, struct MHD_Connection *conn, req_state *st,
                                     const char *method, api_response *res)
{
    struct MHD_Response *r = NULL;
    const char *ct = res->content_type ? res->content_type : "application/json";
    unsigned status = res->status;
    enum MHD_Result ret;

    if (res->stream) {
        r = stream_response(conn, res);
    } else if (res->body) {
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

void api_deferred_reply(api_deferred *d, api_response *res)
{
    req_state *st = d->st;
    struct MHD_Connection *conn = d->conn;

    st->held.status = res->status;
    st->held.body = res->body;
    st->held.text = res->text;
    st->held.text_len = res->text_len;
    st->held.content_type = res->content_type;
    st->held.refusal = res->refusal;
    for (size_t i = 0; i < res->nheaders; i++)
        if (api_response_add_header(&st->held, res->headers[i].name, res->headers[i].value) < 0)
            break;
    memset(res, 0, sizeof(*res)); /* moved */
    if (st->held.status < 100 || st->held.status > 599)
        api_reply_error(&st->held, API_E_INTERNAL, "the deferred handler produced no reply");
    atomic_store(&st->ready, true);
    /* From here on the connection is libmicrohttpd's again, and d is its. */
    MHD_resume_connection(conn);
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
        .can_defer = true,
    };
    api_response res;
    enum MHD_Result ret;

    mark_busy(s, conn);
    api_dispatch(&s->dispatcher, &rq, &res);
    if (res.defer) {
        MHD_suspend_connection(conn);
        st->handle.conn = conn;
        st->handle.st = st;
        st->deferred = true;
        st->method = method_label(method);
        st->held = res; /* the start hook's arg is its own from now on */
        st->held.defer = NULL;
        st->held.defer_arg = NULL;
        res.defer(res.defer_arg, &st->handle);
        return MHD_YES;
    }
    ret = send_response(s, conn, st, method, &res);
    api_response_release(&res);
    return ret;
}

/* An error at the HTTP level, answered before the request is routed. */
static enum MHD_Result reply_now(api_server *s, struct MHD_Connection *conn, req_state *st,
                                 const char *method, api_err code, const char *message)
{
    api_response res;
    enum MHD_Result ret;

    memset(&res, 0, sizeof(res));
    api_reply_error(&res, code, "%s", message);
    mark_busy(s, conn);
    ret = send_response(s, conn, st, method, &res);
    api_response_release(&res);
    return ret;
}

typedef struct framing {
    unsigned hosts, transfer_encodings;
} framing;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    framing *f = cls;

    (void)kind;
    (void)value;
    if (key && strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        f->hosts++;
    else if (key && strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        f->transfer_encodings++;
    return MHD_YES;
}

/* The HTTP/1.1 framing rules libmicrohttpd 0.9.75 leaves to us (RFC 9112
 * 3.2, 6.1, 6.3): NULL when the request may go on, else the 400's message.
 * libmicrohttpd treats only a lone "chunked" as chunked and reads any
 * other Transfer-Encoding until the client closes. */
static const char *framing_error(struct MHD_Connection *conn, const char *version)
{
    framing f = {0, 0};
    const char *te, *cl;

    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
    if (f.hosts > 1 || (f.hosts == 0 && (!version || strcmp(version, "HTTP/1.0") != 0)))
        return "an HTTP/1.1 request needs exactly one Host header";
    te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (!te)
        return NULL;
    cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl)
        return "a request must not carry both Content-Length and Transfer-Encoding";
    if (f.transfer_encodings > 1 || strcasecmp(te, "chunked") != 0)
        return "the only Transfer-Encoding accepted is chunked";
    return NULL;
}

static bool expects_continue(struct MHD_Connection *conn)
{
    const char *e = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);

    return e && strcasecmp(e, "100-continue") == 0;
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
        mark_busy(s, conn);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        ret = MHD_queue_response(conn, 500, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (st->responded)
        return MHD_YES;
    if (st->deferred) {
        /* Resumed: the reply is ready (the only way back from suspended). */
        if (!atomic_load(&st->ready))
            return MHD_YES;
        enum MHD_Result ret = send_response(s, conn, st, st->method, &st->held);
        api_response_release(&st->held);
        return ret;
    }

    if (!st->headers_seen) {
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long declared = 0;
        bool have_cl = false;
        const char *bad = framing_error(conn, version);

        st->headers_seen = true;
        if (bad)
            return reply_now(s, conn, st, method, API_E_BAD_REQUEST, bad);
        if (cl) {
            char *end;
            errno = 0;
            declared = strtoull(cl, &end, 10);
            have_cl = errno == 0 && end != cl && *end == '\0' && cl[0] != '-';
        }
        if (have_cl && declared > cap) {
            st->too_large = true;
            /* Too much to drain, or a client waiting for 100 Continue
             * before it sends the body: answer now (no 100 goes out once a
             * reply is queued); MHD then discards any upload and closes
             * the connection. */
            if (declared > s->drain_cap || expects_continue(conn))
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
    api_server *s = cls;
    req_state *st = *req_cls;
    int id = conn_id(conn);

    (void)toe;
    if (id >= 0) { /* the next request on this connection is due from now */
        pthread_mutex_lock(&s->conn_mu);
        conn_table_idle(s->conns, id, now_ms());
        pthread_mutex_unlock(&s->conn_mu);
    }
    if (!st)
        return;
    free(st->target);
    free(st->body);
    api_response_release(&st->held);
    free(st);
    *req_cls = NULL;
}

/* libmicrohttpd started or closed serving a connection. STARTED runs in the
 * worker that took the socket, possibly after the accept thread admitted
 * later ones; CLOSED comes before the descriptor is closed. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    api_server *s = cls;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fi =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ai =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        conn_addr a;
        int id = -1;

        addr_of(ai ? ai->client_addr : NULL, &a);
        if (fi) {
            pthread_mutex_lock(&s->conn_mu);
            id = conn_table_started(s->conns, fi->connect_fd, &a, now_ms());
            pthread_mutex_unlock(&s->conn_mu);
        }
        *socket_context = id >= 0 ? (void *)(intptr_t)(id + 1) : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        pthread_mutex_lock(&s->conn_mu);
        conn_table_closed(s->conns, (int)((intptr_t)*socket_context - 1));
        pthread_mutex_unlock(&s->conn_mu);
        *socket_context = NULL;
    }
}

/* ---- the accept thread ------------------------------------------------ */

/* Writes the 503 and closes fd. Best effort: the client may not have sent
 * its request yet, and what it did send is read and dropped first so that
 * the close is a FIN, not a reset that could destroy the reply. */
static void refuse(api_server *s, int fd, int which)
{
    char sink[4096];

    /* On TLS a plain-text reply would be noise before the handshake: the
     * close alone says it. */
    if (!s->tls)
        (void)!send(fd, s->refusal[which], s->refusal_len[which], MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    for (int i = 0; i < 4 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
        ;
    close(fd);
}

static void admit(api_server *s, int fd, const struct sockaddr_storage *ss, socklen_t len)
{
    char who[INET6_ADDRSTRLEN], whom[INET6_ADDRSTRLEN];
    int64_t now = now_ms();
    conn_addr a;
    conn_verdict v;
    int victim = -1;

    addr_of((const struct sockaddr *)ss, &a);
    pthread_mutex_lock(&s->conn_mu);
    v = conn_table_admit(s->conns, fd, &a, now, &victim);
    switch (v) {
    case CONN_ADMIT:
        s->accepted++;
        break;
    case CONN_ADMIT_EVICTING:
        s->accepted++;
        if (count_event(s, EV_CUT_EVICTED, 1, now)) {
            peer_text(victim, whom, sizeof(whom));
            peer_text(fd, who, sizeof(who));
            log_event(s, EV_CUT_EVICTED,
                      "http: %zu connections, the limit: cut the one of %s waiting longest "
                      "for a request, to serve %s",
                      s->limits.max_total, whom, who);
        }
        shutdown(victim, SHUT_RDWR); /* under conn_mu: still the victim's descriptor */
        break;
    case CONN_REFUSE_CLIENT:
        if (count_event(s, EV_REFUSED_CLIENT, 1, now)) {
            peer_text(fd, who, sizeof(who));
            log_event(s, EV_REFUSED_CLIENT,
                      "http: refused a connection from %s: it holds %zu, the per-client limit", who,
                      s->limits.max_per_client);
        }
        break;
    case CONN_REFUSE_FULL:
        if (count_event(s, EV_REFUSED_FULL, 1, now)) {
            peer_text(fd, who, sizeof(who));
            log_event(s, EV_REFUSED_FULL,
                      "http: refused a connection from %s: %zu connections, the limit, "
                      "none waiting for a request",
                      who, s->limits.max_total);
        }
        break;
    }
    pthread_mutex_unlock(&s->conn_mu);

    if (v == CONN_REFUSE_CLIENT || v == CONN_REFUSE_FULL) {
        refuse(s, fd, v == CONN_REFUSE_CLIENT ? 0 : 1);
        return;
    }
    /* MHD closes fd itself when it cannot take it. */
    if (MHD_add_connection(s->daemon, fd, (const struct sockaddr *)ss, len) != MHD_YES) {
        pthread_mutex_lock(&s->conn_mu);
        conn_table_forget(s->conns, fd);
        pthread_mutex_unlock(&s->conn_mu);
    }
}

/* Out of descriptors: the pending connection would keep the listening
 * socket readable and this thread spinning. Give up the spare descriptor
 * to accept and close it, then take the spare back. */
static void shed(api_server *s)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fd;

    if (s->spare_fd < 0)
        return;
    close(s->spare_fd);
    fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
    if (fd >= 0)
        close(fd);
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void accept_batch(api_server *s)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd >= 0) {
            admit(s, fd, &ss, len);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        int err = errno;
        if (err == EMFILE || err == ENFILE)
            shed(s);
        pthread_mutex_lock(&s->conn_mu);
        if (count_event(s, EV_ACCEPT_ERROR, 1, now_ms()))
            log_event(s, EV_ACCEPT_ERROR, "http: accept failed: %s%s", strerror(err),
                      err == EMFILE || err == ENFILE ? " (the connection was closed)" : "");
        pthread_mutex_unlock(&s->conn_mu);
        return;
    }
}

/* Cuts every connection past its read deadline; returns the milliseconds to
 * the next deadline (-1: none). */
static int64_t watchdog(api_server *s)
{
    int fds[64];
    size_t n, total = 0;
    int64_t now = now_ms(), next;
    char who[INET6_ADDRSTRLEN] = "";

    pthread_mutex_lock(&s->conn_mu);
    do {
        n = conn_table_expire(s->conns, now, fds, sizeof(fds) / sizeof(fds[0]));
        for (size_t i = 0; i < n; i++) {
            if (total == 0 && i == 0)
                peer_text(fds[0], who, sizeof(who));
            shutdown(fds[i], SHUT_RDWR); /* under conn_mu: still the connection's own */
        }
        total += n;
    } while (n == sizeof(fds) / sizeof(fds[0]));
    if (total && count_event(s, EV_CUT_DEADLINE, total, now))
        log_event(s, EV_CUT_DEADLINE,
                  "http: cut %zu connection(s) whose request was not whole within %lld ms "
                  "(the first from %s)",
                  total, (long long)s->limits.read_deadline_ms, who);
    next = conn_table_next_deadline(s->conns, now);
    pthread_mutex_unlock(&s->conn_mu);
    return next;
}

static void *acceptor_main(void *arg)
{
    api_server *s = arg;

    while (!atomic_load(&s->stopping)) {
        int64_t next = watchdog(s);
        struct pollfd p[2] = {{s->listen_fd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};
        /* +1: wake just after the deadline, not just before it */
        int timeout = next < 0 ? -1 : next >= INT32_MAX ? INT32_MAX : (int)next + 1;

        if (poll(p, 2, timeout) > 0 && (p[0].revents & POLLIN) && !atomic_load(&s->stopping))
            accept_batch(s);
    }
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------- */

static int host_to_addr(const char *host, struct in_addr *addr)
{
    if (!host || !*host || strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    return inet_pton(AF_INET, host, addr) == 1 ? 0 : -1;
}

static int listen_on(const struct sockaddr_in *sa, uint16_t *port)
{
    struct sockaddr_in bound;
    socklen_t len = sizeof(bound);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    /* a restart may bind the port its predecessor's connections linger on */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 || listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(bound.sin_port);
    return fd;
}

static void build_refusal(api_server *s, int which, const char *message)
{
    char body[200];
    int blen = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
                        api_err_code(API_E_UNAVAILABLE), message);
    int n = snprintf(s->refusal[which], sizeof(s->refusal[which]),
                     "HTTP/1.1 %u Service Unavailable\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %d\r\n"
                     "Retry-After: 1\r\n\r\n%s",
                     api_err_status(API_E_UNAVAILABLE), blen, body);
    s->refusal_len[which] = n > 0 && (size_t)n < sizeof(s->refusal[which]) ? (size_t)n : 0;
}

static void server_free(api_server *s)
{
    if (!s)
        return;
    if (s->acceptor_running) {
        atomic_store(&s->stopping, true);
        (void)!write(s->wake[1], "x", 1);
        pthread_join(s->acceptor, NULL);
    }
    if (s->daemon)
        MHD_stop_daemon(s->daemon); /* its CLOSED notifications still use conns */
    conn_table_free(s->conns);
    pthread_mutex_destroy(&s->conn_mu);
    for (size_t i = 0; i < s->nshards; i++)
        pthread_mutex_destroy(&s->shards[i].mu);
    free(s->shards);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->spare_fd >= 0)
        close(s->spare_fd);
    for (int i = 0; i < 2; i++)
        if (s->wake[i] >= 0)
            close(s->wake[i]);
    free(s);
}

/* The limits cfg asks for, within what RLIMIT_NOFILE allows. */
static void limits_for(const api_server_config *cfg, conn_limits *lim, size_t *slots,
                       size_t *max_fd)
{
    struct rlimit rl;
    uint64_t nofile = 0;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        nofile = rl.rlim_cur;
    lim->max_total = conn_limit_for_nofile(
        nofile, cfg->max_connections ? cfg->max_connections : API_MAX_CONNECTIONS, slots);
    lim->max_per_client = cfg->max_per_client ? cfg->max_per_client : API_DEFAULT_PER_CLIENT;
    lim->read_deadline_ms =
        cfg->read_deadline_ms ? cfg->read_deadline_ms : API_DEFAULT_READ_DEADLINE_MS;
    *max_fd = nofile && nofile < FD_MAP_MAX ? (size_t)nofile : FD_MAP_MAX;
}

api_server *api_server_start(const api_server_config *cfg, const api_route *routes, size_t nroutes,
                             void *ctx, uint16_t *bound_port)
{
    struct sockaddr_in sa;
    /* poll, not epoll: with MHD 0.9.75's edge-triggered epoll, a FIN that
     * arrives together with the request is missed and the connection idles
     * until the timeout (seen in tests with half-closing clients). */
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_NO_LISTEN_SOCKET |
        MHD_ALLOW_SUSPEND_RESUME;
    api_server *s;
    size_t extra, slots, max_fd;
    uint16_t port = 0;

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
    s->listen_fd = s->spare_fd = s->wake[0] = s->wake[1] = -1;
    if (pthread_mutex_init(&s->conn_mu, NULL) != 0) {
        free(s);
        return NULL;
    }
    for (int i = 0; i < EV__COUNT; i++)
        s->logged_ms[i] = -1;
    unsigned threads = cfg->threads ? cfg->threads : DEFAULT_THREADS;
    s->shards = aligned_alloc(_Alignof(struct lat_shard), (threads + 1) * sizeof(*s->shards));
    if (!s->shards)
        goto fail;
    memset(s->shards, 0, (threads + 1) * sizeof(*s->shards));
    for (; s->nshards < threads + 1; s->nshards++)
        if (pthread_mutex_init(&s->shards[s->nshards].mu, NULL) != 0)
            goto fail;
    if (api_dispatcher_init(&s->dispatcher, routes, nroutes, cfg->body_cap) < 0)
        goto fail;
    api_dispatcher_set_auth(&s->dispatcher, cfg->auth, cfg->auth_self);
    api_dispatcher_set_cors(&s->dispatcher, cfg->cors);
    api_dispatcher_set_gate(&s->dispatcher, cfg->gate);
    if (!cfg->tls_cert_pem != !cfg->tls_key_pem)
        goto fail;
    /* MHD sets up TLS on the sockets handed to it by MHD_add_connection as
     * on those it accepts itself. */
    s->tls = cfg->tls_cert_pem != NULL;
    if (s->tls)
        flags |= MHD_USE_TLS;
    s->ctx = ctx;
    s->on_request = cfg->on_request;
    if (cfg->latency && cfg->latency_mu) {
        s->latency = cfg->latency;
        s->latency_mu = cfg->latency_mu;
    }
    extra = s->dispatcher.body_cap > DRAIN_EXTRA_MIN ? s->dispatcher.body_cap : DRAIN_EXTRA_MIN;
    s->drain_cap =
        s->dispatcher.body_cap > SIZE_MAX - extra ? SIZE_MAX : s->dispatcher.body_cap + extra;
    limits_for(cfg, &s->limits, &slots, &max_fd);
    s->conns = conn_table_new(&s->limits, slots, max_fd);
    build_refusal(s, 0, "too many connections from this address");
    build_refusal(s, 1, "too many connections");
    if (!s->conns || pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) != 0)
        goto fail;
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    s->listen_fd = listen_on(&sa, &port);
    if (s->listen_fd < 0)
        goto fail;

    /* MHD's own limit stays above the table's, so it never refuses what
     * the table admitted (its per-worker shares are uneven). */
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, s, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int)threads,
        MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)(cfg->idle_timeout_s ? cfg->idle_timeout_s : API_DEFAULT_IDLE_TIMEOUT_S),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(2 * slots + 64), MHD_OPTION_URI_LOG_CALLBACK,
        on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, s, s->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cfg->tls_cert_pem,
        MHD_OPTION_HTTPS_MEM_KEY, cfg->tls_key_pem, MHD_OPTION_END);
    if (!s->daemon)
        goto fail;
    if (pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0)
        goto fail;
    s->acceptor_running = true;
    if (bound_port)
        *bound_port = port;
    return s;

fail:
    server_free(s);
    return NULL;
}

void api_server_stop(api_server *s)
{
    server_free(s);
}

void api_server_latency(api_server *s, histogram *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; s && i < s->nshards; i++) {
        pthread_mutex_lock(&s->shards[i].mu);
        const histogram *h = &s->shards[i].h;
        for (size_t k = 0; k < HIST_NBUCKETS; k++)
            out->buckets[k] += h->buckets[k];
        out->count += h->count;
        out->sum += h->sum;
        pthread_mutex_unlock(&s->shards[i].mu);
    }
}

void api_server_metrics(api_server *s, strbuf *sb)
{
    conn_stats st;
    conn_limits lim;
    uint64_t accepted, ev[EV__COUNT];

    if (!s || !sb)
        return;
    pthread_mutex_lock(&s->conn_mu);
    conn_table_stats(s->conns, &st);
    lim = s->limits;
    accepted = s->accepted;
    memcpy(ev, s->events, sizeof(ev));
    pthread_mutex_unlock(&s->conn_mu);
    strbuf_addf(sb,
                "# HELP ergrid_http_connections Open HTTP connections (cut ones until closed).\n"
                "# TYPE ergrid_http_connections gauge\n"
                "ergrid_http_connections %zu\n"
                "# HELP ergrid_http_clients Client addresses with an open connection.\n"
                "# TYPE ergrid_http_clients gauge\n"
                "ergrid_http_clients %zu\n"
                "# HELP ergrid_http_connections_max Connections served at once "
                "(from RLIMIT_NOFILE).\n"
                "# TYPE ergrid_http_connections_max gauge\n"
                "ergrid_http_connections_max %zu\n"
                "# HELP ergrid_http_connections_per_client_max Connections one client "
                "address may hold.\n"
                "# TYPE ergrid_http_connections_per_client_max gauge\n"
                "ergrid_http_connections_per_client_max %zu\n"
                "# HELP ergrid_http_read_deadline_seconds Time a connection has to deliver "
                "its next request whole.\n"
                "# TYPE ergrid_http_read_deadline_seconds gauge\n"
                "ergrid_http_read_deadline_seconds %.3f\n"
                "# HELP ergrid_http_connections_accepted_total Connections handed to the "
                "server.\n"
                "# TYPE ergrid_http_connections_accepted_total counter\n"
                "ergrid_http_connections_accepted_total %llu\n"
                "# HELP ergrid_http_connections_refused_total Connections answered 503 and "
                "closed at accept, by limit.\n"
                "# TYPE ergrid_http_connections_refused_total counter\n"
                "ergrid_http_connections_refused_total{reason=\"per_client_limit\"} %llu\n"
                "ergrid_http_connections_refused_total{reason=\"total_limit\"} %llu\n"
                "# HELP ergrid_http_connections_cut_total Connections shut down while waiting "
                "for a request, by cause.\n"
                "# TYPE ergrid_http_connections_cut_total counter\n"
                "ergrid_http_connections_cut_total{reason=\"read_deadline\"} %llu\n"
                "ergrid_http_connections_cut_total{reason=\"evicted\"} %llu\n"
                "# HELP ergrid_http_accept_errors_total accept() failures (EMFILE: out of fds).\n"
                "# TYPE ergrid_http_accept_errors_total counter\n"
                "ergrid_http_accept_errors_total %llu\n",
                st.open, st.clients, lim.max_total, lim.max_per_client,
                (double)lim.read_deadline_ms / 1000.0, (unsigned long long)accepted,
                (unsigned long long)ev[EV_REFUSED_CLIENT], (unsigned long long)ev[EV_REFUSED_FULL],
                (unsigned long long)ev[EV_CUT_DEADLINE], (unsigned long long)ev[EV_CUT_EVICTED],
                (unsigned long long)ev[EV_ACCEPT_ERROR]);
    api_dispatcher_metrics(&s->dispatcher, sb);
}
