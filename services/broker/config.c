/* ergrid-broker's command line (DESIGN.md §5): flags, defaults and the
 * checks that turn a bad command line into a message and exit status 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#include "leader_client.h"
#include "listen.h"
#include "peertab.h"
#include "sse.h"

static const char usage[] =
    "usage: ergrid-broker --id DISTRICT --listen HOST:PORT --data-dir DIR\n"
    "                     [--coordinator URL] [--peer ID=URL[,URL...] ...]\n"
    "                     [--failure-timeout 3s] [--sync-interval 60s]\n"
    "                     [--emergency-sync-interval 5s] [--advertise-url URL]\n"
    "                     [--threads N] [--durability normal|full] [--max-fix-age 5m]\n"
    "                     [--response-plans FILE]\n"
    "                     [--store sqlite|etcd] [--etcd URL[,URL...]] [--leader-lease 3s]\n"
    "                     [--stream-heartbeat 15s] [--max-streams 64]\n"
    "       " API_SECURITY_USAGE;

static int set_url(char *dst, const char *v, const char *flag, char *err, size_t errlen)
{
    if ((strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) ||
        strlen(v) >= BROKER_URL_MAX) {
        snprintf(err, errlen, "%s: expected an http:// or https:// URL, got '%s'", flag, v);
        return 2;
    }
    snprintf(dst, BROKER_URL_MAX, "%s", v);
    size_t n = strlen(dst);
    while (n > 0 && dst[n - 1] == '/')
        dst[--n] = '\0';
    return 0;
}

static int set_duration(uint64_t *dst, const char *v, const char *flag, char *err, size_t errlen)
{
    return coord_parse_duration_flag(flag, v, dst, err, errlen) < 0 ? 2 : 0;
}

static bool known_flag(const char *flag)
{
    static const char *const names[] = {
        "--id",
        "--listen",
        "--data-dir",
        "--coordinator",
        "--advertise-url",
        "--peer",
        "--failure-timeout",
        "--sync-interval",
        "--emergency-sync-interval",
        "--threads",
        "--durability",
        "--max-fix-age",
        "--response-plans",
        "--stream-heartbeat",
        "--max-streams",
        "--store",
        "--etcd",
        "--leader-lease",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(flag, names[i]) == 0)
            return true;
    return api_security_knows(flag);
}

void broker_config_defaults(broker_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->failure_timeout_ms = 3000;
    cfg->sync_interval_ms = 60000;
    cfg->emergency_sync_interval_ms = 5000;
    cfg->max_fix_age_ms = STATE_MAX_FIX_AGE_MS;
    cfg->threads = 8;
    cfg->stream_heartbeat_ms = API_SSE_DEFAULT_HEARTBEAT_MS;
    cfg->max_streams = API_SSE_DEFAULT_MAX_STREAMS;
    cfg->durability = STORE_DURABILITY_NORMAL;
    cfg->store = BROKER_STORE_SQLITE;
    cfg->leader_lease_ms = 3000;
}

/* --etcd: 1..BROKER_ETCD_MAX_URLS http(s) URLs, comma-separated, none
 * empty; the etcd client checks them again when the store opens. */
static int set_etcd(broker_config *cfg, const char *v, char *err, size_t errlen)
{
    size_t n = 0;
    const char *p = v;

    if (!*v || strlen(v) >= sizeof(cfg->etcd))
        goto bad;
    for (;;) {
        size_t len = strcspn(p, ",");

        if ((len <= 7 || strncmp(p, "http://", 7) != 0) &&
            (len <= 8 || strncmp(p, "https://", 8) != 0))
            goto bad;
        if (++n > BROKER_ETCD_MAX_URLS)
            goto bad;
        if (!p[len])
            break;
        p += len + 1;
    }
    snprintf(cfg->etcd, sizeof(cfg->etcd), "%s", v);
    return 0;
bad:
    snprintf(err, errlen,
             "--etcd: expected 1..%d http:// or https:// URLs separated by commas, got '%.200s'",
             BROKER_ETCD_MAX_URLS, v);
    return 2;
}

/* What only makes sense with the other store, refused rather than ignored. */
static int check_store(const broker_config *cfg, bool lease_set, bool durability_set, char *err,
                       size_t errlen)
{
    if (cfg->store == BROKER_STORE_ETCD && !cfg->etcd[0]) {
        snprintf(err, errlen, "--store etcd needs --etcd URL[,URL...]");
        return 2;
    }
    if (cfg->store != BROKER_STORE_ETCD && (cfg->etcd[0] || lease_set)) {
        snprintf(err, errlen, "%s is only for --store etcd",
                 cfg->etcd[0] ? "--etcd" : "--leader-lease");
        return 2;
    }
    if (cfg->store == BROKER_STORE_ETCD && durability_set) {
        snprintf(err, errlen,
                 "--durability is for --store sqlite: with etcd a 2xx means etcd's quorum has "
                 "the change");
        return 2;
    }
    return 0;
}

int broker_parse_args(int argc, char **argv, broker_config *cfg, char *err, size_t errlen)
{
    broker_config_defaults(cfg);
    bool have_listen = false, lease_set = false, durability_set = false;

    for (int i = 1; i < argc; i++) {
        char flag[64];
        const char *arg = argv[i], *val = NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage, stdout);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s'\n%s", arg, usage);
            return 2;
        }
        if (api_security_switch(&cfg->sec, arg))
            continue;
        const char *eq = strchr(arg, '=');
        size_t fl = eq ? (size_t)(eq - arg) : strlen(arg);
        if (fl >= sizeof(flag)) {
            snprintf(err, errlen, "unknown flag: %.60s...\n%s", arg, usage);
            return 2;
        }
        memcpy(flag, arg, fl);
        flag[fl] = '\0';
        if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            /* A mistyped last flag is unknown, not one without its value. */
            snprintf(err, errlen,
                     known_flag(flag) ? "%s needs a value\n%s" : "unknown flag: %s\n%s", flag,
                     usage);
            return 2;
        }
        int rc = 0;
        if (api_security_flag(&cfg->sec, flag, val)) {
            /* checked when loaded (api_security_load) */
        } else if (strcmp(flag, "--id") == 0) {
            if (!coord_id_valid(val) || strcmp(val, "coordinator") == 0) {
                snprintf(err, errlen,
                         "--id: '%s' is not a district id ([A-Za-z0-9._-]{1,64}, not "
                         "'coordinator', the coordinator's clock entry)",
                         val);
                return 2;
            }
            snprintf(cfg->id, sizeof(cfg->id), "%s", val);
        } else if (strcmp(flag, "--listen") == 0) {
            if (api_parse_listen(val, cfg->host, sizeof(cfg->host), &cfg->port) < 0) {
                snprintf(err, errlen, "--listen: expected HOST:PORT, got '%s'", val);
                return 2;
            }
            have_listen = true;
        } else if (strcmp(flag, "--data-dir") == 0) {
            if (!*val || strlen(val) >= sizeof(cfg->data_dir)) {
                snprintf(err, errlen, "--data-dir: bad path");
                return 2;
            }
            snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", val);
        } else if (strcmp(flag, "--coordinator") == 0) {
            rc = set_url(cfg->coordinator, val, flag, err, errlen);
        } else if (strcmp(flag, "--advertise-url") == 0) {
            rc = set_url(cfg->advertise_url, val, flag, err, errlen);
        } else if (strcmp(flag, "--peer") == 0) {
            const char *e = strchr(val, '=');
            char pid[COORD_ID_MAX + 1];
            if (!e || (size_t)(e - val) > COORD_ID_MAX) {
                snprintf(err, errlen, "--peer: expected ID=URL, got '%s'", val);
                return 2;
            }
            memcpy(pid, val, (size_t)(e - val));
            pid[e - val] = '\0';
            if (!coord_id_valid(pid)) {
                snprintf(err, errlen, "--peer: '%s' is not an id", pid);
                return 2;
            }
            if (cfg->npeers == BROKER_MAX_PEERS) {
                snprintf(err, errlen, "--peer: at most %d peers", BROKER_MAX_PEERS);
                return 2;
            }
            /* Up to PEER_URLS_MAX URLs of one district (its leader and
             * standbys), kept as a normalized list of origins. */
            if (leader_list_normalize(e + 1, PEER_URLS_MAX, cfg->peer_url[cfg->npeers],
                                      BROKER_URL_MAX) < 1) {
                snprintf(err, errlen,
                         "--peer: expected ID=URL[,URL...] with at most %d http(s)://host:port "
                         "URLs of one scheme, got '%s'",
                         PEER_URLS_MAX, val);
                return 2;
            }
            snprintf(cfg->peer_id[cfg->npeers++], COORD_ID_MAX + 1, "%s", pid);
        } else if (strcmp(flag, "--failure-timeout") == 0) {
            rc = set_duration(&cfg->failure_timeout_ms, val, flag, err, errlen);
        } else if (strcmp(flag, "--sync-interval") == 0) {
            rc = set_duration(&cfg->sync_interval_ms, val, flag, err, errlen);
        } else if (strcmp(flag, "--emergency-sync-interval") == 0) {
            rc = set_duration(&cfg->emergency_sync_interval_ms, val, flag, err, errlen);
        } else if (strcmp(flag, "--max-fix-age") == 0) {
            rc = set_duration(&cfg->max_fix_age_ms, val, flag, err, errlen);
        } else if (strcmp(flag, "--stream-heartbeat") == 0) {
            rc = set_duration(&cfg->stream_heartbeat_ms, val, flag, err, errlen);
            if (rc == 0 && (cfg->stream_heartbeat_ms < 1000 || cfg->stream_heartbeat_ms > 3600000)) {
                snprintf(err, errlen, "--stream-heartbeat: expected 1s..1h, got '%s'", val);
                return 2;
            }
        } else if (strcmp(flag, "--max-streams") == 0) {
            char *end;
            unsigned long t = strtoul(val, &end, 10);
            if (!*val || *end || t < 1 || t > 1024) {
                snprintf(err, errlen, "--max-streams: expected 1..1024, got '%s'", val);
                return 2;
            }
            cfg->max_streams = (unsigned)t;
        } else if (strcmp(flag, "--threads") == 0) {
            char *end;
            unsigned long t = strtoul(val, &end, 10);
            if (!*val || *end || t < 1 || t > 256) {
                snprintf(err, errlen, "--threads: expected 1..256, got '%s'", val);
                return 2;
            }
            cfg->threads = (unsigned)t;
        } else if (strcmp(flag, "--response-plans") == 0) {
            if (plans_load(val, &cfg->plans, err, errlen) < 0)
                return 2;
        } else if (strcmp(flag, "--store") == 0) {
            if (strcmp(val, "sqlite") == 0) {
                cfg->store = BROKER_STORE_SQLITE;
            } else if (strcmp(val, "etcd") == 0) {
                cfg->store = BROKER_STORE_ETCD;
            } else {
                snprintf(err, errlen, "--store: expected sqlite or etcd, got '%s'\n%s", val,
                         usage);
                return 2;
            }
        } else if (strcmp(flag, "--etcd") == 0) {
            rc = set_etcd(cfg, val, err, errlen);
        } else if (strcmp(flag, "--leader-lease") == 0) {
            rc = set_duration(&cfg->leader_lease_ms, val, flag, err, errlen);
            /* etcd grants leases in whole seconds; its minimum is about 2 s */
            if (rc == 0 && (cfg->leader_lease_ms < 2000 || cfg->leader_lease_ms > 60000 ||
                            cfg->leader_lease_ms % 1000)) {
                snprintf(err, errlen, "--leader-lease: expected whole seconds 2s..60s, got '%s'",
                         val);
                return 2;
            }
            lease_set = true;
        } else if (strcmp(flag, "--durability") == 0) {
            durability_set = true;
            if (strcmp(val, "normal") == 0) {
                cfg->durability = STORE_DURABILITY_NORMAL;
            } else if (strcmp(val, "full") == 0) {
                cfg->durability = STORE_DURABILITY_FULL;
            } else {
                snprintf(err, errlen, "--durability: expected normal or full, got '%s'\n%s", val,
                         usage);
                return 2;
            }
        } else {
            snprintf(err, errlen, "unknown flag: %s\n%s", flag, usage);
            return 2;
        }
        if (rc)
            return rc;
    }
    if (!cfg->id[0] || !have_listen || !cfg->data_dir[0]) {
        snprintf(err, errlen, "--id, --listen and --data-dir are required\n%s", usage);
        return 2;
    }
    if (check_store(cfg, lease_set, durability_set, err, errlen))
        return 2;
    for (size_t i = 0; i < cfg->npeers; i++) {
        if (strcmp(cfg->peer_id[i], cfg->id) == 0) {
            snprintf(err, errlen, "--peer: %s is this broker's own id", cfg->id);
            return 2;
        }
    }
    return 0;
}
