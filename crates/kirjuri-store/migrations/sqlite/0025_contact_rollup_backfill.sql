-- The contacts the statistics' roll-ups have not counted (STAT-1; issue
-- 15): those stored before 0020_contact_rollups, since when intake counts
-- each contact in the transaction that stores it. The application counts
-- them in batches (`StatisticsStore::backfill_contact_rollups`): one
-- transaction deletes a batch of ids from here, adds exactly the deleted
-- ones to `contact_rollups` and commits — so a contact leaves this queue
-- exactly when it is counted, a crash loses or repeats nothing, and of two
-- processes taking the same id only the one whose delete found it counts
-- it. Intake never writes here: a new contact is counted at once.
--
-- Which contacts were stored before 0020: those created before 0020 was
-- applied to this database (its `_sqlx_migrations.installed_on`, second
-- precision, in UTC like `created_at`'s microseconds). On a database
-- migrated from scratch both run now, and every contact there is
-- queued — as it should, none having been counted.
CREATE TABLE contact_rollup_backfill (
    contact_id BLOB NOT NULL PRIMARY KEY CHECK (length(contact_id) = 16)
) STRICT, WITHOUT ROWID;

INSERT INTO contact_rollup_backfill (contact_id)
SELECT id FROM contacts
WHERE created_at < (
    SELECT CAST(strftime('%s', installed_on) AS INTEGER) * 1000000
    FROM _sqlx_migrations WHERE version = 20
);
