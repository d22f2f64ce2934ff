/* %XX escapes, shared by the router (path captures) and the query reader;
 * each decides what a bad escape means. */
#ifndef API_PERCENT_H
#define API_PERCENT_H

static inline int api_hexdigit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The byte the two hex digits at p stand for, or -1. p[0] must be
 * readable; p[1] is read only when p[0] is a hex digit. */
static inline int api_hexbyte(const char *p)
{
    int hi = api_hexdigit(p[0]), lo;

    if (hi < 0)
        return -1;
    lo = api_hexdigit(p[1]);
    return lo < 0 ? -1 : hi * 16 + lo;
}

#endif
