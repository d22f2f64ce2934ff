/* Stored text forms (see codec.h). Node ids are [A-Za-z0-9._-], so they
 * need no JSON escaping, and vclock keeps them sorted by strcmp, which is
 * the order JSON_SORT_KEYS writes. */
#include "codec.h"

#include <stdio.h>
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
