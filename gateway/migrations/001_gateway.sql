-- Organizations and their API keys. A key is stored only as the SHA-256 of its text.
CREATE TABLE organizations (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    tier       text NOT NULL DEFAULT 'standard'
               CHECK (tier IN ('standard', 'professional', 'enterprise')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES organizations (id),
    key_hash   bytea NOT NULL UNIQUE,
    key_prefix text NOT NULL,            -- the first characters, to recognise a key in a list
    scope      text NOT NULL DEFAULT 'write' CHECK (scope IN ('read', 'write')),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE INDEX api_keys_org_idx ON api_keys (org_id);
