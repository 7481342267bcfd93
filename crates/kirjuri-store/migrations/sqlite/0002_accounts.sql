-- Kirjuri's SQLite schema, version 2: personal accounts (SEC-5, ACC-1).
--
-- * Lockout: consecutive failed logins are counted per account in the
--   database, so every `serve` node and the command line see the same count;
--   `locked_at` is set when the count reaches the configured limit and only an
--   administrator's unlock clears it.
-- * A maintainer's confidentiality-agreement reference (ACC-1) is a document
--   reference, not personal data of a customer.
-- * TOTP secrets are sealed by the vault under a data key of their own, wrapped
--   with the user's id as associated data: a stolen database file yields no
--   second factor. `last_step` is the last RFC 6238 time step accepted, so a
--   code is never accepted twice.
-- * Sessions are stored by the SHA-256 of their 256-bit random secret only;
--   the cookie holds the secret. Timeouts are computed from `created_at`
--   (absolute) and `last_seen_at` (idle) with the configured lengths, so a
--   changed setting applies to sessions already open.

ALTER TABLE users ADD COLUMN confidentiality_agreement TEXT;
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0);
ALTER TABLE users ADD COLUMN locked_at INTEGER;

CREATE TABLE user_totp (
    user_id               BLOB NOT NULL PRIMARY KEY REFERENCES users (id),
    -- The confirmed secret in use at login (both NULL until confirmed).
    wrapped_key           BLOB,
    sealed_secret         BLOB,
    -- An enrolment begun but not yet confirmed with a valid code.
    pending_wrapped_key   BLOB,
    pending_sealed_secret BLOB,
    last_step             INTEGER,
    CHECK ((wrapped_key IS NULL) = (sealed_secret IS NULL)),
    CHECK ((pending_wrapped_key IS NULL) = (pending_sealed_secret IS NULL))
) STRICT;

CREATE TABLE sessions (
    id           BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    secret_hash  BLOB    NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    user_id      BLOB    NOT NULL REFERENCES users (id),
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_at);
CREATE INDEX sessions_by_created ON sessions (created_at);
