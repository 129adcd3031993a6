/* lib/arena: the bump allocator, its protobuf-c allocator and jansson's routing through the
 * calling thread's arena. The jansson hooks are process-wide, so this binary installs them
 * once in main, as the gateway does. */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "contacts.pb-c.h"

START_TEST(alloc_is_aligned_and_owned)
{
    struct arena *a = arena_new();
    ck_assert_ptr_nonnull(a);
    for (size_t size = 1; size < 3000; size += 37) {
        char *p = arena_alloc(a, size);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
        memset(p, 0xab, size); /* ASan: every byte handed out is usable */
        ck_assert(arena_owns(a, p));
        ck_assert(arena_owns(a, p + size - 1));
    }
    int on_stack;
    char *heap = malloc(16);
    ck_assert(!arena_owns(a, &on_stack));
    ck_assert(!arena_owns(a, heap));
    free(heap);
    arena_destroy(a);
}
END_TEST

START_TEST(large_and_many_chunks)
{
    struct arena *a = arena_new();
    char *big = arena_alloc(a, 5u << 20); /* a block of its own */
    ck_assert_ptr_nonnull(big);
    memset(big, 1, 5u << 20);
    ck_assert(arena_owns(a, big + (5u << 20) - 1));
    /* 12 MiB of small pieces: spans many 1 MiB chunks */
    for (int i = 0; i < 12 * 1024; i++) {
        char *p = arena_alloc(a, 1024);
        ck_assert_ptr_nonnull(p);
        p[0] = p[1023] = (char)i;
    }
    ck_assert_uint_ge(arena_used(a), (5u << 20) + (12u << 20));
    arena_reset(a);
    ck_assert_uint_eq(arena_used(a), 0);
    ck_assert(!arena_owns(a, big));
    /* reusable after a reset, with chunks coming back from the pool */
    ck_assert_ptr_nonnull(arena_alloc(a, 100));
    arena_destroy(a);
}
END_TEST

START_TEST(size_overflow_is_refused)
{
    struct arena *a = arena_new();
    ck_assert_ptr_null(arena_alloc(a, SIZE_MAX - 3));
    arena_destroy(a);
}
END_TEST

START_TEST(budget_bounds_one_use)
{
    struct arena *a = arena_new();
    arena_set_budget(a, 4096);
    ck_assert_ptr_nonnull(arena_alloc(a, 4000));
    ck_assert_ptr_null(arena_alloc(a, 200)); /* past the budget */
    ck_assert_ptr_nonnull(arena_alloc(a, 64));
    ck_assert_ptr_null(arena_alloc(a, (size_t)1 << 20)); /* a large block too */
    arena_reset(a); /* the budget ends with the use */
    ck_assert_ptr_nonnull(arena_alloc(a, (size_t)1 << 20));
    arena_destroy(a);
}
END_TEST

START_TEST(protobuf_unpack_into_arena)
{
    Od__ContactInput in = OD__CONTACT_INPUT__INIT;
    ProtobufCAllocator alloc;
    struct arena *a = arena_new();
    uint8_t buf[256];
    size_t len;
    Od__ContactInput *out;

    in.name = "Ada";
    in.phone_number = "+14155550100";
    len = od__contact_input__pack(&in, buf);
    out = od__contact_input__unpack(arena_protobuf_allocator(a, &alloc), len, buf);
    ck_assert_ptr_nonnull(out);
    ck_assert_str_eq(out->name, "Ada");
    ck_assert_str_eq(out->phone_number, "+14155550100");
    ck_assert(arena_owns(a, out));
    ck_assert(arena_owns(a, out->name));
    od__contact_input__free_unpacked(out, &alloc); /* a no-op; the reset frees it */
    arena_destroy(a);
}
END_TEST

START_TEST(json_values_follow_the_current_arena)
{
    struct arena *a = arena_new();
    json_t *outside = json_pack("{s:s}", "k", "made on the heap");
    json_t *inside;
    char *text;

    ck_assert_ptr_null(arena_current());
    arena_enter(a);
    ck_assert_ptr_eq(arena_current(), a);
    inside = json_loads("{\"contacts\":[{\"name\":\"Ada\"},{\"name\":\"Grace\"}]}", 0, NULL);
    ck_assert_ptr_nonnull(inside);
    ck_assert(arena_owns(a, inside));
    text = json_dumps(inside, JSON_COMPACT);
    ck_assert(arena_owns(a, text));
    ck_assert_str_eq(text, "{\"contacts\":[{\"name\":\"Ada\"},{\"name\":\"Grace\"}]}");
    arena_json_free(text);
    json_decref(inside);
    /* a heap value released inside the arena goes back to malloc (LSan would see a leak) */
    json_decref(outside);
    arena_leave();
    arena_reset(a);

    /* outside any arena, jansson uses malloc and arena_json_free is free() */
    outside = json_string("heap again");
    text = json_dumps(outside, JSON_ENCODE_ANY);
    ck_assert(!arena_owns(a, text));
    arena_json_free(text);
    json_decref(outside);
    arena_destroy(a);
}
END_TEST

static Suite *arena_suite(void)
{
    Suite *s = suite_create("arena");
    TCase *tc = tcase_create("arena");
    tcase_add_test(tc, alloc_is_aligned_and_owned);
    tcase_add_test(tc, large_and_many_chunks);
    tcase_add_test(tc, size_overflow_is_refused);
    tcase_add_test(tc, budget_bounds_one_use);
    tcase_add_test(tc, protobuf_unpack_into_arena);
    tcase_add_test(tc, json_values_follow_the_current_arena);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    arena_json_install();
    SRunner *sr = srunner_create(arena_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
