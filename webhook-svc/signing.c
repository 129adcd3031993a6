/* Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 keyed with the
 * base64-decoded secret over "msg_id.timestamp.body", sent base64-encoded as "v1,<sig>".
 * OpenSSL's libcrypto does the HMAC and the base64. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "signing.h"

char *webhook_secret_new(char *buf, size_t size)
{
    unsigned char raw[WEBHOOK_SECRET_BYTES];
    char b64[4 * ((WEBHOOK_SECRET_BYTES + 2) / 3) + 1];
    ids_random_bytes(raw, sizeof raw);
    EVP_EncodeBlock((unsigned char *)b64, raw, (int)sizeof raw);
    snprintf(buf, size, "%s%s", WEBHOOK_SECRET_PREFIX, b64);
    return buf;
}

/* Decodes base64 text into out (at least 3/4 of its length); returns the byte count or -1. */
static int signing_base64_decode(const char *text, unsigned char *out)
{
    size_t len = strlen(text);
    int n, pad = 0;
    if (len == 0 || len % 4 != 0)
        return -1;
    n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock counts the bytes the padding stands for; take them back off. */
    if (text[len - 1] == '=')
        pad++;
    if (text[len - 2] == '=')
        pad++;
    return n - pad;
}

int webhook_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
                 size_t body_len, char *out, size_t out_size)
{
    unsigned char key[WEBHOOK_SECRET_MAX], mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char prefix[160], b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    int key_len, prefix_len;
    EVP_MAC *algorithm = NULL;
    EVP_MAC_CTX *ctx = NULL;
    size_t written = 0;
    int rc = -1;

    if (strncmp(secret, WEBHOOK_SECRET_PREFIX, strlen(WEBHOOK_SECRET_PREFIX)) == 0)
        secret += strlen(WEBHOOK_SECRET_PREFIX);
    if (strlen(secret) * 3 / 4 > sizeof key || (key_len = signing_base64_decode(secret, key)) <= 0)
        return -1;
    prefix_len = snprintf(prefix, sizeof prefix, "%s.%lld.", msg_id, (long long)timestamp);
    if (prefix_len < 0 || (size_t)prefix_len >= sizeof prefix)
        return -1;
    /* HMAC over the three parts without copying the body into one buffer. */
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    if ((algorithm = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
        (ctx = EVP_MAC_CTX_new(algorithm)) == NULL ||
        !EVP_MAC_init(ctx, key, (size_t)key_len, params) ||
        !EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)prefix_len) ||
        !EVP_MAC_update(ctx, (const unsigned char *)body, body_len) ||
        !EVP_MAC_final(ctx, mac, &written, sizeof mac))
        goto out;
    mac_len = (unsigned int)written;
    EVP_EncodeBlock((unsigned char *)b64, mac, (int)mac_len);
    if ((size_t)snprintf(out, out_size, "v1,%s", b64) < out_size)
        rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(algorithm);
    return rc;
}

char *webhook_signature_header(const char *secret, const char *previous_secret,
                               const char *msg_id, int64_t timestamp, const char *body,
                               size_t body_len)
{
    char first[WEBHOOK_SIGNATURE_MAX], second[WEBHOOK_SIGNATURE_MAX];
    char *header = malloc(2 * WEBHOOK_SIGNATURE_MAX + 2);
    if (header == NULL ||
        webhook_sign(secret, msg_id, timestamp, body, body_len, first, sizeof first) != 0)
        goto fail;
    if (previous_secret != NULL && previous_secret[0] != '\0') {
        if (webhook_sign(previous_secret, msg_id, timestamp, body, body_len, second,
                         sizeof second) != 0)
            goto fail;
        snprintf(header, 2 * WEBHOOK_SIGNATURE_MAX + 2, "%s %s", first, second);
    } else {
        snprintf(header, 2 * WEBHOOK_SIGNATURE_MAX + 2, "%s", first);
    }
    return header;
fail:
    free(header);
    return NULL;
}
