-- Surveys' settings per service, as SQLite's 0021_survey_configs.sql (whose
-- comments give the reasoning). Integers are bigint, as SQLite's INTEGER,
-- so the copy between backends moves them unchanged.
CREATE TABLE survey_configs (
    service          text        NOT NULL PRIMARY KEY CHECK (length(service) BETWEEN 1 AND 200),
    enabled          bigint      NOT NULL CHECK (enabled IN (0, 1)),
    sample_per_mille bigint      NOT NULL CHECK (sample_per_mille BETWEEN 0 AND 1000),
    delay_minutes    bigint      NOT NULL CHECK (delay_minutes BETWEEN 0 AND 10080),
    quiet_start      text        NOT NULL CHECK (length(quiet_start) = 5),
    quiet_end        text        NOT NULL CHECK (length(quiet_end) = 5),
    period_days      bigint      NOT NULL CHECK (period_days BETWEEN 1 AND 730),
    text_fi          text        NOT NULL,
    text_sv          text        NOT NULL,
    text_en          text        NOT NULL,
    version          bigint      NOT NULL CHECK (version >= 1),
    updated_at       timestamptz NOT NULL,
    updated_by       uuid        NOT NULL
);
