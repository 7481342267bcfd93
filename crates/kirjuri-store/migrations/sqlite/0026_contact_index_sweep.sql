-- Erased contacts whose blind-index entries are still to be deleted (RET-3;
-- issue 16). The purge erases contacts in batches of a few thousand; their
-- entries in `contact_index_by_hash` are scattered by their keyed hashes,
-- so deleting a batch's entries in its own transaction dirtied thousands
-- of index pages per batch, and at a million contacts every page was
-- written to the log some fifty times. Instead the batch queues its
-- contacts here (one row each, in id order) and
-- `RetentionStore::sweep_erased_index` deletes the queued contacts' entries
-- tens of thousands at a time, each page written once per sweep.
--
-- Until swept, an entry of an erased contact (`contacts.erased_at` set) is
-- dead: every query that finds contacts through `contact_index` leaves
-- erased contacts out, and the purge sweeps before it ends. An erasure by
-- request (`erase_contacts`) still deletes its entries at once.
CREATE TABLE contact_index_sweep (
    contact_id BLOB NOT NULL PRIMARY KEY REFERENCES contacts (id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
