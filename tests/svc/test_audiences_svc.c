/* Service-level tests of contacts-svc's Audiences and Dnc services: the real binary against a
 * throwaway database, driven over nng with the real RPC client and the generated stubs. */
#include <check.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiences.h"
#include "audiences.pb-c.h"
#include "contacts.pb-c.h"
#include "dnc.pb-c.h"
#include "rpc.h"
#include "testsupport.h"

#define RPC_TIMEOUT_MS 30000

static struct ts_db *g_db;
static struct ts_proc *g_svc;
static struct rpc_client *g_contacts, *g_audiences, *g_dnc;
static char g_bin[PATH_MAX];
static char g_rpc_url[64];

/* ---------------- helpers ---------------- */

#define ck_status(ctx, expected)                                                               \
    ck_assert_msg((ctx).status == (expected), "expected %s, got %s: %s",                      \
                  rpc_status_name(expected), rpc_status_name((ctx).status), (ctx).message)

static ProtobufCService *aud(void)
{
    return rpc_client_service(g_audiences);
}

static ProtobufCService *dnc(void)
{
    return rpc_client_service(g_dnc);
}

static void wait_connected(struct rpc_client *c, int timeout_ms)
{
    int64_t give_up = ts_now_ms() + timeout_ms;
    while (rpc_client_connected(c) <= 0) {
        ck_assert_msg(ts_now_ms() < give_up, "RPC client not connected within %d ms",
                      timeout_ms);
        ts_sleep_ms(10);
    }
}

/* A number from SQL run as the admin; fmt (a literal) takes two strings. */
#define scalar(fmt, a, b)                                                                      \
    ({                                                                                         \
        char sql_[512];                                                                        \
        snprintf(sql_, sizeof sql_, fmt, a, b);                                                \
        ts_db_scalar(g_db, sql_);                                                              \
    })

/* Members stored for an audience, counted in the table (not through the counter). */
static long long stored_members(const char *org, const char *audience)
{
    return scalar("SELECT count(*) FROM contacts.audience_members WHERE org_id = '%s' AND "
                  "audience_id = '%s'", org, audience);
}

static void create_contact(const char *org, const char *name, const char *phone, char *id,
                           size_t id_size)
{
    Od__ContactInput in = OD__CONTACT_INPUT__INIT;
    struct rpc_ctx ctx;
    in.name = (char *)name;
    in.phone_number = (char *)phone;
    rpc_ctx_init(&ctx, org, "svc-contact", RPC_TIMEOUT_MS);
    od__contacts__create(rpc_client_service(g_contacts), &in, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    snprintf(id, id_size, "%s", ((Od__Contact *)ctx.reply)->id);
    rpc_ctx_release(&ctx);
}

static void delete_contact(const char *org, const char *id)
{
    Od__DeleteContactRequest in = OD__DELETE_CONTACT_REQUEST__INIT;
    struct rpc_ctx ctx;
    in.id = (char *)id;
    rpc_ctx_init(&ctx, org, "svc-contact-delete", RPC_TIMEOUT_MS);
    od__contacts__delete(rpc_client_service(g_contacts), &in, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
}

static void do_create(struct rpc_ctx *ctx, const char *org, const char *name,
                      const char *description)
{
    Od__CreateAudienceRequest in = OD__CREATE_AUDIENCE_REQUEST__INIT;
    in.name = (char *)name;
    in.description = (char *)(description ? description : "");
    rpc_ctx_init(ctx, org, "svc-aud-create", RPC_TIMEOUT_MS);
    od__audiences__create(aud(), &in, NULL, ctx);
}

static void create_audience(const char *org, const char *name, char *id, size_t id_size)
{
    struct rpc_ctx ctx;
    do_create(&ctx, org, name, "");
    ck_status(ctx, OD__STATUS__OK);
    snprintf(id, id_size, "%s", ((Od__Audience *)ctx.reply)->id);
    rpc_ctx_release(&ctx);
}

static void do_get(struct rpc_ctx *ctx, const char *org, const char *id)
{
    Od__GetAudienceRequest in = OD__GET_AUDIENCE_REQUEST__INIT;
    in.id = (char *)id;
    rpc_ctx_init(ctx, org, "svc-aud-get", RPC_TIMEOUT_MS);
    od__audiences__get(aud(), &in, NULL, ctx);
}

static long long audience_count(const char *org, const char *id)
{
    struct rpc_ctx ctx;
    long long n;
    do_get(&ctx, org, id);
    ck_status(ctx, OD__STATUS__OK);
    n = ((Od__Audience *)ctx.reply)->contact_count;
    rpc_ctx_release(&ctx);
    return n;
}

static void do_members(struct rpc_ctx *ctx, const char *org, const char *audience,
                       const char *const *ids, size_t n, int add)
{
    Od__AudienceMembersRequest in = OD__AUDIENCE_MEMBERS_REQUEST__INIT;
    in.audience_id = (char *)audience;
    in.contact_ids = (char **)ids;
    in.n_contact_ids = n;
    rpc_ctx_init(ctx, org, add ? "svc-add" : "svc-remove", RPC_TIMEOUT_MS);
    if (add)
        od__audiences__add_members(aud(), &in, NULL, ctx);
    else
        od__audiences__remove_members(aud(), &in, NULL, ctx);
}

static void do_snapshot(struct rpc_ctx *ctx, const char *org, const char *audience,
                        const char *after, int limit)
{
    Od__ListAudienceMembersRequest in = OD__LIST_AUDIENCE_MEMBERS_REQUEST__INIT;
    in.audience_id = (char *)audience;
    in.after_contact_id = (char *)(after ? after : "");
    in.limit = limit;
    rpc_ctx_init(ctx, org, "svc-snapshot", RPC_TIMEOUT_MS);
    od__audiences__list_audience_members(aud(), &in, NULL, ctx);
}

static void do_check(struct rpc_ctx *ctx, const char *org, const char *const *phones, size_t n)
{
    Od__CheckDncRequest in = OD__CHECK_DNC_REQUEST__INIT;
    in.phone_numbers = (char **)phones;
    in.n_phone_numbers = n;
    rpc_ctx_init(ctx, org, "svc-check", RPC_TIMEOUT_MS);
    od__dnc__check_dnc(dnc(), &in, NULL, ctx);
}

static void do_dnc_bulk(struct rpc_ctx *ctx, const char *org, Od__DncEntryInput *rows, size_t n)
{
    Od__BulkAddDncRequest in = OD__BULK_ADD_DNC_REQUEST__INIT;
    Od__DncEntryInput **ptrs = calloc(n + 1, sizeof *ptrs);
    ck_assert_ptr_nonnull(ptrs);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &rows[i];
    in.entries = ptrs;
    in.n_entries = n;
    rpc_ctx_init(ctx, org, "svc-dnc-bulk", RPC_TIMEOUT_MS);
    od__dnc__bulk_add(dnc(), &in, NULL, ctx);
    free(ptrs);
}

static void dnc_input(Od__DncEntryInput *in, const char *phone, const char *reason,
                      const char *source)
{
    od__dnc_entry_input__init(in);
    in->phone_number = (char *)phone;
    in->reason = (char *)(reason ? reason : "");
    in->source = (char *)(source ? source : "");
}

/* Creates n contacts with bulk upserts of at most 10,000 (phones +1<area><7 digits>) and
 * returns their ids (caller frees the block with free(ids[0]) and free(ids)). */
static char **create_contacts(const char *org, int area, size_t n)
{
    char **ids = calloc(n, sizeof *ids), *block = calloc(n, 64);
    char (*phones)[24] = calloc(10000, sizeof *phones);
    Od__ContactInput *rows = calloc(10000, sizeof *rows);
    Od__ContactInput **ptrs = calloc(10000, sizeof *ptrs);
    ck_assert(ids && block && phones && rows && ptrs);
    for (size_t done = 0; done < n;) {
        size_t batch = n - done > 10000 ? 10000 : n - done;
        Od__BulkUpsertRequest req = OD__BULK_UPSERT_REQUEST__INIT;
        struct rpc_ctx ctx;
        for (size_t i = 0; i < batch; i++) {
            od__contact_input__init(&rows[i]);
            snprintf(phones[i], sizeof phones[i], "+1%03d%07zu", area, done + i);
            rows[i].phone_number = phones[i];
            rows[i].name = (char *)"Member";
            rows[i].language = (char *)"en-US";
            ptrs[i] = &rows[i];
        }
        req.contacts = ptrs;
        req.n_contacts = batch;
        rpc_ctx_init(&ctx, org, "svc-bulk", RPC_TIMEOUT_MS);
        od__contacts__bulk_upsert(rpc_client_service(g_contacts), &req, NULL, &ctx);
        ck_status(ctx, OD__STATUS__OK);
        Od__BulkUpsertReply *r = (Od__BulkUpsertReply *)ctx.reply;
        ck_assert_uint_eq(r->n_contacts, batch);
        for (size_t i = 0; i < batch; i++) {
            ids[done + i] = block + (done + i) * 64;
            snprintf(ids[done + i], 64, "%s", r->contacts[i]->id);
        }
        rpc_ctx_release(&ctx);
        done += batch;
    }
    free(phones);
    free(rows);
    free(ptrs);
    return ids;
}

static void free_ids(char **ids)
{
    if (ids != NULL)
        free(ids[0]);
    free(ids);
}

/* ---------------- fixture ---------------- */

static void stack_setup(void)
{
    char e_db[700], e_rpc[80], e_health[80];
    int rpc_port = ts_free_port(), health_port = ts_free_port();

    ts_binary("contacts-svc/contacts-svc", g_bin, sizeof g_bin);
    g_db = ts_db_create();
    snprintf(g_rpc_url, sizeof g_rpc_url, "tcp://127.0.0.1:%d", rpc_port);
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "contacts"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=%s", g_rpc_url);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", health_port);
    const char *env[] = {e_db, e_rpc, e_health, "RPC_WORKERS=4",
                         "WEBHOOK_SVC_URL=" /* relay off: never reach a dev stack */, NULL};
    g_svc = ts_proc_start("contacts-svc", g_bin, NULL, env);
    ts_proc_wait_ready(g_svc, 30000);
    g_contacts = rpc_client_open(&od__contacts__descriptor, g_rpc_url);
    g_audiences = rpc_client_open(&od__audiences__descriptor, g_rpc_url);
    g_dnc = rpc_client_open(&od__dnc__descriptor, g_rpc_url);
    ck_assert(g_contacts && g_audiences && g_dnc);
    wait_connected(g_contacts, 5000);
    wait_connected(g_audiences, 5000);
    wait_connected(g_dnc, 5000);
}

static void ensure_service(void)
{
    if (!ts_proc_running(g_svc)) {
        fprintf(stderr, "[svc] contacts-svc is not running: starting it again\n");
        ts_proc_restart(g_svc);
        ts_proc_wait_ready(g_svc, 30000);
    }
    wait_connected(g_audiences, 5000);
}

static void stack_teardown(void)
{
    rpc_client_close(g_contacts);
    rpc_client_close(g_audiences);
    rpc_client_close(g_dnc);
    g_contacts = g_audiences = g_dnc = NULL;
    ts_proc_free(g_svc);
    g_svc = NULL;
    ts_db_drop(g_db);
    g_db = NULL;
}

/* ---------------- audiences ---------------- */

START_TEST(test_audience_crud)
{
    const char *org = "org_aud_crud";
    struct rpc_ctx ctx;
    char id[64], other[64];

    do_create(&ctx, org, "Mumbai Premium Customers", "Hindi-speaking premium tier in Mumbai");
    ck_status(ctx, OD__STATUS__OK);
    Od__Audience *a = (Od__Audience *)ctx.reply;
    ck_assert_msg(strncmp(a->id, "aud_", 4) == 0, "id %s", a->id);
    ck_assert_str_eq(a->name, "Mumbai Premium Customers");
    ck_assert_str_eq(a->description, "Hindi-speaking premium tier in Mumbai");
    ck_assert_int_eq(a->contact_count, 0);
    ck_assert_uint_eq(strlen(a->created_at), 24);
    snprintf(id, sizeof id, "%s", a->id);
    rpc_ctx_release(&ctx);
    create_audience(org, "Delhi Leads", other, sizeof other);

    /* Update: the name only; then clear the description. */
    Od__UpdateAudienceRequest up = OD__UPDATE_AUDIENCE_REQUEST__INIT;
    up.id = id;
    up.set_name = true;
    up.name = (char *)"Mumbai Premium";
    rpc_ctx_init(&ctx, org, "svc-update", RPC_TIMEOUT_MS);
    od__audiences__update(aud(), &up, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_str_eq(((Od__Audience *)ctx.reply)->name, "Mumbai Premium");
    ck_assert_str_eq(((Od__Audience *)ctx.reply)->description,
                     "Hindi-speaking premium tier in Mumbai");
    rpc_ctx_release(&ctx);
    up.set_name = false;
    up.set_description = true;
    up.description = (char *)"";
    rpc_ctx_init(&ctx, org, "svc-update", RPC_TIMEOUT_MS);
    od__audiences__update(aud(), &up, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_str_eq(((Od__Audience *)ctx.reply)->description, "");
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(scalar("SELECT count(*) FROM contacts.audiences WHERE org_id = '%s' AND "
                            "id = '%s' AND description IS NULL", org, id), 1);

    /* Bad names write nothing. */
    const char *bad[] = {"", "   "};
    for (int i = 0; i < 2; i++) {
        do_create(&ctx, org, bad[i], "");
        ck_status(ctx, OD__STATUS__INVALID);
        rpc_ctx_release(&ctx);
    }
    char long_name[300];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    do_create(&ctx, org, long_name, "");
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    up.set_name = true;
    up.name = (char *)"";
    rpc_ctx_init(&ctx, org, "svc-update", RPC_TIMEOUT_MS);
    od__audiences__update(aud(), &up, NULL, &ctx);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(scalar("SELECT count(*) FROM contacts.audiences WHERE org_id = '%s'%s", org,
                            ""), 2);

    /* List: newest first, search by name, paging. */
    Od__ListAudiencesRequest list = OD__LIST_AUDIENCES_REQUEST__INIT;
    list.page = 1;
    list.limit = 1;
    list.search = (char *)"";
    rpc_ctx_init(&ctx, org, "svc-list", RPC_TIMEOUT_MS);
    od__audiences__list(aud(), &list, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__ListAudiencesReply *)ctx.reply)->total, 2);
    ck_assert_uint_eq(((Od__ListAudiencesReply *)ctx.reply)->n_data, 1);
    ck_assert_str_eq(((Od__ListAudiencesReply *)ctx.reply)->data[0]->id, other);
    rpc_ctx_release(&ctx);
    list.limit = 100;
    list.search = (char *)"mumbai";
    rpc_ctx_init(&ctx, org, "svc-list", RPC_TIMEOUT_MS);
    od__audiences__list(aud(), &list, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__ListAudiencesReply *)ctx.reply)->total, 1);
    ck_assert_str_eq(((Od__ListAudiencesReply *)ctx.reply)->data[0]->id, id);
    rpc_ctx_release(&ctx);
    list.limit = 101;
    rpc_ctx_init(&ctx, org, "svc-list", RPC_TIMEOUT_MS);
    od__audiences__list(aud(), &list, NULL, &ctx);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);

    /* Delete, then it is gone. */
    Od__DeleteAudienceRequest del = OD__DELETE_AUDIENCE_REQUEST__INIT;
    del.id = other;
    rpc_ctx_init(&ctx, org, "svc-delete", RPC_TIMEOUT_MS);
    od__audiences__delete(aud(), &del, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    do_get(&ctx, org, other);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    rpc_ctx_init(&ctx, org, "svc-delete", RPC_TIMEOUT_MS);
    od__audiences__delete(aud(), &del, NULL, &ctx);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
}
END_TEST

START_TEST(test_members_idempotent_and_not_found)
{
    const char *org = "org_aud_members";
    struct rpc_ctx ctx;
    char audience[64], c1[64], c2[64], c3[64], gone[64];

    create_audience(org, "Members", audience, sizeof audience);
    create_contact(org, "One", "+14155552001", c1, sizeof c1);
    create_contact(org, "Two", "+14155552002", c2, sizeof c2);
    create_contact(org, "Three", "+14155552003", c3, sizeof c3);
    create_contact(org, "Gone", "+14155552004", gone, sizeof gone);
    delete_contact(org, gone);

    /* Repeats in one call count once; unknown, deleted and malformed ids are reported in
     * request order. */
    const char *first[] = {c1, "cid_doesnotexist", c2, c1, gone, "not an id", "cid_doesnotexist"};
    do_members(&ctx, org, audience, first, 7, 1);
    ck_status(ctx, OD__STATUS__OK);
    Od__AddMembersReply *add = (Od__AddMembersReply *)ctx.reply;
    ck_assert_int_eq(add->added, 2);
    ck_assert_int_eq(add->already_members, 0);
    ck_assert_int_eq(add->contact_count, 2);
    ck_assert_uint_eq(add->n_not_found, 3);
    ck_assert_str_eq(add->not_found[0], "cid_doesnotexist");
    ck_assert_str_eq(add->not_found[1], gone);
    ck_assert_str_eq(add->not_found[2], "not an id");
    rpc_ctx_release(&ctx);

    /* Again, plus one more: idempotent. */
    const char *second[] = {c1, c2, c3};
    do_members(&ctx, org, audience, second, 3, 1);
    ck_status(ctx, OD__STATUS__OK);
    add = (Od__AddMembersReply *)ctx.reply;
    ck_assert_int_eq(add->added, 1);
    ck_assert_int_eq(add->already_members, 2);
    ck_assert_uint_eq(add->n_not_found, 0);
    ck_assert_int_eq(add->contact_count, 3);
    rpc_ctx_release(&ctx);
    do_members(&ctx, org, audience, second, 3, 1);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__AddMembersReply *)ctx.reply)->added, 0);
    ck_assert_int_eq(((Od__AddMembersReply *)ctx.reply)->already_members, 3);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(audience_count(org, audience), 3);
    ck_assert_int_eq(stored_members(org, audience), 3);

    /* Remove: twice is harmless. */
    const char *rm[] = {c1, c1, "cid_nobody", "junk"};
    do_members(&ctx, org, audience, rm, 4, 0);
    ck_status(ctx, OD__STATUS__OK);
    Od__RemoveMembersReply *rem = (Od__RemoveMembersReply *)ctx.reply;
    ck_assert_int_eq(rem->removed, 1);
    ck_assert_int_eq(rem->not_members, 0);
    ck_assert_uint_eq(rem->n_not_found, 2);
    ck_assert_str_eq(rem->not_found[0], "cid_nobody");
    ck_assert_str_eq(rem->not_found[1], "junk");
    ck_assert_int_eq(rem->contact_count, 2);
    rpc_ctx_release(&ctx);
    do_members(&ctx, org, audience, rm, 1, 0);
    ck_status(ctx, OD__STATUS__OK);
    rem = (Od__RemoveMembersReply *)ctx.reply;
    ck_assert_int_eq(rem->removed, 0);
    ck_assert_int_eq(rem->not_members, 1);
    ck_assert_int_eq(rem->contact_count, 2);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(audience_count(org, audience), 2);
    ck_assert_int_eq(stored_members(org, audience), 2);

    /* The API's member list: newest contact first, total = contactCount. */
    Od__ListMembersRequest lm = OD__LIST_MEMBERS_REQUEST__INIT;
    lm.audience_id = audience;
    lm.page = 1;
    lm.limit = 10;
    rpc_ctx_init(&ctx, org, "svc-members", RPC_TIMEOUT_MS);
    od__audiences__list_members(aud(), &lm, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    Od__ListContactsReply *members = (Od__ListContactsReply *)ctx.reply;
    ck_assert_int_eq(members->total, 2);
    ck_assert_uint_eq(members->n_data, 2);
    ck_assert_str_eq(members->data[0]->id, c3);
    ck_assert_str_eq(members->data[0]->phone_number, "+14155552003");
    ck_assert_str_eq(members->data[1]->id, c2);
    rpc_ctx_release(&ctx);
}
END_TEST

START_TEST(test_member_limits_write_nothing)
{
    const char *org = "org_aud_limits";
    struct rpc_ctx ctx;
    char audience[64], c1[64];
    const char **many = calloc(10001, sizeof *many);

    ck_assert_ptr_nonnull(many);
    create_audience(org, "Limits", audience, sizeof audience);
    create_contact(org, "One", "+14155552101", c1, sizeof c1);
    for (int i = 0; i < 10001; i++)
        many[i] = c1;
    do_members(&ctx, org, audience, many, 10001, 1);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    do_members(&ctx, org, audience, many, 0, 1);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    do_members(&ctx, org, "aud_doesnotexist", many, 1, 1);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    do_members(&ctx, org, "aud_doesnotexist", many, 1, 0);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(stored_members(org, audience), 0);
    ck_assert_int_eq(scalar("SELECT count(*) FROM contacts.audience_members WHERE org_id = "
                            "'%s'%s", org, ""), 0);
    /* Exactly 10,000 (all the same contact) is fine. */
    do_members(&ctx, org, audience, many, 10000, 1);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__AddMembersReply *)ctx.reply)->added, 1);
    rpc_ctx_release(&ctx);
    free(many);

    do_snapshot(&ctx, org, audience, NULL, 10001);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    do_snapshot(&ctx, org, audience, NULL, -1);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    do_snapshot(&ctx, org, "aud_doesnotexist", NULL, 10);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    /* An empty organization is refused. */
    do_create(&ctx, "", "No Org", "");
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
}
END_TEST

START_TEST(test_other_organization_is_not_found)
{
    const char *org_a = "org_aud_a", *org_b = "org_aud_b";
    struct rpc_ctx ctx;
    char aud_a[64], aud_b[64], ca[64], cb[64];

    create_audience(org_a, "A", aud_a, sizeof aud_a);
    create_audience(org_b, "B", aud_b, sizeof aud_b);
    create_contact(org_a, "Contact A", "+14155552201", ca, sizeof ca);
    create_contact(org_b, "Contact B", "+14155552201", cb, sizeof cb);

    /* B's contact is not found in A's audience. */
    const char *ids[] = {ca, cb};
    do_members(&ctx, org_a, aud_a, ids, 2, 1);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__AddMembersReply *)ctx.reply)->added, 1);
    ck_assert_uint_eq(((Od__AddMembersReply *)ctx.reply)->n_not_found, 1);
    ck_assert_str_eq(((Od__AddMembersReply *)ctx.reply)->not_found[0], cb);
    rpc_ctx_release(&ctx);

    /* B cannot see, change, fill, empty, list or delete A's audience. */
    do_get(&ctx, org_b, aud_a);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    Od__UpdateAudienceRequest up = OD__UPDATE_AUDIENCE_REQUEST__INIT;
    up.id = aud_a;
    up.set_name = true;
    up.name = (char *)"Taken";
    rpc_ctx_init(&ctx, org_b, "svc-update", RPC_TIMEOUT_MS);
    od__audiences__update(aud(), &up, NULL, &ctx);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    const char *bids[] = {cb};
    do_members(&ctx, org_b, aud_a, bids, 1, 1);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    const char *aids[] = {ca};
    do_members(&ctx, org_b, aud_a, aids, 1, 0);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    Od__ListMembersRequest lm = OD__LIST_MEMBERS_REQUEST__INIT;
    lm.audience_id = aud_a;
    lm.page = 1;
    lm.limit = 10;
    rpc_ctx_init(&ctx, org_b, "svc-members", RPC_TIMEOUT_MS);
    od__audiences__list_members(aud(), &lm, NULL, &ctx);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    do_snapshot(&ctx, org_b, aud_a, NULL, 10);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    Od__DeleteAudienceRequest del = OD__DELETE_AUDIENCE_REQUEST__INIT;
    del.id = aud_a;
    rpc_ctx_init(&ctx, org_b, "svc-delete", RPC_TIMEOUT_MS);
    od__audiences__delete(aud(), &del, NULL, &ctx);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    /* Adding A's contact to B's own audience: not found either. */
    do_members(&ctx, org_b, aud_b, aids, 1, 1);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__AddMembersReply *)ctx.reply)->added, 0);
    ck_assert_uint_eq(((Od__AddMembersReply *)ctx.reply)->n_not_found, 1);
    rpc_ctx_release(&ctx);

    /* Nothing changed. */
    do_get(&ctx, org_a, aud_a);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_str_eq(((Od__Audience *)ctx.reply)->name, "A");
    ck_assert_int_eq(((Od__Audience *)ctx.reply)->contact_count, 1);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(stored_members(org_a, aud_a), 1);
    ck_assert_int_eq(stored_members(org_b, aud_b), 0);
    ck_assert_int_eq(audience_count(org_b, aud_b), 0);
}
END_TEST

START_TEST(test_count_follows_contact_and_audience_deletes)
{
    const char *org = "org_aud_count";
    struct rpc_ctx ctx;
    char a1[64], a2[64], c1[64], c2[64];

    create_audience(org, "First", a1, sizeof a1);
    create_audience(org, "Second", a2, sizeof a2);
    create_contact(org, "One", "+14155552301", c1, sizeof c1);
    create_contact(org, "Two", "+14155552302", c2, sizeof c2);
    const char *both[] = {c1, c2};
    do_members(&ctx, org, a1, both, 2, 1);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    do_members(&ctx, org, a2, both, 1, 1);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(audience_count(org, a1), 2);
    ck_assert_int_eq(audience_count(org, a2), 1);

    /* Deleting a contact takes it out of every audience, counters included. */
    delete_contact(org, c1);
    ck_assert_int_eq(audience_count(org, a1), 1);
    ck_assert_int_eq(audience_count(org, a2), 0);
    ck_assert_int_eq(stored_members(org, a1), 1);
    do_snapshot(&ctx, org, a1, NULL, 0);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_uint_eq(((Od__ListAudienceMembersReply *)ctx.reply)->n_contacts, 1);
    ck_assert_str_eq(((Od__ListAudienceMembersReply *)ctx.reply)->contacts[0]->id, c2);
    rpc_ctx_release(&ctx);

    /* Deleting an audience takes its memberships with it, not the contacts. */
    Od__DeleteAudienceRequest del = OD__DELETE_AUDIENCE_REQUEST__INIT;
    del.id = a1;
    rpc_ctx_init(&ctx, org, "svc-delete", RPC_TIMEOUT_MS);
    od__audiences__delete(aud(), &del, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(stored_members(org, a1), 0);
    ck_assert_int_eq(scalar("SELECT count(*) FROM contacts.contacts WHERE org_id = '%s' AND "
                            "id = '%s'", org, c2), 1);
}
END_TEST

/* Several callers add overlapping sets at once: the counter must still be exact. */
struct adder {
    const char *org;
    const char *audience;
    char **ids;
    size_t n;
    int added;
    Od__Status status;
};

static void *adder_run(void *arg)
{
    struct adder *a = arg;
    Od__AudienceMembersRequest in = OD__AUDIENCE_MEMBERS_REQUEST__INIT;
    struct rpc_ctx ctx;
    in.audience_id = (char *)a->audience;
    in.contact_ids = a->ids;
    in.n_contact_ids = a->n;
    rpc_ctx_init(&ctx, a->org, "svc-adder", RPC_TIMEOUT_MS);
    od__audiences__add_members(aud(), &in, NULL, &ctx);
    a->status = ctx.status;
    if (ctx.status == OD__STATUS__OK)
        a->added = ((Od__AddMembersReply *)ctx.reply)->added;
    rpc_ctx_release(&ctx);
    return NULL;
}

START_TEST(test_concurrent_adds_exact_count)
{
    const char *org = "org_aud_race";
    char audience[64];
    char **ids = create_contacts(org, 310, 3000);
    struct adder adders[4];
    pthread_t threads[4];
    int total = 0;

    create_audience(org, "Race", audience, sizeof audience);
    /* Thread i adds contacts [i*500, i*500 + 1500): heavy overlap. */
    for (int i = 0; i < 4; i++) {
        adders[i] = (struct adder){org, audience, ids + i * 500, 1500, 0, OD__STATUS__INTERNAL};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, adder_run, &adders[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        ck_assert_msg(adders[i].status == OD__STATUS__OK, "adder %d: %s", i,
                      rpc_status_name(adders[i].status));
        total += adders[i].added;
    }
    ck_assert_int_eq(total, 3000);
    ck_assert_int_eq(audience_count(org, audience), 3000);
    ck_assert_int_eq(stored_members(org, audience), 3000);
    free_ids(ids);
}
END_TEST

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(test_snapshot_keyset_pages)
{
    const char *org = "org_aud_snapshot";
    const size_t n = 25000;
    struct rpc_ctx ctx;
    char audience[64], after[64] = "", other[64];
    char **ids = create_contacts(org, 320, n);
    size_t seen = 0, pages = 0;
    char **got = calloc(n, sizeof *got);

    ck_assert_ptr_nonnull(got);
    create_audience(org, "Snapshot", audience, sizeof audience);
    create_audience(org, "Unrelated", other, sizeof other);
    for (size_t done = 0; done < n; done += 10000) {
        size_t batch = n - done > 10000 ? 10000 : n - done;
        do_members(&ctx, org, audience, (const char *const *)ids + done, batch, 1);
        ck_status(ctx, OD__STATUS__OK);
        ck_assert_int_eq(((Od__AddMembersReply *)ctx.reply)->added, (int)batch);
        rpc_ctx_release(&ctx);
    }
    /* Another audience's members must not leak into the snapshot. */
    do_members(&ctx, org, other, (const char *const *)ids, 10, 1);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(audience_count(org, audience), (long long)n);

    int64_t started = ts_now_ms();
    for (;;) {
        do_snapshot(&ctx, org, audience, after, 10000);
        ck_status(ctx, OD__STATUS__OK);
        Od__ListAudienceMembersReply *r = (Od__ListAudienceMembersReply *)ctx.reply;
        pages++;
        ck_assert_msg(r->n_contacts <= 10000, "page of %zu", r->n_contacts);
        for (size_t i = 0; i < r->n_contacts; i++) {
            const Od__Contact *c = r->contacts[i];
            ck_assert_msg(seen < n, "more members than added");
            ck_assert_msg(strcmp(c->id, seen ? got[seen - 1] : "") > 0,
                          "ids not strictly increasing at %zu: %s", seen, c->id);
            ck_assert_str_eq(c->name, "Member");
            ck_assert_str_eq(c->language, "en-US");
            ck_assert_str_eq(c->metadata_json, "{}");
            ck_assert_msg(c->phone_number[0] == '+', "phone %s", c->phone_number);
            got[seen++] = strdup(c->id);
        }
        if (r->next_after_contact_id[0] == '\0') {
            rpc_ctx_release(&ctx);
            break;
        }
        ck_assert_str_eq(r->next_after_contact_id, got[seen - 1]);
        snprintf(after, sizeof after, "%s", r->next_after_contact_id);
        rpc_ctx_release(&ctx);
        ck_assert_msg(pages < 10, "too many pages");
    }
    fprintf(stderr, "[svc] snapshot of %zu members in %zu pages took %lld ms\n", seen, pages,
            (long long)(ts_now_ms() - started));
    ck_assert_uint_eq(seen, n);
    ck_assert_uint_eq(pages, 3);
    /* Exactly the added set: no gaps, no duplicates. */
    char **want = calloc(n, sizeof *want);
    ck_assert_ptr_nonnull(want);
    memcpy(want, ids, n * sizeof *want);
    qsort(want, n, sizeof *want, cmp_str);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(got[i], want[i]);
    for (size_t i = 0; i < n; i++)
        free(got[i]);
    free(got);
    free(want);
    free_ids(ids);
}
END_TEST

static void admin_ok(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
}

/* Regression (bench (g), a campaign start over 100,000 members): each snapshot page hashed
 * every contact of the organization (a sequential scan of contacts and a hash spilled to
 * disk, ~0.5 s of CPU per 10,000-member page). The page's contacts must be read by primary
 * key whatever the organization's size, in the custom and the generic plan. */
START_TEST(test_snapshot_page_stays_on_the_primary_key)
{
    PGconn *c = ts_db_admin(g_db);
    admin_ok(c, "INSERT INTO contacts.contacts (org_id, id, name, phone_number, metadata)"
                " SELECT 'org_aud_plan', 'cid_plan' || lpad(n::text, 6, '0'), 'Plan', '+1340'"
                " || lpad(n::text, 7, '0'), '{\"k\": 1}' FROM generate_series(1, 60000) n");
    admin_ok(c, "INSERT INTO contacts.audiences (org_id, id, name)"
                " VALUES ('org_aud_plan', 'aud_plan', 'Plan')");
    admin_ok(c, "INSERT INTO contacts.audience_members (org_id, audience_id, contact_id)"
                " SELECT 'org_aud_plan', 'aud_plan', 'cid_plan' || lpad(n::text, 6, '0')"
                " FROM generate_series(1, 60000) n");
    admin_ok(c, "ANALYZE contacts.contacts");
    admin_ok(c, "ANALYZE contacts.audience_members");
    PGresult *prep = PQprepare(c, "page", AUDIENCES_SNAPSHOT_PAGE_SQL, 4, NULL);
    ck_assert_msg(PQresultStatus(prep) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(prep));
    PQclear(prep);
    const char *modes[] = {"force_custom_plan", "force_generic_plan"};
    for (int m = 0; m < 2; m++) {
        char set[64];
        snprintf(set, sizeof set, "SET plan_cache_mode = %s", modes[m]);
        admin_ok(c, set);
        PGresult *res = PQexec(c, "EXPLAIN EXECUTE page('org_aud_plan', 'aud_plan',"
                                  " 'cid_plan020000', 10000)");
        ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(res));
        char plan[8192] = "";
        for (int i = 0; i < PQntuples(res); i++) {
            strncat(plan, PQgetvalue(res, i, 0), sizeof plan - strlen(plan) - 2);
            strcat(plan, "\n");
        }
        PQclear(res);
        ck_assert_msg(strstr(plan, "contacts_pkey on contacts c") != NULL &&
                          strstr(plan, "Seq Scan on contacts") == NULL &&
                          strstr(plan, "Hash Join") == NULL && strstr(plan, "Merge Join") == NULL,
                      "snapshot page (%s):\n%s", modes[m], plan);
    }
    /* and it still answers: the 10,000 members after the key, in order */
    struct rpc_ctx ctx;
    do_snapshot(&ctx, "org_aud_plan", "aud_plan", "cid_plan020000", 10000);
    ck_status(ctx, OD__STATUS__OK);
    Od__ListAudienceMembersReply *r = (Od__ListAudienceMembersReply *)ctx.reply;
    ck_assert_uint_eq(r->n_contacts, 10000);
    ck_assert_str_eq(r->contacts[0]->id, "cid_plan020001");
    ck_assert_str_eq(r->contacts[9999]->id, "cid_plan030000");
    ck_assert_str_eq(r->next_after_contact_id, "cid_plan030000");
    for (size_t i = 1; i < r->n_contacts; i++)
        ck_assert_msg(strcmp(r->contacts[i - 1]->id, r->contacts[i]->id) < 0, "order at %zu", i);
    rpc_ctx_release(&ctx);
    admin_ok(c, "DELETE FROM contacts.audience_members WHERE org_id = 'org_aud_plan'");
    admin_ok(c, "DELETE FROM contacts.audiences WHERE org_id = 'org_aud_plan'");
    admin_ok(c, "DELETE FROM contacts.contacts WHERE org_id = 'org_aud_plan'");
    PQfinish(c);
}
END_TEST

/* ---------------- do-not-call ---------------- */

/* Regression: a page of 10,000 contacts with large metadata did not fit one RPC reply, and an
 * oversized reply resets the client's connection for every caller. Pages now stop early by
 * size; the keyset continues where they stopped. */
START_TEST(test_snapshot_pages_stop_by_size)
{
    const char *org = "org_aud_big";
    const size_t n = 3000;
    struct rpc_ctx ctx;
    char audience[64], after[64] = "";
    char **ids = create_contacts(org, 330, n);
    size_t seen = 0, pages = 0;

    create_audience(org, "Big", audience, sizeof audience);
    do_members(&ctx, org, audience, (const char *const *)ids, n, 1);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    /* ~16 KB of metadata each: 3,000 contacts are ~48 MB, over one 32 MiB page. */
    PGconn *admin = ts_db_admin(g_db);
    PGresult *res = PQexec(admin, "UPDATE contacts.contacts SET metadata = "
                                  "jsonb_build_object('blob', repeat('x', 16000)) "
                                  "WHERE org_id = 'org_aud_big'");
    int updated = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    PQfinish(admin);
    ck_assert(updated);
    for (;;) {
        do_snapshot(&ctx, org, audience, after, 10000);
        ck_status(ctx, OD__STATUS__OK);
        Od__ListAudienceMembersReply *page = (Od__ListAudienceMembersReply *)ctx.reply;
        pages++;
        seen += page->n_contacts;
        ck_assert_msg(page->n_contacts < n, "a %zu-contact page of 16 KB each was not split",
                      page->n_contacts);
        int more = page->next_after_contact_id[0] != '\0';
        if (more)
            snprintf(after, sizeof after, "%s", page->next_after_contact_id);
        rpc_ctx_release(&ctx);
        if (!more)
            break;
        ck_assert_int_lt(pages, 10);
    }
    ck_assert_uint_eq(seen, n);
    ck_assert_uint_ge(pages, 2);
    free_ids(ids);
}
END_TEST

START_TEST(test_dnc_add_list_delete)
{
    const char *org = "org_dnc_single", *other_org = "org_dnc_other";
    Od__DncEntryInput in;
    struct rpc_ctx ctx;
    char id[64];

    dnc_input(&in, "+919876543210", "Customer email opt-out", "");
    rpc_ctx_init(&ctx, org, "svc-dnc-add", RPC_TIMEOUT_MS);
    od__dnc__add(dnc(), &in, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    Od__DncEntry *e = (Od__DncEntry *)ctx.reply;
    ck_assert_msg(strncmp(e->id, "dnc_", 4) == 0, "id %s", e->id);
    ck_assert_str_eq(e->phone_number, "+919876543210");
    ck_assert_str_eq(e->reason, "Customer email opt-out");
    ck_assert_str_eq(e->source, "manual");
    snprintf(id, sizeof id, "%s", e->id);
    rpc_ctx_release(&ctx);

    /* Listed already: a conflict. Invalid numbers: nothing written. */
    rpc_ctx_init(&ctx, org, "svc-dnc-add", RPC_TIMEOUT_MS);
    od__dnc__add(dnc(), &in, NULL, &ctx);
    ck_status(ctx, OD__STATUS__CONFLICT);
    rpc_ctx_release(&ctx);
    const char *bad[] = {"", "9876543210", "+91 98765 43210", "+0123456789"};
    for (int i = 0; i < 4; i++) {
        dnc_input(&in, bad[i], "", "");
        rpc_ctx_init(&ctx, org, "svc-dnc-add", RPC_TIMEOUT_MS);
        od__dnc__add(dnc(), &in, NULL, &ctx);
        ck_status(ctx, OD__STATUS__INVALID);
        rpc_ctx_release(&ctx);
    }
    ck_assert_int_eq(scalar("SELECT count(*) FROM contacts.dnc_entries WHERE org_id = '%s'%s",
                            org, ""), 1);

    /* Search by number or reason. */
    Od__ListDncRequest list = OD__LIST_DNC_REQUEST__INIT;
    list.page = 1;
    list.limit = 20;
    list.search = (char *)"opt-out";
    rpc_ctx_init(&ctx, org, "svc-dnc-list", RPC_TIMEOUT_MS);
    od__dnc__list(dnc(), &list, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__ListDncReply *)ctx.reply)->total, 1);
    rpc_ctx_release(&ctx);
    list.search = (char *)"98765";
    rpc_ctx_init(&ctx, org, "svc-dnc-list", RPC_TIMEOUT_MS);
    od__dnc__list(dnc(), &list, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__ListDncReply *)ctx.reply)->total, 1);
    rpc_ctx_release(&ctx);
    rpc_ctx_init(&ctx, other_org, "svc-dnc-list", RPC_TIMEOUT_MS);
    od__dnc__list(dnc(), &list, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__ListDncReply *)ctx.reply)->total, 0);
    rpc_ctx_release(&ctx);

    /* Another organization cannot delete it; the owner can, once. */
    Od__DeleteDncRequest del = OD__DELETE_DNC_REQUEST__INIT;
    del.id = id;
    rpc_ctx_init(&ctx, other_org, "svc-dnc-delete", RPC_TIMEOUT_MS);
    od__dnc__delete(dnc(), &del, NULL, &ctx);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
    rpc_ctx_init(&ctx, org, "svc-dnc-delete", RPC_TIMEOUT_MS);
    od__dnc__delete(dnc(), &del, NULL, &ctx);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    rpc_ctx_init(&ctx, org, "svc-dnc-delete", RPC_TIMEOUT_MS);
    od__dnc__delete(dnc(), &del, NULL, &ctx);
    ck_status(ctx, OD__STATUS__NOT_FOUND);
    rpc_ctx_release(&ctx);
}
END_TEST

START_TEST(test_dnc_bulk_duplicates_and_errors)
{
    const char *org = "org_dnc_bulk";
    Od__DncEntryInput rows[7];
    struct rpc_ctx ctx;

    dnc_input(&rows[0], "+14155553001", "first", "imported");
    do_dnc_bulk(&ctx, org, rows, 1);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__BulkAddDncReply *)ctx.reply)->inserted, 1);
    rpc_ctx_release(&ctx);

    dnc_input(&rows[0], "+14155553001", "", "");           /* already listed */
    dnc_input(&rows[1], "+14155553002", "tab\there", "");  /* new; COPY escaping */
    dnc_input(&rows[2], "+14155553002", "second copy", ""); /* repeated in the request */
    dnc_input(&rows[3], "12345", "", "");                  /* invalid */
    dnc_input(&rows[4], "+14155553003", "", "crm");
    dnc_input(&rows[5], "", "", "");
    rows[5].invalid_reason = (char *)"entries[5].phoneNumber must be a string";
    dnc_input(&rows[6], "+14155553004", "", "");
    char long_source[80];
    memset(long_source, 's', sizeof long_source - 1);
    long_source[sizeof long_source - 1] = '\0';
    rows[6].source = long_source;
    do_dnc_bulk(&ctx, org, rows, 7);
    ck_status(ctx, OD__STATUS__OK);
    Od__BulkAddDncReply *r = (Od__BulkAddDncReply *)ctx.reply;
    ck_assert_int_eq(r->inserted, 2);
    ck_assert_int_eq(r->duplicates, 2);
    ck_assert_int_eq(r->failed, 3);
    ck_assert_uint_eq(r->n_errors, 3);
    ck_assert_int_eq(r->errors[0]->index, 3);
    ck_assert_str_eq(r->errors[0]->phone_number, "12345");
    ck_assert_msg(strstr(r->errors[0]->reason, "E.164") != NULL, "%s", r->errors[0]->reason);
    ck_assert_int_eq(r->errors[1]->index, 5);
    ck_assert_str_eq(r->errors[1]->reason, "entries[5].phoneNumber must be a string");
    ck_assert_int_eq(r->errors[2]->index, 6);
    ck_assert_msg(strstr(r->errors[2]->reason, "source") != NULL, "%s", r->errors[2]->reason);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(scalar("SELECT count(*) FROM contacts.dnc_entries WHERE org_id = '%s'%s",
                            org, ""), 3);
    /* The first row of a repeated number is kept; defaults and escapes survive. */
    ck_assert_int_eq(scalar("SELECT count(*) FROM contacts.dnc_entries WHERE org_id = '%s' AND "
                            "phone_number = '+14155553002' AND reason = E'tab\\there' AND "
                            "source = '%s'", org, "imported"), 1);
    ck_assert_int_eq(scalar("SELECT count(*) FROM contacts.dnc_entries WHERE org_id = '%s' AND "
                            "reason = 'first' AND source = '%s'", org, "imported"), 1);

    /* Over the limit: refused whole, nothing written. */
    size_t n = 50001;
    Od__DncEntryInput *many = calloc(n, sizeof *many);
    char (*phones)[20] = calloc(n, sizeof *phones);
    ck_assert(many && phones);
    for (size_t i = 0; i < n; i++) {
        snprintf(phones[i], sizeof phones[i], "+1650%07zu", i);
        dnc_input(&many[i], phones[i], "", "");
    }
    do_dnc_bulk(&ctx, org, many, n);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    ck_assert_int_eq(scalar("SELECT count(*) FROM contacts.dnc_entries WHERE org_id = '%s'%s",
                            org, ""), 3);
    /* 50,000 in one call. */
    int64_t started = ts_now_ms();
    do_dnc_bulk(&ctx, org, many, n - 1);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_int_eq(((Od__BulkAddDncReply *)ctx.reply)->inserted, 50000);
    rpc_ctx_release(&ctx);
    fprintf(stderr, "[svc] 50,000 DNC entries in one call: %lld ms\n",
            (long long)(ts_now_ms() - started));
    ck_assert_int_eq(scalar("SELECT count(*) FROM contacts.dnc_entries WHERE org_id = '%s'%s",
                            org, ""), 50003);
    free(many);
    free(phones);
}
END_TEST

/* Concurrent bulk calls listing the same new numbers: each call finds none stored and tries to
 * COPY them straight in; all but one collide on the unique key, fall back (savepoint) to the
 * merge and count them as duplicates. Every call succeeds and each number is stored once. */
#define DNC_CONC_THREADS 4
#define DNC_CONC_ROWS 2000

struct dnc_conc_job {
    Od__DncEntryInput *rows;
    struct rpc_ctx ctx;
};

static void *dnc_conc_worker(void *arg)
{
    struct dnc_conc_job *job = arg;
    do_dnc_bulk(&job->ctx, "org_dnc_conc", job->rows, DNC_CONC_ROWS);
    return NULL;
}

START_TEST(test_dnc_bulk_concurrent_same_numbers)
{
    struct dnc_conc_job jobs[DNC_CONC_THREADS];
    pthread_t threads[DNC_CONC_THREADS];
    Od__DncEntryInput *rows = calloc(DNC_CONC_ROWS, sizeof *rows);
    char (*phones)[20] = calloc(DNC_CONC_ROWS, sizeof *phones);
    long long inserted = 0, duplicates = 0;

    ck_assert(rows && phones);
    for (size_t i = 0; i < DNC_CONC_ROWS; i++) {
        snprintf(phones[i], sizeof phones[i], "+1651%07zu", i);
        dnc_input(&rows[i], phones[i], "", "");
    }
    for (int i = 0; i < DNC_CONC_THREADS; i++) {
        jobs[i].rows = rows;
        ck_assert_int_eq(pthread_create(&threads[i], NULL, dnc_conc_worker, &jobs[i]), 0);
    }
    for (int i = 0; i < DNC_CONC_THREADS; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < DNC_CONC_THREADS; i++) {
        ck_status(jobs[i].ctx, OD__STATUS__OK);
        Od__BulkAddDncReply *r = (Od__BulkAddDncReply *)jobs[i].ctx.reply;
        ck_assert_int_eq(r->inserted + r->duplicates, DNC_CONC_ROWS);
        inserted += r->inserted;
        duplicates += r->duplicates;
        rpc_ctx_release(&jobs[i].ctx);
    }
    ck_assert_int_eq(inserted, DNC_CONC_ROWS);
    ck_assert_int_eq(duplicates, (long long)DNC_CONC_ROWS * (DNC_CONC_THREADS - 1));
    ck_assert_int_eq(scalar("SELECT count(*) FROM contacts.dnc_entries WHERE org_id = '%s'%s",
                            "org_dnc_conc", ""),
                     DNC_CONC_ROWS);
    free(rows);
    free(phones);
}
END_TEST

START_TEST(test_check_dnc)
{
    const char *org = "org_dnc_check", *other_org = "org_dnc_check_other";
    Od__DncEntryInput rows[3];
    struct rpc_ctx ctx;

    dnc_input(&rows[0], "+14155554001", "", "");
    dnc_input(&rows[1], "+14155554002", "", "");
    do_dnc_bulk(&ctx, org, rows, 2);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);
    dnc_input(&rows[0], "+14155554003", "", "");
    do_dnc_bulk(&ctx, other_org, rows, 1);
    ck_status(ctx, OD__STATUS__OK);
    rpc_ctx_release(&ctx);

    const char *phones[] = {"+14155554002", "+14155554003", "junk", "+14155554001",
                            "+14155554002", "+14155559999", "'+1'"};
    do_check(&ctx, org, phones, 7);
    ck_status(ctx, OD__STATUS__OK);
    Od__CheckDncReply *r = (Od__CheckDncReply *)ctx.reply;
    ck_assert_uint_eq(r->n_listed, 2);
    ck_assert_str_eq(r->listed[0], "+14155554002");
    ck_assert_str_eq(r->listed[1], "+14155554001");
    rpc_ctx_release(&ctx);
    do_check(&ctx, org, phones, 0);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_uint_eq(((Od__CheckDncReply *)ctx.reply)->n_listed, 0);
    rpc_ctx_release(&ctx);

    /* 10,000 numbers at once; 10,001 refused. */
    const char **many = calloc(10001, sizeof *many);
    ck_assert_ptr_nonnull(many);
    for (int i = 0; i < 10001; i++)
        many[i] = i % 2 ? "+14155554001" : "+14155550000";
    int64_t started = ts_now_ms();
    do_check(&ctx, org, many, 10000);
    ck_status(ctx, OD__STATUS__OK);
    ck_assert_uint_eq(((Od__CheckDncReply *)ctx.reply)->n_listed, 1);
    rpc_ctx_release(&ctx);
    fprintf(stderr, "[svc] CheckDnc of 10,000 numbers: %lld ms\n",
            (long long)(ts_now_ms() - started));
    do_check(&ctx, org, many, 10001);
    ck_status(ctx, OD__STATUS__INVALID);
    rpc_ctx_release(&ctx);
    free(many);
}
END_TEST

START_TEST(test_clean_shutdown)
{
    ts_proc_stop_ok(g_svc);
}
END_TEST

static Suite *audiences_suite(void)
{
    Suite *s = suite_create("audiences-svc");
    TCase *tc = tcase_create("rpc");
    tcase_add_unchecked_fixture(tc, stack_setup, stack_teardown);
    tcase_add_checked_fixture(tc, ensure_service, NULL);
    tcase_set_timeout(tc, 0);
    tcase_add_test(tc, test_audience_crud);
    tcase_add_test(tc, test_members_idempotent_and_not_found);
    tcase_add_test(tc, test_member_limits_write_nothing);
    tcase_add_test(tc, test_other_organization_is_not_found);
    tcase_add_test(tc, test_count_follows_contact_and_audience_deletes);
    tcase_add_test(tc, test_concurrent_adds_exact_count);
    tcase_add_test(tc, test_snapshot_keyset_pages);
    tcase_add_test(tc, test_snapshot_pages_stop_by_size);
    tcase_add_test(tc, test_snapshot_page_stays_on_the_primary_key);
    tcase_add_test(tc, test_dnc_add_list_delete);
    tcase_add_test(tc, test_dnc_bulk_duplicates_and_errors);
    tcase_add_test(tc, test_dnc_bulk_concurrent_same_numbers);
    tcase_add_test(tc, test_check_dnc);
    tcase_add_test(tc, test_clean_shutdown);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;
    int64_t started = ts_now_ms();

    ts_init("svc-audiences");
    sr = srunner_create(audiences_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    fprintf(stderr, "[svc] finished in %.1f s\n", (double)(ts_now_ms() - started) / 1000.0);
    return ts_finish(failed);
}
