/* End-to-end tests of the HTTP API: contacts-svc and the gateway, each with its own database
 * role on a throwaway database, driven over HTTP with libcurl. */
#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testsupport.h"

static struct ts_db *g_db;
static struct ts_proc *g_contacts;
static struct ts_proc *g_gateway;
static char g_gateway_bin[PATH_MAX];
static char g_base[64];      /* http://127.0.0.1:PORT */
static char g_ent_org[64];   /* enterprise organization */
static char g_contacts_rpc_url[48];
static char g_ent_key[160];  /* its write key */
static char g_read_key[160]; /* its read-only key */
static char g_std_org[64];   /* standard-tier organization */
static char g_std_key[160];

/* ---------------- helpers ---------------- */




/* Headers every response must carry; rate-limit headers on every authenticated one. */
static void check_common_headers(const struct ts_http_res *r, const char *method,
                                 const char *path, bool authenticated)
{
    const char *rid = ts_http_header(r, "X-Request-Id");
    ck_assert_msg(r->status > 0, "%s %s: no response (curl error %d)", method, path,
                  r->curl_code);
    ck_assert_msg(rid != NULL && rid[0] != '\0', "%s %s (%ld): no X-Request-Id", method, path,
                  r->status);
    if (authenticated) {
        ck_assert_msg(ts_http_header(r, "X-RateLimit-Limit") != NULL,
                      "%s %s (%ld): no X-RateLimit-Limit", method, path, r->status);
        ck_assert_msg(ts_http_header(r, "X-RateLimit-Remaining") != NULL,
                      "%s %s (%ld): no X-RateLimit-Remaining", method, path, r->status);
        ck_assert_msg(ts_http_header(r, "X-RateLimit-Reset") != NULL,
                      "%s %s (%ld): no X-RateLimit-Reset", method, path, r->status);
    }
}

/* One request with optional extra header lines; key NULL sends none. Returns the status. */
static long api_h(struct ts_http_res *r, const char *method, const char *path, const char *key,
                  const char *body, const char *extra1, const char *extra2)
{
    char url[2048], auth[256];
    const char *headers[4];
    size_t n = 0;
    if (key != NULL) {
        snprintf(auth, sizeof auth, "x-api-key: %s", key);
        headers[n++] = auth;
    }
    if (extra1 != NULL)
        headers[n++] = extra1;
    if (extra2 != NULL)
        headers[n++] = extra2;
    headers[n] = NULL;
    snprintf(url, sizeof url, "%s%s", g_base, path);
    ts_http(method, url, headers, body, body ? strlen(body) : 0, r);
    check_common_headers(r, method, path, key != NULL && r->status != 401);
    return r->status;
}

static long api(struct ts_http_res *r, const char *method, const char *path, const char *key,
                const char *body)
{
    return api_h(r, method, path, key, body, NULL, NULL);
}

/* Asserts the API's error shape: {"statusCode": N, "message": "...", "error": "..."}. */
static void assert_error(const struct ts_http_res *r, long status, const char *error)
{
    json_t *j = r->json;
    ck_assert_msg(r->status == status, "expected HTTP %ld, got %ld: %s", status, r->status,
                  r->body);
    ck_assert_msg(j != NULL && json_is_object(j), "error body is not JSON: %s", r->body);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "statusCode")), status);
    ck_assert_msg(json_is_string(json_object_get(j, "message")) &&
                      json_string_length(json_object_get(j, "message")) > 0,
                  "no message in %s", r->body);
    ck_assert_msg(json_is_string(json_object_get(j, "error")), "no error in %s", r->body);
    if (error != NULL)
        ck_assert_str_eq(json_string_value(json_object_get(j, "error")), error);
    const char *ct = ts_http_header(r, "Content-Type");
    ck_assert_msg(ct != NULL && strstr(ct, "application/json") != NULL,
                  "error Content-Type is %s", ct ? ct : "(none)");
}

static const char *jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static const char *message_of(const struct ts_http_res *r)
{
    const char *m = r->json ? jstr(r->json, "message") : NULL;
    return m ? m : "";
}

/* total of GET /v1/contacts for a key (optionally with a search). */
static long long list_total(const char *key, const char *search)
{
    struct ts_http_res r;
    char path[256];
    long long total;
    snprintf(path, sizeof path, "/v1/contacts?limit=1%s%s", search ? "&search=" : "",
             search ? search : "");
    ck_assert_int_eq(api(&r, "GET", path, key, NULL), 200);
    ck_assert_msg(json_is_integer(json_object_get(r.json, "total")), "no total: %s", r.body);
    total = json_integer_value(json_object_get(r.json, "total"));
    ts_http_res_free(&r);
    return total;
}

/* Creates one contact over HTTP (201) and copies its id. */
static void create_contact(const char *key, const char *name, const char *phone, char *id,
                           size_t id_size)
{
    struct ts_http_res r;
    char body[512];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"phoneNumber\":\"%s\"}", name, phone);
    ck_assert_msg(api(&r, "POST", "/v1/contacts", key, body) == 201, "create: %ld %s", r.status,
                  r.body);
    ck_assert_msg(jstr(r.json, "id") != NULL, "no id in %s", r.body);
    snprintf(id, id_size, "%s", jstr(r.json, "id"));
    ts_http_res_free(&r);
}

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
    char contacts_bin[PATH_MAX], e_db[700], e_rpc[80], e_health[80], e_svc[80];
    char e_port[40], e_health_gw[80];
    int rpc_port = ts_free_port(), contacts_health = ts_free_port();
    int http_port = ts_free_port(), gateway_health = ts_free_port();

    ts_binary("contacts-svc/contacts-svc", contacts_bin, sizeof contacts_bin);
    ts_binary("gateway/gateway", g_gateway_bin, sizeof g_gateway_bin);
    g_db = ts_db_create();

    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "contacts"));
    snprintf(e_rpc, sizeof e_rpc, "RPC_LISTEN=tcp://127.0.0.1:%d", rpc_port);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", contacts_health);
    const char *contacts_env[] = {e_db, e_rpc, e_health, "RPC_WORKERS=4",
                         "WEBHOOK_SVC_URL=" /* relay off: never reach a dev stack */, NULL};
    g_contacts = ts_proc_start("contacts-svc", contacts_bin, NULL, contacts_env);

    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "gateway"));
    snprintf(e_port, sizeof e_port, "HTTP_PORT=%d", http_port);
    snprintf(e_health_gw, sizeof e_health_gw, "HEALTH_LISTEN=http://127.0.0.1:%d",
             gateway_health);
    snprintf(g_contacts_rpc_url, sizeof g_contacts_rpc_url, "tcp://127.0.0.1:%d", rpc_port);
    snprintf(e_svc, sizeof e_svc, "CONTACTS_SVC_URL=%s", g_contacts_rpc_url);
    const char *gateway_env[] = {e_db, "HTTP_BIND=127.0.0.1", e_port, e_health_gw, e_svc,
                                 "HTTP_THREADS=8", NULL};
    g_gateway = ts_proc_start("gateway", g_gateway_bin, NULL, gateway_env);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", http_port);

    ts_proc_wait_ready(g_contacts, 30000);
    ts_proc_wait_ready(g_gateway, 30000);

    ts_org_create(g_db, "Enterprise Org", "enterprise", g_ent_org, sizeof g_ent_org, g_ent_key,
               sizeof g_ent_key);
    ts_org_create(g_db, "Standard Org", "standard", g_std_org, sizeof g_std_org, g_std_key,
               sizeof g_std_key);
    ts_key_create(g_db, g_ent_org, "read", g_read_key, sizeof g_read_key);
    ts_wait_gateway_routes(g_base, g_ent_key, ts_contacts_svc_routes, 10000);
}

/* Before every test: a failed test may have left a process stopped. */
static void ensure_stack(void)
{
    struct ts_proc *procs[] = {g_contacts, g_gateway};
    for (int i = 0; i < 2; i++) {
        if (!ts_proc_running(procs[i])) {
            fprintf(stderr, "[e2e] %s is not running: starting it again\n",
                    i == 0 ? "contacts-svc" : "gateway");
            ts_proc_restart(procs[i]);
            ts_proc_wait_ready(procs[i], 30000);
        }
    }
}

static void stack_teardown(void)
{
    ts_proc_free(g_gateway);
    g_gateway = NULL;
    ts_proc_free(g_contacts);
    g_contacts = NULL;
    ts_db_drop(g_db);
    g_db = NULL;
}

/* ---------------- contacts: the reference call ---------------- */

static const char reference_body[] =
    "{\"contacts\":["
    "{\"name\":\"Priya Sharma\",\"phoneNumber\":\"+919876543210\",\"language\":\"hi-IN\","
    "\"metadata\":{\"city\":\"Mumbai\",\"tier\":\"premium\"}},"
    "{\"name\":\"Ravi Kumar\",\"phoneNumber\":\"+919123456789\",\"language\":\"en-IN\"}"
    "]}";

/* Checks the reply of the reference call; copies the two ids. */
static void check_reference_reply(const struct ts_http_res *r, int created, int updated,
                                  char ids[2][64])
{
    json_t *contacts;
    const char *want_name[] = {"Priya Sharma", "Ravi Kumar"};
    const char *want_phone[] = {"+919876543210", "+919123456789"};

    ck_assert_msg(r->status == 200, "bulk: %ld %s", r->status, r->body);
    ck_assert_msg(r->json != NULL, "bulk reply is not JSON: %s", r->body);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "created")), created);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "updated")), updated);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "failed")), 0);
    contacts = json_object_get(r->json, "contacts");
    ck_assert_msg(json_is_array(contacts) && json_array_size(contacts) == 2, "contacts: %s",
                  r->body);
    for (size_t i = 0; i < 2; i++) {
        json_t *c = json_array_get(contacts, i);
        const char *id = jstr(c, "id");
        ck_assert_msg(id != NULL && strncmp(id, "cid_", 4) == 0, "id in %s", r->body);
        ck_assert_str_eq(jstr(c, "name"), want_name[i]);
        ck_assert_str_eq(jstr(c, "phoneNumber"), want_phone[i]);
        snprintf(ids[i], 64, "%s", id);
    }
    ck_assert_str_ne(ids[0], ids[1]);
}

START_TEST(test_add_contacts_reference_call)
{
    struct ts_http_res r;
    char ids[2][64], again[2][64], path[128], bearer[256];

    api(&r, "POST", "/v1/contacts/bulk", g_ent_key, reference_body);
    check_reference_reply(&r, 2, 0, ids);
    ts_http_res_free(&r);

    /* The same request with Authorization: Bearer: the same contacts, updated. */
    snprintf(bearer, sizeof bearer, "Authorization: Bearer %s", g_ent_key);
    api_h(&r, "POST", "/v1/contacts/bulk", NULL, reference_body, bearer, NULL);
    check_common_headers(&r, "POST", "/v1/contacts/bulk", true);
    check_reference_reply(&r, 0, 2, again);
    ck_assert_str_eq(again[0], ids[0]);
    ck_assert_str_eq(again[1], ids[1]);
    ts_http_res_free(&r);

    /* What was stored. */
    snprintf(path, sizeof path, "/v1/contacts/%s", ids[0]);
    ck_assert_int_eq(api(&r, "GET", path, g_ent_key, NULL), 200);
    ck_assert_str_eq(jstr(r.json, "id"), ids[0]);
    ck_assert_str_eq(jstr(r.json, "name"), "Priya Sharma");
    ck_assert_str_eq(jstr(r.json, "phoneNumber"), "+919876543210");
    ck_assert_str_eq(jstr(r.json, "language"), "hi-IN");
    ck_assert_str_eq(jstr(json_object_get(r.json, "metadata"), "city"), "Mumbai");
    ck_assert_str_eq(jstr(json_object_get(r.json, "metadata"), "tier"), "premium");
    ck_assert_msg(jstr(r.json, "createdAt") != NULL && jstr(r.json, "updatedAt") != NULL,
                  "timestamps missing: %s", r.body);
    ts_http_res_free(&r);
}
END_TEST

/* ---------------- authentication, scopes, routing, headers ---------------- */

START_TEST(test_authentication_and_scopes)
{
    struct ts_http_res r;

    /* No key. */
    api(&r, "GET", "/v1/contacts", NULL, NULL);
    assert_error(&r, 401, "Unauthorized");
    ts_http_res_free(&r);
    api(&r, "POST", "/v1/contacts/bulk", NULL, reference_body);
    assert_error(&r, 401, "Unauthorized");
    ts_http_res_free(&r);

    /* Unknown keys, both ways of sending them. */
    api(&r, "GET", "/v1/contacts", "sk_live_0000000000000000000000000000000000000000", NULL);
    assert_error(&r, 401, "Unauthorized");
    ts_http_res_free(&r);
    api_h(&r, "GET", "/v1/contacts", NULL, NULL, "Authorization: Bearer sk_live_nope", NULL);
    assert_error(&r, 401, "Unauthorized");
    ts_http_res_free(&r);
    api(&r, "GET", "/v1/contacts", "not-a-key", NULL);
    assert_error(&r, 401, "Unauthorized");
    ts_http_res_free(&r);

    /* A read-only key reads but does not write. */
    ck_assert_int_eq(api(&r, "GET", "/v1/contacts", g_read_key, NULL), 200);
    ts_http_res_free(&r);
    api(&r, "POST", "/v1/contacts/bulk", g_read_key, reference_body);
    assert_error(&r, 403, "Forbidden");
    ts_http_res_free(&r);
    api(&r, "POST", "/v1/contacts", g_read_key,
        "{\"name\":\"Nope\",\"phoneNumber\":\"+14155553000\"}");
    assert_error(&r, 403, "Forbidden");
    ts_http_res_free(&r);
    api(&r, "PATCH", "/v1/contacts/cid_abc", g_read_key, "{\"name\":\"x\"}");
    assert_error(&r, 403, "Forbidden");
    ts_http_res_free(&r);
    api(&r, "DELETE", "/v1/contacts/cid_abc", g_read_key, NULL);
    assert_error(&r, 403, "Forbidden");
    ts_http_res_free(&r);
    ck_assert_int_eq(list_total(g_read_key, "14155553000"), 0);
}
END_TEST

START_TEST(test_routing_errors)
{
    struct ts_http_res r;
    const char *allow;

    api(&r, "GET", "/v1/nothing-here", g_ent_key, NULL);
    assert_error(&r, 404, "Not Found");
    ts_http_res_free(&r);
    api(&r, "GET", "/v2/contacts", g_ent_key, NULL);
    assert_error(&r, 404, "Not Found");
    ts_http_res_free(&r);

    api(&r, "PUT", "/v1/contacts", g_ent_key, "{}");
    assert_error(&r, 405, "Method Not Allowed");
    allow = ts_http_header(&r, "Allow");
    ck_assert_msg(allow != NULL && strstr(allow, "GET") != NULL && strstr(allow, "POST") != NULL,
                  "Allow: %s", allow ? allow : "(none)");
    ts_http_res_free(&r);

    api(&r, "GET", "/v1/contacts/bulk/extra", g_ent_key, NULL);
    assert_error(&r, 404, NULL);
    ts_http_res_free(&r);

    api(&r, "PUT", "/v1/contacts/cid_abc", g_ent_key, "{}");
    assert_error(&r, 405, "Method Not Allowed");
    allow = ts_http_header(&r, "Allow");
    ck_assert_msg(allow != NULL && strstr(allow, "GET") != NULL &&
                      strstr(allow, "PATCH") != NULL && strstr(allow, "DELETE") != NULL,
                  "Allow: %s", allow ? allow : "(none)");
    ts_http_res_free(&r);

    /* An id that cannot be ours. */
    api(&r, "GET", "/v1/contacts/not-an-id", g_ent_key, NULL);
    assert_error(&r, 404, "Not Found");
    ts_http_res_free(&r);

    /* Regressions: bytes that are not UTF-8 once percent-decoded. A search reached PostgreSQL
     * (500); a path made the 404 message invalid JSON (empty body). */
    api(&r, "GET", "/v1/contacts?search=%FF", g_ent_key, NULL);
    assert_error(&r, 400, "Bad Request");
    ts_http_res_free(&r);
    api(&r, "GET", "/v1/%FF%FE", g_ent_key, NULL);
    assert_error(&r, 404, "Not Found");
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_request_ids)
{
    struct ts_http_res r, r2;
    char first[128];

    api_h(&r, "GET", "/v1/contacts", g_ent_key, NULL, "X-Request-Id: trace-abc_123.x", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(ts_http_header(&r, "X-Request-Id"), "trace-abc_123.x");
    ts_http_res_free(&r);

    /* Echoed on errors too, authenticated or not. */
    api_h(&r, "GET", "/v1/contacts", NULL, NULL, "X-Request-Id: unauth-1", NULL);
    ck_assert_int_eq(r.status, 401);
    ck_assert_str_eq(ts_http_header(&r, "X-Request-Id"), "unauth-1");
    ts_http_res_free(&r);

    /* An id that is not plain is replaced by one of ours. */
    api_h(&r, "GET", "/v1/contacts", g_ent_key, NULL, "X-Request-Id: has spaces;and<junk>",
          NULL);
    ck_assert_str_ne(ts_http_header(&r, "X-Request-Id"), "has spaces;and<junk>");
    ts_http_res_free(&r);

    /* Generated ids are unique. */
    api(&r, "GET", "/v1/contacts", g_ent_key, NULL);
    snprintf(first, sizeof first, "%s", ts_http_header(&r, "X-Request-Id"));
    api(&r2, "GET", "/v1/contacts", g_ent_key, NULL);
    ck_assert_str_ne(first, ts_http_header(&r2, "X-Request-Id"));
    ts_http_res_free(&r);
    ts_http_res_free(&r2);
}
END_TEST

START_TEST(test_rate_limit_headers)
{
    struct ts_http_res r;
    long remaining1, remaining2, reset;
    long now = (long)time(NULL);

    api(&r, "GET", "/v1/contacts", g_ent_key, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(ts_http_header(&r, "X-RateLimit-Limit"), "1000000");
    remaining1 = atol(ts_http_header(&r, "X-RateLimit-Remaining"));
    reset = atol(ts_http_header(&r, "X-RateLimit-Reset"));
    ck_assert_msg(reset >= now && reset <= now + 61, "X-RateLimit-Reset %ld (now %ld)", reset,
                  now);
    ts_http_res_free(&r);
    api(&r, "GET", "/v1/contacts", g_ent_key, NULL);
    remaining2 = atol(ts_http_header(&r, "X-RateLimit-Remaining"));
    ts_http_res_free(&r);
    /* Same minute: one fewer left (a new minute would reset the count). */
    ck_assert_msg(remaining2 == remaining1 - 1 || remaining2 > remaining1,
                  "remaining went from %ld to %ld", remaining1, remaining2);

    /* Errors of authenticated requests carry them as well. */
    api(&r, "GET", "/v1/nope", g_ent_key, NULL);
    ck_assert_int_eq(r.status, 404);
    ts_http_res_free(&r);
}
END_TEST

/* ---- concurrent reads (the gateway batches them: gateway/contact_reads.h) ---- */

#define READ_CONTACTS 12
#define READ_THREADS 16
#define READS_PER_THREAD 60

struct read_org {
    char key[160];
    char ids[READ_CONTACTS][64];
    char phones[READ_CONTACTS][32];
};
static struct read_org g_read_orgs[2];

/* Bulk-creates READ_CONTACTS contacts in org and records their ids and numbers. */
static void read_org_fill(struct read_org *o, int area)
{
    char body[4096];
    size_t len = (size_t)snprintf(body, sizeof body, "{\"contacts\":[");
    for (int i = 0; i < READ_CONTACTS; i++)
        len += (size_t)snprintf(body + len, sizeof body - len,
                                "%s{\"name\":\"Reader %d\",\"phoneNumber\":\"+1%03d555%04d\"}",
                                i ? "," : "", i, area, i);
    snprintf(body + len, sizeof body - len, "]}");
    struct ts_http_res r;
    ck_assert_int_eq(api(&r, "POST", "/v1/contacts/bulk", o->key, body), 200);
    json_t *list = json_object_get(r.json, "contacts");
    ck_assert_uint_eq(json_array_size(list), READ_CONTACTS);
    for (int i = 0; i < READ_CONTACTS; i++) {
        json_t *c = json_array_get(list, (size_t)i);
        snprintf(o->ids[i], sizeof o->ids[i], "%s", json_string_value(json_object_get(c, "id")));
        snprintf(o->phones[i], sizeof o->phones[i], "%s",
                 json_string_value(json_object_get(c, "phoneNumber")));
    }
    ts_http_res_free(&r);
}

/* Each thread reads random contacts, as either organization, of either organization (and
 * ids that exist nowhere); returns how many answers were wrong. */
static void *read_worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    struct ts_http_client *c = ts_http_client_new();
    intptr_t wrong = 0;
    for (int i = 0; i < READS_PER_THREAD; i++) {
        int as = (int)(rand_r(&seed) % 2), of = (int)(rand_r(&seed) % 3);
        int k = (int)(rand_r(&seed) % READ_CONTACTS);
        char url[256], key_header[200];
        const char *id = of < 2 ? g_read_orgs[of].ids[k] : "cid_0000000000000000000000";
        struct ts_http_res r;
        snprintf(url, sizeof url, "%s/v1/contacts/%s", g_base, id);
        snprintf(key_header, sizeof key_header, "x-api-key: %s", g_read_orgs[as].key);
        const char *headers[] = {key_header, NULL};
        if (ts_http_client_request(c, "GET", url, headers, NULL, 0, 10000, &r) != 0) {
            wrong++;
            continue;
        }
        if (of == as) {
            const char *got_id = json_string_value(json_object_get(r.json, "id"));
            const char *phone = json_string_value(json_object_get(r.json, "phoneNumber"));
            if (r.status != 200 || got_id == NULL || strcmp(got_id, id) != 0 || phone == NULL ||
                strcmp(phone, g_read_orgs[of].phones[k]) != 0)
                wrong++;
        } else if (r.status != 404) {
            wrong++;
        }
        ts_http_res_free(&r);
    }
    ts_http_client_free(c);
    return (void *)wrong;
}

/* Many concurrent GET /v1/contacts/:id calls of two organizations: each answer is the contact
 * asked for, and never another organization's. */
START_TEST(test_concurrent_reads)
{
    char org[64];
    pthread_t threads[READ_THREADS];
    intptr_t wrong = 0;

    snprintf(g_read_orgs[0].key, sizeof g_read_orgs[0].key, "%s", g_ent_key);
    ts_org_create(g_db, "Second Reader Org", "enterprise", org, sizeof org, g_read_orgs[1].key,
                  sizeof g_read_orgs[1].key);
    read_org_fill(&g_read_orgs[0], 601);
    read_org_fill(&g_read_orgs[1], 602);
    for (int i = 0; i < READ_THREADS; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, read_worker, (void *)(uintptr_t)(i + 1)),
                         0);
    for (int i = 0; i < READ_THREADS; i++) {
        void *w;
        pthread_join(threads[i], &w);
        wrong += (intptr_t)w;
    }
    ck_assert_msg(wrong == 0, "%ld of %d concurrent reads were answered wrongly", (long)wrong,
                  READ_THREADS * READS_PER_THREAD);
}
END_TEST

/* The standard tier allows 20 requests in a second: the 21st gets 429 with Retry-After. */
START_TEST(test_rate_limit_standard_tier)
{
    struct ts_http_client *c = ts_http_client_new();
    struct ts_http_res r;
    char url[256], key_header[256];
    long status[25];
    bool one_second = false;

    snprintf(url, sizeof url, "%s/v1/contacts/not-an-id", g_base); /* 404 without an RPC */
    snprintf(key_header, sizeof key_header, "x-api-key: %s", g_std_key);
    const char *headers[] = {key_header, NULL};

    for (int attempt = 0; attempt < 3 && !one_second; attempt++) {
        int64_t start_s, end_s;
        /* Start just after a second boundary so the burst fits in one fixed window. */
        ts_sleep_ms((int)(1000 - ts_wall_ms() % 1000) + 5);
        start_s = ts_wall_ms() / 1000;
        for (int i = 0; i < 25; i++) {
            ts_http_client_request(c, "GET", url, headers, NULL, 0, 5000, &r);
            check_common_headers(&r, "GET", "/v1/contacts/not-an-id", true);
            status[i] = r.status;
            if (i == 20) {
                const char *retry = ts_http_header(&r, "Retry-After");
                if (r.status == 429) {
                    assert_error(&r, 429, "Too Many Requests");
                    ck_assert_msg(retry != NULL && atol(retry) >= 1, "Retry-After: %s",
                                  retry ? retry : "(none)");
                }
            }
            ts_http_res_free(&r);
        }
        end_s = ts_wall_ms() / 1000;
        one_second = start_s == end_s;
        if (!one_second)
            fprintf(stderr, "[e2e] rate-limit burst crossed a second boundary; retrying\n");
    }
    ts_http_client_free(c);
    ck_assert_msg(one_second, "could not send 25 requests within one second");
    for (int i = 0; i < 20; i++)
        ck_assert_msg(status[i] == 404, "request %d got %ld, expected 404", i + 1, status[i]);
    for (int i = 20; i < 25; i++)
        ck_assert_msg(status[i] == 429, "request %d got %ld, expected 429", i + 1, status[i]);
    /* Let the one-second window pass before the next test uses this key. */
    ts_sleep_ms((int)(1000 - ts_wall_ms() % 1000) + 50);
}
END_TEST

/* ---------------- contacts over HTTP ---------------- */

START_TEST(test_other_org_is_404)
{
    struct ts_http_res r;
    char id[64], path[128];

    create_contact(g_ent_key, "Enterprise Only", "+14155553100", id, sizeof id);
    snprintf(path, sizeof path, "/v1/contacts/%s", id);

    api(&r, "GET", path, g_std_key, NULL);
    assert_error(&r, 404, "Not Found");
    ts_http_res_free(&r);
    api(&r, "PATCH", path, g_std_key, "{\"name\":\"Stolen\"}");
    assert_error(&r, 404, "Not Found");
    ts_http_res_free(&r);
    api(&r, "DELETE", path, g_std_key, NULL);
    assert_error(&r, 404, "Not Found");
    ts_http_res_free(&r);
    ck_assert_int_eq(list_total(g_std_key, "14155553100"), 0);

    ck_assert_int_eq(api(&r, "GET", path, g_ent_key, NULL), 200);
    ck_assert_str_eq(jstr(r.json, "name"), "Enterprise Only");
    ts_http_res_free(&r);
}
END_TEST

/* Organization ids sort in creation order (gateway/auth.c says why: every contacts index
 * leads with the organization, and a new one's rows should land at the B-trees' right edge). */
START_TEST(test_org_ids_in_creation_order)
{
    char org[64], key[128];
    ts_org_create(g_db, "Newest Org", "standard", org, sizeof org, key, sizeof key);
    ck_assert_msg(strcmp(g_ent_org, g_std_org) < 0 && strcmp(g_std_org, org) < 0,
                  "org ids out of creation order: %s, %s, %s", g_ent_org, g_std_org, org);
    ck_assert_uint_eq(strlen(org), strlen(g_ent_org));
}
END_TEST

START_TEST(test_malformed_json)
{
    struct ts_http_res r;
    long long before = list_total(g_ent_key, NULL);

    api(&r, "POST", "/v1/contacts/bulk", g_ent_key, "{\"contacts\": [{\"name\": \"x\",");
    assert_error(&r, 400, "Bad Request");
    ts_http_res_free(&r);
    api(&r, "POST", "/v1/contacts/bulk", g_ent_key, "not json at all");
    assert_error(&r, 400, "Bad Request");
    ts_http_res_free(&r);
    api(&r, "POST", "/v1/contacts/bulk", g_ent_key, "[1, 2]");
    assert_error(&r, 400, "Bad Request");
    ts_http_res_free(&r);
    api(&r, "POST", "/v1/contacts/bulk", g_ent_key, "{\"contacts\": {}}");
    assert_error(&r, 400, "Bad Request");
    ts_http_res_free(&r);
    api(&r, "POST", "/v1/contacts/bulk", g_ent_key, "{\"contacts\": []}");
    assert_error(&r, 400, "Bad Request");
    ts_http_res_free(&r);
    api(&r, "POST", "/v1/contacts", g_ent_key, "");
    assert_error(&r, 400, "Bad Request");
    ts_http_res_free(&r);
    api(&r, "POST", "/v1/contacts", g_ent_key, "{\"name\": \"Trailing\", }");
    assert_error(&r, 400, "Bad Request");
    ts_http_res_free(&r);

    ck_assert_int_eq(list_total(g_ent_key, NULL), before);
}
END_TEST

START_TEST(test_bulk_over_limit)
{
    struct ts_http_res r;
    long long before = list_total(g_ent_key, NULL);
    size_t cap = 10001 * 64 + 64, len = 0;
    char *body = malloc(cap);

    ck_assert_ptr_nonnull(body);
    len += (size_t)snprintf(body + len, cap - len, "{\"contacts\":[");
    for (int i = 0; i < 10001; i++)
        len += (size_t)snprintf(body + len, cap - len,
                                "%s{\"name\":\"Big %d\",\"phoneNumber\":\"+1650%07d\"}",
                                i ? "," : "", i, 2000000 + i);
    len += (size_t)snprintf(body + len, cap - len, "]}");
    api(&r, "POST", "/v1/contacts/bulk", g_ent_key, body);
    free(body);
    assert_error(&r, 400, "Bad Request");
    ck_assert_msg(strstr(message_of(&r), "10000") != NULL || strstr(message_of(&r), "10,000"),
                  "message should name the limit: %s", message_of(&r));
    ts_http_res_free(&r);
    ck_assert_int_eq(list_total(g_ent_key, NULL), before);
    ck_assert_int_eq(list_total(g_ent_key, "1650200"), 0);
}
END_TEST

START_TEST(test_body_too_large)
{
    struct ts_http_res r;
    size_t size = 40u * 1024 * 1024;
    char *body = malloc(size);
    char url[128], key_header[256];
    int64_t started, elapsed;

    ck_assert_ptr_nonnull(body);
    /* A syntactically plausible JSON prefix padded with spaces. */
    memset(body, ' ', size);
    memcpy(body, "{\"contacts\":[", 13);
    body[size - 2] = ']';
    body[size - 1] = '}';
    snprintf(url, sizeof url, "%s/v1/contacts/bulk", g_base);
    snprintf(key_header, sizeof key_header, "x-api-key: %s", g_ent_key);
    const char *headers[] = {key_header, NULL};
    started = ts_now_ms();
    ts_http("POST", url, headers, body, size, &r);
    elapsed = ts_now_ms() - started;
    free(body);
    ck_assert_msg(r.status == 413, "40 MB body: got HTTP %ld (curl %d), expected 413", r.status,
                  r.curl_code);
    assert_error(&r, 413, "Payload Too Large");
    ck_assert_msg(ts_http_header(&r, "X-Request-Id") != NULL, "413 without X-Request-Id");
    ck_assert_msg(elapsed < 5000, "413 took %lld ms", (long long)elapsed);
    ts_http_res_free(&r);

    /* Refused before any key lookup (the event thread must not wait on the database): no
     * key is 401; a key the gateway has not cached is not looked up, and gets the 413. */
    const char *no_key[] = {NULL};
    body = malloc(size);
    ck_assert_ptr_nonnull(body);
    memset(body, ' ', size);
    ts_http("POST", url, no_key, body, size, &r);
    assert_error(&r, 401, "Unauthorized");
    ts_http_res_free(&r);
    const char *unknown_key[] = {"x-api-key: sk_live_NotAKeyThisGatewayHasEverSeen0000000000",
                                 NULL};
    ts_http("POST", url, unknown_key, body, size, &r);
    free(body);
    assert_error(&r, 413, "Payload Too Large");
    ts_http_res_free(&r);

    /* The gateway is fine afterwards. */
    ck_assert_int_eq(api(&r, "GET", "/v1/contacts", g_ent_key, NULL), 200);
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_create_and_duplicate)
{
    struct ts_http_res r;
    const char *body = "{\"name\":\"Neha Gupta\",\"phoneNumber\":\"+14155553200\","
                       "\"language\":\"en-IN\",\"metadata\":{\"source\":\"e2e\",\"n\":1}}";

    ck_assert_msg(api(&r, "POST", "/v1/contacts", g_ent_key, body) == 201, "create: %ld %s",
                  r.status, r.body);
    ck_assert_msg(strncmp(jstr(r.json, "id"), "cid_", 4) == 0, "id in %s", r.body);
    ck_assert_str_eq(jstr(r.json, "name"), "Neha Gupta");
    ck_assert_str_eq(jstr(r.json, "phoneNumber"), "+14155553200");
    ck_assert_str_eq(jstr(r.json, "language"), "en-IN");
    ck_assert_str_eq(jstr(json_object_get(r.json, "metadata"), "source"), "e2e");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "metadata"), "n")),
                     1);
    ck_assert_msg(jstr(r.json, "createdAt") != NULL, "no createdAt in %s", r.body);
    ts_http_res_free(&r);

    api(&r, "POST", "/v1/contacts", g_ent_key, body);
    assert_error(&r, 409, "Conflict");
    ts_http_res_free(&r);

    api(&r, "POST", "/v1/contacts", g_ent_key, "{\"name\":\"Bad\",\"phoneNumber\":\"12345\"}");
    assert_error(&r, 400, "Bad Request");
    ck_assert_msg(strstr(message_of(&r), "phoneNumber") != NULL, "message: %s", message_of(&r));
    ts_http_res_free(&r);
    ck_assert_int_eq(list_total(g_ent_key, "14155553200"), 1);
}
END_TEST

START_TEST(test_wrong_types)
{
    struct ts_http_res r;
    json_t *errors;

    api(&r, "POST", "/v1/contacts", g_ent_key, "{\"phoneNumber\": 5}");
    assert_error(&r, 400, "Bad Request");
    ck_assert_msg(strstr(message_of(&r), "phoneNumber") != NULL, "message: %s", message_of(&r));
    ts_http_res_free(&r);
    api(&r, "POST", "/v1/contacts", g_ent_key, "{\"name\": 7, \"phoneNumber\": \"+14155553300\"}");
    assert_error(&r, 400, "Bad Request");
    ck_assert_msg(strstr(message_of(&r), "name") != NULL, "message: %s", message_of(&r));
    ts_http_res_free(&r);
    api(&r, "POST", "/v1/contacts", g_ent_key,
        "{\"phoneNumber\": \"+14155553300\", \"metadata\": \"text\"}");
    assert_error(&r, 400, "Bad Request");
    ck_assert_msg(strstr(message_of(&r), "metadata") != NULL, "message: %s", message_of(&r));
    ts_http_res_free(&r);
    api(&r, "POST", "/v1/contacts", g_ent_key, "{\"phoneNumber\": [\"+14155553300\"]}");
    assert_error(&r, 400, "Bad Request");
    ts_http_res_free(&r);

    /* In a bulk call a badly typed row fails alone, with its index and reason. */
    api(&r, "POST", "/v1/contacts/bulk", g_ent_key,
        "{\"contacts\":[{\"name\":\"Typed\",\"phoneNumber\":\"+14155553301\"},"
        "{\"name\":\"Untyped\",\"phoneNumber\":5}]}");
    ck_assert_msg(r.status == 200, "bulk: %ld %s", r.status, r.body);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "created")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "failed")), 1);
    errors = json_object_get(r.json, "errors");
    ck_assert_msg(json_is_array(errors) && json_array_size(errors) == 1, "errors: %s", r.body);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(errors, 0), "index")), 1);
    ck_assert_msg(strstr(jstr(json_array_get(errors, 0), "reason"), "phoneNumber") != NULL,
                  "reason: %s", r.body);
    ts_http_res_free(&r);
    ck_assert_int_eq(list_total(g_ent_key, "14155553300"), 0);
}
END_TEST

START_TEST(test_list_paging)
{
    struct ts_http_res r;
    json_t *data;

    api(&r, "POST", "/v1/contacts/bulk", g_ent_key,
        "{\"contacts\":[{\"name\":\"Zed Listing 1\",\"phoneNumber\":\"+14155553401\"},"
        "{\"name\":\"Zed Listing 2\",\"phoneNumber\":\"+14155553402\"},"
        "{\"name\":\"Zed Listing 3\",\"phoneNumber\":\"+14155553403\"}]}");
    ck_assert_msg(r.status == 200, "bulk: %ld %s", r.status, r.body);
    ts_http_res_free(&r);

    ck_assert_int_eq(api(&r, "GET", "/v1/contacts?page=1&limit=2&search=zed%20listing",
                         g_ent_key, NULL),
                     200);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "total")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "page")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "limit")), 2);
    data = json_object_get(r.json, "data");
    ck_assert_msg(json_is_array(data) && json_array_size(data) == 2, "data: %s", r.body);
    json_t *c = json_array_get(data, 0);
    ck_assert_msg(strncmp(jstr(c, "id"), "cid_", 4) == 0 && jstr(c, "name") &&
                      jstr(c, "phoneNumber") && json_object_get(c, "language") &&
                      json_is_object(json_object_get(c, "metadata")) && jstr(c, "createdAt") &&
                      jstr(c, "updatedAt"),
                  "contact shape: %s", r.body);
    ts_http_res_free(&r);

    ck_assert_int_eq(api(&r, "GET", "/v1/contacts?page=2&limit=2&search=ZED%20LISTING",
                         g_ent_key, NULL),
                     200);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "total")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "page")), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "data")), 1);
    ts_http_res_free(&r);

    /* Defaults: page 1, limit 20. */
    ck_assert_int_eq(api(&r, "GET", "/v1/contacts", g_ent_key, NULL), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "page")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "limit")), 20);
    ck_assert_msg(json_array_size(json_object_get(r.json, "data")) <= 20, "more than 20");
    ts_http_res_free(&r);

    /* Phone number search; literal wildcards. */
    ck_assert_int_eq(list_total(g_ent_key, "%2B1415555340"), 3);
    ck_assert_int_eq(list_total(g_ent_key, "%25"), 0);

    api(&r, "GET", "/v1/contacts?limit=101", g_ent_key, NULL);
    assert_error(&r, 400, "Bad Request");
    ck_assert_msg(strstr(message_of(&r), "limit") != NULL, "message: %s", message_of(&r));
    ts_http_res_free(&r);
    api(&r, "GET", "/v1/contacts?limit=0", g_ent_key, NULL);
    assert_error(&r, 400, "Bad Request");
    ts_http_res_free(&r);
    api(&r, "GET", "/v1/contacts?page=0", g_ent_key, NULL);
    assert_error(&r, 400, "Bad Request");
    ts_http_res_free(&r);
    api(&r, "GET", "/v1/contacts?limit=abc", g_ent_key, NULL);
    assert_error(&r, 400, "Bad Request");
    ts_http_res_free(&r);
}
END_TEST

START_TEST(test_patch_get_delete)
{
    struct ts_http_res r;
    char id[64], path[128];

    api(&r, "POST", "/v1/contacts", g_ent_key,
        "{\"name\":\"Old Name\",\"phoneNumber\":\"+14155553500\",\"language\":\"en-IN\","
        "\"metadata\":{\"k\":\"v\"}}");
    ck_assert_int_eq(r.status, 201);
    snprintf(id, sizeof id, "%s", jstr(r.json, "id"));
    ts_http_res_free(&r);
    snprintf(path, sizeof path, "/v1/contacts/%s", id);

    ck_assert_int_eq(api(&r, "PATCH", path, g_ent_key, "{\"name\":\"New Name\",\"language\":null}"),
                     200);
    ck_assert_str_eq(jstr(r.json, "name"), "New Name");
    ck_assert_msg(json_is_null(json_object_get(r.json, "language")), "language: %s", r.body);
    ts_http_res_free(&r);

    ck_assert_int_eq(api(&r, "GET", path, g_ent_key, NULL), 200);
    ck_assert_str_eq(jstr(r.json, "name"), "New Name");
    ck_assert_str_eq(jstr(r.json, "phoneNumber"), "+14155553500");
    ck_assert_msg(json_is_null(json_object_get(r.json, "language")), "language: %s", r.body);
    ck_assert_str_eq(jstr(json_object_get(r.json, "metadata"), "k"), "v");
    ts_http_res_free(&r);

    ck_assert_int_eq(
        api(&r, "PATCH", path, g_ent_key,
            "{\"phoneNumber\":\"+14155553501\",\"metadata\":{\"k2\":\"v2\"},\"language\":\"hi-IN\"}"),
        200);
    ck_assert_str_eq(jstr(r.json, "phoneNumber"), "+14155553501");
    ck_assert_str_eq(jstr(r.json, "language"), "hi-IN");
    ck_assert_str_eq(jstr(json_object_get(r.json, "metadata"), "k2"), "v2");
    ts_http_res_free(&r);

    api(&r, "PATCH", path, g_ent_key, "{\"phoneNumber\":5}");
    assert_error(&r, 400, "Bad Request");
    ck_assert_msg(strstr(message_of(&r), "phoneNumber") != NULL, "message: %s", message_of(&r));
    ts_http_res_free(&r);
    api(&r, "PATCH", path, g_ent_key, "{\"phoneNumber\":\"bogus\"}");
    assert_error(&r, 400, "Bad Request");
    ts_http_res_free(&r);
    api(&r, "PATCH", path, g_ent_key, "{\"phoneNumber\":null}");
    assert_error(&r, 400, "Bad Request");
    ts_http_res_free(&r);

    ck_assert_int_eq(api(&r, "DELETE", path, g_ent_key, NULL), 200);
    ck_assert_str_eq(jstr(r.json, "id"), id);
    ck_assert_msg(json_is_true(json_object_get(r.json, "deleted")), "delete: %s", r.body);
    ts_http_res_free(&r);
    api(&r, "GET", path, g_ent_key, NULL);
    assert_error(&r, 404, "Not Found");
    ts_http_res_free(&r);
    api(&r, "DELETE", path, g_ent_key, NULL);
    assert_error(&r, 404, "Not Found");
    ts_http_res_free(&r);
    api(&r, "PATCH", path, g_ent_key, "{\"name\":\"Ghost\"}");
    assert_error(&r, 404, "Not Found");
    ts_http_res_free(&r);
}
END_TEST

/* ---------------- failures and recovery ---------------- */

/* Polls GET path with key until 200; returns ms waited, or fails at deadline_ms. */
static int64_t wait_for_200(const char *path, const char *key, int64_t since, int limit_ms,
                            int *failures, const char *what)
{
    struct ts_http_res r;
    for (;;) {
        long status = api(&r, "GET", path, key, NULL);
        if (status == 200) {
            ts_http_res_free(&r);
            return ts_now_ms() - since;
        }
        (*failures)++;
        if (ts_now_ms() - since > limit_ms) {
            char msg[512];
            snprintf(msg, sizeof msg, "%ld %s", status, r.body);
            ts_http_res_free(&r);
            ck_abort_msg("%s: no 200 within %d ms; last answer %s", what, limit_ms, msg);
        }
        ts_http_res_free(&r);
        ts_sleep_ms(100);
    }
}

START_TEST(test_contacts_svc_down_and_back)
{
    struct ts_http_res r;
    int64_t started, elapsed, restarted;
    int failures = 0;

    ts_proc_kill(g_contacts);
    /* Measured at once: the gateway's RPC client may not have heard of the crash yet, and
     * must still answer quickly (its send phase is capped at 1 s). */

    started = ts_now_ms();
    api(&r, "GET", "/v1/contacts", g_ent_key, NULL);
    elapsed = ts_now_ms() - started;
    assert_error(&r, 503, "Service Unavailable");
    ts_http_res_free(&r);
    ck_assert_msg(elapsed < 2000, "503 took %lld ms (limit 2000)", (long long)elapsed);

    started = ts_now_ms();
    api(&r, "POST", "/v1/contacts", g_ent_key,
        "{\"name\":\"While Down\",\"phoneNumber\":\"+14155553600\"}");
    elapsed = ts_now_ms() - started;
    assert_error(&r, 503, "Service Unavailable");
    ts_http_res_free(&r);
    ck_assert_msg(elapsed < 2000, "503 took %lld ms (limit 2000)", (long long)elapsed);

    /* Authentication does not need contacts-svc. */
    api(&r, "GET", "/v1/contacts", NULL, NULL);
    ck_assert_int_eq(r.status, 401);
    ts_http_res_free(&r);

    restarted = ts_now_ms();
    ts_proc_restart(g_contacts);
    int64_t took = wait_for_200("/v1/contacts", g_ent_key, restarted, 10000, &failures,
                                "after restarting contacts-svc");
    fprintf(stderr, "[e2e] contacts requests succeed %lld ms after restarting contacts-svc\n",
            (long long)took);
    ts_proc_wait_ready(g_contacts, 10000);
    ck_assert_int_eq(list_total(g_ent_key, "14155553600"), 0);
}
END_TEST

START_TEST(test_postgres_restart)
{
    struct ts_http_res r;
    char new_key[160];
    int64_t restarted, took_auth, took_contacts;
    int failures_auth = 0, failures_contacts = 0;

    /* Warm every pooled connection so each has something to lose. */
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(api(&r, "GET", "/v1/contacts", g_ent_key, NULL), 200);
        ts_http_res_free(&r);
    }
    restart_postgres();
    restarted = ts_now_ms();

    /* A key created after the restart is not in the gateway's cache: its first use goes
     * through the gateway's own database connections. */
    ts_key_create(g_db, g_ent_org, "write", new_key, sizeof new_key);
    took_auth = wait_for_200("/v1/contacts", new_key, restarted, 10000, &failures_auth,
                             "gateway authentication after a PostgreSQL restart");
    /* The cached key goes straight to contacts-svc, whose connections also restarted. */
    took_contacts = wait_for_200("/v1/contacts?search=after", g_ent_key, restarted, 10000,
                                 &failures_contacts, "contacts-svc after a PostgreSQL restart");
    fprintf(stderr, "[e2e] after the PostgreSQL restart: auth path OK after %lld ms (%d failed), "
            "contacts path OK after %lld ms (%d failed)\n",
            (long long)took_auth, failures_auth, (long long)took_contacts, failures_contacts);

    /* Idle connections notice the restart before sending, so nothing failed (regression). */
    ck_assert_msg(failures_auth == 0 && failures_contacts == 0,
                  "requests failed after the PostgreSQL restart: auth %d, contacts %d",
                  failures_auth, failures_contacts);
    /* Writes work, through either key, and settle within the same 10 s. */
    int64_t give_up = restarted + 10000;
    const char *keys[] = {new_key, g_ent_key};
    for (int k = 0; k < 2; k++) {
        char body[160];
        snprintf(body, sizeof body, "{\"name\":\"After Restart %d\",\"phoneNumber\":\"+1415555370%d\"}",
                 k, k);
        for (;;) {
            long status = api(&r, "POST", "/v1/contacts", keys[k], body);
            ts_http_res_free(&r);
            if (status == 201)
                break;
            ck_assert_msg(status == 503, "create after restart: HTTP %ld", status);
            ck_assert_msg(ts_now_ms() < give_up, "creates still fail 10 s after the restart");
            ts_sleep_ms(100);
        }
    }
    ck_assert_int_eq(list_total(g_ent_key, "after%20restart"), 2);
    ck_assert_msg(ts_proc_running(g_gateway) && ts_proc_running(g_contacts),
                  "a process died during the PostgreSQL restart");
}
END_TEST

/* ---- a stalled service holds no HTTP thread; shutdown answers what is in flight ---- */

struct stalled_call {
    char url[512];
    struct ts_http_res res;
};

static void *stalled_get(void *arg)
{
    struct stalled_call *c = arg;
    char auth[200];
    snprintf(auth, sizeof auth, "x-api-key: %s", g_ent_key);
    const char *headers[] = {auth, NULL};
    ts_http("GET", c->url, headers, NULL, 0, &c->res);
    return NULL;
}

/* A second gateway with ONE event thread and a 2 s RPC deadline, on the same contacts-svc.
 * With contacts-svc stopped (SIGSTOP), a list (a handler thread's blocking RPC) and a contact
 * read (the asynchronous, batched path) hang; the event thread must still answer a request
 * that needs no service at once. Then SIGTERM: the gateway waits for both, answers them 503
 * when their deadline passes, and exits 0 (no leak, nothing left suspended). */
START_TEST(test_stalled_service_and_shutdown)
{
    char e_db[700], e_port[40], e_health[80], e_svc[80], base[64], id[64], url[256];
    int http_port = ts_free_port(), health_port = ts_free_port();
    struct stalled_call calls[2];
    pthread_t threads[2];
    struct ts_http_res nope, nokey;
    int64_t started, nope_ms, nokey_ms, stop_ms;
    int stop_rc;

    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "gateway"));
    snprintf(e_port, sizeof e_port, "HTTP_PORT=%d", http_port);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", health_port);
    snprintf(e_svc, sizeof e_svc, "CONTACTS_SVC_URL=%s", g_contacts_rpc_url);
    const char *env[] = {e_db, "HTTP_BIND=127.0.0.1", e_port, e_health, e_svc,
                         "HTTP_THREADS=1", "RPC_TIMEOUT_MS=2000", NULL};
    struct ts_proc *gw = ts_proc_start("gateway-stall", g_gateway_bin, NULL, env);
    ts_proc_wait_ready(gw, 30000);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", http_port);
    ts_wait_gateway_routes(base, g_ent_key, ts_contacts_svc_routes, 10000);

    create_contact(g_ent_key, "Stall Read", "+14155553900", id, sizeof id);
    snprintf(url, sizeof url, "%s/v1/contacts/%s", base, id);
    snprintf(calls[0].url, sizeof calls[0].url, "%s/v1/contacts?search=stall", base);
    snprintf(calls[1].url, sizeof calls[1].url, "%s", url);
    /* after this read the key is in this gateway's cache: the next takes the asynchronous path */
    stalled_get(&calls[1]);
    ck_assert_int_eq(calls[1].res.status, 200);
    ts_http_res_free(&calls[1].res);

    ts_proc_signal(g_contacts, SIGSTOP);
    for (int i = 0; i < 2; i++)
        pthread_create(&threads[i], NULL, stalled_get, &calls[i]);
    /* A third read whose client gives up after 300 ms: its answer, when it comes, has nobody
     * to go to and must still be freed (LeakSanitizer checks at the gateway's exit). */
    struct ts_http_client *impatient = ts_http_client_new();
    struct ts_http_res gave_up;
    char auth_read[200];
    snprintf(auth_read, sizeof auth_read, "x-api-key: %s", g_ent_key);
    const char *read_headers[] = {auth_read, NULL};
    ts_http_client_request(impatient, "GET", calls[1].url, read_headers, NULL, 0, 300, &gave_up);
    ts_http_res_free(&gave_up);
    ts_http_client_free(impatient); /* both are in flight by now, waiting on contacts-svc */

    snprintf(url, sizeof url, "%s/v1/nope", base);
    char auth[200];
    snprintf(auth, sizeof auth, "x-api-key: %s", g_ent_key);
    const char *headers[] = {auth, NULL};
    started = ts_now_ms();
    ts_http("GET", url, headers, NULL, 0, &nope);
    nope_ms = ts_now_ms() - started;
    snprintf(url, sizeof url, "%s/v1/contacts", base);
    started = ts_now_ms();
    ts_http("GET", url, NULL, NULL, 0, &nokey);
    nokey_ms = ts_now_ms() - started;

    started = ts_now_ms();
    stop_rc = ts_proc_stop(gw, 15000);
    stop_ms = ts_now_ms() - started;
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    ts_proc_signal(g_contacts, SIGCONT); /* before any assertion: later tests need it */
    ts_proc_dump_log(gw, 6000);
    ts_proc_free(gw);

    fprintf(stderr, "[e2e] stalled contacts-svc: 404 in %lld ms, 401 in %lld ms; shutdown took "
            "%lld ms; the stalled calls got %ld and %ld\n", (long long)nope_ms,
            (long long)nokey_ms, (long long)stop_ms, calls[0].res.status, calls[1].res.status);
    ck_assert_int_eq(nope.status, 404);
    ck_assert_int_eq(nokey.status, 401);
    ck_assert_msg(nope_ms < 1000 && nokey_ms < 1000,
                  "with one event thread and two calls stalled, a 404 took %lld ms and a 401 "
                  "%lld ms", (long long)nope_ms, (long long)nokey_ms);
    ck_assert_msg(stop_rc == 0, "the gateway exited with %d after SIGTERM", stop_rc);
    /* Every stalled call ends at its own 2 s deadline, counted from its arrival; a read that
     * queued behind the impatient one's batch used to wait a full deadline more (~3.7 s). */
    ck_assert_msg(stop_ms < 3000, "shutdown waited %lld ms for calls with a 2 s deadline",
                  (long long)stop_ms);
    for (int i = 0; i < 2; i++) {
        assert_error(&calls[i].res, 503, "Service Unavailable");
        ts_http_res_free(&calls[i].res);
    }
    ts_http_res_free(&nope);
    ts_http_res_free(&nokey);
}
END_TEST

START_TEST(test_clean_shutdown)
{
    ts_proc_stop_ok(g_gateway);
    ts_proc_stop_ok(g_contacts);
}
END_TEST

static Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("http");
    tcase_add_unchecked_fixture(tc, stack_setup, stack_teardown);
    tcase_add_checked_fixture(tc, ensure_stack, NULL);
    tcase_set_timeout(tc, 0);
    tcase_add_test(tc, test_add_contacts_reference_call);
    tcase_add_test(tc, test_authentication_and_scopes);
    tcase_add_test(tc, test_routing_errors);
    tcase_add_test(tc, test_request_ids);
    tcase_add_test(tc, test_rate_limit_headers);
    tcase_add_test(tc, test_rate_limit_standard_tier);
    tcase_add_test(tc, test_other_org_is_404);
    tcase_add_test(tc, test_concurrent_reads);
    tcase_add_test(tc, test_org_ids_in_creation_order);
    tcase_add_test(tc, test_malformed_json);
    tcase_add_test(tc, test_bulk_over_limit);
    tcase_add_test(tc, test_body_too_large);
    tcase_add_test(tc, test_create_and_duplicate);
    tcase_add_test(tc, test_wrong_types);
    tcase_add_test(tc, test_list_paging);
    tcase_add_test(tc, test_patch_get_delete);
    tcase_add_test(tc, test_contacts_svc_down_and_back);
    tcase_add_test(tc, test_postgres_restart);
    tcase_add_test(tc, test_stalled_service_and_shutdown);
    tcase_add_test(tc, test_clean_shutdown);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;
    int64_t started = ts_now_ms();

    ts_init("e2e");
    sr = srunner_create(api_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    fprintf(stderr, "[e2e] finished in %.1f s\n", (double)(ts_now_ms() - started) / 1000.0);
    return ts_finish(failed);
}
