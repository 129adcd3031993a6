#include "json_writer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int json_writer_reserve(struct json_writer *w, size_t more)
{
    size_t cap;
    char *grown;
    if (w->failed)
        return -1;
    if (w->len + more + 1 <= w->cap)
        return 0;
    cap = w->cap ? w->cap : 4096;
    while (cap < w->len + more + 1)
        cap *= 2;
    grown = realloc(w->data, cap);
    if (grown == NULL) {
        w->failed = 1;
        return -1;
    }
    w->data = grown;
    w->cap = cap;
    return 0;
}

void json_writer_raw(struct json_writer *w, const char *text)
{
    size_t n = strlen(text);
    if (json_writer_reserve(w, n) != 0)
        return;
    memcpy(w->data + w->len, text, n);
    w->len += n;
}

void json_writer_string(struct json_writer *w, const char *value)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(value);
    /* Worst case: every byte a \u00XX escape. */
    if (json_writer_reserve(w, n * 6 + 2) != 0)
        return;
    w->data[w->len++] = '"';
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            w->data[w->len++] = '\\';
            w->data[w->len++] = (char)c;
        } else if (c < 0x20) {
            const char *short_form = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t"
                                                     : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            if (short_form != NULL) {
                memcpy(w->data + w->len, short_form, 2);
                w->len += 2;
            } else {
                memcpy(w->data + w->len, "\\u00", 4);
                w->data[w->len + 4] = hex[c >> 4];
                w->data[w->len + 5] = hex[c & 15];
                w->len += 6;
            }
        } else {
            w->data[w->len++] = (char)c;
        }
    }
    w->data[w->len++] = '"';
}

void json_writer_int(struct json_writer *w, int64_t value)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, value);
    json_writer_raw(w, text);
}

char *json_writer_finish(struct json_writer *w, size_t *len)
{
    char *text;
    if (w->failed || json_writer_reserve(w, 0) != 0) {
        free(w->data);
        memset(w, 0, sizeof *w);
        return NULL;
    }
    w->data[w->len] = '\0';
    text = w->data;
    if (len != NULL)
        *len = w->len;
    memset(w, 0, sizeof *w);
    return text;
}
