/* Scanning the parts of a JSON text (see json_scan.h). */
#include "json_scan.h"

#include <string.h>

static size_t skip_ws(const char *p, size_t i, size_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* p[*i] is '"': past the closing quote. */
static bool scan_string(const char *p, size_t n, size_t *i)
{
    for (size_t k = *i + 1; k < n; k++) {
        if (p[k] == '\\') {
            k++; /* whatever it escapes; the caller's parse checks it */
        } else if (p[k] == '"') {
            *i = k + 1;
            return true;
        } else if ((unsigned char)p[k] < 0x20) {
            return false;
        }
    }
    return false;
}

static bool is_end(char c)
{
    return c == ',' || c == ']' || c == '}' || c == ':' || c == ' ' || c == '\t' || c == '\n' ||
           c == '\r';
}

/* Past one value starting at p[*i]. */
static bool scan_value(const char *p, size_t n, size_t *i)
{
    size_t k = *i, depth = 0;

    if (k >= n)
        return false;
    if (p[k] == '"')
        return scan_string(p, n, i);
    if (p[k] != '{' && p[k] != '[') {
        while (k < n && !is_end(p[k]) && p[k] != '"' && p[k] != '{' && p[k] != '[')
            k++;
        if (k == *i)
            return false;
        *i = k;
        return true;
    }
    while (k < n) {
        char c = p[k];

        if (c == '"') {
            if (!scan_string(p, n, &k))
                return false;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                *i = k + 1;
                return true;
            }
        }
        k++;
    }
    return false;
}

/* The comma-separated items of the container opening at p[i] (closing
 * with close), each handed to item with its start; *end past the close. */
typedef int (*item_fn)(const char *p, size_t n, size_t *i, void *ctx);

static int scan_items(const char *p, size_t n, size_t i, char close, item_fn item, void *ctx,
                      size_t *end)
{
    i = skip_ws(p, i + 1, n);
    if (i < n && p[i] == close) {
        *end = i + 1;
        return 0;
    }
    for (;;) {
        int rc = item(p, n, &i, ctx);

        if (rc != 0)
            return rc;
        i = skip_ws(p, i, n);
        if (i < n && p[i] == ',') {
            i = skip_ws(p, i + 1, n);
            continue;
        }
        if (i < n && p[i] == close) {
            *end = i + 1;
            return 0;
        }
        return -1;
    }
}

struct member_ctx {
    json_member_cb cb;
    void *arg;
};

static int member(const char *p, size_t n, size_t *i, void *ctx)
{
    struct member_ctx *m = ctx;
    size_t k = *i, v;
    json_span key, value;

    if (k >= n || p[k] != '"' || !scan_string(p, n, &k))
        return -1;
    key.p = p + *i + 1;
    key.len = k - *i - 2;
    k = skip_ws(p, k, n);
    if (k >= n || p[k] != ':')
        return -1;
    v = skip_ws(p, k + 1, n);
    k = v;
    if (!scan_value(p, n, &k))
        return -1;
    value.p = p + v;
    value.len = k - v;
    *i = k;
    return m->cb(m->arg, key, value);
}

struct element_ctx {
    json_element_cb cb;
    void *arg;
};

static int element(const char *p, size_t n, size_t *i, void *ctx)
{
    struct element_ctx *e = ctx;
    size_t start = *i;

    if (!scan_value(p, n, i))
        return -1;
    return e->cb(e->arg, (json_span){p + start, *i - start});
}

int json_scan_object(json_span text, json_member_cb cb, void *arg)
{
    struct member_ctx m = {cb, arg};
    size_t i = skip_ws(text.p, 0, text.len), end;
    int rc;

    if (!text.p || i >= text.len || text.p[i] != '{')
        return -1;
    rc = scan_items(text.p, text.len, i, '}', member, &m, &end);
    if (rc != 0)
        return rc;
    return skip_ws(text.p, end, text.len) == text.len ? 0 : -1;
}

int json_scan_array(json_span value, json_element_cb cb, void *arg)
{
    struct element_ctx e = {cb, arg};
    size_t end;
    int rc;

    if (!value.p || value.len < 2 || value.p[0] != '[')
        return -1;
    rc = scan_items(value.p, value.len, 0, ']', element, &e, &end);
    if (rc != 0)
        return rc;
    return end == value.len ? 0 : -1;
}

bool json_span_is(json_span key, const char *lit)
{
    size_t n = strlen(lit);

    return key.len == n && memcmp(key.p, lit, n) == 0;
}
