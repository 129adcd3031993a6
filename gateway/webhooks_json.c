#include "webhooks_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body_problems.h"
#include "json_util.h"

static char *webhooks_all_events[] = {(char *)"*"};

/* "events" (an array of strings): 0 when absent (*n = 0), 1 when read (*out malloc'd), -1
 * after adding a problem per bad entry. */
static int webhooks_json_events(const json_t *body, char ***out, size_t *n,
                                struct body_problems *p)
{
    json_t *events = json_object_get(body, "events"), *item;
    int before = p->count;
    size_t i;

    *out = NULL;
    *n = 0;
    if (events == NULL || json_is_null(events))
        return 0;
    if (!json_is_array(events) || json_array_size(events) > WEBHOOK_EVENTS_JSON_MAX) {
        body_problems_add(p, "events", "events must be an array of at most %d event types",
                          WEBHOOK_EVENTS_JSON_MAX);
        return -1;
    }
    json_array_foreach(events, i, item) {
        if (!json_is_string(item)) {
            char field[32];
            snprintf(field, sizeof field, "events[%zu]", i);
            body_problems_add(p, field, "events[%zu] must be a string", i);
        }
    }
    if (p->count != before)
        return -1;
    *out = calloc(json_array_size(events) + 1, sizeof **out);
    if (*out == NULL) {
        body_problems_add(p, "", "out of memory");
        return -1;
    }
    json_array_foreach(events, i, item)(*out)[(*n)++] = (char *)json_string_value(item);
    return 1;
}

int webhooks_json_create(const json_t *body, Od__CreateEndpointRequest *out,
                         struct body_problems *p)
{
    const char *url = NULL, *description = NULL;
    char **events = NULL;
    size_t n_events = 0;
    int before = p->count, got = 0;

    od__create_endpoint_request__init(out);
    if (!json_is_object(body)) {
        body_problems_add(p, "", "request body must be an object");
        return -1;
    }
    if (body_problems_json_string(p, body, "", "url", 4096, &url) == JSON_FIELD_ABSENT)
        body_problems_add(p, "url", "url is required");
    body_problems_json_string(p, body, "", "description", 4096, &description);
    got = webhooks_json_events(body, &events, &n_events, p);
    if (p->count != before) {
        free(events);
        return -1;
    }
    out->url = (char *)url;
    out->description = (char *)(description ? description : "");
    /* Events left out: every event. */
    out->events = got ? events : webhooks_all_events;
    out->n_events = got ? n_events : 1;
    return 0;
}

int webhooks_json_update(const json_t *body, Od__UpdateEndpointRequest *out,
                         struct body_problems *p)
{
    const char *url = NULL, *description = NULL;
    char **events = NULL;
    size_t n_events = 0;
    int enabled = 0, before = p->count, got, has_enabled;

    od__update_endpoint_request__init(out);
    if (!json_is_object(body)) {
        body_problems_add(p, "", "request body must be an object");
        return -1;
    }
    body_problems_json_string(p, body, "", "url", 4096, &url);
    body_problems_json_string(p, body, "", "description", 4096, &description);
    has_enabled = body_problems_json_bool(p, body, "", "enabled", &enabled);
    got = webhooks_json_events(body, &events, &n_events, p);
    if (p->count != before) {
        free(events);
        return -1;
    }
    out->set_url = url != NULL;
    out->url = (char *)(url ? url : "");
    out->set_events = got == 1;
    out->events = events;
    out->n_events = n_events;
    out->set_description = json_object_get(body, "description") != NULL;
    out->description = (char *)(description ? description : "");
    out->set_enabled = has_enabled == JSON_FIELD_OK;
    out->enabled = enabled;
    return 0;
}

void webhooks_json_events_free(char **events)
{
    if (events != webhooks_all_events)
        free(events);
}
