-- Alerting (see store.alerting): settings documents by kind and id, and
-- incidents with their timelines. Settings and incidents are kept whole as
-- JSON text; an incident's id, monitor, status and times are copied into
-- columns so it can be listed and retained without reading its body.

CREATE TABLE alert_settings (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;

CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    monitor_id TEXT NOT NULL,
    status TEXT NOT NULL,
    opened_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    resolved_at REAL,
    body TEXT NOT NULL
);

-- Listing, newest first: every incident, or one monitor's.
CREATE INDEX incidents_opened ON incidents (opened_at, id);

CREATE INDEX incidents_monitor ON incidents (monitor_id, opened_at, id);

-- The incidents that still need someone are few; so is this index.
CREATE INDEX incidents_unresolved ON incidents (opened_at, id)
    WHERE status <> 'resolved';

CREATE INDEX incidents_resolved ON incidents (resolved_at)
    WHERE status = 'resolved';

CREATE TABLE incident_timeline (
    incident_id TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (incident_id, entry_id)
) WITHOUT ROWID;

CREATE INDEX incident_timeline_at ON incident_timeline (incident_id, at, entry_id);
