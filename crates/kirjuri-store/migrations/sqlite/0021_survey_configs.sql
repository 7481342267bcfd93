-- Satisfaction surveys' settings per service queue (SURV-1; issue 15 §4),
-- kept in the database so supervisors change them without a restart; every
-- change is audited. Nothing here is personal data. `version` counts
-- changes. Quiet hours are Helsinki wall-clock 'HH:MM'; equal ends mean
-- none. Sampling is per mille.
CREATE TABLE survey_configs (
    service          TEXT    NOT NULL PRIMARY KEY CHECK (length(service) BETWEEN 1 AND 200),
    enabled          INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    sample_per_mille INTEGER NOT NULL CHECK (sample_per_mille BETWEEN 0 AND 1000),
    delay_minutes    INTEGER NOT NULL CHECK (delay_minutes BETWEEN 0 AND 10080),
    quiet_start      TEXT    NOT NULL CHECK (length(quiet_start) = 5),
    quiet_end        TEXT    NOT NULL CHECK (length(quiet_end) = 5),
    period_days      INTEGER NOT NULL CHECK (period_days BETWEEN 1 AND 730),
    text_fi          TEXT    NOT NULL,
    text_sv          TEXT    NOT NULL,
    text_en          TEXT    NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 1),
    updated_at       INTEGER NOT NULL,
    updated_by       BLOB    NOT NULL CHECK (length(updated_by) = 16)
) STRICT;
