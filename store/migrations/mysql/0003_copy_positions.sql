-- How far a copy from another store (store.mirror) has read each of that
-- store's feeds: the position to read on from, per source and feed. The
-- copied rows and their positions are written apart: a position saved late
-- only makes the next copy read some rows again, which replace themselves.

CREATE TABLE IF NOT EXISTS copy_positions (
    source VARBINARY(255) NOT NULL,
    feed VARBINARY(64) NOT NULL,
    position BIGINT UNSIGNED NOT NULL,
    updated_at DOUBLE NOT NULL,
    PRIMARY KEY (source, feed)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
