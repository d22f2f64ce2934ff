/* Stored text forms (see codec.h). Node ids are [A-Za-z0-9._-], so they
 * need no JSON escaping, and vclock keeps them sorted by strcmp, which is
 * the order JSON_SORT_KEYS writes. */
#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_fields.h"

char *clocktext(const vclock *vc, char *buf)
{
    size_t len = 1;

    buf[0] = '{';
    for (size_t i = 0; vc && i < vc->n && i < VCLOCK_MAX_ENTRIES; i++) {
        int k = snprintf(buf + len, CLOCKTEXT_MAX - len, "%s\"%s\":%llu", i ? "," : "",
                         vc->e[i].node, (unsigned long long)vc->e[i].counter);

        if (k > 0 && (size_t)k < CLOCKTEXT_MAX - len)
            len += (size_t)k;
    }
    buf[len++] = '}';
    buf[len] = '\0';
    return buf;
}

char *clocktext_compact(const cclock *c, char *buf)
{
    vclock vc;

    cclock_unpack(c, &vc);
    return clocktext(&vc, buf);
}

int clocktext_parse(const char *text, strtab *t, cclock *out)
{
    vclock vc;
    field_error fe;
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    int rc = j && vclock_from_json(j, &vc, &fe) == 0 && cclock_pack(out, t, &vc) == 0 ? 0 : -1;

    json_decref(j);
    return rc;
}

void capstext(const capset *caps, char *buf)
{
    size_t n = 0;

    buf[0] = '\0';
    for (uint32_t i = 0; i < caps->n && n < CAPSTEXT_MAX; i++) {
        int k = snprintf(buf + n, CAPSTEXT_MAX - n, "%s%s", i ? "," : "", caps->v[i]);

        n += k > 0 ? (size_t)k : 0;
    }
}

int capstext_parse(const char *text, strtab *t, capset *out)
{
    char buf[CAPSTEXT_MAX];
    const char *v[BROKER_MAX_CAPS];
    size_t n = 0, len;
    const char *cur = text, *tok;

    if (!text || strlen(text) >= sizeof(buf))
        return -1;
    memcpy(buf, text, strlen(text) + 1);
    while (coord_next_token(&cur, ",", &tok, &len)) {
        char *p = buf + (tok - text);
        p[len] = '\0';
        if (n == BROKER_MAX_CAPS || !coord_id_valid(p))
            return -1;
        v[n++] = p;
    }
    return capset_set(out, t, v, n) < 0 ? -1 : 0;
}

char *linestext(const job *j)
{
    size_t room = (size_t)j->nlines * (CAPSTEXT_MAX + 16) + 1, n = 0;
    char *out = malloc(room);

    if (!out)
        return NULL;
    out[0] = '\0';
    for (uint32_t l = 0; l < j->nlines; l++) {
        char caps[CAPSTEXT_MAX];
        int k;

        capstext(&j->lines[l].caps, caps);
        k = snprintf(out + n, room - n, "%s%s*%u", l ? ";" : "", caps, j->lines[l].count);
        n += k > 0 ? (size_t)k : 0;
    }
    return out;
}

char *attlinestext(const job *j)
{
    size_t room = j->nattempts * 24 + 1, n = 0;
    char *out = malloc(room);

    if (!out)
        return NULL;
    out[0] = '\0';
    for (size_t i = 0; i < j->nattempts; i++) {
        int k;

        if (!j->attempts[i].line)
            continue;
        k = snprintf(out + n, room - n, "%s%u:%u", n ? "," : "", j->attempts[i].n,
                     j->attempts[i].line);
        n += k > 0 ? (size_t)k : 0;
    }
    return out;
}

/* A whole number 1..max at the start of text; the rest in *end. */
static bool read_uint(const char *text, unsigned long max, unsigned long *out, char **end)
{
    if (*text < '0' || *text > '9')
        return false;
    *out = strtoul(text, end, 10);
    return *out <= max;
}

int linestext_parse(const char *text, strtab *t, job *j)
{
    size_t len = text ? strlen(text) : 0;
    uint32_t n = 1, units = 0;

    if (!text || !len || j->nlines)
        return -1;
    for (size_t i = 0; i < len; i++)
        n += text[i] == ';';
    if (n > BROKER_MAX_LINES || !(j->lines = calloc(n, sizeof(*j->lines))))
        return -1;
    const char *cur = text;
    for (uint32_t l = 0; l < n; l++) {
        const char *star = strchr(cur, '*'), *semi = strchr(cur, ';');
        char caps[CAPSTEXT_MAX], *end;
        unsigned long count;

        if (!star || (semi && semi < star) || (size_t)(star - cur) >= sizeof(caps))
            goto bad;
        memcpy(caps, cur, (size_t)(star - cur));
        caps[star - cur] = '\0';
        if (!read_uint(star + 1, BROKER_MAX_LINE_COUNT, &count, &end) || count < 1 ||
            (*end != ';' && *end != '\0') || capstext_parse(caps, t, &j->lines[l].caps) < 0)
            goto bad;
        j->nlines = l + 1; /* from here on job_free releases it */
        if (!j->lines[l].caps.n)
            goto bad;
        j->lines[l].count = (uint32_t)count;
        units += (uint32_t)count;
        cur = *end ? end + 1 : end;
    }
    if (*cur || units > BROKER_MAX_INCIDENT_UNITS)
        goto bad;
    return 0;
bad:
    for (uint32_t l = 0; l < j->nlines; l++)
        capset_release(&j->lines[l].caps, t);
    free(j->lines);
    j->lines = NULL;
    j->nlines = 0;
    return -1;
}

int attlinestext_parse(const char *text, job *j)
{
    const char *cur = text;

    while (cur && *cur) {
        unsigned long n, line;
        char *end;
        attempt *a;

        if (!read_uint(cur, UINT32_MAX, &n, &end) || *end != ':' ||
            !read_uint(end + 1, BROKER_MAX_LINES - 1, &line, &end) ||
            (*end != ',' && *end != '\0') || line >= j->nlines ||
            !(a = job_attempt(j, (uint32_t)n)))
            return -1;
        a->line = (uint32_t)line;
        cur = *end ? end + 1 : end;
    }
    return 0;
}
