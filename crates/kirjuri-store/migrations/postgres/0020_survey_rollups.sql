-- Anonymous daily roll-ups of surveys, as SQLite's 0023_survey_rollups.sql.
CREATE TABLE survey_rollups (
    day      text   NOT NULL CHECK (length(day) = 10),
    service  text   NOT NULL CHECK (length(service) BETWEEN 1 AND 200),
    invited  bigint NOT NULL DEFAULT 0 CHECK (invited >= 0),
    answered bigint NOT NULL DEFAULT 0 CHECK (answered >= 0),
    score_1  bigint NOT NULL DEFAULT 0 CHECK (score_1 >= 0),
    score_2  bigint NOT NULL DEFAULT 0 CHECK (score_2 >= 0),
    score_3  bigint NOT NULL DEFAULT 0 CHECK (score_3 >= 0),
    score_4  bigint NOT NULL DEFAULT 0 CHECK (score_4 >= 0),
    score_5  bigint NOT NULL DEFAULT 0 CHECK (score_5 >= 0),
    PRIMARY KEY (day, service)
);
