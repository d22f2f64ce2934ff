/* etcd 3.4 as a peer: started by tests/etcd/start.sh (one member, or
 * --etcd-members 3), driven over its JSON gateway (POST /v3/kv/txn) by the
 * bench's own libcurl client, the load generator ergrid and the ceiling get.
 * Client thread k talks to member k mod N. Bodies are built before the
 * clock starts, as they are for ergrid. Keys carry a per-trial prefix, so
 * every trial starts with none of its keys present.
 *
 * Decisions: one txn per submission,
 *   compare create_revision(result key) == 0, success: put the result,
 *   failure: range the key (so the loser learns the winner, as a 409 does).
 * Submission with assignment: one txn per job,
 *   compare create_revision(unit slot key) == 0 (the slot is free),
 *   success: put the job (assigned to the unit) and put the slot. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etcd_peer.h"
#include "peer_util.h"
#include "util.h"

#define ETCD_MAX_MEMBERS 9

struct etcd_peer {
    char dir[512];
    unsigned members;
    char url[ETCD_MAX_MEMBERS][96];
    char urls[1024]; /* as start.sh printed them: --etcd's value */
    char describe[1024];
};

struct etcd_conn {
    hc h;
    const char *url; /* <member>/v3/kv/txn */
};

struct etcd_trial {
    etcd_peer *p;
    char txn_url[ETCD_MAX_MEMBERS][128];
    atomic_uint next_member; /* open runs in each client thread */
    char **body;             /* per submission */
    char **value;            /* per submission: `"value":"<b64>"` of its result */
    long n;
};

etcd_peer *etcd_peer_start(unsigned members)
{
    char pid[32], nm[8], out[8192];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    snprintf(nm, sizeof(nm), "%u", members);
    const char *argv[] = {peer_source_path("tests/etcd/start.sh"), "-n", nm, "-o", pid, NULL};
    int st = peer_script(argv, out, sizeof(out));
    etcd_peer *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    if (st != 0 || !peer_value(out, "ETCD_DIR", p->dir, sizeof(p->dir)) ||
        !peer_value(out, "ETCD_URLS", p->urls, sizeof(p->urls))) {
        bench_fail("etcd did not start (tests/etcd/start.sh exited %d; scripts/bench.sh --peers "
                   "installs etcd-server)",
                   st);
        free(p);
        return NULL;
    }
    const char *cur = p->urls, *u;
    size_t len;
    while (p->members < ETCD_MAX_MEMBERS && coord_next_token(&cur, ",", &u, &len))
        snprintf(p->url[p->members++], sizeof(p->url[0]), "%.*s", (int)len, u);
    hc h;
    hc_init(&h);
    char vurl[160];
    snprintf(vurl, sizeof(vurl), "%s/version", p->url[0]);
    long vs = hc_do(&h, "GET", vurl, NULL);
    json_t *v = vs == 200 ? json_loadb(h.buf, h.len, 0, NULL) : NULL;
    snprintf(p->describe, sizeof(p->describe),
             "etcd %s, %u member(s) at %s%s (data %s; its default durability: the WAL is "
             "fsynced before a txn is answered)",
             json_is_string(json_object_get(v, "etcdserver"))
                 ? json_string_value(json_object_get(v, "etcdserver"))
                 : "?",
             p->members, p->url[0], p->members > 1 ? ",..." : "", p->dir);
    json_decref(v);
    hc_cleanup(&h);
    return p;
}

const char *etcd_peer_describe(const etcd_peer *p)
{
    return p->describe;
}

const char *etcd_peer_urls(const etcd_peer *p)
{
    return p->urls;
}

long long etcd_peer_revision(const etcd_peer *p)
{
    char url[160];
    snprintf(url, sizeof(url), "%s/v3/kv/range", p->url[0]);
    hc h;
    if (hc_init(&h) < 0)
        return -1;
    /* A range of one key that need not exist: the reply's header carries
     * the store's revision either way. */
    long st = hc_do(&h, "POST", url, "{\"key\":\"AA==\"}");
    json_t *r = st == 200 ? json_loadb(h.buf, h.len, 0, NULL) : NULL;
    /* int64 fields come as strings in the gateway's JSON. */
    const char *rev = json_string_value(json_object_get(json_object_get(r, "header"), "revision"));
    long long v = rev ? atoll(rev) : -1;
    json_decref(r);
    hc_cleanup(&h);
    return v;
}

double etcd_peer_cpu_s(const etcd_peer *p)
{
    double sum = 0;
    for (unsigned i = 0; i < p->members; i++) {
        char path[600], line[32];
        snprintf(path, sizeof(path), "%s/m%u.pid", p->dir, i);
        FILE *f = fopen(path, "r");
        bool got = f && fgets(line, sizeof(line), f);
        if (f)
            fclose(f);
        double c = got ? proc_cpu_s((pid_t)atol(line)) : -1;
        if (c < 0)
            return -1;
        sum += c;
    }
    return sum;
}

void etcd_peer_stop(etcd_peer *p)
{
    if (!p)
        return;
    char out[256];
    const char *argv[] = {peer_source_path("tests/etcd/stop.sh"), p->dir, NULL};
    peer_script(argv, out, sizeof(out));
    free(p);
}

static void *etcd_open(void *arg)
{
    struct etcd_trial *t = arg;
    struct etcd_conn *c = calloc(1, sizeof(*c));
    if (!c || hc_init(&c->h) < 0) {
        free(c);
        return NULL;
    }
    unsigned k = atomic_fetch_add(&t->next_member, 1);
    c->url = t->txn_url[k % t->p->members];
    return c;
}

static void etcd_close(void *conn)
{
    struct etcd_conn *c = conn;
    hc_cleanup(&c->h);
    free(c);
}

static void trial_free(struct etcd_trial *t)
{
    for (long i = 0; i < t->n; i++) {
        free(t->body ? t->body[i] : NULL);
        free(t->value ? t->value[i] : NULL);
    }
    free(t->body);
    free(t->value);
}

static int trial_init(struct etcd_trial *t, etcd_peer *p, long n)
{
    memset(t, 0, sizeof(*t));
    t->p = p;
    t->n = n;
    for (unsigned m = 0; m < p->members; m++)
        snprintf(t->txn_url[m], sizeof(t->txn_url[m]), "%s/v3/kv/txn", p->url[m]);
    t->body = calloc((size_t)n, sizeof(*t->body));
    t->value = calloc((size_t)n, sizeof(*t->value));
    if (!t->body || !t->value) {
        bench_fail("etcd: out of memory");
        trial_free(t);
        return -1;
    }
    return 0;
}

/* base64 of s into a malloc'd string. */
static char *b64(const char *s)
{
    size_t n = strlen(s), cap = 4 * ((n + 2) / 3) + 1;
    char *o = malloc(cap);
    if (o && peer_b64(s, n, o, cap) < 0) {
        free(o);
        o = NULL;
    }
    return o;
}

static long post_txn(struct etcd_conn *c, const char *body)
{
    long st = hc_do(&c->h, "POST", c->url, body);
    if (st != 200)
        bench_fail("etcd txn: status %ld %s %.200s", st, c->h.err, c->h.buf);
    return st;
}

/* ---- decisions ---- */

static int decide_submit(void *conn, void *arg, long j, int k)
{
    struct etcd_conn *c = conn;
    struct etcd_trial *t = arg;
    long i = 3 * j + k;
    if (post_txn(c, t->body[i]) != 200)
        return RACE_ERROR;
    if (strstr(c->h.buf, "\"succeeded\":true"))
        return RACE_WON;
    /* The failure branch returned the winner: ours again is a retry. */
    return strstr(c->h.buf, t->value[i]) ? RACE_RETRY : RACE_LOST;
}

/* The number of keys under prefix (a count-only range), -1 on error. */
static long count_prefix(etcd_peer *p, const char *prefix)
{
    char end[128], *kb = b64(prefix), *eb;
    snprintf(end, sizeof(end), "%s", prefix);
    end[strlen(end) - 1]++; /* the prefix ends in '/': the range end is '0' */
    eb = b64(end);
    char url[160], body[512];
    snprintf(url, sizeof(url), "%s/v3/kv/range", p->url[0]);
    snprintf(body, sizeof(body), "{\"key\":\"%s\",\"range_end\":\"%s\",\"count_only\":true}",
             kb ? kb : "", eb ? eb : "");
    free(kb);
    free(eb);
    hc h;
    hc_init(&h);
    long st = hc_do(&h, "POST", url, body);
    json_t *r = st == 200 ? json_loadb(h.buf, h.len, 0, NULL) : NULL;
    /* int64 fields come as strings in the gateway's JSON; absent means 0. */
    const char *cs = json_string_value(json_object_get(r, "count"));
    long n = st != 200 ? -1 : cs ? atol(cs) : 0;
    json_decref(r);
    hc_cleanup(&h);
    return n;
}

int etcd_decide_trial(etcd_peer *p, unsigned threads, long njobs, unsigned trial, race_stats *out)
{
    struct etcd_trial t;
    if (trial_init(&t, p, 3 * njobs) < 0)
        return -1;
    char prefix[48];
    snprintf(prefix, sizeof(prefix), "bench/d%u/", trial);
    int rc = -1;
    for (long j = 0; j < njobs; j++) {
        char key[96], vals[2][256];
        snprintf(key, sizeof(key), "%sresults/peer-%06ld", prefix, j);
        for (int o = 0; o < 2; o++)
            snprintf(vals[o], sizeof(vals[o]),
                     "{\"unit_id\":\"U-%05ld\",\"attempt\":1,\"outcome\":\"%s\",\"data\":{\"crew\":"
                     "\"bench\"}}",
                     j / 64, o ? "extinguished" : "contained");
        char *kb = b64(key);
        for (int k = 0; k < 3; k++) {
            char *vb = b64(vals[k == 1]);
            char body[1024];
            snprintf(body, sizeof(body),
                     "{\"compare\":[{\"key\":\"%s\",\"target\":\"CREATE\",\"result\":\"EQUAL\","
                     "\"create_revision\":\"0\"}],\"success\":[{\"request_put\":{\"key\":\"%s\","
                     "\"value\":\"%s\"}}],\"failure\":[{\"request_range\":{\"key\":\"%s\"}}]}",
                     kb ? kb : "", kb ? kb : "", vb ? vb : "", kb ? kb : "");
            char match[400];
            snprintf(match, sizeof(match), "\"value\":\"%s\"", vb ? vb : "");
            t.body[3 * j + k] = strdup(body);
            t.value[3 * j + k] = strdup(match);
            free(vb);
        }
        free(kb);
    }
    race_target rt = {.name = "etcd",
                      .arg = &t,
                      .decides = true,
                      .open = etcd_open,
                      .close = etcd_close,
                      .submit = decide_submit};
    rc = race_run(&rt, threads, njobs, out);
    if (rc == 0) {
        long n = count_prefix(p, prefix);
        if (n != njobs) {
            bench_fail("etcd: %ld result keys for %ld jobs", n, njobs);
            rc = -1;
        }
    }
    trial_free(&t);
    return rc;
}

/* ---- submission with assignment ---- */

static int assign_submit(void *conn, void *arg, long j, int k)
{
    (void)k;
    struct etcd_conn *c = conn;
    struct etcd_trial *t = arg;
    if (post_txn(c, t->body[j]) != 200)
        return RACE_ERROR;
    if (!strstr(c->h.buf, "\"succeeded\":true")) {
        bench_fail("etcd: the slot for job %ld was taken (keys are fresh per trial)", j);
        return RACE_ERROR;
    }
    return RACE_WON;
}

int etcd_submit_trial(etcd_peer *p, unsigned threads, long njobs, long units, unsigned trial,
                      race_stats *out)
{
    static const char *const sev[] = {"low", "medium", "high", "critical"};
    struct etcd_trial t;
    if (units < 1)
        units = 1;
    if (trial_init(&t, p, njobs) < 0)
        return -1;
    char prefix[48];
    snprintf(prefix, sizeof(prefix), "bench/s%u/", trial);
    for (long j = 0; j < njobs; j++) {
        char slot[128], jkey[96], job[640], id[32], unit[32];
        snprintf(id, sizeof(id), "sub-%06ld", j);
        snprintf(unit, sizeof(unit), "subU-%05ld", j % units);
        snprintf(slot, sizeof(slot), "%sunits/%s/slots/%ld", prefix, unit, j / units);
        snprintf(jkey, sizeof(jkey), "%sjobs/%s", prefix, id);
        /* The job as the broker stores it: the submission plus its holder. */
        snprintf(job, sizeof(job),
                 "{\"id\":\"%s\",\"type\":\"building_fire\",\"severity\":\"%s\","
                 "\"required_capabilities\":[\"firefighting\"],\"location\":{\"lat\":34.05,"
                 "\"lon\":-118.24,\"block\":%ld},\"status\":\"assigned\",\"unit_id\":\"%s\","
                 "\"attempt\":1,\"attempts\":[{\"attempt\":1,\"unit_id\":\"%s\",\"state\":"
                 "\"active\"}]}",
                 id, sev[j % 4], j, unit, unit);
        char *sb = b64(slot), *jb = b64(jkey), *vb = b64(job), *ib = b64(id);
        char body[2048];
        snprintf(body, sizeof(body),
                 "{\"compare\":[{\"key\":\"%s\",\"target\":\"CREATE\",\"result\":\"EQUAL\","
                 "\"create_revision\":\"0\"}],\"success\":[{\"request_put\":{\"key\":\"%s\","
                 "\"value\":\"%s\"}},{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}}]}",
                 sb ? sb : "", jb ? jb : "", vb ? vb : "", sb ? sb : "", ib ? ib : "");
        t.body[j] = strdup(body);
        free(sb);
        free(jb);
        free(vb);
        free(ib);
    }
    race_target rt = {.name = "etcd job+assignment",
                      .arg = &t,
                      .decides = false,
                      .per_job = 1,
                      .open = etcd_open,
                      .close = etcd_close,
                      .submit = assign_submit};
    int rc = race_run(&rt, threads, njobs, out);
    if (rc == 0) {
        long n = count_prefix(p, prefix);
        if (n != 2 * njobs) {
            bench_fail("etcd: %ld keys for %ld jobs and their slots", n, njobs);
            rc = -1;
        }
    }
    trial_free(&t);
    return rc;
}
