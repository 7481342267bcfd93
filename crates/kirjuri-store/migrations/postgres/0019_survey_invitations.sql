-- Survey invitations, their replies and the last invitation per person, as
-- SQLite's 0022_survey_invitations.sql (whose comments give the reasoning).
CREATE TABLE survey_invitations (
    id                 uuid        NOT NULL PRIMARY KEY,
    service            text        NOT NULL CHECK (length(service) BETWEEN 1 AND 200),
    contact_id         uuid        NOT NULL,
    phone_hash         bytea       NOT NULL CHECK (length(phone_hash) = 32),
    language           text        NOT NULL CHECK (language IN ('fi', 'sv', 'en')),
    outbox_id          uuid        NOT NULL UNIQUE,
    state              text        NOT NULL CHECK (state IN ('scheduled', 'sent', 'cancelled', 'answered')),
    reason             text        CHECK (reason IS NULL OR length(reason) <= 64),
    created_at         timestamptz NOT NULL,
    due_at             timestamptz NOT NULL,
    sent_at            timestamptz,
    answered_at        timestamptz,
    score              bigint      CHECK (score IS NULL OR score BETWEEN 1 AND 5),
    reply_key          bytea,
    reply_sealed       bytea,
    reply_gateway_id   text        UNIQUE CHECK (reply_gateway_id IS NULL OR length(reply_gateway_id) <= 128),
    reply_retain_until timestamptz,
    retain_until       timestamptz NOT NULL,
    CHECK ((reply_key IS NULL) = (reply_sealed IS NULL))
);

CREATE INDEX survey_invitations_by_person ON survey_invitations (phone_hash, state);
CREATE INDEX survey_invitations_by_retention ON survey_invitations (retain_until);

CREATE TABLE survey_recipients (
    phone_hash    bytea       NOT NULL PRIMARY KEY CHECK (length(phone_hash) = 32),
    invitation_id uuid        NOT NULL,
    invited_at    timestamptz NOT NULL
);
