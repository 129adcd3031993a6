#include "copytext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void copytext_reserve(struct copytext *b, size_t more)
{
    size_t cap;
    char *grown;
    if (b->failed || b->len + more <= b->cap)
        return;
    cap = b->cap ? b->cap : 65536;
    while (cap < b->len + more)
        cap *= 2;
    grown = realloc(b->data, cap);
    if (grown == NULL) {
        b->failed = 1;
        return;
    }
    b->data = grown;
    b->cap = cap;
}

void copytext_field(struct copytext *b, const char *value, char delimiter)
{
    size_t len = value ? strlen(value) : 0;
    copytext_reserve(b, len * 2 + 3);
    if (b->failed)
        return;
    if (value == NULL) {
        b->data[b->len++] = '\\';
        b->data[b->len++] = 'N';
    }
    for (size_t i = 0; i < len; i++) {
        char c = value[i], escaped = c == '\\' ? '\\' : c == '\t' ? 't' : c == '\n' ? 'n'
                                                    : c == '\r' ? 'r' : 0;
        if (escaped) {
            b->data[b->len++] = '\\';
            b->data[b->len++] = escaped;
        } else {
            b->data[b->len++] = c;
        }
    }
    b->data[b->len++] = delimiter;
}

void copytext_int(struct copytext *b, long long value, char delimiter)
{
    char text[24];
    snprintf(text, sizeof text, "%lld", value);
    copytext_field(b, text, delimiter);
}
