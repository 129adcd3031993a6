/* libFuzzer target for the JSON bodies of POST /v1/imports/api/bulk (imports_json_submit) and
 * POST /v1/contacts/import (imports_json_contacts), gateway/imports_json.c. See README.md.
 *
 * Each input is parsed as the gateway parses it (duplicate keys refused, any JSON value). An
 * object goes through imports_json_submit; an object or array through imports_json_contacts.
 * A built request is packed, unpacked and compared row by row. Aborts on a mismatch, on a row
 * that has both mapped fields and an invalid_reason, on metadata that is not a JSON object,
 * and on a refusal without a message. LSan finds what the *_free functions miss. Every input
 * also goes through the one-pass reader of import bodies (gateway/contacts_scan.c), checked
 * against imports_json_submit by scan_differential.c. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imports_json.h"
#include "json_util.h"
#include "scan_differential.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_row(const Od__ContactInput *a, const Od__ContactInput *b)
{
    if (strcmp(a->name, b->name) != 0 || strcmp(a->phone_number, b->phone_number) != 0 ||
        strcmp(a->language, b->language) != 0 || strcmp(a->metadata_json, b->metadata_json) != 0 ||
        strcmp(a->invalid_reason, b->invalid_reason) != 0)
        abort();
    if (a->invalid_reason[0] != '\0' && (a->name[0] || a->language[0] || a->metadata_json[0]))
        abort();
    if (a->metadata_json[0] != '\0') {
        json_t *m = json_loads(a->metadata_json, 0, NULL);
        if (!json_is_object(m) || json_object_size(m) == 0)
            abort();
        json_decref(m);
    }
}

static void check_submit(const json_t *body)
{
    Od__SubmitImportRequest req;
    char err[JSON_ERROR_MAX] = "";
    if (imports_json_submit(body, &req, err, sizeof err) != 0) {
        if (err[0] == '\0' || req.n_contacts != 0 || req.contacts != NULL)
            abort();
        return;
    }
    size_t len = od__submit_import_request__get_packed_size(&req);
    uint8_t *buf = malloc(len + 1);
    if (buf == NULL)
        abort();
    od__submit_import_request__pack(&req, buf);
    Od__SubmitImportRequest *back = od__submit_import_request__unpack(NULL, len, buf);
    if (back == NULL || back->n_contacts != req.n_contacts ||
        strcmp(back->audience_id, req.audience_id) != 0 ||
        strcmp(back->webhook_url, req.webhook_url) != 0)
        abort();
    for (size_t i = 0; i < req.n_contacts; i++)
        check_row(req.contacts[i], back->contacts[i]);
    od__submit_import_request__free_unpacked(back, NULL);
    free(buf);
    imports_json_submit_free(&req);
}

static void check_contacts(const json_t *body)
{
    Od__BulkUpsertRequest req;
    char err[JSON_ERROR_MAX] = "";
    if (imports_json_contacts(body, &req, err, sizeof err) != 0) {
        if (err[0] == '\0' || req.n_contacts != 0 || req.contacts != NULL)
            abort();
        return;
    }
    size_t len = od__bulk_upsert_request__get_packed_size(&req);
    uint8_t *buf = malloc(len + 1);
    if (buf == NULL)
        abort();
    od__bulk_upsert_request__pack(&req, buf);
    Od__BulkUpsertRequest *back = od__bulk_upsert_request__unpack(NULL, len, buf);
    if (back == NULL || back->n_contacts != req.n_contacts)
        abort();
    for (size_t i = 0; i < req.n_contacts; i++)
        check_row(req.contacts[i], back->contacts[i]);
    od__bulk_upsert_request__free_unpacked(back, NULL);
    free(buf);
    imports_bulk_free(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, size,
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    scan_differential_import(data, size);
    if (root == NULL)
        return 0;
    if (json_is_object(root))
        check_submit(root);
    check_contacts(root);
    json_decref(root);
    return 0;
}
