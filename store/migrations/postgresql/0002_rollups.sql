-- Per-minute and per-hour aggregates of each monitor's results (see
-- store.rollups): how many checks ran and passed, the least, greatest and
-- summed latency of those that passed, and h00 to h19, the passing checks
-- counted by latency over the bounds in store.rollups.LATENCY_BOUNDS_MS.
-- The store adds each batch's new results to them in the transaction that
-- stores the batch; the results already stored are rolled up at the end.
--
-- seq says when a row last changed, counted by one sequence for both
-- tables: every insert takes the next value by default and every update by
-- the store sets it again, so a copy elsewhere can read the rows changed
-- since the last seq it saw. A value is taken when a row is written, not
-- when its transaction commits, so a reader that starts from the highest
-- seq it has seen can miss a row whose transaction was still running when
-- it read. Rows removed by retention leave no mark here: a copy applies
-- the same retention itself.

CREATE SEQUENCE rollup_seq;

CREATE TABLE rollup_minute (
    monitor_id text COLLATE "C" NOT NULL,
    start double precision NOT NULL,
    count integer NOT NULL,
    ok integer NOT NULL,
    latency_min double precision,
    latency_max double precision,
    latency_sum double precision NOT NULL,
    h00 integer NOT NULL DEFAULT 0,
    h01 integer NOT NULL DEFAULT 0,
    h02 integer NOT NULL DEFAULT 0,
    h03 integer NOT NULL DEFAULT 0,
    h04 integer NOT NULL DEFAULT 0,
    h05 integer NOT NULL DEFAULT 0,
    h06 integer NOT NULL DEFAULT 0,
    h07 integer NOT NULL DEFAULT 0,
    h08 integer NOT NULL DEFAULT 0,
    h09 integer NOT NULL DEFAULT 0,
    h10 integer NOT NULL DEFAULT 0,
    h11 integer NOT NULL DEFAULT 0,
    h12 integer NOT NULL DEFAULT 0,
    h13 integer NOT NULL DEFAULT 0,
    h14 integer NOT NULL DEFAULT 0,
    h15 integer NOT NULL DEFAULT 0,
    h16 integer NOT NULL DEFAULT 0,
    h17 integer NOT NULL DEFAULT 0,
    h18 integer NOT NULL DEFAULT 0,
    h19 integer NOT NULL DEFAULT 0,
    seq bigint NOT NULL DEFAULT nextval('rollup_seq'),
    PRIMARY KEY (monitor_id, start)
);

-- Rows arrive in time order, but each update writes a new version of a row
-- wherever there is room, so the table's pages soon mix old and new
-- buckets; a btree finds a time range however the rows lie, a BRIN would
-- not.
CREATE INDEX rollup_minute_start ON rollup_minute (start);

CREATE INDEX rollup_minute_seq ON rollup_minute (seq);

-- The same columns, with their defaults (so the same sequence) and indexes.
CREATE TABLE rollup_hour (LIKE rollup_minute INCLUDING ALL);

-- The results already stored, rolled up by minute and by hour in one pass,
-- into the same buckets as store.rollups: floor(started_at / span) * span,
-- and a passing latency in the first bucket whose bound it does not exceed.
-- Each insert fills the columns before seq, which takes its default.
WITH rolled (
    monitor_id, start, count, ok, latency_min, latency_max, latency_sum,
    h00, h01, h02, h03, h04, h05, h06, h07, h08, h09,
    h10, h11, h12, h13, h14, h15, h16, h17, h18, h19, span
) AS (
    SELECT
        monitor_id,
        floor(started_at / span) * span,
        count(*),
        count(*) FILTER (WHERE ok),
        min(latency_ms) FILTER (WHERE ok),
        max(latency_ms) FILTER (WHERE ok),
        coalesce(sum(latency_ms) FILTER (WHERE ok), 0),
        count(*) FILTER (WHERE ok AND latency_ms <= 1),
        count(*) FILTER (WHERE ok AND latency_ms > 1 AND latency_ms <= 2),
        count(*) FILTER (WHERE ok AND latency_ms > 2 AND latency_ms <= 5),
        count(*) FILTER (WHERE ok AND latency_ms > 5 AND latency_ms <= 10),
        count(*) FILTER (WHERE ok AND latency_ms > 10 AND latency_ms <= 20),
        count(*) FILTER (WHERE ok AND latency_ms > 20 AND latency_ms <= 50),
        count(*) FILTER (WHERE ok AND latency_ms > 50 AND latency_ms <= 100),
        count(*) FILTER (WHERE ok AND latency_ms > 100 AND latency_ms <= 200),
        count(*) FILTER (WHERE ok AND latency_ms > 200 AND latency_ms <= 300),
        count(*) FILTER (WHERE ok AND latency_ms > 300 AND latency_ms <= 500),
        count(*) FILTER (WHERE ok AND latency_ms > 500 AND latency_ms <= 750),
        count(*) FILTER (WHERE ok AND latency_ms > 750 AND latency_ms <= 1000),
        count(*) FILTER (WHERE ok AND latency_ms > 1000 AND latency_ms <= 1500),
        count(*) FILTER (WHERE ok AND latency_ms > 1500 AND latency_ms <= 2000),
        count(*) FILTER (WHERE ok AND latency_ms > 2000 AND latency_ms <= 3000),
        count(*) FILTER (WHERE ok AND latency_ms > 3000 AND latency_ms <= 5000),
        count(*) FILTER (WHERE ok AND latency_ms > 5000 AND latency_ms <= 10000),
        count(*) FILTER (WHERE ok AND latency_ms > 10000 AND latency_ms <= 30000),
        count(*) FILTER (WHERE ok AND latency_ms > 30000 AND latency_ms <= 60000),
        count(*) FILTER (WHERE ok AND latency_ms > 60000),
        span
    FROM results CROSS JOIN (VALUES (60), (3600)) AS spans (span)
    GROUP BY span, monitor_id, floor(started_at / span)
),
minutes AS (
    INSERT INTO rollup_minute
    SELECT monitor_id, start, count, ok, latency_min, latency_max, latency_sum,
        h00, h01, h02, h03, h04, h05, h06, h07, h08, h09,
        h10, h11, h12, h13, h14, h15, h16, h17, h18, h19
    FROM rolled WHERE span = 60
)
INSERT INTO rollup_hour
SELECT monitor_id, start, count, ok, latency_min, latency_max, latency_sum,
    h00, h01, h02, h03, h04, h05, h06, h07, h08, h09,
    h10, h11, h12, h13, h14, h15, h16, h17, h18, h19
FROM rolled WHERE span = 3600;
