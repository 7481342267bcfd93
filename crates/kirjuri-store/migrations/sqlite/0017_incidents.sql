-- The breach register (GDPR Art. 33(5); issue 13 §7; reference §4 I.48–50).
--
-- * `incidents` holds what never changes about a breach: its id, when it
--   was detected, when the controller became aware (the 72-hour clock of
--   Art. 33(1) starts there), who recorded it and when.
-- * `incident_updates` holds everything else as entries, the first (`n` =
--   1) written with the incident: an incident is never edited in place;
--   its current view is the fold of its entries in order. `facts` is JSON
--   of the non-personal facts an entry states (the notification decision,
--   approximate numbers, when the authority and the subjects were told);
--   the free text — nature, categories, consequences, measures, reasoning,
--   the authority's reference, reasons for delay — may name people, so it
--   is one JSON document sealed under its own data key, wrapped with the
--   entry's id as associated data, as a request's details are.
--
-- Both tables are append-only: the triggers refuse UPDATE and DELETE (the
-- register is the documentation Art. 33(5) asks for; every entry is also an
-- audit event). `n` is unique per incident, so two updates racing for the
-- same place cannot both be stored.
CREATE TABLE incidents (
    id          BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    detected_at INTEGER NOT NULL,
    aware_at    INTEGER NOT NULL CHECK (aware_at >= detected_at),
    created_at  INTEGER NOT NULL,
    created_by  BLOB    NOT NULL CHECK (length(created_by) = 16)
) STRICT;

CREATE INDEX incidents_by_aware_at ON incidents (aware_at, id);

CREATE TABLE incident_updates (
    id          BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    incident_id BLOB    NOT NULL REFERENCES incidents (id),
    n           INTEGER NOT NULL CHECK (n >= 1),
    at          INTEGER NOT NULL,
    by_user     BLOB    NOT NULL CHECK (length(by_user) = 16),
    facts       TEXT    NOT NULL CHECK (json_valid(facts) AND length(facts) <= 4096),
    sealed      BLOB    NOT NULL,
    wrapped_key BLOB    NOT NULL,
    UNIQUE (incident_id, n)
) STRICT;

CREATE TRIGGER incidents_refuse_update BEFORE UPDATE ON incidents
BEGIN
    SELECT RAISE(ABORT, 'the breach register is append-only');
END;

CREATE TRIGGER incidents_refuse_delete BEFORE DELETE ON incidents
BEGIN
    SELECT RAISE(ABORT, 'the breach register is append-only');
END;

CREATE TRIGGER incident_updates_refuse_update BEFORE UPDATE ON incident_updates
BEGIN
    SELECT RAISE(ABORT, 'the breach register is append-only');
END;

CREATE TRIGGER incident_updates_refuse_delete BEFORE DELETE ON incident_updates
BEGIN
    SELECT RAISE(ABORT, 'the breach register is append-only');
END;
