/* Service-level tests of contacts-svc: the real binary against a throwaway database, driven
 * over nng with the real RPC client and the generated stubs. */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>

#include "contact_reads.h"

#include "contacts.pb-c.h"
#include "db.h"
#include "ids.h"
#include "rpc.h"
#include "testsupport.h"

#define RPC_TIMEOUT_MS 5000

static struct ts_db *g_db;
static struct ts_proc *g_svc;
static struct rpc_client *g_client;
static char g_bin[PATH_MAX];
static char g_rpc_url[64];

/* ---------------- helpers ---------------- */

#define ck_status(ctx, expected)                                                               \
    ck_assert_msg((ctx).status == (expected), "expected %s, got %s: %s",                      \
                  rpc_status_name(expected), rpc_status_name((ctx).status), (ctx).message)

static ProtobufCService *svc(void)
{
    return rpc_client_service(g_client);
}

/* Starts one contacts-svc against db_url; the returned process is ready. */
static struct ts_proc *start_contacts(const char *name, const char *db_url, char *rpc_url,
                                      size_t rpc_url_size, bool wait)
{
    char e_db[700], e_rpc[80], e_health[80];
    int rpc_port = ts_free_port(), health_port = ts_free_port();
    struct ts_proc *p;

    snprintf(rpc_url, rpc_url_size, "tcp://127.0.0.1:%d", rpc_port);
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", db_url);
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=%s", rpc_url);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", health_port);
    const char *env[] = {e_db, e_rpc, e_health, "RPC_WORKERS=4",
                         "WEBHOOK_SVC_URL=" /* relay off: never reach a dev stack */, NULL};
    p = ts_proc_start(name, g_bin, NULL, env);
    if (wait)
        ts_proc_wait_ready(p, 30000);
    return p;
}

/* Waits until the client has a connected replica (dialing is asynchronous). */
static void wait_connected(struct rpc_client *c, int timeout_ms)
{
    int64_t give_up = ts_now_ms() + timeout_ms;
    while (rpc_client_connected(c) <= 0) {
        ck_assert_msg(ts_now_ms() < give_up, "RPC client not connected within %d ms",
                      timeout_ms);
        ts_sleep_ms(10);
    }
}

static void input_set(Od__ContactInput *in, const char *name, const char *phone,
                      const char *language, const char *metadata)
{
    od__contact_input__init(in);
    in->name = (char *)(name ? name : "");
    in->phone_number = (char *)(phone ? phone : "");
    in->language = (char *)(language ? language : "");
    in->metadata_json = (char *)(metadata ? metadata : "");
}

static void do_bulk_on(struct rpc_client *c, struct rpc_ctx *ctx, const char *org,
                       Od__ContactInput *rows, size_t n)
{
    Od__BulkUpsertRequest req = OD__BULK_UPSERT_REQUEST__INIT;
    Od__ContactInput **ptrs = calloc(n + 1, sizeof *ptrs);
    ck_assert_ptr_nonnull(ptrs);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &rows[i];
    req.n_contacts = n;
    req.contacts = ptrs;
    rpc_ctx_init(ctx, org, "svc-bulk", 30000);
    od__contacts__bulk_upsert(rpc_client_service(c), &req, NULL, ctx);
    free(ptrs);
}

static void do_bulk(struct rpc_ctx *ctx, const char *org, Od__ContactInput *rows, size_t n)
{
    do_bulk_on(g_client, ctx, org, rows, n);
}

static void do_create_on(struct rpc_client *c, struct rpc_ctx *ctx, const char *org,
                         const char *name, const char *phone, const char *language,
                         const char *metadata)
{
    Od__ContactInput in;
    input_set(&in, name, phone, language, metadata);
    rpc_ctx_init(ctx, org, "svc-create", RPC_TIMEOUT_MS);
    od__contacts__create(rpc_client_service(c), &in, NULL, ctx);
}

static void do_create(struct rpc_ctx *ctx, const char *org, const char *name, const char *phone,
                      const char *language, const char *metadata)
{
    do_create_on(g_client, ctx, org, name, phone, language, metadata);
}

static void do_get_on(struct rpc_client *c, struct rpc_ctx *ctx, const char *org,
                      const char *id, int timeout_ms)
{
    Od__GetContactRequest req = OD__GET_CONTACT_REQUEST__INIT;
    req.id = (char *)id;
    rpc_ctx_init(ctx, org, "svc-get", timeout_ms);
    od__contacts__get(rpc_client_service(c), &req, NULL, ctx);
}

static void do_get(struct rpc_ctx *ctx, const char *org, const char *id)
{
    do_get_on(g_client, ctx, org, id, RPC_TIMEOUT_MS);
}

static void do_list(struct rpc_ctx *ctx, const char *org, int page, int limit,
                    const char *search)
{
    Od__ListContactsRequest req = OD__LIST_CONTACTS_REQUEST__INIT;
    req.page = page;
    req.limit = limit;
    req.search = (char *)(search ? search : "");
    rpc_ctx_init(ctx, org, "svc-list", RPC_TIMEOUT_MS);
    od__contacts__list(svc(), &req, NULL, ctx);
}

static void do_update(struct rpc_ctx *ctx, const char *org, Od__UpdateContactRequest *req)
{
    rpc_ctx_init(ctx, org, "svc-update", RPC_TIMEOUT_MS);
    od__contacts__update(svc(), req, NULL, ctx);
}

static void do_delete(struct rpc_ctx *ctx, const char *org, const char *id)
{
    Od__DeleteContactRequest req = OD__DELETE_CONTACT_REQUEST__INIT;
    req.id = (char *)id;
    rpc_ctx_init(ctx, org, "svc-delete", RPC_TIMEOUT_MS);
    od__contacts__delete(svc(), &req, NULL, ctx);
}

/* Creates a contact and copies its id into id (asserts OK). */
static void create_ok(const char *org, const char *name, const char *phone, const char *language,
                      const char *metadata, char *id, size_t id_size)
{
    struct rpc_ctx ctx;
    do_create(&ctx, org, name, phone, language, metadata);
    ck_status(ctx, OD__STATUS__OK);
    snprintf(id, id_size, "%s", ((Od__Contact *)ctx.reply)->id);
    rpc_ctx_release(&ctx);
}

static long long list_total(const char *org, const char *search)
{
    struct rpc_ctx ctx;
    long long total;
    do_list(&ctx, org, 1, 100, search);
    ck_status(ctx, OD__STATUS__OK);
    total = ((Od__ListContactsReply *)ctx.reply)->total;
    rpc_ctx_release(&ctx);
    return total;
}

/* Asserts that a metadata JSON text holds key with the given string value. */
static void assert_meta_string(const char *metadata, const char *key, const char *value)
{
    json_t *m = json_loads(metadata, 0, NULL);
    const char *got;
    ck_assert_msg(m != NULL && json_is_object(m), "metadata %s is not an object", metadata);
    got = json_string_value(json_object_get(m, key));
    ck_assert_msg(got != NULL && strcmp(got, value) == 0, "metadata %s: %s should be %s",
                  metadata, key, value);
    json_decref(m);
}

static size_t meta_size(const char *metadata)
{
    json_t *m = json_loads(metadata, 0, NULL);
    size_t n;
    ck_assert_msg(m != NULL && json_is_object(m), "metadata %s is not an object", metadata);
    n = json_object_size(m);
    json_decref(m);
    return n;
}

/* "2024-05-01T10:20:30.123Z" */
static void assert_iso_ms(const char *t)
{
    ck_assert_msg(strlen(t) == 24 && t[4] == '-' && t[10] == 'T' && t[19] == '.' && t[23] == 'Z',
                  "timestamp %s is not ISO 8601 UTC with milliseconds", t);
}

/* Runs a shell command (OUTDIAL_TEST_PG_RESTART) and asserts it succeeded. */
static void restart_postgres(void)
{
    const char *cmd = getenv("OUTDIAL_TEST_PG_RESTART");
    int rc;
    ck_assert_msg(cmd != NULL && cmd[0] != '\0',
                  "OUTDIAL_TEST_PG_RESTART is not set: run the tests with ./outdial test");
    rc = ts_run_shell(cmd);
    ck_assert_msg(rc == 0, "OUTDIAL_TEST_PG_RESTART (%s) exited with %d", cmd, rc);
}

/* ---------------- fixture ---------------- */

static void stack_setup(void)
{
    ts_binary("contacts-svc/contacts-svc", g_bin, sizeof g_bin);
    g_db = ts_db_create();
    g_svc = start_contacts("contacts-svc", ts_db_url(g_db, "contacts"), g_rpc_url,
                           sizeof g_rpc_url, true);
    g_client = rpc_client_open(&od__contacts__descriptor, g_rpc_url);
    ck_assert_ptr_nonnull(g_client);
    wait_connected(g_client, 5000);
}

/* Before every test: a failed test may have left the service stopped. */
static void ensure_service(void)
{
    if (!ts_proc_running(g_svc)) {
        fprintf(stderr, "[svc] contacts-svc is not running: starting it again\n");
        ts_proc_restart(g_svc);
        ts_proc_wait_ready(g_svc, 30000);
    }
    wait_connected(g_client, 5000);
}

static void stack_teardown(void)
{
    rpc_client_close(g_client);
    g_client = NULL;
    ts_proc_free(g_svc);
    g_svc = NULL;
    ts_db_drop(g_db);
    g_db = NULL;
}

/* ---------------- bulk upsert ---------------- */

START_TEST(test_bulk_valid_and_invalid_rows)
{
    const char *org = "org_bulk1";
    Od__ContactInput rows[7];
    struct rpc_ctx ctx;
    char id0[64], id1[64];

    input_set(&rows[0], "Priya Sharma", "+919876543210", "hi-IN",
              "{\"city\":\"Mumbai\",\"tier\":\"premium\"}");
    input_set(&rows[1], "Bad Phone", "12345", "", "");
    input_set(&rows[2], "Ravi Kumar", "+919123456789", "en-IN", "");
    input_set(&rows[3], "No Phone", "", "", "");
    input_set(&rows[4], "Bad Language", "+14155550100", "x", "");
    input_set(&rows[5], "", "", "", "");
    rows[5].invalid_reason = (char *)"contacts[5].phoneNumber must be a string";
    input_set(&rows[6], "Bad Metadata", "+14155550101", "", "[1,2]");
    do_bulk(&ctx, org, rows, 7);
    ck_status(ctx, OD__STATUS__OK);
    Od__BulkUpsertReply *r = (Od__BulkUpsertReply *)ctx.reply;
    ck_assert_int_eq(r->created, 2);
    ck_assert_int_eq(r->updated, 0);
    ck_assert_int_eq(r->failed, 5);
    ck_assert_uint_eq(r->n_contacts, 2);
    ck_assert_uint_eq(r->n_errors, 5);

    /* Written rows come back in request order with prefixed ids. */
    ck_assert_str_eq(r->contacts[0]->phone_number, "+919876543210");
    ck_assert_str_eq(r->contacts[0]->name, "Priya Sharma");
    ck_assert_str_eq(r->contacts[1]->phone_number, "+919123456789");
    ck_assert_str_eq(r->contacts[1]->name, "Ravi Kumar");
    ck_assert_msg(strncmp(r->contacts[0]->id, "cid_", 4) == 0, "id %s", r->contacts[0]->id);
    ck_assert_msg(strncmp(r->contacts[1]->id, "cid_", 4) == 0, "id %s", r->contacts[1]->id);
    ck_assert_str_ne(r->contacts[0]->id, r->contacts[1]->id);
    snprintf(id0, sizeof id0, "%s", r->contacts[0]->id);
    snprintf(id1, sizeof id1, "%s", r->contacts[1]->id);

    /* Errors name the row, its phone number and the reason. */
    const int want_index[] = {1, 3, 4, 5, 6};
    const char *want_phone[] = {"12345", "", "+14155550100", "", "+14155550101"};
    const char *want_reason[] = {"phoneNumber", "phoneNumber", "language",
                                 "contacts[5].phoneNumber must be a string", "metadata"};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(r->errors[i]->index, want_index[i]);
        ck_assert_str_eq(r->errors[i]->phone_number, want_phone[i]);
        ck_assert_msg(strstr(r->errors[i]->reason, want_reason[i]) != NULL,
                      "row %d reason '%s' should mention '%s'", want_index[i],
                      r->errors[i]->reason, want_reason[i]);
    }
    rpc_ctx_release(&ctx);

    /* What was stored. */
    do_get(&ctx, org, id0);
    ck_status(ctx, OD__STATUS__OK);
    Od__Contact *c = (Od__Contact *)ctx.reply;
    ck_assert_str_eq(c->id, id0);
    ck_assert_str_eq(c->name, "Priya Sharma");
    ck_assert_str_eq(c->language, "hi-IN");
    assert_meta_string(c->metadata_json, "city", "Mumbai");
    assert_meta_string(c->metadata_json, "tier", "premium");
    assert_iso_ms(c->created_at);
    assert_iso_ms(c->updated_at);
    rpc_ctx_release(&ctx);
    do_get(&ctx, org, id1);
    ck_status(ctx, OD__STATUS__OK);
    c = (Od__Contact *)ctx.reply;
    ck_assert_str_eq(c->language, "en-IN");
    ck_assert_str_eq(c->metadata_json, "{}");
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(list_total(org, NULL), 2);
}
END_TEST

START_TEST(test_bulk_reupsert_updates_and_merges)
{
    const char *org = "org_bulk2";
    Od__ContactInput rows[2];
    struct rpc_ctx ctx;
    char id0[64], id1[64];

    input_set(&rows[0], "Priya Sharma", "+919876543210", "hi-IN",
              "{\"city\":\"Mumbai\",\"tier\":\"premium\"}");
    input_set(&rows[1], "Ravi Kumar", "+919123456789", "en-IN", "");
    do_bulk(&ctx, org, rows, 2);
    ck_status(ctx, OD__STATUS__OK);
    Od__BulkUpsertReply *r = (Od__BulkUpsertReply *)ctx.reply;
    ck_assert_int_eq(r->created, 2);
    snprintf(id0, sizeof id0, "%s", r->contacts[0]->id);
    snprintf(id1, sizeof id1, "%s", r->contacts[1]->id);
    rpc_ctx_release(&ctx);

    /* Same numbers again: an empty name or language keeps the stored one; metadata merges. */
    input_set(&rows[0], "", "+919876543210", "", "{\"tier\":\"gold\",\"vip\":\"yes\"}");
    input_set(&rows[1], "Ravi K", "+919123456789", "", "");
    do_bulk(&ctx, org, rows, 2);
    ck_status(ctx, OD__STATUS__OK);
    r = (Od__BulkUpsertReply *)ctx.reply;
    ck_assert_int_eq(r->created, 0);
    ck_assert_int_eq(r->updated, 2);
    ck_assert_int_eq(r->failed, 0);
    ck_assert_uint_eq(r->n_contacts, 2);
    ck_assert_str_eq(r->contacts[0]->id, id0);
    ck_assert_str_eq(r->contacts[1]->id, id1);
    rpc_ctx_release(&ctx);

    do_get(&ctx, org, id0);
    ck_status(ctx, OD__STATUS__OK);
    Od__Contact *c = (Od__Contact *)ctx.reply;
    ck_assert_str_eq(c->name, "Priya Sharma");
    ck_assert_str_eq(c->language, "hi-IN");
    assert_meta_string(c->metadata_json, "city", "Mumbai");
    assert_meta_string(c->metadata_json, "tier", "gold");
    assert_meta_string(c->metadata_json, "vip", "yes");
    ck_assert_uint_eq(meta_size(c->metadata_json), 3);
    ck_assert_msg(strcmp(c->updated_at, c->created_at) >= 0, "updated_at %s < created_at %s",
                  c->updated_at, c->created_at);
    rpc_ctx_release(&ctx);
    do_get(&ctx, org, id1);
    ck_status(ctx, OD__STATUS__OK);
    c = (Od__Contact *)ctx.reply;
    ck_assert_str_eq(c->name, "Ravi K");
    ck_assert_str_eq(c->language, "en-IN");
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(list_total(org, NULL), 2);
}
END_TEST

START_TEST(test_bulk_duplicate_phone_in_one_request)
{
    const char *org = "org_bulk3";
    Od__ContactInput rows[3];
    struct rpc_ctx ctx;
    char id[64];

    input_set(&rows[0], "First Name", "+14155550200", "en-US", "{\"a\":\"1\"}");
    input_set(&rows[1], "Other", "+14155550299", "", "");
    input_set(&rows[2], "Second Name", "+14155550200", "", "{\"b\":\"2\"}");
    do_bulk(&ctx, org, rows, 3);
    ck_status(ctx, OD__STATUS__OK);
    Od__BulkUpsertReply *r = (Od__BulkUpsertReply *)ctx.reply;
    ck_assert_int_eq(r->created, 2);
    ck_assert_int_eq(r->updated, 1);
    ck_assert_int_eq(r->failed, 0);
    ck_assert_uint_eq(r->n_contacts, 3);
    ck_assert_str_eq(r->contacts[0]->id, r->contacts[2]->id);
    ck_assert_str_ne(r->contacts[0]->id, r->contacts[1]->id);
    ck_assert_str_eq(r->contacts[0]->name, "First Name");
    ck_assert_str_eq(r->contacts[2]->name, "Second Name");
    snprintf(id, sizeof id, "%s", r->contacts[0]->id);
    rpc_ctx_release(&ctx);

    /* One row per number; the last row of the request wins. */
    ck_assert_int_eq(list_total(org, "+14155550200"), 1);
    ck_assert_int_eq(list_total(org, NULL), 2);
    do_get(&ctx, org, id);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_str_eq(((Od__Contact *)ctx.reply)->name, "Second Name");
    rpc_ctx_release(&ctx);

    /* Only the duplicate pair: created 1, updated 1, one id. */
    input_set(&rows[0], "Dup A", "+14155550300", "", "");
    input_set(&rows[1], "Dup B", "+14155550300", "", "");
    do_bulk(&ctx, org, rows, 2);
    ck_status(ctx, OD__STATUS__OK);
    r = (Od__BulkUpsertReply *)ctx.reply;
    ck_assert_int_eq(r->created, 1);
    ck_assert_int_eq(r->updated, 1);
    ck_assert_uint_eq(r->n_contacts, 2);
    ck_assert_str_eq(r->contacts[0]->id, r->contacts[1]->id);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(list_total(org, "+14155550300"), 1);
}
END_TEST

/* n contacts with numbers +1 650 <base + i>. */
static Od__ContactInput *many_rows(size_t n, long long base, char **phones_out)
{
    Od__ContactInput *rows = calloc(n, sizeof *rows);
    char *phones = calloc(n, 16);
    ck_assert_ptr_nonnull(rows);
    ck_assert_ptr_nonnull(phones);
    for (size_t i = 0; i < n; i++) {
        snprintf(phones + i * 16, 16, "+1650%07lld", base + (long long)i);
        input_set(&rows[i], "Bulk Person", phones + i * 16, "", "");
    }
    *phones_out = phones;
    return rows;
}

/* Regression: merging metadata on every upsert let one contact's metadata grow without bound
 * (and with it every reply carrying it). Issue 13: the merged object is held to the one limit
 * (16 KiB of compact JSON), checked per row before the write; the row that would cross it fails
 * alone with its reason, and the call's other rows are written (the call used to be refused as
 * a whole). */
START_TEST(test_bulk_metadata_growth_is_bounded)
{
    struct rpc_ctx ctx;
    Od__ContactInput rows[3];
    char meta[2][16000];

    for (int call = 0; call < 2; call++) {
        /* ~10 KB of keys that are new on every call: under the limit alone, over it merged */
        int n = snprintf(meta[call], sizeof meta[call], "{\"k%d_0\":\"", call);
        memset(meta[call] + n, 'x', 10000);
        snprintf(meta[call] + n + 10000, sizeof meta[call] - (size_t)n - 10000, "\"}");
    }
    input_set(&rows[0], "Growing", "+14155551500", "", meta[0]);
    do_bulk(&ctx, "org_growth", rows, 1);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);

    input_set(&rows[0], "Fine", "+14155551501", "", "{\"a\":1}");
    input_set(&rows[1], "Growing more", "+14155551500", "", meta[1]);
    input_set(&rows[2], "Also fine", "+14155551502", "", NULL);
    do_bulk(&ctx, "org_growth", rows, 3);
    ck_status(ctx, OD__STATUS__OK);
    Od__BulkUpsertReply *r = (Od__BulkUpsertReply *)ctx.reply;
    ck_assert_int_eq(r->created, 2);
    ck_assert_int_eq(r->updated, 0);
    ck_assert_int_eq(r->failed, 1);
    ck_assert_uint_eq(r->n_errors, 1);
    ck_assert_int_eq(r->errors[0]->index, 1);
    ck_assert_str_eq(r->errors[0]->phone_number, "+14155551500");
    ck_assert_msg(strstr(r->errors[0]->reason, "16384") != NULL, "reason: %s",
                  r->errors[0]->reason);
    ck_assert_uint_eq(r->n_contacts, 2);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM contacts.contacts "
                                        "WHERE org_id = 'org_growth'"),
                     3);
    /* the refused row changed nothing: the stored contact keeps its name and its one key */
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM contacts.contacts c, "
                                        "jsonb_object_keys(c.metadata) k "
                                        "WHERE c.org_id = 'org_growth' AND c.name = 'Growing'"),
                     1);
}
END_TEST

START_TEST(test_bulk_limit)
{
    struct rpc_ctx ctx;
    char *phones;
    Od__ContactInput *rows = many_rows(10001, 1000000, &phones);
    int64_t started;

    do_bulk(&ctx, "org_bulk_big", rows, 10001);
    ck_status(ctx, OD__STATUS__INVALID);
    ck_assert_msg(strstr(ctx.message, "10000") != NULL, "message '%s' should name the limit",
                  ctx.message);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM contacts.contacts "
                                        "WHERE org_id = 'org_bulk_big'"),
                     0);

    /* Exactly the limit is accepted, and every row is written. */
    started = ts_now_ms();
    do_bulk(&ctx, "org_bulk_max", rows, 10000);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__BulkUpsertReply *)ctx.reply)->created, 10000);
    ck_assert_uint_eq(((Od__BulkUpsertReply *)ctx.reply)->n_contacts, 10000);
    rpc_ctx_release(&ctx);
    fprintf(stderr, "[svc] bulk upsert of 10000 rows took %lld ms\n",
            (long long)(ts_now_ms() - started));
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM contacts.contacts "
                                        "WHERE org_id = 'org_bulk_max'"),
                     10000);
    free(rows);
    free(phones);
}
END_TEST

/* Concurrent bulk calls writing the same numbers: every call succeeds, one row per number,
 * and every call reports the stored id. */
#define CONC_THREADS 4
#define CONC_ROWS 1000

struct conc_job {
    Od__ContactInput *rows;
    struct rpc_ctx ctx;
};

static void *conc_worker(void *arg)
{
    struct conc_job *job = arg;
    do_bulk(&job->ctx, "org_bulk_conc", job->rows, CONC_ROWS);
    return NULL;
}

START_TEST(test_bulk_concurrent_same_numbers)
{
    struct conc_job jobs[CONC_THREADS];
    pthread_t threads[CONC_THREADS];
    char *phones;
    Od__ContactInput *rows = many_rows(CONC_ROWS, 3000000, &phones);
    long long created = 0;

    for (int i = 0; i < CONC_THREADS; i++) {
        jobs[i].rows = rows;
        ck_assert_int_eq(pthread_create(&threads[i], NULL, conc_worker, &jobs[i]), 0);
    }
    for (int i = 0; i < CONC_THREADS; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < CONC_THREADS; i++) {
        ck_status(jobs[i].ctx, OD__STATUS__OK);
        Od__BulkUpsertReply *r = (Od__BulkUpsertReply *)jobs[i].ctx.reply;
        ck_assert_int_eq(r->created + r->updated, CONC_ROWS);
        ck_assert_uint_eq(r->n_contacts, CONC_ROWS);
        created += r->created;
    }
    ck_assert_int_eq(created, CONC_ROWS);
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM contacts.contacts "
                                        "WHERE org_id = 'org_bulk_conc'"),
                     CONC_ROWS);
    /* Every reply names the id that is stored for each number. */
    for (int i = 1; i < CONC_THREADS; i++) {
        Od__BulkUpsertReply *a = (Od__BulkUpsertReply *)jobs[0].ctx.reply;
        Od__BulkUpsertReply *b = (Od__BulkUpsertReply *)jobs[i].ctx.reply;
        for (size_t k = 0; k < CONC_ROWS; k++)
            ck_assert_msg(strcmp(a->contacts[k]->id, b->contacts[k]->id) == 0,
                          "row %zu: call 0 reported %s, call %d reported %s", k,
                          a->contacts[k]->id, i, b->contacts[k]->id);
    }
    for (int i = 0; i < CONC_THREADS; i++)
        rpc_ctx_release(&jobs[i].ctx);
    free(rows);
    free(phones);
}
END_TEST

/* ---------------- organization scoping ---------------- */

START_TEST(test_org_scoping)
{
    struct rpc_ctx ctx;
    char id[64], other[64];
    Od__UpdateContactRequest up = OD__UPDATE_CONTACT_REQUEST__INIT;

    create_ok("org_scope_a", "Scoped", "+14155550400", "", "", id, sizeof id);

    do_get(&ctx, "org_scope_b", id);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);

    up.id = id;
    up.name = (char *)"Hijacked";
    up.set_name = true;
    up.phone_number = (char *)"";
    up.language = (char *)"";
    up.metadata_json = (char *)"";
    do_update(&ctx, "org_scope_b", &up);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);

    do_delete(&ctx, "org_scope_b", id);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);

    ck_assert_int_eq(list_total("org_scope_b", NULL), 0);

    /* Untouched in its own organization. */
    do_get(&ctx, "org_scope_a", id);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_str_eq(((Od__Contact *)ctx.reply)->name, "Scoped");
    rpc_ctx_release(&ctx);

    /* Phone numbers are unique per organization, not globally. */
    create_ok("org_scope_b", "Same Number", "+14155550400", "", "", other, sizeof other);
    ck_assert_str_ne(id, other);
    do_list(&ctx, "org_scope_b", 1, 100, NULL);
    ck_status(ctx, OD__STATUS__OK);
    Od__ListContactsReply *l = (Od__ListContactsReply *)ctx.reply;
    ck_assert_int_eq(l->total, 1);
    ck_assert_uint_eq(l->n_data, 1);
    ck_assert_str_eq(l->data[0]->id, other);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(list_total("org_scope_a", NULL), 1);
}
END_TEST

static void do_get_many(struct rpc_ctx *ctx, const char *org, const char *const *ids, size_t n)
{
    Od__GetManyContactsRequest req = OD__GET_MANY_CONTACTS_REQUEST__INIT;
    req.ids = (char **)ids;
    req.n_ids = n;
    rpc_ctx_init(ctx, org, "svc-get-many", RPC_TIMEOUT_MS);
    od__contacts__get_many(svc(), &req, NULL, ctx);
}

/* GetMany (what the gateway batches GET /v1/contacts/:id into): only the caller's
 * organization's contacts come back; unknown, foreign and malformed ids are simply absent. */
START_TEST(test_get_many_is_scoped)
{
    struct rpc_ctx ctx;
    char a1[64], a2[64], b1[64];
    create_ok("org_many_a", "A One", "+14155550501", "", "{\"k\":1}", a1, sizeof a1);
    create_ok("org_many_a", "A Two", "+14155550502", "", "", a2, sizeof a2);
    create_ok("org_many_b", "B One", "+14155550503", "", "", b1, sizeof b1);

    const char *ids[] = {a1, b1, "cid_nobody", "bad,id}", "x\"y", "", a2, a1};
    do_get_many(&ctx, "org_many_a", ids, 8);
    ck_status(ctx, OD__STATUS__OK);
    Od__GetManyContactsReply *r = (Od__GetManyContactsReply *)ctx.reply;
    ck_assert_uint_eq(r->n_contacts, 2);
    for (size_t i = 0; i < r->n_contacts; i++) {
        const Od__Contact *c = r->contacts[i];
        ck_assert_msg(strcmp(c->id, a1) == 0 || strcmp(c->id, a2) == 0, "got %s", c->id);
        if (strcmp(c->id, a1) == 0) {
            ck_assert_str_eq(c->name, "A One");
            ck_assert_str_eq(c->phone_number, "+14155550501");
            assert_iso_ms(c->created_at);
        }
    }
    rpc_ctx_release(&ctx);

    const char *foreign[] = {a1, a2};
    do_get_many(&ctx, "org_many_b", foreign, 2);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_uint_eq(((Od__GetManyContactsReply *)ctx.reply)->n_contacts, 0);
    rpc_ctx_release(&ctx);

    do_get_many(&ctx, "org_many_b", NULL, 0);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_uint_eq(((Od__GetManyContactsReply *)ctx.reply)->n_contacts, 0);
    rpc_ctx_release(&ctx);

    const char *too_many[65];
    for (int i = 0; i < 65; i++)
        too_many[i] = a1;
    do_get_many(&ctx, "org_many_a", too_many, 65);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);

    do_get_many(&ctx, "", ids, 1);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
}
END_TEST

/* The gateway's batching of GET /v1/contacts/:id (gateway/contact_reads.c) against the real
 * service: 16 threads reading at once are answered right, by fewer GetMany calls than reads. */
#define BATCH_THREADS 16
#define BATCH_READS 100
static struct contact_reads *g_reads;
static char g_batch_ids[4][64];

static void *batch_reader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    intptr_t wrong = 0;
    for (int i = 0; i < BATCH_READS; i++) {
        int k = (int)(rand_r(&seed) % 5); /* 4: an id that exists nowhere */
        const char *org = (rand_r(&seed) % 2) ? "org_batch_a" : "org_batch_b";
        const char *id = k < 4 ? g_batch_ids[k] : "cid_0000000000000000000000";
        bool mine = k < 4 && (k < 2) == (strcmp(org, "org_batch_a") == 0);
        struct contact_read r;
        contact_reads_get(g_reads, org, "svc-batch", id, RPC_TIMEOUT_MS, &r);
        if (mine ? (r.status != OD__STATUS__OK || strcmp(r.contact->id, id) != 0)
                 : (r.status != OD__STATUS__NOT_FOUND || r.contact != NULL))
            wrong++;
        free(r.contact);
    }
    return (void *)wrong;
}

START_TEST(test_batched_reads)
{
    pthread_t threads[BATCH_THREADS];
    intptr_t wrong = 0;
    long reads, calls;

    create_ok("org_batch_a", "A0", "+14155550601", "", "", g_batch_ids[0], 64);
    create_ok("org_batch_a", "A1", "+14155550602", "", "", g_batch_ids[1], 64);
    create_ok("org_batch_b", "B0", "+14155550603", "", "", g_batch_ids[2], 64);
    create_ok("org_batch_b", "B1", "+14155550604", "", "", g_batch_ids[3], 64);
    g_reads = contact_reads_new(rpc_client_service(g_client), 4);
    ck_assert_ptr_nonnull(g_reads);
    for (int i = 0; i < BATCH_THREADS; i++)
        ck_assert_int_eq(
            pthread_create(&threads[i], NULL, batch_reader, (void *)(uintptr_t)(i + 1)), 0);
    for (int i = 0; i < BATCH_THREADS; i++) {
        void *w;
        pthread_join(threads[i], &w);
        wrong += (intptr_t)w;
    }
    contact_reads_counts(g_reads, &reads, &calls);
    contact_reads_free(g_reads);
    fprintf(stderr, "[svc] %ld concurrent reads in %ld GetMany calls\n", reads, calls);
    ck_assert_msg(wrong == 0, "%ld reads answered wrongly", (long)wrong);
    ck_assert_int_eq(reads, BATCH_THREADS * BATCH_READS);
    ck_assert_msg(calls < reads, "no read was batched (%ld calls for %ld reads)", calls, reads);
}
END_TEST

/* contact_reads_free answers every read still queued before it stops (the gateway frees it
 * only after its HTTP server has drained, but nothing queued may be dropped either way). */
struct drain_count {
    pthread_mutex_t lock;
    int answered, ok;
};

static void drain_done(struct contact_read *read, void *arg)
{
    struct drain_count *d = arg;
    pthread_mutex_lock(&d->lock);
    d->answered++;
    d->ok += read->status == OD__STATUS__OK;
    pthread_mutex_unlock(&d->lock);
    free(read->contact);
}

/* Creates one contact of org, queues n reads of it on a fresh contact_reads with `threads`
 * threads (with expire_even, every even read has timeout 0: already expired), then frees the
 * contact_reads, which answers them all. Returns the n answers (free() it). */
static struct contact_read *submit_then_free(const char *org, const char *phone, int threads,
                                             int n, bool expire_even, struct drain_count *d)
{
    struct contact_read *reads = calloc((size_t)n, sizeof *reads);
    struct contact_reads *cr = contact_reads_new(rpc_client_service(g_client), threads);
    char id[64];

    ck_assert_ptr_nonnull(reads);
    ck_assert_ptr_nonnull(cr);
    create_ok(org, "R0", phone, "", "", id, sizeof id);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(contact_reads_submit(cr, org, "svc-reads", id,
                                              expire_even && i % 2 == 0 ? 0 : RPC_TIMEOUT_MS,
                                              &reads[i], drain_done, d),
                         0);
    contact_reads_free(cr);
    return reads;
}

START_TEST(test_reads_drained_on_free)
{
    enum { DRAIN_READS = 300 };
    struct drain_count d = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
    struct contact_read *reads =
        submit_then_free("org_drain", "+14155550701", 2, DRAIN_READS, false, &d);

    ck_assert_int_eq(d.answered, DRAIN_READS);
    ck_assert_int_eq(d.ok, DRAIN_READS);
    free(reads);
}
END_TEST

/* A read that expired while it queued is answered "deadline exceeded" on its own and does not
 * shorten or fail the call of the reads batched with it. */
START_TEST(test_expired_reads_do_not_fail_the_batch)
{
    enum { MIXED_READS = 60 };
    struct drain_count d = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
    struct contact_read *reads =
        submit_then_free("org_expired", "+14155550801", 1, MIXED_READS, true, &d);

    ck_assert_int_eq(d.answered, MIXED_READS);
    for (int i = 0; i < MIXED_READS; i++) {
        if (i % 2 == 0) {
            ck_assert_int_eq(reads[i].status, OD__STATUS__UNAVAILABLE);
            ck_assert_str_eq(reads[i].message, "deadline exceeded");
        } else {
            ck_assert_msg(reads[i].status == OD__STATUS__OK, "read %d: status %d (%s)", i,
                          reads[i].status, reads[i].message);
        }
    }
    free(reads);
}
END_TEST

START_TEST(test_empty_org_is_invalid)
{
    struct rpc_ctx ctx;
    Od__ContactInput row;
    Od__UpdateContactRequest up = OD__UPDATE_CONTACT_REQUEST__INIT;

    do_create(&ctx, "", "No Org", "+14155550500", "", "");
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    input_set(&row, "No Org", "+14155550500", "", "");
    do_bulk(&ctx, "", &row, 1);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    do_get(&ctx, "", "cid_whatever");
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    do_list(&ctx, "", 1, 10, NULL);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    up.id = (char *)"cid_whatever";
    up.name = (char *)"x";
    up.set_name = true;
    up.phone_number = up.language = up.metadata_json = (char *)"";
    do_update(&ctx, "", &up);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    do_delete(&ctx, "", "cid_whatever");
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM contacts.contacts "
                                        "WHERE org_id = '' OR phone_number = '+14155550500'"),
                     0);
}
END_TEST

/* ---------------- single-contact calls ---------------- */

START_TEST(test_create_and_conflict)
{
    const char *org = "org_create";
    struct rpc_ctx ctx;

    do_create(&ctx, org, "Asha", "+14155550600", "en-IN", "{\"src\":\"test\"}");
    ck_status(ctx, OD__STATUS__OK);
    Od__Contact *c = (Od__Contact *)ctx.reply;
    ck_assert_msg(strncmp(c->id, "cid_", 4) == 0, "id %s", c->id);
    ck_assert_str_eq(c->name, "Asha");
    ck_assert_str_eq(c->phone_number, "+14155550600");
    ck_assert_str_eq(c->language, "en-IN");
    assert_meta_string(c->metadata_json, "src", "test");
    assert_iso_ms(c->created_at);
    rpc_ctx_release(&ctx);

    do_create(&ctx, org, "Asha Again", "+14155550600", "", "");
    ck_status(ctx, OD__STATUS__CONFLICT);
    ck_assert_msg(strstr(ctx.message, "+14155550600") != NULL, "message: %s", ctx.message);
    rpc_ctx_release(&ctx);

    do_create(&ctx, org, "Bad", "555-0100", "", "");
    ck_status(ctx, OD__STATUS__INVALID);
    ck_assert_msg(strstr(ctx.message, "phoneNumber") != NULL, "message: %s", ctx.message);
    rpc_ctx_release(&ctx);

    do_create(&ctx, org, "Bad Meta", "+14155550601", "", "\"text\"");
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);

    ck_assert_int_eq(list_total(org, NULL), 1);
}
END_TEST

START_TEST(test_list_paging_and_search)
{
    const char *org = "org_list";
    enum { NPEOPLE = 25 };
    Od__ContactInput rows[NPEOPLE + 6];
    char phones[NPEOPLE][16], names[NPEOPLE][32], seen[NPEOPLE + 6][64], prev[64] = "";
    struct rpc_ctx ctx;
    size_t nseen = 0;

    for (int i = 0; i < NPEOPLE; i++) {
        snprintf(phones[i], sizeof phones[i], "+1415777%04d", i);
        snprintf(names[i], sizeof names[i], "Person %02d", i);
        input_set(&rows[i], names[i], phones[i], "", "");
    }
    input_set(&rows[NPEOPLE + 0], "Priya Sharma", "+919876543210", "", "");
    input_set(&rows[NPEOPLE + 1], "PRIYANKA Rao", "+919876500000", "", "");
    input_set(&rows[NPEOPLE + 2], "100% Real", "+14155559001", "", "");
    input_set(&rows[NPEOPLE + 3], "under_score", "+14155559002", "", "");
    input_set(&rows[NPEOPLE + 4], "underXscore", "+14155559003", "", "");
    input_set(&rows[NPEOPLE + 5], "Plain 1000 Real", "+14155559004", "", "");
    do_bulk(&ctx, org, rows, NPEOPLE + 6);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__BulkUpsertReply *)ctx.reply)->created, NPEOPLE + 6);
    rpc_ctx_release(&ctx);

    /* Paging: 31 contacts in pages of 10, newest (highest id) first, no overlap. */
    for (int page = 1; page <= 5; page++) {
        do_list(&ctx, org, page, 10, NULL);
        ck_status(ctx, OD__STATUS__OK);
        Od__ListContactsReply *l = (Od__ListContactsReply *)ctx.reply;
        size_t want = page <= 3 ? 10 : page == 4 ? 1 : 0;
        ck_assert_int_eq(l->total, NPEOPLE + 6);
        ck_assert_uint_eq(l->n_data, want);
        for (size_t i = 0; i < l->n_data; i++) {
            ck_assert_msg(prev[0] == '\0' || strcmp(prev, l->data[i]->id) > 0,
                          "ids not in descending order: %s then %s", prev, l->data[i]->id);
            snprintf(prev, sizeof prev, "%s", l->data[i]->id);
            for (size_t j = 0; j < nseen; j++)
                ck_assert_str_ne(seen[j], l->data[i]->id);
            snprintf(seen[nseen++], sizeof seen[0], "%s", l->data[i]->id);
        }
        rpc_ctx_release(&ctx);
    }
    ck_assert_uint_eq(nseen, NPEOPLE + 6);

    /* Search: name substring (case-insensitive) or phone substring; wildcards are literal. */
    ck_assert_int_eq(list_total(org, "priya"), 2);
    ck_assert_int_eq(list_total(org, "PRIYA"), 2);
    ck_assert_int_eq(list_total(org, "sharma"), 1);
    ck_assert_int_eq(list_total(org, "98765"), 2);
    ck_assert_int_eq(list_total(org, "+1415777"), NPEOPLE);
    ck_assert_int_eq(list_total(org, "person 1"), 10);
    ck_assert_int_eq(list_total(org, "%"), 1);
    ck_assert_int_eq(list_total(org, "100%"), 1);
    ck_assert_int_eq(list_total(org, "_"), 1);
    ck_assert_int_eq(list_total(org, "under_"), 1);
    ck_assert_int_eq(list_total(org, "\\"), 0);
    ck_assert_int_eq(list_total(org, "nobody"), 0);

    do_list(&ctx, org, 1, 5, "priya");
    ck_status(ctx, OD__STATUS__OK);
    Od__ListContactsReply *l = (Od__ListContactsReply *)ctx.reply;
    ck_assert_uint_eq(l->n_data, 2);
    for (size_t i = 0; i < l->n_data; i++)
        ck_assert_msg(strcasestr(l->data[i]->name, "priya") != NULL, "unexpected match %s",
                      l->data[i]->name);
    rpc_ctx_release(&ctx);

    /* Bounds. */
    do_list(&ctx, org, 1, 101, NULL);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    do_list(&ctx, org, 1, 0, NULL);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    do_list(&ctx, org, 0, 10, NULL);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    char long_search[102];
    memset(long_search, 'a', 101);
    long_search[101] = '\0';
    do_list(&ctx, org, 1, 10, long_search);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    do_list(&ctx, org, 1, 100, NULL);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_uint_eq(((Od__ListContactsReply *)ctx.reply)->n_data, NPEOPLE + 6);
    rpc_ctx_release(&ctx);
}
END_TEST

static void update_init(Od__UpdateContactRequest *up, const char *id)
{
    od__update_contact_request__init(up);
    up->id = (char *)id;
    up->name = up->phone_number = up->language = up->metadata_json = (char *)"";
}

/* Issue 13: keyset paging next to page/limit. A full page carries next_cursor; following it
 * walks the list (newest first) without OFFSET, the last page has none; a cursor that is not
 * one of ours is INVALID. */
START_TEST(test_list_cursor_pages)
{
    Od__ContactInput rows[25];
    char phones[25][20], seen[25][IDS_MAX_LEN], cursor[128] = "", prev[IDS_MAX_LEN] = "";
    struct rpc_ctx ctx;
    int nseen = 0;
    for (int i = 0; i < 25; i++) {
        snprintf(phones[i], sizeof phones[i], "+1415777%04d", i);
        input_set(&rows[i], "Cursor Person", phones[i], "", "");
    }
    do_bulk(&ctx, "org_cursor", rows, 25);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    for (int page = 0; page < 3; page++) {
        Od__ListContactsRequest req = OD__LIST_CONTACTS_REQUEST__INIT;
        req.page = 1;
        req.limit = 10;
        req.search = (char *)"";
        req.cursor = cursor;
        rpc_ctx_init(&ctx, "org_cursor", "svc-cursor", RPC_TIMEOUT_MS);
        od__contacts__list(svc(), &req, NULL, &ctx);
        ck_status(ctx, OD__STATUS__OK);
        Od__ListContactsReply *r = (Od__ListContactsReply *)ctx.reply;
        ck_assert_int_eq(r->total, 25);
        ck_assert_uint_eq(r->n_data, page < 2 ? 10 : 5);
        for (size_t i = 0; i < r->n_data; i++) {
            if (prev[0] != '\0')
                ck_assert_msg(strcmp(r->data[i]->id, prev) < 0, "not newest first");
            snprintf(prev, sizeof prev, "%s", r->data[i]->id);
            snprintf(seen[nseen++], IDS_MAX_LEN, "%s", r->data[i]->id);
        }
        if (page < 2)
            ck_assert_msg(strncmp(r->next_cursor, "ck", 2) == 0, "cursor %s", r->next_cursor);
        else
            ck_assert_str_eq(r->next_cursor, "");
        snprintf(cursor, sizeof cursor, "%s", r->next_cursor);
        rpc_ctx_release(&ctx);
    }
    ck_assert_int_eq(nseen, 25);
    /* No trigram indexes on contacts (migration 008): two GIN inserts per row cost bulk
     * writes 2-3x; search is bounded by depth, count and statement_timeout instead. */
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM pg_indexes WHERE schemaname = "
                                        "'contacts' AND indexname IN ('contacts_name_trgm_idx', "
                                        "'contacts_phone_trgm_idx')"),
                     0);
    Od__ListContactsRequest bad = OD__LIST_CONTACTS_REQUEST__INIT;
    bad.page = 1;
    bad.limit = 10;
    bad.search = (char *)"";
    bad.cursor = (char *)"ck2727";
    rpc_ctx_init(&ctx, "org_cursor", "svc-cursor", RPC_TIMEOUT_MS);
    od__contacts__list(svc(), &bad, NULL, &ctx);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
}
END_TEST

START_TEST(test_update_fields)
{
    const char *org = "org_update";
    struct rpc_ctx ctx;
    Od__UpdateContactRequest up;
    char id[64], other[64], created_at[32];

    create_ok(org, "Asha", "+14155550700", "en-IN", "{\"a\":\"1\"}", id, sizeof id);
    create_ok(org, "Other", "+14155550799", "", "", other, sizeof other);

    /* Name only: everything else stays. */
    update_init(&up, id);
    up.set_name = true;
    up.name = (char *)"Asha Patel";
    do_update(&ctx, org, &up);
    ck_status(ctx, OD__STATUS__OK);
    Od__Contact *c = (Od__Contact *)ctx.reply;
    ck_assert_str_eq(c->name, "Asha Patel");
    ck_assert_str_eq(c->phone_number, "+14155550700");
    ck_assert_str_eq(c->language, "en-IN");
    assert_meta_string(c->metadata_json, "a", "1");
    snprintf(created_at, sizeof created_at, "%s", c->created_at);
    rpc_ctx_release(&ctx);

    /* Clearing the language. */
    update_init(&up, id);
    up.set_language = true;
    do_update(&ctx, org, &up);
    ck_status(ctx, OD__STATUS__OK);
    c = (Od__Contact *)ctx.reply;
    ck_assert_str_eq(c->language, "");
    ck_assert_str_eq(c->name, "Asha Patel");
    rpc_ctx_release(&ctx);

    /* Phone number, language and metadata (replaced, not merged) together. */
    update_init(&up, id);
    up.set_phone_number = true;
    up.phone_number = (char *)"+14155550701";
    up.set_language = true;
    up.language = (char *)"hi-IN";
    up.set_metadata = true;
    up.metadata_json = (char *)"{\"b\":\"2\"}";
    do_update(&ctx, org, &up);
    ck_status(ctx, OD__STATUS__OK);
    c = (Od__Contact *)ctx.reply;
    ck_assert_str_eq(c->phone_number, "+14155550701");
    ck_assert_str_eq(c->language, "hi-IN");
    assert_meta_string(c->metadata_json, "b", "2");
    ck_assert_uint_eq(meta_size(c->metadata_json), 1);
    ck_assert_str_eq(c->created_at, created_at);
    ck_assert_msg(strcmp(c->updated_at, c->created_at) >= 0, "updated_at %s < created_at %s",
                  c->updated_at, c->created_at);
    rpc_ctx_release(&ctx);

    do_get(&ctx, org, id);
    ck_status(ctx, OD__STATUS__OK);
    c = (Od__Contact *)ctx.reply;
    ck_assert_str_eq(c->name, "Asha Patel");
    ck_assert_str_eq(c->phone_number, "+14155550701");
    ck_assert_str_eq(c->language, "hi-IN");
    rpc_ctx_release(&ctx);

    /* Clearing the name. */
    update_init(&up, id);
    up.set_name = true;
    do_update(&ctx, org, &up);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_str_eq(((Od__Contact *)ctx.reply)->name, "");
    rpc_ctx_release(&ctx);

    /* Invalid values. */
    update_init(&up, id);
    up.set_phone_number = true;
    up.phone_number = (char *)"0123";
    do_update(&ctx, org, &up);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    update_init(&up, id);
    up.set_phone_number = true;
    do_update(&ctx, org, &up);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    update_init(&up, id);
    up.set_language = true;
    up.language = (char *)"1x";
    do_update(&ctx, org, &up);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    update_init(&up, id);
    up.set_metadata = true;
    up.metadata_json = (char *)"[]";
    do_update(&ctx, org, &up);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);

    /* Another contact's number. */
    update_init(&up, id);
    up.set_phone_number = true;
    up.phone_number = (char *)"+14155550799";
    do_update(&ctx, org, &up);
    ck_status(ctx, OD__STATUS__CONFLICT);
    rpc_ctx_release(&ctx);

    /* Unknown id. */
    update_init(&up, "cid_doesnotexist");
    up.set_name = true;
    up.name = (char *)"x";
    do_update(&ctx, org, &up);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);

    do_get(&ctx, org, other);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_str_eq(((Od__Contact *)ctx.reply)->phone_number, "+14155550799");
    rpc_ctx_release(&ctx);
}
END_TEST

START_TEST(test_delete)
{
    const char *org = "org_delete";
    struct rpc_ctx ctx;
    char id[64];

    create_ok(org, "Gone Soon", "+14155550800", "", "", id, sizeof id);
    do_delete(&ctx, org, id);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    do_get(&ctx, org, id);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    do_delete(&ctx, org, id);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(list_total(org, NULL), 0);
    /* The number is free again. */
    create_ok(org, "Back Again", "+14155550800", "", "", id, sizeof id);
}
END_TEST

/* ---------------- database roles ---------------- */

START_TEST(test_contacts_role_cannot_read_gateway_schema)
{
    char org[64], key[128];
    const char *contacts_url = ts_db_url(g_db, "contacts");
    const char *gateway_url = ts_db_url(g_db, "gateway");
    PGconn *conn;
    PGresult *res;

    /* Let the gateway create its schema's tables (org-create runs its migrations). */
    ts_org_create(g_db, "Isolation Test", "standard", org, sizeof org, key, sizeof key);

    conn = PQconnectdb(contacts_url);
    ck_assert_msg(PQstatus(conn) == CONNECTION_OK, "contacts role cannot connect: %s",
                  PQerrorMessage(conn));
    res = PQexec(conn, "SELECT 1 FROM contacts.contacts LIMIT 1");
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "contacts role cannot read its own "
                  "schema: %s", PQresultErrorMessage(res));
    PQclear(res);
    res = PQexec(conn, "SELECT 1 FROM gateway.organizations");
    ck_assert_msg(PQresultStatus(res) == PGRES_FATAL_ERROR,
                  "the contacts role could read gateway.organizations");
    ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42501");
    PQclear(res);
    res = PQexec(conn, "SELECT 1 FROM gateway.api_keys");
    ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
    PQclear(res);
    res = PQexec(conn, "CREATE TABLE public.sneaky (x int)");
    ck_assert_msg(PQresultStatus(res) == PGRES_FATAL_ERROR,
                  "the contacts role could create a table in public");
    PQclear(res);
    PQfinish(conn);

    /* And the other way round. */
    conn = PQconnectdb(gateway_url);
    ck_assert_msg(PQstatus(conn) == CONNECTION_OK, "gateway role cannot connect: %s",
                  PQerrorMessage(conn));
    res = PQexec(conn, "SELECT 1 FROM contacts.contacts");
    ck_assert_msg(PQresultStatus(res) == PGRES_FATAL_ERROR,
                  "the gateway role could read contacts.contacts");
    ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42501");
    PQclear(res);
    PQfinish(conn);
}
END_TEST

/* ---------------- migrations ---------------- */

static int count_migration_files(void)
{
    const char *src = getenv("OUTDIAL_SOURCE_DIR");
    char dir[PATH_MAX];
    DIR *d;
    struct dirent *e;
    int n = 0;
    ck_assert_msg(src != NULL, "OUTDIAL_SOURCE_DIR is not set (ctest sets it)");
    snprintf(dir, sizeof dir, "%s/contacts-svc/migrations", src);
    d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".sql") == 0)
            n++;
    }
    closedir(d);
    return n;
}

START_TEST(test_migrations_once_with_two_replicas)
{
    struct ts_db *db = ts_db_create();
    const char *url = ts_db_url(db, "contacts");
    char url_a[64], url_b[64], both[140], id[64];
    struct ts_proc *a, *b;
    struct rpc_client *client;
    struct rpc_ctx ctx;
    int nfiles = count_migration_files();

    /* Both start at once against the fresh database, then both must become ready. */
    a = start_contacts("contacts-replica-a", url, url_a, sizeof url_a, false);
    b = start_contacts("contacts-replica-b", url, url_b, sizeof url_b, false);
    ts_proc_wait_ready(a, 30000);
    ts_proc_wait_ready(b, 30000);

    ck_assert_int_eq(ts_db_scalar(db, "SELECT count(*) FROM contacts.schema_migrations"),
                     nfiles);
    ck_assert_int_eq(
        ts_db_scalar(db, "SELECT count(DISTINCT name) FROM contacts.schema_migrations"), nfiles);
    ck_assert_int_eq(ts_db_scalar(db, "SELECT count(*) FROM pg_tables "
                                      "WHERE schemaname = 'contacts' AND tablename = 'contacts'"),
                     1);
    /* The tables belong to the contacts role, not the admin. */
    ck_assert_int_eq(ts_db_scalar(db, "SELECT count(*) FROM pg_tables WHERE schemaname = "
                                      "'contacts' AND tableowner NOT LIKE '%\\_contacts'"),
                     0);

    /* One client over both replicas works. */
    snprintf(both, sizeof both, "%s,%s", url_a, url_b);
    client = rpc_client_open(&od__contacts__descriptor, both);
    ck_assert_ptr_nonnull(client);
    wait_connected(client, 5000);
    int64_t give_up = ts_now_ms() + 5000;
    while (rpc_client_connected(client) < 2 && ts_now_ms() < give_up)
        ts_sleep_ms(10);
    ck_assert_int_eq(rpc_client_connected(client), 2);
    do_create_on(client, &ctx, "org_replicas", "Rep", "+14155550900", "", "");
    ck_status(ctx, OD__STATUS__OK);
    snprintf(id, sizeof id, "%s", ((Od__Contact *)ctx.reply)->id);
    rpc_ctx_release(&ctx);
    for (int i = 0; i < 8; i++) {
        do_get_on(client, &ctx, "org_replicas", id, RPC_TIMEOUT_MS);
        ck_status(ctx, OD__STATUS__OK);
        rpc_ctx_release(&ctx);
    }
    rpc_client_close(client);

    ts_proc_stop_ok(a);
    ts_proc_stop_ok(b);
    ts_proc_free(a);
    ts_proc_free(b);
    ts_db_drop(db);
}
END_TEST

/* ---------------- failures and recovery ---------------- */

/* An in-process rpc server whose od.Contacts.Get answers a contact with a 4,000-byte name:
 * the reply-size cap and the out-of-memory answers of lib/rpc.c, with test-only knobs. */
static void big_reply_invoke(ProtobufCService *service, unsigned method_index,
                             const ProtobufCMessage *input, ProtobufCClosure closure,
                             void *closure_data)
{
    static char name[4001];
    Od__Contact contact = OD__CONTACT__INIT;
    (void)service, (void)method_index, (void)input;
    memset(name, 'x', sizeof name - 1);
    contact.id = "con_big";
    contact.name = name;
    closure(&contact.base, closure_data);
}

static ProtobufCService g_big_service = {&od__contacts__descriptor, big_reply_invoke, NULL};

static void in_process_get(struct rpc_ctx *ctx, void (*arm)(void))
{
    char url[64];
    struct rpc_server_options o = {0};
    struct rpc_server *server;
    struct rpc_client *client;

    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", ts_free_port());
    o.listen_url = url;
    o.workers = 1;
    o.database_url = ts_db_url(g_db, "contacts");
    o.services[0] = &g_big_service;
    server = rpc_server_start(&o);
    ck_assert_ptr_nonnull(server);
    client = rpc_client_open(&od__contacts__descriptor, url);
    ck_assert_ptr_nonnull(client);
    rpc_client_set_connect_wait(client, 3000);
    if (arm != NULL)
        arm();
    do_get_on(client, ctx, "org_big", "con_big", 3000);
    rpc_server_set_reply_cap_for_test(0);
    rpc_server_fail_allocs_for_test(0);
    rpc_client_close(client);
    rpc_server_stop(server);
}

static void arm_small_cap(void) { rpc_server_set_reply_cap_for_test(1000); }
static void arm_one_failed_alloc(void) { rpc_server_fail_allocs_for_test(1); }
static void arm_two_failed_allocs(void) { rpc_server_fail_allocs_for_test(2); }

START_TEST(test_reply_too_large_is_an_answer)
{
    struct rpc_ctx ctx;
    int64_t started = ts_now_ms();

    in_process_get(&ctx, NULL);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);

    in_process_get(&ctx, arm_small_cap);
    ck_status(ctx, OD__STATUS__INTERNAL);
    ck_assert_msg(strstr(ctx.message, "reply too large (") != NULL, "%s", ctx.message);
    rpc_ctx_release(&ctx);
    ck_assert_msg(ts_now_ms() - started < 2500, "the caller waited out its deadline");
}
END_TEST

/* A failed allocation of the reply (the handler's packed output, then the nng message) is an
 * INTERNAL "out of memory" answer, never an empty reply or a wait for the deadline. */
START_TEST(test_reply_out_of_memory_is_an_answer)
{
    struct rpc_ctx ctx;

    in_process_get(&ctx, arm_one_failed_alloc);
    ck_status(ctx, OD__STATUS__INTERNAL);
    ck_assert_str_eq(ctx.message, "out of memory");
    rpc_ctx_release(&ctx);

    in_process_get(&ctx, arm_two_failed_allocs);
    ck_status(ctx, OD__STATUS__INTERNAL);
    ck_assert_str_eq(ctx.message, "out of memory");
    rpc_ctx_release(&ctx);
}
END_TEST

/* The gateway's /readyz (gateway_ready -> db_pool_ping) answers at once while every pool
 * connection is held, with the last known state, instead of waiting for a free one. */
START_TEST(test_pool_ping_never_blocks)
{
    struct db_pool *pool = db_pool_open(ts_db_url(g_db, "contacts"), 1, 5000);
    struct db *held;
    int64_t started, elapsed;

    ck_assert_ptr_nonnull(pool);
    ck_assert_int_eq(db_pool_ping(pool), 0);
    held = db_pool_try_acquire(pool);
    ck_assert_ptr_nonnull(held);
    ck_assert_ptr_null(db_pool_try_acquire(pool));
    started = ts_now_ms();
    ck_assert_int_eq(db_pool_ping(pool), 0); /* last known: reachable */
    elapsed = ts_now_ms() - started;
    ck_assert_msg(elapsed < 100, "db_pool_ping waited %lld ms for a busy pool",
                  (long long)elapsed);
    db_pool_release(pool, held);
    ck_assert_int_eq(db_pool_ping(pool), 0);
    db_pool_close(pool);
}
END_TEST

/* A write must not commit after its caller gave up: a bulk upsert held up by a table lock past
 * its 500 ms timeout gets UNAVAILABLE, and when the lock goes the service's commit is refused
 * (the server's deadline, from the time remaining the client sent): the rows never land. */
START_TEST(test_no_commit_after_deadline)
{
    struct rpc_ctx ctx;
    Od__ContactInput rows[2];
    Od__ContactInput *ptrs[3] = {&rows[0], &rows[1], NULL};
    Od__BulkUpsertRequest req = OD__BULK_UPSERT_REQUEST__INIT;
    PGconn *admin = ts_db_admin(g_db);
    PGresult *res;
    int64_t started, elapsed;

    input_set(&rows[0], "Late One", "+14155557701", "", "");
    input_set(&rows[1], "Late Two", "+14155557702", "", "");
    req.n_contacts = 2;
    req.contacts = ptrs;
    res = PQexec(admin, "BEGIN; LOCK TABLE contacts.contacts IN SHARE ROW EXCLUSIVE MODE");
    ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    started = ts_now_ms();
    rpc_ctx_init(&ctx, "org_late", "svc-late", 500);
    od__contacts__bulk_upsert(rpc_client_service(g_client), &req, NULL, &ctx);
    elapsed = ts_now_ms() - started;
    ck_status(ctx, OD__STATUS__UNAVAILABLE);
    rpc_ctx_release(&ctx);
    ck_assert_msg(elapsed < 1500, "returned after %lld ms", (long long)elapsed);
    /* The service's write is still waiting for the lock (it had not run before the deadline). */
    ck_assert_int_ge(ts_db_scalar(g_db, "SELECT count(*) FROM pg_locks l JOIN pg_database d "
                                        "ON d.oid = l.database WHERE NOT l.granted AND "
                                        "d.datname = current_database()"), 1);
    res = PQexec(admin, "COMMIT"); /* the service's insert now runs, then tries to commit */
    ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(admin);
    ts_sleep_ms(1000);
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM contacts.contacts WHERE "
                                        "phone_number IN ('+14155557701', '+14155557702')"), 0);
    /* The same call with time to spare commits. */
    rpc_ctx_init(&ctx, "org_late", "svc-late", 5000);
    od__contacts__bulk_upsert(rpc_client_service(g_client), &req, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM contacts.contacts WHERE "
                                        "phone_number IN ('+14155557701', '+14155557702')"), 2);
}
END_TEST

START_TEST(test_deadline_when_service_hangs)
{
    struct rpc_ctx ctx;
    char id[64];
    int64_t started, elapsed;

    create_ok("org_deadline", "Paused", "+14155551000", "", "", id, sizeof id);
    ts_proc_signal(g_svc, SIGSTOP);
    started = ts_now_ms();
    do_get_on(g_client, &ctx, "org_deadline", id, 500);
    elapsed = ts_now_ms() - started;
    ts_proc_signal(g_svc, SIGCONT);
    ck_status(ctx, OD__STATUS__UNAVAILABLE);
    rpc_ctx_release(&ctx);
    ck_assert_msg(elapsed >= 400 && elapsed < 1500,
                  "a call with a 500 ms timeout to a hung service returned after %lld ms",
                  (long long)elapsed);

    /* It answers again once it runs (the stale request is dropped as past its deadline). */
    do_get(&ctx, "org_deadline", id);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
}
END_TEST

/* A create sent to a replica that dies before it answers must not run anywhere else: nng 1.5's
 * REQ re-queues a request whose pipe closes, whatever the resend time, and would deliver it to
 * the restarted replica. The client cancels such calls instead (UNAVAILABLE). Regression. */
static struct rpc_ctx g_inflight_ctx;

static void *inflight_create(void *arg)
{
    do_create_on(g_client, &g_inflight_ctx, "org_resend", "Only Once", "+14155551400", "", "");
    return NULL;
}

START_TEST(test_no_resend_after_replica_dies)
{
    pthread_t thread;

    ts_proc_signal(g_svc, SIGSTOP); /* the request will wait, unread, in the replica's socket */
    ck_assert_int_eq(pthread_create(&thread, NULL, inflight_create, NULL), 0);
    ts_sleep_ms(300);
    ts_proc_kill(g_svc);
    ts_proc_restart(g_svc);
    ts_proc_wait_ready(g_svc, 30000);
    pthread_join(thread, NULL);
    ck_assert_msg(g_inflight_ctx.status == OD__STATUS__UNAVAILABLE,
                  "a call whose replica died returned %s (%s)",
                  rpc_status_name(g_inflight_ctx.status), g_inflight_ctx.message);
    rpc_ctx_release(&g_inflight_ctx);
    ts_sleep_ms(500); /* time for a re-sent copy to arrive, if there were one */
    ck_assert_int_eq(ts_db_scalar(g_db, "SELECT count(*) FROM contacts.contacts "
                                        "WHERE org_id = 'org_resend'"), 0);
}
END_TEST

/* One replica's lost connection fails only the calls in flight to it. With one socket over
 * every replica the client could not tell which calls went where, and failed them all: a
 * rolling restart of one replica answered 503 for calls (writes among them) that healthy
 * replicas went on to run. Two replicas; B is stopped, so the call sent to it waits unread;
 * A is killed; B is resumed and its call must succeed. Calls go round-robin over the
 * connected replicas, so of two calls in a row one reaches each. */
struct spared_call {
    struct rpc_client *client;
    char id[64];
    struct rpc_ctx ctx;
    atomic_bool done;
};

static void *spared_call_main(void *arg)
{
    struct spared_call *call = arg;
    do_get_on(call->client, &call->ctx, "org_spared", call->id, 10000);
    atomic_store(&call->done, true);
    return NULL;
}

START_TEST(test_replica_death_spares_other_calls)
{
    char url_a[64], url_b[64], both[140], id[64];
    struct ts_proc *a, *b;
    struct rpc_client *client;
    struct spared_call calls[2];
    pthread_t threads[2];
    int64_t give_up;

    a = start_contacts("contacts-spared-a", ts_db_url(g_db, "contacts"), url_a, sizeof url_a,
                       true);
    b = start_contacts("contacts-spared-b", ts_db_url(g_db, "contacts"), url_b, sizeof url_b,
                       true);
    snprintf(both, sizeof both, "%s,%s", url_a, url_b);
    client = rpc_client_open(&od__contacts__descriptor, both);
    ck_assert_ptr_nonnull(client);
    give_up = ts_now_ms() + 5000;
    while (rpc_client_connected(client) < 2 && ts_now_ms() < give_up)
        ts_sleep_ms(10);
    ck_assert_int_eq(rpc_client_connected(client), 2);
    create_ok("org_spared", "Spared", "+14155551500", "", "", id, sizeof id);

    ts_proc_signal(b, SIGSTOP);
    for (int i = 0; i < 2; i++) {
        memset(&calls[i], 0, sizeof calls[i]);
        calls[i].client = client;
        snprintf(calls[i].id, sizeof calls[i].id, "%s", id);
        ck_assert_int_eq(pthread_create(&threads[i], NULL, spared_call_main, &calls[i]), 0);
        ts_sleep_ms(100);
    }
    /* A answered its call; B's waits. */
    give_up = ts_now_ms() + 5000;
    while (!atomic_load(&calls[0].done) && !atomic_load(&calls[1].done) &&
           ts_now_ms() < give_up)
        ts_sleep_ms(10);
    ck_assert_msg(atomic_load(&calls[0].done) != atomic_load(&calls[1].done),
                  "expected one call answered by A and one waiting on the stopped B");
    struct spared_call *waiting = atomic_load(&calls[0].done) ? &calls[1] : &calls[0];
    ts_proc_kill(a);
    give_up = ts_now_ms() + 5000;
    while (rpc_client_connected(client) > 1 && ts_now_ms() < give_up)
        ts_sleep_ms(10);
    ck_assert_int_eq(rpc_client_connected(client), 1); /* the client saw A go */
    ts_sleep_ms(100);
    ck_assert_msg(!atomic_load(&waiting->done), "the call on B ended when A died: %s (%s)",
                  rpc_status_name(waiting->ctx.status), waiting->ctx.message);
    ts_proc_signal(b, SIGCONT);
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
        ck_assert_msg(calls[i].ctx.status == OD__STATUS__OK, "call %d: %s (%s)", i,
                      rpc_status_name(calls[i].ctx.status), calls[i].ctx.message);
        rpc_ctx_release(&calls[i].ctx);
    }
    rpc_client_close(client);
    ts_proc_stop_ok(b);
    ts_proc_free(a);
    ts_proc_free(b);
}
END_TEST

/* nng reports REM_POST also for a pipe that failed to start after its handshake (here: a peer
 * of the wrong protocol, which raw REQ refuses). The client counted each of those down without
 * having counted it up, so the link looked disconnected (and every call failed with
 * UNAVAILABLE) even once a real replica answered there. Regression. */
START_TEST(test_failed_pipes_are_not_counted)
{
    char url[64];
    nng_socket wrong;
    struct rpc_client *client;
    struct rpc_ctx ctx;

    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", ts_free_port());
    ck_assert_int_eq(nng_pair0_open(&wrong), 0);
    ck_assert_int_eq(nng_listen(wrong, url, NULL, 0), 0);
    client = rpc_client_open(&od__contacts__descriptor, url);
    ck_assert_ptr_nonnull(client);
    ts_sleep_ms(1500); /* several refused pipes: the client redials every 50-500 ms */
    ck_assert_int_eq(rpc_client_connected(client), 0);
    nng_close(wrong);

    /* a real replica on the same address: the client counts it and calls reach it */
    struct rpc_server_options o = {0};
    o.listen_url = url;
    o.workers = 1;
    o.database_url = ts_db_url(g_db, "contacts");
    o.services[0] = &g_big_service;
    struct rpc_server *server = rpc_server_start(&o);
    ck_assert_ptr_nonnull(server);
    int64_t give_up = ts_now_ms() + 5000;
    while (rpc_client_connected(client) < 1 && ts_now_ms() < give_up)
        ts_sleep_ms(10);
    ck_assert_int_eq(rpc_client_connected(client), 1);
    do_get_on(client, &ctx, "org_pipes", "con_big", RPC_TIMEOUT_MS);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    rpc_client_close(client);
    rpc_server_stop(server);
}
END_TEST

START_TEST(test_unavailable_when_stopped_then_restart)
{
    struct rpc_ctx ctx;
    char id[64];
    int64_t started, elapsed;

    create_ok("org_restart", "Survivor", "+14155551100", "", "", id, sizeof id);

    /* Stopped cleanly (and leak-free): calls fail fast with UNAVAILABLE. */
    ts_proc_stop_ok(g_svc);
    started = ts_now_ms();
    do_get_on(g_client, &ctx, "org_restart", id, RPC_TIMEOUT_MS);
    elapsed = ts_now_ms() - started;
    ck_status(ctx, OD__STATUS__UNAVAILABLE);
    rpc_ctx_release(&ctx);
    ck_assert_msg(elapsed < 1000, "UNAVAILABLE took %lld ms (limit 1000)", (long long)elapsed);
    do_create(&ctx, "org_restart", "While Down", "+14155551101", "", "");
    ck_status(ctx, OD__STATUS__UNAVAILABLE);
    rpc_ctx_release(&ctx);

    /* Started again on the same port: the same client reconnects by itself. */
    ts_proc_restart(g_svc);
    ts_proc_wait_ready(g_svc, 30000);
    wait_connected(g_client, 5000);
    do_get(&ctx, "org_restart", id);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_str_eq(((Od__Contact *)ctx.reply)->name, "Survivor");
    rpc_ctx_release(&ctx);
}
END_TEST

START_TEST(test_sigkill_then_restart)
{
    struct rpc_ctx ctx;
    char id[64];
    int64_t started, elapsed, give_up;

    create_ok("org_kill", "Before Kill", "+14155551200", "", "", id, sizeof id);
    ts_proc_kill(g_svc);
    /* Measured at once: the client may not have heard of the lost connection yet (nng pipe
     * events are asynchronous), and must still give up within its 1 s send cap rather than
     * wait out the 5 s deadline. */

    started = ts_now_ms();
    do_get_on(g_client, &ctx, "org_kill", id, RPC_TIMEOUT_MS);
    elapsed = ts_now_ms() - started;
    ck_status(ctx, OD__STATUS__UNAVAILABLE);
    rpc_ctx_release(&ctx);
    ck_assert_msg(elapsed < 1500, "UNAVAILABLE after SIGKILL took %lld ms (limit 1500): %s",
                  (long long)elapsed, ctx.message);

    ts_proc_restart(g_svc);
    ts_proc_wait_ready(g_svc, 30000);
    give_up = ts_now_ms() + 5000;
    for (;;) {
        do_get(&ctx, "org_kill", id);
        if (ctx.status == OD__STATUS__OK)
            break;
        ck_assert_msg(ts_now_ms() < give_up, "client did not recover after restart: %s %s",
                      rpc_status_name(ctx.status), ctx.message);
        rpc_ctx_release(&ctx);
        ts_sleep_ms(50);
    }
    ck_assert_str_eq(((Od__Contact *)ctx.reply)->name, "Before Kill");
    rpc_ctx_release(&ctx);
    create_ok("org_kill", "After Kill", "+14155551201", "", "", id, sizeof id);
}
END_TEST

START_TEST(test_postgres_restart)
{
    struct rpc_ctx ctx;
    char id[64];
    int64_t restarted, give_up, first_ok = -1;
    int consecutive = 0, failures = 0;

    create_ok("org_pg", "Before Restart", "+14155551300", "", "", id, sizeof id);
    /* Touch every worker's connection so each has one to lose. */
    for (int i = 0; i < 8; i++) {
        do_get(&ctx, "org_pg", id);
        ck_status(ctx, OD__STATUS__OK);
        rpc_ctx_release(&ctx);
    }
    restart_postgres();
    restarted = ts_now_ms();
    give_up = restarted + 10000;
    /* Recovered means: 16 calls in a row succeed (more than there are workers). */
    while (consecutive < 16) {
        do_get(&ctx, "org_pg", id);
        if (ctx.status == OD__STATUS__OK) {
            if (first_ok < 0)
                first_ok = ts_now_ms() - restarted;
            consecutive++;
        } else {
            ck_assert_msg(ctx.status == OD__STATUS__UNAVAILABLE,
                          "while PostgreSQL restarts a call failed with %s (%s), expected "
                          "UNAVAILABLE",
                          rpc_status_name(ctx.status), ctx.message);
            consecutive = 0;
            failures++;
        }
        rpc_ctx_release(&ctx);
        ck_assert_msg(ts_now_ms() < give_up,
                      "contacts-svc did not recover within 10 s of a PostgreSQL restart "
                      "(%d failed calls; last streak %d)",
                      failures, consecutive);
        if (consecutive == 0)
            ts_sleep_ms(100);
    }
    fprintf(stderr, "[svc] after the PostgreSQL restart: first success after %lld ms, %d "
            "failed calls, recovered after %lld ms\n",
            (long long)first_ok, failures, (long long)(ts_now_ms() - restarted));
    /* pg_ctl restart returns once the server accepts connections again, and every idle
     * connection notices it was dropped before sending: no call may fail (regression). */
    ck_assert_msg(failures == 0, "%d calls failed after the PostgreSQL restart", failures);
    /* Writes work too, and readiness is back (its own connection may need one probe). */
    create_ok("org_pg", "After Restart", "+14155551301", "", "", id, sizeof id);
    while (!ts_proc_ready_now(g_svc)) {
        ck_assert_msg(ts_now_ms() < give_up,
                      "/readyz is not 200 within 10 s of the PostgreSQL restart");
        ts_sleep_ms(100);
    }
}
END_TEST

START_TEST(test_clean_shutdown)
{
    ts_proc_stop_ok(g_svc);
}
END_TEST

static Suite *contacts_suite(void)
{
    Suite *s = suite_create("contacts-svc");
    TCase *tc = tcase_create("rpc");
    tcase_add_unchecked_fixture(tc, stack_setup, stack_teardown);
    tcase_add_checked_fixture(tc, ensure_service, NULL);
    tcase_set_timeout(tc, 0);
    tcase_add_test(tc, test_bulk_valid_and_invalid_rows);
    tcase_add_test(tc, test_bulk_reupsert_updates_and_merges);
    tcase_add_test(tc, test_bulk_duplicate_phone_in_one_request);
    tcase_add_test(tc, test_bulk_limit);
    tcase_add_test(tc, test_bulk_metadata_growth_is_bounded);
    tcase_add_test(tc, test_bulk_concurrent_same_numbers);
    tcase_add_test(tc, test_org_scoping);
    tcase_add_test(tc, test_get_many_is_scoped);
    tcase_add_test(tc, test_batched_reads);
    tcase_add_test(tc, test_reads_drained_on_free);
    tcase_add_test(tc, test_expired_reads_do_not_fail_the_batch);
    tcase_add_test(tc, test_empty_org_is_invalid);
    tcase_add_test(tc, test_create_and_conflict);
    tcase_add_test(tc, test_list_paging_and_search);
    tcase_add_test(tc, test_list_cursor_pages);
    tcase_add_test(tc, test_update_fields);
    tcase_add_test(tc, test_delete);
    tcase_add_test(tc, test_contacts_role_cannot_read_gateway_schema);
    tcase_add_test(tc, test_migrations_once_with_two_replicas);
    tcase_add_test(tc, test_pool_ping_never_blocks);
    tcase_add_test(tc, test_reply_too_large_is_an_answer);
    tcase_add_test(tc, test_reply_out_of_memory_is_an_answer);
    tcase_add_test(tc, test_no_commit_after_deadline);
    tcase_add_test(tc, test_deadline_when_service_hangs);
    tcase_add_test(tc, test_unavailable_when_stopped_then_restart);
    tcase_add_test(tc, test_sigkill_then_restart);
    tcase_add_test(tc, test_no_resend_after_replica_dies);
    tcase_add_test(tc, test_replica_death_spares_other_calls);
    tcase_add_test(tc, test_failed_pipes_are_not_counted);
    tcase_add_test(tc, test_postgres_restart);
    tcase_add_test(tc, test_clean_shutdown);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;
    int64_t started = ts_now_ms();

    ts_init("svc");
    sr = srunner_create(contacts_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    fprintf(stderr, "[svc] finished in %.1f s\n", (double)(ts_now_ms() - started) / 1000.0);
    return ts_finish(failed);
}
