/* The Imports RPC service (imports.c): submitting an asynchronous import, its status, the
 * list of imports and a row's errors. The rows are written by the import workers
 * (import_worker.h), which Submit wakes through the process's struct contacts_app. */
#ifndef CONTACTS_SVC_IMPORTS_H
#define CONTACTS_SVC_IMPORTS_H

#include "imports.pb-c.h"

#define IMPORTS_MAX 10000            /* rows per import */
#define IMPORTS_LIST_LIMIT_MAX 100   /* imports per List page */
#define IMPORTS_ERRORS_PAGE_MAX 1000 /* ListErrors page */

extern Od__Imports_Service imports_service;

#endif
