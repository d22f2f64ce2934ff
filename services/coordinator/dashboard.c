/* GET /: the dashboard, one self-contained page (dashboard.html, embedded
 * at build time by embed.py) that polls /v1/overview and /v1/events. */
#include "dashboard.h"

void h_dashboard(api_request *req, api_response *res)
{
    api_reply_text(res, 200, "text/html; charset=utf-8", (const char *)dashboard_html,
                   dashboard_html_len);
}
