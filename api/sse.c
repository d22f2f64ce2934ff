/* Push streams (sse.h): the hub, its parked streams and heartbeat thread,
 * the hub's own ring, the query rules and the SSE record format.
 *
 * Why pull, not push: a stream asks its source for the next events only
 * when libmicrohttpd wants more bytes for its socket, so a reader that
 * stops reading costs a fixed buffer and its place in the log, never a
 * queue that grows; and the writer that makes an event only flips a flag
 * (api_sse_notify), never waits for a reader. A stream with nothing to
 * send parks (its connection suspended, not polled); the hub thread
 * resumes it when something was published or its heartbeat is due.
 *
 * Parking and waking are decided under the hub's mutex with a generation
 * count: a reader parks only if no notify came since it last read, and the
 * hub thread resumes only streams that did park, so every suspension is
 * followed by exactly one resume and no event is left waiting. */
#include "sse.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord.h"

#define FILTER_MAX       8  /* values one filter may list */
#define FILTER_VALUE_MAX 64 /* bytes of one filter value */
#define TICK_MS          250
#define CLOSE_WAIT_MS    2000

typedef struct filter {
    size_t n;
    char v[FILTER_MAX][FILTER_VALUE_MAX + 1];
} filter;

typedef struct sse_stream {
    api_sse_hub *hub;
    filter job, unit, type;
    uint64_t pos;  /* the last id delivered or filtered out */
    bool started;  /* the first read (Last-Event-ID checks) is done */
    bool has_last; /* the client named a Last-Event-ID */
    bool ending;   /* the last record is in buf: end once it is sent */
    bool parked;   /* suspended; under hub->mu */
    api_stream *handle; /* set at the first read, before it can park */
    char *buf;     /* records not yet handed to the socket */
    size_t off, len;
    int64_t last_write_ms; /* under hub->mu once listed */
} sse_stream;

struct api_sse_hub {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    api_sse_config cfg;
    sse_stream **streams;
    api_stream **wake; /* the hub thread's list of streams to resume */
    size_t n;
    uint64_t gen; /* bumped by every notify */
    bool notified, closing, stop;
    pthread_t thread;
    bool thread_running;
    uint64_t opened, refused, overflowed, cut;
    api_stream_ops ops;
    /* The hub's own ring (cfg.read NULL): ids ring_last - ring_n + 1 ..
     * ring_last, oldest at ring_head. */
    pthread_mutex_t ring_mu;
    api_sse_item *ring;
    size_t ring_head, ring_n;
    uint64_t ring_last;
};

static int64_t mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Waits on the hub's condition for at most ms; h->mu held. */
static void wait_ms(api_sse_hub *h, long ms)
{
    struct timespec t;

    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += ms * 1000000L;
    t.tv_sec += t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&h->cv, &h->mu, &t);
}

/* ---- the hub's own ring ----------------------------------------------- */

static int ring_read(void *cls, uint64_t after, api_sse_item *items, size_t max, size_t *n,
                     uint64_t *head, uint64_t *held_from)
{
    api_sse_hub *h = cls;
    size_t keep = h->cfg.ring_keep;

    *n = 0;
    pthread_mutex_lock(&h->ring_mu);
    *head = h->ring_last;
    *held_from = h->ring_last - h->ring_n;
    uint64_t from = after < *held_from ? *held_from : after;
    for (uint64_t id = from + 1; id <= h->ring_last && *n < max; id++) {
        const api_sse_item *it = &h->ring[(h->ring_head + (size_t)(id - 1 - *held_from)) % keep];
        items[*n].id = it->id;
        items[*n].data = json_incref(it->data);
        (*n)++;
    }
    pthread_mutex_unlock(&h->ring_mu);
    return 0;
}

uint64_t api_sse_publish(api_sse_hub *h, json_t *ev)
{
    uint64_t id;

    if (!h || h->cfg.read != ring_read) {
        json_decref(ev);
        return 0;
    }
    pthread_mutex_lock(&h->ring_mu);
    size_t keep = h->cfg.ring_keep;
    if (h->ring_n == keep) {
        json_decref(h->ring[h->ring_head].data);
        h->ring_head = (h->ring_head + 1) % keep;
        h->ring_n--;
    }
    id = ++h->ring_last;
    h->ring[(h->ring_head + h->ring_n) % keep] = (api_sse_item){id, ev};
    h->ring_n++;
    pthread_mutex_unlock(&h->ring_mu);
    api_sse_notify(h);
    return id;
}

/* ---- the hub thread ----------------------------------------------------- */

static void *hub_main(void *arg)
{
    api_sse_hub *h = arg;

    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        if (!h->notified) {
            wait_ms(h, TICK_MS);
        }
        int64_t now = mono_ms();
        size_t nwake = 0;
        for (size_t i = 0; i < h->n; i++) {
            sse_stream *s = h->streams[i];
            if (s->parked && (h->notified || h->closing ||
                              now - s->last_write_ms >= (int64_t)h->cfg.heartbeat_ms)) {
                s->parked = false;
                h->wake[nwake++] = s->handle;
            }
        }
        h->notified = false;
        /* Resumed without the hub's mutex, so libmicrohttpd's own lock is
         * never taken under it here. A stream that stays suspended until
         * then cannot end meanwhile: its handle is still good. */
        pthread_mutex_unlock(&h->mu);
        for (size_t i = 0; i < nwake; i++)
            api_stream_resume(h->wake[i]);
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* ---- records ------------------------------------------------------------ */

static bool filter_has(const filter *f, const char *v)
{
    if (!f->n)
        return true;
    for (size_t i = 0; v && i < f->n; i++)
        if (strcmp(f->v[i], v) == 0)
            return true;
    return false;
}

static bool matches(const sse_stream *s, const json_t *ev)
{
    return filter_has(&s->type, json_string_value(json_object_get(ev, "type"))) &&
           filter_has(&s->job, json_string_value(json_object_get(ev, "job_id"))) &&
           filter_has(&s->unit, json_string_value(json_object_get(ev, "unit_id")));
}

/* Appends text to the stream's buffer if it fits within the backlog cap
 * (an empty buffer takes any one record, so none can block the stream). */
static bool put(sse_stream *s, const char *text, size_t n)
{
    if (s->len && s->len + n > API_SSE_BACKLOG_BYTES)
        return false;
    if (s->len + n > API_SSE_BACKLOG_BYTES) {
        char *nb = realloc(s->buf, n);
        if (!nb)
            return false;
        s->buf = nb;
    }
    memcpy(s->buf + s->len, text, n);
    s->len += n;
    return true;
}

static bool put_record(sse_stream *s, uint64_t id, const char *event, const json_t *data)
{
    char *json = json_dumps(data, JSON_COMPACT);
    char head[96];
    int hn;
    bool ok;

    if (!json)
        return false;
    if (id)
        hn = snprintf(head, sizeof(head), "id: %llu\nevent: %s\ndata: ", (unsigned long long)id,
                      event);
    else
        hn = snprintf(head, sizeof(head), "event: %s\ndata: ", event);
    size_t jn = strlen(json), total = (size_t)hn + jn + 2;
    char *rec = malloc(total);
    ok = rec != NULL;
    if (ok) {
        memcpy(rec, head, (size_t)hn);
        memcpy(rec + hn, json, jn);
        memcpy(rec + hn + jn, "\n\n", 2);
        ok = put(s, rec, total);
    }
    free(rec);
    free(json);
    return ok;
}

/* The records after s->pos into s->buf. -1: the source failed. */
static int fill(sse_stream *s)
{
    api_sse_hub *h = s->hub;
    api_sse_item items[API_SSE_READ_BATCH];
    size_t n = 0, i;
    uint64_t head = 0, held_from = 0;

    if (h->cfg.read(h->cfg.read_cls, s->pos, items, API_SSE_READ_BATCH, &n, &head, &held_from) <
        0)
        return -1;
    if (!s->started) {
        s->started = true;
        /* A Last-Event-ID beyond the newest (another log, or one reset)
         * or older than what is held: say so, then go on from what is. */
        if (s->has_last && (s->pos > head || s->pos < held_from)) {
            json_t *g = json_pack("{s:I, s:I, s:s}", "last_event_id", (json_int_t)s->pos,
                                  "resumed_after", (json_int_t)(s->pos > head ? head : held_from),
                                  "reason",
                                  s->pos > head ? "beyond the newest event"
                                                : "older than the oldest event still held");
            put_record(s, 0, "gap", g);
            json_decref(g);
            s->pos = s->pos > head ? head : held_from;
            for (i = 0; i < n; i++)
                json_decref(items[i].data);
            return 0; /* the next read starts from the new position */
        }
    } else if (s->pos < held_from) {
        /* Events this stream had not sent are gone from the ring: it fell
         * too far behind. It ends; a reconnect gets the gap. */
        json_t *o = json_pack("{s:I, s:s}", "last_event_id", (json_int_t)s->pos, "reason",
                              "the reader fell behind what the server holds");
        put_record(s, 0, "overflow", o);
        json_decref(o);
        s->ending = true;
        pthread_mutex_lock(&h->mu);
        h->overflowed++;
        pthread_mutex_unlock(&h->mu);
        for (i = 0; i < n; i++)
            json_decref(items[i].data);
        return 0;
    }
    for (i = 0; i < n; i++) {
        json_t *ev = items[i].data;
        if (matches(s, ev)) {
            const char *type = json_string_value(json_object_get(ev, "type"));
            if (!put_record(s, items[i].id, type && *type ? type : "message", ev))
                break; /* the backlog is full: read the rest next time */
        }
        s->pos = items[i].id;
        json_decref(ev);
    }
    for (; i < n; i++)
        json_decref(items[i].data);
    return 0;
}

static long stream_read(void *arg, api_stream *hd, char *out, size_t max)
{
    sse_stream *s = arg;
    api_sse_hub *h = s->hub;

    s->handle = hd;
    for (;;) {
        if (s->off < s->len) {
            size_t n = s->len - s->off < max ? s->len - s->off : max;
            memcpy(out, s->buf + s->off, n);
            s->off += n;
            pthread_mutex_lock(&h->mu);
            s->last_write_ms = mono_ms();
            pthread_mutex_unlock(&h->mu);
            return (long)n;
        }
        s->off = s->len = 0;
        if (s->ending)
            return API_STREAM_END;
        /* The client is not taking what was sent: beyond the backlog cap
         * nothing more is queued for it, not even a last record. */
        if (api_stream_unsent(hd) > API_SSE_UNSENT_MAX) {
            pthread_mutex_lock(&h->mu);
            h->cut++;
            pthread_mutex_unlock(&h->mu);
            return API_STREAM_ABORT;
        }
        pthread_mutex_lock(&h->mu);
        bool closing = h->closing;
        uint64_t gen = h->gen;
        int64_t idle = mono_ms() - s->last_write_ms;
        pthread_mutex_unlock(&h->mu);
        if (closing)
            return API_STREAM_END;
        if (fill(s) < 0)
            return API_STREAM_END;
        if (s->len)
            continue;
        if (idle >= (int64_t)h->cfg.heartbeat_ms) {
            put(s, ": keep-alive\n\n", 14);
            continue;
        }
        pthread_mutex_lock(&h->mu);
        if (h->gen == gen && !h->closing) {
            s->parked = true;
            api_stream_suspend(hd);
            pthread_mutex_unlock(&h->mu);
            return 0;
        }
        pthread_mutex_unlock(&h->mu);
    }
}

static void stream_done(void *arg)
{
    sse_stream *s = arg;
    api_sse_hub *h = s->hub;

    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++)
        if (h->streams[i] == s) {
            h->streams[i] = h->streams[--h->n];
            break;
        }
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    free(s->buf);
    free(s);
}

/* ---- the request -------------------------------------------------------- */

static bool type_valid(const char *v)
{
    for (; *v; v++)
        if (!((*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9') || *v == '_'))
            return false;
    return true;
}

/* A comma list of up to FILTER_MAX values, each an id (or, for types, a
 * lower-case name). */
static bool parse_filter(const char *q, bool is_type, filter *f)
{
    f->n = 0;
    if (!q)
        return true;
    if (!*q)
        return false; /* "?job=": a filter that names nothing is a mistake */
    while (*q) {
        const char *comma = strchr(q, ',');
        size_t n = comma ? (size_t)(comma - q) : strlen(q);
        if (n == 0 || n > FILTER_VALUE_MAX || f->n == FILTER_MAX)
            return false;
        memcpy(f->v[f->n], q, n);
        f->v[f->n][n] = '\0';
        if (is_type ? !type_valid(f->v[f->n]) : !coord_id_valid(f->v[f->n]))
            return false;
        f->n++;
        if (!comma)
            break;
        q = comma + 1;
        if (!*q)
            return false;
    }
    return true;
}

static bool parse_id(const char *v, uint64_t *out)
{
    char *end;
    unsigned long long x;

    if (!v || !*v || strlen(v) > 20 || *v < '0' || *v > '9')
        return false;
    errno = 0;
    x = strtoull(v, &end, 10);
    if (errno || *end || x > INT64_MAX)
        return false;
    *out = x;
    return true;
}

void api_sse_serve(api_sse_hub *h, api_request *req, api_response *res)
{
    const char *last = api_header(req, "Last-Event-ID");
    sse_stream *s;
    size_t n = 0;
    uint64_t head = 0, held = 0;

    if (!last)
        last = api_query(req, "last_event_id");
    if (!api_can_defer(req)) {
        api_reply_error(res, API_E_UNAVAILABLE, "a stream needs the HTTP server");
        return;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    s->hub = h;
    if (last && !parse_id(last, &s->pos)) {
        free(s);
        api_reply_error(res, API_E_BAD_REQUEST, "Last-Event-ID must be a whole number below 2^63");
        return;
    }
    if (!parse_filter(api_query(req, "job"), false, &s->job) ||
        !parse_filter(api_query(req, "unit"), false, &s->unit) ||
        !parse_filter(api_query(req, "type"), true, &s->type)) {
        free(s);
        api_reply_error(res, API_E_BAD_REQUEST,
                        "job, unit and type are comma lists of at most %d ids (types: a-z, 0-9, _)",
                        FILTER_MAX);
        return;
    }
    s->has_last = last != NULL;
    if (!s->has_last) {
        /* No Last-Event-ID: from now on (the client took a snapshot). */
        if (h->cfg.read(h->cfg.read_cls, 0, NULL, 0, &n, &head, &held) < 0) {
            free(s);
            api_reply_error(res, API_E_UNAVAILABLE, "event log unreadable");
            return;
        }
        s->pos = head;
    }
    s->buf = malloc(API_SSE_BACKLOG_BYTES);
    pthread_mutex_lock(&h->mu);
    bool full = h->n >= h->cfg.max_streams, closing = h->closing;
    if (full || closing || !s->buf) {
        h->refused++;
        pthread_mutex_unlock(&h->mu);
        free(s->buf);
        free(s);
        api_reply_error(res, API_E_UNAVAILABLE, "%s",
                        closing ? "shutting down"
                        : full  ? "too many open event streams"
                                : "out of memory");
        api_response_add_header(res, "Retry-After", "1");
        return;
    }
    h->streams[h->n++] = s;
    h->opened++;
    s->last_write_ms = mono_ms();
    pthread_mutex_unlock(&h->mu);
    /* The reconnect delay a browser uses (ms), then the events. */
    put(s, "retry: 2000\n\n", 13);
    api_reply_stream(res, "text/event-stream", &h->ops, s);
    api_response_add_header(res, "Cache-Control", "no-store");
}

/* ---- lifecycle ---------------------------------------------------------- */

api_sse_hub *api_sse_hub_new(const api_sse_config *cfg)
{
    api_sse_hub *h = calloc(1, sizeof(*h));

    if (!h)
        return NULL;
    h->cfg = *cfg;
    if (!h->cfg.max_streams)
        h->cfg.max_streams = API_SSE_DEFAULT_MAX_STREAMS;
    if (!h->cfg.heartbeat_ms)
        h->cfg.heartbeat_ms = API_SSE_DEFAULT_HEARTBEAT_MS;
    if (!h->cfg.read) {
        if (!h->cfg.ring_keep)
            h->cfg.ring_keep = 4096;
        h->ring = calloc(h->cfg.ring_keep, sizeof(*h->ring));
        h->cfg.read = ring_read;
        h->cfg.read_cls = h;
        h->ring_last = h->cfg.ring_first_id;
    }
    /* A client that reads nothing for two heartbeats is gone or stuck:
     * its connection is cut (a live one gets a byte every heartbeat). */
    h->ops = (api_stream_ops){stream_read, stream_done, 2 * ((h->cfg.heartbeat_ms + 999) / 1000)};
    if (h->ops.stall_s < 2)
        h->ops.stall_s = 2;
    h->streams = calloc(h->cfg.max_streams, sizeof(*h->streams));
    h->wake = calloc(h->cfg.max_streams, sizeof(*h->wake));
    if ((h->cfg.read == ring_read && !h->ring) || !h->streams || !h->wake ||
        pthread_mutex_init(&h->mu, NULL) != 0) {
        free(h->ring);
        free(h->streams);
        free(h->wake);
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->ring_mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->thread_running = pthread_create(&h->thread, NULL, hub_main, h) == 0;
    if (!h->thread_running) {
        api_sse_hub_free(h);
        return NULL;
    }
    return h;
}

void api_sse_notify(api_sse_hub *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->gen++;
    h->notified = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

void api_sse_hub_close(api_sse_hub *h)
{
    if (!h)
        return;
    int64_t until = mono_ms() + CLOSE_WAIT_MS;
    pthread_mutex_lock(&h->mu);
    h->closing = true;
    pthread_cond_broadcast(&h->cv);
    while (h->n && mono_ms() < until) {
        wait_ms(h, 50);
    }
    pthread_mutex_unlock(&h->mu);
}

void api_sse_hub_free(api_sse_hub *h)
{
    if (!h)
        return;
    api_sse_hub_close(h);
    if (h->thread_running) {
        pthread_mutex_lock(&h->mu);
        h->stop = true;
        pthread_cond_broadcast(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->thread, NULL);
    }
    for (size_t i = 0; h->ring && i < h->ring_n; i++)
        json_decref(h->ring[(h->ring_head + i) % h->cfg.ring_keep].data);
    free(h->ring);
    free(h->streams);
    free(h->wake);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->ring_mu);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void api_sse_metrics(api_sse_hub *h, strbuf *sb)
{
    if (!h || !sb)
        return;
    pthread_mutex_lock(&h->mu);
    size_t n = h->n;
    uint64_t opened = h->opened, refused = h->refused, over = h->overflowed, cut = h->cut;
    pthread_mutex_unlock(&h->mu);
    strbuf_addf(sb,
                "# HELP ergrid_sse_streams Open event streams (GET /v1/events/stream).\n"
                "# TYPE ergrid_sse_streams gauge\n"
                "ergrid_sse_streams %zu\n"
                "# HELP ergrid_sse_streams_max Event streams served at once.\n"
                "# TYPE ergrid_sse_streams_max gauge\n"
                "ergrid_sse_streams_max %zu\n"
                "# HELP ergrid_sse_streams_opened_total Event streams opened.\n"
                "# TYPE ergrid_sse_streams_opened_total counter\n"
                "ergrid_sse_streams_opened_total %llu\n"
                "# HELP ergrid_sse_streams_refused_total Event streams refused 503 (the cap, "
                "shutdown).\n"
                "# TYPE ergrid_sse_streams_refused_total counter\n"
                "ergrid_sse_streams_refused_total %llu\n"
                "# HELP ergrid_sse_streams_overflowed_total Event streams cut for falling behind "
                "what is held.\n"
                "# TYPE ergrid_sse_streams_overflowed_total counter\n"
                "ergrid_sse_streams_overflowed_total %llu\n"
                "# HELP ergrid_sse_streams_cut_total Event streams cut because the client left "
                "more than the backlog cap unread.\n"
                "# TYPE ergrid_sse_streams_cut_total counter\n"
                "ergrid_sse_streams_cut_total %llu\n",
                n, h->cfg.max_streams, (unsigned long long)opened, (unsigned long long)refused,
                (unsigned long long)over, (unsigned long long)cut);
}
