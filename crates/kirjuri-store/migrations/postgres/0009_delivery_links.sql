-- One-time links that deliver an access package to the data subject, as
-- SQLite's 0012_delivery_links.sql (whose comments give the reasoning).
CREATE TABLE delivery_links (
    id              uuid        NOT NULL PRIMARY KEY,
    request_id      uuid        NOT NULL REFERENCES requests (id),
    token_hash      bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    kind            text        NOT NULL CHECK (kind IN ('phone', 'email')),
    address_hash    bytea       NOT NULL,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    created_by      uuid,
    used_at         timestamptz,
    revoked_at      timestamptz,
    code_hash       bytea,
    code_expires_at timestamptz,
    code_tries_left bigint      NOT NULL DEFAULT 0 CHECK (code_tries_left >= 0)
);

CREATE INDEX delivery_links_by_request ON delivery_links (request_id);
