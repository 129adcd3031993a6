/* Idempotency-Key on POST (issue 14): the same key with the same request within 24 hours
 * replays the first answer (status and body, marked `Idempotent-Replayed: true`); the same key
 * with another request (method, path or body) is 422; a request whose key is still in flight
 * waits for the first one's answer and replays it. Keys belong to one organization. Stored in
 * the gateway's own schema (migrations/002_idempotency.sql).
 *
 * Which answers are kept: every 2xx, 3xx and 4xx. A 5xx (the service was unavailable, or
 * failed) is forgotten, so the client's retry with the same key runs the request again.
 *
 * Runs on a handler thread (it blocks on the database, and a waiting request sleeps). Used by
 * gateway/http_dispatch.c around the route's handler:
 *     struct idempotency_claim claim;
 *     if (idempotency_begin(gw, req, &claim, res))   // false: res holds the answer
 *         { handler(req, res); idempotency_finish(gw, &claim, res); } */
#ifndef GATEWAY_IDEMPOTENCY_H
#define GATEWAY_IDEMPOTENCY_H

#include <stdbool.h>

#include "gateway.h"

#define IDEMPOTENCY_KEY_MAX 255

struct idempotency_claim {
    bool active;   /* a row was claimed: idempotency_finish stores the answer */
    bool replayed; /* res is the stored answer: http_dispatch.c adds Idempotent-Replayed: true */
    char org_id[48];
    char key[IDEMPOTENCY_KEY_MAX + 1];
};

/* For an authenticated POST with an Idempotency-Key header: claims the key, or answers from
 * the stored request (replay, 422, 400 for a malformed key, 409 when the first request is
 * still running after the wait). Returns true when the handler must run (claim->active tells
 * whether the answer is to be stored), false when res holds the answer. */
bool idempotency_begin(struct gateway *gw, struct api_request *req,
                       struct idempotency_claim *claim, struct api_response *res);
/* Stores the answer of a claimed request (or forgets the key on a 5xx). */
void idempotency_finish(struct gateway *gw, struct idempotency_claim *claim,
                        const struct api_response *res);

#endif
