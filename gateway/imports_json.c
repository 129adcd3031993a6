#include "imports_json.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "csv.h"
#include "json_util.h"
#include "json_writer.h"

/* Generous limits; the service applies the real rules (as in contacts_json.c). */
#define FIELD_TEXT_MAX 4096
#define FIELD_METADATA_MAX 65536

static char *imports_strdup(const char *s)
{
    return (s && s[0]) ? strdup(s) : (char *)protobuf_c_empty_string;
}

static void imports_free_string(char *s)
{
    if (s != NULL && s != protobuf_c_empty_string)
        free(s);
}

void imports_json_row_free(Od__ContactInput *in)
{
    imports_free_string(in->name);
    imports_free_string(in->phone_number);
    imports_free_string(in->language);
    imports_free_string(in->metadata_json);
    imports_free_string(in->invalid_reason);
    od__contact_input__init(in);
}

/* Copies the strings into `in`; -1 when out of memory (in left empty). */
static int imports_fill(Od__ContactInput *in, const char *name, const char *phone,
                        const char *language, const char *metadata)
{
    od__contact_input__init(in);
    in->name = imports_strdup(name);
    in->phone_number = imports_strdup(phone);
    in->language = imports_strdup(language);
    in->metadata_json = imports_strdup(metadata);
    if (!in->name || !in->phone_number || !in->language || !in->metadata_json) {
        imports_json_row_free(in);
        return -1;
    }
    return 0;
}

static bool imports_mapped_key(const char *key, int aliases)
{
    static const char *const plain[] = {"name", "phoneNumber", "language", "metadata", NULL};
    static const char *const alias[] = {"phone_number", "phone", "first_name", "last_name", NULL};
    for (int i = 0; plain[i]; i++)
        if (strcmp(key, plain[i]) == 0)
            return true;
    for (int i = 0; aliases && alias[i]; i++)
        if (strcmp(key, alias[i]) == 0)
            return true;
    return false;
}

/* "first last", either may be absent; NULL when both are. Caller frees. */
static char *imports_join_name(const char *first, const char *last)
{
    char *out;
    first = first ? first : "";
    last = last ? last : "";
    if (first[0] == '\0' && last[0] == '\0')
        return NULL;
    if (asprintf(&out, "%s%s%s", first, first[0] && last[0] ? " " : "", last) < 0)
        return NULL;
    return out;
}

int imports_json_row(const json_t *obj, const char *where, int aliases, Od__ContactInput *in,
                     char *reason, size_t reason_size)
{
    const char *name = NULL, *phone = NULL, *language = NULL, *first = NULL, *last = NULL;
    const char *key;
    char *joined = NULL, *metadata = NULL;
    json_t *meta = NULL, *value;
    int rc = -1;

    od__contact_input__init(in);
    if (!json_is_object(obj)) {
        size_t len = strlen(where);
        snprintf(reason, reason_size, "%.*s must be an object", (int)(len ? len - 1 : 0),
                 len ? where : "row");
        return -1;
    }
    if (json_field_string(obj, where, "name", FIELD_TEXT_MAX, &name, reason, reason_size) < 0 ||
        json_field_string(obj, where, "phoneNumber", FIELD_TEXT_MAX, &phone, reason,
                          reason_size) < 0 ||
        json_field_string(obj, where, "language", FIELD_TEXT_MAX, &language, reason,
                          reason_size) < 0)
        return -1;
    if (aliases) {
        const char *alt = NULL;
        if (json_field_string(obj, where, "phone_number", FIELD_TEXT_MAX, &alt, reason,
                              reason_size) < 0)
            return -1;
        if (phone == NULL)
            phone = alt;
        alt = NULL;
        if (json_field_string(obj, where, "phone", FIELD_TEXT_MAX, &alt, reason,
                              reason_size) < 0)
            return -1;
        if (phone == NULL)
            phone = alt;
        if (json_field_string(obj, where, "first_name", FIELD_TEXT_MAX, &first, reason,
                              reason_size) < 0 ||
            json_field_string(obj, where, "last_name", FIELD_TEXT_MAX, &last, reason,
                              reason_size) < 0)
            return -1;
        if (name == NULL && (first || last)) {
            if ((joined = imports_join_name(first, last)) == NULL) {
                snprintf(reason, reason_size, "out of memory");
                return -1;
            }
            name = joined;
        }
    }
    value = json_object_get(obj, "metadata");
    if (value != NULL && !json_is_null(value) && !json_is_object(value)) {
        snprintf(reason, reason_size, "%smetadata must be an object", where);
        goto out;
    }
    /* Extra keys first, then the explicit metadata object over them. */
    meta = json_object();
    json_object_foreach((json_t *)obj, key, value) {
        if (!imports_mapped_key(key, aliases))
            json_object_set(meta, key, value);
    }
    value = json_object_get(obj, "metadata");
    if (json_is_object(value))
        json_object_update(meta, value);
    if (json_object_size(meta) > 0) {
        metadata = json_dumps(meta, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (metadata == NULL) {
            snprintf(reason, reason_size, "out of memory");
            goto out;
        }
        if (strlen(metadata) > FIELD_METADATA_MAX) {
            snprintf(reason, reason_size, "%smetadata must be at most %d bytes of JSON", where,
                     FIELD_METADATA_MAX);
            goto out;
        }
    }
    if (imports_fill(in, name, phone, language, metadata) != 0) {
        snprintf(reason, reason_size, "out of memory");
        goto out;
    }
    rc = 0;
out:
    free(joined);
    arena_json_free(metadata);
    json_decref(meta);
    return rc;
}

/* Maps every element of list into rows[]/ptrs[] (allocated here); bad rows get
 * invalid_reason. -1 when out of memory (nothing left allocated). */
static int imports_map_rows(const json_t *list, int aliases, Od__ContactInput ***out_ptrs,
                            size_t *out_n)
{
    size_t n = json_array_size(list);
    Od__ContactInput *rows = calloc(n + 1, sizeof *rows);
    Od__ContactInput **ptrs = calloc(n + 1, sizeof *ptrs);
    if (rows == NULL || ptrs == NULL) {
        free(rows);
        free(ptrs);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char where[32], reason[JSON_ERROR_MAX];
        snprintf(where, sizeof where, "contacts[%zu].", i);
        if (imports_json_row(json_array_get(list, i), where, aliases, &rows[i], reason,
                             sizeof reason) != 0) {
            od__contact_input__init(&rows[i]);
            rows[i].invalid_reason = imports_strdup(reason);
            if (rows[i].invalid_reason == NULL)
                rows[i].invalid_reason = (char *)protobuf_c_empty_string;
        }
        ptrs[i] = &rows[i];
    }
    ptrs[n] = rows; /* keeps the block findable for a zero-row free */
    *out_ptrs = ptrs;
    *out_n = n;
    return 0;
}

static void imports_free_rows(Od__ContactInput **ptrs, size_t n)
{
    if (ptrs == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        imports_json_row_free(ptrs[i]);
    free(ptrs[n]); /* the rows, allocated as one block */
    free(ptrs);
}

/* The contacts array of a body: present, an array, 1..10,000 rows. */
static const json_t *imports_contacts_array(const json_t *list, char *err, size_t err_size)
{
    size_t n;
    if (list == NULL) {
        snprintf(err, err_size, "contacts is required");
        return NULL;
    }
    if (!json_is_array(list)) {
        snprintf(err, err_size, "contacts must be an array");
        return NULL;
    }
    n = json_array_size(list);
    if (n == 0) {
        snprintf(err, err_size, "contacts must not be empty");
        return NULL;
    }
    if (n > IMPORTS_JSON_MAX_ROWS) {
        snprintf(err, err_size, "contacts must hold at most %d entries (got %zu)",
                 IMPORTS_JSON_MAX_ROWS, n);
        return NULL;
    }
    return list;
}

int imports_json_submit(const json_t *body, Od__SubmitImportRequest *out, char *err,
                        size_t err_size)
{
    const json_t *list;
    const char *audience = NULL, *webhook = NULL;

    od__submit_import_request__init(out);
    if (!json_is_object(body)) {
        snprintf(err, err_size, "request body must be an object");
        return -1;
    }
    if ((list = imports_contacts_array(json_object_get(body, "contacts"), err, err_size)) == NULL)
        return -1;
    if (json_field_string(body, "", "audienceId", 256, &audience, err, err_size) < 0 ||
        json_field_string(body, "", "webhookUrl", 8192, &webhook, err, err_size) < 0)
        return -1;
    out->audience_id = imports_strdup(audience);
    out->webhook_url = imports_strdup(webhook);
    if (out->audience_id == NULL || out->webhook_url == NULL ||
        imports_map_rows(list, 0, &out->contacts, &out->n_contacts) != 0) {
        imports_json_submit_free(out);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    return 0;
}

void imports_json_submit_free(Od__SubmitImportRequest *req)
{
    imports_free_rows(req->contacts, req->n_contacts);
    imports_free_string(req->audience_id);
    imports_free_string(req->webhook_url);
    od__submit_import_request__init(req);
}

int imports_json_contacts(const json_t *body, Od__BulkUpsertRequest *out, char *err,
                          size_t err_size)
{
    const json_t *list = json_is_array(body) ? body : json_object_get(body, "contacts");

    od__bulk_upsert_request__init(out);
    if (!json_is_array(body) && !json_is_object(body)) {
        snprintf(err, err_size, "request body must be a JSON array of contacts");
        return -1;
    }
    if ((list = imports_contacts_array(list, err, err_size)) == NULL)
        return -1;
    if (imports_map_rows(list, 1, &out->contacts, &out->n_contacts) != 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    return 0;
}

void imports_bulk_free(Od__BulkUpsertRequest *req)
{
    imports_free_rows(req->contacts, req->n_contacts);
    od__bulk_upsert_request__init(req);
}

/* ---------------- CSV ---------------- */

enum csv_role { ROLE_META = 0, ROLE_PHONE, ROLE_NAME, ROLE_FIRST, ROLE_LAST, ROLE_LANGUAGE };

/* Header text lowered, without spaces, '_' and '-' ("Phone Number" -> "phonenumber"). */
static enum csv_role imports_csv_role(const char *header)
{
    char key[32];
    size_t n = 0;
    for (const char *p = header; *p; p++) {
        if (*p == ' ' || *p == '_' || *p == '-' || *p == '\t')
            continue;
        if (n + 1 >= sizeof key)
            return ROLE_META;
        key[n++] = (char)tolower((unsigned char)*p);
    }
    key[n] = '\0';
    if (strcmp(key, "phone") == 0 || strcmp(key, "phonenumber") == 0)
        return ROLE_PHONE;
    if (strcmp(key, "name") == 0 || strcmp(key, "fullname") == 0)
        return ROLE_NAME;
    if (strcmp(key, "firstname") == 0)
        return ROLE_FIRST;
    if (strcmp(key, "lastname") == 0)
        return ROLE_LAST;
    if (strcmp(key, "language") == 0)
        return ROLE_LANGUAGE;
    return ROLE_META;
}

/* A copy of s without surrounding blanks. Caller frees. */
static char *imports_trimmed(const char *s, size_t len)
{
    while (len > 0 && isspace((unsigned char)s[0]))
        s++, len--;
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    return strndup(s, len);
}

struct csv_header {
    size_t n;
    char **names;         /* trimmed header text */
    enum csv_role *roles;
};

static void imports_csv_header_free(struct csv_header *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->names[i]);
    free(h->names);
    free(h->roles);
    memset(h, 0, sizeof *h);
}

static int imports_csv_header(const struct csv_record *rec, struct csv_header *h, char *err,
                              size_t err_size)
{
    bool phone = false;
    memset(h, 0, sizeof *h);
    if (rec->error != NULL) {
        snprintf(err, err_size, "CSV header (line %zu): %s", rec->line, rec->error);
        return -1;
    }
    h->names = calloc(rec->nfields, sizeof *h->names);
    h->roles = calloc(rec->nfields, sizeof *h->roles);
    if (h->names == NULL || h->roles == NULL) {
        snprintf(err, err_size, "out of memory");
        imports_csv_header_free(h);
        return -1;
    }
    h->n = rec->nfields;
    for (size_t i = 0; i < h->n; i++) {
        if ((h->names[i] = imports_trimmed(rec->fields[i].data, rec->fields[i].len)) == NULL) {
            snprintf(err, err_size, "out of memory");
            imports_csv_header_free(h);
            return -1;
        }
        if (h->names[i][0] == '\0') {
            snprintf(err, err_size, "CSV header: column %zu has no name", i + 1);
            imports_csv_header_free(h);
            return -1;
        }
        h->roles[i] = imports_csv_role(h->names[i]);
        for (size_t k = 0; k < i; k++) {
            bool same = h->roles[i] != ROLE_META ? h->roles[i] == h->roles[k]
                                                 : strcmp(h->names[i], h->names[k]) == 0;
            if (same) {
                snprintf(err, err_size, "CSV header: columns %zu and %zu are both \"%.64s\"",
                         k + 1, i + 1, h->names[i]);
                imports_csv_header_free(h);
                return -1;
            }
        }
        phone = phone || h->roles[i] == ROLE_PHONE;
    }
    if (!phone) {
        snprintf(err, err_size,
                 "CSV header must have a phone, phoneNumber or phone_number column");
        imports_csv_header_free(h);
        return -1;
    }
    return 0;
}

static bool imports_csv_blank(const struct csv_record *rec)
{
    for (size_t i = 0; i < rec->nfields; i++)
        if (rec->fields[i].len > 0)
            return false;
    return rec->error == NULL;
}

/* One data record -> row. -1 only when out of memory. */
static int imports_csv_row(const struct csv_header *h, const struct csv_record *rec,
                           Od__ContactInput *in)
{
    char reason[JSON_ERROR_MAX];
    char *values[6] = {0}; /* by role, trimmed */
    char *name = NULL, *metadata = NULL;
    struct json_writer meta = {0};
    int rc = -1;

    od__contact_input__init(in);
    if (rec->error != NULL || rec->nfields != h->n) {
        if (rec->error != NULL)
            snprintf(reason, sizeof reason, "line %zu: %s", rec->line, rec->error);
        else
            snprintf(reason, sizeof reason, "line %zu: has %zu fields, the header has %zu",
                     rec->line, rec->nfields, h->n);
        in->invalid_reason = strdup(reason);
        /* Name the row by its phone number when that column is there. */
        for (size_t i = 0; i < h->n && i < rec->nfields; i++)
            if (h->roles[i] == ROLE_PHONE && rec->fields[i].len > 0 &&
                rec->fields[i].len <= 64 &&
                csv_utf8_valid(rec->fields[i].data, rec->fields[i].len) &&
                (in->phone_number = imports_trimmed(rec->fields[i].data, rec->fields[i].len)) ==
                    NULL)
                in->phone_number = (char *)protobuf_c_empty_string;
        return in->invalid_reason ? 0 : -1;
    }
    /* The metadata text is written directly (as jansson's compact dump would print it): a
     * jansson object per row lived in the request's arena until the end of the request, and
     * 10,000 rows x 256 columns took 500 MiB (issue 13). Fields are valid UTF-8 without NUL
     * (csv.h flags anything else as a record error, handled above). */
    for (size_t i = 0; i < h->n; i++) {
        const struct csv_field *f = &rec->fields[i];
        if (h->roles[i] != ROLE_META) {
            if ((values[h->roles[i]] = imports_trimmed(f->data, f->len)) == NULL)
                goto out;
        } else if (f->len > 0) {
            json_writer_raw(&meta, meta.len == 0 ? "{" : ",");
            json_writer_string(&meta, h->names[i]);
            json_writer_raw(&meta, ":");
            json_writer_string(&meta, f->data);
        }
    }
    name = values[ROLE_NAME] && values[ROLE_NAME][0]
               ? strdup(values[ROLE_NAME])
               : imports_join_name(values[ROLE_FIRST], values[ROLE_LAST]);
    if (meta.len > 0) {
        json_writer_raw(&meta, "}");
        if ((metadata = json_writer_finish(&meta, NULL)) == NULL)
            goto out;
    }
    if (metadata != NULL && strlen(metadata) > FIELD_METADATA_MAX) {
        snprintf(reason, sizeof reason, "line %zu: metadata must be at most %d bytes of JSON",
                 rec->line, FIELD_METADATA_MAX);
        in->invalid_reason = strdup(reason);
        rc = in->invalid_reason ? 0 : -1;
        goto out;
    }
    rc = imports_fill(in, name, values[ROLE_PHONE], values[ROLE_LANGUAGE], metadata);
out:
    for (size_t i = 0; i < 6; i++)
        free(values[i]);
    free(name);
    free(metadata);
    free(json_writer_finish(&meta, NULL));
    return rc;
}

/* Grows rows and line_of to hold at least n + 1 entries (new entries zeroed). 0 or -1. */
static int imports_csv_grow(Od__ContactInput **rows, size_t **line_of, size_t *cap, size_t n)
{
    size_t grown = *cap ? *cap * 2 : 256;
    Od__ContactInput *r;
    size_t *l;
    if (n + 1 <= *cap)
        return 0;
    if (grown > IMPORTS_JSON_MAX_ROWS + 1)
        grown = IMPORTS_JSON_MAX_ROWS + 1;
    if ((r = realloc(*rows, grown * sizeof *r)) == NULL)
        return -1;
    *rows = r;
    if ((l = realloc(*line_of, grown * sizeof *l)) == NULL)
        return -1;
    *line_of = l;
    memset(r + *cap, 0, (grown - *cap) * sizeof *r);
    memset(l + *cap, 0, (grown - *cap) * sizeof *l);
    *cap = grown;
    return 0;
}

int imports_csv_contacts(const char *data, size_t len, Od__BulkUpsertRequest *out,
                         size_t **lines, char *err, size_t err_size)
{
    /* At most IMPORTS_CSV_MAX_COLUMNS columns: a wider header is refused, a wider record is a
     * row error (csv.h drops the extra fields as it reads them). */
    const struct csv_limits limits = {0, IMPORTS_CSV_MAX_COLUMNS};
    struct csv_parser *p = csv_parser_new(data, len, &limits);
    struct csv_record rec;
    struct csv_header header = {0};
    Od__ContactInput *rows = NULL;
    Od__ContactInput **ptrs = NULL;
    size_t n = 0, cap = 0, *line_of = NULL;
    int got, rc = -1;

    od__bulk_upsert_request__init(out);
    if (lines != NULL)
        *lines = NULL;
    if (p == NULL) {
        snprintf(err, err_size, "out of memory");
        goto out;
    }
    if ((got = csv_parser_next(p, &rec)) <= 0) {
        snprintf(err, err_size, "%s", got < 0 ? csv_parser_error(p) : "CSV body is empty");
        goto out;
    }
    if (imports_csv_header(&rec, &header, err, err_size) != 0)
        goto out;
    while ((got = csv_parser_next(p, &rec)) > 0) {
        if (imports_csv_blank(&rec))
            continue;
        if (n == IMPORTS_JSON_MAX_ROWS) {
            snprintf(err, err_size, "contacts must hold at most %d entries",
                     IMPORTS_JSON_MAX_ROWS);
            goto out;
        }
        if (imports_csv_grow(&rows, &line_of, &cap, n) != 0 ||
            imports_csv_row(&header, &rec, &rows[n]) != 0) {
            snprintf(err, err_size, "out of memory");
            goto out;
        }
        line_of[n] = rec.line;
        n++;
    }
    if (got < 0) {
        snprintf(err, err_size, "malformed CSV: %s", csv_parser_error(p));
        goto out;
    }
    if (n == 0) {
        snprintf(err, err_size, "contacts must not be empty: the CSV has no data rows");
        goto out;
    }
    /* The rows no longer move: point at them. The extra last pointer keeps the block. */
    if ((ptrs = calloc(n + 1, sizeof *ptrs)) == NULL) {
        snprintf(err, err_size, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &rows[i];
    ptrs[n] = rows;
    out->contacts = ptrs;
    out->n_contacts = n;
    if (lines != NULL) {
        *lines = line_of;
        line_of = NULL;
    }
    rows = NULL;
    rc = 0;
out:
    if (rows != NULL)
        for (size_t i = 0; i < n; i++)
            imports_json_row_free(&rows[i]);
    free(rows);
    free(line_of);
    imports_csv_header_free(&header);
    csv_parser_free(p);
    return rc;
}

/* ---------------- multipart/form-data ---------------- */

/* Case-insensitive search for needle in [s, s + len). */
static const char *imports_find_ci(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (strncasecmp(s + i, needle, n) == 0)
            return s + i;
    return NULL;
}

/* Copies the value of parameter `name` (name=value or name="value") found in [s, s + len)
 * into out; 0, or -1 when absent or too long. */
static int imports_param(const char *s, size_t len, const char *name, char *out, size_t size)
{
    const char *end = s + len, *p = s;
    size_t n = strlen(name), used = 0;
    for (;;) {
        const char *hit = imports_find_ci(p, (size_t)(end - p), name);
        if (hit == NULL)
            return -1;
        p = hit + n;
        /* A whole parameter name: preceded by ';' or blank, followed by '='. */
        if ((hit == s || hit[-1] == ';' || hit[-1] == ' ' || hit[-1] == '\t') && p < end &&
            *p == '=')
            break;
    }
    p++;
    if (p < end && *p == '"') {
        for (p++; p < end && *p != '"'; p++) {
            if (*p == '\\' && p + 1 < end)
                p++;
            if (used + 1 >= size)
                return -1;
            out[used++] = *p;
        }
    } else {
        for (; p < end && *p != ';' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n'; p++) {
            if (used + 1 >= size)
                return -1;
            out[used++] = *p;
        }
    }
    out[used] = '\0';
    return used > 0 ? 0 : -1;
}

static bool imports_ends_with_ci(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

int imports_multipart_file(const char *content_type, const char *body, size_t len,
                           const char **file, size_t *file_len, enum imports_file_kind *kind,
                           char *err, size_t err_size)
{
    char boundary[80], delimiter[90], name[64], filename[256];
    const char *p, *end = body + len, *chosen = NULL, *chosen_end = NULL;
    size_t dlen;
    enum imports_file_kind chosen_kind = 0;

    if (imports_param(content_type, strlen(content_type), "boundary", boundary,
                      sizeof boundary) != 0) {
        snprintf(err, err_size, "multipart/form-data needs a boundary of 1 to 70 characters");
        return -1;
    }
    dlen = (size_t)snprintf(delimiter, sizeof delimiter, "--%s", boundary);
    p = body ? memmem(body, len, delimiter, dlen) : NULL;
    while (p != NULL) {
        const char *headers = p + dlen, *headers_end, *content, *next;
        if ((size_t)(end - headers) >= 2 && memcmp(headers, "--", 2) == 0)
            break; /* the closing delimiter */
        if ((size_t)(end - headers) < 2 || memcmp(headers, "\r\n", 2) != 0)
            break;
        headers += 2;
        headers_end = memmem(headers, (size_t)(end - headers), "\r\n\r\n", 4);
        if (headers_end == NULL)
            break;
        content = headers_end + 4;
        /* The part ends at CRLF + delimiter. */
        char marker[96];
        size_t mlen = (size_t)snprintf(marker, sizeof marker, "\r\n%s", delimiter);
        next = memmem(content, (size_t)(end - content), marker, mlen);
        if (next == NULL)
            break;
        size_t hlen = (size_t)(headers_end - headers);
        const char *disposition = imports_find_ci(headers, hlen, "content-disposition:");
        const char *ctype = imports_find_ci(headers, hlen, "content-type:");
        size_t dl = disposition ? (size_t)(headers_end - disposition) : 0;
        const char *eol = disposition ? memmem(disposition, dl, "\r\n", 2) : NULL;
        if (eol != NULL)
            dl = (size_t)(eol - disposition);
        bool named_file = disposition && imports_param(disposition, dl, "name", name,
                                                       sizeof name) == 0 &&
                          strcmp(name, "file") == 0;
        bool has_filename = disposition && imports_param(disposition, dl, "filename", filename,
                                                         sizeof filename) == 0;
        if (named_file || (has_filename && chosen == NULL)) {
            enum imports_file_kind k = 0;
            if (ctype != NULL) {
                const char *v = ctype + strlen("content-type:");
                while (v < headers_end && (*v == ' ' || *v == '\t'))
                    v++;
                if (strncasecmp(v, "text/csv", 8) == 0 || strncasecmp(v, "application/csv", 15) == 0)
                    k = IMPORTS_FILE_CSV;
                else if (strncasecmp(v, "application/json", 16) == 0)
                    k = IMPORTS_FILE_JSON;
            }
            if (k == 0 && has_filename)
                k = imports_ends_with_ci(filename, ".csv")    ? IMPORTS_FILE_CSV
                    : imports_ends_with_ci(filename, ".json") ? IMPORTS_FILE_JSON
                                                               : 0;
            chosen = content;
            chosen_end = next;
            chosen_kind = k;
            if (named_file)
                break;
        }
        p = next + 2;
    }
    if (chosen == NULL) {
        snprintf(err, err_size, "multipart/form-data must carry the file in a part named "
                                "\"file\" (or any part with a filename)");
        return -1;
    }
    if (chosen_kind == 0) {
        snprintf(err, err_size, "the uploaded file must be CSV (text/csv, .csv) or JSON "
                                "(application/json, .json)");
        return -1;
    }
    *file = chosen;
    *file_len = (size_t)(chosen_end - chosen);
    *kind = chosen_kind;
    return 0;
}

/* ---------------- replies ---------------- */

static json_t *imports_json_text_or_null(const char *s)
{
    return (s != NULL && s[0] != '\0') ? json_string(s) : json_null();
}

json_t *imports_json_status(const Od__Import *m)
{
    return json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:o}", "id", m->id, "status",
                     m->status, "total", m->total, "created", m->created, "updated", m->updated,
                     "failed", m->failed, "errorCount", m->error_count, "completedAt",
                     imports_json_text_or_null(m->completed_at));
}

json_t *imports_json_item(const Od__Import *m)
{
    json_t *item = imports_json_status(m);
    json_object_set_new(item, "processed", json_integer(m->processed));
    json_object_set_new(item, "audienceId", imports_json_text_or_null(m->audience_id));
    json_object_set_new(item, "webhookUrl", imports_json_text_or_null(m->webhook_url));
    json_object_set_new(item, "createdAt", json_string(m->created_at));
    return item;
}
