/* ergrid-executor: one per response unit (context.h says what it does).
 * main wires the parts together: command line, state from disk, server,
 * threads, and a clean stop on SIGTERM. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "broker_link.h"
#include "config.h"
#include "context.h"
#include "executor.h"
#include "handlers_health.h"
#include "routes.h"
#include "simulate.h"
#include "steps.h"
#include "table.h"

int main(int argc, char **argv)
{
    service_block_signals();
    service_log_init("executor");

    static exec_config cfg; /* large: keep it off the stack */
    char err[512];
    int prc = exec_parse_args(argc, argv, &cfg, err, sizeof err);
    if (prc == EXEC_ARGS_HELP) {
        exec_usage(stdout);
        return 0;
    }
    if (prc != EXEC_ARGS_OK) {
        fprintf(stderr, "ergrid-executor: %s\n", err);
        return 2;
    }

    if (http_client_global_init() != 0) {
        service_log("error", "cannot initialise the HTTP client");
        return 1;
    }
    if (api_security_load(&cfg.sec, cfg.listen_host, cfg.listen_port, err, sizeof err) < 0) {
        fprintf(stderr, "ergrid-executor: %s\n", err);
        return 2;
    }
    if (service_mkdir_p(cfg.data_dir) != 0) {
        service_log("error", "cannot create data dir %s: %s", cfg.data_dir, strerror(errno));
        return 1;
    }
    static executor e;
    if (exec_init(&e, &cfg) != EXEC_OK) {
        service_log("error", "out of memory");
        return 1;
    }
    if (exec_load(&e, err, sizeof err) != 0) {
        service_log("error", "refusing to start with unreadable state: %s", err);
        return 1;
    }
    if (exec_steps_open(&e, err, sizeof err) != 0) {
        service_log("error", "refusing to start with unreadable state: %s", err);
        return 1;
    }
    if (e.n)
        service_log("info", "loaded %zu assignment(s) from %s (%zu active)", e.n, cfg.data_dir,
                    exec_count(&e, ASG_ACTIVE));

    /* The fault hooks' route exists only when asked for: without it a
     * terminal serves exactly what a unit in service serves. */
    e.routes = cfg.fault_hooks ? exec_fault_routes : exec_routes;
    e.nroutes = cfg.fault_hooks ? exec_fault_nroutes : exec_nroutes;
    if (cfg.fault_hooks)
        service_log("warn", "fault hooks enabled (--fault-hooks): for tests only");
    api_server_config scfg = {
        .host = cfg.listen_host,
        .port = cfg.listen_port,
        .on_request = exec_on_request,
    };
    /* a unit credential reports for this terminal's unit only */
    api_security_apply(&cfg.sec, &scfg, cfg.id);
    uint16_t port = 0;
    api_server *srv = api_server_start(&scfg, e.routes, e.nroutes, &e, &port);
    if (!srv) {
        service_log("error", "cannot listen on %s:%u", cfg.listen_host, cfg.listen_port);
        return 1;
    }
    pthread_mutex_lock(&e.mu); /* handlers may already read it */
    e.server = srv;
    if (cfg.advertise_url[0])
        snprintf(e.unit_url, sizeof e.unit_url, "%s", cfg.advertise_url);
    else
        snprintf(e.unit_url, sizeof e.unit_url, "%s://%s:%u", api_security_scheme(&cfg.sec),
                 cfg.listen_host, port);
    pthread_mutex_unlock(&e.mu);
    service_announce_scheme(api_security_scheme(&cfg.sec), cfg.listen_host, port);
    service_log("info", "unit %s (%s, capacity %u, %s mode) listening on %s:%u, broker %s%s", cfg.id,
                cfg.kind, cfg.capacity, cfg.mode == EXEC_MODE_SIMULATE ? "simulate" : "manual",
                cfg.listen_host, port, cfg.broker, cfg.nbrokers > 1 ? " (first of --broker's list)" : "");

    if (exec_link_start(&e) != 0 || exec_sim_start(&e) != 0 || exec_steps_start(&e) != 0) {
        service_log("error", "cannot start threads");
        exec_steps_stop(&e);
        exec_threads_stop(&e);
        api_server_stop(srv);
        return 1;
    }

    int sig = service_wait_for_signal();
    service_log("info", "signal %d: stopping", sig);
    bool joined = exec_steps_stop(&e);
    joined = exec_threads_stop(&e) && joined;
    api_server_stop(srv);
    if (joined) {
        exec_steps_free(&e);
        exec_release(&e);
        api_security_release(&cfg.sec);
        http_client_global_cleanup();
    } else {
        service_log("warn", "a network call was still running at exit");
    }
    return 0;
}
