/* Umbrella header of the api layer. */
#ifndef API_H
#define API_H
#include "api_errors.h"
#include "json_fields.h"
#include "json_scan.h"
#include "router.h"
#include "reply.h"
#include "request.h"
#include "dispatch.h"
#include "http_server.h"
#include "listen.h"
#include "http_client.h"
#include "service.h"
#include "shiviz.h"
#include "sse.h"
#include "geo_json.h"
#endif
