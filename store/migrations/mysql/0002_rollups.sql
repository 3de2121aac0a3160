-- Per-minute and per-hour aggregates of each monitor's results (see
-- store.rollups), kept up to date as results are written, with the results
-- stored before this step rolled up here. h00 to h19 count passing checks by
-- latency over the bounds in store.rollups.LATENCY_BOUNDS_MS.
--
-- Every statement can run again after an open cut short: the tables are
-- made only when missing, and REPLACE puts each bucket as the results say,
-- whatever an earlier run left there.

CREATE TABLE IF NOT EXISTS rollup_minute (
    monitor_id VARBINARY(255) NOT NULL,
    start DOUBLE NOT NULL,
    count INT NOT NULL,
    ok INT NOT NULL,
    latency_min DOUBLE NULL,
    latency_max DOUBLE NULL,
    latency_sum DOUBLE NOT NULL,
    h00 INT NOT NULL, h01 INT NOT NULL, h02 INT NOT NULL, h03 INT NOT NULL,
    h04 INT NOT NULL, h05 INT NOT NULL, h06 INT NOT NULL, h07 INT NOT NULL,
    h08 INT NOT NULL, h09 INT NOT NULL, h10 INT NOT NULL, h11 INT NOT NULL,
    h12 INT NOT NULL, h13 INT NOT NULL, h14 INT NOT NULL, h15 INT NOT NULL,
    h16 INT NOT NULL, h17 INT NOT NULL, h18 INT NOT NULL, h19 INT NOT NULL,
    PRIMARY KEY (monitor_id, start),
    KEY rollups_by_start (start)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS rollup_hour LIKE rollup_minute;

-- A passing check's bucket is the number of bounds below its latency (a
-- latency equal to a bound counts in that bound's bucket); a failing check
-- is in none. Minutes start at FLOOR(started_at / 60) * 60e0, the double
-- store.rollups.bucket_start gives. The factor is a double: MariaDB keeps
-- FLOOR of a double to 17 digits in the temporary table of a GROUP BY, so
-- with a whole factor every start beyond 1e17 would come out as 1e17.
REPLACE INTO rollup_minute
SELECT
    monitor_id,
    FLOOR(started_at / 60) * 60e0 AS minute_start,
    COUNT(*),
    SUM(ok),
    MIN(IF(ok, latency_ms, NULL)),
    MAX(IF(ok, latency_ms, NULL)),
    SUM(IF(ok, latency_ms, 0)),
    SUM(bucket = 0), SUM(bucket = 1), SUM(bucket = 2), SUM(bucket = 3),
    SUM(bucket = 4), SUM(bucket = 5), SUM(bucket = 6), SUM(bucket = 7),
    SUM(bucket = 8), SUM(bucket = 9), SUM(bucket = 10), SUM(bucket = 11),
    SUM(bucket = 12), SUM(bucket = 13), SUM(bucket = 14), SUM(bucket = 15),
    SUM(bucket = 16), SUM(bucket = 17), SUM(bucket = 18), SUM(bucket = 19)
FROM (
    SELECT
        monitor_id,
        started_at,
        ok,
        latency_ms,
        IF(
            ok,
            (latency_ms > 1) + (latency_ms > 2) + (latency_ms > 5)
            + (latency_ms > 10) + (latency_ms > 20) + (latency_ms > 50)
            + (latency_ms > 100) + (latency_ms > 200) + (latency_ms > 300)
            + (latency_ms > 500) + (latency_ms > 750) + (latency_ms > 1000)
            + (latency_ms > 1500) + (latency_ms > 2000) + (latency_ms > 3000)
            + (latency_ms > 5000) + (latency_ms > 10000) + (latency_ms > 30000)
            + (latency_ms > 60000),
            -1
        ) AS bucket
    FROM results
    -- Beyond store.mysql.ROLLUP_TIME_LIMIT, 2^1023 seconds, results are not
    -- rolled up: next to the largest double a minute's start is no double.
    WHERE ABS(started_at) < POW(2, 1023)
) AS checks
GROUP BY monitor_id, minute_start;

-- Minutes nest in hours, so each hour is the sum of its minutes.
REPLACE INTO rollup_hour
SELECT
    monitor_id,
    FLOOR(start / 3600) * 3600e0 AS hour_start,
    SUM(count),
    SUM(ok),
    MIN(latency_min),
    MAX(latency_max),
    SUM(latency_sum),
    SUM(h00), SUM(h01), SUM(h02), SUM(h03), SUM(h04),
    SUM(h05), SUM(h06), SUM(h07), SUM(h08), SUM(h09),
    SUM(h10), SUM(h11), SUM(h12), SUM(h13), SUM(h14),
    SUM(h15), SUM(h16), SUM(h17), SUM(h18), SUM(h19)
FROM rollup_minute
GROUP BY monitor_id, hour_start;
