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

void copytext_array_add(struct copytext *b, const char *element)
{
    size_t len = strlen(element);
    char separator = b->len == 0 ? '{' : ',';
    copytext_reserve(b, len * 2 + 4);
    if (b->failed)
        return;
    b->data[b->len++] = separator;
    b->data[b->len++] = '"';
    for (size_t i = 0; i < len; i++) {
        if (element[i] == '"' || element[i] == '\\')
            b->data[b->len++] = '\\';
        b->data[b->len++] = element[i];
    }
    b->data[b->len++] = '"';
}

const char *copytext_array_end(struct copytext *b)
{
    copytext_reserve(b, 3);
    if (b->failed)
        return NULL;
    if (b->len == 0)
        b->data[b->len++] = '{';
    b->data[b->len++] = '}';
    b->data[b->len] = '\0';
    return b->data;
}

void copytext_int(struct copytext *b, long long value, char delimiter)
{
    char text[24];
    snprintf(text, sizeof text, "%lld", value);
    copytext_field(b, text, delimiter);
}
