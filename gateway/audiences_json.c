#include "audiences_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body_problems.h"
#include "json_util.h"

/* Generous byte limits; the service applies the real rules (name 256, description 2000). */
#define FIELD_TEXT_MAX 65536
/* A list of ids names at most this many of its bad entries. */
#define AUDIENCES_JSON_PROBLEMS_MAX 100

int audiences_json_create_problems(const json_t *body, Od__CreateAudienceRequest *out,
                                   struct body_problems *p)
{
    const char *name = NULL, *description = NULL;
    int before = p->count;

    od__create_audience_request__init(out);
    if (!json_is_object(body)) {
        body_problems_add(p, "", "request body must be an object");
        return -1;
    }
    if (body_problems_json_string(p, body, "", "name", FIELD_TEXT_MAX, &name) ==
        JSON_FIELD_ABSENT)
        body_problems_add(p, "name", "name is required");
    body_problems_json_string(p, body, "", "description", FIELD_TEXT_MAX, &description);
    if (p->count != before)
        return -1;
    out->name = (char *)name;
    out->description = (char *)(description ? description : "");
    return 0;
}

int audiences_json_create(const json_t *body, Od__CreateAudienceRequest *out, char *err,
                          size_t err_size)
{
    struct body_problems p;
    int rc;
    body_problems_init(&p);
    rc = audiences_json_create_problems(body, out, &p);
    body_problems_first(&p, err, err_size);
    return rc;
}

int audiences_json_update_problems(const json_t *body, Od__UpdateAudienceRequest *out,
                                   struct body_problems *p)
{
    const char *name = NULL, *description = NULL;
    int before = p->count;

    od__update_audience_request__init(out);
    if (!json_is_object(body)) {
        body_problems_add(p, "", "request body must be an object");
        return -1;
    }
    if (body_problems_json_string(p, body, "", "name", FIELD_TEXT_MAX, &name) ==
            JSON_FIELD_ABSENT &&
        json_object_get(body, "name") != NULL)
        body_problems_add(p, "name", "name must be a string");
    body_problems_json_string(p, body, "", "description", FIELD_TEXT_MAX, &description);
    if (p->count != before)
        return -1;
    out->set_name = name != NULL;
    out->name = (char *)(name ? name : "");
    out->set_description = json_object_get(body, "description") != NULL;
    out->description = (char *)(description ? description : "");
    return 0;
}

int audiences_json_update(const json_t *body, Od__UpdateAudienceRequest *out, char *err,
                          size_t err_size)
{
    struct body_problems p;
    int rc;
    body_problems_init(&p);
    rc = audiences_json_update_problems(body, out, &p);
    body_problems_first(&p, err, err_size);
    return rc;
}

int audiences_json_member_ids_problems(const json_t *body, Od__AudienceMembersRequest *out,
                                       struct body_problems *p)
{
    const json_t *list = json_object_get(body, "contactIds");
    int before = p->count;
    size_t n;

    od__audience_members_request__init(out);
    if (list == NULL || json_is_null(list)) {
        body_problems_add(p, "contactIds", "contactIds is required");
        return -1;
    }
    if (!json_is_array(list)) {
        body_problems_add(p, "contactIds", "contactIds must be an array");
        return -1;
    }
    n = json_array_size(list);
    if (n == 0) {
        body_problems_add(p, "contactIds", "contactIds must not be empty");
        return -1;
    }
    if (n > AUDIENCES_JSON_MEMBERS_MAX) {
        body_problems_add(p, "contactIds", "contactIds must hold at most %d ids (got %zu)",
                          AUDIENCES_JSON_MEMBERS_MAX, n);
        return -1;
    }
    /* every bad id, up to a bound: 10,000 problems would be a larger answer than the body */
    for (size_t i = 0; i < n && p->count - before < AUDIENCES_JSON_PROBLEMS_MAX; i++) {
        const json_t *v = json_array_get(list, i);
        char field[48];
        snprintf(field, sizeof field, "contactIds[%zu]", i);
        if (!json_is_string(v))
            body_problems_add(p, field, "contactIds[%zu] must be a string", i);
        else if (json_string_length(v) > 256)
            body_problems_add(p, field, "contactIds[%zu] must be at most 256 characters", i);
    }
    if (p->count != before)
        return -1;
    out->contact_ids = calloc(n, sizeof *out->contact_ids);
    if (out->contact_ids == NULL) {
        body_problems_add(p, "", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        out->contact_ids[i] = (char *)json_string_value(json_array_get(list, i));
    out->n_contact_ids = n;
    return 0;
}

int audiences_json_member_ids(const json_t *body, Od__AudienceMembersRequest *out, char *err,
                              size_t err_size)
{
    struct body_problems p;
    int rc;
    body_problems_init(&p);
    rc = audiences_json_member_ids_problems(body, out, &p);
    body_problems_first(&p, err, err_size);
    return rc;
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
