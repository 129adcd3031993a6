-- Bulk upserts and imports merge new metadata keys into the stored object, so the per-request
-- limit (16 KiB) alone would let a contact's metadata grow without bound, and with it every
-- reply that carries it. Bound the stored value (as PostgreSQL prints it, hence the slack).
-- contacts-svc maps a violation (SQLSTATE 23514) to a 400 that names the limit.
ALTER TABLE contacts ADD CONSTRAINT contacts_metadata_size
    CHECK (octet_length(metadata::text) <= 32768);
