-- Audiences (named groups of contacts) and the do-not-call list.
--
-- contact_count is exact: statement-level triggers on audience_members add and subtract the
-- rows each statement really inserted or deleted, in the same transaction. That covers members
-- added or removed through the API and members that disappear because their contact was
-- deleted (ON DELETE CASCADE below), so contacts.c's Delete needs no audience code.
CREATE TABLE audiences (
    org_id        text COLLATE "C" NOT NULL,
    id            text COLLATE "C" NOT NULL,
    name          text NOT NULL,
    description   text,
    contact_count bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audiences_pkey PRIMARY KEY (org_id, id)
);

-- The primary key serves member lists and keyset pages (audience, contact id); the second
-- index serves the cascade when a contact is deleted.
CREATE TABLE audience_members (
    org_id      text COLLATE "C" NOT NULL,
    audience_id text COLLATE "C" NOT NULL,
    contact_id  text COLLATE "C" NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audience_members_pkey PRIMARY KEY (org_id, audience_id, contact_id),
    CONSTRAINT audience_members_audience_fkey FOREIGN KEY (org_id, audience_id)
        REFERENCES audiences (org_id, id) ON DELETE CASCADE,
    CONSTRAINT audience_members_contact_fkey FOREIGN KEY (org_id, contact_id)
        REFERENCES contacts (org_id, id) ON DELETE CASCADE
);
CREATE INDEX audience_members_contact_idx ON audience_members (org_id, contact_id);

-- The functions keep the migration's search_path (the contacts schema) whoever fires them.
-- Audiences are locked in key order before their counters change, so two statements touching
-- the same audiences (e.g. two contact deletes) cannot deadlock on them.
CREATE FUNCTION audience_members_count_inserted() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM 1 FROM audiences a
     WHERE (a.org_id, a.id) IN (SELECT DISTINCT n.org_id, n.audience_id FROM inserted n)
     ORDER BY a.org_id, a.id FOR NO KEY UPDATE;
    UPDATE audiences a SET contact_count = a.contact_count + d.n
      FROM (SELECT org_id, audience_id, count(*) AS n FROM inserted GROUP BY 1, 2) d
     WHERE a.org_id = d.org_id AND a.id = d.audience_id;
    RETURN NULL;
END $$;

CREATE FUNCTION audience_members_count_deleted() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM 1 FROM audiences a
     WHERE (a.org_id, a.id) IN (SELECT DISTINCT o.org_id, o.audience_id FROM deleted o)
     ORDER BY a.org_id, a.id FOR NO KEY UPDATE;
    UPDATE audiences a SET contact_count = a.contact_count - d.n
      FROM (SELECT org_id, audience_id, count(*) AS n FROM deleted GROUP BY 1, 2) d
     WHERE a.org_id = d.org_id AND a.id = d.audience_id;
    RETURN NULL;
END $$;

CREATE TRIGGER audience_members_inserted AFTER INSERT ON audience_members
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT
    EXECUTE FUNCTION audience_members_count_inserted();
CREATE TRIGGER audience_members_deleted AFTER DELETE ON audience_members
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT
    EXECUTE FUNCTION audience_members_count_deleted();

-- The do-not-call list: one row per (organization, phone number).
CREATE TABLE dnc_entries (
    org_id       text COLLATE "C" NOT NULL,
    id           text COLLATE "C" NOT NULL,
    phone_number text COLLATE "C" NOT NULL,
    reason       text,
    source       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dnc_entries_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT dnc_entries_org_phone_key UNIQUE (org_id, phone_number)
);
