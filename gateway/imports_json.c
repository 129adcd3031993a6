/* JSON rows of imports (POST /v1/imports/api/bulk, POST /v1/contacts/import) -> protobuf, and
 * imports -> JSON replies. The CSV and multipart bodies are imports_csv.c and
 * imports_multipart.c; the surface of all three is imports_json.h. */
#include "imports_json.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "csv_columns.h"
#include "body_problems.h"
#include "json_util.h"

/* Generous limits; the service applies the real rules (as in contacts_json.c). */
#define FIELD_TEXT_MAX 4096

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

int imports_row_fill(Od__ContactInput *in, const char *name, const char *phone,
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
            if ((joined = csv_join_name(first, last)) == NULL) {
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
        if (strlen(metadata) > IMPORTS_METADATA_MAX) {
            snprintf(reason, reason_size, "%smetadata must be at most %d bytes of JSON", where,
                     IMPORTS_METADATA_MAX);
            goto out;
        }
    }
    if (imports_row_fill(in, name, phone, language, metadata) != 0) {
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

/* The contacts array of a body: present, an array, 1..10,000 rows; else a problem. */
static const json_t *imports_contacts_array(const json_t *list, struct body_problems *p)
{
    size_t n;
    if (list == NULL) {
        body_problems_add(p, "contacts", "contacts is required");
        return NULL;
    }
    if (!json_is_array(list)) {
        body_problems_add(p, "contacts", "contacts must be an array");
        return NULL;
    }
    n = json_array_size(list);
    if (n == 0) {
        body_problems_add(p, "contacts", "contacts must not be empty");
        return NULL;
    }
    if (n > IMPORTS_JSON_MAX_ROWS) {
        body_problems_add(p, "contacts", "contacts must hold at most %d entries (got %zu)",
                          IMPORTS_JSON_MAX_ROWS, n);
        return NULL;
    }
    return list;
}

int imports_json_submit_problems(const json_t *body, Od__SubmitImportRequest *out,
                                 struct body_problems *p)
{
    const json_t *list;
    const char *audience = NULL, *webhook = NULL;
    int before = p->count;

    od__submit_import_request__init(out);
    if (!json_is_object(body)) {
        body_problems_add(p, "", "request body must be an object");
        return -1;
    }
    /* every problem of the body's own fields, not only the first (issue 14) */
    list = imports_contacts_array(json_object_get(body, "contacts"), p);
    body_problems_json_string(p, body, "", "audienceId", 256, &audience);
    body_problems_json_string(p, body, "", "webhookUrl", 8192, &webhook);
    if (p->count != before)
        return -1;
    out->audience_id = imports_strdup(audience);
    out->webhook_url = imports_strdup(webhook);
    if (out->audience_id == NULL || out->webhook_url == NULL ||
        imports_map_rows(list, 0, &out->contacts, &out->n_contacts) != 0) {
        imports_json_submit_free(out);
        body_problems_add(p, "", "out of memory");
        return -1;
    }
    return 0;
}

int imports_json_submit(const json_t *body, Od__SubmitImportRequest *out, char *err,
                        size_t err_size)
{
    struct body_problems p;
    int rc;
    body_problems_init(&p);
    rc = imports_json_submit_problems(body, out, &p);
    body_problems_first(&p, err, err_size);
    return rc;
}

void imports_json_submit_free(Od__SubmitImportRequest *req)
{
    imports_free_rows(req->contacts, req->n_contacts);
    imports_free_string(req->audience_id);
    imports_free_string(req->webhook_url);
    od__submit_import_request__init(req);
}

int imports_json_contacts_problems(const json_t *body, Od__BulkUpsertRequest *out,
                                   struct body_problems *p)
{
    const json_t *list = json_is_array(body) ? body : json_object_get(body, "contacts");

    od__bulk_upsert_request__init(out);
    if (!json_is_array(body) && !json_is_object(body)) {
        body_problems_add(p, "", "request body must be a JSON array of contacts");
        return -1;
    }
    if ((list = imports_contacts_array(list, p)) == NULL)
        return -1;
    if (imports_map_rows(list, 1, &out->contacts, &out->n_contacts) != 0) {
        body_problems_add(p, "", "out of memory");
        return -1;
    }
    return 0;
}

int imports_json_contacts(const json_t *body, Od__BulkUpsertRequest *out, char *err,
                          size_t err_size)
{
    struct body_problems p;
    int rc;
    body_problems_init(&p);
    rc = imports_json_contacts_problems(body, out, &p);
    body_problems_first(&p, err, err_size);
    return rc;
}

void imports_bulk_free(Od__BulkUpsertRequest *req)
{
    imports_free_rows(req->contacts, req->n_contacts);
    od__bulk_upsert_request__init(req);
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
