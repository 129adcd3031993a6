/* GET /v1/contacts/:id folded into GetMany calls, by organization ("flat combining").
 *
 * A read whose organization has no GetMany in flight sends one at once, for its own id: alone,
 * it costs what a Get did. Reads of that organization that arrive meanwhile queue; when the
 * call in flight comes back, the first of them sends the next GetMany, carrying every queued
 * id of the organization (up to 64), and the rest sleep until their answers are in. Under load
 * that is one RPC per batch instead of one per read.
 *
 * Why: a read cost ~240 µs of CPU, most of it thread hand-offs in nng 1.5.2 (every
 * asynchronous step of a message completes on another thread: 22-25 context switches per GET
 * across the gateway and contacts-svc; BENCHMARKS.md). A batch pays them once.
 *
 * Scope: a batch holds one organization's ids and travels under that organization, so every
 * query stays scoped to it, as Get's did. */
#ifndef GATEWAY_CONTACT_READS_H
#define GATEWAY_CONTACT_READS_H

#include "contacts.pb-c.h"
#include "rpc.h"

struct contact_reads;

/* One read's outcome: contact (one malloc'd block: free() it) when status is OK. */
struct contact_read {
    Od__Status status;
    char message[RPC_MESSAGE_MAX];
    Od__Contact *contact;
};

/* NULL when out of memory. The client must outlive the struct. */
struct contact_reads *contact_reads_new(struct rpc_client *contacts);
void contact_reads_free(struct contact_reads *reads);

/* How many reads were answered, and by how many GetMany calls (for tests and logs). */
void contact_reads_counts(struct contact_reads *reads, long *reads_done, long *calls);

/* Reads one contact of org_id; request_id names the call that carries it (the leader's). */
void contact_reads_get(struct contact_reads *reads, const char *org_id, const char *request_id,
                       const char *id, int timeout_ms, struct contact_read *out);

#endif
