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

/* The last ordered id's time and random part, so that the next one sorts after it even within
 * the same millisecond (two contacts created in one millisecond used to list in random order:
 * "newest first" was only true to the millisecond). */
static pthread_mutex_t ids_order_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t ids_order_ms;
static char ids_order_tail[IDS_RANDOM_CHARS - 8 + 1];

/* tail + 1 in base62; 0 when it was all 'z' (it wraps to all '0'). */
static int ids_tail_increment(char *tail, size_t len)
{
    for (size_t i = len; i-- > 0;) {
        const char *at = strchr(ids_alphabet, tail[i]);
        size_t digit = at != NULL ? (size_t)(at - ids_alphabet) : 0;
        if (digit + 1 < 62) {
            tail[i] = ids_alphabet[digit + 1];
            return 1;
        }
        tail[i] = ids_alphabet[0];
    }
    return 0;
}

char *ids_new_ordered(const char *prefix, char *buf, size_t size)
{
    struct timespec now;
    uint64_t ms;
    size_t plen = strlen(prefix), tail_len = IDS_RANDOM_CHARS - 8;
    char time_part[9];

    if (size < plen + IDS_RANDOM_CHARS + 1)
        abort();
    clock_gettime(CLOCK_REALTIME, &now);
    ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    pthread_mutex_lock(&ids_order_lock);
    /* Same millisecond (or the clock stepped back): the previous id's random part plus one,
     * which keeps ~83 bits of randomness in the first id of each millisecond. */
    if (ms <= ids_order_ms && ids_tail_increment(ids_order_tail, tail_len)) {
        ms = ids_order_ms;
    } else {
        if (ms <= ids_order_ms)
            ms = ids_order_ms + 1; /* the tail wrapped: move to the next millisecond */
        ids_random_string("", tail_len, ids_order_tail, sizeof ids_order_tail);
        ids_order_ms = ms;
    }
    memcpy(buf + plen + 8, ids_order_tail, tail_len + 1);
    pthread_mutex_unlock(&ids_order_lock);
    for (int i = 7; i >= 0; i--) { /* 62^8 ms is about 6,900 years */
        time_part[i] = ids_alphabet[ms % 62];
        ms /= 62;
    }
    memcpy(buf, prefix, plen);
    memcpy(buf + plen, time_part, 8);
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
