/* GET /v1/contacts/:id folded into GetMany calls, by organization ("flat combining").
 *
 * Reads are queued, never run on the caller's thread: a few reads threads take them off the
 * queue an organization at a time. A read whose organization has no GetMany in flight goes
 * out at once, alone, so an idle gateway answers as fast as a single Get. Reads of that
 * organization that arrive meanwhile wait in the queue; when the call in flight comes back,
 * the next GetMany carries every queued id of the organization (up to 64). Under load that is
 * one RPC per batch instead of one per read, and no HTTP thread waits on any of them: the
 * gateway's event threads hand a read in, go on with other connections, and are told when the
 * answer is in (gateway/http_dispatch.c).
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

/* Called once per submitted read, on a reads thread, when `read` is filled. It must not block
 * for long: the reads thread answers the rest of its batch after it. */
typedef void (*contact_read_done)(struct contact_read *read, void *arg);

/* Starts `threads` reads threads (at most this many GetMany calls in flight, each for another
 * organization). NULL when out of memory. The client must outlive the struct. */
struct contact_reads *contact_reads_new(ProtobufCService *contacts, int threads);
/* Answers every read still queued, then stops the threads and frees everything. */
void contact_reads_free(struct contact_reads *reads);

/* How many reads were answered, and by how many GetMany calls (for tests and logs). */
void contact_reads_counts(struct contact_reads *reads, long *reads_done, long *calls);

/* Queues a read of contact `id` of org_id (the strings are copied) and returns at once;
 * done(out, arg) follows on a reads thread. request_id names the call if this read leads its
 * batch. Returns -1, without calling done, when out of memory or once contact_reads_free has
 * begun. */
int contact_reads_submit(struct contact_reads *reads, const char *org_id, const char *request_id,
                         const char *id, int timeout_ms, struct contact_read *out,
                         contact_read_done done, void *arg);

/* contact_reads_submit, then waits for the answer (for callers that may block). */
void contact_reads_get(struct contact_reads *reads, const char *org_id, const char *request_id,
                       const char *id, int timeout_ms, struct contact_read *out);

#endif
