-- Anonymous daily roll-ups of surveys (STAT-1; issue 15 §1): per Helsinki
-- day an invitation was sent and service, how many were sent, how many
-- were answered and how many gave each score. Counted in the transactions
-- that send and answer, so they outlive the invitations the purge deletes;
-- nothing here identifies anyone.
CREATE TABLE survey_rollups (
    day      TEXT    NOT NULL CHECK (length(day) = 10),
    service  TEXT    NOT NULL CHECK (length(service) BETWEEN 1 AND 200),
    invited  INTEGER NOT NULL DEFAULT 0 CHECK (invited >= 0),
    answered INTEGER NOT NULL DEFAULT 0 CHECK (answered >= 0),
    score_1  INTEGER NOT NULL DEFAULT 0 CHECK (score_1 >= 0),
    score_2  INTEGER NOT NULL DEFAULT 0 CHECK (score_2 >= 0),
    score_3  INTEGER NOT NULL DEFAULT 0 CHECK (score_3 >= 0),
    score_4  INTEGER NOT NULL DEFAULT 0 CHECK (score_4 >= 0),
    score_5  INTEGER NOT NULL DEFAULT 0 CHECK (score_5 >= 0),
    PRIMARY KEY (day, service)
) STRICT, WITHOUT ROWID;
