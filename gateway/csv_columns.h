/* CSV uploads read as rows of named columns: the header (trimmed names, each given a role by
 * the caller), then each non-blank record handed to the caller, which turns it into its own
 * object (a contact, a lead). Used by leads_json.c and imports_csv.c.
 *
 * Memory: struct csv_columns is heap (csv_columns_free); csv_columns_trimmed and
 * csv_join_name return malloc'd text the caller frees. */
#ifndef OD_GATEWAY_CSV_COLUMNS_H
#define OD_GATEWAY_CSV_COLUMNS_H

#include <stdbool.h>
#include <stddef.h>

#include "csv.h"

/* How a caller reads a header. Role 0 is a free column (metadata, a variable). */
struct csv_column_rules {
    int (*role_of)(const char *name); /* the role of a trimmed header name */
    unsigned unique_roles;            /* bit r: at most one column of role r; two columns of
                                         any other role clash only when their names are equal */
    int required_role;                /* the header must have a column of this role... */
    const char *missing_required;     /* ...or is refused with this message */
};

struct csv_columns {
    size_t n;
    char **names; /* trimmed header text */
    int *roles;
};

/* A header name as a key to classify it by: lowered, without blanks, '_' and '-'
 * ("Phone Number" -> "phonenumber"). False when the key does not fit in `size` bytes (no
 * role has such a long name: a free column). */
bool csv_columns_key(const char *name, char *key, size_t size);
/* A copy of s without surrounding blanks (malloc'd), NULL when out of memory. */
char *csv_columns_trimmed(const char *s, size_t len);
/* "first last", either may be missing or NULL; malloc'd, NULL when both are empty. */
char *csv_join_name(const char *first, const char *last);
/* True for a record with no text in any field (and no error): skipped, not a row. */
bool csv_record_blank(const struct csv_record *rec);

/* Reads the header record into h: every column named, no clash (rules), the required role
 * present. 0, or -1 with err written and h empty. */
int csv_columns_read(const struct csv_record *rec, const struct csv_column_rules *rules,
                     struct csv_columns *h, char *err, size_t err_size);
void csv_columns_free(struct csv_columns *h);

/* True when a data record cannot be read as a row (a parse error, or a field count other than
 * the header's), with the reason ("line N: ...") written. */
bool csv_columns_bad_record(const struct csv_columns *h, const struct csv_record *rec,
                            char *reason, size_t reason_size);
/* The trimmed text of the record's first non-empty column of `role` when it is valid UTF-8 of
 * at most 64 bytes (to name a bad row by), malloc'd; NULL otherwise or when out of memory. */
char *csv_columns_value_of(const struct csv_columns *h, const struct csv_record *rec, int role);

/* Called for each non-blank data record, in order: 0 to go on, -1 to stop (err written). */
typedef int (*csv_columns_row_fn)(void *arg, const struct csv_columns *h,
                                  const struct csv_record *rec, char *err, size_t err_size);

/* Parses a CSV body (limits may be NULL): the header under rules, then row() for each
 * non-blank record. 0, or -1 with err written: the body is empty, the header is refused,
 * the CSV is malformed, row() stopped, or out of memory. */
int csv_columns_each(const char *data, size_t len, const struct csv_limits *limits,
                     const struct csv_column_rules *rules, csv_columns_row_fn row, void *arg,
                     char *err, size_t err_size);
/* The same; with problems (may be NULL), every problem of the header is added to it (field
 * "", up to CSV_COLUMNS_PROBLEMS_MAX), not only the first, which err still receives. Other
 * failures (empty, malformed, row() stopped) add nothing. */
#define CSV_COLUMNS_PROBLEMS_MAX 100
struct body_problems;
int csv_columns_each_problems(const char *data, size_t len, const struct csv_limits *limits,
                              const struct csv_column_rules *rules, csv_columns_row_fn row,
                              void *arg, struct body_problems *problems, char *err,
                              size_t err_size);

#endif
