/* Service-level tests of asynchronous imports in contacts-svc: the real binary against a
 * throwaway database, driven over nng with the Imports stubs, checked with admin SQL.
 *
 * contacts-svc runs with IMPORT_CHUNK_ROWS=200 and IMPORT_CHUNK_DELAY_MS=40 so that a
 * 10,000-row import takes a few seconds and can be killed in the middle. */
#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contacts.pb-c.h"
#include "imports.pb-c.h"
#include "rpc.h"
#include "testsupport.h"

#define RPC_TIMEOUT_MS 10000

static struct ts_db *g_db;
static struct ts_proc *g_svc;
static struct rpc_client *g_client;
static char g_bin[PATH_MAX];
static char g_rpc_url[64];

#define ck_status(ctx, expected)                                                               \
    ck_assert_msg((ctx).status == (expected), "expected %s, got %s: %s",                      \
                  rpc_status_name(expected), rpc_status_name((ctx).status), (ctx).message)

/* ---------------- helpers ---------------- */

static void wait_connected(struct rpc_client *c, int timeout_ms)
{
    int64_t give_up = ts_now_ms() + timeout_ms;
    while (rpc_client_connected(c) <= 0) {
        ck_assert_msg(ts_now_ms() < give_up, "RPC client not connected within %d ms",
                      timeout_ms);
        ts_sleep_ms(10);
    }
}

/* Rows for a submit; strings are borrowed from the caller (static or long-lived). */
struct rows {
    size_t n;
    Od__ContactInput *in;
    Od__ContactInput **ptrs;
    char (*phones)[20];
};

static struct rows rows_new(size_t n)
{
    struct rows r = {n, calloc(n + 1, sizeof(Od__ContactInput)),
                     calloc(n + 1, sizeof(Od__ContactInput *)), calloc(n + 1, 20)};
    ck_assert(r.in && r.ptrs && r.phones);
    for (size_t i = 0; i < n; i++) {
        od__contact_input__init(&r.in[i]);
        r.ptrs[i] = &r.in[i];
    }
    return r;
}

static void rows_set(struct rows *r, size_t i, const char *name, const char *phone,
                     const char *language, const char *metadata)
{
    r->in[i].name = (char *)(name ? name : "");
    r->in[i].phone_number = (char *)(phone ? phone : "");
    r->in[i].language = (char *)(language ? language : "");
    r->in[i].metadata_json = (char *)(metadata ? metadata : "");
}

/* n rows "+1555<base+i>" named "Row i". */
static struct rows rows_numbered(size_t n, long long base)
{
    struct rows r = rows_new(n);
    for (size_t i = 0; i < n; i++) {
        snprintf(r.phones[i], 20, "+1555%07lld", base + (long long)i);
        rows_set(&r, i, "Numbered", r.phones[i], "en-US", NULL);
    }
    return r;
}

static void rows_free(struct rows *r)
{
    free(r->in);
    free(r->ptrs);
    free(r->phones);
}

static void do_submit(struct rpc_ctx *ctx, const char *org, struct rows *r,
                      const char *audience, const char *webhook)
{
    Od__SubmitImportRequest req = OD__SUBMIT_IMPORT_REQUEST__INIT;
    req.n_contacts = r->n;
    req.contacts = r->ptrs;
    req.audience_id = (char *)(audience ? audience : "");
    req.webhook_url = (char *)(webhook ? webhook : "");
    rpc_ctx_init(ctx, org, "svc-import-submit", 30000);
    od__imports__submit(rpc_client_service(g_client), &req, NULL, ctx);
}

/* Submits and copies the new import's id (asserts OK and PENDING). */
static void submit_ok(const char *org, struct rows *r, const char *audience,
                      const char *webhook, char *id, size_t id_size)
{
    struct rpc_ctx ctx;
    do_submit(&ctx, org, r, audience, webhook);
    ck_status(ctx, OD__STATUS__OK);
    Od__Import *m = (Od__Import *)ctx.reply;
    ck_assert_msg(strncmp(m->id, "imp_", 4) == 0, "import id %s", m->id);
    ck_assert_str_eq(m->status, "PENDING");
    ck_assert_int_eq(m->total, (int)r->n);
    snprintf(id, id_size, "%s", m->id);
    rpc_ctx_release(&ctx);
}

static void do_get(struct rpc_ctx *ctx, const char *org, const char *id)
{
    Od__GetImportRequest req = OD__GET_IMPORT_REQUEST__INIT;
    req.id = (char *)id;
    rpc_ctx_init(ctx, org, "svc-import-get", RPC_TIMEOUT_MS);
    od__imports__get(rpc_client_service(g_client), &req, NULL, ctx);
}

static bool terminal(const char *status)
{
    return strcmp(status, "COMPLETED") == 0 || strcmp(status, "COMPLETED_WITH_ERRORS") == 0 ||
           strcmp(status, "FAILED") == 0;
}

/* Polls Get until the import is finished; the caller releases ctx. */
static Od__Import *wait_done(struct rpc_ctx *ctx, const char *org, const char *id,
                             int timeout_ms)
{
    int64_t give_up = ts_now_ms() + timeout_ms;
    for (;;) {
        do_get(ctx, org, id);
        ck_status(*ctx, OD__STATUS__OK);
        Od__Import *m = (Od__Import *)ctx->reply;
        if (terminal(m->status))
            return m;
        ck_assert_msg(ts_now_ms() < give_up, "import %s still %s (%d/%d) after %d ms", id,
                      m->status, m->processed, m->total, timeout_ms);
        rpc_ctx_release(ctx);
        ts_sleep_ms(50);
    }
}

static void assert_counts(const Od__Import *m, const char *status, int total, int created,
                          int updated, int failed)
{
    ck_assert_str_eq(m->status, status);
    ck_assert_int_eq(m->total, total);
    ck_assert_int_eq(m->processed, total);
    ck_assert_int_eq(m->created, created);
    ck_assert_int_eq(m->updated, updated);
    ck_assert_int_eq(m->failed, failed);
    ck_assert_int_eq(m->error_count, failed);
    ck_assert_msg(strlen(m->completed_at) == 24 && m->completed_at[23] == 'Z',
                  "completedAt %s", m->completed_at);
}

static long long sqlf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long sqlf(const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return ts_db_scalar(g_db, sql);
}

/* Checks the single import.completed event of an import against its final state. */
static void assert_one_event(const Od__Import *m, const char *org, const char *webhook)
{
    PGconn *admin = ts_db_admin(g_db);
    const char *params[] = {m->id};
    PGresult *res;
    json_t *p;

    res = PQexecParams(admin,
                       "SELECT id, org_id, event_type, payload::text, coalesce(webhook_url, '') "
                       "FROM contacts.outbox WHERE payload->>'importId' = $1",
                       1, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "outbox: %s",
                  PQresultErrorMessage(res));
    ck_assert_msg(PQntuples(res) == 1, "import %s has %d import.completed events", m->id,
                  PQntuples(res));
    ck_assert_msg(strncmp(PQgetvalue(res, 0, 0), "evt_", 4) == 0, "event id %s",
                  PQgetvalue(res, 0, 0));
    ck_assert_str_eq(PQgetvalue(res, 0, 1), org);
    ck_assert_str_eq(PQgetvalue(res, 0, 2), "import.completed");
    ck_assert_str_eq(PQgetvalue(res, 0, 4), webhook ? webhook : "");
    p = json_loads(PQgetvalue(res, 0, 3), 0, NULL);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(json_string_value(json_object_get(p, "event")), "import.completed");
    ck_assert_str_eq(json_string_value(json_object_get(p, "importId")), m->id);
    ck_assert_str_eq(json_string_value(json_object_get(p, "status")), m->status);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "total")), m->total);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "created")), m->created);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "updated")), m->updated);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "failed")), m->failed);
    ck_assert_str_eq(json_string_value(json_object_get(p, "completedAt")), m->completed_at);
    ck_assert_msg(json_is_string(json_object_get(p, "timestamp")), "no timestamp");
    ck_assert_uint_eq(json_object_size(p), 9);
    json_decref(p);
    PQclear(res);
    /* Written in the transaction that set the final status: same inserting transaction. */
    res = PQexecParams(admin,
                       "SELECT (SELECT xmin::text FROM contacts.imports WHERE id = $1) = "
                       "(SELECT xmin::text FROM contacts.outbox WHERE payload->>'importId' = $1)",
                       1, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't',
                  "the event and the final status were not written by one transaction");
    PQclear(res);
    PQfinish(admin);
}

/* ---------------- fixture ---------------- */

/* Starts a contacts-svc replica on the test database; its RPC URL goes to rpc_url. */
static struct ts_proc *start_replica(const char *name, char *rpc_url, size_t rpc_url_size)
{
    char e_db[700], e_rpc[80], e_health[80], e_webhook[80];
    int rpc_port = ts_free_port(), health_port = ts_free_port();
    struct ts_proc *p;
    /* The outbox relay points at a port nobody serves: events stay in the outbox for the
     * assertions (and never reach a webhook-svc that happens to run on this machine). */
    snprintf(e_webhook, sizeof e_webhook, "WEBHOOK_SVC_URL=tcp://127.0.0.1:%d", ts_free_port());
    snprintf(rpc_url, rpc_url_size, "tcp://127.0.0.1:%d", rpc_port);
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "contacts"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=%s", rpc_url);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", health_port);
    const char *env[] = {e_db, e_rpc, e_health, e_webhook, "RPC_WORKERS=4", "IMPORT_WORKERS=2",
                         "IMPORT_CHUNK_ROWS=200", "IMPORT_CHUNK_DELAY_MS=40",
                         "IMPORT_POLL_MS=200", "RETENTION_INTERVAL_MS=200", NULL};
    p = ts_proc_start(name, g_bin, NULL, env);
    ts_proc_wait_ready(p, 30000);
    return p;
}

static void stack_setup(void)
{
    ts_binary("contacts-svc/contacts-svc", g_bin, sizeof g_bin);
    g_db = ts_db_create();
    g_svc = start_replica("contacts-svc", g_rpc_url, sizeof g_rpc_url);
    g_client = rpc_client_open(&od__imports__descriptor, g_rpc_url);
    ck_assert_ptr_nonnull(g_client);
    wait_connected(g_client, 5000);
}

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

/* ---------------- tests ---------------- */

START_TEST(test_submit_process_status_errors)
{
    struct rows r = rows_new(5);
    struct rpc_ctx ctx;
    char id[64];
    const char *webhook = "https://example.com/hooks/import-done";

    rows_set(&r, 0, "Priya Sharma", "+919876543210", "hi-IN", "{\"city\":\"Mumbai\"}");
    rows_set(&r, 1, "Ravi Kumar", "+919123456789", "en-IN", NULL);
    rows_set(&r, 2, "Bad Phone", "12345", NULL, NULL);
    rows_set(&r, 3, NULL, "+14155550100", NULL, NULL); /* no name: imported, name NULL */
    rows_set(&r, 4, "Bad Lang", "+14155550101", "not a tag", NULL);
    submit_ok("org_a", &r, NULL, webhook, id, sizeof id);
    Od__Import *m = wait_done(&ctx, "org_a", id, 20000);
    assert_counts(m, "COMPLETED_WITH_ERRORS", 5, 3, 0, 2);
    ck_assert_str_eq(m->webhook_url, webhook);
    assert_one_event(m, "org_a", webhook);
    rpc_ctx_release(&ctx);

    /* The errors, by row index. */
    Od__ListImportErrorsRequest req = OD__LIST_IMPORT_ERRORS_REQUEST__INIT;
    req.id = id;
    req.page = 1;
    req.limit = 100;
    rpc_ctx_init(&ctx, "org_a", "svc-errors", RPC_TIMEOUT_MS);
    od__imports__list_errors(rpc_client_service(g_client), &req, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    Od__ListImportErrorsReply *e = (Od__ListImportErrorsReply *)ctx.reply;
    ck_assert_int_eq(e->total, 2);
    ck_assert_uint_eq(e->n_data, 2);
    ck_assert_int_eq(e->data[0]->index, 2);
    ck_assert_str_eq(e->data[0]->phone_number, "12345");
    ck_assert_str_eq(e->data[0]->reason, "phoneNumber must be a valid E.164 phone number");
    /* row 3 has no name and is imported: one rule on every route (issue 14) */
    ck_assert_int_eq(e->data[1]->index, 4);
    rpc_ctx_release(&ctx);

    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.contacts WHERE org_id = 'org_a'"), 3);
    /* stored as NULL, never "" */
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.contacts WHERE org_id = 'org_a' AND "
                          "phone_number = '+14155550100' AND name IS NULL"),
                     1);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.contacts WHERE org_id = 'org_a' AND "
                          "metadata->>'city' = 'Mumbai' AND language = 'hi-IN'"),
                     1);
    /* a finished import's stored rows are deleted with its last chunk */
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.import_payloads WHERE import_id = '%s'",
                          id),
                     0);
    rows_free(&r);
}
END_TEST

START_TEST(test_repeats_and_existing_numbers)
{
    struct rows first = rows_new(1), r = rows_new(4);
    struct rpc_ctx ctx;
    char id[64];

    rows_set(&first, 0, "Old Name", "+14155550200", "en-US", "{\"a\":\"1\",\"b\":\"1\"}");
    submit_ok("org_rep", &first, NULL, NULL, id, sizeof id);
    assert_counts(wait_done(&ctx, "org_rep", id, 20000), "COMPLETED", 1, 1, 0, 0);
    rpc_ctx_release(&ctx);

    rows_set(&r, 0, "New Name", "+14155550200", NULL, "{\"b\":\"2\"}"); /* existing */
    rows_set(&r, 1, "Twice A", "+14155550201", NULL, NULL);
    rows_set(&r, 2, "Twice B", "+14155550201", NULL, NULL); /* repeat: last wins */
    rows_set(&r, 3, "Fresh", "+14155550202", NULL, NULL);
    submit_ok("org_rep", &r, NULL, NULL, id, sizeof id);
    Od__Import *m = wait_done(&ctx, "org_rep", id, 20000);
    assert_counts(m, "COMPLETED", 4, 2, 2, 0);
    assert_one_event(m, "org_rep", NULL);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.contacts WHERE org_id = 'org_rep'"), 3);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.contacts WHERE org_id = 'org_rep' AND "
                          "phone_number = '+14155550200' AND name = 'New Name' AND "
                          "language = 'en-US' AND metadata = '{\"a\":\"1\",\"b\":\"2\"}'::jsonb"),
                     1);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.contacts WHERE org_id = 'org_rep' AND "
                          "phone_number = '+14155550201' AND name = 'Twice B'"),
                     1);
    rows_free(&first);
    rows_free(&r);
}
END_TEST

/* Issue 13: a row whose metadata, merged into the stored one, would pass the 16 KiB limit fails
 * alone with its reason; the other 9,999 rows of the import are written. (It used to fail its
 * whole chunk, then the import: FAILED, no error rows.) */
START_TEST(test_oversized_merged_metadata_fails_alone)
{
    enum { N = 10000, BAD = 4321 };
    static char meta_a[10040], meta_b[10040];
    struct rows first = rows_new(1), r = rows_numbered(N, 7000000);
    struct rpc_ctx ctx;
    char id[64];

    snprintf(meta_a, sizeof meta_a, "{\"a\":\"%09000d\"}", 0); /* each alone is under 16 KiB */
    snprintf(meta_b, sizeof meta_b, "{\"b\":\"%09000d\"}", 0);
    rows_set(&first, 0, "Big", r.phones[BAD], NULL, meta_a);
    submit_ok("org_big", &first, NULL, NULL, id, sizeof id);
    assert_counts(wait_done(&ctx, "org_big", id, 20000), "COMPLETED", 1, 1, 0, 0);
    rpc_ctx_release(&ctx);

    rows_set(&r, BAD, "Bigger", r.phones[BAD], NULL, meta_b);
    submit_ok("org_big", &r, NULL, NULL, id, sizeof id);
    Od__Import *m = wait_done(&ctx, "org_big", id, 60000);
    assert_counts(m, "COMPLETED_WITH_ERRORS", N, N - 1, 0, 1);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.import_errors WHERE import_id = '%s' "
                          "AND idx = %d AND reason = 'metadata would exceed 16384 bytes of JSON once "
                          "merged with the stored metadata'",
                          id, BAD),
                     1);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.contacts WHERE org_id = 'org_big'"), N);
    /* the refused row left the stored contact as it was */
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.contacts WHERE org_id = 'org_big' AND "
                          "name = 'Big' AND metadata ? 'a' AND NOT metadata ? 'b'"),
                     1);
    rows_free(&first);
    rows_free(&r);
}
END_TEST

/* Issue 13, retention: the row errors of an import finished more than RETENTION_DAYS (30) ago
 * are deleted (the import's record stays); a recent import's are kept. */
START_TEST(test_retention_deletes_old_import_rows)
{
    struct rows r = rows_new(3);
    struct rpc_ctx ctx;
    char old_id[64], new_id[64];
    rows_set(&r, 0, "Good", "+14155550300", NULL, NULL);
    rows_set(&r, 1, "Bad", "nope", NULL, NULL);
    rows_set(&r, 2, "Worse", "+1", NULL, NULL);
    submit_ok("org_ret", &r, NULL, NULL, old_id, sizeof old_id);
    assert_counts(wait_done(&ctx, "org_ret", old_id, 20000), "COMPLETED_WITH_ERRORS", 3, 1, 0, 2);
    rpc_ctx_release(&ctx);
    submit_ok("org_ret", &r, NULL, NULL, new_id, sizeof new_id);
    assert_counts(wait_done(&ctx, "org_ret", new_id, 20000), "COMPLETED_WITH_ERRORS", 3, 0, 1, 2);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(sqlf("WITH u AS (UPDATE contacts.imports SET completed_at = now() - "
                          "interval '31 days' WHERE id = '%s' RETURNING 1) SELECT count(*) "
                          "FROM u", old_id), 1);
    int64_t give_up = ts_now_ms() + 10000;
    while (sqlf("SELECT count(*) FROM contacts.import_errors WHERE import_id = '%s'", old_id) > 0) {
        ck_assert_msg(ts_now_ms() < give_up, "old import's row errors not deleted");
        ts_sleep_ms(50);
    }
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.import_errors WHERE import_id = '%s'",
                          new_id), 2);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.imports WHERE id = '%s'", old_id), 1);
    rows_free(&r);
}
END_TEST

START_TEST(test_all_rows_fail_is_failed)
{
    struct rows r = rows_new(2);
    struct rpc_ctx ctx;
    char id[64];
    rows_set(&r, 0, "A", "nope", NULL, NULL);
    rows_set(&r, 1, "B", "+1", NULL, NULL);
    submit_ok("org_fail", &r, NULL, NULL, id, sizeof id);
    Od__Import *m = wait_done(&ctx, "org_fail", id, 20000);
    assert_counts(m, "FAILED", 2, 0, 0, 2);
    assert_one_event(m, "org_fail", NULL);
    rpc_ctx_release(&ctx);
    rows_free(&r);
}
END_TEST

START_TEST(test_refused_submits_write_nothing)
{
    struct rows big = rows_numbered(10001, 9000000), one = rows_numbered(1, 9100000);
    struct rpc_ctx ctx;
    char url[2100];
    long long before = sqlf("SELECT count(*) FROM contacts.imports");

    do_submit(&ctx, "org_refuse", &big, NULL, NULL);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    do_submit(&ctx, "org_refuse", &one, NULL, "ftp://example.com/x");
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    do_submit(&ctx, "org_refuse", &one, NULL, "https://");
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    memcpy(url, "https://example.com/", 20);
    memset(url + 20, 'a', 2029);
    url[2049] = '\0'; /* 2,049 bytes */
    do_submit(&ctx, "org_refuse", &one, NULL, url);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    url[2048] = '\0'; /* 2,048 bytes: fine */
    do_submit(&ctx, "org_refuse", &one, NULL, url);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    do_submit(&ctx, "org_refuse", &one, "aud_doesnotexist", NULL);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    do_submit(&ctx, "", &one, NULL, NULL);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.imports"), before + 1);
    /* only the accepted import stored rows (none once it has finished) */
    ck_assert_int_le(sqlf("SELECT count(*) FROM contacts.import_payloads "
                          "WHERE org_id = 'org_refuse'"),
                     1);
    rows_free(&big);
    rows_free(&one);
}
END_TEST

START_TEST(test_audience_membership)
{
    struct rows r = rows_numbered(450, 8000000);
    struct rpc_ctx ctx;
    char id[64];
    PGconn *admin = ts_db_admin(g_db);
    PGresult *res = PQexec(admin, "INSERT INTO contacts.audiences (org_id, id, name) VALUES "
                                  "('org_aud', 'aud_svcTest1', 'A'), ('org_other', "
                                  "'aud_svcOther', 'B')");
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(admin);

    /* Another organization's audience is not found. */
    do_submit(&ctx, "org_aud", &r, "aud_svcOther", NULL);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);

    submit_ok("org_aud", &r, "aud_svcTest1", NULL, id, sizeof id);
    Od__Import *m = wait_done(&ctx, "org_aud", id, 30000);
    assert_counts(m, "COMPLETED", 450, 450, 0, 0);
    ck_assert_str_eq(m->audience_id, "aud_svcTest1");
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.audience_members WHERE org_id = "
                          "'org_aud' AND audience_id = 'aud_svcTest1'"),
                     450);
    ck_assert_int_eq(sqlf("SELECT contact_count FROM contacts.audiences WHERE id = "
                          "'aud_svcTest1'"),
                     450);
    rows_free(&r);
}
END_TEST

START_TEST(test_other_org_and_list)
{
    struct rows r = rows_numbered(2, 7000000);
    struct rpc_ctx ctx;
    char id[64];

    submit_ok("org_owner", &r, NULL, NULL, id, sizeof id);
    rpc_ctx_release((wait_done(&ctx, "org_owner", id, 20000), &ctx));
    do_get(&ctx, "org_intruder", id);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);

    Od__ListImportErrorsRequest er = OD__LIST_IMPORT_ERRORS_REQUEST__INIT;
    er.id = id;
    er.page = 1;
    er.limit = 10;
    rpc_ctx_init(&ctx, "org_intruder", "svc-errors", RPC_TIMEOUT_MS);
    od__imports__list_errors(rpc_client_service(g_client), &er, NULL, &ctx);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);

    Od__ListImportsRequest lr = OD__LIST_IMPORTS_REQUEST__INIT;
    lr.page = 1;
    lr.limit = 100;
    rpc_ctx_init(&ctx, "org_intruder", "svc-list", RPC_TIMEOUT_MS);
    od__imports__list(rpc_client_service(g_client), &lr, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__ListImportsReply *)ctx.reply)->total, 0);
    rpc_ctx_release(&ctx);

    rpc_ctx_init(&ctx, "org_owner", "svc-list", RPC_TIMEOUT_MS);
    od__imports__list(rpc_client_service(g_client), &lr, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    Od__ListImportsReply *l = (Od__ListImportsReply *)ctx.reply;
    ck_assert_int_eq(l->total, 1);
    ck_assert_str_eq(l->data[0]->id, id);
    rpc_ctx_release(&ctx);
    rows_free(&r);
}
END_TEST

START_TEST(test_sigkill_mid_import_then_restart)
{
    struct rows r = rows_numbered(10000, 1000000);
    struct rpc_ctx ctx;
    char id[64];
    int64_t give_up;
    long long processed;

    submit_ok("org_kill", &r, NULL, "https://example.com/done", id, sizeof id);
    /* Wait until a few chunks have committed, then kill the service mid-import. */
    give_up = ts_now_ms() + 30000;
    for (;;) {
        processed = sqlf("SELECT processed FROM contacts.imports WHERE id = '%s'", id);
        if (processed >= 1000)
            break;
        ck_assert_msg(ts_now_ms() < give_up, "import did not start (processed %lld)",
                      processed);
        ts_sleep_ms(20);
    }
    ts_proc_kill(g_svc);
    processed = sqlf("SELECT processed FROM contacts.imports WHERE id = '%s'", id);
    ck_assert_msg(processed < 10000, "the import finished before the kill (%lld)", processed);
    /* What committed is consistent: counts match what was written, and the unfinished
     * import still has its stored rows. */
    ck_assert_int_eq(sqlf("SELECT created FROM contacts.imports WHERE id = '%s'", id), processed);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.contacts WHERE org_id = 'org_kill'"),
                     processed);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.import_payloads WHERE import_id = '%s'",
                          id),
                     1);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.outbox WHERE payload->>'importId' = '%s'",
                          id),
                     0);
    fprintf(stderr, "[svc] killed contacts-svc with %lld of 10000 rows imported\n", processed);

    ts_proc_restart(g_svc);
    ts_proc_wait_ready(g_svc, 30000);
    wait_connected(g_client, 5000);
    Od__Import *m = wait_done(&ctx, "org_kill", id, 60000);
    assert_counts(m, "COMPLETED", 10000, 10000, 0, 0);
    assert_one_event(m, "org_kill", "https://example.com/done");
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.contacts WHERE org_id = 'org_kill'"),
                     10000);
    ck_assert_int_eq(sqlf("SELECT count(DISTINCT phone_number) FROM contacts.contacts WHERE "
                          "org_id = 'org_kill'"),
                     10000);
    /* a finished import's stored rows are deleted with its last chunk */
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.import_payloads WHERE import_id = '%s'",
                          id),
                     0);
    rows_free(&r);
}
END_TEST

/* Two replicas on one database: their workers share the imports (SKIP LOCKED) and every
 * count comes out right. */
START_TEST(test_two_replicas_share_imports)
{
    struct rows a = rows_numbered(3000, 2000000), b = rows_numbered(3000, 2002000);
    struct rpc_ctx ctx;
    char id_a[64], id_b[64], url[64];
    struct ts_proc *second = start_replica("contacts-svc-2", url, sizeof url);

    /* b overlaps a on 1,000 numbers: whichever commits first creates them. */
    submit_ok("org_two", &a, NULL, NULL, id_a, sizeof id_a);
    submit_ok("org_two", &b, NULL, NULL, id_b, sizeof id_b);
    Od__Import *m = wait_done(&ctx, "org_two", id_a, 60000);
    int created = m->created, updated = m->updated;
    ck_assert_str_eq(m->status, "COMPLETED");
    rpc_ctx_release(&ctx);
    m = wait_done(&ctx, "org_two", id_b, 60000);
    ck_assert_str_eq(m->status, "COMPLETED");
    created += m->created;
    updated += m->updated;
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(created, 5000);
    ck_assert_int_eq(updated, 1000);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.contacts WHERE org_id = 'org_two'"), 5000);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM contacts.outbox WHERE org_id = 'org_two'"), 2);
    ts_proc_stop_ok(second);
    ts_proc_free(second);
    rows_free(&a);
    rows_free(&b);
}
END_TEST

START_TEST(test_clean_shutdown)
{
    ts_proc_stop_ok(g_svc);
}
END_TEST

static Suite *imports_suite(void)
{
    Suite *s = suite_create("imports-svc");
    TCase *tc = tcase_create("rpc");
    tcase_add_unchecked_fixture(tc, stack_setup, stack_teardown);
    tcase_add_checked_fixture(tc, ensure_service, NULL);
    tcase_set_timeout(tc, 0);
    tcase_add_test(tc, test_submit_process_status_errors);
    tcase_add_test(tc, test_repeats_and_existing_numbers);
    tcase_add_test(tc, test_oversized_merged_metadata_fails_alone);
    tcase_add_test(tc, test_retention_deletes_old_import_rows);
    tcase_add_test(tc, test_all_rows_fail_is_failed);
    tcase_add_test(tc, test_refused_submits_write_nothing);
    tcase_add_test(tc, test_audience_membership);
    tcase_add_test(tc, test_other_org_and_list);
    tcase_add_test(tc, test_sigkill_mid_import_then_restart);
    tcase_add_test(tc, test_two_replicas_share_imports);
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
    sr = srunner_create(imports_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    fprintf(stderr, "[svc] finished in %.1f s\n", (double)(ts_now_ms() - started) / 1000.0);
    return ts_finish(failed);
}
