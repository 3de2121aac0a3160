-- The outbox (see store.outbox): notifications written before they are
-- sent, one per channel and idempotency key, and the log of every attempt.
-- While an entry is being sent, next_at is when its sender's lease ends.

CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    channel_id text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    payload jsonb NOT NULL,
    state text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    claim integer NOT NULL DEFAULT 0,
    next_at double precision NOT NULL,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    last_status integer,
    last_detail text NOT NULL DEFAULT '',
    UNIQUE (channel_id, key)
);

-- Only what can still be claimed is indexed for claiming.
CREATE INDEX outbox_due ON outbox (next_at) WHERE state IN ('pending', 'sending');

CREATE INDEX outbox_settled ON outbox (updated_at) WHERE state IN ('sent', 'dead');

CREATE TABLE delivery_attempts (
    seq bigserial PRIMARY KEY,
    entry_id bigint NOT NULL,
    channel_id text COLLATE "C" NOT NULL,
    attempt integer NOT NULL,
    at double precision NOT NULL,
    ok boolean NOT NULL,
    status integer,
    detail text NOT NULL,
    response text NOT NULL
);

CREATE INDEX delivery_attempts_entry ON delivery_attempts (entry_id, at);

CREATE INDEX delivery_attempts_channel ON delivery_attempts (channel_id, at);

CREATE INDEX delivery_attempts_at ON delivery_attempts (at);
