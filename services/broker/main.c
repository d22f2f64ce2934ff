/* ergrid-broker's main: command line, start, wait for SIGTERM, stop. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "broker.h"
#include "http_client.h"
#include "security.h"
#include "service.h"

/* glibc gives every thread that allocates an arena of its own, up to 8
 * per core: with the HTTP workers and the outgoing pool that is some 9 MiB
 * of partly used arenas for a district of 10,000 units (bench memory). A
 * few arenas serve the broker's threads, which mostly wait on the network
 * or the domain mutex. MALLOC_ARENA_MAX in the environment still wins. */
static void limit_arenas(void)
{
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
    if (!getenv("MALLOC_ARENA_MAX"))
        (void)mallopt(M_ARENA_MAX, 4);
#endif
}

int main(int argc, char **argv)
{
    static broker_config cfg;
    char err[2048];
    uint16_t port = 0;
    broker *b;
    int rc, sig;

    limit_arenas();
    service_block_signals();
    rc = broker_parse_args(argc, argv, &cfg, err, sizeof(err));
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
    if (api_security_load(&cfg.sec, cfg.host, cfg.port, err, sizeof(err)) < 0) {
        fprintf(stderr, "ergrid-broker: %s\n", err);
        return 2;
    }
    b = broker_new(&cfg, err, sizeof(err));
    if (!b) {
        fprintf(stderr, "ergrid-broker: %s\n", err);
        return 1;
    }
    if (broker_start(b, &port) < 0) {
        fprintf(stderr, "ergrid-broker: cannot start serving on %s:%u\n", cfg.host, cfg.port);
        broker_free(b);
        return 1;
    }
    service_announce_scheme(api_security_scheme(&cfg.sec), cfg.host, port);
    char store[64];
    if (cfg.store == BROKER_STORE_ETCD)
        snprintf(store, sizeof(store), "store etcd, leader lease %llu s",
                 (unsigned long long)(cfg.leader_lease_ms / 1000));
    else
        snprintf(store, sizeof(store), "durability %s", store_durability_name(cfg.durability));
    service_log("info",
                "district %s serving at %s (failure timeout %llu ms, max fix age %llu ms, %s)",
                cfg.id, broker_url(b), (unsigned long long)cfg.failure_timeout_ms,
                (unsigned long long)cfg.max_fix_age_ms, store);
    sig = service_wait_for_signal();
    service_log("info", "signal %d: stopping", sig);
    broker_stop(b);
    broker_free(b);
    api_security_release(&cfg.sec);
    http_client_global_cleanup();
    return 0;
}
