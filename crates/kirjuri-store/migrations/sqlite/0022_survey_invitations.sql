-- Survey invitations and their replies (SURV-1; issue 15 §4). The person is
-- `phone_hash`, the blind-index hash of the caller's number (kind 'phone');
-- the number itself is only in the sealed outbox message that carries the
-- invitation. An invitation is scheduled at intake together with its
-- outbox message (due after the delay and quiet hours) and is checked once
-- more at send time: an objection to surveys or a restriction made since,
-- or another invitation sent to the same person in the period, cancels it.
--
-- A reply's score is kept in the row and counted into `survey_rollups`; its
-- words are personal data, sealed (`reply_key`, `reply_sealed`) and erased
-- by the purge at `reply_retain_until`; the whole row goes at
-- `retain_until`. `reply_gateway_id` is the SMS gateway's id of the reply,
-- unique, so a replayed delivery stores nothing.
CREATE TABLE survey_invitations (
    id                 BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    service            TEXT    NOT NULL CHECK (length(service) BETWEEN 1 AND 200),
    contact_id         BLOB    NOT NULL CHECK (length(contact_id) = 16),
    phone_hash         BLOB    NOT NULL CHECK (length(phone_hash) = 32),
    language           TEXT    NOT NULL CHECK (language IN ('fi', 'sv', 'en')),
    outbox_id          BLOB    NOT NULL UNIQUE CHECK (length(outbox_id) = 16),
    state              TEXT    NOT NULL CHECK (state IN ('scheduled', 'sent', 'cancelled', 'answered')),
    reason             TEXT    CHECK (reason IS NULL OR length(reason) <= 64),
    created_at         INTEGER NOT NULL,
    due_at             INTEGER NOT NULL,
    sent_at            INTEGER,
    answered_at        INTEGER,
    score              INTEGER CHECK (score IS NULL OR score BETWEEN 1 AND 5),
    reply_key          BLOB,
    reply_sealed       BLOB,
    reply_gateway_id   TEXT    UNIQUE CHECK (reply_gateway_id IS NULL OR length(reply_gateway_id) <= 128),
    reply_retain_until INTEGER,
    retain_until       INTEGER NOT NULL,
    CHECK ((reply_key IS NULL) = (reply_sealed IS NULL))
) STRICT;

CREATE INDEX survey_invitations_by_person ON survey_invitations (phone_hash, state);
CREATE INDEX survey_invitations_by_retention ON survey_invitations (retain_until);

-- The last invitation sent to each person: the "once per period" rule is
-- one conditional upsert on this row, atomic on both databases, so two
-- senders cannot both invite the same person in a period.
CREATE TABLE survey_recipients (
    phone_hash    BLOB    NOT NULL PRIMARY KEY CHECK (length(phone_hash) = 32),
    invitation_id BLOB    NOT NULL CHECK (length(invitation_id) = 16),
    invited_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
