/* The Audiences RPC service (audiences.c): named groups of an organization's contacts, their
 * membership, and the keyset pages campaign-svc snapshots an audience with. */
#ifndef CONTACTS_SVC_AUDIENCES_H
#define CONTACTS_SVC_AUDIENCES_H

#include "audiences.pb-c.h"

#define AUDIENCES_NAME_MAX 256            /* bytes */
#define AUDIENCES_DESCRIPTION_MAX 2000    /* bytes */
#define AUDIENCES_MEMBERS_MAX 10000       /* contact ids per add/remove call */
#define AUDIENCES_LIST_LIMIT_MAX 100      /* audiences or members per List page */
#define AUDIENCES_SNAPSHOT_PAGE_MAX 10000 /* ListAudienceMembers page */
#define AUDIENCES_SNAPSHOT_PAGE_BYTES (32 * 1024 * 1024) /* half of RPC_MAX_MESSAGE_BYTES */

/* One ListAudienceMembers page ($1 org, $2 audience, $3 after this contact id, $4 limit): the
 * page of member ids first (a range of the members' primary key), then the contacts by their
 * primary key, in contact id order. Written as a join, the planner merged or hashed against
 * every contact of the organization on every page: a merge join from its first id (it does
 * not carry "contact_id > $3" over to the contacts side: 5.2 s a page in an organization of 6
 * million contacts), or, once the CTE was MATERIALIZED, a hash of all of them (a sequential
 * scan and a hash spilled to disk: 0.5 s a 10,000-member page in an organization of 100,000
 * contacts, as much CPU as a campaign start's COPY of that page). With `id = ANY (ARRAY(...))`
 * the planner, which takes the array for a few ids, looks them up on the primary key: 25 ms
 * for that page. test_snapshot_page_stays_on_the_primary_key checks the plan. */
#define AUDIENCES_SNAPSHOT_PAGE_SQL                                                            \
    "WITH page AS MATERIALIZED ("                                                              \
    "  SELECT contact_id FROM contacts.audience_members"                                       \
    "  WHERE org_id = $1 AND audience_id = $2 AND contact_id > $3"                             \
    "  ORDER BY contact_id LIMIT $4::int) "                                                    \
    /* the contact columns up to the timestamps (CONTACT_COL_CREATED_AT) */                    \
    "SELECT c.id, coalesce(c.name, ''), c.phone_number, coalesce(c.language, ''),"             \
    " c.metadata::text FROM contacts.contacts c"                                               \
    " WHERE c.org_id = $1 AND c.id = ANY (ARRAY(SELECT contact_id FROM page))"                 \
    " ORDER BY c.id"

extern Od__Audiences_Service audiences_service;

#endif
