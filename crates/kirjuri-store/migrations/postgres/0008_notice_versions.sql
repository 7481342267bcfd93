-- The privacy notice's published versions, as SQLite's
-- 0011_notice_versions.sql (whose comments give the reasoning); JSON is
-- kept as text, as the requests' is, so both databases return it as
-- written; `significant` is 0 or 1 as in SQLite, so the store copy
-- moves it as an integer.
CREATE TABLE notice_versions (
    version      text        NOT NULL PRIMARY KEY CHECK (length(version) BETWEEN 1 AND 64),
    published_at timestamptz NOT NULL,
    significant  bigint      NOT NULL CHECK (significant IN (0, 1)),
    note         text,
    content      text        NOT NULL
);

CREATE INDEX notice_versions_by_time ON notice_versions (published_at, version);
