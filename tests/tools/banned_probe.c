/* The control for banned.h: built with the project's flags (so banned.h is
 * forced in first), it includes every system and library header the project
 * uses and calls the replacements banned.h names. It compiling proves the
 * header breaks none of them; banned_check.py then reuses this file's exact
 * compile command to prove that each banned call fails to compile. */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <sqlite3.h>

int banned_probe_replacements(char *out, size_t cap, time_t t);

/* What code writes instead of the banned calls; -1 on any failure. */
int banned_probe_replacements(char *out, size_t cap, time_t t)
{
    struct tm tm;
    char stamp[32];
    char dir[] = "/tmp/banned-probe-XXXXXX";
    char word[16];
    const char *text = "alpha,beta";
    size_t n = strcspn(text, ",");

    if (n >= sizeof(word) || !gmtime_r(&t, &tm))
        return -1;
    memcpy(word, text, n);
    word[n] = '\0';
    if (strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return -1;
    if (snprintf(out, cap, "%s %s", stamp, word) < 0)
        return -1;
    if (!mkdtemp(dir))
        return -1;
    return rmdir(dir);
}
