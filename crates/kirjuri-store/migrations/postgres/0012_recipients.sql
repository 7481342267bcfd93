-- The recipients register, as SQLite's 0015_recipients.sql (whose comments
-- give the reasoning).
CREATE TABLE recipients (
    id         uuid        NOT NULL PRIMARY KEY,
    name       text        NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    kind       text        NOT NULL CHECK (kind IN ('processor', 'partner', 'authority', 'police')),
    country    text        NOT NULL CHECK (length(country) = 2),
    agreement  text        CHECK (agreement IS NULL OR length(agreement) BETWEEN 1 AND 200),
    purposes   text        NOT NULL,
    created_at timestamptz NOT NULL,
    created_by uuid        NOT NULL,
    removed_at timestamptz
);
