-- webhook-svc: organization endpoints, stored events, one delivery per (event, destination)
-- and a log of every attempt.
--
-- A delivery is 'pending' until it succeeds or runs out of attempts. next_attempt_at is when
-- it is due; a dispatcher claims due rows (FOR UPDATE SKIP LOCKED) and moves next_attempt_at
-- forward by a lease while the request is in flight, so a dispatcher that dies leaves the row
-- due again once the lease runs out: nothing is lost, and replicas share the work.
CREATE TABLE endpoints (
    org_id                     text COLLATE "C" NOT NULL,
    id                         text COLLATE "C" NOT NULL,
    url                        text NOT NULL,
    events                     text[] NOT NULL,
    description                text NOT NULL DEFAULT '',
    enabled                    boolean NOT NULL DEFAULT true,
    disabled_reason            text,
    secret                     text NOT NULL,
    previous_secret            text,     -- signs too until previous_secret_expires_at
    previous_secret_expires_at timestamptz,
    failing_since              timestamptz, -- first failure since the last success
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT endpoints_pkey PRIMARY KEY (org_id, id)
);

-- The secret that signs deliveries to URLs given on objects (an import's webhookUrl).
CREATE TABLE org_secrets (
    org_id     text COLLATE "C" NOT NULL,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT org_secrets_pkey PRIMARY KEY (org_id)
);

-- Events as received from producers; body is the exact JSON that is signed and sent.
CREATE TABLE events (
    id          text COLLATE "C" NOT NULL,
    org_id      text COLLATE "C" NOT NULL,
    event_type  text NOT NULL,
    body        text NOT NULL,
    webhook_url text,
    created_at  timestamptz NOT NULL,           -- the producer's commit
    received_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_pkey PRIMARY KEY (id)
);

CREATE TABLE deliveries (
    id               text COLLATE "C" NOT NULL,
    org_id           text COLLATE "C" NOT NULL,
    event_id         text COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id      text COLLATE "C",           -- NULL: the event's own webhook_url
    url              text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT deliveries_endpoint_fkey FOREIGN KEY (org_id, endpoint_id)
        REFERENCES endpoints (org_id, id) ON DELETE CASCADE
);
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_endpoint_idx ON deliveries (org_id, endpoint_id, created_at);

CREATE TABLE delivery_attempts (
    delivery_id   text COLLATE "C" NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt       integer NOT NULL,
    attempted_at  timestamptz NOT NULL,
    status_code   integer NOT NULL DEFAULT 0,
    latency_ms    integer NOT NULL DEFAULT 0,
    error         text NOT NULL DEFAULT '',
    next_retry_at timestamptz,
    CONSTRAINT delivery_attempts_pkey PRIMARY KEY (delivery_id, attempt)
);
