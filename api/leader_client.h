/* Finding a district's leader: the set of base URLs one district answers
 * on (a leader and its standbys, docs/HA.md §6), which of them is used now,
 * and the one call that sends a request there, follows a follower's 307 to
 * the leader and moves on to the next URL when one is down or has no
 * leader. Executors, brokers (peers) and the coordinator share it.
 *
 * Which calls may go through leader_call: every one that is safe to send
 * again after it may already have been applied (a transport failure with
 * reply.sent true, or a 503 from a leader whose commit was ambiguous), since
 * the call resends it as is. Today's writes all are:
 *   - POST /v1/jobs/{id}/results: FCFS, an exact retry of the accepted
 *     result is a 200, of a rejected one the same 409;
 *   - POST /v1/jobs with an id, POST /v1/incidents with an id: the same id
 *     and body again is a 200 with the same job;
 *   - POST /v1/units (register), POST /v1/units/{id}/heartbeat,
 *     POST /v1/units/{id}/status, POST /v1/notify, POST /v1/emergency: they
 *     set a state, sending it twice sets it once;
 *   - POST /v1/units/{id}/claim and .../release: keyed by (unit, job), a
 *     repeated claim of the same job by the same owner is a 200;
 *   - every GET.
 * A call that is not (a POST /v1/jobs without an id creates a second job)
 * sets leader_call_opts.no_resend: it then stops at the first try that may
 * have reached the service. */
#ifndef API_LEADER_CLIENT_H
#define API_LEADER_CLIENT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include "http_client.h"

#define LEADER_URLS_MAX 8   /* base URLs of one district */
#define LEADER_URL_MAX  256 /* bytes of one base URL, NUL included */
#define LEADER_PATH_MAX 2048
#define LEADER_REDIRECTS_MAX 2 /* 307/308 followed per call */

/* Caller-owned; shared between threads (its own mutex, never held across a
 * request). A URL is kept as its origin, scheme://host[:port] without a
 * trailing slash: a follower's Location names the leader by its origin. */
typedef struct leader_set {
    pthread_mutex_t mu;
    char urls[LEADER_URLS_MAX][LEADER_URL_MAX];
    unsigned long added[LEADER_URLS_MAX]; /* order of addition, to replace the oldest */
    unsigned long next_added;
    size_t n;
    size_t current;
    /* A Location to an origin not in the set: learn (add it, make it
     * current) or refuse. A set configured with one URL learns (that URL
     * may be a standby of a district whose other URLs nobody told us); a
     * set configured with several is the district's whole list, and a
     * Location outside it is a peer lying or misconfigured. */
    bool learn;
} leader_set;

void leader_set_init(leader_set *ls);
void leader_set_release(leader_set *ls);

/* Adds one base URL: http:// or https://, a host, an optional port, an
 * optional path "/" (dropped). 0 added or already there, -1 malformed, too
 * long, of another scheme than the set's, or the set is full. */
int leader_set_add(leader_set *ls, const char *url);
/* Adds a comma-separated list ("http://a:1,http://b:2"); at least one URL,
 * at most LEADER_URLS_MAX. Sets learn when the list has exactly one URL.
 * -1 on the first bad one (the set keeps those before it). */
int leader_set_add_list(leader_set *ls, const char *list);
/* Replaces the whole set with urls (the coordinator's registry changed);
 * current stays on the same URL when it is still listed. -1 when one is
 * bad (the set is unchanged). */
int leader_set_replace(leader_set *ls, const char *const *urls, size_t n);

/* Normalizes a comma-separated list of base URLs into out: origins, in
 * order, duplicates dropped, at most max of them, all of one scheme. The
 * number of URLs, or -1 when one is bad, there are more, or out is too
 * small. For flags and registries that keep the list as text. */
int leader_list_normalize(const char *list, size_t max, char *out, size_t outsz);

size_t leader_set_count(leader_set *ls);
/* Copies URL i (or the current one) into out; -1 when there is none or out
 * is too small. */
int leader_set_url(leader_set *ls, size_t i, char *out, size_t outsz);
int leader_set_current(leader_set *ls, char *out, size_t outsz);
/* Makes url current (a caller that learned the leader some other way); -1
 * when it is not in the set. */
int leader_set_use(leader_set *ls, const char *url);
/* True when url (an origin, or any URL on that origin) is in the set. */
bool leader_set_has(leader_set *ls, const char *url);
/* ["url", ...] in set order (new reference). */
json_t *leader_set_json(leader_set *ls);

typedef struct leader_call_opts {
    /* http.timeout_ms bounds the whole call, every redirect and rotation
     * included (0: 3000); http.retries is ignored (the call rotates). */
    http_opts http;
    /* One try at one URL at most this long (0: the whole timeout when the
     * set has one URL, else half of it), so a URL that accepts and never
     * answers (a stopped process) leaves time for the next one. */
    long try_timeout_ms;
    /* First pause after a failed try, doubled after each round over the
     * set, +-50% jitter, at most 500 ms (0: 50). */
    long backoff_ms;
    bool no_resend; /* see the top of this file */
} leader_call_opts;

/* Sends method <current URL><path> with body (not stolen). reply->sent
 * covers every try of the call, not only the last. On 307/308 it
 * takes Location's origin (learned or refused per ls->learn; refused when
 * malformed, longer than LEADER_URL_MAX + LEADER_PATH_MAX, or of another
 * scheme), makes it current and resends the same method and body there, at
 * most LEADER_REDIRECTS_MAX times. A refused Location counts against the
 * URL that sent it: the call moves on to the next URL, and gives up once
 * there have been as many refusals as URLs. On a transport failure or 502/503/504 it
 * moves to the next URL and tries again after a short pause, until the
 * timeout. Returns 0 with the final reply (any other status), -1 with the
 * last reply seen (status 0 after a transport failure, a 3xx that was
 * refused or one redirect too many, or 502/503/504 when time ran out) and
 * reply->error saying why. used (may be NULL) receives the URL of the
 * last try. reply must be released with http_reply_release either way. */
int leader_call(leader_set *ls, const char *method, const char *path, const json_t *body,
                const leader_call_opts *opts, http_reply *reply, char *used, size_t usedsz);

/* The origin of url (scheme://host[:port], lower-case scheme) into out; -1
 * when url is not an absolute http(s) URL with a sane host and port, or
 * is too long. Exposed for the services' flag parsing and for tests. */
int leader_origin(const char *url, char *out, size_t outsz);

#endif
