-- Per-minute and per-hour aggregates of each monitor's results, kept up to
-- date as results are written (see store.rollups), with the results already
-- stored rolled up here. h00 to h19 count passing checks by latency, over
-- the bounds in store.rollups.LATENCY_BOUNDS_MS.

CREATE TABLE rollup_minute (
    monitor_id TEXT NOT NULL,
    start REAL NOT NULL,
    count INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    latency_min REAL,
    latency_max REAL,
    latency_sum REAL NOT NULL,
    h00 INTEGER NOT NULL DEFAULT 0,
    h01 INTEGER NOT NULL DEFAULT 0,
    h02 INTEGER NOT NULL DEFAULT 0,
    h03 INTEGER NOT NULL DEFAULT 0,
    h04 INTEGER NOT NULL DEFAULT 0,
    h05 INTEGER NOT NULL DEFAULT 0,
    h06 INTEGER NOT NULL DEFAULT 0,
    h07 INTEGER NOT NULL DEFAULT 0,
    h08 INTEGER NOT NULL DEFAULT 0,
    h09 INTEGER NOT NULL DEFAULT 0,
    h10 INTEGER NOT NULL DEFAULT 0,
    h11 INTEGER NOT NULL DEFAULT 0,
    h12 INTEGER NOT NULL DEFAULT 0,
    h13 INTEGER NOT NULL DEFAULT 0,
    h14 INTEGER NOT NULL DEFAULT 0,
    h15 INTEGER NOT NULL DEFAULT 0,
    h16 INTEGER NOT NULL DEFAULT 0,
    h17 INTEGER NOT NULL DEFAULT 0,
    h18 INTEGER NOT NULL DEFAULT 0,
    h19 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (monitor_id, start)
) WITHOUT ROWID;

CREATE INDEX rollup_minute_start ON rollup_minute (start);

CREATE TABLE rollup_hour (
    monitor_id TEXT NOT NULL,
    start REAL NOT NULL,
    count INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    latency_min REAL,
    latency_max REAL,
    latency_sum REAL NOT NULL,
    h00 INTEGER NOT NULL DEFAULT 0,
    h01 INTEGER NOT NULL DEFAULT 0,
    h02 INTEGER NOT NULL DEFAULT 0,
    h03 INTEGER NOT NULL DEFAULT 0,
    h04 INTEGER NOT NULL DEFAULT 0,
    h05 INTEGER NOT NULL DEFAULT 0,
    h06 INTEGER NOT NULL DEFAULT 0,
    h07 INTEGER NOT NULL DEFAULT 0,
    h08 INTEGER NOT NULL DEFAULT 0,
    h09 INTEGER NOT NULL DEFAULT 0,
    h10 INTEGER NOT NULL DEFAULT 0,
    h11 INTEGER NOT NULL DEFAULT 0,
    h12 INTEGER NOT NULL DEFAULT 0,
    h13 INTEGER NOT NULL DEFAULT 0,
    h14 INTEGER NOT NULL DEFAULT 0,
    h15 INTEGER NOT NULL DEFAULT 0,
    h16 INTEGER NOT NULL DEFAULT 0,
    h17 INTEGER NOT NULL DEFAULT 0,
    h18 INTEGER NOT NULL DEFAULT 0,
    h19 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (monitor_id, start)
) WITHOUT ROWID;

CREATE INDEX rollup_hour_start ON rollup_hour (start);

INSERT INTO rollup_minute
SELECT
    monitor_id,
    CAST(started_at / 60 AS INTEGER) * 60.0,
    COUNT(*),
    SUM(ok),
    MIN(CASE WHEN ok THEN latency_ms END),
    MAX(CASE WHEN ok THEN latency_ms END),
    TOTAL(CASE WHEN ok THEN latency_ms END),
    SUM(ok AND latency_ms <= 1),
    SUM(ok AND latency_ms > 1 AND latency_ms <= 2),
    SUM(ok AND latency_ms > 2 AND latency_ms <= 5),
    SUM(ok AND latency_ms > 5 AND latency_ms <= 10),
    SUM(ok AND latency_ms > 10 AND latency_ms <= 20),
    SUM(ok AND latency_ms > 20 AND latency_ms <= 50),
    SUM(ok AND latency_ms > 50 AND latency_ms <= 100),
    SUM(ok AND latency_ms > 100 AND latency_ms <= 200),
    SUM(ok AND latency_ms > 200 AND latency_ms <= 300),
    SUM(ok AND latency_ms > 300 AND latency_ms <= 500),
    SUM(ok AND latency_ms > 500 AND latency_ms <= 750),
    SUM(ok AND latency_ms > 750 AND latency_ms <= 1000),
    SUM(ok AND latency_ms > 1000 AND latency_ms <= 1500),
    SUM(ok AND latency_ms > 1500 AND latency_ms <= 2000),
    SUM(ok AND latency_ms > 2000 AND latency_ms <= 3000),
    SUM(ok AND latency_ms > 3000 AND latency_ms <= 5000),
    SUM(ok AND latency_ms > 5000 AND latency_ms <= 10000),
    SUM(ok AND latency_ms > 10000 AND latency_ms <= 30000),
    SUM(ok AND latency_ms > 30000 AND latency_ms <= 60000),
    SUM(ok AND latency_ms > 60000)
FROM results
GROUP BY monitor_id, CAST(started_at / 60 AS INTEGER);

-- Hours are the sums of their minutes.
INSERT INTO rollup_hour
SELECT
    monitor_id,
    CAST(start / 3600 AS INTEGER) * 3600.0,
    SUM(count),
    SUM(ok),
    MIN(latency_min),
    MAX(latency_max),
    TOTAL(latency_sum),
    SUM(h00),
    SUM(h01),
    SUM(h02),
    SUM(h03),
    SUM(h04),
    SUM(h05),
    SUM(h06),
    SUM(h07),
    SUM(h08),
    SUM(h09),
    SUM(h10),
    SUM(h11),
    SUM(h12),
    SUM(h13),
    SUM(h14),
    SUM(h15),
    SUM(h16),
    SUM(h17),
    SUM(h18),
    SUM(h19)
FROM rollup_minute
GROUP BY monitor_id, CAST(start / 3600 AS INTEGER);
