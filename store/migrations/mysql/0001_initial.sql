-- The first schema: the monitor catalogue, check results, state changes and
-- events. Times are Unix seconds as DOUBLE; structured fields are JSON text,
-- kept exactly as the store wrote it. Texts are LONGTEXT, which holds more
-- than a statement can carry: INSERT IGNORE would cut a longer value short
-- with a warning rather than refuse it.
--
-- Ids are VARBINARY, compared and sorted byte by byte: for UTF-8 that is
-- the order of Python strings. The utf8mb4_bin collation pads with spaces,
-- which would make 'a' and 'a ' one key and sort 'a\t' before 'a'.
--
-- MySQL commits each of these statements on its own; IF NOT EXISTS lets the
-- file run again whole when an open was cut short before its version was
-- recorded.

CREATE TABLE IF NOT EXISTS monitors (
    id VARBINARY(255) NOT NULL,
    name LONGTEXT NOT NULL,
    kind VARBINARY(255) NOT NULL,
    enabled BOOLEAN NOT NULL,
    tags LONGTEXT NOT NULL,
    definition LONGTEXT NOT NULL,
    updated_at DOUBLE NOT NULL,
    PRIMARY KEY (id),
    KEY monitors_kind (kind)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Results are appended in arrival order (the sequence is the clustered key)
-- and found through the unique (monitor, time) key. Clustering by monitor
-- would send every result of a large fleet to a different page; appending
-- keeps the table's writes together and only the smaller indexes are
-- written at random. The unique key also makes a repeated result a no-op
-- and ends with each monitor's newest result.
CREATE TABLE IF NOT EXISTS results (
    seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    monitor_id VARBINARY(255) NOT NULL,
    started_at DOUBLE NOT NULL,
    ok BOOLEAN NOT NULL,
    latency_ms DOUBLE NOT NULL,
    state VARCHAR(32) NOT NULL,
    reason VARCHAR(32) NULL,
    message LONGTEXT NOT NULL,
    retryable BOOLEAN NOT NULL,
    attempt INT NOT NULL,
    lateness_ms DOUBLE NOT NULL,
    phases LONGTEXT NOT NULL,
    details LONGTEXT NOT NULL,
    PRIMARY KEY (seq),
    UNIQUE KEY results_key (monitor_id, started_at),
    KEY results_started_at (started_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The sequence breaks ties between changes at the same moment, newest
-- first, as they arrived.
CREATE TABLE IF NOT EXISTS state_changes (
    seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    monitor_id VARBINARY(255) NOT NULL,
    at DOUBLE NOT NULL,
    state_before VARCHAR(32) NOT NULL,
    state_after VARCHAR(32) NOT NULL,
    reason VARCHAR(32) NULL,
    message LONGTEXT NOT NULL,
    PRIMARY KEY (seq),
    UNIQUE KEY state_changes_key (monitor_id, at, state_before, state_after),
    KEY state_changes_at (at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS events (
    id VARBINARY(255) NOT NULL,
    at DOUBLE NOT NULL,
    type LONGTEXT NOT NULL,
    monitor_id VARBINARY(255) NULL,
    data LONGTEXT NOT NULL,
    PRIMARY KEY (id),
    KEY events_monitor (monitor_id, id),
    KEY events_at (at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
