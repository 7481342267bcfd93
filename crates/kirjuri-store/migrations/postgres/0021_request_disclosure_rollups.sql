-- Anonymous daily roll-ups of data-subject requests and disclosures, as
-- SQLite's 0024_request_disclosure_rollups.sql.
CREATE TABLE request_rollups (
    day          text   NOT NULL CHECK (length(day) = 10),
    request_type text   NOT NULL CHECK (length(request_type) BETWEEN 1 AND 32),
    outcome      text   NOT NULL CHECK (outcome IN ('answered', 'refused', 'withdrawn')),
    timeliness   text   NOT NULL CHECK (timeliness IN ('on_time', 'late')),
    requests     bigint NOT NULL CHECK (requests >= 0),
    PRIMARY KEY (day, request_type, outcome, timeliness)
);

CREATE TABLE disclosure_rollups (
    day            text   NOT NULL CHECK (length(day) = 10),
    recipient_kind text   NOT NULL CHECK (length(recipient_kind) BETWEEN 1 AND 32),
    disclosures    bigint NOT NULL CHECK (disclosures >= 0),
    PRIMARY KEY (day, recipient_kind)
);
