/* sync: the metadata pull costs what changed, not the city's size, and a
 * change is visible at every peer within one sync interval (DESIGN.md §6).
 *
 * A coordinator and three brokers (peered through it; default 60 s sync
 * interval). The city grows to two sizes (default 1,000 and 10,000 units,
 * split over the three brokers). At each size, once both peers hold a copy
 * of every unit, the benchmark pulls broker 1 itself like a peer does:
 *   full pull   GET /v1/metadata?limit=5000 (pages until "more" is false)
 *   0 changes   GET /v1/metadata?since=V&epoch=E   (V, E from the full pull)
 *   1 change    the same after one unit update at broker 1
 * and prints the reply sizes in bytes. Then it changes a unit at broker 1
 * a few times and measures how long until both peers show the change
 * (GET /v1/units/{id} every 5 ms): the push signal (POST /v1/notify) makes
 * a peer pull at once instead of at the next interval. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define NB         3
#define VIS_ROUNDS 5
static const char *const names[NB] = {"North", "South", "East"};

static long count_units(hc *h, const char *base)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/v1/units", base);
    json_t *r = NULL;
    long st = hc_json(h, "GET", url, NULL, &r);
    long n = st == 200 ? (long)json_array_size(json_object_get(r, "units")) : -1;
    json_decref(r);
    return n;
}

struct pull {
    size_t bytes;
    long units, jobs;
    long version;
    char epoch[64];
    bool more;
};

static int metadata(hc *h, const char *base, long since, const char *epoch, int limit,
                    struct pull *out)
{
    char url[512];
    if (epoch)
        snprintf(url, sizeof(url), "%s/v1/metadata?since=%ld&epoch=%s&limit=%d", base, since, epoch,
                 limit);
    else
        snprintf(url, sizeof(url), "%s/v1/metadata?limit=%d", base, limit);
    long st = hc_do(h, "GET", url, NULL);
    if (st != 200) {
        bench_fail("GET %s: status %ld %s", url, st, h->err);
        return -1;
    }
    json_t *r = json_loadb(h->buf, h->len, 0, NULL);
    out->bytes = h->len;
    out->units = (long)json_array_size(json_object_get(r, "units"));
    out->jobs = (long)json_array_size(json_object_get(r, "jobs"));
    out->version = (long)json_integer_value(json_object_get(r, "version"));
    out->more = json_is_true(json_object_get(r, "more"));
    snprintf(out->epoch, sizeof(out->epoch), "%s",
             json_string_value(json_object_get(r, "epoch")) ?: "");
    json_decref(r);
    return 0;
}

static int set_status(hc *h, const char *base, const char *id, const char *status)
{
    char url[256], body[512];
    snprintf(url, sizeof(url), "%s/v1/units", base);
    snprintf(body, sizeof(body),
             "{\"id\":\"%s\",\"kind\":\"fire\",\"capabilities\":[\"firefighting\",\"rescue\"],"
             "\"url\":\"http://127.0.0.1:9/u/%s\",\"capacity\":1,\"status\":\"%s\"}",
             id, id, status);
    long st = hc_do(h, "POST", url, body);
    if (st != 200) {
        bench_fail("update %s: status %ld %.200s", id, st, h->buf);
        return -1;
    }
    return 0;
}

static bool peer_shows(hc *h, const char *base, const char *id, const char *status)
{
    char url[256];
    snprintf(url, sizeof(url), "%.100s/v1/units/%.64s", base, id);
    json_t *r = NULL;
    long st = hc_json(h, "GET", url, NULL, &r);
    const char *s = json_string_value(json_object_get(json_object_get(r, "unit"), "status"));
    bool ok = st == 200 && s && strcmp(s, status) == 0;
    json_decref(r);
    return ok;
}

int bench_sync(void)
{
    long big = opt_units(10000, 3000);
    long sizes[2] = {big / 10, big};
    int rc = -1;
    svc coord = {0}, b[NB] = {{0}};
    hc h;
    hc_init(&h);
    if (svc_start(&coord, "sync-coordinator", "coordinator", NULL) < 0)
        goto out;
    for (int i = 0; i < NB; i++) {
        char name[64];
        snprintf(name, sizeof(name), "sync-%s", names[i]);
        /* The units here are only data to sync and never heartbeat: a long
         * failure timeout keeps them from turning lost (a change) meanwhile. */
        const char *args[] = {"--id", names[i], "--coordinator", coord.url, "--failure-timeout",
                              "1h",   NULL};
        if (svc_start(&b[i], name, "broker", args) < 0)
            goto out;
    }
    /* Peers learn each other from the coordinator. */
    double end = now_s() + 15;
    for (int i = 0; i < NB; i++) {
        for (;;) {
            char url[256];
            json_t *r = NULL;
            snprintf(url, sizeof(url), "%s/v1/peers", b[i].url);
            hc_json(&h, "GET", url, NULL, &r);
            size_t np = json_array_size(json_object_get(r, "peers"));
            json_decref(r);
            if (np == NB - 1)
                break;
            if (now_s() > end) {
                bench_fail("%s knows %zu peers after 15 s", names[i], np);
                goto out;
            }
            sleep_s(0.1);
        }
    }
    printf("coordinator %s; brokers %s %s, %s %s, %s %s (sync interval 60 s)\n", coord.url,
           names[0], b[0].url, names[1], b[1].url, names[2], b[2].url);
    printf("%-11s %-24s %-18s %-18s %s\n", "city units", "full pull of North", "delta, 0 changes",
           "delta, 1 change", "change visible at South / East (ms)");

    long have[NB] = {0};
    size_t d0[2] = {0}, d1[2] = {0};
    double vis_max = 0;
    for (int si = 0; si < 2; si++) {
        long size = sizes[si];
        for (int i = 0; i < NB; i++) {
            long want = size / NB + (i == 0 ? size % NB : 0);
            if (want > have[i] &&
                register_units(b[i].url, names[i], have[i], want, "[\"firefighting\",\"rescue\"]",
                               1, "http://127.0.0.1:9/u", 4, NULL) < 0)
                goto out;
            have[i] = want > have[i] ? want : have[i];
        }
        /* Both peers have everything: the city is in sync. */
        end = now_s() + 90;
        for (int i = 0; i < NB; i++) {
            while (count_units(&h, b[i].url) != size) {
                if (now_s() > end) {
                    bench_fail("%s does not list all %ld units after 90 s", names[i], size);
                    goto out;
                }
                sleep_s(0.2);
            }
        }
        /* The benchmark pulls North like a peer. */
        struct pull p = {0};
        size_t full_bytes = 0;
        long full_units = 0, pages = 0, since = 0;
        char epoch[64] = "";
        do {
            if (metadata(&h, b[0].url, since, epoch[0] ? epoch : NULL, 5000, &p) < 0)
                goto out;
            full_bytes += p.bytes;
            full_units += p.units;
            pages++;
            since = p.version;
            snprintf(epoch, sizeof(epoch), "%s", p.epoch);
        } while (p.more && pages < 100);
        struct pull z = {0}, one = {0};
        if (metadata(&h, b[0].url, since, epoch, 500, &z) < 0)
            goto out;
        char uid[48];
        snprintf(uid, sizeof(uid), "%s-%05d", names[0], 0);
        if (set_status(&h, b[0].url, uid, "out_of_service") < 0)
            goto out;
        if (metadata(&h, b[0].url, since, epoch, 500, &one) < 0)
            goto out;
        if (z.units + z.jobs != 0 || one.units + one.jobs != 1)
            bench_fail("deltas carried %ld and %ld objects, expected 0 and 1", z.units + z.jobs,
                       one.units + one.jobs);
        if (full_units != have[0])
            bench_fail("the full pull carried %ld units, North has %ld", full_units, have[0]);
        d0[si] = z.bytes;
        d1[si] = one.bytes;

        /* Visibility at the peers. */
        char vis[256] = "";
        size_t vl = 0;
        const char *status = "out_of_service";
        for (int r = 0; r < VIS_ROUNDS; r++) {
            status = strcmp(status, "available") == 0 ? "out_of_service" : "available";
            /* Let the previous change settle everywhere first. */
            sleep_s(0.3);
            double t0 = now_s();
            if (set_status(&h, b[0].url, uid, status) < 0)
                goto out;
            double seen[NB] = {0};
            int left = NB - 1;
            while (left > 0 && now_s() - t0 < 70) {
                for (int i = 1; i < NB; i++) {
                    if (seen[i] == 0 && peer_shows(&h, b[i].url, uid, status)) {
                        seen[i] = now_s() - t0;
                        left--;
                    }
                }
                if (left)
                    sleep_s(0.005);
            }
            if (left) {
                bench_fail("a change at North was not visible at both peers after 70 s");
                goto out;
            }
            for (int i = 1; i < NB; i++)
                if (seen[i] > vis_max)
                    vis_max = seen[i];
            vl += (size_t)snprintf(vis + vl, sizeof(vis) - vl, "%s%.0f/%.0f", r ? " " : "",
                                   seen[1] * 1e3, seen[2] * 1e3);
            if (vl >= sizeof(vis))
                vl = sizeof(vis) - 1;
        }
        char fullcol[64];
        snprintf(fullcol, sizeof(fullcol), "%zu B (%ld units)", full_bytes, full_units);
        char c0[32], c1[32];
        snprintf(c0, sizeof(c0), "%zu B", z.bytes);
        snprintf(c1, sizeof(c1), "%zu B", one.bytes);
        printf("%-11ld %-24s %-18s %-18s %s\n", size, fullcol, c0, c1, vis);
        fflush(stdout);
    }
    /* Cost follows change: the deltas at 10x the city stay (nearly) the same size. */
    bool flat = d0[1] <= d0[0] + d0[0] / 10 + 64 && d1[1] <= d1[0] + d1[0] / 10 + 64;
    char fig[240];
    snprintf(fig, sizeof(fig),
             "delta 0 changes %zu B -> %zu B, 1 change %zu B -> %zu B (%ld -> %ld units)", d0[0],
             d0[1], d1[0], d1[1], sizes[0], sizes[1]);
    summary("sync", fig, "cost grows with change, not size", flat ? "met" : "MISSED");
    snprintf(fig, sizeof(fig), "change visible at both peers within %.0f ms (max of %d x 2)",
             vis_max * 1e3, VIS_ROUNDS * 2);
    summary("sync", fig, "within one sync interval (60 s)", vis_max <= 60 ? "met" : "MISSED");
    rc = bench_failures() ? -1 : 0;
out:
    hc_cleanup(&h);
    for (int i = 0; i < NB; i++)
        svc_release(&b[i]);
    svc_release(&coord);
    return rc;
}
