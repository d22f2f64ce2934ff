/* ergrid-ceiling: the HTTP ceiling of the peers benchmark. A bare
 * libmicrohttpd server that reads every POST body and answers 201 with a
 * small constant JSON reply, nothing else: no parsing, no state, no disk.
 * It runs libmicrohttpd the way api/http_server.c runs it for the broker
 * (internal polling thread, a pool of worker threads, poll()), so
 * "ergrid / ceiling" is the share of a request that the broker's own work
 * costs, not a difference in HTTP machinery.
 *   ergrid-ceiling --listen 127.0.0.1:0 [--threads 8]
 * prints "listening on http://127.0.0.1:PORT" first and stops on SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CEILING_BODY_CAP (1u << 20) /* as the services' default body cap */

static const char reply_ok[] = "{\"accepted\":true}";
static const char reply_too_large[] =
    "{\"error\":{\"code\":\"body_too_large\",\"message\":\"the body is limited to 1 MiB\"}}";
static const char reply_method[] =
    "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"only POST is served\"}}";

struct upload {
    size_t len;
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, "Allow", "POST");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *data,
                                 size_t *size, void **req_cls)
{
    (void)cls;
    (void)url;
    (void)version;
    (void)data;
    struct upload *u = *req_cls;
    if (!u) {
        u = calloc(1, sizeof(*u));
        if (!u)
            return MHD_NO;
        *req_cls = u;
        return MHD_YES; /* the body, if any, comes in the next calls */
    }
    if (strcmp(method, "POST") != 0)
        return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, reply_method);
    if (*size) {
        u->len += *size;
        *size = 0;
        return MHD_YES;
    }
    if (u->len > CEILING_BODY_CAP)
        return answer(c, MHD_HTTP_CONTENT_TOO_LARGE, reply_too_large);
    return answer(c, MHD_HTTP_CREATED, reply_ok);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*req_cls);
    *req_cls = NULL;
}

static int parse_listen(const char *v, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(v, ':');
    if (!colon || (size_t)(colon - v) >= sizeof(host))
        return -1;
    memcpy(host, v, (size_t)(colon - v));
    host[colon - v] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: ergrid-ceiling --listen HOST:PORT [--threads N]\n");
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    bool have_listen = false;
    unsigned threads = 8;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--listen") == 0 && v) {
            if (parse_listen(v, &sa) < 0) {
                fprintf(stderr, "ergrid-ceiling: --listen wants HOST:PORT (IPv4)\n");
                return 2;
            }
            have_listen = true;
            i++;
        } else if (strcmp(argv[i], "--threads") == 0 && v) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 256) {
                fprintf(stderr, "ergrid-ceiling: --threads wants 1..256\n");
                return 2;
            }
            threads = (unsigned)n;
            i++;
        } else {
            usage();
            return 2;
        }
    }
    if (!have_listen) {
        usage();
        return 2;
    }

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    /* Blocked before the daemon's threads exist, so they inherit the mask
     * and sigwait below is the only receiver. */
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, on_access, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 4096u,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "ergrid-ceiling: cannot listen: %s\n", strerror(errno));
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || !info->port) {
        fprintf(stderr, "ergrid-ceiling: no bound port\n");
        MHD_stop_daemon(d);
        return 1;
    }
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof(host));
    printf("listening on http://%s:%u\n", host, (unsigned)info->port);
    fflush(stdout);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    MHD_stop_daemon(d);
    return 0;
}
