/* GET /: the dashboard, one self-contained page embedded at build time. */
#ifndef COORDINATOR_DASHBOARD_H
#define COORDINATOR_DASHBOARD_H

#include <stddef.h>

#include "api.h"

/* Generated from dashboard.html by embed.py; NUL-terminated. */
extern const unsigned char dashboard_html[];
extern const size_t dashboard_html_len;

void h_dashboard(api_request *req, api_response *res);

#endif
