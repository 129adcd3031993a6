/* A webhook receiver for tests and the benchmark: a libmicrohttpd server on 127.0.0.1 (its
 * own threads) that records every POST it gets and checks its Standard Webhooks signature.
 *
 * Threads: requests are handled on libmicrohttpd's threads; every function here may be called
 * from any thread (state is under one mutex). */
#ifndef OD_TEST_RECEIVER_H
#define OD_TEST_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECEIVER_SECRETS_MAX 4

struct receiver;

/* One request as received. */
struct received {
    char id[80];          /* webhook-id */
    int64_t timestamp;    /* webhook-timestamp */
    int n_signatures;     /* "v1,..." entries in webhook-signature */
    int n_valid;          /* of those, how many match one of the receiver's secrets */
    char *body;           /* NUL-terminated copy; freed by receiver_received_free */
    int status;           /* what the receiver answered */
    int64_t at_wall_ms;
    char path[128];
};

/* Starts on a free port (port 0: the kernel picks). NULL on failure. */
struct receiver *receiver_start(int port);
int receiver_port(const struct receiver *r);
/* "http://127.0.0.1:PORT/path" */
void receiver_url(const struct receiver *r, const char *path, char *buf, size_t size);
/* Stops listening (connections are refused) / listens again on the same port. */
void receiver_pause(struct receiver *r);
int receiver_resume(struct receiver *r);
/* Frees everything. NULL is fine. */
void receiver_stop(struct receiver *r);

/* Secrets signatures are checked against (NULL-terminated list, copied). */
void receiver_set_secrets(struct receiver *r, const char *const secrets[]);
/* How to answer: HTTP status (default 200), an optional Retry-After value, and a delay before
 * answering. */
void receiver_set_reply(struct receiver *r, int status, const char *retry_after, int delay_ms);
/* Answers `status` to the next n requests, then the default again. */
void receiver_fail_next(struct receiver *r, int n, int status);

/* Requests received so far; distinct webhook-ids that were answered 2xx. */
size_t receiver_count(struct receiver *r);
size_t receiver_delivered(struct receiver *r);
/* Waits until receiver_delivered() >= n; false on timeout. */
bool receiver_wait_delivered(struct receiver *r, size_t n, int timeout_ms);
/* Copy of request i (0-based, arrival order); false if out of range. Free with
 * receiver_received_free. */
bool receiver_get(struct receiver *r, size_t i, struct received *out);
void receiver_received_free(struct received *rec);
/* Requests with this webhook-id answered 2xx. */
size_t receiver_delivered_count_of(struct receiver *r, const char *id);
/* Requests whose signatures were not all valid (a forged or wrongly signed delivery). */
size_t receiver_bad_signatures(struct receiver *r);
/* Forgets everything received. */
void receiver_clear(struct receiver *r);

#endif
