#include "ids.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

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

char *ids_random_string(const char *prefix, size_t nchars, char *buf, size_t size)
{
    static const char alphabet[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char random[64];
    size_t plen = strlen(prefix), out = 0, i = sizeof random;

    if (size < plen + nchars + 1)
        abort(); /* a programming error, not a runtime condition */
    memcpy(buf, prefix, plen);
    /* Rejection sampling: bytes >= 248 would bias the modulo, so they are skipped. */
    while (out < nchars) {
        if (i == sizeof random) {
            ids_random_bytes(random, sizeof random);
            i = 0;
        }
        unsigned char b = random[i++];
        if (b < 248)
            buf[plen + out++] = alphabet[b % 62];
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
