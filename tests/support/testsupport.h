/* Test harness for service-level and end-to-end tests: throwaway databases, child processes,
 * free ports and an HTTP client.
 *
 * Every test binary that uses it:
 *   int main(void) {
 *       ts_init("svc");                     // env checks, temp dir, atexit clean-up
 *       ... srunner_set_fork_status(sr, CK_NOFORK); srunner_run_all(sr, CK_NORMAL); ...
 *       return ts_finish(srunner_ntests_failed(sr));
 *   }
 *
 * Tests run with CK_NOFORK, so state set up in unchecked fixtures is shared by the tests of a
 * TCase. A failing ck_assert jumps out of the test; anything it started stays registered here
 * and is killed (SIGKILL), and every database it created is dropped, at exit at the latest.
 * Child processes also get PR_SET_PDEATHSIG, so they die with the test binary even if it is
 * killed by a ctest timeout.
 *
 * Functions named *_ok / ts_proc_wait_ready / ts_db_create assert (ck_assert) on failure, so
 * they must be called from a test or a fixture. */
#ifndef OD_TESTSUPPORT_H
#define OD_TESTSUPPORT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- basics ---- */

/* Checks the environment the test command provides: exits with a loud message when
 * OUTDIAL_TEST_PG_URL is missing (OUTDIAL_PROVISION falls back to
 * $OUTDIAL_SOURCE_DIR/scripts/provision-db). Creates the temp dir, ignores SIGPIPE,
 * initialises libcurl and registers the exit clean-up (kill leftover children, drop leftover
 * databases). */
void ts_init(const char *name);
/* Removes the temp dir when nothing failed (else prints where the logs are); returns the exit
 * code for main. */
int ts_finish(int nfailed);

const char *ts_tmpdir(void);
/* $OUTDIAL_BINARY_DIR (set by ctest), else $OUTDIAL_BUILD_DIR, else guessed from the test
 * binary's own path (<build>/tests/<dir>/<name>). */
const char *ts_binary_dir(void);
/* Writes "<binary dir>/<rel>" into buf; asserts that it is an executable file. */
const char *ts_binary(const char *rel, char *buf, size_t size);

int64_t ts_now_ms(void); /* monotonic */
int64_t ts_wall_ms(void);
void ts_sleep_ms(int ms);

/* A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close). */
int ts_free_port(void);

/* Runs `/bin/sh -c cmd`; returns its exit code (128+signal when killed, -1 on error). */
int ts_run_shell(const char *cmd);

/* Runs argv[0] (a path) with env (NULL-terminated "K=V" list, plus the inherited variables
 * below) and captures its stdout into *out (caller frees); stderr goes to log_path (appended,
 * may be NULL for /dev/null). Returns the exit code (128+signal; -1 on error or timeout). */
int ts_run_capture(const char *const argv[], const char *const env[], const char *log_path,
                   int timeout_ms, char **out);

/* malloc'd copy of the last max bytes of a file ("" if unreadable). */
char *ts_file_tail(const char *path, size_t max);

/* ---- throwaway databases ---- */

#define TS_DB_MAX_SVCS 8

struct ts_db {
    char name[64];   /* database name, random */
    char prefix[64]; /* role prefix, random */
    int nsvcs;
    char svc[TS_DB_MAX_SVCS][32];
    char url[TS_DB_MAX_SVCS][512]; /* the service role's URL, from provision-db */
    char role[TS_DB_MAX_SVCS][128];
    bool dropped;
};

/* Creates a database with a random name (libpq, as the admin of OUTDIAL_TEST_PG_URL) and
 * provisions the service roles with OUTDIAL_PROVISION and a unique role prefix. Asserts. */
struct ts_db *ts_db_create(void);
/* The URL of svc's role ("contacts", "gateway"); asserts that it exists. */
const char *ts_db_url(const struct ts_db *db, const char *svc);
/* A new superuser connection to this database (asserts); the caller PQfinish()es it. */
PGconn *ts_db_admin(const struct ts_db *db);
/* First column of the first row of a query run as the superuser, as a number. Asserts that
 * the query succeeds and returns a row. */
long long ts_db_scalar(const struct ts_db *db, const char *sql);
/* Drops the database (WITH FORCE) and its roles, then frees db. NULL is fine. */
void ts_db_drop(struct ts_db *db);

/* ---- child processes ---- */

struct ts_proc;

/* Starts binary (a path) with args (NULL-terminated, without argv[0]; NULL for none) and env
 * (NULL-terminated "K=V"). The child also inherits PATH, HOME, TMPDIR, LOG_LEVEL, ASAN_OPTIONS,
 * UBSAN_OPTIONS and LSAN_OPTIONS from the test. stdout and stderr go to <tmpdir>/<name>.log
 * (appended across restarts). If env holds HEALTH_LISTEN=http://host:port, readiness is polled
 * at that URL + /readyz. Asserts that the fork succeeds. */
struct ts_proc *ts_proc_start(const char *name, const char *binary, const char *const args[],
                              const char *const env[]);
/* Polls /readyz (every 50 ms, up to timeout_ms); asserts that it answers 200 in time and that
 * the process has not exited meanwhile (the log tail is printed on failure). */
void ts_proc_wait_ready(struct ts_proc *p, int timeout_ms);
/* 1 when /readyz answers 200 right now. */
bool ts_proc_ready_now(struct ts_proc *p);
/* True while the child has not been reaped. */
bool ts_proc_running(struct ts_proc *p);
pid_t ts_proc_pid(const struct ts_proc *p);
const char *ts_proc_log(const struct ts_proc *p);
/* Sends sig (e.g. SIGSTOP, SIGCONT); after SIGSTOP, returns once every thread is stopped. */
void ts_proc_signal(struct ts_proc *p, int sig);
/* SIGTERM, then waits up to timeout_ms (SIGKILL after that). Returns the exit code, 128+signal
 * when killed by a signal, or -1 when it was not running. */
int ts_proc_stop(struct ts_proc *p, int timeout_ms);
/* ts_proc_stop, asserting exit status 0 (an ASan leak report makes it non-zero); prints the
 * log tail on failure. */
void ts_proc_stop_ok(struct ts_proc *p);
/* SIGKILL and reap. */
void ts_proc_kill(struct ts_proc *p);
/* Starts the same command again (the process must not be running). */
void ts_proc_restart(struct ts_proc *p);
/* Kills if running, unregisters, frees. NULL is fine. */
void ts_proc_free(struct ts_proc *p);
/* Prints the last bytes of the process's log to stderr with a header. */
void ts_proc_dump_log(const struct ts_proc *p, size_t max);

/* ---- HTTP ---- */

struct ts_http_header {
    char *name;
    char *value;
};

struct ts_http_res {
    long status;      /* 0 when the request failed at the transport level */
    int curl_code;    /* CURLcode */
    char *body;       /* NUL-terminated */
    size_t body_len;
    json_t *json;     /* the body parsed as JSON, or NULL */
    struct ts_http_header *headers; /* of the final response (after any 100 Continue) */
    size_t nheaders;
    double elapsed_ms;
};

/* A reusable connection (keep-alive), for bursts of requests. */
struct ts_http_client;
struct ts_http_client *ts_http_client_new(void);
void ts_http_client_free(struct ts_http_client *c);

/* headers: NULL-terminated list of "Name: value" lines (NULL for none). body may be NULL.
 * Fills res (free it with ts_http_res_free). Returns 0 when a response arrived. */
int ts_http_client_request(struct ts_http_client *c, const char *method, const char *url,
                           const char *const headers[], const char *body, size_t body_len,
                           long timeout_ms, struct ts_http_res *res);
/* One request on a fresh connection (30 s timeout). */
int ts_http(const char *method, const char *url, const char *const headers[], const char *body,
            size_t body_len, struct ts_http_res *res);
/* Case-insensitive header lookup; NULL when absent. Valid until ts_http_res_free. */
const char *ts_http_header(const struct ts_http_res *res, const char *name);
void ts_http_res_free(struct ts_http_res *res);

/* Polls GET base+path (with key) for each path until the gateway stops answering 503: its
 * RPC clients dial their services in the background, so right after a cold start of both a
 * call can find no replica connected yet. Asserts within timeout_ms. */
void ts_wait_gateway_routes(const char *base, const char *key, const char *const paths[],
                            int timeout_ms);
/* One GET per gateway RPC client of contacts-svc (contacts, audiences, DNC, imports). */
extern const char *const ts_contacts_svc_routes[];

/* ---- the gateway's operator commands ---- */

/* Runs `gateway ARGS...` (org-create, key-create) against db's gateway role; asserts that it
 * exits 0 and prints a JSON line, which it returns (caller decrefs). */
json_t *ts_gateway_cli(const struct ts_db *db, const char *const args[]);
/* `gateway org-create NAME --tier TIER`: the new organization and its write key (asserts). */
void ts_org_create(const struct ts_db *db, const char *name, const char *tier, char *org,
                   size_t org_size, char *key, size_t key_size);
/* `gateway key-create ORG --scope SCOPE`: a new key (asserts). */
void ts_key_create(const struct ts_db *db, const char *org, const char *scope, char *key,
                   size_t key_size);

#endif
