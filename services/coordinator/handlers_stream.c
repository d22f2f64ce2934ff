/* GET /v1/events/stream (handlers_stream.h): every event the coordinator
 * gathers (each broker's, as the poller fetches them, and its own) in the
 * order it gathered them. The SSE id is the coordinator's city sequence,
 * numbered by the hub's ring (coordinator_start starts it at the start
 * time in ms times 1000, so it keeps rising across restarts); a broker's
 * own seq stays in the event's "seq" with its "node". */
#include "handlers_stream.h"

#include "context.h"

void h_events_stream(api_request *req, api_response *res)
{
    coordinator *c = req->ctx;

    api_sse_serve(c->sse, req, res);
}
