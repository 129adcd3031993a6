/* The Events RPC service (events.c): the intake of events from every producing service's
 * outbox relay (lib/outbox_relay.h). */
#ifndef WEBHOOK_SVC_EVENTS_H
#define WEBHOOK_SVC_EVENTS_H

#include "webhooks.pb-c.h"

#define EVENTS_PUBLISH_MAX 1000 /* events per Publish */

extern Od__Events_Service events_service;

#endif
