/* See contact_reads.h.
 *
 * One mutex guards the queue and the set of organizations with a call in flight. A waiter
 * sleeps on its own semaphore, posted once: when its answer is in (`done`) or when it is handed
 * the next batch (`lead`). A waiter taken off the queue belongs to whoever took it, so its
 * answer and flags are written without the lock, and the post comes after the lock is released:
 * woken readers do not pile up on the mutex the leader still holds (perf showed that contention
 * with condition variables). sem_post then sem_wait orders the writes before the reads, and
 * glibc (2.21 on) allows destroying a semaphore as soon as sem_wait returns. */
#include "contact_reads.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READS_BATCH_MAX 64 /* contacts-svc's CONTACTS_GET_MANY_MAX */
#define READS_ORG_MAX 64   /* bytes of an organization id we batch by; longer ones go alone */
#define READS_BUSY_MAX 256 /* organizations with a call in flight at once (the HTTP threads) */

struct reads_waiter {
    const char *org_id, *id;
    struct contact_read *out;
    sem_t wake;
    bool done; /* out is filled */
    bool lead; /* handed the next batch of its organization */
    struct reads_waiter *next;
};

struct contact_reads {
    struct rpc_client *client;
    pthread_mutex_t lock;
    struct reads_waiter *head, *tail; /* queued, not yet in a batch */
    char busy[READS_BUSY_MAX][READS_ORG_MAX];
    int nbusy;
    long reads_done, calls; /* counts, under the lock */
};

struct contact_reads *contact_reads_new(struct rpc_client *contacts)
{
    struct contact_reads *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->client = contacts;
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

void contact_reads_free(struct contact_reads *reads)
{
    if (reads == NULL)
        return;
    pthread_mutex_destroy(&reads->lock);
    free(reads);
}

void contact_reads_counts(struct contact_reads *reads, long *reads_done, long *calls)
{
    pthread_mutex_lock(&reads->lock);
    *reads_done = reads->reads_done;
    *calls = reads->calls;
    pthread_mutex_unlock(&reads->lock);
}

/* ---- the set of organizations with a call in flight (under the lock) ---- */

static int reads_busy_find(const struct contact_reads *r, const char *org_id)
{
    for (int i = 0; i < r->nbusy; i++)
        if (strcmp(r->busy[i], org_id) == 0)
            return i;
    return -1;
}

/* 1 if org_id is now marked (the caller leads), 0 if it already was, -1 if it cannot be
 * marked (too long, or the set is full): the caller then reads alone, outside any batch. */
static int reads_busy_mark(struct contact_reads *r, const char *org_id)
{
    if (reads_busy_find(r, org_id) >= 0)
        return 0;
    if (strlen(org_id) >= READS_ORG_MAX || r->nbusy == READS_BUSY_MAX)
        return -1;
    snprintf(r->busy[r->nbusy++], READS_ORG_MAX, "%s", org_id);
    return 1;
}

static void reads_busy_clear(struct contact_reads *r, const char *org_id)
{
    int i = reads_busy_find(r, org_id);
    if (i >= 0) {
        r->nbusy--;
        if (i != r->nbusy)
            memcpy(r->busy[i], r->busy[r->nbusy], READS_ORG_MAX);
    }
}

/* ---- the queue (under the lock) ---- */

static void reads_enqueue(struct contact_reads *r, struct reads_waiter *w)
{
    w->next = NULL;
    if (r->tail != NULL)
        r->tail->next = w;
    else
        r->head = w;
    r->tail = w;
}

/* Takes up to `max` queued waiters of org_id off the queue, in arrival order. */
static size_t reads_take(struct contact_reads *r, const char *org_id, struct reads_waiter **batch,
                         size_t max)
{
    struct reads_waiter **link = &r->head, *prev = NULL;
    size_t n = 0;
    while (*link != NULL && n < max) {
        struct reads_waiter *w = *link;
        if (strcmp(w->org_id, org_id) == 0) {
            *link = w->next;
            if (r->tail == w)
                r->tail = prev;
            batch[n++] = w;
        } else {
            prev = w;
            link = &w->next;
        }
    }
    return n;
}

/* ---- answers ---- */

/* c copied into one malloc'd block; NULL when out of memory. */
static Od__Contact *reads_copy(const Od__Contact *c)
{
    const char *src[] = {c->id, c->name, c->phone_number, c->language, c->metadata_json,
                         c->created_at, c->updated_at};
    size_t len[7], total = sizeof(Od__Contact);
    Od__Contact *copy;
    char *p;
    for (int i = 0; i < 7; i++)
        total += (len[i] = strlen(src[i] ? src[i] : "")) + 1;
    if ((copy = malloc(total)) == NULL)
        return NULL;
    od__contact__init(copy);
    p = (char *)(copy + 1);
    char **dst[] = {&copy->id, &copy->name, &copy->phone_number, &copy->language,
                    &copy->metadata_json, &copy->created_at, &copy->updated_at};
    for (int i = 0; i < 7; i++) {
        memcpy(p, src[i] ? src[i] : "", len[i] + 1);
        *dst[i] = p;
        p += len[i] + 1;
    }
    return copy;
}

static void reads_answer(struct contact_read *out, Od__Status status, const char *message,
                         const Od__Contact *c)
{
    out->contact = NULL;
    out->status = status;
    snprintf(out->message, sizeof out->message, "%s", message);
    if (status == OD__STATUS__OK && (out->contact = reads_copy(c)) == NULL) {
        out->status = OD__STATUS__INTERNAL;
        snprintf(out->message, sizeof out->message, "out of memory");
    }
}

/* One GetMany for batch[0..n) of org_id; fills every waiter's answer. */
static void reads_send(struct contact_reads *r, const char *org_id, const char *request_id,
                       int timeout_ms, struct reads_waiter **batch, size_t n)
{
    Od__GetManyContactsRequest in = OD__GET_MANY_CONTACTS_REQUEST__INIT;
    char *ids[READS_BATCH_MAX];
    struct rpc_ctx ctx;
    const Od__GetManyContactsReply *reply;

    for (size_t i = 0; i < n; i++)
        ids[i] = (char *)batch[i]->id;
    in.ids = ids;
    in.n_ids = n;
    rpc_ctx_init(&ctx, org_id, request_id, timeout_ms);
    od__contacts__get_many(rpc_client_service(r->client), &in, NULL, &ctx);
    reply = (const Od__GetManyContactsReply *)ctx.reply;
    for (size_t i = 0; i < n; i++) {
        const Od__Contact *found = NULL;
        if (ctx.status != OD__STATUS__OK) {
            reads_answer(batch[i]->out, ctx.status, ctx.message, NULL);
            continue;
        }
        for (size_t j = 0; found == NULL && reply != NULL && j < reply->n_contacts; j++)
            if (strcmp(reply->contacts[j]->id, batch[i]->id) == 0)
                found = reply->contacts[j];
        if (found != NULL)
            reads_answer(batch[i]->out, OD__STATUS__OK, "", found);
        else
            reads_answer(batch[i]->out, OD__STATUS__NOT_FOUND, "contact not found", NULL);
    }
    rpc_ctx_release(&ctx);
}

void contact_reads_get(struct contact_reads *reads, const char *org_id, const char *request_id,
                       const char *id, int timeout_ms, struct contact_read *out)
{
    struct reads_waiter self = {.org_id = org_id, .id = id, .out = out};
    struct reads_waiter *batch[READS_BATCH_MAX], *next = NULL;
    size_t n;
    int marked;

    pthread_mutex_lock(&reads->lock);
    marked = reads_busy_mark(reads, org_id);
    if (marked < 0) {
        reads->reads_done++;
        reads->calls++;
        pthread_mutex_unlock(&reads->lock);
        batch[0] = &self;
        reads_send(reads, org_id, request_id, timeout_ms, batch, 1);
        return;
    }
    if (marked == 0) {
        /* a call of this organization is in flight: wait to be answered, or to lead */
        sem_init(&self.wake, 0, 0);
        reads_enqueue(reads, &self);
        pthread_mutex_unlock(&reads->lock);
        while (sem_wait(&self.wake) != 0 && errno == EINTR)
            ;
        sem_destroy(&self.wake);
        if (self.done)
            return;
        pthread_mutex_lock(&reads->lock); /* leading: the organization stays marked busy */
    }
    /* Leading: this read and whatever of the organization has queued, off the queue. */
    batch[0] = &self;
    n = 1 + reads_take(reads, org_id, batch + 1, READS_BATCH_MAX - 1);
    reads->reads_done += (long)n;
    reads->calls++;
    pthread_mutex_unlock(&reads->lock);

    reads_send(reads, org_id, request_id, timeout_ms, batch, n);

    for (size_t i = 1; i < n; i++) {
        batch[i]->done = true;
        sem_post(&batch[i]->wake);
    }
    /* Hand the organization's next batch to its first queued read, or let it go. */
    pthread_mutex_lock(&reads->lock);
    if (reads_take(reads, org_id, &next, 1) == 1)
        next->lead = true;
    else
        reads_busy_clear(reads, org_id);
    pthread_mutex_unlock(&reads->lock);
    if (next != NULL)
        sem_post(&next->wake);
}
