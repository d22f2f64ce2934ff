/* The router: route table validation, segment-by-segment pattern matching
 * on the raw path and decoding of the {x} captures. Captures are decoded
 * here, one segment at a time, rather than by the HTTP library, which would
 * decode "%2F" before the path is split. */
#include "router.h"

#include <string.h>

#include "percent.h"

/* A subject rule the dispatcher can apply to the route: a capture it has,
 * a body member of a route that always has a body. */
static bool access_valid(const api_route *r, size_t caps)
{
    const api_access *a = &r->access;

    switch (a->subject) {
    case API_SUBJECT_NONE:
    case API_SUBJECT_SELF:
        return true;
    case API_SUBJECT_PATH:
        return a->param < caps;
    case API_SUBJECT_BODY:
        return a->field && a->field[0] && (r->flags & API_BODY_JSON);
    }
    return false;
}

bool api_routes_valid(const api_route *routes, size_t n)
{
    if (n && !routes)
        return false;
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
        if (!access_valid(&routes[i], caps))
            return false;
    }
    return true;
}

/* Percent-decodes one path segment into out (API_PARAM_MAX bytes at most).
 * Refuses bad escapes, NUL and '/' so a capture is always one clean token. */
static int decode_segment(const char *raw, size_t len, char *out)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        char c = raw[i];
        if (c == '%') {
            int b = i + 2 < len ? api_hexbyte(raw + i + 1) : -1;
            if (b < 0)
                return -1;
            c = (char)b;
            i += 2;
        }
        if (c == '\0' || c == '/')
            return -1;
        if (n >= API_PARAM_MAX)
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

/* Appends m to the comma-separated list unless it is there already. */
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

static bool fail(api_route_match *m, api_err e, const char *msg)
{
    m->err = e;
    m->message = msg;
    return false;
}

#define STR_(x) #x
#define STR(x)  STR_(x)

bool api_route_resolve(const api_route *routes, size_t n, const char *method, const char *target,
                       api_route_match *m)
{
    capture caps[API_MAX_PARAMS], hit_caps[API_MAX_PARAMS];
    size_t ncaps = 0, hit_n = 0, plen;
    const char *q;
    bool path_matched = false;
    /* HEAD is served by GET routes (the transport drops the body). */
    const char *want = method_is(method, "HEAD") ? "GET" : method;

    memset(m, 0, sizeof(*m));
    if (!target)
        target = "";
    if (strnlen(target, API_MAX_URL + 1) > API_MAX_URL)
        return fail(m, API_E_URI_TOO_LONG, "the URL is longer than " STR(API_MAX_URL) " bytes");
    plen = strcspn(target, "?#");
    memcpy(m->path, target, plen);
    m->path[plen] = '\0';
    /* The first '?' even after a '#': libmicrohttpd has always read the
     * query that way, and api_query keeps its answers. */
    q = strchr(target, '?');
    m->query = q ? q + 1 : NULL;

    for (size_t i = 0; i < n; i++) {
        const api_route *r = &routes[i];
        if (!match_pattern(r->pattern, m->path, caps, &ncaps))
            continue;
        if (!path_matched)
            m->pattern = r->pattern;
        path_matched = true;
        allow_add(m->allow, sizeof(m->allow), r->method);
        if (method_is(r->method, "GET"))
            allow_add(m->allow, sizeof(m->allow), "HEAD");
        if (!m->route && method_is(r->method, want)) {
            m->route = r;
            m->pattern = r->pattern;
            memcpy(hit_caps, caps, sizeof(caps[0]) * ncaps);
            hit_n = ncaps;
        }
    }
    if (!path_matched)
        return fail(m, API_E_NOT_FOUND, "no such route");
    if (!m->route)
        return fail(m, API_E_METHOD, "method not allowed here");
    for (size_t i = 0; i < hit_n; i++)
        if (decode_segment(hit_caps[i].raw, hit_caps[i].len, m->params[i]) < 0)
            return fail(m, API_E_INVALID_ID, "invalid path parameter (at most " STR(API_PARAM_MAX) " characters)");
    m->nparams = hit_n;
    return true;
}
