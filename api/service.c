/* Process plumbing shared by every ergrid binary: signals, the "listening
 * on" line, the data directory, stderr logging (a bounded queue and its
 * writer thread), a capped text buffer and latency histograms. */
#include "service.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- signals ---------------------------------------------------------- */

/* SIGHUP is waited for with the others: it runs the reload hook on the
 * main thread instead of ending the process. */
static void term_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

static void (*hup_fn)(void *);
static void *hup_arg;
static char nag_line[512];

void service_on_sighup(void (*fn)(void *), void *arg)
{
    hup_fn = fn;
    hup_arg = arg;
}

void service_nag(const char *msg)
{
    snprintf(nag_line, sizeof(nag_line), "%s", msg ? msg : "");
    if (nag_line[0])
        service_log("WARN", "%s", nag_line);
}

void service_block_signals(void)
{
    sigset_t set;

    /* A peer closing its socket must cost an EPIPE, not the process. The
     * disposition is process-wide, so ignoring beats blocking per thread. */
    signal(SIGPIPE, SIG_IGN);
    term_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int service_wait_for_signal(void)
{
    sigset_t set;
    int sig = 0;

    term_signals(&set);
    for (;;) {
        if (nag_line[0]) {
            struct timespec every = {60, 0};
            sig = sigtimedwait(&set, NULL, &every);
            if (sig < 0) {
                if (errno == EAGAIN)
                    service_log("WARN", "%s", nag_line);
                continue;
            }
        } else if (sigwait(&set, &sig) != 0) {
            continue;
        }
        if (sig != SIGHUP)
            return sig;
        if (hup_fn)
            hup_fn(hup_arg);
    }
}

void service_announce(const char *host, uint16_t port)
{
    service_announce_scheme("http", host, port);
}

void service_announce_scheme(const char *scheme, const char *host, uint16_t port)
{
    printf("listening on %s://%s:%u\n", scheme ? scheme : "http", host ? host : "127.0.0.1",
           (unsigned)port);
    fflush(stdout);
}

/* ---- data directory --------------------------------------------------- */

int service_mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    struct stat st;

    if (n == 0) {
        errno = ENOENT;
        return -1;
    }
    if (n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    /* Each prefix ending at a '/' (the root excepted), then the whole path;
     * EEXIST is fine here, the stat below says whether it is a directory. */
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        buf[i] = c;
    }
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* ---- logging ---------------------------------------------------------- */

/* Lines go through a bounded queue to one writer thread, so a thread that
 * logs (a broker handler just out of its transaction) never waits for
 * stderr: a slow or stalled reader of the log (a full pipe, a terminal on
 * hold) costs dropped lines, counted and reported, never a stalled
 * request. Before service_log_init starts the writer, and after the exit
 * handler has stopped it, lines are written directly. */
#define LOG_QUEUE_LINES 4096            /* lines waiting at most */
#define LOG_QUEUE_BYTES ((size_t)1 << 20) /* and their bytes at most */
#define LOG_LINE_MAX    2200            /* a formatted line: message, time, name, level */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER; /* the queue and the fields below */
static pthread_cond_t log_ready = PTHREAD_COND_INITIALIZER;  /* lines queued, or stopping */
static pthread_cond_t log_empty = PTHREAD_COND_INITIALIZER;  /* the writer caught up */
static pthread_mutex_t log_out = PTHREAD_MUTEX_INITIALIZER;  /* stderr itself: one writer at a time */
static char log_name[64] = "ergrid";
static char *log_q[LOG_QUEUE_LINES];
static size_t log_head, log_n, log_bytes;
static uint64_t log_dropped_total, log_dropped_unreported;
static bool log_running, log_stopping, log_writing;
static bool log_started; /* the writer runs its own code: its start is done */
static pthread_t log_thr;

static void log_stamp(char *ts, size_t n)
{
    char date[24];
    struct timespec now;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts, n, "%s.%03uZ", date, (unsigned)(now.tv_nsec / 1000000L) % 1000u);
}

/* Caller holds log_lock (for log_name). */
static int log_format(char *out, size_t n, const char *level, const char *msg)
{
    char ts[64];

    log_stamp(ts, sizeof(ts));
    int len = snprintf(out, n, "%s %s %s %s\n", ts, log_name, level ? level : "info", msg);
    if (len < 0)
        return 0;
    if ((size_t)len >= n) { /* cut, but still one line */
        out[n - 2] = '\n';
        len = (int)n - 1;
    }
    return len;
}

static void log_emit(const char *line, size_t len)
{
    pthread_mutex_lock(&log_out);
    fwrite(line, 1, len, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_out);
}

/* The queued lines (and the drop report) written; caller holds log_lock,
 * released while writing. */
static void log_drain_locked(void)
{
    char *batch[64];

    while (log_n || log_dropped_unreported) {
        size_t k = 0;
        uint64_t dropped = 0;
        char report[LOG_LINE_MAX];
        int rlen = 0;

        while (log_n && k < sizeof(batch) / sizeof(batch[0])) {
            batch[k++] = log_q[log_head];
            log_bytes -= strlen(log_q[log_head]);
            log_head = (log_head + 1) % LOG_QUEUE_LINES;
            log_n--;
        }
        /* The report comes once the queue has room again: after the lines
         * that were kept, before any queued later. */
        if (!log_n && log_dropped_unreported) {
            char msg[128];

            dropped = log_dropped_unreported;
            log_dropped_unreported = 0;
            snprintf(msg, sizeof(msg), "%llu log lines dropped (the log queue was full)",
                     (unsigned long long)dropped);
            rlen = log_format(report, sizeof(report), "warn", msg);
        }
        log_writing = true;
        pthread_mutex_unlock(&log_lock);
        pthread_mutex_lock(&log_out);
        for (size_t i = 0; i < k; i++) {
            fputs(batch[i], stderr);
            free(batch[i]);
        }
        if (rlen)
            fwrite(report, 1, (size_t)rlen, stderr);
        fflush(stderr);
        pthread_mutex_unlock(&log_out);
        pthread_mutex_lock(&log_lock);
        log_writing = false;
    }
    pthread_cond_broadcast(&log_empty);
}

static void *log_writer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&log_lock);
    log_started = true;
    pthread_cond_broadcast(&log_empty);
    for (;;) {
        while (!log_n && !log_dropped_unreported && !log_stopping)
            pthread_cond_wait(&log_ready, &log_lock);
        log_drain_locked();
        if (log_stopping)
            break;
    }
    pthread_mutex_unlock(&log_lock);
    return NULL;
}

/* At exit (main's return, exit() after a SIGTERM's clean stop): what is
 * queued is written, and later lines go straight to stderr. */
static void log_stop_writer(void)
{
    pthread_mutex_lock(&log_lock);
    if (!log_running) {
        pthread_mutex_unlock(&log_lock);
        return;
    }
    log_stopping = true;
    pthread_cond_broadcast(&log_ready);
    pthread_mutex_unlock(&log_lock);
    pthread_join(log_thr, NULL);
    pthread_mutex_lock(&log_lock);
    log_running = false;
    log_drain_locked(); /* a line queued after the writer's last pass */
    pthread_mutex_unlock(&log_lock);
}

/* fork() copies only the calling thread: a child must not inherit the
 * log's locks held by the writer (or a thread queueing a line), nor
 * believe in a writer it does not have. So the locks are taken around the
 * fork, and in the child the writer is gone: its lines go straight to
 * stderr, the parent's queued lines stay the parent's to write (the copy
 * stays referenced, never written twice). */
static void log_fork_prepare(void)
{
    pthread_mutex_lock(&log_out);
    pthread_mutex_lock(&log_lock);
}

static void log_fork_parent(void)
{
    pthread_mutex_unlock(&log_lock);
    pthread_mutex_unlock(&log_out);
}

static void log_fork_child(void)
{
    log_running = false;
    log_stopping = false;
    log_writing = false;
    pthread_mutex_unlock(&log_lock);
    pthread_mutex_unlock(&log_out);
}

void service_log_init(const char *service_name)
{
    sigset_t all, old;

    pthread_mutex_lock(&log_lock);
    snprintf(log_name, sizeof(log_name), "%s", service_name ? service_name : "ergrid");
    bool start = !log_running && !log_stopping;
    pthread_mutex_unlock(&log_lock);
    if (!start)
        return;
    /* The writer takes no signal, whatever the caller's mask: SIGTERM is
     * for the thread in service_wait_for_signal. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    bool ok = pthread_create(&log_thr, NULL, log_writer_main, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!ok)
        return; /* lines are written directly, as before */
    pthread_mutex_lock(&log_lock);
    /* Returns only once the writer runs: a fork right after (Check forks
     * every test) must not find the thread still starting, inside the
     * C library's or the sanitizer's own locks, which the child would
     * inherit held. */
    while (!log_started)
        pthread_cond_wait(&log_empty, &log_lock);
    log_running = true;
    pthread_mutex_unlock(&log_lock);
    atexit(log_stop_writer);
    pthread_atfork(log_fork_prepare, log_fork_parent, log_fork_child);
}

void service_log(const char *level, const char *fmt, ...)
{
    char msg[2048], line[LOG_LINE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* A message may quote client input: keep one event on one line. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';

    pthread_mutex_lock(&log_lock);
    int len = log_format(line, sizeof(line), level, msg);
    /* A fatal line precedes an _exit that no exit handler sees: what is
     * queued and the line itself are written before it returns. */
    bool direct = !log_running || (level && strcmp(level, "fatal") == 0);
    if (direct) {
        if (log_running)
            while (log_n || log_dropped_unreported || log_writing) {
                pthread_cond_signal(&log_ready);
                pthread_cond_wait(&log_empty, &log_lock);
            }
        pthread_mutex_unlock(&log_lock);
        log_emit(line, (size_t)len);
        return;
    }
    char *copy = log_n < LOG_QUEUE_LINES && log_bytes + (size_t)len <= LOG_QUEUE_BYTES
                     ? strndup(line, (size_t)len)
                     : NULL;
    if (copy) {
        log_q[(log_head + log_n) % LOG_QUEUE_LINES] = copy;
        log_n++;
        log_bytes += (size_t)len;
    } else {
        log_dropped_total++;
        log_dropped_unreported++;
    }
    pthread_cond_signal(&log_ready);
    pthread_mutex_unlock(&log_lock);
}

uint64_t service_log_dropped(void)
{
    pthread_mutex_lock(&log_lock);
    uint64_t n = log_dropped_total;
    pthread_mutex_unlock(&log_lock);
    return n;
}

void service_log_flush(void)
{
    pthread_mutex_lock(&log_lock);
    while (log_running && (log_n || log_dropped_unreported || log_writing)) {
        pthread_cond_signal(&log_ready);
        pthread_cond_wait(&log_empty, &log_lock);
    }
    pthread_mutex_unlock(&log_lock);
}

/* ---- strbuf ----------------------------------------------------------- */

/* buf points here until the first append, so it is never NULL. */
static char strbuf_empty[1];

#define STRBUF_DEFAULT_MAX ((size_t)64 << 20)

void strbuf_init(strbuf *sb, size_t max)
{
    if (!sb)
        return;
    sb->buf = strbuf_empty;
    sb->len = 0;
    sb->alloc = 0;
    sb->max = max ? max : STRBUF_DEFAULT_MAX;
    sb->overflow = false;
}

void strbuf_release(strbuf *sb)
{
    if (!sb)
        return;
    if (sb->alloc)
        free(sb->buf);
    sb->buf = strbuf_empty;
    sb->len = 0;
    sb->alloc = 0;
    sb->overflow = false;
}

char *strbuf_detach(strbuf *sb, size_t *len)
{
    char *out;

    if (!sb)
        return NULL;
    if (sb->alloc) {
        out = sb->buf;
    } else {
        out = strdup("");
        if (!out)
            return NULL;
    }
    if (len)
        *len = sb->len;
    sb->buf = strbuf_empty;
    sb->len = 0;
    sb->alloc = 0;
    sb->overflow = false;
    return out;
}

/* Makes room for `want` more bytes plus the NUL, never beyond max. Returns
 * how many of them fit. */
static size_t strbuf_reserve(strbuf *sb, size_t want)
{
    size_t room = sb->max - sb->len, need, nalloc;
    char *nb;

    if (want > room)
        want = room;
    need = sb->len + want + 1;
    if (need <= sb->alloc)
        return want;
    nalloc = sb->alloc ? sb->alloc : 64;
    while (nalloc < need)
        nalloc = nalloc > SIZE_MAX / 2 ? need : nalloc * 2;
    if (nalloc > sb->max + 1)
        nalloc = sb->max + 1;
    nb = realloc(sb->alloc ? sb->buf : NULL, nalloc);
    if (!nb)
        return sb->alloc > sb->len ? sb->alloc - sb->len - 1 : 0;
    if (!sb->alloc)
        nb[0] = '\0';
    sb->buf = nb;
    sb->alloc = nalloc;
    return want;
}

void strbuf_add(strbuf *sb, const char *s, size_t len)
{
    size_t n;

    if (!sb || sb->overflow || (!s && len))
        return;
    if (len == 0)
        return;
    n = strbuf_reserve(sb, len);
    if (n < len)
        sb->overflow = true;
    if (n == 0)
        return;
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
}

void strbuf_addf(strbuf *sb, const char *fmt, ...)
{
    char small[256], *big = NULL;
    va_list ap;
    int n;

    if (!sb || sb->overflow || !fmt)
        return;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        strbuf_add(sb, small, (size_t)n);
        return;
    }
    /* Rare: format into a temporary only as large as what can still fit. */
    if ((size_t)n > sb->max - sb->len) {
        size_t room = sb->max - sb->len;
        big = malloc(room + 1);
        if (!big) {
            sb->overflow = true;
            return;
        }
        va_start(ap, fmt);
        vsnprintf(big, room + 1, fmt, ap);
        va_end(ap);
        strbuf_add(sb, big, room);
        sb->overflow = true;
    } else {
        big = malloc((size_t)n + 1);
        if (!big) {
            sb->overflow = true;
            return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        strbuf_add(sb, big, (size_t)n);
    }
    free(big);
}

/* ---- histogram -------------------------------------------------------- */

const double histogram_bounds[HIST_NBUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};

void histogram_observe(histogram *h, double seconds)
{
    if (!h)
        return;
    if (!(seconds >= 0)) /* negative or NaN */
        seconds = 0;
    for (size_t i = 0; i < HIST_NBUCKETS; i++) {
        if (seconds <= histogram_bounds[i]) {
            h->buckets[i]++;
            break;
        }
    }
    h->count++;
    h->sum += seconds;
}

void histogram_write(const histogram *h, strbuf *sb, const char *name, const char *labels)
{
    bool lab = labels && *labels;
    uint64_t cum = 0;

    if (!h || !sb || !name)
        return;
    for (size_t i = 0; i < HIST_NBUCKETS; i++) {
        cum += h->buckets[i];
        strbuf_addf(sb, "%s_bucket{le=\"%g\"%s%s} %llu\n", name, histogram_bounds[i],
                    lab ? "," : "", lab ? labels : "", (unsigned long long)cum);
    }
    strbuf_addf(sb, "%s_bucket{le=\"+Inf\"%s%s} %llu\n", name, lab ? "," : "", lab ? labels : "",
                (unsigned long long)h->count);
    strbuf_addf(sb, "%s_sum%s%s%s %.9g\n", name, lab ? "{" : "", lab ? labels : "", lab ? "}" : "",
                h->sum);
    strbuf_addf(sb, "%s_count%s%s%s %llu\n", name, lab ? "{" : "", lab ? labels : "",
                lab ? "}" : "", (unsigned long long)h->count);
}
