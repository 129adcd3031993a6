/* The Dnc RPC service (dnc.c): the organization's do-not-call list, one entry per number. */
#ifndef CONTACTS_SVC_DNC_H
#define CONTACTS_SVC_DNC_H

#include "dnc.pb-c.h"

#define DNC_BULK_MAX 50000
#define DNC_CHECK_MAX 10000
#define DNC_LIST_LIMIT_MAX 100
#define DNC_REASON_MAX 500 /* bytes */
#define DNC_SOURCE_MAX 64  /* bytes */

extern Od__Dnc_Service dnc_service;

#endif
