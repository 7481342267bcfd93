-- A contact's earlier versions (DSR-4, rectification, GDPR Art. 16): each
-- rectification keeps the document it replaced, still sealed under its own
-- data key (wrapped with the contact's id as associated data, exactly as
-- in `contacts`), with the request that asked for it, who made it, when,
-- and the names (never the values) of the fields it changed. Only a
-- registrar reads it, opened. The purge and the erasure delete a
-- contact's rows together with its index entries, so nothing of an old
-- value outlives the contact.
CREATE TABLE contact_history (
    id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    contact_id      BLOB    NOT NULL REFERENCES contacts (id),
    request_id      BLOB    NOT NULL CHECK (length(request_id) = 16),
    changed_at      INTEGER NOT NULL,
    changed_by      BLOB    NOT NULL CHECK (length(changed_by) = 16),
    sealed_document BLOB    NOT NULL,
    document_key    BLOB    NOT NULL,
    changed_fields  TEXT    NOT NULL
) STRICT;

CREATE INDEX contact_history_by_contact ON contact_history (contact_id, changed_at, id);
