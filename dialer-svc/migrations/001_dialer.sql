-- dialer-svc: one call row per lead attempt, the carrier's raw callbacks, and the outbox.
--
-- A call row is written BEFORE the carrier is asked (status QUEUED), keyed (lead_id, attempt):
-- a worker that re-claims the attempt of a dead worker finds the row and reconciles with the
-- carrier instead of dialing again. Every later change is driven by the carrier's callbacks
-- (any replica), the sweeps (timeouts, lost callbacks) and the voice agent's outcome report.
--
-- The end of a call has three steps, each recorded so that any replica can resume them:
--   terminal status (completed_at, outcome, finish_due_at: when to stop waiting for the agent's
--   outcome report) -> finalized_at (call.completed / call.failed and contact.updated are in the
--   outbox) -> reported_at (campaign-svc acknowledged AttemptFinished).

CREATE TABLE calls (
    org_id              text        NOT NULL,
    -- Callbacks find a call by id or CallSid without knowing its organization, so the id alone
    -- is the key (ids are random; org-scoped reads filter on org_id as well).
    id                  text        NOT NULL COLLATE "C" PRIMARY KEY,
    lead_id             text        NOT NULL,
    attempt             integer     NOT NULL,
    campaign_id         text        NOT NULL,
    agent_id            text,
    contact_id          text,
    contact_name        text,
    to_number           text        NOT NULL,
    from_number         text,
    call_sid            text,
    status              text        NOT NULL DEFAULT 'QUEUED',
    outcome             text,
    answered_by         text,
    duration_seconds    integer,
    disposition         text,
    summary             text,
    transcript          text,
    recording_url       text,
    variables           jsonb       NOT NULL DEFAULT '{}',  -- the lead's, sent in the TwiML
    outcome_variables   jsonb,                              -- the agent's report
    outcome_at          timestamptz,
    runtime_url         text,
    first_message       text,
    outcome_token_hash  text,       -- hex SHA-256 of the token given in the TwiML
    error               text,
    worker_id           text,       -- the replica that placed (or adopted) the call
    worker_lease_until  timestamptz, -- while set and future, that worker may be creating the call
    attempt_started     boolean     NOT NULL DEFAULT false, -- AttemptStarted was sent
    call_timeout_seconds integer    NOT NULL,
    timeout_at          timestamptz,
    last_event_at       timestamptz,
    check_after         timestamptz, -- lost-callback sweep: not before
    finish_due_at       timestamptz,
    finalized_at        timestamptz,
    reported_at         timestamptz,
    report_after        timestamptz, -- report retries: not before
    started_at          timestamptz,
    answered_at         timestamptz,
    completed_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT calls_lead_attempt UNIQUE (lead_id, attempt)
);

CREATE UNIQUE INDEX calls_call_sid ON calls (call_sid) WHERE call_sid IS NOT NULL;
CREATE INDEX calls_org_created ON calls (org_id, created_at DESC, id);
CREATE INDEX calls_org_campaign ON calls (org_id, campaign_id, created_at DESC, id);
-- the sweeps and capacity accounting look only at calls that have not been reported yet
CREATE INDEX calls_open ON calls (timeout_at) WHERE reported_at IS NULL;
CREATE INDEX calls_worker_open ON calls (worker_id) WHERE reported_at IS NULL;

-- Raw carrier callbacks, for audit (the call row holds the state they produced).
CREATE TABLE carrier_events (
    id          bigserial   PRIMARY KEY,
    org_id      text,                 -- NULL when the callback matched no call
    call_id     text,
    call_sid    text,
    kind        text        NOT NULL, -- 'status', 'twiml'
    status      text,
    params      jsonb       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX carrier_events_call ON carrier_events (call_id, id);

CREATE TABLE outbox (
    id          text        NOT NULL COLLATE "C" PRIMARY KEY,
    org_id      text        NOT NULL,
    event_type  text        NOT NULL,
    payload     jsonb       NOT NULL,
    webhook_url text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
