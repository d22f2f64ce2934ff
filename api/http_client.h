/* HTTP/JSON client on libcurl: connect and total timeouts, retries with
 * exponential backoff and jitter, one reused connection cache per thread. */
#ifndef API_HTTP_CLIENT_H
#define API_HTTP_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct http_opts {
    long connect_timeout_ms; /* 0: 1000 */
    long timeout_ms;         /* total, 0: 3000 */
    unsigned retries;        /* extra tries on transport errors and 502/503/504; 0: none */
    long backoff_ms;         /* first backoff, doubled each retry, with +-50% jitter; 0: 100 */
    size_t max_reply;        /* cap on the reply body; 0: 8 MiB */
    bool raw;                /* keep the reply's bytes (raw), do not parse them */
} http_opts;

typedef struct http_reply {
    long status;  /* HTTP status, 0 on transport failure */
    json_t *body; /* parsed JSON reply (new reference) or NULL */
    char *raw;    /* opts.raw: the reply's raw_len bytes (no NUL added), or NULL */
    size_t raw_len;
    char error[128]; /* transport error text when status == 0 */
    /* Some try got as far as sending its request: after a transport
     * failure the peer may have acted on it. False means it surely did
     * not (refused, unresolvable, never connected). */
    bool sent;
    /* A 3xx reply's Location header as sent (malloc'd, NUL-terminated, at
     * most HTTP_LOCATION_MAX bytes), or NULL; location_cut says it was
     * longer and was cut. The client never follows it (leader_client.h
     * does, checked). */
    char *location;
    bool location_cut;
} http_reply;

#define HTTP_LOCATION_MAX 2048

/* Global init/cleanup (curl_global_*); call once from main / test setup. */
int http_client_global_init(void);
void http_client_global_cleanup(void);

/* The process's outgoing credential: every later call sends
 * "Authorization: Bearer <token>" (NULL: none). The token is copied; it is
 * never logged. -1 when it is longer than 256 bytes. The CA bundle (PEM
 * file) trusted for https:// calls instead of the system's (NULL: the
 * system's); peer and host are always verified. Call both at start,
 * before any thread calls out. */
int http_client_set_token(const char *token);
int http_client_set_ca_file(const char *path);

/* Sends method url with body (may be NULL; serialized compactly, not
 * stolen). Returns 0 when an HTTP reply was received (any status), -1 on
 * transport failure after all retries. reply must be released with
 * http_reply_release. */
int http_json(const char *method, const char *url, const json_t *body, const http_opts *opts,
              http_reply *reply);
void http_reply_release(http_reply *r);

/* Releases this thread's cached connection (call before a thread exits). */
void http_client_thread_cleanup(void);

#endif
