#include "scan_differential.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "contacts_json.h"
#include "contacts_scan.h"
#include "imports_json.h"
#include "json_util.h"

static void same_text(const char *a, const char *b)
{
    if (strcmp(a ? a : "", b ? b : "") != 0)
        abort();
}

/* Both empty, or both JSON objects with the same canonical text. */
static void same_metadata(const char *fast, const char *slow)
{
    json_t *a, *b;
    char *ta, *tb;
    if (fast[0] == '\0' || slow[0] == '\0') {
        same_text(fast, slow);
        return;
    }
    a = json_loads(fast, JSON_REJECT_DUPLICATES, NULL);
    b = json_loads(slow, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(a) || !json_is_object(b))
        abort();
    ta = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
    tb = json_dumps(b, JSON_COMPACT | JSON_PRESERVE_ORDER);
    same_text(ta, tb);
    free(ta);
    free(tb);
    json_decref(a);
    json_decref(b);
}

static void same_rows(Od__ContactInput **fast, Od__ContactInput **slow, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        same_text(slow[i]->invalid_reason, ""); /* the reader maps no row the other refuses */
        same_text(fast[i]->invalid_reason, "");
        same_text(fast[i]->name, slow[i]->name);
        same_text(fast[i]->phone_number, slow[i]->phone_number);
        same_text(fast[i]->language, slow[i]->language);
        same_metadata(fast[i]->metadata_json, slow[i]->metadata_json);
    }
}

static json_t *parse_as_gateway(const uint8_t *data, size_t size)
{
    char err[JSON_ERROR_MAX];
    json_t *body = json_parse_object((const char *)data, size, err, sizeof err);
    if (body == NULL)
        abort(); /* the reader accepted what the gateway's parser refuses */
    return body;
}

int scan_differential_bulk(const uint8_t *data, size_t size)
{
    struct arena *outer = arena_current(), *a = arena_new();
    Od__BulkUpsertRequest fast, slow;
    char err[JSON_ERROR_MAX];
    int accepted;

    if (a == NULL)
        abort();
    arena_enter(a);
    accepted = contacts_scan_bulk((const char *)data, size, &fast) == CONTACTS_SCAN_OK;
    if (accepted) {
        json_t *body = parse_as_gateway(data, size);
        if (contacts_json_bulk_request(body, &slow, err, sizeof err) != 0 ||
            slow.n_contacts != fast.n_contacts)
            abort();
        same_rows(fast.contacts, slow.contacts, fast.n_contacts);
        contacts_json_bulk_free(&slow);
        json_decref(body);
    } else if (fast.contacts != NULL || fast.n_contacts != 0) {
        abort(); /* a fallback leaves nothing behind */
    }
    /* fast lives in the arena (contacts_scan.h): it dies with it, nothing to free */
    arena_leave();
    arena_destroy(a);
    if (outer != NULL)
        arena_enter(outer);
    return accepted;
}

int scan_differential_import(const uint8_t *data, size_t size)
{
    struct arena *outer = arena_current(), *a = arena_new();
    Od__SubmitImportRequest fast, slow;
    char err[JSON_ERROR_MAX];
    int accepted;

    if (a == NULL)
        abort();
    arena_enter(a);
    accepted = contacts_scan_import((const char *)data, size, &fast) == CONTACTS_SCAN_OK;
    if (accepted) {
        json_t *body = parse_as_gateway(data, size);
        if (imports_json_submit(body, &slow, err, sizeof err) != 0 ||
            slow.n_contacts != fast.n_contacts)
            abort();
        same_text(fast.audience_id, slow.audience_id);
        same_text(fast.webhook_url, slow.webhook_url);
        same_rows(fast.contacts, slow.contacts, fast.n_contacts);
        imports_json_submit_free(&slow);
        json_decref(body);
    } else if (fast.contacts != NULL || fast.n_contacts != 0) {
        abort();
    }
    arena_leave(); /* fast dies with the arena */
    arena_destroy(a);
    if (outer != NULL)
        arena_enter(outer);
    return accepted;
}
