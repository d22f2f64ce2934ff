/* memory: broker resident memory with 10,000 units and 100,000 jobs
 * (DESIGN.md §6: <= 64 MiB).
 *
 * One broker; 10,000 units (capacity 1) played by the in-process stub;
 * 100,000 jobs: the first 10% need "firefighting" and are assigned (one per
 * unit), the other 90% need "hazmat", which no unit offers, so they wait in
 * the queue. Then VmRSS and VmHWM of the broker are read from /proc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"

struct mem {
    const char *base;
    long assignable;
    long offset;
};

static int submit(hc *h, long i, void *p)
{
    struct mem *m = p;
    long k = m->offset + i;
    bool fire = k < m->assignable;
    char url[256], body[512];
    snprintf(url, sizeof(url), "%s/v1/jobs", m->base);
    snprintf(body, sizeof(body),
             "{\"id\":\"mem-%06ld\",\"type\":\"%s\",\"severity\":\"%s\","
             "\"required_capabilities\":[\"%s\"],\"location\":{\"lat\":34.05,\"lon\":-118.24}}",
             k, fire ? "building_fire" : "chemical_spill", fire ? "high" : "medium",
             fire ? "firefighting" : "hazmat");
    long st = hc_do(h, "POST", url, body);
    if (st != 201) {
        bench_fail("submit mem-%06ld: status %ld %s %.200s", k, st, h->err, h->buf);
        return -1;
    }
    if (!fire && !strstr(h->buf, "\"status\":\"queued\"")) {
        bench_fail("mem-%06ld should be queued: %.200s", k, h->buf);
        return -1;
    }
    return 0;
}

static void show_mem(const svc *b, const char *when)
{
    long rss, hwm;
    proc_mem_kb(b->pid, &rss, &hwm);
    printf("  %-34s VmRSS %6.1f MiB  VmHWM %6.1f MiB\n", when, (double)rss / 1024,
           (double)hwm / 1024);
    fflush(stdout);
}

int bench_memory(void)
{
    long U = opt_units(10000, 2000);
    long J = opt_jobs(100000, 20000);
    unsigned T = opt_threads(4);
    long A = J / 10 < U ? J / 10 : U;
    int rc = -1;
    svc broker = {0};
    stub *st = stub_start(false, 4);
    if (!st)
        return -1;
    /* The stub's units do not heartbeat here (10,000/s would be a load test
     * of its own): a long failure timeout keeps them available. */
    const char *args[] = {"--id", "Downtown", "--failure-timeout", "1h", NULL};
    if (svc_start(&broker, "memory-broker", "broker", args) < 0)
        goto out;
    printf("broker %s: %ld units, %ld jobs (%ld assignable, %ld queued for a capability no unit "
           "has)\n",
           broker.url, U, J, A, J - A);
    show_mem(&broker, "at start");
    double el;
    if (register_units(broker.url, "memU", 0, U, "[\"firefighting\",\"rescue\"]", 1, stub_url(st),
                       T, &el) < 0)
        goto out;
    printf("  %ld units registered in %.1f s (%.0f/s)\n", U, el, (double)U / el);
    show_mem(&broker, "after the units");
    struct mem m = {broker.url, A, 0};
    el = run_items(T, A, submit, &m, NULL);
    if (bench_failures())
        goto out;
    printf("  %ld assignable jobs submitted in %.1f s (%.0f/s)\n", A, el, (double)A / el);
    {
        char nudge[512];
        snprintf(nudge, sizeof(nudge),
                 "{\"id\":\"memU-00000\",\"kind\":\"fire\",\"capabilities\":[\"firefighting\","
                 "\"rescue\"],\"url\":\"%s/memU-00000\",\"capacity\":1}",
                 stub_url(st));
        long nudges = 0;
        double t0 = now_s();
        double got = wait_assigned(broker.url, (double)A, 120, nudge, &nudges, NULL);
        if (got < (double)A)
            bench_fail("only %.0f of %ld assignable jobs were assigned", got, A);
        printf("  all %ld held %.1f s later%s\n", A, now_s() - t0,
               nudges ? " (after STALL nudges: the broker left jobs queued with units free; see "
                        "the submit benchmark)"
                      : "");
    }
    m.offset = A;
    el = run_items(T, J - A, submit, &m, NULL);
    if (bench_failures())
        goto out;
    printf("  %ld queued jobs in %.1f s (%.0f/s)\n", J - A, el, (double)(J - A) / el);
    hc h;
    hc_init(&h);
    double assigned = hc_metric(&h, broker.url, "ergrid_jobs_assigned_total");
    double waiting = hc_metric(&h, broker.url, "ergrid_jobs_waiting");
    hc_cleanup(&h);
    if (assigned != (double)A || waiting != (double)(J - A))
        bench_fail("expected %ld assigned and %ld waiting, the broker says %.0f and %.0f", A, J - A,
                   assigned, waiting);
    long rss, hwm;
    proc_mem_kb(broker.pid, &rss, &hwm);
    show_mem(&broker, "with all units and jobs");
    char db[700];
    struct stat sb;
    snprintf(db, sizeof(db), "%s/broker.db", broker.dir);
    long dbsz = stat(db, &sb) == 0 ? (long)sb.st_size : -1;
    snprintf(db, sizeof(db), "%s/broker.db-wal", broker.dir);
    long walsz = stat(db, &sb) == 0 ? (long)sb.st_size : -1;
    printf("  database: broker.db %.1f MiB, WAL %.1f MiB\n", (double)dbsz / 1048576,
           (double)walsz / 1048576);
    char fig[200];
    snprintf(fig, sizeof(fig), "VmRSS %.1f MiB, VmHWM %.1f MiB (%ld units, %ld jobs)",
             (double)rss / 1024, (double)hwm / 1024, U, J);
    bool full = U >= 10000 && J >= 100000;
    summary("memory", fig, "<= 64 MiB resident",
            !full              ? "info"
            : rss <= 64 * 1024 ? "met"
                               : "MISSED");
    rc = bench_failures() ? -1 : 0;
out:
    svc_release(&broker);
    stub_stop(st);
    return rc;
}
