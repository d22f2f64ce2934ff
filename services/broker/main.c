/* ergrid-broker: one per district. */
#include <stdio.h>
#include <stdlib.h>

#include "broker.h"

int main(int argc, char **argv)
{
    service_block_signals();
    static broker_config cfg;
    char err[2048];
    int rc = broker_parse_args(argc, argv, &cfg, err, sizeof(err));
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "ergrid-broker: %s\n", err);
        return 2;
    }
    service_log_init("broker");
    if (http_client_global_init() < 0) {
        fprintf(stderr, "ergrid-broker: cannot initialise libcurl\n");
        return 1;
    }
    static broker b;
    if (broker_init(&b, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "ergrid-broker: %s\n", err);
        broker_release(&b);
        return 1;
    }
    uint16_t port = 0;
    if (broker_start(&b, &port) < 0) {
        fprintf(stderr, "ergrid-broker: cannot listen on %s:%u\n", cfg.host, cfg.port);
        broker_release(&b);
        return 1;
    }
    service_announce(cfg.host, port);
    service_log("info", "district %s serving at %s (failure timeout %llu ms)", cfg.id, b.self_url,
                (unsigned long long)cfg.failure_timeout_ms);
    int sig = service_wait_for_signal();
    service_log("info", "signal %d: stopping", sig);
    broker_stop(&b);
    broker_release(&b);
    http_client_global_cleanup();
    return 0;
}
