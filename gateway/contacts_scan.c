/* See contacts_scan.h. The JSON itself is read by lib/json_scan.h; this file maps what it reads
 * to rows. Every function here returns 0, or -1 for "outside the subset" (malformed JSON
 * included); -1 travels straight up to CONTACTS_SCAN_FALLBACK. */
#include "contacts_scan.h"

#include <string.h>

#include "arena.h"
#include "contacts_json.h"
#include "imports_json.h"
#include "json_scan.h"

/* Well inside the jansson path's limits (4,096 bytes a string, 65,536 of metadata) and the
 * service's (16,384 bytes of metadata), so any body near a limit is judged by that path. */
#define SCAN_TEXT_MAX 4000
#define SCAN_SHORT_TEXT_MAX 200 /* audienceId; the jansson path allows 256 */
#define SCAN_METADATA_MAX 8192

static int scan_key_is(const struct json_scan_pair *pr, const char *key)
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
static int scan_text_field(struct arena *a, const struct json_scan_pair *pr, size_t max, char **out)
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
static int scan_common_field(struct arena *a, const struct json_scan_pair *pr, Od__ContactInput *in)
{
    if (scan_key_is(pr, "name"))
        return scan_text_field(a, pr, SCAN_TEXT_MAX, &in->name) == 0 ? 1 : -1;
    if (scan_key_is(pr, "phoneNumber"))
        return scan_text_field(a, pr, SCAN_TEXT_MAX, &in->phone_number) == 0 ? 1 : -1;
    if (scan_key_is(pr, "language"))
        return scan_text_field(a, pr, SCAN_TEXT_MAX, &in->language) == 0 ? 1 : -1;
    return 0;
}

/* A bulk row, as contacts_json_input maps it: metadata is the object's text. A row with any
 * other key (an alias such as phone_number, or a key that becomes metadata) is left to the
 * jansson path, so the usual row stays on this one. */
static int scan_bulk_row(struct arena *a, const struct json_scan_pair *pairs, size_t n,
                         Od__ContactInput *in)
{
    for (size_t i = 0; i < n; i++) {
        const struct json_scan_pair *pr = &pairs[i];
        int rc = scan_common_field(a, pr, in);
        if (rc < 0 || (rc == 0 && !scan_key_is(pr, "metadata")))
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

static int scan_mapped_import_key(const struct json_scan_pair *pr)
{
    return scan_key_is(pr, "name") || scan_key_is(pr, "phoneNumber") ||
           scan_key_is(pr, "language") || scan_key_is(pr, "metadata");
}

/* An import row, as imports_json_row maps it without aliases: every key but name, phoneNumber,
 * language and metadata becomes a metadata key, and the "metadata" object's keys follow. A
 * key in both places (the object's would win, in the first one's position) is left to the
 * jansson path. */
static int scan_import_row(struct arena *a, const struct json_scan_pair *pairs, size_t n,
                           Od__ContactInput *in)
{
    const struct json_scan_pair *meta = NULL;
    struct json_scan_pair meta_pairs[JSON_SCAN_MAX_KEYS];
    size_t n_meta = 0, n_extra = 0, room = 2;
    char *out, *end;

    for (size_t i = 0; i < n; i++) {
        const struct json_scan_pair *pr = &pairs[i];
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
        struct json_scan s = {meta->val, meta->val + meta->val_len};
        if (json_scan_object(&s, 1, meta_pairs, &n_meta) != 0)
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
        const struct json_scan_pair *pr = &pairs[i];
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

typedef int (*scan_row_fn)(struct arena *a, const struct json_scan_pair *pairs, size_t n,
                           Od__ContactInput *in);

/* At '[': 1 to 10,000 rows, each an object. */
static int scan_rows(struct json_scan *s, struct arena *a, scan_row_fn map_row,
                     Od__ContactInput ***rows, size_t *nrows)
{
    Od__ContactInput **list = arena_alloc(a, (CONTACTS_JSON_BULK_MAX + 1) * sizeof *list);
    size_t n = 0;
    int more;
    if (list == NULL)
        return -1;
    s->p++;
    json_scan_ws(s);
    do {
        struct json_scan_pair pairs[JSON_SCAN_MAX_KEYS];
        size_t npairs;
        Od__ContactInput *in;
        if (n == CONTACTS_JSON_BULK_MAX || !json_scan_at(s, '{') ||
            json_scan_object(s, 3, pairs, &npairs) != 0 || (in = arena_alloc(a, sizeof *in)) == NULL)
            return -1;
        od__contact_input__init(in);
        if (map_row(a, pairs, npairs, in) != 0)
            return -1;
        list[n++] = in;
    } while ((more = json_scan_next(s, ']')) == 1);
    *rows = list;
    *nrows = n;
    return more;
}

/* The body's top-level object: "contacts" through scan_rows, the others into pairs. */
static int scan_body(const char *body, size_t len, struct arena *a, scan_row_fn map_row,
                     Od__ContactInput ***rows, size_t *nrows, struct json_scan_pair *pairs,
                     size_t *npairs)
{
    struct json_scan s = {body, body ? body + len : body};
    size_t n = 0;
    int more, have_rows = 0;

    if (body == NULL)
        return -1;
    json_scan_ws(&s);
    if (!json_scan_at(&s, '{'))
        return -1;
    s.p++;
    json_scan_ws(&s);
    do {
        struct json_scan_pair *pr = &pairs[n];
        if (json_scan_key(&s, pairs, n) != 0)
            return -1;
        pr->val = s.p;
        if (scan_key_is(pr, "contacts")) {
            pr->kind = 'a';
            if (!json_scan_at(&s, '[') || scan_rows(&s, a, map_row, rows, nrows) != 0)
                return -1;
            have_rows = 1;
        } else if (json_scan_value(&s, 2, &pr->kind, &pr->escaped) != 0) {
            return -1;
        }
        pr->val_len = (size_t)(s.p - pr->val);
        n++;
    } while ((more = json_scan_next(&s, '}')) == 1);
    if (more != 0 || !have_rows)
        return -1;
    json_scan_ws(&s);
    *npairs = n;
    return s.p == s.end ? 0 : -1;
}

enum contacts_scan_result contacts_scan_bulk(const char *body, size_t len,
                                             Od__BulkUpsertRequest *out)
{
    struct arena *a = arena_current();
    struct json_scan_pair pairs[JSON_SCAN_MAX_KEYS];
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
    struct json_scan_pair pairs[JSON_SCAN_MAX_KEYS];
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
