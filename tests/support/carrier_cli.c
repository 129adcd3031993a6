/* carrier_cli: one carrier driver operation from the command line, for the OpenAPI contract
 * test (tests/contract), which puts a recording proxy between it and carrier-sim.
 *
 *   carrier_cli create <to> <twiml_url> <status_callback> [from]
 *   carrier_cli fetch  <sid>
 *   carrier_cli list   <to> [YYYY-MM-DD]
 *   carrier_cli hangup <sid>
 *
 * Base URL, account SID and auth token come from CARRIER_BASE_URL, CARRIER_ACCOUNT_SID and
 * CARRIER_AUTH_TOKEN. Prints one JSON object: {"result": <enum carrier_result>, "error": ...,
 * "calls": [...]}; exits 0 when the result is CARRIER_OK. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carrier.h"

#define LIST_MAX 20

static json_t *call_json(const struct carrier_call *c)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "sid", c->sid, "status", c->status,
                     "answered_by", c->answered_by, "to", c->to, "from", c->from, "start_time",
                     c->start_time, "duration_seconds", c->duration_seconds);
}

static int usage(void)
{
    fprintf(stderr, "usage: carrier_cli create <to> <twiml_url> <status_callback> [from]\n"
                    "       carrier_cli fetch <sid> | list <to> [YYYY-MM-DD] | hangup <sid>\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    struct carrier_config cfg = {.base_url = getenv("CARRIER_BASE_URL"),
                                 .account_sid = getenv("CARRIER_ACCOUNT_SID"),
                                 .auth_token = getenv("CARRIER_AUTH_TOKEN"),
                                 .default_from = "+15550009999",
                                 .timeout_ms = 5000};
    struct carrier *c = carrier_open(&cfg);
    if (c == NULL)
        return 1;
    char err[512] = "";
    struct carrier_call calls[LIST_MAX];
    int n = 0, rv;
    const char *op = argv[1];
    if (strcmp(op, "create") == 0 && argc >= 5) {
        struct carrier_call_request req = {.to = argv[2],
                                           .twiml_url = argv[3],
                                           .status_callback = argv[4],
                                           .from = argc > 5 ? argv[5] : NULL,
                                           .ring_timeout_seconds = 30,
                                           .machine_detection = true};
        rv = carrier_create_call(c, &req, &calls[0], err, sizeof err);
        n = rv == CARRIER_OK;
    } else if (strcmp(op, "fetch") == 0) {
        rv = carrier_fetch_call(c, argv[2], &calls[0], err, sizeof err);
        n = rv == CARRIER_OK;
    } else if (strcmp(op, "list") == 0) {
        rv = carrier_list_calls_to(c, argv[2], argc > 3 ? argv[3] : NULL, calls, LIST_MAX, &n,
                                   err, sizeof err);
    } else if (strcmp(op, "hangup") == 0) {
        rv = carrier_hangup(c, argv[2], err, sizeof err);
    } else {
        carrier_close(c);
        return usage();
    }
    json_t *out = json_pack("{s:i, s:s, s:[]}", "result", rv, "error", err, "calls");
    for (int i = 0; i < n; i++)
        json_array_append_new(json_object_get(out, "calls"), call_json(&calls[i]));
    char *text = json_dumps(out, JSON_COMPACT);
    printf("%s\n", text);
    free(text);
    json_decref(out);
    carrier_close(c);
    return rv == CARRIER_OK ? 0 : 1;
}
