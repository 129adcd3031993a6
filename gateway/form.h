/* application/x-www-form-urlencoded bodies (the carrier's callbacks): name=value pairs joined
 * by '&', '+' for a space, %XX for any byte. */
#ifndef GATEWAY_FORM_H
#define GATEWAY_FORM_H

#include <stddef.h>

#define FORM_MAX_PARAMS 256

struct form_param {
    const char *name;
    const char *value;
};

/* The decoded pairs in body order. Owns one buffer holding every decoded string. */
struct form {
    struct form_param *params;
    size_t n;
    char *store;
};

/* Decodes body (len bytes, need not be NUL-terminated). 0 on success; -1 on a malformed
 * escape (%G1, a truncated %4), a NUL byte, more than FORM_MAX_PARAMS pairs or no memory.
 * Empty segments ("a=1&&b=2") are skipped; a segment without '=' is a name with value "".
 * On failure *out is empty and needs no form_free. */
int form_parse(const char *body, size_t len, struct form *out);
void form_free(struct form *f);
/* The first value for name, NULL when absent. */
const char *form_get(const struct form *f, const char *name);

/* Appends s percent-encoded (everything but A-Z a-z 0-9 - _ . ~) to out (size bytes in all,
 * *len used, NUL-terminated). -1 when it does not fit. */
int form_encode_append(char *out, size_t size, size_t *len, const char *s);

#endif
