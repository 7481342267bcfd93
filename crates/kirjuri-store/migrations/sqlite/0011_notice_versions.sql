-- The privacy notice's published versions (NOT-1; issue 13): a version is
-- the digest of the register's description and the retention rules in
-- force; `content` is the notice as rendered in every language (JSON), so
-- an older version reads as it was published; `note` the operator's word
-- on what changed (JSON, one text per language). Nothing personal.
CREATE TABLE notice_versions (
    version      TEXT    NOT NULL PRIMARY KEY CHECK (length(version) BETWEEN 1 AND 64),
    published_at INTEGER NOT NULL,
    significant  INTEGER NOT NULL CHECK (significant IN (0, 1)),
    note         TEXT    CHECK (note IS NULL OR json_valid(note)),
    content      TEXT    NOT NULL CHECK (json_valid(content))
) STRICT;

CREATE INDEX notice_versions_by_time ON notice_versions (published_at, version);
