#include "dnc_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body_problems.h"
#include "json_util.h"

/* Generous byte limits; the service applies the real rules (reason 500, source 64). */
#define FIELD_TEXT_MAX 4096

int dnc_json_input_problems(const json_t *obj, const char *where, Od__DncEntryInput *in,
                            struct body_problems *p)
{
    const char *phone = NULL, *why = NULL, *source = NULL;
    int before = p->count;

    od__dnc_entry_input__init(in);
    if (!json_is_object(obj)) {
        size_t len = strlen(where);
        if (len == 0)
            body_problems_add(p, "", "request body must be an object");
        else
            body_problems_add(p, "", "%.*s must be an object", (int)(len - 1), where);
        return -1;
    }
    body_problems_json_string(p, obj, where, "phoneNumber", FIELD_TEXT_MAX, &phone);
    body_problems_json_string(p, obj, where, "reason", FIELD_TEXT_MAX, &why);
    body_problems_json_string(p, obj, where, "source", FIELD_TEXT_MAX, &source);
    if (p->count != before)
        return -1;
    in->phone_number = (char *)(phone ? phone : "");
    in->reason = (char *)(why ? why : "");
    in->source = (char *)(source ? source : "");
    return 0;
}

int dnc_json_input(const json_t *obj, const char *where, Od__DncEntryInput *in, char *reason,
                   size_t reason_size)
{
    struct body_problems p;
    int rc;
    body_problems_init(&p); /* a bulk row keeps only its first problem */
    rc = dnc_json_input_problems(obj, where, in, &p);
    body_problems_first(&p, reason, reason_size);
    return rc;
}

int dnc_json_bulk_request_problems(const json_t *body, Od__BulkAddDncRequest *out,
                                   struct body_problems *p)
{
    const json_t *list = json_object_get(body, "entries");
    Od__DncEntryInput *rows;
    size_t n;

    od__bulk_add_dnc_request__init(out);
    if (list == NULL || json_is_null(list)) {
        body_problems_add(p, "entries", "entries is required");
        return -1;
    }
    if (!json_is_array(list)) {
        body_problems_add(p, "entries", "entries must be an array");
        return -1;
    }
    n = json_array_size(list);
    if (n == 0) {
        body_problems_add(p, "entries", "entries must not be empty");
        return -1;
    }
    if (n > DNC_JSON_BULK_MAX) {
        body_problems_add(p, "entries", "entries must hold at most %d entries (got %zu)",
                          DNC_JSON_BULK_MAX, n);
        return -1;
    }
    rows = calloc(n, sizeof *rows);
    out->entries = calloc(n, sizeof *out->entries);
    if (rows == NULL || out->entries == NULL) {
        free(rows);
        free(out->entries);
        out->entries = NULL;
        body_problems_add(p, "", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char where[32], reason[JSON_ERROR_MAX];
        snprintf(where, sizeof where, "entries[%zu].", i);
        if (dnc_json_input(json_array_get(list, i), where, &rows[i], reason, sizeof reason) !=
            0) {
            od__dnc_entry_input__init(&rows[i]);
            rows[i].invalid_reason = strdup(reason);
            if (rows[i].invalid_reason == NULL)
                rows[i].invalid_reason = (char *)protobuf_c_empty_string;
        }
        out->entries[i] = &rows[i];
    }
    out->n_entries = n;
    return 0;
}

int dnc_json_bulk_request(const json_t *body, Od__BulkAddDncRequest *out, char *err,
                          size_t err_size)
{
    struct body_problems p;
    int rc;
    body_problems_init(&p);
    rc = dnc_json_bulk_request_problems(body, out, &p);
    body_problems_first(&p, err, err_size);
    return rc;
}

void dnc_json_bulk_free(Od__BulkAddDncRequest *req)
{
    for (size_t i = 0; i < req->n_entries; i++) {
        Od__DncEntryInput *in = req->entries[i];
        if (in->invalid_reason != protobuf_c_empty_string)
            free(in->invalid_reason);
    }
    if (req->n_entries > 0)
        free(req->entries[0]); /* the rows were allocated as one block */
    free(req->entries);
    req->entries = NULL;
    req->n_entries = 0;
}

json_t *dnc_json_entry(const Od__DncEntry *e)
{
    return json_pack("{s:s, s:s, s:o, s:s, s:s}", "id", e->id, "phoneNumber", e->phone_number,
                     "reason", e->reason[0] ? json_string(e->reason) : json_null(), "source",
                     e->source, "createdAt", e->created_at);
}

json_t *dnc_json_bulk_reply(const Od__BulkAddDncReply *r)
{
    json_t *errors = json_array();
    for (size_t i = 0; i < r->n_errors; i++)
        json_array_append_new(errors, json_pack("{s:i, s:s, s:s}", "index", r->errors[i]->index,
                                                "phoneNumber", r->errors[i]->phone_number,
                                                "reason", r->errors[i]->reason));
    return json_pack("{s:i, s:i, s:i, s:o}", "inserted", r->inserted, "duplicates",
                     r->duplicates, "failed", r->failed, "errors", errors);
}
