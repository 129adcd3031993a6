-- Contacts: one row per (organization, phone number). name and language are NULL when unknown.
CREATE TABLE contacts (
    id           text PRIMARY KEY,
    org_id       text NOT NULL,
    name         text,
    phone_number text NOT NULL,
    language     text,
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contacts_org_phone_key UNIQUE (org_id, phone_number)
);

-- Lists are per organization, newest first, with id as the tie-breaker.
CREATE INDEX contacts_org_created_idx ON contacts (org_id, created_at DESC, id);
