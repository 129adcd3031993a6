#include "ids.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

/* Ids are minted by the thousand in bulk calls; one getrandom(2) per id cost more than the
 * rest of the id. Each thread draws from its own 4 KiB pool instead, refilled from the kernel.
 * Forked children must not share a parent's pool: nothing here forks after drawing ids. */
static __thread unsigned char ids_pool[4096];
static __thread size_t ids_pool_left;

static void ids_pool_take(unsigned char *out, size_t n)
{
    while (n > 0) {
        size_t take;
        if (ids_pool_left == 0) {
            ids_random_bytes(ids_pool, sizeof ids_pool);
            ids_pool_left = sizeof ids_pool;
        }
        take = n < ids_pool_left ? n : ids_pool_left;
        memcpy(out, ids_pool + sizeof ids_pool - ids_pool_left, take);
        /* Wipe what was handed out so the pool never holds a secret twice. */
        memset(ids_pool + sizeof ids_pool - ids_pool_left, 0, take);
        ids_pool_left -= take;
        out += take;
        n -= take;
    }
}

void ids_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            perror("getrandom");
            abort();
        }
        p += got;
        n -= (size_t)got;
    }
}

char *ids_new(const char *prefix, char *buf, size_t size)
{
    return ids_random_string(prefix, IDS_RANDOM_CHARS, buf, size);
}

static const char ids_alphabet[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* An ordered id after the prefix: IDS_TIME_CHARS of milliseconds, IDS_SEQUENCE_CHARS of a
 * per-process sequence within that millisecond, then fresh random characters. The sequence
 * keeps ids minted in one millisecond in creation order ("newest first" lists); the random
 * part is drawn anew for every id, so an id never tells the next one. */
#define IDS_TIME_CHARS 8
#define IDS_SEQUENCE_CHARS 3
#define IDS_SEQUENCE_MAX (62 * 62 * 62)
#define IDS_ORDERED_RANDOM_CHARS (IDS_RANDOM_CHARS - IDS_TIME_CHARS - IDS_SEQUENCE_CHARS)

/* The last ordered id's millisecond and sequence number. */
static pthread_mutex_t ids_order_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t ids_order_ms;
static uint32_t ids_order_seq;

/* Writes value as `width` base62 digits, most significant first. */
static void ids_base62(uint64_t value, char *out, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = ids_alphabet[value % 62];
        value /= 62;
    }
}

char *ids_new_ordered(const char *prefix, char *buf, size_t size)
{
    struct timespec now;
    uint64_t ms;
    uint32_t seq;
    size_t plen = strlen(prefix);

    if (size < plen + IDS_RANDOM_CHARS + 1)
        abort();
    clock_gettime(CLOCK_REALTIME, &now);
    ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    pthread_mutex_lock(&ids_order_lock);
    if (ms > ids_order_ms) {
        ids_order_ms = ms;
        ids_order_seq = 0;
    } else if (++ids_order_seq == IDS_SEQUENCE_MAX) {
        /* 238,328 ids in one millisecond (or the clock stepped back that far): borrow the
         * next millisecond, so the order still holds. */
        ids_order_ms++;
        ids_order_seq = 0;
    }
    ms = ids_order_ms;
    seq = ids_order_seq;
    pthread_mutex_unlock(&ids_order_lock);
    /* 62^8 ms is about 6,900 years. */
    ids_random_string(prefix, IDS_TIME_CHARS + IDS_SEQUENCE_CHARS + IDS_ORDERED_RANDOM_CHARS,
                      buf, size);
    ids_base62(ms, buf + plen, IDS_TIME_CHARS);
    ids_base62(seq, buf + plen + IDS_TIME_CHARS, IDS_SEQUENCE_CHARS);
    return buf;
}

char *ids_random_string(const char *prefix, size_t nchars, char *buf, size_t size)
{
    unsigned char random[32];
    size_t plen = strlen(prefix), out = 0, i = sizeof random;

    if (size < plen + nchars + 1)
        abort(); /* a programming error, not a runtime condition */
    memcpy(buf, prefix, plen);
    /* Rejection sampling: bytes >= 248 would bias the modulo, so they are skipped. */
    while (out < nchars) {
        if (i == sizeof random) {
            ids_pool_take(random, sizeof random);
            i = 0;
        }
        unsigned char b = random[i++];
        if (b < 248)
            buf[plen + out++] = ids_alphabet[b % 62];
    }
    buf[plen + out] = '\0';
    return buf;
}

int ids_valid(const char *prefix, const char *text)
{
    size_t plen = strlen(prefix), n;
    if (text == NULL || strncmp(text, prefix, plen) != 0)
        return 0;
    n = strlen(text + plen);
    if (n < 1 || n > 40)
        return 0;
    for (const char *p = text + plen; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}
