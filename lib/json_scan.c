/* See json_scan.h. */
#include "json_scan.h"

#include <stdint.h>
#include <string.h>

void json_scan_ws(struct json_scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

int json_scan_at(const struct json_scan *s, char c)
{
    return s->p < s->end && *s->p == c;
}

/* Length of the UTF-8 sequence at p, 0 if jansson would refuse it (stray continuation bytes,
 * overlong forms, surrogates, beyond U+10FFFF). */
static size_t json_scan_utf8(const unsigned char *p, const unsigned char *end)
{
    size_t n;
    uint32_t v;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        n = 2, v = p[0] & 0x1Fu;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        n = 3, v = p[0] & 0x0Fu;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        n = 4, v = p[0] & 0x07u;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0u) != 0x80u)
            return 0;
        v = (v << 6) | (p[i] & 0x3Fu);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (n == 3 && v < 0x800) ||
        (n == 4 && v < 0x10000))
        return 0;
    return n;
}

/* At '"': moves past the closing quote. *escaped is set when the string holds an escape
 * (\u escapes are outside the subset: they may hide a NUL or a lone surrogate). */
int json_scan_string(struct json_scan *s, int *escaped)
{
    const unsigned char *p = (const unsigned char *)s->p + 1;
    const unsigned char *end = (const unsigned char *)s->end;
    *escaped = 0;
    while (p < end) {
        unsigned c = *p;
        if (c == '"') {
            s->p = (const char *)p + 1;
            return 0;
        }
        if (c == '\\') {
            if (p + 1 >= end)
                return -1;
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                break;
            default:
                return -1;
            }
            *escaped = 1;
            p += 2;
        } else if (c < 0x20) {
            return -1; /* control characters must be escaped */
        } else if (c < 0x80) {
            p++;
        } else {
            size_t n = json_scan_utf8(p, end);
            if (n == 0)
                return -1;
            p += n;
        }
    }
    return -1;
}

static int json_scan_digit(const struct json_scan *s, const char *p)
{
    return p < s->end && *p >= '0' && *p <= '9';
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)? with at most 15 digits: jansson reads it as the same int64 or
 * double (no overflow), and PostgreSQL's jsonb as the same number. */
static int json_scan_number(struct json_scan *s)
{
    const char *p = s->p;
    int digits = 0;
    if (p < s->end && *p == '-')
        p++;
    if (!json_scan_digit(s, p))
        return -1;
    if (*p == '0') {
        p++, digits++;
        if (json_scan_digit(s, p))
            return -1; /* leading zero */
    } else {
        while (json_scan_digit(s, p))
            p++, digits++;
    }
    if (p < s->end && *p == '.') {
        p++;
        if (!json_scan_digit(s, p))
            return -1;
        while (json_scan_digit(s, p))
            p++, digits++;
    }
    if (p < s->end && (*p == 'e' || *p == 'E'))
        return -1;
    if (digits > 15)
        return -1;
    s->p = p;
    return 0;
}

static int json_scan_literal(struct json_scan *s, const char *word, size_t len)
{
    if ((size_t)(s->end - s->p) < len || memcmp(s->p, word, len) != 0)
        return -1;
    s->p += len;
    return 0;
}

/* A key (no escapes, so its text is its value), refused if pairs[0..n) already has it, then
 * the ':' and the whitespace after it. */
int json_scan_key(struct json_scan *s, struct json_scan_pair *pairs, size_t n)
{
    struct json_scan_pair *pr = &pairs[n];
    int escaped;
    if (n == JSON_SCAN_MAX_KEYS || !json_scan_at(s, '"'))
        return -1;
    pr->key = s->p + 1;
    if (json_scan_string(s, &escaped) != 0 || escaped)
        return -1;
    pr->key_len = (size_t)(s->p - 1 - pr->key);
    for (size_t i = 0; i < n; i++)
        if (pairs[i].key_len == pr->key_len && memcmp(pairs[i].key, pr->key, pr->key_len) == 0)
            return -1; /* a duplicate key (jansson's JSON_REJECT_DUPLICATES) */
    json_scan_ws(s);
    if (!json_scan_at(s, ':'))
        return -1;
    s->p++;
    json_scan_ws(s);
    return 0;
}

/* After a member: ',' (returns 1) or the closing character (returns 0). */
int json_scan_next(struct json_scan *s, char close)
{
    json_scan_ws(s);
    if (json_scan_at(s, ',')) {
        s->p++;
        json_scan_ws(s);
        return 1;
    }
    if (json_scan_at(s, close)) {
        s->p++;
        return 0;
    }
    return -1;
}

/* At '{': the object's members into pairs[JSON_SCAN_MAX_KEYS]. */
int json_scan_object(struct json_scan *s, int depth, struct json_scan_pair *pairs, size_t *npairs)
{
    size_t n = 0;
    int more;
    *npairs = 0;
    if (depth > JSON_SCAN_MAX_DEPTH)
        return -1;
    s->p++;
    json_scan_ws(s);
    if (json_scan_at(s, '}')) {
        s->p++;
        return 0;
    }
    do {
        struct json_scan_pair *pr = &pairs[n];
        if (json_scan_key(s, pairs, n) != 0)
            return -1;
        pr->val = s->p;
        if (json_scan_value(s, depth + 1, &pr->kind, &pr->escaped) != 0)
            return -1;
        pr->val_len = (size_t)(s->p - pr->val);
        n++;
    } while ((more = json_scan_next(s, '}')) == 1);
    *npairs = n;
    return more;
}

static int json_scan_array(struct json_scan *s, int depth)
{
    int more;
    if (depth > JSON_SCAN_MAX_DEPTH)
        return -1;
    s->p++;
    json_scan_ws(s);
    if (json_scan_at(s, ']')) {
        s->p++;
        return 0;
    }
    do {
        char kind;
        int escaped;
        if (json_scan_value(s, depth + 1, &kind, &escaped) != 0)
            return -1;
    } while ((more = json_scan_next(s, ']')) == 1);
    return more;
}

int json_scan_value(struct json_scan *s, int depth, char *kind, int *escaped)
{
    *escaped = 0;
    if (s->p >= s->end)
        return -1;
    switch (*s->p) {
    case '"':
        *kind = 's';
        return json_scan_string(s, escaped);
    case '{': {
        struct json_scan_pair pairs[JSON_SCAN_MAX_KEYS];
        size_t n;
        *kind = 'o';
        return json_scan_object(s, depth, pairs, &n);
    }
    case '[':
        *kind = 'a';
        return json_scan_array(s, depth);
    case 't':
        *kind = 't';
        return json_scan_literal(s, "true", 4);
    case 'f':
        *kind = 'f';
        return json_scan_literal(s, "false", 5);
    case 'n':
        *kind = 'n';
        return json_scan_literal(s, "null", 4);
    default:
        *kind = '#';
        return json_scan_number(s);
    }
}

int json_scan_is_object(const char *text, size_t len)
{
    struct json_scan s = {text, text ? text + len : text};
    struct json_scan_pair pairs[JSON_SCAN_MAX_KEYS];
    size_t n;
    if (text == NULL)
        return 0;
    json_scan_ws(&s);
    if (!json_scan_at(&s, '{') || json_scan_object(&s, 1, pairs, &n) != 0)
        return 0;
    json_scan_ws(&s);
    return s.p == s.end;
}

int json_scan_too_many_items(const char *text, size_t len, size_t max_items)
{
    /* commas[d]: the ',' seen so far at depth d (1-based) of the containers open; a container
     * with c commas holds c + 1 members. */
    size_t commas[JSON_SCAN_COUNT_DEPTH + 1];
    const char *p = text, *end = text ? text + len : text;
    size_t depth = 0;

    if (max_items == 0)
        max_items = 1;
    for (; p < end; p++) {
        switch (*p) {
        case '"': /* skip the string, escapes included */
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\')
                    p++;
            break;
        case '[':
        case '{':
            if (++depth <= JSON_SCAN_COUNT_DEPTH)
                commas[depth] = 0;
            break;
        case ']':
        case '}':
            if (depth > 0)
                depth--;
            break;
        case ',':
            if (depth > 0 && depth <= JSON_SCAN_COUNT_DEPTH && ++commas[depth] >= max_items)
                return 1;
            break;
        default:
            break;
        }
    }
    return 0;
}
