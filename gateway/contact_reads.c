/* See contact_reads.h.
 *
 * One mutex guards the queue, the set of organizations with a call in flight and the
 * counters. A reads thread takes the first queued read whose organization is not busy, marks
 * the organization, takes every queued read of it (up to a batch), and makes the call without
 * the lock. Submitting wakes an idle reads thread only when the read's organization is not
 * busy: while it is, the thread that holds it will take the read on its next round, and waking
 * another thread would only cost a context switch. */
#include "contact_reads.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"

#define READS_BATCH_MAX 64 /* contacts-svc's CONTACTS_GET_MANY_MAX */
#define READS_ORG_MAX 64   /* bytes of an organization id (ours are 26) */
#define READS_RID_MAX 80
#define READS_THREADS_MAX 64

struct reads_waiter {
    char org_id[READS_ORG_MAX];
    char request_id[READS_RID_MAX];
    int64_t deadline_ms; /* monotonic: submitted + timeout, whatever batch it rides in */
    struct contact_read *out;
    contact_read_done done;
    void *arg;
    struct reads_waiter *next;
    char id[]; /* the contact id, NUL-terminated */
};

struct contact_reads {
    ProtobufCService *client; /* od.Contacts */
    pthread_mutex_t lock;
    pthread_cond_t work; /* a read of an organization that is not busy was queued, or stopping */
    struct reads_waiter *head, *tail; /* queued, not yet in a batch */
    char busy[READS_THREADS_MAX][READS_ORG_MAX]; /* organizations with a call in flight */
    int nbusy, idle, nthreads;
    bool stopping;
    long reads_done, calls;
    pthread_t threads[READS_THREADS_MAX];
};

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

/* The first queued read whose organization has no call in flight; NULL if none. */
static struct reads_waiter *reads_first_ready(const struct contact_reads *r)
{
    for (struct reads_waiter *w = r->head; w != NULL; w = w->next)
        if (reads_busy_find(r, w->org_id) < 0)
            return w;
    return NULL;
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

/* One GetMany for batch[0..n) (all of one organization); fills every waiter's answer. */
static void reads_send(struct contact_reads *r, struct reads_waiter *const *batch, size_t n)
{
    Od__GetManyContactsRequest in = OD__GET_MANY_CONTACTS_REQUEST__INIT;
    char *ids[READS_BATCH_MAX];
    struct reads_waiter *live[READS_BATCH_MAX];
    struct rpc_ctx ctx;
    const Od__GetManyContactsReply *reply;
    int64_t now = time_monotonic_ms(), deadline = INT64_MAX;
    size_t nlive = 0;

    /* A read whose deadline passed while it queued (behind a slow call) is answered at once
     * and left out; the call gets what is left of the earliest remaining deadline, so no read
     * waits its whole timeout again, and no expired read fails the others. */
    for (size_t i = 0; i < n; i++) {
        if (batch[i]->deadline_ms <= now) {
            reads_answer(batch[i]->out, OD__STATUS__UNAVAILABLE, "deadline exceeded", NULL);
            continue;
        }
        if (batch[i]->deadline_ms < deadline)
            deadline = batch[i]->deadline_ms;
        ids[nlive] = batch[i]->id;
        live[nlive++] = batch[i];
    }
    if (nlive == 0)
        return;
    in.ids = ids;
    in.n_ids = nlive;
    rpc_ctx_init(&ctx, live[0]->org_id, live[0]->request_id, (int)(deadline - now));
    od__contacts__get_many(r->client, &in, NULL, &ctx);
    reply = (const Od__GetManyContactsReply *)ctx.reply;
    for (size_t i = 0; i < nlive; i++) {
        const Od__Contact *found = NULL;
        if (ctx.status != OD__STATUS__OK) {
            reads_answer(live[i]->out, ctx.status, ctx.message, NULL);
            continue;
        }
        for (size_t j = 0; found == NULL && reply != NULL && j < reply->n_contacts; j++)
            if (strcmp(reply->contacts[j]->id, live[i]->id) == 0)
                found = reply->contacts[j];
        if (found != NULL)
            reads_answer(live[i]->out, OD__STATUS__OK, "", found);
        else
            reads_answer(live[i]->out, OD__STATUS__NOT_FOUND, "contact not found", NULL);
    }
    rpc_ctx_release(&ctx);
}

static void *reads_thread(void *arg)
{
    struct contact_reads *r = arg;
    struct reads_waiter *batch[READS_BATCH_MAX], *first;
    char org_id[READS_ORG_MAX];

    pthread_mutex_lock(&r->lock);
    for (;;) {
        if ((first = reads_first_ready(r)) == NULL) {
            if (r->stopping && r->head == NULL)
                break;
            r->idle++;
            pthread_cond_wait(&r->work, &r->lock);
            r->idle--;
            continue;
        }
        memcpy(org_id, first->org_id, sizeof org_id);
        memcpy(r->busy[r->nbusy++], org_id, READS_ORG_MAX);
        size_t n = reads_take(r, org_id, batch, READS_BATCH_MAX);
        r->reads_done += (long)n;
        r->calls++;
        /* Another organization may be waiting (queued while this thread or every thread was
         * busy): hand it to an idle thread rather than let it wait for this call. */
        if (r->idle > 0 && reads_first_ready(r) != NULL)
            pthread_cond_signal(&r->work);
        pthread_mutex_unlock(&r->lock);

        reads_send(r, batch, n);
        for (size_t i = 0; i < n; i++) {
            batch[i]->done(batch[i]->out, batch[i]->arg);
            free(batch[i]);
        }

        pthread_mutex_lock(&r->lock);
        /* Reads of this organization queued meanwhile are taken on the next round. */
        reads_busy_clear(r, org_id);
    }
    pthread_cond_broadcast(&r->work); /* the others see `stopping` with an empty queue too */
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

struct contact_reads *contact_reads_new(ProtobufCService *contacts, int threads)
{
    struct contact_reads *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->client = contacts;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->work, NULL);
    if (threads < 1)
        threads = 1;
    if (threads > READS_THREADS_MAX)
        threads = READS_THREADS_MAX;
    for (; r->nthreads < threads; r->nthreads++)
        if (pthread_create(&r->threads[r->nthreads], NULL, reads_thread, r) != 0)
            break;
    if (r->nthreads == 0) {
        contact_reads_free(r);
        return NULL;
    }
    return r;
}

void contact_reads_free(struct contact_reads *reads)
{
    if (reads == NULL)
        return;
    pthread_mutex_lock(&reads->lock);
    reads->stopping = true;
    pthread_cond_broadcast(&reads->work);
    pthread_mutex_unlock(&reads->lock);
    for (int i = 0; i < reads->nthreads; i++)
        pthread_join(reads->threads[i], NULL);
    pthread_cond_destroy(&reads->work);
    pthread_mutex_destroy(&reads->lock);
    free(reads);
}

int contact_reads_submit(struct contact_reads *reads, const char *org_id, const char *request_id,
                         const char *id, int timeout_ms, struct contact_read *out,
                         contact_read_done done, void *arg)
{
    size_t id_len = strlen(id);
    struct reads_waiter *w;

    if (strlen(org_id) >= READS_ORG_MAX || (w = malloc(sizeof *w + id_len + 1)) == NULL)
        return -1;
    snprintf(w->org_id, sizeof w->org_id, "%s", org_id);
    snprintf(w->request_id, sizeof w->request_id, "%s", request_id);
    memcpy(w->id, id, id_len + 1);
    w->deadline_ms = time_monotonic_ms() + timeout_ms;
    w->out = out;
    w->done = done;
    w->arg = arg;

    pthread_mutex_lock(&reads->lock);
    if (reads->stopping) {
        pthread_mutex_unlock(&reads->lock);
        free(w);
        return -1;
    }
    reads_enqueue(reads, w);
    if (reads->idle > 0 && reads_busy_find(reads, org_id) < 0)
        pthread_cond_signal(&reads->work);
    pthread_mutex_unlock(&reads->lock);
    return 0;
}

static void reads_post(struct contact_read *read, void *arg)
{
    (void)read;
    sem_post(arg);
}

void contact_reads_get(struct contact_reads *reads, const char *org_id, const char *request_id,
                       const char *id, int timeout_ms, struct contact_read *out)
{
    sem_t answered;
    sem_init(&answered, 0, 0);
    if (contact_reads_submit(reads, org_id, request_id, id, timeout_ms, out, reads_post,
                             &answered) != 0) {
        out->status = OD__STATUS__UNAVAILABLE;
        snprintf(out->message, sizeof out->message, "contact reads are not available");
        out->contact = NULL;
    } else {
        /* glibc (2.21 on) allows destroying the semaphore as soon as sem_wait returns */
        while (sem_wait(&answered) != 0 && errno == EINTR)
            ;
    }
    sem_destroy(&answered);
}
