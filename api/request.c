/* Query and header access on a dispatched request. Query arguments are read
 * the way libmicrohttpd reads them (split on '&', key and value at the
 * first '=', '+' then %XX decoded, an invalid escape kept as it is, key
 * compared case-insensitively, first match wins), so handlers answer the
 * same whether a request came over a socket or from a test. */
#include "request.h"

#include <string.h>
#include <strings.h>

#include "percent.h"

/* Decodes raw[0, len) into out (NULL: only counts); returns the decoded
 * length, which is at most len. A decoded %00 stays in the count, so such
 * a key matches no lookup. */
static size_t decode_arg(const char *raw, size_t len, char *out)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        char c = raw[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < len && api_hexbyte(raw + i + 1) >= 0) {
            c = (char)api_hexbyte(raw + i + 1);
            i += 2;
        }
        if (out)
            out[n] = c;
        n++;
    }
    if (out)
        out[n] = '\0';
    return n;
}

/* One argument of a query: raw[start, end), '=' at eq (NULL: none). */
typedef struct arg {
    size_t start, end;
    const char *eq;
} arg;

/* The argument at *pos, advancing *pos past it; false at the end. */
static bool next_arg(const char *raw, size_t *pos, arg *a)
{
    if (raw[*pos] == '\0')
        return false;
    a->start = *pos;
    a->end = *pos + strcspn(raw + *pos, "&");
    a->eq = memchr(raw + a->start, '=', a->end - a->start);
    *pos = raw[a->end] == '&' ? a->end + 1 : a->end;
    return true;
}

void api_request_set_query(api_request *req, const char *raw, char *buf)
{
    size_t pos = 0;
    arg a;

    req->query_raw = raw;
    req->query_buf = raw ? buf : NULL;
    if (!raw)
        return;
    buf[0] = '\0';
    /* Each key and value is decoded at its own offset: decoding never
     * grows, so each stays NUL-terminated without touching the next. */
    while (next_arg(raw, &pos, &a)) {
        size_t kend = a.eq ? (size_t)(a.eq - raw) : a.end;
        decode_arg(raw + a.start, kend - a.start, buf + a.start);
        if (a.eq)
            decode_arg(a.eq + 1, a.end - kend - 1, buf + kend + 1);
    }
}

/* ASCII-only case folding, as HTTP field names need. */
static bool same_key(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

const char *api_query(const api_request *req, const char *key)
{
    size_t pos = 0, klen;
    arg a;

    if (!req || !req->query_raw || !req->query_buf || !key)
        return NULL;
    klen = strlen(key);
    while (next_arg(req->query_raw, &pos, &a)) {
        size_t kend = a.eq ? (size_t)(a.eq - req->query_raw) : a.end;
        if (decode_arg(req->query_raw + a.start, kend - a.start, NULL) != klen ||
            !same_key(req->query_buf + a.start, key, klen))
            continue;
        return a.eq ? req->query_buf + kend + 1 : NULL;
    }
    return NULL;
}

const char *api_header(const api_request *req, const char *name)
{
    const api_raw_request *rq;

    if (!req || !req->raw || !name)
        return NULL;
    rq = req->raw;
    if (rq->header_fn)
        return rq->header_fn(rq->header_cls, name);
    for (size_t i = 0; i < rq->nheaders && rq->headers; i++)
        if (rq->headers[i].name && strcasecmp(rq->headers[i].name, name) == 0)
            return rq->headers[i].value;
    return NULL;
}

bool api_can_defer(const api_request *req)
{
    return req && req->raw && req->raw->can_defer;
}

const api_identity *api_caller(const api_request *req)
{
    static const api_identity nobody = {API_ROLE_NONE, ""};

    return req ? &req->caller : &nobody;
}

bool api_caller_may_act_for(const api_request *req, api_role_id role, const char *id)
{
    const api_identity *who = api_caller(req);

    if (who->role != role || !api_role_bound(role))
        return true;
    return id && strcmp(who->subject, id) == 0;
}
