/* JSON -> protobuf for the webhook endpoint bodies of /v1/webhooks (gateway/routes_webhooks.c),
 * every problem of a body collected (a 400's details; gateway/body_problems.h). Pure functions,
 * unit-tested in tests/unit/test_webhooks_json.c.
 *
 * Ownership: strings placed in requests point into the borrowed `body`; the events array is
 * malloc'd (free it with webhooks_json_events_free). */
#ifndef GATEWAY_WEBHOOKS_JSON_H
#define GATEWAY_WEBHOOKS_JSON_H

#include <jansson.h>

#include "webhooks.pb-c.h"

#define WEBHOOK_EVENTS_JSON_MAX 64

struct body_problems;

/* POST: {url (required), description?, events? (left out: every event, "*")}. 0, or -1 with
 * problems (nothing allocated). */
int webhooks_json_create(const json_t *body, Od__CreateEndpointRequest *out,
                         struct body_problems *p);
/* PATCH: url?, description? (null clears), events?, enabled?. 0, or -1 with problems. */
int webhooks_json_update(const json_t *body, Od__UpdateEndpointRequest *out,
                         struct body_problems *p);
/* Frees the events array of either request (safe when none was allocated). */
void webhooks_json_events_free(char **events);

#endif
