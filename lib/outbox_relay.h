/* The outbox relay: a thread that moves a producing service's events from its outbox table
 * (lib/outbox.h) to webhook-svc.
 *
 * Loop: in one transaction, read the oldest rows (FOR UPDATE SKIP LOCKED, so replicas of the
 * producer split the rows instead of sending each twice), call Events.Publish over RPC, and
 * delete exactly those rows when webhook-svc answers OK (it answers only after its own
 * commit); then commit. If the call fails the transaction rolls back and the rows stay. If
 * the producer dies after webhook-svc stored a batch but before the delete committed, the
 * batch is sent again later; Publish skips ids it already has, so nothing is delivered twice
 * because of it. The relay sleeps poll_ms when the table is empty; outbox_relay_wake (after a
 * commit that added events) makes it look at once.
 *
 * Threads: the relay thread owns its database connection and RPC client. outbox_relay_wake
 * and outbox_relay_stop may be called from any thread. */
#ifndef OD_OUTBOX_RELAY_H
#define OD_OUTBOX_RELAY_H

struct outbox_relay_options {
    const char *database_url; /* the producer's own role: it owns <schema>.outbox */
    const char *schema;       /* "contacts" */
    const char *events_url;   /* webhook-svc replicas (nng URLs, comma-separated) */
    int batch;                /* rows per Publish (default 200) */
    int poll_ms;              /* idle wait between looks at the table (default 50) */
    int rpc_timeout_ms;       /* per Publish (default 10000) */
};

struct outbox_relay;
/* Starts the thread. NULL on failure (logged). The database and webhook-svc need not be up:
 * the relay retries, with backoff, until they are. */
struct outbox_relay *outbox_relay_start(const struct outbox_relay_options *options);
void outbox_relay_wake(struct outbox_relay *relay);
/* Stops after the batch in hand (bounded by rpc_timeout_ms), joins, frees. NULL is fine. */
void outbox_relay_stop(struct outbox_relay *relay);

#endif
