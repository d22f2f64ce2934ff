/* ergrid-executor's command line (DESIGN.md §5): the configuration it
 * yields and the limits on what it accepts. Pure: no I/O besides
 * exec_usage, so the test suite can drive every good and bad case. */
#ifndef EXECUTOR_CONFIG_H
#define EXECUTOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "coord.h"
#include "security.h"

#define EXEC_URL_MAX      512
#define EXEC_MAX_CAPS     32
#define EXEC_MAX_CAPACITY 64 /* the broker's BROKER_MAX_CAPACITY */
#define EXEC_PATH_MAX     4096
#define EXEC_MAX_BROKERS  8 /* LEADER_URLS_MAX: one district's broker and its standbys */

typedef enum exec_mode { EXEC_MODE_MANUAL = 0, EXEC_MODE_SIMULATE } exec_mode;

typedef struct exec_config {
    char id[COORD_ID_MAX + 1];
    char kind[COORD_ID_MAX + 1];
    char caps[EXEC_MAX_CAPS][COORD_ID_MAX + 1];
    size_t ncaps;
    /* --broker URL[,URL...]: the home district's brokers, each an origin
     * (scheme://host:port, no trailing '/'); broker is the first. */
    char brokers[EXEC_MAX_BROKERS][EXEC_URL_MAX + 1];
    size_t nbrokers;
    char broker[EXEC_URL_MAX + 1];
    char listen_host[64];
    uint16_t listen_port;
    char data_dir[EXEC_PATH_MAX];
    uint64_t heartbeat_ms;                /* default 1000 */
    exec_mode mode;                       /* default manual */
    uint64_t simulate_after_ms;           /* default 5000 */
    unsigned capacity;                    /* default 1 */
    char advertise_url[EXEC_URL_MAX + 1]; /* "" when not given */
    bool fault_hooks;                     /* --fault-hooks: serve the test-only /v1/faults */
    bool has_station;                     /* --station LAT,LON: the unit's home station */
    geo_point station;
    api_security sec;                     /* --tokens, --token-file, TLS (security.h) */
} exec_config;

enum { EXEC_ARGS_OK = 0, EXEC_ARGS_HELP = 1, EXEC_ARGS_ERROR = 2 };

/* Parses the command line (argv[0] is skipped) into cfg. Returns
 * EXEC_ARGS_OK, EXEC_ARGS_HELP (--help given) or EXEC_ARGS_ERROR with a
 * one-line reason in err. The exit codes of main follow: 0 for help, 2 for
 * an error. */
int exec_parse_args(int argc, char *const argv[], exec_config *cfg, char *err, size_t errlen);
void exec_usage(FILE *out);

/* True for an absolute http:// URL of at most EXEC_URL_MAX printable,
 * space-free characters. */
bool exec_url_valid(const char *s);

#endif
