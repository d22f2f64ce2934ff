/* --mode simulate: a stand-in crew that reports "resolved" for each active
 * assignment --simulate-after it arrived, through the same forwarding path
 * as a real report. It sleeps on a condition variable until the nearest
 * deadline (or a new assignment, or stop). A report the broker does not
 * decide on (unreachable, 403, ...) is tried again with backoff. */
#include "simulate.h"

#include <string.h>

#include "api.h"
#include "coord.h"
#include "executor.h"
#include "report.h"

#define SIM_RETRY_MIN_MS 1000
#define SIM_RETRY_MAX_MS 30000
#define SIM_IDLE_MS      60000

static uint64_t due_of(const executor *e, const assignment *a)
{
    return a->sim_due_ms ? a->sim_due_ms : a->received_ms + e->cfg.simulate_after_ms;
}

static void *sim_main(void *arg)
{
    executor *e = arg;
    pthread_mutex_lock(&e->mu);
    while (!e->stopping) {
        uint64_t now = coord_now_wall_ms();
        uint64_t nearest = UINT64_MAX;
        assignment *due = NULL;
        for (size_t i = 0; i < e->n; i++) {
            assignment *a = e->v[i];
            if (a->state != ASG_ACTIVE)
                continue;
            uint64_t d = due_of(e, a);
            if (d <= now) {
                due = a;
                break;
            }
            if (d < nearest)
                nearest = d;
        }
        if (!due) {
            uint64_t wait = nearest == UINT64_MAX ? SIM_IDLE_MS : nearest - now;
            struct timespec ts;
            exec_deadline(&ts, wait);
            pthread_cond_timedwait(&e->sim_cond, &e->mu, &ts);
            continue;
        }
        /* Push its next try out before the report, so a failed one is not
         * retried at once; a decided one is no longer active anyway. */
        due->sim_backoff_ms = due->sim_backoff_ms ? due->sim_backoff_ms * 2 : SIM_RETRY_MIN_MS;
        if (due->sim_backoff_ms > SIM_RETRY_MAX_MS)
            due->sim_backoff_ms = SIM_RETRY_MAX_MS;
        due->sim_due_ms = now + due->sim_backoff_ms;
        char job_id[COORD_ID_MAX + 1];
        memcpy(job_id, due->job_id, sizeof job_id);
        pthread_mutex_unlock(&e->mu);

        json_t *data = json_pack("{s:b}", "simulated", 1);
        long status = 0;
        json_t *body = NULL;
        char msg[512] = "";
        int rc = exec_report(e, job_id, "resolved", data, &status, &body, msg, sizeof msg);
        if (rc == EXEC_OK)
            service_log("info", "simulate: job %s reported resolved, owner broker answered %ld",
                        job_id, status);
        else
            service_log("warn", "simulate: job %s: report failed: %s", job_id, msg);
        json_decref(body);
        json_decref(data);

        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    http_client_thread_cleanup();
    return NULL;
}

int exec_sim_start(executor *e)
{
    if (e->cfg.mode != EXEC_MODE_SIMULATE)
        return 0;
    if (pthread_create(&e->sim_thread, NULL, sim_main, e) != 0)
        return -1;
    e->sim_started = true;
    return 0;
}
