/* Prints one webhook delivery signed by webhook-svc's own code (webhook-svc/signing.c), as
 * JSON {secret, previousSecret, headers: {webhook-id, webhook-timestamp, webhook-signature},
 * body}: the signature header carries two v1 signatures, the new secret's and the previous
 * one's, as during a rotation. verify_webhook.mjs checks it with the npm standardwebhooks
 * library, exactly as docs/webhooks.md's Node example does. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "signing.h"

int main(void)
{
    char secret[WEBHOOK_SECRET_MAX], previous[WEBHOOK_SECRET_MAX];
    const char *id = "evt_01J0SAMPLE0000000000000000";
    /* reference 002's import.completed, as webhook-svc sends it (with "timestamp") */
    const char *body = "{\"event\":\"import.completed\",\"importId\":\"imp_ghi789\","
                       "\"status\":\"COMPLETED\",\"total\":2,\"created\":2,\"updated\":0,"
                       "\"failed\":0,\"completedAt\":\"2026-03-10T10:05:00.000Z\","
                       "\"timestamp\":\"2026-03-10T10:05:00.120Z\"}";
    int64_t now = (int64_t)time(NULL);
    char stamp[32];
    char *header;
    json_t *out;

    webhook_secret_new(secret, sizeof secret);
    webhook_secret_new(previous, sizeof previous);
    header = webhook_signature_header(secret, previous, id, now, body, strlen(body));
    if (header == NULL) {
        fprintf(stderr, "sign_sample: signing failed\n");
        return 1;
    }
    snprintf(stamp, sizeof stamp, "%lld", (long long)now);
    out = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:s}", "secret", secret, "previousSecret",
                    previous, "headers", "webhook-id", id, "webhook-timestamp", stamp,
                    "webhook-signature", header, "body", body);
    free(header);
    if (out == NULL || json_dumpf(out, stdout, JSON_COMPACT) != 0)
        return 1;
    putchar('\n');
    json_decref(out);
    return 0;
}
