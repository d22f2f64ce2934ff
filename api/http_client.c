/* HTTP/JSON client on the libcurl easy API. Each thread keeps one easy handle
 * (curl_easy_reset keeps its connection cache), so calls to the same peer
 * reuse a kept-alive connection. It also holds the process's outgoing
 * credential (sent on every call) and the CA bundle trusted for https. */
#include "http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CONNECT_MS 1000L
#define DEFAULT_TIMEOUT_MS 3000L
#define DEFAULT_BACKOFF_MS 100L
#define DEFAULT_MAX_REPLY  ((size_t)8 << 20)
#define MAX_BACKOFF_MS     30000L

static _Thread_local CURL *tl_curl;
/* Threads we do not own (libmicrohttpd's workers) never call
 * http_client_thread_cleanup(); a key destructor frees their handle when
 * they exit. */
static pthread_key_t curl_key;
static pthread_once_t curl_key_once = PTHREAD_ONCE_INIT;

static void curl_key_destroy(void *h)
{
    curl_easy_cleanup(h);
}

static void curl_key_make(void)
{
    pthread_key_create(&curl_key, curl_key_destroy);
}
/* Set once at start, before any thread calls out (http_client.h). */
static char auth_header[sizeof("Authorization: Bearer ") + 256];
static char ca_file[4096];

static _Thread_local unsigned tl_seed;
static _Thread_local bool tl_seeded;

/* One name cache for every thread's handle: each handle keeps its own
 * otherwise, so a pool of fresh threads looks every peer's name up again,
 * and where lookups are slow (a container network's resolver) each first
 * call can spend its whole connect timeout on the lookup. */
static CURLSH *dns_share;
static pthread_mutex_t dns_mu = PTHREAD_MUTEX_INITIALIZER;

static void dns_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
    (void)h, (void)d, (void)a, (void)u;
    pthread_mutex_lock(&dns_mu);
}

static void dns_unlock(CURL *h, curl_lock_data d, void *u)
{
    (void)h, (void)d, (void)u;
    pthread_mutex_unlock(&dns_mu);
}

int http_client_global_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    dns_share = curl_share_init();
    if (dns_share &&
        (curl_share_setopt(dns_share, CURLSHOPT_LOCKFUNC, dns_lock) != CURLSHE_OK ||
         curl_share_setopt(dns_share, CURLSHOPT_UNLOCKFUNC, dns_unlock) != CURLSHE_OK ||
         curl_share_setopt(dns_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK)) {
        curl_share_cleanup(dns_share);
        dns_share = NULL; /* each handle keeps its own cache, as before */
    }
    return 0;
}

void http_client_global_cleanup(void)
{
    explicit_bzero(auth_header, sizeof(auth_header));
    /* Refused (and left) while a thread's handle still uses it. */
    if (dns_share && curl_share_cleanup(dns_share) == CURLSHE_OK)
        dns_share = NULL;
    curl_global_cleanup();
}

int http_client_set_token(const char *token)
{
    if (!token) {
        explicit_bzero(auth_header, sizeof(auth_header));
        return 0;
    }
    if (strlen(token) > sizeof(auth_header) - sizeof("Authorization: Bearer "))
        return -1;
    snprintf(auth_header, sizeof(auth_header), "Authorization: Bearer %s", token);
    return 0;
}

int http_client_set_ca_file(const char *path)
{
    if (!path) {
        ca_file[0] = '\0';
        return 0;
    }
    if (strlen(path) >= sizeof(ca_file))
        return -1;
    snprintf(ca_file, sizeof(ca_file), "%s", path);
    return 0;
}

void http_client_thread_cleanup(void)
{
    if (tl_curl) {
        pthread_once(&curl_key_once, curl_key_make);
        pthread_setspecific(curl_key, NULL);
        curl_easy_cleanup(tl_curl);
        tl_curl = NULL;
    }
}

void http_reply_release(http_reply *r)
{
    if (!r)
        return;
    json_decref(r->body);
    r->body = NULL;
    free(r->raw);
    r->raw = NULL;
    r->raw_len = 0;
    free(r->location);
    r->location = NULL;
    r->location_cut = false;
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
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (k->len + n > k->alloc) {
        size_t na = k->alloc ? k->alloc : 4096;
        char *nb;
        while (na < k->len + n)
            na *= 2;
        if (na > k->max)
            na = k->max;
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

/* The Location header of the reply being read (the last one wins). */
typedef struct loc_sink {
    char buf[HTTP_LOCATION_MAX + 1];
    size_t len;
    bool seen, cut;
} loc_sink;

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    loc_sink *l = userp;
    size_t n = size * nmemb, i = 9;

    if (n < 9 || strncasecmp(data, "location:", 9) != 0)
        return n;
    while (i < n && (data[i] == ' ' || data[i] == '\t'))
        i++;
    while (n > i && (data[n - 1] == '\r' || data[n - 1] == '\n' || data[n - 1] == ' '))
        n--;
    l->seen = true;
    l->cut = n - i > HTTP_LOCATION_MAX;
    l->len = l->cut ? HTTP_LOCATION_MAX : n - i;
    memcpy(l->buf, data + i, l->len);
    l->buf[l->len] = '\0';
    return size * nmemb;
}

static void backoff_sleep(long base_ms, unsigned attempt)
{
    long d = base_ms;
    struct timespec ts;

    for (unsigned i = 0; i < attempt && d < MAX_BACKOFF_MS; i++)
        d *= 2;
    if (d > MAX_BACKOFF_MS)
        d = MAX_BACKOFF_MS;
    if (!tl_seeded) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        tl_seed = (unsigned)now.tv_nsec ^ (unsigned)(uintptr_t)&tl_seed ^ (unsigned)getpid();
        tl_seeded = true;
    }
    /* uniform in [d/2, 3d/2]: +-50% jitter so retrying peers spread out */
    d = d / 2 + (long)((unsigned long)rand_r(&tl_seed) % (unsigned long)(d + 1));
    ts.tv_sec = d / 1000;
    ts.tv_nsec = (d % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static bool retryable_status(long st)
{
    return st == 502 || st == 503 || st == 504;
}

static void set_error(http_reply *reply, const char *msg)
{
    size_t n = strnlen(msg, sizeof(reply->error) - 1);

    memcpy(reply->error, msg, n);
    reply->error[n] = '\0';
}

static CURL *thread_handle(void)
{
    if (!tl_curl) {
        tl_curl = curl_easy_init();
        pthread_once(&curl_key_once, curl_key_make);
        pthread_setspecific(curl_key, tl_curl);
    } else
        curl_easy_reset(tl_curl);
    return tl_curl;
}

/* One request. Returns the CURLcode; fills *status and the sink. */
static CURLcode perform(CURL *c, const char *method, const char *url, const char *payload,
                        struct curl_slist *headers, const http_opts *o, sink *k, loc_sink *l,
                        char *errbuf, long *status, bool *sent)
{
    long request_bytes = 0;
    CURLcode rc;

    errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    /* Verification stays on whatever the URL; --ca-file only says whom to trust. */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca_file[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (dns_share)
        curl_easy_setopt(c, CURLOPT_SHARE, dns_share);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075700
    /* Without it a timed-out name lookup still waits for its resolver
     * thread (getaddrinfo: 2 x 5 s with a silent DNS server) before the call
     * returns, so a 500 ms connect timeout became 10 s (seen in the
     * container city). With it the thread is left to finish on its own. */
    curl_easy_setopt(c, CURLOPT_QUICK_EXIT, 1L);
#endif
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, l);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_reply);

    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (payload) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "POST") == 0) {
        /* an empty POST still says Content-Length: 0 */
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }

    rc = curl_easy_perform(c);
    *status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    /* Request bytes handed to the connection: the peer may have it. */
    if (curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &request_bytes) != CURLE_OK ||
        request_bytes > 0)
        *sent = true;
    /* Drop the pointers to this call's stack; the connections stay cached. */
    curl_easy_reset(c);
    return rc;
}

int http_json(const char *method, const char *url, const json_t *body, const http_opts *opts,
              http_reply *reply)
{
    http_opts o = {0};
    struct curl_slist *headers = NULL, *h;
    char *payload = NULL;
    char errbuf[CURL_ERROR_SIZE];
    int ret = -1;

    if (!reply)
        return -1;
    memset(reply, 0, sizeof(*reply));
    if (!method || !url) {
        set_error(reply, "no method or URL");
        return -1;
    }
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        set_error(reply, "only http:// and https:// URLs are supported");
        return -1;
    }
    if (opts)
        o = *opts;
    if (o.connect_timeout_ms <= 0)
        o.connect_timeout_ms = DEFAULT_CONNECT_MS;
    if (o.timeout_ms <= 0)
        o.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (o.backoff_ms <= 0)
        o.backoff_ms = DEFAULT_BACKOFF_MS;
    if (o.max_reply == 0)
        o.max_reply = DEFAULT_MAX_REPLY;

    if (body) {
        payload = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!payload) {
            set_error(reply, "could not serialize the request body");
            return -1;
        }
    }
    /* "Expect:" stops curl from waiting for 100-continue on large bodies. */
    h = curl_slist_append(headers, "Expect:");
    if (h)
        headers = h;
    h = curl_slist_append(headers, "Accept: application/json");
    if (h)
        headers = h;
    if (auth_header[0]) {
        /* Without it the call would only be refused (401), later and less clearly. */
        h = curl_slist_append(headers, auth_header);
        if (!h) {
            set_error(reply, "out of memory");
            goto out;
        }
        headers = h;
    }
    if (payload) {
        h = curl_slist_append(headers, "Content-Type: application/json");
        if (!h) {
            set_error(reply, "out of memory");
            goto out;
        }
        headers = h;
    }

    for (unsigned attempt = 0;; attempt++) {
        sink k = {NULL, 0, 0, o.max_reply, false};
        loc_sink l;
        CURL *c = thread_handle();
        CURLcode rc;
        long status = 0;
        bool last = attempt >= o.retries;

        if (!c) {
            set_error(reply, "could not create a curl handle");
            goto out;
        }
        l.seen = l.cut = false;
        l.len = 0;
        rc = perform(c, method, url, payload, headers, &o, &k, &l, errbuf, &status, &reply->sent);
        if (rc == CURLE_OK && (!retryable_status(status) || last)) {
            reply->status = status;
            if (l.seen && status >= 300 && status < 400) {
                reply->location = strdup(l.buf);
                reply->location_cut = l.cut;
            }
            if (o.raw && k.len) {
                /* For a caller that reads the parts of a reply on its own
                 * (one bad part must not make the rest unreadable). */
                reply->raw = k.buf;
                reply->raw_len = k.len;
                k.buf = NULL;
            } else if (k.len) {
                reply->body = json_loadb(k.buf, k.len, JSON_REJECT_DUPLICATES, NULL);
            }
            free(k.buf);
            ret = 0;
            goto out;
        }
        free(k.buf);
        if (rc == CURLE_FILESIZE_EXCEEDED || k.overflow) {
            snprintf(reply->error, sizeof(reply->error), "reply larger than %zu bytes",
                     o.max_reply);
            goto out; /* not transient: retrying cannot help */
        }
        if (rc != CURLE_OK)
            set_error(reply, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        if (last)
            goto out;
        backoff_sleep(o.backoff_ms, attempt);
    }

out:
    curl_slist_free_all(headers);
    free(payload);
    return ret;
}
