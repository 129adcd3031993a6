/* The pure rules of dialer-svc: carrier status words onto our statuses and outcomes, and the
 * TwiML document for an answered call. No I/O, so they are unit-tested directly. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialer.h"
#include "od_names.h"

#define DIALER_FALLBACK_MESSAGE                                                              \
    "Hello. This is an automated call. We will try to reach you again later. Goodbye."

bool dialer_answered_by_machine(const char *answered_by)
{
    return answered_by != NULL &&
           (strncmp(answered_by, "machine", 7) == 0 || strcmp(answered_by, "fax") == 0);
}

int dialer_map_status(const char *carrier_status, const char *answered_by,
                      struct dialer_status_map *out)
{
    static const struct {
        const char *word;
        struct dialer_status_map map;
    } table[] = {
        /* queued at the carrier: it has the call, so for us it is initiated */
        {"queued", {CALL_INITIATED, NULL, 1, false}},
        {"initiated", {CALL_INITIATED, NULL, 1, false}},
        {"ringing", {CALL_RINGING, NULL, 2, false}},
        {"in-progress", {CALL_IN_PROGRESS, NULL, 3, false}},
        {"answered", {CALL_IN_PROGRESS, NULL, 3, false}}, /* StatusCallbackEvent spelling */
        {"completed", {CALL_COMPLETED, OUTCOME_COMPLETED, 9, true}},
        {"busy", {CALL_BUSY, OUTCOME_BUSY, 9, true}},
        {"no-answer", {CALL_NO_ANSWER, OUTCOME_NO_ANSWER, 9, true}},
        {"failed", {CALL_FAILED, OUTCOME_FAILED, 9, true}},
        {"canceled", {CALL_CANCELED, OUTCOME_CANCELED, 9, true}},
    };
    if (carrier_status == NULL)
        return -1;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(table[i].word, carrier_status) != 0)
            continue;
        *out = table[i].map;
        if (strcmp(out->status, CALL_COMPLETED) == 0 && dialer_answered_by_machine(answered_by)) {
            out->status = CALL_VOICEMAIL;
            out->outcome = OUTCOME_VOICEMAIL;
        }
        return 0;
    }
    return -1;
}

int dialer_status_rank(const char *status)
{
    static const char *const open[] = {CALL_QUEUED, CALL_INITIATED, CALL_RINGING,
                                       CALL_IN_PROGRESS};
    if (status == NULL)
        return -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(status, open[i]) == 0)
            return i;
    return dialer_status_terminal(status) ? 9 : -1;
}

bool dialer_status_terminal(const char *status)
{
    static const char *const terminal[] = {CALL_COMPLETED, CALL_BUSY,     CALL_NO_ANSWER,
                                           CALL_FAILED,    CALL_CANCELED, CALL_TIMED_OUT,
                                           CALL_VOICEMAIL};
    if (status == NULL)
        return false;
    for (size_t i = 0; i < sizeof terminal / sizeof terminal[0]; i++)
        if (strcmp(status, terminal[i]) == 0)
            return true;
    return false;
}

int dialer_xml_append(char *buf, size_t size, size_t *len, const char *text, bool escape)
{
    for (const char *p = text ? text : ""; *p; p++) {
        const char *piece;
        char one[2] = {*p, '\0'};
        switch (escape ? *p : 0) {
        case '&': piece = "&amp;"; break;
        case '<': piece = "&lt;"; break;
        case '>': piece = "&gt;"; break;
        case '"': piece = "&quot;"; break;
        case '\'': piece = "&apos;"; break;
        default: piece = one; break;
        }
        /* XML 1.0 forbids most control characters even escaped: drop them */
        if (escape && (unsigned char)*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
            continue;
        size_t n = strlen(piece);
        if (*len + n + 1 > size) {
            buf[*len] = '\0';
            return -1;
        }
        memcpy(buf + *len, piece, n);
        *len += n;
    }
    buf[*len] = '\0';
    return 0;
}

/* One <Parameter name="..." value="..."/>. */
static int dialer_twiml_param(char *buf, size_t size, size_t *len, const char *name,
                              const char *value)
{
    return dialer_xml_append(buf, size, len, "<Parameter name=\"", false) |
           dialer_xml_append(buf, size, len, name, true) |
           dialer_xml_append(buf, size, len, "\" value=\"", false) |
           dialer_xml_append(buf, size, len, value, true) |
           dialer_xml_append(buf, size, len, "\"/>", false);
}

static bool dialer_reserved_param(const char *name)
{
    return strcmp(name, "callId") == 0 || strcmp(name, "outcomeUrl") == 0 ||
           strcmp(name, "outcomeToken") == 0;
}

char *dialer_twiml(const struct dialer_twiml_input *in)
{
    json_t *vars = NULL;
    size_t size = 4096, len = 0;
    char *buf = NULL;
    int rc;

    if (in->variables_json != NULL && in->variables_json[0] != '\0')
        vars = json_loads(in->variables_json, 0, NULL);
    if (vars != NULL && !json_is_object(vars)) {
        json_decref(vars);
        vars = NULL;
    }
    /* Grow until the document fits (variables make its size open-ended). */
    for (;;) {
        char *grown = realloc(buf, size);
        if (grown == NULL) {
            free(buf);
            json_decref(vars);
            return NULL;
        }
        buf = grown;
        len = 0;
        rc = dialer_xml_append(buf, size, &len,
                               "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>", false);
        if (in->runtime_url != NULL && in->runtime_url[0] != '\0') {
            const char *key;
            json_t *value;
            rc |= dialer_xml_append(buf, size, &len, "<Connect><Stream url=\"", false);
            rc |= dialer_xml_append(buf, size, &len, in->runtime_url, true);
            rc |= dialer_xml_append(buf, size, &len, "\">", false);
            rc |= dialer_twiml_param(buf, size, &len, "callId", in->call_id);
            rc |= dialer_twiml_param(buf, size, &len, "outcomeUrl", in->outcome_url);
            rc |= dialer_twiml_param(buf, size, &len, "outcomeToken", in->outcome_token);
            json_object_foreach(vars, key, value)
            {
                char *text;
                if (dialer_reserved_param(key) || json_is_null(value))
                    continue;
                text = json_is_string(value) ? NULL : json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
                rc |= dialer_twiml_param(buf, size, &len, key,
                                         text ? text : json_string_value(value));
                free(text);
            }
            rc |= dialer_xml_append(buf, size, &len, "</Stream></Connect>", false);
        } else {
            rc |= dialer_xml_append(buf, size, &len, "<Say>", false);
            rc |= dialer_xml_append(buf, size, &len,
                                    in->first_message && in->first_message[0]
                                        ? in->first_message
                                        : DIALER_FALLBACK_MESSAGE,
                                    true);
            rc |= dialer_xml_append(buf, size, &len, "</Say><Hangup/>", false);
        }
        rc |= dialer_xml_append(buf, size, &len, "</Response>", false);
        if (rc == 0)
            break;
        size *= 2;
    }
    json_decref(vars);
    return buf;
}

void dialer_token_hash(const char *token, char out[65])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hex[] = "0123456789abcdef";
    if (EVP_Digest(token, strlen(token), digest, &n, EVP_sha256(), NULL) != 1)
        n = 0;
    for (unsigned int i = 0; i < n && i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[2 * (n < 32 ? n : 32)] = '\0';
}
