/* The wire view of an assignment: what GET /v1/assignments and the other
 * assignment replies show (openapi.yaml, "Assignment"). The disk format is
 * store.c's and may differ; neither is built from the other. */
#ifndef EXECUTOR_VIEW_H
#define EXECUTOR_VIEW_H

#include <jansson.h>

#include "record.h"

/* {"job_id","attempt","owner","owner_url","job","state","vclock",
 *  "received_at","report"[,"revoke_reason"]}; new reference, NULL when out
 * of memory. */
json_t *asg_view_json(const assignment *a);

#endif
