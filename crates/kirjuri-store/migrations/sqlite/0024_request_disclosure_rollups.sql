-- Anonymous daily roll-ups of data-subject requests and disclosures
-- (STAT-1; issue 15 §1: "data-subject requests answered on time;
-- disclosures counted"). Like contact_rollups and survey_rollups they are
-- written in the transaction that closes a request or approves a
-- disclosure, and the purge, an erasure and a request's own deletion leave
-- them alone, so last year's figures outlive the rows they were taken from.
--
-- Nothing here identifies anyone: no request or disclosure id, no
-- reference, no recipient name, no legal-ground text, no instant finer
-- than a Helsinki day.
--
-- request_rollups: one row per Helsinki day a request was closed × the
-- right it exercised (a request asking for several counts once for each)
-- × how it ended (answered, refused, withdrawn) × whether it closed on or
-- before the due date in force then ('on_time') or after it ('late').
CREATE TABLE request_rollups (
    day          TEXT    NOT NULL CHECK (length(day) = 10),
    request_type TEXT    NOT NULL CHECK (length(request_type) BETWEEN 1 AND 32),
    outcome      TEXT    NOT NULL CHECK (outcome IN ('answered', 'refused', 'withdrawn')),
    timeliness   TEXT    NOT NULL CHECK (timeliness IN ('on_time', 'late')),
    requests     INTEGER NOT NULL CHECK (requests >= 0),
    PRIMARY KEY (day, request_type, outcome, timeliness)
) STRICT, WITHOUT ROWID;

-- disclosure_rollups: one row per Helsinki day a disclosure was approved ×
-- the recipient's kind (processor, partner, authority, police): how many.
-- The legal ground is sealed free text, so it is not a dimension here.
CREATE TABLE disclosure_rollups (
    day            TEXT    NOT NULL CHECK (length(day) = 10),
    recipient_kind TEXT    NOT NULL CHECK (length(recipient_kind) BETWEEN 1 AND 32),
    disclosures    INTEGER NOT NULL CHECK (disclosures >= 0),
    PRIMARY KEY (day, recipient_kind)
) STRICT, WITHOUT ROWID;
