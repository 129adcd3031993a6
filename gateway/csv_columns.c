#include "csv_columns.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body_problems.h"

bool csv_columns_key(const char *name, char *key, size_t size)
{
    size_t n = 0;
    for (const char *p = name; *p; p++) {
        if (*p == ' ' || *p == '_' || *p == '-' || *p == '\t')
            continue;
        if (n + 1 >= size)
            return false;
        key[n++] = (char)tolower((unsigned char)*p);
    }
    key[n] = '\0';
    return true;
}

char *csv_columns_trimmed(const char *s, size_t len)
{
    while (len > 0 && isspace((unsigned char)s[0]))
        s++, len--;
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    return strndup(s, len);
}

char *csv_join_name(const char *first, const char *last)
{
    char *out;
    first = first ? first : "";
    last = last ? last : "";
    if (first[0] == '\0' && last[0] == '\0')
        return NULL;
    if (asprintf(&out, "%s%s%s", first, first[0] && last[0] ? " " : "", last) < 0)
        return NULL;
    return out;
}

bool csv_record_blank(const struct csv_record *rec)
{
    for (size_t i = 0; i < rec->nfields; i++)
        if (rec->fields[i].len > 0)
            return false;
    return rec->error == NULL;
}

void csv_columns_free(struct csv_columns *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->names[i]);
    free(h->names);
    free(h->roles);
    memset(h, 0, sizeof *h);
}

/* One problem of the header: added to p when collecting (every problem is listed), and the
 * first written into err. */
static void csv_columns_problem(struct body_problems *p, char *err, size_t err_size,
                                bool *first, const char *message)
{
    if (*first)
        snprintf(err, err_size, "%s", message);
    *first = false;
    if (p != NULL)
        body_problems_add(p, "", "%s", message);
}

/* The header's problem with column i, if any (see csv_columns_problem); -1 when there is one. */
static int csv_columns_check(const struct csv_column_rules *rules, struct csv_columns *h,
                             size_t i, struct body_problems *p, char *err, size_t err_size,
                             bool *first)
{
    char message[256];
    if (h->names[i][0] == '\0') {
        snprintf(message, sizeof message, "CSV header: column %zu has no name", i + 1);
        csv_columns_problem(p, err, err_size, first, message);
        return -1;
    }
    h->roles[i] = rules->role_of(h->names[i]);
    for (size_t k = 0; k < i; k++) {
        bool same = (rules->unique_roles & (1u << h->roles[i])) != 0
                        ? h->roles[i] == h->roles[k]
                        : strcmp(h->names[i], h->names[k]) == 0;
        if (same) {
            snprintf(message, sizeof message, "CSV header: columns %zu and %zu are both \"%.64s\"",
                     k + 1, i + 1, h->names[i]);
            csv_columns_problem(p, err, err_size, first, message);
            return -1;
        }
    }
    return 0;
}

/* csv_columns_read; with p, every problem of the header is added to p (up to a bound), not
 * only the first. */
static int csv_columns_read_problems(const struct csv_record *rec,
                                     const struct csv_column_rules *rules, struct csv_columns *h,
                                     struct body_problems *p, char *err, size_t err_size)
{
    bool required = false, first = true;
    memset(h, 0, sizeof *h);
    if (rec->error != NULL) {
        snprintf(err, err_size, "CSV header (line %zu): %s", rec->line, rec->error);
        return -1;
    }
    h->names = calloc(rec->nfields, sizeof *h->names);
    h->roles = calloc(rec->nfields, sizeof *h->roles);
    if (h->names == NULL || h->roles == NULL) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    h->n = rec->nfields;
    for (size_t i = 0; i < h->n; i++) {
        if ((h->names[i] = csv_columns_trimmed(rec->fields[i].data, rec->fields[i].len)) == NULL) {
            snprintf(err, err_size, "out of memory");
            goto fail;
        }
        if (csv_columns_check(rules, h, i, p, err, err_size, &first) != 0 &&
            (p == NULL || p->count >= CSV_COLUMNS_PROBLEMS_MAX))
            goto fail;
        required = required || h->roles[i] == rules->required_role;
    }
    if (!required)
        csv_columns_problem(p, err, err_size, &first, rules->missing_required);
    if (!first)
        goto fail;
    return 0;
fail:
    csv_columns_free(h);
    return -1;
}

int csv_columns_read(const struct csv_record *rec, const struct csv_column_rules *rules,
                     struct csv_columns *h, char *err, size_t err_size)
{
    return csv_columns_read_problems(rec, rules, h, NULL, err, err_size);
}

bool csv_columns_bad_record(const struct csv_columns *h, const struct csv_record *rec,
                            char *reason, size_t reason_size)
{
    if (rec->error != NULL)
        snprintf(reason, reason_size, "line %zu: %s", rec->line, rec->error);
    else if (rec->nfields != h->n)
        snprintf(reason, reason_size, "line %zu: has %zu fields, the header has %zu", rec->line,
                 rec->nfields, h->n);
    else
        return false;
    return true;
}

char *csv_columns_value_of(const struct csv_columns *h, const struct csv_record *rec, int role)
{
    for (size_t i = 0; i < h->n && i < rec->nfields; i++)
        if (h->roles[i] == role && rec->fields[i].len > 0 && rec->fields[i].len <= 64 &&
            csv_utf8_valid(rec->fields[i].data, rec->fields[i].len))
            return csv_columns_trimmed(rec->fields[i].data, rec->fields[i].len);
    return NULL;
}

int csv_columns_each(const char *data, size_t len, const struct csv_limits *limits,
                     const struct csv_column_rules *rules, csv_columns_row_fn row, void *arg,
                     char *err, size_t err_size)
{
    return csv_columns_each_problems(data, len, limits, rules, row, arg, NULL, err, err_size);
}

int csv_columns_each_problems(const char *data, size_t len, const struct csv_limits *limits,
                              const struct csv_column_rules *rules, csv_columns_row_fn row,
                              void *arg, struct body_problems *problems, char *err,
                              size_t err_size)
{
    struct csv_parser *p = csv_parser_new(data, len, limits);
    struct csv_columns header = {0};
    struct csv_record rec;
    int got, rc = -1;

    if (p == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    if ((got = csv_parser_next(p, &rec)) <= 0) {
        snprintf(err, err_size, "%s", got < 0 ? csv_parser_error(p) : "CSV body is empty");
        goto out;
    }
    if (csv_columns_read_problems(&rec, rules, &header, problems, err, err_size) != 0)
        goto out;
    while ((got = csv_parser_next(p, &rec)) > 0) {
        if (csv_record_blank(&rec))
            continue;
        if (row(arg, &header, &rec, err, err_size) != 0)
            goto out;
    }
    if (got < 0) {
        snprintf(err, err_size, "malformed CSV: %s", csv_parser_error(p));
        goto out;
    }
    rc = 0;
out:
    csv_columns_free(&header);
    csv_parser_free(p);
    return rc;
}
