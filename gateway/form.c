/* The form decoder: one pass over the body into one buffer (decoding only ever shortens). */
#include "form.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int form_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes [s, end) into out; returns the bytes written, or -1 on a bad escape or a NUL. */
static long form_decode(const char *s, const char *end, char *out)
{
    char *o = out;
    while (s < end) {
        if (*s == '+') {
            *o++ = ' ';
            s++;
        } else if (*s == '%') {
            int hi, lo;
            if (end - s < 3 || (hi = form_hex(s[1])) < 0 || (lo = form_hex(s[2])) < 0)
                return -1;
            if (hi == 0 && lo == 0)
                return -1;
            *o++ = (char)(hi * 16 + lo);
            s += 3;
        } else if (*s == '\0') {
            return -1;
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
    return (long)(o - out);
}

int form_parse(const char *body, size_t len, struct form *out)
{
    const char *p = body, *end = body + len;
    size_t count = 0;
    char *w;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < len; i++)
        if (body[i] == '&')
            count++;
    count++;
    if (count > FORM_MAX_PARAMS * 4) /* far too many separators: refuse before allocating */
        return -1;
    out->params = calloc(count, sizeof *out->params);
    out->store = malloc(len + 2 * count + 1);
    if (out->params == NULL || out->store == NULL)
        goto fail;
    w = out->store;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *seg_end = amp ? amp : end;
        if (seg_end > p) {
            const char *eq = memchr(p, '=', (size_t)(seg_end - p));
            const char *name_end = eq ? eq : seg_end;
            long n;
            if (out->n == FORM_MAX_PARAMS)
                goto fail;
            if ((n = form_decode(p, name_end, w)) < 0)
                goto fail;
            out->params[out->n].name = w;
            w += n + 1;
            if ((n = form_decode(eq ? eq + 1 : seg_end, seg_end, w)) < 0)
                goto fail;
            out->params[out->n].value = w;
            w += n + 1;
            out->n++;
        }
        p = amp ? amp + 1 : end;
    }
    return 0;
fail:
    form_free(out);
    return -1;
}

void form_free(struct form *f)
{
    free(f->params);
    free(f->store);
    memset(f, 0, sizeof *f);
}

const char *form_get(const struct form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->params[i].name, name) == 0)
            return f->params[i].value;
    return NULL;
}

int form_encode_append(char *out, size_t size, size_t *len, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.' || c == '~';
        size_t need = plain ? 1 : 3;
        if (*len + need + 1 > size)
            return -1;
        if (plain) {
            out[(*len)++] = (char)c;
        } else {
            out[(*len)++] = '%';
            out[(*len)++] = hex[c >> 4];
            out[(*len)++] = hex[c & 15];
        }
    }
    out[*len] = '\0';
    return 0;
}
