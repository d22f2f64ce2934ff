/* api/etcd.c and api/etcd_elect.c against real etcd members that
 * tests/etcd/start.sh starts on 127.0.0.1 (a 1-member store for the KV,
 * lease and election cases, a 3-member cluster for failover and quorum
 * loss). Election candidates that must be paused run as child processes.
 * Skips (exit 77) when no etcd binary is installed.
 *   test_api_etcd --bench   prints create-if-absent txn throughput instead. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "cluster.h"
#include "etcd.h"
#include "http_client.h"
#include "util.h"

typedef etcd_test_cluster cluster;

static cluster one;   /* 1 member: kv, lease, election */
static cluster three; /* 3 members: failover, quorum */

/* ---- harness ---- */

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Polls cond every 20 ms until it holds or timeout_ms passes. */
#define WAIT_UNTIL(cond, timeout_ms)                                                               \
    ({                                                                                             \
        long deadline_ = now_ms() + (timeout_ms);                                                  \
        bool ok_;                                                                                  \
        while (!(ok_ = (cond)) && now_ms() < deadline_)                                            \
            pause_ms(20);                                                                          \
        ok_;                                                                                       \
    })

static void setup_one(void)
{
    etcd_test_cluster_start_or_exit(&one, 1);
}

static void teardown_one(void)
{
    etcd_test_cluster_stop(&one);
}

static void setup_three(void)
{
    etcd_test_cluster_start_or_exit(&three, 3);
}

static void teardown_three(void)
{
    etcd_test_cluster_stop(&three);
}

static etcd_client *client_of(cluster *cl, long timeout_ms)
{
    etcd_opts o = {.timeout_ms = timeout_ms, .request_timeout_ms = timeout_ms / 2};
    etcd_client *c = etcd_new((const char *const *)cl->urls, cl->n, &o);

    ck_assert_ptr_nonnull(c);
    return c;
}

static bool absent(etcd_client *c, const char *key)
{
    etcd_kv kv;
    etcd_err e = etcd_get(c, key, &kv, NULL);

    if (e == ETCD_OK)
        etcd_kv_release(&kv);
    return e == ETCD_E_NOT_FOUND;
}

static void put_str(etcd_client *c, const char *key, const char *value)
{
    etcd_err e = etcd_put(c, key, value, strlen(value), 0, NULL);

    ck_assert_msg(e == ETCD_OK, "put %s: %s (%s)", key, etcd_strerror(e), etcd_last_error(c));
}

/* ---- key/value ---- */

START_TEST(test_put_get_delete)
{
    etcd_client *c = client_of(&one, 3000);
    etcd_kv kv;
    int64_t rev1, rev2, rev, deleted;
    static const char bin[] = {'a', '\0', 'b', '\xff', '\n'};

    ck_assert_int_eq(etcd_put(c, "/t/kv/a", "one", 3, 0, &rev1), ETCD_OK);
    ck_assert_int_eq(etcd_get(c, "/t/kv/a", &kv, &rev), ETCD_OK);
    ck_assert_str_eq(kv.key, "/t/kv/a");
    ck_assert_str_eq(kv.value, "one");
    ck_assert_uint_eq(kv.value_len, 3);
    ck_assert_int_eq(kv.create_revision, rev1);
    ck_assert_int_eq(kv.mod_revision, rev1);
    ck_assert_int_eq(kv.version, 1);
    ck_assert_int_eq(kv.lease, 0);
    ck_assert_int_ge(rev, rev1);
    etcd_kv_release(&kv);

    /* an update keeps create_revision and moves mod_revision and version */
    ck_assert_int_eq(etcd_put(c, "/t/kv/a", bin, sizeof(bin), 0, &rev2), ETCD_OK);
    ck_assert_int_gt(rev2, rev1);
    ck_assert_int_eq(etcd_get(c, "/t/kv/a", &kv, NULL), ETCD_OK);
    ck_assert_uint_eq(kv.value_len, sizeof(bin));
    ck_assert_mem_eq(kv.value, bin, sizeof(bin));
    ck_assert_int_eq(kv.create_revision, rev1);
    ck_assert_int_eq(kv.mod_revision, rev2);
    ck_assert_int_eq(kv.version, 2);
    etcd_kv_release(&kv);

    /* an empty value is a value, not an absent key */
    ck_assert_int_eq(etcd_put(c, "/t/kv/empty", "", 0, 0, NULL), ETCD_OK);
    ck_assert_int_eq(etcd_get(c, "/t/kv/empty", &kv, NULL), ETCD_OK);
    ck_assert_uint_eq(kv.value_len, 0);
    ck_assert_str_eq(kv.value, "");
    etcd_kv_release(&kv);

    ck_assert_int_eq(etcd_delete(c, "/t/kv/a", &deleted, &rev), ETCD_OK);
    ck_assert_int_eq(deleted, 1);
    ck_assert_int_gt(rev, rev2);
    ck_assert_int_eq(etcd_get(c, "/t/kv/a", &kv, NULL), ETCD_E_NOT_FOUND);
    ck_assert_int_eq(etcd_delete(c, "/t/kv/a", &deleted, NULL), ETCD_OK);
    ck_assert_int_eq(deleted, 0);

    /* bad arguments never reach etcd */
    ck_assert_int_eq(etcd_put(c, "", "x", 1, 0, NULL), ETCD_E_INVALID);
    ck_assert_int_eq(etcd_put(c, NULL, "x", 1, 0, NULL), ETCD_E_INVALID);
    ck_assert_int_eq(etcd_delete_prefix(c, "", NULL, NULL), ETCD_E_INVALID);
    ck_assert_int_eq(etcd_get(c, "/t/kv/empty", NULL, NULL), ETCD_E_INVALID);
    etcd_free(c);
}
END_TEST

typedef struct walk {
    int seen;
    int stop_at;
    char last[64];
    bool ordered;
} walk;

static int walk_fn(const etcd_kv *kv, void *arg)
{
    walk *w = arg;

    if (w->last[0] && strcmp(w->last, kv->key) >= 0)
        w->ordered = false;
    snprintf(w->last, sizeof(w->last), "%s", kv->key);
    w->seen++;
    return w->stop_at && w->seen == w->stop_at;
}

START_TEST(test_range_paging)
{
    etcd_client *c = client_of(&one, 3000);
    etcd_range_result r;
    char key[64], after[64];
    int64_t snap, deleted;
    walk w = {.ordered = true};
    size_t total = 0;

    for (int i = 0; i < 25; i++) {
        snprintf(key, sizeof(key), "/t/page/k%02d", i);
        put_str(c, key, "v");
    }
    /* neighbours that a prefix range must not include */
    put_str(c, "/t/page", "exact-without-slash");
    put_str(c, "/t/page0", "sibling");
    put_str(c, "/t/pagf/x", "next-prefix");

    ck_assert_int_eq(etcd_range_prefix(c, "/t/page/", NULL, 10, 0, &r), ETCD_OK);
    ck_assert_uint_eq(r.n, 10);
    ck_assert(r.more);
    ck_assert_int_eq(r.count, 25);
    ck_assert_str_eq(r.kvs[0].key, "/t/page/k00");
    ck_assert_str_eq(r.kvs[9].key, "/t/page/k09");
    snap = r.revision;
    snprintf(after, sizeof(after), "%s", r.kvs[9].key);
    total += r.n;
    etcd_range_result_release(&r);

    /* a key added after the first page is not in the snapshot being paged */
    put_str(c, "/t/page/k99", "late");
    for (;;) {
        ck_assert_int_eq(etcd_range_prefix(c, "/t/page/", after, 10, snap, &r), ETCD_OK);
        ck_assert_int_eq(r.count, 25 - (int64_t)total);
        total += r.n;
        if (r.n)
            snprintf(after, sizeof(after), "%s", r.kvs[r.n - 1].key);
        if (!r.more) {
            etcd_range_result_release(&r);
            break;
        }
        etcd_range_result_release(&r);
    }
    ck_assert_uint_eq(total, 25);
    ck_assert_str_eq(after, "/t/page/k24");

    /* the newest revision sees the late key */
    ck_assert_int_eq(etcd_range_prefix(c, "/t/page/", NULL, 0, 0, &r), ETCD_OK);
    ck_assert_uint_eq(r.n, 26);
    ck_assert(!r.more);
    etcd_range_result_release(&r);

    /* the walk pages through all of it in order, and stops when told */
    ck_assert_int_eq(etcd_range_prefix_all(c, "/t/page/", 7, walk_fn, &w, &snap), ETCD_OK);
    ck_assert_int_eq(w.seen, 26);
    ck_assert(w.ordered);
    ck_assert_int_gt(snap, 0);
    w = (walk){.ordered = true, .stop_at = 9};
    ck_assert_int_eq(etcd_range_prefix_all(c, "/t/page/", 4, walk_fn, &w, NULL), ETCD_OK);
    ck_assert_int_eq(w.seen, 9);

    /* `after` outside the prefix is a caller's mistake */
    ck_assert_int_eq(etcd_range_prefix(c, "/t/page/", "/t/other", 10, 0, &r), ETCD_E_INVALID);

    ck_assert_int_eq(etcd_delete_prefix(c, "/t/page/", &deleted, NULL), ETCD_OK);
    ck_assert_int_eq(deleted, 26);
    ck_assert_int_eq(etcd_range_prefix(c, "/t/page", NULL, 0, 0, &r), ETCD_OK);
    ck_assert_uint_eq(r.n, 2); /* "/t/page" and "/t/page0" survive */
    etcd_range_result_release(&r);
    ck_assert_int_eq(etcd_range_prefix(c, "/t/pagf/", NULL, 0, 0, &r), ETCD_OK);
    ck_assert_uint_eq(r.n, 1);
    etcd_range_result_release(&r);
    etcd_free(c);
}
END_TEST

START_TEST(test_txn_compare)
{
    etcd_client *c = client_of(&one, 3000);
    etcd_cmp absent = {.key = "/t/txn/k", .target = ETCD_CMP_CREATE_REVISION, .op = ETCD_EQ};
    etcd_op put = {.kind = ETCD_OP_PUT, .key = "/t/txn/k", .value = "first", .value_len = 5};
    etcd_op get = {.kind = ETCD_OP_RANGE, .key = "/t/txn/k"};
    etcd_txn_result r;
    etcd_kv kv;
    int64_t created;

    /* create-if-absent: the first wins, the second reads what it lost to */
    ck_assert_int_eq(etcd_txn(c, &absent, 1, &put, 1, &get, 1, &r), ETCD_OK);
    ck_assert(r.succeeded);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_int_eq(r.results[0].kind, ETCD_OP_PUT);
    created = r.revision;
    etcd_txn_result_release(&r);
    ck_assert_int_eq(etcd_get(c, "/t/txn/k", &kv, NULL), ETCD_OK);
    ck_assert_int_eq(kv.create_revision, created);
    etcd_kv_release(&kv);

    put.value = "second";
    put.value_len = 6;
    ck_assert_int_eq(etcd_txn(c, &absent, 1, &put, 1, &get, 1, &r), ETCD_E_COMPARE_FAILED);
    ck_assert(!r.succeeded);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(r.results[0].range.n, 1);
    ck_assert_str_eq(r.results[0].range.kvs[0].value, "first");
    etcd_txn_result_release(&r);
    ck_assert_int_eq(etcd_txn(c, &absent, 1, &put, 1, NULL, 0, NULL), ETCD_E_COMPARE_FAILED);

    /* each compare target, true and false; revisions relative to created */
    {
        static const struct {
            etcd_cmp_target target;
            etcd_cmp_op op;
            int64_t number;
            bool relative;
            const char *value;
            bool holds;
        } cases[] = {
            {ETCD_CMP_VALUE, ETCD_EQ, 0, false, "first", true},
            {ETCD_CMP_VALUE, ETCD_EQ, 0, false, "firs", false},
            {ETCD_CMP_VALUE, ETCD_NE, 0, false, "other", true},
            {ETCD_CMP_CREATE_REVISION, ETCD_EQ, 0, true, NULL, true},
            {ETCD_CMP_MOD_REVISION, ETCD_GT, 0, true, NULL, false},
            {ETCD_CMP_MOD_REVISION, ETCD_LT, 1, true, NULL, true},
            {ETCD_CMP_VERSION, ETCD_EQ, 1, false, NULL, true},
            {ETCD_CMP_VERSION, ETCD_GT, 1, false, NULL, false},
            {ETCD_CMP_LEASE, ETCD_EQ, 0, false, NULL, true},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            etcd_cmp cmp = {.key = "/t/txn/k",
                            .target = cases[i].target,
                            .op = cases[i].op,
                            .number = cases[i].number + (cases[i].relative ? created : 0),
                            .value = cases[i].value,
                            .value_len = cases[i].value ? strlen(cases[i].value) : 0};
            etcd_err e = etcd_txn(c, &cmp, 1, &get, 1, NULL, 0, NULL);
            ck_assert_msg(e == (cases[i].holds ? ETCD_OK : ETCD_E_COMPARE_FAILED), "case %zu: %s",
                          i, etcd_strerror(e));
        }
    }

    /* several ops in one branch, applied together */
    {
        etcd_op ops[] = {
            {.kind = ETCD_OP_PUT, .key = "/t/txn/a", .value = "A", .value_len = 1},
            {.kind = ETCD_OP_PUT, .key = "/t/txn/b", .value = "B", .value_len = 1},
            {.kind = ETCD_OP_DELETE, .key = "/t/txn/k"},
            {.kind = ETCD_OP_RANGE, .key = "/t/txn/", .prefix = true},
        };
        etcd_cmp still = {
            .key = "/t/txn/k", .target = ETCD_CMP_VERSION, .op = ETCD_EQ, .number = 1};
        ck_assert_int_eq(etcd_txn(c, &still, 1, ops, 4, NULL, 0, &r), ETCD_OK);
        ck_assert_uint_eq(r.n, 4);
        ck_assert_int_eq(r.results[2].deleted, 1);
        /* a range inside the txn sees the txn's own writes */
        ck_assert_uint_eq(r.results[3].range.n, 2);
        ck_assert_str_eq(r.results[3].range.kvs[0].key, "/t/txn/a");
        etcd_txn_result_release(&r);
    }
    ck_assert_int_eq(etcd_delete_prefix(c, "/t/txn/", NULL, NULL), ETCD_OK);
    etcd_free(c);
}
END_TEST

/* The limits docs/HA.md relies on: etcd's --max-txn-ops and
 * --max-request-bytes defaults, as this client reports them. */
START_TEST(test_txn_limits)
{
    etcd_client *c = client_of(&one, 5000);
    etcd_op ops[129];
    char keys[129][32];
    char *big;
    size_t big_len = (size_t)1536 * 1024;

    for (int i = 0; i < 129; i++) {
        snprintf(keys[i], sizeof(keys[i]), "/t/lim/%03d", i);
        ops[i] = (etcd_op){.kind = ETCD_OP_PUT, .key = keys[i], .value = "x", .value_len = 1};
    }
    ck_assert_int_eq(etcd_txn(c, NULL, 0, ops, 128, NULL, 0, NULL), ETCD_OK);
    ck_assert_int_eq(etcd_txn(c, NULL, 0, ops, 129, NULL, 0, NULL), ETCD_E_INVALID);
    ck_assert_str_ne(etcd_last_error(c), "");

    big = malloc(big_len + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, 'b', big_len + 1);
    /* a request just under 1.5 MiB passes, one just over is refused */
    ck_assert_int_eq(etcd_put(c, "/t/lim/big", big, big_len - 4096, 0, NULL), ETCD_OK);
    ck_assert_int_eq(etcd_put(c, "/t/lim/big", big, big_len + 1, 0, NULL), ETCD_E_TOO_LARGE);
    free(big);

    /* the reply cap: a 1.5 MiB value does not fit in 64 KiB */
    {
        etcd_opts o = {.max_reply = 65536};
        etcd_client *small = etcd_new((const char *const *)one.urls, one.n, &o);
        etcd_kv kv;
        ck_assert_int_eq(etcd_get(small, "/t/lim/big", &kv, NULL), ETCD_E_TOO_LARGE);
        ck_assert_int_eq(etcd_get(small, "/t/lim/000", &kv, NULL), ETCD_OK);
        etcd_kv_release(&kv);
        etcd_free(small);
    }
    ck_assert_int_eq(etcd_delete_prefix(c, "/t/lim/", NULL, NULL), ETCD_OK);
    etcd_free(c);
}
END_TEST

START_TEST(test_lease_expiry)
{
    etcd_client *c = client_of(&one, 3000);
    int64_t id, granted, left, id2;
    etcd_kv kv;

    ck_assert_int_eq(etcd_lease_grant(c, 2, &id, &granted), ETCD_OK);
    ck_assert_int_ge(granted, 2);
    ck_assert_int_eq(etcd_put(c, "/t/lease/k", "v", 1, id, NULL), ETCD_OK);
    ck_assert_int_eq(etcd_get(c, "/t/lease/k", &kv, NULL), ETCD_OK);
    ck_assert_int_eq(kv.lease, id);
    etcd_kv_release(&kv);
    ck_assert_int_eq(etcd_lease_ttl(c, id, &left, &granted), ETCD_OK);
    ck_assert_int_le(left, granted);
    ck_assert_int_eq(etcd_lease_keepalive_once(c, id, &left), ETCD_OK);
    ck_assert_int_ge(left, 2);

    /* nobody keeps it alive: etcd deletes the key with the lease */
    ck_assert(WAIT_UNTIL(absent(c, "/t/lease/k"), 15000));
    ck_assert_int_eq(etcd_lease_keepalive_once(c, id, &left), ETCD_E_NOT_FOUND);
    ck_assert_int_eq(etcd_lease_ttl(c, id, &left, NULL), ETCD_E_NOT_FOUND);
    ck_assert_int_eq(etcd_put(c, "/t/lease/k", "v", 1, id, NULL), ETCD_E_NOT_FOUND);

    /* revoking deletes at once */
    ck_assert_int_eq(etcd_lease_grant(c, 60, &id2, NULL), ETCD_OK);
    ck_assert_int_eq(etcd_put(c, "/t/lease/k2", "v", 1, id2, NULL), ETCD_OK);
    ck_assert_int_eq(etcd_lease_revoke(c, id2), ETCD_OK);
    ck_assert_int_eq(etcd_get(c, "/t/lease/k2", &kv, NULL), ETCD_E_NOT_FOUND);
    ck_assert_int_eq(etcd_lease_revoke(c, id2), ETCD_E_NOT_FOUND);
    etcd_free(c);
}
END_TEST

/* ---- a fake member, for replies etcd never sends ---- */

typedef struct fake {
    int fd;
    uint16_t port;
    const char *status; /* "200 OK" */
    const char *body;   /* NULL: body_len bytes of a JSON object padded with spaces */
    size_t body_len;
    pthread_t th;
} fake;

/* Reads one whole request (headers and Content-Length body), so closing
 * afterwards never resets a connection with unread data in it. */
static void fake_read_request(int cfd)
{
    char buf[8192];
    size_t got = 0;
    char *end = NULL;
    ssize_t n;

    while (!end && got < sizeof(buf) - 1 && (n = read(cfd, buf + got, sizeof(buf) - 1 - got)) > 0) {
        got += (size_t)n;
        buf[got] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (end) {
        const char *cl = strcasestr(buf, "content-length:");
        size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
        size_t have = got - (size_t)(end + 4 - buf);
        while (have < want && (n = read(cfd, buf, sizeof(buf))) > 0)
            have += (size_t)n;
    }
}

static void *fake_serve(void *arg)
{
    fake *f = arg;
    int cfd = accept(f->fd, NULL, NULL);
    char head[160];
    size_t blen = f->body ? strlen(f->body) : f->body_len;
    char *body;
    int n;

    if (cfd < 0)
        return NULL;
    fake_read_request(cfd);
    body = malloc(blen + 1);
    if (f->body) {
        memcpy(body, f->body, blen);
    } else {
        memset(body, ' ', blen);
        body[0] = '{';
        body[blen - 1] = '}';
    }
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 f->status, blen);
    if (write(cfd, head, (size_t)n) < 0 || write(cfd, body, blen) < 0)
        perror("fake write");
    free(body);
    close(cfd);
    return NULL;
}

static void fake_start(fake *f)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);

    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(f->fd, 0);
    ck_assert_int_eq(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(f->fd, 4), 0);
    getsockname(f->fd, (struct sockaddr *)&a, &len);
    f->port = ntohs(a.sin_port);
    pthread_create(&f->th, NULL, fake_serve, f);
}

static void fake_stop(fake *f)
{
    shutdown(f->fd, SHUT_RDWR);
    pthread_join(f->th, NULL);
    close(f->fd);
}

static etcd_err fake_get(fake *f)
{
    char url[64];
    const char *urls[] = {url};
    etcd_opts o = {.timeout_ms = 2000, .max_reply = 4096};
    etcd_client *c;
    etcd_kv kv;
    etcd_err e;

    fake_start(f);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)f->port);
    c = etcd_new(urls, 1, &o);
    e = etcd_get(c, "/k", &kv, NULL);
    if (e == ETCD_OK)
        etcd_kv_release(&kv);
    etcd_free(c);
    fake_stop(f);
    return e;
}

START_TEST(test_error_codes)
{
    const char *bad_urls[] = {"ftp://127.0.0.1:1"};
    const char *dead[2];
    char d0[64], d1[64];
    etcd_client *c;
    etcd_kv kv;
    long t0;

    /* every code has its own name */
    for (int i = 0; i < ETCD_E__COUNT; i++)
        for (int j = i + 1; j < ETCD_E__COUNT; j++)
            ck_assert_str_ne(etcd_strerror(i), etcd_strerror(j));
    ck_assert_str_eq(etcd_strerror(ETCD_E_UNAVAILABLE), "unavailable");
    ck_assert_str_eq(etcd_strerror((etcd_err)99), "unknown");

    ck_assert_ptr_null(etcd_new(bad_urls, 1, NULL));
    ck_assert_ptr_null(etcd_new(bad_urls, 0, NULL));
    ck_assert_ptr_null(etcd_new_list("", NULL));
    c = etcd_new_list(one.urls_list, NULL);
    ck_assert_ptr_nonnull(c);
    etcd_free(c);
    etcd_free(NULL);

    /* nothing listening anywhere: transport, at once rather than at the
     * deadline (ports from a socket we bound and closed) */
    {
        fake f1 = {0}, f2 = {0};
        fake_start(&f1);
        fake_start(&f2);
        snprintf(d0, sizeof(d0), "http://127.0.0.1:%u", (unsigned)f1.port);
        snprintf(d1, sizeof(d1), "http://127.0.0.1:%u", (unsigned)f2.port);
        fake_stop(&f1);
        fake_stop(&f2);
    }
    dead[0] = d0;
    dead[1] = d1;
    c = etcd_new(dead, 2, &(etcd_opts){.timeout_ms = 20000});
    t0 = now_ms();
    ck_assert_int_eq(etcd_get(c, "/k", &kv, NULL), ETCD_E_TRANSPORT);
    ck_assert_int_lt(now_ms() - t0, 10000);
    ck_assert_str_ne(etcd_last_error(c), "");
    etcd_free(c);

    /* a 200 that is not JSON, and one over the reply cap */
    {
        static const struct {
            const char *status, *body;
            size_t body_len;
            etcd_err want;
        } cases[] = {
            {"200 OK", "hello", 0, ETCD_E_BAD_REPLY},
            {"200 OK", "{\"kvs\":{}}", 0, ETCD_E_BAD_REPLY},
            {"200 OK", "{\"kvs\":[{\"key\":\"!!\"}]}", 0, ETCD_E_BAD_REPLY},
            {"200 OK", "{\"header\":{\"revision\":\"12x\"}}", 0, ETCD_E_BAD_REPLY},
            {"200 OK", NULL, 100000, ETCD_E_TOO_LARGE},
            {"404 Not Found", "{\"error\":\"x\",\"message\":\"x not found\",\"code\":5}", 0,
             ETCD_E_NOT_FOUND},
            {"400 Bad Request",
             "{\"error\":\"x\",\"message\":\"etcdserver: request is too large\",\"code\":3}", 0,
             ETCD_E_TOO_LARGE},
            {"400 Bad Request", "{\"error\":\"x\",\"message\":\"bad\",\"code\":3}", 0,
             ETCD_E_INVALID},
            {"400 Bad Request",
             "{\"error\":\"x\",\"message\":\"mvcc: required revision has been compacted\","
             "\"code\":11}",
             0, ETCD_E_COMPACTED},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            fake f = {
                .status = cases[i].status, .body = cases[i].body, .body_len = cases[i].body_len};
            etcd_err e = fake_get(&f);
            ck_assert_msg(e == cases[i].want, "case %zu: %s", i, etcd_strerror(e));
        }
    }
}
END_TEST

/* ---- election: candidates as threads ---- */

typedef struct watch {
    atomic_int leader_events, follower_events;
} watch;

static void on_change(void *arg, etcd_role role, const etcd_fence *fence)
{
    watch *w = arg;

    if (role == ETCD_LEADER)
        atomic_fetch_add(&w->leader_events, 1);
    else
        atomic_fetch_add(&w->follower_events, 1);
    (void)fence;
}

static etcd_election *candidate(cluster *cl, const char *prefix, const char *id, watch *w)
{
    etcd_election_opts o = {.ttl_s = 2, .on_change = on_change, .on_change_arg = w};
    etcd_election *e = etcd_election_new((const char *const *)cl->urls, cl->n, prefix, id, &o);

    ck_assert_ptr_nonnull(e);
    return e;
}

START_TEST(test_election_one_leader)
{
    watch wa = {0}, wb = {0};
    etcd_election *a = candidate(&one, "/t/el1", "cand-a", &wa);
    etcd_election *b = candidate(&one, "/t/el1", "cand-b", &wb);
    etcd_election *lead, *follow;
    etcd_client *c = client_of(&one, 3000);
    etcd_leader l;
    etcd_fence fl, old;
    etcd_op put = {.kind = ETCD_OP_PUT, .key = "/t/el1/data", .value = "x", .value_len = 1};
    etcd_err e;

    ck_assert_int_eq(etcd_leader_get(c, "/t/el1", &l), ETCD_E_NOT_FOUND);
    ck_assert_int_eq(etcd_election_start(a), 0);
    ck_assert_int_eq(etcd_election_start(b), 0);
    ck_assert(WAIT_UNTIL(etcd_election_role(a, NULL) == ETCD_LEADER ||
                             etcd_election_role(b, NULL) == ETCD_LEADER,
                         10000));
    lead = etcd_election_role(a, NULL) == ETCD_LEADER ? a : b;
    follow = lead == a ? b : a;
    /* both keep campaigning for several periods: still exactly one */
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(etcd_election_role(lead, NULL), ETCD_LEADER);
        ck_assert_int_eq(etcd_election_role(follow, NULL), ETCD_FOLLOWER);
        pause_ms(100);
    }
    ck_assert_int_eq(etcd_election_role(lead, &fl), ETCD_LEADER);
    ck_assert_int_eq(atomic_load(lead == a ? &wa.leader_events : &wb.leader_events), 1);
    ck_assert_int_eq(atomic_load(follow == a ? &wa.leader_events : &wb.leader_events), 0);

    /* the follower sees who leads, as etcd says */
    ck_assert_int_eq(etcd_election_observe(follow, &l), ETCD_OK);
    ck_assert_str_eq(l.id, fl.id);
    ck_assert_int_eq(l.create_revision, fl.create_revision);
    ck_assert_int_gt(l.lease, 0);

    /* the leader writes through its fence; the follower cannot */
    ck_assert_int_eq(etcd_election_txn(lead, NULL, 0, &put, 1, NULL), ETCD_OK);
    ck_assert_int_eq(etcd_election_txn(follow, NULL, 0, &put, 1, NULL), ETCD_E_NOT_LEADER);
    /* the fence held but the caller's own compare failed: not a step-down */
    {
        etcd_cmp never = {
            .key = "/t/el1/data", .target = ETCD_CMP_VERSION, .op = ETCD_EQ, .number = 99};
        ck_assert_int_eq(etcd_election_txn(lead, &never, 1, &put, 1, NULL), ETCD_E_COMPARE_FAILED);
        ck_assert_int_eq(etcd_election_role(lead, NULL), ETCD_LEADER);
    }

    /* resigning hands over without waiting for the TTL */
    old = fl;
    ck_assert_int_eq(etcd_election_resign(lead, true), ETCD_OK);
    ck_assert(WAIT_UNTIL(etcd_election_role(follow, NULL) == ETCD_LEADER, 10000));
    ck_assert_int_eq(etcd_election_role(follow, &fl), ETCD_LEADER);
    ck_assert_int_gt(fl.create_revision, old.create_revision);
    ck_assert_int_eq(etcd_election_role(lead, NULL), ETCD_FOLLOWER);
    /* the old term's fence is refused by etcd itself */
    e = etcd_txn_fenced(c, &old, NULL, 0, &put, 1, NULL);
    ck_assert_int_eq(e, ETCD_E_NOT_LEADER);
    ck_assert_int_eq(etcd_txn_fenced(c, &fl, NULL, 0, &put, 1, NULL), ETCD_OK);

    etcd_election_free(a);
    etcd_election_free(b);
    /* freeing the leader resigned it: the key is gone */
    ck_assert_int_eq(etcd_leader_get(c, "/t/el1", &l), ETCD_E_NOT_FOUND);
    etcd_free(c);
}
END_TEST

/* The lease goes away under a leader (an operator revokes it, or etcd
 * expired it): the next keep-alive says so, the leader steps down and is
 * told, and campaigns again under a new lease and a higher term. */
START_TEST(test_lease_lost_steps_down)
{
    watch w = {0};
    etcd_election *a = candidate(&one, "/t/el4", "lonely", &w);
    etcd_client *c = client_of(&one, 3000);
    etcd_leader l;
    etcd_fence f1, f2;

    ck_assert_int_eq(etcd_election_start(a), 0);
    ck_assert(WAIT_UNTIL(etcd_election_role(a, &f1) == ETCD_LEADER, 10000));
    ck_assert_int_eq(etcd_leader_get(c, "/t/el4", &l), ETCD_OK);
    ck_assert_int_eq(etcd_lease_revoke(c, l.lease), ETCD_OK);
    ck_assert(WAIT_UNTIL(atomic_load(&w.follower_events) == 1, 10000));
    ck_assert(WAIT_UNTIL(atomic_load(&w.leader_events) == 2, 10000));
    ck_assert_int_eq(etcd_election_role(a, &f2), ETCD_LEADER);
    ck_assert_int_gt(f2.create_revision, f1.create_revision);
    ck_assert_int_eq(etcd_leader_get(c, "/t/el4", &l), ETCD_OK);
    ck_assert_int_eq(l.create_revision, f2.create_revision);
    etcd_election_free(a);
    etcd_free(c);
}
END_TEST

START_TEST(test_campaign_once)
{
    etcd_election *a = etcd_election_new((const char *const *)one.urls, one.n, "/t/el2", "solo",
                                         &(etcd_election_opts){.ttl_s = 2});
    etcd_role role = ETCD_FOLLOWER;
    etcd_fence f;

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_null(etcd_election_new((const char *const *)one.urls, one.n, "", "x", NULL));
    ck_assert_ptr_null(etcd_election_new((const char *const *)one.urls, one.n, "/p", "", NULL));
    ck_assert_int_eq(etcd_election_campaign_once(a, &role), ETCD_OK);
    ck_assert_int_eq(role, ETCD_LEADER);
    /* campaigning again as leader keeps the same term */
    ck_assert_int_eq(etcd_election_role(a, &f), ETCD_LEADER);
    ck_assert_int_eq(etcd_election_campaign_once(a, &role), ETCD_OK);
    ck_assert_int_eq(role, ETCD_LEADER);
    {
        etcd_fence g;
        ck_assert_int_eq(etcd_election_role(a, &g), ETCD_LEADER);
        ck_assert_int_eq(g.create_revision, f.create_revision);
    }
    etcd_election_free(a);
}
END_TEST

/* ---- election: candidates as processes, for SIGSTOP ---- */

typedef struct child {
    pid_t pid;
    FILE *to, *from;
    int leaders, followers; /* role events read so far */
} child;

static int child_out = -1; /* in the child: where events go */
static etcd_fence child_fence;
static pthread_mutex_t child_lock = PTHREAD_MUTEX_INITIALIZER;

static void child_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void child_say(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&child_lock);
    if (write(child_out, buf, (size_t)n) < 0)
        _exit(3);
    pthread_mutex_unlock(&child_lock);
}

static void child_on_change(void *arg, etcd_role role, const etcd_fence *fence)
{
    (void)arg;
    if (role == ETCD_LEADER) {
        pthread_mutex_lock(&child_lock);
        child_fence = *fence; /* kept after stepping down, to try it later */
        pthread_mutex_unlock(&child_lock);
        child_say("LEADER %" PRId64 "\n", fence->create_revision);
    } else {
        child_say("FOLLOWER\n");
    }
}

/* A candidate process: campaigns, reports role changes on out, and obeys
 * "txn" (a fenced put of its id with the last fence it held), "role",
 * "observe" and "quit" on in. */
static void child_main(cluster *cl, const char *id, int in, int out)
{
    etcd_election_opts o = {.ttl_s = 2, .on_change = child_on_change};
    etcd_election *e;
    etcd_client *c;
    FILE *cmds = fdopen(in, "r");
    char line[64];

    child_out = out;
    e = etcd_election_new((const char *const *)cl->urls, cl->n, "/t/el3", id, &o);
    c = etcd_new((const char *const *)cl->urls, cl->n, NULL);
    if (!e || !c || etcd_election_start(e) != 0)
        _exit(2);
    while (fgets(line, sizeof(line), cmds)) {
        if (strncmp(line, "txn", 3) == 0) {
            etcd_fence f;
            etcd_op put = {
                .kind = ETCD_OP_PUT, .key = "/t/el3/data", .value = id, .value_len = strlen(id)};
            pthread_mutex_lock(&child_lock);
            f = child_fence;
            pthread_mutex_unlock(&child_lock);
            child_say("TXN %s\n", etcd_strerror(etcd_txn_fenced(c, &f, NULL, 0, &put, 1, NULL)));
        } else if (strncmp(line, "role", 4) == 0) {
            child_say("ROLE %s\n",
                      etcd_election_role(e, NULL) == ETCD_LEADER ? "leader" : "follower");
        } else if (strncmp(line, "observe", 7) == 0) {
            etcd_leader l;
            etcd_err err = etcd_election_observe(e, &l);
            child_say("OBSERVE %s\n", err == ETCD_OK ? l.id : etcd_strerror(err));
        } else {
            break;
        }
    }
    etcd_election_free(e);
    etcd_free(c);
    _exit(0);
}

static void child_spawn(child *ch, cluster *cl, const char *id)
{
    int down[2], up[2];

    ck_assert_int_eq(pipe(down), 0);
    ck_assert_int_eq(pipe(up), 0);
    ch->pid = fork();
    ck_assert_int_ge(ch->pid, 0);
    if (ch->pid == 0) {
        /* a test killed by its timeout must not leave candidates behind */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(down[1]);
        close(up[0]);
        child_main(cl, id, down[0], up[1]);
    }
    close(down[0]);
    close(up[1]);
    ch->to = fdopen(down[1], "w");
    ch->from = fdopen(up[0], "r");
    setvbuf(ch->to, NULL, _IOLBF, 0);
}

static bool child_line(child *ch, char *line, size_t n)
{
    if (!fgets(line, (int)n, ch->from))
        return false;
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "LEADER", 6) == 0)
        ch->leaders++;
    else if (strncmp(line, "FOLLOWER", 8) == 0)
        ch->followers++;
    return true;
}

/* Blocks until the child has reported *count > n (a role event). */
static bool child_wait_events(child *ch, const int *count, int n)
{
    char line[256];

    while (*count <= n)
        if (!child_line(ch, line, sizeof(line)))
            return false;
    return true;
}

/* The next line from the child that starts with want (role events read on
 * the way are counted); blocks until it comes. */
static bool child_expect(child *ch, const char *want, char *rest, size_t restlen)
{
    char line[256];

    while (child_line(ch, line, sizeof(line))) {
        if (strncmp(line, want, strlen(want)) == 0) {
            if (rest)
                snprintf(rest, restlen, "%s", line + strlen(want));
            return true;
        }
    }
    return false;
}

/* Sends cmd ("txn", "role", "observe") and checks the answer's text. */
static void child_ask(child *ch, const char *cmd, const char *want)
{
    char reply_prefix[16], rest[64];

    snprintf(reply_prefix, sizeof(reply_prefix), "%.10s ", cmd);
    for (char *p = reply_prefix; *p && *p != ' '; p++)
        *p = (char)(*p - 'a' + 'A');
    fprintf(ch->to, "%s\n", cmd);
    ck_assert_msg(child_expect(ch, reply_prefix, rest, sizeof(rest)), "no answer to %s", cmd);
    ck_assert_msg(strcmp(rest, want) == 0, "%s: %s, wanted %s", cmd, rest, want);
}

static void child_reap(child *ch)
{
    if (ch->pid > 0) {
        kill(ch->pid, SIGCONT);
        fprintf(ch->to, "quit\n");
        fclose(ch->to);
        fclose(ch->from);
        waitpid(ch->pid, NULL, 0);
        ch->pid = 0;
    }
}

START_TEST(test_fencing_sigstop)
{
    child a = {0}, b = {0};
    etcd_client *c = client_of(&one, 3000);
    etcd_leader l, la;
    etcd_kv kv;
    long stopped_at;

    child_spawn(&a, &one, "proc-a");
    ck_assert(child_wait_events(&a, &a.leaders, 0));
    child_spawn(&b, &one, "proc-b");
    child_ask(&b, "observe", "proc-a");
    child_ask(&a, "txn", "ok");
    ck_assert_int_eq(etcd_leader_get(c, "/t/el3", &la), ETCD_OK);
    ck_assert_str_eq(la.id, "proc-a");

    /* A pauses (a GC pause, a stalled VM) past its lease */
    ck_assert_int_eq(kill(a.pid, SIGSTOP), 0);
    stopped_at = now_ms();
    ck_assert(child_wait_events(&b, &b.leaders, 0));
    ck_assert_int_eq(etcd_leader_get(c, "/t/el3", &l), ETCD_OK);
    ck_assert_str_eq(l.id, "proc-b");
    ck_assert_int_gt(l.create_revision, la.create_revision);
    /* B took over only once A's lease was gone at etcd */
    ck_assert_int_eq(etcd_lease_ttl(c, la.lease, NULL, NULL), ETCD_E_NOT_FOUND);
    fprintf(stderr, "takeover after SIGSTOP: %ld ms (lease 2 s)\n", now_ms() - stopped_at);

    /* A resumes believing nothing happened: its first write with its old
     * fence is refused by etcd, and it learns it stepped down */
    ck_assert_int_eq(kill(a.pid, SIGCONT), 0);
    child_ask(&a, "txn", "not_leader");
    ck_assert(child_wait_events(&a, &a.followers, 0));
    child_ask(&a, "role", "follower");
    ck_assert_int_eq(etcd_get(c, "/t/el3/data", &kv, NULL), ETCD_OK);
    ck_assert_str_eq(kv.value, "proc-a"); /* A's write as leader, nothing after */
    etcd_kv_release(&kv);

    /* B writes; A, still campaigning, does not win the key back */
    child_ask(&b, "txn", "ok");
    child_ask(&a, "observe", "proc-b");
    child_reap(&a);
    child_reap(&b);
    etcd_free(c);
}
END_TEST

/* ---- a 3-member cluster: failover and quorum ---- */

START_TEST(test_failover_one_member_down)
{
    etcd_client *c = client_of(&three, 6000);
    etcd_kv kv;
    int64_t lease;

    put_str(c, "/t/fo/k", "before");
    ck_assert_str_eq(etcd_current_endpoint(c), three.urls[0]);
    ck_assert_int_eq(etcd_test_member(&three, 0, "kill"), 0);
    /* the member calls went to is gone: the next one answers */
    put_str(c, "/t/fo/k", "after");
    ck_assert_str_ne(etcd_current_endpoint(c), three.urls[0]);
    ck_assert_int_eq(etcd_get(c, "/t/fo/k", &kv, NULL), ETCD_OK);
    ck_assert_str_eq(kv.value, "after");
    etcd_kv_release(&kv);
    ck_assert_int_eq(etcd_lease_grant(c, 5, &lease, NULL), ETCD_OK);
    ck_assert_int_eq(etcd_lease_revoke(c, lease), ETCD_OK);

    /* a paused member (connections accepted, nothing answered) too */
    ck_assert_int_eq(etcd_test_member(&three, 0, "start"), 0);
    ck_assert_int_eq(etcd_test_cluster_wait_healthy(&three), 0);
    {
        /* a short try per member, so the paused one costs 1 s of 8 */
        etcd_opts o = {.request_timeout_ms = 1000, .timeout_ms = 8000};
        etcd_client *c1 = etcd_new((const char *const *)three.urls, three.n, &o);
        ck_assert_int_eq(etcd_test_member(&three, 0, "stop"), 0);
        put_str(c1, "/t/fo/k", "paused");
        ck_assert_str_ne(etcd_current_endpoint(c1), three.urls[0]);
        ck_assert_int_eq(etcd_test_member(&three, 0, "cont"), 0);
        etcd_free(c1);
    }
    ck_assert_int_eq(etcd_test_cluster_wait_healthy(&three), 0);
    etcd_free(c);
}
END_TEST

START_TEST(test_quorum_loss_and_recovery)
{
    const long timeout = 2000;
    etcd_client *c = client_of(&three, timeout);
    watch w = {0};
    etcd_election *el = candidate(&three, "/t/q/el", "q-leader", &w);
    etcd_kv kv;
    int64_t lease;
    long t0;
    etcd_err e;

    put_str(c, "/t/q/k", "v1");
    ck_assert_int_eq(etcd_election_start(el), 0);
    ck_assert(WAIT_UNTIL(etcd_election_role(el, NULL) == ETCD_LEADER, 10000));
    ck_assert_int_eq(etcd_test_member(&three, 1, "kill"), 0);
    ck_assert_int_eq(etcd_test_member(&three, 2, "kill"), 0);

    /* one member of three is no quorum: reads and writes say unavailable,
     * and they say it within the call's timeout, not etcd's own 7 s */
    t0 = now_ms();
    e = etcd_put(c, "/t/q/k", "v2", 2, 0, NULL);
    ck_assert_msg(e == ETCD_E_UNAVAILABLE, "put: %s (%s)", etcd_strerror(e), etcd_last_error(c));
    /* generous for a loaded machine, still well short of etcd's 7 s */
    ck_assert_int_lt(now_ms() - t0, timeout + 4000);
    ck_assert_str_ne(etcd_last_error(c), "");
    e = etcd_get(c, "/t/q/k", &kv, NULL);
    ck_assert_msg(e == ETCD_E_UNAVAILABLE, "get: %s", etcd_strerror(e));
    e = etcd_lease_grant(c, 5, &lease, NULL);
    ck_assert_msg(e == ETCD_E_UNAVAILABLE, "lease: %s", etcd_strerror(e));
    /* keep-alives fail, so by its own clock the leader's lease may be gone:
     * it steps down without etcd telling it (etcd cannot) */
    ck_assert(WAIT_UNTIL(atomic_load(&w.follower_events) == 1, 10000));
    ck_assert_int_eq(etcd_election_role(el, NULL), ETCD_FOLLOWER);

    /* and all three down: nothing answers at all */
    ck_assert_int_eq(etcd_test_member(&three, 0, "kill"), 0);
    /* The first call may still find the connection it kept to the member
     * killed last, fail mid-request and count that member as reached
     * (unavailable); never OK, and from then on refused connections only. */
    e = etcd_get(c, "/t/q/k", &kv, NULL);
    ck_assert_msg(e == ETCD_E_TRANSPORT || e == ETCD_E_UNAVAILABLE, "get: %s", etcd_strerror(e));
    ck_assert(WAIT_UNTIL(etcd_get(c, "/t/q/k", &kv, NULL) == ETCD_E_TRANSPORT, 5000));

    /* two back: quorum again. "unavailable" for a write means "not known to
     * be committed": the member that took v2 may have logged it, and a
     * leader of the next term commits what its log holds. So v1 or v2, and
     * nothing else. */
    ck_assert_int_eq(etcd_test_member(&three, 0, "start"), 0);
    ck_assert_int_eq(etcd_test_member(&three, 1, "start"), 0);
    ck_assert(WAIT_UNTIL(etcd_get(c, "/t/q/k", &kv, NULL) == ETCD_OK, 30000));
    ck_assert_msg(strcmp(kv.value, "v1") == 0 || strcmp(kv.value, "v2") == 0, "value %s", kv.value);
    etcd_kv_release(&kv);
    put_str(c, "/t/q/k", "v3");
    /* with quorum back the candidate leads again (its old key expires once
     * etcd's restored leases run out) */
    ck_assert(WAIT_UNTIL(etcd_election_role(el, NULL) == ETCD_LEADER, 20000));
    etcd_election_free(el);
    ck_assert_int_eq(etcd_test_member(&three, 2, "start"), 0);
    ck_assert_int_eq(etcd_test_cluster_wait_healthy(&three), 0);
    etcd_free(c);
}
END_TEST

/* ---- throughput (--bench; not part of the suite) ---- */

typedef struct bench_arg {
    cluster *cl;
    int run, thread, ops;
    const etcd_fence *fence; /* set: a broker-like commit instead */
    long errors;
} bench_arg;

/* What one broker commit of a submission with assignment would be: the
 * fence, "the job is new", and 6 puts of 512 B (job, attempt, unit, event,
 * clock, event counter). */
static etcd_err bench_commit(etcd_client *c, const etcd_fence *f, const char *job)
{
    static const char *const parts[] = {"job", "attempt", "unit", "event", "clock", "seq"};
    char keys[6][96], val[512];
    etcd_op ops[6];
    etcd_cmp fresh = {.key = keys[0], .target = ETCD_CMP_CREATE_REVISION, .op = ETCD_EQ};

    memset(val, 'x', sizeof(val));
    for (int k = 0; k < 6; k++) {
        snprintf(keys[k], sizeof(keys[k]), "%s/%s", job, parts[k]);
        ops[k] =
            (etcd_op){.kind = ETCD_OP_PUT, .key = keys[k], .value = val, .value_len = sizeof(val)};
    }
    return etcd_txn_fenced(c, f, &fresh, 1, ops, 6, NULL);
}

static void *bench_thread(void *p)
{
    bench_arg *a = p;
    etcd_client *c = etcd_new((const char *const *)a->cl->urls, a->cl->n, NULL);
    char key[64];

    for (int i = 0; i < a->ops; i++) {
        snprintf(key, sizeof(key), "/bench/%d/%d/%d", a->run, a->thread, i);
        if (a->fence) {
            if (bench_commit(c, a->fence, key) != ETCD_OK)
                a->errors++;
            continue;
        }
        etcd_cmp absent = {.key = key, .target = ETCD_CMP_CREATE_REVISION, .op = ETCD_EQ};
        etcd_op put = {.kind = ETCD_OP_PUT, .key = key, .value = "job", .value_len = 3};
        if (etcd_txn(c, &absent, 1, &put, 1, NULL, 0, NULL) != ETCD_OK)
            a->errors++;
    }
    etcd_free(c);
    return NULL;
}

static void bench_one(cluster *cl, const char *name, int threads, int ops, const etcd_fence *fence)
{
    static int run;
    pthread_t th[16];
    bench_arg args[16];
    long t0 = now_ms(), errors = 0, ms;

    for (int i = 0; i < threads; i++) {
        args[i] = (bench_arg){.cl = cl, .run = run, .thread = i, .ops = ops, .fence = fence};
        pthread_create(&th[i], NULL, bench_thread, &args[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        errors += args[i].errors;
    }
    ms = now_ms() - t0;
    run++;
    printf("%s, %d client%s: %d %s in %ld ms = %.0f txn/s (%ld errors)\n", name, threads,
           threads > 1 ? "s" : "", threads * ops,
           fence ? "fenced 6-put commits" : "create-if-absent txns", ms,
           ms ? threads * ops * 1000.0 / (double)ms : 0.0, errors);
    fflush(stdout);
}

/* SIGKILL a leader process; how long until a standby (polling every
 * retry_ms) leads. */
static long bench_takeover(cluster *cl, int64_t ttl, long retry_ms, int round)
{
    char prefix[64], id[32];
    etcd_election_opts o = {.ttl_s = ttl, .retry_ms = retry_ms};
    etcd_client *c = etcd_new((const char *const *)cl->urls, cl->n, NULL);
    etcd_election *b;
    etcd_leader l;
    long t0, ms = -1;
    pid_t pid;

    snprintf(prefix, sizeof(prefix), "/bench/takeover/%d", round);
    snprintf(id, sizeof(id), "dying-%d", round);
    pid = fork();
    if (pid == 0) {
        etcd_election *a;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        a = etcd_election_new((const char *const *)cl->urls, cl->n, prefix, id, &o);
        if (!a || etcd_election_start(a) != 0)
            _exit(2);
        for (;;)
            pause();
    }
    if (!WAIT_UNTIL(etcd_leader_get(c, prefix, &l) == ETCD_OK && strcmp(l.id, id) == 0, 10000))
        goto out;
    b = etcd_election_new((const char *const *)cl->urls, cl->n, prefix, "standby", &o);
    etcd_election_start(b);
    /* let the standby settle into following (and its first poll pass) */
    pause_ms(300);
    kill(pid, SIGKILL);
    t0 = now_ms();
    if (WAIT_UNTIL(etcd_election_role(b, NULL) == ETCD_LEADER, 20000))
        ms = now_ms() - t0;
    etcd_election_free(b);
out:
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    etcd_free(c);
    return ms;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static void bench_takeovers(cluster *cl, const char *name, int64_t ttl, long retry_ms)
{
    enum { ROUNDS = 5 };
    static int round;
    long ms[ROUNDS];

    for (int i = 0; i < ROUNDS; i++)
        ms[i] = bench_takeover(cl, ttl, retry_ms, round++);
    qsort(ms, ROUNDS, sizeof(ms[0]), cmp_long);
    printf("%s, lease %" PRId64 " s, standby polls every %ld ms: leader SIGKILLed -> standby "
           "leads in median %ld ms, max %ld ms (%d rounds)\n",
           name, ttl, retry_ms, ms[ROUNDS / 2], ms[ROUNDS - 1], ROUNDS);
    fflush(stdout);
}

static int count_kv(const etcd_kv *kv, void *arg)
{
    (void)kv;
    (*(long *)arg)++;
    return 0;
}

/* What a new leader's rebuild costs: nkeys values of vlen bytes written
 * 100 to a txn, then read back page by page at one revision. */
static void bench_rebuild(cluster *cl, const char *name, int nkeys, size_t vlen)
{
    etcd_opts o = {.timeout_ms = 30000, .request_timeout_ms = 15000};
    etcd_client *c = etcd_new((const char *const *)cl->urls, cl->n, &o);
    char *val = malloc(vlen);
    char(*keys)[48] = calloc(100, sizeof(*keys));
    etcd_op ops[100];
    long t0, n = 0;
    etcd_err e = ETCD_OK;

    memset(val, 'j', vlen);
    for (int i = 0; i < nkeys && e == ETCD_OK; i += 100) {
        for (int k = 0; k < 100; k++) {
            snprintf(keys[k], sizeof(keys[k]), "/bench/rebuild/jobs/%08d", i + k);
            ops[k] =
                (etcd_op){.kind = ETCD_OP_PUT, .key = keys[k], .value = val, .value_len = vlen};
        }
        e = etcd_txn(c, NULL, 0, ops, 100, NULL, 0, NULL);
    }
    t0 = now_ms();
    if (e == ETCD_OK)
        e = etcd_range_prefix_all(c, "/bench/rebuild/", 1000, count_kv, &n, NULL);
    printf("%s: rebuild reads %ld keys of %zu B, 1000 a page, in %ld ms (%s)\n", name, n, vlen,
           now_ms() - t0, etcd_strerror(e));
    fflush(stdout);
    etcd_delete_prefix(c, "/bench/rebuild/", NULL, NULL);
    free(keys);
    free(val);
    etcd_free(c);
}

static int bench(void)
{
    cluster *cls[] = {&one, &three};
    const char *names[] = {"1-member etcd", "3-member etcd"};

    if (etcd_test_cluster_start(&one, 1) != 0 || etcd_test_cluster_start(&three, 3) != 0)
        return EXIT_FAILURE;
    for (int k = 0; k < 2; k++) {
        etcd_election *e = etcd_election_new((const char *const *)cls[k]->urls, cls[k]->n,
                                             "/bench/lead", "bench", NULL);
        etcd_fence f;
        bench_one(cls[k], names[k], 1, 1000, NULL);
        bench_one(cls[k], names[k], 8, 500, NULL);
        /* started, so its keep-alives hold the lease for the whole run */
        if (etcd_election_start(e) == 0 &&
            WAIT_UNTIL(etcd_election_role(e, &f) == ETCD_LEADER, 10000)) {
            bench_one(cls[k], names[k], 1, 500, &f);
            bench_one(cls[k], names[k], 8, 250, &f);
        }
        etcd_election_free(e);
    }
    bench_rebuild(&three, names[1], 20000, 400);
    bench_takeovers(&three, names[1], 3, 1000);
    bench_takeovers(&three, names[1], 3, 100);
    bench_takeovers(&three, names[1], 2, 100);
    etcd_test_cluster_stop(&one);
    etcd_test_cluster_stop(&three);
    return EXIT_SUCCESS;
}

static Suite *suite(void)
{
    Suite *s = suite_create("api_etcd");
    TCase *kv = tcase_create("kv_one_member");
    TCase *el = tcase_create("election_one_member");
    TCase *cl = tcase_create("cluster_three_members");

    tcase_add_unchecked_fixture(kv, setup_one, teardown_one);
    tcase_set_timeout(kv, 60);
    tcase_add_test(kv, test_put_get_delete);
    tcase_add_test(kv, test_range_paging);
    tcase_add_test(kv, test_txn_compare);
    tcase_add_test(kv, test_txn_limits);
    tcase_add_test(kv, test_lease_expiry);
    tcase_add_test(kv, test_error_codes);
    suite_add_tcase(s, kv);

    tcase_add_unchecked_fixture(el, setup_one, teardown_one);
    tcase_set_timeout(el, 60);
    tcase_add_test(el, test_election_one_leader);
    tcase_add_test(el, test_campaign_once);
    tcase_add_test(el, test_lease_lost_steps_down);
    tcase_add_test(el, test_fencing_sigstop);
    suite_add_tcase(s, el);

    tcase_add_unchecked_fixture(cl, setup_three, teardown_three);
    tcase_set_timeout(cl, 90);
    tcase_add_test(cl, test_failover_one_member_down);
    tcase_add_test(cl, test_quorum_loss_and_recovery);
    suite_add_tcase(s, cl);
    return s;
}

int main(int argc, char **argv)
{
    SRunner *sr;
    int failed;

    if (etcd_test_skip())
        return 77; /* meson's "skipped" */
    signal(SIGPIPE, SIG_IGN);
    if (http_client_global_init() != 0)
        return EXIT_FAILURE;
    if (argc > 1 && strcmp(argv[1], "--bench") == 0)
        return bench();
    sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    http_client_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
