-- Feeds of what changed in monitors, events and hourly rollups, for a copy
-- elsewhere to read on from the last position it saw. Every write of a row
-- draws the next number from the writer's counter (next_change() in SQL);
-- change_counter keeps the last one drawn, updated in the same transaction,
-- so a reader that reads it first knows every row up to it is committed,
-- and numbers never go back even when retention empties a table.

CREATE TABLE change_counter (value INTEGER NOT NULL);

ALTER TABLE monitors ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;

ALTER TABLE events ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;

ALTER TABLE rollup_hour ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;

-- The rows already stored are numbered monitors first, then events, then
-- rollups, in the order they were written as far as it is known.
UPDATE monitors SET seq = rowid;

UPDATE events SET seq = rowid + (SELECT coalesce(max(seq), 0) FROM monitors);

WITH numbered AS (
    SELECT monitor_id, start, row_number() OVER (ORDER BY start, monitor_id) AS n
    FROM rollup_hour
)
UPDATE rollup_hour
SET seq = numbered.n + (
    SELECT max((SELECT coalesce(max(seq), 0) FROM monitors),
        (SELECT coalesce(max(seq), 0) FROM events))
)
FROM numbered
WHERE rollup_hour.monitor_id = numbered.monitor_id
    AND rollup_hour.start = numbered.start;

INSERT INTO change_counter SELECT max(
    (SELECT coalesce(max(seq), 0) FROM monitors),
    (SELECT coalesce(max(seq), 0) FROM events),
    (SELECT coalesce(max(seq), 0) FROM rollup_hour)
);

CREATE INDEX monitors_seq ON monitors (seq);

CREATE INDEX events_seq ON events (seq);

CREATE INDEX rollup_hour_seq ON rollup_hour (seq);
