/* Umbrella header of the api layer. */
#ifndef API_H
#define API_H
#include "api_errors.h"
#include "json_fields.h"
#include "http_server.h"
#include "http_client.h"
#include "service.h"
#include "shiviz.h"
#endif
