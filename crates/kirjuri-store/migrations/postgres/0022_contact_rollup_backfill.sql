-- The contacts the statistics' roll-ups have not counted, as SQLite's
-- 0025_contact_rollup_backfill.sql (whose comments give the reasoning):
-- those created before 0017_contact_rollups was applied to this database.
-- A register copied here by `kirjuri migrate-store` brings its own queue
-- (the copy carries this table); its contacts arrive after this migration
-- ran and are not queued by it.
CREATE TABLE contact_rollup_backfill (
    contact_id uuid NOT NULL PRIMARY KEY
);

INSERT INTO contact_rollup_backfill (contact_id)
SELECT id FROM contacts
WHERE created_at < (SELECT installed_on FROM _sqlx_migrations WHERE version = 17);
