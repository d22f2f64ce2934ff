/* ergrid-coordinator: the city-wide view (context.h says what it does).
 * main wires the command line to the lifecycle and stops on SIGTERM. */
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "security.h"
#include "config.h"
#include "context.h"
#include "coordinator.h"

int main(int argc, char **argv)
{
    service_block_signals();
    static coordinator_config cfg;
    char err[1024];
    int rc = coordinator_parse_args(argc, argv, &cfg, err, sizeof(err));
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "ergrid-coordinator: %s\n", err);
        return 2;
    }
    service_log_init("coordinator");
    if (http_client_global_init() < 0) {
        fprintf(stderr, "ergrid-coordinator: cannot initialise libcurl\n");
        return 1;
    }
    if (api_security_load(&cfg.sec, cfg.host, cfg.port, err, sizeof(err)) < 0) {
        fprintf(stderr, "ergrid-coordinator: %s\n", err);
        return 2;
    }
    static coordinator c;
    if (coordinator_init(&c, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "ergrid-coordinator: %s\n", err);
        coordinator_release(&c);
        http_client_global_cleanup();
        return 1;
    }
    uint16_t port = 0;
    if (coordinator_start(&c, &port) < 0) {
        fprintf(stderr, "ergrid-coordinator: cannot listen on %s:%u\n", cfg.host, cfg.port);
        coordinator_release(&c);
        http_client_global_cleanup();
        return 1;
    }
    service_announce_scheme(api_security_scheme(&cfg.sec), cfg.host, port);
    if (coordinator_start_poller(&c) < 0) {
        service_log("error", "cannot start the poller thread");
        coordinator_stop(&c);
        coordinator_release(&c);
        http_client_global_cleanup();
        return 1;
    }
    service_log("info", "city view at %s://%s:%u/ (%zu districts, poll every %llu ms)",
                api_security_scheme(&cfg.sec), cfg.host, port, c.nbrokers,
                (unsigned long long)cfg.poll_interval_ms);
    int sig = service_wait_for_signal();
    service_log("info", "signal %d: stopping", sig);
    coordinator_stop(&c);
    coordinator_release(&c);
    api_security_release(&cfg.sec);
    http_client_global_cleanup();
    return 0;
}
