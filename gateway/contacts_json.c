#include "contacts_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "json_util.h"
#include "json_writer.h"

/* Generous byte limits here; the service applies the real rules. These only stop a single
 * field from carrying megabytes into a message. */
#define FIELD_TEXT_MAX 4096
#define FIELD_METADATA_MAX 65536

int contacts_json_input(const json_t *obj, const char *where, Od__ContactInput *in,
                        char *reason, size_t reason_size)
{
    const char *name = NULL, *phone = NULL, *language = NULL;
    char *metadata = NULL;

    od__contact_input__init(in);
    if (!json_is_object(obj)) {
        /* where is "" or "contacts[3]."; name the row without the trailing dot. */
        size_t len = strlen(where);
        if (len == 0)
            snprintf(reason, reason_size, "request body must be an object");
        else
            snprintf(reason, reason_size, "%.*s must be an object", (int)(len - 1), where);
        return -1;
    }
    if (json_field_string(obj, where, "name", FIELD_TEXT_MAX, &name, reason, reason_size) < 0 ||
        json_field_string(obj, where, "phoneNumber", FIELD_TEXT_MAX, &phone, reason,
                          reason_size) < 0 ||
        json_field_string(obj, where, "language", FIELD_TEXT_MAX, &language, reason,
                          reason_size) < 0 ||
        json_field_object_text(obj, where, "metadata", FIELD_METADATA_MAX, &metadata, reason,
                               reason_size) < 0)
        return -1;
    in->name = (char *)(name ? name : "");
    in->phone_number = (char *)(phone ? phone : "");
    in->language = (char *)(language ? language : "");
    in->metadata_json = metadata ? metadata : (char *)protobuf_c_empty_string;
    return 0;
}

int contacts_json_bulk_request(const json_t *body, Od__BulkUpsertRequest *out, char *err,
                               size_t err_size)
{
    const json_t *list = json_object_get(body, "contacts");
    size_t n;
    Od__ContactInput *rows;

    od__bulk_upsert_request__init(out);
    if (list == NULL) {
        snprintf(err, err_size, "contacts is required");
        return -1;
    }
    if (!json_is_array(list)) {
        snprintf(err, err_size, "contacts must be an array");
        return -1;
    }
    n = json_array_size(list);
    if (n == 0) {
        snprintf(err, err_size, "contacts must not be empty");
        return -1;
    }
    if (n > CONTACTS_JSON_BULK_MAX) {
        snprintf(err, err_size, "contacts must hold at most %d entries (got %zu)",
                 CONTACTS_JSON_BULK_MAX, n);
        return -1;
    }
    rows = calloc(n, sizeof *rows);
    out->contacts = calloc(n, sizeof *out->contacts);
    if (rows == NULL || out->contacts == NULL) {
        free(rows);
        free(out->contacts);
        out->contacts = NULL;
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char where[32], reason[JSON_ERROR_MAX];
        const json_t *row = json_array_get(list, i);
        /* The row's name ("contacts[12].") only appears in an error: map without it, and
         * only a row that fails is mapped again to word its reason (10,000 snprintf calls
         * were ~2% of the gateway's CPU on a bulk call). */
        if (contacts_json_input(row, "", &rows[i], reason, sizeof reason) != 0) {
            snprintf(where, sizeof where, "contacts[%zu].", i);
            /* fails the same way again (nothing was allocated), now naming the row */
            contacts_json_input(row, where, &rows[i], reason, sizeof reason);
            od__contact_input__init(&rows[i]);
            rows[i].invalid_reason = strdup(reason);
            if (rows[i].invalid_reason == NULL)
                rows[i].invalid_reason = (char *)protobuf_c_empty_string;
        }
        out->contacts[i] = &rows[i];
    }
    out->n_contacts = n;
    return 0;
}

void contacts_json_bulk_free(Od__BulkUpsertRequest *req)
{
    if (req->contacts != NULL && arena_owns(arena_current(), req->contacts)) {
        od__bulk_upsert_request__init(req); /* contacts_scan_bulk's: the arena holds it all */
        return;
    }
    for (size_t i = 0; i < req->n_contacts; i++) {
        Od__ContactInput *in = req->contacts[i];
        if (in->metadata_json != protobuf_c_empty_string)
            arena_json_free(in->metadata_json);
        if (in->invalid_reason != protobuf_c_empty_string)
            free(in->invalid_reason);
    }
    if (req->n_contacts > 0)
        free(req->contacts[0]); /* the rows were allocated as one block */
    free(req->contacts);
    req->contacts = NULL;
    req->n_contacts = 0;
}

json_t *contacts_json_contact(const Od__Contact *c)
{
    json_t *metadata = json_object_from_text(c->metadata_json);
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:s}", "id", c->id, "name", c->name,
                     "phoneNumber", c->phone_number, "language",
                     c->language[0] ? json_string(c->language) : json_null(), "metadata",
                     metadata, "createdAt", c->created_at, "updatedAt", c->updated_at);
}

char *contacts_json_bulk_reply(const Od__BulkUpsertReply *reply, size_t *len)
{
    struct json_writer w = {0};
    json_writer_raw(&w, "{\"created\":");
    json_writer_int(&w, reply->created);
    json_writer_raw(&w, ",\"updated\":");
    json_writer_int(&w, reply->updated);
    json_writer_raw(&w, ",\"failed\":");
    json_writer_int(&w, reply->failed);
    json_writer_raw(&w, ",\"contacts\":[");
    for (size_t i = 0; i < reply->n_contacts; i++) {
        const Od__Contact *c = reply->contacts[i];
        json_writer_raw(&w, i ? ",{\"id\":" : "{\"id\":");
        json_writer_string(&w, c->id);
        json_writer_raw(&w, ",\"name\":");
        json_writer_string(&w, c->name);
        json_writer_raw(&w, ",\"phoneNumber\":");
        json_writer_string(&w, c->phone_number);
        json_writer_raw(&w, "}");
    }
    json_writer_raw(&w, "],\"errors\":[");
    for (size_t i = 0; i < reply->n_errors; i++) {
        const Od__RowError *e = reply->errors[i];
        json_writer_raw(&w, i ? ",{\"index\":" : "{\"index\":");
        json_writer_int(&w, e->index);
        json_writer_raw(&w, ",\"phoneNumber\":");
        json_writer_string(&w, e->phone_number);
        json_writer_raw(&w, ",\"reason\":");
        json_writer_string(&w, e->reason);
        json_writer_raw(&w, "}");
    }
    json_writer_raw(&w, "]}");
    return json_writer_finish(&w, len);
}
