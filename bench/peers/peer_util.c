/* Helpers for the peers benchmark's start/stop scripts (postgres.sh,
 * tests/etcd/start.sh): running one with its output captured, reading its
 * KEY=VALUE lines, and base64 for etcd's gateway. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer_util.h"

#ifndef BENCH_SOURCE_ROOT
#define BENCH_SOURCE_ROOT "."
#endif

const char *peer_source_path(const char *rel)
{
    static _Thread_local char path[1200];
    snprintf(path, sizeof(path), "%s/%s", BENCH_SOURCE_ROOT, rel);
    return path;
}

int peer_script(const char *const *argv, char *out, size_t cap)
{
    int pfd[2];
    if (cap == 0 || pipe(pfd) < 0)
        return -1;
    out[0] = '\0';
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        /* The servers the scripts start outlive them: they must inherit
         * none of this process's sockets, nor its ignored SIGPIPE. */
        dup2(pfd[1], 1);
        close_range(3, ~0U, 0);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &dfl, NULL);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t n = 0;
    char buf[512];
    ssize_t r;
    /* Read to the end even past cap: the script must not block on a full
     * pipe; what does not fit is dropped. */
    while ((r = read(pfd[0], buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR)) {
        for (ssize_t i = 0; i < r && n + 1 < cap; i++)
            out[n++] = buf[i];
    }
    out[n] = '\0';
    close(pfd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *peer_value(const char *out, const char *key, char *val, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = out; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        if (ll > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t vl = ll - kl - 1;
            if (vl + 1 > cap)
                return NULL;
            memcpy(val, p + kl + 1, vl);
            val[vl] = '\0';
            return val;
        }
        p = nl ? nl + 1 : NULL;
    }
    return NULL;
}

int peer_b64(const void *in, size_t n, char *out, size_t cap)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = in;
    size_t need = 4 * ((n + 2) / 3) + 1, o = 0;
    if (cap < need)
        return -1;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return 0;
}
