-- The outbox (see store.outbox): notifications written before they are
-- sent, one per channel and idempotency key, and the log of every attempt.
-- While an entry is being sent, next_at is when its sender's lease ends.
-- Ids are never reused, so the log never mixes two entries.

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id TEXT NOT NULL,
    key TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claim INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    last_status INTEGER,
    last_detail TEXT NOT NULL DEFAULT '',
    UNIQUE (channel_id, key)
);

CREATE INDEX outbox_due ON outbox (state, next_at);

CREATE TABLE delivery_attempts (
    entry_id INTEGER NOT NULL,
    channel_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at REAL NOT NULL,
    ok INTEGER NOT NULL,
    status INTEGER,
    detail TEXT NOT NULL,
    response TEXT NOT NULL
);

CREATE INDEX delivery_attempts_entry ON delivery_attempts (entry_id, at);

CREATE INDEX delivery_attempts_channel ON delivery_attempts (channel_id, at);

CREATE INDEX delivery_attempts_at ON delivery_attempts (at);
