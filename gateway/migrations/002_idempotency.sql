-- Idempotency-Key on POST (gateway/idempotency.c): one row per (organization, key). The row is
-- inserted, in progress (status 0), before the request runs, so a concurrent request with the
-- same key finds it and waits; when the request ends its answer (status and body) is stored
-- and replayed for 24 hours to the same key with the same request (request_hash).
CREATE TABLE idempotency_keys (
    org_id        text NOT NULL,
    key           text NOT NULL,
    request_hash  text NOT NULL,             -- SHA-256 (hex) of method, path and body
    status        integer NOT NULL DEFAULT 0, -- 0 while the first request runs, then its HTTP status
    content_type  text,                      -- NULL: application/json
    response_body text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    PRIMARY KEY (org_id, key)
);

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
