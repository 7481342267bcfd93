-- Anonymous daily roll-ups of contacts (STAT-1; reference §4 L.63; issue
-- 15 §3): how many contacts arrived on a Helsinki calendar day, by channel,
-- service queue and handling-time bucket. Counted at intake, in the same
-- transaction that stores the contact (and only when it is stored, not when
-- a retried delivery finds it already there), so the purge that later
-- deletes the contact leaves last year's statistics intact.
--
-- Nothing here identifies anyone: no contact id, no identifier, no agent,
-- no instant finer than a day. An Art. 17 erasure does not decrement it —
-- the count is anonymous (Recital 26), and a decrement would itself tell
-- whoever compares two reports on which day, channel and service the erased
-- person was in contact.
--
-- `service` is '' for a contact without one (a primary key cannot hold
-- NULL in PostgreSQL). `handling` is a bucket code (see kirjuri-core
-- `statistics::HandlingTime`): 'lt1m', '1to5m', '5to15m', '15to60m',
-- 'ge60m', or 'unknown' when the contact has no end time.
CREATE TABLE contact_rollups (
    day      TEXT    NOT NULL CHECK (length(day) = 10),
    channel  TEXT    NOT NULL CHECK (length(channel) BETWEEN 1 AND 32),
    service  TEXT    NOT NULL CHECK (length(service) <= 200),
    handling TEXT    NOT NULL CHECK (length(handling) BETWEEN 1 AND 16),
    contacts INTEGER NOT NULL CHECK (contacts >= 0),
    PRIMARY KEY (day, channel, service, handling)
) STRICT, WITHOUT ROWID;
