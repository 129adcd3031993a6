-- Contact search is a substring match (name ILIKE '%x%' OR phone_number LIKE '%x%'), which a
-- b-tree cannot serve: every list with a search read all of the organization's contacts.
-- Trigram indexes serve it. pg_trgm ships with PostgreSQL (postgresql-contrib), but only an
-- administrator may create an extension: scripts/provision-db creates it in this schema
-- (idempotently). Where it is missing (an older or managed database), search works as
-- before without the indexes, and re-running provision-db then a later migration can add them.
DO $$
DECLARE
    ext_schema text;
BEGIN
    SELECT n.nspname INTO ext_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    IF ext_schema IS NOT NULL AND has_schema_privilege(ext_schema, 'USAGE') THEN
        EXECUTE format('CREATE INDEX IF NOT EXISTS contacts_name_trgm_idx ON contacts '
                       'USING gin (name %I.gin_trgm_ops)', ext_schema);
        EXECUTE format('CREATE INDEX IF NOT EXISTS contacts_phone_trgm_idx ON contacts '
                       'USING gin (phone_number %I.gin_trgm_ops)', ext_schema);
    ELSE
        RAISE NOTICE 'pg_trgm is not installed where contacts-svc can use it: contact search '
                     'runs without trigram indexes (run scripts/provision-db as an admin)';
    END IF;
END
$$;
