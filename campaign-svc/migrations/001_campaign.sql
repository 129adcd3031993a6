-- campaign-svc: agents (versioned), caller IDs, campaigns, leads, pacing, the credit ledger and
-- the outbox. Every customer row carries org_id and every key leads with it.

CREATE TABLE agents (
    org_id          text        NOT NULL,
    id              text        NOT NULL COLLATE "C",
    name            text        NOT NULL,
    language        text,
    voice           text,
    first_message   text,
    prompt          text,
    variables       jsonb       NOT NULL DEFAULT '{}',
    runtime_url     text,
    current_version integer     NOT NULL DEFAULT 1,
    deleted_at      timestamptz,             -- soft delete: campaigns keep their pinned version
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);

-- Every change to an agent writes its new version here, so a campaign pinned to version N
-- dials with exactly what N said.
CREATE TABLE agent_versions (
    org_id        text        NOT NULL,
    agent_id      text        NOT NULL COLLATE "C",
    version       integer     NOT NULL,
    name          text        NOT NULL,
    language      text,
    voice         text,
    first_message text,
    prompt        text,
    variables     jsonb       NOT NULL DEFAULT '{}',
    runtime_url   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, agent_id, version)
);

CREATE TABLE phone_numbers (
    org_id       text        NOT NULL,
    id           text        NOT NULL COLLATE "C",
    phone_number text        NOT NULL,
    label        text        NOT NULL DEFAULT '',
    is_default   boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, phone_number)
);
CREATE UNIQUE INDEX phone_numbers_one_default ON phone_numbers (org_id) WHERE is_default;

CREATE TABLE campaigns (
    org_id               text        NOT NULL,
    id                   text        NOT NULL COLLATE "C",
    name                 text        NOT NULL,
    status               text        NOT NULL DEFAULT 'DRAFT',
    status_reason        text,
    agent_id             text        NOT NULL,
    agent_version        integer     NOT NULL DEFAULT 0,  -- 0: the current one at start
    audience_id          text,
    phone_number_id      text,
    from_number          text,                            -- resolved at start
    calls_per_minute     integer     NOT NULL DEFAULT 10,
    max_concurrent_calls integer     NOT NULL DEFAULT 5,
    max_retries          integer     NOT NULL DEFAULT 3,
    retry_delay_minutes  integer     NOT NULL DEFAULT 5,
    call_timeout_minutes integer     NOT NULL DEFAULT 5,
    scheduled_at         timestamptz,
    timezone             text,
    window_start         text,                            -- 'HH:MM' or NULL
    window_end           text,
    weekdays             integer[]   NOT NULL DEFAULT '{}',  -- ISO 1..7, empty = all
    retry_on             text[]      NOT NULL DEFAULT '{no_answer,busy,failed,voicemail,timeout,carrier_error}',
    webhook_url          text,
    respect_contact_local_time boolean NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    started_at           timestamptz,
    completed_at         timestamptz,
    PRIMARY KEY (org_id, id),
    CHECK (status IN ('DRAFT','SCHEDULED','IN_PROGRESS','PAUSED','COMPLETED','CANCELLED','FAILED'))
);
CREATE INDEX campaigns_running ON campaigns (status) WHERE status IN ('SCHEDULED', 'IN_PROGRESS');

-- Pacing and concurrency, one row per running campaign, updated in the Claim transaction:
-- tokens refill at calls_per_minute / 60 per second up to a small burst; in_flight counts the
-- leads leased or in a call and is checked against max_concurrent_calls.
CREATE TABLE pacing (
    org_id       text        NOT NULL,
    campaign_id  text        NOT NULL COLLATE "C",
    tokens       double precision NOT NULL DEFAULT 1,
    refilled_at  timestamptz NOT NULL DEFAULT now(),
    in_flight    integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, campaign_id)
);

CREATE TABLE leads (
    org_id          text        NOT NULL,
    campaign_id     text        NOT NULL COLLATE "C",
    id              text        NOT NULL COLLATE "C",
    contact_id      text,
    phone_number    text        NOT NULL,
    name            text,
    variables       jsonb       NOT NULL DEFAULT '{}',
    contact_tz      text,                 -- the contact's own zone (metadata or country), if known
    status          text        NOT NULL DEFAULT 'PENDING',
    attempts        integer     NOT NULL DEFAULT 0,   -- attempts started (the current one included)
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_owner     text,
    lease_expires_at timestamptz,
    last_outcome    text,
    disposition     text,
    last_call_id    text,
    last_finished_attempt integer NOT NULL DEFAULT 0, -- AttemptFinished idempotency
    -- The current attempt was leased but never finished (lease expired on a paused campaign,
    -- or handed back by ReleaseLeases): the next claim reuses it instead of counting a new one
    -- and flags the lease reclaimed, so the dialer reconciles with its (lead, attempt) call row.
    attempt_open    boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, campaign_id, id),
    CHECK (status IN ('PENDING','QUEUED','IN_PROGRESS','COMPLETED','FAILED','SKIPPED','CANCELLED'))
);
-- One lead per contact per campaign (uploaded leads have no contact).
CREATE UNIQUE INDEX leads_contact ON leads (org_id, campaign_id, contact_id) WHERE contact_id IS NOT NULL;
-- The claim's scan: due pending leads of a campaign, oldest due first.
CREATE INDEX leads_due ON leads (campaign_id, next_attempt_at) WHERE status = 'PENDING';
-- Expired leases: leads held by a worker that died.
CREATE INDEX leads_leased ON leads (lease_expires_at) WHERE status IN ('QUEUED', 'IN_PROGRESS');
CREATE INDEX leads_by_status ON leads (org_id, campaign_id, status);
-- The dialer's RPCs name a lead by id alone (they span organizations).
CREATE UNIQUE INDEX leads_id ON leads (id);

-- The credit ledger, append-only, in minutes: grants and purchases positive, call debits
-- negative. The balance is the sum; balances keeps it per organization for the hot path.
CREATE TABLE credit_ledger (
    org_id      text        NOT NULL,
    id          text        NOT NULL COLLATE "C",
    amount      bigint      NOT NULL,
    reason      text        NOT NULL,        -- opening, grant, purchase, call
    campaign_id text,
    lead_id     text,
    attempt     integer,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);
-- A call attempt is debited once.
CREATE UNIQUE INDEX credit_ledger_attempt ON credit_ledger (org_id, lead_id, attempt) WHERE lead_id IS NOT NULL;
CREATE INDEX credit_ledger_by_time ON credit_ledger (org_id, created_at);

CREATE TABLE credit_balances (
    org_id        text    PRIMARY KEY,
    balance       bigint  NOT NULL DEFAULT 0,
    granted       bigint  NOT NULL DEFAULT 0,
    used          bigint  NOT NULL DEFAULT 0,
    low_notified  boolean NOT NULL DEFAULT false  -- credits.low sent since the last top-up
);

CREATE TABLE outbox (
    id          text        NOT NULL COLLATE "C" PRIMARY KEY,
    org_id      text        NOT NULL,
    event_type  text        NOT NULL,
    payload     jsonb       NOT NULL,
    webhook_url text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
