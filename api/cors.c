/* CORS: checking --cors-origin values, matching a request's Origin and
 * the headers of preflights and replies (cors.h). Origins compare
 * byte for byte, so a value is refused unless it is the one spelling a
 * browser sends (lower case, no default port, no path): a value that could
 * never match would otherwise fail silently. */
#include "cors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* host: a DNS name or IPv4 literal in lower case, or an [IPv6] literal. */
static bool host_valid(const char *h, size_t len)
{
    if (len == 0)
        return false;
    if (h[0] == '[') {
        if (len < 3 || h[len - 1] != ']')
            return false;
        for (size_t i = 1; i + 1 < len; i++)
            if (!strchr("0123456789abcdef:.", h[i]))
                return false;
        return true;
    }
    for (size_t i = 0; i < len; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789.-", h[i]))
            return false;
    return h[0] != '.' && h[0] != '-' && h[len - 1] != '.';
}

int api_cors_add(api_cors *c, const char *origin, char *err, size_t errlen)
{
    const char *host, *after, *colon, *end;
    unsigned long port;
    bool https;
    char *pe;

    if (!c || !origin)
        return -1;
    if (c->n + (c->any ? 1 : 0) >= API_CORS_MAX) {
        snprintf(err, errlen, "--cors-origin: at most %d origins", API_CORS_MAX);
        return -1;
    }
    if (strcmp(origin, "*") == 0) {
        c->any = true;
        return 0;
    }
    if (strlen(origin) >= API_CORS_ORIGIN_MAX)
        goto bad;
    https = strncmp(origin, "https://", 8) == 0;
    if (!https && strncmp(origin, "http://", 7) != 0)
        goto bad;
    host = origin + (https ? 8 : 7);
    end = host + strlen(host);
    /* An IPv6 literal has colons of its own: the port's comes after ']'. */
    after = host[0] == '[' ? strchr(host, ']') : host;
    if (!after)
        goto bad;
    colon = strchr(after, ':');
    if (!host_valid(host, (size_t)((colon ? colon : end) - host)))
        goto bad;
    if (colon) {
        if (colon[1] < '1' || colon[1] > '9')
            goto bad;
        port = strtoul(colon + 1, &pe, 10);
        if (*pe || port > 65535)
            goto bad;
        if (port == (https ? 443ul : 80ul)) {
            snprintf(err, errlen,
                     "--cors-origin: '%s': leave out the default port, browsers send the origin "
                     "without it",
                     origin);
            return -1;
        }
    }
    snprintf(c->origins[c->n++], API_CORS_ORIGIN_MAX, "%s", origin);
    return 0;
bad:
    snprintf(err, errlen,
             "--cors-origin: expected '*' or an origin like https://cad.example.org or "
             "http://127.0.0.1:8080 (scheme://host[:port], lower case, no path), got '%.200s'",
             origin);
    return -1;
}

bool api_cors_allows(const api_cors *c, const char *origin)
{
    if (!c || !origin || !*origin)
        return false;
    /* "null" (a sandboxed page or a file) names no one: only "*" lets it in. */
    if (c->any)
        return true;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->origins[i], origin) == 0)
            return true;
    return false;
}

bool api_cors_is_preflight(const char *method, const char *origin, const char *request_method)
{
    return method && strcmp(method, "OPTIONS") == 0 && origin && request_method;
}

/* The Allow-Origin value: "*" needs no Vary to stay right in a cache, but
 * the echoed origin does, and Vary is on every reply anyway. */
static const char *allow_origin(const api_cors *c, const char *origin)
{
    return c->any ? "*" : origin;
}

void api_cors_preflight(const api_cors *c, const char *origin, const char *methods,
                        api_response *res)
{
    api_reply_text(res, 204, "text/plain", "", 0);
    api_response_add_header(res, "Access-Control-Allow-Origin", allow_origin(c, origin));
    api_response_add_header(res, "Access-Control-Allow-Methods", methods);
    api_response_add_header(res, "Access-Control-Allow-Headers", API_CORS_HEADERS);
    api_response_add_header(res, "Access-Control-Max-Age", API_CORS_MAX_AGE);
}

void api_cors_annotate(const api_cors *c, const char *origin, api_response *res)
{
    if (!c || !res)
        return;
    if (api_cors_allows(c, origin) && !api_response_header(res, "Access-Control-Allow-Origin"))
        api_response_add_header(res, "Access-Control-Allow-Origin", allow_origin(c, origin));
    /* Every reply depends on Origin once CORS is on: a shared cache must
     * not hand one origin's reply (with or without the header) to another. */
    if (!api_response_header(res, "Vary"))
        api_response_add_header(res, "Vary", "Origin");
}
