/* The HTTP server: one route table, one dispatcher. The dispatcher owns every
 * generic failure (414, 404, 405, 413, 415, 400 on the body) so handlers only
 * ever see a matched route, decoded path parameters and a parsed JSON object.
 *
 * Request lifecycle on libmicrohttpd: the URI log callback sees the raw
 * request target first and allocates the per-request state (so path
 * parameters are decoded by us, segment by segment: MHD would decode "%2F"
 * before splitting); the access handler is then called once after the
 * headers, once per body chunk and once at the end, where the reply is
 * queued; the completion callback frees the state. */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define DEFAULT_THREADS      8
#define CONNECTION_TIMEOUT_S 30
#define CONNECTION_LIMIT     4096
#define PARAM_MAX            64
/* Bytes past the body cap that are still read (and dropped) so the 413 can
 * be delivered on an intact connection; a longer upload is cut off. */
#define DRAIN_EXTRA_MIN ((size_t)1 << 20)

struct api_server {
    struct MHD_Daemon *daemon;
    const api_route *routes;
    size_t nroutes;
    void *ctx;
    size_t body_cap;
    size_t drain_cap;
    void (*on_request)(void *ctx, const char *method, const char *route_pattern, unsigned status,
                       double seconds);
    histogram *latency;
    pthread_mutex_t *latency_mu;
};

typedef struct req_state {
    struct timespec start;
    char *path; /* raw path without the query; NULL if the URI was too long */
    bool uri_too_long;
    bool headers_seen;
    bool responded;
    bool too_large;
    const api_route *route; /* route that matched path and method */
    const char *pattern;    /* pattern that matched the path (for metrics) */
    bool have_err;          /* routing failed with err */
    api_err err;
    char err_msg[96];
    char allow[96];
    char params[API_MAX_PARAMS][PARAM_MAX + 1];
    size_t nparams;
    char *body;
    size_t len, alloc;
    uint64_t received;
} req_state;

static const char oom_body[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

/* ---- replies ---------------------------------------------------------- */

static void response_clear(api_response *res)
{
    json_decref(res->body);
    res->body = NULL;
    free(res->text);
    res->text = NULL;
    res->text_len = 0;
}

/* jansson refuses strings that are not UTF-8; a message may quote client
 * bytes, or be cut mid-character by the length cap. */
static json_t *message_string(char *msg)
{
    json_t *s = json_string(msg);

    if (s)
        return s;
    for (unsigned char *p = (unsigned char *)msg; *p; p++)
        if (*p >= 0x80)
            *p = '?';
    return json_string(msg);
}

__attribute__((format(printf, 2, 0))) static json_t *error_object(api_err code, const char *fmt,
                                                                  va_list ap)
{
    char msg[512];
    json_t *inner, *top;

    if (fmt)
        vsnprintf(msg, sizeof(msg), fmt, ap);
    else
        snprintf(msg, sizeof(msg), "%s", api_err_code(code));
    inner = json_object();
    top = json_object();
    if (!inner || !top || json_object_set_new(inner, "code", json_string(api_err_code(code))) < 0 ||
        json_object_set_new(inner, "message", message_string(msg)) < 0) {
        json_decref(inner);
        json_decref(top);
        return NULL;
    }
    if (json_object_set_new(top, "error", inner) < 0) {
        json_decref(top);
        return NULL;
    }
    return top;
}

void api_reply_json(api_response *res, unsigned status, json_t *body)
{
    if (!res) {
        json_decref(body);
        return;
    }
    response_clear(res);
    if (!body) {
        /* Typically a json_pack() that failed: never send a 2xx without its body. */
        api_reply_error(res, API_E_INTERNAL, "could not build the reply");
        return;
    }
    res->status = status;
    res->body = body;
}

void api_reply_error(api_response *res, api_err code, const char *fmt, ...)
{
    va_list ap;

    if (!res)
        return;
    response_clear(res);
    va_start(ap, fmt);
    res->body = error_object(code, fmt, ap);
    va_end(ap);
    res->status = api_err_status(code);
    res->content_type = NULL;
}

void api_reply_error_extra(api_response *res, api_err code, json_t *extra, const char *fmt, ...)
{
    json_t *top, *err;
    va_list ap;

    if (!res) {
        json_decref(extra);
        return;
    }
    response_clear(res);
    va_start(ap, fmt);
    err = error_object(code, fmt, ap);
    va_end(ap);
    res->status = api_err_status(code);
    res->content_type = NULL;
    if (!err || !json_is_object(extra)) {
        res->body = err;
        json_decref(extra);
        return;
    }
    /* "error" comes first and always from the code, whatever extra holds. */
    top = err;
    if (json_object_update_missing(top, extra) < 0) {
        json_decref(top);
        top = NULL;
    }
    json_decref(extra);
    res->body = top;
}

void api_reply_text(api_response *res, unsigned status, const char *content_type, const char *text,
                    size_t len)
{
    char *copy;

    if (!res)
        return;
    response_clear(res);
    copy = malloc(len ? len : 1);
    if (!copy) {
        api_reply_error(res, API_E_INTERNAL, "out of memory");
        return;
    }
    if (len)
        memcpy(copy, text, len);
    res->status = status;
    res->text = copy;
    res->text_len = len;
    res->content_type = content_type;
}

/* ---- request accessors ------------------------------------------------ */

const char *api_query(const api_request *req, const char *key)
{
    if (!req || !req->conn || !key)
        return NULL;
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_GET_ARGUMENT_KIND,
                                       key);
}

const char *api_header(const api_request *req, const char *name)
{
    if (!req || !req->conn || !name)
        return NULL;
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_HEADER_KIND, name);
}

/* ---- routing ---------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes one path segment into out (PARAM_MAX chars at most).
 * Refuses bad escapes, NUL and '/' so a capture is always one clean token. */
static int decode_segment(const char *raw, size_t len, char *out)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        char c = raw[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return -1;
            hi = hexval(raw[i + 1]);
            lo = hexval(raw[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || c == '/')
            return -1;
        if (n >= PARAM_MAX)
            return -1;
        out[n++] = c;
    }
    if (n == 0)
        return -1;
    out[n] = '\0';
    return 0;
}

typedef struct capture {
    const char *raw;
    size_t len;
} capture;

/* Matches path against pattern segment by segment. Literal segments compare
 * exactly; "{x}" takes one non-empty segment. */
static bool match_pattern(const char *pattern, const char *path, capture *caps, size_t *ncaps)
{
    const char *p = pattern, *q = path;
    size_t n = 0;

    if (*p != '/' || *q != '/')
        return false;
    for (;;) {
        const char *pe, *qe;
        size_t pl, ql;

        if (*p != '/' || *q != '/')
            return false;
        p++;
        q++;
        pe = strchr(p, '/');
        qe = strchr(q, '/');
        pl = pe ? (size_t)(pe - p) : strlen(p);
        ql = qe ? (size_t)(qe - q) : strlen(q);
        if (pl >= 2 && p[0] == '{' && p[pl - 1] == '}') {
            if (ql == 0 || n >= API_MAX_PARAMS)
                return false;
            caps[n].raw = q;
            caps[n].len = ql;
            n++;
        } else if (pl != ql || memcmp(p, q, pl) != 0) {
            return false;
        }
        p += pl;
        q += ql;
        if (!*p || !*q)
            break;
    }
    if (*p || *q)
        return false;
    *ncaps = n;
    return true;
}

static bool method_is(const char *m, const char *want)
{
    return m && want && strcmp(m, want) == 0;
}

static void allow_add(char *allow, size_t size, const char *m)
{
    size_t len = strlen(allow), ml = strlen(m);
    const char *p = allow;

    while ((p = strstr(p, m))) {
        if ((p == allow || p[-1] == ' ') && (p[ml] == ',' || p[ml] == '\0'))
            return;
        p += ml;
    }
    if (len + ml + 3 > size)
        return;
    if (len) {
        memcpy(allow + len, ", ", 2);
        len += 2;
    }
    memcpy(allow + len, m, ml + 1);
}

static void route_error(req_state *st, api_err e, const char *msg)
{
    st->have_err = true;
    st->err = e;
    snprintf(st->err_msg, sizeof(st->err_msg), "%s", msg);
}

static void resolve_route(const api_server *s, req_state *st, const char *method)
{
    capture caps[API_MAX_PARAMS], hit_caps[API_MAX_PARAMS];
    size_t ncaps = 0, hit_n = 0;
    bool path_matched = false;

    /* HEAD is served by GET routes (MHD drops the body). */
    const char *want = method_is(method, "HEAD") ? "GET" : method;

    if (!st->path) {
        route_error(st, API_E_NOT_FOUND, "no such route");
        return;
    }
    for (size_t i = 0; i < s->nroutes; i++) {
        const api_route *r = &s->routes[i];
        if (!match_pattern(r->pattern, st->path, caps, &ncaps))
            continue;
        if (!path_matched)
            st->pattern = r->pattern;
        path_matched = true;
        allow_add(st->allow, sizeof(st->allow), r->method);
        if (method_is(r->method, "GET"))
            allow_add(st->allow, sizeof(st->allow), "HEAD");
        if (!st->route && method_is(r->method, want)) {
            st->route = r;
            st->pattern = r->pattern;
            memcpy(hit_caps, caps, sizeof(caps[0]) * ncaps);
            hit_n = ncaps;
        }
    }
    if (!path_matched) {
        route_error(st, API_E_NOT_FOUND, "no such route");
        return;
    }
    if (!st->route) {
        route_error(st, API_E_METHOD, "method not allowed here");
        return;
    }
    for (size_t i = 0; i < hit_n; i++) {
        if (decode_segment(hit_caps[i].raw, hit_caps[i].len, st->params[i]) < 0) {
            route_error(st, API_E_INVALID_ID, "invalid path parameter (at most 64 characters)");
            return;
        }
    }
    st->nparams = hit_n;
}

/* ---- dispatcher ------------------------------------------------------- */

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

static enum MHD_Result send_response(api_server *s, struct MHD_Connection *conn, req_state *st,
                                     const char *method, api_response *res)
{
    struct MHD_Response *r = NULL;
    const char *ct = res->content_type ? res->content_type : "application/json";
    enum MHD_Result ret;
    unsigned status;

    if (res->status == 0)
        api_reply_error(res, API_E_INTERNAL, "the handler produced no reply");
    if (res->status < 100 || res->status > 599)
        api_reply_error(res, API_E_INTERNAL, "the handler produced an invalid status");
    status = res->status;

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
    if (!r) {
        status = 500;
        ct = "application/json";
        r = MHD_create_response_from_buffer(sizeof(oom_body) - 1, (void *)oom_body,
                                            MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
    if (status == 405 && st->allow[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, st->allow);
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    response_clear(res);
    st->responded = true;
    if (s->on_request || s->latency) {
        double seconds = seconds_since(&st->start);
        if (s->latency) {
            pthread_mutex_lock(s->latency_mu);
            histogram_observe(s->latency, seconds);
            pthread_mutex_unlock(s->latency_mu);
        }
        if (s->on_request)
            s->on_request(s->ctx, st->route ? st->route->method : method_label(method),
                          st->pattern ? st->pattern : "unmatched", status, seconds);
    }
    return ret;
}

static enum MHD_Result send_error(api_server *s, struct MHD_Connection *conn, req_state *st,
                                  const char *method, api_err e, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static enum MHD_Result send_error(api_server *s, struct MHD_Connection *conn, req_state *st,
                                  const char *method, api_err e, const char *fmt, ...)
{
    api_response res = {0};
    va_list ap;

    va_start(ap, fmt);
    res.body = error_object(e, fmt, ap);
    va_end(ap);
    res.status = api_err_status(e);
    return send_response(s, conn, st, method, &res);
}

static bool wants_body(const req_state *st)
{
    return st->route && !st->have_err && (st->route->flags & (API_BODY_JSON | API_BODY_OPTIONAL));
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

static enum MHD_Result finish(api_server *s, struct MHD_Connection *conn, req_state *st,
                              const char *method)
{
    api_request req = {0};
    api_response res = {0};
    json_t *body = NULL;
    enum MHD_Result ret;

    if (st->uri_too_long)
        return send_error(s, conn, st, method, API_E_URI_TOO_LONG,
                          "the URL is longer than %d bytes", API_MAX_URL);
    if (st->have_err)
        return send_error(s, conn, st, method, st->err, "%s", st->err_msg);
    if (st->too_large)
        return send_error(s, conn, st, method, API_E_TOO_LARGE, "the body is larger than %zu bytes",
                          s->body_cap);

    if ((st->route->flags & API_BODY_JSON) || ((st->route->flags & API_BODY_OPTIONAL) && st->len)) {
        json_error_t jerr;
        if (st->len == 0)
            return send_error(s, conn, st, method, API_E_BAD_JSON,
                              "a JSON object body is required");
        if (!is_json_type(
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE)))
            return send_error(s, conn, st, method, API_E_MEDIA_TYPE,
                              "the body must be sent as Content-Type: application/json");
        body = json_loadb(st->body, st->len, JSON_REJECT_DUPLICATES, &jerr);
        if (!body)
            return send_error(s, conn, st, method, API_E_BAD_JSON,
                              "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                              jerr.text);
        if (!json_is_object(body)) {
            json_decref(body);
            return send_error(s, conn, st, method, API_E_BAD_JSON,
                              "the body must be a JSON object");
        }
    }
    /* The body bytes are no longer needed while the handler runs. */
    free(st->body);
    st->body = NULL;
    st->len = st->alloc = 0;

    req.method = method;
    req.path = st->path;
    for (size_t i = 0; i < st->nparams; i++)
        req.params[i] = st->params[i];
    req.nparams = st->nparams;
    req.body = body;
    req.ctx = s->ctx;
    req.conn = conn;
    st->route->handler(&req, &res);
    ret = send_response(s, conn, st, method, &res);
    json_decref(body);
    return ret;
}

static bool append_body(api_server *s, req_state *st, const char *data, size_t n)
{
    if (st->len + n > st->alloc) {
        size_t na = st->alloc ? st->alloc : 4096;
        char *nb;
        while (na < st->len + n)
            na *= 2;
        if (na > s->body_cap)
            na = s->body_cap;
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

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls)
{
    api_server *s = cls;
    req_state *st = *req_cls;

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
        if (!st->uri_too_long)
            resolve_route(s, st, method);
        if (cl) {
            char *end;
            errno = 0;
            declared = strtoull(cl, &end, 10);
            have_cl = errno == 0 && end != cl && *end == '\0' && cl[0] != '-';
        }
        if (have_cl && declared > s->body_cap) {
            st->too_large = true;
            /* Too much to drain: answer now; MHD then discards the upload
             * and closes the connection. */
            if (declared > s->drain_cap)
                return finish(s, conn, st, method);
        } else if (have_cl && declared > 0 && wants_body(st)) {
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
        if (st->received > s->body_cap) {
            st->too_large = true;
            free(st->body);
            st->body = NULL;
            st->len = st->alloc = 0;
            return MHD_YES;
        }
        if (wants_body(st) && !append_body(s, st, upload_data, n))
            return MHD_NO;
        return MHD_YES;
    }
    return finish(s, conn, st, method);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    req_state *st = calloc(1, sizeof(*st));
    size_t len;

    if (!st)
        return NULL;
    clock_gettime(CLOCK_MONOTONIC, &st->start);
    len = uri ? strlen(uri) : 0;
    if (len > API_MAX_URL) {
        st->uri_too_long = true;
        return st;
    }
    len = uri ? strcspn(uri, "?#") : 0;
    st->path = strndup(uri ? uri : "", len);
    return st;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    req_state *st = *req_cls;

    if (!st)
        return;
    free(st->path);
    free(st->body);
    free(st);
    *req_cls = NULL;
}

/* ---- lifecycle -------------------------------------------------------- */

static bool routes_valid(const api_route *routes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = routes[i].pattern;
        size_t caps = 0;
        if (!routes[i].method || !routes[i].handler || !p || p[0] != '/')
            return false;
        for (; *p; p++)
            if (*p == '{')
                caps++;
        if (caps > API_MAX_PARAMS)
            return false;
    }
    return true;
}

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

    if (!cfg || (nroutes && !routes) || !routes_valid(routes, nroutes))
        return NULL;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(cfg->port);
    if (host_to_addr(cfg->host, &sa.sin_addr) < 0)
        return NULL;

    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->routes = routes;
    s->nroutes = nroutes;
    s->ctx = ctx;
    s->on_request = cfg->on_request;
    if (cfg->latency && cfg->latency_mu) {
        s->latency = cfg->latency;
        s->latency_mu = cfg->latency_mu;
    }
    s->body_cap = cfg->body_cap ? cfg->body_cap : API_DEFAULT_BODY_CAP;
    {
        size_t extra = s->body_cap > DRAIN_EXTRA_MIN ? s->body_cap : DRAIN_EXTRA_MIN;
        s->drain_cap = s->body_cap > SIZE_MAX - extra ? SIZE_MAX : s->body_cap + extra;
    }
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

int api_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon, *p;
    char h[INET_ADDRSTRLEN + 16];
    struct in_addr addr;
    unsigned long v = 0;
    size_t hl;

    if (!s || !host || !port)
        return -1;
    colon = strrchr(s, ':');
    if (!colon)
        return -1;
    hl = (size_t)(colon - s);
    if (hl == 0 || hl >= sizeof(h))
        return -1;
    memcpy(h, s, hl);
    h[hl] = '\0';
    if (strcmp(h, "localhost") == 0)
        snprintf(h, sizeof(h), "127.0.0.1");
    else if (inet_pton(AF_INET, h, &addr) != 1)
        return -1;
    p = colon + 1;
    if (!*p || strlen(p) > 5)
        return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v > 65535)
        return -1;
    if (strlen(h) + 1 > hostlen)
        return -1;
    memcpy(host, h, strlen(h) + 1);
    *port = (uint16_t)v;
    return 0;
}
