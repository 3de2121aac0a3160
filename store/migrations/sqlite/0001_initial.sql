-- The first schema: the monitor catalogue, check results, state changes and
-- events. Times are Unix seconds as REAL; structured fields are JSON text.

CREATE TABLE monitors (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    tags TEXT NOT NULL,
    definition TEXT NOT NULL,
    updated_at REAL NOT NULL
);

CREATE INDEX monitors_kind ON monitors (kind);

-- Clustered by monitor and time, so one monitor's history is one range scan
-- and the key itself makes a repeated write of the same result a no-op.
CREATE TABLE results (
    monitor_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    ok INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    message TEXT NOT NULL,
    retryable INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    lateness_ms REAL NOT NULL,
    phases TEXT NOT NULL,
    details TEXT NOT NULL,
    PRIMARY KEY (monitor_id, started_at)
) WITHOUT ROWID;

CREATE INDEX results_started_at ON results (started_at);

-- The key of each monitor's newest result, kept on every write so a status
-- view after a restart reads one row per monitor instead of every result.
CREATE TABLE latest_results (
    monitor_id TEXT PRIMARY KEY,
    started_at REAL NOT NULL
) WITHOUT ROWID;

CREATE TABLE state_changes (
    monitor_id TEXT NOT NULL,
    at REAL NOT NULL,
    state_before TEXT NOT NULL,
    state_after TEXT NOT NULL,
    reason TEXT,
    message TEXT NOT NULL,
    UNIQUE (monitor_id, at, state_before, state_after)
);

CREATE INDEX state_changes_at ON state_changes (at);

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    at REAL NOT NULL,
    type TEXT NOT NULL,
    monitor_id TEXT,
    data TEXT NOT NULL
);

CREATE INDEX events_monitor ON events (monitor_id, id);

CREATE INDEX events_at ON events (at);
