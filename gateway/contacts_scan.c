/* See contacts_scan.h. Every scan_* function returns 0, or -1 for "outside the subset"
 * (malformed JSON included); -1 travels straight up to CONTACTS_SCAN_FALLBACK. */
#include "contacts_scan.h"

#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "contacts_json.h"
#include "imports_json.h"

#define SCAN_MAX_DEPTH 16
#define SCAN_MAX_KEYS 64
/* Well inside the jansson path's limits (4,096 bytes a string, 65,536 of metadata) and the
 * service's (16,384 bytes of metadata), so any body near a limit is judged by that path. */
#define SCAN_TEXT_MAX 4000
#define SCAN_SHORT_TEXT_MAX 200 /* audienceId; the jansson path allows 256 */
#define SCAN_METADATA_MAX 8192

struct scan {
    const char *p, *end;
};

/* A key and its value, as spans of the body. A string value's span includes its quotes. */
struct scan_pair {
    const char *key, *val;
    size_t key_len, val_len;
    char kind; /* 's' string, 'o' object, 'a' array, '#' number, 't', 'f', 'n' null */
    int escaped;
};

static int scan_value(struct scan *s, int depth, char *kind, int *escaped);

static void scan_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static int scan_at(const struct scan *s, char c)
{
    return s->p < s->end && *s->p == c;
}

/* Length of the UTF-8 sequence at p, 0 if jansson would refuse it (stray continuation bytes,
 * overlong forms, surrogates, beyond U+10FFFF). */
static size_t scan_utf8(const unsigned char *p, const unsigned char *end)
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
static int scan_string(struct scan *s, int *escaped)
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
            size_t n = scan_utf8(p, end);
            if (n == 0)
                return -1;
            p += n;
        }
    }
    return -1;
}

static int scan_digit(const struct scan *s, const char *p)
{
    return p < s->end && *p >= '0' && *p <= '9';
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)? with at most 15 digits: jansson reads it as the same int64 or
 * double (no overflow), and PostgreSQL's jsonb as the same number. */
static int scan_number(struct scan *s)
{
    const char *p = s->p;
    int digits = 0;
    if (p < s->end && *p == '-')
        p++;
    if (!scan_digit(s, p))
        return -1;
    if (*p == '0') {
        p++, digits++;
        if (scan_digit(s, p))
            return -1; /* leading zero */
    } else {
        while (scan_digit(s, p))
            p++, digits++;
    }
    if (p < s->end && *p == '.') {
        p++;
        if (!scan_digit(s, p))
            return -1;
        while (scan_digit(s, p))
            p++, digits++;
    }
    if (p < s->end && (*p == 'e' || *p == 'E'))
        return -1;
    if (digits > 15)
        return -1;
    s->p = p;
    return 0;
}

static int scan_literal(struct scan *s, const char *word, size_t len)
{
    if ((size_t)(s->end - s->p) < len || memcmp(s->p, word, len) != 0)
        return -1;
    s->p += len;
    return 0;
}

/* A key (no escapes, so its text is its value), refused if pairs[0..n) already has it, then
 * the ':' and the whitespace after it. */
static int scan_key(struct scan *s, struct scan_pair *pairs, size_t n)
{
    struct scan_pair *pr = &pairs[n];
    int escaped;
    if (n == SCAN_MAX_KEYS || !scan_at(s, '"'))
        return -1;
    pr->key = s->p + 1;
    if (scan_string(s, &escaped) != 0 || escaped)
        return -1;
    pr->key_len = (size_t)(s->p - 1 - pr->key);
    for (size_t i = 0; i < n; i++)
        if (pairs[i].key_len == pr->key_len && memcmp(pairs[i].key, pr->key, pr->key_len) == 0)
            return -1; /* a duplicate key (jansson's JSON_REJECT_DUPLICATES) */
    scan_ws(s);
    if (!scan_at(s, ':'))
        return -1;
    s->p++;
    scan_ws(s);
    return 0;
}

/* After a member: ',' (returns 1) or the closing character (returns 0). */
static int scan_next(struct scan *s, char close)
{
    scan_ws(s);
    if (scan_at(s, ',')) {
        s->p++;
        scan_ws(s);
        return 1;
    }
    if (scan_at(s, close)) {
        s->p++;
        return 0;
    }
    return -1;
}

/* At '{': the object's members into pairs[SCAN_MAX_KEYS]. */
static int scan_object(struct scan *s, int depth, struct scan_pair *pairs, size_t *npairs)
{
    size_t n = 0;
    int more;
    *npairs = 0;
    if (depth > SCAN_MAX_DEPTH)
        return -1;
    s->p++;
    scan_ws(s);
    if (scan_at(s, '}')) {
        s->p++;
        return 0;
    }
    do {
        struct scan_pair *pr = &pairs[n];
        if (scan_key(s, pairs, n) != 0)
            return -1;
        pr->val = s->p;
        if (scan_value(s, depth + 1, &pr->kind, &pr->escaped) != 0)
            return -1;
        pr->val_len = (size_t)(s->p - pr->val);
        n++;
    } while ((more = scan_next(s, '}')) == 1);
    *npairs = n;
    return more;
}

static int scan_array(struct scan *s, int depth)
{
    int more;
    if (depth > SCAN_MAX_DEPTH)
        return -1;
    s->p++;
    scan_ws(s);
    if (scan_at(s, ']')) {
        s->p++;
        return 0;
    }
    do {
        char kind;
        int escaped;
        if (scan_value(s, depth + 1, &kind, &escaped) != 0)
            return -1;
    } while ((more = scan_next(s, ']')) == 1);
    return more;
}

static int scan_value(struct scan *s, int depth, char *kind, int *escaped)
{
    *escaped = 0;
    if (s->p >= s->end)
        return -1;
    switch (*s->p) {
    case '"':
        *kind = 's';
        return scan_string(s, escaped);
    case '{': {
        struct scan_pair pairs[SCAN_MAX_KEYS];
        size_t n;
        *kind = 'o';
        return scan_object(s, depth, pairs, &n);
    }
    case '[':
        *kind = 'a';
        return scan_array(s, depth);
    case 't':
        *kind = 't';
        return scan_literal(s, "true", 4);
    case 'f':
        *kind = 'f';
        return scan_literal(s, "false", 5);
    case 'n':
        *kind = 'n';
        return scan_literal(s, "null", 4);
    default:
        *kind = '#';
        return scan_number(s);
    }
}

/* ---- mapping ---- */

static int scan_key_is(const struct scan_pair *pr, const char *key)
{
    return pr->key_len == strlen(key) && memcmp(pr->key, key, pr->key_len) == 0;
}

static char *scan_copy(struct arena *a, const char *text, size_t len)
{
    char *out = arena_alloc(a, len + 1);
    if (out != NULL) {
        memcpy(out, text, len);
        out[len] = '\0';
    }
    return out;
}

/* A string field, null or absent: *out stays "" unless it is a string. */
static int scan_text_field(struct arena *a, const struct scan_pair *pr, size_t max, char **out)
{
    if (pr->kind == 'n')
        return 0;
    if (pr->kind != 's' || pr->escaped || pr->val_len - 2 > max)
        return -1;
    return (*out = scan_copy(a, pr->val + 1, pr->val_len - 2)) != NULL ? 0 : -1;
}

/* Appends already-validated JSON text without insignificant whitespace; returns the new end. */
static char *scan_compact(char *out, const char *text, size_t len)
{
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            *out++ = c;
            if (c == '\\')
                *out++ = text[++i]; /* the escaped character, even if it is '"' */
            else if (c == '"')
                in_string = 0;
        } else if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
            *out++ = c;
            in_string = c == '"';
        }
    }
    return out;
}

/* name, phoneNumber, language: 1 if pr is one of them (mapped into in), 0 if not. */
static int scan_common_field(struct arena *a, const struct scan_pair *pr, Od__ContactInput *in)
{
    if (scan_key_is(pr, "name"))
        return scan_text_field(a, pr, SCAN_TEXT_MAX, &in->name) == 0 ? 1 : -1;
    if (scan_key_is(pr, "phoneNumber"))
        return scan_text_field(a, pr, SCAN_TEXT_MAX, &in->phone_number) == 0 ? 1 : -1;
    if (scan_key_is(pr, "language"))
        return scan_text_field(a, pr, SCAN_TEXT_MAX, &in->language) == 0 ? 1 : -1;
    return 0;
}

/* A bulk row, as contacts_json_input maps it: other keys are ignored, metadata is the object's
 * text. */
static int scan_bulk_row(struct arena *a, const struct scan_pair *pairs, size_t n,
                         Od__ContactInput *in)
{
    for (size_t i = 0; i < n; i++) {
        const struct scan_pair *pr = &pairs[i];
        int rc = scan_common_field(a, pr, in);
        if (rc < 0)
            return -1;
        if (rc == 0 && scan_key_is(pr, "metadata") && pr->kind != 'n') {
            char *end;
            if (pr->kind != 'o' || (in->metadata_json = arena_alloc(a, pr->val_len + 1)) == NULL)
                return -1;
            end = scan_compact(in->metadata_json, pr->val, pr->val_len);
            *end = '\0';
            if ((size_t)(end - in->metadata_json) > SCAN_METADATA_MAX)
                return -1;
        }
    }
    return 0;
}

static int scan_mapped_import_key(const struct scan_pair *pr)
{
    return scan_key_is(pr, "name") || scan_key_is(pr, "phoneNumber") ||
           scan_key_is(pr, "language") || scan_key_is(pr, "metadata");
}

/* An import row, as imports_json_row maps it without aliases: every key but name, phoneNumber,
 * language and metadata becomes a metadata key, and the "metadata" object's keys follow. A
 * key in both places (the object's would win, in the first one's position) is left to the
 * jansson path. */
static int scan_import_row(struct arena *a, const struct scan_pair *pairs, size_t n,
                           Od__ContactInput *in)
{
    const struct scan_pair *meta = NULL;
    struct scan_pair meta_pairs[SCAN_MAX_KEYS];
    size_t n_meta = 0, n_extra = 0, room = 2;
    char *out, *end;

    for (size_t i = 0; i < n; i++) {
        const struct scan_pair *pr = &pairs[i];
        if (scan_common_field(a, pr, in) < 0)
            return -1;
        if (scan_key_is(pr, "metadata")) {
            if (pr->kind == 'o')
                meta = pr;
            else if (pr->kind != 'n')
                return -1;
        } else if (!scan_mapped_import_key(pr)) {
            n_extra++;
            room += pr->key_len + 4 + pr->val_len; /* "key":value, */
        }
    }
    if (meta != NULL) {
        struct scan s = {meta->val, meta->val + meta->val_len};
        if (scan_object(&s, 1, meta_pairs, &n_meta) != 0)
            return -1; /* cannot happen: the row's scan validated it */
        for (size_t i = 0; i < n_meta; i++)
            for (size_t j = 0; j < n; j++)
                if (!scan_mapped_import_key(&pairs[j]) &&
                    pairs[j].key_len == meta_pairs[i].key_len &&
                    memcmp(pairs[j].key, meta_pairs[i].key, pairs[j].key_len) == 0)
                    return -1;
        room += meta->val_len;
    }
    if (n_extra + n_meta == 0)
        return 0; /* no metadata at all: "" */
    if ((out = arena_alloc(a, room)) == NULL)
        return -1;
    end = out;
    *end++ = '{';
    for (size_t i = 0; i < n; i++) {
        const struct scan_pair *pr = &pairs[i];
        if (scan_mapped_import_key(pr))
            continue;
        if (end > out + 1)
            *end++ = ',';
        *end++ = '"';
        memcpy(end, pr->key, pr->key_len);
        end += pr->key_len;
        *end++ = '"';
        *end++ = ':';
        end = scan_compact(end, pr->val, pr->val_len);
    }
    if (n_meta > 0) {
        /* the object's members, without its braces */
        char *members_end;
        if (end > out + 1)
            *end++ = ',';
        members_end = scan_compact(end, meta->val, meta->val_len);
        memmove(end, end + 1, (size_t)(members_end - end - 2));
        end = members_end - 2;
    }
    *end++ = '}';
    *end = '\0';
    if ((size_t)(end - out) > SCAN_METADATA_MAX)
        return -1;
    in->metadata_json = out;
    return 0;
}

typedef int (*scan_row_fn)(struct arena *a, const struct scan_pair *pairs, size_t n,
                           Od__ContactInput *in);

/* At '[': 1 to 10,000 rows, each an object. */
static int scan_rows(struct scan *s, struct arena *a, scan_row_fn map_row,
                     Od__ContactInput ***rows, size_t *nrows)
{
    Od__ContactInput **list = arena_alloc(a, (CONTACTS_JSON_BULK_MAX + 1) * sizeof *list);
    size_t n = 0;
    int more;
    if (list == NULL)
        return -1;
    s->p++;
    scan_ws(s);
    do {
        struct scan_pair pairs[SCAN_MAX_KEYS];
        size_t npairs;
        Od__ContactInput *in;
        if (n == CONTACTS_JSON_BULK_MAX || !scan_at(s, '{') ||
            scan_object(s, 3, pairs, &npairs) != 0 || (in = arena_alloc(a, sizeof *in)) == NULL)
            return -1;
        od__contact_input__init(in);
        if (map_row(a, pairs, npairs, in) != 0)
            return -1;
        list[n++] = in;
    } while ((more = scan_next(s, ']')) == 1);
    *rows = list;
    *nrows = n;
    return more;
}

/* The body's top-level object: "contacts" through scan_rows, the others into pairs. */
static int scan_body(const char *body, size_t len, struct arena *a, scan_row_fn map_row,
                     Od__ContactInput ***rows, size_t *nrows, struct scan_pair *pairs,
                     size_t *npairs)
{
    struct scan s = {body, body ? body + len : body};
    size_t n = 0;
    int more, have_rows = 0;

    if (body == NULL)
        return -1;
    scan_ws(&s);
    if (!scan_at(&s, '{'))
        return -1;
    s.p++;
    scan_ws(&s);
    do {
        struct scan_pair *pr = &pairs[n];
        if (scan_key(&s, pairs, n) != 0)
            return -1;
        pr->val = s.p;
        if (scan_key_is(pr, "contacts")) {
            pr->kind = 'a';
            if (!scan_at(&s, '[') || scan_rows(&s, a, map_row, rows, nrows) != 0)
                return -1;
            have_rows = 1;
        } else if (scan_value(&s, 2, &pr->kind, &pr->escaped) != 0) {
            return -1;
        }
        pr->val_len = (size_t)(s.p - pr->val);
        n++;
    } while ((more = scan_next(&s, '}')) == 1);
    if (more != 0 || !have_rows)
        return -1;
    scan_ws(&s);
    *npairs = n;
    return s.p == s.end ? 0 : -1;
}

enum contacts_scan_result contacts_scan_bulk(const char *body, size_t len,
                                             Od__BulkUpsertRequest *out)
{
    struct arena *a = arena_current();
    struct scan_pair pairs[SCAN_MAX_KEYS];
    size_t npairs;

    od__bulk_upsert_request__init(out);
    if (a == NULL || scan_body(body, len, a, scan_bulk_row, &out->contacts, &out->n_contacts,
                               pairs, &npairs) != 0) {
        od__bulk_upsert_request__init(out);
        return CONTACTS_SCAN_FALLBACK;
    }
    return CONTACTS_SCAN_OK;
}

enum contacts_scan_result contacts_scan_import(const char *body, size_t len,
                                               Od__SubmitImportRequest *out)
{
    struct arena *a = arena_current();
    struct scan_pair pairs[SCAN_MAX_KEYS];
    size_t npairs;

    od__submit_import_request__init(out);
    if (a == NULL || scan_body(body, len, a, scan_import_row, &out->contacts, &out->n_contacts,
                               pairs, &npairs) != 0)
        goto fallback;
    for (size_t i = 0; i < npairs; i++) {
        if (scan_key_is(&pairs[i], "audienceId") &&
            scan_text_field(a, &pairs[i], SCAN_SHORT_TEXT_MAX, &out->audience_id) != 0)
            goto fallback;
        if (scan_key_is(&pairs[i], "webhookUrl") &&
            scan_text_field(a, &pairs[i], SCAN_TEXT_MAX, &out->webhook_url) != 0)
            goto fallback;
    }
    return CONTACTS_SCAN_OK;
fallback:
    od__submit_import_request__init(out);
    return CONTACTS_SCAN_FALLBACK;
}
