-- Contacts: one row per (organization, phone number). name and language are NULL when unknown.
-- Ids are time-ordered (lib/ids.h, ids_new_ordered) and compared byte-wise, so the primary
-- key also serves "newest first" lists and bulk inserts append at the right edge of it.
CREATE TABLE contacts (
    org_id       text COLLATE "C" NOT NULL,
    id           text COLLATE "C" NOT NULL,
    name         text,
    phone_number text COLLATE "C" NOT NULL,
    language     text,
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contacts_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT contacts_org_phone_key UNIQUE (org_id, phone_number)
);
