-- One-time links that deliver an access package to the data subject
-- (issue 12, reference §4 C.19). The token is kept only as its keyed hash
-- (the one-time codes' HMAC key), the address the link's code goes to as
-- its blind-index hash; the code, when one is sent, as its keyed hash
-- with its tries. A link is used once (`used_at`), revoked by a newer
-- link (`revoked_at`), or runs out (`expires_at`).
CREATE TABLE delivery_links (
    id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    request_id      BLOB    NOT NULL REFERENCES requests (id),
    token_hash      BLOB    NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    kind            TEXT    NOT NULL CHECK (kind IN ('phone', 'email')),
    address_hash    BLOB    NOT NULL,
    expires_at      INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    created_by      BLOB    CHECK (created_by IS NULL OR length(created_by) = 16),
    used_at         INTEGER,
    revoked_at      INTEGER,
    code_hash       BLOB,
    code_expires_at INTEGER,
    code_tries_left INTEGER NOT NULL DEFAULT 0 CHECK (code_tries_left >= 0)
) STRICT;

CREATE INDEX delivery_links_by_request ON delivery_links (request_id);
