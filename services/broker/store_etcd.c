/* The etcd backend of the broker's store (store_etcd.h, docs/HA.md §2-3):
 * the records store_sqlite.c keeps, one key each under the district's
 * prefix, as compact JSON objects of the row's fields (the fields that
 * make the key are in the key only); an open transaction collected in
 * memory and committed as one fenced etcd txn through the election.
 *
 * Keys under "/ergrid/v1/d/<D>/" (numbers zero-padded: key order is
 * numeric order):
 *   units/<unit>  jobs/<job>  attempts/<job>/<n:06>  results/<job>
 *   lines/<job> (a multi-unit incident's lines, SQLite's job_lines)
 *   events/<seq:012>  claims/<unit>/<job>
 *   steps/<unit>/<job>/<attempt:06>/<step>  remote/<kind>/<id>
 *   meta/<key>: put_meta's keys as raw text, and the store's own:
 *     meta/schema (put by the first commit when absent), meta/commit (the
 *     op count of every commit: the one key a follower polls),
 *     meta/event_seq (the last event seq, by every commit with events),
 *     meta/probe (the probe's write).
 *
 * Reads use the store's own client with short timeouts (one try at one
 * member STORE_ETCD_REQUEST_MS = 500 ms, a whole call STORE_ETCD_CALL_MS =
 * 1500 ms), so a follower's poll or a read under the domain mutex never
 * blocks it for long. A load reads every kind at one revision (the first
 * page's), so it never mixes two commits. */
#include "store_etcd.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "hmap.h"

#define STORE_ETCD_REQUEST_MS 500
#define STORE_ETCD_CALL_MS    1500
/* What one op costs in a txn besides its key and value (protobuf framing,
 * the put's other fields), counted high so an estimate below the limit is
 * a request etcd takes. */
#define OP_OVERHEAD 32
/* Room kept below --max-request-bytes for the fence's compares, the
 * failure branch's read and the request's own framing. */
#define TXN_SLACK (16u * 1024u)
/* Range pages: the first asks for PAGE_FIRST keys, the next ones for as
 * many as make about PAGE_BYTES of values at the sizes seen so far (at
 * most PAGE_KEYS), so that a page of large records (a synced copy may be
 * 256 KiB) still comes back within the short request timeout; a reply
 * over the client's cap (8 MiB) is asked again for half as many. */
#define PAGE_FIRST 64
#define PAGE_KEYS  500
#define PAGE_BYTES (512u * 1024u)
#define KEY_MAX    512

/* An op of the open transaction: a put (value, len bytes, owned) or a
 * delete (value NULL). */
typedef struct pend {
    char *key;
    char *value;
    size_t len;
} pend;

typedef struct estore {
    etcd_client *c;
    etcd_election *e; /* not owned */
    char prefix[KEY_MAX / 2];
    bool open;
    pend *ops;
    size_t nops, aops;
    hmap *index; /* key (borrowed from ops) -> its op's index + 1 */
    /* Keys the commit requires absent (create_revision == 0): the results
     * it inserts. Borrowed from ops. */
    const char **fresh;
    size_t nfresh, afresh;
    size_t bytes; /* the estimate the limits are checked against */
    bool has_event;
    uint64_t event_seq;
    bool schema_absent; /* meta/schema not seen yet: the next commit puts it */
    int64_t revision;
    bool failed;
    etcd_err code; /* etcd's answer to the last failed call; ETCD_OK: not etcd's */
    char err[512];
} estore;

/* ---- errors ---- */

static int fail(estore *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(estore *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
    s->failed = true;
    return -1;
}

/* Every call starts with no error. */
static void reset(estore *s)
{
    s->failed = false;
    s->code = ETCD_OK;
}

/* A failed call of the store's own client: its code and what etcd or curl
 * said. */
static int fail_read(estore *s, etcd_err e, const char *what, const char *key)
{
    const char *why = etcd_last_error(s->c);

    s->code = e;
    return fail(s, "etcd %s %s: %s%s%s%s", what, key, etcd_strerror(e), why && why[0] ? " (" : "",
                why ? why : "", why && why[0] ? ")" : "");
}

/* ---- keys ---- */

static bool seg_ok(const char *x)
{
    return x && x[0] && !strchr(x, '/');
}

/* prefix + the formatted rest into buf (KEY_MAX); -1 when it does not fit. */
static int mkkey(estore *s, char *buf, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int mkkey(estore *s, char *buf, const char *fmt, ...)
{
    size_t n = strlen(s->prefix);
    va_list ap;
    int m;

    memcpy(buf, s->prefix, n + 1);
    va_start(ap, fmt);
    m = vsnprintf(buf + n, KEY_MAX - n, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)m >= KEY_MAX - n)
        return fail(s, "key too long under %s", s->prefix);
    return 0;
}

/* ---- the open transaction ---- */

static size_t pend_bytes(const pend *p)
{
    return strlen(p->key) + p->len + OP_OVERHEAD;
}

static void end_txn(estore *s)
{
    for (size_t i = 0; i < s->nops; i++) {
        free(s->ops[i].key);
        free(s->ops[i].value);
    }
    s->nops = s->nfresh = s->bytes = 0;
    hmap_free(s->index, NULL);
    s->index = NULL;
    s->has_event = false;
    s->event_seq = 0;
    s->open = false;
}

/* Adds a put (value owned from here on, even on failure) or a delete
 * (value NULL) of key; a later op of the same key replaces the earlier
 * one, because etcd refuses a txn that names a key twice. */
static int pend_add(estore *s, const char *key, char *value, size_t len)
{
    uintptr_t at;
    pend *p;

    if (!s->open) {
        free(value);
        return fail(s, "a write outside a transaction (%s)", key);
    }
    at = (uintptr_t)hmap_get(s->index, key);
    if (at) {
        p = &s->ops[at - 1];
        s->bytes -= pend_bytes(p);
        free(p->value);
        p->value = value;
        p->len = len;
        s->bytes += pend_bytes(p);
        return 0;
    }
    if (s->nops == s->aops) {
        size_t na = s->aops ? 2 * s->aops : 64;
        pend *nv = realloc(s->ops, na * sizeof(*nv));

        if (!nv) {
            free(value);
            return fail(s, "out of memory");
        }
        s->ops = nv;
        s->aops = na;
    }
    p = &s->ops[s->nops];
    p->key = strdup(key);
    p->value = value;
    p->len = len;
    if (!p->key || hmap_put(s->index, p->key, (void *)(uintptr_t)(s->nops + 1), NULL) != 0) {
        free(p->key);
        free(value);
        return fail(s, "out of memory");
    }
    s->nops++;
    s->bytes += pend_bytes(p);
    return 0;
}

static int pend_text(estore *s, const char *key, const char *text)
{
    char *v = strdup(text);

    if (!v)
        return fail(s, "out of memory");
    return pend_add(s, key, v, strlen(v));
}

/* ---- values: compact JSON objects ---- */

static void set_str(json_t *o, const char *k, const char *v, bool *bad)
{
    json_t *x;

    if (!v)
        return;
    x = json_string(v);
    if (!x || json_object_set_new(o, k, x) != 0)
        *bad = true;
}

static void set_int(json_t *o, const char *k, int64_t v, bool *bad)
{
    if (json_object_set_new(o, k, json_integer((json_int_t)v)) != 0)
        *bad = true;
}

static void set_bool(json_t *o, const char *k, bool v, bool *bad)
{
    if (json_object_set_new(o, k, json_boolean(v)) != 0)
        *bad = true;
}

static void set_real(json_t *o, const char *k, double v, bool *bad)
{
    if (json_object_set_new(o, k, json_real(v)) != 0)
        *bad = true;
}

/* Puts o (taken) at key. */
static int pend_obj(estore *s, const char *key, json_t *o, bool bad)
{
    char *text = !bad && o ? json_dumps(o, JSON_COMPACT) : NULL;

    json_decref(o);
    if (!text)
        return fail(s, "cannot encode the record at %s (a text that is not UTF-8, or no memory)",
                    key);
    return pend_add(s, key, text, strlen(text));
}

/* A stored value read back: every field checked for its type, the first
 * one that is wrong (or a value that is not a JSON object) named with its
 * key in the store's error. */
typedef struct dec {
    estore *s;
    const char *key;
    json_t *o;
    const char *bad; /* the first bad field */
} dec;

static bool dec_open(dec *d, estore *s, const etcd_kv *kv)
{
    d->s = s;
    d->key = kv->key;
    d->bad = NULL;
    d->o = json_loadb(kv->value, kv->value_len, 0, NULL);
    if (!json_is_object(d->o)) {
        json_decref(d->o);
        d->o = NULL;
        fail(s, "damaged record at %s: not a JSON object", kv->key);
        return false;
    }
    return true;
}

/* 0, or -1 with the damage in the store's error. */
static int dec_close(dec *d)
{
    json_decref(d->o);
    d->o = NULL;
    if (d->bad)
        return fail(d->s, "damaged record at %s: field \"%s\" missing or of the wrong type", d->key,
                    d->bad);
    return 0;
}

static json_t *field(dec *d, const char *f, bool opt, int (*is)(const json_t *))
{
    json_t *v = json_object_get(d->o, f);

    if ((!v && !opt) || (v && !is(v))) {
        if (!d->bad)
            d->bad = f;
        return NULL;
    }
    return v;
}

static int is_string(const json_t *v)
{
    return json_is_string(v);
}
static int is_integer(const json_t *v)
{
    return json_is_integer(v);
}
static int is_boolean(const json_t *v)
{
    return json_is_boolean(v);
}
static int is_number(const json_t *v)
{
    return json_is_number(v);
}

/* A string field (borrowed until dec_close); opt: NULL when absent. */
static const char *dstr(dec *d, const char *f, bool opt)
{
    return json_string_value(field(d, f, opt, is_string));
}

/* An integer field; opt: 0 when absent. */
static int64_t dint(dec *d, const char *f, bool opt)
{
    return (int64_t)json_integer_value(field(d, f, opt, is_integer));
}

static bool dbool(dec *d, const char *f)
{
    return json_is_true(field(d, f, false, is_boolean));
}

static double dreal(dec *d, const char *f)
{
    return json_number_value(field(d, f, false, is_number));
}

/* ---- reads: ranges ---- */

typedef int (*kv_fn)(estore *s, const etcd_kv *kv, void *arg);

/* The next page's size after seen keys of bytes in all. */
static size_t page_for(size_t bytes, size_t seen)
{
    size_t avg = seen ? bytes / seen + 1 : 1, n = PAGE_BYTES / avg;

    return n < 1 ? 1 : n > PAGE_KEYS ? PAGE_KEYS : n;
}

/* The keys under prefix + sub after `after` (NULL: all), at most max (0:
 * no bound), page by page at *rev (0: the first page's revision, stored
 * into *rev), each to fn; fn < 0 stops the walk with -1 (its error, if
 * any, is fn's to set). */
static int walk(estore *s, const char *sub, const char *after, size_t max, int64_t *rev, kv_fn fn,
                void *arg)
{
    char prefix[KEY_MAX];
    char *cursor = NULL;
    size_t page = PAGE_FIRST, seen = 0, bytes = 0;

    if (mkkey(s, prefix, "%s", sub) < 0)
        return -1;
    if (after && !(cursor = strdup(after)))
        return fail(s, "out of memory");
    for (;;) {
        size_t want = max && max - seen < page ? max - seen : page;
        etcd_range_result r;
        etcd_err e = etcd_range_prefix(s->c, prefix, cursor, want, *rev, &r);
        bool last;

        if (e == ETCD_E_TOO_LARGE && want > 1) {
            page = want / 2;
            continue;
        }
        if (e) {
            free(cursor);
            return fail_read(s, e, "range", prefix);
        }
        if (*rev == 0)
            *rev = r.revision;
        for (size_t i = 0; i < r.n; i++) {
            if (fn(s, &r.kvs[i], arg) < 0) {
                etcd_range_result_release(&r);
                free(cursor);
                return -1;
            }
        }
        for (size_t i = 0; i < r.n; i++)
            bytes += strlen(r.kvs[i].key) + r.kvs[i].value_len;
        seen += r.n;
        page = page_for(bytes, seen);
        last = !r.more || r.n == 0 || (max && seen >= max);
        if (!last) {
            free(cursor);
            cursor = r.kvs[r.n - 1].key;
            r.kvs[r.n - 1].key = NULL;
        }
        etcd_range_result_release(&r);
        if (last)
            break;
    }
    free(cursor);
    return 0;
}

/* The key's part after prefix + sub, copied into buf (KEY_MAX) and split
 * at '/' into exactly n segments; false when it has another shape. */
static bool key_parts(estore *s, const char *key, const char *sub, char *buf, char **seg, size_t n)
{
    size_t pl = strlen(s->prefix), sl = strlen(sub);
    char *p;

    if (strncmp(key, s->prefix, pl) != 0 || strncmp(key + pl, sub, sl) != 0 ||
        strlen(key + pl + sl) >= KEY_MAX)
        return false;
    memcpy(buf, key + pl + sl, strlen(key + pl + sl) + 1);
    p = buf;
    for (size_t i = 0; i < n; i++) {
        char *slash = strchr(p, '/');

        if (i + 1 < n && !slash)
            return false;
        if (i + 1 == n && slash)
            return false;
        if (slash)
            *slash = '\0';
        if (!p[0])
            return false;
        seg[i] = p;
        p = slash ? slash + 1 : p + strlen(p);
    }
    return true;
}

/* A zero-padded number segment. */
static bool seg_number(const char *x, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!x[0] || x[0] < '0' || x[0] > '9')
        return false;
    v = strtoull(x, &end, 10);
    if (*end)
        return false;
    *out = v;
    return true;
}

static int bad_key(estore *s, const char *key)
{
    return fail(s, "damaged record: key %s is not one this store writes", key);
}

/* The key split as key_parts does and the value opened for dec: 0, or -1
 * with the damage named in the store's error. */
static int row_open(estore *s, const etcd_kv *kv, const char *sub, char *buf, char **seg, size_t n,
                    dec *d)
{
    if (!key_parts(s, kv->key, sub, buf, seg, n))
        return bad_key(s, kv->key);
    return dec_open(d, s, kv) ? 0 : -1;
}

/* ---- the store's functions ---- */

static int es_begin(void *cls)
{
    estore *s = cls;

    reset(s);
    if (s->open)
        return fail(s, "a transaction is already open");
    s->index = hmap_new_borrowed();
    if (!s->index)
        return fail(s, "out of memory");
    s->open = true;
    return 0;
}

static void es_rollback(void *cls)
{
    estore *s = cls;

    if (s->open)
        end_txn(s);
}

/* Which key a failed compare named: the first result already stored. */
static void explain_compare(estore *s)
{
    for (size_t i = 0; i < s->nfresh; i++) {
        etcd_kv kv;

        if (etcd_get(s->c, s->fresh[i], &kv, NULL) == ETCD_OK) {
            etcd_kv_release(&kv);
            fail(s, "commit refused: %s already exists (a result of that job is stored)",
                 s->fresh[i]);
            return;
        }
    }
    fail(s, "commit refused: a precondition of the commit no longer holds");
}

static int commit_failed(estore *s, etcd_err e)
{
    s->code = e;
    switch (e) {
    case ETCD_E_NOT_LEADER:
        return fail(s, "not the leader: the district's leader key is not this broker's any more, "
                       "so etcd refused the commit");
    case ETCD_E_COMPARE_FAILED:
        explain_compare(s);
        return -1;
    case ETCD_E_UNAVAILABLE:
        return fail(s, "etcd unavailable (no quorum or no etcd leader in time): the commit may or "
                       "may not have been applied");
    case ETCD_E_TRANSPORT:
        return fail(s, "etcd unreachable: no member accepted a connection");
    default:
        return fail(s, "etcd refused the commit: %s", etcd_strerror(e));
    }
}

/* Answered as etcd_election_txn answers a follower. */
static int no_election(estore *s)
{
    s->code = ETCD_E_NOT_LEADER;
    return fail(s, "not the leader: no election (this broker cannot write the district)");
}

/* Sends the open transaction as one fenced txn. */
static int send_txn(estore *s)
{
    char key[KEY_MAX], num[32];
    size_t nops = s->nops, nc = s->nfresh;
    etcd_op *ops;
    etcd_cmp *cmps;
    etcd_txn_result res;
    etcd_err e;

    if (nops == 0)
        return 0; /* nothing to write */
    if (!s->e)
        return no_election(s);
    snprintf(num, sizeof(num), "%zu", nops);
    if (mkkey(s, key, "meta/commit") < 0 || pend_text(s, key, num) < 0)
        return -1;
    if (s->has_event) {
        snprintf(num, sizeof(num), "%" PRIu64, s->event_seq);
        if (mkkey(s, key, "meta/event_seq") < 0 || pend_text(s, key, num) < 0)
            return -1;
    }
    if (s->schema_absent) {
        snprintf(num, sizeof(num), "%d", STORE_SCHEMA_VERSION);
        if (mkkey(s, key, "meta/schema") < 0 || pend_text(s, key, num) < 0)
            return -1;
    }
    /* the fence takes two compares of the same limit */
    if (s->nops > STORE_ETCD_MAX_OPS || nc + 2 > STORE_ETCD_MAX_OPS ||
        s->bytes > STORE_ETCD_MAX_BYTES - TXN_SLACK)
        return fail(s,
                    "commit too large for one etcd txn: %zu ops, %zu compares, about %zu bytes "
                    "(at most %d ops and %u bytes less %u of room)",
                    s->nops, nc + 2, s->bytes, STORE_ETCD_MAX_OPS, STORE_ETCD_MAX_BYTES, TXN_SLACK);
    ops = calloc(s->nops, sizeof(*ops));
    cmps = calloc(nc ? nc : 1, sizeof(*cmps));
    if (!ops || !cmps) {
        free(ops);
        free(cmps);
        return fail(s, "out of memory");
    }
    for (size_t i = 0; i < s->nops; i++)
        ops[i] = (etcd_op){.kind = s->ops[i].value ? ETCD_OP_PUT : ETCD_OP_DELETE,
                           .key = s->ops[i].key,
                           .value = s->ops[i].value,
                           .value_len = s->ops[i].len};
    for (size_t i = 0; i < nc; i++)
        cmps[i] = (etcd_cmp){.key = s->fresh[i], .target = ETCD_CMP_CREATE_REVISION, .op = ETCD_EQ};
    memset(&res, 0, sizeof(res));
    e = etcd_election_txn(s->e, cmps, nc, ops, s->nops, &res);
    free(ops);
    free(cmps);
    if (e == ETCD_OK) {
        if (res.revision > s->revision)
            s->revision = res.revision;
        s->schema_absent = false;
    }
    etcd_txn_result_release(&res);
    return e == ETCD_OK ? 0 : commit_failed(s, e);
}

/* The transaction ends here whatever the answer (a rollback after a
 * failed commit finds nothing to drop). */
static int es_commit(void *cls)
{
    estore *s = cls;
    int rc;

    reset(s);
    if (!s->open)
        return fail(s, "commit without a transaction");
    rc = send_txn(s);
    end_txn(s);
    return rc;
}

static bool es_full(void *cls)
{
    const estore *s = cls;

    return s->open && (s->nops >= STORE_ETCD_MAX_OPS / 2 || s->bytes >= STORE_ETCD_MAX_BYTES / 2);
}

static int es_put_unit(void *cls, const unit *u)
{
    estore *s = cls;
    char key[KEY_MAX], caps[CAPSTEXT_MAX];
    json_t *o = json_object();
    bool bad = !o;

    reset(s);
    if (!seg_ok(u->id) || mkkey(s, key, "units/%s", u->id) < 0) {
        json_decref(o);
        return fail(s, "unit id %s cannot be a key", u->id);
    }
    capstext(&u->caps, caps);
    set_str(o, "kind", u->kind, &bad);
    set_str(o, "caps", caps, &bad);
    set_str(o, "url", u->url ? u->url : "", &bad);
    set_int(o, "capacity", u->capacity, &bad);
    set_bool(o, "out_of_service", unit_cond_off(u->cond), &bad);
    set_int(o, "registered_ms", (int64_t)u->registered_ms, &bad);
    if (u->pos.has_station) {
        set_real(o, "station_lat", u->pos.station.lat, &bad);
        set_real(o, "station_lon", u->pos.station.lon, &bad);
    }
    return pend_obj(s, key, o, bad);
}

static int put_attempt(estore *s, const char *job_id, const attempt *a)
{
    char key[KEY_MAX], clock[CLOCKTEXT_MAX];
    json_t *o = json_object();
    bool bad = !o;
    /* A pending attempt is stored as what it is after a crash before its
     * settle: abandoned (as store_sqlite does). */
    attempt_state st = a->state == ATT_PENDING ? ATT_REVOKED : a->state;

    if (mkkey(s, key, "attempts/%s/%06" PRIu32, job_id, a->n) < 0) {
        json_decref(o);
        return -1;
    }
    set_str(o, "unit_id", a->unit_id, &bad);
    set_str(o, "unit_district", a->unit_district, &bad);
    set_int(o, "state", st, &bad);
    set_bool(o, "notified", a->notified, &bad);
    set_str(o, "clock", clocktext_compact(&a->clock, clock), &bad);
    set_int(o, "at_ms", (int64_t)a->at_ms, &bad);
    if (a->why.why != RANK_WHY_NONE) {
        set_int(o, "why", a->why.why, &bad);
        set_int(o, "why_metres", a->why.metres, &bad);
        set_int(o, "why_age_s", a->why.age_s, &bad);
    }
    return pend_obj(s, key, o, bad);
}

static int put_lines(estore *s, const job *j)
{
    char key[KEY_MAX];
    char *lines = linestext(j), *atts = attlinestext(j);
    json_t *o = json_object();
    bool bad = !o || !lines || !atts;

    set_str(o, "lines", lines, &bad);
    set_str(o, "plan", j->plan, &bad);
    set_str(o, "attempt_lines", atts, &bad);
    free(lines);
    free(atts);
    if (mkkey(s, key, "lines/%s", j->id) < 0) {
        json_decref(o);
        return -1;
    }
    return pend_obj(s, key, o, bad);
}

static int es_put_job(void *cls, const job *j)
{
    estore *s = cls;
    char key[KEY_MAX], caps[CAPSTEXT_MAX];
    json_t *o = json_object();
    bool bad = !o;
    int rc;

    reset(s);
    if (!seg_ok(j->id) || mkkey(s, key, "jobs/%s", j->id) < 0) {
        json_decref(o);
        return fail(s, "job id %s cannot be a key", j->id);
    }
    capstext(&j->caps, caps);
    set_str(o, "type", j->type, &bad);
    set_int(o, "severity", j->sev, &bad);
    set_str(o, "caps", caps, &bad);
    set_str(o, "location", j->location, &bad);
    set_str(o, "payload", j->payload, &bad);
    set_int(o, "request_digest", (int64_t)j->request_digest, &bad);
    set_int(o, "status", j->status, &bad);
    set_int(o, "seq", (int64_t)j->seq, &bad);
    set_int(o, "created_ms", (int64_t)j->created_ms, &bad);
    set_int(o, "updated_ms", (int64_t)j->updated_ms, &bad);
    rc = pend_obj(s, key, o, bad);
    for (size_t i = 0; rc == 0 && i < j->nattempts; i++)
        rc = put_attempt(s, j->id, &j->attempts[i]);
    if (rc == 0 && j->nlines)
        rc = put_lines(s, j);
    return rc;
}

static int es_insert_result(void *cls, const char *job_id, const result *r)
{
    estore *s = cls;
    char key[KEY_MAX];
    json_t *o;
    bool bad;

    reset(s);
    if (!seg_ok(job_id) || mkkey(s, key, "results/%s", job_id) < 0)
        return fail(s, "job id %s cannot be a key", job_id ? job_id : "(null)");
    if (s->open && hmap_get(s->index, key))
        return fail(s, "a result of job %s is already in this transaction", job_id);
    if (s->nfresh == s->afresh) {
        size_t na = s->afresh ? 2 * s->afresh : 16;
        const char **nv = realloc(s->fresh, na * sizeof(*nv));

        if (!nv)
            return fail(s, "out of memory");
        s->fresh = nv;
        s->afresh = na;
    }
    o = json_object();
    bad = !o;
    set_str(o, "unit_id", r->unit_id, &bad);
    set_int(o, "attempt", r->attempt, &bad);
    set_str(o, "outcome", r->outcome, &bad);
    set_str(o, "data", r->data ? r->data : "{}", &bad);
    set_int(o, "digest", (int64_t)r->digest, &bad);
    set_int(o, "at_ms", (int64_t)r->at_ms, &bad);
    if (pend_obj(s, key, o, bad) < 0)
        return -1;
    /* the op's own copy of the key outlives the transaction's compares */
    s->fresh[s->nfresh++] = s->ops[(uintptr_t)hmap_get(s->index, key) - 1].key;
    return 0;
}

/* Keys the store writes itself under meta/. */
static bool meta_reserved(const char *key)
{
    return strcmp(key, "commit") == 0 || strcmp(key, "event_seq") == 0 || strcmp(key, "probe") == 0;
}

static int es_put_meta(void *cls, const char *key, const char *value)
{
    estore *s = cls;
    char k[KEY_MAX];

    reset(s);
    if (!seg_ok(key) || meta_reserved(key))
        return fail(s, "meta key %s is not one a caller may write", key ? key : "(null)");
    if (mkkey(s, k, "meta/%s", key) < 0)
        return -1;
    return pend_text(s, k, value ? value : "");
}

static int es_get_meta(void *cls, const char *key, char *buf, size_t len)
{
    estore *s = cls;
    char k[KEY_MAX];
    etcd_kv kv;
    etcd_err e;
    uintptr_t at;

    reset(s);
    if (!seg_ok(key) || mkkey(s, k, "meta/%s", key) < 0)
        return fail(s, "meta key %s is not valid", key ? key : "(null)");
    /* what this transaction wrote, as SQLite reads its own writes */
    at = s->open ? (uintptr_t)hmap_get(s->index, k) : 0;
    if (at) {
        const pend *p = &s->ops[at - 1];

        if (!p->value)
            return COORD_E_NOTFOUND;
        snprintf(buf, len, "%s", p->value);
        return 0;
    }
    e = etcd_get(s->c, k, &kv, NULL);
    if (e == ETCD_E_NOT_FOUND)
        return COORD_E_NOTFOUND;
    if (e)
        return fail_read(s, e, "get", k);
    snprintf(buf, len, "%s", kv.value);
    etcd_kv_release(&kv);
    return 0;
}

/* ---- events ---- */

/* Where the records of a listing go. */
struct sink {
    store_event_cb event;
    store_claim_cb claim;
    store_step_cb step;
    store_remote_cb remote;
    void *arg;
};

static int es_add_event(void *cls, const store_event *ev)
{
    estore *s = cls;
    char key[KEY_MAX];
    json_t *o = json_object();
    bool bad = !o;

    reset(s);
    if (mkkey(s, key, "events/%012" PRIu64, ev->seq) < 0) {
        json_decref(o);
        return -1;
    }
    set_int(o, "time_ms", (int64_t)ev->time_ms, &bad);
    set_str(o, "node", ev->node ? ev->node : "", &bad);
    set_str(o, "type", ev->type ? ev->type : "", &bad);
    set_str(o, "job_id", ev->job_id, &bad);
    set_str(o, "unit_id", ev->unit_id, &bad);
    if (ev->attempt)
        set_int(o, "attempt", ev->attempt, &bad);
    set_str(o, "detail", ev->detail, &bad);
    set_str(o, "vclock", ev->vclock ? ev->vclock : "{}", &bad);
    if (pend_obj(s, key, o, bad) < 0)
        return -1;
    if (!s->has_event || ev->seq > s->event_seq)
        s->event_seq = ev->seq;
    s->has_event = true;
    return 0;
}

static int event_kv(estore *s, const etcd_kv *kv, void *arg)
{
    const struct sink *k = arg;
    char buf[KEY_MAX], *seg[1];
    uint64_t seq;
    store_event ev;
    dec d = {0};

    if (!key_parts(s, kv->key, "events/", buf, seg, 1) || !seg_number(seg[0], &seq))
        return bad_key(s, kv->key);
    if (!dec_open(&d, s, kv))
        return -1;
    ev = (store_event){
        .seq = seq,
        .time_ms = (uint64_t)dint(&d, "time_ms", false),
        .node = dstr(&d, "node", false),
        .type = dstr(&d, "type", false),
        .job_id = dstr(&d, "job_id", true),
        .unit_id = dstr(&d, "unit_id", true),
        .attempt = (uint32_t)dint(&d, "attempt", true),
        .detail = dstr(&d, "detail", true),
        .vclock = dstr(&d, "vclock", false),
    };
    if (!d.bad)
        k->event(k->arg, &ev);
    return dec_close(&d);
}

static int es_list_events(void *cls, uint64_t after, size_t limit, store_event_cb cb, void *arg)
{
    estore *s = cls;
    char from[KEY_MAX];
    int64_t rev = 0;
    struct sink k = {.event = cb, .arg = arg};

    reset(s);
    if (limit == 0)
        return 0;
    if (mkkey(s, from, "events/%012" PRIu64, after) < 0)
        return -1;
    return walk(s, "events/", from, limit, &rev, event_kv, &k);
}

static int es_last_event(void *cls, store_event_cb cb, void *arg)
{
    estore *s = cls;
    char key[KEY_MAX];
    uint64_t seq = 0;
    etcd_kv kv;
    etcd_err e;
    int rc;
    struct sink k = {.event = cb, .arg = arg};

    reset(s);
    if (mkkey(s, key, "meta/event_seq") < 0)
        return -1;
    e = etcd_get(s->c, key, &kv, NULL);
    if (e == ETCD_E_NOT_FOUND)
        return 0;
    if (e)
        return fail_read(s, e, "get", key);
    rc = seg_number(kv.value, &seq) ? 0 : fail(s, "damaged record at %s: not a number", key);
    etcd_kv_release(&kv);
    if (rc < 0 || mkkey(s, key, "events/%012" PRIu64, seq) < 0)
        return -1;
    e = etcd_get(s->c, key, &kv, NULL);
    if (e == ETCD_E_NOT_FOUND)
        return fail(s, "damaged store: meta/event_seq names %s, which is absent", key);
    if (e)
        return fail_read(s, e, "get", key);
    rc = event_kv(s, &kv, &k);
    etcd_kv_release(&kv);
    return rc;
}

/* ---- claims, steps, synced copies ---- */

static int es_put_claim(void *cls, const store_claim *c)
{
    estore *s = cls;
    char key[KEY_MAX];
    json_t *o;
    bool bad;

    reset(s);
    if (!seg_ok(c->unit_id) || !seg_ok(c->job_id) ||
        mkkey(s, key, "claims/%s/%s", c->unit_id, c->job_id) < 0)
        return fail(s, "claim ids cannot be a key");
    o = json_object();
    bad = !o;
    set_int(o, "attempt", c->attempt, &bad);
    set_str(o, "owner", c->owner ? c->owner : "", &bad);
    return pend_obj(s, key, o, bad);
}

static int es_del_claim(void *cls, const char *unit_id, const char *job_id)
{
    estore *s = cls;
    char key[KEY_MAX];

    reset(s);
    if (!seg_ok(unit_id) || !seg_ok(job_id) || mkkey(s, key, "claims/%s/%s", unit_id, job_id) < 0)
        return fail(s, "claim ids cannot be a key");
    return pend_add(s, key, NULL, 0);
}

static int claim_kv(estore *s, const etcd_kv *kv, void *arg)
{
    const struct sink *k = arg;
    char buf[KEY_MAX], *seg[2];
    store_claim c;
    dec d = {0};
    int rc = 0;

    if (row_open(s, kv, "claims/", buf, seg, 2, &d) < 0)
        return -1;
    c = (store_claim){
        .unit_id = seg[0],
        .job_id = seg[1],
        .attempt = (uint32_t)dint(&d, "attempt", false),
        .owner = dstr(&d, "owner", false),
    };
    if (!d.bad)
        rc = k->claim(k->arg, &c);
    return dec_close(&d) < 0 || rc < 0 ? -1 : 0;
}

static int es_list_claims(void *cls, store_claim_cb cb, void *arg)
{
    estore *s = cls;
    int64_t rev = 0;
    struct sink k = {.claim = cb, .arg = arg};

    reset(s);
    return walk(s, "claims/", NULL, 0, &rev, claim_kv, &k);
}

static int es_put_step(void *cls, const store_step *x)
{
    estore *s = cls;
    char key[KEY_MAX];
    json_t *o;
    bool bad;

    reset(s);
    if (!seg_ok(x->unit_id) || !seg_ok(x->job_id) || !seg_ok(x->step) ||
        mkkey(s, key, "steps/%s/%s/%06" PRIu32 "/%s", x->unit_id, x->job_id, x->attempt, x->step) <
            0)
        return fail(s, "step ids cannot be a key");
    o = json_object();
    bad = !o;
    set_int(o, "at_ms", (int64_t)x->at_ms, &bad);
    return pend_obj(s, key, o, bad);
}

static int step_kv(estore *s, const etcd_kv *kv, void *arg)
{
    const struct sink *k = arg;
    char buf[KEY_MAX], *seg[4];
    uint64_t att;
    store_step x;
    dec d = {0};
    int rc = 0;

    if (!key_parts(s, kv->key, "steps/", buf, seg, 4) || !seg_number(seg[2], &att) ||
        att > UINT32_MAX)
        return bad_key(s, kv->key);
    if (!dec_open(&d, s, kv))
        return -1;
    x = (store_step){
        .unit_id = seg[0],
        .job_id = seg[1],
        .step = seg[3],
        .attempt = (uint32_t)att,
        .at_ms = (uint64_t)dint(&d, "at_ms", false),
    };
    if (!d.bad)
        rc = k->step(k->arg, &x);
    return dec_close(&d) < 0 || rc < 0 ? -1 : 0;
}

static int es_list_steps(void *cls, store_step_cb cb, void *arg)
{
    estore *s = cls;
    int64_t rev = 0;
    struct sink k = {.step = cb, .arg = arg};

    reset(s);
    return walk(s, "steps/", NULL, 0, &rev, step_kv, &k);
}

static int es_put_remote(void *cls, const store_remote *r)
{
    estore *s = cls;
    char key[KEY_MAX];
    json_t *o;
    bool bad;

    reset(s);
    if (r->kind == '/' || r->kind == '\0' || !seg_ok(r->id) ||
        mkkey(s, key, "remote/%c/%s", r->kind, r->id) < 0)
        return fail(s, "synced copy ids cannot be a key");
    o = json_object();
    bad = !o;
    set_str(o, "owner", r->owner ? r->owner : "", &bad);
    set_str(o, "obj", r->obj ? r->obj : "", &bad);
    set_int(o, "fetched_ms", (int64_t)r->fetched_ms, &bad);
    return pend_obj(s, key, o, bad);
}

static int es_del_remote(void *cls, char kind, const char *id)
{
    estore *s = cls;
    char key[KEY_MAX];

    reset(s);
    if (kind == '/' || kind == '\0' || !seg_ok(id) || mkkey(s, key, "remote/%c/%s", kind, id) < 0)
        return fail(s, "synced copy ids cannot be a key");
    return pend_add(s, key, NULL, 0);
}

static int remote_kv(estore *s, const etcd_kv *kv, void *arg)
{
    const struct sink *k = arg;
    char buf[KEY_MAX], *seg[2];
    store_remote r;
    dec d = {0};
    int rc = 0;

    if (!key_parts(s, kv->key, "remote/", buf, seg, 2) || strlen(seg[0]) != 1)
        return bad_key(s, kv->key);
    if (!dec_open(&d, s, kv))
        return -1;
    r = (store_remote){
        .kind = seg[0][0],
        .id = seg[1],
        .owner = dstr(&d, "owner", false),
        .obj = dstr(&d, "obj", false),
        .fetched_ms = (uint64_t)dint(&d, "fetched_ms", false),
    };
    if (!d.bad)
        rc = k->remote(k->arg, &r);
    return dec_close(&d) < 0 || rc < 0 ? -1 : 0;
}

static int es_list_remote(void *cls, store_remote_cb cb, void *arg)
{
    estore *s = cls;
    int64_t rev = 0;
    struct sink k = {.remote = cb, .arg = arg};

    reset(s);
    return walk(s, "remote/", NULL, 0, &rev, remote_kv, &k);
}

/* ---- load: the rows restore.c reads, at one revision ---- */

typedef struct load_ctx {
    const store_rows *rows;
    void *arg;
} load_ctx;

/* A callback's refusal fails the load without a store error (store.h). */
static int row_done(dec *d, int rc)
{
    if (dec_close(d) < 0)
        return -1;
    return rc < 0 ? -1 : 0;
}

static int unit_kv(estore *s, const etcd_kv *kv, void *arg)
{
    const load_ctx *l = arg;
    char buf[KEY_MAX], *seg[1];
    store_unit_row r;
    dec d = {0};
    json_t *lat;

    if (row_open(s, kv, "units/", buf, seg, 1, &d) < 0)
        return -1;
    lat = json_object_get(d.o, "station_lat");
    r = (store_unit_row){
        .id = seg[0],
        .kind = dstr(&d, "kind", false),
        .caps = dstr(&d, "caps", false),
        .url = dstr(&d, "url", false),
        .capacity = dint(&d, "capacity", false),
        .out_of_service = dbool(&d, "out_of_service"),
        .registered_ms = dint(&d, "registered_ms", false),
        .has_station = lat != NULL,
        .station_lat = lat ? dreal(&d, "station_lat") : 0,
        .station_lon = lat ? dreal(&d, "station_lon") : 0,
    };
    return row_done(&d, d.bad ? 0 : l->rows->unit(l->arg, &r));
}

static int job_kv(estore *s, const etcd_kv *kv, void *arg)
{
    const load_ctx *l = arg;
    char buf[KEY_MAX], *seg[1];
    store_job_row r;
    dec d = {0};

    if (row_open(s, kv, "jobs/", buf, seg, 1, &d) < 0)
        return -1;
    r = (store_job_row){
        .id = seg[0],
        .type = dstr(&d, "type", false),
        .caps = dstr(&d, "caps", false),
        .location = dstr(&d, "location", true),
        .payload = dstr(&d, "payload", true),
        .severity = dint(&d, "severity", false),
        .status_int = dint(&d, "status", false),
        .request_digest = dint(&d, "request_digest", false),
        .seq = dint(&d, "seq", false),
        .created_ms = dint(&d, "created_ms", false),
        .updated_ms = dint(&d, "updated_ms", false),
    };
    return row_done(&d, d.bad ? 0 : l->rows->job(l->arg, &r));
}

static int attempt_kv(estore *s, const etcd_kv *kv, void *arg)
{
    const load_ctx *l = arg;
    char buf[KEY_MAX], *seg[2];
    uint64_t n;
    store_attempt_row r;
    dec d = {0};

    if (!key_parts(s, kv->key, "attempts/", buf, seg, 2) || !seg_number(seg[1], &n) ||
        n > INT64_MAX)
        return bad_key(s, kv->key);
    if (!dec_open(&d, s, kv))
        return -1;
    r = (store_attempt_row){
        .job_id = seg[0],
        .n = (int64_t)n,
        .unit_id = dstr(&d, "unit_id", false),
        .unit_district = dstr(&d, "unit_district", false),
        .clock = dstr(&d, "clock", true),
        .state_int = dint(&d, "state", false),
        .at_ms = dint(&d, "at_ms", false),
        .notified = dbool(&d, "notified"),
        .why = dint(&d, "why", true),
        .why_metres = dint(&d, "why_metres", true),
        .why_age_s = dint(&d, "why_age_s", true),
    };
    return row_done(&d, d.bad ? 0 : l->rows->attempt(l->arg, &r));
}

static int result_kv(estore *s, const etcd_kv *kv, void *arg)
{
    const load_ctx *l = arg;
    char buf[KEY_MAX], *seg[1];
    store_result_row r;
    dec d = {0};

    if (row_open(s, kv, "results/", buf, seg, 1, &d) < 0)
        return -1;
    r = (store_result_row){
        .job_id = seg[0],
        .unit_id = dstr(&d, "unit_id", false),
        .outcome = dstr(&d, "outcome", false),
        .data = dstr(&d, "data", false),
        .attempt = dint(&d, "attempt", false),
        .digest = dint(&d, "digest", false),
        .at_ms = dint(&d, "at_ms", false),
    };
    return row_done(&d, d.bad ? 0 : l->rows->result(l->arg, &r));
}

static int lines_kv(estore *s, const etcd_kv *kv, void *arg)
{
    const load_ctx *l = arg;
    char buf[KEY_MAX], *seg[1];
    store_job_lines_row r;
    dec d = {0};

    if (row_open(s, kv, "lines/", buf, seg, 1, &d) < 0)
        return -1;
    r = (store_job_lines_row){
        .job_id = seg[0],
        .lines = dstr(&d, "lines", false),
        .plan = dstr(&d, "plan", true),
        .attempt_lines = dstr(&d, "attempt_lines", false),
    };
    return row_done(&d, d.bad ? 0 : l->rows->job_lines(l->arg, &r));
}

static int es_load(void *cls, const store_rows *rows, void *arg)
{
    estore *s = cls;
    load_ctx l = {rows, arg};
    int64_t rev = 0;

    reset(s);
    /* the order store.h asks for; every range at the first one's revision */
    if (walk(s, "units/", NULL, 0, &rev, unit_kv, &l) < 0 ||
        walk(s, "jobs/", NULL, 0, &rev, job_kv, &l) < 0 ||
        walk(s, "attempts/", NULL, 0, &rev, attempt_kv, &l) < 0 ||
        walk(s, "results/", NULL, 0, &rev, result_kv, &l) < 0 ||
        (rows->job_lines && walk(s, "lines/", NULL, 0, &rev, lines_kv, &l) < 0))
        return -1;
    if (rev > s->revision)
        s->revision = rev;
    return 0;
}

static bool es_error(void *cls, char *buf, size_t len)
{
    const estore *s = cls;

    if (!s->failed)
        return false;
    snprintf(buf, len, "%s", s->err);
    return true;
}

/* One fenced put: etcd takes our writes again when it is answered. */
static int es_probe(void *cls)
{
    estore *s = cls;
    char key[KEY_MAX], v[32];
    etcd_op op;
    etcd_err e;

    reset(s);
    if (s->open)
        return fail(s, "a probe inside a transaction");
    if (!s->e)
        return no_election(s);
    if (mkkey(s, key, "meta/probe") < 0)
        return -1;
    snprintf(v, sizeof(v), "%" PRIu64, coord_now_wall_ms());
    op = (etcd_op){.kind = ETCD_OP_PUT, .key = key, .value = v, .value_len = strlen(v)};
    e = etcd_election_txn(s->e, NULL, 0, &op, 1, NULL);
    return e == ETCD_OK ? 0 : commit_failed(s, e);
}

static void es_close(void *cls)
{
    estore *s = cls;

    if (!s)
        return;
    es_rollback(s);
    free(s->ops);
    free(s->fresh);
    etcd_free(s->c);
    free(s);
}

/* Absent: a district no leader has written yet (its first commit puts
 * it). Another version: refused. */
static int check_schema(estore *s, char *err, size_t errlen)
{
    char key[KEY_MAX];
    etcd_kv kv;
    etcd_err e;
    long have;

    if (mkkey(s, key, "meta/schema") < 0) {
        snprintf(err, errlen, "%s", s->err);
        return -1;
    }
    e = etcd_get(s->c, key, &kv, NULL);
    if (e == ETCD_E_NOT_FOUND) {
        s->schema_absent = true;
        return 0;
    }
    if (e) {
        snprintf(err, errlen, "cannot read %s from etcd: %s (%s)", key, etcd_strerror(e),
                 etcd_last_error(s->c));
        return -1;
    }
    have = strtol(kv.value, NULL, 10);
    if (have >= 1 && have <= STORE_SCHEMA_VERSION) {
        etcd_kv_release(&kv);
        return 0;
    }
    snprintf(err, errlen, "store schema %s at %s is not one this broker reads (it writes %d)",
             kv.value, key, STORE_SCHEMA_VERSION);
    etcd_kv_release(&kv);
    return -1;
}

void store_etcd_prefix(const char *district, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s/", STORE_ETCD_ROOT, district);
}

int store_etcd_open(struct store *st, const char *url_list, const char *district, etcd_election *e,
                    char *err, size_t errlen)
{
    etcd_opts o = {.request_timeout_ms = STORE_ETCD_REQUEST_MS, .timeout_ms = STORE_ETCD_CALL_MS};
    estore *s;

    if (!coord_id_valid(district)) {
        snprintf(err, errlen, "district %s is not a valid id", district ? district : "(null)");
        return -1;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    store_etcd_prefix(district, s->prefix, sizeof(s->prefix));
    s->e = e;
    s->c = url_list ? etcd_new_list(url_list, &o) : NULL;
    if (!s->c) {
        snprintf(err, errlen, "--etcd %s is not a list of http:// or https:// URLs (at most 16)",
                 url_list ? url_list : "(none)");
        free(s);
        return -1;
    }
    if (check_schema(s, err, errlen) < 0) {
        es_close(s);
        return -1;
    }
    *st = (struct store){
        .cls = s,
        .begin = es_begin,
        .commit = es_commit,
        .rollback = es_rollback,
        .sync = NULL,
        .put_unit = es_put_unit,
        .put_job = es_put_job,
        .insert_result = es_insert_result,
        .put_meta = es_put_meta,
        .get_meta = es_get_meta,
        .add_event = es_add_event,
        .list_events = es_list_events,
        .last_event = es_last_event,
        .put_claim = es_put_claim,
        .del_claim = es_del_claim,
        .list_claims = es_list_claims,
        .put_step = es_put_step,
        .list_steps = es_list_steps,
        .put_remote = es_put_remote,
        .del_remote = es_del_remote,
        .list_remote = es_list_remote,
        .load = es_load,
        .error = es_error,
        .probe = es_probe,
        .pages_written = NULL,
        .full = es_full,
        .close = es_close,
    };
    return 0;
}

void store_etcd_set_election(struct store *st, etcd_election *e)
{
    ((estore *)st->cls)->e = e;
}

int64_t store_etcd_revision(const struct store *st)
{
    return ((const estore *)st->cls)->revision;
}

etcd_err store_etcd_last_error(const struct store *st)
{
    const estore *s = st->cls;

    return s->failed ? s->code : ETCD_OK;
}

int store_etcd_changed(const struct store *st, bool *changed)
{
    estore *s = st->cls;
    char key[KEY_MAX];
    etcd_kv kv;
    etcd_err e;

    if (mkkey(s, key, "meta/commit") < 0)
        return -1;
    e = etcd_get(s->c, key, &kv, NULL);
    if (e == ETCD_E_NOT_FOUND) {
        *changed = false; /* nothing was ever committed */
        return 0;
    }
    if (e)
        return fail_read(s, e, "get", key);
    *changed = kv.mod_revision > s->revision;
    etcd_kv_release(&kv);
    return 0;
}
