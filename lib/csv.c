#include "csv.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct csv_span {
    size_t start; /* offset into buf */
    size_t len;
};

struct csv_parser {
    const char *data;
    size_t len;
    size_t pos;
    size_t line;
    struct csv_limits limits;
    char *buf; /* the current record's unescaped fields, each followed by a NUL */
    size_t buf_len, buf_cap;
    struct csv_span *spans; /* max_columns of them */
    struct csv_field *fields;
    char record_error[160];
    char fatal[160];
};

struct csv_parser *csv_parser_new(const char *data, size_t len, const struct csv_limits *limits)
{
    struct csv_parser *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->data = data;
    p->len = data ? len : 0;
    p->line = 1;
    p->limits.max_field_bytes = limits && limits->max_field_bytes ? limits->max_field_bytes
                                                                  : CSV_FIELD_MAX_DEFAULT;
    p->limits.max_columns =
        limits && limits->max_columns ? limits->max_columns : CSV_COLUMNS_MAX_DEFAULT;
    p->spans = calloc(p->limits.max_columns, sizeof *p->spans);
    p->fields = calloc(p->limits.max_columns, sizeof *p->fields);
    if (p->spans == NULL || p->fields == NULL) {
        csv_parser_free(p);
        return NULL;
    }
    /* A UTF-8 byte-order mark is not part of the first field. */
    if (p->len >= 3 && memcmp(p->data, "\xEF\xBB\xBF", 3) == 0)
        p->pos = 3;
    return p;
}

void csv_parser_free(struct csv_parser *p)
{
    if (p == NULL)
        return;
    free(p->buf);
    free(p->spans);
    free(p->fields);
    free(p);
}

const char *csv_parser_error(const struct csv_parser *p)
{
    return p->fatal;
}

/* Keeps the first reason a record is malformed. */
static void csv_flag(struct csv_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void csv_flag(struct csv_parser *p, const char *fmt, ...)
{
    va_list ap;
    if (p->record_error[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(p->record_error, sizeof p->record_error, fmt, ap);
    va_end(ap);
}

static int csv_reserve(struct csv_parser *p, size_t more)
{
    size_t cap;
    char *grown;
    if (p->buf_len + more <= p->buf_cap)
        return 0;
    cap = p->buf_cap ? p->buf_cap : 1024;
    while (cap < p->buf_len + more)
        cap *= 2;
    if ((grown = realloc(p->buf, cap)) == NULL)
        return -1;
    p->buf = grown;
    p->buf_cap = cap;
    return 0;
}

int csv_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = u[i];
        size_t need;
        unsigned cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            need = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (len - i <= need)
            return 0;
        for (size_t k = 1; k <= need; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (u[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += need + 1;
    }
    return 1;
}

/* State of the field being read. */
struct csv_cursor {
    size_t start; /* offset in buf */
    size_t len;
    bool too_long;
};

static int csv_put(struct csv_parser *p, struct csv_cursor *f, char c, size_t column)
{
    if (f->len >= p->limits.max_field_bytes) {
        if (!f->too_long)
            csv_flag(p, "column %zu is longer than %zu bytes", column,
                     p->limits.max_field_bytes);
        f->too_long = true;
        return 0;
    }
    if (c == '\0')
        csv_flag(p, "column %zu contains a NUL byte", column);
    if (csv_reserve(p, 2) != 0)
        return -1;
    p->buf[p->buf_len++] = c;
    f->len++;
    return 0;
}

static bool csv_at_end_of_field(const struct csv_parser *p)
{
    return p->pos >= p->len || p->data[p->pos] == ',' || p->data[p->pos] == '\n' ||
           p->data[p->pos] == '\r';
}

/* Reads one field starting at pos; leaves pos on the delimiter, line end or end of data.
 * 0, or -1 on a fatal error (fatal filled) or out of memory. */
static int csv_read_field(struct csv_parser *p, struct csv_cursor *f, size_t column)
{
    if (p->pos < p->len && p->data[p->pos] == '"') {
        size_t opened = p->line;
        p->pos++;
        for (;;) {
            if (p->pos >= p->len) {
                snprintf(p->fatal, sizeof p->fatal,
                         "unterminated quoted field (opened on line %zu)", opened);
                return -1;
            }
            char c = p->data[p->pos];
            if (c == '"') {
                if (p->pos + 1 < p->len && p->data[p->pos + 1] == '"') {
                    if (csv_put(p, f, '"', column) != 0)
                        return -1;
                    p->pos += 2;
                    continue;
                }
                p->pos++;
                break;
            }
            if (c == '\n' || (c == '\r' && (p->pos + 1 >= p->len || p->data[p->pos + 1] != '\n')))
                p->line++;
            if (csv_put(p, f, c, column) != 0)
                return -1;
            p->pos++;
        }
        if (!csv_at_end_of_field(p))
            csv_flag(p, "column %zu has characters after its closing quote", column);
    }
    /* Unquoted text (or what trails a closing quote): up to the next delimiter. */
    while (!csv_at_end_of_field(p)) {
        char c = p->data[p->pos];
        if (c == '"')
            csv_flag(p, "column %zu has a quote inside an unquoted field", column);
        if (csv_put(p, f, c, column) != 0)
            return -1;
        p->pos++;
    }
    return 0;
}

int csv_parser_next(struct csv_parser *p, struct csv_record *rec)
{
    size_t nfields = 0, column = 0;

    memset(rec, 0, sizeof *rec);
    if (p->fatal[0] != '\0')
        return -1;
    /* Empty lines are not records. */
    while (p->pos < p->len && (p->data[p->pos] == '\n' || p->data[p->pos] == '\r')) {
        if (p->data[p->pos] == '\r' && p->pos + 1 < p->len && p->data[p->pos + 1] == '\n')
            p->pos++;
        p->pos++;
        p->line++;
    }
    if (p->pos >= p->len)
        return 0;

    p->buf_len = 0;
    p->record_error[0] = '\0';
    rec->line = p->line;
    for (;;) {
        struct csv_cursor f = {p->buf_len, 0, false};
        column++;
        if (csv_read_field(p, &f, column) != 0) {
            if (p->fatal[0] == '\0')
                snprintf(p->fatal, sizeof p->fatal, "out of memory");
            return -1;
        }
        if (csv_reserve(p, 1) != 0) {
            snprintf(p->fatal, sizeof p->fatal, "out of memory");
            return -1;
        }
        p->buf[p->buf_len++] = '\0';
        if (!csv_utf8_valid(p->buf + f.start, f.len))
            csv_flag(p, "column %zu is not valid UTF-8", column);
        if (nfields < p->limits.max_columns) {
            p->spans[nfields].start = f.start;
            p->spans[nfields].len = f.len;
            nfields++;
        } else {
            csv_flag(p, "more than %zu columns", p->limits.max_columns);
            p->buf_len = f.start; /* dropped */
        }
        if (p->pos < p->len && p->data[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len) { /* a line end */
            if (p->data[p->pos] == '\r' && p->pos + 1 < p->len && p->data[p->pos + 1] == '\n')
                p->pos++;
            p->pos++;
            p->line++;
        }
        break;
    }
    for (size_t i = 0; i < nfields; i++) {
        p->fields[i].data = p->buf + p->spans[i].start;
        p->fields[i].len = p->spans[i].len;
    }
    rec->fields = p->fields;
    rec->nfields = nfields;
    rec->error = p->record_error[0] ? p->record_error : NULL;
    return 1;
}
