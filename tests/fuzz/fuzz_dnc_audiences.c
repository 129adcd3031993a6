/* libFuzzer target for the DNC and audience bodies: POST /api/campaigns/dnc/bulk
 * (dnc_json_bulk_request), POST /api/campaigns/dnc (dnc_json_input), POST /v1/audiences,
 * PATCH /v1/audiences/:id and POST /v1/audiences/:id/contacts, each through exactly what the
 * gateway runs. Mapped requests are packed to protobuf, unpacked and compared; a refusal must
 * explain itself and hold nothing. Any violation aborts. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audiences_json.h"
#include "dnc_json.h"
#include "json_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_string(const char *a, const char *b)
{
    if (a == NULL || b == NULL || strcmp(a, b) != 0)
        abort();
}

static void dnc_round_trip(const Od__BulkAddDncRequest *req)
{
    size_t size = od__bulk_add_dnc_request__get_packed_size(req);
    uint8_t *buf = malloc(size > 0 ? size : 1);
    Od__BulkAddDncRequest *back;

    if (buf == NULL || od__bulk_add_dnc_request__pack(req, buf) != size)
        abort();
    back = od__bulk_add_dnc_request__unpack(NULL, size, buf);
    if (back == NULL || back->n_entries != req->n_entries)
        abort();
    for (size_t i = 0; i < req->n_entries; i++) {
        const Od__DncEntryInput *a = req->entries[i], *b = back->entries[i];
        same_string(a->phone_number, b->phone_number);
        same_string(a->reason, b->reason);
        same_string(a->source, b->source);
        same_string(a->invalid_reason, b->invalid_reason);
        if (a->invalid_reason[0] != '\0' &&
            (a->phone_number[0] || a->reason[0] || a->source[0]))
            abort();
    }
    od__bulk_add_dnc_request__free_unpacked(back, NULL);
    free(buf);
}

static void members_round_trip(const Od__AudienceMembersRequest *req)
{
    size_t size = od__audience_members_request__get_packed_size(req);
    uint8_t *buf = malloc(size > 0 ? size : 1);
    Od__AudienceMembersRequest *back;

    if (buf == NULL || od__audience_members_request__pack(req, buf) != size)
        abort();
    back = od__audience_members_request__unpack(NULL, size, buf);
    if (back == NULL || back->n_contact_ids != req->n_contact_ids)
        abort();
    for (size_t i = 0; i < req->n_contact_ids; i++)
        same_string(req->contact_ids[i], back->contact_ids[i]);
    od__audience_members_request__free_unpacked(back, NULL);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    char err[JSON_ERROR_MAX];

    if (body == NULL)
        return 0;
    if (json_is_object(body)) {
        Od__BulkAddDncRequest bulk;
        Od__DncEntryInput one;
        Od__AudienceMembersRequest members;
        Od__CreateAudienceRequest create;
        Od__UpdateAudienceRequest update;

        err[0] = '\0';
        if (dnc_json_bulk_request(body, &bulk, err, sizeof err) == 0) {
            if (bulk.n_entries == 0 || bulk.n_entries > DNC_JSON_BULK_MAX)
                abort();
            dnc_round_trip(&bulk);
            dnc_json_bulk_free(&bulk);
        } else if (err[0] == '\0' || bulk.entries != NULL || bulk.n_entries != 0) {
            abort();
        }
        err[0] = '\0';
        if (dnc_json_input(body, "", &one, err, sizeof err) != 0 && err[0] == '\0')
            abort();
        err[0] = '\0';
        if (audiences_json_member_ids(body, &members, err, sizeof err) == 0) {
            if (members.n_contact_ids == 0 || members.n_contact_ids > AUDIENCES_JSON_MEMBERS_MAX)
                abort();
            members_round_trip(&members);
            audiences_json_member_ids_free(&members);
        } else if (err[0] == '\0' || members.contact_ids != NULL) {
            abort();
        }
        err[0] = '\0';
        if (audiences_json_create(body, &create, err, sizeof err) == 0) {
            if (create.name == NULL || create.description == NULL)
                abort();
        } else if (err[0] == '\0') {
            abort();
        }
        err[0] = '\0';
        if (audiences_json_update(body, &update, err, sizeof err) == 0) {
            /* name is set exactly when the body holds it as a string */
            if (update.set_name != json_is_string(json_object_get(body, "name")))
                abort();
        } else if (err[0] == '\0') {
            abort();
        }
    }
    json_decref(body);
    return 0;
}
