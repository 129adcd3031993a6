/* X-Twilio-Signature: base64(HMAC-SHA1(auth token, url + name1 + value1 + name2 + value2 ...))
 * with the POST parameters sorted by name (then by value, for repeated names). Used by the
 * gateway to check carrier callbacks and by carrier-sim to sign them. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "carrier.h"

#define SIGNATURE_STACK_PARAMS 32

static int signature_param_compare(const void *a, const void *b)
{
    const struct carrier_param *x = *(const struct carrier_param *const *)a;
    const struct carrier_param *y = *(const struct carrier_param *const *)b;
    int c = strcmp(x->name ? x->name : "", y->name ? y->name : "");
    if (c != 0)
        return c;
    return strcmp(x->value ? x->value : "", y->value ? y->value : "");
}

/* Raw HMAC-SHA1 into mac (20 bytes) of url + the sorted name/value pairs. 0, or -1 on an
 * OpenSSL or allocation failure. (HMAC() one-shot: the HMAC_CTX calls are deprecated in
 * OpenSSL 3.) */
static int signature_mac(const char *auth_token, const char *url,
                         const struct carrier_param *params, size_t nparams,
                         unsigned char mac[EVP_MAX_MD_SIZE], unsigned int *mac_len)
{
    const struct carrier_param *stack_sorted[SIGNATURE_STACK_PARAMS];
    const struct carrier_param **sorted = stack_sorted;
    char *message = NULL;
    int rv = -1;
    if (nparams > SIGNATURE_STACK_PARAMS) {
        sorted = malloc(nparams * sizeof *sorted);
        if (sorted == NULL)
            return -1;
    }
    size_t len = url ? strlen(url) : 0;
    for (size_t i = 0; i < nparams; i++) {
        sorted[i] = &params[i];
        len += (params[i].name ? strlen(params[i].name) : 0) +
               (params[i].value ? strlen(params[i].value) : 0);
    }
    if (nparams > 1)
        qsort(sorted, nparams, sizeof *sorted, signature_param_compare);

    message = malloc(len + 1);
    if (message == NULL)
        goto out;
    size_t at = 0;
    if (url) {
        memcpy(message + at, url, strlen(url));
        at += strlen(url);
    }
    for (size_t i = 0; i < nparams; i++) {
        const char *parts[2] = {sorted[i]->name, sorted[i]->value};
        for (int k = 0; k < 2; k++) {
            if (parts[k] == NULL)
                continue;
            size_t n = strlen(parts[k]);
            memcpy(message + at, parts[k], n);
            at += n;
        }
    }
    message[at] = '\0';

    const char *key = auth_token ? auth_token : "";
    if (HMAC(EVP_sha1(), key, (int)strlen(key), (const unsigned char *)message, at, mac,
             mac_len) == NULL)
        goto out;
    rv = 0;
out:
    free(message);
    if (sorted != stack_sorted)
        free(sorted);
    return rv;
}

int carrier_signature(const char *auth_token, const char *url, const struct carrier_param *params,
                      size_t nparams, char *out, size_t out_size)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    /* base64 of 20 bytes is 28 characters, plus the NUL */
    if (out == NULL || out_size < 29)
        return -1;
    if (signature_mac(auth_token, url, params, nparams, mac, &mac_len) != 0 || mac_len != 20) {
        out[0] = '\0';
        return -1;
    }
    EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len);
    return 0;
}

bool carrier_signature_valid(const char *auth_token, const char *url,
                             const struct carrier_param *params, size_t nparams,
                             const char *signature)
{
    char expected[64];
    if (signature == NULL || signature[0] == '\0')
        return false;
    if (carrier_signature(auth_token, url, params, nparams, expected, sizeof expected) != 0)
        return false;
    size_t n = strlen(expected);
    if (strlen(signature) != n)
        return false;
    return CRYPTO_memcmp(expected, signature, n) == 0;
}
