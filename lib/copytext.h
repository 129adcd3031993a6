/* Building the text format of PostgreSQL's COPY ... FROM STDIN (tab-separated, backslash
 * escapes, \N for NULL) in a growable buffer, for db_copy_in.
 *
 * Errors are sticky: after an allocation failure every call is a no-op and `failed` is set;
 * check it once before sending. The caller frees `data` with free(). */
#ifndef OD_COPYTEXT_H
#define OD_COPYTEXT_H

#include <stddef.h>

struct copytext {
    char *data;
    size_t len;
    size_t cap;
    int failed;
};

/* Makes room for `more` bytes. */
void copytext_reserve(struct copytext *b, size_t more);
/* Appends one field (escaped; NULL becomes \N) followed by `delimiter` ('\t', or '\n' after
 * the last field of a row). */
void copytext_field(struct copytext *b, const char *value, char delimiter);
/* Appends an integer field. */
void copytext_int(struct copytext *b, long long value, char delimiter);

/* A PostgreSQL array literal for a text[] parameter ({"a","b"}), built in an otherwise unused
 * buffer one element at a time. Every element is quoted and escaped, so no element can change
 * the array's shape. copytext_array_end closes it (with no element: "{}") and returns the
 * NUL-terminated text, or NULL after an allocation failure. */
void copytext_array_add(struct copytext *b, const char *element);
const char *copytext_array_end(struct copytext *b);

#endif
