-- Tenant scoping: every row says whose it is, and every key that a producer chooses is
-- scoped by organization.
--
-- delivery_attempts carry org_id (copied from their delivery), so reads of the attempt log
-- filter on it like every other statement of this service.
ALTER TABLE delivery_attempts ADD COLUMN org_id text COLLATE "C";
UPDATE delivery_attempts a SET org_id = d.org_id FROM deliveries d WHERE d.id = a.delivery_id;
ALTER TABLE delivery_attempts ALTER COLUMN org_id SET NOT NULL;

-- An event id is chosen by its producer: keyed by (org_id, id), one organization's event can
-- never be taken for another's (Publish skips an id already stored for the same
-- organization only). Deliveries reference their event through both columns.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_event_id_fkey;
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (org_id, id);
ALTER TABLE deliveries ADD CONSTRAINT deliveries_event_fkey FOREIGN KEY (org_id, event_id)
    REFERENCES events (org_id, id) ON DELETE CASCADE;
