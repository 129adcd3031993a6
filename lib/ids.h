/* Prefixed, unguessable identifiers ("cid_" + 22 base62 characters, about 131 random bits)
 * and random bytes from getrandom(2). */
#ifndef OD_IDS_H
#define OD_IDS_H

#include <stddef.h>

#define IDS_RANDOM_CHARS 22
#define IDS_MAX_LEN 48 /* room for any prefix we use plus the random part and the NUL */

/* Fills buf with n random bytes; aborts if the kernel cannot give them (it always can after
 * boot, and a predictable id or key is worse than a crash). */
void ids_random_bytes(void *buf, size_t n);

/* Writes prefix (e.g. "cid_") followed by IDS_RANDOM_CHARS base62 characters. Returns buf. */
char *ids_new(const char *prefix, char *buf, size_t size);

/* Like ids_new, but the first 8 characters after the prefix encode the current time in
 * milliseconds and the next 3 a per-process sequence within that millisecond, so ids sort
 * (byte-wise, COLLATE "C") in creation order, also within one millisecond of one process, and
 * index inserts land at the right edge of a B-tree. The remaining 11 characters are fresh
 * random ones in every id (about 65 bits): an id says nothing about the next. Thread-safe. */
char *ids_new_ordered(const char *prefix, char *buf, size_t size);

/* Writes prefix followed by nchars random base62 characters (secrets use more than ids).
 * Aborts if buf is too small: a programming error. Returns buf. */
char *ids_random_string(const char *prefix, size_t nchars, char *buf, size_t size);

/* 1 if text is prefix followed by 1..40 characters of [A-Za-z0-9_-]: a cheap shape check that
 * keeps junk out of queries and logs. */
int ids_valid(const char *prefix, const char *text);

#endif
