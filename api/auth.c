/* Credentials (auth.h): the tokens-file parser, the digest table and its
 * lookup, the live reloadable table, and the reading of a service's own
 * token.
 *
 * Why a digest table: the file holds SHA-256 digests, so a leaked file
 * gives no token away, and a lookup is the digest of the presented token,
 * a probe of an open-addressing table indexed by the digest's first bytes
 * and a constant-time compare of all 32. What timing can reveal is which
 * slots a digest probes, that is bits of digests, whose preimages are out
 * of reach; never how much of a token was right. */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const role_names[API_ROLE__COUNT] = {
    [API_ROLE_NONE] = "none", [API_ROLE_VIEWER] = "viewer", [API_ROLE_DISPATCHER] = "dispatcher",
    [API_ROLE_UNIT] = "unit", [API_ROLE_PEER] = "peer",     [API_ROLE_OPERATOR] = "operator",
};

const char *api_role_name(api_role_id r)
{
    return (unsigned)r < API_ROLE__COUNT ? role_names[r] : "none";
}

int api_role_parse(const char *s, api_role_id *out)
{
    for (int r = API_ROLE_VIEWER; s && r < API_ROLE__COUNT; r++) {
        if (strcmp(s, role_names[r]) == 0) {
            *out = (api_role_id)r;
            return 0;
        }
    }
    return -1;
}

bool api_role_bound(api_role_id r)
{
    return r == API_ROLE_UNIT || r == API_ROLE_PEER;
}

int api_sha256(const void *data, size_t len, uint8_t out[API_DIGEST_LEN])
{
    return gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out) == 0 ? 0 : -1;
}

bool api_ct_equal(const void *a, const void *b, size_t n)
{
    /* volatile: the compiler may not stop at the first difference */
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;

    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(x[i] ^ y[i]);
    return d == 0;
}

void api_digest_hex(const uint8_t d[API_DIGEST_LEN], char out[2 * API_DIGEST_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < API_DIGEST_LEN; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * API_DIGEST_LEN] = '\0';
}

bool api_token_valid(const char *tok, size_t len)
{
    if (!tok || len < API_TOKEN_MIN || len > API_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)tok[i] <= 0x20 || (unsigned char)tok[i] >= 0x7f)
            return false;
    return true;
}

api_bearer api_bearer_token(const char *header, const char **tok, size_t *len)
{
    const char *p, *end;

    if (!header)
        return API_BEARER_MISSING;
    p = header;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
        return API_BEARER_MALFORMED;
    p += 6;
    while (*p == ' ' || *p == '\t')
        p++;
    end = p + strnlen(p, API_TOKEN_MAX + 2);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (!api_token_valid(p, (size_t)(end - p)))
        return API_BEARER_MALFORMED;
    *tok = p;
    *len = (size_t)(end - p);
    return API_BEARER_OK;
}

/* ---- the digest table ---------------------------------------------- */

typedef struct credential {
    uint8_t digest[API_DIGEST_LEN];
    api_identity who;
    size_t line; /* 0: an empty slot */
} credential;

struct api_tokens {
    credential *slots; /* open addressing, linear probing */
    size_t mask;       /* slots - 1 (a power of two, at least twice the credentials) */
    size_t count[API_ROLE__COUNT];
    size_t n;
};

/* The digest is uniformly random: its first bytes are as good an index as
 * any keyed hash would be. */
static size_t slot_of(const api_tokens *t, const uint8_t d[API_DIGEST_LEN])
{
    uint64_t h;

    memcpy(&h, d, sizeof(h));
    return (size_t)h & t->mask;
}

/* The slot holding d, else the empty one where it would go. */
static credential *probe(const api_tokens *t, const uint8_t d[API_DIGEST_LEN])
{
    for (size_t i = slot_of(t, d);; i = (i + 1) & t->mask) {
        credential *c = &t->slots[i];
        if (!c->line || api_ct_equal(c->digest, d, API_DIGEST_LEN))
            return c;
    }
}

bool api_tokens_find(const api_tokens *t, const uint8_t d[API_DIGEST_LEN], api_identity *who)
{
    const credential *c;

    if (!t || !t->slots)
        return false;
    c = probe(t, d);
    if (!c->line)
        return false;
    *who = c->who;
    return true;
}

size_t api_tokens_count(const api_tokens *t, api_role_id r)
{
    if (!t)
        return 0;
    if (r == API_ROLE_NONE)
        return t->n;
    return (unsigned)r < API_ROLE__COUNT ? t->count[r] : 0;
}

void api_tokens_free(api_tokens *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t);
}

/* ---- the parser ---------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

typedef struct field {
    const char *p;
    size_t len;
} field;

/* The fields of one line (its comment cut off); returns how many, up to 4
 * (4 means "more than 3"). */
static size_t split(const char *line, size_t len, field f[4])
{
    size_t n = 0, i = 0;
    const char *hash = memchr(line, '#', len);

    if (hash)
        len = (size_t)(hash - line);
    while (i < len && n < 4) {
        while (i < len && is_blank(line[i]))
            i++;
        if (i == len)
            break;
        f[n].p = line + i;
        while (i < len && !is_blank(line[i]))
            i++;
        f[n].len = (size_t)(line + i - f[n].p);
        n++;
    }
    return n;
}

/* Parses one line into *c (line number set). 1: a credential, 0: a blank
 * or comment line, -1: malformed, the reason in why. */
static int parse_line(const char *line, size_t len, credential *c, char *why, size_t whylen)
{
    field f[4];
    size_t n = split(line, len, f);
    char role[16], subject[COORD_ID_MAX + 1];
    api_role_id r;

    if (n == 0)
        return 0;
    /* Never quote the first field: it may be a token pasted by mistake. */
    if (f[0].len != 2 * API_DIGEST_LEN) {
        snprintf(why, whylen,
                 "the first field must be the SHA-256 of a token, 64 lowercase hex digits "
                 "(it has %zu characters)",
                 f[0].len);
        return -1;
    }
    for (size_t i = 0; i < API_DIGEST_LEN; i++) {
        int hi = hexval(f[0].p[2 * i]), lo = hexval(f[0].p[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            snprintf(why, whylen,
                     "the first field must be the SHA-256 of a token, 64 lowercase hex digits "
                     "(character %zu is not one)",
                     hi < 0 ? 2 * i + 1 : 2 * i + 2);
            return -1;
        }
        c->digest[i] = (uint8_t)(hi << 4 | lo);
    }
    if (n == 1) {
        snprintf(why, whylen,
                 "a role must follow the digest (viewer, dispatcher, unit, peer, "
                 "operator)");
        return -1;
    }
    if (f[1].len >= sizeof(role) ||
        (memcpy(role, f[1].p, f[1].len), role[f[1].len] = '\0', api_role_parse(role, &r) < 0)) {
        snprintf(why, whylen, "unknown role '%.*s' (viewer, dispatcher, unit, peer, operator)",
                 (int)(f[1].len > 32 ? 32 : f[1].len), f[1].p);
        return -1;
    }
    if (n == 4) {
        snprintf(why, whylen, "extra field '%.*s' after the subject",
                 (int)(f[3].len > 32 ? 32 : f[3].len), f[3].p);
        return -1;
    }
    if (n == 2 && api_role_bound(r)) {
        snprintf(why, whylen, "role %s needs a subject: the %s id", role_names[r],
                 r == API_ROLE_UNIT ? "unit" : "district");
        return -1;
    }
    subject[0] = '\0';
    if (n == 3) {
        bool fits = f[2].len <= COORD_ID_MAX;
        if (fits) {
            memcpy(subject, f[2].p, f[2].len);
            subject[f[2].len] = '\0';
        }
        if (!fits || !coord_id_valid(subject)) {
            snprintf(why, whylen, "subject '%.*s' is not an id ([A-Za-z0-9._-]{1,64})",
                     (int)(f[2].len > 64 ? 64 : f[2].len), f[2].p);
            return -1;
        }
    }
    c->who.role = r;
    memcpy(c->who.subject, subject, sizeof(subject));
    return 1;
}

static int fail_at(char *err, size_t errlen, const char *name, size_t line, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "%s:%zu: %s", name, line, why);
    return -1;
}

/* The credentials of text, one per element of *out (malloc'd; *n of them). */
static int parse_all(const char *text, size_t len, const char *name, credential **out, size_t *n,
                     char *err, size_t errlen)
{
    credential *v = NULL;
    size_t cap = 0, lineno = 0, pos = 0;
    char why[256];

    *out = NULL;
    *n = 0;
    while (pos < len) {
        const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        credential c;
        int rc;

        lineno++;
        pos += ll + (nl ? 1 : 0);
        if (ll > API_TOKENS_LINE_MAX) {
            snprintf(why, sizeof(why), "line longer than %d bytes", API_TOKENS_LINE_MAX);
            goto bad;
        }
        if (memchr(line, '\0', ll)) {
            snprintf(why, sizeof(why), "a NUL byte");
            goto bad;
        }
        memset(&c, 0, sizeof(c));
        rc = parse_line(line, ll, &c, why, sizeof(why));
        if (rc < 0)
            goto bad;
        if (rc == 0)
            continue;
        if (*n == API_TOKENS_MAX) {
            snprintf(why, sizeof(why), "more than %d credentials", API_TOKENS_MAX);
            goto bad;
        }
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            credential *nv = realloc(v, nc * sizeof(*v));
            if (!nv) {
                snprintf(why, sizeof(why), "out of memory");
                goto bad;
            }
            v = nv;
            cap = nc;
        }
        c.line = lineno;
        v[(*n)++] = c;
    }
    *out = v;
    return 0;
bad:
    free(v);
    *n = 0;
    return fail_at(err, errlen, name, lineno, why);
}

api_tokens *api_tokens_parse(const char *text, size_t len, const char *name, char *err,
                             size_t errlen)
{
    credential *v;
    size_t n, size = 4;
    api_tokens *t;

    if (!name)
        name = "tokens";
    if (parse_all(text ? text : "", text ? len : 0, name, &v, &n, err, errlen) < 0)
        return NULL;
    t = calloc(1, sizeof(*t));
    while (size < 2 * n)
        size *= 2;
    if (t)
        t->slots = calloc(size, sizeof(*t->slots));
    if (!t || !t->slots) {
        free(v);
        api_tokens_free(t);
        fail_at(err, errlen, name, 0, "out of memory");
        return NULL;
    }
    t->mask = size - 1;
    for (size_t i = 0; i < n; i++) {
        credential *slot = probe(t, v[i].digest);
        if (slot->line) {
            char why[96];
            snprintf(why, sizeof(why), "the same digest as line %zu", slot->line);
            fail_at(err, errlen, name, v[i].line, why);
            free(v);
            api_tokens_free(t);
            return NULL;
        }
        *slot = v[i];
        t->count[v[i].who.role]++;
        t->n++;
    }
    free(v);
    return t;
}

/* ---- files ----------------------------------------------------------- */

/* The whole of path, a regular file of at most max bytes, NUL-terminated. */
char *api_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if ((uint64_t)st.st_size > max) {
        snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
        goto fail;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    /* Read to the end: the file may have grown since fstat. */
    for (;;) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size + 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        got += (size_t)r;
        if (got > (size_t)st.st_size) {
            snprintf(err, errlen, "%s: changed while it was read", path);
            goto fail;
        }
    }
    close(fd);
    buf[got] = '\0';
    *len = got;
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

struct api_auth {
    pthread_rwlock_t lock; /* guards tokens */
    api_tokens *tokens;
    char *path;
};

static api_tokens *load(const char *path, char *err, size_t errlen)
{
    size_t len;
    char *text = api_read_file(path, API_TOKENS_FILE_MAX, &len, err, errlen);
    api_tokens *t;

    if (!text)
        return NULL;
    t = api_tokens_parse(text, len, path, err, errlen);
    free(text);
    return t;
}

api_auth *api_auth_new(const char *path, char *err, size_t errlen)
{
    api_auth *a;

    if (!path || !*path) {
        snprintf(err, errlen, "no tokens file");
        return NULL;
    }
    a = calloc(1, sizeof(*a));
    if (!a || !(a->path = strdup(path)) || pthread_rwlock_init(&a->lock, NULL) != 0) {
        snprintf(err, errlen, "out of memory");
        if (a)
            free(a->path);
        free(a);
        return NULL;
    }
    a->tokens = load(path, err, errlen);
    if (!a->tokens) {
        api_auth_free(a);
        return NULL;
    }
    return a;
}

void api_auth_free(api_auth *a)
{
    if (!a)
        return;
    pthread_rwlock_destroy(&a->lock);
    api_tokens_free(a->tokens);
    free(a->path);
    free(a);
}

int api_auth_reload(api_auth *a, char *err, size_t errlen)
{
    api_tokens *t, *old;

    if (!a)
        return -1;
    t = load(a->path, err, errlen);
    if (!t)
        return -1;
    pthread_rwlock_wrlock(&a->lock);
    old = a->tokens;
    a->tokens = t;
    pthread_rwlock_unlock(&a->lock);
    api_tokens_free(old);
    return 0;
}

const char *api_auth_path(const api_auth *a)
{
    return a ? a->path : "";
}

size_t api_auth_count(api_auth *a, api_role_id r)
{
    size_t n;

    if (!a)
        return 0;
    pthread_rwlock_rdlock(&a->lock);
    n = api_tokens_count(a->tokens, r);
    pthread_rwlock_unlock(&a->lock);
    return n;
}

bool api_auth_lookup(api_auth *a, const char *tok, size_t len, api_identity *who)
{
    uint8_t d[API_DIGEST_LEN];
    bool found;

    if (!a || !api_token_valid(tok, len) || api_sha256(tok, len, d) < 0)
        return false;
    /* Held while the entry is copied out, so a reload never frees what a
     * lookup reads; the digest was computed before, outside it. */
    pthread_rwlock_rdlock(&a->lock);
    found = api_tokens_find(a->tokens, d, who);
    pthread_rwlock_unlock(&a->lock);
    return found;
}

int api_token_file_read(const char *path, char *out, char *err, size_t errlen)
{
    size_t len, n;
    char *text = api_read_file(path, 64 * 1024, &len, err, errlen);

    if (!text)
        return -1;
    n = strcspn(text, "\n");
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t' || text[n - 1] == '\r'))
        n--;
    if (!api_token_valid(text, n)) {
        snprintf(err, errlen,
                 "%s: its first line must be a token: %d to %d printable characters "
                 "without spaces",
                 path, API_TOKEN_MIN, API_TOKEN_MAX);
        explicit_bzero(text, len);
        free(text);
        return -1;
    }
    memcpy(out, text, n);
    out[n] = '\0';
    explicit_bzero(text, len);
    free(text);
    return 0;
}
