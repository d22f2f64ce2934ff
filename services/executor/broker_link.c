/* The link to the home broker: register (with backoff until it works), then
 * heartbeat every --heartbeat-interval on this thread alone, so no other
 * work can delay a heartbeat. Both go to whichever of --broker's URLs leads
 * (leader_client.h), so after a takeover the next heartbeat finds the new
 * leader; a new leader that does not know the unit yet answers 404 and the
 * unit registers again. A 404 means the broker forgot the unit (it
 * restarted with an empty table, or dropped it): register again. The reply
 * lists what was taken away from this unit; those assignments are marked
 * revoked. One log line per change of link state. */
#include "broker_link.h"

#include <string.h>

#include "api.h"
#include "coord.h"
#include "executor.h"
#include "faults.h"
#include "position.h"
#include "table.h"

#define REGISTER_BACKOFF_MIN_MS 200
#define REGISTER_BACKOFF_MAX_MS 2000

typedef enum link_state { LINK_START = 0, LINK_UP, LINK_DOWN } link_state;

/* Waits up to ms on link_cond; returns true when stopping. */
static bool wait_or_stop(executor *e, uint64_t ms)
{
    struct timespec ts;
    exec_deadline(&ts, ms);
    pthread_mutex_lock(&e->mu);
    while (!e->stopping) {
        if (pthread_cond_timedwait(&e->link_cond, &e->mu, &ts) != 0)
            break; /* ETIMEDOUT */
    }
    bool stop = e->stopping;
    pthread_mutex_unlock(&e->mu);
    return stop;
}

static void set_registered(executor *e, bool v)
{
    pthread_mutex_lock(&e->mu);
    e->registered = v;
    pthread_mutex_unlock(&e->mu);
}

static void bump(executor *e, uint64_t *counter)
{
    pthread_mutex_lock(&e->metrics_mu);
    (*counter)++;
    pthread_mutex_unlock(&e->metrics_mu);
}

static long hb_timeout_ms(const executor *e)
{
    uint64_t t = e->cfg.heartbeat_ms;
    if (t > 2000)
        t = 2000;
    if (t < 200)
        t = 200;
    return (long)t;
}

static void link_down(link_state *st, const char *used, const char *what, const http_reply *r)
{
    if (*st != LINK_DOWN) {
        if (r->status)
            service_log("warn", "broker %s: %s answered HTTP %ld%s%s", used, what, r->status,
                        r->error[0] ? ": " : "", r->error);
        else
            service_log("warn", "broker %s unreachable (%s): %s", used, what,
                        r->error[0] ? r->error : "transport error");
    }
    *st = LINK_DOWN;
}

/* last: the URL that answered before (the link thread's own copy). */
static void link_up(link_state *st, char *last, const char *used, const char *what)
{
    if (*st == LINK_DOWN)
        service_log("info", "broker %s reachable again (%s)", used, what);
    else if (last[0] && strcmp(last, used) != 0)
        service_log("info", "broker link moved from %s to %s (%s)", last, used, what);
    snprintf(last, LEADER_URL_MAX, "%s", used);
    *st = LINK_UP;
}

static int home_call(executor *e, const char *path, const json_t *body, long timeout_ms,
                     http_reply *r, char *used)
{
    leader_call_opts o = {.http = {.connect_timeout_ms = 500, .timeout_ms = timeout_ms}};

    return leader_call(&e->home, "POST", path, body, &o, r, used, LEADER_URL_MAX);
}

/* One registration attempt. true when the broker took it. */
static bool register_once(executor *e, link_state *st, char *last)
{
    json_t *caps = json_array();
    for (size_t i = 0; caps && i < e->cfg.ncaps; i++)
        json_array_append_new(caps, json_string(e->cfg.caps[i]));
    json_t *body = json_pack("{s:s, s:s, s:o, s:s, s:I}", "id", e->cfg.id, "kind", e->cfg.kind,
                             "capabilities", caps ? caps : json_array(), "url", e->unit_url,
                             "capacity", (json_int_t)e->cfg.capacity);
    if (body && e->cfg.has_station)
        json_object_set_new(body, "station", geo_to_json(e->cfg.station));
    char used[LEADER_URL_MAX] = "";
    http_reply r;
    memset(&r, 0, sizeof r);
    bool ok = body && home_call(e, "/v1/units", body, 2000, &r, used) == 0 && r.status >= 200 &&
              r.status < 300;
    if (ok) {
        set_registered(e, true);
        service_log("info", "registered with broker %s as %s (url %s)", used, e->cfg.id,
                    e->unit_url);
        snprintf(last, LEADER_URL_MAX, "%s", used);
        *st = LINK_UP;
    } else {
        bump(e, &e->metrics.register_failures);
        if (r.status >= 400 && r.status < 500 && r.status != 404 && r.status != 408 &&
            r.status != 429) {
            /* The broker refuses this unit: say why, it will not fix itself. */
            const char *msg =
                json_string_value(json_object_get(json_object_get(r.body, "error"), "message"));
            service_log("error", "broker %s refused registration (HTTP %ld): %s", used,
                        r.status, msg ? msg : "no message");
            *st = LINK_DOWN;
        } else {
            link_down(st, used, "register", &r);
        }
    }
    http_reply_release(&r);
    json_decref(body);
    return ok;
}

/* One heartbeat. Returns false when the unit must register again. */
static bool heartbeat_once(executor *e, link_state *st, char *last)
{
    json_t *body = exec_heartbeat_body(e);
    /* Every heartbeat, about 50 bytes: a broker that restarted (fixes are
     * memory only there) has it again within one interval. */
    json_t *fix = exec_position_fix_json(e, coord_now_wall_ms());
    if (body && fix)
        json_object_set_new(body, "fix", fix);
    else
        json_decref(fix);
    char path[COORD_ID_MAX + 32], used[LEADER_URL_MAX] = "";
    snprintf(path, sizeof path, "/v1/units/%s/heartbeat", e->cfg.id);
    http_reply r;
    memset(&r, 0, sizeof r);
    int rc = body ? home_call(e, path, body, hb_timeout_ms(e), &r, used) : -1;
    json_decref(body);
    bool keep = true;
    if (rc == 0 && r.status == 200 && fault_drop_heartbeat_reply(e)) {
        service_log("warn", "fault hook: heartbeat reply dropped");
    } else if (rc == 0 && r.status == 200) {
        link_up(st, last, used, "heartbeat");
        exec_saw_clock(e, json_object_get(r.body, "vclock"));
        int n = exec_apply_revoked(e, json_object_get(r.body, "revoked"));
        if (n > 0)
            service_log("info", "broker revoked %d assignment(s)", n);
        else if (n == EXEC_E_STORAGE)
            service_log("error", "revocations applied but not persisted");
    } else if (rc == 0 && r.status == 404) {
        bump(e, &e->metrics.heartbeat_failures);
        service_log("warn", "broker %s does not know unit %s: registering again", used,
                    e->cfg.id);
        set_registered(e, false);
        keep = false;
    } else {
        bump(e, &e->metrics.heartbeat_failures);
        link_down(st, used, "heartbeat", &r);
    }
    http_reply_release(&r);
    return keep;
}

static void *link_main(void *arg)
{
    executor *e = arg;
    link_state st = LINK_START;
    char last[LEADER_URL_MAX] = "";
    uint64_t backoff = REGISTER_BACKOFF_MIN_MS;
    bool registered = false, just_registered = false;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        bool stop = e->stopping;
        pthread_mutex_unlock(&e->mu);
        if (stop)
            break;
        if (!registered) {
            registered = register_once(e, &st, last);
            if (!registered) {
                if (wait_or_stop(e, backoff))
                    break;
                backoff =
                    backoff * 2 > REGISTER_BACKOFF_MAX_MS ? REGISTER_BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            backoff = REGISTER_BACKOFF_MIN_MS;
            just_registered = true;
        }
        /* Fixed rate: the next heartbeat is one interval after this one
         * started, however long the request took. */
        uint64_t started = coord_now_mono_ms();
        registered = heartbeat_once(e, &st, last);
        if (!registered) {
            /* Register again at once, unless the broker forgot the unit
             * right after taking it: then do not spin. */
            if (just_registered && wait_or_stop(e, REGISTER_BACKOFF_MAX_MS))
                break;
            continue;
        }
        just_registered = false;
        uint64_t spent = coord_now_mono_ms() - started;
        uint64_t wait = spent >= e->cfg.heartbeat_ms ? 0 : e->cfg.heartbeat_ms - spent;
        if (wait && wait_or_stop(e, wait))
            break;
    }
    set_registered(e, false);
    http_client_thread_cleanup();
    return NULL;
}

int exec_link_start(executor *e)
{
    if (pthread_create(&e->link_thread, NULL, link_main, e) != 0)
        return -1;
    e->link_started = true;
    return 0;
}
