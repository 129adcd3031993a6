/* The Webhooks RPC service (endpoints.c): endpoint CRUD, secret rotation, test events, the
 * delivery log and manual retry, and the organization's default secret. */
#ifndef WEBHOOK_SVC_ENDPOINTS_H
#define WEBHOOK_SVC_ENDPOINTS_H

#include "webhooks.pb-c.h"

#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_DESCRIPTION_MAX 500
#define WEBHOOK_EVENTS_MAX 32
#define WEBHOOK_LIST_LIMIT_MAX 100 /* endpoints or deliveries per List page */

extern Od__Webhooks_Service webhooks_service;

/* 1 for a known event type (or "*"). */
int webhook_event_type_known(const char *type);

#endif
