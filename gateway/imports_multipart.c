/* multipart/form-data (RFC 7578) bodies of POST /v1/contacts/import: the uploaded file and its
 * kind (imports_json.h). The file is then read by imports_csv.c or imports_json.c. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "imports_json.h"

/* Case-insensitive search for needle in [s, s + len). */
static const char *imports_find_ci(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (strncasecmp(s + i, needle, n) == 0)
            return s + i;
    return NULL;
}

/* Copies the value of parameter `name` (name=value or name="value") found in [s, s + len)
 * into out; 0, or -1 when absent or too long. */
static int imports_param(const char *s, size_t len, const char *name, char *out, size_t size)
{
    const char *end = s + len, *p = s;
    size_t n = strlen(name), used = 0;
    for (;;) {
        const char *hit = imports_find_ci(p, (size_t)(end - p), name);
        if (hit == NULL)
            return -1;
        p = hit + n;
        /* A whole parameter name: preceded by ';' or blank, followed by '='. */
        if ((hit == s || hit[-1] == ';' || hit[-1] == ' ' || hit[-1] == '\t') && p < end &&
            *p == '=')
            break;
    }
    p++;
    if (p < end && *p == '"') {
        for (p++; p < end && *p != '"'; p++) {
            if (*p == '\\' && p + 1 < end)
                p++;
            if (used + 1 >= size)
                return -1;
            out[used++] = *p;
        }
    } else {
        for (; p < end && *p != ';' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n'; p++) {
            if (used + 1 >= size)
                return -1;
            out[used++] = *p;
        }
    }
    out[used] = '\0';
    return used > 0 ? 0 : -1;
}

static bool imports_ends_with_ci(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

int imports_multipart_file(const char *content_type, const char *body, size_t len,
                           const char **file, size_t *file_len, enum imports_file_kind *kind,
                           char *err, size_t err_size)
{
    char boundary[80], delimiter[90], name[64], filename[256];
    const char *p, *end = body + len, *chosen = NULL, *chosen_end = NULL;
    size_t dlen;
    enum imports_file_kind chosen_kind = 0;

    if (imports_param(content_type, strlen(content_type), "boundary", boundary,
                      sizeof boundary) != 0) {
        snprintf(err, err_size, "multipart/form-data needs a boundary of 1 to 70 characters");
        return -1;
    }
    dlen = (size_t)snprintf(delimiter, sizeof delimiter, "--%s", boundary);
    p = body ? memmem(body, len, delimiter, dlen) : NULL;
    while (p != NULL) {
        const char *headers = p + dlen, *headers_end, *content, *next;
        if ((size_t)(end - headers) >= 2 && memcmp(headers, "--", 2) == 0)
            break; /* the closing delimiter */
        if ((size_t)(end - headers) < 2 || memcmp(headers, "\r\n", 2) != 0)
            break;
        headers += 2;
        headers_end = memmem(headers, (size_t)(end - headers), "\r\n\r\n", 4);
        if (headers_end == NULL)
            break;
        content = headers_end + 4;
        /* The part ends at CRLF + delimiter. */
        char marker[96];
        size_t mlen = (size_t)snprintf(marker, sizeof marker, "\r\n%s", delimiter);
        next = memmem(content, (size_t)(end - content), marker, mlen);
        if (next == NULL)
            break;
        size_t hlen = (size_t)(headers_end - headers);
        const char *disposition = imports_find_ci(headers, hlen, "content-disposition:");
        const char *ctype = imports_find_ci(headers, hlen, "content-type:");
        size_t dl = disposition ? (size_t)(headers_end - disposition) : 0;
        const char *eol = disposition ? memmem(disposition, dl, "\r\n", 2) : NULL;
        if (eol != NULL)
            dl = (size_t)(eol - disposition);
        bool named_file = disposition && imports_param(disposition, dl, "name", name,
                                                       sizeof name) == 0 &&
                          strcmp(name, "file") == 0;
        bool has_filename = disposition && imports_param(disposition, dl, "filename", filename,
                                                         sizeof filename) == 0;
        if (named_file || (has_filename && chosen == NULL)) {
            enum imports_file_kind k = 0;
            if (ctype != NULL) {
                const char *v = ctype + strlen("content-type:");
                while (v < headers_end && (*v == ' ' || *v == '\t'))
                    v++;
                if (strncasecmp(v, "text/csv", 8) == 0 || strncasecmp(v, "application/csv", 15) == 0)
                    k = IMPORTS_FILE_CSV;
                else if (strncasecmp(v, "application/json", 16) == 0)
                    k = IMPORTS_FILE_JSON;
            }
            if (k == 0 && has_filename)
                k = imports_ends_with_ci(filename, ".csv")    ? IMPORTS_FILE_CSV
                    : imports_ends_with_ci(filename, ".json") ? IMPORTS_FILE_JSON
                                                               : 0;
            chosen = content;
            chosen_end = next;
            chosen_kind = k;
            if (named_file)
                break;
        }
        p = next + 2;
    }
    if (chosen == NULL) {
        snprintf(err, err_size, "multipart/form-data must carry the file in a part named "
                                "\"file\" (or any part with a filename)");
        return -1;
    }
    if (chosen_kind == 0) {
        snprintf(err, err_size, "the uploaded file must be CSV (text/csv, .csv) or JSON "
                                "(application/json, .json)");
        return -1;
    }
    *file = chosen;
    *file_len = (size_t)(chosen_end - chosen);
    *kind = chosen_kind;
    return 0;
}
