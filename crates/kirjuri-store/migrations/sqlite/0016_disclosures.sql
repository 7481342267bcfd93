-- Disclosures to recipients (DIS-2; notice §8; issue 13 §5; reference §4
-- F.33, F.35). A disclosure names a recipient of the register, the data
-- categories it releases and its scope (the contacts, one row each in
-- `disclosure_contacts`); its legal ground, the recipient's case or
-- reference number, a note and a refusal's reason are one sealed document
-- (a police case number can itself tell about a person), opened only by
-- the application. It is requested by one person and approved or refused
-- by another (`decided_by` differs from `requested_by`: the four eyes are
-- the application's rule and this CHECK's). Nothing is deleted: the rows
-- are the disclosure ledger an erasure's Art. 19 follow-up reads.
CREATE TABLE disclosures (
    id           BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    recipient_id BLOB    NOT NULL REFERENCES recipients (id),
    state        TEXT    NOT NULL
                 CHECK (state IN ('awaiting_approval', 'approved', 'refused')),
    categories   TEXT    NOT NULL,
    sealed       BLOB    NOT NULL,
    wrapped_key  BLOB    NOT NULL,
    n_contacts   INTEGER NOT NULL CHECK (n_contacts > 0),
    requested_at INTEGER NOT NULL,
    requested_by BLOB    NOT NULL CHECK (length(requested_by) = 16),
    decided_at   INTEGER,
    decided_by   BLOB    CHECK (decided_by IS NULL OR decided_by <> requested_by)
) STRICT;

CREATE INDEX disclosures_by_state ON disclosures (state, requested_at);

-- The contacts a disclosure covers. No reference to `contacts`: an erased
-- contact keeps its row, but the ledger must outlive whatever happens to
-- the contact's.
CREATE TABLE disclosure_contacts (
    disclosure_id BLOB NOT NULL REFERENCES disclosures (id),
    contact_id    BLOB NOT NULL CHECK (length(contact_id) = 16),
    PRIMARY KEY (disclosure_id, contact_id)
) STRICT;

CREATE INDEX disclosure_contacts_by_contact ON disclosure_contacts (contact_id);

-- One-time links that hand an approved disclosure's package to its
-- recipient: the token kept only as its keyed hash, used once (`used_at`),
-- revoked by a newer link (`revoked_at`), or run out (`expires_at`).
CREATE TABLE disclosure_links (
    id            BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    disclosure_id BLOB    NOT NULL REFERENCES disclosures (id),
    token_hash    BLOB    NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    expires_at    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    created_by    BLOB    NOT NULL CHECK (length(created_by) = 16),
    used_at       INTEGER,
    revoked_at    INTEGER
) STRICT;

CREATE INDEX disclosure_links_by_disclosure ON disclosure_links (disclosure_id);
