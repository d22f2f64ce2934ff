/* etcd v3 client over the JSON gateway of etcd 3.4: the request/reply codecs
 * (base64 keys and values, int64 fields as JSON strings, proto3's omitted
 * defaults), the failover over several members, and the error mapping from
 * gRPC status codes to etcd_err. Election and fencing are in etcd_elect.c. */
#include "etcd.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_CONNECT_MS 500L
#define DEFAULT_REQUEST_MS 1000L
#define DEFAULT_TIMEOUT_MS 3000L
#define DEFAULT_MAX_REPLY  ((size_t)8 << 20)
#define MAX_ENDPOINTS      16
#define MAX_URL_LEN        512
/* Between two rounds over every member: long enough for an etcd election
 * (one election timeout, 1 s by default) to finish within a few rounds. */
#define ROUND_BACKOFF_MS 50L

/* gRPC status codes, as the gateway reports them in "code". */
enum {
    GRPC_UNKNOWN = 2,
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_DEADLINE_EXCEEDED = 4,
    GRPC_NOT_FOUND = 5,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_FAILED_PRECONDITION = 9,
    GRPC_ABORTED = 10,
    GRPC_OUT_OF_RANGE = 11,
    GRPC_UNAVAILABLE = 14,
};

struct etcd_client {
    pthread_mutex_t lock;
    CURL *curl;
    struct curl_slist *headers;
    char *urls[MAX_ENDPOINTS];
    size_t n, cur;
    etcd_opts o;
    char err[256];
};

static const char *const err_names[ETCD_E__COUNT] = {
    [ETCD_OK] = "ok",
    [ETCD_E_TRANSPORT] = "transport",
    [ETCD_E_UNAVAILABLE] = "unavailable",
    [ETCD_E_COMPARE_FAILED] = "compare_failed",
    [ETCD_E_NOT_FOUND] = "not_found",
    [ETCD_E_BAD_REPLY] = "bad_reply",
    [ETCD_E_TOO_LARGE] = "too_large",
    [ETCD_E_INVALID] = "invalid",
    [ETCD_E_COMPACTED] = "compacted",
    [ETCD_E_NOT_LEADER] = "not_leader",
    [ETCD_E_NOMEM] = "out_of_memory",
};

const char *etcd_strerror(etcd_err e)
{
    if ((unsigned)e >= ETCD_E__COUNT)
        return "unknown";
    return err_names[e];
}

static void set_err(etcd_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(etcd_client *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- base64 (RFC 4648, with padding), as proto3 JSON encodes bytes ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *b64_json(const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t olen = 4 * ((len + 2) / 3);
    char *out = malloc(olen + 1);
    size_t o = 0;
    json_t *s;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    s = json_stringn_nocheck(out, o);
    free(out);
    return s;
}

static int b64_val(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

/* Decodes into a new NUL-terminated buffer; -1 on malformed input. */
static int b64_decode(const char *s, size_t slen, char **out, size_t *olen)
{
    char *buf;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;

    while (slen > 0 && s[slen - 1] == '=')
        slen--;
    buf = malloc(slen * 3 / 4 + 1);
    if (!buf)
        return -1;
    for (size_t i = 0; i < slen; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0) {
            free(buf);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    buf[o] = '\0';
    *out = buf;
    *olen = o;
    return 0;
}

/* ---- reply field readers: proto3 JSON omits zero values, and int64 arrives
 * as a string ---- */

static int get_i64(const json_t *obj, const char *name, int64_t *v)
{
    const json_t *f = json_object_get(obj, name);
    const char *s;
    char *end;
    long long x;

    *v = 0;
    if (!f || json_is_null(f))
        return 0;
    if (json_is_integer(f)) {
        *v = json_integer_value(f);
        return 0;
    }
    if (!json_is_string(f))
        return -1;
    s = json_string_value(f);
    errno = 0;
    x = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *v = x;
    return 0;
}

static int get_bool(const json_t *obj, const char *name, bool *v)
{
    const json_t *f = json_object_get(obj, name);

    *v = false;
    if (!f)
        return 0;
    if (!json_is_boolean(f))
        return -1;
    *v = json_is_true(f);
    return 0;
}

static int get_bytes(const json_t *obj, const char *name, char **out, size_t *len)
{
    const json_t *f = json_object_get(obj, name);

    if (!f) {
        *out = calloc(1, 1);
        *len = 0;
        return *out ? 0 : -1;
    }
    if (!json_is_string(f))
        return -1;
    return b64_decode(json_string_value(f), json_string_length(f), out, len);
}

static int header_revision(const json_t *reply, int64_t *rev)
{
    return get_i64(json_object_get(reply, "header"), "revision", rev);
}

void etcd_kv_release(etcd_kv *kv)
{
    if (!kv)
        return;
    free(kv->key);
    free(kv->value);
    memset(kv, 0, sizeof(*kv));
}

void etcd_range_result_release(etcd_range_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        etcd_kv_release(&r->kvs[i]);
    free(r->kvs);
    memset(r, 0, sizeof(*r));
}

static int parse_kv(const json_t *j, etcd_kv *kv)
{
    size_t klen;

    memset(kv, 0, sizeof(*kv));
    if (!json_is_object(j) || get_bytes(j, "key", &kv->key, &klen) < 0)
        goto bad;
    /* Our keys are C strings: a key with a NUL byte is not one we wrote. */
    if (strlen(kv->key) != klen)
        goto bad;
    if (get_bytes(j, "value", &kv->value, &kv->value_len) < 0 ||
        get_i64(j, "create_revision", &kv->create_revision) < 0 ||
        get_i64(j, "mod_revision", &kv->mod_revision) < 0 ||
        get_i64(j, "version", &kv->version) < 0 || get_i64(j, "lease", &kv->lease) < 0)
        goto bad;
    return 0;
bad:
    etcd_kv_release(kv);
    return -1;
}

/* A RangeResponse (or a txn's response_range) into out. */
static int parse_range(const json_t *j, etcd_range_result *out)
{
    const json_t *kvs = json_object_get(j, "kvs");
    etcd_range_result r = {0};
    size_t n;

    if (!json_is_object(j))
        return -1;
    if (kvs && !json_is_array(kvs))
        return -1;
    n = kvs ? json_array_size(kvs) : 0;
    if (n) {
        r.kvs = calloc(n, sizeof(*r.kvs));
        if (!r.kvs)
            return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (parse_kv(json_array_get(kvs, i), &r.kvs[i]) < 0) {
            etcd_range_result_release(&r);
            return -1;
        }
        r.n++;
    }
    if (get_bool(j, "more", &r.more) < 0 || get_i64(j, "count", &r.count) < 0 ||
        header_revision(j, &r.revision) < 0) {
        etcd_range_result_release(&r);
        return -1;
    }
    *out = r;
    return 0;
}

/* ---- client ---- */

static bool url_ok(const char *u)
{
    size_t n = strlen(u);

    return n > 7 && n < MAX_URL_LEN &&
           (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0);
}

etcd_client *etcd_new(const char *const *urls, size_t n, const etcd_opts *opts)
{
    etcd_client *c;
    struct curl_slist *h;

    if (!urls || n == 0 || n > MAX_ENDPOINTS)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!urls[i] || !url_ok(urls[i]))
            return NULL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    if (opts)
        c->o = *opts;
    if (c->o.connect_timeout_ms <= 0)
        c->o.connect_timeout_ms = DEFAULT_CONNECT_MS;
    if (c->o.request_timeout_ms <= 0)
        c->o.request_timeout_ms = DEFAULT_REQUEST_MS;
    if (c->o.timeout_ms <= 0)
        c->o.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (c->o.max_reply == 0)
        c->o.max_reply = DEFAULT_MAX_REPLY;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(urls[i]);
        /* "http://h:p/" and "http://h:p" name the same member */
        while (len > 0 && urls[i][len - 1] == '/')
            len--;
        c->urls[i] = strndup(urls[i], len);
        if (!c->urls[i])
            goto fail;
        c->n++;
    }
    c->curl = curl_easy_init();
    if (!c->curl)
        goto fail;
    /* "Expect:" stops curl from waiting for 100-continue on large txns. */
    h = curl_slist_append(NULL, "Expect:");
    if (!h)
        goto fail;
    c->headers = h;
    h = curl_slist_append(c->headers, "Content-Type: application/json");
    if (!h)
        goto fail;
    c->headers = h;
    return c;
fail:
    etcd_free(c);
    return NULL;
}

etcd_client *etcd_new_list(const char *url_list, const etcd_opts *opts)
{
    char *copy;
    const char *urls[MAX_ENDPOINTS], *cur = url_list, *tok;
    size_t n = 0, len;
    etcd_client *c = NULL;

    if (!url_list)
        return NULL;
    copy = strdup(url_list);
    if (!copy)
        return NULL;
    while (coord_next_token(&cur, ",", &tok, &len)) {
        if (n == MAX_ENDPOINTS)
            goto out;
        copy[tok - url_list + len] = '\0';
        urls[n++] = copy + (tok - url_list);
    }
    c = etcd_new(urls, n, opts);
out:
    free(copy);
    return c;
}

void etcd_free(etcd_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->urls[i]);
    curl_slist_free_all(c->headers);
    if (c->curl)
        curl_easy_cleanup(c->curl);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

const char *etcd_last_error(const etcd_client *c)
{
    return c ? c->err : "";
}

const char *etcd_current_endpoint(const etcd_client *c)
{
    return c ? c->urls[c->cur] : "";
}

typedef struct sink {
    char *buf;
    size_t len, alloc, max;
    bool overflow;
} sink;

static size_t on_data(char *data, size_t size, size_t nmemb, void *userp)
{
    sink *k = userp;
    size_t n = size * nmemb;

    if (n > k->max - k->len) {
        k->overflow = true;
        return 0; /* aborts the transfer */
    }
    if (k->len + n + 1 > k->alloc) {
        size_t na = k->alloc ? k->alloc : 4096;
        char *nb;
        while (na < k->len + n + 1)
            na *= 2;
        nb = realloc(k->buf, na);
        if (!nb)
            return 0;
        k->buf = nb;
        k->alloc = na;
    }
    memcpy(k->buf + k->len, data, n);
    k->len += n;
    return n;
}

/* What one try at one member came to. */
typedef enum outcome {
    TRY_OK,          /* *reply is the parsed 200 body */
    TRY_UNREACHED,   /* nothing reached the member: try the next one */
    TRY_UNAVAILABLE, /* the member was reached but could not serve: try the next one */
    TRY_FINAL,       /* a definite answer (an error in *final): do not retry */
} outcome;

/* Maps a gateway error body {"error","message","code"} (or a stream's
 * {"error":{"grpc_code","message"}}) of HTTP status st. */
static outcome map_error(etcd_client *c, long st, const json_t *body, etcd_err *final)
{
    const json_t *e = json_object_get(body, "error");
    json_int_t code = -1;
    const char *msg = NULL;

    if (json_is_object(e)) {
        code = json_integer_value(json_object_get(e, "grpc_code"));
        msg = json_string_value(json_object_get(e, "message"));
    } else {
        if (json_is_integer(json_object_get(body, "code")))
            code = json_integer_value(json_object_get(body, "code"));
        msg = json_string_value(json_object_get(body, "message"));
        if (!msg)
            msg = json_string_value(e);
    }
    if (!msg)
        msg = "(no message)";
    set_err(c, "%s: HTTP %ld, grpc code %lld: %s", c->urls[c->cur], st, (long long)code, msg);
    switch (code) {
    case GRPC_UNAVAILABLE:
    case GRPC_DEADLINE_EXCEEDED:
    case GRPC_ABORTED:
        return TRY_UNAVAILABLE;
    case GRPC_UNKNOWN:
        /* the gateway's own deadline ("context deadline exceeded") while the
         * member waits for a quorum that is not there */
        return TRY_UNAVAILABLE;
    case GRPC_NOT_FOUND:
        *final = ETCD_E_NOT_FOUND;
        return TRY_FINAL;
    case GRPC_INVALID_ARGUMENT:
        *final = strstr(msg, "too large") ? ETCD_E_TOO_LARGE : ETCD_E_INVALID;
        return TRY_FINAL;
    case GRPC_OUT_OF_RANGE:
        *final = strstr(msg, "compacted") ? ETCD_E_COMPACTED : ETCD_E_INVALID;
        return TRY_FINAL;
    case GRPC_RESOURCE_EXHAUSTED:
        /* "database space exceeded": every member shares it, so no failover */
        *final = ETCD_E_UNAVAILABLE;
        return TRY_FINAL;
    case GRPC_FAILED_PRECONDITION:
        *final = ETCD_E_INVALID;
        return TRY_FINAL;
    default:
        if (st >= 500)
            return TRY_UNAVAILABLE;
        *final = ETCD_E_INVALID;
        return TRY_FINAL;
    }
}

static outcome try_once(etcd_client *c, const char *path, const char *payload, long budget_ms,
                        json_t **reply, etcd_err *final)
{
    char url[MAX_URL_LEN + 64];
    char errbuf[CURL_ERROR_SIZE];
    sink k = {NULL, 0, 0, c->o.max_reply, false};
    CURL *h = c->curl;
    CURLcode rc;
    long st = 0, timeout = c->o.request_timeout_ms;
    curl_off_t pretransfer = 0;
    json_t *body = NULL;
    outcome out;

    if (timeout > budget_ms)
        timeout = budget_ms;
    snprintf(url, sizeof(url), "%s%s", c->urls[c->cur], path);
    errbuf[0] = '\0';
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     c->o.connect_timeout_ms < timeout ? c->o.connect_timeout_ms : timeout);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &k);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
    rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    /* set once a connection, new or reused, was ready to carry the request */
    curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);

    if (k.overflow) {
        set_err(c, "%s: reply larger than %zu bytes", c->urls[c->cur], c->o.max_reply);
        *final = ETCD_E_TOO_LARGE;
        out = TRY_FINAL;
        goto done;
    }
    if (rc != CURLE_OK) {
        set_err(c, "%s: %s", c->urls[c->cur], errbuf[0] ? errbuf : curl_easy_strerror(rc));
        /* Connected and then no answer in time (a paused or quorum-less
         * member), or the connection broke mid-request: the request may have
         * been applied. Never connected: it certainly was not. */
        out = pretransfer > 0 ? TRY_UNAVAILABLE : TRY_UNREACHED;
        goto done;
    }
    if (k.len)
        body = json_loadb(k.buf, k.len, JSON_DISABLE_EOF_CHECK, NULL);
    if (st == 200) {
        if (!json_is_object(body)) {
            set_err(c, "%s%s: reply is not a JSON object", c->urls[c->cur], path);
            *final = ETCD_E_BAD_REPLY;
            out = TRY_FINAL;
            goto done;
        }
        *reply = body;
        body = NULL;
        out = TRY_OK;
        goto done;
    }
    out = map_error(c, st, body, final);
done:
    json_decref(body);
    free(k.buf);
    return out;
}

/* Sends req (stolen) to path, failing over across members until one gives a
 * definite answer or timeout_ms passes. The lock must be held. */
static etcd_err call_locked(etcd_client *c, const char *path, json_t *req, json_t **reply)
{
    char *payload;
    long deadline = now_ms() + c->o.timeout_ms;
    bool reached = false;
    etcd_err err = ETCD_E_TRANSPORT;

    *reply = NULL;
    c->err[0] = '\0';
    if (!req)
        return ETCD_E_NOMEM;
    payload = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!payload)
        return ETCD_E_NOMEM;
    for (unsigned round = 0;; round++) {
        bool round_reached = false;
        for (size_t t = 0; t < c->n; t++) {
            long left = deadline - now_ms();
            etcd_err final = ETCD_E_BAD_REPLY;
            outcome o;

            if (left <= 0)
                goto out;
            o = try_once(c, path, payload, left, reply, &final);
            if (o == TRY_OK) {
                err = ETCD_OK;
                goto out;
            }
            if (o == TRY_FINAL) {
                err = final;
                goto out;
            }
            if (o == TRY_UNAVAILABLE)
                round_reached = reached = true;
            c->cur = (c->cur + 1) % c->n;
        }
        /* Every member refused connections: nothing is listening, and
         * waiting out the deadline would only delay saying so. */
        if (!round_reached)
            goto out;
        {
            long left = deadline - now_ms();
            long pause = ROUND_BACKOFF_MS << (round < 4 ? round : 4);
            if (left <= 0)
                goto out;
            sleep_ms(pause < left ? pause : left);
        }
    }
out:
    if (err == ETCD_E_TRANSPORT && reached)
        err = ETCD_E_UNAVAILABLE;
    free(payload);
    return err;
}

static etcd_err call(etcd_client *c, const char *path, json_t *req, json_t **reply)
{
    etcd_err e;

    pthread_mutex_lock(&c->lock);
    e = call_locked(c, path, req, reply);
    pthread_mutex_unlock(&c->lock);
    return e;
}

/* ---- requests ---- */

/* The first key after every key that starts with prefix (etcd's range_end
 * for a prefix); "\0" (every key) when there is none. */
static json_t *prefix_end(const char *prefix)
{
    size_t n = strlen(prefix);
    char *end = malloc(n + 1);
    json_t *j;

    if (!end)
        return NULL;
    memcpy(end, prefix, n);
    while (n > 0 && (unsigned char)end[n - 1] == 0xff)
        n--;
    if (n == 0) {
        free(end);
        return b64_json("\0", 1);
    }
    end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
    j = b64_json(end, n);
    free(end);
    return j;
}

static json_t *key_json(const char *key)
{
    return b64_json(key, strlen(key));
}

/* {"key"[, "range_end"]}: one key, or every key under it. What a
 * DeleteRangeRequest takes, and the start of a RangeRequest. */
static json_t *key_range(const char *key, bool prefix)
{
    json_t *r = json_object();

    if (!r)
        return NULL;
    json_object_set_new(r, "key", key_json(key));
    if (prefix)
        json_object_set_new(r, "range_end", prefix_end(key));
    return r;
}

/* A RangeRequest for one key or a prefix. */
static json_t *range_req(const char *key, bool prefix, size_t limit, int64_t rev)
{
    json_t *r = key_range(key, prefix);

    if (!r)
        return NULL;
    if (limit)
        json_object_set_new(r, "limit", json_integer((json_int_t)limit));
    if (rev)
        json_object_set_new(r, "revision", json_integer(rev));
    return r;
}

static bool valid_key(const char *key)
{
    return key && key[0];
}

etcd_err etcd_get(etcd_client *c, const char *key, etcd_kv *out, int64_t *revision)
{
    json_t *reply;
    etcd_range_result r;
    etcd_err e;

    if (!c || !valid_key(key) || !out)
        return ETCD_E_INVALID;
    e = call(c, "/v3/kv/range", range_req(key, false, 1, 0), &reply);
    if (e)
        return e;
    if (parse_range(reply, &r) < 0) {
        json_decref(reply);
        return ETCD_E_BAD_REPLY;
    }
    json_decref(reply);
    if (r.n == 0) {
        if (revision)
            *revision = r.revision;
        etcd_range_result_release(&r);
        return ETCD_E_NOT_FOUND;
    }
    *out = r.kvs[0];
    memset(&r.kvs[0], 0, sizeof(r.kvs[0]));
    if (revision)
        *revision = r.revision;
    etcd_range_result_release(&r);
    return ETCD_OK;
}

etcd_err etcd_range_prefix(etcd_client *c, const char *prefix, const char *after, size_t limit,
                           int64_t at_revision, etcd_range_result *out)
{
    json_t *req, *reply;
    etcd_err e;
    int bad;

    if (!c || !prefix || !out || at_revision < 0)
        return ETCD_E_INVALID;
    if (after && strncmp(after, prefix, strlen(prefix)) != 0)
        return ETCD_E_INVALID;
    req = json_object();
    if (!req)
        return ETCD_E_NOMEM;
    if (after) {
        /* the smallest key after `after`: after plus one NUL byte */
        size_t n = strlen(after);
        char *k = malloc(n + 1);
        if (!k) {
            json_decref(req);
            return ETCD_E_NOMEM;
        }
        memcpy(k, after, n);
        k[n] = '\0';
        json_object_set_new(req, "key", b64_json(k, n + 1));
        free(k);
    } else {
        json_object_set_new(req, "key", prefix[0] ? key_json(prefix) : b64_json("\0", 1));
    }
    json_object_set_new(req, "range_end", prefix_end(prefix));
    if (limit)
        json_object_set_new(req, "limit", json_integer((json_int_t)limit));
    if (at_revision)
        json_object_set_new(req, "revision", json_integer(at_revision));
    e = call(c, "/v3/kv/range", req, &reply);
    if (e)
        return e;
    bad = parse_range(reply, out);
    json_decref(reply);
    return bad ? ETCD_E_BAD_REPLY : ETCD_OK;
}

etcd_err etcd_range_prefix_all(etcd_client *c, const char *prefix, size_t page,
                               int (*fn)(const etcd_kv *kv, void *arg), void *arg,
                               int64_t *revision)
{
    etcd_range_result r;
    char *after = NULL;
    int64_t rev = 0;
    etcd_err e;

    if (!c || !prefix || !fn)
        return ETCD_E_INVALID;
    if (page == 0)
        page = 1000;
    for (;;) {
        e = etcd_range_prefix(c, prefix, after, page, rev, &r);
        if (e)
            goto out;
        if (rev == 0)
            rev = r.revision;
        for (size_t i = 0; i < r.n; i++) {
            if (fn(&r.kvs[i], arg)) {
                etcd_range_result_release(&r);
                goto out;
            }
        }
        if (!r.more || r.n == 0) {
            etcd_range_result_release(&r);
            goto out;
        }
        free(after);
        after = r.kvs[r.n - 1].key;
        r.kvs[r.n - 1].key = NULL;
        etcd_range_result_release(&r);
    }
out:
    free(after);
    if (e == ETCD_OK && revision)
        *revision = rev;
    return e;
}

static json_t *put_req(const char *key, const void *value, size_t len, int64_t lease)
{
    json_t *r = json_object();

    if (!r)
        return NULL;
    json_object_set_new(r, "key", key_json(key));
    json_object_set_new(r, "value", b64_json(value ? value : "", value ? len : 0));
    if (lease)
        json_object_set_new(r, "lease", json_integer(lease));
    return r;
}

/* For calls whose reply carries nothing but the header. */
static etcd_err call_revision(etcd_client *c, const char *path, json_t *req, const char *count,
                              int64_t *n, int64_t *revision)
{
    json_t *reply;
    int64_t rev, cnt = 0;
    etcd_err e = call(c, path, req, &reply);

    if (e)
        return e;
    if (header_revision(reply, &rev) < 0 || (count && get_i64(reply, count, &cnt) < 0)) {
        json_decref(reply);
        return ETCD_E_BAD_REPLY;
    }
    json_decref(reply);
    if (revision)
        *revision = rev;
    if (n)
        *n = cnt;
    return ETCD_OK;
}

etcd_err etcd_put(etcd_client *c, const char *key, const void *value, size_t len, int64_t lease,
                  int64_t *revision)
{
    if (!c || !valid_key(key) || (len && !value) || lease < 0)
        return ETCD_E_INVALID;
    return call_revision(c, "/v3/kv/put", put_req(key, value, len, lease), NULL, NULL, revision);
}

etcd_err etcd_delete(etcd_client *c, const char *key, int64_t *deleted, int64_t *revision)
{
    if (!c || !valid_key(key))
        return ETCD_E_INVALID;
    return call_revision(c, "/v3/kv/deleterange", key_range(key, false), "deleted", deleted,
                         revision);
}

etcd_err etcd_delete_prefix(etcd_client *c, const char *prefix, int64_t *deleted, int64_t *revision)
{
    /* an empty prefix would delete the whole store: refuse it */
    if (!c || !valid_key(prefix))
        return ETCD_E_INVALID;
    return call_revision(c, "/v3/kv/deleterange", key_range(prefix, true), "deleted", deleted,
                         revision);
}

/* ---- transactions ---- */

static json_t *cmp_json(const etcd_cmp *cmp)
{
    static const char *const targets[] = {"VALUE", "CREATE", "MOD", "VERSION", "LEASE"};
    static const char *const fields[] = {"value", "create_revision", "mod_revision", "version",
                                         "lease"};
    static const char *const ops[] = {"EQUAL", "NOT_EQUAL", "LESS", "GREATER"};
    json_t *j;

    if (!valid_key(cmp->key) || (unsigned)cmp->target > ETCD_CMP_LEASE ||
        (unsigned)cmp->op > ETCD_GT || (cmp->value_len && !cmp->value))
        return NULL;
    j = json_object();
    if (!j)
        return NULL;
    json_object_set_new(j, "key", key_json(cmp->key));
    json_object_set_new(j, "target", json_string(targets[cmp->target]));
    json_object_set_new(j, "result", json_string(ops[cmp->op]));
    if (cmp->target == ETCD_CMP_VALUE)
        json_object_set_new(j, fields[cmp->target],
                            b64_json(cmp->value ? cmp->value : "", cmp->value_len));
    else
        json_object_set_new(j, fields[cmp->target], json_integer(cmp->number));
    return j;
}

static json_t *op_json(const etcd_op *op)
{
    json_t *inner;

    if (!valid_key(op->key))
        return NULL;
    switch (op->kind) {
    case ETCD_OP_PUT:
        if ((op->value_len && !op->value) || op->lease < 0 || op->prefix)
            return NULL;
        inner = put_req(op->key, op->value, op->value_len, op->lease);
        return inner ? json_pack("{s:o}", "request_put", inner) : NULL;
    case ETCD_OP_DELETE:
        inner = key_range(op->key, op->prefix);
        return inner ? json_pack("{s:o}", "request_delete_range", inner) : NULL;
    case ETCD_OP_RANGE:
        inner = range_req(op->key, op->prefix, op->limit, 0);
        return inner ? json_pack("{s:o}", "request_range", inner) : NULL;
    }
    return NULL;
}

static json_t *ops_json(const etcd_op *ops, size_t n)
{
    json_t *a = json_array();

    if (!a)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *o = op_json(&ops[i]);
        if (!o || json_array_append_new(a, o) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

void etcd_txn_result_release(etcd_txn_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        etcd_range_result_release(&r->results[i].range);
    free(r->results);
    memset(r, 0, sizeof(*r));
}

/* The responses of the branch that ran; ops are what was sent for it. */
static int parse_txn(const json_t *reply, const etcd_op *ops, size_t nops, etcd_txn_result *out)
{
    const json_t *resps = json_object_get(reply, "responses");
    etcd_txn_result r = {0};
    size_t n = resps ? json_array_size(resps) : 0;

    if ((resps && !json_is_array(resps)) || n != nops)
        return -1;
    if (get_bool(reply, "succeeded", &r.succeeded) < 0 || header_revision(reply, &r.revision) < 0)
        return -1;
    if (n) {
        r.results = calloc(n, sizeof(*r.results));
        if (!r.results)
            return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(resps, i);
        etcd_op_result *res = &r.results[i];

        res->kind = ops[i].kind;
        r.n++;
        switch (ops[i].kind) {
        case ETCD_OP_PUT:
            if (!json_is_object(json_object_get(x, "response_put")))
                goto bad;
            break;
        case ETCD_OP_DELETE:
            if (get_i64(json_object_get(x, "response_delete_range"), "deleted", &res->deleted) <
                    0 ||
                !json_object_get(x, "response_delete_range"))
                goto bad;
            break;
        case ETCD_OP_RANGE:
            if (parse_range(json_object_get(x, "response_range"), &res->range) < 0)
                goto bad;
            break;
        }
    }
    *out = r;
    return 0;
bad:
    etcd_txn_result_release(&r);
    return -1;
}

etcd_err etcd_txn(etcd_client *c, const etcd_cmp *cmps, size_t ncmp, const etcd_op *success,
                  size_t nsuccess, const etcd_op *failure, size_t nfailure, etcd_txn_result *out)
{
    json_t *req, *jc, *js, *jf, *reply;
    etcd_txn_result r;
    etcd_err e;

    if (!c || (ncmp && !cmps) || (nsuccess && !success) || (nfailure && !failure))
        return ETCD_E_INVALID;
    jc = json_array();
    for (size_t i = 0; jc && i < ncmp; i++) {
        json_t *x = cmp_json(&cmps[i]);
        if (!x || json_array_append_new(jc, x) < 0) {
            json_decref(jc);
            return ETCD_E_INVALID;
        }
    }
    js = ops_json(success, nsuccess);
    jf = ops_json(failure, nfailure);
    if (!jc || !js || !jf) {
        json_decref(jc);
        json_decref(js);
        json_decref(jf);
        return ETCD_E_INVALID;
    }
    req = json_pack("{s:o,s:o,s:o}", "compare", jc, "success", js, "failure", jf);
    e = call(c, "/v3/kv/txn", req, &reply);
    if (e)
        return e;
    {
        bool ok = false;
        if (get_bool(reply, "succeeded", &ok) < 0 ||
            parse_txn(reply, ok ? success : failure, ok ? nsuccess : nfailure, &r) < 0) {
            json_decref(reply);
            return ETCD_E_BAD_REPLY;
        }
    }
    json_decref(reply);
    e = r.succeeded ? ETCD_OK : ETCD_E_COMPARE_FAILED;
    if (out)
        *out = r;
    else
        etcd_txn_result_release(&r);
    return e;
}

/* ---- leases ---- */

etcd_err etcd_lease_grant(etcd_client *c, int64_t ttl_s, int64_t *id, int64_t *ttl_granted)
{
    json_t *reply;
    int64_t lid, ttl;
    etcd_err e;

    if (!c || ttl_s <= 0 || !id)
        return ETCD_E_INVALID;
    e = call(c, "/v3/lease/grant", json_pack("{s:I}", "TTL", (json_int_t)ttl_s), &reply);
    if (e)
        return e;
    if (get_i64(reply, "ID", &lid) < 0 || get_i64(reply, "TTL", &ttl) < 0 || lid == 0) {
        const char *msg = json_string_value(json_object_get(reply, "error"));
        set_err(c, "lease grant: %s", msg ? msg : "no lease id in the reply");
        json_decref(reply);
        return ETCD_E_BAD_REPLY;
    }
    json_decref(reply);
    *id = lid;
    if (ttl_granted)
        *ttl_granted = ttl;
    return ETCD_OK;
}

/* A lease request {"ID": id} to path. */
static etcd_err lease_call(etcd_client *c, const char *path, int64_t id, json_t **reply)
{
    if (!c || id <= 0)
        return ETCD_E_INVALID;
    return call(c, path, json_pack("{s:I}", "ID", (json_int_t)id), reply);
}

etcd_err etcd_lease_keepalive_once(etcd_client *c, int64_t id, int64_t *ttl_left)
{
    json_t *reply, *res;
    int64_t ttl;
    /* The gateway turns the bidirectional stream into one request body and
     * a stream of {"result":...} messages; one message in, one out. */
    etcd_err e = lease_call(c, "/v3/lease/keepalive", id, &reply);

    if (e)
        return e;
    res = json_object_get(reply, "result");
    if (!json_is_object(res)) {
        if (json_is_object(json_object_get(reply, "error"))) {
            etcd_err f = ETCD_E_UNAVAILABLE;
            if (map_error(c, 200, reply, &f) != TRY_FINAL)
                f = ETCD_E_UNAVAILABLE;
            json_decref(reply);
            return f;
        }
        json_decref(reply);
        return ETCD_E_BAD_REPLY;
    }
    if (get_i64(res, "TTL", &ttl) < 0) {
        json_decref(reply);
        return ETCD_E_BAD_REPLY;
    }
    json_decref(reply);
    /* etcd answers a keep-alive for a lease it no longer has with TTL 0 */
    if (ttl <= 0) {
        set_err(c, "lease %" PRId64 " not found", id);
        return ETCD_E_NOT_FOUND;
    }
    if (ttl_left)
        *ttl_left = ttl;
    return ETCD_OK;
}

etcd_err etcd_lease_revoke(etcd_client *c, int64_t id)
{
    if (!c || id <= 0)
        return ETCD_E_INVALID;
    return call_revision(c, "/v3/lease/revoke", json_pack("{s:I}", "ID", (json_int_t)id), NULL,
                         NULL, NULL);
}

etcd_err etcd_lease_ttl(etcd_client *c, int64_t id, int64_t *ttl_left, int64_t *ttl_granted)
{
    json_t *reply;
    int64_t ttl, granted;
    etcd_err e = lease_call(c, "/v3/lease/timetolive", id, &reply);

    if (e)
        return e;
    if (get_i64(reply, "TTL", &ttl) < 0 || get_i64(reply, "grantedTTL", &granted) < 0) {
        json_decref(reply);
        return ETCD_E_BAD_REPLY;
    }
    json_decref(reply);
    /* TimeToLive answers -1 for a lease that is gone */
    if (ttl < 0) {
        set_err(c, "lease %" PRId64 " not found", id);
        return ETCD_E_NOT_FOUND;
    }
    if (ttl_left)
        *ttl_left = ttl;
    if (ttl_granted)
        *ttl_granted = granted;
    return ETCD_OK;
}
