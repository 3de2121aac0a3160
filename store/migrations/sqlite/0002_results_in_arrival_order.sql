-- Results kept in the order they arrive, found through a unique index on
-- (monitor, time). A table clustered by monitor takes every result of a
-- large fleet into a different page; appending keeps the table's writes
-- together, and only the smaller index is written at random. The index also
-- ends with each monitor's newest result, so the pointer table goes.

CREATE TABLE results_by_arrival (
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
    details TEXT NOT NULL
);

INSERT INTO results_by_arrival
SELECT monitor_id, started_at, ok, latency_ms, state, reason, message,
    retryable, attempt, lateness_ms, phases, details
FROM results ORDER BY started_at;

DROP TABLE results;

ALTER TABLE results_by_arrival RENAME TO results;

CREATE UNIQUE INDEX results_key ON results (monitor_id, started_at);

CREATE INDEX results_started_at ON results (started_at);

DROP TABLE latest_results;
