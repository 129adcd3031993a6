/* TZif reader and POSIX TZ rules (RFC 8536). See tz.h. */
#include "tz.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_FILE_MAX (1 << 20)  /* the largest real TZif file is a few KB */
#define TZ_CACHE_MAX 1024      /* the database has about 600 names */

/* One side of a POSIX rule: when DST starts or ends in a year. */
struct tz_rule_date {
    char kind;      /* 'J' (1..365, Feb 29 never counted), 'D' (0..365), 'M' (month.week.day) */
    int day;        /* J/D: the day; M: weekday 0 (Sunday)..6 */
    int week;       /* M: 1..5 (5 = last) */
    int month;      /* M: 1..12 */
    int32_t time;   /* seconds after local midnight (may be negative or past 24 h) */
};

struct tz_posix {
    int32_t std_offset;   /* seconds east of UTC */
    int32_t dst_offset;
    bool has_dst;
    struct tz_rule_date start, end;
};

struct tz_zone {
    char name[TZ_NAME_MAX + 1];
    size_t ntrans;
    int64_t *trans;       /* transition instants, ascending */
    uint8_t *trans_type;  /* index into types for each transition */
    size_t ntypes;
    int32_t *types;       /* utc offsets */
    bool has_footer;
    struct tz_posix footer;
};

/* ---------------- calendar ---------------- */

int64_t tz_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t z, int *year, int *month, int *day)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = (int)(y + (m <= 2));
    *month = m;
    *day = d;
}

static int64_t tz_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static bool tz_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int tz_month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && tz_leap(y) ? 29 : days[m - 1];
}

/* 0 Sunday .. 6 Saturday of a day number (1970-01-01 was a Thursday). */
static int tz_weekday0(int64_t days) { return (int)(((days % 7) + 7 + 4) % 7); }

/* ---------------- POSIX TZ rules ---------------- */

/* "<+0530>" or "IST": skips a zone abbreviation. */
static const char *tz_posix_name(const char *p)
{
    if (*p == '<') {
        const char *q = strchr(p, '>');
        return q != NULL && q > p + 1 ? q + 1 : NULL;
    }
    const char *start = p;
    while (isalpha((unsigned char)*p))
        p++;
    return p - start >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]]; max_hours bounds hh. */
static const char *tz_posix_hms(const char *p, int max_hours, int32_t *out)
{
    int sign = 1, h = 0, m = 0, s = 0, n = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*p))
        return NULL;
    while (isdigit((unsigned char)*p) && n++ < 3)
        h = h * 10 + (*p++ - '0');
    if (h > max_hours)
        return NULL;
    if (*p == ':') {
        p++;
        if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
            return NULL;
        m = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
        if (*p == ':') {
            p++;
            if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
                return NULL;
            s = (p[0] - '0') * 10 + (p[1] - '0');
            p += 2;
        }
    }
    if (m > 59 || s > 59)
        return NULL;
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *tz_posix_int(const char *p, int lo, int hi, int *out)
{
    int v = 0, n = 0;
    while (isdigit((unsigned char)*p) && n < 4) {
        v = v * 10 + (*p++ - '0');
        n++;
    }
    if (n == 0 || v < lo || v > hi)
        return NULL;
    *out = v;
    return p;
}

static const char *tz_posix_date(const char *p, struct tz_rule_date *r)
{
    r->time = 2 * 3600;
    if (*p == 'M') {
        r->kind = 'M';
        if ((p = tz_posix_int(p + 1, 1, 12, &r->month)) == NULL || *p++ != '.' ||
            (p = tz_posix_int(p, 1, 5, &r->week)) == NULL || *p++ != '.' ||
            (p = tz_posix_int(p, 0, 6, &r->day)) == NULL)
            return NULL;
    } else if (*p == 'J') {
        r->kind = 'J';
        if ((p = tz_posix_int(p + 1, 1, 365, &r->day)) == NULL)
            return NULL;
    } else {
        r->kind = 'D';
        if ((p = tz_posix_int(p, 0, 365, &r->day)) == NULL)
            return NULL;
    }
    if (*p == '/' && (p = tz_posix_hms(p + 1, 167, &r->time)) == NULL)
        return NULL;
    return p;
}

static int tz_posix_parse(const char *s, struct tz_posix *out)
{
    const char *p = s;
    int32_t off;
    memset(out, 0, sizeof *out);
    if ((p = tz_posix_name(p)) == NULL || (p = tz_posix_hms(p, 24, &off)) == NULL)
        return -1;
    out->std_offset = -off; /* POSIX offsets are west of Greenwich */
    if (*p == '\0')
        return 0;
    if ((p = tz_posix_name(p)) == NULL)
        return -1;
    out->has_dst = true;
    out->dst_offset = out->std_offset + 3600;
    if (*p != ',' && *p != '\0') {
        if ((p = tz_posix_hms(p, 24, &off)) == NULL)
            return -1;
        out->dst_offset = -off;
    }
    if (*p == '\0') { /* no rule: the US rule POSIX implies */
        out->start = (struct tz_rule_date){'M', 0, 2, 3, 7200};
        out->end = (struct tz_rule_date){'M', 0, 1, 11, 7200};
        return 0;
    }
    if (*p++ != ',' || (p = tz_posix_date(p, &out->start)) == NULL || *p++ != ',' ||
        (p = tz_posix_date(p, &out->end)) == NULL || *p != '\0')
        return -1;
    return 0;
}

/* Local seconds since the epoch (as if local time were UTC) at which a rule fires in year. */
static int64_t tz_rule_local(const struct tz_rule_date *r, int year)
{
    int64_t days;
    if (r->kind == 'J') {
        days = tz_days_from_civil(year, 1, 1) + r->day - 1;
        if (tz_leap(year) && r->day >= 60)
            days++;
    } else if (r->kind == 'D') {
        days = tz_days_from_civil(year, 1, 1) + r->day;
    } else {
        int64_t first = tz_days_from_civil(year, r->month, 1);
        int d = 1 + (r->day - tz_weekday0(first) + 7) % 7 + 7 * (r->week - 1);
        while (d > tz_month_days(year, r->month))
            d -= 7;
        days = first + d - 1;
    }
    return days * 86400 + r->time;
}

static int32_t tz_posix_offset(const struct tz_posix *z, int64_t t)
{
    if (!z->has_dst)
        return z->std_offset;
    int year, month, day;
    tz_civil_from_days(tz_floor_div(t + z->std_offset, 86400), &year, &month, &day);
    /* the start rule is given in standard time, the end rule in daylight time */
    int64_t start = tz_rule_local(&z->start, year) - z->std_offset;
    int64_t end = tz_rule_local(&z->end, year) - z->dst_offset;
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? z->dst_offset : z->std_offset;
}

/* ---------------- TZif files ---------------- */

static uint32_t tz_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t tz_be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)tz_be32(p) << 32 | tz_be32(p + 4));
}

struct tz_counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static int tz_header(const unsigned char *p, size_t len, struct tz_counts *c, char *version)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return -1;
    *version = (char)p[4];
    c->isut = tz_be32(p + 20);
    c->isstd = tz_be32(p + 24);
    c->leap = tz_be32(p + 28);
    c->time = tz_be32(p + 32);
    c->type = tz_be32(p + 36);
    c->chars = tz_be32(p + 40);
    if (c->type == 0 || c->type > 256 || c->time > 100000 || c->chars > 100000 ||
        c->leap > 100000 || c->isut > 256 || c->isstd > 256)
        return -1;
    return 0;
}

static size_t tz_block_len(const struct tz_counts *c, int tsize)
{
    return (size_t)c->time * (tsize + 1) + (size_t)c->type * 6 + c->chars +
           (size_t)c->leap * (tsize + 4) + c->isstd + c->isut;
}

/* Parses one data block at p (after its header) with tsize-byte times. */
static int tz_block(struct tz_zone *z, const unsigned char *p, const struct tz_counts *c,
                    int tsize)
{
    z->ntrans = c->time;
    z->ntypes = c->type;
    z->trans = calloc(c->time + 1, sizeof *z->trans);
    z->trans_type = calloc(c->time + 1, 1);
    z->types = calloc(c->type, sizeof *z->types);
    if (z->trans == NULL || z->trans_type == NULL || z->types == NULL)
        return -1;
    for (uint32_t i = 0; i < c->time; i++) {
        z->trans[i] = tsize == 8 ? tz_be64(p + (size_t)i * 8) : (int32_t)tz_be32(p + (size_t)i * 4);
        if (i > 0 && z->trans[i] <= z->trans[i - 1])
            return -1;
    }
    p += (size_t)c->time * tsize;
    for (uint32_t i = 0; i < c->time; i++) {
        if (p[i] >= c->type)
            return -1;
        z->trans_type[i] = p[i];
    }
    p += c->time;
    for (uint32_t i = 0; i < c->type; i++)
        z->types[i] = (int32_t)tz_be32(p + (size_t)i * 6);
    return 0;
}

static void tz_zone_free(struct tz_zone *z)
{
    if (z == NULL)
        return;
    free(z->trans);
    free(z->trans_type);
    free(z->types);
    free(z);
}

void tz_free(struct tz_zone *zone) { tz_zone_free(zone); }

static struct tz_zone *tz_parse(const char *name, const unsigned char *data, size_t len)
{
    struct tz_counts c;
    char version;
    struct tz_zone *z = calloc(1, sizeof *z);
    if (z == NULL || tz_header(data, len, &c, &version) != 0)
        goto fail;
    snprintf(z->name, sizeof z->name, "%s", name);
    size_t v1 = 44 + tz_block_len(&c, 4);
    if (v1 > len)
        goto fail;
    if (version < '2') {
        if (tz_block(z, data + 44, &c, 4) != 0)
            goto fail;
        return z;
    }
    const unsigned char *h2 = data + v1;
    if (tz_header(h2, len - v1, &c, &version) != 0)
        goto fail;
    size_t v2 = 44 + tz_block_len(&c, 8);
    if (v2 > len - v1 || tz_block(z, h2 + 44, &c, 8) != 0)
        goto fail;
    /* The footer: "\n<POSIX TZ>\n". */
    const char *f = (const char *)h2 + v2, *end = (const char *)data + len;
    if (f < end && *f == '\n') {
        const char *nl = memchr(f + 1, '\n', (size_t)(end - f - 1));
        if (nl != NULL && nl > f + 1 && nl - f < 128) {
            char rule[128];
            memcpy(rule, f + 1, (size_t)(nl - f - 1));
            rule[nl - f - 1] = '\0';
            if (tz_posix_parse(rule, &z->footer) == 0)
                z->has_footer = true;
        }
    }
    return z;
fail:
    tz_zone_free(z);
    return NULL;
}

struct tz_zone *tz_from_posix(const char *rule)
{
    struct tz_zone *z = calloc(1, sizeof *z);
    if (z == NULL)
        return NULL;
    if (tz_posix_parse(rule, &z->footer) != 0) {
        free(z);
        return NULL;
    }
    snprintf(z->name, sizeof z->name, "%s", rule);
    z->has_footer = true;
    return z;
}

/* Letters, digits, '/', '_', '-', '+'; no empty path part, no "." or ".." part. Not the
 * "posix/" and "right/" copies of the database (nor "posixrules", "localtime"): they are not
 * IANA names ("right/" even counts leap seconds), and with them the database has some 1,800
 * loadable names, enough for one caller to fill the cache (TZ_CACHE_MAX) with aliases so
 * that every zone not loaded yet fails, for every organization. */
static bool tz_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > TZ_NAME_MAX || name[0] == '/' || name[len - 1] == '/')
        return false;
    if (strncmp(name, "posix/", 6) == 0 || strncmp(name, "right/", 6) == 0 ||
        strcmp(name, "posix") == 0 || strcmp(name, "right") == 0 ||
        strcmp(name, "posixrules") == 0 || strcmp(name, "localtime") == 0)
        return false;
    for (const char *p = name; *p; p++) {
        if (!(isalnum((unsigned char)*p) || *p == '/' || *p == '_' || *p == '-' || *p == '+'))
            return false;
        if (*p == '/' && p[1] == '/')
            return false;
    }
    return true;
}

static struct tz_zone *tz_load(const char *name)
{
    const char *dir = getenv("TZDIR");
    char path[512];
    unsigned char *data = NULL;
    size_t len = 0;
    struct tz_zone *z = NULL;
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir != NULL && dir[0] ? dir : "/usr/share/zoneinfo",
             name);
    if ((f = fopen(path, "rb")) == NULL)
        return NULL;
    if ((data = malloc(TZ_FILE_MAX)) != NULL)
        len = fread(data, 1, TZ_FILE_MAX, f);
    fclose(f);
    if (data != NULL && len > 0 && len < TZ_FILE_MAX)
        z = tz_parse(name, data, len);
    free(data);
    return z;
}

/* ---------------- the cache ---------------- */

static pthread_mutex_t tz_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz_zone *tz_cache[TZ_CACHE_MAX];
static size_t tz_cache_count;

const struct tz_zone *tz_get(const char *name)
{
    struct tz_zone *z = NULL;
    if (name == NULL || !tz_name_ok(name))
        return NULL;
    pthread_mutex_lock(&tz_cache_lock);
    for (size_t i = 0; i < tz_cache_count; i++)
        if (strcmp(tz_cache[i]->name, name) == 0) {
            z = tz_cache[i];
            break;
        }
    if (z == NULL && (z = tz_load(name)) != NULL) {
        if (tz_cache_count < TZ_CACHE_MAX) {
            tz_cache[tz_cache_count++] = z;
        } else {
            tz_zone_free(z); /* only junk names could fill it: refuse rather than grow */
            z = NULL;
        }
    }
    pthread_mutex_unlock(&tz_cache_lock);
    return z;
}

const char *tz_name(const struct tz_zone *zone) { return zone->name; }

void tz_cache_clear(void)
{
    pthread_mutex_lock(&tz_cache_lock);
    for (size_t i = 0; i < tz_cache_count; i++)
        tz_zone_free(tz_cache[i]);
    tz_cache_count = 0;
    pthread_mutex_unlock(&tz_cache_lock);
}

/* ---------------- conversions ---------------- */

int32_t tz_offset(const struct tz_zone *z, int64_t t)
{
    if (z->ntrans == 0)
        return z->has_footer ? tz_posix_offset(&z->footer, t) : z->types[0];
    if (t < z->trans[0])
        return z->types[0];
    if (t >= z->trans[z->ntrans - 1] && z->has_footer)
        return tz_posix_offset(&z->footer, t);
    size_t lo = 0, hi = z->ntrans; /* the last transition <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->types[z->trans_type[lo]];
}

void tz_to_local(const struct tz_zone *zone, int64_t t, struct tz_local *out)
{
    int32_t off = tz_offset(zone, t);
    int64_t local = t + off;
    int64_t days = tz_floor_div(local, 86400);
    int64_t secs = local - days * 86400;
    tz_civil_from_days(days, &out->year, &out->month, &out->day);
    out->hour = (int)(secs / 3600);
    out->minute = (int)(secs / 60 % 60);
    out->second = (int)(secs % 60);
    out->iso_weekday = (int)(((days % 7) + 7 + 3) % 7) + 1;
    out->utc_offset = off;
}

int64_t tz_from_local(const struct tz_zone *zone, int year, int month, int day, int hour,
                      int minute, int second)
{
    int64_t local = tz_days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                    second;
    /* Try the offsets in force a day either side: the one that maps back to itself wins
     * (the earlier instant in an overlap); in a gap, use the offset before it. */
    int32_t before = tz_offset(zone, local - 86400), after = tz_offset(zone, local + 86400);
    int64_t t1 = local - before, t2 = local - after;
    bool ok1 = tz_offset(zone, t1) == before, ok2 = tz_offset(zone, t2) == after;
    if (ok1 && ok2)
        return t1 < t2 ? t1 : t2;
    if (ok1)
        return t1;
    if (ok2)
        return t2;
    return local - before;
}
