#include "util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "errors.h"

/* Upper bound for durations: anything longer is a configuration mistake,
 * and the bound keeps every later multiplication far from overflow. */
#define DURATION_MAX_MS (24ULL * 60 * 60 * 1000)

static bool id_char_ok(char c)
{
    /* Explicit ranges rather than isalnum(): the locale must not widen the
     * set of characters accepted on the wire. */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

bool coord_id_valid(const char *s)
{
    size_t i;

    if (!s)
        return false;
    for (i = 0; s[i] != '\0'; i++) {
        if (i >= COORD_ID_MAX || !id_char_ok(s[i]))
            return false;
    }
    /* "." and ".." are path segments every HTTP client rewrites away (RFC
     * 3986 remove_dot_segments): a record so named could never be looked
     * up, reported or cancelled. */
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    return i > 0;
}

int coord_parse_duration_ms(const char *s, uint64_t *out)
{
    uint64_t v = 0, mult;
    bool big = false;
    const char *p;

    if (!s || !out)
        return COORD_E_INVAL;
    p = s;
    if (*p < '0' || *p > '9')
        return COORD_E_INVAL; /* empty, sign, whitespace or garbage */
    for (; *p >= '0' && *p <= '9'; p++) {
        /* Keep scanning after the value is known to be too big so that
         * "99999999999999999999x" is still reported as garbage. */
        if (!big) {
            v = v * 10 + (uint64_t)(*p - '0');
            if (v > DURATION_MAX_MS)
                big = true;
        }
    }
    if (strcmp(p, "ms") == 0)
        mult = 1;
    else if (strcmp(p, "s") == 0)
        mult = 1000;
    else if (strcmp(p, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        mult = 60 * 60 * 1000;
    else
        return COORD_E_INVAL;
    if (big || v == 0 || v > DURATION_MAX_MS / mult)
        return COORD_E_RANGE;
    *out = v * mult;
    return COORD_OK;
}

int coord_parse_duration_flag(const char *flag, const char *s, uint64_t *out, char *err,
                              size_t errlen)
{
    int rc = coord_parse_duration_ms(s, out);
    size_t n = s ? strspn(s, "0123456789") : 0;

    if (rc == COORD_OK)
        return 0;
    if (n > 0 && s[n] == '\0')
        snprintf(err, errlen,
                 "%s: '%.40s' has no unit: a duration needs one (ms, s, m or h), e.g. %.40ss", flag,
                 s, s);
    else if (rc == COORD_E_RANGE)
        snprintf(err, errlen, "%s: '%.40s' is out of range (more than 0, at most 24h)", flag, s);
    else
        snprintf(err, errlen, "%s: expected a duration like 500ms, 3s or 1m, got '%.100s'", flag,
                 s ? s : "");
    return -1;
}

uint64_t coord_digest(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < len && p; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

bool coord_next_token(const char **cursor, const char *delims, const char **tok, size_t *len)
{
    const char *p = *cursor;

    if (!p)
        return false;
    p += strspn(p, delims);
    if (!*p) {
        *cursor = p;
        return false;
    }
    *tok = p;
    *len = strcspn(p, delims);
    *cursor = p + *len;
    return true;
}

static uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t coord_now_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

uint64_t coord_now_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}
