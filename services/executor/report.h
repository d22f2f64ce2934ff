/* Forwarding a crew's report to the job's owner broker (PROTOCOL.md,
 * "Responder -> executor -> owner broker"): the one path shared by the
 * HTTP handler and simulate mode. */
#ifndef EXECUTOR_REPORT_H
#define EXECUTOR_REPORT_H

#include <jansson.h>
#include <stddef.h>

#include "context.h"

/* Forwards a report for job_id to its owner broker. On EXEC_OK *status and
 * *body hold the broker's reply (body: new reference, a JSON value). On
 * 2xx or 409 result_rejected the assignment becomes reported. Other
 * returns: EXEC_E_NOTFOUND, EXEC_E_STORAGE, EXEC_E_GATEWAY (msg says why). */
int exec_report(executor *e, const char *job_id, const char *outcome, const json_t *data,
                long *status, json_t **body, char *msg, size_t msglen);

#endif
