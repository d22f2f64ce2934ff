/* The C side of the etcd test harness (cluster.h): parses what start.sh
 * prints and runs the member scripts. */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#ifndef ETCD_SCRIPTS
#error "ETCD_SCRIPTS must name tests/etcd"
#endif

int etcd_test_skip(void)
{
    if (system("command -v etcd >/dev/null 2>&1") == 0)
        return 0;
    printf("SKIP: no etcd binary on PATH; apt-get install etcd-server etcd-client "
           "(scripts/deps.sh installs it)\n");
    return 1;
}

int etcd_test_cluster_start(etcd_test_cluster *cl, int members)
{
    char cmd[512], line[1200];
    FILE *p;

    memset(cl, 0, sizeof(*cl));
    /* -o: if this runner dies, the janitor stops the cluster */
    snprintf(cmd, sizeof(cmd), "%s/start.sh -n %d -o %d", ETCD_SCRIPTS, members, (int)getpid());
    p = popen(cmd, "r");
    if (!p)
        return -1;
    while (fgets(line, sizeof(line), p)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "ETCD_DIR=", 9) == 0 && strlen(line + 9) < sizeof(cl->dir))
            memcpy(cl->dir, line + 9, strlen(line + 9) + 1);
        else if (strncmp(line, "ETCD_URLS=", 10) == 0 && strlen(line + 10) < sizeof(cl->urls_list))
            memcpy(cl->urls_list, line + 10, strlen(line + 10) + 1);
    }
    if (pclose(p) != 0 || !cl->dir[0] || !cl->urls_list[0])
        return -1;
    {
        const char *cur = cl->urls_list, *t;
        size_t len;
        while (cl->n < ETCD_TEST_MAX_MEMBERS && coord_next_token(&cur, ",", &t, &len))
            cl->urls[cl->n++] = strndup(t, len);
    }
    return 0;
}

void etcd_test_cluster_start_or_exit(etcd_test_cluster *cl, int members)
{
    if (etcd_test_cluster_start(cl, members) != 0) {
        fprintf(stderr, "could not start a %d-member etcd\n", members);
        exit(EXIT_FAILURE);
    }
}

void etcd_test_cluster_stop(etcd_test_cluster *cl)
{
    char cmd[512];

    if (!cl->dir[0])
        return;
    snprintf(cmd, sizeof(cmd), "%s/stop.sh %s", ETCD_SCRIPTS, cl->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "stop.sh failed for %s\n", cl->dir);
    for (size_t i = 0; i < cl->n; i++)
        free(cl->urls[i]);
    memset(cl, 0, sizeof(*cl));
}

int etcd_test_member(etcd_test_cluster *cl, int i, const char *action)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "%s/member.sh %s %d %s >/dev/null", ETCD_SCRIPTS, cl->dir, i,
             action);
    return system(cmd);
}

int etcd_test_cluster_wait_healthy(etcd_test_cluster *cl)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "%s/wait.sh %s 30", ETCD_SCRIPTS, cl->dir);
    return system(cmd);
}
