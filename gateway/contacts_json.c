#include "contacts_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "body_problems.h"
#include "json_util.h"
#include "json_writer.h"

/* Generous byte limits here; the service applies the real rules. These only stop a single
 * field from carrying megabytes into a message. */
#define FIELD_TEXT_MAX 4096
#define FIELD_METADATA_MAX 65536

/* The one contact input (issue 14), for every contact-writing route of this file:
 *   name | phoneNumber, phone_number, phone (aliases: OutboundCalls.ai) | language | metadata
 * and, on a create or an upsert row, every other key becomes a metadata key, under the
 * explicit "metadata" object (whose keys win), as imports do (reference 002). */
static const char *const contact_phone_keys[] = {"phoneNumber", "phone_number", "phone", NULL};

static bool contacts_known_key(const char *key)
{
    static const char *const known[] = {"name", "language", "metadata", NULL};
    for (int i = 0; known[i] != NULL; i++)
        if (strcmp(key, known[i]) == 0)
            return true;
    for (int i = 0; contact_phone_keys[i] != NULL; i++)
        if (strcmp(key, contact_phone_keys[i]) == 0)
            return true;
    return false;
}

/* One string field; a problem is added to p (and its first words kept in reason). */
static int contacts_field_string(const json_t *obj, const char *where, const char *key,
                                 const char **out, struct body_problems *p)
{
    char err[JSON_ERROR_MAX], field[160];
    if (json_field_string(obj, where, key, FIELD_TEXT_MAX, out, err, sizeof err) >= 0)
        return 0;
    snprintf(field, sizeof field, "%s%s", where, key);
    body_problems_add(p, field, "%s", err);
    return -1;
}

/* phoneNumber or one alias: two of them is a problem. */
static void contacts_phone(const json_t *obj, const char *where, const char **phone,
                           const char **given_as, struct body_problems *p)
{
    *phone = NULL;
    *given_as = NULL;
    for (int i = 0; contact_phone_keys[i] != NULL; i++) {
        const char *value = NULL;
        if (contacts_field_string(obj, where, contact_phone_keys[i], &value, p) != 0 ||
            value == NULL)
            continue;
        if (*phone != NULL) {
            char field[160];
            snprintf(field, sizeof field, "%s%s", where, contact_phone_keys[i]);
            body_problems_add(p, field, "%s%s and %s%s set the same field: give only one", where,
                              *given_as, where, contact_phone_keys[i]);
            continue;
        }
        *phone = value;
        *given_as = contact_phone_keys[i];
    }
}

/* metadata: the explicit object, with the row's other keys under it when extra_keys. The text
 * is jansson's (free with arena_json_free); NULL when there is none. -1 after a problem. */
static int contacts_metadata(const json_t *obj, const char *where, bool extra_keys, char **out,
                             struct body_problems *p)
{
    const json_t *given = json_object_get(obj, "metadata");
    json_t *merged, *value;
    const char *key;
    char field[160];
    size_t extra = 0;

    *out = NULL;
    snprintf(field, sizeof field, "%smetadata", where);
    if (given != NULL && !json_is_null(given) && !json_is_object(given)) {
        body_problems_add(p, field, "%smetadata must be an object", where);
        return -1;
    }
    if (extra_keys)
        json_object_foreach((json_t *)obj, key, value) extra += !contacts_known_key(key);
    if (extra == 0 && !json_is_object(given))
        return 0;
    if (extra == 0) {
        merged = json_incref((json_t *)given);
    } else {
        merged = json_object();
        json_object_foreach((json_t *)obj, key, value) {
            if (!contacts_known_key(key))
                json_object_set(merged, key, value);
        }
        if (json_is_object(given))
            json_object_update(merged, (json_t *)given);
    }
    *out = json_dumps(merged, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(merged);
    if (*out == NULL) {
        body_problems_add(p, field, "%smetadata could not be encoded", where);
        return -1;
    }
    if (strlen(*out) > FIELD_METADATA_MAX) {
        arena_json_free(*out);
        *out = NULL;
        body_problems_add(p, field, "%smetadata must be at most %d bytes of JSON", where,
                          FIELD_METADATA_MAX);
        return -1;
    }
    return 0;
}

int contacts_json_input_problems(const json_t *obj, const char *where, Od__ContactInput *in,
                                 struct body_problems *p)
{
    const char *name = NULL, *phone = NULL, *given_as, *language = NULL;
    char *metadata = NULL;
    int before = p->count;

    od__contact_input__init(in);
    if (!json_is_object(obj)) {
        /* where is "" or "contacts[3]."; name the row without the trailing dot. */
        size_t len = strlen(where);
        if (len == 0)
            body_problems_add(p, "", "request body must be an object");
        else
            body_problems_add(p, "", "%.*s must be an object", (int)(len - 1), where);
        return -1;
    }
    contacts_field_string(obj, where, "name", &name, p);
    contacts_phone(obj, where, &phone, &given_as, p);
    contacts_field_string(obj, where, "language", &language, p);
    if (p->count == before)
        contacts_metadata(obj, where, true, &metadata, p);
    if (p->count != before) {
        arena_json_free(metadata);
        return -1;
    }
    in->name = (char *)(name ? name : "");
    in->phone_number = (char *)(phone ? phone : "");
    in->language = (char *)(language ? language : "");
    in->metadata_json = metadata ? metadata : (char *)protobuf_c_empty_string;
    return 0;
}

int contacts_json_input(const json_t *obj, const char *where, Od__ContactInput *in,
                        char *reason, size_t reason_size)
{
    struct body_problems p;
    int rc;
    body_problems_init(&p); /* a bulk row keeps only its first problem */
    rc = contacts_json_input_problems(obj, where, in, &p);
    if (rc != 0)
        snprintf(reason, reason_size, "%s", p.first);
    body_problems_free(&p);
    return rc;
}

int contacts_json_update(const json_t *body, Od__UpdateContactRequest *in,
                         struct body_problems *p)
{
    static const char *const update_keys[] = {"name", "phoneNumber", "phone_number", "phone",
                                              "language", "metadata", NULL};
    const char *name = NULL, *phone = NULL, *given_as = NULL, *language = NULL;
    char *metadata = NULL;
    int before = p->count;

    if (!json_is_object(body)) {
        body_problems_add(p, "", "request body must be an object");
        return -1;
    }
    /* a key that means nothing is never silently ignored (issue 14) */
    body_problems_unknown_keys(p, body, "", update_keys, "a contact update");
    if (json_object_size(body) == 0)
        body_problems_add(p, "", "the update names no field to change");
    contacts_field_string(body, "", "name", &name, p);
    contacts_phone(body, "", &phone, &given_as, p);
    contacts_field_string(body, "", "language", &language, p);
    for (int i = 0; contact_phone_keys[i] != NULL; i++)
        if (json_is_null(json_object_get(body, contact_phone_keys[i])))
            body_problems_add(p, contact_phone_keys[i], "%s cannot be cleared",
                              contact_phone_keys[i]);
    if (p->count == before)
        contacts_metadata(body, "", false, &metadata, p);
    if (p->count != before) {
        arena_json_free(metadata);
        return -1;
    }
    /* A key present with null clears name or language. */
    in->set_name = json_object_get(body, "name") != NULL;
    in->name = (char *)(name ? name : "");
    in->set_phone_number = phone != NULL;
    in->phone_number = (char *)(phone ? phone : "");
    in->set_language = json_object_get(body, "language") != NULL;
    in->language = (char *)(language ? language : "");
    in->set_metadata = metadata != NULL;
    in->metadata_json = metadata ? metadata : (char *)"";
    return 0;
}

int contacts_json_bulk_request_problems(const json_t *body, Od__BulkUpsertRequest *out,
                                        struct body_problems *p)
{
    const json_t *list = json_object_get(body, "contacts");
    size_t n;
    Od__ContactInput *rows;

    od__bulk_upsert_request__init(out);
    if (list == NULL) {
        body_problems_add(p, "contacts", "contacts is required");
        return -1;
    }
    if (!json_is_array(list)) {
        body_problems_add(p, "contacts", "contacts must be an array");
        return -1;
    }
    n = json_array_size(list);
    if (n == 0) {
        body_problems_add(p, "contacts", "contacts must not be empty");
        return -1;
    }
    if (n > CONTACTS_JSON_BULK_MAX) {
        body_problems_add(p, "contacts", "contacts must hold at most %d entries (got %zu)",
                          CONTACTS_JSON_BULK_MAX, n);
        return -1;
    }
    rows = calloc(n, sizeof *rows);
    out->contacts = calloc(n, sizeof *out->contacts);
    if (rows == NULL || out->contacts == NULL) {
        free(rows);
        free(out->contacts);
        out->contacts = NULL;
        body_problems_add(p, "", "out of memory");
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

int contacts_json_bulk_request(const json_t *body, Od__BulkUpsertRequest *out, char *err,
                               size_t err_size)
{
    struct body_problems p;
    int rc;
    body_problems_init(&p);
    rc = contacts_json_bulk_request_problems(body, out, &p);
    body_problems_first(&p, err, err_size);
    return rc;
}

void contacts_json_bulk_free(Od__BulkUpsertRequest *req)
{
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
    /* a name that isn't there is null, never "" (issue 14) */
    return json_pack("{s:s, s:o, s:s, s:o, s:o, s:s, s:s}", "id", c->id, "name",
                     c->name[0] ? json_string(c->name) : json_null(),
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
        if (c->name[0] != '\0')
            json_writer_string(&w, c->name);
        else
            json_writer_raw(&w, "null");
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
