/* lib/csv: RFC 4180 parsing, the edge cases customers' files have, and malformed input. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

/* Parses all of text (len bytes) and keeps the records as "a|b|c" strings with the error
 * appended as " !error". Returns the number of records, or -1 on a fatal error. */
#define MAX_RECORDS 16
static char got[MAX_RECORDS][512];
static size_t got_line[MAX_RECORDS];
static char fatal[200];

static int parse_n(const char *text, size_t len, const struct csv_limits *limits)
{
    struct csv_parser *p = csv_parser_new(text, len, limits);
    struct csv_record rec;
    int n = 0, rc;
    ck_assert_ptr_nonnull(p);
    memset(got, 0, sizeof got);
    fatal[0] = '\0';
    while ((rc = csv_parser_next(p, &rec)) == 1) {
        ck_assert_int_lt(n, MAX_RECORDS);
        ck_assert_uint_ge(rec.nfields, 1);
        size_t used = 0;
        for (size_t i = 0; i < rec.nfields; i++) {
            ck_assert_msg(rec.fields[i].data[rec.fields[i].len] == '\0', "field not terminated");
            used += (size_t)snprintf(got[n] + used, sizeof got[n] - used, "%s%.*s", i ? "|" : "",
                                     (int)rec.fields[i].len, rec.fields[i].data);
            if (used >= sizeof got[n] - 200) /* keep room for the error */
                used = sizeof got[n] - 200;
        }
        if (rec.error)
            snprintf(got[n] + used, sizeof got[n] - used, " !%s", rec.error);
        got_line[n] = rec.line;
        n++;
    }
    if (rc < 0) {
        snprintf(fatal, sizeof fatal, "%s", csv_parser_error(p));
        ck_assert_int_eq(csv_parser_next(p, &rec), -1); /* stays failed */
        n = -1;
    }
    csv_parser_free(p);
    return n;
}

static int parse(const char *text)
{
    return parse_n(text, strlen(text), NULL);
}

START_TEST(simple_lf_and_crlf)
{
    ck_assert_int_eq(parse("a,b,c\n1,2,3\n"), 2);
    ck_assert_str_eq(got[0], "a|b|c");
    ck_assert_str_eq(got[1], "1|2|3");
    ck_assert_int_eq(parse("a,b\r\n1,2\r\n"), 2);
    ck_assert_str_eq(got[1], "1|2");
    ck_assert_int_eq(parse("a,b\r\n1,2\n3,4\r5,6"), 4); /* mixed, lone CR, no final newline */
    ck_assert_str_eq(got[2], "3|4");
    ck_assert_str_eq(got[3], "5|6");
    ck_assert_uint_eq(got_line[3], 4);
}
END_TEST

START_TEST(quoted_fields)
{
    ck_assert_int_eq(parse("\"a,b\",\"say \"\"hi\"\"\",\"\"\n"), 1);
    ck_assert_str_eq(got[0], "a,b|say \"hi\"|");
    /* Newlines inside quotes, LF and CRLF, are data; lines still count. */
    ck_assert_int_eq(parse("\"one\ntwo\",x\r\n\"three\r\nfour\",y\nz,w\n"), 3);
    ck_assert_str_eq(got[0], "one\ntwo|x");
    ck_assert_str_eq(got[1], "three\r\nfour|y");
    ck_assert_uint_eq(got_line[0], 1);
    ck_assert_uint_eq(got_line[1], 3);
    ck_assert_uint_eq(got_line[2], 5);
    ck_assert_int_eq(parse("\"\"\"\"\n"), 1); /* a field holding one quote */
    ck_assert_str_eq(got[0], "\"");
}
END_TEST

START_TEST(empty_fields_and_lines)
{
    ck_assert_int_eq(parse(",,\n"), 1);
    ck_assert_str_eq(got[0], "||");
    ck_assert_int_eq(parse("a,\n"), 1); /* a trailing comma is an empty last field */
    ck_assert_str_eq(got[0], "a|");
    ck_assert_int_eq(parse("\n\r\n\na\n\n\nb\n\n"), 2); /* empty lines are not records */
    ck_assert_str_eq(got[0], "a");
    ck_assert_uint_eq(got_line[0], 4);
    ck_assert_uint_eq(got_line[1], 7);
    ck_assert_int_eq(parse(""), 0);
    ck_assert_int_eq(parse("\r\n"), 0);
}
END_TEST

START_TEST(byte_order_mark)
{
    ck_assert_int_eq(parse("\xEF\xBB\xBFphone,name\n"), 1);
    ck_assert_str_eq(got[0], "phone|name");
    ck_assert_int_eq(parse("\xEF\xBB\xBF\"phone\"\n"), 1);
    ck_assert_str_eq(got[0], "phone");
    /* Only at the very start. */
    ck_assert_int_eq(parse("a\n\xEF\xBB\xBF" "b\n"), 2);
    ck_assert_str_eq(got[1], "\xEF\xBB\xBF" "b");
    ck_assert_int_eq(parse("\xEF\xBB\xBF"), 0);
}
END_TEST

START_TEST(ragged_rows_are_returned_as_is)
{
    ck_assert_int_eq(parse("a,b,c\n1,2\n1,2,3,4\n"), 3);
    ck_assert_str_eq(got[1], "1|2");
    ck_assert_str_eq(got[2], "1|2|3|4");
}
END_TEST

START_TEST(unterminated_quote_is_fatal)
{
    ck_assert_int_eq(parse("a,b\n1,\"open\n2,3\n"), -1);
    ck_assert_str_eq(fatal, "unterminated quoted field (opened on line 2)");
    ck_assert_int_eq(parse("\""), -1);
    ck_assert_int_eq(parse("\"abc\"\"\n"), -1); /* the last quote is escaped, not closing */
}
END_TEST

START_TEST(quote_in_unquoted_field)
{
    ck_assert_int_eq(parse("ab\"c,d\nnext\n"), 2);
    ck_assert_str_eq(got[0], "ab\"c|d !column 1 has a quote inside an unquoted field");
    ck_assert_str_eq(got[1], "next");
    ck_assert_int_eq(parse("\"ab\"c,d\n"), 1);
    ck_assert_str_eq(got[0], "abc|d !column 1 has characters after its closing quote");
    ck_assert_int_eq(parse("x,\"a\" \n"), 1);
    ck_assert_str_eq(got[0], "x|a  !column 2 has characters after its closing quote");
}
END_TEST

START_TEST(nul_bytes)
{
    static const char text[] = "a,b\x00" "c\nd\n";
    ck_assert_int_eq(parse_n(text, sizeof text - 1, NULL), 2);
    ck_assert_msg(strstr(got[0], "!column 2 contains a NUL byte") != NULL, "%s", got[0]);
    ck_assert_str_eq(got[1], "d");
    static const char quoted[] = "\"\x00\"\n";
    ck_assert_int_eq(parse_n(quoted, sizeof quoted - 1, NULL), 1);
    ck_assert_msg(strstr(got[0], "NUL byte") != NULL, "%s", got[0]);
}
END_TEST

START_TEST(oversize_field_and_columns)
{
    struct csv_limits limits = {8, 3};
    ck_assert_int_eq(parse_n("12345678,123456789\nok\n", 22, &limits), 2);
    ck_assert_str_eq(got[0], "12345678|12345678 !column 2 is longer than 8 bytes");
    ck_assert_str_eq(got[1], "ok");
    ck_assert_int_eq(parse_n("\"123456789\"\n", 12, &limits), 1);
    ck_assert_str_eq(got[0], "12345678 !column 1 is longer than 8 bytes");
    ck_assert_int_eq(parse_n("a,b,c,d,e\nf\n", 12, &limits), 2);
    ck_assert_str_eq(got[0], "a|b|c !more than 3 columns");
    ck_assert_str_eq(got[1], "f");
    /* The defaults hold a big field. */
    size_t big = CSV_FIELD_MAX_DEFAULT + 10;
    char *text = malloc(big + 2);
    memset(text, 'x', big);
    text[big] = '\n';
    text[big + 1] = '\0';
    ck_assert_int_eq(parse_n(text, big + 1, NULL), 1);
    ck_assert_msg(strstr(got[0], "longer than 65536 bytes") != NULL, "oversize not flagged");
    free(text);
}
END_TEST

START_TEST(utf8)
{
    ck_assert_int_eq(parse("Zürich,東京,😀\n"), 1);
    ck_assert_str_eq(got[0], "Zürich|東京|😀");
    ck_assert_int_eq(parse("ok,\xC3\x28\n"), 1);
    ck_assert_str_eq(got[0], "ok|\xC3\x28 !column 2 is not valid UTF-8");
    ck_assert(!csv_utf8_valid("\xC0\x80", 2));         /* overlong NUL */
    ck_assert(!csv_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    ck_assert(!csv_utf8_valid("\xF4\x90\x80\x80", 4)); /* past U+10FFFF */
    ck_assert(!csv_utf8_valid("\xE2\x82", 2));         /* truncated */
    ck_assert(csv_utf8_valid("\xE2\x82\xAC", 3));      /* € */
    ck_assert(csv_utf8_valid("", 0));
}
END_TEST

static Suite *csv_suite(void)
{
    Suite *s = suite_create("csv");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, simple_lf_and_crlf);
    tcase_add_test(tc, quoted_fields);
    tcase_add_test(tc, empty_fields_and_lines);
    tcase_add_test(tc, byte_order_mark);
    tcase_add_test(tc, ragged_rows_are_returned_as_is);
    tcase_add_test(tc, unterminated_quote_is_fatal);
    tcase_add_test(tc, quote_in_unquoted_field);
    tcase_add_test(tc, nul_bytes);
    tcase_add_test(tc, oversize_field_and_columns);
    tcase_add_test(tc, utf8);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(csv_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
