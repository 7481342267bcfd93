-- Anonymous daily roll-ups of contacts, as SQLite's 0020_contact_rollups.sql
-- (whose comments give the reasoning). `day` is the Helsinki date as
-- 'YYYY-MM-DD' text, as in SQLite, so the copy between backends moves it
-- unchanged and it sorts as a date.
CREATE TABLE contact_rollups (
    day      text   NOT NULL CHECK (length(day) = 10),
    channel  text   NOT NULL CHECK (length(channel) BETWEEN 1 AND 32),
    service  text   NOT NULL CHECK (length(service) <= 200),
    handling text   NOT NULL CHECK (length(handling) BETWEEN 1 AND 16),
    contacts bigint NOT NULL CHECK (contacts >= 0),
    PRIMARY KEY (day, channel, service, handling)
);
