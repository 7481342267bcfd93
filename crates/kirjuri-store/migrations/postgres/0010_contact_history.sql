-- A contact's earlier versions, as SQLite's 0013_contact_history.sql
-- (whose comments give the reasoning).
CREATE TABLE contact_history (
    id              uuid        NOT NULL PRIMARY KEY,
    contact_id      uuid        NOT NULL REFERENCES contacts (id),
    request_id      uuid        NOT NULL,
    changed_at      timestamptz NOT NULL,
    changed_by      uuid        NOT NULL,
    sealed_document bytea       NOT NULL,
    document_key    bytea       NOT NULL,
    changed_fields  text        NOT NULL
);

CREATE INDEX contact_history_by_contact ON contact_history (contact_id, changed_at, id);
