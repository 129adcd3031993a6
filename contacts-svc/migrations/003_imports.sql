-- Asynchronous imports (contacts-svc/imports.c) and the service's event outbox (lib/outbox.h).
--
-- An import's rows are stored with it at submit, in one transaction; a worker claims an open
-- import (FOR UPDATE SKIP LOCKED, one chunk per transaction), upserts the next chunk of rows,
-- deletes them from import_rows, records their row errors and adds their counts to the
-- import, all in that transaction. So progress is exactly what committed: a worker killed
-- mid-chunk leaves the chunk to be done again, whole, by the next worker.
CREATE TABLE imports (
    org_id       text COLLATE "C" NOT NULL,
    id           text COLLATE "C" NOT NULL,
    status       text NOT NULL DEFAULT 'PENDING'
                 CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED',
                                   'COMPLETED_WITH_ERRORS', 'FAILED')),
    total        integer NOT NULL CHECK (total >= 0),
    processed    integer NOT NULL DEFAULT 0, -- rows [0, processed) are done
    created      integer NOT NULL DEFAULT 0,
    updated      integer NOT NULL DEFAULT 0,
    failed       integer NOT NULL DEFAULT 0,
    audience_id  text COLLATE "C",
    webhook_url  text,
    attempts     integer NOT NULL DEFAULT 0, -- consecutive failed chunk transactions
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    CONSTRAINT imports_pkey PRIMARY KEY (org_id, id)
);
-- Workers look for open imports, oldest first.
CREATE INDEX imports_open_idx ON imports (created_at, id)
    WHERE status IN ('PENDING', 'PROCESSING');

-- Rows not yet processed. contact_id is the id the contact gets if it is new (time-ordered,
-- drawn at submit). invalid_reason is set for rows that failed validation at submit.
CREATE TABLE import_rows (
    org_id         text COLLATE "C" NOT NULL,
    import_id      text COLLATE "C" NOT NULL,
    idx            integer NOT NULL,
    contact_id     text COLLATE "C" NOT NULL,
    name           text,
    phone_number   text COLLATE "C",
    language       text,
    metadata       jsonb,
    invalid_reason text,
    CONSTRAINT import_rows_pkey PRIMARY KEY (org_id, import_id, idx)
);

CREATE TABLE import_errors (
    org_id       text COLLATE "C" NOT NULL,
    import_id    text COLLATE "C" NOT NULL,
    idx          integer NOT NULL,
    phone_number text NOT NULL DEFAULT '',
    reason       text NOT NULL,
    CONSTRAINT import_errors_pkey PRIMARY KEY (org_id, import_id, idx)
);

-- Events written in the transaction of the change they describe; a relay (later) hands them
-- to webhook-svc and deletes each one when it is acknowledged.
CREATE TABLE outbox (
    id          text COLLATE "C" NOT NULL,
    org_id      text COLLATE "C" NOT NULL,
    event_type  text NOT NULL,
    payload     jsonb NOT NULL,
    webhook_url text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outbox_pkey PRIMARY KEY (id)
);
