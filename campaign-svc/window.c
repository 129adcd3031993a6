/* Calling windows in a time zone, and the time zone of a contact. Pure functions over
 * lib/tz.h: nothing here reads the clock, the database or the process TZ. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "campaign.h"
#include "tz.h"

int window_parse_hhmm(const char *text, bool allow_24)
{
    if (text == NULL || strlen(text) != 5 || text[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (text[i] < '0' || text[i] > '9'))
            return -1;
    int h = (text[0] - '0') * 10 + (text[1] - '0'), m = (text[3] - '0') * 10 + (text[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && (!allow_24 || m != 0)))
        return -1;
    return h * 60 + m;
}

int window_init(struct call_window *w, const char *start, const char *end,
                const int32_t *weekdays, size_t n_weekdays, char *err, size_t err_size)
{
    bool has_start = start != NULL && start[0], has_end = end != NULL && end[0];
    w->start_min = w->end_min = -1;
    w->weekdays = 0;
    if (has_start != has_end) {
        snprintf(err, err_size, "windowStart and windowEnd must be given together");
        return -1;
    }
    if (has_start) {
        if ((w->start_min = window_parse_hhmm(start, false)) < 0) {
            snprintf(err, err_size, "windowStart must be HH:MM");
            return -1;
        }
        if ((w->end_min = window_parse_hhmm(end, true)) < 0) {
            snprintf(err, err_size, "windowEnd must be HH:MM");
            return -1;
        }
        if (w->start_min == w->end_min) {
            snprintf(err, err_size, "windowStart and windowEnd must differ");
            return -1;
        }
    }
    for (size_t i = 0; i < n_weekdays; i++) {
        if (weekdays[i] < 1 || weekdays[i] > 7) {
            snprintf(err, err_size, "weekdays must be ISO days 1 (Monday) to 7 (Sunday)");
            return -1;
        }
        w->weekdays |= 1u << weekdays[i];
    }
    return 0;
}

static bool window_minute_open(const struct call_window *w, int minute)
{
    if (w->start_min < 0)
        return true;
    if (w->start_min < w->end_min)
        return minute >= w->start_min && minute < w->end_min;
    return minute >= w->start_min || minute < w->end_min; /* crosses midnight */
}

bool window_open(const struct call_window *w, const struct tz_zone *zone, int64_t t)
{
    struct tz_local l;
    if (w->start_min < 0 && w->weekdays == 0)
        return true;
    if (zone == NULL)
        zone = tz_get("UTC");
    if (zone == NULL) /* no tz database at all: UTC by arithmetic */
        return window_minute_open(w, (int)((t % 86400 + 86400) % 86400 / 60));
    tz_to_local(zone, t, &l);
    if (w->weekdays != 0 && !(w->weekdays & (1u << l.iso_weekday)))
        return false;
    return window_minute_open(w, l.hour * 60 + l.minute);
}

int64_t window_next_open(const struct call_window *w, const struct tz_zone *zone, int64_t t)
{
    const int64_t horizon = t + 8 * 86400;
    if (zone == NULL)
        zone = tz_get("UTC");
    if (zone == NULL)
        return window_open(w, NULL, t) ? t : -1;
    /* Jump from candidate to candidate: today's opening, else the next day's; each landing
     * is checked again, so DST shifts and skipped weekdays just take another step. */
    for (int step = 0; step < 64 && t <= horizon; step++) {
        struct tz_local l;
        if (window_open(w, zone, t))
            return t;
        tz_to_local(zone, t, &l);
        int minute = l.hour * 60 + l.minute;
        bool day_ok = w->weekdays == 0 || (w->weekdays & (1u << l.iso_weekday));
        int64_t next;
        if (day_ok && w->start_min >= 0 && minute < w->start_min) {
            next = tz_from_local(zone, l.year, l.month, l.day, w->start_min / 60,
                                 w->start_min % 60, 0);
        } else {
            int64_t days = tz_days_from_civil(l.year, l.month, l.day) + 1;
            int y, m, d, open = w->start_min < 0 ? 0 : w->start_min;
            tz_civil_from_days(days, &y, &m, &d);
            /* a window crossing midnight is open from 00:00 too: land at midnight first */
            if (w->start_min > w->end_min)
                open = 0;
            next = tz_from_local(zone, y, m, d, open / 60, open % 60, 0);
        }
        t = next > t ? next : t + 60;
    }
    return -1;
}

/* Countries with a single zone, by calling code (longest codes first where they nest). */
static const struct {
    const char *code;
    const char *zone;
} country_zones[] = {
    {"+971", "Asia/Dubai"},     {"+972", "Asia/Jerusalem"},   {"+966", "Asia/Riyadh"},
    {"+974", "Asia/Qatar"},     {"+965", "Asia/Kuwait"},      {"+973", "Asia/Bahrain"},
    {"+968", "Asia/Muscat"},    {"+353", "Europe/Dublin"},    {"+351", "Europe/Lisbon"},
    {"+358", "Europe/Helsinki"},{"+852", "Asia/Hong_Kong"},   {"+886", "Asia/Taipei"},
    {"+880", "Asia/Dhaka"},     {"+977", "Asia/Kathmandu"},   {"+234", "Africa/Lagos"},
    {"+254", "Africa/Nairobi"}, {"+233", "Africa/Accra"},     {"+420", "Europe/Prague"},
    {"+91", "Asia/Kolkata"},    {"+44", "Europe/London"},     {"+33", "Europe/Paris"},
    {"+49", "Europe/Berlin"},   {"+81", "Asia/Tokyo"},        {"+65", "Asia/Singapore"},
    {"+39", "Europe/Rome"},     {"+34", "Europe/Madrid"},     {"+31", "Europe/Amsterdam"},
    {"+32", "Europe/Brussels"}, {"+41", "Europe/Zurich"},     {"+43", "Europe/Vienna"},
    {"+45", "Europe/Copenhagen"},{"+46", "Europe/Stockholm"}, {"+47", "Europe/Oslo"},
    {"+48", "Europe/Warsaw"},   {"+30", "Europe/Athens"},     {"+36", "Europe/Budapest"},
    {"+40", "Europe/Bucharest"},{"+90", "Europe/Istanbul"},   {"+20", "Africa/Cairo"},
    {"+27", "Africa/Johannesburg"}, {"+82", "Asia/Seoul"},    {"+86", "Asia/Shanghai"},
    {"+92", "Asia/Karachi"},    {"+94", "Asia/Colombo"},      {"+60", "Asia/Kuala_Lumpur"},
    {"+63", "Asia/Manila"},     {"+66", "Asia/Bangkok"},      {"+84", "Asia/Ho_Chi_Minh"},
    {"+64", "Pacific/Auckland"},
};

const char *contact_tz_for_number(const char *e164)
{
    if (e164 == NULL || e164[0] != '+')
        return NULL;
    for (size_t i = 0; i < sizeof country_zones / sizeof country_zones[0]; i++)
        if (strncmp(e164, country_zones[i].code, strlen(country_zones[i].code)) == 0)
            return country_zones[i].zone;
    return NULL;
}

const char *contact_tz_for(const char *metadata_json, const char *phone)
{
    /* Most contacts carry no timezone: skip the parse unless the key is there at all. */
    if (metadata_json != NULL && strstr(metadata_json, "\"timezone\"") != NULL) {
        json_t *m = json_loads(metadata_json, 0, NULL);
        const char *name = json_string_value(json_object_get(m, "timezone"));
        const struct tz_zone *zone = name != NULL ? tz_get(name) : NULL;
        json_decref(m);
        if (zone != NULL)
            return tz_name(zone);
    }
    return contact_tz_for_number(phone);
}
