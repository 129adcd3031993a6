/* libFuzzer target for POST /v1/contacts/bulk: the body goes through exactly what the gateway
 * runs: the one-pass reader (gateway/contacts_scan.c), checked against the jansson path
 * (scan_differential.c), and the jansson path itself (JSON parse with duplicate keys refused,
 * contacts_json_bulk_request), whose request is then packed to protobuf, unpacked again and
 * compared row by row. Any mismatch aborts. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "contacts_json.h"
#include "json_util.h"
#include "scan_differential.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_string(const char *a, const char *b)
{
    if (a == NULL || b == NULL || strcmp(a, b) != 0)
        abort();
}

static void round_trip(const Od__BulkUpsertRequest *req)
{
    size_t size = od__bulk_upsert_request__get_packed_size(req);
    uint8_t *buf = malloc(size > 0 ? size : 1);
    Od__BulkUpsertRequest *back;

    if (buf == NULL)
        abort();
    if (od__bulk_upsert_request__pack(req, buf) != size)
        abort();
    back = od__bulk_upsert_request__unpack(NULL, size, buf);
    if (back == NULL || back->n_contacts != req->n_contacts)
        abort();
    for (size_t i = 0; i < req->n_contacts; i++) {
        const Od__ContactInput *a = req->contacts[i], *b = back->contacts[i];
        same_string(a->name, b->name);
        same_string(a->phone_number, b->phone_number);
        same_string(a->language, b->language);
        same_string(a->metadata_json, b->metadata_json);
        same_string(a->invalid_reason, b->invalid_reason);
        /* a row is either mapped or carries a reason, never both */
        if (a->invalid_reason[0] != '\0' &&
            (a->name[0] || a->phone_number[0] || a->language[0] || a->metadata_json[0]))
            abort();
    }
    od__bulk_upsert_request__free_unpacked(back, NULL);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    Od__BulkUpsertRequest req;
    char err[JSON_ERROR_MAX];

    scan_differential_bulk(data, size);
    if (body == NULL)
        return 0;
    if (json_is_object(body)) {
        err[0] = '\0';
        if (contacts_json_bulk_request(body, &req, err, sizeof err) == 0) {
            if (req.n_contacts == 0 || req.n_contacts > CONTACTS_JSON_BULK_MAX)
                abort();
            round_trip(&req);
            contacts_json_bulk_free(&req);
        } else if (err[0] == '\0' || req.contacts != NULL || req.n_contacts != 0) {
            abort(); /* a refusal must explain itself and hold nothing */
        }
    }
    json_decref(body);
    return 0;
}
