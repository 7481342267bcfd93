-- The breach register, as SQLite's 0017_incidents.sql (whose comments give
-- the reasoning). Statement-level triggers refuse UPDATE, DELETE and
-- TRUNCATE, as on the audit tables.
CREATE TABLE incidents (
    id          uuid        NOT NULL PRIMARY KEY,
    detected_at timestamptz NOT NULL,
    aware_at    timestamptz NOT NULL CHECK (aware_at >= detected_at),
    created_at  timestamptz NOT NULL,
    created_by  uuid        NOT NULL
);

CREATE INDEX incidents_by_aware_at ON incidents (aware_at, id);

CREATE TABLE incident_updates (
    id          uuid        NOT NULL PRIMARY KEY,
    incident_id uuid        NOT NULL REFERENCES incidents (id),
    n           bigint      NOT NULL CHECK (n >= 1),
    at          timestamptz NOT NULL,
    by_user     uuid        NOT NULL,
    facts       text        NOT NULL CHECK (length(facts) <= 4096),
    sealed      bytea       NOT NULL,
    wrapped_key bytea       NOT NULL,
    UNIQUE (incident_id, n)
);

CREATE TRIGGER incidents_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON incidents
    FOR EACH STATEMENT EXECUTE FUNCTION kirjuri_refuse_change('the breach register is append-only');

CREATE TRIGGER incident_updates_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON incident_updates
    FOR EACH STATEMENT EXECUTE FUNCTION kirjuri_refuse_change('the breach register is append-only');
