-- Alerting (see store.alerting): settings documents by kind and id, and
-- incidents with their timelines. Settings and incidents are kept whole as
-- JSON text, exactly as the store wrote it; an incident's id, monitor,
-- status and times are copied into columns so it can be listed and
-- retained without reading its body.
--
-- Ids are at most 200 characters (store.alerting.MAX_KEY_LENGTH), which
-- is 800 bytes of UTF-8 at most; the widest key here, a timeline entry's
-- two ids, stays within InnoDB's 3072 bytes.
--
-- MySQL has no partial indexes: the incidents still open are found by
-- status, then sorted, and there are few of them.

CREATE TABLE IF NOT EXISTS alert_settings (
    kind VARBINARY(32) NOT NULL,
    id VARBINARY(800) NOT NULL,
    body LONGTEXT NOT NULL,
    updated_at DOUBLE NOT NULL,
    PRIMARY KEY (kind, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS incidents (
    id VARBINARY(800) NOT NULL,
    monitor_id VARBINARY(800) NOT NULL,
    status VARCHAR(16) NOT NULL,
    opened_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    resolved_at DOUBLE NULL,
    body LONGTEXT NOT NULL,
    PRIMARY KEY (id),
    KEY incidents_opened (opened_at, id),
    KEY incidents_monitor (monitor_id, opened_at, id),
    KEY incidents_status (status, opened_at),
    KEY incidents_resolved (resolved_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS incident_timeline (
    incident_id VARBINARY(800) NOT NULL,
    entry_id VARBINARY(800) NOT NULL,
    at DOUBLE NOT NULL,
    kind VARCHAR(200) NOT NULL,
    data LONGTEXT NOT NULL,
    PRIMARY KEY (incident_id, entry_id),
    KEY incident_timeline_at (incident_id, at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
