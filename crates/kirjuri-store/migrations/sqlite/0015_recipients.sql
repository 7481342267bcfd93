-- The recipients register (DIS-1; notice §8, §9; issue 13): processors
-- (with their agreement and the purposes they may serve), partners,
-- authorities and police, each with its country, which the application
-- has checked is in the EU/EEA. Organisations, not data subjects: nothing
-- here is personal data. A recipient is never deleted (disclosures will
-- name it); `removed_at` retires it.
CREATE TABLE recipients (
    id         BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    name       TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    kind       TEXT    NOT NULL CHECK (kind IN ('processor', 'partner', 'authority', 'police')),
    country    TEXT    NOT NULL CHECK (length(country) = 2),
    agreement  TEXT    CHECK (agreement IS NULL OR length(agreement) BETWEEN 1 AND 200),
    purposes   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    created_by BLOB    NOT NULL CHECK (length(created_by) = 16),
    removed_at INTEGER
) STRICT;
