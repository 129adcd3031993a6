/* lib/ids: prefixed random ids, time-ordered ids, random strings and the shape check. */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ids.h"
#include "timefmt.h"

#define MANY_IDS 10000

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int is_base62(char c)
{
    return c != '\0' && strchr(base62, c) != NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Value of the 8 time characters of an ordered id. */
static int64_t decode_base62(const char *s, size_t n)
{
    int64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 62 + (int64_t)(strchr(base62, s[i]) - base62);
    return v;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

START_TEST(new_has_prefix_length_and_charset)
{
    char buf[IDS_MAX_LEN];
    ck_assert_ptr_eq(ids_new("cid_", buf, sizeof buf), buf);
    ck_assert_uint_eq(strlen(buf), 4 + IDS_RANDOM_CHARS);
    ck_assert_int_eq(strncmp(buf, "cid_", 4), 0);
    for (size_t i = 4; i < strlen(buf); i++)
        ck_assert_msg(is_base62(buf[i]), "char %zu of %s is not base62", i, buf);
    ck_assert_int_eq(ids_valid("cid_", buf), 1);
}
END_TEST

START_TEST(new_with_empty_prefix)
{
    char buf[IDS_RANDOM_CHARS + 1]; /* exactly enough */
    ids_new("", buf, sizeof buf);
    ck_assert_uint_eq(strlen(buf), IDS_RANDOM_CHARS);
    ck_assert_int_eq(ids_valid("", buf), 1);
}
END_TEST

START_TEST(new_is_unique_over_10000)
{
    char *ids[MANY_IDS];
    for (int i = 0; i < MANY_IDS; i++) {
        ids[i] = malloc(IDS_MAX_LEN);
        ck_assert_ptr_nonnull(ids[i]);
        ids_new("cid_", ids[i], IDS_MAX_LEN);
    }
    qsort(ids, MANY_IDS, sizeof ids[0], cmp_str);
    for (int i = 1; i < MANY_IDS; i++)
        ck_assert_str_ne(ids[i - 1], ids[i]);
    for (int i = 0; i < MANY_IDS; i++)
        free(ids[i]);
}
END_TEST

/* 10,000 ids x 22 chars = 220,000 draws, about 3,548 per symbol (sd ~59). Without rejection
 * sampling the first 8 symbols would get ~25% more (~4,435), far outside the bounds. */
START_TEST(new_uses_whole_alphabet_without_bias)
{
    long counts[62] = {0};
    char buf[IDS_MAX_LEN];
    for (int i = 0; i < MANY_IDS; i++) {
        ids_new("", buf, sizeof buf);
        for (int j = 0; j < IDS_RANDOM_CHARS; j++)
            counts[strchr(base62, buf[j]) - base62]++;
    }
    for (int k = 0; k < 62; k++)
        ck_assert_msg(counts[k] > 3100 && counts[k] < 4000, "symbol '%c' drawn %ld times",
                      base62[k], counts[k]);
}
END_TEST

START_TEST(ordered_has_prefix_length_and_time)
{
    char buf[IDS_MAX_LEN];
    int64_t before = time_now_ms();
    ck_assert_ptr_eq(ids_new_ordered("cmp_", buf, sizeof buf), buf);
    int64_t after = time_now_ms();
    ck_assert_uint_eq(strlen(buf), 4 + IDS_RANDOM_CHARS);
    ck_assert_int_eq(strncmp(buf, "cmp_", 4), 0);
    for (size_t i = 4; i < strlen(buf); i++)
        ck_assert_msg(is_base62(buf[i]), "char %zu of %s is not base62", i, buf);
    int64_t encoded = decode_base62(buf + 4, 8);
    ck_assert_int_ge(encoded, before);
    ck_assert_int_le(encoded, after);
    ck_assert_int_eq(ids_valid("cmp_", buf), 1);
}
END_TEST

START_TEST(ordered_sort_in_creation_order)
{
    char prev[IDS_MAX_LEN], cur[IDS_MAX_LEN];
    ids_new_ordered("cid_", prev, sizeof prev);
    for (int i = 0; i < 20; i++) {
        sleep_ms(2);
        ids_new_ordered("cid_", cur, sizeof cur);
        ck_assert_msg(strcmp(prev, cur) < 0, "%s does not sort before %s", prev, cur);
        memcpy(prev, cur, sizeof cur);
    }
}
END_TEST

/* Back to back, many per millisecond: still strictly in creation order. */
START_TEST(ordered_sort_within_a_millisecond)
{
    char prev[IDS_MAX_LEN], cur[IDS_MAX_LEN];
    ids_new_ordered("cid_", prev, sizeof prev);
    for (int i = 0; i < 100000; i++) {
        ids_new_ordered("cid_", cur, sizeof cur);
        ck_assert_msg(strcmp(prev, cur) < 0, "%s does not sort before %s", prev, cur);
        ck_assert_uint_eq(strlen(cur), strlen(prev));
        memcpy(prev, cur, sizeof cur);
    }
}
END_TEST

START_TEST(ordered_is_unique_within_a_millisecond)
{
    char *ids[MANY_IDS];
    for (int i = 0; i < MANY_IDS; i++) {
        ids[i] = malloc(IDS_MAX_LEN);
        ck_assert_ptr_nonnull(ids[i]);
        ids_new_ordered("cid_", ids[i], IDS_MAX_LEN);
    }
    qsort(ids, MANY_IDS, sizeof ids[0], cmp_str);
    for (int i = 1; i < MANY_IDS; i++)
        ck_assert_str_ne(ids[i - 1], ids[i]);
    for (int i = 0; i < MANY_IDS; i++)
        free(ids[i]);
}
END_TEST

/* Ids minted in one millisecond are not "previous + 1": after the 8 time and 3 sequence
 * characters, each carries 11 fresh random characters. Two ids of the same millisecond must
 * differ in their random part in more than its last character, and the random parts must not
 * be guessable from each other: over many same-millisecond pairs, each random position
 * differs most of the time (61/62 for independent characters). */
START_TEST(ordered_random_part_is_fresh_within_a_millisecond)
{
    char prev[IDS_MAX_LEN], cur[IDS_MAX_LEN];
    const size_t head = 4 + 8 + 3, random_chars = IDS_RANDOM_CHARS - 8 - 3;
    int pairs = 0, differing[IDS_RANDOM_CHARS] = {0};
    ids_new_ordered("cid_", prev, sizeof prev);
    for (int i = 0; i < 20000; i++) {
        ids_new_ordered("cid_", cur, sizeof cur);
        if (memcmp(prev + 4, cur + 4, 8) == 0) { /* the same millisecond */
            ck_assert_msg(strcmp(prev, cur) < 0, "%s does not sort before %s", prev, cur);
            ck_assert_msg(memcmp(prev + head, cur + head, random_chars - 1) != 0,
                          "%s and %s differ only in their last character", prev, cur);
            for (size_t k = 0; k < random_chars; k++)
                differing[k] += prev[head + k] != cur[head + k];
            pairs++;
        }
        memcpy(prev, cur, sizeof cur);
    }
    ck_assert_int_gt(pairs, 100); /* 20,000 ids take a few milliseconds at most */
    for (size_t k = 0; k < random_chars; k++)
        ck_assert_msg(differing[k] > pairs * 9 / 10, "random char %zu repeats: %d of %d", k,
                      differing[k], pairs);
}
END_TEST

START_TEST(random_string_lengths)
{
    static const size_t lengths[] = {0, 1, 22, 32, 43, 60};
    char buf[128];
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        memset(buf, 'X', sizeof buf);
        ck_assert_ptr_eq(ids_random_string("sk_live_", lengths[k], buf, sizeof buf), buf);
        ck_assert_uint_eq(strlen(buf), 8 + lengths[k]);
        ck_assert_int_eq(strncmp(buf, "sk_live_", 8), 0);
        for (size_t i = 8; i < 8 + lengths[k]; i++)
            ck_assert(is_base62(buf[i]));
    }
}
END_TEST

START_TEST(random_string_exact_fit)
{
    char buf[4 + 10 + 1];
    memset(buf, 'X', sizeof buf);
    ids_random_string("key_", 10, buf, sizeof buf);
    ck_assert_uint_eq(strlen(buf), 14);
    ck_assert_int_eq(buf[14], '\0');
}
END_TEST

START_TEST(random_string_buffer_too_small_aborts)
{
    char buf[14]; /* needs 15 */
    ids_random_string("key_", 10, buf, sizeof buf);
}
END_TEST

START_TEST(new_buffer_too_small_aborts)
{
    char buf[4 + IDS_RANDOM_CHARS]; /* no room for the NUL */
    ids_new("cid_", buf, sizeof buf);
}
END_TEST

START_TEST(random_bytes_fill_and_differ)
{
    unsigned char a[32], b[32], zero[32] = {0};
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    ids_random_bytes(a, sizeof a);
    ids_random_bytes(b, sizeof b);
    ck_assert_int_ne(memcmp(a, b, sizeof a), 0);
    ck_assert_int_ne(memcmp(a, zero, sizeof a), 0);
    ids_random_bytes(a, 0); /* nothing to do, must not crash */
}
END_TEST

START_TEST(random_bytes_large_request)
{
    size_t n = 1 << 20;
    unsigned char *buf = calloc(1, n);
    size_t zeros = 0;
    ck_assert_ptr_nonnull(buf);
    ids_random_bytes(buf, n);
    for (size_t i = 0; i < n; i++)
        zeros += buf[i] == 0;
    /* expected 4096 zero bytes; an unfilled tail would give far more */
    ck_assert_uint_lt(zeros, 5000);
    free(buf);
}
END_TEST

START_TEST(valid_accepts_good_ids)
{
    ck_assert_int_eq(ids_valid("cid_", "cid_a"), 1);
    ck_assert_int_eq(ids_valid("cid_", "cid_AbC123"), 1);
    ck_assert_int_eq(ids_valid("cid_", "cid_a-b_c"), 1);
    ck_assert_int_eq(ids_valid("cid_", "cid_0123456789012345678901234567890123456789"), 1);
    ck_assert_int_eq(ids_valid("", "abc"), 1);
}
END_TEST

START_TEST(valid_rejects_wrong_prefix)
{
    ck_assert_int_eq(ids_valid("cid_", "xid_abc"), 0);
    ck_assert_int_eq(ids_valid("cid_", "CID_abc"), 0);
    ck_assert_int_eq(ids_valid("cid_", "cid-abc"), 0);
    ck_assert_int_eq(ids_valid("cid_", "cidabc"), 0);
    ck_assert_int_eq(ids_valid("cid_", "abc"), 0);
    ck_assert_int_eq(ids_valid("cid_", "ci"), 0);
}
END_TEST

START_TEST(valid_rejects_empty_and_null)
{
    ck_assert_int_eq(ids_valid("cid_", NULL), 0);
    ck_assert_int_eq(ids_valid("cid_", ""), 0);
    ck_assert_int_eq(ids_valid("cid_", "cid_"), 0);
    ck_assert_int_eq(ids_valid("", ""), 0);
}
END_TEST

START_TEST(valid_rejects_too_long)
{
    /* 41 characters after the prefix */
    ck_assert_int_eq(ids_valid("cid_", "cid_01234567890123456789012345678901234567890"), 0);
    char big[512];
    memcpy(big, "cid_", 4);
    memset(big + 4, 'a', sizeof big - 5);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(ids_valid("cid_", big), 0);
}
END_TEST

START_TEST(valid_rejects_bad_chars)
{
    static const char *const bad[] = {
        "cid_ab c", "cid_ab/c", "cid_ab.c", "cid_ab%20", "cid_ab'c", "cid_ab;c", "cid_\xc3\xa9",
        "cid_ab\nc", "cid_ab\tc", "cid_../x", "cid_ab+c", "cid_ab=c",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(ids_valid("cid_", bad[i]) == 0, "accepted \"%s\"", bad[i]);
}
END_TEST

static Suite *ids_suite(void)
{
    Suite *s = suite_create("ids");
    TCase *tc = tcase_create("new");
    tcase_add_test(tc, new_has_prefix_length_and_charset);
    tcase_add_test(tc, new_with_empty_prefix);
    tcase_add_test(tc, new_is_unique_over_10000);
    tcase_add_test(tc, new_uses_whole_alphabet_without_bias);
    tcase_add_test_raise_signal(tc, new_buffer_too_small_aborts, SIGABRT);
    suite_add_tcase(s, tc);

    tc = tcase_create("ordered");
    tcase_add_test(tc, ordered_has_prefix_length_and_time);
    tcase_add_test(tc, ordered_sort_in_creation_order);
    tcase_add_test(tc, ordered_sort_within_a_millisecond);
    tcase_add_test(tc, ordered_is_unique_within_a_millisecond);
    tcase_add_test(tc, ordered_random_part_is_fresh_within_a_millisecond);
    suite_add_tcase(s, tc);

    tc = tcase_create("random");
    tcase_add_test(tc, random_string_lengths);
    tcase_add_test(tc, random_string_exact_fit);
    tcase_add_test_raise_signal(tc, random_string_buffer_too_small_aborts, SIGABRT);
    tcase_add_test(tc, random_bytes_fill_and_differ);
    tcase_add_test(tc, random_bytes_large_request);
    suite_add_tcase(s, tc);

    tc = tcase_create("valid");
    tcase_add_test(tc, valid_accepts_good_ids);
    tcase_add_test(tc, valid_rejects_wrong_prefix);
    tcase_add_test(tc, valid_rejects_empty_and_null);
    tcase_add_test(tc, valid_rejects_too_long);
    tcase_add_test(tc, valid_rejects_bad_chars);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ids_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
