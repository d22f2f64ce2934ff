/* ergrid-coordinator's command line and URL check (config.h). */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "coord.h"

static const char usage[] =
    "usage: ergrid-coordinator --listen HOST:PORT --data-dir DIR\n"
    "                          [--poll-interval 1s] [--threads N] [--help]\n"
    "                          [--stream-heartbeat 15s] [--max-streams 64]\n"
    "       " API_SECURITY_USAGE;

bool coord_url_valid(const char *s)
{
    if (!s)
        return false;
    size_t len = strlen(s), skip;
    if (strncmp(s, "http://", 7) == 0)
        skip = 7;
    else if (strncmp(s, "https://", 8) == 0)
        skip = 8;
    else
        return false;
    if (len > COORD_URL_MAX || len == skip || s[skip] == '/' || s[skip] == ':')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '<' || *p == '>' || *p == '\\')
            return false;
    return true;
}

int coordinator_parse_args(int argc, char **argv, coordinator_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->poll_interval_ms = 1000;
    cfg->threads = 8;
    cfg->stream_heartbeat_ms = API_SSE_DEFAULT_HEARTBEAT_MS;
    cfg->max_streams = API_SSE_DEFAULT_MAX_STREAMS;
    bool have_listen = false;

    for (int i = 1; i < argc; i++) {
        char flag[32];
        const char *arg = argv[i], *val;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage, stdout);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%.100s' (see --help)", arg);
            return 2;
        }
        if (api_security_switch(&cfg->sec, arg))
            continue;
        const char *eq = strchr(arg, '=');
        size_t fl = eq ? (size_t)(eq - arg) : strlen(arg);
        if (fl >= sizeof(flag)) {
            snprintf(err, errlen, "unknown flag: %.40s... (see --help)", arg);
            return 2;
        }
        memcpy(flag, arg, fl);
        flag[fl] = '\0';
        if (strcmp(flag, "--listen") != 0 && strcmp(flag, "--data-dir") != 0 &&
            strcmp(flag, "--poll-interval") != 0 && strcmp(flag, "--threads") != 0 &&
            strcmp(flag, "--stream-heartbeat") != 0 && strcmp(flag, "--max-streams") != 0 &&
            !api_security_knows(flag)) {
            snprintf(err, errlen, "unknown flag: %s (see --help)", flag);
            return 2;
        }
        if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            snprintf(err, errlen, "%s needs a value (see --help)", flag);
            return 2;
        }
        if (api_security_flag(&cfg->sec, flag, val)) {
            /* checked when loaded (api_security_load) */
        } else if (strcmp(flag, "--listen") == 0) {
            if (api_parse_listen(val, cfg->host, sizeof(cfg->host), &cfg->port) < 0) {
                snprintf(err, errlen, "--listen: expected HOST:PORT, got '%.100s'", val);
                return 2;
            }
            have_listen = true;
        } else if (strcmp(flag, "--data-dir") == 0) {
            if (!*val || strlen(val) >= sizeof(cfg->data_dir) - 32) {
                snprintf(err, errlen, "--data-dir: expected a directory path");
                return 2;
            }
            snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", val);
        } else if (strcmp(flag, "--poll-interval") == 0) {
            if (coord_parse_duration_flag(flag, val, &cfg->poll_interval_ms, err, errlen) < 0)
                return 2;
        } else if (strcmp(flag, "--stream-heartbeat") == 0) {
            if (coord_parse_duration_flag(flag, val, &cfg->stream_heartbeat_ms, err, errlen) < 0)
                return 2;
            if (cfg->stream_heartbeat_ms < 1000 || cfg->stream_heartbeat_ms > 3600000) {
                snprintf(err, errlen, "--stream-heartbeat: expected 1s..1h, got '%.100s'", val);
                return 2;
            }
        } else if (strcmp(flag, "--max-streams") == 0) {
            char *end;
            unsigned long t = isdigit((unsigned char)*val) ? strtoul(val, &end, 10) : 0;
            if (!isdigit((unsigned char)*val) || *end || t < 1 || t > 1024) {
                snprintf(err, errlen, "--max-streams: expected 1..1024, got '%.100s'", val);
                return 2;
            }
            cfg->max_streams = (unsigned)t;
        } else { /* --threads */
            char *end;
            unsigned long t = isdigit((unsigned char)*val) ? strtoul(val, &end, 10) : 0;
            if (!isdigit((unsigned char)*val) || *end || t < 1 || t > 256) {
                snprintf(err, errlen, "--threads: expected 1..256, got '%.100s'", val);
                return 2;
            }
            cfg->threads = (unsigned)t;
        }
    }
    if (!have_listen || !cfg->data_dir[0]) {
        snprintf(err, errlen, "--listen and --data-dir are required (see --help)");
        return 2;
    }
    return 0;
}
