/* ergrid-bench: one program, one subcommand per DESIGN.md §6 target.
 *   build/bench/ergrid-bench [options] arbitrate|submit|failover|scale|coldstart|memory|sync|ha|all
 * The service binaries are found under the build dir (default: the one this
 * program was built in; --build DIR to point elsewhere). */
#include <curl/curl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static const struct {
    const char *name;
    int (*fn)(void);
    const char *what;
} benches[] = {
    {"arbitrate", bench_arbitrate, "FCFS result decisions/s and latency at one broker"},
    {"submit", bench_submit, "job submission with assignment, end to end"},
    {"failover", bench_failover, "kill -9 of the holder -> job held by another unit"},
    {"scale", bench_scale, "20 brokers, 10,000 heartbeating units, no false failure"},
    {"coldstart", bench_coldstart, "scale's cold start (all units join at once), 5 runs"},
    {"memory", bench_memory, "broker RSS with 10,000 units and 100,000 jobs"},
    {"sync", bench_sync, "metadata delta size vs city size, change visibility at peers"},
    {"ha", bench_ha,
     "arbitrate and submit at a broker on etcd (3 members, 1 member) beside SQLite"},
    /* Not part of "all": it needs PostgreSQL and etcd (scripts/bench.sh
     * --peers installs them). */
    {"peers", bench_peers,
     "the same decisions and submissions at ergrid, PostgreSQL 15, etcd 3.4 and a bare "
     "libmicrohttpd server"},
};
#define NBENCH (sizeof(benches) / sizeof(benches[0]))

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ergrid-bench [options] BENCH... | all (every one but peers)\n"
            "options:\n"
            "  --build DIR      meson build dir with services/*/ergrid-* (default: %s)\n"
            "  --threads N      client threads (default per benchmark; peers, ha: 8 and 32)\n"
            "  --jobs N         jobs (arbitrate, submit, memory; peers, ha: per trial)\n"
            "  --units N        units (submit, memory, peers, ha, scale: per broker; sync: largest "
            "city)\n"
            "  --brokers N      brokers (scale; default 20)\n"
            "  --duration S     seconds of heartbeating (scale; default 30)\n"
            "  --rounds N       kill rounds (failover; default 5); rounds (peers; default 3;\n"
            "                   ha: default 1)\n"
            "  --etcd-members N peers: etcd members (default 1)\n"
            "  --quick          smaller sizes (a smoke run)\n"
            "  --keep           keep the temporary data dirs\n"
            "  --ramp S         scale: units join over S seconds (default 10; 0: all at once)\n"
            "  --no-peers       scale: brokers alone (no coordinator, no metadata sync)\n"
            "  --auth           every service checks a --tokens file; the client sends a token\n"
            "  --tls            every service serves TLS only (a private CA made with openssl)\n"
            "  --durability M   arbitrate, submit: the broker's --durability (normal|full)\n"
            "  --lines N        submit: also incidents of N requirement lines (2..8), printed\n"
            "                   beside the one-line figure of the same run\n"
            "benchmarks:\n",
            g_opts.build);
    for (size_t i = 0; i < NBENCH; i++)
        fprintf(out, "  %-10s %s\n", benches[i].name, benches[i].what);
}

static void on_signal(int sig)
{
    svc_kill_all_now();
    _exit(128 + sig);
}

static void default_build(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        /* <build>/bench/ergrid-bench */
        char *d = dirname(exe);
        d = dirname(d);
        snprintf(g_opts.build, sizeof(g_opts.build), "%s", d);
        return;
    }
    snprintf(g_opts.build, sizeof(g_opts.build), "%s", BENCH_BUILD_ROOT);
}

static int num_arg(const char *flag, const char *v, double min, double max, double *out)
{
    char *end;
    double d = v ? strtod(v, &end) : 0;
    if (!v || !*v || *end || d < min || d > max) {
        fprintf(stderr, "ergrid-bench: %s expects a number in %g..%g\n", flag, min, max);
        return -1;
    }
    *out = d;
    return 0;
}

int main(int argc, char **argv)
{
    default_build();
    g_opts.ramp_s = -1;
    const char *chosen[NBENCH * 2];
    size_t nchosen = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--build") == 0 && v) {
            snprintf(g_opts.build, sizeof(g_opts.build), "%s", v);
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            if (num_arg(a, v, 1, 256, &d) < 0)
                return 2;
            g_opts.threads = (unsigned)d;
            i++;
        } else if (strcmp(a, "--jobs") == 0) {
            if (num_arg(a, v, 1, 10000000, &d) < 0)
                return 2;
            g_opts.jobs = (long)d;
            i++;
        } else if (strcmp(a, "--units") == 0) {
            if (num_arg(a, v, 1, 1000000, &d) < 0)
                return 2;
            g_opts.units = (long)d;
            i++;
        } else if (strcmp(a, "--brokers") == 0) {
            if (num_arg(a, v, 1, 40, &d) < 0)
                return 2;
            g_opts.brokers = (unsigned)d;
            i++;
        } else if (strcmp(a, "--duration") == 0) {
            if (num_arg(a, v, 1, 3600, &d) < 0)
                return 2;
            g_opts.duration_s = d;
            i++;
        } else if (strcmp(a, "--rounds") == 0) {
            if (num_arg(a, v, 1, 100, &d) < 0)
                return 2;
            g_opts.rounds = (unsigned)d;
            i++;
        } else if (strcmp(a, "--quick") == 0) {
            g_opts.quick = true;
        } else if (strcmp(a, "--keep") == 0) {
            g_opts.keep = true;
        } else if (strcmp(a, "--ramp") == 0) {
            if (num_arg(a, v, 0, 600, &d) < 0)
                return 2;
            g_opts.ramp_s = d;
            i++;
        } else if (strcmp(a, "--etcd-members") == 0) {
            if (num_arg(a, v, 1, 9, &d) < 0)
                return 2;
            g_opts.etcd_members = (unsigned)d;
            i++;
        } else if (strcmp(a, "--no-peers") == 0) {
            g_opts.no_peers = true;
        } else if (strcmp(a, "--auth") == 0) {
            g_opts.auth = true;
        } else if (strcmp(a, "--tls") == 0) {
            g_opts.tls = true;
        } else if (strcmp(a, "--lines") == 0) {
            if (num_arg(a, v, 2, 8, &d) < 0)
                return 2;
            g_opts.lines = (unsigned)d;
            i++;
        } else if (strcmp(a, "--durability") == 0) {
            if (!v || (strcmp(v, "normal") != 0 && strcmp(v, "full") != 0)) {
                fprintf(stderr, "ergrid-bench: --durability expects normal or full\n");
                return 2;
            }
            g_opts.durability = v;
            i++;
        } else if (a[0] == '-') {
            fprintf(stderr, "ergrid-bench: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (nchosen < NBENCH * 2) {
            chosen[nchosen++] = a;
        }
    }
    if (nchosen == 0) {
        usage(stderr);
        return 2;
    }
    for (size_t k = 0; k < nchosen; k++) {
        bool ok = strcmp(chosen[k], "all") == 0;
        for (size_t i = 0; i < NBENCH && !ok; i++)
            ok = strcmp(chosen[k], benches[i].name) == 0;
        if (!ok) {
            fprintf(stderr, "ergrid-bench: unknown benchmark '%s'\n", chosen[k]);
            usage(stderr);
            return 2;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "ergrid-bench: cannot initialise libcurl\n");
        return 2;
    }
    atexit(svc_stop_all);
    if ((g_opts.auth || g_opts.tls) && bench_auth_prepare() < 0)
        return 2;

    char host[256] = "?";
    gethostname(host, sizeof(host) - 1);
    printf("ergrid-bench: build %s, %ld online CPUs, host %s, data under %s%s\n", g_opts.build,
           sysconf(_SC_NPROCESSORS_ONLN), host, tmp_root(),
           g_opts.auth && g_opts.tls ? ", services with --tokens and TLS"
           : g_opts.auth             ? ", services with --tokens"
           : g_opts.tls              ? ", services on TLS"
                                     : "");
    fflush(stdout);

    int rc = 0;
    for (size_t i = 0; i < NBENCH; i++) {
        bool run = false;
        for (size_t k = 0; k < nchosen; k++)
            run |= (strcmp(chosen[k], "all") == 0 && benches[i].fn != bench_peers) ||
                   strcmp(chosen[k], benches[i].name) == 0;
        if (!run)
            continue;
        printf("\n=== %s: %s ===\n", benches[i].name, benches[i].what);
        print_machine_load("machine before the start");
        bench_failures_reset();
        double t0 = now_s();
        int r = benches[i].fn();
        if (r != 0 || bench_failures() != 0) {
            printf("%s: FUNCTIONAL ERRORS (see stderr)\n", benches[i].name);
            summary(benches[i].name, "functional errors", "-", "ERROR");
            rc = 1;
        }
        printf("(%s took %.1f s)\n", benches[i].name, now_s() - t0);
        fflush(stdout);
        svc_stop_all(); /* nothing may survive into the next benchmark */
    }
    svc_stop_all();
    curl_global_cleanup();
    return rc;
}
