#include "audiences_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"

/* Generous byte limits; the service applies the real rules (name 256, description 2000). */
#define FIELD_TEXT_MAX 65536

int audiences_json_create(const json_t *body, Od__CreateAudienceRequest *out, char *err,
                          size_t err_size)
{
    const char *name = NULL, *description = NULL;
    enum json_field_result r;

    od__create_audience_request__init(out);
    r = json_field_string(body, "", "name", FIELD_TEXT_MAX, &name, err, err_size);
    if (r == JSON_FIELD_BAD)
        return -1;
    if (r == JSON_FIELD_ABSENT) {
        snprintf(err, err_size, "name is required");
        return -1;
    }
    if (json_field_string(body, "", "description", FIELD_TEXT_MAX, &description, err,
                          err_size) == JSON_FIELD_BAD)
        return -1;
    out->name = (char *)name;
    out->description = (char *)(description ? description : "");
    return 0;
}

int audiences_json_update(const json_t *body, Od__UpdateAudienceRequest *out, char *err,
                          size_t err_size)
{
    const char *name = NULL, *description = NULL;

    od__update_audience_request__init(out);
    if (json_field_string(body, "", "name", FIELD_TEXT_MAX, &name, err, err_size) ==
            JSON_FIELD_BAD ||
        json_field_string(body, "", "description", FIELD_TEXT_MAX, &description, err,
                          err_size) == JSON_FIELD_BAD)
        return -1;
    if (json_object_get(body, "name") != NULL && name == NULL) {
        snprintf(err, err_size, "name must be a string");
        return -1;
    }
    out->set_name = name != NULL;
    out->name = (char *)(name ? name : "");
    out->set_description = json_object_get(body, "description") != NULL;
    out->description = (char *)(description ? description : "");
    return 0;
}

int audiences_json_member_ids(const json_t *body, Od__AudienceMembersRequest *out, char *err,
                              size_t err_size)
{
    const json_t *list = json_object_get(body, "contactIds");
    size_t n;

    od__audience_members_request__init(out);
    if (list == NULL || json_is_null(list)) {
        snprintf(err, err_size, "contactIds is required");
        return -1;
    }
    if (!json_is_array(list)) {
        snprintf(err, err_size, "contactIds must be an array");
        return -1;
    }
    n = json_array_size(list);
    if (n == 0) {
        snprintf(err, err_size, "contactIds must not be empty");
        return -1;
    }
    if (n > AUDIENCES_JSON_MEMBERS_MAX) {
        snprintf(err, err_size, "contactIds must hold at most %d ids (got %zu)",
                 AUDIENCES_JSON_MEMBERS_MAX, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(list, i);
        if (!json_is_string(v)) {
            snprintf(err, err_size, "contactIds[%zu] must be a string", i);
            return -1;
        }
        if (json_string_length(v) > 256) {
            snprintf(err, err_size, "contactIds[%zu] must be at most 256 characters", i);
            return -1;
        }
    }
    out->contact_ids = calloc(n, sizeof *out->contact_ids);
    if (out->contact_ids == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        out->contact_ids[i] = (char *)json_string_value(json_array_get(list, i));
    out->n_contact_ids = n;
    return 0;
}

void audiences_json_member_ids_free(Od__AudienceMembersRequest *req)
{
    free(req->contact_ids);
    req->contact_ids = NULL;
    req->n_contact_ids = 0;
}

json_t *audiences_json_audience(const Od__Audience *a)
{
    return json_pack("{s:s, s:s, s:o, s:I, s:s, s:s}", "id", a->id, "name", a->name,
                     "description", a->description[0] ? json_string(a->description) : json_null(),
                     "contactCount", (json_int_t)a->contact_count, "createdAt", a->created_at,
                     "updatedAt", a->updated_at);
}

static json_t *audiences_json_strings(char **items, size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_string(items[i]));
    return list;
}

json_t *audiences_json_add_reply(const Od__AddMembersReply *r)
{
    return json_pack("{s:i, s:i, s:o, s:I}", "added", r->added, "alreadyMembers",
                     r->already_members, "notFound",
                     audiences_json_strings(r->not_found, r->n_not_found), "contactCount",
                     (json_int_t)r->contact_count);
}

json_t *audiences_json_remove_reply(const Od__RemoveMembersReply *r)
{
    return json_pack("{s:i, s:i, s:o, s:I}", "removed", r->removed, "notMembers",
                     r->not_members, "notFound",
                     audiences_json_strings(r->not_found, r->n_not_found), "contactCount",
                     (json_int_t)r->contact_count);
}
