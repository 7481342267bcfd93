-- The durable outbox: email and SMS waiting to leave, being sent, sent or
-- given up on. The recipient and the body are personal data, so they are
-- sealed by the vault before they arrive (one data key per message, bound
-- to its id): `wrapped_key` and `sealed`. What is in the clear names no
-- one: the channel, a kind tag (`dsr.receipt`, `survey.invite`, …), times,
-- the delivery state, the attempt count and the last error as a short code.
--
-- A message is due when it is queued and `next_attempt_at` has come, or
-- when it is being sent and its claim (`claimed_until`) has run out — its
-- sender died. `attempts` counts claims, so the claim is identified by
-- (`claimed_by`, `attempts`): a worker whose claim was taken over can no
-- longer settle the message.
CREATE TABLE outbox (
    id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    channel         TEXT    NOT NULL CHECK (channel IN ('email', 'sms')),
    kind            TEXT    NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
    wrapped_key     BLOB    NOT NULL,
    sealed          BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT,
    claimed_until   INTEGER,
    settled_at      INTEGER,
    last_error      TEXT    CHECK (last_error IS NULL OR length(last_error) <= 200)
) STRICT;

-- The delivery job's question, "what is due?", reads only unsettled rows.
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX outbox_claimed ON outbox (claimed_until, id) WHERE state = 'sending';
-- The operator's list, newest first.
CREATE INDEX outbox_by_created ON outbox (created_at, id);
