/* Per-key request limits by tier (OutboundCalls.ai's table): standard 100 requests a minute
 * with bursts of at most 20 in a second, professional 500 a minute and 50 a second. Enterprise
 * is unlimited: it is counted against a nominal 1,000,000 a minute, so the headers stay
 * numeric and show its use, but never refused (one gateway serves more than 1,000,000 reads a
 * minute: a hard ceiling there refused an enterprise key under bench load).
 *
 * Counted per organization (gateway/http_limits.c passes the org id), as reference 004's tiers are:
 * an organization with N keys does not get N times its tier. The tiers' Concurrent column
 * (standard 10, professional 50, enterprise unlimited) bounds the requests an organization
 * has in flight at once (rate_limiter_enter/leave).
 *
 * Fixed windows (the current minute and second) per caller, in memory. Limits are per gateway
 * replica: with N replicas behind a balancer a key gets up to N times its tier. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

#define RATE_BUCKETS 4096
#define RATE_WHO_MAX 64

struct rate_entry {
    struct rate_entry *next;
    char who[RATE_WHO_MAX];
    int64_t minute;  /* window start, in minutes since the epoch */
    long minute_count;
    int64_t second;
    long second_count;
    long in_flight; /* rate_limiter_enter without its leave */
};

struct rate_limiter {
    pthread_mutex_t lock;
    struct rate_entry *buckets[RATE_BUCKETS];
};

static const struct {
    long per_minute;
    long per_second;
    bool unlimited; /* counted, never refused */
    long concurrent; /* in flight at once; 0: unlimited */
} rate_tiers[] = {
    [TIER_STANDARD] = {100, 20, false, 10},
    [TIER_PROFESSIONAL] = {500, 50, false, 50},
    [TIER_ENTERPRISE] = {1000000, 1000000, true, 0},
};

struct rate_limiter *rate_limiter_new(void)
{
    struct rate_limiter *l = calloc(1, sizeof *l);
    if (l != NULL)
        pthread_mutex_init(&l->lock, NULL);
    return l;
}

void rate_limiter_free(struct rate_limiter *l)
{
    if (l == NULL)
        return;
    for (int i = 0; i < RATE_BUCKETS; i++) {
        struct rate_entry *e = l->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static unsigned rate_hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % RATE_BUCKETS;
}

/* Finds or adds who's entry; drops entries of this bucket idle for over a minute on the way,
 * so memory stays bounded by the callers of the last minute. */
static struct rate_entry *rate_entry_get(struct rate_limiter *l, const char *who, int64_t minute)
{
    struct rate_entry **link = &l->buckets[rate_hash(who)], *e;
    while ((e = *link) != NULL) {
        if (strcmp(e->who, who) == 0)
            return e;
        if (e->minute < minute - 1 && e->in_flight == 0) {
            *link = e->next;
            free(e);
            continue;
        }
        link = &e->next;
    }
    e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    snprintf(e->who, sizeof e->who, "%s", who);
    e->minute = minute;
    *link = e;
    return e;
}

void rate_limiter_take(struct rate_limiter *l, const char *who, enum api_tier tier,
                       int64_t now_ms, struct rate_decision *out)
{
    int64_t second = now_ms / 1000, minute = second / 60;
    long per_minute = rate_tiers[tier].per_minute, per_second = rate_tiers[tier].per_second;
    struct rate_entry *e;

    char name[RATE_WHO_MAX];

    /* Entries store at most RATE_WHO_MAX - 1 bytes of a name; look up by the same prefix, or
     * a long name would never find its entry and never be limited. */
    snprintf(name, sizeof name, "%s", who);
    out->limit = per_minute;
    out->reset_epoch = (long)((minute + 1) * 60);
    pthread_mutex_lock(&l->lock);
    e = rate_entry_get(l, name, minute);
    if (e == NULL) { /* out of memory: fail open rather than refuse everyone */
        pthread_mutex_unlock(&l->lock);
        out->allowed = true;
        out->remaining = per_minute;
        out->retry_after = 0;
        return;
    }
    if (e->minute != minute) {
        e->minute = minute;
        e->minute_count = 0;
    }
    if (e->second != second) {
        e->second = second;
        e->second_count = 0;
    }
    if (rate_tiers[tier].unlimited) {
        out->allowed = true;
        out->retry_after = 0;
        e->minute_count++;
        e->second_count++;
    } else if (e->minute_count >= per_minute) {
        out->allowed = false;
        out->retry_after = (long)((minute + 1) * 60 - second);
    } else if (e->second_count >= per_second) {
        out->allowed = false;
        out->retry_after = 1;
    } else {
        out->allowed = true;
        out->retry_after = 0;
        e->minute_count++;
        e->second_count++;
    }
    out->remaining = e->minute_count < per_minute ? per_minute - e->minute_count : 0;
    pthread_mutex_unlock(&l->lock);
}

bool rate_limiter_enter(struct rate_limiter *l, const char *who, enum api_tier tier,
                        int64_t now_ms)
{
    char name[RATE_WHO_MAX];
    struct rate_entry *e;
    bool entered;
    snprintf(name, sizeof name, "%s", who);
    pthread_mutex_lock(&l->lock);
    e = rate_entry_get(l, name, now_ms / 60000);
    /* out of memory: fail open, as rate_limiter_take */
    entered = e == NULL || rate_tiers[tier].concurrent == 0 ||
              e->in_flight < rate_tiers[tier].concurrent;
    if (e != NULL && entered)
        e->in_flight++;
    pthread_mutex_unlock(&l->lock);
    return entered;
}

void rate_limiter_leave(struct rate_limiter *l, const char *who)
{
    char name[RATE_WHO_MAX];
    snprintf(name, sizeof name, "%s", who);
    pthread_mutex_lock(&l->lock);
    for (struct rate_entry *e = l->buckets[rate_hash(name)]; e != NULL; e = e->next) {
        if (strcmp(e->who, name) == 0) {
            if (e->in_flight > 0)
                e->in_flight--;
            break;
        }
    }
    pthread_mutex_unlock(&l->lock);
}
