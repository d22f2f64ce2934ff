/* Shared helpers of ergrid-bench: service processes, the HTTP client,
 * threads, latency statistics and the summary lines. */
#include <curl/curl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "bench.h"

/* ---- options ---- */

bench_opts g_opts;

unsigned opt_threads(unsigned def)
{
    return g_opts.threads ? g_opts.threads : def;
}

unsigned opt_thread_counts(unsigned out[2])
{
    if (g_opts.threads) {
        out[0] = g_opts.threads;
        return 1;
    }
    out[0] = 8;
    out[1] = 32;
    return 2;
}

const char *const *opt_durability_args(void)
{
    static const char *args[3] = {"--durability", NULL, NULL};
    args[1] = g_opts.durability;
    return g_opts.durability ? args : NULL;
}

const char *opt_durability_name(void)
{
    return g_opts.durability ? g_opts.durability : "normal (the default)";
}

long opt_jobs(long def, long quick_def)
{
    return g_opts.jobs ? g_opts.jobs : g_opts.quick ? quick_def : def;
}

long opt_units(long def, long quick_def)
{
    return g_opts.units ? g_opts.units : g_opts.quick ? quick_def : def;
}

double opt_duration(double def, double quick_def)
{
    return g_opts.duration_s > 0 ? g_opts.duration_s : g_opts.quick ? quick_def : def;
}

static atomic_int n_failures;

void bench_fail(const char *fmt, ...)
{
    int n = atomic_fetch_add(&n_failures, 1);
    if (n >= 20) {
        if (n == 20)
            fprintf(stderr, "error: (further errors not shown)\n");
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void bench_failures_reset(void)
{
    atomic_store(&n_failures, 0);
}

int bench_failures(void)
{
    return atomic_load(&n_failures);
}

void summary(const char *bench, const char *figure, const char *target, const char *verdict)
{
    printf("SUMMARY|%s|%s|%s|%s\n", bench, figure, target, verdict);
    fflush(stdout);
}

/* Share of the machine's CPU busy over 0.5 s. */
static double machine_busy(void)
{
    unsigned long long a[2][8] = {{0}};
    for (int k = 0; k < 2; k++) {
        FILE *f = fopen("/proc/stat", "r");
        if (!f)
            return -1;
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &a[k][0], &a[k][1], &a[k][2],
                   &a[k][3], &a[k][4], &a[k][5], &a[k][6], &a[k][7]) != 8) {
            fclose(f);
            return -1;
        }
        fclose(f);
        if (k == 0)
            sleep_s(0.5);
    }
    unsigned long long tot = 0, idle = (a[1][3] - a[0][3]) + (a[1][4] - a[0][4]);
    for (int i = 0; i < 8; i++)
        tot += a[1][i] - a[0][i];
    return tot ? 100.0 * (double)(tot - idle) / (double)tot : -1;
}

void print_machine_load(const char *what)
{
    double la[3] = {-1, -1, -1};
    if (getloadavg(la, 3) < 3)
        la[0] = la[1] = la[2] = -1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    double busy = machine_busy();
    printf("%s: load average %.2f %.2f %.2f, %ld online CPUs, CPU busy %.0f%% over 0.5 s%s\n", what,
           la[0], la[1], la[2], cpus, busy,
           busy > 20 || la[0] > (double)cpus / 2
               ? " (WARNING: other work is running; figures will be low)"
               : "");
    fflush(stdout);
}

/* ---- time ---- */

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- temporary root ---- */

static char g_tmp[256];

const char *tmp_root(void)
{
    if (!g_tmp[0]) {
        snprintf(g_tmp, sizeof(g_tmp), "/tmp/ergrid-bench-XXXXXX");
        if (!mkdtemp(g_tmp)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return g_tmp;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_tmp(void)
{
    if (g_tmp[0] && !g_opts.keep) {
        nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        g_tmp[0] = '\0'; /* the next benchmark gets a fresh root */
    }
}

const char *bin_path(const char *kind)
{
    static _Thread_local char path[1200];
    snprintf(path, sizeof(path), "%s/services/%s/ergrid-%s", g_opts.build, kind, kind);
    return path;
}

/* ---- --auth: one operator credential and a private CA ---- */

/* Made once per run, in a directory of its own (the temporary root is
 * replaced between benchmarks). The operator role is what the bench's
 * client needs (it registers units and reports for them); a service's
 * check costs the same whatever role it finds. */
static char g_auth_dir[256], g_auth_header[128];
static char g_tokens[320], g_secret[320], g_ca[320], g_cert[320], g_key[320];

static void auth_remove(void)
{
    if (g_auth_dir[0] && !g_opts.keep)
        nftw(g_auth_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int rc = f && fputs(text, f) >= 0 ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    return rc;
}

int bench_auth_prepare(void)
{
    uint8_t raw[32], d[API_DIGEST_LEN];
    char tok[65], hex[65], line[160], secret[80], cmd[2048];

    if (g_auth_dir[0])
        return 0;
    snprintf(g_auth_dir, sizeof(g_auth_dir), "/tmp/ergrid-bench-auth-XXXXXX");
    if (!mkdtemp(g_auth_dir)) {
        g_auth_dir[0] = '\0';
        bench_fail("--auth: mkdtemp: %s", strerror(errno));
        return -1;
    }
    atexit(auth_remove);
    snprintf(g_tokens, sizeof(g_tokens), "%s/tokens", g_auth_dir);
    snprintf(g_secret, sizeof(g_secret), "%s/secret", g_auth_dir);
    snprintf(g_ca, sizeof(g_ca), "%s/ca.pem", g_auth_dir);
    snprintf(g_cert, sizeof(g_cert), "%s/srv.pem", g_auth_dir);
    snprintf(g_key, sizeof(g_key), "%s/srv.key", g_auth_dir);
    if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof(raw)) != 0)
        return bench_fail("--auth: no random bytes"), -1;
    api_digest_hex(raw, tok);
    api_sha256(tok, strlen(tok), d);
    api_digest_hex(d, hex);
    snprintf(line, sizeof(line), "%s operator bench\n", hex);
    snprintf(g_auth_header, sizeof(g_auth_header), "Authorization: Bearer %s", tok);
    snprintf(secret, sizeof(secret), "%s\n", tok);
    if (write_text(g_tokens, line) < 0 || write_text(g_secret, secret) < 0)
        return bench_fail("--auth: cannot write %s", g_auth_dir), -1;
    /* EC P-256, the usual choice for a server certificate today. */
    snprintf(cmd, sizeof(cmd),
             "(cd '%s' && ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes' && "
             "openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj '/CN=bench CA' && "
             "openssl req $ec -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 && "
             "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > ext && "
             "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out srv.pem -days 2 -extfile ext) >/dev/null 2>&1",
             g_auth_dir);
    if (system(cmd) != 0)
        return bench_fail("--auth: openssl could not make the certificates"), -1;
    return 0;
}

/* ---- processes ---- */

#define MAX_SVC 64
static volatile pid_t g_pids[MAX_SVC];
static pthread_mutex_t g_pid_mu = PTHREAD_MUTEX_INITIALIZER;

static void pid_track(pid_t pid, bool add)
{
    pthread_mutex_lock(&g_pid_mu);
    for (int i = 0; i < MAX_SVC; i++) {
        if (add && g_pids[i] == 0) {
            g_pids[i] = pid;
            break;
        }
        if (!add && g_pids[i] == pid) {
            g_pids[i] = 0;
            break;
        }
    }
    pthread_mutex_unlock(&g_pid_mu);
}

static bool reap(pid_t pid, double timeout_s)
{
    double end = now_s() + timeout_s;
    for (;;) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return true;
        if (now_s() > end)
            return false;
        sleep_s(0.01);
    }
}

void svc_kill_all_now(void)
{
    for (int i = 0; i < MAX_SVC; i++) {
        pid_t p = g_pids[i];
        if (p > 0)
            kill(p, SIGTERM);
    }
}

void svc_stop_all(void)
{
    for (int i = 0; i < MAX_SVC; i++) {
        pid_t p = g_pids[i];
        if (p > 0)
            kill(p, SIGTERM);
    }
    for (int i = 0; i < MAX_SVC; i++) {
        pid_t p = g_pids[i];
        if (p > 0 && !reap(p, 10)) {
            kill(p, SIGKILL);
            reap(p, 5);
        }
        g_pids[i] = 0;
    }
    remove_tmp();
}

static void log_tail(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    char ring[10][512];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        snprintf(ring[n++ % 10], sizeof(ring[0]), "%s", line);
    fclose(f);
    int from = n > 10 ? n - 10 : 0;
    for (int i = from; i < n; i++)
        fprintf(stderr, "  | %s", ring[i % 10]);
}

static int spawn(svc *s)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        bench_fail("%s: pipe: %s", s->name, strerror(errno));
        return -1;
    }
    int logfd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) {
        bench_fail("%s: fork: %s", s->name, strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        if (logfd >= 0)
            close(logfd);
        if (nullfd >= 0)
            close(nullfd);
        return -1;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls from here to exec. */
        dup2(pfd[1], 1);
        if (logfd >= 0)
            dup2(logfd, 2);
        if (nullfd >= 0)
            dup2(nullfd, 0);
        close_range(3, ~0U, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &dfl, NULL);
        execv(s->bin, s->argv);
        _exit(127);
    }
    close(pfd[1]);
    if (logfd >= 0)
        close(logfd);
    if (nullfd >= 0)
        close(nullfd);
    s->pid = pid;
    pid_track(pid, true);

    char line[256];
    size_t n = 0;
    double end = now_s() + 15;
    bool done = false;
    while (!done && n + 1 < sizeof(line)) {
        double left = end - now_s();
        if (left <= 0)
            break;
        struct pollfd p = {pfd[0], POLLIN, 0};
        int rc = poll(&p, 1, (int)(left * 1000) + 1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            break;
        char c;
        ssize_t r = read(pfd[0], &c, 1);
        if (r <= 0)
            break;
        if (c == '\n')
            done = true;
        else
            line[n++] = c;
    }
    line[n] = '\0';
    close(pfd[0]);
    unsigned port = 0;
    char scheme[8] = "";
    if (!done || sscanf(line, "listening on %5[a-z]://127.0.0.1:%u", scheme, &port) != 2 ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) || !port || port > 65535) {
        bench_fail("%s did not announce its port (got '%s'); its log:", s->name, line);
        log_tail(s->log);
        svc_stop(s);
        return -1;
    }
    s->port = (uint16_t)port;
    snprintf(s->url, sizeof(s->url), "%s://127.0.0.1:%u", scheme, port);
    return 0;
}

int svc_start_bin(svc *s, const char *name, const char *bin, const char *const *args,
                  bool with_data_dir)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->bin, sizeof(s->bin), "%s", bin);
    snprintf(s->dir, sizeof(s->dir), "%s/%s", tmp_root(), name);
    snprintf(s->log, sizeof(s->log), "%s/%s.log", tmp_root(), name);
    if (access(s->bin, X_OK) != 0) {
        bench_fail("missing binary %s (build it, or pass --build DIR)", s->bin);
        return -1;
    }
    int k = 0;
    s->argv[k++] = strdup(s->bin);
    for (size_t i = 0; args && args[i] && k < 40; i++)
        s->argv[k++] = strdup(args[i]);
    s->argv[k++] = strdup("--listen");
    s->argv[k++] = strdup("127.0.0.1:0");
    if (with_data_dir) {
        s->argv[k++] = strdup("--data-dir");
        s->argv[k++] = strdup(s->dir);
    }
    s->argv[k] = NULL;
    s->argc = k;
    return spawn(s);
}

int svc_start(svc *s, const char *name, const char *kind, const char *const *args)
{
    const char *all[48];
    size_t n = 0;

    if (!g_opts.auth && !g_opts.tls)
        return svc_start_bin(s, name, bin_path(kind), args, true);
    for (size_t i = 0; args && args[i] && n < 30; i++)
        all[n++] = args[i];
    const char *tokens[] = {"--tokens", g_tokens, "--token-file", g_secret};
    const char *tls[] = {"--tls-cert", g_cert, "--tls-key", g_key, "--ca-file", g_ca};
    for (size_t i = 0; g_opts.auth && i < sizeof(tokens) / sizeof(tokens[0]); i++)
        all[n++] = tokens[i];
    for (size_t i = 0; g_opts.tls && i < sizeof(tls) / sizeof(tls[0]); i++)
        all[n++] = tls[i];
    all[n] = NULL;
    return svc_start_bin(s, name, bin_path(kind), all, true);
}

bool bin_help_mentions(const char *bin, const char *word)
{
    char cmd[1400];
    /* The path comes from --build; quote it for the shell. */
    if (strchr(bin, '\'') ||
        snprintf(cmd, sizeof(cmd), "'%s' --help 2>&1", bin) >= (int)sizeof(cmd))
        return false;
    FILE *p = popen(cmd, "r");
    if (!p)
        return false;
    char line[512];
    bool found = false;
    while (fgets(line, sizeof(line), p))
        found |= strstr(line, word) != NULL;
    pclose(p);
    return found;
}

int svc_restart(svc *s)
{
    if (s->pid > 0)
        svc_stop(s);
    return spawn(s);
}

void svc_stop(svc *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    if (!reap(s->pid, 10)) {
        fprintf(stderr, "warning: %s (pid %d) ignored SIGTERM for 10 s: SIGKILL\n", s->name,
                (int)s->pid);
        kill(s->pid, SIGKILL);
        reap(s->pid, 5);
    }
    pid_track(s->pid, false);
    s->pid = 0;
}

void svc_kill9(svc *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    reap(s->pid, 5);
    pid_track(s->pid, false);
    s->pid = 0;
}

void svc_release(svc *s)
{
    svc_stop(s);
    for (int i = 0; i < s->argc; i++) {
        free(s->argv[i]);
        s->argv[i] = NULL;
    }
    s->argc = 0;
}

void proc_mem_kb(pid_t pid, long *rss_kb, long *hwm_kb)
{
    *rss_kb = *hwm_kb = -1;
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss_kb = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm_kb = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the ")" of comm: state is field 3; utime 14, stime 15. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- HTTP client ---- */

/* The largest reply the benchmarks read is a page of 10,000 jobs (a few
 * MiB); past this cap a reply is refused rather than grown without bound. */
#define HC_BODY_CAP (64u << 20)

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    hc *h = userp;
    size_t n = size * nmemb;
    if (h->len + n + 1 > HC_BODY_CAP)
        return 0; /* curl reports a write error */
    if (h->len + n + 1 > h->cap) {
        size_t nc = h->cap ? h->cap : 8192;
        while (nc < h->len + n + 1)
            nc *= 2;
        char *nb = realloc(h->buf, nc);
        if (!nb)
            return 0;
        h->buf = nb;
        h->cap = nc;
    }
    memcpy(h->buf + h->len, data, n);
    h->len += n;
    h->buf[h->len] = '\0';
    return n;
}

int hc_init(hc *h)
{
    memset(h, 0, sizeof(*h));
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    hd = curl_slist_append(hd, "Accept: application/json");
    hd = curl_slist_append(hd, "Expect:");
    if (g_opts.auth && g_auth_header[0])
        hd = curl_slist_append(hd, g_auth_header);
    if (g_opts.tls && g_auth_dir[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, g_ca);
    h->curl = c;
    h->headers = hd;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_MAXCONNECTS, 4L);
    return 0;
}

void hc_cleanup(hc *h)
{
    if (h->curl)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    free(h->buf);
    memset(h, 0, sizeof(*h));
}

long hc_do(hc *h, const char *method, const char *url, const char *body)
{
    CURL *c = h->curl;
    h->len = 0;
    if (h->buf)
        h->buf[0] = '\0';
    h->err[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    if (strcmp(method, "POST") == 0) {
        const char *b = body ? body : "";
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, b);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(b));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        if (strcmp(method, "GET") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        snprintf(h->err, sizeof(h->err), "%s", curl_easy_strerror(rc));
        return 0;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (!h->buf)
        on_body((char *)"", 1, 0, h);
    return status;
}

long hc_json(hc *h, const char *method, const char *url, const json_t *body, json_t **reply)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    long st = hc_do(h, method, url, text);
    free(text);
    if (reply)
        *reply = st && h->len ? json_loadb(h->buf, h->len, 0, NULL) : NULL;
    return st;
}

double hc_metric(hc *h, const char *base, const char *name)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/metrics", base);
    if (hc_do(h, "GET", url, NULL) != 200)
        return -1;
    size_t nl = strlen(name);
    for (const char *p = h->buf; p && *p;) {
        if (strncmp(p, name, nl) == 0 && p[nl] == ' ')
            return strtod(p + nl + 1, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

/* ---- latency ---- */

void lat_add(lat *l, double us)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 1024;
        double *nv = realloc(l->v, nc * sizeof(*nv));
        if (!nv)
            return;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = us;
}

void lat_free(lat *l)
{
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void lat_stats(lat *l, double *p50, double *p99, double *max)
{
    *p50 = *p99 = *max = 0;
    if (!l->n)
        return;
    qsort(l->v, l->n, sizeof(double), cmp_double);
    *p50 = l->v[(size_t)((double)(l->n - 1) * 0.50)];
    *p99 = l->v[(size_t)((double)(l->n - 1) * 0.99)];
    *max = l->v[l->n - 1];
}

double median_of(double *v, size_t n)
{
    if (!n)
        return -1;
    qsort(v, n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- threads ---- */

struct run_shared {
    long n;
    atomic_long next;
    atomic_int errors;
    item_fn fn;
    void *arg;
    lat *out;
    pthread_mutex_t mu;
};

static void *run_thread(void *p)
{
    struct run_shared *r = p;
    hc h;
    lat mine = {0};
    if (hc_init(&h) < 0) {
        bench_fail("cannot create a curl handle");
        atomic_fetch_add(&r->errors, 1);
        return NULL;
    }
    for (;;) {
        if (atomic_load(&r->errors) >= 20)
            break;
        long i = atomic_fetch_add(&r->next, 1);
        if (i >= r->n)
            break;
        double t0 = now_s();
        int rc = r->fn(&h, i, r->arg);
        double us = (now_s() - t0) * 1e6;
        if (rc < 0)
            atomic_fetch_add(&r->errors, 1);
        else if (r->out)
            lat_add(&mine, us);
    }
    hc_cleanup(&h);
    if (r->out) {
        pthread_mutex_lock(&r->mu);
        for (size_t i = 0; i < mine.n; i++)
            lat_add(r->out, mine.v[i]);
        pthread_mutex_unlock(&r->mu);
    }
    lat_free(&mine);
    return NULL;
}

double run_items(unsigned nthreads, long n, item_fn fn, void *arg, lat *out)
{
    struct run_shared r = {.n = n, .fn = fn, .arg = arg, .out = out};
    atomic_init(&r.next, 0);
    atomic_init(&r.errors, 0);
    pthread_mutex_init(&r.mu, NULL);
    if (nthreads < 1)
        nthreads = 1;
    pthread_t *t = calloc(nthreads, sizeof(*t));
    double t0 = now_s();
    unsigned started = 0;
    for (unsigned i = 0; i < nthreads; i++)
        if (pthread_create(&t[i], NULL, run_thread, &r) == 0)
            started++;
        else
            break;
    for (unsigned i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    double el = now_s() - t0;
    free(t);
    pthread_mutex_destroy(&r.mu);
    return el;
}

/* ---- broker helpers ---- */

double broker_wait_leader(const svc *s, double timeout_s)
{
    char url[160];
    snprintf(url, sizeof(url), "%s/v1/health", s->url);
    hc h;
    if (hc_init(&h) < 0) {
        bench_fail("%s: out of memory", s->name);
        return -1;
    }
    double t0 = now_s();
    long st = 0;
    const char *role = NULL;
    json_t *r = NULL;
    do {
        json_decref(r);
        r = NULL;
        st = hc_json(&h, "GET", url, NULL, &r);
        const char *store = json_string_value(json_object_get(r, "store"));
        role = json_string_value(json_object_get(r, "role"));
        bool etcd = store && strcmp(store, "etcd") == 0;
        if (st == 200 && (!etcd || (role && strcmp(role, "leader") == 0))) {
            if (etcd)
                printf("setup: %s leads (etcd, term %lld) %.2f s after it announced its port\n",
                       s->name, (long long)json_integer_value(json_object_get(r, "term")),
                       now_s() - t0);
            json_decref(r);
            hc_cleanup(&h);
            return now_s() - t0;
        }
        sleep_s(0.02);
    } while (now_s() - t0 < timeout_s);
    bench_fail("%s did not lead within %.0f s (last GET /v1/health: status %ld, role %s)", s->name,
               timeout_s, st, role ? role : "none");
    json_decref(r);
    hc_cleanup(&h);
    return -1;
}

struct reg_arg {
    const char *base, *prefix, *caps, *url_base;
    long from;
    int capacity;
};

static int reg_one(hc *h, long i, void *p)
{
    struct reg_arg *a = p;
    char id[80], url[300], body[1024];
    snprintf(id, sizeof(id), "%s-%05ld", a->prefix, a->from + i);
    snprintf(url, sizeof(url), "%s/v1/units", a->base);
    snprintf(body, sizeof(body),
             "{\"id\":\"%s\",\"kind\":\"fire\",\"capabilities\":%s,\"url\":\"%s/%s\","
             "\"capacity\":%d}",
             id, a->caps, a->url_base, id, a->capacity);
    long st = hc_do(h, "POST", url, body);
    if (st != 201 && st != 200) {
        bench_fail("register %s at %s: status %ld %s %.200s", id, a->base, st, h->err, h->buf);
        return -1;
    }
    return 0;
}

int register_units(const char *base, const char *prefix, long from, long to, const char *caps,
                   int capacity, const char *url_base, unsigned nthreads, double *elapsed_s)
{
    struct reg_arg a = {base, prefix, caps, url_base, from, capacity};
    int before = bench_failures();
    double el = run_items(nthreads, to - from, reg_one, &a, NULL);
    if (elapsed_s)
        *elapsed_s = el;
    return bench_failures() == before ? 0 : -1;
}

/* ---- heartbeats for stub units ---- */

#define HB_MAX_THREADS 64

struct hb_thread {
    heartbeater *hb;
    pthread_t thr;
    unsigned idx;
    bool started;
    double max_gap, max_lag;
};

struct heartbeater {
    char base[128];
    char prefix[32];
    long n;
    unsigned nthreads;
    double start;
    atomic_bool stop;
    atomic_long sent, failed;
    struct hb_thread t[HB_MAX_THREADS];
};

/* Thread idx plays units idx, idx + k, ...; unit i is due at i/n of every
 * second, so the whole set stays spread as with one thread. */
static void *hb_main(void *p)
{
    struct hb_thread *t = p;
    heartbeater *hb = t->hb;
    long mine = (hb->n - (long)t->idx + (long)hb->nthreads - 1) / (long)hb->nthreads;
    double *last_ok = calloc((size_t)(mine > 0 ? mine : 1), sizeof(*last_ok));
    hc h;
    if (!last_ok || hc_init(&h) < 0) {
        free(last_ok);
        bench_fail("heartbeater: out of memory");
        return NULL;
    }
    for (long m = 0; m < mine; m++)
        last_ok[m] = hb->start;
    char url[300];
    for (long round = 0; !atomic_load(&hb->stop); round++) {
        for (long m = 0; m < mine && !atomic_load(&hb->stop); m++) {
            long i = (long)t->idx + m * (long)hb->nthreads;
            double due = hb->start + (double)round + (double)i / (double)hb->n;
            double now = now_s();
            if (now < due)
                sleep_s(due - now);
            else if (now - due > t->max_lag)
                t->max_lag = now - due;
            snprintf(url, sizeof(url), "%s/v1/units/%s-%05ld/heartbeat", hb->base, hb->prefix, i);
            long st = hc_do(&h, "POST", url, NULL);
            double done = now_s();
            if (st == 200) {
                atomic_fetch_add(&hb->sent, 1);
                if (done - last_ok[m] > t->max_gap)
                    t->max_gap = done - last_ok[m];
                last_ok[m] = done;
            } else {
                atomic_fetch_add(&hb->failed, 1);
            }
        }
    }
    /* A unit whose heartbeats stopped getting through counts until now. */
    double end = now_s();
    for (long m = 0; m < mine; m++)
        if (end - last_ok[m] > t->max_gap)
            t->max_gap = end - last_ok[m];
    hc_cleanup(&h);
    free(last_ok);
    return NULL;
}

heartbeater *heartbeats_start(const char *base, const char *prefix, long n)
{
    heartbeater *hb = calloc(1, sizeof(*hb));
    if (!hb || n < 1) {
        free(hb);
        return NULL;
    }
    snprintf(hb->base, sizeof(hb->base), "%s", base);
    snprintf(hb->prefix, sizeof(hb->prefix), "%s", prefix);
    hb->n = n;
    long k = (n + HB_UNITS_PER_THREAD - 1) / HB_UNITS_PER_THREAD;
    hb->nthreads = (unsigned)(k < 1 ? 1 : k > HB_MAX_THREADS ? HB_MAX_THREADS : k);
    hb->start = now_s();
    atomic_init(&hb->stop, false);
    for (unsigned i = 0; i < hb->nthreads; i++) {
        hb->t[i].hb = hb;
        hb->t[i].idx = i;
        if (pthread_create(&hb->t[i].thr, NULL, hb_main, &hb->t[i]) != 0) {
            bench_fail("heartbeater: cannot start thread %u of %u", i + 1, hb->nthreads);
            heartbeats_stop(hb, NULL);
            return NULL;
        }
        hb->t[i].started = true;
    }
    return hb;
}

void heartbeats_stop(heartbeater *hb, hb_stats *out)
{
    if (!hb)
        return;
    atomic_store(&hb->stop, true);
    hb_stats st = {0};
    for (unsigned i = 0; i < hb->nthreads; i++) {
        if (!hb->t[i].started)
            continue;
        pthread_join(hb->t[i].thr, NULL);
        if (hb->t[i].max_gap > st.max_gap_s)
            st.max_gap_s = hb->t[i].max_gap;
        if (hb->t[i].max_lag > st.max_lag_s)
            st.max_lag_s = hb->t[i].max_lag;
    }
    st.sent = atomic_load(&hb->sent);
    st.failed = atomic_load(&hb->failed);
    if (out)
        *out = st;
    free(hb);
}

/* ---- waiting for the dispatcher ---- */

double wait_assigned(const char *base, double target, double timeout_s, const char *nudge_body,
                     long *nudges, double *stalled_s)
{
    if (stalled_s)
        *stalled_s = 0;
    hc h;
    if (hc_init(&h) < 0)
        return -1;
    char url[256];
    snprintf(url, sizeof(url), "%s/v1/units", base);
    double t0 = now_s(), last_change = t0, last = -1, got = -1;
    *nudges = 0;
    while (now_s() - t0 < timeout_s) {
        got = hc_metric(&h, base, "ergrid_jobs_assigned_total");
        if (got >= target)
            break;
        double now = now_s();
        if (got != last) {
            last = got;
            last_change = now;
        } else if (now - last_change > 0.25 && nudge_body) {
            double waiting = hc_metric(&h, base, "ergrid_jobs_waiting");
            if (waiting > 0) {
                /* No progress with jobs waiting and units free: a
                 * registration makes the broker drain its queue again. */
                hc_do(&h, "POST", url, nudge_body);
                (*nudges)++;
                if (stalled_s)
                    *stalled_s += now_s() - last_change;
                last_change = now_s();
            }
        }
        sleep_s(0.005);
    }
    hc_cleanup(&h);
    return got;
}
