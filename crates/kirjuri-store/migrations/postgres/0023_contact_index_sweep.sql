-- Erased contacts whose blind-index entries are still to be deleted, as
-- SQLite's 0026_contact_index_sweep.sql (whose comments give the
-- reasoning): the purge queues its erased contacts here and
-- `RetentionStore::sweep_erased_index` deletes their entries in large
-- batches. Until swept, an entry of an erased contact is dead to every
-- query that finds contacts through `contact_index`.
CREATE TABLE contact_index_sweep (
    contact_id uuid NOT NULL PRIMARY KEY REFERENCES contacts (id) ON DELETE CASCADE
);
