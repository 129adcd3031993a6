/* libFuzzer target for lib/csv.c and the CSV body of POST /v1/contacts/import
 * (gateway/imports_json.c: imports_csv_contacts). See README.md.
 *
 * Each input is parsed twice with lib/csv (default limits, and tiny ones: 16-byte fields,
 * 4 columns). Aborts when:
 *   - a record has no field, more fields than the limit, a field longer than the limit, or a
 *     field not NUL-terminated at its length;
 *   - the well-formed records, written back out (every field quoted, quotes doubled, CRLF)
 *     and parsed again, do not come back identical and error-free;
 *   - the parser's fatal error has no message.
 * Then the whole input goes through imports_csv_contacts and is freed (LSan finds leaks). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "imports_json.h"
#include "json_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct text {
    char *data;
    size_t len, cap;
};

static void text_put(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->data = realloc(t->data, t->cap);
        if (t->data == NULL)
            abort();
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
}

/* Appends the record quoted; and its fields, NUL-separated, to `flat` for comparison. */
static void write_record(struct text *out, struct text *flat, const struct csv_record *rec)
{
    char count[24];
    int n = snprintf(count, sizeof count, "%zu:", rec->nfields);
    text_put(flat, count, (size_t)n);
    for (size_t i = 0; i < rec->nfields; i++) {
        const struct csv_field *f = &rec->fields[i];
        if (i > 0)
            text_put(out, ",", 1);
        text_put(out, "\"", 1);
        for (size_t k = 0; k < f->len; k++)
            text_put(out, f->data[k] == '"' ? "\"\"" : &f->data[k], f->data[k] == '"' ? 2 : 1);
        text_put(out, "\"", 1);
        text_put(flat, f->data, f->len);
        text_put(flat, "\0", 1);
    }
    text_put(out, "\r\n", 2);
}

static void check_parse(const char *data, size_t size, const struct csv_limits *limits)
{
    size_t max_field = limits && limits->max_field_bytes ? limits->max_field_bytes
                                                         : CSV_FIELD_MAX_DEFAULT;
    size_t max_columns = limits && limits->max_columns ? limits->max_columns
                                                       : CSV_COLUMNS_MAX_DEFAULT;
    struct csv_parser *p = csv_parser_new(data, size, limits);
    struct csv_record rec;
    struct text again = {0}, flat1 = {0}, flat2 = {0}, scratch = {0};
    int rc;

    if (p == NULL)
        abort();
    while ((rc = csv_parser_next(p, &rec)) == 1) {
        if (rec.nfields == 0 || rec.nfields > max_columns)
            abort();
        for (size_t i = 0; i < rec.nfields; i++)
            if (rec.fields[i].len > max_field || rec.fields[i].data[rec.fields[i].len] != '\0')
                abort();
        if (rec.error == NULL)
            write_record(&again, &flat1, &rec);
    }
    if (rc < 0 && csv_parser_error(p)[0] == '\0')
        abort();
    csv_parser_free(p);

    /* Round trip of the well-formed records. */
    p = csv_parser_new(again.data ? again.data : "", again.len, limits);
    if (p == NULL)
        abort();
    while ((rc = csv_parser_next(p, &rec)) == 1) {
        if (rec.error != NULL)
            abort();
        write_record(&scratch, &flat2, &rec);
    }
    if (rc != 0)
        abort();
    csv_parser_free(p);
    if (flat1.len != flat2.len || (flat1.len && memcmp(flat1.data, flat2.data, flat1.len) != 0))
        abort();
    free(again.data);
    free(flat1.data);
    free(flat2.data);
    free(scratch.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct csv_limits tiny = {16, 4};
    Od__BulkUpsertRequest req;
    size_t *lines = NULL;
    char err[JSON_ERROR_MAX];

    const char *file;
    size_t file_len;
    enum imports_file_kind kind;
    /* The same bytes as a multipart/form-data upload: the file found must lie inside it. */
    if (imports_multipart_file("multipart/form-data; boundary=XyZ", (const char *)data, size,
                               &file, &file_len, &kind, err, sizeof err) == 0 &&
        (file < (const char *)data || file + file_len > (const char *)data + size ||
         (kind != IMPORTS_FILE_CSV && kind != IMPORTS_FILE_JSON)))
        abort();
    check_parse((const char *)data, size, NULL);
    check_parse((const char *)data, size, &tiny);
    err[0] = '\0';
    if (imports_csv_contacts((const char *)data, size, &req, &lines, err, sizeof err) == 0) {
        if (req.n_contacts == 0 || req.n_contacts > IMPORTS_JSON_MAX_ROWS || lines == NULL)
            abort();
        for (size_t i = 0; i < req.n_contacts; i++)
            if (req.contacts[i]->invalid_reason[0] != '\0' &&
                (req.contacts[i]->name[0] || req.contacts[i]->metadata_json[0]))
                abort(); /* a refused row carries nothing but its phone number */
        imports_bulk_free(&req);
        free(lines);
    } else if (err[0] == '\0' || lines != NULL) {
        abort();
    }
    return 0;
}
