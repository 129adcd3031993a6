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

extern Od__Audiences_Service audiences_service;

#endif
