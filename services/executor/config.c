/* ergrid-executor's command line (config.h): flag table, value checks and
 * the required flags. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "config.h"
#include "leader_client.h"

void exec_usage(FILE *out)
{
    fputs("usage: ergrid-executor --id ID --kind KIND --capabilities CAP[,CAP...]\n"
          "                       --broker URL[,URL...] --listen HOST:PORT --data-dir DIR\n"
          "                       [--heartbeat-interval 1s] [--mode manual|simulate]\n"
          "                       [--simulate-after 5s] [--capacity 1]\n"
          "                       [--advertise-url URL] [--station LAT,LON] [--fault-hooks]\n"
          "                       [--help]\n"
          "       " API_SECURITY_USAGE
          "Durations accept 500ms, 3s, 1m. --listen 127.0.0.1:0 picks a free port.\n"
          "--fault-hooks serves POST /v1/faults, for tests only: never in service.\n",
          out);
}

bool exec_url_valid(const char *s)
{
    size_t skip = s && strncmp(s, "https://", 8) == 0 ? 8 : 7;
    if (!s || (strncmp(s, "http://", 7) != 0 && skip == 7))
        return false;
    size_t n = strlen(s);
    if (n <= skip || n > EXEC_URL_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f)
            return false;
    }
    return true;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return EXEC_ARGS_ERROR;
}

static int copy_url(char *dst, const char *flag, const char *v, char *err, size_t errlen)
{
    if (!exec_url_valid(v))
        return fail(err, errlen,
                    "%s: expected an http:// or https:// URL of at most %d characters, got '%s'",
                    flag, EXEC_URL_MAX, v);
    size_t n = strlen(v);
    while (n > 7 && v[n - 1] == '/')
        n--;
    memcpy(dst, v, n);
    dst[n] = '\0';
    return EXEC_ARGS_OK;
}

/* Up to EXEC_MAX_BROKERS URLs of one district, each a bare origin: the
 * leader's 307 names an origin, and the set matches origins. */
static int parse_brokers(exec_config *cfg, const char *v, char *err, size_t errlen)
{
    char one[EXEC_URL_MAX + 2], origin[LEADER_URL_MAX];
    const char *p = v;

    cfg->nbrokers = 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char *dst;

        if (cfg->nbrokers == EXEC_MAX_BROKERS)
            return fail(err, errlen, "--broker: at most %d URLs", EXEC_MAX_BROKERS);
        if (len == 0 || len > EXEC_URL_MAX)
            return fail(err, errlen, "--broker: bad URL list '%s'", v);
        memcpy(one, p, len);
        one[len] = '\0';
        dst = cfg->brokers[cfg->nbrokers];
        if (copy_url(dst, "--broker", one, err, errlen) != EXEC_ARGS_OK)
            return EXEC_ARGS_ERROR;
        if (leader_origin(dst, origin, sizeof(origin)) != 0 || strcasecmp(origin, dst) != 0 ||
            (strncmp(origin, "https:", 6) == 0) != (strncmp(cfg->brokers[0], "https:", 6) == 0))
            return fail(err, errlen,
                        "--broker: expected scheme://host:port, all of one scheme, got '%s'", one);
        memcpy(dst, origin, strlen(origin) + 1);
        for (size_t i = 0; i < cfg->nbrokers; i++)
            if (strcmp(cfg->brokers[i], dst) == 0)
                return fail(err, errlen, "--broker: '%s' given twice", one);
        cfg->nbrokers++;
        if (!comma)
            break;
        p = comma + 1;
    }
    memcpy(cfg->broker, cfg->brokers[0], sizeof(cfg->broker));
    return EXEC_ARGS_OK;
}

static int parse_caps(exec_config *cfg, const char *v, char *err, size_t errlen)
{
    cfg->ncaps = 0;
    const char *p = v;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char cap[COORD_ID_MAX + 2];
        if (len == 0 || len > COORD_ID_MAX)
            return fail(err, errlen, "--capabilities: bad capability list '%s'", v);
        memcpy(cap, p, len);
        cap[len] = '\0';
        if (!coord_id_valid(cap))
            return fail(err, errlen, "--capabilities: invalid capability '%s'", cap);
        bool dup = false;
        for (size_t i = 0; i < cfg->ncaps; i++)
            dup = dup || strcmp(cfg->caps[i], cap) == 0;
        if (!dup) {
            if (cfg->ncaps == EXEC_MAX_CAPS)
                return fail(err, errlen, "--capabilities: at most %d capabilities", EXEC_MAX_CAPS);
            memcpy(cfg->caps[cfg->ncaps++], cap, len + 1);
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return EXEC_ARGS_OK;
}

static int parse_duration(const char *flag, const char *v, uint64_t *out, char *err, size_t errlen)
{
    if (coord_parse_duration_flag(flag, v, out, err, errlen) < 0)
        return EXEC_ARGS_ERROR;
    return EXEC_ARGS_OK;
}

enum {
    F_ID,
    F_KIND,
    F_CAPS,
    F_BROKER,
    F_LISTEN,
    F_DATA,
    F_HB,
    F_MODE,
    F_SIMAFTER,
    F_CAPACITY,
    F_ADVERTISE,
    F_FAULTS,
    F_STATION,
    F__COUNT
};

static const char *const flag_names[F__COUNT] = {
    [F_ID] = "--id",
    [F_KIND] = "--kind",
    [F_CAPS] = "--capabilities",
    [F_BROKER] = "--broker",
    [F_LISTEN] = "--listen",
    [F_DATA] = "--data-dir",
    [F_HB] = "--heartbeat-interval",
    [F_MODE] = "--mode",
    [F_SIMAFTER] = "--simulate-after",
    [F_CAPACITY] = "--capacity",
    [F_ADVERTISE] = "--advertise-url",
    [F_FAULTS] = "--fault-hooks",
    [F_STATION] = "--station",
};

/* "LAT,LON" in degrees, e.g. 34.0522,-118.2437. */
static int parse_station(exec_config *cfg, const char *v, char *err, size_t errlen)
{
    char *end = NULL;
    errno = 0;
    double lat = strtod(v, &end);
    bool ok = errno == 0 && end != v && *end == ',';
    const char *lon_s = ok ? end + 1 : "";
    double lon = ok ? strtod(lon_s, &end) : 0;
    ok = ok && errno == 0 && end != lon_s && *end == '\0' && geo_valid(lat, lon);
    if (!ok)
        return fail(err, errlen,
                    "--station: expected LAT,LON in degrees (lat -90..90, lon -180..180), "
                    "got '%s'",
                    v);
    cfg->has_station = true;
    cfg->station = (geo_point){lat, lon};
    return EXEC_ARGS_OK;
}

static int apply(exec_config *cfg, int f, const char *v, char *err, size_t errlen)
{
    switch (f) {
    case F_ID:
    case F_KIND:
        if (!coord_id_valid(v))
            return fail(err, errlen, "%s: invalid id '%s' (1-64 chars of A-Z a-z 0-9 . _ -)",
                        flag_names[f], v);
        snprintf(f == F_ID ? cfg->id : cfg->kind, COORD_ID_MAX + 1, "%s", v);
        return EXEC_ARGS_OK;
    case F_CAPS:
        return parse_caps(cfg, v, err, errlen);
    case F_BROKER:
        return parse_brokers(cfg, v, err, errlen);
    case F_ADVERTISE:
        return copy_url(cfg->advertise_url, "--advertise-url", v, err, errlen);
    case F_LISTEN:
        if (api_parse_listen(v, cfg->listen_host, sizeof cfg->listen_host, &cfg->listen_port) != 0)
            return fail(err, errlen, "--listen: expected HOST:PORT (e.g. 127.0.0.1:7201), got '%s'",
                        v);
        return EXEC_ARGS_OK;
    case F_DATA:
        if (v[0] == '\0' || strlen(v) >= EXEC_PATH_MAX - 64)
            return fail(err, errlen, "--data-dir: invalid directory '%s'", v);
        snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", v);
        return EXEC_ARGS_OK;
    case F_HB:
        return parse_duration("--heartbeat-interval", v, &cfg->heartbeat_ms, err, errlen);
    case F_SIMAFTER:
        return parse_duration("--simulate-after", v, &cfg->simulate_after_ms, err, errlen);
    case F_MODE:
        if (strcmp(v, "manual") == 0)
            cfg->mode = EXEC_MODE_MANUAL;
        else if (strcmp(v, "simulate") == 0)
            cfg->mode = EXEC_MODE_SIMULATE;
        else
            return fail(err, errlen, "--mode: expected manual or simulate, got '%s'", v);
        return EXEC_ARGS_OK;
    case F_STATION:
        return parse_station(cfg, v, err, errlen);
    case F_CAPACITY: {
        char *end = NULL;
        errno = 0;
        long n = (v[0] >= '0' && v[0] <= '9') ? strtol(v, &end, 10) : -1;
        if (n < 1 || n > EXEC_MAX_CAPACITY || errno || !end || *end)
            return fail(err, errlen, "--capacity: expected an integer 1..%d, got '%s'",
                        EXEC_MAX_CAPACITY, v);
        cfg->capacity = (unsigned)n;
        return EXEC_ARGS_OK;
    }
    default:
        return fail(err, errlen, "internal: unknown flag");
    }
}

int exec_parse_args(int argc, char *const argv[], exec_config *cfg, char *err, size_t errlen)
{
    exec_config c;
    memset(&c, 0, sizeof c);
    c.heartbeat_ms = 1000;
    c.simulate_after_ms = 5000;
    c.capacity = 1;
    c.mode = EXEC_MODE_MANUAL;
    bool seen[F__COUNT] = {false};
    if (err && errlen)
        err[0] = '\0';

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return EXEC_ARGS_HELP;
        if (strncmp(arg, "--", 2) != 0)
            return fail(err, errlen, "unexpected argument '%s' (see --help)", arg);
        if (api_security_switch(&c.sec, arg))
            continue;
        const char *eq = strchr(arg, '=');
        size_t namelen = eq ? (size_t)(eq - arg) : strlen(arg);
        char name[32];
        if (namelen < sizeof name) {
            memcpy(name, arg, namelen);
            name[namelen] = '\0';
            if (api_security_knows(name)) {
                if (!eq && i + 1 >= argc)
                    return fail(err, errlen, "%s needs a value", name);
                api_security_flag(&c.sec, name, eq ? eq + 1 : argv[++i]);
                continue;
            }
        }
        int f = -1;
        for (int k = 0; k < F__COUNT; k++) {
            if (strlen(flag_names[k]) == namelen && strncmp(flag_names[k], arg, namelen) == 0) {
                f = k;
                break;
            }
        }
        if (f < 0)
            return fail(err, errlen, "unknown flag: %.*s (see --help)", (int)namelen, arg);
        if (f == F_FAULTS) {
            /* A switch: it takes no value. */
            if (eq)
                return fail(err, errlen, "--fault-hooks takes no value");
            if (seen[f])
                return fail(err, errlen, "%s given twice", flag_names[f]);
            seen[f] = true;
            c.fault_hooks = true;
            continue;
        }
        const char *val;
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return fail(err, errlen, "%s needs a value", flag_names[f]);
            val = argv[++i];
        }
        if (seen[f])
            return fail(err, errlen, "%s given twice", flag_names[f]);
        seen[f] = true;
        int rc = apply(&c, f, val, err, errlen);
        if (rc != EXEC_ARGS_OK)
            return rc;
    }
    static const int required[] = {F_ID, F_KIND, F_CAPS, F_BROKER, F_LISTEN, F_DATA};
    for (size_t k = 0; k < sizeof required / sizeof required[0]; k++) {
        if (!seen[required[k]])
            return fail(err, errlen, "missing required flag %s (see --help)",
                        flag_names[required[k]]);
    }
    *cfg = c;
    return EXEC_ARGS_OK;
}
