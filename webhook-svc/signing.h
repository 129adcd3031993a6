/* Standard Webhooks signing (signing.c): endpoint secrets and the webhook-signature header. */
#ifndef WEBHOOK_SVC_SIGNING_H
#define WEBHOOK_SVC_SIGNING_H

#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_SECRET_PREFIX "whsec_"
#define WEBHOOK_SECRET_BYTES 24           /* random bytes behind "whsec_" (base64: 32 chars) */
#define WEBHOOK_SECRET_MAX 128
#define WEBHOOK_SIGNATURE_MAX 64          /* "v1," + 44 base64 characters + NUL */

/* "whsec_" + base64 of WEBHOOK_SECRET_BYTES random bytes. Returns buf. */
char *webhook_secret_new(char *buf, size_t size);
/* Writes "v1,<base64 HMAC-SHA256(key, msg_id.timestamp.body)>", key being the base64-decoded
 * part of secret after "whsec_" (a secret without the prefix is decoded whole). 0 on success,
 * -1 for a secret that is not base64 or a buffer that is too small. */
int webhook_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
                 size_t body_len, char *out, size_t out_size);
/* The webhook-signature header value: the signature with secret, followed (space-separated)
 * by the one with previous_secret when that is not NULL. Caller frees; NULL on failure. */
char *webhook_signature_header(const char *secret, const char *previous_secret,
                               const char *msg_id, int64_t timestamp, const char *body,
                               size_t body_len);

#endif
