/* An RFC 4180 CSV parser over a buffer held in memory (an HTTP body, an uploaded file).
 *
 * Accepts: fields separated by ','; records ended by CRLF, LF or a lone CR; fields quoted with
 * '"' that may hold ',', CR, LF and '""' (one quote); a UTF-8 byte-order mark at the very
 * start (skipped); a last record without a line ending. Empty lines (no characters at all)
 * are skipped and are not records.
 *
 * Malformed records are returned with `error` set, so a caller can report the row and go on:
 * a quote inside an unquoted field or characters after a closing quote (kept literally),
 * a NUL byte, a field that is not valid UTF-8, a field longer than max_field_bytes (cut
 * short), more than max_columns fields (the extra ones dropped). Only a quoted field that is
 * never closed is fatal: after it nothing can be resynchronised, so csv_parser_next returns
 * -1 and csv_parser_error says why and on which line it opened.
 *
 * Memory: the parser copies nothing of the input until a record is asked for; a record's
 * fields live in the parser and stay valid until the next csv_parser_next or csv_parser_free.
 * Each field is NUL-terminated at data[len] (a NUL inside it is flagged as an error). */
#ifndef OD_CSV_H
#define OD_CSV_H

#include <stddef.h>

#define CSV_FIELD_MAX_DEFAULT 65536 /* bytes of one field */
#define CSV_COLUMNS_MAX_DEFAULT 256

struct csv_limits {
    size_t max_field_bytes; /* 0: CSV_FIELD_MAX_DEFAULT */
    size_t max_columns;     /* 0: CSV_COLUMNS_MAX_DEFAULT */
};

struct csv_field {
    const char *data; /* NUL-terminated at data[len] */
    size_t len;
};

struct csv_record {
    const struct csv_field *fields;
    size_t nfields;    /* at least 1 */
    size_t line;       /* 1-based line on which the record starts */
    const char *error; /* NULL, or the first reason the record is malformed */
};

struct csv_parser;

/* data must outlive the parser. limits may be NULL (defaults). NULL when out of memory. */
struct csv_parser *csv_parser_new(const char *data, size_t len, const struct csv_limits *limits);
/* 1: *rec holds the next record; 0: no more records; -1: fatal error (csv_parser_error). */
int csv_parser_next(struct csv_parser *p, struct csv_record *rec);
/* Why csv_parser_next returned -1 ("" before that). */
const char *csv_parser_error(const struct csv_parser *p);
void csv_parser_free(struct csv_parser *p);

/* 1 when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF). */
int csv_utf8_valid(const char *s, size_t len);

#endif
