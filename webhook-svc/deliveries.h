/* The dispatcher (deliveries.c): one thread that claims due deliveries and sends them. One
 * object with a handle: start, wake, stop. */
#ifndef WEBHOOK_SVC_DELIVERIES_H
#define WEBHOOK_SVC_DELIVERIES_H

struct webhook_app;
struct dispatcher;

struct dispatcher_options {
    const char *database_url;
    int max_in_flight;   /* concurrent HTTP requests */
    int claim_batch;     /* deliveries claimed per statement */
    int poll_ms;         /* how often the table is checked when nobody wakes us */
};

/* Starts the thread (it owns its database connection and curl handles). NULL on failure. */
struct dispatcher *dispatcher_start(const struct webhook_app *app,
                                    const struct dispatcher_options *options);
/* Something became due (called after a commit, from any thread): look now. */
void dispatcher_wake(struct dispatcher *d);
/* Stops claiming, gives in-flight requests a moment, hands back the leases of the rest. */
void dispatcher_stop(struct dispatcher *d);
/* Applies every curl option a delivery relies on to a scratch handle: 0 when libcurl takes
 * them all, else -1 with the refused option in why. dispatcher_start fails when this does. */
#include <stddef.h>
int dispatcher_check_curl(char *why, size_t why_size);
/* Test-only: makes the named option ("CURLOPT_NOPROXY") look refused; NULL restores. */
void dispatcher_refuse_option_for_test(const char *name);

#endif
