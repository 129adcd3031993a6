/* See testsupport.h. */
#include "testsupport.h"

#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TS_MAX_PROCS 64
#define TS_MAX_DBS 16

static char ts_name[64] = "test";
static char ts_dir[PATH_MAX];
static const char *ts_pg_url;
static char ts_provision[PATH_MAX];
static bool ts_initialised;
static bool ts_curl_ready;

static struct ts_proc *ts_procs[TS_MAX_PROCS];
static struct ts_db *ts_dbs[TS_MAX_DBS];

/* Variables a child inherits from the test's own environment. */
static const char *const ts_inherited[] = {
    "PATH", "HOME", "TMPDIR", "LOG_LEVEL", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
    "TSAN_OPTIONS",
    "PSQL", "LANG", "LC_ALL", NULL,
};

/* ======================= basics ======================= */

int64_t ts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ts_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ts_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

const char *ts_tmpdir(void)
{
    return ts_dir;
}

const char *ts_binary_dir(void)
{
    static char guessed[PATH_MAX];
    const char *dir = getenv("OUTDIAL_BINARY_DIR");
    if (dir == NULL || dir[0] == '\0')
        dir = getenv("OUTDIAL_BUILD_DIR");
    if (dir != NULL && dir[0] != '\0')
        return dir;
    /* Run by hand: the binary is <build>/tests/<dir>/<name>. */
    if (guessed[0] == '\0') {
        ssize_t n = readlink("/proc/self/exe", guessed, sizeof guessed - 1);
        guessed[n > 0 ? n : 0] = '\0';
        for (int i = 0; i < 3; i++) {
            char *slash = strrchr(guessed, '/');
            if (slash != NULL)
                *slash = '\0';
        }
    }
    return guessed;
}

const char *ts_binary(const char *rel, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", ts_binary_dir(), rel);
    ck_assert_msg(access(buf, X_OK) == 0,
                  "%s is not an executable (OUTDIAL_BINARY_DIR=%s): build it first", buf,
                  ts_binary_dir());
    return buf;
}

static void ts_random_name(char *out, size_t chars)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char bytes[64];
    if (chars > sizeof bytes)
        chars = sizeof bytes;
    if (getrandom(bytes, chars, 0) != (ssize_t)chars) {
        for (size_t i = 0; i < chars; i++)
            bytes[i] = (unsigned char)rand();
    }
    for (size_t i = 0; i < chars; i++)
        out[i] = alphabet[bytes[i] % 36];
    out[chars] = '\0';
}

int ts_free_port(void)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;
    ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    ck_assert_msg(port > 0, "could not find a free port");
    return port;
}

static int ts_decode_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

int ts_run_shell(const char *cmd)
{
    pid_t pid = fork();
    int status;
    if (pid < 0)
        return -1;
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return ts_decode_status(status);
}

char *ts_file_tail(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long size;
    size_t n;
    if (f == NULL)
        return strdup("");
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    if (size < 0)
        size = 0;
    if ((size_t)size > max)
        fseek(f, size - (long)max, SEEK_SET);
    else
        fseek(f, 0, SEEK_SET);
    buf = malloc(max + 1);
    if (buf == NULL) {
        fclose(f);
        return strdup("");
    }
    n = fread(buf, 1, max, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Builds a NULL-terminated envp: env, then the inherited variables env does not set. */
static char **ts_build_env(const char *const env[])
{
    size_t n = 0, k = 0;
    char **out;
    for (; env != NULL && env[n] != NULL; n++) {
    }
    out = calloc(n + sizeof ts_inherited / sizeof ts_inherited[0] + 1, sizeof *out);
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < n; i++)
        out[k++] = strdup(env[i]);
    for (const char *const *name = ts_inherited; *name != NULL; name++) {
        const char *value = getenv(*name);
        size_t len = strlen(*name);
        bool given = false;
        if (value == NULL)
            continue;
        for (size_t i = 0; i < n; i++)
            if (strncmp(env[i], *name, len) == 0 && env[i][len] == '=')
                given = true;
        if (given)
            continue;
        char *entry = malloc(len + strlen(value) + 2);
        ck_assert_ptr_nonnull(entry);
        sprintf(entry, "%s=%s", *name, value);
        out[k++] = entry;
    }
    out[k] = NULL;
    return out;
}

static void ts_free_strv(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p != NULL; p++)
        free(*p);
    free(v);
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void ts_child_setup(pid_t parent, int out_fd, int err_fd)
{
    sigset_t none;
    int null_fd = open("/dev/null", O_RDONLY);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(126);
    if (null_fd >= 0)
        dup2(null_fd, 0);
    if (out_fd >= 0)
        dup2(out_fd, 1);
    if (err_fd >= 0)
        dup2(err_fd, 2);
    close_range(3, ~0U, 0);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
}

int ts_run_capture(const char *const argv[], const char *const env[], const char *log_path,
                   int timeout_ms, char **out)
{
    int pipefd[2], log_fd, status = 0;
    char **envp = ts_build_env(env);
    pid_t parent = getpid(), pid;
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    int64_t give_up = ts_now_ms() + timeout_ms;
    bool timed_out = false;

    *out = NULL;
    ck_assert_ptr_nonnull(buf);
    ck_assert_msg(pipe2(pipefd, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    log_fd = open(log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                  0644);
    pid = fork();
    if (pid == 0) {
        ts_child_setup(parent, pipefd[1], log_fd);
        execve(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    close(pipefd[1]);
    if (log_fd >= 0)
        close(log_fd);
    ts_free_strv(envp);
    if (pid < 0) {
        close(pipefd[0]);
        free(buf);
        return -1;
    }
    for (;;) {
        struct pollfd pfd = {pipefd[0], POLLIN, 0};
        int64_t left = give_up - ts_now_ms();
        ssize_t n;
        if (left <= 0) {
            timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        if (len + 1024 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        n = read(pipefd[0], buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(pipefd[0]);
    buf[len] = '\0';
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    *out = buf;
    return timed_out ? -1 : ts_decode_status(status);
}

/* ======================= databases ======================= */

static PGconn *ts_pg_connect(const char *url, const char *dbname, int wait_ms)
{
    const char *keys[] = {"dbname", dbname ? "dbname" : NULL, NULL};
    const char *values[] = {url, dbname, NULL};
    int64_t give_up = ts_now_ms() + wait_ms;
    for (;;) {
        PGconn *conn = PQconnectdbParams(keys, values, 1);
        if (PQstatus(conn) == CONNECTION_OK)
            return conn;
        if (ts_now_ms() >= give_up)
            return conn; /* the caller reports PQerrorMessage */
        PQfinish(conn);
        ts_sleep_ms(100);
    }
}

/* Runs one admin statement; 0 on success, else prints the error. */
static int ts_pg_command(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK
                 ? 0
                 : -1;
    if (rc != 0)
        fprintf(stderr, "[%s] admin SQL failed: %s: %s", ts_name, sql,
                PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

static void ts_db_register(struct ts_db *db, bool add)
{
    for (int i = 0; i < TS_MAX_DBS; i++) {
        if (add && ts_dbs[i] == NULL) {
            ts_dbs[i] = db;
            return;
        }
        if (!add && ts_dbs[i] == db) {
            ts_dbs[i] = NULL;
            return;
        }
    }
    ck_assert_msg(!add, "too many databases");
}

struct ts_db *ts_db_create(void)
{
    struct ts_db *db = calloc(1, sizeof *db);
    char suffix[16], sql[256], secrets[PATH_MAX + 128], log_path[PATH_MAX + 128], *out = NULL;
    PGconn *admin;
    int rc;

    ck_assert_ptr_nonnull(db);
    ts_random_name(suffix, 12);
    snprintf(db->name, sizeof db->name, "odt_%s", suffix);
    snprintf(db->prefix, sizeof db->prefix, "odt_%s", suffix);

    admin = ts_pg_connect(ts_pg_url, NULL, 10000);
    if (PQstatus(admin) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(admin));
        PQfinish(admin);
        free(db);
        ck_abort_msg("cannot connect to OUTDIAL_TEST_PG_URL: %s", msg);
    }
    snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", db->name);
    rc = ts_pg_command(admin, sql);
    PQfinish(admin);
    if (rc != 0) {
        free(db);
        ck_abort_msg("CREATE DATABASE failed (see stderr)");
    }
    ts_db_register(db, true);

    snprintf(secrets, sizeof secrets, "%s/%s.secrets", ts_dir, db->name);
    snprintf(log_path, sizeof log_path, "%s/provision-%s.log", ts_dir, db->name);
    const char *argv[] = {ts_provision, ts_pg_url, db->name, db->prefix, secrets, NULL};
    rc = ts_run_capture(argv, NULL, log_path, 120000, &out);
    if (rc != 0) {
        char *tail = ts_file_tail(log_path, 4000);
        fprintf(stderr, "[%s] %s failed (exit %d):\n%s\n", ts_name, ts_provision, rc, tail);
        free(tail);
        free(out);
        ck_abort_msg("provision-db exited with %d (see stderr)", rc);
    }
    for (char *save = NULL, *line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *space = strchr(line, ' ');
        if (space == NULL || db->nsvcs == TS_DB_MAX_SVCS)
            continue;
        *space = '\0';
        snprintf(db->svc[db->nsvcs], sizeof db->svc[0], "%s", line);
        snprintf(db->url[db->nsvcs], sizeof db->url[0], "%s", space + 1);
        snprintf(db->role[db->nsvcs], sizeof db->role[0], "%s_%s", db->prefix, line);
        db->nsvcs++;
    }
    free(out);
    ck_assert_msg(db->nsvcs > 0, "provision-db printed no '<svc> <url>' lines");
    return db;
}

const char *ts_db_url(const struct ts_db *db, const char *svc)
{
    for (int i = 0; i < db->nsvcs; i++)
        if (strcmp(db->svc[i], svc) == 0)
            return db->url[i];
    ck_abort_msg("provision-db gave no URL for service %s", svc);
    return NULL;
}

PGconn *ts_db_admin(const struct ts_db *db)
{
    PGconn *conn = ts_pg_connect(ts_pg_url, db->name, 10000);
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
        PQfinish(conn);
        ck_abort_msg("cannot connect to %s as the admin: %s", db->name, msg);
    }
    return conn;
}

long long ts_db_scalar(const struct ts_db *db, const char *sql)
{
    PGconn *conn = ts_db_admin(db);
    PGresult *res = PQexec(conn, sql);
    long long value = 0;
    char msg[512] = "";
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0;
    if (ok)
        value = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(conn);
    ck_assert_msg(ok, "query %s failed: %s", sql, msg);
    return value;
}

void ts_db_drop(struct ts_db *db)
{
    PGconn *admin;
    PGresult *res;
    char sql[512];

    if (db == NULL)
        return;
    ts_db_register(db, false);
    admin = ts_pg_connect(ts_pg_url, NULL, 15000);
    if (PQstatus(admin) != CONNECTION_OK) {
        fprintf(stderr, "[%s] cannot drop database %s: %s", ts_name, db->name,
                PQerrorMessage(admin));
        PQfinish(admin);
        free(db);
        return;
    }
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", db->name);
    ts_pg_command(admin, sql);
    /* Every role with our prefix, including any a half-finished provisioning left. */
    snprintf(sql, sizeof sql,
             "SELECT rolname FROM pg_roles WHERE starts_with(rolname, '%s_')", db->prefix);
    res = PQexec(admin, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        for (int i = 0; i < PQntuples(res); i++) {
            char drop[256];
            snprintf(drop, sizeof drop, "DROP ROLE IF EXISTS \"%s\"", PQgetvalue(res, i, 0));
            ts_pg_command(admin, drop);
        }
    }
    PQclear(res);
    PQfinish(admin);
    db->dropped = true;
    free(db);
}

/* ======================= processes ======================= */

struct ts_proc {
    char name[64];
    char binary[PATH_MAX];
    char **argv;
    char **envp;
    char log_path[PATH_MAX + 80];
    char ready_url[256];
    pid_t pid;
    bool running;
};

static void ts_proc_register(struct ts_proc *p, bool add)
{
    for (int i = 0; i < TS_MAX_PROCS; i++) {
        if (add && ts_procs[i] == NULL) {
            ts_procs[i] = p;
            return;
        }
        if (!add && ts_procs[i] == p) {
            ts_procs[i] = NULL;
            return;
        }
    }
    ck_assert_msg(!add, "too many processes");
}

static void ts_proc_spawn(struct ts_proc *p)
{
    pid_t parent = getpid();
    int log_fd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_t pid;

    ck_assert_msg(log_fd >= 0, "open %s: %s", p->log_path, strerror(errno));
    {
        char line[128];
        int n = snprintf(line, sizeof line, "---- [test harness] starting %s ----\n", p->name);
        if (write(log_fd, line, (size_t)n) < 0) {
            /* a missing banner is harmless */
        }
    }
    pid = fork();
    if (pid == 0) {
        ts_child_setup(parent, log_fd, log_fd);
        execve(p->binary, p->argv, p->envp);
        _exit(127);
    }
    close(log_fd);
    ck_assert_msg(pid > 0, "fork: %s", strerror(errno));
    p->pid = pid;
    p->running = true;
}

struct ts_proc *ts_proc_start(const char *name, const char *binary, const char *const args[],
                              const char *const env[])
{
    struct ts_proc *p = calloc(1, sizeof *p);
    size_t nargs = 0;

    ck_assert_ptr_nonnull(p);
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->binary, sizeof p->binary, "%s", binary);
    snprintf(p->log_path, sizeof p->log_path, "%s/%s.log", ts_dir, name);
    for (; args != NULL && args[nargs] != NULL; nargs++) {
    }
    p->argv = calloc(nargs + 2, sizeof *p->argv);
    ck_assert_ptr_nonnull(p->argv);
    p->argv[0] = strdup(binary);
    for (size_t i = 0; i < nargs; i++)
        p->argv[i + 1] = strdup(args[i]);
    p->envp = ts_build_env(env);
    for (size_t i = 0; env != NULL && env[i] != NULL; i++)
        if (strncmp(env[i], "HEALTH_LISTEN=", 14) == 0)
            snprintf(p->ready_url, sizeof p->ready_url, "%s/readyz", env[i] + 14);
    ts_proc_register(p, true);
    ts_proc_spawn(p);
    return p;
}

pid_t ts_proc_pid(const struct ts_proc *p)
{
    return p->pid;
}

const char *ts_proc_log(const struct ts_proc *p)
{
    return p->log_path;
}

void ts_proc_dump_log(const struct ts_proc *p, size_t max)
{
    char *tail = ts_file_tail(p->log_path, max);
    fprintf(stderr, "---- [%s] last %zu bytes of %s ----\n%s\n---- end of %s log ----\n", ts_name,
            max, p->log_path, tail, p->name);
    free(tail);
}

/* Reaps the child if it has exited; returns its decoded status then, else -2. */
static int ts_proc_poll(struct ts_proc *p)
{
    int status;
    pid_t r;
    if (!p->running)
        return -1;
    r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid) {
        p->running = false;
        return ts_decode_status(status);
    }
    if (r < 0 && errno == ECHILD) {
        p->running = false;
        return -1;
    }
    return -2;
}

bool ts_proc_running(struct ts_proc *p)
{
    if (p == NULL || !p->running)
        return false;
    (void)ts_proc_poll(p);
    return p->running;
}

static long ts_http_status_quick(const char *url, long timeout_ms)
{
    struct ts_http_res res;
    long status;
    struct ts_http_client *c = ts_http_client_new();
    ts_http_client_request(c, "GET", url, NULL, NULL, 0, timeout_ms, &res);
    status = res.status;
    ts_http_res_free(&res);
    ts_http_client_free(c);
    return status;
}

bool ts_proc_ready_now(struct ts_proc *p)
{
    return p->ready_url[0] != '\0' && ts_http_status_quick(p->ready_url, 1000) == 200;
}

void ts_proc_wait_ready(struct ts_proc *p, int timeout_ms)
{
    int64_t give_up = ts_now_ms() + timeout_ms;
    ck_assert_msg(p->ready_url[0] != '\0', "%s was started without HEALTH_LISTEN", p->name);
    for (;;) {
        int exited = ts_proc_poll(p);
        if (exited != -2) {
            ts_proc_dump_log(p, 6000);
            ck_abort_msg("%s exited (status %d) before it became ready; log: %s", p->name,
                         exited, p->log_path);
        }
        if (ts_http_status_quick(p->ready_url, 1000) == 200)
            return;
        if (ts_now_ms() >= give_up) {
            ts_proc_dump_log(p, 6000);
            ck_abort_msg("%s not ready at %s within %d ms; log: %s", p->name, p->ready_url,
                         timeout_ms, p->log_path);
        }
        ts_sleep_ms(50);
    }
}

/* True when every thread of pid is stopped ('T' or 't' in /proc/pid/task/<tid>/stat). */
static bool ts_pid_all_stopped(pid_t pid)
{
    char dir_path[64];
    snprintf(dir_path, sizeof dir_path, "/proc/%d/task", (int)pid);
    DIR *dir = opendir(dir_path);
    bool all = dir != NULL;
    struct dirent *e;
    while (all && (e = readdir(dir)) != NULL) {
        char path[384], line[512];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s/stat", dir_path, e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue; /* the thread exited */
        const char *close_paren = NULL;
        if (fgets(line, sizeof line, f) != NULL)
            close_paren = strrchr(line, ')');
        fclose(f);
        all = close_paren != NULL && (close_paren[2] == 'T' || close_paren[2] == 't');
    }
    if (dir != NULL)
        closedir(dir);
    return all;
}

void ts_proc_signal(struct ts_proc *p, int sig)
{
    ck_assert_msg(ts_proc_running(p), "%s is not running", p->name);
    kill(p->pid, sig);
    if (sig != SIGSTOP)
        return;
    /* kill() returns before a multi-threaded process has stopped: a thread running on another
     * CPU goes on until it is interrupted (a loaded --tsan run saw a "stopped" contacts-svc
     * answer a call). Tests that freeze a process mean frozen, so wait for every thread. */
    for (int64_t give_up = ts_now_ms() + 5000; !ts_pid_all_stopped(p->pid);) {
        ck_assert_msg(ts_now_ms() < give_up, "%s did not stop within 5 s of SIGSTOP", p->name);
        ts_sleep_ms(1);
    }
}

int ts_proc_stop(struct ts_proc *p, int timeout_ms)
{
    int64_t give_up = ts_now_ms() + timeout_ms;
    int rc;
    if (p == NULL || !p->running)
        return -1;
    kill(p->pid, SIGCONT); /* in case a test left it stopped */
    kill(p->pid, SIGTERM);
    for (;;) {
        rc = ts_proc_poll(p);
        if (rc != -2)
            return rc;
        if (ts_now_ms() >= give_up) {
            fprintf(stderr, "[%s] %s did not exit within %d ms of SIGTERM: SIGKILL\n", ts_name,
                    p->name, timeout_ms);
            ts_proc_kill(p);
            return 128 + SIGKILL;
        }
        ts_sleep_ms(10);
    }
}

void ts_proc_stop_ok(struct ts_proc *p)
{
    int rc;
    ck_assert_msg(ts_proc_running(p), "%s is not running (it exited on its own)", p->name);
    rc = ts_proc_stop(p, 20000);
    if (rc != 0) {
        static char tail[3001]; /* static: ck_abort_msg does not return */
        char *text = ts_file_tail(p->log_path, sizeof tail - 1);
        snprintf(tail, sizeof tail, "%s", text);
        free(text);
        ts_proc_dump_log(p, 12000);
        ck_abort_msg("%s exited with status %d on SIGTERM (expected 0; a sanitizer report "
                     "makes it non-zero). Log %s ends with:\n%s",
                     p->name, rc, p->log_path, tail);
    }
}

void ts_proc_kill(struct ts_proc *p)
{
    int status;
    if (p == NULL || !p->running)
        return;
    kill(p->pid, SIGKILL);
    while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR) {
    }
    p->running = false;
}

void ts_proc_restart(struct ts_proc *p)
{
    ck_assert_msg(!ts_proc_running(p), "%s is still running", p->name);
    ts_proc_spawn(p);
}

void ts_proc_free(struct ts_proc *p)
{
    if (p == NULL)
        return;
    ts_proc_kill(p);
    ts_proc_register(p, false);
    ts_free_strv(p->argv);
    ts_free_strv(p->envp);
    free(p);
}

/* ======================= HTTP ======================= */

struct ts_http_client {
    CURL *curl;
};

struct ts_http_client *ts_http_client_new(void)
{
    struct ts_http_client *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    c->curl = curl_easy_init();
    ck_assert_ptr_nonnull(c->curl);
    return c;
}

void ts_http_client_free(struct ts_http_client *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    free(c);
}

static size_t ts_http_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct ts_http_res *res = arg;
    size_t n = size * nmemb;
    char *grown = realloc(res->body, res->body_len + n + 1);
    if (grown == NULL)
        return 0;
    res->body = grown;
    memcpy(res->body + res->body_len, data, n);
    res->body_len += n;
    res->body[res->body_len] = '\0';
    return n;
}

static void ts_http_clear_headers(struct ts_http_res *res)
{
    for (size_t i = 0; i < res->nheaders; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }
    free(res->headers);
    res->headers = NULL;
    res->nheaders = 0;
}

static size_t ts_http_on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct ts_http_res *res = arg;
    size_t n = size * nmemb, len = n;
    const char *colon;
    struct ts_http_header *grown;

    while (len > 0 && (data[len - 1] == '\r' || data[len - 1] == '\n'))
        len--;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        ts_http_clear_headers(res); /* a new response (e.g. after 100 Continue) */
        return n;
    }
    colon = memchr(data, ':', len);
    if (colon == NULL)
        return n;
    grown = realloc(res->headers, (res->nheaders + 1) * sizeof *grown);
    if (grown == NULL)
        return 0;
    res->headers = grown;
    const char *value = colon + 1;
    while (value < data + len && (*value == ' ' || *value == '\t'))
        value++;
    res->headers[res->nheaders].name = strndup(data, (size_t)(colon - data));
    res->headers[res->nheaders].value = strndup(value, (size_t)(data + len - value));
    res->nheaders++;
    return n;
}

/* ---- recording the gateway's answers for the OpenAPI contract test ----
 * With OUTDIAL_RECORD_RESPONSES=<dir> (set by tests/contract/openapi/CMakeLists.txt on the
 * end-to-end tests), every answer that carries X-Request-Id (i.e. comes from the gateway) is
 * appended to <dir>/<test binary>.jsonl as {method, url, status, contentType, body, truncated};
 * the file is truncated by the first record of the process. validate.mjs checks each one
 * against docs/openapi.json. Bodies over TS_RECORD_BODY_MAX are recorded truncated (and not
 * validated); at most TS_RECORD_MAX answers per process. */
#define TS_RECORD_BODY_MAX (256 * 1024)
#define TS_RECORD_MAX 20000

static pthread_mutex_t ts_record_lock = PTHREAD_MUTEX_INITIALIZER;
static int ts_record_fd = -1;
static int ts_record_count;

static void ts_http_record(const char *method, const char *url, const struct ts_http_res *res)
{
    const char *dir = getenv("OUTDIAL_RECORD_RESPONSES");
    const char *type = ts_http_header(res, "Content-Type");
    bool truncated = res->body_len > TS_RECORD_BODY_MAX;
    char path[PATH_MAX];
    json_t *line;
    char *text;

    if (dir == NULL || dir[0] == '\0' || res->status == 0 ||
        ts_http_header(res, "X-Request-Id") == NULL)
        return;
    line = json_pack("{s:s, s:s, s:i, s:s, s:s%, s:b}", "method", method, "url", url, "status",
                     (int)res->status, "contentType", type ? type : "", "body",
                     res->body ? res->body : "", truncated ? (size_t)0 : res->body_len,
                     "truncated", truncated);
    if (line == NULL) /* a body that is not UTF-8: record it as such */
        line = json_pack("{s:s, s:s, s:i, s:s, s:s, s:b}", "method", method, "url", url,
                         "status", (int)res->status, "contentType", type ? type : "", "body",
                         "", "truncated", 1);
    text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (text == NULL)
        return;
    pthread_mutex_lock(&ts_record_lock);
    if (ts_record_fd < 0 && ts_record_count == 0) {
        mkdir(dir, 0755);
        /* one file per test binary (several share a ts_init name) */
        snprintf(path, sizeof path, "%s/%s.jsonl", dir, program_invocation_short_name);
        ts_record_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    }
    if (ts_record_fd >= 0 && ts_record_count < TS_RECORD_MAX) {
        size_t len = strlen(text);
        text[len] = '\n'; /* replaces the NUL: one write of one line */
        if (write(ts_record_fd, text, len + 1) < 0)
            fprintf(stderr, "[%s] OUTDIAL_RECORD_RESPONSES: %s\n", ts_name, strerror(errno));
        text[len] = '\0';
    }
    ts_record_count++;
    pthread_mutex_unlock(&ts_record_lock);
    free(text);
}

int ts_http_client_request(struct ts_http_client *c, const char *method, const char *url,
                           const char *const headers[], const char *body, size_t body_len,
                           long timeout_ms, struct ts_http_res *res)
{
    struct curl_slist *list = NULL;
    CURL *curl = c->curl;
    int64_t started;
    CURLcode rc;

    memset(res, 0, sizeof *res);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ts_http_on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, res);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ts_http_on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, res);
    if (strcmp(method, "GET") == 0 && body == NULL)
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        list = curl_slist_append(list, headers[i]);
    if (body != NULL) {
        bool has_type = false;
        for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
            if (strncasecmp(headers[i], "Content-Type:", 13) == 0)
                has_type = true;
        if (!has_type)
            list = curl_slist_append(list, "Content-Type: application/json");
    }
    if (list != NULL)
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);

    started = ts_now_ms();
    rc = curl_easy_perform(curl);
    res->elapsed_ms = (double)(ts_now_ms() - started);
    res->curl_code = (int)rc;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
    curl_slist_free_all(list);
    if (res->body == NULL) {
        res->body = strdup("");
        res->body_len = 0;
    }
    if (res->body_len > 0)
        res->json = json_loadb(res->body, res->body_len, 0, NULL);
    if (rc != CURLE_OK && res->status == 0)
        return -1;
    ts_http_record(method, url, res);
    return res->status > 0 ? 0 : -1;
}

int ts_http(const char *method, const char *url, const char *const headers[], const char *body,
            size_t body_len, struct ts_http_res *res)
{
    struct ts_http_client *c = ts_http_client_new();
    int rc = ts_http_client_request(c, method, url, headers, body, body_len, 30000, res);
    ts_http_client_free(c);
    return rc;
}

const char *ts_http_header(const struct ts_http_res *res, const char *name)
{
    for (size_t i = 0; i < res->nheaders; i++)
        if (strcasecmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    return NULL;
}

void ts_http_res_free(struct ts_http_res *res)
{
    free(res->body);
    json_decref(res->json);
    ts_http_clear_headers(res);
    memset(res, 0, sizeof *res);
}

/* ======================= start and end ======================= */

static void ts_atexit(void)
{
    for (int i = 0; i < TS_MAX_PROCS; i++) {
        struct ts_proc *p = ts_procs[i];
        if (p != NULL && p->running) {
            fprintf(stderr, "[%s] killing leftover process %s (pid %d)\n", ts_name, p->name,
                    (int)p->pid);
            ts_proc_kill(p);
        }
    }
    for (int i = 0; i < TS_MAX_DBS; i++) {
        if (ts_dbs[i] != NULL) {
            fprintf(stderr, "[%s] dropping leftover database %s\n", ts_name, ts_dbs[i]->name);
            ts_db_drop(ts_dbs[i]);
        }
    }
    if (ts_curl_ready) {
        curl_global_cleanup();
        ts_curl_ready = false;
    }
}

void ts_init(const char *name)
{
    const char *tmp = getenv("TMPDIR");
    const char *provision = getenv("OUTDIAL_PROVISION");

    if (ts_initialised)
        return;
    ts_initialised = true;
    snprintf(ts_name, sizeof ts_name, "%s", name);
    setvbuf(stderr, NULL, _IONBF, 0);
    ts_pg_url = getenv("OUTDIAL_TEST_PG_URL");
    if (ts_pg_url == NULL || ts_pg_url[0] == '\0') {
        fprintf(stderr,
                "[%s] FATAL: OUTDIAL_TEST_PG_URL is not set. This test needs a throwaway "
                "PostgreSQL superuser URL; run it through `./outdial test`, which provides one "
                "(and OUTDIAL_TEST_PG_RESTART, OUTDIAL_PROVISION).\n",
                ts_name);
        exit(1);
    }
    if (provision != NULL && provision[0] != '\0') {
        snprintf(ts_provision, sizeof ts_provision, "%s", provision);
    } else {
        const char *src = getenv("OUTDIAL_SOURCE_DIR");
        snprintf(ts_provision, sizeof ts_provision, "%s/scripts/provision-db",
                 src ? src : ".");
        fprintf(stderr, "[%s] OUTDIAL_PROVISION is not set; using %s\n", ts_name,
                ts_provision);
    }
    if (access(ts_provision, X_OK) != 0) {
        fprintf(stderr, "[%s] FATAL: %s is not executable\n", ts_name, ts_provision);
        exit(1);
    }
    snprintf(ts_dir, sizeof ts_dir, "%s/outdial-%s.XXXXXX", tmp && tmp[0] ? tmp : "/tmp", name);
    if (mkdtemp(ts_dir) == NULL) {
        fprintf(stderr, "[%s] FATAL: mkdtemp %s: %s\n", ts_name, ts_dir, strerror(errno));
        exit(1);
    }
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "[%s] FATAL: curl_global_init failed\n", ts_name);
        exit(1);
    }
    ts_curl_ready = true;
    atexit(ts_atexit);
    fprintf(stderr, "[%s] logs and scratch files in %s\n", ts_name, ts_dir);
}

static int ts_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

int ts_finish(int nfailed)
{
    if (nfailed == 0 && ts_dir[0] != '\0')
        nftw(ts_dir, ts_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    else if (ts_dir[0] != '\0')
        fprintf(stderr, "[%s] %d test(s) failed; process logs kept in %s\n", ts_name, nfailed,
                ts_dir);
    return nfailed == 0 ? 0 : 1;
}

/* ---------------- the gateway's operator commands ---------------- */

json_t *ts_gateway_cli(const struct ts_db *db, const char *const args[])
{
    char bin[PATH_MAX], env_db[700], log_path[PATH_MAX + 32], *out = NULL;
    const char *argv[12];
    size_t n = 0;
    int rc;
    json_t *json;

    argv[n++] = ts_binary("gateway/gateway", bin, sizeof bin);
    for (size_t i = 0; args[i] != NULL && n < 11; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    snprintf(env_db, sizeof env_db, "DATABASE_URL=%s", ts_db_url(db, "gateway"));
    snprintf(log_path, sizeof log_path, "%s/gateway-cli.log", ts_tmpdir());
    const char *env[] = {env_db, NULL};
    rc = ts_run_capture(argv, env, log_path, 60000, &out);
    if (rc != 0) {
        char *tail = ts_file_tail(log_path, 4000);
        fprintf(stderr, "gateway %s log:\n%s\n", args[0], tail);
        free(tail);
    }
    ck_assert_msg(rc == 0, "gateway %s exited with %d; stdout: %s", args[0], rc,
                  out ? out : "");
    json = out ? json_loads(out, 0, NULL) : NULL;
    ck_assert_msg(json != NULL, "gateway %s printed no JSON: %s", args[0], out ? out : "");
    free(out);
    return json;
}

void ts_org_create(const struct ts_db *db, const char *name, const char *tier, char *org,
                   size_t org_size, char *key, size_t key_size)
{
    const char *args[] = {"org-create", name, "--tier", tier, NULL};
    json_t *j = ts_gateway_cli(db, args);
    const char *o = json_string_value(json_object_get(j, "orgId"));
    const char *k = json_string_value(json_object_get(j, "apiKey"));
    ck_assert_msg(o != NULL && strncmp(o, "org_", 4) == 0, "orgId missing");
    ck_assert_msg(k != NULL && strncmp(k, "sk_", 3) == 0, "apiKey missing");
    snprintf(org, org_size, "%s", o);
    snprintf(key, key_size, "%s", k);
    json_decref(j);
}

void ts_key_create(const struct ts_db *db, const char *org, const char *scope, char *key,
                   size_t key_size)
{
    const char *args[] = {"key-create", org, "--scope", scope, NULL};
    json_t *j = ts_gateway_cli(db, args);
    const char *k = json_string_value(json_object_get(j, "apiKey"));
    ck_assert_msg(k != NULL && strncmp(k, "sk_", 3) == 0, "apiKey missing");
    snprintf(key, key_size, "%s", k);
    json_decref(j);
}

const char *const ts_contacts_svc_routes[] = {"/v1/contacts?limit=1", "/v1/audiences?limit=1",
                                              "/v1/dnc?limit=1", "/v1/imports?limit=1", NULL};

void ts_wait_gateway_routes(const char *base, const char *key, const char *const paths[],
                            int timeout_ms)
{
    char url[512], auth[300];
    const char *headers[] = {auth, NULL};
    int64_t started = ts_now_ms();
    snprintf(auth, sizeof auth, "x-api-key: %s", key);
    for (size_t i = 0; paths[i] != NULL; i++) {
        snprintf(url, sizeof url, "%s%s", base, paths[i]);
        for (;;) {
            struct ts_http_res res;
            long status = ts_http("GET", url, headers, NULL, 0, &res) == 0 ? res.status : 0;
            ts_http_res_free(&res);
            if (status != 0 && status != 503)
                break;
            ck_assert_msg(ts_now_ms() - started < timeout_ms,
                          "GET %s still answers %ld after %d ms", paths[i], status, timeout_ms);
            usleep(20 * 1000);
        }
    }
}
