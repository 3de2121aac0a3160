-- The outbox (see store.outbox): notifications written before they are
-- sent, one per channel and idempotency key, and the log of every attempt.
-- While an entry is being sent, next_at is when its sender's lease ends.
-- due_at repeats next_at while the entry can still be claimed and is NULL
-- once it is settled: a claim reads the due_at index in order and stops at
-- its limit, so it locks only the rows it takes (InnoDB locks every row a
-- locking read examines, and a sorted scan would examine them all).

CREATE TABLE IF NOT EXISTS outbox (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    channel_id VARBINARY(255) NOT NULL,
    `key` VARBINARY(255) NOT NULL,
    payload LONGTEXT NOT NULL,
    state VARCHAR(16) NOT NULL,
    attempts INT NOT NULL DEFAULT 0,
    claim INT NOT NULL DEFAULT 0,
    next_at DOUBLE NOT NULL,
    due_at DOUBLE NULL,
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    last_status INT NULL,
    last_detail LONGTEXT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY outbox_key (channel_id, `key`),
    KEY outbox_due (due_at),
    KEY outbox_settled (updated_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS delivery_attempts (
    seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    entry_id BIGINT UNSIGNED NOT NULL,
    channel_id VARBINARY(255) NOT NULL,
    attempt INT NOT NULL,
    at DOUBLE NOT NULL,
    ok BOOLEAN NOT NULL,
    status INT NULL,
    detail LONGTEXT NOT NULL,
    response LONGTEXT NOT NULL,
    PRIMARY KEY (seq),
    KEY delivery_attempts_entry (entry_id, at),
    KEY delivery_attempts_channel (channel_id, at),
    KEY delivery_attempts_at (at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
