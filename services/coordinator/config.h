/* ergrid-coordinator's command line (DESIGN.md §5) and the one check on
 * broker URLs that registration and recovery share. Pure. */
#ifndef COORDINATOR_CONFIG_H
#define COORDINATOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "security.h"

#define COORD_URL_MAX 512 /* longest broker URL, without the NUL */

typedef struct coordinator_config {
    api_security sec; /* --tokens, --token-file, TLS (security.h) */
    char host[64];
    uint16_t port;
    char data_dir[1024];
    uint64_t poll_interval_ms;
    unsigned threads;
    uint64_t stream_heartbeat_ms; /* --stream-heartbeat (api/sse.h) */
    unsigned max_streams;         /* --max-streams */
} coordinator_config;

/* Parses argv (--flag value and --flag=value). Returns 0 on success, 1 after
 * printing --help, 2 on a bad command line (one-line message in err). */
int coordinator_parse_args(int argc, char **argv, coordinator_config *cfg, char *err,
                           size_t errlen);

/* True when s is an http:// or https:// URL of at most COORD_URL_MAX
 * characters with a host and no whitespace or control characters. */
bool coord_url_valid(const char *s);

#endif
