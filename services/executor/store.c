/* Persistence: the whole assignment set and the report counter live in one
 * JSON file, DIR/assignments.json, replaced atomically (write a temp file,
 * fsync, rename, fsync the directory). The set is small (capped at 1024),
 * so rewriting it on every change is simpler than a log and just as safe. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "executor.h"

#define STORE_VERSION 1

json_t *store_snapshot_locked(const executor *e)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    for (size_t i = 0; i < e->n; i++) {
        json_t *a = asg_to_json(e->v[i], true);
        if (!a || json_array_append_new(arr, a) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return json_pack("{s:i, s:s, s:I, s:I, s:o}", "version", STORE_VERSION, "unit_id", e->cfg.id,
                     "report_counter", (json_int_t)e->report_counter, "next_seq",
                     (json_int_t)e->next_seq, "assignments", arr);
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int store_write(const char *dir, const char *text, size_t len)
{
    char tmp[EXEC_PATH_MAX + 32], final[EXEC_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, EXEC_STORE_FILE);
    snprintf(final, sizeof final, "%s/%s", dir, EXEC_STORE_FILE);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (write_all(fd, text, len) != 0 || write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
        int saved = errno;
        close(fd);
        unlink(tmp);
        errno = saved;
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, final) != 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    int rc = fsync(dfd);
    int saved = errno;
    close(dfd);
    errno = saved;
    return rc;
}

static int get_uint(const json_t *o, const char *key, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int copy_str(const json_t *o, const char *key, char *dst, size_t cap, bool id)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s || strlen(s) >= cap || (id && !coord_id_valid(s)))
        return -1;
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

/* One stored assignment back into memory; NULL when anything is off. */
static assignment *parse_assignment(const json_t *o, char *err, size_t errlen)
{
    assignment *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *what = NULL;
    uint64_t attempt = 0;
    field_error fe;
    const json_t *job = json_object_get(o, "job");
    const json_t *report = json_object_get(o, "report");
    const json_t *reason = json_object_get(o, "revoke_reason");
    if (!json_is_object(o))
        what = "entry is not an object";
    else if (copy_str(o, "job_id", a->job_id, sizeof a->job_id, true) != 0)
        what = "job_id";
    else if (get_uint(o, "attempt", &attempt) != 0 || attempt < 1)
        what = "attempt";
    else if (copy_str(o, "owner", a->owner, sizeof a->owner, true) != 0)
        what = "owner";
    else if (copy_str(o, "owner_url", a->owner_url, sizeof a->owner_url, false) != 0 ||
             !exec_url_valid(a->owner_url))
        what = "owner_url";
    else if (!json_is_object(job))
        what = "job";
    else if (asg_state_parse(json_string_value(json_object_get(o, "state")), &a->state) != 0)
        what = "state";
    else if (vclock_from_json(json_object_get(o, "vclock"), &a->vc, &fe) != 0)
        what = "vclock";
    else if (get_uint(o, "received_ms", &a->received_ms) != 0)
        what = "received_ms";
    else if (get_uint(o, "seq", &a->seq) != 0)
        what = "seq";
    else if (report && !json_is_null(report) && !json_is_object(report))
        what = "report";
    else if (reason &&
             copy_str(o, "revoke_reason", a->revoke_reason, sizeof a->revoke_reason, true) != 0)
        what = "revoke_reason";
    if (what) {
        snprintf(err, errlen, "bad assignment entry (%s)", what);
        free(a);
        return NULL;
    }
    a->attempt = (int64_t)attempt;
    a->job = json_deep_copy(job);
    a->report = json_is_object(report) ? json_deep_copy(report) : NULL;
    return a;
}

int store_load(executor *e, char *err, size_t errlen)
{
    char path[EXEC_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", e->cfg.data_dir, EXEC_STORE_FILE);
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 0; /* first start */
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "%s: %s (line %d)", path, jerr.text, jerr.line);
        return -1;
    }
    int rc = -1;
    uint64_t counter = 0, next_seq = 0;
    const json_t *arr = json_object_get(root, "assignments");
    const char *unit = json_string_value(json_object_get(root, "unit_id"));
    if (!json_is_object(root) ||
        json_integer_value(json_object_get(root, "version")) != STORE_VERSION ||
        get_uint(root, "report_counter", &counter) != 0 ||
        get_uint(root, "next_seq", &next_seq) != 0 || !json_is_array(arr) ||
        json_array_size(arr) > EXEC_MAX_ASSIGNMENTS || !unit) {
        snprintf(err, errlen, "%s: not an executor state file (version %d)", path, STORE_VERSION);
        goto out;
    }
    if (strcmp(unit, e->cfg.id) != 0) {
        snprintf(err, errlen, "%s belongs to unit '%s', not '%s'", path, unit, e->cfg.id);
        goto out;
    }
    size_t i;
    json_t *o;
    char why[160];
    json_array_foreach (arr, i, o) {
        assignment *a = parse_assignment(o, why, sizeof why);
        if (!a) {
            snprintf(err, errlen, "%s: entry %zu: %s", path, i, why);
            goto out;
        }
        if (exec_find_locked(e, a->job_id)) {
            snprintf(err, errlen, "%s: job %s stored twice", path, a->job_id);
            asg_free(a);
            goto out;
        }
        e->v[e->n++] = a;
        if (a->seq >= next_seq)
            next_seq = a->seq + 1;
    }
    e->report_counter = counter;
    e->next_seq = next_seq ? next_seq : 1;
    rc = 0;
out:
    if (rc != 0) {
        for (size_t k = 0; k < e->n; k++)
            asg_free(e->v[k]);
        e->n = 0;
    }
    json_decref(root);
    return rc;
}
