/* libFuzzer target for the campaign and lead bodies (gateway/campaigns_json.c,
 * gateway/leads_json.c, gateway/body_problems.c). See README.md.
 *
 * Every input goes through leads_csv_upload as raw bytes. When it parses as a JSON object (as
 * api_parse_body parses it), it also goes through campaigns_json_input in both dialects, for
 * create and update, and through leads_json_upload. Aborts when: an accepted campaign has
 * problems or a refused one none, the details list differs from the count, a built
 * CampaignInput does not survive pack/unpack, an upload is accepted with no rows or without
 * its pointer array, or a lead's variables are not a JSON object. LSan finds what
 * leads_upload_free misses. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "campaigns_json.h"
#include "json_util.h"
#include "leads_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_campaign(const json_t *body, enum campaigns_dialect d, enum campaigns_write w)
{
    struct campaigns_input c;
    struct body_problems p;
    body_problems_init(&p);
    int rc = campaigns_json_input(body, d, w, &c, &p);
    if ((rc == 0) != (p.count == 0) || (p.count > 0 && p.first[0] == '\0'))
        abort();
    if (rc == 0) {
        size_t len = od__campaign_input__get_packed_size(&c.in);
        uint8_t *buf = malloc(len + 1);
        if (buf == NULL)
            abort();
        od__campaign_input__pack(&c.in, buf);
        Od__CampaignInput *back = od__campaign_input__unpack(NULL, len, buf);
        if (back == NULL || strcmp(back->name, c.in.name) != 0 ||
            strcmp(back->flow_id, c.in.flow_id) != 0 || back->n_weekdays != c.in.n_weekdays ||
            back->n_retry_on != c.in.n_retry_on || back->max_retries != c.in.max_retries)
            abort();
        od__campaign_input__free_unpacked(back, NULL);
        free(buf);
    } else if (json_array_size(p.details) != (size_t)p.count) {
        abort();
    }
    body_problems_free(&p);
}

static void check_upload(int rc, const struct leads_upload *u, const char *err)
{
    if (rc != 0) {
        if (err[0] == '\0' || u->req.n_leads != 0 || u->rows != NULL)
            abort();
        return;
    }
    if (u->req.n_leads == 0 || u->req.leads == NULL)
        abort();
    for (size_t i = 0; i < u->req.n_leads; i++) {
        const Od__LeadInput *l = u->req.leads[i];
        if (l->variables_json[0] != '\0') {
            json_t *v = json_loads(l->variables_json, 0, NULL);
            if (!json_is_object(v))
                abort();
            json_decref(v);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct leads_upload u;
    char err[JSON_ERROR_MAX] = "";

    check_upload(leads_csv_upload((const char *)data, size, &u, err, sizeof err), &u, err);
    leads_upload_free(&u);

    json_t *body = json_parse_object((const char *)data, size, err, sizeof err);
    if (body == NULL)
        return 0;
    for (int d = 0; d < 2; d++)
        for (int w = 0; w < 2; w++)
            check_campaign(body, (enum campaigns_dialect)d, (enum campaigns_write)w);
    err[0] = '\0';
    check_upload(leads_json_upload(body, &u, err, sizeof err), &u, err);
    leads_upload_free(&u);
    json_decref(body);
    return 0;
}
