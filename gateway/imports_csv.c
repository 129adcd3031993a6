/* CSV bodies of POST /v1/contacts/import -> BulkUpsertRequest (imports_json.h). The header
 * and the records are read by csv_columns.h; this file gives the columns their roles and turns
 * each record into a contact. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_columns.h"
#include "imports_json.h"
#include "json_util.h"
#include "json_writer.h"

enum imports_csv_role {
    ROLE_META = 0, /* any other column: a metadata key named by its header */
    ROLE_PHONE,
    ROLE_NAME,
    ROLE_FIRST,
    ROLE_LAST,
    ROLE_LANGUAGE,
    ROLE_COUNT
};

/* A header's role, by its name ignoring case, blanks, '_' and '-' (csv_columns_key). */
static int imports_csv_role(const char *header)
{
    char key[32];
    if (!csv_columns_key(header, key, sizeof key))
        return ROLE_META;
    if (strcmp(key, "phone") == 0 || strcmp(key, "phonenumber") == 0)
        return ROLE_PHONE;
    if (strcmp(key, "name") == 0 || strcmp(key, "fullname") == 0)
        return ROLE_NAME;
    if (strcmp(key, "firstname") == 0)
        return ROLE_FIRST;
    if (strcmp(key, "lastname") == 0)
        return ROLE_LAST;
    if (strcmp(key, "language") == 0)
        return ROLE_LANGUAGE;
    return ROLE_META;
}

/* One column per role; two metadata columns clash only when their names are the same. */
static const struct csv_column_rules imports_csv_rules = {
    .role_of = imports_csv_role,
    .unique_roles = 1u << ROLE_PHONE | 1u << ROLE_NAME | 1u << ROLE_FIRST | 1u << ROLE_LAST |
                    1u << ROLE_LANGUAGE,
    .required_role = ROLE_PHONE,
    .missing_required = "CSV header must have a phone, phoneNumber or phone_number column",
};

/* A record that cannot be read as a row -> a row with invalid_reason, named by its phone
 * number when that column is there. -1 only when out of memory (in left empty). */
static int imports_csv_bad_row(const struct csv_columns *h, const struct csv_record *rec,
                               const char *reason, Od__ContactInput *in)
{
    char *phone = csv_columns_value_of(h, rec, ROLE_PHONE);
    if (phone != NULL)
        in->phone_number = phone;
    if ((in->invalid_reason = strdup(reason)) == NULL) {
        imports_json_row_free(in);
        return -1;
    }
    return 0;
}

/* One data record -> row. -1 only when out of memory. */
static int imports_csv_row(const struct csv_columns *h, const struct csv_record *rec,
                           Od__ContactInput *in)
{
    char reason[JSON_ERROR_MAX];
    char *values[ROLE_COUNT] = {0}; /* by role, trimmed */
    char *name = NULL, *metadata = NULL;
    struct json_writer meta = {0};
    int rc = -1;

    od__contact_input__init(in);
    if (csv_columns_bad_record(h, rec, reason, sizeof reason))
        return imports_csv_bad_row(h, rec, reason, in);
    /* The metadata text is written directly (as jansson's compact dump would print it): a
     * jansson object per row lived in the request's arena until the end of the request, and
     * 10,000 rows x 256 columns took 500 MiB (issue 13). Fields are valid UTF-8 without NUL
     * (csv.h flags anything else as a record error, handled above). */
    for (size_t i = 0; i < h->n; i++) {
        const struct csv_field *f = &rec->fields[i];
        if (h->roles[i] != ROLE_META) {
            if ((values[h->roles[i]] = csv_columns_trimmed(f->data, f->len)) == NULL)
                goto out;
        } else if (f->len > 0) {
            json_writer_raw(&meta, meta.len == 0 ? "{" : ",");
            json_writer_string(&meta, h->names[i]);
            json_writer_raw(&meta, ":");
            json_writer_string(&meta, f->data);
        }
    }
    name = values[ROLE_NAME] && values[ROLE_NAME][0]
               ? strdup(values[ROLE_NAME])
               : csv_join_name(values[ROLE_FIRST], values[ROLE_LAST]);
    if (meta.len > 0) {
        json_writer_raw(&meta, "}");
        if ((metadata = json_writer_finish(&meta, NULL)) == NULL)
            goto out;
    }
    if (metadata != NULL && strlen(metadata) > IMPORTS_METADATA_MAX) {
        snprintf(reason, sizeof reason, "line %zu: metadata must be at most %d bytes of JSON",
                 rec->line, IMPORTS_METADATA_MAX);
        in->invalid_reason = strdup(reason);
        rc = in->invalid_reason ? 0 : -1;
        goto out;
    }
    rc = imports_row_fill(in, name, values[ROLE_PHONE], values[ROLE_LANGUAGE], metadata);
out:
    for (size_t i = 0; i < ROLE_COUNT; i++)
        free(values[i]);
    free(name);
    free(metadata);
    free(json_writer_finish(&meta, NULL));
    return rc;
}

/* The rows read so far, while csv_columns_each reads the body. */
struct imports_csv {
    Od__ContactInput *rows;
    size_t *line_of; /* per row, the line on which it starts */
    size_t n, cap;
};

/* Grows rows and line_of to hold at least n + 1 entries (new entries zeroed). 0 or -1. */
static int imports_csv_grow(struct imports_csv *c)
{
    size_t grown = c->cap ? c->cap * 2 : 256;
    Od__ContactInput *r;
    size_t *l;
    if (c->n + 1 <= c->cap)
        return 0;
    if (grown > IMPORTS_JSON_MAX_ROWS + 1)
        grown = IMPORTS_JSON_MAX_ROWS + 1;
    if ((r = realloc(c->rows, grown * sizeof *r)) == NULL)
        return -1;
    c->rows = r;
    if ((l = realloc(c->line_of, grown * sizeof *l)) == NULL)
        return -1;
    c->line_of = l;
    memset(r + c->cap, 0, (grown - c->cap) * sizeof *r);
    memset(l + c->cap, 0, (grown - c->cap) * sizeof *l);
    c->cap = grown;
    return 0;
}

static int imports_csv_record(void *arg, const struct csv_columns *h,
                              const struct csv_record *rec, char *err, size_t err_size)
{
    struct imports_csv *c = arg;
    if (c->n == IMPORTS_JSON_MAX_ROWS) {
        snprintf(err, err_size, "contacts must hold at most %d entries", IMPORTS_JSON_MAX_ROWS);
        return -1;
    }
    if (imports_csv_grow(c) != 0 || imports_csv_row(h, rec, &c->rows[c->n]) != 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    c->line_of[c->n] = rec->line;
    c->n++;
    return 0;
}

int imports_csv_contacts(const char *data, size_t len, Od__BulkUpsertRequest *out,
                         size_t **lines, char *err, size_t err_size)
{
    return imports_csv_contacts_problems(data, len, out, lines, NULL, err, err_size);
}

int imports_csv_contacts_problems(const char *data, size_t len, Od__BulkUpsertRequest *out,
                                  size_t **lines, struct body_problems *problems, char *err,
                                  size_t err_size)
{
    /* At most IMPORTS_CSV_MAX_COLUMNS columns: a wider header is refused, a wider record is a
     * row error (csv.h drops the extra fields as it reads them). */
    const struct csv_limits limits = {0, IMPORTS_CSV_MAX_COLUMNS};
    struct imports_csv c = {0};
    Od__ContactInput **ptrs;
    int rc = -1;

    od__bulk_upsert_request__init(out);
    if (lines != NULL)
        *lines = NULL;
    if (csv_columns_each_problems(data, len, &limits, &imports_csv_rules, imports_csv_record, &c,
                                  problems, err, err_size) != 0)
        goto out;
    if (c.n == 0) {
        snprintf(err, err_size, "contacts must not be empty: the CSV has no data rows");
        goto out;
    }
    /* The rows no longer move: point at them. The extra last pointer keeps the block. */
    if ((ptrs = calloc(c.n + 1, sizeof *ptrs)) == NULL) {
        snprintf(err, err_size, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < c.n; i++)
        ptrs[i] = &c.rows[i];
    ptrs[c.n] = c.rows;
    out->contacts = ptrs;
    out->n_contacts = c.n;
    if (lines != NULL) {
        *lines = c.line_of;
        c.line_of = NULL;
    }
    c.rows = NULL;
    rc = 0;
out:
    if (c.rows != NULL)
        for (size_t i = 0; i < c.n; i++)
            imports_json_row_free(&c.rows[i]);
    free(c.rows);
    free(c.line_of);
    return rc;
}
