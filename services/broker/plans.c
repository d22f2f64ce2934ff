/* Response plans and requirement lines (see plans.h). */
#include "plans.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_fields.h"

struct line_req {
    id_list caps;
    int64_t count;
};

static const field_spec line_fields[] = {
    {"capabilities", FT_ID_LIST, offsetof(struct line_req, caps), true, 1, BROKER_MAX_CAPS, NULL,
     0},
    {"count", FT_INT, offsetof(struct line_req, count), true, 1, BROKER_MAX_LINE_COUNT, NULL, 0},
    FIELD_END,
};

/* cap joins the distinct capabilities in all[0..*n); false when that
 * would pass BROKER_MAX_CAPS. */
static bool note_cap(const char **all, size_t *n, const char *cap)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(all[i], cap) == 0)
            return true;
    if (*n == BROKER_MAX_CAPS)
        return false;
    all[(*n)++] = cap;
    return true;
}

/* The line error: its code and message. */
int plans_read_lines(const json_t *arr, line_spec *out, size_t *n, field_error *fe)
{
    const char *all[BROKER_MAX_CAPS];
    size_t nall = 0, units = 0, i;
    const json_t *v;

    if (!json_is_array(arr) || json_array_size(arr) < 1 ||
        json_array_size(arr) > BROKER_MAX_LINES) {
        fe->code = API_E_INVALID_FIELD;
        snprintf(fe->message, sizeof(fe->message),
                 "response must be a list of 1 to %d lines {\"capabilities\", \"count\"}",
                 BROKER_MAX_LINES);
        return -1;
    }
    json_array_foreach (arr, i, v) {
        struct line_req r = {0};
        field_error le;
        line_spec *ls = &out[i];

        if (!json_is_object(v))
            return field_fail(fe, API_E_INVALID_FIELD,
                             "response[%zu] must be an object {\"capabilities\", \"count\"}", i);
        if (json_parse_fields(v, line_fields, &r, &le) < 0)
            return field_fail(fe, le.code, "response[%zu]: %.200s", i, le.message);
        memset(ls, 0, sizeof(*ls));
        for (size_t k = 0; k < r.caps.n && k < BROKER_MAX_CAPS; k++)
            snprintf(ls->caps[k], sizeof(ls->caps[k]), "%s", r.caps.v[k]);
        ls->ncaps = r.caps.n < BROKER_MAX_CAPS ? r.caps.n : BROKER_MAX_CAPS;
        ls->count = (uint32_t)r.count;
        id_list_release(&r.caps);
        for (size_t k = 0; k < ls->ncaps; k++)
            if (!note_cap(all, &nall, ls->caps[k]))
                return field_fail(fe, API_E_INVALID_FIELD,
                                 "response[%zu]: more than %d distinct capabilities in all lines",
                                 i, BROKER_MAX_CAPS);
        units += ls->count;
        if (units > BROKER_MAX_INCIDENT_UNITS)
            return field_fail(fe, API_E_INVALID_FIELD,
                             "response[%zu]: more than %d units in all lines together", i,
                             BROKER_MAX_INCIDENT_UNITS);
    }
    *n = json_array_size(arr);
    return 0;
}

void plans_release(plan_book *book)
{
    if (!book)
        return;
    free(book->v);
    book->v = NULL;
    book->n = 0;
}

struct plan_req {
    char name[COORD_ID_MAX + 1];
    char type[COORD_ID_MAX + 1];
    id_list severity;
    json_t *response;
};

static const field_spec plan_fields[] = {
    {"name", FT_ID, offsetof(struct plan_req, name), true, 0, 0, NULL, 0},
    {"type", FT_ID, offsetof(struct plan_req, type), true, 0, 0, NULL, 0},
    {"severity", FT_ID_LIST, offsetof(struct plan_req, severity), true, 1, 4, NULL, 0},
    {"response", FT_ANY, offsetof(struct plan_req, response), true, 0, 64 * 1024, NULL, 0},
    FIELD_END,
};

/* One plan object into p; the error names it (index and, once read,
 * name). */
static int read_plan(const json_t *o, size_t idx, response_plan *p, char *msg, size_t len)
{
    struct plan_req r = {0};
    field_error fe;
    int rc = -1;

    if (!json_is_object(o)) {
        snprintf(msg, len, "plans[%zu] must be an object", idx);
        return -1;
    }
    if (json_parse_fields(o, plan_fields, &r, &fe) < 0) {
        const char *name = json_string_value(json_object_get(o, "name"));

        snprintf(msg, len, "plans[%zu]%s%.64s%s: %s", idx, name ? " (\"" : "", name ? name : "",
                 name ? "\")" : "", fe.message);
        return -1;
    }
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", r.name);
    snprintf(p->type, sizeof(p->type), "%s", r.type);
    for (size_t k = 0; k < r.severity.n; k++) {
        severity sv;

        if (severity_parse(r.severity.v[k], &sv) < 0) {
            snprintf(msg, len, "plans[%zu] (\"%s\"): severity '%s' is not low, medium, high or "
                               "critical",
                     idx, p->name, r.severity.v[k]);
            goto out;
        }
        p->sev[sv] = true;
    }
    if (plans_read_lines(r.response, p->lines, &p->nlines, &fe) < 0) {
        snprintf(msg, len, "plans[%zu] (\"%s\"): %s", idx, p->name, fe.message);
        goto out;
    }
    rc = 0;
out:
    id_list_release(&r.severity);
    return rc;
}

int plans_parse(const json_t *root, plan_book *book, char *msg, size_t len)
{
    static const char *const root_keys[] = {"plans", NULL};
    const json_t *arr = json_object_get(root, "plans"), *v;
    const char *key;
    json_t *val;
    size_t i;

    plans_release(book);
    if (!json_is_object(root) || !json_is_array(arr)) {
        snprintf(msg, len, "the file must be an object {\"plans\": [...]}");
        return -1;
    }
    json_object_foreach ((json_t *)root, key, val) {
        if (strcmp(key, root_keys[0]) != 0) {
            snprintf(msg, len, "unknown member '%.64s' (only \"plans\")", key);
            return -1;
        }
    }
    if (json_array_size(arr) > PLANS_MAX) {
        snprintf(msg, len, "more than %d plans", PLANS_MAX);
        return -1;
    }
    book->v = calloc(json_array_size(arr) ? json_array_size(arr) : 1, sizeof(*book->v));
    if (!book->v) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    json_array_foreach (arr, i, v) {
        response_plan *p = &book->v[i];

        if (read_plan(v, i, p, msg, len) < 0)
            goto fail;
        for (size_t k = 0; k < i; k++) {
            const response_plan *q = &book->v[k];

            if (strcmp(q->name, p->name) == 0) {
                snprintf(msg, len, "plans[%zu]: duplicate plan name \"%s\" (also plans[%zu])", i,
                         p->name, k);
                goto fail;
            }
            for (int sv = 0; sv < 4; sv++)
                if (p->sev[sv] && q->sev[sv] && strcmp(p->type, q->type) == 0) {
                    snprintf(msg, len,
                             "plans[%zu] (\"%s\"): type %s severity %s is covered by plans[%zu] "
                             "(\"%s\") already",
                             i, p->name, p->type, severity_str((severity)sv), k, q->name);
                    goto fail;
                }
        }
        book->n = i + 1;
    }
    return 0;
fail:
    plans_release(book);
    return -1;
}

int plans_load(const char *path, plan_book *book, char *msg, size_t len)
{
    json_error_t je;
    char why[512];
    FILE *f = fopen(path, "rb");
    json_t *root;
    long size;

    if (!f) {
        snprintf(msg, len, "--response-plans %s: cannot open it", path);
        return -1;
    }
    if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || size > PLANS_FILE_MAX ||
        fseek(f, 0, SEEK_SET) < 0) {
        fclose(f);
        snprintf(msg, len, "--response-plans %s: not a readable file of at most %d bytes", path,
                 PLANS_FILE_MAX);
        return -1;
    }
    root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
    if (!root) {
        snprintf(msg, len, "--response-plans %s: line %d column %d: %s", path, je.line, je.column,
                 je.text);
        return -1;
    }
    int rc = plans_parse(root, book, why, sizeof(why));
    json_decref(root);
    if (rc < 0)
        snprintf(msg, len, "--response-plans %s: %s", path, why);
    return rc;
}

const response_plan *plans_find(const plan_book *book, const char *type, severity sev)
{
    for (size_t i = 0; book && i < book->n; i++)
        if (book->v[i].sev[sev] && strcmp(book->v[i].type, type) == 0)
            return &book->v[i];
    return NULL;
}
