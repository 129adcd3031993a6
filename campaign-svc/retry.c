/* The retry policy: what a finished attempt means for its lead. Pure functions. */
#include <string.h>

#include "campaign.h"
#include "od_names.h"

static const char *const retry_outcomes[] = {
    OUTCOME_COMPLETED, OUTCOME_VOICEMAIL, OUTCOME_BUSY,    OUTCOME_NO_ANSWER,     OUTCOME_FAILED,
    OUTCOME_TIMEOUT,   OUTCOME_CANCELED,  OUTCOME_DNC,     OUTCOME_CARRIER_ERROR,
};

bool retry_outcome_known(const char *outcome)
{
    for (size_t i = 0; i < sizeof retry_outcomes / sizeof retry_outcomes[0]; i++)
        if (strcmp(outcome, retry_outcomes[i]) == 0)
            return true;
    return false;
}

bool retry_on_word_valid(const char *word)
{
    return retry_outcome_known(word) && strcmp(word, OUTCOME_COMPLETED) != 0 &&
           strcmp(word, OUTCOME_DNC) != 0;
}

void retry_decide(const char *outcome, int attempts, int max_retries, int retry_delay_minutes,
                  const char *const *retry_on, size_t n_retry_on, struct retry_decision *out)
{
    bool listed = false;
    out->retry = false;
    out->delay_minutes = 0;
    if (strcmp(outcome, OUTCOME_COMPLETED) == 0) {
        out->lead_status = LEAD_COMPLETED;
        return;
    }
    if (strcmp(outcome, OUTCOME_DNC) == 0) {
        out->lead_status = LEAD_SKIPPED;
        return;
    }
    for (size_t i = 0; i < n_retry_on; i++)
        if (strcmp(retry_on[i], outcome) == 0)
            listed = true;
    if (listed && attempts < max_retries + 1) {
        out->lead_status = LEAD_PENDING;
        out->retry = true;
        out->delay_minutes = retry_delay_minutes;
        return;
    }
    /* A voicemail that will not be retried counts as reached: the message was left. */
    out->lead_status = strcmp(outcome, OUTCOME_VOICEMAIL) == 0 ? LEAD_COMPLETED : LEAD_FAILED;
}
