/* What every ergrid binary shares: command-line helpers, the "listening on"
 * line, SIGTERM handling, logging to stderr, the data directory, metrics
 * text helpers. */
#ifndef API_SERVICE_H
#define API_SERVICE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Blocks SIGTERM/SIGINT/SIGHUP/SIGPIPE in the calling thread (call first
 * in main, before any thread is started, so all threads inherit the mask),
 * then service_wait_for_signal() waits for SIGTERM or SIGINT and returns
 * it. A SIGHUP meanwhile runs the hook of service_on_sighup (reloading the
 * tokens file) on the waiting thread, and nothing else. */
void service_block_signals(void);
int service_wait_for_signal(void);
void service_on_sighup(void (*fn)(void *), void *arg);
/* Logs msg as a WARN line now and every 60 s while the process waits in
 * service_wait_for_signal (--insecure-no-auth). NULL or "": stop. */
void service_nag(const char *msg);

/* Prints "listening on http://HOST:PORT\n" (scheme: "https" on TLS) to
 * stdout and flushes. */
void service_announce(const char *host, uint16_t port);
void service_announce_scheme(const char *scheme, const char *host, uint16_t port);

/* mkdir -p with mode 0755: creates path and its missing parents. 0 when
 * path is (now) a directory; -1 with errno set otherwise (ENAMETOOLONG for a
 * path of PATH_MAX bytes or more, ENOENT for "", ENOTDIR when it exists as
 * something else). */
int service_mkdir_p(const char *path);

/* One log line on stderr: "<iso8601> <service> <level> message". Thread-safe.
 * service_log_init names the service and starts the writer thread: from
 * then on service_log only queues the line (at most 4096 lines, 1 MiB) and
 * never waits for stderr; with the queue full the line is dropped and
 * counted, and a "N log lines dropped" warn line follows once the writer
 * has caught up. A "fatal" line is written, with everything queued before
 * it, before service_log returns (it precedes an _exit). What is queued is
 * written at exit (an atexit handler). Without service_log_init, lines are
 * written directly. */
void service_log_init(const char *service_name);
void service_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Lines dropped with the queue full since the start. */
uint64_t service_log_dropped(void);
/* Returns once every line queued before the call is written. */
void service_log_flush(void);

/* Growable text buffer with a hard cap (for /metrics and exports).
 * max 0 means 64 MiB. len never exceeds max; an append that does not fit is
 * cut at max, sets overflow, and every later append is ignored. buf is never
 * NULL and always NUL-terminated (it points at a static "" until the first
 * append), so release it with strbuf_release, never free(); take ownership
 * with strbuf_detach. */
typedef struct strbuf {
    char *buf;
    size_t len, alloc, max;
    bool overflow; /* set when an append was cut at max */
} strbuf;
void strbuf_init(strbuf *sb, size_t max);
void strbuf_release(strbuf *sb);
void strbuf_addf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_add(strbuf *sb, const char *s, size_t len);
/* Returns the malloc'd text (never the static "", NULL only on OOM) and
 * resets sb to empty; *len (may be NULL) receives its length. */
char *strbuf_detach(strbuf *sb, size_t *len);

/* Latency histogram for /metrics (Prometheus buckets in seconds). */
#define HIST_NBUCKETS 12
typedef struct histogram {
    uint64_t buckets[HIST_NBUCKETS]; /* cumulative counts written at export */
    uint64_t count;
    double sum;
} histogram;
extern const double histogram_bounds[HIST_NBUCKETS];
void histogram_observe(histogram *h, double seconds); /* not locked: caller locks */
void histogram_write(const histogram *h, strbuf *sb, const char *name, const char *labels);

#endif
