/* JSON <-> protobuf for the audiences API (pure functions, unit-tested in
 * tests/unit/test_audiences_json.c).
 *
 * Ownership: strings placed in requests point into the borrowed `body` (keep it alive while
 * the request is used); the arrays audiences_json_member_ids allocates are freed with
 * audiences_json_member_ids_free. Functions returning json_t* return a new reference. */
#ifndef GATEWAY_AUDIENCES_JSON_H
#define GATEWAY_AUDIENCES_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "audiences.pb-c.h"

#define AUDIENCES_JSON_MEMBERS_MAX 10000

/* {"name": "...", "description": "..."}: name is required. 0, or -1 with err filled. */
int audiences_json_create(const json_t *body, Od__CreateAudienceRequest *out, char *err,
                          size_t err_size);
/* PATCH body: fields left out stay; "description": null clears it; name cannot be null. */
int audiences_json_update(const json_t *body, Od__UpdateAudienceRequest *out, char *err,
                          size_t err_size);
/* {"contactIds": ["cid_...", ...]}: a non-empty array of at most 10,000 strings. On -1 err
 * is filled and nothing is allocated. */
int audiences_json_member_ids(const json_t *body, Od__AudienceMembersRequest *out, char *err,
                              size_t err_size);
void audiences_json_member_ids_free(Od__AudienceMembersRequest *req);

/* The same mappings, every problem added to p (a 400's details; gateway/body_problems.h);
 * the single-message forms above report the first. */
struct body_problems;
int audiences_json_create_problems(const json_t *body, Od__CreateAudienceRequest *out,
                                   struct body_problems *p);
int audiences_json_update_problems(const json_t *body, Od__UpdateAudienceRequest *out,
                                   struct body_problems *p);
int audiences_json_member_ids_problems(const json_t *body, Od__AudienceMembersRequest *out,
                                       struct body_problems *p);

/* {id, name, description (null when none), contactCount, createdAt, updatedAt} */
json_t *audiences_json_audience(const Od__Audience *a);
/* {added, alreadyMembers, notFound: [...], contactCount} */
json_t *audiences_json_add_reply(const Od__AddMembersReply *r);
/* {removed, notMembers, notFound: [...], contactCount} */
json_t *audiences_json_remove_reply(const Od__RemoveMembersReply *r);

#endif
