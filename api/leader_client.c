/* The set of one district's broker URLs and the call that finds its
 * leader (leader_client.h): follow a follower's 307 to the origin it names,
 * rotate over the set on a dead URL or one without a leader. The set's
 * mutex guards only its arrays; every request runs outside it. */
#include "leader_client.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 3000L
#define DEFAULT_BACKOFF_MS 50L
#define MAX_BACKOFF_MS     500L
#define HOST_MAX           253

void leader_set_init(leader_set *ls)
{
    memset(ls, 0, sizeof(*ls));
    pthread_mutex_init(&ls->mu, NULL);
}

void leader_set_release(leader_set *ls)
{
    if (!ls)
        return;
    pthread_mutex_destroy(&ls->mu);
    memset(ls, 0, sizeof(*ls));
}

static bool host_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

/* Parses scheme://host[:port] at the start of url; *rest points past it.
 * The host is a name or IPv4 literal ([A-Za-z0-9._-]) or a bracketed IPv6
 * literal; no user info, so "http://good@evil" is refused. */
static int parse_origin(const char *url, char *out, size_t outsz, const char **rest)
{
    const char *p, *h;
    size_t skip, hlen;
    const char *scheme;
    long port = -1;
    int n;

    if (!url)
        return -1;
    if (strncasecmp(url, "http://", 7) == 0) {
        scheme = "http";
        skip = 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        scheme = "https";
        skip = 8;
    } else
        return -1;
    h = p = url + skip;
    if (*p == '[') {
        p++;
        while (isxdigit((unsigned char)*p) || *p == ':' || *p == '.')
            p++;
        if (*p != ']' || p == h + 1)
            return -1;
        p++;
    } else {
        while (host_char(*p))
            p++;
    }
    hlen = (size_t)(p - h);
    if (hlen == 0 || hlen > HOST_MAX)
        return -1;
    if (*p == ':') {
        const char *d = ++p;
        port = 0;
        while (isdigit((unsigned char)*p) && p - d < 6)
            port = port * 10 + (*p++ - '0');
        if (p == d || port < 1 || port > 65535 || isdigit((unsigned char)*p))
            return -1;
    }
    if (*p != '\0' && *p != '/' && *p != '?')
        return -1;
    if (port >= 0)
        n = snprintf(out, outsz, "%s://%.*s:%ld", scheme, (int)hlen, h, port);
    else
        n = snprintf(out, outsz, "%s://%.*s", scheme, (int)hlen, h);
    if (n < 0 || (size_t)n >= outsz)
        return -1;
    if (rest)
        *rest = p;
    return 0;
}

int leader_origin(const char *url, char *out, size_t outsz)
{
    char tmp[LEADER_URL_MAX];

    if (!url || strnlen(url, LEADER_URL_MAX + LEADER_PATH_MAX + 1) > LEADER_URL_MAX + LEADER_PATH_MAX)
        return -1;
    if (parse_origin(url, tmp, sizeof(tmp), NULL) < 0 || strlen(tmp) >= outsz)
        return -1;
    memcpy(out, tmp, strlen(tmp) + 1);
    return 0;
}

static bool same_scheme(const char *a, const char *b)
{
    return (strncmp(a, "https:", 6) == 0) == (strncmp(b, "https:", 6) == 0);
}

static ssize_t find_locked(const leader_set *ls, const char *origin)
{
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(ls->urls[i], origin) == 0)
            return (ssize_t)i;
    return -1;
}

/* Adds origin (already checked) or finds it; its index, or -1 when the set
 * is full and replace is false. A full set replaces its oldest entry. */
static ssize_t add_locked(leader_set *ls, const char *origin, bool replace)
{
    ssize_t i = find_locked(ls, origin);
    size_t at;

    if (i >= 0)
        return i;
    if (ls->n < LEADER_URLS_MAX) {
        at = ls->n++;
    } else {
        if (!replace)
            return -1;
        at = 0;
        for (size_t k = 1; k < ls->n; k++)
            if (ls->added[k] < ls->added[at])
                at = k;
    }
    memcpy(ls->urls[at], origin, strlen(origin) + 1);
    ls->added[at] = ++ls->next_added;
    return (ssize_t)at;
}

int leader_set_add(leader_set *ls, const char *url)
{
    char origin[LEADER_URL_MAX];
    const char *rest;
    int ret = -1;

    if (!ls || strnlen(url ? url : "", LEADER_URL_MAX) >= LEADER_URL_MAX ||
        parse_origin(url, origin, sizeof(origin), &rest) < 0 || (*rest && strcmp(rest, "/") != 0))
        return -1;
    pthread_mutex_lock(&ls->mu);
    if ((ls->n == 0 || same_scheme(ls->urls[0], origin)) && add_locked(ls, origin, false) >= 0)
        ret = 0;
    pthread_mutex_unlock(&ls->mu);
    return ret;
}

int leader_set_add_list(leader_set *ls, const char *list)
{
    char one[LEADER_URL_MAX];
    const char *p = list;
    size_t count = 0;

    if (!ls || !list || !*list)
        return -1;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);

        if (len == 0 || len >= sizeof(one) || count == LEADER_URLS_MAX)
            return -1;
        memcpy(one, p, len);
        one[len] = '\0';
        if (leader_set_add(ls, one) < 0)
            return -1;
        count++;
        p += len;
        if (*p == ',') {
            p++;
            if (!*p)
                return -1; /* a trailing comma is a typo, not an empty URL */
        }
    }
    pthread_mutex_lock(&ls->mu);
    ls->learn = ls->n == 1;
    pthread_mutex_unlock(&ls->mu);
    return 0;
}

int leader_list_normalize(const char *list, size_t max, char *out, size_t outsz)
{
    char one[LEADER_URL_MAX], origin[LEADER_URL_MAX], first[LEADER_URL_MAX] = "";
    const char *p = list, *rest;
    size_t len = 0, n = 0;

    if (!list || !*list || !out || outsz == 0)
        return -1;
    out[0] = '\0';
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t k = comma ? (size_t)(comma - p) : strlen(p);

        if (k == 0 || k >= sizeof(one))
            return -1;
        memcpy(one, p, k);
        one[k] = '\0';
        if (parse_origin(one, origin, sizeof(origin), &rest) < 0 || (*rest && strcmp(rest, "/")) ||
            (n && !same_scheme(first, origin)))
            return -1;
        if (n == 0)
            memcpy(first, origin, sizeof(first));
        bool dup = false;
        for (const char *q = out; *q && !dup; q += strcspn(q, ","), q += *q == ',')
            dup = strncmp(q, origin, strlen(origin)) == 0 &&
                  (q[strlen(origin)] == ',' || q[strlen(origin)] == '\0');
        if (!dup) {
            int w;

            if (n == max)
                return -1;
            w = snprintf(out + len, outsz - len, "%s%s", n ? "," : "", origin);
            if (w < 0 || (size_t)w >= outsz - len)
                return -1;
            len += (size_t)w;
            n++;
        }
        if (!comma)
            return (int)n;
        p = comma + 1;
    }
}

int leader_set_replace(leader_set *ls, const char *const *urls, size_t n)
{
    char origins[LEADER_URLS_MAX][LEADER_URL_MAX];
    char cur[LEADER_URL_MAX] = "";
    const char *rest;

    if (!ls || n == 0 || n > LEADER_URLS_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!urls[i] || strnlen(urls[i], LEADER_URL_MAX) >= LEADER_URL_MAX ||
            parse_origin(urls[i], origins[i], sizeof(origins[i]), &rest) < 0 ||
            (*rest && strcmp(rest, "/") != 0) || !same_scheme(origins[0], origins[i]))
            return -1;
    pthread_mutex_lock(&ls->mu);
    if (ls->n)
        memcpy(cur, ls->urls[ls->current], sizeof(cur));
    ls->n = 0;
    ls->current = 0;
    for (size_t i = 0; i < n; i++)
        (void)add_locked(ls, origins[i], false);
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(ls->urls[i], cur) == 0)
            ls->current = i;
    pthread_mutex_unlock(&ls->mu);
    return 0;
}

size_t leader_set_count(leader_set *ls)
{
    size_t n;

    pthread_mutex_lock(&ls->mu);
    n = ls->n;
    pthread_mutex_unlock(&ls->mu);
    return n;
}

static int copy_out(const char *s, char *out, size_t outsz)
{
    size_t len = strlen(s);

    if (!out || len >= outsz)
        return -1;
    memcpy(out, s, len + 1);
    return 0;
}

int leader_set_url(leader_set *ls, size_t i, char *out, size_t outsz)
{
    int ret = -1;

    pthread_mutex_lock(&ls->mu);
    if (i < ls->n)
        ret = copy_out(ls->urls[i], out, outsz);
    pthread_mutex_unlock(&ls->mu);
    return ret;
}

int leader_set_current(leader_set *ls, char *out, size_t outsz)
{
    int ret = -1;

    pthread_mutex_lock(&ls->mu);
    if (ls->n)
        ret = copy_out(ls->urls[ls->current], out, outsz);
    pthread_mutex_unlock(&ls->mu);
    return ret;
}

int leader_set_use(leader_set *ls, const char *url)
{
    char origin[LEADER_URL_MAX];
    ssize_t i = -1;

    if (leader_origin(url, origin, sizeof(origin)) < 0)
        return -1;
    pthread_mutex_lock(&ls->mu);
    i = find_locked(ls, origin);
    if (i >= 0)
        ls->current = (size_t)i;
    pthread_mutex_unlock(&ls->mu);
    return i >= 0 ? 0 : -1;
}

bool leader_set_has(leader_set *ls, const char *url)
{
    char origin[LEADER_URL_MAX];
    bool has;

    if (leader_origin(url, origin, sizeof(origin)) < 0)
        return false;
    pthread_mutex_lock(&ls->mu);
    has = find_locked(ls, origin) >= 0;
    pthread_mutex_unlock(&ls->mu);
    return has;
}

json_t *leader_set_json(leader_set *ls)
{
    json_t *a = json_array();

    pthread_mutex_lock(&ls->mu);
    for (size_t i = 0; a && i < ls->n; i++)
        json_array_append_new(a, json_string(ls->urls[i]));
    pthread_mutex_unlock(&ls->mu);
    return a;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void pause_ms(long base, unsigned round, long remaining)
{
    static _Thread_local unsigned seed;
    struct timespec ts;
    long d = base;

    for (unsigned i = 1; i < round && d < MAX_BACKOFF_MS; i++)
        d *= 2;
    if (d > MAX_BACKOFF_MS)
        d = MAX_BACKOFF_MS;
    if (!seed)
        seed = (unsigned)now_ms() ^ (unsigned)(uintptr_t)&seed ^ (unsigned)getpid();
    /* +-50%: callers that lost the same leader spread out */
    d = d / 2 + (long)((unsigned long)rand_r(&seed) % (unsigned long)(d + 1));
    if (d > remaining)
        d = remaining;
    if (d <= 0)
        return;
    ts.tv_sec = d / 1000;
    ts.tv_nsec = (d % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void reply_error(http_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply_error(http_reply *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
}

/* The origin a 307/308 points at, or -1 with the reason in reply->error. */
static int redirect_target(leader_set *ls, http_reply *r, char *origin, size_t osz)
{
    const char *loc = r->location;
    ssize_t i;
    int ret = -1;

    if (!loc || !*loc) {
        reply_error(r, "%s without a Location", "redirect");
        return -1;
    }
    if (r->location_cut || strlen(loc) > LEADER_URL_MAX + LEADER_PATH_MAX) {
        reply_error(r, "refused Location: %s", "longer than a sane URL");
        return -1;
    }
    if (leader_origin(loc, origin, osz) < 0) {
        reply_error(r, "refused Location: %s", "not an absolute http(s) URL");
        return -1;
    }
    pthread_mutex_lock(&ls->mu);
    if (ls->n && !same_scheme(ls->urls[0], origin)) {
        reply_error(r, "refused Location: %s", "another scheme than the set's");
    } else if ((i = find_locked(ls, origin)) >= 0 || (ls->learn && (i = add_locked(ls, origin, true)) >= 0)) {
        ls->current = (size_t)i;
        ret = 0;
    } else {
        reply_error(r, "refused Location: %s", "an origin not in the set");
    }
    pthread_mutex_unlock(&ls->mu);
    return ret;
}

/* After url failed: the next URL becomes current, unless another call has
 * moved current away from url already (it knows better). */
static void rotate_from(leader_set *ls, const char *url)
{
    pthread_mutex_lock(&ls->mu);
    if (ls->n && strcmp(ls->urls[ls->current], url) == 0)
        ls->current = (ls->current + 1) % ls->n;
    pthread_mutex_unlock(&ls->mu);
}

static bool retryable(long st)
{
    return st == 502 || st == 503 || st == 504;
}

int leader_call(leader_set *ls, const char *method, const char *path, const json_t *body,
                const leader_call_opts *opts, http_reply *reply, char *used, size_t usedsz)
{
    leader_call_opts o = {0};
    char base[LEADER_URL_MAX], full[LEADER_URL_MAX + LEADER_PATH_MAX];
    unsigned redirects = 0, failures = 0, refusals = 0;
    bool sent = false; /* any try so far: the service may have acted on it */
    long deadline, try_ms;
    size_t n;

    if (!reply)
        return -1;
    memset(reply, 0, sizeof(*reply));
    if (!ls || !method || !path || path[0] != '/' || strlen(path) >= LEADER_PATH_MAX) {
        reply_error(reply, "%s", "no set, method or path");
        return -1;
    }
    if (opts)
        o = *opts;
    if (o.http.timeout_ms <= 0)
        o.http.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (o.backoff_ms <= 0)
        o.backoff_ms = DEFAULT_BACKOFF_MS;
    n = leader_set_count(ls);
    if (n == 0) {
        reply_error(reply, "%s", "no broker URL");
        return -1;
    }
    try_ms = o.try_timeout_ms > 0 ? o.try_timeout_ms
                                  : (n == 1 ? o.http.timeout_ms : o.http.timeout_ms / 2);
    deadline = now_ms() + o.http.timeout_ms;

    for (;;) {
        http_opts h = o.http;
        long remaining = deadline - now_ms();
        int rc;

        if (remaining <= 0) {
            if (!reply->error[0])
                reply_error(reply, "%s", "timed out finding the leader");
            return -1;
        }
        if (leader_set_current(ls, base, sizeof(base)) < 0)
            return -1;
        if (used)
            (void)copy_out(base, used, usedsz);
        snprintf(full, sizeof(full), "%s%s", base, path);
        h.retries = 0;
        h.timeout_ms = remaining < try_ms ? remaining : try_ms;
        if (h.connect_timeout_ms <= 0 || h.connect_timeout_ms > h.timeout_ms)
            h.connect_timeout_ms = h.timeout_ms;
        sent = sent || reply->sent;
        http_reply_release(reply);
        rc = http_json(method, full, body, &h, reply);
        reply->sent = reply->sent || sent;
        if (rc == 0 && (reply->status == 307 || reply->status == 308)) {
            char origin[LEADER_URL_MAX];

            if (redirects == LEADER_REDIRECTS_MAX) {
                reply_error(reply, "%s", "too many redirects");
                return -1;
            }
            if (redirect_target(ls, reply, origin, sizeof(origin)) == 0) {
                redirects++;
                continue; /* straight to the leader it named: no pause */
            }
            /* A liar (or a misconfigured follower) is one bad URL: the
             * others may still lead. Once each URL had its chance, give up. */
            if (++refusals >= leader_set_count(ls))
                return -1;
            rotate_from(ls, base);
            continue;
        }
        if (rc == 0 && !retryable(reply->status))
            return 0;
        if (o.no_resend && (rc == 0 || reply->sent))
            return -1; /* it reached the service, which may have acted on it */
        if (rc == 0)
            snprintf(reply->error, sizeof(reply->error), "%s answered %ld", base, reply->status);
        rotate_from(ls, base);
        failures++;
        n = leader_set_count(ls);
        if (n && failures % n == 0)
            pause_ms(o.backoff_ms, failures / (unsigned)n, deadline - now_ms());
    }
}
