-- What data subjects have forbidden (DSR-4; issue 12): a restriction of
-- processing (GDPR Art. 18, `purpose` NULL) or an objection to one purpose
-- (Art. 21). A limit names its subject by the blind-index hashes of the
-- request's proven identifiers, not by contact ids, so a contact delivered
-- later by the same phone or email is bound too. It outlives the request's
-- own record (DSR retention deletes that; an objection stands): the
-- request is kept by id, without a foreign key. `lifted_at` may lie in the
-- future: a restriction's lifting takes effect after the subject was told
-- (Art. 18(3)).
CREATE TABLE subject_limits (
    id         BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    request_id BLOB    NOT NULL CHECK (length(request_id) = 16),
    kind       TEXT    NOT NULL CHECK (kind IN ('restriction', 'objection')),
    purpose    TEXT    CHECK ((kind = 'restriction') = (purpose IS NULL)),
    created_at INTEGER NOT NULL,
    created_by BLOB    NOT NULL CHECK (length(created_by) = 16),
    lifted_at  INTEGER,
    lifted_by  BLOB    CHECK (lifted_by IS NULL OR length(lifted_by) = 16),
    CHECK ((lifted_at IS NULL) = (lifted_by IS NULL))
) STRICT;

CREATE INDEX subject_limits_by_request ON subject_limits (request_id);

CREATE TABLE subject_limit_identifiers (
    limit_id BLOB NOT NULL REFERENCES subject_limits (id) ON DELETE CASCADE,
    kind     TEXT NOT NULL CHECK (length(kind) > 0),
    hash     BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (limit_id, kind, hash)
) STRICT, WITHOUT ROWID;

CREATE INDEX subject_limit_identifiers_by_hash ON subject_limit_identifiers (kind, hash);
